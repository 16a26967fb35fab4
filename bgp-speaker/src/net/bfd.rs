//! BFD's UDP sockets: the receivers on 3784 (single hop, RFC 5881) and 4784 (multihop,
//! RFC 5883) for IPv4 and IPv6, and a sender per session.
//!
//! Receivers are bound to the wildcard address and ask the kernel for each datagram's
//! TTL or hop limit (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`) and destination address
//! (`IP_PKTINFO`, `IPV6_RECVPKTINFO`): the router checks the TTL (255 on a single hop) and
//! finds the session by the addresses. A sender is bound to the session's address and
//! source port (49152-65535, one per session) and sends with TTL 255; it sends without
//! waiting (a full socket buffer drops the packet, counted, as a lost packet would be).
//!
//! They are opened when the first BFD packet is to go out, so that a speaker without BFD
//! binds nothing.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::bfd::{Hop, MULTIHOP_PORT, SINGLE_HOP_PORT};
use bgp_core::router::Input;
use bytes::Bytes;
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, SockaddrStorage, sockopt};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::metrics::Metrics;

/// Senders unused this long are closed (their session is gone or moved).
const IDLE_SENDER: Duration = Duration::from_secs(30);

/// Datagrams waiting for the driver at most; past that they are dropped and counted.
pub(crate) const QUEUE: usize = 8192;

/// The speaker's BFD sockets.
pub(crate) struct BfdIo {
    /// The receivers' tasks, once opened.
    receivers: Option<Vec<JoinHandle<()>>>,
    senders: HashMap<(IpAddr, u16), (UdpSocket, Instant)>,
    to_driver: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
}

impl BfdIo {
    pub(crate) fn new(to_driver: mpsc::Sender<Input>, metrics: Arc<Metrics>) -> BfdIo {
        BfdIo {
            receivers: None,
            senders: HashMap::new(),
            to_driver,
            metrics,
        }
    }

    /// Sends one control packet from `local`:`source_port` to `to` with TTL `ttl`.
    pub(crate) fn send(
        &mut self,
        local: IpAddr,
        source_port: u16,
        to: SocketAddr,
        ttl: u8,
        bytes: &Bytes,
    ) {
        self.open_receivers();
        let now = Instant::now();
        let key = (local, source_port);
        let (s, used) = match self.senders.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                match sender(SocketAddr::new(local, source_port), ttl) {
                    Ok(s) => v.insert((s, now)),
                    Err(e) => {
                        debug!(%local, source_port, error = %e, "BFD sender not opened");
                        self.metrics
                            .bfd
                            .dropped
                            .with_label_values(&["send_error"])
                            .inc();
                        return;
                    }
                }
            }
        };
        *used = now;
        if let Err(e) = s.try_send_to(bytes, to) {
            debug!(%to, error = %e, "BFD packet not sent");
            self.metrics
                .bfd
                .dropped
                .with_label_values(&["send_error"])
                .inc();
        }
    }

    /// Closes the senders no session used for a while.
    pub(crate) fn sweep(&mut self) {
        let now = Instant::now();
        self.senders
            .retain(|_, (_, used)| now.saturating_duration_since(*used) < IDLE_SENDER);
    }

    /// The four receivers, the first time a packet goes out. One that cannot be bound is
    /// logged (its kind of session then never comes up).
    fn open_receivers(&mut self) {
        if self.receivers.is_some() {
            return;
        }
        let mut tasks = Vec::new();
        let wild = [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ];
        for (hop, port) in [(Hop::Single, SINGLE_HOP_PORT), (Hop::Multi, MULTIHOP_PORT)] {
            for ip in wild {
                let addr = SocketAddr::new(ip, port);
                match receiver(addr) {
                    Ok(s) => {
                        let (tx, m) = (self.to_driver.clone(), self.metrics.clone());
                        tasks.push(tokio::spawn(receive_loop(s, addr, hop, tx, m)));
                    }
                    Err(e) => warn!(%addr, error = %e, "BFD port not opened"),
                }
            }
        }
        self.receivers = Some(tasks);
    }
}

impl Drop for BfdIo {
    fn drop(&mut self) {
        for t in self.receivers.iter().flatten() {
            t.abort();
        }
    }
}

fn udp(addr: SocketAddr) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// A session's sender: bound to its address and source port, TTL (hop limit) `ttl`.
fn sender(addr: SocketAddr, ttl: u8) -> std::io::Result<UdpSocket> {
    let s = udp(addr)?;
    if addr.is_ipv6() {
        s.set_unicast_hops_v6(u32::from(ttl))?;
    } else {
        s.set_ttl_v4(u32::from(ttl))?;
    }
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// A receiver on the wildcard `addr`, with the TTL and destination of every datagram.
fn receiver(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = udp(addr)?;
    if addr.is_ipv6() {
        socket::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
        socket::setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
    } else {
        socket::setsockopt(&s, sockopt::Ipv4RecvTtl, &true)?;
        socket::setsockopt(&s, sockopt::Ipv4PacketInfo, &true)?;
    }
    // Bursts of a thousand sessions' packets fit.
    let _ = s.set_recv_buffer_size(1 << 20);
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// One datagram as the kernel gave it.
struct Datagram {
    from: SocketAddr,
    to: Option<IpAddr>,
    ttl: Option<u8>,
    len: usize,
}

/// Reads one datagram with its control messages (non-blocking).
fn recv(fd: RawFd, buf: &mut [u8], cmsg: &mut [u8]) -> std::io::Result<Datagram> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = socket::recvmsg::<SockaddrStorage>(fd, &mut iov, Some(cmsg), MsgFlags::empty())?;
    let from = msg
        .address
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::from((v4.ip(), v4.port())))
                .or_else(|| {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
                })
        })
        .ok_or_else(|| std::io::Error::other("no source address"))?;
    let (mut to, mut ttl) = (None, None);
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) => ttl = u8::try_from(t).ok(),
            ControlMessageOwned::Ipv6HopLimit(t) => ttl = u8::try_from(t).ok(),
            ControlMessageOwned::Ipv4PacketInfo(i) => {
                to = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr))));
            }
            ControlMessageOwned::Ipv6PacketInfo(i) => {
                to = Some(IpAddr::V6(Ipv6Addr::from(i.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    Ok(Datagram {
        from,
        to,
        ttl,
        len: msg.bytes,
    })
}

/// Hands every datagram of a receiver to the driver. A datagram without its TTL is given
/// TTL 0 (the router drops it on a single hop); a full queue drops it.
async fn receive_loop(
    s: UdpSocket,
    addr: SocketAddr,
    hop: Hop,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
) {
    let fd = s.as_raw_fd();
    let mut buf = vec![0u8; 512];
    let mut cmsg = nix::cmsg_space!(
        libc::in6_pktinfo,
        libc::c_int,
        libc::in_pktinfo,
        libc::c_int
    );
    loop {
        let r = s
            .async_io(Interest::READABLE, || recv(fd, &mut buf, &mut cmsg))
            .await;
        let d = match r {
            Ok(d) => d,
            Err(e) => {
                debug!(%addr, error = %e, "BFD receive");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let to = SocketAddr::new(d.to.unwrap_or(addr.ip()), addr.port());
        let input = Input::Bfd {
            from: d.from,
            to,
            ttl: d.ttl.unwrap_or(0),
            hop,
            interface: None,
            bytes: Bytes::copy_from_slice(&buf[..d.len]),
        };
        match tx.try_send(input) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics.bfd.dropped.with_label_values(&["queue_full"]).inc();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
