//! What a session does when BFD reports its path down (RFC 5882 with RFC 9384).

use std::time::Instant;

use bytes::Bytes;

use super::{DownReason, Session, State};
use crate::wire::Notification;
use crate::wire::error::{code, subcode};

impl Session {
    /// BFD saw the path to the peer fail. A session past Active ends at once with Cease /
    /// BFD Down (RFC 9384) and starts again by itself after IdleHold, as after any error;
    /// an earlier one is left to its connect cycle.
    ///
    /// `graceful` (BIRD's `bfd graceful`): the failure is taken for a restart of the peer,
    /// as a TCP failure is: with graceful restart negotiated the peer's routes are kept
    /// stale (RFC 4724), and the NOTIFICATION is sent only when both sides have the N bit
    /// (RFC 8538: a Cease other than Hard Reset keeps the routes on both sides). Otherwise
    /// the routes go at once, graceful restart or not: with the N bit the Cease is wrapped
    /// in a Hard Reset (RFC 8538 5.1), so that the peer drops ours too.
    pub fn bfd_down(&mut self, now: Instant, graceful: bool) {
        if !matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        ) {
            return;
        }
        let gr = self
            .negotiated
            .as_ref()
            .and_then(|n| n.peer_graceful_restart.as_ref());
        let n_bit = gr.is_some_and(|g| g.notification)
            && self
                .cfg
                .graceful_restart
                .as_ref()
                .is_some_and(|g| g.notification);
        let cease = Notification::new(code::CEASE, subcode::BFD_DOWN, Bytes::new());
        let (n, reason) = match (graceful && gr.is_some(), n_bit) {
            (true, false) => (None, DownReason::ConnectionLost),
            (true, true) | (false, false) => (Some(cease.clone()), DownReason::Sent(cease)),
            (false, true) => {
                let data = Bytes::from_static(&[code::CEASE, subcode::BFD_DOWN]);
                let hard = Notification::new(code::CEASE, subcode::HARD_RESET, data);
                (Some(hard.clone()), DownReason::Sent(hard))
            }
        };
        self.down(now, n, reason, true);
    }
}
