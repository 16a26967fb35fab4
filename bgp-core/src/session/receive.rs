//! What a session does with each message it receives (RFC 4271 sections 6 and 8, RFC 7606
//! for UPDATEs, RFC 7313 for ROUTE-REFRESH).

use super::*;

impl Session {
    pub(super) fn on_frame(&mut self, now: Instant, frame: Bytes) {
        self.counters.messages_in += 1;
        let ctx = self
            .negotiated
            .as_ref()
            .map(Negotiated::receive_context)
            .unwrap_or_default();
        match Message::decode(&frame, &ctx) {
            Ok(Message::Open(open)) => self.on_open(now, open),
            Ok(Message::Keepalive) => self.on_keepalive(now),
            Ok(Message::Update(u)) => self.on_update(now, u),
            Ok(Message::Notification(n)) => self.on_notification(now, n),
            Ok(Message::RouteRefresh(r)) => self.on_route_refresh(now, r),
            Err(e) => self.on_decode_error(now, &frame, e),
        }
    }

    pub(super) fn on_decode_error(&mut self, now: Instant, frame: &[u8], e: DecodeError) {
        // BGPHeaderErr, BGPOpenMsgErr or UpdateMsgErr (events 21, 22, 28). An UPDATE before
        // Established is an FSM error, whatever its content.
        if frame.get(18) == Some(&msg_type::UPDATE) && self.state != State::Established {
            return self.fsm_error(now);
        }
        // RFC 4271 8.2.2, Established: an OPEN, malformed or not, is an FSM error.
        if frame.get(18) == Some(&msg_type::OPEN) && self.state == State::Established {
            return self.fsm_error(now);
        }
        let n = Notification::from(&e);
        self.down(now, Some(n.clone()), DownReason::Sent(n), true);
    }

    pub(super) fn on_open(&mut self, now: Instant, open: crate::wire::Open) {
        let delay_open = self.timers.is_running(Timer::DelayOpen);
        match self.state {
            State::OpenSent => {}
            // Event 20: OPEN while DelayOpen runs.
            State::Connect | State::Active if delay_open => {}
            _ => return self.fsm_error(now),
        }
        match negotiate(&self.cfg, &open) {
            Err(n) => {
                self.down(now, Some(n.clone()), DownReason::Sent(n), true);
            }
            Ok(neg) => {
                self.timers.stop(Timer::ConnectRetry);
                if delay_open {
                    self.timers.stop(Timer::DelayOpen);
                    let our_open = Message::Open(self.cfg.open());
                    self.send_message(now, &our_open);
                }
                if neg.extended_message {
                    self.frames
                        .set_max_len(crate::wire::MAX_EXTENDED_MESSAGE_LEN);
                }
                self.negotiated = Some(neg);
                self.goto(State::OpenConfirm);
                self.send_message(now, &Message::Keepalive);
                self.arm_hold(now);
            }
        }
    }

    pub(super) fn on_keepalive(&mut self, now: Instant) {
        match self.state {
            State::OpenConfirm => {
                self.arm_hold(now);
                self.goto(State::Established);
                self.established_at = Some(now);
                self.counters.established += 1;
                self.connect_retry_interval = self.cfg.connect_retry;
                let neg = self.negotiated.clone();
                if let Some(neg) = neg {
                    self.on_established_gr(now, &neg);
                    self.emit(Event::Established(Box::new(neg)));
                }
            }
            State::Established => self.arm_hold(now),
            _ => self.fsm_error(now),
        }
    }

    pub(super) fn on_update(&mut self, now: Instant, mut u: Box<Update>) {
        if self.state != State::Established {
            return self.fsm_error(now);
        }
        self.arm_hold(now);
        self.counters.updates_in += 1;
        let Some(neg) = &self.negotiated else {
            return;
        };
        if !neg.four_octet_as {
            u.attributes.merge_as4();
        }
        // RFC 4271 6.3: from an external peer the path must start with its AS. RFC 7606
        // turns the reset into treat-as-withdraw.
        if neg.peer_kind == PeerKind::External
            && u.announced().next().is_some()
            && let Some(path) = &u.attributes.as_path
            && path.first_asn() != Some(neg.peer_as)
            && !u.errors.iter().any(|e| e.code == 2)
        {
            u.errors.push(AttributeError {
                code: 2,
                name: "AS_PATH",
                kind: AttributeErrorKind::Value,
                action: ErrorAction::TreatAsWithdraw,
            });
        }
        if let Some(family) = u.as_end_of_rib() {
            if self.timers.is_running(Timer::GracefulRestart) {
                self.stale_families.remove(family);
                if self.stale_families.is_empty() {
                    self.timers.stop(Timer::GracefulRestart);
                }
            }
            if self.long_lived_until.iter().any(|(f, _)| *f == family) {
                // The router sweeps what was not sent again; nothing is stale any more.
                self.long_lived_until.retain(|(f, _)| *f != family);
                self.arm_long_lived();
            }
            self.emit(Event::EndOfRib(family));
        } else {
            self.emit(Event::Update(u));
        }
    }

    pub(super) fn on_notification(&mut self, now: Instant, n: Notification) {
        // NotifMsg / NotifMsgVerErr (events 24, 25): no NOTIFICATION in answer. An
        // Unsupported Version answer does not count as a flap (RFC 4271 8.2.2).
        let counts = !(n.code == code::OPEN_MESSAGE && n.subcode == subcode::UNSUPPORTED_VERSION);
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => {
                if self.tcp_up {
                    self.actions.push_back(Action::Close);
                }
                self.release();
                if counts {
                    self.connect_retry_counter += 1;
                }
                self.goto(State::Idle);
                self.schedule_restart(now);
            }
            _ => self.down(now, None, DownReason::Received(n), counts),
        }
    }

    pub(super) fn on_route_refresh(&mut self, now: Instant, r: RouteRefresh) {
        if self.state != State::Established {
            return self.fsm_error(now);
        }
        self.arm_hold(now);
        let Some(neg) = &self.negotiated else {
            return;
        };
        // RFC 7313 5: a refresh for a family not negotiated, or an unknown subtype, is
        // ignored.
        if !neg.route_refresh || !neg.has_family(r.family) {
            return;
        }
        let kind = match r.subtype {
            refresh_subtype::NORMAL => RefreshKind::Request,
            refresh_subtype::BEGIN if neg.enhanced_route_refresh => RefreshKind::Begin,
            refresh_subtype::END if neg.enhanced_route_refresh => RefreshKind::End,
            _ => return,
        };
        self.emit(Event::RouteRefresh {
            family: r.family,
            kind,
        });
    }
}
