//! What a session tells its owner: its states, the actions to carry out, the events to
//! act on, why it went down or was stopped, and its counters.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::Negotiated;
use crate::types::Family;
use crate::wire::error::{code, subcode};
use crate::wire::{EncodeError, Notification, Update};

/// RFC 4271 8.2.2 states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the owner must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer; report the outcome with `handle_connected` or
    /// `handle_connect_failed`.
    Connect,
    /// Write these bytes to the connection.
    Transmit(Bytes),
    /// Close the connection, after writing what was transmitted before.
    Close,
    /// Something the owner may want to know or act on.
    Event(Event),
}

/// Which ROUTE-REFRESH was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefreshKind {
    /// The peer asks for our routes again (RFC 2918).
    Request,
    /// Beginning of Route Refresh (RFC 7313): the peer's routes of the family follow.
    Begin,
    /// End of Route Refresh: routes of the family not re-sent since Begin are gone.
    End,
}

/// Why a session went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    Sent(Notification),
    /// The peer sent this NOTIFICATION.
    Received(Notification),
    /// The connection failed or was closed with no NOTIFICATION.
    ConnectionLost,
}

/// Events for the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    StateChanged {
        from: State,
        to: State,
    },
    /// The session is Established with what it negotiated.
    Established(Box<Negotiated>),
    /// An UPDATE from the peer. RFC 7606 outcomes are in its `errors`; a treat-as-withdraw
    /// UPDATE is delivered so that its routes can be withdrawn.
    Update(Box<Update>),
    /// The peer's End-of-RIB for a family (RFC 4724 2).
    EndOfRib(Family),
    /// A ROUTE-REFRESH from the peer, for a negotiated family.
    RouteRefresh {
        family: Family,
        kind: RefreshKind,
    },
    /// The session left OpenSent or a later state. With `retain_stale`, the peer may be
    /// restarting gracefully (RFC 4724): keep its routes, marked stale, for that long.
    Down {
        reason: DownReason,
        was_established: bool,
        retain_stale: Option<Duration>,
    },
    /// The peer's stale routes are to be removed: its restart did not complete in time, or
    /// it came back without End-of-RIB for some families in time.
    StaleRoutesExpired,
    /// The peer's stale routes of one family are to be removed (the family has no
    /// long-lived stale time, or its time ran out, or the peer came back without keeping
    /// its forwarding state).
    StaleFamilyExpired(Family),
    /// The restart time ran out (or was 0) and the peer's stale routes of these families
    /// become long-lived stale (RFC 9494 4.2), each kept for its stale time.
    LongLivedStale(Vec<(Family, Duration)>),
}

/// Why the owner stops the session: the Cease subcode and an RFC 8203 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopReason {
    pub subcode: u8,
    pub message: String,
}

impl StopReason {
    pub fn admin_shutdown(message: impl Into<String>) -> StopReason {
        StopReason {
            subcode: subcode::ADMIN_SHUTDOWN,
            message: message.into(),
        }
    }

    pub fn admin_reset(message: impl Into<String>) -> StopReason {
        StopReason {
            subcode: subcode::ADMIN_RESET,
            message: message.into(),
        }
    }

    /// Cease with a subcode that carries no message (max prefixes, peer de-configured, ...).
    pub fn cease(subcode: u8) -> StopReason {
        StopReason {
            subcode,
            message: String::new(),
        }
    }

    pub(super) fn notification(&self) -> Notification {
        if matches!(self.subcode, subcode::ADMIN_SHUTDOWN | subcode::ADMIN_RESET) {
            Notification::cease_with_message(self.subcode, &self.message)
        } else {
            Notification::new(code::CEASE, self.subcode, Bytes::new())
        }
    }
}

/// Calls that are not valid in the session's state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the session is not Established")]
    NotEstablished,
    #[error("family {0} was not negotiated")]
    FamilyNotNegotiated(Family),
    #[error("the peer did not announce route refresh")]
    RefreshNotNegotiated,
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Message counters of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub messages_in: u64,
    pub messages_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    /// Times the session reached Established.
    pub established: u64,
    /// Times it went down (from OpenSent or later).
    pub down: u64,
}
