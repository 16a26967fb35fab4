//! What [`Speaker::routes`](crate::Speaker::routes) is asked and answers.

use std::net::{IpAddr, Ipv4Addr};

use bgp_core::Family;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Which routes [`Speaker::routes`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteQuery {
    /// This prefix and the more specific ones inside it.
    pub prefix: Option<IpNet>,
    /// Only paths from this peer.
    pub peer: Option<IpAddr>,
    pub family: Option<Family>,
}

/// A prefix with its paths, best first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDetail {
    pub prefix: IpNet,
    /// The decision step that chose the best path, when there was a choice.
    pub reason: Option<String>,
    /// Seconds since a path of the prefix last came, changed or went (none in a peer's
    /// tables, which keep no times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
    pub paths: Vec<PathDetail>,
}

/// One path of a prefix, with its attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathDetail {
    /// The peer it came from; `None` for our own routes.
    pub from: Option<IpAddr>,
    pub best: bool,
    /// Part of the ECMP set (the best path included).
    pub multipath: bool,
    /// Kept from a restarting peer, waiting to be refreshed.
    pub stale: bool,
    pub path_id: u32,
    pub next_hop: Option<IpAddr>,
    pub as_path: String,
    /// `igp`, `egp` or `incomplete`.
    pub origin: Option<String>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    /// Why the path is not the best: the decision step at which the best path wins over
    /// it (as `reason` names steps), or `Unreachable` (its next hop does not resolve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_best: Option<String>,
}

/// Which of a peer's tables [`Speaker::peer_table`](crate::Speaker::peer_table) reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerTable {
    /// The routes from the peer: as received where they are kept (soft reconfiguration
    /// inbound), else as accepted by the import policy.
    AdjRibIn,
    /// The routes the peer is sent, after the export policy.
    AdjRibOut,
    /// The routes from the peer the import policy rejected (known only where the routes
    /// as received are kept).
    Filtered,
}

/// One of a peer's tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTableView {
    pub peer: IpAddr,
    pub table: PeerTable,
    /// The routes are as received, before the import policy.
    pub pre_policy: bool,
    pub routes: Vec<TableRoute>,
}

/// A route of a peer's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRoute {
    pub prefix: IpNet,
    /// For the Adj-RIB-In: the import policy accepted it (always, after the policy).
    pub accepted: bool,
    #[serde(flatten)]
    pub path: PathDetail,
}
