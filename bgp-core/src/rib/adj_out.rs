//! Update groups: peers that are sent the same routes with the same attributes share one
//! Adj-RIB-Out, computed once, and the UPDATEs encoded once.
//!
//! A group remembers, for each prefix changed since its last flush, what it held before; a
//! flush compares that with what it holds now, so several changes between two flushes come
//! out as one (withdrawals coalesced) and announcements are packed many NLRI per UPDATE per
//! attribute set. A route is never sent back to the member it came from: that member gets
//! its own difference instead of the shared one.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use foldhash::HashMap;
use ipnet::IpNet;

use super::batch::{Batch, Encoded, Flush};
use super::table::PrefixMap;
use super::{Attrs, NextHopMode, PathSelection, PeerConfig, PeerId, PeerSession, RibConfig};
use crate::policy::PolicyRef;
use crate::types::{Afi, Asn, Family, FamilySet, PathId};
use crate::wire::attributes::{MpNlri, MpReach, MpUnreach};
use crate::wire::{Context, Message, NlriEntry, PeerKind, Prefixes, Update};

/// An update group's index.
pub type GroupId = usize;

/// What decides the routes and attributes a peer is sent: peers with equal keys share a
/// group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupKey {
    pub kind: PeerKind,
    pub rr_client: bool,
    pub export: Option<PolicyRef>,
    pub next_hop: NextHopMode,
    pub local_v4: Option<Ipv4Addr>,
    pub local_v6: Option<Ipv6Addr>,
    pub local_as: Option<Asn>,
    pub families: FamilySet,
    pub add_path: FamilySet,
    /// Which paths go where `add_path` holds the family.
    pub add_path_send: PathSelection,
    pub four_octet_as: bool,
    pub extended_message: bool,
    pub extended_next_hop: bool,
    /// Takes long-lived stale routes (RFC 9494).
    pub long_lived: bool,
}

impl GroupKey {
    pub(crate) fn new(p: &PeerConfig, s: &PeerSession, rib: &RibConfig) -> GroupKey {
        GroupKey {
            kind: p.kind,
            // Reflection treats clients and non-clients differently only when reflecting.
            rr_client: p.rr_client && rib.cluster_id.is_some(),
            export: p.export.clone(),
            next_hop: p.next_hop,
            local_v4: p.local_v4,
            local_v6: p.local_v6,
            local_as: p.local_as.filter(|a| *a != rib.local_as),
            families: s.families.iter().copied().collect(),
            add_path: s.add_path_send,
            add_path_send: p.add_path_send,
            four_octet_as: s.four_octet_as,
            extended_message: s.extended_message,
            extended_next_hop: s.extended_next_hop,
            long_lived: s.long_lived,
        }
    }

    /// Sent the best N paths for N > 1 (the best alone needs no ranking).
    fn ranks(&self) -> bool {
        !self.add_path.is_empty() && matches!(self.add_path_send, PathSelection::Best(n) if n > 1)
    }

    fn context(&self) -> Context {
        Context {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path,
            extended_message: self.extended_message,
            peer: self.kind,
            mrt_rib_entry: false,
        }
    }
}

/// One route in an Adj-RIB-Out (16 octets): the attributes sent, the peer the route came
/// from, and the path identifier sent with it (0 without ADD-PATH).
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub attrs: Attrs,
    pub source: PeerId,
    pub id: u32,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Entry) -> bool {
        self.source == o.source && self.id == o.id && Arc::ptr_eq(&self.attrs, &o.attrs)
    }
}

/// The routes a group held for one prefix before a change.
type Slot = smallvec::SmallVec<[Entry; 1]>;

/// A group's Adj-RIB-Out. A prefix has one route to send unless the group gets every path
/// (ADD-PATH). The distinct routes are stored once, and a prefix with one route refers to
/// its route by index: 16 octets an IPv4 prefix. Prefixes with several routes are kept
/// apart.
#[derive(Debug, Default)]
struct AdjOut {
    one: PrefixMap<u32>,
    many: PrefixMap<Vec<Entry>>,
    routes: Routes,
}

impl AdjOut {
    fn get(&self, p: &IpNet) -> &[Entry] {
        match self.one.get(p) {
            Some(i) => self.routes.held(*i),
            None => self.many.get(p).map_or(&[], Vec::as_slice),
        }
    }

    /// Holds `want` for `p` from now on; returns what was held.
    fn replace(&mut self, p: &IpNet, want: &[Entry]) -> Slot {
        let AdjOut { one, many, routes } = self;
        if let [e] = want
            && let Some(held) = one.get_mut(p)
        {
            let old = std::mem::replace(held, routes.acquire(e));
            return routes.release(old).into_iter().collect();
        }
        let old = match one.remove(p) {
            Some(i) => routes.release(i).into_iter().collect(),
            None => many.remove(p).map(Slot::from_vec).unwrap_or_default(),
        };
        match want {
            [] => {}
            [e] => {
                one.insert(p, routes.acquire(e));
            }
            _ => {
                many.insert(p, want.to_vec());
            }
        }
        old
    }

    fn iter(&self) -> impl Iterator<Item = (IpNet, &[Entry])> {
        self.one
            .iter()
            .map(|(p, i)| (p, self.routes.held(*i)))
            .chain(self.many.iter().map(|(p, v)| (p, v.as_slice())))
    }
}

/// The distinct routes of an Adj-RIB-Out, each with the number of prefixes it is sent for.
#[derive(Debug, Default)]
struct Routes {
    slots: Vec<Option<(Entry, u32)>>,
    free: Vec<u32>,
    /// Slot by (attribute set address, source, path identifier). An address stays valid
    /// while indexed: the slot holds the set.
    index: HashMap<(usize, PeerId, u32), u32>,
}

impl Routes {
    fn key(e: &Entry) -> (usize, PeerId, u32) {
        (Arc::as_ptr(&e.attrs) as usize, e.source, e.id)
    }

    /// The route at `i` as a one-route slice (empty for an index already released; indexes
    /// come from `acquire`).
    fn held(&self, i: u32) -> &[Entry] {
        match self.slots.get(i as usize) {
            Some(Some((e, _))) => std::slice::from_ref(e),
            _ => &[],
        }
    }

    /// The index of `e`, counted once more.
    fn acquire(&mut self, e: &Entry) -> u32 {
        let Routes { slots, free, index } = self;
        let i = *index.entry(Self::key(e)).or_insert_with(|| {
            let slot = Some((e.clone(), 0));
            match free.pop() {
                Some(i) => {
                    slots[i as usize] = slot;
                    i
                }
                None => {
                    slots.push(slot);
                    (slots.len() - 1) as u32
                }
            }
        });
        if let Some(Some((_, n))) = slots.get_mut(i as usize) {
            *n += 1;
        }
        i
    }

    /// Counts `i` once less; returns its route (freed when no prefix has it any more).
    fn release(&mut self, i: u32) -> Option<Entry> {
        let slot = self.slots.get_mut(i as usize)?;
        let (e, n) = slot.as_mut()?;
        *n -= 1;
        if *n > 0 {
            return Some(e.clone());
        }
        let (e, _) = slot.take()?;
        self.index.remove(&Self::key(&e));
        self.free.push(i);
        Some(e)
    }
}

#[derive(Debug)]
struct Group {
    key: Arc<GroupKey>,
    members: Vec<PeerId>,
    out: AdjOut,
    /// For prefixes changed since the last flush: what the group held then.
    before: PrefixMap<Slot>,
    last_flush: Option<Instant>,
    /// Routes held, IPv4 and IPv6, in all and by the peer they came from (a member is sent
    /// all but its own).
    held: [u64; 2],
    held_from: HashMap<PeerId, [u64; 2]>,
}

impl Group {
    /// Counts `entries` of `prefix` as held (`add`) or no longer held.
    fn count(&mut self, prefix: &IpNet, entries: &[Entry], add: bool) {
        let f = usize::from(prefix.addr().is_ipv6());
        for e in entries {
            let by = self.held_from.entry(e.source).or_default();
            if add {
                self.held[f] += 1;
                by[f] += 1;
            } else {
                self.held[f] = self.held[f].saturating_sub(1);
                by[f] = by[f].saturating_sub(1);
                if *by == [0, 0] {
                    self.held_from.remove(&e.source);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Groups {
    groups: Vec<Option<Group>>,
    /// Path identifiers we send (ADD-PATH): one per (source, received identifier).
    tx_ids: HashMap<(PeerId, PathId), u32>,
    next_tx: u32,
    /// Groups sent the best N paths (N > 1): the decision then orders every path.
    ranking: usize,
}

impl Groups {
    pub(crate) fn ids(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|_| i))
    }

    /// Whether some group is sent the best N paths, so that paths past the ECMP set must
    /// be kept in decision order.
    pub(crate) fn ranks_paths(&self) -> bool {
        self.ranking > 0
    }

    pub(crate) fn key(&self, g: GroupId) -> Option<Arc<GroupKey>> {
        self.groups.get(g)?.as_ref().map(|g| g.key.clone())
    }

    /// Adds `peer` to the group of `key`; true when the group is new.
    pub(crate) fn join(&mut self, key: GroupKey, peer: PeerId) -> (GroupId, bool) {
        if let Some(i) = self
            .groups
            .iter()
            .position(|g| g.as_ref().is_some_and(|g| *g.key == key))
        {
            if let Some(g) = self.groups[i].as_mut()
                && !g.members.contains(&peer)
            {
                g.members.push(peer);
            }
            return (i, false);
        }
        if key.ranks() {
            self.ranking += 1;
        }
        let g = Group {
            key: Arc::new(key),
            members: vec![peer],
            out: AdjOut::default(),
            before: PrefixMap::default(),
            last_flush: None,
            held: [0; 2],
            held_from: HashMap::default(),
        };
        match self.groups.iter().position(Option::is_none) {
            Some(i) => {
                self.groups[i] = Some(g);
                (i, true)
            }
            None => {
                self.groups.push(Some(g));
                (self.groups.len() - 1, true)
            }
        }
    }

    /// Removes `peer`; an empty group is dropped.
    pub(crate) fn leave(&mut self, g: GroupId, peer: PeerId) {
        if let Some(slot) = self.groups.get_mut(g)
            && let Some(grp) = slot
        {
            grp.members.retain(|m| *m != peer);
            if grp.members.is_empty() {
                if grp.key.ranks() {
                    self.ranking -= 1;
                }
                *slot = None;
            }
        }
    }

    /// Forgets changes accumulated while the group was being built: its first full table is
    /// sent by [`Groups::full_table`].
    pub(crate) fn commit(&mut self, g: GroupId) {
        if let Some(Some(grp)) = self.groups.get_mut(g) {
            grp.before.clear();
        }
    }

    pub(crate) fn tx_path_id(&mut self, peer: PeerId, path_id: PathId) -> u32 {
        let next = &mut self.next_tx;
        *self.tx_ids.entry((peer, path_id)).or_insert_with(|| {
            *next += 1;
            *next
        })
    }

    /// Sets what the group holds for `prefix`; returns the attribute sets no longer held.
    pub(crate) fn set(&mut self, g: GroupId, prefix: IpNet, want: &[Entry]) -> Vec<Attrs> {
        let Some(Some(grp)) = self.groups.get_mut(g) else {
            return Vec::new();
        };
        if grp.out.get(&prefix) == want {
            return Vec::new();
        }
        let old = grp.out.replace(&prefix, want);
        grp.count(&prefix, &old, false);
        grp.count(&prefix, want, true);
        if grp.before.contains(&prefix) {
            old.into_iter().map(|e| e.attrs).collect()
        } else {
            grp.before.insert(&prefix, old);
            Vec::new()
        }
    }

    /// Routes the group sends `peer` (all it holds but the peer's own): IPv4, IPv6.
    pub(crate) fn advertised(&self, g: GroupId, peer: PeerId) -> (u64, u64) {
        let Some(Some(grp)) = self.groups.get(g) else {
            return (0, 0);
        };
        let own = grp.held_from.get(&peer).copied().unwrap_or_default();
        (
            grp.held[0].saturating_sub(own[0]),
            grp.held[1].saturating_sub(own[1]),
        )
    }

    /// Prefix changes not flushed yet, over all groups.
    pub(crate) fn pending(&self) -> usize {
        self.groups.iter().flatten().map(|g| g.before.len()).sum()
    }

    /// Groups with changes that may be flushed now, and when the next one may.
    pub(crate) fn due(&self, now: Instant, interval: Duration) -> (Vec<GroupId>, Option<Instant>) {
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        for (i, g) in self.groups.iter().enumerate() {
            let Some(g) = g else { continue };
            if g.before.is_empty() {
                continue;
            }
            let at = g.last_flush.map_or(now, |t| t + interval);
            if at <= now {
                ready.push(i);
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        (ready, next)
    }

    /// The UPDATEs for the group's changes since its last flush.
    pub(crate) fn flush(&mut self, g: GroupId, now: Instant) -> Flush {
        let Some(Some(grp)) = self.groups.get_mut(g) else {
            return Flush::default();
        };
        grp.last_flush = Some(now);
        let before = std::mem::take(&mut grp.before);
        let mut shared: Buckets = Buckets::default();
        let mut own: HashMap<PeerId, Buckets> = HashMap::default();
        let members = &grp.members;
        for (prefix, old) in before.into_entries() {
            let new = grp.out.get(&prefix);
            let mut excluded: Vec<PeerId> = old
                .iter()
                .chain(new.iter())
                .map(|e| e.source)
                .filter(|s| members.contains(s))
                .collect();
            excluded.sort_unstable();
            excluded.dedup();
            let bucket = shared.by_exclusion.entry(excluded.clone()).or_default();
            diff(&prefix, &old, new, None, bucket);
            for m in excluded {
                diff(
                    &prefix,
                    &old,
                    new,
                    Some(m),
                    own.entry(m).or_default().plain(),
                );
            }
        }
        let ctx = grp.key.context();
        // One list: the shared messages (each skipped by the members whose routes it
        // carries), then each member's own.
        let mut list: Vec<Encoded> = Vec::new();
        let mut skips: HashMap<PeerId, Vec<u32>> = HashMap::default();
        for (excluded, b) in shared.by_exclusion {
            // `excluded` holds members only, each once: all of them leaves no one.
            if excluded.len() >= members.len() {
                continue;
            }
            for e in b.encode(&ctx) {
                for m in &excluded {
                    skips.entry(*m).or_default().push(list.len() as u32);
                }
                list.push(e);
            }
        }
        let shared_len = list.len() as u32;
        let mut extras: HashMap<PeerId, Vec<u32>> = HashMap::default();
        for (m, mut b) in own {
            for e in b.plain().encode(&ctx) {
                extras.entry(m).or_default().push(list.len() as u32);
                list.push(e);
            }
        }
        let mut out = Flush::default();
        if list.is_empty() {
            return out;
        }
        let msgs: Arc<[Encoded]> = list.into();
        for m in members {
            let skip = skips.remove(m).unwrap_or_default();
            let extra = extras.remove(m).unwrap_or_default();
            out.push(*m, Batch::new(msgs.clone(), shared_len, skip, extra));
        }
        out
    }

    /// Every route the group holds, for a member that just joined (its own routes left
    /// out).
    pub(crate) fn full_table(&self, g: GroupId, peer: PeerId, family: Option<Family>) -> Batch {
        let Some(Some(grp)) = self.groups.get(g) else {
            return Batch::all(Arc::new([]));
        };
        let mut b = Bucket::default();
        for (prefix, held) in grp.out.iter() {
            if family.is_none_or(|f| super::family_of(&prefix) == f) {
                diff(&prefix, &[], held, Some(peer), &mut b);
            }
        }
        Batch::all(b.encode(&grp.key.context()).into())
    }

    /// What a member is sent: each prefix, the path identifier it goes with (0 without
    /// ADD-PATH) and the attributes after the export policy.
    pub(crate) fn routes_for(&self, g: GroupId, peer: PeerId) -> Vec<(IpNet, u32, Attrs)> {
        let Some(Some(grp)) = self.groups.get(g) else {
            return Vec::new();
        };
        grp.out
            .iter()
            .flat_map(|(p, held)| {
                held.iter()
                    .filter(|e| e.source != peer)
                    .map(move |e| (p, e.id, e.attrs.clone()))
            })
            .collect()
    }

    /// The (prefix, path identifier) pairs a member holds from the group.
    pub(crate) fn view_for(&self, g: GroupId, peer: PeerId) -> Vec<(IpNet, u32)> {
        let Some(Some(grp)) = self.groups.get(g) else {
            return Vec::new();
        };
        grp.out
            .iter()
            .flat_map(|(p, held)| {
                held.iter()
                    .filter(|e| e.source != peer)
                    .map(move |e| (p, e.id))
            })
            .collect()
    }

    /// Withdrawals for what a member held (`old`) and its new group does not send it.
    pub(crate) fn withdraw_missing(&self, g: GroupId, peer: PeerId, old: &[(IpNet, u32)]) -> Batch {
        let Some(Some(grp)) = self.groups.get(g) else {
            return Batch::all(Arc::new([]));
        };
        let mut b = Bucket::default();
        for (prefix, id) in old {
            let held = grp
                .out
                .get(prefix)
                .iter()
                .any(|e| e.id == *id && e.source != peer);
            if !held {
                b.withdraw(prefix, *id);
            }
        }
        Batch::all(b.encode(&grp.key.context()).into())
    }
}

/// Changes to send, by recipients.
#[derive(Default)]
struct Buckets {
    by_exclusion: HashMap<Vec<PeerId>, Bucket>,
}

impl Buckets {
    fn plain(&mut self) -> &mut Bucket {
        self.by_exclusion.entry(Vec::new()).or_default()
    }
}

/// Announcements by attribute set, and withdrawals by family.
#[derive(Default)]
struct Bucket {
    announce: Vec<(Attrs, Vec<(IpNet, u32)>)>,
    index: HashMap<*const crate::wire::PathAttributes, usize>,
    withdraw_v4: Vec<(IpNet, u32)>,
    withdraw_v6: Vec<(IpNet, u32)>,
}

impl Bucket {
    fn announce(&mut self, prefix: &IpNet, id: u32, attrs: &Attrs) {
        let k = Arc::as_ptr(attrs);
        let i = *self.index.entry(k).or_insert_with(|| {
            self.announce.push((attrs.clone(), Vec::new()));
            self.announce.len() - 1
        });
        self.announce[i].1.push((*prefix, id));
    }

    fn withdraw(&mut self, prefix: &IpNet, id: u32) {
        match prefix {
            IpNet::V4(_) => self.withdraw_v4.push((*prefix, id)),
            IpNet::V6(_) => self.withdraw_v6.push((*prefix, id)),
        }
    }

    /// Packs into UPDATEs no longer than the group's maximum message size.
    fn encode(&self, ctx: &Context) -> Vec<Encoded> {
        let mut out = Vec::new();
        let max = ctx.max_message_len();
        for (family, list) in [
            (Family::IPV4_UNICAST, &self.withdraw_v4),
            (Family::IPV6_UNICAST, &self.withdraw_v6),
        ] {
            let ap = ctx.add_path(family);
            // Header, the two length fields; for MP_UNREACH its header and AFI/SAFI too.
            let budget = if family == Family::IPV4_UNICAST {
                max - 23
            } else {
                max - 23 - 4 - 3
            };
            for chunk in chunks(list, ap, budget) {
                let p = prefixes(family.afi, ap, chunk);
                let mut u = Update::new(
                    Prefixes::empty(Afi::IPV4, false),
                    Default::default(),
                    Prefixes::empty(Afi::IPV4, false),
                );
                let n = chunk.len() as u32;
                if family == Family::IPV4_UNICAST {
                    u.withdrawn = p;
                } else {
                    u.attributes.mp_unreach = Some(MpUnreach {
                        family,
                        nlri: MpNlri::Prefixes(p),
                    });
                }
                push(&mut out, &u, ctx, family, 0, n);
            }
        }
        for (attrs, list) in &self.announce {
            let Some((first, _)) = list.first() else {
                continue;
            };
            let family = match first {
                IpNet::V4(_) => Family::IPV4_UNICAST,
                IpNet::V6(_) => Family::IPV6_UNICAST,
            };
            let ap = ctx.add_path(family);
            let mp = attrs.mp_reach.is_some() || family != Family::IPV4_UNICAST;
            let base = attrs.to_block(ctx).map_or(max, |b| b.len());
            // One more octet in case MP_REACH_NLRI needs the extended length.
            let budget = max.saturating_sub(23 + base + usize::from(mp));
            for chunk in chunks(list, ap, budget.max(64)) {
                let p = prefixes(family.afi, ap, chunk);
                let n = chunk.len() as u32;
                let mut a = (**attrs).clone();
                let u = if mp {
                    let nh = a.mp_reach.take().map(|m| m.next_hop);
                    let Some(next_hop) = nh else {
                        // An IPv6 route without an IPv6 next hop cannot be sent.
                        continue;
                    };
                    a.mp_reach = Some(MpReach {
                        family,
                        next_hop,
                        nlri: MpNlri::Prefixes(p),
                    });
                    if family != Family::IPV4_UNICAST {
                        a.next_hop = None;
                    }
                    Update::new(
                        Prefixes::empty(Afi::IPV4, false),
                        a,
                        Prefixes::empty(Afi::IPV4, false),
                    )
                } else {
                    Update::new(Prefixes::empty(Afi::IPV4, false), a, p)
                };
                push(&mut out, &u, ctx, family, n, 0);
            }
        }
        out
    }
}

fn push(
    out: &mut Vec<Encoded>,
    u: &Update,
    ctx: &Context,
    family: Family,
    announced: u32,
    withdrawn: u32,
) {
    // The budget keeps every message within bounds; one that does not fit is dropped rather
    // than sent malformed.
    if let Ok(bytes) = Message::from(u.clone()).to_bytes(ctx) {
        out.push(Encoded {
            bytes,
            family,
            announced,
            withdrawn,
        });
    }
}

fn entry_len(p: &IpNet, add_path: bool) -> usize {
    1 + usize::from(p.prefix_len()).div_ceil(8) + if add_path { 4 } else { 0 }
}

/// Splits a list into runs whose encoded NLRI fit `budget` octets.
fn chunks(list: &[(IpNet, u32)], add_path: bool, budget: usize) -> Vec<&[(IpNet, u32)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, (p, _)) in list.iter().enumerate() {
        let n = entry_len(p, add_path);
        if used + n > budget && i > start {
            out.push(&list[start..i]);
            start = i;
            used = 0;
        }
        used += n;
    }
    if start < list.len() {
        out.push(&list[start..]);
    }
    out
}

fn prefixes(afi: Afi, add_path: bool, list: &[(IpNet, u32)]) -> Prefixes {
    let entries = list.iter().map(|(p, id)| NlriEntry {
        path_id: add_path.then_some(*id),
        prefix: *p,
    });
    // The lists are split by family, so the family always matches.
    Prefixes::from_entries(afi, add_path, entries)
        .unwrap_or_else(|_| Prefixes::empty(afi, add_path))
}

/// Adds to `b` what turns `old` into `new` for a member (`Some(m)`: without m's own routes)
/// or for the group.
fn diff(prefix: &IpNet, old: &[Entry], new: &[Entry], member: Option<PeerId>, b: &mut Bucket) {
    let keep = |e: &Entry| member.is_none_or(|m| e.source != m);
    for e in new.iter().filter(|e| keep(e)) {
        let unchanged = old.iter().any(|o| keep(o) && o == e);
        if !unchanged {
            b.announce(prefix, e.id, &e.attrs);
        }
    }
    for o in old.iter().filter(|o| keep(o)) {
        if !new.iter().any(|n| n.id == o.id && keep(n)) {
            b.withdraw(prefix, o.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PathAttributes;

    fn entry(attrs: &Attrs, source: PeerId, id: u32) -> Entry {
        Entry {
            attrs: attrs.clone(),
            source,
            id,
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_route_is_stored_once_and_freed_with_its_last_prefix() {
        let a: Attrs = Arc::new(PathAttributes::default());
        let b: Attrs = Arc::new(PathAttributes {
            local_pref: Some(200),
            ..PathAttributes::default()
        });
        let mut out = AdjOut::default();
        let (p1, p2, p3) = (net("10.0.0.0/24"), net("10.0.1.0/24"), net("2001:db8::/48"));
        for p in [p1, p2, p3] {
            assert!(out.replace(&p, &[entry(&a, 1, 0)]).is_empty());
        }
        assert_eq!(out.routes.index.len(), 1);
        // The table holds `a` once, however many prefixes have it.
        assert_eq!(Arc::strong_count(&a), 2);
        assert_eq!(out.get(&p2), [entry(&a, 1, 0)]);
        // Another route for one prefix: the old one comes back, the rest keep theirs.
        let old = out.replace(&p2, &[entry(&b, 2, 0)]);
        assert_eq!(old.as_slice(), [entry(&a, 1, 0)]);
        drop(old);
        assert_eq!(out.get(&p1), [entry(&a, 1, 0)]);
        assert_eq!(out.get(&p2), [entry(&b, 2, 0)]);
        assert_eq!(out.routes.index.len(), 2);
        // Withdrawn everywhere: the route is freed and its slot reused.
        out.replace(&p1, &[]);
        out.replace(&p3, &[]);
        assert_eq!(Arc::strong_count(&a), 1);
        assert_eq!(out.routes.index.len(), 1);
        assert_eq!(out.routes.free.len(), 1);
        out.replace(&p1, &[entry(&a, 3, 0)]);
        assert!(out.routes.free.is_empty());
        assert_eq!(out.routes.slots.len(), 2);
        assert!(out.get(&p3).is_empty());
        let mut all: Vec<(IpNet, Vec<Entry>)> = out.iter().map(|(p, e)| (p, e.to_vec())).collect();
        all.sort_by_key(|(p, _)| *p);
        assert_eq!(
            all,
            [(p1, vec![entry(&a, 3, 0)]), (p2, vec![entry(&b, 2, 0)])]
        );
    }

    #[test]
    fn several_routes_of_a_prefix_are_kept_apart() {
        let a: Attrs = Arc::new(PathAttributes::default());
        let mut out = AdjOut::default();
        let p = net("10.0.0.0/24");
        let two = [entry(&a, 1, 1), entry(&a, 2, 2)];
        assert!(out.replace(&p, &two).is_empty());
        assert!(out.one.is_empty());
        assert_eq!(out.get(&p), two);
        // Down to one: inline, and the pair comes back as what was held.
        assert_eq!(out.replace(&p, &two[..1]).as_slice(), two);
        assert!(out.many.is_empty());
        assert_eq!(out.get(&p), &two[..1]);
        // Up to two again.
        assert_eq!(out.replace(&p, &two).as_slice(), &two[..1]);
        assert_eq!(out.get(&p), two);
        assert!(out.routes.index.is_empty());
        assert_eq!(out.replace(&p, &[]).as_slice(), two);
        assert!(out.get(&p).is_empty());
    }
}
