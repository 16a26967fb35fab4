//! Running the agent: the speaker with the node's blocks, the admin socket, the metrics
//! endpoint, and the signals (SIGHUP reloads, SIGTERM and SIGINT stop it; with graceful
//! restart the peers keep its routes meanwhile and the kernel keeps the learned ones).

use std::sync::{Arc, Mutex};

use bgp_speaker::{Announcement, Speaker};
use ipnet::IpNet;
use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use super::flags::{LogFormatArg, RunArgs};
use crate::admin::{Request, Response};
use crate::config::{self, Config, NodeConfig};
use crate::daemon::{self, ReloadReport};

/// What a reload did: to the peers, and to the announced blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReload {
    #[serde(flatten)]
    pub peers: ReloadReport,
    pub blocks_announced: Vec<IpNet>,
    pub blocks_withdrawn: Vec<IpNet>,
}

impl AgentReload {
    pub fn text(&self) -> String {
        fn list<T: ToString>(v: &[T]) -> String {
            if v.is_empty() {
                return "-".into();
            }
            v.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
        }
        let p = &self.peers;
        format!(
            "added:            {}\nremoved:          {}\nrestarted:        {}\npolicies applied: {}\nunchanged:        {}\nblocks announced: {}\nblocks withdrawn: {}\n",
            list(&p.added),
            list(&p.removed),
            list(&p.restarted),
            list(&p.policies_applied),
            p.unchanged.len(),
            list(&self.blocks_announced),
            list(&self.blocks_withdrawn),
        )
    }
}

/// A line for `check`: what the file configures.
pub fn describe(c: &Config) -> String {
    let n = c.node.as_ref();
    let addr = |a: Option<String>| a.unwrap_or_else(|| "-".into());
    format!(
        "AS {}, router ID {}; address {}, address6 {}; {} peers, {} pod blocks, max_paths {}, FIB {}; metrics {}; admin socket {}",
        c.speaker.router.asn,
        c.speaker.router.router_id,
        addr(n.and_then(|n| n.address).map(|a| a.to_string())),
        addr(n.and_then(|n| n.address6).map(|a| a.to_string())),
        c.speaker.router.peers.len(),
        n.map_or(0, |n| n.pod_blocks.len()),
        c.speaker.router.max_paths,
        c.speaker
            .fib
            .as_ref()
            .map_or("off".into(), |f| format!("{:?}", f.mode)),
        c.metrics
            .map_or("off".into(), |a| format!("http://{a}/metrics")),
        c.admin_socket.display(),
    )
}

/// The configuration: the file, or the flags read as one.
fn load(args: &RunArgs) -> Result<Config, String> {
    let mut c = match &args.config {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => {
            let text = args.to_toml()?;
            Config::parse("<command line>", &text).map_err(|e| e.to_string())?
        }
    };
    if c.node.is_none() {
        return Err("the file has no [node] table: it says what the node announces".into());
    }
    if let Some(f) = args.log_format {
        c.log.format = match f {
            LogFormatArg::Human => config::LogFormat::Human,
            LogFormatArg::Json => config::LogFormat::Json,
        };
    }
    Ok(c)
}

struct Agent {
    args: RunArgs,
    speaker: Speaker,
    config: Mutex<Config>,
    reloading: tokio::sync::Mutex<()>,
    reloads: IntCounterVec,
    blocks: IntGaugeVec,
    registry: Registry,
}

fn node(c: &Config) -> &NodeConfig {
    c.node.as_ref().expect("checked at load")
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(args: RunArgs) -> Result<(), String> {
    args.check_mix()?;
    let cfg = load(&args)?;
    daemon::init_logging(&cfg.log);
    for w in &cfg.warnings {
        warn!("{w}");
    }
    let mut sc = cfg.speaker.clone();
    sc.router.restarting = args.restarting;
    // With flags alone, the socket is opened only when `--socket` names one (agents in
    // several namespaces of one host would otherwise share the default path).
    let admin = if args.config.is_some() || args.socket.is_some() {
        let l = crate::admin::bind(&cfg.admin_socket, cfg.admin_mode, cfg.admin_group)
            .map_err(|e| format!("admin socket {}: {e}", cfg.admin_socket.display()))?;
        Some(l)
    } else {
        None
    };
    let speaker = Speaker::start(sc).await.map_err(|e| e.to_string())?;
    for &block in &node(&cfg).pod_blocks {
        announce(&speaker, node(&cfg), block).await?;
    }
    info!(
        asn = cfg.speaker.router.asn,
        router_id = %cfg.speaker.router.router_id,
        peers = cfg.speaker.router.peers.len(),
        blocks = node(&cfg).pod_blocks.len(),
        restarting = args.restarting,
        "node agent running"
    );
    let (registry, reloads, blocks) = registry().map_err(|e| e.to_string())?;
    let socket_path = admin.as_ref().map(|_| cfg.admin_socket.clone());
    let metrics_addr = cfg.metrics;
    let a = Arc::new(Agent {
        args,
        speaker,
        config: Mutex::new(cfg),
        reloading: tokio::sync::Mutex::new(()),
        reloads,
        blocks,
        registry,
    });
    a.count_blocks();
    if let Some(addr) = metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("metrics endpoint {addr}: {e}"))?;
        info!(%addr, "metrics at http://{addr}/metrics");
        let a = a.clone();
        tokio::spawn(daemon::serve_metrics(
            listener,
            Arc::new(move || a.metrics_text()),
        ));
    }
    if let Some(admin) = admin {
        let a = a.clone();
        daemon::spawn_admin(admin, move |req| {
            let a = a.clone();
            async move { a.handle(req).await }
        });
    }
    daemon::notify_ready(&a.speaker);
    signals(&a).await?;
    info!("stopping");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let r = a.speaker.shutdown("node agent stopping").await;
    if let Some(p) = socket_path {
        let _ = std::fs::remove_file(p);
    }
    r.map_err(|e| e.to_string())
}

/// Reloads on SIGHUP; returns at SIGTERM or SIGINT.
async fn signals(a: &Agent) -> Result<(), String> {
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                let _ = a.reload().await;
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

fn registry() -> prometheus::Result<(Registry, IntCounterVec, IntGaugeVec)> {
    let registry = Registry::new();
    let reloads = IntCounterVec::new(
        Opts::new("config_reloads_total", "Configuration reloads by result")
            .namespace("node_agent"),
        &["result"],
    )?;
    let blocks = IntGaugeVec::new(
        Opts::new("pod_blocks", "Pod blocks announced, by family").namespace("node_agent"),
        &["family"],
    )?;
    registry.register(Box::new(reloads.clone()))?;
    registry.register(Box::new(blocks.clone()))?;
    for result in ["ok", "error"] {
        reloads.with_label_values(&[result]);
    }
    Ok((registry, reloads, blocks))
}

async fn announce(s: &Speaker, n: &NodeConfig, block: IpNet) -> Result<(), String> {
    let a = Announcement {
        next_hop: n.next_hop(&block),
        ..Announcement::default()
    };
    let via = a.next_hop;
    s.announce(block, a)
        .await
        .map_err(|e| format!("announcing {block}: {e}"))?;
    info!(%block, via = ?via, "announcing");
    Ok(())
}

impl Agent {
    fn metrics_text(&self) -> String {
        let mut text = self.speaker.metrics().text();
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_ok()
        {
            text.push_str(&String::from_utf8_lossy(&buf));
        }
        text
    }

    fn count_blocks(&self) {
        let Ok(c) = self.config.lock() else { return };
        let blocks = &node(&c).pod_blocks;
        let v4 = blocks.iter().filter(|b| b.addr().is_ipv4()).count();
        self.blocks.with_label_values(&["ipv4"]).set(v4 as i64);
        self.blocks
            .with_label_values(&["ipv6"])
            .set((blocks.len() - v4) as i64);
    }

    async fn handle(&self, req: Request) -> Response {
        let s = &self.speaker;
        match req {
            Request::Summary => daemon::speaker_request(s, Request::Peers).await,
            Request::Fib => {
                let fib = self.config.lock().ok().and_then(|c| c.speaker.fib.clone());
                let Some(fib) = fib else {
                    return Response::error("kernel routes are off (install_routes = false)");
                };
                match super::fib::read(&fib).await {
                    Ok(r) => Response::data(r),
                    Err(e) => Response::error(e),
                }
            }
            Request::Reload => match self.reload().await {
                Ok(r) => Response::data(r),
                Err(e) => Response::error(e),
            },
            other => daemon::speaker_request(s, other).await,
        }
    }

    async fn reload(&self) -> Result<AgentReload, String> {
        let _one = self.reloading.lock().await;
        let r = self.apply_new_config().await;
        match &r {
            Ok(report) => {
                self.reloads.with_label_values(&["ok"]).inc();
                self.count_blocks();
                info!(
                    added = ?report.peers.added,
                    removed = ?report.peers.removed,
                    restarted = ?report.peers.restarted,
                    policies_applied = ?report.peers.policies_applied,
                    unchanged = report.peers.unchanged.len(),
                    blocks_announced = ?report.blocks_announced,
                    blocks_withdrawn = ?report.blocks_withdrawn,
                    "configuration reloaded"
                );
            }
            Err(e) => {
                self.reloads.with_label_values(&["error"]).inc();
                error!(error = %e, "reload refused, the running configuration stays");
            }
        }
        r
    }

    /// The file read again; the peers and blocks brought to it, the rest refused when it
    /// changed (it needs a restart).
    async fn apply_new_config(&self) -> Result<AgentReload, String> {
        let new = load(&self.args)?;
        let old = self
            .config
            .lock()
            .map_err(|_| "configuration lock poisoned".to_string())?
            .clone();
        let mut fixed = config::fixed_differences(&old, &new);
        fixed.extend(node(&old).fixed_differences(node(&new)));
        if !fixed.is_empty() {
            return Err(format!("changing {} needs a restart", fixed.join(", ")));
        }
        if old.log != new.log {
            warn!("log settings take effect at the next start");
        }
        let peers = daemon::apply_peers(&self.speaker, &old.speaker, &new.speaker).await?;
        let mut report = AgentReload {
            peers,
            ..AgentReload::default()
        };
        let (was, now) = (&node(&old).pod_blocks, &node(&new).pod_blocks);
        for b in was.iter().filter(|b| !now.contains(b)) {
            self.speaker
                .withdraw(*b)
                .await
                .map_err(|e| format!("withdrawing {b}: {e}"))?;
            report.blocks_withdrawn.push(*b);
        }
        for b in now.iter().filter(|b| !was.contains(b)) {
            announce(&self.speaker, node(&new), *b).await?;
            report.blocks_announced.push(*b);
        }
        *self
            .config
            .lock()
            .map_err(|_| "configuration lock poisoned".to_string())? = new;
        Ok(report)
    }
}
