//! Our `bird` as BIRD's tools and calico-node's confd see it: the control socket's replies
//! code by code against real BIRD 2's, the background start and one daemon per socket, and
//! `bird -p -c FILE` with BIRD's exit codes and messages.

mod calico_node;
mod segment;

use std::path::Path;
use std::process::Command;

use calico_node::*;
use segment::*;

/// The control socket's framing and reply codes, command by command, against real BIRD
/// 2's on equivalent configurations (a static blackhole, a BGP protocol whose neighbor
/// is absent): what birdc relies on.
#[test]
fn control_socket_replies_as_bird_2_does() {
    if !can_run(false, true, false) {
        return;
    }
    let seg = Segment::new("bs");
    let bird_ns = seg.host("bird", 2);
    let n = Node::start(seg, |dir| {
        let path = dir.join("bird.cfg");
        std::fs::write(
            &path,
            "router id 10.11.0.1;\nprotocol kernel { learn; persist; export all; }\n\
             protocol device { scan time 2; }\nprotocol direct { interface \"*\"; }\n\
             protocol static { route 10.60.0.0/24 blackhole; }\n\
             protocol bgp Mesh_10_11_0_9 { local as 64512; neighbor 10.11.0.9 as 64512; \
             export all; }\n",
        )
        .unwrap();
        path
    });
    let bird = Bird::start(
        &bird_ns,
        &n.seg.path("bird2"),
        "router id 10.11.0.2;\nprotocol device {}\nprotocol direct { ipv4; }\n\
         protocol kernel { ipv4 { export all; }; learn; persist; }\n\
         protocol static { ipv4; route 10.60.0.0/24 blackhole; }\n\
         protocol bgp Mesh_10_11_0_9 { local as 64512; neighbor 10.11.0.9 as 64512; \
         ipv4 { export all; }; }\n",
    )
    .unwrap();
    let cmds = [
        "show status",
        "show protocols",
        "show protocols all Mesh_10_11_0_9",
        "show protocols nosuch",
        "show route",
        "show route for 10.60.0.1",
        "show route for 10.99.0.1",
        "show route protocol static1",
        "configure check",
        "disable Mesh_10_11_0_9",
        "disable Mesh_10_11_0_9",
        "enable Mesh_10_11_0_9",
        "restart Mesh_10_11_0_9",
        "frobnicate",
        "configure",
    ];
    let (ours_hello, ours) = session(&n.socket, &cmds);
    let (theirs_hello, theirs) = session(&bird.dir.join("bird.ctl"), &cmds);
    for h in [&ours_hello, &theirs_hello] {
        assert!(h.starts_with("0001 BIRD ") && h.ends_with(" ready."), "{h}");
    }
    for ((c, o), t) in cmds.iter().zip(&ours).zip(&theirs) {
        assert_eq!(codes(o), codes(t), "{c}\nours:   {o:#?}\nBIRD 2: {t:#?}");
    }
    // The tables end as BIRD's do, `0000 ` with its space.
    assert_eq!(ours[1].last().unwrap(), "0000 ");
    // A line longer than BIRD's limit is refused; nothing of it is kept.
    let long = format!("show protocols {}", "x".repeat(4000));
    let (_, r) = session(&n.socket, &[&long]);
    assert_eq!(r[0], ["9000 Command too long"]);
}

/// Without `-d` or `-f` the daemons fork into the background as BIRD does: the command
/// returns 0 at once, the pid file names the daemon. `bird` and `bird6` run side by side
/// in one namespace (as in calico-node: both listen on port 179, IPv4 and IPv6), a second
/// daemon on a socket that answers is refused, SIGTERM by the pid file stops each.
#[test]
fn background_start_side_by_side_and_one_per_socket() {
    if !can_run(false, false, false) {
        return;
    }
    let seg = Segment::new("bd");
    let ns = seg.host("ours", 1);
    let v4 = seg.path("b4.cfg");
    let v6 = seg.path("b6.cfg");
    std::fs::write(
        &v4,
        "router id 10.11.0.1;\nprotocol device {}\n\
         protocol bgp Mesh_10_11_0_9 { local as 64512; neighbor 10.11.0.9 as 64512; }\n",
    )
    .unwrap();
    std::fs::write(
        &v6,
        "router id 10.11.0.1;\nprotocol device {}\n\
         protocol bgp Mesh_fd00_11__9 { local as 64512; neighbor fd00:11::9 as 64512; }\n",
    )
    .unwrap();
    let start = |program: &str, cfg: &Path, name: &str| {
        let out = ns
            .cmd(program)
            .arg("-c")
            .arg(cfg)
            .arg("-s")
            .arg(seg.path(&format!("{name}.ctl")))
            .arg("-P")
            .arg(seg.path(&format!("{name}.pid")))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let six = env!("CARGO_BIN_EXE_bird6");
    assert_eq!(start(BIRD, &v4, "b4"), (Some(0), String::new()));
    assert_eq!(start(six, &v6, "b6"), (Some(0), String::new()));
    for name in ["b4", "b6"] {
        seg.wait(&format!("{name} answering"), || {
            live(&seg.path(&format!("{name}.ctl")))
        });
    }
    let listening = ns.sh("ss -Hltn 'sport = :179'").unwrap();
    assert!(
        listening.contains("0.0.0.0:179") && listening.contains("[::]:179"),
        "{listening}"
    );
    let (code, err) = start(BIRD, &v4, "b4");
    assert_eq!(code, Some(1));
    assert!(err.contains("I found another BIRD running."), "{err}");
    for name in ["b4", "b6"] {
        let pid = std::fs::read_to_string(seg.path(&format!("{name}.pid"))).unwrap();
        ns.sh(&format!("kill -TERM {}", pid.trim())).unwrap();
        seg.wait(&format!("{name} stopped"), || {
            !seg.path(&format!("{name}.ctl")).exists() && !seg.path(&format!("{name}.pid")).exists()
        });
    }
}

/// `bird -p -c FILE`: silent exit 0 for Calico's files, exit 1 with BIRD's message for a
/// broken or missing one.
#[test]
fn parse_only_exit_codes_and_messages() {
    let run = |args: &[&str]| {
        let o = Command::new(BIRD).args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let good = data().join("mesh/ipip-always/bird.cfg");
    assert_eq!(
        run(&["-p", "-c", good.to_str().unwrap()]),
        (Some(0), String::new(), String::new())
    );
    let dir = std::env::temp_dir().join(format!("bird-p-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.cfg");
    std::fs::write(
        &bad,
        "router id 10.0.0.1;\nprotocol bgp x {\n  neighbor 10.0.0.2 as 1;\n  frobnicate;\n}\n",
    )
    .unwrap();
    let (code, out, err) = run(&["-p", "-c", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!("bird: {}:4:3 ", bad.display())),
        "{err}"
    );
    let (code, _, err) = run(&["-pc", dir.join("none.cfg").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim_end(),
        format!(
            "bird: Unable to open configuration file {}: No such file or directory",
            dir.join("none.cfg").display()
        )
    );
    let (code, _, err) = run(&["-p", "-u", "nobody", "-c", good.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("-u is not supported"), "{err}");
    let sock = dir.join("b.ctl");
    let (code, _, err) = run(&[
        "-D",
        "/nonexistent/dir/bird.log",
        "-c",
        good.to_str().unwrap(),
        "-s",
        sock.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim_end(),
        "bird: Unable to open debug file /nonexistent/dir/bird.log: No such file or directory"
    );
    assert!(!sock.exists(), "no socket left behind");
    let (code, _, err) = run(&["-q"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid option -- 'q'"), "{err}");
    let six = Command::new(env!("CARGO_BIN_EXE_bird6"))
        .args(["-p", "-c"])
        .arg(data().join("mesh/ipip-always/bird6.cfg"))
        .status()
        .unwrap();
    assert!(six.success());
    let _ = std::fs::remove_dir_all(&dir);
}
