//! Import and export policies: chains of terms that match routes and change or drop them.
//!
//! A [`Policy`] is a value built from configuration. [`Policy::evaluate`] runs its terms in
//! order on one route: the first term whose matches all hold applies its actions and its
//! verdict; a term without a verdict falls through to the next. When no term decides, the
//! policy's default verdict applies. Attributes are copied only when an action changes them.
//!
//! AS-path matches use a small path-pattern language (see [`AsPathPattern`]) rather than
//! regular expressions over text: patterns are checked when built and matched over the ASN
//! sequence without backtracking blow-ups.

mod as_path_pattern;

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::types::Asn;
use crate::wire::attributes::{
    AsPath, Community, ExtCommunity, LargeCommunity, Origin, PathAttributes,
};

pub use as_path_pattern::{AsPathPattern, PatternError};

/// What happens to a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Reject,
}

/// How a route came to us, for route-type matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteType {
    /// Originated here (announced through the API or learned from the kernel).
    Local,
    /// Learned from an internal peer.
    Internal,
    /// Learned from an external peer.
    External,
    /// Learned from an internal peer and carrying reflection attributes.
    Reflected,
}

/// One prefix-list entry: `prefix` with a length range (`ge`..=`le`, both default to the
/// prefix's own length: an exact match).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrefixRange {
    pub prefix: IpNet,
    pub ge: u8,
    pub le: u8,
}

impl PrefixRange {
    pub fn exact(prefix: IpNet) -> PrefixRange {
        PrefixRange {
            prefix,
            ge: prefix.prefix_len(),
            le: prefix.prefix_len(),
        }
    }

    /// `prefix` and everything inside it up to `le` (like `le` in FRR prefix lists).
    pub fn orlonger(prefix: IpNet, le: u8) -> PrefixRange {
        PrefixRange {
            prefix,
            ge: prefix.prefix_len(),
            le,
        }
    }

    pub fn contains(&self, p: &IpNet) -> bool {
        let len = p.prefix_len();
        len >= self.ge && len <= self.le && self.prefix.contains(p)
    }
}

/// A route as policies see it: prefix, attributes and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct RouteRef<'a> {
    pub prefix: &'a IpNet,
    pub attrs: &'a PathAttributes,
    pub neighbor: Option<IpAddr>,
    pub route_type: RouteType,
}

/// A condition on a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// The prefix is in one of the ranges.
    Prefix(Vec<PrefixRange>),
    AsPath(AsPathPattern),
    /// The AS path is at most this long (RFC 4271 path length).
    AsPathLenAtMost(usize),
    Community(Community),
    ExtCommunity(ExtCommunity),
    /// A large community; `None` parts match anything.
    LargeCommunity {
        global: Option<u32>,
        local1: Option<u32>,
        local2: Option<u32>,
    },
    Neighbor(Vec<IpAddr>),
    Origin(Origin),
    /// The next hop is inside one of these prefixes.
    NextHop(Vec<IpNet>),
    RouteType(Vec<RouteType>),
    /// Inverts a condition.
    Not(Box<Match>),
}

impl Match {
    pub fn matches(&self, r: &RouteRef<'_>) -> bool {
        let a = r.attrs;
        match self {
            Match::Prefix(ranges) => ranges.iter().any(|x| x.contains(r.prefix)),
            Match::AsPath(p) => p.matches(a.as_path.as_ref().unwrap_or(&AsPath::empty())),
            Match::AsPathLenAtMost(n) => a.as_path.as_ref().map_or(0, AsPath::path_len) <= *n,
            Match::Community(c) => a.communities.as_ref().is_some_and(|l| l.contains(c)),
            Match::ExtCommunity(c) => a.ext_communities.as_ref().is_some_and(|l| l.contains(c)),
            Match::LargeCommunity {
                global,
                local1,
                local2,
            } => a.large_communities.as_ref().is_some_and(|l| {
                l.iter().any(|c| {
                    global.is_none_or(|g| g == c.global)
                        && local1.is_none_or(|x| x == c.local1)
                        && local2.is_none_or(|x| x == c.local2)
                })
            }),
            Match::Neighbor(addrs) => r.neighbor.is_some_and(|n| addrs.contains(&n)),
            Match::Origin(o) => a.origin == Some(*o),
            Match::NextHop(nets) => {
                next_hop_of(a).is_some_and(|nh| nets.iter().any(|n| n.contains(&nh)))
            }
            Match::RouteType(types) => types.contains(&r.route_type),
            Match::Not(m) => !m.matches(r),
        }
    }
}

/// The next hop of a route: NEXT_HOP, or the MP_REACH_NLRI one.
pub fn next_hop_of(a: &PathAttributes) -> Option<IpAddr> {
    a.mp_reach
        .as_ref()
        .and_then(|m| m.next_hop.addr())
        .or(a.next_hop.map(IpAddr::V4))
}

/// What to do with a next hop on export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHopAction {
    /// Our own address on the session.
    SelfAddr,
    /// Leave it as it is (third-party next hop, also towards eBGP peers).
    Unchanged,
    Addr(IpAddr),
}

/// A change to a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    SetLocalPref(u32),
    SetMed(u32),
    RemoveMed,
    AddCommunity(Community),
    RemoveCommunity(Community),
    /// Replaces all standard communities.
    SetCommunities(Vec<Community>),
    AddLargeCommunity(LargeCommunity),
    RemoveLargeCommunity(LargeCommunity),
    AddExtCommunity(ExtCommunity),
    RemoveExtCommunity(ExtCommunity),
    SetNextHop(NextHopAction),
    /// Prepends `asn` this many times.
    Prepend(Asn, u8),
    SetOrigin(Origin),
}

/// What export actions decided about the next hop, for the caller that knows the addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    pub next_hop: Option<NextHopAction>,
}

impl Action {
    fn apply(&self, a: &mut PathAttributes, d: &mut Directives) {
        match self {
            Action::SetLocalPref(v) => a.local_pref = Some(*v),
            Action::SetMed(v) => a.med = Some(*v),
            Action::RemoveMed => a.med = None,
            Action::AddCommunity(c) => {
                let list = a.communities.take();
                let present = list.as_ref().is_some_and(|l| l.contains(c));
                a.communities = Some(match list {
                    Some(l) if present => l,
                    Some(l) => l.iter().chain(std::iter::once(*c)).collect(),
                    None => std::iter::once(*c).collect(),
                });
            }
            Action::RemoveCommunity(c) => {
                if let Some(l) = a.communities.take() {
                    let kept: crate::wire::attributes::Communities =
                        l.iter().filter(|x| x != c).collect();
                    a.communities = (!kept.is_empty()).then_some(kept);
                }
            }
            Action::SetCommunities(v) => {
                a.communities = (!v.is_empty()).then(|| v.iter().copied().collect());
            }
            Action::AddLargeCommunity(c) => {
                let list = a.large_communities.take();
                a.large_communities = Some(match list {
                    Some(l) if l.contains(c) => l,
                    Some(l) => l.iter().chain(std::iter::once(*c)).collect(),
                    None => std::iter::once(*c).collect(),
                });
            }
            Action::RemoveLargeCommunity(c) => {
                if let Some(l) = a.large_communities.take() {
                    let kept: crate::wire::attributes::LargeCommunities =
                        l.iter().filter(|x| x != c).collect();
                    a.large_communities = (!kept.is_empty()).then_some(kept);
                }
            }
            Action::AddExtCommunity(c) => {
                let list = a.ext_communities.take();
                a.ext_communities = Some(match list {
                    Some(l) if l.contains(c) => l,
                    Some(l) => l.iter().chain(std::iter::once(*c)).collect(),
                    None => std::iter::once(*c).collect(),
                });
            }
            Action::RemoveExtCommunity(c) => {
                if let Some(l) = a.ext_communities.take() {
                    let kept: crate::wire::attributes::ExtCommunities =
                        l.iter().filter(|x| x != c).collect();
                    a.ext_communities = (!kept.is_empty()).then_some(kept);
                }
            }
            Action::SetNextHop(n) => d.next_hop = Some(*n),
            Action::Prepend(asn, n) => {
                let p = a.as_path.take().unwrap_or_default();
                a.as_path = Some(p.prepend(*asn, usize::from(*n)));
            }
            Action::SetOrigin(o) => a.origin = Some(*o),
        }
    }
}

/// A term: when all `matches` hold, apply `actions`, then the `verdict` (or go on to the next
/// term when it has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub name: String,
    pub matches: Vec<Match>,
    pub actions: Vec<Action>,
    pub verdict: Option<Verdict>,
}

/// A chain of terms with a default verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub terms: Vec<Term>,
    pub default: Verdict,
}

/// The outcome of a policy on one route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Rejected,
    /// Accepted unchanged: the caller keeps its shared attributes.
    Unchanged(Directives),
    /// Accepted with changed attributes.
    Changed(Box<PathAttributes>, Directives),
}

impl Policy {
    /// A policy that accepts everything unchanged.
    pub fn accept_all() -> Policy {
        Policy {
            name: "accept-all".into(),
            terms: Vec::new(),
            default: Verdict::Accept,
        }
    }

    /// A policy that rejects everything.
    pub fn reject_all() -> Policy {
        Policy {
            name: "reject-all".into(),
            terms: Vec::new(),
            default: Verdict::Reject,
        }
    }

    /// Whether any match depends on the prefix (then results cannot be shared between the
    /// prefixes of one attribute set).
    pub fn looks_at_prefix(&self) -> bool {
        fn m(x: &Match) -> bool {
            match x {
                Match::Prefix(_) => true,
                Match::Not(inner) => m(inner),
                _ => false,
            }
        }
        self.terms.iter().any(|t| t.matches.iter().any(m))
    }

    pub fn evaluate(&self, r: &RouteRef<'_>) -> Outcome {
        let mut changed: Option<PathAttributes> = None;
        let mut directives = Directives::default();
        for term in &self.terms {
            let attrs = changed.as_ref().unwrap_or(r.attrs);
            let view = RouteRef { attrs, ..*r };
            if !term.matches.iter().all(|m| m.matches(&view)) {
                continue;
            }
            if !term.actions.is_empty() {
                let a = changed.get_or_insert_with(|| r.attrs.clone());
                for act in &term.actions {
                    act.apply(a, &mut directives);
                }
            }
            match term.verdict {
                Some(Verdict::Reject) => return Outcome::Rejected,
                Some(Verdict::Accept) => return finish(changed, directives),
                None => {}
            }
        }
        match self.default {
            Verdict::Reject => Outcome::Rejected,
            Verdict::Accept => finish(changed, directives),
        }
    }
}

fn finish(changed: Option<PathAttributes>, d: Directives) -> Outcome {
    match changed {
        Some(a) => Outcome::Changed(Box::new(a), d),
        None => Outcome::Unchanged(d),
    }
}

/// A shared policy, cheap to clone into every peer's configuration.
pub type PolicyRef = Arc<Policy>;

#[cfg(test)]
mod tests;
