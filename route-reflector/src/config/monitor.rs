//! `[[bmp]]`: the BMP stations the reflector exports to.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bgp_speaker::{BmpConfig, Monitoring};
use serde::Deserialize;
use toml::Spanned;

use super::Builder;

/// The port a station listens on when none is given (GoBGP's and pmacct's examples).
pub const BMP_PORT: u16 = 11019;

/// One `[[bmp]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BmpRaw {
    pub(super) address: Spanned<IpAddr>,
    #[serde(default = "bmp_port")]
    pub(super) port: Spanned<u16>,
    /// What is sent: any of `pre-policy`, `post-policy`, `adj-rib-out`, `loc-rib`.
    #[serde(default = "monitoring")]
    pub(super) monitoring: Spanned<Vec<Spanned<String>>>,
    /// Seconds between Statistics Reports; 0: none.
    #[serde(default = "statistics_interval")]
    pub(super) statistics_interval: Spanned<u64>,
    /// Messages queued for the station at most, before it is re-synchronized.
    #[serde(default = "queue")]
    pub(super) queue: Spanned<usize>,
    /// The Initiation's sysName (default: the host name).
    #[serde(default)]
    pub(super) sys_name: Option<String>,
}

fn bmp_port() -> Spanned<u16> {
    Spanned::new(0..0, BMP_PORT)
}

fn monitoring() -> Spanned<Vec<Spanned<String>>> {
    let v = ["pre-policy", "post-policy"]
        .map(|s| Spanned::new(0..0, s.to_string()))
        .to_vec();
    Spanned::new(0..0, v)
}

fn statistics_interval() -> Spanned<u64> {
    Spanned::new(0..0, 60)
}

fn queue() -> Spanned<usize> {
    Spanned::new(0..0, 65_536)
}

/// The kinds `monitoring` takes.
const KINDS: [&str; 4] = ["pre-policy", "post-policy", "adj-rib-out", "loc-rib"];

impl Builder<'_> {
    /// The stations, each checked at its position.
    pub(super) fn bmp(&self, list: &[Spanned<BmpRaw>]) -> Vec<BmpConfig> {
        let mut seen: HashSet<SocketAddr> = HashSet::new();
        let host = host_name();
        let mut out = Vec::new();
        for b in list {
            let r = b.get_ref();
            let station = SocketAddr::new(*r.address.get_ref(), *r.port.get_ref());
            if *r.port.get_ref() == 0 {
                self.fail(r.port.span(), "bmp port 0 is not a port");
            }
            if !seen.insert(station) {
                self.fail(
                    r.address.span(),
                    format!("bmp station {station} is configured twice"),
                );
            }
            let mut m = Monitoring::default();
            for k in r.monitoring.get_ref() {
                match k.get_ref().as_str() {
                    "pre-policy" => m.pre_policy = true,
                    "post-policy" => m.post_policy = true,
                    "loc-rib" => m.loc_rib = true,
                    "adj-rib-out" => m.adj_rib_out = true,
                    other => self.fail(
                        k.span(),
                        format!(
                            "bmp monitoring {other:?}: expected one of {}",
                            KINDS.join(", ")
                        ),
                    ),
                }
            }
            if !m.is_on() && r.monitoring.get_ref().is_empty() {
                self.fail(
                    r.monitoring.span(),
                    format!(
                        "bmp monitoring is empty: name at least one of {}",
                        KINDS.join(", ")
                    ),
                );
            }
            if *r.queue.get_ref() == 0 {
                self.fail(r.queue.span(), "bmp queue is at least 1 message");
            }
            let mut c = BmpConfig::new(station);
            c.monitoring = m;
            c.statistics_interval = match *r.statistics_interval.get_ref() {
                0 => None,
                s => Some(Duration::from_secs(s)),
            };
            c.queue = *r.queue.get_ref();
            c.sys_name = r.sys_name.clone().unwrap_or_else(|| host.clone());
            c.sys_descr = concat!("route-reflector ", env!("CARGO_PKG_VERSION")).into();
            out.push(c);
        }
        out
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `[mrt]`: table dumps and the update log.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MrtRaw {
    /// File name pattern of the TABLE_DUMP_V2 snapshots.
    #[serde(default)]
    pub(super) table_dump: Option<Spanned<std::path::PathBuf>>,
    /// Seconds between snapshots.
    #[serde(default = "table_dump_interval")]
    pub(super) table_dump_interval: Spanned<u64>,
    /// File name pattern of the BGP4MP_ET update log.
    #[serde(default)]
    pub(super) updates: Option<Spanned<std::path::PathBuf>>,
    /// Seconds per update log file; 0: no rotation by time.
    #[serde(default)]
    pub(super) rotate_interval: u64,
    /// Octets per update log file; 0: no rotation by size.
    #[serde(default)]
    pub(super) rotate_size: u64,
}

fn table_dump_interval() -> Spanned<u64> {
    Spanned::new(0..0, 300)
}

impl Builder<'_> {
    /// `[mrt]`, checked at its position.
    pub(super) fn mrt(&self, m: &Option<Spanned<MrtRaw>>) -> Option<bgp_speaker::MrtConfig> {
        let m = m.as_ref()?;
        let r = m.get_ref();
        if r.table_dump.is_none() && r.updates.is_none() {
            self.warn(
                m.span(),
                "[mrt] names neither `table_dump` nor `updates`: nothing is written",
            );
            return None;
        }
        if r.table_dump.is_some() && *r.table_dump_interval.get_ref() == 0 {
            self.fail(
                r.table_dump_interval.span(),
                "table_dump_interval is at least 1 second",
            );
        }
        for f in [&r.table_dump, &r.updates].into_iter().flatten() {
            let dir = f.get_ref().parent().filter(|d| !d.as_os_str().is_empty());
            if dir.is_some_and(|d| !d.is_dir()) {
                self.warn(
                    f.span(),
                    format!(
                        "{}: no such directory (yet)",
                        dir.unwrap_or(f.get_ref()).display()
                    ),
                );
            }
        }
        if let Some(u) = &r.updates
            && r.rotate_interval > 0
            && !u.get_ref().to_string_lossy().contains('%')
        {
            self.warn(
                u.span(),
                "the update log rotates by time but its name has no time field (%Y, %s, ...): \
                 each period appends to the same file",
            );
        }
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Some(bgp_speaker::MrtConfig {
            table_dump: r.table_dump.as_ref().map(|p| {
                (
                    p.get_ref().clone(),
                    Duration::from_secs((*r.table_dump_interval.get_ref()).max(1)),
                )
            }),
            updates: r.updates.as_ref().map(|p| p.get_ref().clone()),
            rotate_interval: secs(r.rotate_interval),
            rotate_size: (r.rotate_size > 0).then_some(r.rotate_size),
        })
    }
}
