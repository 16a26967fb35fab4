//! Writing: [`Record::encode`].

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};
use ipnet::IpNet;

use super::read::{
    Bgp4mpMessage, Bgp4mpPeer, PeerIndexTable, Record, RecordBody, RibRecord, record_type,
};
use crate::types::Family;

/// The BGP4MP subtype of a message record (RFC 6396 4.4, RFC 8050 3).
pub fn bgp4mp_subtype(m: &Bgp4mpMessage) -> u16 {
    match (m.four_octet_as, m.local, m.add_path) {
        (false, false, false) => 1,
        (true, false, false) => 4,
        (false, true, false) => 6,
        (true, true, false) => 7,
        (false, false, true) => 8,
        (true, false, true) => 9,
        (false, true, true) => 10,
        (true, true, true) => 11,
    }
}

/// The TABLE_DUMP_V2 subtype of a RIB record of `family` (RFC 6396 4.3, RFC 8050 4); the
/// generic subtypes for other families.
pub fn rib_subtype(family: Family, add_path: bool) -> u16 {
    let plain = match family {
        Family::IPV4_UNICAST => 2,
        Family::IPV4_MULTICAST => 3,
        Family::IPV6_UNICAST => 4,
        Family::IPV6_MULTICAST => 5,
        _ => 6,
    };
    if add_path { plain + 6 } else { plain }
}

impl Record {
    /// Appends the record to `out`: the header (with the microseconds of the `_ET` types
    /// when `microseconds` is set) and the body. The subtype is the body's own: `subtype` is
    /// not consulted. An [`RecordBody::Unsupported`] body is written as it is, with
    /// `kind` and `subtype`; so is a legacy TABLE_DUMP entry (not written here).
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(self.timestamp);
        out.put_u16(self.kind);
        let subtype = match &self.body {
            RecordBody::Bgp4mpMessage(m) => bgp4mp_subtype(m),
            RecordBody::Bgp4mpStateChange(s) => {
                if asn_is_wide(&s.peer) {
                    5
                } else {
                    0
                }
            }
            RecordBody::PeerIndexTable(_) => 1,
            RecordBody::Rib(r) => {
                rib_subtype(r.family, r.entries.iter().any(|e| e.path_id.is_some()))
            }
            RecordBody::TableDump(_) | RecordBody::Unsupported(_) => self.subtype,
        };
        out.put_u16(subtype);
        out.put_u32(0);
        let body = out.len();
        if let Some(us) = self.microseconds {
            out.put_u32(us);
        }
        match &self.body {
            RecordBody::Bgp4mpMessage(m) => {
                put_bgp4mp_peer(out, &m.peer, m.four_octet_as);
                out.put_slice(&m.message);
            }
            RecordBody::Bgp4mpStateChange(s) => {
                put_bgp4mp_peer(out, &s.peer, asn_is_wide(&s.peer));
                out.put_u16(s.old_state);
                out.put_u16(s.new_state);
            }
            RecordBody::PeerIndexTable(t) => put_peer_index(out, t),
            RecordBody::Rib(r) => put_rib(out, r),
            RecordBody::TableDump(_) => {}
            RecordBody::Unsupported(b) => out.put_slice(b),
        }
        let len = (out.len() - body) as u32;
        out[start + 8..start + 12].copy_from_slice(&len.to_be_bytes());
    }
}

/// State changes are written with four-octet AS numbers (STATE_CHANGE_AS4) unless both
/// fit in two octets.
fn asn_is_wide(p: &Bgp4mpPeer) -> bool {
    p.peer_as > 0xffff || p.local_as > 0xffff
}

fn put_ip(out: &mut BytesMut, a: IpAddr) {
    match a {
        IpAddr::V4(v) => out.put_slice(&v.octets()),
        IpAddr::V6(v) => out.put_slice(&v.octets()),
    }
}

fn put_bgp4mp_peer(out: &mut BytesMut, p: &Bgp4mpPeer, wide: bool) {
    if wide {
        out.put_u32(p.peer_as);
        out.put_u32(p.local_as);
    } else {
        out.put_u16(p.peer_as as u16);
        out.put_u16(p.local_as as u16);
    }
    out.put_u16(p.interface_index);
    // Both addresses are of one family: the peer's (an unspecified local address of it
    // when they differ).
    let (peer, local) = match (p.peer_ip, p.local_ip) {
        (IpAddr::V4(_), IpAddr::V6(_)) => (p.peer_ip, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        (IpAddr::V6(_), IpAddr::V4(l)) => (p.peer_ip, IpAddr::V6(l.to_ipv6_mapped())),
        _ => (p.peer_ip, p.local_ip),
    };
    out.put_u16(if peer.is_ipv4() { 1 } else { 2 });
    put_ip(out, peer);
    put_ip(out, local);
}

fn put_peer_index(out: &mut BytesMut, t: &PeerIndexTable) {
    out.put_slice(&t.collector_id.octets());
    let name = &t.view_name.as_bytes()[..t.view_name.len().min(u16::MAX as usize)];
    out.put_u16(name.len() as u16);
    out.put_slice(name);
    out.put_u16(t.peers.len() as u16);
    for p in &t.peers {
        // Bit 0: IPv6 address; bit 1: four-octet AS (always written so).
        out.put_u8(u8::from(p.ip.is_ipv6()) | 2);
        out.put_slice(&p.bgp_id.octets());
        put_ip(out, p.ip);
        out.put_u32(p.asn);
    }
}

fn put_prefix(out: &mut BytesMut, p: &IpNet) {
    let bits = p.prefix_len();
    out.put_u8(bits);
    let n = usize::from(bits).div_ceil(8);
    match p.network() {
        IpAddr::V4(a) => out.put_slice(&a.octets()[..n]),
        IpAddr::V6(a) => out.put_slice(&a.octets()[..n]),
    }
}

fn put_rib(out: &mut BytesMut, r: &RibRecord) {
    out.put_u32(r.sequence);
    let generic = rib_subtype(r.family, false) == 6;
    if generic {
        out.put_u16(r.family.afi.0);
        out.put_u8(r.family.safi.0);
    }
    if let Some(p) = &r.prefix {
        put_prefix(out, p);
    }
    out.put_u16(r.entries.len() as u16);
    for e in &r.entries {
        out.put_u16(e.peer_index);
        out.put_u32(e.originated);
        if let Some(id) = e.path_id {
            out.put_u32(id);
        }
        out.put_u16(e.attributes.len() as u16);
        out.put_slice(&e.attributes);
    }
}

/// The type a record of `body` is written with.
pub fn kind_of(body: &RecordBody, extended_time: bool) -> u16 {
    match body {
        RecordBody::Bgp4mpMessage(_) | RecordBody::Bgp4mpStateChange(_) if extended_time => {
            record_type::BGP4MP_ET
        }
        RecordBody::Bgp4mpMessage(_) | RecordBody::Bgp4mpStateChange(_) => record_type::BGP4MP,
        RecordBody::PeerIndexTable(_) | RecordBody::Rib(_) => record_type::TABLE_DUMP_V2,
        RecordBody::TableDump(_) => record_type::TABLE_DUMP,
        RecordBody::Unsupported(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bytes::Bytes;

    use super::*;
    use crate::mrt::{Bgp4mpStateChange, MrtReader, PeerEntry, RibEntry};

    fn read_all(b: Bytes) -> Vec<Record> {
        MrtReader::new(b).map(Result::unwrap).collect()
    }

    #[test]
    fn what_is_written_reads_back() {
        let peer = Bgp4mpPeer {
            peer_as: 65001,
            local_as: 4_200_000_000,
            interface_index: 0,
            peer_ip: "2001:db8::1".parse().unwrap(),
            local_ip: "2001:db8::2".parse().unwrap(),
        };
        let mut keepalive = vec![0xff; 16];
        keepalive.extend_from_slice(&[0, 19, 4]);
        let records = vec![
            Record {
                timestamp: 1_700_000_000,
                microseconds: Some(123_456),
                kind: record_type::BGP4MP_ET,
                subtype: 9,
                body: RecordBody::Bgp4mpMessage(Bgp4mpMessage {
                    peer: peer.clone(),
                    four_octet_as: true,
                    add_path: true,
                    local: false,
                    message: Bytes::from(keepalive),
                }),
            },
            Record {
                timestamp: 1_700_000_001,
                microseconds: Some(0),
                kind: record_type::BGP4MP_ET,
                subtype: 5,
                body: RecordBody::Bgp4mpStateChange(Bgp4mpStateChange {
                    peer,
                    old_state: 6,
                    new_state: 1,
                }),
            },
            Record {
                timestamp: 1_700_000_002,
                microseconds: None,
                kind: record_type::TABLE_DUMP_V2,
                subtype: 1,
                body: RecordBody::PeerIndexTable(PeerIndexTable {
                    collector_id: Ipv4Addr::new(10, 0, 0, 1),
                    view_name: "rr".into(),
                    peers: vec![
                        PeerEntry {
                            bgp_id: Ipv4Addr::new(10, 0, 0, 2),
                            ip: "10.0.0.2".parse().unwrap(),
                            asn: 65000,
                        },
                        PeerEntry {
                            bgp_id: Ipv4Addr::new(10, 0, 0, 3),
                            ip: "2001:db8::3".parse().unwrap(),
                            asn: 4_200_000_000,
                        },
                    ],
                }),
            },
            Record {
                timestamp: 1_700_000_002,
                microseconds: None,
                kind: record_type::TABLE_DUMP_V2,
                subtype: 4,
                body: RecordBody::Rib(RibRecord {
                    sequence: 0,
                    family: Family::IPV6_UNICAST,
                    prefix: Some("2001:db8:1::/48".parse().unwrap()),
                    entries: vec![RibEntry {
                        peer_index: 1,
                        originated: 1_699_999_000,
                        path_id: None,
                        attributes: Bytes::from_static(&[0x40, 1, 1, 0]),
                    }],
                }),
            },
            Record {
                timestamp: 1_700_000_002,
                microseconds: None,
                kind: record_type::TABLE_DUMP_V2,
                subtype: 8,
                body: RecordBody::Rib(RibRecord {
                    sequence: 1,
                    family: Family::IPV4_UNICAST,
                    prefix: Some("10.1.0.0/23".parse().unwrap()),
                    entries: vec![
                        RibEntry {
                            peer_index: 0,
                            originated: 7,
                            path_id: Some(1),
                            attributes: Bytes::from_static(&[0x40, 1, 1, 2]),
                        },
                        RibEntry {
                            peer_index: 1,
                            originated: 8,
                            path_id: Some(2),
                            attributes: Bytes::new(),
                        },
                    ],
                }),
            },
        ];
        let mut out = BytesMut::new();
        for r in &records {
            assert_eq!(kind_of(&r.body, r.microseconds.is_some()), r.kind);
            r.encode(&mut out);
        }
        assert_eq!(read_all(out.freeze()), records);
    }

    #[test]
    fn two_octet_sessions_get_the_plain_subtypes() {
        let peer = Bgp4mpPeer {
            peer_as: 65001,
            local_as: 65000,
            interface_index: 0,
            peer_ip: "10.0.0.1".parse().unwrap(),
            local_ip: "10.0.0.2".parse().unwrap(),
        };
        let m = Bgp4mpMessage {
            peer: peer.clone(),
            four_octet_as: false,
            add_path: false,
            local: true,
            message: Bytes::new(),
        };
        assert_eq!(bgp4mp_subtype(&m), 6);
        let r = Record {
            timestamp: 0,
            microseconds: None,
            kind: record_type::BGP4MP,
            subtype: 0,
            body: RecordBody::Bgp4mpStateChange(Bgp4mpStateChange {
                peer,
                old_state: 1,
                new_state: 2,
            }),
        };
        let mut out = BytesMut::new();
        r.encode(&mut out);
        // Header, AS numbers in two octets each, interface, AFI, two addresses, states.
        assert_eq!(out.len(), 12 + 4 + 2 + 2 + 8 + 4);
        assert_eq!(read_all(out.freeze()), [r]);
    }
}
