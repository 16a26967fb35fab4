//! Why received packets are dropped.

use std::fmt;

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
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
