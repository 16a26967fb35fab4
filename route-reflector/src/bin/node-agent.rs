//! The node agent: our speaker on a container-network node (see `route_reflector::agent`).
//!
//! ```text
//! node-agent --config /etc/node-agent.toml
//! node-agent --asn 65001 --address 192.168.100.101 [--address6 fd00::101] \
//!     --peer 192.168.100.1 [--peer fd00::1] --pod-block 172.17.8.0/24 \
//!     [--pod-block 2001:db8:8::/64] [--fib direct|ipip-always|ipip-cross-subnet|off] \
//!     [--max-paths 2] [--learn 172.17.0.0/16] [--restarting]
//! node-agent check FILE
//! node-agent show peers|peer ADDR|routes|fib [--json]
//! node-agent reload
//! ```
//!
//! The kernel routes use protocol 186 in the main table: `ip route show proto bgp`.

fn main() -> std::process::ExitCode {
    route_reflector::agent::main()
}
