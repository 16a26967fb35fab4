//! The kernel FIB inside a network namespace created by the test.
//!
//! Each `#[test]` here creates a namespace with a veth `eth0` (192.168.100.100/24) and a
//! tunnel device `tunl0`: a real `ipip` device where the kernel has one, else one end of a
//! veth pair named `tunl0` (this kernel lacks ipip; the route programming is the same), then
//! re-runs this test binary inside it to run the matching `inner_*` test (ignored when run
//! directly). The namespace is removed when the test ends, failed or not. Under `CI=true`,
//! missing namespace support fails the test instead of skipping it.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::process::Command;

use common::ip_route;

use bgp_speaker::fib::{Fib, FibAction, FibConfig, FibError, FibRule, Hop, TunnelMode};
use ipnet::IpNet;

fn ifindex(name: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(mode: TunnelMode) -> FibConfig {
    FibConfig {
        mode,
        ..FibConfig::default()
    }
}

async fn fib(mode: TunnelMode) -> Fib {
    Fib::new(cfg(mode)).await.unwrap()
}

netns_test!(direct_routes, inner_direct_routes, {
    let f = fib(TunnelMode::Direct).await;
    let r = f
        .apply(&[(p("172.17.9.0/24"), vec![a("192.168.100.101")])])
        .await;
    assert_eq!((r.installed, r.errors.len()), (1, 0), "{:?}", r.errors);
    let text = ip_route();
    assert!(
        text.contains("172.17.9.0/24 via 192.168.100.101 dev eth0 onlink"),
        "{text}"
    );
    let routes = f.routes().await.unwrap();
    assert_eq!(
        routes[&p("172.17.9.0/24")],
        vec![Hop {
            via: a("192.168.100.101"),
            ifindex: ifindex("eth0")
        }]
    );
    // Withdrawn: deleted; deleting again is not an error.
    let r = f.apply(&[(p("172.17.9.0/24"), vec![])]).await;
    assert_eq!(r.deleted, 1);
    let r = f.apply(&[(p("172.17.9.0/24"), vec![])]).await;
    assert!(r.errors.is_empty());
    assert!(!ip_route().contains("172.17.9.0/24"));
});

netns_test!(ipip_always, inner_ipip_always, {
    let f = fib(TunnelMode::IpipAlways).await;
    let r = f
        .apply(&[(p("172.17.9.0/24"), vec![a("192.168.100.101")])])
        .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(
        ip_route().contains("172.17.9.0/24 via 192.168.100.101 dev tunl0 onlink"),
        "{}",
        ip_route()
    );
});

netns_test!(ipip_cross_subnet, inner_ipip_cross_subnet, {
    let f = fib(TunnelMode::IpipCrossSubnet).await;
    let r = f
        .apply(&[
            (p("172.17.9.0/24"), vec![a("192.168.100.101")]),
            (p("172.17.20.0/24"), vec![a("192.168.200.101")]),
        ])
        .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let text = ip_route();
    assert!(
        text.contains("172.17.9.0/24 via 192.168.100.101 dev eth0 onlink"),
        "{text}"
    );
    assert!(
        text.contains("172.17.20.0/24 via 192.168.200.101 dev tunl0 onlink"),
        "{text}"
    );
});

netns_test!(ecmp_keeps_a_device_per_next_hop, inner_ecmp, {
    let f = fib(TunnelMode::IpipCrossSubnet).await;
    let r = f
        .apply(&[(
            p("172.17.30.0/24"),
            vec![a("192.168.100.101"), a("192.168.200.101")],
        )])
        .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let text = ip_route();
    assert!(
        text.contains("nexthop via 192.168.100.101 dev eth0 weight 1 onlink"),
        "{text}"
    );
    assert!(
        text.contains("nexthop via 192.168.200.101 dev tunl0 weight 1 onlink"),
        "{text}"
    );
    let routes = f.routes().await.unwrap();
    let mut hops = routes[&p("172.17.30.0/24")].clone();
    hops.sort();
    assert_eq!(
        hops,
        vec![
            Hop {
                via: a("192.168.100.101"),
                ifindex: ifindex("eth0")
            },
            Hop {
                via: a("192.168.200.101"),
                ifindex: ifindex("tunl0")
            },
        ]
    );
});

netns_test!(rules_per_prefix, inner_rules_per_prefix, {
    // As a kernel filter says: one pool left to another agent, one through the tunnel,
    // one across subnets, inside the first a more specific prefix written after all;
    // everything else direct.
    let rule = |prefix: &str, action| FibRule {
        prefix: p(prefix),
        action,
    };
    let f = Fib::new(FibConfig {
        mode: TunnelMode::Direct,
        rules: vec![
            rule("172.17.5.0/24", FibAction::Install(TunnelMode::Direct)),
            rule("172.17.0.0/16", FibAction::Skip),
            rule("172.18.0.0/16", FibAction::Install(TunnelMode::IpipAlways)),
            rule(
                "172.19.0.0/16",
                FibAction::Install(TunnelMode::IpipCrossSubnet),
            ),
        ],
        ..FibConfig::default()
    })
    .await
    .unwrap();
    // Left from before the rule: skipped prefixes are deleted, on apply and on reconcile.
    common::run("ip route add 172.17.9.0/24 via 192.168.100.50 dev eth0 proto 186 onlink");
    common::run("ip route add 172.17.10.0/24 via 192.168.100.50 dev eth0 proto 186 onlink");
    let nh = vec![a("192.168.100.101")];
    let far = vec![a("192.168.200.101")];
    let r = f
        .apply(&[
            (p("172.17.9.0/24"), nh.clone()),
            (p("172.17.5.0/24"), nh.clone()),
            (p("172.18.1.0/24"), nh.clone()),
            (p("172.19.1.0/24"), nh.clone()),
            (p("172.19.2.0/24"), far.clone()),
            (p("10.9.0.0/24"), nh.clone()),
        ])
        .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let text = ip_route();
    assert!(!text.contains("172.17.9.0/24"), "{text}");
    for want in [
        "172.17.5.0/24 via 192.168.100.101 dev eth0 onlink",
        "172.18.1.0/24 via 192.168.100.101 dev tunl0 onlink",
        "172.19.1.0/24 via 192.168.100.101 dev eth0 onlink",
        "172.19.2.0/24 via 192.168.200.101 dev tunl0 onlink",
        "10.9.0.0/24 via 192.168.100.101 dev eth0 onlink",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    let desired: HashMap<IpNet, Vec<IpAddr>> = [
        (p("172.17.10.0/24"), nh.clone()),
        (p("172.17.5.0/24"), nh.clone()),
    ]
    .into_iter()
    .collect();
    let (counts, report) = f.reconcile(&desired).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(!ip_route().contains("172.17.10.0/24"), "{}", ip_route());
    assert_eq!(counts.added, 0, "{counts:?}");
    assert_eq!(f.action_for(&p("172.17.200.0/24")), None);
    assert_eq!(
        f.action_for(&p("172.17.5.128/25")),
        Some(TunnelMode::Direct)
    );
    assert_eq!(f.action_for(&p("10.0.0.0/8")), Some(TunnelMode::Direct));
});

netns_test!(blackholes_of_our_own, inner_blackholes, {
    let mut f = Fib::new(FibConfig {
        blackholes: vec![p("172.17.64.0/26")],
        ..FibConfig::default()
    })
    .await
    .unwrap();
    let r = f.set_blackholes(f.blackholes().to_vec()).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(
        ip_route().contains("blackhole 172.17.64.0/26"),
        "{}",
        ip_route()
    );
    // A learned route for the block is not written over it, nor is it deleted.
    let r = f
        .apply(&[
            (p("172.17.64.0/26"), vec![a("192.168.100.101")]),
            (p("172.17.65.0/26"), vec![a("192.168.100.101")]),
        ])
        .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(
        ip_route().contains("blackhole 172.17.64.0/26"),
        "{}",
        ip_route()
    );
    let _ = f.apply(&[(p("172.17.64.0/26"), vec![])]).await;
    let (_, report) = f.reconcile(&HashMap::new()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let text = ip_route();
    assert!(text.contains("blackhole 172.17.64.0/26"), "{text}");
    assert!(!text.contains("172.17.65.0/26"), "{text}");
    // Replaced: the old one goes, the new one comes.
    let r = f.set_blackholes(vec![p("172.17.128.0/26")]).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let text = ip_route();
    assert!(!text.contains("172.17.64.0/26"), "{text}");
    assert!(text.contains("blackhole 172.17.128.0/26"), "{text}");
});

netns_test!(reconcile_after_a_restart, inner_reconcile, {
    // What a previous run left: a stale route, a changed one; and a static route that is
    // not ours.
    for cmd in [
        "ip route add 172.17.50.0/24 via 192.168.100.50 dev eth0 proto 186 onlink",
        "ip route add 172.17.9.0/24 via 192.168.100.77 dev eth0 proto 186 onlink",
        "ip route add 172.17.11.0/24 via 192.168.100.102 dev eth0 proto 186 onlink",
        "ip route add 172.17.60.0/24 via 192.168.100.60 dev eth0 proto static onlink",
    ] {
        common::run(cmd);
    }
    let f = fib(TunnelMode::Direct).await;
    let desired: HashMap<IpNet, Vec<IpAddr>> = [
        (p("172.17.9.0/24"), vec![a("192.168.100.101")]),
        (p("172.17.10.0/24"), vec![a("192.168.100.102")]),
        (p("172.17.11.0/24"), vec![a("192.168.100.102")]),
    ]
    .into_iter()
    .collect();
    let (counts, report) = f.reconcile(&desired).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        (
            counts.added,
            counts.replaced,
            counts.deleted,
            counts.unchanged
        ),
        (1, 1, 1, 1)
    );
    let text = ip_route();
    assert!(text.contains("172.17.9.0/24 via 192.168.100.101"), "{text}");
    assert!(
        text.contains("172.17.10.0/24 via 192.168.100.102"),
        "{text}"
    );
    assert!(!text.contains("172.17.50.0/24"), "{text}");
    let all = String::from_utf8_lossy(&Command::new("ip").args(["route"]).output().unwrap().stdout)
        .to_string();
    assert!(
        all.contains("172.17.60.0/24 via 192.168.100.60"),
        "not ours: left alone\n{all}"
    );
    // A second reconcile changes nothing.
    let (counts, _) = f.reconcile(&desired).await.unwrap();
    assert_eq!(
        (
            counts.added,
            counts.replaced,
            counts.deleted,
            counts.unchanged
        ),
        (0, 0, 0, 3)
    );
});

netns_test!(errors_are_reported_per_route, inner_errors, {
    // Unreachable in direct mode; no tunnel device.
    let f = fib(TunnelMode::Direct).await;
    let r = f
        .apply(&[
            (p("172.17.9.0/24"), vec![a("10.99.99.1")]),
            (p("172.17.10.0/24"), vec![a("192.168.100.101")]),
        ])
        .await;
    assert_eq!(r.installed, 1, "the good route still goes in");
    assert_eq!(r.errors.len(), 1);
    assert!(matches!(r.errors[0].1, FibError::Unreachable(_)));
    let mut c = cfg(TunnelMode::IpipAlways);
    c.tunnel_device = "nosuch0".into();
    let f2 = Fib::new(c).await.unwrap();
    let r = f2
        .apply(&[(p("172.17.11.0/24"), vec![a("192.168.100.101")])])
        .await;
    assert!(matches!(r.errors[0].1, FibError::NoTunnel(_)));
    // A kernel refusal: the device went away after the FIB learned it.
    common::run(
        "ip link add eth9 type veth peer name eth9p && ip addr add 10.9.0.1/24 dev eth9 && ip link set eth9 up",
    );
    let mut f3 = fib(TunnelMode::Direct).await;
    f3.refresh_links().await.unwrap();
    // Three writes per datagram: acknowledgements must map back across datagrams.
    let mut small = cfg(TunnelMode::Direct);
    small.batch = 3;
    let f4 = Fib::new(small).await.unwrap();
    assert!(
        Command::new("ip")
            .args(["link", "del", "eth9"])
            .status()
            .unwrap()
            .success()
    );
    let r = f3
        .apply(&[(p("172.17.12.0/24"), vec![a("10.9.0.7")])])
        .await;
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(
        r.errors[0].1.kind(),
        "errno-19",
        "ENODEV: {:?}",
        r.errors[0].1
    );
    let mixed: Vec<_> = (0..9u8)
        .map(|i| {
            let nh = if i == 4 {
                "10.9.0.7"
            } else {
                "192.168.100.101"
            };
            (p(&format!("172.18.{i}.0/24")), vec![a(nh)])
        })
        .collect();
    let r = f4.apply(&mixed).await;
    assert_eq!(r.installed, 8, "{:?}", r.errors);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        r.errors[0].0,
        p("172.18.4.0/24"),
        "the refusal belongs to its route"
    );
    let in_table = f4.routes().await.unwrap();
    assert!(in_table.contains_key(&p("172.18.8.0/24")));
    assert!(!in_table.contains_key(&p("172.18.4.0/24")));
});

netns_test!(
    an_ipv4_route_with_an_ipv6_next_hop_goes_via_inet6,
    inner_via_inet6,
    {
        common::run("ip -6 addr add fd00:100::100/64 dev eth0 nodad");
        let f = fib(TunnelMode::IpipCrossSubnet).await;
        let r = f
            .apply(&[
                (p("172.17.9.0/24"), vec![a("fd00:100::101")]),
                (
                    p("172.17.10.0/24"),
                    vec![a("fd00:100::101"), a("192.168.100.102")],
                ),
            ])
            .await;
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let text = ip_route();
        // IPv6 next hops are never tunnelled (the tunnel is IPv4 in IPv4).
        assert!(
            text.contains("172.17.9.0/24 via inet6 fd00:100::101 dev eth0 onlink"),
            "{text}"
        );
        assert!(
            text.contains("nexthop via inet6 fd00:100::101 dev eth0 weight 1 onlink"),
            "{text}"
        );
        // Read back as installed: reconciling again changes nothing.
        let routes = f.routes().await.unwrap();
        assert_eq!(
            routes[&p("172.17.9.0/24")],
            vec![Hop {
                via: a("fd00:100::101"),
                ifindex: ifindex("eth0")
            }]
        );
        let want: HashMap<IpNet, Vec<IpAddr>> = [
            (p("172.17.9.0/24"), vec![a("fd00:100::101")]),
            (
                p("172.17.10.0/24"),
                vec![a("fd00:100::101"), a("192.168.100.102")],
            ),
        ]
        .into_iter()
        .collect();
        let done = f.reconcile(&want).await.unwrap();
        assert_eq!(done.0.unchanged, 2, "{done:?}");
    }
);

netns_test!(
    an_ecmp_set_keeps_the_next_hops_that_have_a_device,
    inner_ecmp_partial,
    {
        // Cross-subnet with no tunnel device: 10.99.99.1 has no way; the direct hop stays.
        let mut c = cfg(TunnelMode::IpipCrossSubnet);
        c.tunnel_device = "nosuch0".into();
        let f = Fib::new(c).await.unwrap();
        let set = vec![a("192.168.100.101"), a("10.99.99.1")];
        let r = f.apply(&[(p("172.17.12.0/24"), set)]).await;
        assert_eq!((r.installed, r.errors.len()), (1, 0), "{:?}", r.errors);
        let text = ip_route();
        assert!(
            text.contains("172.17.12.0/24 via 192.168.100.101 dev eth0"),
            "{text}"
        );
        // With no next hop left, the route is refused and reported.
        let r = f
            .apply(&[(p("172.17.13.0/24"), vec![a("10.99.99.1")])])
            .await;
        assert!(
            matches!(r.errors[0].1, FibError::NoTunnel(_)),
            "{:?}",
            r.errors
        );
    }
);
