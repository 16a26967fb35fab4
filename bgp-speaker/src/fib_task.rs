//! The task that keeps the kernel in step with the best routes.
//!
//! Best-route changes are coalesced per prefix in a pending set (the latest next hops win)
//! and applied in batches, many routes per netlink datagram. A route the kernel refuses is
//! retried with backoff, and counted by kind of error.
//!
//! After a start, the routes of ours already in the kernel (from before a restart) stay
//! while the peers send their tables; once every peer has sent End-of-RIB, or the sync
//! timeout passed, the table is reconciled against the best routes: what was not learned
//! again is deleted. Nothing is flushed wholesale.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::fib::{Fib, FibConfig};

/// What the RIB task shares with the FIB task.
#[derive(Debug, Default)]
pub(crate) struct FibState {
    /// Prefix -> next hops to install (empty: delete).
    pub pending: HashMap<IpNet, Vec<IpAddr>>,
    /// The full desired table, for the reconciliation after the sync.
    pub desired: HashMap<IpNet, Vec<IpAddr>>,
    /// Set once every peer has sent End-of-RIB (or the sync timeout passed).
    pub synced: bool,
    pub counters: FibCounters,
    /// Set by a shutdown: no more writes; the task answers on the sender once done.
    pub close: Option<tokio::sync::oneshot::Sender<()>>,
    pub closed: bool,
}

/// FIB operation counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FibCounters {
    pub installed: u64,
    pub deleted: u64,
    /// Errors by kind (e.g. `errno-19`, `unreachable`).
    pub errors: HashMap<String, u64>,
    pub retries: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct FibHandle {
    pub state: Arc<Mutex<FibState>>,
    pub wake: Arc<Notify>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl FibHandle {
    /// A best-route change: the next hops of a prefix (empty: gone).
    pub(crate) fn change(&self, prefix: IpNet, next_hops: Vec<IpAddr>) {
        if let Ok(mut s) = self.state.lock() {
            if next_hops.is_empty() {
                s.desired.remove(&prefix);
            } else {
                s.desired.insert(prefix, next_hops.clone());
            }
            s.pending.insert(prefix, next_hops);
        }
        self.wake.notify_one();
    }

    /// Stops writing; with `flush_on_shutdown`, our routes are deleted first. Returns
    /// once the task is done (or after `limit`).
    pub(crate) async fn close(&self, limit: Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut s) = self.state.lock() {
            s.pending.clear();
            s.closed = true;
            s.close = Some(tx);
        }
        self.wake.notify_one();
        if tokio::time::timeout(limit, rx).await.is_err() {
            warn!("the kernel table was not done within {limit:?} of the shutdown");
        }
    }

    pub(crate) fn mark_synced(&self) {
        if let Ok(mut s) = self.state.lock()
            && !s.synced
        {
            s.synced = true;
            drop(s);
            self.wake.notify_one();
        }
    }

    pub(crate) fn counters(&self) -> FibCounters {
        self.state
            .lock()
            .map(|s| s.counters.clone())
            .unwrap_or_default()
    }
}

pub(crate) async fn start(
    cfg: FibConfig,
    sync_timeout: Duration,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<FibHandle, crate::fib::FibError> {
    let fib = Fib::new(cfg).await?;
    let h = FibHandle {
        state: Arc::default(),
        wake: Arc::new(Notify::new()),
        metrics,
    };
    let task = h.clone();
    tokio::spawn(run(fib, task.clone()));
    // The sync timeout.
    tokio::spawn(async move {
        tokio::time::sleep(sync_timeout).await;
        task.mark_synced();
    });
    Ok(h)
}

async fn run(fib: Fib, h: FibHandle) {
    let mut reconciled = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        h.wake.notified().await;
        let close = h.state.lock().ok().and_then(|mut s| s.close.take());
        if let Some(done) = close {
            if fib.flushes_on_shutdown() {
                match fib.reconcile(&HashMap::new()).await {
                    Ok((counts, report)) => {
                        info!(
                            deleted = counts.deleted,
                            "kernel routes flushed on shutdown"
                        );
                        record(&h, &report);
                    }
                    Err(e) => warn!(%e, "flush on shutdown failed"),
                }
            }
            let _ = done.send(());
            return;
        }
        loop {
            let (batch, synced, desired) = {
                let Ok(mut s) = h.state.lock() else { return };
                if s.closed {
                    // The shutdown is handled at the next wake-up.
                    break;
                }
                let batch: Vec<(IpNet, Vec<IpAddr>)> = s.pending.drain().collect();
                let desired = (!reconciled && s.synced).then(|| s.desired.clone());
                (batch, s.synced, desired)
            };
            if let Some(desired) = desired {
                match fib.reconcile(&desired).await {
                    Ok((counts, report)) => {
                        info!(?counts, "kernel routes reconciled after the initial sync");
                        record(&h, &report);
                        reconciled = true;
                    }
                    Err(e) => warn!(%e, "reconcile failed; retrying"),
                }
            }
            let _ = synced;
            if batch.is_empty() {
                break;
            }
            let report = fib.apply(&batch).await;
            let failed: Vec<IpNet> = report.errors.iter().map(|(p, _)| *p).collect();
            record(&h, &report);
            if failed.is_empty() {
                backoff = Duration::from_millis(100);
                continue;
            }
            // Retry what failed, unless a newer change replaced it meanwhile.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
            if let Ok(mut s) = h.state.lock() {
                s.counters.retries += failed.len() as u64;
                for p in failed {
                    if !s.pending.contains_key(&p) {
                        let nh = s.desired.get(&p).cloned().unwrap_or_default();
                        s.pending.insert(p, nh);
                    }
                }
            }
        }
    }
}

fn record(h: &FibHandle, r: &crate::fib::Report) {
    let m = &h.metrics;
    m.fib_operations
        .with_label_values(&["install"])
        .inc_by(r.installed as u64);
    m.fib_operations
        .with_label_values(&["delete"])
        .inc_by(r.deleted as u64);
    for (_, e) in &r.errors {
        m.fib_errors.with_label_values(&[e.kind().as_str()]).inc();
    }
    if let Ok(mut s) = h.state.lock() {
        s.counters.installed += r.installed as u64;
        s.counters.deleted += r.deleted as u64;
        for (p, e) in &r.errors {
            warn!(prefix = %p, error = %e, "kernel route");
            *s.counters.errors.entry(e.kind()).or_default() += 1;
        }
    }
}
