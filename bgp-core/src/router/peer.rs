//! One peer as the router keeps it: its settings, its connections' state machines, what the
//! session negotiated, and its outgoing queue.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::config::{PeerSettings, RouterConfig};
use super::io::{ConnId, Transport};
use super::outbox::Outbox;
use super::status::{FamilyCapabilities, PeerStats, PeerStatus, family_label};
use crate::rib::{PeerConfig, PeerId};
use crate::session::{Conn, GracefulRestartConfig, Negotiated, Peer, PeerAs, SessionConfig, State};
use crate::types::Family;

/// What an Established session negotiated that the router acts on.
#[derive(Debug)]
pub(super) struct Up {
    pub router_id: std::net::Ipv4Addr,
    pub hold_time: u16,
    pub keepalive_time: u16,
    pub families: Vec<Family>,
    pub route_refresh: bool,
    pub enhanced_refresh: bool,
    /// Both sides announced graceful restart (RFC 4724).
    pub graceful: bool,
    pub capabilities: Vec<FamilyCapabilities>,
}

impl Up {
    pub(super) fn of(n: &Negotiated) -> Up {
        Up {
            router_id: n.peer_id,
            hold_time: n.hold_time,
            keepalive_time: n.keepalive_time,
            families: n.families.clone(),
            route_refresh: n.route_refresh,
            enhanced_refresh: n.enhanced_route_refresh,
            graceful: n.peer_graceful_restart.is_some(),
            capabilities: n
                .families
                .iter()
                .map(|&f| FamilyCapabilities {
                    family: family_label(f).into_owned(),
                    add_path: match (n.add_path_receive.contains(f), n.add_path_send.contains(f)) {
                        (true, true) => "both",
                        (true, false) => "receive",
                        (false, true) => "send",
                        (false, false) => "none",
                    }
                    .into(),
                    add_path_send: None,
                    extended_next_hop: n.extended_next_hop.iter().any(|(ef, _)| *ef == f),
                    graceful_restart: n
                        .peer_graceful_restart
                        .as_ref()
                        .is_some_and(|g| g.families.iter().any(|gf| gf.family == f)),
                    long_lived_stale_time: n
                        .peer_long_lived
                        .iter()
                        .find(|l| l.family == f)
                        .map(|l| l.stale_time),
                })
                .collect(),
        }
    }
}

#[derive(Debug)]
pub(super) struct PeerEntry {
    pub settings: PeerSettings,
    pub id: PeerId,
    /// Which start of a peer in this slot it is: timer entries of an earlier one are
    /// ignored.
    pub incarnation: u64,
    pub fsm: Peer,
    /// The connections of `fsm`: outbound, inbound.
    pub conns: [Option<ConnId>; 2],
    /// An [`super::Output::Connect`] is out, not answered yet.
    pub connecting: bool,
    /// No connection out before this (the connect delay).
    pub connect_from: Instant,
    /// The session asked for a connection while the connect delay held.
    pub connect_wanted: bool,
    /// The deadline this peer has in the router's timer heap.
    pub armed: Option<Instant>,
    /// While Established.
    pub up: Option<Up>,
    /// Families whose End-of-RIB the peer sent since it came up.
    pub eor: Vec<Family>,
    /// Families the peer is sending again after its BoRR, and until when EoRR may come.
    pub refreshing: Vec<(Family, Instant)>,
    /// The route limit was passed and reported (warn-only peers are warned once).
    pub over_limit: bool,
    /// Accepted from a dynamic range: removed when its session ends.
    pub dynamic: bool,
    /// Shut down by the operator.
    pub admin_down: bool,
    /// To be removed once its session's actions are carried out.
    pub doomed: Option<crate::session::StopReason>,
    pub since: Instant,
    pub established_count: u64,
    pub last_error: Option<String>,
    /// The last NOTIFICATION sent and received, described.
    pub last_notification: [Option<String>; 2],
    pub stats: PeerStats,
    /// On the router's list of peers whose counters changed.
    pub stats_dirty: bool,
    pub outbox: Outbox,
    /// The established session, as monitoring reports it.
    pub monitored: Option<Box<super::monitor::Monitored>>,
    /// Its BFD session, once it has one.
    pub bfd: Option<crate::bfd::SessionId>,
    /// The BGP session waits for BFD to be Up (`wait_for_up`).
    pub bfd_held: bool,
}

/// Which slot of [`PeerEntry::conns`] a connection is.
pub(super) fn slot(c: Conn) -> usize {
    match c {
        Conn::Outbound => 0,
        Conn::Inbound => 1,
    }
}

impl PeerEntry {
    pub(super) fn new(
        settings: PeerSettings,
        id: PeerId,
        incarnation: u64,
        session: SessionConfig,
        now: Instant,
    ) -> PeerEntry {
        let connect_from = now + Duration::from_secs(settings.connect_delay.unwrap_or(0));
        PeerEntry {
            settings,
            id,
            incarnation,
            fsm: Peer::new(session),
            conns: [None, None],
            connecting: false,
            connect_from,
            connect_wanted: false,
            armed: None,
            up: None,
            eor: Vec::new(),
            refreshing: Vec::new(),
            over_limit: false,
            dynamic: false,
            admin_down: false,
            doomed: None,
            since: now,
            established_count: 0,
            last_error: None,
            last_notification: [None, None],
            stats: PeerStats::default(),
            stats_dirty: false,
            outbox: Outbox::default(),
            monitored: None,
            bfd: None,
            bfd_held: false,
        }
    }

    pub(super) fn address(&self) -> IpAddr {
        self.settings.address
    }

    /// The earliest time the router must call on this peer.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let connect = self.connect_wanted.then_some(self.connect_from);
        let refresh = self.refreshing.iter().map(|(_, by)| *by).min();
        [self.fsm.poll_timeout(), connect, refresh]
            .into_iter()
            .flatten()
            .min()
    }

    /// The connection of the Established session.
    pub(super) fn established_conn(&self) -> Option<ConnId> {
        if self.up.is_none() || self.fsm.state() != State::Established {
            return None;
        }
        self.conns[slot(self.fsm.active().0)]
    }

    pub(super) fn transport(&self) -> Transport {
        let s = &self.settings;
        Transport {
            remote: SocketAddr::new(s.address, s.port),
            local: s.local_address,
            password: s.password.clone(),
            ttl_security: s.ttl_security,
            ttl: s.ttl,
            interface: s.interface.clone(),
        }
    }

    /// Whether a restart's deferral waits for this peer's End-of-RIB: it has graceful
    /// restart (configured on our side, and negotiated once up) and its table is not in.
    pub(super) fn deferral_waits(&self) -> bool {
        match &self.up {
            Some(u) => u.graceful && !self.table_in(),
            None => self.settings.graceful_restart.is_some(),
        }
    }

    /// Whether the session is up and has sent End-of-RIB for each of its families.
    pub(super) fn table_in(&self) -> bool {
        self.up.as_ref().is_some_and(|u| {
            !u.families.is_empty() && u.families.iter().all(|f| self.eor.contains(f))
        })
    }

    pub(super) fn status(
        &self,
        cfg: &RouterConfig,
        counts: (u64, u64),
        now: Instant,
    ) -> PeerStatus {
        let s = &self.settings;
        let local_as = s.local_as.unwrap_or(cfg.asn);
        let (v4, v6) = counts;
        PeerStatus {
            address: s.address,
            interface: s.interface.clone(),
            asn: s.asn,
            kind: if s.asn == local_as { "ibgp" } else { "ebgp" }.into(),
            rr_client: s.rr_client,
            dynamic: self.dynamic,
            state: self.fsm.state().to_string(),
            established: self.up.is_some(),
            admin_down: self.admin_down,
            since_secs: now.saturating_duration_since(self.since).as_secs(),
            established_count: self.established_count,
            last_error: self.last_error.clone(),
            last_notification_sent: self.last_notification[0].clone(),
            last_notification_received: self.last_notification[1].clone(),
            router_id: self.up.as_ref().map(|u| u.router_id),
            hold_time: self.up.as_ref().map(|u| u.hold_time),
            keepalive_time: self.up.as_ref().map(|u| u.keepalive_time),
            graceful_restart: self.up.as_ref().is_some_and(|u| u.graceful),
            families: self
                .up
                .iter()
                .flat_map(|u| u.families.iter().map(|f| family_label(*f).into_owned()))
                .collect(),
            capabilities: self
                .up
                .iter()
                .flat_map(|u| u.capabilities.iter().cloned())
                .map(|mut c| {
                    if matches!(c.add_path.as_str(), "send" | "both") {
                        c.add_path_send = Some(s.add_path.send.unwrap_or_default().to_string());
                    }
                    c
                })
                .collect(),
            accepted: v4 + v6,
            accepted_v4: v4,
            accepted_v6: v6,
            suppressed: 0,
            received: None,
            filtered: None,
            advertised_v4: 0,
            advertised_v6: 0,
            updates_received: self.stats.updates_received(),
            updates_sent: self.stats.updates_sent(),
            refresh_received: self.stats.refresh_received,
            refresh_sent: self.stats.refresh_sent,
            bfd: None,
        }
    }
}

/// The RIB's view of a peer.
pub(super) fn rib_config(p: &PeerSettings, cfg: &RouterConfig) -> PeerConfig {
    let local_as = p.local_as.unwrap_or(cfg.asn);
    let mut pc = if p.asn == local_as {
        PeerConfig::internal(p.address, p.asn)
    } else {
        PeerConfig::external(p.address, p.asn)
    };
    pc.rr_client = p.rr_client;
    pc.local_as = p.local_as;
    pc.allow_own_as = p.allow_own_as;
    pc.next_hop = p.next_hop.mode();
    pc.import.clone_from(&p.import);
    pc.export.clone_from(&p.export);
    pc.soft_reconfig_inbound = p.soft_reconfig_inbound;
    pc.add_path_send = p.add_path.send.unwrap_or_default();
    pc.damping = p.damping;
    match p.local_address {
        Some(IpAddr::V4(a)) => pc.local_v4 = Some(a),
        Some(IpAddr::V6(a)) => pc.local_v6 = Some(a),
        None => {}
    }
    pc
}

/// The session's view of a peer. `restarting`: our OPENs carry the Restart State bit.
pub(super) fn session_config(
    p: &PeerSettings,
    cfg: &RouterConfig,
    id: PeerId,
    restarting: bool,
) -> SessionConfig {
    let local_as = p.local_as.unwrap_or(cfg.asn);
    let mut sc = SessionConfig::new(local_as, cfg.router_id, PeerAs::Is(p.asn));
    sc.hold_time = p.hold_time;
    sc.keepalive_time = p.keepalive;
    sc.passive = p.is_passive();
    sc.connect_retry = p.connect_retry();
    if let Some(mode) = p.add_path.mode() {
        sc.add_path = sc.families.iter().map(|f| (*f, mode)).collect();
    }
    if p.extended_next_hop {
        sc.extended_next_hop = vec![(Family::IPV4_UNICAST, crate::types::Afi::IPV6)];
    }
    if let Some(w) = p.error_wait {
        sc.idle_hold = Duration::from_secs(w.min);
        sc.idle_hold_max = Duration::from_secs(w.max);
    }
    sc.jitter_seed ^= u64::from(id);
    // Long-lived graceful restart is announced beside graceful restart (RFC 9494 3).
    let restart_time = p.graceful_restart.or(p.long_lived_stale_time.map(|_| 0));
    if let Some(t) = restart_time {
        // Routes installed in the kernel stay across our restart (and a reflector's
        // clients forward on their own next hops): the forwarding state is kept.
        sc.graceful_restart = Some(GracefulRestartConfig {
            restart_time: t,
            restarting,
            forwarding_preserved: sc.families.clone(),
            notification: true,
        });
    }
    sc.long_lived_stale_time = p.long_lived_stale_time;
    sc
}
