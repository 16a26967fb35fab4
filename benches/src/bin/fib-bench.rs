//! Kernel FIB throughput: install then delete 100,000 routes in a network namespace, side
//! by side with `ip -batch` and BIRD 2's kernel protocol, same routes, same table.
//!
//!     cargo build --release -p benches --bin fib-bench
//!     sudo target/release/fib-bench [ROUTES] [--batch N]   (N writes per netlink datagram)
//!
//! Needs root, iproute2 and (for the BIRD column) bird2. The namespace is created and removed
//! by the tool; nothing outside it is touched.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bgp_speaker::fib::{Fib, FibConfig, TunnelMode};
use ipnet::{IpNet, Ipv4Net};

const INNER: &str = "FIB_BENCH_INNER";

fn prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap()))
        .collect()
}

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

/// Routes of a protocol in the main table, counted through our own netlink dump.
async fn count(proto: u8) -> usize {
    let fib = Fib::new(FibConfig {
        protocol: proto,
        ..FibConfig::default()
    })
    .await
    .unwrap();
    fib.routes().await.map(|r| r.len()).unwrap_or(0)
}

async fn wait_count(proto: u8, want: usize, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if count(proto).await == want {
            return Some(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// User and system CPU time of this process so far, from /proc (10 ms resolution).
fn cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let tick = |t: u64| Duration::from_millis(t * 10);
    (
        tick(*f.get(11).unwrap_or(&0)),
        tick(*f.get(12).unwrap_or(&0)),
    )
}

fn rate(n: u32, d: Duration) -> f64 {
    f64::from(n) / d.as_secs_f64()
}

async fn inner(n: u32, batch: usize) {
    let nets = prefixes(n);
    let nh: IpAddr = "192.168.100.101".parse().unwrap();

    // Ours.
    let fib = Fib::new(FibConfig {
        mode: TunnelMode::Direct,
        batch,
        ..FibConfig::default()
    })
    .await
    .unwrap();
    let adds: Vec<(IpNet, Vec<IpAddr>)> = nets.iter().map(|p| (*p, vec![nh])).collect();
    let dels: Vec<(IpNet, Vec<IpAddr>)> = nets.iter().map(|p| (*p, vec![])).collect();
    let ru0 = cpu();
    let t = Instant::now();
    let r = fib.apply(&adds).await;
    let ours_add = t.elapsed();
    let ru1 = cpu();
    let add_cpu = (ru1.0 - ru0.0, ru1.1 - ru0.1);
    assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    assert_eq!(count(186).await, n as usize, "every route installed");
    let ru0 = cpu();
    let t = Instant::now();
    let r = fib.apply(&dels).await;
    let ours_del = t.elapsed();
    let ru1 = cpu();
    // Where our deletes spend their time: in the kernel or in this process.
    let del_cpu = (ru1.0 - ru0.0, ru1.1 - ru0.1);
    assert!(r.errors.is_empty());
    assert_eq!(count(186).await, 0);

    // ip -batch (one request in flight).
    let mut add = String::new();
    let mut del = String::new();
    for p in &nets {
        add.push_str(&format!(
            "route add {p} via 192.168.100.101 dev eth0 proto 186 onlink\n"
        ));
        del.push_str(&format!("route del {p} proto 186\n"));
    }
    let dir = std::env::temp_dir().join(format!("fib-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("add"), add).unwrap();
    std::fs::write(dir.join("del"), del).unwrap();
    let t = Instant::now();
    assert!(sh(&format!("ip -batch {}", dir.join("add").display())));
    let ip_add = t.elapsed();
    let t = Instant::now();
    assert!(sh(&format!("ip -batch {}", dir.join("del").display())));
    let ip_del = t.elapsed();

    // BIRD 2: static routes exported by its kernel protocol (proto bird = 12).
    let bird = Command::new("bird")
        .arg("--version")
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let mut bird_times = None;
    if bird {
        let mut conf = String::from(
            "router id 192.168.100.100;\nprotocol device {}\n\
             protocol kernel { ipv4 { export all; import none; }; }\n\
             protocol static s4 { disabled; ipv4;\n",
        );
        for p in &nets {
            conf.push_str(&format!("  route {p} via 192.168.100.101;\n"));
        }
        conf.push_str("}\n");
        let cfg = dir.join("bird.conf");
        let sock = dir.join("bird.ctl");
        std::fs::write(&cfg, conf).unwrap();
        let mut child = Command::new("bird")
            .args([
                "-f",
                "-c",
                cfg.to_str().unwrap(),
                "-s",
                sock.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let birdc = |cmd: &str| {
            Command::new("birdc")
                .args(["-s", sock.to_str().unwrap(), cmd])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let up = Instant::now();
        while !birdc("show status") && up.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let t = Instant::now();
        birdc("enable s4");
        let add = wait_count(12, n as usize, Duration::from_secs(120))
            .await
            .map(|_| t.elapsed());
        let t = Instant::now();
        birdc("disable s4");
        let del = wait_count(12, 0, Duration::from_secs(120))
            .await
            .map(|_| t.elapsed());
        let _ = child.kill();
        let _ = child.wait();
        bird_times = add.zip(del);
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!("Kernel FIB: {n} IPv4 routes, install then delete (one namespace, one table)");
    println!("{:<26} {:>14} {:>14}", "", "install/s", "delete/s");
    println!(
        "{:<26} {:>14.0} {:>14.0}",
        format!("ours ({batch} per datagram)"),
        rate(n, ours_add),
        rate(n, ours_del)
    );
    println!(
        "{:<26} {:>14} {:>14}",
        "  ours CPU user/kernel ms",
        format!("{}/{}", add_cpu.0.as_millis(), add_cpu.1.as_millis()),
        format!("{}/{}", del_cpu.0.as_millis(), del_cpu.1.as_millis())
    );
    println!(
        "{:<26} {:>14.0} {:>14.0}",
        "ip -batch",
        rate(n, ip_add),
        rate(n, ip_del)
    );
    match bird_times {
        Some((a, d)) => {
            println!(
                "{:<26} {:>14.0} {:>14.0}",
                "BIRD 2 kernel protocol",
                rate(n, a),
                rate(n, d)
            );
            println!(
                "ours / BIRD: install {:.2}x, delete {:.2}x; ours / ip -batch: install {:.2}x, delete {:.2}x",
                a.as_secs_f64() / ours_add.as_secs_f64(),
                d.as_secs_f64() / ours_del.as_secs_f64(),
                ip_add.as_secs_f64() / ours_add.as_secs_f64(),
                ip_del.as_secs_f64() / ours_del.as_secs_f64()
            );
        }
        None => println!("BIRD 2: not installed or did not converge (apt-get install bird2)"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let batch: usize = args
        .iter()
        .position(|a| a == "--batch")
        .and_then(|i| args.get(i + 1))
        .and_then(|a| a.parse().ok())
        .unwrap_or(128);
    if std::env::var(INNER).is_ok() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(inner(n, batch));
        return;
    }
    let ns = format!("fibbench-{}", std::process::id());
    assert!(sh(&format!("ip netns add {ns}")), "needs root and iproute2");
    let setup = sh(&format!(
        "ip netns exec {ns} sh -c 'ip link set lo up && ip link add eth0 type veth peer name eth0p && \
         ip addr add 192.168.100.100/24 dev eth0 && ip link set eth0 up && ip link set eth0p up'"
    ));
    let status = setup.then(|| {
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(&args)
            .env(INNER, "1")
            .status()
    });
    let _ = sh(&format!("ip netns del {ns}"));
    assert!(setup, "namespace setup failed");
    assert!(
        status.is_some_and(|s| s.is_ok_and(|s| s.success())),
        "the benchmark failed"
    );
}
