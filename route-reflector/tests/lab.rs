//! The lab (`rr-lab`) as an integration test: two racks of nodes with pod namespaces, our
//! reflectors on the top-of-rack routers (or FRR in rack B), the node agents; convergence
//! and the pod-to-pod ping matrix, then a node agent killed and restarted and a reflector
//! restarted under ping streams (the loss is measured), and a node and a pod added at run
//! time (the convergence is timed). Needs root; under `CI=true` missing namespace support or
//! FRR fails the test.

#[path = "../src/bin/rr-lab/daemons.rs"]
mod daemons;
#[path = "../src/bin/rr-lab/lab.rs"]
mod lab;
#[path = "../src/bin/rr-lab/netns.rs"]
mod netns;

use std::time::{Duration, Instant};

use lab::{Binaries, Lab, Loss, Options};

fn binaries() -> Binaries {
    Binaries {
        reflector: env!("CARGO_BIN_EXE_route-reflector").into(),
        agent: env!("CARGO_BIN_EXE_node-agent").into(),
    }
}

/// None (the test skips) when this machine cannot run the lab outside CI.
fn lab(tag: &str, frr_rack_b: bool, ipip: bool) -> Option<Lab> {
    lab_with(tag, frr_rack_b, ipip, false)
}

fn lab_with(tag: &str, frr_rack_b: bool, ipip: bool, dual_stack: bool) -> Option<Lab> {
    let ci = std::env::var("CI").is_ok();
    if !netns::netns_available() {
        assert!(!ci, "network namespaces are required under CI");
        eprintln!("skipped: cannot create network namespaces here");
        return None;
    }
    if frr_rack_b && !daemons::Frr::installed() {
        assert!(!ci, "FRR is required under CI");
        eprintln!("skipped: FRR is not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("rr-lab-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options {
        tag: format!("lt{}{tag}", std::process::id()),
        dir,
        frr_rack_b,
        hold_time: 9,
        ipip,
        tunnel_stand_in: ipip && !lab::kernel_has_ipip(&format!("lt{}{tag}", std::process::id())),
        dual_stack,
        bfd: false,
    };
    Some(Lab::up(binaries(), opts).expect("lab up"))
}

/// Fails with the lab's logs.
fn fail(lab: &Lab, what: &str) -> ! {
    let mut logs = String::new();
    if let Ok(rd) = std::fs::read_dir(&lab.opts.dir) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                logs.push_str(&format!("---- {} ----\n", e.path().display()));
                for l in tail.into_iter().rev() {
                    logs.push_str(l);
                    logs.push('\n');
                }
            }
        }
    }
    panic!("{what}\n{}\n{logs}", lab.report_routes());
}

fn converge(lab: &Lab, what: &str) -> Duration {
    match lab.wait_converged(Duration::from_secs(30)) {
        Ok(t) => t,
        Err(diff) => fail(lab, &format!("{what}: not converged:\n{diff}")),
    }
}

fn all_pods_reachable(lab: &Lab) {
    let (matrix, failed) = lab.ping_matrix();
    eprintln!("{matrix}");
    if !failed.is_empty() {
        fail(lab, &format!("unreachable pod pairs: {failed:?}"));
    }
}

/// The namespace and address of pod `name` (e.g. "a1p1").
fn pod(lab: &Lab, name: &str) -> (String, std::net::Ipv4Addr) {
    let p = lab.pods().into_iter().find(|p| p.0 == name).unwrap();
    (p.2, p.1)
}

fn stream(lab: &Lab, from: &str, to: &str) -> lab::PingStream {
    let (src, _) = pod(lab, from);
    let (_, dst) = pod(lab, to);
    lab.ping_stream(&src, dst, &format!("{from}-{to}")).unwrap()
}

/// Ends the ping streams a second after convergence; each must have sent over 200 echoes
/// and lost none during `what`.
fn no_loss<const N: usize>(streams: [lab::PingStream; N], what: &str) {
    std::thread::sleep(Duration::from_secs(1));
    let losses: Vec<Loss> = streams.into_iter().map(|s| s.finish().unwrap()).collect();
    eprintln!("{what}: {losses:?}");
    for l in &losses {
        assert!(l.sent > 200, "{what}: {l}");
        assert_eq!(l.lost(), 0, "traffic lost ({what}): {l}");
    }
}

fn index_of(lab: &Lab, node: &str) -> usize {
    lab.nodes.iter().position(|n| n.name == node).unwrap()
}

/// The dual-stack variant: IPv6 blocks in every kernel (nodes and ToRs) and every pod
/// reaching every other over IPv4 and over IPv6.
#[test]
fn the_dual_stack_lab() {
    let Some(lab) = lab_with("d", false, false, true) else {
        return;
    };
    converge(&lab, "start");
    all_pods_reachable(&lab);
    let (matrix, failed) = lab.ping_matrix6();
    eprintln!("{matrix}");
    if !failed.is_empty() {
        fail(
            &lab,
            &format!("unreachable pod pairs over IPv6: {failed:?}"),
        );
    }
    let a1 = lab.node_ns(0);
    let routes = a1.sh("ip -6 route show proto bgp").unwrap_or_default();
    assert!(
        routes.contains("2001:db8:12::/64 via fd00:100::12 dev eth0"),
        "{routes}"
    );
}

#[test]
fn the_two_rack_lab_with_our_reflectors() {
    let Some(mut lab) = lab("a", false, false) else {
        return;
    };
    converge(&lab, "start");
    eprintln!(
        "converged {:.2?} after the first daemon started",
        lab.started.elapsed()
    );
    all_pods_reachable(&lab);
    // The reflectors show what they reflect; the second reflector of rack A has the same
    // routes as the ToR's.
    let bin = lab.reflector_binary().to_path_buf();
    let tor_a = lab.reflectors.iter().find(|r| r.name == "tor-a").unwrap();
    let (_, routes, _) = tor_a.cli(&bin, &["show", "routes"]);
    assert!(routes.contains("6 prefixes"), "{routes}");
    assert_eq!(tor_a.sessions(&bin), (5, 5), "3 nodes, rr-a2, ToR B");

    // A node's agent dies and comes back (graceful restart): its pods stay reachable from
    // its rack and the other one, and it keeps reaching the others.
    let a1 = index_of(&lab, "a1");
    let streams = [
        stream(&lab, "b1p1", "a1p1"),
        stream(&lab, "a2p1", "a1p2"),
        stream(&lab, "a1p1", "b2p1"),
    ];
    std::thread::sleep(Duration::from_millis(500));
    lab.kill_agent(a1);
    std::thread::sleep(Duration::from_secs(2));
    // While it is down, every kernel still holds every block.
    if !lab.differences().is_empty() {
        fail(&lab, "routes lost while a node's agent was down");
    }
    lab.start_agent(a1, true).unwrap();
    let back = netns::wait_for(Duration::from_secs(30), || {
        lab.reflectors
            .iter()
            .filter(|r| r.name == "tor-a" || r.name == "rr-a2")
            .all(|r| r.sessions(&bin).0 == r.sessions(&bin).1)
    });
    if back.is_none() {
        fail(&lab, "the restarted agent's sessions did not come back");
    }
    converge(&lab, "after the node agent's restart");
    no_loss(streams, "node agent killed and restarted");

    // Rack A's ToR reflector restarts (graceful, SIGTERM then `run --graceful-restart`)
    // while rack A's second reflector keeps the rack's routes up.
    let streams = [stream(&lab, "a1p1", "b1p1"), stream(&lab, "a2p2", "a3p1")];
    std::thread::sleep(Duration::from_millis(500));
    let tor_a = lab.reflector("tor-a").unwrap();
    assert!(tor_a.stop(), "clean exit on SIGTERM");
    std::thread::sleep(Duration::from_secs(2));
    if !lab.differences().is_empty() {
        fail(&lab, "routes lost while the ToR reflector was down");
    }
    lab.reflector("tor-a").unwrap().restart(&bin, true).unwrap();
    let back = netns::wait_for(Duration::from_secs(30), || {
        let r = lab.reflectors.iter().find(|r| r.name == "tor-a").unwrap();
        r.sessions(&bin) == (5, 5)
    });
    if back.is_none() {
        fail(&lab, "the restarted reflector's sessions did not come back");
    }
    converge(&lab, "after the reflector's restart");
    no_loss(streams, "ToR reflector restarted");

    // A new node joins rack A (the reflectors accept it from the rack's range) with a pod.
    let t0 = Instant::now();
    let a4 = lab.add_node(0).unwrap();
    let (addr, _) = lab.add_pod(a4).unwrap();
    converge(&lab, "after a node joined");
    let routes = t0.elapsed();
    let (src, _) = pod(&lab, "b3p2");
    if netns::wait_for(Duration::from_secs(10), || lab::ping_once(&src, addr)).is_none() {
        fail(&lab, "the new node's pod is unreachable from rack B");
    }
    eprintln!(
        "node a4 joined: every kernel held its block {routes:.2?} after its namespace was \
         made, its pod answered from rack B {:.2?} after",
        t0.elapsed()
    );
    // A new pod on an existing node: inside the node's block, reachable at once.
    let b2 = index_of(&lab, "b2");
    let t0 = Instant::now();
    let (addr, _) = lab.add_pod(b2).unwrap();
    let (src, _) = pod(&lab, "a4p1");
    let reach = netns::wait_for(Duration::from_secs(10), || lab::ping_once(&src, addr));
    assert!(reach.is_some(), "the new pod is unreachable");
    eprintln!(
        "pod on b2 added: reachable from a4p1 {:.2?} after",
        t0.elapsed()
    );
    all_pods_reachable(&lab);
}

#[test]
fn the_two_rack_lab_with_frr_in_rack_b() {
    let Some(lab) = lab("f", true, false) else {
        return;
    };
    converge(&lab, "start");
    eprintln!(
        "converged {:.2?} after the first daemon started (FRR in rack B)",
        lab.started.elapsed()
    );
    all_pods_reachable(&lab);
    let frr = lab.frr.as_ref().unwrap();
    // FRR learned rack A's blocks over eBGP from our reflector, and reflects its nodes'.
    let v = frr.json("show bgp ipv4 unicast json");
    let routes = v["routes"].as_object().cloned().unwrap_or_default();
    assert_eq!(routes.len(), 6, "{v}");
    let p = &v["routes"]["172.17.11.0/24"][0];
    assert_eq!(p["path"], "65001", "{p}");
}

#[test]
fn the_ipip_cross_subnet_variant() {
    let Some(lab) = lab("i", false, true) else {
        return;
    };
    // Every node holds the blocks of its rack via their nodes on eth0 and the other rack's
    // via their nodes through tunl0; the router in between holds no pod route.
    converge(&lab, "start");
    if !lab.opts.tunnel_stand_in {
        eprintln!("IPIP variant with real ipip devices");
        all_pods_reachable(&lab);
        return;
    }
    // Without ipip in this kernel tunl0 is a stand-in (a veth end): the routes through it
    // are programmed for real, but only in-rack traffic can pass.
    eprintln!("IPIP variant not run with real tunnels (no ipip in this kernel): stand-in tunl0");
    let pods = lab.pods();
    for (from, _, ns) in &pods {
        for (to, addr, _) in &pods {
            if from != to && from[..1] == to[..1] {
                assert!(lab::ping_once(ns, *addr), "{from} -> {to} in one rack");
            }
        }
    }
}
