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
/// and the Loc-RIB), what they are sent (Adj-RIB-Out), statistics, and Peer Down when FRR stops; after the reflector
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
monitoring = ["pre-policy", "post-policy", "adj-rib-out", "loc-rib"]
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
                && v["is_out"] != 1
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
    seg.wait("what FRR is sent: the node's block (Adj-RIB-Out)", || {
        logged(&seg, |v| {
            msg(v, "route_monitor")
                && v["ip_prefix"] == "172.17.2.0/24"
                && v["peer_ip"] == "10.11.0.3"
                && v["is_out"] == 1
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

/// The files of the directory whose names start with `prefix`, sorted.
fn files(seg: &Segment, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(&seg.dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".mrt"))
        })
        .collect();
    v.sort();
    v
}

/// `bgpdump -m` of the files, one line per route or event.
fn bgpdump(paths: &[std::path::PathBuf]) -> String {
    let mut out = String::new();
    for p in paths {
        let o = Command::new("bgpdump").arg("-m").arg(p).output().unwrap();
        out.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    out
}

/// The reflector with the node agent and FRR as clients writes a table dump every two
/// seconds and an update log rotated every two seconds: `bgpdump` reads the dump's routes
/// (IPv4 and IPv6, with the peer each came from) and the log's session changes and
/// announcements; our own `decode` reads the same files.
#[test]
fn bgpdump_reads_our_table_dumps_and_update_log() {
    if !can_run(true, false, false) || !tools(&["bgpdump"]) {
        return;
    }
    let seg = Segment::new("mrt");
    let rr_ns = seg.host("rr", 1);
    let node_ns = seg.host("node", 2);
    let frr_ns = seg.host("frr", 3);
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    config.push_str(&format!(
        r#"[mrt]
table_dump = "{0}/rib.%s.mrt"
table_dump_interval = 2
updates = "{0}/updates.%s.mrt"
rotate_interval = 2
[[client]]
address = "10.11.0.2"
[[client]]
address = "10.11.0.3"
[[client]]
address = "fd00:11::3"
"#,
        seg.dir.display()
    ));
    let rr = seg.reflector(&rr_ns, "rr", &config, false);
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
    // A dump taken once every route is in: bgpdump lists each with the peer it came from.
    let mut last = String::new();
    seg.wait("a table dump with every route", || {
        let Some(f) = files(&seg, "rib.").last().cloned() else {
            return false;
        };
        last = bgpdump(&[f]);
        [
            "|10.11.0.2|65000|172.17.2.0/24|",
            "|10.11.0.3|65000|172.18.3.0/24|",
            "|fd00:11::3|65000|fd00:18:3::/48|",
        ]
        .iter()
        .all(|l| {
            last.lines()
                .any(|x| x.starts_with("TABLE_DUMP2|") && x.contains(l))
        })
    });
    assert!(
        last.contains("|172.18.3.0/24||IGP|10.11.0.3|100|0|"),
        "{last}"
    );
    frr.kill_bgpd();
    seg.wait(
        "the log has FRR's session up, its routes and its end",
        || {
            let log = bgpdump(&files(&seg, "updates."));
            log.contains("|STATE|10.11.0.3|65000|5|6")
                && log.contains("|A|10.11.0.3|65000|172.18.3.0/24|")
                && log.contains("|A|fd00:11::3|65000|fd00:18:3::/48|")
                && log.contains("|STATE|10.11.0.3|65000|6|1")
        },
    );
    let updates = files(&seg, "updates.");
    seg.wait("the update log rotated", || {
        files(&seg, "updates.").len() >= 2
    });
    // Our decoder reads them too.
    let out = Command::new(RR)
        .arg("decode")
        .arg(&updates[0])
        .arg(files(&seg, "rib.").last().unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("172.17.2.0/24"), "{text}");
    let _ = (&node_ns, &frr_ns);
}

/// The show commands an operator expects, against FRR (10.11.0.3, soft reconfiguration
/// inbound, an import policy that rejects its IPv4 prefix) and a node agent (10.11.0.2):
/// the peer's timers, counts and last NOTIFICATION; its Adj-RIB-In as received with the
/// rejected route marked; its filtered routes; what it is sent.
#[test]
fn show_peer_tables_and_notifications() {
    if !can_run(true, false, false) {
        return;
    }
    let seg = Segment::new("show");
    let rr_ns = seg.host("rr", 1);
    let node_ns = seg.host("node", 2);
    let frr_ns = seg.host("frr", 3);
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    config.push_str(
        r#"[prefix_lists]
frr-v4 = ["172.18.3.0/24"]
[policies.no-frr-v4]
default = "accept"
[[policies.no-frr-v4.term]]
match.prefix_list = "frr-v4"
verdict = "reject"
[[client]]
address = "10.11.0.2"
[[client]]
address = "10.11.0.3"
import = "no-frr-v4"
soft_reconfig_inbound = true
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
        "0.0.0.0",
        &frr_client_conf(3, "172.18.3.0/24", "fd00:18:3::/48"),
    )
    .unwrap();
    seg.wait("FRR's route in, the node's block out", || {
        let p = rr.peer("10.11.0.3");
        p["received"] == 1 && p["advertised_v4"] == 1
    });
    let p = rr.peer("10.11.0.3");
    assert_eq!(p["filtered"], 1, "{p}");
    assert_eq!(p["accepted"], 0, "{p}");
    assert_eq!(
        (p["hold_time"].clone(), p["keepalive_time"].clone()),
        (9.into(), 3.into()),
        "{p}"
    );

    let t = rr.json(&["show", "adj-rib-in", "10.11.0.3"]);
    assert_eq!(t["pre_policy"], true, "{t}");
    assert_eq!(t["routes"][0]["prefix"], "172.18.3.0/24", "{t}");
    assert_eq!(t["routes"][0]["accepted"], false, "{t}");
    assert_eq!(t["routes"][0]["next_hop"], "10.11.0.3", "{t}");
    let f = rr.json(&["show", "filtered", "10.11.0.3"]);
    assert_eq!(f["routes"].as_array().map(Vec::len), Some(1), "{f}");
    let text = rr.cli(&["show", "filtered", "10.11.0.3"]);
    assert!(
        text.contains("F") && text.contains("172.18.3.0/24"),
        "{text}"
    );
    // The node keeps no routes as received: its Adj-RIB-In is the accepted routes.
    let t = rr.json(&["show", "adj-rib-in", "10.11.0.2"]);
    assert_eq!(t["pre_policy"], false, "{t}");
    assert_eq!(t["routes"][0]["prefix"], "172.17.2.0/24", "{t}");
    let (code, _, err) = netns::output(
        Command::new(RR)
            .args(["show", "filtered", "10.11.0.2", "--socket"])
            .arg(&rr.socket),
    );
    assert!(
        code != 0 && err.contains("soft_reconfig_inbound"),
        "{code} {err}"
    );
    let out = rr.json(&["show", "adj-rib-out", "10.11.0.3"]);
    assert_eq!(out["routes"][0]["prefix"], "172.17.2.0/24", "{out}");
    assert_eq!(out["routes"][0]["from"], "10.11.0.2", "{out}");
    assert!(
        rr.json(&["show", "adj-rib-out", "10.11.0.2"])["routes"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "FRR's only IPv4 route was filtered, and the node has no IPv6 session"
    );

    frr.configure(&[
        "router bgp 65000",
        "neighbor 10.11.0.1 shutdown message maintenance",
    ])
    .unwrap();
    // FRR wraps its shutdown in a Hard Reset (RFC 8538) when graceful restart is on.
    seg.wait("the NOTIFICATION FRR sent", || {
        rr.peer("10.11.0.3")["last_notification_received"]
            .as_str()
            .is_some_and(|n| n.starts_with("Cease /"))
    });
    assert_eq!(
        rr.peer("10.11.0.3")["last_notification_sent"],
        serde_json::Value::Null
    );
    let _ = (&node_ns, &frr_ns);
}
