//! The commands: peers added, changed, reset and removed; dynamic ranges; our own routes;
//! route refresh; shutdown.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ipnet::IpNet;
use tracing::{info, warn};

use super::Router;
use super::config::{DynamicPeers, PeerSettings};
use super::io::{Announcement, Event, Output, PeerInfo, PeerUpdate, RouterError};
use super::peer::{PeerEntry, rib_config, session_config};
use crate::rib::PeerId;
use crate::session::{RefreshKind, StopReason};
use crate::types::Family;
use crate::wire::attributes::{AsPath, MpNlri, MpReach, NextHop, Origin, PathAttributes};
use crate::wire::error::subcode;

impl Router {
    /// Adds and starts a peer. A configured peer takes the place of a dynamic one at its
    /// address (one that connected from a range before the configuration named it).
    pub fn add_peer(&mut self, now: Instant, p: PeerSettings) -> Result<(), RouterError> {
        if let Some(id) = self.by_addr.get(&p.address).copied()
            && self.entry(id).is_some_and(|e| e.dynamic)
        {
            info!(peer = %p.address, "configured peer replaces the dynamic one");
            self.drop_peer(
                id,
                StopReason::cease(subcode::OTHER_CONFIGURATION_CHANGE),
                now,
            );
        }
        self.start_peer(p, now, false).map(|_| ())
    }

    pub(super) fn start_peer(
        &mut self,
        p: PeerSettings,
        now: Instant,
        dynamic: bool,
    ) -> Result<PeerId, RouterError> {
        if self.by_addr.contains_key(&p.address) {
            return Err(RouterError::DuplicatePeer(p.address));
        }
        p.validate()
            .map_err(|why| RouterError::InvalidPeer(p.address, why))?;
        let id = self.rib.add_peer(rib_config(&p, &self.cfg));
        let sc = session_config(&p, &self.cfg, id, self.deferring.is_some());
        self.incarnations += 1;
        let mut e = PeerEntry::new(p, id, self.incarnations, sc, now);
        e.dynamic = dynamic;
        let info = PeerInfo {
            peer: e.address(),
            asn: e.settings.asn,
            internal: e.settings.asn == e.settings.local_as.unwrap_or(self.cfg.asn),
            rr_client: e.settings.rr_client,
            dynamic,
        };
        self.out.push_back(Output::Event(Event::PeerAdded(info)));
        if e.settings.bfd.is_some_and(|b| b.wait_for_up) {
            e.bfd_held = true;
        } else {
            e.fsm.start(now);
        }
        let slot = id as usize;
        if self.peers.len() <= slot {
            self.peers.resize_with(slot + 1, || None);
        }
        self.by_addr.insert(e.address(), id);
        self.peers[slot] = Some(e);
        self.bfd_attach(id, None, now);
        self.after(id, now);
        Ok(id)
    }

    /// Removes a peer: Cease / Peer De-configured, and its routes go.
    pub fn remove_peer(&mut self, now: Instant, addr: IpAddr) -> Result<(), RouterError> {
        let id = *self.by_addr.get(&addr).ok_or(RouterError::NoPeer(addr))?;
        self.drop_peer(id, StopReason::cease(subcode::PEER_DECONFIGURED), now);
        Ok(())
    }

    /// Stops a peer's sessions with `reason` and forgets it and its routes.
    pub(super) fn drop_peer(&mut self, id: PeerId, reason: StopReason, now: Instant) {
        let Some(e) = self.entry_mut(id) else { return };
        e.fsm.stop(now, reason);
        // The NOTIFICATIONs and closes go out; the events of the stop are the last.
        self.drain(id, now);
        let Some(e) = self.peers.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        let addr = e.address();
        if let Some(sid) = e.bfd {
            self.bfd_detach(id, sid);
        }
        for c in e.conns.iter().flatten() {
            if self.forget_conn(*c).is_some() {
                self.out.push_back(Output::Close { conn: *c });
            }
        }
        self.backlog -= e.outbox.queued;
        self.flushed_total -= e.outbox.flushed;
        self.overflowed.retain(|x| *x != id);
        self.by_addr.remove(&addr);
        if e.dynamic
            && let Some(r) = self.range_of(addr)
            && let Some(n) = self.dynamic_counts.get_mut(&r)
        {
            *n = n.saturating_sub(1);
        }
        info!(peer = %addr, dynamic = e.dynamic, "peer removed");
        let ch = self.rib.remove_peer(id);
        self.publish(ch.best);
        if !self.quiet_removal {
            self.out
                .push_back(Output::Event(Event::PeerRemoved { peer: addr }));
        }
    }

    /// Changes a peer's settings. The same settings change nothing. When only the import
    /// or export policy differs, it is applied in place and the session stays up (a new
    /// import policy is re-applied from the routes kept before policy with
    /// `soft_reconfig_inbound`, else the peer is asked for a route refresh). Any other
    /// change ends the session with Cease / Other Configuration Change and starts it again
    /// with the new settings (its routes go meanwhile).
    pub fn update_peer(
        &mut self,
        now: Instant,
        p: PeerSettings,
    ) -> Result<PeerUpdate, RouterError> {
        let id = *self
            .by_addr
            .get(&p.address)
            .ok_or(RouterError::NoPeer(p.address))?;
        let Some(e) = self.entry(id) else {
            return Err(RouterError::NoPeer(p.address));
        };
        if e.settings == p {
            return Ok(PeerUpdate::Unchanged);
        }
        if e.dynamic {
            return Err(RouterError::InvalidPeer(
                p.address,
                "a dynamic peer follows its range's template",
            ));
        }
        self.change_peer(id, p, now)
    }

    /// New settings for a peer (configured or dynamic): nothing, policies in place, or a
    /// restart.
    fn change_peer(
        &mut self,
        id: PeerId,
        p: PeerSettings,
        now: Instant,
    ) -> Result<PeerUpdate, RouterError> {
        let Some(e) = self.entry(id) else {
            return Err(RouterError::NoPeer(p.address));
        };
        if e.settings == p {
            return Ok(PeerUpdate::Unchanged);
        }
        p.validate()
            .map_err(|why| RouterError::InvalidPeer(p.address, why))?;
        let mut same = e.settings.clone();
        same.import.clone_from(&p.import);
        same.export.clone_from(&p.export);
        if same == p {
            return Ok(self.apply_policies(id, p, now));
        }
        same.bfd = p.bfd;
        if same == p && !e.bfd_held {
            return Ok(self.apply_bfd(id, p, now));
        }
        // Cease / Other Configuration Change, then a new start with the new settings.
        let old = e.settings.clone();
        let dynamic = e.dynamic;
        // A listed peer restarted with new settings is the same peer to whoever watches
        // (its counters go on); a dynamic one is gone until it connects again.
        self.quiet_removal = !dynamic;
        self.drop_peer(
            id,
            StopReason::cease(subcode::OTHER_CONFIGURATION_CHANGE),
            now,
        );
        self.quiet_removal = false;
        if dynamic {
            // A restarted dynamic peer comes back when it connects again.
            return Ok(PeerUpdate::Restarted);
        }
        match self.start_peer(p, now, false) {
            Ok(_) => Ok(PeerUpdate::Restarted),
            Err(err) => {
                // Keep the peer as it was rather than lose it.
                let _ = self.start_peer(old, now, false);
                Err(err)
            }
        }
    }

    /// New import and export policies on a running peer, without a reset when possible.
    fn apply_policies(&mut self, id: PeerId, p: PeerSettings, now: Instant) -> PeerUpdate {
        let Some(e) = self.entry_mut(id) else {
            return PeerUpdate::Unchanged;
        };
        let import_changed = e.settings.import != p.import;
        let export_changed = e.settings.export != p.export;
        let (import, export) = (p.import.clone(), p.export.clone());
        let addr = p.address;
        let refresh = e.up.as_ref().map(|u| (u.route_refresh, u.families.clone()));
        e.settings = p;
        let mut outcome = PeerUpdate::PoliciesApplied;
        if export_changed {
            match self.rib.set_export_policy(id, export) {
                Ok(batch) => self.queue(id, [super::outbox::Item::Table(batch)]),
                Err(err) => warn!(peer = %addr, %err, "export policy"),
            }
        }
        if import_changed {
            match (self.rib.set_import_policy(id, import), refresh) {
                (Some(ch), _) => self.publish(ch.best),
                (None, None) => {}
                (None, Some((true, families))) => {
                    if let Some(e) = self.entry_mut(id) {
                        for f in families {
                            let _ = e.fsm.send_route_refresh(now, f, RefreshKind::Request);
                        }
                    }
                    self.after(id, now);
                }
                (None, Some((false, _))) => {
                    // Neither a copy before policy nor route refresh: only a new session
                    // brings the routes again.
                    if let Some(e) = self.entry_mut(id) {
                        e.fsm
                            .stop(now, StopReason::cease(subcode::OTHER_CONFIGURATION_CHANGE));
                        e.fsm.start(now);
                    }
                    self.after(id, now);
                    outcome = PeerUpdate::Restarted;
                }
            }
        }
        info!(peer = %addr, import_changed, export_changed, %outcome, "policies changed");
        outcome
    }

    /// Ends a peer's session with an administrative reset (RFC 8203 `message`) and starts
    /// it again; also brings back a peer that was shut down.
    pub fn reset_peer(
        &mut self,
        now: Instant,
        addr: IpAddr,
        message: &str,
    ) -> Result<(), RouterError> {
        let id = *self.by_addr.get(&addr).ok_or(RouterError::NoPeer(addr))?;
        if let Some(e) = self.entry_mut(id) {
            e.admin_down = false;
            e.fsm.stop(now, StopReason::admin_reset(message));
            e.fsm.start(now);
        }
        self.after(id, now);
        Ok(())
    }

    /// Ends a peer's session with an administrative shutdown (RFC 8203 `message`); the
    /// peer stays configured and down until [`Router::reset_peer`].
    pub fn shutdown_peer(
        &mut self,
        now: Instant,
        addr: IpAddr,
        message: &str,
    ) -> Result<(), RouterError> {
        let id = *self.by_addr.get(&addr).ok_or(RouterError::NoPeer(addr))?;
        if let Some(e) = self.entry_mut(id) {
            e.admin_down = true;
            e.fsm.stop(now, StopReason::admin_shutdown(message));
        }
        self.after(id, now);
        Ok(())
    }

    /// Asks a peer to send its routes again (ROUTE-REFRESH, RFC 2918), for every family of
    /// the session.
    pub fn refresh(&mut self, now: Instant, addr: IpAddr) -> Result<(), RouterError> {
        let id = *self.by_addr.get(&addr).ok_or(RouterError::NoPeer(addr))?;
        let Some(e) = self.entry_mut(id) else {
            return Err(RouterError::NoPeer(addr));
        };
        let Some(up) = &e.up else {
            return Err(RouterError::NotEstablished(addr));
        };
        if !up.route_refresh {
            return Err(RouterError::NoRouteRefresh(addr));
        }
        for f in up.families.clone() {
            if e.fsm
                .send_route_refresh(now, f, RefreshKind::Request)
                .is_ok()
            {
                e.stats.refresh_sent.count(RefreshKind::Request);
            }
        }
        self.stats_changed(id);
        self.after(id, now);
        Ok(())
    }

    /// Replaces the ranges dynamic peers are accepted from. Dynamic peers outside every new
    /// range are removed; the others take their range's new template (see
    /// [`Router::update_peer`]). Returns what happened to each dynamic peer still there.
    pub fn set_dynamic_peers(
        &mut self,
        now: Instant,
        ranges: Vec<DynamicPeers>,
    ) -> Result<Vec<(IpAddr, PeerUpdate)>, RouterError> {
        for r in &ranges {
            r.template
                .validate()
                .map_err(|why| RouterError::InvalidPeer(r.range.addr(), why))?;
        }
        self.cfg.dynamic_peers = ranges;
        let dynamic: Vec<(PeerId, IpAddr)> = self
            .peers
            .iter()
            .flatten()
            .filter(|e| e.dynamic)
            .map(|e| (e.id, e.address()))
            .collect();
        let mut out = Vec::new();
        for (id, addr) in dynamic {
            let Some(template) = self.template_for(addr) else {
                self.drop_peer(id, StopReason::cease(subcode::PEER_DECONFIGURED), now);
                continue;
            };
            let r = self.change_peer(id, template, now)?;
            out.push((addr, r));
        }
        self.recount_dynamic();
        Ok(out)
    }

    /// Announces a prefix of ours to every peer.
    pub fn announce(&mut self, prefix: IpNet, a: &Announcement) -> Result<(), RouterError> {
        let attrs = announcement_attrs(&prefix, a)?;
        let ch = self.rib.announce(prefix, attrs);
        self.publish(ch.best);
        Ok(())
    }

    /// Withdraws a prefix announced before.
    pub fn withdraw(&mut self, prefix: IpNet) {
        let ch = self.rib.withdraw(prefix);
        self.publish(ch.best);
    }

    /// Stops every session; no connection is accepted or made from now on. Peers with
    /// graceful restart are left so that they keep our routes while we restart (RFC 4724):
    /// with RFC 8538 by an administrative shutdown carrying `message` (RFC 8203), without it
    /// by closing the connection with no NOTIFICATION. The others get the administrative
    /// shutdown and drop our routes.
    pub fn shutdown(&mut self, now: Instant, message: &str) {
        info!("shutting down");
        self.stopping = true;
        let ids: Vec<PeerId> = self.peers.iter().flatten().map(|e| e.id).collect();
        for id in ids {
            if let Some(e) = self.entry_mut(id) {
                e.fsm
                    .stop_for_restart(now, StopReason::admin_shutdown(message));
            }
            self.after(id, now);
        }
        self.bfd_shutdown(now);
    }

    // ---- dynamic peers ----

    /// A dynamic peer for a connection from `remote` when a range holds it and has room.
    pub(super) fn dynamic_peer(&mut self, remote: SocketAddr, now: Instant) -> Option<PeerId> {
        let ip = remote.ip();
        let Some(range) = self
            .cfg
            .dynamic_peers
            .iter()
            .find(|d| d.range.contains(&ip))
        else {
            warn!(%remote, "connection from an unknown peer refused");
            return None;
        };
        let (net, max) = (range.range, range.max);
        let count = self.dynamic_counts.get(&net).copied().unwrap_or(0);
        if count >= max {
            warn!(%remote, max, "dynamic peer refused: the range is full");
            return None;
        }
        let template = self.template_for(ip)?;
        match self.start_peer(template, now, true) {
            Ok(id) => {
                info!(%remote, "dynamic peer accepted");
                *self.dynamic_counts.entry(net).or_default() += 1;
                Some(id)
            }
            Err(e) => {
                warn!(%remote, %e, "dynamic peer");
                None
            }
        }
    }

    /// The settings of a dynamic peer at `addr`: its range's template, passive.
    fn template_for(&self, addr: IpAddr) -> Option<PeerSettings> {
        let d = self
            .cfg
            .dynamic_peers
            .iter()
            .find(|d| d.range.contains(&addr))?;
        let mut p = d.template.clone();
        p.address = addr;
        p.passive = true;
        Some(p)
    }

    /// The range of a dynamic peer's address.
    fn range_of(&self, addr: IpAddr) -> Option<IpNet> {
        self.cfg
            .dynamic_peers
            .iter()
            .map(|d| d.range)
            .find(|r| r.contains(&addr))
    }

    fn recount_dynamic(&mut self) {
        let mut counts = foldhash::HashMap::default();
        for e in self.peers.iter().flatten().filter(|e| e.dynamic) {
            if let Some(r) = self.range_of(e.address()) {
                *counts.entry(r).or_default() += 1;
            }
        }
        self.dynamic_counts = counts;
    }
}

/// Attributes of a route of our own.
fn announcement_attrs(prefix: &IpNet, a: &Announcement) -> Result<PathAttributes, RouterError> {
    let mut attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        local_pref: a.local_pref,
        med: a.med,
        communities: (!a.communities.is_empty()).then(|| a.communities.iter().copied().collect()),
        large_communities: (!a.large_communities.is_empty())
            .then(|| a.large_communities.iter().copied().collect()),
        ..PathAttributes::default()
    };
    match (prefix, a.next_hop) {
        (_, None) => {}
        (IpNet::V4(_), Some(IpAddr::V4(nh))) => attrs.next_hop = Some(nh),
        // An IPv4 route with an IPv6 next hop (RFC 8950): sent only to peers that
        // negotiated the extended next hop.
        (IpNet::V4(_), Some(IpAddr::V6(nh))) => {
            attrs.mp_reach = Some(MpReach {
                family: Family::IPV4_UNICAST,
                next_hop: NextHop::Ipv6 {
                    global: nh,
                    link_local: None,
                },
                nlri: MpNlri::Opaque(Default::default()),
            })
        }
        (IpNet::V6(_), Some(IpAddr::V6(nh))) => {
            attrs.mp_reach = Some(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: NextHop::Ipv6 {
                    global: nh,
                    link_local: None,
                },
                nlri: MpNlri::Opaque(Default::default()),
            })
        }
        _ => return Err(RouterError::NextHopFamily(*prefix)),
    }
    Ok(attrs)
}
