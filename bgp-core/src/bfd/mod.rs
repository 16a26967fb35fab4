//! Bidirectional Forwarding Detection as a value: many sessions over UDP, with no sockets
//! and no clock (RFC 5880, with the single-hop rules of RFC 5881 and the multihop rules of
//! RFC 5883).
//!
//! # Calling contract
//!
//! A [`Bfd`] endpoint is driven by its owner, which holds the UDP sockets and a clock:
//! - **getters**: [`Bfd::session`], [`Bfd::sessions`], [`Bfd::find`], [`Bfd::counters`],
//!   [`Bfd::timer`];
//! - **network input**, with the current time: [`Bfd::handle`] with an
//!   [`Input::Received`] for every datagram read from the single-hop (3784) or multihop
//!   (4784) port;
//! - **the clock**: [`Bfd::handle_timeout`] at or after [`Bfd::poll_timeout`] (safe to
//!   call early: nothing happens before a deadline);
//! - **commands** (mutators that return at once with their outcome): [`Bfd::add_session`],
//!   [`Bfd::remove_session`], [`Bfd::set_admin_down`], [`Bfd::update_settings`];
//! - **outputs**: after any of the calls above, drain [`Bfd::poll_output`] until it
//!   returns `None` ([`Output::Transmit`], [`Output::Event`]), then sleep until the
//!   earlier of [`Bfd::poll_timeout`] and the next datagram. `poll_output(now)` also runs
//!   the timers due at `now`, so a loop that only drains it at the right times is enough.
//!
//! Received packets are demultiplexed by Your Discriminator, or when it is 0 by our address,
//! the peer's address, the hop kind and the interface (RFC 5881 3, RFC 5883 3). A packet
//! that fails a check is dropped and counted by [`DropReason`], for its session when it has
//! one and for the endpoint; it is never an error of the call. Command errors
//! ([`BfdError`]) mean nothing changed.
//!
//! The endpoint never reads a clock and draws its randomness (discriminators, source
//! ports, jitter, authentication sequence numbers) from the seed of its [`BfdConfig`]:
//! the same calls with the same times give the same outputs.
//!
//! Where each part lives: `packet` (the control packet codec), `session` (one session's
//! state machine and timers), `auth` (RFC 5880 6.7), `io` (inputs, outputs, names),
//! `config`, `status` (what the getters show), `timers`.
//!
//! Single-hop packets must arrive with TTL 255 whether or not the session authenticates
//! (RFC 5881 5 would let authenticated ones through with less), and single-hop sessions
//! take the active role (RFC 5881 3): only multihop ones may be passive.
//!
//! Left out: the Echo function, our own Demand mode (a peer's is honoured), more than one
//! key per session, and creating sessions for unknown peers (their packets are dropped as
//! [`DropReason::NoSession`]).

mod auth;
mod config;
mod io;
mod packet;
mod session;
mod status;
mod timers;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use foldhash::{HashMap, HashSet};
use smallvec::SmallVec;

pub use auth::AuthSettings;
pub use config::{BfdConfig, MIN_INTERVAL, SLOW_TX, SessionSettings};
pub use io::{
    BfdError, Event, Hop, Input, MULTIHOP_PORT, Output, SINGLE_HOP_PORT, SOURCE_PORTS, SessionId,
    SessionKey, TX_TTL,
};
pub use packet::{
    AuthSection, AuthType, ControlPacket, Diag, MANDATORY_LEN, PacketError, Password, State,
    VERSION, field,
};
pub use status::{Counters, DropReason, Drops, SessionStatus};
pub use timers::Timer;

use session::{Emit, Session};
use timers::{Rng, TimerHeap};

/// A session as the endpoint keeps it.
#[derive(Debug)]
struct Entry {
    key: SessionKey,
    source_port: u16,
    session: Session,
    /// The deadline this session has in the endpoint's heap.
    armed: Option<Instant>,
}

/// The endpoint: see the module documentation for how to drive it.
#[derive(Debug)]
pub struct Bfd {
    rng: Rng,
    /// By id, so that they are listed in the order they were added.
    sessions: BTreeMap<SessionId, Entry>,
    by_discr: HashMap<u32, SessionId>,
    /// Sessions by (local, remote, hop); several differ by interface.
    by_addr: HashMap<(IpAddr, IpAddr, Hop), SmallVec<[SessionId; 1]>>,
    ports: HashSet<u16>,
    timers: TimerHeap,
    out: VecDeque<Output>,
    /// What a session emitted, before it is addressed.
    emitted: Vec<Emit>,
    next_id: u64,
    counters: Counters,
}

impl Bfd {
    pub fn new(cfg: BfdConfig) -> Bfd {
        Bfd {
            rng: Rng::new(cfg.seed),
            sessions: BTreeMap::new(),
            by_discr: HashMap::default(),
            by_addr: HashMap::default(),
            ports: HashSet::default(),
            timers: TimerHeap::default(),
            out: VecDeque::new(),
            emitted: Vec::new(),
            next_id: 1,
            counters: Counters::default(),
        }
    }

    // ---- getters ----

    pub fn session(&self, id: SessionId) -> Option<SessionStatus> {
        let e = self.sessions.get(&id)?;
        Some(e.session.status(id, &e.key, e.source_port))
    }

    /// Every session, in the order they were added.
    pub fn sessions(&self) -> impl Iterator<Item = SessionStatus> + '_ {
        self.sessions
            .iter()
            .map(|(id, e)| e.session.status(*id, &e.key, e.source_port))
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The session for exactly this key.
    pub fn find(&self, key: &SessionKey) -> Option<SessionId> {
        let ids = self.by_addr.get(&(key.local, key.remote, key.hop))?;
        ids.iter()
            .copied()
            .find(|id| self.sessions.get(id).is_some_and(|e| e.key == *key))
    }

    /// The endpoint's counters: every packet in and out, and every drop, with or without a
    /// session.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// When a session's timer is due, if it runs.
    pub fn timer(&self, id: SessionId, t: Timer) -> Option<Instant> {
        self.sessions.get(&id)?.session.timer(t)
    }

    // ---- commands ----

    /// A new session in Down. Unless passive, it sends its first packet at once.
    pub fn add_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        settings: SessionSettings,
    ) -> Result<SessionId, BfdError> {
        if key.local.is_ipv4() != key.remote.is_ipv4() {
            return Err(BfdError::AddressFamilies);
        }
        if self.find(&key).is_some() {
            return Err(BfdError::Duplicate(key));
        }
        let settings = settings.checked().map_err(BfdError::InvalidSettings)?;
        check_role(&key, &settings)?;
        let source_port = self.free_port().ok_or(BfdError::NoSourcePort)?;
        let discr = self.free_discriminator();
        let seed = self.rng.next_u64();
        let session =
            Session::new(now, discr, settings, seed).map_err(BfdError::InvalidSettings)?;
        let id = SessionId(self.next_id);
        self.next_id += 1;
        self.ports.insert(source_port);
        self.by_discr.insert(discr, id);
        self.by_addr
            .entry((key.local, key.remote, key.hop))
            .or_default()
            .push(id);
        self.sessions.insert(
            id,
            Entry {
                key,
                source_port,
                session,
                armed: None,
            },
        );
        self.after(id);
        Ok(id)
    }

    /// Removes a session. Unless it may not send (passive, peer never heard), one last
    /// packet in AdminDown tells the peer it is not a failure (RFC 5882 3.2); to be sure the
    /// peer sees it, call [`Bfd::set_admin_down`] a Detection Time before.
    pub fn remove_session(&mut self, now: Instant, id: SessionId) -> Result<(), BfdError> {
        let Some(mut e) = self.sessions.remove(&id) else {
            return Err(BfdError::NoSession(id));
        };
        e.session.farewell(now, &mut self.emitted);
        address(&mut self.out, &mut self.counters, &mut self.emitted, id, &e);
        self.by_discr.remove(&e.session.local_discr);
        self.ports.remove(&e.source_port);
        let addr = (e.key.local, e.key.remote, e.key.hop);
        if let Some(ids) = self.by_addr.get_mut(&addr) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_addr.remove(&addr);
            }
        }
        Ok(())
    }

    /// Takes a session administratively down (it then sends AdminDown, diagnostic 7) or
    /// enables it again (it goes to Down and comes up with the peer).
    pub fn set_admin_down(
        &mut self,
        now: Instant,
        id: SessionId,
        down: bool,
    ) -> Result<(), BfdError> {
        let e = self.sessions.get_mut(&id).ok_or(BfdError::NoSession(id))?;
        e.session.set_admin_down(now, down, &mut self.emitted);
        self.after(id);
        Ok(())
    }

    /// New settings for a session. Changed intervals are negotiated with a Poll Sequence
    /// and take effect as RFC 5880 6.8.3 says: a slower transmit rate or a shorter
    /// Detection Time only once the peer has answered.
    pub fn update_settings(
        &mut self,
        now: Instant,
        id: SessionId,
        settings: SessionSettings,
    ) -> Result<(), BfdError> {
        let settings = settings.checked().map_err(BfdError::InvalidSettings)?;
        let e = self.sessions.get_mut(&id).ok_or(BfdError::NoSession(id))?;
        check_role(&e.key, &settings)?;
        e.session
            .update(now, settings)
            .map_err(BfdError::InvalidSettings)?;
        self.after(id);
        Ok(())
    }

    // ---- inputs ----

    /// A datagram arrived.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) {
        let Input::Received {
            from,
            to,
            ttl,
            hop,
            interface,
            bytes,
        } = input;
        let pkt = match ControlPacket::decode(bytes) {
            Ok(p) => p,
            Err(e) => return self.counters.dropped.add(e.reason()),
        };
        let found = if pkt.your_discriminator != 0 {
            self.by_discr.get(&pkt.your_discriminator).copied()
        } else {
            self.by_address(to.ip(), from.ip(), hop, interface)
        };
        let Some(id) = found else {
            return self.counters.dropped.add(DropReason::NoSession);
        };
        let Some(e) = self.sessions.get_mut(&id) else {
            return self.counters.dropped.add(DropReason::NoSession);
        };
        let verdict = transport_check(e, from, hop, interface, ttl).and_then(|()| {
            // The codec checked that Length octets were received.
            let raw = &bytes[..usize::from(bytes[field::LENGTH])];
            e.session.receive(now, &pkt, raw, &mut self.emitted)
        });
        match verdict {
            Ok(()) => {
                e.session.counters.packets_in += 1;
                self.counters.packets_in += 1;
            }
            Err(reason) => {
                e.session.counters.dropped.add(reason);
                self.counters.dropped.add(reason);
            }
        }
        self.after(id);
    }

    /// Timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, id)) = self.timers.pop_due(now) {
            let Some(e) = self.sessions.get_mut(&id) else {
                continue;
            };
            // An entry left behind when the session's deadline came earlier: the entry
            // `armed` names is still in the heap and stands for the session.
            if e.armed != Some(at) {
                continue;
            }
            e.armed = None;
            e.session.handle_timeout(now, &mut self.emitted);
            self.after(id);
        }
    }

    /// The earliest deadline: call [`Bfd::handle_timeout`] then (it may find nothing due).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next thing for the driver to do: outputs of earlier calls first, then those of
    /// the timers due at `now`.
    pub fn poll_output(&mut self, now: Instant) -> Option<Output> {
        if self.out.is_empty() && self.timers.next().is_some_and(|t| t <= now) {
            self.handle_timeout(now);
        }
        self.out.pop_front()
    }

    // ---- internals ----

    /// The session for a packet with no Your Discriminator: the one of the interface it
    /// came on, else one bound to no interface.
    fn by_address(
        &self,
        local: IpAddr,
        remote: IpAddr,
        hop: Hop,
        interface: Option<&str>,
    ) -> Option<SessionId> {
        let ids = self.by_addr.get(&(local, remote, hop))?;
        let iface = |id: &SessionId| self.sessions.get(id).and_then(|e| e.key.interface.clone());
        let exact = interface.and_then(|i| {
            ids.iter()
                .copied()
                .find(|id| iface(id).is_some_and(|n| *n == *i))
        });
        exact.or_else(|| ids.iter().copied().find(|id| iface(id).is_none()))
    }

    fn free_port(&mut self) -> Option<u16> {
        let (lo, hi) = (*SOURCE_PORTS.start(), *SOURCE_PORTS.end());
        let span = u32::from(hi - lo) + 1;
        let start = self.rng.up_to(span - 1);
        (0..span)
            .map(|i| lo + ((start + i) % span) as u16)
            .find(|p| !self.ports.contains(p))
    }

    /// A discriminator no session has; 0 is never one (RFC 5880 6.8.1).
    fn free_discriminator(&mut self) -> u32 {
        loop {
            let d = self.rng.next_u32();
            if d != 0 && !self.by_discr.contains_key(&d) {
                return d;
            }
        }
    }

    /// Addresses what the session emitted, and arms its timer.
    fn after(&mut self, id: SessionId) {
        if let Some(e) = self.sessions.get_mut(&id) {
            address(&mut self.out, &mut self.counters, &mut self.emitted, id, e);
            self.timers.arm(&mut e.armed, e.session.next_timeout(), id);
        }
    }
}

/// Turns what a session emitted into outputs, with its addresses.
fn address(
    out: &mut VecDeque<Output>,
    counters: &mut Counters,
    emitted: &mut Vec<Emit>,
    id: SessionId,
    e: &Entry,
) {
    for x in emitted.drain(..) {
        out.push_back(match x {
            Emit::Packet(bytes) => {
                counters.packets_out += 1;
                Output::Transmit {
                    session: id,
                    local: e.key.local,
                    source_port: e.source_port,
                    to: SocketAddr::new(e.key.remote, e.key.hop.port()),
                    hop: e.key.hop,
                    interface: e.key.interface.clone(),
                    ttl: TX_TTL,
                    bytes,
                }
            }
            Emit::StateChanged {
                from,
                to,
                diag,
                remote_state,
            } => Output::Event(Event::StateChanged {
                session: id,
                key: e.key.clone(),
                from,
                to,
                diag,
                remote_state,
            }),
        });
    }
}

/// Both ends of a single-hop session are active (RFC 5881 3).
fn check_role(key: &SessionKey, settings: &SessionSettings) -> Result<(), BfdError> {
    if settings.passive && key.hop == Hop::Single {
        return Err(BfdError::InvalidSettings(
            "a single-hop session takes the active role",
        ));
    }
    Ok(())
}

/// The checks of the transport before a packet reaches its session: the session found by
/// discriminator must be the packet's (address, hop kind, interface), and the TTL must be
/// 255 on a single hop (RFC 5881 5) or at least the configured minimum on several.
fn transport_check(
    e: &Entry,
    from: SocketAddr,
    hop: Hop,
    interface: Option<&str>,
    ttl: u8,
) -> Result<(), DropReason> {
    let other_iface = matches!((&e.key.interface, interface), (Some(a), Some(b)) if **a != *b);
    if e.key.remote != from.ip() || e.key.hop != hop || other_iface {
        return Err(DropReason::AddressMismatch);
    }
    let ok = match hop {
        Hop::Single => ttl == 255,
        Hop::Multi => e.session.settings().min_ttl.is_none_or(|m| ttl >= m),
    };
    if ok { Ok(()) } else { Err(DropReason::Ttl) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Two endpoints joined with no delay, run for `d` in steps of their deadlines.
    fn run(ends: &mut [Bfd; 2], now: &mut Instant, d: Duration) {
        let end = *now + d;
        loop {
            for i in 0..2 {
                while let Some(o) = ends[i].poll_output(*now) {
                    if let Output::Transmit {
                        local,
                        source_port,
                        to,
                        hop,
                        bytes,
                        ..
                    } = o
                    {
                        let input = Input::Received {
                            from: SocketAddr::new(local, source_port),
                            to,
                            ttl: 255,
                            hop,
                            interface: None,
                            bytes: &bytes,
                        };
                        ends[1 - i].handle(*now, input);
                    }
                }
            }
            let next = ends.iter().filter_map(Bfd::poll_timeout).min();
            match next {
                Some(t) if t <= end => *now = (*now).max(t),
                _ => break,
            }
        }
        *now = end;
    }

    #[test]
    fn flaps_leave_no_stale_entries_behind() {
        let mut now = Instant::now();
        let mut ends = [1, 2].map(|seed| Bfd::new(BfdConfig { seed }));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let id = ends[0]
            .add_session(
                now,
                SessionKey::single_hop(a, b),
                SessionSettings::default(),
            )
            .unwrap();
        ends[1]
            .add_session(
                now,
                SessionKey::single_hop(b, a),
                SessionSettings::default(),
            )
            .unwrap();
        for _ in 0..50 {
            run(&mut ends, &mut now, Duration::from_secs(4));
            assert_eq!(ends[0].session(id).unwrap().state, State::Up);
            ends[0].set_admin_down(now, id, true).unwrap();
            run(&mut ends, &mut now, Duration::from_secs(4));
            ends[0].set_admin_down(now, id, false).unwrap();
        }
        // One live entry per endpoint, and at most a few left over from the last moves.
        assert!(
            ends.iter().all(|e| e.timers.len() <= 3),
            "{:?}",
            ends.each_ref().map(|e| e.timers.len())
        );
    }
}
