//! BGP Monitoring Protocol messages (RFC 7854), with the Adj-RIB-Out flag of RFC 8671 and
//! the Loc-RIB peer type of RFC 9069.
//!
//! [`BmpMessage::encode`] writes one message; [`BmpMessage::decode`] reads one from the
//! front of a buffer (for tests, tools and fuzzing: a station decodes, a router encodes).
//! The BGP messages a BMP message carries (OPENs, UPDATEs, NOTIFICATIONs) are kept as their
//! bytes, header included: [`crate::wire`] decodes them with the context the Peer Up's
//! OPENs imply.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;

pub use decode::BmpError;

/// The protocol version written in every common header.
pub const VERSION: u8 = 3;
/// Octets in the common header.
pub const COMMON_HEADER_LEN: usize = 6;
/// Octets in the per-peer header.
pub const PEER_HEADER_LEN: usize = 42;

/// Message types (RFC 7854 4.1).
pub mod msg_type {
    pub const ROUTE_MONITORING: u8 = 0;
    pub const STATISTICS_REPORT: u8 = 1;
    pub const PEER_DOWN: u8 = 2;
    pub const PEER_UP: u8 = 3;
    pub const INITIATION: u8 = 4;
    pub const TERMINATION: u8 = 5;
    pub const ROUTE_MIRRORING: u8 = 6;
}

/// Peer types (RFC 7854 4.2, RFC 9069 4.1).
pub mod peer_type {
    pub const GLOBAL: u8 = 0;
    pub const RD: u8 = 1;
    pub const LOCAL: u8 = 2;
    pub const LOC_RIB: u8 = 3;
}

/// Per-peer header flags (RFC 7854 4.2, RFC 8671 4).
pub mod peer_flags {
    /// The peer address is IPv6.
    pub const V: u8 = 0x80;
    /// Post-policy (Adj-RIB-In after import policy, or Adj-RIB-Out after export policy).
    pub const L: u8 = 0x40;
    /// The AS_PATH of carried UPDATEs has 2-octet ASNs.
    pub const A: u8 = 0x20;
    /// Adj-RIB-Out rather than Adj-RIB-In (RFC 8671).
    pub const O: u8 = 0x10;
    /// Loc-RIB peer type: the table is filtered (RFC 9069 4.2).
    pub const F: u8 = 0x80;
}

/// Information TLV types of Initiation and Peer Up (RFC 7854 4.4).
pub mod info_type {
    pub const STRING: u16 = 0;
    pub const SYS_DESCR: u16 = 1;
    pub const SYS_NAME: u16 = 2;
    /// RFC 9069 4.3: the name of the Loc-RIB table, in its Peer Up.
    pub const VRF_TABLE_NAME: u16 = 3;
}

/// Termination TLV types and reasons (RFC 7854 4.5).
pub mod termination {
    pub const STRING: u16 = 0;
    pub const REASON: u16 = 1;
    pub const ADMINISTRATIVELY_CLOSED: u16 = 0;
    pub const UNSPECIFIED: u16 = 1;
    pub const OUT_OF_RESOURCES: u16 = 2;
    pub const REDUNDANT_CONNECTION: u16 = 3;
    pub const PERMANENTLY_CLOSED: u16 = 4;
}

/// Statistics types used here (RFC 7854 4.8, RFC 8671 5).
pub mod stat_type {
    /// Prefixes rejected by the import policy (32-bit counter).
    pub const REJECTED: u16 = 0;
    /// Updates treated as withdraw (RFC 7606, 32-bit counter).
    pub const TREAT_AS_WITHDRAW: u16 = 6;
    /// Routes in the pre-policy Adj-RIB-In (64-bit gauge).
    pub const ADJ_RIB_IN: u16 = 7;
    /// Routes in the Loc-RIB (64-bit gauge).
    pub const LOC_RIB: u16 = 8;
    /// Routes in the pre-policy Adj-RIB-In, per family (AFI, SAFI, 64-bit gauge).
    pub const ADJ_RIB_IN_FAMILY: u16 = 9;
    /// Routes in the Loc-RIB, per family.
    pub const LOC_RIB_FAMILY: u16 = 10;
    /// Routes in the post-policy Adj-RIB-Out (64-bit gauge, RFC 8671).
    pub const ADJ_RIB_OUT_POST: u16 = 15;
}

/// Peer Down reasons (RFC 7854 4.9, RFC 9069 4.4).
pub mod down_reason {
    pub const LOCAL_NOTIFICATION: u8 = 1;
    pub const LOCAL_NO_NOTIFICATION: u8 = 2;
    pub const REMOTE_NOTIFICATION: u8 = 3;
    pub const REMOTE_NO_DATA: u8 = 4;
    pub const DECONFIGURED: u8 = 5;
}

/// The per-peer header: which peer, which table, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHeader {
    pub peer_type: u8,
    /// [`peer_flags`]; the V flag is set from the address when encoding.
    pub flags: u8,
    pub distinguisher: u64,
    pub address: IpAddr,
    pub asn: u32,
    pub bgp_id: Ipv4Addr,
    /// Time of the event, seconds since the Unix epoch and the microseconds past them.
    pub seconds: u32,
    pub micros: u32,
}

impl PeerHeader {
    /// A global-instance peer, pre-policy Adj-RIB-In.
    pub fn global(address: IpAddr, asn: u32, bgp_id: Ipv4Addr) -> PeerHeader {
        PeerHeader {
            peer_type: peer_type::GLOBAL,
            flags: 0,
            distinguisher: 0,
            address,
            asn,
            bgp_id,
            seconds: 0,
            micros: 0,
        }
    }

    /// The same with other flags.
    pub fn with_flags(mut self, flags: u8) -> PeerHeader {
        self.flags = flags;
        self
    }

    /// The same at another time.
    pub fn at(mut self, seconds: u32, micros: u32) -> PeerHeader {
        self.seconds = seconds;
        self.micros = micros;
        self
    }
}

/// A type-length-value of Initiation, Termination and Peer Up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    pub kind: u16,
    pub value: Bytes,
}

impl Tlv {
    pub fn string(kind: u16, s: &str) -> Tlv {
        Tlv {
            kind,
            value: Bytes::copy_from_slice(s.as_bytes()),
        }
    }
}

/// One statistic of a Statistics Report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stat {
    Counter(u16, u32),
    Gauge(u16, u64),
    /// A gauge of one family (types 9, 10 and their RFC 8671 kin).
    FamilyGauge {
        kind: u16,
        afi: u16,
        safi: u8,
        value: u64,
    },
    /// A type not known here, as its bytes.
    Other {
        kind: u16,
        value: Bytes,
    },
}

/// Why a peer went down (RFC 7854 4.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerDownReason {
    /// We sent this NOTIFICATION (the whole message).
    LocalNotification(Bytes),
    /// We closed without a NOTIFICATION, on this FSM event.
    LocalNoNotification(u16),
    /// The peer sent this NOTIFICATION.
    RemoteNotification(Bytes),
    /// The connection ended with no NOTIFICATION.
    RemoteNoData,
    /// The peer was removed from the configuration.
    Deconfigured,
    Other(u8, Bytes),
}

/// A BMP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BmpMessage {
    /// A BGP UPDATE (the whole message) of the peer's table named by the header.
    RouteMonitoring {
        peer: PeerHeader,
        update: Bytes,
    },
    StatisticsReport {
        peer: PeerHeader,
        stats: Vec<Stat>,
    },
    PeerDown {
        peer: PeerHeader,
        reason: PeerDownReason,
    },
    PeerUp(Box<PeerUp>),
    Initiation(Vec<Tlv>),
    Termination(Vec<Tlv>),
}

/// A session came up: its addresses and both OPENs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerUp {
    pub peer: PeerHeader,
    pub local_address: IpAddr,
    pub local_port: u16,
    pub remote_port: u16,
    /// Our OPEN and the peer's, whole messages.
    pub sent_open: Bytes,
    pub received_open: Bytes,
    pub information: Vec<Tlv>,
}

impl BmpMessage {
    pub fn type_code(&self) -> u8 {
        match self {
            BmpMessage::RouteMonitoring { .. } => msg_type::ROUTE_MONITORING,
            BmpMessage::StatisticsReport { .. } => msg_type::STATISTICS_REPORT,
            BmpMessage::PeerDown { .. } => msg_type::PEER_DOWN,
            BmpMessage::PeerUp(_) => msg_type::PEER_UP,
            BmpMessage::Initiation(_) => msg_type::INITIATION,
            BmpMessage::Termination(_) => msg_type::TERMINATION,
        }
    }
}
