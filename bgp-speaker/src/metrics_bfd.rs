//! BFD's metrics: each session's state and transitions, the endpoint's packets and drops,
//! and how late its timers run.

use bgp_core::bfd::{Counters, DropReason, Hop, SessionKey, State};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Drops the driver counts itself, beside the router's [`DropReason`]s.
pub(crate) const IO_DROPS: [&str; 2] = ["queue_full", "send_error"];

#[derive(Debug)]
pub struct BfdMetrics {
    /// Per session (by peer address, our address and hop kind): 0 AdminDown, 1 Down,
    /// 2 Init, 3 Up (RFC 5880's codes).
    pub session_state: IntGaugeVec,
    /// Transitions per session, by the state reached.
    pub transitions: IntCounterVec,
    /// Control packets accepted (`in`) and sent (`out`), all sessions together.
    pub packets: IntCounterVec,
    /// Packets dropped, by reason: the reception checks of RFC 5880 6.8.6 and RFC 5881/5883
    /// (`ttl`, `no_session`, `auth_failed`, ...), a full queue to the driver, a failed send.
    pub dropped: IntCounterVec,
    /// How late the BFD timers ran (from their deadline to the driver's call).
    pub timer_lateness: Histogram,
    /// The router's counters at the last sync, for the deltas.
    last: std::sync::Mutex<Counters>,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("bgp").subsystem("bfd")
}

/// The labels of a session's series.
fn labels(key: &SessionKey) -> [String; 3] {
    let hop = match key.hop {
        Hop::Single => "single-hop",
        Hop::Multi => "multihop",
    };
    [
        key.remote.to_string(),
        key.local.to_string(),
        hop.to_string(),
    ]
}

const STATES: [&str; 4] = ["admin_down", "down", "init", "up"];

fn state_label(s: State) -> &'static str {
    STATES[usize::from(s.code() & 3)]
}

impl BfdMetrics {
    pub(crate) fn register(registry: &Registry) -> BfdMetrics {
        let reg = |c: Box<dyn prometheus::core::Collector>| {
            registry.register(c).expect("unique metric");
        };
        let session = &["peer", "local", "hop"];
        let session_state = IntGaugeVec::new(
            opts("session_state", "0 AdminDown, 1 Down, 2 Init, 3 Up"),
            session,
        )
        .expect("valid metric");
        reg(Box::new(session_state.clone()));
        let transitions = IntCounterVec::new(
            opts(
                "session_transitions_total",
                "Session state changes, by the state reached",
            ),
            &["peer", "local", "hop", "to"],
        )
        .expect("valid metric");
        reg(Box::new(transitions.clone()));
        let packets = IntCounterVec::new(
            opts(
                "packets_total",
                "Control packets accepted (in) and sent (out)",
            ),
            &["direction"],
        )
        .expect("valid metric");
        reg(Box::new(packets.clone()));
        let dropped = IntCounterVec::new(
            opts(
                "packets_dropped_total",
                "Control packets dropped, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        reg(Box::new(dropped.clone()));
        let timer_lateness = Histogram::with_opts(
            HistogramOpts::new("timer_lateness_seconds", "How late BFD timers ran")
                .namespace("bgp")
                .subsystem("bfd")
                .buckets(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.3,
                ]),
        )
        .expect("valid metric");
        reg(Box::new(timer_lateness.clone()));
        for d in ["in", "out"] {
            packets.with_label_values(&[d]);
        }
        for r in DropReason::ALL {
            dropped.with_label_values(&[r.as_str()]);
        }
        for r in IO_DROPS {
            dropped.with_label_values(&[r]);
        }
        BfdMetrics {
            session_state,
            transitions,
            packets,
            dropped,
            timer_lateness,
            last: std::sync::Mutex::new(Counters::default()),
        }
    }

    /// A session changed state.
    pub(crate) fn changed(&self, key: &SessionKey, to: State) {
        let l = labels(key);
        let l = l.each_ref().map(String::as_str);
        self.session_state
            .with_label_values(&l)
            .set(i64::from(to.code()));
        self.transitions
            .with_label_values(&[l[0], l[1], l[2], state_label(to)])
            .inc();
    }

    /// A session is gone: its series too.
    pub(crate) fn removed(&self, key: &SessionKey) {
        let l = labels(key);
        let l = l.each_ref().map(String::as_str);
        let _ = self.session_state.remove_label_values(&l);
        for s in STATES {
            let _ = self.transitions.remove_label_values(&[l[0], l[1], l[2], s]);
        }
    }

    /// Follows the router's counters.
    pub(crate) fn sync(&self, now: &Counters) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let inc = |c: &IntCounterVec, l: &str, a: u64, b: u64| {
            if a > b {
                c.with_label_values(&[l]).inc_by(a - b);
            }
        };
        inc(&self.packets, "in", now.packets_in, last.packets_in);
        inc(&self.packets, "out", now.packets_out, last.packets_out);
        for r in DropReason::ALL {
            inc(
                &self.dropped,
                r.as_str(),
                now.dropped.get(r),
                last.dropped.get(r),
            );
        }
        *last = *now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_series_follow_it_and_go_with_it() {
        let m = crate::metrics::Metrics::new();
        let key = SessionKey::single_hop("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        m.bfd.changed(&key, State::Init);
        m.bfd.changed(&key, State::Up);
        let text = m.text();
        let state =
            "bgp_bfd_session_state{hop=\"single-hop\",local=\"10.0.0.1\",peer=\"10.0.0.2\"} 3";
        assert!(text.contains(state), "{text}");
        assert!(text.contains(
            "bgp_bfd_session_transitions_total{hop=\"single-hop\",local=\"10.0.0.1\",peer=\"10.0.0.2\",to=\"up\"} 1"
        ));
        // The router's counters are followed by their deltas.
        let mut c = Counters {
            packets_in: 5,
            packets_out: 7,
            ..Counters::default()
        };
        m.bfd.sync(&c);
        c.packets_in = 8;
        m.bfd.sync(&c);
        let text = m.text();
        assert!(
            text.contains("bgp_bfd_packets_total{direction=\"in\"} 8"),
            "{text}"
        );
        assert!(
            text.contains("bgp_bfd_packets_total{direction=\"out\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("bgp_bfd_packets_dropped_total{reason=\"ttl\"} 0"),
            "{text}"
        );
        m.bfd.removed(&key);
        let text = m.text();
        assert!(!text.contains("peer=\"10.0.0.2\""), "{text}");
    }
}
