//! Network namespaces, veth links and processes inside them, each removed when dropped:
//! the building blocks of the lab and of the interop tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace with `lo` up and forwarding on; deleted (with every process still
/// in it) on drop.
pub struct Ns {
    pub name: String,
}

impl Ns {
    pub fn new(name: &str) -> Result<Ns, String> {
        // A namespace left behind by an interrupted run of the same name goes first.
        if Path::new("/run/netns").join(name).exists() {
            drop(Ns { name: name.into() });
        }
        run(Command::new("ip").args(["netns", "add", name]))?;
        let ns = Ns { name: name.into() };
        ns.sh("ip link set lo up && sysctl -qw net.ipv4.ip_forward=1 \
             net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
             net.ipv6.conf.all.forwarding=1")?;
        Ok(ns)
    }

    /// A command run inside the namespace.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `sh -c SCRIPT` inside the namespace: its stdout, or stderr as the error.
    pub fn sh(&self, script: &str) -> Result<String, String> {
        run(self.cmd("sh").args(["-c", script]))
            .map_err(|e| format!("in {}: {script}: {e}", self.name))
    }

    /// Starts `program` inside the namespace with stdout and stderr going to `log`.
    pub fn spawn(&self, name: &str, cmd: &mut Command, log: &Path) -> Result<Proc, String> {
        let mut c = self.cmd(cmd.get_program());
        c.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        Proc::spawn(name, &mut c, log)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        if let Ok(pids) = run(Command::new("ip").args(["netns", "pids", &self.name])) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// A veth pair: `a_if` in `a`, `b_if` in `b`, both up.
pub fn veth(a: &Ns, a_if: &str, b: &Ns, b_if: &str) -> Result<(), String> {
    run(Command::new("ip").args([
        "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]))?;
    a.sh(&format!("ip link set {a_if} up"))?;
    b.sh(&format!("ip link set {b_if} up"))?;
    Ok(())
}

/// Runs a command: its stdout, or its stderr as the error.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    match output(cmd) {
        (0, out, _) => Ok(out),
        (_, out, err) => Err(format!("{}{}", err.trim(), out.trim())),
    }
}

/// Runs a command: (exit code, stdout, stderr); -1 and the reason when it cannot run.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    match cmd.output() {
        Ok(o) => (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (-1, String::new(), e.to_string()),
    }
}

/// A process in a namespace: SIGTERM (then SIGKILL) on drop.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` (in this namespace) with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("{}: {e}", cmd.get_program().to_string_lossy()))?;
        Ok(Proc {
            name: name.into(),
            child: Some(child),
            log: log.into(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `signal` (e.g. "-TERM") and waits up to 5 s for the exit; true if it exited
    /// successfully.
    pub fn stop_with(&mut self, signal: &str) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args([signal, &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn stop(&mut self) -> bool {
        self.stop_with("-TERM")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `f` every 50 ms until it holds or `limit` passed; the time it took.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether this machine can run the lab: root and network namespaces.
pub fn netns_available() -> bool {
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("probe-{}-{n}", std::process::id());
    match Ns::new(&probe) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("network namespaces unavailable: {e}");
            false
        }
    }
}
