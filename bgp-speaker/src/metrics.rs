//! Prometheus metrics of one speaker, in a registry of its own (no global state).
//!
//! A peer's series exist from the moment it is added (counters at zero) until it is
//! removed, so that a dashboard sees a new peer at once and a removed one (a node that left
//! a range) leaves no stale series behind.

use bgp_core::router::PeerInfo;
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The speaker's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// 1 while the session with the peer is Established.
    pub session_up: IntGaugeVec,
    /// The FSM state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established.
    pub session_state: IntGaugeVec,
    /// Seconds the session has been Established (0 while down).
    pub session_uptime: IntGaugeVec,
    /// Session transitions to `established` and `down` (downs the configuration caused, a
    /// changed or removed peer, are not counted).
    pub session_transitions: IntCounterVec,
    /// 1 per peer, labelled with its AS, type and role.
    pub peer_info: IntGaugeVec,
    /// UPDATE messages per peer and family.
    pub updates_received: IntCounterVec,
    pub updates_sent: IntCounterVec,
    /// Prefixes per peer, family and kind (`announce` or `withdraw`).
    pub prefixes_received: IntCounterVec,
    pub prefixes_sent: IntCounterVec,
    /// Routes accepted from the peer (after import policy), per family.
    pub prefixes_accepted: IntGaugeVec,
    /// Routes the peer is sent (its Adj-RIB-Out), per family.
    pub prefixes_advertised: IntGaugeVec,
    /// Messages waiting in the peer's queue.
    pub queue_depth: IntGaugeVec,
    /// Times the peer's queue overflowed (the peer is then re-synchronized).
    pub queue_overflows: IntCounterVec,
    /// ROUTE-REFRESH messages per peer, direction (`received`, `sent`) and kind
    /// (`request`, `begin`, `end`: RFC 7313's BoRR and EoRR).
    pub route_refresh: IntCounterVec,
    /// Prefixes with a best route.
    pub best_routes: IntGauge,
    /// Kernel routes installed and deleted.
    pub fib_operations: IntCounterVec,
    /// Kernel route errors by kind (`kernel`, `unreachable`, `no-tunnel`, `netlink`,
    /// `socket`).
    pub fib_errors: IntCounterVec,
    /// Failed accepts on the listeners, by error (the accept loop pauses after each).
    pub accept_errors: IntCounterVec,
    /// Connections refused: from no peer's address, or to a full range.
    pub connections_refused: IntCounter,
    /// Address or link changes that changed the FIB's view (connected subnets, tunnel
    /// device), each followed by a re-decision of the devices of the kernel routes.
    pub fib_link_changes: IntCounter,
    /// 1 while the BMP station is connected and in sync, per station.
    pub bmp_station_up: IntGaugeVec,
    /// BMP messages written to the station.
    pub bmp_messages: IntCounterVec,
    /// BMP messages dropped (the station's queue was full, or it was not connected).
    pub bmp_dropped: IntCounterVec,
    /// Times the station was given the tables again after its queue overflowed.
    pub bmp_resyncs: IntCounterVec,
    /// Connections made to the station.
    pub bmp_connects: IntCounterVec,
    /// MRT records written, per file (`updates`, `table`).
    pub mrt_records: IntCounterVec,
    /// MRT records (or whole table dumps) dropped: the writer was behind.
    pub mrt_dropped: IntCounterVec,
    /// MRT files that could not be opened or written.
    pub mrt_errors: IntCounterVec,
    /// BFD sessions, packets and timers.
    pub bfd: crate::metrics_bfd::BfdMetrics,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("bgp")
}

/// The families whose per-peer series are made with the peer.
const FAMILIES: [&str; 2] = ["ipv4-unicast", "ipv6-unicast"];

/// The kinds of ROUTE-REFRESH messages.
pub(crate) const REFRESH_KINDS: [&str; 3] = ["request", "begin", "end"];

/// The kinds of FIB errors (see [`Metrics::fib_errors`]).
pub(crate) const FIB_ERROR_KINDS: [&str; 5] =
    ["kernel", "unreachable", "no-tunnel", "netlink", "socket"];

/// The kinds of accept errors counted on their own; the rest are `other`.
pub(crate) const ACCEPT_ERROR_KINDS: [&str; 5] = ["emfile", "enfile", "enobufs", "enomem", "other"];

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
        let connections_refused = IntCounter::with_opts(opts(
            "connections_refused_total",
            "Connections refused (no peer, or a full range)",
        ))
        .expect("valid metric");
        registry
            .register(Box::new(connections_refused.clone()))
            .expect("unique metric");
        let fib_link_changes = IntCounter::with_opts(opts(
            "fib_link_changes_total",
            "Address or link changes that re-decided the devices of kernel routes",
        ))
        .expect("valid metric");
        registry
            .register(Box::new(fib_link_changes.clone()))
            .expect("unique metric");
        let build = gv(
            "build_info",
            "The build: 1, labelled with the version",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        // CPU, memory, file descriptors and threads of the process.
        let _ = registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        let m = Metrics {
            session_up: gv("session_up", "1 while the session is Established", peer),
            session_state: gv(
                "session_state",
                "FSM state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established",
                peer,
            ),
            session_uptime: gv(
                "session_uptime_seconds",
                "Seconds the session has been Established (0 while down)",
                peer,
            ),
            session_transitions: cv(
                "session_transitions_total",
                "Session transitions (not counting downs a configuration change caused)",
                &["peer", "to"],
            ),
            peer_info: gv(
                "peer_info",
                "1 per peer, with its AS, type and role",
                &["peer", "asn", "type", "rr_client", "dynamic"],
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
            prefixes_advertised: gv(
                "prefixes_advertised",
                "Routes the peer is sent",
                peer_family,
            ),
            queue_depth: gv("peer_queue_depth", "Messages queued for the peer", peer),
            queue_overflows: cv(
                "peer_queue_overflows_total",
                "Times a peer's queue overflowed",
                peer,
            ),
            route_refresh: cv(
                "route_refresh_total",
                "ROUTE-REFRESH messages (requests, BoRR, EoRR)",
                &["peer", "direction", "kind"],
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
            connections_refused,
            fib_link_changes,
            bmp_station_up: gv(
                "bmp_station_up",
                "1 while the BMP station is connected and in sync",
                &["station"],
            ),
            bmp_messages: cv(
                "bmp_messages_sent_total",
                "BMP messages written to the station",
                &["station"],
            ),
            bmp_dropped: cv(
                "bmp_messages_dropped_total",
                "BMP messages dropped: the station's queue was full",
                &["station"],
            ),
            bmp_resyncs: cv(
                "bmp_resyncs_total",
                "Times the BMP station was sent the tables again after an overflow",
                &["station"],
            ),
            bmp_connects: cv(
                "bmp_connects_total",
                "Connections made to the BMP station",
                &["station"],
            ),
            mrt_records: cv("mrt_records_total", "MRT records written", &["file"]),
            mrt_dropped: cv(
                "mrt_dropped_total",
                "MRT records or table dumps dropped: the writer was behind",
                &["file"],
            ),
            mrt_errors: cv(
                "mrt_errors_total",
                "MRT files not opened or written",
                &["file"],
            ),
            bfd: crate::metrics_bfd::BfdMetrics::register(&registry),
            registry,
        };
        for op in ["install", "delete"] {
            m.fib_operations.with_label_values(&[op]);
        }
        for k in FIB_ERROR_KINDS {
            m.fib_errors.with_label_values(&[k]);
        }
        for k in ACCEPT_ERROR_KINDS {
            m.accept_errors.with_label_values(&[k]);
        }
        m
    }

    /// A BMP station's series, at zero.
    pub(crate) fn station_added(&self, station: &str) {
        self.bmp_station_up.with_label_values(&[station]).set(0);
        self.bmp_messages.with_label_values(&[station]);
        self.bmp_dropped.with_label_values(&[station]);
        self.bmp_resyncs.with_label_values(&[station]);
        self.bmp_connects.with_label_values(&[station]);
    }

    /// A new peer's series, at zero.
    pub(crate) fn peer_added(&self, p: &PeerInfo) {
        let peer = p.peer.to_string();
        let peer = peer.as_str();
        self.session_up.with_label_values(&[peer]).set(0);
        self.session_state.with_label_values(&[peer]).set(1);
        self.session_uptime.with_label_values(&[peer]).set(0);
        for to in ["established", "down"] {
            self.session_transitions.with_label_values(&[peer, to]);
        }
        self.peer_info
            .with_label_values(&info_labels(p).each_ref().map(String::as_str))
            .set(1);
        for f in FAMILIES {
            self.updates_received.with_label_values(&[peer, f]);
            self.updates_sent.with_label_values(&[peer, f]);
            for k in ["announce", "withdraw"] {
                self.prefixes_received.with_label_values(&[peer, f, k]);
                self.prefixes_sent.with_label_values(&[peer, f, k]);
            }
            self.prefixes_accepted.with_label_values(&[peer, f]).set(0);
            self.prefixes_advertised
                .with_label_values(&[peer, f])
                .set(0);
        }
        self.queue_depth.with_label_values(&[peer]).set(0);
        self.queue_overflows.with_label_values(&[peer]);
        for d in ["received", "sent"] {
            for k in REFRESH_KINDS {
                self.route_refresh.with_label_values(&[peer, d, k]);
            }
        }
    }

    /// A removed peer's series go, those of the `families` it used too.
    pub(crate) fn peer_removed(&self, p: &PeerInfo, families: &[String]) {
        let peer = p.peer.to_string();
        let peer = peer.as_str();
        let _ = self.session_up.remove_label_values(&[peer]);
        let _ = self.session_state.remove_label_values(&[peer]);
        let _ = self.session_uptime.remove_label_values(&[peer]);
        for to in ["established", "down"] {
            let _ = self.session_transitions.remove_label_values(&[peer, to]);
        }
        let _ = self
            .peer_info
            .remove_label_values(&info_labels(p).each_ref().map(String::as_str));
        let all = FAMILIES
            .iter()
            .copied()
            .chain(families.iter().map(String::as_str));
        for f in all {
            let _ = self.updates_received.remove_label_values(&[peer, f]);
            let _ = self.updates_sent.remove_label_values(&[peer, f]);
            for k in ["announce", "withdraw"] {
                let _ = self.prefixes_received.remove_label_values(&[peer, f, k]);
                let _ = self.prefixes_sent.remove_label_values(&[peer, f, k]);
            }
            let _ = self.prefixes_accepted.remove_label_values(&[peer, f]);
            let _ = self.prefixes_advertised.remove_label_values(&[peer, f]);
        }
        let _ = self.queue_depth.remove_label_values(&[peer]);
        let _ = self.queue_overflows.remove_label_values(&[peer]);
        for d in ["received", "sent"] {
            for k in REFRESH_KINDS {
                let _ = self.route_refresh.remove_label_values(&[peer, d, k]);
            }
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

/// The labels of [`Metrics::peer_info`].
fn info_labels(p: &PeerInfo) -> [String; 5] {
    [
        p.peer.to_string(),
        p.asn.to_string(),
        if p.internal { "ibgp" } else { "ebgp" }.to_string(),
        p.rr_client.to_string(),
        p.dynamic.to_string(),
    ]
}

/// The number of an FSM state for [`Metrics::session_state`].
pub(crate) fn state_number(s: bgp_core::session::State) -> i64 {
    use bgp_core::session::State;
    match s {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
    }
}

/// The kind of an accept error, for [`Metrics::accept_errors`].
pub(crate) fn accept_error_kind(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EMFILE) => "emfile",
        Some(libc::ENFILE) => "enfile",
        Some(libc::ENOBUFS) => "enobufs",
        Some(libc::ENOMEM) => "enomem",
        _ => "other",
    }
}

pub(crate) use bgp_core::router::family_label;
