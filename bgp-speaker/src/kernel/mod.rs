//! The kernel side: the FIB the best routes are written to, and the routes learned from it.
//!
//! ```text
//!   driver ──best-route changes, the settled table──▶ writer ──netlink──▶ kernel FIB
//!   driver ◀──announce / withdraw── learn ◀──netlink notifications── kernel routes
//!   driver ◀──re-decide the devices── writer ◀──address and link notifications── kernel
//! ```

pub mod fib;
mod fib_batch;
pub mod learn;
mod links;
pub(crate) mod writer;
