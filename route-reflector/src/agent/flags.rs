//! The command-line form of the configuration. Without `--config`, the flags are the whole
//! configuration: they are written out as the equivalent file and read as one, so that
//! they are checked exactly as a file is. With `--config`, the file is the configuration,
//! and only `--restarting` and `--log-format` (which wins over `[log] format`) go with it.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use clap::ValueEnum;
use ipnet::IpNet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Fib {
    Direct,
    IpipAlways,
    IpipCrossSubnet,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Human,
    Json,
}

/// How the agent runs: a file, or flags.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RunArgs {
    /// The configuration file (the reflector's format with a `[node]` table).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The rack's AS number (iBGP with its reflectors).
    #[arg(long)]
    pub asn: Option<u32>,
    /// The BGP identifier (default: --address).
    #[arg(long)]
    pub router_id: Option<Ipv4Addr>,
    /// This node's IPv4 address: next hop of its IPv4 blocks, source of IPv4 sessions.
    #[arg(long)]
    pub address: Option<Ipv4Addr>,
    /// This node's IPv6 address: next hop of its IPv6 blocks, source of IPv6 sessions.
    #[arg(long)]
    pub address6: Option<Ipv6Addr>,
    /// A reflector to peer with (repeat for a redundant pair; IPv4 or IPv6).
    #[arg(long = "peer")]
    pub peers: Vec<IpAddr>,
    /// A pod block of this node to announce (repeatable; IPv4 or IPv6).
    #[arg(long = "pod-block")]
    pub blocks: Vec<IpNet>,
    /// Also announce kernel routes inside this pool: blackhole routes as blocks, and
    /// workload routes outside the announced blocks (repeatable).
    #[arg(long = "learn")]
    pub learn: Vec<IpNet>,
    /// Device name prefix of workload routes, with --learn (default: cali).
    #[arg(long = "workload-devices")]
    pub workload_devices: Vec<String>,
    /// How learned routes go into the kernel.
    #[arg(long, value_enum)]
    pub fib: Option<Fib>,
    /// Next hops of one route installed at most (ECMP); 1: no ECMP.
    #[arg(long)]
    pub max_paths: Option<usize>,
    /// Announce the extended next hop (RFC 8950) to the peers: IPv4 routes over IPv6
    /// sessions.
    #[arg(long)]
    pub extended_next_hop: bool,
    /// Seconds peers keep our routes while we restart (RFC 4724); 0 turns it off.
    #[arg(long)]
    pub graceful_restart: Option<u16>,
    /// Hold time proposed to the peers, in seconds.
    #[arg(long)]
    pub hold_time: Option<u16>,
    /// Seconds between connection attempts.
    #[arg(long)]
    pub connect_retry: Option<u64>,
    /// The Prometheus endpoint, address:port ("" turns it off; default 127.0.0.1:9180).
    #[arg(long)]
    pub metrics: Option<String>,
    /// The admin socket (with flags alone: none unless given).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// This start is a restart: set the Restart State bit and wait for the peers' tables.
    #[arg(long)]
    pub restarting: bool,
    /// Log format (wins over the file's `[log] format`).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// BFD with every peer (RFC 5881 single hop): a failed path ends the session within
    /// interval x multiplier instead of the hold time (`[bfd] enabled = true` in a file).
    #[arg(long)]
    pub bfd: bool,
    /// BFD transmit and receive interval, in milliseconds (default 300).
    #[arg(long, requires = "bfd")]
    pub bfd_interval: Option<u64>,
    /// BFD detect multiplier (default 3).
    #[arg(long, requires = "bfd")]
    pub bfd_multiplier: Option<u8>,
}

impl RunArgs {
    /// The flags that only make sense without a file, by name, when given.
    fn file_flags(&self) -> Vec<&'static str> {
        [
            ("--asn", self.asn.is_some()),
            ("--router-id", self.router_id.is_some()),
            ("--address", self.address.is_some()),
            ("--address6", self.address6.is_some()),
            ("--peer", !self.peers.is_empty()),
            ("--pod-block", !self.blocks.is_empty()),
            ("--learn", !self.learn.is_empty()),
            ("--workload-devices", !self.workload_devices.is_empty()),
            ("--fib", self.fib.is_some()),
            ("--max-paths", self.max_paths.is_some()),
            ("--extended-next-hop", self.extended_next_hop),
            ("--graceful-restart", self.graceful_restart.is_some()),
            ("--hold-time", self.hold_time.is_some()),
            ("--connect-retry", self.connect_retry.is_some()),
            ("--metrics", self.metrics.is_some()),
            ("--socket", self.socket.is_some()),
            ("--bfd", self.bfd),
            ("--bfd-interval", self.bfd_interval.is_some()),
            ("--bfd-multiplier", self.bfd_multiplier.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, given)| given.then_some(f))
        .collect()
    }

    /// Refuses a mix of `--config` and configuration flags.
    pub fn check_mix(&self) -> Result<(), String> {
        let extra = self.file_flags();
        if self.config.is_some() && !extra.is_empty() {
            return Err(format!(
                "{} cannot go with --config: the file is the configuration",
                extra.join(", ")
            ));
        }
        Ok(())
    }

    /// The file the flags amount to.
    pub fn to_toml(&self) -> Result<String, String> {
        let asn = self.asn.ok_or("--asn is needed (or --config)")?;
        if self.peers.is_empty() {
            return Err("at least one --peer is needed (or --config)".into());
        }
        let id = self
            .router_id
            .or(self.address)
            .ok_or("--router-id is needed without --address")?;
        // Quoted and escaped: a JSON string is a TOML basic string (the same escapes).
        let q = |s: &dyn std::fmt::Display| {
            serde_json::to_string(&s.to_string()).unwrap_or_else(|_| "\"\"".into())
        };
        let list = |v: &[String]| format!("[{}]", v.join(", "));
        let mut t = format!("asn = {asn}\nrouter_id = {}\n", q(&id));
        if let Some(n) = self.max_paths {
            let _ = writeln!(t, "max_paths = {n}");
        }
        if let Some(f) = self.log_format {
            let _ = writeln!(t, "[log]\nformat = {}", q(&format!("{f:?}").to_lowercase()));
        }
        if let Some(m) = &self.metrics {
            let _ = writeln!(t, "[metrics]\nlisten = {}", q(m));
        }
        if let Some(s) = &self.socket {
            let _ = writeln!(t, "[admin]\nsocket = {}", q(&s.display()));
        }
        t.push_str("[timers]\n");
        if let Some(h) = self.hold_time {
            let _ = writeln!(t, "hold_time = {h}");
        }
        if let Some(c) = self.connect_retry {
            let _ = writeln!(t, "connect_retry = {c}");
        }
        match self.graceful_restart {
            Some(0) => t.push_str("[graceful_restart]\nenabled = false\n"),
            Some(n) => {
                let _ = writeln!(t, "[graceful_restart]\nrestart_time = {n}");
            }
            None => {}
        }
        if self.bfd {
            t.push_str("[bfd]\nenabled = true\n");
            if let Some(i) = self.bfd_interval {
                let _ = writeln!(t, "min_rx = {i}\nmin_tx = {i}");
            }
            if let Some(m) = self.bfd_multiplier {
                let _ = writeln!(t, "multiplier = {m}");
            }
        }
        t.push_str("[node]\n");
        if let Some(a) = self.address {
            let _ = writeln!(t, "address = {}", q(&a));
        }
        if let Some(a) = self.address6 {
            let _ = writeln!(t, "address6 = {}", q(&a));
        }
        let strings = |v: &[IpNet]| v.iter().map(|b| q(b)).collect::<Vec<_>>();
        let _ = writeln!(t, "pod_blocks = {}", list(&strings(&self.blocks)));
        let _ = writeln!(t, "learn = {}", list(&strings(&self.learn)));
        if !self.workload_devices.is_empty() {
            let d: Vec<String> = self.workload_devices.iter().map(|d| q(d)).collect();
            let _ = writeln!(t, "workload_devices = {}", list(&d));
        }
        let mode = match self.fib.unwrap_or(Fib::IpipCrossSubnet) {
            Fib::Off => None,
            Fib::Direct => Some("direct"),
            Fib::IpipAlways => Some("ipip-always"),
            Fib::IpipCrossSubnet => Some("ipip-cross-subnet"),
        };
        match mode {
            None => t.push_str("install_routes = false\n"),
            Some(m) => {
                let _ = writeln!(t, "[fib]\nmode = {}", q(&m));
            }
        }
        for p in &self.peers {
            let _ = writeln!(t, "[[ibgp]]\naddress = {}", q(p));
            if self.extended_next_hop {
                t.push_str("extended_next_hop = true\n");
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn args(f: impl FnOnce(&mut RunArgs)) -> RunArgs {
        let mut a = RunArgs {
            asn: Some(65001),
            address: Some("192.168.100.101".parse().unwrap()),
            peers: vec!["192.168.100.1".parse().unwrap()],
            blocks: vec!["172.17.8.0/24".parse().unwrap()],
            ..RunArgs::default()
        };
        f(&mut a);
        a
    }

    #[test]
    fn flags_read_as_the_file_they_amount_to() {
        let a = args(|a| {
            a.address6 = Some("fd00::101".parse().unwrap());
            a.peers.push("fd00::1".parse().unwrap());
            a.blocks.push("2001:db8:8::/64".parse().unwrap());
            a.max_paths = Some(4);
            a.graceful_restart = Some(0);
        });
        let c = Config::parse("<flags>", &a.to_toml().unwrap()).unwrap();
        let n = c.node.as_ref().unwrap();
        assert_eq!(n.pod_blocks.len(), 2);
        assert_eq!(c.speaker.router.max_paths, 4);
        assert!(c.speaker.listen.is_empty(), "a node does not listen");
        let peers = &c.speaker.router.peers;
        assert_eq!(
            peers[0].local_address,
            Some("192.168.100.101".parse().unwrap())
        );
        assert_eq!(peers[1].local_address, Some("fd00::101".parse().unwrap()));
        assert!(peers.iter().all(|p| p.graceful_restart.is_none()));
        let fib = c.speaker.fib.as_ref().unwrap();
        assert_eq!(fib.mode, bgp_speaker::fib::TunnelMode::IpipCrossSubnet);
        assert_eq!(
            c.admin_socket,
            PathBuf::from(crate::config::NODE_ADMIN_SOCKET)
        );
    }

    #[test]
    fn bfd_flags_turn_bfd_on_for_every_peer() {
        let a = args(|a| {
            a.bfd = true;
            a.bfd_interval = Some(100);
        });
        let c = Config::parse("<flags>", &a.to_toml().unwrap()).unwrap();
        let b = c.speaker.router.peers[0].bfd.expect("BFD on");
        assert_eq!(
            (b.min_rx.as_millis(), b.min_tx.as_millis(), b.multiplier),
            (100, 100, 3)
        );
        let c = Config::parse("<flags>", &args(|_| {}).to_toml().unwrap()).unwrap();
        assert_eq!(c.speaker.router.peers[0].bfd, None);
    }

    #[test]
    fn flag_values_are_escaped_in_the_file() {
        let a = args(|a| a.socket = Some("/tmp/odd \"name\".sock".into()));
        let c = Config::parse("<flags>", &a.to_toml().unwrap()).unwrap();
        assert_eq!(c.admin_socket, PathBuf::from("/tmp/odd \"name\".sock"));
    }

    #[test]
    fn an_ipv6_block_without_address6_is_refused_at_its_place() {
        let a = args(|a| a.blocks.push("2001:db8:8::/64".parse().unwrap()));
        let e = Config::parse("<flags>", &a.to_toml().unwrap()).unwrap_err();
        assert!(e.to_string().contains("needs `address6`"), "{e}");
    }

    #[test]
    fn configuration_flags_do_not_go_with_a_file() {
        let a = args(|a| a.config = Some("/etc/node-agent.toml".into()));
        let e = a.check_mix().unwrap_err();
        assert!(e.contains("--asn") && e.contains("--peer"), "{e}");
        let ok = RunArgs {
            config: Some("/x".into()),
            restarting: true,
            ..RunArgs::default()
        };
        assert!(ok.check_mix().is_ok());
    }
}
