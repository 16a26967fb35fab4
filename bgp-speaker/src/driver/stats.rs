//! The router's per-peer counters carried into Prometheus: only the peers whose counters
//! changed, each through handles looked up once.

use std::collections::HashMap;
use std::net::IpAddr;

use bgp_core::Family;
use bgp_core::router::{FamilyCounts, PeerInfo, PeerReport, RefreshCounts, Router};
use prometheus::{IntCounter, IntGauge};

use crate::metrics::{Metrics, family_label};

/// One peer's and family's counters, in one direction.
struct Counters {
    updates: IntCounter,
    announced: IntCounter,
    withdrawn: IntCounter,
}

impl Counters {
    fn new(
        updates: &prometheus::IntCounterVec,
        prefixes: &prometheus::IntCounterVec,
        peer: &str,
        family: &str,
    ) -> Counters {
        Counters {
            updates: updates.with_label_values(&[peer, family]),
            announced: prefixes.with_label_values(&[peer, family, "announce"]),
            withdrawn: prefixes.with_label_values(&[peer, family, "withdraw"]),
        }
    }

    /// Adds what `now` counts beyond `before`.
    fn add(&self, now: &FamilyCounts, before: &FamilyCounts) {
        self.updates
            .inc_by(now.updates.saturating_sub(before.updates));
        self.announced
            .inc_by(now.announced.saturating_sub(before.announced));
        self.withdrawn
            .inc_by(now.withdrawn.saturating_sub(before.withdrawn));
    }
}

/// A peer's handles and the counters last carried over.
struct Peer {
    info: Option<PeerInfo>,
    received: HashMap<Family, (Counters, FamilyCounts)>,
    sent: HashMap<Family, (Counters, FamilyCounts)>,
    accepted: [IntGauge; 2],
    advertised: [IntGauge; 2],
    backlog: IntGauge,
    state: IntGauge,
    uptime: IntGauge,
    /// ROUTE-REFRESH counters (received, sent) and the counts last carried over.
    refresh: [([IntCounter; 3], RefreshCounts); 2],
}

impl Peer {
    fn new(label: &str, m: &Metrics) -> Peer {
        Peer {
            info: None,
            received: HashMap::new(),
            sent: HashMap::new(),
            accepted: ["ipv4-unicast", "ipv6-unicast"]
                .map(|f| m.prefixes_accepted.with_label_values(&[label, f])),
            advertised: ["ipv4-unicast", "ipv6-unicast"]
                .map(|f| m.prefixes_advertised.with_label_values(&[label, f])),
            backlog: m.queue_depth.with_label_values(&[label]),
            state: m.session_state.with_label_values(&[label]),
            uptime: m.session_uptime.with_label_values(&[label]),
            refresh: ["received", "sent"].map(|d| {
                (
                    crate::metrics::REFRESH_KINDS
                        .map(|k| m.route_refresh.with_label_values(&[label, d, k])),
                    RefreshCounts::default(),
                )
            }),
        }
    }
}

#[derive(Default)]
pub(super) struct PeerMetrics {
    peers: HashMap<IpAddr, Peer>,
}

impl PeerMetrics {
    /// Carries over the counters of the peers that changed.
    pub(super) fn sync(&mut self, router: &mut Router, m: &Metrics) {
        for r in router.take_changed_stats() {
            self.apply(&r, m);
        }
    }

    fn apply(&mut self, r: &PeerReport, m: &Metrics) {
        let label = r.address.to_string();
        let p = self
            .peers
            .entry(r.address)
            .or_insert_with(|| Peer::new(&label, m));
        for (dir, list, map) in [
            (0, &r.stats.received, &mut p.received),
            (1, &r.stats.sent, &mut p.sent),
        ] {
            for (f, now) in list {
                let (c, before) = map.entry(*f).or_insert_with(|| {
                    let fam = family_label(*f);
                    let c = if dir == 0 {
                        Counters::new(&m.updates_received, &m.prefixes_received, &label, &fam)
                    } else {
                        Counters::new(&m.updates_sent, &m.prefixes_sent, &label, &fam)
                    };
                    (c, FamilyCounts::default())
                });
                c.add(now, before);
                *before = *now;
            }
        }
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        p.accepted[0].set(gauge(r.accepted.0));
        p.accepted[1].set(gauge(r.accepted.1));
        p.advertised[0].set(gauge(r.advertised.0));
        p.advertised[1].set(gauge(r.advertised.1));
        p.backlog.set(r.backlog as i64);
        for (i, now) in [r.stats.refresh_received, r.stats.refresh_sent]
            .into_iter()
            .enumerate()
        {
            let (c, before) = &mut p.refresh[i];
            c[0].inc_by(now.request.saturating_sub(before.request));
            c[1].inc_by(now.begin.saturating_sub(before.begin));
            c[2].inc_by(now.end.saturating_sub(before.end));
            *before = now;
        }
    }

    /// A new peer: its series, at zero.
    pub(super) fn added(&mut self, info: PeerInfo, m: &Metrics) {
        m.peer_added(&info);
        let label = info.peer.to_string();
        let p = self
            .peers
            .entry(info.peer)
            .or_insert_with(|| Peer::new(&label, m));
        // A peer started again with new settings counts from zero in the router: its
        // series go on from where they were.
        for (_, before) in p.received.values_mut().chain(p.sent.values_mut()) {
            *before = FamilyCounts::default();
        }
        for (_, before) in &mut p.refresh {
            *before = RefreshCounts::default();
        }
        p.info = Some(info);
    }

    /// What changes with time rather than with events: each peer's state, uptime and queue
    /// depth (it changes with every write, which is not worth a report each).
    pub(super) fn tick(&self, router: &Router, now: std::time::Instant) {
        for (addr, state, up) in router.peer_states(now) {
            if let Some(p) = self.peers.get(&addr) {
                p.state.set(crate::metrics::state_number(state));
                p.uptime.set(up.map_or(0, |d| d.as_secs() as i64));
                if let Some(n) = router.peer_backlog(addr) {
                    p.backlog.set(n as i64);
                }
            }
        }
    }

    /// A peer is gone, and so are its series: a new one at its address counts from zero.
    pub(super) fn forget(&mut self, addr: IpAddr, m: &Metrics) {
        let Some(p) = self.peers.remove(&addr) else {
            return;
        };
        let families: Vec<String> = p
            .received
            .keys()
            .chain(p.sent.keys())
            .map(|f| family_label(*f).into_owned())
            .collect();
        if let Some(info) = &p.info {
            m.peer_removed(info, &families);
        }
    }
}
