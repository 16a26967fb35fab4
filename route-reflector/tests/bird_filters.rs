//! BIRD filters turned into policies decide routes as BIRD would: each case is a filter
//! read by hand against BIRD 1.6's semantics and a few routes with the expected verdict.

use std::net::IpAddr;

use bgp_core::policy::{Outcome, Policy, PolicyRef, RouteRef, RouteType};
use bgp_core::wire::attributes::{AsPath, Community, Origin, PathAttributes};
use ipnet::IpNet;
use route_reflector::bird::{self, Family};

/// The import and export policies of protocol `p` in `src`.
fn policies(src: &str) -> (PolicyRef, PolicyRef) {
    let cfg = bird::load_str("t.cfg", src, Family::V4).unwrap_or_else(|e| panic!("{e:#?}"));
    let p = cfg.bgp.iter().find(|b| b.name == "p").expect("protocol p");
    (
        p.peer.import.clone().unwrap(),
        p.peer.export.clone().unwrap(),
    )
}

fn with_filters(local_as: u32, peer_as: u32, import: &str, export: &str) -> String {
    format!(
        "router id 10.0.0.1;\n\
         protocol bgp p {{\n  local as {local_as};\n  neighbor 10.0.0.2 as {peer_as};\n\
         import filter {{\n{import}\n  }};\n  export filter {{\n{export}\n  }};\n}}\n\
         protocol bgp q {{\n  local as {local_as};\n  neighbor 10.0.0.9 as {local_as};\n}}\n"
    )
}

struct Route {
    prefix: IpNet,
    attrs: PathAttributes,
    neighbor: Option<IpAddr>,
    kind: RouteType,
}

fn bgp(prefix: &str, path: &[u32], communities: &[(u16, u16)]) -> Route {
    Route {
        prefix: prefix.parse().unwrap(),
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(path)),
            next_hop: Some("10.0.0.2".parse().unwrap()),
            local_pref: Some(100),
            communities: (!communities.is_empty()).then(|| {
                communities
                    .iter()
                    .map(|(a, v)| Community::new(*a, *v))
                    .collect()
            }),
            ..PathAttributes::default()
        },
        neighbor: Some("10.0.0.2".parse().unwrap()),
        kind: RouteType::Internal,
    }
}

fn own(prefix: &str) -> Route {
    Route {
        prefix: prefix.parse().unwrap(),
        attrs: PathAttributes::default(),
        neighbor: None,
        kind: RouteType::Local,
    }
}

fn run(p: &Policy, r: &Route) -> Option<PathAttributes> {
    match p.evaluate(&RouteRef {
        prefix: &r.prefix,
        attrs: &r.attrs,
        neighbor: r.neighbor,
        route_type: r.kind,
    }) {
        Outcome::Rejected => None,
        Outcome::Unchanged(_) => Some(r.attrs.clone()),
        Outcome::Changed(a, _) => Some(*a),
    }
}

fn communities(a: &PathAttributes) -> Vec<Community> {
    a.communities
        .as_ref()
        .map_or(vec![], |c| c.iter().collect())
}

/// Towards eBGP, BIRD has put our AS in front of the path before the export filter runs.
#[test]
fn ebgp_export_sees_our_as_in_front() {
    let (_, export) = policies(&with_filters(
        65001,
        65002,
        "    accept;",
        "    if bgp_path ~ [= 65001 3 * =] then accept;\n    reject;",
    ));
    assert!(run(&export, &bgp("10.1.0.0/16", &[3, 4], &[])).is_some());
    assert!(run(&export, &bgp("10.1.0.0/16", &[4, 3], &[])).is_none());
    // Our own route's path is our AS alone: `65001 3` does not match it.
    assert!(run(&export, &own("10.1.0.0/16")).is_none());
    let (_, export) = policies(&with_filters(
        65001,
        65002,
        "    accept;",
        "    if bgp_path ~ [= 65001 =] then accept;\n    reject;",
    ));
    assert!(run(&export, &own("10.1.0.0/16")).is_some());
    assert!(run(&export, &bgp("10.1.0.0/16", &[3], &[])).is_none());
}

#[test]
fn proto_names_the_neighbor_and_net_len_a_length_range() {
    let (_, export) = policies(&with_filters(
        65001,
        65001,
        "    accept;",
        "    if net.len > 24 then reject;\n    if proto = \"q\" then accept;\n    reject;",
    ));
    let mut from_q = bgp("10.1.0.0/24", &[], &[]);
    from_q.neighbor = Some("10.0.0.9".parse().unwrap());
    assert!(run(&export, &from_q).is_some());
    assert!(
        run(&export, &bgp("10.1.0.0/24", &[], &[])).is_none(),
        "from p"
    );
    from_q.prefix = "10.1.0.0/25".parse().unwrap();
    assert!(run(&export, &from_q).is_none(), "longer than /24");
}

/// A comparison with an undefined value is a run-time error in BIRD: the route is
/// rejected, even where the filter would go on to accept.
#[test]
fn runtime_errors_reject() {
    let (import, export) = policies(&with_filters(
        65001,
        65001,
        "    if krt_metric < 5 then reject;\n    accept;",
        "    if defined(krt_metric) && krt_metric < 5 then reject;\n    accept;",
    ));
    assert!(run(&import, &bgp("10.1.0.0/16", &[], &[])).is_none());
    assert!(run(&export, &bgp("10.1.0.0/16", &[], &[])).is_some());
}

#[test]
fn functions_take_arguments_and_return() {
    let src = "router id 10.0.0.1;\n\
        function pick(bool internal; int limit) {\n\
          if internal then return true;\n\
          if net.len <= limit then accept;\n\
        }\n\
        protocol bgp p {\n  local as 1;\n  neighbor 10.0.0.2 as 1;\n\
          import filter { pick(true, 16); reject; };\n\
          export filter { pick(false, 16); reject; };\n}\n";
    let (import, export) = policies(src);
    // `return` leaves the function: the filter goes on to `reject`.
    assert!(run(&import, &bgp("10.0.0.0/8", &[], &[])).is_none());
    assert!(run(&export, &bgp("10.0.0.0/8", &[], &[])).is_some());
    assert!(run(&export, &bgp("10.0.0.0/24", &[], &[])).is_none());
}

/// `||` and `&&` short-circuit; a change made under a condition is made once.
#[test]
fn conditions_combine_and_changes_apply_once() {
    let (_, export) = policies(&with_filters(
        65001,
        65001,
        "    accept;",
        "    if (net ~ 10.0.0.0/8) || ((1, 2) ~ bgp_community) then {\n\
               bgp_community.add((9, 9));\n\
               bgp_path.prepend(65001);\n\
             }\n\
             if (9, 9) ~ bgp_community then accept;\n\
             reject;",
    ));
    let both = run(&export, &bgp("10.1.0.0/16", &[7], &[(1, 2)])).unwrap();
    assert_eq!(
        communities(&both),
        [Community::new(1, 2), Community::new(9, 9)]
    );
    assert_eq!(both.as_path.unwrap().asns().collect::<Vec<_>>(), [65001, 7]);
    let tagged = run(&export, &bgp("172.16.0.0/16", &[7], &[(1, 2)])).unwrap();
    assert_eq!(
        communities(&tagged),
        [Community::new(1, 2), Community::new(9, 9)]
    );
    // Neither: not changed, so not accepted by `(9, 9) ~ bgp_community`.
    assert!(run(&export, &bgp("172.16.0.0/16", &[7], &[])).is_none());
    // A route that already had (9, 9) passes unchanged.
    let had = bgp("172.16.0.0/16", &[7], &[(9, 9)]);
    assert_eq!(run(&export, &had), Some(had.attrs.clone()));
}

#[test]
fn sets_defines_and_where() {
    let src = "router id 10.0.0.1;\n\
        define POOL = 10.0.0.0/8;\n\
        define PRIO = 200;\n\
        protocol bgp p {\n  local as 1;\n  neighbor 10.0.0.2 as 1;\n\
          import where net ~ [ 192.168.0.0/16+, 172.16.0.0/12{20,24} ];\n\
          export filter { if net ~ POOL then { bgp_local_pref = PRIO; accept; } reject; };\n}\n";
    let (import, export) = policies(src);
    assert!(run(&import, &bgp("192.168.1.0/24", &[], &[])).is_some());
    assert!(run(&import, &bgp("172.16.16.0/20", &[], &[])).is_some());
    assert!(run(&import, &bgp("172.16.0.0/16", &[], &[])).is_none());
    assert!(run(&import, &bgp("172.16.1.0/25", &[], &[])).is_none());
    let a = run(&export, &own("10.9.0.0/16")).unwrap();
    assert_eq!(a.local_pref, Some(200));
    assert!(run(&export, &own("11.0.0.0/8")).is_none());
}

/// What a policy cannot evaluate is taken as a stated assumption and noted, not dropped.
#[test]
fn interface_and_local_pref_tests_are_noted() {
    let src = with_filters(
        65001,
        65001,
        "    if bgp_local_pref > 500 then accept;\n    reject;",
        "    if ifname ~ \"cali*\" then accept;\n    reject;",
    );
    let cfg = bird::load_str("t.cfg", &src, Family::V4).unwrap();
    let notes: Vec<String> = cfg.notes.iter().map(ToString::to_string).collect();
    assert!(
        notes.contains(&"t.cfg:6:8: a comparison of bgp_local_pref (or what was computed from it) is not supported by the policy: taken as false".to_string()),
        "{notes:#?}"
    );
    assert!(
        notes.contains(&"t.cfg:10:8: interface names are not known to the policy: on our own routes taken as a workload interface (cali0123456789a: matches)".to_string()),
        "{notes:#?}"
    );
    let (import, export) = policies(&src);
    assert!(run(&import, &bgp("10.0.0.0/8", &[], &[])).is_none());
    assert!(run(&export, &own("10.0.0.0/8")).is_some());
    assert!(run(&export, &bgp("10.0.0.0/8", &[], &[])).is_none());
}

/// An LOCAL_PREF received over eBGP is replaced by 100 before the import filter.
#[test]
fn ebgp_import_sees_the_default_local_pref() {
    let (import, _) = policies(&with_filters(
        65001,
        65002,
        "    if bgp_local_pref = 100 then { bgp_local_pref = 300; accept; }\n    reject;",
        "    reject;",
    ));
    let mut r = bgp("10.0.0.0/8", &[65002], &[]);
    r.attrs.local_pref = Some(5000);
    r.kind = RouteType::External;
    assert_eq!(run(&import, &r).unwrap().local_pref, Some(300));
}
