//! The RFC 4271 section 8.2.2 event/state table, row by row: each state, each event, the
//! next state and what is sent. Timer events whose timer is not armed in a state cannot
//! happen there; for those the table asserts that the timer is indeed not armed.
//!
//! Deviations from the RFC, by design: a failed connection attempt waits in Active for the
//! ConnectRetry timer instead of going to Idle (so the peer can connect meanwhile), and an
//! OPEN in Established is an FSM error whether or not it is well formed.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_core::Family;
use bgp_core::session::{Action, PeerAs, Session, SessionConfig, State, StopReason, Timer};
use bgp_core::wire::{Context, Message, Notification, Update};
use bytes::Bytes;

/// Where a row starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Idle,
    /// Connecting, no TCP yet.
    Connect,
    /// Connected with DelayOpen running (still Connect).
    ConnectDelayOpen,
    /// Passive, waiting.
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

/// RFC 4271 8.1 events (numbered as there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    ManualStart = 1,
    ManualStop = 2,
    ConnectRetryExpires = 9,
    HoldExpires = 10,
    KeepaliveExpires = 11,
    DelayOpenExpires = 12,
    IdleHoldExpires = 13,
    TcpConnected = 16,
    TcpFails = 18,
    BgpOpen = 19,
    BgpHeaderErr = 21,
    BgpOpenMsgErr = 22,
    NotifMsgVerErr = 24,
    NotifMsg = 25,
    KeepAliveMsg = 26,
    UpdateMsg = 27,
    UpdateMsgErr = 28,
}

/// What a row expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exp {
    /// Next state, the NOTIFICATION sent (code, subcode), and whether a connection attempt
    /// or a close is asked for.
    To {
        state: State,
        sent: Option<(u8, u8)>,
        connect: bool,
        close: bool,
    },
    /// The event's timer is not armed in this state.
    NotArmed(Timer),
}

const fn to(state: State) -> Exp {
    Exp::To {
        state,
        sent: None,
        connect: false,
        close: false,
    }
}

const fn sends(state: State, code: u8, sub: u8) -> Exp {
    Exp::To {
        state,
        sent: Some((code, sub)),
        connect: false,
        close: true,
    }
}

const fn closes(state: State) -> Exp {
    Exp::To {
        state,
        sent: None,
        connect: false,
        close: true,
    }
}

const fn connects(state: State) -> Exp {
    Exp::To {
        state,
        sent: None,
        connect: true,
        close: false,
    }
}

fn cfg(passive: bool, delay_open: bool) -> SessionConfig {
    let mut c = SessionConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1), PeerAs::Is(65000));
    c.passive = passive;
    c.hold_time = 9;
    if delay_open {
        c.delay_open = Some(Duration::from_secs(5));
    }
    c
}

fn peer_open() -> Bytes {
    let peer = SessionConfig::new(65000, Ipv4Addr::new(10, 0, 0, 2), PeerAs::Is(65000));
    Message::Open(peer.open())
        .to_bytes(&Context::default())
        .unwrap()
}

fn hex(s: &str) -> Bytes {
    Bytes::from(::hex::decode(s).unwrap())
}

fn event_bytes(ev: Ev) -> Option<Bytes> {
    let ctx = Context::default();
    Some(match ev {
        Ev::BgpOpen => peer_open(),
        Ev::BgpHeaderErr => hex("fffffffffffffffffffffffffffffffe001304"),
        // An OPEN of version 3.
        Ev::BgpOpenMsgErr => hex("ffffffffffffffffffffffffffffffff001d0103fde800090a00000200"),
        Ev::NotifMsgVerErr => Message::Notification(Notification::new(2, 1, Bytes::new()))
            .to_bytes(&ctx)
            .unwrap(),
        Ev::NotifMsg => Message::Notification(Notification::new(6, 2, Bytes::new()))
            .to_bytes(&ctx)
            .unwrap(),
        Ev::KeepAliveMsg => Message::Keepalive.to_bytes(&ctx).unwrap(),
        Ev::UpdateMsg => Message::from(Update::end_of_rib(Family::IPV4_UNICAST))
            .to_bytes(&ctx)
            .unwrap(),
        // Two MP_UNREACH_NLRI: Malformed Attribute List.
        Ev::UpdateMsgErr => {
            hex("ffffffffffffffffffffffffffffffff0023020000000c800f03000201800f03000201")
        }
        _ => return None,
    })
}

/// A session brought to `start`, with its queued actions drained.
fn at(start: Start, t0: Instant) -> Session {
    let passive = start == Start::Active;
    let mut s = Session::new(cfg(passive, start == Start::ConnectDelayOpen));
    if start != Start::Idle {
        s.start(t0);
    }
    if matches!(
        start,
        Start::ConnectDelayOpen | Start::OpenSent | Start::OpenConfirm | Start::Established
    ) {
        s.handle_connected(t0);
    }
    if matches!(start, Start::OpenConfirm | Start::Established) {
        s.handle_data(t0, &peer_open());
    }
    if start == Start::Established {
        s.handle_data(t0, &event_bytes(Ev::KeepAliveMsg).unwrap());
    }
    while s.poll_action().is_some() {}
    s
}

fn timer_of(ev: Ev) -> Option<Timer> {
    Some(match ev {
        Ev::ConnectRetryExpires => Timer::ConnectRetry,
        Ev::HoldExpires => Timer::Hold,
        Ev::KeepaliveExpires => Timer::Keepalive,
        Ev::DelayOpenExpires => Timer::DelayOpen,
        Ev::IdleHoldExpires => Timer::IdleHold,
        _ => return None,
    })
}

fn table() -> Vec<(Start, Ev, Exp)> {
    use Ev::*;
    use State::*;
    let mut rows = Vec::new();
    let mut row = |s: Start, e: Ev, x: Exp| rows.push((s, e, x));

    // Idle: only a start does anything; connections are refused, data never arrives.
    let s = Start::Idle;
    row(s, ManualStart, connects(Connect));
    row(s, ManualStop, to(Idle));
    for e in [
        ConnectRetryExpires,
        HoldExpires,
        KeepaliveExpires,
        DelayOpenExpires,
        IdleHoldExpires,
    ] {
        row(s, e, Exp::NotArmed(timer_of(e).unwrap()));
    }
    row(s, TcpConnected, closes(Idle));
    row(s, TcpFails, to(Idle));
    for e in [
        BgpOpen,
        BgpHeaderErr,
        BgpOpenMsgErr,
        NotifMsgVerErr,
        NotifMsg,
        KeepAliveMsg,
        UpdateMsg,
        UpdateMsgErr,
    ] {
        row(s, e, to(Idle));
    }

    // Connect, no connection yet.
    let s = Start::Connect;
    row(s, ManualStart, to(Connect));
    row(s, ManualStop, to(Idle));
    row(s, ConnectRetryExpires, connects(Connect));
    for e in [
        HoldExpires,
        KeepaliveExpires,
        DelayOpenExpires,
        IdleHoldExpires,
    ] {
        row(s, e, Exp::NotArmed(timer_of(e).unwrap()));
    }
    row(s, TcpConnected, to(OpenSent));
    row(s, TcpFails, to(Active));
    for e in [
        BgpOpen,
        BgpHeaderErr,
        BgpOpenMsgErr,
        NotifMsgVerErr,
        NotifMsg,
        KeepAliveMsg,
        UpdateMsg,
        UpdateMsgErr,
    ] {
        row(s, e, to(Connect));
    }

    // Connect with the connection up and DelayOpen running.
    let s = Start::ConnectDelayOpen;
    row(s, ManualStart, to(Connect));
    row(s, ManualStop, closes(Idle));
    for e in [
        ConnectRetryExpires,
        HoldExpires,
        KeepaliveExpires,
        IdleHoldExpires,
    ] {
        row(s, e, Exp::NotArmed(timer_of(e).unwrap()));
    }
    row(s, DelayOpenExpires, to(OpenSent));
    row(s, TcpFails, to(Active));
    // Event 20: the OPEN arrives while DelayOpen runs.
    row(s, BgpOpen, to(OpenConfirm));
    row(s, BgpHeaderErr, sends(Idle, 1, 1));
    row(s, BgpOpenMsgErr, sends(Idle, 2, 1));
    row(s, NotifMsgVerErr, closes(Idle));
    row(s, NotifMsg, closes(Idle));
    row(s, KeepAliveMsg, sends(Idle, 5, 0));
    row(s, UpdateMsg, sends(Idle, 5, 0));
    row(s, UpdateMsgErr, sends(Idle, 5, 0));

    // Active (passive, waiting).
    let s = Start::Active;
    row(s, ManualStart, to(Active));
    row(s, ManualStop, to(Idle));
    row(s, ConnectRetryExpires, to(Active));
    for e in [
        HoldExpires,
        KeepaliveExpires,
        DelayOpenExpires,
        IdleHoldExpires,
    ] {
        row(s, e, Exp::NotArmed(timer_of(e).unwrap()));
    }
    row(s, TcpConnected, to(OpenSent));
    row(s, TcpFails, to(Active));
    for e in [
        BgpOpen,
        BgpHeaderErr,
        BgpOpenMsgErr,
        NotifMsgVerErr,
        NotifMsg,
        KeepAliveMsg,
        UpdateMsg,
        UpdateMsgErr,
    ] {
        row(s, e, to(Active));
    }

    // OpenSent.
    let s = Start::OpenSent;
    row(s, ManualStart, to(OpenSent));
    row(s, ManualStop, sends(Idle, 6, 2));
    for e in [
        ConnectRetryExpires,
        KeepaliveExpires,
        DelayOpenExpires,
        IdleHoldExpires,
    ] {
        row(s, e, Exp::NotArmed(timer_of(e).unwrap()));
    }
    row(s, HoldExpires, sends(Idle, 4, 0));
    // A second connection is refused (two connections are `Peer`'s business).
    row(s, TcpConnected, closes(OpenSent));
    row(s, TcpFails, to(Active));
    row(s, BgpOpen, to(OpenConfirm));
    row(s, BgpHeaderErr, sends(Idle, 1, 1));
    row(s, BgpOpenMsgErr, sends(Idle, 2, 1));
    row(s, NotifMsgVerErr, closes(Idle));
    row(s, NotifMsg, closes(Idle));
    row(s, KeepAliveMsg, sends(Idle, 5, 1));
    row(s, UpdateMsg, sends(Idle, 5, 1));
    row(s, UpdateMsgErr, sends(Idle, 5, 1));

    // OpenConfirm.
    let s = Start::OpenConfirm;
    row(s, ManualStart, to(OpenConfirm));
    row(s, ManualStop, sends(Idle, 6, 2));
    for e in [ConnectRetryExpires, DelayOpenExpires, IdleHoldExpires] {
        row(s, e, Exp::NotArmed(timer_of(e).unwrap()));
    }
    row(s, HoldExpires, sends(Idle, 4, 0));
    row(s, KeepaliveExpires, to(OpenConfirm));
    row(s, TcpConnected, closes(OpenConfirm));
    row(s, TcpFails, to(Idle));
    row(s, BgpOpen, sends(Idle, 5, 2));
    row(s, BgpHeaderErr, sends(Idle, 1, 1));
    row(s, BgpOpenMsgErr, sends(Idle, 2, 1));
    row(s, NotifMsgVerErr, closes(Idle));
    row(s, NotifMsg, closes(Idle));
    row(s, KeepAliveMsg, to(Established));
    row(s, UpdateMsg, sends(Idle, 5, 2));
    row(s, UpdateMsgErr, sends(Idle, 5, 2));

    // Established.
    let s = Start::Established;
    row(s, ManualStart, to(Established));
    row(s, ManualStop, sends(Idle, 6, 2));
    for e in [ConnectRetryExpires, DelayOpenExpires, IdleHoldExpires] {
        row(s, e, Exp::NotArmed(timer_of(e).unwrap()));
    }
    row(s, HoldExpires, sends(Idle, 4, 0));
    row(s, KeepaliveExpires, to(Established));
    row(s, TcpConnected, closes(Established));
    row(s, TcpFails, to(Idle));
    row(s, BgpOpen, sends(Idle, 5, 3));
    row(s, BgpHeaderErr, sends(Idle, 1, 1));
    row(s, BgpOpenMsgErr, sends(Idle, 5, 3));
    row(s, NotifMsgVerErr, closes(Idle));
    row(s, NotifMsg, closes(Idle));
    row(s, KeepAliveMsg, to(Established));
    row(s, UpdateMsg, to(Established));
    row(s, UpdateMsgErr, sends(Idle, 3, 1));
    rows
}

#[test]
fn rfc4271_event_state_table() {
    let rows = table();
    // Every (start, event) pair is in the table exactly once.
    assert_eq!(
        rows.len(),
        7 * 17 - 1,
        "all pairs but ConnectDelayOpen x TcpConnected"
    );
    let t0 = Instant::now();
    let mut failures = Vec::new();
    for (start, ev, exp) in rows {
        let mut s = at(start, t0);
        let now = t0 + Duration::from_millis(1);
        match ev {
            Ev::ManualStart => s.start(now),
            Ev::ManualStop => s.stop(now, StopReason::admin_shutdown("")),
            Ev::TcpConnected => s.handle_connected(now),
            Ev::TcpFails => s.handle_closed(now),
            e if timer_of(e).is_some() => {
                let t = timer_of(e).unwrap();
                match (s.timer(t), exp) {
                    (None, Exp::NotArmed(_)) => continue,
                    (Some(_), Exp::NotArmed(_)) => {
                        failures.push(format!("{start:?}: {t:?} is armed"));
                        continue;
                    }
                    (None, _) => {
                        failures.push(format!("{start:?} {ev:?}: timer not armed"));
                        continue;
                    }
                    (Some(deadline), _) => s.handle_timeout(deadline),
                }
            }
            e => s.handle_data(now, &event_bytes(e).unwrap()),
        }
        let actions: Vec<Action> = std::iter::from_fn(|| s.poll_action()).collect();
        let sent: Option<(u8, u8)> = actions.iter().find_map(|a| match a {
            Action::Transmit(b) => match Message::decode(b, &Context::default()) {
                Ok(Message::Notification(n)) => Some((n.code, n.subcode)),
                _ => None,
            },
            _ => None,
        });
        let got = Exp::To {
            state: s.state(),
            sent,
            connect: actions.contains(&Action::Connect),
            close: actions.contains(&Action::Close),
        };
        if got != exp {
            failures.push(format!(
                "{start:?} x {ev:?} ({}): expected {exp:?}, got {got:?}",
                ev as u8
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
