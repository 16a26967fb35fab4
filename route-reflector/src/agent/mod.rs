//! The node agent: our speaker on a container-network node. It peers with the rack's
//! reflectors (or a top-of-rack router), announces the node's IPv4 and IPv6 pod blocks
//! with the node as next hop, and installs what the other nodes announce into the kernel
//! (ECMP sets with a device per next hop, directly or through the IPIP tunnel), following
//! the node's addresses and links as they change.
//!
//! Its configuration is a file in the reflector's format with a `[node]` table, or the
//! command-line flags alone (see [`flags`]). It has the reflector's admin socket (`show
//! peers|peer|routes|fib`, `reload`, `--json`), Prometheus endpoint, JSON logs and SIGHUP
//! reload.

mod cli;
mod fib;
pub mod flags;
mod run;

pub use cli::main;
