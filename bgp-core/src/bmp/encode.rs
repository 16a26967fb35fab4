//! BMP messages to bytes.

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use super::{
    BmpMessage, COMMON_HEADER_LEN, PeerDownReason, PeerHeader, PeerUp, Stat, Tlv, VERSION,
    down_reason, peer_flags, peer_type,
};

impl BmpMessage {
    /// Appends the message, common header included, to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u8(VERSION);
        out.put_u32(0);
        out.put_u8(self.type_code());
        match self {
            BmpMessage::RouteMonitoring { peer, update } => {
                put_peer(out, peer);
                out.put_slice(update);
            }
            BmpMessage::StatisticsReport { peer, stats } => {
                put_peer(out, peer);
                out.put_u32(stats.len() as u32);
                for s in stats {
                    put_stat(out, s);
                }
            }
            BmpMessage::PeerDown { peer, reason } => {
                put_peer(out, peer);
                put_down(out, reason);
            }
            BmpMessage::PeerUp(up) => put_up(out, up),
            BmpMessage::Initiation(tlvs) | BmpMessage::Termination(tlvs) => {
                for t in tlvs {
                    put_tlv(out, t);
                }
            }
        }
        let len = (out.len() - start) as u32;
        out[start + 1..start + COMMON_HEADER_LEN - 1].copy_from_slice(&len.to_be_bytes());
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> bytes::Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }
}

fn put_address(out: &mut BytesMut, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            out.put_bytes(0, 12);
            out.put_slice(&v4.octets());
        }
        IpAddr::V6(v6) => out.put_slice(&v6.octets()),
    }
}

fn put_peer(out: &mut BytesMut, p: &PeerHeader) {
    let mut flags = p.flags;
    // The V flag says the address family, except for the Loc-RIB, whose flags differ and
    // whose address is zero (RFC 9069 4.1).
    if p.peer_type != peer_type::LOC_RIB {
        flags &= !peer_flags::V;
        if p.address.is_ipv6() {
            flags |= peer_flags::V;
        }
    }
    out.put_u8(p.peer_type);
    out.put_u8(flags);
    out.put_u64(p.distinguisher);
    put_address(out, p.address);
    out.put_u32(p.asn);
    out.put_slice(&p.bgp_id.octets());
    out.put_u32(p.seconds);
    out.put_u32(p.micros);
}

fn put_tlv(out: &mut BytesMut, t: &Tlv) {
    let value = &t.value[..t.value.len().min(u16::MAX as usize)];
    out.put_u16(t.kind);
    out.put_u16(value.len() as u16);
    out.put_slice(value);
}

fn put_stat(out: &mut BytesMut, s: &Stat) {
    match s {
        Stat::Counter(kind, v) => {
            out.put_u16(*kind);
            out.put_u16(4);
            out.put_u32(*v);
        }
        Stat::Gauge(kind, v) => {
            out.put_u16(*kind);
            out.put_u16(8);
            out.put_u64(*v);
        }
        Stat::FamilyGauge {
            kind,
            afi,
            safi,
            value,
        } => {
            out.put_u16(*kind);
            out.put_u16(11);
            out.put_u16(*afi);
            out.put_u8(*safi);
            out.put_u64(*value);
        }
        Stat::Other { kind, value } => put_tlv(
            out,
            &Tlv {
                kind: *kind,
                value: value.clone(),
            },
        ),
    }
}

fn put_down(out: &mut BytesMut, r: &PeerDownReason) {
    match r {
        PeerDownReason::LocalNotification(n) => {
            out.put_u8(down_reason::LOCAL_NOTIFICATION);
            out.put_slice(n);
        }
        PeerDownReason::LocalNoNotification(event) => {
            out.put_u8(down_reason::LOCAL_NO_NOTIFICATION);
            out.put_u16(*event);
        }
        PeerDownReason::RemoteNotification(n) => {
            out.put_u8(down_reason::REMOTE_NOTIFICATION);
            out.put_slice(n);
        }
        PeerDownReason::RemoteNoData => out.put_u8(down_reason::REMOTE_NO_DATA),
        PeerDownReason::Deconfigured => out.put_u8(down_reason::DECONFIGURED),
        PeerDownReason::Other(code, data) => {
            out.put_u8(*code);
            out.put_slice(data);
        }
    }
}

fn put_up(out: &mut BytesMut, up: &PeerUp) {
    put_peer(out, &up.peer);
    put_address(out, up.local_address);
    out.put_u16(up.local_port);
    out.put_u16(up.remote_port);
    out.put_slice(&up.sent_open);
    out.put_slice(&up.received_open);
    for t in &up.information {
        put_tlv(out, t);
    }
}
