//! Authentication (RFC 5880 6.7): every type brings a session up, wrong keys and key IDs
//! are dropped with their reasons, known digests computed elsewhere are accepted, and the
//! sequence number windows of the keyed types (plain and meticulous) hold at their edges,
//! across the 32-bit wrap, against replays, and after a long silence.

mod bfd_world;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bfd_world::{A, B, Pair, secs};
use bgp_core::bfd::{
    AuthSection, AuthSettings, AuthType, Bfd, BfdConfig, ControlPacket, Diag, DropReason, Hop,
    Input, Output, SessionId, SessionKey, SessionSettings, State, field,
};
use md5::{Digest, Md5};
use sha1::Sha1;

const TYPES: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

fn with_auth(auth: Option<AuthSettings>) -> SessionSettings {
    SessionSettings {
        auth,
        ..SessionSettings::default()
    }
}

fn key(t: AuthType, id: u8, k: &[u8]) -> Option<AuthSettings> {
    Some(AuthSettings::new(t, id, k))
}

#[test]
fn every_type_brings_a_session_up() {
    for t in TYPES {
        let mut p = Pair::new(21);
        let s = with_auth(key(t, 3, b"sixteen-octets!!"));
        let (a, b) = p.add_both(Hop::Single, s.clone(), s);
        p.run_for(secs(10));
        assert_eq!(
            (p.state(A, a), p.state(B, b)),
            (State::Up, State::Up),
            "{t:?}"
        );
        assert_eq!(p.sides[A].bfd.counters().dropped.total(), 0, "{t:?}");
        assert!(
            p.sides[A]
                .sent
                .iter()
                .all(|s| s.packet.auth.unwrap().auth_type() == t)
        );
    }
}

#[test]
fn mismatched_authentication_is_dropped_with_its_reason() {
    let md5 = |id, k: &[u8]| key(AuthType::KeyedMd5, id, k);
    let cases = [
        (md5(1, b"one"), md5(1, b"two"), DropReason::AuthFailed),
        (
            key(AuthType::SimplePassword, 1, b"one"),
            key(AuthType::SimplePassword, 1, b"two"),
            DropReason::AuthFailed,
        ),
        (
            key(AuthType::KeyedSha1, 1, b"one"),
            key(AuthType::KeyedSha1, 1, b"onf"),
            DropReason::AuthFailed,
        ),
        (md5(1, b"one"), md5(2, b"one"), DropReason::AuthKeyId),
        (
            md5(1, b"one"),
            key(AuthType::MeticulousKeyedMd5, 1, b"one"),
            DropReason::AuthTypeMismatch,
        ),
        (None, md5(1, b"one"), DropReason::AuthMissing),
        (md5(1, b"one"), None, DropReason::AuthUnexpected),
    ];
    for (sa, sb, reason) in cases {
        let mut p = Pair::new(22);
        let (a, b) = p.add_both(Hop::Single, with_auth(sa), with_auth(sb));
        p.run_for(secs(5));
        assert_eq!(p.state(B, b), State::Down, "{reason}");
        let drops = p.status(B, b).counters.dropped;
        assert!(
            drops.get(reason) > 0 && drops.get(reason) == drops.total(),
            "{reason}: {drops:?}"
        );
        assert_eq!(p.status(B, b).counters.packets_in, 0);
        let _ = a;
    }
}

#[test]
fn an_update_can_bring_a_new_key() {
    let mut p = Pair::new(23);
    let (a, b) = p.add_both(
        Hop::Single,
        with_auth(key(AuthType::KeyedSha1, 1, b"old")),
        with_auth(key(AuthType::KeyedSha1, 2, b"new")),
    );
    p.run_for(secs(3));
    assert_eq!(p.state(A, a), State::Down);
    let now = p.now;
    p.sides[A]
        .bfd
        .update_settings(now, a, with_auth(key(AuthType::KeyedSha1, 2, b"new")))
        .unwrap();
    p.run_for(secs(5));
    assert_eq!((p.state(A, a), p.state(B, b)), (State::Up, State::Up));
    // A key that does not fit its type changes nothing.
    let bad = with_auth(key(AuthType::KeyedMd5, 1, &[7; 17]));
    assert!(p.sides[A].bfd.update_settings(p.now, a, bad).is_err());
    p.run_for(secs(2));
    assert_eq!(p.state(A, a), State::Up);
}

/// One endpoint with an authenticated session, and a peer made by hand.
struct One {
    bfd: Bfd,
    id: SessionId,
    now: Instant,
    /// What the session sent, as sent.
    raw: Vec<Vec<u8>>,
}

const PEER: u32 = 0x1111_1111;
const KEY: &[u8] = b"secret-key";

fn local() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
}

impl One {
    fn new(t: AuthType) -> One {
        let now = Instant::now();
        let mut bfd = Bfd::new(BfdConfig { seed: 9 });
        let k = SessionKey::single_hop(local(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let id = bfd.add_session(now, k, with_auth(key(t, 1, KEY))).unwrap();
        let mut o = One {
            bfd,
            id,
            now,
            raw: Vec::new(),
        };
        o.drain();
        o
    }

    fn drain(&mut self) {
        while let Some(o) = self.bfd.poll_output(self.now) {
            if let Output::Transmit { bytes, .. } = o {
                self.raw.push(bytes.to_vec());
            }
        }
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.bfd.handle(
            self.now,
            Input::Received {
                from: "10.0.0.2:50000".parse::<SocketAddr>().unwrap(),
                to: SocketAddr::new(local(), 3784),
                ttl: 255,
                hop: Hop::Single,
                interface: None,
                bytes,
            },
        );
        self.drain();
    }

    fn accepted(&self) -> u64 {
        self.bfd.session(self.id).unwrap().counters.packets_in
    }

    fn dropped(&self, r: DropReason) -> u64 {
        self.bfd.session(self.id).unwrap().counters.dropped.get(r)
    }
}

/// A Down packet from the peer signed as the RFC says, independently of the endpoint.
fn signed(t: AuthType, sequence: u32, k: &[u8]) -> Vec<u8> {
    let md5 = matches!(t, AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5);
    let n = if md5 { 16 } else { 20 };
    let mut padded = [0u8; 20];
    padded[..k.len()].copy_from_slice(k);
    let meticulous = t.is_meticulous();
    let auth = if md5 {
        AuthSection::KeyedMd5 {
            meticulous,
            key_id: 1,
            sequence,
            digest: padded[..16].try_into().unwrap(),
        }
    } else {
        AuthSection::KeyedSha1 {
            meticulous,
            key_id: 1,
            sequence,
            hash: padded,
        }
    };
    let pkt = ControlPacket {
        diag: Diag::NoDiagnostic,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: PEER,
        your_discriminator: 0,
        desired_min_tx: Duration::from_secs(1),
        required_min_rx: Duration::from_millis(300),
        required_min_echo_rx: Duration::ZERO,
        auth: Some(auth),
    };
    let mut b = pkt.to_bytes().to_vec();
    let digest = if md5 {
        Md5::digest(&b).to_vec()
    } else {
        Sha1::digest(&b).to_vec()
    };
    b[field::AUTH_DIGEST..field::AUTH_DIGEST + n].copy_from_slice(&digest);
    b
}

#[test]
fn known_digests_are_accepted_and_a_flipped_bit_is_not() {
    // Computed with Python's hashlib over the packet with the key in the digest field.
    let vectors = [
        (
            AuthType::KeyedMd5,
            "204403301111111100000000000f4240000493e0000000000218010001020304
             dad9a65565b72e5ed776f19aadb10414",
        ),
        (
            AuthType::MeticulousKeyedMd5,
            "204403301111111100000000000f4240000493e0000000000318010001020304
             1b0d077a2df7a7d3b754dfb29d1b2339",
        ),
        (
            AuthType::KeyedSha1,
            "204403341111111100000000000f4240000493e000000000041c010001020304
             1dd48c4c85521498576616efdce2f087228b199a",
        ),
        (
            AuthType::MeticulousKeyedSha1,
            "204403341111111100000000000f4240000493e000000000051c010001020304
             c8493cafbeb1374d8fe1d98f094cf7a7eeed8b66",
        ),
    ];
    for (t, hex_bytes) in vectors {
        let clean: String = hex_bytes.split_whitespace().collect();
        let good = hex::decode(clean).unwrap();
        assert_eq!(
            good,
            signed(t, 0x0102_0304, KEY),
            "{t:?}: the test's signer agrees"
        );
        let mut o = One::new(t);
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        o.deliver(&bad);
        // A changed field under a good digest fails too.
        let mut moved = good.clone();
        moved[field::DETECT_MULT] = 4;
        o.deliver(&moved);
        assert_eq!(o.dropped(DropReason::AuthFailed), 2, "{t:?}");
        o.deliver(&good);
        assert_eq!(o.accepted(), 1, "{t:?}");
        assert_eq!(o.bfd.session(o.id).unwrap().state, State::Init, "{t:?}");
    }
}

#[test]
fn what_we_send_carries_the_digest_the_rfc_defines() {
    for t in [AuthType::KeyedMd5, AuthType::MeticulousKeyedSha1] {
        let o = One::new(t);
        let mut b = o.raw[0].clone();
        let n = if t == AuthType::KeyedMd5 { 16 } else { 20 };
        let at = field::AUTH_DIGEST..field::AUTH_DIGEST + n;
        let got = b[at.clone()].to_vec();
        let mut padded = [0u8; 20];
        padded[..KEY.len()].copy_from_slice(KEY);
        b[at].copy_from_slice(&padded[..n]);
        let expect = if n == 16 {
            Md5::digest(&b).to_vec()
        } else {
            Sha1::digest(&b).to_vec()
        };
        assert_eq!(got, expect, "{t:?}");
    }
}

#[test]
fn plain_keyed_sequence_window() {
    let mut o = One::new(AuthType::KeyedMd5);
    o.deliver(&signed(AuthType::KeyedMd5, 100, KEY));
    // The same number again is fine for the plain types, and so is up to 3 x Detect Mult.
    o.deliver(&signed(AuthType::KeyedMd5, 100, KEY));
    o.deliver(&signed(AuthType::KeyedMd5, 109, KEY));
    assert_eq!(o.accepted(), 3);
    for seq in [108, 119, 0, 100 + (1 << 31)] {
        o.deliver(&signed(AuthType::KeyedMd5, seq, KEY));
    }
    assert_eq!(o.dropped(DropReason::AuthSequence), 4);
    assert_eq!(o.accepted(), 3);
}

#[test]
fn meticulous_sequence_window_and_wrap() {
    let t = AuthType::MeticulousKeyedSha1;
    let mut o = One::new(t);
    o.deliver(&signed(t, u32::MAX - 1, KEY));
    // A replay of the last number is refused; the next ones, across the wrap, are not.
    o.deliver(&signed(t, u32::MAX - 1, KEY));
    assert_eq!(o.dropped(DropReason::AuthSequence), 1);
    o.deliver(&signed(t, u32::MAX, KEY));
    o.deliver(&signed(t, 3, KEY));
    assert_eq!(o.accepted(), 3);
    // At most 3 x Detect Mult (9) ahead.
    o.deliver(&signed(t, 13, KEY));
    assert_eq!(o.dropped(DropReason::AuthSequence), 2);
    o.deliver(&signed(t, 12, KEY));
    assert_eq!(o.accepted(), 4);
    // A bad digest does not move the window.
    let mut bad = signed(t, 13, KEY);
    *bad.last_mut().unwrap() ^= 0x80;
    o.deliver(&bad);
    o.deliver(&signed(t, 21, KEY));
    assert_eq!(o.accepted(), 5);
}

#[test]
fn the_sequence_is_forgotten_after_two_detection_times_of_silence() {
    let t = AuthType::MeticulousKeyedMd5;
    let mut o = One::new(t);
    o.deliver(&signed(t, 1000, KEY));
    // Detection Time: 3 x max(300 ms, 1 s) = 3 s. Within two of them the window holds.
    o.now += Duration::from_millis(5900);
    o.drain();
    o.deliver(&signed(t, 5, KEY));
    assert_eq!(o.dropped(DropReason::AuthSequence), 1);
    o.now += Duration::from_millis(100);
    o.drain();
    o.deliver(&signed(t, 5, KEY));
    assert_eq!(o.accepted(), 2);
}

#[test]
fn replayed_packets_from_a_real_peer_are_refused() {
    for t in [AuthType::MeticulousKeyedMd5, AuthType::KeyedSha1] {
        let mut p = Pair::new(24);
        let s = with_auth(key(t, 1, b"k"));
        let (_, b) = p.add_both(Hop::Single, s.clone(), s);
        p.run_for(secs(10));
        let first = p.sides[A].sent[0].bytes.clone();
        let last = p.sides[B].delivered.last().unwrap().bytes.clone();
        let replay = |p: &mut Pair, bytes: &[u8]| {
            let to = SocketAddr::new(p.sides[B].addr, 3784);
            let from = SocketAddr::new(p.sides[A].addr, 50000);
            let now = p.now;
            p.sides[B].bfd.handle(
                now,
                Input::Received {
                    from,
                    to,
                    ttl: 255,
                    hop: Hop::Single,
                    interface: None,
                    bytes,
                },
            );
        };
        let before = p.status(B, b).counters;
        replay(&mut p, &first);
        let after = p.status(B, b).counters;
        assert_eq!(
            after.dropped.get(DropReason::AuthSequence),
            1,
            "{t:?}: an old packet"
        );
        replay(&mut p, &last);
        let again = p.status(B, b).counters;
        if t.is_meticulous() {
            assert_eq!(
                again.dropped.get(DropReason::AuthSequence),
                2,
                "{t:?}: the last one"
            );
        } else {
            assert_eq!(
                again.packets_in,
                before.packets_in + 1,
                "{t:?}: the same number"
            );
        }
        assert_eq!(p.state(B, b), State::Up);
    }
}
