//! The tokio driver around [`bgp_core`]: TCP sessions, timers, the kernel FIB, and the API
//! a node agent uses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bgp_speaker::SpeakerError> {
//! use bgp_speaker::{Announcement, PeerSettings, Speaker, SpeakerConfig};
//!
//! let mut cfg = SpeakerConfig::new(65000, "192.168.100.100".parse().unwrap());
//! cfg.listen.push("192.168.100.100:179".parse().unwrap());
//! let mut rr = PeerSettings::new("192.168.100.1".parse().unwrap(), 65000);
//! rr.local_address = Some("192.168.100.100".parse().unwrap());
//! cfg.router.peers.push(rr);
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
//! The protocol is [`bgp_core::router::Router`], a value; this crate owns what it cannot:
//! the sockets ([`net`](crate::net)-level tasks), the clock, the kernel, metrics. The
//! driver (one task) feeds the router what happened and carries out what it says.
//!
//! With `fib` configured, best routes learned from peers are installed in the kernel
//! ([`fib`]), kept across a restart and reconciled once the peers have re-sent their
//! tables. With `learn` configured, the node agent's routes in the kernel (its blocks and
//! workload routes) are announced as they come and go ([`kernel_routes`]). [`metrics`] has
//! the Prometheus metrics.
//!
//! Folders follow the flow: `api` (the handle) → `driver` (the router's task) → `net`
//! (sockets) and `kernel` (FIB and learned routes).

mod api;
mod config;
mod driver;
mod error;
mod kernel;
pub mod metrics;
mod metrics_bfd;
mod monitor;
mod net;
mod query;

pub use api::Speaker;
pub use bgp_core as core;
pub use bgp_core::router::Monitoring;
pub use bgp_core::router::{
    AddPath, Announcement, BGP_PORT, DampingConfig, DynamicPeers, ErrorWait, LimitFamily,
    MaxPrefixes, NextHopSetting, Password, PathSelection, PeerSettings, PeerStatus, PeerUpdate,
    RouteChange, Summary as SpeakerSummary,
};
pub use bgp_core::router::{BfdSettings, PeerBfdStatus};
pub use config::SpeakerConfig;
pub use driver::by_interface;
pub use error::SpeakerError;
pub use kernel::fib;
pub use kernel::learn as kernel_routes;
pub use kernel::writer::FibCounters;
pub use metrics_bfd::BfdMetrics;
pub use monitor::BmpConfig;
pub use monitor::mrt::MrtConfig;
pub use query::{PathDetail, PeerTable, PeerTableView, RouteDetail, RouteQuery, TableRoute};
