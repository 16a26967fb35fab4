//! Graceful restart and long-lived graceful restart, in both roles, and the deferral after a restart.

use super::*;

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
