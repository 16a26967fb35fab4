//! Route reflector convergence, side by side: our `route-reflector`, BIRD 2 and 3, FRR bgpd
//! (Debian's 8.4 as packaged and with `coalesce-time 0`, FRR 10 built from source) and GoBGP,
//! each started with a generated config on loopback addresses of a namespace of its own (the
//! `benches::dut` module). N iBGP clients (this tool, on `bgp_core` sessions) each announce K
//! /24s packed into full UPDATEs; a monitor client announces nothing.
//!
//!     cargo build --release -p route-reflector -p benches
//!     target/release/rr-bench [--quick] [--shapes 10x10000,100x1000,...] [--duts ours,bird,...]
//!                             [--keepalive N] [--limit SECONDS] [--bird3 PATH] [--frr10 PREFIX]
//!
//! Measured per shape and reflector: convergence (first announcement until every client holds
//! the N*K - K routes of the others and the monitor all N*K), the reflector's CPU seconds
//! (user + system) and peak RSS from /proc, bytes per route, withdrawal churn (one client
//! withdraws its K routes: time until every other client has dropped them), and this tool's
//! own CPU to show it was not the bottleneck. `--keepalive N` holds N sessions (hold time 30 s)
//! for 60 s after convergence and reports hold-timer expiries and the largest gap between
//! messages received by a client (keepalive lag). Needs root only to raise the open file
//! limit for thousands of sessions.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benches::dut::{
    self, ASN, DUT, Dut, Layout, PORT, available, client_addr, in_netns, next_hop, raise_fd_limit,
    self_cpu,
};
use bgp_core::Afi;
use bgp_core::session::{Action, Event, PeerAs, Session, SessionConfig};
use bgp_core::wire::attributes::{AsPath, Origin};
use bgp_core::wire::{PathAttributes, Prefixes, Update};
use ipnet::{IpNet, Ipv4Net};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

const PER_UPDATE: usize = 1000;
const BASE: u32 = 0x0b00_0000; // 11.0.0.0: prefix i is 11.0.0.0 + i * 256, a /24

fn prefix(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(BASE + (i << 8)), 24).expect("valid /24"))
}

fn prefix_index(p: &IpNet) -> Option<usize> {
    match p {
        IpNet::V4(n) => u32::from(n.addr())
            .checked_sub(BASE)
            .map(|d| (d >> 8) as usize),
        IpNet::V6(_) => None,
    }
}

const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

/// The index of an IPv4 prefix in wire form (length byte, then the address bytes).
fn prefix_index_wire(p: &[u8]) -> Option<usize> {
    // Byte by byte: a variable-length copy here is a memcpy call per prefix.
    let b = |i: usize| p.get(i).copied().unwrap_or(0);
    u32::from_be_bytes([b(1), b(2), b(3), b(4)])
        .checked_sub(BASE)
        .map(|d| (d >> 8) as usize)
}

/// Calls `f` with every complete message of the stream continued by `data`. Messages are
/// taken from `data` where they lie; only the start of one cut by the end of `data` is copied,
/// to `pending`, and completed from the next `data`. (A copy of every byte into one buffer
/// cost the tool a tenth of its CPU at 10,000 sessions.)
fn for_each_message(pending: &mut Vec<u8>, mut data: &[u8], mut f: impl FnMut(&[u8])) {
    // The length field, at least a header: a bad length must not stall the stream.
    let length = |m: &[u8]| usize::from(u16::from_be_bytes([m[16], m[17]])).max(19);
    if !pending.is_empty() {
        let header = 19usize.saturating_sub(pending.len()).min(data.len());
        pending.extend_from_slice(&data[..header]);
        data = &data[header..];
        if pending.len() < 19 {
            return;
        }
        let len = length(pending);
        let body = len.saturating_sub(pending.len()).min(data.len());
        pending.extend_from_slice(&data[..body]);
        data = &data[body..];
        if pending.len() < len {
            return;
        }
        f(&pending[..len]);
        pending.clear();
    }
    let mut at = 0;
    while data.len() - at >= 19 {
        let len = length(&data[at..]);
        if data.len() - at < len {
            break;
        }
        f(&data[at..at + len]);
        at += len;
    }
    pending.extend_from_slice(&data[at..]);
}

/// Passes the withdrawn and announced IPv4 prefixes of an UPDATE `msg` to `prefix` (false,
/// true), in wire form, attributes unread. False if `msg` is no UPDATE.
fn walk_update(msg: &[u8], mut prefix: impl FnMut(&[u8], bool)) -> bool {
    if msg.len() < 23 || msg[18] != 2 {
        return false;
    }
    let body = &msg[19..];
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let mut walk = |field: &[u8], announce: bool| {
        let mut i = 0;
        while i < field.len() {
            let n = 1 + usize::from(field[i]).div_ceil(8);
            let Some(p) = field.get(i..i + n) else { break };
            prefix(p, announce);
            i += n;
        }
    };
    if let Some(w) = body.get(2..2 + wlen) {
        walk(w, false);
        if let Some(a) = body.get(2 + wlen..2 + wlen + 2) {
            let alen = usize::from(u16::from_be_bytes([a[0], a[1]]));
            if let Some(nlri) = body.get(4 + wlen + alen..) {
                walk(nlri, true);
            }
        }
    }
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Wait,
    Announce,
    /// The client withdraws everything it announced.
    Withdraw(usize),
}

/// What the clients report, read by the main loop.
struct Shared {
    /// Routes each client holds now.
    counts: Vec<AtomicU64>,
    up: Vec<AtomicBool>,
    downs: AtomicU64,
    /// Largest gap between two messages received by one client, in ms, since `gap_reset`.
    max_gap_ms: AtomicU64,
    gap_reset: AtomicBool,
    total: usize,
}

/// The UPDATEs announcing (or withdrawing) prefixes `range` with `nh` as next hop.
fn updates(range: Range<u32>, nh: Ipv4Addr, withdraw: bool) -> Vec<Update> {
    let all: Vec<IpNet> = range.map(prefix).collect();
    all.chunks(PER_UPDATE)
        .map(|c| {
            let p = Prefixes::from_entries(Afi::IPV4, false, c.iter().copied()).expect("IPv4");
            if withdraw {
                Update::new(
                    p,
                    PathAttributes::default(),
                    Prefixes::empty(Afi::IPV4, false),
                )
            } else {
                let attrs = PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::empty()),
                    next_hop: Some(nh),
                    local_pref: Some(100),
                    ..PathAttributes::default()
                };
                Update::new(Prefixes::empty(Afi::IPV4, false), attrs, p)
            }
        })
        .collect()
}

struct Client {
    i: usize,
    k: u32,
    announces: bool,
    hold: u16,
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
}

thread_local! {
    /// One read buffer per runtime thread, for all its clients: a read is taken apart before
    /// the next await, and 10,000 buffers of their own would be 2.5 GiB for the tool to touch.
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 256 * 1024]);
}

/// The routes of the others one client holds: a bit per prefix of the run.
struct Held {
    bits: Vec<u64>,
    count: u64,
    /// The client's own prefixes (FRR reflects them back; RFC 4456 has the client drop them
    /// by ORIGINATOR_ID): not counted.
    own: Range<usize>,
    total: usize,
}

impl Held {
    fn set(&mut self, x: usize, announce: bool) {
        if x >= self.total || self.own.contains(&x) {
            return;
        }
        let (w, bit) = (x / 64, 1u64 << (x % 64));
        if announce && self.bits[w] & bit == 0 {
            self.bits[w] |= bit;
            self.count += 1;
        } else if !announce && self.bits[w] & bit != 0 {
            self.bits[w] &= !bit;
            self.count -= 1;
        }
    }

    /// An UPDATE the session decoded (one that came before the session was established).
    fn decoded(&mut self, u: &Update) {
        for (_, p) in u.announced() {
            for e in p.iter() {
                if let Some(x) = prefix_index(&e.prefix) {
                    self.set(x, true);
                }
            }
        }
        for (_, p) in u.withdrawals() {
            for e in p.iter() {
                if let Some(x) = prefix_index(&e.prefix) {
                    self.set(x, false);
                }
            }
        }
    }
}

/// One session's state besides the `Session` itself.
struct Stream {
    r: OwnedReadHalf,
    pending: Vec<u8>,
    held: Held,
    /// Once established, UPDATEs are counted here (NLRI walked in wire form, attributes
    /// skipped) instead of decoded by the session: the tool's clients must not be what the
    /// benchmark measures. The rest goes to the session.
    established: bool,
    last_rx: Instant,
}

impl Client {
    /// Runs sessions until the task is aborted: a session that ends (a reflector resetting
    /// it while it starts up, say) is counted and opened again.
    async fn run(mut self) {
        loop {
            self.session().await;
            self.shared.up[self.i].store(false, Ordering::Relaxed);
            self.shared.counts[self.i].store(0, Ordering::Relaxed);
            // Spread the retries (0.5 to 1.5 s).
            let jitter = (self.i as u64 * 7919) % 1000;
            tokio::time::sleep(Duration::from_millis(500 + jitter)).await;
        }
    }

    async fn connect(&self) -> Option<(OwnedReadHalf, OwnedWriteHalf)> {
        let addr = client_addr(self.i);
        let sock = TcpSocket::new_v4()
            .map_err(|e| eprintln!("client {}: {e}", self.i))
            .ok()?;
        if let Err(e) = sock.bind(SocketAddr::new(IpAddr::V4(addr), 0)) {
            eprintln!("client {}: bind {addr}: {e}", self.i);
            return None;
        }
        // Refused or reset while the reflector is busy: the caller tries again.
        let stream = sock
            .connect(SocketAddr::new(IpAddr::V4(DUT), PORT))
            .await
            .ok()?;
        let _ = stream.set_nodelay(true);
        Some(stream.into_split())
    }

    fn lost(&self) {
        if self.shared.up[self.i].load(Ordering::Relaxed) {
            self.shared.downs.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn session(&mut self) {
        let mut cfg = SessionConfig::new(ASN, client_addr(self.i), PeerAs::Is(ASN));
        cfg.hold_time = self.hold;
        cfg.families = vec![bgp_core::Family::IPV4_UNICAST];
        cfg.damp_peer_oscillations = false;
        let mut s = Session::new(cfg);
        let Some((r, mut w)) = self.connect().await else {
            return;
        };
        let first = self.i as u32 * self.k;
        let mine = first..first + self.k;
        let mut st = Stream {
            r,
            pending: Vec::new(),
            held: Held {
                bits: vec![0u64; self.shared.total.div_ceil(64)],
                count: 0,
                own: if self.announces {
                    first as usize..(first + self.k) as usize
                } else {
                    0..0
                },
                total: self.shared.total,
            },
            established: false,
            last_rx: Instant::now(),
        };
        s.start(Instant::now());
        let (mut announced, mut withdrawn) = (false, false);
        loop {
            while let Some(a) = s.poll_action() {
                match a {
                    Action::Connect => s.handle_connected(Instant::now()),
                    Action::Transmit(b) => {
                        if w.write_all(&b).await.is_err() {
                            s.handle_closed(Instant::now());
                        }
                    }
                    Action::Close => return self.lost(),
                    Action::Event(Event::Established(_)) => {
                        self.shared.up[self.i].store(true, Ordering::Relaxed);
                        st.established = true;
                    }
                    Action::Event(Event::Update(u)) => {
                        st.held.decoded(&u);
                        self.shared.counts[self.i].store(st.held.count, Ordering::Relaxed);
                    }
                    Action::Event(_) => {}
                }
            }
            let phase = *self.phase.borrow();
            let up = self.shared.up[self.i].load(Ordering::Relaxed);
            let send = if up && self.announces && !announced && phase != Phase::Wait {
                announced = true;
                Some(false)
            } else if up && !withdrawn && phase == Phase::Withdraw(self.i) {
                withdrawn = true;
                Some(true)
            } else {
                None
            };
            if let Some(withdraw) = send {
                for u in updates(mine.clone(), next_hop(self.i), withdraw) {
                    let _ = s.send_update(Instant::now(), &u);
                }
                continue;
            }
            let deadline = s
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                ready = st.r.readable() => {
                    if ready.is_err() || !self.read(&mut st, &mut s) {
                        s.handle_closed(Instant::now());
                        return self.lost();
                    }
                }
                _ = self.phase.changed() => {}
                _ = tokio::time::sleep_until(deadline) => s.handle_timeout(Instant::now()),
            }
        }
    }

    /// Reads what the socket holds into the thread's buffer and takes the messages off it.
    /// False once the stream has ended.
    fn read(&self, st: &mut Stream, s: &mut Session) -> bool {
        BUF.with_borrow_mut(|buf| {
            let n = match st.r.try_read(buf) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
            };
            let now = Instant::now();
            if self.shared.gap_reset.load(Ordering::Relaxed) {
                let gap = now.duration_since(st.last_rx).as_millis() as u64;
                self.shared.max_gap_ms.fetch_max(gap, Ordering::Relaxed);
            }
            st.last_rx = now;
            let mut updates = 0;
            let (held, established) = (&mut st.held, st.established);
            for_each_message(&mut st.pending, &buf[..n], |m| {
                let counted = established
                    && walk_update(m, |p, announce| {
                        if let Some(x) = prefix_index_wire(p) {
                            held.set(x, announce);
                        }
                    });
                if counted {
                    updates += 1;
                } else {
                    s.handle_data(now, m);
                }
            });
            if updates > 0 {
                // What the session did not see still proves the peer alive.
                s.handle_data(now, &KEEPALIVE);
                self.shared.counts[self.i].store(held.count, Ordering::Relaxed);
            }
            true
        })
    }
}

/// The clients' tasks, aborted when dropped.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Outcome {
    converge: Option<Duration>,
    churn: Option<Duration>,
    cpu: Duration,
    rss_kib: u64,
    tool_cpu: Duration,
    downs: u64,
    max_gap: Option<Duration>,
}

async fn wait_targets(shared: &Shared, targets: &[u64], limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    loop {
        if shared
            .counts
            .iter()
            .zip(targets)
            .all(|(c, t)| c.load(Ordering::Relaxed) == *t)
        {
            return Some(t.elapsed());
        }
        if t.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn run_one(
    dut: Dut,
    n: usize,
    k: u32,
    keepalive: bool,
    limit: Duration,
) -> Result<Outcome, String> {
    let hold = if keepalive { 30 } else { 90 };
    let d = dut::start(dut, &Layout::clients(n + 1, hold))?;
    let cpu_all = || d.cpu();
    let total = n * k as usize;
    let shared = Arc::new(Shared {
        counts: (0..=n).map(|_| AtomicU64::new(0)).collect(),
        up: (0..=n).map(|_| AtomicBool::new(false)).collect(),
        downs: AtomicU64::new(0),
        max_gap_ms: AtomicU64::new(0),
        gap_reset: AtomicBool::new(false),
        total,
    });
    let (tx, rx) = watch::channel(Phase::Wait);
    // Aborted on every way out: clients left running would go on connecting to the next
    // reflector and take its file descriptors.
    let mut tasks = Tasks(Vec::new());
    for i in 0..=n {
        let c = Client {
            i,
            k,
            announces: i < n,
            hold,
            shared: shared.clone(),
            phase: rx.clone(),
        };
        tasks.0.push(tokio::spawn(c.run()));
        // Nodes coming up together, but not in one burst: 500 connections a second.
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let t = Instant::now();
    while !shared.up.iter().all(|u| u.load(Ordering::Relaxed)) {
        // As long as convergence may take (`--limit`), and at least 120 s.
        if t.elapsed() > limit.max(Duration::from_secs(120)) {
            let up = shared
                .up
                .iter()
                .filter(|u| u.load(Ordering::Relaxed))
                .count();
            return Err(format!(
                "{}: only {up} of {} sessions up",
                dut.name(),
                n + 1
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "  {}: {} sessions up in {:.1?}",
        dut.name(),
        n + 1,
        t.elapsed()
    );
    let cpu0 = cpu_all();
    let tool0 = self_cpu();
    let _ = tx.send(Phase::Announce);
    let mut targets: Vec<u64> = vec![(total - k as usize) as u64; n];
    targets.push(total as u64);
    let converge = wait_targets(&shared, &targets, limit).await;
    let cpu = cpu_all().saturating_sub(cpu0);
    let tool_cpu = self_cpu().saturating_sub(tool0);
    let rss_kib = d.peak_rss_kib();
    eprintln!("  {}: converged in {converge:.2?}", dut.name());
    let mut churn = None;
    if converge.is_some() {
        let _ = tx.send(Phase::Withdraw(0));
        for (i, t) in targets.iter_mut().enumerate() {
            if i != 0 {
                *t -= u64::from(k);
            }
        }
        churn = wait_targets(&shared, &targets, limit).await;
    }
    let mut max_gap = None;
    if keepalive {
        shared.gap_reset.store(true, Ordering::Relaxed);
        eprintln!("  {}: holding {} sessions for 60 s", dut.name(), n + 1);
        tokio::time::sleep(Duration::from_secs(60)).await;
        max_gap = Some(Duration::from_millis(
            shared.max_gap_ms.load(Ordering::Relaxed),
        ));
    }
    let downs = shared.downs.load(Ordering::Relaxed);
    drop(tasks);
    drop(d);
    Ok(Outcome {
        converge,
        churn,
        cpu,
        rss_kib,
        tool_cpu,
        downs,
        max_gap,
    })
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("timeout".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

fn ratio(x: f64, ours: f64) -> String {
    if ours > 0.0 && x > 0.0 {
        format!(" ({:.1}x)", x / ours)
    } else {
        String::new()
    }
}

#[tokio::main]
async fn main() {
    if !dut::inside_netns() {
        in_netns("rr-bench");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(p) = arg("--bird3") {
        dut::set_bird3(PathBuf::from(p));
    }
    if let Some(p) = arg("--frr10") {
        dut::set_frr10(PathBuf::from(p));
    }
    let limit = Duration::from_secs(arg("--limit").and_then(|v| v.parse().ok()).unwrap_or(600));
    let keepalive: Option<usize> = arg("--keepalive").and_then(|v| v.parse().ok());
    let shapes: Vec<(usize, u32)> = match (arg("--shapes"), quick, keepalive) {
        (Some(s), _, _) => s
            .split(',')
            .filter_map(|x| {
                let (a, b) = x.split_once('x')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect(),
        (None, true, _) => vec![(10, 1000)],
        (None, false, Some(n)) => vec![(n, 20)],
        (None, false, None) => vec![(10, 10_000), (100, 1000), (1000, 100), (5000, 20)],
    };
    let duts: Vec<Dut> = arg("--duts")
        .map(|s| s.split(',').filter_map(Dut::parse).collect())
        .unwrap_or_else(|| {
            let mut d = vec![Dut::Ours, Dut::Bird, Dut::Frr, Dut::FrrTuned, Dut::Gobgp];
            // The builds from source named on the command line.
            d.extend(
                [Dut::Bird3, Dut::Frr10]
                    .into_iter()
                    .filter(|d| dut::built(*d)),
            );
            d
        });
    raise_fd_limit();
    let mut failed = false;
    for (n, k) in shapes {
        println!(
            "\n{n} clients x {k} prefixes ({} routes; each client receives {})",
            n * k as usize,
            (n - 1) * k as usize
        );
        println!(
            "{:<10} {:>12} {:>10} {:>12} {:>10} {:>12} {:>9}{}",
            "reflector",
            "converge s",
            "CPU s",
            "peak RSS MiB",
            "B/route",
            "withdraw s",
            "tool CPU",
            if keepalive.is_some() {
                "  drops  max gap"
            } else {
                ""
            }
        );
        let mut ours: Option<Outcome> = None;
        for d in &duts {
            if !available(*d) {
                println!("{:<10} not installed", d.name());
                failed |= *d == Dut::Ours;
                continue;
            }
            match run_one(*d, n, k, keepalive.is_some(), limit).await {
                Ok(o) => {
                    let base = ours.clone().unwrap_or_else(|| o.clone());
                    let c = o.converge.map_or(0.0, |d| d.as_secs_f64());
                    let bc = base.converge.map_or(0.0, |d| d.as_secs_f64());
                    let rss = o.rss_kib as f64 / 1024.0;
                    let brss = base.rss_kib as f64 / 1024.0;
                    println!(
                        "{:<10} {:>12} {:>10} {:>12} {:>10} {:>12} {:>9}{}",
                        d.name(),
                        format!("{}{}", secs(o.converge), ratio(c, bc)),
                        format!(
                            "{:.2}{}",
                            o.cpu.as_secs_f64(),
                            ratio(o.cpu.as_secs_f64(), base.cpu.as_secs_f64())
                        ),
                        format!("{rss:.0}{}", ratio(rss, brss)),
                        o.rss_kib * 1024 / (n as u64 * u64::from(k)),
                        secs(o.churn),
                        format!("{:.2}", o.tool_cpu.as_secs_f64()),
                        match o.max_gap {
                            Some(g) => format!("  {:>5}  {:.1} s", o.downs, g.as_secs_f64()),
                            None => String::new(),
                        }
                    );
                    if o.tool_cpu > o.cpu {
                        eprintln!(
                            "  {}: the tool used more CPU ({:.2} s) than the reflector ({:.2} s)",
                            d.name(),
                            o.tool_cpu.as_secs_f64(),
                            o.cpu.as_secs_f64()
                        );
                    }
                    failed |= o.converge.is_none() || o.churn.is_none();
                    if *d == Dut::Ours {
                        ours = Some(o);
                    }
                }
                Err(e) => {
                    println!("{:<10} failed: {e}", d.name());
                    failed = true;
                }
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three messages: a KEEPALIVE, an UPDATE announcing prefixes 3 and 4 and withdrawing
    /// prefix 7, another KEEPALIVE.
    fn stream() -> (Vec<u8>, Vec<usize>) {
        let mut update = vec![0xff; 16];
        // withdrawn: 11.0.7.0/24; no attributes; NLRI 11.0.3.0/24, 11.0.4.0/24
        let body = [0, 4, 24, 11, 0, 7, 0, 0, 24, 11, 0, 3, 24, 11, 0, 4];
        let len = u16::try_from(19 + body.len()).expect("short");
        update.extend_from_slice(&len.to_be_bytes());
        update.push(2);
        update.extend_from_slice(&body);
        let mut s = KEEPALIVE.to_vec();
        s.extend_from_slice(&update);
        s.extend_from_slice(&KEEPALIVE);
        (s, vec![19, update.len(), 19])
    }

    #[test]
    fn messages_cut_anywhere_come_out_whole() {
        let (s, lens) = stream();
        for cut in 1..s.len() {
            for step in [1, 2, 7, 19, 23, 64] {
                let mut pending = Vec::new();
                let mut got = Vec::new();
                let mut chunks = vec![&s[..cut]];
                chunks.extend(s[cut..].chunks(step));
                for c in chunks {
                    for_each_message(&mut pending, c, |m| got.push(m.to_vec()));
                }
                assert_eq!(
                    got.iter().map(Vec::len).collect::<Vec<_>>(),
                    lens,
                    "cut {cut}"
                );
                assert_eq!(got.concat(), s);
                assert!(pending.is_empty());
            }
        }
    }

    #[test]
    fn updates_are_walked_in_wire_form() {
        let (s, _) = stream();
        let mut seen = Vec::new();
        let mut walked = 0;
        for_each_message(&mut Vec::new(), &s, |m| {
            if walk_update(m, |p, a| seen.push((prefix_index_wire(p), a))) {
                walked += 1;
            }
        });
        assert_eq!(walked, 1);
        assert_eq!(seen, [(Some(7), false), (Some(3), true), (Some(4), true)]);
    }

    #[test]
    fn a_bad_length_does_not_stall_the_stream() {
        let mut bad = KEEPALIVE;
        bad[17] = 3;
        let mut s = bad.to_vec();
        s.extend_from_slice(&KEEPALIVE);
        let mut n = 0;
        for_each_message(&mut Vec::new(), &s, |_| n += 1);
        assert_eq!(n, 2);
    }
}
