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
use std::path::PathBuf;

use benches::bgp_core::wire::{Context, Message};
use benches::{Shape, bgpkit, build, ours, ours_validate, shapes, zetta, zettabgp_params};
use bytes::BytesMut;
use criterion::{Criterion, Throughput};

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
                    Message::from(u).encode(&ctx, &mut out).unwrap();
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
