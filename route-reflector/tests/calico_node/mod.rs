//! What the `bird` interop tests share: Calico's rendered files moved onto the test
//! segment, BIRD 2 and FRR nodes' configurations, our daemon started as calico-node starts
//! BIRD, and calico-node's health rules re-implemented (from `node/pkg/health/` of
//! projectcalico/calico, in our words) to judge it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::segment::*;

pub const BIRD: &str = env!("CARGO_BIN_EXE_bird");

pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/calico")
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(data().join(rel)).unwrap()
}

/// Calico's node 10.192.0.2 becomes 10.11.0.1, its mesh peers .3 and .4 become .2 and .3.
pub fn moved(text: &str) -> String {
    text.replace("10.192.0.0/16", "10.11.0.0/16")
        .replace("10.192.0.2", "10.11.0.1")
        .replace("10.192.0.3", "10.11.0.2")
        .replace("10.192.0.4", "10.11.0.3")
        .replace("10_192_0_3", "10_11_0_2")
        .replace("10_192_0_4", "10_11_0_3")
}

/// `bird.cfg` of Calico's ipip-always mesh scenario on the segment, with mesh peers at the
/// given hosts of 10.11.0.0/24 (each protocol block as Calico renders it).
pub fn bird_cfg(peers: &[u8]) -> String {
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
pub fn write_config(dir: &Path, peers: &[u8]) -> PathBuf {
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
pub fn write_reflector_config(dir: &Path) -> PathBuf {
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
pub fn bird_node_conf(host: u8, asn: u32) -> String {
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
pub fn live(socket: &Path) -> bool {
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
pub fn ask(socket: &Path, cmd: &str, last: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
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
pub struct Peer {
    pub ip: String,
    pub bgp_state: String,
}

/// calico-node's reading of `show protocols`: hello `0001`, heading `2002` with exactly
/// the columns name, proto, table, state, since, info; rows `1002-` or continuation
/// lines; `0000` ends it; any other line is an error. Rows count when they have six
/// columns or more, proto `BGP` and a name `Global_`, `Node_` or `Mesh_` then the address
/// with `_` for its separators; the sixth column is the BGP state.
pub fn peers(socket: &Path, sep: char) -> Result<Vec<Peer>, String> {
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
pub fn graceful_restart_in_progress(socket: &Path) -> Result<bool, String> {
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
pub fn ready(socket: &Path, startup: bool) -> Result<(), String> {
    readiness(socket, '.', startup)
}

/// The same for BIRD6: `:` for `_` in the names.
pub fn readiness(socket: &Path, sep: char, startup: bool) -> Result<(), String> {
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
pub fn bird_routes(ns: &Ns) -> Vec<String> {
    ns.sh("ip -4 route show proto bird; ip -6 route show proto bird")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

pub fn birdcl(socket: &Path, cmd: &str) -> String {
    let out = Command::new("birdcl")
        .arg("-s")
        .arg(socket)
        .args(cmd.split_whitespace())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `since` column of a protocol in a `birdc show protocols` listing.
pub fn since(listing: &str, name: &str) -> Option<String> {
    listing
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_string))
}

pub fn frr_node_conf(asn: u32) -> String {
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
pub struct Node {
    pub seg: Segment,
    pub ns: Ns,
    pub cfg: PathBuf,
    pub socket: PathBuf,
    pub pid_file: PathBuf,
    pub pid: u32,
    pub proc: Proc,
}

impl Node {
    /// `bird -R -s SOCK -d -c bird.cfg -P PIDFILE` at 10.11.0.1, the files written by
    /// `write` (which returns the main one).
    pub fn start(seg: Segment, write: impl FnOnce(&Path) -> PathBuf) -> Node {
        Node::start_program(seg, BIRD, write)
    }

    /// `program` (`bird` or `bird6`) started so.
    pub fn start_program(
        seg: Segment,
        program: &str,
        write: impl FnOnce(&Path) -> PathBuf,
    ) -> Node {
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

    pub fn routes(&self) -> Vec<String> {
        bird_routes(&self.ns)
    }

    pub fn has(&self, route: &str) -> bool {
        self.routes().iter().any(|r| r == route)
    }

    pub fn wait(&self, what: &str, f: impl FnMut() -> bool) {
        self.seg.wait(what, f);
    }

    /// The daemon's Prometheus metrics.
    pub fn metrics(&self) -> String {
        self.ns
            .sh("curl -sf http://127.0.0.1:9180/metrics")
            .unwrap_or_default()
    }

    pub fn hup(&self) {
        self.ns.sh(&format!("kill -HUP {}", self.pid)).unwrap();
    }
}

/// Sends each command on one connection, as birdc does: the hello, then each reply up to
/// its last line (`CODE ` with a space).
pub fn session(socket: &Path, cmds: &[&str]) -> (String, Vec<Vec<String>>) {
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
pub fn codes(reply: &[String]) -> Vec<String> {
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
