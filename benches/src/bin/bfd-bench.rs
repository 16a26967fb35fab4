//! BFD at scale: N single-hop BFD sessions between two of our reflectors, held for a while
//! with no false Down, and the CPU it costs.
//!
//!     cargo build --release -p route-reflector -p benches
//!     sudo target/release/bfd-bench [--sessions 1000] [--interval 100] [--multiplier 3]
//!                                   [--hold 60] [--load THREADS]
//!
//! Two namespaces joined by a veth pair, N addresses on each end (10.50.0.0/17 and
//! 10.50.128.0/17); each side runs `route-reflector` with N passive peers (no BGP
//! session is ever opened) that have BFD at `--interval` ms x `--multiplier`, one session
//! per address pair. Once every session is Up on both sides, they are held `--hold`
//! seconds; then it reports the sessions that went down (a false Down: nothing failed),
//! each reflector's CPU (user + system, from /proc) over the hold, and how late its BFD
//! timers ran (its `bgp_bfd_timer_lateness_seconds` histogram). `--load THREADS` spins that
//! many busy threads in this process during the hold, to measure the timers on a loaded
//! machine. Needs root (namespaces).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Args {
    sessions: u32,
    interval: u64,
    multiplier: u8,
    hold: u64,
    load: usize,
}

fn args() -> Args {
    let mut a = Args {
        sessions: 1000,
        interval: 100,
        multiplier: 3,
        hold: 60,
        load: 0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for pair in v.chunks(2) {
        let val = pair.get(1).map(String::as_str).unwrap_or("");
        let bad = || -> ! {
            eprintln!("bad value for {}: {val:?}", pair[0]);
            std::process::exit(2)
        };
        match pair[0].as_str() {
            "--sessions" => a.sessions = val.parse().unwrap_or_else(|_| bad()),
            "--interval" => a.interval = val.parse().unwrap_or_else(|_| bad()),
            "--multiplier" => a.multiplier = val.parse().unwrap_or_else(|_| bad()),
            "--hold" => a.hold = val.parse().unwrap_or_else(|_| bad()),
            "--load" => a.load = val.parse().unwrap_or_else(|_| bad()),
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2)
            }
        }
    }
    a
}

fn sh(script: &str) -> Result<String, String> {
    let o = Command::new("sh")
        .args(["-c", script])
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!("{script}: {}", String::from_utf8_lossy(&o.stderr)))
    }
}

fn tool(name: &str) -> PathBuf {
    std::env::current_exe()
        .expect("own path")
        .with_file_name(name)
}

/// The i-th address of a side: 10.50.0.0/17 (side 0) or 10.50.128.0/17 (side 1).
fn addr(side: u32, i: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(0x0a32_0000 + side * 0x8000 + 1 + i)
}

/// The namespaces, removed on drop.
struct Lab {
    ns: [String; 2],
    dir: PathBuf,
    procs: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for ns in &self.ns {
            let _ = sh(&format!("ip netns del {ns}"));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn build(a: &Args) -> Result<Lab, String> {
    let pid = std::process::id();
    let ns = [format!("bfdb{pid}a"), format!("bfdb{pid}b")];
    let dir = std::env::temp_dir().join(format!("bfd-bench-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lab = Lab {
        ns: ns.clone(),
        dir: dir.clone(),
        procs: Vec::new(),
    };
    for n in &ns {
        sh(&format!("ip netns add {n} && ip -n {n} link set lo up"))?;
    }
    sh(&format!(
        "ip link add e0 netns {} type veth peer name e0 netns {} && \
         ip -n {} link set e0 up && ip -n {} link set e0 up",
        ns[0], ns[1], ns[0], ns[1]
    ))?;
    for (side, n) in ns.iter().enumerate() {
        // /32 addresses and the other side's /17 through its first address: one neighbour
        // entry per side (the kernel's table is shared by every namespace), no router
        // between them (the TTL stays 255).
        let mut batch: String = (0..a.sessions)
            .map(|i| format!("addr add {}/32 dev e0\n", addr(side as u32, i)))
            .collect();
        let other = 1 - side as u32;
        batch.push_str(&format!(
            "route add {}/17 via {} dev e0 onlink\n",
            std::net::Ipv4Addr::from(0x0a32_0000 + other * 0x8000),
            addr(other, 0)
        ));
        let f = dir.join(format!("addrs{side}"));
        std::fs::write(&f, batch).map_err(|e| e.to_string())?;
        sh(&format!("ip -n {n} -batch {}", f.display()))?;
    }
    Ok(lab)
}

/// One side's reflector config: a passive peer with BFD per address pair.
fn config(a: &Args, side: u32, dir: &Path) -> String {
    let mut c = format!(
        "router_id = \"{}\"\nasn = 65000\nlisten = []\n[metrics]\nlisten = \"127.0.0.1:9180\"\n\
         [admin]\nsocket = \"{}\"\n[bfd]\nmin_rx = {}\nmin_tx = {}\nmultiplier = {}\n",
        addr(side, 0),
        dir.join(format!("rr{side}.sock")).display(),
        a.interval,
        a.interval,
        a.multiplier
    );
    for i in 0..a.sessions {
        c.push_str(&format!(
            "[[client]]\naddress = \"{}\"\nlocal_address = \"{}\"\npassive = true\nbfd = true\n",
            addr(1 - side, i),
            addr(side, i)
        ));
    }
    c
}

/// (sessions Up, sessions that went down since Up) on one side.
fn bfd_counts(dir: &Path, side: u32) -> (usize, u64) {
    let out = Command::new(tool("route-reflector"))
        .args(["show", "peers", "--json", "--socket"])
        .arg(dir.join(format!("rr{side}.sock")))
        .output();
    let Ok(o) = out else { return (0, 0) };
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let peers = v.as_array().cloned().unwrap_or_default();
    let up = peers.iter().filter(|p| p["bfd"]["state"] == "Up").count();
    let downs = peers
        .iter()
        .filter_map(|p| p["bfd"]["down_count"].as_u64())
        .sum();
    (up, downs)
}

fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The lateness histogram of one side: (upper bound, cumulative count) per bucket.
fn lateness(ns: &str) -> Vec<(String, u64)> {
    let text = sh(&format!(
        "ip netns exec {ns} curl -s http://127.0.0.1:9180/metrics"
    ))
    .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("bgp_bfd_timer_lateness_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_string();
            let n = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, n))
        })
        .collect()
}

fn main() {
    let a = args();
    let mut lab = build(&a).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let dir = lab.dir.clone();
    for side in 0..2u32 {
        let file = dir.join(format!("rr{side}.toml"));
        std::fs::write(&file, config(&a, side, &dir)).expect("config");
        let log = std::fs::File::create(dir.join(format!("rr{side}.log"))).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.ns[side as usize]])
            .arg(tool("route-reflector"))
            .arg("run")
            .arg(&file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("route-reflector");
        lab.procs.push(child);
    }
    let n = a.sessions as usize;
    let t = Instant::now();
    loop {
        let (u0, _) = bfd_counts(&dir, 0);
        let (u1, _) = bfd_counts(&dir, 1);
        if u0 == n && u1 == n {
            break;
        }
        if t.elapsed() > Duration::from_secs(120) {
            eprintln!("only {u0} and {u1} of {n} sessions up after 120 s");
            drop(lab);
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "{n} sessions at {} ms x {} up on both sides {:.1} s after the start",
        a.interval,
        a.multiplier,
        t.elapsed().as_secs_f64()
    );
    let pids: Vec<u32> = lab.procs.iter().map(Child::id).collect();
    let cpu0: Vec<Duration> = pids.iter().map(|p| cpu_of(*p)).collect();
    let before: Vec<Vec<(String, u64)>> = lab.ns.iter().map(|ns| lateness(ns)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..a.load)
        .map(|_| {
            let s = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !s.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let held = Instant::now();
    std::thread::sleep(Duration::from_secs(a.hold));
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        let _ = s.join();
    }
    let wall = held.elapsed();
    let cpu1: Vec<Duration> = pids.iter().map(|p| cpu_of(*p)).collect();
    let mut false_downs = 0;
    for side in 0..2u32 {
        let (up, downs) = bfd_counts(&dir, side);
        false_downs += downs;
        let used = cpu1[side as usize].saturating_sub(cpu0[side as usize]);
        println!(
            "side {side}: {up}/{n} up after {:.0} s, {downs} went down; CPU {:.2} s \
             ({:.1}% of one core)",
            wall.as_secs_f64(),
            used.as_secs_f64(),
            100.0 * used.as_secs_f64() / wall.as_secs_f64()
        );
        let after = lateness(&lab.ns[side as usize]);
        let prev = &before[side as usize];
        let total = after.last().map_or(0, |x| x.1) - prev.last().map_or(0, |x| x.1);
        let dist: Vec<String> = after
            .iter()
            .zip(prev.iter().map(|x| x.1).chain(std::iter::repeat(0)))
            .map(|((le, c), p)| {
                let share = if total > 0 {
                    100.0 * (c - p) as f64 / total as f64
                } else {
                    0.0
                };
                format!("<={le}s {share:.2}%")
            })
            .collect();
        println!("  timer lateness over {total} wakeups: {}", dist.join(", "));
    }
    println!("load: {} busy threads; false Downs: {false_downs}", a.load);
    // The namespaces go before the exit status is given.
    drop(lab);
    if false_downs > 0 {
        std::process::exit(1);
    }
}
