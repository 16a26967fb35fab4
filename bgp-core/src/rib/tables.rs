//! A peer's tables as the operator looks at them: its routes before the import policy
//! (where kept) and what it is sent.

use ipnet::IpNet;

use super::{Attrs, PeerId, Rib};
use crate::types::PathId;

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
