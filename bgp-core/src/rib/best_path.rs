//! The decision process (RFC 4271 9.1.2.2, with the RFC 4456 9 tie-breakers).
//!
//! It runs as a sequence of filters over the candidate set, as the RFC writes it, not as a
//! pairwise comparison: the MED step removes routes only against routes from the same
//! neighbouring AS, which is not a total order and would make a sort depend on input order.
//! The step that left one candidate is returned as the reason.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use crate::types::Asn;
use crate::wire::attributes::{Community, Origin, PathAttributes};

/// LOCAL_PREF assumed when a route has none (RFC 4271 leaves the value to the implementation;
/// 100 is what every widely used implementation takes).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// What the decision process knows of one candidate path.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub attrs: &'a PathAttributes,
    /// Originated here (not learned from a peer).
    pub local: bool,
    /// Learned over eBGP.
    pub external: bool,
    /// The peer's BGP identifier (the route's ORIGINATOR_ID takes its place when present).
    pub peer_router_id: Ipv4Addr,
    pub peer_address: IpAddr,
    /// The received path identifier (ADD-PATH), the last tie-breaker.
    pub path_id: u32,
    /// Cost to reach the next hop (from the caller's resolver).
    pub igp_cost: u32,
}

/// Options of the decision process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionConfig {
    /// Compare MED between routes from different neighbouring ASes too.
    pub always_compare_med: bool,
    /// A route without MED counts as the worst MED instead of 0.
    pub med_missing_as_worst: bool,
    /// Routes for the ECMP set (including the best); 1 turns multipath off.
    pub max_paths: usize,
    /// ECMP between eBGP routes from different neighbouring ASes.
    pub multipath_relax: bool,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            always_compare_med: false,
            med_missing_as_worst: false,
            max_paths: 1,
            multipath_relax: false,
        }
    }
}

/// The step that chose the best route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// There was one candidate.
    Only,
    /// The others are long-lived stale (RFC 9494 4.3: least preferred).
    LongLivedStale,
    LocalPref,
    LocallyOriginated,
    AsPathLength,
    Origin,
    Med,
    ExternalOverInternal,
    IgpCost,
    RouterId,
    ClusterListLength,
    PeerAddress,
    PathId,
}

/// The decision: index of the best candidate, why, and the ECMP set (best first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub best: usize,
    pub reason: Reason,
    pub multipath: Vec<usize>,
}

/// What the decision process compares, copied out of a candidate (no references, so the
/// RIB can keep a scratch buffer of them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    /// Carries LLGR_STALE.
    long_lived_stale: bool,
    local_pref: u32,
    local: bool,
    path_len: usize,
    origin: u8,
    /// MED, and whether the route had one.
    med: Option<u32>,
    neighbor_as: Option<Asn>,
    external: bool,
    igp_cost: u32,
    router_id: u32,
    cluster_len: usize,
    peer_address: IpAddr,
    path_id: u32,
}

impl Key {
    pub(crate) fn of(c: &Candidate<'_>) -> Key {
        let a = c.attrs;
        Key {
            long_lived_stale: a
                .communities
                .as_ref()
                .is_some_and(|c| c.contains(&Community::LLGR_STALE)),
            local_pref: a.local_pref.unwrap_or(DEFAULT_LOCAL_PREF),
            local: c.local,
            path_len: a.as_path.as_ref().map_or(0, |p| p.path_len()),
            origin: a.origin.unwrap_or(Origin::Incomplete) as u8,
            med: a.med,
            // The neighbouring AS, for MED comparison: the first AS of the path; routes of
            // our own AS (empty path) form one group.
            neighbor_as: a.as_path.as_ref().and_then(|p| p.first_asn()),
            external: c.external,
            igp_cost: c.igp_cost,
            router_id: u32::from(a.originator_id.unwrap_or(c.peer_router_id)),
            cluster_len: a.cluster_list.as_ref().map_or(0, |l| l.len()),
            peer_address: c.peer_address,
            path_id: c.path_id,
        }
    }
}

/// Keeps the candidates with the least `key`.
fn keep_min<K: Ord>(set: &mut Vec<usize>, keys: &[Key], key: impl Fn(&Key) -> K) {
    if let Some(min) = set.iter().map(|i| key(&keys[*i])).min() {
        set.retain(|i| key(&keys[*i]) == min);
    }
}

/// Runs the decision process. `cands` must not be empty (unreachable next hops are the
/// caller's to leave out).
pub fn decide(cands: &[Candidate<'_>], cfg: &DecisionConfig) -> Decision {
    let keys: Vec<Key> = cands.iter().map(Key::of).collect();
    let mut set = Vec::new();
    let mut multipath = Vec::new();
    let (best, reason) = decide_keys(&keys, cfg, &mut set, &mut multipath);
    Decision {
        best,
        reason,
        multipath,
    }
}

/// The decision over keys, with caller-owned scratch space: returns the best index and the
/// reason; `multipath` receives the ECMP set (best first).
pub(crate) fn decide_keys(
    keys: &[Key],
    cfg: &DecisionConfig,
    set: &mut Vec<usize>,
    multipath: &mut Vec<usize>,
) -> (usize, Reason) {
    debug_assert!(!keys.is_empty());
    set.clear();
    set.extend(0..keys.len());
    multipath.clear();
    let mut reason = Reason::Only;
    if keys.len() == 1 {
        multipath.push(0);
        return (0, reason);
    }
    let mut mp_candidates: Option<Vec<usize>> = None;
    macro_rules! step {
        ($r:expr, $body:expr) => {
            if set.len() > 1 {
                let before = set.len();
                $body;
                if set.len() < before && set.len() == 1 {
                    reason = $r;
                }
            }
        };
    }
    step!(
        Reason::LongLivedStale,
        keep_min(set, keys, |k| k.long_lived_stale)
    );
    step!(
        Reason::LocalPref,
        keep_min(set, keys, |k| std::cmp::Reverse(k.local_pref))
    );
    step!(Reason::LocallyOriginated, keep_min(set, keys, |k| !k.local));
    step!(Reason::AsPathLength, keep_min(set, keys, |k| k.path_len));
    step!(Reason::Origin, keep_min(set, keys, |k| k.origin));
    step!(Reason::Med, {
        let med = |k: &Key| {
            k.med.unwrap_or(if cfg.med_missing_as_worst {
                u32::MAX
            } else {
                0
            })
        };
        // A route goes when another one from the same neighbouring AS has a lower MED.
        let snapshot: smallvec::SmallVec<[usize; 8]> = set.iter().copied().collect();
        set.retain(|i| {
            let me = &keys[*i];
            !snapshot.iter().any(|j| {
                let other = &keys[*j];
                (cfg.always_compare_med || other.neighbor_as == me.neighbor_as)
                    && med(other) < med(me)
            })
        });
    });
    step!(
        Reason::ExternalOverInternal,
        keep_min(set, keys, |k| !k.external)
    );
    step!(Reason::IgpCost, keep_min(set, keys, |k| k.igp_cost));
    // Routes equal so far may share the forwarding (RFC 4271 leaves multipath to the
    // implementation): eBGP routes only from one neighbouring AS unless relaxed.
    if cfg.max_paths > 1 && set.len() > 1 {
        mp_candidates = Some(set.clone());
    }
    step!(Reason::RouterId, keep_min(set, keys, |k| k.router_id));
    step!(
        Reason::ClusterListLength,
        keep_min(set, keys, |k| k.cluster_len)
    );
    step!(Reason::PeerAddress, keep_min(set, keys, |k| k.peer_address));
    step!(Reason::PathId, keep_min(set, keys, |k| k.path_id));
    let best = set[0];
    multipath.push(best);
    if let Some(mp) = mp_candidates {
        let b = &keys[best];
        let mut rest: Vec<usize> = mp
            .into_iter()
            .filter(|i| *i != best)
            .filter(|i| {
                let k = &keys[*i];
                !k.external || !b.external || cfg.multipath_relax || k.neighbor_as == b.neighbor_as
            })
            .collect();
        // A stable order: by the remaining tie-breakers.
        rest.sort_by(|x, y| tie_order(&keys[*x], &keys[*y]));
        multipath.extend(rest.into_iter().take(cfg.max_paths.saturating_sub(1)));
    }
    (best, reason)
}

fn tie_order(a: &Key, b: &Key) -> Ordering {
    a.router_id
        .cmp(&b.router_id)
        .then(a.cluster_len.cmp(&b.cluster_len))
        .then(a.peer_address.cmp(&b.peer_address))
        .then(a.path_id.cmp(&b.path_id))
}
