//! The driver: one task that owns the [`Router`] and carries out what it asks for.
//!
//! ```text
//!   Speaker (handle) ──commands──┐
//!   kernel learner ──announce────┤
//!   listeners ──accepted─────────┤                     ┌──▶ writers ──▶ sockets
//!   connect attempts ──streams───┼──▶ driver: Router ──┼──▶ connect attempts
//!   readers ──bytes, closed──────┤                     ├──▶ kernel FIB writer
//!   writers ──written────────────┘                     └──▶ watchers, metrics
//! ```
//!
//! Each round the driver waits for one input (or the router's next deadline), takes every
//! other input at hand up to a bound, lets the router's timers run, then carries out every
//! output. It makes no protocol decision: which connection belongs to whom, what is sent,
//! when a peer is given up, all come from the router.

mod command;
mod keys;
mod stats;
mod unnumbered;
mod views;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bgp_core::router::{ConnId, Event, Input, Output, PeerSettings, RouteChange, Router};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tracing::{Instrument, warn};

pub(crate) use command::Command;
pub use unnumbered::by_interface;

use crate::config::SpeakerConfig;
use crate::error::SpeakerError;
use crate::kernel::learn::{self, Learned};
use crate::kernel::writer::{self as fib_writer, FibHandle};
use crate::metrics::Metrics;
use crate::monitor::Stations;
use crate::monitor::mrt::Mrt;
use crate::net::bfd::BfdIo;
use crate::net::conn::{self, Handle};
use crate::net::listen::{self, Accepted, ListenFd};

/// Inputs taken in one round at most, before the outputs are carried out and the timers
/// run; and the received bytes among them (a chunk read holds up to 64 KiB of UPDATEs, a
/// thousand or more): a round of work stays short, so that timers are never late by much.
const ROUND: usize = 256;
const ROUND_BYTES: usize = 1 << 20;

/// How long a shutdown waits for the NOTIFICATIONs to be written.
const SHUTDOWN_WRITE: Duration = Duration::from_secs(2);

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The handle's ends of a started driver: its commands, the route changes, the metrics.
pub(crate) type Started = (
    mpsc::Sender<Command>,
    broadcast::Sender<RouteChange>,
    Arc<Metrics>,
);

/// Binds the listeners, builds the router with the configured peers, starts the tasks.
pub(crate) async fn start(config: SpeakerConfig) -> Result<Started, SpeakerError> {
    let metrics = Arc::new(Metrics::new());
    let mut listeners = Vec::new();
    let mut fds = Vec::new();
    for addr in &config.listen {
        let l = listen::bind(*addr).map_err(|source| SpeakerError::Listen {
            addr: *addr,
            source,
        })?;
        fds.push(ListenFd::of(&l, *addr));
        listeners.push(l);
    }
    let keys = keys::Keys::new(fds);
    keys.ranges(&config.router.dynamic_peers)?;
    // Peers by interface come to the router once found.
    let mut router_config = config.router.clone();
    let (by_iface, peers): (Vec<_>, Vec<_>) = router_config.peers.drain(..).partition(by_interface);
    router_config.peers = peers;
    for p in &router_config.peers {
        keys.peer(p)?;
    }
    let fib = match &config.fib {
        Some(f) => Some(fib_writer::start(f.clone(), metrics.clone()).await?),
        None => None,
    };
    if router_config.bfd_seed == 0 {
        router_config.bfd_seed = seed();
    }
    let (mut router, errors) = Router::new(router_config, now());
    if let Some(e) = errors.into_iter().next() {
        return Err(e.into());
    }
    let (stations, want_sync) = Stations::start(&config.bmp, metrics.clone());
    let mrt = Mrt::start(config.mrt.clone(), config.router.asn, metrics.clone());
    let mut monitoring = stations.monitoring();
    monitoring.pre_policy |= mrt.wants_updates();
    router.set_monitoring(monitoring);
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (net_tx, net_rx) = mpsc::channel(1024);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let (accept_tx, accept_rx) = mpsc::channel(256);
    let (connect_tx, connect_rx) = mpsc::unbounded_channel();
    let (learn_tx, learn_rx) = mpsc::channel(256);
    let (seen_tx, seen_rx) = unnumbered::channel();
    let (bfd_tx, bfd_rx) = mpsc::channel(crate::net::bfd::QUEUE);
    // The router exists with its configured peers before the first connection is taken,
    // so that a listed peer is never taken for a dynamic one of a range holding it.
    let tasks: Vec<JoinHandle<()>> = listeners
        .into_iter()
        .map(|l| tokio::spawn(listen::accept_loop(l, accept_tx.clone(), metrics.clone())))
        .chain(config.learn.clone().map(|cfg| {
            tokio::spawn(async move {
                if let Err(e) = learn::run(cfg, learn_tx).await {
                    warn!(%e, "learning kernel routes stopped");
                }
            })
        }))
        .collect();
    let (routes, _) = broadcast::channel(4096);
    let mut driver = Driver {
        router,
        conns: HashMap::new(),
        next_conn: 0,
        keys,
        fib,
        routes: routes.clone(),
        peer_metrics: stats::PeerMetrics::default(),
        metrics: metrics.clone(),
        net_tx,
        done_tx,
        connect_tx,
        tasks,
        closing: None,
        interfaces: unnumbered::Interfaces::default(),
        seen_tx,
        stations,
        mrt,
        bfd: BfdIo::new(bfd_tx, metrics.clone()),
    };
    for p in by_iface {
        driver.add_unnumbered(p)?;
    }
    let inputs = Inputs {
        cmds: cmd_rx,
        net: net_rx,
        done: done_rx,
        accepted: accept_rx,
        connected: connect_rx,
        learned: learn_rx,
        seen: seen_rx,
        want_sync,
        bfd: bfd_rx,
    };
    // The configured peers' first outputs (their series, their first connections) before
    // the handle is returned.
    driver.perform();
    tokio::spawn(
        driver
            .run(inputs)
            .instrument(tracing::info_span!("speaker")),
    );
    Ok((cmd_tx, routes, metrics))
}

struct Driver {
    router: Router,
    conns: HashMap<ConnId, Handle>,
    next_conn: u64,
    keys: keys::Keys,
    fib: Option<FibHandle>,
    routes: broadcast::Sender<RouteChange>,
    peer_metrics: stats::PeerMetrics,
    metrics: Arc<Metrics>,
    /// For readers (bounded: a reader waits while the driver is behind).
    net_tx: mpsc::Sender<Input>,
    /// For writers' reports (never waits: they are bounded by what is in flight).
    done_tx: mpsc::UnboundedSender<Input>,
    connect_tx: mpsc::UnboundedSender<(IpAddr, std::io::Result<TcpStream>)>,
    /// Listeners and the kernel learner.
    tasks: Vec<JoinHandle<()>>,
    /// While shutting down: the writers of closing connections, to wait for.
    closing: Option<Vec<JoinHandle<()>>>,
    /// Peers by interface alone, and where their advertisers report.
    interfaces: unnumbered::Interfaces,
    seen_tx: mpsc::UnboundedSender<crate::net::nd::Seen>,
    /// BMP stations.
    stations: Stations,
    /// MRT dumps and update log.
    mrt: Mrt,
    bfd: BfdIo,
}

struct Inputs {
    cmds: mpsc::Receiver<Command>,
    net: mpsc::Receiver<Input>,
    done: mpsc::UnboundedReceiver<Input>,
    accepted: mpsc::Receiver<Accepted>,
    connected: mpsc::UnboundedReceiver<(IpAddr, std::io::Result<TcpStream>)>,
    learned: mpsc::Receiver<Learned>,
    seen: mpsc::UnboundedReceiver<crate::net::nd::Seen>,
    /// A BMP station connected and waits for the tables.
    want_sync: mpsc::UnboundedReceiver<usize>,
    bfd: mpsc::Receiver<Input>,
}

impl Driver {
    async fn run(mut self, mut i: Inputs) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let deadline = self
                .router
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let relink = self.fib.as_ref().map(FibHandle::relink_signal);
            tokio::select! {
                _ = signalled(relink.as_deref()) => self.relink_fib(),
                Some(x) = i.done.recv() => {
                    self.input(x);
                }
                Some(x) = i.net.recv() => {
                    self.input(x);
                }
                Some(x) = i.bfd.recv() => {
                    self.input(x);
                }
                Some((s, remote, local)) = i.accepted.recv() => self.accepted(s, remote, local),
                Some((peer, r)) = i.connected.recv() => self.connect_result(peer, r),
                Some(l) = i.learned.recv() => self.learned(l),
                Some(x) = i.seen.recv() => self.seen(x),
                Some(s) = i.want_sync.recv() => self.stations.sync(s, &self.router),
                c = i.cmds.recv() => match c {
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
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(far)), if deadline.is_some() => {}
                _ = tick.tick() => {
                    self.peer_metrics.tick(&self.router, now());
                    self.stations.tick(&self.router);
                    self.mrt.tick(&self.router);
                    self.metrics.bfd.sync(self.router.bfd_counters());
                    self.bfd.sweep();
                }
            }
            let wanted = self.fib.is_some() || self.routes.receiver_count() > 0;
            self.router.set_best_change_events(wanted);
            // Every BFD packet at hand before the timers: after a stall of this process, a
            // session whose packets wait in the queue must not be timed out for them.
            for _ in 0..crate::net::bfd::QUEUE {
                match i.bfd.try_recv() {
                    Ok(x) => {
                        self.input(x);
                    }
                    Err(_) => break,
                }
            }
            // Whatever else is at hand is decided before the outputs: fewer, fuller UPDATEs.
            let mut bytes = 0;
            for _ in 0..ROUND {
                // Full UPDATEs wait: they go out while the rest is decided.
                if bytes > ROUND_BYTES || self.router.flush_wanted() {
                    break;
                }
                match i.done.try_recv() {
                    Ok(x) => {
                        self.input(x);
                    }
                    Err(_) => match i.net.try_recv() {
                        Ok(x) => bytes += self.input(x),
                        Err(_) => break,
                    },
                }
            }
            // Timers due run every round, not only when nothing else is ready: under a
            // flood of input our KEEPALIVEs still go out on time. A peer whose input waits
            // in the channel is not silent: we are behind, and its hold timer restarts.
            let t = now();
            if let Some(d) = self.router.bfd_deadline().filter(|d| *d <= t) {
                self.metrics
                    .bfd
                    .timer_lateness
                    .observe((t - d).as_secs_f64());
            }
            let conns = &self.conns;
            self.router
                .handle_timeout_with(t, |c| conns.get(&c).is_some_and(|h| h.pending()));
            self.perform();
            self.peer_metrics.sync(&mut self.router, &self.metrics);
        }
    }

    /// Hands an input to the router; returns the bytes it carried.
    fn input(&mut self, x: Input) -> usize {
        let n = match &x {
            Input::Received { conn, bytes } => {
                if let Some(h) = self.conns.get(conn) {
                    h.taken();
                }
                bytes.len()
            }
            Input::Closed { conn } => {
                if let Some(h) = self.conns.remove(conn) {
                    drop(h.close());
                }
                0
            }
            _ => 0,
        };
        self.router.handle(now(), x);
        n
    }

    fn conn_id(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    fn accepted(&mut self, s: TcpStream, remote: SocketAddr, local: SocketAddr) {
        self.accepting(remote);
        let conn = self.conn_id();
        self.conns
            .insert(conn, Handle::new(s, conn, self.done_tx.clone()));
        self.router.handle(
            now(),
            Input::Accepted {
                conn,
                remote,
                local,
            },
        );
    }

    fn connect_result(&mut self, peer: IpAddr, r: std::io::Result<TcpStream>) {
        let stream = match r {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection failed");
                self.router.handle(now(), Input::ConnectFailed { peer });
                return;
            }
        };
        let Ok(local) = stream.local_addr() else {
            self.router.handle(now(), Input::ConnectFailed { peer });
            return;
        };
        let conn = self.conn_id();
        let mut h = Handle::new(stream, conn, self.done_tx.clone());
        h.read(conn, self.net_tx.clone());
        self.conns.insert(conn, h);
        self.router
            .handle(now(), Input::Connected { peer, conn, local });
    }

    fn learned(&mut self, l: Learned) {
        match l {
            Learned::Announce(p, a) => {
                if let Err(e) = self.router.announce(p, &a) {
                    warn!(prefix = %p, %e, "kernel route not announced");
                }
            }
            Learned::Withdraw(p) => self.router.withdraw(p),
        }
    }

    /// Carries out every output of the router.
    fn perform(&mut self) {
        let t = now();
        while let Some(o) = self.router.poll_output(t) {
            match o {
                Output::Connect { peer, transport } => {
                    let tx = self.connect_tx.clone();
                    tokio::spawn(async move {
                        let r = conn::connect(&transport).await;
                        let _ = tx.send((peer, r));
                    });
                }
                Output::Attached { conn, transport } => {
                    if let Some(h) = self.conns.get_mut(&conn) {
                        if let Some(r) = &h.unread
                            && let Err(e) = conn::prepare_accepted(r, &transport)
                        {
                            warn!(peer = %transport.remote, %e, "TTL settings on an accepted connection");
                        }
                        h.read(conn, self.net_tx.clone());
                    }
                }
                Output::Transmit { conn, messages } => {
                    if let Some(h) = self.conns.get(&conn) {
                        let _ = h.writer.send(conn::ToWriter::Write(messages));
                    }
                }
                Output::Close { conn } => {
                    if let Some(h) = self.conns.remove(&conn) {
                        let w = h.close();
                        if let Some(c) = &mut self.closing {
                            c.push(w);
                        }
                    }
                }
                Output::BfdTransmit {
                    local,
                    source_port,
                    to,
                    ttl,
                    bytes,
                    ..
                } => self.bfd.send(local, source_port, to, ttl, &bytes),
                Output::Event(e) => self.event(e),
                Output::Monitor(mut m) => {
                    crate::monitor::stamp(&mut m, std::time::SystemTime::now());
                    let m = Arc::new(m);
                    self.stations.send(&m);
                    self.mrt.message(&m);
                }
            }
        }
        // Best-path changes need not come as events (none are asked for without a FIB or
        // a subscriber), so the gauge follows the router's count after every round.
        self.metrics
            .best_routes
            .set(self.router.best_count() as i64);
    }

    fn event(&mut self, e: Event) {
        let m = &self.metrics;
        match e {
            Event::PeerAdded(info) => self.peer_metrics.added(info, m),
            Event::PeerUp { peer } => {
                self.link_local_up(peer);
                let label = peer.to_string();
                m.session_up.with_label_values(&[label.as_str()]).set(1);
                m.session_state.with_label_values(&[label.as_str()]).set(6);
                m.session_transitions
                    .with_label_values(&[label.as_str(), "established"])
                    .inc();
            }
            Event::PeerDown {
                peer, configured, ..
            } => {
                let label = peer.to_string();
                m.session_up.with_label_values(&[label.as_str()]).set(0);
                m.session_uptime.with_label_values(&[label.as_str()]).set(0);
                if !configured {
                    m.session_transitions
                        .with_label_values(&[label.as_str(), "down"])
                        .inc();
                }
            }
            Event::PeerRemoved { peer } => self.peer_metrics.forget(peer, m),
            Event::BestChanged(c) => {
                // A shutdown ends the sessions, and their routes leave the RIB; the
                // kernel keeps them (forwarding goes on across a restart).
                let fib = self.fib.as_ref().filter(|_| self.closing.is_none());
                if let Some(fib) = fib {
                    // Our own routes are the node's business (its block is routed
                    // locally): only learned ones go into the kernel.
                    let nh = if c.from.is_some() {
                        c.next_hops.clone()
                    } else {
                        Vec::new()
                    };
                    fib.change(c.prefix, nh);
                }
                // No subscriber is fine.
                let _ = self.routes.send(c);
            }
            Event::RoutesSettled => self.reconcile_fib(),
            Event::QueueOverflow { peer } => {
                m.queue_overflows
                    .with_label_values(&[peer.to_string().as_str()])
                    .inc();
            }
            Event::Refused { .. } => m.connections_refused.inc(),
            Event::BfdChanged { key, to, .. } => m.bfd.changed(&key, to),
            Event::BfdRemoved { key } => m.bfd.removed(&key),
        }
    }

    /// Hands the kernel writer every learned best route, to reconcile the table against.
    fn reconcile_fib(&self) {
        if let Some(fib) = &self.fib {
            let best = self
                .router
                .best_routes()
                .into_iter()
                .filter(|r| r.from.is_some())
                .map(|r| (r.prefix, r.next_hops));
            fib.reconcile(best);
        }
    }

    /// The links changed: the devices of the routes are decided again, against the whole
    /// table (the kernel drops routes through a device that goes). Before the tables
    /// settle, the settling reconcile does it.
    fn relink_fib(&self) {
        if self.closing.is_none() && self.fib.as_ref().is_some_and(FibHandle::settled) {
            self.reconcile_fib();
        }
    }

    fn command(&mut self, c: Command) {
        let t = now();
        let r = &mut self.router;
        match c {
            Command::Announce(prefix, a, done) => {
                let _ = done.send(r.announce(prefix, &a).map_err(Into::into));
            }
            Command::Withdraw(prefix, done) => {
                r.withdraw(prefix);
                let _ = done.send(());
            }
            Command::AddPeer(p, done) if by_interface(&p) => {
                let _ = done.send(self.add_unnumbered(p));
            }
            Command::AddPeer(p, done) => {
                let _ = done.send(self.add_peer(p));
            }
            Command::RemoveInterfacePeer(name, done) => {
                let _ = done.send(self.remove_unnumbered(&name));
            }
            Command::UpdatePeer(p, done) if by_interface(&p) => {
                let _ = done.send(self.update_unnumbered(p));
            }
            Command::RemovePeer(addr, done) if self.interfaces.interface_of(addr).is_some() => {
                let name = self
                    .interfaces
                    .interface_of(addr)
                    .unwrap_or_default()
                    .to_owned();
                let _ = done.send(self.remove_unnumbered(&name));
            }
            Command::RemovePeer(addr, done) => {
                let had_key = r.peer_settings(addr).is_some_and(|p| p.password.is_some());
                let res = r.remove_peer(t, addr).map_err(SpeakerError::from);
                if res.is_ok() && had_key {
                    self.keys.clear(addr);
                }
                let _ = done.send(res);
            }
            Command::UpdatePeer(p, done) => {
                let _ = done.send(self.update_peer(p));
            }
            Command::PeerDown(addr, stay_down, message, done) => {
                let res = if stay_down {
                    r.shutdown_peer(t, addr, &message)
                } else {
                    r.reset_peer(t, addr, &message)
                };
                let _ = done.send(res.map_err(Into::into));
            }
            Command::SetDynamic(ranges, done) => {
                // Keys for the new ranges' signed SYNs (old range keys stay until a
                // restart: the kernel has no call to list them).
                let res = self
                    .keys
                    .ranges(&ranges)
                    .and_then(|()| r.set_dynamic_peers(t, ranges).map_err(Into::into));
                let _ = done.send(res);
            }
            Command::Detail(q, done) => {
                let _ = done.send(views::route_details(r, &q));
            }
            Command::PeerTable(peer, t, done) => {
                let _ = done.send(views::peer_table(r, peer, t));
            }
            Command::Summary(done) => {
                let _ = done.send(r.summary());
            }
            Command::Peers(done) => {
                let mut peers = r.peers(t);
                peers.extend(self.interfaces.waiting(r.config().asn));
                let _ = done.send(peers);
            }
            Command::Refresh(addr, done) => {
                let _ = done.send(r.refresh(t, addr).map_err(Into::into));
            }
            Command::Routes(done) => {
                let _ = done.send(r.best_routes());
            }
            Command::FibCounters(done) => {
                let _ = done.send(self.fib.as_ref().map(FibHandle::counters));
            }
            Command::SetBlackholes(prefixes, done) => {
                if let Some(fib) = &self.fib {
                    fib.set_blackholes(prefixes);
                }
                let _ = done.send(());
            }
            Command::Shutdown(..) => {}
        }
    }

    /// A new peer: its listener key first (a connection it opens must be answered signed).
    fn add_peer(&mut self, p: PeerSettings) -> Result<(), SpeakerError> {
        let addr = p.address;
        if self
            .router
            .peers(now())
            .iter()
            .any(|s| s.address == addr && !s.dynamic)
        {
            return Err(SpeakerError::DuplicatePeer(addr));
        }
        p.validate()
            .map_err(|why| SpeakerError::InvalidPeer(addr, why))?;
        self.keys.peer(&p)?;
        let has_key = p.password.is_some();
        let r = self.router.add_peer(now(), p).map_err(SpeakerError::from);
        if r.is_err() && has_key {
            self.keys.clear(addr);
        }
        r
    }

    fn update_peer(
        &mut self,
        p: PeerSettings,
    ) -> Result<bgp_core::router::PeerUpdate, SpeakerError> {
        let old = self.router.peer_settings(p.address).cloned();
        let key_changed = old.as_ref().is_some_and(|o| o.password != p.password);
        if key_changed {
            p.validate()
                .map_err(|why| SpeakerError::InvalidPeer(p.address, why))?;
            self.keys.peer(&p)?;
            if p.password.is_none() {
                self.keys.clear(p.address);
            }
        }
        let r = self.router.update_peer(now(), p.clone());
        if r.is_err()
            && key_changed
            && let Some(o) = &old
        {
            // The peer stays as it was, key included.
            if o.password.is_some() {
                let _ = self.keys.peer(o);
            } else {
                self.keys.clear(o.address);
            }
        }
        r.map_err(Into::into)
    }

    async fn shutdown(&mut self, msg: &str) {
        tracing::info!("shutting down");
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        self.closing = Some(Vec::new());
        self.router.shutdown(now(), msg);
        self.perform();
        // The stations hear of the sessions' ends, then Termination.
        self.stations.close(SHUTDOWN_WRITE).await;
        self.mrt.close();
        // Give the sessions a moment to send their NOTIFICATIONs.
        let mut writers = self.closing.take().unwrap_or_default();
        writers.extend(self.conns.drain().map(|(_, h)| h.close()));
        let _ = tokio::time::timeout(SHUTDOWN_WRITE, async {
            for w in writers {
                let _ = w.await;
            }
        })
        .await;
        if let Some(fib) = &self.fib {
            fib.close(Duration::from_secs(30)).await;
        }
    }
}

/// Waits for `n`, or forever without one.
async fn signalled(n: Option<&tokio::sync::Notify>) {
    match n {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// A seed from the OS for the BFD endpoint (discriminators, source ports, jitter), from
/// the per-process keys of the standard library's hasher.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() | 1
}

fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3600)
}
