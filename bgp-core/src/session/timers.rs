//! The session's timers as a table of deadlines. Nothing here reads a clock: deadlines are
//! set from the `now` the caller passes in, and the caller asks for the earliest one.

use std::time::Instant;

/// The timers of RFC 4271 8 plus the graceful-restart timer (RFC 4724 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    ConnectRetry = 0,
    Hold = 1,
    Keepalive = 2,
    DelayOpen = 3,
    IdleHold = 4,
    /// How long the peer's routes are kept stale after the session went down.
    GracefulRestart = 5,
    /// The earliest end of a family's long-lived stale time (RFC 9494).
    LongLivedStale = 6,
}

impl Timer {
    pub const ALL: [Timer; 7] = [
        Timer::ConnectRetry,
        Timer::Hold,
        Timer::Keepalive,
        Timer::DelayOpen,
        Timer::IdleHold,
        Timer::GracefulRestart,
        Timer::LongLivedStale,
    ];
}

/// Deadlines, one slot per timer.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; 7],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.deadlines[t as usize] = Some(at);
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        self.deadlines[t as usize] = None;
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.deadlines[t as usize]
    }

    pub(crate) fn is_running(&self, t: Timer) -> bool {
        self.get(t).is_some()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The first timer due at `now`, removed from the table.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .into_iter()
            .filter(|t| self.get(*t).is_some_and(|d| d <= now))
            .min_by_key(|t| self.get(*t))?;
        self.stop(t);
        Some(t)
    }
}

/// A small deterministic generator for timer jitter (RFC 4271 10), seeded by the caller so
/// that runs can be replayed.
#[derive(Clone, Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    /// A factor in [0.75, 1.0].
    pub(crate) fn factor(&mut self) -> f64 {
        // xorshift64
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        0.75 + 0.25 * ((x >> 11) as f64 / (1u64 << 53) as f64)
    }
}
