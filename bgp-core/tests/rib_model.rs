//! Model-based test of the RIB: random announcements, withdrawals and peer resets from
//! several internal and external peers give the same best paths as a naive reference written
//! here, and what the reflector sends each client, applied to a table on the client's side,
//! is exactly the best path of every prefix that did not come from that client.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use bgp_core::policy::Policy;
use bgp_core::rib::{Encoded, LOCAL, PeerConfig, PeerSession, Rib, RibConfig};
use bgp_core::types::FamilySet;
use bgp_core::wire::attributes::{AsPath, Origin, PathAttributes};
use bgp_core::wire::{Context, Message, Prefixes, Update};
use bgp_core::{Afi, Family};
use ipnet::IpNet;
use proptest::prelude::*;

/// A route's distinguishing attributes in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Attr {
    local_pref: u32,
    path: &'static [u32],
    origin: u8,
    med: Option<u32>,
}

const POOL: [Attr; 8] = [
    Attr {
        local_pref: 100,
        path: &[],
        origin: 0,
        med: None,
    },
    Attr {
        local_pref: 200,
        path: &[],
        origin: 0,
        med: None,
    },
    Attr {
        local_pref: 100,
        path: &[65010],
        origin: 0,
        med: Some(10),
    },
    Attr {
        local_pref: 100,
        path: &[65010],
        origin: 0,
        med: Some(5),
    },
    Attr {
        local_pref: 100,
        path: &[65020],
        origin: 0,
        med: Some(1),
    },
    Attr {
        local_pref: 100,
        path: &[65010, 65011],
        origin: 0,
        med: None,
    },
    Attr {
        local_pref: 100,
        path: &[],
        origin: 2,
        med: None,
    },
    Attr {
        local_pref: 50,
        path: &[],
        origin: 0,
        med: None,
    },
];

#[derive(Clone, Copy, Debug)]
struct PeerDef {
    external: bool,
    asn: u32,
    router_id: u32,
}

/// Three reflector clients, one non-client monitor, two eBGP peers.
const PEERS: [PeerDef; 5] = [
    PeerDef {
        external: false,
        asn: 65000,
        router_id: 0x0a00_0003,
    },
    PeerDef {
        external: false,
        asn: 65000,
        router_id: 0x0a00_0001,
    },
    PeerDef {
        external: false,
        asn: 65000,
        router_id: 0x0a00_0002,
    },
    PeerDef {
        external: true,
        asn: 65010,
        router_id: 0x0b00_0001,
    },
    PeerDef {
        external: true,
        asn: 65020,
        router_id: 0x0b00_0002,
    },
];

#[derive(Clone, Debug)]
enum Op {
    Announce {
        peer: usize,
        prefix: u8,
        attr: usize,
    },
    Withdraw {
        peer: usize,
        prefix: u8,
    },
    Reset {
        peer: usize,
    },
    Local {
        prefix: u8,
        attr: Option<usize>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..PEERS.len(), 0u8..12, 0..POOL.len()).prop_map(|(peer, prefix, attr)| Op::Announce { peer, prefix, attr }),
        3 => (0..PEERS.len(), 0u8..12).prop_map(|(peer, prefix)| Op::Withdraw { peer, prefix }),
        1 => (0..PEERS.len()).prop_map(|peer| Op::Reset { peer }),
        1 => (0u8..12, proptest::option::of(0..POOL.len())).prop_map(|(prefix, attr)| Op::Local { prefix, attr }),
    ]
}

fn prefix(i: u8) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(172, 17, i, 0), 24).unwrap())
}

fn peer_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, 10 + i as u8)
}

fn attrs_of(a: &Attr, p: &PeerDef, i: usize) -> PathAttributes {
    let mut path = a.path.to_vec();
    if p.external {
        path.insert(0, p.asn);
    }
    PathAttributes {
        origin: Some(match a.origin {
            0 => Origin::Igp,
            1 => Origin::Egp,
            _ => Origin::Incomplete,
        }),
        as_path: Some(AsPath::from_sequence(&path)),
        next_hop: Some(peer_addr(i)),
        local_pref: (!p.external).then_some(a.local_pref),
        med: a.med,
        ..PathAttributes::default()
    }
}

/// The naive reference: the RFC 4271 9.1.2.2 steps written out on the model's terms.
/// Candidates: (source index or None for local, attribute, peer definition).
fn reference_best(cands: &[(Option<usize>, Attr)]) -> Option<Option<usize>> {
    if cands.is_empty() {
        return None;
    }
    let lp = |c: &(Option<usize>, Attr)| match c.0 {
        Some(i) if PEERS[i].external => 100,
        _ => c.1.local_pref,
    };
    let full_path = |c: &(Option<usize>, Attr)| -> Vec<u32> {
        let mut v = c.1.path.to_vec();
        if let Some(i) = c.0
            && PEERS[i].external
        {
            v.insert(0, PEERS[i].asn);
        }
        v
    };
    let mut set: Vec<&(Option<usize>, Attr)> = cands.iter().collect();
    let max_lp = set.iter().map(|c| lp(c)).max().unwrap();
    set.retain(|c| lp(c) == max_lp);
    if set.iter().any(|c| c.0.is_none()) {
        set.retain(|c| c.0.is_none());
    }
    let min_len = set.iter().map(|c| full_path(c).len()).min().unwrap();
    set.retain(|c| full_path(c).len() == min_len);
    let min_origin = set.iter().map(|c| c.1.origin).min().unwrap();
    set.retain(|c| c.1.origin == min_origin);
    let snapshot = set.clone();
    set.retain(|c| {
        !snapshot.iter().any(|o| {
            full_path(o).first() == full_path(c).first()
                && o.1.med.unwrap_or(0) < c.1.med.unwrap_or(0)
        })
    });
    if set.iter().any(|c| c.0.is_some_and(|i| PEERS[i].external)) {
        set.retain(|c| c.0.is_some_and(|i| PEERS[i].external));
    }
    // Router ID (the local route has none here: 0.0.0.0), then peer address.
    set.sort_by_key(|c| match c.0 {
        None => (0u32, Ipv4Addr::UNSPECIFIED),
        Some(i) => (PEERS[i].router_id, peer_addr(i)),
    });
    Some(set[0].0)
}

fn session(i: usize) -> PeerSession {
    PeerSession {
        router_id: Ipv4Addr::from(PEERS[i].router_id),
        families: vec![Family::IPV4_UNICAST],
        four_octet_as: true,
        add_path_send: FamilySet::EMPTY,
        extended_message: false,
        extended_next_hop: false,
        long_lived: false,
    }
}

fn apply<'a>(table: &mut BTreeMap<IpNet, Ipv4Addr>, msgs: impl Iterator<Item = &'a Encoded>) {
    for m in msgs {
        let Message::Update(u) = Message::decode(&m.bytes, &Context::default()).unwrap() else {
            panic!("not an update")
        };
        for e in &u.withdrawn {
            table.remove(&e.prefix);
        }
        for e in &u.nlri {
            table.insert(e.prefix, u.attributes.next_hop.unwrap());
        }
    }
}

/// Applies what an ADD-PATH receiver is sent: its table is keyed by (prefix, path id).
fn apply_add_path<'a>(
    table: &mut BTreeMap<(IpNet, u32), Ipv4Addr>,
    msgs: impl Iterator<Item = &'a Encoded>,
) {
    let ctx = Context {
        add_path: FamilySet::from_iter([Family::IPV4_UNICAST]),
        ..Context::default()
    };
    for m in msgs {
        let Message::Update(u) = Message::decode(&m.bytes, &ctx).unwrap() else {
            panic!("not an update")
        };
        for e in &u.withdrawn {
            table.remove(&(e.prefix, e.path_id.unwrap()));
        }
        for e in &u.nlri {
            table.insert(
                (e.prefix, e.path_id.unwrap()),
                u.attributes.next_hop.unwrap(),
            );
        }
    }
}

/// The next hops an ADD-PATH receiver holds, by prefix.
fn next_hops(table: &BTreeMap<(IpNet, u32), Ipv4Addr>) -> BTreeMap<IpNet, Vec<Ipv4Addr>> {
    let mut out: BTreeMap<IpNet, Vec<Ipv4Addr>> = BTreeMap::new();
    for ((p, _), nh) in table {
        out.entry(*p).or_default().push(*nh);
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rib_matches_the_reference(ops in proptest::collection::vec(op(), 1..80)) {
        let mut cfg = RibConfig::new(65000, Ipv4Addr::new(10, 0, 0, 100));
        cfg.cluster_id = Some(Ipv4Addr::new(10, 0, 0, 100));
        let mut rib = Rib::new(cfg);
        let mut ids = Vec::new();
        for (i, p) in PEERS.iter().enumerate() {
            let addr = IpAddr::V4(peer_addr(i));
            let mut c = if p.external {
                PeerConfig::external(addr, p.asn)
            } else {
                PeerConfig::internal(addr, p.asn)
            };
            c.rr_client = !p.external;
            c.import = p.external.then(|| Arc::new(Policy::accept_all()));
            c.local_v4 = Some(Ipv4Addr::new(10, 0, 0, 100));
            let id = rib.add_peer(c);
            rib.peer_up(id, session(i)).unwrap();
            ids.push(id);
        }
        // Monitor clients that announce nothing, at 10.0.2.x.
        let mut monitor_up = |x: u8, add_path_send: FamilySet| {
            let addr = Ipv4Addr::new(10, 0, 2, x);
            let mut c = PeerConfig::internal(IpAddr::V4(addr), 65000);
            c.rr_client = true;
            c.local_v4 = Some(Ipv4Addr::new(10, 0, 0, 100));
            let id = rib.add_peer(c);
            let s = PeerSession { router_id: addr, add_path_send, ..session(0) };
            (id, rib.peer_up(id, s).unwrap())
        };
        let (monitor, full) = monitor_up(1, FamilySet::EMPTY);
        let mut monitor_table = BTreeMap::new();
        apply(&mut monitor_table, full.iter());
        // One that is sent every path (ADD-PATH): its own update group.
        let (all_paths, full) = monitor_up(2, FamilySet::from_iter([Family::IPV4_UNICAST]));
        let mut all_paths_table = BTreeMap::new();
        apply_add_path(&mut all_paths_table, full.iter());
        prop_assert_eq!(rib.group_count(), 3, "clients, external peers, ADD-PATH monitor");
        let mut client_tables: Vec<BTreeMap<IpNet, Ipv4Addr>> = vec![BTreeMap::new(); 3];

        // The model: prefix -> source (None: local) -> attribute.
        let mut model: BTreeMap<u8, BTreeMap<Option<usize>, Attr>> = BTreeMap::new();
        let now = Instant::now();
        // Prefixes with a best path, kept from the changes alone.
        let mut with_best: i64 = 0;
        fn tally(n: &mut i64, ch: bgp_core::rib::Changes) {
            for c in ch.best {
                *n += i64::from(c.best.is_some()) - i64::from(c.had_best);
            }
        }
        for op in ops {
            match op {
                Op::Announce { peer, prefix: px, attr } => {
                    let a = attrs_of(&POOL[attr], &PEERS[peer], peer);
                    let u = Update::new(
                        Prefixes::empty(Afi::IPV4, false),
                        a,
                        Prefixes::from_entries(Afi::IPV4, false, [prefix(px)]).unwrap(),
                    );
                    tally(&mut with_best, rib.apply_update(ids[peer], &u).unwrap());
                    model.entry(px).or_default().insert(Some(peer), POOL[attr]);
                }
                Op::Withdraw { peer, prefix: px } => {
                    let u = Update::new(
                        Prefixes::from_entries(Afi::IPV4, false, [prefix(px)]).unwrap(),
                        PathAttributes::default(),
                        Prefixes::empty(Afi::IPV4, false),
                    );
                    tally(&mut with_best, rib.apply_update(ids[peer], &u).unwrap());
                    if let Some(m) = model.get_mut(&px) {
                        m.remove(&Some(peer));
                    }
                }
                Op::Reset { peer } => {
                    tally(&mut with_best, rib.peer_down(ids[peer], false));
                    let full = rib.peer_up(ids[peer], session(peer)).unwrap();
                    for m in model.values_mut() {
                        m.remove(&Some(peer));
                    }
                    if peer < 3 {
                        // The client starts over from the full table it is sent.
                        client_tables[peer].clear();
                        apply(&mut client_tables[peer], full.iter());
                    }
                }
                Op::Local { prefix: px, attr } => match attr {
                    Some(a) => {
                        let mut pa = attrs_of(&POOL[a], &PEERS[0], 0);
                        pa.next_hop = None;
                        tally(&mut with_best, rib.announce(prefix(px), pa));
                        model.entry(px).or_default().insert(None, POOL[a]);
                    }
                    None => {
                        tally(&mut with_best, rib.withdraw(prefix(px)));
                        if let Some(m) = model.get_mut(&px) {
                            m.remove(&None);
                        }
                    }
                },
            }
            let msgs = rib.flush_all(now);
            let really = rib.iter().filter(|(_, d)| d.best().is_some()).count() as i64;
            prop_assert_eq!(with_best, really, "prefixes with a best path, from the changes");
            apply(&mut monitor_table, msgs.to(monitor));
            apply_add_path(&mut all_paths_table, msgs.to(all_paths));
            for (c, table) in client_tables.iter_mut().enumerate() {
                apply(table, msgs.to(ids[c]));
            }

            // Best paths agree with the reference.
            let mut expect_monitor = BTreeMap::new();
            let mut expect_all: BTreeMap<IpNet, Vec<Ipv4Addr>> = BTreeMap::new();
            let mut expect_clients: Vec<BTreeMap<IpNet, Ipv4Addr>> = vec![BTreeMap::new(); 3];
            for px in 0u8..12 {
                let cands: Vec<(Option<usize>, Attr)> = model
                    .get(&px)
                    .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
                    .unwrap_or_default();
                let want = reference_best(&cands);
                // Every path, each with its own next hop (ours for the local route).
                let mut all: Vec<Ipv4Addr> = cands
                    .iter()
                    .map(|(src, _)| src.map_or(Ipv4Addr::new(10, 0, 0, 100), peer_addr))
                    .collect();
                all.sort();
                if !all.is_empty() {
                    expect_all.insert(prefix(px), all);
                }
                let got = rib.get(&prefix(px)).and_then(|d| d.best()).map(|p| {
                    if p.peer() == LOCAL { None } else { Some(ids.iter().position(|i| *i == p.peer()).unwrap()) }
                });
                prop_assert_eq!(got, want, "prefix {}: {:?}", px, cands);
                if let Some(src) = want {
                    let nh = match src {
                        None => Ipv4Addr::new(10, 0, 0, 100),
                        Some(i) => peer_addr(i),
                    };
                    expect_monitor.insert(prefix(px), nh);
                    for (c, t) in expect_clients.iter_mut().enumerate() {
                        if src != Some(c) {
                            t.insert(prefix(px), nh);
                        }
                    }
                }
            }
            // What the receivers hold is what they should.
            prop_assert_eq!(&monitor_table, &expect_monitor);
            prop_assert_eq!(next_hops(&all_paths_table), expect_all, "every path");
            for c in 0..3 {
                prop_assert_eq!(&client_tables[c], &expect_clients[c], "client {}", c);
            }
        }
    }
}
