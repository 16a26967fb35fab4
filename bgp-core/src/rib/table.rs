//! The prefix table: IPv4 and IPv6 prefixes in separate maps under packed integer keys.
//!
//! An `IpNet` key takes 18 octets and a hash table runs at one half to seven eighths full;
//! an IPv4 prefix packed into a `u64` brings an entry (key and [`Dest`]) to 40 octets, which
//! keeps the Loc-RIB small at a million prefixes.

use std::net::{Ipv4Addr, Ipv6Addr};

use foldhash::HashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::Dest;

fn v4_key(p: &Ipv4Net) -> u64 {
    (u64::from(u32::from(p.network())) << 8) | u64::from(p.prefix_len())
}

fn v4_net(k: u64) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(
        Ipv4Addr::from((k >> 8) as u32),
        ((k & 0xff) as u8).min(32),
    ))
}

fn v6_key(p: &Ipv6Net) -> (u128, u8) {
    (u128::from(p.network()), p.prefix_len())
}

fn v6_net(k: (u128, u8)) -> IpNet {
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(k.0), k.1.min(128)))
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    v4: HashMap<u64, Dest>,
    v6: HashMap<(u128, u8), Dest>,
}

impl Table {
    pub(crate) fn get(&self, p: &IpNet) -> Option<&Dest> {
        match p {
            IpNet::V4(n) => self.v4.get(&v4_key(n)),
            IpNet::V6(n) => self.v6.get(&v6_key(n)),
        }
    }

    pub(crate) fn get_mut(&mut self, p: &IpNet) -> Option<&mut Dest> {
        match p {
            IpNet::V4(n) => self.v4.get_mut(&v4_key(n)),
            IpNet::V6(n) => self.v6.get_mut(&v6_key(n)),
        }
    }

    pub(crate) fn entry(&mut self, p: &IpNet) -> &mut Dest {
        match p {
            IpNet::V4(n) => self.v4.entry(v4_key(n)).or_default(),
            IpNet::V6(n) => self.v6.entry(v6_key(n)).or_default(),
        }
    }

    pub(crate) fn remove(&mut self, p: &IpNet) {
        match p {
            IpNet::V4(n) => {
                self.v4.remove(&v4_key(n));
            }
            IpNet::V6(n) => {
                self.v6.remove(&v6_key(n));
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, &Dest)> {
        self.v4
            .iter()
            .map(|(k, d)| (v4_net(*k), d))
            .chain(self.v6.iter().map(|(k, d)| (v6_net(*k), d)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut Dest)> {
        self.v4
            .iter_mut()
            .map(|(k, d)| (v4_net(*k), d))
            .chain(self.v6.iter_mut().map(|(k, d)| (v6_net(*k), d)))
    }

    pub(crate) fn prefixes(&self) -> Vec<IpNet> {
        self.iter().map(|(p, _)| p).collect()
    }
}
