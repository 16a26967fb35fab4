//! Neighbour discovery for unnumbered peers: IPv6 Router Advertisements on the peer's
//! interface, as routers that peer by interface expect.
//!
//! A peer given only by its interface has no address until one is seen. Ours comes from the
//! Router Advertisements we send there (every [`INTERVAL`], and at once when a new
//! neighbour shows up); the peer's from the ones it sends. They advertise no prefix and a
//! router lifetime of 0 (RFC 4861 4.2), so no host takes us for its default router; the
//! source link-layer option lets the receiver's kernel know our MAC without asking.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::sockopt;

/// Between two of our advertisements.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);
/// Between tries to open the interface's socket while it is missing.
const RETRY: Duration = Duration::from_secs(5);

const ROUTER_ADVERTISEMENT: u8 = 134;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A neighbour seen on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub interface: String,
    pub addr: Ipv6Addr,
}

/// Advertises on `interface` and reports every router advertising there, until aborted.
pub(crate) async fn run(interface: String, seen: mpsc::UnboundedSender<Seen>) {
    loop {
        match Advertiser::open(&interface) {
            Ok(a) => {
                if let Err(e) = a.serve(&seen).await {
                    warn!(%interface, %e, "router advertisements stopped; opening again");
                }
            }
            Err(e) => debug!(%interface, %e, "no router advertisements yet"),
        }
        if seen.is_closed() {
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}

struct Advertiser {
    interface: String,
    ifindex: u32,
    sock: AsyncFd<Socket>,
    advert: Vec<u8>,
}

impl Advertiser {
    fn open(interface: &str) -> io::Result<Advertiser> {
        let ifindex = sockopt::ifindex(interface).ok_or(io::ErrorKind::NotFound)?;
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        sock.bind_device(Some(interface.as_bytes()))?;
        // RFC 4861 6.1.2: receivers drop advertisements whose hop limit is not 255.
        sock.set_multicast_hops_v6(255)?;
        sock.set_unicast_hops_v6(255)?;
        sock.set_multicast_loop_v6(false)?;
        sock.set_multicast_if_v6(ifindex)?;
        sock.set_nonblocking(true)?;
        let mac = sockopt::hardware_address(sock.as_raw_fd(), interface)?;
        Ok(Advertiser {
            interface: interface.to_owned(),
            ifindex,
            advert: advertisement(mac),
            sock: sockopt::register(sock)?,
        })
    }

    async fn serve(&self, seen: &mpsc::UnboundedSender<Seen>) -> io::Result<()> {
        let mut tick = tokio::time::interval(INTERVAL);
        let mut known: Option<Ipv6Addr> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => self.send()?,
                r = self.sock.readable() => {
                    let mut guard = r?;
                    match guard.try_io(|s| recv(s.get_ref())) {
                        Ok(Ok(Some(addr))) => {
                            if known != Some(addr) {
                                known = Some(addr);
                                // Let the new neighbour know us without waiting.
                                self.send()?;
                            }
                            let s = Seen { interface: self.interface.clone(), addr };
                            if seen.send(s).is_err() {
                                return Ok(());
                            }
                        }
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(_would_block) => {}
                    }
                }
            }
        }
    }

    fn send(&self) -> io::Result<()> {
        let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
        match self.sock.get_ref().send_to(&self.advert, &to) {
            Ok(_) => Ok(()),
            // The link is down for the moment: the next tick tries again.
            Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// One ICMPv6 message: the source of a Router Advertisement from a link-local address,
/// none for anything else.
fn recv(sock: &Socket) -> io::Result<Option<Ipv6Addr>> {
    let mut buf = [0u8; 1500];
    let (n, from) = sockopt::recv_from(sock, &mut buf)?;
    let first = (n > 0).then_some(buf[0]);
    let Some(src) = from.as_socket_ipv6() else {
        return Ok(None);
    };
    let addr = *src.ip();
    Ok((first == Some(ROUTER_ADVERTISEMENT) && addr.is_unicast_link_local()).then_some(addr))
}

/// A Router Advertisement that offers nothing (RFC 4861 4.2): hop limit, flags, router
/// lifetime, reachable time and retransmission timer all 0, with the source link-layer
/// address option. The kernel fills in the checksum.
fn advertisement(mac: [u8; 6]) -> Vec<u8> {
    let mut v = vec![ROUTER_ADVERTISEMENT, 0, 0, 0];
    v.extend_from_slice(&[0; 12]);
    v.extend_from_slice(&[1, 1]);
    v.extend_from_slice(&mac);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertisement_offers_no_router_and_names_our_mac() {
        let a = advertisement([2, 0, 0, 0, 0, 9]);
        assert_eq!(a.len(), 24);
        assert_eq!(a[0], ROUTER_ADVERTISEMENT);
        // Router lifetime (bytes 6-7) 0: nobody's default router.
        assert_eq!(&a[4..16], &[0; 12]);
        assert_eq!(&a[16..], &[1, 1, 2, 0, 0, 0, 0, 9]);
    }
}
