//! The router's whole I/O surface: what goes in, what comes out.

use std::net::{IpAddr, SocketAddr};

use std::sync::Arc;

use bytes::Bytes;
use ipnet::IpNet;

use super::config::Password;
use crate::bfd::{Diag, Hop, SessionKey, State as BfdState};
use crate::rib::batch::{Batch, Cursor};
use crate::wire::attributes::{Community, LargeCommunity};

/// A TCP connection, named by the driver when it has one (accepted, or connected after an
/// [`Output::Connect`]). Never reused while the router may still name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What happened on the network, for [`Router::handle`](super::Router::handle).
#[derive(Clone, Debug)]
pub enum Input {
    /// A connection from `remote` to our `local` address was accepted. The router answers
    /// with [`Output::Attached`] (it belongs to a peer) or with [`Output::Close`] (refused).
    Accepted {
        conn: ConnId,
        remote: SocketAddr,
        local: SocketAddr,
    },
    /// The connection asked for by [`Output::Connect`] for `peer` is up.
    Connected {
        peer: IpAddr,
        conn: ConnId,
        local: SocketAddr,
    },
    /// The connection asked for by [`Output::Connect`] for `peer` could not be made.
    ConnectFailed { peer: IpAddr },
    /// Bytes read from a connection, in any chunking.
    Received { conn: ConnId, bytes: Bytes },
    /// The connection was closed by the other end or broke.
    Closed { conn: ConnId },
    /// `messages` messages of the [`Output::Transmit`]s of `conn` were written out (counted
    /// in messages, in the order they were given).
    Written { conn: ConnId, messages: usize },
    /// A UDP datagram arrived on a BFD port: 3784 (`hop` Single) or 4784 (Multi).
    Bfd {
        /// The sender's address and port.
        from: SocketAddr,
        /// Its destination: our address and port.
        to: SocketAddr,
        /// The TTL or hop limit it arrived with.
        ttl: u8,
        hop: Hop,
        /// The interface it arrived on, when known.
        interface: Option<Arc<str>>,
        bytes: Bytes,
    },
}

/// Messages for one connection, in order: some built for it alone, and runs of an update
/// group's UPDATEs shared with the other members (handed over as a view of the group's one
/// list, not copied per peer).
#[derive(Clone, Debug, Default)]
pub struct Messages {
    runs: smallvec::SmallVec<[Run; 1]>,
    len: usize,
}

#[derive(Clone, Debug)]
enum Run {
    One(Bytes),
    /// `count` messages of `batch` from `from` on.
    Shared {
        batch: Batch,
        from: Cursor,
        count: usize,
    },
}

impl Messages {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The messages' bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.runs.iter().flat_map(|r| {
            let (one, shared) = match r {
                Run::One(b) => (Some(b), None),
                Run::Shared { batch, from, count } => (None, Some((batch, *from, *count))),
            };
            let run = shared.into_iter().flat_map(|(batch, from, count)| {
                let mut c = from;
                std::iter::from_fn(move || batch.next(&mut c).map(|e| &e.bytes)).take(count)
            });
            one.into_iter().chain(run)
        })
    }

    pub(super) fn one(b: Bytes) -> Messages {
        Messages {
            runs: smallvec::smallvec![Run::One(b)],
            len: 1,
        }
    }

    pub(super) fn shared(batch: &Batch, from: Cursor, count: usize) -> Messages {
        Messages {
            runs: smallvec::smallvec![Run::Shared {
                batch: batch.clone(),
                from,
                count,
            }],
            len: count,
        }
    }

    pub(super) fn append(&mut self, other: Messages) {
        self.len += other.len;
        self.runs.extend(other.runs);
    }
}

/// Socket settings of a peer's connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transport {
    pub remote: SocketAddr,
    /// The source address of connections we open.
    pub local: Option<IpAddr>,
    /// TCP-MD5 (RFC 2385).
    pub password: Option<Password>,
    /// GTSM (RFC 5082): the peer is this many hops away.
    pub ttl_security: Option<u8>,
    /// The TTL of what we send, when not using GTSM (eBGP multihop).
    pub ttl: Option<u8>,
    /// The device of the session: the scope of a link-local `remote`.
    pub interface: Option<String>,
}

/// What the driver must do, from [`Router::poll_output`](super::Router::poll_output).
#[derive(Clone, Debug)]
pub enum Output {
    /// Open a connection to `peer`; report [`Input::Connected`] or [`Input::ConnectFailed`].
    Connect { peer: IpAddr, transport: Transport },
    /// An accepted connection belongs to a peer: apply its socket settings (TTL, GTSM).
    Attached { conn: ConnId, transport: Transport },
    /// Write these messages to the connection, in order, after what was given before;
    /// report them with [`Input::Written`] once written.
    Transmit { conn: ConnId, messages: Messages },
    /// Close the connection once what was given before is written (or cannot be); the
    /// router names it no more.
    Close { conn: ConnId },
    /// Send a BFD control packet: one UDP datagram from `local`:`source_port` to `to`, with
    /// TTL (hop limit) `ttl`.
    BfdTransmit {
        local: IpAddr,
        /// Unique to the BFD session, in 49152-65535 (RFC 5881 4).
        source_port: u16,
        to: SocketAddr,
        hop: Hop,
        interface: Option<Arc<str>>,
        ttl: u8,
        bytes: Bytes,
    },
    /// Something the driver may want to know or act on.
    Event(Event),
    /// A BMP message for the monitoring stations (see
    /// [`Router::set_monitoring`](super::Router::set_monitoring)); its per-peer header
    /// has no time yet: the driver stamps it.
    Monitor(crate::bmp::BmpMessage),
}

/// What happened, for the driver's logs, metrics, watchers and FIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A peer was added (listed, or connected from a range).
    PeerAdded(PeerInfo),
    /// A session reached Established.
    PeerUp { peer: IpAddr },
    /// An Established session ended. `configured`: because the configuration changed (the
    /// peer was changed or removed), not because of a fault.
    PeerDown {
        peer: IpAddr,
        reason: String,
        configured: bool,
    },
    /// A peer is gone (removed, or a dynamic peer whose session ended).
    PeerRemoved { peer: IpAddr },
    /// The best route of a prefix changed.
    BestChanged(RouteChange),
    /// Once after the start: every peer sent its table (End-of-RIB), or the wait for them
    /// ran out. What is in the kernel can be reconciled with the best routes now.
    RoutesSettled,
    /// A peer's queue overflowed: nothing more is queued for it until it has drained, then
    /// it is re-synchronized.
    QueueOverflow { peer: IpAddr },
    /// A connection from `remote` was refused (no peer and no room in a range for it).
    Refused { remote: SocketAddr },
    /// A BFD session changed state; `peers` are the BGP peers it serves.
    BfdChanged {
        key: SessionKey,
        peers: Vec<IpAddr>,
        from: BfdState,
        to: BfdState,
        diag: Diag,
        remote_state: BfdState,
    },
    /// A BFD session was removed (its last peer went).
    BfdRemoved { key: SessionKey },
}

/// What a peer is, for labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub peer: IpAddr,
    pub asn: u32,
    /// Internal (iBGP) or external.
    pub internal: bool,
    pub rr_client: bool,
    pub dynamic: bool,
}

/// A change of the best route of a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RouteChange {
    pub prefix: IpNet,
    /// The next hops of the best route (and its ECMP companions); empty when the prefix is
    /// gone.
    pub next_hops: Vec<IpAddr>,
    /// The peer the best route came from; `None` for our own routes or when gone.
    pub from: Option<IpAddr>,
}

/// What a node announces with a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announcement {
    /// The next hop; none: each peer's local address (next-hop-self).
    pub next_hop: Option<IpAddr>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
}

/// Calls the router cannot carry out; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("a peer at {0} is already configured")]
    DuplicatePeer(IpAddr),
    #[error("peer {0}: {1}")]
    InvalidPeer(IpAddr, &'static str),
    #[error("no peer at {0}")]
    NoPeer(IpAddr),
    #[error("the session with {0} is not established")]
    NotEstablished(IpAddr),
    #[error("{0} did not announce the route refresh capability")]
    NoRouteRefresh(IpAddr),
    #[error("{0} has a next hop of the other address family")]
    NextHopFamily(IpNet),
}

impl std::fmt::Display for PeerUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PeerUpdate::Unchanged => "unchanged",
            PeerUpdate::PoliciesApplied => "policies applied",
            PeerUpdate::Restarted => "restarted",
            PeerUpdate::BfdApplied => "BFD settings applied",
        })
    }
}

/// What [`Router::update_peer`](super::Router::update_peer) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum PeerUpdate {
    /// The settings were the same.
    Unchanged,
    /// Only policies changed: re-applied in place (soft reconfiguration or a route refresh
    /// for import, a new Adj-RIB-Out for export); the session stayed up.
    PoliciesApplied,
    /// The session was ended with Cease / Other Configuration Change and started again.
    Restarted,
    /// Only the BFD settings changed: the BFD session was added, removed or given its new
    /// intervals (by a Poll Sequence); the BGP session stayed up.
    BfdApplied,
}
