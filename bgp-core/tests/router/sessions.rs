//! Sessions and peers: routes exchanged, prefix limits, timers, run-time changes, policies, resets.

use super::*;

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
