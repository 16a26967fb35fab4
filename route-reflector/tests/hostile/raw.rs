//! A BGP speaker written byte by byte over a TCP socket, for peers that misbehave on
//! purpose. Its sockets are opened from a thread that entered the peer's namespace.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Runs `f` on a thread inside network namespace `ns` (sockets it opens live there).
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        enter(&path);
        f()
    })
    .join()
    .expect("the thread in the namespace panicked")
}

/// Moves the calling thread into the network namespace at `path`.
#[allow(unsafe_code)]
pub fn enter(path: &str) {
    let f = std::fs::File::open(path).expect("namespace file");
    // SAFETY: setns on a valid descriptor changes only this thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// A TCP connection from `src` to `dst`:179 (the caller is inside the right namespace).
pub fn connect(src: Ipv4Addr, dst: Ipv4Addr) -> std::io::Result<TcpStream> {
    connect_with(src, dst, None)
}

/// As [`connect`], with a receive buffer of `rcvbuf` bytes when given.
pub fn connect_with(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    rcvbuf: Option<u32>,
) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let s = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(src.into(), 0))?;
        if let Some(b) = rcvbuf {
            sock.set_recv_buffer_size(b)?;
        }
        let c = sock.connect(SocketAddr::new(dst.into(), 179));
        tokio::time::timeout(Duration::from_secs(5), c)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    })?;
    let s = s.into_std()?;
    s.set_nonblocking(false)?;
    Ok(s)
}

pub fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

pub fn keepalive() -> Vec<u8> {
    msg(4, &[])
}

/// An OPEN body: version 4, AS `asn` (2-octet field; AS_TRANS above 65535), hold time,
/// BGP identifier, then the optional parameters `params` as given.
pub fn open_body(version: u8, asn: u32, hold: u16, id: Ipv4Addr, params: &[u8]) -> Vec<u8> {
    let my_as = if asn > 65535 { 23456 } else { asn as u16 };
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id.octets());
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    b
}

/// Capabilities parameter: multiprotocol IPv4 and IPv6 unicast, route refresh, enhanced
/// route refresh (a peer that falls behind is caught up in place), 4-octet AS.
pub fn std_params(asn: u32) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 2, 0, 70, 0, 65, 4];
    caps.extend_from_slice(&asn.to_be_bytes());
    let mut p = vec![2, caps.len() as u8];
    p.extend_from_slice(&caps);
    p
}

pub fn open(asn: u32, hold: u16, id: Ipv4Addr) -> Vec<u8> {
    msg(1, &open_body(4, asn, hold, id, &std_params(asn)))
}

/// One message read from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Msg { kind: u8, body: Vec<u8> },
    Closed,
    Timeout,
}

impl Got {
    /// (code, subcode, data) when this is a NOTIFICATION.
    pub fn notification(&self) -> Option<(u8, u8, Vec<u8>)> {
        match self {
            Got::Msg { kind: 3, body } if body.len() >= 2 => {
                Some((body[0], body[1], body[2..].to_vec()))
            }
            _ => None,
        }
    }
}

pub struct Raw {
    pub sock: TcpStream,
}

impl Raw {
    pub fn new(sock: TcpStream) -> Raw {
        Raw { sock }
    }

    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.sock.write_all(bytes).is_ok()
    }

    /// The next message, waiting at most `limit`.
    pub fn read(&mut self, limit: Duration) -> Got {
        let deadline = Instant::now() + limit;
        let mut head = [0u8; 19];
        match self.read_exact_until(&mut head, deadline) {
            Ok(true) => {}
            Ok(false) => return Got::Timeout,
            Err(()) => return Got::Closed,
        }
        let len = u16::from_be_bytes([head[16], head[17]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(19)];
        match self.read_exact_until(&mut body, deadline + Duration::from_secs(5)) {
            Ok(true) => Got::Msg {
                kind: head[18],
                body,
            },
            _ => Got::Closed,
        }
    }

    /// Fills `buf` by `deadline`: false when nothing came by then. A message begun by then
    /// has 5 s more to come whole (a header split across reads is no close).
    fn read_exact_until(&mut self, buf: &mut [u8], deadline: Instant) -> Result<bool, ()> {
        let mut at = 0;
        let mut deadline = deadline;
        let mut extended = false;
        while at < buf.len() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                if at > 0 && !extended {
                    deadline += Duration::from_secs(5);
                    extended = true;
                    continue;
                }
                return if at == 0 { Ok(false) } else { Err(()) };
            };
            let _ = self
                .sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.sock.read(&mut buf[at..]) {
                Ok(0) => return Err(()),
                Ok(n) => at += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Err(()),
            }
        }
        Ok(true)
    }

    /// Reads until a message that is not an OPEN, KEEPALIVE or UPDATE (or the limit): the
    /// NOTIFICATION, the close, or a timeout.
    pub fn outcome(&mut self, limit: Duration) -> Got {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read(left) {
                Got::Msg {
                    kind: 1 | 2 | 4, ..
                } if !left.is_zero() => continue,
                other => return other,
            }
        }
    }

    /// Sends `open` and a KEEPALIVE, then reads up to the peer's KEEPALIVE: the peer's OPEN
    /// body, or what ended the attempt.
    pub fn handshake(&mut self, open: &[u8]) -> Result<Vec<u8>, Got> {
        if !self.send(open) || !self.send(&keepalive()) {
            return Err(Got::Closed);
        }
        let mut their_open = None;
        loop {
            match self.read(Duration::from_secs(10)) {
                Got::Msg { kind: 1, body } => their_open = Some(body),
                Got::Msg { kind: 4, .. } if their_open.is_some() => {
                    return Ok(their_open.unwrap());
                }
                Got::Msg { kind: 2 | 4, .. } => {}
                other => return Err(other),
            }
        }
    }
}

/// Path attributes for an iBGP route from `next_hop`: ORIGIN IGP, empty AS_PATH,
/// NEXT_HOP, LOCAL_PREF 100.
pub fn ibgp_attrs(next_hop: Ipv4Addr) -> Vec<u8> {
    let n = next_hop.octets();
    [
        &[0x40, 1, 1, 0][..],
        &[0x40, 2, 0],
        &[0x40, 3, 4, n[0], n[1], n[2], n[3]],
        &[0x40, 5, 4, 0, 0, 0, 100],
    ]
    .concat()
}

/// An UPDATE: withdrawn routes, attributes and NLRI given as encoded fields.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

/// An IPv4 prefix in NLRI encoding.
pub fn prefix(p: Ipv4Addr, len: u8) -> Vec<u8> {
    let o = p.octets();
    let mut v = vec![len];
    v.extend_from_slice(&o[..(len as usize).div_ceil(8)]);
    v
}

/// The IPv4 prefixes an UPDATE body announces (its NLRI field), encoded.
pub fn announced(body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Some(w) = body
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    else {
        return out;
    };
    let Some(a) = body
        .get(2 + w..4 + w)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    else {
        return out;
    };
    let mut nlri = body.get(4 + w + a..).unwrap_or_default();
    while let Some(&len) = nlri.first() {
        let end = (1 + (len as usize).div_ceil(8)).min(nlri.len());
        out.push(nlri[..end].to_vec());
        nlri = &nlri[end..];
    }
    out
}

/// The IPv4 prefixes an UPDATE body withdraws (its Withdrawn Routes field), encoded.
pub fn withdrawn(body: &[u8]) -> Vec<Vec<u8>> {
    let Some(w) = body
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    else {
        return Vec::new();
    };
    let mut field = body.get(2..2 + w).unwrap_or_default();
    let mut out = Vec::new();
    while let Some(&len) = field.first() {
        let end = (1 + (len as usize).div_ceil(8)).min(field.len());
        out.push(field[..end].to_vec());
        field = &field[end..];
    }
    out
}

/// The LOCAL_PREF of an UPDATE body, when it has one.
pub fn local_pref(body: &[u8]) -> Option<u32> {
    let w = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let a = u16::from_be_bytes([*body.get(2 + w)?, *body.get(3 + w)?]) as usize;
    let mut attrs = body.get(4 + w..4 + w + a)?;
    while attrs.len() >= 3 {
        let (flags, code) = (attrs[0], attrs[1]);
        let (len, head) = if flags & 0x10 != 0 {
            (u16::from_be_bytes([attrs[2], *attrs.get(3)?]) as usize, 4)
        } else {
            (attrs[2] as usize, 3)
        };
        let value = attrs.get(head..head + len)?;
        if code == 5 && len == 4 {
            return Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
        }
        attrs = &attrs[head + len..];
    }
    None
}
