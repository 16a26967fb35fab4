//! What the router reports about its peers and itself.

use std::net::{IpAddr, Ipv4Addr};

use crate::types::Family;
use crate::wire::Update;
use crate::wire::attributes::MpNlri;

/// A peer's state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerStatus {
    pub address: IpAddr,
    /// The interface of an unnumbered or link-local peer.
    pub interface: Option<String>,
    pub asn: u32,
    /// `ibgp` or `ebgp`.
    pub kind: String,
    pub rr_client: bool,
    /// Accepted from a dynamic range.
    pub dynamic: bool,
    /// The FSM state (`Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`,
    /// `Established`).
    pub state: String,
    pub established: bool,
    /// Shut down by the operator; stays down until reset.
    pub admin_down: bool,
    /// Seconds since the session came up or went down.
    pub since_secs: u64,
    /// How many times the session reached Established.
    pub established_count: u64,
    /// Why the session last ended.
    pub last_error: Option<String>,
    /// The last NOTIFICATION we sent the peer and the last it sent us (name, subcode, any
    /// shutdown message), kept across sessions.
    #[cfg_attr(feature = "serde", serde(default))]
    pub last_notification_sent: Option<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub last_notification_received: Option<String>,
    /// The peer's BGP identifier, the negotiated hold time and our keepalive interval,
    /// while Established.
    pub router_id: Option<Ipv4Addr>,
    pub hold_time: Option<u16>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub keepalive_time: Option<u16>,
    /// Graceful restart (RFC 4724) negotiated on the session.
    pub graceful_restart: bool,
    /// Negotiated families, e.g. `ipv4-unicast`.
    pub families: Vec<String>,
    /// What the session negotiated for each of its families, while Established.
    pub capabilities: Vec<FamilyCapabilities>,
    /// Routes accepted from the peer (after import policy), in all and per family.
    pub accepted: u64,
    pub accepted_v4: u64,
    pub accepted_v6: u64,
    /// Routes of the peer held out by route-flap damping.
    pub suppressed: u64,
    /// Routes received from the peer before the import policy, and those it rejected:
    /// known only with soft reconfiguration inbound (else `None`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub received: Option<u64>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub filtered: Option<u64>,
    /// Routes the peer is sent (its Adj-RIB-Out), per family.
    #[cfg_attr(feature = "serde", serde(default))]
    pub advertised_v4: u64,
    #[cfg_attr(feature = "serde", serde(default))]
    pub advertised_v6: u64,
    /// UPDATE messages received from and sent to the peer.
    pub updates_received: u64,
    pub updates_sent: u64,
    /// ROUTE-REFRESH messages received and sent: requests, BoRR, EoRR (RFC 7313).
    pub refresh_received: RefreshCounts,
    pub refresh_sent: RefreshCounts,
    /// The peer's BFD session, when it has BFD.
    #[cfg_attr(feature = "serde", serde(default))]
    pub bfd: Option<super::PeerBfdStatus>,
}

impl PeerStatus {
    /// A configured peer the router does not hold yet (one found by its interface, before
    /// its neighbour is), `Idle` with `reason` as its last error.
    pub fn waiting(s: &super::PeerSettings, local_as: u32, reason: &str) -> PeerStatus {
        PeerStatus {
            address: s.address,
            interface: s.interface.clone(),
            asn: s.asn,
            kind: if s.asn == s.local_as.unwrap_or(local_as) {
                "ibgp"
            } else {
                "ebgp"
            }
            .into(),
            rr_client: s.rr_client,
            dynamic: false,
            state: "Idle".into(),
            established: false,
            admin_down: false,
            since_secs: 0,
            established_count: 0,
            last_error: Some(reason.into()),
            last_notification_sent: None,
            last_notification_received: None,
            router_id: None,
            hold_time: None,
            keepalive_time: None,
            graceful_restart: false,
            families: Vec::new(),
            capabilities: Vec::new(),
            accepted: 0,
            accepted_v4: 0,
            accepted_v6: 0,
            suppressed: 0,
            received: None,
            filtered: None,
            advertised_v4: 0,
            advertised_v6: 0,
            updates_received: 0,
            updates_sent: 0,
            refresh_received: RefreshCounts::default(),
            refresh_sent: RefreshCounts::default(),
            bfd: None,
        }
    }
}

/// What a session negotiated for one family.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FamilyCapabilities {
    /// E.g. `ipv4-unicast`.
    pub family: String,
    /// ADD-PATH (RFC 7911): `receive`, `send`, `both` or `none`.
    pub add_path: String,
    /// Which paths we send with ADD-PATH (`all`, `best N`, `ecmp`), when we send several.
    pub add_path_send: Option<String>,
    /// The family's routes may carry an IPv6 next hop (RFC 8950).
    pub extended_next_hop: bool,
    /// The peer keeps the family's routes across its restart (RFC 4724).
    pub graceful_restart: bool,
    /// The peer's long-lived stale time for the family (RFC 9494), in seconds.
    pub long_lived_stale_time: Option<u32>,
}

/// ROUTE-REFRESH messages by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RefreshCounts {
    pub request: u64,
    pub begin: u64,
    pub end: u64,
}

impl RefreshCounts {
    pub(super) fn count(&mut self, kind: crate::session::RefreshKind) {
        use crate::session::RefreshKind;
        match kind {
            RefreshKind::Request => self.request += 1,
            RefreshKind::Begin => self.begin += 1,
            RefreshKind::End => self.end += 1,
        }
    }
}

/// The router as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Summary {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub cluster_id: Option<Ipv4Addr>,
    pub prefixes: usize,
    pub paths: usize,
    pub attribute_sets: usize,
    pub peers: usize,
    pub established: usize,
    /// Waiting for peers' End-of-RIB after a graceful restart before sending anything.
    pub deferring: bool,
    /// While deferring: the peers whose End-of-RIB is awaited.
    pub waiting_for: Vec<IpAddr>,
}

/// UPDATEs of one family, and the prefixes they announced and withdrew.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FamilyCounts {
    pub updates: u64,
    pub announced: u64,
    pub withdrawn: u64,
}

/// What was received from and sent to a peer, by family; counted since the peer was added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub received: Vec<(Family, FamilyCounts)>,
    pub sent: Vec<(Family, FamilyCounts)>,
    /// Times the peer's queue overflowed.
    pub overflows: u64,
    pub refresh_received: RefreshCounts,
    pub refresh_sent: RefreshCounts,
}

impl PeerStats {
    pub(super) fn slot(list: &mut Vec<(Family, FamilyCounts)>, f: Family) -> &mut FamilyCounts {
        let i = match list.iter().position(|(x, _)| *x == f) {
            Some(i) => i,
            None => {
                list.push((f, FamilyCounts::default()));
                list.len() - 1
            }
        };
        &mut list[i].1
    }

    /// Counts a received UPDATE under each family it carries.
    pub(super) fn count_received(&mut self, u: &Update) {
        for (f, announced, withdrawn) in update_counts(u) {
            let c = Self::slot(&mut self.received, f);
            c.updates += 1;
            c.announced += announced;
            c.withdrawn += withdrawn;
        }
    }

    pub fn updates_received(&self) -> u64 {
        self.received.iter().map(|(_, c)| c.updates).sum()
    }

    pub fn updates_sent(&self) -> u64 {
        self.sent.iter().map(|(_, c)| c.updates).sum()
    }
}

/// A peer's counters as [`Router::take_changed_stats`](super::Router::take_changed_stats)
/// reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerReport {
    pub address: IpAddr,
    pub stats: PeerStats,
    /// Routes accepted from the peer: IPv4, IPv6.
    pub accepted: (u64, u64),
    /// Routes its update group sends it (its own left out): IPv4, IPv6.
    pub advertised: (u64, u64),
    /// Messages queued for it or in flight.
    pub backlog: usize,
}

/// The families of a received UPDATE with the prefixes it announces and withdraws in each.
fn update_counts(u: &Update) -> Vec<(Family, u64, u64)> {
    fn add(out: &mut Vec<(Family, u64, u64)>, f: Family, a: usize, w: usize) {
        match out.iter_mut().find(|x| x.0 == f) {
            Some(x) => {
                x.1 += a as u64;
                x.2 += w as u64;
            }
            None => out.push((f, a as u64, w as u64)),
        }
    }
    let count = |n: &MpNlri| match n {
        MpNlri::Prefixes(p) => p.len(),
        MpNlri::Opaque(_) => 0,
    };
    let mut out = Vec::with_capacity(1);
    if !u.nlri.is_empty() || !u.withdrawn.is_empty() {
        add(
            &mut out,
            Family::IPV4_UNICAST,
            u.nlri.len(),
            u.withdrawn.len(),
        );
    }
    if let Some(m) = &u.attributes.mp_reach {
        add(&mut out, m.family, count(&m.nlri), 0);
    }
    if let Some(m) = &u.attributes.mp_unreach {
        add(&mut out, m.family, 0, count(&m.nlri));
    }
    if out.is_empty() {
        // End-of-RIB for IPv4 unicast, or attributes only.
        add(&mut out, Family::IPV4_UNICAST, 0, 0);
    }
    out
}

/// The label of an address family: `ipv4-unicast`, `ipv6-unicast`, ...
pub fn family_label(f: Family) -> std::borrow::Cow<'static, str> {
    match f {
        Family::IPV4_UNICAST => "ipv4-unicast".into(),
        Family::IPV6_UNICAST => "ipv6-unicast".into(),
        other => other.to_string().to_lowercase().replace(' ', "-").into(),
    }
}
