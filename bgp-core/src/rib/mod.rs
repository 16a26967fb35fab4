//! The RIBs: routes from every peer, the best of them, and what each group of peers is sent.
//!
//! One table maps each prefix to its paths from every source (the Adj-RIBs-In after import
//! policy) with the best path and its ECMP companions first (the Loc-RIB). Peers that keep
//! soft reconfiguration also keep their routes before policy. Attribute sets are interned, so
//! memory grows with prefixes, not with prefixes times attributes. Peers that would be sent
//! the same routes share an update group: one Adj-RIB-Out, one computation, one encoded
//! UPDATE.
//!
//! Still no I/O: the caller feeds [`Rib::apply_update`], [`Rib::announce`],
//! [`Rib::withdraw`], peer up and down, and takes [`Changes`] (best-path changes, for the
//! FIB and watchers) and, per group, encoded UPDATEs from [`Rib::flush`].
//!
//! Where each part lives:
//! - `adj_in`: routes in: loop checks, import policy, the copies kept before policy;
//! - `loc`: the decision process per prefix and the table of best paths (Loc-RIB);
//! - `export`: what each group is sent: RFC 4271 and RFC 4456 rules (reflection, next
//!   hop, well-known communities) and export policy;
//! - `adj_out`: update groups, their Adj-RIBs-Out and UPDATE packing;
//! - [`batch`]: the encoded UPDATEs of a flush, as each member is sent them;
//! - `path`: a prefix's paths; `table`: the prefix map; `attr_store`: interned attributes.

mod adj_in;
mod adj_out;
mod attr_store;
pub mod batch;
pub mod best_path;
mod damping;
mod export;
mod loc;
mod path;
mod table;
mod tables;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use foldhash::HashMap;
use ipnet::IpNet;

use crate::policy::PolicyRef;
use crate::types::{Asn, Family, FamilySet, PathId, RouterId};
use crate::wire::attributes::Community;
use crate::wire::{PathAttributes, PeerKind};

pub use adj_out::GroupId;
pub use attr_store::{AttrStore, Attrs};
pub use batch::{Batch, Encoded, Flush};
pub use best_path::{Candidate, Decision, DecisionConfig, Reason};
pub use damping::DampingConfig;
pub use path::{Dest, Path};
pub use tables::NotBest;

use best_path::Key;
use export::export_dest;

/// A peer's index in the RIB. [`LOCAL`] is the RIB's own routes.
pub type PeerId = u32;

/// The source of locally originated routes.
pub const LOCAL: PeerId = 0;

/// How the next hop is set on export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NextHopMode {
    /// eBGP: ourselves; iBGP: unchanged (ourselves for our own routes).
    #[default]
    Default,
    /// Always ourselves.
    SelfAddr,
    /// Ourselves for routes learned over eBGP and our own routes; unchanged for routes
    /// reflected between internal peers (a reflector's next-hop-self towards its clients,
    /// which must keep the in-rack next hops).
    SelfExternal,
    /// Never changed, also towards eBGP peers (a third-party next hop).
    Unchanged,
}

/// Which paths of a prefix go to a peer that takes several (ADD-PATH, RFC 7911 5.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PathSelection {
    /// Every usable path: the receiver sees all the choices (a reflector towards nodes
    /// that build ECMP sets or fail over at once).
    #[default]
    All,
    /// The best N, in decision order.
    Best(u8),
    /// The paths of the ECMP set.
    Ecmp,
}

impl PathSelection {
    /// How many of `dest`'s leading paths are sent.
    pub(crate) fn count(self, paths: usize, multipath: u8) -> usize {
        match self {
            PathSelection::All => paths,
            PathSelection::Best(n) => paths.min(usize::from(n.max(1))),
            PathSelection::Ecmp => paths.min(usize::from(multipath)),
        }
    }
}

impl std::fmt::Display for PathSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathSelection::All => f.write_str("all"),
            PathSelection::Best(n) => write!(f, "best {n}"),
            PathSelection::Ecmp => f.write_str("ecmp"),
        }
    }
}

/// What the RIB needs to know about a peer.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub address: IpAddr,
    pub asn: Asn,
    /// Our AS on this session (a per-peer local AS override), `None` for the RIB's.
    pub local_as: Option<Asn>,
    pub kind: PeerKind,
    /// A route-reflector client (RFC 4456).
    pub rr_client: bool,
    /// Import and export policies; `None` is the default: accept on iBGP, and on eBGP
    /// reject unless the RIB allows eBGP without policy (RFC 8212).
    pub import: Option<PolicyRef>,
    pub export: Option<PolicyRef>,
    pub next_hop: NextHopMode,
    /// Our addresses on the session, for next-hop-self.
    pub local_v4: Option<Ipv4Addr>,
    pub local_v6: Option<Ipv6Addr>,
    /// How many times our own AS may appear in a received path (allowas-in).
    pub allow_own_as: u8,
    /// Keep routes before import policy, to re-apply a changed policy without a refresh.
    pub soft_reconfig_inbound: bool,
    /// Which paths go to the peer where the session sends several (ADD-PATH).
    pub add_path_send: PathSelection,
    /// Route-flap damping of the peer's routes (RFC 2439); applied to external peers.
    pub damping: Option<DampingConfig>,
}

impl PeerConfig {
    /// An internal peer at `address` with default settings.
    pub fn internal(address: IpAddr, asn: Asn) -> PeerConfig {
        PeerConfig {
            address,
            asn,
            local_as: None,
            kind: PeerKind::Internal,
            rr_client: false,
            import: None,
            export: None,
            next_hop: NextHopMode::Default,
            local_v4: None,
            local_v6: None,
            allow_own_as: 0,
            soft_reconfig_inbound: false,
            add_path_send: PathSelection::All,
            damping: None,
        }
    }

    /// An external peer at `address` with default settings.
    pub fn external(address: IpAddr, asn: Asn) -> PeerConfig {
        PeerConfig {
            kind: PeerKind::External,
            ..PeerConfig::internal(address, asn)
        }
    }
}

/// What a session negotiated that matters to the RIB (from `session::Negotiated`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSession {
    pub router_id: RouterId,
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    /// Families we send all paths of, with path identifiers (RFC 7911).
    pub add_path_send: FamilySet,
    pub extended_message: bool,
    /// IPv4 unicast routes may carry an IPv6 next hop (RFC 8950).
    pub extended_next_hop: bool,
    /// The peer takes long-lived stale routes (RFC 9494): others are not sent them.
    pub long_lived: bool,
}

/// RIB-wide settings.
#[derive(Clone, Debug)]
pub struct RibConfig {
    pub local_as: Asn,
    pub router_id: RouterId,
    /// Set when this RIB reflects routes (RFC 4456); the cluster ID.
    pub cluster_id: Option<Ipv4Addr>,
    /// Reflect between clients (off when clients are fully meshed among themselves).
    pub client_to_client: bool,
    pub decision: DecisionConfig,
    /// Accept and send eBGP routes without a policy (off by default, RFC 8212).
    pub ebgp_without_policy: bool,
    /// Minimum interval between UPDATEs of one group (MRAI); the caller asks
    /// [`Rib::flush_due`] when to flush.
    pub min_route_interval: Duration,
}

impl RibConfig {
    pub fn new(local_as: Asn, router_id: RouterId) -> RibConfig {
        RibConfig {
            local_as,
            router_id,
            cluster_id: None,
            client_to_client: true,
            decision: DecisionConfig::default(),
            ebgp_without_policy: false,
            min_route_interval: Duration::ZERO,
        }
    }
}

/// Tells the RIB whether a next hop is reachable, and at what cost (RFC 4271 9.1.2.1).
pub trait NextHopResolver: Send {
    /// `None`: unreachable, the route is not eligible.
    fn resolve(&self, next_hop: IpAddr) -> Option<u32>;
}

/// Every next hop reachable at cost 0: the default of a reflector that is not on the data
/// path (a BGP-free core).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllReachable;

impl NextHopResolver for AllReachable {
    fn resolve(&self, _: IpAddr) -> Option<u32> {
        Some(0)
    }
}

/// A change of a prefix's best path (or ECMP set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestChange {
    pub prefix: IpNet,
    /// The new best path; `None` when the prefix has no usable path any more.
    pub best: Option<Path>,
    /// The next hops of the ECMP set, best first.
    pub next_hops: Vec<IpAddr>,
    /// Whether the prefix had a best path before the change (so that a count of the
    /// prefixes with a best path can be kept without walking the table).
    pub had_best: bool,
}

/// What an operation changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub best: Vec<BestChange>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.best.is_empty()
    }
}

/// Errors of calls that name a peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    #[error("no peer {0}")]
    NoPeer(PeerId),
    #[error("the peer is not up")]
    PeerDown,
    #[error("prefix {0} is not of an IP unicast family")]
    Family(IpNet),
}

#[derive(Debug)]
struct PeerState {
    cfg: PeerConfig,
    session: Option<PeerSession>,
    group: Option<GroupId>,
    /// Routes before import policy, with soft reconfiguration.
    adj_in_pre: Option<HashMap<(IpNet, PathId), Attrs>>,
    /// Accepted routes (post-policy paths in the table): IPv4, IPv6.
    accepted: [u64; 2],
}

/// The RIBs of one speaker.
pub struct Rib {
    cfg: RibConfig,
    peers: Vec<Option<PeerState>>,
    table: table::PrefixMap<Dest>,
    attrs: AttrStore,
    groups: adj_out::Groups,
    resolver: Box<dyn NextHopResolver>,
    scratch: Scratch,
    /// Exported attributes by (group, source, received set, IPv6), for export policies that do not
    /// look at the prefix. The key's set is referenced weakly: its address cannot be reused
    /// while cached, and entries of sets that are gone are dropped by the garbage collection.
    export_cache: ExportCache,
    damping: damping::Damping,
    /// Seconds on the caller's clock, for the age of routes.
    clock: u32,
}

/// Exported attributes by (group, source, received set address, IPv6).
type ExportCache =
    HashMap<(GroupId, PeerId, usize, bool), (std::sync::Weak<PathAttributes>, Option<Attrs>)>;

/// Buffers the decision process reuses.
#[derive(Default)]
struct Scratch {
    keys: Vec<Key>,
    eligible: Vec<usize>,
    set: Vec<usize>,
    multipath: Vec<usize>,
    old: Vec<(PeerId, PathId, usize)>,
    want: Vec<adj_out::Entry>,
}

impl std::fmt::Debug for Rib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rib")
            .field("prefixes", &self.table.len())
            .field("attribute_sets", &self.attrs.len())
            .finish_non_exhaustive()
    }
}

/// The (unicast) family of a prefix.
pub fn family_of(p: &IpNet) -> Family {
    match p {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}

/// The next hop of stored attributes: NEXT_HOP, or the MP_REACH_NLRI one.
pub fn next_hop(attrs: &PathAttributes) -> Option<IpAddr> {
    crate::policy::next_hop_of(attrs)
}

impl Rib {
    pub fn new(cfg: RibConfig) -> Rib {
        // Slot 0: our own routes.
        let peers = vec![Some(PeerState {
            cfg: PeerConfig::internal(IpAddr::V4(cfg.router_id), cfg.local_as),
            session: None,
            group: None,
            adj_in_pre: None,
            accepted: [0; 2],
        })];
        Rib {
            cfg,
            peers,
            table: table::PrefixMap::default(),
            attrs: AttrStore::default(),
            groups: adj_out::Groups::default(),
            resolver: Box::new(AllReachable),
            scratch: Scratch::default(),
            export_cache: HashMap::default(),
            damping: damping::Damping::default(),
            clock: 0,
        }
    }

    pub fn config(&self) -> &RibConfig {
        &self.cfg
    }

    /// Replaces the next-hop resolver; call [`Rib::next_hops_changed`] when what it says
    /// changes.
    pub fn set_resolver(&mut self, r: Box<dyn NextHopResolver>) {
        self.resolver = r;
    }

    // ---- peers ----

    /// Adds a peer (down until [`Rib::peer_up`]).
    pub fn add_peer(&mut self, cfg: PeerConfig) -> PeerId {
        let state = PeerState {
            adj_in_pre: cfg.soft_reconfig_inbound.then(HashMap::default),
            cfg,
            session: None,
            group: None,
            accepted: [0; 2],
        };
        if let Some(i) = self.peers.iter().skip(1).position(Option::is_none) {
            self.peers[i + 1] = Some(state);
            (i + 1) as PeerId
        } else {
            self.peers.push(Some(state));
            (self.peers.len() - 1) as PeerId
        }
    }

    /// Removes a peer and its routes.
    pub fn remove_peer(&mut self, peer: PeerId) -> Changes {
        let changes = self.peer_down(peer, false);
        self.damping.forget_peer(peer);
        if peer != LOCAL
            && let Some(slot) = self.peers.get_mut(peer as usize)
        {
            *slot = None;
        }
        changes
    }

    fn peer(&self, id: PeerId) -> Result<&PeerState, RibError> {
        self.peers
            .get(id as usize)
            .and_then(Option::as_ref)
            .ok_or(RibError::NoPeer(id))
    }

    pub fn peer_config(&self, id: PeerId) -> Option<&PeerConfig> {
        self.peer(id).ok().map(|p| &p.cfg)
    }

    /// The clock that dates route changes: seconds from any fixed start, set by the
    /// caller as time goes on (the RIB reads no clock).
    pub fn set_clock(&mut self, secs: u32) {
        self.clock = secs;
    }

    pub fn clock(&self) -> u32 {
        self.clock
    }

    /// Our address on a peer's connection, learned when the session came up, for
    /// next-hop-self where the configuration gave none. Call before [`Rib::peer_up`]: the
    /// address is part of the update group's identity.
    pub fn set_local_address(&mut self, id: PeerId, addr: IpAddr) {
        if let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) {
            match addr {
                IpAddr::V4(a) => p.cfg.local_v4 = Some(a),
                IpAddr::V6(a) => p.cfg.local_v6 = Some(a),
            }
        }
    }

    /// Routes accepted from a peer (after import policy) and received (before; known only
    /// with soft reconfiguration, else equal to the accepted count).
    pub fn peer_counts(&self, id: PeerId) -> Option<(u64, u64)> {
        self.peer(id).ok().map(|p| {
            let accepted = p.accepted[0] + p.accepted[1];
            let received = p.adj_in_pre.as_ref().map_or(accepted, |m| m.len() as u64);
            (accepted, received)
        })
    }

    /// Routes accepted from a peer, per address family: (IPv4, IPv6).
    pub fn peer_counts_by_family(&self, id: PeerId) -> Option<(u64, u64)> {
        self.peer(id).ok().map(|p| (p.accepted[0], p.accepted[1]))
    }

    /// The peer's session is Established: it joins its update group and is owed the
    /// group's routes, returned as messages to it.
    pub fn peer_up(&mut self, id: PeerId, session: PeerSession) -> Result<Batch, RibError> {
        self.peer(id)?;
        let key = {
            let p = self.peer(id)?;
            adj_out::GroupKey::new(&p.cfg, &session, &self.cfg)
        };
        if let Some(p) = self.peers[id as usize].as_mut() {
            p.session = Some(session);
        }
        // Reflected attributes depend on the sources' sessions (ORIGINATOR_ID).
        self.export_cache.clear();
        let ranked_before = self.groups.ranks_paths();
        let (gid, fresh) = self.groups.join(key, id);
        if let Some(p) = self.peers[id as usize].as_mut() {
            p.group = Some(gid);
        }
        if self.groups.ranks_paths() && !ranked_before {
            // The first group sent the best N: order the paths past the ECMP set, which
            // were left as they came (the ECMP sets stay as they are).
            let Rib {
                cfg,
                peers,
                table,
                resolver,
                scratch,
                ..
            } = self;
            for (prefix, dest) in table.iter_mut() {
                let _ =
                    loc::decide_dest(dest, &prefix, cfg, peers, resolver.as_ref(), scratch, true);
            }
        }
        if fresh {
            // A new group: compute its Adj-RIB-Out from the whole table.
            let Rib {
                cfg,
                peers,
                table,
                attrs,
                groups,
                scratch,
                export_cache,
                ..
            } = self;
            for (prefix, dest) in table.iter() {
                export_dest(
                    gid,
                    &prefix,
                    Some(dest),
                    cfg,
                    peers,
                    attrs,
                    groups,
                    export_cache,
                    &mut scratch.want,
                );
            }
            self.groups.commit(gid);
        }
        Ok(self.groups.full_table(gid, id, None))
    }

    /// The peer's session went down. With `retain_stale` (graceful restart) its routes stay,
    /// marked stale, until [`Rib::sweep_stale`]; otherwise they go now.
    pub fn peer_down(&mut self, id: PeerId, retain_stale: bool) -> Changes {
        let Some(Some(p)) = self.peers.get_mut(id as usize) else {
            return Changes::default();
        };
        p.session = None;
        if let Some(g) = p.group.take() {
            self.groups.leave(g, id);
        }
        self.damping.peer_down(id);
        // The copies before policy are of this session: the next one sends its own (stale
        // routes kept meanwhile are in the table, and swept from there).
        if let Some(pre) = &mut p.adj_in_pre {
            pre.clear();
        }
        self.export_cache.clear();
        if retain_stale {
            for (_, dest) in self.table.iter_mut() {
                for path in dest.paths.iter_mut().filter(|x| x.peer() == id) {
                    path.set_stale(true);
                }
            }
            return Changes::default();
        }
        self.remove_where(|path| path.peer() == id, None)
    }

    /// Marks the peer's routes of `family` stale (Beginning of Route Refresh, RFC 7313).
    pub fn mark_stale(&mut self, id: PeerId, family: Family) {
        // The peer sends the family's routes again: so do the copies before policy.
        if let Some(Some(p)) = self.peers.get_mut(id as usize)
            && let Some(pre) = &mut p.adj_in_pre
        {
            pre.retain(|(prefix, _), _| family_of(prefix) != family);
        }
        for (prefix, dest) in self.table.iter_mut() {
            if family_of(&prefix) == family {
                for path in dest.paths.iter_mut().filter(|x| x.peer() == id) {
                    path.set_stale(true);
                }
            }
        }
    }

    /// The peer's stale routes of `family` become long-lived stale (RFC 9494 4.2): those
    /// carrying NO_LLGR go, the others get the LLGR_STALE community, which makes them the
    /// least preferred and keeps them from peers that do not take such routes.
    pub fn long_lived_stale(&mut self, id: PeerId, family: Family) -> Changes {
        let no_llgr = |p: &Path| {
            p.attrs
                .communities
                .as_ref()
                .is_some_and(|c| c.contains(&Community::NO_LLGR))
        };
        let mut changes =
            self.remove_where(|p| p.peer() == id && p.stale() && no_llgr(p), Some(family));
        let mut touched = Vec::new();
        let mut released = Vec::new();
        for (prefix, dest) in self.table.iter_mut() {
            if family_of(&prefix) != family {
                continue;
            }
            for path in dest
                .paths
                .iter_mut()
                .filter(|p| p.peer() == id && p.stale())
            {
                if path
                    .attrs
                    .communities
                    .as_ref()
                    .is_some_and(|c| c.contains(&Community::LLGR_STALE))
                {
                    continue;
                }
                let mut a = (*path.attrs).clone();
                a.communities = Some(match a.communities.take() {
                    Some(c) => c
                        .iter()
                        .chain(std::iter::once(Community::LLGR_STALE))
                        .collect(),
                    None => std::iter::once(Community::LLGR_STALE).collect(),
                });
                let new = self.attrs.intern(a);
                released.push(std::mem::replace(&mut path.attrs, new));
                dest.touched = true;
                touched.push(prefix);
            }
        }
        touched.dedup();
        for a in released {
            self.attrs.release(a);
        }
        self.export_cache.clear();
        changes.best.extend(self.recompute(&touched).best);
        changes
    }

    /// Removes the peer's routes still stale: of one family (End-of-RIB, End of Route
    /// Refresh) or all (the restart timer ran out).
    pub fn sweep_stale(&mut self, id: PeerId, family: Option<Family>) -> Changes {
        self.remove_where(|p| p.peer() == id && p.stale(), family)
    }

    fn remove_where(&mut self, f: impl Fn(&Path) -> bool, family: Option<Family>) -> Changes {
        let mut touched = Vec::new();
        let mut released = Vec::new();
        let mut removed_per_peer: HashMap<(PeerId, usize), u64> = HashMap::default();
        for (prefix, dest) in self.table.iter_mut() {
            if family.is_some_and(|fam| family_of(&prefix) != fam) {
                continue;
            }
            let v6 = usize::from(prefix.addr().is_ipv6());
            let any = dest.remove_if(&f, |p| {
                *removed_per_peer.entry((p.peer(), v6)).or_default() += 1;
                released.push(p.attrs);
            });
            if any {
                dest.changed = self.clock;
                touched.push(prefix);
            }
        }
        for ((peer, v6), n) in removed_per_peer {
            if let Some(Some(p)) = self.peers.get_mut(peer as usize) {
                p.accepted[v6] = p.accepted[v6].saturating_sub(n);
            }
        }
        for a in released {
            self.attrs.release(a);
        }
        self.recompute(&touched)
    }

    // ---- routes out ----

    // ---- output ----

    /// The groups with changes to send that may be sent at `now` (MRAI), and the earliest
    /// time the others may.
    pub fn flush_due(&self, now: std::time::Instant) -> (Vec<GroupId>, Option<std::time::Instant>) {
        self.groups.due(now, self.cfg.min_route_interval)
    }

    /// Prefix changes waiting for a flush, over all groups. Each is remembered with what the
    /// group held before; a driver that flushes once this grows large keeps that memory
    /// bounded during a full-table burst.
    pub fn pending_changes(&self) -> usize {
        self.groups.pending()
    }

    /// The encoded UPDATEs of a group's changes since its last flush.
    pub fn flush(&mut self, g: GroupId, now: std::time::Instant) -> Flush {
        self.groups.flush(g, now)
    }

    /// Flushes every group with changes (ignoring MRAI).
    pub fn flush_all(&mut self, now: std::time::Instant) -> Flush {
        let ids: Vec<GroupId> = self.groups.ids().collect();
        let mut out = Flush::default();
        for g in ids {
            out.extend(self.groups.flush(g, now));
        }
        out
    }

    /// Every route the peer's group sends it, as encoded UPDATEs (for a route refresh, or to
    /// re-synchronize a peer that fell behind); empty while the peer is down.
    pub fn full_table(&self, peer: PeerId) -> Batch {
        self.table_of(peer, None)
    }

    /// As [`Rib::full_table`], for one family (`None`: all).
    pub fn table_of(&self, peer: PeerId, family: Option<Family>) -> Batch {
        match self.group_of(peer) {
            Some(g) => self.groups.full_table(g, peer, family),
            None => Batch::all(std::sync::Arc::new([])),
        }
    }

    /// Routes the peer's update group sends it (its own left out), IPv4 and IPv6; zero
    /// while the peer is down.
    pub fn advertised(&self, peer: PeerId) -> (u64, u64) {
        self.group_of(peer)
            .map_or((0, 0), |g| self.groups.advertised(g, peer))
    }

    /// The group a peer belongs to, while up.
    pub fn group_of(&self, peer: PeerId) -> Option<GroupId> {
        self.peer(peer).ok().and_then(|p| p.group)
    }

    /// Number of update groups.
    pub fn group_count(&self) -> usize {
        self.groups.ids().count()
    }

    // ---- reading ----

    pub fn get(&self, prefix: &IpNet) -> Option<&Dest> {
        self.table.get(prefix)
    }

    /// Every prefix with its paths (unordered).
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Dest)> {
        self.table.iter()
    }

    pub fn prefix_count(&self) -> usize {
        self.table.len()
    }

    pub fn attribute_sets(&self) -> usize {
        self.attrs.len()
    }
}

#[cfg(test)]
mod tests;
