//! The replies of `show status`, `show protocols` and `show route` in BIRD 1.6's layout
//! (calico-node parses `show protocols` by its heading and columns).

use std::net::IpAddr;
use std::time::SystemTime;

use bgp_speaker::{PathDetail, RouteDetail};
use ipnet::IpNet;

use super::ctl::{Reply, time};

/// One row of `show protocols`, with the lines `show protocols all` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoRow {
    pub name: String,
    /// `BGP`, `Kernel`, `Device`, `Direct`, `Static`.
    pub proto: &'static str,
    /// `up`, `down`, `start`.
    pub state: &'static str,
    pub since: SystemTime,
    pub info: String,
    pub details: Vec<String>,
}

/// `show protocols [all]`: the heading, the rows, with `all` each row's details and an
/// empty line; `0000` at the end. No row: `8003 No protocols match`.
pub fn protocols(rows: &[ProtoRow], all: bool) -> Reply {
    if rows.is_empty() {
        return Reply::one(8003, "No protocols match");
    }
    let mut r = Reply::new();
    r.more(2002, "name     proto    table    state  since       info");
    for row in rows {
        r.more(
            1002,
            &format!(
                "{:<8} {:<8} {:<8} {:<5}  {:<10}  {}",
                row.name,
                row.proto,
                "master",
                row.state,
                time(row.since, false),
                row.info
            ),
        );
        if all {
            for d in &row.details {
                r.more(1006, d);
            }
            r.more(1006, "");
        }
    }
    r.end(0, "")
}

/// What `show status` needs.
#[derive(Debug, Clone)]
pub struct Status {
    pub version: String,
    pub router_id: std::net::Ipv4Addr,
    pub booted: SystemTime,
    pub reconfigured: SystemTime,
    /// While graceful restart recovery is on: the protocols waited for, seconds left and
    /// the limit.
    pub recovery: Option<(usize, u64, u64)>,
    pub stopping: bool,
}

pub fn status(s: &Status) -> Reply {
    let mut r = Reply::new();
    r.more(1000, &format!("BIRD {}", s.version));
    r.more(1011, &format!("Router ID is {}", s.router_id));
    r.more(
        1011,
        &format!("Current server time is {}", time(SystemTime::now(), true)),
    );
    r.more(1011, &format!("Last reboot on {}", time(s.booted, true)));
    r.more(
        1011,
        &format!("Last reconfiguration on {}", time(s.reconfigured, true)),
    );
    if let Some((waiting, left, limit)) = s.recovery {
        r.more(24, "Graceful restart recovery in progress");
        r.more(24, &format!("  Waiting for {waiting} protocols to recover"));
        r.more(24, &format!("  Wait timer is {left}/{limit}"));
    }
    if s.stopping {
        r.end(13, "Shutdown in progress")
    } else {
        r.end(13, "Daemon is up and running")
    }
}

/// Where a path came from, as `show route` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub protocol: String,
    /// `blackhole` for static blackholes; none: `via NEXT_HOP on DEVICE`.
    pub dest: Option<&'static str>,
    pub since: SystemTime,
    /// BIRD's preference of the protocol (BGP 100, static 200, kernel 10).
    pub preference: u32,
    pub bgp: bool,
}

/// One line (and with `all`, the attributes) per path of each route. `device` names the
/// interface a next hop is reached on.
pub fn routes(
    list: &[(IpNet, Vec<(&PathDetail, Origin)>)],
    all: bool,
    device: impl Fn(&IpAddr) -> String,
) -> Reply {
    let mut r = Reply::new();
    for (prefix, paths) in list {
        for (p, o) in paths {
            let via = match (o.dest, p.next_hop) {
                (Some(d), _) => d.to_string(),
                (None, Some(nh)) => format!("via {nh} on {}", device(&nh)),
                (None, None) => "unreachable".into(),
            };
            let from = match p.from {
                Some(f) if Some(f) != p.next_hop => format!(" from {f}"),
                _ => String::new(),
            };
            let mut info = format!(" ({}", o.preference);
            if o.bgp {
                if p.stale {
                    info.push('s');
                }
                let last_as = p
                    .as_path
                    .split_whitespace()
                    .last()
                    .map(|a| format!("AS{a}"));
                let origin = match p.origin.as_deref() {
                    Some("igp") => "i",
                    Some("egp") => "e",
                    _ => "?",
                };
                info.push_str(&format!(") [{}{origin}]", last_as.unwrap_or_default()));
            } else {
                info.push(')');
            }
            r.more(
                1007,
                &format!(
                    "{:<18} {via} [{} {}{from}]{}{info}",
                    prefix.to_string(),
                    o.protocol,
                    time(o.since, false),
                    if p.best { " *" } else { "" }
                ),
            );
            if all {
                attributes(&mut r, p, o);
            }
        }
    }
    r.end(0, "")
}

fn attributes(r: &mut Reply, p: &PathDetail, o: &Origin) {
    if !o.bgp {
        let kind = if o.dest.is_some() {
            "static"
        } else {
            "inherit"
        };
        r.more(1008, &format!("\tType: {kind} unicast univ"));
        return;
    }
    r.more(1008, "\tType: BGP unicast univ");
    let origin = match p.origin.as_deref() {
        Some("igp") => "IGP",
        Some("egp") => "EGP",
        _ => "Incomplete",
    };
    r.more(1012, &format!("\tBGP.origin: {origin}"));
    r.more(1012, &format!("\tBGP.as_path: {}", p.as_path));
    if let Some(nh) = p.next_hop {
        r.more(1012, &format!("\tBGP.next_hop: {nh}"));
    }
    if let Some(m) = p.med {
        r.more(1012, &format!("\tBGP.med: {m}"));
    }
    if let Some(lp) = p.local_pref {
        r.more(1012, &format!("\tBGP.local_pref: {lp}"));
    }
    if let Some(id) = p.originator_id {
        r.more(1012, &format!("\tBGP.originator_id: {id}"));
    }
    if !p.cluster_list.is_empty() {
        let ids: Vec<String> = p.cluster_list.iter().map(ToString::to_string).collect();
        r.more(1012, &format!("\tBGP.cluster_list: {}", ids.join(" ")));
    }
    if !p.communities.is_empty() {
        let c: Vec<String> = p
            .communities
            .iter()
            .map(|c| format!("({})", c.replace(':', ",")))
            .collect();
        r.more(1012, &format!("\tBGP.community: {}", c.join(" ")));
    }
    if !p.large_communities.is_empty() {
        let c: Vec<String> = p
            .large_communities
            .iter()
            .map(|c| format!("({})", c.replace(':', ", ")))
            .collect();
        r.more(1012, &format!("\tBGP.large_community: {}", c.join(" ")));
    }
}

/// The route that forwards `addr`: the longest prefix holding it.
pub fn longest_match<'a>(routes: &'a [RouteDetail], addr: &IpNet) -> Option<&'a RouteDetail> {
    routes
        .iter()
        .filter(|r| r.prefix.contains(addr))
        .max_by_key(|r| r.prefix.prefix_len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_as_calico_node_reads_them() {
        let now = SystemTime::now();
        let rows = vec![
            ProtoRow {
                name: "kernel1".into(),
                proto: "Kernel",
                state: "up",
                since: now,
                info: String::new(),
                details: vec![],
            },
            ProtoRow {
                name: "Mesh_10_0_0_2".into(),
                proto: "BGP",
                state: "up",
                since: now,
                info: format!("{:<14}", "Established"),
                details: vec!["  BGP state:          Established".into()],
            },
        ];
        let r = protocols(&rows, false);
        let lines: Vec<&str> = r.text().lines().collect();
        assert_eq!(
            lines[0],
            "2002-name     proto    table    state  since       info"
        );
        assert!(lines[1].starts_with("1002-kernel1  Kernel   master   up     "));
        let cols: Vec<&str> = lines[2][1..].split_whitespace().collect();
        assert_eq!(cols[..4], ["Mesh_10_0_0_2", "BGP", "master", "up"]);
        assert_eq!(cols[5], "Established");
        assert_eq!(lines[3], "0000 ");
        let r = protocols(&rows, true);
        assert!(
            r.text()
                .contains("1006-  BGP state:          Established\n \n")
        );
        assert_eq!(protocols(&[], false).text(), "8003 No protocols match\n");
    }

    #[test]
    fn status_with_and_without_recovery() {
        let mut s = Status {
            version: "v1".into(),
            router_id: "10.0.0.1".parse().unwrap(),
            booted: SystemTime::now(),
            reconfigured: SystemTime::now(),
            recovery: None,
            stopping: false,
        };
        let t = status(&s).text().to_string();
        assert!(t.starts_with("1000-BIRD v1\n1011-Router ID is 10.0.0.1\n Current server time"));
        assert!(t.ends_with("0013 Daemon is up and running\n"));
        assert!(!t.contains("0024"));
        s.recovery = Some((2, 200, 240));
        let t = status(&s).text().to_string();
        assert!(t.contains(
            "0024-Graceful restart recovery in progress\n   Waiting for 2 protocols to recover\n   Wait timer is 200/240\n"
        ));
    }
}
