//! What the router reports for monitoring (BMP stations, MRT logs), when asked to with
//! [`Router::set_monitoring`]: sessions up and down with both OPENs, each UPDATE as
//! received (pre-policy), the routes it left in the table (post-policy), and best-route
//! changes (the Loc-RIB, RFC 9069). They come out as [`Output::Monitor`] BMP messages
//! whose per-peer headers carry no time: the owner stamps them with its clock.
//!
//! Off (the default), nothing is encoded and nothing is looked up: the only cost is a
//! check of a flag per UPDATE and per best-route change.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use foldhash::HashMap;
use ipnet::IpNet;

use super::Router;
use super::io::Output;
use super::peer::slot;
use crate::bmp::{
    BmpMessage, PeerDownReason, PeerHeader, PeerUp, Stat, Tlv, info_type, peer_flags, peer_type,
    stat_type,
};
use crate::rib::{BestChange, PeerId, family_of};
use crate::session::{Conn, DownReason, Negotiated};
use crate::types::{Afi, Family, PathId};
use crate::wire::attributes::{MpNlri, MpReach, MpUnreach};
use crate::wire::{
    Capability, Context, Message, NlriEntry, Open, PathAttributes, Prefixes, Update,
};

/// Which tables are reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Monitoring {
    /// Each UPDATE as received (pre-policy Adj-RIB-In).
    pub pre_policy: bool,
    /// The routes each UPDATE left in the table, after the import policy (post-policy
    /// Adj-RIB-In, the L flag).
    pub post_policy: bool,
    /// Best-route changes (Loc-RIB, RFC 9069).
    pub loc_rib: bool,
    /// The UPDATEs sent to each peer (post-policy Adj-RIB-Out, RFC 8671: the O and L
    /// flags).
    pub adj_rib_out: bool,
}

impl Monitoring {
    pub fn is_on(&self) -> bool {
        self.pre_policy || self.post_policy || self.loc_rib || self.adj_rib_out
    }

    /// Whether sessions (Peer Up and Down) are reported: some per-peer table is.
    pub fn sessions(&self) -> bool {
        self.pre_policy || self.post_policy || self.adj_rib_out
    }
}

/// What monitoring keeps of an established session.
#[derive(Debug)]
pub(super) struct Monitored {
    header: PeerHeader,
    /// For what the peer sent, encoded again: four-octet ASNs (the A flag clear), the
    /// peer's ADD-PATH families, any length.
    ctx: Context,
    /// For what is sent to the peer: its ADD-PATH families the other way.
    send_ctx: Context,
    /// The session has two-octet AS numbers: what is sent carries them (the A flag).
    two_octet: bool,
    up: Box<PeerUp>,
}

impl Monitored {
    /// The peer sends NLRI of `family` with path identifiers.
    pub(super) fn receives_add_path(&self, family: Family) -> bool {
        self.ctx.add_path(family)
    }
}

/// The name of the Loc-RIB in its Peer Up (RFC 9069 4.3).
const LOC_RIB_NAME: &str = "global";

impl Router {
    /// Turns the monitoring outputs on or off.
    pub fn set_monitoring(&mut self, m: Monitoring) {
        self.monitoring = m;
    }

    pub fn monitoring(&self) -> Monitoring {
        self.monitoring
    }

    /// Keeps what a session's Peer Up says; reports it when monitoring is on.
    pub(super) fn monitor_up(&mut self, id: PeerId, dir: Conn, n: &Negotiated) {
        let Some(e) = super::peer_mut(&mut self.peers, id) else {
            return;
        };
        let (local, remote) = e.conns[slot(dir)]
            .and_then(|c| self.conns.get(&c))
            .map_or_else(
                || {
                    let r = e.transport().remote;
                    (SocketAddr::new(unspecified(r.ip()), 0), r)
                },
                |c| (c.local, c.remote),
            );
        let sent = e.fsm.session(dir).map(|s| s.config().open());
        let header = PeerHeader::global(e.address(), n.peer_as, n.peer_id);
        let up = Box::new(PeerUp {
            peer: header.clone(),
            local_address: local.ip(),
            local_port: local.port(),
            remote_port: remote.port(),
            sent_open: sent.map(open_bytes).unwrap_or_default(),
            received_open: open_bytes(n.peer_open.clone()),
            information: Vec::new(),
        });
        let ctx = Context {
            four_octet_as: true,
            add_path: n.add_path_receive,
            extended_message: true,
            ..Context::default()
        };
        let send_ctx = Context {
            add_path: n.add_path_send,
            ..ctx
        };
        if self.monitoring.sessions() {
            self.out
                .push_back(Output::Monitor(BmpMessage::PeerUp(up.clone())));
        }
        e.monitored = Some(Box::new(Monitored {
            header,
            ctx,
            send_ctx,
            two_octet: !n.four_octet_as,
            up,
        }));
    }

    pub(super) fn monitor_down(&mut self, id: PeerId, reason: &DownReason) {
        let Some(m) = self.entry_mut(id).and_then(|e| e.monitored.take()) else {
            return;
        };
        if !self.monitoring.sessions() {
            return;
        }
        let reason = match reason {
            DownReason::Sent(n) => {
                PeerDownReason::LocalNotification(message_bytes(Message::Notification(n.clone())))
            }
            DownReason::Received(n) => {
                PeerDownReason::RemoteNotification(message_bytes(Message::Notification(n.clone())))
            }
            DownReason::ConnectionLost => PeerDownReason::RemoteNoData,
        };
        self.out.push_back(Output::Monitor(BmpMessage::PeerDown {
            peer: m.header,
            reason,
        }));
    }

    /// An UPDATE as received, before the RIB takes it.
    pub(super) fn monitor_received(&mut self, id: PeerId, u: &Update) {
        if !self.monitoring.pre_policy {
            return;
        }
        let Some(m) = self.entry(id).and_then(|e| e.monitored.as_deref()) else {
            return;
        };
        if let Some(update) = update_message(u, &m.ctx) {
            let msg = BmpMessage::RouteMonitoring {
                peer: m.header.clone(),
                update,
            };
            self.out.push_back(Output::Monitor(msg));
        }
    }

    /// What an UPDATE left in the table: each prefix's path from the peer after the
    /// import policy, or its withdrawal when none is left.
    pub(super) fn monitor_accepted(&mut self, id: PeerId, u: &Update) {
        if !self.monitoring.post_policy {
            return;
        }
        let Some(m) = self.entry(id).and_then(|e| e.monitored.as_deref()) else {
            return;
        };
        let header = m.header.clone().with_flags(peer_flags::L);
        let mut batch = Batcher::default();
        let entries = u
            .announced()
            .chain(u.withdrawals())
            .flat_map(|(_, p)| p.iter());
        for NlriEntry { path_id, prefix } in entries {
            let pid = path_id.unwrap_or(0);
            let path = self.rib.get(&prefix).and_then(|d| {
                d.paths()
                    .iter()
                    .find(|p| p.peer() == id && p.path_id() == pid)
            });
            batch.add(prefix, path_id, path.map(|p| &**p.attrs()));
        }
        let msgs: Vec<Output> = batch
            .finish(&m.ctx)
            .into_iter()
            .map(|update| {
                Output::Monitor(BmpMessage::RouteMonitoring {
                    peer: header.clone(),
                    update,
                })
            })
            .collect();
        self.out.extend(msgs);
    }

    /// The UPDATEs of a transmission, as sent (the Adj-RIB-Out after the export policy).
    pub(super) fn monitor_sent(&mut self, o: &Output) {
        let Output::Transmit { conn, messages } = o else {
            return;
        };
        let Some(m) = self
            .conns
            .get(conn)
            .and_then(|c| self.entry(c.peer))
            .and_then(|e| e.monitored.as_deref())
        else {
            return;
        };
        let mut flags = peer_flags::O | peer_flags::L;
        if m.two_octet {
            flags |= peer_flags::A;
        }
        let header = m.header.clone().with_flags(flags);
        let msgs: Vec<Output> = messages
            .iter()
            .filter(|b| b.get(18) == Some(&crate::wire::msg_type::UPDATE))
            .map(|b| {
                Output::Monitor(BmpMessage::RouteMonitoring {
                    peer: header.clone(),
                    update: b.clone(),
                })
            })
            .collect();
        self.out.extend(msgs);
    }

    /// Best-route changes, for the Loc-RIB.
    pub(super) fn monitor_best(&mut self, changes: &[BestChange]) {
        if !self.monitoring.loc_rib {
            return;
        }
        let header = self.loc_rib_header();
        let ctx = Context {
            extended_message: true,
            ..Context::default()
        };
        let mut batch = Batcher::default();
        for c in changes {
            batch.add(c.prefix, None, c.best.as_ref().map(|p| &**p.attrs()));
        }
        for update in batch.finish(&ctx) {
            self.out
                .push_back(Output::Monitor(BmpMessage::RouteMonitoring {
                    peer: header.clone(),
                    update,
                }));
        }
    }

    fn loc_rib_header(&self) -> PeerHeader {
        PeerHeader {
            peer_type: peer_type::LOC_RIB,
            flags: 0,
            distinguisher: 0,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            asn: self.cfg.asn,
            bgp_id: self.cfg.router_id,
            seconds: 0,
            micros: 0,
        }
    }

    /// What a station that just connected is told of the present: a Peer Up for each
    /// established session and its routes after the import policy (the L flag: the
    /// routes as received are not kept) and, with the Adj-RIB-Out monitored, what it is
    /// sent; then, with the Loc-RIB monitored, its Peer Up and the best routes.
    pub fn monitor_snapshot(&self) -> Vec<BmpMessage> {
        let mut out = Vec::new();
        for e in self.peers.iter().flatten() {
            let Some(m) = e
                .monitored
                .as_deref()
                .filter(|_| self.monitoring.sessions())
            else {
                continue;
            };
            out.push(BmpMessage::PeerUp(m.up.clone()));
            if self.monitoring.adj_rib_out {
                let header = m.header.clone().with_flags(peer_flags::O | peer_flags::L);
                let sent = self.rib.adj_rib_out(e.id);
                let mut batch = Batcher::default();
                for (prefix, id, a) in &sent {
                    batch.add(*prefix, Some(*id), Some(a));
                }
                out.extend(batch.finish(&m.send_ctx).into_iter().map(|update| {
                    BmpMessage::RouteMonitoring {
                        peer: header.clone(),
                        update,
                    }
                }));
            }
            if self.monitoring.pre_policy || self.monitoring.post_policy {
                let header = m.header.clone().with_flags(peer_flags::L);
                let mut batch = Batcher::default();
                for (prefix, d) in self.rib.iter() {
                    for p in d.paths().iter().filter(|p| p.peer() == e.id) {
                        batch.add(prefix, Some(p.path_id()), Some(p.attrs()));
                    }
                }
                out.extend(batch.finish(&m.ctx).into_iter().map(|update| {
                    BmpMessage::RouteMonitoring {
                        peer: header.clone(),
                        update,
                    }
                }));
            }
        }
        if self.monitoring.loc_rib {
            self.loc_rib_snapshot(&mut out);
        }
        out
    }

    /// A Statistics Report per established session: routes from the peer (type 7: as
    /// received where the routes before the import policy are kept, else as accepted;
    /// type 9: accepted, per family), routes sent (type 15); and, with the Loc-RIB
    /// monitored, its route count (type 8).
    pub fn monitor_statistics(&self) -> Vec<BmpMessage> {
        let mut out = Vec::new();
        for e in self.peers.iter().flatten() {
            let Some(m) = e.monitored.as_deref() else {
                continue;
            };
            let (_, received) = self.rib.peer_counts(e.id).unwrap_or_default();
            let (v4, v6) = self.rib.peer_counts_by_family(e.id).unwrap_or_default();
            let (out4, out6) = self.rib.advertised(e.id);
            let family = |f: Family, value| Stat::FamilyGauge {
                kind: stat_type::ADJ_RIB_IN_FAMILY,
                afi: f.afi.0,
                safi: f.safi.0,
                value,
            };
            out.push(BmpMessage::StatisticsReport {
                peer: m.header.clone(),
                stats: vec![
                    Stat::Gauge(stat_type::ADJ_RIB_IN, received),
                    family(Family::IPV4_UNICAST, v4),
                    family(Family::IPV6_UNICAST, v6),
                    Stat::Gauge(stat_type::ADJ_RIB_OUT_POST, out4 + out6),
                ],
            });
        }
        if self.monitoring.loc_rib {
            out.push(BmpMessage::StatisticsReport {
                peer: self.loc_rib_header(),
                stats: vec![Stat::Gauge(stat_type::LOC_RIB, self.best_count)],
            });
        }
        out
    }

    fn loc_rib_snapshot(&self, out: &mut Vec<BmpMessage>) {
        let header = self.loc_rib_header();
        let caps = vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::FourOctetAs(self.cfg.asn),
        ];
        let open = open_bytes(Open::new(self.cfg.asn, 0, self.cfg.router_id, caps));
        out.push(BmpMessage::PeerUp(Box::new(PeerUp {
            peer: header.clone(),
            local_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            local_port: 0,
            remote_port: 0,
            sent_open: open.clone(),
            received_open: open,
            information: vec![Tlv::string(info_type::VRF_TABLE_NAME, LOC_RIB_NAME)],
        })));
        let ctx = Context {
            extended_message: true,
            ..Context::default()
        };
        let mut batch = Batcher::default();
        for (prefix, d) in self.rib.iter() {
            if let Some(best) = d.best() {
                batch.add(prefix, None, Some(best.attrs()));
            }
        }
        out.extend(
            batch
                .finish(&ctx)
                .into_iter()
                .map(|update| BmpMessage::RouteMonitoring {
                    peer: header.clone(),
                    update,
                }),
        );
    }
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

fn message_bytes(m: Message) -> Bytes {
    let mut b = BytesMut::new();
    let ctx = Context {
        extended_message: true,
        ..Context::default()
    };
    // An OPEN or NOTIFICATION always fits an extended message.
    let _ = m.encode(&ctx, &mut b);
    b.freeze()
}

fn open_bytes(o: Open) -> Bytes {
    message_bytes(Message::Open(o))
}

/// An UPDATE as the peer sent it, encoded again with `ctx`.
fn update_message(u: &Update, ctx: &Context) -> Option<Bytes> {
    let mut b = BytesMut::with_capacity(64);
    b.put_bytes(0xff, 16);
    b.put_u16(0);
    b.put_u8(crate::wire::msg_type::UPDATE);
    u.write_body(ctx, &mut b).ok()?;
    let len = u16::try_from(b.len()).ok()?;
    b[16..18].copy_from_slice(&len.to_be_bytes());
    Some(b.freeze())
}

/// Prefixes an UPDATE of monitoring carries at most (well within an extended message).
const BATCH: usize = 1000;

/// Routes gathered into UPDATEs: announcements by attribute set (the same set, by
/// address), withdrawals by family, in the order first seen.
#[derive(Default)]
struct Batcher<'a> {
    groups: Vec<(Family, Option<&'a PathAttributes>, Vec<NlriEntry>)>,
    index: HashMap<(Family, usize), usize>,
}

impl<'a> Batcher<'a> {
    /// A route with `attrs`, or its withdrawal without; `path_id` is written where the
    /// context has ADD-PATH for the family (0 when none is given).
    fn add(&mut self, prefix: IpNet, path_id: Option<PathId>, attrs: Option<&'a PathAttributes>) {
        let family = family_of(&prefix);
        let key = (
            family,
            attrs.map_or(0, |a| a as *const PathAttributes as usize),
        );
        let groups = &mut self.groups;
        let i = *self.index.entry(key).or_insert_with(|| {
            groups.push((family, attrs, Vec::new()));
            groups.len() - 1
        });
        self.groups[i].2.push(NlriEntry { path_id, prefix });
    }

    fn finish(self, ctx: &Context) -> Vec<Bytes> {
        let mut out = Vec::new();
        for (family, attrs, entries) in &self.groups {
            for chunk in entries.chunks(BATCH) {
                out.extend(routes_update(*family, chunk, *attrs, ctx));
            }
        }
        out
    }
}

/// An UPDATE announcing `entries` of `family` with `attrs`, or withdrawing them without;
/// `None` for routes that cannot be written (IPv6 without an IPv6 next hop).
fn routes_update(
    family: Family,
    entries: &[NlriEntry],
    attrs: Option<&PathAttributes>,
    ctx: &Context,
) -> Option<Bytes> {
    let ap = ctx.add_path(family);
    let entries = entries.iter().map(|e| NlriEntry {
        path_id: if ap {
            Some(e.path_id.unwrap_or(0))
        } else {
            None
        },
        prefix: e.prefix,
    });
    let p = Prefixes::from_entries(family.afi, ap, entries).ok()?;
    let empty = || Prefixes::empty(Afi::IPV4, false);
    let v4 = family == Family::IPV4_UNICAST;
    let u = match attrs {
        None if v4 => Update::new(p, PathAttributes::default(), empty()),
        None => {
            let a = PathAttributes {
                mp_unreach: Some(MpUnreach {
                    family,
                    nlri: MpNlri::Prefixes(p),
                }),
                ..PathAttributes::default()
            };
            Update::new(empty(), a, empty())
        }
        Some(a) if v4 && a.mp_reach.is_none() => Update::new(empty(), a.clone(), p),
        Some(a) => {
            let mut a = a.clone();
            let next_hop = a.mp_reach.take()?.next_hop;
            a.mp_reach = Some(MpReach {
                family,
                next_hop,
                nlri: MpNlri::Prefixes(p),
            });
            if !v4 {
                a.next_hop = None;
            }
            Update::new(empty(), a, empty())
        }
    };
    update_message(&u, ctx)
}
