//! Hostile and broken peers against our reflector in network namespaces: every malformed
//! message class of the design and every single message of the shared corpora, sent one per
//! session, each answer checked against RFC 4271 section 6, RFC 6608 and RFC 7606, while a
//! bystander peer with 10,000 routes stays Established with all of them.

#[path = "hostile/cases.rs"]
mod cases;
#[path = "hostile/flood.rs"]
mod flood;
#[path = "hostile/raw.rs"]
mod raw;
mod segment;
#[path = "hostile/world.rs"]
mod world;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cases::{ASN, Case, Expect, Phase};
use flood::{Progress, Table, flood_table, send_flood};
use raw::{Got, Raw, connect, ibgp_attrs, keepalive, open, prefix, update};
use segment::*;
use world::*;

/// What one session did with a case's message.
#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug, in failure messages
enum Seen {
    Notified(u8, u8, Vec<u8>),
    /// The session stayed; whether the case's prefix is in the RIB.
    Kept {
        prefix_there: bool,
    },
    Closed,
    NoAnswer,
    Failed(String),
}

/// The case's prefix and marker prefix, unique per case number.
fn case_prefixes(n: usize) -> (Ipv4Addr, Ipv4Addr) {
    let (hi, lo) = ((n / 256) as u8, n as u8);
    (
        Ipv4Addr::new(10, 201, hi, lo),
        Ipv4Addr::new(10, 200, hi, lo),
    )
}

fn case_source(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 12, 1 + (n / 250) as u8, 1 + (n % 250) as u8)
}

/// Waits (up to `limit`) for a NOTIFICATION or close on `r`, or for `marker` in the RIB.
fn settle(r: &mut Raw, socket: &Path, marker: &str, limit: Duration) -> Result<(), Seen> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match r.read(Duration::from_millis(30)) {
            Got::Closed => return Err(Seen::Closed),
            got @ Got::Msg { kind: 3, .. } => {
                let (c, s, d) = got.notification().unwrap_or_default();
                return Err(Seen::Notified(c, s, d));
            }
            Got::Msg { .. } => continue,
            Got::Timeout => {}
        }
        if in_rib(socket, marker) {
            return Ok(());
        }
    }
    Err(Seen::NoAnswer)
}

/// One session from case `n`'s own address: the message, then what became of it.
fn run_case(n: usize, case: &Case, socket: &Path) -> Seen {
    let src = case_source(n);
    let (p, m) = case_prefixes(n);
    let Ok(sock) = connect(src, RR_ADDR) else {
        return Seen::Failed("connect".into());
    };
    let mut r = Raw::new(sock);
    if case.phase == Phase::Open {
        r.send(&case.bytes);
        return match r.outcome(Duration::from_secs(5)) {
            got @ Got::Msg { kind: 3, .. } => {
                let (c, s, d) = got.notification().unwrap_or_default();
                Seen::Notified(c, s, d)
            }
            Got::Closed => Seen::Closed,
            other => Seen::Failed(format!("{other:?}")),
        };
    }
    if let Err(e) = r.handshake(&open(ASN, 90, src)) {
        return Seen::Failed(format!("handshake: {e:?}"));
    }
    // The case's prefix first, valid, so that a withdrawal is seen.
    r.send(&update(&[], &ibgp_attrs(src), &prefix(p, 32)));
    if let Err(e) = settle(&mut r, socket, &format!("{p}/32"), WAIT) {
        return Seen::Failed(format!("first announcement: {e:?}"));
    }
    r.send(&case.bytes);
    r.send(&update(&[], &ibgp_attrs(src), &prefix(m, 32)));
    let seen = match settle(&mut r, socket, &format!("{m}/32"), Duration::from_secs(10)) {
        Ok(()) => Seen::Kept {
            prefix_there: in_rib(socket, &format!("{p}/32")),
        },
        Err(e) => e,
    };
    if matches!(seen, Seen::Kept { .. }) {
        r.send(&raw::msg(3, &[6, 2]));
    }
    seen
}

/// Whether `seen` is the answer `case` calls for.
fn judge(case: &Case, seen: &Seen) -> bool {
    let bound = |d: &Vec<u8>| d.len() <= case.bytes.len();
    match (&case.expect, seen) {
        (Expect::Notify(c, s, d), Seen::Notified(gc, gs, gd)) => (c, s, d) == (gc, gs, gd),
        (Expect::NotifyAny(c, s), Seen::Notified(gc, gs, gd)) => (c, s) == (gc, gs) && bound(gd),
        (Expect::Reset(c), Seen::Notified(gc, _, gd)) => c == gc && bound(gd),
        (Expect::Withdraw, Seen::Kept { prefix_there }) => !prefix_there,
        (Expect::Discard, Seen::Kept { prefix_there }) => *prefix_there,
        (Expect::Kept, Seen::Kept { .. }) => true,
        (Expect::Defined, Seen::Kept { .. }) => true,
        (Expect::Defined, Seen::Notified(c, _, d)) => (1..=7).contains(c) && bound(d),
        _ => false,
    }
}

/// Runs every case from the hostile namespace; the failures, and a tally of the answers.
fn run_all(w: &World, all: Vec<Case>) -> (Vec<String>, String) {
    let socket: PathBuf = w.rr.socket.clone();
    let path = format!("/var/run/netns/{}", w.hostile.name);
    std::thread::spawn(move || {
        raw::enter(&path);
        let mut failures = Vec::new();
        let (mut notified, mut kept, mut withdrawn) = (0, 0, 0);
        for (n, case) in all.iter().enumerate() {
            let seen = run_case(n, case, &socket);
            match &seen {
                Seen::Notified(..) => notified += 1,
                Seen::Kept { prefix_there: true } => kept += 1,
                Seen::Kept { .. } => withdrawn += 1,
                _ => {}
            }
            if !judge(case, &seen) {
                failures.push(format!(
                    "{}: expected {:?}, got {seen:?} (sent {})",
                    case.name,
                    case.expect,
                    hex::encode(&case.bytes[..case.bytes.len().min(80)])
                ));
            }
        }
        let tally = format!(
            "{} cases: {notified} NOTIFICATIONs, {kept} kept with the route, {withdrawn} kept \
             with the route withdrawn",
            all.len()
        );
        (failures, tally)
    })
    .join()
    .unwrap()
}

fn corpora() -> PathBuf {
    // The copies kept with their licences next to bgp-core's corpus tests.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bgp-core/tests/data")
}

/// The two tests that load the machine most run one at a time: together, with the rest of
/// the suite, the bystander of one lost its session to the other's load.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn malformed_messages_and_corpora_one_per_session_while_a_bystander_keeps_its_routes() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run(false, false, false) {
        return;
    }
    let w = World::new("hm", "");
    let mut all = Vec::new();
    // Case numbers give each case its own prefixes: build with the final index.
    let generated = cases::generated(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, RR_ADDR);
    let frr = cases::frr_rfc7606(&corpora(), Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
    let corpus = cases::corpus(&corpora());
    let counts = (generated.len(), frr.len(), corpus.len());
    for i in 0..counts.0 {
        let n = all.len();
        let (p, _) = case_prefixes(n);
        all.push(cases::generated(case_source(n), p, RR_ADDR).swap_remove(i));
    }
    for i in 0..counts.1 {
        let n = all.len();
        let (p, _) = case_prefixes(n);
        all.push(cases::frr_rfc7606(&corpora(), case_source(n), p).swap_remove(i));
    }
    all.extend(corpus);
    assert!(
        counts.0 >= 40 && counts.1 >= 80 && counts.2 >= 150,
        "{counts:?}"
    );
    let (failures, tally) = run_all(&w, all);
    eprintln!(
        "{tally} (generated {}, FRR RFC 7606 {}, corpora {})",
        counts.0, counts.1, counts.2
    );
    assert!(
        failures.is_empty(),
        "{} wrong answers:\n{}",
        failures.len(),
        failures.join("\n")
    );
    w.check_bystander();
    let log = std::fs::read_to_string(w.seg.path("rr.log")).unwrap();
    assert!(!log.contains("panicked"), "a panic in the reflector");
    let _ = &w.bystander.updates;
}

#[test]
fn a_peer_that_sends_an_open_and_then_nothing_is_ended_by_the_hold_timer() {
    if !can_run(false, false, false) {
        return;
    }
    let w = World::new("ho", "");
    let (got, waited) = hostile(&w, || {
        let src = Ipv4Addr::new(10, 12, 0, 1);
        let mut r = Raw::new(connect(src, RR_ADDR).unwrap());
        // OPEN with hold time 3, never a KEEPALIVE: we stay in OpenConfirm.
        r.send(&open(ASN, 3, src));
        let t = Instant::now();
        let got = r.outcome(Duration::from_secs(15));
        (got.notification(), t.elapsed())
    });
    assert_eq!(got, Some((4, 0, vec![])), "Hold Timer Expired");
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(6),
        "{waited:?} for a hold time of 3 s"
    );
    w.check_bystander();
}

#[test]
fn a_peer_that_trickles_a_header_a_byte_a_second_is_ended_by_the_hold_timer() {
    if !can_run(false, false, false) {
        return;
    }
    let w = World::new("ht", "");
    let (got, waited, sent) = hostile(&w, || {
        let mut r = session(Ipv4Addr::new(10, 12, 0, 1), 3);
        let header = keepalive();
        let t = Instant::now();
        let mut sent = 0;
        for b in &header {
            if !r.send(std::slice::from_ref(b)) {
                break;
            }
            sent += 1;
            // A second between bytes, reading what comes meanwhile.
            let until = Instant::now() + Duration::from_secs(1);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                let got = r.read(left);
                if got.notification().is_some() || got == Got::Closed {
                    return (got.notification(), t.elapsed(), sent);
                }
            }
        }
        (None, t.elapsed(), sent)
    });
    assert_eq!(
        got,
        Some((4, 0, vec![])),
        "Hold Timer Expired after {sent} bytes"
    );
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(6),
        "{waited:?} for a hold time of 3 s"
    );
    w.check_bystander();
}

/// The bystander's routes as a peer is sent them: 10.100.0.0/24 up, LOCAL_PREF 100.
fn bystander_table() -> HashMap<Vec<u8>, u32> {
    (0..BYSTANDER_ROUTES)
        .map(|i| {
            let p = Ipv4Addr::new(10, 100 + (i / 256) as u8, i as u8, 0);
            (prefix(p, 24), 100)
        })
        .collect()
}

/// A peer at `src` of the hostile namespace (`path`) that keeps the table it is sent until
/// `stop`, then hands it over.
fn observer(
    path: String,
    src: Ipv4Addr,
    stop: Arc<AtomicBool>,
) -> (JoinHandle<Table>, Arc<Progress>) {
    let table = Table::default();
    let progress = table.progress.clone();
    let t = std::thread::spawn(move || {
        raw::enter(&path);
        let mut table = table;
        let mut r = session(src, 90);
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            match r.read(Duration::from_millis(200)) {
                Got::Msg { kind: 2, body } => table.apply(&body),
                Got::Closed | Got::Msg { kind: 3, .. } => break,
                _ => {}
            }
            if last.elapsed() > Duration::from_secs(1) {
                r.send(&keepalive());
                last = Instant::now();
            }
        }
        table
    });
    (t, progress)
}

/// What the stalled peer may hold once it has overflowed, in messages: the first window
/// of a flush kept queued and the driver's window in flight (2 x
/// [`bgp_core::router::WINDOW`]), and one table of `routes` (one UPDATE each at most): the
/// kernel's send buffer takes megabytes before the peer's stall shows, so the reflector may
/// see it drain once and owe it the whole table; whatever the churn.
const fn stalled_messages(routes: usize) -> usize {
    2 * 256 + routes
}

/// The bound on the reflector's growth in the second round, in KiB: 5/4 of what the first
/// round cost (the RIB keeps the replaced attribute sets beside the new ones until its
/// sweep, and the allocator its freed blocks: 0.7 to 0.92 of the first round was seen),
/// plus the stalled peer's queue depth and held messages at 4,096 bytes each; nothing for
/// the churn it does not read (200,000 more messages queued would be 20 MB and more).
fn second_round_bound_kib(first_round_kib: u64, depth: usize) -> u64 {
    first_round_kib * 5 / 4 + ((depth + 2 * 256) * 4096 / 1024) as u64
}

#[test]
fn a_peer_that_never_reads_while_200k_routes_flow_costs_no_more_than_its_queue() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run(false, false, false) {
        return;
    }
    const FLOOD: u32 = 200_000;
    const DEPTH: usize = 64;
    let w = World::build("hn", 100, &format!("peer_queue_depth = {DEPTH}\n"), "", "");
    let path = format!("/var/run/netns/{}", w.hostile.name);
    let stop = Arc::new(AtomicBool::new(false));
    // The peer that never reads: a 4 KiB receive buffer, KEEPALIVEs every second.
    let (p1, s1) = (path.clone(), stop.clone());
    let stalled = std::thread::spawn(move || {
        raw::enter(&p1);
        let src = Ipv4Addr::new(10, 12, 0, 2);
        let sock = raw::connect_with(src, RR_ADDR, Some(4096)).unwrap();
        let mut r = Raw::new(sock);
        r.handshake(&open(ASN, 90, src)).unwrap();
        while !s1.load(Ordering::Relaxed) {
            r.send(&keepalive());
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let (observer, seen) = observer(path.clone(), Ipv4Addr::new(10, 12, 0, 3), stop.clone());
    std::thread::sleep(Duration::from_secs(1));
    // The flood from a third peer: 200,000 /32s, each with a LOCAL_PREF of its own so that
    // no two share an UPDATE; then, once told, all of them again with other LOCAL_PREFs.
    let second = Arc::new(AtomicBool::new(false));
    let (p3, s3, go) = (path, stop.clone(), second.clone());
    let flooder = std::thread::spawn(move || {
        raw::enter(&p3);
        let src = Ipv4Addr::new(10, 12, 0, 4);
        let mut r = session(src, 90);
        assert!(send_flood(&mut r, src, 0..FLOOD, 0), "the first round");
        let mut last = Instant::now();
        let mut sent = false;
        while !s3.load(Ordering::Relaxed) {
            if !sent && go.load(Ordering::Relaxed) {
                assert!(send_flood(&mut r, src, 0..FLOOD, 1), "the second round");
                sent = true;
            }
            let _ = r.read(Duration::from_millis(100));
            if last.elapsed() > Duration::from_secs(1) {
                r.send(&keepalive());
                last = Instant::now();
            }
        }
    });
    let start = rss_kib(&w);
    let first = wait_for(Duration::from_secs(120), || {
        seen.round(0) == u64::from(FLOOD)
    });
    let (rss_a, fds_a) = (rss_kib(&w), fds(&w));
    let queue = "bgp_peer_queue_depth{peer=\"10.12.0.2\"}";
    let queued_a = metric(&w, queue);
    second.store(true, Ordering::Relaxed);
    let want_total = u64::from(FLOOD) + BYSTANDER_ROUTES as u64;
    let again = wait_for(Duration::from_secs(120), || {
        seen.round(1) == u64::from(FLOOD) && seen.total() == want_total
    });
    let (rss_b, fds_b) = (rss_kib(&w), fds(&w));
    let queued_b = metric(&w, queue);
    let stalled_peer = w.rr.peer("10.12.0.2");
    let overflows = metric(&w, "bgp_peer_queue_overflows_total{peer=\"10.12.0.2\"}");
    stop.store(true, Ordering::Relaxed);
    stalled.join().unwrap();
    flooder.join().unwrap();
    let table = observer.join().unwrap();
    eprintln!(
        "peer_queue_depth {DEPTH}, 2 x {FLOOD} routes: the observer had the first round after \
         {first:?}, the second {again:?} later; RSS {start} KiB -> {rss_a} KiB -> {rss_b} KiB \
         (bound on the second round {} KiB); fds {fds_a} -> {fds_b}; the stalled peer: \
         {overflows} overflows, {queued_a} -> {queued_b} messages queued, {stalled_peer}",
        second_round_bound_kib(rss_a.saturating_sub(start), DEPTH)
    );
    assert!(
        first.is_some() && again.is_some(),
        "the observer did not converge\n{}",
        w.seg.logs()
    );
    let mut want = bystander_table();
    want.extend(flood_table(0..FLOOD, 1));
    assert_eq!(table.diff(&want), None, "the observer's routes");
    assert_eq!(stalled_peer["established"], true, "{stalled_peer}");
    assert!(
        overflows >= 1.0,
        "the stalled peer's queue never overflowed"
    );
    // Once overflowed the stalled peer holds two windows and one table at most, whatever
    // the churn: the second round's 200,000 UPDATEs add nothing (before an overflow
    // dropped what the peer had queued, a flush of 16,309 messages stayed with it).
    let most = stalled_messages(FLOOD as usize + BYSTANDER_ROUTES) as f64;
    for q in [queued_a, queued_b] {
        assert!(
            q <= most,
            "the stalled peer holds {q} messages, at most {most}"
        );
    }
    let bound = second_round_bound_kib(rss_a.saturating_sub(start), DEPTH);
    assert!(
        rss_b.saturating_sub(rss_a) <= bound,
        "RSS {start} KiB -> {rss_a} KiB -> {rss_b} KiB: the second round over {bound} KiB"
    );
    assert!(fds_b <= fds_a + 2, "fds {fds_a} -> {fds_b}");
    w.check_bystander();
}
