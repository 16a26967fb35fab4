//! BIRD 1.6's configuration grammar, the part Calico's files use: top-level items, the
//! protocols `bgp`, `kernel`, `device`, `direct` and `static` with their options, and the
//! filter language. Anything else is refused where it stands, saying what was found and
//! what was expected.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::Family;
use super::ast::*;
use super::lexer::{Punct, Tok, Token};
use super::source::{Error, Sources, Span};

mod filter;
mod protocol;

type Res<T> = Result<T, Error>;

/// What a name stands for.
#[derive(Debug, Clone)]
enum Sym {
    Const(Const),
    Filter(Arc<FilterDef>),
    Function(Arc<FunctionDef>),
    /// A protocol or template: its index.
    Proto(usize),
    /// A function whose body is being read.
    Defining,
}

/// Words that cannot name a symbol.
const RESERVED: &[&str] = &[
    "if",
    "then",
    "else",
    "accept",
    "reject",
    "return",
    "print",
    "printn",
    "defined",
    "true",
    "false",
    "filter",
    "function",
    "protocol",
    "template",
    "define",
    "router",
    "include",
    "case",
    "unset",
    "preference",
    "int",
    "bool",
    "ip",
    "prefix",
    "pair",
    "quad",
    "ec",
    "lc",
    "string",
    "bgpmask",
    "bgppath",
    "clist",
    "eclist",
    "lclist",
    "where",
    "all",
    "none",
    "from",
];

/// Parses the tokens of one configuration.
pub fn parse(tokens: Vec<Token>, sources: &Sources, family: Family) -> Res<Config> {
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        sources,
        family,
        syms: HashMap::new(),
        scope: Vec::new(),
        counters: HashMap::new(),
        cfg: Config::default(),
    };
    p.config()?;
    Ok(p.cfg)
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    sources: &'a Sources,
    family: Family,
    syms: HashMap<String, (Sym, Span)>,
    /// Parameters and local variables of the function or filter being read.
    scope: Vec<Decl>,
    counters: HashMap<ProtoKind, u32>,
    cfg: Config,
}

impl Parser<'_> {
    // ---- Tokens ----

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    fn span(&self) -> Span {
        self.toks[self.pos].span
    }

    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err_at(&self, span: Span, msg: impl Into<String>) -> Error {
        self.sources.error(span, msg)
    }

    /// "found X, expected WHAT" at the current token.
    fn expected(&self, what: &str) -> Error {
        self.err_at(
            self.span(),
            format!("found {}, expected {what}", self.peek().describe()),
        )
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if x == w)
    }

    fn is_p(&self, p: Punct) -> bool {
        *self.peek() == Tok::P(p)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_p(&mut self, p: Punct) -> bool {
        if self.is_p(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn word(&mut self, w: &str) -> Res<Span> {
        if self.is_word(w) {
            Ok(self.bump().span)
        } else {
            Err(self.expected(&format!("`{w}`")))
        }
    }

    fn punct(&mut self, p: Punct) -> Res<Span> {
        if self.is_p(p) {
            Ok(self.bump().span)
        } else {
            Err(self.expected(&format!("`{}`", p.text())))
        }
    }

    fn semi(&mut self) -> Res<()> {
        self.punct(Punct::Semi).map(|_| ())
    }

    /// A name for a new symbol.
    fn new_name(&mut self, what: &str) -> Res<(String, Span)> {
        match self.peek().clone() {
            Tok::Word(w) if RESERVED.contains(&w.as_str()) => {
                Err(self.err_at(self.span(), format!("found keyword `{w}`, expected {what}")))
            }
            Tok::Word(w) | Tok::Quoted(w) => {
                let span = self.bump().span;
                if let Some((_, at)) = self.syms.get(&w) {
                    let at = self.sources.error(*at, "");
                    return Err(self.err_at(
                        span,
                        format!(
                            "Symbol already defined: `{w}` is defined at {}:{}:{}",
                            at.file, at.line, at.column
                        ),
                    ));
                }
                Ok((w, span))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A symbol being used: its name and meaning.
    fn lookup(&self, name: &str) -> Option<&Sym> {
        self.syms.get(name).map(|(s, _)| s)
    }

    fn names_of(&self, f: impl Fn(&Sym) -> bool) -> String {
        let mut v: Vec<&str> = self
            .syms
            .iter()
            .filter(|(_, (s, _))| f(s))
            .map(|(n, _)| n.as_str())
            .collect();
        v.sort_unstable();
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }

    // ---- Values known at configuration time ----

    fn number(&mut self, what: &str) -> Res<(u32, Span)> {
        let e = self.expr_const(what)?;
        match e.0 {
            Const::Int(n) => Ok((n, e.1)),
            other => Err(self.err_at(e.1, format!("found {other:?}, expected {what}"))),
        }
    }

    /// BIRD's `expr`: a number, a `define`d number or `(term)`.
    fn expr_const(&mut self, what: &str) -> Res<(Const, Span)> {
        let span = self.span();
        match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok((Const::Int(n), span))
            }
            Tok::P(Punct::LParen) => {
                let e = self.term()?;
                let c = self.const_eval(&e)?;
                Ok((c, e.span))
            }
            Tok::Word(w) | Tok::Quoted(w) => match self.lookup(&w) {
                Some(Sym::Const(c)) => {
                    let c = c.clone();
                    self.bump();
                    Ok((c, span))
                }
                _ => Err(self.expected(what)),
            },
            _ => Err(self.expected(what)),
        }
    }

    fn ranged(&mut self, what: &str, lo: u32, hi: u32) -> Res<u32> {
        let (n, span) = self.number(what)?;
        if n < lo || n > hi {
            return Err(self.err_at(span, format!("found {n}, expected {what} ({lo} to {hi})")));
        }
        Ok(n)
    }

    /// BIRD's `bool`: `on`/`yes`/`off`/`no`, a number, or nothing (yes).
    fn boolean(&mut self) -> Res<bool> {
        match self.peek() {
            Tok::P(Punct::Semi) => Ok(true),
            Tok::Word(w) if matches!(w.as_str(), "on" | "yes") => {
                self.bump();
                Ok(true)
            }
            Tok::Word(w) if matches!(w.as_str(), "off" | "no") => {
                self.bump();
                Ok(false)
            }
            _ => Ok(self.number("`on`, `off`, `yes`, `no` or a number")?.0 != 0),
        }
    }

    /// An address of the configuration's family.
    fn ipa(&mut self) -> Res<(IpAddr, Span)> {
        let span = self.span();
        let a = match self.peek().clone() {
            Tok::V4(a) if self.family == Family::V4 => IpAddr::V4(a),
            Tok::V6(a) => IpAddr::V6(a),
            Tok::V4(a) => {
                return Err(self.err_at(
                    span,
                    format!(
                        "found IPv4 address {a}, expected an IPv6 address: this is bird6, for IPv6"
                    ),
                ));
            }
            Tok::Word(w) | Tok::Quoted(w) => match self.lookup(&w) {
                Some(Sym::Const(Const::Ip(a))) => *a,
                _ => return Err(self.expected("an IP address")),
            },
            _ => return Err(self.expected("an IP address")),
        };
        self.bump();
        Ok((a, span))
    }

    /// BIRD's `idval`: a dotted quad or a number (router and cluster IDs).
    fn idval(&mut self, what: &str) -> Res<(Ipv4Addr, Span)> {
        let span = self.span();
        let v = match self.peek().clone() {
            Tok::V4(a) => a,
            Tok::Num(n) => Ipv4Addr::from(n),
            Tok::Word(w) | Tok::Quoted(w) => match self.lookup(&w) {
                Some(Sym::Const(Const::Quad(a))) => *a,
                Some(Sym::Const(Const::Ip(IpAddr::V4(a)))) => *a,
                Some(Sym::Const(Const::Int(n))) => Ipv4Addr::from(*n),
                _ => return Err(self.expected(what)),
            },
            _ => return Err(self.expected(what)),
        };
        self.bump();
        Ok((v, span))
    }

    /// `ADDRESS/LEN` (or `ADDRESS:NETMASK`) with no host bits.
    fn prefix(&mut self) -> Res<(IpNet, Span)> {
        let (a, span) = self.ipa()?;
        let len = if self.eat_p(Punct::Colon) {
            let (m, ms) = self.ipa()?;
            ipnet::ip_mask_to_prefix(m).map_err(|_| {
                self.err_at(
                    ms,
                    format!("found netmask {m}, expected a contiguous netmask"),
                )
            })?
        } else {
            self.punct(Punct::Slash)?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            self.ranged("a prefix length", 0, max)? as u8
        };
        let whole = span.to(self.prev_span());
        let p = make_prefix(a, len).ok_or_else(|| {
            self.err_at(
                whole,
                format!("Invalid prefix {a}/{len}: expected no bits set past the length"),
            )
        })?;
        Ok((p, whole))
    }

    fn text(&mut self, what: &str) -> Res<String> {
        match self.peek().clone() {
            Tok::Text(t) => {
                self.bump();
                Ok(t)
            }
            Tok::Word(w) | Tok::Quoted(w) => match self.lookup(&w) {
                Some(Sym::Const(Const::Str(s))) => {
                    let s = s.clone();
                    self.bump();
                    Ok(s)
                }
                _ => Err(self.expected(what)),
            },
            _ => Err(self.expected(what)),
        }
    }

    // ---- Top level ----

    fn config(&mut self) -> Res<()> {
        loop {
            match self.peek().clone() {
                Tok::Eof => return Ok(()),
                Tok::P(Punct::Semi) => {
                    self.bump();
                }
                Tok::Word(w) => match w.as_str() {
                    "router" => self.router_id()?,
                    "define" => self.define()?,
                    "filter" => self.filter_def()?,
                    "function" => self.function_def()?,
                    "protocol" | "template" => self.protocol()?,
                    "listen" => self.listen()?,
                    "include" => {
                        return Err(self.err_at(
                            self.span(),
                            "found `include` inside a line, expected it at the start of a line (`include \"FILE\";`)",
                        ));
                    }
                    _ => return Err(self.expected(TOP_LEVEL)),
                },
                _ => return Err(self.expected(TOP_LEVEL)),
            }
        }
    }

    fn router_id(&mut self) -> Res<()> {
        let start = self.word("router")?;
        self.word("id")?;
        if self.is_word("from") {
            return Err(self.expected(
                "an IPv4 address (`router id from` picks the ID at run time, which is not supported: give the ID)",
            ));
        }
        let (id, _) = self.idval("a router ID (an IPv4 address)")?;
        self.semi()?;
        self.cfg.router_id = Some((id, start));
        Ok(())
    }

    fn define(&mut self) -> Res<()> {
        self.word("define")?;
        let (name, span) = self.new_name("a name for the constant")?;
        self.punct(Punct::Eq)?;
        let e = self.term()?;
        let c = self.const_eval(&e)?;
        self.semi()?;
        self.syms.insert(name, (Sym::Const(c), span));
        Ok(())
    }

    fn listen(&mut self) -> Res<()> {
        let start = self.word("listen")?;
        self.word("bgp")?;
        let (mut address, mut port) = (None, None);
        loop {
            if self.eat_word("address") {
                address = Some(self.ipa()?.0);
            } else if self.eat_word("port") {
                port = Some(self.ranged("a port", 1, 65535)? as u16);
            } else if self.is_p(Punct::Semi) {
                break;
            } else {
                return Err(self.expected("`address`, `port` or `;`"));
            }
        }
        self.semi()?;
        self.cfg.listen = Some(Listen {
            address,
            port,
            span: start,
        });
        Ok(())
    }

    fn ty(&mut self) -> Option<Type> {
        let t = match self.peek() {
            Tok::Word(w) => match w.as_str() {
                "int" => Type::Int,
                "bool" => Type::Bool,
                "ip" => Type::Ip,
                "prefix" => Type::Prefix,
                "pair" => Type::Pair,
                "quad" => Type::Quad,
                "lc" => Type::Lc,
                "string" => Type::String,
                "bgpmask" => Type::BgpMask,
                "bgppath" => Type::BgpPath,
                "clist" => Type::Clist,
                "lclist" => Type::Lclist,
                _ => return None,
            },
            _ => return None,
        };
        self.bump();
        Some(t)
    }

    fn decl(&mut self) -> Res<Option<Decl>> {
        let Some(ty) = self.ty() else {
            return Ok(None);
        };
        if self.is_word("set") {
            return Err(self.expected("a variable name (sets as variables are not supported)"));
        }
        let (name, span) = self.new_name("a variable name")?;
        if self.scope.iter().any(|d| d.name == name) {
            return Err(self.err_at(span, format!("Symbol already defined: `{name}`")));
        }
        let d = Decl { ty, name, span };
        self.scope.push(d.clone());
        Ok(Some(d))
    }

    /// Local variables: `TYPE NAME;` before the body's `{`.
    fn locals(&mut self) -> Res<Vec<Decl>> {
        let mut v = Vec::new();
        while let Some(d) = self.decl()? {
            self.semi()?;
            v.push(d);
        }
        Ok(v)
    }

    fn body(&mut self) -> Res<Vec<Stmt>> {
        self.punct(Punct::LBrace)?;
        let mut v = Vec::new();
        while !self.is_p(Punct::RBrace) {
            v.push(self.stmt()?);
        }
        self.bump();
        Ok(v)
    }

    fn filter_def(&mut self) -> Res<()> {
        let start = self.word("filter")?;
        let (name, span) = self.new_name("a filter name")?;
        self.scope.clear();
        let locals = self.locals()?;
        let body = self.body()?;
        self.scope.clear();
        let f = Arc::new(FilterDef {
            name: Some(name.clone()),
            locals,
            body,
            span: start,
        });
        self.cfg.filters.push(f.clone());
        self.syms.insert(name, (Sym::Filter(f), span));
        Ok(())
    }

    fn function_def(&mut self) -> Res<()> {
        let start = self.word("function")?;
        let (name, span) = self.new_name("a function name")?;
        self.syms.insert(name.clone(), (Sym::Defining, span));
        self.scope.clear();
        self.punct(Punct::LParen)?;
        let mut params = Vec::new();
        if !self.is_p(Punct::RParen) {
            loop {
                match self.decl()? {
                    Some(d) => params.push(d),
                    None => return Err(self.expected("a parameter (`TYPE NAME`)")),
                }
                if !self.eat_p(Punct::Semi) {
                    break;
                }
            }
        }
        if self.is_p(Punct::Comma) {
            return Err(self.expected("`;` or `)` (BIRD 1.6 separates parameters with `;`)"));
        }
        self.punct(Punct::RParen)?;
        let locals = self.locals()?;
        let body = self.body()?;
        self.scope.clear();
        let f = Arc::new(FunctionDef {
            name: name.clone(),
            params,
            locals,
            body,
            span: start,
        });
        self.cfg.functions.push(f.clone());
        self.syms.insert(name, (Sym::Function(f), span));
        Ok(())
    }
}

const TOP_LEVEL: &str =
    "`router id`, `define`, `filter`, `function`, `protocol`, `template` or `listen bgp`";

const BGP_OPTIONS: &str = "a bgp option (local as, neighbor, source address, multihop, direct, ttl security, password, passive, rr client, rr cluster id, next hop self/keep, add paths, graceful restart, connect delay/retry time, error wait time, keepalive time, hold time, allow local as, gateway, import, export, description, debug)";

const KERNEL_OPTIONS: &str = "a kernel option (learn, persist, scan time, device routes, graceful restart, merge paths, kernel table, metric, import, export, description, debug)";

fn binary(op: BinOp, left: Expr, right: Expr) -> Expr {
    let span = left.span.to(right.span);
    Expr {
        kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
        span,
    }
}

fn attr_of(w: &str) -> Option<Attr> {
    Attr::ALL.iter().find(|(n, _)| *n == w).map(|(_, a)| *a)
}

fn enum_of(w: &str) -> Option<EnumConst> {
    use bgp_core::wire::attributes::Origin;
    if let Some((_, s)) = RouteSource::ALL.iter().find(|(n, _)| *n == w) {
        return Some(EnumConst::Source(*s));
    }
    Some(EnumConst::Origin(match w {
        "ORIGIN_IGP" => Origin::Igp,
        "ORIGIN_EGP" => Origin::Egp,
        "ORIGIN_INCOMPLETE" => Origin::Incomplete,
        _ => return None,
    }))
}

/// `a/len` if no bit past `len` is set.
fn make_prefix(a: IpAddr, len: u8) -> Option<IpNet> {
    let n = IpNet::new(a, len).ok()?;
    (n.trunc() == n).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex_text;
    use super::*;

    fn parse_str(src: &str) -> Res<Config> {
        let mut s = Sources::default();
        let toks = lex_text(&mut s, "t.cfg".into(), src.into(), Family::V4)?;
        parse(toks, &s, Family::V4)
    }

    #[test]
    fn protocols_take_default_names_and_their_templates() {
        let c = parse_str(
            "router id 10.0.0.1;\n\
             template bgp t { local as 65001; multihop; }\n\
             protocol bgp Mesh_10_0_0_2 from t { neighbor 10.0.0.2 port 1179 as 65001; passive on; }\n\
             protocol kernel { merge paths on limit 4; }\n\
             protocol kernel {}\n\
             protocol static { route 10.1.0.0/16 blackhole; route 10.2.0.0/16 via 10.0.0.254; }\n",
        )
        .unwrap();
        let names: Vec<(&str, bool, Option<usize>)> = c
            .protocols
            .iter()
            .map(|p| (p.name.as_str(), p.template, p.from))
            .collect();
        assert_eq!(
            names,
            [
                ("t", true, None),
                ("Mesh_10_0_0_2", false, Some(0)),
                ("kernel1", false, None),
                ("kernel2", false, None),
                ("static1", false, None),
            ]
        );
        let kinds: Vec<&OptKind> = c.protocols[1].options.iter().map(|o| &o.kind).collect();
        assert_eq!(
            kinds,
            [
                &OptKind::Neighbor {
                    address: "10.0.0.2".parse().unwrap(),
                    port: Some(1179),
                    asn: Some(65001)
                },
                &OptKind::Passive(true)
            ]
        );
        assert_eq!(c.protocols[2].options[0].kind, OptKind::MergePaths(4));
        assert_eq!(
            c.protocols[4].options[1].kind,
            OptKind::Route(StaticRoute {
                prefix: "10.2.0.0/16".parse().unwrap(),
                dest: StaticDest::Via("10.0.0.254".parse().unwrap()),
            })
        );
    }

    #[test]
    fn filters_keep_statements_and_precedence() {
        let c = parse_str(
            "function f(bool internal) { if internal then reject; }\n\
             filter g {\n  f(true);\n  if net ~ 10.0.0.0/8 && !defined(bgp_med) || bgp_path.len > 3 then\n    bgp_community.add((65000, 1));\n  else reject;\n  accept;\n}\n",
        )
        .unwrap();
        let g = &c.filters[0];
        assert_eq!(g.body.len(), 3);
        assert!(
            matches!(&g.body[0].kind, StmtKind::Call(f, args) if f.name == "f" && args.len() == 1)
        );
        let StmtKind::If {
            cond,
            then,
            otherwise,
        } = &g.body[1].kind
        else {
            panic!("an if: {:?}", g.body[1]);
        };
        // `&&` and `||` bind alike, left to right: (a && b) || c.
        let ExprKind::Binary(BinOp::Or, left, right) = &cond.kind else {
            panic!("{cond:?}");
        };
        assert!(matches!(left.kind, ExprKind::Binary(BinOp::And, _, _)));
        assert!(matches!(right.kind, ExprKind::Binary(BinOp::Gt, _, _)));
        assert!(matches!(
            then[0].kind,
            StmtKind::Method(Attr::BgpCommunity, Method::Add, _)
        ));
        assert_eq!(otherwise.as_ref().unwrap()[0].kind, StmtKind::Reject);
        assert_eq!(g.body[2].kind, StmtKind::Accept);
    }
}
