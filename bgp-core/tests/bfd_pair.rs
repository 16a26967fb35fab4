//! Two BFD endpoints on a virtual clock: sessions come up, detect a silent peer in the time
//! RFC 5880 6.8.4 gives, renegotiate timers through Poll Sequences (6.5, 6.8.3), send with
//! the jitter of 6.8.7, go administratively down (6.8.16), and are told apart by
//! discriminator (6.3) and by hop kind (RFC 5881, 5883).

mod bfd_world;

use std::time::{Duration, Instant};

use bfd_world::{A, B, Pair, Seen, ms, secs};
use bgp_core::bfd::{Diag, DropReason, Event, Hop, SessionKey, SessionSettings, State, Timer};

fn settings(tx_ms: u64, rx_ms: u64, mult: u8) -> SessionSettings {
    SessionSettings {
        desired_min_tx: ms(tx_ms),
        required_min_rx: ms(rx_ms),
        detect_mult: mult,
        ..SessionSettings::default()
    }
}

fn gaps(packets: &[&Seen]) -> Vec<Duration> {
    packets.windows(2).map(|w| w[1].at - w[0].at).collect()
}

fn up_pair(
    a: SessionSettings,
    b: SessionSettings,
) -> (Pair, bgp_core::bfd::SessionId, bgp_core::bfd::SessionId) {
    let mut p = Pair::new(42);
    let (ia, ib) = p.add_both(Hop::Single, a, b);
    p.run_for(secs(10));
    assert_eq!(p.state(A, ia), State::Up);
    assert_eq!(p.state(B, ib), State::Up);
    assert!(!p.status(A, ia).poll_active && !p.status(B, ib).poll_active);
    (p, ia, ib)
}

#[test]
fn two_active_sessions_come_up_through_init() {
    let mut p = Pair::new(1);
    let (a, b) = p.add_both(
        Hop::Single,
        SessionSettings::default(),
        SessionSettings::default(),
    );
    p.run_for(secs(5));
    let none = Diag::NoDiagnostic;
    let path = vec![
        (State::Down, State::Init, none),
        (State::Init, State::Up, none),
    ];
    assert_eq!(p.transitions(A, a), path);
    assert_eq!(p.transitions(B, b), path);
    let (sa, sb) = (p.status(A, a), p.status(B, b));
    assert_eq!(sa.remote_discriminator, sb.local_discriminator);
    assert_eq!(sb.remote_discriminator, sa.local_discriminator);
    assert_ne!(sa.local_discriminator, 0);
    assert_eq!(sa.tx_interval, ms(300));
    assert_eq!(sa.detection_time, Some(ms(900)));
    assert_eq!(sa.remote_detect_mult, 3);
    assert_eq!(sa.counters.up, 1);
    assert_eq!(p.sides[A].bfd.counters().dropped.total(), 0);
    assert_eq!(p.sides[B].bfd.counters().dropped.total(), 0);
}

#[test]
fn a_passive_multihop_session_waits_to_be_spoken_to() {
    let mut p = Pair::new(2);
    let passive = SessionSettings {
        passive: true,
        ..SessionSettings::default()
    };
    let kb = p.key(B, Hop::Single);
    assert!(
        p.sides[B]
            .bfd
            .add_session(p.now, kb, passive.clone())
            .is_err(),
        "RFC 5881 3"
    );
    let kb = p.key(B, Hop::Multi);
    let b = p.add(B, kb, passive.clone());
    p.run_for(secs(10));
    assert!(
        p.sides[B].sent.is_empty(),
        "passive and never heard: silent"
    );
    assert_eq!(p.sides[B].bfd.timer(b, Timer::Transmit), None);

    let ka = p.key(A, Hop::Multi);
    let a = p.add(A, ka, SessionSettings::default());
    let started = p.now;
    p.run_for(secs(5));
    assert!(p.sides[B].sent[0].at >= started + p.delay);
    let none = Diag::NoDiagnostic;
    assert_eq!(p.transitions(A, a), [(State::Down, State::Up, none)]);
    assert_eq!(
        p.transitions(B, b),
        [
            (State::Down, State::Init, none),
            (State::Init, State::Up, none)
        ]
    );
}

#[test]
fn a_silent_peer_is_detected_after_the_detection_time_and_not_before() {
    let (mut p, a, b) = up_pair(SessionSettings::default(), SessionSettings::default());
    assert_eq!(p.status(A, a).detection_time, Some(ms(900)));
    let cut_at = p.now;
    p.cut[B] = true;
    assert!(p.run_until_true(secs(5), |p| p.state(A, a) == State::Down));
    let down_at = p.now;
    let last_heard = p.sides[A].delivered.iter().map(|s| s.at).max().unwrap();
    // Exactly the Detection Time after the last packet, never sooner.
    assert_eq!(down_at - last_heard, ms(900));
    // The last packet left at most one interval before the cut.
    assert!(down_at - cut_at <= ms(900) + p.delay && down_at - cut_at > ms(600));
    let t = p.transitions(A, a);
    assert_eq!(
        *t.last().unwrap(),
        (State::Up, State::Down, Diag::ControlDetectionTimeExpired)
    );
    // The peer still hears us: our Down brings it down with diagnostic 3 (and on to Init,
    // since we are Down too).
    p.run_for(secs(2));
    assert_eq!(
        p.transitions(B, b)[2],
        (State::Up, State::Down, Diag::NeighborSignaledSessionDown)
    );
    // A Detection Time without packets also forgets the peer's discriminator (6.8.1).
    assert_eq!(p.status(A, a).remote_discriminator, 0);
}

#[test]
fn detection_uses_the_peers_multiplier_and_the_slower_rate() {
    let (mut p, a, _b) = up_pair(settings(300, 300, 3), settings(500, 300, 5));
    assert_eq!(p.status(A, a).detection_time, Some(ms(2500)));
    p.cut[B] = true;
    assert!(p.run_until_true(secs(5), |p| p.state(A, a) == State::Down));
    let last_heard = p.sides[A].delivered.iter().map(|s| s.at).max().unwrap();
    assert_eq!(p.now - last_heard, ms(2500));
}

#[test]
fn a_slower_transmit_rate_waits_for_the_final() {
    let (mut p, a, b) = up_pair(SessionSettings::default(), SessionSettings::default());
    p.delay = ms(50);
    p.run_for(secs(1));
    let changed = p.now;
    p.sides[A]
        .bfd
        .update_settings(changed, a, settings(1000, 300, 3))
        .unwrap();
    assert!(p.status(A, a).poll_active);
    p.run_for(secs(10));
    let finals = p.sides[A]
        .delivered
        .iter()
        .filter(|s| s.at > changed && s.packet.final_)
        .map(|s| s.at)
        .min()
        .expect("the peer answered the poll");
    let before = p.periodic(A, a, changed, finals);
    assert!(!before.is_empty());
    assert!(
        before
            .iter()
            .all(|s| s.packet.poll && s.packet.desired_min_tx == ms(1000))
    );
    // Until the Final, the old rate: the gap from the last packet before the change too.
    let mut old = p.periodic(A, a, changed - ms(300), finals);
    old.dedup_by_key(|s| s.at);
    assert!(gaps(&old).iter().all(|g| *g <= ms(300)), "{:?}", gaps(&old));
    // After it, the new rate, with P clear.
    let after = p.periodic(A, a, finals, p.now);
    assert!(after.iter().all(|s| !s.packet.poll));
    let g = gaps(&after);
    assert!(
        g.len() > 5 && g.iter().all(|g| *g >= ms(750) && *g <= ms(1000)),
        "{g:?}"
    );
    // The peer took the new rate into its Detection Time when the poll reached it.
    assert_eq!(p.status(B, b).detection_time, Some(ms(3000)));
    assert_eq!(p.transitions(B, b).len(), 2, "the peer never went down");
    assert!(!p.status(A, a).poll_active);
}

#[test]
fn a_shorter_detection_time_waits_for_the_final() {
    let (mut p, a, b) = up_pair(settings(300, 300, 3), settings(100, 300, 3));
    p.delay = ms(50);
    p.run_for(secs(1));
    assert_eq!(p.status(B, b).tx_interval, ms(300));
    let changed = p.now;
    p.sides[A]
        .bfd
        .update_settings(changed, a, settings(300, 100, 3))
        .unwrap();
    let mut polled = 0;
    while p.now < changed + secs(3) {
        let s = p.status(A, a);
        if s.poll_active {
            polled += 1;
            assert_eq!(
                s.detection_time,
                Some(ms(900)),
                "the old value while polling"
            );
        } else {
            assert_eq!(s.detection_time, Some(ms(300)));
        }
        p.run_for(ms(1));
    }
    assert!(polled > 50, "the poll took a round trip at least");
    // The peer sends faster as soon as it sees the smaller Required Min RX.
    let seen = p.sides[A]
        .delivered
        .iter()
        .find(|s| s.at > changed && s.packet.final_)
        .unwrap()
        .at;
    let sent = p.periodic(B, b, seen, p.now);
    let g = gaps(&sent);
    assert!(g.iter().all(|g| *g >= ms(75) && *g <= ms(100)), "{g:?}");
    assert_eq!(p.state(A, a), State::Up);
}

#[test]
fn intervals_respect_the_jitter_bounds() {
    for (mult, hi) in [(3, 300), (1, 270)] {
        let (mut p, a, _b) = up_pair(settings(300, 300, mult), settings(300, 300, 3));
        let from = p.now;
        p.run_for(secs(60));
        let g = gaps(&p.periodic(A, a, from, p.now));
        assert!(g.len() > 150);
        let (lo, max) = (ms(225), ms(hi));
        assert!(
            g.iter().all(|g| *g >= lo && *g <= max),
            "mult {mult}: {g:?}"
        );
        // Jittered, not fixed: the spread reaches both ends.
        assert!(*g.iter().min().unwrap() < lo + ms(10), "mult {mult}");
        assert!(*g.iter().max().unwrap() > max - ms(10), "mult {mult}");
    }
}

#[test]
fn one_packet_a_second_while_not_up() {
    let mut p = Pair::new(5);
    let ka = p.key(A, Hop::Single);
    let a = p.add(A, ka, settings(50, 50, 3));
    p.run_for(secs(30));
    let sent = p.periodic(A, a, p.now - secs(30), p.now);
    assert!(sent.iter().all(|s| s.packet.state == State::Down));
    assert!(sent.iter().all(|s| s.packet.desired_min_tx == secs(1)));
    let g = gaps(&sent);
    assert!(
        g.len() >= 29 && g.iter().all(|g| *g >= ms(750) && *g <= ms(1000)),
        "{g:?}"
    );
    // B has no session: every packet is dropped and counted.
    let c = p.sides[B].bfd.counters();
    assert_eq!(c.dropped.get(DropReason::NoSession), sent.len() as u64);
}

#[test]
fn admin_down_both_ways() {
    let (mut p, a, b) = up_pair(SessionSettings::default(), SessionSettings::default());
    p.sides[A].bfd.set_admin_down(p.now, a, true).unwrap();
    let downed = p.now;
    p.run_for(secs(10));
    assert_eq!(
        p.transitions(A, a)[2..],
        [(State::Up, State::AdminDown, Diag::AdministrativelyDown)]
    );
    assert_eq!(
        p.transitions(B, b)[2..],
        [(State::Up, State::Down, Diag::NeighborSignaledSessionDown)]
    );
    let remote = p.sides[B].events.last().map(|(_, e)| match e {
        Event::StateChanged { remote_state, .. } => *remote_state,
    });
    assert_eq!(
        remote,
        Some(State::AdminDown),
        "the peer can tell it from a failure"
    );
    let sent = p.periodic(A, a, downed, p.now);
    assert!(sent.iter().all(|s| {
        s.packet.state == State::AdminDown && s.packet.diag == Diag::AdministrativelyDown
    }));
    assert!(
        gaps(&sent).iter().all(|g| *g >= ms(750)),
        "slow while AdminDown"
    );
    assert!(p.status(A, a).counters.dropped.get(DropReason::AdminDown) > 5);

    p.sides[A].bfd.set_admin_down(p.now, a, false).unwrap();
    p.run_for(secs(5));
    assert_eq!(p.state(A, a), State::Up);
    assert_eq!(p.state(B, b), State::Up);

    p.sides[B].bfd.set_admin_down(p.now, b, true).unwrap();
    p.run_for(secs(5));
    assert_eq!(p.state(B, b), State::AdminDown);
    assert_eq!(p.state(A, a), State::Down);
    assert_eq!(p.status(A, a).local_diag, Diag::NeighborSignaledSessionDown);
    p.sides[B].bfd.set_admin_down(p.now, b, false).unwrap();
    p.run_for(secs(5));
    assert_eq!((p.state(A, a), p.state(B, b)), (State::Up, State::Up));
}

#[test]
fn a_removed_session_tells_the_peer_it_is_not_a_failure() {
    let (mut p, a, b) = up_pair(SessionSettings::default(), SessionSettings::default());
    p.sides[A].bfd.remove_session(p.now, a).unwrap();
    assert!(p.sides[A].bfd.session(a).is_none());
    p.run_for(secs(3));
    assert_eq!(
        p.transitions(B, b)[2..],
        [(State::Up, State::Down, Diag::NeighborSignaledSessionDown)]
    );
    assert!(p.sides[A].bfd.counters().dropped.get(DropReason::NoSession) > 0);
    assert!(p.sides[A].bfd.remove_session(p.now, a).is_err());
}

#[test]
fn sessions_on_one_address_pair_are_told_apart_by_discriminator_and_hop() {
    let mut p = Pair::new(7);
    let (sa, sb) = p.add_both(
        Hop::Single,
        SessionSettings::default(),
        SessionSettings::default(),
    );
    let (ma, mb) = p.add_both(
        Hop::Multi,
        SessionSettings::default(),
        SessionSettings::default(),
    );
    p.run_for(secs(5));
    for (side, id) in [(A, sa), (B, sb), (A, ma), (B, mb)] {
        assert_eq!(p.state(side, id), State::Up);
    }
    assert_ne!(
        p.status(A, sa).local_discriminator,
        p.status(A, ma).local_discriminator
    );
    assert_ne!(p.status(A, sa).source_port, p.status(A, ma).source_port);
    assert!(
        p.sides[A]
            .sent
            .iter()
            .all(|s| (s.hop == Hop::Single) == (s.session == sa))
    );
    // Only the multihop packets from B are lost: only that session goes down.
    p.cut_hop[B] = Some(Hop::Multi);
    let before = p.status(A, sa).counters.packets_in;
    p.run_for(secs(3));
    assert_eq!(p.state(A, sa), State::Up);
    assert_eq!(p.state(A, ma), State::Down);
    assert_eq!(
        p.status(A, ma).local_diag,
        Diag::ControlDetectionTimeExpired
    );
    assert!(p.status(A, sa).counters.packets_in > before + 5);
    assert_eq!(p.sides[A].bfd.counters().dropped.total(), 0);
}

#[test]
fn single_hop_packets_need_ttl_255_and_multihop_ones_the_minimum() {
    let mut p = Pair::new(8);
    p.ttl = 254;
    let (sa, _) = p.add_both(
        Hop::Single,
        SessionSettings::default(),
        SessionSettings::default(),
    );
    let (ma, _) = p.add_both(
        Hop::Multi,
        SessionSettings::default(),
        SessionSettings::default(),
    );
    p.run_for(secs(5));
    assert_eq!(p.state(A, sa), State::Down);
    assert!(p.status(A, sa).counters.dropped.get(DropReason::Ttl) > 0);
    assert_eq!(
        p.state(A, ma),
        State::Up,
        "no TTL check by default on multihop"
    );

    let mut p = Pair::new(9);
    p.ttl = 250;
    let strict = SessionSettings {
        min_ttl: Some(252),
        ..SessionSettings::default()
    };
    let (ma, mb) = p.add_both(Hop::Multi, strict.clone(), strict);
    p.run_for(secs(5));
    assert_eq!((p.state(A, ma), p.state(B, mb)), (State::Down, State::Down));
    assert!(p.status(A, ma).counters.dropped.get(DropReason::Ttl) > 0);
}

#[test]
fn a_thousand_sessions_come_up_with_unique_names() {
    let mut p = Pair::new(11);
    let mut ids = Vec::new();
    for i in 0..1000u32 {
        let a = std::net::Ipv4Addr::from(0x0a01_0000 + i).into();
        let b = std::net::Ipv4Addr::from(0x0a02_0000 + i).into();
        let ia = p.add(A, SessionKey::single_hop(a, b), SessionSettings::default());
        let ib = p.add(B, SessionKey::single_hop(b, a), SessionSettings::default());
        ids.push((ia, ib));
    }
    let start: Instant = p.now;
    p.run_for(secs(10));
    assert!(
        ids.iter()
            .all(|(a, b)| p.state(A, *a) == State::Up && p.state(B, *b) == State::Up)
    );
    let mut discr: Vec<u32> = p.sides[A]
        .bfd
        .sessions()
        .map(|s| s.local_discriminator)
        .collect();
    let mut ports: Vec<u16> = p.sides[A].bfd.sessions().map(|s| s.source_port).collect();
    discr.sort_unstable();
    discr.dedup();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!((discr.len(), ports.len()), (1000, 1000));
    assert!(ports.iter().all(|p| *p >= 49152));
    assert_eq!(p.sides[A].bfd.counters().dropped.total(), 0);
    // Ten seconds of 1000 sessions: about 3.3 packets a second each once Up.
    let sent = p.sides[A]
        .sent
        .iter()
        .filter(|s| s.at >= start + secs(5))
        .count();
    assert!((15_000..=22_500).contains(&sent), "{sent}");
}
