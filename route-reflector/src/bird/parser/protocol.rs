//! Protocols and templates, with the options of each kind.

use std::sync::Arc;

use super::super::ast::*;
use super::super::lexer::{Punct, Tok};
use super::{BGP_OPTIONS, KERNEL_OPTIONS, Parser, Res, Sym};

impl Parser<'_> {
    pub(super) fn protocol(&mut self) -> Res<()> {
        let start = self.span();
        let template = matches!(self.peek(), Tok::Word(w) if w == "template");
        self.bump();
        let kind = match self.peek() {
            Tok::Word(w) => match w.as_str() {
                "bgp" => ProtoKind::Bgp,
                "kernel" => ProtoKind::Kernel,
                "device" => ProtoKind::Device,
                "direct" => ProtoKind::Direct,
                "static" => ProtoKind::Static,
                _ => {
                    return Err(self.expected(
                        "a protocol kind of the Calico configurations: bgp, kernel, device, direct or static",
                    ));
                }
            },
            _ => return Err(self.expected("a protocol kind (bgp, kernel, device, direct, static)")),
        };
        self.bump();
        let (name, span) = if matches!(self.peek(), Tok::Word(w) if w != "from")
            || matches!(self.peek(), Tok::Quoted(_))
        {
            self.new_name("a protocol name")?
        } else {
            (self.default_name(kind), start)
        };
        let from = if self.eat_word("from") {
            let at = self.span();
            let target = match self.peek() {
                Tok::Word(w) | Tok::Quoted(w) => match self.lookup(w) {
                    Some(Sym::Proto(i)) => Some(*i),
                    _ => None,
                },
                _ => None,
            };
            let Some(i) = target else {
                return Err(self.expected(&format!(
                    "a template or protocol name (defined: {})",
                    self.names_of(|s| matches!(s, Sym::Proto(_)))
                )));
            };
            self.bump();
            let src = &self.cfg.protocols[i];
            if src.kind != kind {
                return Err(self.err_at(
                    at,
                    format!(
                        "Can't copy configuration from a different protocol type: found {} `{}`, expected a {} template",
                        src.kind.keyword(),
                        src.name,
                        kind.keyword()
                    ),
                ));
            }
            Some(i)
        } else {
            None
        };
        self.punct(Punct::LBrace)?;
        let mut options = Vec::new();
        while !self.is_p(Punct::RBrace) {
            let at = self.span();
            let kind = self.option(kind)?;
            options.push(Opt {
                kind,
                span: at.to(self.prev_span()),
            });
        }
        let end = self.bump().span;
        let index = self.cfg.protocols.len();
        self.cfg.protocols.push(ProtocolDef {
            template,
            kind,
            name: name.clone(),
            span,
            from,
            options,
            end,
        });
        self.syms.insert(name, (Sym::Proto(index), span));
        Ok(())
    }

    /// BIRD's name for an unnamed protocol: the kind and a counter (`kernel1`, ...).
    pub(super) fn default_name(&mut self, kind: ProtoKind) -> String {
        let n = self.counters.entry(kind).or_insert(0);
        loop {
            *n += 1;
            let name = format!("{}{}", kind.keyword(), n);
            if !self.syms.contains_key(&name) {
                return name;
            }
        }
    }

    /// One option and its `;`.
    pub(super) fn option(&mut self, kind: ProtoKind) -> Res<OptKind> {
        let o = if let Some(o) = self.common_option()? {
            o
        } else {
            match kind {
                ProtoKind::Bgp => self.bgp_option()?,
                ProtoKind::Kernel => self.kernel_option()?,
                ProtoKind::Device => self.device_option()?,
                ProtoKind::Direct => self.direct_option()?,
                ProtoKind::Static => self.static_option()?,
            }
        };
        self.semi()?;
        Ok(o)
    }

    pub(super) fn common_option(&mut self) -> Res<Option<OptKind>> {
        let o = match self.peek() {
            Tok::Word(w) => match w.as_str() {
                "description" => {
                    self.bump();
                    OptKind::Description(self.text("a description in double quotes")?)
                }
                "debug" => {
                    self.bump();
                    self.debug_mask()?;
                    OptKind::Debug
                }
                "disabled" => {
                    self.bump();
                    OptKind::Disabled(self.boolean()?)
                }
                "preference" => {
                    self.bump();
                    OptKind::Preference(self.ranged("a preference", 0, 0xFFFF)?)
                }
                "import" | "export" => {
                    let import = w == "import";
                    self.bump();
                    if self.eat_word("limit") {
                        let l = self.limit()?;
                        if !import {
                            return Err(self.err_at(
                                self.prev_span(),
                                "found `export limit`, expected `import limit` or `receive limit` (export limits are not supported)",
                            ));
                        }
                        OptKind::ImportLimit(l)
                    } else if self.is_word("keep") {
                        return Err(self.expected(
                            "`all`, `none`, `filter` or `where` (`import keep filtered` is not supported)",
                        ));
                    } else {
                        let f = self.imexport()?;
                        if import {
                            OptKind::Import(f)
                        } else {
                            OptKind::Export(f)
                        }
                    }
                }
                "receive" => {
                    self.bump();
                    self.word("limit")?;
                    OptKind::ReceiveLimit(self.limit()?)
                }
                "table" | "vrf" | "mrtdump" | "router" => {
                    return Err(self.expected(
                        "a protocol option the Calico configurations use (tables, VRFs, MRT dumps and per-protocol router IDs are not supported)",
                    ));
                }
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some(o))
    }

    pub(super) fn debug_mask(&mut self) -> Res<()> {
        if self.eat_word("all") || self.eat_word("off") {
            return Ok(());
        }
        self.punct(Punct::LBrace)?;
        loop {
            match self.peek() {
                Tok::Word(w)
                    if matches!(
                        w.as_str(),
                        "states" | "routes" | "filters" | "interfaces" | "events" | "packets"
                    ) =>
                {
                    self.bump();
                }
                _ => {
                    return Err(self.expected(
                        "a debug flag (states, routes, filters, interfaces, events, packets)",
                    ));
                }
            }
            if !self.eat_p(Punct::Comma) {
                break;
            }
        }
        self.punct(Punct::RBrace)?;
        Ok(())
    }

    pub(super) fn limit(&mut self) -> Res<Option<(u32, LimitAction)>> {
        if self.eat_word("off") {
            return Ok(None);
        }
        let (n, _) = self.number("a route limit")?;
        let mut action = LimitAction::Disable;
        if self.eat_word("action") {
            action = match self.peek() {
                Tok::Word(w) if w == "warn" => LimitAction::Warn,
                Tok::Word(w) if w == "block" => LimitAction::Block,
                Tok::Word(w) if w == "restart" => LimitAction::Restart,
                Tok::Word(w) if w == "disable" => LimitAction::Disable,
                _ => return Err(self.expected("`warn`, `block`, `restart` or `disable`")),
            };
            self.bump();
        }
        Ok(Some((n, action)))
    }

    pub(super) fn imexport(&mut self) -> Res<FilterRef> {
        let start = self.span();
        if self.eat_word("all") {
            return Ok(FilterRef::All);
        }
        if self.eat_word("none") {
            return Ok(FilterRef::None);
        }
        if self.eat_word("where") {
            let cond = self.term()?;
            let span = start.to(cond.span);
            let body = vec![
                Stmt {
                    kind: StmtKind::If {
                        cond,
                        then: vec![Stmt {
                            kind: StmtKind::Accept,
                            span,
                        }],
                        otherwise: None,
                    },
                    span,
                },
                Stmt {
                    kind: StmtKind::Reject,
                    span,
                },
            ];
            return Ok(FilterRef::Inline(Arc::new(FilterDef {
                name: None,
                locals: Vec::new(),
                body,
                span,
            })));
        }
        self.word("filter")
            .map_err(|_| self.expected("`all`, `none`, `filter` or `where`"))?;
        match self.peek().clone() {
            Tok::Word(w) | Tok::Quoted(w) if self.ty_ahead().is_none() => match self.lookup(&w) {
                Some(Sym::Filter(f)) => {
                    let f = f.clone();
                    self.bump();
                    Ok(FilterRef::Named(f))
                }
                _ => Err(self.expected(&format!(
                    "a filter name (defined: {}) or `{{`",
                    self.names_of(|s| matches!(s, Sym::Filter(_)))
                ))),
            },
            _ => {
                self.scope.clear();
                let locals = self.locals()?;
                let body = self.body()?;
                self.scope.clear();
                Ok(FilterRef::Inline(Arc::new(FilterDef {
                    name: None,
                    locals,
                    body,
                    span: start,
                })))
            }
        }
    }

    /// Whether a type word (a local variable declaration) comes next.
    pub(super) fn ty_ahead(&self) -> Option<()> {
        match self.peek() {
            Tok::Word(w)
                if matches!(
                    w.as_str(),
                    "int"
                        | "bool"
                        | "ip"
                        | "prefix"
                        | "pair"
                        | "quad"
                        | "lc"
                        | "string"
                        | "bgpmask"
                        | "bgppath"
                        | "clist"
                        | "lclist"
                ) =>
            {
                Some(())
            }
            _ => None,
        }
    }

    pub(super) fn bgp_option(&mut self) -> Res<OptKind> {
        let Tok::Word(w) = self.peek().clone() else {
            return Err(self.expected(BGP_OPTIONS));
        };
        let o = match w.as_str() {
            "local" => {
                self.bump();
                let addr = if self.is_word("as") {
                    None
                } else {
                    Some(self.ipa()?.0)
                };
                self.word("as")?;
                OptKind::LocalAs(addr, self.number("an AS number")?.0)
            }
            "neighbor" => {
                self.bump();
                let address = match self.peek() {
                    Tok::Word(w) if w == "as" || w == "port" => None,
                    _ => Some(self.ipa()?.0),
                };
                if self.is_p(Punct::Percent) {
                    return Err(self.expected(
                        "`port`, `as` or `;` (neighbors bound to an interface are not supported)",
                    ));
                }
                let (mut port, mut asn) = (None, None);
                loop {
                    if self.eat_word("port") {
                        let (n, s) = self.number("a port")?;
                        if !(1..=65535).contains(&n) {
                            return Err(self.err_at(
                                s,
                                format!("Invalid port number: found {n}, expected 1 to 65535"),
                            ));
                        }
                        port = Some(n as u16);
                    } else if self.eat_word("as") {
                        asn = Some(self.number("an AS number")?.0);
                    } else {
                        break;
                    }
                }
                let Some(address) = address else {
                    return Err(self.expected("a neighbor address"));
                };
                OptKind::Neighbor { address, port, asn }
            }
            "source" => {
                self.bump();
                self.word("address")?;
                OptKind::SourceAddress(self.ipa()?.0)
            }
            "multihop" => {
                self.bump();
                if self.is_p(Punct::Semi) {
                    OptKind::Multihop(64)
                } else {
                    let (n, s) = self.number("a hop count")?;
                    if !(1..=255).contains(&n) {
                        return Err(
                            self.err_at(s, format!("Multihop must be in range 1-255: found {n}"))
                        );
                    }
                    OptKind::Multihop(n as u8)
                }
            }
            "direct" => {
                self.bump();
                OptKind::Direct
            }
            "ttl" => {
                self.bump();
                self.word("security")?;
                OptKind::TtlSecurity(self.boolean()?)
            }
            "password" => {
                self.bump();
                OptKind::Password(self.text("a password in double quotes")?)
            }
            "passive" => {
                self.bump();
                OptKind::Passive(self.boolean()?)
            }
            "rr" => {
                self.bump();
                if self.eat_word("client") {
                    OptKind::RrClient
                } else if self.eat_word("cluster") {
                    self.word("id")?;
                    OptKind::RrClusterId(self.idval("a cluster ID (an IPv4 address)")?.0)
                } else {
                    return Err(self.expected("`client` or `cluster id`"));
                }
            }
            "next" => {
                self.bump();
                self.word("hop")?;
                if self.eat_word("self") {
                    OptKind::NextHopSelf
                } else if self.eat_word("keep") {
                    OptKind::NextHopKeep
                } else {
                    return Err(self.expected("`self` or `keep`"));
                }
            }
            "add" => {
                self.bump();
                self.word("paths")?;
                if self.eat_word("rx") {
                    OptKind::AddPaths(AddPaths::Rx)
                } else if self.eat_word("tx") {
                    OptKind::AddPaths(AddPaths::Tx)
                } else if self.boolean()? {
                    OptKind::AddPaths(AddPaths::Both)
                } else {
                    OptKind::AddPaths(AddPaths::Off)
                }
            }
            "graceful" => {
                self.bump();
                self.word("restart")?;
                if self.eat_word("time") {
                    OptKind::GracefulRestartTime(self.number("a time in seconds")?.0)
                } else if self.eat_word("aware") {
                    OptKind::GracefulRestart(GracefulRestart::Aware)
                } else if self.boolean()? {
                    OptKind::GracefulRestart(GracefulRestart::On)
                } else {
                    OptKind::GracefulRestart(GracefulRestart::Off)
                }
            }
            "connect" => {
                self.bump();
                if self.eat_word("delay") {
                    self.word("time")?;
                    OptKind::ConnectDelayTime(self.number("a time in seconds")?.0)
                } else if self.eat_word("retry") {
                    self.word("time")?;
                    OptKind::ConnectRetryTime(self.number("a time in seconds")?.0)
                } else {
                    return Err(self.expected("`delay time` or `retry time`"));
                }
            }
            "error" => {
                self.bump();
                if self.is_word("forget") {
                    return Err(self.expected("`wait time` (`error forget time` is not supported)"));
                }
                self.word("wait")?;
                self.word("time")?;
                let (min, _) = self.number("a time in seconds")?;
                self.punct(Punct::Comma)?;
                let (max, _) = self.number("a time in seconds")?;
                OptKind::ErrorWaitTime(min, max)
            }
            "keepalive" => {
                self.bump();
                self.word("time")?;
                OptKind::KeepaliveTime(self.number("a time in seconds")?.0)
            }
            "hold" => {
                self.bump();
                self.word("time")?;
                OptKind::HoldTime(self.number("a time in seconds")?.0)
            }
            "allow" => {
                self.bump();
                self.word("local")?;
                self.word("as")?;
                if self.is_p(Punct::Semi) {
                    OptKind::AllowLocalAs(None)
                } else {
                    OptKind::AllowLocalAs(Some(self.number("a count")?.0))
                }
            }
            "gateway" => {
                self.bump();
                if self.eat_word("recursive") {
                    OptKind::GatewayRecursive(true)
                } else if self.eat_word("direct") {
                    OptKind::GatewayRecursive(false)
                } else {
                    return Err(self.expected("`recursive` or `direct`"));
                }
            }
            _ => return Err(self.expected(BGP_OPTIONS)),
        };
        Ok(o)
    }

    pub(super) fn kernel_option(&mut self) -> Res<OptKind> {
        let Tok::Word(w) = self.peek().clone() else {
            return Err(self.expected(KERNEL_OPTIONS));
        };
        let o = match w.as_str() {
            "learn" => {
                self.bump();
                OptKind::Learn(self.boolean()?)
            }
            "persist" => {
                self.bump();
                OptKind::Persist(self.boolean()?)
            }
            "scan" => {
                self.bump();
                self.word("time")?;
                OptKind::ScanTime(self.number("a time in seconds")?.0)
            }
            "device" => {
                self.bump();
                self.word("routes")?;
                OptKind::DeviceRoutes(self.boolean()?)
            }
            "graceful" => {
                self.bump();
                self.word("restart")?;
                OptKind::GracefulRestart(if self.boolean()? {
                    GracefulRestart::On
                } else {
                    GracefulRestart::Off
                })
            }
            "merge" => {
                self.bump();
                self.word("paths")?;
                let on = self.boolean()?;
                let limit = if self.eat_word("limit") {
                    let (n, s) = self.number("a path count")?;
                    if !(1..=255).contains(&n) {
                        return Err(self.err_at(
                            s,
                            format!("Merge paths limit must be in range 1-255: found {n}"),
                        ));
                    }
                    n
                } else {
                    // KRT_DEFAULT_ECMP_LIMIT.
                    16
                };
                OptKind::MergePaths(if on { limit } else { 0 })
            }
            "kernel" => {
                self.bump();
                self.word("table")?;
                OptKind::KernelTable(self.number("a table number")?.0)
            }
            "metric" => {
                self.bump();
                OptKind::Metric(self.number("a metric")?.0)
            }
            _ => return Err(self.expected(KERNEL_OPTIONS)),
        };
        Ok(o)
    }

    pub(super) fn device_option(&mut self) -> Res<OptKind> {
        if self.eat_word("scan") {
            self.word("time")?;
            return Ok(OptKind::ScanTime(self.number("a time in seconds")?.0));
        }
        Err(self.expected("a device option: `scan time`, `description`, `debug`"))
    }

    pub(super) fn direct_option(&mut self) -> Res<OptKind> {
        if !self.eat_word("interface") {
            return Err(self.expected("a direct option: `interface`, `description`, `debug`"));
        }
        let mut v = Vec::new();
        loop {
            let exclude = self.eat_p(Punct::Minus);
            match self.peek().clone() {
                Tok::Text(t) => {
                    self.bump();
                    v.push(IfacePattern {
                        exclude,
                        pattern: t,
                    });
                }
                _ => {
                    return Err(self.expected(
                        "an interface name pattern in double quotes (address patterns are not supported)",
                    ));
                }
            }
            if !self.eat_p(Punct::Comma) {
                break;
            }
        }
        Ok(OptKind::Interface(v))
    }

    pub(super) fn static_option(&mut self) -> Res<OptKind> {
        if !self.eat_word("route") {
            return Err(self.expected("a static option: `route`, `description`, `debug`"));
        }
        let (prefix, _) = self.prefix()?;
        let dest = match self.peek() {
            Tok::Word(w) if w == "blackhole" || w == "drop" => StaticDest::Blackhole,
            Tok::Word(w) if w == "unreachable" || w == "reject" => StaticDest::Unreachable,
            Tok::Word(w) if w == "prohibit" => StaticDest::Prohibit,
            Tok::Word(w) if w == "via" => {
                self.bump();
                if matches!(self.peek(), Tok::Text(_)) {
                    return Err(self.expected(
                        "a gateway address (routes through an interface are not supported)",
                    ));
                }
                let (a, s) = self.ipa()?;
                if a.is_ipv4() != prefix.addr().is_ipv4() {
                    return Err(self.err_at(
                        s,
                        format!("found gateway {a}, expected one of the family of {prefix}"),
                    ));
                }
                return Ok(OptKind::Route(StaticRoute {
                    prefix,
                    dest: StaticDest::Via(a),
                }));
            }
            _ => {
                return Err(self.expected(
                    "`blackhole`, `unreachable`, `prohibit` or `via ADDRESS` (multipath and recursive routes are not supported)",
                ));
            }
        };
        self.bump();
        Ok(OptKind::Route(StaticRoute { prefix, dest }))
    }
}
