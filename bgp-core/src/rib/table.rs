//! Maps keyed by prefix: IPv4 and IPv6 prefixes in separate hash maps under packed integer
//! keys.
//!
//! An `IpNet` key takes 18 octets, padded to 24 beside an 8-aligned value, and a hash table
//! runs at one half to seven eighths full. An IPv4 prefix packed into a `u64` brings a
//! Loc-RIB entry (key and [`Dest`](super::Dest)) to 32 octets and an Adj-RIB-Out entry to
//! 16, which keeps both small at a million prefixes.

use std::net::{Ipv4Addr, Ipv6Addr};

use foldhash::HashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

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

/// A map from prefix to `V`.
#[derive(Clone, Debug)]
pub(crate) struct PrefixMap<V> {
    v4: HashMap<u64, V>,
    v6: HashMap<(u128, u8), V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: HashMap::default(),
            v6: HashMap::default(),
        }
    }
}

impl<V> PrefixMap<V> {
    pub(crate) fn get(&self, p: &IpNet) -> Option<&V> {
        match p {
            IpNet::V4(n) => self.v4.get(&v4_key(n)),
            IpNet::V6(n) => self.v6.get(&v6_key(n)),
        }
    }

    pub(crate) fn get_mut(&mut self, p: &IpNet) -> Option<&mut V> {
        match p {
            IpNet::V4(n) => self.v4.get_mut(&v4_key(n)),
            IpNet::V6(n) => self.v6.get_mut(&v6_key(n)),
        }
    }

    pub(crate) fn contains(&self, p: &IpNet) -> bool {
        self.get(p).is_some()
    }

    /// The value of `p`, inserted as `V::default()` when absent.
    pub(crate) fn entry(&mut self, p: &IpNet) -> &mut V
    where
        V: Default,
    {
        match p {
            IpNet::V4(n) => self.v4.entry(v4_key(n)).or_default(),
            IpNet::V6(n) => self.v6.entry(v6_key(n)).or_default(),
        }
    }

    pub(crate) fn insert(&mut self, p: &IpNet, v: V) -> Option<V> {
        match p {
            IpNet::V4(n) => self.v4.insert(v4_key(n), v),
            IpNet::V6(n) => self.v6.insert(v6_key(n), v),
        }
    }

    pub(crate) fn remove(&mut self, p: &IpNet) -> Option<V> {
        match p {
            IpNet::V4(n) => self.v4.remove(&v4_key(n)),
            IpNet::V6(n) => self.v6.remove(&v6_key(n)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> {
        self.v4
            .iter()
            .map(|(k, d)| (v4_net(*k), d))
            .chain(self.v6.iter().map(|(k, d)| (v6_net(*k), d)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut V)> {
        self.v4
            .iter_mut()
            .map(|(k, d)| (v4_net(*k), d))
            .chain(self.v6.iter_mut().map(|(k, d)| (v6_net(*k), d)))
    }

    pub(crate) fn into_entries(self) -> impl Iterator<Item = (IpNet, V)> {
        self.v4
            .into_iter()
            .map(|(k, d)| (v4_net(k), d))
            .chain(self.v6.into_iter().map(|(k, d)| (v6_net(k), d)))
    }

    pub(crate) fn prefixes(&self) -> Vec<IpNet> {
        self.iter().map(|(p, _)| p).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_families_stay_apart() {
        let mut m: PrefixMap<u32> = PrefixMap::default();
        let nets: Vec<IpNet> = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.0.0.0/16",
            "255.255.255.255/32",
            "::/0",
            "2001:db8::/32",
            "2001:db8::/48",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for (i, n) in nets.iter().enumerate() {
            assert_eq!(m.insert(n, i as u32), None);
        }
        assert_eq!(m.len(), nets.len());
        for (i, n) in nets.iter().enumerate() {
            assert_eq!(m.get(n), Some(&(i as u32)), "{n}");
        }
        let mut back = m.prefixes();
        back.sort();
        let mut want = nets.clone();
        want.sort();
        assert_eq!(back, want);
        assert_eq!(m.remove(&nets[1]), Some(1));
        assert!(!m.contains(&nets[1]));
        assert!(m.contains(&nets[2]));
        *m.entry(&nets[1]) += 7;
        assert_eq!(m.get(&nets[1]), Some(&7));
        m.clear();
        assert!(m.is_empty());
    }
}
