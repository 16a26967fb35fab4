//! Decode errors and what each one means on the wire.
//!
//! Two kinds of failure come out of the codec:
//! - [`DecodeError`]: the message cannot be processed and the session is reset. Every variant
//!   knows the NOTIFICATION to send ([`DecodeError::notification`]); its data field holds only
//!   bytes that were actually received.
//! - [`AttributeError`]: an RFC 7606 error local to one path attribute. The UPDATE is still
//!   decoded; the error says whether its routes are treated as withdrawn or the attribute is
//!   discarded. These are recorded in [`crate::wire::Update::errors`].

use bytes::Bytes;
use thiserror::Error;

/// NOTIFICATION error codes (RFC 4271 section 4.5 and the IANA registry).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
}

/// NOTIFICATION error subcodes, per error code.
pub mod subcode {
    // Message Header Error
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
    // OPEN Message Error
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    pub const ROLE_MISMATCH: u8 = 11;
    // UPDATE Message Error
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
    // FSM Error (RFC 6608)
    pub const FSM_UNEXPECTED_IN_OPENSENT: u8 = 1;
    pub const FSM_UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
    pub const FSM_UNEXPECTED_IN_ESTABLISHED: u8 = 3;
    // Cease (RFC 4486, RFC 8538, RFC 9384)
    pub const MAX_PREFIXES: u8 = 1;
    pub const ADMIN_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMIN_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
    pub const BFD_DOWN: u8 = 10;
    // ROUTE-REFRESH Message Error (RFC 7313)
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// The NOTIFICATION a decode error calls for: code, subcode and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationSpec {
    pub code: u8,
    pub subcode: u8,
    pub data: Bytes,
}

/// A message that cannot be processed: the session is reset with [`Self::notification`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("message header marker is not all ones")]
    ConnectionNotSynchronized,
    /// The length field is out of bounds, or does not fit the message type. Data: the
    /// erroneous length field (RFC 4271 6.1).
    #[error("bad message length {length}")]
    BadMessageLength { length: u16 },
    /// Fewer octets than a message header: there is no length field to report.
    #[error("{len} octets cannot hold a message header")]
    ShortHeader { len: usize },
    #[error("unknown message type {0}")]
    BadMessageType(u8),

    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    #[error("unacceptable hold time {0} (must be 0 or at least 3)")]
    UnacceptableHoldTime(u16),
    #[error("unsupported optional parameter type {0}")]
    UnsupportedOptionalParameter(u8),
    /// The optional parameters do not fill their stated length exactly, or a capability's
    /// length overruns its parameter.
    #[error("malformed optional parameters in OPEN: {0}")]
    MalformedOptionalParameters(&'static str),

    /// Withdrawn Routes Length or Total Path Attribute Length inconsistent with the message
    /// length, or MP_REACH_NLRI / MP_UNREACH_NLRI repeated or malformed (RFC 7606 3(g), 5.3).
    #[error("malformed attribute list: {0}")]
    MalformedAttributeList(&'static str),
    /// A well-known attribute type we do not know. Data: the attribute.
    #[error("unrecognized well-known attribute {code}")]
    UnrecognizedWellKnownAttribute { code: u8, attribute: Bytes },
    /// Flags of an attribute whose error handling is session reset. Data: the attribute.
    #[error("attribute flags error on attribute {code}")]
    AttributeFlags { code: u8, attribute: Bytes },
    /// An MP_REACH_NLRI / MP_UNREACH_NLRI whose NLRI cannot be parsed. Data: the attribute.
    #[error("optional attribute error on attribute {code}: {reason}")]
    OptionalAttribute {
        code: u8,
        reason: &'static str,
        attribute: Bytes,
    },
    /// The IPv4 NLRI or withdrawn routes field cannot be parsed.
    #[error("invalid network field: {0}")]
    InvalidNetworkField(&'static str),

    /// A ROUTE-REFRESH of the wrong length (RFC 7313 section 5). Data: the whole message.
    #[error("route-refresh message of invalid length")]
    RouteRefreshLength { message: Bytes },
}

impl DecodeError {
    /// The NOTIFICATION to send for this error.
    pub fn notification(&self) -> NotificationSpec {
        use DecodeError::*;
        let (code, subcode, data) = match self {
            ConnectionNotSynchronized => (
                code::MESSAGE_HEADER,
                subcode::CONNECTION_NOT_SYNCHRONIZED,
                Bytes::new(),
            ),
            BadMessageLength { length } => (
                code::MESSAGE_HEADER,
                subcode::BAD_MESSAGE_LENGTH,
                Bytes::copy_from_slice(&length.to_be_bytes()),
            ),
            ShortHeader { .. } => (
                code::MESSAGE_HEADER,
                subcode::BAD_MESSAGE_LENGTH,
                Bytes::new(),
            ),
            BadMessageType(t) => (
                code::MESSAGE_HEADER,
                subcode::BAD_MESSAGE_TYPE,
                Bytes::copy_from_slice(&[*t]),
            ),
            // RFC 4271 6.2: the data is the largest locally supported version number.
            UnsupportedVersion(_) => (
                code::OPEN_MESSAGE,
                subcode::UNSUPPORTED_VERSION,
                Bytes::from_static(&[0, 4]),
            ),
            UnacceptableHoldTime(_) => (
                code::OPEN_MESSAGE,
                subcode::UNACCEPTABLE_HOLD_TIME,
                Bytes::new(),
            ),
            UnsupportedOptionalParameter(_) => (
                code::OPEN_MESSAGE,
                subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                Bytes::new(),
            ),
            MalformedOptionalParameters(_) => (code::OPEN_MESSAGE, 0, Bytes::new()),
            MalformedAttributeList(_) => (
                code::UPDATE_MESSAGE,
                subcode::MALFORMED_ATTRIBUTE_LIST,
                Bytes::new(),
            ),
            UnrecognizedWellKnownAttribute { attribute, .. } => (
                code::UPDATE_MESSAGE,
                subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                attribute.clone(),
            ),
            AttributeFlags { attribute, .. } => (
                code::UPDATE_MESSAGE,
                subcode::ATTRIBUTE_FLAGS_ERROR,
                attribute.clone(),
            ),
            OptionalAttribute { attribute, .. } => (
                code::UPDATE_MESSAGE,
                subcode::OPTIONAL_ATTRIBUTE_ERROR,
                attribute.clone(),
            ),
            InvalidNetworkField(_) => (
                code::UPDATE_MESSAGE,
                subcode::INVALID_NETWORK_FIELD,
                Bytes::new(),
            ),
            RouteRefreshLength { message } => (
                code::ROUTE_REFRESH,
                subcode::INVALID_MESSAGE_LENGTH,
                message.clone(),
            ),
        };
        NotificationSpec {
            code,
            subcode,
            data,
        }
    }
}

/// What RFC 7606 says to do with an UPDATE that has a malformed attribute, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum ErrorAction {
    /// The attribute is dropped and the UPDATE processed without it (RFC 7606 2).
    AttributeDiscard,
    /// Every route in the UPDATE is handled as a withdrawal (RFC 7606 2).
    TreatAsWithdraw,
}

/// Why one attribute was found malformed.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum AttributeErrorKind {
    #[error("flags conflict with the attribute's type")]
    Flags,
    #[error("length invalid for the attribute")]
    Length,
    #[error("value invalid")]
    Value,
    #[error("the attribute overruns the path attributes field")]
    Overrun,
    #[error("a well-known mandatory attribute is missing")]
    Missing,
    #[error("repeated attribute, later copy discarded")]
    Duplicate,
    #[error("not accepted from an external peer")]
    ExternalPeer,
    #[error("AS number 0 in the path (RFC 7607)")]
    ZeroAsn,
    #[error("confederation segment from an external peer")]
    ConfedFromExternal,
    #[error("next hop is not a usable unicast address")]
    NextHop,
}

/// An RFC 7606 error on one attribute of an otherwise decodable UPDATE.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[error("{name} (type {code}): {kind}; {action:?}")]
pub struct AttributeError {
    /// The attribute type code.
    pub code: u8,
    /// The attribute's name, or "unknown".
    pub name: &'static str,
    pub kind: AttributeErrorKind,
    pub action: ErrorAction,
}

/// Why an encode call failed: the message would not fit, or a value cannot be expressed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("message of {len} octets exceeds the maximum of {max}")]
    TooLong { len: usize, max: usize },
    #[error("{0} does not fit its length field")]
    FieldTooLong(&'static str),
}
