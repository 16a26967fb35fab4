//! The peers' deadlines in one heap, so that the earliest of thousands is found without a
//! walk over all of them.
//!
//! A peer's deadline moves often (every UPDATE sent restarts its keepalive timer), almost
//! always later. An entry is pushed only when a peer's deadline comes earlier than the one
//! it has in the heap; a later deadline waits for the earlier entry to come due, which then
//! finds nothing to do and arms the real one. Entries of peers since removed, or of an
//! earlier start of a peer, are skipped as they come up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::rib::PeerId;

/// Deadlines by peer (and the peer's incarnation, which tells a removed peer's entries from
/// those of a new peer in the same slot).
#[derive(Debug, Default)]
pub(super) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, PeerId, u64)>>,
}

impl TimerHeap {
    /// Arms `at` for the peer when it is earlier than what `armed` says the heap holds for
    /// it; `armed` is the peer's own record and is updated.
    pub(super) fn arm(
        &mut self,
        armed: &mut Option<Instant>,
        at: Option<Instant>,
        peer: PeerId,
        incarnation: u64,
    ) {
        let Some(at) = at else { return };
        if armed.is_some_and(|a| a <= at) {
            return;
        }
        *armed = Some(at);
        self.heap.push(Reverse((at, peer, incarnation)));
    }

    /// The earliest entry (maybe one that will turn out to be stale).
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// An entry due at `now`, taken out.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, PeerId, u64)> {
        match self.heap.peek() {
            Some(Reverse((t, _, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_later_deadline_waits_for_the_earlier_entry() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut h = TimerHeap::default();
        let mut armed = None;
        h.arm(&mut armed, Some(t0 + 10 * s), 1, 1);
        // Later: nothing pushed.
        h.arm(&mut armed, Some(t0 + 20 * s), 1, 1);
        assert_eq!(h.len(), 1);
        // Earlier: pushed, and the peer's record follows.
        h.arm(&mut armed, Some(t0 + 5 * s), 1, 1);
        assert_eq!((h.len(), armed), (2, Some(t0 + 5 * s)));
        assert_eq!(h.next(), Some(t0 + 5 * s));
        assert_eq!(h.pop_due(t0 + 4 * s), None);
        assert_eq!(h.pop_due(t0 + 5 * s), Some((t0 + 5 * s, 1, 1)));
        assert_eq!(h.next(), Some(t0 + 10 * s));
    }
}
