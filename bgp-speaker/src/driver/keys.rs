//! Per-peer settings that live on the listening sockets: TCP-MD5 keys (a SYN from a peer
//! with a key must be answered signed, before the connection is ours to configure) and the
//! TTL of GTSM peers' SYN-ACKs.

use std::net::IpAddr;

use bgp_core::router::{DynamicPeers, PeerSettings};

use crate::error::SpeakerError;
use crate::net::listen::ListenFd;
use crate::net::sockopt;

#[derive(Debug)]
pub(super) struct Keys {
    fds: Vec<ListenFd>,
}

impl Keys {
    pub(super) fn new(fds: Vec<ListenFd>) -> Keys {
        Keys { fds }
    }

    fn of_family(&self, v6: bool) -> impl Iterator<Item = &ListenFd> {
        self.fds.iter().filter(move |l| l.v6 == v6)
    }

    /// A peer's key (if it has a password) on the listeners of its family; with GTSM, the
    /// listeners answer with TTL 255 (harmless for other peers: the minimum TTL is set per
    /// connection).
    pub(super) fn peer(&self, p: &PeerSettings) -> Result<(), SpeakerError> {
        let v6 = p.address.is_ipv6();
        if let Some(pw) = &p.password {
            for l in self.of_family(v6) {
                sockopt::set_md5(l.fd, p.address, pw.0.as_bytes())
                    .map_err(|e| SpeakerError::Md5(p.address, e))?;
            }
        }
        if p.ttl_security.is_some() {
            for l in self.of_family(v6) {
                let _ = sockopt::set_ttl(l.fd, v6, 255);
            }
        }
        Ok(())
    }

    /// Removes a peer's key.
    pub(super) fn clear(&self, addr: IpAddr) {
        for l in self.of_family(addr.is_ipv6()) {
            let _ = sockopt::set_md5(l.fd, addr, &[]);
        }
    }

    /// The key of each range whose template has a password, for every address in it.
    pub(super) fn ranges(&self, ranges: &[DynamicPeers]) -> Result<(), SpeakerError> {
        for d in ranges {
            let net = d.range.trunc();
            let v6 = net.addr().is_ipv6();
            if let Some(pw) = &d.template.password {
                for l in self.of_family(v6) {
                    sockopt::set_md5_prefix(l.fd, net.addr(), net.prefix_len(), pw.0.as_bytes())
                        .map_err(|e| SpeakerError::Md5(net.addr(), e))?;
                }
            }
            if d.template.ttl_security.is_some() {
                for l in self.of_family(v6) {
                    let _ = sockopt::set_ttl(l.fd, v6, 255);
                }
            }
        }
        Ok(())
    }
}
