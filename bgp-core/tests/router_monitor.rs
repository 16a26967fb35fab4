//! What the router reports for monitoring (BMP), on a virtual clock: Peer Up with both
//! OPENs, each UPDATE as received, the routes it left after the import policy, best-route
//! changes as the Loc-RIB, Peer Down with its NOTIFICATION, and the snapshot a station
//! that connects late is given. Off, nothing at all.

mod world;

use std::sync::Arc;
use std::time::Duration;

use bgp_core::bmp::{BmpMessage, PeerDownReason, Stat, peer_flags, peer_type, stat_type};
use bgp_core::policy::Policy;
use bgp_core::router::{Announcement, Monitoring};
use bgp_core::wire::{Context, Message};
use ipnet::IpNet;
use world::{World, config, prefixes};

const SEC: Duration = Duration::from_secs(1);
const ALL: Monitoring = Monitoring {
    pre_policy: true,
    post_policy: true,
    loc_rib: true,
    adj_rib_out: true,
};

/// A (10.0.0.1) and B (10.0.0.2), iBGP; B monitored with `m` from the start; B rejects
/// 10.9.0.0/16 and longer from A when `filter`.
fn pair(m: Monitoring, filter: bool) -> World {
    let mut w = World::new();
    w.add(
        "10.0.0.1",
        config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]),
    );
    let mut b = config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]);
    if filter {
        b.peers[0].import = Some(Arc::new(reject_10_9()));
    }
    w.add("10.0.0.2", b);
    w.router(1).set_monitoring(m);
    w.until(5 * SEC, "both established", |w| {
        w.established(0) == 1 && w.established(1) == 1
    });
    w
}

fn reject_10_9() -> Policy {
    use bgp_core::policy::{Match, PrefixRange, Term, Verdict};
    Policy {
        terms: vec![Term {
            name: "no-10-9".into(),
            matches: vec![Match::Prefix(vec![PrefixRange::orlonger(
                "10.9.0.0/16".parse().unwrap(),
                32,
            )])],
            actions: Vec::new(),
            verdict: Some(Verdict::Reject),
        }],
        ..Policy::accept_all()
    }
}

fn via(nh: &str) -> Announcement {
    Announcement {
        next_hop: Some(nh.parse().unwrap()),
        ..Announcement::default()
    }
}

/// The route monitoring messages of a kind: (announced, withdrawn) prefixes of each.
fn routes(ms: &[BmpMessage], kind: u8, flags: u8) -> (Vec<IpNet>, Vec<IpNet>) {
    let (mut a, mut wd) = (Vec::new(), Vec::new());
    for m in ms {
        let BmpMessage::RouteMonitoring { peer, update } = m else {
            continue;
        };
        if peer.peer_type != kind || peer.flags & !peer_flags::V != flags {
            continue;
        }
        let Ok(Message::Update(u)) = Message::decode(update, &Context::default()) else {
            panic!("not an UPDATE: {update:?}");
        };
        a.extend(u.announced().flat_map(|(_, p)| p.iter().map(|e| e.prefix)));
        wd.extend(
            u.withdrawals()
                .flat_map(|(_, p)| p.iter().map(|e| e.prefix)),
        );
    }
    a.sort();
    wd.sort();
    (a, wd)
}

fn open_of(b: &bytes::Bytes) -> bgp_core::wire::Open {
    match Message::decode(b, &Context::default()) {
        Ok(Message::Open(o)) => o,
        other => panic!("not an OPEN: {other:?}"),
    }
}

#[test]
fn sessions_updates_and_best_routes_are_reported() {
    let mut w = pair(ALL, false);
    let ups: Vec<_> = w.nodes[1]
        .monitor
        .iter()
        .filter_map(|m| match m {
            BmpMessage::PeerUp(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ups.len(), 1);
    let up = &ups[0];
    assert_eq!(
        up.peer.address,
        "10.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(up.peer.asn, 65000);
    assert_eq!(up.peer.bgp_id.to_string(), "10.0.0.1");
    assert_eq!(up.local_address.to_string(), "10.0.0.2");
    assert_ne!(up.remote_port, 0);
    assert_eq!(open_of(&up.sent_open).bgp_id.to_string(), "10.0.0.2");
    assert_eq!(open_of(&up.received_open).bgp_id.to_string(), "10.0.0.1");

    w.nodes[1].monitor.clear();
    for p in prefixes(1, 3) {
        w.router(0).announce(p, &via("10.0.0.1")).unwrap();
    }
    w.drive();
    let m = &w.nodes[1].monitor;
    let want = prefixes(1, 3);
    assert_eq!(routes(m, peer_type::GLOBAL, 0).0, want, "pre-policy");
    assert_eq!(
        routes(m, peer_type::GLOBAL, peer_flags::L).0,
        want,
        "post-policy"
    );
    assert_eq!(routes(m, peer_type::LOC_RIB, 0).0, want, "Loc-RIB");
    let stats = w.router(1).monitor_statistics();
    let gauge = |kind: u8, stat: u16| {
        stats.iter().find_map(|m| match m {
            BmpMessage::StatisticsReport { peer, stats } if peer.peer_type == kind => {
                stats.iter().find_map(|s| match s {
                    Stat::Gauge(k, v) if *k == stat => Some(*v),
                    _ => None,
                })
            }
            _ => None,
        })
    };
    assert_eq!(gauge(peer_type::GLOBAL, stat_type::ADJ_RIB_IN), Some(3));
    assert_eq!(
        gauge(peer_type::GLOBAL, stat_type::ADJ_RIB_OUT_POST),
        Some(0)
    );
    assert_eq!(gauge(peer_type::LOC_RIB, stat_type::LOC_RIB), Some(3));

    w.nodes[1].monitor.clear();
    w.router(0).withdraw(want[0]);
    w.drive();
    let m = &w.nodes[1].monitor;
    assert_eq!(routes(m, peer_type::GLOBAL, 0).1, [want[0]]);
    assert_eq!(routes(m, peer_type::GLOBAL, peer_flags::L).1, [want[0]]);
    assert_eq!(routes(m, peer_type::LOC_RIB, 0).1, [want[0]]);

    // What B sends A (its own route) is its Adj-RIB-Out, post-policy (RFC 8671).
    w.nodes[1].monitor.clear();
    let own: IpNet = "10.2.0.0/24".parse().unwrap();
    w.router(1).announce(own, &via("10.0.0.2")).unwrap();
    w.drive();
    let out = peer_flags::O | peer_flags::L;
    assert_eq!(routes(&w.nodes[1].monitor, peer_type::GLOBAL, out).0, [own]);
    assert!(
        routes(&w.nodes[1].monitor, peer_type::GLOBAL, 0)
            .0
            .is_empty()
    );
    assert_eq!(
        routes(&w.router(1).monitor_snapshot(), peer_type::GLOBAL, out).0,
        [own]
    );
    w.router(1).withdraw(own);
    w.drive();

    // A station connecting now is told of the session and the two routes left, both in
    // the peer's table (post-policy) and as best routes.
    let snap = w.router(1).monitor_snapshot();
    assert!(matches!(&snap[0], BmpMessage::PeerUp(u) if u.peer.address == up.peer.address));
    assert_eq!(routes(&snap, peer_type::GLOBAL, peer_flags::L).0, want[1..]);
    assert_eq!(routes(&snap, peer_type::LOC_RIB, 0).0, want[1..]);
    assert!(
        snap.iter()
            .any(|m| matches!(m, BmpMessage::PeerUp(u) if u.peer.peer_type == peer_type::LOC_RIB))
    );

    // A shuts the session down: B reports the NOTIFICATION it received.
    w.nodes[1].monitor.clear();
    let now = w.now;
    w.router(0)
        .shutdown_peer(now, "10.0.0.2".parse().unwrap(), "maintenance")
        .unwrap();
    w.drive();
    let downs: Vec<_> = w.nodes[1]
        .monitor
        .iter()
        .filter_map(|m| match m {
            BmpMessage::PeerDown { peer, reason } => Some((peer.address, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(downs.len(), 1, "{downs:?}");
    let PeerDownReason::RemoteNotification(n) = &downs[0].1 else {
        panic!("{downs:?}");
    };
    assert_eq!(n[18], 3, "a NOTIFICATION");
    assert_eq!((n[19], n[20]), (6, 2), "Cease / Administrative Shutdown");
    assert!(w.router(1).monitor_snapshot().iter().all(|m| !matches!(
        m,
        BmpMessage::PeerUp(u) if u.peer.peer_type == peer_type::GLOBAL
    )));
}

#[test]
fn a_filtered_route_is_seen_before_the_policy_and_withdrawn_after() {
    let mut w = pair(ALL, true);
    w.nodes[1].monitor.clear();
    let ok: IpNet = "10.1.0.0/24".parse().unwrap();
    let filtered: IpNet = "10.9.1.0/24".parse().unwrap();
    for p in [ok, filtered] {
        w.router(0).announce(p, &via("10.0.0.1")).unwrap();
    }
    w.drive();
    let m = &w.nodes[1].monitor;
    assert_eq!(routes(m, peer_type::GLOBAL, 0).0, [ok, filtered]);
    assert_eq!(
        routes(m, peer_type::GLOBAL, peer_flags::L),
        (vec![ok], vec![filtered])
    );
    assert_eq!(routes(m, peer_type::LOC_RIB, 0).0, [ok]);
}

#[test]
fn only_what_is_asked_for_comes_out_and_nothing_when_off() {
    let mut w = pair(Monitoring::default(), false);
    for p in prefixes(1, 3) {
        w.router(0).announce(p, &via("10.0.0.1")).unwrap();
    }
    w.drive();
    assert!(w.nodes[1].monitor.is_empty());
    assert!(w.router(1).monitor_snapshot().is_empty());

    let mut w = pair(
        Monitoring {
            pre_policy: true,
            ..Monitoring::default()
        },
        false,
    );
    for p in prefixes(1, 3) {
        w.router(0).announce(p, &via("10.0.0.1")).unwrap();
    }
    w.drive();
    let m = &w.nodes[1].monitor;
    assert_eq!(routes(m, peer_type::GLOBAL, 0).0, prefixes(1, 3));
    assert!(routes(m, peer_type::GLOBAL, peer_flags::L).0.is_empty());
    assert!(routes(m, peer_type::LOC_RIB, 0).0.is_empty());
}

#[test]
fn a_table_dump_reads_back_with_every_path_and_its_peer() {
    use bgp_core::mrt::{MrtReader, RecordBody, rib_context};
    use bgp_core::wire::PathAttributes;
    let mut w = pair(Monitoring::default(), false);
    for p in prefixes(1, 2) {
        w.router(0).announce(p, &via("10.0.0.1")).unwrap();
    }
    let own: IpNet = "10.2.0.0/24".parse().unwrap();
    w.router(1).announce(own, &via("10.0.0.2")).unwrap();
    w.drive();
    w.advance(5 * SEC);
    let now = w.now;
    let records = w.router(1).table_dump(now, 1_800_000_000);
    let mut bytes = bytes::BytesMut::new();
    for r in &records {
        r.encode(&mut bytes);
    }
    let back: Vec<_> = MrtReader::new(bytes.freeze()).map(Result::unwrap).collect();
    assert_eq!(back, records);
    let RecordBody::PeerIndexTable(t) = &back[0].body else {
        panic!("{:?}", back[0]);
    };
    assert_eq!(t.collector_id.to_string(), "10.0.0.2");
    assert_eq!(t.peers[1].ip.to_string(), "10.0.0.1");
    let mut seen = Vec::new();
    for r in &back[1..] {
        let RecordBody::Rib(rib) = &r.body else {
            panic!("{r:?}");
        };
        assert_eq!(r.subtype, 2, "IPv4 unicast, no ADD-PATH");
        let e = &rib.entries[0];
        let (attrs, errors) = PathAttributes::decode_block(&e.attributes, &rib_context()).unwrap();
        assert!(errors.is_empty());
        let from = &t.peers[usize::from(e.peer_index)];
        let nh = attrs.next_hop.map(|a| a.to_string());
        seen.push((rib.prefix.unwrap(), from.ip.to_string(), nh));
        // Learned 5 s or more ago: the session came up before.
        if e.peer_index == 1 {
            assert!(e.originated <= 1_800_000_000 - 5, "{}", e.originated);
        }
    }
    seen.sort();
    let p = prefixes(1, 2);
    let a = |s: &str| Some(s.to_string());
    assert_eq!(
        seen,
        [
            (p[0], "10.0.0.1".to_string(), a("10.0.0.1")),
            (p[1], "10.0.0.1".to_string(), a("10.0.0.1")),
            (own, "0.0.0.0".to_string(), a("10.0.0.2")),
        ]
    );
}
