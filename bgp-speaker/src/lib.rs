//! The tokio driver around [`bgp_core`]: TCP sessions, timers, peers, and the API a node
//! agent uses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bgp_speaker::SpeakerError> {
//! use bgp_speaker::{Announcement, PeerSettings, Speaker, SpeakerConfig};
//!
//! let mut cfg = SpeakerConfig::new(65000, "192.168.100.100".parse().unwrap());
//! cfg.listen.push("192.168.100.100:179".parse().unwrap());
//! let mut rr = PeerSettings::new("192.168.100.1".parse().unwrap(), 65000);
//! rr.local_address = Some("192.168.100.100".parse().unwrap());
//! cfg.peers.push(rr);
//! let speaker = Speaker::start(cfg).await?;
//! // Our pod block, with ourselves as next hop.
//! speaker.announce("172.17.8.0/24".parse().unwrap(), Announcement::default()).await?;
//! let mut changes = speaker.subscribe();
//! while let Ok(change) = changes.recv().await {
//!     println!("{} via {:?}", change.prefix, change.next_hops);
//! }
//! # Ok(()) }
//! ```
//!
//! With `fib` configured, best routes learned from peers are installed in the kernel
//! ([`fib`]), kept across a restart and reconciled once the peers have re-sent their
//! tables. With `learn` configured, the node agent's routes in the kernel (its blocks and
//! workload routes) are announced as they come and go ([`kernel_routes`]). [`metrics`] has
//! the Prometheus metrics.

mod config;
pub mod fib;
mod fib_batch;
mod fib_task;
pub mod kernel_routes;
pub mod metrics;
mod peer_task;
mod sockopt;
mod speaker;

pub use bgp_core as core;
pub use config::{
    BGP_PORT, DynamicPeers, ErrorWait, LimitFamily, MaxPrefixes, NextHopSetting, Password,
    PeerSettings, SpeakerConfig,
};
pub use fib_task::FibCounters;
pub use speaker::{
    Announcement, PathDetail, PeerStatus, PeerUpdate, RouteChange, RouteDetail, RouteQuery,
    Speaker, SpeakerError, SpeakerSummary,
};
