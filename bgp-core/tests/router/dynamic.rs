//! Peers accepted from address ranges.

use super::*;

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
