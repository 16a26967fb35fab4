//! The binary's own commands: `check` and `run` (logs, admin socket, SIGTERM) on loopback.

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_route-reflector");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

fn temp(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("rr-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn check_accepts_an_example_and_names_the_line_of_an_error() {
    let out = Command::new(BIN)
        .args(["check", &format!("{EXAMPLES}/rack-b.toml")])
        .env("RACK_A_MD5", "secret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{EXAMPLES}/rack-b.toml: ok: AS 65002, router ID 192.168.2.1, cluster ID 192.168.2.1; \
             0 clients, 1 client ranges, 1 other peers, 2 policies; \
             metrics http://127.0.0.1:9179/metrics; admin socket /run/route-reflector.sock\n"
        )
    );
    // The password variable is missing: the error points at it.
    let out = Command::new(BIN)
        .args(["check", &format!("{EXAMPLES}/rack-b.toml")])
        .env_remove("RACK_A_MD5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: {EXAMPLES}/rack-b.toml:21:16: environment variable RACK_A_MD5 is not set\n   |\n21 | password_env = \"RACK_A_MD5\"\n   |                ^^^^^^^^^^^^\n{EXAMPLES}/rack-b.toml: 1 error\n"
        )
    );
    // Linted without its secrets: fine.
    let out = Command::new(BIN)
        .args(["check", "--no-secrets", &format!("{EXAMPLES}/rack-b.toml")])
        .env_remove("RACK_A_MD5")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["check", "/nonexistent/rr.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: /nonexistent/rr.toml:0:0: cannot read: No such file or directory (os error 2)\n/nonexistent/rr.toml: 1 error\n"
    );
}

#[test]
fn run_logs_json_serves_the_admin_socket_and_stops_on_sigterm() {
    let dir = temp("run");
    let sock = dir.join("rr.sock");
    let cfg = dir.join("rr.toml");
    std::fs::write(
        &cfg,
        format!(
            "router_id = \"127.0.0.1\"\nasn = 64512\nlisten = [\"127.0.0.1:0\"]\n\
             [log]\nformat = \"json\"\n[metrics]\nlisten = \"\"\n\
             [admin]\nsocket = \"{}\"\nmode = \"0640\"\n",
            sock.display()
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", cfg.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if sock.exists() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "the admin socket appears");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let out = Command::new(BIN)
        .args([
            "show",
            "summary",
            "--json",
            "--socket",
            sock.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["asn"], 64512);
    assert_eq!(v["peers"], serde_json::json!([]));
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "SIGTERM ends it cleanly");
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"route reflector running"),
        "{messages:?}"
    );
    assert!(messages.contains(&"shutting down"), "{messages:?}");
    assert_eq!(lines[0]["level"], "INFO");
    assert!(!sock.exists(), "the socket is removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn under_systemd_it_says_ready_pings_the_watchdog_and_says_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = temp("notify");
    let sock = dir.join("rr.sock");
    let notify = dir.join("notify.sock");
    let listener = UnixDatagram::bind(&notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let cfg = dir.join("rr.toml");
    std::fs::write(
        &cfg,
        format!(
            "router_id = \"127.0.0.1\"\nasn = 64512\nlisten = [\"127.0.0.1:0\"]\n\
             [metrics]\nlisten = \"\"\n[admin]\nsocket = \"{}\"\n",
            sock.display()
        ),
    )
    .unwrap();
    // As systemd starts it: the watchdog is meant for the process whose PID it names.
    let child = Command::new("sh")
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" run \"$1\""])
        .arg(BIN)
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.iter().filter(|m: &&String| *m == "WATCHDOG=1").count() < 3 {
        let n = listener
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{e}; so far: {got:?}"));
        got.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
    }
    assert_eq!(got[0], "READY=1", "{got:?}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    loop {
        let n = listener.recv(&mut buf).expect("STOPPING=1");
        if String::from_utf8_lossy(&buf[..n]).trim() == "STOPPING=1" {
            break;
        }
    }
    assert!(child.0.wait().unwrap().success());
}

#[test]
fn completions_and_the_man_page_come_from_the_commands() {
    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("route-reflector") && text.contains("check") && text.contains("--no-secrets"),
        "{text}"
    );
    let out = Command::new(BIN).arg("manpage").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains(".TH route-reflector 1"), "{text}");
}
