//! Two racks on one machine: a reflector process per rack (the binary), three nodes per rack
//! (our speaker library), eBGP between the reflectors. Everything runs in a namespace whose
//! loopback carries the racks' addresses.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use bgp_speaker::Speaker;
use common::{Reflector, TempDir, node, paths, v4, wait_until};

const ADDRESSES: &[&str] = &[
    "192.168.1.1",
    "192.168.1.11",
    "192.168.1.12",
    "192.168.1.13",
    "192.168.1.14",
    "192.168.1.15",
    "192.168.2.1",
    "192.168.2.11",
    "192.168.2.12",
    "192.168.2.13",
    "10.0.0.1",
    "10.0.0.2",
];

/// Rack `rack` (1 or 2): AS 6500N, nodes 192.168.N.11-13, pod blocks in 172.17.0.0/20 (rack
/// 1) and 172.17.16.0/20 (rack 2), eBGP to the other rack over 10.0.0.0/30.
fn rack_config(dir: &Path, rack: u8) -> String {
    let other = 3 - rack;
    let mut c = format!(
        r#"
router_id = "192.168.{rack}.1"
asn = 6500{rack}
listen = ["192.168.{rack}.1:179", "10.0.0.{rack}:179"]

[metrics]
listen = "192.168.{rack}.1:9179"

[admin]
socket = "{dir}/rack{rack}.sock"

[timers]
hold_time = 9
connect_retry = 1

[graceful_restart]
selection_deferral = 20

[[ebgp]]
address = "10.0.0.{other}"
asn = 6500{other}
local_address = "10.0.0.{rack}"
import = "from-other"
export = "to-other"

[prefix_lists]
rack1 = ["172.17.0.0/20 le 26"]
rack2 = ["172.17.16.0/20 le 26"]

[policies.to-other]
[[policies.to-other.term]]
match.prefix_list = "rack{rack}"
verdict = "accept"

[policies.from-other]
[[policies.from-other.term]]
match.prefix_list = "rack{other}"
match.as_path = "^6500{other}$"
verdict = "accept"
"#,
        dir = dir.display()
    );
    for n in 11..=13 {
        c.push_str(&format!(
            "\n[[client]]\naddress = \"192.168.{rack}.{n}\"\npassive = true\nnext_hop = \"self-external\"\n"
        ));
    }
    c
}

fn block(rack: u8, n: u8) -> String {
    format!("172.17.{}.0/24", (rack - 1) * 16 + (n - 10))
}

struct Racks {
    reflectors: Vec<Reflector>,
    /// (rack, node number, speaker)
    nodes: Vec<(u8, u8, Speaker)>,
    _dir: TempDir,
}

async fn learned(s: &Speaker) -> Vec<String> {
    let mut v: Vec<ipnet::IpNet> = s
        .best_routes()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.from.is_some())
        .map(|r| r.prefix)
        .collect();
    v.sort();
    v.iter().map(ToString::to_string).collect()
}

fn all_blocks() -> Vec<String> {
    let mut v: Vec<ipnet::IpNet> = [1u8, 2]
        .iter()
        .flat_map(|r| (11..=13).map(move |n| block(*r, n).parse().unwrap()))
        .collect();
    v.sort();
    v.iter().map(ToString::to_string).collect()
}

async fn two_racks(tag: &str) -> Racks {
    let dir = TempDir::new(tag);
    let reflectors = vec![
        Reflector::start(&dir.0, "rack1", &rack_config(&dir.0, 1), false),
        Reflector::start(&dir.0, "rack2", &rack_config(&dir.0, 2), false),
    ];
    let mut nodes = Vec::new();
    for rack in [1u8, 2] {
        for n in 11..=13u8 {
            let s = node(
                &format!("192.168.{rack}.{n}"),
                &format!("192.168.{rack}.1"),
                65000 + u32::from(rack),
                &block(rack, n),
            )
            .await;
            nodes.push((rack, n, s));
        }
    }
    let r = Racks {
        reflectors,
        nodes,
        _dir: dir,
    };
    for (rack, n, s) in &r.nodes {
        let mut want = all_blocks();
        want.retain(|b| *b != block(*rack, *n));
        wait_until(
            &format!("node {rack}.{n} learns every other block"),
            || async { learned(s).await == want },
        )
        .await;
    }
    r
}

/// Every prefix some node sees withdrawn (its best route gone) from the call of `watch` on.
struct Withdrawals {
    gone: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Withdrawals {
    fn watch<'a>(nodes: impl Iterator<Item = &'a Speaker>) -> Withdrawals {
        let gone = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks = nodes
            .map(|s| {
                let mut rx = s.subscribe();
                let gone = gone.clone();
                tokio::spawn(async move {
                    while let Ok(c) = rx.recv().await {
                        if c.next_hops.is_empty() {
                            gone.lock().unwrap().push(c.prefix.to_string());
                        }
                    }
                })
            })
            .collect();
        Withdrawals { gone, tasks }
    }

    fn seen(&self) -> Vec<String> {
        self.gone.lock().unwrap().clone()
    }
}

impl Drop for Withdrawals {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// GET /metrics from `addr`.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

netns_test!(
    two_racks_reflect_and_exchange_blocks,
    inner_two_racks,
    ADDRESSES,
    {
        let racks = two_racks("racks").await;
        let [rr1, rr2] = &racks.reflectors[..] else {
            unreachable!()
        };
        for (rack, n, s) in &racks.nodes {
            for (orack, on, _) in &racks.nodes {
                if (rack, n) == (orack, on) {
                    continue;
                }
                let r = paths(s, &block(*orack, *on)).await.unwrap();
                let best = &r.paths[0];
                if rack == orack {
                    // Reflected within the rack: the node's own address as next hop,
                    // ORIGINATOR_ID the originating node, CLUSTER_LIST the rack's cluster.
                    let origin = format!("192.168.{orack}.{on}");
                    assert_eq!(best.next_hop.unwrap().to_string(), origin);
                    assert_eq!(best.originator_id, Some(v4(&origin)));
                    assert_eq!(best.cluster_list, vec![v4(&format!("192.168.{rack}.1"))]);
                    assert_eq!(best.as_path, "");
                } else {
                    // From the other rack over eBGP: next hop our top-of-rack reflector, the
                    // other rack's AS in the path, no reflection attributes.
                    assert_eq!(
                        best.next_hop.unwrap().to_string(),
                        format!("192.168.{rack}.1")
                    );
                    assert_eq!(best.as_path, format!("6500{orack}"));
                    assert_eq!(best.originator_id, None);
                    assert!(best.cluster_list.is_empty());
                }
                assert_eq!(best.local_pref, Some(100));
            }
        }

        // Export policy: a block outside rack 2's list stays in rack 2.
        let b1 = &racks.nodes[3].2;
        b1.announce("10.99.0.0/16".parse().unwrap(), Default::default())
            .await
            .unwrap();
        let b2 = &racks.nodes[4].2;
        wait_until("rack 2 node learns 10.99.0.0/16", || async {
            paths(b2, "10.99.0.0/16").await.is_some()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let a1 = &racks.nodes[0].2;
        assert!(
            paths(a1, "10.99.0.0/16").await.is_none(),
            "filtered by to-other"
        );

        // The reflector's own view, through the admin CLI.
        let routes = rr1.json(&["show", "routes"]);
        let prefixes: Vec<&str> = routes
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["prefix"].as_str().unwrap())
            .collect();
        assert_eq!(
            prefixes,
            all_blocks().iter().map(String::as_str).collect::<Vec<_>>()
        );
        let r = rr1.json(&["show", "routes", "172.17.17.0/24"]);
        let p = &r[0]["paths"][0];
        assert_eq!(p["from"], "10.0.0.2");
        assert_eq!(p["next_hop"], "10.0.0.2");
        assert_eq!(p["as_path"], "65002");
        assert_eq!(p["best"], true);
        let only = rr1.json(&["show", "routes", "--peer", "192.168.1.12"]);
        assert_eq!(only.as_array().unwrap().len(), 1);
        assert_eq!(only[0]["prefix"], block(1, 12));
        assert!(
            rr1.json(&["show", "routes", "--family", "v6"])
                .as_array()
                .unwrap()
                .is_empty()
        );

        let (code, text, _) = rr1.cli(&["show", "routes", "172.17.16.0/20"]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "Prefix",
                "Age",
                "Next",
                "hop",
                "From",
                "LocPrf",
                "MED",
                "AS",
                "path",
                "Origin",
                "Attributes"
            ]
        );
        let mut row: Vec<&str> = lines[1].split_whitespace().collect();
        // The route's age, HH:MM:SS.
        let age = row.remove(2);
        let parts: Vec<&str> = age.split(':').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|p| p.parse::<u8>().is_ok()),
            "{age}"
        );
        assert_eq!(
            row,
            [
                "*",
                "172.17.17.0/24",
                "10.0.0.2",
                "10.0.0.2",
                "65002",
                "igp"
            ]
        );
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[4], "3 prefixes, 3 paths (* best, = ECMP, S stale)");
        let (_, text, _) = rr1.cli(&["show", "routes", "172.17.2.0/24"]);
        let mut row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        row.remove(2);
        assert_eq!(
            row,
            [
                "*",
                "172.17.2.0/24",
                "192.168.1.12",
                "192.168.1.12",
                "100",
                "-",
                "igp"
            ]
        );

        let (code, text, _) = rr1.cli(&["show", "summary"]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Router ID 192.168.1.1, AS 65001, cluster ID 192.168.1.1"
        );
        // (Attribute sets count what the reflector sends too, freed lazily.)
        assert!(
            lines[1].starts_with("6 prefixes, 6 paths, ")
                && lines[1].ends_with(" attribute sets; 4 of 4 peers established"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            [
                "Neighbor",
                "AS",
                "UpdRcvd",
                "UpdSent",
                "Up/Down",
                "State/PfxAcc"
            ]
        );
        let rows: Vec<Vec<&str>> = lines[4..]
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let cols = |r: &Vec<&str>| (r[0].to_string(), r[1].to_string(), r[5].to_string());
        assert_eq!(
            rows.iter().map(cols).collect::<Vec<_>>(),
            vec![
                ("10.0.0.2".into(), "65002".into(), "3".into()),
                ("192.168.1.11".into(), "65001".into(), "1".into()),
                ("192.168.1.12".into(), "65001".into(), "1".into()),
                ("192.168.1.13".into(), "65001".into(), "1".into()),
            ]
        );
        let (_, text, _) = rr1.cli(&["show", "peers"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["Peer", "AS", "Role", "State", "Since", "Last", "error"]
        );
        assert_eq!(
            lines[1].split_whitespace().take(4).collect::<Vec<_>>(),
            ["10.0.0.2", "65002", "ebgp", "Established"]
        );
        assert_eq!(
            lines[2].split_whitespace().take(4).collect::<Vec<_>>(),
            ["192.168.1.11", "65001", "client", "Established"]
        );
        let (_, text, _) = rr1.cli(&["show", "peer", "10.0.0.2"]);
        for want in [
            "Type                    ebgp",
            "State                   Established",
            "Router ID               192.168.2.1",
            "Hold time               9",
            "Families                ipv4-unicast ipv6-unicast",
            "Routes accepted         3 (IPv4 3, IPv6 0)",
        ] {
            assert!(text.lines().any(|l| l == want), "{want:?} in\n{text}");
        }
        let (code, _, err) = rr1.cli(&["show", "peer", "192.168.1.99"]);
        assert_eq!(
            (code, err.as_str()),
            (1, "error: no peer at 192.168.1.99\n")
        );
        let out = std::process::Command::new(common::BIN)
            .args(["show", "peers", "--socket", "/nonexistent.sock"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            err.contains("cannot reach the reflector at /nonexistent.sock"),
            "{err}"
        );
        // The other rack's reflector answers for itself.
        assert_eq!(rr2.json(&["show", "summary"])["summary"]["asn"], 65002);

        let metrics = scrape("192.168.1.1:9179");
        assert!(metrics.starts_with("HTTP/1.0 200") || metrics.starts_with("HTTP/1.1 200"));
        assert!(
            metrics.contains("bgp_session_up{peer=\"10.0.0.2\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("bgp_best_routes 6"), "{metrics}");

        // A withdrawn block disappears everywhere.
        a1.withdraw(block(1, 11).parse().unwrap()).await.unwrap();
        for (rack, n, s) in &racks.nodes[1..] {
            wait_until(
                &format!("node {rack}.{n} drops {}", block(1, 11)),
                || async { paths(s, &block(1, 11)).await.is_none() },
            )
            .await;
        }
        for rr in [rr1, rr2] {
            let r = rr.json(&["show", "routes", &block(1, 11)]);
            assert!(r.as_array().unwrap().is_empty(), "{} still has it", rr.name);
        }
        for (_, _, s) in &racks.nodes {
            s.shutdown("test over").await.unwrap();
        }
    }
);

netns_test!(
    a_reflector_restarts_gracefully,
    inner_graceful_restart,
    ADDRESSES,
    {
        let mut racks = two_racks("gr").await;
        // Every prefix the nodes see withdrawn from now on.
        let watch = Withdrawals::watch(racks.nodes.iter().map(|(_, _, s)| s));
        let rr1 = &mut racks.reflectors[0];
        assert!(rr1.stop(), "SIGTERM: a clean exit");
        let log = rr1.log();
        assert!(log.contains("shutting down"), "{log}");
        // The nodes of rack 1 and reflector 2 keep rack 1's routes (stale) meanwhile.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let a1 = &racks.nodes[0].2;
        let r = paths(a1, &block(2, 11))
            .await
            .expect("kept while the reflector restarts");
        assert!(r.paths[0].stale);
        let reason = a1.peers().await.unwrap()[0].last_error.clone().unwrap();
        assert!(
            reason.contains("Administrative Shutdown")
                && reason.contains("route reflector restarting"),
            "{reason}"
        );
        let b1 = &racks.nodes[3].2;
        assert!(paths(b1, &block(1, 12)).await.is_some());

        rr1.spawn(true);
        for (rack, n, s) in &racks.nodes {
            wait_until(&format!("node {rack}.{n} refreshed"), || async {
                let mut fresh = 0;
                for b in all_blocks() {
                    if b == block(*rack, *n) {
                        continue;
                    }
                    if let Some(r) = paths(s, &b).await
                        && !r.paths[0].stale
                    {
                        fresh += 1;
                    }
                }
                fresh == 5 && s.peers().await.unwrap()[0].established
            })
            .await;
        }
        let lost: Vec<String> = watch
            .seen()
            .into_iter()
            .filter(|p| all_blocks().contains(p))
            .collect();
        assert!(lost.is_empty(), "withdrawn during the restart: {lost:?}");
        let log = racks.reflectors[0].log();
        assert!(
            log.contains("selection deferral over: every graceful-restart peer's table is in"),
            "{log}"
        );
        for (_, _, s) in &racks.nodes {
            s.shutdown("test over").await.unwrap();
        }
    }
);

/// Rack 1 with one reflector and nodes .11 to .15 (the config lists some of them).
fn reload_config(dir: &Path, clients: &[(u8, &str)]) -> String {
    let mut c = format!(
        r#"
router_id = "192.168.1.1"
asn = 65001
listen = ["192.168.1.1:179"]
[metrics]
listen = ""
[admin]
socket = "{}/rack1.sock"
[timers]
hold_time = 9
connect_retry = 1
[prefix_lists]
node11 = ["172.17.1.0/24"]
[policies.not-11]
default = "accept"
[[policies.not-11.term]]
match.prefix_list = "node11"
verdict = "reject"
"#,
        dir.display()
    );
    for (n, extra) in clients {
        c.push_str(&format!(
            "\n[[client]]\naddress = \"192.168.1.{n}\"\npassive = true\n{extra}\n"
        ));
    }
    c
}

async fn status(s: &Speaker) -> bgp_speaker::PeerStatus {
    s.peers().await.unwrap().remove(0)
}

netns_test!(
    reload_touches_only_changed_peers,
    inner_reload,
    ADDRESSES,
    {
        let dir = TempDir::new("reload");
        let first = reload_config(&dir.0, &[(11, ""), (12, ""), (13, ""), (15, "")]);
        let mut rr = Reflector::start(&dir.0, "rack1", &first, false);
        let mut nodes = Vec::new();
        for n in 11..=15u8 {
            let s = node(
                &format!("192.168.1.{n}"),
                "192.168.1.1",
                65001,
                &block(1, n),
            )
            .await;
            nodes.push(s);
        }
        let node = |n: u8| &nodes[usize::from(n - 11)];
        for n in [11u8, 12, 13, 15] {
            wait_until(&format!("node {n} up"), || async {
                status(node(n)).await.established
            })
            .await;
        }
        wait_until("node 12 learns node 11's block", || async {
            paths(node(12), &block(1, 11)).await.is_some()
        })
        .await;

        // .11 unchanged, .12 a new export policy, .13 removed, .14 added, .15 a new hold time.
        let second = reload_config(
            &dir.0,
            &[
                (11, ""),
                (12, "export = \"not-11\""),
                (14, ""),
                (15, "hold_time = 6"),
            ],
        );
        std::fs::write(&rr.config, &second).unwrap();
        let (code, text, err) = rr.cli(&["reload"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            text,
            "added:            192.168.1.14\n\
         removed:          192.168.1.13\n\
         restarted:        192.168.1.15\n\
         policies applied: 192.168.1.12\n\
         unchanged:        1\n"
        );
        wait_until("node 12 loses node 11's block without a reset", || async {
            paths(node(12), &block(1, 11)).await.is_none()
        })
        .await;
        wait_until("node 14 up, node 15 up again", || async {
            status(node(14)).await.established
                && status(node(15)).await.established_count == 2
                && status(node(15)).await.established
        })
        .await;
        let gone = status(node(13)).await;
        assert!(!gone.established);
        assert!(
            gone.last_error
                .as_deref()
                .unwrap_or("")
                .contains("Peer De-configured"),
            "{gone:?}"
        );
        assert_eq!(status(node(11)).await.established_count, 1, "untouched");
        assert_eq!(
            status(node(12)).await.established_count,
            1,
            "policy applied in place"
        );
        let peers = rr.json(&["show", "peers"]);
        let listed: Vec<&str> = peers
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["address"].as_str().unwrap())
            .collect();
        assert_eq!(
            listed,
            [
                "192.168.1.11",
                "192.168.1.12",
                "192.168.1.14",
                "192.168.1.15"
            ]
        );

        // A file that does not check is refused as a whole, by SIGHUP and by the CLI.
        std::fs::write(
            &rr.config,
            second.replace("hold_time = 6", "hold_time = \"six\""),
        )
        .unwrap();
        rr.signal("-HUP");
        wait_until("the refusal is logged", || async {
            rr.log()
                .contains("reload refused, the running configuration stays")
        })
        .await;
        assert!(rr.log().contains("rack1.toml:"), "the error names the file");
        let (code, _, err) = rr.cli(&["reload"]);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("error: ")
                && err.contains("rack1.toml:")
                && err.contains("expected u16"),
            "{err}"
        );
        std::fs::write(
            &rr.config,
            second.replace("192.168.1.1\"\nasn", "192.168.1.9\"\nasn"),
        )
        .unwrap();
        let (code, _, err) = rr.cli(&["reload"]);
        assert_eq!(
            (code, err.as_str()),
            (1, "error: changing router_id, cluster_id needs a restart\n")
        );
        assert_eq!(rr.json(&["show", "peers"]).as_array().unwrap().len(), 4);
        assert_eq!(status(node(11)).await.established_count, 1);

        // The operator's per-peer commands.
        let (code, text, _) = rr.cli(&[
            "peer",
            "192.168.1.11",
            "shutdown",
            "--message",
            "maintenance",
        ]);
        assert_eq!((code, text.as_str()), (0, "192.168.1.11: Shutdown done\n"));
        wait_until("node 11 down with the message", || async {
            let s = status(node(11)).await;
            !s.established && s.last_error.is_some_and(|e| e.contains("maintenance"))
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, text, _) = rr.cli(&["show", "peer", "192.168.1.11"]);
        assert!(
            text.contains("State                   Idle (Admin)"),
            "{text}"
        );
        assert!(!status(node(11)).await.established, "stays down");
        let (code, _, _) = rr.cli(&["peer", "192.168.1.11", "reset"]);
        assert_eq!(code, 0);
        wait_until("node 11 back", || async {
            status(node(11)).await.established
        })
        .await;
        let (code, _, _) = rr.cli(&["peer", "192.168.1.12", "refresh"]);
        assert_eq!(code, 0);
        let (code, _, err) = rr.cli(&["peer", "192.168.1.99", "reset"]);
        assert_eq!(
            (code, err.as_str()),
            (1, "error: no peer at 192.168.1.99\n")
        );
        for s in &nodes {
            s.shutdown("test over").await.unwrap();
        }
        assert!(rr.stop());
    }
);

/// One of two reflectors of rack 1 sharing a cluster ID (`.2` and `.3`), without graceful
/// restart so that a stopped reflector's routes go at once.
fn pair_config(dir: &Path, me: u8, other: u8) -> String {
    let mut c = format!(
        r#"
router_id = "192.168.1.{me}"
asn = 65001
cluster_id = "192.168.1.1"
listen = ["192.168.1.{me}:179"]
[metrics]
listen = ""
[admin]
socket = "{}/rr{me}.sock"
[timers]
hold_time = 9
connect_retry = 1
[graceful_restart]
enabled = false
[[ibgp]]
address = "192.168.1.{other}"
local_address = "192.168.1.{me}"
"#,
        dir.display()
    );
    for n in 11..=13 {
        c.push_str(&format!(
            "\n[[client]]\naddress = \"192.168.1.{n}\"\npassive = true\n"
        ));
    }
    c
}

const PAIR_ADDRESSES: &[&str] = &[
    "192.168.1.2",
    "192.168.1.3",
    "192.168.1.11",
    "192.168.1.12",
    "192.168.1.13",
];

netns_test!(
    a_redundant_pair_keeps_the_rack_up,
    inner_redundant_pair,
    PAIR_ADDRESSES,
    {
        let dir = TempDir::new("pair");
        let mut rr2 = Reflector::start(&dir.0, "rr2", &pair_config(&dir.0, 2, 3), false);
        let rr3 = Reflector::start(&dir.0, "rr3", &pair_config(&dir.0, 3, 2), false);
        let mut nodes = Vec::new();
        for n in 11..=13u8 {
            let me: std::net::IpAddr = format!("192.168.1.{n}").parse().unwrap();
            let std::net::IpAddr::V4(id) = me else {
                unreachable!()
            };
            let mut c = bgp_speaker::SpeakerConfig::new(65001, id);
            for rr in [2, 3] {
                let mut p = bgp_speaker::PeerSettings::new(
                    format!("192.168.1.{rr}").parse().unwrap(),
                    65001,
                );
                p.local_address = Some(me);
                p.connect_retry = Some(1);
                p.hold_time = 9;
                c.router.peers.push(p);
            }
            let s = Speaker::start(c).await.unwrap();
            s.announce(block(1, n).parse().unwrap(), Default::default())
                .await
                .unwrap();
            nodes.push(s);
        }
        // Every node holds each other block twice, once through each reflector.
        for (i, s) in nodes.iter().enumerate() {
            for (j, _) in nodes.iter().enumerate().filter(|(j, _)| *j != i) {
                let b = block(1, 11 + j as u8);
                wait_until(&format!("node {i} has two paths for {b}"), || async {
                    paths(s, &b).await.is_some_and(|r| r.paths.len() == 2)
                })
                .await;
            }
        }
        // Each reflector keeps only the client's path: the copy the other reflector sent carries
        // their shared cluster ID and is dropped (RFC 4456 8).
        let r = rr3.json(&["show", "routes", &block(1, 11)]);
        let from: Vec<&str> = r[0]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["from"].as_str().unwrap())
            .collect();
        assert_eq!(from, ["192.168.1.11"]);
        let peers = rr3.json(&["show", "peer", "192.168.1.2"]);
        assert_eq!(peers["state"], "Established");
        assert_eq!(peers["rr_client"], false);

        // One reflector stops: no node loses a route, each keeps one path.
        let watch = Withdrawals::watch(nodes.iter());
        assert!(rr2.stop());
        for (i, s) in nodes.iter().enumerate() {
            for j in (0..3).filter(|j| *j != i) {
                let b = block(1, 11 + j as u8);
                wait_until(&format!("node {i} down to one path for {b}"), || async {
                    paths(s, &b).await.is_some_and(|r| r.paths.len() == 1)
                })
                .await;
            }
        }
        let lost = watch.seen();
        assert!(lost.is_empty(), "lost: {lost:?}");
        for s in &nodes {
            s.shutdown("test over").await.unwrap();
        }
    }
);
