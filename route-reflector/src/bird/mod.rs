//! Calico's BIRD configuration, read as BIRD 1.6 reads it.
//!
//! calico-node runs `bird -R -s /var/run/calico/bird.ctl -d -c bird.cfg` (and `bird6` with
//! `bird6.cfg`), files that confd renders and that `include` the others (`bird_aggr.cfg`,
//! `bird_ipam.cfg`, ...). [`lexer`] makes tokens of them and resolves the includes;
//! [`parser`] builds the [`ast`], refusing what is outside the subset the Calico files use
//! with `FILE:LINE:COLUMN: found ..., expected ...`; [`compile`] turns filters into policy
//! rules by running them on symbolic routes.

pub mod ast;
pub mod compile;
pub mod lexer;
pub mod parser;
pub mod source;

pub use source::{Error, Span};

/// Which BIRD: `bird` reads IPv4 configurations, `bird6` IPv6 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}
