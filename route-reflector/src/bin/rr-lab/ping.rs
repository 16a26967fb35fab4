//! Pings in the lab: one echo, and streams of echoes with their loss.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Command;
use std::time::Instant;

use crate::netns::Proc;

/// One echo from the namespace `src_ns` to `dst`, waiting a second at most.
pub fn ping_once(src_ns: &str, dst: impl Into<std::net::IpAddr>) -> bool {
    let dst: std::net::IpAddr = dst.into();
    // IPv6: a first contact between two nodes may wait for a neighbour solicitation to be
    // sent again (after a second).
    let wait = if dst.is_ipv6() { "3" } else { "1" };
    Command::new("ip")
        .args([
            "netns", "exec", src_ns, "ping", "-n", "-q", "-c", "1", "-W", wait,
        ])
        .arg(dst.to_string())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A running `ping -i 0.01`; [`PingStream::finish`] stops it and reads its statistics.
pub struct PingStream {
    pub(super) proc: Proc,
    pub(super) started: Instant,
}

/// Echoes sent and answered.
#[derive(Clone, Copy, Debug)]
pub struct Loss {
    pub sent: u64,
    pub received: u64,
    pub seconds: f64,
}

impl Loss {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} echoes lost over {:.1} s",
            self.lost(),
            self.sent,
            self.seconds
        )
    }
}

impl PingStream {
    pub fn finish(mut self) -> Result<Loss, String> {
        let seconds = self.started.elapsed().as_secs_f64();
        self.proc.stop_with("-INT");
        let log = self.proc.log();
        let line = log
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .ok_or_else(|| format!("no ping statistics:\n{log}"))?;
        let num = |word: &str| -> Option<u64> {
            let w: Vec<&str> = line.split([' ', ',']).filter(|s| !s.is_empty()).collect();
            let i = w.iter().position(|x| x.starts_with(word))?;
            w.get(i.checked_sub(1)?)?.parse().ok()
        };
        Ok(Loss {
            sent: num("packets").ok_or("no count of packets sent")?,
            received: num("received").ok_or("no count of packets received")?,
            seconds,
        })
    }
}

/// Pings every pod from every other pod (one echo each, in parallel per source): the
/// matrix as text and the failed pairs.
pub fn matrix(pods: Vec<(String, IpAddr, String)>) -> (String, Vec<(String, String)>) {
    let results: Vec<Vec<bool>> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .map(|(_, _, src_ns)| {
                let pods = &pods;
                s.spawn(move || {
                    pods.iter()
                        .map(|(_, dst, dst_ns)| dst_ns == src_ns || ping_once(src_ns, *dst))
                        .collect::<Vec<bool>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let width = pods.iter().map(|p| p.0.len()).max().unwrap_or(4) + 1;
    let mut s = format!("{:width$}", "from\\to");
    for (name, _, _) in &pods {
        let _ = write!(s, "{name:>width$}");
    }
    s.push('\n');
    let mut failed = Vec::new();
    for (i, (src, _, _)) in pods.iter().enumerate() {
        let _ = write!(s, "{src:width$}");
        for (j, (dst, _, _)) in pods.iter().enumerate() {
            let cell = if i == j {
                "-"
            } else if results[i][j] {
                "ok"
            } else {
                failed.push((src.clone(), dst.clone()));
                "FAIL"
            };
            let _ = write!(s, "{cell:>width$}");
        }
        s.push('\n');
    }
    let total = pods.len() * pods.len().saturating_sub(1);
    let _ = writeln!(s, "{} of {total} pod pairs reachable", total - failed.len());
    (s, failed)
}
