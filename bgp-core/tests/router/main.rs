//! The router on a virtual clock: sessions, routes, limits, graceful restart, dynamic
//! peers, refresh, run-time changes and backpressure, between routers and scripted
//! sessions in memory. Deterministic: no sockets, no sleeps.

#[path = "../world/mod.rs"]
mod world;

mod backpressure;
mod damping;
mod dynamic;
mod paths;
mod refresh;
mod restart;
mod sessions;

use std::time::Duration;

use bgp_core::router::{Announcement, Event, PeerUpdate, RouterError};
use world::{World, config, prefixes};

const SEC: Duration = Duration::from_secs(1);

fn via(nh: &str) -> Announcement {
    Announcement {
        next_hop: Some(nh.parse().unwrap()),
        ..Announcement::default()
    }
}

/// Two iBGP routers, A (10.0.0.1) and B (10.0.0.2), up.
fn pair() -> World {
    let mut w = World::new();
    w.add(
        "10.0.0.1",
        config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]),
    );
    w.add(
        "10.0.0.2",
        config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "both established", |w| {
        w.established(0) == 1 && w.established(1) == 1
    });
    w
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn learned_prefixes(w: &World, n: usize) -> Vec<ipnet::IpNet> {
    w.nodes[n]
        .router
        .best_routes()
        .into_iter()
        .filter(|r| r.from.is_some())
        .map(|r| r.prefix)
        .collect()
}

/// A scripted client with or without graceful restart, and with or without RFC 8538's N bit.
fn raw_client(gr: Option<bool>) -> bgp_core::session::SessionConfig {
    use bgp_core::session::{GracefulRestartConfig, PeerAs, SessionConfig};
    let mut sc = SessionConfig::new(65000, "10.0.0.9".parse().unwrap(), PeerAs::Is(65000));
    sc.hold_time = 9;
    sc.connect_retry = SEC;
    sc.graceful_restart = gr.map(|notification| GracefulRestartConfig {
        restart_time: 60,
        restarting: false,
        forwarding_preserved: Vec::new(),
        notification,
    });
    sc
}
