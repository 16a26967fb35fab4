//! The kernel side: the FIB the best routes are written to, and the routes learned from it.
//!
//! ```text
//!   driver ──best-route changes, the settled table──▶ writer ──netlink──▶ kernel FIB
//!   driver ◀──announce / withdraw── learn ◀──netlink notifications── kernel routes
//! ```

pub mod fib;
mod fib_batch;
pub mod learn;
pub(crate) mod writer;
