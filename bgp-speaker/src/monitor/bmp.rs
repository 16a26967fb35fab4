//! One BMP station's task: connect (with back-off), Initiation, the tables, then what the
//! driver queues; Termination when the speaker stops.
//!
//! The station only listens: what it sends is read and dropped, and its end of the
//! connection ends the session. A lost connection or an overflowed queue starts over:
//! the queue is dropped, and after the next connection the driver sends the tables again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bgp_core::bmp::{BmpMessage, Tlv, info_type, termination};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{BmpConfig, ToStation};
use crate::metrics::Metrics;

/// How long a connection attempt, and the wait for the tables after it, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Octets gathered before a write.
const WRITE_CHUNK: usize = 64 * 1024;

pub(crate) struct Task {
    pub cfg: Arc<BmpConfig>,
    pub index: usize,
    pub rx: mpsc::Receiver<ToStation>,
    pub live: Arc<AtomicBool>,
    pub want_sync: mpsc::UnboundedSender<usize>,
    pub metrics: Arc<Metrics>,
    pub label: String,
}

/// How a connection ended.
enum End {
    /// The speaker stops (Termination sent), or the driver is gone.
    Stop,
    /// Lost, or out of sync: connect again.
    Again,
}

pub(crate) async fn run(mut t: Task) {
    let (min, max) = t.cfg.retry;
    let mut wait = min;
    loop {
        drain(&mut t.rx);
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(t.cfg.station)).await;
        match connected {
            Ok(Ok(s)) => {
                t.metrics
                    .bmp_connects
                    .with_label_values(&[t.label.as_str()])
                    .inc();
                info!(station = %t.label, "BMP station connected");
                let end = session(&mut t, s).await;
                t.live.store(false, Ordering::Release);
                t.metrics
                    .bmp_station_up
                    .with_label_values(&[t.label.as_str()])
                    .set(0);
                if let End::Stop = end {
                    return;
                }
                // A quick reconnect, but not a busy loop against a station that takes
                // connections and drops them.
                wait = min;
            }
            Ok(Err(e)) => debug!(station = %t.label, error = %e, "BMP station connection failed"),
            Err(_) => debug!(station = %t.label, "BMP station connection timed out"),
        }
        // Wait, unless told to stop meanwhile.
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                m = t.rx.recv() => match m {
                    None | Some(ToStation::Terminate) => return,
                    Some(_) => {}
                },
            }
        }
        wait = (wait * 2).min(max);
    }
}

fn drain(rx: &mut mpsc::Receiver<ToStation>) {
    while rx.try_recv().is_ok() {}
}

async fn session(t: &mut Task, s: TcpStream) -> End {
    let _ = s.set_nodelay(true);
    let (mut rd, mut wr) = s.into_split();
    let init = BmpMessage::Initiation(vec![
        Tlv::string(info_type::SYS_DESCR, &t.cfg.sys_descr),
        Tlv::string(info_type::SYS_NAME, &t.cfg.sys_name),
    ]);
    if write(t, &mut wr, init.to_bytes(), 1).await.is_err() {
        return End::Again;
    }
    if let Err(end) = sync(t, &mut wr).await {
        return end;
    }
    t.metrics
        .bmp_station_up
        .with_label_values(&[t.label.as_str()])
        .set(1);
    let mut buf = BytesMut::new();
    let mut sink = [0u8; 512];
    loop {
        if !t.live.load(Ordering::Acquire) {
            warn!(station = %t.label, "BMP station out of sync: connecting again");
            let _ = terminate(t, &mut wr, termination::OUT_OF_RESOURCES).await;
            return End::Again;
        }
        tokio::select! {
            m = t.rx.recv() => match m {
                Some(ToStation::Message(m)) => {
                    // What else is queued goes in the same write.
                    let mut n = 1;
                    m.encode(&mut buf);
                    while buf.len() < WRITE_CHUNK {
                        match t.rx.try_recv() {
                            Ok(ToStation::Message(m)) => {
                                m.encode(&mut buf);
                                n += 1;
                            }
                            Ok(ToStation::Terminate) => {
                                let _ = write(t, &mut wr, buf.split().freeze(), n).await;
                                let _ = terminate(t, &mut wr, termination::ADMINISTRATIVELY_CLOSED).await;
                                return End::Stop;
                            }
                            Ok(ToStation::Snapshot(_)) | Err(_) => break,
                        }
                    }
                    if write(t, &mut wr, buf.split().freeze(), n).await.is_err() {
                        return End::Again;
                    }
                }
                Some(ToStation::Snapshot(_)) => {}
                Some(ToStation::Terminate) | None => {
                    let _ = terminate(t, &mut wr, termination::ADMINISTRATIVELY_CLOSED).await;
                    return End::Stop;
                }
            },
            r = rd.read(&mut sink) => match r {
                Ok(0) | Err(_) => {
                    info!(station = %t.label, "BMP station closed the connection");
                    return End::Again;
                }
                // RFC 7854 3.2: the station sends nothing we act on.
                Ok(_) => {}
            },
        }
    }
}

/// Asks the driver for the tables and writes them; whatever was queued before them is
/// stale.
async fn sync(t: &mut Task, wr: &mut OwnedWriteHalf) -> Result<(), End> {
    let _ = t.want_sync.send(t.index);
    let snapshot = tokio::time::timeout(SYNC_TIMEOUT, async {
        loop {
            match t.rx.recv().await {
                Some(ToStation::Snapshot(s)) => return Some(s),
                Some(ToStation::Terminate) | None => return None,
                Some(ToStation::Message(_)) => {}
            }
        }
    })
    .await;
    let snapshot = match snapshot {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = terminate(t, wr, termination::ADMINISTRATIVELY_CLOSED).await;
            return Err(End::Stop);
        }
        Err(_) => return Err(End::Again),
    };
    let mut buf = BytesMut::new();
    let mut n = 0;
    for m in &snapshot {
        m.encode(&mut buf);
        n += 1;
        if buf.len() >= WRITE_CHUNK {
            write(t, wr, buf.split().freeze(), n)
                .await
                .map_err(|_| End::Again)?;
            n = 0;
        }
    }
    write(t, wr, buf.split().freeze(), n)
        .await
        .map_err(|_| End::Again)
}

async fn write(t: &Task, wr: &mut OwnedWriteHalf, b: Bytes, n: u64) -> std::io::Result<()> {
    if b.is_empty() {
        return Ok(());
    }
    if let Err(e) = wr.write_all(&b).await {
        warn!(station = %t.label, error = %e, "BMP station write failed");
        return Err(e);
    }
    t.metrics
        .bmp_messages
        .with_label_values(&[t.label.as_str()])
        .inc_by(n);
    Ok(())
}

async fn terminate(t: &Task, wr: &mut OwnedWriteHalf, reason: u16) -> std::io::Result<()> {
    let m = BmpMessage::Termination(vec![Tlv {
        kind: termination::REASON,
        value: Bytes::copy_from_slice(&reason.to_be_bytes()),
    }]);
    let r = tokio::time::timeout(Duration::from_secs(2), async {
        write(t, wr, m.to_bytes(), 1).await?;
        wr.shutdown().await
    })
    .await;
    r.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
