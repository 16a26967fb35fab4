//! What the compiler knows of a value, and conditions on routes.

use std::net::IpAddr;

use bgp_core::policy::{Match, PrefixRange};
use bgp_core::wire::attributes::{Community, LargeCommunity, Origin};
use ipnet::IpNet;

use super::super::ast::*;

/// A route attribute whose value is only known at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RtInt {
    LocalPref,
    Med,
}

impl RtInt {
    pub(super) fn name(self) -> &'static str {
        match self {
            RtInt::LocalPref => "bgp_local_pref",
            RtInt::Med => "bgp_med",
        }
    }
}

/// A value as far as it is known.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Undef,
    /// A run-time error happened: the route is rejected.
    Error,
    Bool(bool),
    Int(i64),
    Str(String),
    Ip(IpAddr),
    Prefix(IpNet),
    Pair(u32, u32),
    Triple(u32, u32, u32),
    Quad(std::net::Ipv4Addr),
    /// `None`: one of our own routes, of a source the pass cannot tell.
    Source(Option<RouteSource>),
    Origin(Origin),
    /// The route's ORIGIN.
    RuntimeOrigin,
    /// A value computed from an attribute that has changed since: not followed.
    Stale,
    PrefixSet(Vec<PrefixPattern>),
    Set(Vec<SetItem>),
    Mask(Vec<MaskItem>),
    /// A condition on the route.
    Cond(Cond),
    Net,
    NetLen,
    /// `coef * VAR + off`.
    Lin {
        var: RtInt,
        coef: i64,
        off: i64,
    },
    /// The route's interface (not known, see the notes).
    Ifname,
    /// The name of the protocol the route came from; `own`: one of ours (a kernel,
    /// static or direct protocol).
    Proto {
        own: bool,
    },
    /// The route's BGP next hop.
    NextHop,
    Communities(ListState<Community>),
    LargeCommunities(ListState<LargeCommunity>),
    Path(PathState),
    PathLen(usize),
}

/// A community list: the route's (`None`: empty) with what the filter added and deleted.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ListState<T> {
    pub(super) runtime: bool,
    pub(super) added: Vec<T>,
    pub(super) deleted: Vec<T>,
}

impl<T> ListState<T> {
    pub(super) fn new(runtime: bool) -> ListState<T> {
        ListState {
            runtime,
            added: Vec::new(),
            deleted: Vec::new(),
        }
    }
}

impl<T: PartialEq + Copy> ListState<T> {
    pub(super) fn add(&mut self, x: T) {
        self.deleted.retain(|d| *d != x);
        if !self.added.contains(&x) {
            self.added.push(x);
        }
    }

    pub(super) fn delete(&mut self, x: T) {
        self.added.retain(|d| *d != x);
        if !self.deleted.contains(&x) {
            self.deleted.push(x);
        }
    }

    /// Whether `x` is in the list: known, or a condition on the route's own list.
    pub(super) fn contains(&self, x: T, atom: impl FnOnce() -> Match) -> Val {
        if self.added.contains(&x) {
            Val::Bool(true)
        } else if self.deleted.contains(&x) || !self.runtime {
            Val::Bool(false)
        } else {
            Val::Cond(Cond::Atom(atom()))
        }
    }
}

/// The AS path: known, or the route's with ASes put in front of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PathState {
    Known(Vec<u32>),
    Runtime { front: Vec<u32> },
}

/// A condition on the route, with BIRD's short-circuit `&&` and `||`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cond {
    Lit(Tri),
    Atom(Match),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

/// True, false, or a run-time error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tri {
    T,
    F,
    E,
}

impl Cond {
    /// The value under `assign`, or the first atom it needs that `assign` lacks.
    pub(super) fn eval(&self, assign: &[(Match, bool)]) -> Result<Tri, Match> {
        Ok(match self {
            Cond::Lit(t) => *t,
            Cond::Atom(m) => match assign.iter().find(|(a, _)| a == m) {
                Some((_, true)) => Tri::T,
                Some((_, false)) => Tri::F,
                None => return Err(m.clone()),
            },
            Cond::Not(c) => match c.eval(assign)? {
                Tri::T => Tri::F,
                Tri::F => Tri::T,
                Tri::E => Tri::E,
            },
            Cond::And(a, b) => match a.eval(assign)? {
                Tri::T => b.eval(assign)?,
                other => other,
            },
            Cond::Or(a, b) => match a.eval(assign)? {
                Tri::F => b.eval(assign)?,
                other => other,
            },
        })
    }

    /// Every outcome with the atoms it takes to reach it (beyond `guard`), the cases
    /// exclusive.
    pub(super) fn expand(&self, guard: &[(Match, bool)]) -> Vec<(Vec<(Match, bool)>, Tri)> {
        let mut out = Vec::new();
        let mut assign = guard.to_vec();
        self.expand_into(&mut assign, guard.len(), &mut out);
        out
    }

    pub(super) fn expand_into(
        &self,
        assign: &mut Vec<(Match, bool)>,
        base: usize,
        out: &mut Vec<(Vec<(Match, bool)>, Tri)>,
    ) {
        match self.eval(assign) {
            Ok(t) => out.push((assign[base..].to_vec(), t)),
            Err(atom) => {
                for b in [true, false] {
                    assign.push((atom.clone(), b));
                    self.expand_into(assign, base, out);
                    assign.pop();
                }
            }
        }
    }
}

/// The one range of a prefix condition.
pub(super) fn single_range(m: &Match) -> Option<&PrefixRange> {
    match m {
        Match::Prefix(r) if r.len() == 1 => r.first(),
        _ => None,
    }
}

/// Whether every prefix in `a` is in `b`.
pub(super) fn range_within(a: &PrefixRange, b: &PrefixRange) -> bool {
    b.prefix.contains(&a.prefix) && b.ge <= a.ge.max(a.prefix.prefix_len()) && a.le <= b.le
}

/// Whether no prefix is in both.
pub(super) fn ranges_apart(a: &PrefixRange, b: &PrefixRange) -> bool {
    let (inner, outer) = if b.prefix.contains(&a.prefix) {
        (a, b)
    } else if a.prefix.contains(&b.prefix) {
        (b, a)
    } else {
        return true;
    };
    let lo = inner.ge.max(outer.ge).max(inner.prefix.prefix_len());
    let hi = inner.le.min(outer.le);
    lo > hi
}

/// A guard without the prefix conditions that others imply; none when no route can meet
/// it.
pub(super) fn simplify(guard: &[(Match, bool)]) -> Option<Vec<(Match, bool)>> {
    let mut keep = vec![true; guard.len()];
    for (i, (m, b)) in guard.iter().enumerate() {
        let Some(r) = single_range(m) else { continue };
        for (j, (n, c)) in guard.iter().enumerate() {
            if i == j || !keep[j] {
                continue;
            }
            let Some(s) = single_range(n) else { continue };
            match (b, c) {
                // Inside `s` already says inside `r` when s ⊆ r.
                (true, true) if range_within(s, r) && (!range_within(r, s) || j < i) => {
                    keep[i] = false;
                }
                // Outside `r` says nothing more when inside `s` and apart from `r`.
                (false, true) if ranges_apart(r, s) => keep[i] = false,
                (false, true) if range_within(s, r) => return None,
                // Outside `s` ⊇ r already says outside `r`.
                (false, false) if range_within(r, s) && (!range_within(s, r) || j < i) => {
                    keep[i] = false;
                }
                _ => {}
            }
            if !keep[i] {
                break;
            }
        }
    }
    Some(
        guard
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(g, _)| g.clone())
            .collect(),
    )
}

/// Statements that cannot change a route or its fate: `print`, `preference =`, and `if`s
/// of only those.
pub(super) fn no_effect(stmts: &[Stmt]) -> bool {
    stmts.iter().all(|s| match &s.kind {
        StmtKind::Print(_) | StmtKind::Assign(Target::Preference, _) => true,
        StmtKind::If {
            then, otherwise, ..
        } => no_effect(then) && otherwise.as_deref().is_none_or(no_effect),
        _ => false,
    })
}

pub(super) fn from_cond(c: Cond) -> Val {
    match c {
        Cond::Lit(Tri::T) => Val::Bool(true),
        Cond::Lit(Tri::F) => Val::Bool(false),
        Cond::Lit(Tri::E) => Val::Error,
        c => Val::Cond(c),
    }
}

pub(super) fn not(v: Val) -> Val {
    match v {
        Val::Bool(b) => Val::Bool(!b),
        Val::Cond(c) => Val::Cond(Cond::Not(Box::new(c))),
        other => other,
    }
}

pub(super) fn path_len(op: BinOp, front: i64, n: i64) -> Val {
    // len = front + L: compare L with n - front.
    let at_most = |k: i64| -> Val {
        if k < 0 {
            Val::Bool(false)
        } else {
            Val::Cond(Cond::Atom(Match::AsPathLenAtMost(k as usize)))
        }
    };
    let k = n - front;
    match op {
        BinOp::Le => at_most(k),
        BinOp::Lt => at_most(k - 1),
        BinOp::Gt => not(at_most(k)),
        BinOp::Ge => not(at_most(k - 1)),
        BinOp::Eq => match (at_most(k), not(at_most(k - 1))) {
            (Val::Bool(false), _) => Val::Bool(false),
            (a, Val::Bool(true)) => a,
            (Val::Cond(a), Val::Cond(b)) => Val::Cond(Cond::And(Box::new(a), Box::new(b))),
            (a, _) => a,
        },
        _ => not(path_len(BinOp::Eq, front, n)),
    }
}

pub(super) fn single_pair(it: &SetItem) -> bool {
    match it {
        SetItem::One(Const::Pair(..)) => true,
        SetItem::Pair([(a, b), (c, d)]) => a == b && c == d,
        _ => false,
    }
}

pub(super) fn set_has(it: &SetItem, c: &Const) -> bool {
    let num = |c: &Const| match c {
        Const::Int(n) => Some(u64::from(*n)),
        Const::Pair(a, b) => Some((u64::from(*a) << 16) | u64::from(*b)),
        _ => None,
    };
    match it {
        SetItem::One(x) => x == c,
        SetItem::Range(a, b) => match (num(a), num(b), num(c)) {
            (Some(a), Some(b), Some(x)) => (a..=b).contains(&x),
            _ => false,
        },
        SetItem::Pair([(a1, a2), (b1, b2)]) => match c {
            Const::Pair(x, y) => (a1..=a2).contains(&x) && (b1..=b2).contains(&y),
            _ => false,
        },
        SetItem::Triple(_) => false,
    }
}

pub(super) fn is_concrete(v: &Val) -> bool {
    matches!(
        v,
        Val::Bool(_)
            | Val::Int(_)
            | Val::Str(_)
            | Val::Ip(_)
            | Val::Prefix(_)
            | Val::Pair(..)
            | Val::Triple(..)
            | Val::Quad(_)
            | Val::Origin(_)
            | Val::Source(Some(_))
    )
}

pub(super) fn same_kind(x: &Val, y: &Val) -> bool {
    std::mem::discriminant(x) == std::mem::discriminant(y)
}

pub(super) fn const_val(c: &Const) -> Val {
    match c {
        Const::Int(n) => Val::Int(i64::from(*n)),
        Const::Bool(b) => Val::Bool(*b),
        Const::Str(s) => Val::Str(s.clone()),
        Const::Ip(a) => Val::Ip(*a),
        Const::Prefix(p) => Val::Prefix(*p),
        Const::Pair(a, b) => Val::Pair(*a, *b),
        Const::Triple(a, b, c) => Val::Triple(*a, *b, *c),
        Const::Quad(a) => Val::Quad(*a),
        Const::Enum(EnumConst::Source(s)) => Val::Source(Some(*s)),
        Const::Enum(EnumConst::Origin(o)) => Val::Origin(*o),
    }
}

pub(super) fn describe(v: &Val) -> String {
    match v {
        Val::Undef => "an undefined value".into(),
        Val::Error => "an error".into(),
        Val::Bool(b) => b.to_string(),
        Val::Int(n) => n.to_string(),
        Val::Str(s) => format!("\"{s}\""),
        Val::Ip(a) => a.to_string(),
        Val::Prefix(p) => p.to_string(),
        Val::Pair(a, b) => format!("({a}, {b})"),
        Val::Triple(a, b, c) => format!("({a}, {b}, {c})"),
        Val::Quad(a) => a.to_string(),
        Val::Source(_) => "source".into(),
        Val::Origin(_) => "an origin".into(),
        Val::RuntimeOrigin => "bgp_origin".into(),
        Val::Stale => "a value computed from an attribute changed since".into(),
        Val::PrefixSet(_) => "a prefix set".into(),
        Val::Set(_) => "a set".into(),
        Val::Mask(_) => "an AS-path mask".into(),
        Val::Cond(_) => "a condition".into(),
        Val::Net => "net".into(),
        Val::NetLen => "net.len".into(),
        Val::Lin { var, .. } => var.name().into(),
        Val::Ifname => "ifname".into(),
        Val::Proto { .. } => "proto".into(),
        Val::NextHop => "bgp_next_hop".into(),
        Val::Communities(_) => "bgp_community".into(),
        Val::LargeCommunities(_) => "bgp_large_community".into(),
        Val::Path(_) => "bgp_path".into(),
        Val::PathLen(_) => "bgp_path.len".into(),
    }
}

/// BIRD's `patmatch`: `*` any run of characters, `?` any one.
pub fn patmatch(pat: &str, s: &str) -> bool {
    let (p, s) = (pat.as_bytes(), s.as_bytes());
    pub(super) fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|k| go(&p[1..], &s[k..])),
            Some(b'?') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(p, s)
}

/// A mask over a known path (BIRD masks match the whole path).
pub(super) fn mask_match(m: &[MaskItem], path: &[u32]) -> bool {
    match m.split_first() {
        None => path.is_empty(),
        Some((MaskItem::Any, rest)) => (0..=path.len()).any(|k| mask_match(rest, &path[k..])),
        Some((item, rest)) => match path.split_first() {
            None => false,
            Some((a, tail)) => {
                let hit = match item {
                    MaskItem::Asn(x) => x == a,
                    MaskItem::Range(lo, hi) => (lo..=hi).contains(&a),
                    MaskItem::One => true,
                    MaskItem::Any => unreachable!("handled above"),
                };
                hit && mask_match(rest, tail)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str, ge: u8, le: u8) -> Match {
        Match::Prefix(vec![PrefixRange {
            prefix: s.parse().unwrap(),
            ge,
            le,
        }])
    }

    #[test]
    fn patterns_and_masks_match_as_in_bird() {
        assert!(patmatch("*.cali", "bpfout.cali"));
        assert!(!patmatch("*.cali", "cali12ab"));
        assert!(patmatch("bpf*.cali", "bpfin.cali"));
        assert!(patmatch("eth?", "eth0"));
        assert!(patmatch("*", ""));
        let m = |items: &[MaskItem], path: &[u32]| mask_match(items, path);
        use MaskItem::*;
        assert!(m(&[Asn(65000), Any], &[65000]));
        assert!(m(&[Asn(65000), Any], &[65000, 1, 2]));
        assert!(!m(&[Asn(65000), Any], &[1, 65000]));
        assert!(m(&[Any, Range(10, 20), One], &[1, 15, 3]));
        assert!(!m(&[], &[1]));
    }

    /// Splitting a condition on its atoms gives exclusive cases, with short circuits: the
    /// right side of `&&` is not looked at when the left is false.
    #[test]
    fn conditions_expand_into_exclusive_cases() {
        let a = range("10.0.0.0/8", 8, 32);
        let b = Match::Community(Community::new(1, 2));
        let c = Cond::And(
            Box::new(Cond::Atom(a.clone())),
            Box::new(Cond::Or(
                Box::new(Cond::Atom(b.clone())),
                Box::new(Cond::Lit(Tri::E)),
            )),
        );
        let cases = c.expand(&[]);
        assert_eq!(
            cases,
            [
                (vec![(a.clone(), true), (b.clone(), true)], Tri::T),
                (vec![(a.clone(), true), (b.clone(), false)], Tri::E),
                (vec![(a.clone(), false)], Tri::F),
            ]
        );
        // What the guard already decides is not asked again.
        assert_eq!(c.expand(&[(a.clone(), false)]), [(vec![], Tri::F)]);
    }

    #[test]
    fn guards_drop_implied_prefix_conditions_and_impossible_ones() {
        let pool = range("192.168.0.0/16", 16, 32);
        let block = range("192.168.1.0/26", 26, 32);
        let block_exact = range("192.168.1.0/26", 26, 26);
        let other = range("10.0.0.0/30", 30, 32);
        let g = vec![
            (other.clone(), false),
            (block_exact.clone(), false),
            (block.clone(), false),
            (pool.clone(), true),
        ];
        assert_eq!(
            simplify(&g),
            Some(vec![(block.clone(), false), (pool.clone(), true)])
        );
        assert_eq!(
            simplify(&[(pool.clone(), false), (block.clone(), true)]),
            None
        );
        assert_eq!(
            simplify(&[(pool.clone(), true), (block_exact.clone(), true)]),
            Some(vec![(block_exact, true)])
        );
    }
}
