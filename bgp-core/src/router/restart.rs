//! After a start: the selection deferral of a graceful restart (RFC 4724 4.1), and the
//! moment the tables first settle (every peer's End-of-RIB in, or the wait over), when the
//! kernel's routes from before the start can be reconciled.

use std::time::Instant;

use std::net::IpAddr;

use tracing::{info, warn};

use super::Router;
use super::io::{Event, Output};
use super::outbox::Item;
use super::peer::PeerEntry;
use crate::rib::PeerId;
use crate::types::Family;

impl Router {
    /// The peers whose tables are awaited after a start. When the peers that held our
    /// routes are known (`expected_peers`): those of them not present yet, or present and
    /// not done (up with graceful restart and End-of-RIB not in for each family, or not up
    /// yet). Otherwise: every peer present that is not done, and every listed peer with
    /// graceful restart configured not present yet. A peer without graceful restart is
    /// not waited for (RFC 4724 4.1).
    pub(super) fn waiting_for(&self) -> Vec<IpAddr> {
        let present = |a: &IpAddr| self.by_addr.get(a).and_then(|id| self.entry(*id));
        let mut v: Vec<IpAddr> = match &self.cfg.expected_peers {
            Some(expected) => expected
                .iter()
                .filter(|a| present(a).is_none_or(PeerEntry::deferral_waits))
                .copied()
                .collect(),
            None => {
                let mut v: Vec<IpAddr> = self
                    .peers
                    .iter()
                    .flatten()
                    .filter(|e| e.deferral_waits())
                    .map(PeerEntry::address)
                    .collect();
                for p in self
                    .cfg
                    .peers
                    .iter()
                    .filter(|p| p.graceful_restart.is_some())
                {
                    if present(&p.address).is_none() && !v.contains(&p.address) {
                        v.push(p.address);
                    }
                }
                v
            }
        };
        v.sort();
        v.dedup();
        v
    }

    /// Whether every peer's table is in (see [`Router::waiting_for`]).
    pub(super) fn tables_in(&self) -> bool {
        self.waiting_for().is_empty()
    }

    /// Ends the selection deferral once every peer sent End-of-RIB (or the time is up):
    /// then each Established peer gets the whole table and End-of-RIB.
    pub(super) fn check_deferral(&mut self, now: Instant) {
        let Some(until) = self.deferring else { return };
        let waiting = self.waiting_for();
        if !waiting.is_empty() && now < until {
            return;
        }
        if waiting.is_empty() {
            info!("selection deferral over: every graceful-restart peer's table is in");
        } else {
            warn!(
                missing = %list(&waiting),
                "selection deferral over by its time; sending tables"
            );
        }
        self.deferring = None;
        // What the groups remembered meanwhile is in the tables.
        self.rib.flush_all(now);
        let up: Vec<(PeerId, Vec<Family>)> = self
            .peers
            .iter()
            .flatten()
            .filter_map(|e| e.up.as_ref().map(|u| (e.id, u.families.clone())))
            .collect();
        for (id, families) in up {
            let table = self.rib.full_table(id);
            let eor = families.into_iter().map(Item::EndOfRib);
            self.queue(id, std::iter::once(Item::Table(table)).chain(eor));
        }
    }

    /// Declares the tables settled, once: when a peer's End-of-RIB completes them
    /// (`eor`), or at the deadline. (Not merely because no peer is there yet: peers from
    /// ranges come back after a restart.)
    pub(super) fn check_settled(&mut self, now: Instant, eor: bool) {
        let Some(by) = self.settle_by else { return };
        if now < by && !(eor && self.tables_in()) {
            return;
        }
        self.settle_by = None;
        info!("routes settled after the start");
        self.out.push_back(Output::Event(Event::RoutesSettled));
    }
}

/// Addresses for a log line: `a, b, c`.
pub(super) fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
