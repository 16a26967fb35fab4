//! A receiver process: clients `first..first + count`, each counting the prefixes it holds
//! and timing the churn's changes. Reports on standard output, one line each: `ready`
//! (table generated), `up I`, `full I NS` (client I holds every prefix, at NS since the
//! epoch), `churned I` (every change reached client I), and on `stop` one `result SEEN
//! EXPECTED HISTOGRAM`. Reads `connect`, `churn T0` and `stop` on standard input.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use benches::dut::client_addr;
use benches::table::{Churn, Table, key};
use benches::tester::{self, Histogram, message_len, now_ns, update_prefixes, wire_key};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// What every client of the process shares: the table's index and the churn schedule.
struct Shared {
    index: HashMap<u64, u32, foldhash::fast::RandomState>,
    second_of: Vec<u16>,
    flaps: Vec<bool>,
    /// Changes one client should see: one per changed prefix, two per withdrawn one.
    expected: u64,
    lags: Mutex<Histogram>,
    seen: AtomicU64,
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `args`: FIRST COUNT, then `--scale`, `--seconds`, `--hold`.
pub fn main(args: &[String]) {
    let first: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(0);
    let count: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1);
    let scale: f64 = arg(args, "--scale", 1.0);
    let seconds: usize = arg(args, "--seconds", 60);
    let hold: u16 = arg(args, "--hold", 90);
    let table = Table::generate(scale);
    let churn = Churn::new(table.len(), seconds, super::CHURN_RATE);
    let mut index = HashMap::with_capacity_and_hasher(table.len(), Default::default());
    for (i, p) in table.prefixes.iter().enumerate() {
        index.insert(key(p), i as u32);
    }
    let expected = churn.changed.iter().map(|c| c.len() as u64).sum::<u64>()
        + 2 * churn.withdrawn.iter().map(|w| w.len() as u64).sum::<u64>();
    let total = table.len();
    drop(table);
    let shared = Arc::new(Shared {
        index,
        second_of: churn.second_of,
        flaps: churn.flaps,
        expected,
        lags: Mutex::new(Histogram::default()),
        seen: AtomicU64::new(0),
    });
    let (t0_tx, t0) = watch::channel(None::<u64>);
    let (go_tx, go) = watch::channel(false);
    let control = shared.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let mut it = line.split_whitespace();
            match it.next() {
                Some("connect") => {
                    let _ = go_tx.send(true);
                }
                Some("churn") => {
                    let _ = t0_tx.send(it.next().and_then(|v| v.parse().ok()));
                }
                Some("stop") => {
                    let h = control.lags.lock().map(|h| h.to_line()).unwrap_or_default();
                    let seen = control.seen.load(Ordering::Relaxed);
                    let expected = control.expected * count as u64;
                    say(&format!("result {seen} {expected} {h}"));
                    std::process::exit(0);
                }
                _ => {}
            }
        }
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        say("ready");
        let mut go = go;
        let _ = go.wait_for(|g| *g).await;
        let mut tasks = Vec::new();
        for i in first..first + count {
            let c = Client {
                i,
                total,
                hold,
                shared: shared.clone(),
                t0: t0.clone(),
            };
            tasks.push(tokio::spawn(c.run()));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

struct Client {
    i: usize,
    total: usize,
    hold: u16,
    shared: Arc<Shared>,
    t0: watch::Receiver<Option<u64>>,
}

/// One client's view of the table.
struct Held {
    bits: Vec<u64>,
    count: usize,
    /// Per prefix, the changes of the churn seen so far.
    changes: Vec<u8>,
    seen: u64,
}

impl Client {
    async fn run(self) {
        let o = loop {
            match tester::open(client_addr(self.i), self.hold, Duration::from_secs(60)).await {
                Ok(o) => break o,
                Err(e) => {
                    eprintln!("client {}: {e}; again", self.i);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        say(&format!("up {}", self.i));
        let interval = Duration::from_secs(u64::from(self.hold / 3).max(1));
        let ka = tokio::spawn(tester::keepalives(o.write, interval));
        let mut read = o.read;
        let mut pending = o.pending;
        let mut held = Held {
            bits: vec![0; self.total.div_ceil(64)],
            count: 0,
            changes: vec![0; self.total],
            seen: 0,
        };
        let mut full = false;
        let mut churned = false;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let now = now_ns();
            let t0 = *self.t0.borrow();
            let mut at = 0;
            while let Some(len) = message_len(&pending[at..]) {
                let msg = &pending[at..at + len];
                if msg[18] == 2 {
                    update_prefixes(&msg[19..], |announce, v6, l, lead| {
                        self.prefix(&mut held, announce, wire_key(v6, l, lead), now, t0);
                    });
                }
                at += len;
            }
            pending.drain(..at);
            if !full && held.count == self.total {
                full = true;
                say(&format!("full {} {now}", self.i));
            }
            if !churned && t0.is_some() && held.seen == self.shared.expected {
                churned = true;
                say(&format!("churned {}", self.i));
            }
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    eprintln!("client {}: session closed by the daemon", self.i);
                    ka.abort();
                    return;
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn prefix(&self, h: &mut Held, announce: bool, k: u64, now: u64, t0: Option<u64>) {
        let Some(&x) = self.shared.index.get(&k) else {
            return;
        };
        let x = x as usize;
        let bit = 1u64 << (x % 64);
        if announce && h.bits[x / 64] & bit == 0 {
            h.bits[x / 64] |= bit;
            h.count += 1;
        } else if !announce && h.bits[x / 64] & bit != 0 {
            h.bits[x / 64] &= !bit;
            h.count -= 1;
        }
        let Some(t0) = t0 else { return };
        let second = self.shared.second_of[x];
        if second == u16::MAX {
            return;
        }
        // A changed prefix changes once (at its second), a withdrawn one twice (withdrawn
        // at its second, announced again the second after).
        let k = h.changes[x];
        let want = if self.shared.flaps[x] { 2 } else { 1 };
        if k >= want {
            return;
        }
        let due = t0 + (u64::from(second) + u64::from(k)) * 1_000_000_000;
        // Earlier than due: a repeat of the change before, not this one.
        if now < due {
            return;
        }
        h.changes[x] += 1;
        h.seen += 1;
        self.shared.seen.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut lags) = self.shared.lags.lock() {
            lags.add((now - due) / 1000);
        }
    }
}
