//! `route-reflector run`: the speaker, the Prometheus endpoint, the admin socket, and the
//! signals (SIGHUP reloads, SIGTERM and SIGINT shut down gracefully).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bgp_speaker::{PeerSettings, PeerUpdate, RouteQuery, Speaker, by_interface};
use http_body_util::Full;
use hyper::body::Bytes;
use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};
use serde::Serialize;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::admin::{self, FamilyArg, PeerAction, Request, Response};
use crate::config::{self, Config};

/// What a reload did to each peer, by name: its address, `ADDRESS%INTERFACE` for a
/// link-local one, the interface for one found on its interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Sessions ended with Cease / Other Configuration Change and started again.
    pub restarted: Vec<String>,
    /// Policies re-applied with the session up.
    pub policies_applied: Vec<String>,
    /// BFD settings applied with the session up.
    #[serde(default)]
    pub bfd_applied: Vec<String>,
    pub unchanged: Vec<String>,
}

/// A peer's name in reports.
fn peer_name(p: &PeerSettings) -> String {
    match (&p.interface, by_interface(p)) {
        (Some(i), true) => i.clone(),
        (Some(i), false) if matches!(p.address, IpAddr::V6(a) if a.is_unicast_link_local()) => {
            format!("{}%{i}", p.address)
        }
        _ => p.address.to_string(),
    }
}

struct Daemon {
    path: Option<PathBuf>,
    speaker: Speaker,
    config: Mutex<Config>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    reloads: IntCounterVec,
    registry: Registry,
}

/// Loads the configuration at `path` (or the embedded default).
pub fn load(path: Option<&std::path::Path>) -> Result<Config, config::ConfigErrors> {
    match path {
        Some(p) => Config::load(p),
        None => Config::parse("<default config>", config::DEFAULT_CONFIG),
    }
}

/// Logs to standard error in the configured format; `RUST_LOG` wins over the level.
pub fn init_logging(c: &config::LogConfig) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let wanted = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| c.level.clone());
    let filter = EnvFilter::try_new(&wanted).unwrap_or_else(|e| {
        eprintln!("log level {wanted:?}: {e}; using info");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match c.format {
        config::LogFormat::Human => builder.try_init(),
        config::LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs until SIGTERM or SIGINT. `restarting`: this start is a graceful restart.
pub async fn run(path: Option<PathBuf>, restarting: bool) -> Result<(), String> {
    let cfg = load(path.as_deref()).map_err(|e| e.to_string())?;
    if cfg.node.is_some() {
        return Err("the file has a [node] table: it is node-agent's, not the reflector's".into());
    }
    init_logging(&cfg.log);
    if path.is_none() {
        info!("no configuration file given: running the embedded default (loopback only)");
    }
    for w in &cfg.warnings {
        warn!("{w}");
    }
    let mut sc = cfg.speaker.clone();
    sc.router.restarting = restarting;
    if restarting {
        sc.router.expected_peers = read_restart_state(&cfg.restart_state);
    }
    // Used once: a later start that is not a graceful restart must not wait on it.
    let _ = std::fs::remove_file(&cfg.restart_state);
    let admin = admin::bind(&cfg.admin_socket, cfg.admin_mode, cfg.admin_group)
        .map_err(|e| format!("admin socket {}: {e}", cfg.admin_socket.display()))?;
    let speaker = Speaker::start(sc).await.map_err(|e| e.to_string())?;
    info!(
        asn = cfg.speaker.router.asn,
        router_id = %cfg.speaker.router.router_id,
        peers = cfg.speaker.router.peers.len(),
        ranges = cfg.speaker.router.dynamic_peers.len(),
        restarting,
        "route reflector running"
    );
    let registry = Registry::new();
    let reloads = IntCounterVec::new(
        Opts::new("config_reloads_total", "Configuration reloads by result")
            .namespace("route_reflector"),
        &["result"],
    )
    .map_err(|e| e.to_string())?;
    registry
        .register(Box::new(reloads.clone()))
        .map_err(|e| e.to_string())?;
    for result in ["ok", "error"] {
        reloads.with_label_values(&[result]);
    }
    let socket_path = cfg.admin_socket.clone();
    let metrics_addr = cfg.metrics;
    let d = Arc::new(Daemon {
        path,
        speaker,
        config: Mutex::new(cfg),
        reloading: tokio::sync::Mutex::new(()),
        reloads,
        registry,
    });
    if let Some(addr) = metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("metrics endpoint {addr}: {e}"))?;
        info!(%addr, "metrics at http://{addr}/metrics");
        let d = d.clone();
        tokio::spawn(serve_metrics(listener, Arc::new(move || d.metrics_text())));
    }
    {
        let d = d.clone();
        spawn_admin(admin, move |req| {
            let d = d.clone();
            async move { d.handle(req).await }
        });
    }
    notify_ready(&d.speaker);
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                let _ = d.reload().await;
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    info!("shutting down");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let graceful = d
        .config
        .lock()
        .map(|c| {
            c.speaker
                .router
                .peers
                .iter()
                .any(|p| p.graceful_restart.is_some())
        })
        .unwrap_or(false);
    let message = if graceful {
        "route reflector restarting"
    } else {
        "route reflector shutting down"
    };
    if graceful {
        let state = d.config.lock().map(|c| c.restart_state.clone());
        if let Ok(state) = state {
            write_restart_state(&d.speaker, &state).await;
        }
    }
    let _ = d.speaker.shutdown(message).await;
    let _ = std::fs::remove_file(&socket_path);
    info!("stopped");
    Ok(())
}

/// Serves the admin socket: each connection in its own task, each request answered by
/// `handle`.
pub fn spawn_admin<F, Fut>(admin: tokio::net::UnixListener, handle: F)
where
    F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    tokio::spawn(async move {
        let mut pause = std::time::Duration::from_millis(10);
        loop {
            let stream = match admin.accept().await {
                Ok((stream, _)) => {
                    pause = std::time::Duration::from_millis(10);
                    stream
                }
                Err(e) => {
                    // Persistent errors (no file descriptors left) are waited out.
                    warn!(error = %e, "admin socket accept failed; pausing");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                    continue;
                }
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                admin::serve_conn(stream, handle).await;
            });
        }
    });
}

/// Under systemd (`Type=notify`): ready now, and, when the unit has a watchdog, a ping every
/// half interval for as long as the speaker answers (a wedged speaker is restarted).
pub fn notify_ready(speaker: &Speaker) {
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        warn!(%e, "cannot tell systemd the reflector is ready");
    }
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = std::time::Duration::from_micros(usec / 2);
    info!(interval_ms = every.as_millis() as u64, "systemd watchdog");
    let speaker = speaker.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match tokio::time::timeout(every, speaker.summary()).await {
                Ok(Ok(_)) => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
                _ => warn!("the speaker does not answer: no watchdog ping"),
            }
        }
    });
}

/// Lists the peers that are up with graceful restart (listed or from ranges), one address
/// per line: they keep our routes while we restart, and the next start (a graceful
/// restart) waits for their End-of-RIB, and only theirs.
async fn write_restart_state(speaker: &Speaker, path: &Path) {
    let Ok(peers) = speaker.peers().await else {
        return;
    };
    let text: String = peers
        .iter()
        .filter(|p| p.established && p.graceful_restart)
        .map(|p| format!("{}\n", p.address))
        .collect();
    match std::fs::write(path, text) {
        Ok(()) => info!(path = %path.display(), "graceful-restart peers listed for the restart"),
        Err(e) => warn!(path = %path.display(), %e, "cannot list the graceful-restart peers"),
    }
}

/// The graceful-restart peers listed by the previous run; `None` when there is no list.
fn read_restart_state(path: &Path) -> Option<Vec<IpAddr>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        warn!(path = %path.display(), "no list of the last run's peers: waiting for every listed graceful-restart peer");
        return None;
    };
    let peers: Vec<IpAddr> = text
        .lines()
        .filter_map(|l| {
            let a = l.trim().parse().ok();
            if a.is_none() && !l.trim().is_empty() {
                warn!(path = %path.display(), line = l, "not an address; ignored");
            }
            a
        })
        .collect();
    info!(path = %path.display(), count = peers.len(), "waiting for the graceful-restart peers of the last run");
    Some(peers)
}

/// A text producer for the metrics endpoint.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `/metrics` (Prometheus text format) from `text`, answered at each scrape.
pub async fn serve_metrics(listener: tokio::net::TcpListener, text: MetricsText) {
    let mut pause = std::time::Duration::from_millis(10);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                pause = std::time::Duration::from_millis(10);
                stream
            }
            Err(e) => {
                warn!(error = %e, "metrics endpoint accept failed; pausing");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
                continue;
            }
        };
        let text = text.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let text = text.clone();
                async move {
                    let resp = if req.uri().path() == "/metrics" {
                        hyper::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(text())))
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"see /metrics\n")))
                    };
                    Ok::<_, Infallible>(resp.unwrap_or_default())
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}

/// The admin requests both daemons answer alike, from the speaker alone: peers, a peer,
/// routes, a peer's tables and the operator's peer actions. Others get an error.
pub(crate) async fn speaker_request(s: &Speaker, req: Request) -> Response {
    let done = |r: Result<(), bgp_speaker::SpeakerError>| match r {
        Ok(()) => Response::data(serde_json::json!({"done": true})),
        Err(e) => Response::error(e.to_string()),
    };
    match req {
        Request::Peers => match s.peers().await {
            Ok(p) => Response::data(p),
            Err(e) => Response::error(e.to_string()),
        },
        Request::Peer { address } => match s.peers().await {
            Ok(p) => match p.into_iter().find(|p| p.address == address) {
                Some(p) => Response::data(p),
                None => Response::error(format!("no peer at {address}")),
            },
            Err(e) => Response::error(e.to_string()),
        },
        Request::Routes {
            prefix,
            peer,
            family,
        } => {
            let q = RouteQuery {
                prefix,
                peer,
                family: family.map(|f| match f {
                    FamilyArg::V4 => bgp_core::Family::IPV4_UNICAST,
                    FamilyArg::V6 => bgp_core::Family::IPV6_UNICAST,
                }),
            };
            match s.routes(q).await {
                Ok(r) => Response::data(r),
                Err(e) => Response::error(e.to_string()),
            }
        }
        Request::PeerTable { address, table } => match s.peer_table(address, table).await {
            Ok(t) => Response::data(t),
            Err(e) => Response::error(e.to_string()),
        },
        Request::PeerAction {
            address,
            action,
            message,
        } => {
            let msg = message.unwrap_or_default();
            info!(%address, %action, message = %msg, "operator request");
            done(match action {
                PeerAction::Reset => s.reset_peer(address, &msg).await,
                PeerAction::Refresh => s.refresh(address).await,
                PeerAction::Shutdown => s.shutdown_peer(address, &msg).await,
            })
        }
        _ => Response::error("not a request of this daemon"),
    }
}

impl Daemon {
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

    async fn handle(&self, req: Request) -> Response {
        let s = &self.speaker;
        match req {
            Request::Summary => match (s.summary().await, s.peers().await) {
                (Ok(sum), Ok(peers)) => Response::data(serde_json::json!({
                    "summary": sum,
                    "peers": peers,
                })),
                (Err(e), _) | (_, Err(e)) => Response::error(e.to_string()),
            },
            Request::Fib => Response::error("the reflector installs no kernel routes"),
            Request::Reload => match self.reload().await {
                Ok(r) => Response::data(r),
                Err(e) => Response::error(e),
            },
            other => speaker_request(s, other).await,
        }
    }

    /// Re-reads the file and applies the difference; a file that does not check, or that
    /// changes settings only a restart can change, is refused as a whole.
    async fn reload(&self) -> Result<ReloadReport, String> {
        let _one = self.reloading.lock().await;
        let r = self.apply_new_config().await;
        match &r {
            Ok(report) => {
                self.reloads.with_label_values(&["ok"]).inc();
                info!(
                    added = ?report.added,
                    removed = ?report.removed,
                    restarted = ?report.restarted,
                    policies_applied = ?report.policies_applied,
                    bfd_applied = ?report.bfd_applied,
                    unchanged = report.unchanged.len(),
                    "configuration reloaded"
                );
            }
            Err(e) => {
                self.reloads.with_label_values(&["error"]).inc();
                error!("reload refused, the running configuration stays: {e}");
            }
        }
        r
    }

    async fn apply_new_config(&self) -> Result<ReloadReport, String> {
        let new = load(self.path.as_deref()).map_err(|e| e.to_string())?;
        let old = self
            .config
            .lock()
            .map_err(|_| "configuration lock poisoned".to_string())?
            .clone();
        let fixed = config::fixed_differences(&old, &new);
        if !fixed.is_empty() {
            return Err(format!("changing {} needs a restart", fixed.join(", ")));
        }
        if old.log != new.log {
            warn!("log settings take effect at the next start");
        }
        let report = apply_peers(&self.speaker, &old.speaker, &new.speaker).await?;
        *self
            .config
            .lock()
            .map_err(|_| "configuration lock poisoned".to_string())? = new;
        Ok(report)
    }
}

/// Brings the speaker's peers from `old` to `new`: removes, adds, and updates in place
/// (a session restarts only where a setting it negotiated changed).
pub async fn apply_peers(
    s: &Speaker,
    old: &bgp_speaker::SpeakerConfig,
    new: &bgp_speaker::SpeakerConfig,
) -> Result<ReloadReport, String> {
    // Peers by interface alone all have the address `::`: their interface tells them
    // apart.
    let key = |p: &PeerSettings| (p.address, p.interface.clone().filter(|_| by_interface(p)));
    let old_peers: HashMap<_, &PeerSettings> =
        old.router.peers.iter().map(|p| (key(p), p)).collect();
    let new_keys: std::collections::HashSet<_> = new.router.peers.iter().map(key).collect();
    let mut report = ReloadReport::default();
    for p in &old.router.peers {
        if !new_keys.contains(&key(p)) {
            match p.interface.as_deref().filter(|_| by_interface(p)) {
                Some(i) => s.remove_interface_peer(i).await,
                None => s.remove_peer(p.address).await,
            }
            .map_err(|e| e.to_string())?;
            report.removed.push(peer_name(p));
        }
    }
    for p in &new.router.peers {
        if old_peers.contains_key(&key(p)) {
            let r = s.update_peer(p.clone()).await.map_err(|e| e.to_string())?;
            sort(&mut report, peer_name(p), r);
        } else {
            s.add_peer(p.clone()).await.map_err(|e| e.to_string())?;
            report.added.push(peer_name(p));
        }
    }
    if old.router.dynamic_peers != new.router.dynamic_peers {
        let dynamic = s
            .set_dynamic_peers(new.router.dynamic_peers.clone())
            .await
            .map_err(|e| e.to_string())?;
        for (addr, r) in dynamic {
            sort(&mut report, addr.to_string(), r);
        }
    }
    Ok(report)
}

fn sort(report: &mut ReloadReport, addr: String, r: PeerUpdate) {
    match r {
        PeerUpdate::Unchanged => report.unchanged.push(addr),
        PeerUpdate::PoliciesApplied => report.policies_applied.push(addr),
        PeerUpdate::Restarted => report.restarted.push(addr),
        PeerUpdate::BfdApplied => report.bfd_applied.push(addr),
    }
}

/// The address the metrics endpoint of `cfg` listens on, for display.
pub fn describe(cfg: &Config) -> String {
    let metrics = cfg.metrics.map_or("off".to_string(), |a: SocketAddr| {
        format!("http://{a}/metrics")
    });
    format!(
        "AS {}, router ID {}, cluster ID {}; {} clients, {} client ranges, {} other peers, {} policies; metrics {}; admin socket {}",
        cfg.speaker.router.asn,
        cfg.speaker.router.router_id,
        cfg.speaker
            .router
            .cluster_id
            .map_or("-".into(), |c| c.to_string()),
        cfg.speaker
            .router
            .peers
            .iter()
            .filter(|p| p.rr_client)
            .count(),
        cfg.speaker.router.dynamic_peers.len(),
        cfg.speaker
            .router
            .peers
            .iter()
            .filter(|p| !p.rr_client)
            .count(),
        cfg.policies,
        metrics,
        cfg.admin_socket.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_names_peers_by_address_link_local_scope_or_interface() {
        let mut p = PeerSettings::new("10.0.0.2".parse().unwrap(), 65000);
        assert_eq!(peer_name(&p), "10.0.0.2");
        p.address = "fe80::4".parse().unwrap();
        p.interface = Some("eth2".into());
        assert_eq!(peer_name(&p), "fe80::4%eth2");
        p.address = "::".parse().unwrap();
        p.interface = Some("eth1".into());
        assert_eq!(peer_name(&p), "eth1");
        p.address = "2001:db8::4".parse().unwrap();
        assert_eq!(peer_name(&p), "2001:db8::4");
    }
}
