//! What each update group is sent: the reflection rules of RFC 4456, the RFC 4271 rules for
//! internal and external peers, well-known communities, next hop, and export policy.

use std::net::IpAddr;

use ipnet::IpNet;

use super::path::{Dest, Path};
use super::{
    AttrStore, Attrs, Batch, ExportCache, GroupId, LOCAL, NextHopMode, PeerId, PeerState, Rib,
    RibConfig, RibError, adj_out, best_path, family_of, next_hop,
};
use crate::policy::{NextHopAction, Outcome, PolicyRef, RouteRef, RouteType};
use crate::types::Family;
use crate::wire::attributes::{Community, MpNlri, MpReach, NextHop};
use crate::wire::{PathAttributes, PeerKind};

impl Rib {
    /// A changed export policy: the peer's group is recomputed (the peer may move to
    /// another group). Returns the messages that bring the peer up to date.
    pub fn set_export_policy(
        &mut self,
        peer: PeerId,
        policy: Option<PolicyRef>,
    ) -> Result<Batch, RibError> {
        let session = {
            let p = self
                .peers
                .get_mut(peer as usize)
                .and_then(Option::as_mut)
                .ok_or(RibError::NoPeer(peer))?;
            p.cfg.export = policy;
            p.session.clone()
        };
        let Some(session) = session else {
            return Ok(Batch::all(std::sync::Arc::new([])));
        };
        // Leave the old group, join the new one; the difference is sent as a full table to
        // the peer (re-announcements are harmless, stale routes are withdrawn below).
        let old_view = self
            .peer(peer)?
            .group
            .map(|g| self.groups.view_for(g, peer));
        if let Some(g) = self.peers[peer as usize]
            .as_mut()
            .and_then(|p| p.group.take())
        {
            self.groups.leave(g, peer);
        }
        let mut msgs = self.peer_up(peer, session)?;
        if let (Some(old), Some(g)) = (old_view, self.peer(peer)?.group) {
            msgs = Batch::concat(&msgs, &self.groups.withdraw_missing(g, peer, &old));
        }
        Ok(msgs)
    }
}

/// What group `g` should hold for `prefix` (whose paths are `dest`) now, handed to the
/// group.
#[allow(clippy::too_many_arguments)]
pub(super) fn export_dest(
    g: GroupId,
    prefix: &IpNet,
    dest: Option<&Dest>,
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    store: &mut AttrStore,
    groups: &mut adj_out::Groups,
    cache: &mut ExportCache,
    want: &mut Vec<adj_out::Entry>,
) {
    let Some(key) = groups.key(g) else {
        return;
    };
    want.clear();
    let family = family_of(prefix);
    if key.families.contains(family)
        && let Some(dest) = dest
        && dest.multipath > 0
    {
        let add_path = key.add_path.contains(family);
        // The selected paths with ADD-PATH, else the best.
        let n = if add_path {
            key.add_path_send.count(dest.paths.len(), dest.multipath)
        } else {
            1
        };
        let cacheable = key.export.as_ref().is_none_or(|p| !p.looks_at_prefix());
        for path in dest.paths.iter().take(n) {
            let ck = (
                g,
                path.peer(),
                std::sync::Arc::as_ptr(&path.attrs) as usize,
                family == Family::IPV6_UNICAST,
            );
            let exported = match cache.get(&ck) {
                Some((_, e)) if cacheable => e.clone(),
                _ => {
                    let e = export_path(cfg, peers, store, &key, prefix, path);
                    if cacheable {
                        cache.insert(ck, (std::sync::Arc::downgrade(&path.attrs), e.clone()));
                    }
                    e
                }
            };
            if let Some(attrs) = exported {
                let id = if add_path {
                    groups.tx_path_id(path.peer(), path.path_id)
                } else {
                    0
                };
                want.push(adj_out::Entry {
                    attrs,
                    source: path.peer(),
                    id,
                });
            }
        }
    }
    let released = groups.set(g, *prefix, want);
    want.clear();
    for a in released {
        store.release(a);
    }
}

/// The attributes `path` is sent with to the group, or `None` when it is not sent:
/// RFC 4271 and RFC 4456 rules, well-known communities, export policy.
pub(super) fn export_path(
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    store: &mut AttrStore,
    key: &adj_out::GroupKey,
    prefix: &IpNet,
    path: &Path,
) -> Option<Attrs> {
    let src = peers.get(path.peer() as usize)?.as_ref()?;
    let src_kind = if path.peer() == LOCAL {
        None
    } else {
        Some(src.cfg.kind)
    };
    let a = &path.attrs;
    // RFC 1997 well-known communities.
    if let Some(c) = &a.communities {
        if c.contains(&Community::NO_ADVERTISE) {
            return None;
        }
        if key.kind == PeerKind::External
            && (c.contains(&Community::NO_EXPORT) || c.contains(&Community::NO_EXPORT_SUBCONFED))
        {
            return None;
        }
        // Long-lived stale routes only to peers that take them (RFC 9494 4.5).
        if !key.long_lived && c.contains(&Community::LLGR_STALE) {
            return None;
        }
    }
    // iBGP to iBGP only by reflection (RFC 4456 6).
    let reflected = src_kind == Some(PeerKind::Internal) && key.kind == PeerKind::Internal;
    if reflected {
        cfg.cluster_id?;
        match (src.cfg.rr_client, key.rr_client) {
            (true, true) if !cfg.client_to_client => return None,
            (false, false) => return None,
            _ => {}
        }
    }
    // RFC 8212: no eBGP export without a policy, unless allowed.
    if key.kind == PeerKind::External && key.export.is_none() && !cfg.ebgp_without_policy {
        return None;
    }
    let mut out = (**a).clone();
    let local_as = key.local_as.unwrap_or(cfg.local_as);
    match key.kind {
        PeerKind::External => {
            out.as_path = Some(out.as_path.take().unwrap_or_default().prepend(local_as, 1));
            out.local_pref = None;
            out.originator_id = None;
            out.cluster_list = None;
            // A MED learned from one AS is not passed to another (RFC 4271 5.1.4).
            if src_kind == Some(PeerKind::External) {
                out.med = None;
            }
        }
        PeerKind::Internal => {
            if out.local_pref.is_none() {
                out.local_pref = Some(best_path::DEFAULT_LOCAL_PREF);
            }
            if reflected {
                if out.originator_id.is_none() {
                    out.originator_id = src.session.as_ref().map(|s| s.router_id);
                }
                let cluster = cfg.cluster_id.unwrap_or(cfg.router_id);
                out.cluster_list = Some(match out.cluster_list.take() {
                    Some(l) => l.prepend(cluster),
                    None => std::iter::once(cluster).collect(),
                });
            }
        }
    }
    // Next hop: the default for the kind, then the policy's directive.
    let mut nh = match (key.next_hop, key.kind) {
        (NextHopMode::SelfAddr, _) => NextHopAction::SelfAddr,
        (NextHopMode::Unchanged, _) => NextHopAction::Unchanged,
        (NextHopMode::SelfExternal, _) if src_kind == Some(PeerKind::Internal) => {
            NextHopAction::Unchanged
        }
        (NextHopMode::SelfExternal, _) => NextHopAction::SelfAddr,
        (NextHopMode::Default, PeerKind::External) => NextHopAction::SelfAddr,
        (NextHopMode::Default, PeerKind::Internal)
            if path.peer() == LOCAL && next_hop(a).is_none() =>
        {
            NextHopAction::SelfAddr
        }
        (NextHopMode::Default, PeerKind::Internal) => NextHopAction::Unchanged,
    };
    if let Some(policy) = &key.export {
        let route = RouteRef {
            prefix,
            attrs: &out,
            neighbor: (path.peer() != LOCAL).then_some(src.cfg.address),
            route_type: match src_kind {
                None => RouteType::Local,
                Some(k) => route_type(k, a),
            },
        };
        match policy.evaluate(&route) {
            Outcome::Rejected => return None,
            Outcome::Unchanged(d) => nh = d.next_hop.unwrap_or(nh),
            Outcome::Changed(changed, d) => {
                out = *changed;
                nh = d.next_hop.unwrap_or(nh);
            }
        }
    }
    set_next_hop(&mut out, prefix, nh, key);
    // Without a next hop for its family the UPDATE would be malformed: not sent (a
    // local route towards a peer with no local address configured, say). An IPv6 next
    // hop for an IPv4 route goes only to peers that negotiated it (RFC 8950 4).
    let has_next_hop = match prefix {
        IpNet::V4(_) => match &out.mp_reach {
            Some(m) => key.extended_next_hop || matches!(m.next_hop, NextHop::Ipv4(_)),
            None => out.next_hop.is_some(),
        },
        IpNet::V6(_) => out
            .mp_reach
            .as_ref()
            .is_some_and(|m| m.family == Family::IPV6_UNICAST),
    };
    if !has_next_hop {
        return None;
    }
    Some(store.intern(out))
}

pub(super) fn route_type(kind: PeerKind, attrs: &PathAttributes) -> RouteType {
    match kind {
        PeerKind::External => RouteType::External,
        PeerKind::Internal if attrs.originator_id.is_some() || attrs.cluster_list.is_some() => {
            RouteType::Reflected
        }
        PeerKind::Internal => RouteType::Internal,
    }
}

/// Writes the next hop for `prefix` into `out` as the group's peers expect it.
pub(super) fn set_next_hop(
    out: &mut PathAttributes,
    prefix: &IpNet,
    nh: NextHopAction,
    key: &adj_out::GroupKey,
) {
    let addr = match nh {
        // A link-local next hop means something only on the link it was learned on (RFC
        // 2545 3): passed on, it becomes ours; a global one goes on without its link-local
        // companion.
        NextHopAction::Unchanged => match out.mp_reach.as_mut() {
            Some(m) if m.next_hop.is_link_local() => {
                return set_next_hop(out, prefix, NextHopAction::SelfAddr, key);
            }
            Some(MpReach {
                next_hop: NextHop::Ipv6 { link_local, .. },
                ..
            }) => {
                *link_local = None;
                return;
            }
            _ => return,
        },
        NextHopAction::Addr(a) => Some(a),
        NextHopAction::SelfAddr => match prefix {
            // Ourselves over an IPv6-only session is an IPv6 address: usable for IPv4
            // routes only where the peer takes IPv6 next hops for them (RFC 8950).
            IpNet::V4(_) => key.local_v4.map(IpAddr::V4).or(key
                .local_v6
                .filter(|_| key.extended_next_hop)
                .map(IpAddr::V6)),
            IpNet::V6(_) => key.local_v6.map(IpAddr::V6),
        },
    };
    let Some(addr) = addr else {
        // Ourselves, with no address of ours of the family on the session (an IPv6 route
        // on an IPv4 session): the route does not go. Left unchanged, its next hop would
        // send the peer to a router it may not reach, or one on another link.
        if matches!(nh, NextHopAction::SelfAddr) {
            out.next_hop = None;
            out.mp_reach = None;
        }
        return;
    };
    let family = family_of(prefix);
    match (prefix, addr) {
        (IpNet::V4(_), IpAddr::V4(a)) => {
            out.next_hop = Some(a);
            out.mp_reach = None;
        }
        (_, a) => {
            let next_hop = match a {
                IpAddr::V4(v4) => NextHop::Ipv4(v4),
                IpAddr::V6(v6) if v6.is_unicast_link_local() => NextHop::link_local_only(v6),
                IpAddr::V6(v6) => NextHop::Ipv6 {
                    global: v6,
                    link_local: None,
                },
            };
            if family == Family::IPV4_UNICAST {
                out.next_hop = None;
            }
            out.mp_reach = Some(MpReach {
                family,
                next_hop,
                nlri: MpNlri::Opaque(Default::default()),
            });
        }
    }
}
