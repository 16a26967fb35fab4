//! Peers that fall behind, flush intervals and what the timers hold.

use super::*;

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
    // What F costs R once it has overflowed: the window in flight, nothing queued (the
    // flushes it had queued were dropped: its re-synchronization supersedes them).
    let held = w.nodes[r].router.peer_backlog(ip("10.0.0.3")).unwrap();
    assert!(held <= bgp_core::router::WINDOW, "F holds {held} messages");
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
fn members_all_behind_alike_are_not_dropped_for_it() {
    // A whole table arriving at once is flushed in one go, far past the queue depth of
    // every member of the group alike: the flushes wait, nobody is re-synchronized.
    let mut cr = config(
        65000,
        "10.0.0.1",
        &[
            ("10.0.0.2", 65000),
            ("10.0.0.3", 65000),
            ("10.0.0.4", 65000),
        ],
    );
    cr.peer_queue_depth = 32;
    let mut w = World::new();
    let r = w.add("10.0.0.1", cr);
    let peers: Vec<usize> = (2..=4)
        .map(|i| {
            let a = format!("10.0.0.{i}");
            w.add(&a, config(65000, &a, &[("10.0.0.1", 65000)]))
        })
        .collect();
    w.until(5 * SEC, "R has its peers", |w| w.established(r) == 3);
    let links: Vec<_> = peers
        .iter()
        .map(|&p| (world::Who::Router(r), world::Who::Router(p)))
        .collect();
    w.stall_all(&links, true);
    announce_many(&mut w, r, 3000);
    // Past the backlog budget, nothing is due until the peers write or the next look for
    // laggards: the owner is not woken at once over and over.
    for _ in 0..3 {
        w.drive();
        let next = w.nodes[r].router.poll_timeout();
        assert!(next.is_none_or(|t| t > w.now), "{next:?} is due at once");
        w.advance(Duration::from_millis(20));
    }
    w.stall_all(&links, false);
    w.advance(SEC);
    for &p in &peers {
        assert_eq!(w.learned(p), 3000);
    }
    let overflows = w.count_events(r, |e| matches!(e, Event::QueueOverflow { .. }));
    assert_eq!(overflows, 0, "peers behind alike were re-synchronized");
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
