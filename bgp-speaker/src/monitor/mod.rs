//! Monitoring: BMP stations (RFC 7854) fed from the router's monitoring outputs.
//!
//! The driver hands each BMP message, stamped with the time, to every station that asked
//! for its kind ([`Stations::send`]); a station's task encodes and writes it (see `bmp`).
//! Each station has a bounded queue: when it is full the station is out of sync, its
//! queue is dropped and, once it has reconnected, it is sent the tables again
//! ([`Router::monitor_snapshot`]). Nothing grows without bound.

pub(crate) mod bmp;
pub(crate) mod mrt;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bgp_core::bmp::{BmpMessage, PeerHeader, peer_flags, peer_type};
use bgp_core::router::{Monitoring, Router};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::metrics::Metrics;

/// One BMP station to export to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmpConfig {
    pub station: SocketAddr,
    /// What it is sent: pre-policy, post-policy, Loc-RIB.
    pub monitoring: Monitoring,
    /// Seconds between Statistics Reports; none: no reports.
    pub statistics_interval: Option<Duration>,
    /// The Initiation's sysName and sysDescr.
    pub sys_name: String,
    pub sys_descr: String,
    /// Messages queued for the station at most; past that it is re-synchronized.
    pub queue: usize,
    /// The wait before connecting again: from the first, doubled per failure up to the
    /// second.
    pub retry: (Duration, Duration),
}

impl BmpConfig {
    /// A station sent the pre- and post-policy tables, with a report a minute.
    pub fn new(station: SocketAddr) -> BmpConfig {
        BmpConfig {
            station,
            monitoring: Monitoring {
                pre_policy: true,
                post_policy: true,
                loc_rib: false,
                adj_rib_out: false,
            },
            statistics_interval: Some(Duration::from_secs(60)),
            sys_name: String::new(),
            sys_descr: concat!("bgp-rs ", env!("CARGO_PKG_VERSION")).into(),
            queue: 65_536,
            retry: (Duration::from_secs(1), Duration::from_secs(60)),
        }
    }
}

/// What the driver sends a station's task.
#[derive(Debug)]
pub(crate) enum ToStation {
    /// The tables, after a (re)connection: what came before it is stale.
    Snapshot(Vec<BmpMessage>),
    Message(Arc<BmpMessage>),
    /// Say goodbye (Termination) and stop.
    Terminate,
}

struct Station {
    cfg: Arc<BmpConfig>,
    tx: mpsc::Sender<ToStation>,
    /// Connected and in sync: messages are queued for it. Cleared by the driver when its
    /// queue is full and by the task when the connection is lost.
    live: Arc<AtomicBool>,
    label: String,
    next_stats: Option<Instant>,
    task: JoinHandle<()>,
}

/// The driver's side of the stations.
pub(crate) struct Stations {
    list: Vec<Station>,
    metrics: Arc<Metrics>,
}

impl Stations {
    /// Starts a task per station; the receiver names (by index) a station that connected
    /// and waits for the tables ([`Stations::sync`]).
    pub(crate) fn start(
        cfgs: &[BmpConfig],
        metrics: Arc<Metrics>,
    ) -> (Stations, mpsc::UnboundedReceiver<usize>) {
        let (sync_tx, want_sync) = mpsc::unbounded_channel();
        let list = cfgs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let cfg = Arc::new(c.clone());
                let (tx, rx) = mpsc::channel(cfg.queue.max(1));
                let live = Arc::new(AtomicBool::new(false));
                let label = c.station.to_string();
                metrics.station_added(&label);
                let task = tokio::spawn(bmp::run(bmp::Task {
                    cfg: cfg.clone(),
                    index: i,
                    rx,
                    live: live.clone(),
                    want_sync: sync_tx.clone(),
                    metrics: metrics.clone(),
                    label: label.clone(),
                }));
                Station {
                    next_stats: cfg.statistics_interval.map(|d| Instant::now() + d),
                    cfg,
                    tx,
                    live,
                    label,
                    task,
                }
            })
            .collect();
        (Stations { list, metrics }, want_sync)
    }

    /// What the router is to report: all that any station asks for.
    pub(crate) fn monitoring(&self) -> Monitoring {
        self.list
            .iter()
            .fold(Monitoring::default(), |a, s| Monitoring {
                pre_policy: a.pre_policy || s.cfg.monitoring.pre_policy,
                post_policy: a.post_policy || s.cfg.monitoring.post_policy,
                loc_rib: a.loc_rib || s.cfg.monitoring.loc_rib,
                adj_rib_out: a.adj_rib_out || s.cfg.monitoring.adj_rib_out,
            })
    }

    /// A router output, to every station in sync that asked for its kind.
    pub(crate) fn send(&mut self, m: &Arc<BmpMessage>) {
        for s in &self.list {
            if !wanted(&s.cfg.monitoring, m) {
                continue;
            }
            if !s.live.load(Ordering::Acquire) {
                continue;
            }
            if s.tx.try_send(ToStation::Message(m.clone())).is_err() {
                // Full: the station is out of sync. Its task drops the queue,
                // reconnects and is sent the tables again.
                s.live.store(false, Ordering::Release);
                warn!(station = %s.label, queue = s.cfg.queue, "BMP station queue full: dropped, to resynchronize");
                self.metrics
                    .bmp_dropped
                    .with_label_values(&[s.label.as_str()])
                    .inc();
                self.metrics
                    .bmp_resyncs
                    .with_label_values(&[s.label.as_str()])
                    .inc();
            }
        }
    }

    /// A station connected: it is sent the tables and is in sync from then on.
    pub(crate) fn sync(&mut self, i: usize, router: &Router) {
        let Some(s) = self.list.get(i) else { return };
        let t = SystemTime::now();
        let snapshot: Vec<BmpMessage> = router
            .monitor_snapshot()
            .into_iter()
            .filter(|m| wanted(&s.cfg.monitoring, m))
            .map(|mut m| {
                stamp(&mut m, t);
                m
            })
            .collect();
        if s.tx.try_send(ToStation::Snapshot(snapshot)).is_ok() {
            s.live.store(true, Ordering::Release);
        }
    }

    /// Statistics Reports to the stations whose interval is over.
    pub(crate) fn tick(&mut self, router: &Router) {
        let now = Instant::now();
        let due = self
            .list
            .iter()
            .any(|s| s.next_stats.is_some_and(|t| t <= now));
        if !due {
            return;
        }
        let t = SystemTime::now();
        let reports: Vec<Arc<BmpMessage>> = router
            .monitor_statistics()
            .into_iter()
            .map(|mut m| {
                stamp(&mut m, t);
                Arc::new(m)
            })
            .collect();
        for s in &mut self.list {
            let (Some(at), Some(every)) = (s.next_stats, s.cfg.statistics_interval) else {
                continue;
            };
            if at > now {
                continue;
            }
            s.next_stats = Some(now + every);
            if !s.live.load(Ordering::Acquire) {
                continue;
            }
            for r in &reports {
                if wanted(&s.cfg.monitoring, r) {
                    // A report that does not fit is skipped: the next one says the same.
                    let _ = s.tx.try_send(ToStation::Message(r.clone()));
                }
            }
        }
    }

    /// Terminations, then the tasks end (waiting at most `wait` for them).
    pub(crate) async fn close(&mut self, wait: Duration) {
        let tasks: Vec<_> = self
            .list
            .drain(..)
            .map(|s| {
                let tx = s.tx;
                async move {
                    let _ = tokio::time::timeout(wait, async {
                        let _ = tx.send(ToStation::Terminate).await;
                        let _ = s.task.await;
                    })
                    .await;
                }
            })
            .collect();
        futures::future::join_all(tasks).await;
    }
}

/// Whether a station monitoring `m` takes the message.
fn wanted(m: &Monitoring, msg: &BmpMessage) -> bool {
    let peer: &PeerHeader = match msg {
        BmpMessage::RouteMonitoring { peer, .. } => {
            return if peer.peer_type == peer_type::LOC_RIB {
                m.loc_rib
            } else if peer.flags & peer_flags::O != 0 {
                m.adj_rib_out
            } else if peer.flags & peer_flags::L != 0 {
                m.post_policy
            } else {
                m.pre_policy
            };
        }
        BmpMessage::PeerUp(u) => &u.peer,
        BmpMessage::PeerDown { peer, .. } | BmpMessage::StatisticsReport { peer, .. } => peer,
        BmpMessage::Initiation(_) | BmpMessage::Termination(_) => return true,
    };
    if peer.peer_type == peer_type::LOC_RIB {
        m.loc_rib
    } else {
        m.sessions()
    }
}

/// Sets the per-peer header's time.
pub(crate) fn stamp(m: &mut BmpMessage, t: SystemTime) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let peer = match m {
        BmpMessage::RouteMonitoring { peer, .. }
        | BmpMessage::StatisticsReport { peer, .. }
        | BmpMessage::PeerDown { peer, .. } => peer,
        BmpMessage::PeerUp(u) => &mut u.peer,
        BmpMessage::Initiation(_) | BmpMessage::Termination(_) => return,
    };
    peer.seconds = d.as_secs() as u32;
    peer.micros = d.subsec_micros();
}
