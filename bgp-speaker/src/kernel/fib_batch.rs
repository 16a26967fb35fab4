//! Batched route writes: many netlink requests in one `sendmsg`.
//!
//! rtnetlink's kernel side walks every message of a datagram in turn and queues one
//! acknowledgement per message, so a batch of N writes costs one system call to send and a
//! few to read the acknowledgements back instead of N round trips. Each message carries its
//! index as sequence number; an acknowledgement that does not come back (the receive queue
//! overflowed) is reported as an error for that route, never waited for.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

const RECV_BUFFER: usize = 8 << 20;
const NLMSG_ERROR: u16 = 2;

/// A blocking netlink socket for writes, bound in the namespace it was opened in.
#[derive(Debug)]
pub(crate) struct Writer {
    sock: Socket,
    /// Sequence numbers run on across batches, so that a late acknowledgement of an
    /// earlier batch is never taken for one of the current batch.
    seq: u32,
    buf: Vec<u8>,
    rx: Vec<u8>,
}

impl Writer {
    pub(crate) fn open() -> io::Result<Writer> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Errors come back as the bare header, not the whole request echoed.
        sock.set_cap_ack(true)?;
        if sock.set_rx_buf_sz(RECV_BUFFER).is_err() {
            tracing::debug!("netlink receive buffer left at its default");
        }
        Ok(Writer {
            sock,
            seq: 0,
            buf: Vec::new(),
            rx: vec![0; 64 << 10],
        })
    }

    /// Sends every message (with its extra header flags) and returns, per message, `Ok`
    /// or the kernel's errno. Large writes are pipelined: a second thread encodes the next
    /// datagrams while this one waits for the kernel to handle the current one.
    pub(crate) fn write(
        &mut self,
        msgs: Vec<(u16, RouteNetlinkMessage)>,
        per_datagram: usize,
    ) -> Vec<Result<(), i32>> {
        let per_datagram = per_datagram.clamp(1, 1024);
        let n = msgs.len();
        let mut out: Vec<Result<(), i32>> = vec![Err(libc::ENOBUFS); n];
        let first = self.seq;
        self.seq = self.seq.wrapping_add(n as u32);
        if n <= 2 * per_datagram {
            let mut it = msgs.into_iter().enumerate().peekable();
            let mut buf = std::mem::take(&mut self.buf);
            while it.peek().is_some() {
                let (base, count) = encode(&mut it, per_datagram, first, &mut buf);
                self.exchange(&buf, &mut out[base..base + count], first, base);
            }
            self.buf = buf;
            return out;
        }
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, usize, Vec<u8>)>(4);
            scope.spawn(move || {
                let mut it = msgs.into_iter().enumerate().peekable();
                while it.peek().is_some() {
                    let mut buf = Vec::new();
                    let (base, count) = encode(&mut it, per_datagram, first, &mut buf);
                    if tx.send((base, count, buf)).is_err() {
                        return;
                    }
                }
            });
            for (base, count, buf) in rx {
                self.exchange(&buf, &mut out[base..base + count], first, base);
            }
        });
        out
    }

    /// Sends one datagram and reads its acknowledgements into `slots`.
    fn exchange(&mut self, buf: &[u8], slots: &mut [Result<(), i32>], first: u32, base: usize) {
        if let Err(e) = self.sock.send(buf, 0) {
            slots.fill(Err(e.raw_os_error().unwrap_or(libc::EIO)));
            return;
        }
        let n = slots.len();
        self.collect(slots, first.wrapping_add(base as u32), n);
    }

    /// Reads acknowledgements until every message of the batch has one or none are left
    /// queued. The kernel handled the whole datagram before `send` returned.
    fn collect(&mut self, slots: &mut [Result<(), i32>], first: u32, n: usize) {
        let mut seen = 0;
        while seen < n {
            let len = match self.sock.recv(&mut &mut self.rx[..], libc::MSG_DONTWAIT) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Some acknowledgements were dropped; read on for the ones still queued.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                // Nothing more queued: the rest stay errors.
                Err(_) => return,
            };
            let mut at = 0;
            while at + 20 <= len {
                let h = &self.rx[at..];
                let mlen = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
                let kind = u16::from_ne_bytes([h[4], h[5]]);
                let seq =
                    u32::from_ne_bytes([h[8], h[9], h[10], h[11]]).wrapping_sub(first) as usize;
                if mlen < 16 || at + mlen > len {
                    break;
                }
                if kind == NLMSG_ERROR && mlen >= 20 && seq < slots.len() {
                    let code = i32::from_ne_bytes([h[16], h[17], h[18], h[19]]);
                    slots[seq] = if code == 0 { Ok(()) } else { Err(-code) };
                    seen += 1;
                }
                at += (mlen + 3) & !3;
            }
        }
    }
}

/// Encodes up to `per_datagram` messages into `buf` (cleared first), each with its index
/// after `first` as sequence number; returns the index of the first and the count.
fn encode(
    it: &mut std::iter::Peekable<
        std::iter::Enumerate<std::vec::IntoIter<(u16, RouteNetlinkMessage)>>,
    >,
    per_datagram: usize,
    first: u32,
    buf: &mut Vec<u8>,
) -> (usize, usize) {
    buf.clear();
    let mut base = None;
    let mut count = 0;
    for (i, (flags, m)) in it.by_ref().take(per_datagram) {
        base.get_or_insert(i);
        count += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = first.wrapping_add(i as u32);
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(m));
        msg.finalize();
        let at = buf.len();
        buf.resize(at + msg.buffer_len(), 0);
        msg.serialize(&mut buf[at..]);
    }
    (base.unwrap_or(0), count)
}
