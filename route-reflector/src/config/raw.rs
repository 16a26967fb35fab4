//! The file as it is written: what serde reads, before any check.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use bgp_core::policy::Verdict;
use bgp_core::wire::attributes::Origin;
use bgp_speaker::fib::FibConfig;
use bgp_speaker::{ErrorWait, NextHopSetting, PathSelection};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::{AdminConfig, LogFormat};

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsRaw {
    /// Where Prometheus scrapes `/metrics`; `""` turns the endpoint off.
    #[serde(default = "metrics_listen")]
    pub(super) listen: Spanned<String>,
}

impl Default for MetricsRaw {
    fn default() -> Self {
        MetricsRaw {
            listen: metrics_listen(),
        }
    }
}

pub(super) fn metrics_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:9179".into())
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Timers {
    #[serde(default = "hold_time")]
    pub(super) hold_time: Spanned<u16>,
    /// Seconds between KEEPALIVEs; none: a third of the negotiated hold time.
    #[serde(default)]
    pub(super) keepalive: Option<Spanned<u16>>,
    #[serde(default = "connect_retry")]
    pub(super) connect_retry: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            hold_time: hold_time(),
            keepalive: None,
            connect_retry: connect_retry(),
        }
    }
}

pub(super) fn hold_time() -> Spanned<u16> {
    Spanned::new(0..0, 90)
}

pub(super) fn connect_retry() -> u64 {
    5
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GracefulRestartRaw {
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    /// Seconds peers keep our routes while we restart.
    #[serde(default = "restart_time")]
    pub(super) restart_time: Spanned<u16>,
    /// Long-lived graceful restart (RFC 9494) for every peer: the stale time, seconds.
    #[serde(default)]
    pub(super) long_lived_stale_time: Option<Spanned<u32>>,
    /// After a restart, the longest wait for the peers' End-of-RIB before sending.
    #[serde(default = "selection_deferral")]
    pub(super) selection_deferral: u64,
    /// Where a stopping reflector lists the dynamic peers that were up, for the deferral
    /// of the next start (default: the admin socket's path with `.peers` at the end).
    #[serde(default)]
    pub(super) state_file: Option<PathBuf>,
}

/// `[damping]`: the parameters of route-flap damping where a peer has `damping = true`
/// (RFC 2439; the defaults are RFC 7196's).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DampingRaw {
    /// Minutes for the figure of merit to halve.
    #[serde(default = "half_life")]
    pub(super) half_life: u64,
    #[serde(default = "reuse")]
    pub(super) reuse: u32,
    #[serde(default = "suppress")]
    pub(super) suppress: u32,
    /// Minutes at most a route stays suppressed.
    #[serde(default = "max_suppress")]
    pub(super) max_suppress: u64,
}

impl Default for DampingRaw {
    fn default() -> Self {
        DampingRaw {
            half_life: half_life(),
            reuse: reuse(),
            suppress: suppress(),
            max_suppress: max_suppress(),
        }
    }
}

fn half_life() -> u64 {
    15
}

fn reuse() -> u32 {
    750
}

fn suppress() -> u32 {
    6000
}

fn max_suppress() -> u64 {
    60
}

impl Default for GracefulRestartRaw {
    fn default() -> Self {
        GracefulRestartRaw {
            enabled: true,
            restart_time: restart_time(),
            long_lived_stale_time: None,
            selection_deferral: selection_deferral(),
            state_file: None,
        }
    }
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn restart_time() -> Spanned<u16> {
    Spanned::new(0..0, 120)
}

pub(super) fn selection_deferral() -> u64 {
    60
}

pub(super) fn default_listen() -> Vec<Spanned<SocketAddr>> {
    vec![Spanned::new(0..0, SocketAddr::from(([0, 0, 0, 0], 179)))]
}

pub(super) fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}

pub(super) fn peer_queue_depth() -> Spanned<usize> {
    Spanned::new(
        0..0,
        bgp_core::router::RouterConfig::new(0, Ipv4Addr::UNSPECIFIED).peer_queue_depth,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) router_id: Spanned<Ipv4Addr>,
    pub(super) asn: Spanned<u32>,
    #[serde(default)]
    pub(super) cluster_id: Option<Ipv4Addr>,
    #[serde(default = "default_listen")]
    pub(super) listen: Vec<Spanned<SocketAddr>>,
    #[serde(default = "yes")]
    pub(super) client_to_client: bool,
    #[serde(default = "one")]
    pub(super) max_paths: Spanned<usize>,
    /// Messages a peer may have waiting before it is re-synchronized instead (the bound on
    /// what a peer that does not read costs).
    #[serde(default = "peer_queue_depth")]
    pub(super) peer_queue_depth: Spanned<usize>,
    #[serde(default)]
    pub(super) log: LogRaw,
    #[serde(default)]
    pub(super) metrics: MetricsRaw,
    #[serde(default)]
    pub(super) admin: AdminConfig,
    #[serde(default)]
    pub(super) timers: Timers,
    #[serde(default)]
    pub(super) graceful_restart: GracefulRestartRaw,
    #[serde(default)]
    pub(super) damping: Option<Spanned<DampingRaw>>,
    /// BFD's defaults for the peers.
    #[serde(default)]
    pub(super) bfd: Option<Spanned<super::bfd::BfdTableRaw>>,
    #[serde(default)]
    pub(super) fib: Option<FibConfig>,
    #[serde(default)]
    pub(super) client: Vec<Spanned<PeerRaw>>,
    #[serde(default)]
    pub(super) client_range: Vec<Spanned<PeerRaw>>,
    /// Internal peers that are not clients: the other reflectors of the cluster.
    #[serde(default)]
    pub(super) ibgp: Vec<Spanned<PeerRaw>>,
    #[serde(default)]
    pub(super) ebgp: Vec<Spanned<PeerRaw>>,
    #[serde(default)]
    pub(super) prefix_lists: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) policies: BTreeMap<String, Spanned<PolicyRaw>>,
    /// A node agent's file (see `node.rs`).
    #[serde(default)]
    pub(super) node: Option<Spanned<super::node::NodeRaw>>,
    #[serde(default)]
    pub(super) bmp: Vec<Spanned<super::monitor::BmpRaw>>,
    #[serde(default)]
    pub(super) mrt: Option<Spanned<super::monitor::MrtRaw>>,
}

/// One `[[client]]`, `[[client_range]]` or `[[ebgp]]` table; which fields a kind takes is
/// checked after parsing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PeerRaw {
    pub(super) address: Option<Spanned<IpAddr>>,
    /// The peer's link: the scope of a link-local address; alone, the peer is found there.
    pub(super) interface: Option<Spanned<String>>,
    pub(super) range: Option<Spanned<IpNet>>,
    pub(super) max: Option<usize>,
    pub(super) asn: Option<Spanned<u32>>,
    #[allow(dead_code)]
    pub(super) description: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) local_address: Option<Spanned<IpAddr>>,
    #[serde(default)]
    pub(super) passive: bool,
    pub(super) hold_time: Option<Spanned<u16>>,
    pub(super) keepalive: Option<Spanned<u16>>,
    pub(super) connect_retry: Option<u64>,
    pub(super) connect_delay: Option<u64>,
    pub(super) error_wait: Option<ErrorWait>,
    pub(super) password: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<PathBuf>>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) ttl_security: Option<u8>,
    pub(super) multihop: Option<u8>,
    pub(super) graceful_restart: Option<bool>,
    /// Route-flap damping of the peer's routes ([[ebgp]] only).
    pub(super) damping: Option<Spanned<bool>>,
    /// The peer's own long-lived stale time (0: none for the peer).
    pub(super) long_lived_stale_time: Option<Spanned<u32>>,
    pub(super) max_prefixes: Option<u64>,
    #[serde(default)]
    pub(super) max_prefixes_warn_only: bool,
    pub(super) max_prefixes_restart: Option<u64>,
    pub(super) import: Option<Spanned<String>>,
    pub(super) export: Option<Spanned<String>>,
    pub(super) next_hop: Option<NextHopSetting>,
    #[serde(default)]
    pub(super) soft_reconfig_inbound: bool,
    #[serde(default)]
    pub(super) extended_next_hop: bool,
    pub(super) add_path: Option<AddPathRaw>,
    pub(super) add_path_send: Option<Spanned<PathsRaw>>,
    pub(super) local_as: Option<u32>,
    #[serde(default)]
    pub(super) allow_own_as: u8,
    /// BFD on the peer's path: `true`, `false` or its own values.
    pub(super) bfd: Option<Spanned<super::bfd::BfdRaw>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyRaw {
    /// What happens to a route no term decided about.
    #[serde(default = "reject")]
    pub(super) default: VerdictRaw,
    #[serde(default)]
    pub(super) term: Vec<TermRaw>,
}

pub(super) fn reject() -> VerdictRaw {
    VerdictRaw::Reject
}

/// `add_path`: which way several paths per prefix go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum AddPathRaw {
    Receive,
    Send,
    Both,
}

/// `add_path_send`: `"all"`, `"ecmp"`, or how many of the best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PathsRaw(pub(super) PathSelection);

impl<'de> Deserialize<'de> for PathsRaw {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PathsRaw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"all\", \"ecmp\" or a number of paths from 1 to 255")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PathsRaw, E> {
                match v {
                    "all" => Ok(PathsRaw(PathSelection::All)),
                    "ecmp" => Ok(PathsRaw(PathSelection::Ecmp)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PathsRaw, E> {
                match u8::try_from(v) {
                    Ok(n) if n > 0 => Ok(PathsRaw(PathSelection::Best(n))),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum VerdictRaw {
    Accept,
    Reject,
}

impl From<VerdictRaw> for Verdict {
    fn from(v: VerdictRaw) -> Verdict {
        match v {
            VerdictRaw::Accept => Verdict::Accept,
            VerdictRaw::Reject => Verdict::Reject,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TermRaw {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default, rename = "match")]
    pub(super) matches: MatchRaw,
    #[serde(default)]
    pub(super) set: SetRaw,
    #[serde(default)]
    pub(super) verdict: Option<VerdictRaw>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MatchRaw {
    pub(super) prefix_list: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) prefix: Vec<Spanned<String>>,
    pub(super) community: Option<Spanned<String>>,
    pub(super) large_community: Option<Spanned<String>>,
    pub(super) as_path: Option<Spanned<String>>,
    pub(super) as_path_max_len: Option<usize>,
    #[serde(default)]
    pub(super) neighbor: Vec<IpAddr>,
    #[serde(default)]
    pub(super) route_type: Vec<RouteTypeRaw>,
    pub(super) origin: Option<OriginRaw>,
    #[serde(default)]
    pub(super) next_hop: Vec<IpNet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetRaw {
    pub(super) local_pref: Option<u32>,
    pub(super) med: Option<u32>,
    #[serde(default)]
    pub(super) remove_med: bool,
    #[serde(default)]
    pub(super) add_community: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) remove_community: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) add_large_community: Vec<Spanned<String>>,
    /// Prepend our AS this many times.
    pub(super) prepend: Option<u8>,
    /// `self`, `unchanged` or an address.
    pub(super) next_hop: Option<Spanned<String>>,
    pub(super) origin: Option<OriginRaw>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RouteTypeRaw {
    Local,
    Internal,
    External,
    Reflected,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum OriginRaw {
    Igp,
    Egp,
    Incomplete,
}

impl From<OriginRaw> for Origin {
    fn from(o: OriginRaw) -> Origin {
        match o {
            OriginRaw::Igp => Origin::Igp,
            OriginRaw::Egp => Origin::Egp,
            OriginRaw::Incomplete => Origin::Incomplete,
        }
    }
}

/// `[log]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogRaw {
    #[serde(default)]
    pub(super) format: LogFormat,
    #[serde(default = "info")]
    pub(super) level: Spanned<String>,
}

impl Default for LogRaw {
    fn default() -> Self {
        LogRaw {
            format: LogFormat::Human,
            level: info(),
        }
    }
}

fn info() -> Spanned<String> {
    Spanned::new(0..0, "info".into())
}
