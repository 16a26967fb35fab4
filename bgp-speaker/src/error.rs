//! What can go wrong in a call of the speaker API.

use std::net::IpAddr;

use bgp_core::router::RouterError;
use ipnet::IpNet;

/// Errors of the speaker API.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("a peer at {0} is already configured")]
    DuplicatePeer(IpAddr),
    #[error("peer {0}: {1}")]
    InvalidPeer(IpAddr, &'static str),
    #[error("no peer at {0}")]
    NoPeer(IpAddr),
    #[error("a peer on interface {0} exists already")]
    DuplicateInterface(String),
    #[error("no peer on interface {0}")]
    NoInterfacePeer(String),
    #[error("the session with {0} is not established")]
    NotEstablished(IpAddr),
    #[error("{0} did not announce the route refresh capability")]
    NoRouteRefresh(IpAddr),
    #[error("the speaker has stopped")]
    Stopped,
    #[error("{0} has a next hop of the other address family")]
    NextHopFamily(IpNet),
    #[error("kernel FIB: {0}")]
    Fib(#[from] crate::fib::FibError),
    #[error("TCP-MD5 for {0}: {1}")]
    Md5(IpAddr, std::io::Error),
    #[error("{0}'s routes before the import policy are not kept (soft_reconfig_inbound)")]
    NotKept(IpAddr),
}

impl From<RouterError> for SpeakerError {
    fn from(e: RouterError) -> SpeakerError {
        match e {
            RouterError::DuplicatePeer(a) => SpeakerError::DuplicatePeer(a),
            RouterError::InvalidPeer(a, why) => SpeakerError::InvalidPeer(a, why),
            RouterError::NoPeer(a) => SpeakerError::NoPeer(a),
            RouterError::NotEstablished(a) => SpeakerError::NotEstablished(a),
            RouterError::NoRouteRefresh(a) => SpeakerError::NoRouteRefresh(a),
            RouterError::NextHopFamily(p) => SpeakerError::NextHopFamily(p),
        }
    }
}
