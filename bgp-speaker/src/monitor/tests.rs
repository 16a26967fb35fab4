//! A station that falls behind: its queue overflows, it is told so (Termination, out of
//! resources), and once it has reconnected it is given the tables again; nothing is
//! queued past the bound meanwhile.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::bmp::{BmpMessage, PeerHeader, termination};
use bgp_core::router::{Router, RouterConfig};
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::{BmpConfig, Stations};
use crate::metrics::Metrics;

/// Reads BMP messages from `s` until the connection ends.
async fn read_all(s: &mut tokio::net::TcpStream) -> Vec<BmpMessage> {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let mut out = Vec::new();
    let mut at = 0;
    while let Ok((m, used)) = BmpMessage::decode(&buf[at..]) {
        out.push(m);
        at += used;
    }
    out
}

#[tokio::test]
async fn an_overflowing_station_is_terminated_and_resynchronized() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = BmpConfig::new(listener.local_addr().unwrap());
    cfg.queue = 4;
    cfg.statistics_interval = None;
    cfg.retry = (Duration::from_millis(10), Duration::from_millis(100));
    let metrics = Arc::new(Metrics::new());
    let (mut stations, mut want_sync) = Stations::start(&[cfg.clone()], metrics.clone());
    let (router, _) = Router::new(
        RouterConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1)),
        Instant::now(),
    );

    let (mut first, _) = listener.accept().await.unwrap();
    let i = want_sync.recv().await.unwrap();
    stations.sync(i, &router);
    // More than the queue holds, with no chance for the task to write any.
    let m = Arc::new(BmpMessage::RouteMonitoring {
        peer: PeerHeader::global(
            "10.0.0.2".parse().unwrap(),
            65000,
            Ipv4Addr::new(10, 0, 0, 2),
        ),
        update: Bytes::from_static(&[0xff; 19]),
    });
    for _ in 0..100 {
        stations.send(&m);
    }
    let label = cfg.station.to_string();
    let count = |c: &prometheus::IntCounterVec| c.with_label_values(&[label.as_str()]).get();
    assert_eq!(
        count(&metrics.bmp_dropped),
        1,
        "dropped once, then out of sync"
    );
    assert_eq!(count(&metrics.bmp_resyncs), 1);

    // The first connection: Initiation, what fitted in the queue at most, Termination.
    let got = read_all(&mut first).await;
    assert!(
        matches!(got.first(), Some(BmpMessage::Initiation(_))),
        "{got:?}"
    );
    let routes = got
        .iter()
        .filter(|m| matches!(m, BmpMessage::RouteMonitoring { .. }))
        .count();
    assert!(routes <= 4, "{routes} messages: more than the queue holds");
    let Some(BmpMessage::Termination(tlvs)) = got.last() else {
        panic!("{got:?}");
    };
    let reason = termination::OUT_OF_RESOURCES.to_be_bytes();
    assert!(
        tlvs.iter()
            .any(|t| t.kind == termination::REASON && t.value[..] == reason)
    );

    // It connects again and asks for the tables.
    let (_second, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let again = tokio::time::timeout(Duration::from_secs(10), want_sync.recv()).await;
    assert_eq!(again.ok().flatten(), Some(i));
    stations.close(Duration::from_secs(2)).await;
}
