use std::net::{IpAddr, Ipv4Addr};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::wire::{Context, Message, Notification, Open};

fn open_bytes(asn: u32, id: [u8; 4]) -> Bytes {
    let mut b = BytesMut::new();
    Message::Open(Open::new(asn, 90, Ipv4Addr::from(id), Vec::new()))
        .encode(&Context::default(), &mut b)
        .unwrap();
    b.freeze()
}

fn peer_v4() -> PeerHeader {
    PeerHeader::global(
        "192.0.2.1".parse().unwrap(),
        65001,
        Ipv4Addr::new(1, 1, 1, 1),
    )
    .at(1_700_000_000, 250_000)
}

fn round_trip(m: &BmpMessage) -> Bytes {
    let b = m.to_bytes();
    let (back, used) = BmpMessage::decode(&b).unwrap();
    assert_eq!(used, b.len());
    assert_eq!(&back, m);
    b
}

#[test]
fn initiation_is_laid_out_as_rfc_7854_says() {
    let m = BmpMessage::Initiation(vec![
        Tlv::string(info_type::SYS_NAME, "rr1"),
        Tlv::string(info_type::SYS_DESCR, "x"),
    ]);
    let b = round_trip(&m);
    assert_eq!(
        hex::encode(&b),
        // version 3, length 18, type 4; sysName "rr1"; sysDescr "x"
        "030000001204000200037272310001000178"
    );
}

#[test]
fn peer_up_keeps_both_opens_and_the_addresses() {
    let m = BmpMessage::PeerUp(Box::new(PeerUp {
        peer: peer_v4(),
        local_address: "192.0.2.254".parse().unwrap(),
        local_port: 179,
        remote_port: 40000,
        sent_open: open_bytes(65000, [9, 9, 9, 9]),
        received_open: open_bytes(65001, [1, 1, 1, 1]),
        information: vec![Tlv::string(info_type::STRING, "hello")],
    }));
    let b = round_trip(&m);
    // Per-peer header: IPv4 address in the last four octets, V flag clear.
    assert_eq!(b[7], 0);
    assert_eq!(&b[6 + 10 + 12..6 + 10 + 16], &[192, 0, 2, 1]);
}

#[test]
fn an_ipv6_peer_gets_the_v_flag_and_its_local_address_reads_back() {
    let peer = PeerHeader::global(
        "2001:db8::1".parse().unwrap(),
        65001,
        Ipv4Addr::new(1, 1, 1, 1),
    );
    let m = BmpMessage::PeerUp(Box::new(PeerUp {
        peer: peer.clone().with_flags(peer_flags::V),
        local_address: "2001:db8::2".parse().unwrap(),
        local_port: 179,
        remote_port: 1,
        sent_open: open_bytes(65000, [9, 9, 9, 9]),
        received_open: open_bytes(65001, [1, 1, 1, 1]),
        information: Vec::new(),
    }));
    round_trip(&m);
    // The flag follows the address even when the caller forgot it.
    let b = BmpMessage::PeerDown {
        peer,
        reason: PeerDownReason::RemoteNoData,
    }
    .to_bytes();
    assert_eq!(b[7] & peer_flags::V, peer_flags::V);
}

#[test]
fn route_monitoring_statistics_and_peer_down_round_trip() {
    let mut u = BytesMut::new();
    Message::Update(Box::new(crate::wire::Update::end_of_rib(
        crate::Family::IPV4_UNICAST,
    )))
    .encode(&Context::default(), &mut u)
    .unwrap();
    round_trip(&BmpMessage::RouteMonitoring {
        peer: peer_v4().with_flags(peer_flags::L),
        update: u.freeze(),
    });
    round_trip(&BmpMessage::StatisticsReport {
        peer: peer_v4(),
        stats: vec![
            Stat::Counter(stat_type::REJECTED, 3),
            Stat::Gauge(stat_type::ADJ_RIB_IN, 1 << 40),
            Stat::FamilyGauge {
                kind: stat_type::LOC_RIB_FAMILY,
                afi: 2,
                safi: 1,
                value: 7,
            },
            Stat::Other {
                kind: 99,
                value: Bytes::from_static(b"abc"),
            },
        ],
    });
    let mut n = BytesMut::new();
    Message::Notification(Notification::new(6, 2, Bytes::new()))
        .encode(&Context::default(), &mut n)
        .unwrap();
    let n = n.freeze();
    for reason in [
        PeerDownReason::LocalNotification(n.clone()),
        PeerDownReason::RemoteNotification(n),
        PeerDownReason::LocalNoNotification(2),
        PeerDownReason::RemoteNoData,
        PeerDownReason::Deconfigured,
    ] {
        round_trip(&BmpMessage::PeerDown {
            peer: peer_v4(),
            reason,
        });
    }
    round_trip(&BmpMessage::Termination(vec![Tlv {
        kind: termination::REASON,
        value: Bytes::from_static(&[0, 0]),
    }]));
}

#[test]
fn a_loc_rib_peer_keeps_its_own_flags() {
    let peer = PeerHeader {
        peer_type: peer_type::LOC_RIB,
        flags: peer_flags::F,
        distinguisher: 0,
        address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        asn: 65000,
        bgp_id: Ipv4Addr::new(9, 9, 9, 9),
        seconds: 1,
        micros: 2,
    };
    let b = round_trip(&BmpMessage::PeerDown {
        peer,
        reason: PeerDownReason::Deconfigured,
    });
    assert_eq!(b[7], peer_flags::F);
}

#[test]
fn short_and_bad_input_is_an_error_not_a_panic() {
    let b = BmpMessage::Initiation(vec![Tlv::string(0, "x")]).to_bytes();
    for cut in 0..b.len() {
        assert!(matches!(
            BmpMessage::decode(&b[..cut]),
            Err(BmpError::Incomplete { .. })
        ));
    }
    assert_eq!(
        BmpMessage::decode(&[1, 0, 0, 0, 6, 4]),
        Err(BmpError::Version(1))
    );
    assert_eq!(
        BmpMessage::decode(&[3, 0, 0, 0, 2, 4]),
        Err(BmpError::Length(2))
    );
    assert_eq!(
        BmpMessage::decode(&[3, 0, 0, 0, 6, 9]),
        Err(BmpError::Type(9))
    );
    // A TLV longer than the message.
    assert_eq!(
        BmpMessage::decode(&[3, 0, 0, 0, 10, 4, 0, 0, 0, 9]),
        Err(BmpError::Malformed("information TLV"))
    );
    // A route monitoring message whose UPDATE is cut.
    let mut m = BmpMessage::RouteMonitoring {
        peer: peer_v4(),
        update: Bytes::from(vec![0xff; 19]),
    }
    .to_bytes()
    .to_vec();
    m.truncate(m.len() - 1);
    let len = m.len() as u32;
    m[1..5].copy_from_slice(&len.to_be_bytes());
    assert!(matches!(
        BmpMessage::decode(&m),
        Err(BmpError::Malformed(_))
    ));
    // A statistics count far past what the message holds.
    let mut s = BmpMessage::StatisticsReport {
        peer: peer_v4(),
        stats: Vec::new(),
    }
    .to_bytes()
    .to_vec();
    let at = s.len() - 4;
    s[at..].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        BmpMessage::decode(&s),
        Err(BmpError::Malformed("statistics count"))
    );
}

proptest::proptest! {
    /// Any body under a well-formed common header: an error or a message that encodes back
    /// to what decodes the same, never a panic.
    #[test]
    fn any_body_decodes_or_fails_cleanly(ty in 0u8..8, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let mut b = vec![VERSION];
        b.extend_from_slice(&((body.len() + COMMON_HEADER_LEN) as u32).to_be_bytes());
        b.push(ty);
        b.extend_from_slice(&body);
        if let Ok((m, used)) = BmpMessage::decode(&b) {
            proptest::prop_assert_eq!(used, b.len());
            let again = BmpMessage::decode(&m.to_bytes()).map(|(m, _)| m);
            proptest::prop_assert_eq!(again, Ok(m));
        }
    }
}
