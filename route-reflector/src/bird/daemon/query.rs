//! The daemon's answers to `show status`, `show protocols` and `show route`.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bgp_speaker::{PeerStatus, RouteQuery};
use ipnet::IpNet;

use super::super::args;
use super::super::ast::ProtoKind;
use super::super::ctl::Reply;
use super::super::map::{BgpProtocol, ProtocolInfo};
use super::super::show::{self, Origin, ProtoRow, Status};
use super::{Daemon, GR_WAIT};

impl Daemon {
    pub(super) async fn status(&self) -> Reply {
        let recovery = match self.speaker.summary().await {
            Ok(s) if s.deferring => {
                let gone = self.started.elapsed().unwrap_or_default().as_secs();
                Some((s.waiting_for.len(), GR_WAIT.saturating_sub(gone), GR_WAIT))
            }
            _ => None,
        };
        show::status(&Status {
            version: args::version(),
            router_id: self.cfg.router_id,
            booted: self.booted,
            reconfigured: self.reconfigured,
            recovery,
            stopping: self.stopping,
        })
    }

    pub(super) async fn protocols(&self, all: bool, name: Option<&str>) -> Reply {
        let peers: HashMap<IpAddr, PeerStatus> = self
            .speaker
            .peers()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.address, p))
            .collect();
        let rows: Vec<ProtoRow> = self
            .cfg
            .protocols
            .iter()
            .filter(|p| name.is_none_or(|n| glob(n, &p.name)))
            .map(|p| self.row(p, &peers))
            .collect();
        match name {
            // A name no protocol has is an undefined symbol, a parse error in BIRD; a
            // pattern that matches nothing is `8003 No protocols match`.
            Some(n) if rows.is_empty() && !n.contains(['*', '?']) => {
                Reply::one(9001, &format!("syntax error, unknown protocol `{n}`"))
            }
            _ => show::protocols(&rows, all),
        }
    }

    fn row(&self, p: &ProtocolInfo, peers: &HashMap<IpAddr, PeerStatus>) -> ProtoRow {
        let mut row = ProtoRow {
            name: p.name.clone(),
            proto: match p.kind {
                ProtoKind::Bgp => "BGP",
                ProtoKind::Kernel => "Kernel",
                ProtoKind::Device => "Device",
                ProtoKind::Direct => "Direct",
                ProtoKind::Static => "Static",
            },
            state: if p.disabled { "down" } else { "up" },
            since: self.reconfigured,
            info: String::new(),
            details: Vec::new(),
        };
        if let Some(d) = &p.description {
            row.details.push(format!("  Description:    {d}"));
        }
        let pref = match p.kind {
            ProtoKind::Bgp => 100,
            ProtoKind::Static => 200,
            ProtoKind::Direct => 240,
            ProtoKind::Kernel => 10,
            ProtoKind::Device => 0,
        };
        if p.kind != ProtoKind::Device {
            row.details.push(format!("  Preference:     {pref}"));
        }
        if p.kind != ProtoKind::Bgp {
            return row;
        }
        if let Some(b) = self.cfg.bgp.iter().find(|b| b.name == p.name) {
            self.bgp_row(&mut row, b, peers.get(&b.peer.address));
        }
        row
    }

    /// The state, info and details of a BGP protocol's row, from its peer's status.
    fn bgp_row(&self, row: &mut ProtoRow, b: &BgpProtocol, st: Option<&PeerStatus>) {
        let filter = |f: &Option<String>| f.clone().unwrap_or_else(|| "(unnamed)".into());
        row.details
            .push(format!("  Input filter:   {}", filter(&b.import_filter)));
        row.details
            .push(format!("  Output filter:  {}", filter(&b.export_filter)));
        if let Some(s) = st {
            row.since = SystemTime::now() - Duration::from_secs(s.since_secs);
        }
        let disabled = self.disabled.contains(&b.name);
        let state = st.map_or("Idle", |s| s.state.as_str());
        let error = st.and_then(|s| s.last_error.clone());
        (row.state, row.info) = match (disabled, st) {
            (true, _) => ("down", String::new()),
            (false, Some(s)) if s.established => ("up", format!("{:<14}", "Established")),
            (false, _) => (
                "start",
                format!(
                    "{state:<14}{}",
                    error
                        .as_deref()
                        .map(|e| format!("Error: {e}"))
                        .unwrap_or_default()
                ),
            ),
        };
        if let Some(s) = st {
            row.details
                .push(format!("  Routes:         {} imported", s.accepted));
        }
        row.details.push(format!(
            "  BGP state:          {}",
            if disabled { "Down" } else { state }
        ));
        row.details
            .push(format!("    Neighbor address: {}", b.peer.address));
        row.details
            .push(format!("    Neighbor AS:      {}", b.peer.asn));
        if let Some(s) = st.filter(|s| s.established) {
            if let Some(id) = s.router_id {
                row.details.push(format!("    Neighbor ID:      {id}"));
            }
            let mut session = vec![if b.internal { "internal" } else { "external" }];
            if b.peer.ttl.is_some_and(|t| t > 1) {
                session.push("multihop");
            }
            if b.peer.rr_client {
                session.push("route-reflector");
            }
            session.push("AS4");
            row.details
                .push(format!("    Session:          {}", session.join(" ")));
            if let Some(src) = b.peer.local_address {
                row.details.push(format!("    Source address:   {src}"));
            }
            if let Some(h) = s.hold_time {
                row.details.push(format!("    Hold time:        {h}"));
            }
        }
        if let Some(e) = error.filter(|_| !disabled) {
            row.details.push(format!("    Last error:       {e}"));
        }
    }

    pub(super) async fn routes(
        &self,
        all: bool,
        for_addr: Option<IpNet>,
        prefix: Option<IpNet>,
        protocol: Option<String>,
    ) -> Reply {
        let mut query = RouteQuery {
            prefix,
            ..RouteQuery::default()
        };
        let mut only_own: Option<ProtoKind> = None;
        if let Some(p) = &protocol {
            match self.cfg.protocols.iter().find(|x| &x.name == p) {
                None => {
                    return Reply::one(9001, &format!("syntax error, unknown protocol `{p}`"));
                }
                Some(info) if info.kind == ProtoKind::Bgp => query.peer = info.neighbor,
                Some(info) => only_own = Some(info.kind),
            }
        }
        let Ok(mut list) = self.speaker.routes(query).await else {
            return Reply::one(8004, "Stopped due to reconfiguration");
        };
        if let Some(exact) = prefix {
            list.retain(|r| r.prefix == exact);
        }
        if let Some(addr) = for_addr {
            list = show::longest_match(&list, &addr)
                .into_iter()
                .cloned()
                .collect();
        }
        if (for_addr.is_some() || prefix.is_some()) && list.is_empty() {
            return Reply::one(8001, "Network not in table");
        }
        let statics: HashSet<IpNet> = self.cfg.static_routes.iter().map(|s| s.prefix).collect();
        let name_of = |k: ProtoKind| {
            self.cfg
                .protocols
                .iter()
                .find(|p| p.kind == k)
                .map_or_else(String::new, |p| p.name.clone())
        };
        let by_neighbor: HashMap<IpAddr, &str> = self
            .cfg
            .bgp
            .iter()
            .map(|b| (b.peer.address, b.name.as_str()))
            .collect();
        let mut out = Vec::new();
        for r in &list {
            let mut paths = Vec::new();
            for p in &r.paths {
                let origin = match p.from {
                    Some(f) => Origin {
                        protocol: by_neighbor
                            .get(&f)
                            .map_or_else(|| f.to_string(), |n| n.to_string()),
                        dest: None,
                        since: self.reconfigured,
                        preference: 100,
                        bgp: true,
                    },
                    None if statics.contains(&r.prefix) => Origin {
                        protocol: name_of(ProtoKind::Static),
                        dest: Some("blackhole"),
                        since: self.reconfigured,
                        preference: 200,
                        bgp: false,
                    },
                    None => Origin {
                        protocol: name_of(ProtoKind::Kernel),
                        dest: None,
                        since: self.reconfigured,
                        preference: 10,
                        bgp: false,
                    },
                };
                let keep = match only_own {
                    None => true,
                    Some(ProtoKind::Static) => p.from.is_none() && origin.dest.is_some(),
                    Some(ProtoKind::Kernel) => p.from.is_none() && origin.dest.is_none(),
                    Some(_) => false,
                };
                if keep {
                    paths.push((p, origin));
                }
            }
            if !paths.is_empty() {
                out.push((r.prefix, paths));
            }
        }
        let devices = interfaces();
        show::routes(&out, all, |nh| device_for(&devices, nh))
    }
}

/// BIRD's protocol patterns: `*` any run, `?` one character.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Interface subnets and names, to name the device of a next hop.
fn interfaces() -> Vec<(IpNet, String)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in addrs {
        let (Some(addr), Some(mask)) = (a.address, a.netmask) else {
            continue;
        };
        let net = match (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            (Some(ip), Some(m)) => {
                let len = u32::from(m.ip()).count_ones() as u8;
                IpNet::new(IpAddr::V4(ip.ip()), len).ok()
            }
            _ => match (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
                (Some(ip), Some(m)) => {
                    let len = u128::from(m.ip()).count_ones() as u8;
                    IpNet::new(IpAddr::V6(ip.ip()), len).ok()
                }
                _ => None,
            },
        };
        if let Some(n) = net {
            out.push((n.trunc(), a.interface_name));
        }
    }
    out
}

fn device_for(devices: &[(IpNet, String)], nh: &IpAddr) -> String {
    devices
        .iter()
        .filter(|(n, _)| n.contains(nh))
        .max_by_key(|(n, _)| n.prefix_len())
        .map_or_else(|| "?".into(), |(_, d)| d.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(glob("Mesh_*", "Mesh_10_0_0_1"));
        assert!(glob("kernel?", "kernel1"));
        assert!(!glob("Node_*", "Mesh_10_0_0_1"));
        assert!(glob("Mesh_10_0_0_1", "Mesh_10_0_0_1"));
    }
}
