//! The decision process, one tie-breaker at a time.

use std::net::{IpAddr, Ipv4Addr};

use super::super::best_path::{Candidate, DecisionConfig, Reason, decide};
use super::super::*;
use crate::wire::attributes::{AsPath, ClusterList, Origin};

// ---- the decision process, one tie-breaker at a time ----

pub(super) fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(&[65001])),
        next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
        ..PathAttributes::default()
    }
}

fn cand(a: &PathAttributes) -> Candidate<'_> {
    Candidate {
        attrs: a,
        local: false,
        external: false,
        peer_router_id: Ipv4Addr::new(1, 1, 1, 1),
        peer_address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        path_id: 0,
        igp_cost: 0,
    }
}

/// Two candidates equal but for what `tweak` changes in the second: the second must win for
/// `reason`, whichever order they come in.
fn check_step(reason: Reason, tweak: impl Fn(&mut PathAttributes, &mut Candidate<'_>)) {
    let a = attrs();
    let mut b = attrs();
    let mut probe = cand(&a);
    tweak(&mut b, &mut probe);
    let ca = cand(&a);
    let mut cb = cand(&b);
    tweak(&mut b.clone(), &mut cb);
    let cfg = DecisionConfig::default();
    let d = decide(&[ca, cb], &cfg);
    assert_eq!((d.best, d.reason), (1, reason), "{reason:?}");
    let d = decide(&[cb, ca], &cfg);
    assert_eq!((d.best, d.reason), (0, reason), "{reason:?} reversed");
}

#[test]
fn each_tie_breaker_on_its_own() {
    check_step(Reason::LocalPref, |a, _| a.local_pref = Some(200));
    check_step(Reason::LocallyOriginated, |_, c| c.local = true);
    check_step(Reason::AsPathLength, |a, _| {
        a.as_path = Some(AsPath::empty())
    });
    check_step(Reason::ExternalOverInternal, |_, c| c.external = true);
    check_step(Reason::RouterId, |_, c| {
        c.peer_router_id = Ipv4Addr::new(0, 0, 0, 1)
    });
    check_step(Reason::PeerAddress, |_, c| {
        c.peer_address = IpAddr::V4(Ipv4Addr::new(9, 0, 0, 1))
    });
}

// Steps whose winner is the base value (lowest ORIGIN, MED, IGP cost, shortest cluster
// list, path identifier 0): the losers are built explicitly.
#[test]
fn origin_med_igp_cluster_and_path_id_steps() {
    let cfg = DecisionConfig::default();
    let mut worse = attrs();
    worse.origin = Some(Origin::Incomplete);
    let good = attrs();
    let d = decide(&[cand(&worse), cand(&good)], &cfg);
    assert_eq!((d.best, d.reason), (1, Reason::Origin));

    let mut high = attrs();
    high.med = Some(20);
    let mut low = attrs();
    low.med = Some(10);
    let d = decide(&[cand(&high), cand(&low)], &cfg);
    assert_eq!((d.best, d.reason), (1, Reason::Med));

    let a = attrs();
    let (mut c1, c2) = (cand(&a), cand(&a));
    c1.igp_cost = 10;
    let d = decide(&[c1, c2], &cfg);
    assert_eq!((d.best, d.reason), (1, Reason::IgpCost));

    let mut long = attrs();
    long.cluster_list = Some(ClusterList::from_iter([
        Ipv4Addr::new(1, 0, 0, 1),
        Ipv4Addr::new(1, 0, 0, 2),
    ]));
    let mut short = attrs();
    short.cluster_list = Some(ClusterList::from_iter([Ipv4Addr::new(1, 0, 0, 1)]));
    let d = decide(&[cand(&long), cand(&short)], &cfg);
    assert_eq!((d.best, d.reason), (1, Reason::ClusterListLength));

    let (mut p1, p2) = (cand(&a), cand(&a));
    p1.path_id = 7;
    let d = decide(&[p1, p2], &cfg);
    assert_eq!((d.best, d.reason), (1, Reason::PathId));

    // ORIGINATOR_ID stands in for the peer's router ID (RFC 4456 9).
    let mut reflected = attrs();
    reflected.originator_id = Some(Ipv4Addr::new(0, 0, 0, 9));
    let direct = attrs();
    let mut cd = cand(&direct);
    cd.peer_router_id = Ipv4Addr::new(0, 0, 0, 5);
    let d = decide(&[cd, cand(&reflected)], &cfg);
    assert_eq!((d.best, d.reason), (0, Reason::RouterId));
}

#[test]
fn med_is_compared_within_a_neighbour_as_only() {
    let cfg = DecisionConfig::default();
    // From AS 1 with MED 10 and 20, from AS 2 with MED 5. Per neighbour AS: AS 1's MED 20
    // route goes; AS 1's MED 10 and AS 2's MED 5 are not compared with each other.
    let mk = |asn: u32, med: u32| {
        let mut a = attrs();
        a.as_path = Some(AsPath::from_sequence(&[asn]));
        a.med = Some(med);
        a
    };
    let (a10, a20, b5) = (mk(1, 10), mk(1, 20), mk(2, 5));
    let mut ids = [cand(&a10), cand(&a20), cand(&b5)];
    ids[0].peer_router_id = Ipv4Addr::new(0, 0, 0, 1);
    ids[1].peer_router_id = Ipv4Addr::new(0, 0, 0, 2);
    ids[2].peer_router_id = Ipv4Addr::new(0, 0, 0, 3);
    let d = decide(&ids, &cfg);
    // Router ID decides between the two survivors.
    assert_eq!((d.best, d.reason), (0, Reason::RouterId));
    // Every order gives the same winner.
    for perm in [[0usize, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
        let c: Vec<_> = perm.iter().map(|i| ids[*i]).collect();
        let d = decide(&c, &cfg);
        assert_eq!(perm[d.best], 0, "{perm:?}");
    }
    // always-compare-med: AS 2's MED 5 wins outright.
    let cfg2 = DecisionConfig {
        always_compare_med: true,
        ..cfg
    };
    let d = decide(&ids, &cfg2);
    assert_eq!((d.best, d.reason), (2, Reason::Med));
}

#[test]
fn multipath_sets() {
    let cfg = DecisionConfig {
        max_paths: 4,
        ..DecisionConfig::default()
    };
    let a = attrs();
    let mut b = attrs();
    b.next_hop = Some(Ipv4Addr::new(10, 0, 0, 2));
    let mut c = attrs();
    c.local_pref = Some(50);
    let mut cands = [cand(&a), cand(&b), cand(&c)];
    cands[1].peer_router_id = Ipv4Addr::new(0, 0, 0, 1);
    let d = decide(&cands, &cfg);
    assert_eq!(d.best, 1);
    assert_eq!(
        d.multipath,
        vec![1, 0],
        "the lower LOCAL_PREF is no ECMP member"
    );
    // eBGP routes from different neighbour ASes share only with multipath-relax.
    let mut e1 = attrs();
    e1.as_path = Some(AsPath::from_sequence(&[1]));
    let mut e2 = attrs();
    e2.as_path = Some(AsPath::from_sequence(&[2]));
    let mut x = [cand(&e1), cand(&e2)];
    x[0].external = true;
    x[1].external = true;
    x[1].peer_router_id = Ipv4Addr::new(9, 9, 9, 9);
    assert_eq!(decide(&x, &cfg).multipath.len(), 1);
    let relaxed = DecisionConfig {
        multipath_relax: true,
        ..cfg
    };
    assert_eq!(decide(&x, &relaxed).multipath.len(), 2);
}
