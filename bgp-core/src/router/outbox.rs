//! What is on its way to each peer, and the counts that bound it.
//!
//! A flush of an update group gives each member a [`Batch`] (the group's encoded UPDATEs,
//! shared, minus what the member must not get). The batch waits in the member's outbox with
//! whatever must follow it in order (End-of-RIB, ROUTE-REFRESH markers), and is handed to
//! the driver a window at a time: at most [`WINDOW`] messages written-but-unconfirmed per
//! connection, so that a slow peer never holds more than that in the driver.
//!
//! What flushes queue is what a peer can fall behind on: when a flush finds more of it
//! waiting than the configured queue depth, the peer is marked overflowed and given nothing
//! more, and the flushes it has queued are dropped (the re-synchronization supersedes them);
//! once it has drained, it is re-synchronized from the RIB (BoRR, the table, EoRR with
//! enhanced route refresh, RFC 7313; a new session without). A peer that does not keep up
//! therefore costs at most its queue depth and one flush until it overflows, then its
//! window in flight (whose messages keep their flush's shared list) and the tables it is
//! owed, never the churn. A
//! whole table (at session start, for a refresh, a re-synchronization) is queued beyond the
//! depth: it is the peer's due, and what flushes queue behind it during its drain follows
//! on top of it.
//!
//! The flushed messages waiting for all peers together are counted beside: above a budget
//! no group is flushed (changes are coalesced in the groups meanwhile), since everyone being
//! slower than the RIB is no reason to declare anyone stuck. Overflowed peers do not count
//! (they hold no one back), and a peer past its depth while flushing is held back, and
//! that far behind the least-behind member of its update group, is the one that does not
//! keep up: it overflows then. Members all behind alike (a whole table flushed at once)
//! are not dropped for it; a member alone in its group is judged by its depth only.

use std::collections::VecDeque;
use std::time::Instant;

use foldhash::HashMap;

use tracing::{info, warn};

use super::io::{ConnId, Event, Messages, Output};
use super::status::PeerStats;
use super::{Router, peer::PeerEntry, peer_mut};
use crate::rib::batch::{Batch, Cursor};
use crate::rib::{GroupId, PeerId};
use crate::session::{RefreshKind, StopReason};
use crate::types::Family;
use crate::wire::error::subcode;

/// Messages in flight per connection: handed to the driver, not yet reported written.
pub const WINDOW: usize = 256;

/// Something to send to a peer, in order.
#[derive(Debug)]
pub(super) enum Item {
    /// A flush's UPDATEs: bounded by the queue depth.
    Flush(Batch),
    /// A table (or its difference after an export policy change): its size is the table's.
    Table(Batch),
    EndOfRib(Family),
    Refresh(Family, RefreshKind),
}

#[derive(Debug, Default)]
pub(super) struct Outbox {
    items: VecDeque<Item>,
    /// How far into the front item (a batch) the peer is.
    pos: Cursor,
    /// Messages in `items` not handed out yet.
    pub queued: usize,
    /// Of those, the ones from flushes.
    pub flushed: usize,
    /// Nothing more is queued until the peer has drained and is re-synchronized.
    pub overflowed: bool,
    /// In the router's list of peers with something to hand out.
    pub listed: bool,
    /// Messages handed out on the peer's connections, not yet reported written (the sum of
    /// its connections' counts, kept here so that a peer's backlog costs no lookup).
    pub in_flight: usize,
    /// The flush (by the router's count of them) that last gave the peer a batch, and how
    /// many messages that batch held: what the peer's backlog was before it.
    last_flush: (u64, usize),
}

impl Outbox {
    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queues an item; returns its messages and how many of them are from a flush.
    fn push(&mut self, item: Item) -> (usize, usize) {
        let (n, f) = match &item {
            Item::Flush(b) => (b.len(), b.len()),
            Item::Table(b) => (b.len(), 0),
            _ => (1, 0),
        };
        self.items.push_back(item);
        self.queued += n;
        self.flushed += f;
        (n, f)
    }

    /// Drops the flushes still queued (the re-synchronization that follows an overflow
    /// sends their routes as the table then stands); returns how many messages went. With
    /// nothing in flight, the first window of the front flush stays, copied out of the
    /// flush's shared list: the peer drains through its connection before it is caught up.
    fn drop_flushes(&mut self, keep_window: bool) -> usize {
        let mut kept = Vec::new();
        if let Some(Item::Flush(b)) = self.items.front() {
            if keep_window {
                let mut c = self.pos;
                kept.extend((0..WINDOW).map_while(|_| b.next(&mut c).cloned()));
            }
            self.pos = Cursor::default();
        }
        self.items.retain(|it| !matches!(it, Item::Flush(_)));
        let n = std::mem::take(&mut self.flushed) - kept.len();
        self.queued -= n;
        if !kept.is_empty() {
            self.flushed = kept.len();
            self.items.push_front(Item::Flush(Batch::all(kept.into())));
        }
        n
    }

    /// Empties the outbox; returns the messages it held and how many were from flushes.
    fn clear(&mut self) -> (usize, usize) {
        self.items.clear();
        self.pos = Cursor::default();
        if self.items.capacity() > 32 {
            self.items = VecDeque::new();
        }
        (
            std::mem::take(&mut self.queued),
            std::mem::take(&mut self.flushed),
        )
    }
}

/// How far behind the members of each update group are: the least backlog (queued and in
/// flight) of any up member not overflowed, and how many such members there are.
#[derive(Debug, Default)]
pub(super) struct Behind(HashMap<GroupId, (usize, usize)>);

impl Behind {
    /// Whether a member of `group` holding `flushed` from flushes (`backlog` in all) does
    /// not keep up: past `depth`, and `depth` behind the least-behind member of its group
    /// when not alone in it. Members all behind alike (a whole table arrived and was flushed
    /// at once) are slower than the RIB together, which is no reason to drop any of them:
    /// the flushes wait until they have drained.
    pub(super) fn lags(
        &self,
        group: Option<GroupId>,
        flushed: usize,
        backlog: usize,
        depth: usize,
    ) -> bool {
        if flushed <= depth {
            return false;
        }
        match group.and_then(|g| self.0.get(&g)) {
            Some(&(least, members)) if members > 1 => backlog > least + depth,
            _ => true,
        }
    }
}

/// What a peer takes from its outbox in one turn.
enum Turn {
    /// UPDATEs to write as they are, and how many of them are from a flush.
    Updates(Messages, usize),
    /// A message the session builds.
    Control(Item),
}

impl Router {
    /// Queues items for a peer beyond any bound (a table, End-of-RIB, markers).
    pub(super) fn queue(&mut self, id: PeerId, items: impl IntoIterator<Item = Item>) {
        let Some(e) = peer_mut(&mut self.peers, id) else {
            return;
        };
        if self.deferring.is_some() || e.up.is_none() {
            return;
        }
        for it in items {
            if matches!(&it, Item::Table(b) | Item::Flush(b) if b.is_empty()) {
                continue;
            }
            let (n, f) = e.outbox.push(it);
            self.backlog += n;
            self.flushed_total += f;
        }
        list(&mut self.ready, e);
    }

    /// A flush's batch for a peer: queued unless more than the queue depth of what flushes
    /// gave it still waits (then it overflows and is re-synchronized once drained). The
    /// groups' backlogs are taken the first time a member past its depth needs them (a
    /// walk over every peer, which a flush that finds no one past the depth is spared).
    pub(super) fn offer(
        &mut self,
        id: PeerId,
        batch: Batch,
        behind: &mut Option<Behind>,
        now: Instant,
    ) {
        let depth = self.cfg.peer_queue_depth.max(16);
        let Some(e) = self.entry(id) else {
            return;
        };
        if e.outbox.overflowed || e.up.is_none() || self.deferring.is_some() {
            // A re-synchronization, or the table at the end of the deferral, follows.
            return;
        }
        if e.outbox.flushed > depth {
            let (flushed, backlog) = (e.outbox.flushed, self.backlog_of(id));
            let group = self.rib.group_of(id);
            if behind
                .get_or_insert_with(|| self.behind(Some(self.flushes)))
                .lags(group, flushed, backlog, depth)
            {
                self.overflow(id, now);
                return;
            }
        }
        let flush = self.flushes;
        let Some(e) = peer_mut(&mut self.peers, id) else {
            return;
        };
        let (n, f) = e.outbox.push(Item::Flush(batch));
        e.outbox.last_flush = match e.outbox.last_flush {
            (at, m) if at == flush => (at, m + n),
            _ => (flush, n),
        };
        self.backlog += n;
        self.flushed_total += f;
        list(&mut self.ready, e);
    }

    /// The groups' backlogs, to compare each member with: as they were before the flush
    /// under way, `during` (by the router's count of flushes).
    pub(super) fn behind(&self, during: Option<u64>) -> Behind {
        let mut b = Behind::default();
        for e in self.peers.iter().flatten() {
            if e.up.is_none() || e.outbox.overflowed {
                continue;
            }
            let Some(g) = self.rib.group_of(e.id) else {
                continue;
            };
            let given = match e.outbox.last_flush {
                (at, n) if Some(at) == during => n,
                _ => 0,
            };
            let backlog = self.backlog_of(e.id) - given;
            let slot = b.0.entry(g).or_insert((usize::MAX, 0));
            slot.0 = slot.0.min(backlog);
            slot.1 += 1;
        }
        b
    }

    /// The peer does not keep up: nothing more is queued for it until it has drained, and
    /// the flushes it has queued are dropped (its re-synchronization supersedes them), so
    /// that past its queue depth it holds only what is in flight and the tables it is owed.
    pub(super) fn overflow(&mut self, id: PeerId, now: Instant) {
        let Some(e) = peer_mut(&mut self.peers, id) else {
            return;
        };
        if e.outbox.overflowed {
            return;
        }
        warn!(
            peer = %e.address(),
            queued = e.outbox.queued,
            "queue full; the peer will be re-synchronized once drained"
        );
        e.outbox.overflowed = true;
        e.stats.overflows += 1;
        let queued = e.outbox.queued;
        let idle = self.backlog_of(id) == queued;
        let Some(e) = peer_mut(&mut self.peers, id) else {
            return;
        };
        let dropped = e.outbox.drop_flushes(idle);
        self.backlog -= dropped;
        self.flushed_total -= dropped;
        let peer = e.address();
        self.overflowed.push(id);
        self.out
            .push_back(Output::Event(Event::QueueOverflow { peer }));
        self.stats_changed(id);
        // Nothing was queued but flushes, and nothing is in flight: caught up at once.
        if self.backlog_of(id) == 0 {
            self.resync(id, now);
        }
    }

    /// While flushing is held back by the peers' backlog: the peers past their queue depth
    /// are the ones that do not keep up (they would overflow at the next flush anyway).
    pub(super) fn overflow_laggards(&mut self, now: Instant) {
        let depth = self.cfg.peer_queue_depth.max(16);
        let behind = self.behind(None);
        let late: Vec<PeerId> = self
            .peers
            .iter()
            .flatten()
            .filter(|e| e.up.is_some() && !e.outbox.overflowed)
            .filter(|e| {
                let backlog = self.backlog_of(e.id);
                behind.lags(self.rib.group_of(e.id), e.outbox.flushed, backlog, depth)
            })
            .map(|e| e.id)
            .collect();
        for id in late {
            self.overflow(id, now);
        }
    }

    /// What flushes queued for the peers that have not overflowed.
    pub(super) fn active_flushed(&self) -> usize {
        let stuck: usize = self
            .overflowed
            .iter()
            .filter_map(|id| self.entry(*id))
            .map(|e| e.outbox.flushed)
            .sum();
        self.flushed_total.saturating_sub(stuck)
    }

    /// Drops what waits for a peer whose session went down (or who is removed).
    pub(super) fn clear_outbox(&mut self, id: PeerId) {
        if let Some(e) = peer_mut(&mut self.peers, id) {
            let (n, f) = e.outbox.clear();
            self.backlog -= n;
            self.flushed_total -= f;
            e.outbox.overflowed = false;
        }
        self.overflowed.retain(|x| *x != id);
    }

    /// Hands one window of a listed peer's outbox to its session and the driver.
    pub(super) fn pump(&mut self, id: PeerId, now: Instant) {
        loop {
            let Some(e) = peer_mut(&mut self.peers, id) else {
                return;
            };
            e.outbox.listed = false;
            let Some(conn) = e.established_conn() else {
                return;
            };
            let in_flight = self.conns.get(&conn).map_or(0, |c| c.in_flight);
            let room = WINDOW.saturating_sub(in_flight);
            if room == 0 {
                // Listed again when the driver reports writes.
                return;
            }
            match take(e, room) {
                None => {
                    // Drained with nothing in flight (its last items were control
                    // messages): no write will be reported to catch it up.
                    if e.outbox.overflowed && in_flight == 0 {
                        self.resync(id, now);
                        continue;
                    }
                    break;
                }
                Some(Turn::Updates(msgs, from_flush)) => {
                    let n = msgs.len();
                    let _ = e.fsm.note_updates_sent(now, n as u64);
                    e.outbox.queued -= n;
                    e.outbox.flushed -= from_flush;
                    self.backlog -= n;
                    self.flushed_total -= from_flush;
                    self.transmit(conn, msgs);
                    self.stats_changed(id);
                }
                Some(Turn::Control(item)) => {
                    e.outbox.queued -= 1;
                    self.backlog -= 1;
                    // The session builds and transmits it.
                    let r = match item {
                        Item::EndOfRib(f) => e.fsm.send_end_of_rib(now, f),
                        Item::Refresh(f, k) => {
                            e.stats.refresh_sent.count(k);
                            e.fsm.send_route_refresh(now, f, k)
                        }
                        Item::Flush(_) | Item::Table(_) => Ok(()),
                    };
                    if let Err(err) = r {
                        warn!(peer = %e.address(), %err, "not sent");
                    }
                    self.drain(id, now);
                }
            }
        }
        self.arm(id);
    }

    /// Writes of `conn` reported by the driver.
    pub(super) fn written(&mut self, conn: ConnId, n: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let n = n.min(c.in_flight);
        c.in_flight -= n;
        self.backlog -= n;
        let (id, left) = (c.peer, c.in_flight);
        let Some(e) = peer_mut(&mut self.peers, id) else {
            return;
        };
        e.outbox.in_flight -= n;
        if e.established_conn() != Some(conn) {
            return;
        }
        if !e.outbox.is_empty() {
            list(&mut self.ready, e);
        } else if e.outbox.overflowed && left == 0 {
            self.resync(id, now);
        }
    }

    /// A peer that overflowed has drained: it gets the whole table again.
    fn resync(&mut self, id: PeerId, now: Instant) {
        let Some(e) = peer_mut(&mut self.peers, id) else {
            return;
        };
        e.outbox.overflowed = false;
        self.overflowed.retain(|x| *x != id);
        let Some(up) = &e.up else { return };
        let families = up.families.clone();
        if !up.enhanced_refresh {
            info!(peer = %e.address(), "drained; re-synchronized by a new session");
            e.fsm
                .stop(now, StopReason::cease(subcode::OUT_OF_RESOURCES));
            e.fsm.start(now);
            self.drain(id, now);
            self.arm(id);
            return;
        }
        info!(peer = %e.address(), "drained; re-synchronized by enhanced route refresh");
        // BoRR, the table, EoRR: the peer drops what was not sent again (RFC 7313).
        let table = self.rib.full_table(id);
        let items = families
            .iter()
            .map(|f| Item::Refresh(*f, RefreshKind::Begin))
            .chain(std::iter::once(Item::Table(table)))
            .chain(families.iter().map(|f| Item::Refresh(*f, RefreshKind::End)))
            .collect::<Vec<_>>();
        self.queue(id, items);
    }

    /// Hands messages for a connection to the driver; they are in flight until written.
    pub(super) fn transmit(&mut self, conn: ConnId, msgs: Messages) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.in_flight += msgs.len();
        self.backlog += msgs.len();
        if let Some(e) = peer_mut(&mut self.peers, c.peer) {
            e.outbox.in_flight += msgs.len();
        }
        push_transmit(&mut self.out, conn, msgs);
    }
}

/// Puts the peer on the list of those with something to hand out.
fn list(ready: &mut VecDeque<PeerId>, e: &mut PeerEntry) {
    if !e.outbox.listed && !e.outbox.is_empty() {
        e.outbox.listed = true;
        ready.push_back(e.id);
    }
}

/// Takes up to `room` UPDATEs from the front batch, or the control item in front.
fn take(e: &mut PeerEntry, room: usize) -> Option<Turn> {
    let ob = &mut e.outbox;
    let (batch, from_flush) = match ob.items.front()? {
        Item::Flush(b) => (b, true),
        Item::Table(b) => (b, false),
        _ => return ob.items.pop_front().map(Turn::Control),
    };
    let from = ob.pos;
    let mut n = 0;
    while n < room {
        let Some(m) = batch.next(&mut ob.pos) else {
            break;
        };
        count_sent(&mut e.stats, m);
        n += 1;
    }
    let msgs = Messages::shared(batch, from, n);
    if ob.pos.taken() >= batch.len() {
        ob.items.pop_front();
        ob.pos = Cursor::default();
    }
    if n == 0 {
        // An exhausted batch: the next item's turn.
        return take(e, room);
    }
    Some(Turn::Updates(msgs, if from_flush { n } else { 0 }))
}

fn count_sent(stats: &mut PeerStats, m: &crate::rib::Encoded) {
    let c = PeerStats::slot(&mut stats.sent, m.family);
    c.updates += 1;
    c.announced += u64::from(m.announced);
    c.withdrawn += u64::from(m.withdrawn);
}

/// Adds to the last output when it is a transmission on the same connection.
fn push_transmit(out: &mut VecDeque<Output>, conn: ConnId, msgs: Messages) {
    if let Some(Output::Transmit {
        conn: last,
        messages,
    }) = out.back_mut()
        && *last == conn
    {
        messages.append(msgs);
        return;
    }
    out.push_back(Output::Transmit {
        conn,
        messages: msgs,
    });
}
