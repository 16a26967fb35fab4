//! Interop with real FRR, BIRD 2 and GoBGP daemons (Debian packages). Each test builds its
//! own segment (a bridge in a hub namespace, one namespace per daemon on a veth), writes
//! the configs, waits on state through each daemon's own CLI (vtysh, birdc, gobgp), and
//! removes everything when it ends. Our side runs as processes: `route-reflector` and
//! `node-agent`. Needs root; under `CI=true` a missing daemon or namespace support fails.

mod segment;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use segment::*;

/// (originator ID, cluster list) of `prefix` as FRR holds it.
fn frr_reflection(frr: &Frr, afi: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let v = frr.json(&format!("show bgp {afi} unicast {prefix} json"));
    let p = v["paths"].as_array()?.first()?.clone();
    let list = p["clusterList"]["list"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    Some((p["originatorId"].as_str()?.to_string(), list))
}

/// (originator ID, cluster list) of `prefix` as BIRD shows it.
fn bird_reflection(bird: &Bird, prefix: &str) -> Option<(String, Vec<String>)> {
    let out = bird.birdc(&format!("show route {prefix} all")).ok()?;
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let originator = field("BGP.originator_id:")?;
    let clusters = field("BGP.cluster_list:")?
        .split_whitespace()
        .map(String::from)
        .collect();
    Some((originator, clusters))
}

/// (originator ID, cluster list) of `prefix` as GoBGP holds it.
fn gobgp_reflection(g: &Gobgp, afi: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let v = g.json(&["global", "rib", "-a", afi, prefix]);
    let path = v[prefix].as_array()?.first()?.clone();
    let attrs = path["attrs"].as_array()?;
    let originator = attrs.iter().find(|a| a["type"] == 9)?["value"]
        .as_str()?
        .to_string();
    let clusters = attrs.iter().find(|a| a["type"] == 10)?["value"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    Some((originator, clusters))
}

#[test]
fn our_reflector_with_frr_bird_and_gobgp_clients_ipv4_and_ipv6() {
    if !can_run(true, true, true) {
        return;
    }
    let seg = Segment::new("c");
    let rr_ns = seg.host("rr", 1);
    let frr_ns = seg.host("frr", 2);
    let bird_ns = seg.host("bird", 3);
    let gobgp_ns = seg.host("gobgp", 4);
    let mut cfg = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    for h in 2..=4 {
        cfg.push_str(&format!(
            "[[client]]\naddress = \"10.11.0.{h}\"\n[[client]]\naddress = \"fd00:11::{h}\"\n"
        ));
    }
    let rr = seg.reflector(&rr_ns, "rr", &cfg, false);
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_client_conf(2, "172.20.2.0/24", "fd00:20:2::/48"),
    )
    .unwrap();
    let bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.3;\n\
             protocol static s4 { ipv4; route 172.20.3.0/24 blackhole; }\n\
             protocol static s6 { ipv6; route fd00:20:3::/48 blackhole; }\n\
             protocol bgp rr4 { local 10.11.0.3 as 65000; neighbor 10.11.0.1 as 65000;\n\
               hold time 9; connect retry time 1; direct;\n\
               ipv4 { import all; export all; next hop self; }; }\n\
             protocol bgp rr6 { local fd00:11::3 as 65000; neighbor fd00:11::1 as 65000;\n\
               hold time 9; connect retry time 1; direct;\n\
               ipv6 { import all; export all; next hop self; }; }\n",
        ),
    )
    .unwrap();
    let gobgp = Gobgp::start(
        &gobgp_ns,
        &seg.path("gobgp"),
        &format!(
            "[global.config]\n  as = 65000\n  router-id = \"10.11.0.4\"\n  port = -1\n{}{}",
            gobgp_neighbor("10.11.0.1", "ipv4-unicast"),
            gobgp_neighbor("fd00:11::1", "ipv6-unicast"),
        ),
    )
    .unwrap();
    gobgp
        .gobgp(&["global", "rib", "add", "172.20.4.0/24", "-a", "ipv4"])
        .unwrap();
    gobgp
        .gobgp(&["global", "rib", "add", "fd00:20:4::/48", "-a", "ipv6"])
        .unwrap();

    // Every client learns the other two clients' prefixes of both families, with
    // ORIGINATOR_ID the originating client's router ID and CLUSTER_LIST [10.11.0.1].
    let cluster = vec!["10.11.0.1".to_string()];
    let owners = [
        ("172.20.2.0/24", "fd00:20:2::/48", "10.11.0.2"),
        ("172.20.3.0/24", "fd00:20:3::/48", "10.11.0.3"),
        ("172.20.4.0/24", "fd00:20:4::/48", "10.11.0.4"),
    ];
    for (p4, p6, owner) in owners {
        let want = Some((owner.to_string(), cluster.clone()));
        if owner != "10.11.0.2" {
            seg.wait(&format!("FRR learns {p4} and {p6}"), || {
                frr_reflection(&frr, "ipv4", p4) == want && frr_reflection(&frr, "ipv6", p6) == want
            });
        }
        if owner != "10.11.0.3" {
            seg.wait(&format!("BIRD learns {p4} and {p6}"), || {
                bird_reflection(&bird, p4) == want && bird_reflection(&bird, p6) == want
            });
        }
        if owner != "10.11.0.4" {
            seg.wait(&format!("GoBGP learns {p4} and {p6}"), || {
                gobgp_reflection(&gobgp, "ipv4", p4) == want
                    && gobgp_reflection(&gobgp, "ipv6", p6) == want
            });
        }
    }
    // The reflector holds all six, each from its client, and every session is up.
    for (p4, p6, owner) in owners {
        assert_eq!(rr.paths(p4).len(), 1, "{p4}");
        assert_eq!(rr.paths(p4)[0]["from"], owner, "{p4}");
        assert_eq!(rr.paths(p6).len(), 1, "{p6}");
    }
    let summary = rr.cli(&["show", "summary"]);
    assert!(summary.contains("6 of 6 peers established"), "{summary}");
    // A withdrawal at one client reaches the others.
    gobgp
        .gobgp(&["global", "rib", "del", "172.20.4.0/24", "-a", "ipv4"])
        .unwrap();
    seg.wait("FRR and BIRD drop GoBGP's withdrawn prefix", || {
        frr_reflection(&frr, "ipv4", "172.20.4.0/24").is_none()
            && bird_reflection(&bird, "172.20.4.0/24").is_none()
    });
}

// ---------------------------------------------------------------------------------------
// Our speaker (the node agent) as a client of an FRR reflector and of a BIRD reflector.

/// Two node agents (10.11.0.2 and .3) under the reflector at 10.11.0.1: each installs the
/// other's block into its kernel via the other node.
fn two_agents_under(seg: &Segment) -> (Ns, Ns, Proc, Proc) {
    let n2 = seg.host("n2", 2);
    let n3 = seg.host("n3", 3);
    let a2 = seg.agent(
        &n2,
        "agent2",
        65000,
        "10.11.0.2",
        "10.11.0.1",
        "172.17.2.0/24",
    );
    let a3 = seg.agent(
        &n3,
        "agent3",
        65000,
        "10.11.0.3",
        "10.11.0.1",
        "172.17.3.0/24",
    );
    seg.wait("each agent installs the other's block", || {
        has_route(&n2, "172.17.3.0/24 via 10.11.0.3")
            && has_route(&n3, "172.17.2.0/24 via 10.11.0.2")
    });
    (n2, n3, a2, a3)
}

#[test]
fn our_speaker_as_a_client_of_an_frr_reflector() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("f");
    let rr_ns = seg.host("rr", 1);
    let frr = Frr::start(
        &rr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(
            65000,
            "10.11.0.1",
            " bgp cluster-id 10.11.0.1\n timers bgp 3 9\n neighbor nodes peer-group\n\
         neighbor nodes remote-as 65000\n bgp listen range 10.11.0.0/24 peer-group nodes\n\
         address-family ipv4 unicast\n  neighbor nodes route-reflector-client\n\
         exit-address-family\n",
        ),
    )
    .unwrap();
    let (_n2, _n3, _a2, _a3) = two_agents_under(&seg);
    // FRR reflected our routes: it holds both blocks from their nodes.
    for (block, node) in [
        ("172.17.2.0/24", "10.11.0.2"),
        ("172.17.3.0/24", "10.11.0.3"),
    ] {
        let v = frr.json(&format!("show bgp ipv4 unicast {block} json"));
        assert_eq!(v["paths"][0]["peer"]["peerId"], node, "{v}");
        assert_eq!(v["paths"][0]["nexthops"][0]["ip"], node, "{v}");
    }
}

#[test]
fn our_speaker_as_a_client_of_a_bird_reflector() {
    if !can_run(false, true, false) {
        return;
    }
    let seg = Segment::new("b");
    let rr_ns = seg.host("rr", 1);
    let mut body = String::from("router id 10.11.0.1;\n");
    for h in [2, 3] {
        body.push_str(&format!(
            "protocol bgp n{h} {{ local 10.11.0.1 as 65000; neighbor 10.11.0.{h} as 65000;\n\
             direct; rr client; rr cluster id 10.11.0.1; hold time 9;\n\
             ipv4 {{ import all; export all; }}; }}\n"
        ));
    }
    let bird = Bird::start(&rr_ns, &seg.path("bird"), &bird_conf(&body)).unwrap();
    let (_n2, _n3, _a2, _a3) = two_agents_under(&seg);
    for h in [2, 3] {
        assert_eq!(bird.protocol_info(&format!("n{h}")), "Established");
    }
    let out = bird.birdc("show route 172.17.2.0/24 all").unwrap();
    assert!(out.contains("via 10.11.0.2"), "{out}");
}

// ---------------------------------------------------------------------------------------
// eBGP between our reflector (AS 65001) and FRR (AS 65002) as another rack's router.

#[test]
fn ebgp_with_frr_next_hop_self_and_unchanged_multihop_with_policies() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("e");
    let (rr_ns, node_ns, frr_ns) = frr_hosts(&seg);
    // The reflector's loopback address for the multihop session, and FRR's second address.
    rr_ns.sh("ip addr add 10.99.0.1/32 dev lo").unwrap();
    frr_ns
        .sh("ip addr add 10.11.0.33/24 dev eth0 && ip route add 10.99.0.1/32 via 10.11.0.1")
        .unwrap();
    let mut cfg = reflector_head("10.11.0.1", 65001, &seg.dir, "rr");
    cfg.push_str(
        r#"[[client]]
address = "10.11.0.2"
next_hop = "self-external"
[[client]]
address = "10.11.0.4"

# Directly connected, next hop self.
[[ebgp]]
address = "10.11.0.3"
asn = 65002
local_address = "10.11.0.1"
next_hop = "self"
import = "from-frr"
export = "to-frr"

# Two hops (our loopback), the node's address passed on unchanged.
[[ebgp]]
address = "10.11.0.33"
asn = 65002
local_address = "10.99.0.1"
multihop = 2
next_hop = "unchanged"
import = "from-frr"
export = "to-frr"

[prefix_lists]
pods = ["172.17.0.0/16 le 26"]
theirs = ["172.18.0.0/24"]

[policies.to-frr]
default = "reject"
[[policies.to-frr.term]]
name = "pod blocks only"
match.prefix_list = "pods"
set.add_community = ["65001:100"]
verdict = "accept"

[policies.from-frr]
default = "reject"
[[policies.from-frr.term]]
name = "one prefix, preferred"
match.prefix_list = "theirs"
match.as_path = "^65002$"
set.local_pref = 200
verdict = "accept"
"#,
    );
    // Every part bound: a namespace dropped here would be removed with its processes.
    let FrrClientSetup {
        rr_ns: _rr_ns,
        node_ns,
        frr_ns: _frr_ns,
        rr,
        rr_config: _,
        agent,
        frr,
    } = start_with_frr(
        &seg,
        (rr_ns, node_ns, frr_ns),
        cfg,
        65001,
        65002,
        " no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 3 9\n\
         neighbor 10.11.0.1 remote-as 65001\n neighbor 10.11.0.1 timers connect 1\n\
         neighbor 10.11.0.1 advertisement-interval 0\n\
         neighbor 10.99.0.1 remote-as 65001\n neighbor 10.99.0.1 ebgp-multihop 2\n\
         neighbor 10.99.0.1 update-source 10.11.0.33\n neighbor 10.99.0.1 timers connect 1\n\
         neighbor 10.99.0.1 advertisement-interval 0\n\
         address-family ipv4 unicast\n  network 172.18.0.0/24\n  network 172.18.1.0/24\n\
         exit-address-family\n",
    );
    // A second node announces a block outside the pod pools: the export policy keeps it in.
    let node2 = seg.host("node2", 4);
    let _agent2 = seg.agent(
        &node2,
        "agent2",
        65001,
        "10.11.0.4",
        "10.11.0.1",
        "10.200.0.0/24",
    );

    // FRR: the pod block twice, next hop self on the direct session and the node's own
    // address on the multihop one, AS path 65001, our community; not 10.200.0.0/24.
    let mut v = serde_json::Value::Null;
    seg.wait("FRR learns the pod block over both sessions", || {
        v = frr.json("show bgp ipv4 unicast 172.17.2.0/24 json");
        v["paths"].as_array().is_some_and(|p| p.len() == 2)
    });
    let paths = v["paths"].as_array().unwrap();
    let by_peer = |peer: &str| {
        paths
            .iter()
            .find(|p| p["peer"]["peerId"] == peer)
            .unwrap_or_else(|| panic!("no path from {peer}: {v}"))
    };
    assert_eq!(
        by_peer("10.11.0.1")["nexthops"][0]["ip"],
        "10.11.0.1",
        "{v}"
    );
    assert_eq!(
        by_peer("10.99.0.1")["nexthops"][0]["ip"],
        "10.11.0.2",
        "{v}"
    );
    for p in paths {
        assert_eq!(p["aspath"]["string"], "65001", "{v}");
        assert_eq!(p["community"]["string"], "65001:100", "{v}");
        assert!(p["localpref"].is_null(), "no LOCAL_PREF across ASes: {v}");
    }
    // The node that announced 10.200.0.0/24 is up, and the export policy kept it in.
    seg.wait("the second node's route at the reflector", || {
        !rr.paths("10.200.0.0/24").is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let v = frr.json("show bgp ipv4 unicast 10.200.0.0/24 json");
    assert!(v["paths"].as_array().is_none_or(|p| p.is_empty()), "{v}");

    // Ours: 172.18.0.0/24 accepted with LOCAL_PREF 200 from both sessions, 172.18.1.0/24
    // refused by the import policy; the node installs it via the reflector (next hop self
    // toward clients for eBGP-learned routes).
    seg.wait(
        "the reflector accepts FRR's prefix from both sessions",
        || rr.paths("172.18.0.0/24").len() == 2,
    );
    for p in rr.paths("172.18.0.0/24") {
        assert_eq!(p["local_pref"], 200, "{p}");
        assert_eq!(p["as_path"], "65002", "{p}");
    }
    assert!(rr.paths("172.18.1.0/24").is_empty());
    seg.wait("the node installs FRR's prefix via the reflector", || {
        has_route(&node_ns, "172.18.0.0/24 via 10.11.0.1")
    });
    assert!(
        !kernel_routes(&node_ns)
            .iter()
            .any(|r| r.starts_with("172.18.1.0/24"))
    );
    drop(agent);
}

// ---------------------------------------------------------------------------------------
// TCP-MD5, route refresh and graceful restart with FRR as a client of our reflector.

/// Our reflector, a node agent and FRR, started by [`start_with_frr`].
struct FrrClientSetup {
    rr_ns: Ns,
    node_ns: Ns,
    frr_ns: Ns,
    rr: Ours,
    rr_config: String,
    agent: Proc,
    frr: Frr,
}

/// Our reflector (10.11.0.1, AS 65000), a node agent (.2, 172.17.2.0/24) and FRR (.3,
/// announcing 172.18.0.0/24) as clients. `client` adds to FRR's [[client]] entry,
/// `frr_extra` to FRR's `router bgp` block.
fn frr_client_setup(seg: &Segment, client: &str, frr_extra: &str) -> FrrClientSetup {
    let mut rr_config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    rr_config.push_str(&format!(
        "[[client]]\naddress = \"10.11.0.2\"\n[[client]]\naddress = \"10.11.0.3\"\n{client}\n"
    ));
    start_with_frr(
        seg,
        frr_hosts(seg),
        rr_config,
        65000,
        65000,
        &format!(
            " no bgp network import-check\n timers bgp 3 9\n{frr_extra}\
             neighbor 10.11.0.1 remote-as 65000\n neighbor 10.11.0.1 timers connect 1\n\
             address-family ipv4 unicast\n  network 172.18.0.0/24\n exit-address-family\n"
        ),
    )
}

/// The hosts of the scenarios with FRR: our reflector (10.11.0.1), a node (.2), FRR (.3).
fn frr_hosts(seg: &Segment) -> (Ns, Ns, Ns) {
    (seg.host("rr", 1), seg.host("node", 2), seg.host("frr", 3))
}

/// Starts our reflector with `rr_config`, a node agent of AS `node_as` announcing
/// 172.17.2.0/24 to it, and FRR of AS `frr_as` with `frr_body` in its `router bgp` block.
fn start_with_frr(
    seg: &Segment,
    (rr_ns, node_ns, frr_ns): (Ns, Ns, Ns),
    rr_config: String,
    node_as: u32,
    frr_as: u32,
    frr_body: &str,
) -> FrrClientSetup {
    let rr = seg.reflector(&rr_ns, "rr", &rr_config, false);
    let agent = seg.agent(
        &node_ns,
        "agent",
        node_as,
        "10.11.0.2",
        "10.11.0.1",
        "172.17.2.0/24",
    );
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(frr_as, "10.11.0.3", frr_body),
    )
    .unwrap();
    FrrClientSetup {
        rr_ns,
        node_ns,
        frr_ns,
        rr,
        rr_config,
        agent,
        frr,
    }
}

#[test]
fn tcp_md5_with_frr_wrong_then_right_password() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("m");
    let s = frr_client_setup(
        &seg,
        "password = \"rack-secret\"",
        " neighbor 10.11.0.1 password wrong-secret\n",
    );
    seg.wait("the node's session", || s.rr.established("10.11.0.2"));
    // The kernel drops every segment signed with the wrong key: no session for 6 s.
    std::thread::sleep(Duration::from_secs(6));
    assert!(!s.rr.established("10.11.0.3"));
    assert_ne!(s.frr.peer_state("10.11.0.1"), "Established");
    // The right key on FRR's side: the session comes up and the routes flow.
    s.frr
        .configure(&[
            "router bgp 65000",
            "neighbor 10.11.0.1 password rack-secret",
        ])
        .unwrap();
    seg.wait("the signed session", || {
        s.rr.established("10.11.0.3") && s.frr.peer_state("10.11.0.1") == "Established"
    });
    seg.wait("the node installs FRR's prefix", || {
        has_route(&s.node_ns, "172.18.0.0/24 via 10.11.0.3")
    });
    // The password never appears in our logs or in `show peer`.
    let shown = s.rr.cli(&["show", "peer", "10.11.0.3"]);
    assert!(!shown.contains("rack-secret"), "{shown}");
    let log = std::fs::read_to_string(seg.path("rr.log")).unwrap();
    assert!(!log.contains("rack-secret"));
}

fn frr_stat(frr: &Frr, peer: &str, stat: &str) -> u64 {
    let v = frr.json(&format!("show bgp neighbors {peer} json"));
    v[peer]["messageStats"][stat].as_u64().unwrap_or(0)
}

#[test]
fn route_refresh_with_frr_from_each_side() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("r");
    let s = frr_client_setup(&seg, "", "");
    seg.wait("FRR learns the node's block", || {
        !s.frr.json("show bgp ipv4 unicast 172.17.2.0/24 json")["paths"].is_null()
    });
    seg.wait("the reflector holds FRR's prefix", || {
        !s.rr.paths("172.18.0.0/24").is_empty()
    });
    // Ours asks: FRR receives a ROUTE-REFRESH and sends its routes again, between BoRR and
    // EoRR (enhanced route refresh, RFC 7313): its prefix stays throughout.
    let received = s.rr.peer("10.11.0.3")["updates_received"].as_u64().unwrap();
    let before = frr_stat(&s.frr, "10.11.0.1", "routeRefreshRecv");
    let out = s.rr.cli(&["peer", "10.11.0.3", "refresh"]);
    assert!(!out.is_empty());
    seg.wait("FRR receives our ROUTE-REFRESH", || {
        frr_stat(&s.frr, "10.11.0.1", "routeRefreshRecv") > before
    });
    seg.wait("FRR's routes again, bracketed by BoRR and EoRR", || {
        let p = s.rr.peer("10.11.0.3");
        p["updates_received"].as_u64().unwrap() > received
            && p["refresh_received"]["begin"].as_u64().unwrap_or(0) >= 1
            && p["refresh_received"]["end"].as_u64().unwrap_or(0) >= 1
    });
    assert_eq!(s.rr.paths("172.18.0.0/24").len(), 1);
    assert_eq!(
        s.rr.paths("172.18.0.0/24")[0]["stale"],
        false,
        "EoRR swept nothing of it"
    );
    // FRR asks (soft inbound reset without stored routes): we send our table again.
    let sent = s.rr.peer("10.11.0.3")["updates_sent"].as_u64().unwrap();
    let before = frr_stat(&s.frr, "10.11.0.1", "routeRefreshSent");
    s.frr
        .vtysh("clear bgp ipv4 unicast 10.11.0.1 soft in")
        .unwrap();
    seg.wait("FRR sends a ROUTE-REFRESH", || {
        frr_stat(&s.frr, "10.11.0.1", "routeRefreshSent") == before + 1
    });
    seg.wait("our table again, between BoRR and EoRR", || {
        let p = s.rr.peer("10.11.0.3");
        p["updates_sent"].as_u64().unwrap() > sent
            && p["refresh_sent"]["begin"].as_u64().unwrap_or(0) >= 1
            && p["refresh_sent"]["end"].as_u64().unwrap_or(0) >= 1
    });
    // FRR keeps the node's block through its refresh.
    assert!(!s.frr.json("show bgp ipv4 unicast 172.17.2.0/24 json")["paths"].is_null());
    // No session was reset on either side.
    assert_eq!(s.rr.peer("10.11.0.3")["established_count"], 1);
    assert_eq!(frr_stat(&s.frr, "10.11.0.1", "notificationsSent"), 0);
    let _ = (&s.rr_ns, &s.frr_ns, &s.agent, &s.rr_config);
}

#[test]
fn graceful_restart_with_frr_as_helper_and_as_restarting_side() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("g");
    let mut s = frr_client_setup(
        &seg,
        "",
        " bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n",
    );
    seg.wait("FRR installs the node's block", || {
        has_route(&s.frr_ns, "172.17.2.0/24 via 10.11.0.2")
    });
    seg.wait("the node installs FRR's prefix", || {
        has_route(&s.node_ns, "172.18.0.0/24 via 10.11.0.3")
    });

    // FRR helps: our reflector is killed (no NOTIFICATION) and restarts with
    // --graceful-restart. FRR keeps the node's block (marked stale) and never removes it
    // from its kernel; nor does the node remove FRR's prefix.
    let at_frr = RouteWatch::start(&s.frr_ns.name, "172.17.2.0/24");
    let at_node = RouteWatch::start(&s.node_ns.name, "172.18.0.0/24");
    std::thread::sleep(Duration::from_millis(300));
    s.rr.proc.stop_with("-KILL");
    seg.wait("FRR marks the block stale", || {
        s.frr.json("show bgp ipv4 unicast 172.17.2.0/24 json")["paths"][0]["stale"] == true
    });
    std::thread::sleep(Duration::from_secs(1));
    s.rr = seg.reflector(&s.rr_ns, "rr", &s.rr_config, true);
    seg.wait("FRR refreshed, not stale", || {
        let v = s.frr.json("show bgp ipv4 unicast 172.17.2.0/24 json");
        s.frr.peer_state("10.11.0.1") == "Established" && v["paths"][0]["stale"].is_null()
    });
    std::thread::sleep(Duration::from_millis(500));
    let (missed_frr, polls_frr) = at_frr.finish();
    let (missed_node, polls_node) = at_node.finish();
    eprintln!(
        "our reflector restarted: FRR's kernel missed the block in {missed_frr} of \
         {polls_frr} polls, the node's kernel FRR's prefix in {missed_node} of {polls_node}"
    );
    assert!(polls_frr > 50 && polls_node > 50);
    assert_eq!(missed_frr, 0, "FRR lost the route while we restarted");
    assert_eq!(
        missed_node, 0,
        "the node lost the route while the reflector restarted"
    );

    // FRR restarts: bgpd killed, started again. Our reflector keeps its prefix (stale)
    // and the node keeps it installed throughout.
    let at_node = RouteWatch::start(&s.node_ns.name, "172.18.0.0/24");
    std::thread::sleep(Duration::from_millis(300));
    s.frr.kill_bgpd();
    seg.wait("our reflector marks FRR's prefix stale", || {
        s.rr.paths("172.18.0.0/24")
            .first()
            .is_some_and(|p| p["stale"] == true)
    });
    std::thread::sleep(Duration::from_secs(1));
    s.frr.restart_bgpd(&s.frr_ns, "0.0.0.0").unwrap();
    seg.wait("FRR's prefix refreshed at our reflector", || {
        s.rr.established("10.11.0.3")
            && s.rr
                .paths("172.18.0.0/24")
                .first()
                .is_some_and(|p| p["stale"] == false)
    });
    std::thread::sleep(Duration::from_millis(500));
    let (missed, polls) = at_node.finish();
    eprintln!("FRR restarted: the node's kernel missed its prefix in {missed} of {polls} polls");
    assert!(polls > 50);
    assert_eq!(missed, 0, "the node lost FRR's prefix while FRR restarted");
    let _ = &s.agent;
}

// ---------------------------------------------------------------------------------------
// 4-octet AS numbers, and a 2-octet-only peer (BIRD with `enable as4 off`) in the middle.

fn ebgp_peer(addr: &str, asn: u32) -> String {
    format!(
        "[[ebgp]]\naddress = \"{addr}\"\nasn = {asn}\nimport = \"accept-all\"\nexport = \"accept-all\"\n"
    )
}

#[test]
fn four_octet_as_paths_across_a_two_octet_bird() {
    if !can_run(false, true, false) {
        return;
    }
    let seg = Segment::new("4");
    let r1_ns = seg.host("r1", 1);
    let r2_ns = seg.host("r2", 2);
    let bird_ns = seg.host("bird", 3);
    let r3_ns = seg.host("r3", 4);
    let node_ns = seg.host("node", 11);
    // R1 (AS 4200000001) == R2 (AS 65001) -- BIRD (AS 65002, 2-octet only) -- R3 (AS 65003).
    // R1-R2 is a 4-octet session. R2 must send BIRD AS_PATH [65001 23456] with AS4_PATH
    // [65001 4200000001]; BIRD passes AS4_PATH on; R3 merges the real path back.
    let mut c1 = reflector_head("10.11.0.1", 4_200_000_001, &seg.dir, "r1");
    c1.push_str("[[client]]\naddress = \"10.11.0.11\"\n");
    c1.push_str(&ebgp_peer("10.11.0.2", 65001));
    let mut c2 = reflector_head("10.11.0.2", 65001, &seg.dir, "r2");
    c2.push_str(&ebgp_peer("10.11.0.1", 4_200_000_001));
    c2.push_str(&ebgp_peer("10.11.0.3", 65002));
    let mut c3 = reflector_head("10.11.0.4", 65003, &seg.dir, "r3");
    c3.push_str(&ebgp_peer("10.11.0.3", 65002));
    let _r1 = seg.reflector(&r1_ns, "r1", &c1, false);
    let r2 = seg.reflector(&r2_ns, "r2", &c2, false);
    let r3 = seg.reflector(&r3_ns, "r3", &c3, false);
    let bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.3;\n\
             protocol bgp r2 { local 10.11.0.3 as 65002; neighbor 10.11.0.2 as 65001;\n\
               enable as4 off; hold time 9; connect retry time 1;\n\
               ipv4 { import all; export all; }; }\n\
             protocol bgp r3 { local 10.11.0.3 as 65002; neighbor 10.11.0.4 as 65003;\n\
               enable as4 off; hold time 9; connect retry time 1;\n\
               ipv4 { import all; export all; }; }\n",
        ),
    )
    .unwrap();
    let _agent = seg.agent(
        &node_ns,
        "agent",
        4_200_000_001,
        "10.11.0.11",
        "10.11.0.1",
        "172.17.1.0/24",
    );
    seg.wait("R2 learns the block over the 4-octet session", || {
        !r2.paths("172.17.1.0/24").is_empty()
    });
    assert_eq!(r2.paths("172.17.1.0/24")[0]["as_path"], "4200000001");
    seg.wait("R3 learns it through BIRD", || {
        !r3.paths("172.17.1.0/24").is_empty()
    });
    let p = &r3.paths("172.17.1.0/24")[0];
    assert_eq!(p["as_path"], "65002 65001 4200000001", "{p}");
    // BIRD's sessions with us are 2-octet ones.
    for proto in ["r2", "r3"] {
        let out = bird.birdc(&format!("show protocols all {proto}")).unwrap();
        let session = out
            .lines()
            .find(|l| l.trim_start().starts_with("Session:"))
            .unwrap_or_default();
        assert!(
            session.contains("external") && !session.contains("AS4"),
            "{out}"
        );
    }
    // BIRD rebuilt the 4-octet path from the AS4_PATH R2 sent.
    let out = bird.birdc("show route 172.17.1.0/24 all").unwrap();
    assert!(out.contains("BGP.as_path: 65001 4200000001"), "{out}");
}

// ---------------------------------------------------------------------------------------
// A peer that sends malformed UPDATEs, crafted byte by byte over a TCP socket (this test
// binary, run again inside the peer's namespace and driven through its stdin).

const RAW_PEER: &str = "RAW_PEER_TARGET";

fn bgp_msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// An UPDATE announcing 172.19.0.0/24 from 10.11.0.5 with ORIGIN `origin` (0 is IGP,
/// 7 is no origin at all).
fn update_172_19(origin: u8) -> Vec<u8> {
    let attrs: Vec<u8> = [
        &[0x40, 1, 1, origin][..],   // ORIGIN
        &[0x40, 2, 0],               // AS_PATH (empty: iBGP)
        &[0x40, 3, 4, 10, 11, 0, 5], // NEXT_HOP
        &[0x40, 5, 4, 0, 0, 0, 100], // LOCAL_PREF
    ]
    .concat();
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&[24, 172, 19, 0]);
    bgp_msg(2, &body)
}

#[test]
#[ignore = "the raw peer, run by the malformed-attribute test inside a namespace"]
fn raw_peer_inner() {
    let Ok(target) = std::env::var(RAW_PEER) else {
        panic!("run through the malformed-attribute test");
    };
    let say = |s: &str| println!("RAW {s}");
    let mut sock = TcpStream::connect((target.as_str(), 179)).unwrap();
    // OPEN: AS 65000, hold 90, ID 10.11.0.5, multiprotocol IPv4 unicast, 4-octet AS.
    let caps = [1, 4, 0, 1, 0, 1, 65, 4, 0, 0, 0xfd, 0xe8];
    let mut open = vec![4, 0xfd, 0xe8, 0, 90, 10, 11, 0, 5, 2 + caps.len() as u8, 2];
    open.push(caps.len() as u8);
    open.extend_from_slice(&caps);
    sock.write_all(&bgp_msg(1, &open)).unwrap();
    sock.write_all(&bgp_msg(4, &[])).unwrap();
    // Keepalives every 2 s (the reflector's hold time is 9 s).
    let mut ka = sock.try_clone().unwrap();
    std::thread::spawn(move || {
        while ka.write_all(&bgp_msg(4, &[])).is_ok() {
            std::thread::sleep(Duration::from_secs(2));
        }
    });
    // Every message received, one line each.
    let mut rd = sock.try_clone().unwrap();
    std::thread::spawn(move || {
        loop {
            let mut head = [0u8; 19];
            if rd.read_exact(&mut head).is_err() {
                println!("RAW closed");
                return;
            }
            let len = u16::from_be_bytes([head[16], head[17]]) as usize;
            let mut body = vec![0u8; len.saturating_sub(19)];
            if rd.read_exact(&mut body).is_err() {
                println!("RAW closed");
                return;
            }
            match head[18] {
                1 => println!("RAW open"),
                2 => println!("RAW update"),
                3 => println!("RAW notification {} {}", body[0], body[1]),
                4 => println!("RAW keepalive"),
                k => println!("RAW type {k}"),
            }
        }
    });
    for line in BufReader::new(std::io::stdin()).lines() {
        let line = line.unwrap();
        let m = match line.trim() {
            "valid" => update_172_19(0),
            "bad-origin" => update_172_19(7),
            // Withdrawn Routes Length far beyond the message (RFC 4271 6.3).
            "bad-length" => bgp_msg(2, &[0xff, 0xff, 0, 0]),
            "quit" => return,
            other => panic!("unknown command {other}"),
        };
        sock.write_all(&m).unwrap();
        say(&format!("sent {}", line.trim()));
    }
}

/// The raw peer process and the lines it printed.
struct RawPeer {
    child: Child,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl RawPeer {
    fn start(ns: &Ns, target: &str) -> RawPeer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "raw_peer_inner", "--ignored", "--nocapture"])
            .args(["--test-threads=1"])
            .env(RAW_PEER, target)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = l.strip_prefix("RAW ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        RawPeer {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.expect(&format!("sent {cmd}"), Duration::from_secs(5));
    }

    /// Waits for a line equal to `what`; true if it came within `limit`.
    fn expect(&mut self, what: &str, limit: Duration) -> bool {
        if self.seen.iter().any(|l| l == what) {
            return true;
        }
        let deadline = std::time::Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l == what;
                    self.seen.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    fn notifications(&mut self) -> Vec<String> {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen
            .iter()
            .filter(|l| l.starts_with("notification"))
            .cloned()
            .collect()
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn malformed_updates_from_a_raw_peer_treat_as_withdraw_then_notification() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("x");
    let rr_ns = seg.host("rr", 1);
    let frr_ns = seg.host("frr", 3);
    let raw_ns = seg.host("raw", 5);
    let mut cfg = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    cfg.push_str(
        "[[client]]\naddress = \"10.11.0.3\"\n\
         [[client]]\naddress = \"10.11.0.5\"\npassive = true\n",
    );
    let rr = seg.reflector(&rr_ns, "rr", &cfg, false);
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(
            65000,
            "10.11.0.3",
            " no bgp network import-check\n timers bgp 3 9\n\
         neighbor 10.11.0.1 remote-as 65000\n neighbor 10.11.0.1 timers connect 1\n\
         address-family ipv4 unicast\n  network 172.18.0.0/24\n exit-address-family\n",
        ),
    )
    .unwrap();
    seg.wait("FRR's session", || rr.established("10.11.0.3"));
    let frr_has = |p: &str| {
        frr.json(&format!("show bgp ipv4 unicast {p} json"))["paths"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    };
    let mut raw = RawPeer::start(&raw_ns, "10.11.0.1");
    assert!(raw.expect("keepalive", WAIT), "no session: {:?}", raw.seen);
    seg.wait("the raw peer's session", || rr.established("10.11.0.5"));

    // A valid announcement reaches FRR.
    raw.send("valid");
    seg.wait("FRR learns the raw peer's prefix", || {
        frr_has("172.19.0.0/24")
    });
    // ORIGIN 7 (RFC 7606 section 7.1): treat-as-withdraw. The route goes, the session stays.
    raw.send("bad-origin");
    seg.wait("FRR loses the malformed prefix", || {
        !frr_has("172.19.0.0/24")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(raw.notifications().is_empty(), "{:?}", raw.seen);
    assert!(rr.established("10.11.0.5"));
    assert_eq!(rr.peer("10.11.0.5")["established_count"], 1);
    raw.send("valid");
    seg.wait("the prefix again", || frr_has("172.19.0.0/24"));

    // Withdrawn Routes Length beyond the message: the session cannot go on. NOTIFICATION
    // UPDATE Message Error (3) / Malformed Attribute List (1), and the peer's routes go.
    raw.send("bad-length");
    assert!(
        raw.expect("notification 3 1", Duration::from_secs(10)),
        "{:?}",
        raw.seen
    );
    seg.wait("the raw peer's routes withdrawn", || {
        !frr_has("172.19.0.0/24")
    });
    let status = rr.peer("10.11.0.5");
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Malformed Attribute List")),
        "{status}"
    );
    // FRR's session and routes are untouched.
    assert!(rr.established("10.11.0.3"));
    assert_eq!(rr.peer("10.11.0.3")["established_count"], 1);
    assert_eq!(rr.paths("172.18.0.0/24").len(), 1);
    let log = std::fs::read_to_string(seg.path("rr.log")).unwrap();
    assert!(log.contains("10.11.0.5"), "the errors are logged");
}

// ---------------------------------------------------------------------------------------
// A graceful upgrade of our reflector: every client with graceful restart keeps its routes.

/// Polls `f` in a thread every 100 ms: (polls where it was false, polls).
struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, u64)>>,
}

impl Watch {
    fn start(mut f: impl FnMut() -> bool + Send + 'static) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut missed, mut polls) = (0, 0);
            while !s.load(Ordering::Relaxed) {
                polls += 1;
                if !f() {
                    missed += 1;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (missed, polls)
        });
        Watch {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// Whether BIRD (its control socket in `dir`) has a route to `prefix`.
fn bird_has(dir: &Path, prefix: &str) -> bool {
    let out = Command::new("birdc")
        .arg("-s")
        .arg(dir.join("bird.ctl"))
        .args(["show", "route", prefix])
        .output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(prefix))
}

#[test]
fn a_graceful_upgrade_keeps_every_graceful_client_routed() {
    if !can_run(true, true, true) {
        return;
    }
    let seg = Segment::new("u");
    let rr_ns = seg.host("rr", 1);
    let frr_ns = seg.host("frr", 2);
    let bird_ns = seg.host("bird", 3);
    let gobgp_ns = seg.host("gobgp", 4);
    let mut cfg = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    cfg.push_str(&format!(
        "[graceful_restart]\nrestart_time = 120\nselection_deferral = 60\nstate_file = \"{}\"\n",
        seg.path("rr.peers").display()
    ));
    for h in 2..=4 {
        cfg.push_str(&format!("[[client]]\naddress = \"10.11.0.{h}\"\n"));
    }
    let mut rr = seg.reflector(&rr_ns, "rr", &cfg, false);
    // FRR: graceful restart with RFC 8538; BIRD 2: graceful restart without it; GoBGP: none.
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(
            65000,
            "10.11.0.2",
            " no bgp default ipv4-unicast\n no bgp network import-check\n timers bgp 3 9\n\
             bgp graceful-restart\n\
             neighbor 10.11.0.1 remote-as 65000\n neighbor 10.11.0.1 timers connect 1\n\
             address-family ipv4 unicast\n  network 172.20.2.0/24\n  neighbor 10.11.0.1 activate\n\
             exit-address-family\n",
        ),
    )
    .unwrap();
    let _bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.3;\n\
             protocol static s4 { ipv4; route 172.20.3.0/24 blackhole; }\n\
             protocol bgp rr4 { local 10.11.0.3 as 65000; neighbor 10.11.0.1 as 65000;\n\
               hold time 9; connect retry time 1; direct; graceful restart on;\n\
               ipv4 { import all; export all; next hop self; }; }\n",
        ),
    )
    .unwrap();
    let gobgp = Gobgp::start(
        &gobgp_ns,
        &seg.path("gobgp"),
        &format!(
            "[global.config]\n  as = 65000\n  router-id = \"10.11.0.4\"\n  port = -1\n{}",
            gobgp_neighbor("10.11.0.1", "ipv4-unicast"),
        ),
    )
    .unwrap();
    gobgp
        .gobgp(&["global", "rib", "add", "172.20.4.0/24", "-a", "ipv4"])
        .unwrap();
    let bird_dir = seg.path("bird");
    seg.wait("every client has the others' prefixes", || {
        bird_has(&bird_dir, "172.20.2.0/24")
            && bird_has(&bird_dir, "172.20.4.0/24")
            && frr_reflection(&frr, "ipv4", "172.20.3.0/24").is_some()
            && frr_reflection(&frr, "ipv4", "172.20.4.0/24").is_some()
            && gobgp_reflection(&gobgp, "ipv4", "172.20.2.0/24").is_some()
    });
    let peer = rr.peer("10.11.0.3");
    assert_eq!(peer["graceful_restart"], true, "{peer}");
    assert_eq!(rr.peer("10.11.0.4")["graceful_restart"], false);

    // The upgrade: SIGTERM, then `run --graceful-restart`. BIRD and FRR hold each other's
    // routes throughout. GoBGP, without graceful restart, loses the reflected routes
    // meanwhile, and its own come back when it is back.
    let dir = bird_dir.clone();
    let at_bird = Watch::start(move || bird_has(&dir, "172.20.2.0/24"));
    let frr_json = {
        let sock = seg.path("frr");
        move |cmd: &str| -> serde_json::Value {
            let o = Command::new("vtysh")
                .arg("--vty_socket")
                .arg(&sock)
                .args(["-c", cmd])
                .output();
            o.ok()
                .and_then(|o| serde_json::from_slice(&o.stdout).ok())
                .unwrap_or_default()
        }
    };
    let at_frr = Watch::start(move || {
        !frr_json("show bgp ipv4 unicast 172.20.3.0/24 json")["paths"].is_null()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(rr.proc.stop(), "clean exit on SIGTERM");
    std::thread::sleep(Duration::from_secs(2));
    let started = std::time::Instant::now();
    rr = seg.reflector(&rr_ns, "rr", &cfg, true);
    seg.wait("the restart's deferral ended", || {
        rr.json(&["show", "summary"])["summary"]["deferring"] == false
    });
    let deferral = started.elapsed();
    seg.wait(
        "GoBGP is back: every client has every other's prefix",
        || {
            gobgp_reflection(&gobgp, "ipv4", "172.20.2.0/24").is_some()
                && gobgp_reflection(&gobgp, "ipv4", "172.20.3.0/24").is_some()
                && bird_has(&bird_dir, "172.20.4.0/24")
                && frr_reflection(&frr, "ipv4", "172.20.4.0/24").is_some()
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let (bird_missed, bird_polls) = at_bird.finish();
    let (frr_missed, frr_polls) = at_frr.finish();
    eprintln!(
        "upgrade: the deferral ended {deferral:.1?} after the start; BIRD missed a route in \
         {bird_missed} of {bird_polls} polls, FRR in {frr_missed} of {frr_polls}"
    );
    assert!(bird_polls > 20 && frr_polls > 20);
    assert_eq!(
        bird_missed,
        0,
        "BIRD lost routes across the upgrade\n{}",
        seg.logs()
    );
    assert_eq!(
        frr_missed,
        0,
        "FRR lost routes across the upgrade\n{}",
        seg.logs()
    );
    // The last run's graceful-restart peers are FRR and BIRD: the deferral ends with
    // their End-of-RIB (GoBGP, without graceful restart, is not waited for).
    assert!(
        deferral < Duration::from_secs(8),
        "ended by the graceful-restart peers' End-of-RIB, not by its 60 s: {deferral:?}\n{}",
        rr.proc.log()
    );
    let listed = std::fs::read_to_string(seg.path("rr.peers")).unwrap_or_default();
    let log = std::fs::read_to_string(seg.path("rr.log")).unwrap_or_default();
    assert!(
        log.contains("every graceful-restart peer's table is in"),
        "{log}"
    );
    let _ = listed;
}
