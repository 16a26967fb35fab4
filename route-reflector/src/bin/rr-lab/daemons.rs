//! Other BGP daemons from their Debian packages, run inside a namespace with a config we
//! write, and asked for their state through their own CLIs: FRR (bgpd with zebra), BIRD 2
//! and GoBGP.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::{Ns, Proc, run, wait_for};

pub const FRR_BGPD: &str = "/usr/lib/frr/bgpd";
pub const FRR_ZEBRA: &str = "/usr/lib/frr/zebra";
pub const FRR_BFDD: &str = "/usr/lib/frr/bfdd";

/// FRR's zebra and bgpd in one namespace; stopped on drop. zebra installs bgpd's routes into
/// the namespace's kernel table and resolves next hops for it.
pub struct Frr {
    pub dir: PathBuf,
    ns: String,
    // Dropped in reverse order of start: bgpd, bfdd, then zebra.
    bgpd: Option<Proc>,
    bfdd: Option<Proc>,
    zebra: Option<Proc>,
}

impl Frr {
    pub fn installed() -> bool {
        Path::new(FRR_BGPD).exists() && Path::new(FRR_ZEBRA).exists()
    }

    /// Starts zebra and bgpd (listening on `listen`, port 179) with `bgpd_conf` in
    /// `dir` (created, owned by the frr user as zebra needs).
    pub fn start(ns: &Ns, dir: &Path, listen: &str, bgpd_conf: &str) -> Result<Frr, String> {
        Frr::start_with(ns, dir, listen, bgpd_conf, None)
    }

    /// As [`Frr::start`], with bfdd (its config `bfdd_conf`) started before bgpd, so that
    /// `neighbor X bfd` has its sessions.
    pub fn start_with_bfdd(
        ns: &Ns,
        dir: &Path,
        listen: &str,
        bgpd_conf: &str,
        bfdd_conf: &str,
    ) -> Result<Frr, String> {
        Frr::start_with(ns, dir, listen, bgpd_conf, Some(bfdd_conf))
    }

    fn start_with(
        ns: &Ns,
        dir: &Path,
        listen: &str,
        bgpd_conf: &str,
        bfdd_conf: Option<&str>,
    ) -> Result<Frr, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        run(Command::new("chown").arg("frr:frr").arg(dir))?;
        std::fs::write(dir.join("zebra.conf"), "hostname zebra\n").map_err(|e| e.to_string())?;
        std::fs::write(dir.join("bgpd.conf"), bgpd_conf).map_err(|e| e.to_string())?;
        let log = dir.join("frr.log");
        let zebra = ns.spawn(
            "zebra",
            Command::new(FRR_ZEBRA)
                .arg("-f")
                .arg(dir.join("zebra.conf"))
                .arg("-i")
                .arg(dir.join("zebra.pid"))
                .arg("--vty_socket")
                .arg(dir)
                .arg("-z")
                .arg(dir.join("zserv.api"))
                .args(["--log", "stdout"]),
            &log,
        )?;
        if wait_for(Duration::from_secs(10), || dir.join("zserv.api").exists()).is_none() {
            return Err(format!("zebra did not start:\n{}", zebra.log()));
        }
        let bfdd = match bfdd_conf {
            Some(conf) => {
                std::fs::write(dir.join("bfdd.conf"), conf).map_err(|e| e.to_string())?;
                let p = ns.spawn(
                    "bfdd",
                    Command::new(FRR_BFDD)
                        .arg("-f")
                        .arg(dir.join("bfdd.conf"))
                        .arg("-i")
                        .arg(dir.join("bfdd.pid"))
                        .arg("--vty_socket")
                        .arg(dir)
                        .arg("--bfdctl")
                        .arg(dir.join("bfdd.sock"))
                        .arg("-z")
                        .arg(dir.join("zserv.api"))
                        .args(["--log", "stdout"]),
                    &log,
                )?;
                if wait_for(Duration::from_secs(10), || dir.join("bfdd.vty").exists()).is_none() {
                    return Err(format!("bfdd did not start:\n{}", p.log()));
                }
                Some(p)
            }
            None => None,
        };
        let bgpd = ns.spawn("bgpd", &mut bgpd_command(dir, listen), &log)?;
        let frr = Frr {
            dir: dir.into(),
            ns: ns.name.clone(),
            bgpd: Some(bgpd),
            bfdd,
            zebra: Some(zebra),
        };
        if wait_for(Duration::from_secs(10), || {
            frr.vtysh("show bgp summary").is_ok()
        })
        .is_none()
        {
            return Err(format!("bgpd did not start:\n{}", frr.log()));
        }
        Ok(frr)
    }

    /// `vtysh -c CMD`: its output.
    pub fn vtysh(&self, cmd: &str) -> Result<String, String> {
        run(Command::new("vtysh")
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-c", cmd]))
    }

    /// `vtysh -c CMD` parsed as JSON (Null when it is not JSON).
    pub fn json(&self, cmd: &str) -> serde_json::Value {
        self.vtysh(cmd)
            .ok()
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Configuration commands, one per line, through `vtysh -c 'configure terminal' ...`.
    pub fn configure(&self, lines: &[&str]) -> Result<String, String> {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket")
            .arg(&self.dir)
            .args(["-c", "configure terminal"]);
        for l in lines {
            c.args(["-c", l]);
        }
        run(&mut c)
    }

    /// bgpd's state of the session with `peer` (e.g. "Established").
    pub fn peer_state(&self, peer: &str) -> String {
        let v = self.json(&format!("show bgp neighbors {peer} json"));
        v[peer]["bgpState"].as_str().unwrap_or("").to_string()
    }

    /// Kills bgpd (SIGKILL: no NOTIFICATION) and leaves zebra running.
    pub fn kill_bgpd(&mut self) {
        if let Some(mut b) = self.bgpd.take() {
            b.stop_with("-KILL");
        }
    }

    /// Starts bgpd again (after [`Frr::kill_bgpd`]) with the same config.
    pub fn restart_bgpd(&mut self, ns: &Ns, listen: &str) -> Result<(), String> {
        let bgpd = ns.spawn(
            "bgpd",
            &mut bgpd_command(&self.dir, listen),
            &self.dir.join("frr.log"),
        )?;
        self.bgpd = Some(bgpd);
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("frr.log")).unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }
}

/// bgpd with the config, pid file and sockets in `dir`, zebra's API socket there too,
/// listening on `listen` port 179.
fn bgpd_command(dir: &Path, listen: &str) -> Command {
    let mut c = Command::new(FRR_BGPD);
    c.arg("-f")
        .arg(dir.join("bgpd.conf"))
        .args(["-S", "-p", "179", "-l", listen])
        .arg("-i")
        .arg(dir.join("bgpd.pid"))
        .arg("--vty_socket")
        .arg(dir)
        .arg("-z")
        .arg(dir.join("zserv.api"))
        .args(["--log", "stdout"]);
    c
}

impl Drop for Frr {
    fn drop(&mut self) {
        if let Some(mut b) = self.bgpd.take() {
            b.stop();
        }
        if let Some(mut b) = self.bfdd.take() {
            b.stop();
        }
        if let Some(mut z) = self.zebra.take() {
            z.stop();
        }
    }
}

/// BIRD 2 in a namespace (foreground, its control socket in `dir`); stopped on drop.
pub struct Bird {
    ns: String,
    pub dir: PathBuf,
    proc: Proc,
}

impl Bird {
    pub fn installed() -> bool {
        Command::new("bird")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success() || !o.stderr.is_empty())
    }

    pub fn start(ns: &Ns, dir: &Path, conf: &str) -> Result<Bird, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("bird.conf"), conf).map_err(|e| e.to_string())?;
        let proc = ns.spawn(
            "bird",
            Command::new("bird")
                .arg("-f")
                .arg("-c")
                .arg(dir.join("bird.conf"))
                .arg("-s")
                .arg(dir.join("bird.ctl")),
            &dir.join("bird.log"),
        )?;
        let b = Bird {
            ns: ns.name.clone(),
            dir: dir.into(),
            proc,
        };
        if wait_for(Duration::from_secs(10), || b.birdc("show status").is_ok()).is_none() {
            return Err(format!("bird did not start:\n{}", b.proc.log()));
        }
        Ok(b)
    }

    /// `birdc -s SOCKET CMD`: its output.
    pub fn birdc(&self, cmd: &str) -> Result<String, String> {
        let mut c = Command::new("birdc");
        c.arg("-s").arg(self.dir.join("bird.ctl"));
        c.args(cmd.split_whitespace());
        let out = run(&mut c)?;
        if out
            .lines()
            .any(|l| l.starts_with("Unable") || l.contains("syntax error"))
        {
            return Err(out);
        }
        Ok(out)
    }

    /// Kills BIRD (SIGKILL: no NOTIFICATION, as a crash looks to its peers).
    pub fn kill(&mut self) {
        self.proc.stop_with("-KILL");
    }

    /// The protocol's state word in `show protocols` (e.g. "Established").
    pub fn protocol_info(&self, name: &str) -> String {
        self.birdc(&format!("show protocols {name}"))
            .ok()
            .and_then(|o| {
                o.lines()
                    .find(|l| l.starts_with(name))
                    .map(|l| l.split_whitespace().last().unwrap_or("").to_string())
            })
            .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// GoBGP in a namespace (its gRPC API on the namespace's loopback); stopped on drop.
pub struct Gobgp {
    ns: String,
    pub dir: PathBuf,
    proc: Proc,
}

impl Gobgp {
    pub fn installed() -> bool {
        Command::new("gobgpd").arg("--version").output().is_ok()
    }

    pub fn start(ns: &Ns, dir: &Path, conf: &str) -> Result<Gobgp, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("gobgpd.toml"), conf).map_err(|e| e.to_string())?;
        let proc = ns.spawn(
            "gobgpd",
            Command::new("gobgpd")
                .arg("-f")
                .arg(dir.join("gobgpd.toml"))
                .args(["-t", "toml", "-p", "--pprof-disable"])
                .arg("--api-hosts=127.0.0.1:50051"),
            &dir.join("gobgpd.log"),
        )?;
        let g = Gobgp {
            ns: ns.name.clone(),
            dir: dir.into(),
            proc,
        };
        if wait_for(Duration::from_secs(10), || g.gobgp(&["global"]).is_ok()).is_none() {
            return Err(format!("gobgpd did not start:\n{}", g.proc.log()));
        }
        Ok(g)
    }

    /// `gobgp ARGS` inside the namespace: its output.
    pub fn gobgp(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "gobgp",
                "-u",
                "127.0.0.1",
                "-p",
                "50051",
            ])
            .args(args))
    }

    /// `gobgp ARGS -j` parsed as JSON (Null when it is not JSON).
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("-j");
        self.gobgp(&a)
            .ok()
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}
