//! Arbitrary text as a configuration file: the reflector's and node agent's TOML (first
//! byte even) or BIRD's dialect as Calico renders it, for `bird` or `bird6` (odd).
//!
//! Checked: no panic; every error names a position inside the text (line from 1, column
//! from 1, within the line; BIRD's dialect also has errors about the whole file, at line
//! 0, such as a missing `router id`); and a file that checks is one the router takes whole (no
//! peer or setting refused when the speaker starts).
#![no_main]

use std::time::Instant;

use bgp_core::router::Router;
use libfuzzer_sys::fuzz_target;
use route_reflector::bird::{self, Family};
use route_reflector::config::{Config, Secrets};

/// Whether (line, column) is a place in `src`: the end of the text counts.
fn inside(src: &str, line: usize, column: usize) -> bool {
    let lines: Vec<&str> = src.split('\n').collect();
    line >= 1
        && column >= 1
        && lines
            .get(line - 1)
            .is_some_and(|l| column <= l.chars().count() + 1)
}

fn router_takes(router: bgp_core::router::RouterConfig) {
    let (_, errors) = Router::new(router, Instant::now());
    assert!(errors.is_empty(), "checked, then refused: {errors:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(src) = std::str::from_utf8(rest) else {
        return;
    };
    if which % 2 == 0 {
        // Secrets are not read: password files would be paths on this machine.
        match Config::parse_with("rr.toml", src, Secrets::Skip) {
            Ok(c) => router_takes(c.speaker.router),
            Err(e) => {
                assert!(!e.0.is_empty(), "refused without a reason");
                for e in &e.0 {
                    assert!(inside(src, e.line, e.column), "{e} outside the text");
                }
            }
        }
    } else {
        // Included files would be read from this machine (a device could block).
        if src.contains("include") {
            return;
        }
        let family = if which & 2 == 0 {
            Family::V4
        } else {
            Family::V6
        };
        match bird::load_str("/nonexistent/bird.cfg", src, family) {
            Ok(c) => router_takes(c.speaker.router),
            Err(errors) => {
                assert!(!errors.is_empty(), "refused without a reason");
                for e in &errors {
                    // Line 0 is an error about the whole file (a `router id` missing).
                    let whole = (e.line, e.column) == (0, 0);
                    assert!(whole || inside(src, e.line, e.column), "{e:?} outside the text");
                }
            }
        }
    }
});
