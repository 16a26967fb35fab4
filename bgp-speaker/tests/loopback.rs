//! Two of our speakers over loopback TCP. Each test uses its own pair of 127/8 addresses so
//! that tests can run in parallel and peers are told apart by address.
//!
//! Routes carry explicit next hops from TEST-NET-1: a loopback next hop is not a usable
//! next hop (RFC 7606 treats such an UPDATE as a withdrawal), so next-hop-self over loopback
//! would announce nothing. Next-hop-self is tested in the RIB's tests.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bgp_speaker::core::policy::{Match, Policy, PrefixRange, Term, Verdict};
use bgp_speaker::{
    Announcement, PeerSettings, PeerUpdate, RouteChange, Speaker, SpeakerConfig, SpeakerError,
};
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
    c.peers.push(p);
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
    // A next hop of the wrong family is refused.
    let bad = a
        .announce(
            "172.17.9.0/24".parse().unwrap(),
            Announcement {
                next_hop: Some("2001:db8::1".parse().unwrap()),
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
    ca.ebgp_without_policy = true;
    cb.ebgp_without_policy = true;
    // A third-party next hop (the node behind A), not A's loopback address.
    ca.peers[0].next_hop = bgp_speaker::NextHopSetting::Unchanged;
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
        c.peers[0].graceful_restart = Some(30);
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
        c.peers[0].password = Some(Password(pw.to_string()));
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
        ca.peers[0].password = pa.map(|p| Password(p.into()));
        cb.peers[0].password = pb.map(|p| Password(p.into()));
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
        c.peers[0].ttl_security = Some(1);
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
    ca.peers[0].ttl = Some(64);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_prefixes_cease_or_warn() {
    use bgp_speaker::{LimitFamily, MaxPrefixes};
    for warn_only in [false, true] {
        let net = if warn_only { 11 } else { 10 };
        let a = Speaker::start(config(net, 1, 2, 65000, 65000))
            .await
            .unwrap();
        let mut cb = config(net, 2, 1, 65000, 65000);
        // Three IPv6 routes are within the IPv6 limit; the third IPv4 route is one too many.
        cb.peers[0].max_prefixes = vec![
            MaxPrefixes {
                limit: 2,
                family: Some(LimitFamily::Ipv4),
                warn_only,
                restart_after: Some(30),
            },
            MaxPrefixes {
                limit: 3,
                family: Some(LimitFamily::Ipv6),
                warn_only: false,
                restart_after: Some(30),
            },
        ];
        let b = Speaker::start(cb).await.unwrap();
        wait_until("up", || async {
            established(&a).await && established(&b).await
        })
        .await;
        for i in 0..3u8 {
            a.announce(format!("fd18:{i}::/48").parse().unwrap(), via("fd00::9"))
                .await
                .unwrap();
        }
        wait_until("three IPv6 routes, within their limit", || async {
            b.best_routes().await.unwrap().len() == 3
        })
        .await;
        assert!(established(&b).await);
        for i in 0..3u8 {
            a.announce(
                format!("172.18.{i}.0/24").parse().unwrap(),
                via("192.0.2.9"),
            )
            .await
            .unwrap();
        }
        if warn_only {
            wait_until("all six kept", || async {
                b.best_routes().await.unwrap().len() == 6
            })
            .await;
            assert!(established(&b).await);
        } else {
            // Cease / Maximum Number of Prefixes Reached: the session goes, the routes too,
            // and it stays down until the restart delay.
            wait_until("session closed", || async { !established(&a).await }).await;
            wait_until("routes gone", || async {
                b.best_routes().await.unwrap().is_empty()
            })
            .await;
            sleep(Duration::from_secs(2)).await;
            assert!(!established(&b).await, "held down for the restart delay");
        }
        a.shutdown("bye").await.unwrap();
        b.shutdown("bye").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_auto_and_local_as_override() {
    // Both sides configured alike (passive-auto): the higher address waits, the session
    // comes up. A speaks as AS 65010 to B (a local AS override) over eBGP.
    let mut ca = config(12, 1, 2, 65000, 65020);
    let mut cb = config(12, 2, 1, 65020, 65010);
    for c in [&mut ca, &mut cb] {
        c.peers[0].passive = false;
        c.peers[0].passive_auto = true;
        c.ebgp_without_policy = true;
    }
    ca.peers[0].local_as = Some(65010);
    ca.peers[0].next_hop = bgp_speaker::NextHopSetting::Unchanged;
    let a = Speaker::start(ca).await.unwrap();
    let b = Speaker::start(cb).await.unwrap();
    wait_until("up", || async {
        established(&a).await && established(&b).await
    })
    .await;
    a.announce("172.19.0.0/24".parse().unwrap(), via("192.0.2.19"))
        .await
        .unwrap();
    wait_until("route", || async {
        route(&b, "172.19.0.0/24").await.is_some()
    })
    .await;
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_peers_from_a_range() {
    use bgp_speaker::DynamicPeers;
    // B lists no peer; it accepts one from 127.0.13.0/24.
    let mut cb = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 13, 2));
    cb.listen.push(SocketAddr::new(addr(13, 2), PORT));
    let mut template = PeerSettings::new(addr(13, 0), 65000);
    template.local_address = Some(addr(13, 2));
    template.hold_time = 9;
    cb.dynamic_peers.push(DynamicPeers {
        range: "127.0.13.0/24".parse().unwrap(),
        template,
        max: 1,
    });
    let b = Speaker::start(cb).await.unwrap();
    let a = Speaker::start(config(13, 1, 2, 65000, 65000))
        .await
        .unwrap();
    wait_until("the dynamic session", || async { established(&a).await }).await;
    let peers = b.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].address, addr(13, 1));
    a.announce("172.17.13.0/24".parse().unwrap(), via("192.0.2.13"))
        .await
        .unwrap();
    wait_until("route from the dynamic peer", || async {
        route(&b, "172.17.13.0/24").await.is_some()
    })
    .await;
    // A second one from the range (connecting, every second): over the maximum, refused.
    let mut cc = config(13, 3, 2, 65000, 65000);
    cc.peers[0].passive = false;
    let c = Speaker::start(cc).await.unwrap();
    sleep(Duration::from_secs(3)).await;
    assert!(!established(&c).await);
    assert_eq!(b.peers().await.unwrap().len(), 1);
    // A leaves: the dynamic peer and its routes go.
    a.remove_peer(addr(13, 2)).await.unwrap();
    wait_until("dynamic peer removed", || async {
        b.peers()
            .await
            .unwrap()
            .iter()
            .all(|p| p.address != addr(13, 1))
    })
    .await;
    assert!(route(&b, "172.17.13.0/24").await.is_none());
    // Its place in the range is free again: C is taken.
    wait_until("C accepted in the freed place", || async {
        established(&c).await
    })
    .await;
    assert_eq!(b.peers().await.unwrap()[0].address, addr(13, 3));
    for s in [a, b, c] {
        s.shutdown("bye").await.unwrap();
    }
}

/// The value of a counter with one label set in the Prometheus text.
fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_refresh_makes_the_peer_send_again() {
    let a = Speaker::start(config(14, 1, 2, 65000, 65000))
        .await
        .unwrap();
    let b = Speaker::start(config(14, 2, 1, 65000, 65000))
        .await
        .unwrap();
    wait_until("Established", || async {
        established(&a).await && established(&b).await
    })
    .await;
    a.announce("172.21.0.0/16".parse().unwrap(), via("192.0.2.21"))
        .await
        .unwrap();
    wait_until("B has A's route", || async {
        route(&b, "172.21.0.0/16").await.is_some()
    })
    .await;
    let sent = format!(
        "bgp_updates_sent_total{{family=\"ipv4-unicast\",peer=\"{}\"}}",
        addr(14, 2)
    );
    let received = format!(
        "bgp_updates_received_total{{family=\"ipv4-unicast\",peer=\"{}\"}}",
        addr(14, 1)
    );
    let before = counter(&a.metrics().text(), &sent);
    let got_before = counter(&b.metrics().text(), &received);
    assert!(before >= 1);
    b.refresh(addr(14, 1)).await.unwrap();
    wait_until("A sent its routes again and B got them", || async {
        counter(&a.metrics().text(), &sent) > before
            && counter(&b.metrics().text(), &received) > got_before
    })
    .await;
    assert!(
        route(&b, "172.21.0.0/16").await.is_some(),
        "the route stays"
    );
    // Errors: an unknown peer.
    assert!(matches!(
        b.refresh(addr(14, 9)).await,
        Err(SpeakerError::NoPeer(_))
    ));
    a.shutdown("bye").await.unwrap();
    wait_until("B saw the session close", || async {
        !established(&b).await
    })
    .await;
    assert!(matches!(
        b.refresh(addr(14, 1)).await,
        Err(SpeakerError::NotEstablished(_))
    ));
    b.shutdown("bye").await.unwrap();
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
    cs.peer_queue_depth = 32;
    let mut f = PeerSettings::new(addr(15, 3), 65000);
    f.passive = true;
    f.hold_time = 9;
    cs.peers.push(f);
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

    // Many routes, each with an attribute set of its own: one UPDATE each.
    let n: u32 = std::env::var("STUCK_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let t0 = std::time::Instant::now();
    for i in 0..n {
        let p = IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + (i << 8)), 24).unwrap());
        let a = Announcement {
            med: Some(i),
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
    cb.dynamic_peers.push(DynamicPeers {
        range: "127.0.16.0/24".parse().unwrap(),
        template,
        max: 10,
    });
    let b = Speaker::start(cb).await.unwrap();
    let with = |host: u8, pw: Option<&str>| {
        let mut c = config(16, host, 2, 65000, 65000);
        c.peers[0].password = pw.map(|p| Password(p.into()));
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
async fn connect_delay_and_error_wait() {
    use bgp_speaker::ErrorWait;
    // A connects only after 3 s; B waits for A.
    let mut ca = config(17, 1, 2, 65000, 65000);
    ca.peers[0].connect_delay = Some(3);
    ca.peers[0].error_wait = Some(ErrorWait { min: 2, max: 30 });
    let start = std::time::Instant::now();
    let a = Speaker::start(ca).await.unwrap();
    let b = Speaker::start(config(17, 2, 1, 65000, 65000))
        .await
        .unwrap();
    sleep(Duration::from_millis(2000)).await;
    assert!(
        !established(&a).await,
        "no session before the connect delay"
    );
    wait_until("Established after the delay", || async {
        established(&a).await
    })
    .await;
    assert!(start.elapsed() >= Duration::from_secs(3));
    // An error wait that makes no sense is refused with a typed error.
    let mut p = PeerSettings::new(addr(17, 9), 65000);
    p.error_wait = Some(ErrorWait { min: 10, max: 5 });
    assert!(matches!(
        a.add_peer(p).await,
        Err(SpeakerError::InvalidPeer(..))
    ));
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_updated_at_run_time() {
    let a = Speaker::start(config(18, 1, 2, 65000, 65000))
        .await
        .unwrap();
    let cb = config(18, 2, 1, 65000, 65000);
    let b = Speaker::start(cb.clone()).await.unwrap();
    wait_until("Established", || async {
        established(&a).await && established(&b).await
    })
    .await;
    let ups = format!(
        "bgp_session_transitions_total{{peer=\"{}\",to=\"established\"}}",
        addr(18, 2)
    );
    assert_eq!(counter(&a.metrics().text(), &ups), 1);
    // The same settings: nothing happens.
    assert_eq!(
        b.update_peer(cb.peers[0].clone()).await.unwrap(),
        PeerUpdate::Unchanged
    );
    // A new hold time: the session starts again with it.
    let mut changed = cb.peers[0].clone();
    changed.hold_time = 12;
    assert_eq!(b.update_peer(changed).await.unwrap(), PeerUpdate::Restarted);
    wait_until("Established again", || async {
        counter(&a.metrics().text(), &ups) == 2 && established(&a).await && established(&b).await
    })
    .await;
    // Unknown peers and nonsense settings are refused; the peer stays as it was.
    assert!(matches!(
        b.update_peer(PeerSettings::new(addr(18, 9), 65000)).await,
        Err(SpeakerError::NoPeer(_))
    ));
    let mut bad = cb.peers[0].clone();
    bad.error_wait = Some(bgp_speaker::ErrorWait { min: 0, max: 0 });
    assert!(matches!(
        b.update_peer(bad).await,
        Err(SpeakerError::InvalidPeer(..))
    ));
    assert_eq!(b.peers().await.unwrap().len(), 1);
    sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counter(&a.metrics().text(), &ups),
        2,
        "a refused change leaves the session alone"
    );
    assert!(established(&b).await);
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

fn prefix_policy(name: &str, reject: &str) -> Arc<Policy> {
    Arc::new(Policy {
        name: name.into(),
        terms: vec![Term {
            name: "drop".into(),
            matches: vec![Match::Prefix(vec![PrefixRange::exact(
                reject.parse().unwrap(),
            )])],
            actions: Vec::new(),
            verdict: Some(Verdict::Reject),
        }],
        default: Verdict::Accept,
    })
}

async fn learned(s: &Speaker) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = s
        .best_routes()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.from.is_some())
        .map(|r| r.prefix)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_change_in_place_and_the_operator_resets_and_shuts_down() {
    let a = Speaker::start(config(19, 1, 2, 65000, 65000))
        .await
        .unwrap();
    let cb = config(19, 2, 1, 65000, 65000);
    let b = Speaker::start(cb.clone()).await.unwrap();
    for p in ["10.19.1.0/24", "10.19.2.0/24"] {
        a.announce(p.parse().unwrap(), via("192.0.2.19"))
            .await
            .unwrap();
    }
    let both: Vec<IpNet> = vec![
        "10.19.1.0/24".parse().unwrap(),
        "10.19.2.0/24".parse().unwrap(),
    ];
    wait_until("b learns both", || async { learned(&b).await == both }).await;
    let ups = |s: &Speaker| {
        let text = s.metrics().text();
        counter(
            &text,
            &format!(
                "bgp_session_transitions_total{{peer=\"{}\",to=\"established\"}}",
                addr(19, 1)
            ),
        )
    };
    assert_eq!(ups(&b), 1);

    // Import policy on b (no soft reconfiguration: a route refresh brings the routes).
    let mut p = cb.peers[0].clone();
    p.import = Some(prefix_policy("no-1", "10.19.1.0/24"));
    assert_eq!(
        b.update_peer(p.clone()).await.unwrap(),
        PeerUpdate::PoliciesApplied
    );
    wait_until("10.19.1.0/24 dropped", || async {
        learned(&b).await == vec!["10.19.2.0/24".parse::<IpNet>().unwrap()]
    })
    .await;
    // Removed again: refreshed back.
    p.import = None;
    assert_eq!(
        b.update_peer(p.clone()).await.unwrap(),
        PeerUpdate::PoliciesApplied
    );
    wait_until("both again", || async { learned(&b).await == both }).await;
    // Export policy on a towards b: b loses the route, without a reset.
    let mut pa = config(19, 1, 2, 65000, 65000).peers[0].clone();
    pa.export = Some(prefix_policy("no-2", "10.19.2.0/24"));
    assert_eq!(
        a.update_peer(pa).await.unwrap(),
        PeerUpdate::PoliciesApplied
    );
    wait_until("10.19.2.0/24 withdrawn", || async {
        learned(&b).await == vec!["10.19.1.0/24".parse::<IpNet>().unwrap()]
    })
    .await;
    assert_eq!(ups(&b), 1, "policy changes never reset the session");

    // The operator shuts the peer down: it stays down, with the message as the reason.
    b.shutdown_peer(addr(19, 1), "maintenance").await.unwrap();
    wait_until("down", || async { !established(&b).await }).await;
    sleep(Duration::from_millis(1500)).await;
    let st = &b.peers().await.unwrap()[0];
    assert!(!st.established && st.admin_down, "{st:?}");
    let err = st.last_error.clone().unwrap();
    assert!(
        err.contains("Administrative Shutdown") && err.contains("maintenance"),
        "{err}"
    );
    assert!(learned(&b).await.is_empty());
    // A reset brings it back.
    b.reset_peer(addr(19, 1), "back").await.unwrap();
    wait_until("up again", || async { established(&b).await }).await;
    let st = &b.peers().await.unwrap()[0];
    assert_eq!((st.established_count, st.admin_down), (2, false));
    assert_eq!(st.state, "Established");
    assert!(matches!(
        b.reset_peer(addr(19, 9), "x").await,
        Err(SpeakerError::NoPeer(_))
    ));
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_peer_is_kept_for_its_restart_and_while_shut_down() {
    use bgp_speaker::DynamicPeers;
    let mut cb = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 20, 2));
    cb.listen.push(SocketAddr::new(addr(20, 2), PORT));
    let mut template = PeerSettings::new(addr(20, 0), 65000);
    template.local_address = Some(addr(20, 2));
    template.hold_time = 9;
    template.graceful_restart = Some(60);
    cb.dynamic_peers.push(DynamicPeers {
        range: "127.0.20.0/24".parse().unwrap(),
        template,
        max: 10,
    });
    let b = Speaker::start(cb).await.unwrap();
    let node = || async {
        let mut c = config(20, 1, 2, 65000, 65000);
        c.peers[0].graceful_restart = Some(60);
        let a = Speaker::start(c).await.unwrap();
        a.announce("172.17.20.0/24".parse().unwrap(), via("192.0.2.20"))
            .await
            .unwrap();
        a
    };
    let a = node().await;
    let fresh = |b: &Speaker| {
        let b = b.clone();
        async move {
            let q = bgp_speaker::RouteQuery::default();
            b.routes(q).await.unwrap().first().map(|r| r.paths[0].stale)
        }
    };
    wait_until("learned", || async { fresh(&b).await == Some(false) }).await;
    // The node stops (restarts): its routes stay, stale, and so does the peer.
    a.shutdown("restarting").await.unwrap();
    wait_until("stale", || async { fresh(&b).await == Some(true) }).await;
    assert_eq!(b.peers().await.unwrap().len(), 1);
    let a = node().await;
    wait_until("refreshed", || async {
        fresh(&b).await == Some(false) && established(&b).await
    })
    .await;
    // Shut down by the operator: it stays down although the node keeps connecting.
    b.shutdown_peer(addr(20, 1), "maintenance").await.unwrap();
    sleep(Duration::from_secs(3)).await;
    let peers = b.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert!(peers[0].admin_down && !peers[0].established, "{peers:?}");
    b.reset_peer(addr(20, 1), "back").await.unwrap();
    wait_until("back", || async { established(&b).await }).await;
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_peer_takes_the_place_of_a_dynamic_one() {
    use bgp_speaker::DynamicPeers;
    // B accepts A from a range, then its configuration names A: the listed peer replaces
    // the dynamic one (its session restarts with the listed settings) instead of failing.
    let mut cb = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 31, 2));
    cb.listen.push(SocketAddr::new(addr(31, 2), PORT));
    let mut template = PeerSettings::new(addr(31, 0), 65000);
    template.local_address = Some(addr(31, 2));
    template.hold_time = 9;
    cb.dynamic_peers.push(DynamicPeers {
        range: "127.0.31.0/24".parse().unwrap(),
        template,
        max: 10,
    });
    let b = Speaker::start(cb).await.unwrap();
    let a = Speaker::start(config(31, 1, 2, 65000, 65000))
        .await
        .unwrap();
    wait_until("the dynamic session", || async { established(&a).await }).await;
    assert!(b.peers().await.unwrap()[0].dynamic);
    let mut listed = PeerSettings::new(addr(31, 1), 65000);
    listed.local_address = Some(addr(31, 2));
    listed.passive = true;
    listed.hold_time = 6;
    b.add_peer(listed).await.unwrap();
    wait_until("the listed peer's session", || async {
        let p = b.peers().await.unwrap();
        p.len() == 1 && !p[0].dynamic && p[0].established && p[0].hold_time == Some(6)
    })
    .await;
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
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
    cb.peers.push(p);
    let b = Speaker::start(cb).await.unwrap();
    let mut ca = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 32, 1));
    let mut p = PeerSettings::new("::1".parse().unwrap(), 65000);
    p.port = port;
    p.hold_time = 9;
    p.connect_retry = Some(1);
    ca.peers.push(p);
    let a = Speaker::start(ca).await.unwrap();
    wait_until("the session over ::1", || async { established(&a).await }).await;
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
}

// One thread: the task's first round finds the peer's command and its first tick both
// ready, and picks one at random; ten starts try both orders.
#[tokio::test(flavor = "current_thread")]
async fn a_restart_defers_until_its_configured_peers_are_in() {
    // Restarting with a configured peer that does not answer: the deferral must hold (it
    // once ended at start, before the peers were added, when the first tick came first).
    for _ in 0..10 {
        let mut c = config(33, 1, 2, 65000, 65000);
        c.restarting = true;
        c.selection_deferral = 30;
        let s = Speaker::start(c).await.unwrap();
        sleep(Duration::from_millis(100)).await;
        assert!(s.summary().await.unwrap().deferring, "deferral ended early");
        s.shutdown("bye").await.unwrap();
    }
}
