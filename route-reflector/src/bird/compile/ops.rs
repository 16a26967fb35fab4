//! Operators on values: comparisons, matches (`~`), logic and arithmetic.

use bgp_core::policy::{AsPathPattern, Match, PrefixRange};
use bgp_core::wire::attributes::{Community, LargeCommunity};
use ipnet::IpNet;

use super::super::Family;
use super::super::ast::*;
use super::super::source::Span;
use super::value::*;
use super::{Compiler, OWN_SOURCES, Pass, Path, Res, Use, WORKLOAD_INTERFACE};

impl Compiler<'_, '_> {
    pub(super) fn logic(&mut self, op: BinOp, x: Val, b: &Expr, p: &mut Path) -> Res<Val> {
        let as_cond = |v: Val| match v {
            Val::Bool(b) => Some(Cond::Lit(if b { Tri::T } else { Tri::F })),
            Val::Cond(c) => Some(c),
            _ => None,
        };
        let Some(cx) = as_cond(x) else {
            return Ok(Val::Error);
        };
        // Short circuit: `false && _`, `true || _` never look at the right side.
        match (&cx, op) {
            (Cond::Lit(Tri::F), BinOp::And) => return Ok(Val::Bool(false)),
            (Cond::Lit(Tri::T), BinOp::Or) => return Ok(Val::Bool(true)),
            _ => {}
        }
        let y = self.eval(b, p)?;
        let cy = as_cond(y).unwrap_or(Cond::Lit(Tri::E));
        Ok(match (cx, op) {
            (Cond::Lit(Tri::T), BinOp::And) | (Cond::Lit(Tri::F), BinOp::Or) => from_cond(cy),
            (cx, BinOp::And) => Val::Cond(Cond::And(Box::new(cx), Box::new(cy))),
            (cx, _) => Val::Cond(Cond::Or(Box::new(cx), Box::new(cy))),
        })
    }

    pub(super) fn arith(&self, op: BinOp, x: Val, y: Val, span: Span) -> Res<Val> {
        let lin = |v: &Val| match v {
            Val::Int(n) => Some((None, 0, *n)),
            Val::Lin { var, coef, off } => Some((Some(*var), *coef, *off)),
            _ => None,
        };
        let (Some((vx, cx, ox)), Some((vy, cy, oy))) = (lin(&x), lin(&y)) else {
            return Ok(Val::Error);
        };
        let var = match (vx, vy) {
            (Some(a), Some(b)) if a != b => {
                return Err(self.refuse(
                    span,
                    "found arithmetic on two route attributes, expected at most one",
                ));
            }
            (a, b) => a.or(b),
        };
        let (coef, off) = match op {
            BinOp::Add => (cx + cy, ox + oy),
            BinOp::Sub => (cx - cy, ox - oy),
            BinOp::Mul if vx.is_none() || vy.is_none() => (cx * oy + cy * ox, ox * oy),
            BinOp::Div if vx.is_none() && vy.is_none() => {
                if oy == 0 {
                    return Ok(Val::Error);
                }
                (0, ox / oy)
            }
            _ => {
                return Err(self.refuse(span, "found arithmetic the policy cannot follow, expected + and - on numbers and one attribute"));
            }
        };
        Ok(match var {
            Some(var) if coef != 0 => Val::Lin { var, coef, off },
            _ => Val::Int(off),
        })
    }

    pub(super) fn compare(&mut self, op: BinOp, x: Val, y: Val, span: Span) -> Res<Val> {
        use std::cmp::Ordering;
        let eq_only = matches!(op, BinOp::Eq | BinOp::Ne);
        // The route's side first (`1024 > krt_metric` is `krt_metric < 1024`).
        let (x, y, op) = if is_concrete(&x) && !is_concrete(&y) {
            let flipped = match op {
                BinOp::Lt => BinOp::Gt,
                BinOp::Le => BinOp::Ge,
                BinOp::Gt => BinOp::Lt,
                BinOp::Ge => BinOp::Le,
                other => other,
            };
            (y, x, flipped)
        } else {
            (x, y, op)
        };
        let decide = |o: Ordering| -> Val {
            Val::Bool(match op {
                BinOp::Eq => o == Ordering::Equal,
                BinOp::Ne => o != Ordering::Equal,
                BinOp::Lt => o == Ordering::Less,
                BinOp::Le => o != Ordering::Greater,
                BinOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        };
        Ok(match (&x, &y) {
            (Val::Undef, _) | (_, Val::Undef) => Val::Error,
            (Val::Int(a), Val::Int(b)) => decide(a.cmp(b)),
            (Val::Bool(a), Val::Bool(b)) if eq_only => decide(a.cmp(b)),
            (Val::Str(a), Val::Str(b)) => decide(a.cmp(b)),
            (Val::Ip(a), Val::Ip(b)) => decide(a.cmp(b)),
            (Val::Prefix(a), Val::Prefix(b)) if eq_only => decide(a.cmp(b)),
            (Val::Pair(a, b), Val::Pair(c, d)) => decide((a, b).cmp(&(c, d))),
            (Val::Quad(a), Val::Quad(b)) => decide(a.cmp(b)),
            (Val::Source(Some(a)), Val::Source(Some(b))) if eq_only => decide(if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            }),
            (Val::Origin(a), Val::Origin(b)) if eq_only => decide(if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            }),
            (Val::Source(None), Val::Source(Some(s))) if eq_only => {
                if *s == RouteSource::Bgp {
                    decide(Ordering::Less)
                } else {
                    return Err(self.refuse(span, OWN_SOURCES));
                }
            }
            (Val::RuntimeOrigin, Val::Origin(o)) if eq_only => {
                let m = Val::Cond(Cond::Atom(Match::Origin(*o)));
                if op == BinOp::Eq { m } else { not(m) }
            }
            (Val::Net, Val::Prefix(n)) if eq_only => {
                let m = Val::Cond(Cond::Atom(Match::Prefix(vec![PrefixRange::exact(*n)])));
                if op == BinOp::Eq { m } else { not(m) }
            }
            (Val::NetLen, Val::Int(n)) => self.len_range(op, *n),
            (Val::PathLen(front), Val::Int(n)) => path_len(op, *front as i64, *n),
            (Val::Proto { own }, Val::Str(name)) if eq_only => {
                let m = match self.ctx.bgp_protocols.get(name) {
                    Some(_) if *own => Val::Bool(false),
                    Some(a) => Val::Cond(Cond::Atom(Match::Neighbor(vec![*a]))),
                    None if *own && self.ctx.other_protocols.contains(name) => {
                        return Err(self.refuse(
                            span,
                            format!("found a test for our own routes of protocol {name}, expected one for a BGP protocol (kernel, static and direct routes cannot be told apart)"),
                        ));
                    }
                    None => Val::Bool(false),
                };
                if op == BinOp::Eq { m } else { not(m) }
            }
            (Val::Ifname, Val::Str(s)) if eq_only => {
                let m = self.ifname(|name| name == s, span);
                if op == BinOp::Eq { m } else { not(m) }
            }
            (Val::Lin { var, .. }, Val::Int(_)) => {
                self.note(
                    span,
                    format!(
                        "a comparison of {} (or what was computed from it) is not supported by the policy: taken as false",
                        var.name()
                    ),
                );
                Val::Bool(false)
            }
            (Val::NextHop, Val::Ip(a)) if eq_only => {
                let n = IpNet::from(*a);
                let m = Val::Cond(Cond::Atom(Match::NextHop(vec![n])));
                if op == BinOp::Eq { m } else { not(m) }
            }
            _ if same_kind(&x, &y) || is_concrete(&x) && is_concrete(&y) => Val::Error,
            _ => {
                return Err(self.refuse(
                    span,
                    format!(
                        "found a comparison of {} with {}, expected one the policy can evaluate",
                        describe(&x),
                        describe(&y)
                    ),
                ));
            }
        })
    }

    pub(super) fn len_range(&self, op: BinOp, n: i64) -> Val {
        let max = match self.ctx.family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        let (lo, hi) = match op {
            BinOp::Eq => (n, n),
            BinOp::Lt => (0, n - 1),
            BinOp::Le => (0, n),
            BinOp::Gt => (n + 1, max),
            BinOp::Ge => (n, max),
            _ => {
                let m = self.len_range(BinOp::Eq, n);
                return not(m);
            }
        };
        let (lo, hi) = (lo.max(0), hi.min(max));
        if lo > hi {
            return Val::Bool(false);
        }
        let any: IpNet = match self.ctx.family {
            Family::V4 => "0.0.0.0/0".parse().expect("a prefix"),
            Family::V6 => "::/0".parse().expect("a prefix"),
        };
        Val::Cond(Cond::Atom(Match::Prefix(vec![PrefixRange {
            prefix: any,
            ge: lo as u8,
            le: hi as u8,
        }])))
    }

    /// An interface-name test: on our own routes taken on a workload interface, on BGP
    /// routes taken as not matching (only `*` matches every name).
    pub(super) fn ifname(&mut self, test: impl Fn(&str) -> bool, span: Span) -> Val {
        match self.pass {
            Pass::Local if self.ctx.usage != Use::KernelExport => {
                let v = test(WORKLOAD_INTERFACE);
                self.note(
                    span,
                    format!(
                        "interface names are not known to the policy: on our own routes taken as a workload interface ({WORKLOAD_INTERFACE}: {})",
                        if v { "matches" } else { "does not match" }
                    ),
                );
                Val::Bool(v)
            }
            pass => {
                let v = test("");
                let what = if pass == Pass::Local {
                    "static routes"
                } else {
                    "BGP routes"
                };
                self.note(
                    span,
                    format!(
                        "interface names are not known to the policy: on {what} taken as {}",
                        if v { "matching" } else { "not matching" }
                    ),
                );
                Val::Bool(v)
            }
        }
    }

    /// `x ~ y`.
    pub(super) fn matches(&mut self, x: Val, y: Val, span: Span) -> Res<Val> {
        Ok(match (&x, &y) {
            (Val::Undef, _) | (_, Val::Undef) => Val::Error,
            (Val::Net, Val::Prefix(n)) => {
                Val::Cond(Cond::Atom(Match::Prefix(vec![PrefixRange::orlonger(
                    *n,
                    n.max_prefix_len(),
                )])))
            }
            (Val::Net, Val::PrefixSet(set)) => {
                let mut ranges = Vec::new();
                for p in set {
                    if p.low < p.prefix.prefix_len() {
                        return Err(self.refuse(
                            span,
                            format!(
                                "found {}{{{},{}}} in a prefix set, expected lengths from {} up (shorter prefixes around it cannot be matched)",
                                p.prefix,
                                p.low,
                                p.high,
                                p.prefix.prefix_len()
                            ),
                        ));
                    }
                    ranges.push(PrefixRange {
                        prefix: p.prefix,
                        ge: p.low,
                        le: p.high,
                    });
                }
                Val::Cond(Cond::Atom(Match::Prefix(ranges)))
            }
            (Val::Prefix(a), Val::Prefix(b)) => Val::Bool(b.contains(a)),
            (Val::Prefix(a), Val::PrefixSet(set)) => Val::Bool(
                set.iter()
                    .any(|p| p.prefix.contains(a) && (p.low..=p.high).contains(&a.prefix_len())),
            ),
            (Val::Ip(a), Val::Prefix(n)) => Val::Bool(n.contains(a)),
            (Val::NextHop, Val::Prefix(n)) => Val::Cond(Cond::Atom(Match::NextHop(vec![*n]))),
            (Val::Str(s), Val::Str(pat)) => Val::Bool(patmatch(pat, s)),
            (Val::Ifname, Val::Str(pat)) => {
                if pat == "*" {
                    Val::Bool(true)
                } else {
                    self.ifname(|name| patmatch(pat, name), span)
                }
            }
            (Val::Pair(a, b), Val::Communities(l)) => {
                let c = Community::new(*a as u16, *b as u16);
                l.contains(c, || Match::Community(c))
            }
            (Val::Triple(g, a, b), Val::LargeCommunities(l)) => {
                let c = LargeCommunity {
                    global: *g,
                    local1: *a,
                    local2: *b,
                };
                l.contains(c, || Match::LargeCommunity {
                    global: Some(*g),
                    local1: Some(*a),
                    local2: Some(*b),
                })
            }
            (Val::Path(state), Val::Mask(m)) => match state {
                PathState::Known(v) => Val::Bool(mask_match(m, v)),
                PathState::Runtime { front } => from_cond(self.residual(m, front, span)?),
            },
            (Val::Int(n), Val::Path(state)) => {
                let n = *n as u32;
                match state {
                    PathState::Known(v) => Val::Bool(v.contains(&n)),
                    PathState::Runtime { front } if front.contains(&n) => Val::Bool(true),
                    PathState::Runtime { .. } => Val::Cond(Cond::Atom(Match::AsPath(
                        self.pattern(&n.to_string(), span)?,
                    ))),
                }
            }
            (Val::Source(s), Val::Set(items)) => {
                let sources: Vec<RouteSource> = items
                    .iter()
                    .filter_map(|it| match it {
                        SetItem::One(Const::Enum(EnumConst::Source(t))) => Some(*t),
                        _ => None,
                    })
                    .collect();
                match s {
                    Some(s) => Val::Bool(sources.contains(s)),
                    None if sources.iter().all(|t| *t == RouteSource::Bgp) => Val::Bool(false),
                    None => return Err(self.refuse(span, OWN_SOURCES)),
                }
            }
            (v, Val::Set(items)) if is_concrete(v) => {
                let c = match v {
                    Val::Int(n) => Const::Int(*n as u32),
                    Val::Pair(a, b) => Const::Pair(*a, *b),
                    Val::Ip(a) => Const::Ip(*a),
                    Val::Quad(a) => Const::Quad(*a),
                    _ => return Ok(Val::Error),
                };
                Val::Bool(items.iter().any(|it| set_has(it, &c)))
            }
            (Val::Communities(l), Val::Set(items)) => match items.as_slice() {
                [SetItem::One(Const::Pair(a, b))] | [SetItem::Pair([(a, _), (b, _)])]
                    if single_pair(&items[0]) =>
                {
                    let c = Community::new(*a as u16, *b as u16);
                    l.contains(c, || Match::Community(c))
                }
                _ => {
                    return Err(self.refuse(span, "found a community list matched against a set, expected `(a, b) ~ bgp_community`"));
                }
            },
            _ => {
                return Err(self.refuse(
                    span,
                    format!(
                        "found {} ~ {}, expected a match the policy can evaluate (net ~ prefix or prefix set, pair ~ bgp_community, triple ~ bgp_large_community, bgp_path ~ [= ... =], bgp_next_hop ~ prefix)",
                        describe(&x),
                        describe(&y)
                    ),
                ));
            }
        })
    }

    pub(super) fn pattern(&self, text: &str, span: Span) -> Res<AsPathPattern> {
        text.parse::<AsPathPattern>().map_err(|e| {
            self.refuse(
                span,
                format!("found an AS-path mask the policy cannot hold: {e}"),
            )
        })
    }

    /// An AS-path mask over `front` followed by the route's path, as a condition on the
    /// route's path.
    pub(super) fn residual(&self, m: &[MaskItem], front: &[u32], span: Span) -> Res<Cond> {
        let Some((&first, rest)) = front.split_first() else {
            let words: Vec<String> = m
                .iter()
                .map(|i| match i {
                    MaskItem::Asn(a) => a.to_string(),
                    MaskItem::Range(a, b) => format!("{a}-{b}"),
                    MaskItem::Any => "*".into(),
                    MaskItem::One => ".".into(),
                })
                .collect();
            let text = format!("^ {} $", words.join(" "));
            return Ok(Cond::Atom(Match::AsPath(self.pattern(&text, span)?)));
        };
        let Some((item, tail)) = m.split_first() else {
            return Ok(Cond::Lit(Tri::F));
        };
        Ok(match item {
            MaskItem::Asn(a) if *a == first => self.residual(tail, rest, span)?,
            MaskItem::Range(a, b) if (*a..=*b).contains(&first) => {
                self.residual(tail, rest, span)?
            }
            MaskItem::One => self.residual(tail, rest, span)?,
            MaskItem::Any => Cond::Or(
                Box::new(self.residual(tail, front, span)?),
                Box::new(self.residual(m, rest, span)?),
            ),
            _ => Cond::Lit(Tri::F),
        })
    }
}
