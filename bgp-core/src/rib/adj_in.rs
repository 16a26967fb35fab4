//! Routes in (the Adj-RIBs-In): loop checks, import policy, and the copies kept before
//! policy for soft reconfiguration.

use std::time::Instant;

use ipnet::IpNet;

use super::export::route_type;
use super::{Attrs, BestChange, Changes, DampingConfig, LOCAL, PeerId, Rib, RibError, damping};
use crate::policy::{Outcome, PolicyRef, RouteRef};
use crate::types::{Family, PathId};
use crate::wire::attributes::MpNlri;
use crate::wire::{PathAttributes, PeerKind, Update};

impl Rib {
    // ---- routes in ----

    /// Applies an UPDATE received from `peer` (whose session is up).
    pub fn apply_update(&mut self, peer: PeerId, update: &Update) -> Result<Changes, RibError> {
        self.apply(peer, update, None)
    }

    /// [`Rib::apply_update`] at `now`: the routes of peers with route-flap damping are
    /// damped (without the time they are not).
    pub fn apply_update_at(
        &mut self,
        peer: PeerId,
        update: &Update,
        now: Instant,
    ) -> Result<Changes, RibError> {
        self.apply(peer, update, Some(now))
    }

    fn apply(
        &mut self,
        peer: PeerId,
        update: &Update,
        now: Option<Instant>,
    ) -> Result<Changes, RibError> {
        let state = self.peer(peer)?;
        if state.session.is_none() {
            return Err(RibError::PeerDown);
        }
        let mut changes = Changes::default();
        for (_, block) in update.withdrawals() {
            for e in block {
                changes
                    .best
                    .extend(self.unlearn(peer, e.prefix, e.path_id.unwrap_or(0), now));
            }
        }
        if update.is_treat_as_withdraw() {
            for (_, block) in update.announced() {
                for e in block {
                    changes
                        .best
                        .extend(self.unlearn(peer, e.prefix, e.path_id.unwrap_or(0), now));
                }
            }
        } else {
            // One attribute set per next-hop kind for the whole UPDATE, NLRI taken out:
            // routes of the NLRI field use NEXT_HOP, MP routes MP_REACH_NLRI's next hop.
            let mut v4_field: Option<Attrs> = None;
            let mut mp: Option<Attrs> = None;
            for (family, block) in update.announced() {
                let from_field =
                    family == Family::IPV4_UNICAST && std::ptr::eq(block, &update.nlri);
                let slot = if from_field { &mut v4_field } else { &mut mp };
                let attrs = match slot {
                    Some(a) => a.clone(),
                    None => {
                        let mut a = update.attributes.clone();
                        a.mp_unreach = None;
                        if from_field {
                            a.mp_reach = None;
                        } else {
                            a.next_hop = None;
                            if let Some(m) = &mut a.mp_reach {
                                m.nlri = MpNlri::Opaque(Default::default());
                            }
                        }
                        let a = self.attrs.intern(a);
                        *slot = Some(a.clone());
                        a
                    }
                };
                for e in block {
                    changes.best.extend(self.import(
                        peer,
                        e.prefix,
                        e.path_id.unwrap_or(0),
                        &attrs,
                        now,
                    ));
                }
            }
            for a in [v4_field, mp].into_iter().flatten() {
                self.attrs.release(a);
            }
        }
        if self.attrs.sweep_due() {
            self.collect_garbage();
        }
        Ok(changes)
    }

    /// Announces a route of our own (a node's pod block, say).
    pub fn announce(&mut self, prefix: IpNet, attrs: PathAttributes) -> Changes {
        let a = self.attrs.intern(attrs);
        Changes {
            best: self.change(LOCAL, prefix, 0, Some(a)).into_iter().collect(),
        }
    }

    /// Withdraws a route of our own.
    pub fn withdraw(&mut self, prefix: IpNet) -> Changes {
        Changes {
            best: self.change(LOCAL, prefix, 0, None).into_iter().collect(),
        }
    }

    /// A route the peer withdrew: gone from the table and from the copy before policy.
    pub(super) fn unlearn(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        path_id: PathId,
        now: Option<Instant>,
    ) -> Option<BestChange> {
        if let Some(Some(ps)) = self.peers.get_mut(peer as usize)
            && let Some(pre) = &mut ps.adj_in_pre
        {
            pre.remove(&(prefix, path_id));
        }
        if let (Some(cfg), Some(now)) = (self.damping_of(peer), now) {
            self.damping.withdraw(&cfg, (peer, prefix, path_id), now);
        }
        self.change(peer, prefix, path_id, None)
    }

    /// The peer's damping parameters, where its routes are damped (external peers).
    fn damping_of(&self, peer: PeerId) -> Option<DampingConfig> {
        let p = self.peer(peer).ok()?;
        p.cfg.damping.filter(|_| p.cfg.kind == PeerKind::External)
    }

    /// What damping makes of a route accepted (or refused) by import policy.
    fn damp(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        path_id: PathId,
        accepted: Option<Attrs>,
        now: Option<Instant>,
    ) -> Option<Attrs> {
        let (Some(cfg), Some(now)) = (self.damping_of(peer), now) else {
            return accepted;
        };
        let key = (peer, prefix, path_id);
        match accepted {
            Some(a) => match self.damping.announce(&cfg, key, &a, now) {
                damping::Verdict::Use => Some(a),
                damping::Verdict::Suppress => None,
            },
            None => {
                // Refused by policy: to the table a withdrawal.
                self.damping.withdraw(&cfg, key, now);
                None
            }
        }
    }

    /// When damping next has something to do: call [`Rib::damping_timeout`] then.
    pub fn damping_due(&self) -> Option<Instant> {
        self.damping.next_due()
    }

    /// Suppressed routes whose merit decayed below the reuse threshold at `now` go back
    /// into the decision; histories decayed enough are forgotten.
    pub fn damping_timeout(&mut self, now: Instant) -> Changes {
        let peers = &self.peers;
        let cfg_of = |peer: PeerId| {
            peers
                .get(peer as usize)
                .and_then(Option::as_ref)
                .and_then(|p| p.cfg.damping)
        };
        let reused = self.damping.due(cfg_of, now);
        let mut changes = Changes::default();
        for ((peer, prefix, path_id), attrs) in reused {
            if let Some(a) = attrs {
                changes
                    .best
                    .extend(self.change(peer, prefix, path_id, Some(a)));
            }
        }
        changes
    }

    /// Routes of the peer held out by damping now.
    pub fn suppressed(&self, peer: PeerId) -> u64 {
        self.damping.suppressed_of(peer)
    }

    /// Loop checks, import policy, then the table.
    pub(super) fn import(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        path_id: PathId,
        attrs: &Attrs,
        now: Option<Instant>,
    ) -> Option<BestChange> {
        let p = self.peer(peer).ok()?;
        let local_as = p.cfg.local_as.unwrap_or(self.cfg.local_as);
        let allow = usize::from(p.cfg.allow_own_as);
        let looped = attrs
            .as_path
            .as_ref()
            .is_some_and(|x| x.count(local_as) > allow)
            || attrs.originator_id == Some(self.cfg.router_id)
            || attrs
                .cluster_list
                .as_ref()
                .is_some_and(|l| l.contains(&self.cfg.cluster_id.unwrap_or(self.cfg.router_id)));
        if let Some(Some(ps)) = self.peers.get_mut(peer as usize)
            && let Some(pre) = &mut ps.adj_in_pre
        {
            pre.insert((prefix, path_id), attrs.clone());
        }
        let accepted = if looped {
            None
        } else {
            self.run_import_policy(peer, &prefix, attrs)
        };
        let accepted = self.damp(peer, prefix, path_id, accepted, now);
        self.change(peer, prefix, path_id, accepted)
    }

    pub(super) fn run_import_policy(
        &mut self,
        peer: PeerId,
        prefix: &IpNet,
        attrs: &Attrs,
    ) -> Option<Attrs> {
        let p = self.peer(peer).ok()?;
        let policy = match (&p.cfg.import, p.cfg.kind) {
            (Some(pol), _) => pol.clone(),
            (None, PeerKind::Internal) => return Some(attrs.clone()),
            (None, PeerKind::External) if self.cfg.ebgp_without_policy => {
                return Some(attrs.clone());
            }
            (None, PeerKind::External) => return None,
        };
        let route = RouteRef {
            prefix,
            attrs,
            neighbor: Some(p.cfg.address),
            route_type: route_type(p.cfg.kind, attrs),
        };
        match policy.evaluate(&route) {
            Outcome::Rejected => None,
            Outcome::Unchanged(_) => Some(attrs.clone()),
            Outcome::Changed(a, _) => Some(self.attrs.intern(*a)),
        }
    }

    /// A changed import policy: re-applied from the routes kept before policy (soft
    /// reconfiguration). Returns `None` when the peer keeps none: ask it for a route refresh.
    pub fn set_import_policy(
        &mut self,
        peer: PeerId,
        policy: Option<PolicyRef>,
    ) -> Option<Changes> {
        let p = self.peers.get_mut(peer as usize)?.as_mut()?;
        p.cfg.import = policy;
        let pre: Vec<((IpNet, PathId), Attrs)> = p
            .adj_in_pre
            .as_ref()?
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut changes = Changes::default();
        for ((prefix, path_id), attrs) in pre {
            let accepted = self.run_import_policy(peer, &prefix, &attrs);
            changes
                .best
                .extend(self.change(peer, prefix, path_id, accepted));
        }
        Some(changes)
    }
}
