//! The fault matrix: our reflector and three node agents on one segment, each fault
//! injected for real in the namespaces (links down, nftables loss and resets, frozen and
//! vanished peers), then the exact route set checked in every node's kernel and in the
//! reflector's RIB: nothing lost, nothing stale.
//!
//! Shortened for CI: loss runs 20 s at each rate (the design asks 60 s).

mod segment;

use std::process::Command;
use std::time::Duration;

use segment::*;

const NODES: [u8; 3] = [2, 3, 4];

/// The reflector at 10.11.0.1 and agents at .2, .3 and .4, each announcing 172.17.N.0/24.
struct Fabric {
    seg: Segment,
    cfg: String,
    rr: Ours,
    _rr_ns: Ns,
    nodes: Vec<(Ns, Proc)>,
}

impl Fabric {
    fn new(test: &str) -> Fabric {
        let seg = Segment::new(test);
        let rr_ns = seg.host("rr", 1);
        let mut cfg = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
        // The clients keep our routes 10 s while we restart.
        cfg.push_str("[graceful_restart]\nrestart_time = 10\n");
        for n in NODES {
            cfg.push_str(&format!("[[client]]\naddress = \"10.11.0.{n}\"\n"));
        }
        let rr = seg.reflector(&rr_ns, "rr", &cfg, false);
        let nodes = NODES
            .iter()
            .map(|&n| {
                let ns = seg.host(&format!("n{n}"), n);
                let agent = start_agent(&seg, &ns, n);
                (ns, agent)
            })
            .collect();
        let f = Fabric {
            seg,
            cfg,
            rr,
            _rr_ns: rr_ns,
            nodes,
        };
        f.converged("the fabric");
        f
    }

    fn ns(&self, n: u8) -> &Ns {
        &self.nodes[usize::from(n - 2)].0
    }

    /// Waits until every node's kernel holds exactly the other nodes' blocks, and the
    /// reflector exactly the three blocks with one path each.
    fn converged(&self, what: &str) {
        self.seg
            .wait(&format!("exact routes after {what}"), || self.exact());
    }

    fn exact(&self) -> bool {
        let kernels = NODES.iter().all(|&n| {
            let mut want: Vec<String> = NODES
                .iter()
                .filter(|&&m| m != n)
                .map(|m| format!("172.17.{m}.0/24 via 10.11.0.{m}"))
                .collect();
            let mut got = kernel_routes(self.ns(n));
            want.sort();
            got.sort();
            got == want
        });
        kernels
            && NODES
                .iter()
                .all(|m| self.rr.paths(&format!("172.17.{m}.0/24")).len() == 1)
            && self.rr.json(&["show", "summary"])["summary"]["prefixes"] == 3
    }

    fn nft(&self, ns: &Ns, script: &str) {
        ns.sh(&format!("nft -f - <<'EOF'\n{script}\nEOF")).unwrap();
    }

    fn established_counts(&self) -> Vec<u64> {
        NODES
            .iter()
            .map(|n| {
                self.rr.peer(&format!("10.11.0.{n}"))["established_count"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// Node `n`'s agent: hold time 9 s, and its routes kept 4 s by the reflector when it goes
/// without a word (graceful restart), so that a fault's stale routes go within the test.
fn start_agent(seg: &Segment, ns: &Ns, n: u8) -> Proc {
    let mut cmd = Command::new(AGENT);
    cmd.args(["--asn", "65000", "--address", &format!("10.11.0.{n}")])
        .args([
            "--peer",
            "10.11.0.1",
            "--pod-block",
            &format!("172.17.{n}.0/24"),
        ])
        .args([
            "--fib",
            "direct",
            "--hold-time",
            "9",
            "--connect-retry",
            "1",
        ])
        .args(["--graceful-restart", "4"])
        .env("RUST_LOG", "info");
    let name = format!("agent{n}");
    ns.spawn(&name, &mut cmd, &seg.path(&format!("{name}.log")))
        .unwrap()
}

fn sleep(s: u64) {
    std::thread::sleep(Duration::from_secs(s));
}

#[test]
fn link_down_ten_seconds_and_back() {
    if !can_run(false, false, false) {
        return;
    }
    let f = Fabric::new("fl");
    f.seg.hub.sh("ip link set h2 down").unwrap();
    sleep(10);
    // Past the hold time and the 3 s of stale routes: node 2's block is gone elsewhere.
    f.seg.wait("node 2's block withdrawn", || {
        !kernel_routes(f.ns(3))
            .iter()
            .any(|r| r.starts_with("172.17.2.0/24"))
    });
    f.seg.hub.sh("ip link set h2 up").unwrap();
    f.converged("the link came back");
}

#[test]
fn a_peer_frozen_past_its_hold_time_then_thawed() {
    if !can_run(false, false, false) {
        return;
    }
    let f = Fabric::new("fs");
    let pid = f.nodes[0].1.pid().unwrap().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    f.seg
        .wait("node 2's block withdrawn while it is frozen", || {
            !kernel_routes(f.ns(3))
                .iter()
                .any(|r| r.starts_with("172.17.2.0/24"))
        });
    sleep(3);
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    f.converged("SIGCONT");
    assert!(
        f.established_counts()[0] >= 2,
        "node 2 came back in a new session"
    );
}

#[test]
fn tcp_resets_injected_with_nftables() {
    if !can_run(false, false, false) {
        return;
    }
    let f = Fabric::new("fr");
    let rr_ns = &f._rr_ns;
    // Every BGP segment from node 3 (whichever side opened the connection) is answered
    // with a reset, for 5 s.
    f.nft(
        rr_ns,
        "table inet inject {\n chain input {\n  type filter hook input priority 0;\n  \
         ip saddr 10.11.0.3 tcp dport 179 reject with tcp reset\n  \
         ip saddr 10.11.0.3 tcp sport 179 reject with tcp reset\n }\n}",
    );
    sleep(5);
    rr_ns.sh("nft delete table inet inject").unwrap();
    // Our side learns of it at its next write, answered by node 3 with a reset.
    f.seg.wait("node 3's session reset and up again", || {
        f.established_counts()[1] >= 2 && f.rr.established("10.11.0.3")
    });
    f.converged("the resets stopped");
    let counts = f.established_counts();
    assert_eq!(
        (counts[0], counts[2]),
        (1, 1),
        "the others were not: {counts:?}"
    );
}

/// Packet loss at `percent` on everything the reflector sends and receives, for 20 s,
/// while node 4 restarts (its block withdrawn and announced again through the loss).
fn lossy(f: &mut Fabric, percent: u8) {
    let rule = format!("numgen random mod 100 < {percent} drop");
    f.nft(
        &f._rr_ns,
        &format!(
            "table inet loss {{\n chain input {{\n  type filter hook input priority 0;\n  \
             {rule}\n }}\n chain output {{\n  type filter hook output priority 0;\n  {rule}\n \
             }}\n}}"
        ),
    );
    sleep(5);
    assert!(f.nodes[2].1.stop(), "node 4's agent stops");
    sleep(5);
    f.nodes[2].1 = start_agent(&f.seg, &f.nodes[2].0, 4);
    sleep(10);
    f._rr_ns.sh("nft delete table inet loss").unwrap();
    f.converged(&format!("{percent}% loss"));
}

#[test]
fn ten_and_thirty_percent_loss() {
    if !can_run(false, false, false) {
        return;
    }
    let mut f = Fabric::new("fp");
    lossy(&mut f, 10);
    let counts = f.established_counts();
    assert_eq!(
        (counts[0], counts[1]),
        (1, 1),
        "10% loss took a session down: {counts:?}"
    );
    lossy(&mut f, 30);
}

#[test]
fn a_half_open_connection_when_the_peer_vanishes() {
    if !can_run(false, false, false) {
        return;
    }
    let f = Fabric::new("fh");
    // Node 2's end of the segment goes with its veth: no FIN, no reset, nothing.
    f.seg.hub.sh("ip link del h2").unwrap();
    f.seg
        .wait("the reflector drops node 2 by its hold timer", || {
            !f.rr.established("10.11.0.2")
        });
    f.seg.wait("exactly nodes 3 and 4 left", || {
        let three = kernel_routes(f.ns(3));
        let four = kernel_routes(f.ns(4));
        three == ["172.17.4.0/24 via 10.11.0.4"]
            && four == ["172.17.3.0/24 via 10.11.0.3"]
            && f.rr.json(&["show", "summary"])["summary"]["prefixes"] == 2
    });
}

#[test]
fn the_reflector_killed_and_restarted_while_its_clients_keep_its_routes() {
    if !can_run(false, false, false) {
        return;
    }
    let mut f = Fabric::new("fk");
    let watch = RouteWatch::start(&f.ns(3).name, "172.17.2.0/24");
    assert!(!f.rr.proc.stop_with("-KILL"), "SIGKILL");
    sleep(1);
    f.rr = f.seg.reflector(&f._rr_ns, "rr", &f.cfg, true);
    f.converged("the restart");
    sleep(1);
    let (missed, polls) = watch.finish();
    assert!(polls > 50, "{polls} polls");
    assert_eq!(
        missed, 0,
        "node 3 lost node 2's block during the restart ({polls} polls)"
    );
}

#[test]
fn an_open_collision_with_both_sides_connecting() {
    if !can_run(false, false, false) {
        return;
    }
    let mut f = Fabric::new("fc");
    // For 3 s nothing passes between the reflector and node 2, whose agent restarts and
    // whose session the reflector resets: both sides connect, and their SYNs (sent again
    // by TCP) get through together once the way is open.
    f.nft(
        &f._rr_ns,
        "table inet cut {\n chain input {\n  type filter hook input priority 0;\n  \
         ip saddr 10.11.0.2 drop\n }\n chain output {\n  type filter hook output priority 0;\n  \
         ip daddr 10.11.0.2 drop\n }\n}",
    );
    f.nodes[0].1.stop_with("-KILL");
    f.rr.cli(&["peer", "10.11.0.2", "reset"]);
    f.nodes[0].1 = start_agent(&f.seg, &f.nodes[0].0, 2);
    sleep(3);
    f._rr_ns.sh("nft delete table inet cut").unwrap();
    f.converged("the collision");
    let counts = f.established_counts();
    assert!(counts[0] >= 2, "{counts:?}");
    assert_eq!((counts[1], counts[2]), (1, 1), "{counts:?}");
    let p = f.rr.peer("10.11.0.2");
    assert_eq!(p["established"], true, "{p}");
}
