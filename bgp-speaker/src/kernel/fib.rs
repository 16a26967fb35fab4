//! The kernel FIB over rtnetlink: best routes and ECMP sets installed with our route
//! protocol number, each next hop `onlink` through the right device.
//!
//! Next-hop modes (Calico's): **direct** (`via NH dev eth0 onlink`, the device of the
//! connected subnet holding NH), **IPIP always** (`via NH dev tunl0 onlink`), and **IPIP
//! cross-subnet** (direct when NH is on a connected subnet, the tunnel otherwise). In an
//! ECMP set every next hop gets its own device this way.
//!
//! Writes are batched: many route messages go to the kernel in one netlink datagram and
//! every acknowledgement is checked; each route's outcome is reported, none is dropped
//! silently. [`Fib::reconcile`]
//! brings the table to a desired state from what is already there under our protocol: it
//! adds the missing, replaces the changed and deletes the stale, and never flushes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, RwLock};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop,
    RouteNextHopFlags, RouteProtocol, RouteScope, RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::Handle;

use super::fib_batch::Writer;

/// How routes reach their next hops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelMode {
    /// Through the device of the connected subnet of the next hop.
    #[default]
    Direct,
    /// Always through the tunnel device.
    IpipAlways,
    /// Through the tunnel when the next hop is not on a connected subnet.
    IpipCrossSubnet,
}

/// What the FIB does with the routes inside a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FibAction {
    /// Not written (and deleted if it was): another agent programs these (Calico's
    /// Felix), or they are the node's own blocks.
    Skip,
    /// Written with this next-hop mode.
    Install(TunnelMode),
}

/// A per-prefix choice of the FIB: routes equal to or inside `prefix` take `action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FibRule {
    pub prefix: IpNet,
    pub action: FibAction,
}

/// Where and how routes are installed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FibConfig {
    /// Routing table (254: main).
    #[serde(default = "main_table")]
    pub table: u32,
    /// Route protocol number of our routes (186: bgp).
    #[serde(default = "bgp_protocol")]
    pub protocol: u8,
    #[serde(default)]
    pub metric: Option<u32>,
    #[serde(default)]
    pub mode: TunnelMode,
    #[serde(default = "tunnel_device")]
    pub tunnel_device: String,
    /// Route writes sent to the kernel in one netlink datagram (1 to 1024).
    #[serde(default = "batch")]
    pub batch: usize,
    /// On shutdown, delete every route of our protocol from the table. Off by default:
    /// kept routes go on forwarding while the speaker restarts, and the restarted speaker
    /// reconciles them.
    #[serde(default)]
    pub flush_on_shutdown: bool,
    /// Per-prefix choices, the most specific prefix holding a route first; routes no rule
    /// holds take `mode`. A daemon's kernel export filter becomes these (BIRD's
    /// `krt_tunnel` and `reject` per pool).
    #[serde(default)]
    pub rules: Vec<FibRule>,
    /// Our own prefixes written as blackhole routes (a node's blocks, as BIRD writes its
    /// static blackholes); learned routes for them are not written over them. Changed at
    /// run time with [`Fib::set_blackholes`].
    #[serde(default)]
    pub blackholes: Vec<IpNet>,
}

fn main_table() -> u32 {
    254
}

fn bgp_protocol() -> u8 {
    186
}

fn tunnel_device() -> String {
    "tunl0".into()
}

fn batch() -> usize {
    128
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            table: main_table(),
            protocol: bgp_protocol(),
            metric: None,
            mode: TunnelMode::Direct,
            tunnel_device: tunnel_device(),
            batch: batch(),
            flush_on_shutdown: false,
            rules: Vec::new(),
            blackholes: Vec::new(),
        }
    }
}

/// Why a FIB operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    #[error("netlink socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
    #[error("kernel refused the route: {0}")]
    Kernel(std::io::Error),
    #[error("tunnel device {0} not found")]
    NoTunnel(String),
    #[error("next hop {0} is on no connected subnet")]
    Unreachable(IpAddr),
}

impl FibError {
    /// The kind for metrics: one of a fixed set (`kernel` for every errno).
    pub fn class(&self) -> &'static str {
        match self {
            FibError::Socket(_) => "socket",
            FibError::Netlink(rtnetlink::Error::NetlinkError(_)) | FibError::Kernel(_) => "kernel",
            FibError::Netlink(_) => "netlink",
            FibError::NoTunnel(_) => "no-tunnel",
            FibError::Unreachable(_) => "unreachable",
        }
    }

    /// A short name for counters: the errno for kernel refusals.
    pub fn kind(&self) -> String {
        match self {
            FibError::Socket(_) => "socket".into(),
            FibError::Netlink(rtnetlink::Error::NetlinkError(e)) => {
                format!("errno-{}", e.raw_code().abs())
            }
            FibError::Netlink(_) => "netlink".into(),
            FibError::Kernel(e) => format!("errno-{}", e.raw_os_error().unwrap_or(0)),
            FibError::NoTunnel(_) => "no-tunnel".into(),
            FibError::Unreachable(_) => "unreachable".into(),
        }
    }
}

/// One next hop as installed: address and device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hop {
    pub via: IpAddr,
    pub ifindex: u32,
}

/// The outcome of a batch of writes.
#[derive(Debug, Default)]
pub struct Report {
    pub installed: usize,
    pub deleted: usize,
    pub errors: Vec<(IpNet, FibError)>,
}

/// Counts of reconciliation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub added: usize,
    pub replaced: usize,
    pub deleted: usize,
    pub unchanged: usize,
}

/// The devices of link-local next hops (fe80::/64 is on every interface): each is a peer's
/// address on the interface it was configured or found on.
pub type LinkLocalDevices = Arc<RwLock<HashMap<Ipv6Addr, u32>>>;

/// The kernel routing table, as far as our routes go.
#[derive(Debug)]
pub struct Fib {
    link_local: LinkLocalDevices,
    cfg: FibConfig,
    handle: Handle,
    /// Connected subnets and their devices.
    subnets: Vec<(IpNet, u32)>,
    tunnel: Option<u32>,
    /// Batched writes, on a blocking socket of the same namespace.
    writer: Arc<Mutex<Writer>>,
}

impl Fib {
    /// Opens a netlink socket (in the namespace of the calling process) and learns the
    /// connected subnets and the tunnel device.
    pub async fn new(cfg: FibConfig) -> Result<Fib, FibError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        let mut fib = Fib {
            link_local: LinkLocalDevices::default(),
            cfg,
            handle,
            subnets: Vec::new(),
            tunnel: None,
            writer: Arc::new(Mutex::new(Writer::open()?)),
        };
        fib.refresh_links().await?;
        Ok(fib)
    }

    /// Where link-local next hops lead; shared with whoever learns peers' interfaces.
    pub fn link_local_devices(&self) -> LinkLocalDevices {
        self.link_local.clone()
    }

    /// Whether the routes go when the speaker shuts down.
    pub fn flushes_on_shutdown(&self) -> bool {
        self.cfg.flush_on_shutdown
    }

    /// Re-reads addresses and the tunnel device (after interface changes).
    pub async fn refresh_links(&mut self) -> Result<(), FibError> {
        let mut subnets = Vec::new();
        let mut addrs = self.handle.address().get().execute();
        while let Some(a) = addrs.try_next().await? {
            for attr in &a.attributes {
                if let AddressAttribute::Address(ip) = attr
                    && let Ok(net) = IpNet::new(*ip, a.header.prefix_len)
                    && !ip.is_loopback()
                {
                    subnets.push((net.trunc(), a.header.index));
                }
            }
        }
        self.subnets = subnets;
        self.tunnel = None;
        let mut links = self.handle.link().get().execute();
        while let Some(l) = links.try_next().await? {
            let named = l
                .attributes
                .iter()
                .any(|x| matches!(x, LinkAttribute::IfName(n) if *n == self.cfg.tunnel_device));
            if named {
                self.tunnel = Some(l.header.index);
            }
        }
        Ok(())
    }

    /// The names of the devices, by index (for display).
    pub async fn device_names(&self) -> Result<HashMap<u32, String>, FibError> {
        let mut names = HashMap::new();
        let mut links = self.handle.link().get().execute();
        while let Some(l) = links.try_next().await? {
            for a in &l.attributes {
                if let LinkAttribute::IfName(n) = a {
                    names.insert(l.header.index, n.clone());
                }
            }
        }
        Ok(names)
    }

    /// What the device decisions rest on: the connected subnets and the tunnel device.
    pub fn links(&self) -> (Vec<(IpNet, u32)>, Option<u32>) {
        let mut subnets = self.subnets.clone();
        subnets.sort();
        subnets.dedup();
        (subnets, self.tunnel)
    }

    fn connected(&self, nh: &IpAddr) -> Option<u32> {
        self.subnets
            .iter()
            .filter(|(net, _)| net.contains(nh))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(_, i)| *i)
    }

    /// What the rules say for a route to `prefix`: `None` to leave it out of the table,
    /// else the next-hop mode.
    pub fn action_for(&self, prefix: &IpNet) -> Option<TunnelMode> {
        let rule = self
            .cfg
            .rules
            .iter()
            .filter(|r| r.prefix.contains(prefix))
            .max_by_key(|r| r.prefix.prefix_len());
        match rule.map(|r| r.action) {
            None => Some(self.cfg.mode),
            Some(FibAction::Skip) => None,
            Some(FibAction::Install(m)) => Some(m),
        }
    }

    /// The device for a next hop under the configured mode.
    pub fn device_for(&self, nh: &IpAddr) -> Result<u32, FibError> {
        self.device_in(self.cfg.mode, nh)
    }

    fn device_in(&self, mode: TunnelMode, nh: &IpAddr) -> Result<u32, FibError> {
        let tunnel = || {
            self.tunnel
                .ok_or_else(|| FibError::NoTunnel(self.cfg.tunnel_device.clone()))
        };
        if let IpAddr::V6(v6) = nh
            && v6.is_unicast_link_local()
        {
            let devices = self
                .link_local
                .read()
                .map_err(|_| FibError::Unreachable(*nh))?;
            return devices.get(v6).copied().ok_or(FibError::Unreachable(*nh));
        }
        match mode {
            TunnelMode::IpipAlways if nh.is_ipv4() => tunnel(),
            TunnelMode::IpipCrossSubnet if nh.is_ipv4() => match self.connected(nh) {
                Some(i) => Ok(i),
                None => tunnel(),
            },
            _ => self.connected(nh).ok_or(FibError::Unreachable(*nh)),
        }
    }

    /// The next hops with their devices. In an ECMP set, a next hop with no device (the
    /// tunnel is gone, say) is left out while others have one: the route keeps
    /// forwarding on those, and gets it back when the links change again.
    fn hops(&self, mode: TunnelMode, next_hops: &[IpAddr]) -> Result<Vec<Hop>, FibError> {
        let mut v = Vec::with_capacity(next_hops.len());
        let mut first_error = None;
        for nh in next_hops {
            match self.device_in(mode, nh) {
                Ok(ifindex) => v.push(Hop { via: *nh, ifindex }),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if v.is_empty()
            && let Some(e) = first_error
        {
            return Err(e);
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn message(&self, prefix: &IpNet, hops: &[Hop]) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = match prefix {
            IpNet::V4(_) => AddressFamily::Inet,
            IpNet::V6(_) => AddressFamily::Inet6,
        };
        m.header.destination_prefix_length = prefix.prefix_len();
        m.header.protocol = RouteProtocol::from(self.cfg.protocol);
        m.header.scope = RouteScope::Universe;
        // A delete matches our route of the prefix whatever its type (a blackhole too).
        m.header.kind = if hops.is_empty() {
            RouteType::Unspec
        } else {
            RouteType::Unicast
        };
        if self.cfg.table < 256 {
            m.header.table = self.cfg.table as u8;
        } else {
            m.header.table = RouteHeader::RT_TABLE_UNSPEC;
            m.attributes.push(RouteAttribute::Table(self.cfg.table));
        }
        m.attributes
            .push(RouteAttribute::Destination(addr(prefix.network())));
        if let Some(metric) = self.cfg.metric {
            m.attributes.push(RouteAttribute::Priority(metric));
        }
        match hops {
            [] => {}
            [one] => {
                m.header.flags = RouteFlags::Onlink;
                m.attributes.push(gateway(prefix, one.via));
                m.attributes.push(RouteAttribute::Oif(one.ifindex));
            }
            many => {
                m.attributes.push(RouteAttribute::MultiPath(
                    many.iter()
                        .map(|h| {
                            let mut nh = RouteNextHop::default();
                            nh.flags = RouteNextHopFlags::Onlink;
                            nh.interface_index = h.ifindex;
                            nh.attributes = vec![gateway(prefix, h.via)];
                            nh
                        })
                        .collect(),
                ));
            }
        }
        m
    }

    /// Installs (or replaces) routes and deletes the prefixes with no next hops, many
    /// writes per netlink datagram; every route's acknowledgement is checked and its
    /// outcome is in the report. A route the rules skip is deleted instead.
    pub async fn apply(&self, changes: &[(IpNet, Vec<IpAddr>)]) -> Report {
        let mut report = Report::default();
        // Messages first (devices chosen), so that each request future owns what it sends.
        let mut prepared: Vec<(IpNet, RouteMessage, bool)> = Vec::with_capacity(changes.len());
        for (prefix, nhs) in changes {
            if self.cfg.blackholes.contains(prefix) {
                // The blackhole stays (as BIRD's static route wins over BGP).
                continue;
            }
            let mode = self.action_for(prefix);
            if nhs.is_empty() || mode.is_none() {
                prepared.push((*prefix, self.message(prefix, &[]), true));
            } else if let Some(mode) = mode {
                match self.hops(mode, nhs) {
                    Ok(h) => prepared.push((*prefix, self.message(prefix, &h), false)),
                    Err(e) => report.errors.push((*prefix, e)),
                }
            }
        }
        // The kernel's trie rebalances a node each time it fills or empties past a
        // threshold; writing neighbouring prefixes one after the other makes it do so again
        // and again (100,000 /24s deleted in address order cost twice the kernel time of the
        // same deletes scattered). Scatter them, in an order fixed by the prefixes alone;
        // writes to one prefix keep their order.
        self.write(prepared, report).await
    }

    /// Sends prepared writes (`true`: a delete) and adds their outcomes to `report`.
    async fn write(
        &self,
        mut prepared: Vec<(IpNet, RouteMessage, bool)>,
        mut report: Report,
    ) -> Report {
        prepared.sort_by_cached_key(|(prefix, _, _)| scatter(prefix));
        // Replace, so that a changed route is one write; delete matches on prefix, table
        // and protocol only, never another daemon's route.
        let mut prefixes = Vec::with_capacity(prepared.len());
        let msgs: Vec<(u16, RouteNetlinkMessage)> = prepared
            .into_iter()
            .map(|(prefix, m, delete)| {
                prefixes.push((prefix, delete));
                if delete {
                    (0, RouteNetlinkMessage::DelRoute(m))
                } else {
                    (
                        NLM_F_CREATE | NLM_F_REPLACE,
                        RouteNetlinkMessage::NewRoute(m),
                    )
                }
            })
            .collect();
        let writer = self.writer.clone();
        let per_datagram = self.cfg.batch;
        let results = tokio::task::spawn_blocking(move || {
            let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
            w.write(msgs, per_datagram)
        })
        .await;
        let Ok(results) = results else {
            // The writer thread panicked: nothing is known of this batch.
            for (prefix, _) in prefixes {
                let e = std::io::Error::other("netlink writer failed");
                report.errors.push((prefix, FibError::Socket(e)));
            }
            return report;
        };
        for ((prefix, delete), r) in prefixes.into_iter().zip(results) {
            match r {
                Ok(()) if delete => report.deleted += 1,
                Ok(()) => report.installed += 1,
                // Deleting a route that is not there is not a failure.
                Err(libc::ESRCH) if delete => report.deleted += 1,
                Err(errno) => report.errors.push((
                    prefix,
                    FibError::Kernel(std::io::Error::from_raw_os_error(errno)),
                )),
            }
        }
        report
    }

    /// The blackholes written, and the prefixes learned routes are not written for.
    pub fn blackholes(&self) -> &[IpNet] {
        &self.cfg.blackholes
    }

    /// Writes `prefixes` as blackhole routes (replacing what the table has for them) and
    /// deletes the blackholes written before that are not among them.
    pub async fn set_blackholes(&mut self, prefixes: Vec<IpNet>) -> Report {
        let mut prepared = Vec::new();
        for old in self.cfg.blackholes.iter().filter(|p| !prefixes.contains(p)) {
            prepared.push((*old, self.message(old, &[]), true));
        }
        for p in &prefixes {
            let mut m = self.message(p, &[]);
            m.header.kind = RouteType::BlackHole;
            prepared.push((*p, m, false));
        }
        self.cfg.blackholes = prefixes;
        self.write(prepared, Report::default()).await
    }

    /// Our routes in the table: prefix and next hops (address, device).
    pub async fn routes(&self) -> Result<HashMap<IpNet, Vec<Hop>>, FibError> {
        let mut out = HashMap::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut q = RouteMessage::default();
            q.header.address_family = family;
            let mut dump = self.handle.route().get(q).execute();
            while let Some(m) = dump.try_next().await? {
                if m.header.protocol != RouteProtocol::from(self.cfg.protocol)
                    || table_of(&m) != self.cfg.table
                {
                    continue;
                }
                if let Some((prefix, hops)) = parse(&m) {
                    out.insert(prefix, hops);
                }
            }
        }
        Ok(out)
    }

    /// Brings our routes in the table to `desired`, from what is there: adds the missing,
    /// replaces the changed, deletes the stale. Never deletes a route that is to stay.
    pub async fn reconcile(
        &self,
        desired: &HashMap<IpNet, Vec<IpAddr>>,
    ) -> Result<(Reconciled, Report), FibError> {
        let present = self.routes().await?;
        let mut counts = Reconciled::default();
        let mut changes: Vec<(IpNet, Vec<IpAddr>)> = Vec::new();
        for (prefix, nhs) in desired {
            if self.cfg.blackholes.contains(prefix) {
                continue;
            }
            let Some(mode) = self.action_for(prefix) else {
                continue;
            };
            let want = match self.hops(mode, nhs) {
                Ok(h) => h,
                Err(_) => {
                    // Reported by apply below.
                    changes.push((*prefix, nhs.clone()));
                    continue;
                }
            };
            match present.get(prefix) {
                Some(have) if sorted(have) == want => counts.unchanged += 1,
                Some(_) => {
                    counts.replaced += 1;
                    changes.push((*prefix, nhs.clone()));
                }
                None => {
                    counts.added += 1;
                    changes.push((*prefix, nhs.clone()));
                }
            }
        }
        for prefix in present.keys() {
            if self.cfg.blackholes.contains(prefix) {
                // Written by `set_blackholes`, which keeps them.
                continue;
            }
            if !desired.contains_key(prefix) || self.action_for(prefix).is_none() {
                counts.deleted += 1;
                changes.push((*prefix, Vec::new()));
            }
        }
        let report = self.apply(&changes).await;
        Ok((counts, report))
    }
}

/// A well-mixed key of a prefix (a 64-bit finalizer over its address and length).
fn scatter(prefix: &IpNet) -> u64 {
    let bits: u128 = match prefix.addr() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let mut x =
        (bits as u64) ^ ((bits >> 64) as u64).rotate_left(29) ^ u64::from(prefix.prefix_len());
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn sorted(v: &[Hop]) -> Vec<Hop> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn addr(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// The next hop of a route: a gateway of the prefix's family, or (an IPv4 route with an
/// IPv6 next hop, RFC 8950) `via inet6`.
fn gateway(prefix: &IpNet, via: IpAddr) -> RouteAttribute {
    match (prefix, via) {
        (IpNet::V4(_), IpAddr::V6(a)) => RouteAttribute::Via(RouteVia::Inet6(a)),
        (IpNet::V6(_), IpAddr::V4(a)) => RouteAttribute::Via(RouteVia::Inet(a)),
        _ => RouteAttribute::Gateway(addr(via)),
    }
}

fn via_of(a: &RouteAttribute) -> Option<IpAddr> {
    match a {
        RouteAttribute::Gateway(g) => ip_of(g),
        RouteAttribute::Via(RouteVia::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Via(RouteVia::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn table_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

fn parse(m: &RouteMessage) -> Option<(IpNet, Vec<Hop>)> {
    let dst = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => ip_of(d),
        _ => None,
    });
    let dst = dst.unwrap_or(match m.header.address_family {
        AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    });
    let prefix = IpNet::new(dst, m.header.destination_prefix_length).ok()?;
    let mut hops = Vec::new();
    let oif = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    });
    for a in &m.attributes {
        match a {
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) => {
                if let Some(via) = via_of(a) {
                    hops.push(Hop {
                        via,
                        ifindex: oif.unwrap_or(0),
                    });
                }
            }
            RouteAttribute::MultiPath(list) => {
                for nh in list {
                    for x in &nh.attributes {
                        if let Some(via) = via_of(x) {
                            hops.push(Hop {
                                via,
                                ifindex: nh.interface_index,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some((prefix, hops))
}
