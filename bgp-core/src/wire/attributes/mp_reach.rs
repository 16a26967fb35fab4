//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760), with IPv6 link-local next hops
//! (RFC 2545) and IPv6 next hops for IPv4 NLRI (RFC 8950).
//!
//! Errors here reset the session (RFC 7606 7.11 and 5.3): the NLRI cannot be located
//! reliably, so treat-as-withdraw is not possible.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16};

use crate::types::{Afi, Family, Safi};
use crate::wire::context::Context;
use crate::wire::nlri::Prefixes;

/// A next hop as carried in MP_REACH_NLRI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum NextHop {
    Ipv4(Ipv4Addr),
    /// A global IPv6 address and, optionally, the link-local one (RFC 2545 3).
    Ipv6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
    /// The next hop of a family whose NLRI we keep opaque (VPN, EVPN, flowspec ...).
    Other(#[cfg_attr(feature = "serde", serde(serialize_with = "crate::wire::hex"))] Bytes),
}

impl NextHop {
    /// The address used for forwarding: the IPv4 address, or the global IPv6 one unless
    /// the sender gave only a link-local one. Speakers on a link-local session put it in
    /// the global field (alone, or twice) or send `::` there with the link-local beside.
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            NextHop::Ipv4(a) => Some(IpAddr::V4(*a)),
            NextHop::Ipv6 {
                global,
                link_local: Some(ll),
            } if global.is_unspecified() || global.is_unicast_link_local() => Some(IpAddr::V6(*ll)),
            NextHop::Ipv6 { global, .. } => Some(IpAddr::V6(*global)),
            NextHop::Other(_) => None,
        }
    }

    /// The next hop for a link-local address of ours: in both fields, so that a receiver
    /// that reads only the global one finds it too.
    pub fn link_local_only(ll: Ipv6Addr) -> NextHop {
        NextHop::Ipv6 {
            global: ll,
            link_local: Some(ll),
        }
    }

    /// Whether forwarding to it needs the link it was learned on.
    pub fn is_link_local(&self) -> bool {
        matches!(self.addr(), Some(IpAddr::V6(a)) if a.is_unicast_link_local())
    }

    fn wire_len(&self) -> usize {
        match self {
            NextHop::Ipv4(_) => 4,
            NextHop::Ipv6 { link_local, .. } => 16 + if link_local.is_some() { 16 } else { 0 },
            NextHop::Other(b) => b.len(),
        }
    }

    fn write_to(&self, out: &mut BytesMut) {
        match self {
            NextHop::Ipv4(a) => out.extend_from_slice(&a.octets()),
            NextHop::Ipv6 { global, link_local } => {
                out.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.extend_from_slice(&ll.octets());
                }
            }
            NextHop::Other(b) => out.extend_from_slice(b),
        }
    }
}

/// Reachable routes of one family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MpReach {
    pub family: Family,
    pub next_hop: NextHop,
    pub nlri: MpNlri,
}

/// Withdrawn routes of one family. With no NLRI, this is the family's End-of-RIB marker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MpUnreach {
    pub family: Family,
    pub nlri: MpNlri,
}

/// NLRI of an MP attribute: IP prefixes, or the bytes of a family we do not decode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum MpNlri {
    Prefixes(Prefixes),
    Opaque(#[cfg_attr(feature = "serde", serde(serialize_with = "crate::wire::hex"))] Bytes),
}

impl MpNlri {
    pub fn is_empty(&self) -> bool {
        match self {
            MpNlri::Prefixes(p) => p.is_empty(),
            MpNlri::Opaque(b) => b.is_empty(),
        }
    }

    pub fn prefixes(&self) -> Option<&Prefixes> {
        match self {
            MpNlri::Prefixes(p) => Some(p),
            MpNlri::Opaque(_) => None,
        }
    }

    fn wire_len(&self, family: Family, ctx: &Context) -> usize {
        match self {
            MpNlri::Prefixes(p) => p.wire_len(ctx.add_path(family)),
            MpNlri::Opaque(b) => b.len(),
        }
    }
}

/// Why an MP attribute is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MpError {
    /// Header or next hop: the attribute list cannot be trusted (3/1).
    Malformed(&'static str),
    /// The NLRI cannot be parsed (3/9).
    Nlri(&'static str),
}

fn header(i: &[u8]) -> IResult<&[u8], (u16, u8)> {
    (be_u16, be_u8).parse(i)
}

fn next_hop_field(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, len) = be_u8(i)?;
    take(len)(i)
}

fn parse_next_hop(family: Family, nh: &[u8]) -> Result<NextHop, MpError> {
    if !family.has_ip_prefixes() {
        return Ok(NextHop::Other(Bytes::copy_from_slice(nh)));
    }
    let v6 = |b: &[u8]| -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[..16]);
        Ipv6Addr::from(a)
    };
    match nh.len() {
        // An IPv4 next hop; for IPv6 NLRI some speakers send one (an IPv4-only core).
        4 => Ok(NextHop::Ipv4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3]))),
        // RFC 2545 for IPv6 NLRI, RFC 8950 for IPv4 NLRI.
        16 => Ok(NextHop::Ipv6 {
            global: v6(nh),
            link_local: None,
        }),
        32 => Ok(NextHop::Ipv6 {
            global: v6(nh),
            link_local: Some(v6(&nh[16..])),
        }),
        _ => Err(MpError::Malformed("next hop length invalid for the family")),
    }
}

fn parse_nlri(
    family: Family,
    ctx: &Context,
    src: &Bytes,
    range: Range<usize>,
) -> Result<MpNlri, MpError> {
    if family.has_ip_prefixes() {
        Prefixes::parse(family.afi, ctx.add_path(family), src, range)
            .map(MpNlri::Prefixes)
            .map_err(|e| MpError::Nlri(e.as_str()))
    } else {
        Ok(MpNlri::Opaque(src.slice(range)))
    }
}

impl MpReach {
    /// Parses the attribute value `src[range]`.
    pub(crate) fn parse(
        src: &Bytes,
        range: Range<usize>,
        ctx: &Context,
    ) -> Result<MpReach, MpError> {
        let value = &src[range.clone()];
        if ctx.mrt_rib_entry && !value.is_empty() && usize::from(value[0]) + 1 == value.len() {
            return MpReach::parse_abbreviated(value);
        }
        let short = |_| MpError::Malformed("MP_REACH_NLRI truncated");
        let (rest, (afi, safi)) = header(value).map_err(short)?;
        let family = Family::new(Afi(afi), Safi(safi));
        let (rest, nh) = next_hop_field(rest).map_err(short)?;
        // One reserved octet (formerly the SNPA count), ignored on receipt.
        let (rest, _reserved) = be_u8(rest).map_err(short)?;
        let next_hop = parse_next_hop(family, nh)?;
        let nlri = parse_nlri(family, ctx, src, range.end - rest.len()..range.end)?;
        Ok(MpReach {
            family,
            next_hop,
            nlri,
        })
    }

    /// The TABLE_DUMP_V2 form: next-hop length and next hop only (RFC 6396 4.3.4). The
    /// family is inferred from the next hop.
    fn parse_abbreviated(value: &[u8]) -> Result<MpReach, MpError> {
        let family = if value[0] == 4 {
            Family::IPV4_UNICAST
        } else {
            Family::IPV6_UNICAST
        };
        Ok(MpReach {
            family,
            next_hop: parse_next_hop(family, &value[1..])?,
            nlri: MpNlri::Opaque(Bytes::new()),
        })
    }

    /// The TABLE_DUMP_V2 abbreviated form is written when decoding produced it: MRT context,
    /// an IP family (whose full form always decodes to prefixes) and no NLRI of its own.
    fn abbreviated(&self, ctx: &Context) -> bool {
        ctx.mrt_rib_entry
            && self.family.has_ip_prefixes()
            && matches!(&self.nlri, MpNlri::Opaque(b) if b.is_empty())
    }

    pub(crate) fn wire_len(&self, ctx: &Context) -> usize {
        if self.abbreviated(ctx) {
            return 1 + self.next_hop.wire_len();
        }
        3 + 1 + self.next_hop.wire_len() + 1 + self.nlri.wire_len(self.family, ctx)
    }

    pub(crate) fn write_to(&self, ctx: &Context, out: &mut BytesMut) {
        let abbreviated = self.abbreviated(ctx);
        if !abbreviated {
            out.put_u16(self.family.afi.0);
            out.put_u8(self.family.safi.0);
        }
        out.put_u8(self.next_hop.wire_len() as u8);
        self.next_hop.write_to(out);
        if !abbreviated {
            out.put_u8(0);
            write_nlri(&self.nlri, self.family, ctx, out);
        }
    }
}

impl MpUnreach {
    /// Parses the attribute value `src[range]`.
    pub(crate) fn parse(
        src: &Bytes,
        range: Range<usize>,
        ctx: &Context,
    ) -> Result<MpUnreach, MpError> {
        let (rest, (afi, safi)) = header(&src[range.clone()])
            .map_err(|_| MpError::Malformed("MP_UNREACH_NLRI truncated"))?;
        let family = Family::new(Afi(afi), Safi(safi));
        let nlri = parse_nlri(family, ctx, src, range.end - rest.len()..range.end)?;
        Ok(MpUnreach { family, nlri })
    }

    /// The End-of-RIB marker of `family` (RFC 4724 2).
    pub fn end_of_rib(family: Family) -> MpUnreach {
        MpUnreach {
            family,
            nlri: if family.has_ip_prefixes() {
                MpNlri::Prefixes(Prefixes::empty(family.afi, false))
            } else {
                MpNlri::Opaque(Bytes::new())
            },
        }
    }

    pub(crate) fn wire_len(&self, ctx: &Context) -> usize {
        3 + self.nlri.wire_len(self.family, ctx)
    }

    pub(crate) fn write_to(&self, ctx: &Context, out: &mut BytesMut) {
        out.put_u16(self.family.afi.0);
        out.put_u8(self.family.safi.0);
        write_nlri(&self.nlri, self.family, ctx, out);
    }
}

fn write_nlri(nlri: &MpNlri, family: Family, ctx: &Context, out: &mut BytesMut) {
    match nlri {
        MpNlri::Prefixes(p) => p.write_to(ctx.add_path(family), out),
        MpNlri::Opaque(b) => out.extend_from_slice(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_hop_of(fields: &[&str]) -> NextHop {
        let mut nh = Vec::new();
        for f in fields {
            nh.extend_from_slice(&f.parse::<Ipv6Addr>().unwrap().octets());
        }
        parse_next_hop(Family::IPV4_UNICAST, &nh).unwrap()
    }

    #[test]
    fn a_link_local_next_hop_is_found_in_each_form_speakers_send() {
        let ll: IpAddr = "fe80::1".parse().unwrap();
        // Alone (16 bytes), twice, or after `::`.
        for form in [
            &["fe80::1"][..],
            &["fe80::1", "fe80::1"],
            &["::", "fe80::1"],
        ] {
            let nh = next_hop_of(form);
            assert_eq!(nh.addr(), Some(ll), "{form:?}");
            assert!(nh.is_link_local(), "{form:?}");
        }
        // With a global address the global one forwards.
        let nh = next_hop_of(&["2001:db8::1", "fe80::1"]);
        assert_eq!(nh.addr(), Some("2001:db8::1".parse().unwrap()));
        assert!(!nh.is_link_local());
    }

    #[test]
    fn our_link_local_next_hop_goes_in_both_fields() {
        let ll: Ipv6Addr = "fe80::2".parse().unwrap();
        let nh = NextHop::link_local_only(ll);
        assert_eq!(nh.wire_len(), 32);
        let mut out = BytesMut::new();
        nh.write_to(&mut out);
        assert_eq!(&out[..16], &ll.octets());
        assert_eq!(&out[16..], &ll.octets());
    }

    #[test]
    fn ipv6_with_link_local() {
        let mut v = vec![0, 2, 1, 32];
        v.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(&[0, 32, 0x20, 0x01, 0x0d, 0xb8]);
        let value = Bytes::from(v);
        let m = MpReach::parse(&value, 0..value.len(), &Context::default()).unwrap();
        assert_eq!(m.family, Family::IPV6_UNICAST);
        assert_eq!(
            m.next_hop,
            NextHop::Ipv6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap())
            }
        );
        let p = m.nlri.prefixes().unwrap();
        assert_eq!(p.iter().next().unwrap().prefix.to_string(), "2001:db8::/32");
        let mut out = BytesMut::new();
        m.write_to(&Context::default(), &mut out);
        assert_eq!(out.freeze(), value);
        assert_eq!(m.wire_len(&Context::default()), value.len());
    }

    #[test]
    fn rfc8950_ipv6_next_hop_for_ipv4() {
        let mut v = vec![0, 1, 1, 16];
        v.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(&[0, 24, 10, 0, 0]);
        let v = Bytes::from(v);
        let m = MpReach::parse(&v, 0..v.len(), &Context::default()).unwrap();
        assert_eq!(m.family, Family::IPV4_UNICAST);
        assert!(matches!(
            m.next_hop,
            NextHop::Ipv6 {
                link_local: None,
                ..
            }
        ));
    }

    #[test]
    fn malformed_cases() {
        let ctx = Context::default();
        let p = |b: &'static [u8]| {
            MpReach::parse(&Bytes::from_static(b), 0..b.len(), &ctx).unwrap_err()
        };
        assert!(matches!(p(&[0, 2]), MpError::Malformed(_)));
        assert!(matches!(p(&[0, 2, 1, 9, 0, 0]), MpError::Malformed(_)));
        assert!(matches!(
            p(&[0, 2, 1, 5, 1, 2, 3, 4, 5, 0]),
            MpError::Malformed(_)
        ));
        assert!(matches!(
            p(&[0, 1, 1, 4, 1, 2, 3, 4, 0, 33, 1]),
            MpError::Nlri(_)
        ));
        let u =
            MpUnreach::parse(&Bytes::from_static(&[0, 2, 1, 64, 0x20]), 0..5, &ctx).unwrap_err();
        assert!(matches!(u, MpError::Nlri(_)));
    }
}
