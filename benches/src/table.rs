//! A full Internet table, generated deterministically from real distributions, and the
//! UPDATEs that carry it.
//!
//! Sizes and prefix lengths follow today's tables (bgp.potaroo.net, APNIC's "BGP in 2024":
//! about 1,000,000 IPv4 prefixes, 60 % of them /24s; about 220,000 IPv6 prefixes, average
//! length near /43, mostly /48 and /32). AS path lengths, community counts, large
//! communities, ORIGIN, MED and AGGREGATOR frequencies, and the number of prefixes sharing
//! one attribute set come from the RIPE RIS update files and samples in the corpora
//! (rrc15 and rrc03 of 2010-02-27, mrtparse's quagga_rib and bird_bgp: 2,489 UPDATEs read
//! with `route-reflector decode`). With 2.88 prefixes per set on average, a full table
//! has about 420,000 distinct attribute sets, and the UPDATEs are packed by set as a real
//! speaker sends them.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_core::wire::attributes::{
    Aggregator, AsPath, Community, LargeCommunity, MpNlri, MpReach, MpUnreach, NextHop, Origin,
    PathAttributes,
};
use bgp_core::wire::{Context, Message, Prefixes, Update};
use bgp_core::{Afi, Family};
use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// IPv4 and IPv6 prefixes of the whole table.
pub const FULL_V4: usize = 1_000_000;
pub const FULL_V6: usize = 200_000;

/// IPv4 prefix lengths, per 100,000 prefixes of the table.
const V4_LENGTHS: &[(u8, u32)] = &[
    (8, 2),
    (9, 2),
    (10, 4),
    (11, 10),
    (12, 30),
    (13, 60),
    (14, 110),
    (15, 200),
    (16, 1_350),
    (17, 800),
    (18, 1_400),
    (19, 2_600),
    (20, 4_500),
    (21, 4_600),
    (22, 12_000),
    (23, 10_000),
    (24, 62_334),
];

/// IPv6 prefix lengths, per 100,000 (average /43).
const V6_LENGTHS: &[(u8, u32)] = &[
    (20, 10),
    (24, 40),
    (28, 1_000),
    (29, 3_000),
    (30, 500),
    (31, 500),
    (32, 15_000),
    (33, 1_000),
    (34, 1_000),
    (35, 1_000),
    (36, 4_000),
    (38, 1_000),
    (40, 6_000),
    (41, 500),
    (42, 2_000),
    (44, 7_000),
    (45, 1_500),
    (46, 4_000),
    (47, 3_000),
    (48, 46_950),
];

/// AS path lengths (prepends included) as the corpus shows them, UPDATEs per length.
const PATH_LENGTHS: &[(u8, u32)] = &[
    (2, 16),
    (3, 239),
    (4, 349),
    (5, 610),
    (6, 441),
    (7, 337),
    (8, 165),
    (9, 87),
    (10, 65),
    (11, 81),
    (12, 21),
    (13, 34),
    (14, 13),
    (15, 11),
    (16, 10),
    (17, 2),
    (18, 1),
    (20, 1),
    (21, 3),
    (40, 1),
];

/// Communities per route in the corpus.
const COMMUNITY_COUNTS: &[(u8, u32)] = &[
    (0, 986),
    (1, 815),
    (2, 273),
    (3, 166),
    (4, 60),
    (5, 52),
    (6, 81),
    (7, 8),
    (8, 45),
    (10, 1),
    (11, 1),
    (12, 1),
];

/// Prefixes per UPDATE in the corpus: how many prefixes share an attribute set.
const SET_SIZES: &[(u8, u32)] = &[
    (1, 1716),
    (2, 296),
    (3, 116),
    (4, 60),
    (5, 37),
    (6, 35),
    (7, 11),
    (8, 36),
    (9, 41),
    (10, 12),
    (11, 5),
    (12, 19),
    (13, 5),
    (14, 8),
    (15, 7),
    (16, 3),
    (17, 3),
    (18, 2),
    (19, 7),
    (20, 6),
    (21, 6),
    (22, 6),
    (23, 1),
    (24, 1),
    (25, 13),
    (26, 29),
    (63, 1),
    (71, 1),
    (78, 2),
    (97, 4),
];

/// Origin ASes in today's table (about 75,000), drawn with a Zipf law (a few originate
/// thousands of prefixes, most one or two).
const ORIGIN_ASES: usize = 75_000;
/// Transit ASes between the neighbour and the origin.
const TRANSIT_ASES: usize = 2_000;

fn pick(rng: &mut StdRng, table: &[(u8, u32)]) -> u8 {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for &(v, w) in table {
        if x < w {
            return v;
        }
        x -= w;
    }
    table.last().map_or(0, |(v, _)| *v)
}

/// A Zipf law over 1..=n by its cumulative weights.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        Zipf(
            (1..=n)
                .map(|k| {
                    acc += 1.0 / k as f64;
                    acc
                })
                .collect(),
        )
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let x = rng.random::<f64>() * self.0.last().copied().unwrap_or(1.0);
        self.0.partition_point(|c| *c < x)
    }
}

/// One attribute set as its origin sent it, before a feeder makes it its own.
#[derive(Clone, Debug)]
pub struct AttrSet {
    /// The AS path after the feeder's neighbour: transit ASes, then the origin.
    pub path: Vec<u32>,
    pub origin: Origin,
    pub med: Option<u32>,
    pub aggregator: Option<Aggregator>,
    /// Community values (`neighbour AS:value` once a feeder sends them).
    pub communities: Vec<u16>,
    pub large: Vec<(u32, u32)>,
    pub ipv6: bool,
}

/// The generated table: prefixes (IPv4 first) and the attribute set of each.
#[derive(Debug)]
pub struct Table {
    pub prefixes: Vec<IpNet>,
    /// The attribute set of each prefix (an index into `sets`).
    pub set_of: Vec<u32>,
    pub sets: Vec<AttrSet>,
}

/// The key a receiver finds a prefix by: family, length and the leading address bits.
pub fn key_v4(len: u8, addr: u32) -> u64 {
    (u64::from(len) << 32) | u64::from(addr)
}

/// IPv6 prefixes of the table are at most /48: the first 48 bits name them.
pub fn key_v6(len: u8, top48: u64) -> u64 {
    (1 << 63) | (u64::from(len) << 48) | top48
}

pub fn key(p: &IpNet) -> u64 {
    match p {
        IpNet::V4(n) => key_v4(n.prefix_len(), u32::from(n.addr())),
        IpNet::V6(n) => key_v6(n.prefix_len(), (u128::from(n.addr()) >> 80) as u64),
    }
}

fn v4_prefix(rng: &mut StdRng, len: u8) -> Option<IpNet> {
    let a: u32 = rng.random::<u32>() & (u32::MAX << (32 - len));
    let first = a >> 24;
    // Unicast space only, and none of the lab's own 10/8.
    if first == 0 || first == 10 || first == 127 || first >= 224 || (a >> 22) == (100 << 2) + 1 {
        return None;
    }
    Some(IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).ok()?))
}

fn v6_prefix(rng: &mut StdRng, len: u8) -> Option<IpNet> {
    // 2000::/3 as allocated: 2001::/16 to 2c0f::/16.
    let top16 = 0x2001 + rng.random_range(0..0x0c0f_u32 - 0x0001);
    let rest: u128 = u128::from(rng.random::<u64>()) << 48;
    let a = (u128::from(top16) << 112 | rest) & (u128::MAX << (128 - len));
    Some(IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).ok()?))
}

fn attr_set(rng: &mut StdRng, origins: &Zipf, transits: &Zipf, ipv6: bool) -> AttrSet {
    let len = usize::from(pick(rng, PATH_LENGTHS));
    let origin_as = 131_072 + origins.sample(rng) as u32;
    // The neighbour is the feeder's; the rest are transit ASes, then the origin.
    let mut path: Vec<u32> = (0..len.saturating_sub(2))
        .map(|_| 3000 + transits.sample(rng) as u32)
        .collect();
    path.push(origin_as);
    // Prepending, as seen in long paths: the origin repeated.
    if len > 10 {
        let keep = len / 2;
        path.truncate(keep);
        path.resize(len - 1, origin_as);
    }
    let origin = match rng.random_range(0..2489) {
        0..2171 => Origin::Igp,
        2171..2463 => Origin::Incomplete,
        _ => Origin::Egp,
    };
    let med = (rng.random_range(0..2489) < 286).then(|| rng.random_range(0..1000));
    let aggregator = (rng.random_range(0..2489) < 401).then(|| Aggregator {
        asn: origin_as,
        address: Ipv4Addr::from(rng.random::<u32>()),
    });
    let communities = (0..pick(rng, COMMUNITY_COUNTS))
        .map(|_| rng.random_range(1..4000))
        .collect();
    let large = if rng.random_range(0..2489) < 2 {
        (0..3)
            .map(|_| (rng.random_range(1..100), rng.random_range(1..100)))
            .collect()
    } else {
        Vec::new()
    };
    AttrSet {
        path,
        origin,
        med,
        aggregator,
        communities,
        large,
        ipv6,
    }
}

impl Table {
    /// The table at `scale` (1.0: 1,000,000 IPv4 and 200,000 IPv6 prefixes), the same for
    /// the same scale.
    pub fn generate(scale: f64) -> Table {
        let mut rng = StdRng::seed_from_u64(0x7ab1e);
        let origins = Zipf::new(ORIGIN_ASES);
        let transits = Zipf::new(TRANSIT_ASES);
        let mut prefixes = Vec::new();
        let mut set_of = Vec::new();
        let mut sets = Vec::new();
        let mut seen = HashSet::new();
        for (ipv6, full, lengths) in [(false, FULL_V4, V4_LENGTHS), (true, FULL_V6, V6_LENGTHS)] {
            let n = ((full as f64 * scale) as usize).max(1);
            let parts: u32 = lengths.iter().map(|(_, w)| w).sum();
            let mut of_len: Vec<IpNet> = Vec::with_capacity(n);
            for (j, &(len, w)) in lengths.iter().enumerate() {
                // At most an eighth of the space of a length (the short ones are few), and
                // the last length takes what is left.
                let room = 1u64 << (u32::from(len) - if ipv6 { 3 } else { 0 }).min(40) >> 3;
                let want = if j + 1 == lengths.len() {
                    n - of_len.len()
                } else {
                    ((n as u64 * u64::from(w)).div_ceil(u64::from(parts))).min(room) as usize
                };
                let mut got = 0;
                while got < want && of_len.len() < n {
                    let p = if ipv6 {
                        v6_prefix(&mut rng, len)
                    } else {
                        v4_prefix(&mut rng, len)
                    };
                    if let Some(p) = p
                        && seen.insert(key(&p))
                    {
                        of_len.push(p);
                        got += 1;
                    }
                }
            }
            // Sets of prefixes taken at random across lengths (an origin's blocks differ).
            let mut order: Vec<usize> = (0..of_len.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            let mut at = 0;
            while at < order.len() {
                let size = usize::from(pick(&mut rng, SET_SIZES)).min(order.len() - at);
                let set = sets.len() as u32;
                sets.push(attr_set(&mut rng, &origins, &transits, ipv6));
                for &i in &order[at..at + size] {
                    prefixes.push(of_len[i]);
                    set_of.push(set);
                }
                at += size;
            }
        }
        Table {
            prefixes,
            set_of,
            sets,
        }
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

/// How a feeder sends the table: its neighbour AS (first in every path), LOCAL_PREF and
/// next hops.
#[derive(Clone, Copy, Debug)]
pub struct FeederAttrs {
    pub neighbor_as: u32,
    pub local_pref: u32,
    pub next_hop: Ipv4Addr,
    pub next_hop6: Ipv6Addr,
}

/// The attributes `f` sends set `s` with; `variant` > 0 is a changed copy (churn: one more
/// prepend and another MED).
pub fn attributes(s: &AttrSet, f: &FeederAttrs, variant: u32) -> PathAttributes {
    let mut path = vec![f.neighbor_as];
    if variant > 0 {
        path.push(f.neighbor_as);
    }
    path.extend_from_slice(&s.path);
    let n = f.neighbor_as as u16;
    PathAttributes {
        origin: Some(s.origin),
        as_path: Some(AsPath::from_sequence(&path)),
        next_hop: (!s.ipv6).then_some(f.next_hop),
        med: if variant > 0 { Some(variant) } else { s.med },
        local_pref: Some(f.local_pref),
        aggregator: s.aggregator,
        communities: (!s.communities.is_empty()).then(|| {
            s.communities
                .iter()
                .map(|v| Community::new(n, *v))
                .collect()
        }),
        large_communities: (!s.large.is_empty()).then(|| {
            s.large
                .iter()
                .map(|(a, b)| LargeCommunity {
                    global: f.neighbor_as,
                    local1: *a,
                    local2: *b,
                })
                .collect()
        }),
        ..PathAttributes::default()
    }
}

const MAX_MESSAGE: usize = 4096;

fn nlri_len(p: &IpNet) -> usize {
    1 + usize::from(p.prefix_len()).div_ceil(8)
}

fn encode(u: Update) -> Bytes {
    Message::from(u)
        .to_bytes(&Context::default())
        .expect("a message of the table encodes")
}

/// UPDATEs announcing `prefixes` (one family) with `attrs`, each as full as fits.
pub fn announce(attrs: &PathAttributes, prefixes: &[IpNet], nh6: Ipv6Addr, out: &mut Vec<Bytes>) {
    let ipv6 = prefixes.first().is_some_and(|p| p.addr().is_ipv6());
    let base = attrs.to_block(&Context::default()).map_or(200, |b| b.len());
    // Header, two length fields, and MP_REACH_NLRI's own (header, AFI, SAFI, next hop).
    let room = MAX_MESSAGE - 19 - 4 - base - if ipv6 { 4 + 3 + 1 + 16 + 1 } else { 0 };
    let mut at = 0;
    while at < prefixes.len() {
        let mut used = 0;
        let mut end = at;
        while end < prefixes.len() && used + nlri_len(&prefixes[end]) <= room {
            used += nlri_len(&prefixes[end]);
            end += 1;
        }
        let chunk = prefixes[at..end].iter().copied();
        let u = if ipv6 {
            let mut a = attrs.clone();
            a.mp_reach = Some(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: NextHop::Ipv6 {
                    global: nh6,
                    link_local: None,
                },
                nlri: MpNlri::Prefixes(
                    Prefixes::from_entries(Afi::IPV6, false, chunk).expect("IPv6"),
                ),
            });
            Update::new(
                Prefixes::empty(Afi::IPV4, false),
                a,
                Prefixes::empty(Afi::IPV4, false),
            )
        } else {
            Update::new(
                Prefixes::empty(Afi::IPV4, false),
                attrs.clone(),
                Prefixes::from_entries(Afi::IPV4, false, chunk).expect("IPv4"),
            )
        };
        out.push(encode(u));
        at = end;
    }
}

/// UPDATEs withdrawing `prefixes` (one family).
pub fn withdraw(prefixes: &[IpNet], out: &mut Vec<Bytes>) {
    let ipv6 = prefixes.first().is_some_and(|p| p.addr().is_ipv6());
    let room = MAX_MESSAGE - 19 - 4 - if ipv6 { 4 + 3 } else { 0 };
    let mut at = 0;
    while at < prefixes.len() {
        let mut used = 0;
        let mut end = at;
        while end < prefixes.len() && used + nlri_len(&prefixes[end]) <= room {
            used += nlri_len(&prefixes[end]);
            end += 1;
        }
        let chunk = prefixes[at..end].iter().copied();
        let u = if ipv6 {
            let a = PathAttributes {
                mp_unreach: Some(MpUnreach {
                    family: Family::IPV6_UNICAST,
                    nlri: MpNlri::Prefixes(
                        Prefixes::from_entries(Afi::IPV6, false, chunk).expect("IPv6"),
                    ),
                }),
                ..PathAttributes::default()
            };
            Update::new(
                Prefixes::empty(Afi::IPV4, false),
                a,
                Prefixes::empty(Afi::IPV4, false),
            )
        } else {
            Update::new(
                Prefixes::from_entries(Afi::IPV4, false, chunk).expect("IPv4"),
                PathAttributes::default(),
                Prefixes::empty(Afi::IPV4, false),
            )
        };
        out.push(encode(u));
        at = end;
    }
}

/// Groups `idx` (prefix indices) by attribute set, in set order.
fn by_set(t: &Table, idx: &mut [u32]) -> Vec<(u32, Vec<IpNet>)> {
    idx.sort_unstable_by_key(|&i| (t.set_of[i as usize], i));
    let mut out: Vec<(u32, Vec<IpNet>)> = Vec::new();
    for &i in idx.iter() {
        let s = t.set_of[i as usize];
        match out.last_mut() {
            Some((last, v)) if *last == s => v.push(t.prefixes[i as usize]),
            _ => out.push((s, vec![t.prefixes[i as usize]])),
        }
    }
    out
}

/// The whole table as `f` sends it, packed by attribute set.
pub fn feed(t: &Table, f: &FeederAttrs) -> Vec<Bytes> {
    let mut idx: Vec<u32> = (0..t.len() as u32).collect();
    let mut out = Vec::new();
    for (s, p) in by_set(t, &mut idx) {
        announce(
            &attributes(&t.sets[s as usize], f, 0),
            &p,
            f.next_hop6,
            &mut out,
        );
    }
    out
}

/// Which prefixes change in which second of the churn, the same for sender and receivers:
/// second `b` takes the next 1 % of a fixed shuffle of the table; of that, half are
/// announced again with changed attributes and half withdrawn, to be announced again (with
/// their first attributes) the second after.
#[derive(Debug)]
pub struct Churn {
    /// Per prefix: the second it changes in, or `u16::MAX`.
    pub second_of: Vec<u16>,
    /// Per prefix: whether it is withdrawn (then announced again) rather than changed.
    pub flaps: Vec<bool>,
    /// Per second: the prefixes changed and the prefixes withdrawn.
    pub changed: Vec<Vec<u32>>,
    pub withdrawn: Vec<Vec<u32>>,
}

impl Churn {
    pub fn new(len: usize, seconds: usize, per_second: f64) -> Churn {
        let mut rng = StdRng::seed_from_u64(0xc4u64);
        let mut order: Vec<u32> = (0..len as u32).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let each = ((len as f64 * per_second) as usize).max(2);
        let mut second_of = vec![u16::MAX; len];
        let mut flaps = vec![false; len];
        let mut changed = Vec::new();
        let mut withdrawn = Vec::new();
        for (b, chunk) in order.chunks(each).take(seconds).enumerate() {
            let (c, w) = chunk.split_at(chunk.len() / 2);
            for &i in chunk {
                second_of[i as usize] = b as u16;
            }
            for &i in w {
                flaps[i as usize] = true;
            }
            changed.push(c.to_vec());
            withdrawn.push(w.to_vec());
        }
        Churn {
            second_of,
            flaps,
            changed,
            withdrawn,
        }
    }

    /// The UPDATEs second `b` sends: the withdrawals of the second before announced again,
    /// this second's changes and withdrawals.
    pub fn second(&self, t: &Table, f: &FeederAttrs, b: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some(prev) = b.checked_sub(1).and_then(|p| self.withdrawn.get(p)) {
            for (s, p) in by_set(t, &mut prev.clone()) {
                announce(
                    &attributes(&t.sets[s as usize], f, 0),
                    &p,
                    f.next_hop6,
                    &mut out,
                );
            }
        }
        if let Some(c) = self.changed.get(b) {
            for (s, p) in by_set(t, &mut c.clone()) {
                let a = attributes(&t.sets[s as usize], f, 1 + b as u32);
                announce(&a, &p, f.next_hop6, &mut out);
            }
        }
        if let Some(w) = self.withdrawn.get(b) {
            let mut idx = w.clone();
            idx.sort_unstable();
            let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = idx
                .iter()
                .map(|&i| t.prefixes[i as usize])
                .partition(|p| p.addr().is_ipv4());
            for p in [v4, v6] {
                if !p.is_empty() {
                    withdraw(&p, &mut out);
                }
            }
        }
        out
    }
}

/// The table as a TABLE_DUMP_V2 file (RFC 6396): a PEER_INDEX_TABLE of the feeders, then one
/// RIB record per prefix with each feeder's path.
pub fn table_dump(t: &Table, feeders: &[FeederAttrs], timestamp: u32) -> bytes::BytesMut {
    use bgp_core::mrt::{
        PeerEntry, PeerIndexTable, Record, RecordBody, RibEntry, RibRecord, record_type,
        rib_context,
    };
    let mut out = bytes::BytesMut::new();
    let record = |body| Record {
        timestamp,
        microseconds: None,
        kind: record_type::TABLE_DUMP_V2,
        subtype: 0,
        body,
    };
    record(RecordBody::PeerIndexTable(PeerIndexTable {
        collector_id: Ipv4Addr::new(10, 254, 0, 1),
        view_name: String::new(),
        peers: feeders
            .iter()
            .map(|f| PeerEntry {
                bgp_id: f.next_hop,
                ip: f.next_hop.into(),
                asn: f.neighbor_as,
            })
            .collect(),
    }))
    .encode(&mut out);
    let ctx = rib_context();
    // Each feeder's attributes per set, encoded once.
    let mut blocks: Vec<Vec<Bytes>> = vec![Vec::new(); feeders.len()];
    for (f, b) in feeders.iter().zip(&mut blocks) {
        *b = t
            .sets
            .iter()
            .map(|s| {
                let mut a = attributes(s, f, 0);
                if s.ipv6 {
                    a.mp_reach = Some(MpReach {
                        family: Family::IPV6_UNICAST,
                        next_hop: NextHop::Ipv6 {
                            global: f.next_hop6,
                            link_local: None,
                        },
                        nlri: MpNlri::Prefixes(Prefixes::empty(Afi::IPV6, false)),
                    });
                }
                a.to_block(&ctx).expect("attributes encode")
            })
            .collect();
    }
    for (i, p) in t.prefixes.iter().enumerate() {
        let set = t.set_of[i] as usize;
        record(RecordBody::Rib(RibRecord {
            sequence: i as u32,
            family: if p.addr().is_ipv4() {
                Family::IPV4_UNICAST
            } else {
                Family::IPV6_UNICAST
            },
            prefix: Some(*p),
            entries: blocks
                .iter()
                .enumerate()
                .map(|(f, b)| RibEntry {
                    peer_index: f as u16,
                    originated: timestamp,
                    path_id: None,
                    attributes: b[set].clone(),
                })
                .collect(),
        }))
        .encode(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_mix_and_sharing_of_a_real_one() {
        let t = Table::generate(0.02);
        let v4 = t.prefixes.iter().filter(|p| p.addr().is_ipv4()).count();
        let v6 = t.len() - v4;
        assert!((19_000..=21_000).contains(&v4), "{v4}");
        assert!((3_800..=4_200).contains(&v6), "{v6}");
        let s24 = t.prefixes.iter().filter(|p| p.prefix_len() == 24).count();
        assert!((0.55..0.67).contains(&(s24 as f64 / v4 as f64)));
        let s48 = t
            .prefixes
            .iter()
            .filter(|p| p.addr().is_ipv6() && p.prefix_len() == 48)
            .count();
        assert!((0.42..0.54).contains(&(s48 as f64 / v6 as f64)));
        let per_set = t.len() as f64 / t.sets.len() as f64;
        assert!((2.3..3.5).contains(&per_set), "{per_set}");
        // Deterministic.
        let again = Table::generate(0.02);
        assert_eq!(again.prefixes, t.prefixes);
        assert_eq!(again.set_of, t.set_of);
    }

    #[test]
    fn table_dump_reads_back_with_every_prefix_and_path() {
        use bgp_core::mrt::{MrtReader, RecordBody};
        let t = Table::generate(0.001);
        let f = |i: u32| FeederAttrs {
            neighbor_as: 64_601 + i,
            local_pref: 100,
            next_hop: Ipv4Addr::new(10, 255, 0, 1 + i as u8),
            next_hop6: "fd00:ff::1".parse().unwrap(),
        };
        let dump = table_dump(&t, &[f(0), f(1)], 1_700_000_000).freeze();
        let mut prefixes = Vec::new();
        for r in MrtReader::new(dump) {
            if let RecordBody::Rib(rib) = r.expect("a record").body {
                assert_eq!(rib.entries.len(), 2);
                prefixes.push(rib.prefix.expect("an IP prefix"));
            }
        }
        assert_eq!(prefixes, t.prefixes);
    }

    #[test]
    fn feed_decodes_to_every_prefix_once() {
        let t = Table::generate(0.005);
        let f = FeederAttrs {
            neighbor_as: 64_601,
            local_pref: 100,
            next_hop: Ipv4Addr::new(10, 255, 0, 1),
            next_hop6: "fd00:ff::1".parse().unwrap(),
        };
        let mut seen = HashSet::new();
        for m in feed(&t, &f) {
            assert!(m.len() <= MAX_MESSAGE);
            let Ok(Message::Update(u)) = Message::decode(&m, &Context::default()) else {
                panic!("not an UPDATE")
            };
            for (_, p) in u.announced() {
                for e in p.iter() {
                    assert!(seen.insert(key(&e.prefix)), "{} twice", e.prefix);
                }
            }
        }
        assert_eq!(seen.len(), t.len());
        let churn = Churn::new(t.len(), 3, 0.01);
        let msgs = churn.second(&t, &f, 1);
        let mut n = 0;
        for m in msgs {
            let Ok(Message::Update(u)) = Message::decode(&m, &Context::default()) else {
                panic!("not an UPDATE")
            };
            n += u.announced().map(|(_, p)| p.len()).sum::<usize>();
            n += u.withdrawals().map(|(_, p)| p.len()).sum::<usize>();
        }
        // This second's 1 % and the last second's withdrawals announced again.
        let want = churn.changed[1].len() + churn.withdrawn[1].len() + churn.withdrawn[0].len();
        assert_eq!(n, want);
        assert!(want >= t.len() / 100);
    }
}
