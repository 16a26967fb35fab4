//! The router on a virtual clock: sessions, routes, limits, graceful restart, dynamic
//! peers, refresh, run-time changes and backpressure, between routers and scripted
//! sessions in memory. Deterministic: no sockets, no sleeps.

mod world;

use std::time::Duration;

use bgp_core::router::{Announcement, Event, PeerUpdate, RouterError};
use world::{World, config, prefixes};

const SEC: Duration = Duration::from_secs(1);

fn via(nh: &str) -> Announcement {
    Announcement {
        next_hop: Some(nh.parse().unwrap()),
        ..Announcement::default()
    }
}

/// Two iBGP routers, A (10.0.0.1) and B (10.0.0.2), up.
fn pair() -> World {
    let mut w = World::new();
    w.add(
        "10.0.0.1",
        config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]),
    );
    w.add(
        "10.0.0.2",
        config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "both established", |w| {
        w.established(0) == 1 && w.established(1) == 1
    });
    w
}

#[test]
fn two_routers_exchange_and_withdraw_routes() {
    let mut w = pair();
    let now = w.now;
    let _ = now;
    for p in prefixes(1, 3) {
        w.router(0).announce(p, &via("10.0.0.1")).unwrap();
    }
    w.drive();
    assert_eq!(w.learned(1), 3);
    let b = w.router(1).best_routes();
    assert!(
        b.iter()
            .all(|r| r.from == Some("10.0.0.1".parse().unwrap()))
    );
    assert!(
        b.iter()
            .all(|r| r.next_hops == ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()])
    );
    w.router(0).withdraw(prefixes(1, 1)[0]);
    w.drive();
    assert_eq!(w.learned(1), 2);
    // Keepalives hold the sessions up for as long as we care to wait.
    w.advance(120 * SEC);
    assert_eq!((w.established(0), w.established(1)), (1, 1));
    assert_eq!(
        w.count_events(1, |e| matches!(e, Event::PeerDown { .. })),
        0
    );
    // A next hop of the other family is refused.
    assert_eq!(
        w.router(0)
            .announce("2001:db8::/32".parse().unwrap(), &via("10.0.0.1")),
        Err(RouterError::NextHopFamily("2001:db8::/32".parse().unwrap()))
    );
    let _ = PeerUpdate::Unchanged;
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn learned_prefixes(w: &World, n: usize) -> Vec<ipnet::IpNet> {
    w.nodes[n]
        .router
        .best_routes()
        .into_iter()
        .filter(|r| r.from.is_some())
        .map(|r| r.prefix)
        .collect()
}

#[test]
fn max_prefixes_cease_then_restart_after_the_delay_or_only_warn() {
    use bgp_core::router::{LimitFamily, MaxPrefixes};
    for warn_only in [false, true] {
        let mut w = World::new();
        w.add(
            "10.0.0.1",
            config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]),
        );
        let mut cb = config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]);
        // Three IPv6 routes are within the IPv6 limit; the third IPv4 route is one too many.
        cb.peers[0].max_prefixes = vec![
            MaxPrefixes {
                limit: 2,
                family: Some(LimitFamily::Ipv4),
                warn_only,
                restart_after: Some(30),
            },
            MaxPrefixes {
                limit: 3,
                family: Some(LimitFamily::Ipv6),
                warn_only: false,
                restart_after: Some(30),
            },
        ];
        w.add("10.0.0.2", cb);
        w.until(5 * SEC, "up", |w| w.established(1) == 1);
        for i in 0..3u8 {
            let p = format!("fd18:{i}::/48").parse().unwrap();
            w.router(0).announce(p, &via("fd00::9")).unwrap();
        }
        w.drive();
        assert_eq!(w.learned(1), 3, "within the IPv6 limit");
        for p in prefixes(18, 3) {
            w.router(0).announce(p, &via("192.0.2.9")).unwrap();
        }
        w.drive();
        if warn_only {
            assert_eq!(w.learned(1), 6, "kept, with a warning");
            assert_eq!(w.established(1), 1);
            continue;
        }
        // Cease / Maximum Number of Prefixes Reached (6/1): the session and the routes go.
        assert_eq!(w.established(1), 0);
        assert_eq!(w.learned(1), 0);
        let st = &w.peers(0)[0];
        assert_eq!(
            st.last_error.as_deref(),
            Some("received Cease / Maximum Number of Prefixes Reached"),
            "{st:?}"
        );
        // Held down for the restart delay (A keeps trying every second meanwhile), then up
        // again, and down again at once: still one too many.
        let ups = |w: &World| w.count_events(1, |e| matches!(e, Event::PeerUp { .. }));
        let down = w.now;
        w.until(40 * SEC, "back after the delay", |w| ups(w) == 2);
        assert!(
            w.now - down >= 30 * SEC,
            "came back after {:?}",
            w.now - down
        );
        assert_eq!(w.established(1), 0);
        assert_eq!(
            w.count_events(1, |e| matches!(e, Event::PeerDown { .. })),
            2
        );
    }
}

#[test]
fn graceful_restart_keeps_routes_and_a_restart_defers_until_the_peers_are_in() {
    let gr = |mut c: bgp_core::router::RouterConfig| {
        for p in &mut c.peers {
            p.graceful_restart = Some(30);
        }
        c
    };
    // R reflects between two clients, A and B.
    let mut cr = gr(config(
        65000,
        "10.0.0.1",
        &[("10.0.0.2", 65000), ("10.0.0.3", 65000)],
    ));
    cr.cluster_id = Some("10.0.0.1".parse().unwrap());
    for p in &mut cr.peers {
        p.rr_client = true;
    }
    let mut w = World::new();
    let r = w.add("10.0.0.1", cr.clone());
    let a = w.add(
        "10.0.0.2",
        gr(config(65000, "10.0.0.2", &[("10.0.0.1", 65000)])),
    );
    let b = w.add(
        "10.0.0.3",
        gr(config(65000, "10.0.0.3", &[("10.0.0.1", 65000)])),
    );
    w.until(5 * SEC, "up", |w| w.established(r) == 2);
    w.router(a)
        .announce("172.17.2.0/24".parse().unwrap(), &via("10.0.0.2"))
        .unwrap();
    w.router(b)
        .announce("172.17.3.0/24".parse().unwrap(), &via("10.0.0.3"))
        .unwrap();
    w.drive();
    assert_eq!((w.learned(a), w.learned(b)), (1, 1));

    // R dies and comes back restarting; B stays away for a while (it is not listening and
    // R's connections to it fail).
    w.crash(r);
    w.nodes[b].up = false;
    assert_eq!(
        w.learned(a),
        1,
        "A keeps B's route, stale, while R restarts"
    );
    let mut restarting = cr.clone();
    restarting.restarting = true;
    restarting.selection_deferral = 60;
    w.restart(r, restarting);
    w.until(5 * SEC, "A back", |w| w.established(r) == 1);
    w.advance(3 * SEC);
    assert!(
        w.router(r).summary().deferring,
        "waits for B's End-of-RIB too"
    );
    assert_eq!(
        w.learned(a),
        1,
        "nothing sent to A meanwhile: its stale route stays"
    );
    // B comes back; its End-of-RIB ends the deferral and both get complete tables.
    w.nodes[b].up = true;
    w.until(10 * SEC, "B back and the deferral over", |w| {
        w.established(r) == 2 && !w.nodes[r].router.summary().deferring
    });
    w.drive();
    assert_eq!(
        learned_prefixes(&w, a),
        ["172.17.3.0/24".parse::<ipnet::IpNet>().unwrap()]
    );
    assert_eq!(
        learned_prefixes(&w, b),
        ["172.17.2.0/24".parse::<ipnet::IpNet>().unwrap()]
    );
    let fresh = w.nodes[a]
        .router
        .rib()
        .iter()
        .all(|(_, d)| d.paths().iter().all(|p| !p.stale()));
    assert!(fresh, "refreshed by the new table");

    // Without B at all, the deferral ends by its time.
    w.crash(r);
    w.nodes[b].up = false;
    let mut restarting = cr.clone();
    restarting.restarting = true;
    restarting.selection_deferral = 20;
    w.restart(r, restarting);
    w.until(5 * SEC, "A back", |w| w.established(r) == 1);
    let t = w.now;
    w.until(25 * SEC, "deferral over", |w| {
        !w.nodes[r].router.summary().deferring
    });
    assert!(w.now - t >= 15 * SEC);
}

#[test]
fn a_restart_defers_even_before_any_peer_is_up() {
    let mut c = config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]);
    c.peers[0].graceful_restart = Some(60);
    c.restarting = true;
    c.selection_deferral = 30;
    let mut w = World::new();
    let r = w.add("10.0.0.1", c);
    w.advance(SEC);
    assert!(w.router(r).summary().deferring);
    w.advance(30 * SEC);
    assert!(!w.router(r).summary().deferring);
}

fn ranged(max: usize) -> bgp_core::router::RouterConfig {
    use bgp_core::router::DynamicPeers;
    let mut c = bgp_core::router::RouterConfig::new(65000, "10.0.0.1".parse().unwrap());
    let mut template = world::peer("10.0.1.0", 65000);
    template.graceful_restart = Some(60);
    c.dynamic_peers.push(DynamicPeers {
        range: "10.0.1.0/24".parse().unwrap(),
        template,
        max,
    });
    c
}

#[test]
fn dynamic_peers_come_from_a_range_up_to_its_maximum_and_go_with_their_session() {
    let mut w = World::new();
    let r = w.add("10.0.0.1", ranged(1));
    let a = w.add(
        "10.0.1.1",
        config(65000, "10.0.1.1", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "the dynamic session", |w| w.established(r) == 1);
    let peers = w.peers(r);
    assert_eq!(
        (peers.len(), peers[0].address, peers[0].dynamic),
        (1, ip("10.0.1.1"), true)
    );
    w.router(a)
        .announce("172.17.13.0/24".parse().unwrap(), &via("10.0.1.1"))
        .unwrap();
    w.drive();
    assert_eq!(w.learned(r), 1);
    // A second one from the range: over the maximum, refused (it keeps trying).
    let c = w.add(
        "10.0.1.3",
        config(65000, "10.0.1.3", &[("10.0.0.1", 65000)]),
    );
    w.advance(3 * SEC);
    assert_eq!(w.established(c), 0);
    assert!(w.count_events(r, |e| matches!(e, Event::Refused { .. })) >= 2);
    assert_eq!(w.peers(r).len(), 1);
    // An address outside every range is refused too.
    let x = w.add(
        "10.0.9.9",
        config(65000, "10.0.9.9", &[("10.0.0.1", 65000)]),
    );
    w.advance(2 * SEC);
    assert_eq!(w.established(x), 0);
    // A leaves (without graceful restart on its side): the dynamic peer and its routes go,
    // its place is free again, and C is taken.
    w.call(a, |r, now| r.remove_peer(now, ip("10.0.0.1")))
        .unwrap();
    w.drive();
    assert!(w.peers(r).iter().all(|p| p.address != ip("10.0.1.1")));
    assert_eq!(w.learned(r), 0);
    assert_eq!(
        w.count_events(r, |e| *e
            == Event::PeerRemoved {
                peer: ip("10.0.1.1")
            }),
        1
    );
    w.until(30 * SEC, "C accepted in the freed place", |w| {
        w.established(c) == 1
    });
}

#[test]
fn a_dynamic_peer_is_kept_for_its_restart_and_while_shut_down() {
    let mut w = World::new();
    let r = w.add("10.0.0.1", ranged(10));
    let node = |_: &mut World| {
        let mut c = config(65000, "10.0.1.1", &[("10.0.0.1", 65000)]);
        c.peers[0].graceful_restart = Some(60);
        c
    };
    let cfg = node(&mut w);
    let a = w.add("10.0.1.1", cfg.clone());
    w.router(a)
        .announce("172.17.20.0/24".parse().unwrap(), &via("10.0.1.1"))
        .unwrap();
    w.until(5 * SEC, "learned", |w| w.learned(r) == 1);
    let stale = |w: &World| {
        w.nodes[r]
            .router
            .rib()
            .iter()
            .next()
            .map(|(_, d)| d.paths()[0].stale())
    };
    assert_eq!(stale(&w), Some(false));
    // The node restarts: its routes stay, stale, and so does the peer.
    w.crash(a);
    assert_eq!(stale(&w), Some(true));
    assert_eq!(w.peers(r).len(), 1);
    w.restart(a, cfg);
    w.router(a)
        .announce("172.17.20.0/24".parse().unwrap(), &via("10.0.1.1"))
        .unwrap();
    w.until(5 * SEC, "refreshed", |w| {
        w.established(r) == 1 && stale(w) == Some(false)
    });
    // Shut down by the operator: it stays down although the node keeps connecting.
    w.call(r, |r, now| {
        r.shutdown_peer(now, ip("10.0.1.1"), "maintenance")
    })
    .unwrap();
    w.advance(5 * SEC);
    let peers = w.peers(r);
    assert_eq!(peers.len(), 1);
    assert!(peers[0].admin_down && !peers[0].established, "{peers:?}");
    w.call(r, |r, now| r.reset_peer(now, ip("10.0.1.1"), "back"))
        .unwrap();
    w.until(5 * SEC, "back", |w| w.established(r) == 1);
}

#[test]
fn a_configured_peer_takes_the_place_of_a_dynamic_one() {
    let mut w = World::new();
    let r = w.add("10.0.0.1", ranged(10));
    w.add(
        "10.0.1.1",
        config(65000, "10.0.1.1", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "dynamic", |w| w.established(r) == 1);
    assert!(w.peers(r)[0].dynamic);
    let mut listed = world::peer("10.0.1.1", 65000);
    listed.passive = true;
    listed.hold_time = 6;
    w.call(r, |r, now| r.add_peer(now, listed)).unwrap();
    w.until(5 * SEC, "the listed peer's session", |w| {
        let p = w.nodes[r].router.peers(w.now);
        p.len() == 1 && !p[0].dynamic && p[0].established && p[0].hold_time == Some(6)
    });
}

#[test]
fn route_refresh_makes_the_peer_send_again() {
    let mut w = pair();
    w.router(0)
        .announce("172.21.0.0/16".parse().unwrap(), &via("10.0.0.1"))
        .unwrap();
    w.drive();
    let sent = |w: &World| {
        w.nodes[0]
            .router
            .peer_stats()
            .next()
            .unwrap()
            .1
            .updates_sent()
    };
    let before = sent(&w);
    w.call(1, |r, now| r.refresh(now, ip("10.0.0.1"))).unwrap();
    w.drive();
    // The route again, once per family asked for (the empty IPv6 table sends nothing),
    // between BoRR and EoRR: nothing is lost at B meanwhile.
    assert_eq!(sent(&w), before + 1);
    assert_eq!(w.learned(1), 1);
    assert_eq!(
        w.call(1, |r, now| r.refresh(now, ip("10.0.0.9"))),
        Err(RouterError::NoPeer(ip("10.0.0.9")))
    );
    w.call(0, |r, now| r.shutdown(now, "bye"));
    w.drive();
    assert_eq!(
        w.call(1, |r, now| r.refresh(now, ip("10.0.0.1"))),
        Err(RouterError::NotEstablished(ip("10.0.0.1")))
    );
}

#[test]
fn connect_delay_and_error_wait() {
    use bgp_core::router::ErrorWait;
    let mut w = World::new();
    let mut ca = config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]);
    ca.peers[0].connect_delay = Some(3);
    ca.peers[0].error_wait = Some(ErrorWait { min: 2, max: 30 });
    let a = w.add("10.0.0.1", ca);
    let mut cb = config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]);
    cb.peers[0].passive = true;
    w.add("10.0.0.2", cb);
    let t0 = w.now;
    w.until(10 * SEC, "Established after the delay", |w| {
        w.established(a) == 1
    });
    assert!(w.now - t0 >= 3 * SEC, "after {:?}", w.now - t0);
    // An error wait that makes no sense is refused with a typed error.
    let mut p = world::peer("10.0.0.9", 65000);
    p.error_wait = Some(ErrorWait { min: 10, max: 5 });
    assert!(matches!(
        w.call(a, |r, now| r.add_peer(now, p)),
        Err(RouterError::InvalidPeer(..))
    ));
}

#[test]
fn a_peer_updated_at_run_time() {
    let mut w = pair();
    let ups = |w: &World| w.count_events(0, |e| matches!(e, Event::PeerUp { .. }));
    assert_eq!(ups(&w), 1);
    let p = w.nodes[1]
        .router
        .peer_settings(ip("10.0.0.1"))
        .unwrap()
        .clone();
    assert_eq!(
        w.call(1, |r, now| r.update_peer(now, p.clone())),
        Ok(PeerUpdate::Unchanged)
    );
    // A new hold time: the session starts again with it.
    let mut changed = p.clone();
    changed.hold_time = 12;
    assert_eq!(
        w.call(1, |r, now| r.update_peer(now, changed.clone())),
        Ok(PeerUpdate::Restarted)
    );
    w.until(5 * SEC, "again", |w| {
        ups(w) == 2 && w.established(0) == 1 && w.established(1) == 1
    });
    assert_eq!(w.peers(0)[0].hold_time, Some(9), "the lower hold time");
    // Unknown peers and nonsense settings are refused; the peer stays as it was.
    assert_eq!(
        w.call(1, |r, now| r
            .update_peer(now, world::peer("10.0.0.9", 65000))),
        Err(RouterError::NoPeer(ip("10.0.0.9")))
    );
    let mut bad = changed.clone();
    bad.error_wait = Some(bgp_core::router::ErrorWait { min: 0, max: 0 });
    assert!(matches!(
        w.call(1, |r, now| r.update_peer(now, bad)),
        Err(RouterError::InvalidPeer(..))
    ));
    w.advance(SEC);
    assert_eq!(ups(&w), 2, "a refused change leaves the session alone");
}

/// R (10.0.0.1) with a fast peer B (.2) and a peer F (.3) that stops reading; each route R
/// announces has an attribute set of its own (one UPDATE each), so that F falls far behind.
fn stuck_world(f_is_router: bool) -> (World, usize, usize, world::Who) {
    use bgp_core::session::{PeerAs, SessionConfig};
    let mut cr = config(
        65000,
        "10.0.0.1",
        &[("10.0.0.2", 65000), ("10.0.0.3", 65000)],
    );
    cr.peer_queue_depth = 32;
    // F sends keepalives but reads nothing for a while: no hold timer on its side.
    cr.peers[1].hold_time = 240;
    let mut w = World::new();
    let r = w.add("10.0.0.1", cr);
    let b = w.add(
        "10.0.0.2",
        config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]),
    );
    let f = if f_is_router {
        let mut cf = config(65000, "10.0.0.3", &[("10.0.0.1", 65000)]);
        cf.peers[0].hold_time = 240;
        world::Who::Router(w.add("10.0.0.3", cf))
    } else {
        // A session without enhanced route refresh.
        let mut sc = SessionConfig::new(65000, "10.0.0.3".parse().unwrap(), PeerAs::Is(65000));
        sc.hold_time = 240;
        sc.enhanced_route_refresh = false;
        world::Who::Raw(w.add_raw("10.0.0.3", "10.0.0.1", sc))
    };
    w.until(5 * SEC, "R has both peers", |w| w.established(r) == 2);
    (w, r, b, f)
}

fn announce_many(w: &mut World, r: usize, n: u32) {
    for (i, p) in prefixes(11, n).into_iter().enumerate() {
        let a = Announcement {
            med: Some(i as u32),
            ..via("192.0.2.15")
        };
        w.router(r).announce(p, &a).unwrap();
        // Flushed in parts, as changes come in over time.
        if i % 300 == 299 {
            w.advance(Duration::from_millis(10));
        }
    }
    w.drive();
}

#[test]
fn a_peer_that_stops_reading_holds_no_one_back_and_is_caught_up_in_place() {
    let (mut w, r, b, f) = stuck_world(true);
    let world::Who::Router(fi) = f else {
        unreachable!()
    };
    w.stall(world::Who::Router(r), f, true);
    announce_many(&mut w, r, 3000);
    assert_eq!(w.learned(b), 3000, "B converges while F is stuck");
    let overflows = w.count_events(r, |e| {
        *e == Event::QueueOverflow {
            peer: ip("10.0.0.3"),
        }
    });
    assert_eq!(overflows, 1);
    // What F costs R: its queue depth and one flush, plus a window in flight.
    let held = w.nodes[r].router.peer_backlog(ip("10.0.0.3")).unwrap();
    assert!(
        held <= 32 + 300 + bgp_core::router::WINDOW,
        "F holds {held} messages"
    );
    assert!(w.waiting(world::Who::Router(r), f) <= bgp_core::router::WINDOW);
    // F keeps its session up with keepalives while stuck.
    w.advance(60 * SEC);
    assert_eq!(w.established(r), 2);
    // F reads again: once drained it is sent the table between BoRR and EoRR, in place.
    w.stall(world::Who::Router(r), f, false);
    w.advance(SEC);
    assert_eq!(w.learned(fi), 3000);
    assert_eq!(
        w.count_events(r, |e| matches!(e, Event::PeerDown { .. })),
        0
    );
    assert_eq!(w.nodes[r].router.peer_backlog(ip("10.0.0.3")), Some(0));
    assert_eq!(w.nodes[r].router.backlog(), 0);
}

#[test]
fn a_table_owed_to_a_stuck_peer_holds_no_one_back_either() {
    let (mut w, r, b, f) = stuck_world(true);
    let world::Who::Router(fi) = f else {
        unreachable!()
    };
    announce_many(&mut w, r, 3000);
    assert_eq!((w.learned(b), w.learned(fi)), (3000, 3000));
    // F comes back stuck: the whole table is owed to it, beyond its queue depth.
    w.stall(world::Who::Router(r), f, true);
    w.call(fi, |x, now| x.reset_peer(now, ip("10.0.0.1"), "again"))
        .unwrap();
    w.until(30 * SEC, "F up again", |w| {
        // R's OPEN and KEEPALIVE get through, one at a time, and nothing more.
        w.release(world::Who::Router(r), f, 1);
        w.established(r) == 2 && w.established(fi) == 1
    });
    assert!(w.nodes[r].router.peer_backlog(ip("10.0.0.3")).unwrap() >= 2000);
    // New routes still reach B at once.
    for p in prefixes(100, 500) {
        w.router(r).announce(p, &via("192.0.2.15")).unwrap();
    }
    w.drive();
    assert_eq!(w.learned(b), 3500);
    w.stall(world::Who::Router(r), f, false);
    w.advance(SEC);
    assert_eq!(w.learned(fi), 3500);
}

#[test]
fn a_stuck_peer_without_enhanced_route_refresh_is_caught_up_by_a_new_session() {
    let (mut w, r, b, f) = stuck_world(false);
    w.stall(world::Who::Router(r), f, true);
    announce_many(&mut w, r, 3000);
    assert_eq!(w.learned(b), 3000);
    w.advance(30 * SEC);
    assert_eq!(w.established(r), 2, "stuck, but alive");
    w.stall(world::Who::Router(r), f, false);
    w.advance(SEC);
    // Once drained: Cease / Out of Resources (6/8), and a new session with the table.
    assert_eq!(w.raws[0].notifications, [(6, 8)]);
    w.until(30 * SEC, "F back", |w| w.established(r) == 2);
    w.drive();
    let events = &w.raws[0].events;
    let last_up = events
        .iter()
        .rposition(|e| matches!(e, bgp_core::session::Event::Established(_)))
        .unwrap();
    let got: usize = events[last_up..]
        .iter()
        .filter_map(|e| match e {
            bgp_core::session::Event::Update(u) => Some(u.nlri.len()),
            _ => None,
        })
        .sum();
    assert_eq!(got, 3000, "the new session carries the whole table");
}

fn prefix_policy(name: &str, reject: &str) -> std::sync::Arc<bgp_core::policy::Policy> {
    use bgp_core::policy::{Match, Policy, PrefixRange, Term, Verdict};
    std::sync::Arc::new(Policy {
        name: name.into(),
        terms: vec![Term {
            name: "drop".into(),
            matches: vec![Match::Prefix(vec![PrefixRange::exact(
                reject.parse().unwrap(),
            )])],
            actions: Vec::new(),
            verdict: Some(Verdict::Reject),
        }],
        default: Verdict::Accept,
    })
}

#[test]
fn policies_change_in_place_and_the_operator_resets_and_shuts_down() {
    for soft in [false, true] {
        let mut w = World::new();
        let a = w.add(
            "10.0.0.1",
            config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]),
        );
        let mut cb = config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]);
        cb.peers[0].soft_reconfig_inbound = soft;
        let b = w.add("10.0.0.2", cb);
        w.until(5 * SEC, "up", |w| w.established(b) == 1);
        let (p1, p2): (ipnet::IpNet, ipnet::IpNet) = (
            "10.19.1.0/24".parse().unwrap(),
            "10.19.2.0/24".parse().unwrap(),
        );
        for p in [p1, p2] {
            w.router(a).announce(p, &via("192.0.2.19")).unwrap();
        }
        w.drive();
        assert_eq!(learned_prefixes(&w, b), [p1, p2]);
        let refreshes = |w: &World| {
            w.nodes[a]
                .router
                .peer_stats()
                .next()
                .map(|(_, s)| s.updates_sent())
                .unwrap()
        };
        let sent_before = refreshes(&w);
        // Import policy on b: re-applied from the copy kept before policy, or by a route
        // refresh (A sends its routes again).
        let mut p = w.nodes[b]
            .router
            .peer_settings(ip("10.0.0.1"))
            .unwrap()
            .clone();
        p.import = Some(prefix_policy("no-1", "10.19.1.0/24"));
        assert_eq!(
            w.call(b, |r, now| r.update_peer(now, p.clone())),
            Ok(PeerUpdate::PoliciesApplied)
        );
        assert_eq!(learned_prefixes(&w, b), [p2]);
        p.import = None;
        assert_eq!(
            w.call(b, |r, now| r.update_peer(now, p.clone())),
            Ok(PeerUpdate::PoliciesApplied)
        );
        assert_eq!(learned_prefixes(&w, b), [p1, p2], "soft {soft}");
        let resent = refreshes(&w) - sent_before;
        if soft {
            assert_eq!(resent, 0, "soft reconfiguration needs nothing from A");
        } else {
            assert!(
                resent >= 2,
                "two route refreshes answered ({resent} UPDATEs)"
            );
        }
        // Export policy on A towards B: B loses the route, without a reset.
        let mut pa = w.nodes[a]
            .router
            .peer_settings(ip("10.0.0.2"))
            .unwrap()
            .clone();
        pa.export = Some(prefix_policy("no-2", "10.19.2.0/24"));
        assert_eq!(
            w.call(a, |r, now| r.update_peer(now, pa)),
            Ok(PeerUpdate::PoliciesApplied)
        );
        assert_eq!(learned_prefixes(&w, b), [p1]);
        assert_eq!(w.count_events(b, |e| matches!(e, Event::PeerUp { .. })), 1);

        // The operator shuts the peer down: it stays down, with the message as the reason.
        w.call(b, |r, now| {
            r.shutdown_peer(now, ip("10.0.0.1"), "maintenance")
        })
        .unwrap();
        w.advance(5 * SEC);
        let st = &w.peers(b)[0];
        assert!(!st.established && st.admin_down, "{st:?}");
        let err = st.last_error.clone().unwrap();
        assert!(
            err.contains("Administrative Shutdown") && err.contains("maintenance"),
            "{err}"
        );
        assert!(learned_prefixes(&w, b).is_empty());
        // A reset brings it back.
        w.call(b, |r, now| r.reset_peer(now, ip("10.0.0.1"), "back"))
            .unwrap();
        w.until(5 * SEC, "up again", |w| w.established(b) == 1);
        let st = &w.peers(b)[0];
        assert_eq!((st.established_count, st.admin_down), (2, false));
        assert_eq!(st.state, "Established");
        assert_eq!(
            w.call(b, |r, now| r.reset_peer(now, ip("10.0.0.9"), "x")),
            Err(RouterError::NoPeer(ip("10.0.0.9")))
        );
    }
}

#[test]
fn removed_and_added_again_a_peer_starts_afresh_and_old_connections_are_ignored() {
    let mut w = pair();
    w.router(0)
        .announce("172.17.1.0/24".parse().unwrap(), &via("10.0.0.1"))
        .unwrap();
    w.drive();
    assert_eq!(w.learned(1), 1);
    w.call(1, |r, now| r.remove_peer(now, ip("10.0.0.1")))
        .unwrap();
    assert_eq!(w.learned(1), 0);
    assert_eq!(w.peers(1).len(), 0);
    assert_eq!(
        w.call(1, |r, now| r.remove_peer(now, ip("10.0.0.1"))),
        Err(RouterError::NoPeer(ip("10.0.0.1")))
    );
    w.call(1, |r, now| r.add_peer(now, world::peer("10.0.0.1", 65000)))
        .unwrap();
    assert_eq!(
        w.call(1, |r, now| r.add_peer(now, world::peer("10.0.0.1", 65000))),
        Err(RouterError::DuplicatePeer(ip("10.0.0.1")))
    );
    w.until(10 * SEC, "up again", |w| {
        w.established(1) == 1 && w.learned(1) == 1
    });
    assert_eq!(w.nodes[1].router.backlog(), 0);
}

#[test]
fn a_silent_peer_is_given_up_at_its_hold_time_and_its_routes_go() {
    let mut w = pair();
    w.router(0)
        .announce("172.17.1.0/24".parse().unwrap(), &via("10.0.0.1"))
        .unwrap();
    w.drive();
    assert_eq!(w.learned(1), 1);
    // Nothing gets through either way (a cable pulled): no close is seen by either side.
    w.cut(world::Who::Router(0), world::Who::Router(1));
    let t = w.now;
    w.until(20 * SEC, "B gives A up", |w| w.established(1) == 0);
    let waited = w.now - t;
    assert!(
        waited >= 8 * SEC && waited <= 10 * SEC,
        "after {waited:?} (hold time 9 s)"
    );
    assert_eq!(w.learned(1), 0);
    let st = &w.peers(1)[0];
    assert_eq!(
        st.last_error.as_deref(),
        Some("sent Hold Timer Expired"),
        "{st:?}"
    );
}

#[test]
fn ebgp_needs_a_policy_and_passive_auto_lets_the_lower_address_connect() {
    use bgp_core::router::NextHopSetting;
    for allowed in [false, true] {
        let mut w = World::new();
        let mut ca = config(65000, "10.0.0.1", &[("10.0.0.2", 65020)]);
        let mut cb = config(65020, "10.0.0.2", &[("10.0.0.1", 65010)]);
        for (c, local) in [(&mut ca, "10.0.0.1"), (&mut cb, "10.0.0.2")] {
            c.peers[0].passive_auto = true;
            c.peers[0].local_address = Some(local.parse().unwrap());
            c.ebgp_without_policy = allowed;
        }
        // A speaks as AS 65010 to B (a local AS override).
        ca.peers[0].local_as = Some(65010);
        ca.peers[0].next_hop = NextHopSetting::Unchanged;
        let a = w.add("10.0.0.1", ca);
        let b = w.add("10.0.0.2", cb);
        w.until(5 * SEC, "up", |w| w.established(b) == 1);
        // Only the lower address connected: one connection, no collision.
        assert!(w.peers(b)[0].last_error.is_none());
        w.router(a)
            .announce("172.19.0.0/24".parse().unwrap(), &via("192.0.2.19"))
            .unwrap();
        w.drive();
        if !allowed {
            assert_eq!(w.learned(b), 0, "RFC 8212: no eBGP route without a policy");
            continue;
        }
        let routes = w.call(b, |r, _| r.best_routes());
        assert_eq!(routes[0].next_hops, [ip("192.0.2.19")], "unchanged");
        let path = w.nodes[b].router.rib().iter().next().unwrap().1.paths()[0].clone();
        assert_eq!(path.attrs().as_path.as_ref().unwrap().to_string(), "65010");
    }
}

#[test]
fn an_update_group_is_flushed_no_more_often_than_its_minimum_interval() {
    let mut w = World::new();
    let mut ca = config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]);
    ca.min_route_interval = 5 * SEC;
    let a = w.add("10.0.0.1", ca);
    let b = w.add(
        "10.0.0.2",
        config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "up", |w| w.established(b) == 1);
    let ps = prefixes(3, 3);
    w.router(a).announce(ps[0], &via("10.0.0.1")).unwrap();
    w.drive();
    assert_eq!(w.learned(b), 1, "the first change goes at once");
    w.router(a).announce(ps[1], &via("10.0.0.1")).unwrap();
    w.advance(SEC);
    w.router(a).announce(ps[2], &via("10.0.0.1")).unwrap();
    w.advance(SEC);
    assert_eq!(w.learned(b), 1, "held for the interval");
    let t = w.now;
    w.until(5 * SEC, "the next flush", |w| w.learned(b) == 3);
    assert!(w.now - t <= 3 * SEC + Duration::from_millis(100));
}

/// A scripted client with or without graceful restart, and with or without RFC 8538's N bit.
fn raw_client(gr: Option<bool>) -> bgp_core::session::SessionConfig {
    use bgp_core::session::{GracefulRestartConfig, PeerAs, SessionConfig};
    let mut sc = SessionConfig::new(65000, "10.0.0.9".parse().unwrap(), PeerAs::Is(65000));
    sc.hold_time = 9;
    sc.connect_retry = SEC;
    sc.graceful_restart = gr.map(|notification| GracefulRestartConfig {
        restart_time: 60,
        restarting: false,
        forwarding_preserved: Vec::new(),
        notification,
    });
    sc
}

#[test]
fn a_restart_waits_for_the_graceful_restart_peers_only() {
    // R restarts with a graceful-restart router A and a scripted client B without graceful
    // restart, which never sends End-of-RIB: A's End-of-RIB ends the deferral.
    let mut cr = config(
        65000,
        "10.0.0.1",
        &[("10.0.0.2", 65000), ("10.0.0.9", 65000)],
    );
    cr.peers[0].graceful_restart = Some(60);
    cr.restarting = true;
    cr.selection_deferral = 60;
    let mut w = World::new();
    let r = w.add("10.0.0.1", cr);
    let mut ca = config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]);
    ca.peers[0].graceful_restart = Some(60);
    w.add_raw("10.0.0.9", "10.0.0.1", raw_client(None));
    assert_eq!(
        w.router(r).summary().waiting_for,
        [ip("10.0.0.2")],
        "B has no graceful restart configured: not waited for"
    );
    let t = w.now;
    w.add("10.0.0.2", ca);
    w.until(10 * SEC, "the deferral ends", |w| {
        !w.nodes[r].router.summary().deferring
    });
    assert!(
        w.now - t < 5 * SEC,
        "ended by A's End-of-RIB, not by its time"
    );
    assert_eq!(w.established(r), 2);
}

#[test]
fn a_graceful_stop_leaves_each_peer_keeping_our_routes_as_it_can() {
    let mut cr = config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]);
    cr.peers[0].graceful_restart = Some(60);
    for a in ["10.0.0.9", "10.0.0.8", "10.0.0.7"] {
        let mut p = world::peer(a, 65000);
        p.graceful_restart = Some(60);
        cr.peers.push(p);
    }
    let mut w = World::new();
    let r = w.add("10.0.0.1", cr);
    let mut ca = config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]);
    ca.peers[0].graceful_restart = Some(60);
    let a = w.add("10.0.0.2", ca);
    // Graceful restart with RFC 8538, without it, and none.
    let with_n = w.add_raw("10.0.0.9", "10.0.0.1", raw_client(Some(true)));
    let without_n = w.add_raw("10.0.0.8", "10.0.0.1", raw_client(Some(false)));
    let none = w.add_raw("10.0.0.7", "10.0.0.1", raw_client(None));
    w.until(5 * SEC, "all up", |w| w.established(r) == 4);
    w.router(r)
        .announce("172.17.1.0/24".parse().unwrap(), &via("10.0.0.1"))
        .unwrap();
    w.drive();
    assert_eq!(w.learned(a), 1);
    w.call(r, |x, now| x.shutdown(now, "upgrade"));
    // RFC 8538 peers: the administrative shutdown, and they keep the routes.
    assert_eq!(w.learned(a), 1, "A keeps R's route, stale");
    assert_eq!(w.raws[with_n].notifications, [(6, 2)]);
    // Graceful restart without RFC 8538: no NOTIFICATION, the connection just closes.
    assert_eq!(w.raws[without_n].notifications, []);
    let kept = w.raws[without_n].events.iter().any(|e| {
        matches!(
            e,
            bgp_core::session::Event::Down {
                retain_stale: Some(_),
                ..
            }
        )
    });
    assert!(kept, "{:?}", w.raws[without_n].events);
    // No graceful restart: the administrative shutdown, routes dropped.
    assert_eq!(w.raws[none].notifications, [(6, 2)]);
}

#[test]
fn a_restart_waits_for_the_peers_that_held_our_routes_when_they_are_known() {
    // R knows that only A was up with graceful restart before it restarted: B, listed with
    // graceful restart but not there, is not waited for.
    let mut cr = config(
        65000,
        "10.0.0.1",
        &[("10.0.0.2", 65000), ("10.0.0.3", 65000)],
    );
    for p in &mut cr.peers {
        p.graceful_restart = Some(60);
    }
    cr.restarting = true;
    cr.expected_peers = Some(vec![ip("10.0.0.2")]);
    let mut w = World::new();
    let r = w.add("10.0.0.1", cr);
    assert_eq!(w.router(r).summary().waiting_for, [ip("10.0.0.2")]);
    let mut ca = config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]);
    ca.peers[0].graceful_restart = Some(60);
    w.add("10.0.0.2", ca);
    w.until(5 * SEC, "the deferral ends with A's End-of-RIB", |w| {
        !w.nodes[r].router.summary().deferring
    });
}

#[test]
fn the_timer_heap_does_not_grow_with_time() {
    // Deadlines move all the time (every UPDATE sent restarts a keepalive timer, a
    // connection that comes and goes arms and disarms others): the heap keeps a bounded
    // number of entries per peer.
    let mut w = pair();
    for round in 0..400u32 {
        for p in prefixes(20, 5) {
            let a = Announcement {
                med: Some(round),
                ..via("10.0.0.1")
            };
            w.router(0).announce(p, &a).unwrap();
        }
        w.advance(Duration::from_millis(700));
    }
    for n in 0..2 {
        let entries = w.nodes[n].router.timer_entries();
        assert!(
            entries <= 4,
            "router {n}: {entries} timer entries for one peer"
        );
    }
}

/// A scripted client with enhanced route refresh (or without), announcing nothing yet.
fn refresher(enhanced: bool) -> bgp_core::session::SessionConfig {
    let mut sc = raw_client(None);
    sc.enhanced_route_refresh = enhanced;
    sc
}

fn update(prefixes: &[&str], nh: &str) -> bgp_core::wire::Update {
    use bgp_core::wire::Prefixes;
    use bgp_core::wire::attributes::{AsPath, Origin, PathAttributes};
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        next_hop: Some(nh.parse().unwrap()),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    let nets: Vec<ipnet::IpNet> = prefixes.iter().map(|p| p.parse().unwrap()).collect();
    bgp_core::wire::Update::new(
        Prefixes::empty(bgp_core::Afi::IPV4, false),
        attrs,
        Prefixes::from_entries(bgp_core::Afi::IPV4, false, nets).unwrap(),
    )
}

#[test]
fn a_peers_enhanced_refresh_sweeps_what_it_did_not_send_again() {
    use bgp_core::Family;
    use bgp_core::session::RefreshKind;
    let mut w = World::new();
    let r = w.add(
        "10.0.0.1",
        config(65000, "10.0.0.1", &[("10.0.0.9", 65000)]),
    );
    let c = w.add_raw("10.0.0.9", "10.0.0.1", refresher(true));
    w.until(5 * SEC, "up", |w| w.established(r) == 1);
    let now = w.now;
    w.raws[c]
        .session
        .send_update(
            now,
            &update(&["172.17.1.0/24", "172.17.2.0/24"], "10.0.0.9"),
        )
        .unwrap();
    w.drive();
    assert_eq!(w.learned(r), 2);
    // BoRR, one of the two again, EoRR: the other goes; none was gone meanwhile.
    let f = Family::IPV4_UNICAST;
    w.raws[c]
        .session
        .send_route_refresh(now, f, RefreshKind::Begin)
        .unwrap();
    w.raws[c]
        .session
        .send_update(now, &update(&["172.17.1.0/24"], "10.0.0.9"))
        .unwrap();
    w.drive();
    assert_eq!(w.learned(r), 2, "kept, stale, until EoRR");
    w.raws[c]
        .session
        .send_route_refresh(now, f, RefreshKind::End)
        .unwrap();
    w.drive();
    assert_eq!(
        learned_prefixes(&w, r),
        ["172.17.1.0/24".parse::<ipnet::IpNet>().unwrap()]
    );
    // A BoRR whose EoRR never comes: after the wait, what was not sent again goes.
    w.raws[c]
        .session
        .send_route_refresh(now, f, RefreshKind::Begin)
        .unwrap();
    w.drive();
    w.advance(200 * SEC);
    assert_eq!(w.learned(r), 1);
    w.advance(200 * SEC);
    assert_eq!(w.learned(r), 0, "no EoRR within the wait");
}

#[test]
fn a_refresh_request_is_answered_between_borr_and_eorr_when_negotiated() {
    use bgp_core::Family;
    use bgp_core::session::{Event as SessionEvent, RefreshKind};
    for enhanced in [true, false] {
        let mut w = World::new();
        let r = w.add(
            "10.0.0.1",
            config(65000, "10.0.0.1", &[("10.0.0.9", 65000)]),
        );
        let c = w.add_raw("10.0.0.9", "10.0.0.1", refresher(enhanced));
        w.until(5 * SEC, "up", |w| w.established(r) == 1);
        for p in ["172.17.1.0/24", "2001:db8:1::/48"] {
            let nh = if p.contains(':') {
                "2001:db8::1"
            } else {
                "10.0.0.1"
            };
            w.router(r).announce(p.parse().unwrap(), &via(nh)).unwrap();
        }
        w.drive();
        w.raws[c].events.clear();
        let now = w.now;
        w.raws[c]
            .session
            .send_route_refresh(now, Family::IPV4_UNICAST, RefreshKind::Request)
            .unwrap();
        w.drive();
        let seen: Vec<String> = w.raws[c]
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::RouteRefresh { kind, family } => Some(format!("{kind:?} {family}")),
                SessionEvent::Update(u) => Some(format!("UPDATE {}", u.nlri.len())),
                SessionEvent::EndOfRib(f) => Some(format!("EoR {f}")),
                _ => None,
            })
            .collect();
        let f = Family::IPV4_UNICAST;
        let want = if enhanced {
            vec![format!("Begin {f}"), "UPDATE 1".into(), format!("End {f}")]
        } else {
            vec!["UPDATE 1".into(), format!("EoR {f}")]
        };
        assert_eq!(seen, want, "only the family asked for");
    }
}

#[test]
fn ipv4_routes_go_over_an_ipv6_session_with_an_ipv6_next_hop_only_with_rfc_8950() {
    for extended in [false, true] {
        let mut w = World::new();
        let mut ca = config(65000, "10.0.0.1", &[("fd00::2", 65000)]);
        let mut cb = config(65000, "10.0.0.2", &[("fd00::1", 65000)]);
        ca.peers[0].extended_next_hop = extended;
        cb.peers[0].extended_next_hop = extended;
        let a = w.add("fd00::1", ca);
        let b = w.add("fd00::2", cb);
        w.until(5 * SEC, "up", |w| w.established(b) == 1);
        // Our own pod block, next hop self: over this session, ourselves is an IPv6 address.
        w.router(a)
            .announce("172.17.1.0/24".parse().unwrap(), &Announcement::default())
            .unwrap();
        w.router(a)
            .announce("2001:db8:1::/48".parse().unwrap(), &Announcement::default())
            .unwrap();
        w.drive();
        let routes = w.call(b, |r, _| r.best_routes());
        let v4: Vec<_> = routes
            .iter()
            .filter(|r| r.prefix.addr().is_ipv4())
            .collect();
        if extended {
            assert_eq!(v4.len(), 1, "{routes:?}");
            assert_eq!(v4[0].next_hops, [ip("fd00::1")]);
        } else {
            // Without the capability an IPv6 next hop for IPv4 routes is not to be sent
            // (RFC 8950 4), and there is no IPv4 address of ours on the session.
            assert!(v4.is_empty(), "{routes:?}");
        }
        let v6: Vec<_> = routes
            .iter()
            .filter(|r| r.prefix.addr().is_ipv6())
            .collect();
        assert_eq!(v6.len(), 1, "IPv6 routes go either way");
        let st = &w.peers(b)[0];
        let caps = |fam: &str| st.capabilities.iter().find(|c| c.family == fam).unwrap();
        assert_eq!(caps("ipv4-unicast").extended_next_hop, extended, "{st:?}");
        assert!(!caps("ipv6-unicast").extended_next_hop, "{st:?}");
    }
}

#[test]
fn next_hop_self_without_an_address_of_the_family_does_not_send_the_route() {
    // An IPv6 route over an IPv4-only eBGP session: we have no IPv6 address there to put
    // as next hop, and the route's own next hop means nothing to the peer.
    let mut w = World::new();
    let mut ca = config(65001, "10.0.0.1", &[("10.0.0.2", 65002)]);
    ca.ebgp_without_policy = true;
    let mut cb = config(65002, "10.0.0.2", &[("10.0.0.1", 65001)]);
    cb.ebgp_without_policy = true;
    let a = w.add("10.0.0.1", ca);
    let b = w.add("10.0.0.2", cb);
    w.until(5 * SEC, "up", |w| w.established(b) == 1);
    let v6 = Announcement {
        next_hop: Some(ip("fd00::9")),
        ..Announcement::default()
    };
    w.router(a)
        .announce("2001:db8:1::/48".parse().unwrap(), &v6)
        .unwrap();
    w.router(a)
        .announce("172.17.1.0/24".parse().unwrap(), &Announcement::default())
        .unwrap();
    w.drive();
    let routes = w.call(b, |r, _| r.best_routes());
    let prefixes: Vec<String> = routes.iter().map(|r| r.prefix.to_string()).collect();
    assert_eq!(prefixes, ["172.17.1.0/24"], "{routes:?}");
}

#[test]
fn a_connection_failure_reported_late_leaves_an_established_session_up() {
    // A connect started before a reload re-created the peer ends after the session is up.
    let mut w = World::new();
    let a = w.add(
        "10.0.0.1",
        config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]),
    );
    let b = w.add(
        "10.0.0.2",
        config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "up", |w| w.established(b) == 1);
    // Whichever side connected out: both hear of a failure.
    for (n, peer) in [(a, "10.0.0.2"), (b, "10.0.0.1")] {
        w.call(n, |r, now| {
            r.handle(
                now,
                bgp_core::router::Input::ConnectFailed { peer: ip(peer) },
            )
        });
    }
    // Past the hold time: the session still carries KEEPALIVEs both ways.
    w.advance(100 * SEC);
    for n in [a, b] {
        let p = &w.peers(n)[0];
        assert!(p.established && p.established_count == 1, "{p:?}");
    }
}

#[test]
fn an_ipv4_block_announced_with_an_ipv6_next_hop_goes_to_rfc_8950_peers() {
    // A node with only an IPv6 address announces its IPv4 block with that address.
    let mut w = World::new();
    let mut ca = config(65000, "10.0.0.1", &[("fd00::2", 65000)]);
    let mut cb = config(65000, "10.0.0.2", &[("fd00::1", 65000)]);
    ca.peers[0].extended_next_hop = true;
    cb.peers[0].extended_next_hop = true;
    let a = w.add("fd00::1", ca);
    let b = w.add("fd00::2", cb);
    w.until(5 * SEC, "up", |w| w.established(b) == 1);
    let block: ipnet::IpNet = "172.17.9.0/24".parse().unwrap();
    let with_v6 = Announcement {
        next_hop: Some(ip("fd00::1")),
        ..Announcement::default()
    };
    w.router(a).announce(block, &with_v6).unwrap();
    w.drive();
    let routes = w.call(b, |r, _| r.best_routes());
    let got: Vec<_> = routes.iter().filter(|r| r.prefix == block).collect();
    assert_eq!(got.len(), 1, "{routes:?}");
    assert_eq!(got[0].next_hops, [ip("fd00::1")]);
    // An IPv6 block with an IPv4 next hop is still refused.
    let v4 = Announcement {
        next_hop: Some(ip("10.0.0.1")),
        ..Announcement::default()
    };
    assert!(
        w.router(a)
            .announce("2001:db8:9::/48".parse().unwrap(), &v4)
            .is_err()
    );
}

#[test]
fn a_reflector_sends_the_selected_paths_to_clients_that_take_several() {
    use bgp_core::router::PathSelection;
    let block: ipnet::IpNet = "172.30.0.0/24".parse().unwrap();
    // (what the reflector sends, whether the client receives, the reflector's ECMP width,
    // how many paths the client ends up with).
    let cases = [
        (Some(PathSelection::All), true, 1, 3),
        (Some(PathSelection::Best(2)), true, 1, 2),
        (Some(PathSelection::Ecmp), true, 1, 1),
        (Some(PathSelection::Ecmp), true, 3, 3),
        // Without the client announcing it can receive several, only the best goes.
        (Some(PathSelection::All), false, 1, 1),
        (None, true, 1, 1),
    ];
    for (send, receive, max_paths, want) in cases {
        let mut w = World::new();
        let sources = ["10.0.0.2", "10.0.0.3", "10.0.0.4"];
        let mut peers: Vec<(&str, u32)> = sources.iter().map(|s| (*s, 65000)).collect();
        peers.push(("10.0.0.9", 65000));
        let mut cr = config(65000, "10.0.0.1", &peers);
        cr.cluster_id = Some("10.0.0.1".parse().unwrap());
        cr.max_paths = max_paths;
        for p in &mut cr.peers {
            p.rr_client = true;
        }
        cr.peers[3].add_path.send = send;
        w.add("10.0.0.1", cr);
        for s in sources {
            let n = w.add(s, config(65000, s, &[("10.0.0.1", 65000)]));
            w.router(n)
                .announce(block, &Announcement::default())
                .unwrap();
        }
        let mut cc = config(65000, "10.0.0.9", &[("10.0.0.1", 65000)]);
        cc.peers[0].add_path.receive = receive;
        let c = w.add("10.0.0.9", cc);
        w.until(5 * SEC, "up", |w| w.established(c) == 1);
        w.drive();
        let label = format!("send {send:?}, receive {receive}, max paths {max_paths}");
        let paths: Vec<_> = w
            .router(c)
            .rib()
            .get(&block)
            .map(|d| d.paths().to_vec())
            .unwrap_or_default();
        assert_eq!(paths.len(), want, "{label}: {paths:?}");
        // Each path keeps its originator's next hop; their identifiers differ.
        let mut hops: Vec<_> = paths
            .iter()
            .filter_map(|p| bgp_core::rib::next_hop(p.attrs()))
            .collect();
        hops.sort();
        hops.dedup();
        assert_eq!(hops.len(), want, "{label}: {hops:?}");
        let mut ids: Vec<_> = paths.iter().map(|p| p.path_id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), want, "{label}");
        let st = &w.peers(c)[0];
        let v4 = st
            .capabilities
            .iter()
            .find(|c| c.family == "ipv4-unicast")
            .unwrap();
        let mode = match (send.is_some(), receive) {
            (true, true) => "receive",
            _ => "none",
        };
        assert_eq!(v4.add_path, mode, "{label}: the client's view");
    }
}

#[test]
fn the_best_n_paths_are_the_best_in_decision_order_whatever_their_arrival() {
    use bgp_core::router::PathSelection;
    let block: ipnet::IpNet = "172.30.0.0/24".parse().unwrap();
    let sources = ["10.0.0.2", "10.0.0.3", "10.0.0.4"];
    // Every order of three MEDs over the three sources (a local preference would make
    // the sources prefer the best reflected route over their own and withdraw theirs).
    let orders = [
        [300, 200, 100],
        [300, 100, 200],
        [200, 300, 100],
        [200, 100, 300],
        [100, 300, 200],
        [100, 200, 300],
    ];
    for prefs in orders {
        let mut w = World::new();
        let mut peers: Vec<(&str, u32)> = sources.iter().map(|s| (*s, 65000)).collect();
        peers.push(("10.0.0.9", 65000));
        let mut cr = config(65000, "10.0.0.1", &peers);
        cr.cluster_id = Some("10.0.0.1".parse().unwrap());
        for p in &mut cr.peers {
            p.rr_client = true;
        }
        cr.peers[3].add_path.send = Some(PathSelection::Best(2));
        w.add("10.0.0.1", cr);
        for (s, lp) in sources.iter().zip(prefs) {
            let n = w.add(s, config(65000, s, &[("10.0.0.1", 65000)]));
            let a = Announcement {
                med: Some(lp),
                ..Announcement::default()
            };
            w.router(n).announce(block, &a).unwrap();
        }
        let mut cc = config(65000, "10.0.0.9", &[("10.0.0.1", 65000)]);
        cc.peers[0].add_path.receive = true;
        let c = w.add("10.0.0.9", cc);
        w.until(5 * SEC, "up", |w| w.established(c) == 1);
        w.drive();
        let mut got: Vec<u32> = w
            .router(c)
            .rib()
            .get(&block)
            .map(|d| d.paths().iter().filter_map(|p| p.attrs().med).collect())
            .unwrap_or_default();
        got.sort();
        assert_eq!(got, [100, 200], "MEDs {prefs:?}");
    }
}

#[test]
fn long_lived_graceful_restart_keeps_depreferenced_routes_for_the_peers_that_take_them() {
    use bgp_core::wire::attributes::Community;
    let net = |s: &str| -> ipnet::IpNet { s.parse().unwrap() };
    let llgr = |p: &mut bgp_core::router::PeerSettings| {
        p.graceful_restart = Some(5);
        p.long_lived_stale_time = Some(60);
    };
    // R reflects between P (restarts), Q (a worse path to 172.17.1.0/24), C (takes
    // long-lived stale routes) and D (no graceful restart at all).
    let addrs = ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];
    let peers: Vec<(&str, u32)> = addrs.iter().map(|a| (*a, 65000)).collect();
    let mut cr = config(65000, "10.0.0.1", &peers);
    cr.cluster_id = Some("10.0.0.1".parse().unwrap());
    for p in &mut cr.peers[..3] {
        llgr(p);
    }
    for p in &mut cr.peers {
        p.rr_client = true;
    }
    let mut w = World::new();
    let r = w.add("10.0.0.1", cr);
    let mut nodes = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let mut c = config(65000, a, &[("10.0.0.1", 65000)]);
        if i < 3 {
            llgr(&mut c.peers[0]);
        }
        nodes.push((w.add(a, c.clone()), c));
    }
    let [(p, pcfg), (q, _), (c, _), (d, _)] = nodes.try_into().unwrap();
    w.until(5 * SEC, "up", |w| w.established(r) == 4);
    let announce = |w: &mut World, n: usize, prefix: &str, lp: u32, comm: Vec<Community>| {
        let a = Announcement {
            local_pref: Some(lp),
            communities: comm,
            ..Announcement::default()
        };
        w.router(n).announce(net(prefix), &a).unwrap();
    };
    announce(&mut w, p, "172.17.1.0/24", 100, vec![]);
    announce(&mut w, p, "172.17.2.0/24", 100, vec![Community::NO_LLGR]);
    announce(&mut w, p, "172.17.3.0/24", 100, vec![]);
    announce(&mut w, q, "172.17.1.0/24", 50, vec![]);
    w.drive();
    let best_from = |w: &mut World, n: usize, prefix: &str| {
        w.router(n)
            .rib()
            .get(&net(prefix))
            .and_then(|d| d.best().cloned())
            .map(|b| {
                let stale = b
                    .attrs()
                    .communities
                    .as_ref()
                    .is_some_and(|c| c.contains(&Community::LLGR_STALE));
                (
                    bgp_core::rib::next_hop(b.attrs()).unwrap().to_string(),
                    stale,
                )
            })
    };
    let from_p = Some(("10.0.0.2".to_string(), false));
    assert_eq!(best_from(&mut w, r, "172.17.1.0/24"), from_p);
    let caps = &w.peers(r)[0].capabilities;
    assert!(
        caps.iter().all(|c| c.long_lived_stale_time == Some(60)),
        "{caps:?}"
    );

    // P dies: for its restart time (5 s) its routes are stale, still preferred.
    w.crash(p);
    w.advance(4 * SEC);
    assert_eq!(best_from(&mut w, r, "172.17.1.0/24"), from_p);
    assert!(best_from(&mut w, d, "172.17.3.0/24").is_some());
    // Past it: long-lived stale. NO_LLGR routes go; the others carry LLGR_STALE, lose to
    // any other path, and leave the peers that do not take them.
    w.advance(2 * SEC);
    assert_eq!(best_from(&mut w, r, "172.17.2.0/24"), None);
    assert_eq!(
        best_from(&mut w, r, "172.17.1.0/24"),
        Some(("10.0.0.3".to_string(), false)),
        "Q's worse path wins over the long-lived stale one"
    );
    assert_eq!(
        best_from(&mut w, r, "172.17.3.0/24"),
        Some(("10.0.0.2".to_string(), true))
    );
    assert_eq!(
        best_from(&mut w, c, "172.17.3.0/24"),
        Some(("10.0.0.2".to_string(), true)),
        "reflected with LLGR_STALE to a peer that takes it"
    );
    assert_eq!(
        best_from(&mut w, d, "172.17.3.0/24"),
        None,
        "withdrawn from D"
    );
    assert_eq!(best_from(&mut w, d, "172.17.2.0/24"), None);
    assert_eq!(
        best_from(&mut w, d, "172.17.1.0/24"),
        Some(("10.0.0.3".to_string(), false))
    );

    // P comes back within its long-lived stale time and sends 172.17.1.0/24 only: after its
    // End-of-RIB the rest goes and what it sent is fresh again.
    w.advance(20 * SEC);
    w.restart(p, pcfg.clone());
    w.until(10 * SEC, "P back", |w| w.established(r) == 4);
    announce(&mut w, p, "172.17.1.0/24", 100, vec![]);
    w.advance(5 * SEC);
    assert_eq!(best_from(&mut w, r, "172.17.1.0/24"), from_p);
    assert_eq!(best_from(&mut w, r, "172.17.3.0/24"), None);
    assert_eq!(best_from(&mut w, c, "172.17.3.0/24"), None);

    // Down again with nothing new: after 5 + 60 s everything of P is gone, and no sooner.
    w.crash(p);
    w.advance(60 * SEC);
    assert_eq!(
        best_from(&mut w, r, "172.17.1.0/24"),
        Some(("10.0.0.3".to_string(), false))
    );
    let kept = w
        .router(r)
        .rib()
        .get(&net("172.17.1.0/24"))
        .map(|d| d.paths().len());
    assert_eq!(kept, Some(2), "P's long-lived stale path is still there");
    w.advance(6 * SEC);
    let kept = w
        .router(r)
        .rib()
        .get(&net("172.17.1.0/24"))
        .map(|d| d.paths().len());
    assert_eq!(
        kept,
        Some(1),
        "P's stale path went at the end of its stale time"
    );
}

#[test]
fn stale_routes_expire_whichever_connection_carried_them() {
    // The higher router ID's connection wins a collision (RFC 4271 6.8): at 10.0.0.1 the
    // session with 10.0.0.2 runs on the inbound connection, at 10.0.0.3 on the outbound.
    for (ours, theirs) in [("10.0.0.1", "10.0.0.2"), ("10.0.0.3", "10.0.0.2")] {
        let mut w = World::new();
        let mut cr = config(65000, ours, &[(theirs, 65000)]);
        cr.peers[0].graceful_restart = Some(5);
        let r = w.add(ours, cr);
        let mut cp = config(65000, theirs, &[(ours, 65000)]);
        cp.peers[0].graceful_restart = Some(5);
        let p = w.add(theirs, cp);
        w.until(5 * SEC, "up", |w| w.established(r) == 1);
        w.router(p)
            .announce("172.17.1.0/24".parse().unwrap(), &Announcement::default())
            .unwrap();
        w.drive();
        assert_eq!(w.learned(r), 1);
        w.crash(p);
        w.advance(4 * SEC);
        assert_eq!(w.learned(r), 1, "{ours}: kept for the restart time");
        w.advance(2 * SEC);
        assert_eq!(w.learned(r), 0, "{ours}: gone after the restart time");
    }
}

#[test]
fn long_lived_stale_without_a_restart_time_starts_at_once_and_needs_both_sides() {
    use bgp_core::wire::attributes::Community;
    let block: ipnet::IpNet = "172.17.1.0/24".parse().unwrap();
    // (ours, theirs): long-lived stale times configured on each side.
    for (ours, theirs, kept) in [
        (Some(30), Some(30), true),
        (Some(30), None, false),
        (None, Some(30), false),
    ] {
        let mut w = World::new();
        let mut cr = config(65000, "10.0.0.3", &[("10.0.0.2", 65000)]);
        cr.peers[0].long_lived_stale_time = ours;
        let r = w.add("10.0.0.3", cr);
        let mut cp = config(65000, "10.0.0.2", &[("10.0.0.3", 65000)]);
        cp.peers[0].long_lived_stale_time = theirs;
        let p = w.add("10.0.0.2", cp);
        w.until(5 * SEC, "up", |w| w.established(r) == 1);
        w.router(p)
            .announce(block, &Announcement::default())
            .unwrap();
        w.drive();
        w.crash(p);
        w.advance(SEC);
        let stale = w
            .router(r)
            .rib()
            .get(&block)
            .and_then(|d| d.best().cloned())
            .map(|b| {
                b.attrs()
                    .communities
                    .as_ref()
                    .is_some_and(|c| c.contains(&Community::LLGR_STALE))
            });
        let label = format!("ours {ours:?}, theirs {theirs:?}");
        if kept {
            assert_eq!(stale, Some(true), "{label}");
            w.advance(28 * SEC);
            assert_eq!(w.learned(r), 1, "{label}: kept for the stale time");
            w.advance(2 * SEC);
        }
        assert_eq!(w.learned(r), 0, "{label}");
    }
}

#[test]
fn route_flap_damping_suppresses_a_flapping_ebgp_route_until_its_merit_decays() {
    use bgp_core::router::DampingConfig;
    let flappy: ipnet::IpNet = "172.18.1.0/24".parse().unwrap();
    let steady: ipnet::IpNet = "172.18.2.0/24".parse().unwrap();
    const MIN: Duration = Duration::from_secs(60);
    // (flaps, minutes until reuse after the last): 7 withdrawals give a merit of about
    // 6,950 (suppressed past 6,000), which takes 48.2 minutes to decay to 750; 20 reach the
    // ceiling, 750 x 2^(60/15) = 12,000: exactly the maximum suppress time, 60 minutes.
    for (flaps, reuse_min) in [(7u32, 48u32), (20, 60)] {
        let mut w = World::new();
        let mut cr = config(
            65001,
            "10.0.0.1",
            &[("10.0.0.2", 65002), ("10.0.0.3", 65001)],
        );
        cr.ebgp_without_policy = true;
        cr.peers[0].damping = Some(DampingConfig::default());
        // Damping applies to external peers only: set on the internal one, it does nothing.
        cr.peers[1].damping = Some(DampingConfig::default());
        let r = w.add("10.0.0.1", cr);
        let mut ce = config(65002, "10.0.0.2", &[("10.0.0.1", 65001)]);
        ce.ebgp_without_policy = true;
        let e = w.add("10.0.0.2", ce);
        let c = w.add(
            "10.0.0.3",
            config(65001, "10.0.0.3", &[("10.0.0.1", 65001)]),
        );
        w.until(5 * SEC, "up", |w| w.established(r) == 2);
        for p in [flappy, steady] {
            w.router(e).announce(p, &Announcement::default()).unwrap();
        }
        w.drive();
        let has = |w: &mut World, n: usize, p: &ipnet::IpNet| {
            w.router(n).rib().get(p).is_some_and(|d| d.best().is_some())
        };
        for _ in 0..flaps {
            w.router(e).withdraw(flappy);
            w.advance(SEC);
            w.router(e)
                .announce(flappy, &Announcement::default())
                .unwrap();
            w.advance(SEC);
        }
        let label = format!("{flaps} flaps");
        assert!(!has(&mut w, r, &flappy), "{label}: suppressed");
        assert!(!has(&mut w, c, &flappy), "{label}: so not sent on");
        assert!(
            has(&mut w, r, &steady) && has(&mut w, c, &steady),
            "{label}"
        );
        assert_eq!(w.peers(r)[0].suppressed, 1, "{label}");
        w.advance((reuse_min - 1) * MIN);
        assert!(!has(&mut w, r, &flappy), "{label}: still suppressed");
        w.advance(2 * MIN);
        assert!(has(&mut w, r, &flappy), "{label}: reused");
        assert!(has(&mut w, c, &flappy), "{label}: and sent on");
        assert_eq!(w.peers(r)[0].suppressed, 0, "{label}");
    }
}

#[test]
fn an_internal_peers_flaps_are_not_damped_and_a_withdrawn_suppressed_route_stays_away() {
    use bgp_core::router::DampingConfig;
    let p: ipnet::IpNet = "172.18.1.0/24".parse().unwrap();
    let mut w = World::new();
    let mut cr = config(
        65001,
        "10.0.0.1",
        &[("10.0.0.2", 65002), ("10.0.0.3", 65001)],
    );
    cr.ebgp_without_policy = true;
    for peer in &mut cr.peers {
        peer.damping = Some(DampingConfig::default());
    }
    let r = w.add("10.0.0.1", cr);
    let mut ce = config(65002, "10.0.0.2", &[("10.0.0.1", 65001)]);
    ce.ebgp_without_policy = true;
    let e = w.add("10.0.0.2", ce);
    let i = w.add(
        "10.0.0.3",
        config(65001, "10.0.0.3", &[("10.0.0.1", 65001)]),
    );
    w.until(5 * SEC, "up", |w| w.established(r) == 2);
    for n in [e, i] {
        w.router(n).announce(p, &Announcement::default()).unwrap();
        w.drive();
        for _ in 0..10 {
            w.router(n).withdraw(p);
            w.advance(SEC);
            w.router(n).announce(p, &Announcement::default()).unwrap();
            w.advance(SEC);
        }
    }
    let from = |w: &mut World| -> Vec<String> {
        let mut v: Vec<String> = w
            .router(r)
            .rib()
            .get(&p)
            .map(|d| {
                d.paths()
                    .iter()
                    .filter_map(|x| bgp_core::rib::next_hop(x.attrs()))
                    .map(|a| a.to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(
        from(&mut w),
        ["10.0.0.3"],
        "the internal peer's route is there"
    );
    // The external one, suppressed, is withdrawn for good: at its reuse nothing comes back.
    w.router(e).withdraw(p);
    w.advance(2 * 60 * SEC * 60);
    assert_eq!(from(&mut w), ["10.0.0.3"]);
    assert_eq!(w.peers(r)[0].suppressed, 0);
}

#[test]
fn a_link_local_session_carries_both_families_and_its_next_hops_stay_on_the_link() {
    // a and b peer over link-local addresses (an unnumbered link); b also has an iBGP
    // client c over global addresses.
    let mut w = World::new();
    let mut ca = config(65001, "10.0.0.1", &[("fe80::2", 65000)]);
    let mut cb = config(65000, "10.0.0.2", &[("fe80::1", 65001), ("fd00::3", 65000)]);
    let mut cc = config(65000, "10.0.0.3", &[("fd00::2", 65000)]);
    ca.peers[0].interface = Some("eth1".into());
    cb.peers[0].interface = Some("eth1".into());
    for c in [&mut ca, &mut cb, &mut cc] {
        for p in &mut c.peers {
            p.extended_next_hop = true;
        }
        c.ebgp_without_policy = true;
    }
    let a = w.add("fe80::1", ca);
    let b = w.add("fe80::2", cb);
    w.alias(b, "fd00::2");
    let c = w.add("fd00::3", cc);
    w.until(5 * SEC, "up", |w| w.established(b) == 2);
    for p in ["172.17.1.0/24", "2001:db8:1::/48"] {
        w.router(a)
            .announce(p.parse().unwrap(), &Announcement::default())
            .unwrap();
    }
    w.drive();
    let at_b = w.call(b, |r, _| r.best_routes());
    assert_eq!(at_b.len(), 2, "{at_b:?}");
    for r in &at_b {
        assert_eq!(r.next_hops, [ip("fe80::1")], "{r:?}");
    }
    // Passed on over iBGP, where the next hop would stay as it is, a link-local one
    // becomes b's own address on that session.
    let at_c = w.call(c, |r, _| r.best_routes());
    assert_eq!(at_c.len(), 2, "{at_c:?}");
    for r in &at_c {
        assert_eq!(r.next_hops, [ip("fd00::2")], "{r:?}");
    }
    let peers = w.peers(b);
    let st = peers.iter().find(|p| p.address == ip("fe80::1")).unwrap();
    assert_eq!(st.interface.as_deref(), Some("eth1"));
    assert!(st.established);
}

#[test]
fn a_route_ages_from_its_last_change() {
    let mut w = World::new();
    let a = w.add(
        "10.0.0.1",
        config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]),
    );
    let b = w.add(
        "10.0.0.2",
        config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "up", |w| w.established(b) == 1);
    let p: ipnet::IpNet = "172.17.1.0/24".parse().unwrap();
    w.router(a).announce(p, &via("10.0.0.1")).unwrap();
    w.drive();
    assert_eq!(w.call(b, |r, now| r.route_age(now, &p)), Some(0));
    w.advance(30 * SEC);
    assert_eq!(w.call(b, |r, now| r.route_age(now, &p)), Some(30));
    // A changed path starts it again; the unchanged prefix elsewhere ages on.
    let mut changed = via("10.0.0.1");
    changed.local_pref = Some(200);
    // Calls without a time are dated by the router's last input: give it one.
    w.call(a, |r, now| {
        r.handle_timeout(now);
        r.announce(p, &changed).unwrap()
    });
    w.drive();
    w.advance(5 * SEC);
    assert_eq!(w.call(b, |r, now| r.route_age(now, &p)), Some(5));
    assert_eq!(w.call(a, |r, now| r.route_age(now, &p)), Some(5));
    assert_eq!(
        w.call(b, |r, now| r
            .route_age(now, &"10.9.0.0/24".parse().unwrap())),
        None
    );
}
