//! Tokio driver around [`bgp_core`]: TCP sessions, timers, peers and the kernel FIB.
//!
//! The session driver and the node-agent API are built on top of the sans-IO core; this crate
//! currently re-exports the core so that dependants can already name its types.

pub use bgp_core as core;
