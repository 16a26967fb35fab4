//! The tables as the operator looks at them: a peer's routes before the import policy
//! (where kept), what it is sent, and why a path is not the best.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::best_path::{Candidate, Reason, decide};
use super::{Attrs, LOCAL, Path, PeerId, Rib, next_hop};
use crate::types::PathId;
use crate::wire::PeerKind;

impl Rib {
    /// The peer's routes as received, before the import policy: kept only with soft
    /// reconfiguration inbound (`None` without), sorted.
    pub fn adj_rib_in_pre(&self, peer: PeerId) -> Option<Vec<(IpNet, PathId, Attrs)>> {
        let pre = self.peer(peer).ok()?.adj_in_pre.as_ref()?;
        let mut v: Vec<_> = pre
            .iter()
            .map(|((p, id), a)| (*p, *id, a.clone()))
            .collect();
        v.sort_by_key(|a| (a.0, a.1));
        Some(v)
    }

    /// Whether the table holds the peer's path `id` to `prefix` (it passed the import
    /// policy).
    pub fn accepted(&self, peer: PeerId, prefix: &IpNet, id: PathId) -> bool {
        self.get(prefix).is_some_and(|d| {
            d.paths()
                .iter()
                .any(|p| p.peer() == peer && p.path_id() == id)
        })
    }

    /// What the peer is sent (its Adj-RIB-Out): each prefix, the path identifier it goes
    /// with (0 without ADD-PATH) and the attributes after the export policy; sorted. Empty
    /// while the peer is down.
    pub fn adj_rib_out(&self, peer: PeerId) -> Vec<(IpNet, u32, Attrs)> {
        let Some(g) = self.group_of(peer) else {
            return Vec::new();
        };
        let mut v = self.groups.routes_for(g, peer);
        v.sort_by_key(|a| (a.0, a.1));
        v
    }
}

/// Why a path of a prefix is not its best one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotBest {
    /// Its next hop does not resolve: it takes no part in the decision.
    Unreachable,
    /// The decision step at which the best path wins over it.
    Lost(Reason),
}

impl Rib {
    /// Why the `index`th path of `prefix` is not the best (`None` for the best path, or
    /// when the prefix has none): the step of the decision process, run between the best
    /// path and this one alone, at which it loses.
    pub fn why_not_best(&self, prefix: &IpNet, index: usize) -> Option<NotBest> {
        let d = self.get(prefix)?;
        let best = d.best()?;
        let p = d.paths().get(index).filter(|_| index > 0)?;
        let (Some(b), Some(c)) = (self.candidate(best), self.candidate(p)) else {
            return Some(NotBest::Unreachable);
        };
        let decision = decide(&[b, c], &self.cfg.decision);
        Some(NotBest::Lost(decision.reason))
    }

    fn candidate<'a>(&'a self, p: &'a Path) -> Option<Candidate<'a>> {
        let igp_cost = match next_hop(p.attrs()) {
            None if p.peer() == LOCAL => 0,
            None => return None,
            Some(nh) => self.resolver.resolve(nh)?,
        };
        let ps = self.peer(p.peer()).ok();
        Some(Candidate {
            attrs: p.attrs(),
            local: p.peer() == LOCAL,
            external: ps.is_some_and(|s| s.cfg.kind == PeerKind::External),
            peer_router_id: ps
                .and_then(|s| s.session.as_ref().map(|x| x.router_id))
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            peer_address: ps.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |s| s.cfg.address),
            path_id: p.path_id(),
            igp_cost,
        })
    }
}
