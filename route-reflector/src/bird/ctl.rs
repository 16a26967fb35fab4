//! BIRD's control socket: its line protocol and the commands the daemon answers.
//!
//! A client connects to the Unix socket and gets `0001 BIRD VERSION ready.`; then it sends
//! one command per line and reads numbered reply lines: `CODE-text` for a line with more
//! to come, ` text` for a further line of the same code, `CODE text` for the last line
//! (`0000 ` closes a table, 8xxx are run-time errors, 9xxx parse errors). This is what
//! `birdc`, `birdcl` and calico-node's health checks speak.
//!
//! Commands: `show status`, `show protocols [all] [NAME]`, `show route [all] [for ADDR]
//! [protocol NAME] [PREFIX]`, `configure [check] ["FILE"]`, `down`, `enable NAME`,
//! `disable NAME`, `restart NAME` (NAME may be `all`). Keywords may be shortened to any
//! unambiguous prefix, as in BIRD (`sh pro`).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ipnet::IpNet;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

/// Longest command line accepted (BIRD's `CLI_LINE_SIZE`).
pub const MAX_LINE: usize = 512;

/// A reply being built, with BIRD's continuation rule: a line of the same code as the one
/// before starts with a space instead of the code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reply {
    text: String,
    last: Option<u16>,
}

impl Reply {
    pub fn new() -> Reply {
        Reply::default()
    }

    /// A line with more to come.
    pub fn more(&mut self, code: u16, line: &str) -> &mut Reply {
        if self.last == Some(code) {
            let _ = writeln!(self.text, " {line}");
        } else {
            let _ = writeln!(self.text, "{code:04}-{line}");
        }
        self.last = Some(code);
        self
    }

    /// The last line.
    pub fn end(mut self, code: u16, line: &str) -> Reply {
        let _ = writeln!(self.text, "{code:04} {line}");
        self.last = None;
        self
    }

    /// A one-line reply.
    pub fn one(code: u16, line: &str) -> Reply {
        Reply::new().end(code, line)
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A command of the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ShowStatus,
    ShowProtocols {
        all: bool,
        name: Option<String>,
    },
    ShowRoute {
        all: bool,
        /// `for ADDR`: the route that forwards it.
        for_addr: Option<IpNet>,
        /// A prefix: that route exactly.
        prefix: Option<IpNet>,
        protocol: Option<String>,
    },
    Configure {
        check: bool,
        file: Option<PathBuf>,
    },
    Down,
    Enable(String),
    Disable(String),
    Restart(String),
}

/// Words of a command line: keywords, names, addresses and `"quoted"` strings.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let Some(end) = q.find('"') else {
                return Err("Unterminated string".into());
            };
            out.push(format!("\"{}", &q[..end]));
            rest = q[end + 1..].trim_start();
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    Ok(out)
}

/// Whether `word` is `keyword` or an unambiguous abbreviation of it among `choices`.
fn pick<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    if let Some(exact) = choices.iter().find(|c| **c == w) {
        return Some(exact);
    }
    let found: Vec<&&str> = choices.iter().filter(|c| c.starts_with(&w)).collect();
    match found.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

fn syntax(found: Option<&str>) -> String {
    match found {
        Some(w) => format!("syntax error, unexpected `{w}`"),
        None => "syntax error, unexpected end of command".into(),
    }
}

fn name_arg(w: &[String]) -> Result<String, String> {
    match w {
        [n] => Ok(n.trim_start_matches('"').to_string()),
        [] => Err(syntax(None)),
        [_, extra, ..] => Err(syntax(Some(extra))),
    }
}

fn net_arg(w: &str) -> Option<IpNet> {
    w.parse::<IpNet>()
        .ok()
        .or_else(|| w.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Reads a command line; the error is the text of a `9001` reply.
pub fn parse(line: &str) -> Result<Command, String> {
    let w = words(line)?;
    let Some(first) = w.first() else {
        return Err(syntax(None));
    };
    let top = ["show", "configure", "down", "enable", "disable", "restart"];
    match pick(first, &top) {
        Some("show") => {
            let Some(what) = w.get(1) else {
                return Err(syntax(None));
            };
            match pick(what, &["status", "protocols", "route"]) {
                Some("status") if w.len() == 2 => Ok(Command::ShowStatus),
                Some("status") => Err(syntax(Some(&w[2]))),
                Some("protocols") => {
                    let mut rest = &w[2..];
                    let all = rest.first().is_some_and(|x| pick(x, &["all"]).is_some());
                    if all {
                        rest = &rest[1..];
                    }
                    let name = match rest {
                        [] => None,
                        _ => Some(name_arg(rest)?),
                    };
                    Ok(Command::ShowProtocols { all, name })
                }
                Some("route") => show_route(&w[2..]),
                _ => Err(syntax(Some(what))),
            }
        }
        Some("configure") => {
            let mut check = false;
            let mut file = None;
            for x in &w[1..] {
                if let Some(f) = x.strip_prefix('"') {
                    if file.is_some() {
                        return Err(syntax(Some(x)));
                    }
                    file = Some(PathBuf::from(f));
                } else if !check && pick(x, &["check"]).is_some() {
                    check = true;
                } else if pick(x, &["soft"]).is_some() {
                    // BIRD's soft reconfiguration: ours never resets unaffected sessions.
                } else {
                    return Err(syntax(Some(x)));
                }
            }
            Ok(Command::Configure { check, file })
        }
        Some("down") if w.len() == 1 => Ok(Command::Down),
        Some("down") => Err(syntax(Some(&w[1]))),
        Some("enable") => Ok(Command::Enable(name_arg(&w[1..])?)),
        Some("disable") => Ok(Command::Disable(name_arg(&w[1..])?)),
        Some("restart") => Ok(Command::Restart(name_arg(&w[1..])?)),
        _ => Err(syntax(Some(first))),
    }
}

fn show_route(w: &[String]) -> Result<Command, String> {
    let (mut all, mut for_addr, mut prefix, mut protocol) = (false, None, None, None);
    let mut i = 0;
    while i < w.len() {
        let x = &w[i];
        i += 1;
        if let Some(n) = net_arg(x) {
            if prefix.is_some() || for_addr.is_some() {
                return Err(syntax(Some(x)));
            }
            prefix = Some(n);
            continue;
        }
        match pick(x, &["all", "for", "protocol", "primary"]) {
            Some("all") => all = true,
            Some("primary") => {}
            Some("for") => {
                let n = w.get(i).and_then(|v| net_arg(v));
                let Some(n) = n.filter(|_| for_addr.is_none() && prefix.is_none()) else {
                    return Err(syntax(w.get(i).map(String::as_str)));
                };
                for_addr = Some(n);
                i += 1;
            }
            Some("protocol") => {
                let Some(p) = w.get(i) else {
                    return Err(syntax(None));
                };
                protocol = Some(p.clone());
                i += 1;
            }
            _ => return Err(syntax(Some(x))),
        }
    }
    Ok(Command::ShowRoute {
        all,
        for_addr,
        prefix,
        protocol,
    })
}

/// A command for the daemon and where its reply goes.
pub type Request = (Command, oneshot::Sender<Reply>);

/// Serves the socket: the hello, then each line parsed and handed to the daemon through
/// `requests` (parse errors are answered here).
pub async fn serve(listener: UnixListener, hello: String, requests: mpsc::Sender<Request>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (requests, hello) = (requests.clone(), hello.clone());
        tokio::spawn(async move {
            if let Err(e) = client(stream, &hello, requests).await {
                tracing::debug!(error = %e, "control socket client gone");
            }
        });
    }
}

async fn client(
    stream: tokio::net::UnixStream,
    hello: &str,
    requests: mpsc::Sender<Request>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    w.write_all(Reply::one(1, hello).text().as_bytes()).await?;
    let mut lines = BufReader::new(r);
    let mut line = String::new();
    loop {
        line.clear();
        // At most one line's worth is read: a client cannot make us buffer more.
        let limit = (MAX_LINE + 2) as u64;
        if (&mut lines).take(limit).read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') && line.len() as u64 >= limit {
            w.write_all(Reply::one(9000, "Command too long").text().as_bytes())
                .await?;
            return Ok(());
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let reply = if text.len() > MAX_LINE {
            Reply::one(9000, "Command too long")
        } else {
            match parse(text) {
                Err(e) => Reply::one(9001, &e),
                Ok(cmd) => {
                    tracing::debug!(command = text, "control socket command");
                    let (tx, rx) = oneshot::channel();
                    if requests.send((cmd, tx)).await.is_err() {
                        return Ok(());
                    }
                    match rx.await {
                        Ok(r) => r,
                        Err(_) => Reply::one(8004, "Stopped due to reconfiguration"),
                    }
                }
            }
        };
        w.write_all(reply.text().as_bytes()).await?;
    }
}

/// Binds the control socket as BIRD does: a socket file of a BIRD still answering is an
/// error ("I found another BIRD running."); a stale one is removed.
pub fn bind_std(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err("I found another BIRD running.".into());
    }
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| format!("Cannot create control socket {}: {e}", path.display()))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("control socket {}: {e}", path.display()))?;
    Ok(l)
}

/// A time as BIRD 1.6 prints them: `base` is `%F %T`; otherwise (protocols and routes)
/// `%T` within 20 hours of now, `%F` beyond. Local time, as BIRD.
#[allow(unsafe_code)]
pub fn time(t: SystemTime, base: bool) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r writes into the struct we own; a zeroed tm is a valid start.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    let date = format!(
        "{:04}-{:02}-{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday
    );
    let clock = format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
    let recent = SystemTime::now()
        .duration_since(t)
        .map_or(true, |d| d.as_secs() < 20 * 3600);
    match (base, recent) {
        (true, _) => format!("{date} {clock}"),
        (false, true) => clock,
        (false, false) => date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines() {
        let mut r = Reply::new();
        r.more(2002, "name     proto")
            .more(1002, "kernel1  Kernel")
            .more(1002, "device1  Device");
        let r = r.end(0, "");
        assert_eq!(
            r.text(),
            "2002-name     proto\n1002-kernel1  Kernel\n device1  Device\n0000 \n"
        );
    }

    #[test]
    fn commands() {
        assert_eq!(parse("show status"), Ok(Command::ShowStatus));
        assert_eq!(
            parse("sh pro all Mesh_10_0_0_1"),
            Ok(Command::ShowProtocols {
                all: true,
                name: Some("Mesh_10_0_0_1".into())
            })
        );
        assert_eq!(
            parse("show route for 10.0.0.1 all protocol static1"),
            Ok(Command::ShowRoute {
                all: true,
                for_addr: Some("10.0.0.1/32".parse().unwrap()),
                prefix: None,
                protocol: Some("static1".into())
            })
        );
        assert_eq!(
            parse("configure check \"/tmp/b.cfg\""),
            Ok(Command::Configure {
                check: true,
                file: Some("/tmp/b.cfg".into())
            })
        );
        assert_eq!(parse("dis Mesh_1"), Ok(Command::Disable("Mesh_1".into())));
        assert_eq!(parse("down"), Ok(Command::Down));
        assert!(parse("show").is_err());
        assert!(parse("frobnicate").unwrap_err().contains("`frobnicate`"));
        assert!(parse("show status now").is_err());
        assert!(parse("enable").is_err());
    }
}
