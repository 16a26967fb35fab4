//! The sockets: listeners, connections out, and a reader and a writer per connection.
//!
//! ```text
//!   listener ──accepted stream──┐
//!   connect attempt ──stream────┼──▶ driver (the router)
//!   reader ──bytes, closed──────┤        │
//!   writer ──written, failed────┘        └──messages, close──▶ writer ──▶ socket
//! ```
//!
//! Nothing here decides anything about BGP: the router says whom to connect to, which
//! connection belongs to whom, what to write and when to close.

pub(crate) mod bfd;
pub(crate) mod conn;
pub(crate) mod listen;
pub(crate) mod nd;
pub(crate) mod sockopt;
