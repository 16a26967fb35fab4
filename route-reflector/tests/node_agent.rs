//! The node agent as a node runs it, in network namespaces the tests create: dual stack
//! with IPv6 sessions and RFC 8950, GTSM and an import policy, ECMP through two of our reflectors with one direct and
//! one tunnel next hop (the cross-subnet case), the devices decided again as addresses
//! and the tunnel come and go, reload adding and removing peers, TCP-MD5, metrics, JSON
//! logs, and `check`.

mod segment;

use std::process::Command;

use segment::*;

/// A node agent in `ns` running `config` (written to NAME.toml; socket NAME.sock).
struct Agent {
    file: std::path::PathBuf,
    socket: std::path::PathBuf,
    proc: Proc,
}

impl Agent {
    fn start(seg: &Segment, ns: &Ns, name: &str, config: &str, extra: &[&str]) -> Agent {
        let file = seg.path(&format!("{name}.toml"));
        let socket = seg.path(&format!("{name}.sock"));
        let text = format!(
            "{config}[admin]\nsocket = \"{}\"\n[timers]\nhold_time = 9\nconnect_retry = 1\n",
            socket.display()
        );
        std::fs::write(&file, text).unwrap();
        let mut cmd = Command::new(AGENT);
        cmd.arg("--config").arg(&file).args(extra);
        cmd.env("RUST_LOG", "info");
        let proc = ns
            .spawn(name, &mut cmd, &seg.path(&format!("{name}.log")))
            .unwrap();
        Agent { file, socket, proc }
    }

    /// Rewrites the file's part after the fixed head.
    fn rewrite(&self, config: &str) {
        let text = format!(
            "{config}[admin]\nsocket = \"{}\"\n[timers]\nhold_time = 9\nconnect_retry = 1\n",
            self.socket.display()
        );
        std::fs::write(&self.file, text).unwrap();
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let (_, out, err) = segment::netns::output(
            Command::new(AGENT)
                .args(args)
                .arg("--json")
                .arg("--socket")
                .arg(&self.socket),
        );
        serde_json::from_str(&out).unwrap_or_else(|_| serde_json::json!({ "error": err }))
    }

    fn peer(&self, addr: &str) -> serde_json::Value {
        self.json(&["show", "peer", addr])
    }

    fn established(&self, addr: &str) -> bool {
        self.peer(addr)["established"] == true
    }
}

fn ip_route(ns: &Ns, args: &str) -> String {
    ns.sh(&format!("ip {args}")).unwrap_or_default()
}

fn node_head(asn: u32, id: &str) -> String {
    format!("asn = {asn}\nrouter_id = \"{id}\"\n")
}

/// A pod's address on the node's loopback: what a ping reaches.
fn pod(ns: &Ns, addr: &str) {
    ns.sh(&format!("ip addr add {addr} dev lo")).unwrap();
}

#[test]
fn dual_stack_nodes_over_ipv4_and_ipv6_sessions_and_an_ipv6_only_node() {
    if !can_run(false, false, false) {
        return;
    }
    let seg = Segment::new("na6");
    let rr_ns = seg.host("rr", 1);
    let (n1, n2, n3) = (seg.host("n1", 11), seg.host("n2", 12), seg.host("n3", 13));
    let mut rr = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    rr.push_str(
        "[[client]]\naddress = \"10.11.0.12\"\nttl_security = 1\n\
         [[client]]\naddress = \"fd00:11::b\"\nextended_next_hop = true\n\
         [[client]]\naddress = \"fd00:11::d\"\nextended_next_hop = true\n",
    );
    let rr = seg.reflector(&rr_ns, "rr", &rr, false);
    // n1: dual stack over an IPv6 session only; n2: dual stack over IPv4 only; n3: IPv6
    // only, its IPv4 block with an IPv6 next hop (RFC 8950).
    let a1 = Agent::start(
        &seg,
        &n1,
        "n1",
        &format!(
            "{}[node]\naddress = \"10.11.0.11\"\naddress6 = \"fd00:11::b\"\n\
             pod_blocks = [\"172.17.11.0/24\", \"2001:db8:11::/64\"]\n\
             [[ibgp]]\naddress = \"fd00:11::1\"\nextended_next_hop = true\n",
            node_head(65000, "10.11.0.11")
        ),
        &[],
    );
    let _a2 = Agent::start(
        &seg,
        &n2,
        "n2",
        &format!(
            "{}[node]\naddress = \"10.11.0.12\"\naddress6 = \"fd00:11::c\"\n\
             pod_blocks = [\"172.17.12.0/24\", \"2001:db8:12::/64\"]\n\
             [prefix_lists]\nn1v4 = [\"172.17.11.0/24\"]\n\
             [policies.not-n1v4]\ndefault = \"accept\"\n\
             [[policies.not-n1v4.term]]\nmatch.prefix_list = \"n1v4\"\nverdict = \"reject\"\n\
             [[ibgp]]\naddress = \"10.11.0.1\"\nttl_security = 1\nimport = \"not-n1v4\"\n",
            node_head(65000, "10.11.0.12")
        ),
        &[],
    );
    let _a3 = Agent::start(
        &seg,
        &n3,
        "n3",
        &format!(
            "{}[node]\naddress6 = \"fd00:11::d\"\npod_blocks = [\"172.17.13.0/24\"]\n\
             [[ibgp]]\naddress = \"fd00:11::1\"\nextended_next_hop = true\n",
            node_head(65000, "10.11.0.13")
        ),
        &[],
    );
    pod(&n2, "172.17.12.1/32");
    pod(&n2, "2001:db8:12::1/128");
    seg.wait("n1's routes from n2 and n3", || {
        let v4 = ip_route(&n1, "-4 route show proto bgp");
        let v6 = ip_route(&n1, "-6 route show proto bgp");
        v4.contains("172.17.12.0/24 via 10.11.0.12 dev eth0")
            && v4.contains("172.17.13.0/24 via inet6 fd00:11::d dev eth0")
            && v6.contains("2001:db8:12::/64 via fd00:11::c dev eth0")
    });
    seg.wait("n2's IPv6 route to n1's block", || {
        ip_route(&n2, "-6 route show proto bgp")
            .contains("2001:db8:11::/64 via fd00:11::b dev eth0")
    });
    // n2's session is GTSM-protected, and its import policy keeps n1's IPv4 block (which
    // the reflector has) out.
    seg.wait("n1's IPv4 block at the reflector", || {
        !rr.paths("172.17.11.0/24").is_empty()
    });
    assert!(
        !ip_route(&n2, "-4 route show proto bgp").contains("172.17.11.0/24"),
        "{}",
        ip_route(&n2, "-4 route show proto bgp")
    );
    // The pods answer over both families. (The IPv6-only node has no IPv4 way back to
    // n1's eth0 address: its route is checked above, not pinged.)
    for (target, flag) in [("2001:db8:12::1", "-6"), ("172.17.12.1", "-4")] {
        let r = n1.sh(&format!("ping {flag} -c 1 -W 2 {target}"));
        assert!(r.is_ok(), "ping {target}: {r:?}\n{}", seg.logs());
    }
    // The IPv6 session carries both families; `show fib` reads the kernel back.
    let p = a1.peer("fd00:11::1");
    assert_eq!(p["established"], true, "{p}");
    let fib = a1.json(&["show", "fib"]);
    let entry = fib
        .as_array()
        .and_then(|a| a.iter().find(|r| r["prefix"] == "2001:db8:12::/64"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["next_hops"][0]["via"], "fd00:11::c", "{fib}");
    assert_eq!(entry["next_hops"][0]["device"], "eth0", "{fib}");
    // The metrics endpoint (default 127.0.0.1:9180 of the node).
    let m = n1
        .sh("curl -sf http://127.0.0.1:9180/metrics")
        .unwrap_or_default();
    assert!(
        m.contains("node_agent_pod_blocks{family=\"ipv6\"} 1"),
        "{m}"
    );
    assert!(m.contains("bgp_session_up{peer=\"fd00:11::1\"} 1"), "{m}");
}

/// Two of our reflectors, each with one of two nodes announcing the same block: the third
/// node installs both paths, one next hop on its subnet (eth0) and one across (tunl0).
#[test]
fn ecmp_through_two_reflectors_with_a_direct_and_a_tunnel_next_hop_that_follow_the_links() {
    if !can_run(false, false, false) {
        return;
    }
    let seg = Segment::new("nae");
    let (r1, r2) = (seg.host("rr1", 1), seg.host("rr2", 2));
    let (n1, n2, n3) = (seg.host("n1", 11), seg.host("n2", 12), seg.host("n3", 13));
    // n3 is on another subnet (same wire), which n1 has no address in; rr2 has one.
    n3.sh("ip addr add 10.12.0.13/24 dev eth0").unwrap();
    r2.sh("ip addr add 10.12.0.2/24 dev eth0").unwrap();
    let tunnel = "ip link add tunl0 type veth peer name tunl0-end && \
                  ip link set tunl0 up && ip link set tunl0-end up";
    n1.sh(tunnel).unwrap();
    let mut c1 = reflector_head("10.11.0.1", 65000, &seg.dir, "rr1");
    c1.push_str("[[client]]\naddress = \"10.11.0.11\"\n[[client]]\naddress = \"10.11.0.12\"\n");
    let mut c2 = reflector_head("10.11.0.2", 65000, &seg.dir, "rr2");
    c2.push_str("[[client]]\naddress = \"10.11.0.11\"\n[[client]]\naddress = \"10.12.0.13\"\n");
    let _rr1 = seg.reflector(&r1, "rr1", &c1, false);
    let _rr2 = seg.reflector(&r2, "rr2", &c2, false);
    let a1 = Agent::start(
        &seg,
        &n1,
        "n1",
        &format!(
            "{}max_paths = 2\n[node]\naddress = \"10.11.0.11\"\naddress6 = \"fd00:11::b\"\n\
             [[ibgp]]\naddress = \"10.11.0.1\"\n[[ibgp]]\naddress = \"10.11.0.2\"\n",
            node_head(65000, "10.11.0.11")
        ),
        &["--log-format", "json"],
    );
    let anycast = "pod_blocks = [\"172.17.99.0/24\", \"2001:db8:99::/64\"]\n";
    let _a2 = Agent::start(
        &seg,
        &n2,
        "n2",
        &format!(
            "{}[node]\naddress = \"10.11.0.12\"\naddress6 = \"fd00:11::c\"\n{anycast}\
             [[ibgp]]\naddress = \"10.11.0.1\"\n",
            node_head(65000, "10.11.0.12")
        ),
        &[],
    );
    let _a3 = Agent::start(
        &seg,
        &n3,
        "n3",
        &format!(
            "{}[node]\naddress = \"10.12.0.13\"\naddress6 = \"fd00:11::d\"\n{anycast}\
             [[ibgp]]\naddress = \"10.12.0.2\"\n",
            node_head(65000, "10.12.0.13")
        ),
        &[],
    );
    let v4 = || ip_route(&n1, "-4 route show 172.17.99.0/24 proto bgp");
    let both = |v: &str, far: &str| {
        v.contains("nexthop via 10.11.0.12 dev eth0")
            && v.contains(&format!("nexthop via 10.12.0.13 dev {far}"))
    };
    seg.wait("an ECMP set with a direct and a tunnel next hop", || {
        both(&v4(), "tunl0")
    });
    seg.wait("an IPv6 ECMP set", || {
        let v6 = ip_route(&n1, "-6 route show 2001:db8:99::/64 proto bgp");
        v6.contains("via fd00:11::c dev eth0") && v6.contains("via fd00:11::d dev eth0")
    });
    // `show routes`: both paths of the block, both in the ECMP set.
    let r = a1.json(&["show", "routes", "172.17.99.0/24"]);
    let paths = r[0]["paths"].as_array().cloned().unwrap_or_default();
    assert_eq!(paths.len(), 2, "{r}");
    assert!(paths.iter().all(|p| p["multipath"] == true), "{r}");
    // n1 gets an address on n3's subnet: n3 is now reached directly.
    let t = std::time::Instant::now();
    n1.sh("ip addr add 10.12.0.11/24 dev eth0").unwrap();
    seg.wait("the far next hop moved to eth0", || both(&v4(), "eth0"));
    eprintln!(
        "address added: next hop re-decided within {:?}",
        t.elapsed()
    );
    n1.sh("ip addr del 10.12.0.11/24 dev eth0").unwrap();
    seg.wait("the far next hop back on the tunnel", || {
        both(&v4(), "tunl0")
    });
    // The tunnel goes (the kernel drops the route with it): the direct next hop stays.
    n1.sh("ip link del tunl0").unwrap();
    seg.wait("the route on its direct next hop alone", || {
        v4().contains("172.17.99.0/24 via 10.11.0.12 dev eth0")
    });
    let t = std::time::Instant::now();
    n1.sh(tunnel).unwrap();
    seg.wait("both next hops again with the tunnel back", || {
        both(&v4(), "tunl0")
    });
    eprintln!("tunnel back: route rewritten within {:?}", t.elapsed());
    let m = n1
        .sh("curl -sf http://127.0.0.1:9180/metrics")
        .unwrap_or_default();
    let changes: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("bgp_fib_link_changes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(changes >= 4, "link changes {changes}\n{m}");
    // JSON logs, one object a line.
    let log = a1.proc.log();
    let first = log
        .lines()
        .find(|l| l.contains("re-deciding"))
        .unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(first).unwrap_or_default();
    assert!(v["fields"]["message"].is_string(), "{first}\n{log}");
}

#[test]
fn reload_adds_and_removes_peers_and_md5_must_match() {
    if !can_run(false, false, false) {
        return;
    }
    let seg = Segment::new("nar");
    let (r1, r2, n1) = (seg.host("rr1", 1), seg.host("rr2", 2), seg.host("n1", 11));
    let mut c1 = reflector_head("10.11.0.1", 65000, &seg.dir, "rr1");
    c1.push_str("[[client]]\naddress = \"10.11.0.11\"\npassword = \"rack-secret\"\n");
    let mut c2 = reflector_head("10.11.0.2", 65000, &seg.dir, "rr2");
    c2.push_str("[[client]]\naddress = \"10.11.0.11\"\n");
    let rr1 = seg.reflector(&r1, "rr1", &c1, false);
    let rr2 = seg.reflector(&r2, "rr2", &c2, false);
    let key = seg.path("key");
    std::fs::write(&key, "wrong-secret\n").unwrap();
    let head = format!(
        "{}[node]\naddress = \"10.11.0.11\"\npod_blocks = [\"172.17.11.0/24\"]\n",
        node_head(65000, "10.11.0.11")
    );
    let md5_peer = format!(
        "[[ibgp]]\naddress = \"10.11.0.1\"\npassword_file = \"{}\"\n",
        key.display()
    );
    let plain_peer = "[[ibgp]]\naddress = \"10.11.0.2\"\n";
    let a = Agent::start(&seg, &n1, "n1", &format!("{head}{md5_peer}"), &[]);
    // A wrong key: no session for several connect retries.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(!a.established("10.11.0.1"), "{}", seg.logs());
    assert!(!rr1.established("10.11.0.11"));
    // The right key, a second reflector: a reload restarts one and adds the other.
    std::fs::write(&key, "rack-secret\n").unwrap();
    a.rewrite(&format!("{head}{md5_peer}{plain_peer}"));
    let r = a.json(&["reload"]);
    assert_eq!(r["added"], serde_json::json!(["10.11.0.2"]), "{r}");
    assert_eq!(r["restarted"], serde_json::json!(["10.11.0.1"]), "{r}");
    seg.wait("both sessions", || {
        a.established("10.11.0.1") && a.established("10.11.0.2")
    });
    seg.wait("the block at rr1", || {
        !rr1.paths("172.17.11.0/24").is_empty()
    });
    // A block added and the first reflector removed, by SIGHUP: rr2's session stays.
    let before = a.peer("10.11.0.2")["established_count"].clone();
    let head2 = head.replace("0/24\"]", "0/24\", \"172.17.111.0/24\"]");
    a.rewrite(&format!("{head2}{plain_peer}"));
    let pid = a.proc.pid().unwrap().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    seg.wait("the peer removed", || {
        a.json(&["show", "peers"])
            .as_array()
            .is_some_and(|p| p.len() == 1 && p[0]["address"] == "10.11.0.2")
    });
    seg.wait("the new block at rr2", || {
        !rr2.paths("172.17.111.0/24").is_empty()
    });
    seg.wait("rr1 without the node", || !rr1.established("10.11.0.11"));
    let after = a.peer("10.11.0.2");
    assert_eq!(after["established"], true, "{after}");
    assert_eq!(
        after["established_count"], before,
        "rr2's session untouched: {after}"
    );
    // A file that does not check is refused as a whole; the running one stays.
    a.rewrite(&format!(
        "{head2}{plain_peer}[[ibgp]]\naddress = \"10.11.0.300\"\n"
    ));
    let r = a.json(&["reload"]);
    assert!(r.get("added").is_none(), "{r}");
    assert!(a.established("10.11.0.2"));
}

#[test]
fn check_names_the_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("na-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        segment::netns::output(Command::new(AGENT).arg("check").arg(&f))
    };
    let good = "asn = 65000\nrouter_id = \"10.0.0.1\"\n[node]\naddress = \"10.0.0.1\"\n\
                address6 = \"fd00::1\"\npod_blocks = [\"172.17.1.0/24\", \"2001:db8:1::/64\"]\n\
                [[ibgp]]\naddress = \"10.0.0.254\"\npassword_env = \"NO_SUCH_VARIABLE_X\"\n";
    let (code, _, err) = check("bad-secret.toml", good);
    assert_eq!(code, 1, "{err}");
    let good = good.replace("password_env = \"NO_SUCH_VARIABLE_X\"\n", "");
    let (code, out, err) = check("good.toml", &good);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 pod blocks"), "{out}");
    // An IPv6 block without an IPv6 address: at the block.
    let bad = good.replace("address6 = \"fd00::1\"\n", "");
    let (code, _, err) = check("v6.toml", &bad);
    let path = dir.join("v6.toml");
    let at = format!(
        "{}:5:32: IPv6 block 2001:db8:1::/64 needs `address6`",
        path.display()
    );
    assert_eq!(code, 1);
    assert!(err.contains(&at), "{err}");
    // An unknown key in [node].
    let bad = good.replace("[node]\n", "[node]\ntunnel = \"tunl0\"\n");
    let (code, _, err) = check("key.toml", &bad);
    assert_eq!(code, 1);
    assert!(
        err.contains("key.toml:4:1:") && err.contains("unknown field"),
        "{err}"
    );
    // A reflector's file is not a node's.
    let (code, _, err) = check("rr.toml", "asn = 65000\nrouter_id = \"10.0.0.1\"\n");
    assert_eq!(code, 1);
    assert!(err.contains("no [node] table"), "{err}");
    // The shipped example, its secrets left unread.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/node-agent.toml");
    let (code, out, err) =
        segment::netns::output(Command::new(AGENT).args(["check", "--no-secrets", example]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 peers, 2 pod blocks, max_paths 2"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
