//! The world of the hostile-peer and exhaustion tests: our reflector in a namespace, a
//! scripted bystander with 10,000 routes, and a hostile namespace that owns every address
//! of 10.12.0.0/16 (a `[[client_range]]`) and of 10.13.0.0/16 (configured nowhere).

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::cases::ASN;
use super::raw::{self, Got, Raw, connect, ibgp_attrs, keepalive, open, prefix, update};
use super::segment::*;

pub const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 1);
pub const BYSTANDER: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 4);
pub const BYSTANDER_ROUTES: usize = 10_000;

/// Our reflector, a bystander with 10,000 routes at 10.11.0.4, and a hostile namespace that
/// owns every address of 10.12.0.0/16 (a `[[client_range]]` of the reflector).
pub struct World {
    pub seg: Segment,
    pub rr: Ours,
    pub rr_ns: Ns,
    _by_ns: Ns,
    pub hostile: Ns,
    pub bystander: Bystander,
}

impl World {
    pub fn new(test: &str, extra: &str) -> World {
        World::with(test, 100, extra, "")
    }

    /// With a range of `max` peers, `extra` config appended, and `prefix` before the
    /// reflector's command (`prlimit ...`).
    pub fn with(test: &str, max: usize, extra: &str, wrap: &str) -> World {
        World::build(test, max, "", extra, wrap)
    }

    /// As [`World::with`], with `top` (keys of no table) at the head of the file.
    pub fn build(test: &str, max: usize, top: &str, extra: &str, wrap: &str) -> World {
        let seg = Segment::new(test);
        let rr_ns = seg.host("rr", 1);
        let by_ns = seg.host("by", 4);
        let hostile = seg.host("bad", 5);
        hostile
            .sh("ip route add local 10.12.0.0/16 dev lo; ip route add local 10.13.0.0/16 dev lo")
            .unwrap();
        // 10.12.0.0/16 and 10.13.0.0/16.
        rr_ns.sh("ip route add 10.12.0.0/15 via 10.11.0.5").unwrap();
        let mut cfg = top.to_string();
        cfg.push_str(
            &reflector_head("10.11.0.1", ASN, &seg.dir, "rr")
                .replace("listen = \"\"", "listen = \"127.0.0.1:9179\""),
        );
        cfg.push_str(&format!(
            "[[client]]\naddress = \"10.11.0.4\"\npassive = true\n\
             [[client_range]]\nrange = \"10.12.0.0/16\"\nmax = {max}\n{extra}"
        ));
        let rr = if wrap.is_empty() {
            seg.reflector(&rr_ns, "rr", &cfg, false)
        } else {
            wrapped(&seg, &rr_ns, &cfg, wrap)
        };
        let bystander = Bystander::start(&by_ns.name, BYSTANDER_ROUTES);
        seg.wait("the bystander's 10,000 routes", || {
            rr.peer("10.11.0.4")["accepted"] == BYSTANDER_ROUTES as u64
        });
        World {
            seg,
            rr,
            rr_ns,
            _by_ns: by_ns,
            hostile,
            bystander,
        }
    }

    /// The bystander is still in its first session with all its routes.
    pub fn check_bystander(&self) {
        let p = self.rr.peer("10.11.0.4");
        assert_eq!(p["established"], true, "{p}");
        assert_eq!(p["established_count"], 1, "{p}");
        assert_eq!(p["accepted"], BYSTANDER_ROUTES as u64, "{p}");
        assert!(
            !self.bystander.lost.load(Ordering::Relaxed),
            "the bystander lost its session"
        );
    }
}

/// A scripted peer at 10.11.0.4: announces `routes` /24s from 10.100.0.0 up, then reads all
/// and sends a KEEPALIVE every second until dropped.
pub struct Bystander {
    stop: Arc<AtomicBool>,
    pub lost: Arc<AtomicBool>,
    pub updates: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bystander {
    fn start(ns: &str, routes: usize) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        let updates = Arc::new(AtomicU64::new(0));
        let (s, l, u) = (stop.clone(), lost.clone(), updates.clone());
        let path = format!("/var/run/netns/{ns}");
        let thread = std::thread::spawn(move || {
            raw::enter(&path);
            let deadline = Instant::now() + WAIT;
            let sock = loop {
                match connect(BYSTANDER, RR_ADDR) {
                    Ok(s) => break s,
                    Err(e) if Instant::now() > deadline => panic!("the bystander: {e}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            };
            let mut r = Raw::new(sock);
            r.handshake(&open(ASN, 90, BYSTANDER))
                .expect("bystander session");
            let nlri: Vec<Vec<u8>> = (0..routes)
                .map(|i| prefix(Ipv4Addr::new(10, 100 + (i / 256) as u8, i as u8, 0), 24))
                .collect();
            for chunk in nlri.chunks(900) {
                r.send(&update(&[], &ibgp_attrs(BYSTANDER), &chunk.concat()));
            }
            let mut last = Instant::now();
            while !s.load(Ordering::Relaxed) {
                match r.read(Duration::from_millis(200)) {
                    Got::Msg { kind: 2, .. } => {
                        u.fetch_add(1, Ordering::Relaxed);
                    }
                    Got::Closed | Got::Msg { kind: 3, .. } => {
                        l.store(true, Ordering::Relaxed);
                        return;
                    }
                    _ => {}
                }
                if last.elapsed() > Duration::from_secs(1) {
                    r.send(&keepalive());
                    last = Instant::now();
                }
            }
        });
        Bystander {
            stop,
            lost,
            updates,
            thread: Some(thread),
        }
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `prefix` is in the reflector's RIB (the CLI over the admin socket).
pub fn in_rib(socket: &Path, prefix: &str) -> bool {
    let out = Command::new(RR)
        .args(["show", "routes", prefix, "--json", "--socket"])
        .arg(socket)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v.as_array().is_some_and(|a| {
        a.iter()
            .any(|r| r["prefix"] == prefix && r["paths"].as_array().is_some_and(|p| !p.is_empty()))
    })
}

/// A session from `src` in the hostile namespace (the calling thread must be in it).
pub fn session(src: Ipv4Addr, hold: u16) -> Raw {
    let mut r = Raw::new(connect(src, RR_ADDR).expect("connect"));
    r.handshake(&open(ASN, hold, src)).expect("session");
    r
}

/// Runs `f` on a thread in the hostile namespace.
pub fn hostile<T: Send + 'static>(w: &World, f: impl FnOnce() -> T + Send + 'static) -> T {
    raw::in_ns(&w.hostile.name, f)
}

/// The reflector's resident memory in KiB.
pub fn rss_kib(w: &World) -> u64 {
    let pid = w.rr.proc.pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// The value of a metric series from the reflector's /metrics, 0 when absent.
pub fn metric(w: &World, series: &str) -> f64 {
    let series = series.to_string();
    let text = raw::in_ns(&w.rr_ns.name, || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect("127.0.0.1:9179").unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    });
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Our reflector started through `wrap` (a command and its arguments before ours).
fn wrapped(seg: &Segment, ns: &Ns, cfg: &str, wrap: &str) -> Ours {
    let file = seg.path("rr.toml");
    std::fs::write(&file, cfg).unwrap();
    let mut w = wrap.split_whitespace();
    let mut cmd = Command::new(w.next().unwrap());
    cmd.args(w)
        .arg(RR)
        .arg("run")
        .arg(&file)
        .env("RUST_LOG", "info");
    let proc = ns.spawn("rr", &mut cmd, &seg.path("rr.log")).unwrap();
    Ours {
        socket: seg.path("rr.sock"),
        proc,
    }
}

/// The reflector's open file descriptors.
pub fn fds(w: &World) -> usize {
    let pid = w.rr.proc.pid().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The reflector's CPU time (user and system) in clock ticks.
pub fn cpu_ticks(w: &World) -> u64 {
    let pid = w.rr.proc.pid().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis: utime and stime are 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}
