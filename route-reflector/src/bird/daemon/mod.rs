//! The `bird` and `bird6` daemons: BIRD's command line, the configuration mapped onto the
//! speaker, the control socket, SIGHUP reload and SIGTERM stop.
//!
//! Started as calico-node starts BIRD (`bird -R -s /var/run/calico/bird.ctl -d -c
//! bird.cfg`), it reads and maps the configuration (errors as `bird: FILE:LINE:COL MSG`,
//! exit 1), binds the control socket, forks into the background unless `-d` or `-f`,
//! writes the pid file, starts the speaker (with `-R`: as a graceful restart, deferring
//! its updates until the peers' End-of-RIB or 240 s) and announces the static routes.
//!
//! A reload (SIGHUP or `configure`) reads the file again and applies the difference:
//! peers that went are removed, new ones added, changed ones updated (policy changes in
//! place, others by restarting that session only), static routes withdrawn or announced;
//! other sessions are not touched. A file that does not read is refused and the running
//! configuration stays, with the reason logged and replied. A change the running speaker
//! cannot take in place (router id, AS, cluster ID, listen address, kernel protocol, the
//! pools learned) restarts the speaker gracefully with the new configuration.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use bgp_speaker::{Announcement, PeerSettings, Speaker};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use super::args::{self, Args, Exit};
use super::ctl::{self, Command, Reply};

use super::{BirdConfig, Family};

mod query;

/// How long a restart waits for the peers' End-of-RIB (BIRD's `graceful restart wait`).
pub const GR_WAIT: u64 = 240;

/// Runs `bird` (V4) or `bird6` (V6) with the process's arguments.
pub fn main(family: Family) -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match args::parse(family, &argv) {
        Ok(a) => a,
        Err(Exit::Info(m)) => {
            eprintln!("{m}");
            return ExitCode::SUCCESS;
        }
        Err(Exit::Usage(m)) => {
            eprintln!("{m}");
            return ExitCode::FAILURE;
        }
    };
    let name = args::name(family);
    let cfg = match super::load(&a.config, family) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("{name}: {}", e.bird_line());
            }
            return ExitCode::FAILURE;
        }
    };
    if a.parse_only {
        return ExitCode::SUCCESS;
    }
    let debug_file = match &a.debug_file {
        None => None,
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "{name}: Unable to open debug file {}: {}",
                    p.display(),
                    super::lexer::os_message(&e)
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let listener = match ctl::bind_std(&a.socket) {
        Ok(l) => l,
        Err(m) => {
            eprintln!("{name}: {m}");
            return ExitCode::FAILURE;
        }
    };
    if !a.foreground
        && let Err(m) = daemonize()
    {
        eprintln!("{name}: {m}");
        return ExitCode::FAILURE;
    }
    init_logging(debug_file);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(a, cfg, listener)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(m) => {
            tracing::error!(error = %m, "stopped");
            eprintln!("{name}: {m}");
            ExitCode::FAILURE
        }
    }
}

/// BIRD's background start: fork, the parent exits, the child leaves the terminal (its
/// standard streams on /dev/null) and keeps the working directory, so that relative paths
/// still resolve on reload.
fn daemonize() -> Result<(), String> {
    nix::unistd::daemon(true, false).map_err(|e| format!("fork: {e}"))
}

fn init_logging(debug_file: Option<std::fs::File>) {
    // `-d` is how calico-node always runs BIRD: the log at info (RUST_LOG for more);
    // `-D FILE` asks for debug messages.
    let level = if debug_file.is_some() {
        "debug"
    } else {
        "info"
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    let b = tracing_subscriber::fmt().with_env_filter(filter);
    match debug_file {
        Some(f) => b
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
            .init(),
        None => b
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

async fn run(
    a: Args,
    cfg: BirdConfig,
    listener: std::os::unix::net::UnixListener,
) -> Result<(), String> {
    // First of all, so that a SIGHUP from confd during the start is kept for the loop
    // instead of ending the process.
    let (mut hup, mut term, mut int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => return Err("cannot handle signals".into()),
    };
    for n in &cfg.notes {
        tracing::info!(note = %n, "configuration carried over approximately");
    }
    let mut sc = cfg.speaker.clone();
    sc.router.restarting = a.recovery;
    if a.recovery {
        sc.router.selection_deferral = GR_WAIT;
    }
    let metrics = super::metrics::listen_from_env()?;
    let speaker = Speaker::start(sc).await.map_err(|e| e.to_string())?;
    let (speaker_tx, speaker_rx) = watch::channel(speaker.clone());
    if let Some(addr) = metrics {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("metrics endpoint {addr}: {e}"))?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
        tokio::spawn(super::metrics::serve(l, speaker_rx));
    }
    if let Some(p) = &a.pid_file {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| format!("Cannot write PID file {}: {e}", p.display()))?;
    }
    let listener = tokio::net::UnixListener::from_std(listener).map_err(|e| e.to_string())?;
    let hello = format!("BIRD {} ready.", args::version());
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(ctl::serve(listener, hello, tx));
    let mut d = Daemon::new(a, cfg, speaker, speaker_tx);
    d.sync_statics(&[]).await;
    tracing::info!(socket = %d.args.socket.display(), recovery = d.args.recovery, "Started");
    loop {
        tokio::select! {
            req = rx.recv() => {
                let Some((cmd, reply)) = req else { break };
                let down = cmd == Command::Down;
                let r = d.command(cmd).await;
                let _ = reply.send(r);
                if down || d.lost.is_some() { break; }
            }
            _ = hup.recv() => {
                tracing::info!("Reconfiguration requested by SIGHUP");
                let r = d.configure(None, false).await;
                tracing::info!(reply = r.text().trim_end(), "reconfiguration");
                if d.lost.is_some() { break; }
            }
            _ = term.recv() => { tracing::info!("Shutdown requested by SIGTERM"); break; }
            _ = int.recv() => { tracing::info!("Shutdown requested by SIGINT"); break; }
        }
    }
    d.stopping = true;
    let r = match d.lost.take() {
        Some(why) => Err(why),
        None => d
            .speaker
            .shutdown("BIRD-compatible daemon stopping")
            .await
            .map_err(|e| e.to_string()),
    };
    let _ = std::fs::remove_file(&d.args.socket);
    if let Some(p) = &d.args.pid_file {
        let _ = std::fs::remove_file(p);
    }
    tracing::info!("Shutdown completed");
    r
}

pub(super) struct Daemon {
    args: Args,
    cfg: BirdConfig,
    speaker: Speaker,
    /// Where the metrics endpoint finds the speaker.
    speaker_tx: watch::Sender<Speaker>,
    booted: SystemTime,
    reconfigured: SystemTime,
    /// When the speaker last started (the graceful restart wait counts from there).
    started: SystemTime,
    /// The speaker is gone and could not be started again: why (the daemon exits).
    lost: Option<String>,
    /// BGP protocols down by `disable` or `disabled` in the file.
    disabled: HashSet<String>,
    /// Peers the speaker has.
    present: HashSet<IpAddr>,
    stopping: bool,
}

impl Daemon {
    fn new(args: Args, cfg: BirdConfig, speaker: Speaker, tx: watch::Sender<Speaker>) -> Daemon {
        let now = SystemTime::now();
        let disabled = cfg
            .bgp
            .iter()
            .filter(|b| b.disabled)
            .map(|b| b.name.clone())
            .collect();
        let present = cfg.speaker.router.peers.iter().map(|p| p.address).collect();
        Daemon {
            args,
            cfg,
            speaker,
            speaker_tx: tx,
            booted: now,
            reconfigured: now,
            started: now,
            lost: None,
            disabled,
            present,
            stopping: false,
        }
    }

    async fn command(&mut self, cmd: Command) -> Reply {
        match cmd {
            Command::ShowStatus => self.status().await,
            Command::ShowProtocols { all, name } => self.protocols(all, name.as_deref()).await,
            Command::ShowRoute {
                all,
                for_addr,
                prefix,
                protocol,
            } => self.routes(all, for_addr, prefix, protocol).await,
            Command::Configure { check, file } => self.configure(file, check).await,
            Command::Down => Reply::one(7, "Shutdown requested"),
            Command::Enable(n) => self.switch(&n, Switch::Enable).await,
            Command::Disable(n) => self.switch(&n, Switch::Disable).await,
            Command::Restart(n) => self.switch(&n, Switch::Restart).await,
        }
    }

    /// `configure [check] ["FILE"]` and SIGHUP.
    async fn configure(&mut self, file: Option<PathBuf>, check: bool) -> Reply {
        let path = file.unwrap_or_else(|| self.args.config.clone());
        let mut r = Reply::new();
        r.more(2, &format!("Reading configuration from {}", path.display()));
        let new = match super::load(&path, self.args.family) {
            Ok(c) => c,
            Err(errors) => {
                for e in &errors {
                    tracing::warn!(error = %e, "configuration refused, the running one stays");
                }
                return r.end(8002, &errors[0].bird_line());
            }
        };
        if check {
            return r.end(20, "Configuration OK");
        }
        match self.apply(new).await {
            Ok(()) => r.end(3, "Reconfigured"),
            Err(m) => {
                tracing::warn!(error = %m, "reconfiguration refused");
                r.end(8002, &format!("{}: {m}", path.display()))
            }
        }
    }

    /// Takes a new configuration: the speaker gets the difference.
    async fn apply(&mut self, new: BirdConfig) -> Result<(), String> {
        if let Some(why) = needs_restart(&self.cfg, &new) {
            return self.restart_with(new, &why).await;
        }
        // What the speaker has now (`enable` may have added a peer the file disables),
        // with the settings it was given.
        let old: HashMap<IpAddr, PeerSettings> = self
            .cfg
            .bgp
            .iter()
            .map(|b| (b.peer.address, b.peer.clone()))
            .collect();
        let new_peers = enabled_peers(&new);
        let mut errors = Vec::new();
        let mut gone: Vec<IpAddr> = self
            .present
            .iter()
            .filter(|a| !new_peers.contains_key(*a))
            .copied()
            .collect();
        gone.sort();
        for addr in gone {
            tracing::info!(peer = %addr, "peer removed");
            if let Err(e) = self.speaker.remove_peer(addr).await {
                errors.push(format!("removing {addr}: {e}"));
            }
            self.present.remove(&addr);
        }
        let mut changed = HashSet::new();
        for (addr, p) in &new_peers {
            if !self.present.contains(addr) {
                tracing::info!(peer = %addr, "peer added");
                match self.speaker.add_peer((*p).clone()).await {
                    Ok(()) => {
                        self.present.insert(*addr);
                    }
                    Err(e) => errors.push(format!("adding {addr}: {e}")),
                }
            } else if old.get(addr) != Some(*p) {
                match self.speaker.update_peer((*p).clone()).await {
                    Ok(u) => {
                        tracing::info!(peer = %addr, update = ?u, "peer changed");
                        changed.insert(*addr);
                    }
                    Err(e) => errors.push(format!("changing {addr}: {e}")),
                }
            }
        }
        // A protocol disabled at run time stays down across the reload.
        for b in new.bgp.iter().filter(|b| !b.disabled) {
            if self.disabled.contains(&b.name) && changed.contains(&b.peer.address) {
                let _ = self
                    .speaker
                    .shutdown_peer(b.peer.address, "protocol disabled")
                    .await;
            }
        }
        let blackholes = |c: &BirdConfig| {
            c.speaker
                .fib
                .as_ref()
                .map(|f| f.blackholes.clone())
                .unwrap_or_default()
        };
        if blackholes(&self.cfg) != blackholes(&new)
            && let Err(e) = self.speaker.set_blackholes(blackholes(&new)).await
        {
            errors.push(format!("blackhole routes: {e}"));
        }
        let old_statics = self.cfg.static_routes.clone();
        let names: HashSet<String> = new.bgp.iter().map(|b| b.name.clone()).collect();
        self.disabled.retain(|n| names.contains(n));
        self.disabled.extend(
            new.bgp
                .iter()
                .filter(|b| b.disabled)
                .map(|b| b.name.clone()),
        );
        self.cfg = new;
        self.reconfigured = SystemTime::now();
        self.sync_statics(&old_statics).await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// A change the running speaker cannot take: it stops gracefully (peers with graceful
    /// restart keep our routes, `persist` keeps the kernel's) and starts again with the new
    /// configuration as a graceful restart, as with `-R`.
    async fn restart_with(&mut self, new: BirdConfig, why: &str) -> Result<(), String> {
        tracing::warn!(
            reason = why,
            "the change needs the speaker restarted: restarting it gracefully"
        );
        if let Err(e) = self.speaker.shutdown("configuration change").await {
            tracing::warn!(error = %e, "graceful stop before the restart failed");
        }
        let mut sc = new.speaker.clone();
        sc.router.restarting = true;
        sc.router.selection_deferral = GR_WAIT;
        let speaker = match Speaker::start(sc).await {
            Ok(s) => s,
            Err(e) => {
                let m = format!("restarting the speaker for the new configuration ({why}): {e}");
                self.lost = Some(m.clone());
                return Err(m);
            }
        };
        self.speaker = speaker.clone();
        let _ = self.speaker_tx.send(speaker);
        self.started = SystemTime::now();
        self.reconfigured = self.started;
        self.present = new.speaker.router.peers.iter().map(|p| p.address).collect();
        self.disabled = new
            .bgp
            .iter()
            .filter(|b| b.disabled)
            .map(|b| b.name.clone())
            .collect();
        self.cfg = new;
        self.sync_statics(&[]).await;
        Ok(())
    }

    /// Announces the static routes of the configuration not in `before`, withdraws those
    /// of `before` no longer there.
    async fn sync_statics(&self, before: &[super::map::StaticRouteInfo]) {
        for s in before
            .iter()
            .filter(|s| !self.cfg.static_routes.contains(s))
        {
            if let Err(e) = self.speaker.withdraw(s.prefix).await {
                tracing::warn!(prefix = %s.prefix, error = %e, "static route withdraw failed");
            }
        }
        for s in self
            .cfg
            .static_routes
            .iter()
            .filter(|s| !before.contains(s))
        {
            if let Err(e) = self
                .speaker
                .announce(s.prefix, Announcement::default())
                .await
            {
                tracing::warn!(prefix = %s.prefix, error = %e, "static route not announced");
            }
        }
    }

    async fn switch(&mut self, name: &str, what: Switch) -> Reply {
        let targets: Vec<(String, IpAddr, PeerSettings)> = self
            .cfg
            .bgp
            .iter()
            .filter(|b| name == "all" || b.name == name)
            .map(|b| (b.name.clone(), b.peer.address, b.peer.clone()))
            .collect();
        if targets.is_empty() {
            return match self.cfg.protocols.iter().find(|p| p.name == name) {
                Some(_) => Reply::one(
                    9002,
                    &format!("{name}: only BGP protocols can be enabled, disabled or restarted"),
                ),
                // An undefined name is a parse error in BIRD.
                None => Reply::one(9001, &format!("syntax error, unknown protocol `{name}`")),
            };
        }
        let mut r = Reply::new();
        for (n, addr, peer) in targets {
            let off = self.disabled.contains(&n);
            let result = match (what, off) {
                (Switch::Disable, true) | (Switch::Restart, true) => {
                    r.more(8, &format!("{n}: already disabled"));
                    continue;
                }
                (Switch::Enable, false) => {
                    r.more(10, &format!("{n}: already enabled"));
                    continue;
                }
                (Switch::Disable, false) => self
                    .speaker
                    .shutdown_peer(addr, "protocol disabled")
                    .await
                    .map(|()| (9, "disabled")),
                (Switch::Enable, true) if !self.present.contains(&addr) => {
                    self.speaker.add_peer(peer).await.map(|()| (11, "enabled"))
                }
                (Switch::Enable, true) => self
                    .speaker
                    .reset_peer(addr, "protocol enabled")
                    .await
                    .map(|()| (11, "enabled")),
                (Switch::Restart, false) => self
                    .speaker
                    .reset_peer(addr, "protocol restarted")
                    .await
                    .map(|()| (12, "restarted")),
            };
            match result {
                Ok((code, done)) => {
                    tracing::info!(protocol = %n, action = done, "protocol switched");
                    self.present.insert(addr);
                    match code {
                        9 => {
                            self.disabled.insert(n.clone());
                        }
                        11 => {
                            self.disabled.remove(&n);
                        }
                        _ => {}
                    }
                    r.more(code, &format!("{n}: {done}"));
                }
                Err(e) => {
                    r.more(8006, &format!("{n}: {e}"));
                }
            }
        }
        r.end(0, "")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    Enable,
    Disable,
    Restart,
}

fn enabled_peers(c: &BirdConfig) -> HashMap<IpAddr, &PeerSettings> {
    c.speaker
        .router
        .peers
        .iter()
        .map(|p| (p.address, p))
        .collect()
}

/// Why `new` cannot be applied to a speaker running `old` in place, if it cannot.
fn needs_restart(old: &BirdConfig, new: &BirdConfig) -> Option<String> {
    let (o, n) = (&old.speaker, &new.speaker);
    if old.router_id != new.router_id {
        return Some(format!(
            "router id changed from {} to {}",
            old.router_id, new.router_id
        ));
    }
    if o.router.asn != n.router.asn {
        return Some(format!(
            "local AS changed from {} to {}",
            o.router.asn, n.router.asn
        ));
    }
    if o.router.cluster_id != n.router.cluster_id {
        return Some(format!(
            "rr cluster id changed from {:?} to {:?}",
            o.router.cluster_id, n.router.cluster_id
        ));
    }
    if o.listen != n.listen {
        return Some(format!(
            "listen address changed from {:?} to {:?}",
            o.listen, n.listen
        ));
    }
    let fib = |f: &Option<bgp_speaker::fib::FibConfig>| {
        f.clone().map(|mut f| {
            f.blackholes.clear();
            f
        })
    };
    if fib(&o.fib) != fib(&n.fib) || o.router.max_paths != n.router.max_paths {
        return Some(
            "the kernel protocol's export, table, metric, persist or merge paths changed".into(),
        );
    }
    if o.learn != n.learn {
        return Some(
            "the kernel routes learned changed (learn, or the prefixes the BGP filters export)"
                .into(),
        );
    }
    None
}
