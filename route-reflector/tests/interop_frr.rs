//! Our reflector with an FRR bgpd client and one of our speakers as another client, in a
//! namespace: each learns the other's block, FRR with ORIGINATOR_ID and CLUSTER_LIST as
//! RFC 4456 says. FRR runs with zebra (it resolves next hops through it).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Reflector, TempDir, node, paths, wait_until};

const ADDRESSES: &[&str] = &["192.168.1.1", "192.168.1.11", "192.168.1.21"];

/// FRR's zebra and bgpd, stopped on drop.
struct Frr {
    children: Vec<Child>,
    dir: std::path::PathBuf,
}

impl Drop for Frr {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("frr.log")).unwrap_or_default();
            eprintln!("---- FRR log ----\n{log}");
        }
    }
}

impl Frr {
    fn start(dir: &Path) -> Frr {
        let dir = dir.join("frr");
        std::fs::create_dir_all(&dir).unwrap();
        // zebra runs as the frr user (its vty group): the directory is theirs.
        assert!(
            Command::new("chown")
                .arg("frr:frr")
                .arg(&dir)
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(dir.join("zebra.conf"), "hostname z\n").unwrap();
        std::fs::write(
            dir.join("bgpd.conf"),
            "frr defaults traditional\nhostname frr\n\
             router bgp 65001\n bgp router-id 192.168.1.21\n no bgp network import-check\n\
             neighbor 192.168.1.1 remote-as 65001\n neighbor 192.168.1.1 update-source 192.168.1.21\n\
             neighbor 192.168.1.1 timers 3 9\n neighbor 192.168.1.1 timers connect 1\n\
             address-family ipv4 unicast\n  network 172.17.21.0/24\n exit-address-family\n",
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("frr.log")).unwrap();
        let spawn = |cmd: &mut Command| {
            cmd.stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log.try_clone().unwrap()))
                .spawn()
                .unwrap()
        };
        let zebra = spawn(
            Command::new("/usr/lib/frr/zebra")
                .arg("-f")
                .arg(dir.join("zebra.conf"))
                .arg("-i")
                .arg(dir.join("zebra.pid"))
                .arg("--vty_socket")
                .arg(&dir)
                .arg("-z")
                .arg(dir.join("zserv.api"))
                .args(["--log", "stdout"]),
        );
        for _ in 0..100 {
            if dir.join("zserv.api").exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let bgpd = spawn(
            Command::new("/usr/lib/frr/bgpd")
                .arg("-f")
                .arg(dir.join("bgpd.conf"))
                .args(["-S", "-n", "-p", "179", "-l", "192.168.1.21"])
                .arg("-i")
                .arg(dir.join("bgpd.pid"))
                .arg("--vty_socket")
                .arg(&dir)
                .arg("-z")
                .arg(dir.join("zserv.api"))
                .args(["--log", "stdout"]),
        );
        Frr {
            children: vec![zebra, bgpd],
            dir,
        }
    }

    /// `vtysh -c CMD` as JSON.
    fn json(&self, cmd: &str) -> serde_json::Value {
        let out = Command::new("vtysh")
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-c", cmd])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            eprintln!(
                "vtysh {cmd}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::Value::Null
        })
    }
}

fn reflector_config(dir: &Path) -> String {
    format!(
        r#"
router_id = "192.168.1.1"
asn = 65001
listen = ["192.168.1.1:179"]
[metrics]
listen = ""
[admin]
socket = "{}/rr.sock"
[timers]
hold_time = 9
connect_retry = 1
[[client]]
address = "192.168.1.11"
passive = true
[[client]]
address = "192.168.1.21"
"#,
        dir.display()
    )
}

netns_test!(
    frr_as_a_client_of_our_reflector,
    inner_frr_client,
    ADDRESSES,
    {
        let frr_present = Path::new("/usr/lib/frr/bgpd").exists();
        if !frr_present {
            assert!(std::env::var("CI").is_err(), "FRR is required under CI");
            eprintln!("skipped: FRR is not installed");
            return;
        }
        let dir = TempDir::new("frr");
        let _rr = Reflector::start(&dir.0, "rr", &reflector_config(&dir.0), false);
        let frr = Frr::start(&dir.0);
        let ours = node("192.168.1.11", "192.168.1.1", 65001, "172.17.1.0/24").await;
        // Our node learns FRR's block, reflected: next hop FRR, ORIGINATOR_ID FRR's router ID.
        wait_until("our node learns FRR's block", || async {
            paths(&ours, "172.17.21.0/24").await.is_some()
        })
        .await;
        let r = paths(&ours, "172.17.21.0/24").await.unwrap();
        let p = &r.paths[0];
        assert_eq!(p.next_hop.unwrap().to_string(), "192.168.1.21");
        assert_eq!(p.originator_id.unwrap().to_string(), "192.168.1.21");
        assert_eq!(p.cluster_list.len(), 1);
        // FRR learns ours, with the reflection attributes. (Every address of this test sits on
        // one loopback, and FRR drops routes whose next hop is one of its own addresses: this
        // block carries a next hop elsewhere.)
        let nh: std::net::IpAddr = "10.99.0.11".parse().unwrap();
        ours.announce(
            "172.17.2.0/24".parse().unwrap(),
            bgp_speaker::Announcement {
                next_hop: Some(nh),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut route = serde_json::Value::Null;
        wait_until("FRR learns our node's block", || {
            route = frr.json("show bgp ipv4 unicast 172.17.2.0/24 json");
            let found = route["paths"].as_array().is_some_and(|p| !p.is_empty());
            async move { found }
        })
        .await;
        let p = &route["paths"][0];
        assert_eq!(p["originatorId"], "192.168.1.11", "{route}");
        assert_eq!(p["clusterList"]["list"][0], "192.168.1.1", "{route}");
        assert_eq!(p["nexthops"][0]["ip"], "10.99.0.11", "{route}");
        // Withdrawn by our node: gone from FRR.
        ours.withdraw("172.17.2.0/24".parse().unwrap())
            .await
            .unwrap();
        wait_until("FRR drops it", || {
            let r = frr.json("show bgp ipv4 unicast 172.17.2.0/24 json");
            let gone = r["paths"].as_array().is_none_or(|p| p.is_empty());
            async move { gone }
        })
        .await;
        ours.shutdown("test over").await.unwrap();
    }
);
