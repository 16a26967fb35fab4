//! Floods of /32 routes through the reflector, each route with a LOCAL_PREF of its own (no
//! two share an UPDATE), and the table a receiving peer keeps of what it is sent, to be
//! compared route by route with what it should hold.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::raw::{self, Raw, announced, ibgp_attrs, local_pref, msg, open_body, prefix, update};

/// Route `i` of a flood is `FLOOD_BASE + i`/32.
pub const FLOOD_BASE: Ipv4Addr = Ipv4Addr::new(10, 128, 0, 0);

/// Route `i`'s LOCAL_PREF in round `round` (0 or 1): its own in each round.
pub fn flood_lp(i: u32, round: u32) -> u32 {
    1000 + i * 2 + round
}

/// Route `i`'s prefix in NLRI encoding.
pub fn flood_prefix(i: u32) -> Vec<u8> {
    prefix(Ipv4Addr::from(u32::from(FLOOD_BASE) + i), 32)
}

/// The UPDATE announcing route `i` in round `round`, from `src`.
pub fn flood_update(src: Ipv4Addr, i: u32, round: u32) -> Vec<u8> {
    let mut attrs = ibgp_attrs(src);
    let n = attrs.len();
    attrs[n - 4..].copy_from_slice(&flood_lp(i, round).to_be_bytes());
    update(&[], &attrs, &flood_prefix(i))
}

/// Sends round `round` of the routes `which` yields, about 60 kB at a time; false when the
/// session broke on the way.
pub fn send_flood(
    r: &mut Raw,
    src: Ipv4Addr,
    which: impl Iterator<Item = u32>,
    round: u32,
) -> bool {
    let mut batch = Vec::new();
    for i in which {
        batch.extend(flood_update(src, i, round));
        if batch.len() > 60_000 {
            if !r.send(&batch) {
                return false;
            }
            batch.clear();
        }
    }
    r.send(&batch)
}

/// The IPv4 End-of-RIB (an UPDATE with nothing in it).
pub fn end_of_rib() -> Vec<u8> {
    update(&[], &[], &[])
}

/// The End-of-RIBs of both families [`raw::std_params`] negotiates: IPv4's, then IPv6's
/// (an MP_UNREACH_NLRI with nothing in it, RFC 4724 2).
pub fn end_of_ribs() -> Vec<u8> {
    [end_of_rib(), update(&[], &[0x80, 15, 3, 0, 2, 1], &[])].concat()
}

/// An OPEN with the standard capabilities and graceful restart (RFC 4724): restart time
/// 120 s, IPv4 unicast with its forwarding state kept.
pub fn open_gr(asn: u32, hold: u16, id: Ipv4Addr) -> Vec<u8> {
    let std = raw::std_params(asn);
    let mut caps = std[2..].to_vec();
    caps.extend_from_slice(&[64, 6, 0, 120, 0, 1, 1, 0x80]);
    let mut params = vec![2, caps.len() as u8];
    params.extend_from_slice(&caps);
    msg(1, &open_body(4, asn, hold, id, &params))
}

/// Whether an OPEN body announces graceful restart.
pub fn has_gr(open: &[u8]) -> bool {
    let params = open.get(10..).unwrap_or_default();
    let mut p = params;
    while p.len() >= 2 {
        let (kind, len) = (p[0], p[1] as usize);
        let Some(value) = p.get(2..2 + len) else {
            return false;
        };
        if kind == 2 {
            let mut c = value;
            while c.len() >= 2 {
                if c[0] == 64 {
                    return true;
                }
                c = c.get(2 + c[1] as usize..).unwrap_or_default();
            }
        }
        p = &p[2 + len..];
    }
    false
}

/// Counts a table publishes while it fills: routes in all, and flood routes at round 0 and 1.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub rounds: [AtomicU64; 2],
    /// End-of-RIBs (IPv4) received.
    pub eors: AtomicU64,
}

impl Progress {
    pub fn round(&self, r: usize) -> u64 {
        self.rounds[r].load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// The IPv4 routes a peer was sent: prefix (NLRI encoding) to LOCAL_PREF.
#[derive(Debug, Default)]
pub struct Table {
    pub routes: HashMap<Vec<u8>, u32>,
    /// Routes of the last session kept while the next one sends them again (graceful
    /// restart): the ones not sent again by its End-of-RIB are dropped then.
    pub stale: HashSet<Vec<u8>>,
    pub progress: Arc<Progress>,
}

impl Table {
    /// Which round of the flood `p` with `lp` is, if it is a flood route.
    fn round_of(p: &[u8], lp: u32) -> Option<usize> {
        if p.len() != 5 || p[0] != 32 {
            return None;
        }
        let a = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
        let i = a.checked_sub(u32::from(FLOOD_BASE))?;
        let r = lp.checked_sub(1000)?;
        (r / 2 == i).then_some((r % 2) as usize)
    }

    fn remove(&mut self, p: &[u8]) {
        if let Some(lp) = self.routes.remove(p) {
            self.progress.total.fetch_sub(1, Ordering::Relaxed);
            if let Some(r) = Table::round_of(p, lp) {
                self.progress.rounds[r].fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.stale.remove(p);
    }

    /// Applies an UPDATE body: withdrawals, announcements, an End-of-RIB.
    pub fn apply(&mut self, body: &[u8]) {
        if body == [0, 0, 0, 0] {
            let stale: Vec<Vec<u8>> = self.stale.drain().collect();
            for p in stale {
                self.remove(&p);
            }
            self.progress.eors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        for p in raw::withdrawn(body) {
            self.remove(&p);
        }
        let lp = local_pref(body).unwrap_or(0);
        for p in announced(body) {
            self.remove(&p);
            if let Some(r) = Table::round_of(&p, lp) {
                self.progress.rounds[r].fetch_add(1, Ordering::Relaxed);
            }
            self.progress.total.fetch_add(1, Ordering::Relaxed);
            self.routes.insert(p, lp);
        }
    }

    /// The session ended without a NOTIFICATION: every route is kept, stale.
    pub fn keep_stale(&mut self) {
        self.stale = self.routes.keys().cloned().collect();
    }

    /// The session ended for good: every route goes.
    pub fn clear(&mut self) {
        let all: Vec<Vec<u8>> = self.routes.keys().cloned().collect();
        for p in all {
            self.remove(&p);
        }
    }

    /// What differs from `want`: up to five routes missing, extra or with another
    /// LOCAL_PREF, and how many of each.
    pub fn diff(&self, want: &HashMap<Vec<u8>, u32>) -> Option<String> {
        let missing: Vec<_> = want
            .iter()
            .filter(|(p, _)| !self.routes.contains_key(*p))
            .collect();
        let extra: Vec<_> = self
            .routes
            .iter()
            .filter(|(p, _)| !want.contains_key(*p))
            .collect();
        let other: Vec<_> = self
            .routes
            .iter()
            .filter(|(p, lp)| want.get(*p).is_some_and(|w| w != *lp))
            .collect();
        if missing.is_empty() && extra.is_empty() && other.is_empty() {
            return None;
        }
        Some(format!(
            "{} missing {:?}, {} extra {:?}, {} with another LOCAL_PREF {:?}",
            missing.len(),
            &missing[..missing.len().min(5)],
            extra.len(),
            &extra[..extra.len().min(5)],
            other.len(),
            &other[..other.len().min(5)]
        ))
    }
}

/// The table of routes `which` of a flood at round `round`.
pub fn flood_table(which: impl Iterator<Item = u32>, round: u32) -> HashMap<Vec<u8>, u32> {
    which
        .map(|i| (flood_prefix(i), flood_lp(i, round)))
        .collect()
}
