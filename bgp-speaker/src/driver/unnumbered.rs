//! Peers given by interface alone (unnumbered): the driver finds the neighbour's link-local
//! address and gives the router a peer at it.
//!
//! The neighbour is the last router that advertised on the interface ([`nd`]), or the
//! link-local address a connection came from on that interface, whichever was first. When
//! another address shows up there, the peer at the old one goes and one at the new one
//! comes. The router only ever sees peers with addresses; the FIB learns that their
//! link-local next hops lead out of the interface.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use bgp_core::router::{PeerSettings, PeerStatus};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Driver, now};
use crate::error::SpeakerError;
use crate::net::nd::{self, Seen};
use crate::net::sockopt;

/// The peers by interface, by interface name.
#[derive(Debug, Default)]
pub(super) struct Interfaces {
    peers: HashMap<String, Unnumbered>,
}

#[derive(Debug)]
struct Unnumbered {
    template: PeerSettings,
    neighbour: Option<Ipv6Addr>,
    advertiser: JoinHandle<()>,
}

impl Drop for Unnumbered {
    fn drop(&mut self) {
        self.advertiser.abort();
    }
}

/// Whether the settings name a peer by its interface alone.
pub fn by_interface(p: &PeerSettings) -> bool {
    p.interface.is_some() && p.address.is_unspecified()
}

impl Interfaces {
    /// The interface-only peer whose neighbour is at `addr`, if any.
    pub(super) fn interface_of(&self, addr: IpAddr) -> Option<&str> {
        let IpAddr::V6(a) = addr else { return None };
        self.peers
            .iter()
            .find(|(_, u)| u.neighbour == Some(a))
            .map(|(name, _)| name.as_str())
    }
}

impl Interfaces {
    /// The peers by interface whose neighbour is not found yet, as `show peers` lists
    /// them (the found ones are the router's).
    pub(super) fn waiting(&self, local_as: u32) -> Vec<PeerStatus> {
        let mut v: Vec<_> = self
            .peers
            .values()
            .filter(|u| u.neighbour.is_none())
            .map(|u| {
                let why = "no neighbour found on the interface yet (no router advertisement \
                           or connection from a link-local address there)";
                PeerStatus::waiting(&u.template, local_as, why)
            })
            .collect();
        v.sort_by(|a, b| a.interface.cmp(&b.interface));
        v
    }
}

impl Driver {
    /// A peer by interface: advertise there and wait for the neighbour.
    pub(super) fn add_unnumbered(&mut self, p: PeerSettings) -> Result<(), SpeakerError> {
        let Some(name) = p.interface.clone() else {
            return Err(SpeakerError::InvalidPeer(p.address, "no interface"));
        };
        if self.interfaces.peers.contains_key(&name) {
            return Err(SpeakerError::DuplicateInterface(name));
        }
        let mut probe = p.clone();
        probe.address = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        probe
            .validate()
            .map_err(|why| SpeakerError::InvalidPeer(p.address, why))?;
        info!(interface = %name, "peer by interface: waiting for a neighbour there");
        let advertiser = tokio::spawn(nd::run(name.clone(), self.seen_tx.clone()));
        self.interfaces.peers.insert(
            name,
            Unnumbered {
                template: p,
                neighbour: None,
                advertiser,
            },
        );
        Ok(())
    }

    /// New settings for a peer by interface: for its current neighbour too.
    pub(super) fn update_unnumbered(
        &mut self,
        p: PeerSettings,
    ) -> Result<bgp_core::router::PeerUpdate, SpeakerError> {
        let name = p.interface.clone().unwrap_or_default();
        let Some(u) = self.interfaces.peers.get_mut(&name) else {
            return Err(SpeakerError::NoInterfacePeer(name));
        };
        u.template = p.clone();
        match u.neighbour {
            Some(a) => self.update_peer(at(&p, a)),
            None => Ok(bgp_core::router::PeerUpdate::Unchanged),
        }
    }

    pub(super) fn remove_unnumbered(&mut self, name: &str) -> Result<(), SpeakerError> {
        let Some(u) = self.interfaces.peers.remove(name) else {
            return Err(SpeakerError::NoInterfacePeer(name.to_owned()));
        };
        if let Some(a) = u.neighbour {
            self.drop_neighbour(IpAddr::V6(a), u.template.password.is_some());
        }
        Ok(())
    }

    /// A router advertised on an interface.
    pub(super) fn seen(&mut self, s: Seen) {
        self.neighbour(&s.interface, s.addr);
    }

    /// A connection from a link-local address: from the neighbour of a peer by interface,
    /// perhaps one not seen before.
    pub(super) fn accepting(&mut self, remote: SocketAddr) {
        let SocketAddr::V6(r) = remote else { return };
        if !r.ip().is_unicast_link_local() || r.scope_id() == 0 {
            return;
        }
        let name = self
            .interfaces
            .peers
            .keys()
            .find(|n| sockopt::ifindex(n) == Some(r.scope_id()))
            .cloned();
        if let Some(name) = name {
            self.neighbour(&name, *r.ip());
        }
    }

    fn neighbour(&mut self, name: &str, addr: Ipv6Addr) {
        let Some(u) = self.interfaces.peers.get_mut(name) else {
            return;
        };
        if u.neighbour == Some(addr) {
            return;
        }
        let old = u.neighbour.replace(addr);
        let p = at(&u.template, addr);
        let keyed = p.password.is_some();
        if let Some(old) = old {
            info!(interface = %name, old = %old, new = %addr, "another neighbour on the interface");
            self.drop_neighbour(IpAddr::V6(old), keyed);
        } else {
            info!(interface = %name, neighbour = %addr, "neighbour found on the interface");
        }
        if let Some(i) = sockopt::ifindex(name)
            && let Some(fib) = &self.fib
        {
            fib.set_link_local(addr, i);
        }
        if let Err(e) = self.add_peer(p) {
            warn!(interface = %name, neighbour = %addr, %e, "no peer at the neighbour");
            if let Some(u) = self.interfaces.peers.get_mut(name) {
                u.neighbour = None;
            }
        }
    }

    /// A session with a link-local peer is up: its next hops lead out of its interface.
    pub(super) fn link_local_up(&self, peer: IpAddr) {
        let IpAddr::V6(a) = peer else { return };
        if !a.is_unicast_link_local() {
            return;
        }
        let dev = self
            .router
            .peer_settings(peer)
            .and_then(|p| p.interface.as_deref())
            .and_then(sockopt::ifindex);
        if let (Some(i), Some(fib)) = (dev, &self.fib) {
            fib.set_link_local(a, i);
        }
    }

    fn drop_neighbour(&mut self, addr: IpAddr, keyed: bool) {
        if self.router.remove_peer(now(), addr).is_ok() && keyed {
            self.keys.clear(addr);
        }
    }
}

/// The peer by interface at the neighbour's address.
fn at(template: &PeerSettings, addr: Ipv6Addr) -> PeerSettings {
    let mut p = template.clone();
    p.address = IpAddr::V6(addr);
    p
}

/// The channel the advertisers report on.
pub(super) fn channel() -> (mpsc::UnboundedSender<Seen>, mpsc::UnboundedReceiver<Seen>) {
    mpsc::unbounded_channel()
}
