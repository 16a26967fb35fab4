//! Test namespaces: a test creates one, re-runs its own binary inside it to run an `inner_*`
//! test, and removes it afterwards, failed or not.

#![allow(dead_code)]

use std::process::Command;

pub const INNER: &str = "FIB_NETNS_INNER";

pub fn sh(ns: &str, cmd: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs the test `inner` of this binary inside a fresh namespace holding a veth `eth0`
/// (192.168.100.100/24) and a tunnel device `tunl0` (real ipip when the kernel has it, else
/// a veth stand-in). Under `CI=true` a missing namespace support fails; elsewhere it skips.
pub fn in_netns(inner: &str) {
    let name = format!("bgpt-{}-{}", std::process::id(), inner);
    let created = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .is_ok_and(|s| s.success());
    if !created {
        assert!(
            std::env::var("CI").is_err(),
            "network namespaces are required under CI (ip netns add failed)"
        );
        eprintln!("skipped: cannot create a network namespace here");
        return;
    }
    let _guard = Netns(name.clone());
    assert!(sh(
        &name,
        "ip link set lo up && ip link add eth0 type veth peer name eth0p && \
         ip addr add 192.168.100.100/24 dev eth0 && ip link set eth0 up && ip link set eth0p up"
    ));
    let tunnel = if sh(
        &name,
        "ip link add tunl0 type ipip 2>/dev/null && ip link set tunl0 up",
    ) {
        "ipip"
    } else {
        assert!(sh(
            &name,
            "ip link add tunl0 type veth peer name tunl0p && ip link set tunl0 up && ip link set tunl0p up"
        ));
        "veth stand-in"
    };
    eprintln!("tunnel device: {tunnel}");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(&exe)
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

/// `ip route show proto 186` in the current namespace.
pub fn ip_route() -> String {
    let out = Command::new("ip")
        .args(["route", "show", "proto", "186"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Declares an outer test that runs the inner one in a namespace.
#[macro_export]
macro_rules! netns_test {
    ($outer:ident, $inner:ident, $body:block) => {
        #[test]
        fn $outer() {
            common::in_netns(stringify!($inner));
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

/// Waits (20 s at most) until `f` holds; fails the test naming `what` otherwise.
pub async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let r = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while !f().await {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for {what}");
}

/// Whether every peer of the speaker is Established.
pub async fn established(s: &bgp_speaker::Speaker) -> bool {
    s.peers().await.unwrap().iter().all(|p| p.established)
}

/// Runs a shell command in the current namespace; the test fails if it does.
pub fn run(cmd: &str) {
    let ok = Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "command failed: {cmd}");
}
