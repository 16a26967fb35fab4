//! Bidirectional Forwarding Detection (RFC 5880, with the single-hop rules of RFC 5881 and
//! the multihop rules of RFC 5883), with no sockets and no clock.
//!
//! So far, the control packet codec (`packet`) and the reasons a received packet is
//! dropped for (`status`).

mod packet;
mod status;

pub use packet::{
    AuthSection, AuthType, ControlPacket, Diag, MANDATORY_LEN, PacketError, Password, State,
    VERSION, field,
};
pub use status::DropReason;
