//! The task that keeps the kernel in step with the best routes.
//!
//! Best-route changes are coalesced per prefix in a pending set (the latest next hops win)
//! and applied in batches, many routes per netlink datagram. A route the kernel refuses is
//! retried with backoff, and counted by kind of error.
//!
//! After a start, the routes of ours already in the kernel (from before a restart) stay
//! while the peers send their tables. Once the router says the tables have settled, the
//! driver hands over the best routes of that moment, and the kernel table is reconciled
//! against them: what was not learned again is deleted. Nothing is flushed wholesale. The
//! router's RIB is the one copy of the best routes; this task holds only what is not
//! written yet.
//!
//! The task also follows the node's addresses and links: when the connected subnets or
//! the tunnel device change, the driver hands over the best routes again and the table is
//! reconciled against them, so each route's device is decided anew (a next hop now on a
//! connected subnet leaves the tunnel; routes through a device that went are written
//! again). Routes whose device stays are not written.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::fib::{Fib, FibConfig, FibError, Report};
use super::links::LinkWatch;

/// What the driver shares with the FIB task.
#[derive(Debug, Default)]
struct FibState {
    /// Prefix -> next hops to install (empty: delete), not written yet.
    pending: HashMap<IpNet, Vec<IpAddr>>,
    /// The best routes when the tables settled, to reconcile the kernel table with once.
    reconcile: Option<HashMap<IpNet, Vec<IpAddr>>>,
    /// New blackhole prefixes, not written yet.
    blackholes: Option<Vec<IpNet>>,
    counters: FibCounters,
    /// Set by a shutdown: no more writes; the task answers on the sender once done.
    close: Option<tokio::sync::oneshot::Sender<()>>,
    closed: bool,
    /// The tables have settled once: the best routes are the whole desired table.
    settled: bool,
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
    state: Arc<Mutex<FibState>>,
    link_local: super::fib::LinkLocalDevices,
    wake: Arc<Notify>,
    /// Signalled when the addresses or links changed the device decisions: the driver
    /// answers with the best routes to reconcile against.
    relink: Arc<Notify>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl FibHandle {
    /// A best-route change: the next hops of a prefix (empty: gone).
    pub(crate) fn change(&self, prefix: IpNet, next_hops: Vec<IpAddr>) {
        if let Ok(mut s) = self.state.lock() {
            s.pending.insert(prefix, next_hops);
        }
        self.wake.notify_one();
    }

    /// The tables have settled: these are all the routes the kernel should hold. It
    /// supersedes every change handed over before.
    pub(crate) fn reconcile(&self, best: impl IntoIterator<Item = (IpNet, Vec<IpAddr>)>) {
        if let Ok(mut s) = self.state.lock() {
            s.pending.clear();
            s.reconcile = Some(best.into_iter().collect());
            s.settled = true;
        }
        self.wake.notify_one();
    }

    /// Stops writing; with `flush_on_shutdown`, our routes are deleted first. Returns
    /// once the task is done (or after `limit`).
    pub(crate) async fn close(&self, limit: Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut s) = self.state.lock() {
            s.pending.clear();
            s.reconcile = None;
            s.closed = true;
            s.close = Some(tx);
        }
        self.wake.notify_one();
        if tokio::time::timeout(limit, rx).await.is_err() {
            warn!("the kernel table was not done within {limit:?} of the shutdown");
        }
    }

    /// The blackhole routes to hold from now on (see [`FibConfig::blackholes`]).
    pub(crate) fn set_blackholes(&self, prefixes: Vec<IpNet>) {
        if let Ok(mut s) = self.state.lock() {
            s.blackholes = Some(prefixes);
        }
        self.wake.notify_one();
    }

    /// Routes through the link-local `addr` go out of device `ifindex`.
    pub(crate) fn set_link_local(&self, addr: std::net::Ipv6Addr, ifindex: u32) {
        if let Ok(mut m) = self.link_local.write() {
            m.insert(addr, ifindex);
        }
    }

    /// Whether the tables have settled (before, the kernel keeps what it has).
    pub(crate) fn settled(&self) -> bool {
        self.state.lock().map(|s| s.settled).unwrap_or(false)
    }

    /// What the task signals when the links changed (see [`FibHandle::reconcile`]).
    pub(crate) fn relink_signal(&self) -> Arc<Notify> {
        self.relink.clone()
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
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<FibHandle, FibError> {
    // Subscribed before the first read of the links: no change falls in between.
    let watch = match LinkWatch::open() {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(%e, "cannot watch addresses and links: the devices are decided on the links at the start");
            None
        }
    };
    let fib = Fib::new(cfg).await?;
    let h = FibHandle {
        link_local: fib.link_local_devices(),
        state: Arc::default(),
        wake: Arc::new(Notify::new()),
        relink: Arc::new(Notify::new()),
        metrics,
    };
    tokio::spawn(run(fib, h.clone(), watch));
    Ok(h)
}

/// The next address or link change; never, without a subscription.
async fn link_change(watch: &mut Option<LinkWatch>) {
    let Some(w) = watch else {
        return std::future::pending::<()>().await;
    };
    if !w.changed().await {
        warn!("the address and link subscription ended");
        *watch = None;
        std::future::pending::<()>().await;
    }
}

/// Re-reads the links; when the view changed, asks the driver for the table to
/// re-decide the devices against (routes whose device is unchanged are not written).
async fn relink(fib: &mut Fib, h: &FibHandle) {
    let before = fib.links();
    if let Err(e) = fib.refresh_links().await {
        warn!(%e, "cannot re-read addresses and links");
        return;
    }
    let (subnets, tunnel) = fib.links();
    if (subnets.clone(), tunnel) == before {
        return;
    }
    info!(
        subnets = subnets.len(),
        tunnel = ?tunnel,
        "addresses or links changed: re-deciding the devices of the kernel routes"
    );
    h.metrics.fib_link_changes.inc();
    h.relink.notify_one();
}

/// What the task takes at a wake-up.
enum Work {
    Close(tokio::sync::oneshot::Sender<()>),
    Blackholes(Vec<IpNet>),
    Reconcile(HashMap<IpNet, Vec<IpAddr>>),
    Apply(Vec<(IpNet, Vec<IpAddr>)>),
    Idle,
}

fn next_work(h: &FibHandle) -> Option<Work> {
    let mut s = h.state.lock().ok()?;
    if let Some(done) = s.close.take() {
        return Some(Work::Close(done));
    }
    if s.closed {
        // The shutdown is handled at the next wake-up.
        return Some(Work::Idle);
    }
    if let Some(b) = s.blackholes.take() {
        return Some(Work::Blackholes(b));
    }
    if let Some(r) = s.reconcile.take() {
        return Some(Work::Reconcile(r));
    }
    if s.pending.is_empty() {
        return Some(Work::Idle);
    }
    Some(Work::Apply(s.pending.drain().collect()))
}

async fn run(mut fib: Fib, h: FibHandle, mut watch: Option<LinkWatch>) {
    let mut backoff = Duration::from_millis(100);
    if !fib.blackholes().is_empty() {
        let report = fib.set_blackholes(fib.blackholes().to_vec()).await;
        record(&h, &report);
    }
    loop {
        tokio::select! {
            _ = h.wake.notified() => {}
            _ = link_change(&mut watch) => {
                relink(&mut fib, &h).await;
                continue;
            }
        }
        loop {
            let Some(work) = next_work(&h) else { return };
            match work {
                Work::Idle => break,
                Work::Blackholes(prefixes) => {
                    let report = fib.set_blackholes(prefixes).await;
                    for (p, e) in &report.errors {
                        warn!(prefix = %p, error = %e, "blackhole route not written");
                    }
                    record(&h, &report);
                }
                Work::Close(done) => {
                    if fib.flushes_on_shutdown() {
                        let report = fib.set_blackholes(Vec::new()).await;
                        record(&h, &report);
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
                Work::Reconcile(desired) => match fib.reconcile(&desired).await {
                    Ok((counts, report)) => {
                        info!(
                            added = counts.added,
                            replaced = counts.replaced,
                            deleted = counts.deleted,
                            unchanged = counts.unchanged,
                            "kernel routes reconciled with the best routes"
                        );
                        record(&h, &report);
                    }
                    Err(e) => {
                        warn!(%e, "reconcile failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        if let Ok(mut s) = h.state.lock()
                            && s.reconcile.is_none()
                        {
                            // Later changes go on top of it.
                            let mut again = desired;
                            for (p, nh) in s.pending.drain() {
                                if nh.is_empty() {
                                    again.remove(&p);
                                } else {
                                    again.insert(p, nh);
                                }
                            }
                            s.reconcile = Some(again);
                        }
                    }
                },
                Work::Apply(batch) => {
                    let report = fib.apply(&batch).await;
                    record(&h, &report);
                    if report.errors.is_empty() {
                        backoff = Duration::from_millis(100);
                        continue;
                    }
                    // Retry what failed, unless a newer change replaced it meanwhile.
                    let failed: HashMap<IpNet, ()> =
                        report.errors.iter().map(|(p, _)| (*p, ())).collect();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    if let Ok(mut s) = h.state.lock() {
                        s.counters.retries += failed.len() as u64;
                        for (p, nh) in batch {
                            if failed.contains_key(&p) && !s.pending.contains_key(&p) {
                                s.pending.insert(p, nh);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn record(h: &FibHandle, r: &Report) {
    let m = &h.metrics;
    m.fib_operations
        .with_label_values(&["install"])
        .inc_by(r.installed as u64);
    m.fib_operations
        .with_label_values(&["delete"])
        .inc_by(r.deleted as u64);
    for (_, e) in &r.errors {
        m.fib_errors.with_label_values(&[e.class()]).inc();
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
