//! Full-table route reflection and churn, side by side: two iBGP feeders (not clients; the
//! first with LOCAL_PREF 200, the second a backup with 100) each send a generated full
//! Internet table (`benches::table`: about 1M IPv4 and 200k IPv6 prefixes over about 420,000
//! attribute sets) to the daemon under test, which reflects it to N route-reflector clients.
//!
//!     cargo build --release -p route-reflector -p benches
//!     target/release/table-bench [--duts ours,bird,bird3,frr-tuned] [--bird3 PATH]
//!         [--scale 1.0] [--clients 50] [--seconds 60] [--workers 4] [--limit 600]
//!         [--max-rss-mib 12288] [--no-memory] [--no-churn]
//!     target/release/table-bench --mrt table.mrt [--scale 1.0]   # the table as TABLE_DUMP_V2
//!
//! Per daemon, two runs: one with a single client (resident memory before the feed and
//! once it is in: the Loc-RIB's cost) and one with N clients: convergence (first UPDATE sent
//! until every client holds every prefix), the daemon's CPU and peak RSS, resident memory
//! once converged (the Adj-RIB-Outs' cost: (RSS_N - RSS_1) / ((N - 1) * prefixes)); then
//! churn: each second for `--seconds` s the preferred feeder announces 0.5 % of the table
//! again with changed attributes (a prepend and a MED), withdraws another 0.5 % (the clients
//! then get the backup path) and announces the previous second's withdrawals again. Each
//! client measures, per prefix and change, the time from the second the feeder sent it to
//! the first UPDATE for it: p50/p90/p99/max over every client and change.
//!
//! The receivers are spread over `--workers` processes (this program again, `--worker`),
//! count prefixes in wire form and never decode attributes; their CPU and the feeders'
//! (this process) are shown next to the daemon's.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::dut::{
    self, Dut, Feeder, Layout, Role, available, cpu_of, feeder_addr, next_hop, next_hop6,
    raise_fd_limit, self_cpu,
};
use benches::table::{Churn, FeederAttrs, Table, feed};
use benches::tester::{Histogram, now_ns};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

mod receiver;

/// Share of the table changed per second of churn.
const CHURN_RATE: f64 = 0.01;

#[derive(Clone, Debug)]
struct Args {
    duts: Vec<Dut>,
    scale: f64,
    clients: usize,
    seconds: usize,
    workers: usize,
    limit: Duration,
    max_rss_kib: u64,
    hold: u16,
    memory: bool,
    churn: bool,
}

fn parse_args() -> Args {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let flag = |name: &str| args.iter().any(|a| a == name);
    if let Some(p) = arg("--bird3") {
        dut::set_bird3(PathBuf::from(p));
    }
    Args {
        duts: arg("--duts")
            .map(|s| s.split(',').filter_map(Dut::parse).collect())
            .unwrap_or_else(|| vec![Dut::Ours, Dut::Bird, Dut::Bird3, Dut::FrrTuned]),
        scale: arg("--scale").and_then(|v| v.parse().ok()).unwrap_or(1.0),
        clients: arg("--clients").and_then(|v| v.parse().ok()).unwrap_or(50),
        seconds: arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(60),
        workers: arg("--workers").and_then(|v| v.parse().ok()).unwrap_or(4),
        limit: Duration::from_secs(arg("--limit").and_then(|v| v.parse().ok()).unwrap_or(600)),
        max_rss_kib: arg("--max-rss-mib")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(12_288)
            * 1024,
        hold: 90,
        memory: !flag("--no-memory"),
        churn: !flag("--no-churn"),
    }
}

fn feeder_attrs(f: usize) -> FeederAttrs {
    FeederAttrs {
        neighbor_as: 64_601 + f as u32,
        local_pref: if f == 0 { 200 } else { 100 },
        next_hop: next_hop(f),
        next_hop6: next_hop6(f),
    }
}

/// The receiver processes and what they reported.
struct Tester {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    ready: usize,
    up: usize,
    full: Vec<Option<u64>>,
    churned: usize,
    results: Vec<(u64, u64, Histogram)>,
}

impl Tester {
    fn spawn(args: &Args, clients: usize) -> Result<Tester, String> {
        let (tx, lines) = mpsc::unbounded_channel();
        let workers = args.workers.clamp(1, clients);
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        for w in 0..workers {
            let first = clients * w / workers;
            let count = clients * (w + 1) / workers - first;
            let mut child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
                .args(["--worker", &first.to_string(), &count.to_string()])
                .args(["--scale", &args.scale.to_string()])
                .args(["--seconds", &args.seconds.to_string()])
                .args(["--hold", &args.hold.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("worker: {e}"))?;
            stdins.push(child.stdin.take().expect("piped"));
            let out = child.stdout.take().expect("piped");
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            children.push(child);
        }
        Ok(Tester {
            children,
            stdins,
            lines,
            ready: 0,
            up: 0,
            full: vec![None; clients],
            churned: 0,
            results: Vec::new(),
        })
    }

    fn cpu(&self) -> Duration {
        self.children.iter().map(|c| cpu_of(c.id())).sum()
    }

    fn tell(&mut self, line: &str) {
        for s in &mut self.stdins {
            let _ = writeln!(s, "{line}");
            let _ = s.flush();
        }
    }

    fn take(&mut self, line: &str) {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("ready") => self.ready += 1,
            Some("up") => self.up += 1,
            Some("full") => {
                let i: Option<usize> = it.next().and_then(|v| v.parse().ok());
                let t: Option<u64> = it.next().and_then(|v| v.parse().ok());
                if let (Some(i), Some(t)) = (i, t)
                    && let Some(slot) = self.full.get_mut(i)
                {
                    slot.get_or_insert(t);
                }
            }
            Some("churned") => self.churned += 1,
            Some("result") => {
                let seen = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                let expected = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                let rest: Vec<&str> = it.collect();
                let h = Histogram::from_line(&rest.join(" ")).unwrap_or_default();
                self.results.push((seen, expected, h));
            }
            _ => eprintln!("  worker: {line}"),
        }
    }

    /// Takes reports until `done` holds (true) or `limit` passes (false); `check` may end
    /// the wait with an error (the daemon over its memory limit, say).
    async fn wait(
        &mut self,
        limit: Duration,
        done: impl Fn(&Tester) -> bool,
        mut check: impl FnMut() -> Result<(), String>,
    ) -> Result<bool, String> {
        let end = Instant::now() + limit;
        while !done(self) {
            check()?;
            if Instant::now() >= end {
                return Ok(false);
            }
            match tokio::time::timeout(Duration::from_millis(200), self.lines.recv()).await {
                Ok(Some(line)) => self.take(&line),
                Ok(None) => return Err("the receivers ended".into()),
                Err(_) => {}
            }
        }
        Ok(true)
    }
}

impl Drop for Tester {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

enum Cmd {
    /// Send these messages; answer with the time the last was written.
    Send(Arc<Vec<Bytes>>),
    /// Send batch `b` at `t0 + b` seconds; answer with the largest lateness, in µs.
    Churn(u64, Arc<Vec<Vec<Bytes>>>),
}

/// A feeder's session: commands in, completion times out.
struct FeederTask {
    cmds: mpsc::UnboundedSender<Cmd>,
    done: mpsc::UnboundedReceiver<u64>,
    task: tokio::task::JoinHandle<()>,
    drain: tokio::task::JoinHandle<()>,
}

impl Drop for FeederTask {
    fn drop(&mut self) {
        self.task.abort();
        self.drain.abort();
    }
}

async fn write_batched(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    msgs: &[Bytes],
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(256 * 1024);
    for m in msgs {
        buf.extend_from_slice(m);
        if buf.len() >= 240 * 1024 {
            w.write_all(&buf).await?;
            buf.clear();
        }
    }
    w.write_all(&buf).await
}

async fn start_feeder(f: usize, hold: u16) -> Result<FeederTask, String> {
    let o = benches::tester::open(feeder_addr(f), hold, Duration::from_secs(30))
        .await
        .map_err(|e| format!("feeder {f}: {e}"))?;
    let mut read = o.read;
    let mut w = o.write;
    // Nothing is sent to a feeder but keepalives: read and dropped.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let (cmds, mut rx) = mpsc::unbounded_channel::<Cmd>();
    let (done_tx, done) = mpsc::unbounded_channel();
    let interval = Duration::from_secs(u64::from(hold / 3).max(1));
    let task = tokio::spawn(async move {
        loop {
            let cmd = tokio::select! {
                c = rx.recv() => c,
                _ = tokio::time::sleep(interval) => {
                    if w.write_all(&benches::tester::KEEPALIVE).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            match cmd {
                None => return,
                Some(Cmd::Send(msgs)) => {
                    if write_batched(&mut w, &msgs).await.is_err() {
                        return;
                    }
                    let _ = done_tx.send(now_ns());
                }
                Some(Cmd::Churn(t0, batches)) => {
                    let mut late = 0;
                    for (b, msgs) in batches.iter().enumerate() {
                        let at = t0 + b as u64 * 1_000_000_000;
                        let wait = at.saturating_sub(now_ns());
                        tokio::time::sleep(Duration::from_nanos(wait)).await;
                        if write_batched(&mut w, msgs).await.is_err() {
                            return;
                        }
                        late = late.max(now_ns().saturating_sub(at) / 1000);
                    }
                    let _ = done_tx.send(late);
                }
            }
        }
    });
    Ok(FeederTask {
        cmds,
        done,
        task,
        drain,
    })
}

/// What one run measured.
#[derive(Debug, Default, Clone)]
struct Pass {
    rss_empty_kib: u64,
    rss_kib: u64,
    peak_kib: u64,
    converge: Option<Duration>,
    cpu: Duration,
    feeder_cpu: Duration,
    receiver_cpu: Duration,
    churn: Option<ChurnOutcome>,
}

#[derive(Debug, Default, Clone)]
struct ChurnOutcome {
    lags: Histogram,
    seen: u64,
    expected: u64,
    cpu: Duration,
    tester_cpu: Duration,
    /// The feeder's largest delay behind its schedule, in µs.
    feeder_late_us: u64,
    /// Whether every change reached every client before the drain limit.
    complete: bool,
}

struct Inputs {
    len: usize,
    feeds: [Arc<Vec<Bytes>>; 2],
    churn: Arc<Vec<Vec<Bytes>>>,
}

async fn run_pass(
    dut: Dut,
    input: &Inputs,
    args: &Args,
    clients: usize,
    churn: bool,
) -> Result<Pass, String> {
    let layout = Layout {
        clients,
        feeders: (0..2)
            .map(|f| Feeder {
                addr: feeder_addr(f),
                role: Role::Ibgp,
            })
            .collect(),
        hold: args.hold,
        ipv6: true,
    };
    let d = dut::start(dut, &layout)?;
    let mut tester = Tester::spawn(args, clients)?;
    let workers = tester.children.len();
    let over = |d: &dut::Running| {
        let rss = d.rss_kib();
        if rss > args.max_rss_kib {
            Err(format!(
                "over the memory limit ({} MiB resident)",
                rss / 1024
            ))
        } else {
            Ok(())
        }
    };
    // Tables generated in every receiver first: they are not part of the measurement.
    tester
        .wait(Duration::from_secs(300), |t| t.ready == workers, || Ok(()))
        .await?;
    tester.tell("connect");
    let mut feeders = Vec::new();
    for f in 0..2 {
        feeders.push(start_feeder(f, args.hold).await?);
    }
    if !tester
        .wait(Duration::from_secs(120), |t| t.up == clients, || Ok(()))
        .await?
    {
        return Err(format!("only {} of {clients} clients up", tester.up));
    }
    // Settled: whatever the sessions' start cost is not the empty daemon's size.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut p = Pass {
        rss_empty_kib: d.rss_kib(),
        ..Pass::default()
    };
    let (cpu0, feed0, recv0) = (d.cpu(), self_cpu(), tester.cpu());
    let t0 = now_ns();
    for (f, fd) in feeders.iter().enumerate() {
        let _ = fd.cmds.send(Cmd::Send(input.feeds[f].clone()));
    }
    let all_full = |t: &Tester| t.full.iter().all(Option::is_some);
    if tester.wait(args.limit, all_full, || over(&d)).await? {
        let last = tester.full.iter().flatten().max().copied().unwrap_or(t0);
        p.converge = Some(Duration::from_nanos(last.saturating_sub(t0)));
    }
    p.cpu = d.cpu().saturating_sub(cpu0);
    p.feeder_cpu = self_cpu().saturating_sub(feed0);
    p.receiver_cpu = tester.cpu().saturating_sub(recv0);
    p.peak_kib = d.peak_rss_kib();
    eprintln!(
        "  {}: {clients} clients: converged in {:.2?} ({} of {} prefixes each)",
        dut.name(),
        p.converge,
        input.len,
        input.len
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    p.rss_kib = d.rss_kib();
    if churn && p.converge.is_some() {
        p.churn = Some(run_churn(&d, &mut tester, &mut feeders[0], input, args).await?);
    }
    drop(feeders);
    drop(tester);
    drop(d);
    Ok(p)
}

async fn run_churn(
    d: &dut::Running,
    tester: &mut Tester,
    feeder: &mut FeederTask,
    input: &Inputs,
    args: &Args,
) -> Result<ChurnOutcome, String> {
    let clients = tester.full.len();
    let start = now_ns() + 1_000_000_000;
    tester.tell(&format!("churn {start}"));
    let (cpu0, feed0, recv0) = (d.cpu(), self_cpu(), tester.cpu());
    // The feed's completion is still queued.
    while feeder.done.try_recv().is_ok() {}
    let _ = feeder.cmds.send(Cmd::Churn(start, input.churn.clone()));
    eprintln!("  churn for {} s", args.seconds);
    let feeder_late_us = tokio::time::timeout(
        Duration::from_secs(args.seconds as u64 + 30),
        feeder.done.recv(),
    )
    .await
    .ok()
    .flatten()
    .unwrap_or(u64::MAX);
    // Up to 30 s more for the last changes to reach every client.
    let complete = tester
        .wait(Duration::from_secs(30), |t| t.churned == clients, || Ok(()))
        .await?;
    let cpu = d.cpu().saturating_sub(cpu0);
    let tester_cpu = self_cpu().saturating_sub(feed0) + tester.cpu().saturating_sub(recv0);
    tester.tell("stop");
    let workers = tester.children.len();
    tester
        .wait(
            Duration::from_secs(30),
            |t| t.results.len() == workers,
            || Ok(()),
        )
        .await?;
    let mut out = ChurnOutcome {
        cpu,
        tester_cpu,
        feeder_late_us,
        complete,
        ..ChurnOutcome::default()
    };
    for (seen, expected, h) in &tester.results {
        out.seen += seen;
        out.expected += expected;
        out.lags.merge(h);
    }
    Ok(out)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ratio(x: f64, ours: Option<f64>) -> String {
    match ours {
        Some(o) if o > 0.0 && x > 0.0 => format!(" ({:.1}x)", x / o),
        _ => String::new(),
    }
}

#[derive(Debug, Clone)]
struct Row {
    dut: Dut,
    one: Option<Pass>,
    many: Pass,
}

impl Row {
    fn loc_rib_b(&self, len: usize) -> Option<f64> {
        let one = self.one.as_ref()?;
        Some((one.rss_kib.saturating_sub(one.rss_empty_kib) * 1024) as f64 / len as f64)
    }

    fn adj_out_b(&self, len: usize, clients: usize) -> Option<f64> {
        let one = self.one.as_ref()?;
        let extra = self.many.rss_kib.saturating_sub(one.rss_kib) * 1024;
        Some(extra as f64 / ((clients.max(2) - 1) * len) as f64)
    }
}

fn print_rows(rows: &[Row], len: usize, clients: usize) {
    let ours = rows.iter().find(|r| r.dut == Dut::Ours);
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    println!(
        "\n2 feeders x {len} prefixes -> {clients} clients\n{:<10} {:>14} {:>13} {:>13} {:>13} {:>14} {:>12} {:>14}",
        "daemon",
        "converge s",
        "CPU s",
        "tester CPU s",
        "peak MiB",
        "RSS 0/1/N MiB",
        "Loc-RIB B",
        "Adj-RIB-Out B"
    );
    for r in rows {
        let m = &r.many;
        let conv = secs(m.converge);
        let o = ours.map(|o| &o.many);
        println!(
            "{:<10} {:>14} {:>13} {:>13} {:>13} {:>14} {:>12} {:>14}",
            r.dut.name(),
            conv.map_or("timeout".into(), |c| format!(
                "{c:.2}{}",
                ratio(c, o.and_then(|o| secs(o.converge)))
            )),
            format!(
                "{:.2}{}",
                m.cpu.as_secs_f64(),
                ratio(m.cpu.as_secs_f64(), o.map(|o| o.cpu.as_secs_f64()))
            ),
            format!(
                "{:.2}+{:.2}",
                m.feeder_cpu.as_secs_f64(),
                m.receiver_cpu.as_secs_f64()
            ),
            format!(
                "{:.0}{}",
                mib(m.peak_kib),
                ratio(mib(m.peak_kib), o.map(|o| mib(o.peak_kib)))
            ),
            format!(
                "{:.0}/{}/{:.0}",
                mib(m.rss_empty_kib),
                r.one
                    .as_ref()
                    .map_or("-".into(), |p| format!("{:.0}", mib(p.rss_kib))),
                mib(m.rss_kib)
            ),
            r.loc_rib_b(len).map_or("-".into(), |b| format!(
                "{b:.0}{}",
                ratio(b, ours.and_then(|o| o.loc_rib_b(len)))
            )),
            r.adj_out_b(len, clients).map_or("-".into(), |b| format!(
                "{b:.1}{}",
                ratio(b, ours.and_then(|o| o.adj_out_b(len, clients)))
            )),
        );
    }
    print_churn(rows);
}

fn print_churn(rows: &[Row]) {
    let ours = rows.iter().find(|r| r.dut == Dut::Ours);
    if rows.iter().all(|r| r.many.churn.is_none()) {
        return;
    }
    println!(
        "\nchurn\n{:<10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>16} {:>12}",
        "daemon", "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU s", "changes seen", "tester CPU s"
    );
    let oc = ours.and_then(|o| o.many.churn.as_ref());
    for r in rows {
        let Some(c) = &r.many.churn else {
            println!("{:<10} not run", r.dut.name());
            continue;
        };
        let q = |h: &Histogram, x: f64| h.quantile(x) as f64 / 1000.0;
        println!(
            "{:<10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>16} {:>12}",
            r.dut.name(),
            format!("{:.1}", q(&c.lags, 0.5)),
            format!("{:.1}", q(&c.lags, 0.9)),
            format!(
                "{:.1}{}",
                q(&c.lags, 0.99),
                ratio(q(&c.lags, 0.99), oc.map(|o| q(&o.lags, 0.99)))
            ),
            format!("{:.1}", c.lags.max_us as f64 / 1000.0),
            format!(
                "{:.2}{}",
                c.cpu.as_secs_f64(),
                ratio(c.cpu.as_secs_f64(), oc.map(|o| o.cpu.as_secs_f64()))
            ),
            format!(
                "{}/{}{}",
                c.seen,
                c.expected,
                if c.complete { "" } else { " (late)" }
            ),
            format!("{:.2}", c.tester_cpu.as_secs_f64()),
        );
        if c.feeder_late_us == u64::MAX {
            println!("           (the daemon did not take the feeder's churn in time)");
        } else if c.feeder_late_us > 50_000 {
            println!(
                "           (the feeder ran {} ms behind its schedule)",
                c.feeder_late_us / 1000
            );
        }
    }
}

fn inputs(args: &Args) -> Inputs {
    let t = Instant::now();
    let table = Table::generate(args.scale);
    let feeds = [0, 1].map(|f| Arc::new(feed(&table, &feeder_attrs(f))));
    let churn = Churn::new(table.len(), args.seconds, CHURN_RATE);
    // One more second: the last withdrawals announced again.
    let batches: Vec<Vec<Bytes>> = (0..=args.seconds)
        .map(|b| churn.second(&table, &feeder_attrs(0), b))
        .collect();
    eprintln!(
        "table: {} prefixes, {} attribute sets, {} UPDATEs ({:.1} MB) per feeder, made in {:.1?}",
        table.len(),
        table.sets.len(),
        feeds[0].len(),
        feeds[0].iter().map(Bytes::len).sum::<usize>() as f64 / 1e6,
        t.elapsed()
    );
    Inputs {
        len: table.len(),
        feeds,
        churn: Arc::new(batches),
    }
}

async fn orchestrate(args: Args) -> bool {
    raise_fd_limit();
    let input = inputs(&args);
    let mut rows = Vec::new();
    let mut ok = true;
    for &d in &args.duts {
        if !available(d) {
            println!("{:<10} not installed", d.name());
            ok &= d != Dut::Ours;
            continue;
        }
        let one = if args.memory {
            match run_pass(d, &input, &args, 1, false).await {
                Ok(p) => Some(p),
                Err(e) => {
                    println!("{:<10} 1 client: {e}", d.name());
                    ok = false;
                    None
                }
            }
        } else {
            None
        };
        match run_pass(d, &input, &args, args.clients, args.churn).await {
            Ok(many) => {
                ok &= many.converge.is_some();
                rows.push(Row { dut: d, one, many });
            }
            Err(e) => {
                println!("{:<10} {} clients: {e}", d.name(), args.clients);
                ok = false;
            }
        }
    }
    print_rows(&rows, input.len, args.clients);
    ok
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--worker") {
        receiver::main(&argv[i + 1..]);
        return;
    }
    // `--mrt PATH`: write the table (both feeders' paths) as TABLE_DUMP_V2 and stop.
    if let Some(i) = argv.iter().position(|a| a == "--mrt") {
        let Some(path) = argv.get(i + 1) else {
            eprintln!("table-bench: --mrt needs a file name");
            std::process::exit(2);
        };
        let scale = parse_args().scale;
        let t = Table::generate(scale);
        let dump =
            benches::table::table_dump(&t, &[feeder_attrs(0), feeder_attrs(1)], 1_764_720_000);
        if let Err(e) = std::fs::write(path, &dump) {
            eprintln!("table-bench: {path}: {e}");
            std::process::exit(1);
        }
        eprintln!("{path}: {} prefixes, {} octets", t.len(), dump.len());
        return;
    }
    if !dut::inside_netns() {
        dut::in_netns("table-bench");
    }
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if !rt.block_on(orchestrate(args)) {
        std::process::exit(1);
    }
}
