//! The dual-stack variant of the racks: every node, pod and top-of-rack router also has an
//! IPv6 address, every node an IPv6 block. The nodes peer with their ToR over IPv4 and
//! IPv6 (their IPv6 blocks go with their own IPv6 next hops; the other rack's with the
//! ToR's IPv6 address), the ToRs peer over IPv6 too, and the kernels hold IPv6 routes
//! (`2001:db8:11::/64 via fd00:100::11 dev eth0 proto bgp onlink`).
//!
//! Addresses: rack `r` is fd00:10r::/64 on its bridge (ToR ::1, second reflector ::2, node
//! i ::1i), the ToR link fd00:ffff::/64 (::1, ::2), node i's block 2001:db8:X::/64 with X
//! its IPv4 block's third byte, pod k of the node 2001:db8:X::(k+1).

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::{Lab, Node};
use crate::netns::Ns;

pub(super) fn tor6(r: usize) -> Ipv6Addr {
    format!("fd00:{}::1", 100 + r).parse().expect("an address")
}

pub(super) fn link6(r: usize) -> Ipv6Addr {
    format!("fd00:ffff::{}", 1 + r).parse().expect("an address")
}

/// The ToRs' IPv6 addresses: on the rack's bridge and on the link between them.
pub(super) fn tors(tors: &[Ns]) -> Result<(), String> {
    for (r, tor) in tors.iter().enumerate() {
        // Neighbour solicitations go to solicited-node groups: the bridge floods them
        // rather than waiting to learn who listens.
        tor.sh(&format!(
            "ip link set br0 type bridge mcast_snooping 0 && \
             ip -6 addr add {}/64 dev br0 nodad && ip -6 addr add {}/64 dev tor nodad",
            tor6(r),
            link6(r)
        ))?;
    }
    Ok(())
}

/// Node `i` of rack `r`: its IPv6 address and its IPv6 block, blackholed like the IPv4 one.
pub(super) fn node(
    ns: &Ns,
    r: usize,
    i: usize,
    v4_block: u8,
) -> Result<(Ipv6Addr, Ipv6Net), String> {
    let address: Ipv6Addr = format!("fd00:{}::{}", 100 + r, 10 + i)
        .parse()
        .map_err(|e| format!("{e}"))?;
    let block: Ipv6Net = format!("2001:db8:{v4_block}::/64")
        .parse()
        .map_err(|e| format!("{e}"))?;
    ns.sh(&format!(
        "ip -6 addr add {address}/64 dev eth0 nodad && ip -6 route add blackhole {block}"
    ))?;
    Ok((address, block))
}

/// Pod `k` of a node: its IPv6 address on the pod's `eth0`, a default route through the
/// node's end of the pair (a fixed link-local address), and the node's route to it.
pub(super) fn pod(
    node: &Ns,
    pod: &Ns,
    dev: &str,
    block: Ipv6Net,
    k: usize,
) -> Result<Ipv6Addr, String> {
    let address = Ipv6Addr::from(u128::from(block.network()) + 1 + k as u128);
    node.sh(&format!(
        "ip -6 addr add fe80::1/64 dev {dev} nodad && ip -6 route add {address}/128 dev {dev}"
    ))?;
    // Fixed link-local addresses on both ends, without duplicate address detection: the
    // pod can answer neighbour solicitations at once (as proxy_delay=0 does for ARP).
    pod.sh(&format!(
        "ip -6 addr add fe80::2/64 dev eth0 nodad && \
         ip -6 addr add {address}/128 dev eth0 nodad && \
         ip -6 route add default via fe80::1 dev eth0"
    ))?;
    Ok(address)
}

/// What a ToR's configuration adds: the rack's IPv6 range and the IPv6 session to the
/// other ToR.
pub(super) fn tor_config(r: usize, other_asn: u32) -> String {
    format!(
        r#"
[[client_range]]
range = "fd00:{net}::/64"
max = 50
next_hop = "self-external"

[[ebgp]]
address = "{peer}"
asn = {other_asn}
local_address = "{local}"
next_hop = "self"
import = "pod-blocks"
export = "pod-blocks"
"#,
        net = 100 + r,
        peer = link6(1 - r),
        local = link6(r),
    )
}

impl Lab {
    /// What node `n`'s kernel should hold in IPv6: the rack's blocks via their nodes, the
    /// other rack's via the ToR.
    pub(super) fn expected_node_routes6(&self, n: usize) -> BTreeSet<(String, String, String)> {
        let me = &self.nodes[n];
        self.nodes
            .iter()
            .filter(|o| o.name != me.name)
            .filter_map(|o| {
                let via = if o.rack == me.rack {
                    o.address6?
                } else {
                    tor6(me.rack)
                };
                Some((o.block6?.to_string(), via.to_string(), "eth0".to_string()))
            })
            .collect()
    }

    /// What ToR `r`'s kernel should hold in IPv6.
    pub(super) fn expected_tor_routes6(&self, r: usize) -> BTreeSet<(String, String, String)> {
        self.nodes
            .iter()
            .filter_map(|o: &Node| {
                let (via, dev) = if o.rack == r {
                    (o.address6?, "br0")
                } else {
                    (link6(1 - r), "tor")
                };
                Some((o.block6?.to_string(), via.to_string(), dev.to_string()))
            })
            .collect()
    }

    /// Every pod's IPv6 address: (name, address, namespace name).
    pub fn pods6(&self) -> Vec<(String, std::net::IpAddr, String)> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.pods
                    .iter()
                    .filter_map(|p| Some((p.name.clone(), p.address6?.into(), p.ns.name.clone())))
            })
            .collect()
    }
}
