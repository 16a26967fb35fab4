//! A deterministic world for BFD tests: two endpoints, A and B, joined by a link with a
//! fixed delay, on a virtual clock that jumps from deadline to deadline. Whatever one side
//! transmits is delivered to the other after the delay, unless the test cuts that
//! direction (for every session, or for one hop kind); cuts apply when a packet is sent.
//! Every packet sent and delivered is recorded, decoded, with its time.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_core::bfd::{
    Bfd, BfdConfig, ControlPacket, Diag, Event, Hop, Input, Output, SessionId, SessionKey,
    SessionSettings, SessionStatus, State,
};
use bytes::Bytes;

pub const A: usize = 0;
pub const B: usize = 1;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A packet seen on the link.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    /// The sender's session.
    pub session: SessionId,
    pub hop: Hop,
    pub source_port: u16,
    pub packet: ControlPacket,
    pub bytes: Bytes,
}

pub struct Side {
    pub bfd: Bfd,
    pub addr: IpAddr,
    /// What this side transmitted.
    pub sent: Vec<Seen>,
    /// What was delivered to this side (`session` names the sender's session).
    pub delivered: Vec<Seen>,
    pub events: Vec<(Instant, Event)>,
}

struct InFlight {
    at: Instant,
    to: usize,
    from: SocketAddr,
    dest: SocketAddr,
    seen: Seen,
}

pub struct Pair {
    pub now: Instant,
    pub sides: [Side; 2],
    pub delay: Duration,
    /// What side i sends is lost.
    pub cut: [bool; 2],
    /// What side i sends of this hop kind is lost.
    pub cut_hop: [Option<Hop>; 2],
    /// The TTL packets arrive with.
    pub ttl: u8,
    in_flight: VecDeque<InFlight>,
}

impl Pair {
    /// A at 10.0.0.1, B at 10.0.0.2, 1 ms apart.
    pub fn new(seed: u64) -> Pair {
        let side = |n: u8, seed: u64| Side {
            bfd: Bfd::new(BfdConfig { seed }),
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
            sent: Vec::new(),
            delivered: Vec::new(),
            events: Vec::new(),
        };
        Pair {
            now: Instant::now(),
            sides: [side(1, seed), side(2, seed.wrapping_add(1))],
            delay: ms(1),
            cut: [false; 2],
            cut_hop: [None; 2],
            ttl: 255,
            in_flight: VecDeque::new(),
        }
    }

    pub fn key(&self, side: usize, hop: Hop) -> SessionKey {
        let (local, remote) = (self.sides[side].addr, self.sides[1 - side].addr);
        match hop {
            Hop::Single => SessionKey::single_hop(local, remote),
            Hop::Multi => SessionKey::multihop(local, remote),
        }
    }

    /// A session on one side.
    pub fn add(&mut self, side: usize, key: SessionKey, settings: SessionSettings) -> SessionId {
        let now = self.now;
        self.sides[side]
            .bfd
            .add_session(now, key, settings)
            .unwrap()
    }

    /// A session on each side, for each other's addresses.
    pub fn add_both(
        &mut self,
        hop: Hop,
        a: SessionSettings,
        b: SessionSettings,
    ) -> (SessionId, SessionId) {
        let ka = self.key(A, hop);
        let kb = self.key(B, hop);
        (self.add(A, ka, a), self.add(B, kb, b))
    }

    pub fn status(&self, side: usize, id: SessionId) -> SessionStatus {
        self.sides[side].bfd.session(id).unwrap()
    }

    pub fn state(&self, side: usize, id: SessionId) -> State {
        self.status(side, id).state
    }

    /// The session's state changes so far: (from, to, diag).
    pub fn transitions(&self, side: usize, id: SessionId) -> Vec<(State, State, Diag)> {
        self.sides[side]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StateChanged {
                    session,
                    from,
                    to,
                    diag,
                    ..
                } if *session == id => Some((*from, *to, *diag)),
                _ => None,
            })
            .collect()
    }

    /// The periodic packets (not answers to polls) a session sent in `[from, to)`.
    pub fn periodic(&self, side: usize, id: SessionId, from: Instant, to: Instant) -> Vec<&Seen> {
        self.sides[side]
            .sent
            .iter()
            .filter(|s| s.session == id && !s.packet.final_ && s.at >= from && s.at < to)
            .collect()
    }

    fn take_outputs(&mut self, side: usize) -> bool {
        let mut any = false;
        while let Some(o) = self.sides[side].bfd.poll_output(self.now) {
            any = true;
            match o {
                Output::Transmit {
                    session,
                    local,
                    source_port,
                    to,
                    hop,
                    bytes,
                    ttl,
                    ..
                } => {
                    assert_eq!(ttl, 255);
                    assert_eq!(to.port(), hop.port());
                    let seen = Seen {
                        at: self.now,
                        session,
                        hop,
                        source_port,
                        packet: ControlPacket::decode(&bytes).expect("what we send decodes"),
                        bytes,
                    };
                    self.sides[side].sent.push(seen.clone());
                    if self.cut[side] || self.cut_hop[side] == Some(hop) {
                        continue;
                    }
                    self.in_flight.push_back(InFlight {
                        at: self.now + self.delay,
                        to: 1 - side,
                        from: SocketAddr::new(local, source_port),
                        dest: to,
                        seen,
                    });
                }
                Output::Event(e) => self.sides[side].events.push((self.now, e)),
            }
        }
        any
    }

    fn deliver_due(&mut self) -> bool {
        let mut any = false;
        while self.in_flight.front().is_some_and(|f| f.at <= self.now) {
            let f = self.in_flight.pop_front().unwrap();
            any = true;
            let mut seen = f.seen;
            seen.at = self.now;
            let side = &mut self.sides[f.to];
            side.bfd.handle(
                self.now,
                Input::Received {
                    from: f.from,
                    to: f.dest,
                    ttl: self.ttl,
                    hop: seen.hop,
                    interface: None,
                    bytes: &seen.bytes,
                },
            );
            side.delivered.push(seen);
        }
        any
    }

    /// Everything that is due now, until nothing moves.
    pub fn drain(&mut self) {
        loop {
            let moved = self.take_outputs(A) | self.take_outputs(B) | self.deliver_due();
            if !moved {
                return;
            }
        }
    }

    /// Runs the world until `until`, deadline by deadline.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000_000 {
            self.drain();
            let next = [
                self.sides[A].bfd.poll_timeout(),
                self.sides[B].bfd.poll_timeout(),
                self.in_flight.front().map(|f| f.at),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= until => self.now = self.now.max(t),
                _ => {
                    self.now = until;
                    self.drain();
                    return;
                }
            }
        }
        panic!("the world does not settle");
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until `done` holds (checked at every step) or `limit` has passed; whether it
    /// held.
    pub fn run_until_true(&mut self, limit: Duration, done: impl Fn(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            let next = [
                self.sides[A].bfd.poll_timeout(),
                self.sides[B].bfd.poll_timeout(),
                self.in_flight.front().map(|f| f.at),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
            self.run_until(next.clamp(self.now, end));
        }
        done(self)
    }
}
