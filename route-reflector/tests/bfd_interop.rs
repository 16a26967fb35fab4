//! BFD with real daemons: FRR's bfdd (`neighbor X bfd`) and BIRD 2's `protocol bfd`
//! (`bfd on`) as peers of our reflector, single-hop (RFC 5881, iBGP clients on the
//! segment) and multihop (RFC 5883, eBGP multihop), each session checked from both ends;
//! then a peer's link cut (an nftables drop of everything in its namespace) and the time
//! until its route leaves our kernel, with BFD (300 ms x 3) and, beside it, without (the
//! hold timer). Each test builds its own segment in network namespaces and removes it.

mod segment;

use std::time::{Duration, Instant};

use segment::*;

/// Our reflector at 10.11.0.1 with `[bfd]` at 300 ms x 3 and the kernel FIB, then `peers`.
fn reflector_config(seg: &Segment, peers: &str) -> String {
    let mut c = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    c.push_str("[fib]\nmode = \"direct\"\n[bfd]\nmin_rx = 300\nmin_tx = 300\nmultiplier = 3\n");
    c.push_str(peers);
    c
}

/// FRR at 10.11.0.3 announcing 172.18.0.0/24 to us with BFD; `extra` adds neighbor lines.
fn frr_bfd(seg: &Segment, ns: &Ns, asn: u32, extra: &str) -> Frr {
    let body = format!(
        " no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 3 9\n\
         neighbor 10.11.0.1 remote-as 65000\n neighbor 10.11.0.1 timers connect 1\n\
         neighbor 10.11.0.1 bfd\n{extra}\
         address-family ipv4 unicast\n  network 172.18.0.0/24\n\
         neighbor 10.11.0.1 activate\n exit-address-family\n"
    );
    let bfdd = "bfd\n profile fast\n  receive-interval 300\n  transmit-interval 300\n\
                detect-multiplier 3\n !\n!\n";
    Frr::start_with_bfdd(
        ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(asn, "10.11.0.3", &body),
        bfdd,
    )
    .unwrap()
}

/// BIRD at 10.11.0.4 announcing 172.19.0.0/24 to us, with `bfd on` unless `bfd` is false;
/// `extra` goes into its bgp protocol.
fn bird_bfd(seg: &Segment, ns: &Ns, asn: u32, extra: &str, bfd: bool) -> Bird {
    let conf = format!(
        "router id 10.11.0.4;\n\
         protocol bfd {{ interface \"*\" {{ min rx interval 300 ms; min tx interval 300 ms;\n\
         multiplier 3; }}; multihop {{ min rx interval 300 ms; min tx interval 300 ms;\n\
         multiplier 3; }}; }}\n\
         protocol static {{ ipv4; route 172.19.0.0/24 blackhole; }}\n\
         protocol bgp upstream {{ local 10.11.0.4 as {asn}; neighbor 10.11.0.1 as 65000;\n\
         hold time 9; connect retry time 1; {} {extra}\n\
         ipv4 {{ import all; export all; }}; }}\n",
        if bfd { "bfd on;" } else { "" }
    );
    Bird::start(ns, &seg.path("bird"), &bird_conf(&conf)).unwrap()
}

/// Our view of a peer's BFD session.
fn our_bfd(rr: &Ours, peer: &str) -> serde_json::Value {
    rr.peer(peer)["bfd"].clone()
}

/// FRR's `show bfd peers json` entry for 10.11.0.1.
fn frr_bfd_peer(frr: &Frr) -> serde_json::Value {
    let v = frr.json("show bfd peers json");
    v.as_array()
        .and_then(|a| a.iter().find(|p| p["peer"] == "10.11.0.1"))
        .cloned()
        .unwrap_or_default()
}

/// BIRD's `show bfd sessions` line for 10.11.0.1.
fn bird_bfd_line(bird: &Bird) -> String {
    bird.birdc("show bfd sessions")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("10.11.0.1"))
        .unwrap_or("")
        .to_string()
}

fn checks_both_daemons(multihop: bool) {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new(if multihop { "bm" } else { "bs" });
    let rr_ns = seg.host("rr", 1);
    let frr_ns = seg.host("frr", 3);
    let bird_ns = seg.host("bird", 4);
    let peers = if multihop {
        "[[ebgp]]\naddress = \"10.11.0.3\"\nasn = 65003\nmultihop = 2\nbfd = true\n\
         import = \"accept-all\"\nexport = \"accept-all\"\n\
         [[ebgp]]\naddress = \"10.11.0.4\"\nasn = 65004\nmultihop = 2\nbfd = true\n\
         import = \"accept-all\"\nexport = \"accept-all\"\n"
    } else {
        "[[client]]\naddress = \"10.11.0.3\"\nbfd = true\n\
         [[client]]\naddress = \"10.11.0.4\"\nbfd = true\n"
    };
    let rr = seg.reflector(&rr_ns, "rr", &reflector_config(&seg, peers), false);
    let (frr, bird) = if multihop {
        (
            frr_bfd(
                &seg,
                &frr_ns,
                65003,
                " neighbor 10.11.0.1 ebgp-multihop 2\n neighbor 10.11.0.1 update-source 10.11.0.3\n neighbor 10.11.0.1 bfd profile fast\n",
            ),
            bird_bfd(&seg, &bird_ns, 65004, "multihop 2;", true),
        )
    } else {
        (
            frr_bfd(
                &seg,
                &frr_ns,
                65000,
                " neighbor 10.11.0.1 bfd profile fast\n",
            ),
            bird_bfd(&seg, &bird_ns, 65000, "direct;", true),
        )
    };
    let hop = if multihop { "multihop" } else { "single-hop" };
    // Up, and past the slow start: the peers' 300 ms are in effect (a Poll Sequence).
    seg.wait(
        "both sessions established, BFD up at 300 ms on our side",
        || {
            ["10.11.0.3", "10.11.0.4"].iter().all(|p| {
                let b = our_bfd(&rr, p);
                rr.established(p) && b["state"] == "Up" && b["detection_time_ms"] == 900
            })
        },
    );
    for p in ["10.11.0.3", "10.11.0.4"] {
        let b = our_bfd(&rr, p);
        assert_eq!(b["hop"], hop, "{p}: {b}");
        assert_eq!(b["detection_time_ms"], 900, "{p}: {b}");
        assert_eq!(b["remote_multiplier"], 3, "{p}: {b}");
    }
    // The text views: a BFD column in `show peers`, the session's lines in `show peer`.
    let text = rr.cli(&["show", "peers"]);
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header[5], "BFD", "{text}");
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.split_whitespace().nth(5) == Some("Up")),
        "{text}"
    );
    let text = rr.cli(&["show", "peer", "10.11.0.3"]);
    let want = format!("BFD                     Up ({hop}), peer Up");
    assert!(text.lines().any(|l| l == want), "{want:?} in\n{text}");
    assert!(
        text.lines()
            .any(|l| l == "BFD negotiated          tx 300 ms, detection 900 ms"),
        "{text}"
    );
    seg.wait("FRR's bfdd has the session up", || {
        let v = frr_bfd_peer(&frr);
        v["status"] == "up" && v["multihop"] == multihop
    });
    let v = frr_bfd_peer(&frr);
    assert_eq!(v["remote-receive-interval"], 300, "{v}");
    seg.wait("BIRD has the session up", || {
        bird_bfd_line(&bird).contains("Up")
    });
    // Their routes are in our kernel, and BFD packets keep flowing without a drop.
    seg.wait("both routes in our kernel", || {
        has_route(&rr_ns, "172.18.0.0/24 via 10.11.0.3")
            && has_route(&rr_ns, "172.19.0.0/24 via 10.11.0.4")
    });
    std::thread::sleep(Duration::from_secs(3));
    for p in ["10.11.0.3", "10.11.0.4"] {
        let b = our_bfd(&rr, p);
        assert_eq!(
            (b["state"].as_str(), b["down_count"].as_u64()),
            (Some("Up"), Some(0)),
            "{p}: {b}"
        );
        assert_eq!(b["packets_dropped"], 0, "{p}: {b}");
        assert!(b["packets_in"].as_u64().unwrap_or(0) >= 8, "{p}: {b}");
    }
}

#[test]
fn single_hop_bfd_with_frr_and_bird() {
    checks_both_daemons(false);
}

#[test]
fn multihop_bfd_with_frr_and_bird() {
    checks_both_daemons(true);
}

/// Drops every packet in and out of `ns` (the peer's link is dead, its processes live), in
/// one nftables transaction: both directions stop at once.
fn cut(ns: &Ns) {
    ns.sh("echo 'table inet cut { \
           chain in { type filter hook input priority -300; policy drop; }; \
           chain out { type filter hook output priority -300; policy drop; }; }' | nft -f -")
        .unwrap();
}

/// Polls our kernel (IPv4, our protocol) every 2 ms from `from` until `prefix` via `via`
/// is gone.
fn gone_after(
    ns: &Ns,
    prefix: &str,
    via: &str,
    from: Instant,
    limit: Duration,
) -> Option<Duration> {
    let want = format!("{prefix} via {via} ");
    while from.elapsed() < limit {
        let out = std::process::Command::new("ip")
            .args(["-n", &ns.name, "-4", "route", "show", "proto", "bgp"])
            .output();
        if out.is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains(&want)) {
            return Some(from.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// FRR with BFD and BIRD without, both cut at once: FRR's route leaves our kernel within a
/// second, BIRD's waits for the hold timer (9 s here, 90 s by default). Graceful restart
/// is negotiated with FRR: a BFD failure removes the routes all the same (and with the N
/// bit it is a Hard Reset).
#[test]
fn a_cut_link_is_detected_and_its_routes_leave_our_kernel_within_a_second() {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new("bc");
    let rr_ns = seg.host("rr", 1);
    let frr_ns = seg.host("frr", 3);
    let bird_ns = seg.host("bird", 4);
    let peers = "[[client]]\naddress = \"10.11.0.3\"\nbfd = true\n\
                 [[client]]\naddress = \"10.11.0.4\"\n";
    let rr = seg.reflector(&rr_ns, "rr", &reflector_config(&seg, peers), false);
    let _frr = frr_bfd(
        &seg,
        &frr_ns,
        65000,
        " neighbor 10.11.0.1 bfd profile fast\n",
    );
    // Without graceful restart: a hold timer expiry would otherwise keep its routes stale
    // for its restart time (RFC 8538), longer still.
    let _bird = bird_bfd(
        &seg,
        &bird_ns,
        65000,
        "direct; graceful restart off;",
        false,
    );
    seg.wait("both routes in our kernel, BFD up with FRR", || {
        our_bfd(&rr, "10.11.0.3")["detection_time_ms"] == 900
            && our_bfd(&rr, "10.11.0.3")["state"] == "Up"
            && has_route(&rr_ns, "172.18.0.0/24 via 10.11.0.3")
            && has_route(&rr_ns, "172.19.0.0/24 via 10.11.0.4")
    });
    let t = Instant::now();
    cut(&bird_ns);
    let t_frr = Instant::now();
    cut(&frr_ns);
    let five = Duration::from_secs(5);
    let with_bfd = gone_after(&rr_ns, "172.18.0.0/24", "10.11.0.3", t_frr, five)
        .unwrap_or_else(|| panic!("FRR's route still there after 5 s\n{}", seg.logs()));
    let twenty = Duration::from_secs(20);
    let without = gone_after(&rr_ns, "172.19.0.0/24", "10.11.0.4", t, twenty)
        .unwrap_or_else(|| panic!("BIRD's route still there after 20 s\n{}", seg.logs()));
    println!(
        "link cut: route gone from our kernel after {:.0} ms with BFD 300 ms x 3, \
         {:.1} s without (hold time 9 s)",
        with_bfd.as_secs_f64() * 1000.0,
        without.as_secs_f64()
    );
    assert!(with_bfd < Duration::from_secs(1), "{with_bfd:?}");
    assert!(without > Duration::from_secs(5), "{without:?}");
    let p = rr.peer("10.11.0.3");
    let why = p["last_error"].as_str().unwrap_or("");
    assert!(
        why.starts_with("BFD down (control detection time expired)"),
        "{p}"
    );
    assert_eq!(p["bfd"]["local_diag"], "control detection time expired");
}

/// The node agent with `--bfd` under FRR as its reflector: bfdd sees the session up at the
/// agent's 300 ms, and a cut of the node's link takes its block out of FRR's table.
#[test]
fn the_node_agent_speaks_bfd_with_frr() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("ba");
    let node_ns = seg.host("node", 2);
    let frr_ns = seg.host("frr", 3);
    let body = " no bgp network import-check\n timers bgp 3 9\n\
                neighbor 10.11.0.2 remote-as 65000\n neighbor 10.11.0.2 timers connect 1\n\
                neighbor 10.11.0.2 bfd\n neighbor 10.11.0.2 bfd profile fast\n\
                address-family ipv4 unicast\n  neighbor 10.11.0.2 activate\n\
                neighbor 10.11.0.2 route-reflector-client\n exit-address-family\n";
    let bfdd = "bfd\n profile fast\n  receive-interval 300\n  transmit-interval 300\n !\n!\n";
    let frr = Frr::start_with_bfdd(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_conf(65000, "10.11.0.3", body),
        bfdd,
    )
    .unwrap();
    let mut cmd = std::process::Command::new(AGENT);
    cmd.args([
        "--asn",
        "65000",
        "--address",
        "10.11.0.2",
        "--peer",
        "10.11.0.3",
    ])
    .args([
        "--pod-block",
        "172.17.2.0/24",
        "--fib",
        "off",
        "--hold-time",
        "9",
    ])
    .args(["--connect-retry", "1", "--bfd"])
    .env("RUST_LOG", "info");
    let _agent = node_ns
        .spawn("agent", &mut cmd, &seg.path("agent.log"))
        .unwrap();
    seg.wait("bfdd has the agent's session up at 300 ms", || {
        let v = frr.json("show bfd peers json");
        v.as_array().is_some_and(|a| {
            a.iter().any(|p| {
                p["peer"] == "10.11.0.2"
                    && p["status"] == "up"
                    && p["remote-transmit-interval"] == 300
            })
        })
    });
    seg.wait("FRR holds the node's block", || {
        frr.json("show bgp ipv4 unicast 172.17.2.0/24 json")["paths"][0].is_object()
    });
    let t = Instant::now();
    cut(&node_ns);
    let gone = wait_for(Duration::from_secs(5), || {
        !frr.json("show bgp ipv4 unicast 172.17.2.0/24 json")["paths"][0].is_object()
    });
    let took = gone.map(|_| t.elapsed());
    println!("node cut: FRR dropped its block after {took:?} (BFD 300 ms x 3)");
    assert!(
        took.is_some_and(|d| d < Duration::from_secs(2)),
        "{took:?}\n{}",
        seg.logs()
    );
}
