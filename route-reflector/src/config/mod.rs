//! The reflector's configuration: one TOML file, turned into a [`SpeakerConfig`] with its
//! policies built, or into an error that names the file, line and column.
//!
//! Every field has a default except the identity (`router_id`, `asn`) and, per peer, its
//! address (and an eBGP peer's AS). The file's layout, with every option, is in
//! `route-reflector/examples/`.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bgp_core::policy::{Policy, PolicyRef};
use bgp_speaker::{DampingConfig, DynamicPeers, SpeakerConfig};
use serde::Deserialize;
use toml::Spanned;

/// The configuration used when `run` is given no file: a reflector on loopback that accepts
/// clients from 127.0.0.0/8.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// A configuration error (or warning): where, and what was expected.
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

/// Every error a file has, each at its own position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![e])
    }
}

/// Log output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `debug`, `bgp_speaker=debug,info`); `RUST_LOG` wins.
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
            level: "info".into(),
        }
    }
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
    /// The group the socket belongs to (a name or a number), so that its members (a
    /// metrics exporter, say) can use it with a mode such as `"0660"`.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            socket: admin_socket(),
            mode: Spanned::new(0..0, admin_mode().into_inner()),
            group: None,
        }
    }
}

/// The values `peer_queue_depth` may take: below 16 a flush of a few prefixes would
/// already overflow a peer that keeps up; above a million the bound bounds nothing.
pub const PEER_QUEUE_DEPTH: std::ops::RangeInclusive<usize> = 16..=1_000_000;

/// The default admin socket path.
pub const ADMIN_SOCKET: &str = "/run/route-reflector.sock";

fn admin_socket() -> PathBuf {
    PathBuf::from(ADMIN_SOCKET)
}

fn admin_mode() -> Spanned<String> {
    Spanned::new(0..0, "0600".into())
}

#[derive(Debug, Clone)]
pub struct Config {
    pub speaker: SpeakerConfig,
    pub log: LogConfig,
    /// The Prometheus endpoint; none: off.
    pub metrics: Option<SocketAddr>,
    pub admin_socket: PathBuf,
    pub admin_mode: u32,
    /// The admin socket's group id, when set.
    pub admin_group: Option<u32>,
    pub policies: usize,
    /// The graceful-restart peers that were up when the reflector last stopped (see
    /// `graceful_restart.state_file`).
    pub restart_state: PathBuf,
    /// What is legal but likely a mistake (a policy no peer uses, say).
    pub warnings: Vec<ConfigError>,
    /// `[node]`: the file is a node agent's.
    pub node: Option<NodeConfig>,
}

/// Whether secrets (password files, environment variables) are read while checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrets {
    Read,
    /// Not read: a file can be checked where its secrets are not (in CI, say); only
    /// their form is checked.
    Skip,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with(path, Secrets::Read)
    }

    pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigErrors> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
            snippet: None,
        })?;
        // Text that is not UTF-8 is refused where its first bad byte is.
        let src = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            ConfigError::at(&name, &text, Some(at..at), "not UTF-8 text".into())
        })?;
        Config::parse_with(&name, &src, secrets)
    }

    /// Checks `src`, naming it `file` in errors.
    pub fn parse(file: &str, src: &str) -> Result<Config, ConfigErrors> {
        Config::parse_with(file, src, Secrets::Read)
    }

    pub fn parse_with(file: &str, src: &str, secrets: Secrets) -> Result<Config, ConfigErrors> {
        let raw: Raw = toml::from_str(src)
            .map_err(|e| ConfigError::at(file, src, e.span(), e.message().trim().to_string()))?;
        let b = Builder {
            file,
            src,
            secrets,
            errors: RefCell::default(),
            warnings: RefCell::default(),
            used: RefCell::default(),
        };
        let c = b.build(raw);
        let errors = b.errors.take();
        match c {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

struct Builder<'a> {
    file: &'a str,
    src: &'a str,
    secrets: Secrets,
    /// Every error so far: checking goes on after one, so that all are reported.
    errors: RefCell<Vec<ConfigError>>,
    warnings: RefCell<Vec<ConfigError>>,
    /// Policies and prefix lists referred to.
    used: RefCell<HashSet<String>>,
}

type Res<T> = Result<T, ConfigError>;

impl Builder<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.src, Some(span), message.into())
    }

    /// Notes an error and goes on.
    fn fail(&self, span: Range<usize>, message: impl Into<String>) {
        let e = self.err(span, message);
        self.errors.borrow_mut().push(e);
    }

    fn warn(&self, span: Range<usize>, message: impl Into<String>) {
        let e = self.err(span, message);
        self.warnings.borrow_mut().push(e);
    }

    /// The value, or `None` with the error noted.
    fn keep<T>(&self, r: Res<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.borrow_mut().push(e);
                None
            }
        }
    }

    /// `None` when an error was found (they are all in `errors`).
    fn build(&self, raw: Raw) -> Option<Config> {
        self.identity(&raw);
        let log = self.log(&raw.log);
        let prefix_lists = self.prefix_lists(&raw.prefix_lists);
        let mut policies: HashMap<String, PolicyRef> = HashMap::new();
        policies.insert("accept-all".into(), Arc::new(Policy::accept_all()));
        policies.insert("reject-all".into(), Arc::new(Policy::reject_all()));
        for (name, p) in &raw.policies {
            if let Some(built) = self.keep(self.policy(name, p, &prefix_lists, *raw.asn.get_ref()))
            {
                policies.insert(name.clone(), Arc::new(built));
            }
        }
        let (asn, router_id) = (*raw.asn.get_ref(), *raw.router_id.get_ref());
        let mut sc = SpeakerConfig::new(asn, router_id);
        sc.router.cluster_id = Some(raw.cluster_id.unwrap_or(router_id));
        sc.listen = raw.listen.iter().map(|l| *l.get_ref()).collect();
        sc.router.client_to_client = raw.client_to_client;
        sc.router.max_paths = *raw.max_paths.get_ref();
        sc.router.peer_queue_depth = *raw.peer_queue_depth.get_ref();
        sc.fib = raw.fib.clone();
        sc.bmp = self.bmp(&raw.bmp);
        sc.mrt = self.mrt(&raw.mrt);
        sc.router.selection_deferral = raw.graceful_restart.selection_deferral;
        self.timers(&raw.timers);
        self.graceful_restart(&raw.graceful_restart);
        let bfd = self.bfd_defaults(&raw.bfd);
        let ctx = PeerCtx {
            bfd: &bfd,
            asn,
            timers: &raw.timers,
            gr: &raw.graceful_restart,
            damping: self.damping(&raw.damping),
            policies: &policies,
        };
        let mut seen: HashSet<IpAddr> = HashSet::new();
        let mut interfaces: HashSet<String> = HashSet::new();
        let listed = raw
            .client
            .iter()
            .map(|e| (e, Kind::Client))
            .chain(raw.ibgp.iter().map(|e| (e, Kind::Ibgp)))
            .chain(raw.ebgp.iter().map(|e| (e, Kind::Ebgp)));
        for (e, kind) in listed {
            let Some(p) = self.keep(self.peer(e, kind, &ctx)) else {
                continue;
            };
            if p.address.is_unspecified()
                && let Some(i) = &p.interface
            {
                if !interfaces.insert(i.clone()) {
                    self.fail(
                        e.span(),
                        format!("a peer on interface {i} alone is configured twice"),
                    );
                    continue;
                }
            } else if !seen.insert(p.address) {
                self.fail(
                    e.get_ref().address.as_ref().map_or(e.span(), Spanned::span),
                    format!("peer {} is configured twice", p.address),
                );
                continue;
            }
            sc.router.peers.push(p);
        }
        for r in &raw.client_range {
            let template = self.keep(self.peer(r, Kind::Range, &ctx));
            let Some(range) = &r.get_ref().range else {
                self.fail(r.span(), "a [[client_range]] needs `range`");
                continue;
            };
            if let Some(template) = template {
                sc.router.dynamic_peers.push(DynamicPeers {
                    range: range.get_ref().trunc(),
                    template,
                    max: r.get_ref().max.unwrap_or(1000),
                });
            }
        }
        self.unused(&raw);
        let node = raw.node.as_ref().map(|n| self.node(n, &raw, &mut sc));
        let metrics = self.metrics(&raw.metrics.listen);
        let admin_mode = self.admin_mode(&raw.admin.mode);
        let admin_group = raw.admin.group.as_ref().and_then(|g| self.group(g));
        let restart_state = raw.graceful_restart.state_file.clone().unwrap_or_else(|| {
            let mut p = raw.admin.socket.clone().into_os_string();
            p.push(".peers");
            p.into()
        });
        if !self.errors.borrow().is_empty() {
            return None;
        }
        Some(node::finish(Config {
            speaker: sc,
            log,
            metrics: metrics?,
            restart_state,
            admin_socket: raw.admin.socket,
            admin_mode: admin_mode?,
            admin_group,
            policies: raw.policies.len(),
            warnings: self.warnings.take(),
            node,
        }))
    }

    /// AS, router ID, listeners and ECMP width.
    fn identity(&self, raw: &Raw) {
        if *raw.asn.get_ref() == 0 {
            self.fail(
                raw.asn.span(),
                "asn 0 is reserved (RFC 7607): not an AS to run as",
            );
        }
        let id = raw.router_id.get_ref();
        if id.is_unspecified() || id.is_broadcast() || id.is_multicast() {
            self.fail(
                raw.router_id.span(),
                format!("router_id {id} is not a usable BGP identifier"),
            );
        }
        let mut listen: HashSet<SocketAddr> = HashSet::new();
        for l in &raw.listen {
            if !listen.insert(*l.get_ref()) {
                self.fail(
                    l.span(),
                    format!("listen address {} is given twice", l.get_ref()),
                );
            }
        }
        if *raw.max_paths.get_ref() == 0 {
            self.fail(raw.max_paths.span(), "max_paths is at least 1 (1: no ECMP)");
        }
        let depth = *raw.peer_queue_depth.get_ref();
        if !PEER_QUEUE_DEPTH.contains(&depth) {
            self.fail(
                raw.peer_queue_depth.span(),
                format!(
                    "peer_queue_depth {depth} is out of range: {} to {} messages",
                    PEER_QUEUE_DEPTH.start(),
                    PEER_QUEUE_DEPTH.end()
                ),
            );
        }
    }

    /// The default hold time and keepalive, checked once at their own position.
    fn timers(&self, t: &Timers) {
        let hold = *t.hold_time.get_ref();
        if hold != 0 && hold < 3 {
            self.fail(
                t.hold_time.span(),
                format!("hold_time {hold} is too short: 0 or at least 3 seconds"),
            );
        }
        if let Some(k) = &t.keepalive {
            self.keepalive(k, hold);
        }
    }

    /// The restart and long-lived stale times of `[graceful_restart]`, checked once.
    fn graceful_restart(&self, gr: &GracefulRestartRaw) {
        let t = *gr.restart_time.get_ref();
        if t > 0x0fff {
            self.fail(
                gr.restart_time.span(),
                format!("restart_time {t} is too long: at most 4095 seconds (12 bits)"),
            );
        }
        if let Some(t) = &gr.long_lived_stale_time {
            self.long_lived_stale_time(t);
        }
    }

    /// `[damping]` as the core takes it, checked at its position.
    fn damping(&self, d: &Option<Spanned<DampingRaw>>) -> DampingConfig {
        let Some(d) = d else {
            return DampingConfig::default();
        };
        let r = d.get_ref();
        let cfg = DampingConfig {
            half_life: std::time::Duration::from_secs(r.half_life.saturating_mul(60)),
            reuse: r.reuse,
            suppress: r.suppress,
            max_suppress: std::time::Duration::from_secs(r.max_suppress.saturating_mul(60)),
            ..DampingConfig::default()
        };
        if let Err(why) = cfg.validate() {
            self.fail(d.span(), why);
        }
        cfg
    }

    /// A long-lived stale time: 24 bits of seconds (RFC 9494 3).
    fn long_lived_stale_time(&self, t: &Spanned<u32>) {
        let v = *t.get_ref();
        if v > 0x00ff_ffff {
            self.fail(
                t.span(),
                format!(
                    "long_lived_stale_time {v} is too long: at most 16777215 seconds (24 bits)"
                ),
            );
        }
    }

    /// A keepalive interval against the hold time it goes with.
    fn keepalive(&self, k: &Spanned<u16>, hold: u16) {
        let v = *k.get_ref();
        if hold == 0 && v != 0 {
            self.fail(
                k.span(),
                "keepalive with hold_time 0: no KEEPALIVEs are sent",
            );
        } else if hold != 0 && (v == 0 || v >= hold) {
            self.fail(
                k.span(),
                format!("keepalive {v} must be at least 1 and below the hold time ({hold})"),
            );
        }
    }

    /// The log settings: the level must be a level, or `target=level` directives.
    fn log(&self, l: &LogRaw) -> LogConfig {
        let level = l.level.get_ref();
        const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
        for d in level.split(',').map(str::trim) {
            let lv = d.rsplit_once('=').map_or(d, |(_, lv)| lv);
            if !LEVELS.contains(&lv.to_ascii_lowercase().as_str()) {
                self.fail(
                    l.level.span(),
                    format!(
                        "log level {d:?}: expected one of {} or `TARGET=LEVEL`",
                        LEVELS.join(", ")
                    ),
                );
            }
        }
        LogConfig {
            format: l.format,
            level: level.clone(),
        }
    }

    /// Policies and prefix lists that nothing uses: warnings.
    fn unused(&self, raw: &Raw) {
        let used = self.used.borrow();
        for (name, p) in &raw.policies {
            if !used.contains(&format!("policy:{name}")) {
                self.warn(p.span(), format!("policy {name:?} is not used by any peer"));
            }
        }
        for name in raw.prefix_lists.keys() {
            if !used.contains(&format!("prefix_list:{name}")) {
                let at = self
                    .src
                    .find(&format!("{name} ="))
                    .or_else(|| self.src.find(name.as_str()));
                let span = at.map_or(0..0, |i| i..i + name.len());
                self.warn(
                    span,
                    format!("prefix list {name:?} is not used by any policy"),
                );
            }
        }
    }

    fn metrics(&self, listen: &Spanned<String>) -> Option<Option<SocketAddr>> {
        match listen.get_ref().as_str() {
            "" => Some(None),
            s => match s.parse::<SocketAddr>() {
                Ok(a) => Some(Some(a)),
                Err(_) => {
                    self.fail(
                        listen.span(),
                        format!("metrics listen {s:?} is not an address:port"),
                    );
                    None
                }
            },
        }
    }

    fn admin_mode(&self, mode: &Spanned<String>) -> Option<u32> {
        let m = u32::from_str_radix(mode.get_ref(), 8)
            .ok()
            .filter(|m| *m <= 0o777);
        if m.is_none() {
            self.fail(
                mode.span(),
                format!("admin mode {:?} is not an octal file mode", mode.get_ref()),
            );
        }
        m
    }

    /// A group by number or name.
    fn group(&self, g: &Spanned<String>) -> Option<u32> {
        let name = g.get_ref();
        if let Ok(n) = name.parse::<u32>() {
            return Some(n);
        }
        match nix::unistd::Group::from_name(name) {
            Ok(Some(gr)) => Some(gr.gid.as_raw()),
            _ => {
                self.fail(g.span(), format!("admin group {name:?}: no such group"));
                None
            }
        }
    }
}

mod bfd;
mod monitor;
mod node;
mod peer;
mod policy;
mod raw;

pub use node::{NODE_ADMIN_SOCKET, NODE_METRICS, NodeConfig};

use peer::{Kind, PeerCtx};
use raw::{DampingRaw, GracefulRestartRaw, LogRaw, Raw, Timers};

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
        (
            "peer_queue_depth",
            a.router.peer_queue_depth != b.router.peer_queue_depth,
        ),
        ("fib", a.fib != b.fib),
        ("bmp", a.bmp != b.bmp),
        ("mrt", a.mrt != b.mrt),
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
