//! Session configuration, the OPEN we send, the checks on the OPEN we receive, and what the
//! two OPENs negotiate.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::{Afi, Asn, Family, FamilySet, RouterId};
use crate::wire::error::{code, subcode};
use crate::wire::open::{AddPathMode, Capability, GracefulRestartFamily, LlgrFamily, Open};
use crate::wire::{Context, Notification, PeerKind};

/// Which AS the peer must be in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAs {
    /// Exactly this AS.
    Is(Asn),
    /// Any AS but ours (an external peer of unknown AS, e.g. dynamic peers).
    AnyExternal,
    /// Any AS (dynamic peers of either kind).
    Any,
}

/// Graceful restart as we announce it (RFC 4724).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Seconds the peer should keep our routes while we restart (12 bits).
    pub restart_time: u16,
    /// We are restarting now (the R bit): set for the first session after a restart.
    pub restarting: bool,
    /// Families whose forwarding state we preserve across our restart (the F bits).
    pub forwarding_preserved: Vec<Family>,
    /// RFC 8538: graceful restart also applies after NOTIFICATIONs other than Hard Reset.
    pub notification: bool,
}

/// Everything a session needs to know about its peer and itself.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub local_as: Asn,
    pub local_id: RouterId,
    pub peer_as: PeerAs,
    /// Proposed hold time in seconds: 0 (no keepalives) or at least 3.
    pub hold_time: u16,
    /// Keepalive interval; one third of the negotiated hold time when `None`.
    pub keepalive_time: Option<u16>,
    /// Smallest hold time accepted from the peer (other than 0).
    pub min_hold_time: u16,
    /// First ConnectRetry interval; doubled after each failed attempt up to
    /// `connect_retry_max`.
    pub connect_retry: Duration,
    pub connect_retry_max: Duration,
    /// Never initiate connections (RFC 4271 8.1.1 PassiveTcpEstablishment).
    pub passive: bool,
    /// Wait this long for the peer's OPEN before sending ours (RFC 4271 DelayOpen).
    pub delay_open: Option<Duration>,
    /// Peer oscillation damping (RFC 4271 8.1.1 DampPeerOscillations): after a session ends
    /// in error, the next start waits `idle_hold`, doubled per consecutive flap up to
    /// `idle_hold_max`; a session Established for `stable_after` resets it.
    pub damp_peer_oscillations: bool,
    pub idle_hold: Duration,
    pub idle_hold_max: Duration,
    pub stable_after: Duration,
    /// After an error, start again by itself (AutomaticStart) once IdleHold allows.
    pub auto_restart: bool,
    pub families: Vec<Family>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub add_path: Vec<(Family, AddPathMode)>,
    pub extended_next_hop: Vec<(Family, Afi)>,
    pub extended_message: bool,
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Long-lived graceful restart (RFC 9494): the stale time (seconds, 24 bits) announced
    /// for every family, and kept for the peer's routes within what it announced. Needs
    /// `graceful_restart` (its restart time may be 0).
    pub long_lived_stale_time: Option<u32>,
    /// Capabilities the peer must announce, by code; their absence is answered with
    /// Unsupported Capability (RFC 5492 5).
    pub required_capabilities: Vec<Capability>,
    pub hostname: Option<(String, String)>,
    /// Seed for timer jitter.
    pub jitter_seed: u64,
}

impl SessionConfig {
    /// A configuration with the usual defaults: hold time 90 s, ConnectRetry 5 s doubling
    /// to 120 s, IPv4 and IPv6 unicast, route refresh and enhanced route refresh.
    pub fn new(local_as: Asn, local_id: RouterId, peer_as: PeerAs) -> SessionConfig {
        SessionConfig {
            local_as,
            local_id,
            peer_as,
            hold_time: 90,
            keepalive_time: None,
            min_hold_time: 3,
            connect_retry: Duration::from_secs(5),
            connect_retry_max: Duration::from_secs(120),
            passive: false,
            delay_open: None,
            damp_peer_oscillations: true,
            idle_hold: Duration::from_secs(1),
            idle_hold_max: Duration::from_secs(120),
            stable_after: Duration::from_secs(300),
            auto_restart: true,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            route_refresh: true,
            enhanced_route_refresh: true,
            add_path: Vec::new(),
            extended_next_hop: Vec::new(),
            extended_message: false,
            graceful_restart: None,
            long_lived_stale_time: None,
            required_capabilities: Vec::new(),
            hostname: None,
            jitter_seed: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The OPEN this configuration sends.
    pub fn open(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        if !self.extended_next_hop.is_empty() {
            caps.push(Capability::ExtendedNextHop(self.extended_next_hop.clone()));
        }
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if let Some(gr) = &self.graceful_restart {
            caps.push(Capability::GracefulRestart {
                restarting: gr.restarting,
                notification: gr.notification,
                restart_time: gr.restart_time.min(0x0fff),
                families: self
                    .families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        family: *f,
                        forwarding_preserved: gr.forwarding_preserved.contains(f),
                    })
                    .collect(),
            });
        }
        if let (Some(gr), Some(t)) = (&self.graceful_restart, self.long_lived_stale_time) {
            caps.push(Capability::LongLivedGracefulRestart(
                self.families
                    .iter()
                    .map(|f| LlgrFamily {
                        family: *f,
                        forwarding_preserved: gr.forwarding_preserved.contains(f),
                        stale_time: t.min(0x00ff_ffff),
                    })
                    .collect(),
            ));
        }
        caps.push(Capability::FourOctetAs(self.local_as));
        if !self.add_path.is_empty() {
            caps.push(Capability::AddPath(self.add_path.clone()));
        }
        if let Some((h, d)) = &self.hostname {
            caps.push(Capability::Fqdn {
                hostname: h.clone(),
                domain: d.clone(),
            });
        }
        Open::new(self.local_as, self.hold_time, self.local_id, caps)
    }
}

/// The peer's graceful-restart capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerGracefulRestart {
    pub restart_time: u16,
    /// The peer has restarted (R bit).
    pub restarting: bool,
    pub notification: bool,
    /// Families the peer supports, with whether it kept forwarding state (F bit).
    pub families: Vec<GracefulRestartFamily>,
}

/// What the two OPENs agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub peer_as: Asn,
    pub peer_id: RouterId,
    pub peer_kind: PeerKind,
    /// Negotiated hold time in seconds (0: no hold timer, no keepalives).
    pub hold_time: u16,
    pub keepalive_time: u16,
    /// Families both sides announced (IPv4 unicast when neither announced any, RFC 4760 8).
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// Families whose NLRI we receive, and send, with path identifiers.
    pub add_path_receive: FamilySet,
    pub add_path_send: FamilySet,
    pub extended_next_hop: Vec<(Family, Afi)>,
    pub extended_message: bool,
    /// The peer's graceful-restart capability, when both sides announced one.
    pub peer_graceful_restart: Option<PeerGracefulRestart>,
    /// The peer's long-lived graceful restart (RFC 9494) for the negotiated families, when
    /// both sides announced it with graceful restart.
    pub peer_long_lived: Vec<LlgrFamily>,
    /// The peer's OPEN as received (every capability, known or not, for display).
    pub peer_open: Open,
}

impl Negotiated {
    /// The codec context for messages from the peer.
    pub fn receive_context(&self) -> Context {
        Context {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_receive,
            extended_message: self.extended_message,
            peer: self.peer_kind,
            mrt_rib_entry: false,
        }
    }

    /// The codec context for messages to the peer.
    pub fn send_context(&self) -> Context {
        Context {
            add_path: self.add_path_send,
            ..self.receive_context()
        }
    }

    pub fn has_family(&self, f: Family) -> bool {
        self.families.contains(&f)
    }
}

fn notification(code: u8, subcode: u8, data: Bytes) -> Notification {
    Notification::new(code, subcode, data)
}

/// Checks the peer's OPEN against the configuration (RFC 4271 6.2, RFC 6286, RFC 5492) and
/// negotiates. The error is the NOTIFICATION to send.
pub fn negotiate(cfg: &SessionConfig, peer: &Open) -> Result<Negotiated, Notification> {
    let caps: Vec<&Capability> = peer.capabilities().collect();
    let peer_four = caps.iter().find_map(|c| match c {
        Capability::FourOctetAs(a) => Some(*a),
        _ => None,
    });
    let peer_as = peer_four.unwrap_or(u32::from(peer.my_as));
    let bad_peer_as = || {
        notification(
            code::OPEN_MESSAGE,
            subcode::BAD_PEER_AS,
            Bytes::copy_from_slice(&peer.my_as.to_be_bytes()),
        )
    };
    // A four-octet capability of AS_TRANS, or My AS disagreeing with a two-octet capability
    // value, is inconsistent (RFC 6793 4.1, 9).
    if peer_as == 0 || peer_four.is_some_and(|a| a == u32::from(crate::types::AS_TRANS)) {
        return Err(bad_peer_as());
    }
    if let Some(a) = peer_four
        && a <= 0xffff
        && u32::from(peer.my_as) != a
    {
        return Err(bad_peer_as());
    }
    let ok_as = match cfg.peer_as {
        PeerAs::Is(a) => a == peer_as,
        PeerAs::AnyExternal => peer_as != cfg.local_as,
        PeerAs::Any => true,
    };
    if !ok_as {
        return Err(bad_peer_as());
    }
    let peer_kind = if peer_as == cfg.local_as {
        PeerKind::Internal
    } else {
        PeerKind::External
    };
    // RFC 6286 2.2: non-zero, and unique within the AS.
    if peer.bgp_id == Ipv4Addr::UNSPECIFIED
        || (peer_kind == PeerKind::Internal && peer.bgp_id == cfg.local_id)
    {
        return Err(notification(
            code::OPEN_MESSAGE,
            subcode::BAD_BGP_IDENTIFIER,
            Bytes::copy_from_slice(&peer.bgp_id.octets()),
        ));
    }
    if peer.hold_time != 0 && peer.hold_time < cfg.min_hold_time.max(3) {
        return Err(notification(
            code::OPEN_MESSAGE,
            subcode::UNACCEPTABLE_HOLD_TIME,
            Bytes::new(),
        ));
    }
    // RFC 5492 5: required capabilities the peer did not announce, listed in the data.
    let mut missing = BytesMut::new();
    for req in &cfg.required_capabilities {
        let present = caps.iter().any(|c| match (req, c) {
            (Capability::Multiprotocol(a), Capability::Multiprotocol(b)) => a == b,
            _ => req.code() == c.code(),
        });
        if !present && req.write_tlv(&mut missing).is_err() {
            missing.put_u8(req.code());
            missing.put_u8(0);
        }
    }
    if !missing.is_empty() {
        return Err(notification(
            code::OPEN_MESSAGE,
            subcode::UNSUPPORTED_CAPABILITY,
            missing.freeze(),
        ));
    }

    let hold_time = cfg.hold_time.min(peer.hold_time);
    let keepalive_time = match (hold_time, cfg.keepalive_time) {
        (0, _) => 0,
        (h, Some(k)) => k.clamp(1, h / 3),
        (h, None) => h / 3,
    };

    let ours = cfg.open();
    let our_caps: Vec<&Capability> = ours.capabilities().collect();
    let mp = |list: &[&Capability]| -> Vec<Family> {
        list.iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect()
    };
    let (our_fams, peer_fams) = (mp(&our_caps), mp(&caps));
    let families: Vec<Family> = if peer_fams.is_empty() {
        // RFC 4760 8: a peer without the capability speaks IPv4 unicast.
        our_fams
            .iter()
            .copied()
            .filter(|f| *f == Family::IPV4_UNICAST)
            .collect()
    } else {
        our_fams
            .iter()
            .copied()
            .filter(|f| peer_fams.contains(f))
            .collect()
    };
    let has = |code: u8| caps.iter().any(|c| c.code() == code);
    let route_refresh = cfg.route_refresh && (has(2) || has(128));
    let enhanced_route_refresh = cfg.enhanced_route_refresh && route_refresh && has(70);
    let peer_add_path: Vec<(Family, AddPathMode)> = caps
        .iter()
        .filter_map(|c| match c {
            Capability::AddPath(v) => Some(v.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut add_path_receive = FamilySet::EMPTY;
    let mut add_path_send = FamilySet::EMPTY;
    for (f, mode) in &cfg.add_path {
        if !families.contains(f) {
            continue;
        }
        let theirs = peer_add_path
            .iter()
            .find(|(pf, _)| pf == f)
            .map(|(_, m)| *m);
        if let Some(t) = theirs {
            if mode.can_receive() && t.can_send() {
                add_path_receive.insert(*f);
            }
            if mode.can_send() && t.can_receive() {
                add_path_send.insert(*f);
            }
        }
    }
    let peer_enh: Vec<(Family, Afi)> = caps
        .iter()
        .filter_map(|c| match c {
            Capability::ExtendedNextHop(v) => Some(v.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let extended_next_hop = cfg
        .extended_next_hop
        .iter()
        .copied()
        .filter(|e| peer_enh.contains(e))
        .collect();
    let peer_graceful_restart = cfg.graceful_restart.as_ref().and_then(|_| {
        caps.iter().find_map(|c| match c {
            Capability::GracefulRestart {
                restarting,
                notification,
                restart_time,
                families,
            } => Some(PeerGracefulRestart {
                restart_time: *restart_time,
                restarting: *restarting,
                notification: *notification,
                families: families.clone(),
            }),
            _ => None,
        })
    });
    // RFC 9494 3: the capability counts only beside graceful restart.
    let peer_long_lived = match (&peer_graceful_restart, cfg.long_lived_stale_time) {
        (Some(_), Some(_)) => caps
            .iter()
            .filter_map(|c| match c {
                Capability::LongLivedGracefulRestart(v) => Some(v.clone()),
                _ => None,
            })
            .flatten()
            .filter(|l| families.contains(&l.family))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Negotiated {
        peer_as,
        peer_id: peer.bgp_id,
        peer_kind,
        hold_time,
        keepalive_time,
        families,
        four_octet_as: peer_four.is_some(),
        route_refresh,
        enhanced_route_refresh,
        add_path_receive,
        add_path_send,
        extended_next_hop,
        extended_message: cfg.extended_message && has(6),
        peer_graceful_restart,
        peer_long_lived,
        peer_open: peer.clone(),
    })
}
