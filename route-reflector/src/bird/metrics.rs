//! Prometheus metrics of the `bird` daemons: the speaker's (sessions, routes, FIB), at
//! `http://ADDR/metrics` when `BIRD_METRICS_LISTEN=ADDR` is in the environment (BIRD's
//! command line has no place for it; calico-node passes its environment on).

use std::convert::Infallible;
use std::net::SocketAddr;

use bgp_speaker::Speaker;
use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::watch;

/// The environment variable naming the metrics endpoint.
pub const LISTEN_ENV: &str = "BIRD_METRICS_LISTEN";

/// The endpoint asked for in the environment: none, or an address (an unreadable one is
/// an error naming the variable).
pub fn listen_from_env() -> Result<Option<SocketAddr>, String> {
    match std::env::var(LISTEN_ENV) {
        Err(_) => Ok(None),
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|e| format!("{LISTEN_ENV}={v}: {e}, expected ADDRESS:PORT")),
    }
}

/// Serves the metrics of whichever speaker `speaker` holds now (it changes when a reload
/// restarts the speaker).
pub async fn serve(listener: tokio::net::TcpListener, speaker: watch::Receiver<Speaker>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let speaker = speaker.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let text = speaker.borrow().metrics().text();
                async move {
                    let resp = if req.uri().path() == "/metrics" {
                        hyper::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(text)))
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
