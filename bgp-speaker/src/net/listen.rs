//! Listening sockets and their accept loops.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::warn;

/// A listening socket on `addr`; an IPv6 one accepts IPv6 only, so that the IPv4 wildcard
/// and the IPv6 wildcard can both be listened on (as `0.0.0.0:179` and `[::]:179`).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// A listener's socket, for per-peer keys and TTL.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListenFd {
    pub fd: RawFd,
    pub v6: bool,
}

impl ListenFd {
    pub(crate) fn of(l: &TcpListener, addr: SocketAddr) -> ListenFd {
        ListenFd {
            fd: l.as_raw_fd(),
            v6: addr.is_ipv6(),
        }
    }
}

/// An accepted connection: the stream, the peer's address and ours.
pub(crate) type Accepted = (TcpStream, SocketAddr, SocketAddr);

/// Accepts connections and hands them over until the receiver is gone. Errors that persist
/// (no file descriptors left, say) are counted and waited out with a growing pause, never
/// spun on.
pub(crate) async fn accept_loop(
    l: TcpListener,
    to: mpsc::Sender<Accepted>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let local = l.local_addr().ok();
    let mut pause = Duration::from_millis(10);
    loop {
        match l.accept().await {
            Ok((stream, remote)) => {
                pause = Duration::from_millis(10);
                let ours = stream.local_addr().ok().or(local);
                let Some(ours) = ours else { continue };
                if to.send((stream, remote, ours)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let kind = crate::metrics::accept_error_kind(&e);
                metrics.accept_errors.with_label_values(&[kind]).inc();
                warn!(error = %e, pause_ms = pause.as_millis() as u64, "accept failed; pausing");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}
