//! Monitoring with real tools: our reflector exports BMP to pmacct's `pmbmpd`, whose
//! message log must show the sessions coming up, their routes and their ends; the
//! reflector's MRT table dumps and update logs are read back by `bgpdump`. Each test
//! builds its own segment in network namespaces and removes it when it ends.

mod segment;

use std::process::Command;

use segment::*;

fn installed(program: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| std::path::Path::new(d).join(program).exists())
}

/// Whether the monitoring tools are here (under CI they must be).
fn tools(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "required under CI: {missing:?}"
    );
    eprintln!("skipped: missing {missing:?}");
    false
}

/// The JSON lines pmbmpd logged.
fn bmp_log(seg: &Segment) -> Vec<serde_json::Value> {
    std::fs::read_to_string(seg.path("bmp-msglog.json"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn logged(seg: &Segment, f: impl Fn(&serde_json::Value) -> bool) -> bool {
    bmp_log(seg).iter().any(f)
}

/// The reflector (10.11.0.1) with a node agent (10.11.0.2, 172.17.2.0/24) and FRR
/// (10.11.0.3, 172.18.3.0/24 and fd00:18:3::/48) as clients, exporting to pmbmpd at
/// 10.11.0.5: Peer Up for both with their OPENs, their routes (pre-policy, post-policy
/// and the Loc-RIB), statistics, and Peer Down when FRR stops; after the reflector
/// restarts and a station that was down comes back, it is given the tables again.
#[test]
fn pmbmpd_sees_peers_routes_statistics_and_peer_down() {
    if !can_run(true, false, false) || !tools(&["pmbmpd"]) {
        return;
    }
    let seg = Segment::new("bmp");
    let rr_ns = seg.host("rr", 1);
    let node_ns = seg.host("node", 2);
    let frr_ns = seg.host("frr", 3);
    let col_ns = seg.host("col", 5);
    let conf = seg.path("pmbmpd.conf");
    std::fs::write(
        &conf,
        format!(
            "bmp_daemon_ip: 10.11.0.5\nbmp_daemon_port: 11019\n\
             bmp_daemon_msglog_file: {}\nbmp_daemon_msglog_output: json\n",
            seg.path("bmp-msglog.json").display()
        ),
    )
    .unwrap();
    let collector = || {
        let mut cmd = Command::new("pmbmpd");
        cmd.arg("-f").arg(&conf);
        col_ns
            .spawn("pmbmpd", &mut cmd, &seg.path("pmbmpd.log"))
            .unwrap()
    };
    let mut pmbmpd = collector();
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    config.push_str(
        r#"[[bmp]]
address = "10.11.0.5"
monitoring = ["pre-policy", "post-policy", "loc-rib"]
statistics_interval = 2
[[client]]
address = "10.11.0.2"
[[client]]
address = "10.11.0.3"
[[client]]
address = "fd00:11::3"
"#,
    );
    let mut rr = seg.reflector(&rr_ns, "rr", &config, false);
    let msg = |v: &serde_json::Value, kind: &str| v["bmp_msg_type"] == kind;
    // Connected before the sessions: the station sees their UPDATEs as received.
    seg.wait("pmbmpd logs our Initiation", || {
        logged(&seg, |v| {
            msg(v, "init")
                && v["bmp_init_info_sysdescr"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("route-reflector"))
        })
    });
    let _agent = seg.agent(
        &node_ns,
        "agent",
        65000,
        "10.11.0.2",
        "10.11.0.1",
        "172.17.2.0/24",
    );
    let mut frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "0.0.0.0",
        &frr_client_conf(3, "172.18.3.0/24", "fd00:18:3::/48"),
    )
    .unwrap();
    seg.wait("the sessions", || {
        rr.established("10.11.0.2") && rr.established("10.11.0.3") && rr.established("fd00:11::3")
    });
    for peer in ["10.11.0.2", "10.11.0.3", "fd00:11::3"] {
        seg.wait(&format!("pmbmpd logs the peer up of {peer}"), || {
            logged(&seg, |v| msg(v, "peer_up") && v["peer_ip"] == peer)
        });
    }
    let route = |prefix: &'static str, peer: &'static str, post: bool| {
        move |v: &serde_json::Value| {
            msg(v, "route_monitor")
                && v["ip_prefix"] == prefix
                && v["peer_ip"] == peer
                && v["is_post"].as_i64().unwrap_or(0) == i64::from(post)
        }
    };
    for (prefix, peer) in [
        ("172.17.2.0/24", "10.11.0.2"),
        ("172.18.3.0/24", "10.11.0.3"),
        ("fd00:18:3::/48", "fd00:11::3"),
    ] {
        for post in [false, true] {
            seg.wait(&format!("{prefix} from {peer}, post-policy {post}"), || {
                logged(&seg, route(prefix, peer, post))
            });
        }
    }
    seg.wait("the Loc-RIB's routes", || {
        logged(&seg, |v| {
            msg(v, "route_monitor") && v["ip_prefix"] == "172.18.3.0/24" && v["is_loc"] == 1
        })
    });
    seg.wait("statistics", || logged(&seg, |v| msg(v, "stats")));
    frr.kill_bgpd();
    seg.wait("pmbmpd logs FRR's peer down", || {
        logged(&seg, |v| msg(v, "peer_down") && v["peer_ip"] == "10.11.0.3")
    });
    assert!(
        !logged(&seg, |v| msg(v, "peer_down") && v["peer_ip"] == "10.11.0.2"),
        "the node's session is still up"
    );
    // A station that comes back is given the tables: the sessions up now and their
    // routes after the import policy (those before it are not kept).
    pmbmpd.stop();
    std::fs::remove_file(seg.path("bmp-msglog.json")).unwrap();
    let _pmbmpd = collector();
    seg.wait(
        "the new station is told of the node's session and routes",
        || {
            logged(&seg, |v| msg(v, "peer_up") && v["peer_ip"] == "10.11.0.2")
                && logged(&seg, route("172.17.2.0/24", "10.11.0.2", true))
        },
    );
    assert!(!logged(&seg, |v| msg(v, "peer_up") && v["peer_ip"] == "10.11.0.3"));
    // A reflector that stops says so: its sessions end, then Termination.
    assert!(rr.proc.stop());
    seg.wait(
        "pmbmpd logs the node's peer down and our Termination",
        || {
            logged(&seg, |v| msg(v, "peer_down") && v["peer_ip"] == "10.11.0.2")
                && logged(&seg, |v| msg(v, "term"))
        },
    );
    let _ = (&node_ns, &frr_ns);
}
