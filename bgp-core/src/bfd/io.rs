//! The endpoint's whole I/O surface: what goes in, what comes out, and how sessions are
//! named.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;

use super::packet::{Diag, State};

/// The UDP port of single-hop control packets (RFC 5881 4).
pub const SINGLE_HOP_PORT: u16 = 3784;

/// The UDP port of multihop control packets (RFC 5883 4).
pub const MULTIHOP_PORT: u16 = 4784;

/// The source ports sessions are given (RFC 5881 4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// The TTL or hop limit every control packet is sent with (RFC 5881 5; RFC 5883 does not
/// ask for less).
pub const TX_TTL: u8 = 255;

/// A session, named by the endpoint. Never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(super) u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bfd#{}", self.0)
    }
}

/// Whether the peer is on the link (RFC 5881) or further away (RFC 5883).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hop {
    Single,
    Multi,
}

impl Hop {
    /// The destination port of its packets.
    pub fn port(self) -> u16 {
        match self {
            Hop::Single => SINGLE_HOP_PORT,
            Hop::Multi => MULTIHOP_PORT,
        }
    }
}

/// What a session is for: one per key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// Our address: the source of what we send, the destination of what we receive.
    pub local: IpAddr,
    pub remote: IpAddr,
    pub hop: Hop,
    /// The interface of a single-hop session (needed for IPv6 link-local peers). A session
    /// with none takes the packets of its addresses from any interface.
    pub interface: Option<Arc<str>>,
}

impl SessionKey {
    pub fn single_hop(local: IpAddr, remote: IpAddr) -> SessionKey {
        SessionKey {
            local,
            remote,
            hop: Hop::Single,
            interface: None,
        }
    }

    pub fn multihop(local: IpAddr, remote: IpAddr) -> SessionKey {
        SessionKey {
            local,
            remote,
            hop: Hop::Multi,
            interface: None,
        }
    }

    pub fn on_interface(mut self, interface: &str) -> SessionKey {
        self.interface = Some(Arc::from(interface));
        self
    }
}

/// What happened on the network, for [`Bfd::handle`](super::Bfd::handle).
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A UDP datagram arrived on the single-hop port (`hop` Single) or the multihop port.
    Received {
        /// The sender's address and port.
        from: SocketAddr,
        /// The datagram's destination: our address (from `IP_PKTINFO` or the bound
        /// socket) and port.
        to: SocketAddr,
        /// The TTL (IPv4) or hop limit (IPv6) it arrived with.
        ttl: u8,
        hop: Hop,
        /// The interface it arrived on, when the driver knows it.
        interface: Option<&'a str>,
        /// The UDP payload.
        bytes: &'a [u8],
    },
}

/// What the driver must do, from [`Bfd::poll_output`](super::Bfd::poll_output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` as one UDP datagram.
    Transmit {
        session: SessionId,
        /// The source address.
        local: IpAddr,
        /// The source port, unique to the session among the endpoint's sessions, in
        /// 49152-65535 (RFC 5881 4): a driver may bind one socket per session with it.
        source_port: u16,
        /// The peer's address and port (3784 single-hop, 4784 multihop).
        to: SocketAddr,
        hop: Hop,
        /// The interface to send on, for a session bound to one.
        interface: Option<Arc<str>>,
        /// The TTL or hop limit to send with: always 255.
        ttl: u8,
        bytes: Bytes,
    },
    /// Something the driver may want to know or act on.
    Event(Event),
}

/// What happened, for the driver's clients (BGP), logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A session changed state. Going from Up to Down with [`Diag::ControlDetectionTimeExpired`]
    /// is a path failure; a peer that signals AdminDown brings us to Down with
    /// [`Diag::NeighborSignaledSessionDown`] and a remote state of AdminDown, which RFC 5882
    /// 3.2 says is not to be taken as a failure.
    StateChanged {
        session: SessionId,
        key: SessionKey,
        from: State,
        to: State,
        /// Our diagnostic after the change: why we left Up, or none.
        diag: Diag,
        /// The peer's state, as it last told it.
        remote_state: State,
    },
}

/// Commands the endpoint cannot carry out; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BfdError {
    #[error("a session for {0:?} exists")]
    Duplicate(SessionKey),
    #[error("no session {0}")]
    NoSession(SessionId),
    #[error("the local and remote addresses are of different families")]
    AddressFamilies,
    #[error("invalid session settings: {0}")]
    InvalidSettings(&'static str),
    #[error("every source port of 49152-65535 is taken")]
    NoSourcePort,
}
