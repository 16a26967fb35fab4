//! Prefix lists, policies and communities.

use std::collections::{BTreeMap, HashMap};

use bgp_core::policy::{
    Action, AsPathPattern, Match, NextHopAction, Policy, PrefixRange, RouteType, Term, Verdict,
};
use bgp_core::wire::attributes::{Community, LargeCommunity};
use ipnet::IpNet;
use toml::Spanned;

use super::raw::{PolicyRaw, RouteTypeRaw};
use super::{Builder, Res};

impl Builder<'_> {
    /// Every prefix list, each entry checked (the bad ones noted and left out).
    pub(super) fn prefix_lists(
        &self,
        raw: &BTreeMap<String, Vec<Spanned<String>>>,
    ) -> HashMap<String, Vec<PrefixRange>> {
        raw.iter()
            .map(|(name, entries)| {
                let v = entries
                    .iter()
                    .filter_map(|e| self.keep(self.prefix_range(e)))
                    .collect();
                (name.clone(), v)
            })
            .collect()
    }

    /// `PREFIX [ge N] [le N]`.
    pub(super) fn prefix_range(&self, e: &Spanned<String>) -> Res<PrefixRange> {
        let bad = |why: &str| {
            self.err(
                e.span(),
                format!(
                    "{why} in prefix entry {:?} (expected `PREFIX [ge LEN] [le LEN]`)",
                    e.get_ref()
                ),
            )
        };
        let mut words = e.get_ref().split_whitespace();
        let prefix: IpNet = words
            .next()
            .ok_or_else(|| bad("no prefix"))?
            .parse()
            .map_err(|_| bad("not a prefix"))?;
        let (mut ge, mut le) = (None, None);
        while let Some(w) = words.next() {
            let n: u8 = words
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("a length is missing"))?;
            match w {
                "ge" if ge.is_none() => ge = Some(n),
                "le" if le.is_none() => le = Some(n),
                _ => return Err(bad(&format!("unexpected `{w}`"))),
            }
        }
        // `ge` alone reaches to the longest prefix; neither: the prefix exactly.
        let len = prefix.prefix_len();
        let ge_v = ge.unwrap_or(len);
        let le_v = le.unwrap_or(if ge.is_some() {
            prefix.max_prefix_len()
        } else {
            len
        });
        if ge_v < len || ge_v > le_v || le_v > prefix.max_prefix_len() {
            return Err(bad("lengths out of order"));
        }
        let r = PrefixRange {
            prefix: prefix.trunc(),
            ge: ge_v,
            le: le_v,
        };
        Ok(r)
    }

    pub(super) fn policy(
        &self,
        name: &str,
        p: &Spanned<PolicyRaw>,
        lists: &HashMap<String, Vec<PrefixRange>>,
        asn: u32,
    ) -> Res<Policy> {
        let mut terms = Vec::new();
        for (i, t) in p.get_ref().term.iter().enumerate() {
            let mut matches = Vec::new();
            let m = &t.matches;
            if let Some(l) = &m.prefix_list {
                self.used
                    .borrow_mut()
                    .insert(format!("prefix_list:{}", l.get_ref()));
                let ranges = lists.get(l.get_ref()).ok_or_else(|| {
                    self.err(
                        l.span(),
                        format!(
                            "unknown prefix list {:?}; defined: {}",
                            l.get_ref(),
                            names(lists.keys())
                        ),
                    )
                })?;
                matches.push(Match::Prefix(ranges.clone()));
            }
            if !m.prefix.is_empty() {
                let ranges = m
                    .prefix
                    .iter()
                    .map(|e| self.prefix_range(e))
                    .collect::<Res<Vec<_>>>()?;
                matches.push(Match::Prefix(ranges));
            }
            if let Some(c) = &m.community {
                matches.push(Match::Community(self.community(c)?));
            }
            if let Some(c) = &m.large_community {
                let l = self.large_community(c)?;
                matches.push(Match::LargeCommunity {
                    global: Some(l.global),
                    local1: Some(l.local1),
                    local2: Some(l.local2),
                });
            }
            if let Some(a) = &m.as_path {
                let pat: AsPathPattern =
                    a.get_ref()
                        .parse()
                        .map_err(|e: bgp_core::policy::PatternError| {
                            self.err(a.span(), e.to_string())
                        })?;
                matches.push(Match::AsPath(pat));
            }
            if let Some(n) = m.as_path_max_len {
                matches.push(Match::AsPathLenAtMost(n));
            }
            if !m.neighbor.is_empty() {
                matches.push(Match::Neighbor(m.neighbor.clone()));
            }
            if !m.route_type.is_empty() {
                matches.push(Match::RouteType(
                    m.route_type
                        .iter()
                        .map(|r| match r {
                            RouteTypeRaw::Local => RouteType::Local,
                            RouteTypeRaw::Internal => RouteType::Internal,
                            RouteTypeRaw::External => RouteType::External,
                            RouteTypeRaw::Reflected => RouteType::Reflected,
                        })
                        .collect(),
                ));
            }
            if let Some(o) = m.origin {
                matches.push(Match::Origin(o.into()));
            }
            if !m.next_hop.is_empty() {
                matches.push(Match::NextHop(m.next_hop.clone()));
            }
            let s = &t.set;
            let mut actions = Vec::new();
            if let Some(v) = s.local_pref {
                actions.push(Action::SetLocalPref(v));
            }
            if s.remove_med {
                actions.push(Action::RemoveMed);
            }
            if let Some(v) = s.med {
                actions.push(Action::SetMed(v));
            }
            for c in &s.add_community {
                actions.push(Action::AddCommunity(self.community(c)?));
            }
            for c in &s.remove_community {
                actions.push(Action::RemoveCommunity(self.community(c)?));
            }
            for c in &s.add_large_community {
                actions.push(Action::AddLargeCommunity(self.large_community(c)?));
            }
            if let Some(n) = s.prepend {
                actions.push(Action::Prepend(asn, n));
            }
            if let Some(nh) = &s.next_hop {
                let a = match nh.get_ref().as_str() {
                    "self" => NextHopAction::SelfAddr,
                    "unchanged" => NextHopAction::Unchanged,
                    other => NextHopAction::Addr(other.parse().map_err(|_| {
                        self.err(
                            nh.span(),
                            format!(
                                "next hop {other:?}: expected `self`, `unchanged` or an address"
                            ),
                        )
                    })?),
                };
                actions.push(Action::SetNextHop(a));
            }
            if let Some(o) = s.origin {
                actions.push(Action::SetOrigin(o.into()));
            }
            terms.push(Term {
                name: t.name.clone().unwrap_or_else(|| format!("term-{}", i + 1)),
                matches,
                actions,
                verdict: t.verdict.map(Verdict::from),
            });
        }
        Ok(Policy {
            name: name.to_string(),
            terms,
            default: p.get_ref().default.into(),
        })
    }

    /// `ASN:VALUE` (two 16-bit numbers) or a well-known name (`no-export`, ...).
    pub(super) fn community(&self, c: &Spanned<String>) -> Res<Community> {
        let s = c.get_ref().as_str();
        let known = [
            Community::NO_EXPORT,
            Community::NO_ADVERTISE,
            Community::NO_EXPORT_SUBCONFED,
            Community::NOPEER,
            Community::BLACKHOLE,
            Community::GRACEFUL_SHUTDOWN,
        ];
        if let Some(k) = known.iter().find(|k| k.well_known_name() == Some(s)) {
            return Ok(*k);
        }
        let parts: Vec<Option<u16>> = s.split(':').map(|x| x.parse().ok()).collect();
        match parts.as_slice() {
            [Some(a), Some(v)] => Ok(Community::new(*a, *v)),
            _ => Err(self.err(
                c.span(),
                format!(
                    "community {s:?}: expected `ASN:VALUE` (16 bits each) or a well-known name"
                ),
            )),
        }
    }

    /// `GLOBAL:LOCAL1:LOCAL2` (32 bits each).
    pub(super) fn large_community(&self, c: &Spanned<String>) -> Res<LargeCommunity> {
        let s = c.get_ref().as_str();
        let parts: Vec<Option<u32>> = s.split(':').map(|x| x.parse().ok()).collect();
        match parts.as_slice() {
            [Some(global), Some(local1), Some(local2)] => Ok(LargeCommunity {
                global: *global,
                local1: *local1,
                local2: *local2,
            }),
            _ => Err(self.err(
                c.span(),
                format!("large community {s:?}: expected `GLOBAL:LOCAL1:LOCAL2`"),
            )),
        }
    }
}

pub(super) fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let mut v: Vec<&str> = keys.map(String::as_str).collect();
    v.sort_unstable();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
