//! Route refresh and enhanced route refresh.

use super::*;

#[test]
fn route_refresh_makes_the_peer_send_again() {
    let mut w = pair();
    w.router(0)
        .announce("172.21.0.0/16".parse().unwrap(), &via("10.0.0.1"))
        .unwrap();
    w.drive();
    let sent = |w: &World| {
        w.nodes[0]
            .router
            .peer_stats()
            .next()
            .unwrap()
            .1
            .updates_sent()
    };
    let before = sent(&w);
    w.call(1, |r, now| r.refresh(now, ip("10.0.0.1"))).unwrap();
    w.drive();
    // The route again, once per family asked for (the empty IPv6 table sends nothing),
    // between BoRR and EoRR: nothing is lost at B meanwhile.
    assert_eq!(sent(&w), before + 1);
    assert_eq!(w.learned(1), 1);
    assert_eq!(
        w.call(1, |r, now| r.refresh(now, ip("10.0.0.9"))),
        Err(RouterError::NoPeer(ip("10.0.0.9")))
    );
    w.call(0, |r, now| r.shutdown(now, "bye"));
    w.drive();
    assert_eq!(
        w.call(1, |r, now| r.refresh(now, ip("10.0.0.1"))),
        Err(RouterError::NotEstablished(ip("10.0.0.1")))
    );
}

/// A scripted client with enhanced route refresh (or without), announcing nothing yet.
fn refresher(enhanced: bool) -> bgp_core::session::SessionConfig {
    let mut sc = raw_client(None);
    sc.enhanced_route_refresh = enhanced;
    sc
}

fn update(prefixes: &[&str], nh: &str) -> bgp_core::wire::Update {
    use bgp_core::wire::Prefixes;
    use bgp_core::wire::attributes::{AsPath, Origin, PathAttributes};
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        next_hop: Some(nh.parse().unwrap()),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    let nets: Vec<ipnet::IpNet> = prefixes.iter().map(|p| p.parse().unwrap()).collect();
    bgp_core::wire::Update::new(
        Prefixes::empty(bgp_core::Afi::IPV4, false),
        attrs,
        Prefixes::from_entries(bgp_core::Afi::IPV4, false, nets).unwrap(),
    )
}

#[test]
fn a_peers_enhanced_refresh_sweeps_what_it_did_not_send_again() {
    use bgp_core::Family;
    use bgp_core::session::RefreshKind;
    let mut w = World::new();
    let r = w.add(
        "10.0.0.1",
        config(65000, "10.0.0.1", &[("10.0.0.9", 65000)]),
    );
    let c = w.add_raw("10.0.0.9", "10.0.0.1", refresher(true));
    w.until(5 * SEC, "up", |w| w.established(r) == 1);
    let now = w.now;
    w.raws[c]
        .session
        .send_update(
            now,
            &update(&["172.17.1.0/24", "172.17.2.0/24"], "10.0.0.9"),
        )
        .unwrap();
    w.drive();
    assert_eq!(w.learned(r), 2);
    // BoRR, one of the two again, EoRR: the other goes; none was gone meanwhile.
    let f = Family::IPV4_UNICAST;
    w.raws[c]
        .session
        .send_route_refresh(now, f, RefreshKind::Begin)
        .unwrap();
    w.raws[c]
        .session
        .send_update(now, &update(&["172.17.1.0/24"], "10.0.0.9"))
        .unwrap();
    w.drive();
    assert_eq!(w.learned(r), 2, "kept, stale, until EoRR");
    w.raws[c]
        .session
        .send_route_refresh(now, f, RefreshKind::End)
        .unwrap();
    w.drive();
    assert_eq!(
        learned_prefixes(&w, r),
        ["172.17.1.0/24".parse::<ipnet::IpNet>().unwrap()]
    );
    // A BoRR whose EoRR never comes: after the wait, what was not sent again goes.
    w.raws[c]
        .session
        .send_route_refresh(now, f, RefreshKind::Begin)
        .unwrap();
    w.drive();
    w.advance(200 * SEC);
    assert_eq!(w.learned(r), 1);
    w.advance(200 * SEC);
    assert_eq!(w.learned(r), 0, "no EoRR within the wait");
}

#[test]
fn a_refresh_request_is_answered_between_borr_and_eorr_when_negotiated() {
    use bgp_core::Family;
    use bgp_core::session::{Event as SessionEvent, RefreshKind};
    for enhanced in [true, false] {
        let mut w = World::new();
        let r = w.add(
            "10.0.0.1",
            config(65000, "10.0.0.1", &[("10.0.0.9", 65000)]),
        );
        let c = w.add_raw("10.0.0.9", "10.0.0.1", refresher(enhanced));
        w.until(5 * SEC, "up", |w| w.established(r) == 1);
        for p in ["172.17.1.0/24", "2001:db8:1::/48"] {
            let nh = if p.contains(':') {
                "2001:db8::1"
            } else {
                "10.0.0.1"
            };
            w.router(r).announce(p.parse().unwrap(), &via(nh)).unwrap();
        }
        w.drive();
        w.raws[c].events.clear();
        let now = w.now;
        w.raws[c]
            .session
            .send_route_refresh(now, Family::IPV4_UNICAST, RefreshKind::Request)
            .unwrap();
        w.drive();
        let seen: Vec<String> = w.raws[c]
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::RouteRefresh { kind, family } => Some(format!("{kind:?} {family}")),
                SessionEvent::Update(u) => Some(format!("UPDATE {}", u.nlri.len())),
                SessionEvent::EndOfRib(f) => Some(format!("EoR {f}")),
                _ => None,
            })
            .collect();
        let f = Family::IPV4_UNICAST;
        let want = if enhanced {
            vec![format!("Begin {f}"), "UPDATE 1".into(), format!("End {f}")]
        } else {
            vec!["UPDATE 1".into(), format!("EoR {f}")]
        };
        assert_eq!(seen, want, "only the family asked for");
    }
}
