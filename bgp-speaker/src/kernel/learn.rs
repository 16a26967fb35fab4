//! Learning routes from the kernel as a source of announcements: the routes a node agent
//! installs for its pods.
//!
//! The agent marks each IPAM block this node owns with a blackhole route (e.g.
//! `blackhole 172.17.8.0/26`) and routes each workload with a /32 on its device
//! (`172.17.8.2 dev cali1234 scope link`). Announced are: every block, and every workload
//! route that is **not** inside one of the node's blocks (an address "borrowed" from another
//! node's block); workload routes inside an owned block are covered by the block and not
//! announced. The kernel is watched through netlink notifications, not polled.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use futures::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteType};
use rtnetlink::{MulticastGroup, new_multicast_connection};
use serde::Deserialize;
use std::time::Duration;

use tracing::{info, warn};

use bgp_core::router::Announcement;
use tokio::sync::mpsc;

use super::fib::FibError;

/// Which kernel routes are announced.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnConfig {
    /// Only routes inside these prefixes (the pod address pools).
    pub within: Vec<IpNet>,
    /// Workload routes: routes through devices whose names start so (e.g. `cali`).
    #[serde(default)]
    pub devices: Vec<String>,
    /// Blackhole routes are the node's blocks.
    #[serde(default = "yes")]
    pub blocks_from_blackholes: bool,
    /// The table to watch (254: main).
    #[serde(default = "main_table")]
    pub table: u32,
    /// The next hop to announce with (the node's address); none: each peer's local
    /// address.
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    /// Our own route protocol number: routes we installed are never learned back.
    #[serde(default = "bgp")]
    pub own_protocol: u8,
}

fn yes() -> bool {
    true
}

fn main_table() -> u32 {
    254
}

fn bgp() -> u8 {
    186
}

/// What the kernel holds that is of interest.
#[derive(Debug, Default)]
struct Held {
    blocks: BTreeSet<IpNet>,
    workloads: BTreeSet<IpNet>,
}

impl Held {
    /// Blocks, and workload routes outside every block.
    fn announced(&self) -> BTreeSet<IpNet> {
        let mut out = self.blocks.clone();
        for w in &self.workloads {
            if !self.blocks.iter().any(|b| b.contains(w)) {
                out.insert(*w);
            }
        }
        out
    }
}

fn table_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

fn prefix_of(m: &RouteMessage) -> Option<IpNet> {
    let dst = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(netlink_packet_route::route::RouteAddress::Inet(a)) => {
            Some(IpAddr::V4(*a))
        }
        RouteAttribute::Destination(netlink_packet_route::route::RouteAddress::Inet6(a)) => {
            Some(IpAddr::V6(*a))
        }
        _ => None,
    })?;
    IpNet::new(dst, m.header.destination_prefix_length).ok()
}

fn oif(m: &RouteMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}

/// Sorts one route into blocks or workloads, or neither.
fn classify(
    cfg: &LearnConfig,
    names: &HashMap<u32, String>,
    m: &RouteMessage,
) -> Option<(IpNet, bool)> {
    if table_of(m) != cfg.table || m.header.protocol == RouteProtocol::from(cfg.own_protocol) {
        return None;
    }
    let prefix = prefix_of(m)?;
    if !cfg.within.iter().any(|w| w.contains(&prefix)) {
        return None;
    }
    if cfg.blocks_from_blackholes && m.header.kind == RouteType::BlackHole {
        return Some((prefix, true));
    }
    let dev = oif(m).and_then(|i| names.get(&i))?;
    cfg.devices
        .iter()
        .any(|d| dev.starts_with(d.as_str()))
        .then_some((prefix, false))
}

/// A change of what the node announces, learned from the kernel.
#[derive(Debug)]
pub(crate) enum Learned {
    Announce(IpNet, Announcement),
    Withdraw(IpNet),
}

/// Watches the kernel and keeps the announcements in step (as changes sent to the speaker's
/// driver); runs until the driver stops.
/// Learns until the driver stops. A netlink failure starts the learning again (after a
/// pause that doubles up to 30 s) from a fresh dump, withdrawing what went meanwhile.
pub(crate) async fn run(cfg: LearnConfig, to: mpsc::Sender<Learned>) -> Result<(), FibError> {
    let mut announced: BTreeSet<IpNet> = BTreeSet::new();
    let mut pause = Duration::from_secs(1);
    loop {
        match learn(&cfg, &to, &mut announced).await {
            Ok(()) => return Ok(()),
            Err(e) if to.is_closed() => return Err(e),
            Err(e) => {
                warn!(%e, retry_in = ?pause, "learning kernel routes failed; starting again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// One run: the notifications are subscribed to first, on a socket of their own, then the
/// links and routes are dumped on another. (On one socket, a notification caused by a
/// request of another socket carries that request's sequence number, and can be taken
/// for part of a dump's reply.) What changed during the dump is in the notifications
/// that follow it.
async fn learn(
    cfg: &LearnConfig,
    to: &mpsc::Sender<Learned>,
    announced: &mut BTreeSet<IpNet>,
) -> Result<(), FibError> {
    let (conn, _, mut events) = new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
    ])?;
    let events_task = tokio::spawn(conn);
    let _stop_events = AbortOnDrop(events_task);
    let (conn, handle, _) = rtnetlink::new_connection()?;
    let dump_task = tokio::spawn(conn);
    let stop_dumps = AbortOnDrop(dump_task);
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut links = handle.link().get().execute();
    while let Some(l) = links.try_next().await? {
        for a in &l.attributes {
            if let LinkAttribute::IfName(n) = a {
                names.insert(l.header.index, n.clone());
            }
        }
    }
    let mut learned = Held::default();
    for family in [
        netlink_packet_route::AddressFamily::Inet,
        netlink_packet_route::AddressFamily::Inet6,
    ] {
        let mut q = RouteMessage::default();
        q.header.address_family = family;
        let mut dump = handle.route().get(q).execute();
        while let Some(m) = dump.try_next().await? {
            if let Some((p, block)) = classify(cfg, &names, &m) {
                if block {
                    learned.blocks.insert(p);
                } else {
                    learned.workloads.insert(p);
                }
            }
        }
    }
    drop((handle, stop_dumps));
    if !sync(cfg, to, &learned, announced).await {
        return Ok(());
    }
    while let Some((msg, _)) = events.next().await {
        let NetlinkPayload::InnerMessage(inner) = msg.payload else {
            continue;
        };
        match inner {
            RouteNetlinkMessage::NewLink(l) => {
                for a in &l.attributes {
                    if let LinkAttribute::IfName(n) = a {
                        names.insert(l.header.index, n.clone());
                    }
                }
                continue;
            }
            RouteNetlinkMessage::DelLink(l) => {
                names.remove(&l.header.index);
                continue;
            }
            RouteNetlinkMessage::NewRoute(m) => {
                if let Some((p, block)) = classify(cfg, &names, &m) {
                    if block {
                        learned.blocks.insert(p);
                    } else {
                        learned.workloads.insert(p);
                    }
                }
            }
            RouteNetlinkMessage::DelRoute(m) => {
                if let Some(p) = prefix_of(&m) {
                    if m.header.kind == RouteType::BlackHole {
                        learned.blocks.remove(&p);
                    } else {
                        learned.workloads.remove(&p);
                    }
                }
            }
            _ => continue,
        }
        if !sync(cfg, to, &learned, announced).await {
            return Ok(());
        }
    }
    Err(FibError::Socket(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the netlink notifications ended",
    )))
}

/// Ends a spawned netlink connection with the run that spawned it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Announces what is new and withdraws what went; false once the driver has stopped.
async fn sync(
    cfg: &LearnConfig,
    to: &mpsc::Sender<Learned>,
    learned: &Held,
    announced: &mut BTreeSet<IpNet>,
) -> bool {
    let want = learned.announced();
    for p in announced.difference(&want).copied().collect::<Vec<_>>() {
        info!(prefix = %p, "kernel route gone: withdrawn");
        if to.send(Learned::Withdraw(p)).await.is_err() {
            return false;
        }
        announced.remove(&p);
    }
    for p in want.difference(announced).copied().collect::<Vec<_>>() {
        // The next hop only for its own family; none: each peer's local address.
        let next_hop = cfg.next_hop.filter(|nh| nh.is_ipv4() == p.addr().is_ipv4());
        let a = Announcement {
            next_hop,
            ..Announcement::default()
        };
        info!(prefix = %p, "kernel route: announced");
        if to.send(Learned::Announce(p, a)).await.is_err() {
            return false;
        }
        announced.insert(p);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_their_workloads_and_borrowed_addresses_go_out() {
        let p = |s: &str| s.parse::<IpNet>().unwrap();
        let mut l = Held::default();
        l.blocks.insert(p("172.17.8.0/26"));
        l.workloads.insert(p("172.17.8.2/32"));
        l.workloads.insert(p("172.17.99.5/32"));
        let a: Vec<IpNet> = l.announced().into_iter().collect();
        assert_eq!(a, vec![p("172.17.8.0/26"), p("172.17.99.5/32")]);
        // The block goes: its workload is announced on its own.
        l.blocks.clear();
        let a: Vec<IpNet> = l.announced().into_iter().collect();
        assert_eq!(a, vec![p("172.17.8.2/32"), p("172.17.99.5/32")]);
    }
}
