//! Sans-IO BGP-4.
//!
//! This crate holds the protocol and nothing else: no sockets, no runtime, no clock. Bytes
//! and time go in as values, and what to do comes out as values.
//!
//! ```text
//! bytes ─▶ wire ─▶ session ─▶ Adj-RIB-In ─▶ import policy ─▶ Loc-RIB (best path)
//!                                                              │
//! bytes ◀─ wire ◀─ session ◀─ Adj-RIB-Out ◀─ export policy ◀───┘
//! ```
//!
//! - [`wire`]: messages to and from bytes, with RFC 7606 error handling.
//! - [`session`]: one BGP connection's state machine (RFC 4271 section 8) and the
//!   collision handling of two connections to one peer.
//! - [`rib`]: Adj-RIBs-In, Loc-RIB with best path and ECMP, route reflection, update groups.
//! - [`policy`]: import and export policies.
//! - [`router`]: the whole speaker (every peer's sessions, the RIB, what flows between
//!   them) as one value, driven like a session.
//! - [`bfd`]: Bidirectional Forwarding Detection (RFC 5880, 5881, 5883), many sessions in
//!   one endpoint, driven like the router.
//! - [`mrt`]: reading MRT captures (RFC 6396), the format operators keep BGP traffic in.
//! - [`types`]: small shared value types.

pub mod bfd;
pub mod bmp;
pub mod mrt;
pub mod policy;
pub mod rib;
pub mod router;
pub mod session;
pub mod types;
pub mod wire;

pub use types::{Afi, Asn, Family, PathId, RouterId, Safi};
