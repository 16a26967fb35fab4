//! One BGP connection as a value: the RFC 4271 section 8 state machine with no I/O.
//!
//! # Calling contract
//!
//! A [`Session`] is driven by its owner, which holds the TCP connection and a clock:
//! - **inputs**, each with the current time: [`Session::start`], [`Session::stop`],
//!   [`Session::handle_connected`], [`Session::handle_connect_failed`],
//!   [`Session::handle_closed`], [`Session::handle_data`] (any chunk of received bytes; the
//!   session frames messages itself), [`Session::handle_timeout`] (safe to call early: nothing
//!   happens before a deadline), and, once Established, [`Session::send_update`],
//!   [`Session::send_end_of_rib`], [`Session::send_route_refresh`];
//! - **outputs**: after every input, drain [`Session::poll_action`] until it returns `None`
//!   ([`Action::Connect`], [`Action::Transmit`], [`Action::Close`], [`Action::Event`]), then
//!   sleep until [`Session::poll_timeout`].
//!
//! Protocol failures are not errors of these calls: they come out as a NOTIFICATION to
//! transmit, a close, and an [`Event::Down`]. A second connection to the same peer (RFC 4271
//! 6.8) is the business of [`Peer`], which owns two sessions.
//!
//! The session never reads a clock: timer jitter comes from a generator seeded by the
//! configuration, so a run can be replayed exactly.
//!
//! Where each part lives: `events` (states, actions, events, stop reasons, counters),
//! `receive` (each message received), `graceful` (graceful and long-lived restart),
//! `negotiate` (OPENs and what they agree), `collision` (two connections to one peer),
//! `timers`, `bfd`.

mod bfd;
mod collision;
mod events;
mod graceful;
mod negotiate;
mod receive;
mod timers;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::types::{Family, FamilySet};
use crate::wire::error::{AttributeError, AttributeErrorKind, ErrorAction, code, subcode};
use crate::wire::open::LlgrFamily;
use crate::wire::{
    Context, DecodeError, FrameSplitter, Message, Notification, PeerKind, RouteRefresh, Update,
    msg_type, refresh_subtype,
};

pub use collision::{Conn, Peer};
pub use events::{Action, Counters, DownReason, Event, RefreshKind, SendError, State, StopReason};
pub use negotiate::{
    GracefulRestartConfig, Negotiated, PeerAs, PeerGracefulRestart, SessionConfig, negotiate,
};
pub use timers::Timer;

use timers::{Jitter, TimerTable};

/// The hold time set while waiting for the peer's OPEN (RFC 4271 8.2.2 suggests 4 minutes).
const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// The state of a peer's stale routes (graceful and long-lived restart), as handed from
/// one connection's session to the other's.
#[derive(Debug)]
pub(crate) struct StaleState {
    restart_until: Option<Instant>,
    families: FamilySet,
    long_lived: Vec<LlgrFamily>,
    long_lived_until: Vec<(Family, Instant)>,
}

/// One BGP connection's state machine.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    timers: TimerTable,
    jitter: Jitter,
    actions: VecDeque<Action>,
    frames: FrameSplitter,
    negotiated: Option<Negotiated>,
    /// The peer's OPEN, kept from receipt until the session is Established or down.
    tcp_up: bool,
    /// RFC 4271 ConnectRetryCounter.
    connect_retry_counter: u32,
    connect_retry_interval: Duration,
    /// Consecutive failures, for IdleHold damping.
    flaps: u32,
    established_at: Option<Instant>,
    /// After a manual stop, no automatic restart until the next start.
    stopped: bool,
    /// Families whose End-of-RIB is awaited from a peer that restarted gracefully.
    stale_families: FamilySet,
    /// The peer's long-lived graceful restart as of the session that went down.
    long_lived: Vec<LlgrFamily>,
    /// Families whose routes are long-lived stale, with the end of their stale time.
    long_lived_until: Vec<(Family, Instant)>,
    counters: Counters,
}

impl Session {
    /// A session in Idle. Nothing happens until [`Session::start`].
    pub fn new(cfg: SessionConfig) -> Session {
        let jitter = Jitter::new(cfg.jitter_seed);
        let connect_retry_interval = cfg.connect_retry;
        let max = if cfg.extended_message {
            crate::wire::MAX_EXTENDED_MESSAGE_LEN
        } else {
            crate::wire::MAX_MESSAGE_LEN
        };
        Session {
            cfg,
            state: State::Idle,
            timers: TimerTable::default(),
            jitter,
            actions: VecDeque::new(),
            frames: FrameSplitter::new(max),
            negotiated: None,
            tcp_up: false,
            connect_retry_counter: 0,
            connect_retry_interval,
            flaps: 0,
            established_at: None,
            stopped: true,
            stale_families: FamilySet::EMPTY,
            long_lived: Vec::new(),
            long_lived_until: Vec::new(),
            counters: Counters::default(),
        }
    }

    // ---- getters ----

    pub fn state(&self) -> State {
        self.state
    }

    /// What this session keeps for the peer's stale routes, taken away: for the other
    /// connection of the peer when this one is dropped (the routes are the peer's, not
    /// the connection's).
    pub(crate) fn take_stale(&mut self) -> Option<StaleState> {
        if !self.keeps_stale() {
            return None;
        }
        let st = StaleState {
            restart_until: self.timers.get(Timer::GracefulRestart),
            families: std::mem::replace(&mut self.stale_families, FamilySet::EMPTY),
            long_lived: std::mem::take(&mut self.long_lived),
            long_lived_until: std::mem::take(&mut self.long_lived_until),
        };
        self.timers.stop(Timer::GracefulRestart);
        self.timers.stop(Timer::LongLivedStale);
        Some(st)
    }

    /// Takes over the stale routes' state of the peer's other connection.
    pub(crate) fn adopt_stale(&mut self, st: StaleState) {
        match st.restart_until {
            Some(t) => self.timers.set(Timer::GracefulRestart, t),
            None => self.timers.stop(Timer::GracefulRestart),
        }
        self.stale_families = st.families;
        self.long_lived = st.long_lived;
        self.long_lived_until = st.long_lived_until;
        self.arm_long_lived();
    }

    /// Whether routes of the peer are kept stale now (graceful or long-lived restart).
    pub fn keeps_stale(&self) -> bool {
        self.timers.is_running(Timer::GracefulRestart) || !self.long_lived_until.is_empty()
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// What the OPENs negotiated, once the peer's OPEN was accepted.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// Whether `timer` is armed.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// The earliest deadline: call [`Session::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        let a = self.actions.pop_front();
        if a.is_none() {
            release_drained(&mut self.actions);
        }
        a
    }

    // ---- inputs ----

    /// ManualStart (RFC 4271 event 1), or event 4 when the configuration is passive.
    pub fn start(&mut self, now: Instant) {
        self.stopped = false;
        self.timers.stop(Timer::IdleHold);
        self.connect_retry_counter = 0;
        if self.state == State::Idle {
            self.begin(now);
        }
    }

    /// ManualStop (event 2): a Cease NOTIFICATION when a connection is open, then Idle. No
    /// automatic restart follows. The peer's stale routes, if any are kept, expire at once.
    pub fn stop(&mut self, now: Instant, reason: StopReason) {
        let _ = now;
        self.stopped = true;
        self.timers.stop(Timer::IdleHold);
        if self.timers.is_running(Timer::GracefulRestart) || !self.long_lived_until.is_empty() {
            self.expire_all_stale();
        }
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => {
                if self.tcp_up {
                    self.actions.push_back(Action::Close);
                }
                self.release();
                self.connect_retry_counter = 0;
                self.goto(State::Idle);
            }
            _ => {
                self.connect_retry_counter = 0;
                let n = reason.notification();
                self.down(now, Some(n.clone()), DownReason::Sent(n), false);
            }
        }
    }

    /// ManualStop because we are about to restart gracefully (RFC 4724): the peer is to keep
    /// our routes, stale, until we are back. With RFC 8538 on both sides the Cease says so
    /// (a Cease other than Hard Reset keeps the routes); with graceful restart but without
    /// RFC 8538 the connection is closed with no NOTIFICATION, as a restart looks (a
    /// NOTIFICATION would make the peer drop our routes). A session without graceful
    /// restart, or not Established, is stopped as by [`Session::stop`].
    pub fn stop_for_restart(&mut self, now: Instant, reason: StopReason) {
        let gr = self
            .negotiated
            .as_ref()
            .and_then(|n| n.peer_graceful_restart.as_ref());
        let (Some(gr), State::Established) = (gr, self.state) else {
            return self.stop(now, reason);
        };
        let n_bit = gr.notification
            && self
                .cfg
                .graceful_restart
                .as_ref()
                .is_some_and(|g| g.notification);
        if n_bit {
            return self.stop(now, reason);
        }
        self.stopped = true;
        self.timers.stop(Timer::IdleHold);
        self.connect_retry_counter = 0;
        self.down(now, None, DownReason::ConnectionLost, false);
    }

    /// AutomaticStop (event 8): the session is closed with a Cease (e.g. maximum prefixes
    /// reached) and starts again by itself after `restart_after`. This counts as a flap.
    pub fn automatic_stop(&mut self, now: Instant, reason: StopReason, restart_after: Duration) {
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => {
                if self.tcp_up {
                    self.actions.push_back(Action::Close);
                }
                self.release();
                self.goto(State::Idle);
            }
            _ => {
                let n = reason.notification();
                let auto = self.cfg.auto_restart;
                // The restart is arranged below, with the caller's delay.
                self.cfg.auto_restart = false;
                self.down(now, Some(n.clone()), DownReason::Sent(n), true);
                self.cfg.auto_restart = auto;
            }
        }
        if !self.stopped {
            self.timers.set(Timer::IdleHold, now + restart_after);
        }
    }

    /// The connection is up: Tcp_CR_Acked (event 16) for one we initiated,
    /// TcpConnectionConfirmed (event 17) for one we accepted.
    pub fn handle_connected(&mut self, now: Instant) {
        match self.state {
            State::Connect | State::Active => {
                self.tcp_up = true;
                self.timers.stop(Timer::ConnectRetry);
                if let Some(delay) = self.cfg.delay_open {
                    // The state stays Connect or Active until the OPEN goes out.
                    self.timers.set(Timer::DelayOpen, now + delay);
                } else {
                    self.send_open(now);
                }
            }
            // Idle refuses connections; later states already have one (a second connection
            // is the business of `Peer`).
            _ => self.actions.push_back(Action::Close),
        }
    }

    /// The connection attempt failed (TcpConnectionFails, event 18, in Connect).
    pub fn handle_connect_failed(&mut self, now: Instant) {
        self.connection_lost(now);
    }

    /// The connection closed or broke (TcpConnectionFails, event 18).
    pub fn handle_closed(&mut self, now: Instant) {
        self.connection_lost(now);
    }

    /// Bytes received on the connection, in any chunking.
    pub fn handle_data(&mut self, now: Instant, data: &[u8]) {
        if !self.tcp_up {
            return;
        }
        self.frames.push(data);
        while self.tcp_up {
            match self.frames.next_frame() {
                Ok(Some(frame)) => self.on_frame(now, frame),
                Ok(None) => break,
                // BGPHeaderErr (event 21)
                Err(e) => {
                    let n = Notification::from(&e);
                    self.down(now, Some(n.clone()), DownReason::Sent(n), true);
                }
            }
        }
    }

    /// The owner holds bytes of this connection it has read but not handed over yet (it
    /// is behind, not the peer): the hold timer starts again, as if a message had come.
    /// Before the hold time is negotiated, or with none, nothing changes.
    pub fn input_pending(&mut self, now: Instant) {
        if self.negotiated.is_some() && self.timers.get(Timer::Hold).is_some() {
            self.arm_hold(now);
        }
    }

    /// Timers due at `now`; a call before any deadline does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.take_expired(now) {
            self.on_timer(now, t);
        }
    }

    /// Sends an UPDATE (Established only).
    pub fn send_update(&mut self, now: Instant, update: &Update) -> Result<(), SendError> {
        let ctx = self.established_context()?;
        let mut out = BytesMut::with_capacity(update.body_len(&ctx) + 19);
        // The message is built before anything is queued, so an error leaves no trace.
        Message::from(update.clone()).encode(&ctx, &mut out)?;
        self.counters.updates_out += 1;
        self.transmit(now, out.freeze());
        Ok(())
    }

    /// Sends an UPDATE already encoded for this session's send context (by an update group
    /// of the RIB). Established only.
    pub fn send_encoded_update(&mut self, now: Instant, bytes: Bytes) -> Result<(), SendError> {
        self.established_context()?;
        self.counters.updates_out += 1;
        self.transmit(now, bytes);
        Ok(())
    }

    /// Records that `n` UPDATEs encoded for this session's send context were written by the
    /// owner on the session's connection, in order after the session's own transmissions
    /// (a batch of an update group's UPDATEs, shared with other sessions, that need not
    /// pass through the session one by one). Established only.
    pub fn note_updates_sent(&mut self, now: Instant, n: u64) -> Result<(), SendError> {
        self.established_context()?;
        if n == 0 {
            return Ok(());
        }
        self.counters.updates_out += n;
        self.counters.messages_out += n;
        // RFC 4271 8.2.2: each UPDATE sent restarts the KeepaliveTimer.
        self.arm_keepalive(now);
        Ok(())
    }

    /// Sends the End-of-RIB marker of a negotiated family.
    pub fn send_end_of_rib(&mut self, now: Instant, family: Family) -> Result<(), SendError> {
        let neg = self.negotiated.as_ref().ok_or(SendError::NotEstablished)?;
        if !neg.has_family(family) {
            return Err(SendError::FamilyNotNegotiated(family));
        }
        self.send_update(now, &Update::end_of_rib(family))
    }

    /// Sends a ROUTE-REFRESH: a request (subtype 0), or BoRR/EoRR (1/2, enhanced route
    /// refresh) around a re-advertisement of ours.
    pub fn send_route_refresh(
        &mut self,
        now: Instant,
        family: Family,
        kind: RefreshKind,
    ) -> Result<(), SendError> {
        let ctx = self.established_context()?;
        let neg = self.negotiated.as_ref().ok_or(SendError::NotEstablished)?;
        if !neg.has_family(family) {
            return Err(SendError::FamilyNotNegotiated(family));
        }
        let subtype = match kind {
            RefreshKind::Request if neg.route_refresh => refresh_subtype::NORMAL,
            RefreshKind::Begin if neg.enhanced_route_refresh => refresh_subtype::BEGIN,
            RefreshKind::End if neg.enhanced_route_refresh => refresh_subtype::END,
            _ => return Err(SendError::RefreshNotNegotiated),
        };
        let msg = Message::RouteRefresh(RouteRefresh {
            family,
            subtype,
            orf: Bytes::new(),
        });
        let bytes = msg.to_bytes(&ctx)?;
        self.transmit(now, bytes);
        Ok(())
    }

    // ---- internals ----

    fn established_context(&self) -> Result<Context, SendError> {
        match (&self.negotiated, self.state) {
            (Some(n), State::Established) => Ok(n.send_context()),
            _ => Err(SendError::NotEstablished),
        }
    }

    fn emit(&mut self, e: Event) {
        self.actions.push_back(Action::Event(e));
    }

    fn goto(&mut self, to: State) {
        if to != self.state {
            let from = self.state;
            self.state = to;
            self.emit(Event::StateChanged { from, to });
        }
    }

    /// Idle to Connect (or Active when passive): AutomaticStart / ManualStart.
    fn begin(&mut self, now: Instant) {
        self.arm_connect_retry(now);
        if self.cfg.passive {
            self.goto(State::Active);
        } else {
            self.actions.push_back(Action::Connect);
            self.goto(State::Connect);
        }
    }

    fn arm_connect_retry(&mut self, now: Instant) {
        let d = self.connect_retry_interval.mul_f64(self.jitter.factor());
        self.timers.set(Timer::ConnectRetry, now + d);
    }

    /// Exponential backoff after a failed attempt.
    fn back_off(&mut self) {
        self.connect_retry_interval =
            (self.connect_retry_interval * 2).min(self.cfg.connect_retry_max);
    }

    fn transmit(&mut self, now: Instant, bytes: Bytes) {
        self.counters.messages_out += 1;
        self.actions.push_back(Action::Transmit(bytes));
        // RFC 4271 8.2.2: each KEEPALIVE or UPDATE sent restarts the KeepaliveTimer.
        if matches!(self.state, State::OpenConfirm | State::Established) {
            self.arm_keepalive(now);
        }
    }

    fn send_message(&mut self, now: Instant, msg: &Message) {
        let ctx = self
            .negotiated
            .as_ref()
            .map(Negotiated::send_context)
            .unwrap_or_default();
        match msg.to_bytes(&ctx) {
            Ok(b) => self.transmit(now, b),
            // Our own OPEN, KEEPALIVE and NOTIFICATION always fit.
            Err(_) => self.actions.push_back(Action::Close),
        }
    }

    fn send_open(&mut self, now: Instant) {
        let open = self.cfg.open();
        self.send_message(now, &Message::Open(open));
        self.timers.set(Timer::Hold, now + OPEN_HOLD_TIME);
        self.goto(State::OpenSent);
    }

    fn arm_keepalive(&mut self, now: Instant) {
        match &self.negotiated {
            Some(n) if n.keepalive_time > 0 => {
                let d =
                    Duration::from_secs(u64::from(n.keepalive_time)).mul_f64(self.jitter.factor());
                self.timers.set(Timer::Keepalive, now + d);
            }
            _ => self.timers.stop(Timer::Keepalive),
        }
    }

    fn arm_hold(&mut self, now: Instant) {
        match &self.negotiated {
            Some(n) if n.hold_time > 0 => self.timers.set(
                Timer::Hold,
                now + Duration::from_secs(u64::from(n.hold_time)),
            ),
            _ => self.timers.stop(Timer::Hold),
        }
    }

    /// Drops the connection's resources: timers of the connection, buffered bytes,
    /// negotiated settings.
    fn release(&mut self) {
        for t in [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::DelayOpen,
        ] {
            self.timers.stop(t);
        }
        self.tcp_up = false;
        self.frames = FrameSplitter::new(self.frames_max());
        self.negotiated = None;
    }

    fn frames_max(&self) -> usize {
        if self.cfg.extended_message {
            crate::wire::MAX_EXTENDED_MESSAGE_LEN
        } else {
            crate::wire::MAX_MESSAGE_LEN
        }
    }

    /// Leaves OpenSent or a later state for Idle: sends `notification` if any, closes, tells
    /// the owner, and arranges the automatic restart. `counts` marks an error that
    /// increments the ConnectRetryCounter and damps the next start.
    fn down(
        &mut self,
        now: Instant,
        notification: Option<Notification>,
        reason: DownReason,
        counts: bool,
    ) {
        if let Some(n) = notification {
            self.send_message(now, &Message::Notification(n));
        }
        if self.tcp_up {
            self.actions.push_back(Action::Close);
        }
        let was_established = self.state == State::Established;
        let retain_stale = if was_established {
            self.graceful_retention(&reason)
        } else {
            None
        };
        if was_established {
            self.counters.down += 1;
            // A session that stayed up long enough clears the flap history.
            if self
                .established_at
                .is_some_and(|t| now.saturating_duration_since(t) >= self.cfg.stable_after)
            {
                self.flaps = 0;
            }
        }
        self.established_at = None;
        if let Some(d) = retain_stale {
            self.timers.set(Timer::GracefulRestart, now + d);
            self.stale_families = self
                .negotiated
                .iter()
                .flat_map(|n| n.families.iter().copied())
                .collect();
            self.long_lived = self
                .negotiated
                .as_ref()
                .map(|n| n.peer_long_lived.clone())
                .unwrap_or_default();
        } else if self.timers.is_running(Timer::GracefulRestart)
            || !self.long_lived_until.is_empty()
        {
            // Down again before the peer's restart completed: its stale routes go.
            self.expire_all_stale();
        }
        self.release();
        if counts {
            self.connect_retry_counter += 1;
            self.flaps = self.flaps.saturating_add(1);
        }
        self.goto(State::Idle);
        self.emit(Event::Down {
            reason,
            was_established,
            retain_stale,
        });
        self.schedule_restart(now);
    }

    /// After a failure, start again by itself once IdleHold allows (RFC 4271 8.1.1
    /// DampPeerOscillations): the wait doubles per consecutive flap.
    fn schedule_restart(&mut self, now: Instant) {
        if self.stopped || !self.cfg.auto_restart {
            return;
        }
        let wait = if self.cfg.damp_peer_oscillations {
            let factor = 2u32.saturating_pow(self.flaps.saturating_sub(1).min(16));
            (self.cfg.idle_hold * factor).min(self.cfg.idle_hold_max)
        } else {
            self.cfg.idle_hold
        };
        self.timers.set(Timer::IdleHold, now + wait);
    }

    /// TcpConnectionFails (event 18) in every state.
    fn connection_lost(&mut self, now: Instant) {
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => {
                // RFC 4271 goes to Idle from Connect without DelayOpen; waiting in Active for
                // the ConnectRetry timer (with backoff) lets the peer connect to us meanwhile.
                self.tcp_up = false;
                self.frames = FrameSplitter::new(self.frames_max());
                self.timers.stop(Timer::DelayOpen);
                self.connect_retry_counter += 1;
                self.back_off();
                self.arm_connect_retry(now);
                self.goto(State::Active);
            }
            State::OpenSent => {
                // RFC 4271: close, restart ConnectRetry, Active.
                self.release();
                self.connect_retry_counter += 1;
                self.back_off();
                self.arm_connect_retry(now);
                self.emit(Event::Down {
                    reason: DownReason::ConnectionLost,
                    was_established: false,
                    retain_stale: None,
                });
                self.goto(State::Active);
            }
            State::OpenConfirm | State::Established => {
                self.tcp_up = false;
                self.down(now, None, DownReason::ConnectionLost, true);
            }
        }
    }

    /// An FSM error: a message or event the state does not expect (RFC 6608 subcodes).
    fn fsm_error(&mut self, now: Instant) {
        let sub = match self.state {
            State::OpenSent => subcode::FSM_UNEXPECTED_IN_OPENSENT,
            State::OpenConfirm => subcode::FSM_UNEXPECTED_IN_OPENCONFIRM,
            State::Established => subcode::FSM_UNEXPECTED_IN_ESTABLISHED,
            _ => 0,
        };
        let n = Notification::new(code::FSM, sub, Bytes::new());
        self.down(now, Some(n.clone()), DownReason::Sent(n), true);
    }

    fn on_timer(&mut self, now: Instant, t: Timer) {
        match (t, self.state) {
            (Timer::ConnectRetry, State::Connect) => {
                // Event 9 in Connect: drop the attempt, retry.
                if self.tcp_up {
                    self.actions.push_back(Action::Close);
                    self.tcp_up = false;
                }
                self.timers.stop(Timer::DelayOpen);
                self.back_off();
                self.arm_connect_retry(now);
                self.actions.push_back(Action::Connect);
            }
            (Timer::ConnectRetry, State::Active) => {
                self.arm_connect_retry(now);
                if !self.cfg.passive {
                    self.actions.push_back(Action::Connect);
                    self.goto(State::Connect);
                }
            }
            (Timer::DelayOpen, State::Connect | State::Active) if self.tcp_up => {
                self.send_open(now);
            }
            (Timer::Hold, State::OpenSent | State::OpenConfirm | State::Established) => {
                let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new());
                self.down(now, Some(n.clone()), DownReason::Sent(n), true);
            }
            (Timer::Keepalive, State::OpenConfirm | State::Established) => {
                self.send_message(now, &Message::Keepalive);
            }
            // IdleHoldTimer_Expires (event 13), then AutomaticStart.
            (Timer::IdleHold, State::Idle) if !self.stopped => self.begin(now),
            (Timer::GracefulRestart, _) => self.restart_time_over(now),
            (Timer::LongLivedStale, _) => self.long_lived_over(now),
            // A timer of another state: it was stopped on leaving that state, so this
            // cannot happen; ignoring it is the safe answer.
            _ => {}
        }
    }
}

/// Frees an emptied action queue that grew large (a burst of UPDATEs): an owner with
/// thousands of sessions must not keep every session's largest burst allocated.
pub(crate) fn release_drained<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 32 {
        *q = VecDeque::new();
    }
}
