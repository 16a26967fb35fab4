//! Hand-checked byte strings for each message type, asserted field by field and re-encoded.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_core::types::FamilySet;
use bgp_core::wire::attributes::{
    AsPath, Community, LargeCommunity, MpNlri, NextHop, Origin, PathAttributes,
};
use bgp_core::wire::open::AddPathMode;
use bgp_core::wire::{
    Capability, Context, DecodeError, FrameSplitter, Message, NlriEntry, Notification, Open,
    Prefixes, Update,
};
use bgp_core::{Afi, Family};
use bytes::Bytes;

fn h(s: &str) -> Bytes {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    Bytes::from(hex::decode(clean).unwrap())
}

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

fn roundtrip(bytes: &Bytes, ctx: &Context) -> Message {
    let m = Message::decode(bytes, ctx).unwrap();
    assert_eq!(
        m.to_bytes(ctx).unwrap(),
        *bytes,
        "re-encodes to the same bytes"
    );
    m
}

#[test]
fn keepalive() {
    let b = h(&format!("{MARKER} 0013 04"));
    assert_eq!(roundtrip(&b, &Context::default()), Message::Keepalive);
    // A KEEPALIVE of 20 octets: Bad Message Length with the length as data.
    let e = Message::decode(&h(&format!("{MARKER} 0014 04 00")), &Context::default()).unwrap_err();
    assert_eq!(e, DecodeError::BadMessageLength { length: 20 });
    assert_eq!(&e.notification().data[..], &[0, 20]);
}

#[test]
fn open_from_exabgp_with_software_version() {
    // ExaBGP's qa/decoding/bgp-open-sofware-version.
    let b = h(&format!(
        "{MARKER} 0051 01 04 fffd 00b4 0a000002 34
         02 06 01 04 0001 00 01
         02 06 41 04 0000fffd
         02 22 4b 20 1f 4578614247502f6d61696e2d633261326561386562642d3230323430373135"
    ));
    let Message::Open(o) = roundtrip(&b, &Context::default()) else {
        panic!()
    };
    assert_eq!(o.version, 4);
    assert_eq!(o.my_as, 65533);
    assert_eq!(o.hold_time, 180);
    assert_eq!(o.bgp_id, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(o.asn(), 65533);
    let caps: Vec<&Capability> = o.capabilities().collect();
    assert_eq!(
        caps,
        vec![
            &Capability::Multiprotocol(Family::IPV4_UNICAST),
            &Capability::FourOctetAs(65533),
            &Capability::SoftwareVersion("ExaBGP/main-c2a2ea8ebd-20240715".into()),
        ]
    );
    assert_eq!(
        o.parameters.len(),
        3,
        "one capability per parameter, as sent"
    );
}

#[test]
fn open_with_every_capability_we_know() {
    let o = Open::new(
        4_200_000_000,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::ExtendedMessage,
            Capability::ExtendedNextHop(vec![(Family::IPV4_UNICAST, Afi::IPV6)]),
            Capability::GracefulRestart {
                restarting: true,
                notification: true,
                restart_time: 120,
                families: vec![bgp_core::wire::open::GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_preserved: true,
                }],
            },
            Capability::AddPath(vec![(Family::IPV4_UNICAST, AddPathMode::Both)]),
            Capability::LongLivedGracefulRestart(vec![bgp_core::wire::open::LlgrFamily {
                family: Family::IPV6_UNICAST,
                forwarding_preserved: false,
                stale_time: 3600,
            }]),
            Capability::Fqdn {
                hostname: "rr1".into(),
                domain: "rack1".into(),
            },
            Capability::Unknown {
                code: 200,
                value: Bytes::from_static(&[1, 2]),
            },
        ],
    );
    assert_eq!(o.my_as, 23456, "AS_TRANS in the two-octet field");
    let bytes = Message::Open(o.clone())
        .to_bytes(&Context::default())
        .unwrap();
    let expected = h(&format!(
        "{MARKER} 0060 01 04 5ba0 005a c0000201 43
         02 41
           01 04 0002 00 01
           02 00
           46 00
           06 00
           05 06 0001 0001 0002
           40 06 c078 0001 01 80
           45 04 0001 01 03
           47 07 0002 01 00 000e10
           49 0a 03 727231 05 7261636b31
           c8 02 0102
           41 04 fa56ea00"
    ));
    assert_eq!(hex::encode(&bytes), hex::encode(&expected));
    assert_eq!(
        Message::decode(&bytes, &Context::default()).unwrap(),
        Message::Open(o)
    );
}

#[test]
fn open_with_rfc9072_extended_parameters() {
    let mut o = Open::new(65001, 180, Ipv4Addr::new(1, 1, 1, 1), vec![]);
    o.extended_parameters = true;
    let bytes = Message::Open(o.clone())
        .to_bytes(&Context::default())
        .unwrap();
    // Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt. Parm. Length 9, then the
    // parameter with a two-octet length.
    let expected = h(&format!(
        "{MARKER} 0029 01 04 fde9 00b4 01010101 ff ff 0009 02 0006 41 04 0000fde9"
    ));
    assert_eq!(bytes, expected);
    assert_eq!(
        Message::decode(&bytes, &Context::default()).unwrap(),
        Message::Open(o)
    );
}

#[test]
fn open_errors_name_their_notification() {
    let ctx = Context::default();
    let open = |version: &str, hold: &str, params: &str| {
        let p = h(params);
        let head = format!("{version} fde9 {hold} 01010101 {:02x}", p.len());
        let body = h(&head);
        let len = 19 + body.len() + p.len();
        h(&format!("{MARKER} {len:04x} 01 {head} {}", hex::encode(&p)))
    };
    let e = Message::decode(&open("03", "00b4", ""), &ctx).unwrap_err();
    assert_eq!(e, DecodeError::UnsupportedVersion(3));
    let n = e.notification();
    assert_eq!((n.code, n.subcode, &n.data[..]), (2, 1, &[0u8, 4][..]));
    let e = Message::decode(&open("04", "0002", ""), &ctx).unwrap_err();
    assert_eq!((e.notification().code, e.notification().subcode), (2, 6));
    // Optional parameter type 1 (authentication, deprecated).
    let e = Message::decode(&open("04", "00b4", "0100"), &ctx).unwrap_err();
    assert_eq!(e, DecodeError::UnsupportedOptionalParameter(1));
    assert_eq!(e.notification().subcode, 4);
    // A capability overrunning its parameter, and an empty parameter list of length 2.
    let e = Message::decode(&open("04", "00b4", "02 03 41 04 00"), &ctx).unwrap_err();
    assert!(matches!(e, DecodeError::MalformedOptionalParameters(_)));
    let e = Message::decode(&open("04", "00b4", "02"), &ctx).unwrap_err();
    assert!(matches!(e, DecodeError::MalformedOptionalParameters(_)));
    // An OPEN shorter than 29 octets.
    let e = Message::decode(&h(&format!("{MARKER} 001c 01 04 fde9 00b4 01010101")), &ctx);
    assert_eq!(e.unwrap_err(), DecodeError::BadMessageLength { length: 28 });
}

#[test]
fn update_ipv4_from_exabgp() {
    // ExaBGP's qa/decoding/ipv4-unicast-1: five NLRI, four of them 0.0.0.0/0.
    let b = h(&format!(
        "{MARKER} 003c 02 0000 001c
         40 01 01 00
         40 02 00
         40 03 04 65016501
         80 04 04 000000c8
         40 05 04 00000064
         00 00 00 00 20 01010101"
    ));
    let Message::Update(u) = roundtrip(&b, &Context::default()) else {
        panic!()
    };
    let a = &u.attributes;
    assert_eq!(a.origin, Some(Origin::Igp));
    assert_eq!(a.as_path, Some(AsPath::empty()));
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(101, 1, 101, 1)));
    assert_eq!(a.med, Some(200));
    assert_eq!(a.local_pref, Some(100));
    let nlri: Vec<String> = u.nlri.iter().map(|e| e.prefix.to_string()).collect();
    assert_eq!(
        nlri,
        [
            "0.0.0.0/0",
            "0.0.0.0/0",
            "0.0.0.0/0",
            "0.0.0.0/0",
            "1.1.1.1/32"
        ]
    );
    assert!(u.withdrawn.is_empty() && u.errors.is_empty());
}

#[test]
fn update_with_communities_and_large_communities() {
    let b = h(&format!(
        "{MARKER} 004d 02 0000 0032
         40 01 01 02
         40 02 0a 02 02 0000fde9 0000fdea
         40 03 04 0a000001
         c0 08 08 ffffff01 fde90064
         c0 20 0c 0000fde9 00000001 00000002
         18 0a0101"
    ));
    let Message::Update(u) = roundtrip(&b, &Context::default()) else {
        panic!()
    };
    let a = &u.attributes;
    assert_eq!(a.origin, Some(Origin::Incomplete));
    assert_eq!(a.as_path.as_ref().unwrap().to_string(), "65001 65002");
    let c: Vec<Community> = a.communities.as_ref().unwrap().iter().collect();
    assert_eq!(c, vec![Community::NO_EXPORT, Community::new(65001, 100)]);
    let l: Vec<LargeCommunity> = a.large_communities.as_ref().unwrap().iter().collect();
    assert_eq!(
        l,
        vec![LargeCommunity {
            global: 65001,
            local1: 1,
            local2: 2
        }]
    );
    assert_eq!(
        u.nlri.iter().next().unwrap().prefix.to_string(),
        "10.1.1.0/24"
    );
}

#[test]
fn update_from_two_octet_peer_with_as4_path() {
    // AS_PATH 65001 AS_TRANS; AS4_PATH 4200000000; AGGREGATOR AS_TRANS 10.0.0.9 with
    // AS4_AGGREGATOR 4200000000 10.0.0.9.
    let b = h(&format!(
        "{MARKER} 004a 02 0000 0031
         40 01 01 00
         40 02 06 02 02 fde9 5ba0
         40 03 04 0a000001
         c0 07 06 5ba0 0a000009
         c0 11 06 02 01 fa56ea00
         c0 12 08 fa56ea00 0a000009
         08 0a"
    ));
    let ctx = Context::two_octet();
    let Message::Update(mut u) = roundtrip(&b, &ctx) else {
        panic!()
    };
    assert_eq!(
        u.attributes.as_path.as_ref().unwrap().to_string(),
        "65001 23456"
    );
    u.attributes.merge_as4();
    let a = &u.attributes;
    assert_eq!(a.as_path.as_ref().unwrap().to_string(), "65001 4200000000");
    assert_eq!(a.aggregator.unwrap().asn, 4_200_000_000);
    assert!(a.as4_path.is_none() && a.as4_aggregator.is_none());
    // Sent on to a two-octet peer, the AS4 attributes are regenerated (RFC 6793 4.2.2):
    // AS_PATH with AS_TRANS, AS4_PATH with the whole path.
    let again = Message::from(u.clone()).to_bytes(&ctx).unwrap();
    assert_eq!(
        again,
        h(&format!(
            "{MARKER} 004e 02 0000 0035
             40 01 01 00
             40 02 06 02 02 fde9 5ba0
             40 03 04 0a000001
             c0 07 06 5ba0 0a000009
             c0 11 0a 02 02 0000fde9 fa56ea00
             c0 12 08 fa56ea00 0a000009
             08 0a"
        ))
    );
    // To a four-octet peer: one AS_PATH with the real numbers, no AS4 attributes.
    let four = Message::from(u).to_bytes(&Context::default()).unwrap();
    let Message::Update(u4) = Message::decode(&four, &Context::default()).unwrap() else {
        panic!()
    };
    assert!(u4.attributes.as4_path.is_none());
    assert_eq!(
        u4.attributes.as_path.unwrap().to_string(),
        "65001 4200000000"
    );
}

#[test]
fn update_ipv6_with_link_local_next_hop() {
    let b = h(&format!(
        "{MARKER} 0058 02 0000 0041
         40 01 01 00
         40 02 00
         80 0e 2c 0002 01 20
           20010db8000000000000000000000001
           fe800000000000000000000000000001
           00
           30 20010db80001
         80 0f 08 0002 01 20 20010db8
         "
    ));
    let Message::Update(u) = roundtrip(&b, &Context::default()) else {
        panic!()
    };
    let mp = u.attributes.mp_reach.as_ref().unwrap();
    assert_eq!(mp.family, Family::IPV6_UNICAST);
    assert_eq!(
        mp.next_hop,
        NextHop::Ipv6 {
            global: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        }
    );
    let MpNlri::Prefixes(p) = &mp.nlri else {
        panic!()
    };
    assert_eq!(
        p.iter().next().unwrap().prefix.to_string(),
        "2001:db8:1::/48"
    );
    let withdrawn: Vec<_> = u.withdrawals().collect();
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].0, Family::IPV6_UNICAST);
}

#[test]
fn update_with_add_path() {
    let ctx = Context {
        add_path: FamilySet::from_iter([Family::IPV4_UNICAST]),
        ..Context::default()
    };
    let b = h(&format!(
        "{MARKER} 003c 02 0008 00000001 18 0a0000
         0015 40 01 01 00 40 02 00 40 03 04 0a000001 40 05 04 00000064
         00000002 18 0a0001"
    ));
    let Message::Update(u) = roundtrip(&b, &ctx) else {
        panic!()
    };
    let w: Vec<NlriEntry> = u.withdrawn.iter().collect();
    assert_eq!(w[0].path_id, Some(1));
    assert_eq!(w[0].prefix.to_string(), "10.0.0.0/24");
    let n: Vec<NlriEntry> = u.nlri.iter().collect();
    assert_eq!(n[0].path_id, Some(2));
    // Without ADD-PATH the same bytes mean something else entirely.
    let plain = Message::decode(&b, &Context::default());
    assert!(plain.map_or(true, |m| m != Message::Update(u)));
}

#[test]
fn end_of_rib_markers() {
    let ctx = Context::default();
    let v4 = Message::from(Update::end_of_rib(Family::IPV4_UNICAST))
        .to_bytes(&ctx)
        .unwrap();
    assert_eq!(v4, h(&format!("{MARKER} 0017 02 0000 0000")));
    let v6 = Message::from(Update::end_of_rib(Family::IPV6_UNICAST))
        .to_bytes(&ctx)
        .unwrap();
    assert_eq!(
        v6,
        h(&format!("{MARKER} 001d 02 0000 0006 80 0f 03 0002 01"))
    );
    let Message::Update(u) = Message::decode(&v6, &ctx).unwrap() else {
        panic!()
    };
    assert_eq!(u.as_end_of_rib(), Some(Family::IPV6_UNICAST));
}

#[test]
fn notification_with_shutdown_communication() {
    let n = Notification::cease_with_message(2, "maintenance: rr1 upgrade");
    let b = Message::Notification(n.clone())
        .to_bytes(&Context::default())
        .unwrap();
    let expected = h(&format!(
        "{MARKER} 002e 03 06 02 18 {}",
        hex::encode("maintenance: rr1 upgrade")
    ));
    assert_eq!(b, expected);
    let Message::Notification(back) = Message::decode(&b, &Context::default()).unwrap() else {
        panic!()
    };
    assert_eq!(back.shutdown_message(), Some("maintenance: rr1 upgrade"));
    assert_eq!(back.describe(), "Cease / Administrative Shutdown");
    // A message longer than 255 octets is cut on a character boundary.
    let long = "é".repeat(200);
    let n = Notification::cease_with_message(4, &long);
    assert_eq!(n.data[0], 254);
    assert_eq!(n.shutdown_message().unwrap().chars().count(), 127);
}

#[test]
fn route_refresh_and_enhanced_subtypes() {
    let ctx = Context::default();
    for (subtype, hexs) in [(0u8, "00"), (1, "01"), (2, "02")] {
        let b = h(&format!("{MARKER} 0017 05 0002 {hexs} 01"));
        let Message::RouteRefresh(r) = roundtrip(&b, &ctx) else {
            panic!()
        };
        assert_eq!(r.family, Family::IPV6_UNICAST);
        assert_eq!(r.subtype, subtype);
    }
    // A BoRR with trailing octets: ROUTE-REFRESH Message Error / Invalid Message Length,
    // the data being the message.
    let b = h(&format!("{MARKER} 0018 05 0001 01 01 00"));
    let e = Message::decode(&b, &ctx).unwrap_err();
    let n = e.notification();
    assert_eq!((n.code, n.subcode), (7, 1));
    assert_eq!(n.data, b);
}

#[test]
fn header_errors() {
    let ctx = Context::default();
    let bad_marker = h("fffffffffffffffffffffffffffffffe 0013 04");
    assert_eq!(
        Message::decode(&bad_marker, &ctx).unwrap_err(),
        DecodeError::ConnectionNotSynchronized
    );
    let bad_type = h(&format!("{MARKER} 0013 07"));
    let e = Message::decode(&bad_type, &ctx).unwrap_err();
    assert_eq!(e, DecodeError::BadMessageType(7));
    assert_eq!(&e.notification().data[..], &[7]);
    // Longer than 4096 without the extended message capability.
    let mut splitter = FrameSplitter::default();
    splitter.push(&h(&format!("{MARKER} 1001 02")));
    assert_eq!(
        splitter.next_frame().unwrap_err(),
        DecodeError::BadMessageLength { length: 4097 }
    );
}

#[test]
fn splitter_takes_partial_reads() {
    let ka = h(&format!("{MARKER} 0013 04"));
    let eor = h(&format!("{MARKER} 0017 02 0000 0000"));
    let stream: Vec<u8> = [&ka[..], &eor[..], &ka[..]].concat();
    for chunk in 1..stream.len() {
        let mut s = FrameSplitter::default();
        let mut frames = Vec::new();
        for part in stream.chunks(chunk) {
            s.push(part);
            while let Some(f) = s.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(
            frames,
            vec![ka.clone(), eor.clone(), ka.clone()],
            "chunk {chunk}"
        );
        assert_eq!(s.pending(), 0);
    }
}

#[test]
fn building_an_update_from_values() {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        next_hop: Some(Ipv4Addr::new(192, 168, 100, 101)),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    let nlri = Prefixes::from_entries(
        Afi::IPV4,
        false,
        ["172.17.9.0/24".parse::<ipnet::IpNet>().unwrap()],
    )
    .unwrap();
    let u = Update::new(Prefixes::empty(Afi::IPV4, false), attrs, nlri);
    let b = Message::from(u.clone())
        .to_bytes(&Context::default())
        .unwrap();
    assert_eq!(
        b,
        h(&format!(
            "{MARKER} 0030 02 0000 0015 40 01 01 00 40 02 00 40 03 04 c0a86465 40 05 04 00000064 18 ac1109"
        ))
    );
    assert_eq!(
        Message::decode(&b, &Context::default()).unwrap(),
        Message::from(u)
    );
}

/// Found by fuzzing: a buffer shorter than a header must not report a length field it
/// does not have (NOTIFICATION data holds only received octets).
#[test]
fn short_buffer_reports_no_length_field() {
    let e = Message::decode(&Bytes::from_static(&[0xff]), &Context::default()).unwrap_err();
    assert_eq!(e, DecodeError::ShortHeader { len: 1 });
    let n = e.notification();
    assert_eq!((n.code, n.subcode, n.data.len()), (1, 2, 0));
}

/// Found by fuzzing: in an MRT RIB entry, a full-form MP_REACH_NLRI of a family we keep
/// opaque must not be re-encoded in the abbreviated form.
#[test]
fn mrt_full_form_mp_reach_of_unknown_family_keeps_its_form() {
    let ctx = bgp_core::mrt::rib_context();
    let block = Bytes::from_static(&[0x83, 14, 6, 0xff, 0xff, 0xbd, 1, 0xff, 0xeb]);
    let (attrs, _) = PathAttributes::decode_block(&block, &ctx).unwrap();
    let again = attrs.to_block(&ctx).unwrap();
    // (ORIGIN and AS_PATH are missing, which is reported, not refused.)
    let (back, _) = PathAttributes::decode_block(&again, &ctx).unwrap();
    assert_eq!(again.len(), block.len());
    assert_eq!(back, attrs);
}
