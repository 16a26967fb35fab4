//! The filter language: statements and expressions.

use super::super::Family;
use super::super::ast::*;
use super::super::lexer::{Punct, Tok};
use super::super::source::Span;
use super::{Parser, Res, Sym, attr_of, binary, enum_of, make_prefix};

impl Parser<'_> {
    // ---- Statements ----

    pub(super) fn block(&mut self) -> Res<Vec<Stmt>> {
        if self.is_p(Punct::LBrace) {
            self.body()
        } else {
            Ok(vec![self.stmt()?])
        }
    }

    pub(super) fn print_list(&mut self) -> Res<Vec<Expr>> {
        let mut v = Vec::new();
        if matches!(self.peek(), Tok::P(Punct::Semi | Punct::RBrace) | Tok::Eof) {
            return Ok(v);
        }
        loop {
            v.push(self.term()?);
            if !self.eat_p(Punct::Comma) {
                return Ok(v);
            }
        }
    }

    pub(super) fn stmt(&mut self) -> Res<Stmt> {
        let start = self.span();
        let kind = match self.peek().clone() {
            Tok::Word(w) => match w.as_str() {
                "if" => {
                    self.bump();
                    let cond = self.term()?;
                    self.word("then")?;
                    let then = self.block()?;
                    let otherwise = if self.eat_word("else") {
                        Some(self.block()?)
                    } else {
                        None
                    };
                    return Ok(Stmt {
                        kind: StmtKind::If {
                            cond,
                            then,
                            otherwise,
                        },
                        span: start,
                    });
                }
                "accept" | "reject" | "error" => {
                    self.bump();
                    self.print_list()?;
                    self.semi()?;
                    if w == "accept" {
                        StmtKind::Accept
                    } else {
                        StmtKind::Reject
                    }
                }
                "print" | "printn" => {
                    self.bump();
                    let v = self.print_list()?;
                    self.semi()?;
                    StmtKind::Print(v)
                }
                "return" => {
                    self.bump();
                    let e = self.term()?;
                    self.semi()?;
                    StmtKind::Return(e)
                }
                "unset" => {
                    self.bump();
                    self.punct(Punct::LParen)?;
                    let a = self.attr_name()?;
                    self.punct(Punct::RParen)?;
                    self.semi()?;
                    StmtKind::Unset(a)
                }
                "preference" => {
                    self.bump();
                    self.punct(Punct::Eq)?;
                    let e = self.term()?;
                    self.semi()?;
                    StmtKind::Assign(Target::Preference, e)
                }
                "case" | "quitbird" => {
                    return Err(self.expected(&format!("a statement (`{w}` is not supported)")));
                }
                _ => return self.symbol_stmt(start),
            },
            Tok::Quoted(_) => return self.symbol_stmt(start),
            _ => return Err(self.expected("a statement")),
        };
        Ok(Stmt { kind, span: start })
    }

    pub(super) fn attr_name(&mut self) -> Res<Attr> {
        match self.peek() {
            Tok::Word(w) => {
                let a = attr_of(w).ok_or_else(|| self.expected("a route attribute"))?;
                self.bump();
                Ok(a)
            }
            _ => Err(self.expected("a route attribute")),
        }
    }

    /// A statement that starts with a name: an assignment, a method on an attribute, or a
    /// function call.
    pub(super) fn symbol_stmt(&mut self, start: Span) -> Res<Stmt> {
        let (name, quoted) = match self.peek().clone() {
            Tok::Word(w) => (w, false),
            Tok::Quoted(w) => (w, true),
            _ => return Err(self.expected("a statement")),
        };
        let done = |p: &Self, kind| Stmt {
            kind,
            span: start.to(p.prev_span()),
        };
        if !quoted && let Some(a) = attr_of(&name) {
            self.bump();
            if self.eat_p(Punct::Eq) {
                if !a.writable() {
                    return Err(self.err_at(
                        start,
                        format!(
                            "This static attribute is read-only: found an assignment to `{name}`"
                        ),
                    ));
                }
                let e = self.term()?;
                self.semi()?;
                return Ok(done(self, StmtKind::Assign(Target::Attr(a), e)));
            }
            if self.eat_p(Punct::Dot) {
                let m = match self.peek() {
                    Tok::Word(w) if w == "add" => Method::Add,
                    Tok::Word(w) if w == "delete" => Method::Delete,
                    Tok::Word(w) if w == "prepend" => Method::Prepend,
                    _ => {
                        return Err(self.expected(
                            "`add`, `delete` or `prepend` (`filter` and `empty` are not supported)",
                        ));
                    }
                };
                self.bump();
                self.punct(Punct::LParen)?;
                let e = self.term()?;
                self.punct(Punct::RParen)?;
                self.semi()?;
                return Ok(done(self, StmtKind::Method(a, m, e)));
            }
            return Err(self.expected(&format!("`=` or `.` after the attribute `{name}`")));
        }
        match self.lookup(&name).cloned() {
            Some(Sym::Function(f)) => {
                self.bump();
                let args = self.call_args(&f)?;
                self.semi()?;
                Ok(done(self, StmtKind::Call(f, args)))
            }
            Some(Sym::Defining) => Err(self.err_at(
                start,
                format!("found a call of `{name}` inside its own body, expected no recursion"),
            )),
            _ if self.scope.iter().any(|d| d.name == name) => {
                self.bump();
                self.punct(Punct::Eq)?;
                let e = self.term()?;
                self.semi()?;
                Ok(done(self, StmtKind::Assign(Target::Var(name), e)))
            }
            _ => Err(self.expected(&format!(
                "a statement: an attribute, a variable or a function (functions: {})",
                self.names_of(|s| matches!(s, Sym::Function(_)))
            ))),
        }
    }

    pub(super) fn call_args(&mut self, f: &FunctionDef) -> Res<Vec<Expr>> {
        let open = self.punct(Punct::LParen)?;
        let mut args = Vec::new();
        if !self.is_p(Punct::RParen) {
            loop {
                args.push(self.term()?);
                if !self.eat_p(Punct::Comma) {
                    break;
                }
            }
        }
        self.punct(Punct::RParen)?;
        if args.len() != f.params.len() {
            return Err(self.err_at(
                open,
                format!(
                    "Wrong number of arguments for function {}: found {}, expected {}",
                    f.name,
                    args.len(),
                    f.params.len()
                ),
            ));
        }
        Ok(args)
    }

    // ---- Expressions ----

    /// BIRD's `term`: `&&` and `||` bind loosest (left to right, same level), then the
    /// comparisons (not chained), `+ -`, `* /`, `!`, and `.` tightest.
    pub(super) fn term(&mut self) -> Res<Expr> {
        let mut left = self.comparison()?;
        loop {
            let op = match self.peek() {
                Tok::P(Punct::AndAnd) => BinOp::And,
                Tok::P(Punct::OrOr) => BinOp::Or,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.comparison()?;
            left = binary(op, left, right);
        }
    }

    pub(super) fn comparison(&mut self) -> Res<Expr> {
        let left = self.sum()?;
        let Some(op) = self.cmp_op() else {
            return Ok(left);
        };
        self.bump();
        let right = self.sum()?;
        if self.cmp_op().is_some() {
            return Err(self.expected("`)`, `&&` or `||` (comparisons do not chain)"));
        }
        Ok(binary(op, left, right))
    }

    pub(super) fn cmp_op(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::P(Punct::Eq) => BinOp::Eq,
            Tok::P(Punct::Ne) => BinOp::Ne,
            Tok::P(Punct::Lt) => BinOp::Lt,
            Tok::P(Punct::Le) => BinOp::Le,
            Tok::P(Punct::Gt) => BinOp::Gt,
            Tok::P(Punct::Ge) => BinOp::Ge,
            Tok::P(Punct::Tilde) => BinOp::Match,
            Tok::P(Punct::NotTilde) => BinOp::NotMatch,
            _ => return None,
        })
    }

    pub(super) fn sum(&mut self) -> Res<Expr> {
        let mut left = self.product()?;
        loop {
            let op = match self.peek() {
                Tok::P(Punct::Plus) => BinOp::Add,
                Tok::P(Punct::Minus) => BinOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.product()?;
            left = binary(op, left, right);
        }
    }

    pub(super) fn product(&mut self) -> Res<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::P(Punct::Star) => BinOp::Mul,
                Tok::P(Punct::Slash) => BinOp::Div,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.unary()?;
            left = binary(op, left, right);
        }
    }

    pub(super) fn unary(&mut self) -> Res<Expr> {
        if self.is_p(Punct::Bang) {
            let start = self.bump().span;
            let e = self.unary()?;
            let span = start.to(e.span);
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(e)),
                span,
            });
        }
        let mut e = self.primary()?;
        while self.eat_p(Punct::Dot) {
            let field = match self.peek() {
                Tok::Word(w) if w == "len" => Field::Len,
                Tok::Word(w) if w == "ip" => Field::Ip,
                Tok::Word(w) if w == "first" => Field::First,
                Tok::Word(w) if w == "last" => Field::Last,
                Tok::Word(w) if w == "mask" => {
                    self.bump();
                    self.punct(Punct::LParen)?;
                    let m = self.term()?;
                    self.punct(Punct::RParen)?;
                    let span = e.span.to(self.prev_span());
                    e = Expr {
                        kind: ExprKind::Field(Box::new(e), Field::Mask(Box::new(m))),
                        span,
                    };
                    continue;
                }
                _ => return Err(self.expected("`len`, `ip`, `mask`, `first` or `last`")),
            };
            self.bump();
            let span = e.span.to(self.prev_span());
            e = Expr {
                kind: ExprKind::Field(Box::new(e), field),
                span,
            };
        }
        Ok(e)
    }

    pub(super) fn primary(&mut self) -> Res<Expr> {
        let start = self.span();
        let at = |p: &Self, kind| Expr {
            kind,
            span: start.to(p.prev_span()),
        };
        match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok(at(self, ExprKind::Const(Const::Int(n))))
            }
            Tok::Text(t) => {
                self.bump();
                Ok(at(self, ExprKind::Const(Const::Str(t))))
            }
            Tok::V4(_) | Tok::V6(_) => {
                let c = self.address_const()?;
                Ok(at(self, ExprKind::Const(c)))
            }
            Tok::P(Punct::LParen) => {
                self.bump();
                let first = self.term()?;
                if self.eat_p(Punct::RParen) {
                    return Ok(Expr {
                        kind: first.kind,
                        span: start.to(self.prev_span()),
                    });
                }
                let mut parts = vec![first];
                while self.eat_p(Punct::Comma) {
                    parts.push(self.term()?);
                }
                if parts.len() > 3 {
                    return Err(self.err_at(start, "found a tuple of more than three parts, expected a pair or a large community"));
                }
                self.punct(Punct::RParen)?;
                Ok(at(self, ExprKind::Tuple(parts)))
            }
            Tok::P(Punct::LBracket) => {
                self.bump();
                let set = self.set()?;
                self.punct(Punct::RBracket)?;
                Ok(at(self, set))
            }
            Tok::P(Punct::MaskOpen) => {
                self.bump();
                let mut items = Vec::new();
                while !self.eat_p(Punct::MaskClose) {
                    items.push(self.mask_item()?);
                }
                Ok(at(self, ExprKind::PathMask(items)))
            }
            Tok::P(Punct::Minus) | Tok::P(Punct::Plus) => Err(self.expected(
                "an expression (the empty lists `-empty-` and `+empty+` are not supported)",
            )),
            Tok::Word(w) => {
                match w.as_str() {
                    "true" | "false" => {
                        self.bump();
                        return Ok(at(self, ExprKind::Const(Const::Bool(w == "true"))));
                    }
                    "defined" => {
                        self.bump();
                        self.punct(Punct::LParen)?;
                        let e = self.term()?;
                        self.punct(Punct::RParen)?;
                        return Ok(at(self, ExprKind::Defined(Box::new(e))));
                    }
                    "preference" => {
                        self.bump();
                        return Ok(at(self, ExprKind::Preference));
                    }
                    _ => {}
                }
                if let Some(a) = attr_of(&w) {
                    self.bump();
                    return Ok(at(self, ExprKind::Attr(a)));
                }
                if let Some(c) = enum_of(&w) {
                    self.bump();
                    return Ok(at(self, ExprKind::Const(Const::Enum(c))));
                }
                self.symbol_expr(&w, start)
            }
            Tok::Quoted(w) => self.symbol_expr(&w, start),
            _ => Err(self.expected("an expression")),
        }
    }

    pub(super) fn symbol_expr(&mut self, name: &str, start: Span) -> Res<Expr> {
        if self.scope.iter().any(|d| d.name == name) {
            self.bump();
            return Ok(Expr {
                kind: ExprKind::Var(name.to_string()),
                span: start,
            });
        }
        match self.lookup(name).cloned() {
            Some(Sym::Const(c)) => {
                self.bump();
                Ok(Expr {
                    kind: ExprKind::Const(c),
                    span: start,
                })
            }
            Some(Sym::Function(f)) => {
                self.bump();
                let args = self.call_args(&f)?;
                Ok(Expr {
                    kind: ExprKind::Call(f, args),
                    span: start.to(self.prev_span()),
                })
            }
            _ => Err(self.expected(
                "an expression: a value, an attribute, a variable, a constant or a function call",
            )),
        }
    }

    /// An address literal, a prefix if `/LEN` follows.
    pub(super) fn address_const(&mut self) -> Res<Const> {
        let span = self.span();
        let a = match self.peek().clone() {
            Tok::V4(a) if self.family == Family::V6 && !self.prefix_ahead() => {
                self.bump();
                return Ok(Const::Quad(a));
            }
            Tok::V4(_) | Tok::V6(_) => self.ipa()?.0,
            _ => return Err(self.expected("an address")),
        };
        if !self.eat_p(Punct::Slash) {
            return Ok(Const::Ip(a));
        }
        let max = if a.is_ipv4() { 32 } else { 128 };
        let len = match self.peek() {
            Tok::Num(n) if *n <= max => *n as u8,
            _ => return Err(self.expected(&format!("a prefix length (0 to {max})"))),
        };
        self.bump();
        make_prefix(a, len).map(Const::Prefix).ok_or_else(|| {
            self.err_at(
                span.to(self.prev_span()),
                format!("Invalid network prefix: {a}/{len}: expected no bits set past the length"),
            )
        })
    }

    pub(super) fn prefix_ahead(&self) -> bool {
        matches!(self.peek_at(1), Tok::P(Punct::Slash))
    }

    pub(super) fn set(&mut self) -> Res<ExprKind> {
        let is_prefix_set = matches!(self.peek(), Tok::V4(_) | Tok::V6(_)) && self.prefix_ahead();
        if is_prefix_set {
            let mut v = Vec::new();
            loop {
                let start = self.span();
                let Const::Prefix(p) = self.address_const()? else {
                    return Err(self.err_at(start, "found an address, expected a prefix (a set holds prefixes or other values, not both)"));
                };
                let len = p.prefix_len();
                let max = p.max_prefix_len();
                let (low, high) = if self.eat_p(Punct::Plus) {
                    (len, max)
                } else if self.eat_p(Punct::Minus) {
                    (0, len)
                } else if self.eat_p(Punct::LBrace) {
                    let lo = self.ranged("a prefix length", 0, u32::from(max))? as u8;
                    self.punct(Punct::Comma)?;
                    let hi = self.ranged("a prefix length", 0, u32::from(max))? as u8;
                    self.punct(Punct::RBrace)?;
                    if lo > hi {
                        return Err(self.err_at(
                            start,
                            format!("found lengths {{{lo},{hi}}}, expected the lower first"),
                        ));
                    }
                    (lo, hi)
                } else {
                    (len, len)
                };
                v.push(PrefixPattern {
                    prefix: p,
                    low,
                    high,
                });
                if !self.eat_p(Punct::Comma) {
                    return Ok(ExprKind::PrefixSet(v));
                }
            }
        }
        let mut v = Vec::new();
        loop {
            v.push(self.set_item()?);
            if !self.eat_p(Punct::Comma) {
                return Ok(ExprKind::Set(v));
            }
        }
    }

    pub(super) fn set_item(&mut self) -> Res<SetItem> {
        if self.is_p(Punct::LParen) {
            let start = self.bump().span;
            let mut parts: Vec<(u32, u32)> = Vec::new();
            loop {
                if self.eat_p(Punct::Star) {
                    parts.push((0, u32::MAX));
                } else {
                    let e = self.term()?;
                    let lo = self.const_int(&e)?;
                    let hi = if self.eat_p(Punct::DotDot) {
                        let e = self.term()?;
                        self.const_int(&e)?
                    } else {
                        lo
                    };
                    parts.push((lo, hi));
                }
                if !self.eat_p(Punct::Comma) {
                    break;
                }
            }
            self.punct(Punct::RParen)?;
            if self.is_p(Punct::DotDot) {
                return Err(self.expected("`,` or `]` (ranges between pairs are not supported)"));
            }
            return match parts.as_slice() {
                [(a, b)] if a == b => Ok(SetItem::One(Const::Int(*a))),
                [a, b] => Ok(SetItem::Pair([*a, *b])),
                [a, b, c] => Ok(SetItem::Triple([*a, *b, *c])),
                _ => Err(self.err_at(start, "found a set entry of this shape, expected a value, a pair or a large community")),
            };
        }
        let one = self.set_atom()?;
        if self.eat_p(Punct::DotDot) {
            let two = self.set_atom()?;
            return Ok(SetItem::Range(one, two));
        }
        Ok(SetItem::One(one))
    }

    pub(super) fn set_atom(&mut self) -> Res<Const> {
        match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok(Const::Int(n))
            }
            Tok::V4(_) | Tok::V6(_) => self.address_const(),
            Tok::Word(w) | Tok::Quoted(w) => {
                if let Some(c) = enum_of(&w) {
                    self.bump();
                    return Ok(Const::Enum(c));
                }
                match self.lookup(&w) {
                    Some(Sym::Const(c)) => {
                        let c = c.clone();
                        self.bump();
                        Ok(c)
                    }
                    _ => {
                        Err(self
                            .expected("a set entry: a number, an address, a constant or a pair"))
                    }
                }
            }
            _ => Err(self.expected("a set entry: a number, an address, a constant or a pair")),
        }
    }

    pub(super) fn mask_item(&mut self) -> Res<MaskItem> {
        match self.peek().clone() {
            Tok::P(Punct::Star) => {
                self.bump();
                Ok(MaskItem::Any)
            }
            Tok::P(Punct::Question) => {
                self.bump();
                Ok(MaskItem::One)
            }
            Tok::Num(n) => {
                self.bump();
                if self.eat_p(Punct::DotDot) {
                    let (m, _) = self.number("the end of an AS range")?;
                    return Ok(MaskItem::Range(n, m));
                }
                Ok(MaskItem::Asn(n))
            }
            Tok::P(Punct::LParen) | Tok::Word(_) | Tok::Quoted(_) => {
                let e = if self.is_p(Punct::LParen) {
                    self.term()?
                } else {
                    self.primary()?
                };
                Ok(MaskItem::Asn(self.const_int(&e)?))
            }
            _ => Err(self.expected("an AS number, `*`, `?` or `=]`")),
        }
    }

    pub(super) fn const_int(&self, e: &Expr) -> Res<u32> {
        match self.const_eval(e)? {
            Const::Int(n) => Ok(n),
            other => Err(self.err_at(e.span, format!("found {other:?}, expected a number"))),
        }
    }

    /// The value of an expression made of constants (for `define` and sets).
    pub(super) fn const_eval(&self, e: &Expr) -> Res<Const> {
        let bad = || {
            self.err_at(
                e.span,
                "found an expression that depends on the route, expected a constant",
            )
        };
        Ok(match &e.kind {
            ExprKind::Const(c) => c.clone(),
            ExprKind::Tuple(parts) => {
                let v = parts
                    .iter()
                    .map(|p| self.const_int(p))
                    .collect::<Res<Vec<_>>>()?;
                match v.as_slice() {
                    [a, b] => {
                        if *a > 0xFFFF || *b > 0xFFFF {
                            return Err(self.err_at(
                                e.span,
                                format!("found pair ({a}, {b}), expected 16-bit parts"),
                            ));
                        }
                        Const::Pair(*a, *b)
                    }
                    [a, b, c] => Const::Triple(*a, *b, *c),
                    _ => return Err(bad()),
                }
            }
            ExprKind::Not(inner) => match self.const_eval(inner)? {
                Const::Bool(b) => Const::Bool(!b),
                _ => return Err(bad()),
            },
            ExprKind::Binary(op, a, b) => {
                let (x, y) = (self.const_eval(a)?, self.const_eval(b)?);
                match (op, x, y) {
                    (BinOp::Add, Const::Int(x), Const::Int(y)) => Const::Int(x.wrapping_add(y)),
                    (BinOp::Sub, Const::Int(x), Const::Int(y)) => Const::Int(x.wrapping_sub(y)),
                    (BinOp::Mul, Const::Int(x), Const::Int(y)) => Const::Int(x.wrapping_mul(y)),
                    (BinOp::Div, Const::Int(x), Const::Int(y)) if y != 0 => Const::Int(x / y),
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        })
    }
}
