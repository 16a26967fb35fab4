//! The speaker: a RIB task that owns the [`bgp_core::rib::Rib`], a task per peer, and
//! listeners; and [`Speaker`], the handle a node agent holds.
//!
//! ```text
//!   Speaker (handle) ──commands──▶ RIB task ◀──events── peer tasks ◀──▶ TCP
//!        ▲                            │  └──encoded UPDATEs (bounded)──▶ peer tasks
//!        └──── route changes ◀────────┘
//! ```
//!
//! Backpressure: each peer's queue is bounded. When it is full the RIB task stops queueing
//! for that peer and remembers what the peer held; once the queue has drained it sends the
//! difference between that and the group's current routes, so a stuck peer costs memory
//! bounded by the table, never by the churn.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp_core::Family;
use bgp_core::rib::{
    BestChange, OutMessage, PeerConfig, PeerId, PeerSession, Recipients, Rib, RibConfig,
};
use bgp_core::session::{GracefulRestartConfig, Peer, PeerAs, SessionConfig, StopReason};
use bgp_core::wire::PeerKind;
use bgp_core::wire::attributes::{
    AsPath, Community, LargeCommunity, MpNlri, MpReach, NextHop, Origin, PathAttributes,
};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, info, warn};

use crate::config::{DynamicPeers, LimitFamily, MaxPrefixes, PeerSettings, SpeakerConfig};
use crate::fib_task::{self, FibCounters, FibHandle};
use crate::metrics::family_label;
use crate::peer_task::{self, Batch, PeerEvent, ToPeer};

/// Errors of the speaker API.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("a peer at {0} is already configured")]
    DuplicatePeer(IpAddr),
    #[error("peer {0}: {1}")]
    InvalidPeer(IpAddr, &'static str),
    #[error("no peer at {0}")]
    NoPeer(IpAddr),
    #[error("the session with {0} is not established")]
    NotEstablished(IpAddr),
    #[error("{0} did not announce the route refresh capability")]
    NoRouteRefresh(IpAddr),
    #[error("the speaker has stopped")]
    Stopped,
    #[error("{0} has a next hop of the other address family")]
    NextHopFamily(IpNet),
    #[error("kernel FIB: {0}")]
    Fib(#[from] crate::fib::FibError),
    #[error("TCP-MD5 for {0}: {1}")]
    Md5(IpAddr, std::io::Error),
}

/// What a node announces with a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announcement {
    /// The next hop; none: each peer's local address (next-hop-self).
    pub next_hop: Option<IpAddr>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
}

/// A change of the best route of a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChange {
    pub prefix: IpNet,
    /// The next hops of the best route (and its ECMP companions); empty when the prefix is
    /// gone.
    pub next_hops: Vec<IpAddr>,
    /// The peer the best route came from; `None` for our own routes or when gone.
    pub from: Option<IpAddr>,
}

/// A peer's state as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub address: IpAddr,
    pub asn: u32,
    /// `ibgp` or `ebgp`.
    pub kind: String,
    pub rr_client: bool,
    /// Accepted from a dynamic range.
    pub dynamic: bool,
    /// The FSM state (`Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`,
    /// `Established`).
    pub state: String,
    pub established: bool,
    /// Shut down by the operator; stays down until reset.
    pub admin_down: bool,
    /// Seconds since the session came up or went down.
    pub since_secs: u64,
    /// How many times the session reached Established.
    pub established_count: u64,
    /// Why the session last ended.
    pub last_error: Option<String>,
    /// The peer's BGP identifier and the negotiated hold time, while Established.
    pub router_id: Option<Ipv4Addr>,
    pub hold_time: Option<u16>,
    /// Negotiated families, e.g. `ipv4-unicast`.
    pub families: Vec<String>,
    /// Routes accepted from the peer (after import policy), in all and per family.
    pub accepted: u64,
    pub accepted_v4: u64,
    pub accepted_v6: u64,
    /// UPDATE messages received from and queued to the peer.
    pub updates_received: u64,
    pub updates_sent: u64,
}

/// What [`Speaker::update_peer`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerUpdate {
    /// The settings were the same.
    Unchanged,
    /// Only policies changed: re-applied in place (soft reconfiguration or a route refresh
    /// for import, a new Adj-RIB-Out for export); the session stayed up.
    PoliciesApplied,
    /// The session was ended with Cease / Other Configuration Change and started again.
    Restarted,
}

/// Which routes [`Speaker::routes`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteQuery {
    /// This prefix and the more specific ones inside it.
    pub prefix: Option<IpNet>,
    /// Only paths from this peer.
    pub peer: Option<IpAddr>,
    pub family: Option<Family>,
}

/// A prefix with its paths, best first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDetail {
    pub prefix: IpNet,
    /// The decision step that chose the best path, when there was a choice.
    pub reason: Option<String>,
    pub paths: Vec<PathDetail>,
}

/// One path of a prefix, with its attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathDetail {
    /// The peer it came from; `None` for our own routes.
    pub from: Option<IpAddr>,
    pub best: bool,
    /// Part of the ECMP set (the best path included).
    pub multipath: bool,
    /// Kept from a restarting peer, waiting to be refreshed.
    pub stale: bool,
    pub path_id: u32,
    pub next_hop: Option<IpAddr>,
    pub as_path: String,
    /// `igp`, `egp` or `incomplete`.
    pub origin: Option<String>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
}

/// The speaker as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeakerSummary {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub cluster_id: Option<Ipv4Addr>,
    pub prefixes: usize,
    pub paths: usize,
    pub attribute_sets: usize,
    pub peers: usize,
    pub established: usize,
    /// Waiting for peers' End-of-RIB after a graceful restart before sending anything.
    pub deferring: bool,
}

enum Command {
    Announce(
        IpNet,
        Announcement,
        oneshot::Sender<Result<(), SpeakerError>>,
    ),
    Withdraw(IpNet, oneshot::Sender<()>),
    AddPeer(PeerSettings, oneshot::Sender<Result<(), SpeakerError>>),
    RemovePeer(IpAddr, oneshot::Sender<Result<(), SpeakerError>>),
    UpdatePeer(
        PeerSettings,
        oneshot::Sender<Result<PeerUpdate, SpeakerError>>,
    ),
    /// Stop (`true`: and stay down) or reset a peer's session with a message.
    PeerDown(
        IpAddr,
        bool,
        String,
        oneshot::Sender<Result<(), SpeakerError>>,
    ),
    SetDynamic(
        Vec<DynamicPeers>,
        oneshot::Sender<Result<Vec<(IpAddr, PeerUpdate)>, SpeakerError>>,
    ),
    Detail(RouteQuery, oneshot::Sender<Vec<RouteDetail>>),
    Summary(oneshot::Sender<SpeakerSummary>),
    Peers(oneshot::Sender<Vec<PeerStatus>>),
    Refresh(IpAddr, oneshot::Sender<Result<(), SpeakerError>>),
    Routes(oneshot::Sender<Vec<RouteChange>>),
    FibCounters(oneshot::Sender<Option<FibCounters>>),
    /// A connection from an address no peer is listed for.
    Unknown(TcpStream, std::net::SocketAddr),
    Shutdown(String, oneshot::Sender<()>),
}

/// The handle of a running speaker. Cheap to clone; every method is async and
/// cancellation-safe (a dropped call leaves the speaker consistent).
#[derive(Clone, Debug)]
pub struct Speaker {
    cmd: mpsc::Sender<Command>,
    routes: broadcast::Sender<RouteChange>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Prefix changes the RIB task lets wait for one flush while more UPDATEs are in.
const PENDING_CHANGES: usize = 16_384;

type Accepting = Arc<Mutex<HashMap<IpAddr, mpsc::Sender<TcpStream>>>>;

impl Speaker {
    /// Binds the listeners, starts the peers of `config`, and returns the handle.
    pub async fn start(config: SpeakerConfig) -> Result<Speaker, SpeakerError> {
        let accepting: Accepting = Arc::default();
        let mut listeners = Vec::new();
        let mut pending_listeners = Vec::new();
        let mut listen_fds = Vec::new();
        for addr in &config.listen {
            let l = bind_listener(*addr).map_err(|source| SpeakerError::Listen {
                addr: *addr,
                source,
            })?;
            use std::os::fd::AsRawFd;
            listen_fds.push((l.as_raw_fd(), addr.is_ipv6()));
            pending_listeners.push(l);
        }
        // Keys for the ranges of dynamic peers, so that their signed SYNs are answered.
        range_keys(&listen_fds, &config.dynamic_peers)?;
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (open_tx, open_rx) = tokio::sync::watch::channel(false);
        for l in pending_listeners {
            listeners.push(tokio::spawn(listen(
                l,
                accepting.clone(),
                cmd_tx.clone(),
                open_rx.clone(),
            )));
        }
        let (routes, _) = broadcast::channel(4096);
        let peers = config.peers.clone();
        let learn = config.learn.clone();
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let fib = match &config.fib {
            Some(f) => Some(
                fib_task::start(
                    f.clone(),
                    Duration::from_secs(config.fib_sync_timeout),
                    metrics.clone(),
                )
                .await?,
            ),
            None => None,
        };
        let mut task = RibTask::new(config, accepting, routes.clone());
        task.metrics = metrics.clone();
        task.listeners = listeners;
        task.listen_fds = listen_fds;
        task.fib = fib;
        tokio::spawn(task.run(cmd_rx).instrument(tracing::info_span!("rib")));
        let speaker = Speaker {
            cmd: cmd_tx,
            routes,
            metrics,
        };
        for p in peers {
            speaker.add_peer(p).await?;
        }
        let _ = open_tx.send(true);
        if let Some(learn) = learn {
            let s = speaker.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::kernel_routes::run(learn, s).await {
                    warn!(%e, "learning kernel routes stopped");
                }
            });
        }
        Ok(speaker)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SpeakerError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| SpeakerError::Stopped)?;
        rx.await.map_err(|_| SpeakerError::Stopped)
    }

    /// Announces a prefix of this node to every peer.
    pub async fn announce(&self, prefix: IpNet, a: Announcement) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::Announce(prefix, a, tx)).await?
    }

    /// Withdraws a prefix announced before.
    pub async fn withdraw(&self, prefix: IpNet) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::Withdraw(prefix, tx)).await
    }

    pub async fn add_peer(&self, p: PeerSettings) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::AddPeer(p, tx)).await?
    }

    /// Changes a peer's settings. The same settings change nothing. When only the import
    /// or export policy differs, it is applied in place and the session stays up (a new
    /// import policy is re-applied from the routes kept before policy with
    /// `soft_reconfig_inbound`, else the peer is asked for a route refresh). Any other
    /// change ends the session with Cease / Other Configuration Change and starts it again
    /// with the new settings (its routes go meanwhile).
    pub async fn update_peer(&self, p: PeerSettings) -> Result<PeerUpdate, SpeakerError> {
        self.ask(|tx| Command::UpdatePeer(p, tx)).await?
    }

    /// Ends a peer's session with an administrative reset (RFC 8203 `message`) and starts
    /// it again; also brings back a peer that was shut down.
    pub async fn reset_peer(&self, address: IpAddr, message: &str) -> Result<(), SpeakerError> {
        let m = message.to_string();
        self.ask(|tx| Command::PeerDown(address, false, m, tx))
            .await?
    }

    /// Ends a peer's session with an administrative shutdown (RFC 8203 `message`); the
    /// peer stays configured and down until [`Speaker::reset_peer`].
    pub async fn shutdown_peer(&self, address: IpAddr, message: &str) -> Result<(), SpeakerError> {
        let m = message.to_string();
        self.ask(|tx| Command::PeerDown(address, true, m, tx))
            .await?
    }

    /// Replaces the ranges dynamic peers are accepted from. Dynamic peers outside every new
    /// range are removed; the others take their range's new template (see
    /// [`Speaker::update_peer`]). Returns what happened to each dynamic peer still there.
    pub async fn set_dynamic_peers(
        &self,
        ranges: Vec<DynamicPeers>,
    ) -> Result<Vec<(IpAddr, PeerUpdate)>, SpeakerError> {
        self.ask(|tx| Command::SetDynamic(ranges, tx)).await?
    }

    /// Routes with all their paths and attributes, sorted by prefix.
    pub async fn routes(&self, query: RouteQuery) -> Result<Vec<RouteDetail>, SpeakerError> {
        self.ask(|tx| Command::Detail(query, tx)).await
    }

    pub async fn summary(&self) -> Result<SpeakerSummary, SpeakerError> {
        self.ask(Command::Summary).await
    }

    /// Removes a peer: Cease / Peer De-configured, and its routes go.
    pub async fn remove_peer(&self, address: IpAddr) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::RemovePeer(address, tx)).await?
    }

    /// Asks a peer to send its routes again (ROUTE-REFRESH, RFC 2918), for every family of
    /// the session: after an import policy change, say.
    pub async fn refresh(&self, address: IpAddr) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::Refresh(address, tx)).await?
    }

    pub async fn peers(&self) -> Result<Vec<PeerStatus>, SpeakerError> {
        self.ask(Command::Peers).await
    }

    /// The current best routes.
    pub async fn best_routes(&self) -> Result<Vec<RouteChange>, SpeakerError> {
        self.ask(Command::Routes).await
    }

    /// Changes of best routes from now on. A subscriber that falls behind by more than 4,096
    /// changes gets `Lagged` and should read [`Speaker::best_routes`] again.
    pub fn subscribe(&self) -> broadcast::Receiver<RouteChange> {
        self.routes.subscribe()
    }

    /// The speaker's Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Kernel FIB counters, when the speaker programs the FIB.
    pub async fn fib_counters(&self) -> Result<Option<FibCounters>, SpeakerError> {
        self.ask(Command::FibCounters).await
    }

    /// Stops every session with an administrative shutdown carrying `message` (RFC 8203).
    /// Installed kernel routes stay (a restart keeps forwarding) unless the FIB is
    /// configured with `flush_on_shutdown`, in which case they are deleted before this
    /// returns.
    pub async fn shutdown(&self, message: &str) -> Result<(), SpeakerError> {
        let m = message.to_string();
        self.ask(|tx| Command::Shutdown(m, tx)).await
    }
}

/// A listening socket on `addr`; an IPv6 one accepts IPv6 only, so that the IPv4 wildcard
/// and the IPv6 wildcard can both be listened on (as `0.0.0.0:179` and `[::]:179`).
fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

async fn listen(
    l: TcpListener,
    accepting: Accepting,
    cmd: mpsc::Sender<Command>,
    mut open: tokio::sync::watch::Receiver<bool>,
) {
    // Connections wait in the backlog until the configured peers exist, so that a listed
    // peer is never taken for a dynamic one of a range that holds its address.
    if open.wait_for(|o| *o).await.is_err() {
        return;
    }
    loop {
        let Ok((stream, remote)) = l.accept().await else {
            continue;
        };
        let target = accepting
            .lock()
            .ok()
            .and_then(|m| m.get(&remote.ip()).cloned());
        match target {
            Some(tx) => {
                let _ = tx.try_send(stream);
            }
            // Maybe a dynamic peer: the RIB task decides.
            None => {
                let _ = cmd.try_send(Command::Unknown(stream, remote));
            }
        }
    }
}

struct PeerEntry {
    settings: PeerSettings,
    id: PeerId,
    /// Which start of the peer its task is (see `PeerMessage`).
    incarnation: u64,
    tx: mpsc::Sender<ToPeer>,
    /// Messages queued in [`ToPeer::Updates`] items, not yet taken by the peer's task.
    queued: peer_task::QueuedOwner,
    task: JoinHandle<()>,
    established: bool,
    families: Vec<Family>,
    /// The peer announced route refresh (RFC 2918).
    route_refresh: bool,
    /// The peer announced enhanced route refresh (RFC 7313).
    enhanced_refresh: bool,
    /// The queue overflowed: nothing more is queued until it drained and the peer is
    /// re-synchronized.
    overflowed: bool,
    /// Families whose End-of-RIB the peer sent since it came up.
    eor: Vec<Family>,
    /// The route limit was passed and reported (warn-only peers are warned once).
    over_limit: bool,
    /// Accepted from a dynamic range: removed when its session ends.
    dynamic: bool,
    /// For display: FSM state, when it last went up or down, and why it last went down.
    state: String,
    since: std::time::Instant,
    established_count: u64,
    last_error: Option<String>,
    admin_down: bool,
    negotiated: Option<(Ipv4Addr, u16)>,
    updates_received: u64,
    updates_sent: u64,
    /// Counters of what is sent, for IPv4 and IPv6 unicast.
    sent: [SentCounters; 2],
    queue_depth: prometheus::IntGauge,
}

/// One peer's and family's counters of what is sent.
struct SentCounters {
    updates: prometheus::IntCounter,
    announced: prometheus::IntCounter,
    withdrawn: prometheus::IntCounter,
}

impl SentCounters {
    fn new(m: &crate::metrics::Metrics, peer: &str, family: Family) -> SentCounters {
        let fam = family_label(family);
        SentCounters {
            updates: m.updates_sent.with_label_values(&[peer, &fam]),
            announced: m.prefixes_sent.with_label_values(&[peer, &fam, "announce"]),
            withdrawn: m.prefixes_sent.with_label_values(&[peer, &fam, "withdraw"]),
        }
    }
}

struct RibTask {
    cfg: SpeakerConfig,
    rib: Rib,
    peers: HashMap<IpAddr, PeerEntry>,
    by_id: HashMap<PeerId, IpAddr>,
    accepting: Accepting,
    routes: broadcast::Sender<RouteChange>,
    events_tx: mpsc::Sender<crate::peer_task::PeerMessage>,
    events_rx: Option<mpsc::Receiver<crate::peer_task::PeerMessage>>,
    /// Counts peer starts; each peer task's events carry its number.
    incarnations: u64,
    listeners: Vec<JoinHandle<()>>,
    /// The listening sockets (while `listeners` run), for per-peer MD5 keys.
    listen_fds: Vec<(std::os::fd::RawFd, bool)>,
    fib: Option<FibHandle>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Messages queued for all peers together (see [`peer_task::Queued`]).
    queued_total: Arc<std::sync::atomic::AtomicUsize>,
    /// Dynamic peers by range, for the range's maximum (counting them per connection would
    /// be a walk over every peer each time).
    dynamic_counts: HashMap<IpNet, usize>,
    /// After a graceful restart: nothing is sent until this time or until every configured
    /// peer has sent End-of-RIB.
    deferring: Option<std::time::Instant>,
}

impl RibTask {
    fn new(
        cfg: SpeakerConfig,
        accepting: Accepting,
        routes: broadcast::Sender<RouteChange>,
    ) -> RibTask {
        let mut rc = RibConfig::new(cfg.asn, cfg.router_id);
        rc.cluster_id = cfg.cluster_id;
        rc.client_to_client = cfg.client_to_client;
        rc.ebgp_without_policy = cfg.ebgp_without_policy;
        rc.decision.max_paths = cfg.max_paths.max(1);
        let (events_tx, events_rx) = mpsc::channel(1024);
        let deferring = cfg
            .restarting
            .then(|| std::time::Instant::now() + Duration::from_secs(cfg.selection_deferral));
        RibTask {
            deferring,
            cfg,
            rib: Rib::new(rc),
            peers: HashMap::new(),
            by_id: HashMap::new(),
            accepting,
            routes,
            events_tx,
            events_rx: Some(events_rx),
            incarnations: 0,
            listeners: Vec::new(),
            listen_fds: Vec::new(),
            fib: None,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            queued_total: Arc::default(),
            dynamic_counts: HashMap::new(),
        }
    }

    async fn run(mut self, mut cmds: mpsc::Receiver<Command>) {
        let mut events = self.events_rx.take().expect("set in new");
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            // While the peers together hold a large backlog, nothing more is flushed to
            // them: changes keep coming into the RIB and are coalesced per prefix until the
            // peers have drained. Everyone being slower than the RIB is no reason to declare
            // them all stuck and re-synchronize them; a single peer that falls behind the
            // others still overflows on its own.
            let throttled = self.backlog() > self.backlog_budget();
            tokio::select! {
                c = cmds.recv() => match c {
                    Some(Command::Shutdown(msg, done)) => {
                        self.shutdown(&msg).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.command(c),
                    None => {
                        self.shutdown("speaker dropped").await;
                        return;
                    }
                },
                _ = tokio::time::sleep(Duration::from_millis(2)), if throttled => {}
                Some((addr, inc, ev)) = events.recv() => {
                    self.event(addr, inc, ev);
                    // Whatever else the peers sent is decided before one flush: fewer,
                    // fuller UPDATEs, and one queue item per peer for all of them.
                    // (Up to a bound: each change waiting for the flush is remembered with
                    // what was sent before, so a full-table burst is flushed in parts.)
                    for _ in 0..256 {
                        if self.rib.pending_changes() > PENDING_CHANGES {
                            break;
                        }
                        match events.try_recv() {
                            Ok((addr, inc, ev)) => self.event(addr, inc, ev),
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => {
                    self.gauge_queues();
                    self.resync_drained();
                    self.check_deferral();
                }
            }
            if self.backlog() <= self.backlog_budget() {
                self.flush();
            }
        }
    }

    fn publish(&self, changes: Vec<BestChange>) {
        for c in changes {
            let delta = i64::from(c.best.is_some()) - i64::from(c.had_best);
            if delta != 0 {
                self.metrics.best_routes.add(delta);
            }
            let from = c
                .best
                .as_ref()
                .and_then(|p| self.by_id.get(&p.peer()))
                .copied();
            if let Some(fib) = &self.fib {
                // Our own routes are the node's business (its block is routed locally).
                let learned = from.is_some();
                fib.change(
                    c.prefix,
                    if learned {
                        c.next_hops.clone()
                    } else {
                        Vec::new()
                    },
                );
            }
            // No subscriber is fine.
            let _ = self.routes.send(RouteChange {
                prefix: c.prefix,
                next_hops: c.next_hops,
                from,
            });
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Announce(prefix, a, done) => {
                let r = announcement_attrs(&prefix, &a).map(|attrs| {
                    let ch = self.rib.announce(prefix, attrs);
                    self.publish(ch.best);
                });
                let _ = done.send(r);
            }
            Command::Withdraw(prefix, done) => {
                let ch = self.rib.withdraw(prefix);
                self.publish(ch.best);
                let _ = done.send(());
            }
            Command::AddPeer(p, done) => {
                // A configured peer takes the place of a dynamic one at its address (one
                // that connected from a range before the configuration named it).
                if self.peers.get(&p.address).is_some_and(|e| e.dynamic) {
                    info!(peer = %p.address, "configured peer replaces the dynamic one");
                    let reason = StopReason::cease(
                        bgp_core::wire::error::subcode::OTHER_CONFIGURATION_CHANGE,
                    );
                    self.drop_peer(p.address, reason);
                }
                let _ = done.send(self.add_peer(p));
            }
            Command::RemovePeer(addr, done) => {
                let reason = StopReason::cease(bgp_core::wire::error::subcode::PEER_DECONFIGURED);
                let r = self
                    .drop_peer(addr, reason)
                    .ok_or(SpeakerError::NoPeer(addr));
                let _ = done.send(r);
            }
            Command::UpdatePeer(p, done) => {
                let r = match self.peers.get(&p.address) {
                    Some(e) if e.dynamic && e.settings != p => Err(SpeakerError::InvalidPeer(
                        p.address,
                        "a dynamic peer follows its range's template",
                    )),
                    _ => self.update_peer(p),
                };
                let _ = done.send(r);
            }
            Command::PeerDown(addr, stay_down, message, done) => {
                let r = match self.peers.get_mut(&addr) {
                    None => Err(SpeakerError::NoPeer(addr)),
                    Some(e) => {
                        e.admin_down = stay_down;
                        let item = if stay_down {
                            ToPeer::Disable(StopReason::admin_shutdown(message))
                        } else {
                            ToPeer::Reset(StopReason::admin_reset(message))
                        };
                        // Past a full queue: the control item must not be lost.
                        let tx = e.tx.clone();
                        tokio::spawn(async move {
                            let _ = tx.send(item).await;
                        });
                        Ok(())
                    }
                };
                let _ = done.send(r);
            }
            Command::SetDynamic(ranges, done) => {
                let _ = done.send(self.set_dynamic(ranges));
            }
            Command::Detail(q, done) => {
                let _ = done.send(self.route_details(&q));
            }
            Command::Summary(done) => {
                let _ = done.send(SpeakerSummary {
                    asn: self.cfg.asn,
                    router_id: self.cfg.router_id,
                    cluster_id: self.cfg.cluster_id,
                    prefixes: self.rib.prefix_count(),
                    paths: self.rib.iter().map(|(_, d)| d.paths().len()).sum(),
                    attribute_sets: self.rib.attribute_sets(),
                    peers: self.peers.len(),
                    established: self.peers.values().filter(|e| e.established).count(),
                    deferring: self.deferring.is_some(),
                });
            }
            Command::Refresh(addr, done) => {
                let r = match self.peers.get(&addr) {
                    None => Err(SpeakerError::NoPeer(addr)),
                    Some(e) if !e.established => Err(SpeakerError::NotEstablished(addr)),
                    Some(e) if !e.route_refresh => Err(SpeakerError::NoRouteRefresh(addr)),
                    Some(e) => {
                        for f in &e.families {
                            let kind = bgp_core::session::RefreshKind::Request;
                            let _ = e.tx.try_send(ToPeer::Refresh(*f, kind));
                        }
                        Ok(())
                    }
                };
                let _ = done.send(r);
            }
            Command::Peers(done) => {
                let mut v: Vec<PeerStatus> = self.peers.values().map(|e| self.status(e)).collect();
                v.sort_by_key(|s| s.address);
                let _ = done.send(v);
            }
            Command::Routes(done) => {
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
                                .filter_map(|p| bgp_core::rib::next_hop(p.attrs()))
                                .collect(),
                            from: self.by_id.get(&best.peer()).copied(),
                        })
                    })
                    .collect();
                v.sort_by_key(|r| r.prefix);
                let _ = done.send(v);
            }
            Command::FibCounters(done) => {
                let _ = done.send(self.fib.as_ref().map(FibHandle::counters));
            }
            Command::Unknown(stream, remote) => self.dynamic_peer(stream, remote),
            Command::Shutdown(..) => {}
        }
    }

    /// A connection from an unlisted address: a dynamic peer when a range holds it and has
    /// room, else refused.
    fn dynamic_peer(&mut self, stream: TcpStream, remote: std::net::SocketAddr) {
        let ip = remote.ip();
        let Some(range) = self
            .cfg
            .dynamic_peers
            .iter()
            .find(|d| d.range.contains(&ip))
            .cloned()
        else {
            warn!(%remote, "connection from an unknown peer refused");
            return;
        };
        let count = self.dynamic_counts.get(&range.range).copied().unwrap_or(0);
        if count >= range.max {
            warn!(%remote, max = range.max, "dynamic peer refused: the range is full");
            return;
        }
        let mut p = range.template.clone();
        p.address = ip;
        p.passive = true;
        if let Err(e) = self.add_peer(p) {
            warn!(%remote, %e, "dynamic peer");
            return;
        }
        info!(%remote, "dynamic peer accepted");
        if let Some(e) = self.peers.get_mut(&ip) {
            e.dynamic = true;
            *self.dynamic_counts.entry(range.range).or_default() += 1;
        }
        let tx = self.accepting.lock().ok().and_then(|m| m.get(&ip).cloned());
        if let Some(tx) = tx {
            let _ = tx.try_send(stream);
        }
    }

    fn status(&self, e: &PeerEntry) -> PeerStatus {
        let (v4, v6) = self.rib.peer_counts_by_family(e.id).unwrap_or((0, 0));
        let local_as = e.settings.local_as.unwrap_or(self.cfg.asn);
        PeerStatus {
            address: e.settings.address,
            asn: e.settings.asn,
            kind: if e.settings.asn == local_as {
                "ibgp".into()
            } else {
                "ebgp".into()
            },
            rr_client: e.settings.rr_client,
            dynamic: e.dynamic,
            state: e.state.clone(),
            established: e.established,
            admin_down: e.admin_down,
            since_secs: e.since.elapsed().as_secs(),
            established_count: e.established_count,
            last_error: e.last_error.clone(),
            router_id: e.negotiated.map(|n| n.0),
            hold_time: e.negotiated.map(|n| n.1),
            families: e
                .families
                .iter()
                .map(|f| family_label(*f).into_owned())
                .collect(),
            accepted: v4 + v6,
            accepted_v4: v4,
            accepted_v6: v6,
            updates_received: e.updates_received,
            updates_sent: e.updates_sent,
        }
    }

    /// New settings for a configured peer: nothing, policies in place, or a restart.
    fn update_peer(&mut self, p: PeerSettings) -> Result<PeerUpdate, SpeakerError> {
        let Some(e) = self.peers.get(&p.address) else {
            return Err(SpeakerError::NoPeer(p.address));
        };
        if e.settings == p {
            return Ok(PeerUpdate::Unchanged);
        }
        validate(&p)?;
        let mut same = e.settings.clone();
        same.import.clone_from(&p.import);
        same.export.clone_from(&p.export);
        if same == p {
            return Ok(self.apply_policies(p));
        }
        self.replace_peer(p).map(|()| PeerUpdate::Restarted)
    }

    /// New import and export policies on a running peer, without a reset when possible.
    fn apply_policies(&mut self, p: PeerSettings) -> PeerUpdate {
        let Some(e) = self.peers.get_mut(&p.address) else {
            return PeerUpdate::Unchanged;
        };
        let id = e.id;
        let import_changed = e.settings.import != p.import;
        let export_changed = e.settings.export != p.export;
        let (established, refresh, families) = (e.established, e.route_refresh, e.families.clone());
        let (import, export) = (p.import.clone(), p.export.clone());
        let addr = p.address;
        e.settings = p;
        let mut outcome = PeerUpdate::PoliciesApplied;
        if export_changed {
            match self.rib.set_export_policy(id, export) {
                Ok(msgs) => self.queue_messages(id, &msgs),
                Err(err) => warn!(%addr, %err, "export policy"),
            }
        }
        if import_changed {
            match self.rib.set_import_policy(id, import) {
                Some(ch) => self.publish(ch.best),
                None if !established => {}
                None if refresh => {
                    let e = &self.peers[&addr];
                    for f in families {
                        let kind = bgp_core::session::RefreshKind::Request;
                        let _ = e.tx.try_send(ToPeer::Refresh(f, kind));
                    }
                }
                None => {
                    // Neither a copy before policy nor route refresh: only a new session
                    // brings the routes again.
                    let reason = StopReason::cease(
                        bgp_core::wire::error::subcode::OTHER_CONFIGURATION_CHANGE,
                    );
                    let _ = self.peers[&addr].tx.try_send(ToPeer::Reset(reason));
                    outcome = PeerUpdate::Restarted;
                }
            }
        }
        info!(%addr, import_changed, export_changed, ?outcome, "policies changed");
        outcome
    }

    /// New dynamic ranges: peers outside them go, the others follow their new template.
    fn set_dynamic(
        &mut self,
        ranges: Vec<DynamicPeers>,
    ) -> Result<Vec<(IpAddr, PeerUpdate)>, SpeakerError> {
        for r in &ranges {
            validate(&r.template)?;
        }
        // Keys for the new ranges' signed SYNs (old range keys stay until a restart: the
        // kernel has no call to list them).
        range_keys(&self.listen_fds, &ranges)?;
        self.cfg.dynamic_peers = ranges;
        let dynamic: Vec<IpAddr> = self
            .peers
            .values()
            .filter(|e| e.dynamic)
            .map(|e| e.settings.address)
            .collect();
        let mut out = Vec::new();
        for addr in dynamic {
            let range = self
                .cfg
                .dynamic_peers
                .iter()
                .find(|d| d.range.contains(&addr));
            let Some(range) = range else {
                let reason = StopReason::cease(bgp_core::wire::error::subcode::PEER_DECONFIGURED);
                self.drop_peer(addr, reason);
                continue;
            };
            let mut p = range.template.clone();
            p.address = addr;
            p.passive = true;
            let r = match self.update_peer(p) {
                // A restarted dynamic peer comes back when it connects again.
                Ok(PeerUpdate::Restarted) => {
                    let reason = StopReason::cease(
                        bgp_core::wire::error::subcode::OTHER_CONFIGURATION_CHANGE,
                    );
                    self.drop_peer(addr, reason);
                    PeerUpdate::Restarted
                }
                Ok(r) => r,
                Err(e) => return Err(e),
            };
            if let Some(e) = self.peers.get_mut(&addr) {
                e.dynamic = true;
            }
            out.push((addr, r));
        }
        self.recount_dynamic();
        Ok(out)
    }

    /// The range of a dynamic peer's address.
    fn range_of(&self, addr: IpAddr) -> Option<IpNet> {
        self.cfg
            .dynamic_peers
            .iter()
            .map(|d| d.range)
            .find(|r| r.contains(&addr))
    }

    fn recount_dynamic(&mut self) {
        let mut counts: HashMap<IpNet, usize> = HashMap::new();
        for e in self.peers.values().filter(|e| e.dynamic) {
            if let Some(r) = self.range_of(e.settings.address) {
                *counts.entry(r).or_default() += 1;
            }
        }
        self.dynamic_counts = counts;
    }

    fn route_details(&self, q: &RouteQuery) -> Vec<RouteDetail> {
        let peer_id = q.peer.and_then(|a| self.peers.get(&a)).map(|e| e.id);
        if q.peer.is_some() && peer_id.is_none() {
            return Vec::new();
        }
        let mut v: Vec<RouteDetail> = self
            .rib
            .iter()
            .filter(|(prefix, _)| {
                q.prefix.is_none_or(|p| p.contains(prefix))
                    && q.family
                        .is_none_or(|f| f == bgp_core::rib::family_of(prefix))
            })
            .filter_map(|(prefix, d)| {
                let ecmp = d.multipath().len();
                let paths: Vec<PathDetail> = d
                    .paths()
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| peer_id.is_none_or(|id| p.peer() == id))
                    .map(|(i, p)| self.path_detail(p, i == 0 && d.best().is_some(), i < ecmp))
                    .collect();
                (!paths.is_empty()).then(|| RouteDetail {
                    prefix,
                    reason: d.reason().map(|r| format!("{r:?}")),
                    paths,
                })
            })
            .collect();
        v.sort_by_key(|r| r.prefix);
        v
    }

    fn path_detail(&self, p: &bgp_core::rib::Path, best: bool, multipath: bool) -> PathDetail {
        let a = p.attrs();
        PathDetail {
            from: self.by_id.get(&p.peer()).copied(),
            best,
            multipath,
            stale: p.stale(),
            path_id: p.path_id(),
            next_hop: bgp_core::rib::next_hop(a),
            as_path: a
                .as_path
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            origin: a.origin.map(|o| {
                match o {
                    Origin::Igp => "igp",
                    Origin::Egp => "egp",
                    Origin::Incomplete => "incomplete",
                }
                .to_string()
            }),
            local_pref: a.local_pref,
            med: a.med,
            communities: a
                .communities
                .iter()
                .flat_map(|l| l.iter().map(|c| c.to_string()))
                .collect(),
            large_communities: a
                .large_communities
                .iter()
                .flat_map(|l| l.iter().map(|c| c.to_string()))
                .collect(),
            originator_id: a.originator_id,
            cluster_list: a.cluster_list.iter().flat_map(|l| l.iter()).collect(),
        }
    }

    /// Ends the selection deferral of a graceful restart once every configured peer and
    /// every expected dynamic one sent End-of-RIB (or the time is up): then each peer gets
    /// the whole table and End-of-RIB.
    fn check_deferral(&mut self) {
        let Some(until) = self.deferring else {
            return;
        };
        let all_in = self.tables_in();
        if !all_in && std::time::Instant::now() < until {
            return;
        }
        info!(all_in, "selection deferral over; sending tables");
        self.deferring = None;
        let up: Vec<(PeerId, Vec<Family>)> = self
            .peers
            .values()
            .filter(|e| e.established)
            .map(|e| (e.id, e.families.clone()))
            .collect();
        for (id, families) in up {
            let msgs = self.rib.full_table(id);
            let eor = families.into_iter().map(ToPeer::EndOfRib).collect();
            self.queue_table(id, Vec::new(), msgs, eor);
        }
    }

    /// A peer with new settings: Cease / Other Configuration Change, then a new start.
    fn replace_peer(&mut self, p: PeerSettings) -> Result<(), SpeakerError> {
        let reason = StopReason::cease(bgp_core::wire::error::subcode::OTHER_CONFIGURATION_CHANGE);
        let old = self.peers.get(&p.address).map(|e| e.settings.clone());
        self.drop_peer(p.address, reason);
        match self.add_peer(p) {
            Ok(()) => Ok(()),
            Err(err) => {
                // Keep the peer as it was rather than lose it.
                if let Some(old) = old {
                    let _ = self.add_peer(old);
                }
                Err(err)
            }
        }
    }

    /// Removes a peer: the RIB drops its routes, the task is told to stop.
    fn drop_peer(&mut self, addr: IpAddr, reason: StopReason) -> Option<()> {
        let e = self.peers.remove(&addr)?;
        if e.dynamic
            && let Some(r) = self.range_of(addr)
            && let Some(n) = self.dynamic_counts.get_mut(&r)
        {
            *n = n.saturating_sub(1);
        }
        if let Ok(mut m) = self.accepting.lock() {
            m.remove(&addr);
        }
        if e.settings.password.is_some() {
            for (fd, v6) in &self.listen_fds {
                if *v6 == addr.is_ipv6() {
                    let _ = crate::sockopt::set_md5(*fd, addr, &[]);
                }
            }
        }
        let _ = e.tx.try_send(ToPeer::Stop(reason));
        self.by_id.remove(&e.id);
        self.metrics
            .session_up
            .with_label_values(&[addr.to_string().as_str()])
            .set(0);
        let ch = self.rib.remove_peer(e.id);
        self.publish(ch.best);
        Some(())
    }

    /// Enforces the peer's route limits: a warning, or Cease / Maximum Number of Prefixes
    /// Reached and a start again later.
    fn check_limit(&mut self, addr: IpAddr, id: PeerId) {
        let (v4, v6) = self.rib.peer_counts_by_family(id).unwrap_or((0, 0));
        let Some(e) = self.peers.get_mut(&addr) else {
            return;
        };
        let over: Vec<(MaxPrefixes, u64)> = e
            .settings
            .max_prefixes
            .iter()
            .map(|m| {
                let n = match m.family {
                    None => v4 + v6,
                    Some(LimitFamily::Ipv4) => v4,
                    Some(LimitFamily::Ipv6) => v6,
                };
                (m.clone(), n)
            })
            .filter(|(m, n)| *n > m.limit)
            .collect();
        if over.is_empty() {
            e.over_limit = false;
            return;
        }
        if e.over_limit {
            return;
        }
        e.over_limit = true;
        for (m, n) in &over {
            warn!(%addr, accepted = n, limit = m.limit, family = ?m.family, "maximum prefixes exceeded");
        }
        if let Some((m, _)) = over.iter().find(|(m, _)| !m.warn_only) {
            let after = Duration::from_secs(m.restart_after.unwrap_or(60));
            let _ = e.tx.try_send(ToPeer::AutoStop(
                StopReason::cease(bgp_core::wire::error::subcode::MAX_PREFIXES),
                after,
            ));
        }
    }

    /// Whether every peer (configured, connected from a range, or expected from a range
    /// after a restart) is up and has sent End-of-RIB for each of its families. The
    /// configured ones are named from the configuration, not from the peers added so far:
    /// at start the task runs before its peers are added, and an empty set is no answer.
    fn tables_in(&self) -> bool {
        let done = |e: &PeerEntry| {
            e.established && !e.families.is_empty() && e.families.iter().all(|f| e.eor.contains(f))
        };
        self.peers.values().all(done)
            && self
                .cfg
                .peers
                .iter()
                .map(|p| &p.address)
                .chain(&self.cfg.expected_peers)
                .all(|a| self.peers.get(a).is_some_and(done))
    }

    /// The kernel table is in sync once [`RibTask::tables_in`].
    fn check_fib_sync(&self) {
        let Some(fib) = &self.fib else { return };
        if self.tables_in() {
            fib.mark_synced();
        }
    }

    fn add_peer(&mut self, p: PeerSettings) -> Result<(), SpeakerError> {
        if self.peers.contains_key(&p.address) {
            return Err(SpeakerError::DuplicatePeer(p.address));
        }
        validate(&p)?;
        let local_as = p.local_as.unwrap_or(self.cfg.asn);
        let kind = if p.asn == local_as {
            PeerKind::Internal
        } else {
            PeerKind::External
        };
        let mut pc = match kind {
            PeerKind::Internal => PeerConfig::internal(p.address, p.asn),
            PeerKind::External => PeerConfig::external(p.address, p.asn),
        };
        pc.rr_client = p.rr_client;
        pc.local_as = p.local_as;
        pc.allow_own_as = p.allow_own_as;
        pc.next_hop = p.next_hop.mode();
        pc.import.clone_from(&p.import);
        pc.export.clone_from(&p.export);
        pc.soft_reconfig_inbound = p.soft_reconfig_inbound;
        match p.local_address {
            Some(IpAddr::V4(a)) => pc.local_v4 = Some(a),
            Some(IpAddr::V6(a)) => pc.local_v6 = Some(a),
            None => {}
        }
        // The MD5 key on the listeners of the peer's family, for connections it opens.
        if let Some(pw) = &p.password {
            for (fd, v6) in &self.listen_fds {
                if *v6 == p.address.is_ipv6()
                    && let Err(e) = crate::sockopt::set_md5(*fd, p.address, pw.0.as_bytes())
                {
                    return Err(SpeakerError::Md5(p.address, e));
                }
            }
        }
        // GTSM: the SYN-ACK goes out before an accepted socket is ours to configure, so the
        // listeners send with TTL 255 (harmless for other peers; the minimum TTL is set per
        // connection).
        if p.ttl_security.is_some() {
            for (fd, v6) in &self.listen_fds {
                if *v6 == p.address.is_ipv6() {
                    let _ = crate::sockopt::set_ttl(*fd, *v6, 255);
                }
            }
        }
        let id = self.rib.add_peer(pc);
        self.incarnations += 1;
        let incarnation = self.incarnations;
        let mut sc = SessionConfig::new(local_as, self.cfg.router_id, PeerAs::Is(p.asn));
        sc.hold_time = p.hold_time;
        sc.passive = p.is_passive();
        sc.connect_retry = p.connect_retry();
        if let Some(w) = p.error_wait {
            sc.idle_hold = Duration::from_secs(w.min);
            sc.idle_hold_max = Duration::from_secs(w.max);
        }
        sc.jitter_seed ^= u64::from(id);
        if let Some(t) = p.graceful_restart {
            // Routes installed in the kernel stay across our restart (and a reflector's
            // clients forward on their own next hops): the forwarding state is kept.
            sc.graceful_restart = Some(GracefulRestartConfig {
                restart_time: t,
                restarting: self.deferring.is_some(),
                forwarding_preserved: sc.families.clone(),
                notification: true,
            });
        }
        let (tx, rx) = mpsc::channel(self.cfg.peer_queue_depth.max(16));
        let queued = peer_task::Queued::new(&self.queued_total);
        let (acc_tx, acc_rx) = mpsc::channel(4);
        if let Ok(mut m) = self.accepting.lock() {
            m.insert(p.address, acc_tx);
        }
        let span = tracing::info_span!("peer", addr = %p.address);
        let task = tokio::spawn(
            peer_task::run(
                p.clone(),
                Peer::new(sc),
                rx,
                queued.clone(),
                self.events_tx.clone(),
                acc_rx,
                incarnation,
            )
            .instrument(span),
        );
        self.by_id.insert(id, p.address);
        let label = p.address.to_string();
        let sent = [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
            .map(|f| SentCounters::new(&self.metrics, &label, f));
        self.peers.insert(
            p.address,
            PeerEntry {
                settings: p,
                id,
                incarnation,
                tx,
                queued: peer_task::QueuedOwner(queued),
                task,
                established: false,
                families: Vec::new(),
                route_refresh: false,
                enhanced_refresh: false,
                overflowed: false,
                eor: Vec::new(),
                over_limit: false,
                dynamic: false,
                state: "Idle".into(),
                since: std::time::Instant::now(),
                established_count: 0,
                last_error: None,
                admin_down: false,
                negotiated: None,
                updates_received: 0,
                updates_sent: 0,
                sent,
                queue_depth: self
                    .metrics
                    .queue_depth
                    .with_label_values(&[label.as_str()]),
            },
        );
        Ok(())
    }

    fn event(&mut self, addr: IpAddr, incarnation: u64, ev: PeerEvent) {
        let Some(e) = self.peers.get_mut(&addr) else {
            return;
        };
        if e.incarnation != incarnation {
            // The last words of a task for a peer since removed (and maybe added again).
            return;
        }
        let id = e.id;
        let label = addr.to_string();
        let m = self.metrics.clone();
        match &ev {
            PeerEvent::Up(..) => {
                m.session_up.with_label_values(&[label.as_str()]).set(1);
                m.session_transitions
                    .with_label_values(&[label.as_str(), "established"])
                    .inc();
            }
            PeerEvent::Down { .. } => {
                m.session_up.with_label_values(&[label.as_str()]).set(0);
                m.session_transitions
                    .with_label_values(&[label.as_str(), "down"])
                    .inc();
            }
            PeerEvent::Update(u) => {
                for (f, announced, withdrawn) in update_counts(u) {
                    let fam = family_label(f);
                    m.updates_received
                        .with_label_values(&[label.as_str(), &fam])
                        .inc();
                    m.prefixes_received
                        .with_label_values(&[label.as_str(), &fam, "announce"])
                        .inc_by(announced);
                    m.prefixes_received
                        .with_label_values(&[label.as_str(), &fam, "withdraw"])
                        .inc_by(withdrawn);
                }
            }
            _ => {}
        }
        match ev {
            // A second connection (a collision) has states of its own: while Established,
            // the session's state is that.
            PeerEvent::State(st) if !e.established => e.state = st,
            PeerEvent::State(_) => {}
            PeerEvent::Up(n, local) => {
                if e.settings.local_address.is_none()
                    && let Some(l) = local
                {
                    self.rib.set_local_address(id, l);
                }
                let Some(e) = self.peers.get_mut(&addr) else {
                    return;
                };
                e.established = true;
                e.state = "Established".into();
                e.since = std::time::Instant::now();
                e.established_count += 1;
                e.negotiated = Some((n.peer_id, n.hold_time));
                e.families = n.families.clone();
                e.route_refresh = n.route_refresh;
                e.enhanced_refresh = n.enhanced_route_refresh;
                e.overflowed = false;
                e.eor.clear();
                let session = PeerSession {
                    router_id: n.peer_id,
                    families: n.families.clone(),
                    four_octet_as: n.four_octet_as,
                    add_path_send: n.add_path_send,
                    extended_message: n.extended_message,
                };
                match self.rib.peer_up(id, session) {
                    Ok(msgs) => {
                        self.queue_messages(id, &msgs);
                        let fams = n.families.clone();
                        for f in fams {
                            self.queue_eor(id, f);
                        }
                    }
                    Err(err) => warn!(%addr, %err, "peer up"),
                }
            }
            PeerEvent::Update(u) => {
                e.updates_received += 1;
                match self.rib.apply_update(id, &u) {
                    Ok(ch) => self.publish(ch.best),
                    Err(err) => warn!(%addr, %err, "update"),
                }
                self.check_limit(addr, id);
                let (v4, v6) = self.rib.peer_counts_by_family(id).unwrap_or((0, 0));
                for (fam, n) in [("ipv4-unicast", v4), ("ipv6-unicast", v6)] {
                    m.prefixes_accepted
                        .with_label_values(&[label.as_str(), fam])
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            PeerEvent::EndOfRib(f) => {
                if !e.eor.contains(&f) {
                    e.eor.push(f);
                }
                let ch = self.rib.sweep_stale(id, Some(f));
                self.publish(ch.best);
                self.check_fib_sync();
                self.check_deferral();
            }
            PeerEvent::RouteRefresh(f) => {
                // Re-send the peer's routes: the group's full table, then End-of-RIB.
                let msgs = self.rib.full_table(id);
                self.queue_table(id, Vec::new(), msgs, vec![ToPeer::EndOfRib(f)]);
            }
            PeerEvent::Down { retain, reason } => {
                e.established = false;
                e.state = "Idle".into();
                e.since = std::time::Instant::now();
                e.last_error = Some(reason);
                e.negotiated = None;
                // A dynamic peer lives as long as its session, or while its routes are kept
                // for a graceful restart, or while the operator holds it down (so that it
                // cannot come straight back as a new dynamic peer).
                if e.dynamic && retain.is_none() && !e.admin_down {
                    let reason =
                        StopReason::cease(bgp_core::wire::error::subcode::PEER_DECONFIGURED);
                    self.drop_peer(addr, reason);
                    return;
                }
                let ch = self.rib.peer_down(id, retain.is_some());
                self.publish(ch.best);
            }
            PeerEvent::StaleExpired => {
                let ch = self.rib.sweep_stale(id, None);
                self.publish(ch.best);
                // A dynamic peer that did not come back within its restart time is gone.
                if let Some(e) = self.peers.get(&addr)
                    && e.dynamic
                    && !e.established
                    && !e.admin_down
                {
                    let reason =
                        StopReason::cease(bgp_core::wire::error::subcode::PEER_DECONFIGURED);
                    self.drop_peer(addr, reason);
                }
            }
            PeerEvent::Gone => {}
        }
    }

    /// Queues `msgs` for the peer as one item (see [`RibTask::queue_batch`]).
    fn queue_messages(&mut self, id: PeerId, msgs: &[OutMessage]) {
        if msgs.is_empty() {
            return;
        }
        let bytes: Arc<[bytes::Bytes]> = msgs.iter().map(|m| m.bytes.clone()).collect();
        self.queue_batch(id, Batch::all(bytes), &Tally::of(msgs));
    }

    /// Queues a batch for the peer as one item, unless the peer still has more than
    /// `peer_queue_depth` messages queued from before (then it overflows and is
    /// re-synchronized once drained). One flush's messages are taken whole: flushes wait
    /// while the peers together lag (see `backlog_budget`), so one can be large.
    fn queue_batch(&mut self, id: PeerId, batch: Batch, tally: &Tally) {
        let Some(e) = self.by_id.get(&id).and_then(|a| self.peers.get(a)) else {
            return;
        };
        let (addr, queued, n) = (e.settings.address, e.queued.clone(), batch.len());
        let items = e.tx.max_capacity() - e.tx.capacity();
        if !e.overflowed && queued.get() + items > self.cfg.peer_queue_depth.max(16) {
            self.overflowed(addr);
            return;
        }
        queued.add(n);
        if !self.send(id, ToPeer::Updates(batch), tally) {
            queued.sub(n);
        }
    }

    /// Queues `item` (carrying what `tally` counts) for the peer unless its queue
    /// overflowed; counts what went. False when nothing was queued.
    fn send(&mut self, id: PeerId, item: ToPeer, tally: &Tally) -> bool {
        let Some(addr) = self.by_id.get(&id).copied() else {
            return false;
        };
        let Some(e) = self.peers.get_mut(&addr) else {
            return false;
        };
        if e.overflowed || self.deferring.is_some() {
            // A re-synchronization, or the table at the end of the deferral, follows.
            return false;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = e.tx.try_send(item) {
            self.overflowed(addr);
            return false;
        }
        self.count_sent(addr, tally);
        true
    }

    /// The peer does not keep up: nothing more is queued until it has drained.
    fn overflowed(&mut self, addr: IpAddr) {
        if let Some(e) = self.peers.get_mut(&addr) {
            warn!(%addr, "queue full; the peer will be re-synchronized");
            e.overflowed = true;
        }
        self.metrics
            .queue_overflows
            .with_label_values(&[addr.to_string().as_str()])
            .inc();
    }

    fn count_sent(&mut self, addr: IpAddr, tally: &Tally) {
        let Some(e) = self.peers.get_mut(&addr) else {
            return;
        };
        let label = addr.to_string();
        let m = &self.metrics;
        for (family, [updates, announced, withdrawn]) in &tally.0 {
            e.updates_sent += updates;
            // The usual families through the peer's own counter handles (no label lookups
            // on the send path, which runs per peer per flush).
            match *family {
                Family::IPV4_UNICAST | Family::IPV6_UNICAST => {
                    let c = &e.sent[usize::from(*family == Family::IPV6_UNICAST)];
                    c.updates.inc_by(*updates);
                    c.announced.inc_by(*announced);
                    c.withdrawn.inc_by(*withdrawn);
                }
                f => {
                    let fam = family_label(f);
                    m.updates_sent
                        .with_label_values(&[label.as_str(), &fam])
                        .inc_by(*updates);
                    m.prefixes_sent
                        .with_label_values(&[label.as_str(), &fam, "announce"])
                        .inc_by(*announced);
                    m.prefixes_sent
                        .with_label_values(&[label.as_str(), &fam, "withdraw"])
                        .inc_by(*withdrawn);
                }
            }
        }
    }

    /// A whole table for a peer in one queue slot: `before`, the UPDATEs, `after`.
    fn queue_table(
        &mut self,
        id: PeerId,
        before: Vec<ToPeer>,
        msgs: Vec<OutMessage>,
        after: Vec<ToPeer>,
    ) {
        let mut items = before;
        items.extend(msgs.iter().map(|m| ToPeer::Update(m.bytes.clone())));
        items.extend(after);
        self.send(id, ToPeer::Table(items), &Tally::of(&msgs));
    }

    fn queue_eor(&mut self, id: PeerId, f: Family) {
        if let Some(e) = self.by_id.get(&id).and_then(|a| self.peers.get(a))
            && !e.overflowed
            && self.deferring.is_none()
        {
            let _ = e.tx.try_send(ToPeer::EndOfRib(f));
        }
    }

    /// Peers whose queue overflowed and has drained are re-synchronized: with enhanced route
    /// refresh, BoRR, the full table and EoRR (RFC 7313 makes the peer drop what was not
    /// re-sent); without it, by restarting the session.
    fn resync_drained(&mut self) {
        let ready: Vec<(PeerId, bool, Vec<Family>)> = self
            .peers
            .values_mut()
            .filter(|e| {
                e.overflowed && e.tx.capacity() == e.tx.max_capacity() && e.queued.get() == 0
            })
            .map(|e| {
                e.overflowed = false;
                (e.id, e.enhanced_refresh, e.families.clone())
            })
            .collect();
        use bgp_core::session::RefreshKind;
        for (id, enhanced, families) in ready {
            let Some(tx) = self
                .by_id
                .get(&id)
                .and_then(|a| self.peers.get(a))
                .map(|e| e.tx.clone())
            else {
                continue;
            };
            if !enhanced {
                let _ = tx.try_send(ToPeer::Reset(StopReason::cease(
                    bgp_core::wire::error::subcode::OUT_OF_RESOURCES,
                )));
                continue;
            }
            // BoRR, the table, EoRR: one queue slot, so that a table larger than the
            // queue still goes out whole.
            let before = families
                .iter()
                .map(|f| ToPeer::Refresh(*f, RefreshKind::Begin))
                .collect();
            let after = families
                .iter()
                .map(|f| ToPeer::Refresh(*f, RefreshKind::End))
                .collect();
            let msgs = self.rib.full_table(id);
            self.queue_table(id, before, msgs, after);
        }
    }

    fn flush(&mut self) {
        let now = std::time::Instant::now();
        let (due, _) = self.rib.flush_due(now);
        for g in due {
            let out = self.rib.flush(g, now);
            self.queue_flush(&out);
        }
    }

    /// Queues one flush of a group: one list of its messages for all members, each member
    /// with the few it skips (those carrying its own routes) and the few only it gets. The
    /// work per member is then independent of the number of messages.
    fn queue_flush(&mut self, out: &[OutMessage]) {
        let (shared, single): (Vec<&OutMessage>, Vec<&OutMessage>) = out
            .iter()
            .partition(|m| matches!(m.to, Recipients::Members { .. }));
        let mut members: Option<Arc<[PeerId]>> = None;
        // Per peer: the shared messages it skips, the single ones it gets (indexes into
        // `order`).
        let mut special: HashMap<PeerId, (Vec<u32>, Vec<u32>)> = HashMap::new();
        let mut common = Tally::default();
        for (i, m) in shared.iter().enumerate() {
            if let Recipients::Members {
                members: all,
                except,
            } = &m.to
            {
                members.get_or_insert_with(|| all.clone());
                common.add(m);
                for p in except {
                    special.entry(*p).or_default().0.push(i as u32);
                }
            }
        }
        for (j, m) in single.iter().enumerate() {
            if let Recipients::Peers(ps) = &m.to {
                for p in ps {
                    special
                        .entry(*p)
                        .or_default()
                        .1
                        .push((shared.len() + j) as u32);
                }
            }
        }
        let order: Vec<&OutMessage> = shared.iter().chain(&single).copied().collect();
        let msgs: Arc<[bytes::Bytes]> = order.iter().map(|m| m.bytes.clone()).collect();
        let tally = |base: &Tally, skip: &[u32], extra: &[u32]| {
            let mut t = base.clone();
            for i in skip {
                t.sub(order[*i as usize]);
            }
            for i in extra {
                t.add(order[*i as usize]);
            }
            t
        };
        let n_shared = shared.len() as u32;
        for p in members.iter().flat_map(|m| m.iter()) {
            let (skip, extra) = special.remove(p).unwrap_or_default();
            let t = tally(&common, &skip, &extra);
            let batch = Batch::new(msgs.clone(), n_shared, skip, extra);
            if batch.len() > 0 {
                self.queue_batch(*p, batch, &t);
            }
        }
        // Peers outside the group's members get their own messages only.
        for (p, (_, extra)) in special {
            let t = tally(&Tally::default(), &[], &extra);
            let batch = Batch::new(msgs.clone(), 0, Vec::new(), extra);
            if batch.len() > 0 {
                self.queue_batch(p, batch, &t);
            }
        }
    }

    /// Messages queued for all peers together.
    fn backlog(&self) -> usize {
        self.queued_total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The backlog above which nothing is flushed (the peers' UPDATEs are still taken in):
    /// a quarter of every peer's queue.
    fn backlog_budget(&self) -> usize {
        self.peers.len().max(1) * (self.cfg.peer_queue_depth / 4).max(64)
    }

    /// The queue depth gauges, refreshed on the tick (not per event: that would be a walk
    /// over every peer per message).
    fn gauge_queues(&self) {
        for e in self.peers.values() {
            let depth = e.tx.max_capacity() - e.tx.capacity() + e.queued.get();
            e.queue_depth.set(depth as i64);
        }
    }

    async fn shutdown(&mut self, msg: &str) {
        info!("shutting down");
        for l in self.listeners.drain(..) {
            l.abort();
            let _ = l.await;
        }
        for e in self.peers.values() {
            let _ = e.tx.try_send(ToPeer::Stop(StopReason::admin_shutdown(msg)));
        }
        // Give the sessions a moment to send their NOTIFICATIONs.
        for (_, e) in self.peers.drain() {
            let _ = tokio::time::timeout(Duration::from_secs(2), e.task).await;
        }
        if let Some(fib) = &self.fib {
            fib.close(Duration::from_secs(30)).await;
        }
    }
}

/// Attributes of a route of our own.
fn announcement_attrs(prefix: &IpNet, a: &Announcement) -> Result<PathAttributes, SpeakerError> {
    let mut attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        local_pref: a.local_pref,
        med: a.med,
        communities: (!a.communities.is_empty()).then(|| a.communities.iter().copied().collect()),
        large_communities: (!a.large_communities.is_empty())
            .then(|| a.large_communities.iter().copied().collect()),
        ..PathAttributes::default()
    };
    match (prefix, a.next_hop) {
        (_, None) => {}
        (IpNet::V4(_), Some(IpAddr::V4(nh))) => attrs.next_hop = Some(nh),
        (IpNet::V6(_), Some(IpAddr::V6(nh))) => {
            attrs.mp_reach = Some(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: NextHop::Ipv6 {
                    global: nh,
                    link_local: None,
                },
                nlri: MpNlri::Opaque(Default::default()),
            })
        }
        _ => return Err(SpeakerError::NextHopFamily(*prefix)),
    }
    Ok(attrs)
}

/// The families of a received UPDATE with the prefixes it announces and withdraws in each.
fn update_counts(u: &bgp_core::wire::Update) -> Vec<(Family, u64, u64)> {
    fn add(out: &mut Vec<(Family, u64, u64)>, f: Family, a: usize, w: usize) {
        match out.iter_mut().find(|x| x.0 == f) {
            Some(x) => {
                x.1 += a as u64;
                x.2 += w as u64;
            }
            None => out.push((f, a as u64, w as u64)),
        }
    }
    let count = |n: &MpNlri| match n {
        MpNlri::Prefixes(p) => p.len(),
        MpNlri::Opaque(_) => 0,
    };
    let mut out = Vec::with_capacity(1);
    if !u.nlri.is_empty() || !u.withdrawn.is_empty() {
        add(
            &mut out,
            Family::IPV4_UNICAST,
            u.nlri.len(),
            u.withdrawn.len(),
        );
    }
    if let Some(m) = &u.attributes.mp_reach {
        add(&mut out, m.family, count(&m.nlri), 0);
    }
    if let Some(m) = &u.attributes.mp_unreach {
        add(&mut out, m.family, 0, count(&m.nlri));
    }
    if out.is_empty() {
        // End-of-RIB for IPv4 unicast, or attributes only.
        add(&mut out, Family::IPV4_UNICAST, 0, 0);
    }
    out
}

/// Sets the TCP-MD5 key of each dynamic range that has a password on the listeners of its
/// family.
fn range_keys(
    listen_fds: &[(std::os::fd::RawFd, bool)],
    ranges: &[DynamicPeers],
) -> Result<(), SpeakerError> {
    for d in ranges {
        let Some(pw) = &d.template.password else {
            continue;
        };
        let net = d.range.trunc();
        for (fd, v6) in listen_fds {
            if *v6 == net.addr().is_ipv6() {
                crate::sockopt::set_md5_prefix(*fd, net.addr(), net.prefix_len(), pw.0.as_bytes())
                    .map_err(|e| SpeakerError::Md5(net.addr(), e))?;
            }
        }
    }
    Ok(())
}

/// Settings a peer cannot run with, refused before anything changes.
fn validate(p: &PeerSettings) -> Result<(), SpeakerError> {
    if let Some(w) = p.error_wait
        && (w.min == 0 || w.min > w.max)
    {
        return Err(SpeakerError::InvalidPeer(
            p.address,
            "error_wait needs 0 < min <= max",
        ));
    }
    if p.password
        .as_ref()
        .is_some_and(|pw| pw.0.len() > crate::sockopt::MAX_KEY_LEN)
    {
        return Err(SpeakerError::InvalidPeer(
            p.address,
            "an MD5 password is at most 80 octets",
        ));
    }
    Ok(())
}

/// What a peer is counted as sent, by family: UPDATEs, announced and withdrawn prefixes.
#[derive(Clone, Debug, Default)]
struct Tally(Vec<(Family, [u64; 3])>);

impl Tally {
    fn of(msgs: &[OutMessage]) -> Tally {
        let mut t = Tally::default();
        for m in msgs {
            t.add(m);
        }
        t
    }

    fn slot(&mut self, f: Family) -> &mut [u64; 3] {
        let i = match self.0.iter().position(|(x, _)| *x == f) {
            Some(i) => i,
            None => {
                self.0.push((f, [0; 3]));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    fn add(&mut self, m: &OutMessage) {
        let s = self.slot(m.family);
        s[0] += 1;
        s[1] += u64::from(m.announced);
        s[2] += u64::from(m.withdrawn);
    }

    fn sub(&mut self, m: &OutMessage) {
        let s = self.slot(m.family);
        s[0] = s[0].saturating_sub(1);
        s[1] = s[1].saturating_sub(u64::from(m.announced));
        s[2] = s[2].saturating_sub(u64::from(m.withdrawn));
    }
}
