//! Exhaustion against our reflector in network namespaces: thousands of idle connections
//! from unconfigured addresses, a range over its `max`, a peer announcing a million
//! prefixes with and without `max_prefixes`, and the process at its descriptor limit.

#[path = "hostile/cases.rs"]
mod cases;
#[path = "hostile/raw.rs"]
mod raw;
mod segment;
#[path = "hostile/world.rs"]
mod world;

use std::net::{Ipv4Addr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use cases::ASN;
use raw::{Got, Raw, connect, ibgp_attrs, keepalive, open, prefix, update};
use segment::*;
use world::*;

/// Lets this test process hold `n` descriptors.
fn raise_nofile(n: u32) {
    let pid = std::process::id().to_string();
    let st = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={n}:{n}")])
        .status()
        .unwrap();
    assert!(st.success(), "prlimit");
}

/// Whether the admin socket answers `show summary` within `limit`.
fn admin_answers(w: &World, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut child = Command::new(RR)
        .args(["show", "summary", "--socket"])
        .arg(&w.rr.socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while t.elapsed() < limit {
        if let Ok(Some(st)) = child.try_wait() {
            return st.success().then(|| t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn two_thousand_idle_connections_from_unconfigured_addresses() {
    if !can_run(false, false, false) {
        return;
    }
    raise_nofile(8192);
    let w = World::new("xi", "");
    let base = fds(&w);
    let (socks, failed) = hostile(&w, || {
        let mut socks: Vec<TcpStream> = Vec::new();
        let mut failed = 0;
        for i in 0..2000usize {
            let src = Ipv4Addr::new(10, 13, (i / 250) as u8, 1 + (i % 250) as u8);
            match connect(src, RR_ADDR) {
                Ok(s) => socks.push(s),
                Err(_) => failed += 1,
            }
        }
        (socks, failed)
    });
    let peak = fds(&w);
    // The reflector keeps a refused connection only until our side has acknowledged its
    // close (a tenth of a second or so), not for as long as we keep it open.
    std::thread::sleep(Duration::from_secs(2));
    let settled = fds(&w);
    // While they are all open: the admin socket answers, a peer of the range comes up.
    let answered = admin_answers(&w, Duration::from_secs(5));
    let up = hostile(&w, || {
        let src = Ipv4Addr::new(10, 12, 0, 9);
        let mut r = Raw::new(connect(src, RR_ADDR).unwrap());
        r.handshake(&open(ASN, 90, src)).is_ok()
    });
    // The reflector closed ours: each reads end-of-file (or was reset).
    let closed = hostile(&w, move || {
        use std::io::Read;
        socks
            .into_iter()
            .filter(|mut s| {
                let _ = s.set_nonblocking(true);
                match s.read(&mut [0u8; 64]) {
                    Ok(0) => true,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                    Ok(_) => false,
                }
            })
            .count()
    });
    eprintln!(
        "2000 connections ({failed} failed to connect): reflector fds {base}, {peak} at the \
         end of the burst, {settled} 2 s later; admin answered in {answered:?}; {closed} \
         closed by the reflector"
    );
    // How many are open at the end of the burst depends on how far behind the reflector
    // is on a loaded machine (1,027 of 2,000 was seen with the whole suite running); the
    // bound that matters is what stays open once it has caught up.
    assert!(
        settled < base + 16,
        "fds {base} -> {settled} with the connections idle"
    );
    assert!(answered.is_some(), "the admin socket did not answer");
    assert!(up, "a peer of the range could not come up");
    assert!(closed >= 2000 - failed - 10, "{closed} closed");
    w.check_bystander();
}

#[test]
fn three_hundred_connections_at_a_range_of_fifty() {
    if !can_run(false, false, false) {
        return;
    }
    raise_nofile(8192);
    let w = World::with("xr", 50, "", "");
    let base = fds(&w);
    let (sessions, refused) = hostile(&w, || {
        let mut up = Vec::new();
        let mut refused = 0;
        for i in 0..300usize {
            let src = Ipv4Addr::new(10, 12, 2 + (i / 250) as u8, 1 + (i % 250) as u8);
            let Ok(s) = connect(src, RR_ADDR) else {
                refused += 1;
                continue;
            };
            let mut r = Raw::new(s);
            match r.handshake(&open(ASN, 90, src)) {
                Ok(_) => up.push(r),
                Err(Got::Closed) => refused += 1,
                Err(g) if g.notification().is_some_and(|n| n.0 == 6) => refused += 1,
                Err(g) => panic!("{src}: {g:?}"),
            }
            // Every up session says it is alive.
            if i % 50 == 0 {
                for r in &mut up {
                    r.send(&keepalive());
                }
            }
        }
        (up, refused)
    });
    let peak = fds(&w);
    let summary = w.rr.json(&["show", "summary"]);
    eprintln!(
        "300 connections at max = 50: {} up, {refused} refused; fds {base} -> {peak}; {summary}",
        sessions.len()
    );
    assert_eq!(sessions.len(), 50, "the range's max");
    assert_eq!(refused, 250);
    assert!(peak < base + 50 + 64, "fds {base} -> {peak}");
    w.check_bystander();
    drop(sessions);
}

/// A peer at 10.12.0.7 announcing `n` /32s from 10.64.0.0, 800 to an UPDATE; what it got
/// back once done, or first, and its session (KEEPALIVEs go on until it is dropped).
fn announce_million(w: &World, n: u32) -> (Got, Raw) {
    hostile(w, move || {
        let src = Ipv4Addr::new(10, 12, 0, 7);
        let mut r = session(src, 90);
        let base = u32::from(Ipv4Addr::new(10, 64, 0, 0));
        let mut batch = Vec::new();
        for start in (0..n).step_by(800) {
            let nlri: Vec<u8> = (start..(start + 800).min(n))
                .flat_map(|i| prefix(Ipv4Addr::from(base + i), 32))
                .collect();
            batch.extend(update(&[], &ibgp_attrs(src), &nlri));
            if batch.len() > 200_000 {
                if !r.send(&batch) {
                    break;
                }
                batch.clear();
                r.send(&keepalive());
            }
        }
        r.send(&batch);
        let got = r.outcome(Duration::from_secs(2));
        let mut ka = r.sock.try_clone().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            while ka.write_all(&keepalive()).is_ok() {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        (got, r)
    })
}

fn rib_prefixes(w: &World) -> u64 {
    w.rr.json(&["show", "summary"])["summary"]["prefixes"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_million_prefixes_against_max_prefixes() {
    if !can_run(false, false, false) {
        return;
    }
    let w = World::new("xm", "max_prefixes = 20000\n");
    let (got, _peer) = announce_million(&w, 1_000_000);
    let rss = rss_kib(&w);
    eprintln!("1,000,000 prefixes against max_prefixes = 20000: {got:?}; RSS {rss} KiB");
    assert_eq!(
        got.notification().map(|n| (n.0, n.1)),
        Some((6, 1)),
        "Cease / Maximum Number of Prefixes Reached"
    );
    assert!(rss < 200 * 1024, "RSS {rss} KiB");
    w.seg.wait("the peer's routes gone", || {
        rib_prefixes(&w) == BYSTANDER_ROUTES as u64
    });
    w.check_bystander();
}

#[test]
fn a_million_prefixes_without_a_limit() {
    if !can_run(false, false, false) {
        return;
    }
    const N: u32 = 1_000_000;
    let w = World::new("xu", "");
    let (got, peer) = announce_million(&w, N);
    assert!(got.notification().is_none(), "{got:?}");
    // A million routes in a debug build on a shared machine: up to two minutes.
    let took = wait_for(Duration::from_secs(120), || {
        rib_prefixes(&w) == (N as usize + BYSTANDER_ROUTES) as u64
    });
    assert!(
        took.is_some(),
        "{} of the routes\n{}",
        rib_prefixes(&w),
        w.seg.logs()
    );
    let _ = peer.sock.shutdown(std::net::Shutdown::Both);
    let rss = rss_kib(&w);
    eprintln!("{N} prefixes without a limit: in the RIB after {took:?}, RSS {rss} KiB");
    assert!(rss < 512 * 1024, "RSS {rss} KiB");
    w.check_bystander();
}

#[test]
fn at_its_descriptor_limit_the_reflector_backs_off_and_recovers() {
    if !can_run(false, false, false) {
        return;
    }
    raise_nofile(8192);
    let w = World::with("xf", 1000, "", "prlimit --nofile=64:64");
    // Connections of the range that send nothing: each holds a descriptor in OpenSent.
    let socks = hostile(&w, || {
        (0..120usize)
            .filter_map(|i| connect(Ipv4Addr::new(10, 12, 3, 1 + i as u8), RR_ADDR).ok())
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_secs(1));
    let at = fds(&w);
    // An admin request at the limit: connected (the socket's backlog), not yet accepted.
    let waiting = Command::new(RR)
        .args(["show", "peers", "--json", "--socket"])
        .arg(&w.rr.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = cpu_ticks(&w);
    std::thread::sleep(Duration::from_secs(5));
    let spent = cpu_ticks(&w) - t0;
    let mut waiting = waiting;
    let early = waiting.try_wait().unwrap();
    eprintln!(
        "{} connections held at nofile 64: fds {at}, {spent} ticks of CPU in 5 s with both \
         accept loops at the limit; the admin request at the limit: {early:?}",
        socks.len()
    );
    // 100 ticks a second: less than 10% of a core.
    assert!(spent < 50, "{spent} ticks in 5 s: the accept loop spins");
    // The limit, and what the process inherited above it.
    assert!(at <= 66, "{at} descriptors");
    let log = std::fs::read_to_string(w.seg.path("rr.log")).unwrap();
    assert!(
        log.contains("accept failed"),
        "no EMFILE seen: the test did not reach the limit"
    );
    assert!(
        log.contains("admin socket accept failed"),
        "the admin socket never met the limit"
    );
    assert!(early.is_none(), "answered at the limit: {early:?}");
    // Once they go, a new peer comes up.
    drop(socks);
    let up = hostile(&w, || {
        let src = Ipv4Addr::new(10, 12, 0, 8);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(s) = connect(src, RR_ADDR)
                && Raw::new(s).handshake(&open(ASN, 90, src)).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        false
    });
    assert!(
        up,
        "no session after the descriptors were freed\n{}",
        w.seg.logs()
    );
    // The request that waited is answered, and so is a new one.
    let t = Instant::now();
    let out = waiting.wait_with_output().unwrap();
    let peers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    eprintln!(
        "the admin request that waited: answered {:?} after the session",
        t.elapsed()
    );
    assert!(out.status.success(), "{out:?}");
    let listed = |v: &serde_json::Value| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|p| p["address"] == "10.11.0.4"))
    };
    assert!(listed(&peers), "{peers}");
    assert!(
        listed(&w.rr.json(&["show", "peers"])),
        "show peers after the limit"
    );
    w.check_bystander();
}
