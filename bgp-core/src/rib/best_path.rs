//! The decision process (RFC 4271 9.1.2.2, with the RFC 4456 9 tie-breakers).
//!
//! It runs as a sequence of filters over the candidate set, as the RFC writes it, not as a
//! pairwise comparison: the MED step removes routes only against routes from the same
//! neighbouring AS, which is not a total order and would make a sort depend on input order.
//! The step that left one candidate is returned as the reason.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use crate::types::Asn;
use crate::wire::attributes::{Origin, PathAttributes};

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

fn local_pref(c: &Candidate<'_>) -> u32 {
    c.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
}

fn path_len(c: &Candidate<'_>) -> usize {
    c.attrs.as_path.as_ref().map_or(0, |p| p.path_len())
}

fn origin(c: &Candidate<'_>) -> u8 {
    c.attrs.origin.unwrap_or(Origin::Incomplete) as u8
}

/// The neighbouring AS, for MED comparison: the first AS of the path; routes of our own AS
/// (empty path) form one group.
fn neighbor_as(c: &Candidate<'_>) -> Option<Asn> {
    c.attrs.as_path.as_ref().and_then(|p| p.first_asn())
}

fn router_id(c: &Candidate<'_>) -> u32 {
    u32::from(c.attrs.originator_id.unwrap_or(c.peer_router_id))
}

fn cluster_len(c: &Candidate<'_>) -> usize {
    c.attrs.cluster_list.as_ref().map_or(0, |l| l.len())
}

/// Keeps the candidates with the least `key`.
fn keep_min<K: Ord>(
    set: &mut Vec<usize>,
    cands: &[Candidate<'_>],
    key: impl Fn(&Candidate<'_>) -> K,
) {
    if let Some(min) = set.iter().map(|i| key(&cands[*i])).min() {
        set.retain(|i| key(&cands[*i]) == min);
    }
}

/// Runs the decision process. `cands` must not be empty (unreachable next hops are the
/// caller's to leave out).
pub fn decide(cands: &[Candidate<'_>], cfg: &DecisionConfig) -> Decision {
    debug_assert!(!cands.is_empty());
    let mut set: Vec<usize> = (0..cands.len()).collect();
    let mut reason = Reason::Only;
    let mut multipath_set: Option<Vec<usize>> = None;
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
        Reason::LocalPref,
        keep_min(&mut set, cands, |c| std::cmp::Reverse(local_pref(c)))
    );
    step!(
        Reason::LocallyOriginated,
        keep_min(&mut set, cands, |c| !c.local)
    );
    step!(Reason::AsPathLength, keep_min(&mut set, cands, path_len));
    step!(Reason::Origin, keep_min(&mut set, cands, origin));
    step!(Reason::Med, {
        let med = |c: &Candidate<'_>| {
            c.attrs.med.unwrap_or(if cfg.med_missing_as_worst {
                u32::MAX
            } else {
                0
            })
        };
        let snapshot = set.clone();
        set.retain(|i| {
            let me = &cands[*i];
            !snapshot.iter().any(|j| {
                let other = &cands[*j];
                (cfg.always_compare_med || neighbor_as(other) == neighbor_as(me))
                    && med(other) < med(me)
            })
        });
    });
    step!(
        Reason::ExternalOverInternal,
        keep_min(&mut set, cands, |c| !c.external)
    );
    step!(Reason::IgpCost, keep_min(&mut set, cands, |c| c.igp_cost));
    // Routes equal so far may share the forwarding (RFC 4271 leaves multipath to the
    // implementation): eBGP routes only from one neighbouring AS unless relaxed.
    if cfg.max_paths > 1 && set.len() > 1 {
        multipath_set = Some(set.clone());
    }
    step!(Reason::RouterId, keep_min(&mut set, cands, router_id));
    step!(
        Reason::ClusterListLength,
        keep_min(&mut set, cands, cluster_len)
    );
    step!(
        Reason::PeerAddress,
        keep_min(&mut set, cands, |c| c.peer_address)
    );
    step!(Reason::PathId, keep_min(&mut set, cands, |c| c.path_id));
    let best = set[0];
    let mut multipath = vec![best];
    if let Some(mp) = multipath_set {
        let b = &cands[best];
        let mut rest: Vec<usize> = mp
            .into_iter()
            .filter(|i| *i != best)
            .filter(|i| {
                let c = &cands[*i];
                !c.external
                    || !b.external
                    || cfg.multipath_relax
                    || neighbor_as(c) == neighbor_as(b)
            })
            .collect();
        // A stable order: by the remaining tie-breakers.
        rest.sort_by(|x, y| tie_order(&cands[*x], &cands[*y]));
        multipath.extend(rest.into_iter().take(cfg.max_paths.saturating_sub(1)));
    }
    Decision {
        best,
        reason,
        multipath,
    }
}

fn tie_order(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    router_id(a)
        .cmp(&router_id(b))
        .then(cluster_len(a).cmp(&cluster_len(b)))
        .then(a.peer_address.cmp(&b.peer_address))
        .then(a.path_id.cmp(&b.path_id))
}
