//! Route reflector convergence, side by side: our `route-reflector`, BIRD 2, FRR bgpd (as
//! packaged and with `coalesce-time 0`) and GoBGP, each started with a generated config on
//! loopback addresses of a namespace of its own. N iBGP clients (this tool, on `bgp_core` sessions) each announce K /24s packed
//! into full UPDATEs; a monitor client announces nothing.
//!
//!     cargo build --release -p route-reflector -p benches
//!     target/release/rr-bench [--quick] [--shapes 10x10000,100x1000,...] [--duts ours,bird,...]
//!                             [--keepalive N] [--limit SECONDS]
//!
//! Measured per shape and reflector: convergence (first announcement until every client holds
//! the N*K - K routes of the others and the monitor all N*K), the reflector's CPU seconds
//! (user + system) and peak RSS from /proc, bytes per route, withdrawal churn (one client
//! withdraws its K routes: time until every other client has dropped them), and this tool's
//! own CPU to show it was not the bottleneck. `--keepalive N` holds N sessions (hold time 30 s)
//! for 60 s after convergence and reports hold-timer expiries and the largest gap between
//! messages received by a client (keepalive lag). Needs root only to raise the open file
//! limit for thousands of sessions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bgp_core::Afi;
use bgp_core::session::{Action, Event, PeerAs, Session, SessionConfig};
use bgp_core::wire::attributes::{AsPath, Origin};
use bgp_core::wire::{PathAttributes, Prefixes, Update};
use ipnet::{IpNet, Ipv4Net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::watch;

const ASN: u32 = 65000;
const PORT: u16 = 11179;
const PER_UPDATE: usize = 1000;
const BASE: u32 = 0x0b00_0000; // 11.0.0.0: prefix i is 11.0.0.0 + i * 256, a /24

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dut {
    Ours,
    Bird,
    /// BIRD 3 built from source (`--bird3 PATH`, see `benches/build-bird3.sh`).
    Bird3,
    Frr,
    FrrTuned,
    Gobgp,
}

impl Dut {
    fn name(self) -> &'static str {
        match self {
            Dut::Ours => "ours",
            Dut::Bird => "bird",
            Dut::Bird3 => "bird3",
            Dut::Frr => "frr",
            Dut::FrrTuned => "frr-tuned",
            Dut::Gobgp => "gobgp",
        }
    }

    fn parse(s: &str) -> Option<Dut> {
        [
            Dut::Ours,
            Dut::Bird,
            Dut::Bird3,
            Dut::Frr,
            Dut::FrrTuned,
            Dut::Gobgp,
        ]
        .into_iter()
        .find(|d| d.name() == s)
    }
}

/// The reflector's address. (FRR finds no interface for 127.0.0.0/8 addresses.)
const DUT: Ipv4Addr = Ipv4Addr::new(10, 254, 0, 1);

/// Client `i`'s address: 10.254.1.1 and on (the monitor is one more); the namespace's
/// loopback holds 10.254.0.0/16 as local addresses.
fn client_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0afe_0101 + u32::try_from(i).expect("few clients"))
}

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

/// Appends `data` to `pending` and takes every complete message off it. With `count`,
/// UPDATEs have their withdrawn and announced IPv4 prefixes passed to `prefix` (false,
/// true), attributes unread; every other message goes to `other` whole (so the session
/// never holds part of a message). Returns the number of UPDATEs counted.
fn frame_updates(
    pending: &mut Vec<u8>,
    data: &[u8],
    count: bool,
    mut other: impl FnMut(&[u8]),
    mut prefix: impl FnMut(&[u8], bool),
) -> usize {
    pending.extend_from_slice(data);
    let mut at = 0;
    let mut updates = 0;
    while pending.len() - at >= 19 {
        let len = usize::from(u16::from_be_bytes([pending[at + 16], pending[at + 17]]));
        if len < 19 || pending.len() - at < len {
            break;
        }
        let msg = &pending[at..at + len];
        if count && msg[18] == 2 && len >= 23 {
            updates += 1;
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
        } else {
            other(msg);
        }
        at += len;
    }
    pending.drain(..at);
    updates
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

fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 (11 and 12 after the command name).
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn self_cpu() -> Duration {
    cpu_of(std::process::id())
}

/// Peak resident memory (VmHWM) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn raise_fd_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct pointer.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max.max(65536);
            r.rlim_max = r.rlim_cur;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                r.rlim_cur = r.rlim_max;
                let _ = libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            }
        }
    }
}

/// A reflector under test: its process and scratch directory.
struct Running {
    /// The daemon, and FRR's zebra (which bgpd needs to resolve next hops).
    children: Vec<Child>,
    dir: PathBuf,
}

impl Running {
    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            for _ in 0..100 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // RR_BENCH_KEEP=1 keeps the configs and logs for a look afterwards.
        if std::env::var_os("RR_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn tool(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name(name)
}

fn start(dut: Dut, clients: usize, hold: u16) -> Result<Running, String> {
    let dir = std::env::temp_dir().join(format!("rr-bench-{}-{}", dut.name(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let w = |name: &str, text: String| -> Result<PathBuf, String> {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| e.to_string())?;
        Ok(p)
    };
    let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    let mut cmd = match dut {
        Dut::Ours => {
            let cfg = w(
                "rr.toml",
                format!(
                    "router_id = \"127.0.0.1\"\nasn = {ASN}\nlisten = [\"10.254.0.1:{PORT}\"]\n\
                     [log]\nlevel = \"warn\"\n[metrics]\nlisten = \"\"\n\
                     [admin]\nsocket = \"{}/rr.sock\"\n[graceful_restart]\nenabled = false\n\
                     [timers]\nhold_time = {hold}\n\
                     [[client_range]]\nrange = \"10.254.0.0/16\"\nmax = 100000\n{}",
                    dir.display(),
                    // RR_BENCH_OURS_EXTRA: more of our configuration (monitoring, say),
                    // `{dir}` standing for the run's directory.
                    std::env::var("RR_BENCH_OURS_EXTRA")
                        .unwrap_or_default()
                        .replace("{dir}", &dir.display().to_string()),
                ),
            )?;
            let mut c = Command::new(tool("route-reflector"));
            c.arg("run").arg(cfg);
            c
        }
        Dut::Bird | Dut::Bird3 => {
            // BIRD 3 runs BGP in its worker thread group: as many threads as cores.
            let threads = if dut == Dut::Bird3 {
                "thread group worker { threads 2; default yes; }\n"
            } else {
                ""
            };
            let mut text = format!(
                "{threads}router id 127.0.0.1;\nprotocol device {{}}\n\
                 template bgp c {{ local 10.254.0.1 port {PORT} as {ASN}; rr client; \
                 rr cluster id 127.0.0.1; passive on; hold time {hold}; \
                 ipv4 {{ import all; export all; }}; }}\n"
            );
            for i in 0..clients {
                text.push_str(&format!(
                    "protocol bgp c{i} from c {{ neighbor {} as {ASN}; }}\n",
                    client_addr(i)
                ));
            }
            let cfg = w("bird.conf", text)?;
            let mut c = Command::new(match dut {
                Dut::Bird3 => bird3_path().unwrap_or_else(|| PathBuf::from("bird3")),
                _ => PathBuf::from("bird"),
            });
            c.arg("-f")
                .arg("-c")
                .arg(cfg)
                .arg("-s")
                .arg(dir.join("bird.ctl"));
            c
        }
        Dut::Frr | Dut::FrrTuned => {
            let tuned = if dut == Dut::FrrTuned {
                " coalesce-time 0\n"
            } else {
                ""
            };
            let cfg = w(
                "bgpd.conf",
                format!(
                    "frr defaults traditional\nhostname dut\n\
                     router bgp {ASN}\n bgp router-id 127.0.0.1\n bgp cluster-id 127.0.0.1\n\
                     no bgp ebgp-requires-policy\n{tuned} bgp listen limit 65535\n\
                     timers bgp {} {hold}\n\
                     neighbor clients peer-group\n neighbor clients remote-as {ASN}\n\
                     bgp listen range 10.254.0.0/16 peer-group clients\n\
                     address-family ipv4 unicast\n  neighbor clients activate\n\
                     neighbor clients route-reflector-client\n exit-address-family\n",
                    hold / 3
                ),
            )?;
            let zcfg = w("zebra.conf", "hostname z\n".into())?;
            // zebra runs as the frr user (its vty group); its socket goes in `dir`.
            let _ = Command::new("chown").arg("frr:frr").arg(&dir).status();
            let zebra = Command::new("/usr/lib/frr/zebra")
                .arg("-f")
                .arg(zcfg)
                .arg("-i")
                .arg(dir.join("zebra.pid"))
                .arg("--vty_socket")
                .arg(&dir)
                .arg("-z")
                .arg(dir.join("zserv.api"))
                .args(["--log", "stdout", "--log-level", "warn"])
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log.try_clone().map_err(|e| e.to_string())?)
                .spawn()
                .map_err(|e| format!("zebra: {e}"))?;
            children.push(zebra);
            let t = Instant::now();
            while !dir.join("zserv.api").exists() && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut c = Command::new("/usr/lib/frr/bgpd");
            c.arg("-f")
                .arg(cfg)
                .args(["-n", "-S", "-p", &PORT.to_string(), "-l", "10.254.0.1"])
                .arg("-i")
                .arg(dir.join("bgpd.pid"))
                .arg("--vty_socket")
                .arg(&dir)
                .arg("-z")
                .arg(dir.join("zserv.api"))
                .args(["--log", "stdout", "--log-level", "warn"]);
            c
        }
        Dut::Gobgp => {
            let cfg = w(
                "gobgpd.toml",
                format!(
                    "[global.config]\n  as = {ASN}\n  router-id = \"127.0.0.1\"\n  port = {PORT}\n\
                     local-address-list = [\"10.254.0.1\"]\n\
                     [[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"clients\"\n\
                     peer-as = {ASN}\n  [peer-groups.timers.config]\n    hold-time = {hold}\n\
                     keepalive-interval = {}\n  [peer-groups.route-reflector.config]\n\
                     route-reflector-client = true\n    route-reflector-cluster-id = \"127.0.0.1\"\n\
                     [[peer-groups.afi-safis]]\n    [peer-groups.afi-safis.config]\n\
                     afi-safi-name = \"ipv4-unicast\"\n\
                     [[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n\
                     prefix = \"10.254.0.0/16\"\n    peer-group = \"clients\"\n",
                    hold / 3
                ),
            )?;
            let mut c = Command::new("gobgpd");
            c.arg("-f")
                .arg(cfg)
                .args(["-l", "warn", "-p", "--pprof-disable"])
                .arg(format!("--api-hosts=127.0.0.1:{}", PORT + 1));
            c
        }
    };
    let child = cmd
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", dut.name()))?;
    children.insert(0, child);
    let r = Running { children, dir };
    if matches!(dut, Dut::Frr | Dut::FrrTuned) {
        // bgpd resets sessions that come up before zebra told it the interfaces.
        std::thread::sleep(Duration::from_secs(2));
    }
    // Ready when the port accepts.
    let t = Instant::now();
    while std::net::TcpStream::connect((DUT, PORT)).is_err() {
        if t.elapsed() > Duration::from_secs(20) {
            let log = std::fs::read_to_string(r.dir.join("log")).unwrap_or_default();
            return Err(format!("{} did not listen:\n{log}", dut.name()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(r)
}

/// Client `i`'s next hop: 10.255.0.1 and on. (Loopback next hops are martians.)
fn next_hop(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0aff_0001 + u32::try_from(i).expect("few clients"))
}

/// The UPDATEs announcing (or withdrawing) prefixes `range` with `nh` as next hop.
fn updates(range: std::ops::Range<u32>, nh: Ipv4Addr, withdraw: bool) -> Vec<Update> {
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

    async fn session(&mut self) {
        let addr = client_addr(self.i);
        let mut cfg = SessionConfig::new(ASN, addr, PeerAs::Is(ASN));
        cfg.hold_time = self.hold;
        cfg.families = vec![bgp_core::Family::IPV4_UNICAST];
        cfg.damp_peer_oscillations = false;
        let mut s = Session::new(cfg);
        let sock = match TcpSocket::new_v4() {
            Ok(s) => s,
            Err(e) => return eprintln!("client {}: {e}", self.i),
        };
        if let Err(e) = sock.bind(SocketAddr::new(IpAddr::V4(addr), 0)) {
            return eprintln!("client {}: bind {addr}: {e}", self.i);
        }
        let stream = match sock.connect(SocketAddr::new(IpAddr::V4(DUT), PORT)).await {
            Ok(s) => s,
            // Refused or reset while the reflector is busy: the caller tries again.
            Err(_) => return,
        };
        let _ = stream.set_nodelay(true);
        let (mut r, mut w) = stream.into_split();
        let mut held = vec![0u64; self.shared.total.div_ceil(64)];
        let mut count = 0u64;
        let first = self.i as u32 * self.k;
        let mine = first..first + self.k;
        let own = if self.announces {
            first as usize..(first + self.k) as usize
        } else {
            0..0
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut last_rx = Instant::now();
        s.start(Instant::now());
        let mut announced = false;
        let mut withdrawn = false;
        // Messages are framed here. Once established, UPDATEs are counted here (NLRI walked
        // in wire form, attributes skipped) instead of decoded by the session: the tool's
        // clients must not be what the benchmark measures. The rest goes to the session.
        let mut established = false;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            while let Some(a) = s.poll_action() {
                match a {
                    Action::Connect => s.handle_connected(Instant::now()),
                    Action::Transmit(b) => {
                        if w.write_all(&b).await.is_err() {
                            s.handle_closed(Instant::now());
                        }
                    }
                    Action::Close => {
                        if self.shared.up[self.i].load(Ordering::Relaxed) {
                            self.shared.downs.fetch_add(1, Ordering::Relaxed);
                        }
                        return;
                    }
                    Action::Event(Event::Established(_)) => {
                        self.shared.up[self.i].store(true, Ordering::Relaxed);
                        established = true;
                    }
                    Action::Event(Event::Update(u)) => {
                        // Our own routes reflected back (FRR sends them; RFC 4456
                        // has the client drop them by ORIGINATOR_ID) are not counted.
                        let theirs = |x: usize| x < self.shared.total && !own.contains(&x);
                        for (_, p) in u.announced() {
                            for e in p.iter() {
                                if let Some(x) = prefix_index(&e.prefix)
                                    && theirs(x)
                                    && held[x / 64] & (1 << (x % 64)) == 0
                                {
                                    held[x / 64] |= 1 << (x % 64);
                                    count += 1;
                                }
                            }
                        }
                        for (_, p) in u.withdrawals() {
                            for e in p.iter() {
                                if let Some(x) = prefix_index(&e.prefix)
                                    && theirs(x)
                                    && held[x / 64] & (1 << (x % 64)) != 0
                                {
                                    held[x / 64] &= !(1 << (x % 64));
                                    count -= 1;
                                }
                            }
                        }
                        self.shared.counts[self.i].store(count, Ordering::Relaxed);
                    }
                    Action::Event(_) => {}
                }
            }
            let phase = *self.phase.borrow();
            let up = self.shared.up[self.i].load(Ordering::Relaxed);
            if up && self.announces && !announced && phase != Phase::Wait {
                announced = true;
                for u in updates(mine.clone(), next_hop(self.i), false) {
                    let _ = s.send_update(Instant::now(), &u);
                }
                continue;
            }
            if up && !withdrawn && phase == Phase::Withdraw(self.i) {
                withdrawn = true;
                for u in updates(mine.clone(), next_hop(self.i), true) {
                    let _ = s.send_update(Instant::now(), &u);
                }
                continue;
            }
            let deadline = s
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                n = r.read(&mut buf) => match n {
                    Ok(0) | Err(_) => {
                        s.handle_closed(Instant::now());
                        if self.shared.up[self.i].load(Ordering::Relaxed) {
                            self.shared.downs.fetch_add(1, Ordering::Relaxed);
                        }
                        return;
                    }
                    Ok(n) => {
                        let now = Instant::now();
                        if self.shared.gap_reset.load(Ordering::Relaxed) {
                            let gap = now.duration_since(last_rx).as_millis() as u64;
                            self.shared.max_gap_ms.fetch_max(gap, Ordering::Relaxed);
                        }
                        last_rx = now;
                        {
                            let theirs = |x: usize| x < self.shared.total && !own.contains(&x);
                            let updates = frame_updates(
                                &mut pending,
                                &buf[..n],
                                established,
                                |m| s.handle_data(now, m),
                                |prefix, announce| {
                                    let Some(x) = prefix_index_wire(prefix) else { return };
                                    if !theirs(x) {
                                        return;
                                    }
                                    let bit = 1u64 << (x % 64);
                                    if announce && held[x / 64] & bit == 0 {
                                        held[x / 64] |= bit;
                                        count += 1;
                                    } else if !announce && held[x / 64] & bit != 0 {
                                        held[x / 64] &= !bit;
                                        count -= 1;
                                    }
                                },
                            );
                            if updates > 0 {
                                // What the session did not see still proves the peer alive.
                                s.handle_data(now, &KEEPALIVE);
                                self.shared.counts[self.i].store(count, Ordering::Relaxed);
                            }
                        }
                    }
                },
                _ = self.phase.changed() => {}
                _ = tokio::time::sleep_until(deadline) => s.handle_timeout(Instant::now()),
            }
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
    let d = start(dut, n + 1, hold)?;
    let pids = d.pids();
    let cpu_all = || pids.iter().map(|p| cpu_of(*p)).sum::<Duration>();
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
    let mut tasks = Vec::new();
    for i in 0..=n {
        let c = Client {
            i,
            k,
            announces: i < n,
            hold,
            shared: shared.clone(),
            phase: rx.clone(),
        };
        tasks.push(tokio::spawn(c.run()));
        // Nodes coming up together, but not in one burst: 500 connections a second.
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let t = Instant::now();
    while !shared.up.iter().all(|u| u.load(Ordering::Relaxed)) {
        if t.elapsed() > Duration::from_secs(120) {
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
    let rss_kib = pids.iter().map(|p| peak_rss_kib(*p)).sum();
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
    for t in tasks {
        t.abort();
    }
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

/// The BIRD 3 binary given with `--bird3 PATH`.
static BIRD3: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn bird3_path() -> Option<PathBuf> {
    BIRD3.get().cloned()
}

fn available(d: Dut) -> bool {
    let bin = match d {
        Dut::Ours => return tool("route-reflector").exists(),
        Dut::Bird3 => return bird3_path().is_some_and(|p| p.exists()),
        Dut::Bird => "bird",
        Dut::Frr | Dut::FrrTuned => return Path::new("/usr/lib/frr/bgpd").exists(),
        Dut::Gobgp => "gobgpd",
    };
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const INNER: &str = "RR_BENCH_INNER";

/// Runs this tool again inside a fresh namespace whose loopback also routes the clients'
/// next hops (10.255.0.0/16), so that every reflector (FRR through zebra) resolves them.
fn in_netns() -> ! {
    let ns = format!("rr-bench-{}", std::process::id());
    let sh = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !sh(&format!(
        "ip netns add {ns} && ip netns exec {ns} sh -c \
         'ip link set lo up && ip addr add 10.255.255.254/16 dev lo && \
         ip addr add 10.254.0.1/32 dev lo && ip route add local 10.254.0.0/16 dev lo'"
    )) {
        eprintln!("rr-bench: needs root and iproute2 (a network namespace of its own)");
        std::process::exit(2);
    }
    let status = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(std::env::current_exe().expect("own path"))
        .args(std::env::args().skip(1))
        .env(INNER, "1")
        .status();
    let _ = sh(&format!("ip netns del {ns}"));
    std::process::exit(status.ok().and_then(|s| s.code()).unwrap_or(1));
}

#[tokio::main]
async fn main() {
    if std::env::var(INNER).is_err() {
        in_netns();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(p) = arg("--bird3") {
        let _ = BIRD3.set(PathBuf::from(p));
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
        .unwrap_or_else(|| vec![Dut::Ours, Dut::Bird, Dut::Frr, Dut::FrrTuned, Dut::Gobgp]);
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
