//! Routes as the API shows them: every path with its attributes, read from the router's RIB.

use std::net::IpAddr;

use bgp_core::rib::{NotBest, Path, family_of, next_hop};
use bgp_core::router::Router;
use bgp_core::wire::PathAttributes;
use bgp_core::wire::attributes::Origin;

use crate::error::SpeakerError;
use crate::query::{PathDetail, PeerTable, PeerTableView, RouteDetail, RouteQuery, TableRoute};

pub(super) fn route_details(r: &Router, q: &RouteQuery) -> Vec<RouteDetail> {
    let rib = r.rib();
    let clock = r.clock(super::now());
    let peer_id = match q.peer {
        None => None,
        Some(a) => match r.peer_index(a) {
            Some(id) => Some(id),
            None => return Vec::new(),
        },
    };
    let mut v: Vec<RouteDetail> = rib
        .iter()
        .filter(|(prefix, _)| {
            q.prefix.is_none_or(|p| p.contains(prefix))
                && q.family.is_none_or(|f| f == family_of(prefix))
        })
        .filter_map(|(prefix, d)| {
            let ecmp = d.multipath().len();
            let paths: Vec<PathDetail> = d
                .paths()
                .iter()
                .enumerate()
                .filter(|(_, p)| peer_id.is_none_or(|id| p.peer() == id))
                .map(|(i, p)| {
                    let mut pd = path_detail(r, p, i == 0 && d.best().is_some(), i < ecmp);
                    pd.not_best = rib.why_not_best(&prefix, i).map(|w| match w {
                        NotBest::Unreachable => "Unreachable".to_string(),
                        NotBest::Lost(reason) => format!("{reason:?}"),
                    });
                    pd
                })
                .collect();
            (!paths.is_empty()).then(|| RouteDetail {
                prefix,
                reason: d.reason().map(|r| format!("{r:?}")),
                age_secs: Some(u64::from(clock.saturating_sub(d.changed()))),
                paths,
            })
        })
        .collect();
    v.sort_by_key(|r| r.prefix);
    v
}

fn path_detail(r: &Router, p: &Path, best: bool, multipath: bool) -> PathDetail {
    let mut d = attrs_detail(r.peer_address(p.peer()), p.path_id(), p.attrs());
    d.best = best;
    d.multipath = multipath;
    d.stale = p.stale();
    d
}

/// A peer's table: see [`PeerTable`].
pub(super) fn peer_table(
    r: &Router,
    peer: IpAddr,
    table: PeerTable,
) -> Result<PeerTableView, SpeakerError> {
    let id = r.peer_index(peer).ok_or(SpeakerError::NoPeer(peer))?;
    let rib = r.rib();
    let pre = rib.adj_rib_in_pre(id);
    let entry = |prefix, accepted, path| TableRoute {
        prefix,
        accepted,
        path,
    };
    let (pre_policy, routes) = match (table, pre) {
        (PeerTable::AdjRibOut, _) => {
            let routes = rib
                .adj_rib_out(id)
                .into_iter()
                .map(|(prefix, path_id, a)| {
                    let from = route_source(r, &prefix, &a);
                    entry(prefix, true, attrs_detail(from, path_id, &a))
                })
                .collect();
            (false, routes)
        }
        (PeerTable::Filtered, None) => return Err(SpeakerError::NotKept(peer)),
        (t, Some(pre)) => {
            let routes = pre
                .into_iter()
                .map(|(prefix, path_id, a)| {
                    let ok = rib.accepted(id, &prefix, path_id);
                    entry(prefix, ok, attrs_detail(Some(peer), path_id, &a))
                })
                .filter(|e| t != PeerTable::Filtered || !e.accepted)
                .collect();
            (true, routes)
        }
        (_, None) => {
            let q = RouteQuery {
                peer: Some(peer),
                ..RouteQuery::default()
            };
            let routes = route_details(r, &q)
                .into_iter()
                .flat_map(|d| {
                    let prefix = d.prefix;
                    d.paths.into_iter().map(move |p| entry(prefix, true, p))
                })
                .collect();
            (false, routes)
        }
    };
    Ok(PeerTableView {
        peer,
        table,
        pre_policy,
        routes,
    })
}

/// The peer a route sent out came from: the table path with the same attributes.
fn route_source(r: &Router, prefix: &ipnet::IpNet, a: &bgp_core::rib::Attrs) -> Option<IpAddr> {
    let d = r.rib().get(prefix)?;
    let p = d
        .paths()
        .iter()
        .find(|p| std::sync::Arc::ptr_eq(p.attrs(), a))
        .or_else(|| d.best())?;
    r.peer_address(p.peer())
}

fn attrs_detail(from: Option<IpAddr>, path_id: u32, a: &PathAttributes) -> PathDetail {
    PathDetail {
        from,
        best: false,
        multipath: false,
        stale: false,
        path_id,
        next_hop: next_hop(a),
        as_path: a
            .as_path
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        origin: a.origin.map(|o| {
            match o {
                Origin::Igp => "igp",
                Origin::Egp => "egp",
                Origin::Incomplete => "incomplete",
            }
            .to_string()
        }),
        local_pref: a.local_pref,
        med: a.med,
        communities: a
            .communities
            .iter()
            .flat_map(|l| l.iter().map(|c| c.to_string()))
            .collect(),
        large_communities: a
            .large_communities
            .iter()
            .flat_map(|l| l.iter().map(|c| c.to_string()))
            .collect(),
        originator_id: a.originator_id,
        cluster_list: a.cluster_list.iter().flat_map(|l| l.iter()).collect(),
        not_best: None,
    }
}
