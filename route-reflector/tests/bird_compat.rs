//! Our `bird` in calico-node's place: started as calico-node starts BIRD, with a
//! configuration Calico's confd rendered (its addresses moved onto the test segment), it
//! peers with real BIRD 2 and FRR nodes as a node-to-node mesh, writes their routes into
//! its namespace's kernel as Calico's kernel filter says, answers `birdcl`/`birdc` on its
//! control socket so that calico-node's liveness and readiness rules (re-implemented
//! in `calico_node/` from `node/pkg/health/` of projectcalico/calico) pass, reloads on SIGHUP with a
//! changed peer set, refuses a broken reload keeping what runs, and stops on SIGTERM.

mod calico_node;
mod segment;

use std::io::Write;
use std::process::{Command, Stdio};

use calico_node::*;
use segment::*;

/// The kernel as Calico's filter wants it: 172.16/16 direct on the segment, 192.168/16
/// through tunl0, 172.17/16 left to Felix; onlink, protocol bird.
fn kernel_follows_the_filter(n: &Node) {
    n.wait("kernel routes", || {
        [
            "172.16.2.0/26 via 10.11.0.2 dev eth0 onlink",
            "192.168.2.0/26 via 10.11.0.2 dev tunl0 onlink",
            "172.16.3.0/26 via 10.11.0.3 dev eth0 onlink",
            "192.168.3.0/26 via 10.11.0.3 dev tunl0 onlink",
            // The node's blocks (bird_aggr.cfg's static blackholes), which the kernel
            // filter accepts, as BIRD writes them.
            "blackhole 192.168.221.64/26",
            "blackhole 192.168.221.192/26",
            "blackhole 10.0.0.0/30",
        ]
        .iter()
        .all(|r| n.has(r))
    });
    assert!(
        !n.routes().iter().any(|r| r.starts_with("172.17.")),
        "{:?}",
        n.routes()
    );
}

/// Our blocks (the static blackholes of bird_aggr.cfg) and what the kernel protocol
/// learns (a block's blackhole, a workload route on a cali device) reach the peers.
fn announcements_reach_the_peers(n: &Node, bird: &Bird) {
    n.ns.sh("ip route add blackhole 172.16.77.0/26 && \
             ip link add cali1234 type veth peer name cali1234p && \
             ip link set cali1234p up && ip link set cali1234 up && \
             ip route add 172.16.1.5/32 dev cali1234")
        .unwrap();
    for prefix in ["192.168.221.64/26", "172.16.77.0/26", "172.16.1.5/32"] {
        n.wait(&format!("{prefix} at the BIRD node"), || {
            bird.birdc(&format!("show route {prefix}"))
                .is_ok_and(|o| o.contains(prefix) && o.contains("Mesh_10_11_0_1"))
        });
    }
}

/// `birdcl -s SOCK CMD` and `birdc -s SOCK` fed on stdin.
fn clients_work(n: &Node) {
    let protocols = birdcl(&n.socket, "show protocols");
    assert!(protocols.starts_with("BIRD "), "{protocols}");
    for name in [
        "kernel1",
        "device1",
        "direct1",
        "static1",
        "Mesh_10_11_0_2",
        "Mesh_10_11_0_3",
    ] {
        assert!(protocols.contains(name), "{protocols}");
    }
    let mut birdc = Command::new("birdc")
        .arg("-s")
        .arg(&n.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    birdc
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"show protocols all Mesh_10_11_0_2\nshow route for 172.16.2.9\n\
              show route protocol static1\nshow nonsense\nquit\n",
        )
        .unwrap();
    let out = birdc.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Neighbor address: 10.11.0.2"), "{text}");
    assert!(
        text.contains("via 10.11.0.2 on eth0 [Mesh_10_11_0_2"),
        "{text}"
    );
    assert!(text.contains("172.16.2.0/26"), "{text}");
    assert!(text.contains("192.168.221.64/26"), "{text}");
    assert!(text.contains("blackhole [static1"), "{text}");
}

/// SIGHUP with FRR's peer removed and a second BIRD node added: the first BIRD session is
/// not touched, FRR's routes go, the new node's come, and a prefix both BIRD nodes
/// announce is written as ECMP (`merge paths on`).
fn reload_swaps_a_peer(n: &Node, bird: &Bird, bird2: &Bird) {
    let before = bird.birdc("show protocols").unwrap();
    write_config(&n.seg.dir, &[2, 4]);
    n.hup();
    n.wait("the new peer", || {
        peers(&n.socket, '.').is_ok_and(|ps| {
            ps.iter()
                .any(|p| p.ip == "10.11.0.4" && p.bgp_state == "Established")
                && !ps.iter().any(|p| p.ip == "10.11.0.3")
        })
    });
    n.wait("FRR's routes gone, the new node's in", || {
        !n.routes().iter().any(|l| l.contains("via 10.11.0.3"))
            && n.has("172.16.4.0/26 via 10.11.0.4 dev eth0 onlink")
    });
    n.wait("ECMP over both BIRD nodes", || {
        let r =
            n.ns.sh("ip route show 172.16.99.0/26 proto bird")
                .unwrap_or_default();
        r.contains("nexthop via 10.11.0.2 dev eth0") && r.contains("nexthop via 10.11.0.4 dev eth0")
    });
    assert!(bird2.birdc("show route 192.168.221.64/26").is_ok());
    let m = n.metrics();
    assert!(
        m.contains("bgp_best_routes") && m.contains("\"10.11.0.4\""),
        "{m}"
    );
    assert!(
        !m.contains("\"10.11.0.3\""),
        "the removed peer's series go\n{m}"
    );
    let after = bird.birdc("show protocols").unwrap();
    assert_eq!(
        since(&before, "Mesh_10_11_0_1"),
        since(&after, "Mesh_10_11_0_1"),
        "the untouched session stayed up\n{before}\n{after}"
    );
}

/// IPAM gives the node a new block: confd renders `bird_aggr.cfg` with one more static
/// blackhole and one more accept in `calico_aggr()`, then SIGHUP. The block is announced
/// and the export filter change is applied in place: the sessions stay up.
fn new_block_in_place(n: &Node, bird: &Bird) {
    let before = bird.birdc("show protocols").unwrap();
    let aggr = n.seg.path("bird_aggr.cfg");
    let text = std::fs::read_to_string(&aggr)
        .unwrap()
        .replace(
            "   route 192.168.221.64/26 blackhole;",
            "   route 192.168.221.64/26 blackhole;\n   route 192.168.222.0/26 blackhole;",
        )
        .replace(
            "      # Block 192.168.221.64/26 is confirmed",
            "      if ( net = 192.168.222.0/26 ) then { accept; }\n      \
             if ( net ~ 192.168.222.0/26 ) then { reject; }\n      \
             # Block 192.168.221.64/26 is confirmed",
        );
    std::fs::write(&aggr, text).unwrap();
    n.hup();
    n.wait("the new block's blackhole in our kernel", || {
        n.has("blackhole 192.168.222.0/26")
    });
    n.wait("the new block at the BIRD node", || {
        bird.birdc("show route 192.168.222.0/26")
            .is_ok_and(|o| o.contains("Mesh_10_11_0_1"))
    });
    let after = bird.birdc("show protocols").unwrap();
    assert_eq!(
        since(&before, "Mesh_10_11_0_1"),
        since(&after, "Mesh_10_11_0_1"),
        "the session stayed up\n{before}\n{after}"
    );
}

/// A broken file: refused with its position, the running configuration stays.
fn broken_reload_is_refused(n: &mut Node) {
    std::fs::write(&n.cfg, "router id 10.11.0.1;\nprotocol bgp Mesh_x {\n").unwrap();
    n.hup();
    let reply = birdcl(&n.socket, "configure");
    assert!(reply.contains("bird.cfg:3:1"), "{reply}");
    let check = birdcl(&n.socket, "configure check");
    assert!(check.contains("bird.cfg:3:1"), "{check}");
    assert!(n.proc.running());
    assert_eq!(ready(&n.socket, true), Ok(()));
    write_config(&n.seg.dir, &[2, 4]);
    assert!(birdcl(&n.socket, "configure check").contains("Configuration OK"));
}

/// `disable` and `enable` as birdc sends them. A disabled protocol's row is `down` with an
/// empty info column, as in BIRD, which calico-node's reader passes over (fewer than six
/// columns).
fn disable_and_enable(n: &Node, bird2: &Bird) {
    let reply = birdcl(&n.socket, "disable Mesh_10_11_0_4");
    assert!(reply.contains("Mesh_10_11_0_4: disabled"), "{reply}");
    n.wait("the disabled peer down", || {
        birdcl(&n.socket, "show protocols Mesh_10_11_0_4")
            .lines()
            .any(|l| l.starts_with("Mesh_10_11_0_4") && l.split_whitespace().nth(3) == Some("down"))
            && peers(&n.socket, '.').is_ok_and(|ps| !ps.iter().any(|p| p.ip == "10.11.0.4"))
    });
    n.wait("the BIRD node sees the session gone", || {
        !bird2
            .birdc("show protocols Mesh_10_11_0_1")
            .unwrap_or_default()
            .contains("Established")
    });
    assert_eq!(
        ready(&n.socket, false),
        Ok(()),
        "one peer up is enough later on"
    );
    let reply = birdcl(&n.socket, "enable Mesh_10_11_0_4");
    assert!(reply.contains("Mesh_10_11_0_4: enabled"), "{reply}");
    n.wait("the peer back", || ready(&n.socket, true).is_ok());
}

/// The whole calico-node life: start with -R before the peers are up (recovery shown),
/// mesh with BIRD and FRR, kernel routes, health rules, birdc, reloads, stop.
#[test]
fn calico_node_runs_our_bird_in_a_mesh_with_bird_and_frr() {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new("bc");
    let bird_ns = seg.host("bird", 2);
    let frr_ns = seg.host("frr", 3);
    let bird2_ns = seg.host("bird2", 4);
    let mut n = Node::start(seg, |dir| write_config(dir, &[2, 3]));

    // Before any peer is up: restarting, recovery shown, not ready at startup.
    assert_eq!(graceful_restart_in_progress(&n.socket), Ok(true));
    let status = birdcl(&n.socket, "show status");
    assert!(
        status.contains("Graceful restart recovery in progress"),
        "{status}"
    );
    assert!(ready(&n.socket, true).is_err());

    let bird = Bird::start(
        &bird_ns,
        &n.seg.path("bird-node"),
        &bird_node_conf(2, 64512),
    )
    .unwrap();
    let _frr = Frr::start(
        &frr_ns,
        &n.seg.path("frr"),
        "0.0.0.0",
        &frr_node_conf(64512),
    )
    .unwrap();
    n.wait("calico-node readiness", || ready(&n.socket, true).is_ok());
    let ps = peers(&n.socket, '.').unwrap();
    assert_eq!(ps.len(), 2, "{ps:?}");
    assert!(ps.iter().all(|p| p.bgp_state == "Established"), "{ps:?}");
    assert_eq!(graceful_restart_in_progress(&n.socket), Ok(false));
    assert!(live(&n.socket));

    kernel_follows_the_filter(&n);
    announcements_reach_the_peers(&n, &bird);
    clients_work(&n);
    let bird2 = Bird::start(
        &bird2_ns,
        &n.seg.path("bird-node2"),
        &bird_node_conf(4, 64512),
    )
    .unwrap();
    reload_swaps_a_peer(&n, &bird, &bird2);
    new_block_in_place(&n, &bird);
    broken_reload_is_refused(&mut n);
    disable_and_enable(&n, &bird2);

    // SIGTERM: a graceful stop; `persist` keeps the kernel routes, the socket and the pid
    // file go.
    assert!(n.proc.stop(), "exit status 0 on SIGTERM\n{}", n.seg.logs());
    assert!(!n.socket.exists() && !n.pid_file.exists());
    assert!(
        n.has("172.16.2.0/26 via 10.11.0.2 dev eth0 onlink")
            && n.has("blackhole 192.168.221.64/26"),
        "{:?}",
        n.routes()
    );
}

/// Our bird as Calico's route reflector node (`rr client` peers named `Node_...`) with a
/// BIRD 2 and an FRR client: each client's pool routes reach the other reflected
/// (originator ID and cluster list as RFC 4456 says), routes outside the pools are not
/// exported but do reach our kernel (the filter leaves 192.168/16 to Felix), and
/// calico-node's readiness passes with the `Node_` rows.
#[test]
fn calico_route_reflector_with_bird_and_frr_clients() {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new("br");
    let bird_ns = seg.host("bird", 2);
    let frr_ns = seg.host("frr", 3);
    let n = Node::start(seg, write_reflector_config);
    let bird = Bird::start(
        &bird_ns,
        &n.seg.path("bird-node"),
        &bird_node_conf(2, 64532),
    )
    .unwrap();
    let frr = Frr::start(
        &frr_ns,
        &n.seg.path("frr"),
        "0.0.0.0",
        &frr_node_conf(64532),
    )
    .unwrap();
    n.wait("calico-node readiness", || ready(&n.socket, true).is_ok());
    let names: Vec<String> = peers(&n.socket, '.')
        .unwrap()
        .into_iter()
        .map(|p| p.ip)
        .collect();
    assert_eq!(names, ["10.11.0.2", "10.11.0.3"]);
    let protocols = birdcl(&n.socket, "show protocols");
    assert!(
        protocols.contains("Node_10_11_0_2") && protocols.contains("Node_10_11_0_3"),
        "{protocols}"
    );

    n.wait("BIRD's pool block reflected to FRR", || {
        let v = frr.json("show bgp ipv4 unicast 192.168.2.0/26 json");
        v["paths"][0]["originatorId"] == "10.11.0.2"
            && v["paths"][0]["clusterList"]["list"][0] == "10.0.0.1"
    });
    n.wait("FRR's pool block reflected to BIRD", || {
        bird.birdc("show route all 192.168.3.0/26").is_ok_and(|o| {
            o.contains("BGP.originator_id: 10.11.0.3") && o.contains("BGP.cluster_list: 10.0.0.1")
        })
    });
    n.wait("the route outside the pools in our kernel", || {
        n.has("10.50.2.0/24 via 10.11.0.2 dev eth0 onlink")
    });
    assert!(
        !n.routes().iter().any(|r| r.contains("192.168.")),
        "the pool is Felix's, blackholes too: {:?}",
        n.routes()
    );
    assert!(n.has("blackhole 10.1.0.0/24"), "{:?}", n.routes());
    let v = frr.json("show bgp ipv4 unicast 10.50.2.0/24 json");
    assert!(
        v["paths"].as_array().is_none_or(|p| p.is_empty()),
        "not exported: {v}"
    );
    let detail = birdcl(&n.socket, "show protocols all Node_10_11_0_3");
    assert!(
        detail.contains("Session:          internal multihop route-reflector AS4"),
        "{detail}"
    );

    // A kernel filter change (one more pool left to Felix) cannot be applied in place:
    // the speaker restarts gracefully; the clients keep the reflected routes meanwhile,
    // the sessions come back, and the pool's route leaves our kernel.
    let ipam = n.seg.path("bird_ipam.cfg");
    let text = std::fs::read_to_string(&ipam).unwrap().replace(
        "  if (net ~ 192.168.0.0/16) then { reject; }",
        "  if (net ~ 10.50.0.0/16) then { reject; }\n  if (net ~ 192.168.0.0/16) then { reject; }",
    );
    std::fs::write(&ipam, text).unwrap();
    n.hup();
    n.wait("the pool's route out of our kernel", || {
        !n.routes().iter().any(|r| r.starts_with("10.50."))
    });
    n.wait("readiness after the restart", || {
        ready(&n.socket, true).is_ok()
    });
    let v = frr.json("show bgp ipv4 unicast 192.168.2.0/26 json");
    assert_eq!(v["paths"][0]["originatorId"], "10.11.0.2", "{v}");
}

/// Calico's IPv6 mesh (VXLAN pool `dead:beef::/64` left to Felix) moved onto the
/// segment's fd00:11::/64, run by our `bird6` with BIRD 2 and FRR nodes over IPv6:
/// calico-node's IPv6 readiness (names with `_` for `:`), routes outside the pool in our
/// kernel, none of the pool, a learned block blackhole announced.
#[test]
fn calico_ipv6_mesh_with_bird6() {
    if !can_run(true, true, false) {
        return;
    }
    let moved6 = |t: &str| {
        t.replace("router id 10.192.0.2", "router id 10.11.0.1")
            .replace("fdf5:10::2", "fd00:11::1")
            .replace("fdf5:10::3", "fd00:11::2")
            .replace("fdf5:10::4", "fd00:11::3")
            .replace("Mesh_fdf5_10__3", "Mesh_fd00_11__2")
            .replace("Mesh_fdf5_10__4", "Mesh_fd00_11__3")
    };
    let seg = Segment::new("b6");
    let bird_ns = seg.host("bird", 2);
    let frr_ns = seg.host("frr", 3);
    let n = Node::start_program(seg, env!("CARGO_BIN_EXE_bird6"), |dir| {
        for f in ["bird6.cfg", "bird6_aggr.cfg", "bird6_ipam.cfg"] {
            let text = moved6(&read(&format!("mesh/vxlan-always/{f}")));
            std::fs::write(dir.join(f), text).unwrap();
        }
        dir.join("bird6.cfg")
    });
    let bird = Bird::start(
        &bird_ns,
        &n.seg.path("bird-node"),
        &bird_conf(
            "router id 10.11.0.2;\n\
             protocol direct { ipv6; interface \"eth0\"; }\n\
             protocol static { ipv6; route fd00:99:2::/64 blackhole; \
               route dead:beef::80/122 blackhole; }\n\
             protocol bgp Mesh_fd00_11__1 { local fd00:11::2 as 64512; \
               neighbor fd00:11::1 as 64512; graceful restart; connect delay time 1; \
               connect retry time 1; error wait time 1,2;\n\
               ipv6 { import all; export where proto = \"static1\"; }; }\n",
        ),
    )
    .unwrap();
    let _frr = Frr::start(
        &frr_ns,
        &n.seg.path("frr"),
        "::",
        &frr_conf(
            64512,
            "10.11.0.3",
            " no bgp default ipv4-unicast\n no bgp network import-check\n bgp graceful-restart\n\
             neighbor fd00:11::1 remote-as 64512\n neighbor fd00:11::1 timers connect 1\n\
             address-family ipv6 unicast\n  network fd00:99:3::/64\n\
             neighbor fd00:11::1 activate\n exit-address-family\n",
        ),
    )
    .unwrap();
    n.wait("calico-node IPv6 readiness", || {
        readiness(&n.socket, ':', true).is_ok()
    });
    let ips: Vec<String> = peers(&n.socket, ':')
        .unwrap()
        .into_iter()
        .map(|p| p.ip)
        .collect();
    assert_eq!(ips, ["fd00:11::2", "fd00:11::3"]);
    assert!(live(&n.socket));
    n.wait("IPv6 routes in our kernel", || {
        n.has("fd00:99:2::/64 via fd00:11::2 dev eth0 metric 1024 onlink pref medium")
            && n.has("fd00:99:3::/64 via fd00:11::3 dev eth0 metric 1024 onlink pref medium")
    });
    assert!(
        !n.routes().iter().any(|r| r.starts_with("dead:beef")),
        "{:?}",
        n.routes()
    );
    n.ns.sh("ip -6 route add blackhole dead:beef::40/122")
        .unwrap();
    n.wait("the learned block at the BIRD node", || {
        bird.birdc("show route dead:beef::40/122")
            .is_ok_and(|o| o.contains("Mesh_fd00_11__1"))
    });
}
