//! BFD Control packets (RFC 5880 4.1) to and from bytes.
//!
//! [`ControlPacket::decode`] applies every reception check of RFC 5880 6.8.6 that needs no
//! session: version, the Length field against its minimum and against the octets received,
//! Detect Mult, the Multipoint bit, My Discriminator, a zero Your Discriminator outside Down
//! and AdminDown, and the shape of the authentication section (4.2 to 4.4). It reads
//! nothing past the Length field and never panics; each failure is a [`PacketError`] whose
//! variant names the reason. Octets past the sections that Length covers, or past Length in
//! the datagram, are ignored.
//!
//! Encoding is infallible and writes exactly [`ControlPacket::encoded_len`] octets. Interval
//! fields are whole microseconds on the wire: a [`Duration`] is truncated to microseconds and
//! saturates at `u32::MAX` of them.

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::status::DropReason;

/// The protocol version this codec speaks (RFC 5880 4.1).
pub const VERSION: u8 = 1;

/// Length of the mandatory section, without authentication.
pub const MANDATORY_LEN: usize = 24;

/// Byte offsets of the fields, for code that patches encoded packets (the digests of 6.7).
pub mod field {
    /// Version (3 bits) and Diag (5 bits).
    pub const VERS_DIAG: usize = 0;
    /// State (2 bits) and the P, F, C, A, D, M bits.
    pub const STATE_FLAGS: usize = 1;
    pub const DETECT_MULT: usize = 2;
    pub const LENGTH: usize = 3;
    pub const MY_DISCRIMINATOR: usize = 4;
    pub const YOUR_DISCRIMINATOR: usize = 8;
    pub const DESIRED_MIN_TX: usize = 12;
    pub const REQUIRED_MIN_RX: usize = 16;
    pub const REQUIRED_MIN_ECHO_RX: usize = 20;
    /// Auth Type, then Auth Len, then the type's own fields.
    pub const AUTH: usize = 24;
    /// Where a keyed MD5 or SHA1 section keeps its digest.
    pub const AUTH_DIGEST: usize = AUTH + 8;
}

const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
const FLAG_CPI: u8 = 0x08;
const FLAG_AUTH: u8 = 0x04;
const FLAG_DEMAND: u8 = 0x02;
const FLAG_MULTIPOINT: u8 = 0x01;

/// Session states (RFC 5880 4.1, the Sta field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    pub const ALL: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];

    /// The state of a 2-bit field value (higher bits are ignored).
    pub fn from_bits(bits: u8) -> State {
        match bits & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Diagnostic codes: why the sender's session last changed state (RFC 5880 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0.
    NoDiagnostic,
    /// 1: no packet from the peer for a Detection Time.
    ControlDetectionTimeExpired,
    /// 2.
    EchoFunctionFailed,
    /// 3: the peer said it is down.
    NeighborSignaledSessionDown,
    /// 4.
    ForwardingPlaneReset,
    /// 5.
    PathDown,
    /// 6.
    ConcatenatedPathDown,
    /// 7: taken down by the operator.
    AdministrativelyDown,
    /// 8.
    ReverseConcatenatedPathDown,
    /// 9 to 31, reserved: kept so that what is received is shown as it was.
    Reserved(u8),
}

impl Diag {
    /// The diagnostic of a 5-bit field value (higher bits are ignored).
    pub fn from_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::NoDiagnostic,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Reserved(c),
        }
    }

    /// The code on the wire (a `Reserved` value above 31 is cut to its low 5 bits).
    pub fn code(self) -> u8 {
        match self {
            Diag::NoDiagnostic => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(c) => c & 0x1f,
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Diag::NoDiagnostic => "no diagnostic",
            Diag::ControlDetectionTimeExpired => "control detection time expired",
            Diag::EchoFunctionFailed => "echo function failed",
            Diag::NeighborSignaledSessionDown => "neighbor signaled session down",
            Diag::ForwardingPlaneReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdministrativelyDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Reserved(c) => return write!(f, "reserved diagnostic {c}"),
        };
        f.write_str(s)
    }
}

/// Authentication types (RFC 5880 4.1, Auth Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    SimplePassword = 1,
    KeyedMd5 = 2,
    MeticulousKeyedMd5 = 3,
    KeyedSha1 = 4,
    MeticulousKeyedSha1 = 5,
}

impl AuthType {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether the sequence number must grow with every packet.
    pub fn is_meticulous(self) -> bool {
        matches!(
            self,
            AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1
        )
    }
}

/// A simple password (RFC 5880 4.2): 1 to 16 octets.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password {
    len: u8,
    bytes: [u8; 16],
}

impl Password {
    /// The password, or `None` when it is empty or longer than 16 octets.
    pub fn new(bytes: &[u8]) -> Option<Password> {
        if bytes.is_empty() || bytes.len() > 16 {
            return None;
        }
        let mut p = Password {
            len: bytes.len() as u8,
            bytes: [0; 16],
        };
        p.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(p)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(*** {} octets)", self.len)
    }
}

/// The optional authentication section (RFC 5880 4.2 to 4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthSection {
    /// Auth Type 1.
    SimplePassword { key_id: u8, password: Password },
    /// Auth Type 2, or 3 when meticulous.
    KeyedMd5 {
        meticulous: bool,
        key_id: u8,
        sequence: u32,
        digest: [u8; 16],
    },
    /// Auth Type 4, or 5 when meticulous.
    KeyedSha1 {
        meticulous: bool,
        key_id: u8,
        sequence: u32,
        hash: [u8; 20],
    },
}

impl AuthSection {
    pub fn auth_type(&self) -> AuthType {
        match self {
            AuthSection::SimplePassword { .. } => AuthType::SimplePassword,
            AuthSection::KeyedMd5 { meticulous, .. } if *meticulous => AuthType::MeticulousKeyedMd5,
            AuthSection::KeyedMd5 { .. } => AuthType::KeyedMd5,
            AuthSection::KeyedSha1 { meticulous, .. } if *meticulous => {
                AuthType::MeticulousKeyedSha1
            }
            AuthSection::KeyedSha1 { .. } => AuthType::KeyedSha1,
        }
    }

    pub fn key_id(&self) -> u8 {
        match self {
            AuthSection::SimplePassword { key_id, .. }
            | AuthSection::KeyedMd5 { key_id, .. }
            | AuthSection::KeyedSha1 { key_id, .. } => *key_id,
        }
    }

    /// The sequence number of the keyed types.
    pub fn sequence(&self) -> Option<u32> {
        match self {
            AuthSection::SimplePassword { .. } => None,
            AuthSection::KeyedMd5 { sequence, .. } | AuthSection::KeyedSha1 { sequence, .. } => {
                Some(*sequence)
            }
        }
    }

    /// The Auth Len field: the whole section, type and length octets included.
    pub fn encoded_len(&self) -> usize {
        match self {
            AuthSection::SimplePassword { password, .. } => 3 + password.as_bytes().len(),
            AuthSection::KeyedMd5 { .. } => 24,
            AuthSection::KeyedSha1 { .. } => 28,
        }
    }

    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(self.auth_type().code());
        buf.put_u8(self.encoded_len() as u8);
        match self {
            AuthSection::SimplePassword { key_id, password } => {
                buf.put_u8(*key_id);
                buf.put_slice(password.as_bytes());
            }
            AuthSection::KeyedMd5 {
                key_id,
                sequence,
                digest,
                ..
            } => {
                buf.put_u8(*key_id);
                buf.put_u8(0);
                buf.put_u32(*sequence);
                buf.put_slice(digest);
            }
            AuthSection::KeyedSha1 {
                key_id,
                sequence,
                hash,
                ..
            } => {
                buf.put_u8(*key_id);
                buf.put_u8(0);
                buf.put_u32(*sequence);
                buf.put_slice(hash);
            }
        }
    }

    /// The section at the start of `b`, which holds what the packet's Length leaves for it.
    fn decode(b: &[u8]) -> Result<AuthSection, PacketError> {
        // Length >= 26 with the A bit was checked: the type and length octets are there.
        let (auth_type, len) = (b[0], b[1]);
        let bad_len = PacketError::AuthLength { auth_type, len };
        let expected = match auth_type {
            1 => 4..=19,
            2 | 3 => 24..=24,
            4 | 5 => 28..=28,
            t => return Err(PacketError::UnknownAuthType(t)),
        };
        if !expected.contains(&len) || usize::from(len) > b.len() {
            return Err(bad_len);
        }
        let s = &b[..usize::from(len)];
        let key_id = s[2];
        if auth_type == 1 {
            let password = Password::new(&s[3..]).ok_or(bad_len)?;
            return Ok(AuthSection::SimplePassword { key_id, password });
        }
        // s[3] is Reserved: ignored on receipt.
        let sequence = u32::from_be_bytes([s[4], s[5], s[6], s[7]]);
        let meticulous = auth_type % 2 == 1;
        Ok(if auth_type <= 3 {
            let mut digest = [0; 16];
            digest.copy_from_slice(&s[8..24]);
            AuthSection::KeyedMd5 {
                meticulous,
                key_id,
                sequence,
                digest,
            }
        } else {
            let mut hash = [0; 20];
            hash.copy_from_slice(&s[8..28]);
            AuthSection::KeyedSha1 {
                meticulous,
                key_id,
                sequence,
                hash,
            }
        })
    }
}

/// A BFD Control packet (RFC 5880 4.1). The version is always 1 and the Multipoint bit
/// always clear; the Authentication Present bit is set when `auth` is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    /// P: the sender asks for a packet with F in return (a Poll Sequence, 6.5).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to run Demand mode (6.6).
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub required_min_echo_rx: Duration,
    pub auth: Option<AuthSection>,
}

/// Why received bytes are not a control packet that may be processed (RFC 5880 6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("{received} octets, too few to hold the length field")]
    TooShort { received: usize },
    #[error("version {0}, not 1")]
    Version(u8),
    #[error("length {length} below the minimum of {min}")]
    LengthTooSmall { length: u8, min: u8 },
    #[error("length {length} past the {received} octets received")]
    LengthExceedsPayload { length: u8, received: usize },
    #[error("detect multiplier 0")]
    ZeroDetectMult,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator 0")]
    ZeroMyDiscriminator,
    #[error("your discriminator 0 in state {0}")]
    ZeroYourDiscriminator(State),
    #[error("authentication type {0} unknown")]
    UnknownAuthType(u8),
    #[error("authentication length {len} wrong for type {auth_type} or past the packet")]
    AuthLength { auth_type: u8, len: u8 },
}

impl PacketError {
    /// The reason a packet is counted as dropped for.
    pub fn reason(&self) -> DropReason {
        match self {
            PacketError::TooShort { .. } => DropReason::TooShort,
            PacketError::Version(_) => DropReason::Version,
            PacketError::LengthTooSmall { .. } => DropReason::LengthTooSmall,
            PacketError::LengthExceedsPayload { .. } => DropReason::LengthExceedsPayload,
            PacketError::ZeroDetectMult => DropReason::ZeroDetectMult,
            PacketError::Multipoint => DropReason::Multipoint,
            PacketError::ZeroMyDiscriminator => DropReason::ZeroMyDiscriminator,
            PacketError::ZeroYourDiscriminator(_) => DropReason::ZeroYourDiscriminator,
            PacketError::UnknownAuthType(_) => DropReason::UnknownAuthType,
            PacketError::AuthLength { .. } => DropReason::AuthLength,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl ControlPacket {
    /// The octets [`ControlPacket::encode`] writes, which is also the Length field.
    pub fn encoded_len(&self) -> usize {
        MANDATORY_LEN + self.auth.map_or(0, |a| a.encoded_len())
    }

    /// Appends the packet to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut flags = self.state.code() << 6;
        for (on, bit) in [
            (self.poll, FLAG_POLL),
            (self.final_, FLAG_FINAL),
            (self.control_plane_independent, FLAG_CPI),
            (self.auth.is_some(), FLAG_AUTH),
            (self.demand, FLAG_DEMAND),
        ] {
            if on {
                flags |= bit;
            }
        }
        buf.reserve(self.encoded_len());
        buf.put_u8((VERSION << 5) | self.diag.code());
        buf.put_u8(flags);
        buf.put_u8(self.detect_mult);
        buf.put_u8(self.encoded_len() as u8);
        buf.put_u32(self.my_discriminator);
        buf.put_u32(self.your_discriminator);
        buf.put_u32(micros(self.desired_min_tx));
        buf.put_u32(micros(self.required_min_rx));
        buf.put_u32(micros(self.required_min_echo_rx));
        if let Some(a) = &self.auth {
            a.encode(buf);
        }
    }

    /// The packet in a buffer of exactly its size.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut b);
        b.freeze()
    }

    /// The packet at the start of a received datagram, checked as RFC 5880 6.8.6 says, in
    /// its order.
    pub fn decode(b: &[u8]) -> Result<ControlPacket, PacketError> {
        let Some(first) = b.first() else {
            return Err(PacketError::TooShort { received: 0 });
        };
        let version = first >> 5;
        if version != VERSION {
            return Err(PacketError::Version(version));
        }
        if b.len() <= field::LENGTH {
            return Err(PacketError::TooShort { received: b.len() });
        }
        let flags = b[field::STATE_FLAGS];
        let length = b[field::LENGTH];
        let min = if flags & FLAG_AUTH != 0 { 26 } else { 24 };
        if length < min {
            return Err(PacketError::LengthTooSmall { length, min });
        }
        if usize::from(length) > b.len() {
            return Err(PacketError::LengthExceedsPayload {
                length,
                received: b.len(),
            });
        }
        let b = &b[..usize::from(length)];
        let detect_mult = b[field::DETECT_MULT];
        if detect_mult == 0 {
            return Err(PacketError::ZeroDetectMult);
        }
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(PacketError::Multipoint);
        }
        let my_discriminator = be32(b, field::MY_DISCRIMINATOR);
        if my_discriminator == 0 {
            return Err(PacketError::ZeroMyDiscriminator);
        }
        let state = State::from_bits(flags >> 6);
        let your_discriminator = be32(b, field::YOUR_DISCRIMINATOR);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(PacketError::ZeroYourDiscriminator(state));
        }
        let auth = if flags & FLAG_AUTH != 0 {
            Some(AuthSection::decode(&b[field::AUTH..])?)
        } else {
            None
        };
        let us = |at| Duration::from_micros(u64::from(be32(b, at)));
        Ok(ControlPacket {
            diag: Diag::from_code(b[field::VERS_DIAG]),
            state,
            poll: flags & FLAG_POLL != 0,
            final_: flags & FLAG_FINAL != 0,
            control_plane_independent: flags & FLAG_CPI != 0,
            demand: flags & FLAG_DEMAND != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx: us(field::DESIRED_MIN_TX),
            required_min_rx: us(field::REQUIRED_MIN_RX),
            required_min_echo_rx: us(field::REQUIRED_MIN_ECHO_RX),
            auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_diag_code_survives_the_field() {
        for c in 0..32u8 {
            assert_eq!(Diag::from_code(c).code(), c);
        }
        assert_eq!(Diag::from_code(7), Diag::AdministrativelyDown);
        assert_eq!(Diag::from_code(9), Diag::Reserved(9));
    }

    #[test]
    fn passwords_are_one_to_sixteen_octets() {
        assert!(Password::new(b"").is_none());
        assert!(Password::new(&[1; 17]).is_none());
        assert_eq!(Password::new(b"abc").unwrap().as_bytes(), b"abc");
        assert_eq!(
            format!("{:?}", Password::new(b"abc").unwrap()),
            "Password(*** 3 octets)"
        );
    }
}
