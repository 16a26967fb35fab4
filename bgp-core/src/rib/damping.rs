//! Route-flap damping (RFC 2439, with the parameters of RFC 7196): each route of a damped
//! peer has a figure of merit that each withdrawal (and each change of attributes) raises
//! and that halves every half-life. Past the suppress threshold the route is held out of
//! the decision (and so not sent on) until its merit decays below the reuse threshold; the
//! ceiling keeps any route from being suppressed longer than the maximum suppress time.
//!
//! Time comes in as values: the RIB is told `now` with each UPDATE it applies and asks
//! [`Damping::next_due`] when to look again.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use foldhash::HashMap;
use ipnet::IpNet;

use super::{Attrs, PeerId};
use crate::types::PathId;

/// Damping parameters. The defaults are those RFC 7196 recommends: a suppress threshold
/// of 6,000 (RFC 2439's common 2,000 suppressed routes after too few flaps), reuse 750,
/// half-life 15 minutes, at most 60 minutes suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DampingConfig {
    pub half_life: Duration,
    pub reuse: u32,
    pub suppress: u32,
    pub max_suppress: Duration,
    /// Added per withdrawal.
    pub withdrawal_penalty: u32,
    /// Added per announcement with other attributes than the last.
    pub change_penalty: u32,
}

impl Default for DampingConfig {
    fn default() -> Self {
        DampingConfig {
            half_life: Duration::from_secs(15 * 60),
            reuse: 750,
            suppress: 6000,
            max_suppress: Duration::from_secs(60 * 60),
            withdrawal_penalty: 1000,
            change_penalty: 500,
        }
    }
}

impl DampingConfig {
    /// What is wrong with the parameters, if anything.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.half_life.is_zero() {
            return Err("the damping half-life is at least 1 second");
        }
        if self.reuse == 0 || self.reuse >= self.suppress {
            return Err("the damping reuse threshold is above 0 and below the suppress threshold");
        }
        if self.max_suppress < self.half_life {
            return Err("the maximum damping suppress time is at least the half-life");
        }
        Ok(())
    }

    /// The merit no route exceeds: one that decays to the reuse threshold in the maximum
    /// suppress time.
    fn ceiling(&self) -> f64 {
        let halvings = self.max_suppress.as_secs_f64() / self.half_life.as_secs_f64();
        f64::from(self.reuse) * halvings.exp2()
    }

    fn decayed(&self, merit: f64, since: Duration) -> f64 {
        merit * (-(since.as_secs_f64() / self.half_life.as_secs_f64())).exp2()
    }

    /// When `merit` (as of `at`) decays to `level`.
    fn reaches(&self, merit: f64, at: Instant, level: f64) -> Instant {
        if merit <= level {
            return at;
        }
        let halvings = (merit / level).log2();
        at + Duration::from_secs_f64(halvings * self.half_life.as_secs_f64())
    }
}

type Key = (PeerId, IpNet, PathId);

#[derive(Debug)]
struct Entry {
    /// The figure of merit as of `at`.
    merit: f64,
    at: Instant,
    suppressed: bool,
    /// The route as last announced (after import policy), while it is announced.
    last: Option<Attrs>,
    /// When the entry is next looked at: reuse while suppressed, else forgetting.
    due: Instant,
    /// The earliest time the heap holds for the entry (a later `due` waits for that item
    /// to come up, which then arms it).
    armed: Option<Instant>,
}

/// What the RIB does with an announcement of a damped route.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Into the decision.
    Use,
    /// Held out: the route is (or becomes) suppressed.
    Suppress,
}

/// The damping state of every route of damped peers.
#[derive(Debug, Default)]
pub(super) struct Damping {
    entries: HashMap<Key, Entry>,
    heap: BinaryHeap<Reverse<(Instant, PeerId, IpNet, PathId)>>,
}

impl Damping {
    /// An announcement at `now`: returns whether it goes into the decision.
    pub(super) fn announce(
        &mut self,
        cfg: &DampingConfig,
        key: Key,
        attrs: &Attrs,
        now: Instant,
    ) -> Verdict {
        let e = self.entries.entry(key).or_insert_with(|| Entry {
            merit: 0.0,
            at: now,
            suppressed: false,
            last: None,
            due: now,
            armed: None,
        });
        e.merit = cfg.decayed(e.merit, now.saturating_duration_since(e.at));
        e.at = now;
        if e.last
            .as_ref()
            .is_some_and(|l| !std::sync::Arc::ptr_eq(l, attrs))
        {
            e.merit = (e.merit + f64::from(cfg.change_penalty)).min(cfg.ceiling());
        }
        e.last = Some(attrs.clone());
        if e.merit > f64::from(cfg.suppress) {
            e.suppressed = true;
        } else if e.suppressed && e.merit < f64::from(cfg.reuse) {
            e.suppressed = false;
        }
        let verdict = if e.suppressed {
            Verdict::Suppress
        } else {
            Verdict::Use
        };
        self.schedule(cfg, key);
        verdict
    }

    /// A withdrawal at `now` of a route of a damped peer (one it had announced).
    pub(super) fn withdraw(&mut self, cfg: &DampingConfig, key: Key, now: Instant) {
        let Some(e) = self.entries.get_mut(&key) else {
            // Never announced while damped: nothing flapped.
            return;
        };
        if e.last.is_none() {
            // Already withdrawn.
            return;
        }
        e.merit = cfg.decayed(e.merit, now.saturating_duration_since(e.at));
        e.at = now;
        e.merit = (e.merit + f64::from(cfg.withdrawal_penalty)).min(cfg.ceiling());
        e.last = None;
        if e.merit > f64::from(cfg.suppress) {
            e.suppressed = true;
        }
        self.schedule(cfg, key);
    }

    /// Arms the entry's next look: its reuse while suppressed, else when it can be
    /// forgotten (its merit below half the reuse threshold).
    fn schedule(&mut self, cfg: &DampingConfig, key: Key) {
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        let level = if e.suppressed {
            f64::from(cfg.reuse)
        } else {
            f64::from(cfg.reuse) / 2.0
        };
        let due = cfg.reaches(e.merit, e.at, level).max(e.at);
        e.due = due;
        if e.armed.is_none_or(|a| due < a) {
            e.armed = Some(due);
            self.heap.push(Reverse((due, key.0, key.1, key.2)));
        }
    }

    /// The earliest entry to look at.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, ..))| *t)
    }

    /// Routes whose suppression ends at `now`, each with what it was last announced with
    /// (`None` when withdrawn meanwhile); entries decayed enough are forgotten.
    /// `cfg_of` gives each peer's parameters; a peer without any (damping turned off, or
    /// the peer gone) has its routes released and its history forgotten.
    pub(super) fn due(
        &mut self,
        cfg_of: impl Fn(PeerId) -> Option<DampingConfig>,
        now: Instant,
    ) -> Vec<(Key, Option<Attrs>)> {
        let mut reused = Vec::new();
        while let Some(Reverse((t, p, n, i))) = self.heap.peek().copied() {
            if t > now {
                break;
            }
            self.heap.pop();
            let key = (p, n, i);
            let Some(e) = self.entries.get_mut(&key) else {
                continue;
            };
            if e.armed != Some(t) {
                // An item an earlier one took the place of.
                continue;
            }
            e.armed = None;
            if e.due > now {
                // Put off since: armed for its real time.
                e.armed = Some(e.due);
                self.heap.push(Reverse((e.due, p, n, i)));
                continue;
            }
            let Some(cfg) = cfg_of(p) else {
                if e.suppressed {
                    reused.push((key, e.last.clone()));
                }
                self.entries.remove(&key);
                continue;
            };
            e.merit = cfg.decayed(e.merit, now.saturating_duration_since(e.at));
            e.at = now;
            if e.suppressed {
                e.suppressed = false;
                reused.push((key, e.last.clone()));
                self.schedule(&cfg, key);
            } else {
                self.entries.remove(&key);
            }
        }
        reused
    }

    /// Routes of `peer` held out now.
    pub(super) fn suppressed_of(&self, peer: PeerId) -> u64 {
        self.entries
            .iter()
            .filter(|(k, e)| k.0 == peer && e.suppressed)
            .count() as u64
    }

    /// The peer's session went down: its routes are gone, their history stays (a flapping
    /// session is the session's damping, not this).
    pub(super) fn peer_down(&mut self, peer: PeerId) {
        for (k, e) in self.entries.iter_mut() {
            if k.0 == peer {
                e.last = None;
            }
        }
    }

    /// The peer is removed: so is its history.
    pub(super) fn forget_peer(&mut self, peer: PeerId) {
        self.entries.retain(|k, _| k.0 != peer);
    }
}
