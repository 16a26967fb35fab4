//! `show fib`: our routes in the kernel table, read back from the kernel.

use std::net::IpAddr;

use bgp_speaker::fib::{Fib, FibConfig};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One kernel route of ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibEntry {
    pub prefix: IpNet,
    /// One per next hop: an ECMP set has several.
    pub next_hops: Vec<FibHop>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibHop {
    pub via: IpAddr,
    pub device: String,
}

/// The routes of our protocol in the configured table, sorted by prefix.
pub async fn read(cfg: &FibConfig) -> Result<Vec<FibEntry>, String> {
    let fib = Fib::new(cfg.clone()).await.map_err(|e| e.to_string())?;
    let names = fib.device_names().await.map_err(|e| e.to_string())?;
    let routes = fib.routes().await.map_err(|e| e.to_string())?;
    let mut out: Vec<FibEntry> = routes
        .into_iter()
        .map(|(prefix, hops)| FibEntry {
            prefix,
            next_hops: hops
                .into_iter()
                .map(|h| FibHop {
                    via: h.via,
                    device: names
                        .get(&h.ifindex)
                        .cloned()
                        .unwrap_or_else(|| format!("if{}", h.ifindex)),
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| {
        (a.prefix.addr().is_ipv6(), a.prefix).cmp(&(b.prefix.addr().is_ipv6(), b.prefix))
    });
    Ok(out)
}

/// A line per next hop; the prefix on the first of its set.
pub fn fib_text(routes: &[FibEntry]) -> String {
    let mut rows = Vec::new();
    for r in routes {
        for (i, h) in r.next_hops.iter().enumerate() {
            let prefix = if i == 0 {
                r.prefix.to_string()
            } else {
                String::new()
            };
            rows.push(vec![prefix, h.via.to_string(), h.device.clone()]);
        }
    }
    crate::admin::table(&["Prefix", "Via", "Device"], &rows)
}
