//! A parsed BIRD configuration mapped onto the speaker: BGP protocols become peers with
//! their templates applied and their filters compiled into policies, the kernel protocol
//! becomes the FIB and the learning of kernel routes, static protocols become routes the
//! daemon announces (and installs), and every protocol keeps its BIRD name for
//! `show protocols`.
//!
//! BIRD's defaults apply where a file says nothing (BIRD 1.6, `proto/bgp/config.Y`): hold
//! time 240 s, connect delay 5 s, connect retry 120 s, error wait 60 to 300 s, multihop 64
//! for iBGP and direct for eBGP, import all and export none, graceful restart time 120 s.
//! Values that make no sense are refused with their position, as are the checks BIRD makes
//! when a protocol ends (`bgp_check_config`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bgp_core::policy::{Match, Policy, PolicyRef, Term, Verdict};
use bgp_core::router::MAX_PASSWORD_LEN;
use bgp_speaker::kernel_routes::LearnConfig;
use bgp_speaker::{ErrorWait, MaxPrefixes, NextHopSetting, Password, PeerSettings, SpeakerConfig};
use ipnet::IpNet;

use super::Family;
use super::ast::*;
use super::compile::{self, Compiled, Context, KernelMetric, Pass, Use};
use super::source::{Error, Sources, Span};

mod kernel;

pub use kernel::static_rule_matches;

/// The route protocol number BIRD writes its kernel routes with (`RTPROT_BIRD`); Felix
/// leaves routes of this protocol alone.
pub const RTPROT_BIRD: u8 = 12;

/// Kernel routes are learned from interfaces whose names start so (Calico's workload
/// interfaces), besides blackholes.
pub const WORKLOAD_PREFIX: &str = "cali";

/// A position and a message about something the mapping carried over approximately (same
/// shape as an [`Error`], but not one).
pub type Note = Error;

/// A protocol as `birdc show protocols` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolInfo {
    pub name: String,
    pub kind: ProtoKind,
    /// The template it was made from.
    pub template: Option<String>,
    pub description: Option<String>,
    pub disabled: bool,
    /// The neighbor of a BGP protocol.
    pub neighbor: Option<IpAddr>,
}

/// A BGP protocol: the peer the speaker runs for it and what BIRD shows of it.
#[derive(Debug, Clone)]
pub struct BgpProtocol {
    pub name: String,
    /// The peer, policies included. Disabled protocols are not among the speaker's peers.
    pub peer: PeerSettings,
    pub local_as: u32,
    /// Same AS on both ends.
    pub internal: bool,
    pub add_paths: AddPaths,
    pub keepalive_time: Option<u32>,
    pub disabled: bool,
    /// The filters by name (`None`: inline, `all` or `none`).
    pub import_filter: Option<String>,
    pub export_filter: Option<String>,
}

/// One rule of the kernel protocol's export filter, for BGP routes: routes it matches are
/// written with this tunnel device and metric; routes no rule matches are not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRule {
    pub matches: Vec<Match>,
    /// `krt_tunnel`: the device to reach the next hop through, none: the device of the
    /// next hop's subnet.
    pub tunnel: Option<String>,
    pub metric: KernelMetric,
}

/// The kernel protocol.
#[derive(Debug, Clone)]
pub struct KernelProtocol {
    pub name: String,
    pub learn: bool,
    pub persist: bool,
    pub scan_time: Option<u32>,
    pub graceful_restart: bool,
    /// ECMP routes with at most this many next hops; 0: off.
    pub merge_paths: u32,
    pub table: u32,
    /// `metric`: the metric of every route written, over `krt_metric` (0: unset).
    pub metric: u32,
    /// Kernel routes are imported (`import` is not `none`).
    pub import: bool,
    /// The export filter for BGP routes.
    pub export: Vec<KernelRule>,
    /// Prefixes whose BGP routes the export filter rejects (kept out of the kernel).
    pub reject: Vec<IpNet>,
}

/// A route of a static protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticRouteInfo {
    pub prefix: IpNet,
    pub dest: StaticDest,
    /// The kernel protocol's export filter accepts it (BIRD writes it into the kernel).
    pub to_kernel: bool,
}

/// A mapped configuration.
#[derive(Debug, Clone)]
pub struct BirdConfig {
    pub family: Family,
    pub router_id: Ipv4Addr,
    /// Every protocol (not the templates), in the order of the files.
    pub protocols: Vec<ProtocolInfo>,
    pub bgp: Vec<BgpProtocol>,
    pub kernel: Option<KernelProtocol>,
    pub static_routes: Vec<StaticRouteInfo>,
    /// The speaker: identity, listen address, peers with policies, FIB, kernel learning.
    pub speaker: SpeakerConfig,
    /// What was carried over approximately, each with its position.
    pub notes: Vec<Note>,
    /// The files read, the main one first.
    pub sources: Sources,
}

/// Maps a parsed configuration.
pub fn map(cfg: &Config, sources: Sources, family: Family) -> Result<BirdConfig, Vec<Error>> {
    let mut m = Mapper {
        cfg,
        sources: &sources,
        family,
        errors: Vec::new(),
        notes: Vec::new(),
        policies: Vec::new(),
        static_rules: Vec::new(),
        other_protocols: Vec::new(),
    };
    let out = m.run();
    let Some((router_id, protocols, bgp, kernel, static_routes, speaker)) =
        out.filter(|_| m.errors.is_empty())
    else {
        return Err(m.errors);
    };
    let notes = m.notes;
    Ok(BirdConfig {
        family,
        router_id,
        protocols,
        bgp,
        kernel,
        static_routes,
        speaker,
        notes,
        sources,
    })
}

type Mapped = (
    Ipv4Addr,
    Vec<ProtocolInfo>,
    Vec<BgpProtocol>,
    Option<KernelProtocol>,
    Vec<StaticRouteInfo>,
    SpeakerConfig,
);

struct Mapper<'a> {
    cfg: &'a Config,
    sources: &'a Sources,
    family: Family,
    errors: Vec<Error>,
    notes: Vec<Note>,
    /// Distinct policies, shared between the peers that use the same one.
    policies: Vec<PolicyRef>,
    /// The kernel export filter's rules for our own routes (static ones reach it).
    static_rules: Vec<KernelRule>,
    /// Names of the protocols other than BGP.
    other_protocols: Vec<String>,
}

/// A BGP protocol's settings with its templates applied.
#[derive(Default)]
struct Bgp<'a> {
    local_as: Option<(u32, Span)>,
    neighbor: Option<(IpAddr, Span)>,
    port: Option<u16>,
    remote_as: Option<u32>,
    source: Option<IpAddr>,
    multihop: Option<(u8, Span)>,
    direct: bool,
    ttl_security: bool,
    password: Option<(String, Span)>,
    passive: bool,
    rr_client: Option<Span>,
    rr_cluster_id: Option<(Ipv4Addr, Span)>,
    next_hop: NextHopSetting,
    add_paths: Option<(AddPaths, Span)>,
    gr: Option<GracefulRestart>,
    gr_time: Option<(u32, Span)>,
    connect_delay: Option<u32>,
    connect_retry: Option<u32>,
    error_wait: Option<(u32, u32, Span)>,
    keepalive: Option<(u32, Span)>,
    hold: Option<(u32, Span)>,
    allow_local_as: Option<Option<u32>>,
    gateway_direct: bool,
    import: Option<(&'a FilterRef, Span)>,
    export: Option<(&'a FilterRef, Span)>,
    import_limit: Option<(u32, LimitAction)>,
    receive_limit: Option<(u32, LimitAction)>,
    description: Option<String>,
    disabled: bool,
}

impl<'a> Mapper<'a> {
    fn error(&mut self, span: Span, msg: impl Into<String>) {
        let e = self.sources.error(span, msg);
        self.errors.push(e);
    }

    fn note(&mut self, span: Span, msg: impl Into<String>) {
        let n = self.sources.error(span, msg);
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    /// The options of a protocol, its templates' first.
    fn options(&self, index: usize) -> Vec<&'a Opt> {
        let p = &self.cfg.protocols[index];
        let mut v = p.from.map_or_else(Vec::new, |f| self.options(f));
        v.extend(p.options.iter());
        v
    }

    fn run(&mut self) -> Option<Mapped> {
        let router_id = match (self.cfg.router_id, self.family) {
            (Some((id, _)), _) => Some(id),
            (None, Family::V6) => {
                self.errors.push(Error::file(
                    &self.sources.files[0].path,
                    "Router ID must be configured manually on IPv6 routers",
                ));
                None
            }
            (None, Family::V4) => {
                self.errors.push(Error::file(
                    &self.sources.files[0].path,
                    "found no `router id`, expected one (the speaker does not take its ID from an interface address)",
                ));
                None
            }
        };
        let live: Vec<usize> = (0..self.cfg.protocols.len())
            .filter(|i| !self.cfg.protocols[*i].template)
            .collect();
        if live.is_empty() {
            self.errors.push(Error::file(
                &self.sources.files[0].path,
                "No protocol is specified in the config file",
            ));
        }
        let router_id = router_id?;
        self.other_protocols = live
            .iter()
            .map(|i| &self.cfg.protocols[*i])
            .filter(|p| p.kind != ProtoKind::Bgp)
            .map(|p| p.name.clone())
            .collect();

        let mut protocols = Vec::new();
        let mut bgps: Vec<(usize, Bgp<'a>)> = Vec::new();
        let mut kernels = Vec::new();
        let mut statics = Vec::new();
        for &i in &live {
            let p = &self.cfg.protocols[i];
            let opts = self.options(i);
            let mut info = ProtocolInfo {
                name: p.name.clone(),
                kind: p.kind,
                template: p.from.map(|f| self.cfg.protocols[f].name.clone()),
                description: None,
                disabled: false,
                neighbor: None,
            };
            for o in &opts {
                match &o.kind {
                    OptKind::Description(d) => info.description = Some(d.clone()),
                    OptKind::Disabled(b) => info.disabled = *b,
                    OptKind::Preference(_) => self.note(
                        o.span,
                        "a protocol's `preference` (BIRD's choice between routes of different protocols) is not carried: the speaker has no per-protocol preference",
                    ),
                    OptKind::Import(_)
                    | OptKind::Export(_)
                    | OptKind::ImportLimit(_)
                    | OptKind::ReceiveLimit(_)
                        if matches!(
                            p.kind,
                            ProtoKind::Static | ProtoKind::Direct | ProtoKind::Device
                        ) =>
                    {
                        self.error(
                            o.span,
                            format!(
                                "found an import or export setting in a {} protocol, expected none (its routes go to the table as they are)",
                                p.kind.keyword()
                            ),
                        );
                    }
                    _ => {}
                }
            }
            match p.kind {
                ProtoKind::Bgp => {
                    let b = self.bgp_settings(&opts);
                    info.neighbor = b.neighbor.map(|n| n.0);
                    bgps.push((i, b));
                }
                ProtoKind::Kernel => kernels.push((i, opts)),
                ProtoKind::Static => {
                    if !info.disabled {
                        for o in &opts {
                            if let OptKind::Route(r) = &o.kind {
                                statics.push((*r, o.span));
                            }
                        }
                    }
                }
                ProtoKind::Direct => {
                    if !info.disabled {
                        self.note(
                            p.span,
                            "routes of directly connected subnets (protocol direct) are not originated: the speaker announces kernel, static and its own routes only",
                        );
                    }
                }
                ProtoKind::Device => {}
            }
            protocols.push(info);
        }

        // The speaker's AS: the local AS most protocols use (without protocols, the
        // templates': a node with no peers yet).
        let mut counts: Vec<(u32, usize)> = Vec::new();
        let mut local_ases: Vec<u32> = bgps
            .iter()
            .filter_map(|(_, b)| b.local_as)
            .map(|a| a.0)
            .collect();
        if local_ases.is_empty() {
            for (i, t) in self.cfg.protocols.iter().enumerate() {
                if t.template && t.kind == ProtoKind::Bgp {
                    let opts = self.options(i);
                    if let Some((a, _)) = self.bgp_settings(&opts).local_as {
                        local_ases.push(a);
                    }
                }
            }
        }
        for a in local_ases {
            match counts.iter_mut().find(|(x, _)| *x == a) {
                Some(c) => c.1 += 1,
                None => counts.push((a, 1)),
            }
        }
        let asn = counts
            .iter()
            .fold(None::<(u32, usize)>, |best, c| match best {
                Some(b) if b.1 >= c.1 => Some(b),
                _ => Some(*c),
            })
            .map_or(0, |c| c.0);
        let mut speaker = SpeakerConfig::new(asn, router_id);
        let (default_ip, port) = match self.family {
            Family::V4 => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 179),
            Family::V6 => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 179),
        };
        let (addr, port) = self.cfg.listen.as_ref().map_or((default_ip, port), |l| {
            (l.address.unwrap_or(default_ip), l.port.unwrap_or(port))
        });
        speaker.listen = vec![SocketAddr::new(addr, port)];

        let bgp_names: HashMap<String, IpAddr> = bgps
            .iter()
            .filter_map(|(i, b)| Some((self.cfg.protocols[*i].name.clone(), b.neighbor?.0)))
            .collect();

        let mut bgp = Vec::new();
        let mut cluster: Option<(Ipv4Addr, Span)> = None;
        let mut learn_within: Vec<IpNet> = Vec::new();
        let mut neighbours: HashMap<(IpAddr, Option<String>), (String, u16)> = HashMap::new();
        for (i, b) in &bgps {
            let p = &self.cfg.protocols[*i];
            if let Some(mut out) = self.bgp_protocol(p, b, asn, &bgp_names, &mut learn_within) {
                if out.peer.rr_client {
                    let id = b.rr_cluster_id.unwrap_or((router_id, p.span));
                    match cluster {
                        Some((c, _)) if c != id.0 => self.error(
                            id.1,
                            format!(
                                "found rr cluster id {} for {}, expected {c} as for the other clients (the speaker has one cluster ID)",
                                id.0, p.name
                            ),
                        ),
                        Some(_) => {}
                        None => cluster = Some(id),
                    }
                }
                if !out.disabled {
                    // The speaker keys its peers by address (and interface): a second
                    // protocol to the same neighbor is an error on the same port; on
                    // another port (Calico's explicit peering with a port) it is not run,
                    // and said so, rather than refused by the speaker at its start.
                    let key = (out.peer.address, out.peer.interface.clone());
                    match neighbours.get(&key) {
                        Some((first, port)) if *port == out.peer.port => self.error(
                            p.span,
                            format!(
                                "found neighbor {} in protocol {} too, expected one protocol per neighbor (it is {first}'s)",
                                out.peer.address, p.name
                            ),
                        ),
                        Some((first, _)) => {
                            self.note(
                                p.span,
                                format!(
                                    "protocol {} is not run: its neighbor {} is {first}'s, on another port, and the speaker has one session per neighbor address",
                                    p.name, out.peer.address
                                ),
                            );
                            out.disabled = true;
                        }
                        None => {
                            neighbours.insert(key, (p.name.clone(), out.peer.port));
                            speaker.router.peers.push(out.peer.clone());
                        }
                    }
                }
                bgp.push(out);
            }
        }
        speaker.router.cluster_id = cluster.map(|c| c.0);

        if kernels.len() > 1 {
            let p = &self.cfg.protocols[kernels[1].0];
            self.error(
                p.span,
                "found a second kernel protocol, expected one (the speaker writes one table)",
            );
        }
        let kernel = kernels
            .first()
            .and_then(|(i, opts)| self.kernel(*i, opts, &bgp_names));
        let static_routes = self.statics(&statics, kernel.as_ref());

        if let Some(k) = &kernel {
            let kp = &self.cfg.protocols[kernels[0].0];
            speaker.router.max_paths = (k.merge_paths as usize).max(1);
            speaker.fib = self.fib(k, kp);
            if let Some(fib) = speaker.fib.as_mut() {
                // BIRD writes the static blackholes its kernel filter accepts.
                fib.blackholes = static_routes
                    .iter()
                    .filter(|s| s.to_kernel && s.dest == StaticDest::Blackhole)
                    .map(|s| s.prefix)
                    .collect();
            }
            if k.learn && k.import {
                learn_within.sort_by_key(|n| (n.prefix_len(), *n));
                let mut within: Vec<IpNet> = Vec::new();
                for n in learn_within {
                    if !within.iter().any(|w| w.contains(&n)) {
                        within.push(n);
                    }
                }
                if !within.is_empty() {
                    self.note(
                        kp.span,
                        format!(
                            "kernel routes are learned from blackholes and from interfaces named {WORKLOAD_PREFIX}*, inside {}; BIRD learns every kernel route and leaves the choice to the export filters",
                            within
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    speaker.learn = Some(LearnConfig {
                        within,
                        devices: vec![WORKLOAD_PREFIX.to_string()],
                        blocks_from_blackholes: true,
                        table: k.table,
                        next_hop: None,
                        own_protocol: RTPROT_BIRD,
                    });
                }
            }
        }
        Some((router_id, protocols, bgp, kernel, static_routes, speaker))
    }

    fn bgp_settings(&mut self, opts: &[&'a Opt]) -> Bgp<'a> {
        let mut b = Bgp::default();
        for o in opts {
            let s = o.span;
            match &o.kind {
                OptKind::LocalAs(addr, asn) => {
                    if let Some(a) = addr {
                        b.source = Some(*a);
                    }
                    b.local_as = Some((*asn, s));
                }
                OptKind::Neighbor { address, port, asn } => {
                    if b.neighbor.is_some_and(|(n, _)| n != *address) {
                        self.error(s, "Only one neighbor per BGP instance is allowed: found a second neighbor, expected one");
                    }
                    b.neighbor = Some((*address, s));
                    if port.is_some() {
                        b.port = *port;
                    }
                    if asn.is_some() {
                        b.remote_as = *asn;
                    }
                }
                OptKind::SourceAddress(a) => b.source = Some(*a),
                OptKind::Multihop(n) => {
                    b.multihop = Some((*n, s));
                    b.direct = false;
                }
                OptKind::Direct => {
                    b.direct = true;
                    b.multihop = None;
                }
                OptKind::TtlSecurity(on) => b.ttl_security = *on,
                OptKind::Password(p) => b.password = Some((p.clone(), s)),
                OptKind::Passive(on) => b.passive = *on,
                OptKind::RrClient => b.rr_client = Some(s),
                OptKind::RrClusterId(id) => b.rr_cluster_id = Some((*id, s)),
                OptKind::NextHopSelf => b.next_hop = NextHopSetting::SelfAddr,
                OptKind::NextHopKeep => b.next_hop = NextHopSetting::Unchanged,
                OptKind::AddPaths(a) => b.add_paths = Some((*a, s)),
                OptKind::GracefulRestart(g) => b.gr = Some(*g),
                OptKind::GracefulRestartTime(t) => b.gr_time = Some((*t, s)),
                OptKind::ConnectDelayTime(t) => b.connect_delay = Some(*t),
                OptKind::ConnectRetryTime(t) => b.connect_retry = Some(*t),
                OptKind::ErrorWaitTime(a, z) => b.error_wait = Some((*a, *z, s)),
                OptKind::KeepaliveTime(t) => b.keepalive = Some((*t, s)),
                OptKind::HoldTime(t) => b.hold = Some((*t, s)),
                OptKind::AllowLocalAs(n) => b.allow_local_as = Some(*n),
                OptKind::GatewayRecursive(r) => b.gateway_direct = !*r,
                OptKind::Import(f) => b.import = Some((f, s)),
                OptKind::Export(f) => b.export = Some((f, s)),
                OptKind::ImportLimit(l) => b.import_limit = *l,
                OptKind::ReceiveLimit(l) => b.receive_limit = *l,
                OptKind::Description(d) => b.description = Some(d.clone()),
                OptKind::Disabled(d) => b.disabled = *d,
                OptKind::Debug | OptKind::Preference(_) => {}
                _ => {}
            }
        }
        b
    }

    fn bgp_protocol(
        &mut self,
        p: &ProtocolDef,
        b: &Bgp<'a>,
        asn: u32,
        names: &HashMap<String, IpAddr>,
        learn_within: &mut Vec<IpNet>,
    ) -> Option<BgpProtocol> {
        let before = self.errors.len();
        let Some((local_as, _)) = b.local_as.filter(|(a, _)| *a != 0) else {
            self.error(
                p.end,
                format!(
                    "Local AS number must be set: found none for {}, expected `local as N`",
                    p.name
                ),
            );
            return None;
        };
        let Some((neighbor, nspan)) = b.neighbor else {
            self.error(p.end, format!("Neighbor must be configured: found none for {}, expected `neighbor ADDRESS as N`", p.name));
            return None;
        };
        let Some(remote_as) = b.remote_as.filter(|a| *a != 0) else {
            self.error(nspan, format!("Remote AS number must be set: found none for {}, expected `neighbor ADDRESS as N`", p.name));
            return None;
        };
        let internal = local_as == remote_as;
        if let Some(s) = b.rr_client
            && !internal
        {
            self.error(s, format!("Only internal neighbor can be RR client: found AS {remote_as} for {}, expected {local_as}", p.name));
        }
        if let IpAddr::V6(a) = neighbor
            && (a.segments()[0] & 0xffc0) == 0xfe80
        {
            self.error(nspan, "Link-local neighbor address requires specified interface: found a link-local neighbor, expected a global address (interfaces are not supported)");
        }
        let multihop = match (b.multihop, b.direct) {
            (Some((n, _)), _) => Some(n),
            (None, true) => None,
            (None, false) if internal => Some(64),
            (None, false) => None,
        };
        if multihop.is_some() && b.gateway_direct {
            self.error(p.end, "Multihop BGP cannot use direct gateway mode: found `gateway direct` with multihop, expected one of them");
        }
        let mut peer = PeerSettings::new(neighbor, remote_as);
        if let Some(port) = b.port {
            peer.port = port;
        }
        peer.local_address = b.source;
        peer.passive = b.passive;
        peer.rr_client = b.rr_client.is_some();
        peer.local_as = (local_as != asn).then_some(local_as);
        let (hold, hold_span) = b.hold.unwrap_or((240, p.span));
        if hold != 0 && hold < 3 || hold > u32::from(u16::MAX) {
            self.error(
                hold_span,
                format!("found hold time {hold}, expected 0 or 3 to 65535 seconds"),
            );
        }
        peer.hold_time = hold.min(u32::from(u16::MAX)) as u16;
        if let Some((k, s)) = b.keepalive {
            self.note(
                s,
                format!("keepalive time {k} is not carried: the speaker sends keepalives at a third of the negotiated hold time"),
            );
        }
        peer.connect_delay = Some(u64::from(b.connect_delay.unwrap_or(5)));
        peer.connect_retry = Some(u64::from(b.connect_retry.unwrap_or(120)));
        let (min, max, ew_span) = b.error_wait.unwrap_or((60, 300, p.span));
        if min == 0 || min > max {
            self.error(
                ew_span,
                format!("found error wait time {min},{max}, expected 0 < min <= max"),
            );
        }
        peer.error_wait = Some(ErrorWait {
            min: u64::from(min),
            max: u64::from(max),
        });
        peer.next_hop = b.next_hop;
        match b.gr.unwrap_or(GracefulRestart::Aware) {
            GracefulRestart::On => {
                let (t, s) = b.gr_time.unwrap_or((120, p.span));
                if t > 4095 {
                    self.error(s, format!("found graceful restart time {t}, expected 0 to 4095 seconds (12 bits in the capability)"));
                }
                peer.graceful_restart = Some(t.min(4095) as u16);
            }
            GracefulRestart::Aware => {
                self.note(p.span, format!("{}: graceful restart `aware` (helper only) is not carried: the speaker offers no graceful restart to this peer", p.name));
            }
            GracefulRestart::Off => {}
        }
        if let Some((pw, s)) = &b.password {
            if pw.is_empty() || pw.len() > MAX_PASSWORD_LEN {
                self.error(*s, format!("found a password of {} characters, expected 1 to {MAX_PASSWORD_LEN} (TCP-MD5)", pw.len()));
            }
            peer.password = Some(Password(pw.clone()));
        }
        if b.ttl_security {
            peer.ttl_security = Some(multihop.unwrap_or(1));
        } else {
            peer.ttl = Some(multihop.unwrap_or(1));
        }
        peer.allow_own_as = match b.allow_local_as {
            None => 0,
            Some(None) => u8::MAX,
            Some(Some(n)) => n.min(u32::from(u8::MAX)) as u8,
        };
        for (limit, what) in [(b.import_limit, "import"), (b.receive_limit, "receive")] {
            if let Some((n, action)) = limit {
                if what == "receive" {
                    self.note(p.span, format!("{}: receive limit counted as an import limit (the speaker counts accepted routes)", p.name));
                }
                if action == LimitAction::Block {
                    self.note(p.span, format!("{}: limit action block is taken as warn (the speaker does not hold routes back)", p.name));
                }
                peer.max_prefixes.push(MaxPrefixes {
                    limit: u64::from(n),
                    family: None,
                    warn_only: matches!(action, LimitAction::Warn | LimitAction::Block),
                    restart_after: (action == LimitAction::Restart).then_some(60),
                });
                if action == LimitAction::Disable {
                    self.note(
                        p.span,
                        format!(
                            "{}: limit action disable is taken as a stop for 24 hours",
                            p.name
                        ),
                    );
                    if let Some(m) = peer.max_prefixes.last_mut() {
                        m.restart_after = Some(86_400);
                    }
                }
            }
        }
        let (add_paths, ap_span) = b.add_paths.unwrap_or((AddPaths::Off, p.span));
        if add_paths != AddPaths::Off {
            self.note(ap_span, "`add paths` is not carried: PeerSettings has no ADD-PATH setting, one path per prefix is sent and received");
        }
        let (sources, family) = (self.sources, self.family);
        let others = self.other_protocols.clone();
        let ctx_for = |usage| Context {
            sources,
            family,
            usage,
            protocol: &p.name,
            bgp_protocols: names,
            other_protocols: &others,
        };
        let import_ref = b.import.map(|(f, s)| (f.clone(), s));
        let export_ref = b.export.map(|(f, s)| (f.clone(), s));
        let import = self.policy(
            import_ref.as_ref(),
            true,
            &ctx_for(Use::BgpImport { internal }),
            None,
        );
        let export = self.policy(
            export_ref.as_ref(),
            false,
            &ctx_for(Use::BgpExport { internal, local_as }),
            Some(learn_within),
        );
        if self.errors.len() > before {
            return None;
        }
        peer.import = import;
        peer.export = export;
        Some(BgpProtocol {
            name: p.name.clone(),
            peer,
            local_as,
            internal,
            add_paths,
            keepalive_time: b.keepalive.map(|k| k.0),
            disabled: b.disabled,
            import_filter: b.import.and_then(|(f, _)| f.name().map(str::to_string)),
            export_filter: b.export.and_then(|(f, _)| f.name().map(str::to_string)),
        })
    }

    /// The policy for an import or export setting (BIRD's defaults: import all, export
    /// none). `within` collects the prefixes our own routes are accepted in.
    fn policy(
        &mut self,
        f: Option<&(FilterRef, Span)>,
        import: bool,
        ctx: &Context<'_>,
        within: Option<&mut Vec<IpNet>>,
    ) -> Option<PolicyRef> {
        let def = match f.map(|(f, _)| f) {
            None if import => return Some(self.share(Policy::accept_all())),
            None => return Some(self.share(Policy::reject_all())),
            Some(FilterRef::All) => {
                if let Some(w) = within {
                    w.push(any(self.family));
                }
                return Some(self.share(Policy::accept_all()));
            }
            Some(FilterRef::None) => return Some(self.share(Policy::reject_all())),
            Some(FilterRef::Named(d) | FilterRef::Inline(d)) => d.clone(),
        };
        let compiled = match compile::compile(&def, ctx) {
            Ok(c) => c,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        self.take_notes(&compiled);
        if let Some(w) = within {
            for (pass, paths) in &compiled.paths {
                if *pass != Pass::Local {
                    continue;
                }
                for path in paths.iter().filter(|p| p.verdict == Verdict::Accept) {
                    let nets: Vec<IpNet> = path
                        .guard
                        .iter()
                        .filter_map(|(m, b)| match (m, b) {
                            (Match::Prefix(r), true) => Some(r.iter().map(|r| r.prefix)),
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    if nets.is_empty() {
                        w.push(any(self.family));
                    } else {
                        w.extend(nets);
                    }
                }
            }
        }
        let dir = if import { "import" } else { "export" };
        let name = match &def.name {
            Some(n) => format!("{n} ({dir})"),
            None => format!("inline {dir}"),
        };
        Some(self.share(to_policy(name, &compiled)))
    }

    /// One shared value per distinct policy (peers with equal policies can share UPDATEs).
    fn share(&mut self, p: Policy) -> PolicyRef {
        if let Some(found) = self
            .policies
            .iter()
            .find(|q| q.terms == p.terms && q.default == p.default)
        {
            return found.clone();
        }
        let same_name = self
            .policies
            .iter()
            .filter(|q| q.name == p.name || q.name.starts_with(&format!("{} #", p.name)))
            .count();
        let mut p = p;
        if same_name > 0 {
            p.name = format!("{} #{}", p.name, same_name + 1);
        }
        let r = Arc::new(p);
        self.policies.push(r.clone());
        r
    }

    fn take_notes(&mut self, c: &Compiled) {
        for n in &c.notes {
            self.note(n.span, n.message.clone());
        }
    }
}

fn any(family: Family) -> IpNet {
    match family {
        Family::V4 => "0.0.0.0/0".parse().expect("a prefix"),
        Family::V6 => "::/0".parse().expect("a prefix"),
    }
}

/// The accepting ways through a filter as terms (default: reject).
fn to_policy(name: String, c: &Compiled) -> Policy {
    let mut terms: Vec<Term> = Vec::new();
    for (_, paths) in &c.paths {
        for p in paths.iter().filter(|p| p.verdict == Verdict::Accept) {
            let matches = p.matches();
            if terms
                .iter()
                .any(|t| t.matches == matches && t.actions == p.actions)
            {
                continue;
            }
            terms.push(Term {
                name: format!("way-{}", terms.len() + 1),
                matches,
                actions: p.actions.clone(),
                verdict: Some(Verdict::Accept),
            });
        }
    }
    Policy {
        name,
        terms,
        default: Verdict::Reject,
    }
}
