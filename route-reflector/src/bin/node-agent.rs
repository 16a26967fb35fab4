//! The node agent: our speaker on a container-network node. It peers with the rack's
//! reflector(s), announces the node's pod blocks with the node as next hop, installs what the
//! other nodes announce into the kernel, and prints each change. SIGINT or SIGTERM stops it
//! with an administrative shutdown; with graceful restart (the default) peers keep its routes
//! for the restart time and the kernel keeps the learned routes, so pods stay reachable while
//! the agent restarts.
//!
//! ```text
//! node-agent --asn 65001 --address 192.168.100.101 --peer 192.168.100.1 \
//!     --pod-block 172.17.8.0/24 [--fib direct|ipip-always|ipip-cross-subnet|off] \
//!     [--learn 172.17.0.0/16] [--restarting]
//! ```
//!
//! The kernel routes use protocol 186 in the main table: `ip route show proto bgp`.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use bgp_speaker::fib::{FibConfig, TunnelMode};
use bgp_speaker::kernel_routes::LearnConfig;
use bgp_speaker::{Announcement, PeerSettings, Speaker, SpeakerConfig};
use clap::{Parser, ValueEnum};
use ipnet::IpNet;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Fib {
    Direct,
    IpipAlways,
    IpipCrossSubnet,
    Off,
}

/// Our BGP speaker on a container-network node.
#[derive(Debug, Parser)]
#[command(name = "node-agent", version)]
struct Args {
    /// The rack's AS number (iBGP with its reflectors).
    #[arg(long)]
    asn: u32,
    /// This node's address: router ID, source address and next hop of its blocks.
    #[arg(long)]
    address: Ipv4Addr,
    /// A reflector to peer with (repeat for a redundant pair).
    #[arg(long = "peer", required = true)]
    peers: Vec<IpAddr>,
    /// A pod block of this node to announce (repeatable).
    #[arg(long = "pod-block")]
    blocks: Vec<IpNet>,
    /// Also announce kernel routes inside this pool: blackhole routes as blocks, and
    /// workload routes outside the announced blocks (repeatable).
    #[arg(long = "learn")]
    learn: Vec<IpNet>,
    /// Device name prefix of workload routes, with --learn (default: cali).
    #[arg(long = "workload-devices", default_value = "cali")]
    workload_devices: Vec<String>,
    /// How learned routes go into the kernel.
    #[arg(long, value_enum, default_value = "ipip-cross-subnet")]
    fib: Fib,
    /// Seconds peers keep our routes while we restart (RFC 4724); 0 turns it off.
    #[arg(long, default_value_t = 120)]
    graceful_restart: u16,
    /// This start is a restart: set the Restart State bit and wait for the peers' tables.
    #[arg(long)]
    restarting: bool,
    /// Hold time proposed to the peers, in seconds.
    #[arg(long, default_value_t = 90)]
    hold_time: u16,
    /// Seconds between connection attempts.
    #[arg(long, default_value_t = 5)]
    connect_retry: u64,
}

fn config(a: &Args) -> SpeakerConfig {
    let mut cfg = SpeakerConfig::new(a.asn, a.address);
    for &peer in &a.peers {
        let mut p = PeerSettings::new(peer, a.asn);
        p.local_address = Some(IpAddr::V4(a.address));
        p.graceful_restart = (a.graceful_restart > 0).then_some(a.graceful_restart);
        p.hold_time = a.hold_time;
        p.connect_retry = Some(a.connect_retry);
        cfg.router.peers.push(p);
    }
    let mode = match a.fib {
        Fib::Direct => Some(TunnelMode::Direct),
        Fib::IpipAlways => Some(TunnelMode::IpipAlways),
        Fib::IpipCrossSubnet => Some(TunnelMode::IpipCrossSubnet),
        Fib::Off => None,
    };
    cfg.fib = mode.map(|mode| FibConfig {
        mode,
        ..FibConfig::default()
    });
    if !a.learn.is_empty() {
        cfg.learn = Some(LearnConfig {
            within: a.learn.clone(),
            devices: a.workload_devices.clone(),
            blocks_from_blackholes: true,
            table: 254,
            next_hop: Some(IpAddr::V4(a.address)),
            own_protocol: 186,
        });
    }
    cfg.router.restarting = a.restarting;
    cfg
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let speaker = match Speaker::start(config(&args)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("node-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    for &block in &args.blocks {
        let a = Announcement {
            next_hop: Some(IpAddr::V4(args.address)),
            ..Announcement::default()
        };
        if let Err(e) = speaker.announce(block, a).await {
            eprintln!("node-agent: announcing {block}: {e}");
            return ExitCode::FAILURE;
        }
        println!("announcing {block} via {}", args.address);
    }
    let mut changes = speaker.subscribe();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        eprintln!("node-agent: cannot handle SIGTERM");
        return ExitCode::FAILURE;
    };
    loop {
        tokio::select! {
            c = changes.recv() => match c {
                Ok(c) if c.next_hops.is_empty() => println!("- {}", c.prefix),
                Ok(c) => println!("+ {} via {:?}", c.prefix, c.next_hops),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("(missed {n} changes)");
                }
                Err(_) => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    match speaker.shutdown("node agent stopping").await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("node-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
