//! What the endpoint shows of itself: each session's state and counters, and why packets
//! were dropped.

use std::fmt;
use std::time::{Duration, Instant};

use super::io::{SessionId, SessionKey};
use super::packet::{Diag, State};

/// Why a received packet was dropped. Each reception check of RFC 5880 6.8.6 (and of the
/// transport rules of RFC 5881 and 5883) has its own reason, so that a driver can count
/// drops by reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Fewer octets than the Length field needs.
    TooShort,
    /// Version is not 1.
    Version,
    /// Length below 24, or below 26 with the A bit.
    LengthTooSmall,
    /// Length past the octets received.
    LengthExceedsPayload,
    ZeroDetectMult,
    /// The Multipoint bit is set.
    Multipoint,
    ZeroMyDiscriminator,
    /// Your Discriminator is 0 while the State is Init or Up.
    ZeroYourDiscriminator,
    /// An Auth Type this codec does not know.
    UnknownAuthType,
    /// An Auth Len wrong for its type, or past the packet.
    AuthLength,
    /// No session has the packet's Your Discriminator, or, when it is 0, its addresses.
    NoSession,
    /// The session found by discriminator has another remote address, interface or hop
    /// kind than the packet.
    AddressMismatch,
    /// A single-hop packet whose TTL or hop limit is not 255 (RFC 5881 5), or a multihop
    /// one under the session's minimum.
    Ttl,
    /// The session is AdminDown: received packets are discarded (6.8.6).
    AdminDown,
    /// The session uses authentication and the A bit is clear.
    AuthMissing,
    /// The A bit is set and the session uses no authentication.
    AuthUnexpected,
    /// Another Auth Type than the session's.
    AuthTypeMismatch,
    /// Another key ID than the session's.
    AuthKeyId,
    /// Wrong password, or a digest that does not match.
    AuthFailed,
    /// A keyed sequence number outside the window of 6.7.3 (a replay, or a jump).
    AuthSequence,
}

impl DropReason {
    pub const COUNT: usize = 20;

    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::TooShort,
        DropReason::Version,
        DropReason::LengthTooSmall,
        DropReason::LengthExceedsPayload,
        DropReason::ZeroDetectMult,
        DropReason::Multipoint,
        DropReason::ZeroMyDiscriminator,
        DropReason::ZeroYourDiscriminator,
        DropReason::UnknownAuthType,
        DropReason::AuthLength,
        DropReason::NoSession,
        DropReason::AddressMismatch,
        DropReason::Ttl,
        DropReason::AdminDown,
        DropReason::AuthMissing,
        DropReason::AuthUnexpected,
        DropReason::AuthTypeMismatch,
        DropReason::AuthKeyId,
        DropReason::AuthFailed,
        DropReason::AuthSequence,
    ];

    /// A short label, for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::Version => "version",
            DropReason::LengthTooSmall => "length_too_small",
            DropReason::LengthExceedsPayload => "length_exceeds_payload",
            DropReason::ZeroDetectMult => "zero_detect_mult",
            DropReason::Multipoint => "multipoint",
            DropReason::ZeroMyDiscriminator => "zero_my_discriminator",
            DropReason::ZeroYourDiscriminator => "zero_your_discriminator",
            DropReason::UnknownAuthType => "unknown_auth_type",
            DropReason::AuthLength => "auth_length",
            DropReason::NoSession => "no_session",
            DropReason::AddressMismatch => "address_mismatch",
            DropReason::Ttl => "ttl",
            DropReason::AdminDown => "admin_down",
            DropReason::AuthMissing => "auth_missing",
            DropReason::AuthUnexpected => "auth_unexpected",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthKeyId => "auth_key_id",
            DropReason::AuthFailed => "auth_failed",
            DropReason::AuthSequence => "auth_sequence",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dropped packets, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops([u64; DropReason::COUNT]);

impl Drops {
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The reasons with at least one drop.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .into_iter()
            .map(|r| (r, self.get(r)))
            .filter(|(_, n)| *n > 0)
    }

    pub(super) fn add(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }
}

/// Packet counters, of one session or of the whole endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets accepted: they went through the whole reception procedure.
    pub packets_in: u64,
    /// Packets handed to the driver to send.
    pub packets_out: u64,
    /// Packets received and discarded. A received packet is either in `packets_in` or here.
    pub dropped: Drops,
    /// Times the session came Up.
    pub up: u64,
    /// Times it went from Up to another state.
    pub down: u64,
}

/// One session as [`Bfd::sessions`](super::Bfd::sessions) shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    pub id: SessionId,
    pub key: SessionKey,
    pub state: State,
    /// The last state the peer sent (Down until it sends one).
    pub remote_state: State,
    pub local_diag: Diag,
    /// The diagnostic of the peer's last packet.
    pub remote_diag: Diag,
    pub local_discriminator: u32,
    /// 0 until the peer is heard from, and again once it has been silent a Detection Time.
    pub remote_discriminator: u32,
    /// The interval periodic packets are sent at before jitter: the larger of our Desired Min
    /// TX in effect and the peer's Required Min RX.
    pub tx_interval: Duration,
    /// How long the peer may be silent before the session goes down; `None` until the peer
    /// is heard from.
    pub detection_time: Option<Duration>,
    /// The peer's Detect Mult (0 until it is heard from).
    pub remote_detect_mult: u8,
    pub remote_desired_min_tx: Duration,
    pub remote_required_min_rx: Duration,
    /// A Poll Sequence is running: our packets carry P until the peer answers with F.
    pub poll_active: bool,
    /// The UDP source port of this session's packets.
    pub source_port: u16,
    /// When the session last changed state, or was added.
    pub last_change: Instant,
    pub counters: Counters,
}
