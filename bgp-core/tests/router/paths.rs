//! Next hops across families and links, and ADD-PATH selections.

use super::*;

#[test]
fn ipv4_routes_go_over_an_ipv6_session_with_an_ipv6_next_hop_only_with_rfc_8950() {
    for extended in [false, true] {
        let mut w = World::new();
        let mut ca = config(65000, "10.0.0.1", &[("fd00::2", 65000)]);
        let mut cb = config(65000, "10.0.0.2", &[("fd00::1", 65000)]);
        ca.peers[0].extended_next_hop = extended;
        cb.peers[0].extended_next_hop = extended;
        let a = w.add("fd00::1", ca);
        let b = w.add("fd00::2", cb);
        w.until(5 * SEC, "up", |w| w.established(b) == 1);
        // Our own pod block, next hop self: over this session, ourselves is an IPv6 address.
        w.router(a)
            .announce("172.17.1.0/24".parse().unwrap(), &Announcement::default())
            .unwrap();
        w.router(a)
            .announce("2001:db8:1::/48".parse().unwrap(), &Announcement::default())
            .unwrap();
        w.drive();
        let routes = w.call(b, |r, _| r.best_routes());
        let v4: Vec<_> = routes
            .iter()
            .filter(|r| r.prefix.addr().is_ipv4())
            .collect();
        if extended {
            assert_eq!(v4.len(), 1, "{routes:?}");
            assert_eq!(v4[0].next_hops, [ip("fd00::1")]);
        } else {
            // Without the capability an IPv6 next hop for IPv4 routes is not to be sent
            // (RFC 8950 4), and there is no IPv4 address of ours on the session.
            assert!(v4.is_empty(), "{routes:?}");
        }
        let v6: Vec<_> = routes
            .iter()
            .filter(|r| r.prefix.addr().is_ipv6())
            .collect();
        assert_eq!(v6.len(), 1, "IPv6 routes go either way");
        let st = &w.peers(b)[0];
        let caps = |fam: &str| st.capabilities.iter().find(|c| c.family == fam).unwrap();
        assert_eq!(caps("ipv4-unicast").extended_next_hop, extended, "{st:?}");
        assert!(!caps("ipv6-unicast").extended_next_hop, "{st:?}");
    }
}

#[test]
fn next_hop_self_without_an_address_of_the_family_does_not_send_the_route() {
    // An IPv6 route over an IPv4-only eBGP session: we have no IPv6 address there to put
    // as next hop, and the route's own next hop means nothing to the peer.
    let mut w = World::new();
    let mut ca = config(65001, "10.0.0.1", &[("10.0.0.2", 65002)]);
    ca.ebgp_without_policy = true;
    let mut cb = config(65002, "10.0.0.2", &[("10.0.0.1", 65001)]);
    cb.ebgp_without_policy = true;
    let a = w.add("10.0.0.1", ca);
    let b = w.add("10.0.0.2", cb);
    w.until(5 * SEC, "up", |w| w.established(b) == 1);
    let v6 = Announcement {
        next_hop: Some(ip("fd00::9")),
        ..Announcement::default()
    };
    w.router(a)
        .announce("2001:db8:1::/48".parse().unwrap(), &v6)
        .unwrap();
    w.router(a)
        .announce("172.17.1.0/24".parse().unwrap(), &Announcement::default())
        .unwrap();
    w.drive();
    let routes = w.call(b, |r, _| r.best_routes());
    let prefixes: Vec<String> = routes.iter().map(|r| r.prefix.to_string()).collect();
    assert_eq!(prefixes, ["172.17.1.0/24"], "{routes:?}");
}

#[test]
fn an_ipv4_block_announced_with_an_ipv6_next_hop_goes_to_rfc_8950_peers() {
    // A node with only an IPv6 address announces its IPv4 block with that address.
    let mut w = World::new();
    let mut ca = config(65000, "10.0.0.1", &[("fd00::2", 65000)]);
    let mut cb = config(65000, "10.0.0.2", &[("fd00::1", 65000)]);
    ca.peers[0].extended_next_hop = true;
    cb.peers[0].extended_next_hop = true;
    let a = w.add("fd00::1", ca);
    let b = w.add("fd00::2", cb);
    w.until(5 * SEC, "up", |w| w.established(b) == 1);
    let block: ipnet::IpNet = "172.17.9.0/24".parse().unwrap();
    let with_v6 = Announcement {
        next_hop: Some(ip("fd00::1")),
        ..Announcement::default()
    };
    w.router(a).announce(block, &with_v6).unwrap();
    w.drive();
    let routes = w.call(b, |r, _| r.best_routes());
    let got: Vec<_> = routes.iter().filter(|r| r.prefix == block).collect();
    assert_eq!(got.len(), 1, "{routes:?}");
    assert_eq!(got[0].next_hops, [ip("fd00::1")]);
    // An IPv6 block with an IPv4 next hop is still refused.
    let v4 = Announcement {
        next_hop: Some(ip("10.0.0.1")),
        ..Announcement::default()
    };
    assert!(
        w.router(a)
            .announce("2001:db8:9::/48".parse().unwrap(), &v4)
            .is_err()
    );
}

#[test]
fn a_reflector_sends_the_selected_paths_to_clients_that_take_several() {
    use bgp_core::router::PathSelection;
    let block: ipnet::IpNet = "172.30.0.0/24".parse().unwrap();
    // (what the reflector sends, whether the client receives, the reflector's ECMP width,
    // how many paths the client ends up with).
    let cases = [
        (Some(PathSelection::All), true, 1, 3),
        (Some(PathSelection::Best(2)), true, 1, 2),
        (Some(PathSelection::Ecmp), true, 1, 1),
        (Some(PathSelection::Ecmp), true, 3, 3),
        // Without the client announcing it can receive several, only the best goes.
        (Some(PathSelection::All), false, 1, 1),
        (None, true, 1, 1),
    ];
    for (send, receive, max_paths, want) in cases {
        let mut w = World::new();
        let sources = ["10.0.0.2", "10.0.0.3", "10.0.0.4"];
        let mut peers: Vec<(&str, u32)> = sources.iter().map(|s| (*s, 65000)).collect();
        peers.push(("10.0.0.9", 65000));
        let mut cr = config(65000, "10.0.0.1", &peers);
        cr.cluster_id = Some("10.0.0.1".parse().unwrap());
        cr.max_paths = max_paths;
        for p in &mut cr.peers {
            p.rr_client = true;
        }
        cr.peers[3].add_path.send = send;
        w.add("10.0.0.1", cr);
        for s in sources {
            let n = w.add(s, config(65000, s, &[("10.0.0.1", 65000)]));
            w.router(n)
                .announce(block, &Announcement::default())
                .unwrap();
        }
        let mut cc = config(65000, "10.0.0.9", &[("10.0.0.1", 65000)]);
        cc.peers[0].add_path.receive = receive;
        let c = w.add("10.0.0.9", cc);
        w.until(5 * SEC, "up", |w| w.established(c) == 1);
        w.drive();
        let label = format!("send {send:?}, receive {receive}, max paths {max_paths}");
        let paths: Vec<_> = w
            .router(c)
            .rib()
            .get(&block)
            .map(|d| d.paths().to_vec())
            .unwrap_or_default();
        assert_eq!(paths.len(), want, "{label}: {paths:?}");
        // Each path keeps its originator's next hop; their identifiers differ.
        let mut hops: Vec<_> = paths
            .iter()
            .filter_map(|p| bgp_core::rib::next_hop(p.attrs()))
            .collect();
        hops.sort();
        hops.dedup();
        assert_eq!(hops.len(), want, "{label}: {hops:?}");
        let mut ids: Vec<_> = paths.iter().map(|p| p.path_id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), want, "{label}");
        let st = &w.peers(c)[0];
        let v4 = st
            .capabilities
            .iter()
            .find(|c| c.family == "ipv4-unicast")
            .unwrap();
        let mode = match (send.is_some(), receive) {
            (true, true) => "receive",
            _ => "none",
        };
        assert_eq!(v4.add_path, mode, "{label}: the client's view");
    }
}

#[test]
fn the_best_n_paths_are_the_best_in_decision_order_whatever_their_arrival() {
    use bgp_core::router::PathSelection;
    let block: ipnet::IpNet = "172.30.0.0/24".parse().unwrap();
    let sources = ["10.0.0.2", "10.0.0.3", "10.0.0.4"];
    // Every order of three MEDs over the three sources (a local preference would make
    // the sources prefer the best reflected route over their own and withdraw theirs).
    let orders = [
        [300, 200, 100],
        [300, 100, 200],
        [200, 300, 100],
        [200, 100, 300],
        [100, 300, 200],
        [100, 200, 300],
    ];
    for prefs in orders {
        let mut w = World::new();
        let mut peers: Vec<(&str, u32)> = sources.iter().map(|s| (*s, 65000)).collect();
        peers.push(("10.0.0.9", 65000));
        let mut cr = config(65000, "10.0.0.1", &peers);
        cr.cluster_id = Some("10.0.0.1".parse().unwrap());
        for p in &mut cr.peers {
            p.rr_client = true;
        }
        cr.peers[3].add_path.send = Some(PathSelection::Best(2));
        w.add("10.0.0.1", cr);
        for (s, lp) in sources.iter().zip(prefs) {
            let n = w.add(s, config(65000, s, &[("10.0.0.1", 65000)]));
            let a = Announcement {
                med: Some(lp),
                ..Announcement::default()
            };
            w.router(n).announce(block, &a).unwrap();
        }
        let mut cc = config(65000, "10.0.0.9", &[("10.0.0.1", 65000)]);
        cc.peers[0].add_path.receive = true;
        let c = w.add("10.0.0.9", cc);
        w.until(5 * SEC, "up", |w| w.established(c) == 1);
        w.drive();
        let mut got: Vec<u32> = w
            .router(c)
            .rib()
            .get(&block)
            .map(|d| d.paths().iter().filter_map(|p| p.attrs().med).collect())
            .unwrap_or_default();
        got.sort();
        assert_eq!(got, [100, 200], "MEDs {prefs:?}");
    }
}

#[test]
fn a_link_local_session_carries_both_families_and_its_next_hops_stay_on_the_link() {
    // a and b peer over link-local addresses (an unnumbered link); b also has an iBGP
    // client c over global addresses.
    let mut w = World::new();
    let mut ca = config(65001, "10.0.0.1", &[("fe80::2", 65000)]);
    let mut cb = config(65000, "10.0.0.2", &[("fe80::1", 65001), ("fd00::3", 65000)]);
    let mut cc = config(65000, "10.0.0.3", &[("fd00::2", 65000)]);
    ca.peers[0].interface = Some("eth1".into());
    cb.peers[0].interface = Some("eth1".into());
    for c in [&mut ca, &mut cb, &mut cc] {
        for p in &mut c.peers {
            p.extended_next_hop = true;
        }
        c.ebgp_without_policy = true;
    }
    let a = w.add("fe80::1", ca);
    let b = w.add("fe80::2", cb);
    w.alias(b, "fd00::2");
    let c = w.add("fd00::3", cc);
    w.until(5 * SEC, "up", |w| w.established(b) == 2);
    for p in ["172.17.1.0/24", "2001:db8:1::/48"] {
        w.router(a)
            .announce(p.parse().unwrap(), &Announcement::default())
            .unwrap();
    }
    w.drive();
    let at_b = w.call(b, |r, _| r.best_routes());
    assert_eq!(at_b.len(), 2, "{at_b:?}");
    for r in &at_b {
        assert_eq!(r.next_hops, [ip("fe80::1")], "{r:?}");
    }
    // Passed on over iBGP, where the next hop would stay as it is, a link-local one
    // becomes b's own address on that session.
    let at_c = w.call(c, |r, _| r.best_routes());
    assert_eq!(at_c.len(), 2, "{at_c:?}");
    for r in &at_c {
        assert_eq!(r.next_hops, [ip("fd00::2")], "{r:?}");
    }
    let peers = w.peers(b);
    let st = peers.iter().find(|p| p.address == ip("fe80::1")).unwrap();
    assert_eq!(st.interface.as_deref(), Some("eth1"));
    assert!(st.established);
}
