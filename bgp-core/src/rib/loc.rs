//! The decision process (RFC 4271 9.1) per prefix, and the Loc-RIB: each prefix's paths with
//! the best one and its ECMP companions first.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::best_path::{Candidate, decide_keys};
use super::export::export_dest;
use super::path::{Dest, Path};
use super::{
    AttrStore, Attrs, BestChange, Changes, ExportCache, GroupId, Key, LOCAL, NextHopResolver,
    PeerId, PeerState, Rib, RibConfig, Scratch, adj_out, next_hop,
};
use crate::types::PathId;
use crate::wire::PeerKind;

impl Rib {
    /// The resolver's answers changed: every prefix is decided again.
    pub fn next_hops_changed(&mut self) -> Changes {
        let all: Vec<IpNet> = self.table.prefixes();
        self.recompute(&all)
    }

    // ---- decision ----

    pub(super) fn recompute(&mut self, prefixes: &[IpNet]) -> Changes {
        let mut changes = Changes::default();
        for prefix in prefixes {
            if let Some(c) = self.settle(prefix) {
                changes.best.push(c);
            }
        }
        if self.attrs.sweep_due() {
            self.collect_garbage();
        }
        changes
    }

    /// Decides a prefix again and updates every group; one table lookup.
    pub(super) fn settle(&mut self, prefix: &IpNet) -> Option<BestChange> {
        let Rib {
            cfg,
            peers,
            table,
            attrs,
            groups,
            resolver,
            scratch,
            export_cache,
            ..
        } = self;
        let dest = table.get_mut(prefix)?;
        let change = settle_dest(
            dest,
            prefix,
            cfg,
            peers,
            attrs,
            groups,
            resolver.as_ref(),
            scratch,
            export_cache,
        );
        if dest.paths.is_empty() {
            table.remove(prefix);
        }
        change
    }

    /// Sets (or with `None` removes) one path and settles its prefix: the hot path of
    /// UPDATE processing, with a single table lookup.
    pub(super) fn change(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        path_id: PathId,
        new: Option<Attrs>,
    ) -> Option<BestChange> {
        let Rib {
            cfg,
            peers,
            table,
            attrs,
            groups,
            resolver,
            scratch,
            export_cache,
            clock,
            ..
        } = self;
        let dest = match &new {
            Some(_) => table.entry(&prefix),
            None => table.get_mut(&prefix)?,
        };
        let pos = dest
            .paths
            .iter()
            .position(|p| p.peer() == peer && p.path_id == path_id);
        let mut delta: i64 = 0;
        dest.changed = *clock;
        match (pos, new) {
            (Some(i), Some(a)) => {
                if i < usize::from(dest.multipath) {
                    dest.touched = true;
                }
                let existing = &mut dest.paths[i];
                let old = std::mem::replace(&mut existing.attrs, a);
                existing.set_stale(false);
                attrs.release(old);
            }
            (None, Some(a)) => {
                dest.paths.push(Path::new(peer, path_id, a));
                delta = 1;
            }
            (Some(i), None) => {
                if let Some(p) = dest.remove_at(i) {
                    attrs.release(p.attrs);
                    delta = -1;
                }
            }
            (None, None) => return None,
        }
        if delta != 0
            && let Some(Some(ps)) = peers.get_mut(peer as usize)
        {
            let v6 = usize::from(prefix.addr().is_ipv6());
            ps.accepted[v6] = ps.accepted[v6].saturating_add_signed(delta);
        }
        let change = settle_dest(
            dest,
            &prefix,
            cfg,
            peers,
            attrs,
            groups,
            resolver.as_ref(),
            scratch,
            export_cache,
        );
        if dest.paths.is_empty() {
            table.remove(&prefix);
        }
        change
    }

    /// Frees the attribute sets no route uses any more.
    pub fn collect_garbage(&mut self) {
        self.attrs.sweep();
        self.export_cache
            .retain(|_, (src, _)| src.strong_count() > 0);
        self.attrs.sweep();
    }
}

/// Runs the decision process for one prefix; the change if the best path or the ECMP
/// set changed.
pub(super) fn decide_dest(
    dest: &mut Dest,
    prefix: &IpNet,
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    resolver: &dyn NextHopResolver,
    sc: &mut Scratch,
    rank: bool,
) -> Option<BestChange> {
    let forced = std::mem::take(&mut dest.touched);
    let ident = |p: &Path| {
        (
            p.peer(),
            p.path_id,
            std::sync::Arc::as_ptr(&p.attrs) as usize,
        )
    };
    // The reason of the last decision stays while paths are removed: it tells whether
    // there was a best path before.
    let had_best = dest.reason.is_some();
    sc.old.clear();
    sc.old.extend(dest.multipath().iter().map(ident));
    sc.keys.clear();
    sc.eligible.clear();
    for (i, p) in dest.paths.iter().enumerate() {
        let cost = match next_hop(&p.attrs) {
            // A locally originated route may have no next hop.
            None if p.peer() == LOCAL => Some(0),
            None => None,
            Some(nh) => resolver.resolve(nh),
        };
        let Some(igp_cost) = cost else { continue };
        let ps = peers.get(p.peer() as usize).and_then(Option::as_ref);
        sc.eligible.push(i);
        sc.keys.push(Key::of(&Candidate {
            attrs: &p.attrs,
            local: p.peer() == LOCAL,
            external: ps.is_some_and(|s| s.cfg.kind == PeerKind::External),
            peer_router_id: ps
                .and_then(|s| s.session.as_ref().map(|x| x.router_id))
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            peer_address: ps.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |s| s.cfg.address),
            path_id: p.path_id,
            igp_cost,
        }));
    }
    if sc.keys.is_empty() {
        dest.multipath = 0;
        dest.reason = None;
    } else {
        let (_, reason) = decide_keys(&sc.keys, &cfg.decision, &mut sc.set, &mut sc.multipath);
        if rank && sc.keys.len() > sc.multipath.len() {
            rank_rest(dest, cfg, sc);
            dest.multipath = sc.multipath.len().min(255) as u8;
            dest.reason = Some(reason);
            return best_change(dest, prefix, forced, had_best, sc, ident);
        }
        // Bring the ECMP set to the front in place, best first.
        let order = &sc.multipath;
        for (k, cand) in order.iter().enumerate() {
            let target = sc.eligible[*cand];
            dest.paths.swap(k, target);
            // Whatever stood at k moved to `target`.
            for e in sc.eligible.iter_mut() {
                if *e == k {
                    *e = target;
                } else if *e == target {
                    *e = k;
                }
            }
        }
        dest.multipath = order.len().min(255) as u8;
        dest.reason = Some(reason);
    }
    best_change(dest, prefix, forced, had_best, sc, ident)
}

/// What changed for the owner: nothing when the ECMP set is the one before.
fn best_change(
    dest: &Dest,
    prefix: &IpNet,
    forced: bool,
    had_best: bool,
    sc: &Scratch,
    ident: impl Fn(&Path) -> (PeerId, PathId, usize),
) -> Option<BestChange> {
    let same = !forced
        && sc.old.len() == usize::from(dest.multipath)
        && sc
            .old
            .iter()
            .zip(dest.multipath())
            .all(|(a, p)| *a == ident(p));
    if same {
        return None;
    }
    Some(BestChange {
        prefix: *prefix,
        best: dest.best().cloned(),
        next_hops: dest
            .multipath()
            .iter()
            .filter_map(|p| next_hop(&p.attrs))
            .collect(),
        had_best,
    })
}

/// Orders every usable path, for a group sent the best N (ADD-PATH): the ECMP set first,
/// then the best of the rest, and so on; the unusable paths last. The decision process is
/// not a total order (MED compares within a neighbouring AS), so each next path is the
/// winner among those left.
fn rank_rest(dest: &mut Dest, cfg: &RibConfig, sc: &mut Scratch) {
    let mut ranked: Vec<usize> = sc.multipath.clone();
    let mut rest: Vec<usize> = (0..sc.keys.len()).filter(|i| !ranked.contains(i)).collect();
    let (mut keys, mut set, mut mp) = (Vec::new(), Vec::new(), Vec::new());
    while !rest.is_empty() {
        keys.clear();
        keys.extend(rest.iter().map(|i| sc.keys[*i]));
        let (b, _) = decide_keys(&keys, &cfg.decision, &mut set, &mut mp);
        ranked.push(rest.remove(b));
    }
    // Positions in their new order: the ranked usable paths, then the others as they were.
    let mut order: Vec<usize> = ranked.iter().map(|c| sc.eligible[*c]).collect();
    let unusable: Vec<usize> = (0..dest.paths.len())
        .filter(|i| !order.contains(i))
        .collect();
    order.extend(unusable);
    let moved: Vec<Path> = order.iter().map(|i| dest.paths[*i].clone()).collect();
    for (slot, p) in dest.paths.iter_mut().zip(moved) {
        *slot = p;
    }
}

/// Decides a prefix again and brings every group up to date with it.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle_dest(
    dest: &mut Dest,
    prefix: &IpNet,
    cfg: &RibConfig,
    peers: &[Option<PeerState>],
    attrs: &mut AttrStore,
    groups: &mut adj_out::Groups,
    resolver: &dyn NextHopResolver,
    scratch: &mut Scratch,
    export_cache: &mut ExportCache,
) -> Option<BestChange> {
    let change = decide_dest(
        dest,
        prefix,
        cfg,
        peers,
        resolver,
        scratch,
        groups.ranks_paths(),
    );
    let ids: smallvec::SmallVec<[GroupId; 8]> = groups.ids().collect();
    for g in ids {
        export_dest(
            g,
            prefix,
            Some(dest),
            cfg,
            peers,
            attrs,
            groups,
            export_cache,
            &mut scratch.want,
        );
    }
    change
}
