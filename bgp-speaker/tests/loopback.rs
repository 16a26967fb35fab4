//! Our speakers over loopback TCP: what only real sockets show (routes end to end through
//! the driver, TCP-MD5, GTSM, a range's key on the listener, both wildcards listened on, a
//! shutdown's NOTIFICATION, a peer whose socket stops reading). The protocol behaviours
//! (limits, graceful-restart deferral, dynamic ranges, refresh, run-time changes, re-
//! synchronization) are tested on the router itself, on a virtual clock
//! (`bgp-core/tests/router/`). Each test uses its own pair of 127/8 addresses so that
//! tests can run in parallel and peers are told apart by address.
//!
//! Routes carry explicit next hops from TEST-NET-1: a loopback next hop is not a usable
//! next hop (RFC 7606 treats such an UPDATE as a withdrawal), so next-hop-self over loopback
//! would announce nothing. Next-hop-self is tested in the RIB's tests.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp_speaker::{Announcement, PeerSettings, RouteChange, Speaker, SpeakerConfig};
use common::{established, wait_until};
use ipnet::IpNet;
use tokio::time::{sleep, timeout};

const PORT: u16 = 17179;

fn addr(net: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, net, host))
}

/// A speaker at 127.0.net.host listening on PORT, with one peer at 127.0.net.other.
fn config(net: u8, host: u8, other: u8, asn: u32, peer_asn: u32) -> SpeakerConfig {
    let me = addr(net, host);
    let mut c = SpeakerConfig::new(asn, Ipv4Addr::new(10, 0, net, host));
    c.listen.push(SocketAddr::new(me, PORT));
    let mut p = PeerSettings::new(addr(net, other), peer_asn);
    p.port = PORT;
    p.local_address = Some(me);
    p.hold_time = 9;
    p.connect_retry = Some(1);
    // The higher address waits, so that the two never race (as Calico sets it up).
    p.passive = host > other;
    c.router.peers.push(p);
    c
}

fn via(nh: &str) -> Announcement {
    Announcement {
        next_hop: Some(nh.parse().unwrap()),
        ..Announcement::default()
    }
}

async fn route(s: &Speaker, prefix: &str) -> Option<RouteChange> {
    let p: IpNet = prefix.parse().unwrap();
    s.best_routes()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.prefix == p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_speakers_exchange_ipv4_and_ipv6_routes() {
    let a = Speaker::start(config(1, 1, 2, 65000, 65000)).await.unwrap();
    let b = Speaker::start(config(1, 2, 1, 65000, 65000)).await.unwrap();
    wait_until("both sessions Established", || async {
        established(&a).await && established(&b).await
    })
    .await;
    let mut changes = b.subscribe();
    // A's pod block with A's node address as next hop, and an IPv6 block.
    a.announce("172.17.8.0/24".parse().unwrap(), via("192.0.2.1"))
        .await
        .unwrap();
    a.announce(
        "2001:db8:8::/64".parse().unwrap(),
        Announcement {
            next_hop: Some("2001:db8::1".parse().unwrap()),
            ..Announcement::default()
        },
    )
    .await
    .unwrap();
    wait_until("B has both routes", || async {
        route(&b, "172.17.8.0/24").await.is_some() && route(&b, "2001:db8:8::/64").await.is_some()
    })
    .await;
    let r4 = route(&b, "172.17.8.0/24").await.unwrap();
    assert_eq!(r4.next_hops, vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(r4.from, Some(addr(1, 1)));
    let r6 = route(&b, "2001:db8:8::/64").await.unwrap();
    assert_eq!(r6.next_hops, vec!["2001:db8::1".parse::<IpAddr>().unwrap()]);
    // Metrics.
    let text = b.metrics().text();
    assert!(
        text.contains("bgp_session_up{peer=\"127.0.1.1\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("bgp_prefixes_accepted{family=\"ipv4-unicast\",peer=\"127.0.1.1\"} 1")
            && text.contains("bgp_prefixes_accepted{family=\"ipv6-unicast\",peer=\"127.0.1.1\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("bgp_session_transitions_total{peer=\"127.0.1.1\",to=\"established\"} 1"),
        "{text}"
    );
    assert!(text.contains("bgp_best_routes 2"), "{text}");
    assert!(
        text.contains("bgp_updates_received_total{family=\"ipv6-unicast\",peer=\"127.0.1.1\"}")
            && text.contains(
                "bgp_prefixes_received_total{family=\"ipv4-unicast\",kind=\"announce\",peer=\"127.0.1.1\"} 1"
            ),
        "{text}"
    );
    assert!(a.metrics().text().contains(
        "bgp_prefixes_sent_total{family=\"ipv6-unicast\",kind=\"announce\",peer=\"127.0.1.2\"} 1"
    ));
    // The subscription saw them arrive.
    let first = timeout(Duration::from_secs(5), changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        first.prefix.to_string() == "172.17.8.0/24"
            || first.prefix.to_string() == "2001:db8:8::/64"
    );
    // Withdrawn.
    a.withdraw("172.17.8.0/24".parse().unwrap()).await.unwrap();
    wait_until("B lost the IPv4 route", || async {
        route(&b, "172.17.8.0/24").await.is_none()
    })
    .await;
    assert!(route(&b, "2001:db8:8::/64").await.is_some());
    // A next hop of the wrong family is refused: an IPv4 one for an IPv6 block (an IPv6
    // next hop for an IPv4 block is RFC 8950's, for peers with the extended next hop).
    let bad = a
        .announce(
            "2001:db8:9::/64".parse().unwrap(),
            Announcement {
                next_hop: Some("192.0.2.1".parse().unwrap()),
                ..Announcement::default()
            },
        )
        .await;
    assert!(bad.is_err());
    // Removing the peer takes its routes away on both sides.
    a.remove_peer(addr(1, 2)).await.unwrap();
    wait_until("B dropped A's routes", || async {
        route(&b, "2001:db8:8::/64").await.is_none()
    })
    .await;
    wait_until("B saw the session end", || async { !established(&b).await }).await;
    a.shutdown("test over").await.unwrap();
    b.shutdown("test over").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebgp_routes_flow_with_the_as_path() {
    let mut ca = config(2, 1, 2, 65001, 65002);
    let mut cb = config(2, 2, 1, 65002, 65001);
    // eBGP needs policies (RFC 8212); these speakers allow all.
    ca.router.ebgp_without_policy = true;
    cb.router.ebgp_without_policy = true;
    // A third-party next hop (the node behind A), not A's loopback address.
    ca.router.peers[0].next_hop = bgp_speaker::NextHopSetting::Unchanged;
    let a = Speaker::start(ca).await.unwrap();
    let b = Speaker::start(cb).await.unwrap();
    wait_until("eBGP Established", || async {
        established(&a).await && established(&b).await
    })
    .await;
    a.announce("172.20.0.0/16".parse().unwrap(), via("192.0.2.20"))
        .await
        .unwrap();
    wait_until("B has A's route", || async {
        route(&b, "172.20.0.0/16").await.is_some()
    })
    .await;
    let r = route(&b, "172.20.0.0/16").await.unwrap();
    assert_eq!(r.next_hops, vec!["192.0.2.20".parse::<IpAddr>().unwrap()]);
    assert_eq!(r.from, Some(addr(2, 1)));
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_keeps_routes_across_a_restart() {
    let gr = |mut c: SpeakerConfig| {
        c.router.peers[0].graceful_restart = Some(30);
        c
    };
    let a = Speaker::start(gr(config(3, 1, 2, 65000, 65000)))
        .await
        .unwrap();
    let b = Speaker::start(gr(config(3, 2, 1, 65000, 65000)))
        .await
        .unwrap();
    wait_until("Established", || async {
        established(&a).await && established(&b).await
    })
    .await;
    a.announce("172.17.30.0/24".parse().unwrap(), via("192.0.2.30"))
        .await
        .unwrap();
    wait_until("B has the route", || async {
        route(&b, "172.17.30.0/24").await.is_some()
    })
    .await;
    // A restarts (an upgrade): B keeps A's route while A is away (RFC 4724 with RFC 8538:
    // the administrative NOTIFICATION is not a Hard Reset).
    a.shutdown("upgrade").await.unwrap();
    drop(a);
    wait_until("B saw A go", || async { !established(&b).await }).await;
    assert!(
        route(&b, "172.17.30.0/24").await.is_some(),
        "kept while A restarts"
    );
    let a = Speaker::start(gr(config(3, 1, 2, 65000, 65000)))
        .await
        .unwrap();
    a.announce("172.17.30.0/24".parse().unwrap(), via("192.0.2.30"))
        .await
        .unwrap();
    wait_until("back", || async {
        established(&a).await && established(&b).await
    })
    .await;
    // After A's End-of-RIB the route is fresh, still there, and nothing else lingers.
    sleep(Duration::from_millis(500)).await;
    let r = route(&b, "172.17.30.0/24").await.expect("still routed");
    assert_eq!(r.next_hops, vec!["192.0.2.30".parse::<IpAddr>().unwrap()]);
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_from_an_unknown_address_is_refused() {
    let a = Speaker::start(config(4, 1, 2, 65000, 65000)).await.unwrap();
    // Connect from 127.0.4.9, which is not a configured peer.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(addr(4, 9), 0)).unwrap();
    let mut s = sock
        .connect(SocketAddr::new(addr(4, 1), PORT))
        .await
        .unwrap();
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    let n = timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without a byte");
    a.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_right_password_connects_wrong_one_does_not() {
    use bgp_speaker::Password;
    let with = |mut c: SpeakerConfig, pw: &str| {
        c.router.peers[0].password = Some(Password(pw.to_string()));
        c
    };
    // Matching passwords: Established.
    let a = Speaker::start(with(config(5, 1, 2, 65000, 65000), "s3cret"))
        .await
        .unwrap();
    let b = Speaker::start(with(config(5, 2, 1, 65000, 65000), "s3cret"))
        .await
        .unwrap();
    wait_until("MD5 session", || async {
        established(&a).await && established(&b).await
    })
    .await;
    assert_eq!(
        format!("{:?}", Password("s3cret".into())),
        "***",
        "never printed"
    );
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
    // A wrong password, and none on one side: the kernel drops the segments.
    for (pa, pb) in [(Some("s3cret"), Some("wrong")), (Some("s3cret"), None)] {
        let mut ca = config(6, 1, 2, 65000, 65000);
        let mut cb = config(6, 2, 1, 65000, 65000);
        ca.router.peers[0].password = pa.map(|p| Password(p.into()));
        cb.router.peers[0].password = pb.map(|p| Password(p.into()));
        let a = Speaker::start(ca).await.unwrap();
        let b = Speaker::start(cb).await.unwrap();
        sleep(Duration::from_secs(3)).await;
        assert!(
            !established(&a).await && !established(&b).await,
            "{pa:?} / {pb:?}"
        );
        a.shutdown("bye").await.unwrap();
        b.shutdown("bye").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gtsm_between_direct_neighbours() {
    let gtsm = |mut c: SpeakerConfig| {
        c.router.peers[0].ttl_security = Some(1);
        c
    };
    let a = Speaker::start(gtsm(config(7, 1, 2, 65000, 65000)))
        .await
        .unwrap();
    let b = Speaker::start(gtsm(config(7, 2, 1, 65000, 65000)))
        .await
        .unwrap();
    wait_until("GTSM session", || async {
        established(&a).await && established(&b).await
    })
    .await;
    a.announce("172.17.70.0/24".parse().unwrap(), via("192.0.2.70"))
        .await
        .unwrap();
    wait_until("route over GTSM", || async {
        route(&b, "172.17.70.0/24").await.is_some()
    })
    .await;
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
    // A peer that sends with a lower TTL than GTSM demands is not heard.
    let mut ca = config(8, 1, 2, 65000, 65000);
    ca.router.peers[0].ttl = Some(64);
    let a = Speaker::start(ca).await.unwrap();
    let b = Speaker::start(gtsm(config(8, 2, 1, 65000, 65000)))
        .await
        .unwrap();
    sleep(Duration::from_secs(3)).await;
    assert!(
        !established(&b).await,
        "TTL 64 must not pass a minimum of 255"
    );
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

/// The value of a counter with one label set in the Prometheus text.
fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// A BGP message from a raw stream: (type, body).
async fn read_message<R: tokio::io::AsyncRead + Unpin>(
    s: &mut R,
) -> std::io::Result<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 19];
    s.read_exact(&mut header).await?;
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let mut body = vec![0u8; len.saturating_sub(19)];
    s.read_exact(&mut body).await?;
    Ok((header[18], body))
}

fn raw_message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_holds_no_one_back() {
    use tokio::io::AsyncWriteExt;
    // S (127.0.15.1) has a real peer B (.2) and a peer F (.3) that stops reading.
    let mut cs = config(15, 1, 2, 65000, 65000);
    cs.router.peer_queue_depth = 32;
    let mut f = PeerSettings::new(addr(15, 3), 65000);
    f.passive = true;
    f.hold_time = 9;
    cs.router.peers.push(f);
    let s = Speaker::start(cs).await.unwrap();
    let b = Speaker::start(config(15, 2, 1, 65000, 65000))
        .await
        .unwrap();

    // F: a hand-written session with a small receive buffer and no route refresh.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind(SocketAddr::new(addr(15, 3), 0)).unwrap();
    let mut fs = sock
        .connect(SocketAddr::new(addr(15, 1), PORT))
        .await
        .unwrap();
    let open = [
        4, 0xfd, 0xe8, 0, 9, 10, 0, 15, 3, // version, AS 65000, hold 9, id 10.0.15.3
        14, 2, 12, 1, 4, 0, 1, 0, 1, 65, 4, 0, 0, 0xfd, 0xe8, // MP IPv4 unicast, 4-octet AS
    ];
    fs.write_all(&raw_message(1, &open)).await.unwrap();
    assert_eq!(read_message(&mut fs).await.unwrap().0, 1, "OPEN from S");
    fs.write_all(&raw_message(4, &[])).await.unwrap();
    assert_eq!(
        read_message(&mut fs).await.unwrap().0,
        4,
        "KEEPALIVE from S"
    );
    let (mut fr, mut fw) = fs.into_split();
    // F keeps the session alive but reads nothing from here on.
    let keepalive = tokio::spawn(async move {
        loop {
            sleep(Duration::from_secs(2)).await;
            if fw.write_all(&raw_message(4, &[])).await.is_err() {
                return;
            }
        }
    });
    wait_until("S has both peers", || async { established(&s).await }).await;

    // Many routes, each with an attribute set of its own: one UPDATE each, of about 450
    // octets (100 communities), 9 MB in all: more than the socket buffers between S and F
    // hold (the kernel grows a loopback send buffer to 4 MB), so that F is really stuck.
    let n: u32 = std::env::var("STUCK_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let communities: Vec<bgp_speaker::core::wire::attributes::Community> = (0..100u32)
        .map(|c| bgp_speaker::core::wire::attributes::Community((65000 << 16) | c))
        .collect();
    let t0 = std::time::Instant::now();
    for i in 0..n {
        let p = IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + (i << 8)), 24).unwrap());
        let a = Announcement {
            med: Some(i),
            communities: communities.clone(),
            ..via("192.0.2.15")
        };
        s.announce(p, a).await.unwrap();
    }
    eprintln!("announced {n} in {:?}", t0.elapsed());
    let got = timeout(Duration::from_secs(20), async {
        while b.best_routes().await.unwrap().len() != n as usize {
            sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        got.is_ok(),
        "B has {} of {n} routes while F is stuck; S:\n{}",
        b.best_routes().await.unwrap().len(),
        s.metrics().text()
    );
    let overflows = format!("bgp_peer_queue_overflows_total{{peer=\"{}\"}}", addr(15, 3));
    assert!(
        counter(&s.metrics().text(), &overflows) >= 1,
        "F's queue overflowed:\n{}",
        s.metrics().text()
    );
    // What S holds for F stays bounded: its queue depth, a window in flight, a flush.
    sleep(Duration::from_millis(1100)).await;
    let held = format!("bgp_peer_queue_depth{{peer=\"{}\"}}", addr(15, 3));
    let held = counter(&s.metrics().text(), &held);
    assert!(held <= 32 + 256 + 16, "S holds {held} messages for F");
    // B may have fallen behind too (its queue is small) but was caught up in place, by
    // enhanced route refresh, never by a reset.
    let b_down = format!(
        "bgp_session_transitions_total{{peer=\"{}\",to=\"down\"}}",
        addr(15, 2)
    );
    let b_status = s
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.address == addr(15, 2));
    assert_eq!(
        counter(&s.metrics().text(), &b_down),
        0,
        "B's session stayed up: {b_status:?}"
    );

    // F reads again: without enhanced route refresh it is re-synchronized by a reset
    // (Cease, Out of Resources) once its queue has drained.
    // Messages F read before the NOTIFICATION, by type (for the failure message).
    let mut seen = [0u64; 6];
    let cease = timeout(Duration::from_secs(25), async {
        loop {
            match read_message(&mut fr).await {
                Ok((3, body)) => return Some((body[0], body[1])),
                Ok((t, _)) => seen[usize::from(t).min(5)] += 1,
                Err(_) => return None,
            }
        }
    })
    .await;
    let f_status = s
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.address == addr(15, 3));
    assert_eq!(
        cease,
        Ok(Some((6, 8))),
        "a Cease / Out of Resources NOTIFICATION; F read {seen:?} (by message type) before; \
         F at S: {f_status:?}\nS:\n{}",
        s.metrics().text()
    );
    keepalive.abort();
    s.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_peers_with_a_range_password() {
    use bgp_speaker::{DynamicPeers, Password};
    let mut cb = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 16, 2));
    cb.listen.push(SocketAddr::new(addr(16, 2), PORT));
    let mut template = PeerSettings::new(addr(16, 0), 65000);
    template.local_address = Some(addr(16, 2));
    template.hold_time = 9;
    template.password = Some(Password("range-key".into()));
    cb.router.dynamic_peers.push(DynamicPeers {
        range: "127.0.16.0/24".parse().unwrap(),
        template,
        max: 10,
    });
    let b = Speaker::start(cb).await.unwrap();
    let with = |host: u8, pw: Option<&str>| {
        let mut c = config(16, host, 2, 65000, 65000);
        c.router.peers[0].password = pw.map(|p| Password(p.into()));
        c
    };
    let a = Speaker::start(with(1, Some("range-key"))).await.unwrap();
    let wrong = Speaker::start(with(3, Some("other-key"))).await.unwrap();
    let none = Speaker::start(with(4, None)).await.unwrap();
    wait_until("the signed dynamic session", || async {
        established(&a).await
    })
    .await;
    sleep(Duration::from_secs(2)).await;
    assert!(!established(&wrong).await, "a wrong key must not connect");
    assert!(
        !established(&none).await,
        "an unsigned peer must not connect"
    );
    let peers = b.peers().await.unwrap();
    assert_eq!(
        peers
            .iter()
            .filter(|p| p.established)
            .map(|p| p.address)
            .collect::<Vec<_>>(),
        vec![addr(16, 1)]
    );
    for s in [a, wrong, none, b] {
        s.shutdown("bye").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listens_on_the_ipv4_and_the_ipv6_wildcard_at_once() {
    // Both wildcards on one port (the IPv6 socket is IPv6-only); a peer connects over ::1.
    let port = PORT + 7;
    let mut cb = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 32, 2));
    cb.listen.push(SocketAddr::from(([0, 0, 0, 0], port)));
    cb.listen.push(SocketAddr::from(([0u16; 8], port)));
    let mut p = PeerSettings::new("::1".parse().unwrap(), 65000);
    p.passive = true;
    p.hold_time = 9;
    cb.router.peers.push(p);
    let b = Speaker::start(cb).await.unwrap();
    let mut ca = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 32, 1));
    let mut p = PeerSettings::new("::1".parse().unwrap(), 65000);
    p.port = port;
    p.hold_time = 9;
    p.connect_retry = Some(1);
    ca.router.peers.push(p);
    let a = Speaker::start(ca).await.unwrap();
    wait_until("the session over ::1", || async { established(&a).await }).await;
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_metrics_live_from_its_addition_to_its_removal() {
    let a = Speaker::start(config(21, 1, 2, 65000, 65000))
        .await
        .unwrap();
    let cb = config(21, 2, 1, 65000, 65000);
    let b = Speaker::start(cb.clone()).await.unwrap();
    let peer = addr(21, 1);
    let series = |s: &Speaker| -> Vec<String> {
        s.metrics()
            .text()
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(&format!("peer=\"{peer}\"")))
            .map(String::from)
            .collect()
    };
    // From the start, before the session is up: every series, at zero.
    let text = b.metrics().text();
    for s in [
        format!("bgp_peer_queue_overflows_total{{peer=\"{peer}\"}} 0"),
        format!("bgp_session_transitions_total{{peer=\"{peer}\",to=\"down\"}} 0"),
        format!(
            "bgp_peer_info{{asn=\"65000\",dynamic=\"false\",peer=\"{peer}\",rr_client=\"false\",type=\"ibgp\"}} 1"
        ),
        "bgp_fib_errors_total{kind=\"kernel\"} 0".to_string(),
        "bgp_accept_errors_total{kind=\"emfile\"} 0".to_string(),
        format!(
            "bgp_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(text.contains(&s), "{s} in:\n{text}");
    }
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    wait_until("up", || async {
        established(&a).await && established(&b).await
    })
    .await;
    a.announce("172.21.0.0/24".parse().unwrap(), via("192.0.2.21"))
        .await
        .unwrap();
    wait_until("state, uptime and the advertised route", || async {
        let ta = a.metrics().text();
        let tb = b.metrics().text();
        ta.contains(&format!(
            "bgp_prefixes_advertised{{family=\"ipv4-unicast\",peer=\"{}\"}} 1",
            addr(21, 2)
        )) && tb.contains(&format!("bgp_session_state{{peer=\"{peer}\"}} 6"))
    })
    .await;
    // A restart for a changed setting is not a fault: no down counted.
    let mut changed = cb.router.peers[0].clone();
    changed.hold_time = 12;
    b.update_peer(changed).await.unwrap();
    wait_until("up again", || async { established(&b).await }).await;
    let text = b.metrics().text();
    assert!(
        text.contains(&format!(
            "bgp_session_transitions_total{{peer=\"{peer}\",to=\"down\"}} 0"
        )) && text.contains(&format!(
            "bgp_session_transitions_total{{peer=\"{peer}\",to=\"established\"}} 2"
        )),
        "{text}"
    );
    // Removed: its series go.
    assert!(!series(&b).is_empty());
    b.remove_peer(peer).await.unwrap();
    wait_until("the peer's series gone", || async { series(&b).is_empty() }).await;
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}
