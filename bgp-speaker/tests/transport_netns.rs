//! Sessions over IPv6 transport, with and without TCP-MD5, in a namespace of their own
//! (IPv6 addresses on its loopback device), carrying IPv4 and IPv6 routes.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp_speaker::{Announcement, Password, PeerSettings, Speaker, SpeakerConfig};
use common::{established, wait_until};
use ipnet::IpNet;
use tokio::time::sleep;

const PORT: u16 = 17181;

fn v6(host: u8) -> IpAddr {
    format!("fd00:b9::{host}").parse().unwrap()
}

fn config(host: u8, other: u8, password: Option<&str>) -> SpeakerConfig {
    let mut c = SpeakerConfig::new(65000, Ipv4Addr::new(10, 0, 0, host));
    c.listen.push(SocketAddr::new(v6(host), PORT));
    let mut p = PeerSettings::new(v6(other), 65000);
    p.port = PORT;
    p.local_address = Some(v6(host));
    p.hold_time = 9;
    p.connect_retry = Some(1);
    p.passive = host > other;
    p.password = password.map(|s| Password(s.into()));
    c.router.peers.push(p);
    c
}

fn via(nh: &str) -> Announcement {
    Announcement {
        next_hop: Some(nh.parse().unwrap()),
        ..Announcement::default()
    }
}

async fn has_route(s: &Speaker, prefix: &str, nh: &str) -> bool {
    let p: IpNet = prefix.parse().unwrap();
    let nh: IpAddr = nh.parse().unwrap();
    s.best_routes()
        .await
        .unwrap()
        .iter()
        .any(|r| r.prefix == p && r.next_hops == vec![nh])
}

netns_test!(ipv6_transport, inner_ipv6_transport, {
    common::run(
        "ip -6 addr add fd00:b9::1/128 dev lo nodad && ip -6 addr add fd00:b9::2/128 dev lo nodad",
    );
    for password in [None, Some("v6-secret")] {
        let a = Speaker::start(config(1, 2, password)).await.unwrap();
        let b = Speaker::start(config(2, 1, password)).await.unwrap();
        wait_until("Established over IPv6", || async {
            established(&a).await && established(&b).await
        })
        .await;
        a.announce("172.17.9.0/24".parse().unwrap(), via("192.168.100.101"))
            .await
            .unwrap();
        a.announce("fd10:1::/64".parse().unwrap(), via("fd00:b9::1"))
            .await
            .unwrap();
        wait_until("both families at B", || async {
            has_route(&b, "172.17.9.0/24", "192.168.100.101").await
                && has_route(&b, "fd10:1::/64", "fd00:b9::1").await
        })
        .await;
        a.shutdown("bye").await.unwrap();
        b.shutdown("bye").await.unwrap();
    }
    // Passwords that differ: no session.
    let a = Speaker::start(config(1, 2, Some("one"))).await.unwrap();
    let b = Speaker::start(config(2, 1, Some("two"))).await.unwrap();
    sleep(Duration::from_secs(3)).await;
    assert!(!established(&a).await && !established(&b).await);
    a.shutdown("bye").await.unwrap();
    b.shutdown("bye").await.unwrap();
});
