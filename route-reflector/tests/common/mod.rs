//! Reflector processes and client speakers inside a namespace of their own, whose loopback
//! holds every address of a two-rack topology.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bgp_speaker::{Announcement, PeerSettings, RouteDetail, RouteQuery, Speaker, SpeakerConfig};

#[path = "../../src/bin/rr-lab/netns.rs"]
pub mod netns;

pub const BIN: &str = env!("CARGO_BIN_EXE_route-reflector");
pub const INNER: &str = "RR_NETNS_INNER";

/// Runs the test `inner` of this binary inside a new namespace whose `lo` carries
/// `addresses`; removes the namespace afterwards. Under `CI=true` a missing namespace
/// support fails the test; elsewhere it skips.
pub fn in_netns(inner: &str, addresses: &[&str]) {
    let name = format!("rrt-{}-{}", std::process::id(), inner);
    let ns = match netns::Ns::new(&name) {
        Ok(ns) => ns,
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "network namespaces are required under CI: {e}"
            );
            eprintln!("skipped: cannot create a network namespace here ({e})");
            return;
        }
    };
    let setup: Vec<String> = addresses
        .iter()
        .map(|a| format!("ip addr add {a}/32 dev lo"))
        .collect();
    if !setup.is_empty() {
        let setup = setup.join(" && ");
        if let Err(e) = ns.sh(&setup) {
            panic!("namespace setup failed: {e}");
        }
    }
    let out = ns
        .cmd(std::env::current_exe().unwrap())
        .args([
            "--exact",
            inner,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, &name)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{inner} failed inside the namespace:\n{text}"
    );
    assert!(text.contains("1 passed"), "{inner} did not run:\n{text}");
}

/// Declares an outer test that runs the inner one in a namespace with `addresses` on lo.
#[macro_export]
macro_rules! netns_test {
    ($outer:ident, $inner:ident, $addresses:expr, $body:block) => {
        #[test]
        fn $outer() {
            common::in_netns(stringify!($inner), $addresses);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "runs inside a namespace, through the test without the inner_ prefix"]
        async fn $inner() {
            assert!(
                std::env::var(common::INNER).is_ok(),
                "run through the outer test"
            );
            $body
        }
    };
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rr-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A reflector process: started from a config file, stopped with SIGTERM on drop. Its log
/// goes to a file printed when the test fails.
pub struct Reflector {
    pub name: String,
    pub config: PathBuf,
    pub socket: PathBuf,
    log: PathBuf,
    proc: Option<netns::Proc>,
}

impl Reflector {
    pub fn start(dir: &Path, name: &str, config: &str, graceful_restart: bool) -> Reflector {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let mut r = Reflector {
            name: name.into(),
            socket: dir.join(format!("{name}.sock")),
            log: dir.join(format!("{name}.log")),
            config: path,
            proc: None,
        };
        r.spawn(graceful_restart);
        r
    }

    pub fn spawn(&mut self, graceful_restart: bool) {
        let mut cmd = Command::new(BIN);
        cmd.arg("run");
        if graceful_restart {
            cmd.arg("--graceful-restart");
        }
        cmd.arg(&self.config).env("RUST_LOG", "info");
        self.proc = Some(netns::Proc::spawn(&self.name, &mut cmd, &self.log).unwrap());
    }

    /// SIGTERM and wait for the exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        self.proc.take().is_some_and(|mut p| p.stop())
    }

    pub fn signal(&self, sig: &str) {
        let id = self
            .proc
            .as_ref()
            .and_then(|p| p.pid())
            .unwrap()
            .to_string();
        assert!(
            Command::new("kill")
                .args([sig, &id])
                .status()
                .unwrap()
                .success()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs the CLI against this reflector: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        netns::output(
            Command::new(BIN)
                .args(args)
                .arg("--socket")
                .arg(&self.socket),
        )
    }

    /// The CLI's JSON answer.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let (code, out, err) = self.cli(&a);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap()
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- log of {} ----\n{}", self.name, self.log());
        }
    }
}

/// A node: our speaker as a client of its rack's reflector, announcing its pod block.
pub async fn node(addr: &str, reflector: &str, asn: u32, block: &str) -> Speaker {
    let me: IpAddr = addr.parse().unwrap();
    let IpAddr::V4(id) = me else {
        panic!("IPv4 node")
    };
    let mut c = SpeakerConfig::new(asn, id);
    let mut p = PeerSettings::new(reflector.parse().unwrap(), asn);
    p.local_address = Some(me);
    p.connect_retry = Some(1);
    p.hold_time = 9;
    p.graceful_restart = Some(120);
    c.router.peers.push(p);
    let s = Speaker::start(c).await.unwrap();
    s.announce(block.parse().unwrap(), Announcement::default())
        .await
        .unwrap();
    s
}

/// The paths a speaker holds for `prefix`.
pub async fn paths(s: &Speaker, prefix: &str) -> Option<RouteDetail> {
    let q = RouteQuery {
        prefix: Some(prefix.parse().unwrap()),
        ..RouteQuery::default()
    };
    s.routes(q)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.prefix.to_string() == prefix)
}

/// Waits (30 s at most) until `f` holds; fails the test naming `what` otherwise.
pub async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        while !f().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for {what}");
}

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
