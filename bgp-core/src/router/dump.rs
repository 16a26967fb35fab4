//! The RIB as an MRT TABLE_DUMP_V2 snapshot (RFC 6396 4.3, RFC 8050 4).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bytes::Bytes;

use super::Router;
use crate::mrt::{PeerEntry, PeerIndexTable, Record, RecordBody, RibEntry, RibRecord, record_type};
use crate::rib::{LOCAL, PeerId, family_of};
use crate::wire::attributes::MpNlri;
use crate::wire::{Context, PathAttributes};

impl Router {
    /// The RIB as TABLE_DUMP_V2 records stamped `timestamp` (seconds since the Unix epoch,
    /// the owner's clock at `now`): the peer index table (index 0 is this router, for its
    /// own routes; then every peer), then one RIB record per prefix with every path. A
    /// prefix whose paths carry ADD-PATH identifiers gets the `_ADDPATH` subtype. A path's
    /// originated time is when its session came up.
    pub fn table_dump(&self, now: Instant, timestamp: u32) -> Vec<Record> {
        let mut index: HashMap<PeerId, u16> = HashMap::new();
        let mut peers = vec![PeerEntry {
            bgp_id: self.cfg.router_id,
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            asn: self.cfg.asn,
        }];
        let mut since: HashMap<PeerId, u32> = HashMap::new();
        index.insert(LOCAL, 0);
        for e in self.peers.iter().flatten() {
            if peers.len() > usize::from(u16::MAX) {
                break;
            }
            index.insert(e.id, peers.len() as u16);
            peers.push(PeerEntry {
                bgp_id: e.up.as_ref().map_or(Ipv4Addr::UNSPECIFIED, |u| u.router_id),
                ip: e.address(),
                asn: e.settings.asn,
            });
            let age = now.saturating_duration_since(e.since).as_secs();
            since.insert(e.id, timestamp.saturating_sub(age as u32));
        }
        let record = |subtype, body| Record {
            timestamp,
            microseconds: None,
            kind: record_type::TABLE_DUMP_V2,
            subtype,
            body,
        };
        let mut out = vec![record(
            1,
            RecordBody::PeerIndexTable(PeerIndexTable {
                collector_id: self.cfg.router_id,
                view_name: String::new(),
                peers,
            }),
        )];
        let ctx = crate::mrt::rib_context();
        let mut blocks: HashMap<*const PathAttributes, Bytes> = HashMap::new();
        for (prefix, d) in self.rib.iter() {
            let family = family_of(&prefix);
            let add_path = d.paths().iter().any(|p| {
                p.path_id() != 0
                    || self
                        .entry(p.peer())
                        .and_then(|e| e.monitored.as_deref())
                        .is_some_and(|m| m.receives_add_path(family))
            });
            let entries = d
                .paths()
                .iter()
                .filter_map(|p| {
                    let peer_index = *index.get(&p.peer())?;
                    let attrs: &PathAttributes = p.attrs();
                    let block = blocks
                        .entry(attrs as *const PathAttributes)
                        .or_insert_with(|| rib_block(attrs, &ctx))
                        .clone();
                    Some(RibEntry {
                        peer_index,
                        originated: since.get(&p.peer()).copied().unwrap_or(timestamp),
                        path_id: add_path.then_some(p.path_id()),
                        attributes: block,
                    })
                })
                .collect();
            let sequence = (out.len() - 1) as u32;
            out.push(record(
                crate::mrt::rib_subtype(family, add_path),
                RecordBody::Rib(RibRecord {
                    sequence,
                    family,
                    prefix: Some(prefix),
                    entries,
                }),
            ));
        }
        out
    }
}

/// A path's attributes as a RIB entry holds them: four-octet AS numbers, MP_REACH_NLRI
/// with only its next hop.
fn rib_block(attrs: &PathAttributes, ctx: &Context) -> Bytes {
    let r = if let Some(m) = &attrs.mp_reach {
        let mut a = attrs.clone();
        if let Some(m2) = a.mp_reach.as_mut() {
            m2.nlri = MpNlri::Opaque(Bytes::new());
        }
        let _ = m;
        a.to_block(ctx)
    } else {
        attrs.to_block(ctx)
    };
    r.unwrap_or_default()
}
