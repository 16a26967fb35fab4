//! Graceful restart (RFC 4724, RFC 8538) and long-lived graceful restart (RFC 9494) in a
//! session: when the peer's routes are kept, for how long, and when they go.

use super::*;

impl Session {
    /// RFC 4724 4.2 with RFC 8538: the peer's routes are kept when it announced graceful
    /// restart and the session ended without a NOTIFICATION, by hold-timer expiry, or (N bit
    /// on both sides) by a NOTIFICATION other than Hard Reset. Not when we stopped it.
    pub(super) fn graceful_retention(&self, reason: &DownReason) -> Option<Duration> {
        let neg = self.negotiated.as_ref()?;
        let peer_gr = neg.peer_graceful_restart.as_ref()?;
        let n_bit = peer_gr.notification
            && self
                .cfg
                .graceful_restart
                .as_ref()
                .is_some_and(|g| g.notification);
        let hard_reset =
            |n: &Notification| n.code == code::CEASE && n.subcode == subcode::HARD_RESET;
        let retain = match reason {
            DownReason::ConnectionLost => true,
            DownReason::Sent(n) if n.code == code::HOLD_TIMER_EXPIRED => true,
            DownReason::Sent(n) if n.code == code::CEASE && self.stopped => false,
            DownReason::Sent(n) | DownReason::Received(n) => n_bit && !hard_reset(n),
        };
        retain.then(|| Duration::from_secs(u64::from(peer_gr.restart_time)))
    }

    /// A peer that went down gracefully is back: families it no longer preserves lose their
    /// stale routes at once; the others wait for End-of-RIB, bounded by the restart timer.
    pub(super) fn on_established_gr(&mut self, now: Instant, neg: &Negotiated) {
        self.on_established_long_lived(neg);
        if !self.timers.is_running(Timer::GracefulRestart) {
            return;
        }
        let preserved: FamilySet = neg
            .peer_graceful_restart
            .iter()
            .flat_map(|g| g.families.iter())
            .filter(|f| f.forwarding_preserved)
            .map(|f| f.family)
            .collect();
        let dropped = self
            .stale_families
            .iter_known()
            .any(|f| !preserved.contains(f));
        if dropped || preserved.is_empty() {
            // Simplest safe answer: when any family lost its forwarding state, expire all
            // stale routes now; the peer re-sends what it has.
            self.timers.stop(Timer::GracefulRestart);
            self.stale_families = FamilySet::EMPTY;
            self.emit(Event::StaleRoutesExpired);
        } else {
            let restart = neg
                .peer_graceful_restart
                .as_ref()
                .map_or(0, |g| g.restart_time);
            self.timers.set(
                Timer::GracefulRestart,
                now + Duration::from_secs(u64::from(restart.max(1))),
            );
        }
    }

    /// Back during the long-lived stale time: the families the peer no longer keeps
    /// forwarding for (no F bit in its new long-lived capability, RFC 9494 4.2) lose their
    /// stale routes now; the others wait for End-of-RIB within their stale time.
    pub(super) fn on_established_long_lived(&mut self, neg: &Negotiated) {
        let kept = |f: Family| {
            neg.peer_long_lived
                .iter()
                .any(|l| l.family == f && l.forwarding_preserved)
        };
        let dropped: Vec<Family> = self
            .long_lived_until
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| !kept(*f))
            .collect();
        for f in dropped {
            self.long_lived_until.retain(|(x, _)| *x != f);
            self.emit(Event::StaleFamilyExpired(f));
        }
        self.arm_long_lived();
    }

    /// The restart time ran out: families with a long-lived stale time keep their routes as
    /// long-lived stale (RFC 9494 4.2), the others lose them.
    pub(super) fn restart_time_over(&mut self, now: Instant) {
        let stale = std::mem::replace(&mut self.stale_families, FamilySet::EMPTY);
        let long: Vec<(Family, Duration)> = self
            .long_lived
            .iter()
            .filter(|l| l.stale_time > 0 && stale.contains(l.family))
            .map(|l| (l.family, Duration::from_secs(u64::from(l.stale_time))))
            .collect();
        if long.is_empty() && self.long_lived_until.is_empty() {
            return self.emit(Event::StaleRoutesExpired);
        }
        for f in stale.iter_known() {
            let in_long = long.iter().any(|(x, _)| *x == f)
                || self.long_lived_until.iter().any(|(x, _)| *x == f);
            if !in_long {
                self.emit(Event::StaleFamilyExpired(f));
            }
        }
        // A family already long-lived stale keeps the end it had.
        let fresh: Vec<(Family, Duration)> = long
            .into_iter()
            .filter(|(f, _)| !self.long_lived_until.iter().any(|(x, _)| x == f))
            .collect();
        for (f, d) in &fresh {
            self.long_lived_until.push((*f, now + *d));
        }
        self.arm_long_lived();
        if !fresh.is_empty() {
            self.emit(Event::LongLivedStale(fresh));
        }
    }

    /// Long-lived stale times that ran out: those families' stale routes go.
    pub(super) fn long_lived_over(&mut self, now: Instant) {
        let due: Vec<Family> = self
            .long_lived_until
            .iter()
            .filter(|(_, t)| *t <= now)
            .map(|(f, _)| *f)
            .collect();
        self.long_lived_until.retain(|(_, t)| *t > now);
        for f in due {
            self.emit(Event::StaleFamilyExpired(f));
        }
        self.arm_long_lived();
    }

    pub(super) fn arm_long_lived(&mut self) {
        match self.long_lived_until.iter().map(|(_, t)| *t).min() {
            Some(t) => self.timers.set(Timer::LongLivedStale, t),
            None => self.timers.stop(Timer::LongLivedStale),
        }
    }

    /// Every stale route of the peer goes: graceful and long-lived alike.
    pub(super) fn expire_all_stale(&mut self) {
        self.timers.stop(Timer::GracefulRestart);
        self.stale_families = FamilySet::EMPTY;
        self.long_lived_until.clear();
        self.arm_long_lived();
        self.emit(Event::StaleRoutesExpired);
    }
}
