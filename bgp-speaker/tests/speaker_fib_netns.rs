//! A speaker that programs the kernel, inside a namespace the test creates: learned routes
//! appear as `via NH dev eth0 proto bgp onlink` and go with their withdrawal; after a
//! restart, routes left in the kernel stay until the peers have sent their tables, and then
//! the ones not learned again are removed.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use bgp_speaker::fib::{FibConfig, TunnelMode};
use bgp_speaker::{Announcement, PeerSettings, Speaker, SpeakerConfig};
use common::ip_route;
use tokio::time::{sleep, timeout};

const PORT: u16 = 17180;

fn lo(host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))
}

fn config(host: u8, other: u8, fib: bool) -> SpeakerConfig {
    let mut c = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 0, host));
    c.listen.push(SocketAddr::new(lo(host), PORT));
    let mut p = PeerSettings::new(lo(other), 65000);
    p.port = PORT;
    p.local_address = Some(lo(host));
    p.hold_time = 9;
    p.connect_retry = Some(1);
    p.passive = host > other;
    c.router.peers.push(p);
    if fib {
        c.fib = Some(FibConfig {
            mode: TunnelMode::IpipCrossSubnet,
            ..FibConfig::default()
        });
        c.router.fib_sync_timeout = 30;
    }
    c
}

fn via(nh: &str) -> Announcement {
    Announcement {
        next_hop: Some(nh.parse().unwrap()),
        ..Announcement::default()
    }
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    let r = timeout(Duration::from_secs(20), async {
        while !f() {
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for {what}:\n{}", ip_route());
}

netns_test!(learned_routes_reach_the_kernel, inner_learned_routes, {
    let a = Speaker::start(config(1, 2, false)).await.unwrap();
    let b = Speaker::start(config(2, 1, true)).await.unwrap();
    a.announce("172.17.9.0/24".parse().unwrap(), via("192.168.100.101"))
        .await
        .unwrap();
    a.announce("172.17.20.0/24".parse().unwrap(), via("192.168.200.101"))
        .await
        .unwrap();
    wait_for("both routes in the kernel", || {
        let t = ip_route();
        t.contains("172.17.9.0/24 via 192.168.100.101 dev eth0 onlink")
            && t.contains("172.17.20.0/24 via 192.168.200.101 dev tunl0 onlink")
    })
    .await;
    // Withdrawn: gone from the kernel.
    a.withdraw("172.17.9.0/24".parse().unwrap()).await.unwrap();
    wait_for("the withdrawn route gone", || {
        !ip_route().contains("172.17.9.0/24")
    })
    .await;
    // B's own announcements are not installed by B.
    b.announce("172.17.8.0/24".parse().unwrap(), via("192.168.100.100"))
        .await
        .unwrap();
    sleep(Duration::from_millis(300)).await;
    assert!(!ip_route().contains("172.17.8.0/24"));
    let c = b.fib_counters().await.unwrap().unwrap();
    assert!(c.installed >= 2 && c.deleted >= 1, "{c:?}");
    assert!(c.errors.is_empty(), "{c:?}");
    let text = b.metrics().text();
    assert!(
        text.contains("bgp_fib_operations_total{op=\"install\"}"),
        "{text}"
    );
    // B's own shutdown keeps what it installed (forwarding goes on across a restart).
    b.shutdown("bye").await.unwrap();
    sleep(Duration::from_millis(300)).await;
    assert!(ip_route().contains("172.17.20.0/24"), "{}", ip_route());
    a.shutdown("bye").await.unwrap();
});

netns_test!(shutdown_flushes_when_configured, inner_shutdown_flush, {
    let a = Speaker::start(config(1, 2, false)).await.unwrap();
    let mut cb = config(2, 1, true);
    cb.fib.as_mut().unwrap().flush_on_shutdown = true;
    let b = Speaker::start(cb).await.unwrap();
    // Another daemon's route in the same table must survive the flush.
    assert!(
        std::process::Command::new("ip")
            .args([
                "route",
                "add",
                "10.77.0.0/24",
                "via",
                "192.168.100.102",
                "proto",
                "static"
            ])
            .status()
            .unwrap()
            .success()
    );
    a.announce("172.17.9.0/24".parse().unwrap(), via("192.168.100.101"))
        .await
        .unwrap();
    wait_for("the route in the kernel", || {
        ip_route().contains("172.17.9.0/24 via 192.168.100.101 dev eth0")
    })
    .await;
    b.shutdown("bye").await.unwrap();
    // Deleted before shutdown returned.
    let t = ip_route();
    assert!(!t.contains("172.17.9.0/24"), "{t}");
    let other = std::process::Command::new("ip")
        .args(["route", "show", "proto", "static"])
        .output()
        .unwrap();
    let other = String::from_utf8_lossy(&other.stdout);
    assert!(other.contains("10.77.0.0/24"), "{other}");
    a.shutdown("bye").await.unwrap();
});

netns_test!(restart_keeps_then_reconciles, inner_restart_reconcile, {
    // Routes a previous run left: one that will be learned again, one that will not.
    for cmd in [
        "ip route add 172.17.9.0/24 via 192.168.100.101 dev eth0 proto 186 onlink",
        "ip route add 172.17.50.0/24 via 192.168.100.50 dev eth0 proto 186 onlink",
    ] {
        common::run(cmd);
    }
    let b = Speaker::start(config(2, 1, true)).await.unwrap();
    sleep(Duration::from_millis(300)).await;
    let t = ip_route();
    assert!(
        t.contains("172.17.50.0/24") && t.contains("172.17.9.0/24"),
        "kept while syncing:\n{t}"
    );
    let a = Speaker::start(config(1, 2, false)).await.unwrap();
    a.announce("172.17.9.0/24".parse().unwrap(), via("192.168.100.101"))
        .await
        .unwrap();
    // A sends its table and End-of-RIB: B reconciles, the stale route goes.
    wait_for("the stale route removed", || {
        !ip_route().contains("172.17.50.0/24")
    })
    .await;
    assert!(ip_route().contains("172.17.9.0/24 via 192.168.100.101 dev eth0 onlink"));
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
});

netns_test!(kernel_routes_are_announced, inner_kernel_routes, {
    use bgp_speaker::kernel_routes::LearnConfig;
    let run = common::run;
    // The node agent's work: two workload devices, the node's block as a blackhole, a
    // workload inside the block and one borrowed from another node's block.
    run("ip link add cali1234 type veth peer name cali1234p && ip link set cali1234 up");
    run("ip link add cali5678 type veth peer name cali5678p && ip link set cali5678 up");
    run("ip route add blackhole 172.17.8.0/26");
    run("ip route add 172.17.8.2/32 dev cali1234 scope link");
    run("ip route add 172.17.99.5/32 dev cali5678 scope link");
    // Not a workload device, not in the pools: ignored.
    run("ip route add 172.17.77.0/24 via 192.168.100.1 dev eth0");
    run("ip route add 10.50.0.0/24 dev cali1234 scope link");
    let mut ca = config(1, 2, false);
    ca.learn = Some(LearnConfig {
        within: vec!["172.16.0.0/12".parse().unwrap()],
        devices: vec!["cali".into()],
        blocks_from_blackholes: true,
        table: 254,
        next_hop: Some("192.168.100.100".parse().unwrap()),
        own_protocol: 186,
    });
    let a = Speaker::start(ca).await.unwrap();
    let b = Speaker::start(config(2, 1, false)).await.unwrap();
    let routes = |s: &Speaker| {
        let s = s.clone();
        async move {
            s.best_routes()
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.prefix.to_string())
                .collect::<Vec<_>>()
        }
    };
    let want = vec!["172.17.8.0/26".to_string(), "172.17.99.5/32".to_string()];
    let r = timeout(Duration::from_secs(20), async {
        loop {
            if routes(&b).await == want {
                return;
            }
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "B holds {:?}", routes(&b).await);
    let r = b.best_routes().await.unwrap();
    assert!(
        r.iter()
            .all(|x| x.next_hops == vec!["192.168.100.100".parse::<IpAddr>().unwrap()])
    );
    // The borrowed address goes away: withdrawn.
    run("ip route del 172.17.99.5/32 dev cali5678");
    let r = timeout(Duration::from_secs(20), async {
        while routes(&b).await != vec!["172.17.8.0/26".to_string()] {
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "B holds {:?}", routes(&b).await);
    // The block goes: the workload inside it is announced on its own.
    run("ip route del blackhole 172.17.8.0/26");
    let r = timeout(Duration::from_secs(20), async {
        while routes(&b).await != vec!["172.17.8.2/32".to_string()] {
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "B holds {:?}", routes(&b).await);
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
});

/// The speaker that `killed_speaker_keeps_its_routes` runs in a process of its own and kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run (and killed) by killed_speaker_keeps_its_routes"]
async fn speaker_to_kill() {
    assert!(
        std::env::var("SPEAKER_TO_KILL").is_ok(),
        "run by killed_speaker_keeps_its_routes"
    );
    let mut c = config(2, 1, true);
    c.router.peers[0].graceful_restart = Some(120);
    let _b = Speaker::start(c).await.unwrap();
    sleep(Duration::from_secs(600)).await;
}

netns_test!(killed_speaker_keeps_its_routes, inner_killed_speaker, {
    let mut ca = config(1, 2, false);
    ca.router.peers[0].graceful_restart = Some(120);
    let a = Speaker::start(ca).await.unwrap();
    a.announce("172.17.9.0/24".parse().unwrap(), via("192.168.100.101"))
        .await
        .unwrap();
    a.announce("172.17.60.0/24".parse().unwrap(), via("192.168.100.60"))
        .await
        .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "speaker_to_kill", "--ignored", "--nocapture"])
        .env("SPEAKER_TO_KILL", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the other process installed both routes", || {
        let t = ip_route();
        t.contains("172.17.9.0/24") && t.contains("172.17.60.0/24")
    })
    .await;
    // SIGKILL: no Cease, no cleanup. The kernel keeps forwarding.
    child.kill().unwrap();
    child.wait().unwrap();
    sleep(Duration::from_millis(500)).await;
    let t = ip_route();
    assert!(
        t.contains("172.17.9.0/24") && t.contains("172.17.60.0/24"),
        "kept after the kill:\n{t}"
    );
    // While it is gone one route is withdrawn; the restarted speaker keeps the table until
    // its peer's End-of-RIB, then deletes only what was not learned again.
    a.withdraw("172.17.60.0/24".parse().unwrap()).await.unwrap();
    let mut cb = config(2, 1, true);
    cb.router.peers[0].graceful_restart = Some(120);
    let b = Speaker::start(cb).await.unwrap();
    wait_for("the withdrawn route removed after the resync", || {
        !ip_route().contains("172.17.60.0/24")
    })
    .await;
    assert!(ip_route().contains("172.17.9.0/24 via 192.168.100.101 dev eth0 onlink"));
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
});

// Routes changed through other netlink sockets while the learner dumps the kernel's: their
// notifications carry those sockets' sequence numbers, counted from 1 like the learner's
// own requests, and must be taken as notifications, never as part of the dump's reply
// (on one socket for both, a learner stopped for good with "unexpected message").
netns_test!(
    learning_survives_other_sockets_changing_routes_during_its_dump,
    inner_learning_survives_other_sockets,
    {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

        use bgp_speaker::kernel_routes::LearnConfig;
        use netlink_packet_route::route::RouteType;
        use rtnetlink::RouteMessageBuilder;

        common::run("ip link add cali1 type veth peer name cali1p && ip link set cali1 up");
        let stop = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(AtomicU32::new(0));
        let (s, count) = (stop.clone(), changes.clone());
        let churn = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                // A fresh socket per change: its requests are numbered from 1 again.
                let (conn, handle, _) = rtnetlink::new_connection().unwrap();
                let task = tokio::spawn(conn);
                let n = count.fetch_add(1, Ordering::Relaxed);
                let dst = Ipv4Addr::new(10, 99, (n / 256 % 256) as u8, (n % 256) as u8);
                let m = RouteMessageBuilder::<Ipv4Addr>::new()
                    .destination_prefix(dst, 32)
                    .kind(RouteType::BlackHole)
                    .build();
                let _ = handle.route().add(m.clone()).execute().await;
                let _ = handle.route().del(m).execute().await;
                task.abort();
            }
        });
        for round in 0..6u8 {
            let mut c = config(1, 2, false);
            c.listen.clear();
            c.router.peers.clear();
            c.learn = Some(LearnConfig {
                within: vec!["172.16.0.0/12".parse().unwrap()],
                devices: vec!["cali".into()],
                blocks_from_blackholes: true,
                table: 254,
                next_hop: None,
                own_protocol: 186,
            });
            let a = Speaker::start(c).await.unwrap();
            sleep(Duration::from_millis(300)).await;
            // Learned after the dump: the learner is still watching.
            let block = format!("172.17.{round}.0/26");
            common::run(&format!("ip route add blackhole {block}"));
            let learned = timeout(Duration::from_secs(10), async {
                loop {
                    let r = a.best_routes().await.unwrap();
                    if r.iter().any(|x| x.prefix.to_string() == block) {
                        return;
                    }
                    sleep(Duration::from_millis(50)).await;
                }
            })
            .await;
            assert!(learned.is_ok(), "round {round}: {block} not learned");
            a.shutdown("bye").await.unwrap();
            common::run(&format!("ip route del blackhole {block}"));
        }
        stop.store(true, Ordering::Relaxed);
        churn.await.unwrap();
        assert!(changes.load(Ordering::Relaxed) > 100, "the churn ran");
    }
);
