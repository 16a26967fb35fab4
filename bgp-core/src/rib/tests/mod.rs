//! The RIB's unit tests: the decision process one tie-breaker at a time (`decision`), then
//! reflection, eBGP rules, update groups and compact storage here.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use super::path::Paths;
use super::*;
use crate::Afi;
use crate::policy::{Action, Match, Policy, PrefixRange, Term, Verdict};
use crate::wire::attributes::{AsPath, ClusterList, Community, Origin};
use crate::wire::{Context, Message, Prefixes, Update};

mod decision;
mod tables;

use decision::attrs;

// ---- the RIB: reflection, eBGP rules, groups ----

const CLUSTER: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn reflector() -> Rib {
    let mut cfg = RibConfig::new(65000, Ipv4Addr::new(192, 168, 100, 1));
    cfg.cluster_id = Some(CLUSTER);
    Rib::new(cfg)
}

fn session(id: [u8; 4]) -> PeerSession {
    PeerSession {
        router_id: Ipv4Addr::from(id),
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        four_octet_as: true,
        add_path_send: FamilySet::EMPTY,
        extended_message: false,
        extended_next_hop: false,
        long_lived: false,
    }
}

fn client(rib: &mut Rib, addr: &str, id: [u8; 4]) -> PeerId {
    let mut c = PeerConfig::internal(ip(addr), 65000);
    c.rr_client = true;
    c.local_v4 = Some(Ipv4Addr::new(192, 168, 100, 1));
    let p = rib.add_peer(c);
    rib.peer_up(p, session(id)).unwrap();
    p
}

fn pod_block(prefix: &str, nh: [u8; 4]) -> Update {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        next_hop: Some(Ipv4Addr::from(nh)),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    Update::new(
        Prefixes::empty(Afi::IPV4, false),
        attrs,
        Prefixes::from_entries(Afi::IPV4, false, [net(prefix)]).unwrap(),
    )
}

/// The UPDATEs `peer` receives in `msgs`, decoded.
/// Encoded UPDATEs a peer receives: from a flush, or a batch meant for it alone.
trait Sent {
    fn sent_to(&self, peer: PeerId) -> Vec<&Encoded>;
}

impl Sent for Flush {
    fn sent_to(&self, peer: PeerId) -> Vec<&Encoded> {
        self.to(peer).collect()
    }
}

impl Sent for Batch {
    fn sent_to(&self, _: PeerId) -> Vec<&Encoded> {
        self.iter().collect()
    }
}

fn received(msgs: &impl Sent, peer: PeerId) -> Vec<Update> {
    let ctx = Context {
        extended_message: true,
        ..Context::default()
    };
    msgs.sent_to(peer)
        .into_iter()
        .map(|m| match Message::decode(&m.bytes, &ctx).unwrap() {
            Message::Update(u) => *u,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn announced(us: &[Update]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = us
        .iter()
        .flat_map(|u| {
            u.announced()
                .flat_map(|(_, b)| b.iter().map(|e| e.prefix))
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

fn withdrawn(us: &[Update]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = us
        .iter()
        .flat_map(|u| {
            u.withdrawals()
                .flat_map(|(_, b)| b.iter().map(|e| e.prefix))
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn reflection_between_clients_and_non_clients() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    let mut ncfg = PeerConfig::internal(ip("192.168.100.2"), 65000);
    ncfg.local_v4 = Some(Ipv4Addr::new(192, 168, 100, 1));
    let n1 = rib.add_peer(ncfg.clone());
    rib.peer_up(n1, session([192, 168, 100, 2])).unwrap();
    ncfg.address = ip("192.168.100.3");
    let n2 = rib.add_peer(ncfg);
    rib.peer_up(n2, session([192, 168, 100, 3])).unwrap();
    assert_eq!(
        rib.group_count(),
        2,
        "clients share one group, non-clients another"
    );

    let now = Instant::now();
    let ch = rib
        .apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    assert_eq!(ch.best.len(), 1);
    let msgs = rib.flush_all(now);
    // To the other client and to the non-clients, not back to c1.
    assert!(received(&msgs, c1).is_empty());
    for p in [c2, n1, n2] {
        let us = received(&msgs, p);
        assert_eq!(announced(&us), vec![net("172.17.8.0/24")], "peer {p}");
        let a = &us[0].attributes;
        assert_eq!(a.originator_id, Some(Ipv4Addr::new(192, 168, 100, 101)));
        assert_eq!(
            a.cluster_list.as_ref().unwrap().iter().collect::<Vec<_>>(),
            vec![CLUSTER]
        );
        assert_eq!(
            a.next_hop,
            Some(Ipv4Addr::new(192, 168, 100, 101)),
            "next hop unchanged"
        );
    }
    // From a non-client: to clients only.
    rib.apply_update(n1, &pod_block("172.18.0.0/24", [192, 168, 100, 2]))
        .unwrap();
    let msgs = rib.flush_all(now);
    assert_eq!(announced(&received(&msgs, c1)), vec![net("172.18.0.0/24")]);
    assert_eq!(announced(&received(&msgs, c2)), vec![net("172.18.0.0/24")]);
    assert!(
        received(&msgs, n2).is_empty(),
        "non-client to non-client is not reflected"
    );
    assert!(received(&msgs, n1).is_empty());
    // Withdrawn by c1: withdrawn everywhere it was sent.
    let mut w = pod_block("172.17.8.0/24", [192, 168, 100, 101]);
    w.withdrawn = std::mem::replace(&mut w.nlri, Prefixes::empty(Afi::IPV4, false));
    w.attributes = PathAttributes::default();
    rib.apply_update(c1, &w).unwrap();
    let msgs = rib.flush_all(now);
    for p in [c2, n1, n2] {
        assert_eq!(withdrawn(&received(&msgs, p)), vec![net("172.17.8.0/24")]);
    }
    assert!(received(&msgs, c1).is_empty());
}

#[test]
fn client_to_client_reflection_can_be_off() {
    let mut cfg = RibConfig::new(65000, Ipv4Addr::new(192, 168, 100, 1));
    cfg.cluster_id = Some(CLUSTER);
    cfg.client_to_client = false;
    let mut rib = Rib::new(cfg);
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    let n1 = rib.add_peer(PeerConfig::internal(ip("192.168.100.2"), 65000));
    rib.peer_up(n1, session([192, 168, 100, 2])).unwrap();
    rib.apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    let msgs = rib.flush_all(Instant::now());
    assert!(received(&msgs, c2).is_empty());
    assert_eq!(received(&msgs, n1).len(), 1);
}

#[test]
fn reflection_loops_are_dropped() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    // Our cluster ID in CLUSTER_LIST (e.g. reflected by the other reflector of this
    // cluster): dropped.
    let mut u = pod_block("172.17.8.0/24", [192, 168, 100, 101]);
    u.attributes.cluster_list = Some(ClusterList::from_iter([
        Ipv4Addr::new(10, 9, 9, 9),
        CLUSTER,
    ]));
    let ch = rib.apply_update(c1, &u).unwrap();
    assert!(ch.is_empty());
    assert!(rib.get(&net("172.17.8.0/24")).is_none());
    // Our router ID as ORIGINATOR_ID: dropped.
    let mut u = pod_block("172.17.9.0/24", [192, 168, 100, 101]);
    u.attributes.originator_id = Some(Ipv4Addr::new(192, 168, 100, 1));
    assert!(rib.apply_update(c1, &u).unwrap().is_empty());
    // Our AS in the path (not from ourselves: an eBGP loop): dropped unless allowed.
    let mut e = PeerConfig::external(ip("10.0.0.2"), 65001);
    e.import = Some(Arc::new(Policy::accept_all()));
    let ext = rib.add_peer(e);
    rib.peer_up(ext, session([10, 0, 0, 2])).unwrap();
    let mut u = pod_block("172.20.0.0/24", [10, 0, 0, 2]);
    u.attributes.local_pref = None;
    u.attributes.as_path = Some(AsPath::from_sequence(&[65001, 65000]));
    assert!(rib.apply_update(ext, &u).unwrap().is_empty());
}

#[test]
fn two_reflectors_of_one_cluster_and_a_higher_tier() {
    // RR-A and RR-B serve the same cluster; client c1 peers with both. RR-A reflects c1's
    // route to RR-B (a non-client iBGP peer of A): B drops it (its cluster ID is in the
    // list) and keeps the copy it learned from c1 directly.
    let mut a = reflector();
    let mut b = reflector();
    let c1a = client(&mut a, "192.168.100.101", [192, 168, 100, 101]);
    let c1b = client(&mut b, "192.168.100.101", [192, 168, 100, 101]);
    let b_in_a = a.add_peer(PeerConfig::internal(ip("192.168.100.2"), 65000));
    a.peer_up(b_in_a, session([192, 168, 100, 2])).unwrap();
    let a_in_b = b.add_peer(PeerConfig::internal(ip("192.168.100.1"), 65000));
    b.peer_up(a_in_b, session([192, 168, 100, 1])).unwrap();
    let u = pod_block("172.17.8.0/24", [192, 168, 100, 101]);
    a.apply_update(c1a, &u).unwrap();
    b.apply_update(c1b, &u).unwrap();
    let from_a = received(&a.flush_all(Instant::now()), b_in_a);
    assert_eq!(from_a.len(), 1);
    let ch = b.apply_update(a_in_b, &from_a[0]).unwrap();
    assert!(ch.is_empty());
    let dest = b.get(&net("172.17.8.0/24")).unwrap();
    assert_eq!(dest.paths().len(), 1, "the reflected copy was dropped");
    assert_eq!(dest.best().unwrap().peer(), c1b);

    // A reflector that is a client of a higher tier: routes from the tier (a non-client)
    // go to its own clients; its clients' routes go up with its cluster ID prepended.
    let mut low = reflector();
    let up_peer = low.add_peer(PeerConfig::internal(ip("192.168.0.1"), 65000));
    low.peer_up(up_peer, session([192, 168, 0, 1])).unwrap();
    let c = client(&mut low, "192.168.100.101", [192, 168, 100, 101]);
    let mut from_top = pod_block("172.30.0.0/24", [192, 168, 50, 5]);
    from_top.attributes.cluster_list =
        Some(ClusterList::from_iter([Ipv4Addr::new(192, 168, 0, 1)]));
    from_top.attributes.originator_id = Some(Ipv4Addr::new(192, 168, 50, 5));
    low.apply_update(up_peer, &from_top).unwrap();
    low.apply_update(c, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    let msgs = low.flush_all(Instant::now());
    let to_client = received(&msgs, c);
    assert_eq!(announced(&to_client), vec![net("172.30.0.0/24")]);
    assert_eq!(
        to_client[0]
            .attributes
            .cluster_list
            .as_ref()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec![CLUSTER, Ipv4Addr::new(192, 168, 0, 1)]
    );
    assert_eq!(
        to_client[0].attributes.originator_id,
        Some(Ipv4Addr::new(192, 168, 50, 5))
    );
    assert_eq!(
        announced(&received(&msgs, up_peer)),
        vec![net("172.17.8.0/24")]
    );
}

#[test]
fn ibgp_routes_are_not_passed_between_ibgp_peers_without_reflection() {
    let mut rib = Rib::new(RibConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1)));
    let p1 = rib.add_peer(PeerConfig::internal(ip("10.0.0.2"), 65000));
    let p2 = rib.add_peer(PeerConfig::internal(ip("10.0.0.3"), 65000));
    rib.peer_up(p1, session([10, 0, 0, 2])).unwrap();
    rib.peer_up(p2, session([10, 0, 0, 3])).unwrap();
    rib.apply_update(p1, &pod_block("172.17.8.0/24", [10, 0, 0, 2]))
        .unwrap();
    assert!(rib.flush_all(Instant::now()).is_empty());
    assert!(rib.get(&net("172.17.8.0/24")).unwrap().best().is_some());
}

fn ebgp_peer(rib: &mut Rib, addr: &str, asn: u32, export: Option<Policy>) -> PeerId {
    let mut c = PeerConfig::external(ip(addr), asn);
    c.import = Some(Arc::new(Policy::accept_all()));
    c.export = export.map(Arc::new);
    c.local_v4 = Some(Ipv4Addr::new(10, 1, 0, 1));
    let p = rib.add_peer(c);
    rib.peer_up(p, session([10, 1, 0, 2])).unwrap();
    p
}

#[test]
fn ebgp_export_rules() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let ext = ebgp_peer(&mut rib, "10.1.0.2", 65100, Some(Policy::accept_all()));
    let no_policy = ebgp_peer(&mut rib, "10.1.0.3", 65101, None);
    let mut u = pod_block("172.17.8.0/24", [192, 168, 100, 101]);
    u.attributes.med = Some(50);
    rib.apply_update(c1, &u).unwrap();
    let mut noexp = pod_block("172.17.9.0/24", [192, 168, 100, 101]);
    noexp.attributes.communities = Some([Community::NO_EXPORT].into_iter().collect());
    rib.apply_update(c1, &noexp).unwrap();
    let mut noadv = pod_block("172.17.10.0/24", [192, 168, 100, 101]);
    noadv.attributes.communities = Some([Community::NO_ADVERTISE].into_iter().collect());
    rib.apply_update(c1, &noadv).unwrap();
    let msgs = rib.flush_all(Instant::now());
    let to_ext = received(&msgs, ext);
    assert_eq!(
        announced(&to_ext),
        vec![net("172.17.8.0/24")],
        "NO_EXPORT and NO_ADVERTISE held back"
    );
    let a = &to_ext[0].attributes;
    assert_eq!(a.as_path.as_ref().unwrap().to_string(), "65000");
    assert_eq!(a.local_pref, None);
    assert_eq!(a.originator_id, None);
    assert_eq!(a.cluster_list, None);
    assert_eq!(
        a.next_hop,
        Some(Ipv4Addr::new(10, 1, 0, 1)),
        "next hop self"
    );
    assert_eq!(a.med, Some(50), "an iBGP-learned MED may go out once");
    assert!(
        received(&msgs, no_policy).is_empty(),
        "RFC 8212: no policy, no export"
    );
    // NO_EXPORT goes to iBGP peers, NO_ADVERTISE to nobody.
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    let full = rib.peer_up(c2, session([192, 168, 100, 102])).unwrap();
    assert_eq!(
        announced(&received(&full, c2)),
        vec![net("172.17.8.0/24"), net("172.17.9.0/24")]
    );
    // From eBGP, into iBGP and back out to another AS: MED dropped, path prepended.
    let other = ebgp_peer(&mut rib, "10.1.0.4", 65200, Some(Policy::accept_all()));
    let mut e = pod_block("203.0.113.0/24", [10, 1, 0, 2]);
    e.attributes.local_pref = None;
    e.attributes.med = Some(7);
    e.attributes.as_path = Some(AsPath::from_sequence(&[65100]));
    rib.apply_update(ext, &e).unwrap();
    let msgs = rib.flush_all(Instant::now());
    let to_other = received(&msgs, other);
    assert_eq!(to_other[0].attributes.med, None);
    assert_eq!(
        to_other[0].attributes.as_path.as_ref().unwrap().to_string(),
        "65000 65100"
    );
    let to_client = received(&msgs, c1);
    assert_eq!(
        to_client[0].attributes.local_pref,
        Some(100),
        "LOCAL_PREF added towards iBGP"
    );
    assert_eq!(
        to_client[0].attributes.next_hop,
        Some(Ipv4Addr::new(10, 1, 0, 2)),
        "eBGP next hop kept"
    );
    assert!(received(&msgs, ext).is_empty(), "not back to its source");
    // RFC 8212 on import: an eBGP peer without import policy contributes nothing.
    let mut c = PeerConfig::external(ip("10.1.0.9"), 65300);
    c.export = Some(Arc::new(Policy::accept_all()));
    let strict = rib.add_peer(c);
    rib.peer_up(strict, session([10, 1, 0, 9])).unwrap();
    let mut e = pod_block("198.51.100.0/24", [10, 1, 0, 9]);
    e.attributes.as_path = Some(AsPath::from_sequence(&[65300]));
    assert!(rib.apply_update(strict, &e).unwrap().is_empty());
}

#[test]
fn graceful_restart_keeps_stale_routes_until_swept() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    rib.apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    rib.apply_update(c1, &pod_block("172.17.9.0/24", [192, 168, 100, 101]))
        .unwrap();
    rib.flush_all(Instant::now());
    // c1 restarts: its routes stay, stale, still best; nothing is withdrawn.
    assert!(rib.peer_down(c1, true).is_empty());
    assert!(rib.flush_all(Instant::now()).is_empty());
    let d = rib.get(&net("172.17.8.0/24")).unwrap();
    assert!(d.best().unwrap().stale());
    // Back up; it re-announces one prefix, then End-of-RIB: the other is swept.
    rib.peer_up(c1, session([192, 168, 100, 101])).unwrap();
    rib.apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    assert!(
        !rib.get(&net("172.17.8.0/24"))
            .unwrap()
            .best()
            .unwrap()
            .stale()
    );
    let ch = rib.sweep_stale(c1, Some(Family::IPV4_UNICAST));
    assert_eq!(ch.best.len(), 1);
    assert_eq!(ch.best[0].prefix, net("172.17.9.0/24"));
    assert_eq!(ch.best[0].best, None);
    let msgs = rib.flush_all(Instant::now());
    assert_eq!(withdrawn(&received(&msgs, c2)), vec![net("172.17.9.0/24")]);
    assert!(
        announced(&received(&msgs, c2)).is_empty(),
        "the unchanged route is not re-sent"
    );
}

#[test]
fn soft_reconfiguration_reapplies_a_new_policy() {
    let mut rib = reflector();
    let mut cfg = PeerConfig::internal(ip("192.168.100.101"), 65000);
    cfg.soft_reconfig_inbound = true;
    cfg.rr_client = true;
    let p = rib.add_peer(cfg);
    rib.peer_up(p, session([192, 168, 100, 101])).unwrap();
    let q = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    rib.apply_update(p, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    rib.apply_update(q, &pod_block("172.17.8.0/24", [192, 168, 100, 102]))
        .unwrap();
    // Router ID breaks the tie: p (…101) wins.
    assert_eq!(
        rib.get(&net("172.17.8.0/24"))
            .unwrap()
            .best()
            .unwrap()
            .peer(),
        p
    );
    // A new policy on p lowers LOCAL_PREF: q wins, with no new UPDATE from anyone.
    let pol = Policy {
        name: "depref".into(),
        terms: vec![Term {
            name: "all".into(),
            matches: vec![Match::Prefix(vec![PrefixRange::orlonger(
                net("0.0.0.0/0"),
                32,
            )])],
            actions: vec![Action::SetLocalPref(50)],
            verdict: Some(Verdict::Accept),
        }],
        default: Verdict::Reject,
    };
    let ch = rib.set_import_policy(p, Some(Arc::new(pol))).unwrap();
    assert_eq!(ch.best.len(), 1);
    assert_eq!(
        rib.get(&net("172.17.8.0/24"))
            .unwrap()
            .best()
            .unwrap()
            .peer(),
        q
    );
    assert_eq!(rib.peer_counts(p), Some((1, 1)));
    // Without soft reconfiguration the caller must ask for a refresh.
    assert!(rib.set_import_policy(q, None).is_none());
}

#[test]
fn updates_are_packed_and_withdrawals_coalesced() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    // 3,000 /24s with one attribute set, in 3 UPDATEs.
    let all: Vec<IpNet> = (0..3000u32)
        .map(|i| {
            IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
        })
        .collect();
    for chunk in all.chunks(1000) {
        let mut u = pod_block("10.0.0.0/24", [192, 168, 100, 101]);
        u.nlri = Prefixes::from_entries(Afi::IPV4, false, chunk.iter().copied()).unwrap();
        rib.apply_update(c1, &u).unwrap();
    }
    let msgs = rib.flush_all(Instant::now());
    let to_c2 = received(&msgs, c2);
    assert_eq!(announced(&to_c2).len(), 3000);
    assert!(to_c2.len() <= 3, "packed: {} UPDATEs", to_c2.len());
    // Each message says what it carries.
    let mine: Vec<&Encoded> = msgs.to(c2).collect();
    assert_eq!(mine.iter().map(|m| m.announced).sum::<u32>(), 3000);
    assert!(
        mine.iter()
            .all(|m| m.withdrawn == 0 && m.family == Family::IPV4_UNICAST)
    );
    assert!(msgs.messages().all(|m| m.bytes.len() <= 4096));
    assert_eq!(
        rib.attribute_sets(),
        2,
        "one received set, one reflected set"
    );
    // Announced and withdrawn between two flushes: nothing at all.
    rib.apply_update(c1, &pod_block("172.31.0.0/24", [192, 168, 100, 101]))
        .unwrap();
    let mut w = Update::new(
        Prefixes::from_entries(Afi::IPV4, false, [net("172.31.0.0/24")]).unwrap(),
        PathAttributes::default(),
        Prefixes::empty(Afi::IPV4, false),
    );
    rib.apply_update(c1, &w).unwrap();
    assert!(rib.flush_all(Instant::now()).is_empty());
    // Withdrawing the 3,000: packed withdrawals.
    w.withdrawn = Prefixes::from_entries(Afi::IPV4, false, all.iter().copied()).unwrap();
    rib.apply_update(c1, &w).unwrap();
    let msgs = rib.flush_all(Instant::now());
    let to_c2 = received(&msgs, c2);
    assert_eq!(withdrawn(&to_c2).len(), 3000);
    assert!(to_c2.len() <= 4);
    let mine: Vec<&Encoded> = msgs.to(c2).collect();
    assert_eq!(mine.iter().map(|m| m.withdrawn).sum::<u32>(), 3000);
    assert!(mine.iter().all(|m| m.announced == 0));
    assert_eq!(rib.prefix_count(), 0);
    rib.collect_garbage();
    assert_eq!(rib.attribute_sets(), 0, "freed when the last route went");
}

#[test]
fn add_path_groups_get_every_path() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    let mut cfg = PeerConfig::internal(ip("192.168.100.103"), 65000);
    cfg.rr_client = true;
    let ap = rib.add_peer(cfg);
    let mut s = session([192, 168, 100, 103]);
    s.add_path_send = FamilySet::from_iter([Family::IPV4_UNICAST]);
    rib.peer_up(ap, s).unwrap();
    rib.apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    rib.apply_update(c2, &pod_block("172.17.8.0/24", [192, 168, 100, 102]))
        .unwrap();
    let msgs = rib.flush_all(Instant::now());
    let ctx = Context {
        add_path: FamilySet::from_iter([Family::IPV4_UNICAST]),
        ..Context::default()
    };
    let mut paths = Vec::new();
    for m in msgs.to(ap) {
        let Message::Update(u) = Message::decode(&m.bytes, &ctx).unwrap() else {
            panic!()
        };
        for e in u.nlri.iter() {
            paths.push((e.path_id.unwrap(), u.attributes.next_hop.unwrap()));
        }
    }
    paths.sort();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_ne!(paths[0].0, paths[1].0, "distinct path identifiers");
    // Best-path-only clients: c1's route is best, so c2 gets it and c1 (its source)
    // gets nothing.
    assert_eq!(announced(&received(&msgs, c2)).len(), 1);
    assert!(received(&msgs, c1).is_empty());
}

#[test]
fn local_routes_and_ecmp_changes() {
    let mut cfg = RibConfig::new(65000, Ipv4Addr::new(192, 168, 100, 100));
    cfg.decision.max_paths = 4;
    let mut rib = Rib::new(cfg);
    let mut pc = PeerConfig::internal(ip("192.168.100.1"), 65000);
    pc.local_v4 = Some(Ipv4Addr::new(192, 168, 100, 100));
    let rr = rib.add_peer(pc);
    rib.peer_up(rr, session([192, 168, 100, 1])).unwrap();
    // Our pod block, no next hop of its own: sent with ourselves as next hop.
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        ..PathAttributes::default()
    };
    let ch = rib.announce(net("172.17.8.0/26"), attrs);
    assert_eq!(ch.best.len(), 1);
    let msgs = rib.flush_all(Instant::now());
    let us = received(&msgs, rr);
    assert_eq!(
        us[0].attributes.next_hop,
        Some(Ipv4Addr::new(192, 168, 100, 100))
    );
    assert_eq!(us[0].attributes.local_pref, Some(100));
    // Two equal reflected paths (ADD-PATH from the reflector): an ECMP set of two.
    let ap_ctx_update = |nh: [u8; 4], id: u32| {
        let mut u = pod_block("172.17.9.0/24", nh);
        u.nlri = Prefixes::from_entries(
            Afi::IPV4,
            true,
            [crate::wire::NlriEntry::with_path_id(
                net("172.17.9.0/24"),
                id,
            )],
        )
        .unwrap();
        u.attributes.originator_id = Some(Ipv4Addr::from(nh));
        u
    };
    rib.apply_update(rr, &ap_ctx_update([192, 168, 100, 101], 1))
        .unwrap();
    let ch = rib
        .apply_update(rr, &ap_ctx_update([192, 168, 100, 102], 2))
        .unwrap();
    assert_eq!(ch.best.len(), 1, "the ECMP set changed");
    let mut nhs = ch.best[0].next_hops.clone();
    nhs.sort();
    assert_eq!(nhs, vec![ip("192.168.100.101"), ip("192.168.100.102")]);
    // Withdrawing our block.
    let ch = rib.withdraw(net("172.17.8.0/26"));
    assert_eq!(ch.best[0].best, None);
}

#[test]
fn a_route_without_a_next_hop_is_not_sent() {
    let mut rib = Rib::new(RibConfig::new(65000, Ipv4Addr::new(192, 168, 100, 100)));
    // No local address configured for this session: next-hop-self has nothing to use.
    let rr = rib.add_peer(PeerConfig::internal(ip("192.168.100.1"), 65000));
    rib.peer_up(rr, session([192, 168, 100, 1])).unwrap();
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        ..PathAttributes::default()
    };
    rib.announce(net("172.17.8.0/26"), attrs.clone());
    rib.announce(net("2001:db8:8::/64"), attrs);
    assert!(rib.flush_all(Instant::now()).is_empty());
}

#[test]
fn minimum_route_interval_holds_updates_back() {
    let mut cfg = RibConfig::new(65000, Ipv4Addr::new(192, 168, 100, 1));
    cfg.cluster_id = Some(CLUSTER);
    cfg.min_route_interval = std::time::Duration::from_secs(5);
    let mut rib = Rib::new(cfg);
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    let t0 = Instant::now();
    rib.apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    let (due, next) = rib.flush_due(t0);
    assert_eq!(due.len(), 1, "the first change goes at once");
    assert_eq!(next, None);
    let g = due[0];
    assert_eq!(rib.flush(g, t0).messages().count(), 1);
    rib.apply_update(c1, &pod_block("172.17.9.0/24", [192, 168, 100, 101]))
        .unwrap();
    let (due, next) = rib.flush_due(t0 + std::time::Duration::from_secs(1));
    assert!(due.is_empty());
    assert_eq!(next, Some(t0 + std::time::Duration::from_secs(5)));
    let (due, _) = rib.flush_due(t0 + std::time::Duration::from_secs(5));
    assert_eq!(due, vec![g]);
    let msgs = rib.flush(g, t0 + std::time::Duration::from_secs(5));
    assert_eq!(announced(&received(&msgs, c2)), vec![net("172.17.9.0/24")]);
}

#[test]
fn an_export_policy_change_moves_the_peer_and_updates_it() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    rib.apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    rib.apply_update(c1, &pod_block("10.9.0.0/16", [192, 168, 100, 101]))
        .unwrap();
    rib.flush_all(Instant::now());
    assert_eq!(rib.group_of(c1), rib.group_of(c2));
    // c2 now only takes pod blocks and sees them with a lower preference.
    let pol = Policy {
        name: "pods-only".into(),
        terms: vec![Term {
            name: "pods".into(),
            matches: vec![Match::Prefix(vec![PrefixRange::orlonger(
                net("172.16.0.0/12"),
                32,
            )])],
            actions: vec![Action::SetLocalPref(90)],
            verdict: Some(Verdict::Accept),
        }],
        default: Verdict::Reject,
    };
    let msgs = rib.set_export_policy(c2, Some(Arc::new(pol))).unwrap();
    assert_ne!(rib.group_of(c1), rib.group_of(c2), "a group of its own");
    let us = received(&msgs, c2);
    assert_eq!(announced(&us), vec![net("172.17.8.0/24")]);
    assert_eq!(
        us.iter()
            .find(|u| !u.nlri.is_empty())
            .unwrap()
            .attributes
            .local_pref,
        Some(90)
    );
    assert_eq!(withdrawn(&us), vec![net("10.9.0.0/16")]);
}

#[test]
fn next_hop_self_for_external_routes_keeps_reflected_next_hops() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let mut c = PeerConfig::internal(ip("192.168.100.102"), 65000);
    c.rr_client = true;
    c.local_v4 = Some(Ipv4Addr::new(192, 168, 100, 1));
    c.next_hop = NextHopMode::SelfExternal;
    let c2 = rib.add_peer(c);
    rib.peer_up(c2, session([192, 168, 100, 102])).unwrap();
    let ext = ebgp_peer(&mut rib, "10.1.0.2", 65100, Some(Policy::accept_all()));
    rib.apply_update(c1, &pod_block("172.17.8.0/24", [192, 168, 100, 101]))
        .unwrap();
    let mut e = pod_block("172.18.0.0/24", [10, 1, 0, 2]);
    e.attributes.local_pref = None;
    e.attributes.as_path = Some(AsPath::from_sequence(&[65100]));
    rib.apply_update(ext, &e).unwrap();
    rib.announce(net("10.99.0.0/16"), {
        let mut a = attrs();
        a.next_hop = None;
        a.as_path = Some(AsPath::empty());
        a
    });
    let msgs = rib.flush_all(Instant::now());
    let mut hops: Vec<(IpNet, Option<Ipv4Addr>)> = received(&msgs, c2)
        .iter()
        .flat_map(|u| {
            let nh = u.attributes.next_hop;
            u.announced()
                .flat_map(|(_, b)| b.iter().map(|e| e.prefix))
                .map(move |p| (p, nh))
                .collect::<Vec<_>>()
        })
        .collect();
    hops.sort();
    let us = Some(Ipv4Addr::new(192, 168, 100, 1));
    assert_eq!(
        hops,
        vec![
            (net("10.99.0.0/16"), us),
            (
                net("172.17.8.0/24"),
                Some(Ipv4Addr::new(192, 168, 100, 101))
            ),
            (net("172.18.0.0/24"), us),
        ],
        "reflected: unchanged; eBGP-learned and local: ourselves"
    );
}

// ---- compact storage ----

fn path(peer: PeerId, id: PathId) -> Path {
    Path::new(peer, id, Arc::new(attrs()))
}

#[test]
fn paths_move_between_inline_and_boxed_forms() {
    assert_eq!(std::mem::size_of::<Paths>(), 16);
    assert_eq!(std::mem::size_of::<Dest>(), 24);
    let mut p = Paths::default();
    assert!(p.is_empty());
    assert!(p.remove(0).is_none());
    p.push(path(1, 0));
    assert!(matches!(p, Paths::One(_)));
    p.push(path(2, 0));
    p.push(path(3, 0));
    assert!(matches!(&p, Paths::Several(v) if v.len() == 3));
    let peers = |p: &Paths| p.iter().map(Path::peer).collect::<Vec<_>>();
    assert_eq!(peers(&p), [1, 2, 3]);
    p.swap(0, 2);
    assert_eq!(peers(&p), [3, 2, 1]);
    assert!(p.remove(3).is_none());
    assert_eq!(p.remove(1).map(|x| x.peer()), Some(2));
    assert_eq!(p.remove(0).map(|x| x.peer()), Some(3));
    // One left: inline again.
    assert!(matches!(p, Paths::One(_)));
    assert_eq!(peers(&p), [1]);
    assert_eq!(p.remove(0).map(|x| x.peer()), Some(1));
    assert!(matches!(&p, Paths::Several(v) if v.is_empty()));
}

#[test]
fn dest_removal_keeps_the_ecmp_count() {
    let mut d = Dest::default();
    d.paths.push(path(1, 0));
    d.paths.push(path(2, 0));
    d.multipath = 2;
    assert!(d.remove_at(5).is_none());
    assert_eq!(d.multipath, 2);
    assert!(!d.touched);
    assert_eq!(d.remove_at(0).map(|x| x.peer()), Some(1));
    assert_eq!((d.multipath, d.touched), (1, true));
    assert_eq!(d.multipath().len(), 1);
}

#[test]
fn each_member_is_counted_the_routes_it_is_sent() {
    let mut rib = reflector();
    let c1 = client(&mut rib, "192.168.100.101", [192, 168, 100, 101]);
    let c2 = client(&mut rib, "192.168.100.102", [192, 168, 100, 102]);
    for p in ["172.17.8.0/24", "172.17.9.0/24"] {
        rib.apply_update(c1, &pod_block(p, [192, 168, 100, 101]))
            .unwrap();
    }
    rib.apply_update(c2, &pod_block("172.17.10.0/24", [192, 168, 100, 102]))
        .unwrap();
    assert_eq!(rib.group_of(c1), rib.group_of(c2));
    // One group, three routes: each client is sent the other's, never its own.
    assert_eq!(rib.advertised(c1), (1, 0));
    assert_eq!(rib.advertised(c2), (2, 0));
    rib.peer_down(c1, false);
    assert_eq!(rib.advertised(c1), (0, 0), "nothing while down");
    assert_eq!(rib.advertised(c2), (0, 0), "c1's routes went with it");
    rib.peer_down(c2, false);
    assert_eq!(rib.advertised(c2), (0, 0), "nothing while down");
}
