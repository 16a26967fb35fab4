//! BMP messages from bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u32, be_u64};

use super::{
    BmpMessage, COMMON_HEADER_LEN, PeerDownReason, PeerHeader, PeerUp, Stat, Tlv, VERSION,
    down_reason, msg_type, peer_flags, peer_type,
};

/// A message that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BmpError {
    /// Fewer octets than the header or its length say: wait for more.
    #[error("incomplete message: {needed} octets needed")]
    Incomplete { needed: usize },
    #[error("unsupported BMP version {0}")]
    Version(u8),
    #[error("message length {0} is shorter than the common header")]
    Length(u32),
    #[error("unsupported message type {0}")]
    Type(u8),
    #[error("{0} malformed")]
    Malformed(&'static str),
}

type R<'a, T> = nom::IResult<&'a [u8], T>;

fn malformed(what: &'static str) -> impl Fn(nom::Err<nom::error::Error<&[u8]>>) -> BmpError {
    move |_| BmpError::Malformed(what)
}

impl BmpMessage {
    /// Reads one message from the front of `buf`: the message and the octets it took.
    pub fn decode(buf: &[u8]) -> Result<(BmpMessage, usize), BmpError> {
        if buf.len() < COMMON_HEADER_LEN {
            return Err(BmpError::Incomplete {
                needed: COMMON_HEADER_LEN,
            });
        }
        if buf[0] != VERSION {
            return Err(BmpError::Version(buf[0]));
        }
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
        if (len as usize) < COMMON_HEADER_LEN {
            return Err(BmpError::Length(len));
        }
        let len = len as usize;
        if buf.len() < len {
            return Err(BmpError::Incomplete { needed: len });
        }
        let body = &buf[COMMON_HEADER_LEN..len];
        let msg = match buf[5] {
            msg_type::ROUTE_MONITORING => {
                let (rest, peer) = peer_header(body).map_err(malformed("per-peer header"))?;
                let update = bgp_message(rest, "route monitoring UPDATE")?.0;
                BmpMessage::RouteMonitoring { peer, update }
            }
            msg_type::STATISTICS_REPORT => statistics(body)?,
            msg_type::PEER_DOWN => peer_down(body)?,
            msg_type::PEER_UP => peer_up(body)?,
            msg_type::INITIATION => BmpMessage::Initiation(tlvs(body)?),
            msg_type::TERMINATION => BmpMessage::Termination(tlvs(body)?),
            t => return Err(BmpError::Type(t)),
        };
        Ok((msg, len))
    }
}

fn address(i: &[u8], v6: bool) -> R<'_, IpAddr> {
    let (i, a) = take(16usize).parse(i)?;
    let mut o = [0u8; 16];
    o.copy_from_slice(a);
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    };
    Ok((i, ip))
}

fn peer_header(i: &[u8]) -> R<'_, PeerHeader> {
    let (i, (ty, flags, distinguisher)) = (be_u8, be_u8, be_u64).parse(i)?;
    let v6 = ty != peer_type::LOC_RIB && flags & peer_flags::V != 0;
    let (i, address) = address(i, v6)?;
    let (i, (asn, id, seconds, micros)) = (be_u32, be_u32, be_u32, be_u32).parse(i)?;
    Ok((
        i,
        PeerHeader {
            peer_type: ty,
            flags,
            distinguisher,
            address,
            asn,
            bgp_id: Ipv4Addr::from(id),
            seconds,
            micros,
        },
    ))
}

/// One whole BGP message from the front of `i`, by the length in its header.
fn bgp_message<'a>(i: &'a [u8], what: &'static str) -> Result<(Bytes, &'a [u8]), BmpError> {
    if i.len() < 19 {
        return Err(BmpError::Malformed(what));
    }
    let len = usize::from(u16::from_be_bytes([i[16], i[17]]));
    if !(19..=i.len()).contains(&len) {
        return Err(BmpError::Malformed(what));
    }
    Ok((Bytes::copy_from_slice(&i[..len]), &i[len..]))
}

fn tlv(i: &[u8]) -> R<'_, Tlv> {
    let (i, kind) = be_u16(i)?;
    let (i, len) = be_u16(i)?;
    let (i, v) = take(len).parse(i)?;
    Ok((
        i,
        Tlv {
            kind,
            value: Bytes::copy_from_slice(v),
        },
    ))
}

fn tlvs(mut i: &[u8]) -> Result<Vec<Tlv>, BmpError> {
    let mut out = Vec::new();
    while !i.is_empty() {
        let (rest, t) = tlv(i).map_err(malformed("information TLV"))?;
        out.push(t);
        i = rest;
    }
    Ok(out)
}

fn stat(t: Tlv) -> Stat {
    let v = &t.value[..];
    match v.len() {
        4 => Stat::Counter(t.kind, u32::from_be_bytes([v[0], v[1], v[2], v[3]])),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(v);
            Stat::Gauge(t.kind, u64::from_be_bytes(b))
        }
        11 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[3..]);
            Stat::FamilyGauge {
                kind: t.kind,
                afi: u16::from_be_bytes([v[0], v[1]]),
                safi: v[2],
                value: u64::from_be_bytes(b),
            }
        }
        _ => Stat::Other {
            kind: t.kind,
            value: t.value,
        },
    }
}

fn statistics(body: &[u8]) -> Result<BmpMessage, BmpError> {
    let (mut i, (peer, count)) = (peer_header, be_u32)
        .parse(body)
        .map_err(malformed("statistics report header"))?;
    // Each statistic takes at least four octets: a count past that is a lie.
    if count as usize > i.len() / 4 {
        return Err(BmpError::Malformed("statistics count"));
    }
    let mut stats = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (rest, t) = tlv(i).map_err(malformed("statistic"))?;
        stats.push(stat(t));
        i = rest;
    }
    if !i.is_empty() {
        return Err(BmpError::Malformed("statistics report length"));
    }
    Ok(BmpMessage::StatisticsReport { peer, stats })
}

fn peer_down(body: &[u8]) -> Result<BmpMessage, BmpError> {
    let (i, (peer, code)) = (peer_header, be_u8)
        .parse(body)
        .map_err(malformed("peer down header"))?;
    let reason = match code {
        down_reason::LOCAL_NOTIFICATION => {
            PeerDownReason::LocalNotification(bgp_message(i, "peer down NOTIFICATION")?.0)
        }
        down_reason::REMOTE_NOTIFICATION => {
            PeerDownReason::RemoteNotification(bgp_message(i, "peer down NOTIFICATION")?.0)
        }
        down_reason::LOCAL_NO_NOTIFICATION => {
            let (_, ev) = be_u16(i).map_err(malformed("peer down FSM event"))?;
            PeerDownReason::LocalNoNotification(ev)
        }
        down_reason::REMOTE_NO_DATA => PeerDownReason::RemoteNoData,
        down_reason::DECONFIGURED => PeerDownReason::Deconfigured,
        c => PeerDownReason::Other(c, Bytes::copy_from_slice(i)),
    };
    Ok(BmpMessage::PeerDown { peer, reason })
}

fn peer_up(body: &[u8]) -> Result<BmpMessage, BmpError> {
    let (i, peer) = peer_header(body).map_err(malformed("per-peer header"))?;
    let v6 = peer.peer_type != peer_type::LOC_RIB && peer.flags & peer_flags::V != 0;
    let (i, (local_address, local_port, remote_port)) = (|i| address(i, v6), be_u16, be_u16)
        .parse(i)
        .map_err(malformed("peer up addresses"))?;
    let (sent_open, i) = bgp_message(i, "peer up sent OPEN")?;
    let (received_open, i) = bgp_message(i, "peer up received OPEN")?;
    Ok(BmpMessage::PeerUp(Box::new(PeerUp {
        peer,
        local_address,
        local_port,
        remote_port,
        sent_open,
        received_open,
        information: tlvs(i)?,
    })))
}
