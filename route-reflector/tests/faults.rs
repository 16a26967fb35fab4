//! The fault matrix: our reflector and three node agents on one segment, each fault
//! injected for real in the namespaces (links down, nftables loss and resets, frozen and
//! vanished peers), then the exact route set checked in every node's kernel and in the
//! reflector's RIB: nothing lost, nothing stale.
//!
//! Every test also bounds the reflector's resources across its fault: open descriptors at
//! most [`FD_SLACK`] above what they were before it, resident memory at most [`RSS_SLACK_KIB`]
//! above (three routes; the fault only replaces sessions and their buffers).

mod segment;

use std::process::Command;
use std::time::Duration;

use segment::*;

const NODES: [u8; 3] = [2, 3, 4];

/// Descriptors the reflector may hold above its count before a fault, once converged: a
/// replaced session's connection closing, an admin connection being answered.
const FD_SLACK: usize = 3;

/// Resident memory the reflector may gain across a fault, in KiB: new sessions' buffers
/// and the allocator's slack, for three routes.
const RSS_SLACK_KIB: u64 = 4 * 1024;

/// The reflector's resident memory (KiB) and open descriptors.
fn resources(rr: &Ours) -> (u64, usize) {
    let pid = rr.proc.pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss, fds)
}

/// The reflector at 10.11.0.1 and agents at .2, .3 and .4, each announcing 172.17.N.0/24.
struct Fabric {
    seg: Segment,
    cfg: String,
    rr: Ours,
    _rr_ns: Ns,
    nodes: Vec<(Ns, Proc)>,
    /// The reflector's RSS (KiB) and descriptors once the fabric first converged.
    before: (u64, usize),
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
        let mut f = Fabric {
            seg,
            cfg,
            rr,
            _rr_ns: rr_ns,
            nodes,
            before: (0, 0),
        };
        f.converged("the fabric");
        f.before = resources(&f.rr);
        f
    }

    /// After the fault: the reflector's descriptors back within [`FD_SLACK`] of their count
    /// before it (waiting for closing connections to go) and its RSS within
    /// [`RSS_SLACK_KIB`]; no panic in its log.
    fn check_resources(&self, what: &str) {
        let (rss0, fds0) = self.before;
        let settled = wait_for(WAIT, || resources(&self.rr).1 <= fds0 + FD_SLACK);
        let (rss, fds) = resources(&self.rr);
        eprintln!(
            "{what}: reflector RSS {rss0} KiB -> {rss} KiB, fds {fds0} -> {fds} (settled in \
             {settled:?})"
        );
        assert!(
            fds <= fds0 + FD_SLACK,
            "{what}: fds {fds0} -> {fds}\n{}",
            self.seg.logs()
        );
        assert!(
            rss <= rss0 + RSS_SLACK_KIB,
            "{what}: RSS {rss0} KiB -> {rss} KiB"
        );
        let log = std::fs::read_to_string(self.seg.path("rr.log")).unwrap_or_default();
        assert!(
            !log.contains("panicked"),
            "{what}: a panic in the reflector"
        );
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
    f.check_resources("link down 10 s");
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
    f.check_resources("SIGSTOP past the hold time");
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
    f.check_resources("TCP resets");
}

/// How long each loss rate is applied.
const LOSS_SECONDS: u64 = 60;

/// Packet loss at `percent` on everything the reflector sends and receives, for
/// [`LOSS_SECONDS`], while node 4 restarts (its block withdrawn and announced again through
/// the loss). With `converge_under_loss`, the exact routes must be reached before the loss
/// is lifted.
fn lossy(f: &mut Fabric, percent: u8, converge_under_loss: bool) {
    let rule = format!("numgen random mod 100 < {percent} drop");
    f.nft(
        &f._rr_ns,
        &format!(
            "table inet loss {{\n chain input {{\n  type filter hook input priority 0;\n  \
             {rule}\n }}\n chain output {{\n  type filter hook output priority 0;\n  {rule}\n \
             }}\n}}"
        ),
    );
    let start = std::time::Instant::now();
    sleep(10);
    assert!(f.nodes[2].1.stop(), "node 4's agent stops");
    sleep(10);
    f.nodes[2].1 = start_agent(&f.seg, &f.nodes[2].0, 4);
    if converge_under_loss {
        f.converged(&format!("node 4's restart under {percent}% loss"));
    }
    let left = Duration::from_secs(LOSS_SECONDS).saturating_sub(start.elapsed());
    std::thread::sleep(left);
    f._rr_ns.sh("nft delete table inet loss").unwrap();
    f.converged(&format!("{percent}% loss"));
    f.check_resources(&format!("{percent}% loss for {LOSS_SECONDS} s"));
}

/// 10% and 30% loss, 60 s each, in two fabrics at once (the wall time of one).
#[test]
fn ten_and_thirty_percent_loss() {
    if !can_run(false, false, false) {
        return;
    }
    let ten = std::thread::spawn(|| {
        let mut f = Fabric::new("fp");
        lossy(&mut f, 10, true);
        let counts = f.established_counts();
        assert_eq!(
            (counts[0], counts[1]),
            (1, 1),
            "10% loss took a session down: {counts:?}"
        );
    });
    let thirty = std::thread::spawn(|| {
        let mut f = Fabric::new("fq");
        lossy(&mut f, 30, false);
    });
    let (a, b) = (ten.join(), thirty.join());
    if let Err(e) = a.and(b) {
        std::panic::resume_unwind(e);
    }
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
    f.check_resources("a half-open connection");
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
    f.check_resources("SIGKILL and a restart");
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
    f.check_resources("an OPEN collision");
}
