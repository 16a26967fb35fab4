//! BIRD filters turned into route-matching rules, by running them on symbolic routes.
//!
//! A filter is run once per kind of route it can see (a *pass*): routes of our own (kernel,
//! static, direct) and routes learned over BGP. Everything known in a pass is folded: the
//! route's source, function arguments, attributes the filter set earlier, BIRD's defaults
//! (on export BIRD gives a route of our own ORIGIN IGP, an empty AS path, or our AS towards
//! an eBGP peer, and LOCAL_PREF 100, before the filter runs; a LOCAL_PREF received over
//! eBGP is replaced by 100). What depends on the route at run time becomes a condition
//! ([`Match`]); where it does, the run forks. Every way through the filter ends in
//! `accept` or `reject` (the end of a filter and a run-time error both reject, as in BIRD)
//! and yields one [`PathOut`]: the conditions that lead there, the changes made on the way,
//! and the verdict. Ways are exclusive, so the accepting ones, as terms with the verdict
//! accept in any order and a default of reject, decide every route as BIRD would.
//!
//! Some conditions cannot be expressed as a [`Match`] (interface names, comparisons of
//! LOCAL_PREF or MED, kernel metrics of learned routes). Each is taken with a stated
//! assumption and reported as a [`Note`] with its position, never dropped silently; so is
//! `preference =`, BIRD's preference between protocols, which bgp-core has no counterpart
//! for. `print` has no effect on routes and is dropped.

use std::collections::HashMap;
use std::net::IpAddr;

use bgp_core::policy::Verdict;
use bgp_core::policy::{Action, Match, NextHopAction, RouteType};
use bgp_core::wire::attributes::{Community, LargeCommunity, Origin};

use super::Family;
use super::ast::*;
use super::source::{Error, Sources, Span};

mod ops;
mod value;

pub use value::patmatch;
use value::*;

type Res<T> = Result<T, Error>;

/// More ways through one filter than this are refused (the filter is too intricate to map).
const MAX_PATHS: usize = 20_000;

const OWN_SOURCES: &str = "found a test for a source of our own routes, expected RTS_BGP (kernel, static and direct routes cannot be told apart)";

/// Calico names workload interfaces `cali` and eleven hex digits; interface patterns on our
/// own routes are matched against such a name (see [`Note`]).
pub const WORKLOAD_INTERFACE: &str = "cali0123456789a";

/// Something the mapping could not carry over exactly: where, and the assumption taken.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    pub span: Span,
    pub message: String,
}

/// Where a filter is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// On routes received from a BGP peer.
    BgpImport { internal: bool },
    /// On routes sent to a BGP peer.
    BgpExport { internal: bool, local_as: u32 },
    /// On routes written into the kernel.
    KernelExport,
}

/// The kinds of route a filter is run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Routes of our own: kernel, static, direct (`RouteType::Local`); in a kernel export,
    /// the static routes.
    Local,
    /// Routes learned over BGP.
    Bgp,
}

impl Pass {
    pub fn route_types(self) -> Vec<RouteType> {
        match self {
            Pass::Local => vec![RouteType::Local],
            Pass::Bgp => vec![
                RouteType::Internal,
                RouteType::External,
                RouteType::Reflected,
            ],
        }
    }
}

/// What the compiler needs to know around a filter.
#[derive(Debug)]
pub struct Context<'a> {
    pub sources: &'a Sources,
    pub family: Family,
    pub usage: Use,
    /// The protocol the filter belongs to.
    pub protocol: &'a str,
    /// BGP protocols by name, with their neighbor (for `proto = "NAME"`).
    pub bgp_protocols: &'a HashMap<String, IpAddr>,
    /// The names of the other protocols (kernel, static, direct, device).
    pub other_protocols: &'a [String],
}

/// How a kernel route's metric is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelMetric {
    /// Not set by the filter: the kernel protocol's `metric`.
    Default,
    Const(u32),
    /// `BASE - LOCAL_PREF`.
    FromLocalPref {
        base: u32,
    },
}

/// One way through a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOut {
    /// Conditions that all hold on this way (`false`: the condition does not hold).
    pub guard: Vec<(Match, bool)>,
    pub actions: Vec<Action>,
    pub verdict: Verdict,
    /// `krt_tunnel` at the end (none or empty: no tunnel).
    pub tunnel: Option<String>,
    pub metric: KernelMetric,
}

impl PathOut {
    /// The guard as [`Match`]es, negations wrapped in [`Match::Not`].
    pub fn matches(&self) -> Vec<Match> {
        self.guard
            .iter()
            .map(|(m, b)| {
                if *b {
                    m.clone()
                } else {
                    Match::Not(Box::new(m.clone()))
                }
            })
            .collect()
    }
}

/// A compiled filter: every way through it, per pass.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    pub paths: Vec<(Pass, Vec<PathOut>)>,
    pub notes: Vec<Note>,
}

/// Runs `filter` over the passes its use sees.
pub fn compile(filter: &FilterDef, ctx: &Context<'_>) -> Res<Compiled> {
    let passes = [Pass::Local, Pass::Bgp];
    let passes: &[Pass] = match ctx.usage {
        Use::BgpImport { .. } => &passes[1..],
        _ => &passes,
    };
    let mut c = Compiler {
        ctx,
        notes: Vec::new(),
        out: Vec::new(),
        count: 0,
        filter_span: filter.span,
        pass: Pass::Bgp,
    };
    let mut result = Compiled::default();
    for &pass in passes {
        c.pass = pass;
        c.out.clear();
        let path = c.start(pass, filter);
        let k = vec![Frame {
            stmts: &filter.body,
            idx: 0,
            function: false,
        }];
        c.run(k, path)?;
        result.paths.push((pass, std::mem::take(&mut c.out)));
    }
    result.notes = c.notes;
    Ok(result)
}

/// Where the run goes on: a list of statements and the next one.
#[derive(Debug, Clone)]
struct Frame<'f> {
    stmts: &'f [Stmt],
    idx: usize,
    /// The body of a called function (its variables go when it ends).
    function: bool,
}

/// What is known on one way through the filter.
#[derive(Debug, Clone)]
struct Path {
    guard: Vec<(Match, bool)>,
    actions: Vec<Action>,
    local_pref: Val,
    med: Val,
    origin: Val,
    next_hop: Val,
    communities: ListState<Community>,
    large: ListState<LargeCommunity>,
    /// None: the route has no AS path (a static route towards the kernel).
    as_path: Option<PathState>,
    krt_metric: Val,
    krt_tunnel: Val,
    /// Variables of the filter, then of each function being run.
    envs: Vec<HashMap<String, Val>>,
}

struct Compiler<'c, 'a> {
    ctx: &'c Context<'a>,
    notes: Vec<Note>,
    out: Vec<PathOut>,
    count: usize,
    filter_span: Span,
    pass: Pass,
}

impl Compiler<'_, '_> {
    fn note(&mut self, span: Span, message: impl Into<String>) {
        let n = Note {
            span,
            message: message.into(),
        };
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    fn refuse(&self, span: Span, message: impl Into<String>) -> Error {
        self.ctx.sources.error(span, message)
    }

    /// The route as the filter first sees it.
    fn start(&self, pass: Pass, filter: &FilterDef) -> Path {
        let mut env = HashMap::new();
        for d in &filter.locals {
            env.insert(d.name.clone(), Val::Undef);
        }
        let guard = match self.ctx.usage {
            Use::BgpImport { .. } => Vec::new(),
            _ => vec![(Match::RouteType(pass.route_types()), true)],
        };
        let mut p = Path {
            guard,
            actions: Vec::new(),
            local_pref: Val::Undef,
            med: Val::Undef,
            origin: Val::Undef,
            next_hop: Val::Undef,
            communities: ListState::new(false),
            large: ListState::new(false),
            as_path: None,
            krt_metric: Val::Undef,
            krt_tunnel: Val::Undef,
            envs: vec![env],
        };
        let lin = |var| Val::Lin {
            var,
            coef: 1,
            off: 0,
        };
        match (pass, self.ctx.usage) {
            (Pass::Local, Use::BgpExport { internal, local_as }) => {
                // bgp_create_attrs: what BIRD gives our own routes before the filter runs.
                p.origin = Val::Origin(Origin::Igp);
                p.as_path = Some(PathState::Known(if internal {
                    vec![]
                } else {
                    vec![local_as]
                }));
                p.next_hop = Val::NextHop;
                p.local_pref = Val::Int(100);
            }
            (Pass::Local, _) => {}
            (Pass::Bgp, usage) => {
                p.origin = Val::RuntimeOrigin;
                p.next_hop = Val::NextHop;
                p.med = lin(RtInt::Med);
                p.communities = ListState::new(true);
                p.large = ListState::new(true);
                p.local_pref = match usage {
                    // A LOCAL_PREF from an eBGP peer is dropped and 100 put in its place.
                    Use::BgpImport { internal: false } => Val::Int(100),
                    _ => lin(RtInt::LocalPref),
                };
                p.as_path = Some(PathState::Runtime {
                    front: match usage {
                        // Towards eBGP, BIRD puts our AS in front before the filter runs.
                        Use::BgpExport {
                            internal: false,
                            local_as,
                        } => vec![local_as],
                        _ => vec![],
                    },
                });
            }
        }
        p
    }

    fn finish(&mut self, mut p: Path, verdict: Verdict) -> Res<()> {
        match simplify(&p.guard) {
            Some(g) => p.guard = g,
            // No route takes this way.
            None => return Ok(()),
        }
        self.count += 1;
        if self.count > MAX_PATHS {
            return Err(self.refuse(
                self.filter_span,
                format!("found a filter with more than {MAX_PATHS} ways through it, expected a simpler one"),
            ));
        }
        let tunnel = match p.krt_tunnel {
            Val::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        };
        let metric = match p.krt_metric {
            Val::Int(n) => KernelMetric::Const(n.clamp(0, i64::from(u32::MAX)) as u32),
            Val::Lin {
                var: RtInt::LocalPref,
                coef: -1,
                off,
            } if (0..=i64::from(u32::MAX)).contains(&off) => {
                KernelMetric::FromLocalPref { base: off as u32 }
            }
            Val::Undef => KernelMetric::Default,
            _ if self.ctx.usage != Use::KernelExport => KernelMetric::Default,
            _ => {
                return Err(self.refuse(
                    self.filter_span,
                    "found krt_metric computed in a way the kernel writer cannot follow, expected a number or NUMBER - bgp_local_pref",
                ));
            }
        };
        self.out.push(PathOut {
            guard: p.guard,
            actions: p.actions,
            verdict,
            tunnel,
            metric,
        });
        Ok(())
    }

    fn run<'f>(&mut self, mut k: Vec<Frame<'f>>, mut p: Path) -> Res<()> {
        loop {
            let Some(top) = k.last_mut() else {
                // The end of the filter without a verdict: BIRD rejects.
                return self.finish(p, Verdict::Reject);
            };
            if top.idx >= top.stmts.len() {
                if k.pop().is_some_and(|f| f.function) {
                    p.envs.pop();
                }
                continue;
            }
            let stmts: &'f [Stmt] = top.stmts;
            let stmt: &'f Stmt = &stmts[top.idx];
            top.idx += 1;
            match &stmt.kind {
                StmtKind::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let noted = self.notes.len();
                    let c = self.eval(cond, &mut p)?;
                    let c = match c {
                        Val::Bool(b) => Cond::Lit(if b { Tri::T } else { Tri::F }),
                        Val::Cond(c) => c,
                        // Not a condition: BIRD stops with a run-time error.
                        _ => Cond::Lit(Tri::E),
                    };
                    // Nothing on either side changes the route: unless the condition can
                    // fail, it does not matter (only what is dropped is noted).
                    if no_effect(then)
                        && otherwise.as_deref().is_none_or(no_effect)
                        && c.expand(&p.guard).iter().all(|(_, t)| *t != Tri::E)
                    {
                        self.notes.truncate(noted);
                        self.note_dropped(then);
                        if let Some(o) = otherwise {
                            self.note_dropped(o);
                        }
                        continue;
                    }
                    for (ext, t) in c.expand(&p.guard) {
                        let mut p2 = p.clone();
                        p2.guard.extend(ext);
                        let mut k2 = k.clone();
                        match t {
                            Tri::T => k2.push(Frame {
                                stmts: then,
                                idx: 0,
                                function: false,
                            }),
                            Tri::F => {
                                if let Some(o) = otherwise {
                                    k2.push(Frame {
                                        stmts: o,
                                        idx: 0,
                                        function: false,
                                    });
                                }
                            }
                            Tri::E => {
                                self.finish(p2, Verdict::Reject)?;
                                continue;
                            }
                        }
                        self.run(k2, p2)?;
                    }
                    return Ok(());
                }
                StmtKind::Accept => return self.finish(p, Verdict::Accept),
                StmtKind::Reject => return self.finish(p, Verdict::Reject),
                StmtKind::Return(e) => {
                    let v = self.eval(e, &mut p)?;
                    if v == Val::Error {
                        return self.finish(p, Verdict::Reject);
                    }
                    // Leave the innermost function; at the filter's level, a reject.
                    loop {
                        match k.pop() {
                            None => return self.finish(p, Verdict::Reject),
                            Some(f) if f.function => {
                                p.envs.pop();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                StmtKind::Print(_) => {}
                StmtKind::Assign(target, e) => {
                    let v = self.eval(e, &mut p)?;
                    if v == Val::Error {
                        return self.finish(p, Verdict::Reject);
                    }
                    if !self.assign(target, v, stmt.span, &mut p)? {
                        return self.finish(p, Verdict::Reject);
                    }
                }
                StmtKind::Unset(a) => {
                    let ok = match a {
                        Attr::KrtMetric => {
                            p.krt_metric = Val::Undef;
                            true
                        }
                        Attr::KrtTunnel => {
                            p.krt_tunnel = Val::Undef;
                            true
                        }
                        Attr::BgpMed => {
                            p.med = Val::Undef;
                            p.actions.push(Action::RemoveMed);
                            true
                        }
                        _ => false,
                    };
                    if !ok {
                        return Err(self.refuse(
                            stmt.span,
                            format!(
                                "found unset({}), expected unset of bgp_med, krt_metric or krt_tunnel (the policy cannot remove it)",
                                a.name()
                            ),
                        ));
                    }
                }
                StmtKind::Method(a, m, e) => {
                    let v = self.eval(e, &mut p)?;
                    if v == Val::Error {
                        return self.finish(p, Verdict::Reject);
                    }
                    self.method(*a, *m, v, stmt.span, &mut p)?;
                }
                StmtKind::Call(f, args) => {
                    let mut env = HashMap::new();
                    for (d, a) in f.params.iter().zip(args) {
                        let v = self.eval(a, &mut p)?;
                        if v == Val::Error {
                            return self.finish(p, Verdict::Reject);
                        }
                        env.insert(d.name.clone(), v);
                    }
                    for d in &f.locals {
                        env.insert(d.name.clone(), Val::Undef);
                    }
                    p.envs.push(env);
                    k.push(Frame {
                        stmts: &f.body,
                        idx: 0,
                        function: true,
                    });
                }
            }
        }
    }

    /// Carries out an assignment; false on a run-time error.
    fn assign(&mut self, target: &Target, v: Val, span: Span, p: &mut Path) -> Res<bool> {
        match target {
            Target::Var(name) => {
                if let Some(env) = p.envs.iter_mut().rev().find(|e| e.contains_key(name)) {
                    env.insert(name.clone(), v);
                }
                Ok(true)
            }
            Target::Preference => {
                self.assign_preference_note(span);
                Ok(true)
            }
            Target::Attr(a) => {
                if v == Val::Undef {
                    return Ok(false);
                }
                match a {
                    Attr::KrtMetric => {
                        if !matches!(v, Val::Int(_) | Val::Lin { .. }) {
                            return Ok(false);
                        }
                        p.krt_metric = v;
                    }
                    Attr::KrtTunnel => {
                        if !matches!(v, Val::Str(_)) {
                            return Ok(false);
                        }
                        p.krt_tunnel = v;
                    }
                    Attr::BgpLocalPref | Attr::BgpMed => {
                        let rt = if *a == Attr::BgpLocalPref {
                            RtInt::LocalPref
                        } else {
                            RtInt::Med
                        };
                        match v {
                            Val::Int(n) => {
                                let Ok(n) = u32::try_from(n) else {
                                    return Err(self.refuse(
                                        span,
                                        format!(
                                            "found {} = {n}, expected a value from 0 to 4294967295",
                                            a.name()
                                        ),
                                    ));
                                };
                                p.actions.push(if rt == RtInt::LocalPref {
                                    Action::SetLocalPref(n)
                                } else {
                                    Action::SetMed(n)
                                });
                                self.set_int(rt, Val::Int(i64::from(n)), p);
                            }
                            Val::Lin {
                                var,
                                coef: 1,
                                off: 0,
                            } if var == rt => {}
                            _ => {
                                return Err(self.refuse(
                                    span,
                                    format!(
                                        "found {} set to a value computed from the route, expected a constant (policies set fixed values)",
                                        a.name()
                                    ),
                                ));
                            }
                        }
                    }
                    Attr::BgpOrigin => {
                        let Val::Origin(o) = v else { return Ok(false) };
                        p.actions.push(Action::SetOrigin(o));
                        p.origin = Val::Origin(o);
                    }
                    Attr::BgpNextHop => {
                        let Val::Ip(a) = v else { return Ok(false) };
                        p.actions.push(Action::SetNextHop(NextHopAction::Addr(a)));
                        p.next_hop = Val::Ip(a);
                    }
                    _ => {
                        return Err(self.refuse(
                            span,
                            format!(
                                "found an assignment to {}, expected one to bgp_local_pref, bgp_med, bgp_origin, bgp_next_hop, krt_metric or krt_tunnel",
                                a.name()
                            ),
                        ));
                    }
                }
                Ok(true)
            }
        }
    }

    /// Notes the `preference =` in statements skipped for having no effect.
    fn note_dropped(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            match &s.kind {
                StmtKind::Assign(Target::Preference, _) => {
                    self.assign_preference_note(s.span);
                }
                StmtKind::If {
                    then, otherwise, ..
                } => {
                    self.note_dropped(then);
                    if let Some(o) = otherwise {
                        self.note_dropped(o);
                    }
                }
                _ => {}
            }
        }
    }

    fn assign_preference_note(&mut self, span: Span) {
        self.note(
            span,
            "`preference` (BIRD's choice between routes of different protocols) is not carried: the speaker has no per-route preference",
        );
    }

    fn set_int(&self, rt: RtInt, v: Val, p: &mut Path) {
        // krt_metric may have been computed from the old value: pin it down first.
        if let Val::Lin { var, .. } = p.krt_metric
            && var == rt
        {
            p.krt_metric = Val::Stale;
        }
        match rt {
            RtInt::LocalPref => p.local_pref = v,
            RtInt::Med => p.med = v,
        }
    }

    fn method(&mut self, a: Attr, m: Method, v: Val, span: Span, p: &mut Path) -> Res<()> {
        match (a, m, v) {
            (Attr::BgpCommunity, Method::Add | Method::Delete, Val::Pair(x, y))
                if x <= 0xFFFF && y <= 0xFFFF =>
            {
                let c = Community::new(x as u16, y as u16);
                if m == Method::Add {
                    p.communities.add(c);
                    p.actions.push(Action::AddCommunity(c));
                } else {
                    p.communities.delete(c);
                    p.actions.push(Action::RemoveCommunity(c));
                }
            }
            (Attr::BgpLargeCommunity, Method::Add | Method::Delete, Val::Triple(g, l1, l2)) => {
                let c = LargeCommunity {
                    global: g,
                    local1: l1,
                    local2: l2,
                };
                if m == Method::Add {
                    p.large.add(c);
                    p.actions.push(Action::AddLargeCommunity(c));
                } else {
                    p.large.delete(c);
                    p.actions.push(Action::RemoveLargeCommunity(c));
                }
            }
            (Attr::BgpPath, Method::Prepend, Val::Int(n)) if u32::try_from(n).is_ok() => {
                let asn = n as u32;
                match &mut p.as_path {
                    Some(PathState::Known(v)) => v.insert(0, asn),
                    Some(PathState::Runtime { front }) => front.insert(0, asn),
                    None => p.as_path = Some(PathState::Known(vec![asn])),
                }
                p.actions.push(Action::Prepend(asn, 1));
            }
            (a, m, v) => {
                return Err(self.refuse(
                    span,
                    format!(
                        "found {}.{}({}), expected bgp_community.add/delete of a pair, bgp_large_community.add/delete of a triple, or bgp_path.prepend of an AS number",
                        a.name(),
                        match m {
                            Method::Add => "add",
                            Method::Delete => "delete",
                            Method::Prepend => "prepend",
                        },
                        describe(&v)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn var(&self, name: &str, p: &Path) -> Val {
        p.envs
            .iter()
            .rev()
            .find_map(|e| e.get(name))
            .cloned()
            .unwrap_or(Val::Undef)
    }

    fn attr(&mut self, a: Attr, span: Span, p: &Path) -> Res<Val> {
        let local = self.pass == Pass::Local;
        Ok(match a {
            Attr::Net => Val::Net,
            Attr::Source => match (self.pass, self.ctx.usage) {
                (Pass::Bgp, _) => Val::Source(Some(RouteSource::Bgp)),
                (Pass::Local, Use::KernelExport) => Val::Source(Some(RouteSource::Static)),
                (Pass::Local, _) => Val::Source(None),
            },
            Attr::Proto => match (self.pass, self.ctx.usage) {
                (Pass::Bgp, Use::BgpImport { .. }) => Val::Str(self.ctx.protocol.to_string()),
                (Pass::Bgp, _) => Val::Proto { own: false },
                (Pass::Local, _) => Val::Proto { own: true },
            },
            Attr::Ifname => Val::Ifname,
            Attr::From | Attr::Gw => {
                return Err(self.refuse(
                    span,
                    format!(
                        "found the attribute `{}`, expected one the policy can read",
                        a.name()
                    ),
                ));
            }
            Attr::BgpPath => match &p.as_path {
                None => Val::Undef,
                Some(s) => Val::Path(s.clone()),
            },
            Attr::BgpLocalPref => p.local_pref.clone(),
            Attr::BgpMed => p.med.clone(),
            Attr::BgpOrigin => p.origin.clone(),
            Attr::BgpNextHop => p.next_hop.clone(),
            Attr::BgpCommunity => Val::Communities(p.communities.clone()),
            Attr::BgpLargeCommunity => Val::LargeCommunities(p.large.clone()),
            Attr::KrtMetric => {
                if local && self.ctx.usage != Use::KernelExport && p.krt_metric == Val::Undef {
                    self.note(
                        span,
                        "the kernel metric of our own routes (`krt_metric`) is not known to the policy: taken as unset, as for a route without a metric (higher-priority workload routes are not told apart)",
                    );
                }
                p.krt_metric.clone()
            }
            Attr::KrtTunnel => p.krt_tunnel.clone(),
        })
    }

    fn eval(&mut self, e: &Expr, p: &mut Path) -> Res<Val> {
        Ok(match &e.kind {
            ExprKind::Const(c) => const_val(c),
            ExprKind::PrefixSet(v) => Val::PrefixSet(v.clone()),
            ExprKind::Set(v) => Val::Set(v.clone()),
            ExprKind::PathMask(v) => Val::Mask(v.clone()),
            ExprKind::Tuple(parts) => {
                let mut v = Vec::new();
                for x in parts {
                    match self.eval(x, p)? {
                        Val::Int(n) if (0..=i64::from(u32::MAX)).contains(&n) => v.push(n as u32),
                        Val::Error | Val::Undef => return Ok(Val::Error),
                        other => {
                            return Err(self.refuse(
                                x.span,
                                format!("found {} in a pair, expected a number", describe(&other)),
                            ));
                        }
                    }
                }
                match v.as_slice() {
                    [a, b] if *a <= 0xFFFF && *b <= 0xFFFF => Val::Pair(*a, *b),
                    [a, b] => {
                        return Err(self.refuse(
                            e.span,
                            format!("found pair ({a}, {b}), expected 16-bit parts"),
                        ));
                    }
                    [a, b, c] => Val::Triple(*a, *b, *c),
                    _ => Val::Error,
                }
            }
            ExprKind::Var(n) => self.var(n, p),
            ExprKind::Attr(a) => self.attr(*a, e.span, p)?,
            ExprKind::Preference => {
                self.note(
                    e.span,
                    "`preference` is not known to the policy: taken as 100, BGP's default",
                );
                Val::Int(100)
            }
            ExprKind::Not(x) => match self.eval(x, p)? {
                Val::Bool(b) => Val::Bool(!b),
                Val::Cond(c) => Val::Cond(Cond::Not(Box::new(c))),
                _ => Val::Error,
            },
            ExprKind::Defined(x) => match self.eval(x, p)? {
                Val::Undef => Val::Bool(false),
                Val::Error => Val::Error,
                Val::Lin {
                    var: RtInt::Med, ..
                } => {
                    self.note(
                        e.span,
                        "whether a BGP route carries a MED is not known to the policy: taken as carrying one",
                    );
                    Val::Bool(true)
                }
                _ => Val::Bool(true),
            },
            ExprKind::Field(x, f) => {
                let v = self.eval(x, p)?;
                match (v, f) {
                    (Val::Net, Field::Len) => Val::NetLen,
                    (Val::Prefix(n), Field::Len) => Val::Int(i64::from(n.prefix_len())),
                    (Val::Path(PathState::Known(v)), Field::Len) => Val::Int(v.len() as i64),
                    (Val::Path(PathState::Runtime { front }), Field::Len) => {
                        Val::PathLen(front.len())
                    }
                    (Val::Prefix(n), Field::Ip) => Val::Ip(n.addr()),
                    (Val::Error | Val::Undef, _) => Val::Error,
                    (v, _) => {
                        return Err(self.refuse(
                            e.span,
                            format!(
                                "found a field of {}, expected `.len` of net, a prefix or bgp_path",
                                describe(&v)
                            ),
                        ));
                    }
                }
            }
            ExprKind::Call(f, _) => {
                return Err(self.refuse(
                    e.span,
                    format!(
                        "found function {} used as a value, expected it called as a statement",
                        f.name
                    ),
                ));
            }
            ExprKind::Binary(op, a, b) => {
                let x = self.eval(a, p)?;
                if matches!(op, BinOp::And | BinOp::Or) {
                    return self.logic(*op, x, b, p);
                }
                let y = self.eval(b, p)?;
                if x == Val::Error || y == Val::Error {
                    return Ok(Val::Error);
                }
                match op {
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                        self.arith(*op, x, y, e.span)?
                    }
                    BinOp::Match | BinOp::NotMatch => {
                        let m = self.matches(x, y, e.span)?;
                        if *op == BinOp::NotMatch { not(m) } else { m }
                    }
                    _ => self.compare(*op, x, y, e.span)?,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex_text;
    use super::super::parser::parse;
    use super::*;
    use bgp_core::policy::PrefixRange;

    fn compiled(src: &str, usage: Use) -> Compiled {
        let mut s = Sources::default();
        let toks = lex_text(&mut s, "t.cfg".into(), src.into(), Family::V4).unwrap();
        let cfg = parse(toks, &s, Family::V4).unwrap();
        let names = HashMap::new();
        let ctx = Context {
            sources: &s,
            family: Family::V4,
            usage,
            protocol: "p",
            bgp_protocols: &names,
            other_protocols: &[],
        };
        compile(cfg.filters.last().unwrap(), &ctx).unwrap()
    }

    fn prefix(s: &str, ge: u8, le: u8) -> Match {
        Match::Prefix(vec![PrefixRange {
            prefix: s.parse().unwrap(),
            ge,
            le,
        }])
    }

    /// Calico's aggregation: the block goes out, more-specifics with a metric below the
    /// normal priority too, others inside the block not; our own routes carry no metric
    /// (noted), so the second rule never holds for them.
    #[test]
    fn calico_aggregation_yields_one_way_per_outcome() {
        let c = compiled(
            "function aggr() {\n\
               if ( net = 10.1.0.0/24 ) then { accept; }\n\
               if ( net ~ 10.1.0.0/24 && krt_metric < 1024 ) then { accept; }\n\
               if ( net ~ 10.1.0.0/24 ) then { reject; }\n\
             }\n\
             filter f {\n\
               if (!defined(krt_metric)) then { krt_metric = 1024; }\n\
               bgp_local_pref = 2147483647 - krt_metric;\n\
               aggr();\n\
               if (net ~ 10.0.0.0/8) then { accept; }\n\
               reject;\n\
             }\n",
            Use::BgpExport {
                internal: true,
                local_as: 65001,
            },
        );
        let (pass, local) = &c.paths[0];
        assert_eq!(*pass, Pass::Local);
        let accepted: Vec<&PathOut> = local
            .iter()
            .filter(|p| p.verdict == Verdict::Accept)
            .collect();
        let own = (Match::RouteType(vec![RouteType::Local]), true);
        assert_eq!(accepted.len(), 2);
        assert_eq!(
            accepted[0].guard,
            [own.clone(), (prefix("10.1.0.0/24", 24, 24), true)]
        );
        assert_eq!(
            accepted[1].guard,
            [
                own,
                (prefix("10.1.0.0/24", 24, 32), false),
                (prefix("10.0.0.0/8", 8, 32), true)
            ]
        );
        assert!(
            accepted
                .iter()
                .all(|p| p.actions == [Action::SetLocalPref(2147482623)])
        );
        assert!(c.notes.iter().any(|n| n.message.contains("krt_metric")));
        // BGP routes: `defined(krt_metric)` is false, the metric becomes 1024 as well.
        let (pass, bgp) = &c.paths[1];
        assert_eq!(*pass, Pass::Bgp);
        assert_eq!(
            bgp.iter().filter(|p| p.verdict == Verdict::Accept).count(),
            2
        );
    }

    #[test]
    fn kernel_filters_end_with_a_tunnel_and_a_metric() {
        let c = compiled(
            "filter k {\n\
               if (defined(source) && (source = RTS_BGP) && !defined(krt_metric)) then {\n\
                 krt_metric = 1024;\n\
                 if (defined(bgp_local_pref)) then { krt_metric = 2147483647 - bgp_local_pref; }\n\
               }\n\
               if (net ~ 172.16.0.0/16) then { if (defined(bgp_next_hop)&&(bgp_next_hop ~ 10.192.0.0/16)) then krt_tunnel=\"\"; else krt_tunnel=\"tunl0\"; accept; }\n\
               accept;\n\
             }\n",
            Use::KernelExport,
        );
        let bgp = &c.paths[1].1;
        let ways: Vec<(Option<&str>, KernelMetric)> = bgp
            .iter()
            .map(|p| (p.tunnel.as_deref(), p.metric))
            .collect();
        let m = KernelMetric::FromLocalPref { base: 2147483647 };
        assert_eq!(ways, [(None, m), (Some("tunl0"), m), (None, m)]);
        assert_eq!(
            bgp[1].guard.last(),
            Some(&(
                Match::NextHop(vec!["10.192.0.0/16".parse().unwrap()]),
                false
            ))
        );
        // Static routes: no BGP attributes, no metric set.
        let local = &c.paths[0].1;
        assert!(local.iter().all(|p| p.metric == KernelMetric::Default));
    }
}
