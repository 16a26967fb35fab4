//! Speaker configuration: the router's (identity, peers, restart) and the I/O around it.

use std::net::{Ipv4Addr, SocketAddr};

use bgp_core::router::RouterConfig;

/// A speaker: the router it drives, where it listens, and the kernel.
#[derive(Clone, Debug)]
pub struct SpeakerConfig {
    /// Identity, reflection, peers, dynamic ranges, graceful restart.
    pub router: RouterConfig,
    /// Addresses to accept connections on; none: connect out only.
    pub listen: Vec<SocketAddr>,
    /// Install best routes into the kernel.
    pub fib: Option<crate::fib::FibConfig>,
    /// Announce routes learned from the kernel (the node agent's pod routes).
    pub learn: Option<crate::kernel_routes::LearnConfig>,
    /// BMP stations to export to (RFC 7854).
    pub bmp: Vec<crate::monitor::BmpConfig>,
    /// MRT table dumps and update log (RFC 6396).
    pub mrt: Option<crate::monitor::mrt::MrtConfig>,
}

impl SpeakerConfig {
    pub fn new(asn: u32, router_id: Ipv4Addr) -> SpeakerConfig {
        SpeakerConfig {
            router: RouterConfig::new(asn, router_id),
            listen: Vec::new(),
            fib: None,
            learn: None,
            bmp: Vec::new(),
            mrt: None,
        }
    }
}
