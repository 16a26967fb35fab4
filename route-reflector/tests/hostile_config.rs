//! Hostile configuration files and admin callers: every bad file gives file:line:column
//! errors from `check` (and quickly), a reload the file refuses keeps the running config,
//! and the admin socket refuses a user that is not allowed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_route-reflector");

const HEAD: &str = "router_id = \"10.0.0.1\"\nasn = 65000\n";

fn temp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("rr-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// `check` on `bytes`: (exit code, stderr, how long it took).
fn check(dir: &Path, bytes: &[u8]) -> (Option<i32>, String, Duration) {
    let f = dir.join("rr.toml");
    std::fs::write(&f, bytes).unwrap();
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(["check", "--no-secrets"])
        .arg(&f)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn hostile_files_give_positioned_errors() {
    let dir = temp("check");
    let big_comment = "# padding\n".repeat(1_000_000);
    let deep = format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong type",
            b"router_id = \"10.0.0.1\"\nasn = \"many\"\n".to_vec(),
            "rr.toml:2:7:",
        ),
        (
            "unknown key",
            format!("{HEAD}colour = 1\n").into_bytes(),
            "rr.toml:3:1:",
        ),
        (
            "duplicate key",
            format!("{HEAD}asn = 65001\n").into_bytes(),
            "rr.toml:3:1:",
        ),
        (
            "duplicate peer",
            format!(
                "{HEAD}[[client]]\naddress = \"10.0.0.2\"\n[[client]]\naddress = \"10.0.0.2\"\n"
            )
            .into_bytes(),
            "rr.toml:6:11:",
        ),
        (
            "huge number",
            b"router_id = \"10.0.0.1\"\nasn = 99999999999999999999999\n".to_vec(),
            "rr.toml:2:7:",
        ),
        (
            "AS beyond 32 bits",
            b"router_id = \"10.0.0.1\"\nasn = 4294967296\n".to_vec(),
            "rr.toml:2:7:",
        ),
        (
            "hold time beyond 16 bits",
            format!("{HEAD}[timers]\nhold_time = 70000\n").into_bytes(),
            "rr.toml:4:13:",
        ),
        (
            "negative hold time",
            format!("{HEAD}[timers]\nhold_time = -1\n").into_bytes(),
            "rr.toml:4:13:",
        ),
        (
            "a 10 MB file with the error at its end",
            format!("{HEAD}{big_comment}colour = 1\n").into_bytes(),
            "rr.toml:1000003:1:",
        ),
        (
            "arrays nested 100,000 deep",
            format!("{HEAD}{deep}").into_bytes(),
            "rr.toml:3:",
        ),
        (
            "not UTF-8",
            [HEAD.as_bytes(), b"# \xff\xfe\n"].concat(),
            "rr.toml:3:3:",
        ),
        (
            "missing password file",
            format!(
                "{HEAD}[[client]]\naddress = \"10.0.0.2\"\npassword_file = \"/nonexistent/md5\"\n"
            )
            .into_bytes(),
            "rr.toml:5:17:",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, bytes, want) in &cases {
        // The password file is read only with secrets: check that case with them.
        let (code, err, took) = if name.contains("password") {
            let f = dir.join("rr.toml");
            std::fs::write(&f, bytes).unwrap();
            let t = Instant::now();
            let out = Command::new(BIN).arg("check").arg(&f).output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                t.elapsed(),
            )
        } else {
            check(&dir, bytes)
        };
        let first = err.lines().next().unwrap_or("").to_string();
        if code != Some(1) || !first.contains(want) || took > Duration::from_secs(10) {
            wrong.push(format!(
                "{name}: exit {code:?} in {took:?}, wanted {want}: {first}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A running reflector, killed when dropped (a failed test leaves none behind).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reflector running `cfg` (admin socket in `dir`); waits for the socket.
fn run(dir: &Path, cfg: &str) -> (Running, PathBuf, PathBuf) {
    let sock = dir.join("rr.sock");
    let file = dir.join("rr.toml");
    std::fs::write(&file, cfg).unwrap();
    let log = std::fs::File::create(dir.join("rr.log")).unwrap();
    let child = Command::new(BIN)
        .args(["run"])
        .arg(&file)
        .env("RUST_LOG", "info")
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !sock.exists() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let child = Running(child);
    assert!(sock.exists(), "the admin socket appears");
    (child, sock, file)
}

fn config(dir: &Path, asn: u32, hold: &str) -> String {
    format!(
        "router_id = \"127.0.0.1\"\nasn = {asn}\nlisten = [\"127.0.0.1:0\"]\n[metrics]\n\
         listen = \"\"\n[admin]\nsocket = \"{}\"\n[timers]\nhold_time = {hold}\n\
         [[client]]\naddress = \"127.0.0.2\"\npassive = true\n",
        dir.join("rr.sock").display()
    )
}

fn summary(sock: &Path) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["show", "peer", "127.0.0.2", "--json", "--socket"])
        .arg(sock)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[test]
fn a_refused_reload_keeps_the_running_config() {
    let dir = temp("reload");
    let (mut child, sock, file) = run(&dir, &config(&dir, 65000, "30"));
    let before = summary(&sock);
    // A hold time of 2 is refused (RFC 4271: 0 or at least 3).
    std::fs::write(&file, config(&dir, 65000, "2")).unwrap();
    let out = Command::new(BIN)
        .args(["reload", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the reload is refused: {said}");
    assert!(said.contains("rr.toml:9:13"), "{said}");
    // SIGHUP too: refused, logged, still running with the old file's settings.
    Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.0.try_wait().unwrap().is_none(), "still running");
    let after = summary(&sock);
    assert_eq!(before["asn"], after["asn"]);
    assert_eq!(
        after["address"], "127.0.0.2",
        "the peer is still configured: {after}"
    );
    let log = std::fs::read_to_string(dir.join("rr.log")).unwrap();
    assert!(log.contains("rr.toml:9:13"), "the refusal is logged: {log}");
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_admin_socket_refuses_another_user() {
    if !Path::new("/usr/bin/setpriv").exists() || !nix_root() {
        assert!(
            std::env::var("CI").is_err(),
            "required under CI: root and setpriv"
        );
        return;
    }
    let dir = temp("admin");
    let (child, sock, _) = run(&dir, &config(&dir, 65000, "30"));
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
        .args(["show", "summary", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nobody was served");
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
    // The owner is.
    let ok = Command::new(BIN)
        .args(["show", "summary", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    assert!(ok.status.success());
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

fn nix_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
