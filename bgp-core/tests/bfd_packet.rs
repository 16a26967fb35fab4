//! BFD Control packets (RFC 5880 4): hand-annotated bytes decoded field by field and
//! re-encoded, each reception check of 6.8.6 failing with its own reason, and properties
//! over arbitrary values and bytes.

use std::time::Duration;

use bgp_core::bfd::{
    AuthSection, AuthType, ControlPacket, Diag, DropReason, PacketError, Password, State,
};
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    let clean: String = s
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    hex::decode(clean).unwrap()
}

fn roundtrip(bytes: &[u8]) -> ControlPacket {
    let p = ControlPacket::decode(bytes).unwrap();
    assert_eq!(&p.to_bytes()[..], bytes, "re-encodes to the same bytes");
    assert_eq!(p.encoded_len(), bytes.len());
    p
}

/// A session starting: Down, nothing heard yet.
const DOWN: &str = "
    20          // version 1, diag 0
    40          // state Down (01), no flags
    03          // detect mult 3
    18          // length 24
    00000001    // my discriminator 1
    00000000    // your discriminator 0
    000f4240    // desired min TX 1,000,000 us
    000493e0    // required min RX 300,000 us
    00000000    // required min echo RX 0
";

#[test]
fn a_down_packet() {
    let p = roundtrip(&h(DOWN));
    assert_eq!(
        p,
        ControlPacket {
            diag: Diag::NoDiagnostic,
            state: State::Down,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 1,
            your_discriminator: 0,
            desired_min_tx: Duration::from_secs(1),
            required_min_rx: Duration::from_millis(300),
            required_min_echo_rx: Duration::ZERO,
            auth: None,
        }
    );
}

#[test]
fn an_up_packet_with_every_flag_but_multipoint() {
    let p = roundtrip(&h("
        23          // version 1, diag 3 (neighbor signaled session down)
        fa          // state Up (11), P F C, A clear, D, M clear: 11 1 1 1 0 1 0
        05          // detect mult 5
        18          // length 24
        deadbeef    // my discriminator
        01020304    // your discriminator
        000186a0    // desired min TX 100,000 us
        0000c350    // required min RX 50,000 us
        000003e8    // required min echo RX 1,000 us
    "));
    assert_eq!(p.diag, Diag::NeighborSignaledSessionDown);
    assert_eq!(p.state, State::Up);
    assert!(p.poll && p.final_ && p.control_plane_independent && p.demand);
    assert_eq!((p.detect_mult, p.my_discriminator), (5, 0xdead_beef));
    assert_eq!(p.your_discriminator, 0x0102_0304);
    assert_eq!(p.desired_min_tx, Duration::from_millis(100));
    assert_eq!(p.required_min_rx, Duration::from_millis(50));
    assert_eq!(p.required_min_echo_rx, Duration::from_millis(1));
}

#[test]
fn every_diagnostic_and_state() {
    for code in 0..32u8 {
        for state in State::ALL {
            let mut b = h(DOWN);
            b[0] = 0x20 | code;
            b[1] = state.code() << 6;
            b[8..12].copy_from_slice(&[0, 0, 0, 9]);
            let p = roundtrip(&b);
            assert_eq!((p.diag.code(), p.state), (code, state));
        }
    }
    assert_eq!(Diag::from_code(1), Diag::ControlDetectionTimeExpired);
    assert_eq!(Diag::from_code(2), Diag::EchoFunctionFailed);
    assert_eq!(Diag::from_code(4), Diag::ForwardingPlaneReset);
    assert_eq!(Diag::from_code(5), Diag::PathDown);
    assert_eq!(Diag::from_code(6), Diag::ConcatenatedPathDown);
    assert_eq!(Diag::from_code(8), Diag::ReverseConcatenatedPathDown);
    assert_eq!(Diag::from_code(31), Diag::Reserved(31));
}

#[test]
fn a_simple_password_section() {
    let p = roundtrip(&h("
        20 44 03 21                 // Down, A bit; length 33
        00000001 00000000 000f4240 000493e0 00000000
        01                          // auth type 1, simple password
        09                          // auth len 9 = 3 + 6
        05                          // key id 5
        736563726574                // 'secret'
    "));
    assert_eq!(
        p.auth,
        Some(AuthSection::SimplePassword {
            key_id: 5,
            password: Password::new(b"secret").unwrap()
        })
    );
}

#[test]
fn keyed_md5_and_sha1_sections() {
    let md5 = roundtrip(&h("
        20 44 03 30                 // Down, A bit; length 48
        00000001 00000000 000f4240 000493e0 00000000
        03                          // auth type 3, meticulous keyed MD5
        18                          // auth len 24
        07 00                       // key id 7, reserved
        0000002a                    // sequence 42
        00112233445566778899aabbccddeeff
    "));
    let Some(AuthSection::KeyedMd5 {
        meticulous: true,
        key_id: 7,
        sequence: 42,
        digest,
    }) = md5.auth
    else {
        panic!("{:?}", md5.auth)
    };
    assert_eq!(digest[15], 0xff);
    let sha1 = roundtrip(&h("
        20 44 03 34                 // Down, A bit; length 52
        00000001 00000000 000f4240 000493e0 00000000
        04                          // auth type 4, keyed SHA1
        1c                          // auth len 28
        01 00                       // key id 1, reserved
        ffffffff                    // sequence
        00112233445566778899aabbccddeeff01020304
    "));
    assert_eq!(sha1.auth.unwrap().auth_type(), AuthType::KeyedSha1);
    assert_eq!(sha1.auth.unwrap().sequence(), Some(u32::MAX));
}

#[test]
fn octets_past_the_length_are_ignored() {
    let mut b = h(DOWN);
    b.extend_from_slice(&[0xee; 8]);
    assert_eq!(ControlPacket::decode(&b).unwrap(), roundtrip(&h(DOWN)));
}

/// Valid bytes with one field spoiled, and the reason they must be dropped for.
fn spoiled() -> Vec<(&'static str, Vec<u8>, PacketError)> {
    let ok = h(DOWN);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    let md5 = h("20 44 03 30 00000001 00000000 000f4240 000493e0 00000000
                 02 18 01 00 00000001 00000000000000000000000000000000");
    let with_md5 = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = md5.clone();
        f(&mut b);
        b
    };
    vec![
        ("empty", vec![], PacketError::TooShort { received: 0 }),
        (
            "three octets",
            ok[..3].to_vec(),
            PacketError::TooShort { received: 3 },
        ),
        ("version 0", with(&|b| b[0] = 0x00), PacketError::Version(0)),
        ("version 2", with(&|b| b[0] = 0x40), PacketError::Version(2)),
        (
            "length 23",
            with(&|b| b[3] = 23),
            PacketError::LengthTooSmall {
                length: 23,
                min: 24,
            },
        ),
        (
            "A bit with length 25",
            with(&|b| {
                b[1] |= 0x04;
                b[3] = 25;
                b.push(0);
            }),
            PacketError::LengthTooSmall {
                length: 25,
                min: 26,
            },
        ),
        (
            "length past the datagram",
            with(&|b| b[3] = 25),
            PacketError::LengthExceedsPayload {
                length: 25,
                received: 24,
            },
        ),
        (
            "truncated",
            ok[..20].to_vec(),
            PacketError::LengthExceedsPayload {
                length: 24,
                received: 20,
            },
        ),
        (
            "detect mult 0",
            with(&|b| b[2] = 0),
            PacketError::ZeroDetectMult,
        ),
        (
            "multipoint",
            with(&|b| b[1] |= 0x01),
            PacketError::Multipoint,
        ),
        (
            "my discriminator 0",
            with(&|b| b[7] = 0),
            PacketError::ZeroMyDiscriminator,
        ),
        (
            "your discriminator 0 in Init",
            with(&|b| b[1] = 0x80),
            PacketError::ZeroYourDiscriminator(State::Init),
        ),
        (
            "your discriminator 0 in Up",
            with(&|b| b[1] = 0xc0),
            PacketError::ZeroYourDiscriminator(State::Up),
        ),
        (
            "auth type 0",
            with_md5(&|b| b[24] = 0),
            PacketError::UnknownAuthType(0),
        ),
        (
            "auth type 6",
            with_md5(&|b| b[24] = 6),
            PacketError::UnknownAuthType(6),
        ),
        (
            "MD5 auth len 23",
            with_md5(&|b| b[25] = 23),
            PacketError::AuthLength {
                auth_type: 2,
                len: 23,
            },
        ),
        (
            "SHA1 auth len of MD5",
            with_md5(&|b| b[24] = 5),
            PacketError::AuthLength {
                auth_type: 5,
                len: 24,
            },
        ),
        (
            "auth len past the packet",
            with_md5(&|b| b[3] = 40),
            PacketError::AuthLength {
                auth_type: 2,
                len: 24,
            },
        ),
        (
            "password of 0 octets",
            with(&|b| {
                b[1] |= 0x04;
                b[3] = 27;
                b.extend_from_slice(&[1, 3, 1]);
            }),
            PacketError::AuthLength {
                auth_type: 1,
                len: 3,
            },
        ),
        (
            "password of 17 octets",
            with(&|b| {
                b[1] |= 0x04;
                b[3] = 44;
                b.extend_from_slice(&[1, 20, 1]);
                b.extend_from_slice(&[b'x'; 17]);
            }),
            PacketError::AuthLength {
                auth_type: 1,
                len: 20,
            },
        ),
    ]
}

#[test]
fn every_reception_check_drops_with_its_own_reason() {
    let mut reasons = Vec::new();
    for (what, bytes, expected) in spoiled() {
        assert_eq!(ControlPacket::decode(&bytes), Err(expected), "{what}");
        reasons.push(expected.reason());
    }
    reasons.sort_by_key(|r| r.as_str());
    reasons.dedup();
    // Every reason the codec can give appears above.
    let codec = [
        DropReason::TooShort,
        DropReason::Version,
        DropReason::LengthTooSmall,
        DropReason::LengthExceedsPayload,
        DropReason::ZeroDetectMult,
        DropReason::Multipoint,
        DropReason::ZeroMyDiscriminator,
        DropReason::ZeroYourDiscriminator,
        DropReason::UnknownAuthType,
        DropReason::AuthLength,
    ];
    assert_eq!(reasons.len(), codec.len());
    assert!(codec.iter().all(|r| reasons.contains(r)));
}

fn auth_section() -> impl Strategy<Value = AuthSection> {
    prop_oneof![
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..=16)).prop_map(|(key_id, p)| {
            AuthSection::SimplePassword {
                key_id,
                password: Password::new(&p).unwrap(),
            }
        }),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| AuthSection::KeyedMd5 {
                meticulous,
                key_id,
                sequence,
                digest
            }
        ),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, sequence, hash)| AuthSection::KeyedSha1 {
                meticulous,
                key_id,
                sequence,
                hash
            }
        ),
    ]
}

prop_compose! {
    fn packet()(
        diag in 0u8..32,
        state in 0u8..4,
        flags in any::<[bool; 4]>(),
        detect_mult in 1u8..,
        my_discriminator in 1u32..,
        your_discriminator in 1u32..,
        intervals in any::<[u32; 3]>(),
        auth in proptest::option::of(auth_section()),
    ) -> ControlPacket {
        let us = |v: u32| Duration::from_micros(u64::from(v));
        ControlPacket {
            diag: Diag::from_code(diag),
            state: State::from_bits(state),
            poll: flags[0],
            final_: flags[1],
            control_plane_independent: flags[2],
            demand: flags[3],
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx: us(intervals[0]),
            required_min_rx: us(intervals[1]),
            required_min_echo_rx: us(intervals[2]),
            auth,
        }
    }
}

proptest! {
    #[test]
    fn every_packet_survives_encode_then_decode(p in packet()) {
        let b = p.to_bytes();
        prop_assert_eq!(b.len(), p.encoded_len());
        prop_assert_eq!(usize::from(b[3]), b.len());
        prop_assert_eq!(ControlPacket::decode(&b), Ok(p));
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = ControlPacket::decode(&b) {
            prop_assert_eq!(ControlPacket::decode(&p.to_bytes()), Ok(p));
            prop_assert!(p.encoded_len() <= b.len());
        }
    }

    #[test]
    fn mutated_packets_never_panic(p in packet(), at in 0usize..60, v in any::<u8>(), cut in 0usize..60) {
        let mut b = p.to_bytes().to_vec();
        if at < b.len() {
            b[at] = v;
        }
        b.truncate(cut.max(1));
        if let Ok(q) = ControlPacket::decode(&b) {
            prop_assert_eq!(ControlPacket::decode(&q.to_bytes()), Ok(q));
        }
    }
}
