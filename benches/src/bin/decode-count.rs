//! Runs one decoder over one benchmark shape a fixed number of times, for counting
//! instructions with `valgrind --tool=callgrind`, which gives the same count on every run
//! however busy the machine is:
//!
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         target/release/decode-count ours packed-v4 200
//!
//! The parsers are `ours`, `ours-validate`, `zettabgp`, `bgpkit`; `none` only builds the
//! inputs, to subtract.

use benches::bgp_core::wire::Context;
use benches::{bgpkit, ours, ours_validate, shapes, zetta, zettabgp_params};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: decode-count PARSER SHAPE ITERATIONS");
        std::process::exit(2);
    }
    let shape = shapes()
        .into_iter()
        .find(|s| s.name == args[2])
        .unwrap_or_else(|| {
            eprintln!("unknown shape {}", args[2]);
            std::process::exit(2)
        });
    let n: usize = args[3].parse().expect("iterations");
    let ctx = Context::default();
    let params = zettabgp_params();
    for _ in 0..n {
        match args[1].as_str() {
            "ours" => {
                ours(&shape.frames, &ctx);
            }
            "ours-validate" => {
                ours_validate(&shape.frames, &ctx);
            }
            "zettabgp" => zetta(&shape.frames, &params),
            "bgpkit" => bgpkit(&shape.frames),
            "none" => {}
            p => {
                eprintln!("unknown parser {p}");
                std::process::exit(2);
            }
        }
    }
    println!("{} prefixes per iteration", shape.prefixes);
}
