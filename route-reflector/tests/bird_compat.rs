//! Our `bird` in calico-node's place: started as calico-node starts BIRD, with a
//! configuration Calico's confd rendered (its addresses moved onto the test segment), it
//! peers with real BIRD 2 and FRR nodes as a node-to-node mesh, writes their routes into
//! its namespace's kernel as Calico's kernel filter says, answers `birdcl`/`birdc` on its
//! control socket so that calico-node's liveness and readiness rules (re-implemented
//! below from `node/pkg/health/` of projectcalico/calico) pass, reloads on SIGHUP with a
//! changed peer set, refuses a broken reload keeping what runs, and stops on SIGTERM.

mod segment;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use segment::*;

const BIRD: &str = env!("CARGO_BIN_EXE_bird");

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/calico")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(data().join(rel)).unwrap()
}

/// Calico's node 10.192.0.2 becomes 10.11.0.1, its mesh peers .3 and .4 become .2 and .3.
fn moved(text: &str) -> String {
    text.replace("10.192.0.0/16", "10.11.0.0/16")
        .replace("10.192.0.2", "10.11.0.1")
        .replace("10.192.0.3", "10.11.0.2")
        .replace("10.192.0.4", "10.11.0.3")
        .replace("10_192_0_3", "10_11_0_2")
        .replace("10_192_0_4", "10_11_0_3")
}

/// `bird.cfg` of Calico's ipip-always mesh scenario on the segment, with mesh peers at the
/// given hosts of 10.11.0.0/24 (each protocol block as Calico renders it).
fn bird_cfg(peers: &[u8]) -> String {
    let text = moved(&read("mesh/ipip-always/bird.cfg"));
    let first = text.find("protocol bgp Mesh_").unwrap();
    let block_end = text[first..].find("\n}\n").unwrap() + first + 3;
    let block = &text[first..block_end];
    let mut out = text[..first].to_string();
    for p in peers {
        out.push_str(
            &block
                .replace("10_11_0_2", &format!("10_11_0_{p}"))
                .replace("neighbor 10.11.0.2", &format!("neighbor 10.11.0.{p}")),
        );
    }
    out
}

/// Writes the three files our daemon reads: `bird.cfg`, and the `bird_aggr.cfg` (the
/// node's blocks as static blackholes) and `bird_ipam.cfg` (pools: 172.16/16 IPIP across
/// subnets, 172.17/16 left to Felix, 192.168/16 IPIP always) it includes.
fn write_config(dir: &Path, peers: &[u8]) -> PathBuf {
    std::fs::write(
        dir.join("bird_aggr.cfg"),
        moved(&read("mesh/ipip-always/bird_aggr.cfg")),
    )
    .unwrap();
    std::fs::write(
        dir.join("bird_ipam.cfg"),
        moved(&read("cluster_routes/ipip-only/bird_ipam.cfg")),
    )
    .unwrap();
    let path = dir.join("bird.cfg");
    std::fs::write(&path, bird_cfg(peers)).unwrap();
    path
}

/// Calico's route reflector node of the explicit-peering scenario moved onto the segment:
/// its two route reflector clients (`rr client`, cluster ID 10.0.0.1) at .2 and .3, its
/// eBGP peer elsewhere left out.
fn write_reflector_config(dir: &Path) -> PathBuf {
    let scenario = "explicit_peering/route_reflector";
    for f in ["bird_aggr.cfg", "bird_ipam.cfg"] {
        std::fs::write(dir.join(f), moved(&read(&format!("{scenario}/{f}")))).unwrap();
    }
    let text = moved(&read(&format!("{scenario}/bird.cfg")));
    let cut = text.find("protocol bgp Node_172_19_4_87").unwrap();
    let end = text[cut..].find("\n}\n").unwrap() + cut + 3;
    let path = dir.join("bird.cfg");
    std::fs::write(&path, format!("{}{}", &text[..cut], &text[end..])).unwrap();
    path
}

/// A BIRD 2 node of the mesh at 10.11.0.HOST announcing a block of each pool.
fn bird_node_conf(host: u8, asn: u32) -> String {
    bird_conf(&format!(
        "router id 10.11.0.{host};\n\
         protocol direct {{ ipv4; interface \"eth0\"; }}\n\
         protocol static {{ ipv4; route 172.16.{host}.0/26 blackhole; \
           route 172.17.{host}.0/26 blackhole; route 192.168.{host}.0/26 blackhole; \
           route 172.16.99.0/26 blackhole; route 10.50.{host}.0/24 blackhole; }}\n\
         protocol bgp Mesh_10_11_0_1 {{ local 10.11.0.{host} as {asn}; \
           neighbor 10.11.0.1 as {asn}; graceful restart; connect delay time 1; \
           connect retry time 1; error wait time 1,2;\n\
           ipv4 {{ import all; export where proto = \"static1\"; }}; }}\n"
    ))
}

/// calico-node's liveness rule for BIRD: `birdcl -s SOCK show status` prints a reply that
/// starts with `BIRD`.
fn live(socket: &Path) -> bool {
    let out = Command::new("birdcl")
        .arg("-s")
        .arg(socket)
        .args(["show", "status"])
        .output()
        .unwrap();
    out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("BIRD")
}

/// Sends `cmd` on a connection of our own and reads reply lines until `last` says the
/// reply is over (as calico-node reads the socket, with a 2 s read timeout).
fn ask(socket: &Path, cmd: &str, last: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for l in BufReader::new(s).lines() {
        let l = l.map_err(|e| e.to_string())?;
        let done = last(&l);
        lines.push(l);
        if done {
            break;
        }
    }
    Ok(lines)
}

/// A BGP peer row of `show protocols` as calico-node reads it.
#[derive(Debug)]
struct Peer {
    ip: String,
    bgp_state: String,
}

/// calico-node's reading of `show protocols`: hello `0001`, heading `2002` with exactly
/// the columns name, proto, table, state, since, info; rows `1002-` or continuation
/// lines; `0000` ends it; any other line is an error. Rows count when they have six
/// columns or more, proto `BGP` and a name `Global_`, `Node_` or `Mesh_` then the address
/// with `_` for its separators; the sixth column is the BGP state.
fn peers(socket: &Path, sep: char) -> Result<Vec<Peer>, String> {
    let lines = ask(socket, "show protocols", |l| l.starts_with("0000"))?;
    let mut out = Vec::new();
    for l in &lines {
        let row = if l.starts_with("0000") || l.starts_with("0001") {
            continue;
        } else if let Some(h) = l.strip_prefix("2002") {
            let cols: Vec<&str> = h[1..].split_whitespace().collect();
            if cols != ["name", "proto", "table", "state", "since", "info"] {
                return Err(format!("unknown BIRD table output format: {l}"));
            }
            continue;
        } else if l.starts_with("1002") {
            &l[5..]
        } else if let Some(r) = l.strip_prefix(' ') {
            r
        } else {
            return Err(format!("unexpected output line from BIRD: '{l}'"));
        };
        let cols: Vec<&str> = row.split_whitespace().collect();
        if cols.len() < 6 || cols[1] != "BGP" {
            continue;
        }
        let Some((kind, ip)) = cols[0].split_once('_') else {
            continue;
        };
        if !["Global", "Node", "Mesh"].contains(&kind) {
            continue;
        }
        out.push(Peer {
            ip: ip.replace('_', &sep.to_string()),
            bgp_state: cols[5].to_string(),
        });
    }
    Ok(out)
}

/// calico-node's reading of `show status`: `0013` ends it, `0024` means graceful restart
/// recovery in progress; `0001`, `1000`, `1011` and continuation lines pass; anything else
/// is an error.
fn graceful_restart_in_progress(socket: &Path) -> Result<bool, String> {
    let lines = ask(socket, "show status", |l| {
        l.starts_with("0013") || l.starts_with("0024")
    })?;
    for l in &lines {
        if l.starts_with("0024") {
            return Ok(true);
        }
        let known = ["0013", "0001", "1000", "1011", " "];
        if !known.iter().any(|k| l.starts_with(k)) {
            return Err(format!("unexpected output line from BIRD: '{l}'"));
        }
    }
    Ok(false)
}

/// calico-node's readiness for BIRD. `startup`: the node started less than the threshold
/// ago (its nodename file is recent): every peer must be Established and no graceful
/// restart in progress. Later one Established peer is enough. No peers: ready.
fn ready(socket: &Path, startup: bool) -> Result<(), String> {
    readiness(socket, '.', startup)
}

/// The same for BIRD6: `:` for `_` in the names.
fn readiness(socket: &Path, sep: char, startup: bool) -> Result<(), String> {
    let peers = peers(socket, sep)?;
    let down: Vec<&str> = peers
        .iter()
        .filter(|p| p.bgp_state != "Established")
        .map(|p| p.ip.as_str())
        .collect();
    if peers.is_empty() {
        return Ok(());
    }
    if startup {
        if !down.is_empty() {
            return Err(format!("BGP not established with {}", down.join(",")));
        }
        if graceful_restart_in_progress(socket)? {
            return Err("graceful restart in progress".into());
        }
        return Ok(());
    }
    if down.len() < peers.len() {
        Ok(())
    } else {
        Err(format!("BGP not established with {}", down.join(",")))
    }
}

/// Our routes in `ns`'s kernel (protocol bird), one `ip route` line each.
fn bird_routes(ns: &Ns) -> Vec<String> {
    ns.sh("ip -4 route show proto bird; ip -6 route show proto bird")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn birdcl(socket: &Path, cmd: &str) -> String {
    let out = Command::new("birdcl")
        .arg("-s")
        .arg(socket)
        .args(cmd.split_whitespace())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `since` column of a protocol in a `birdc show protocols` listing.
fn since(listing: &str, name: &str) -> Option<String> {
    listing
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_string))
}

fn frr_node_conf(asn: u32) -> String {
    frr_conf(
        asn,
        "10.11.0.3",
        &format!(
            " no bgp ebgp-requires-policy\n no bgp network import-check\n bgp graceful-restart\n\
             neighbor 10.11.0.1 remote-as {asn}\n neighbor 10.11.0.1 timers connect 1\n\
             address-family ipv4 unicast\n  network 172.16.3.0/26\n  network 192.168.3.0/26\n\
             exit-address-family\n"
        ),
    )
}

/// Our daemon in its namespace, as calico-node runs it.
struct Node {
    seg: Segment,
    ns: Ns,
    cfg: PathBuf,
    socket: PathBuf,
    pid_file: PathBuf,
    pid: u32,
    proc: Proc,
}

impl Node {
    /// `bird -R -s SOCK -d -c bird.cfg -P PIDFILE` at 10.11.0.1, the files written by
    /// `write` (which returns the main one).
    fn start(seg: Segment, write: impl FnOnce(&Path) -> PathBuf) -> Node {
        Node::start_program(seg, BIRD, write)
    }

    /// `program` (`bird` or `bird6`) started so.
    fn start_program(seg: Segment, program: &str, write: impl FnOnce(&Path) -> PathBuf) -> Node {
        let ns = seg.host("ours", 1);
        // The IPIP device Calico creates; a veth stands in (the kernel here has no ipip).
        ns.sh("ip link add tunl0 type veth peer name tunl0p && ip link set tunl0p up && ip link set tunl0 up")
            .unwrap();
        let cfg = write(&seg.dir);
        let socket = seg.path("bird.ctl");
        let pid_file = seg.path("bird.pid");
        let mut cmd = Command::new(program);
        cmd.env("BIRD_METRICS_LISTEN", "127.0.0.1:9180");
        cmd.arg("-R")
            .arg("-s")
            .arg(&socket)
            .arg("-d")
            .arg("-c")
            .arg(&cfg);
        cmd.arg("-P").arg(&pid_file);
        let proc = ns.spawn("bird", &mut cmd, &seg.path("bird.log")).unwrap();
        seg.wait("the control socket", || live(&socket));
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(proc.pid(), Some(pid), "the pid file names the daemon");
        Node {
            seg,
            ns,
            cfg,
            socket,
            pid_file,
            pid,
            proc,
        }
    }

    fn routes(&self) -> Vec<String> {
        bird_routes(&self.ns)
    }

    fn has(&self, route: &str) -> bool {
        self.routes().iter().any(|r| r == route)
    }

    fn wait(&self, what: &str, f: impl FnMut() -> bool) {
        self.seg.wait(what, f);
    }

    /// The daemon's Prometheus metrics.
    fn metrics(&self) -> String {
        self.ns
            .sh("curl -sf http://127.0.0.1:9180/metrics")
            .unwrap_or_default()
    }

    fn hup(&self) {
        self.ns.sh(&format!("kill -HUP {}", self.pid)).unwrap();
    }
}

/// The kernel as Calico's filter wants it: 172.16/16 direct on the segment, 192.168/16
/// through tunl0, 172.17/16 left to Felix; onlink, protocol bird.
fn kernel_follows_the_filter(n: &Node) {
    n.wait("kernel routes", || {
        [
            "172.16.2.0/26 via 10.11.0.2 dev eth0 onlink",
            "192.168.2.0/26 via 10.11.0.2 dev tunl0 onlink",
            "172.16.3.0/26 via 10.11.0.3 dev eth0 onlink",
            "192.168.3.0/26 via 10.11.0.3 dev tunl0 onlink",
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
    broken_reload_is_refused(&mut n);
    disable_and_enable(&n, &bird2);

    // SIGTERM: a graceful stop; `persist` keeps the kernel routes, the socket and the pid
    // file go.
    assert!(n.proc.stop(), "exit status 0 on SIGTERM\n{}", n.seg.logs());
    assert!(!n.socket.exists() && !n.pid_file.exists());
    assert!(
        n.has("172.16.2.0/26 via 10.11.0.2 dev eth0 onlink"),
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
        !n.routes().iter().any(|r| r.starts_with("192.168.")),
        "{:?}",
        n.routes()
    );
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

/// Sends each command on one connection, as birdc does: the hello, then each reply up to
/// its last line (`CODE ` with a space).
fn session(socket: &Path, cmds: &[&str]) -> (String, Vec<Vec<String>>) {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut hello = String::new();
    r.read_line(&mut hello).unwrap();
    let mut replies = Vec::new();
    for c in cmds {
        w.write_all(format!("{c}\n").as_bytes()).unwrap();
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            assert!(r.read_line(&mut l).unwrap() > 0, "closed during {c}");
            let l = l.trim_end_matches('\n').to_string();
            let last = l.len() >= 5
                && l.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && l.as_bytes()[4] == b' ';
            lines.push(l);
            if last {
                break;
            }
        }
        replies.push(lines);
    }
    (hello.trim_end().to_string(), replies)
}

/// The codes of a reply in order (continuation lines add none), each line checked for
/// BIRD's framing: `CODE-`, `CODE ` or a leading space.
fn codes(reply: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in reply {
        if l.starts_with(' ') {
            assert!(!out.is_empty(), "a continuation line first: {reply:?}");
            continue;
        }
        let (code, sep) = (&l[..4], l.as_bytes()[4]);
        assert!(
            code.bytes().all(|b| b.is_ascii_digit()) && (sep == b'-' || sep == b' '),
            "{l:?}"
        );
        if out.last().map(String::as_str) != Some(code) {
            out.push(code.to_string());
        }
    }
    out
}

/// The control socket's framing and reply codes, command by command, against real BIRD
/// 2's on equivalent configurations (a static blackhole, a BGP protocol whose neighbor
/// is absent): what birdc relies on.
#[test]
fn control_socket_replies_as_bird_2_does() {
    if !can_run(false, true, false) {
        return;
    }
    let seg = Segment::new("bs");
    let bird_ns = seg.host("bird", 2);
    let n = Node::start(seg, |dir| {
        let path = dir.join("bird.cfg");
        std::fs::write(
            &path,
            "router id 10.11.0.1;\nprotocol kernel { learn; persist; export all; }\n\
             protocol device { scan time 2; }\nprotocol direct { interface \"*\"; }\n\
             protocol static { route 10.60.0.0/24 blackhole; }\n\
             protocol bgp Mesh_10_11_0_9 { local as 64512; neighbor 10.11.0.9 as 64512; \
             export all; }\n",
        )
        .unwrap();
        path
    });
    let bird = Bird::start(
        &bird_ns,
        &n.seg.path("bird2"),
        "router id 10.11.0.2;\nprotocol device {}\nprotocol direct { ipv4; }\n\
         protocol kernel { ipv4 { export all; }; learn; persist; }\n\
         protocol static { ipv4; route 10.60.0.0/24 blackhole; }\n\
         protocol bgp Mesh_10_11_0_9 { local as 64512; neighbor 10.11.0.9 as 64512; \
         ipv4 { export all; }; }\n",
    )
    .unwrap();
    let cmds = [
        "show status",
        "show protocols",
        "show protocols all Mesh_10_11_0_9",
        "show protocols nosuch",
        "show route",
        "show route for 10.60.0.1",
        "show route for 10.99.0.1",
        "show route protocol static1",
        "configure check",
        "disable Mesh_10_11_0_9",
        "disable Mesh_10_11_0_9",
        "enable Mesh_10_11_0_9",
        "restart Mesh_10_11_0_9",
        "frobnicate",
        "configure",
    ];
    let (ours_hello, ours) = session(&n.socket, &cmds);
    let (theirs_hello, theirs) = session(&bird.dir.join("bird.ctl"), &cmds);
    for h in [&ours_hello, &theirs_hello] {
        assert!(h.starts_with("0001 BIRD ") && h.ends_with(" ready."), "{h}");
    }
    for ((c, o), t) in cmds.iter().zip(&ours).zip(&theirs) {
        assert_eq!(codes(o), codes(t), "{c}\nours:   {o:#?}\nBIRD 2: {t:#?}");
    }
    // The tables end as BIRD's do, `0000 ` with its space.
    assert_eq!(ours[1].last().unwrap(), "0000 ");
}

/// Without `-d` or `-f` the daemons fork into the background as BIRD does: the command
/// returns 0 at once, the pid file names the daemon. `bird` and `bird6` run side by side
/// in one namespace (as in calico-node: both listen on port 179, IPv4 and IPv6), a second
/// daemon on a socket that answers is refused, SIGTERM by the pid file stops each.
#[test]
fn background_start_side_by_side_and_one_per_socket() {
    if !can_run(false, false, false) {
        return;
    }
    let seg = Segment::new("bd");
    let ns = seg.host("ours", 1);
    let v4 = seg.path("b4.cfg");
    let v6 = seg.path("b6.cfg");
    std::fs::write(
        &v4,
        "router id 10.11.0.1;\nprotocol device {}\n\
         protocol bgp Mesh_10_11_0_9 { local as 64512; neighbor 10.11.0.9 as 64512; }\n",
    )
    .unwrap();
    std::fs::write(
        &v6,
        "router id 10.11.0.1;\nprotocol device {}\n\
         protocol bgp Mesh_fd00_11__9 { local as 64512; neighbor fd00:11::9 as 64512; }\n",
    )
    .unwrap();
    let start = |program: &str, cfg: &Path, name: &str| {
        let out = ns
            .cmd(program)
            .arg("-c")
            .arg(cfg)
            .arg("-s")
            .arg(seg.path(&format!("{name}.ctl")))
            .arg("-P")
            .arg(seg.path(&format!("{name}.pid")))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let six = env!("CARGO_BIN_EXE_bird6");
    assert_eq!(start(BIRD, &v4, "b4"), (Some(0), String::new()));
    assert_eq!(start(six, &v6, "b6"), (Some(0), String::new()));
    for name in ["b4", "b6"] {
        seg.wait(&format!("{name} answering"), || {
            live(&seg.path(&format!("{name}.ctl")))
        });
    }
    let listening = ns.sh("ss -Hltn 'sport = :179'").unwrap();
    assert!(
        listening.contains("0.0.0.0:179") && listening.contains("[::]:179"),
        "{listening}"
    );
    let (code, err) = start(BIRD, &v4, "b4");
    assert_eq!(code, Some(1));
    assert!(err.contains("I found another BIRD running."), "{err}");
    for name in ["b4", "b6"] {
        let pid = std::fs::read_to_string(seg.path(&format!("{name}.pid"))).unwrap();
        ns.sh(&format!("kill -TERM {}", pid.trim())).unwrap();
        seg.wait(&format!("{name} stopped"), || {
            !seg.path(&format!("{name}.ctl")).exists() && !seg.path(&format!("{name}.pid")).exists()
        });
    }
}

/// `bird -p -c FILE`: silent exit 0 for Calico's files, exit 1 with BIRD's message for a
/// broken or missing one.
#[test]
fn parse_only_exit_codes_and_messages() {
    let run = |args: &[&str]| {
        let o = Command::new(BIRD).args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let good = data().join("mesh/ipip-always/bird.cfg");
    assert_eq!(
        run(&["-p", "-c", good.to_str().unwrap()]),
        (Some(0), String::new(), String::new())
    );
    let dir = std::env::temp_dir().join(format!("bird-p-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.cfg");
    std::fs::write(
        &bad,
        "router id 10.0.0.1;\nprotocol bgp x {\n  neighbor 10.0.0.2 as 1;\n  frobnicate;\n}\n",
    )
    .unwrap();
    let (code, out, err) = run(&["-p", "-c", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!("bird: {}:4:3 ", bad.display())),
        "{err}"
    );
    let (code, _, err) = run(&["-pc", dir.join("none.cfg").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim_end(),
        format!(
            "bird: Unable to open configuration file {}: No such file or directory",
            dir.join("none.cfg").display()
        )
    );
    let (code, _, err) = run(&["-p", "-u", "nobody", "-c", good.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("-u is not supported"), "{err}");
    let (code, _, err) = run(&["-q"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid option -- 'q'"), "{err}");
    let six = Command::new(env!("CARGO_BIN_EXE_bird6"))
        .args(["-p", "-c"])
        .arg(data().join("mesh/ipip-always/bird6.cfg"))
        .status()
        .unwrap();
    assert!(six.success());
    let _ = std::fs::remove_dir_all(&dir);
}
