//! One connection: opened out (with its socket options), read by a task of its own and
//! written by another, so that a peer that does not read holds up nothing but its writer.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bgp_core::router::{ConnId, Input, Messages, Transport};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};

use super::sockopt;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing connection may take to write what it was given.
const CLOSE_WRITE: Duration = Duration::from_secs(10);

/// How long a closed connection is kept at most for the peer to take what was written (a
/// NOTIFICATION, say) before the socket goes.
const LINGER: Duration = Duration::from_secs(60);

/// Reads start small (a reflector holds a buffer per client: thousands of them) and grow
/// while the peer sends faster than they are taken, up to this.
const READ_MIN: usize = 4096;
const READ_MAX: usize = 65536;

/// Opens a connection with the peer's socket settings (MD5, TTL or GTSM, source address).
pub(crate) async fn connect(t: &Transport) -> std::io::Result<TcpStream> {
    let socket = if t.remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    let fd = socket.as_raw_fd();
    if let Some(pw) = &t.password {
        sockopt::set_md5(fd, t.remote.ip(), pw.0.as_bytes())?;
    }
    sockopt::apply_ttl(fd, t.remote.is_ipv6(), t.ttl_security, t.ttl)?;
    let ifindex = match &t.interface {
        Some(name) => Some(sockopt::ifindex(name).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no interface {name}"))
        })?),
        None => None,
    };
    if let (Some(name), false) = (&t.interface, is_link_local(t.remote.ip())) {
        // A global address on a given interface: the session stays on that link.
        socket2::SockRef::from(&socket).bind_device(Some(name.as_bytes()))?;
    }
    if let Some(local) = t.local {
        socket.bind(scoped(SocketAddr::new(local, 0), ifindex))?;
    }
    let remote = scoped(t.remote, ifindex);
    match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(remote)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

fn is_link_local(a: std::net::IpAddr) -> bool {
    matches!(a, std::net::IpAddr::V6(v) if v.is_unicast_link_local())
}

/// A link-local address with the interface as its scope (RFC 4007); others as they are.
fn scoped(a: SocketAddr, ifindex: Option<u32>) -> SocketAddr {
    match (a, ifindex) {
        (SocketAddr::V6(mut v), Some(i)) if v.ip().is_unicast_link_local() => {
            v.set_scope_id(i);
            SocketAddr::V6(v)
        }
        _ => a,
    }
}

/// TTL settings on a connection the peer opened (its MD5 key is on the listener).
pub(crate) fn prepare_accepted(r: &OwnedReadHalf, t: &Transport) -> std::io::Result<()> {
    let s: &TcpStream = r.as_ref();
    sockopt::apply_ttl(s.as_raw_fd(), t.remote.is_ipv6(), t.ttl_security, t.ttl)
}

/// What the driver tells a writer.
#[derive(Debug)]
pub(crate) enum ToWriter {
    Write(Messages),
    /// Write what is queued (within [`CLOSE_TIMEOUT`]), then close.
    Close,
}

/// A connection's tasks, as the driver holds them.
#[derive(Debug)]
pub(crate) struct Handle {
    pub writer: mpsc::UnboundedSender<ToWriter>,
    writer_task: JoinHandle<()>,
    /// The read half waits here until the router says whose the connection is.
    pub unread: Option<OwnedReadHalf>,
    reader_task: Option<AbortHandle>,
    closing: Arc<Closing>,
    /// Reads handed to the driver's channel and not yet taken from it: while there are,
    /// the driver is behind on this connection, not the peer (see [`Handle::pending`]).
    pending: Arc<AtomicUsize>,
}

/// A closing connection's state, shared by its reader and writer.
#[derive(Debug, Default)]
struct Closing {
    /// What still arrives is read and dropped.
    discard: AtomicBool,
    /// Wakes the reader when closing.
    wake: tokio::sync::Notify,
    /// The writer wrote everything and shut our side.
    flushed: AtomicBool,
}

impl Handle {
    /// Starts the writer of a new connection; reading starts with [`Handle::read`].
    pub(crate) fn new(
        stream: TcpStream,
        conn: ConnId,
        written: mpsc::UnboundedSender<Input>,
    ) -> Handle {
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let closing = Arc::new(Closing::default());
        let writer_task = tokio::spawn(write_loop(w, rx, conn, written, closing.clone()));
        Handle {
            writer: tx,
            writer_task,
            unread: Some(r),
            reader_task: None,
            closing,
            pending: Arc::default(),
        }
    }

    /// Whether bytes read from the connection wait in the driver's channel.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed) > 0
    }

    /// The driver took one read of this connection from its channel.
    pub(crate) fn taken(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Starts reading: bytes and the close go to `to`.
    pub(crate) fn read(&mut self, conn: ConnId, to: mpsc::Sender<Input>) {
        if let Some(r) = self.unread.take() {
            let (closing, pending) = (self.closing.clone(), self.pending.clone());
            let task = tokio::spawn(read_loop(r, conn, to, closing, pending));
            self.reader_task = Some(task.abort_handle());
        }
    }

    /// Closes the connection: what was given is written (within [`CLOSE_WRITE`]) and our
    /// side shut (FIN); what the peer still sends is read and dropped until it has taken
    /// all we wrote, or closes too, or [`LINGER`] has passed. Only then does the socket go:
    /// dropping it with data unread would reset the connection, and the peer could lose
    /// our last messages, a NOTIFICATION among them. The writer's task is returned, to wait
    /// for it.
    pub(crate) fn close(mut self) -> JoinHandle<()> {
        self.closing.discard.store(true, Ordering::Relaxed);
        self.closing.wake.notify_one();
        let _ = self.writer.send(ToWriter::Close);
        if let Some(r) = self.unread.take() {
            let (tx, _) = mpsc::channel(1);
            let closing = self.closing.clone();
            let task = tokio::spawn(read_loop(r, ConnId(0), tx, closing, Arc::default()));
            self.reader_task = Some(task.abort_handle());
        }
        let w = self.writer_task.abort_handle();
        tokio::spawn(async move {
            tokio::time::sleep(CLOSE_WRITE).await;
            w.abort();
        });
        self.writer_task
    }
}

async fn read_loop(
    mut r: OwnedReadHalf,
    conn: ConnId,
    to: mpsc::Sender<Input>,
    closing: Arc<Closing>,
    pending: Arc<AtomicUsize>,
) {
    let mut chunk = READ_MIN;
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(chunk);
        let read = tokio::select! {
            read = r.read_buf(&mut buf) => read,
            _ = closing.wake.notified() => return linger(r, &closing).await,
        };
        if closing.discard.load(Ordering::Relaxed) {
            return linger(r, &closing).await;
        }
        match read {
            Ok(0) | Err(_) => {
                let _ = to.send(Input::Closed { conn }).await;
                return;
            }
            Ok(n) => {
                chunk = if n >= chunk {
                    (chunk * 2).min(READ_MAX)
                } else {
                    (chunk / 2).max(READ_MIN)
                };
                let bytes = buf.split().freeze();
                pending.fetch_add(1, Ordering::Relaxed);
                if to.send(Input::Received { conn, bytes }).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The connection is closed on our side: reads are dropped until the peer has taken what
/// was written, or closed, or [`LINGER`] passed.
async fn linger(mut r: OwnedReadHalf, closing: &Closing) {
    let fd = r.as_ref().as_raw_fd();
    let mut buf = vec![0u8; 4096];
    let end = tokio::time::Instant::now() + LINGER;
    loop {
        if closing.flushed.load(Ordering::Relaxed) && sockopt::unsent(fd).is_ok_and(|n| n == 0) {
            return;
        }
        tokio::select! {
            n = r.read(&mut buf) => {
                if matches!(n, Ok(0) | Err(_)) {
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tokio::time::sleep_until(end) => return,
        }
    }
}

/// Messages gathered into one round of writes at most.
const GATHER: usize = 512;

async fn write_loop(
    mut w: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<ToWriter>,
    conn: ConnId,
    written: mpsc::UnboundedSender<Input>,
    closing: Arc<Closing>,
) {
    let mut done = false;
    while let Some(m) = rx.recv().await {
        let mut batch = match m {
            ToWriter::Write(b) => vec![b],
            ToWriter::Close => break,
        };
        // What else is queued goes in the same writes.
        let mut n = batch[0].len();
        while n < GATHER {
            match rx.try_recv() {
                Ok(ToWriter::Write(b)) => {
                    n += b.len();
                    batch.push(b);
                }
                Ok(ToWriter::Close) => {
                    done = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let slices: Vec<&[u8]> = batch
            .iter()
            .flat_map(|m| m.iter())
            .map(|b| &b[..])
            .collect();
        if write_all_vectored(&mut w, &slices).await.is_err() {
            // The reader sees the connection go too; whichever is first tells the router.
            let _ = written.send(Input::Closed { conn });
            return;
        }
        let _ = written.send(Input::Written { conn, messages: n });
        if done {
            break;
        }
    }
    let _ = w.shutdown().await;
    closing.flushed.store(true, Ordering::Relaxed);
}

/// Writes every buffer with vectored writes (the messages are shared with other peers'
/// queues: gathered, not copied).
async fn write_all_vectored(w: &mut OwnedWriteHalf, bufs: &[&[u8]]) -> std::io::Result<()> {
    let (mut first, mut offset) = (0, 0);
    while first < bufs.len() {
        let slices: Vec<std::io::IoSlice<'_>> = std::iter::once(&bufs[first][offset..])
            .chain(bufs[first + 1..].iter().copied())
            .take(64)
            .map(std::io::IoSlice::new)
            .collect();
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 && first < bufs.len() {
            let left = bufs[first].len() - offset;
            if n >= left {
                n -= left;
                first += 1;
                offset = 0;
            } else {
                offset += n;
                n = 0;
            }
        }
    }
    Ok(())
}
