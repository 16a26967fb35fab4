//! One BFD session's state machine (RFC 5880 6.8), with no addresses and no I/O: the
//! endpoint hands it the packets demultiplexed to it and sends what it emits.
//!
//! Asynchronous mode only. We never ask for Demand mode (the D bit is never set), but a
//! peer that does is honoured as 6.6 requires: once both ends are Up we stop periodic
//! packets until a Poll Sequence of ours needs them, and go on answering its polls. We send
//! no Echo packets and ask for none (Required Min Echo RX is 0).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::auth::AuthState;
use super::config::{SLOW_TX, SessionSettings};
use super::io::{SessionId, SessionKey};
use super::packet::{ControlPacket, Diag, State};
use super::status::{Counters, DropReason, SessionStatus};
use super::timers::{Rng, Timer, TimerTable, scale};

/// What a session asks the endpoint to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Emit {
    Packet(Bytes),
    StateChanged {
        from: State,
        to: State,
        diag: Diag,
        remote_state: State,
    },
}

/// The two values a Poll Sequence is about: bfd.DesiredMinTxInterval and
/// bfd.RequiredMinRxInterval as we send them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Advertised {
    tx: Duration,
    rx: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A packet of the periodic schedule (with P while we poll).
    Periodic,
    /// The answer to a Poll, sent at once.
    Final,
}

/// The state a received State field moves us to, with our new diagnostic (RFC 5880 6.8.6).
/// An AdminDown session discards the packet before it gets here.
pub(super) fn next_state(local: State, received: State) -> Option<(State, Diag)> {
    use State::*;
    match (local, received) {
        (AdminDown, _) | (Down, AdminDown) => None,
        (_, AdminDown) | (Up, Down) => Some((Down, Diag::NeighborSignaledSessionDown)),
        (Down, Down) => Some((Init, Diag::NoDiagnostic)),
        (Down, Init) | (Init, Init) | (Init, Up) => Some((Up, Diag::NoDiagnostic)),
        _ => None,
    }
}

/// One session: the state variables of RFC 5880 6.8.1 and its two timers.
#[derive(Debug)]
pub(super) struct Session {
    /// bfd.LocalDiscr.
    pub(super) local_discr: u32,
    settings: SessionSettings,
    state: State,
    remote_state: State,
    local_diag: Diag,
    remote_diag: Diag,
    remote_discr: u32,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    /// 0 until the peer is heard from.
    remote_detect_mult: u8,
    remote_demand: bool,
    /// The Desired Min TX our transmit interval uses: an increase while Up waits for the
    /// peer's Final (6.8.3).
    tx_in_effect: Duration,
    /// The Required Min RX our Detection Time uses: a decrease while Up waits likewise.
    rx_in_effect: Duration,
    /// The running Poll Sequence, with the values it started with.
    poll: Option<Advertised>,
    timers: TimerTable,
    rng: Rng,
    /// The last periodic packet.
    last_tx: Option<Instant>,
    /// The jitter of the next periodic packet, in millionths of the interval.
    next_ppm: u32,
    /// When the peer was last heard from, while its Detection Time runs.
    last_rx: Option<Instant>,
    /// When a packet was last accepted, for bfd.AuthSeqKnown.
    last_accepted: Option<Instant>,
    auth: Option<AuthState>,
    last_change: Instant,
    pub(super) counters: Counters,
}

impl Session {
    /// A session in Down (6.8.1). An active one sends its first packet at once.
    pub(super) fn new(
        now: Instant,
        local_discr: u32,
        settings: SessionSettings,
        seed: u64,
    ) -> Result<Session, &'static str> {
        let mut rng = Rng::new(seed);
        let auth = match settings.auth.clone() {
            Some(a) => Some(AuthState::new(a, rng.next_u32())?),
            None => None,
        };
        let next_ppm = rng.jitter_ppm(settings.detect_mult);
        let mut s = Session {
            local_discr,
            tx_in_effect: settings.desired_min_tx.max(SLOW_TX),
            rx_in_effect: settings.required_min_rx,
            settings,
            state: State::Down,
            remote_state: State::Down,
            local_diag: Diag::NoDiagnostic,
            remote_diag: Diag::NoDiagnostic,
            remote_discr: 0,
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            poll: None,
            timers: TimerTable::default(),
            rng,
            last_tx: None,
            next_ppm,
            last_rx: None,
            last_accepted: None,
            auth,
            last_change: now,
            counters: Counters::default(),
        };
        s.schedule(now);
        Ok(s)
    }

    pub(super) fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub(super) fn timer(&self, t: Timer) -> Option<Instant> {
        self.timers.get(t)
    }

    /// The reception procedure of RFC 5880 6.8.6 for a packet that passed the checks of
    /// the codec and of the endpoint (demultiplexing, TTL). `raw` is the packet as received.
    pub(super) fn receive(
        &mut self,
        now: Instant,
        pkt: &ControlPacket,
        raw: &[u8],
        out: &mut Vec<Emit>,
    ) -> Result<(), DropReason> {
        self.authenticate(now, pkt, raw)?;
        self.remote_discr = pkt.my_discriminator;
        self.remote_state = pkt.state;
        self.remote_diag = pkt.diag;
        self.remote_demand = pkt.demand;
        self.remote_min_rx = pkt.required_min_rx;
        self.remote_desired_min_tx = pkt.desired_min_tx;
        self.remote_detect_mult = pkt.detect_mult;
        self.last_accepted = Some(now);
        if pkt.final_ {
            self.end_poll();
        }
        if self.state == State::AdminDown {
            self.schedule(now);
            return Err(DropReason::AdminDown);
        }
        self.last_rx = Some(now);
        if let Some((to, diag)) = next_state(self.state, pkt.state) {
            self.change(now, to, diag, out);
        }
        if pkt.poll {
            self.send(now, Kind::Final, out);
        }
        self.schedule(now);
        Ok(())
    }

    /// The A bit against our configuration, then the authentication itself (6.7).
    fn authenticate(
        &mut self,
        now: Instant,
        pkt: &ControlPacket,
        raw: &[u8],
    ) -> Result<(), DropReason> {
        // bfd.AuthSeqKnown goes back to 0 once the peer was silent two Detection Times.
        let silent = match (self.last_accepted, self.detection_time()) {
            (Some(last), Some(d)) => now.saturating_duration_since(last) >= 2 * d,
            _ => false,
        };
        match (&mut self.auth, pkt.auth.is_some()) {
            (None, false) => Ok(()),
            (None, true) => Err(DropReason::AuthUnexpected),
            (Some(_), false) => Err(DropReason::AuthMissing),
            (Some(a), true) => {
                if silent {
                    a.forget_sequence();
                }
                a.check(pkt, raw)
            }
        }
    }

    /// Timers due at `now`; early or spurious calls do nothing.
    pub(super) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Emit>) {
        while let Some(t) = self.timers.take_expired(now) {
            match t {
                Timer::Transmit => self.send(now, Kind::Periodic, out),
                Timer::Detect => self.detection_expired(now, out),
            }
        }
        self.schedule(now);
    }

    /// The peer was silent for a Detection Time (6.8.4): Init and Up go Down, and the
    /// peer's discriminator is forgotten (6.8.1) in every state.
    fn detection_expired(&mut self, now: Instant, out: &mut Vec<Emit>) {
        self.last_rx = None;
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_demand = false;
        if matches!(self.state, State::Init | State::Up) {
            self.change(now, State::Down, Diag::ControlDetectionTimeExpired, out);
        }
    }

    /// Administrative control (6.8.16). Going down sends AdminDown with diagnostic 7 until
    /// enabled again; enabling goes to Down.
    pub(super) fn set_admin_down(&mut self, now: Instant, down: bool, out: &mut Vec<Emit>) {
        match (down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            (true, _) => self.change(now, State::AdminDown, Diag::AdministrativelyDown, out),
            (false, State::AdminDown) => self.change(now, State::Down, Diag::NoDiagnostic, out),
        }
        self.schedule(now);
    }

    /// New settings. A change of what we advertise starts a Poll Sequence (6.8.3); a new
    /// Detect Mult goes out with the next packet (6.8.12). Fails, changing nothing, when an
    /// authentication key does not fit its type.
    pub(super) fn update(
        &mut self,
        now: Instant,
        settings: SessionSettings,
    ) -> Result<(), &'static str> {
        if settings.auth != self.settings.auth {
            self.auth = match settings.auth.clone() {
                Some(a) => Some(AuthState::new(a, self.rng.next_u32())?),
                None => None,
            };
        }
        let before = self.advertised();
        let mult_changed = settings.detect_mult != self.settings.detect_mult;
        self.settings = settings;
        if mult_changed {
            self.next_ppm = self.rng.jitter_ppm(self.settings.detect_mult);
        }
        self.advertise(before);
        self.schedule(now);
        Ok(())
    }

    /// One packet in AdminDown with diagnostic 7, for a session about to be removed, so
    /// that the peer does not take its end for a failure (RFC 5882 3.2). Nothing when the
    /// session may not send (passive and never heard).
    pub(super) fn farewell(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if self.settings.passive && self.remote_discr == 0 {
            return;
        }
        self.state = State::AdminDown;
        self.local_diag = Diag::AdministrativelyDown;
        self.poll = None;
        self.send(now, Kind::Periodic, out);
    }

    fn change(&mut self, now: Instant, to: State, diag: Diag, out: &mut Vec<Emit>) {
        let before = self.advertised();
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        self.last_change = now;
        if to == State::Up {
            self.counters.up += 1;
        } else if from == State::Up {
            self.counters.down += 1;
        }
        self.advertise(before);
        out.push(Emit::StateChanged {
            from,
            to,
            diag,
            remote_state: self.remote_state,
        });
    }

    /// What we put in Desired Min TX and Required Min RX: while not Up, we ask to send at
    /// least a second apart (6.8.3).
    fn advertised(&self) -> Advertised {
        let tx = self.settings.desired_min_tx;
        Advertised {
            tx: if self.state == State::Up {
                tx
            } else {
                tx.max(SLOW_TX)
            },
            rx: self.settings.required_min_rx,
        }
    }

    /// What we advertise may differ from `before`: a Poll Sequence starts (one running is
    /// restarted when it ends), and the new values are used at once as far as 6.8.3 allows
    /// before the peer has seen them: a faster transmit rate and a longer Detection Time
    /// are safe, and anything goes while not Up.
    fn advertise(&mut self, before: Advertised) {
        let now = self.advertised();
        if now != before && self.poll.is_none() {
            self.poll = Some(now);
        }
        let up = self.state == State::Up;
        if !up || now.tx < self.tx_in_effect {
            self.tx_in_effect = now.tx;
        }
        if !up || now.rx > self.rx_in_effect {
            self.rx_in_effect = now.rx;
        }
    }

    /// A Final arrived while we poll: the values the poll carried are known to the peer.
    /// Values changed since then take another poll.
    fn end_poll(&mut self) {
        let Some(polled) = self.poll.take() else {
            return;
        };
        let now = self.advertised();
        // What the peer has seen, bounded by what we now advertise (see `advertise`).
        self.tx_in_effect = polled.tx.min(now.tx);
        self.rx_in_effect = polled.rx.max(now.rx);
        if now != polled {
            self.poll = Some(now);
        }
    }

    /// The interval of periodic packets before jitter (6.8.7).
    fn tx_interval(&self) -> Duration {
        self.tx_in_effect.max(self.remote_min_rx)
    }

    /// The Detection Time of asynchronous mode (6.8.4): the peer's Detect Mult times the
    /// slower of our Required Min RX and its Desired Min TX. None until the peer is heard,
    /// and none while we ask it to send nothing.
    fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 || self.rx_in_effect.is_zero() {
            return None;
        }
        let d = self.rx_in_effect.max(self.remote_desired_min_tx);
        Some(d * u32::from(self.remote_detect_mult))
    }

    /// Whether periodic packets may be sent (6.8.7).
    fn periodic_allowed(&self) -> bool {
        if self.settings.passive && self.remote_discr == 0 {
            return false;
        }
        if self.remote_min_rx.is_zero() {
            return false;
        }
        let remote_demand =
            self.remote_demand && self.state == State::Up && self.remote_state == State::Up;
        !remote_demand || self.poll.is_some()
    }

    /// Sets the timers from the state: the next periodic packet one jittered interval
    /// after the last (at once for the first), the Detection Time from the last packet
    /// heard.
    fn schedule(&mut self, now: Instant) {
        match (self.periodic_allowed(), self.last_tx) {
            (false, _) => self.timers.stop(Timer::Transmit),
            (true, None) => self.timers.set(Timer::Transmit, now),
            (true, Some(t)) => {
                let at = t + scale(self.tx_interval(), self.next_ppm);
                self.timers.set(Timer::Transmit, at);
            }
        }
        match (self.last_rx, self.detection_time()) {
            (Some(t), Some(d)) => self.timers.set(Timer::Detect, t + d),
            _ => self.timers.stop(Timer::Detect),
        }
    }

    fn send(&mut self, now: Instant, kind: Kind, out: &mut Vec<Emit>) {
        let adv = self.advertised();
        let pkt = ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: kind == Kind::Periodic && self.poll.is_some(),
            final_: kind == Kind::Final,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.settings.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: adv.tx,
            required_min_rx: adv.rx,
            required_min_echo_rx: Duration::ZERO,
            auth: None,
        };
        let bytes = match &mut self.auth {
            Some(a) => a.seal(pkt),
            None => pkt.to_bytes(),
        };
        if kind == Kind::Periodic {
            self.last_tx = Some(now);
            self.next_ppm = self.rng.jitter_ppm(self.settings.detect_mult);
        }
        self.counters.packets_out += 1;
        out.push(Emit::Packet(bytes));
    }

    pub(super) fn status(&self, id: SessionId, key: &SessionKey, port: u16) -> SessionStatus {
        SessionStatus {
            id,
            key: key.clone(),
            state: self.state,
            remote_state: self.remote_state,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            local_discriminator: self.local_discr,
            remote_discriminator: self.remote_discr,
            tx_interval: self.tx_interval(),
            detection_time: self.detection_time(),
            remote_detect_mult: self.remote_detect_mult,
            remote_desired_min_tx: self.remote_desired_min_tx,
            remote_required_min_rx: self.remote_min_rx,
            poll_active: self.poll.is_some(),
            source_port: port,
            last_change: self.last_change,
            counters: self.counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_received_state_table_of_6_8_6() {
        use State::*;
        let n3 = Diag::NeighborSignaledSessionDown;
        let none = Diag::NoDiagnostic;
        let rows = [
            (AdminDown, [None, None, None, None]),
            (Down, [None, Some((Init, none)), Some((Up, none)), None]),
            (
                Init,
                [Some((Down, n3)), None, Some((Up, none)), Some((Up, none))],
            ),
            (Up, [Some((Down, n3)), Some((Down, n3)), None, None]),
        ];
        for (local, expect) in rows {
            for (received, e) in State::ALL.into_iter().zip(expect) {
                assert_eq!(
                    next_state(local, received),
                    e,
                    "{local} receiving {received}"
                );
            }
        }
    }
}
