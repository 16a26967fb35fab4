//! Reading: [`MrtReader`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use ipnet::IpNet;
use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u32};

use crate::types::{Afi, Asn, Family, FamilySet, PathId, Safi};
use crate::wire::context::Context;
use crate::wire::nlri::Prefixes;
use crate::wire::open::{AddPathMode, Capability, Open};
use crate::wire::{DecodeError, Message};

/// MRT record types.
pub mod record_type {
    pub const TABLE_DUMP: u16 = 12;
    pub const TABLE_DUMP_V2: u16 = 13;
    pub const BGP4MP: u16 = 16;
    pub const BGP4MP_ET: u16 = 17;
}

/// A record that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MrtError {
    #[error("record at offset {offset}: header truncated")]
    TruncatedHeader { offset: usize },
    #[error("record at offset {offset}: length {length} runs past the end of the data")]
    TruncatedRecord { offset: usize, length: u32 },
    #[error("record at offset {offset} (type {kind}, subtype {subtype}): {reason}")]
    Malformed {
        offset: usize,
        kind: u16,
        subtype: u16,
        reason: &'static str,
    },
}

/// One MRT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub timestamp: u32,
    /// Microseconds, for the `_ET` record types.
    pub microseconds: Option<u32>,
    pub kind: u16,
    pub subtype: u16,
    pub body: RecordBody,
}

/// The body of a record, by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordBody {
    Bgp4mpMessage(Bgp4mpMessage),
    Bgp4mpStateChange(Bgp4mpStateChange),
    PeerIndexTable(PeerIndexTable),
    Rib(RibRecord),
    TableDump(TableDumpEntry),
    /// A type or subtype this reader does not interpret.
    Unsupported(Bytes),
}

/// The addresses and AS numbers of a BGP4MP record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bgp4mpPeer {
    pub peer_as: Asn,
    pub local_as: Asn,
    pub interface_index: u16,
    pub peer_ip: IpAddr,
    pub local_ip: IpAddr,
}

/// BGP4MP MESSAGE and its AS4, LOCAL and ADDPATH variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bgp4mpMessage {
    pub peer: Bgp4mpPeer,
    /// The record says the session used four-octet AS numbers.
    pub four_octet_as: bool,
    /// The record says NLRI carry path identifiers (RFC 8050).
    pub add_path: bool,
    /// The message was sent by the local side (the `_LOCAL` subtypes).
    pub local: bool,
    /// The whole BGP message, header included.
    pub message: Bytes,
}

impl Bgp4mpMessage {
    /// The decoding context the record implies.
    pub fn context(&self) -> Context {
        Context {
            four_octet_as: self.four_octet_as,
            add_path: if self.add_path {
                [
                    Family::IPV4_UNICAST,
                    Family::IPV6_UNICAST,
                    Family::IPV4_MULTICAST,
                    Family::IPV6_MULTICAST,
                ]
                .into_iter()
                .collect()
            } else {
                FamilySet::EMPTY
            },
            // A capture may hold extended messages; accept what the record holds.
            extended_message: true,
            ..Context::default()
        }
    }
}

/// Follows the OPEN messages of a capture so that later messages of the same session are
/// decoded with what the session negotiated. Some writers record ADD-PATH sessions with the
/// plain MESSAGE subtypes; the OPENs tell.
#[derive(Debug, Default)]
pub struct SessionTracker {
    opens: HashMap<(IpAddr, IpAddr), [Option<Open>; 2]>,
}

impl SessionTracker {
    pub fn new() -> SessionTracker {
        SessionTracker::default()
    }

    /// Records an OPEN carried by `m`.
    pub fn observe_open(&mut self, m: &Bgp4mpMessage, open: &Open) {
        let slot = self
            .opens
            .entry((m.peer.peer_ip, m.peer.local_ip))
            .or_default();
        slot[usize::from(m.local)] = Some(open.clone());
    }

    /// The context for decoding `m`: the record's own, with ADD-PATH turned on for the
    /// families where the sender's OPEN offers to send and the receiver's, when captured,
    /// to receive. The second value is true when the receiver's OPEN was not captured, so
    /// the ADD-PATH setting is a guess.
    pub fn context(&self, m: &Bgp4mpMessage) -> (Context, bool) {
        let mut ctx = m.context();
        let Some(opens) = self.opens.get(&(m.peer.peer_ip, m.peer.local_ip)) else {
            return (ctx, false);
        };
        let modes = |o: &Option<Open>| -> Vec<(Family, AddPathMode)> {
            o.iter()
                .flat_map(|o| o.capabilities())
                .filter_map(|c| match c {
                    Capability::AddPath(v) => Some(v.clone()),
                    _ => None,
                })
                .flatten()
                .collect()
        };
        let sender = modes(&opens[usize::from(m.local)]);
        let receiver = &opens[usize::from(!m.local)];
        let receiver_modes = modes(receiver);
        let mut guessed = false;
        for (family, mode) in sender {
            let receives = receiver.is_none()
                || receiver_modes
                    .iter()
                    .any(|(f, r)| *f == family && r.can_receive());
            if mode.can_send() && receives {
                ctx.add_path.insert(family);
                guessed |= receiver.is_none();
            }
        }
        (ctx, guessed)
    }

    /// Decodes the message of `m` with the session's context, recording OPENs. When the
    /// ADD-PATH setting is a guess and the message does not decode with it, the message is
    /// decoded without ADD-PATH. Returns the message and the context used.
    pub fn decode(&mut self, m: &Bgp4mpMessage) -> (Result<Message, DecodeError>, Context) {
        let (ctx, guessed) = self.context(m);
        let mut result = (Message::decode(&m.message, &ctx), ctx);
        if guessed && result.0.is_err() {
            let plain = Context {
                add_path: FamilySet::EMPTY,
                ..ctx
            };
            if let Ok(msg) = Message::decode(&m.message, &plain) {
                result = (Ok(msg), plain);
            }
        }
        if let Ok(Message::Open(o)) = &result.0 {
            self.observe_open(m, o);
        }
        result
    }
}

/// BGP4MP STATE_CHANGE and STATE_CHANGE_AS4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bgp4mpStateChange {
    pub peer: Bgp4mpPeer,
    pub old_state: u16,
    pub new_state: u16,
}

/// TABLE_DUMP_V2 PEER_INDEX_TABLE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIndexTable {
    pub collector_id: Ipv4Addr,
    pub view_name: String,
    pub peers: Vec<PeerEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerEntry {
    pub bgp_id: Ipv4Addr,
    pub ip: IpAddr,
    pub asn: Asn,
}

/// TABLE_DUMP_V2 RIB records (unicast, multicast, generic; plain or ADD-PATH).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibRecord {
    pub sequence: u32,
    pub family: Family,
    /// The prefix, for IP families.
    pub prefix: Option<IpNet>,
    pub entries: Vec<RibEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibEntry {
    pub peer_index: u16,
    pub originated: u32,
    pub path_id: Option<PathId>,
    /// Path attributes, four-octet AS, MP_REACH_NLRI abbreviated ([`rib_context`]).
    pub attributes: Bytes,
}

/// The context for attributes of TABLE_DUMP_V2 RIB entries (RFC 6396 4.3.4).
pub fn rib_context() -> Context {
    Context {
        four_octet_as: true,
        mrt_rib_entry: true,
        extended_message: true,
        ..Context::default()
    }
}

/// Legacy TABLE_DUMP (type 12) entry; attributes use two-octet AS numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDumpEntry {
    pub view: u16,
    pub sequence: u16,
    pub prefix: IpNet,
    pub status: u8,
    pub originated: u32,
    pub peer_ip: IpAddr,
    pub peer_as: Asn,
    pub attributes: Bytes,
}

/// Iterator over the records of a capture.
#[derive(Debug)]
pub struct MrtReader {
    data: Bytes,
    offset: usize,
    failed: bool,
}

impl MrtReader {
    pub fn new(data: Bytes) -> MrtReader {
        MrtReader {
            data,
            offset: 0,
            failed: false,
        }
    }
}

impl Iterator for MrtReader {
    type Item = Result<Record, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.data.len() {
            return None;
        }
        let offset = self.offset;
        let rest = &self.data[offset..];
        let header: IResult<&[u8], (u32, u16, u16, u32)> =
            (be_u32, be_u16, be_u16, be_u32).parse(rest);
        let Ok((_, (timestamp, kind, subtype, length))) = header else {
            self.failed = true;
            return Some(Err(MrtError::TruncatedHeader { offset }));
        };
        let end = offset
            .checked_add(12)
            .and_then(|s| s.checked_add(length as usize))
            .filter(|e| *e <= self.data.len());
        let Some(end) = end else {
            self.failed = true;
            return Some(Err(MrtError::TruncatedRecord { offset, length }));
        };
        let mut body = self.data.slice(offset + 12..end);
        self.offset = end;
        let malformed = |reason| MrtError::Malformed {
            offset,
            kind,
            subtype,
            reason,
        };
        let mut microseconds = None;
        if kind == record_type::BGP4MP_ET {
            if body.len() < 4 {
                return Some(Err(malformed("missing microseconds")));
            }
            microseconds = Some(u32::from_be_bytes([body[0], body[1], body[2], body[3]]));
            body = body.slice(4..);
        }
        let parsed = match kind {
            record_type::BGP4MP | record_type::BGP4MP_ET => parse_bgp4mp(subtype, &body),
            record_type::TABLE_DUMP_V2 => parse_table_dump_v2(subtype, &body),
            record_type::TABLE_DUMP => parse_table_dump(subtype, &body),
            _ => Ok(RecordBody::Unsupported(body.clone())),
        };
        Some(parsed.map_err(malformed).map(|body| Record {
            timestamp,
            microseconds,
            kind,
            subtype,
            body,
        }))
    }
}

type Res<'a, T> = IResult<&'a [u8], T>;

fn ip(afi: u16) -> impl Fn(&[u8]) -> Res<'_, IpAddr> {
    move |i| {
        if afi == 2 {
            let (i, b) = take(16usize)(i)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Ok((i, IpAddr::V6(Ipv6Addr::from(a))))
        } else {
            let (i, b) = take(4usize)(i)?;
            Ok((i, IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))))
        }
    }
}

fn asn(four: bool) -> impl Fn(&[u8]) -> Res<'_, Asn> {
    move |i| {
        if four {
            be_u32(i)
        } else {
            be_u16.map(u32::from).parse(i)
        }
    }
}

fn peer_header(i: &[u8], four: bool) -> Res<'_, Bgp4mpPeer> {
    let (i, (peer_as, local_as, interface_index, afi)) =
        (asn(four), asn(four), be_u16, be_u16).parse(i)?;
    let (i, (peer_ip, local_ip)) = (ip(afi), ip(afi)).parse(i)?;
    Ok((
        i,
        Bgp4mpPeer {
            peer_as,
            local_as,
            interface_index,
            peer_ip,
            local_ip,
        },
    ))
}

fn parse_bgp4mp(subtype: u16, body: &Bytes) -> Result<RecordBody, &'static str> {
    let four = matches!(subtype, 4 | 5 | 7 | 9 | 11);
    match subtype {
        0 | 5 => {
            let (_, (peer, old_state, new_state)) = (|i| peer_header(i, four), be_u16, be_u16)
                .parse(body)
                .map_err(|_| "state change truncated")?;
            Ok(RecordBody::Bgp4mpStateChange(Bgp4mpStateChange {
                peer,
                old_state,
                new_state,
            }))
        }
        1 | 4 | 6 | 7 | 8 | 9 | 10 | 11 => {
            let (rest, peer) = peer_header(body, four).map_err(|_| "message header truncated")?;
            Ok(RecordBody::Bgp4mpMessage(Bgp4mpMessage {
                peer,
                four_octet_as: four,
                add_path: subtype >= 8,
                local: matches!(subtype, 6 | 7 | 10 | 11),
                message: body.slice_ref(rest),
            }))
        }
        _ => Ok(RecordBody::Unsupported(body.clone())),
    }
}

fn parse_table_dump_v2(subtype: u16, body: &Bytes) -> Result<RecordBody, &'static str> {
    match subtype {
        1 => parse_peer_index(body)
            .map(|(_, t)| RecordBody::PeerIndexTable(t))
            .map_err(|_| "peer index table truncated"),
        // RIB_GENERIC of a family without IP prefixes (VPN, flowspec, ...) is kept whole.
        6 | 12 if !generic_has_ip_prefixes(body) => Ok(RecordBody::Unsupported(body.clone())),
        2..=6 | 8..=12 => parse_rib(subtype, body).map(RecordBody::Rib),
        _ => Ok(RecordBody::Unsupported(body.clone())),
    }
}

fn generic_has_ip_prefixes(body: &[u8]) -> bool {
    match body.get(4..7) {
        Some(&[a0, a1, safi]) => {
            Family::new(Afi(u16::from_be_bytes([a0, a1])), Safi(safi)).has_ip_prefixes()
        }
        _ => true,
    }
}

fn parse_peer_index(i: &[u8]) -> Res<'_, PeerIndexTable> {
    let (i, collector) = be_u32(i)?;
    let (i, name_len) = be_u16(i)?;
    let (i, name) = take(name_len)(i)?;
    let (mut i, count) = be_u16(i)?;
    let mut peers = Vec::with_capacity(usize::from(count).min(i.len() / 7));
    for _ in 0..count {
        let (r, (ptype, bgp_id)) = (be_u8, be_u32).parse(i)?;
        let (r, addr) = ip(if ptype & 1 != 0 { 2 } else { 1 })(r)?;
        let (r, a) = asn(ptype & 2 != 0)(r)?;
        peers.push(PeerEntry {
            bgp_id: Ipv4Addr::from(bgp_id),
            ip: addr,
            asn: a,
        });
        i = r;
    }
    Ok((
        i,
        PeerIndexTable {
            collector_id: Ipv4Addr::from(collector),
            view_name: String::from_utf8_lossy(name).into_owned(),
            peers,
        },
    ))
}

/// Reads one prefix of `afi` in NLRI encoding, returning it and the rest.
fn one_prefix(afi: Afi, i: &[u8]) -> Result<(IpNet, &[u8]), &'static str> {
    let bits = *i.first().ok_or("prefix missing")?;
    let n = 1 + usize::from(bits).div_ceil(8);
    let wire = i.get(..n).ok_or("prefix truncated")?;
    let wire = Bytes::copy_from_slice(wire);
    let p = Prefixes::parse(afi, false, &wire, 0..wire.len())
        .map_err(|e| e.as_str())?
        .iter()
        .next()
        .ok_or("prefix missing")?
        .prefix;
    Ok((p, &i[n..]))
}

fn parse_rib(subtype: u16, body: &Bytes) -> Result<RibRecord, &'static str> {
    let add_path = subtype >= 8;
    let truncated = |_| "RIB record truncated";
    let (i, sequence) = be_u32::<_, nom::error::Error<&[u8]>>(&body[..]).map_err(truncated)?;
    let (family, prefix, mut i) = match subtype {
        2 | 8 => {
            let (p, r) = one_prefix(Afi::IPV4, i)?;
            (Family::IPV4_UNICAST, Some(p), r)
        }
        3 | 9 => {
            let (p, r) = one_prefix(Afi::IPV4, i)?;
            (Family::IPV4_MULTICAST, Some(p), r)
        }
        4 | 10 => {
            let (p, r) = one_prefix(Afi::IPV6, i)?;
            (Family::IPV6_UNICAST, Some(p), r)
        }
        5 | 11 => {
            let (p, r) = one_prefix(Afi::IPV6, i)?;
            (Family::IPV6_MULTICAST, Some(p), r)
        }
        _ => {
            // RIB_GENERIC: AFI, SAFI, then one NLRI of that family.
            let (r, (afi, safi)) = (be_u16::<_, nom::error::Error<&[u8]>>, be_u8)
                .parse(i)
                .map_err(truncated)?;
            let family = Family::new(Afi(afi), Safi(safi));
            if !family.has_ip_prefixes() {
                return Err("RIB_GENERIC of a family without IP prefixes");
            }
            let r = if add_path {
                r.get(4..).ok_or("truncated")?
            } else {
                r
            };
            let (p, r) = one_prefix(family.afi, r)?;
            (family, Some(p), r)
        }
    };
    let (r, count) = be_u16::<_, nom::error::Error<&[u8]>>(i).map_err(truncated)?;
    i = r;
    let mut entries = Vec::with_capacity(usize::from(count).min(i.len() / 8));
    for _ in 0..count {
        let (r, (peer_index, originated)) = (be_u16::<_, nom::error::Error<&[u8]>>, be_u32)
            .parse(i)
            .map_err(truncated)?;
        let (r, path_id) = if add_path {
            let (r, id) = be_u32::<_, nom::error::Error<&[u8]>>(r).map_err(truncated)?;
            (r, Some(id))
        } else {
            (r, None)
        };
        let (r, attrs) = (|i| {
            let (i, len) = be_u16(i)?;
            take(len)(i)
        })(r)
        .map_err(truncated)?;
        entries.push(RibEntry {
            peer_index,
            originated,
            path_id,
            attributes: body.slice_ref(attrs),
        });
        i = r;
    }
    Ok(RibRecord {
        sequence,
        family,
        prefix,
        entries,
    })
}

fn parse_table_dump(subtype: u16, body: &Bytes) -> Result<RecordBody, &'static str> {
    let afi = match subtype {
        1 => 1,
        2 => 2,
        _ => return Ok(RecordBody::Unsupported(body.clone())),
    };
    let p: Res<'_, _> = (
        be_u16,
        be_u16,
        ip(afi),
        be_u8,
        be_u8,
        be_u32,
        ip(afi),
        be_u16,
        be_u16,
    )
        .parse(&body[..]);
    let (rest, (view, sequence, addr, bits, status, originated, peer_ip, peer_as, alen)) =
        p.map_err(|_| "table dump entry truncated")?;
    let attrs = rest
        .get(..usize::from(alen))
        .ok_or("attributes truncated")?;
    let prefix = IpNet::new(addr, bits).map_err(|_| "prefix length too long")?;
    Ok(RecordBody::TableDump(TableDumpEntry {
        view,
        sequence,
        prefix,
        status,
        originated,
        peer_ip,
        peer_as: u32::from(peer_as),
        attributes: body.slice_ref(attrs),
    }))
}
