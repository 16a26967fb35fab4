//! RIB throughput and memory: 1,000,000 IPv4 routes from 10 peers sharing 1,000 attribute
//! sets, inserted and then withdrawn.
//!
//! Run: `cargo bench -p benches --bench rib`. Memory is the growth of the process's
//! resident set (allocator overhead included), per route.
//!
//! Shapes:
//! - `10x100k`: 10 peers each announce the same 100,000 /24s (10 paths per prefix);
//! - `10x100k-rr`: the same through a reflector whose 10 clients are the sources and get
//!   every change flushed as encoded UPDATEs (export, update groups, packing);
//! - `1x1m`: one peer announces 1,000,000 distinct /24s (one path per prefix).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use benches::bgp_core::rib::{PeerConfig, PeerId, PeerSession, Rib, RibConfig};
use benches::bgp_core::types::FamilySet;
use benches::bgp_core::wire::attributes::{AsPath, Community, Origin, PathAttributes};
use benches::bgp_core::wire::{Prefixes, Update};
use benches::bgp_core::{Afi, Family};
use ipnet::{IpNet, Ipv4Net};

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn p24(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i << 8)), 24).unwrap())
}

fn attrs(peer: u32, set: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        next_hop: Some(Ipv4Addr::new(192, 168, 100, 100 + peer as u8)),
        local_pref: Some(100),
        med: Some(set),
        communities: Some(
            [Community::new(65000, (set % 7) as u16)]
                .into_iter()
                .collect(),
        ),
        ..PathAttributes::default()
    }
}

/// UPDATEs per peer: prefixes with the same attribute set packed together.
fn updates(peers: u32, prefixes: u32, sets_per_peer: u32) -> Vec<(u32, Vec<Update>)> {
    (0..peers)
        .map(|peer| {
            let mut by_set: Vec<Vec<IpNet>> = vec![Vec::new(); sets_per_peer as usize];
            for i in 0..prefixes {
                by_set[(i % sets_per_peer) as usize].push(p24(i));
            }
            let us = by_set
                .into_iter()
                .enumerate()
                .flat_map(|(set, list)| {
                    list.chunks(1000)
                        .map(|c| {
                            Update::new(
                                Prefixes::empty(Afi::IPV4, false),
                                attrs(peer, peer * sets_per_peer + set as u32),
                                Prefixes::from_entries(Afi::IPV4, false, c.iter().copied())
                                    .unwrap(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            (peer, us)
        })
        .collect()
}

fn withdrawals(prefixes: u32) -> Vec<Update> {
    (0..prefixes)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(|c| {
            Update::new(
                Prefixes::from_entries(Afi::IPV4, false, c.iter().map(|i| p24(*i))).unwrap(),
                PathAttributes::default(),
                Prefixes::empty(Afi::IPV4, false),
            )
        })
        .collect()
}

fn run(name: &str, peers: u32, prefixes: u32, sets_per_peer: u32, reflect: bool) {
    let input = updates(peers, prefixes, sets_per_peer);
    let wd = withdrawals(prefixes);
    let mut cfg = RibConfig::new(65000, Ipv4Addr::new(192, 168, 100, 1));
    if reflect {
        cfg.cluster_id = Some(Ipv4Addr::new(192, 168, 100, 1));
    }
    let rss0 = rss_bytes();
    let mut rib = Rib::new(cfg);
    let ids: Vec<PeerId> = (0..peers)
        .map(|p| {
            let mut c = PeerConfig::internal(
                IpAddr::V4(Ipv4Addr::new(192, 168, 100, 100 + p as u8)),
                65000,
            );
            c.rr_client = reflect;
            let id = rib.add_peer(c);
            rib.peer_up(
                id,
                PeerSession {
                    router_id: Ipv4Addr::new(192, 168, 100, 100 + p as u8),
                    families: vec![Family::IPV4_UNICAST],
                    four_octet_as: true,
                    add_path_send: FamilySet::EMPTY,
                    extended_message: false,
                    extended_next_hop: false,
                    long_lived: false,
                },
            )
            .unwrap();
            id
        })
        .collect();
    let routes = u64::from(peers) * u64::from(prefixes);
    let t = Instant::now();
    let mut out_bytes = 0usize;
    for (peer, us) in &input {
        for u in us {
            rib.apply_update(ids[*peer as usize], u).unwrap();
        }
        if reflect {
            out_bytes += rib
                .flush_all(t)
                .messages()
                .map(|m| m.bytes.len())
                .sum::<usize>();
        }
    }
    let insert = t.elapsed();
    let rss1 = rss_bytes();
    let per_route = (rss1.saturating_sub(rss0)) as f64 / routes as f64;
    let t = Instant::now();
    for peer in &ids {
        for u in &wd {
            rib.apply_update(*peer, u).unwrap();
        }
        if reflect {
            out_bytes += rib
                .flush_all(t)
                .messages()
                .map(|m| m.bytes.len())
                .sum::<usize>();
        }
    }
    let withdraw = t.elapsed();
    assert_eq!(rib.prefix_count(), 0);
    println!(
        "{name:<12} {routes:>9} routes  insert {:>6.2} M routes/s  withdraw {:>6.2} M routes/s  \
         memory {:>5.1} B/route  attribute sets {:>5}  sent {:>5.1} MB",
        routes as f64 / insert.as_secs_f64() / 1e6,
        routes as f64 / withdraw.as_secs_f64() / 1e6,
        per_route,
        sets_per_peer * peers,
        out_bytes as f64 / 1e6,
    );
    drop(rib);
}

const SHAPES: [(&str, u32, u32, u32, bool); 4] = [
    ("10x100k", 10, 100_000, 100, false),
    ("10x100k-rr", 10, 100_000, 100, true),
    ("1x1m", 1, 1_000_000, 1000, false),
    // Small enough for callgrind (instruction counts, stable under load): not in the
    // default run.
    ("10x10k", 10, 10_000, 100, false),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // One shape in this process (so that its memory figure starts from a clean heap).
    if let Some(i) = args.iter().position(|a| a == "--shape") {
        let name = &args[i + 1];
        let (n, peers, prefixes, sets, rr) = *SHAPES.iter().find(|s| s.0 == name).unwrap();
        run(n, peers, prefixes, sets, rr);
        return;
    }
    // `cargo bench` passes --bench; a test run (`cargo test --benches`) passes nothing:
    // keep that quick.
    if !args.iter().any(|a| a == "--bench") {
        run("smoke", 2, 10_000, 10, true);
        return;
    }
    println!("RIB: insert and withdraw (one core, each shape in its own process)");
    for (name, ..) in SHAPES.iter().take(3) {
        let st = std::process::Command::new(&args[0])
            .args(["--shape", name])
            .status()
            .expect("runs itself");
        assert!(st.success());
    }
}
