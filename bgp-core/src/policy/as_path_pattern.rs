//! The AS-path pattern language.
//!
//! A pattern is a list of whitespace-separated tokens matched against the path's ASNs in
//! order (AS_SET members count in place, one after another):
//!
//! | token | matches |
//! |---|---|
//! | `65001` | that AS |
//! | `64512-65534` | one AS in the range |
//! | `.` | any one AS |
//! | `*` (or `.*`) | any number of ASes, none included |
//! | `^` (first token only) | the start of the path |
//! | `$` (last token only) | the end of the path |
//!
//! Without `^` the pattern may start anywhere, without `$` it may end anywhere. So
//! `^65001` means "learned from AS 65001", `65010$` "originated by AS 65010", `^$` the
//! empty path (a route of our own AS), and `64512` "passes through 64512".
//!
//! Matching is the classic linear-time glob walk with backtracking to the last `*` only, so
//! a hostile path cannot make it slow.

use std::fmt;
use std::str::FromStr;

use crate::types::Asn;
use crate::wire::attributes::AsPath;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Asn(Asn),
    Range(Asn, Asn),
    Any,
    Star,
}

impl Tok {
    fn single(self, a: Asn) -> bool {
        match self {
            Tok::Asn(x) => x == a,
            Tok::Range(lo, hi) => (lo..=hi).contains(&a),
            Tok::Any => true,
            Tok::Star => false,
        }
    }
}

/// A compiled AS-path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsPathPattern {
    text: String,
    toks: Vec<Tok>,
}

/// A pattern that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AS-path pattern {pattern:?}: {reason} at token {position}")]
pub struct PatternError {
    pub pattern: String,
    pub position: usize,
    pub reason: &'static str,
}

impl FromStr for AsPathPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<AsPathPattern, PatternError> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let err = |position, reason| PatternError {
            pattern: s.to_string(),
            position,
            reason,
        };
        let mut toks = Vec::new();
        let n = words.len();
        let mut anchored_start = false;
        let mut anchored_end = false;
        for (i, w) in words.iter().enumerate() {
            // `^65001` and `65010$` are accepted as well as spaced anchors.
            let mut w = *w;
            if let Some(rest) = w.strip_prefix('^') {
                if i != 0 {
                    return Err(err(i, "'^' only at the start"));
                }
                anchored_start = true;
                w = rest;
            }
            if let Some(rest) = w.strip_suffix('$') {
                if i != n - 1 {
                    return Err(err(i, "'$' only at the end"));
                }
                anchored_end = true;
                w = rest;
            }
            if w.is_empty() {
                continue;
            }
            let t = match w {
                "." => Tok::Any,
                "*" | ".*" => Tok::Star,
                _ => match w.split_once('-') {
                    Some((lo, hi)) => {
                        let lo: Asn = lo.parse().map_err(|_| err(i, "bad AS number"))?;
                        let hi: Asn = hi.parse().map_err(|_| err(i, "bad AS number"))?;
                        if lo > hi {
                            return Err(err(i, "empty range"));
                        }
                        Tok::Range(lo, hi)
                    }
                    None => Tok::Asn(w.parse().map_err(|_| err(i, "bad AS number"))?),
                },
            };
            toks.push(t);
        }
        if !anchored_start {
            toks.insert(0, Tok::Star);
        }
        if !anchored_end {
            toks.push(Tok::Star);
        }
        toks.dedup_by(|a, b| *a == Tok::Star && *b == Tok::Star);
        Ok(AsPathPattern {
            text: s.to_string(),
            toks,
        })
    }
}

impl fmt::Display for AsPathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsPathPattern {
    pub fn matches(&self, path: &AsPath) -> bool {
        let asns: Vec<Asn> = path.asns().collect();
        glob(&self.toks, &asns)
    }
}

/// Glob matching with `Star` as the only variable-length token.
fn glob(p: &[Tok], s: &[Asn]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] != Tok::Star && p[pi].single(s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == Tok::Star {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Star)
}
