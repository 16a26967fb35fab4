//! What a peer's session reports, carried into the RIB: a session up or down, its UPDATEs,
//! End-of-RIB, route refresh requests, stale routes expiring; and the route limits.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::config::{LimitFamily, MaxPrefixes};
use super::io::{Event as RouterEvent, Output, RouteChange};
use super::outbox::Item;
use super::peer::{Up, slot};
use super::{Router, status::family_label};

/// How long a refreshing peer has, from its BoRR, to send EoRR (RFC 7313 4 leaves it to the
/// implementation); then the routes it did not send again go.
const REFRESH_WAIT: Duration = Duration::from_secs(300);
use crate::rib::{BestChange, PeerId, PeerSession};
use crate::session::{Conn, DownReason, Event, Negotiated, RefreshKind, StopReason};
use crate::types::{Afi, Family};
use crate::wire::Update;
use crate::wire::error::subcode;

impl Router {
    pub(super) fn session_event(&mut self, id: PeerId, dir: Conn, ev: Event, now: Instant) {
        match ev {
            Event::StateChanged { from, to } => {
                if let Some(e) = self.entry(id) {
                    debug!(peer = %e.address(), conn = conn_name(dir), %from, %to, "state");
                }
            }
            Event::Established(n) => self.on_up(id, dir, &n, now),
            Event::Update(u) => self.on_update(id, &u, now),
            Event::EndOfRib(f) => self.on_end_of_rib(id, f, now),
            Event::RouteRefresh { family, kind } => self.on_refresh(id, family, kind, now),
            Event::Down {
                reason,
                was_established,
                retain_stale,
            } => self.on_down(id, dir, &reason, was_established, retain_stale, now),
            Event::StaleRoutesExpired => {
                let ch = self.rib.sweep_stale(id, None);
                self.publish(ch.best);
                self.forget_if_gone(id);
            }
            Event::StaleFamilyExpired(f) => {
                if let Some(e) = self.entry(id) {
                    info!(peer = %e.address(), family = %family_label(f), "stale routes removed");
                }
                let ch = self.rib.sweep_stale(id, Some(f));
                self.publish(ch.best);
                if self
                    .entry(id)
                    .is_some_and(|e| !e.fsm.active().1.keeps_stale())
                {
                    self.forget_if_gone(id);
                }
            }
            Event::LongLivedStale(families) => {
                for (f, time) in families {
                    if let Some(e) = self.entry(id) {
                        warn!(peer = %e.address(), family = %family_label(f), stale_secs = time.as_secs(),
                            "restart time over: routes kept long-lived stale (RFC 9494)");
                    }
                    let ch = self.rib.long_lived_stale(id, f);
                    self.publish(ch.best);
                }
            }
        }
    }

    /// A dynamic peer that did not come back while its routes were kept is gone.
    fn forget_if_gone(&mut self, id: PeerId) {
        if let Some(e) = self.entry_mut(id)
            && e.dynamic
            && e.up.is_none()
            && !e.admin_down
        {
            e.doomed = Some(StopReason::cease(subcode::PEER_DECONFIGURED));
        }
    }

    fn on_up(&mut self, id: PeerId, dir: Conn, n: &Negotiated, now: Instant) {
        let deferring = self.deferring.is_some();
        let Some(e) = super::peer_mut(&mut self.peers, id) else {
            return;
        };
        let local = e.conns[slot(dir)]
            .and_then(|c| self.conns.get(&c))
            .map(|c| c.local.ip());
        info!(peer = %e.address(), peer_as = n.peer_as, peer_id = %n.peer_id, "established");
        e.up = Some(Up::of(n));
        e.since = now;
        e.established_count += 1;
        e.eor.clear();
        e.outbox.overflowed = false;
        // The limits count this session's routes: a peer held down for passing one is
        // checked afresh.
        e.over_limit = false;
        let (configured_local, peer) = (e.settings.local_address, e.address());
        self.overflowed.retain(|x| *x != id);
        if configured_local.is_none()
            && let Some(l) = local
        {
            self.rib.set_local_address(id, l);
        }
        self.out
            .push_back(Output::Event(RouterEvent::PeerUp { peer }));
        self.monitor_up(id, dir, n);
        let session = PeerSession {
            router_id: n.peer_id,
            families: n.families.clone(),
            four_octet_as: n.four_octet_as,
            add_path_send: n.add_path_send,
            extended_message: n.extended_message,
            extended_next_hop: n
                .extended_next_hop
                .iter()
                .any(|(f, afi)| *f == Family::IPV4_UNICAST && *afi == Afi::IPV6),
            long_lived: !n.peer_long_lived.is_empty(),
        };
        match self.rib.peer_up(id, session) {
            Ok(table) if !deferring => {
                let eor = n.families.iter().map(|f| Item::EndOfRib(*f));
                self.queue(id, std::iter::once(Item::Table(table)).chain(eor));
            }
            Ok(_) => {}
            Err(err) => warn!(%peer, %err, "peer up"),
        }
    }

    /// A ROUTE-REFRESH from the peer: a request is answered with the family's routes
    /// (bracketed by BoRR and EoRR with enhanced route refresh, RFC 7313 4; followed by
    /// End-of-RIB without); BoRR marks the peer's routes of the family stale, EoRR removes
    /// those not sent again (and so does the end of the wait for EoRR).
    fn on_refresh(&mut self, id: PeerId, family: Family, kind: RefreshKind, now: Instant) {
        let Some(e) = self.entry_mut(id) else { return };
        e.stats.refresh_received.count(kind);
        self.stats_changed(id);
        let Some(e) = self.entry_mut(id) else { return };
        match kind {
            RefreshKind::Request => {
                let enhanced = e.up.as_ref().is_some_and(|u| u.enhanced_refresh);
                let table = self.rib.table_of(id, Some(family));
                let items = if enhanced {
                    vec![
                        Item::Refresh(family, RefreshKind::Begin),
                        Item::Table(table),
                        Item::Refresh(family, RefreshKind::End),
                    ]
                } else {
                    vec![Item::Table(table), Item::EndOfRib(family)]
                };
                self.queue(id, items);
            }
            RefreshKind::Begin => {
                debug!(peer = %e.address(), family = %family_label(family), "BoRR: the peer sends its routes again");
                e.refreshing.retain(|(f, _)| *f != family);
                e.refreshing.push((family, now + REFRESH_WAIT));
                self.rib.mark_stale(id, family);
            }
            RefreshKind::End => {
                if !e.refreshing.iter().any(|(f, _)| *f == family) {
                    // EoRR without BoRR (RFC 7313 4: ignored).
                    return;
                }
                e.refreshing.retain(|(f, _)| *f != family);
                let ch = self.rib.sweep_stale(id, Some(family));
                self.publish(ch.best);
            }
        }
    }

    /// Refreshes whose EoRR did not come in time: their stale routes go.
    pub(super) fn refresh_timeouts(&mut self, id: PeerId, now: Instant) {
        let Some(e) = self.entry_mut(id) else { return };
        let late: Vec<Family> = e
            .refreshing
            .iter()
            .filter(|(_, by)| *by <= now)
            .map(|(f, _)| *f)
            .collect();
        if late.is_empty() {
            return;
        }
        e.refreshing.retain(|(_, by)| *by > now);
        let peer = e.address();
        for f in late {
            warn!(%peer, family = %family_label(f), "no EoRR in time: the routes not sent again go");
            let ch = self.rib.sweep_stale(id, Some(f));
            self.publish(ch.best);
        }
    }

    fn on_update(&mut self, id: PeerId, u: &Update, now: Instant) {
        let Some(e) = self.entry_mut(id) else { return };
        e.stats.count_received(u);
        let peer = e.address();
        self.monitor_received(id, u);
        match self.rib.apply_update_at(id, u, now) {
            Ok(ch) => self.publish(ch.best),
            Err(err) => warn!(%peer, %err, "update"),
        }
        self.monitor_accepted(id, u);
        self.check_limit(id, now);
        self.stats_changed(id);
    }

    fn on_end_of_rib(&mut self, id: PeerId, f: Family, now: Instant) {
        let Some(e) = self.entry_mut(id) else { return };
        debug!(peer = %e.address(), family = %family_label(f), "End-of-RIB");
        if !e.eor.contains(&f) {
            e.eor.push(f);
        }
        let ch = self.rib.sweep_stale(id, Some(f));
        self.publish(ch.best);
        if self.deferring.is_some()
            && let Some(e) = self.entry(id)
            && e.table_in()
        {
            let left = self.waiting_for().len();
            info!(peer = %e.address(), left, "table in; the restart's deferral waits for {left} more");
        }
        self.check_settled(now, true);
        self.check_deferral(now);
    }

    fn on_down(
        &mut self,
        id: PeerId,
        dir: Conn,
        reason: &DownReason,
        was_established: bool,
        retain: Option<Duration>,
        now: Instant,
    ) {
        let Some(e) = self.entry_mut(id) else { return };
        let why = describe_down(reason);
        match reason {
            DownReason::Sent(n) => e.last_notification[0] = Some(describe_notification(n)),
            DownReason::Received(n) => e.last_notification[1] = Some(describe_notification(n)),
            DownReason::ConnectionLost => {}
        }
        if !was_established {
            debug!(peer = %e.address(), conn = conn_name(dir), reason = %why, "connection ended");
            return;
        }
        let (code, subcode, direction) = match reason {
            DownReason::Sent(n) => (n.code, n.subcode, "sent"),
            DownReason::Received(n) => (n.code, n.subcode, "received"),
            DownReason::ConnectionLost => (0, 0, "none"),
        };
        // Our own Cease for a changed or removed peer is the configuration's doing.
        let configured = matches!(reason, DownReason::Sent(n) if n.code == crate::wire::error::code::CEASE
            && matches!(n.subcode, subcode::OTHER_CONFIGURATION_CHANGE | subcode::PEER_DECONFIGURED));
        warn!(
            peer = %e.address(),
            notification = direction,
            code,
            subcode,
            reason = %why,
            "session down"
        );
        e.up = None;
        e.since = now;
        e.refreshing.clear();
        e.last_error = Some(why.clone());
        let peer = e.address();
        // A dynamic peer lives as long as its session, or while its routes are kept for a
        // graceful restart, or while the operator holds it down (so that it cannot come
        // straight back as a new dynamic peer).
        let remove = e.dynamic && retain.is_none() && !e.admin_down;
        self.clear_outbox(id);
        self.monitor_down(id, reason);
        self.out.push_back(Output::Event(RouterEvent::PeerDown {
            peer,
            reason: why,
            configured,
        }));
        if remove {
            if let Some(e) = self.entry_mut(id) {
                e.doomed = Some(StopReason::cease(subcode::PEER_DECONFIGURED));
            }
            return;
        }
        let ch = self.rib.peer_down(id, retain.is_some());
        self.publish(ch.best);
    }

    /// Best-path changes go out as events.
    pub(super) fn publish(&mut self, changes: Vec<BestChange>) {
        self.monitor_best(&changes);
        for c in changes {
            match (c.had_best, c.best.is_some()) {
                (false, true) => self.best_count += 1,
                (true, false) => self.best_count = self.best_count.saturating_sub(1),
                _ => {}
            }
            if !self.best_events {
                continue;
            }
            let from = c
                .best
                .as_ref()
                .filter(|p| p.peer() != crate::rib::LOCAL)
                .and_then(|p| self.peer_address(p.peer()));
            self.out
                .push_back(Output::Event(RouterEvent::BestChanged(RouteChange {
                    prefix: c.prefix,
                    next_hops: c.next_hops,
                    from,
                })));
        }
    }

    /// Enforces the peer's route limits: a warning, or Cease / Maximum Number of Prefixes
    /// Reached and a start again later.
    fn check_limit(&mut self, id: PeerId, now: Instant) {
        let (v4, v6) = self.rib.peer_counts_by_family(id).unwrap_or((0, 0));
        let Some(e) = self.entry_mut(id) else { return };
        if e.settings.max_prefixes.is_empty() {
            return;
        }
        let over: Vec<(&MaxPrefixes, u64)> = e
            .settings
            .max_prefixes
            .iter()
            .map(|m| {
                let n = match m.family {
                    None => v4 + v6,
                    Some(LimitFamily::Ipv4) => v4,
                    Some(LimitFamily::Ipv6) => v6,
                };
                (m, n)
            })
            .filter(|(m, n)| *n > m.limit)
            .collect();
        if over.is_empty() {
            e.over_limit = false;
            return;
        }
        if e.over_limit {
            return;
        }
        let addr = e.address();
        for (m, n) in &over {
            let family = match m.family {
                None => "all",
                Some(LimitFamily::Ipv4) => "ipv4",
                Some(LimitFamily::Ipv6) => "ipv6",
            };
            warn!(peer = %addr, accepted = n, limit = m.limit, family, "maximum prefixes exceeded");
        }
        let stop = over
            .iter()
            .find(|(m, _)| !m.warn_only)
            .map(|(m, _)| Duration::from_secs(m.restart_after.unwrap_or(60)));
        e.over_limit = true;
        if let Some(after) = stop {
            e.fsm
                .automatic_stop(now, StopReason::cease(subcode::MAX_PREFIXES), after);
        }
    }
}

fn conn_name(c: Conn) -> &'static str {
    match c {
        Conn::Outbound => "outbound",
        Conn::Inbound => "inbound",
    }
}

/// A NOTIFICATION for people: its name and any shutdown message.
fn describe_notification(n: &crate::wire::Notification) -> String {
    match n.shutdown_message() {
        Some(m) if !m.is_empty() => format!("{} ({m:?})", n.describe()),
        _ => n.describe(),
    }
}

/// Why a session ended, for people: the NOTIFICATION's name and any shutdown message.
pub fn describe_down(r: &DownReason) -> String {
    let describe = describe_notification;
    match r {
        DownReason::Sent(n) => format!("sent {}", describe(n)),
        DownReason::Received(n) => format!("received {}", describe(n)),
        DownReason::ConnectionLost => "connection lost".into(),
    }
}
