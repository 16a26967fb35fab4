//! Prometheus metrics of one speaker, in a registry of its own (no global state).

use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

/// The speaker's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// 1 while the session with the peer is Established.
    pub session_up: IntGaugeVec,
    /// Session transitions to `established` and `down`.
    pub session_transitions: IntCounterVec,
    /// UPDATE messages per peer and family.
    pub updates_received: IntCounterVec,
    pub updates_sent: IntCounterVec,
    /// Prefixes per peer, family and kind (`announce` or `withdraw`).
    pub prefixes_received: IntCounterVec,
    pub prefixes_sent: IntCounterVec,
    /// Routes accepted from the peer (after import policy), per family.
    pub prefixes_accepted: IntGaugeVec,
    /// Messages waiting in the peer's queue.
    pub queue_depth: IntGaugeVec,
    /// Times the peer's queue overflowed (the peer is then re-synchronized).
    pub queue_overflows: IntCounterVec,
    /// Prefixes with a best route.
    pub best_routes: IntGauge,
    /// Kernel routes installed and deleted.
    pub fib_operations: IntCounterVec,
    /// Kernel route errors by kind.
    pub fib_errors: IntCounterVec,
    /// Failed accepts on the listeners, by error (the accept loop pauses after each).
    pub accept_errors: IntCounterVec,
    /// Connections refused: from no peer's address, or to a full range.
    pub connections_refused: prometheus::IntCounter,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("bgp")
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let registry = Registry::new();
        let peer = &["peer"];
        let peer_family = &["peer", "family"];
        let peer_family_kind = &["peer", "family", "kind"];
        // The names are constants: registering them cannot fail.
        let gv = |n: &str, h: &str, l: &[&str]| {
            let m = IntGaugeVec::new(opts(n, h), l).expect("valid metric");
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
            m
        };
        let cv = |n: &str, h: &str, l: &[&str]| {
            let m = IntCounterVec::new(opts(n, h), l).expect("valid metric");
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
            m
        };
        let best_routes = IntGauge::with_opts(opts("best_routes", "Prefixes with a best route"))
            .expect("valid metric");
        registry
            .register(Box::new(best_routes.clone()))
            .expect("unique metric");
        Metrics {
            session_up: gv("session_up", "1 while the session is Established", peer),
            session_transitions: cv(
                "session_transitions_total",
                "Session transitions",
                &["peer", "to"],
            ),
            updates_received: cv(
                "updates_received_total",
                "UPDATE messages received",
                peer_family,
            ),
            updates_sent: cv("updates_sent_total", "UPDATE messages sent", peer_family),
            prefixes_received: cv(
                "prefixes_received_total",
                "Prefixes received, announced or withdrawn",
                peer_family_kind,
            ),
            prefixes_sent: cv(
                "prefixes_sent_total",
                "Prefixes sent, announced or withdrawn",
                peer_family_kind,
            ),
            prefixes_accepted: gv(
                "prefixes_accepted",
                "Routes accepted from the peer",
                peer_family,
            ),
            queue_depth: gv("peer_queue_depth", "Messages queued for the peer", peer),
            queue_overflows: cv(
                "peer_queue_overflows_total",
                "Times a peer's queue overflowed",
                peer,
            ),
            best_routes,
            fib_operations: cv(
                "fib_operations_total",
                "Kernel routes installed and deleted",
                &["op"],
            ),
            fib_errors: cv("fib_errors_total", "Kernel route errors", &["kind"]),
            accept_errors: cv(
                "accept_errors_total",
                "Failed accepts on the listeners",
                &["kind"],
            ),
            connections_refused: {
                let c = prometheus::IntCounter::with_opts(opts(
                    "connections_refused_total",
                    "Connections refused (no peer, or a full range)",
                ))
                .expect("valid metric");
                registry
                    .register(Box::new(c.clone()))
                    .expect("unique metric");
                c
            },
            registry,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn text(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The registry, to serve or to merge into another.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

pub(crate) use bgp_core::router::family_label;
