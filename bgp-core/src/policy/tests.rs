use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::wire::attributes::{AsPath, Community, LargeCommunity, Origin, PathAttributes, Segment};

fn attrs(path: &[u32]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(path)),
        next_hop: Some(Ipv4Addr::new(192, 168, 100, 101)),
        ..PathAttributes::default()
    }
}

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn route<'a>(prefix: &'a IpNet, a: &'a PathAttributes) -> RouteRef<'a> {
    RouteRef {
        prefix,
        attrs: a,
        neighbor: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 100, 101))),
        route_type: RouteType::Internal,
    }
}

#[test]
fn prefix_ranges() {
    let r = PrefixRange {
        prefix: p("172.16.0.0/12"),
        ge: 24,
        le: 26,
    };
    assert!(r.contains(&p("172.17.8.0/24")));
    assert!(r.contains(&p("172.31.255.192/26")));
    assert!(!r.contains(&p("172.17.8.0/23")), "shorter than ge");
    assert!(!r.contains(&p("172.17.8.1/32")), "longer than le");
    assert!(!r.contains(&p("10.0.0.0/24")));
    assert!(PrefixRange::exact(p("10.0.0.0/8")).contains(&p("10.0.0.0/8")));
    assert!(!PrefixRange::exact(p("10.0.0.0/8")).contains(&p("10.0.0.0/9")));
    assert!(PrefixRange::orlonger(p("10.0.0.0/8"), 32).contains(&p("10.1.2.3/32")));
}

#[test]
fn as_path_patterns() {
    let m = |pat: &str, path: &[u32]| {
        pat.parse::<AsPathPattern>()
            .unwrap()
            .matches(&AsPath::from_sequence(path))
    };
    assert!(m("^65001", &[65001, 65002]));
    assert!(!m("^65001", &[65002, 65001]));
    assert!(m("65010$", &[65001, 65010]));
    assert!(!m("65010$", &[65010, 65001]));
    assert!(m("^$", &[]));
    assert!(!m("^$", &[1]));
    assert!(m("64512", &[1, 64512, 2]));
    assert!(m("^65001 * 65010$", &[65001, 65010]));
    assert!(m("^65001 .* 65010$", &[65001, 1, 2, 3, 65010]));
    assert!(!m("^65001 . 65010$", &[65001, 65010]));
    assert!(m("^65001 . 65010$", &[65001, 7, 65010]));
    assert!(m("^64512-65534 $", &[65000]));
    assert!(!m("^64512-65534$", &[65535]));
    assert!(m("^ 1 2 $", &[1, 2]));
    // Sets count member by member.
    let set = AsPath::from_segments(&[Segment::sequence(vec![1]), Segment::set(vec![2, 3])]);
    assert!("^1 2 3$".parse::<AsPathPattern>().unwrap().matches(&set));
    // Errors are precise.
    let e = "65001 ^65002".parse::<AsPathPattern>().unwrap_err();
    assert_eq!(e.position, 1);
    assert!("65001 x".parse::<AsPathPattern>().is_err());
    assert!("9-3".parse::<AsPathPattern>().is_err());
    // A long path and a pattern full of stars stay quick (linear walk).
    let long: Vec<u32> = (0..2000).map(|i| i % 7).collect();
    let pat: AsPathPattern = "* 1 * 2 * 3 * 4 * 5 * 9 *".parse().unwrap();
    assert!(!pat.matches(&AsPath::from_sequence(&long)));
}

#[test]
fn terms_apply_in_order_and_the_first_verdict_wins() {
    let policy = Policy {
        name: "import".into(),
        terms: vec![
            Term {
                name: "tag-pods".into(),
                matches: vec![Match::Prefix(vec![PrefixRange::orlonger(
                    p("172.16.0.0/12"),
                    32,
                )])],
                actions: vec![Action::AddCommunity(Community::new(65000, 100))],
                verdict: None,
            },
            Term {
                name: "no-bogons".into(),
                matches: vec![Match::Prefix(vec![PrefixRange::orlonger(
                    p("0.0.0.0/8"),
                    32,
                )])],
                actions: vec![],
                verdict: Some(Verdict::Reject),
            },
            Term {
                name: "prefer-rack-1".into(),
                matches: vec![Match::AsPath("^65001".parse().unwrap())],
                actions: vec![Action::SetLocalPref(200), Action::Prepend(65000, 2)],
                verdict: Some(Verdict::Accept),
            },
        ],
        default: Verdict::Reject,
    };
    let a = attrs(&[65001]);
    let pods = p("172.17.8.0/24");
    match policy.evaluate(&route(&pods, &a)) {
        Outcome::Changed(c, _) => {
            assert_eq!(c.local_pref, Some(200));
            assert_eq!(c.as_path.unwrap().to_string(), "65000 65000 65001");
            assert!(c.communities.unwrap().contains(&Community::new(65000, 100)));
        }
        o => panic!("{o:?}"),
    }
    // The original attributes are untouched.
    assert_eq!(a.local_pref, None);
    let bogon = p("0.1.0.0/16");
    assert_eq!(policy.evaluate(&route(&bogon, &a)), Outcome::Rejected);
    // No term accepts: the default rejects.
    let other = attrs(&[65002]);
    let net = p("10.0.0.0/8");
    assert_eq!(policy.evaluate(&route(&net, &other)), Outcome::Rejected);
    // Accept-all leaves the attributes shared.
    assert!(matches!(
        Policy::accept_all().evaluate(&route(&net, &other)),
        Outcome::Unchanged(_)
    ));
}

#[test]
fn community_and_other_matches() {
    let mut a = attrs(&[65001]);
    a.communities = Some(
        [Community::new(65000, 1), Community::NO_EXPORT]
            .into_iter()
            .collect(),
    );
    a.large_communities = Some(
        [LargeCommunity {
            global: 65000,
            local1: 7,
            local2: 9,
        }]
        .into_iter()
        .collect(),
    );
    let net = p("10.0.0.0/8");
    let r = route(&net, &a);
    assert!(Match::Community(Community::NO_EXPORT).matches(&r));
    assert!(!Match::Community(Community::new(65000, 2)).matches(&r));
    assert!(
        Match::LargeCommunity {
            global: Some(65000),
            local1: None,
            local2: Some(9)
        }
        .matches(&r)
    );
    assert!(
        !Match::LargeCommunity {
            global: Some(65001),
            local1: None,
            local2: None
        }
        .matches(&r)
    );
    assert!(Match::NextHop(vec![p("192.168.100.0/24")]).matches(&r));
    assert!(Match::Neighbor(vec![IpAddr::V4(Ipv4Addr::new(192, 168, 100, 101))]).matches(&r));
    assert!(Match::Origin(Origin::Igp).matches(&r));
    assert!(Match::RouteType(vec![RouteType::Internal]).matches(&r));
    assert!(Match::Not(Box::new(Match::RouteType(vec![RouteType::Local]))).matches(&r));
    assert!(Match::AsPathLenAtMost(1).matches(&r));
    // Actions on communities.
    let pol = Policy {
        name: "x".into(),
        terms: vec![Term {
            name: "t".into(),
            matches: vec![],
            actions: vec![
                Action::RemoveCommunity(Community::NO_EXPORT),
                Action::AddCommunity(Community::new(65000, 1)),
                Action::RemoveLargeCommunity(LargeCommunity {
                    global: 65000,
                    local1: 7,
                    local2: 9,
                }),
                Action::SetNextHop(NextHopAction::SelfAddr),
                Action::SetMed(5),
            ],
            verdict: Some(Verdict::Accept),
        }],
        default: Verdict::Reject,
    };
    let Outcome::Changed(c, d) = pol.evaluate(&r) else {
        panic!()
    };
    assert_eq!(
        c.communities.unwrap().iter().collect::<Vec<_>>(),
        vec![Community::new(65000, 1)],
        "no duplicate added, NO_EXPORT removed"
    );
    assert!(c.large_communities.is_none());
    assert_eq!(c.med, Some(5));
    assert_eq!(d.next_hop, Some(NextHopAction::SelfAddr));
}

#[test]
fn extended_communities_are_added_and_removed() {
    use crate::wire::attributes::ExtCommunity;
    let rt = ExtCommunity::route_target(65000, 1);
    let net = p("10.0.0.0/8");
    let a = attrs(&[]);
    let add = Policy {
        name: "add".into(),
        terms: vec![Term {
            name: "t".into(),
            matches: vec![],
            actions: vec![Action::AddExtCommunity(rt)],
            verdict: Some(Verdict::Accept),
        }],
        default: Verdict::Reject,
    };
    let Outcome::Changed(with, _) = add.evaluate(&route(&net, &a)) else {
        panic!()
    };
    assert!(Match::ExtCommunity(rt).matches(&route(&net, &with)));
    let remove = Policy {
        name: "rm".into(),
        terms: vec![Term {
            name: "t".into(),
            matches: vec![Match::ExtCommunity(rt)],
            actions: vec![Action::RemoveExtCommunity(rt)],
            verdict: Some(Verdict::Accept),
        }],
        default: Verdict::Accept,
    };
    let Outcome::Changed(without, _) = remove.evaluate(&route(&net, &with)) else {
        panic!()
    };
    assert!(without.ext_communities.is_none());
}
