//! Calico's BIRD configuration, read as BIRD 1.6 reads it and mapped onto the speaker.
//!
//! calico-node runs `bird -R -s /var/run/calico/bird.ctl -d -c bird.cfg` (and `bird6` with
//! `bird6.cfg`), files that confd renders and that `include` the others (`bird_aggr.cfg`,
//! `bird_ipam.cfg`, ...). This module reads the same files: [`lexer`] makes tokens (and
//! resolves includes), [`parser`] builds the [`ast`], [`compile`] turns filters into
//! policy rules by running them on symbolic routes, and [`map`] produces a [`BirdConfig`]:
//! the speaker's configuration with what the daemon needs beside it (protocol names for
//! `show protocols`, the kernel protocol's settings, static routes).
//!
//! The `bird` and `bird6` binaries run it in BIRD's place: [`args`] reads BIRD's command
//! line, [`daemon`] runs the speaker with the mapped configuration (reload on SIGHUP,
//! graceful stop on SIGTERM), [`ctl`] speaks BIRD's control socket protocol with the
//! replies of [`show`], and [`metrics`] serves the speaker's Prometheus metrics.
//!
//! Anything outside the subset of the language the Calico files use is refused with
//! `FILE:LINE:COLUMN: found ..., expected ...`. What maps only approximately is reported
//! in [`BirdConfig::notes`], each note with its position; nothing is dropped silently.
//! Accepted and dropped on purpose, having no effect on routes: `debug`, `description`
//! (kept for display), `print` in filters, `scan time` (the speaker watches the kernel
//! through netlink instead of scanning it), `gateway recursive` (next hops are installed as
//! they come, onlink), and the `device` protocol (interfaces are watched anyway).

pub mod args;
pub mod ast;
pub mod compile;
pub mod ctl;
pub mod daemon;
pub mod lexer;
pub mod map;
pub mod metrics;
pub mod parser;
pub mod show;
pub mod source;

use std::path::Path;

pub use map::BirdConfig;
pub use source::{Error, Span};

/// Which BIRD: `bird` reads IPv4 configurations, `bird6` IPv6 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

/// Reads the configuration at `path` (and what it includes) and maps it.
pub fn load(path: &Path, family: Family) -> Result<BirdConfig, Vec<Error>> {
    let mut sources = source::Sources::default();
    let tokens = lexer::lex_file(&mut sources, path, family).map_err(|e| vec![e])?;
    let ast = parser::parse(tokens, &sources, family).map_err(|e| vec![e])?;
    map::map(&ast, sources, family)
}

/// Reads a configuration from `text`, named `name` in errors (includes are read relative
/// to it).
pub fn load_str(name: &str, text: &str, family: Family) -> Result<BirdConfig, Vec<Error>> {
    let mut sources = source::Sources::default();
    let tokens =
        lexer::lex_text(&mut sources, name.into(), text.into(), family).map_err(|e| vec![e])?;
    let ast = parser::parse(tokens, &sources, family).map_err(|e| vec![e])?;
    map::map(&ast, sources, family)
}

/// What `bird -p -c FILE` does: read the configuration and stop. Ok when it can be run;
/// otherwise the errors (print them as BIRD does, `bird: ` and [`Error::bird_line`], on
/// stderr, and exit 1).
pub fn check(path: &Path, family: Family) -> Result<(), Vec<Error>> {
    load(path, family).map(|_| ())
}
