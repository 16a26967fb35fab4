//! The reflector's configuration: one TOML file, turned into a [`SpeakerConfig`] with its
//! policies built, or into an error that names the file, line and column.
//!
//! Every field has a default except the identity (`router_id`, `asn`) and, per peer, its
//! address (and an eBGP peer's AS). The file's layout, with every option, is in
//! `route-reflector/examples/`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bgp_core::policy::{
    Action, AsPathPattern, Match, NextHopAction, Policy, PolicyRef, PrefixRange, RouteType, Term,
    Verdict,
};
use bgp_core::wire::attributes::{Community, LargeCommunity, Origin};
use bgp_speaker::fib::FibConfig;
use bgp_speaker::{
    DynamicPeers, ErrorWait, MaxPrefixes, NextHopSetting, Password, PeerSettings, SpeakerConfig,
};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

/// The configuration used when `run` is given no file: a reflector on loopback that accepts
/// clients from 127.0.0.0/8.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// A configuration error: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The line's text and the marked columns, for display.
    snippet: Option<(String, usize, usize)>,
}

impl ConfigError {
    fn at(file: &str, src: &str, span: Option<Range<usize>>, message: String) -> ConfigError {
        let span = span.unwrap_or(0..0);
        let start = span.start.min(src.len());
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let line = src[..start].matches('\n').count() + 1;
        let column = src[line_start..start].chars().count() + 1;
        let text = src[line_start..line_end].trim_end_matches('\r').to_string();
        let width = src[start..span.end.min(line_end).max(start)]
            .chars()
            .count()
            .max(1);
        ConfigError {
            file: file.to_string(),
            line,
            column,
            message,
            snippet: (!src.is_empty()).then_some((text, column, width)),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some((text, col, width)) = &self.snippet {
            let n = self.line.to_string();
            let pad = " ".repeat(n.len());
            write!(
                f,
                "\n{pad} |\n{n} | {text}\n{pad} | {}{}",
                " ".repeat(col - 1),
                "^".repeat(*width)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Log output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `debug`, `bgp_speaker=debug,info`); `RUST_LOG` wins.
    #[serde(default = "info")]
    pub level: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: info(),
        }
    }
}

fn info() -> String {
    "info".into()
}

/// The admin socket.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(default = "admin_socket")]
    pub socket: PathBuf,
    /// File mode of the socket, octal (`"0600"`: the owner only).
    #[serde(default = "admin_mode")]
    pub mode: Spanned<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            socket: admin_socket(),
            mode: Spanned::new(0..0, admin_mode().into_inner()),
        }
    }
}

/// The default admin socket path.
pub const ADMIN_SOCKET: &str = "/run/route-reflector.sock";

fn admin_socket() -> PathBuf {
    PathBuf::from(ADMIN_SOCKET)
}

fn admin_mode() -> Spanned<String> {
    Spanned::new(0..0, "0600".into())
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsRaw {
    /// Where Prometheus scrapes `/metrics`; `""` turns the endpoint off.
    #[serde(default = "metrics_listen")]
    listen: Spanned<String>,
}

impl Default for MetricsRaw {
    fn default() -> Self {
        MetricsRaw {
            listen: metrics_listen(),
        }
    }
}

fn metrics_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:9179".into())
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timers {
    #[serde(default = "hold_time")]
    hold_time: u16,
    #[serde(default = "connect_retry")]
    connect_retry: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            hold_time: hold_time(),
            connect_retry: connect_retry(),
        }
    }
}

fn hold_time() -> u16 {
    90
}

fn connect_retry() -> u64 {
    5
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct GracefulRestartRaw {
    #[serde(default = "yes")]
    enabled: bool,
    /// Seconds peers keep our routes while we restart.
    #[serde(default = "restart_time")]
    restart_time: u16,
    /// After a restart, the longest wait for the peers' End-of-RIB before sending.
    #[serde(default = "selection_deferral")]
    selection_deferral: u64,
    /// Where a stopping reflector lists the dynamic peers that were up, for the deferral
    /// of the next start (default: the admin socket's path with `.peers` at the end).
    #[serde(default)]
    state_file: Option<PathBuf>,
}

impl Default for GracefulRestartRaw {
    fn default() -> Self {
        GracefulRestartRaw {
            enabled: true,
            restart_time: restart_time(),
            selection_deferral: selection_deferral(),
            state_file: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn restart_time() -> u16 {
    120
}

fn selection_deferral() -> u64 {
    60
}

fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 179))]
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    router_id: Ipv4Addr,
    asn: u32,
    #[serde(default)]
    cluster_id: Option<Ipv4Addr>,
    #[serde(default = "default_listen")]
    listen: Vec<SocketAddr>,
    #[serde(default = "yes")]
    client_to_client: bool,
    #[serde(default = "one")]
    max_paths: usize,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    metrics: MetricsRaw,
    #[serde(default)]
    admin: AdminConfig,
    #[serde(default)]
    timers: Timers,
    #[serde(default)]
    graceful_restart: GracefulRestartRaw,
    #[serde(default)]
    fib: Option<FibConfig>,
    #[serde(default)]
    client: Vec<Spanned<PeerRaw>>,
    #[serde(default)]
    client_range: Vec<Spanned<PeerRaw>>,
    /// Internal peers that are not clients: the other reflectors of the cluster.
    #[serde(default)]
    ibgp: Vec<Spanned<PeerRaw>>,
    #[serde(default)]
    ebgp: Vec<Spanned<PeerRaw>>,
    #[serde(default)]
    prefix_lists: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    policies: BTreeMap<String, Spanned<PolicyRaw>>,
}

/// One `[[client]]`, `[[client_range]]` or `[[ebgp]]` table; which fields a kind takes is
/// checked after parsing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerRaw {
    address: Option<Spanned<IpAddr>>,
    range: Option<Spanned<IpNet>>,
    max: Option<usize>,
    asn: Option<Spanned<u32>>,
    #[allow(dead_code)]
    description: Option<String>,
    port: Option<u16>,
    local_address: Option<IpAddr>,
    #[serde(default)]
    passive: bool,
    hold_time: Option<u16>,
    connect_retry: Option<u64>,
    connect_delay: Option<u64>,
    error_wait: Option<ErrorWait>,
    password: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    password_env: Option<Spanned<String>>,
    ttl_security: Option<u8>,
    multihop: Option<u8>,
    graceful_restart: Option<bool>,
    max_prefixes: Option<u64>,
    #[serde(default)]
    max_prefixes_warn_only: bool,
    max_prefixes_restart: Option<u64>,
    import: Option<Spanned<String>>,
    export: Option<Spanned<String>>,
    next_hop: Option<NextHopSetting>,
    #[serde(default)]
    soft_reconfig_inbound: bool,
    local_as: Option<u32>,
    #[serde(default)]
    allow_own_as: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRaw {
    /// What happens to a route no term decided about.
    #[serde(default = "reject")]
    default: VerdictRaw,
    #[serde(default)]
    term: Vec<TermRaw>,
}

fn reject() -> VerdictRaw {
    VerdictRaw::Reject
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum VerdictRaw {
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
struct TermRaw {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "match")]
    matches: MatchRaw,
    #[serde(default)]
    set: SetRaw,
    #[serde(default)]
    verdict: Option<VerdictRaw>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchRaw {
    prefix_list: Option<Spanned<String>>,
    #[serde(default)]
    prefix: Vec<Spanned<String>>,
    community: Option<Spanned<String>>,
    large_community: Option<Spanned<String>>,
    as_path: Option<Spanned<String>>,
    as_path_max_len: Option<usize>,
    #[serde(default)]
    neighbor: Vec<IpAddr>,
    #[serde(default)]
    route_type: Vec<RouteTypeRaw>,
    origin: Option<OriginRaw>,
    #[serde(default)]
    next_hop: Vec<IpNet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRaw {
    local_pref: Option<u32>,
    med: Option<u32>,
    #[serde(default)]
    remove_med: bool,
    #[serde(default)]
    add_community: Vec<Spanned<String>>,
    #[serde(default)]
    remove_community: Vec<Spanned<String>>,
    #[serde(default)]
    add_large_community: Vec<Spanned<String>>,
    /// Prepend our AS this many times.
    prepend: Option<u8>,
    /// `self`, `unchanged` or an address.
    next_hop: Option<Spanned<String>>,
    origin: Option<OriginRaw>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RouteTypeRaw {
    Local,
    Internal,
    External,
    Reflected,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OriginRaw {
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

/// A checked configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub speaker: SpeakerConfig,
    pub log: LogConfig,
    /// The Prometheus endpoint; none: off.
    pub metrics: Option<SocketAddr>,
    pub admin_socket: PathBuf,
    pub admin_mode: u32,
    pub policies: usize,
    /// The dynamic peers that were up when the reflector last stopped (see
    /// `graceful_restart.state_file`).
    pub restart_state: PathBuf,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
            snippet: None,
        })?;
        Config::parse(&name, &src)
    }

    /// Checks `src`, naming it `file` in errors.
    pub fn parse(file: &str, src: &str) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(src)
            .map_err(|e| ConfigError::at(file, src, e.span(), e.message().trim().to_string()))?;
        Builder { file, src }.build(raw)
    }
}

struct Builder<'a> {
    file: &'a str,
    src: &'a str,
}

type Res<T> = Result<T, ConfigError>;

impl Builder<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.src, Some(span), message.into())
    }

    fn build(&self, raw: Raw) -> Res<Config> {
        let prefix_lists = self.prefix_lists(&raw.prefix_lists)?;
        let mut policies: HashMap<String, PolicyRef> = HashMap::new();
        policies.insert("accept-all".into(), Arc::new(Policy::accept_all()));
        policies.insert("reject-all".into(), Arc::new(Policy::reject_all()));
        for (name, p) in &raw.policies {
            let built = self.policy(name, p, &prefix_lists, raw.asn)?;
            policies.insert(name.clone(), Arc::new(built));
        }
        let mut sc = SpeakerConfig::new(raw.asn, raw.router_id);
        sc.router.cluster_id = Some(raw.cluster_id.unwrap_or(raw.router_id));
        sc.listen = raw.listen.clone();
        sc.router.client_to_client = raw.client_to_client;
        sc.router.max_paths = raw.max_paths.max(1);
        sc.fib = raw.fib.clone();
        sc.router.selection_deferral = raw.graceful_restart.selection_deferral;
        let ctx = PeerCtx {
            asn: raw.asn,
            timers: &raw.timers,
            gr: &raw.graceful_restart,
            policies: &policies,
        };
        let mut seen: HashSet<IpAddr> = HashSet::new();
        for c in &raw.client {
            let p = self.peer(c, Kind::Client, &ctx)?;
            if !seen.insert(p.address) {
                return Err(self.err(
                    c.get_ref().address.as_ref().map_or(c.span(), Spanned::span),
                    format!("peer {} is configured twice", p.address),
                ));
            }
            sc.router.peers.push(p);
        }
        let listed = raw
            .ibgp
            .iter()
            .map(|e| (e, Kind::Ibgp))
            .chain(raw.ebgp.iter().map(|e| (e, Kind::Ebgp)));
        for (e, kind) in listed {
            let p = self.peer(e, kind, &ctx)?;
            if !seen.insert(p.address) {
                return Err(self.err(
                    e.get_ref().address.as_ref().map_or(e.span(), Spanned::span),
                    format!("peer {} is configured twice", p.address),
                ));
            }
            sc.router.peers.push(p);
        }
        for r in &raw.client_range {
            let template = self.peer(r, Kind::Range, &ctx)?;
            let Some(range) = &r.get_ref().range else {
                return Err(self.err(r.span(), "a [[client_range]] needs `range`"));
            };
            sc.router.dynamic_peers.push(DynamicPeers {
                range: range.get_ref().trunc(),
                template,
                max: r.get_ref().max.unwrap_or(1000),
            });
        }
        let listen = &raw.metrics.listen;
        let metrics = match listen.get_ref().as_str() {
            "" => None,
            s => Some(s.parse::<SocketAddr>().map_err(|_| {
                self.err(
                    listen.span(),
                    format!("metrics listen {s:?} is not an address:port"),
                )
            })?),
        };
        let mode = &raw.admin.mode;
        let admin_mode = u32::from_str_radix(mode.get_ref(), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                self.err(
                    mode.span(),
                    format!("admin mode {:?} is not an octal file mode", mode.get_ref()),
                )
            })?;
        let restart_state = raw.graceful_restart.state_file.clone().unwrap_or_else(|| {
            let mut p = raw.admin.socket.clone().into_os_string();
            p.push(".peers");
            p.into()
        });
        Ok(Config {
            speaker: sc,
            log: raw.log,
            metrics,
            restart_state,
            admin_socket: raw.admin.socket,
            admin_mode,
            policies: raw.policies.len(),
        })
    }

    fn prefix_lists(
        &self,
        raw: &BTreeMap<String, Vec<Spanned<String>>>,
    ) -> Res<HashMap<String, Vec<PrefixRange>>> {
        raw.iter()
            .map(|(name, entries)| {
                let v = entries
                    .iter()
                    .map(|e| self.prefix_range(e))
                    .collect::<Res<Vec<_>>>()?;
                Ok((name.clone(), v))
            })
            .collect()
    }

    /// `PREFIX [ge N] [le N]`.
    fn prefix_range(&self, e: &Spanned<String>) -> Res<PrefixRange> {
        let bad = |why: &str| {
            self.err(
                e.span(),
                format!(
                    "{why} in prefix entry {:?} (expected `PREFIX [ge LEN] [le LEN]`)",
                    e.get_ref()
                ),
            )
        };
        let mut words = e.get_ref().split_whitespace();
        let prefix: IpNet = words
            .next()
            .ok_or_else(|| bad("no prefix"))?
            .parse()
            .map_err(|_| bad("not a prefix"))?;
        let (mut ge, mut le) = (None, None);
        while let Some(w) = words.next() {
            let n: u8 = words
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("a length is missing"))?;
            match w {
                "ge" if ge.is_none() => ge = Some(n),
                "le" if le.is_none() => le = Some(n),
                _ => return Err(bad(&format!("unexpected `{w}`"))),
            }
        }
        // `ge` alone reaches to the longest prefix; neither: the prefix exactly.
        let len = prefix.prefix_len();
        let ge_v = ge.unwrap_or(len);
        let le_v = le.unwrap_or(if ge.is_some() {
            prefix.max_prefix_len()
        } else {
            len
        });
        if ge_v < len || ge_v > le_v || le_v > prefix.max_prefix_len() {
            return Err(bad("lengths out of order"));
        }
        let r = PrefixRange {
            prefix: prefix.trunc(),
            ge: ge_v,
            le: le_v,
        };
        Ok(r)
    }

    fn policy(
        &self,
        name: &str,
        p: &Spanned<PolicyRaw>,
        lists: &HashMap<String, Vec<PrefixRange>>,
        asn: u32,
    ) -> Res<Policy> {
        let mut terms = Vec::new();
        for (i, t) in p.get_ref().term.iter().enumerate() {
            let mut matches = Vec::new();
            let m = &t.matches;
            if let Some(l) = &m.prefix_list {
                let ranges = lists.get(l.get_ref()).ok_or_else(|| {
                    self.err(
                        l.span(),
                        format!(
                            "unknown prefix list {:?}; defined: {}",
                            l.get_ref(),
                            names(lists.keys())
                        ),
                    )
                })?;
                matches.push(Match::Prefix(ranges.clone()));
            }
            if !m.prefix.is_empty() {
                let ranges = m
                    .prefix
                    .iter()
                    .map(|e| self.prefix_range(e))
                    .collect::<Res<Vec<_>>>()?;
                matches.push(Match::Prefix(ranges));
            }
            if let Some(c) = &m.community {
                matches.push(Match::Community(self.community(c)?));
            }
            if let Some(c) = &m.large_community {
                let l = self.large_community(c)?;
                matches.push(Match::LargeCommunity {
                    global: Some(l.global),
                    local1: Some(l.local1),
                    local2: Some(l.local2),
                });
            }
            if let Some(a) = &m.as_path {
                let pat: AsPathPattern =
                    a.get_ref()
                        .parse()
                        .map_err(|e: bgp_core::policy::PatternError| {
                            self.err(a.span(), e.to_string())
                        })?;
                matches.push(Match::AsPath(pat));
            }
            if let Some(n) = m.as_path_max_len {
                matches.push(Match::AsPathLenAtMost(n));
            }
            if !m.neighbor.is_empty() {
                matches.push(Match::Neighbor(m.neighbor.clone()));
            }
            if !m.route_type.is_empty() {
                matches.push(Match::RouteType(
                    m.route_type
                        .iter()
                        .map(|r| match r {
                            RouteTypeRaw::Local => RouteType::Local,
                            RouteTypeRaw::Internal => RouteType::Internal,
                            RouteTypeRaw::External => RouteType::External,
                            RouteTypeRaw::Reflected => RouteType::Reflected,
                        })
                        .collect(),
                ));
            }
            if let Some(o) = m.origin {
                matches.push(Match::Origin(o.into()));
            }
            if !m.next_hop.is_empty() {
                matches.push(Match::NextHop(m.next_hop.clone()));
            }
            let s = &t.set;
            let mut actions = Vec::new();
            if let Some(v) = s.local_pref {
                actions.push(Action::SetLocalPref(v));
            }
            if s.remove_med {
                actions.push(Action::RemoveMed);
            }
            if let Some(v) = s.med {
                actions.push(Action::SetMed(v));
            }
            for c in &s.add_community {
                actions.push(Action::AddCommunity(self.community(c)?));
            }
            for c in &s.remove_community {
                actions.push(Action::RemoveCommunity(self.community(c)?));
            }
            for c in &s.add_large_community {
                actions.push(Action::AddLargeCommunity(self.large_community(c)?));
            }
            if let Some(n) = s.prepend {
                actions.push(Action::Prepend(asn, n));
            }
            if let Some(nh) = &s.next_hop {
                let a = match nh.get_ref().as_str() {
                    "self" => NextHopAction::SelfAddr,
                    "unchanged" => NextHopAction::Unchanged,
                    other => NextHopAction::Addr(other.parse().map_err(|_| {
                        self.err(
                            nh.span(),
                            format!(
                                "next hop {other:?}: expected `self`, `unchanged` or an address"
                            ),
                        )
                    })?),
                };
                actions.push(Action::SetNextHop(a));
            }
            if let Some(o) = s.origin {
                actions.push(Action::SetOrigin(o.into()));
            }
            terms.push(Term {
                name: t.name.clone().unwrap_or_else(|| format!("term-{}", i + 1)),
                matches,
                actions,
                verdict: t.verdict.map(Verdict::from),
            });
        }
        Ok(Policy {
            name: name.to_string(),
            terms,
            default: p.get_ref().default.into(),
        })
    }

    /// `ASN:VALUE` (two 16-bit numbers) or a well-known name (`no-export`, ...).
    fn community(&self, c: &Spanned<String>) -> Res<Community> {
        let s = c.get_ref().as_str();
        let known = [
            Community::NO_EXPORT,
            Community::NO_ADVERTISE,
            Community::NO_EXPORT_SUBCONFED,
            Community::NOPEER,
            Community::BLACKHOLE,
            Community::GRACEFUL_SHUTDOWN,
        ];
        if let Some(k) = known.iter().find(|k| k.well_known_name() == Some(s)) {
            return Ok(*k);
        }
        let parts: Vec<Option<u16>> = s.split(':').map(|x| x.parse().ok()).collect();
        match parts.as_slice() {
            [Some(a), Some(v)] => Ok(Community::new(*a, *v)),
            _ => Err(self.err(
                c.span(),
                format!(
                    "community {s:?}: expected `ASN:VALUE` (16 bits each) or a well-known name"
                ),
            )),
        }
    }

    /// `GLOBAL:LOCAL1:LOCAL2` (32 bits each).
    fn large_community(&self, c: &Spanned<String>) -> Res<LargeCommunity> {
        let s = c.get_ref().as_str();
        let parts: Vec<Option<u32>> = s.split(':').map(|x| x.parse().ok()).collect();
        match parts.as_slice() {
            [Some(global), Some(local1), Some(local2)] => Ok(LargeCommunity {
                global: *global,
                local1: *local1,
                local2: *local2,
            }),
            _ => Err(self.err(
                c.span(),
                format!("large community {s:?}: expected `GLOBAL:LOCAL1:LOCAL2`"),
            )),
        }
    }

    fn peer(&self, sp: &Spanned<PeerRaw>, kind: Kind, ctx: &PeerCtx<'_>) -> Res<PeerSettings> {
        let r = sp.get_ref();
        let table = kind.table();
        let not_here = |field: &str| {
            self.err(
                sp.span(),
                format!("`{field}` does not belong in a {table} table"),
            )
        };
        match kind {
            Kind::Client | Kind::Ibgp | Kind::Ebgp => {
                if r.range.is_some() {
                    return Err(not_here("range"));
                }
                if r.max.is_some() {
                    return Err(not_here("max"));
                }
            }
            Kind::Range => {
                if r.address.is_some() {
                    return Err(not_here("address"));
                }
            }
        }
        let address = match (kind, &r.address) {
            (Kind::Range, _) => r
                .range
                .as_ref()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |n| n.get_ref().network()),
            (_, Some(a)) => *a.get_ref(),
            (_, None) => return Err(self.err(sp.span(), format!("a {table} needs `address`"))),
        };
        let asn = match (kind, &r.asn) {
            (Kind::Ebgp, None) => {
                return Err(self.err(sp.span(), "an [[ebgp]] peer needs `asn`"));
            }
            (Kind::Ebgp, Some(a)) if *a.get_ref() == r.local_as.unwrap_or(ctx.asn) => {
                return Err(self.err(
                    a.span(),
                    format!(
                        "asn {} is our own: an [[ebgp]] peer is in another AS (list internal peers as [[client]])",
                        a.get_ref()
                    ),
                ));
            }
            (Kind::Ebgp, Some(a)) => *a.get_ref(),
            (_, Some(a)) if *a.get_ref() != ctx.asn => {
                return Err(self.err(
                    a.span(),
                    format!(
                        "a {table} peer is in our AS {}, not {} (list other ASes as [[ebgp]])",
                        ctx.asn,
                        a.get_ref()
                    ),
                ));
            }
            _ => ctx.asn,
        };
        let mut p = PeerSettings::new(address, asn);
        p.rr_client = matches!(kind, Kind::Client | Kind::Range);
        if let Some(port) = r.port {
            p.port = port;
        }
        p.local_address = r.local_address;
        p.passive = r.passive;
        p.hold_time = r.hold_time.unwrap_or(ctx.timers.hold_time);
        if p.hold_time != 0 && p.hold_time < 3 {
            return Err(self.err(
                sp.span(),
                format!(
                    "hold_time {} is too short: 0 or at least 3 seconds",
                    p.hold_time
                ),
            ));
        }
        p.connect_retry = Some(r.connect_retry.unwrap_or(ctx.timers.connect_retry));
        p.connect_delay = r.connect_delay;
        p.error_wait = r.error_wait;
        if let Some(w) = r.error_wait
            && (w.min == 0 || w.min > w.max)
        {
            return Err(self.err(sp.span(), "error_wait needs 0 < min <= max"));
        }
        p.password = self.password(r)?;
        p.ttl_security = r.ttl_security;
        p.ttl = r.multihop;
        if r.ttl_security.is_some() && r.multihop.is_some() {
            return Err(self.err(
                sp.span(),
                "`ttl_security` and `multihop` exclude each other (GTSM sends with TTL 255)",
            ));
        }
        let gr = r.graceful_restart.unwrap_or(ctx.gr.enabled);
        p.graceful_restart = gr.then_some(ctx.gr.restart_time);
        if let Some(limit) = r.max_prefixes {
            p.max_prefixes.push(MaxPrefixes {
                limit,
                family: None,
                warn_only: r.max_prefixes_warn_only,
                restart_after: r.max_prefixes_restart,
            });
        }
        p.import = self.policy_ref(&r.import, ctx.policies)?;
        p.export = self.policy_ref(&r.export, ctx.policies)?;
        p.next_hop = r.next_hop.unwrap_or_default();
        p.soft_reconfig_inbound = r.soft_reconfig_inbound;
        p.local_as = r.local_as;
        p.allow_own_as = r.allow_own_as;
        Ok(p)
    }

    fn policy_ref(
        &self,
        name: &Option<Spanned<String>>,
        policies: &HashMap<String, PolicyRef>,
    ) -> Res<Option<PolicyRef>> {
        let Some(n) = name else { return Ok(None) };
        policies.get(n.get_ref()).cloned().map(Some).ok_or_else(|| {
            self.err(
                n.span(),
                format!(
                    "unknown policy {:?}; defined: {}",
                    n.get_ref(),
                    names(policies.keys())
                ),
            )
        })
    }

    /// The password from the file, the environment or the config, at most one of them.
    fn password(&self, r: &PeerRaw) -> Res<Option<Password>> {
        let given = [
            r.password.as_ref().map(Spanned::span),
            r.password_file.as_ref().map(Spanned::span),
            r.password_env.as_ref().map(Spanned::span),
        ];
        if given.iter().flatten().count() > 1 {
            let second = given.iter().flatten().nth(1).cloned().unwrap_or(0..0);
            return Err(self.err(
                second,
                "give one of `password`, `password_file` and `password_env`",
            ));
        }
        let pw = if let Some(p) = &r.password {
            Some((p.get_ref().clone(), p.span()))
        } else if let Some(f) = &r.password_file {
            let text = std::fs::read_to_string(f.get_ref()).map_err(|e| {
                self.err(
                    f.span(),
                    format!("password file {}: {e}", f.get_ref().display()),
                )
            })?;
            Some((text.trim_end_matches(['\n', '\r']).to_string(), f.span()))
        } else if let Some(v) = &r.password_env {
            let text = std::env::var(v.get_ref()).map_err(|_| {
                self.err(
                    v.span(),
                    format!("environment variable {} is not set", v.get_ref()),
                )
            })?;
            Some((text, v.span()))
        } else {
            None
        };
        match pw {
            None => Ok(None),
            Some((text, span)) if text.is_empty() || text.len() > 80 => {
                Err(self.err(span, "a TCP-MD5 password has 1 to 80 characters"))
            }
            Some((text, _)) => Ok(Some(Password(text))),
        }
    }
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let mut v: Vec<&str> = keys.map(String::as_str).collect();
    v.sort_unstable();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Client,
    Range,
    Ibgp,
    Ebgp,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Client => "[[client]]",
            Kind::Range => "[[client_range]]",
            Kind::Ibgp => "[[ibgp]]",
            Kind::Ebgp => "[[ebgp]]",
        }
    }
}

struct PeerCtx<'a> {
    asn: u32,
    timers: &'a Timers,
    gr: &'a GracefulRestartRaw,
    policies: &'a HashMap<String, PolicyRef>,
}

/// Settings that a reload cannot change: the names of those that differ.
pub fn fixed_differences(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.speaker, &new.speaker);
    [
        ("asn", a.router.asn != b.router.asn),
        ("router_id", a.router.router_id != b.router.router_id),
        ("cluster_id", a.router.cluster_id != b.router.cluster_id),
        ("listen", a.listen != b.listen),
        (
            "client_to_client",
            a.router.client_to_client != b.router.client_to_client,
        ),
        ("max_paths", a.router.max_paths != b.router.max_paths),
        ("fib", a.fib != b.fib),
        ("metrics", old.metrics != new.metrics),
        (
            "admin",
            old.admin_socket != new.admin_socket || old.admin_mode != new.admin_mode,
        ),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests;
