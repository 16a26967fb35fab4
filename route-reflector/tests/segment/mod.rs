//! A layer-2 test segment in network namespaces, our processes on it, and the daemons'
//! configuration snippets shared by the interop tests.

#![allow(dead_code)]

#[path = "../../src/bin/rr-lab/daemons.rs"]
pub mod daemons;
#[path = "../../src/bin/rr-lab/netns.rs"]
pub mod netns;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub use daemons::{Bird, Frr, Gobgp};
pub use netns::{Ns, Proc, wait_for};

pub const RR: &str = env!("CARGO_BIN_EXE_route-reflector");
pub const AGENT: &str = env!("CARGO_BIN_EXE_node-agent");
pub const WAIT: Duration = Duration::from_secs(30);

/// Whether the test can run: root with namespaces and the daemons it names. Under CI a
/// missing piece fails the test; elsewhere the test is skipped.
pub fn can_run(frr: bool, bird: bool, gobgp: bool) -> bool {
    let missing: Vec<&str> = [
        (!netns::netns_available(), "network namespaces"),
        (frr && !Frr::installed(), "FRR"),
        (bird && !Bird::installed(), "BIRD"),
        (gobgp && !Gobgp::installed(), "GoBGP"),
    ]
    .into_iter()
    .filter_map(|(m, what)| m.then_some(what))
    .collect();
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

/// One layer-2 segment, 10.11.0.0/24 and fd00:11::/64, on a bridge in a hub namespace;
/// plus a directory for configs and logs.
pub struct Segment {
    pub tag: String,
    pub dir: PathBuf,
    pub hub: Ns,
}

impl Segment {
    pub fn new(test: &str) -> Segment {
        let tag = format!("it{}{test}", std::process::id());
        let dir = std::env::temp_dir().join(format!("rr-interop-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let hub = Ns::new(&format!("{tag}-hub")).unwrap();
        hub.sh("ip link add br0 type bridge && ip link set br0 up")
            .unwrap();
        Segment { tag, dir, hub }
    }

    /// A namespace on the segment with 10.11.0.HOST/24 and fd00:11::HOST/64 on eth0.
    pub fn host(&self, name: &str, host: u8) -> Ns {
        let ns = Ns::new(&format!("{}-{name}", self.tag)).unwrap();
        let port = format!("h{host}");
        netns::veth(&ns, "eth0", &self.hub, &port).unwrap();
        self.hub
            .sh(&format!("ip link set {port} master br0"))
            .unwrap();
        ns.sh(&format!(
            "ip addr add 10.11.0.{host}/24 dev eth0 && \
             ip -6 addr add fd00:11::{host:x}/64 dev eth0 nodad"
        ))
        .unwrap();
        ns
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Our reflector in `ns` with `config` (admin socket `NAME.sock` in the directory).
    pub fn reflector(&self, ns: &Ns, name: &str, config: &str, graceful_restart: bool) -> Ours {
        let file = self.path(&format!("{name}.toml"));
        std::fs::write(&file, config).unwrap();
        let mut cmd = Command::new(RR);
        cmd.arg("run");
        if graceful_restart {
            cmd.arg("--graceful-restart");
        }
        cmd.arg(&file).env("RUST_LOG", "info");
        let proc = ns
            .spawn(name, &mut cmd, &self.path(&format!("{name}.log")))
            .unwrap();
        Ours {
            socket: self.path(&format!("{name}.sock")),
            proc,
        }
    }

    /// A node agent in `ns`: AS `asn`, announcing `block`, peering with `peers`, FIB direct.
    pub fn agent(
        &self,
        ns: &Ns,
        name: &str,
        asn: u32,
        address: &str,
        peer: &str,
        block: &str,
    ) -> Proc {
        let mut cmd = Command::new(AGENT);
        cmd.args(["--asn", &asn.to_string(), "--address", address])
            .args(["--peer", peer, "--pod-block", block])
            .args([
                "--fib",
                "direct",
                "--hold-time",
                "9",
                "--connect-retry",
                "1",
            ])
            .env("RUST_LOG", "info");
        ns.spawn(name, &mut cmd, &self.path(&format!("{name}.log")))
            .unwrap()
    }

    /// Every log of the directory, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|x| x == "log") || p.ends_with("frr.log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(25).collect();
                out.push_str(&format!("---- {} ----\n", p.display()));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Waits for `f`; fails with `what` and the logs after 30 s.
    pub fn wait(&self, what: &str, f: impl FnMut() -> bool) {
        if wait_for(WAIT, f).is_none() {
            panic!("timed out waiting for {what}\n{}", self.logs());
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Our reflector process and its admin socket.
pub struct Ours {
    pub socket: PathBuf,
    pub proc: Proc,
}

impl Ours {
    pub fn cli(&self, args: &[&str]) -> String {
        netns::output(
            Command::new(RR)
                .args(args)
                .arg("--socket")
                .arg(&self.socket),
        )
        .1
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.cli(&a)).unwrap_or_default()
    }

    pub fn peer(&self, addr: &str) -> serde_json::Value {
        self.json(&["show", "peer", addr])
    }

    pub fn established(&self, addr: &str) -> bool {
        self.peer(addr)["established"] == true
    }

    /// The paths of `prefix` in the reflector's RIB.
    pub fn paths(&self, prefix: &str) -> Vec<serde_json::Value> {
        let v = self.json(&["show", "routes", prefix]);
        v.as_array()
            .and_then(|a| a.iter().find(|r| r["prefix"] == prefix))
            .and_then(|r| r["paths"].as_array().cloned())
            .unwrap_or_default()
    }
}

/// The routes of our protocol in `ns`'s kernel: "PREFIX via GATEWAY" each.
pub fn kernel_routes(ns: &Ns) -> Vec<String> {
    ns.sh("ip -4 route show proto bgp; ip -6 route show proto bgp")
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let via = w
                .iter()
                .position(|x| *x == "via")
                .and_then(|i| w.get(i + 1))
                .copied()
                .unwrap_or("");
            format!("{} via {via}", w.first().copied().unwrap_or(""))
        })
        .collect()
}

pub fn has_route(ns: &Ns, route: &str) -> bool {
    kernel_routes(ns).iter().any(|r| r == route)
}

/// Watches `ns`'s kernel for `route` every 10 ms until stopped: how many polls missed it.
pub struct RouteWatch {
    pub stop: Arc<AtomicBool>,
    pub missed: Arc<AtomicU64>,
    pub polls: Arc<AtomicU64>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

impl RouteWatch {
    pub fn start(ns_name: &str, prefix: &str) -> RouteWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let missed = Arc::new(AtomicU64::new(0));
        let polls = Arc::new(AtomicU64::new(0));
        let (s, m, p) = (stop.clone(), missed.clone(), polls.clone());
        let ns = ns_name.to_string();
        let prefix = prefix.to_string();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let out = Command::new("ip")
                    .args(["netns", "exec", &ns, "ip", "route", "show", &prefix])
                    .output();
                if let Ok(o) = out {
                    p.fetch_add(1, Ordering::Relaxed);
                    if !String::from_utf8_lossy(&o.stdout).contains(&prefix) {
                        m.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RouteWatch {
            stop,
            missed,
            polls,
            thread: Some(thread),
        }
    }

    /// (polls that missed the route, polls).
    pub fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.missed.load(Ordering::Relaxed),
            self.polls.load(Ordering::Relaxed),
        )
    }
}

pub fn reflector_head(router_id: &str, asn: u32, dir: &Path, name: &str) -> String {
    format!(
        r#"router_id = "{router_id}"
asn = {asn}
listen = ["0.0.0.0:179", "[::]:179"]
[metrics]
listen = ""
[admin]
socket = "{}"
[timers]
hold_time = 9
connect_retry = 1
"#,
        dir.join(format!("{name}.sock")).display()
    )
}

// ---------------------------------------------------------------------------------------
// Our reflector with FRR, BIRD and GoBGP clients, IPv4 and IPv6.

/// An FRR bgpd config: `router bgp ASN` with router ID `id`, then `body` (its lines
/// indented by one space, address families included).
pub fn frr_conf(asn: u32, id: &str, body: &str) -> String {
    format!("frr defaults traditional\nhostname frr\nrouter bgp {asn}\n bgp router-id {id}\n{body}")
}

pub fn frr_client_conf(me: u8, prefix4: &str, prefix6: &str) -> String {
    frr_conf(
        65000,
        &format!("10.11.0.{me}"),
        &format!(
            " no bgp default ipv4-unicast\n no bgp network import-check\n timers bgp 3 9\n\
         neighbor 10.11.0.1 remote-as 65000\n neighbor 10.11.0.1 timers connect 1\n\
         neighbor fd00:11::1 remote-as 65000\n neighbor fd00:11::1 timers connect 1\n\
         address-family ipv4 unicast\n  network {prefix4}\n  neighbor 10.11.0.1 activate\n\
         exit-address-family\n address-family ipv6 unicast\n  network {prefix6}\n\
         neighbor fd00:11::1 activate\n exit-address-family\n"
        ),
    )
}

pub fn bird_conf(body: &str) -> String {
    format!("log stderr all;\nprotocol device {{ scan time 1; }}\n{body}")
}

/// A GoBGP neighbor of AS 65000 with the tests' short timers, for one family.
pub fn gobgp_neighbor(address: &str, afi_safi: &str) -> String {
    format!(
        r#"[[neighbors]]
  [neighbors.config]
    neighbor-address = "{address}"
    peer-as = 65000
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "{afi_safi}"
"#
    )
}
