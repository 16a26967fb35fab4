//! The two-rack lab: the container network of DESIGN.md section 1 built from namespaces.
//!
//! ```text
//!   pods ── node a1 ┐                         ┌ node b1 ── pods
//!   pods ── node a2 ┼ br0  ToR A ═══ ToR B  br0 ┼ node b2 ── pods
//!   pods ── node a3 ┘ (+ reflector a2)        └ node b3 ── pods
//! ```
//!
//! Each rack is a subnet (192.168.100.0/24, 192.168.101.0/24) and an AS (65001, 65002).
//! Its top-of-rack namespace routes: the rack's nodes hang on its bridge, the other ToR is
//! on a point-to-point link (10.0.0.0/30). The ToR runs our reflector (cluster ID = its
//! address, FIB on, clients from the rack's range) and speaks eBGP to the other ToR,
//! reflecting the other rack's blocks to its nodes with itself as next hop. Rack A has a
//! second reflector (same cluster ID, FIB off) so that one reflector can restart while the
//! other keeps the rack up. Each node runs the node agent (our speaker) announcing its pod
//! block and installing the others into its kernel (`via NH dev eth0 onlink`); each pod is
//! a namespace with a /32 on a veth pair, routed by the node with `POD dev pN scope link`.
//! In-rack traffic goes node to node; cross-rack traffic node -> ToR -> ToR -> node.
//! Optionally rack B's ToR runs FRR (bgpd + zebra) instead of our reflector; the dual-stack
//! variant (`dual.rs`) adds IPv6 everywhere.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemons::Frr;
use crate::netns::{Ns, Proc, veth, wait_for};

#[path = "check.rs"]
mod check;
#[path = "dual.rs"]
mod dual;
#[path = "ping.rs"]
mod ping;

// `Loss` is for the lab's test.
#[allow(unused_imports)]
pub use ping::{Loss, PingStream, ping_once};

/// The programs the lab runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub reflector: PathBuf,
    pub agent: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Prefix of every namespace name (several labs can run side by side).
    pub tag: String,
    /// Configs and logs go here.
    pub dir: PathBuf,
    /// Rack B's top-of-rack reflector is FRR instead of ours.
    pub frr_rack_b: bool,
    /// Hold time of every session, in seconds.
    pub hold_time: u16,
    /// The IPIP cross-subnet variant: the racks' subnets joined by a plain router that
    /// knows no pod routes, a reflector per rack (eBGP between them, next hops unchanged),
    /// and the nodes reaching the other rack's blocks through `tunl0`. Needs ipip devices.
    pub ipip: bool,
    /// In the IPIP variant on a kernel without ipip: `tunl0` is one end of a veth pair, so
    /// that the routes through it are programmed for real (cross-rack pings cannot pass).
    pub tunnel_stand_in: bool,
    /// The dual-stack variant (see `dual.rs`): IPv6 as well, everywhere (our reflectors
    /// only, not with `ipip`).
    pub dual_stack: bool,
    /// BFD (300 ms x 3) on every session, the reflectors' and the node agents'.
    pub bfd: bool,
}

/// Rack `r`'s numbers.
fn rack_letter(r: usize) -> char {
    (b'a' + r as u8) as char
}
fn rack_asn(r: usize) -> u32 {
    65001 + r as u32
}
fn rack_net(r: usize) -> [u8; 3] {
    [192, 168, 100 + r as u8]
}
fn rack_addr(r: usize, host: u8) -> Ipv4Addr {
    let [a, b, c] = rack_net(r);
    Ipv4Addr::new(a, b, c, host)
}
fn tor_addr(r: usize) -> Ipv4Addr {
    rack_addr(r, 1)
}
/// The second reflector of rack A.
const RR2_HOST: u8 = 2;
fn link_addr(r: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + r as u8)
}

pub struct Pod {
    pub name: String,
    pub address: Ipv4Addr,
    pub address6: Option<std::net::Ipv6Addr>,
    ns: Ns,
}

pub struct Node {
    pub name: String,
    pub rack: usize,
    pub address: Ipv4Addr,
    pub block: ipnet::Ipv4Net,
    pub address6: Option<std::net::Ipv6Addr>,
    pub block6: Option<ipnet::Ipv6Net>,
    pub pods: Vec<Pod>,
    agent: Option<Proc>,
    ns: Ns,
}

/// One of our reflector processes.
pub struct Reflector {
    pub name: String,
    pub config: PathBuf,
    pub socket: PathBuf,
    log: PathBuf,
    ns: String,
    proc: Option<Proc>,
}

pub struct Lab {
    bins: Binaries,
    pub opts: Options,
    /// When the first daemon started.
    pub started: Instant,
    // Fields drop in this order: processes first, then the namespaces.
    pub reflectors: Vec<Reflector>,
    pub frr: Option<Frr>,
    pub nodes: Vec<Node>,
    /// Namespaces of reflectors that are not on a ToR.
    others: Vec<Ns>,
    /// The ToR namespaces (in the IPIP variant: the one router).
    tors: Vec<Ns>,
    /// Per rack: the index in `tors` of the namespace holding its bridge, and the bridge.
    bridges: Vec<(usize, String)>,
}

impl Lab {
    /// Builds the lab and starts every daemon; does not wait for convergence.
    pub fn up(bins: Binaries, opts: Options) -> Result<Lab, String> {
        std::fs::create_dir_all(&opts.dir).map_err(|e| e.to_string())?;
        let mut lab = Lab {
            bins,
            opts,
            started: Instant::now(),
            reflectors: Vec::new(),
            frr: None,
            nodes: Vec::new(),
            others: Vec::new(),
            tors: Vec::new(),
            bridges: Vec::new(),
        };
        if lab.opts.ipip {
            lab.up_ipip()?;
        } else {
            lab.up_racks()?;
        }
        for r in 0..2 {
            for _ in 0..3 {
                let n = lab.add_node(r)?;
                for _ in 0..2 {
                    lab.add_pod(n)?;
                }
            }
        }
        Ok(lab)
    }

    /// The design card's racks: a ToR router per rack running our reflector.
    fn up_racks(&mut self) -> Result<(), String> {
        let lab = self;
        for r in 0..2 {
            let tor = Ns::new(&lab.ns_name(&format!("tor-{}", rack_letter(r))))?;
            tor.sh(&format!(
                "ip link add br0 type bridge && ip link set br0 up && \
                 ip addr add {}/24 dev br0",
                tor_addr(r)
            ))?;
            lab.tors.push(tor);
            lab.bridges.push((r, "br0".to_string()));
        }
        veth(&lab.tors[0], "tor", &lab.tors[1], "tor")?;
        for r in 0..2 {
            lab.tors[r].sh(&format!("ip addr add {}/30 dev tor", link_addr(r)))?;
        }
        if lab.opts.dual_stack {
            dual::tors(&lab.tors)?;
        }
        // Rack A's second reflector, on the rack's bridge.
        let rr2 = Ns::new(&lab.ns_name("rr-a2"))?;
        veth(&lab.tors[0], "rr2", &rr2, "eth0")?;
        lab.tors[0].sh("ip link set rr2 master br0")?;
        rr2.sh(&format!(
            "ip addr add {}/24 dev eth0",
            rack_addr(0, RR2_HOST)
        ))?;
        lab.others.push(rr2);

        lab.started = Instant::now();
        lab.start_reflector(0, "tor-a")?;
        lab.start_reflector(0, "rr-a2")?;
        if lab.opts.frr_rack_b {
            lab.start_frr_tor(1)?;
        } else {
            lab.start_reflector(1, "tor-b")?;
        }
        Ok(())
    }

    /// The IPIP variant: one plain router joins the two rack subnets (it knows no pod
    /// routes); a reflector per rack on the rack's subnet.
    fn up_ipip(&mut self) -> Result<(), String> {
        let router = Ns::new(&self.ns_name("router"))?;
        for r in 0..2 {
            router.sh(&format!(
                "ip link add br-{l} type bridge && ip link set br-{l} up && \
                 ip addr add {}/24 dev br-{l}",
                tor_addr(r),
                l = rack_letter(r)
            ))?;
            self.bridges.push((0, format!("br-{}", rack_letter(r))));
        }
        self.tors.push(router);
        self.started = Instant::now();
        for r in 0..2 {
            let name = format!("rr-{}", rack_letter(r));
            let ns = Ns::new(&self.ns_name(&name))?;
            let (t, br) = self.bridges[r].clone();
            let port = format!("rr{}", rack_letter(r));
            veth(&self.tors[t], &port, &ns, "eth0")?;
            self.tors[t].sh(&format!("ip link set {port} master {br}"))?;
            ns.sh(&format!(
                "ip addr add {}/24 dev eth0 && ip route add default via {}",
                rack_addr(r, RR2_HOST),
                tor_addr(r)
            ))?;
            self.others.push(ns);
            self.start_reflector(r, &name)?;
        }
        Ok(())
    }

    /// The reflectors a node of rack `r` peers with.
    fn node_peers(&self, r: usize) -> Vec<Ipv4Addr> {
        if self.opts.ipip {
            vec![rack_addr(r, RR2_HOST)]
        } else if r == 0 {
            vec![tor_addr(0), rack_addr(0, RR2_HOST)]
        } else {
            vec![tor_addr(1)]
        }
    }

    fn ns_name(&self, what: &str) -> String {
        format!("{}-{what}", self.opts.tag)
    }

    /// The config of reflector `name` of rack `rack`. On a ToR: cluster ID the ToR's
    /// address, nodes from the rack's range (next hop self for the other rack's routes),
    /// FIB on, eBGP to the other ToR with next hop self; rack A's two reflectors peer with
    /// each other. In the IPIP variant: a reflector per rack, no FIB, eBGP multihop to the
    /// other rack's reflector with next hops unchanged (the nodes tunnel to each other).
    fn reflector_config(&self, rack: usize, name: &str) -> String {
        let ipip = self.opts.ipip;
        let tor = name.starts_with("tor");
        let me = if tor {
            tor_addr(rack)
        } else {
            rack_addr(rack, RR2_HOST)
        };
        let [a, b, c] = rack_net(rack);
        let role = match (ipip, tor) {
            (true, _) => "reflector (IPIP variant)",
            (false, true) => "top-of-rack router",
            (false, false) => "second reflector",
        };
        let mut s = format!(
            r#"# {name}: rack {letter}'s {role}.
router_id = "{me}"
asn = {asn}
cluster_id = "{cluster}"
listen = {listen}

[metrics]
listen = ""

[admin]
socket = "{socket}"

[timers]
hold_time = {hold}
connect_retry = 1

[graceful_restart]
enabled = true
restart_time = 120
selection_deferral = 30

[[client_range]]
range = "{a}.{b}.{c}.0/24"
max = 50
next_hop = "{client_nh}"
"#,
            letter = rack_letter(rack),
            asn = rack_asn(rack),
            cluster = if ipip { me } else { tor_addr(rack) },
            socket = self.opts.dir.join(format!("{name}.sock")).display(),
            hold = self.opts.hold_time,
            client_nh = if ipip { "default" } else { "self-external" },
            listen = if self.opts.dual_stack {
                r#"["0.0.0.0:179", "[::]:179"]"#
            } else {
                r#"["0.0.0.0:179"]"#
            },
        );
        if rack == 0 && !ipip {
            let other = if tor {
                rack_addr(0, RR2_HOST)
            } else {
                tor_addr(0)
            };
            let _ = write!(
                s,
                "\n[[ibgp]]\naddress = \"{other}\"\nnext_hop = \"self-external\"\n"
            );
        }
        if ipip || tor {
            let (peer, local, hop) = if ipip {
                (
                    rack_addr(1 - rack, RR2_HOST),
                    me,
                    "multihop = 3\nnext_hop = \"unchanged\"",
                )
            } else {
                (link_addr(1 - rack), link_addr(rack), "next_hop = \"self\"")
            };
            if !ipip {
                s.push_str("\n[fib]\nmode = \"direct\"\n");
            }
            let _ = write!(
                s,
                r#"
[[ebgp]]
address = "{peer}"
asn = {peer_asn}
local_address = "{local}"
{hop}
import = "pod-blocks"
export = "pod-blocks"

[prefix_lists]
pods = ["172.17.0.0/16 le 32", "2001:db8::/32 le 128"]

[policies.pod-blocks]
default = "reject"
[[policies.pod-blocks.term]]
name = "pod addresses only"
match.prefix_list = "pods"
verdict = "accept"
"#,
                peer_asn = rack_asn(1 - rack),
            );
        }
        if self.opts.dual_stack && tor {
            s.push_str(&dual::tor_config(rack, rack_asn(1 - rack)));
        }
        if self.opts.bfd {
            s.push_str("\n[bfd]\nenabled = true\nmin_rx = 300\nmin_tx = 300\nmultiplier = 3\n");
        }
        s
    }

    fn start_reflector(&mut self, rack: usize, name: &str) -> Result<(), String> {
        let config = self.opts.dir.join(format!("{name}.toml"));
        std::fs::write(&config, self.reflector_config(rack, name)).map_err(|e| e.to_string())?;
        let ns = if name.starts_with("tor") {
            self.tors[rack].name.clone()
        } else {
            self.others
                .last()
                .map(|n| n.name.clone())
                .unwrap_or_default()
        };
        let mut r = Reflector {
            name: name.into(),
            socket: self.opts.dir.join(format!("{name}.sock")),
            log: self.opts.dir.join(format!("{name}.log")),
            config,
            ns,
            proc: None,
        };
        r.spawn(&self.bins.reflector, false)?;
        self.reflectors.push(r);
        Ok(())
    }

    fn start_frr_tor(&mut self, rack: usize) -> Result<(), String> {
        let [a, b, c] = rack_net(rack);
        let hold = self.opts.hold_time;
        let conf = format!(
            "frr defaults traditional\nhostname tor-{letter}\n\
             router bgp {asn}\n bgp router-id {me}\n bgp cluster-id {me}\n\
             no bgp ebgp-requires-policy\n timers bgp {ka} {hold}\n\
             neighbor nodes peer-group\n neighbor nodes remote-as {asn}\n\
             bgp listen range {a}.{b}.{c}.0/24 peer-group nodes\n\
             neighbor {peer} remote-as {peer_asn}\n neighbor {peer} update-source {me_link}\n\
             neighbor {peer} advertisement-interval 0\n\
             address-family ipv4 unicast\n  neighbor nodes route-reflector-client\n\
             neighbor nodes next-hop-self\n exit-address-family\n",
            letter = rack_letter(rack),
            asn = rack_asn(rack),
            me = tor_addr(rack),
            ka = (hold / 3).max(1),
            peer = link_addr(1 - rack),
            peer_asn = rack_asn(1 - rack),
            me_link = link_addr(rack),
        );
        let dir = self.opts.dir.join(format!("frr-tor-{}", rack_letter(rack)));
        self.frr = Some(Frr::start(&self.tors[rack], &dir, "0.0.0.0", &conf)?);
        Ok(())
    }

    /// A new node in rack `r` (not yet running its agent's pods): its namespace on the
    /// rack's bridge, its block blackholed, its agent started. Returns its index.
    pub fn add_node(&mut self, r: usize) -> Result<usize, String> {
        let i = self.nodes.iter().filter(|n| n.rack == r).count() + 1;
        let name = format!("{}{i}", rack_letter(r));
        let address = rack_addr(r, 10 + i as u8);
        let block: ipnet::Ipv4Net = format!("172.17.{}.0/24", (r + 1) * 10 + i)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let ns = Ns::new(&self.ns_name(&name))?;
        let (t, br) = self.bridges[r].clone();
        veth(&self.tors[t], &name, &ns, "eth0")?;
        self.tors[t].sh(&format!("ip link set {name} master {br}"))?;
        // The node's block is a blackhole: only its pods' /32s (scope link) are reachable.
        ns.sh(&format!(
            "ip addr add {address}/24 dev eth0 && ip route add blackhole {block}"
        ))?;
        if self.opts.ipip {
            // The router reaches the other subnet; tunl0 (the IPIP fallback device) carries
            // the pod traffic, with the block's first address as its own.
            ns.sh(&format!(
                "ip route add default via {gw} && \
                 (ip link show tunl0 >/dev/null 2>&1 || ip link add tunl0 {kind}) && \
                 ip link set tunl0 up && ip addr add {tun}/32 dev tunl0 && \
                 (ip link set tunl0-end up 2>/dev/null || true)",
                gw = tor_addr(r),
                kind = if self.opts.tunnel_stand_in {
                    "type veth peer name tunl0-end"
                } else {
                    "type ipip"
                },
                tun = Ipv4Addr::from(u32::from(block.network()) + 1),
            ))?;
        }
        let (address6, block6) = if self.opts.dual_stack {
            let (a, b) = dual::node(&ns, r, i, block.network().octets()[2])?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        self.nodes.push(Node {
            name,
            rack: r,
            address,
            block,
            address6,
            block6,
            pods: Vec::new(),
            agent: None,
            ns,
        });
        let n = self.nodes.len() - 1;
        self.start_agent(n, false)?;
        Ok(n)
    }

    /// A new pod on node `n`: a namespace with the next /32 of the node's block on a veth
    /// pair, the node routing it `POD dev pN scope link` and answering ARP for the rest at
    /// once (proxy ARP without its default random delay of up to 0.8 s).
    pub fn add_pod(&mut self, n: usize) -> Result<(Ipv4Addr, String), String> {
        let node = &self.nodes[n];
        let k = node.pods.len() + 1;
        let address = Ipv4Addr::from(u32::from(node.block.network()) + 1 + k as u32);
        let name = format!("{}p{k}", node.name);
        let ns = Ns::new(&self.ns_name(&name))?;
        let dev = format!("p{k}");
        veth(&node.ns, &dev, &ns, "eth0")?;
        ns.sh(&format!(
            "ip addr add {address}/32 dev eth0 && ip route add default dev eth0"
        ))?;
        node.ns.sh(&format!(
            "sysctl -qw net.ipv4.conf.{dev}.proxy_arp=1 net.ipv4.neigh.{dev}.proxy_delay=0 && \
             ip route add {address}/32 dev {dev} scope link"
        ))?;
        let address6 = match node.block6 {
            Some(b) => Some(dual::pod(&node.ns, &ns, &dev, b, k)?),
            None => None,
        };
        self.nodes[n].pods.push(Pod {
            name: name.clone(),
            address,
            address6,
            ns,
        });
        Ok((address, name))
    }

    /// Starts node `n`'s agent (after a kill: with `restarting`, a graceful restart).
    pub fn start_agent(&mut self, n: usize, restarting: bool) -> Result<(), String> {
        let node = &self.nodes[n];
        let mut cmd = Command::new(&self.bins.agent);
        cmd.args(["--asn", &rack_asn(node.rack).to_string()])
            .args(["--address", &node.address.to_string()])
            .args(["--pod-block", &node.block.to_string()])
            .args([
                "--fib",
                if self.opts.ipip {
                    "ipip-cross-subnet"
                } else {
                    "direct"
                },
            ])
            .args(["--hold-time", &self.opts.hold_time.to_string()])
            .args(["--connect-retry", "1"]);
        for p in self.node_peers(node.rack) {
            cmd.args(["--peer", &p.to_string()]);
        }
        if let (Some(a), Some(b)) = (node.address6, node.block6) {
            cmd.args(["--address6", &a.to_string()])
                .args(["--pod-block", &b.to_string()])
                .args(["--peer", &dual::tor6(node.rack).to_string()]);
        }
        if restarting {
            cmd.arg("--restarting");
        }
        if self.opts.bfd {
            cmd.arg("--bfd");
        }
        cmd.env("RUST_LOG", "info");
        let log = self.opts.dir.join(format!("agent-{}.log", node.name));
        let p = node
            .ns
            .spawn(&format!("agent {}", node.name), &mut cmd, &log)?;
        self.nodes[n].agent = Some(p);
        Ok(())
    }

    /// Kills node `n`'s agent with SIGKILL (no NOTIFICATION: its peers see the
    /// connection drop, as when a node's process dies).
    pub fn kill_agent(&mut self, n: usize) {
        if let Some(mut p) = self.nodes[n].agent.take() {
            p.stop_with("-KILL");
        }
    }

    /// The reflector named `name` (e.g. "tor-a", "rr-a2").
    /// Drops every packet in and out of node `n` (its link is dead, its agent lives).
    pub fn cut_node(&self, n: usize) -> Result<(), String> {
        self.nodes[n]
            .ns
            .sh("echo 'table inet cut { \
                   chain in { type filter hook input priority -300; policy drop; }; \
                   chain out { type filter hook output priority -300; policy drop; }; }' \
                 | nft -f -")
            .map(|_| ())
    }

    /// Watches every other node's and every ToR's kernel, each from its own thread every
    /// 5 ms, from `from` until node `n`'s block has left it (at most `limit`): when it left
    /// each, by namespace (`None`: still there).
    pub fn block_leaves(
        &self,
        n: usize,
        from: Instant,
        limit: Duration,
    ) -> Vec<(String, Option<Duration>)> {
        let block = self.nodes[n].block.to_string();
        let names: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != n)
            .map(|(_, o)| o.ns.name.clone())
            .chain(self.tors.iter().map(|t| t.name.clone()))
            .collect();
        let watchers: Vec<_> = names
            .into_iter()
            .map(|ns| {
                let block = block.clone();
                std::thread::spawn(move || {
                    while from.elapsed() < limit {
                        let out = Command::new("ip")
                            .args(["-n", &ns, "-4", "route", "show", "proto", "bgp"])
                            .output();
                        if let Ok(o) = out
                            && !String::from_utf8_lossy(&o.stdout)
                                .lines()
                                .any(|l| l.starts_with(&format!("{block} ")))
                        {
                            return (ns, Some(from.elapsed()));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    (ns, None)
                })
            })
            .collect();
        watchers.into_iter().filter_map(|w| w.join().ok()).collect()
    }

    pub fn reflector(&mut self, name: &str) -> Option<&mut Reflector> {
        self.reflectors.iter_mut().find(|r| r.name == name)
    }

    pub fn reflector_binary(&self) -> &Path {
        &self.bins.reflector
    }

    pub fn tor(&self, r: usize) -> &Ns {
        &self.tors[r]
    }

    pub fn node_ns(&self, n: usize) -> &Ns {
        &self.nodes[n].ns
    }
}

impl Reflector {
    fn spawn(&mut self, bin: &Path, graceful_restart: bool) -> Result<(), String> {
        let ns = Ns {
            name: self.ns.clone(),
        };
        let mut cmd = Command::new(bin);
        cmd.arg("run");
        if graceful_restart {
            cmd.arg("--graceful-restart");
        }
        cmd.arg(&self.config).env("RUST_LOG", "info");
        let p = ns.spawn(&self.name, &mut cmd, &self.log);
        std::mem::forget(ns);
        self.proc = Some(p?);
        Ok(())
    }

    /// SIGTERM (RFC 8203 shutdown of every session) and wait for the exit.
    pub fn stop(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.stop())
    }

    /// Starts it again, as a graceful restart when `graceful_restart`.
    pub fn restart(&mut self, bin: &Path, graceful_restart: bool) -> Result<(), String> {
        self.stop();
        self.spawn(bin, graceful_restart)
    }

    /// Runs the CLI against it: (exit code, stdout, stderr).
    pub fn cli(&self, bin: &Path, args: &[&str]) -> (i32, String, String) {
        crate::netns::output(
            Command::new(bin)
                .args(args)
                .arg("--socket")
                .arg(&self.socket),
        )
    }

    /// (established, configured or accepted) sessions, from `show peers --json`.
    pub fn sessions(&self, bin: &Path) -> (usize, usize) {
        let (_, out, _) = self.cli(bin, &["show", "peers", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let peers = v.as_array().cloned().unwrap_or_default();
        let up = peers.iter().filter(|p| p["established"] == true).count();
        (up, peers.len())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Whether this kernel can make IPIP tunnel devices (the cross-subnet variant needs them).
pub fn kernel_has_ipip(tag: &str) -> bool {
    let Ok(ns) = Ns::new(&format!("{tag}-ipip-probe")) else {
        return false;
    };
    ns.sh("ip link add probe0 type ipip local 10.9.9.1 remote 10.9.9.2")
        .is_ok()
}
