//! `[node]`: what makes a file a node agent's. The rest of the file (identity, peers,
//! policies, timers, `[fib]`, `[metrics]`, `[admin]`, `[log]`) means what it means for the
//! reflector; only some defaults differ (no listener, the agent's own socket and port).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use bgp_speaker::SpeakerConfig;
use bgp_speaker::fib::{FibConfig, TunnelMode};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::raw::{Raw, yes};
use super::{Builder, Config};

/// The node agent's default admin socket.
pub const NODE_ADMIN_SOCKET: &str = "/run/node-agent.sock";
/// The node agent's default metrics endpoint.
pub const NODE_METRICS: &str = "127.0.0.1:9180";

/// `[node]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeRaw {
    /// The node's IPv4 address: next hop of its IPv4 blocks, source of IPv4 sessions.
    pub(super) address: Option<Spanned<Ipv4Addr>>,
    /// The node's IPv6 address: next hop of its IPv6 blocks (and of IPv4 blocks when the
    /// node has no IPv4 address: RFC 8950), source of IPv6 sessions.
    pub(super) address6: Option<Spanned<Ipv6Addr>>,
    #[serde(default)]
    pub(super) pod_blocks: Vec<Spanned<IpNet>>,
    /// Pools whose kernel routes are announced too (blackholes as blocks, workload routes
    /// outside the blocks).
    #[serde(default)]
    pub(super) learn: Vec<Spanned<IpNet>>,
    #[serde(default = "cali")]
    pub(super) workload_devices: Vec<String>,
    /// Whether learned routes go into the kernel (with `[fib]`, or in IPIP cross-subnet
    /// mode when there is no `[fib]`).
    #[serde(default = "yes")]
    pub(super) install_routes: bool,
}

fn cali() -> Vec<String> {
    vec!["cali".into()]
}

/// The node's part of a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    pub address: Option<Ipv4Addr>,
    pub address6: Option<Ipv6Addr>,
    pub pod_blocks: Vec<IpNet>,
    pub learn: Vec<IpNet>,
    pub workload_devices: Vec<String>,
    /// `[metrics]` and `[admin]` socket were left to their defaults.
    metrics_default: bool,
    admin_default: bool,
}

impl NodeConfig {
    /// The next hop announced with `block`.
    pub fn next_hop(&self, block: &IpNet) -> Option<IpAddr> {
        match block {
            IpNet::V4(_) => self
                .address
                .map(IpAddr::V4)
                .or(self.address6.map(IpAddr::V6)),
            IpNet::V6(_) => self.address6.map(IpAddr::V6),
        }
    }

    /// Settings that only a restart changes: the names of those that differ.
    pub fn fixed_differences(&self, new: &NodeConfig) -> Vec<&'static str> {
        [
            ("node.address", self.address != new.address),
            ("node.address6", self.address6 != new.address6),
            ("node.learn", self.learn != new.learn),
            (
                "node.workload_devices",
                self.workload_devices != new.workload_devices,
            ),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
    }
}

impl Builder<'_> {
    /// Checks `[node]` and adapts the speaker to a node: no listener unless one is
    /// written, no cluster ID, each peer's source address from the node's addresses, and
    /// the kernel FIB on.
    pub(super) fn node(
        &self,
        n: &Spanned<NodeRaw>,
        raw: &Raw,
        sc: &mut SpeakerConfig,
    ) -> NodeConfig {
        let r = n.get_ref();
        if r.address.is_none() && r.address6.is_none() {
            self.fail(n.span(), "[node] needs `address`, `address6` or both");
        }
        let (v4, v6) = (r.address.as_ref(), r.address6.as_ref());
        let rfc8950 = sc.router.peers.iter().any(|p| p.extended_next_hop);
        let mut blocks = Vec::new();
        for b in &r.pod_blocks {
            let net = *b.get_ref();
            if net.trunc() != net {
                self.fail(
                    b.span(),
                    format!(
                        "pod block {net} has host bits set (the block is {})",
                        net.trunc()
                    ),
                );
            }
            match net {
                IpNet::V6(_) if v6.is_none() => {
                    self.fail(b.span(), format!("IPv6 block {net} needs `address6`"));
                }
                IpNet::V4(_) if v4.is_none() && !rfc8950 => self.fail(
                    b.span(),
                    format!(
                        "IPv4 block {net} with only `address6` needs a peer with `extended_next_hop = true` (RFC 8950)"
                    ),
                ),
                _ => {}
            }
            if blocks.contains(&net) {
                self.fail(b.span(), format!("pod block {net} is given twice"));
            }
            blocks.push(net);
        }
        // Written listeners have a position; the default has none.
        if raw.listen.iter().all(|l| l.span() == (0..0)) {
            sc.listen.clear();
        }
        sc.router.cluster_id = None;
        for p in &mut sc.router.peers {
            // A peer on a link (`interface`) has its link-local address as source.
            if p.local_address.is_none() && p.interface.is_none() {
                p.local_address = match p.address {
                    IpAddr::V4(_) => v4.map(|a| IpAddr::V4(*a.get_ref())),
                    IpAddr::V6(_) => v6.map(|a| IpAddr::V6(*a.get_ref())),
                };
            }
        }
        if !r.install_routes {
            sc.fib = None;
        } else if sc.fib.is_none() {
            sc.fib = Some(FibConfig {
                mode: TunnelMode::IpipCrossSubnet,
                ..FibConfig::default()
            });
        }
        let learn: Vec<IpNet> = r.learn.iter().map(|l| *l.get_ref()).collect();
        if !learn.is_empty() {
            sc.learn = Some(bgp_speaker::kernel_routes::LearnConfig {
                within: learn.clone(),
                devices: r.workload_devices.clone(),
                blocks_from_blackholes: true,
                table: 254,
                // Dual stack: each session's own address.
                next_hop: match (v4, v6) {
                    (Some(a), None) => Some(IpAddr::V4(*a.get_ref())),
                    (None, Some(a)) => Some(IpAddr::V6(*a.get_ref())),
                    _ => None,
                },
                own_protocol: sc.fib.as_ref().map_or(186, |f| f.protocol),
            });
        }
        NodeConfig {
            address: v4.map(|a| *a.get_ref()),
            address6: v6.map(|a| *a.get_ref()),
            pod_blocks: blocks,
            learn,
            workload_devices: r.workload_devices.clone(),
            metrics_default: raw.metrics.listen.span() == (0..0),
            admin_default: raw.admin.socket.as_path() == std::path::Path::new(super::ADMIN_SOCKET),
        }
    }
}

/// The node agent's defaults where the file left them.
pub(super) fn finish(mut c: Config) -> Config {
    if let Some(n) = &c.node {
        if n.metrics_default {
            c.metrics = NODE_METRICS.parse::<SocketAddr>().ok();
        }
        if n.admin_default {
            c.admin_socket = PathBuf::from(NODE_ADMIN_SOCKET);
        }
    }
    c
}
