//! Our reflector restarted while 200,000 routes flow through it: a feeder announces them,
//! three clients with graceful restart (RFC 4724) take them, and the reflector is stopped
//! (SIGTERM, or killed with SIGKILL) when the clients hold about a quarter. Started again
//! as a graceful restart, it gets the feeder's routes anew, every tenth of them no longer
//! announced and the others with new attributes; each client must then hold exactly the
//! feeder's new table (route by route, LOCAL_PREF included): nothing stale, nothing
//! missing. The reflector's resident memory and descriptors are bounded afterwards.

#[path = "hostile/cases.rs"]
mod cases;
#[path = "hostile/flood.rs"]
mod flood;
#[path = "hostile/raw.rs"]
mod raw;
mod segment;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cases::ASN;
use flood::{Progress, Table, end_of_ribs, flood_table, has_gr, open_gr, send_flood};
use raw::{Got, Raw, connect, keepalive};
use segment::*;

const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 1);
const FEEDER: Ipv4Addr = Ipv4Addr::new(10, 12, 0, 1);
const CLIENTS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 12, 0, 2),
    Ipv4Addr::new(10, 12, 0, 3),
    Ipv4Addr::new(10, 12, 0, 4),
];
const FLOOD: u32 = 200_000;

/// The feeder's table after the restart: every route but each tenth, at round 1.
fn after_restart() -> impl Iterator<Item = u32> {
    (0..FLOOD).filter(|i| i % 10 != 0)
}

/// Resident memory allowed the restarted reflector, in KiB: 2.5 KiB per route held (its
/// RIB, its clients' update group, interned attributes, the allocator's slack; 1.8 to 2.2
/// KiB in all were measured in a debug build) and 64 MiB for the process itself.
fn rss_bound_kib(routes: u64) -> u64 {
    routes * 5 / 2 + 64 * 1024
}

/// Descriptors allowed the restarted reflector: what the first run held once its sessions
/// were up, and two more (a connection closing, an admin request).
const FD_SLACK: usize = 2;

/// The heavy tests run one at a time.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How long a peer waits for the reflector's OPEN and KEEPALIVE. A restarted reflector
/// busy with 200,000 routes in a debug build on a loaded machine took more than 10 s:
/// giving up sooner had each client drop its connection just before the reflector got to
/// it, again and again.
const HANDSHAKE: Duration = Duration::from_secs(60);

/// Sends our OPEN and KEEPALIVE, then reads up to the reflector's KEEPALIVE (within
/// [`HANDSHAKE`]): the reflector's OPEN body.
fn handshake(r: &mut Raw, src: Ipv4Addr) -> Option<Vec<u8>> {
    if !r.send(&open_gr(ASN, 9, src)) || !r.send(&keepalive()) {
        return None;
    }
    let deadline = Instant::now() + HANDSHAKE;
    let mut theirs = None;
    while Instant::now() < deadline {
        match r.read(Duration::from_secs(1)) {
            Got::Msg { kind: 1, body } => theirs = Some(body),
            Got::Msg { kind: 4, .. } if theirs.is_some() => return theirs,
            Got::Msg { kind: 2 | 4, .. } | Got::Timeout => {}
            _ => return None,
        }
    }
    None
}

/// A session from `src` (the thread is in the peers' namespace), retried until `stop`.
fn connect_until(src: Ipv4Addr, stop: &AtomicBool) -> Option<(Raw, Vec<u8>)> {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(s) = connect(src, RR_ADDR) {
            let mut r = Raw::new(s);
            if let Some(theirs) = handshake(&mut r, src) {
                return Some((r, theirs));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Reads and answers KEEPALIVEs until the session ends or `stop`; the UPDATEs to `apply`.
/// Whether it ended with a NOTIFICATION (`Some(true)`), a close (`Some(false)`) or `stop`.
fn serve(r: &mut Raw, stop: &AtomicBool, mut apply: impl FnMut(&[u8])) -> Option<bool> {
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match r.read(Duration::from_millis(100)) {
            Got::Msg { kind: 2, body } => apply(&body),
            Got::Msg { kind: 3, .. } => return Some(true),
            Got::Closed => return Some(false),
            _ => {}
        }
        if last.elapsed() > Duration::from_secs(1) {
            r.send(&keepalive());
            last = Instant::now();
        }
    }
    None
}

/// A client with graceful restart: keeps its table across a session that ends without a
/// NOTIFICATION (stale until the next session's End-of-RIB), drops it after one.
struct Client {
    progress: Arc<Progress>,
    notifications: Arc<AtomicU64>,
    thread: JoinHandle<Table>,
}

fn client(ns: String, src: Ipv4Addr, stop: Arc<AtomicBool>) -> Client {
    let table = Table::default();
    let progress = table.progress.clone();
    let notifications = Arc::new(AtomicU64::new(0));
    let n = notifications.clone();
    let thread = std::thread::spawn(move || {
        raw::enter(&ns);
        let mut table = table;
        while let Some((mut r, theirs)) = connect_until(src, &stop) {
            assert!(
                has_gr(&theirs),
                "the reflector's OPEN has no graceful restart"
            );
            // Nothing of ours to send: our End-of-RIB at once.
            r.send(&end_of_ribs());
            match serve(&mut r, &stop, |b| table.apply(b)) {
                Some(true) => {
                    n.fetch_add(1, Ordering::Relaxed);
                    table.clear();
                }
                Some(false) => table.keep_stale(),
                None => break,
            }
        }
        table
    });
    Client {
        progress,
        notifications,
        thread,
    }
}

/// The feeder: round 0 of every route in its first session; in each later one, round 1 of
/// [`after_restart`] and its End-of-RIB. Counts the sessions it had.
fn feeder(ns: String, stop: Arc<AtomicBool>, sessions: Arc<AtomicU64>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        raw::enter(&ns);
        while let Some((mut r, _)) = connect_until(FEEDER, &stop) {
            let first = sessions.fetch_add(1, Ordering::Relaxed) == 0;
            let sent = if first {
                send_flood(&mut r, FEEDER, 0..FLOOD, 0)
            } else {
                send_flood(&mut r, FEEDER, after_restart(), 1) && r.send(&end_of_ribs())
            };
            if sent && serve(&mut r, &stop, |_| {}).is_none() {
                break;
            }
        }
    })
}

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

/// Sends `signal` and waits up to 30 s for the exit (a loaded machine takes more than the
/// 5 s of `Proc::stop_with`); whether the reflector stopped by itself, saying so.
fn stop_reflector(rr: &mut Ours, signal: &str) -> bool {
    let pid = rr.proc.pid().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args([signal, &pid])
        .status();
    let exited = wait_for(Duration::from_secs(30), || !rr.proc.running()).is_some();
    if !exited {
        rr.proc.stop_with("-KILL");
    }
    exited
        && rr
            .proc
            .log()
            .lines()
            .any(|l| l.ends_with("route_reflector::daemon: stopped"))
}

fn rib_prefixes(rr: &Ours) -> u64 {
    rr.json(&["show", "summary"])["summary"]["prefixes"]
        .as_u64()
        .unwrap_or(0)
}

/// The whole run, the reflector stopped with `signal`.
fn restart_mid_feed(test: &str, signal: &str) {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run(false, false, false) {
        return;
    }
    let t0 = Instant::now();
    let seg = Segment::new(test);
    let rr_ns = seg.host("rr", 1);
    let peers = seg.host("peers", 5);
    peers.sh("ip route add local 10.12.0.0/24 dev lo").unwrap();
    rr_ns.sh("ip route add 10.12.0.0/24 via 10.11.0.5").unwrap();
    // The peers are listed: a restart waits for their End-of-RIB (however it stopped).
    let mut cfg = reflector_head("10.11.0.1", ASN, &seg.dir, "rr");
    cfg.push_str("[graceful_restart]\nrestart_time = 120\nselection_deferral = 30\n");
    for p in std::iter::once(FEEDER).chain(CLIENTS) {
        cfg.push_str(&format!("[[client]]\naddress = \"{p}\"\npassive = true\n"));
    }
    let mut rr = seg.reflector(&rr_ns, "rr", &cfg, false);
    let ns = format!("/var/run/netns/{}", peers.name);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<Client> = CLIENTS
        .iter()
        .map(|&c| client(ns.clone(), c, stop.clone()))
        .collect();
    seg.wait("the clients up", || {
        CLIENTS.iter().all(|c| rr.established(&c.to_string()))
    });
    let first_fds = resources(&rr).1;
    let sessions = Arc::new(AtomicU64::new(0));
    let feed = feeder(ns, stop.clone(), sessions.clone());
    // Mid-feed: every client holds a quarter of the routes, none all of them.
    let quarter = u64::from(FLOOD) / 4;
    // The clients are re-synchronized as they fall behind the flood: up to 90 s on a
    // loaded machine.
    let quarter_in = wait_for(Duration::from_secs(90), || {
        clients.iter().all(|c| c.progress.round(0) >= quarter)
    });
    assert!(
        quarter_in.is_some(),
        "a quarter of the routes\n{}",
        seg.logs()
    );
    let held: Vec<u64> = clients.iter().map(|c| c.progress.round(0)).collect();
    let (rss_before, _) = resources(&rr);
    let clean = stop_reflector(&mut rr, signal);
    assert!(
        held.iter().all(|&h| h < u64::from(FLOOD)),
        "the feed was over before the stop: {held:?}"
    );
    rr = seg.reflector(&rr_ns, "rr", &cfg, true);
    let want_routes = after_restart().count() as u64;
    let converged = wait_for(Duration::from_secs(90), || {
        clients.iter().all(|c| {
            c.progress.round(1) == want_routes
                && c.progress.total() == want_routes
                && c.progress.eors.load(Ordering::Relaxed) >= 2
        }) && rib_prefixes(&rr) == want_routes
    });
    let (rss, fds) = resources(&rr);
    let settled = wait_for(WAIT, || resources(&rr).1 <= first_fds + FD_SLACK);
    let fds_settled = resources(&rr).1;
    stop.store(true, Ordering::Relaxed);
    feed.join().unwrap();
    let progress: Vec<String> = clients
        .iter()
        .map(|c| {
            format!(
                "{}/{} routes, {} EoR",
                c.progress.round(1),
                c.progress.total(),
                c.progress.eors.load(Ordering::Relaxed)
            )
        })
        .collect();
    let notified: Vec<u64> = clients
        .iter()
        .map(|c| c.notifications.load(Ordering::Relaxed))
        .collect();
    let tables: Vec<Table> = clients
        .into_iter()
        .map(|c| c.thread.join().unwrap())
        .collect();
    eprintln!(
        "{signal} (exited cleanly: {clean}) with the clients at {held:?} of {FLOOD}; \
         {want_routes} routes at every client {converged:?} after the restart \
         ({:?} in all); RSS {rss_before} KiB before the stop, {rss} KiB after (bound {} \
         KiB); fds {first_fds} in the first run, {fds} then {fds_settled} after ({settled:?}); \
         feeder sessions {}; clients {progress:?}, NOTIFICATIONs {notified:?}",
        t0.elapsed(),
        rss_bound_kib(want_routes),
        sessions.load(Ordering::Relaxed)
    );
    assert!(converged.is_some(), "{progress:?}\n{}", seg.logs());
    let want = flood_table(after_restart(), 1);
    for (c, t) in CLIENTS.iter().zip(&tables) {
        assert_eq!(t.diff(&want), None, "client {c}");
    }
    assert_eq!(notified, [0, 0, 0], "graceful restart: no NOTIFICATION");
    assert!(
        rss <= rss_bound_kib(want_routes),
        "RSS {rss} KiB for {want_routes} routes"
    );
    assert!(
        fds_settled <= first_fds + FD_SLACK,
        "fds {first_fds} -> {fds_settled}"
    );
    let log = std::fs::read_to_string(seg.path("rr.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "a panic in the reflector");
    if signal == "-TERM" {
        assert!(clean, "SIGTERM: the reflector did not exit cleanly");
    }
}

#[test]
fn the_reflector_stopped_with_sigterm_mid_feed_of_200k_routes() {
    restart_mid_feed("rt", "-TERM");
}

#[test]
fn the_reflector_killed_with_sigkill_mid_feed_of_200k_routes() {
    restart_mid_feed("rk", "-KILL");
}
