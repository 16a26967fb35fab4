//! Interop of the protocol extensions with real FRR, BIRD 2 and GoBGP daemons: extended
//! next hop (RFC 8950), ADD-PATH (RFC 7911), long-lived graceful restart (RFC 9494) and
//! peering over IPv6 link-local addresses only. Each test builds its own segment in network
//! namespaces and removes it when it ends; state is read through each daemon's own CLI.

mod segment;

use segment::*;

/// Our reflector (AS 65000, 10.11.0.1 / fd00:11::1) with eBGP over IPv6 only to FRR (AS
/// 65003 at fd00:11::3) and BIRD (AS 65004 at fd00:11::4), both carrying IPv4 routes with
/// IPv6 next hops; a node agent (10.11.0.2, IPv4 session without the capability) under it.
#[test]
fn ipv4_routes_over_ipv6_sessions_with_frr_and_bird() {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new("x");
    let rr_ns = seg.host("rr", 1);
    let node_ns = seg.host("node", 2);
    let frr_ns = seg.host("frr", 3);
    let bird_ns = seg.host("bird", 4);
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    config.push_str(
        r#"[fib]
mode = "direct"
[[client]]
address = "10.11.0.2"
next_hop = "self-external"
[[ebgp]]
address = "fd00:11::3"
asn = 65003
import = "accept-all"
export = "accept-all"
extended_next_hop = true
[[ebgp]]
address = "fd00:11::4"
asn = 65004
import = "accept-all"
export = "accept-all"
extended_next_hop = true
"#,
    );
    let rr = seg.reflector(&rr_ns, "rr", &config, false);
    let _agent = seg.agent(
        &node_ns,
        "agent",
        65000,
        "10.11.0.2",
        "10.11.0.1",
        "172.17.2.0/24",
    );
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "::",
        &frr_conf(
            65003,
            "10.11.0.3",
            " no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 3 9\n\
             neighbor fd00:11::1 remote-as 65000\n neighbor fd00:11::1 timers connect 1\n\
             neighbor fd00:11::1 capability extended-nexthop\n\
             address-family ipv4 unicast\n  network 172.18.0.0/24\n\
             neighbor fd00:11::1 activate\n exit-address-family\n",
        ),
    )
    .unwrap();
    let bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.4;\n\
             protocol static { ipv4; route 172.19.0.0/24 blackhole; }\n\
             protocol bgp upstream { local fd00:11::4 as 65004; neighbor fd00:11::1 as 65000;\n\
             hold time 9; connect retry time 1;\n\
             ipv4 { extended next hop on; import all; export all; }; }\n",
        ),
    )
    .unwrap();
    seg.wait("both IPv6 sessions", || {
        rr.established("fd00:11::3") && rr.established("fd00:11::4")
    });
    // The capability is listed for IPv4 unicast on both sessions.
    for peer in ["fd00:11::3", "fd00:11::4"] {
        let caps = rr.peer(peer)["capabilities"].clone();
        let v4 = caps
            .as_array()
            .and_then(|a| a.iter().find(|c| c["family"] == "ipv4-unicast"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(v4["extended_next_hop"], true, "{peer}: {caps}");
    }
    // Their IPv4 routes are installed in our kernel via their IPv6 addresses.
    seg.wait("FRR's and BIRD's prefixes via inet6", || {
        let text = rr_ns.sh("ip -4 route show proto bgp").unwrap_or_default();
        text.contains("172.18.0.0/24 via inet6 fd00:11::3 dev eth0")
            && text.contains("172.19.0.0/24 via inet6 fd00:11::4 dev eth0")
    });
    // FRR and BIRD hold the node's block with our IPv6 address as its next hop.
    seg.wait("FRR learns the node's block via fd00:11::1", || {
        let v = frr.json("show bgp ipv4 unicast 172.17.2.0/24 json");
        v["paths"][0]["nexthops"][0]["ip"] == "fd00:11::1"
    });
    seg.wait("BIRD learns the node's block via fd00:11::1", || {
        bird.birdc("show route 172.17.2.0/24 all")
            .is_ok_and(|o| o.contains("BGP.next_hop: fd00:11::1"))
    });
    // The node has no IPv6 session: it gets them with our IPv4 address (next hop self for
    // routes from other ASes), never an IPv6 next hop it did not ask for.
    seg.wait("the node installs both via the reflector", || {
        has_route(&node_ns, "172.18.0.0/24 via 10.11.0.1")
            && has_route(&node_ns, "172.19.0.0/24 via 10.11.0.1")
    });
    let _ = (&frr_ns, &bird_ns);
}

/// The anycast prefix every node of the ADD-PATH tests announces besides its own block.
const ANYCAST: &str = "172.30.0.0/24";
/// Those nodes: 10.11.0.2, .3 and .8.
const NODES: [u8; 3] = [2, 3, 8];

/// A node agent on each of [`NODES`] announcing [`ANYCAST`] (and its own block) to `peers`.
fn anycast_nodes(seg: &Segment, peers: &[&str]) -> Vec<(Ns, Proc)> {
    NODES
        .iter()
        .map(|&h| {
            let ns = seg.host(&format!("n{h}"), h);
            let address = format!("10.11.0.{h}");
            let mut cmd = std::process::Command::new(AGENT);
            cmd.args(["--asn", "65000", "--address", &address])
                .args(["--pod-block", ANYCAST])
                .args(["--pod-block", &format!("172.17.{h}.0/24")])
                .args(["--fib", "off", "--hold-time", "9", "--connect-retry", "1"])
                .env("RUST_LOG", "info");
            for p in peers {
                cmd.args(["--peer", p]);
            }
            let proc = ns
                .spawn(
                    &format!("agent{h}"),
                    &mut cmd,
                    &seg.path(&format!("agent{h}.log")),
                )
                .unwrap();
            (ns, proc)
        })
        .collect()
}

/// The next hops of the paths of `prefix` that `v`, FRR's JSON for it, holds.
fn frr_next_hops(v: &serde_json::Value) -> Vec<String> {
    let mut hops: Vec<String> = v["paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["nexthops"][0]["ip"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    hops.sort();
    hops
}

/// `via` gateways in BIRD's `show route PREFIX`.
fn bird_next_hops(bird: &Bird, prefix: &str) -> Vec<String> {
    let out = bird
        .birdc(&format!("show route {prefix}"))
        .unwrap_or_default();
    let mut hops: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "via")?;
            w.get(i + 1).map(|s| s.to_string())
        })
        .collect();
    hops.sort();
    hops
}

/// The next hops of GoBGP's paths for `prefix`.
fn gobgp_next_hops(g: &Gobgp, prefix: &str) -> Vec<String> {
    let v = g.json(&["global", "rib", "-a", "ipv4", prefix]);
    let mut hops: Vec<String> = v[prefix]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    p["attrs"].as_array()?.iter().find(|x| x["type"] == 3)?["nexthop"]
                        .as_str()
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    hops.sort();
    hops
}

fn hops(list: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|h| format!("10.11.0.{h}")).collect();
    v.sort();
    v
}

/// Our reflector sends several paths per prefix: every path to FRR, the ECMP set (2 of
/// the 3, `max_paths = 2`) to BIRD, the best 1 to GoBGP; each receiver shows as many.
#[test]
fn add_path_from_our_reflector_to_frr_bird_and_gobgp() {
    if !can_run(true, true, true) {
        return;
    }
    let seg = Segment::new("a");
    let rr_ns = seg.host("rr", 1);
    let frr_ns = seg.host("frr", 4);
    let bird_ns = seg.host("bird", 5);
    let gobgp_ns = seg.host("gobgp", 6);
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr").replacen(
        "asn = 65000\n",
        "asn = 65000\nmax_paths = 2\n",
        1,
    );
    for h in NODES {
        config.push_str(&format!("[[client]]\naddress = \"10.11.0.{h}\"\n"));
    }
    config.push_str(
        "[[client]]\naddress = \"10.11.0.4\"\nadd_path = \"send\"\n\
         [[client]]\naddress = \"10.11.0.5\"\nadd_path = \"both\"\nadd_path_send = \"ecmp\"\n\
         [[client]]\naddress = \"10.11.0.6\"\nadd_path = \"send\"\nadd_path_send = 1\n",
    );
    let rr = seg.reflector(&rr_ns, "rr", &config, false);
    let _nodes = anycast_nodes(&seg, &["10.11.0.1"]);
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(
            65000,
            "10.11.0.4",
            " timers bgp 3 9\n neighbor 10.11.0.1 remote-as 65000\n\
             neighbor 10.11.0.1 timers connect 1\n",
        ),
    )
    .unwrap();
    let bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.5;\n\
             protocol bgp up { local 10.11.0.5 as 65000; neighbor 10.11.0.1 as 65000;\n\
             hold time 9; connect retry time 1; direct;\n\
             ipv4 { add paths rx; import all; export none; }; }\n",
        ),
    )
    .unwrap();
    let gobgp = Gobgp::start(
        &gobgp_ns,
        &seg.path("gobgp"),
        &format!(
            "[global.config]\n  as = 65000\n  router-id = \"10.11.0.6\"\n  port = -1\n{}\
             [neighbors.afi-safis.add-paths.config]\n      receive = true\n",
            gobgp_neighbor("10.11.0.1", "ipv4-unicast"),
        ),
    )
    .unwrap();
    seg.wait("the receivers' sessions", || {
        ["10.11.0.4", "10.11.0.5", "10.11.0.6"]
            .iter()
            .all(|p| rr.established(p))
    });
    seg.wait("our reflector holds the three paths", || {
        rr.paths(ANYCAST).len() == 3
    });
    seg.wait("FRR holds every path", || {
        frr_next_hops(&frr.json(&format!("show bgp ipv4 unicast {ANYCAST} json"))) == hops(&NODES)
    });
    seg.wait("BIRD holds the ECMP set", || {
        bird_next_hops(&bird, ANYCAST).len() == 2
    });
    seg.wait("GoBGP holds the best path", || {
        gobgp_next_hops(&gobgp, ANYCAST).len() == 1
    });
    // The ECMP set and the best path are those of our reflector.
    let ours: Vec<(bool, bool, String)> = rr
        .paths(ANYCAST)
        .iter()
        .map(|p| {
            (
                p["best"] == true,
                p["multipath"] == true,
                p["next_hop"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut ecmp: Vec<String> = ours.iter().filter(|p| p.1).map(|p| p.2.clone()).collect();
    ecmp.sort();
    assert_eq!(bird_next_hops(&bird, ANYCAST), ecmp, "{ours:?}");
    let best: Vec<String> = ours.iter().filter(|p| p.0).map(|p| p.2.clone()).collect();
    assert_eq!(gobgp_next_hops(&gobgp, ANYCAST), best, "{ours:?}");
    // `show peer` names the mode and the paths sent.
    let shown = rr.cli(&["show", "peer", "10.11.0.5"]);
    assert!(shown.contains("add-path send (ecmp)"), "{shown}");
    // FRR lists the capability as negotiated.
    let n = frr.json("show bgp neighbors 10.11.0.1 json");
    let ap = &n["10.11.0.1"]["neighborCapabilities"]["addPath"]["ipv4Unicast"];
    assert_eq!(
        (&ap["rxAdvertised"], &ap["txReceived"]),
        (&true.into(), &true.into()),
        "{ap}"
    );
    let _ = (&frr_ns, &bird_ns, &gobgp_ns);
}

/// FRR, BIRD and GoBGP as reflectors send every path of the anycast prefix to our
/// reflector, their client with `add_path = "receive"`: it keeps three paths from each
/// (distinct path identifiers) and installs the three next hops as one ECMP route.
#[test]
fn add_path_from_frr_bird_and_gobgp_reflectors_to_ours() {
    if !can_run(true, true, true) {
        return;
    }
    let seg = Segment::new("p");
    let rr_ns = seg.host("rr", 1);
    let frr_ns = seg.host("frr", 4);
    let bird_ns = seg.host("bird", 5);
    let gobgp_ns = seg.host("gobgp", 6);
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr").replacen(
        "asn = 65000\n",
        "asn = 65000\nmax_paths = 8\n",
        1,
    );
    config.push_str("[fib]\nmode = \"direct\"\n");
    for h in [4, 5, 6] {
        config.push_str(&format!(
            "[[ibgp]]\naddress = \"10.11.0.{h}\"\nadd_path = \"receive\"\n"
        ));
    }
    let rr = seg.reflector(&rr_ns, "rr", &config, false);
    let _nodes = anycast_nodes(&seg, &["10.11.0.4", "10.11.0.5", "10.11.0.6"]);
    let mut frr_body = String::from(
        " bgp cluster-id 10.11.0.4\n timers bgp 3 9\n neighbor nodes peer-group\n\
         neighbor nodes remote-as 65000\n neighbor nodes timers connect 1\n",
    );
    for h in NODES.iter().chain(&[1]) {
        frr_body.push_str(&format!(" neighbor 10.11.0.{h} peer-group nodes\n"));
    }
    frr_body.push_str(
        " address-family ipv4 unicast\n  neighbor nodes route-reflector-client\n\
         neighbor 10.11.0.1 addpath-tx-all-paths\n exit-address-family\n",
    );
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(65000, "10.11.0.4", &frr_body),
    )
    .unwrap();
    let mut bird_body = String::from("router id 10.11.0.5;\n");
    for h in NODES {
        bird_body.push_str(&format!(
            "protocol bgp n{h} {{ local 10.11.0.5 as 65000; neighbor 10.11.0.{h} as 65000;\n\
             direct; rr client; rr cluster id 10.11.0.5; hold time 9; connect retry time 1;\n\
             ipv4 {{ import all; export all; }}; }}\n"
        ));
    }
    bird_body.push_str(
        "protocol bgp ours { local 10.11.0.5 as 65000; neighbor 10.11.0.1 as 65000;\n\
         direct; rr client; rr cluster id 10.11.0.5; hold time 9; connect retry time 1;\n\
         ipv4 { add paths tx; import all; export all; }; }\n",
    );
    let bird = Bird::start(&bird_ns, &seg.path("bird"), &bird_conf(&bird_body)).unwrap();
    let mut gobgp_conf =
        String::from("[global.config]\n  as = 65000\n  router-id = \"10.11.0.6\"\n  port = 179\n");
    for h in NODES.iter().chain(&[1]) {
        gobgp_conf.push_str(&gobgp_neighbor(&format!("10.11.0.{h}"), "ipv4-unicast"));
        if *h == 1 {
            gobgp_conf.push_str("    [neighbors.afi-safis.add-paths.config]\n      send-max = 8\n");
        }
        gobgp_conf.push_str(
            "  [neighbors.route-reflector.config]\n    route-reflector-client = true\n\
             route-reflector-cluster-id = \"10.11.0.6\"\n",
        );
    }
    let gobgp = Gobgp::start(&gobgp_ns, &seg.path("gobgp"), &gobgp_conf).unwrap();
    seg.wait("FRR holds the three paths", || {
        frr_next_hops(&frr.json(&format!("show bgp ipv4 unicast {ANYCAST} json"))) == hops(&NODES)
    });
    seg.wait("BIRD holds the three paths", || {
        bird_next_hops(&bird, ANYCAST) == hops(&NODES)
    });
    seg.wait("GoBGP holds the three paths", || {
        gobgp_next_hops(&gobgp, ANYCAST) == hops(&NODES)
    });
    seg.wait("ours holds the three paths from each", || {
        rr.paths(ANYCAST).len() == 9
    });
    for h in [4, 5, 6] {
        let from = format!("10.11.0.{h}");
        let paths: Vec<serde_json::Value> = rr
            .paths(ANYCAST)
            .into_iter()
            .filter(|p| p["from"] == from.as_str())
            .collect();
        let mut next: Vec<String> = paths
            .iter()
            .map(|p| p["next_hop"].as_str().unwrap_or("").to_string())
            .collect();
        next.sort();
        assert_eq!(next, hops(&NODES), "from {from}: {paths:?}");
        let mut ids: Vec<u64> = paths.iter().filter_map(|p| p["path_id"].as_u64()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            3,
            "distinct path identifiers from {from}: {paths:?}"
        );
        let caps = rr.peer(&from)["capabilities"].clone();
        assert_eq!(caps[0]["add_path"], "receive", "{from}: {caps}");
    }
    // One kernel route with the three next hops.
    seg.wait("the ECMP route in our kernel", || {
        let text = rr_ns
            .sh(&format!("ip route show {ANYCAST}"))
            .unwrap_or_default();
        NODES
            .iter()
            .all(|h| text.contains(&format!("nexthop via 10.11.0.{h} dev eth0")))
    });
    let _ = (&frr_ns, &bird_ns, &gobgp_ns);
}

/// Whether FRR's path for `prefix` carries the LLGR_STALE community.
fn frr_llgr_stale(frr: &Frr, prefix: &str) -> bool {
    let v = frr.json(&format!("show bgp ipv4 unicast {prefix} json"));
    v["paths"][0]["community"]["string"]
        .as_str()
        .is_some_and(|c| c.contains("llgr-stale"))
}

/// BIRD's `show route PREFIX all`, empty when it has no route.
fn bird_route(bird: &Bird, prefix: &str) -> String {
    bird.birdc(&format!("show route {prefix} all"))
        .ok()
        .filter(|o| o.contains(prefix))
        .unwrap_or_default()
}

/// Long-lived graceful restart with BIRD and FRR clients (restart time 3 s, long-lived
/// stale time 60 s) and a node agent without it. Our reflector dies: BIRD and FRR keep its
/// routes past the restart time as long-lived stale, until it is back. Then BIRD dies: we
/// keep its route as long-lived stale, send it on to FRR with LLGR_STALE, and withdraw it
/// from the node, which did not negotiate the capability.
#[test]
fn long_lived_graceful_restart_with_bird_and_frr_in_both_roles() {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new("l");
    let rr_ns = seg.host("rr", 1);
    let node_ns = seg.host("node", 2);
    let bird_ns = seg.host("bird", 3);
    let frr_ns = seg.host("frr", 4);
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    config.push_str(
        "[graceful_restart]\nrestart_time = 3\nlong_lived_stale_time = 60\n\
         [[client]]\naddress = \"10.11.0.2\"\nlong_lived_stale_time = 0\n\
         [[client]]\naddress = \"10.11.0.3\"\n[[client]]\naddress = \"10.11.0.4\"\n",
    );
    let mut rr = seg.reflector(&rr_ns, "rr", &config, false);
    let _agent = seg.agent(
        &node_ns,
        "agent",
        65000,
        "10.11.0.2",
        "10.11.0.1",
        "172.17.2.0/24",
    );
    let mut bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.3;\n\
             protocol static { ipv4; route 172.19.0.0/24 blackhole; }\n\
             protocol bgp up { local 10.11.0.3 as 65000; neighbor 10.11.0.1 as 65000;\n\
             hold time 9; connect retry time 1; direct;\n\
             graceful restart on; graceful restart time 3;\n\
             long lived graceful restart on; long lived stale time 60;\n\
             ipv4 { import all; export all; next hop self; }; }\n",
        ),
    )
    .unwrap();
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(
            65000,
            "10.11.0.4",
            " timers bgp 3 9\n bgp graceful-restart\n bgp graceful-restart restart-time 3\n\
             bgp long-lived-graceful-restart stale-time 60\n\
             neighbor 10.11.0.1 remote-as 65000\n neighbor 10.11.0.1 timers connect 1\n",
        ),
    )
    .unwrap();
    seg.wait(
        "FRR and BIRD hold the node's block, the node BIRD's prefix",
        || {
            !bird_route(&bird, "172.17.2.0/24").is_empty()
                && !frr.json("show bgp ipv4 unicast 172.17.2.0/24 json")["paths"].is_null()
                && has_route(&node_ns, "172.19.0.0/24 via 10.11.0.3")
        },
    );
    for peer in ["10.11.0.3", "10.11.0.4"] {
        let caps = rr.peer(peer)["capabilities"].clone();
        assert_eq!(caps[0]["long_lived_stale_time"], 60, "{peer}: {caps}");
    }
    assert!(rr.peer("10.11.0.2")["capabilities"][0]["long_lived_stale_time"].is_null());

    // Our reflector dies without a word. Past the 3 s restart time, BIRD and FRR still
    // hold the node's block, long-lived stale.
    rr.proc.stop_with("-KILL");
    std::thread::sleep(std::time::Duration::from_secs(6));
    let at_bird = bird_route(&bird, "172.17.2.0/24");
    assert!(at_bird.contains("(65535,6)"), "BIRD: {at_bird}");
    assert!(
        frr_llgr_stale(&frr, "172.17.2.0/24"),
        "FRR holds it long-lived stale"
    );
    // Back: the routes are fresh again everywhere.
    rr = seg.reflector(&rr_ns, "rr", &config, true);
    seg.wait("fresh routes at BIRD and FRR", || {
        let b = bird_route(&bird, "172.17.2.0/24");
        !b.is_empty()
            && !b.contains("(65535,6)")
            && !frr.json("show bgp ipv4 unicast 172.17.2.0/24 json")["paths"].is_null()
            && !frr_llgr_stale(&frr, "172.17.2.0/24")
    });
    seg.wait("the node has BIRD's prefix again", || {
        has_route(&node_ns, "172.19.0.0/24 via 10.11.0.3")
    });

    // BIRD dies. Past its restart time we keep its route long-lived stale: FRR gets it with
    // LLGR_STALE, the node loses it.
    bird.kill();
    seg.wait("our path from BIRD is long-lived stale", || {
        rr.paths("172.19.0.0/24").first().is_some_and(|p| {
            p["stale"] == true
                && p["communities"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|x| x == "65535:6"))
        })
    });
    seg.wait("FRR holds BIRD's prefix with LLGR_STALE", || {
        frr_llgr_stale(&frr, "172.19.0.0/24")
    });
    seg.wait("the node withdrew it", || {
        !has_route(&node_ns, "172.19.0.0/24 via 10.11.0.3")
    });
    let _ = (&bird_ns, &frr_ns);
}

/// A point-to-point link between `a` and `b` with only the given link-local addresses.
fn link_local_link(a: &Ns, a_if: &str, a_ll: &str, b: &Ns, b_if: &str, b_ll: &str) {
    netns::veth(a, a_if, b, b_if).unwrap();
    for (ns, dev, ll) in [(a, a_if, a_ll), (b, b_if, b_ll)] {
        ns.sh(&format!(
            "ip -6 addr flush dev {dev} scope link && ip -6 addr add {ll}/64 dev {dev} nodad"
        ))
        .unwrap();
    }
}

/// Unnumbered peering: our reflector (AS 65000) with FRR (AS 65003) over `eth1`, both given
/// the interface alone (FRR's `neighbor eth1 interface`: each finds the other from router
/// advertisements), and with BIRD (AS 65004) over `eth2` by link-local address and
/// interface (`neighbor fe80::2%eth1`). No link has an address other than its link-local
/// ones; IPv4 and IPv6 routes cross both with link-local next hops (RFC 8950 for IPv4).
#[test]
fn unnumbered_and_link_local_peering_with_frr_and_bird() {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new("u");
    let rr_ns = Ns::new(&format!("{}-rr", seg.tag)).unwrap();
    let frr_ns = Ns::new(&format!("{}-frr", seg.tag)).unwrap();
    let bird_ns = Ns::new(&format!("{}-bird", seg.tag)).unwrap();
    link_local_link(&rr_ns, "eth1", "fe80::1", &frr_ns, "eth1", "fe80::3");
    link_local_link(&rr_ns, "eth2", "fe80::2", &bird_ns, "eth1", "fe80::4");
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    config.push_str(
        r#"[fib]
mode = "direct"
[[ebgp]]
interface = "eth1"
asn = 65003
import = "accept-all"
export = "accept-all"
extended_next_hop = true
[[ebgp]]
address = "fe80::4"
interface = "eth2"
asn = 65004
import = "accept-all"
export = "accept-all"
extended_next_hop = true
"#,
    );
    let rr = seg.reflector(&rr_ns, "rr", &config, false);
    // Before anyone speaks on eth1, the peer found by interface is listed, waiting.
    let waiting = || {
        let peers = rr.json(&["show", "peers"]);
        peers
            .as_array()
            .and_then(|a| a.iter().find(|p| p["interface"] == "eth1"))
            .cloned()
            .unwrap_or_default()
    };
    seg.wait(
        "the peer on eth1 listed before its neighbour is found",
        || waiting()["state"] == "Idle",
    );
    let w = waiting();
    assert_eq!(
        (w["address"].as_str(), w["asn"].as_u64()),
        (Some("::"), Some(65003)),
        "{w}"
    );
    assert!(
        w["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no neighbour")),
        "{w}"
    );
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "::",
        &frr_conf(
            65003,
            "10.11.0.3",
            " no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 3 9\n\
             neighbor eth1 interface remote-as external\n neighbor eth1 timers connect 1\n\
             address-family ipv4 unicast\n  network 172.18.0.0/24\n exit-address-family\n\
             address-family ipv6 unicast\n  network 2001:db8:18::/48\n\
             neighbor eth1 activate\n exit-address-family\n",
        ),
    )
    .unwrap();
    let bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.4;\n\
             protocol static { ipv4; route 172.19.0.0/24 blackhole; }\n\
             protocol static { ipv6; route 2001:db8:19::/48 blackhole; }\n\
             protocol bgp upstream { local as 65004; neighbor fe80::2%eth1 as 65000;\n\
             hold time 9; connect retry time 1;\n\
             ipv4 { extended next hop on; import all; export all; };\n\
             ipv6 { import all; export all; }; }\n",
        ),
    )
    .unwrap();
    seg.wait("the sessions with FRR (found on eth1) and BIRD", || {
        rr.established("fe80::3") && rr.established("fe80::4")
    });
    let frr_peer = rr.peer("fe80::3");
    assert_eq!(frr_peer["interface"], "eth1", "{frr_peer}");
    // Found, it is listed once: at its neighbour's address.
    let listed = rr.json(&["show", "peers"]);
    let on_eth1 = listed
        .as_array()
        .map_or(0, |a| a.iter().filter(|p| p["interface"] == "eth1").count());
    assert_eq!(on_eth1, 1, "{listed}");
    let caps = frr_peer["capabilities"].clone();
    let v4 = caps
        .as_array()
        .and_then(|a| a.iter().find(|c| c["family"] == "ipv4-unicast"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(v4["extended_next_hop"], true, "{caps}");
    // Their routes are in our kernel via their link-local addresses, out of the right link.
    seg.wait(
        "FRR's and BIRD's prefixes via their link-local addresses",
        || {
            let v4 = rr_ns.sh("ip -4 route show proto bgp").unwrap_or_default();
            let v6 = rr_ns.sh("ip -6 route show proto bgp").unwrap_or_default();
            v4.contains("172.18.0.0/24 via inet6 fe80::3 dev eth1")
                && v4.contains("172.19.0.0/24 via inet6 fe80::4 dev eth2")
                && v6.contains("2001:db8:18::/48 via fe80::3 dev eth1")
                && v6.contains("2001:db8:19::/48 via fe80::4 dev eth2")
        },
    );
    // Each learns the other's routes with our link-local address on its link as next hop.
    seg.wait("FRR learns BIRD's prefixes via fe80::1", || {
        let v = frr.json("show bgp ipv4 unicast 172.19.0.0/24 json");
        let w = frr.json("show bgp ipv6 unicast 2001:db8:19::/48 json");
        let hops = |v: &serde_json::Value| v["paths"][0]["nexthops"].to_string();
        hops(&v).contains("\"fe80::1\"") && hops(&w).contains("\"fe80::1\"")
    });
    seg.wait("BIRD learns FRR's prefixes via fe80::2", || {
        ["172.18.0.0/24", "2001:db8:18::/48"].iter().all(|p| {
            bird.birdc(&format!("show route {p} all"))
                .is_ok_and(|o| o.contains("fe80::2"))
        })
    });
    // FRR's kernel takes the route through our link-local address.
    seg.wait("FRR installs BIRD's IPv4 prefix out of eth1", || {
        frr_ns
            .sh("ip route show 172.19.0.0/24")
            .is_ok_and(|o| o.contains("dev eth1"))
    });
    let _ = &bird_ns;
}
