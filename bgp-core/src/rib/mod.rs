//! The RIBs: routes from every peer, the best of them, and what each group of peers is sent.
//!
//! One table maps each prefix to its paths from every source (the Adj-RIBs-In after import
//! policy) with the best path and its ECMP companions first (the Loc-RIB). Peers that keep
//! soft reconfiguration also keep their routes before policy. Attribute sets are interned, so
//! memory grows with prefixes, not with prefixes times attributes. Peers that would be sent
//! the same routes share an update group ([`adj_out`]): one Adj-RIB-Out, one computation,
//! one encoded UPDATE.
//!
//! Still no I/O: the caller feeds [`Rib::apply_update`], [`Rib::announce`],
//! [`Rib::withdraw`], peer up and down, and takes [`Changes`] (best-path changes, for the
//! FIB and watchers) and, per group, encoded UPDATEs from [`Rib::flush`].

mod adj_out;
mod attr_store;
pub mod best_path;
mod table;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use foldhash::HashMap;
use ipnet::IpNet;

use crate::policy::{NextHopAction, Outcome, PolicyRef, RouteRef, RouteType};
use crate::types::{Asn, Family, FamilySet, PathId, RouterId};
use crate::wire::attributes::{Community, MpNlri, MpReach, NextHop};
use crate::wire::{PathAttributes, PeerKind, Update};

pub use adj_out::{GroupId, OutMessage, Recipients};
pub use attr_store::{AttrStore, Attrs};
pub use best_path::{Candidate, Decision, DecisionConfig, Reason};

use best_path::{Key, decide_keys};
use thin_vec::ThinVec;

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

/// One path to a prefix (16 octets: the stale flag rides in the peer index's top bit).
#[derive(Clone, PartialEq, Eq)]
pub struct Path {
    peer_flags: u32,
    path_id: PathId,
    attrs: Attrs,
}

const STALE: u32 = 1 << 31;

impl Path {
    fn new(peer: PeerId, path_id: PathId, attrs: Attrs) -> Path {
        Path {
            peer_flags: peer & !STALE,
            path_id,
            attrs,
        }
    }

    /// Where the path came from ([`LOCAL`] for our own routes).
    pub fn peer(&self) -> PeerId {
        self.peer_flags & !STALE
    }

    /// The received ADD-PATH identifier (0 without ADD-PATH).
    pub fn path_id(&self) -> PathId {
        self.path_id
    }

    pub fn attrs(&self) -> &Attrs {
        &self.attrs
    }

    /// Kept from a peer that is restarting or refreshing; swept unless re-announced.
    pub fn stale(&self) -> bool {
        self.peer_flags & STALE != 0
    }

    fn set_stale(&mut self, stale: bool) {
        if stale {
            self.peer_flags |= STALE;
        } else {
            self.peer_flags &= !STALE;
        }
    }
}

impl std::fmt::Debug for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Path")
            .field("peer", &self.peer())
            .field("path_id", &self.path_id)
            .field("stale", &self.stale())
            .field("attrs", &self.attrs)
            .finish()
    }
}

/// The paths to one prefix, in 16 octets: one inline (by far the most common case), or
/// none or several in a vector whose length and capacity live in its one allocation. With
/// it a [`Dest`] takes 24 octets (a small vector, one path inline, took 32 with the rest).
#[derive(Clone, Debug)]
enum Paths {
    One(Path),
    /// No path (no allocation), or more than one.
    Several(ThinVec<Path>),
}

impl Default for Paths {
    fn default() -> Paths {
        Paths::Several(ThinVec::new())
    }
}

impl std::ops::Deref for Paths {
    type Target = [Path];

    fn deref(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Several(v) => v,
        }
    }
}

impl std::ops::DerefMut for Paths {
    fn deref_mut(&mut self) -> &mut [Path] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Several(v) => v,
        }
    }
}

impl Paths {
    fn push(&mut self, p: Path) {
        *self = match std::mem::take(self) {
            Paths::Several(v) if v.is_empty() => Paths::One(p),
            Paths::One(first) => {
                let mut v = ThinVec::with_capacity(2);
                v.push(first);
                v.push(p);
                Paths::Several(v)
            }
            Paths::Several(mut v) => {
                v.push(p);
                Paths::Several(v)
            }
        };
    }

    /// Removes and returns the path at `i`; `None` when there is none.
    fn remove(&mut self, i: usize) -> Option<Path> {
        if i >= self.len() {
            return None;
        }
        let (gone, rest) = match std::mem::take(self) {
            Paths::One(p) => (p, Paths::default()),
            Paths::Several(mut v) => {
                let p = v.remove(i);
                let rest = match v.len() {
                    1 => v.pop().map_or_else(Paths::default, Paths::One),
                    _ => Paths::Several(v),
                };
                (p, rest)
            }
        };
        *self = rest;
        Some(gone)
    }
}

/// All paths to one prefix; the best first, then the rest of the ECMP set.
#[derive(Clone, Debug, Default)]
pub struct Dest {
    paths: Paths,
    /// How many leading paths form the ECMP set (0: no usable path).
    multipath: u8,
    /// A path of the ECMP set was removed or replaced since the last decision.
    touched: bool,
    reason: Option<Reason>,
}

impl Dest {
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    pub fn best(&self) -> Option<&Path> {
        (self.multipath > 0).then(|| &self.paths[0])
    }

    /// The ECMP set (best first).
    pub fn multipath(&self) -> &[Path] {
        &self.paths[..usize::from(self.multipath)]
    }

    /// Why the best path won.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    fn remove_at(&mut self, i: usize) -> Option<Path> {
        let p = self.paths.remove(i)?;
        if i < usize::from(self.multipath) {
            self.multipath -= 1;
            self.touched = true;
        }
        Some(p)
    }

    /// Removes the paths for which `f` holds, handing each to `gone`.
    fn remove_if(&mut self, f: impl Fn(&Path) -> bool, mut gone: impl FnMut(Path)) -> bool {
        let mut i = 0;
        let mut any = false;
        while i < self.paths.len() {
            if f(&self.paths[i])
                && let Some(p) = self.remove_at(i)
            {
                gone(p);
                any = true;
            } else {
                i += 1;
            }
        }
        any
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
    pub fn peer_up(
        &mut self,
        id: PeerId,
        session: PeerSession,
    ) -> Result<Vec<OutMessage>, RibError> {
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
        let (gid, fresh) = self.groups.join(key, id);
        if let Some(p) = self.peers[id as usize].as_mut() {
            p.group = Some(gid);
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
        Ok(self.groups.full_table(gid, id))
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
        self.export_cache.clear();
        if retain_stale {
            for (_, dest) in self.table.iter_mut() {
                for path in dest.paths.iter_mut().filter(|x| x.peer() == id) {
                    path.set_stale(true);
                }
            }
            return Changes::default();
        }
        if let Some(pre) = &mut p.adj_in_pre {
            pre.clear();
        }
        self.remove_where(|path| path.peer() == id, None)
    }

    /// Marks the peer's routes of `family` stale (Beginning of Route Refresh, RFC 7313).
    pub fn mark_stale(&mut self, id: PeerId, family: Family) {
        for (prefix, dest) in self.table.iter_mut() {
            if family_of(&prefix) == family {
                for path in dest.paths.iter_mut().filter(|x| x.peer() == id) {
                    path.set_stale(true);
                }
            }
        }
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

    // ---- routes in ----

    /// Applies an UPDATE received from `peer` (whose session is up).
    pub fn apply_update(&mut self, peer: PeerId, update: &Update) -> Result<Changes, RibError> {
        let state = self.peer(peer)?;
        if state.session.is_none() {
            return Err(RibError::PeerDown);
        }
        let mut changes = Changes::default();
        for (_, block) in update.withdrawals() {
            for e in block {
                changes
                    .best
                    .extend(self.change(peer, e.prefix, e.path_id.unwrap_or(0), None));
            }
        }
        if update.is_treat_as_withdraw() {
            for (_, block) in update.announced() {
                for e in block {
                    changes
                        .best
                        .extend(self.change(peer, e.prefix, e.path_id.unwrap_or(0), None));
                }
            }
        } else {
            // One attribute set per next-hop kind for the whole UPDATE, NLRI taken out:
            // routes of the NLRI field use NEXT_HOP, MP routes MP_REACH_NLRI's next hop.
            let mut v4_field: Option<Attrs> = None;
            let mut mp: Option<Attrs> = None;
            for (family, block) in update.announced() {
                let from_field =
                    family == Family::IPV4_UNICAST && std::ptr::eq(block, &update.nlri);
                let slot = if from_field { &mut v4_field } else { &mut mp };
                let attrs = match slot {
                    Some(a) => a.clone(),
                    None => {
                        let mut a = update.attributes.clone();
                        a.mp_unreach = None;
                        if from_field {
                            a.mp_reach = None;
                        } else {
                            a.next_hop = None;
                            if let Some(m) = &mut a.mp_reach {
                                m.nlri = MpNlri::Opaque(Default::default());
                            }
                        }
                        let a = self.attrs.intern(a);
                        *slot = Some(a.clone());
                        a
                    }
                };
                for e in block {
                    changes.best.extend(self.import(
                        peer,
                        e.prefix,
                        e.path_id.unwrap_or(0),
                        &attrs,
                    ));
                }
            }
            for a in [v4_field, mp].into_iter().flatten() {
                self.attrs.release(a);
            }
        }
        if self.attrs.sweep_due() {
            self.collect_garbage();
        }
        Ok(changes)
    }

    /// Announces a route of our own (a node's pod block, say).
    pub fn announce(&mut self, prefix: IpNet, attrs: PathAttributes) -> Changes {
        let a = self.attrs.intern(attrs);
        Changes {
            best: self.change(LOCAL, prefix, 0, Some(a)).into_iter().collect(),
        }
    }

    /// Withdraws a route of our own.
    pub fn withdraw(&mut self, prefix: IpNet) -> Changes {
        Changes {
            best: self.change(LOCAL, prefix, 0, None).into_iter().collect(),
        }
    }

    /// Loop checks, import policy, then the table.
    fn import(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        path_id: PathId,
        attrs: &Attrs,
    ) -> Option<BestChange> {
        let p = self.peer(peer).ok()?;
        let local_as = p.cfg.local_as.unwrap_or(self.cfg.local_as);
        let allow = usize::from(p.cfg.allow_own_as);
        let looped = attrs
            .as_path
            .as_ref()
            .is_some_and(|x| x.count(local_as) > allow)
            || attrs.originator_id == Some(self.cfg.router_id)
            || attrs
                .cluster_list
                .as_ref()
                .is_some_and(|l| l.contains(&self.cfg.cluster_id.unwrap_or(self.cfg.router_id)));
        if let Some(Some(ps)) = self.peers.get_mut(peer as usize)
            && let Some(pre) = &mut ps.adj_in_pre
        {
            pre.insert((prefix, path_id), attrs.clone());
        }
        let accepted = if looped {
            None
        } else {
            self.run_import_policy(peer, &prefix, attrs)
        };
        self.change(peer, prefix, path_id, accepted)
    }

    fn run_import_policy(&mut self, peer: PeerId, prefix: &IpNet, attrs: &Attrs) -> Option<Attrs> {
        let p = self.peer(peer).ok()?;
        let policy = match (&p.cfg.import, p.cfg.kind) {
            (Some(pol), _) => pol.clone(),
            (None, PeerKind::Internal) => return Some(attrs.clone()),
            (None, PeerKind::External) if self.cfg.ebgp_without_policy => {
                return Some(attrs.clone());
            }
            (None, PeerKind::External) => return None,
        };
        let route = RouteRef {
            prefix,
            attrs,
            neighbor: Some(p.cfg.address),
            route_type: route_type(p.cfg.kind, attrs),
        };
        match policy.evaluate(&route) {
            Outcome::Rejected => None,
            Outcome::Unchanged(_) => Some(attrs.clone()),
            Outcome::Changed(a, _) => Some(self.attrs.intern(*a)),
        }
    }

    /// A changed import policy: re-applied from the routes kept before policy (soft
    /// reconfiguration). Returns `None` when the peer keeps none: ask it for a route refresh.
    pub fn set_import_policy(
        &mut self,
        peer: PeerId,
        policy: Option<PolicyRef>,
    ) -> Option<Changes> {
        let p = self.peers.get_mut(peer as usize)?.as_mut()?;
        p.cfg.import = policy;
        let pre: Vec<((IpNet, PathId), Attrs)> = p
            .adj_in_pre
            .as_ref()?
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut changes = Changes::default();
        for ((prefix, path_id), attrs) in pre {
            let accepted = self.run_import_policy(peer, &prefix, &attrs);
            changes
                .best
                .extend(self.change(peer, prefix, path_id, accepted));
        }
        Some(changes)
    }

    /// A changed export policy: the peer's group is recomputed (the peer may move to
    /// another group). Returns the messages that bring the peer up to date.
    pub fn set_export_policy(
        &mut self,
        peer: PeerId,
        policy: Option<PolicyRef>,
    ) -> Result<Vec<OutMessage>, RibError> {
        let session = {
            let p = self
                .peers
                .get_mut(peer as usize)
                .and_then(Option::as_mut)
                .ok_or(RibError::NoPeer(peer))?;
            p.cfg.export = policy;
            p.session.clone()
        };
        let Some(session) = session else {
            return Ok(Vec::new());
        };
        // Leave the old group, join the new one; the difference is sent as a full table to
        // the peer (re-announcements are harmless, stale routes are withdrawn below).
        let old_view = self
            .peer(peer)?
            .group
            .map(|g| self.groups.view_for(g, peer));
        if let Some(g) = self.peers[peer as usize]
            .as_mut()
            .and_then(|p| p.group.take())
        {
            self.groups.leave(g, peer);
        }
        let mut msgs = self.peer_up(peer, session)?;
        if let (Some(old), Some(g)) = (old_view, self.peer(peer)?.group) {
            msgs.extend(self.groups.withdraw_missing(g, peer, &old));
        }
        Ok(msgs)
    }

    /// The resolver's answers changed: every prefix is decided again.
    pub fn next_hops_changed(&mut self) -> Changes {
        let all: Vec<IpNet> = self.table.prefixes();
        self.recompute(&all)
    }

    // ---- decision ----

    fn recompute(&mut self, prefixes: &[IpNet]) -> Changes {
        let mut changes = Changes::default();
        for prefix in prefixes {
            if let Some(c) = self.settle(prefix) {
                changes.best.push(c);
            }
        }
        if self.attrs.sweep_due() {
            self.collect_garbage();
        }
        changes
    }

    /// Decides a prefix again and updates every group; one table lookup.
    fn settle(&mut self, prefix: &IpNet) -> Option<BestChange> {
        let Rib {
            cfg,
            peers,
            table,
            attrs,
            groups,
            resolver,
            scratch,
            export_cache,
        } = self;
        let dest = table.get_mut(prefix)?;
        let change = settle_dest(
            dest,
            prefix,
            cfg,
            peers,
            attrs,
            groups,
            resolver.as_ref(),
            scratch,
            export_cache,
        );
        if dest.paths.is_empty() {
            table.remove(prefix);
        }
        change
    }

    /// Sets (or with `None` removes) one path and settles its prefix: the hot path of
    /// UPDATE processing, with a single table lookup.
    fn change(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        path_id: PathId,
        new: Option<Attrs>,
    ) -> Option<BestChange> {
        if let Some(Some(ps)) = self.peers.get_mut(peer as usize)
            && new.is_none()
            && let Some(pre) = &mut ps.adj_in_pre
        {
            pre.remove(&(prefix, path_id));
        }
        let Rib {
            cfg,
            peers,
            table,
            attrs,
            groups,
            resolver,
            scratch,
            export_cache,
        } = self;
        let dest = match &new {
            Some(_) => table.entry(&prefix),
            None => table.get_mut(&prefix)?,
        };
        let pos = dest
            .paths
            .iter()
            .position(|p| p.peer() == peer && p.path_id == path_id);
        let mut delta: i64 = 0;
        match (pos, new) {
            (Some(i), Some(a)) => {
                if i < usize::from(dest.multipath) {
                    dest.touched = true;
                }
                let existing = &mut dest.paths[i];
                let old = std::mem::replace(&mut existing.attrs, a);
                existing.set_stale(false);
                attrs.release(old);
            }
            (None, Some(a)) => {
                dest.paths.push(Path::new(peer, path_id, a));
                delta = 1;
            }
            (Some(i), None) => {
                if let Some(p) = dest.remove_at(i) {
                    attrs.release(p.attrs);
                    delta = -1;
                }
            }
            (None, None) => return None,
        }
        if delta != 0
            && let Some(Some(ps)) = peers.get_mut(peer as usize)
        {
            let v6 = usize::from(prefix.addr().is_ipv6());
            ps.accepted[v6] = ps.accepted[v6].saturating_add_signed(delta);
        }
        let change = settle_dest(
            dest,
            &prefix,
            cfg,
            peers,
            attrs,
            groups,
            resolver.as_ref(),
            scratch,
            export_cache,
        );
        if dest.paths.is_empty() {
            table.remove(&prefix);
        }
        change
    }

    /// Frees the attribute sets no route uses any more.
    pub fn collect_garbage(&mut self) {
        self.attrs.sweep();
        self.export_cache
            .retain(|_, (src, _)| src.strong_count() > 0);
        self.attrs.sweep();
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
    pub fn flush(&mut self, g: GroupId, now: std::time::Instant) -> Vec<OutMessage> {
        self.groups.flush(g, now)
    }

    /// Flushes every group with changes (ignoring MRAI).
    pub fn flush_all(&mut self, now: std::time::Instant) -> Vec<OutMessage> {
        let ids: Vec<GroupId> = self.groups.ids().collect();
        ids.into_iter()
            .flat_map(|g| self.groups.flush(g, now))
            .collect()
    }

    /// Every route the peer's group sends it, as encoded UPDATEs (for a route refresh, or to
    /// re-synchronize a peer that fell behind).
    pub fn full_table(&self, peer: PeerId) -> Vec<OutMessage> {
        self.group_of(peer)
            .map(|g| self.groups.full_table(g, peer))
            .unwrap_or_default()
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

/// Runs the decision process for one prefix; the change if the best path or the ECMP
/// set changed.
fn decide_dest(
    dest: &mut Dest,
    prefix: &IpNet,
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    resolver: &dyn NextHopResolver,
    sc: &mut Scratch,
) -> Option<BestChange> {
    let forced = std::mem::take(&mut dest.touched);
    let ident = |p: &Path| {
        (
            p.peer(),
            p.path_id,
            std::sync::Arc::as_ptr(&p.attrs) as usize,
        )
    };
    // The reason of the last decision stays while paths are removed: it tells whether
    // there was a best path before.
    let had_best = dest.reason.is_some();
    sc.old.clear();
    sc.old.extend(dest.multipath().iter().map(ident));
    sc.keys.clear();
    sc.eligible.clear();
    for (i, p) in dest.paths.iter().enumerate() {
        let cost = match next_hop(&p.attrs) {
            // A locally originated route may have no next hop.
            None if p.peer() == LOCAL => Some(0),
            None => None,
            Some(nh) => resolver.resolve(nh),
        };
        let Some(igp_cost) = cost else { continue };
        let ps = peers.get(p.peer() as usize).and_then(Option::as_ref);
        sc.eligible.push(i);
        sc.keys.push(Key::of(&Candidate {
            attrs: &p.attrs,
            local: p.peer() == LOCAL,
            external: ps.is_some_and(|s| s.cfg.kind == PeerKind::External),
            peer_router_id: ps
                .and_then(|s| s.session.as_ref().map(|x| x.router_id))
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            peer_address: ps.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |s| s.cfg.address),
            path_id: p.path_id,
            igp_cost,
        }));
    }
    if sc.keys.is_empty() {
        dest.multipath = 0;
        dest.reason = None;
    } else {
        let (_, reason) = decide_keys(&sc.keys, &cfg.decision, &mut sc.set, &mut sc.multipath);
        // Bring the ECMP set to the front in place, best first.
        let order = &sc.multipath;
        for (k, cand) in order.iter().enumerate() {
            let target = sc.eligible[*cand];
            dest.paths.swap(k, target);
            // Whatever stood at k moved to `target`.
            for e in sc.eligible.iter_mut() {
                if *e == k {
                    *e = target;
                } else if *e == target {
                    *e = k;
                }
            }
        }
        dest.multipath = order.len().min(255) as u8;
        dest.reason = Some(reason);
    }
    let same = !forced
        && sc.old.len() == usize::from(dest.multipath)
        && sc
            .old
            .iter()
            .zip(dest.multipath())
            .all(|(a, p)| *a == ident(p));
    if same {
        return None;
    }
    Some(BestChange {
        prefix: *prefix,
        best: dest.best().cloned(),
        next_hops: dest
            .multipath()
            .iter()
            .filter_map(|p| next_hop(&p.attrs))
            .collect(),
        had_best,
    })
}

/// Decides a prefix again and brings every group up to date with it.
#[allow(clippy::too_many_arguments)]
fn settle_dest(
    dest: &mut Dest,
    prefix: &IpNet,
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    attrs: &mut AttrStore,
    groups: &mut adj_out::Groups,
    resolver: &dyn NextHopResolver,
    scratch: &mut Scratch,
    export_cache: &mut ExportCache,
) -> Option<BestChange> {
    let change = decide_dest(dest, prefix, cfg, peers, resolver, scratch);
    let ids: smallvec::SmallVec<[GroupId; 8]> = groups.ids().collect();
    for g in ids {
        export_dest(
            g,
            prefix,
            Some(dest),
            cfg,
            peers,
            attrs,
            groups,
            export_cache,
            &mut scratch.want,
        );
    }
    change
}

/// What group `g` should hold for `prefix` (whose paths are `dest`) now, handed to the
/// group.
#[allow(clippy::too_many_arguments)]
fn export_dest(
    g: GroupId,
    prefix: &IpNet,
    dest: Option<&Dest>,
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    store: &mut AttrStore,
    groups: &mut adj_out::Groups,
    cache: &mut ExportCache,
    want: &mut Vec<adj_out::Entry>,
) {
    let Some(key) = groups.key(g) else {
        return;
    };
    want.clear();
    let family = family_of(prefix);
    if key.families.contains(family)
        && let Some(dest) = dest
        && dest.multipath > 0
    {
        let add_path = key.add_path.contains(family);
        // All usable paths with ADD-PATH, else the best.
        let n = if add_path { dest.paths.len() } else { 1 };
        let cacheable = key.export.as_ref().is_none_or(|p| !p.looks_at_prefix());
        for path in dest.paths.iter().take(n) {
            let ck = (
                g,
                path.peer(),
                std::sync::Arc::as_ptr(&path.attrs) as usize,
                family == Family::IPV6_UNICAST,
            );
            let exported = match cache.get(&ck) {
                Some((_, e)) if cacheable => e.clone(),
                _ => {
                    let e = export_path(cfg, peers, store, &key, prefix, path);
                    if cacheable {
                        cache.insert(ck, (std::sync::Arc::downgrade(&path.attrs), e.clone()));
                    }
                    e
                }
            };
            if let Some(attrs) = exported {
                let id = if add_path {
                    groups.tx_path_id(path.peer(), path.path_id)
                } else {
                    0
                };
                want.push(adj_out::Entry {
                    attrs,
                    source: path.peer(),
                    id,
                });
            }
        }
    }
    let released = groups.set(g, *prefix, want);
    want.clear();
    for a in released {
        store.release(a);
    }
}

/// The attributes `path` is sent with to the group, or `None` when it is not sent:
/// RFC 4271 and RFC 4456 rules, well-known communities, export policy.
fn export_path(
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    store: &mut AttrStore,
    key: &adj_out::GroupKey,
    prefix: &IpNet,
    path: &Path,
) -> Option<Attrs> {
    let src = peers.get(path.peer() as usize)?.as_ref()?;
    let src_kind = if path.peer() == LOCAL {
        None
    } else {
        Some(src.cfg.kind)
    };
    let a = &path.attrs;
    // RFC 1997 well-known communities.
    if let Some(c) = &a.communities {
        if c.contains(&Community::NO_ADVERTISE) {
            return None;
        }
        if key.kind == PeerKind::External
            && (c.contains(&Community::NO_EXPORT) || c.contains(&Community::NO_EXPORT_SUBCONFED))
        {
            return None;
        }
    }
    // iBGP to iBGP only by reflection (RFC 4456 6).
    let reflected = src_kind == Some(PeerKind::Internal) && key.kind == PeerKind::Internal;
    if reflected {
        cfg.cluster_id?;
        match (src.cfg.rr_client, key.rr_client) {
            (true, true) if !cfg.client_to_client => return None,
            (false, false) => return None,
            _ => {}
        }
    }
    // RFC 8212: no eBGP export without a policy, unless allowed.
    if key.kind == PeerKind::External && key.export.is_none() && !cfg.ebgp_without_policy {
        return None;
    }
    let mut out = (**a).clone();
    let local_as = key.local_as.unwrap_or(cfg.local_as);
    match key.kind {
        PeerKind::External => {
            out.as_path = Some(out.as_path.take().unwrap_or_default().prepend(local_as, 1));
            out.local_pref = None;
            out.originator_id = None;
            out.cluster_list = None;
            // A MED learned from one AS is not passed to another (RFC 4271 5.1.4).
            if src_kind == Some(PeerKind::External) {
                out.med = None;
            }
        }
        PeerKind::Internal => {
            if out.local_pref.is_none() {
                out.local_pref = Some(best_path::DEFAULT_LOCAL_PREF);
            }
            if reflected {
                if out.originator_id.is_none() {
                    out.originator_id = src.session.as_ref().map(|s| s.router_id);
                }
                let cluster = cfg.cluster_id.unwrap_or(cfg.router_id);
                out.cluster_list = Some(match out.cluster_list.take() {
                    Some(l) => l.prepend(cluster),
                    None => std::iter::once(cluster).collect(),
                });
            }
        }
    }
    // Next hop: the default for the kind, then the policy's directive.
    let mut nh = match (key.next_hop, key.kind) {
        (NextHopMode::SelfAddr, _) => NextHopAction::SelfAddr,
        (NextHopMode::Unchanged, _) => NextHopAction::Unchanged,
        (NextHopMode::SelfExternal, _) if src_kind == Some(PeerKind::Internal) => {
            NextHopAction::Unchanged
        }
        (NextHopMode::SelfExternal, _) => NextHopAction::SelfAddr,
        (NextHopMode::Default, PeerKind::External) => NextHopAction::SelfAddr,
        (NextHopMode::Default, PeerKind::Internal)
            if path.peer() == LOCAL && next_hop(a).is_none() =>
        {
            NextHopAction::SelfAddr
        }
        (NextHopMode::Default, PeerKind::Internal) => NextHopAction::Unchanged,
    };
    if let Some(policy) = &key.export {
        let route = RouteRef {
            prefix,
            attrs: &out,
            neighbor: (path.peer() != LOCAL).then_some(src.cfg.address),
            route_type: match src_kind {
                None => RouteType::Local,
                Some(k) => route_type(k, a),
            },
        };
        match policy.evaluate(&route) {
            Outcome::Rejected => return None,
            Outcome::Unchanged(d) => nh = d.next_hop.unwrap_or(nh),
            Outcome::Changed(changed, d) => {
                out = *changed;
                nh = d.next_hop.unwrap_or(nh);
            }
        }
    }
    set_next_hop(&mut out, prefix, nh, key);
    // Without a next hop for its family the UPDATE would be malformed: not sent (a
    // local route towards a peer with no local address configured, say).
    let has_next_hop = match prefix {
        IpNet::V4(_) => out.next_hop.is_some() || out.mp_reach.is_some(),
        IpNet::V6(_) => out
            .mp_reach
            .as_ref()
            .is_some_and(|m| m.family == Family::IPV6_UNICAST),
    };
    if !has_next_hop {
        return None;
    }
    Some(store.intern(out))
}

fn route_type(kind: PeerKind, attrs: &PathAttributes) -> RouteType {
    match kind {
        PeerKind::External => RouteType::External,
        PeerKind::Internal if attrs.originator_id.is_some() || attrs.cluster_list.is_some() => {
            RouteType::Reflected
        }
        PeerKind::Internal => RouteType::Internal,
    }
}

/// Writes the next hop for `prefix` into `out` as the group's peers expect it.
fn set_next_hop(
    out: &mut PathAttributes,
    prefix: &IpNet,
    nh: NextHopAction,
    key: &adj_out::GroupKey,
) {
    let addr = match nh {
        NextHopAction::Unchanged => return,
        NextHopAction::Addr(a) => Some(a),
        NextHopAction::SelfAddr => match prefix {
            IpNet::V4(_) => key
                .local_v4
                .map(IpAddr::V4)
                .or(key.local_v6.map(IpAddr::V6)),
            IpNet::V6(_) => key.local_v6.map(IpAddr::V6),
        },
    };
    let Some(addr) = addr else {
        return;
    };
    let family = family_of(prefix);
    match (prefix, addr) {
        (IpNet::V4(_), IpAddr::V4(a)) => {
            out.next_hop = Some(a);
            out.mp_reach = None;
        }
        (_, a) => {
            let next_hop = match a {
                IpAddr::V4(v4) => NextHop::Ipv4(v4),
                IpAddr::V6(v6) => NextHop::Ipv6 {
                    global: v6,
                    link_local: None,
                },
            };
            if family == Family::IPV4_UNICAST {
                out.next_hop = None;
            }
            out.mp_reach = Some(MpReach {
                family,
                next_hop,
                nlri: MpNlri::Opaque(Default::default()),
            });
        }
    }
}

#[cfg(test)]
mod tests;
