//! The admin interface: one JSON request per line over a Unix socket, one JSON answer per
//! line back. The CLI (`show ...`, `peer ...`, `reload`) is a client of it and prints the
//! answers as aligned text, or as they came with `--json`.

use std::net::IpAddr;
use std::path::Path;

use bgp_speaker::{PeerStatus, RouteDetail, SpeakerSummary};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// A request to the running reflector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Summary,
    Peers,
    Peer {
        address: IpAddr,
    },
    Routes {
        prefix: Option<IpNet>,
        peer: Option<IpAddr>,
        family: Option<FamilyArg>,
    },
    /// A peer's Adj-RIB-In, Adj-RIB-Out or filtered routes.
    PeerTable {
        address: IpAddr,
        table: bgp_speaker::PeerTable,
    },
    PeerAction {
        address: IpAddr,
        action: PeerAction,
        message: Option<String>,
    },
    Reload,
    /// The routes in the kernel table (node agent).
    Fib,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FamilyArg {
    V4,
    V6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PeerAction {
    /// End the session (Cease / Administrative Reset) and start it again.
    Reset,
    /// Ask the peer to send its routes again (ROUTE-REFRESH).
    Refresh,
    /// End the session (Cease / Administrative Shutdown); it stays down until a reset.
    Shutdown,
}

impl std::fmt::Display for PeerAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PeerAction::Reset => "reset",
            PeerAction::Refresh => "refresh",
            PeerAction::Shutdown => "shutdown",
        })
    }
}

/// The answer: `{"ok": true, "data": ...}` or `{"ok": false, "error": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn data(v: impl Serialize) -> Response {
        match serde_json::to_value(v) {
            Ok(v) => Response {
                ok: true,
                data: Some(v),
                error: None,
            },
            Err(e) => Response::error(e.to_string()),
        }
    }

    pub fn error(e: impl Into<String>) -> Response {
        Response {
            ok: false,
            data: None,
            error: Some(e.into()),
        }
    }
}

/// Binds the socket (replacing a stale one) with `mode` as its permissions.
pub fn bind(path: &Path, mode: u32, group: Option<u32>) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(path)?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(l)
}

/// Serves one connection: answers each request line with `handle`.
pub async fn serve_conn<F, Fut>(stream: UnixStream, handle: F)
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(req) => handle(req).await,
            Err(e) => Response::error(format!("bad request: {e}")),
        };
        let mut text = serde_json::to_string(&resp)
            .unwrap_or_else(|e| format!("{{\"ok\":false,\"error\":\"encoding the answer: {e}\"}}"));
        text.push('\n');
        if w.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Sends one request to the reflector at `socket` and returns its answer.
pub async fn call(socket: &Path, req: &Request) -> Result<Response, String> {
    let stream = UnixStream::connect(socket).await.map_err(|e| {
        format!(
            "cannot reach the reflector at {}: {e} (is it running? see --socket)",
            socket.display()
        )
    })?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_string(req).map_err(|e| e.to_string())?;
    line.push('\n');
    w.write_all(line.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(r).lines();
    let answer = lines
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the reflector closed the connection")?;
    serde_json::from_str(&answer).map_err(|e| format!("bad answer: {e}"))
}

/// Rows of cells printed as columns, each as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Seconds as `1d02h03m`, `02:03:04`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// The peer's address, with its interface where it is a link-local one (`fe80::1%eth1`).
fn address(p: &PeerStatus) -> String {
    match &p.interface {
        Some(i) if matches!(p.address, std::net::IpAddr::V6(a) if a.is_unicast_link_local()) => {
            format!("{}%{i}", p.address)
        }
        _ => p.address.to_string(),
    }
}

/// The command-line client's part: sends `req` to the daemon at `socket`, prints the
/// answer (as text through `text`, or as JSON), and gives the exit status (1 for an error
/// answer, 2 when the daemon cannot be asked or answers what cannot be read).
pub fn ask(
    rt: &tokio::runtime::Runtime,
    socket: &std::path::Path,
    json: bool,
    req: &Request,
    text: impl FnOnce(serde_json::Value) -> Result<String, serde_json::Error>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let resp = match rt.block_on(call(socket, req)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !resp.ok {
        eprintln!("error: {}", resp.error.unwrap_or_default());
        return ExitCode::from(1);
    }
    let data = resp.data.unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    match text(data) {
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: unexpected answer: {e}");
            ExitCode::from(2)
        }
    }
}

fn state(p: &PeerStatus) -> String {
    if p.admin_down {
        "Idle (Admin)".into()
    } else {
        p.state.clone()
    }
}

/// `show peers`: one line per peer, like `birdc show protocols`; a BFD column when a peer
/// has BFD.
pub fn peers_text(peers: &[PeerStatus]) -> String {
    let bfd = peers.iter().any(|p| p.bfd.is_some());
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            let role = match (p.kind.as_str(), p.rr_client, p.dynamic) {
                ("ebgp", _, _) => "ebgp",
                (_, true, true) => "client (range)",
                (_, true, false) => "client",
                _ => "ibgp",
            };
            let mut row = vec![
                address(p),
                p.asn.to_string(),
                role.into(),
                state(p),
                duration(p.since_secs),
            ];
            if bfd {
                row.push(p.bfd.as_ref().map_or("-".into(), |b| b.state.clone()));
            }
            row.push(p.last_error.clone().unwrap_or_default());
            row
        })
        .collect();
    let mut header = vec!["Peer", "AS", "Role", "State", "Since"];
    if bfd {
        header.push("BFD");
    }
    header.push("Last error");
    table(&header, &rows)
}

/// `show summary`: the speaker, then a line per peer like FRR's `show bgp summary`.
pub fn summary_text(s: &SpeakerSummary, peers: &[PeerStatus]) -> String {
    let mut out = format!(
        "Router ID {}, AS {}, cluster ID {}\n",
        s.router_id,
        s.asn,
        s.cluster_id.map_or("-".into(), |c| c.to_string())
    );
    out.push_str(&format!(
        "{} prefixes, {} paths, {} attribute sets; {} of {} peers established\n",
        s.prefixes, s.paths, s.attribute_sets, s.established, s.peers,
    ));
    if s.deferring {
        let waiting: Vec<String> = s.waiting_for.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "Restarting: nothing is sent until the tables of these peers are in: {}\n",
            if waiting.is_empty() {
                "-".to_string()
            } else {
                waiting.join(", ")
            }
        ));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.address.to_string(),
                p.asn.to_string(),
                p.updates_received.to_string(),
                p.updates_sent.to_string(),
                duration(p.since_secs),
                if p.established {
                    p.accepted.to_string()
                } else {
                    state(p)
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "Neighbor",
            "AS",
            "UpdRcvd",
            "UpdSent",
            "Up/Down",
            "State/PfxAcc",
        ],
        &rows,
    ));
    out
}

/// `show peer ADDR`: every field on its own line.
pub fn peer_text(p: &PeerStatus) -> String {
    let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let rows = [
        ("Peer", address(p)),
        ("Interface", opt(p.interface.clone())),
        ("AS", p.asn.to_string()),
        ("Type", p.kind.clone()),
        ("Route-reflector client", p.rr_client.to_string()),
        ("Dynamic", p.dynamic.to_string()),
        ("State", state(p)),
        (
            if p.established { "Up for" } else { "Down for" },
            duration(p.since_secs),
        ),
        ("Times established", p.established_count.to_string()),
        ("Last error", opt(p.last_error.clone())),
        (
            "Last NOTIFICATION sent",
            opt(p.last_notification_sent.clone()),
        ),
        (
            "Last NOTIFICATION rcvd",
            opt(p.last_notification_received.clone()),
        ),
        ("Router ID", opt(p.router_id.map(|r| r.to_string()))),
        ("Hold time", opt(p.hold_time.map(|h| h.to_string()))),
        ("Keepalive", opt(p.keepalive_time.map(|k| k.to_string()))),
        ("Graceful restart", p.graceful_restart.to_string()),
        ("Families", p.families.join(" ")),
        (
            "Routes accepted",
            format!(
                "{} (IPv4 {}, IPv6 {})",
                p.accepted, p.accepted_v4, p.accepted_v6
            ),
        ),
        (
            "Routes received",
            p.received
                .map_or("- (kept with soft_reconfig_inbound)".into(), |n| {
                    n.to_string()
                }),
        ),
        ("Routes filtered", opt(p.filtered.map(|n| n.to_string()))),
        (
            "Routes sent",
            format!(
                "{} (IPv4 {}, IPv6 {})",
                p.advertised_v4 + p.advertised_v6,
                p.advertised_v4,
                p.advertised_v6
            ),
        ),
        ("Suppressed (damping)", p.suppressed.to_string()),
        ("UPDATEs received", p.updates_received.to_string()),
        ("UPDATEs sent", p.updates_sent.to_string()),
    ];
    let mut out: String = rows.iter().map(|(k, v)| format!("{k:<24}{v}\n")).collect();
    // What the session negotiated, family by family.
    for c in &p.capabilities {
        let mut what = vec![match &c.add_path_send {
            Some(paths) => format!("add-path {} ({paths})", c.add_path),
            None => format!("add-path {}", c.add_path),
        }];
        if c.extended_next_hop {
            what.push("extended next hop".into());
        }
        if c.graceful_restart {
            what.push("graceful restart".into());
        }
        if let Some(t) = c.long_lived_stale_time {
            what.push(format!("long-lived stale time {t} s"));
        }
        out.push_str(&format!("{:<24}{}\n", c.family, what.join(", ")));
    }
    if let Some(b) = &p.bfd {
        out.push_str(&bfd_text(b));
    }
    out
}

/// The BFD lines of `show peer ADDR`.
fn bfd_text(b: &bgp_speaker::PeerBfdStatus) -> String {
    let ms = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} ms"));
    let diag = |d: &str| {
        if d.is_empty() {
            "-".to_string()
        } else {
            d.to_string()
        }
    };
    let rows = [
        (
            "BFD",
            format!(
                "{} ({}{}), peer {}",
                b.state,
                b.hop,
                if b.holding { ", BGP waits for it" } else { "" },
                b.remote_state
            ),
        ),
        (
            "BFD configured",
            format!(
                "rx {} ms, tx {} ms, multiplier {}",
                b.min_rx_ms, b.min_tx_ms, b.multiplier
            ),
        ),
        (
            "BFD negotiated",
            format!(
                "tx {}, detection {}",
                ms(b.tx_interval_ms),
                ms(b.detection_time_ms)
            ),
        ),
        (
            "BFD peer",
            format!(
                "rx {}, tx {}, multiplier {}",
                ms(b.remote_min_rx_ms),
                ms(b.remote_min_tx_ms),
                b.remote_multiplier.map_or("-".into(), |m| m.to_string())
            ),
        ),
        (
            "BFD diagnostic",
            format!(
                "ours {}, peer's {}",
                diag(&b.local_diag),
                diag(&b.remote_diag)
            ),
        ),
        (
            "BFD counters",
            format!(
                "up {}, down {}, in {}, out {}, dropped {}",
                b.up_count, b.down_count, b.packets_in, b.packets_out, b.packets_dropped
            ),
        ),
    ];
    rows.iter().map(|(k, v)| format!("{k:<24}{v}\n")).collect()
}

/// `show adj-rib-in`, `adj-rib-out`, `filtered`: a heading, then the routes as `show
/// routes` prints them (`F` marks a route the import policy rejected).
pub fn peer_table_text(t: &bgp_speaker::PeerTableView) -> String {
    use bgp_speaker::PeerTable;
    let what = match t.table {
        PeerTable::AdjRibIn => "Adj-RIB-In",
        PeerTable::AdjRibOut => "Adj-RIB-Out",
        PeerTable::Filtered => "Filtered routes",
    };
    let policy = match (t.table, t.pre_policy) {
        (PeerTable::AdjRibOut, _) => "after the export policy",
        (_, true) => "as received, before the import policy",
        (_, false) => "after the import policy (soft_reconfig_inbound keeps them as received)",
    };
    let routes: Vec<RouteDetail> = t
        .routes
        .iter()
        .map(|r| RouteDetail {
            prefix: r.prefix,
            reason: None,
            age_secs: None,
            paths: vec![r.path.clone()],
        })
        .collect();
    let rejected: Vec<bool> = t.routes.iter().map(|r| !r.accepted).collect();
    format!(
        "{what} of {}, {policy}: {} routes\n{}",
        t.peer,
        t.routes.len(),
        routes_table(&routes, &rejected)
    )
}

/// `show routes`: a line per path; `*` best, `=` ECMP, `S` stale.
pub fn routes_text(routes: &[RouteDetail]) -> String {
    routes_table(routes, &[])
}

/// The routes, a line per path; `F` marks the paths whose `rejected` entry is set.
fn routes_table(routes: &[RouteDetail], rejected: &[bool]) -> String {
    let mut rows = Vec::new();
    let mut n = 0;
    for r in routes {
        for p in &r.paths {
            let filtered = rejected.get(n).copied().unwrap_or(false);
            n += 1;
            let flags = format!(
                "{}{}{}",
                if p.best { "*" } else { " " },
                if p.multipath && !p.best { "=" } else { " " },
                if filtered {
                    "F"
                } else if p.stale {
                    "S"
                } else {
                    " "
                },
            );
            let mut extra = Vec::new();
            if let Some(o) = p.originator_id {
                extra.push(format!("originator {o}"));
            }
            if !p.cluster_list.is_empty() {
                let l: Vec<String> = p.cluster_list.iter().map(ToString::to_string).collect();
                extra.push(format!("clusters {}", l.join(" ")));
            }
            if !p.communities.is_empty() {
                extra.push(format!("communities {}", p.communities.join(" ")));
            }
            if !p.large_communities.is_empty() {
                extra.push(format!("large {}", p.large_communities.join(" ")));
            }
            if let Some(w) = &p.not_best {
                extra.push(format!("not best: {w}"));
            }
            rows.push(vec![
                flags,
                r.prefix.to_string(),
                r.age_secs.map_or("-".into(), duration),
                p.next_hop.map_or("-".into(), |n| n.to_string()),
                p.from.map_or("local".into(), |f| f.to_string()),
                p.local_pref.map_or(String::new(), |v| v.to_string()),
                p.med.map_or(String::new(), |v| v.to_string()),
                if p.as_path.is_empty() {
                    "-".into()
                } else {
                    p.as_path.clone()
                },
                p.origin.clone().unwrap_or_else(|| "-".into()),
                extra.join(", "),
            ]);
        }
    }
    let mut out = table(
        &[
            "",
            "Prefix",
            "Age",
            "Next hop",
            "From",
            "LocPrf",
            "MED",
            "AS path",
            "Origin",
            "Attributes",
        ],
        &rows,
    );
    out.push_str(&format!(
        "{} prefixes, {} paths (* best, = ECMP, S stale)\n",
        routes.len(),
        routes.iter().map(|r| r.paths.len()).sum::<usize>()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell() {
        let t = table(
            &["Peer", "AS"],
            &[
                vec!["192.168.1.11".into(), "65001".into()],
                vec!["10.0.0.1".into(), "1".into()],
            ],
        );
        assert_eq!(
            t,
            "Peer          AS\n192.168.1.11  65001\n10.0.0.1      1\n"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "00:00:00");
        assert_eq!(duration(3725), "01:02:05");
        assert_eq!(duration(2 * 86400 + 3 * 3600 + 4 * 60), "2d03h04m");
    }

    #[test]
    fn requests_are_tagged_json() {
        let r = Request::PeerAction {
            address: "192.0.2.1".parse().unwrap(),
            action: PeerAction::Shutdown,
            message: Some("maintenance".into()),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"cmd":"peer-action","address":"192.0.2.1","action":"shutdown","message":"maintenance"}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"fly"}"#).is_err());
    }
}
