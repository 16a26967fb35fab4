//! After a start: the selection deferral of a graceful restart (RFC 4724 4.1), and the
//! moment the tables first settle (every peer's End-of-RIB in, or the wait over), when the
//! kernel's routes from before the start can be reconciled.

use std::time::Instant;

use tracing::info;

use super::Router;
use super::io::{Event, Output};
use super::outbox::Item;
use super::peer::PeerEntry;
use crate::rib::PeerId;
use crate::types::Family;

impl Router {
    /// Whether every peer (configured, connected from a range, or expected from a range
    /// after a restart) is up and has sent End-of-RIB for each of its families. The
    /// configured ones are named from the configuration, not from the peers present: a
    /// configured peer that is missing is no answer.
    pub(super) fn tables_in(&self) -> bool {
        self.peers.iter().flatten().all(PeerEntry::table_in)
            && self
                .cfg
                .peers
                .iter()
                .map(|p| &p.address)
                .chain(&self.cfg.expected_peers)
                .all(|a| {
                    self.by_addr
                        .get(a)
                        .and_then(|id| self.entry(*id))
                        .is_some_and(PeerEntry::table_in)
                })
    }

    /// Ends the selection deferral once every peer sent End-of-RIB (or the time is up):
    /// then each Established peer gets the whole table and End-of-RIB.
    pub(super) fn check_deferral(&mut self, now: Instant) {
        let Some(until) = self.deferring else { return };
        let all_in = self.tables_in();
        if !all_in && now < until {
            return;
        }
        info!(all_in, "selection deferral over; sending tables");
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
