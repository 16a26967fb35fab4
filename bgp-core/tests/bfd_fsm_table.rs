//! The RFC 5880 6.8.6 state table, row by row: each local state, each received state, the
//! expiry of the Detection Time (6.8.4) and administrative control (6.8.16), with the next
//! state, our diagnostic, the event given, and what our next packet says. One endpoint is
//! driven with hand-made packets from a peer.
//!
//! Where a row starts: AdminDown fresh (never heard, so no Detection Time runs); Down
//! having heard the peer in AdminDown (so the Detection Time runs while we stay Down); Init
//! and Up reached with the peer's Down and Init.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_core::bfd::{
    Bfd, BfdConfig, ControlPacket, Diag, DropReason, Event, Hop, Input, Output, SessionId,
    SessionKey, SessionSettings, State, Timer,
};

const PEER_DISCR: u32 = 0x0bad_cafe;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Received(State),
    DetectionTimeExpires,
    /// The operator takes the session down.
    Disable,
    /// The operator enables it again.
    Enable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exp {
    To(State, Diag),
    /// No Detection Time runs in this state (nothing was heard).
    NotArmed,
}

struct One {
    bfd: Bfd,
    id: SessionId,
    now: Instant,
    events: Vec<Event>,
    sent: Vec<ControlPacket>,
}

fn local() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
}

fn remote() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))
}

impl One {
    fn new() -> One {
        let t0 = Instant::now();
        let mut bfd = Bfd::new(BfdConfig { seed: 3 });
        let key = SessionKey::single_hop(local(), remote());
        let id = bfd
            .add_session(t0, key, SessionSettings::default())
            .unwrap();
        let mut o = One {
            bfd,
            id,
            now: t0,
            events: Vec::new(),
            sent: Vec::new(),
        };
        o.drain();
        o
    }

    fn local_discr(&self) -> u32 {
        self.bfd.session(self.id).unwrap().local_discriminator
    }

    fn drain(&mut self) {
        while let Some(o) = self.bfd.poll_output(self.now) {
            match o {
                Output::Transmit { bytes, .. } => {
                    self.sent.push(ControlPacket::decode(&bytes).unwrap())
                }
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    /// A packet from the peer in `state`, to this session (or to discriminator 0 where
    /// the state allows).
    fn packet(&self, state: State) -> ControlPacket {
        let your = match state {
            State::Down | State::AdminDown => 0,
            _ => self.local_discr(),
        };
        ControlPacket {
            diag: Diag::NoDiagnostic,
            state,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: PEER_DISCR,
            your_discriminator: your,
            desired_min_tx: Duration::from_secs(1),
            required_min_rx: Duration::from_millis(300),
            required_min_echo_rx: Duration::ZERO,
            auth: None,
        }
    }

    fn deliver(&mut self, pkt: &ControlPacket, from: IpAddr, hop: Hop) {
        let bytes = pkt.to_bytes();
        self.bfd.handle(
            self.now,
            Input::Received {
                from: SocketAddr::new(from, 49999),
                to: SocketAddr::new(local(), hop.port()),
                ttl: 255,
                hop,
                interface: None,
                bytes: &bytes,
            },
        );
        self.drain();
    }

    fn receive(&mut self, state: State) {
        let pkt = self.packet(state);
        self.deliver(&pkt, remote(), Hop::Single);
    }

    /// The next periodic packet, once its time comes.
    fn next_packet(&mut self) -> ControlPacket {
        self.sent.clear();
        let at = self.bfd.timer(self.id, Timer::Transmit).unwrap();
        self.now = self.now.max(at);
        self.drain();
        self.sent.pop().expect("a packet is due")
    }
}

fn at(start: State) -> One {
    let mut o = One::new();
    match start {
        State::AdminDown => {
            let (now, id) = (o.now, o.id);
            o.bfd.set_admin_down(now, id, true).unwrap();
        }
        State::Down => o.receive(State::AdminDown),
        State::Init => o.receive(State::Down),
        State::Up => {
            o.receive(State::Down);
            o.receive(State::Init);
        }
    }
    o.drain();
    assert_eq!(o.bfd.session(o.id).unwrap().state, start);
    o.events.clear();
    o.sent.clear();
    o.now += Duration::from_millis(1);
    o
}

fn table() -> Vec<(State, Ev, Exp)> {
    use Diag::*;
    use Ev::*;
    use State::*;
    let n3 = NeighborSignaledSessionDown;
    let d1 = ControlDetectionTimeExpired;
    let d7 = AdministrativelyDown;
    let none = NoDiagnostic;
    let to = Exp::To;
    vec![
        // AdminDown discards every packet and ignores the timer; only enabling leaves it.
        (AdminDown, Received(AdminDown), to(AdminDown, d7)),
        (AdminDown, Received(Down), to(AdminDown, d7)),
        (AdminDown, Received(Init), to(AdminDown, d7)),
        (AdminDown, Received(Up), to(AdminDown, d7)),
        (AdminDown, DetectionTimeExpires, Exp::NotArmed),
        (AdminDown, Disable, to(AdminDown, d7)),
        (AdminDown, Enable, to(Down, none)),
        // Down.
        (Down, Received(AdminDown), to(Down, none)),
        (Down, Received(Down), to(Init, none)),
        (Down, Received(Init), to(Up, none)),
        (Down, Received(Up), to(Down, none)),
        (Down, DetectionTimeExpires, to(Down, none)),
        (Down, Disable, to(AdminDown, d7)),
        (Down, Enable, to(Down, none)),
        // Init.
        (Init, Received(AdminDown), to(Down, n3)),
        (Init, Received(Down), to(Init, none)),
        (Init, Received(Init), to(Up, none)),
        (Init, Received(Up), to(Up, none)),
        (Init, DetectionTimeExpires, to(Down, d1)),
        (Init, Disable, to(AdminDown, d7)),
        (Init, Enable, to(Init, none)),
        // Up.
        (Up, Received(AdminDown), to(Down, n3)),
        (Up, Received(Down), to(Down, n3)),
        (Up, Received(Init), to(Up, none)),
        (Up, Received(Up), to(Up, none)),
        (Up, DetectionTimeExpires, to(Down, d1)),
        (Up, Disable, to(AdminDown, d7)),
        (Up, Enable, to(Up, none)),
    ]
}

/// Runs one row; what went wrong, if anything.
fn run(start: State, ev: Ev, exp: Exp) -> Result<(), String> {
    let mut o = at(start);
    let drops_before = o
        .bfd
        .session(o.id)
        .unwrap()
        .counters
        .dropped
        .get(DropReason::AdminDown);
    match ev {
        Ev::Received(s) => o.receive(s),
        Ev::Disable | Ev::Enable => {
            let (now, id) = (o.now, o.id);
            o.bfd.set_admin_down(now, id, ev == Ev::Disable).unwrap();
            o.drain();
        }
        Ev::DetectionTimeExpires => match (o.bfd.timer(o.id, Timer::Detect), exp) {
            (None, Exp::NotArmed) => return Ok(()),
            (Some(_), Exp::NotArmed) => return Err("the Detection Time runs".into()),
            (None, _) => return Err("no Detection Time runs".into()),
            (Some(t), _) => {
                o.now = t;
                o.drain();
            }
        },
    }
    let Exp::To(state, diag) = exp else {
        return Err("expected no Detection Time".into());
    };
    let s = o.bfd.session(o.id).unwrap();
    if (s.state, s.local_diag) != (state, diag) {
        return Err(format!("went to {} with {:?}", s.state, s.local_diag));
    }
    let changes: Vec<_> = o
        .events
        .iter()
        .map(|Event::StateChanged { from, to, diag, .. }| (*from, *to, *diag))
        .collect();
    let want: Vec<_> = if state == start {
        vec![]
    } else {
        vec![(start, state, diag)]
    };
    if changes != want {
        return Err(format!("events {changes:?}"));
    }
    if ev == Ev::DetectionTimeExpires && s.remote_discriminator != 0 {
        return Err("the peer's discriminator is remembered".into());
    }
    let dropped = s.counters.dropped.get(DropReason::AdminDown) - drops_before;
    if dropped != u64::from(start == State::AdminDown && matches!(ev, Ev::Received(_))) {
        return Err(format!("{dropped} packets dropped as AdminDown"));
    }
    let p = o.next_packet();
    if (p.state, p.diag) != (state, diag) {
        return Err(format!(
            "the next packet says {} with {:?}",
            p.state, p.diag
        ));
    }
    Ok(())
}

#[test]
fn rfc5880_state_table() {
    let rows = table();
    assert_eq!(rows.len(), 4 * 7, "every state with every event");
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|(s, e, x)| run(s, e, x).err().map(|m| format!("{s} x {e:?}: {m}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_poll_is_answered_at_once_with_final() {
    let mut o = at(State::Up);
    let mut pkt = o.packet(State::Up);
    pkt.poll = true;
    let next_periodic = o.bfd.timer(o.id, Timer::Transmit);
    o.deliver(&pkt, remote(), Hop::Single);
    let [answer] = &o.sent[..] else {
        panic!("one answer: {:?}", o.sent)
    };
    assert!(answer.final_ && !answer.poll);
    assert_eq!(answer.state, State::Up);
    // The periodic schedule is not disturbed by the answer.
    assert_eq!(o.bfd.timer(o.id, Timer::Transmit), next_periodic);
}

#[test]
fn a_peer_in_demand_mode_stops_our_periodic_packets_but_not_our_answers() {
    let mut o = at(State::Up);
    let send = |o: &mut One, poll: bool, fin: bool, demand: bool| {
        let mut pkt = o.packet(State::Up);
        (pkt.poll, pkt.final_, pkt.demand) = (poll, fin, demand);
        o.deliver(&pkt, remote(), Hop::Single);
    };
    // We came Up with a Poll Sequence of our own running: periodic packets go on for it.
    assert!(o.bfd.session(o.id).unwrap().poll_active);
    send(&mut o, false, false, true);
    assert!(o.bfd.timer(o.id, Timer::Transmit).is_some());
    // The Final ends our poll: from now on the peer's Demand mode holds.
    send(&mut o, false, true, true);
    assert_eq!(o.bfd.timer(o.id, Timer::Transmit), None);
    o.sent.clear();
    send(&mut o, true, false, true);
    assert!(
        o.sent.len() == 1 && o.sent[0].final_,
        "polls are still answered"
    );
    assert!(
        o.sent.iter().all(|p| !p.demand),
        "we never ask for Demand mode"
    );
    send(&mut o, false, false, false);
    assert!(o.bfd.timer(o.id, Timer::Transmit).is_some());
}

#[test]
fn packets_are_demultiplexed_by_discriminator_or_addresses() {
    let mut o = at(State::Up);
    let mut pkt = o.packet(State::Up);
    pkt.your_discriminator = o.local_discr().wrapping_add(1);
    o.deliver(&pkt, remote(), Hop::Single);
    assert_eq!(o.bfd.counters().dropped.get(DropReason::NoSession), 1);
    // The right discriminator from another address, or as multihop: not this session's.
    pkt.your_discriminator = o.local_discr();
    o.deliver(&pkt, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), Hop::Single);
    o.deliver(&pkt, remote(), Hop::Multi);
    let s = o.bfd.session(o.id).unwrap();
    assert_eq!(s.counters.dropped.get(DropReason::AddressMismatch), 2);
    assert_eq!(s.state, State::Up);
    // Discriminator 0 in Down: found by addresses, and only for the right hop kind.
    let pkt = o.packet(State::Down);
    o.deliver(&pkt, remote(), Hop::Multi);
    assert_eq!(o.bfd.counters().dropped.get(DropReason::NoSession), 2);
    o.deliver(&pkt, remote(), Hop::Single);
    assert_eq!(o.bfd.session(o.id).unwrap().state, State::Down);
}

#[test]
fn a_packet_with_no_discriminator_goes_to_the_session_of_its_interface() {
    let mut o = One::new();
    let plain = o.id;
    let key = SessionKey::single_hop(local(), remote()).on_interface("eth0");
    let on_eth0 = o
        .bfd
        .add_session(o.now, key, SessionSettings::default())
        .unwrap();
    o.drain();
    let pkt = o.packet(State::Down).to_bytes();
    let deliver = |o: &mut One, interface: Option<&str>| {
        o.bfd.handle(
            o.now,
            Input::Received {
                from: SocketAddr::new(remote(), 49999),
                to: SocketAddr::new(local(), 3784),
                ttl: 255,
                hop: Hop::Single,
                interface,
                bytes: &pkt,
            },
        );
    };
    let state = |o: &One, id| o.bfd.session(id).unwrap().state;
    deliver(&mut o, Some("eth0"));
    assert_eq!(
        (state(&o, on_eth0), state(&o, plain)),
        (State::Init, State::Down)
    );
    deliver(&mut o, Some("eth1"));
    assert_eq!(
        state(&o, plain),
        State::Init,
        "the session bound to no interface"
    );
    // Found by discriminator, a session bound to eth0 takes nothing from eth1.
    let mut up = o.packet(State::Up);
    up.your_discriminator = o.bfd.session(on_eth0).unwrap().local_discriminator;
    let bytes = up.to_bytes();
    o.bfd.handle(
        o.now,
        Input::Received {
            from: SocketAddr::new(remote(), 49999),
            to: SocketAddr::new(local(), 3784),
            ttl: 255,
            hop: Hop::Single,
            interface: Some("eth1"),
            bytes: &bytes,
        },
    );
    let s = o.bfd.session(on_eth0).unwrap();
    assert_eq!(s.counters.dropped.get(DropReason::AddressMismatch), 1);
    o.drain();
    let sent: Vec<_> = std::iter::from_fn(|| o.bfd.poll_output(o.now + Duration::from_secs(2)))
        .filter_map(|out| match out {
            Output::Transmit {
                session, interface, ..
            } => Some((session, interface)),
            Output::Event(_) => None,
        })
        .collect();
    assert!(sent.contains(&(on_eth0, Some("eth0".into()))));
    assert!(sent.contains(&(plain, None)));
}

#[test]
fn commands_refuse_what_they_cannot_do_and_change_nothing() {
    use bgp_core::bfd::{AuthSettings, AuthType, BfdError};
    let mut o = One::new();
    let now = o.now;
    let key = SessionKey::single_hop(local(), remote());
    assert_eq!(o.bfd.find(&key), Some(o.id));
    let ok = SessionSettings::default();
    assert!(matches!(
        o.bfd.add_session(now, key.clone(), ok.clone()),
        Err(BfdError::Duplicate(_))
    ));
    let v6 = SessionKey::single_hop(local(), "2001:db8::1".parse().unwrap());
    assert_eq!(
        o.bfd.add_session(now, v6, ok.clone()),
        Err(BfdError::AddressFamilies)
    );
    let bad = [
        SessionSettings {
            detect_mult: 0,
            ..ok.clone()
        },
        SessionSettings {
            desired_min_tx: Duration::ZERO,
            ..ok.clone()
        },
        SessionSettings {
            required_min_rx: Duration::from_micros(500),
            ..ok.clone()
        },
        SessionSettings {
            auth: Some(AuthSettings::new(AuthType::KeyedMd5, 1, [7; 17])),
            ..ok.clone()
        },
        SessionSettings {
            auth: Some(AuthSettings::new(AuthType::SimplePassword, 1, [])),
            ..ok.clone()
        },
    ];
    let multihop = SessionKey::multihop(local(), remote());
    for s in bad {
        let what = format!("{s:?}");
        let added = o.bfd.add_session(now, multihop.clone(), s.clone());
        assert!(matches!(added, Err(BfdError::InvalidSettings(_))), "{what}");
        assert!(o.bfd.update_settings(now, o.id, s).is_err(), "{what}");
    }
    let passive = SessionSettings {
        passive: true,
        ..ok.clone()
    };
    assert!(
        o.bfd.update_settings(now, o.id, passive.clone()).is_err(),
        "RFC 5881 3"
    );
    assert_eq!(o.bfd.len(), 1);
    assert_eq!(o.bfd.session(o.id).unwrap().counters.packets_out, 1);
    assert!(
        !format!(
            "{:?}",
            AuthSettings::new(AuthType::KeyedSha1, 1, *b"hidden")
        )
        .contains("hidden")
    );
    // Passive is fine for multihop; a removed session is gone for every command.
    let passive = SessionSettings {
        passive: true,
        ..ok
    };
    let m = o.bfd.add_session(now, multihop, passive).unwrap();
    o.bfd.remove_session(now, m).unwrap();
    assert_eq!(o.bfd.remove_session(now, m), Err(BfdError::NoSession(m)));
    assert!(o.bfd.set_admin_down(now, m, true).is_err());
    assert!(o.bfd.session(m).is_none());
}
