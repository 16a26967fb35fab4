//! One task per peer: drives a [`bgp_core::session::Peer`] (its one or two connections) over
//! TCP.
//!
//! ```text
//!   reader tasks ──(bytes, closed)──┐
//!   connect attempts ──(stream)─────┤
//!   listener ──(accepted stream)────┼──▶ peer task ──(events)──▶ RIB task
//!   RIB task ──(UPDATEs, stop)──────┘        │
//!                                            └──(writes)──▶ sockets
//! ```
//!
//! The loop waits for one input, hands it to the sans-IO peer with the current time, then
//! performs every action the peer asks for. A slow peer blocks only its own task: writes
//! have a deadline, and the RIB task bounds what it queues here.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bgp_core::Family;
use bgp_core::session::{Action, Conn, Event, Negotiated, Peer, StopReason};
use bgp_core::wire::Update;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tracing::{debug, info, warn};

use crate::config::PeerSettings;

/// From the RIB task to a peer.
#[derive(Debug)]
pub(crate) enum ToPeer {
    /// An UPDATE encoded for the peer's group.
    Update(Bytes),
    /// The UPDATEs of one flush for this peer, in order: one queue operation for all of
    /// them. They count in the peer's [`Queued`] messages until handed to the session.
    Updates(Batch),
    EndOfRib(Family),
    Refresh(Family, bgp_core::session::RefreshKind),
    Stop(StopReason),
    /// Stop the session and stay down (the peer stays configured) until a `Reset`.
    Disable(StopReason),
    /// Cease (maximum prefixes) and start again after the delay.
    AutoStop(StopReason, Duration),
    /// Close the session and start again (a peer that fell behind, without enhanced route
    /// refresh to re-synchronize it in place).
    Reset(StopReason),
    /// A whole table in one queue slot (a refresh or a re-synchronization): its size is
    /// that of the table, whatever the queue depth.
    Table(Vec<ToPeer>),
}

/// UPDATEs of one flush for a peer. The messages are shared by the members of an update
/// group, one list for all of them: the peer is sent `msgs[..shared]` but the indexes in
/// `skip` (messages with its own routes, which every other member gets), then `msgs[i]`
/// for each `i` in `extra` (what it alone gets).
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    msgs: Arc<[Bytes]>,
    shared: u32,
    /// Ascending, below `shared`.
    skip: Vec<u32>,
    /// Ascending, from `shared` on.
    extra: Vec<u32>,
}

/// How far into a [`Batch`] a peer is.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    next: u32,
    skip: usize,
    extra: usize,
    taken: usize,
}

impl Batch {
    /// Every message of `msgs`.
    pub(crate) fn all(msgs: Arc<[Bytes]>) -> Batch {
        Batch {
            shared: msgs.len() as u32,
            msgs,
            skip: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// `msgs[..shared]` but `skip`, then `extra` (both ascending, in range).
    pub(crate) fn new(msgs: Arc<[Bytes]>, shared: u32, skip: Vec<u32>, extra: Vec<u32>) -> Batch {
        Batch {
            msgs,
            shared,
            skip,
            extra,
        }
    }

    /// Messages for the peer.
    pub(crate) fn len(&self) -> usize {
        self.shared as usize - self.skip.len() + self.extra.len()
    }

    /// The message at the cursor, moving it on.
    fn next(&self, c: &mut Cursor) -> Option<&Bytes> {
        while c.next < self.shared {
            let i = c.next;
            c.next += 1;
            if self.skip.get(c.skip) == Some(&i) {
                c.skip += 1;
                continue;
            }
            c.taken += 1;
            return self.msgs.get(i as usize);
        }
        let i = *self.extra.get(c.extra)?;
        c.extra += 1;
        c.taken += 1;
        self.msgs.get(i as usize)
    }

    /// The peer's messages in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Bytes> {
        let mut c = Cursor::default();
        std::iter::from_fn(move || self.next(&mut c))
    }
}

/// An event from a peer's task: its address, which start of the peer it belongs to (a peer
/// removed and added again is a new incarnation; the old task's last events are ignored),
/// and the event.
pub(crate) type PeerMessage = (std::net::IpAddr, u64, PeerEvent);

/// From a peer to the RIB task.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// Established, with what was negotiated and our address on the connection.
    Up(Box<Negotiated>, Option<std::net::IpAddr>),
    Update(Box<Update>),
    EndOfRib(Family),
    RouteRefresh(Family),
    /// The session's FSM state, by name.
    State(String),
    Down {
        retain: Option<Duration>,
        /// Why, for display.
        reason: String,
    },
    StaleExpired,
    /// The task ended (stopped); the peer's routes are gone.
    Gone,
}

enum Net {
    Data(Conn, Bytes),
    Closed(Conn),
    Connected(TcpStream),
    ConnectFailed,
}

struct Conns {
    writers: [Option<OwnedWriteHalf>; 2],
    /// Our address on each connection.
    local: [Option<std::net::IpAddr>; 2],
}

fn idx(c: Conn) -> usize {
    match c {
        Conn::Outbound => 0,
        Conn::Inbound => 1,
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

const READ_MIN: usize = 4096;
const READ_MAX: usize = 65536;

/// Starts reading a connection: bytes and the close go to `net`.
fn attach(stream: TcpStream, conn: Conn, net: &mpsc::Sender<Net>, conns: &mut Conns) {
    let _ = stream.set_nodelay(true);
    conns.local[idx(conn)] = stream.local_addr().ok().map(|a| a.ip());
    let (mut r, w) = stream.into_split();
    conns.writers[idx(conn)] = Some(w);
    let net = net.clone();
    tokio::spawn(async move {
        // Reads start small (a reflector holds a buffer per client: thousands of them)
        // and grow while the peer sends faster than they take it, up to 64 KiB.
        let mut chunk = READ_MIN;
        let mut buf = BytesMut::new();
        loop {
            buf.reserve(chunk);
            match r.read_buf(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = net.send(Net::Closed(conn)).await;
                    return;
                }
                Ok(n) => {
                    chunk = if n >= chunk {
                        (chunk * 2).min(READ_MAX)
                    } else {
                        (chunk / 2).max(READ_MIN)
                    };
                    if net
                        .send(Net::Data(conn, buf.split().freeze()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
}

async fn connect(settings: &PeerSettings) -> std::io::Result<TcpStream> {
    use std::os::fd::AsRawFd;
    let remote = SocketAddr::new(settings.address, settings.port);
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    let fd = socket.as_raw_fd();
    if let Some(pw) = &settings.password {
        crate::sockopt::set_md5(fd, settings.address, pw.0.as_bytes())?;
    }
    crate::sockopt::apply_ttl(fd, remote.is_ipv6(), settings.ttl_security, settings.ttl)?;
    if let Some(local) = settings.local_address {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    socket.connect(remote).await
}

/// TTL settings on a connection the peer opened (the MD5 key is on the listener).
fn prepare_accepted(stream: &TcpStream, settings: &PeerSettings) {
    use std::os::fd::AsRawFd;
    let v6 = settings.address.is_ipv6();
    if let Err(e) =
        crate::sockopt::apply_ttl(stream.as_raw_fd(), v6, settings.ttl_security, settings.ttl)
    {
        warn!(%e, "TTL settings on an accepted connection");
    }
}

/// Messages of [`ToPeer::Updates`] queued for a peer and not yet handed to its session:
/// the RIB task bounds a peer's queue by this count (items of the channel hold many), and
/// keeps the count of all peers together beside it, read once a round where a walk over
/// thousands of peers would cost a cache miss or two each.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    own: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

impl Queued {
    /// A count of zero that adds to `total`.
    pub(crate) fn new(total: &Arc<AtomicUsize>) -> Queued {
        Queued {
            own: Arc::default(),
            total: total.clone(),
        }
    }

    pub(crate) fn get(&self) -> usize {
        self.own.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: usize) {
        self.own.fetch_add(n, Ordering::Relaxed);
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` messages are gone; never below zero, and what is subtracted here is subtracted
    /// from the total once.
    pub(crate) fn sub(&self, n: usize) {
        let prev = match self
            .own
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| {
                Some(x.saturating_sub(n))
            }) {
            Ok(p) | Err(p) => p,
        };
        self.total.fetch_sub(prev.min(n), Ordering::Relaxed);
    }

    /// Takes what is still counted out of the total (the peer is gone; its task, if still
    /// running, subtracts nothing more).
    fn clear(&self) {
        let rest = self.own.swap(0, Ordering::Relaxed);
        self.total.fetch_sub(rest, Ordering::Relaxed);
    }
}

/// The RIB task's side of a peer's [`Queued`]: dropped with the peer's entry, it takes the
/// messages still counted out of the total.
#[derive(Debug)]
pub(crate) struct QueuedOwner(pub(crate) Queued);

impl std::ops::Deref for QueuedOwner {
    type Target = Queued;

    fn deref(&self) -> &Queued {
        &self.0
    }
}

impl Drop for QueuedOwner {
    fn drop(&mut self) {
        self.0.clear();
    }
}

pub(crate) async fn run(
    settings: PeerSettings,
    mut peer: Peer,
    mut from_rib: mpsc::Receiver<ToPeer>,
    queued: Queued,
    to_rib: mpsc::Sender<PeerMessage>,
    mut accepted: mpsc::Receiver<TcpStream>,
    incarnation: u64,
) {
    let addr = settings.address;
    let (net_tx, mut net_rx) = mpsc::channel::<Net>(64);
    let mut conns = Conns {
        writers: [None, None],
        local: [None, None],
    };
    let mut stopping = false;
    let mut connecting = false;
    let mut out: [Vec<Bytes>; 2] = [Vec::new(), Vec::new()];
    // Items taken from the RIB, handed to the session about 256 messages per round so that
    // a large flush never sits whole in the session's and the writer's buffers.
    let mut carry = Carry::default();
    let connect_from = Instant::now() + Duration::from_secs(settings.connect_delay.unwrap_or(0));
    peer.start(now());
    loop {
        // Timers due are handled every round, not only when nothing else is ready: under
        // a flood of input (read first, below) our KEEPALIVEs must still go out on time.
        peer.handle_timeout(now());
        if !stopping && !carry.is_empty() {
            stopping |= hand_round(&mut peer, &mut carry, &queued);
        }
        // Perform what the peer asks for.
        while let Some((conn, action)) = peer.poll_action() {
            match action {
                Action::Connect => {
                    // One attempt at a time: a retry while one waits or runs adds nothing.
                    if connecting {
                        continue;
                    }
                    connecting = true;
                    let net = net_tx.clone();
                    let s = settings.clone();
                    tokio::spawn(async move {
                        // No connection out before the connect delay has passed.
                        tokio::time::sleep_until(connect_from).await;
                        let r = timeout(Duration::from_secs(10), connect(&s)).await;
                        let ev = match r {
                            Ok(Ok(stream)) => Net::Connected(stream),
                            _ => Net::ConnectFailed,
                        };
                        let _ = net.send(ev).await;
                    });
                }
                Action::Transmit(bytes) => {
                    // Gathered, and written with one call per round (below).
                    if conns.writers[idx(conn)].is_some() {
                        out[idx(conn)].push(bytes);
                    }
                }
                Action::Close => {
                    write_out(&mut conns, &mut out, conn, &mut peer).await;
                    if let Some(mut w) = conns.writers[idx(conn)].take() {
                        let _ = w.shutdown().await;
                    }
                }
                Action::Event(e) => {
                    let ev = match e {
                        Event::StateChanged { from, to } => {
                            debug!(?conn, %from, %to, "state");
                            Some(PeerEvent::State(to.to_string()))
                        }
                        Event::Established(n) => {
                            info!(peer_as = n.peer_as, peer_id = %n.peer_id, "established");
                            Some(PeerEvent::Up(n, conns.local[idx(conn)]))
                        }
                        Event::Update(u) => Some(PeerEvent::Update(u)),
                        Event::EndOfRib(f) => Some(PeerEvent::EndOfRib(f)),
                        Event::RouteRefresh { family, kind } => (kind
                            == bgp_core::session::RefreshKind::Request)
                            .then_some(PeerEvent::RouteRefresh(family)),
                        Event::Down {
                            reason,
                            was_established,
                            retain_stale,
                        } => {
                            let reason = describe_down(&reason);
                            info!(?conn, %reason, "down");
                            was_established.then_some(PeerEvent::Down {
                                retain: retain_stale,
                                reason,
                            })
                        }
                        Event::StaleRoutesExpired => Some(PeerEvent::StaleExpired),
                    };
                    if let Some(ev) = ev
                        && to_rib.send((addr, incarnation, ev)).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
        // What the round transmitted, one write per connection; a failed write closes the
        // connection, and the peer's answer to that is a new round.
        let mut failed = false;
        for conn in [Conn::Outbound, Conn::Inbound] {
            failed |= !write_out(&mut conns, &mut out, conn, &mut peer).await;
        }
        if failed {
            continue;
        }
        if stopping && conns.writers.iter().all(Option::is_none) {
            let _ = to_rib.send((addr, incarnation, PeerEvent::Gone)).await;
            return;
        }
        let deadline = peer
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        // What the peer sent comes first: after a long write its KEEPALIVEs are waiting,
        // and the hold timer must not fire before they are read.
        tokio::select! {
            biased;
            Some(ev) = net_rx.recv() => match ev {
                Net::Data(conn, bytes) => peer.handle_data(now(), conn, &bytes),
                Net::Closed(conn) => {
                    conns.writers[idx(conn)] = None;
                    peer.handle_closed(now(), conn);
                }
                Net::Connected(stream) => {
                    connecting = false;
                    if conns.writers[0].is_none() && !stopping {
                        attach(stream, Conn::Outbound, &net_tx, &mut conns);
                        peer.handle_connected(now());
                    }
                }
                Net::ConnectFailed => {
                    connecting = false;
                    peer.handle_connect_failed(now());
                }
            },
            Some(stream) = accepted.recv() => {
                prepare_accepted(&stream, &settings);
                if peer.handle_accepted(now()) {
                    attach(stream, Conn::Inbound, &net_tx, &mut conns);
                } else {
                    // Refused: the peer's actions (a NOTIFICATION, a close) are for a
                    // connection we never attached; write them here. Every action pending
                    // now came from this call (the loop drained the others before waiting).
                    let mut stream = stream;
                    while let Some((Conn::Inbound, a)) = peer.poll_action() {
                        if let Action::Transmit(b) = a {
                            let _ = timeout(Duration::from_secs(1), stream.write_all(&b)).await;
                        }
                    }
                }
            }
            msg = from_rib.recv(), if !stopping && carry.is_empty() => match msg {
                Some(m) => {
                    carry.take(m);
                    // What else is queued goes out in the next rounds (fewer, larger
                    // writes).
                    while carry.len() < ROUND {
                        match from_rib.try_recv() {
                            Ok(m) => carry.take(m),
                            Err(_) => break,
                        }
                    }
                }
                None => {
                    stopping = true;
                    peer.stop(now(), StopReason::cease(bgp_core::wire::error::subcode::PEER_DECONFIGURED));
                }
            },
            _ = tokio::time::sleep_until(deadline) => peer.handle_timeout(now()),
            // The rest of what was taken goes out (next round) before more is taken.
            _ = std::future::ready(()), if !stopping && !carry.is_empty() => {}
        }
    }
}

/// Writes what was gathered for `conn`; false when the write failed (the connection is then
/// closed and the peer told).
async fn write_out(
    conns: &mut Conns,
    out: &mut [Vec<Bytes>; 2],
    conn: Conn,
    peer: &mut Peer,
) -> bool {
    let mut bufs = std::mem::take(&mut out[idx(conn)]);
    if bufs.is_empty() {
        return true;
    }
    let Some(w) = conns.writers[idx(conn)].as_mut() else {
        return true;
    };
    // A peer that does not read for a hold time is as good as gone.
    let ok = timeout(Duration::from_secs(30), write_all_vectored(w, &mut bufs)).await;
    if matches!(ok, Ok(Ok(()))) {
        return true;
    }
    warn!("write failed; closing the connection");
    conns.writers[idx(conn)] = None;
    peer.handle_closed(now(), conn);
    false
}

/// Writes every buffer with vectored writes (the messages are shared with other peers'
/// queues: gathering, not copying).
async fn write_all_vectored(w: &mut OwnedWriteHalf, bufs: &mut [Bytes]) -> std::io::Result<()> {
    let mut first = 0;
    while first < bufs.len() {
        let slices: Vec<std::io::IoSlice<'_>> = bufs[first..]
            .iter()
            .take(64)
            .map(|b| std::io::IoSlice::new(b))
            .collect();
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let len = bufs[first].len();
            if n >= len {
                n -= len;
                first += 1;
            } else {
                let _ = bufs[first].split_to(n);
                n = 0;
            }
        }
    }
    Ok(())
}

/// Messages handed to the session per round.
const ROUND: usize = 256;

/// Items taken from the RIB task, in order (tables flattened), and how far into the front
/// one, a batch of UPDATEs, the session has been handed.
#[derive(Default)]
struct Carry {
    items: VecDeque<ToPeer>,
    pos: Cursor,
}

impl Carry {
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes an item from the RIB task (a table is flattened, a batch kept whole).
    fn take(&mut self, m: ToPeer) {
        match m {
            ToPeer::Table(items) => {
                for i in items {
                    self.take(i);
                }
            }
            other => self.items.push_back(other),
        }
    }

    /// Messages carried (a batch counts its messages), to bound a round of taking.
    fn len(&self) -> usize {
        self.items
            .iter()
            .map(|i| match i {
                ToPeer::Updates(v) => v.len(),
                _ => 1,
            })
            .sum::<usize>()
            - self.pos.taken
    }
}

/// Hands about a round of carried messages to the session; true when the peer is
/// stopping for good.
fn hand_round(peer: &mut Peer, carry: &mut Carry, queued: &Queued) -> bool {
    let mut handed = 0;
    let mut counted = 0;
    let mut stopping = false;
    while handed < ROUND && !stopping {
        let Some(front) = carry.items.front_mut() else {
            break;
        };
        if let ToPeer::Updates(batch) = front {
            let t = now();
            let mut n = 0;
            while handed + n < ROUND {
                let Some(b) = batch.next(&mut carry.pos) else {
                    break;
                };
                let _ = peer.send_encoded_update(t, b.clone());
                n += 1;
            }
            handed += n;
            counted += n;
            if carry.pos.taken >= batch.len() {
                carry.items.pop_front();
                carry.pos = Cursor::default();
            }
            continue;
        }
        if let Some(m) = carry.items.pop_front() {
            handed += 1;
            stopping = perform(peer, m);
        }
    }
    if stopping {
        // Nothing more goes to this session; what was carried no longer counts.
        for i in carry.items.drain(..) {
            if let ToPeer::Updates(v) = i {
                counted += v.len();
            }
        }
        counted -= std::mem::take(&mut carry.pos).taken;
    }
    queued.sub(counted);
    if carry.is_empty() {
        release_drained(&mut carry.items);
    }
    stopping
}

/// Frees an emptied queue that grew large.
fn release_drained<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 32 {
        *q = VecDeque::new();
    }
}

/// Hands one item from the RIB task to the peer; true when the peer is stopping for good.
fn perform(peer: &mut Peer, m: ToPeer) -> bool {
    match m {
        ToPeer::Update(bytes) => {
            let _ = peer.send_encoded_update(now(), bytes);
        }
        ToPeer::Updates(batch) => {
            let t = now();
            for bytes in batch.iter() {
                let _ = peer.send_encoded_update(t, bytes.clone());
            }
        }
        ToPeer::EndOfRib(f) => {
            let _ = peer.send_end_of_rib(now(), f);
        }
        ToPeer::Refresh(f, kind) => {
            let _ = peer.send_route_refresh(now(), f, kind);
        }
        ToPeer::Stop(reason) => {
            peer.stop(now(), reason);
            return true;
        }
        ToPeer::Disable(reason) => peer.stop(now(), reason),
        ToPeer::AutoStop(reason, after) => peer.automatic_stop(now(), reason, after),
        ToPeer::Reset(reason) => {
            peer.stop(now(), reason);
            peer.start(now());
        }
        ToPeer::Table(items) => {
            let mut stopping = false;
            for m in items {
                stopping |= perform(peer, m);
            }
            return stopping;
        }
    }
    false
}

/// Why a session ended, for people: the NOTIFICATION's name and any shutdown message.
pub(crate) fn describe_down(r: &bgp_core::session::DownReason) -> String {
    use bgp_core::session::DownReason;
    let describe = |n: &bgp_core::wire::Notification| match n.shutdown_message() {
        Some(m) if !m.is_empty() => format!("{} ({m:?})", n.describe()),
        _ => n.describe(),
    };
    match r {
        DownReason::Sent(n) => format!("sent {}", describe(n)),
        DownReason::Received(n) => format!("received {}", describe(n)),
        DownReason::ConnectionLost => "connection lost".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gives_the_shared_messages_but_the_skipped_then_the_extra_ones() {
        let msgs: Arc<[Bytes]> = (0u8..6).map(|i| Bytes::from(vec![i])).collect();
        let got = |b: &Batch| b.iter().map(|m| m[0]).collect::<Vec<u8>>();
        let b = Batch::new(msgs.clone(), 4, vec![0, 2], vec![5]);
        assert_eq!(got(&b), [1, 3, 5]);
        assert_eq!(b.len(), 3);
        assert_eq!(got(&Batch::all(msgs.clone())), [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            got(&Batch::new(msgs.clone(), 0, vec![], vec![4, 5])),
            [4, 5]
        );
        let none = Batch::new(msgs.clone(), 1, vec![0], vec![]);
        assert_eq!((none.len(), got(&none)), (0, vec![]));
        // Handed in parts: the cursor carries on where it stopped.
        let mut c = Cursor::default();
        assert_eq!(b.next(&mut c).map(|m| m[0]), Some(1));
        assert_eq!(c.taken, 1);
        let rest: Vec<u8> = std::iter::from_fn(|| b.next(&mut c).map(|m| m[0])).collect();
        assert_eq!(rest, [3, 5]);
        assert_eq!(c.taken, b.len());
    }

    #[test]
    fn queued_counts_add_up_to_the_total_and_leave_it_with_their_peer() {
        let total = Arc::new(AtomicUsize::new(0));
        let a = Queued::new(&total);
        let b = Queued::new(&total);
        a.add(10);
        b.add(5);
        assert_eq!(
            (a.get(), b.get(), total.load(Ordering::Relaxed)),
            (10, 5, 15)
        );
        a.sub(4);
        assert_eq!((a.get(), total.load(Ordering::Relaxed)), (6, 11));
        // More gone than counted: the count stops at zero, the total loses only what was
        // counted.
        b.sub(9);
        assert_eq!((b.get(), total.load(Ordering::Relaxed)), (0, 6));
        // The RIB task drops a's entry while its task still holds a clone.
        let task_side = a.clone();
        drop(QueuedOwner(a));
        assert_eq!(total.load(Ordering::Relaxed), 0);
        task_side.sub(6);
        assert_eq!(total.load(Ordering::Relaxed), 0);
        b.add(3);
        assert_eq!(total.load(Ordering::Relaxed), 3);
    }
}
