//! The daemons the side-by-side benchmarks measure: our `route-reflector`, BIRD 2, BIRD 3
//! (`--bird3 PATH`), FRR bgpd (Debian's 8.4 as packaged and with `coalesce-time 0`, FRR 10
//! built from source with `--frr10 PREFIX`) and GoBGP, each
//! started with a generated configuration on loopback addresses of a network namespace of
//! the benchmark's own (see [`in_netns`]).
//!
//! A [`Layout`] says which peers the daemon under test has: route-reflector clients (iBGP,
//! accepted from 10.254.0.0/16 where the daemon takes a range, listed where it does not) and
//! feeders (iBGP non-clients or eBGP peers at listed addresses in 10.253.0.0/16). The daemon
//! is passive towards every peer: the benchmark's sessions connect to it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon's AS, and that of its clients and iBGP feeders.
pub const ASN: u32 = 65000;
/// The port the daemon listens on.
pub const PORT: u16 = 11179;
/// The daemon's address. (FRR finds no interface for 127.0.0.0/8 addresses.)
pub const DUT: Ipv4Addr = Ipv4Addr::new(10, 254, 0, 1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dut {
    Ours,
    Bird,
    /// BIRD 3 built from source (`--bird3 PATH`, see `benches/build-bird3.sh`).
    Bird3,
    Frr,
    FrrTuned,
    /// FRR 10 built from source (`--frr10 PREFIX`, see `benches/build-frr.sh`), configured
    /// as `FrrTuned`; with mgmtd, which FRR 10 runs beside zebra.
    Frr10,
    Gobgp,
}

impl Dut {
    pub const ALL: [Dut; 7] = [
        Dut::Ours,
        Dut::Bird,
        Dut::Bird3,
        Dut::Frr,
        Dut::FrrTuned,
        Dut::Frr10,
        Dut::Gobgp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dut::Ours => "ours",
            Dut::Bird => "bird",
            Dut::Bird3 => "bird3",
            Dut::Frr => "frr",
            Dut::FrrTuned => "frr-tuned",
            Dut::Frr10 => "frr10",
            Dut::Gobgp => "gobgp",
        }
    }

    pub fn parse(s: &str) -> Option<Dut> {
        Dut::ALL.into_iter().find(|d| d.name() == s)
    }

    fn is_frr(self) -> bool {
        matches!(self, Dut::Frr | Dut::FrrTuned | Dut::Frr10)
    }
}

/// Client `i`'s address: 10.254.1.1 and on; the namespace's loopback holds 10.254.0.0/16
/// as local addresses.
pub fn client_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0afe_0101 + u32::try_from(i).expect("few clients"))
}

/// Feeder `i`'s address: 10.253.0.1 and on (outside the clients' range).
pub fn feeder_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0afd_0001 + u32::try_from(i).expect("few feeders"))
}

/// Peer `i`'s IPv4 next hop: 10.255.0.1 and on. (Loopback next hops are martians.)
pub fn next_hop(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0aff_0001 + u32::try_from(i).expect("few peers"))
}

/// Peer `i`'s IPv6 next hop: fd00:ff::1 and on, on the namespace's loopback too.
pub fn next_hop6(i: usize) -> Ipv6Addr {
    Ipv6Addr::from(0xfd00_00ff_u128 << 96 | (1 + i as u128))
}

/// How a feeder peers with the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An iBGP peer that is not a route-reflector client: its routes are reflected to the
    /// clients.
    Ibgp,
    /// An eBGP peer of this AS; everything it sends is accepted, nothing is sent to it.
    Ebgp(u32),
}

/// A listed peer that sends routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feeder {
    pub addr: Ipv4Addr,
    pub role: Role,
}

/// The peers of the daemon under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Route-reflector clients at [`client_addr`] 0 and on.
    pub clients: usize,
    pub feeders: Vec<Feeder>,
    /// Hold time offered (the keepalive interval is a third).
    pub hold: u16,
    /// IPv6 unicast too, on the same (IPv4) sessions.
    pub ipv6: bool,
}

impl Layout {
    /// `clients` clients and no feeders, IPv4 only.
    pub fn clients(clients: usize, hold: u16) -> Layout {
        Layout {
            clients,
            feeders: Vec::new(),
            hold,
            ipv6: false,
        }
    }
}

/// A daemon under test: its processes and scratch directory; stopped when dropped.
#[derive(Debug)]
pub struct Running {
    /// The daemon, and FRR's zebra (which bgpd needs to resolve next hops).
    children: Vec<Child>,
    pub dir: PathBuf,
}

impl Running {
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// User + system CPU of every process of the daemon.
    pub fn cpu(&self) -> Duration {
        self.children.iter().map(|c| cpu_of(c.id())).sum()
    }

    /// Peak resident memory (VmHWM) of every process of the daemon, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.children.iter().map(|c| peak_rss_kib(c.id())).sum()
    }

    /// Resident memory now (VmRSS) of every process of the daemon, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.children.iter().map(|c| rss_kib(c.id())).sum()
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

fn proc_field(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process, from /proc.
pub fn cpu_of(pid: u32) -> Duration {
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

/// This process's CPU time.
pub fn self_cpu() -> Duration {
    cpu_of(std::process::id())
}

/// Peak resident memory (VmHWM) in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_field(pid, "VmHWM:")
}

/// Resident memory now (VmRSS) in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    proc_field(pid, "VmRSS:")
}

/// Raises the open file limit as far as allowed (thousands of sessions).
pub fn raise_fd_limit() {
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

/// A binary next to this one (the workspace's target directory).
pub fn tool(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name(name)
}

/// The BIRD 3 binary given with `--bird3 PATH`.
static BIRD3: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Sets the BIRD 3 binary (`--bird3 PATH`); the first call wins.
pub fn set_bird3(path: PathBuf) {
    let _ = BIRD3.set(path);
}

fn bird3_path() -> Option<PathBuf> {
    BIRD3.get().cloned()
}

/// The install prefix of FRR 10 given with `--frr10 PREFIX`.
static FRR10: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Sets the install prefix of FRR 10 (`--frr10 PREFIX`); the first call wins.
pub fn set_frr10(prefix: PathBuf) {
    let _ = FRR10.set(prefix);
}

/// Whether `--frr10` or `--bird3` named a build from source.
pub fn built(d: Dut) -> bool {
    match d {
        Dut::Frr10 => FRR10.get().is_some(),
        Dut::Bird3 => BIRD3.get().is_some(),
        _ => false,
    }
}

/// The directory of an FRR DUT's `bgpd`, `zebra` (and `mgmtd` for FRR 10).
fn frr_dir(dut: Dut) -> PathBuf {
    debug_assert!(dut.is_frr());
    match dut {
        Dut::Frr10 => FRR10
            .get()
            .map_or_else(|| PathBuf::from("/nonexistent"), |p| p.join("sbin")),
        _ => PathBuf::from("/usr/lib/frr"),
    }
}

/// Whether the daemon is installed.
pub fn available(d: Dut) -> bool {
    let bin = match d {
        Dut::Ours => return tool("route-reflector").exists(),
        Dut::Bird3 => return bird3_path().is_some_and(|p| p.exists()),
        Dut::Bird => "bird",
        Dut::Frr | Dut::FrrTuned | Dut::Frr10 => return frr_dir(d).join("bgpd").exists(),
        Dut::Gobgp => "gobgpd",
    };
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ours_conf(dir: &Path, l: &Layout) -> String {
    let hold = l.hold;
    let mut text = format!(
        "router_id = \"127.0.0.1\"\nasn = {ASN}\nlisten = [\"10.254.0.1:{PORT}\"]\n\
         [log]\nlevel = \"warn\"\n[metrics]\nlisten = \"\"\n\
         [admin]\nsocket = \"{}/rr.sock\"\n[graceful_restart]\nenabled = false\n\
         [timers]\nhold_time = {hold}\n\
         [[client_range]]\nrange = \"10.254.0.0/16\"\nmax = 100000\n",
        dir.display(),
    );
    for f in &l.feeders {
        match f.role {
            Role::Ibgp => text.push_str(&format!(
                "[[ibgp]]\naddress = \"{}\"\npassive = true\n",
                f.addr
            )),
            Role::Ebgp(asn) => text.push_str(&format!(
                "[[ebgp]]\naddress = \"{}\"\nasn = {asn}\npassive = true\n\
                 import = \"accept-all\"\nexport = \"reject-all\"\n",
                f.addr
            )),
        }
    }
    // RR_BENCH_OURS_EXTRA: more of our configuration (monitoring, say), `{dir}` standing
    // for the run's directory.
    text.push_str(
        &std::env::var("RR_BENCH_OURS_EXTRA")
            .unwrap_or_default()
            .replace("{dir}", &dir.display().to_string()),
    );
    text
}

fn bird_conf(dut: Dut, l: &Layout) -> String {
    let hold = l.hold;
    // BIRD 3 runs BGP in its worker thread group: as many threads as cores.
    let threads = if dut == Dut::Bird3 {
        "thread group worker { threads 2; default yes; }\n"
    } else {
        ""
    };
    let v6 = if l.ipv6 {
        " ipv6 { import all; export all; };"
    } else {
        ""
    };
    let mut text = format!(
        "{threads}router id 127.0.0.1;\nprotocol device {{}}\n\
         template bgp c {{ local 10.254.0.1 port {PORT} as {ASN}; rr client; \
         rr cluster id 127.0.0.1; passive on; hold time {hold}; \
         ipv4 {{ import all; export all; }};{v6} }}\n"
    );
    for i in 0..l.clients {
        text.push_str(&format!(
            "protocol bgp c{i} from c {{ neighbor {} as {ASN}; }}\n",
            client_addr(i)
        ));
    }
    let v6 = if l.ipv6 {
        " ipv6 { import all; export none; };"
    } else {
        ""
    };
    for (i, f) in l.feeders.iter().enumerate() {
        // eBGP feeders as multihop: their next hops resolve as iBGP ones do (recursively).
        let (asn, multihop) = match f.role {
            Role::Ibgp => (ASN, ""),
            Role::Ebgp(asn) => (asn, " multihop 2;"),
        };
        text.push_str(&format!(
            "protocol bgp f{i} {{ local 10.254.0.1 port {PORT} as {ASN}; neighbor {} as {asn};\
             {multihop} passive on; hold time {hold}; ipv4 {{ import all; export none; }};{v6} }}\n",
            f.addr
        ));
    }
    text
}

fn frr_conf(dut: Dut, l: &Layout) -> String {
    let hold = l.hold;
    // `coalesce-time 0`: announce once the decision is made instead of after the subgroup
    // coalesce timer (1 s, adjusted by the number of peers, in 8.4 and 10 alike). FRR 10 adds
    // input and output queue limits (10,000 messages by default, not reached here) and keeps
    // 8.4's read and write quanta (10 and 64 packets per I/O pass).
    let tuned = if dut == Dut::Frr {
        ""
    } else {
        " coalesce-time 0\n"
    };
    let mut text = format!(
        "frr defaults traditional\nhostname dut\n\
         router bgp {ASN}\n bgp router-id 127.0.0.1\n bgp cluster-id 127.0.0.1\n\
         no bgp ebgp-requires-policy\n{tuned} bgp listen limit 65535\n\
         timers bgp {} {hold}\n\
         neighbor clients peer-group\n neighbor clients remote-as {ASN}\n\
         bgp listen range 10.254.0.0/16 peer-group clients\n",
        hold / 3
    );
    for f in &l.feeders {
        let asn = match f.role {
            Role::Ibgp => ASN,
            Role::Ebgp(asn) => asn,
        };
        text.push_str(&format!(
            " neighbor {a} remote-as {asn}\n neighbor {a} passive\n",
            a = f.addr
        ));
        if matches!(f.role, Role::Ebgp(_)) {
            text.push_str(&format!(" neighbor {} disable-connected-check\n", f.addr));
        }
    }
    text.push_str(
        "address-family ipv4 unicast\n  neighbor clients activate\n\
         neighbor clients route-reflector-client\n exit-address-family\n",
    );
    if l.ipv6 {
        text.push_str(
            " address-family ipv6 unicast\n  neighbor clients activate\n\
             neighbor clients route-reflector-client\n",
        );
        for f in &l.feeders {
            text.push_str(&format!("  neighbor {} activate\n", f.addr));
        }
        text.push_str(" exit-address-family\n");
    }
    text
}

fn gobgp_conf(l: &Layout) -> String {
    let hold = l.hold;
    let families: &[&str] = if l.ipv6 {
        &["ipv4-unicast", "ipv6-unicast"]
    } else {
        &["ipv4-unicast"]
    };
    let afi_safis = |table: &str| {
        families
            .iter()
            .map(|f| format!("[[{table}.afi-safis]]\n    [{table}.afi-safis.config]\nafi-safi-name = \"{f}\"\n"))
            .collect::<String>()
    };
    let mut text = format!(
        "[global.config]\n  as = {ASN}\n  router-id = \"127.0.0.1\"\n  port = {PORT}\n\
         local-address-list = [\"10.254.0.1\"]\n\
         [[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"clients\"\n\
         peer-as = {ASN}\n  [peer-groups.timers.config]\n    hold-time = {hold}\n\
         keepalive-interval = {}\n  [peer-groups.route-reflector.config]\n\
         route-reflector-client = true\n    route-reflector-cluster-id = \"127.0.0.1\"\n\
         {}\
         [[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n\
         prefix = \"10.254.0.0/16\"\n    peer-group = \"clients\"\n",
        hold / 3,
        afi_safis("peer-groups"),
    );
    for f in &l.feeders {
        let asn = match f.role {
            Role::Ibgp => ASN,
            Role::Ebgp(asn) => asn,
        };
        text.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n\
             peer-as = {asn}\n  [neighbors.transport.config]\n    passive-mode = true\n\
             [neighbors.timers.config]\n    hold-time = {hold}\n\
             keepalive-interval = {}\n{}",
            f.addr,
            hold / 3,
            afi_safis("neighbors"),
        ));
    }
    text
}

/// Starts FRR 10's mgmtd, through which FRR 10's zebra takes its configuration (a production
/// FRR 10 always runs it; its CPU and memory count with the DUT's). It reads no file of its
/// own; its vty socket goes in `dir`, its others in the prefix's state directory.
fn mgmtd(dir: &Path, log: &std::fs::File) -> Result<Child, String> {
    let c = Command::new(frr_dir(Dut::Frr10).join("mgmtd"))
        .arg("-i")
        .arg(dir.join("mgmtd.pid"))
        .arg("--vty_socket")
        .arg(dir)
        .args(["--log", "stdout", "--log-level", "warn"])
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log.try_clone().map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("mgmtd: {e}"))?;
    let t = Instant::now();
    while !dir.join("mgmtd.vty").exists() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(c)
}

/// Starts `dut` with a configuration for `layout`; returns once it accepts connections.
pub fn start(dut: Dut, layout: &Layout) -> Result<Running, String> {
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
            let cfg = w("rr.toml", ours_conf(&dir, layout))?;
            // RR_BENCH_OURS_WRAP: a profiler to run the daemon under (`perf record -g -o
            // FILE`, `heaptrack -o FILE`); its figures are then the profiler's too.
            let wrap = std::env::var("RR_BENCH_OURS_WRAP").unwrap_or_default();
            let mut words = wrap.split_whitespace();
            let mut c = match words.next() {
                Some(w) => {
                    let mut c = Command::new(w);
                    c.args(words).arg(tool("route-reflector"));
                    c
                }
                None => Command::new(tool("route-reflector")),
            };
            c.arg("run").arg(cfg);
            c
        }
        Dut::Bird | Dut::Bird3 => {
            let cfg = w("bird.conf", bird_conf(dut, layout))?;
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
        Dut::Frr | Dut::FrrTuned | Dut::Frr10 => {
            let cfg = w("bgpd.conf", frr_conf(dut, layout))?;
            let zcfg = w("zebra.conf", "hostname z\n".into())?;
            // zebra runs as the frr user (its vty group); its socket goes in `dir`.
            let _ = Command::new("chown").arg("frr:frr").arg(&dir).status();
            if dut == Dut::Frr10 {
                children.push(mgmtd(&dir, &log)?);
            }
            let zebra = Command::new(frr_dir(dut).join("zebra"))
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
            let mut c = Command::new(frr_dir(dut).join("bgpd"));
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
            let cfg = w("gobgpd.toml", gobgp_conf(layout))?;
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
    if dut.is_frr() {
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

/// Set in the environment of the benchmark run again inside its namespace.
pub const INNER: &str = "RR_BENCH_INNER";

/// Whether this process runs inside the namespace [`in_netns`] made.
pub fn inside_netns() -> bool {
    std::env::var_os(INNER).is_some()
}

/// Runs this program again inside a fresh namespace named `name-PID` and exits with its
/// status. The namespace's loopback holds the daemon's and the peers' addresses
/// (10.254.0.0/16 and 10.253.0.0/16 as local addresses) and routes the peers' next hops
/// (10.255.0.0/16, fd00:ff::/64), so that every daemon (FRR through zebra) resolves them.
pub fn in_netns(name: &str) -> ! {
    let ns = format!("{name}-{}", std::process::id());
    let sh = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !sh(&format!(
        "ip netns add {ns} && ip netns exec {ns} sh -c \
         'ip link set lo up && ip addr add 10.255.255.254/16 dev lo && \
         ip addr add 10.254.0.1/32 dev lo && ip route add local 10.254.0.0/16 dev lo && \
         ip route add local 10.253.0.0/16 dev lo && \
         {{ ip -6 addr add fd00:ff::ffff/64 dev lo || true; }}'"
    )) {
        eprintln!("{name}: needs root and iproute2 (a network namespace of its own)");
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
