//! Routes as the API shows them: every path with its attributes, read from the router's RIB.

use bgp_core::rib::{Path, family_of, next_hop};
use bgp_core::router::Router;
use bgp_core::wire::attributes::Origin;

use crate::query::{PathDetail, RouteDetail, RouteQuery};

pub(super) fn route_details(r: &Router, q: &RouteQuery) -> Vec<RouteDetail> {
    let rib = r.rib();
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
                .map(|(i, p)| path_detail(r, p, i == 0 && d.best().is_some(), i < ecmp))
                .collect();
            (!paths.is_empty()).then(|| RouteDetail {
                prefix,
                reason: d.reason().map(|r| format!("{r:?}")),
                paths,
            })
        })
        .collect();
    v.sort_by_key(|r| r.prefix);
    v
}

fn path_detail(r: &Router, p: &Path, best: bool, multipath: bool) -> PathDetail {
    let a = p.attrs();
    PathDetail {
        from: r.peer_address(p.peer()),
        best,
        multipath,
        stale: p.stale(),
        path_id: p.path_id(),
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
    }
}
