//! `rr-lab`: the container network of two racks, built in network namespaces on this
//! machine, shown working, and torn down. See `lab.rs` for the topology.
//!
//! ```text
//! rr-lab [--keep] [--frr-rack-b] [--bfd] [--dir DIR]
//! ```
//!
//! Needs root (namespaces, veth pairs, routes) and `ping`; `--frr-rack-b` needs FRR.

mod daemons;
mod lab;
mod netns;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

/// Two racks of container-network nodes in namespaces: our reflectors on the top-of-rack
/// routers, our node agents, pods; converged routes and the pod-to-pod ping matrix.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Keep the lab up after the report, until Ctrl-C or SIGTERM.
    #[arg(long)]
    keep: bool,
    /// Rack B's top-of-rack router runs FRR (bgpd + zebra) instead of our reflector.
    #[arg(long)]
    frr_rack_b: bool,
    /// Where configs and logs go (default: a new directory under /tmp, removed at the end
    /// unless --keep).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// BFD (300 ms x 3) on every session; after the ping matrix a node's link is cut and
    /// the time until its block leaves every kernel is printed.
    #[arg(long)]
    bfd: bool,
    /// Namespace name prefix.
    #[arg(long, default_value = "lab")]
    tag: String,
}

fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let p = exe.with_file_name(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found next to {} (cargo build -p route-reflector --bins)",
            name,
            exe.display()
        ))
    }
}

fn step(what: &str) {
    println!("\n==> {what}");
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rr-lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let bins = lab::Binaries {
        reflector: sibling("route-reflector")?,
        agent: sibling("node-agent")?,
    };
    if !netns::netns_available() {
        return Err("cannot create network namespaces (run as root)".into());
    }
    if args.frr_rack_b && !daemons::Frr::installed() {
        return Err("--frr-rack-b needs FRR (apt-get install frr)".into());
    }
    let temp = args.dir.is_none();
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("rr-lab-{}", std::process::id())));
    let opts = lab::Options {
        tag: args.tag.clone(),
        dir: dir.clone(),
        frr_rack_b: args.frr_rack_b,
        hold_time: 9,
        ipip: false,
        tunnel_stand_in: false,
        dual_stack: false,
        bfd: args.bfd,
    };
    step(&format!(
        "building 2 racks x 3 nodes x 2 pods; rack B's ToR runs {}; configs and logs in {}",
        if args.frr_rack_b {
            "FRR"
        } else {
            "our reflector"
        },
        dir.display()
    ));
    let mut passed = run_lab(&bins, opts.clone(), args.keep)?;

    step("IPIP cross-subnet variant");
    if lab::kernel_has_ipip(&args.tag) {
        println!(
            "the racks' subnets joined by a plain router without pod routes, a reflector per \
             rack, cross-rack blocks through tunl0"
        );
        let opts = lab::Options {
            ipip: true,
            frr_rack_b: false,
            dir: dir.join("ipip"),
            ..opts.clone()
        };
        passed &= run_lab(&bins, opts, false)?;
    } else {
        println!("not run: this kernel has no ipip device type (DESIGN.md section 10)");
    }
    step("dual-stack variant");
    if args.frr_rack_b {
        println!("not run with --frr-rack-b (our reflectors only)");
    } else {
        println!(
            "IPv6 as well: nodes, pods and ToRs dual stack, IPv4 and IPv6 sessions, IPv6 blocks \
             in every kernel; IPv4 and IPv6 ping matrices"
        );
        let opts = lab::Options {
            dual_stack: true,
            dir: dir.join("dual"),
            ..opts
        };
        passed &= run_lab(&bins, opts, false)?;
    }
    if temp && !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "\n{}",
        if passed {
            "lab passed: converged, every pod reaches every pod"
        } else {
            "lab FAILED"
        }
    );
    Ok(passed)
}

/// Builds one lab, waits for it, shows its routes and ping matrix, tears it down (after
/// a signal with `keep`). True when it converged and every pod reached every other.
fn run_lab(bins: &lab::Binaries, opts: lab::Options, keep: bool) -> Result<bool, String> {
    let start = Instant::now();
    let lab = lab::Lab::up(bins.clone(), opts)?;
    println!(
        "namespaces up and daemons started in {:.2?}",
        start.elapsed()
    );

    step("waiting for every node and router to hold every pod block in its kernel");
    let ok = match lab.wait_converged(Duration::from_secs(60)) {
        Ok(_) => {
            println!(
                "converged {:.2?} after the first daemon started",
                lab.started.elapsed()
            );
            true
        }
        Err(diff) => {
            println!("NOT converged after 60 s:\n{diff}");
            false
        }
    };

    step("route tables");
    print!("{}", lab.report_routes());

    step("pod-to-pod ping matrix");
    let (matrix, mut failed) = lab.ping_matrix();
    print!("{matrix}");
    if lab.opts.dual_stack {
        step("pod-to-pod ping matrix, IPv6");
        let (matrix, failed6) = lab.ping_matrix6();
        print!("{matrix}");
        failed.extend(failed6);
    }

    let mut cut_ok = true;
    if lab.opts.bfd && !keep {
        cut_ok = bfd_cut(&lab);
    }
    if keep {
        step("the lab stays up (Ctrl-C or SIGTERM tears it down)");
        for n in lab.pods() {
            println!("  pod {:6} {:15} ip netns exec {} sh", n.0, n.1, n.2);
        }
        for r in &lab.reflectors {
            println!(
                "  {} show summary --socket {}",
                lab.reflector_binary().display(),
                r.socket.display()
            );
        }
        wait_for_signal();
    }
    step("tearing down");
    drop(lab);
    Ok(ok && failed.is_empty() && cut_ok)
}

/// Cuts the last node's link (an nftables drop of all its traffic) and prints how long its
/// block took to leave every other kernel; true when that was under a second.
fn bfd_cut(lab: &lab::Lab) -> bool {
    let n = lab.nodes.len() - 1;
    let node = &lab.nodes[n];
    step(&format!(
        "BFD: cutting {}'s link ({}, block {})",
        node.name, node.address, node.block
    ));
    // A session still coming up (one packet a second) has nothing to lose yet: the cut
    // waits for the node's sessions to be Up at full rate on the reflectors that serve it.
    let addr = node.address.to_string();
    let bin = lab.reflector_binary().to_path_buf();
    let up = |r: &lab::Reflector| {
        let (_, out, _) = r.cli(&bin, &["show", "peer", &addr, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        v["bfd"].is_null() || (v["bfd"]["state"] == "Up" && v["bfd"]["detection_time_ms"] == 900)
    };
    if netns::wait_for(Duration::from_secs(15), || lab.reflectors.iter().all(up)).is_none() {
        println!("{}'s BFD sessions did not come up", node.name);
        return false;
    }
    let t = Instant::now();
    if let Err(e) = lab.cut_node(n) {
        println!("could not cut the link: {e}");
        return false;
    }
    let left = lab.block_leaves(n, t, Duration::from_secs(30));
    let last = left
        .iter()
        .map(|(_, d)| *d)
        .try_fold(Duration::ZERO, |m, d| d.map(|d| m.max(d)));
    for (ns, d) in &left {
        println!(
            "  {ns:<16} {}",
            d.map_or("still there".into(), |d| format!(
                "{:.0} ms",
                d.as_secs_f64() * 1000.0
            ))
        );
    }
    match last {
        Some(took) => {
            println!(
                "{} left every kernel {:.0} ms after the cut (BFD 300 ms x 3); without BFD \
                 the hold timer waits {} s, then graceful restart keeps the routes for its \
                 restart time",
                node.block,
                took.as_secs_f64() * 1000.0,
                lab.opts.hold_time
            );
            took < Duration::from_secs(1)
        }
        None => {
            println!("{} still in some kernel 30 s after the cut", node.block);
            false
        }
    }
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_signal() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    });
}
