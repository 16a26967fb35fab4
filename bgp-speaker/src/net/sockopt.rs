//! Socket options that BGP needs and no safe wrapper offers: TCP-MD5 signatures (RFC 2385,
//! `TCP_MD5SIG`), the minimum TTL of GTSM (RFC 5082, `IP_MINTTL` / `IPV6_MINHOPCOUNT`),
//! how much a connection still has to send (`SIOCOUTQ`), and for neighbour discovery an
//! interface's index and MAC address and a raw socket's reads. Each `unsafe` call with its
//! reason (the only other `unsafe` of the workspace is the reflector's one `mallopt` call,
//! and a benchmark's `getrusage`).

#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::IpAddr;
use std::os::fd::RawFd;

/// `struct tcp_md5sig` of linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// The longest key the kernel takes.
pub const MAX_KEY_LEN: usize = 80;

/// Sets (or with an empty key removes) the MD5 key for connections with `peer` on `fd`: a
/// listening socket (for the connections it accepts) or one about to connect.
pub fn set_md5(fd: RawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    let full = if peer.is_ipv4() { 32 } else { 128 };
    set_md5_prefix(fd, peer, full, key)
}

/// As [`set_md5`], for every address of `peer/len` (a listener's key for a range of dynamic
/// peers; `TCP_MD5SIG_EXT` with the prefix flag, Linux 4.13 and later).
pub fn set_md5_prefix(fd: RawFd, peer: IpAddr, len: u8, key: &[u8]) -> io::Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "MD5 key longer than 80 octets",
        ));
    }
    // SAFETY: all-zero is a valid value of this plain C struct.
    let mut sig: TcpMd5Sig = unsafe { zeroed() };
    let full = match peer {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            32
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
            128
        }
    };
    let name = if len < full {
        sig.flags = TCP_MD5SIG_FLAG_PREFIX;
        sig.prefixlen = len;
        libc::TCP_MD5SIG_EXT
    } else {
        libc::TCP_MD5SIG
    };
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` lives across the call and its size is passed; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            name,
            &sig as *const _ as *const libc::c_void,
            size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `TCP_MD5SIG_FLAG_PREFIX` of linux/tcp.h: the key covers `prefixlen` bits of the address.
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// GTSM: only accept packets whose TTL (hop limit) is at least `min`.
pub fn set_min_ttl(fd: RawFd, v6: bool, min: u8) -> io::Result<()> {
    if v6 {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, min.into())
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_MINTTL, min.into())
    }
}

/// The TTL (hop limit) of what the socket sends.
pub fn set_ttl(fd: RawFd, v6: bool, ttl: u8) -> io::Result<()> {
    if v6 {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, ttl.into())
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, ttl.into())
    }
}

/// Bytes written to a TCP socket that the peer has not acknowledged yet.
pub fn unsent(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int through the pointer, which lives across
    // the call.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    if r == 0 {
        Ok(usize::try_from(n).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An integer socket option.
fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: `v` lives across the call and its size is passed; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// TTL and minimum TTL for a peer's settings, on a socket of either side.
pub fn apply_ttl(fd: RawFd, v6: bool, ttl_security: Option<u8>, ttl: Option<u8>) -> io::Result<()> {
    match (ttl_security, ttl) {
        (Some(hops), _) => {
            set_ttl(fd, v6, 255)?;
            set_min_ttl(fd, v6, 255u8.saturating_sub(hops.max(1) - 1))
        }
        (None, Some(t)) => set_ttl(fd, v6, t),
        (None, None) => Ok(()),
    }
}

/// The index of the interface of this name, if it exists.
pub(crate) fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The interface's MAC address (`SIOCGIFHWADDR`), asked through any socket.
pub(crate) fn hardware_address(fd: RawFd, interface: &str) -> io::Result<[u8; 6]> {
    // SAFETY: an all-zero ifreq is a valid value.
    let mut req: libc::ifreq = unsafe { zeroed() };
    let name = interface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // SAFETY: the name is NUL-terminated (zeroed and shorter than the field); the ioctl
    // writes only into `req`.
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds the hardware address.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// `recvfrom` into an initialised buffer.
pub(crate) fn recv_from(
    sock: &socket2::Socket,
    buf: &mut [u8],
) -> io::Result<(usize, socket2::SockAddr)> {
    // SAFETY: u8 and MaybeUninit<u8> have the same layout, and recv_from only writes
    // initialised bytes into the buffer.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
    sock.recv_from(uninit)
}

/// A socket for readiness-driven I/O on the runtime.
pub(crate) fn register(
    sock: socket2::Socket,
) -> io::Result<tokio::io::unix::AsyncFd<socket2::Socket>> {
    // SAFETY: the AsyncFd takes the socket by value: the descriptor stays open and is not
    // replaced while registered.
    unsafe { tokio::io::unix::AsyncFd::register(sock) }.map_err(io::Error::from)
}
