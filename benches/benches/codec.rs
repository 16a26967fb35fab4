//! UPDATE decode and encode throughput, in prefixes per second, side by side with the BGP
//! parsers on crates.io decoding the same bytes.
//!
//! Shapes:
//! - `packed-v4`: one 4 KiB UPDATE packed with IPv4 /24s (about 1,000 prefixes);
//! - `single-v4`: 1,000 UPDATEs of one /24 each, with an iBGP reflected-route attribute set
//!   (ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST);
//! - `packed-v6`: one 4 KiB UPDATE whose MP_REACH_NLRI is packed with IPv6 /48s.
//!
//! "ours" decodes the message and walks every prefix (each materialized as an `IpNet`), so it
//! does at least the work the other parsers do. "ours-validate" stops after decoding: the
//! NLRI are validated but kept in wire form, as the RIB consumes them.
//!
//! Run: `cargo bench -p benches --bench codec` (add `-- --quick` for a short run). After
//! criterion's report, a table gives prefixes/s and the ratio to the fastest other parser.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use bgp_core::wire::attributes::{
    AsPath, ClusterList, Community, MpNlri, MpReach, NextHop, Origin, PathAttributes,
};
use bgp_core::wire::{Context, Message, Prefixes, Update};
use bgp_core::{Afi, Family};
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

struct Shape {
    name: &'static str,
    /// Whole messages, header included.
    frames: Vec<Bytes>,
    prefixes: usize,
    /// The prefixes and attributes, for the encode benchmark.
    source: Vec<(PathAttributes, Vec<IpNet>)>,
}

fn ibgp_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(&[65001, 65002])),
        next_hop: Some(Ipv4Addr::new(192, 168, 100, 101)),
        med: Some(0),
        local_pref: Some(100),
        ..PathAttributes::default()
    }
}

fn encode(attrs: &PathAttributes, prefixes: &[IpNet]) -> Bytes {
    let u = build(attrs, prefixes);
    Message::Update(u).to_bytes(&Context::default()).unwrap()
}

fn build(attrs: &PathAttributes, prefixes: &[IpNet]) -> Update {
    let v4: Vec<IpNet> = prefixes
        .iter()
        .filter(|p| p.addr().is_ipv4())
        .copied()
        .collect();
    let v6: Vec<IpNet> = prefixes
        .iter()
        .filter(|p| p.addr().is_ipv6())
        .copied()
        .collect();
    let mut attrs = attrs.clone();
    if !v6.is_empty() {
        attrs.next_hop = None;
        attrs.mp_reach = Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::Ipv6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: None,
            },
            nlri: MpNlri::Prefixes(Prefixes::from_entries(Afi::IPV6, false, v6).unwrap()),
        });
    }
    Update::new(
        Prefixes::empty(Afi::IPV4, false),
        attrs,
        Prefixes::from_entries(Afi::IPV4, false, v4).unwrap(),
    )
}

fn v4_24(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
}

fn shapes() -> Vec<Shape> {
    let attrs = ibgp_attrs();
    // Packed /24s: as many as fit in 4096 octets.
    let room = 4096 - 19 - 4 - attrs.clone().to_block(&Context::default()).unwrap().len();
    let n = room / 4;
    let packed: Vec<IpNet> = (0..n as u32).map(v4_24).collect();
    let packed_frame = encode(&attrs, &packed);
    assert!(packed_frame.len() <= 4096);

    let mut reflected = attrs.clone();
    reflected.communities = Some(
        [Community::new(65001, 100), Community::new(65001, 200)]
            .into_iter()
            .collect(),
    );
    reflected.originator_id = Some(Ipv4Addr::new(192, 168, 100, 101));
    reflected.cluster_list = Some(ClusterList::from_iter([Ipv4Addr::new(192, 168, 100, 1)]));
    let singles: Vec<(PathAttributes, Vec<IpNet>)> = (0..1000)
        .map(|i| (reflected.clone(), vec![v4_24(i)]))
        .collect();

    let v6_room = 4096 - 19 - 4 - 60;
    let v6: Vec<IpNet> = (0..(v6_room / 7) as u128)
        .map(|i| {
            let a = Ipv6Addr::from((0x2001_0db8_u128 << 96) | (i << 80));
            IpNet::V6(Ipv6Net::new(a, 48).unwrap())
        })
        .collect();
    let v6_frame = encode(&attrs, &v6);
    assert!(v6_frame.len() <= 4096, "{}", v6_frame.len());

    vec![
        Shape {
            name: "packed-v4",
            prefixes: packed.len(),
            frames: vec![packed_frame],
            source: vec![(attrs.clone(), packed)],
        },
        Shape {
            name: "single-v4",
            prefixes: singles.len(),
            frames: singles.iter().map(|(a, p)| encode(a, p)).collect(),
            source: singles,
        },
        Shape {
            name: "packed-v6",
            prefixes: v6.len(),
            frames: vec![v6_frame],
            source: vec![(attrs, v6)],
        },
    ]
}

/// Decodes and walks every announced prefix.
fn ours(frames: &[Bytes], ctx: &Context) -> usize {
    let mut n = 0;
    for f in frames {
        let Ok(Message::Update(u)) = Message::decode(f, ctx) else {
            panic!("decode failed")
        };
        for (_, block) in u.announced() {
            for e in block {
                black_box(e);
                n += 1;
            }
        }
    }
    n
}

fn ours_validate(frames: &[Bytes], ctx: &Context) -> usize {
    let mut n = 0;
    for f in frames {
        let Ok(Message::Update(u)) = Message::decode(f, ctx) else {
            panic!("decode failed")
        };
        n += u.announced().map(|(_, b)| b.len()).sum::<usize>();
        black_box(&u);
    }
    n
}

fn zettabgp_params() -> zettabgp::BgpSessionParams {
    let mut p = zettabgp::BgpSessionParams::new(
        65001,
        180,
        zettabgp::BgpTransportMode::IPv4,
        Ipv4Addr::new(1, 1, 1, 1),
        vec![
            zettabgp::BgpCapability::SafiIPv4u,
            zettabgp::BgpCapability::SafiIPv6u,
            zettabgp::BgpCapability::CapASN32(65001),
        ],
    );
    // No ADD-PATH guessing: it would only add work.
    p.fuzzy_pathid = false;
    p
}

fn zetta(frames: &[Bytes], params: &zettabgp::BgpSessionParams) {
    use zettabgp::BgpMessage;
    for f in frames {
        let mut m = zettabgp::prelude::BgpUpdateMessage::new();
        m.decode_from(params, &f[19..]).unwrap();
        black_box(&m);
    }
}

fn bgpkit(frames: &[Bytes]) {
    for f in frames {
        let mut b = f.clone();
        let m = bgpkit_parser::parser::bgp::messages::parse_bgp_message(
            &mut b,
            false,
            &bgpkit_parser::models::AsnLength::Bits32,
        )
        .unwrap();
        black_box(&m);
    }
}

fn bench(c: &mut Criterion, shapes: &[Shape]) {
    let ctx = Context::default();
    let params = zettabgp_params();
    for s in shapes {
        // Every parser must accept the bytes before it is timed.
        assert_eq!(ours(&s.frames, &ctx), s.prefixes);
        zetta(&s.frames, &params);
        bgpkit(&s.frames);

        let mut g = c.benchmark_group(format!("decode-{}", s.name));
        g.throughput(Throughput::Elements(s.prefixes as u64));
        g.bench_function("ours", |b| b.iter(|| ours(&s.frames, &ctx)));
        g.bench_function("ours-validate", |b| {
            b.iter(|| ours_validate(&s.frames, &ctx))
        });
        g.bench_function("zettabgp", |b| b.iter(|| zetta(&s.frames, &params)));
        g.bench_function("bgpkit", |b| b.iter(|| bgpkit(&s.frames)));
        g.finish();

        let mut g = c.benchmark_group(format!("encode-{}", s.name));
        g.throughput(Throughput::Elements(s.prefixes as u64));
        let mut out = BytesMut::with_capacity(8192);
        g.bench_function("ours", |b| {
            b.iter(|| {
                out.clear();
                for (attrs, prefixes) in &s.source {
                    let u = build(attrs, prefixes);
                    Message::Update(u).encode(&ctx, &mut out).unwrap();
                }
                black_box(out.len())
            })
        });
        g.finish();
    }
}

/// criterion's mean time per iteration for `group/id`, from its estimates file.
fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/codec-<hash>: the target directory is three levels up.
    let target: PathBuf = exe.parent()?.parent()?.parent()?.to_path_buf();
    let path = target
        .join("criterion")
        .join(group)
        .join(id)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let key = "\"mean\":{\"confidence_interval\":{\"confidence_level\":0.95,\"lower_bound\":";
    let start = text.find("\"mean\"")?;
    let rest = &text[start..];
    let pe = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let _ = key;
    let num: String = rest[pe..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    num.parse().ok()
}

fn report(shapes: &[Shape]) {
    println!();
    println!("UPDATE decode, prefixes per second (higher is better)");
    println!(
        "{:<11} {:>14} {:>14} {:>14} {:>14} {:>10} {:>10}",
        "shape", "ours", "ours-validate", "zettabgp", "bgpkit", "ours/best", "valid/best"
    );
    for s in shapes {
        let group = format!("decode-{}", s.name);
        let rate = |id: &str| mean_ns(&group, id).map(|ns| s.prefixes as f64 / (ns * 1e-9));
        let (o, v, z, b) = (
            rate("ours"),
            rate("ours-validate"),
            rate("zettabgp"),
            rate("bgpkit"),
        );
        let best = z.zip(b).map(|(z, b)| z.max(b));
        let fmt = |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.1}M", x / 1e6));
        let ratio = |x: Option<f64>| {
            x.zip(best)
                .map_or("-".into(), |(x, b)| format!("{:.2}x", x / b))
        };
        println!(
            "{:<11} {:>14} {:>14} {:>14} {:>14} {:>10} {:>10}",
            s.name,
            fmt(o),
            fmt(v),
            fmt(z),
            fmt(b),
            ratio(o),
            ratio(v)
        );
    }
    println!();
    println!("UPDATE encode (from prefixes and attributes), prefixes per second");
    for s in shapes {
        let enc = mean_ns(&format!("encode-{}", s.name), "ours")
            .map(|ns| s.prefixes as f64 / (ns * 1e-9));
        println!(
            "{:<11} {:>14}",
            s.name,
            enc.map_or("-".into(), |x| format!("{:.1}M", x / 1e6))
        );
    }
}

fn main() {
    let shapes = shapes();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &shapes);
    c.final_summary();
    report(&shapes);
}
