//! BFD for the peers: the router's endpoint, which peer uses which session, and what a
//! session's failure does to BGP (RFC 5882, RFC 9384).
//!
//! A peer with [`BfdSettings`] gets a session for (our address, its address, hop kind):
//! at its start when `local_address` is configured, else with its first connection (whose
//! local address it then takes). Peers with the same key share one session; a session
//! whose last peer went is removed once the call that let it go returns, so that a peer
//! restarted with new settings keeps it (no AdminDown, no new discriminator).
//!
//! When a session goes from Up to Down, every BGP session it serves ends at once
//! ([`crate::session::Session::bfd_down`]): Cease / BFD Down, and the routes go, graceful
//! restart or not (what BIRD does by default, and what FRR does with a peer whose BFD is
//! not control-plane independent unless told to check it) — BFD runs in the same process
//! as BGP here and on those peers, so its C bit is clear, and RFC 5882 4.3.2 leaves the
//! choice to the operator. `graceful` makes it a TCP failure instead, the routes kept
//! stale under graceful restart. A peer that signals AdminDown is not failing (RFC 5882
//! 3.2): nothing happens to BGP.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use foldhash::HashMap;
use smallvec::SmallVec;
use tracing::{debug, info, warn};

use super::Router;
use super::config::{BfdSettings, PeerSettings};
use super::io::{Event, Output, PeerUpdate};
use crate::bfd::{self, Bfd, BfdConfig, SessionId, SessionKey, SessionSettings, State};
use crate::rib::PeerId;
use crate::session::StopReason;
use crate::wire::error::subcode;

/// The endpoint and who uses its sessions.
#[derive(Debug)]
pub(super) struct BfdLink {
    pub(super) endpoint: Bfd,
    users: HashMap<SessionId, SmallVec<[PeerId; 1]>>,
    /// Sessions that lost their last peer in the current call.
    orphans: Vec<SessionId>,
}

impl BfdLink {
    pub(super) fn new(seed: u64) -> BfdLink {
        BfdLink {
            endpoint: Bfd::new(BfdConfig { seed }),
            users: HashMap::default(),
            orphans: Vec::new(),
        }
    }
}

/// A peer's BFD session as `show peer` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerBfdStatus {
    /// `AdminDown`, `Down`, `Init` or `Up`; `none` while the session waits for our address
    /// (no `local_address`, no connection yet).
    pub state: String,
    pub remote_state: String,
    /// `single-hop` or `multihop`.
    pub hop: String,
    pub local: Option<IpAddr>,
    /// Why the session last went down, ours and the peer's (RFC 5880 4.1 diagnostics).
    pub local_diag: String,
    pub remote_diag: String,
    /// As configured.
    pub min_rx_ms: u64,
    pub min_tx_ms: u64,
    pub multiplier: u8,
    /// As negotiated: the interval we send at, the time the peer may be silent.
    pub tx_interval_ms: Option<u64>,
    pub detection_time_ms: Option<u64>,
    pub remote_min_rx_ms: Option<u64>,
    pub remote_min_tx_ms: Option<u64>,
    pub remote_multiplier: Option<u8>,
    /// The BGP session waits for BFD to come up (`wait_for_up`).
    pub holding: bool,
    pub up_count: u64,
    pub down_count: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub packets_dropped: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The endpoint's view of a peer's settings.
fn session_settings(p: &PeerSettings, b: &BfdSettings) -> SessionSettings {
    let multihop = p.bfd_multihop();
    SessionSettings {
        desired_min_tx: b.min_tx,
        required_min_rx: b.min_rx,
        detect_mult: b.multiplier,
        passive: false,
        auth: None,
        // GTSM's rule for the BGP session holds for its BFD packets too.
        min_ttl: p
            .ttl_security
            .filter(|_| multihop)
            .map(|h| 255u8.saturating_sub(h.saturating_sub(1))),
    }
}

impl Router {
    /// A datagram for the BFD endpoint.
    pub(super) fn bfd_received(&mut self, now: Instant, input: bfd::Input<'_>) {
        self.bfd.endpoint.handle(now, input);
        self.bfd_pump(now);
    }

    /// Gives a peer its BFD session if it has BFD and none yet, with `local` as our
    /// address when none is configured.
    pub(super) fn bfd_attach(&mut self, id: PeerId, local: Option<IpAddr>, now: Instant) {
        let Some(e) = self.entry(id) else { return };
        let (Some(b), None) = (e.settings.bfd, e.bfd) else {
            return;
        };
        let Some(local) = e.settings.local_address.or(local) else {
            return;
        };
        let remote = e.address();
        // A session is bound to no interface: link-local peers (and peers still without
        // an address) get none.
        let link_local = |a: IpAddr| matches!(a, IpAddr::V6(v6) if v6.is_unicast_link_local());
        if remote.is_unspecified() || link_local(remote) || link_local(local) {
            debug!(peer = %remote, "no BFD session on a link-local address");
            return;
        }
        let key = if e.settings.bfd_multihop() {
            SessionKey::multihop(local, remote)
        } else {
            SessionKey::single_hop(local, remote)
        };
        let settings = session_settings(&e.settings, &b);
        let sid = match self.bfd.endpoint.find(&key) {
            Some(sid) => sid,
            None => match self.bfd.endpoint.add_session(now, key.clone(), settings) {
                Ok(sid) => sid,
                Err(err) => {
                    warn!(peer = %remote, %err, "no BFD session");
                    return;
                }
            },
        };
        self.bfd.users.entry(sid).or_default().push(id);
        self.bfd.orphans.retain(|o| *o != sid);
        let up = self
            .bfd
            .endpoint
            .session(sid)
            .is_some_and(|s| s.state == State::Up);
        if let Some(e) = self.entry_mut(id) {
            e.bfd = Some(sid);
        }
        if up {
            self.bfd_release(id, now);
        }
        self.bfd_pump(now);
    }

    /// A peer stops using its session (it is going); the session goes once no one uses it.
    pub(super) fn bfd_detach(&mut self, id: PeerId, sid: SessionId) {
        if let Some(u) = self.bfd.users.get_mut(&sid) {
            u.retain(|p| *p != id);
            if u.is_empty() {
                self.bfd.users.remove(&sid);
                self.bfd.orphans.push(sid);
            }
        }
    }

    /// New BFD intervals for a running session (a Poll Sequence carries them).
    pub(super) fn bfd_update(&mut self, id: PeerId, now: Instant) {
        let Some(e) = self.entry(id) else { return };
        let (Some(b), Some(sid)) = (e.settings.bfd, e.bfd) else {
            return;
        };
        let (s, peer) = (session_settings(&e.settings, &b), e.address());
        if let Err(err) = self.bfd.endpoint.update_settings(now, sid, s) {
            warn!(%peer, %err, "BFD settings not applied");
        }
    }

    /// Removes the sessions no peer took back, then carries out what the endpoint asks.
    pub(super) fn bfd_pump(&mut self, now: Instant) {
        for sid in std::mem::take(&mut self.bfd.orphans) {
            if self.bfd.users.contains_key(&sid) {
                continue;
            }
            let key = self.bfd.endpoint.session(sid).map(|s| s.key);
            if self.bfd.endpoint.remove_session(now, sid).is_ok()
                && let Some(key) = key
            {
                self.out.push_back(Output::Event(Event::BfdRemoved { key }));
            }
        }
        while let Some(o) = self.bfd.endpoint.poll_output(now) {
            match o {
                bfd::Output::Transmit {
                    local,
                    source_port,
                    to,
                    hop,
                    interface,
                    ttl,
                    bytes,
                    ..
                } => self.out.push_back(Output::BfdTransmit {
                    local,
                    source_port,
                    to,
                    hop,
                    interface,
                    ttl,
                    bytes,
                }),
                bfd::Output::Event(bfd::Event::StateChanged {
                    session,
                    key,
                    from,
                    to,
                    diag,
                    remote_state,
                }) => self.bfd_changed(session, key, (from, to), diag, remote_state, now),
            }
        }
    }

    fn bfd_changed(
        &mut self,
        sid: SessionId,
        key: SessionKey,
        (from, to): (State, State),
        diag: bfd::Diag,
        remote_state: State,
        now: Instant,
    ) {
        let users: SmallVec<[PeerId; 1]> = self.bfd.users.get(&sid).cloned().unwrap_or_default();
        let peers = users
            .iter()
            .filter_map(|id| self.peer_address(*id))
            .collect();
        info!(local = %key.local, remote = %key.remote, %from, %to, %diag, "BFD session");
        self.out.push_back(Output::Event(Event::BfdChanged {
            key,
            peers,
            from,
            to,
            diag,
            remote_state,
        }));
        // The peer said AdminDown: not a failure of the path (RFC 5882 3.2).
        let failed = from == State::Up && to == State::Down && remote_state != State::AdminDown;
        for id in users {
            if to == State::Up {
                self.bfd_release(id, now);
            } else if failed {
                self.bfd_failed(id, diag, now);
            }
        }
    }

    /// BFD is Up: a peer waiting for it starts.
    fn bfd_release(&mut self, id: PeerId, now: Instant) {
        let Some(e) = self.entry_mut(id) else { return };
        if !e.bfd_held {
            return;
        }
        e.bfd_held = false;
        if !e.admin_down {
            info!(peer = %e.address(), "BFD up: the BGP session starts");
            e.fsm.start(now);
            self.after(id, now);
        }
    }

    /// The path failed: the BGP session ends at once (and waits for BFD again with
    /// `wait_for_up`).
    fn bfd_failed(&mut self, id: PeerId, diag: bfd::Diag, now: Instant) {
        let Some(e) = self.entry_mut(id) else { return };
        let Some(b) = e.settings.bfd else { return };
        warn!(peer = %e.address(), %diag, state = %e.fsm.state(), "BFD down: the BGP session ends");
        e.fsm.bfd_down(now, b.graceful);
        if b.wait_for_up {
            e.bfd_held = true;
            e.fsm.stop(now, StopReason::cease(subcode::BFD_DOWN));
        }
        self.after(id, now);
        if let Some(e) = self.entry_mut(id) {
            let why = e.last_error.take().unwrap_or_default();
            e.last_error = Some(format!("BFD down ({diag}): {why}"));
        }
    }

    /// New BFD settings on a peer whose other settings stay: its session is added, removed,
    /// replaced (other hop kind) or given the new intervals.
    pub(super) fn apply_bfd(&mut self, id: PeerId, p: PeerSettings, now: Instant) -> PeerUpdate {
        let local = self
            .entry(id)
            .and_then(|e| e.conns.iter().flatten().find_map(|c| self.conns.get(c)))
            .map(|c| c.local.ip());
        let Some(e) = self.entry_mut(id) else {
            return PeerUpdate::Unchanged;
        };
        let same_key = e.settings.bfd.is_some()
            && p.bfd.is_some()
            && e.settings.bfd_multihop() == p.bfd_multihop();
        e.settings = p;
        let sid = e.bfd;
        match sid {
            Some(_) if same_key => self.bfd_update(id, now),
            Some(sid) => {
                e.bfd = None;
                self.bfd_detach(id, sid);
                self.bfd_attach(id, local, now);
            }
            None => self.bfd_attach(id, local, now),
        }
        self.bfd_pump(now);
        PeerUpdate::BfdApplied
    }

    /// Every session is removed with a last packet in AdminDown, so that the peers do not
    /// take our stop (or graceful restart) for a failure of the path (RFC 5882 3.2).
    pub(super) fn bfd_shutdown(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.bfd.users.drain().map(|(sid, _)| sid).collect();
        for p in self.peers.iter_mut().flatten() {
            p.bfd = None;
        }
        self.bfd.orphans.extend(ids);
        self.bfd_pump(now);
    }

    /// A peer's BFD session, for its status.
    pub(super) fn bfd_status(&self, id: PeerId) -> Option<PeerBfdStatus> {
        let e = self.entry(id)?;
        let b = e.settings.bfd?;
        let s = e.bfd.and_then(|sid| self.bfd.endpoint.session(sid));
        let heard = s.as_ref().filter(|s| s.remote_detect_mult != 0);
        Some(PeerBfdStatus {
            state: s.as_ref().map_or("none".into(), |s| s.state.to_string()),
            remote_state: s
                .as_ref()
                .map_or("none".into(), |s| s.remote_state.to_string()),
            hop: if e.settings.bfd_multihop() {
                "multihop"
            } else {
                "single-hop"
            }
            .into(),
            local: s.as_ref().map(|s| s.key.local),
            local_diag: s
                .as_ref()
                .map_or(String::new(), |s| s.local_diag.to_string()),
            remote_diag: s
                .as_ref()
                .map_or(String::new(), |s| s.remote_diag.to_string()),
            min_rx_ms: ms(b.min_rx),
            min_tx_ms: ms(b.min_tx),
            multiplier: b.multiplier,
            tx_interval_ms: s.as_ref().map(|s| ms(s.tx_interval)),
            detection_time_ms: s.as_ref().and_then(|s| s.detection_time).map(ms),
            remote_min_rx_ms: heard.map(|s| ms(s.remote_required_min_rx)),
            remote_min_tx_ms: heard.map(|s| ms(s.remote_desired_min_tx)),
            remote_multiplier: heard.map(|s| s.remote_detect_mult),
            holding: e.bfd_held,
            up_count: s.as_ref().map_or(0, |s| s.counters.up),
            down_count: s.as_ref().map_or(0, |s| s.counters.down),
            packets_in: s.as_ref().map_or(0, |s| s.counters.packets_in),
            packets_out: s.as_ref().map_or(0, |s| s.counters.packets_out),
            packets_dropped: s.as_ref().map_or(0, |s| s.counters.dropped.total()),
        })
    }

    /// Every BFD session of the endpoint, for metrics.
    pub fn bfd_sessions(&self) -> impl Iterator<Item = bfd::SessionStatus> + '_ {
        self.bfd.endpoint.sessions()
    }

    /// The earliest BFD deadline (included in [`Router::poll_timeout`]), for a driver
    /// that measures how late its timers run.
    pub fn bfd_deadline(&self) -> Option<Instant> {
        self.bfd.endpoint.poll_timeout()
    }

    /// The BFD endpoint's counters, all sessions together.
    pub fn bfd_counters(&self) -> &bfd::Counters {
        self.bfd.endpoint.counters()
    }
}
