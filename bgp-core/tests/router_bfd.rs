//! BFD in the router, on a virtual clock: a failure seen by BFD ends the BGP session with
//! Cease / BFD Down long before the hold timer, graceful restart is followed or not as
//! configured, `wait_for_up` holds the session, and a peer's session lives and goes with
//! the peer.

mod world;

use std::time::{Duration, Instant};

use bgp_core::bfd::State;
use bgp_core::router::{Announcement, BfdSettings, Event, PeerBfdStatus, PeerUpdate};
use world::{World, config, prefixes};

const SEC: Duration = Duration::from_secs(1);

fn via(nh: &str) -> Announcement {
    Announcement {
        next_hop: Some(nh.parse().unwrap()),
        ..Announcement::default()
    }
}

/// Two iBGP routers at 10.0.0.1 and 10.0.0.2 with BFD (300 ms x 3) on their session;
/// `tune` changes both peers' settings.
fn pair_with(tune: impl Fn(&mut bgp_core::router::PeerSettings)) -> World {
    let mut w = World::new();
    for (me, other) in [("10.0.0.1", "10.0.0.2"), ("10.0.0.2", "10.0.0.1")] {
        let mut c = config(65000, me, &[(other, 65000)]);
        c.bfd_seed = u64::from(me.ends_with('2'));
        let p = &mut c.peers[0];
        p.local_address = Some(me.parse().unwrap());
        p.bfd = Some(BfdSettings::default());
        tune(p);
        w.add(me, c);
    }
    w
}

fn bfd(w: &World, n: usize) -> PeerBfdStatus {
    w.peers(n)[0].bfd.clone().expect("the peer has BFD")
}

fn up(w: &mut World) {
    w.until(10 * SEC, "BGP established and BFD up", |w| {
        w.established(0) == 1 && w.established(1) == 1 && bfd(w, 0).state == "Up"
    });
}

/// How long after `from` the router saw its peer go down.
fn down_after(w: &mut World, n: usize, from: Instant, limit: Duration) -> Duration {
    let before = w.count_events(n, |e| matches!(e, Event::PeerDown { .. }));
    let step = Duration::from_millis(10);
    while w.count_events(n, |e| matches!(e, Event::PeerDown { .. })) == before {
        assert!(w.now - from < limit, "no session down within {limit:?}");
        w.advance(step);
    }
    w.now - from
}

fn down_reasons(w: &World, n: usize) -> Vec<String> {
    w.nodes[n]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PeerDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_cut_link_ends_the_session_with_cease_bfd_down_within_the_detection_time() {
    let mut w = pair_with(|_| {});
    up(&mut w);
    let s = bfd(&w, 1);
    assert_eq!(
        (s.hop.as_str(), s.tx_interval_ms, s.detection_time_ms),
        ("single-hop", Some(300), Some(900))
    );
    for p in prefixes(1, 3) {
        w.router(0).announce(p, &via("10.0.0.1")).unwrap();
    }
    w.drive();
    assert_eq!(w.learned(1), 3);
    let cut = w.now;
    w.unplug(0, 1, true);
    let took = down_after(&mut w, 1, cut, 2 * SEC);
    // At most the detection time (3 x 300 ms) after the last packet got through.
    assert!(took <= Duration::from_millis(900), "{took:?}");
    assert_eq!(w.learned(1), 0, "the routes went with the session");
    let why = down_reasons(&w, 1);
    assert!(why[0].contains("sent Cease / BFD Down"), "{why:?}");
    let s = bfd(&w, 1);
    assert_eq!(
        (s.state.as_str(), s.local_diag.as_str(), s.down_count),
        ("Down", "control detection time expired", 1)
    );
    let last = w.peers(1)[0].last_error.clone().unwrap();
    assert!(last.starts_with("BFD down"), "{last}");
}

#[test]
fn without_bfd_the_same_cut_waits_for_the_hold_timer() {
    let mut w = pair_with(|p| p.bfd = None);
    w.until(5 * SEC, "established", |w| w.established(1) == 1);
    let cut = w.now;
    w.unplug(0, 1, true);
    let took = down_after(&mut w, 1, cut, 20 * SEC);
    assert!(took > 5 * SEC, "{took:?}");
    assert!(down_reasons(&w, 1)[0].contains("Hold Timer Expired"));
}

#[test]
fn the_session_comes_back_once_bfd_is_up_again() {
    let mut w = pair_with(|_| {});
    up(&mut w);
    w.cut_bfd(0, 1, true);
    let cut = w.now;
    down_after(&mut w, 0, cut, 2 * SEC);
    // Both ends saw BFD fail; whichever told the other first, each side names BFD Down.
    let why = [down_reasons(&w, 0), down_reasons(&w, 1)];
    assert!(
        why.iter().flatten().all(|r| r.contains("BFD Down")),
        "{why:?}"
    );
    w.cut_bfd(0, 1, false);
    w.until(30 * SEC, "back up", |w| {
        w.established(0) == 1 && w.established(1) == 1 && bfd(w, 1).state == "Up"
    });
    assert_eq!(bfd(&w, 0).up_count, 2);
}

#[test]
fn with_graceful_restart_a_bfd_failure_removes_the_routes_unless_graceful() {
    let mut w = pair_with(|p| p.graceful_restart = Some(120));
    up(&mut w);
    assert!(w.peers(1)[0].graceful_restart);
    w.router(0)
        .announce(prefixes(1, 1)[0], &via("10.0.0.1"))
        .unwrap();
    w.drive();
    w.cut_bfd(0, 1, true);
    let cut = w.now;
    down_after(&mut w, 1, cut, 2 * SEC);
    // The path is taken to be gone: the routes go although the peer would keep ours,
    // and the N bit both sides have makes it a Hard Reset (RFC 8538).
    assert_eq!(w.learned(1), 0);
    let why = [down_reasons(&w, 0), down_reasons(&w, 1)].concat();
    assert!(why.iter().all(|r| r.contains("Hard Reset")), "{why:?}");

    let mut w = pair_with(|p| {
        p.graceful_restart = Some(120);
        p.bfd = Some(BfdSettings {
            graceful: true,
            ..BfdSettings::default()
        });
    });
    up(&mut w);
    w.router(0)
        .announce(prefixes(1, 1)[0], &via("10.0.0.1"))
        .unwrap();
    w.drive();
    w.unplug(0, 1, true);
    let cut = w.now;
    down_after(&mut w, 1, cut, 2 * SEC);
    // As after a TCP failure: kept stale for the restart time, then gone.
    assert_eq!(w.learned(1), 1);
    w.advance(60 * SEC);
    assert_eq!(w.learned(1), 1);
    w.advance(70 * SEC);
    assert_eq!(w.learned(1), 0);
}

#[test]
fn wait_for_up_holds_the_bgp_session_until_bfd_is_up() {
    let mut w = pair_with(|p| {
        p.bfd = Some(BfdSettings {
            wait_for_up: true,
            ..BfdSettings::default()
        })
    });
    w.cut_bfd(0, 1, true);
    w.advance(20 * SEC);
    assert_eq!((w.established(0), w.established(1)), (0, 0));
    let s = bfd(&w, 0);
    assert!(s.holding && s.state == "Down", "{s:?}");
    assert_eq!(w.peers(0)[0].state, "Idle");
    w.cut_bfd(0, 1, false);
    let t = w.now;
    up(&mut w);
    assert!(w.now - t < 5 * SEC, "{:?}", w.now - t);
    assert!(!bfd(&w, 0).holding);
    // A failure ends it and holds it again until BFD is back.
    w.cut_bfd(0, 1, true);
    w.advance(20 * SEC);
    assert_eq!((w.established(0), w.established(1)), (0, 0));
    assert!(bfd(&w, 1).holding);
    w.cut_bfd(0, 1, false);
    up(&mut w);
}

#[test]
fn a_peer_without_local_address_gets_its_session_with_its_first_connection() {
    let mut w = pair_with(|p| p.local_address = None);
    up(&mut w);
    assert_eq!(bfd(&w, 0).local, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(bfd(&w, 1).local, Some("10.0.0.2".parse().unwrap()));
}

#[test]
fn multihop_follows_the_ttl_settings() {
    let mut w = pair_with(|p| {
        p.asn = 65000;
        p.ttl = Some(3);
    });
    up(&mut w);
    assert_eq!(bfd(&w, 0).hop, "multihop");
}

#[test]
fn removing_a_peer_removes_its_bfd_session_and_the_other_end_is_not_failed() {
    let mut w = pair_with(|_| {});
    up(&mut w);
    let peer = w.nodes[1].addr;
    w.call(0, |r, now| r.remove_peer(now, peer)).unwrap();
    assert_eq!(w.router(0).bfd_sessions().count(), 0);
    assert_eq!(
        w.count_events(0, |e| matches!(e, Event::BfdRemoved { .. })),
        1
    );
    w.advance(3 * SEC);
    // The last packet said AdminDown: Down at the other end, and no failure.
    let told = w.count_events(1, |e| {
        matches!(e, Event::BfdChanged { to, remote_state, .. }
            if *to == State::Down && *remote_state == State::AdminDown)
    });
    assert_eq!((bfd(&w, 1).state.as_str(), told), ("Down", 1));
    let why = down_reasons(&w, 1);
    assert!(
        why.len() == 1 && why[0].contains("Peer De-configured"),
        "{why:?}"
    );
}

#[test]
fn the_bfd_session_outlives_a_restart_of_its_bgp_session_and_takes_new_intervals_in_place() {
    let mut w = pair_with(|_| {});
    up(&mut w);
    let disc = w
        .router(0)
        .bfd_sessions()
        .next()
        .unwrap()
        .local_discriminator;
    let changes = |w: &World| w.count_events(1, |e| matches!(e, Event::BfdChanged { .. }));
    let before = changes(&w);
    // Another hold time: the BGP session restarts; its BFD session stays as it was.
    let addr = w.nodes[1].addr;
    let mut p = w.router(0).peer_settings(addr).unwrap().clone();
    p.hold_time = 30;
    let r = w.call(0, |r, now| r.update_peer(now, p.clone())).unwrap();
    assert_eq!(r, PeerUpdate::Restarted);
    up(&mut w);
    let s = w.router(0).bfd_sessions().next().unwrap();
    assert_eq!((s.local_discriminator, changes(&w)), (disc, before));
    // Only BFD changes: the BGP session stays, the intervals are negotiated anew.
    let downs = w.count_events(0, |e| matches!(e, Event::PeerDown { .. }));
    p.bfd = Some(BfdSettings {
        min_tx: Duration::from_millis(100),
        min_rx: Duration::from_millis(100),
        ..BfdSettings::default()
    });
    let r = w.call(0, |r, now| r.update_peer(now, p.clone())).unwrap();
    assert_eq!(r, PeerUpdate::BfdApplied);
    w.advance(3 * SEC);
    // We send at the peer's 300 ms; the peer's detection uses our new 100 ms.
    assert_eq!(bfd(&w, 0).tx_interval_ms, Some(300));
    assert_eq!(bfd(&w, 0).detection_time_ms, Some(900));
    assert_eq!(bfd(&w, 1).tx_interval_ms, Some(300));
    assert_eq!(bfd(&w, 1).remote_min_rx_ms, Some(100));
    assert_eq!(
        w.count_events(0, |e| matches!(e, Event::PeerDown { .. })),
        downs
    );
    // BFD off: the session goes, BGP stays.
    p.bfd = None;
    let r = w.call(0, |r, now| r.update_peer(now, p.clone())).unwrap();
    assert_eq!(r, PeerUpdate::BfdApplied);
    assert_eq!(w.router(0).bfd_sessions().count(), 0);
    assert_eq!(w.established(0), 1);
}

#[test]
fn a_shutdown_says_admin_down_and_the_peer_keeps_its_routes_under_graceful_restart() {
    let mut w = pair_with(|p| p.graceful_restart = Some(120));
    up(&mut w);
    w.router(0)
        .announce(prefixes(1, 1)[0], &via("10.0.0.1"))
        .unwrap();
    w.drive();
    // A restart of ours: the sessions end as a restart (routes kept stale by the peer),
    // and BFD says AdminDown first, which is no failure at the other end.
    w.call(0, |r, now| r.shutdown(now, "restart"));
    w.nodes[0].up = false;
    w.advance(5 * SEC);
    let told = w.count_events(1, |e| {
        matches!(e, Event::BfdChanged { to, remote_state, .. }
            if *to == State::Down && *remote_state == State::AdminDown)
    });
    assert_eq!(told, 1);
    assert_eq!(w.learned(1), 1, "kept stale");
    assert!(down_reasons(&w, 1).iter().all(|r| !r.contains("BFD")));
}
