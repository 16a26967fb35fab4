//! The whole speaker as a value: every peer's sessions, the RIB, policies, update groups and
//! what flows between them, with no I/O.
//!
//! # Calling contract
//!
//! A [`Router`] is driven by its owner, which holds the sockets, a clock and the kernel:
//! - **getters**: [`Router::peers`], [`Router::summary`], [`Router::rib`],
//!   [`Router::best_routes`], [`Router::peer_stats`], ...;
//! - **network inputs**, each with the current time: [`Router::handle`] with an [`Input`]
//!   (a connection accepted or made, bytes read, a connection closed, messages written, a
//!   BFD datagram received);
//! - **the clock**: [`Router::handle_timeout`] at or after [`Router::poll_timeout`] (safe to
//!   call early: nothing happens before a deadline); a driver that reads ahead of what it
//!   hands over uses [`Router::handle_timeout_with`], which asks it about the held input of
//!   the peers whose timers are due, so that its delay does not end their sessions;
//! - **commands** (mutators that return at once with their outcome): [`Router::add_peer`],
//!   [`Router::remove_peer`], [`Router::update_peer`], [`Router::reset_peer`],
//!   [`Router::shutdown_peer`], [`Router::set_dynamic_peers`], [`Router::announce`],
//!   [`Router::withdraw`], [`Router::refresh`], [`Router::shutdown`];
//! - **outputs**: after any of the calls above, drain [`Router::poll_output`] until it
//!   returns `None` ([`Output::Connect`], [`Output::Attached`], [`Output::Transmit`],
//!   [`Output::Close`], [`Output::BfdTransmit`], [`Output::Event`]), then sleep until the
//!   earlier of [`Router::poll_timeout`] and the next input.
//!
//! Received routes are decided as they come in; what they change for each update group is
//! encoded when the outputs are polled. An owner that feeds the inputs it has at hand
//! before draining gets fewer, fuller UPDATEs; it drains early when
//! [`Router::flush_wanted`] says enough waits (and far past that a flush is made right
//! away, so that what the groups remember stays bounded).
//!
//! Backpressure is the owner's report of what it wrote ([`Input::Written`]): a connection
//! is never given more than a window of unwritten messages, and a peer whose queue runs
//! past its depth is re-synchronized once it has drained (see `outbox`).
//!
//! Protocol failures are not errors of these calls: they come out as NOTIFICATIONs to
//! transmit, closes, and events. Command errors ([`RouterError`]) mean nothing changed.
//! The router never reads a clock and draws no randomness of its own: the same calls with
//! the same times give the same outputs.
//!
//! Where each part lives: `io` (inputs, outputs, events), `config` (settings), `peer` (one
//! peer's state), `events` (what a session reports, into the RIB), `outbox` (what goes
//! out, and the counts that bound it), `admin` (the commands), `restart` (graceful-restart
//! deferral and the first settling of the tables), `bfd` (the peers' BFD sessions and what
//! their failures do), `timers`, `status`.

mod admin;
mod bfd;
mod config;
mod dump;
mod events;
mod io;
mod monitor;
mod outbox;
mod peer;
mod restart;
mod status;
mod timers;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use foldhash::HashMap;
use ipnet::IpNet;
use tracing::debug;

use crate::rib::{PeerId, Rib, RibConfig};
use crate::session::{Action, Conn};

pub use crate::rib::{DampingConfig, PathSelection};
pub use bfd::PeerBfdStatus;
pub use config::{
    AddPath, BGP_PORT, BfdSettings, DynamicPeers, ErrorWait, LimitFamily, MAX_PASSWORD_LEN,
    MaxPrefixes, NextHopSetting, Password, PeerSettings, RouterConfig,
};
pub use io::{
    Announcement, ConnId, Event, Input, Messages, Output, PeerInfo, PeerUpdate, RouteChange,
    RouterError, Transport,
};
pub use monitor::Monitoring;
pub use outbox::WINDOW;
pub use status::{
    FamilyCounts, PeerReport, PeerStats, PeerStatus, RefreshCounts, Summary, family_label,
};

use peer::{PeerEntry, slot};
use timers::TimerHeap;

/// Prefix changes the groups may remember before the owner should let a flush happen (see
/// [`Router::flush_wanted`]); at four times this many a flush is made without waiting for
/// the outputs to be polled.
const PENDING_CHANGES: usize = 16_384;

/// How often peers are looked at for laggards while the backlog is past its budget.
const LAGGARD_CHECK: Duration = Duration::from_millis(50);

/// A connection the router knows.
#[derive(Debug)]
struct ConnEntry {
    peer: PeerId,
    conn: Conn,
    /// Our address on it.
    local: SocketAddr,
    /// The other end's.
    remote: SocketAddr,
    /// Messages handed out for it, not yet reported written.
    in_flight: usize,
}

/// The speaker: see the module documentation for how to drive it.
pub struct Router {
    cfg: RouterConfig,
    rib: Rib,
    /// By RIB peer index.
    peers: Vec<Option<PeerEntry>>,
    by_addr: HashMap<IpAddr, PeerId>,
    conns: HashMap<ConnId, ConnEntry>,
    timers: TimerHeap,
    out: VecDeque<Output>,
    /// Peers with something in their outbox and maybe room to send it.
    ready: VecDeque<PeerId>,
    /// Messages waiting in outboxes or in flight, all peers together.
    backlog: usize,
    /// Of the messages waiting in outboxes, those from flushes (see `outbox`).
    flushed_total: usize,
    /// Flushes begun: which one gave a peer its last batch.
    flushes: u64,
    /// When the peers past the backlog budget may next be looked at for laggards.
    laggards_at: Option<Instant>,
    /// Peers whose queue overflowed, waiting to drain: their backlog does not hold the
    /// others back.
    overflowed: Vec<PeerId>,
    /// Counts peer starts (see [`PeerEntry::incarnation`]).
    incarnations: u64,
    /// Dynamic peers by range, for the range's maximum.
    dynamic_counts: HashMap<IpNet, usize>,
    /// After a graceful restart: nothing is sent until this time or until every peer has
    /// sent End-of-RIB.
    deferring: Option<Instant>,
    /// Until the tables first settle: the latest time they are declared settled.
    settle_by: Option<Instant>,
    /// The next time an update group may be flushed (MRAI), when one waits for it.
    flush_at: Option<Instant>,
    /// Prefixes with a best path.
    best_count: u64,
    /// The start of the RIB's clock (route ages count from here).
    epoch: Instant,
    /// Whether best-route changes come out as events.
    best_events: bool,
    /// Peers whose counters changed since [`Router::take_changed_stats`].
    stats_dirty: Vec<PeerId>,
    /// [`Router::shutdown`] was called: no connection is accepted or made any more.
    stopping: bool,
    /// A peer is being removed only to be added again (new settings): no
    /// [`Event::PeerRemoved`] for it.
    quiet_removal: bool,
    /// What is reported for monitoring (see `monitor`).
    monitoring: Monitoring,
    /// BFD for the peers that ask for it.
    bfd: bfd::BfdLink,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("peers", &self.by_addr.len())
            .field("connections", &self.conns.len())
            .field("backlog", &self.backlog)
            .field("rib", &self.rib)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router with the configured peers added and started. Invalid peers are refused as
    /// [`Router::add_peer`] would; the others are added.
    pub fn new(cfg: RouterConfig, now: Instant) -> (Router, Vec<RouterError>) {
        let mut rc = RibConfig::new(cfg.asn, cfg.router_id);
        rc.cluster_id = cfg.cluster_id;
        rc.client_to_client = cfg.client_to_client;
        rc.ebgp_without_policy = cfg.ebgp_without_policy;
        rc.decision.max_paths = cfg.max_paths.max(1);
        rc.min_route_interval = cfg.min_route_interval;
        let deferring = cfg
            .restarting
            .then(|| now + Duration::from_secs(cfg.selection_deferral));
        let settle_by = Some(now + Duration::from_secs(cfg.fib_sync_timeout));
        let peers = cfg.peers.clone();
        let cfg_seed = cfg.bfd_seed;
        let mut r = Router {
            cfg,
            rib: Rib::new(rc),
            peers: Vec::new(),
            by_addr: HashMap::default(),
            conns: HashMap::default(),
            timers: TimerHeap::default(),
            out: VecDeque::new(),
            ready: VecDeque::new(),
            backlog: 0,
            flushed_total: 0,
            flushes: 0,
            laggards_at: None,
            overflowed: Vec::new(),
            incarnations: 0,
            dynamic_counts: HashMap::default(),
            deferring,
            settle_by,
            flush_at: None,
            best_count: 0,
            epoch: now,
            best_events: true,
            stats_dirty: Vec::new(),
            stopping: false,
            quiet_removal: false,
            monitoring: Monitoring::default(),
            bfd: bfd::BfdLink::new(cfg_seed),
        };
        let errors = peers
            .into_iter()
            .filter_map(|p| r.start_peer(p, now, false).err())
            .collect();
        if r.deferring.is_some() {
            let waiting = r.waiting_for();
            tracing::info!(
                waiting = %restart::list(&waiting),
                seconds = r.cfg.selection_deferral,
                "restarting: nothing is sent until these peers' tables are in"
            );
        }
        (r, errors)
    }

    // ---- getters ----

    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    /// The RIBs, to read.
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The address of the peer a RIB path came from (`None` for our own routes).
    pub fn peer_address(&self, id: PeerId) -> Option<IpAddr> {
        self.entry(id).map(PeerEntry::address)
    }

    /// A peer's index in the RIB (what [`crate::rib::Path::peer`] names).
    pub fn peer_index(&self, addr: IpAddr) -> Option<PeerId> {
        self.by_addr.get(&addr).copied()
    }

    /// Every peer's state, sorted by address.
    pub fn peers(&self, now: Instant) -> Vec<PeerStatus> {
        let mut v: Vec<PeerStatus> = self
            .peers
            .iter()
            .flatten()
            .map(|e| {
                let counts = self.rib.peer_counts_by_family(e.id).unwrap_or((0, 0));
                let mut st = e.status(&self.cfg, counts, now);
                st.suppressed = self.rib.suppressed(e.id);
                if e.settings.soft_reconfig_inbound
                    && let Some((accepted, received)) = self.rib.peer_counts(e.id)
                {
                    st.received = Some(received);
                    st.filtered = Some(received.saturating_sub(accepted));
                }
                (st.advertised_v4, st.advertised_v6) = self.rib.advertised(e.id);
                st.bfd = self.bfd_status(e.id);
                st
            })
            .collect();
        v.sort_by_key(|s| s.address);
        v
    }

    /// What was received from and sent to each peer.
    pub fn peer_stats(&self) -> impl Iterator<Item = (IpAddr, &PeerStats)> {
        self.peers.iter().flatten().map(|e| (e.address(), &e.stats))
    }

    /// The peers whose counters changed since the last call, with their counters now, the
    /// routes accepted from them (IPv4, IPv6) and their backlog: for metrics that follow
    /// the counters without walking every peer.
    pub fn take_changed_stats(&mut self) -> Vec<PeerReport> {
        let ids = std::mem::take(&mut self.stats_dirty);
        ids.into_iter()
            .filter_map(|id| {
                let backlog = self.backlog_of(id);
                let accepted = self.rib.peer_counts_by_family(id).unwrap_or((0, 0));
                let advertised = self.rib.advertised(id);
                let e = peer_mut(&mut self.peers, id)?;
                e.stats_dirty = false;
                Some(PeerReport {
                    address: e.address(),
                    stats: e.stats.clone(),
                    accepted,
                    advertised,
                    backlog,
                })
            })
            .collect()
    }

    /// Each peer's FSM state and, while Established, for how long.
    pub fn peer_states(
        &self,
        now: Instant,
    ) -> impl Iterator<Item = (IpAddr, crate::session::State, Option<Duration>)> + '_ {
        self.peers.iter().flatten().map(move |e| {
            let up =
                e.up.as_ref()
                    .map(|_| now.saturating_duration_since(e.since));
            (e.address(), e.fsm.state(), up)
        })
    }

    /// Messages queued or in flight for a peer.
    pub fn peer_backlog(&self, addr: IpAddr) -> Option<usize> {
        Some(self.backlog_of(*self.by_addr.get(&addr)?))
    }

    /// Entries in the timer heap (each peer has one armed; stale ones wait to come due).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Messages queued or in flight, all peers together.
    pub fn backlog(&self) -> usize {
        self.backlog
    }

    pub fn summary(&self) -> Summary {
        Summary {
            asn: self.cfg.asn,
            router_id: self.cfg.router_id,
            cluster_id: self.cfg.cluster_id,
            prefixes: self.rib.prefix_count(),
            paths: self.rib.iter().map(|(_, d)| d.paths().len()).sum(),
            attribute_sets: self.rib.attribute_sets(),
            peers: self.by_addr.len(),
            established: self
                .peers
                .iter()
                .flatten()
                .filter(|e| e.up.is_some())
                .count(),
            deferring: self.deferring.is_some(),
            waiting_for: if self.deferring.is_some() {
                self.waiting_for()
            } else {
                Vec::new()
            },
        }
    }

    /// Prefixes with a best path.
    /// Seconds since a path of `prefix` last came, changed or went. Changes are dated by
    /// the router's clock at its last input ([`Router::handle`] or
    /// [`Router::handle_timeout`]): calls that take no time, such as `announce`, by that.
    pub fn route_age(&self, now: Instant, prefix: &IpNet) -> Option<u64> {
        let d = self.rib.get(prefix)?;
        Some(u64::from(self.clock(now).saturating_sub(d.changed())))
    }

    /// The RIB's clock at `now`: whole seconds since the router was made.
    pub fn clock(&self, now: Instant) -> u32 {
        let secs = now.saturating_duration_since(self.epoch).as_secs();
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    fn tick(&mut self, now: Instant) {
        let c = self.clock(now);
        self.rib.set_clock(c);
    }

    pub fn best_count(&self) -> u64 {
        self.best_count
    }

    /// The current best routes, sorted by prefix.
    pub fn best_routes(&self) -> Vec<RouteChange> {
        let mut v: Vec<RouteChange> = self
            .rib
            .iter()
            .filter_map(|(prefix, d)| {
                let best = d.best()?;
                Some(RouteChange {
                    prefix,
                    next_hops: d
                        .multipath()
                        .iter()
                        .filter_map(|p| crate::rib::next_hop(p.attrs()))
                        .collect(),
                    from: self.peer_address(best.peer()),
                })
            })
            .collect();
        v.sort_by_key(|r| r.prefix);
        v
    }

    /// Whether a peer is configured (or connected from a range) at `addr`.
    pub fn has_peer(&self, addr: IpAddr) -> bool {
        self.by_addr.contains_key(&addr)
    }

    /// A peer's settings.
    pub fn peer_settings(&self, addr: IpAddr) -> Option<&PeerSettings> {
        self.entry(*self.by_addr.get(&addr)?).map(|e| &e.settings)
    }

    /// Whether enough changes wait to be flushed that the owner should drain the outputs now
    /// rather than feed more inputs first: the UPDATEs are full already, and the peers can
    /// start taking them while the rest is decided.
    pub fn flush_wanted(&self) -> bool {
        self.rib.pending_changes() > PENDING_CHANGES
    }

    /// Whether [`Event::BestChanged`] is given (it is by default). An owner with no one to
    /// tell (no kernel table to program, no watcher) turns it off, and the router spares an
    /// event per prefix change; [`Router::best_routes`] is the state at any time.
    pub fn set_best_change_events(&mut self, on: bool) {
        self.best_events = on;
    }

    // ---- inputs ----

    /// Something happened on the network.
    pub fn handle(&mut self, now: Instant, input: Input) {
        self.tick(now);
        match input {
            Input::Accepted {
                conn,
                remote,
                local,
            } => self.accepted(now, conn, remote, local),
            Input::Connected { peer, conn, local } => self.connected(now, peer, conn, local),
            Input::ConnectFailed { peer } => {
                // Only the attempt under way: one started before the peer was removed and
                // added again (its settings changed) may end after the new one is up.
                if let Some(id) = self.by_addr.get(&peer).copied()
                    && let Some(e) = self.entry_mut(id)
                    && e.connecting
                {
                    e.connecting = false;
                    e.fsm.handle_connect_failed(now);
                    self.after(id, now);
                }
            }
            Input::Received { conn, bytes } => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                let (id, dir) = (c.peer, c.conn);
                if let Some(e) = self.entry_mut(id) {
                    e.fsm.handle_data(now, dir, &bytes);
                    self.after(id, now);
                }
                if self.rib.pending_changes() > 4 * PENDING_CHANGES {
                    self.flush(now);
                }
            }
            Input::Closed { conn } => {
                let Some(c) = self.forget_conn(conn) else {
                    return;
                };
                if let Some(e) = self.entry_mut(c.peer) {
                    e.conns[slot(c.conn)] = None;
                    e.fsm.handle_closed(now, c.conn);
                    self.after(c.peer, now);
                }
            }
            Input::Written { conn, messages } => self.written(conn, messages, now),
            Input::Bfd {
                from,
                to,
                ttl,
                hop,
                interface,
                bytes,
            } => {
                let input = crate::bfd::Input::Received {
                    from,
                    to,
                    ttl,
                    hop,
                    interface: interface.as_deref(),
                    bytes: &bytes,
                };
                self.bfd_received(now, input);
            }
        }
    }

    /// The driver holds input of `conn` it has read but not handed over (it is behind on
    /// its input, not the peer on its KEEPALIVEs): its hold timer starts again rather than
    /// ending the session. Call it before [`Router::handle_timeout`] for each such
    /// connection, or give [`Router::handle_timeout_with`] a way to ask.
    pub fn input_pending(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let (id, dir) = (c.peer, c.conn);
        if let Some(e) = self.entry_mut(id) {
            e.fsm.input_pending(now, dir);
            self.after(id, now);
        }
    }

    /// Timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout_with(now, |_| false);
    }

    /// Timers due at `now`, where `pending(conn)` says whether the driver holds input of
    /// `conn` it has read but not handed over (it is behind on its input, not the peer on
    /// its KEEPALIVEs): such a connection's hold timer starts again rather than ending the
    /// session. `pending` is asked only of the connections of peers with a timer due, so a
    /// round costs what is due, not what is connected.
    pub fn handle_timeout_with(&mut self, now: Instant, mut pending: impl FnMut(ConnId) -> bool) {
        self.tick(now);
        while let Some((at, id, incarnation)) = self.timers.pop_due(now) {
            let Some(e) = self.entry_mut(id) else {
                continue;
            };
            // An entry of an earlier start of the slot, or one an earlier deadline took the
            // place of (that one came due first and armed what followed): dropped.
            if e.incarnation != incarnation || e.armed != Some(at) {
                continue;
            }
            e.armed = None;
            if e.connect_wanted && e.connect_from <= now {
                e.connect_wanted = false;
                self.connect(id);
            }
            if let Some(e) = self.entry_mut(id) {
                for (c, conn) in [(0, Conn::Outbound), (1, Conn::Inbound)] {
                    if e.conns[c].is_some_and(&mut pending) {
                        e.fsm.input_pending(now, conn);
                    }
                }
                e.fsm.handle_timeout(now);
            }
            self.refresh_timeouts(id, now);
            self.after(id, now);
        }
        if self.rib.damping_due().is_some_and(|t| t <= now) {
            let ch = self.rib.damping_timeout(now);
            self.publish(ch.best);
        }
        self.bfd_pump(now);
        self.check_deferral(now);
        self.check_settled(now, false);
    }

    /// The earliest deadline: call [`Router::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next(),
            self.deferring,
            self.settle_by,
            self.flush_at,
            self.rib.damping_due(),
            self.bfd.endpoint.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next thing for the driver to do. Outputs of earlier calls come first; then each
    /// peer with queued UPDATEs and room on its connection gets a window of them; then the
    /// update groups' changes are encoded and queued (when the peers together are not too
    /// far behind, and MRAI allows).
    pub fn poll_output(&mut self, now: Instant) -> Option<Output> {
        if self.out.is_empty() {
            self.bfd_pump(now);
        }
        loop {
            if let Some(o) = self.out.pop_front() {
                if self.monitoring.adj_rib_out {
                    self.monitor_sent(&o);
                }
                return Some(o);
            }
            if let Some(id) = self.ready.pop_front() {
                self.pump(id, now);
                continue;
            }
            if !self.flush(now) {
                release_drained(&mut self.out);
                return None;
            }
        }
    }

    // ---- internals ----

    fn entry(&self, id: PeerId) -> Option<&PeerEntry> {
        self.peers.get(id as usize).and_then(Option::as_ref)
    }

    fn entry_mut(&mut self, id: PeerId) -> Option<&mut PeerEntry> {
        self.peers.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// Carries out what a peer's sessions asked for, then re-arms its timer and removes it
    /// if it is done for.
    fn after(&mut self, id: PeerId, now: Instant) {
        self.drain(id, now);
        self.arm(id);
        if let Some(reason) = self.entry_mut(id).and_then(|e| e.doomed.take()) {
            self.drop_peer(id, reason, now);
        }
    }

    /// Notes that a peer's counters changed.
    fn stats_changed(&mut self, id: PeerId) {
        if let Some(e) = peer_mut(&mut self.peers, id)
            && !e.stats_dirty
        {
            e.stats_dirty = true;
            self.stats_dirty.push(id);
        }
    }

    fn arm(&mut self, id: PeerId) {
        if let Some(e) = self.peers.get_mut(id as usize).and_then(Option::as_mut) {
            let at = e.deadline();
            self.timers.arm(&mut e.armed, at, id, e.incarnation);
        }
    }

    /// The sessions' actions, in order: connections, bytes, closes and events.
    fn drain(&mut self, id: PeerId, now: Instant) {
        self.drain_as(id, now, None);
    }

    /// As [`Router::drain`]; `refused` names the connection inbound actions are for when
    /// the session refused one it was never attached to.
    fn drain_as(&mut self, id: PeerId, now: Instant, refused: Option<ConnId>) {
        loop {
            let Some(e) = peer_mut(&mut self.peers, id) else {
                return;
            };
            let Some((dir, action)) = e.fsm.poll_action() else {
                return;
            };
            let conn = match (dir, refused) {
                (Conn::Inbound, Some(r)) => Some(r),
                _ => e.conns[slot(dir)],
            };
            match action {
                Action::Connect => {
                    if !e.connecting && !self.stopping {
                        if now < e.connect_from {
                            e.connect_wanted = true;
                        } else {
                            self.connect(id);
                        }
                    }
                }
                Action::Transmit(bytes) => {
                    if let Some(c) = conn {
                        self.transmit(c, Messages::one(bytes));
                    }
                }
                Action::Close => {
                    if let Some(c) = conn {
                        if refused.is_none() || dir == Conn::Outbound {
                            e.conns[slot(dir)] = None;
                        }
                        self.forget_conn(c);
                        self.out.push_back(Output::Close { conn: c });
                    }
                }
                Action::Event(ev) => self.session_event(id, dir, ev, now),
            }
        }
    }

    fn connect(&mut self, id: PeerId) {
        if let Some(e) = self.entry_mut(id) {
            e.connecting = true;
            let (peer, transport) = (e.address(), e.transport());
            self.out.push_back(Output::Connect { peer, transport });
        }
    }

    fn forget_conn(&mut self, conn: ConnId) -> Option<ConnEntry> {
        let c = self.conns.remove(&conn)?;
        self.backlog -= c.in_flight;
        if let Some(e) = peer_mut(&mut self.peers, c.peer) {
            e.outbox.in_flight -= c.in_flight;
        }
        Some(c)
    }

    fn connected(&mut self, now: Instant, peer: IpAddr, conn: ConnId, local: SocketAddr) {
        let id = self.by_addr.get(&peer).copied();
        let Some(e) = id.and_then(|id| peer_mut(&mut self.peers, id)) else {
            self.out.push_back(Output::Close { conn });
            return;
        };
        e.connecting = false;
        if e.conns[0].is_some() || self.stopping {
            self.out.push_back(Output::Close { conn });
            return;
        }
        e.conns[0] = Some(conn);
        e.fsm.handle_connected(now);
        let id = e.id;
        self.conns.insert(
            conn,
            ConnEntry {
                peer: id,
                conn: Conn::Outbound,
                local,
                remote: e.transport().remote,
                in_flight: 0,
            },
        );
        self.bfd_attach(id, Some(local.ip()), now);
        self.after(id, now);
    }

    /// A connection from `remote`: a configured peer's, a new dynamic peer's, or refused.
    fn accepted(&mut self, now: Instant, conn: ConnId, remote: SocketAddr, local: SocketAddr) {
        let known = self.by_addr.get(&remote.ip()).copied();
        let id = match known {
            Some(id) => Some(id),
            None if self.stopping => None,
            None => self.dynamic_peer(remote, now),
        };
        let Some(id) = id else {
            self.out.push_back(Output::Event(Event::Refused { remote }));
            self.out.push_back(Output::Close { conn });
            return;
        };
        // Whatever the session had to do is done before it hears of the connection, so
        // that what it does next is about this one.
        self.drain(id, now);
        let Some(e) = peer_mut(&mut self.peers, id) else {
            return;
        };
        self.conns.insert(
            conn,
            ConnEntry {
                peer: id,
                conn: Conn::Inbound,
                local,
                remote,
                in_flight: 0,
            },
        );
        if e.fsm.handle_accepted(now) {
            e.conns[1] = Some(conn);
            self.bfd_attach(id, Some(local.ip()), now);
            let Some(e) = peer_mut(&mut self.peers, id) else {
                return;
            };
            let transport = e.transport();
            self.out.push_back(Output::Attached { conn, transport });
            self.after(id, now);
        } else {
            debug!(%remote, "connection refused by the session");
            self.drain_as(id, now, Some(conn));
            // The refusal closes it; in case it did not, it is closed here.
            if self.conns.remove(&conn).is_some() {
                self.out.push_back(Output::Close { conn });
            }
            self.arm(id);
        }
    }

    /// Encodes the due groups' changes and queues them for their members; false when there
    /// was nothing to flush (or nothing may be flushed now).
    fn flush(&mut self, now: Instant) -> bool {
        if self.rib.pending_changes() == 0 {
            self.flush_at = None;
            return false;
        }
        // While the peers together hold a large backlog, nothing more is flushed: changes
        // are coalesced in the groups until the peers have drained. Peers that overflowed
        // are out of it until they are re-synchronized. Who does not keep up is looked for
        // at most every LAGGARD_CHECK (it is a walk over every peer); the flush is tried
        // again with the writes that lower the backlog, or at the next look.
        if self.active_flushed() > self.backlog_budget() {
            if self.laggards_at.is_none_or(|t| t <= now) {
                self.laggards_at = Some(now + LAGGARD_CHECK);
                self.overflow_laggards(now);
            }
            if self.active_flushed() > self.backlog_budget() {
                self.flush_at = self.laggards_at;
                return false;
            }
        }
        let (due, next) = self.rib.flush_due(now);
        self.flush_at = next;
        if due.is_empty() {
            return false;
        }
        // Each member is compared with its group as it was before this flush.
        self.flushes += 1;
        let mut behind = None;
        for g in due {
            let f = self.rib.flush(g, now);
            if self.deferring.is_some() {
                // The whole table goes out at the end of the deferral.
                continue;
            }
            for (peer, batch) in f.into_batches() {
                self.offer(peer, batch, &mut behind, now);
            }
        }
        true
    }

    /// A peer's messages queued or in flight.
    pub(super) fn backlog_of(&self, id: PeerId) -> usize {
        let Some(e) = self.entry(id) else { return 0 };
        debug_assert_eq!(
            e.outbox.in_flight,
            e.conns
                .iter()
                .flatten()
                .filter_map(|c| self.conns.get(c))
                .map(|c| c.in_flight)
                .sum::<usize>()
        );
        e.outbox.queued + e.outbox.in_flight
    }

    /// What flushes may have queued in all (for the peers not overflowed) before nothing
    /// more is flushed: a quarter of every peer's queue.
    fn backlog_budget(&self) -> usize {
        self.by_addr.len().max(1) * (self.cfg.peer_queue_depth / 4).max(64)
    }
}

/// Frees an emptied queue that grew large.
fn release_drained<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 1024 {
        *q = VecDeque::new();
    }
}

/// A peer by index, borrowing only the peer table (so that other fields stay usable).
fn peer_mut(peers: &mut [Option<PeerEntry>], id: PeerId) -> Option<&mut PeerEntry> {
    peers.get_mut(id as usize).and_then(Option::as_mut)
}
