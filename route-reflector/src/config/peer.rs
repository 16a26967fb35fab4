//! Peer tables: clients, ranges, internal and external peers.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp_core::policy::PolicyRef;
use bgp_speaker::{AddPath, DampingConfig, MaxPrefixes, Password, PeerSettings};
use toml::Spanned;

use super::policy::names;
use super::raw::{AddPathRaw, GracefulRestartRaw, PeerRaw, Timers};
use super::{Builder, Res, Secrets};

impl Builder<'_> {
    pub(super) fn peer(
        &self,
        sp: &Spanned<PeerRaw>,
        kind: Kind,
        ctx: &PeerCtx<'_>,
    ) -> Res<PeerSettings> {
        let r = sp.get_ref();
        let table = kind.table();
        let not_here = |field: &str| {
            self.err(
                sp.span(),
                format!("`{field}` does not belong in a {table} table"),
            )
        };
        match kind {
            Kind::Client | Kind::Ibgp | Kind::Ebgp => {
                if r.range.is_some() {
                    return Err(not_here("range"));
                }
                if r.max.is_some() {
                    return Err(not_here("max"));
                }
            }
            Kind::Range => {
                if r.address.is_some() {
                    return Err(not_here("address"));
                }
                if r.interface.is_some() {
                    return Err(not_here("interface"));
                }
            }
        }
        let interface = match &r.interface {
            Some(i) if i.get_ref().is_empty() || i.get_ref().len() > 15 => {
                return Err(self.err(i.span(), "an interface name has 1 to 15 characters"));
            }
            Some(i) => Some(i.get_ref().clone()),
            None => None,
        };
        let address = match (kind, &r.address) {
            (Kind::Range, _) => r
                .range
                .as_ref()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |n| n.get_ref().network()),
            (_, Some(a)) if a.get_ref().is_unspecified() => {
                return Err(self.err(a.span(), "`address` cannot be unspecified"));
            }
            (_, Some(a)) => match a.get_ref() {
                IpAddr::V6(v) if v.is_unicast_link_local() && interface.is_none() => {
                    return Err(self.err(
                        a.span(),
                        format!("link-local address {v} needs `interface`: the link it is on"),
                    ));
                }
                addr => *addr,
            },
            // Unnumbered: the neighbour on the interface.
            (_, None) if interface.is_some() => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            (_, None) => {
                return Err(self.err(
                    sp.span(),
                    format!("a {table} needs `address` (or `interface` alone, unnumbered)"),
                ));
            }
        };
        let asn = match (kind, &r.asn) {
            (Kind::Ebgp, None) => {
                return Err(self.err(sp.span(), "an [[ebgp]] peer needs `asn`"));
            }
            (Kind::Ebgp, Some(a)) if *a.get_ref() == r.local_as.unwrap_or(ctx.asn) => {
                return Err(self.err(
                    a.span(),
                    format!(
                        "asn {} is our own: an [[ebgp]] peer is in another AS (list internal peers as [[client]])",
                        a.get_ref()
                    ),
                ));
            }
            (Kind::Ebgp, Some(a)) => *a.get_ref(),
            (_, Some(a)) if *a.get_ref() != ctx.asn => {
                return Err(self.err(
                    a.span(),
                    format!(
                        "a {table} peer is in our AS {}, not {} (list other ASes as [[ebgp]])",
                        ctx.asn,
                        a.get_ref()
                    ),
                ));
            }
            _ => ctx.asn,
        };
        let mut p = PeerSettings::new(address, asn);
        p.interface = interface;
        p.rr_client = matches!(kind, Kind::Client | Kind::Range);
        if let Some(port) = r.port {
            p.port = port;
        }
        if let Some(l) = &r.local_address {
            if l.get_ref().is_ipv4() != address.is_ipv4() {
                return Err(self.err(
                    l.span(),
                    format!(
                        "local_address {} is of the other family than the peer's {}",
                        l.get_ref(),
                        if kind == Kind::Range {
                            "range"
                        } else {
                            "address"
                        }
                    ),
                ));
            }
            p.local_address = Some(*l.get_ref());
        }
        p.passive = r.passive;
        // The default hold time is checked once, where it is written; a peer's own here.
        p.hold_time = match &r.hold_time {
            Some(h) => {
                let v = *h.get_ref();
                if v != 0 && v < 3 {
                    return Err(self.err(
                        h.span(),
                        format!("hold_time {v} is too short: 0 or at least 3 seconds"),
                    ));
                }
                v
            }
            None => *ctx.timers.hold_time.get_ref(),
        };
        match (&r.keepalive, &ctx.timers.keepalive) {
            (Some(k), _) => {
                self.keepalive(k, p.hold_time);
                p.keepalive = Some(*k.get_ref());
            }
            // The default keepalive with a hold time of the peer's own.
            (None, Some(k)) if r.hold_time.is_some() => {
                self.keepalive(k, p.hold_time);
                p.keepalive = Some(*k.get_ref());
            }
            (None, Some(k)) => p.keepalive = Some(*k.get_ref()),
            (None, None) => {}
        }
        p.connect_retry = Some(r.connect_retry.unwrap_or(ctx.timers.connect_retry));
        p.connect_delay = r.connect_delay;
        p.error_wait = r.error_wait;
        if let Some(w) = r.error_wait
            && (w.min == 0 || w.min > w.max)
        {
            return Err(self.err(sp.span(), "error_wait needs 0 < min <= max"));
        }
        p.password = self.password(r)?;
        p.ttl_security = r.ttl_security;
        p.ttl = r.multihop;
        if r.ttl_security.is_some() && r.multihop.is_some() {
            return Err(self.err(
                sp.span(),
                "`ttl_security` and `multihop` exclude each other (GTSM sends with TTL 255)",
            ));
        }
        let gr = r.graceful_restart.unwrap_or(ctx.gr.enabled);
        p.graceful_restart = gr.then_some(*ctx.gr.restart_time.get_ref());
        p.long_lived_stale_time = match (&r.long_lived_stale_time, &ctx.gr.long_lived_stale_time) {
            (Some(t), _) => {
                self.long_lived_stale_time(t);
                Some(*t.get_ref()).filter(|t| *t > 0)
            }
            (None, Some(t)) if gr => Some(*t.get_ref()).filter(|t| *t > 0),
            _ => None,
        };
        if let Some(limit) = r.max_prefixes {
            p.max_prefixes.push(MaxPrefixes {
                limit,
                family: None,
                warn_only: r.max_prefixes_warn_only,
                restart_after: r.max_prefixes_restart,
            });
        }
        p.import = self.policy_ref(&r.import, ctx.policies)?;
        p.export = self.policy_ref(&r.export, ctx.policies)?;
        p.next_hop = r.next_hop.unwrap_or_default();
        p.soft_reconfig_inbound = r.soft_reconfig_inbound;
        p.extended_next_hop = r.extended_next_hop;
        p.add_path = self.add_path(r)?;
        if let Some(d) = &r.damping {
            if kind != Kind::Ebgp && *d.get_ref() {
                return Err(self.err(
                    d.span(),
                    "damping applies to routes from other ASes: only an [[ebgp]] peer takes it",
                ));
            }
            p.damping = d.get_ref().then_some(ctx.damping);
        }
        p.local_as = r.local_as;
        p.allow_own_as = r.allow_own_as;
        p.bfd = self.bfd(sp, ctx.bfd, kind == Kind::Range)?;
        Ok(p)
    }

    fn policy_ref(
        &self,
        name: &Option<Spanned<String>>,
        policies: &HashMap<String, PolicyRef>,
    ) -> Res<Option<PolicyRef>> {
        let Some(n) = name else { return Ok(None) };
        self.used
            .borrow_mut()
            .insert(format!("policy:{}", n.get_ref()));
        policies.get(n.get_ref()).cloned().map(Some).ok_or_else(|| {
            self.err(
                n.span(),
                format!(
                    "unknown policy {:?}; defined: {}",
                    n.get_ref(),
                    names(policies.keys())
                ),
            )
        })
    }

    /// The password from the file, the environment or the config, at most one of them.
    /// `add_path` and `add_path_send`: the paths to send need a direction that sends.
    fn add_path(&self, r: &PeerRaw) -> Res<AddPath> {
        let mode = r.add_path;
        let send = matches!(mode, Some(AddPathRaw::Send | AddPathRaw::Both));
        if let Some(paths) = &r.add_path_send
            && !send
        {
            return Err(self.err(
                paths.span(),
                "add_path_send needs add_path = \"send\" or \"both\"",
            ));
        }
        Ok(AddPath {
            receive: matches!(mode, Some(AddPathRaw::Receive | AddPathRaw::Both)),
            send: send.then(|| {
                r.add_path_send
                    .as_ref()
                    .map_or(Default::default(), |p| p.get_ref().0)
            }),
        })
    }

    fn password(&self, r: &PeerRaw) -> Res<Option<Password>> {
        let given = [
            r.password.as_ref().map(Spanned::span),
            r.password_file.as_ref().map(Spanned::span),
            r.password_env.as_ref().map(Spanned::span),
        ];
        if given.iter().flatten().count() > 1 {
            let second = given.iter().flatten().nth(1).cloned().unwrap_or(0..0);
            return Err(self.err(
                second,
                "give one of `password`, `password_file` and `password_env`",
            ));
        }
        let pw = if let Some(p) = &r.password {
            Some((p.get_ref().clone(), p.span()))
        } else if self.secrets == Secrets::Skip {
            // Only the form: the secret itself is not read.
            return Ok(Some(Password("*".repeat(8))));
        } else if let Some(f) = &r.password_file {
            let text = std::fs::read_to_string(f.get_ref()).map_err(|e| {
                self.err(
                    f.span(),
                    format!("password file {}: {e}", f.get_ref().display()),
                )
            })?;
            Some((text.trim_end_matches(['\n', '\r']).to_string(), f.span()))
        } else if let Some(v) = &r.password_env {
            let text = std::env::var(v.get_ref()).map_err(|_| {
                self.err(
                    v.span(),
                    format!("environment variable {} is not set", v.get_ref()),
                )
            })?;
            Some((text, v.span()))
        } else {
            None
        };
        match pw {
            None => Ok(None),
            Some((text, span)) if text.is_empty() || text.len() > 80 => {
                Err(self.err(span, "a TCP-MD5 password has 1 to 80 characters"))
            }
            Some((text, _)) => Ok(Some(Password(text))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Client,
    Range,
    Ibgp,
    Ebgp,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Client => "[[client]]",
            Kind::Range => "[[client_range]]",
            Kind::Ibgp => "[[ibgp]]",
            Kind::Ebgp => "[[ebgp]]",
        }
    }
}

pub(super) struct PeerCtx<'a> {
    pub(super) asn: u32,
    pub(super) timers: &'a Timers,
    pub(super) gr: &'a GracefulRestartRaw,
    pub(super) damping: DampingConfig,
    pub(super) policies: &'a HashMap<String, PolicyRef>,
    pub(super) bfd: &'a super::bfd::BfdTableRaw,
}
