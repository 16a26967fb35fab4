//! A node agent in a few lines: peer with the rack's route reflector, announce this node's
//! pod block, install what the other nodes announce into the kernel (IPIP cross-subnet), and
//! print the changes. Stops on SIGINT or SIGTERM with an administrative shutdown (with
//! graceful restart, peers keep its routes for the restart time).
//!
//! ```text
//! cargo run -p bgp-speaker --example node_agent -- \
//!     --asn 65000 --address 192.168.100.100 --reflector 192.168.100.1 \
//!     --pod-block 172.17.8.0/24 [--no-fib]
//! ```
//!
//! The kernel routes use protocol 186 in the main table: `ip route show proto bgp`.

use std::net::{IpAddr, Ipv4Addr};

use bgp_speaker::fib::{FibConfig, TunnelMode};
use bgp_speaker::{Announcement, PeerSettings, Speaker, SpeakerConfig};
use ipnet::IpNet;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn usage() -> ! {
    eprintln!(
        "usage: node_agent --asn ASN --address NODE_IP --reflector RR_IP --pod-block PREFIX [--no-fib]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let asn: u32 = arg(&args, "--asn")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());
    let node: Ipv4Addr = arg(&args, "--address")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());
    let rr: IpAddr = arg(&args, "--reflector")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());
    let block: IpNet = arg(&args, "--pod-block")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());

    let mut cfg = SpeakerConfig::new(asn, node);
    let mut reflector = PeerSettings::new(rr, asn);
    reflector.local_address = Some(IpAddr::V4(node));
    reflector.graceful_restart = Some(120);
    cfg.peers.push(reflector);
    if !args.iter().any(|a| a == "--no-fib") {
        cfg.fib = Some(FibConfig {
            mode: TunnelMode::IpipCrossSubnet,
            ..FibConfig::default()
        });
    }
    let speaker = match Speaker::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("node_agent: {e}");
            std::process::exit(1);
        }
    };
    // Our pod block, with this node as next hop.
    let announced = speaker
        .announce(
            block,
            Announcement {
                next_hop: Some(IpAddr::V4(node)),
                ..Announcement::default()
            },
        )
        .await;
    if let Err(e) = announced {
        eprintln!("node_agent: {e}");
        std::process::exit(1);
    }
    println!("announcing {block} via {node}; watching routes (Ctrl-C to stop)");
    let mut changes = speaker.subscribe();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        eprintln!("node_agent: cannot handle SIGTERM");
        std::process::exit(1);
    };
    loop {
        tokio::select! {
            c = changes.recv() => match c {
                Ok(c) if c.next_hops.is_empty() => println!("- {}", c.prefix),
                Ok(c) => println!("+ {} via {:?}", c.prefix, c.next_hops),
                Err(e) => eprintln!("(missed changes: {e})"),
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    let _ = speaker.shutdown("node agent stopping").await;
}
