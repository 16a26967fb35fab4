//! Every configuration Calico's confd renders in its tests (copied under
//! `tests/data/calico/`) is read and mapped.

use std::path::{Path, PathBuf};

use bgp_core::policy::{Outcome, Policy, RouteRef, RouteType};
use bgp_core::router::{ErrorWait, NextHopSetting, Password};
use bgp_core::wire::attributes::{AsPath, Community, LargeCommunity, Origin, PathAttributes};
use bgp_speaker::fib::{FibAction, TunnelMode};
use ipnet::IpNet;
use route_reflector::bird::ast::{ProtoKind, StaticDest};
use route_reflector::bird::map::BgpProtocol;
use route_reflector::bird::{self, Family};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/calico")
}

/// The main files (`bird.cfg`, `bird6.cfg`) under `dir`, sorted.
fn main_files(dir: &Path, out: &mut Vec<(PathBuf, Family)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("the data directory")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            main_files(&p, out);
        } else if p.file_name().is_some_and(|n| n == "bird.cfg") {
            out.push((p, Family::V4));
        } else if p.file_name().is_some_and(|n| n == "bird6.cfg") {
            out.push((p, Family::V6));
        }
    }
}

#[test]
fn every_calico_configuration_parses_and_maps() {
    let mut files = Vec::new();
    main_files(&data(), &mut files);
    assert!(
        files.len() >= 170,
        "found only {} configurations",
        files.len()
    );
    let mut failures = Vec::new();
    for (path, family) in &files {
        match bird::load(path, *family) {
            Ok(cfg) => {
                assert!(!cfg.protocols.is_empty(), "{}", path.display());
                // What maps, the speaker takes whole: no peer refused at its start.
                let now = std::time::Instant::now();
                let (_, refused) = bgp_core::router::Router::new(cfg.speaker.router, now);
                for e in refused {
                    failures.push(format!("{}: the speaker refuses {e}", path.display()));
                }
            }
            Err(errors) => {
                for e in errors {
                    failures.push(e.to_string());
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} configurations fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn load(scenario: &str, family: Family) -> bird::BirdConfig {
    let file = if family == Family::V4 {
        "bird.cfg"
    } else {
        "bird6.cfg"
    };
    let path = data().join(scenario).join(file);
    bird::load(&path, family).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn protocol<'a>(cfg: &'a bird::BirdConfig, name: &str) -> &'a BgpProtocol {
    cfg.bgp
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no protocol {name}"))
}

/// Runs a policy on one route.
fn run(policy: &Policy, prefix: &str, attrs: &PathAttributes, route_type: RouteType) -> Outcome {
    let prefix = net(prefix);
    policy.evaluate(&RouteRef {
        prefix: &prefix,
        attrs,
        neighbor: Some("10.192.0.3".parse().unwrap()),
        route_type,
    })
}

fn accepted(o: &Outcome) -> bool {
    !matches!(o, Outcome::Rejected)
}

/// The attributes after a policy accepted a route.
fn after(o: Outcome, before: &PathAttributes) -> PathAttributes {
    match o {
        Outcome::Changed(a, _) => *a,
        Outcome::Unchanged(_) => before.clone(),
        Outcome::Rejected => panic!("rejected"),
    }
}

fn bgp_route(path: &[u32], communities: &[(u16, u16)]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(path)),
        next_hop: Some("10.192.0.3".parse().unwrap()),
        local_pref: Some(100),
        communities: (!communities.is_empty()).then(|| {
            communities
                .iter()
                .map(|(a, v)| Community::new(*a, *v))
                .collect()
        }),
        ..PathAttributes::default()
    }
}

#[test]
fn protocols_keep_the_names_bird_shows() {
    let cfg = load("mesh/ipip-cross-subnet", Family::V4);
    let names: Vec<(&str, ProtoKind)> = cfg
        .protocols
        .iter()
        .map(|p| (p.name.as_str(), p.kind))
        .collect();
    // bird_aggr.cfg is included before the kernel protocol: its static protocol comes first.
    assert_eq!(
        names,
        [
            ("static1", ProtoKind::Static),
            ("kernel1", ProtoKind::Kernel),
            ("device1", ProtoKind::Device),
            ("direct1", ProtoKind::Direct),
            ("Mesh_10_192_0_3", ProtoKind::Bgp),
            ("Mesh_10_192_0_6", ProtoKind::Bgp),
        ]
    );
    let mesh = &cfg.protocols[4];
    assert_eq!(mesh.template.as_deref(), Some("bgp_template"));
    assert_eq!(mesh.description.as_deref(), Some("Connection to BGP peer"));
    assert_eq!(mesh.neighbor, Some("10.192.0.3".parse().unwrap()));

    let v6 = load("mesh/ipip-cross-subnet", Family::V6);
    let names: Vec<&str> = v6.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["kernel1", "device1", "direct1"]);
    assert!(v6.bgp.is_empty());

    let cfg = load("explicit_peering/global", Family::V4);
    let names: Vec<&str> = cfg.bgp.iter().map(|p| p.name.as_str()).collect();
    assert!(names.iter().all(|n| n.starts_with("Global_")), "{names:?}");
}

#[test]
fn bgp_protocols_become_peers_with_birds_settings() {
    let cfg = load("mesh/ipip-cross-subnet", Family::V4);
    let r = &cfg.speaker.router;
    assert_eq!((r.asn, r.router_id), (64512, "10.192.0.2".parse().unwrap()));
    assert_eq!(r.cluster_id, None);
    assert_eq!(r.max_paths, 16, "merge paths on: BIRD's limit of 16");
    assert_eq!(cfg.speaker.listen, ["0.0.0.0:179".parse().unwrap()]);
    assert_eq!(r.peers.len(), 2);
    let p = &protocol(&cfg, "Mesh_10_192_0_3").peer;
    assert_eq!(p.address, "10.192.0.3".parse::<std::net::IpAddr>().unwrap());
    assert_eq!((p.asn, p.port), (64512, 179));
    assert_eq!(p.local_address, Some("10.192.0.2".parse().unwrap()));
    assert!(p.passive);
    assert_eq!(p.hold_time, 240, "BIRD's default hold time");
    assert_eq!(p.connect_delay, Some(2));
    assert_eq!(p.connect_retry, Some(5));
    assert_eq!(p.error_wait, Some(ErrorWait { min: 5, max: 30 }));
    assert_eq!(p.graceful_restart, Some(120));
    assert_eq!((p.ttl, p.ttl_security), (Some(64), None));
    assert_eq!(p.next_hop, NextHopSetting::Default);

    let cfg = load("ttl_security/global", Family::V4);
    let p = &cfg.bgp[0].peer;
    assert_eq!((p.ttl, p.ttl_security), (None, Some(1)));

    let cfg = load("mesh/restart-time", Family::V4);
    assert_eq!(cfg.bgp[0].peer.graceful_restart, Some(10));

    let cfg = load("password/step2", Family::V4);
    assert!(
        cfg.bgp
            .iter()
            .any(|p| p.peer.password == Some(Password("password-b".into())))
    );

    let cfg = load("explicit_peering/local-as", Family::V4);
    let a = protocol(&cfg, "Node_10_192_0_3");
    assert_eq!(
        (a.peer.local_as, a.peer.allow_own_as, a.internal),
        (None, 1, true)
    );
    let b = protocol(&cfg, "Node_10_192_0_4");
    assert_eq!(
        (b.peer.local_as, b.peer.asn, b.internal),
        (Some(65001), 64566, false)
    );

    let cfg = load("explicit_peering/route_reflector", Family::V4);
    assert_eq!(
        cfg.speaker.router.cluster_id,
        Some("10.0.0.1".parse().unwrap())
    );
    assert!(protocol(&cfg, "Node_10_192_0_3").peer.rr_client);
    assert!(!protocol(&cfg, "Node_172_19_4_87").peer.rr_client);

    let cfg = load("explicit_peering/keepnexthop", Family::V4);
    assert_eq!(
        protocol(&cfg, "Node_172_19_4_87").peer.next_hop,
        NextHopSetting::Unchanged
    );

    let cfg = load("explicit_peering/global", Family::V4);
    assert_eq!(cfg.speaker.listen, ["10.192.0.2:150".parse().unwrap()]);
}

/// Calico's export filter for a mesh peer, read against BIRD's semantics: blocks go out
/// with LOCAL_PREF 2147483647 - 1024, addresses inside a block stay behind it, borrowed
/// addresses of the pool go out, nothing else does.
#[test]
fn calico_export_filter_decides_as_bird() {
    let cfg = load("mesh/ipip-cross-subnet", Family::V4);
    let export = protocol(&cfg, "Mesh_10_192_0_3")
        .peer
        .export
        .clone()
        .unwrap();
    let own = PathAttributes::default();
    let cases = [
        ("192.168.221.64/26", true, "a block of this node"),
        (
            "192.168.221.70/32",
            false,
            "an address inside the node's block",
        ),
        ("192.168.221.64/27", false, "a part of the node's block"),
        (
            "192.168.1.5/32",
            true,
            "an address borrowed from another node's block",
        ),
        ("10.1.0.0/24", true, "a block outside the pools"),
        ("10.5.0.0/16", false, "outside every pool and block"),
        ("0.0.0.0/0", false, "the default route"),
    ];
    for (prefix, want, what) in cases {
        let o = run(&export, prefix, &own, RouteType::Local);
        assert_eq!(accepted(&o), want, "{prefix}: {what}");
        if want {
            assert_eq!(after(o, &own).local_pref, Some(2147482623), "{prefix}");
        }
    }
    // A BGP route in the pool passes the filter unchanged (iBGP rules decide the rest).
    let r = bgp_route(&[], &[]);
    assert!(matches!(
        run(&export, "192.168.5.0/26", &r, RouteType::Internal),
        Outcome::Unchanged(_)
    ));
    assert!(!accepted(&run(
        &export,
        "10.9.0.0/16",
        &r,
        RouteType::External
    )));

    // Import: everything, unchanged.
    let import = protocol(&cfg, "Mesh_10_192_0_3")
        .peer
        .import
        .clone()
        .unwrap();
    assert!(matches!(
        run(&import, "10.9.0.0/16", &r, RouteType::Internal),
        Outcome::Unchanged(_)
    ));
}

#[test]
fn communities_are_added_per_announced_cidr() {
    let cfg = load("mesh/communities", Family::V4);
    let export = cfg.bgp[0].peer.export.clone().unwrap();
    let own = PathAttributes::default();
    let a = after(run(&export, "192.168.1.5/32", &own, RouteType::Local), &own);
    let comms: Vec<Community> = a.communities.unwrap().iter().collect();
    assert_eq!(comms, [Community::new(100, 6532), Community::new(5663, 12)]);
    let large: Vec<LargeCommunity> = a.large_communities.unwrap().iter().collect();
    assert_eq!(
        large,
        [LargeCommunity {
            global: 100,
            local1: 555,
            local2: 107
        }]
    );
    // Outside the CIDR: no community.
    let a = after(run(&export, "10.1.0.0/24", &own, RouteType::Local), &own);
    assert!(a.communities.is_none());
}

/// BGPFilter rules: match a community, set priority, add a community, prepend.
#[test]
fn bgp_filter_rules_decide_as_bird() {
    let cfg = load("bgpfilter/communities_and_operations", Family::V4);
    let p = &cfg.bgp[0].peer;
    let (import, export) = (p.import.clone().unwrap(), p.export.clone().unwrap());
    let tagged = bgp_route(&[65010], &[(65000, 100)]);
    let a = after(
        run(&import, "10.50.0.0/16", &tagged, RouteType::Internal),
        &tagged,
    );
    assert_eq!(a.local_pref, Some(2147483391));
    let plain = bgp_route(&[65010], &[]);
    assert!(!accepted(&run(
        &import,
        "10.50.0.0/16",
        &plain,
        RouteType::Internal
    )));

    let marked = bgp_route(&[65010], &[(65000, 42)]);
    let a = after(
        run(&export, "192.168.7.0/26", &marked, RouteType::Internal),
        &marked,
    );
    assert!(a.communities.unwrap().contains(&Community::new(65001, 200)));
    assert_eq!(
        a.as_path.unwrap().asns().collect::<Vec<_>>(),
        [65000, 65010]
    );
    // The export function rejects what it does not match, our own routes too.
    let own = PathAttributes::default();
    assert!(!accepted(&run(
        &export,
        "192.168.221.64/26",
        &own,
        RouteType::Local
    )));

    // AS-path masks anchor both ends; the first rule that matches wins.
    let cfg = load("bgpfilter/as_path_and_priority", Family::V4);
    let import = cfg.bgp[0].peer.import.clone().unwrap();
    for (path, lp) in [
        (&[65000, 7][..], Some(2147483547)),
        (&[65000, 65001, 7][..], Some(2147483547)),
        (&[7, 65000][..], Some(100)),
    ] {
        let r = bgp_route(path, &[]);
        let a = after(run(&import, "10.60.0.0/16", &r, RouteType::Internal), &r);
        assert_eq!(a.local_pref, lp, "{path:?}");
    }

    // `~`, `!~`, `=` and `!=` on prefixes, each rule returning at once.
    let cfg = load("bgpfilter/match_operators", Family::V4);
    let import = cfg.bgp[0].peer.import.clone().unwrap();
    let r = bgp_route(&[65010], &[]);
    for (prefix, want) in [
        ("44.0.5.0/24", true),
        ("44.1.0.0/16", false),
        ("44.2.0.0/16", false),
        ("44.3.0.0/16", false),
        ("10.0.0.0/8", false),
    ] {
        assert_eq!(
            accepted(&run(&import, prefix, &r, RouteType::Internal)),
            want,
            "{prefix}"
        );
    }

    // `source ~ [ RTS_BGP ]`: BGP routes only.
    let cfg = load("bgpfilter/match_source", Family::V4);
    let export = cfg.bgp[0].peer.export.clone().unwrap();
    assert!(accepted(&run(
        &export,
        "10.61.0.0/16",
        &r,
        RouteType::External
    )));
    assert!(!accepted(&run(
        &export,
        "192.168.1.5/32",
        &own,
        RouteType::Local
    )));
}

/// The kernel filter of Calico with per-pool encapsulation: IPIP across subnets for one
/// pool, none for another, always for a third.
#[test]
fn kernel_filter_picks_the_tunnel_per_route() {
    let cfg = load("cluster_routes/enabled", Family::V4);
    let k = cfg.kernel.as_ref().unwrap();
    let tunnel = |prefix: &str, next_hop: &str| -> Option<Option<String>> {
        let a = PathAttributes {
            next_hop: Some(next_hop.parse().unwrap()),
            local_pref: Some(100),
            ..PathAttributes::default()
        };
        let prefix = net(prefix);
        let r = RouteRef {
            prefix: &prefix,
            attrs: &a,
            neighbor: None,
            route_type: RouteType::Internal,
        };
        k.export
            .iter()
            .find(|rule| rule.matches.iter().all(|m| m.matches(&r)))
            .map(|rule| rule.tunnel.clone())
    };
    let tunl0 = Some(Some("tunl0".to_string()));
    assert_eq!(
        tunnel("172.16.5.0/26", "10.192.0.7"),
        Some(None),
        "same subnet"
    );
    assert_eq!(
        tunnel("172.16.5.0/26", "10.200.0.7"),
        tunl0,
        "another subnet"
    );
    assert_eq!(tunnel("172.17.5.0/26", "10.200.0.7"), Some(None));
    assert_eq!(tunnel("192.168.5.0/26", "10.192.0.7"), tunl0);
    assert_eq!(tunnel("10.99.0.0/16", "10.192.0.7"), Some(None));
    assert!(k.export.iter().all(|r| r.metric
        == route_reflector::bird::compile::KernelMetric::FromLocalPref { base: 2147483647 }));
    let fib = cfg.speaker.fib.as_ref().unwrap();
    assert_eq!(fib.protocol, 12, "RTPROT_BIRD");
    assert_eq!(fib.mode, TunnelMode::IpipCrossSubnet);
    assert_eq!(fib.tunnel_device, "tunl0");
    assert!(!fib.flush_on_shutdown, "persist");
    // The FIB follows the filter per pool.
    let rule = |p: &str| {
        fib.rules
            .iter()
            .find(|r| r.prefix == net(p))
            .map(|r| r.action)
    };
    assert_eq!(
        rule("172.16.0.0/16"),
        Some(FibAction::Install(TunnelMode::IpipCrossSubnet))
    );
    assert_eq!(
        rule("192.168.0.0/16"),
        Some(FibAction::Install(TunnelMode::IpipAlways))
    );
    assert_eq!(
        rule("0.0.0.0/0"),
        Some(FibAction::Install(TunnelMode::Direct))
    );
    assert!(
        fib.rules
            .windows(2)
            .all(|w| w[0].prefix.prefix_len() >= w[1].prefix.prefix_len())
    );
}

/// Pools whose routes Felix programs are rejected by the kernel filter: the FIB skips them.
#[test]
fn kernel_filter_rejects_become_fib_skips() {
    let cfg = load("cluster_routes/ipip-only", Family::V4);
    let fib = cfg.speaker.fib.as_ref().unwrap();
    let rule = |p: &str| {
        fib.rules
            .iter()
            .find(|r| r.prefix == net(p))
            .map(|r| r.action)
    };
    assert_eq!(rule("172.17.0.0/16"), Some(FibAction::Skip));
    assert_eq!(
        rule("172.16.0.0/16"),
        Some(FibAction::Install(TunnelMode::IpipCrossSubnet))
    );
    assert_eq!(
        rule("192.168.0.0/16"),
        Some(FibAction::Install(TunnelMode::IpipAlways))
    );
    let cfg = load("mesh/ipip-always", Family::V4);
    let fib = cfg.speaker.fib.as_ref().unwrap();
    assert!(
        fib.rules
            .iter()
            .any(|r| r.prefix == net("192.168.0.0/16") && r.action == FibAction::Skip),
        "{:?}",
        fib.rules
    );
    // The static blackholes the kernel filter accepts are written; the pool's are not.
    assert_eq!(fib.blackholes, vec![net("10.0.0.0/30"), net("10.1.0.0/24")]);
}

#[test]
fn static_routes_and_learning_follow_the_kernel_protocol() {
    let cfg = load("mesh/static-routes", Family::V4);
    let find = |p: &str| {
        cfg.static_routes
            .iter()
            .find(|s| s.prefix == net(p))
            .unwrap_or_else(|| panic!("no static route {p}"))
    };
    // Blocks outside the pools are written to the kernel as blackholes; those inside a
    // pool are left to Felix, and static routes the filter names are not written.
    assert!(find("10.1.0.0/24").to_kernel);
    assert!(!find("192.168.221.64/26").to_kernel);
    assert!(!find("10.101.0.0/16").to_kernel);
    assert_eq!(find("10.101.0.0/16").dest, StaticDest::Blackhole);
    let learn = cfg.speaker.learn.as_ref().unwrap();
    assert_eq!(learn.devices, ["cali"]);
    assert_eq!(learn.own_protocol, 12);
    assert!(learn.within.contains(&net("192.168.0.0/16")));
    assert!(learn.within.contains(&net("10.101.0.0/16")));

    let cfg = load("reachable_by/route_reflectors", Family::V4);
    assert!(
        cfg.static_routes
            .iter()
            .any(|s| s.prefix == net("10.225.0.4/32")
                && s.dest == StaticDest::Via("10.224.0.1".parse().unwrap())
                && s.to_kernel)
    );
}

/// What the mapping cannot carry is said, with the place in the file.
#[test]
fn approximations_are_noted_with_their_position() {
    let cfg = load("mesh/ipip-cross-subnet", Family::V4);
    let at = |needle: &str| {
        cfg.notes
            .iter()
            .find(|n| n.message.contains(needle))
            .map(|n| {
                format!(
                    "{}:{}:{}",
                    n.file.rsplit('/').next().unwrap(),
                    n.line,
                    n.column
                )
            })
            .unwrap_or_else(|| panic!("no note about {needle}: {:#?}", cfg.notes))
    };
    assert_eq!(at("`add paths`"), "bird.cfg:50:3");
    assert_eq!(at("`preference`"), "bird.cfg:66:7");
    assert_eq!(at("interface names"), "bird_ipam.cfg:14:11");
    assert_eq!(at("comparison of bgp_local_pref"), "bird_aggr.cfg:16:33");
    // The kernel filter's reject of the pool is carried (a FIB skip), so not noted.
    assert!(
        !cfg.notes
            .iter()
            .any(|n| n.message.contains("no FIB filter")),
        "{:#?}",
        cfg.notes
    );
}

#[test]
fn check_accepts_what_bird_accepts() {
    let path = data().join("mesh/ipip-cross-subnet/bird.cfg");
    assert_eq!(bird::check(&path, Family::V4), Ok(()));
    let errs = bird::check(&data().join("no/such/bird.cfg"), Family::V4).unwrap_err();
    assert!(
        errs[0]
            .bird_line()
            .starts_with("Unable to open configuration file"),
        "{}",
        errs[0]
    );
}

/// Calico's explicit peering with a port: a second protocol to the same neighbor on
/// another port is not run (one session per neighbor address), and a note says so where
/// it stands; the first one is a peer.
#[test]
fn a_second_peering_to_a_neighbor_on_another_port_is_not_run_and_said_so() {
    let cfg = load("explicit_peering/global", Family::V4);
    let to_1: Vec<u16> = cfg
        .speaker
        .router
        .peers
        .iter()
        .filter(|p| p.address.to_string() == "10.192.0.1")
        .map(|p| p.port)
        .collect();
    assert_eq!(
        to_1,
        [150],
        "one peer to 10.192.0.1, on the first protocol's port"
    );
    let note = cfg
        .notes
        .iter()
        .map(ToString::to_string)
        .find(|n| n.contains("Global_10_192_0_1_port_166 is not run"))
        .unwrap_or_else(|| panic!("no note: {:#?}", cfg.notes));
    assert!(note.contains("bird.cfg:82:14"), "{note}");
}
