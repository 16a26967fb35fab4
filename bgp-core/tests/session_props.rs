//! Random event sequences: the session never panics, and never holds a timer in a state
//! that has none (RFC 4271 8: ConnectRetry only while connecting, Hold from OpenSent on,
//! Keepalive from OpenConfirm on, DelayOpen only before the OPEN, IdleHold only in Idle).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_core::Family;
use bgp_core::session::{
    Action, PeerAs, RefreshKind, Session, SessionConfig, State, StopReason, Timer,
};
use bgp_core::wire::{Context, Message, Notification, Update};
use bytes::Bytes;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Input {
    Start,
    Stop(u8),
    Connected,
    Failed,
    Closed,
    /// Advance the clock by this many milliseconds, then fire due timers.
    Wait(u32),
    PeerOpen {
        hold: u16,
        asn: u32,
    },
    Keepalive,
    Update,
    Notification(u8, u8),
    Refresh(u8),
    Garbage(Vec<u8>),
    /// A message cut in two at this point.
    Split(u8),
    SendUpdate,
    SendRefresh,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        Just(Input::Start),
        (1u8..=10).prop_map(Input::Stop),
        Just(Input::Connected),
        Just(Input::Failed),
        Just(Input::Closed),
        (0u32..200_000).prop_map(Input::Wait),
        (
            prop_oneof![Just(0u16), Just(3), Just(9), Just(90), any::<u16>()],
            prop_oneof![Just(65000u32), any::<u32>()]
        )
            .prop_map(|(hold, asn)| Input::PeerOpen { hold, asn }),
        Just(Input::Keepalive),
        Just(Input::Update),
        (1u8..=7, 0u8..=11).prop_map(|(c, s)| Input::Notification(c, s)),
        (0u8..=3).prop_map(Input::Refresh),
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(Input::Garbage),
        (1u8..40).prop_map(Input::Split),
        Just(Input::SendUpdate),
        Just(Input::SendRefresh),
    ]
}

fn config(passive: bool, delay: bool, gr: bool) -> SessionConfig {
    let mut c = SessionConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1), PeerAs::Is(65000));
    c.passive = passive;
    c.hold_time = 9;
    if delay {
        c.delay_open = Some(Duration::from_secs(2));
    }
    if gr {
        c.graceful_restart = Some(bgp_core::session::GracefulRestartConfig {
            restart_time: 30,
            restarting: false,
            forwarding_preserved: vec![Family::IPV4_UNICAST],
            notification: true,
        });
    }
    c
}

fn peer_open(hold: u16, asn: u32) -> Bytes {
    let mut peer = SessionConfig::new(asn, Ipv4Addr::new(10, 0, 0, 2), PeerAs::Any);
    peer.hold_time = hold;
    peer.graceful_restart = Some(bgp_core::session::GracefulRestartConfig {
        restart_time: 30,
        restarting: false,
        forwarding_preserved: vec![Family::IPV4_UNICAST],
        notification: true,
    });
    let mut open = peer.open();
    open.hold_time = hold;
    Message::Open(open)
        .to_bytes(&Context::default())
        .unwrap_or_default()
}

fn allowed(state: State, t: Timer) -> bool {
    match t {
        Timer::ConnectRetry => matches!(state, State::Connect | State::Active),
        Timer::Hold => matches!(
            state,
            State::OpenSent | State::OpenConfirm | State::Established
        ),
        Timer::Keepalive => matches!(state, State::OpenConfirm | State::Established),
        Timer::DelayOpen => matches!(state, State::Connect | State::Active),
        Timer::IdleHold => state == State::Idle,
        // Stale routes of a peer may be kept in any state.
        Timer::GracefulRestart | Timer::LongLivedStale => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_inputs_keep_the_fsm_consistent(
        passive in any::<bool>(),
        delay in any::<bool>(),
        gr in any::<bool>(),
        inputs in proptest::collection::vec(input(), 1..60),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut s = Session::new(config(passive, delay, gr));
        let ctx = Context::default();
        for inp in inputs {
            match inp {
                Input::Start => s.start(now),
                Input::Stop(sub) => s.stop(now, StopReason { subcode: sub, message: "bye".into() }),
                Input::Connected => s.handle_connected(now),
                Input::Failed => s.handle_connect_failed(now),
                Input::Closed => s.handle_closed(now),
                Input::Wait(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    s.handle_timeout(now);
                }
                Input::PeerOpen { hold, asn } => s.handle_data(now, &peer_open(hold, asn)),
                Input::Keepalive => s.handle_data(now, &Message::Keepalive.to_bytes(&ctx).unwrap()),
                Input::Update => s.handle_data(
                    now,
                    &Message::from(Update::end_of_rib(Family::IPV4_UNICAST)).to_bytes(&ctx).unwrap(),
                ),
                Input::Notification(c, sub) => s.handle_data(
                    now,
                    &Message::Notification(Notification::new(c, sub, Bytes::new())).to_bytes(&ctx).unwrap(),
                ),
                Input::Refresh(sub) => {
                    let mut b = hex::decode("ffffffffffffffffffffffffffffffff0017050001000001").unwrap();
                    b[21] = sub;
                    b.truncate(23);
                    s.handle_data(now, &b);
                }
                Input::Garbage(g) => s.handle_data(now, &g),
                Input::Split(at) => {
                    let m = peer_open(90, 65000);
                    let at = usize::from(at).min(m.len());
                    s.handle_data(now, &m[..at]);
                    s.handle_data(now, &m[at..]);
                }
                Input::SendUpdate => {
                    let r = s.send_update(now, &Update::end_of_rib(Family::IPV4_UNICAST));
                    prop_assert_eq!(r.is_ok(), s.state() == State::Established);
                }
                Input::SendRefresh => {
                    let _ = s.send_route_refresh(now, Family::IPV4_UNICAST, RefreshKind::Request);
                }
            }
            // Drain; every transmitted message must be one we can decode.
            while let Some(a) = s.poll_action() {
                if let Action::Transmit(b) = a {
                    let wide = Context { extended_message: true, ..Context::default() };
                    let decoded = Message::decode(&b, &wide);
                    prop_assert!(decoded.is_ok() || b.len() > 19, "{:?}", decoded);
                }
            }
            for t in Timer::ALL {
                prop_assert!(
                    s.timer(t).is_none() || allowed(s.state(), t),
                    "{:?} armed in {:?}", t, s.state()
                );
            }
            if let Some(d) = s.poll_timeout() {
                prop_assert!(d >= t0);
            }
            prop_assert_eq!(s.negotiated().is_some(), matches!(s.state(), State::OpenConfirm | State::Established));
        }
    }
}
