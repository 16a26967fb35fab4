//! Two of our sessions wired back to back in memory, on a virtual clock: reaching
//! Established, exchanging routes, keepalives and hold timers, closing with each Cease
//! subcode, graceful restart, route refresh, and connection collisions between two `Peer`s.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_core::session::{
    Action, Conn, DownReason, Event, GracefulRestartConfig, Peer, PeerAs, RefreshKind, Session,
    SessionConfig, State, StopReason, Timer,
};
use bgp_core::wire::attributes::{AsPath, Origin, PathAttributes};
use bgp_core::wire::error::subcode;
use bgp_core::wire::{Notification, Prefixes, Update};
use bgp_core::{Afi, Family};
use ipnet::IpNet;

pub fn config(asn: u32, id: [u8; 4], peer: u32) -> SessionConfig {
    let mut c = SessionConfig::new(asn, Ipv4Addr::from(id), PeerAs::Is(peer));
    c.hold_time = 9;
    c.connect_retry = Duration::from_secs(2);
    c
}

/// Two sessions, A active and B passive, joined by an in-memory connection.
struct Pair {
    now: Instant,
    a: Session,
    b: Session,
    /// Whether the connection is up, and whether bytes flow each way.
    connected: bool,
    a_to_b: bool,
    b_to_a: bool,
    events_a: Vec<Event>,
    events_b: Vec<Event>,
}

impl Pair {
    fn new(a: SessionConfig, mut b: SessionConfig) -> Pair {
        b.passive = true;
        Pair {
            now: Instant::now(),
            a: Session::new(a),
            b: Session::new(b),
            connected: false,
            a_to_b: true,
            b_to_a: true,
            events_a: Vec::new(),
            events_b: Vec::new(),
        }
    }

    fn ibgp() -> Pair {
        Pair::new(
            config(65000, [10, 0, 0, 1], 65000),
            config(65000, [10, 0, 0, 2], 65000),
        )
    }

    fn start(&mut self) {
        self.b.start(self.now);
        self.a.start(self.now);
        self.drive();
    }

    /// Delivers actions until both sides are quiet.
    fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut busy = false;
            while let Some(act) = self.a.poll_action() {
                busy = true;
                match act {
                    Action::Connect => {
                        if self.b.state() == State::Active && !self.connected {
                            self.connected = true;
                            self.b.handle_connected(self.now);
                            self.a.handle_connected(self.now);
                        } else {
                            self.a.handle_connect_failed(self.now);
                        }
                    }
                    Action::Transmit(bytes) => {
                        if self.connected && self.a_to_b {
                            self.b.handle_data(self.now, &bytes);
                        }
                    }
                    Action::Close => {
                        if self.connected {
                            self.connected = false;
                            self.b.handle_closed(self.now);
                        }
                    }
                    Action::Event(e) => self.events_a.push(e),
                }
            }
            while let Some(act) = self.b.poll_action() {
                busy = true;
                match act {
                    Action::Connect => {}
                    Action::Transmit(bytes) => {
                        if self.connected && self.b_to_a {
                            self.a.handle_data(self.now, &bytes);
                        }
                    }
                    Action::Close => {
                        if self.connected {
                            self.connected = false;
                            self.a.handle_closed(self.now);
                        }
                    }
                    Action::Event(e) => self.events_b.push(e),
                }
            }
            if !busy {
                return;
            }
        }
        panic!("the pair does not settle");
    }

    /// Advances the clock by `d`, firing every deadline on the way in order.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|t| *t <= end)
                .min();
            match next {
                Some(t) => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.drive();
                }
                None => break,
            }
        }
        self.now = end;
    }

    fn take_events(&mut self) -> (Vec<Event>, Vec<Event>) {
        (
            std::mem::take(&mut self.events_a),
            std::mem::take(&mut self.events_b),
        )
    }
}

fn route(prefix: &str, next_hop: [u8; 4]) -> Update {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        next_hop: Some(Ipv4Addr::from(next_hop)),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    let nlri =
        Prefixes::from_entries(Afi::IPV4, false, [prefix.parse::<IpNet>().unwrap()]).unwrap();
    Update::new(Prefixes::empty(Afi::IPV4, false), attrs, nlri)
}

fn downs(events: &[Event]) -> Vec<&DownReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Down { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn reaches_established_and_negotiates() {
    let mut p = Pair::ibgp();
    p.start();
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    let neg = p.a.negotiated().unwrap();
    assert_eq!(neg.peer_as, 65000);
    assert_eq!(neg.peer_id, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(neg.hold_time, 9);
    assert_eq!(neg.keepalive_time, 3);
    assert!(neg.four_octet_as && neg.route_refresh && neg.enhanced_route_refresh);
    assert_eq!(
        neg.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    // The state transitions A went through, in order.
    let states: Vec<State> = p
        .events_a
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            State::Connect,
            State::OpenSent,
            State::OpenConfirm,
            State::Established
        ]
    );
    assert!(
        p.events_b
            .iter()
            .any(|e| matches!(e, Event::Established(_)))
    );
}

#[test]
fn hold_time_is_the_smaller_and_zero_means_no_keepalives() {
    let mut b = config(65000, [10, 0, 0, 2], 65000);
    b.hold_time = 30;
    let mut p = Pair::new(config(65000, [10, 0, 0, 1], 65000), b);
    p.start();
    assert_eq!(p.b.negotiated().unwrap().hold_time, 9);

    let mut a = config(65000, [10, 0, 0, 1], 65000);
    a.hold_time = 0;
    let mut p = Pair::new(a, config(65000, [10, 0, 0, 2], 65000));
    p.start();
    assert_eq!(p.b.negotiated().unwrap().hold_time, 0);
    assert_eq!(p.a.timer(Timer::Keepalive), None);
    assert_eq!(p.a.timer(Timer::Hold), None);
    p.a_to_b = false;
    p.advance(Duration::from_secs(3600));
    assert_eq!(p.b.state(), State::Established, "no hold timer to expire");
}

#[test]
fn routes_flow_both_ways() {
    let mut p = Pair::ibgp();
    p.start();
    p.take_events();
    let u = route("172.17.8.0/24", [192, 168, 100, 100]);
    p.a.send_update(p.now, &u).unwrap();
    p.b.send_update(p.now, &route("172.17.9.0/24", [192, 168, 100, 101]))
        .unwrap();
    p.a.send_end_of_rib(p.now, Family::IPV4_UNICAST).unwrap();
    p.drive();
    let (ea, eb) = p.take_events();
    let got: Vec<&Update> = eb
        .iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some(&**u),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![&u]);
    assert!(eb.contains(&Event::EndOfRib(Family::IPV4_UNICAST)));
    assert!(ea.iter().any(|e| matches!(e, Event::Update(u)
        if u.nlri.iter().next().unwrap().prefix.to_string() == "172.17.9.0/24")));
    assert_eq!(
        p.b.counters().updates_in,
        2,
        "the End-of-RIB counts as an UPDATE"
    );
    // Not Established: refused, nothing queued.
    let mut idle = Session::new(config(1, [1, 1, 1, 1], 2));
    assert!(idle.send_update(p.now, &u).is_err());
    assert_eq!(idle.poll_action(), None);
}

#[test]
fn keepalives_keep_it_up_and_silence_expires_the_hold_timer() {
    let mut p = Pair::ibgp();
    p.start();
    p.advance(Duration::from_secs(600));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    assert!(
        p.a.counters().messages_out > 150,
        "keepalives every 2.25-3 s"
    );
    // Keepalive intervals are jittered within [0.75, 1] of 3 s.
    let ka = p.a.timer(Timer::Keepalive).unwrap() - p.now;
    assert!(ka <= Duration::from_secs(3));
    // A goes silent (a frozen process with TCP still up): B gives up after 9 s.
    p.take_events();
    p.a_to_b = false;
    p.advance(Duration::from_millis(8_900));
    assert_eq!(p.b.state(), State::Established);
    p.advance(Duration::from_millis(200));
    assert_eq!(p.b.state(), State::Idle);
    let (_, eb) = p.take_events();
    assert_eq!(
        downs(&eb),
        vec![&DownReason::Sent(Notification::new(
            4,
            0,
            Default::default()
        ))]
    );
}

#[test]
fn closing_with_each_cease_subcode() {
    for sub in [
        subcode::MAX_PREFIXES,
        subcode::ADMIN_SHUTDOWN,
        subcode::PEER_DECONFIGURED,
        subcode::ADMIN_RESET,
        subcode::CONNECTION_REJECTED,
        subcode::OTHER_CONFIGURATION_CHANGE,
        subcode::CONNECTION_COLLISION_RESOLUTION,
        subcode::OUT_OF_RESOURCES,
        subcode::HARD_RESET,
    ] {
        let mut p = Pair::ibgp();
        p.start();
        p.take_events();
        let reason = if matches!(sub, subcode::ADMIN_SHUTDOWN | subcode::ADMIN_RESET) {
            StopReason {
                subcode: sub,
                message: "rack 7 maintenance".into(),
            }
        } else {
            StopReason::cease(sub)
        };
        p.a.stop(p.now, reason);
        p.drive();
        let (ea, eb) = p.take_events();
        assert_eq!(p.a.state(), State::Idle);
        assert_eq!(p.b.state(), State::Idle, "subcode {sub}");
        let DownReason::Received(n) = downs(&eb)[0] else {
            panic!("B did not receive the NOTIFICATION: {eb:?}")
        };
        assert_eq!((n.code, n.subcode), (6, sub));
        if matches!(sub, subcode::ADMIN_SHUTDOWN | subcode::ADMIN_RESET) {
            assert_eq!(n.shutdown_message(), Some("rack 7 maintenance"));
        }
        assert!(matches!(downs(&ea)[0], DownReason::Sent(s) if s.subcode == sub));
        // A stopped by hand does not come back by itself; B, whose session failed, does.
        p.advance(Duration::from_secs(300));
        assert_eq!(p.a.state(), State::Idle);
        assert_eq!(p.b.state(), State::Active);
    }
}

#[test]
fn open_checks_answer_with_the_right_notification() {
    // (A's view of B, B's config tweak, expected OPEN Message Error subcode)
    let cases: Vec<(SessionConfig, SessionConfig, u8)> = vec![
        // A expects AS 65001, B is 65000: Bad Peer AS.
        (
            config(65000, [10, 0, 0, 1], 65001),
            config(65000, [10, 0, 0, 2], 65000),
            subcode::BAD_PEER_AS,
        ),
        // Same BGP identifier inside one AS: Bad BGP Identifier.
        (
            config(65000, [10, 0, 0, 1], 65000),
            config(65000, [10, 0, 0, 1], 65000),
            subcode::BAD_BGP_IDENTIFIER,
        ),
        // A requires at least 30 s of hold time, B offers 9: Unacceptable Hold Time.
        (
            SessionConfig {
                min_hold_time: 30,
                ..config(65000, [10, 0, 0, 1], 65000)
            },
            config(65000, [10, 0, 0, 2], 65000),
            subcode::UNACCEPTABLE_HOLD_TIME,
        ),
        // A requires graceful restart, B does not announce it: Unsupported Capability.
        (
            SessionConfig {
                required_capabilities: vec![bgp_core::wire::Capability::GracefulRestart {
                    restarting: false,
                    notification: false,
                    restart_time: 0,
                    families: vec![],
                }],
                ..config(65000, [10, 0, 0, 1], 65000)
            },
            config(65000, [10, 0, 0, 2], 65000),
            subcode::UNSUPPORTED_CAPABILITY,
        ),
    ];
    for (a, b, sub) in cases {
        let mut p = Pair::new(a, b);
        p.start();
        let (ea, eb) = p.take_events();
        let DownReason::Sent(n) = downs(&ea)[0] else {
            panic!("A sent nothing: {ea:?}")
        };
        assert_eq!((n.code, n.subcode), (2, sub), "{n:?}");
        // B got A's NOTIFICATION, or (same identifier on both sides) found the same fault
        // in A's OPEN first.
        assert!(
            matches!(downs(&eb)[0], DownReason::Received(r) | DownReason::Sent(r)
                if (r.code, r.subcode) == (n.code, n.subcode)),
            "{sub}: {eb:?}"
        );
        if sub == subcode::UNSUPPORTED_CAPABILITY {
            assert_eq!(n.data[0], 64, "the missing capability is named in the data");
        }
        assert_eq!(p.a.state(), State::Idle);
        assert_eq!(p.a.connect_retry_counter(), 1);
    }
}

#[test]
fn ebgp_path_must_start_with_the_peer_as() {
    let mut p = Pair::new(
        config(65001, [10, 0, 0, 1], 65002),
        config(65002, [10, 0, 0, 2], 65001),
    );
    p.start();
    p.take_events();
    let mut u = route("172.17.8.0/24", [192, 168, 100, 100]);
    u.attributes.local_pref = None;
    u.attributes.as_path = Some(AsPath::from_sequence(&[65001]));
    p.a.send_update(p.now, &u).unwrap();
    u.attributes.as_path = Some(AsPath::from_sequence(&[64999]));
    p.a.send_update(p.now, &u).unwrap();
    p.drive();
    let (_, eb) = p.take_events();
    let got: Vec<bool> = eb
        .iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some(u.is_treat_as_withdraw()),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![false, true]);
    assert_eq!(p.b.state(), State::Established);
}

#[test]
fn malformed_update_resets_with_its_notification() {
    let mut p = Pair::ibgp();
    p.start();
    p.take_events();
    // Two MP_UNREACH_NLRI: Malformed Attribute List. Sent raw by a misbehaving A.
    let raw = hex::decode("ffffffffffffffffffffffffffffffff0023020000000c800f03000201800f03000201")
        .unwrap();
    p.b.handle_data(p.now, &raw);
    p.drive();
    let (ea, eb) = p.take_events();
    let DownReason::Sent(n) = downs(&eb)[0] else {
        panic!()
    };
    assert_eq!((n.code, n.subcode), (3, 1));
    assert!(matches!(downs(&ea)[0], DownReason::Received(_)));
}

#[test]
fn route_refresh_and_enhanced_route_refresh() {
    let mut p = Pair::ibgp();
    p.start();
    p.take_events();
    for kind in [RefreshKind::Request, RefreshKind::Begin, RefreshKind::End] {
        p.a.send_route_refresh(p.now, Family::IPV6_UNICAST, kind)
            .unwrap();
    }
    p.drive();
    let (_, eb) = p.take_events();
    let got: Vec<&Event> = eb
        .iter()
        .filter(|e| matches!(e, Event::RouteRefresh { .. }))
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[1],
        &Event::RouteRefresh {
            family: Family::IPV6_UNICAST,
            kind: RefreshKind::Begin
        }
    );
    // Without the enhanced capability, BoRR cannot be sent.
    let mut a = config(65000, [10, 0, 0, 1], 65000);
    a.enhanced_route_refresh = false;
    let mut p = Pair::new(a, config(65000, [10, 0, 0, 2], 65000));
    p.start();
    assert!(
        p.b.send_route_refresh(p.now, Family::IPV4_UNICAST, RefreshKind::Begin)
            .is_err()
    );
    assert!(
        p.b.send_route_refresh(p.now, Family::IPV4_UNICAST, RefreshKind::Request)
            .is_ok()
    );
}

fn gr(restart_time: u16) -> GracefulRestartConfig {
    GracefulRestartConfig {
        restart_time,
        restarting: false,
        forwarding_preserved: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        notification: true,
    }
}

#[test]
fn graceful_restart_keeps_routes_until_end_of_rib() {
    let mut a = config(65000, [10, 0, 0, 1], 65000);
    a.graceful_restart = Some(gr(120));
    let mut b = config(65000, [10, 0, 0, 2], 65000);
    b.graceful_restart = Some(gr(120));
    let mut p = Pair::new(a, b);
    p.start();
    p.take_events();
    // A's process dies: the connection breaks with no NOTIFICATION.
    p.connected = false;
    p.b.handle_closed(p.now);
    p.a.handle_closed(p.now);
    p.drive();
    let (_, eb) = p.take_events();
    assert!(eb.iter().any(|e| matches!(e, Event::Down {
        reason: DownReason::ConnectionLost,
        was_established: true,
        retain_stale: Some(d),
    } if *d == Duration::from_secs(120))));
    assert!(p.b.timer(Timer::GracefulRestart).is_some());
    // A comes back within the restart time and sends End-of-RIB for both families.
    p.advance(Duration::from_secs(10));
    assert_eq!(p.b.state(), State::Established);
    p.a.send_end_of_rib(p.now, Family::IPV4_UNICAST).unwrap();
    p.drive();
    assert!(
        p.b.timer(Timer::GracefulRestart).is_some(),
        "IPv6 still stale"
    );
    p.a.send_end_of_rib(p.now, Family::IPV6_UNICAST).unwrap();
    p.drive();
    assert_eq!(p.b.timer(Timer::GracefulRestart), None);
    let (_, eb) = p.take_events();
    assert!(!eb.contains(&Event::StaleRoutesExpired));
    assert_eq!(
        eb.iter()
            .filter(|e| matches!(e, Event::EndOfRib(_)))
            .count(),
        2
    );
}

#[test]
fn graceful_restart_timer_expires_when_the_peer_stays_away() {
    let mut a = config(65000, [10, 0, 0, 1], 65000);
    a.graceful_restart = Some(gr(60));
    let mut b = config(65000, [10, 0, 0, 2], 65000);
    b.graceful_restart = Some(gr(60));
    let mut p = Pair::new(a, b);
    p.start();
    p.take_events();
    p.connected = false;
    p.b.handle_closed(p.now);
    p.a.stop(p.now, StopReason::admin_shutdown("gone"));
    p.drive();
    p.advance(Duration::from_secs(59));
    assert!(!p.events_b.contains(&Event::StaleRoutesExpired));
    p.advance(Duration::from_secs(2));
    assert!(p.events_b.contains(&Event::StaleRoutesExpired));
    // Without graceful restart on our side nothing is retained.
    let mut p = Pair::ibgp();
    p.start();
    p.take_events();
    p.connected = false;
    p.b.handle_closed(p.now);
    p.drive();
    assert!(p.events_b.iter().any(|e| matches!(
        e,
        Event::Down {
            retain_stale: None,
            ..
        }
    )));
}

#[test]
fn delay_open_waits_for_the_peer() {
    let mut a = config(65000, [10, 0, 0, 1], 65000);
    a.delay_open = Some(Duration::from_secs(5));
    let mut p = Pair::new(a, config(65000, [10, 0, 0, 2], 65000));
    p.b_to_a = true;
    p.start();
    // B (no DelayOpen) sent its OPEN at once, so A answered before its timer: Established.
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.a.timer(Timer::DelayOpen), None);
    // With B silent, A sends its OPEN when DelayOpen expires, not before.
    let mut a = config(65000, [10, 0, 0, 1], 65000);
    a.delay_open = Some(Duration::from_secs(5));
    let mut p = Pair::new(a, config(65000, [10, 0, 0, 2], 65000));
    p.b_to_a = false;
    p.start();
    assert_eq!(p.a.state(), State::Connect);
    assert!(p.a.timer(Timer::DelayOpen).is_some());
    p.advance(Duration::from_millis(4_999));
    assert_eq!(p.a.state(), State::Connect);
    p.advance(Duration::from_millis(2));
    assert_eq!(p.a.state(), State::OpenSent);
}

#[test]
fn connect_retry_backs_off_with_jitter() {
    let mut cfg = config(65000, [10, 0, 0, 1], 65000);
    cfg.connect_retry = Duration::from_secs(2);
    cfg.connect_retry_max = Duration::from_secs(16);
    let mut s = Session::new(cfg);
    let t0 = Instant::now();
    let mut now = t0;
    s.start(now);
    let mut waits = Vec::new();
    for _ in 0..8 {
        assert_eq!(
            s.poll_action().filter(|a| *a == Action::Connect),
            Some(Action::Connect)
        );
        while s.poll_action().is_some() {}
        s.handle_connect_failed(now);
        while s.poll_action().is_some() {}
        let at = s.timer(Timer::ConnectRetry).unwrap();
        waits.push((at - now).as_secs_f64());
        now = at;
        s.handle_timeout(now);
    }
    // 4, 8, 16, 16, ... each times a jitter in [0.75, 1].
    let base = [4.0, 8.0, 16.0, 16.0, 16.0, 16.0, 16.0, 16.0];
    for (w, b) in waits.iter().zip(base) {
        assert!(*w >= 0.75 * b - 1e-9 && *w <= b + 1e-9, "{waits:?}");
    }
    assert_eq!(s.connect_retry_counter(), 8);
}

#[test]
fn flapping_peers_are_damped() {
    let mut p = Pair::ibgp();
    p.start();
    let mut gaps = Vec::new();
    for _ in 0..6 {
        // B's session breaks; A notices too.
        p.connected = false;
        p.a.handle_closed(p.now);
        p.b.handle_closed(p.now);
        p.drive();
        let idle_hold = p.a.timer(Timer::IdleHold).unwrap() - p.now;
        gaps.push(idle_hold.as_secs());
        p.advance(Duration::from_secs(200));
        assert_eq!(p.a.state(), State::Established);
    }
    assert_eq!(gaps, vec![1, 2, 4, 8, 16, 32]);
    // A stable period clears the history.
    p.advance(Duration::from_secs(400));
    p.connected = false;
    p.a.handle_closed(p.now);
    p.b.handle_closed(p.now);
    p.drive();
    assert_eq!(
        p.a.timer(Timer::IdleHold).unwrap() - p.now,
        Duration::from_secs(1)
    );
}

/// Two `Peer`s and up to two transports between them (0: initiated by A, 1: by B).
struct PeerPair {
    now: Instant,
    a: Peer,
    b: Peer,
    up: [bool; 2],
    /// NOTIFICATIONs sent: (sender, transport, notification).
    notifications: Vec<(char, usize, Notification)>,
}

impl PeerPair {
    fn transport(side: char, conn: Conn) -> usize {
        match (side, conn) {
            ('a', Conn::Outbound) | ('b', Conn::Inbound) => 0,
            _ => 1,
        }
    }

    /// One round: every queued action of both peers, Connects first (so that two
    /// simultaneous connection attempts both get through before any byte is delivered).
    fn round(&mut self) -> bool {
        let mut acts: Vec<(char, Conn, Action)> = Vec::new();
        while let Some((c, x)) = self.a.poll_action() {
            acts.push(('a', c, x));
        }
        while let Some((c, x)) = self.b.poll_action() {
            acts.push(('b', c, x));
        }
        if acts.is_empty() {
            return false;
        }
        acts.sort_by_key(|(_, _, x)| !matches!(x, Action::Connect));
        for (side, conn, act) in acts {
            let t = Self::transport(side, conn);
            let other_conn = if conn == Conn::Outbound {
                Conn::Inbound
            } else {
                Conn::Outbound
            };
            let now = self.now;
            let (me, other) = if side == 'a' {
                (&mut self.a, &mut self.b)
            } else {
                (&mut self.b, &mut self.a)
            };
            if std::env::var("TRACE").is_ok() {
                eprintln!("{side} {conn:?} {act:?}");
            }
            match act {
                Action::Connect => {
                    if !self.up[t] && other.handle_accepted(now) {
                        self.up[t] = true;
                        me.handle_connected(now);
                    } else if !self.up[t] {
                        me.handle_connect_failed(now);
                    }
                }
                Action::Transmit(bytes) => {
                    if self.up[t] {
                        if let Ok(bgp_core::wire::Message::Notification(n)) =
                            bgp_core::wire::Message::decode(
                                &bytes,
                                &bgp_core::wire::Context::default(),
                            )
                        {
                            self.notifications.push((side, t, n));
                        }
                        other.handle_data(now, other_conn, &bytes);
                    }
                }
                Action::Close => {
                    if self.up[t] {
                        self.up[t] = false;
                        other.handle_closed(now, other_conn);
                    }
                }
                Action::Event(_) => {}
            }
        }
        true
    }

    /// Runs until quiet, letting time pass (retries) until both are Established or a
    /// simulated `limit` has gone by.
    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            while self.round() {}
            if self.a.state() == State::Established && self.b.state() == State::Established {
                return;
            }
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => return,
            }
        }
    }
}

/// Both peers connect to each other at the same moment: the connection initiated by the
/// higher BGP identifier stays, the other is closed with Cease / Connection Collision
/// Resolution, and both sides agree at once (no reset, no retry).
#[test]
fn collision_keeps_the_higher_identifiers_connection() {
    for (id_a, id_b) in [
        ([10, 0, 0, 1], [10, 0, 0, 2]),
        ([10, 0, 0, 9], [10, 0, 0, 2]),
    ] {
        let now = Instant::now();
        let mut p = PeerPair {
            now,
            a: Peer::new(config(65000, id_a, 65000)),
            b: Peer::new(config(65000, id_b, 65000)),
            up: [false, false],
            notifications: Vec::new(),
        };
        p.a.start(now);
        p.b.start(now);
        p.run(Duration::ZERO);
        assert_eq!(p.a.state(), State::Established);
        assert_eq!(p.b.state(), State::Established);
        let a_higher = u32::from(Ipv4Addr::from(id_a)) > u32::from(Ipv4Addr::from(id_b));
        let expected_up = if a_higher {
            [true, false]
        } else {
            [false, true]
        };
        assert_eq!(p.up, expected_up, "ids {id_a:?} {id_b:?}");
        assert!(!p.notifications.is_empty());
        for (_, t, n) in &p.notifications {
            assert_eq!(n.subcode, subcode::CONNECTION_COLLISION_RESOLUTION);
            assert_ne!(
                Some(*t),
                expected_up.iter().position(|u| *u),
                "the survivor is kept"
            );
        }
        // The survivor carries routes.
        let u = route("172.17.8.0/24", [192, 168, 100, 100]);
        assert!(p.a.send_update(now, &u).is_ok());
    }
}

/// The second connection arrives after one side is already Established on the first: the
/// race RFC 4271 6.8 leaves open can cost a reset, but the peers converge on one
/// connection.
#[test]
fn late_collisions_converge() {
    let now = Instant::now();
    let mut p = PeerPair {
        now,
        a: Peer::new(config(65000, [10, 0, 0, 1], 65000)),
        b: Peer::new(config(65000, [10, 0, 0, 2], 65000)),
        up: [false, false],
        notifications: Vec::new(),
    };
    p.a.start(now);
    // A connects and gets half-way before B starts its own attempt.
    for _ in 0..3 {
        p.round();
    }
    p.b.start(now);
    p.run(Duration::from_secs(600));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    assert_eq!(p.up.iter().filter(|u| **u).count(), 1, "{:?}", p.up);
}

#[test]
fn a_connection_to_an_established_peer_is_refused() {
    let now = Instant::now();
    let mut a = Peer::new(config(65000, [10, 0, 0, 1], 65000));
    let mut b_cfg = config(65000, [10, 0, 0, 2], 65000);
    b_cfg.passive = true;
    let mut b = Peer::new(b_cfg);
    a.start(now);
    b.start(now);
    let mut up = false;
    for _ in 0..50 {
        let mut busy = false;
        while let Some((_, act)) = a.poll_action() {
            busy = true;
            match act {
                Action::Connect if !up => {
                    up = true;
                    assert!(b.handle_accepted(now));
                    a.handle_connected(now);
                }
                Action::Transmit(x) if up => b.handle_data(now, Conn::Inbound, &x),
                _ => {}
            }
        }
        while let Some((_, act)) = b.poll_action() {
            busy = true;
            if let Action::Transmit(x) = act
                && up
            {
                a.handle_data(now, Conn::Outbound, &x);
            }
        }
        if !busy {
            break;
        }
    }
    assert_eq!(b.state(), State::Established);
    assert!(!b.handle_accepted(now), "a second connection is refused");
    let acts: Vec<(Conn, Action)> = std::iter::from_fn(|| b.poll_action()).collect();
    assert!(matches!(acts.last(), Some((Conn::Inbound, Action::Close))));
    assert_eq!(b.state(), State::Established);
}

#[test]
fn automatic_stop_restarts_after_the_given_delay() {
    let mut p = Pair::ibgp();
    p.start();
    p.take_events();
    // Maximum prefixes reached: Cease / 1, back in 30 s.
    p.b.automatic_stop(
        p.now,
        StopReason::cease(subcode::MAX_PREFIXES),
        Duration::from_secs(30),
    );
    p.drive();
    let (ea, _) = p.take_events();
    assert!(matches!(downs(&ea)[0], DownReason::Received(n) if n.subcode == subcode::MAX_PREFIXES));
    assert_eq!(p.b.state(), State::Idle);
    p.advance(Duration::from_secs(29));
    assert_eq!(p.b.state(), State::Idle);
    p.advance(Duration::from_secs(200));
    assert_eq!(p.b.state(), State::Established);
}
