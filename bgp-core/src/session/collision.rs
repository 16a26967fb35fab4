//! Two connections to one peer (RFC 4271 6.8), as a value.
//!
//! A [`Peer`] owns the session of the connection we initiate (which also runs the connect
//! cycle) and, when the peer connects to us meanwhile, the session of that connection. The
//! owner holds up to two transports and routes each input to the right one by [`Conn`];
//! actions come out tagged the same way. When both connections have seen the peer's OPEN,
//! the BGP identifiers decide which one stays: the higher identifier's connection wins, and
//! the other is closed with Cease / Connection Collision Resolution.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::{Action, Event, SendError, Session, SessionConfig, State, StopReason};
use crate::wire::error::{code, subcode};
use crate::wire::{Notification, Update};

/// Which transport: the one we initiated or the one the peer initiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Conn {
    Outbound,
    Inbound,
}

/// A peer with its one or two connections.
#[derive(Debug)]
pub struct Peer {
    outbound: Session,
    inbound: Option<Session>,
    /// The outbound session was set aside because the inbound one won or got Established;
    /// it resumes when the inbound one goes down.
    outbound_suspended: bool,
    actions: VecDeque<(Conn, Action)>,
}

impl Peer {
    pub fn new(cfg: SessionConfig) -> Peer {
        Peer {
            outbound: Session::new(cfg),
            inbound: None,
            outbound_suspended: false,
            actions: VecDeque::new(),
        }
    }

    /// The session of a connection.
    pub fn session(&self, conn: Conn) -> Option<&Session> {
        match conn {
            Conn::Outbound => Some(&self.outbound),
            Conn::Inbound => self.inbound.as_ref(),
        }
    }

    /// The connection whose session is furthest along (Established wins).
    pub fn active(&self) -> (Conn, &Session) {
        match &self.inbound {
            Some(i) if rank(i.state()) > rank(self.outbound.state()) => (Conn::Inbound, i),
            _ => (Conn::Outbound, &self.outbound),
        }
    }

    pub fn state(&self) -> State {
        self.active().1.state()
    }

    pub fn poll_action(&mut self) -> Option<(Conn, Action)> {
        let a = self.actions.pop_front();
        if a.is_none() {
            super::release_drained(&mut self.actions);
        }
        a
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let o = self.outbound.poll_timeout();
        let i = self.inbound.as_ref().and_then(Session::poll_timeout);
        match (o, i) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn start(&mut self, now: Instant) {
        self.outbound_suspended = false;
        self.outbound.start(now);
        self.settle(now);
    }

    pub fn stop(&mut self, now: Instant, reason: StopReason) {
        self.outbound_suspended = false;
        self.outbound.stop(now, reason.clone());
        if let Some(i) = &mut self.inbound {
            i.stop(now, reason);
        }
        self.settle(now);
    }

    /// ManualStop before a graceful restart of ours (see [`Session::stop_for_restart`]): the
    /// Established connection is left so that the peer keeps our routes; any other is
    /// stopped.
    pub fn stop_for_restart(&mut self, now: Instant, reason: StopReason) {
        self.outbound_suspended = false;
        self.outbound.stop_for_restart(now, reason.clone());
        if let Some(i) = &mut self.inbound {
            i.stop_for_restart(now, reason);
        }
        self.settle(now);
    }

    /// BFD reports the path down: see [`Session::bfd_down`]; both connections end.
    pub fn bfd_down(&mut self, now: Instant, graceful: bool) {
        self.outbound.bfd_down(now, graceful);
        if let Some(i) = &mut self.inbound {
            i.bfd_down(now, graceful);
        }
        self.settle(now);
    }

    /// AutomaticStop of the peer (e.g. maximum prefixes): a Cease on the connection in use,
    /// and a new start after `restart_after`.
    pub fn automatic_stop(
        &mut self,
        now: Instant,
        reason: StopReason,
        restart_after: std::time::Duration,
    ) {
        self.outbound_suspended = false;
        if let Some(i) = &mut self.inbound {
            i.stop(now, reason.clone());
        }
        self.outbound.automatic_stop(now, reason, restart_after);
        self.settle(now);
    }

    /// The peer connected to us. Returns false when the connection is refused (the actions
    /// then say to close it): when a session is already Established (RFC 4271 6.8), when a
    /// second inbound connection is already open, or when the peer is Idle (stopped, or held
    /// down by damping or after a maximum-prefix Cease: Idle refuses connections).
    pub fn handle_accepted(&mut self, now: Instant) -> bool {
        let established = self.state() == State::Established;
        let idle = self.outbound.state() == State::Idle && !self.outbound_suspended;
        if established || self.inbound.is_some() || self.outbound.is_stopped() || idle {
            if established {
                let n = Notification::new(
                    code::CEASE,
                    subcode::CONNECTION_COLLISION_RESOLUTION,
                    Bytes::new(),
                );
                if let Ok(b) = crate::wire::Message::Notification(n).to_bytes(&Default::default()) {
                    self.actions.push_back((Conn::Inbound, Action::Transmit(b)));
                }
            }
            self.actions.push_back((Conn::Inbound, Action::Close));
            return false;
        }
        let mut cfg = self.outbound.config().clone();
        cfg.passive = true;
        cfg.auto_restart = false;
        let mut s = Session::new(cfg);
        s.start(now);
        s.handle_connected(now);
        self.inbound = Some(s);
        self.settle(now);
        true
    }

    /// The connection we initiated is up.
    pub fn handle_connected(&mut self, now: Instant) {
        self.outbound.handle_connected(now);
        self.settle(now);
    }

    pub fn handle_connect_failed(&mut self, now: Instant) {
        self.outbound.handle_connect_failed(now);
        self.settle(now);
    }

    pub fn handle_closed(&mut self, now: Instant, conn: Conn) {
        match conn {
            Conn::Outbound => self.outbound.handle_closed(now),
            Conn::Inbound => {
                if let Some(i) = &mut self.inbound {
                    i.handle_closed(now);
                }
            }
        }
        self.settle(now);
    }

    pub fn handle_data(&mut self, now: Instant, conn: Conn, data: &[u8]) {
        match conn {
            Conn::Outbound => self.outbound.handle_data(now, data),
            Conn::Inbound => {
                if let Some(i) = &mut self.inbound {
                    i.handle_data(now, data);
                }
            }
        }
        self.settle(now);
    }

    /// See [`Session::input_pending`].
    pub fn input_pending(&mut self, now: Instant, conn: Conn) {
        match conn {
            Conn::Outbound => self.outbound.input_pending(now),
            Conn::Inbound => {
                if let Some(i) = &mut self.inbound {
                    i.input_pending(now);
                }
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.outbound.handle_timeout(now);
        if let Some(i) = &mut self.inbound {
            i.handle_timeout(now);
        }
        self.settle(now);
    }

    /// Sends an UPDATE on the Established connection.
    pub fn send_update(&mut self, now: Instant, update: &Update) -> Result<Conn, SendError> {
        let conn = self.active().0;
        let s = match conn {
            Conn::Outbound => &mut self.outbound,
            Conn::Inbound => self.inbound.as_mut().ok_or(SendError::NotEstablished)?,
        };
        s.send_update(now, update)?;
        self.settle(now);
        Ok(conn)
    }

    /// Sends an UPDATE already encoded for the session's send context on the Established
    /// connection.
    pub fn send_encoded_update(&mut self, now: Instant, bytes: Bytes) -> Result<Conn, SendError> {
        let conn = self.active().0;
        let s = match conn {
            Conn::Outbound => &mut self.outbound,
            Conn::Inbound => self.inbound.as_mut().ok_or(SendError::NotEstablished)?,
        };
        s.send_encoded_update(now, bytes)?;
        self.settle(now);
        Ok(conn)
    }

    /// Records `n` UPDATEs written on the Established connection outside the session (see
    /// [`Session::note_updates_sent`]); returns that connection.
    pub fn note_updates_sent(&mut self, now: Instant, n: u64) -> Result<Conn, SendError> {
        let conn = self.active().0;
        let s = match conn {
            Conn::Outbound => &mut self.outbound,
            Conn::Inbound => self.inbound.as_mut().ok_or(SendError::NotEstablished)?,
        };
        s.note_updates_sent(now, n)?;
        Ok(conn)
    }

    /// Sends a ROUTE-REFRESH (request, BoRR or EoRR) on the Established connection.
    pub fn send_route_refresh(
        &mut self,
        now: Instant,
        family: crate::types::Family,
        kind: super::RefreshKind,
    ) -> Result<(), SendError> {
        let conn = self.active().0;
        let s = match conn {
            Conn::Outbound => &mut self.outbound,
            Conn::Inbound => self.inbound.as_mut().ok_or(SendError::NotEstablished)?,
        };
        s.send_route_refresh(now, family, kind)?;
        self.settle(now);
        Ok(())
    }

    /// Sends End-of-RIB on the Established connection.
    pub fn send_end_of_rib(
        &mut self,
        now: Instant,
        family: crate::types::Family,
    ) -> Result<(), SendError> {
        let conn = self.active().0;
        let s = match conn {
            Conn::Outbound => &mut self.outbound,
            Conn::Inbound => self.inbound.as_mut().ok_or(SendError::NotEstablished)?,
        };
        s.send_end_of_rib(now, family)?;
        self.settle(now);
        Ok(())
    }

    /// Drains both sessions' actions, then applies RFC 4271 6.8 until nothing changes.
    fn settle(&mut self, now: Instant) {
        loop {
            self.drain();
            if !self.resolve(now) {
                break;
            }
        }
        // An inbound session that went back to Idle is finished; the peer's stale routes
        // it was keeping, if any, are the outbound session's to keep from now on.
        if self
            .inbound
            .as_ref()
            .is_some_and(|i| i.state() == State::Idle)
        {
            self.drain();
            if let Some(st) = self.inbound.as_mut().and_then(Session::take_stale) {
                self.outbound.adopt_stale(st);
            }
            self.inbound = None;
            if self.outbound_suspended {
                self.outbound_suspended = false;
                self.outbound.resume(now);
                self.drain();
            }
        }
    }

    fn drain(&mut self) {
        while let Some(a) = self.outbound.poll_action() {
            self.actions.push_back((Conn::Outbound, a));
        }
        if let Some(i) = &mut self.inbound {
            while let Some(a) = i.poll_action() {
                // The inbound session's own Down is internal unless it carried the routes.
                self.actions.push_back((Conn::Inbound, a));
            }
        }
    }

    /// One step of collision resolution; true when it changed something.
    fn resolve(&mut self, now: Instant) -> bool {
        let Some(inbound) = &mut self.inbound else {
            return false;
        };
        if self.outbound_suspended {
            return false;
        }
        let (o, i) = (self.outbound.state(), inbound.state());
        // An Established session closes any other connection.
        if o == State::Established && i != State::Idle {
            inbound.collision_dump(now);
            return true;
        }
        if i == State::Established {
            self.outbound.suspend(now);
            self.outbound_suspended = true;
            return true;
        }
        // Both connections are up and the peer's identifier is known from an OPEN on
        // either: the connection initiated by the higher identifier stays. (RFC 4271 6.8
        // compares when the second OPEN arrives, and allows using an identifier known
        // otherwise for connections in OpenSent; deciding at the first OPEN lets both sides
        // reach the same verdict before either answers with a KEEPALIVE.)
        let remote = self
            .outbound
            .negotiated()
            .or(inbound.negotiated())
            .map(|n| u32::from(n.peer_id));
        let Some(remote) = remote else {
            return false;
        };
        if !(self.outbound.is_connected() && inbound.is_connected()) {
            return false;
        }
        let local = u32::from(self.outbound.config().local_id);
        if local < remote {
            // The peer's connection stays.
            self.outbound.suspend(now);
            self.outbound_suspended = true;
        } else {
            inbound.collision_dump(now);
        }
        true
    }
}

fn rank(s: State) -> u8 {
    match s {
        State::Idle => 0,
        State::Active | State::Connect => 1,
        State::OpenSent => 2,
        State::OpenConfirm => 3,
        State::Established => 4,
    }
}

impl Session {
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// A connection is up (OPEN sent or about to be).
    pub(crate) fn is_connected(&self) -> bool {
        self.tcp_up
    }

    /// OpenCollisionDump (event 23): Cease / Connection Collision Resolution, then Idle,
    /// without counting a flap.
    pub(crate) fn collision_dump(&mut self, now: Instant) {
        if matches!(self.state, State::Idle) {
            return;
        }
        if matches!(self.state, State::Connect | State::Active) {
            if self.tcp_up {
                self.actions.push_back(Action::Close);
            }
            self.release();
            self.goto(State::Idle);
            return;
        }
        let n = Notification::new(
            code::CEASE,
            subcode::CONNECTION_COLLISION_RESOLUTION,
            Bytes::new(),
        );
        let keep = self.stopped;
        // No automatic restart of a dumped connection: the other one carries the session.
        self.stopped = true;
        self.down(now, Some(n.clone()), super::DownReason::Sent(n), false);
        self.stopped = keep;
        self.timers.stop(super::Timer::IdleHold);
    }

    /// Sets the session aside while another connection carries the peer: closes its
    /// connection (with a collision Cease once an OPEN was sent) and stays in Idle.
    pub(crate) fn suspend(&mut self, now: Instant) {
        self.collision_dump(now);
        self.timers.stop(super::Timer::ConnectRetry);
        self.timers.stop(super::Timer::IdleHold);
        // A Down of a session that never got Established says nothing the owner needs:
        // drop it so that the surviving connection's events are the only ones.
        self.actions.retain(|a| {
            !matches!(
                a,
                Action::Event(Event::Down {
                    was_established: false,
                    ..
                })
            )
        });
    }

    /// Resumes a suspended session: it starts again once IdleHold allows.
    pub(crate) fn resume(&mut self, now: Instant) {
        if !self.stopped && self.state == State::Idle {
            self.schedule_restart(now);
            if !self.timers.is_running(super::Timer::IdleHold) {
                self.begin(now);
            }
        }
    }
}
