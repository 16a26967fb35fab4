//! Tokens of BIRD's configuration language, as BIRD 1.6 (`conf/cf-lex.l`) reads them.
//!
//! Comments (`#` to the end of the line, `/* ... */` not nested), strings without escapes,
//! numbers (decimal or `0x` hex, 32 bits), IPv4 and IPv6 addresses, words, quoted symbols
//! (`'bgp_a-b.c'`) and operators. `include "FILE";` at the start of a line is resolved here,
//! as BIRD does: the included file's tokens take its place, a relative name is taken from
//! the directory of the including file, and a name with `*`, `?` or `[` is a glob whose
//! matches (sorted, directories skipped, possibly none) are included in turn.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::Family;
use super::source::{Error, Sources, Span};

/// BIRD's limit on nested includes.
const MAX_INCLUDE_DEPTH: usize = 8;

/// BIRD's limit on the length of a symbol.
const SYM_MAX_LEN: usize = 64;

/// Operators and punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Punct {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Tilde,
    NotTilde,
    AndAnd,
    OrOr,
    Bang,
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// `[=`, the start of an AS-path mask.
    MaskOpen,
    /// `=]`, its end.
    MaskClose,
    Semi,
    Comma,
    Colon,
    Dot,
    DotDot,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Question,
    Pipe,
}

impl Punct {
    pub fn text(self) -> &'static str {
        match self {
            Punct::Eq => "=",
            Punct::Ne => "!=",
            Punct::Lt => "<",
            Punct::Le => "<=",
            Punct::Gt => ">",
            Punct::Ge => ">=",
            Punct::Tilde => "~",
            Punct::NotTilde => "!~",
            Punct::AndAnd => "&&",
            Punct::OrOr => "||",
            Punct::Bang => "!",
            Punct::LBrace => "{",
            Punct::RBrace => "}",
            Punct::LParen => "(",
            Punct::RParen => ")",
            Punct::LBracket => "[",
            Punct::RBracket => "]",
            Punct::MaskOpen => "[=",
            Punct::MaskClose => "=]",
            Punct::Semi => ";",
            Punct::Comma => ",",
            Punct::Colon => ":",
            Punct::Dot => ".",
            Punct::DotDot => "..",
            Punct::Plus => "+",
            Punct::Minus => "-",
            Punct::Star => "*",
            Punct::Slash => "/",
            Punct::Percent => "%",
            Punct::Question => "?",
            Punct::Pipe => "|",
        }
    }
}

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A bare word: a keyword or a symbol, told apart by the parser.
    Word(String),
    /// A symbol in single quotes: never a keyword.
    Quoted(String),
    Num(u32),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// A string in double quotes.
    Text(String),
    P(Punct),
    /// The end of the main file.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Quoted(w) => format!("`'{w}'`"),
            Tok::Num(n) => format!("number {n}"),
            Tok::V4(a) => format!("address {a}"),
            Tok::V6(a) => format!("address {a}"),
            Tok::Text(t) => format!("string \"{t}\""),
            Tok::P(p) => format!("`{}`", p.text()),
            Tok::Eof => "the end of the file".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Reads the file `path` and everything it includes into tokens (ending with one
/// [`Tok::Eof`]).
pub fn lex_file(sources: &mut Sources, path: &Path, family: Family) -> Result<Vec<Token>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::file(
            path,
            format!(
                "Unable to open configuration file {}: {}",
                path.display(),
                os_message(&e)
            ),
        )
    })?;
    lex_text(sources, path.to_path_buf(), text, family)
}

/// An I/O error as C's `%m` prints it: the system's text without Rust's "(os error N)".
pub fn os_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Tokens of `text`, named `path` in errors (includes are read relative to it).
pub fn lex_text(
    sources: &mut Sources,
    path: PathBuf,
    text: String,
    family: Family,
) -> Result<Vec<Token>, Error> {
    let file = sources.add(path, text);
    let mut out = Vec::new();
    Lexer {
        sources,
        family,
        out: &mut out,
    }
    .file(file, 0)?;
    let end = sources.files[0].text.len();
    out.push(Token {
        tok: Tok::Eof,
        span: Span::new(0, end, end),
    });
    Ok(out)
}

struct Lexer<'a> {
    sources: &'a mut Sources,
    family: Family,
    out: &'a mut Vec<Token>,
}

fn is_xigit(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn count(s: &[u8], f: impl Fn(u8) -> bool) -> usize {
    s.iter().take_while(|b| f(**b)).count()
}

/// Length of `DIGIT+ . DIGIT+ . DIGIT+ . DIGIT+` at the start of `s`, or 0.
fn v4_len(s: &[u8]) -> usize {
    let mut p = 0;
    for i in 0..4 {
        let d = count(&s[p..], |b| b.is_ascii_digit());
        if d == 0 {
            return 0;
        }
        p += d;
        if i < 3 {
            if s.get(p) != Some(&b'.') {
                return 0;
            }
            p += 1;
        }
    }
    p
}

/// Length of BIRD's IPv6 pattern at the start of `s`, or 0:
/// `(XIGIT* :: | (XIGIT* :){3,}) (XIGIT* | DIGIT+.DIGIT+.DIGIT+.DIGIT+)`.
fn v6_len(s: &[u8]) -> usize {
    let tail = |t: &[u8]| count(t, is_xigit).max(v4_len(t));
    let x = count(s, is_xigit);
    let mut best = 0;
    if s[x..].starts_with(b"::") {
        best = x + 2 + tail(&s[x + 2..]);
    }
    let (mut p, mut groups) = (0, 0);
    loop {
        let x = count(&s[p..], is_xigit);
        if s.get(p + x) != Some(&b':') {
            break;
        }
        p += x + 1;
        groups += 1;
        if groups >= 3 {
            best = best.max(p + tail(&s[p..]));
        }
    }
    best
}

/// Matches `include "NAME";` (with spaces or tabs around) at the start of `s`: the name and
/// the length matched.
fn include_directive(s: &str) -> Option<(usize, usize, usize)> {
    let b = s.as_bytes();
    if !s.starts_with("include") {
        return None;
    }
    let mut p = "include".len();
    p += count(&b[p..], |c| c == b' ' || c == b'\t');
    if b.get(p) != Some(&b'"') {
        return None;
    }
    let name_start = p + 1;
    let close = name_start + s[name_start..].find(['"', '\n'])?;
    if b[close] != b'"' {
        return None;
    }
    p = close + 1;
    p += count(&b[p..], |c| c == b' ' || c == b'\t');
    (b.get(p) == Some(&b';')).then_some((name_start, close, p + 1))
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok, file: u32, start: usize, end: usize) {
        self.out.push(Token {
            tok,
            span: Span::new(file, start, end),
        });
    }

    fn err(&self, file: u32, start: usize, end: usize, msg: impl Into<String>) -> Error {
        self.sources.error(Span::new(file, start, end), msg)
    }

    fn file(&mut self, file: u32, depth: usize) -> Result<(), Error> {
        let text = self.sources.files[file as usize].text.clone();
        let s = text.as_bytes();
        let mut i = 0;
        let mut line_start = true;
        while i < s.len() {
            let c = s[i];
            if line_start && let Some((ns, ne, end)) = include_directive(&text[i..]) {
                let name = &text[i + ns..i + ne];
                if name.is_empty() {
                    return Err(self.err(file, i, i + end, "Include with empty argument"));
                }
                self.include(file, depth, name, Span::new(file, i, i + end))?;
                i += end;
                line_start = false;
                continue;
            }
            match c {
                b' ' | b'\t' => {
                    i += 1;
                    continue;
                }
                b'\n' => {
                    i += 1;
                    line_start = true;
                    continue;
                }
                b'#' => {
                    i += count(&s[i..], |b| b != b'\n');
                    continue;
                }
                _ => {}
            }
            line_start = false;
            if s[i..].starts_with(b"/*") {
                let body = i + 2;
                let Some(len) = text[body..].find("*/") else {
                    return Err(self.err(file, i, i + 2, "Unterminated comment"));
                };
                if let Some(n) = text[body..body + len].find("/*") {
                    return Err(self.err(
                        file,
                        body + n,
                        body + n + 2,
                        "Comment nesting not supported",
                    ));
                }
                i = body + len + 2;
                continue;
            }
            let start = i;
            let v6 = if is_xigit(c) || c == b':' {
                v6_len(&s[i..])
            } else {
                0
            };
            let v4 = if c.is_ascii_digit() {
                v4_len(&s[i..])
            } else {
                0
            };
            let word = if c.is_ascii_alphabetic() || c == b'_' {
                count(&s[i..], |b| b.is_ascii_alphanumeric() || b == b'_')
            } else {
                0
            };
            let digits = count(&s[i..], |b| b.is_ascii_digit());
            // Longest match wins; on a tie the earlier rule (IPv4, IPv6, number, word).
            if v4 > 0 && v4 >= v6 {
                let t = &text[i..i + v4];
                let a: Ipv4Addr = t
                    .parse()
                    .map_err(|_| self.err(file, i, i + v4, format!("Invalid IPv4 address {t}")))?;
                self.push(Tok::V4(a), file, i, i + v4);
                i += v4;
                continue;
            }
            if v6 > 0 && v6 >= word && v6 >= digits {
                let t = &text[i..i + v6];
                if self.family == Family::V4 {
                    return Err(self.err(
                        file,
                        i,
                        i + v6,
                        format!(
                            "found IPv6 address {t}, expected IPv4: this is an IPv4 router, therefore IPv6 addresses are not supported"
                        ),
                    ));
                }
                let a: Ipv6Addr = t
                    .parse()
                    .map_err(|_| self.err(file, i, i + v6, format!("Invalid IPv6 address {t}")))?;
                self.push(Tok::V6(a), file, i, i + v6);
                i += v6;
                continue;
            }
            if digits > 0 {
                let (n, len) = if c == b'0' && matches!(s.get(i + 1), Some(b'x' | b'X')) {
                    let h = count(&s[i + 2..], is_xigit);
                    let v = u32::from_str_radix(&text[i + 2..i + 2 + h], 16).ok();
                    (v, 2 + h)
                } else {
                    (text[i..i + digits].parse::<u32>().ok(), digits)
                };
                let n = n.ok_or_else(|| self.err(file, i, i + len, "Number out of range"))?;
                self.push(Tok::Num(n), file, i, i + len);
                i += len;
                continue;
            }
            if word > 0 {
                let w = &text[i..i + word];
                if w.len() > SYM_MAX_LEN {
                    return Err(self.err(file, i, i + word, "Symbol too long"));
                }
                self.push(Tok::Word(w.to_string()), file, i, i + word);
                i += word;
                continue;
            }
            match c {
                b'\'' => {
                    let n = count(&s[i + 1..], |b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
                    });
                    if s.get(i + 1 + n) != Some(&b'\'') {
                        return Err(self.err(
                            file,
                            i,
                            i + 1,
                            "Unknown character `'`: a quoted symbol has letters, digits, `_`, `-`, `.` and `:` up to a closing `'`",
                        ));
                    }
                    if n > SYM_MAX_LEN {
                        return Err(self.err(file, i, i + n + 2, "Symbol too long"));
                    }
                    let w = text[i + 1..i + 1 + n].to_string();
                    self.push(Tok::Quoted(w), file, i, i + n + 2);
                    i += n + 2;
                }
                b'"' => {
                    let n = count(&s[i + 1..], |b| b != b'"' && b != b'\n');
                    if s.get(i + 1 + n) != Some(&b'"') {
                        return Err(self.err(file, i, i + 1 + n, "Unterminated string"));
                    }
                    let t = text[i + 1..i + 1 + n].to_string();
                    self.push(Tok::Text(t), file, i, i + n + 2);
                    i += n + 2;
                }
                _ => {
                    let two = s.get(i..i + 2).unwrap_or(&[]);
                    let p2 = match two {
                        b"!=" => Some(Punct::Ne),
                        b"!~" => Some(Punct::NotTilde),
                        b"<=" => Some(Punct::Le),
                        b">=" => Some(Punct::Ge),
                        b"&&" => Some(Punct::AndAnd),
                        b"||" => Some(Punct::OrOr),
                        b"[=" => Some(Punct::MaskOpen),
                        b"=]" => Some(Punct::MaskClose),
                        b".." => Some(Punct::DotDot),
                        _ => None,
                    };
                    if let Some(p) = p2 {
                        self.push(Tok::P(p), file, i, i + 2);
                        i += 2;
                        continue;
                    }
                    let p = match c {
                        b'=' => Punct::Eq,
                        b'{' => Punct::LBrace,
                        b'}' => Punct::RBrace,
                        b':' => Punct::Colon,
                        b';' => Punct::Semi,
                        b',' => Punct::Comma,
                        b'.' => Punct::Dot,
                        b'(' => Punct::LParen,
                        b')' => Punct::RParen,
                        b'+' => Punct::Plus,
                        b'*' => Punct::Star,
                        b'/' => Punct::Slash,
                        b'%' => Punct::Percent,
                        b'<' => Punct::Lt,
                        b'>' => Punct::Gt,
                        b'~' => Punct::Tilde,
                        b'[' => Punct::LBracket,
                        b']' => Punct::RBracket,
                        b'?' => Punct::Question,
                        b'!' => Punct::Bang,
                        b'|' => Punct::Pipe,
                        b'-' => Punct::Minus,
                        _ => {
                            let ch = text[i..].chars().next().unwrap_or('?');
                            let what = if ch == '\r' {
                                "a carriage return: BIRD reads lines that end in LF alone"
                                    .to_string()
                            } else {
                                format!("{ch:?}")
                            };
                            return Err(self.err(
                                file,
                                i,
                                i + ch.len_utf8(),
                                format!("Unknown character: found {what}"),
                            ));
                        }
                    };
                    self.push(Tok::P(p), file, i, i + 1);
                    i += 1;
                }
            }
            debug_assert!(i > start);
        }
        Ok(())
    }

    fn include(&mut self, file: u32, depth: usize, name: &str, at: Span) -> Result<(), Error> {
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(self.sources.error(at, "Max include depth reached"));
        }
        let pattern = if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            let including = &self.sources.files[file as usize].path;
            let dir = match including.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            dir.join(name)
        };
        let paths = if name.contains(['*', '?', '[']) {
            glob(&pattern).map_err(|e| {
                self.sources.error(
                    at,
                    format!("Unable to match pattern {}: {e}", pattern.display()),
                )
            })?
        } else {
            vec![pattern]
        };
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                self.sources.error(
                    at,
                    format!(
                        "Unable to open included file {}: {}",
                        path.display(),
                        os_message(&e)
                    ),
                )
            })?;
            let id = self.sources.add(path, text);
            self.file(id, depth + 1)?;
        }
        Ok(())
    }
}

/// The files matching a glob (`*`, `?`, `[...]` in any component; a leading `.` of a name
/// only matched by a `.`), sorted, directories left out, as glob(3) finds them.
fn glob(pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = vec![PathBuf::new()];
    let parts: Vec<_> = pattern.components().collect();
    for (i, part) in parts.iter().enumerate() {
        let s = part.as_os_str().to_string_lossy();
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &found {
            if !s.contains(['*', '?', '[']) {
                let p = base.join(part.as_os_str());
                if last || p.is_dir() {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                base.clone()
            };
            let mut names: Vec<String> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| fnmatch(s.as_bytes(), n.as_bytes(), true))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        found = next;
    }
    Ok(found
        .into_iter()
        .filter(|p| p.exists() && !p.is_dir())
        .collect())
}

/// Shell-style matching of one name: `*`, `?` and bracket classes (`[a-z]`, `[!x]`).
fn fnmatch(pat: &[u8], name: &[u8], first: bool) -> bool {
    if first && name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    match pat.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|k| fnmatch(&pat[1..], &name[k..], false)),
        Some(b'?') => !name.is_empty() && fnmatch(&pat[1..], &name[1..], false),
        Some(b'[') => {
            let Some(&c) = name.first() else { return false };
            let mut p = 1;
            let negate = matches!(pat.get(p), Some(b'!' | b'^'));
            if negate {
                p += 1;
            }
            let mut hit = false;
            let mut firstc = true;
            while p < pat.len() && (firstc || pat[p] != b']') {
                firstc = false;
                if pat.get(p + 1) == Some(&b'-') && pat.get(p + 2).is_some_and(|e| *e != b']') {
                    hit |= (pat[p]..=pat[p + 2]).contains(&c);
                    p += 3;
                } else {
                    hit |= pat[p] == c;
                    p += 1;
                }
            }
            if p >= pat.len() {
                // No closing bracket: the `[` is an ordinary character.
                return c == b'[' && fnmatch(&pat[1..], &name[1..], false);
            }
            hit != negate && fnmatch(&pat[p + 1..], &name[1..], false)
        }
        Some(&b) => name.first() == Some(&b) && fnmatch(&pat[1..], &name[1..], false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let mut s = Sources::default();
        lex_text(&mut s, "t.cfg".into(), src.into(), Family::V6)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn lex_err(src: &str, family: Family) -> String {
        let mut s = Sources::default();
        lex_text(&mut s, "t.cfg".into(), src.into(), family)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn addresses_numbers_words_and_operators() {
        use Punct::*;
        let w = |s: &str| Tok::Word(s.into());
        assert_eq!(
            toks("net ~ 10.0.0.0/8 && dead:beef::/64 != ffee::1:1 0x10 'a-b.c' \"x y\" [= =] .."),
            vec![
                w("net"),
                Tok::P(Tilde),
                Tok::V4("10.0.0.0".parse().unwrap()),
                Tok::P(Slash),
                Tok::Num(8),
                Tok::P(AndAnd),
                Tok::V6("dead:beef::".parse().unwrap()),
                Tok::P(Slash),
                Tok::Num(64),
                Tok::P(Ne),
                Tok::V6("ffee::1:1".parse().unwrap()),
                Tok::Num(16),
                Tok::Quoted("a-b.c".into()),
                Tok::Text("x y".into()),
                Tok::P(MaskOpen),
                Tok::P(MaskClose),
                Tok::P(DotDot),
                Tok::Eof,
            ]
        );
        // Words that happen to be hex digits stay words; `fd00:96::28` is one address.
        assert_eq!(
            toks("add fd00:96::28 bgp_path"),
            vec![
                w("add"),
                Tok::V6("fd00:96::28".parse().unwrap()),
                w("bgp_path"),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_are_skipped_and_lines_counted() {
        let mut s = Sources::default();
        let t = lex_text(
            &mut s,
            "t.cfg".into(),
            "# one\n/* two\n three */ accept; # four\n  reject;".into(),
            Family::V4,
        )
        .unwrap();
        let at = |i: usize| s.error(t[i].span, "").to_string();
        assert_eq!(at(0), "t.cfg:3:11: ");
        assert_eq!(at(2), "t.cfg:4:3: ");
    }

    #[test]
    fn lexical_errors_name_their_position() {
        let cases = [
            ("accept;\n  \"open\n", "t.cfg:2:3: Unterminated string"),
            ("/* a /* b */", "t.cfg:1:6: Comment nesting not supported"),
            ("x\n/* a", "t.cfg:2:1: Unterminated comment"),
            ("a & b", "t.cfg:1:3: Unknown character: found '&'"),
            ("n = 4294967296;", "t.cfg:1:5: Number out of range"),
            (
                "a = 1.2.3.256;",
                "t.cfg:1:5: Invalid IPv4 address 1.2.3.256",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(lex_err(src, Family::V4), want, "{src}");
        }
        assert_eq!(
            lex_err("neighbor 2001::1 as 1;", Family::V4),
            "t.cfg:1:10: found IPv6 address 2001::1, expected IPv4: this is an IPv4 router, therefore IPv6 addresses are not supported"
        );
        let long = format!("'{}'", "a".repeat(65));
        assert_eq!(lex_err(&long, Family::V4), "t.cfg:1:1: Symbol too long");
        assert!(
            toks(&format!("'{}'", "a".repeat(64)))
                .first()
                .is_some_and(|t| matches!(t, Tok::Quoted(_)))
        );
    }

    #[test]
    fn globs_match_like_the_shell() {
        assert!(fnmatch(b"*.cfg", b"bird.cfg", true));
        assert!(!fnmatch(b"*.cfg", b".hidden.cfg", true));
        assert!(fnmatch(b"bird[0-9].cfg", b"bird6.cfg", true));
        assert!(!fnmatch(b"bird[!6].cfg", b"bird6.cfg", true));
        assert!(fnmatch(b"b?rd", b"bird", true));
    }
}
