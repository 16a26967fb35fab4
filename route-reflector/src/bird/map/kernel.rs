//! The kernel protocol: what the FIB writes and how, and the static routes it takes.

use std::collections::HashMap;
use std::net::IpAddr;

use bgp_core::policy::{Match, RouteRef, RouteType, Verdict};
use bgp_core::wire::attributes::PathAttributes;
use bgp_speaker::fib::{FibAction, FibConfig, FibRule, TunnelMode};
use ipnet::IpNet;

use super::super::ast::*;
use super::super::compile::{self, Context, KernelMetric, Pass, PathOut, Use};
use super::super::source::Span;
use super::{KernelProtocol, KernelRule, Mapper, RTPROT_BIRD, StaticRouteInfo};

impl<'a> Mapper<'a> {
    pub(super) fn kernel(
        &mut self,
        i: usize,
        opts: &[&'a Opt],
        names: &HashMap<String, IpAddr>,
    ) -> Option<KernelProtocol> {
        let p = &self.cfg.protocols[i];
        let mut k = KernelProtocol {
            name: p.name.clone(),
            learn: false,
            persist: false,
            scan_time: None,
            graceful_restart: false,
            merge_paths: 0,
            table: 254,
            metric: 0,
            import: true,
            export: Vec::new(),
            reject: Vec::new(),
        };
        let mut export: Option<(&FilterRef, Span)> = None;
        for o in opts {
            match &o.kind {
                OptKind::Learn(b) => k.learn = *b,
                OptKind::Persist(b) => k.persist = *b,
                OptKind::ScanTime(t) => k.scan_time = Some(*t),
                OptKind::GracefulRestart(g) => k.graceful_restart = *g == GracefulRestart::On,
                OptKind::MergePaths(n) => k.merge_paths = *n,
                OptKind::KernelTable(t) => k.table = *t,
                OptKind::Metric(m) => k.metric = *m,
                OptKind::Import(f) => {
                    k.import = !matches!(f, FilterRef::None);
                    if matches!(f, FilterRef::Named(_) | FilterRef::Inline(_)) {
                        self.error(o.span, "found an import filter on the kernel protocol, expected `import all` or `import none` (learned routes are chosen by the BGP export filters)");
                    }
                }
                OptKind::Export(f) => export = Some((f, o.span)),
                OptKind::Disabled(true) => {
                    k.learn = false;
                    k.import = false;
                    return Some(k);
                }
                OptKind::DeviceRoutes(true) => self.error(
                    o.span,
                    "found `device routes on`, expected it off (device routes are not written)",
                ),
                OptKind::ImportLimit(Some(_)) | OptKind::ReceiveLimit(Some(_)) => self.error(
                    o.span,
                    "found a route limit on the kernel protocol, expected none",
                ),
                _ => {}
            }
        }
        let def = match export.map(|e| e.0) {
            None | Some(FilterRef::None) => return Some(k),
            Some(FilterRef::All) => {
                k.export.push(KernelRule {
                    matches: Vec::new(),
                    tunnel: None,
                    metric: KernelMetric::Default,
                });
                return Some(k);
            }
            Some(FilterRef::Named(d) | FilterRef::Inline(d)) => d.clone(),
        };
        let ctx = Context {
            sources: self.sources,
            family: self.family,
            usage: Use::KernelExport,
            protocol: &p.name,
            bgp_protocols: names,
            other_protocols: &self.other_protocols,
        };
        let compiled = match compile::compile(&def, &ctx) {
            Ok(c) => c,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        self.take_notes(&compiled);
        for (pass, paths) in &compiled.paths {
            for path in paths {
                if path.verdict != Verdict::Accept {
                    continue;
                }
                let rule = KernelRule {
                    matches: path.matches(),
                    tunnel: path.tunnel.clone(),
                    metric: path.metric,
                };
                match pass {
                    Pass::Bgp => k.export.push(rule),
                    // Kept for the static routes (see `statics`).
                    Pass::Local => self.static_rules.push(rule),
                }
            }
        }
        let rejected = compiled
            .paths
            .iter()
            .filter(|(pass, _)| *pass == Pass::Bgp)
            .flat_map(|(_, paths)| paths.iter())
            .filter(|p| p.verdict == Verdict::Reject)
            .collect::<Vec<&PathOut>>();
        for p in rejected {
            let nets: Vec<IpNet> = p
                .guard
                .iter()
                .filter_map(|(m, b)| match (m, b) {
                    (Match::Prefix(r), true) if r.len() == 1 => Some(r[0].prefix),
                    _ => None,
                })
                .collect();
            for n in nets {
                if !k.reject.contains(&n) {
                    k.reject.push(n);
                }
            }
        }
        Some(k)
    }

    pub(super) fn statics(
        &mut self,
        routes: &[(StaticRoute, Span)],
        kernel: Option<&KernelProtocol>,
    ) -> Vec<StaticRouteInfo> {
        let mut out: Vec<StaticRouteInfo> = Vec::new();
        for (r, span) in routes {
            if out.iter().any(|o| o.prefix == r.prefix) {
                self.note(
                    *span,
                    format!(
                        "static route {} is given twice: the last one counts",
                        r.prefix
                    ),
                );
                out.retain(|o| o.prefix != r.prefix);
            }
            let to_kernel = kernel.is_some()
                && self
                    .static_rules
                    .iter()
                    .any(|rule| static_rule_matches(&rule.matches, &r.prefix));
            out.push(StaticRouteInfo {
                prefix: r.prefix,
                dest: r.dest,
                to_kernel,
            });
        }
        out
    }

    pub(super) fn fib(&mut self, k: &KernelProtocol, kp: &ProtocolDef) -> Option<FibConfig> {
        if k.export.is_empty() {
            return None;
        }
        let tunnels: Vec<&str> = k
            .export
            .iter()
            .filter_map(|r| r.tunnel.as_deref())
            .collect();
        let next_hop_test = k.export.iter().any(|r| {
            r.matches.iter().any(|m| match m {
                Match::NextHop(_) => true,
                Match::Not(inner) => matches!(**inner, Match::NextHop(_)),
                _ => false,
            })
        });
        let mut fib = FibConfig {
            table: k.table,
            protocol: RTPROT_BIRD,
            flush_on_shutdown: !k.persist,
            ..FibConfig::default()
        };
        if let Some(dev) = tunnels.first() {
            fib.tunnel_device = (*dev).to_string();
            fib.mode = if next_hop_test {
                TunnelMode::IpipCrossSubnet
            } else {
                TunnelMode::IpipAlways
            };
            if tunnels.iter().any(|t| t != dev) {
                self.note(
                    kp.span,
                    format!(
                        "the kernel filter names several tunnel devices; the FIB uses one, {dev}"
                    ),
                );
            }
        }
        fib.rules = rules(k, super::any(self.family));
        if k.metric != 0 {
            fib.metric = Some(k.metric);
        } else {
            let metrics: Vec<KernelMetric> = k.export.iter().map(|r| r.metric).collect();
            match metrics.as_slice() {
                [KernelMetric::Const(m), rest @ ..]
                    if rest.iter().all(|x| *x == KernelMetric::Const(*m)) =>
                {
                    fib.metric = Some(*m);
                }
                _ if metrics.iter().all(|m| *m == KernelMetric::Default) => {}
                _ => self.note(
                    kp.span,
                    "the kernel filter sets each route's metric (krt_metric, from LOCAL_PREF); the FIB writes one metric for all routes",
                ),
            }
        }
        Some(fib)
    }
}

/// The FIB's per-prefix rules from the kernel filter's ways for BGP routes: a pool
/// whose ways all pick the tunnel is IPIP always, all none direct, both (on a next-hop
/// test) IPIP cross-subnet; rejected pools are skipped. Ways with no prefix test set the
/// default (`::/0` or `0.0.0.0/0`), and without one routes are not written.
fn rules(k: &KernelProtocol, zero: IpNet) -> Vec<FibRule> {
    let mut by_prefix: Vec<(Option<IpNet>, bool, bool)> = Vec::new();
    for r in &k.export {
        let prefix = r.matches.iter().find_map(|m| match m {
            Match::Prefix(ranges) if ranges.len() == 1 => Some(ranges[0].prefix),
            _ => None,
        });
        let tunnel = r.tunnel.as_deref().is_some_and(|t| !t.is_empty());
        match by_prefix.iter_mut().find(|(p, _, _)| *p == prefix) {
            Some(e) => {
                e.1 |= tunnel;
                e.2 |= !tunnel;
            }
            None => by_prefix.push((prefix, tunnel, !tunnel)),
        }
    }
    let mode = |t: bool, d: bool| match (t, d) {
        (true, true) => TunnelMode::IpipCrossSubnet,
        (true, false) => TunnelMode::IpipAlways,
        _ => TunnelMode::Direct,
    };
    let mut out: Vec<FibRule> = Vec::new();
    let mut has_default = false;
    for (p, t, d) in by_prefix {
        match p {
            Some(prefix) => out.push(FibRule {
                prefix,
                action: FibAction::Install(mode(t, d)),
            }),
            None => {
                has_default = true;
                out.push(FibRule {
                    prefix: zero,
                    action: FibAction::Install(mode(t, d)),
                });
            }
        }
    }
    for prefix in &k.reject {
        if !out.iter().any(|r| r.prefix == *prefix) {
            out.push(FibRule {
                prefix: *prefix,
                action: FibAction::Skip,
            });
        }
    }
    if !has_default {
        out.push(FibRule {
            prefix: zero,
            action: FibAction::Skip,
        });
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.prefix.prefix_len()));
    out
}

/// Whether rules match a route of our own with no attributes (a static route).
pub fn static_rule_matches(matches: &[Match], prefix: &IpNet) -> bool {
    let attrs = PathAttributes::default();
    let r = RouteRef {
        prefix,
        attrs: &attrs,
        neighbor: None,
        route_type: RouteType::Local,
    };
    matches.iter().all(|m| m.matches(&r))
}
