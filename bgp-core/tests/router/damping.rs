//! Route-flap damping.

use super::*;

#[test]
fn route_flap_damping_suppresses_a_flapping_ebgp_route_until_its_merit_decays() {
    use bgp_core::router::DampingConfig;
    let flappy: ipnet::IpNet = "172.18.1.0/24".parse().unwrap();
    let steady: ipnet::IpNet = "172.18.2.0/24".parse().unwrap();
    const MIN: Duration = Duration::from_secs(60);
    // (flaps, minutes until reuse after the last): 7 withdrawals give a merit of about
    // 6,950 (suppressed past 6,000), which takes 48.2 minutes to decay to 750; 20 reach the
    // ceiling, 750 x 2^(60/15) = 12,000: exactly the maximum suppress time, 60 minutes.
    for (flaps, reuse_min) in [(7u32, 48u32), (20, 60)] {
        let mut w = World::new();
        let mut cr = config(
            65001,
            "10.0.0.1",
            &[("10.0.0.2", 65002), ("10.0.0.3", 65001)],
        );
        cr.ebgp_without_policy = true;
        cr.peers[0].damping = Some(DampingConfig::default());
        // Damping applies to external peers only: set on the internal one, it does nothing.
        cr.peers[1].damping = Some(DampingConfig::default());
        let r = w.add("10.0.0.1", cr);
        let mut ce = config(65002, "10.0.0.2", &[("10.0.0.1", 65001)]);
        ce.ebgp_without_policy = true;
        let e = w.add("10.0.0.2", ce);
        let c = w.add(
            "10.0.0.3",
            config(65001, "10.0.0.3", &[("10.0.0.1", 65001)]),
        );
        w.until(5 * SEC, "up", |w| w.established(r) == 2);
        for p in [flappy, steady] {
            w.router(e).announce(p, &Announcement::default()).unwrap();
        }
        w.drive();
        let has = |w: &mut World, n: usize, p: &ipnet::IpNet| {
            w.router(n).rib().get(p).is_some_and(|d| d.best().is_some())
        };
        for _ in 0..flaps {
            w.router(e).withdraw(flappy);
            w.advance(SEC);
            w.router(e)
                .announce(flappy, &Announcement::default())
                .unwrap();
            w.advance(SEC);
        }
        let label = format!("{flaps} flaps");
        assert!(!has(&mut w, r, &flappy), "{label}: suppressed");
        assert!(!has(&mut w, c, &flappy), "{label}: so not sent on");
        assert!(
            has(&mut w, r, &steady) && has(&mut w, c, &steady),
            "{label}"
        );
        assert_eq!(w.peers(r)[0].suppressed, 1, "{label}");
        w.advance((reuse_min - 1) * MIN);
        assert!(!has(&mut w, r, &flappy), "{label}: still suppressed");
        w.advance(2 * MIN);
        assert!(has(&mut w, r, &flappy), "{label}: reused");
        assert!(has(&mut w, c, &flappy), "{label}: and sent on");
        assert_eq!(w.peers(r)[0].suppressed, 0, "{label}");
    }
}

#[test]
fn an_internal_peers_flaps_are_not_damped_and_a_withdrawn_suppressed_route_stays_away() {
    use bgp_core::router::DampingConfig;
    let p: ipnet::IpNet = "172.18.1.0/24".parse().unwrap();
    let mut w = World::new();
    let mut cr = config(
        65001,
        "10.0.0.1",
        &[("10.0.0.2", 65002), ("10.0.0.3", 65001)],
    );
    cr.ebgp_without_policy = true;
    for peer in &mut cr.peers {
        peer.damping = Some(DampingConfig::default());
    }
    let r = w.add("10.0.0.1", cr);
    let mut ce = config(65002, "10.0.0.2", &[("10.0.0.1", 65001)]);
    ce.ebgp_without_policy = true;
    let e = w.add("10.0.0.2", ce);
    let i = w.add(
        "10.0.0.3",
        config(65001, "10.0.0.3", &[("10.0.0.1", 65001)]),
    );
    w.until(5 * SEC, "up", |w| w.established(r) == 2);
    for n in [e, i] {
        w.router(n).announce(p, &Announcement::default()).unwrap();
        w.drive();
        for _ in 0..10 {
            w.router(n).withdraw(p);
            w.advance(SEC);
            w.router(n).announce(p, &Announcement::default()).unwrap();
            w.advance(SEC);
        }
    }
    let from = |w: &mut World| -> Vec<String> {
        let mut v: Vec<String> = w
            .router(r)
            .rib()
            .get(&p)
            .map(|d| {
                d.paths()
                    .iter()
                    .filter_map(|x| bgp_core::rib::next_hop(x.attrs()))
                    .map(|a| a.to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(
        from(&mut w),
        ["10.0.0.3"],
        "the internal peer's route is there"
    );
    // The external one, suppressed, is withdrawn for good: at its reuse nothing comes back.
    w.router(e).withdraw(p);
    w.advance(2 * 60 * SEC * 60);
    assert_eq!(from(&mut w), ["10.0.0.3"]);
    assert_eq!(w.peers(r)[0].suppressed, 0);
}
