//! Time for BFD, with no clock: a session's timers as a table of deadlines, the endpoint's
//! heap of the sessions' earliest deadlines, and the seeded generator behind jitter,
//! discriminators and source ports.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::io::SessionId;

/// A session's timers (RFC 5880 6.8.7 and 6.8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The next periodic control packet.
    Transmit = 0,
    /// The peer has been silent for a Detection Time.
    Detect = 1,
}

impl Timer {
    pub const ALL: [Timer; 2] = [Timer::Transmit, Timer::Detect];
}

/// Deadlines, one slot per timer.
#[derive(Clone, Debug, Default)]
pub(super) struct TimerTable {
    deadlines: [Option<Instant>; 2],
}

impl TimerTable {
    pub(super) fn set(&mut self, t: Timer, at: Instant) {
        self.deadlines[t as usize] = Some(at);
    }

    pub(super) fn stop(&mut self, t: Timer) {
        self.deadlines[t as usize] = None;
    }

    pub(super) fn get(&self, t: Timer) -> Option<Instant> {
        self.deadlines[t as usize]
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, removed from the table.
    pub(super) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .into_iter()
            .filter(|t| self.get(*t).is_some_and(|d| d <= now))
            .min_by_key(|t| self.get(*t))?;
        self.stop(t);
        Some(t)
    }
}

/// A small deterministic generator (splitmix64), seeded by the caller so that runs can be
/// replayed.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A value in `0..=max`.
    pub(super) fn up_to(&mut self, max: u32) -> u32 {
        (self.next_u64() % (u64::from(max) + 1)) as u32
    }

    /// The share, in millionths, of the negotiated interval that the next periodic packet
    /// waits (RFC 5880 6.8.7): the interval less 0 to 25 %, or less 10 to 25 % when the
    /// Detect Mult is 1.
    pub(super) fn jitter_ppm(&mut self, detect_mult: u8) -> u32 {
        let max = if detect_mult == 1 { 900_000 } else { 1_000_000 };
        750_000 + self.up_to(max - 750_000)
    }
}

/// `d` times `ppm` millionths, to the nanosecond.
pub(super) fn scale(d: Duration, ppm: u32) -> Duration {
    let ns = d.as_nanos() * u128::from(ppm) / 1_000_000;
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// The sessions' deadlines in one heap, so that the earliest of thousands is found without
/// a walk over all of them.
///
/// An entry is pushed only when a session's deadline comes earlier than the one it has in
/// the heap; a later deadline waits for the earlier entry to come due, which then finds
/// nothing to do and arms the real one. Entries of removed sessions are skipped as they
/// come up (session ids are never reused).
#[derive(Debug, Default)]
pub(super) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, SessionId)>>,
}

impl TimerHeap {
    /// Arms `at` for the session when it is earlier than what `armed` says the heap holds
    /// for it; `armed` is the session's own record and is updated.
    pub(super) fn arm(&mut self, armed: &mut Option<Instant>, at: Option<Instant>, id: SessionId) {
        let Some(at) = at else { return };
        if armed.is_some_and(|a| a <= at) {
            return;
        }
        *armed = Some(at);
        self.heap.push(Reverse((at, id)));
    }

    /// The earliest entry (maybe one that will turn out to be stale).
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// An entry due at `now`, taken out.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, SessionId)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_rfc_bounds_and_spreads() {
        let mut r = Rng::new(7);
        let v: Vec<u32> = (0..10_000).map(|_| r.jitter_ppm(3)).collect();
        assert!(v.iter().all(|p| (750_000..=1_000_000).contains(p)));
        assert!(*v.iter().min().unwrap() < 760_000 && *v.iter().max().unwrap() > 990_000);
        let v: Vec<u32> = (0..10_000).map(|_| r.jitter_ppm(1)).collect();
        assert!(v.iter().all(|p| (750_000..=900_000).contains(p)));
        assert!(*v.iter().max().unwrap() > 890_000);
    }

    #[test]
    fn scale_is_exact_to_the_nanosecond() {
        assert_eq!(
            scale(Duration::from_millis(300), 750_000),
            Duration::from_millis(225)
        );
        assert_eq!(
            scale(Duration::from_secs(1), 1_000_000),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn a_later_deadline_waits_for_the_earlier_entry() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut h = TimerHeap::default();
        let mut armed = None;
        let id = SessionId(1);
        h.arm(&mut armed, Some(t0 + 10 * s), id);
        h.arm(&mut armed, Some(t0 + 20 * s), id);
        assert_eq!(h.len(), 1);
        h.arm(&mut armed, Some(t0 + 5 * s), id);
        assert_eq!((h.len(), armed), (2, Some(t0 + 5 * s)));
        assert_eq!(h.pop_due(t0 + 4 * s), None);
        assert_eq!(h.pop_due(t0 + 5 * s), Some((t0 + 5 * s, id)));
        assert_eq!(h.next(), Some(t0 + 10 * s));
    }
}
