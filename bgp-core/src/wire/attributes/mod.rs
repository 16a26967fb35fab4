//! Path attributes (RFC 4271 4.3 and 5) and their error handling (RFC 7606).
//!
//! [`PathAttributes`] holds every attribute this crate understands in a typed field, and any
//! other attribute as a [`RawAttribute`] in `other`. Decoding applies RFC 7606 attribute by
//! attribute; the outcome of each error is recorded, not thrown, unless it resets the session.
//!
//! | code | attribute | class | malformed |
//! |---|---|---|---|
//! | 1 | ORIGIN | well-known | treat-as-withdraw |
//! | 2 | AS_PATH | well-known | treat-as-withdraw |
//! | 3 | NEXT_HOP | well-known | treat-as-withdraw |
//! | 4 | MULTI_EXIT_DISC | optional | treat-as-withdraw |
//! | 5 | LOCAL_PREF | well-known | treat-as-withdraw (iBGP); discarded from eBGP |
//! | 6 | ATOMIC_AGGREGATE | well-known | attribute discard |
//! | 7 | AGGREGATOR | optional transitive | attribute discard |
//! | 8 | COMMUNITIES | optional transitive | treat-as-withdraw |
//! | 9 | ORIGINATOR_ID | optional | treat-as-withdraw (iBGP); discarded from eBGP |
//! | 10 | CLUSTER_LIST | optional | treat-as-withdraw (iBGP); discarded from eBGP |
//! | 14, 15 | MP_REACH_NLRI, MP_UNREACH_NLRI | optional | session reset |
//! | 16 | EXTENDED COMMUNITIES | optional transitive | treat-as-withdraw |
//! | 17 | AS4_PATH | optional transitive | treat-as-withdraw |
//! | 18 | AS4_AGGREGATOR | optional transitive | attribute discard |
//! | 22, 23, 25 | PMSI_TUNNEL, TUNNEL_ENCAP, IPv6 EXT. COMMUNITIES | optional transitive | treat-as-withdraw |
//! | 26, 29 | AIGP, BGP-LS | optional | attribute discard |
//! | 32 | LARGE_COMMUNITY | optional transitive | treat-as-withdraw |
//! | 35 | OTC (RFC 9234) | optional transitive | treat-as-withdraw |
//! | 39, 40 | NHC, PREFIX_SID | optional transitive | attribute discard |
//!
//! Codes 22 to 40 are validated and then kept as [`RawAttribute`]s. A flags conflict is
//! treated as withdraw (RFC 7606 3(c)) except where the table says attribute discard.
//! Unknown optional attributes are kept; an unknown well-known one resets the session.

pub mod as_path;
pub mod communities;
pub mod mp_reach;

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::{AS_TRANS, Asn};
use crate::wire::context::{Context, PeerKind};
use crate::wire::error::{
    AttributeError, AttributeErrorKind as Kind, DecodeError, EncodeError, ErrorAction,
};

pub use as_path::{AsPath, Segment, SegmentType};
pub use communities::{
    ClusterList, Communities, Community, ExtCommunities, ExtCommunity, LargeCommunities,
    LargeCommunity,
};
pub use mp_reach::{MpNlri, MpReach, MpUnreach, NextHop};

use mp_reach::MpError;

/// Attribute flag bits.
pub mod flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes.
pub mod code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const ORIGINATOR_ID: u8 = 9;
    pub const CLUSTER_LIST: u8 = 10;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const PMSI_TUNNEL: u8 = 22;
    pub const TUNNEL_ENCAPSULATION: u8 = 23;
    pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
    pub const AIGP: u8 = 26;
    pub const BGP_LS: u8 = 29;
    pub const LARGE_COMMUNITY: u8 = 32;
    pub const OTC: u8 = 35;
    pub const NHC: u8 = 39;
    pub const PREFIX_SID: u8 = 40;
}

/// The name of an attribute type.
pub fn name(code: u8) -> &'static str {
    match code {
        1 => "ORIGIN",
        2 => "AS_PATH",
        3 => "NEXT_HOP",
        4 => "MULTI_EXIT_DISC",
        5 => "LOCAL_PREF",
        6 => "ATOMIC_AGGREGATE",
        7 => "AGGREGATOR",
        8 => "COMMUNITIES",
        9 => "ORIGINATOR_ID",
        10 => "CLUSTER_LIST",
        14 => "MP_REACH_NLRI",
        15 => "MP_UNREACH_NLRI",
        16 => "EXTENDED_COMMUNITIES",
        17 => "AS4_PATH",
        18 => "AS4_AGGREGATOR",
        22 => "PMSI_TUNNEL",
        23 => "TUNNEL_ENCAPSULATION",
        25 => "IPV6_EXTENDED_COMMUNITIES",
        26 => "AIGP",
        29 => "BGP_LS",
        32 => "LARGE_COMMUNITY",
        35 => "OTC",
        39 => "NHC",
        40 => "PREFIX_SID",
        _ => "unknown",
    }
}

/// ORIGIN values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// AGGREGATOR / AS4_AGGREGATOR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Aggregator {
    pub asn: Asn,
    pub address: Ipv4Addr,
}

/// An attribute kept as received: unknown optional attributes, and the known ones this crate
/// validates but does not interpret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RawAttribute {
    pub flags: u8,
    pub code: u8,
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::wire::hex"))]
    pub value: Bytes,
}

impl RawAttribute {
    pub fn is_optional(&self) -> bool {
        self.flags & flags::OPTIONAL != 0
    }

    pub fn is_transitive(&self) -> bool {
        self.flags & flags::TRANSITIVE != 0
    }

    pub fn is_partial(&self) -> bool {
        self.flags & flags::PARTIAL != 0
    }
}

/// How attributes were framed on the wire: extended-length and partial bits of the typed
/// attributes, and the order of the attributes when it was not ascending. Kept so that a
/// decoded set re-encodes to the same bytes; not part of the value, so two sets that differ
/// only here compare equal and hash alike.
#[derive(Clone, Debug, Default)]
pub struct WireFlags {
    ext_len: u64,
    partial: u64,
    order: Option<std::sync::Arc<[u8]>>,
}

impl PartialEq for WireFlags {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for WireFlags {}
impl std::hash::Hash for WireFlags {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl WireFlags {
    fn note(&mut self, code: u8, flags: u8) {
        if code < 64 {
            if flags & self::flags::EXTENDED_LENGTH != 0 {
                self.ext_len |= 1 << code;
            }
            if flags & self::flags::PARTIAL != 0 {
                self.partial |= 1 << code;
            }
        }
    }

    fn ext_len(&self, code: u8) -> bool {
        code < 64 && self.ext_len & (1 << code) != 0
    }

    fn partial(&self, code: u8) -> bool {
        code < 64 && self.partial & (1 << code) != 0
    }
}

/// The path attributes of an UPDATE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PathAttributes {
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub origin: Option<Origin>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub as_path: Option<AsPath>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub next_hop: Option<Ipv4Addr>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub med: Option<u32>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub local_pref: Option<u32>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "std::ops::Not::not"))]
    pub atomic_aggregate: bool,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub aggregator: Option<Aggregator>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub communities: Option<Communities>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub originator_id: Option<Ipv4Addr>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub cluster_list: Option<ClusterList>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub mp_reach: Option<MpReach>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub mp_unreach: Option<MpUnreach>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub ext_communities: Option<ExtCommunities>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub as4_path: Option<AsPath>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub as4_aggregator: Option<Aggregator>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub large_communities: Option<LargeCommunities>,
    /// Only to Customer (RFC 9234).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub otc: Option<Asn>,
    /// Every other attribute, ordered by type code.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub other: Vec<RawAttribute>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub wire_flags: WireFlags,
}

/// What the decoder needs from the rest of the UPDATE.
pub(crate) struct Surroundings {
    /// The IPv4 NLRI field is not empty: NEXT_HOP is mandatory and checked.
    pub has_ipv4_nlri: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    WellKnown,
    OptionalTransitive,
    OptionalNonTransitive,
}

fn class_of(code: u8) -> Option<Class> {
    use code::*;
    Some(match code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => Class::WellKnown,
        AGGREGATOR
        | COMMUNITIES
        | EXTENDED_COMMUNITIES
        | AS4_PATH
        | AS4_AGGREGATOR
        | PMSI_TUNNEL
        | TUNNEL_ENCAPSULATION
        | IPV6_EXTENDED_COMMUNITIES
        | LARGE_COMMUNITY
        | OTC
        | NHC
        | PREFIX_SID => Class::OptionalTransitive,
        MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI | AIGP
        | BGP_LS => Class::OptionalNonTransitive,
        _ => return None,
    })
}

fn flags_fit(class: Class, f: u8) -> bool {
    let optional = f & flags::OPTIONAL != 0;
    let transitive = f & flags::TRANSITIVE != 0;
    let partial = f & flags::PARTIAL != 0;
    match class {
        Class::WellKnown => !optional && transitive && !partial,
        Class::OptionalTransitive => optional && transitive,
        Class::OptionalNonTransitive => optional && !transitive && !partial,
    }
}

/// The RFC 7606 action for a malformed attribute of `code`.
fn action_for(code: u8) -> ErrorAction {
    use code::*;
    match code {
        ATOMIC_AGGREGATE | AGGREGATOR | AS4_AGGREGATOR | AIGP | BGP_LS | NHC | PREFIX_SID => {
            ErrorAction::AttributeDiscard
        }
        _ => ErrorAction::TreatAsWithdraw,
    }
}

fn u32_of(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}

fn ipv4_of(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

/// A NEXT_HOP that cannot be a router: 0/8 (only 0.0.0.0 here), loopback, class D and E.
fn martian_next_hop(a: Ipv4Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.octets()[0] >= 224
}

fn parse_aggregator(v: &[u8], four_octet: bool) -> Result<Aggregator, Kind> {
    let (asn, addr) = match (v.len(), four_octet) {
        (8, true) => (u32_of(&v[..4]), &v[4..]),
        (6, false) => (Some(u32::from(u16::from_be_bytes([v[0], v[1]]))), &v[2..]),
        _ => return Err(Kind::Length),
    };
    let asn = asn.ok_or(Kind::Length)?;
    if asn == 0 {
        return Err(Kind::ZeroAsn);
    }
    Ok(Aggregator {
        asn,
        address: ipv4_of(addr).ok_or(Kind::Length)?,
    })
}

/// Walks type-length-value records with `tl` octets of type and 2 of length; each record's
/// length must fit exactly.
fn tlvs_fit(mut v: &[u8], type_len: usize) -> Result<Vec<(u16, &[u8])>, Kind> {
    let mut out = Vec::new();
    while !v.is_empty() {
        if v.len() < type_len + 2 {
            return Err(Kind::Overrun);
        }
        let t = if type_len == 1 {
            u16::from(v[0])
        } else {
            u16::from_be_bytes([v[0], v[1]])
        };
        let len = usize::from(u16::from_be_bytes([v[type_len], v[type_len + 1]]));
        let body = v
            .get(type_len + 2..type_len + 2 + len)
            .ok_or(Kind::Overrun)?;
        out.push((t, body));
        v = &v[type_len + 2 + len..];
    }
    Ok(out)
}

/// Checks of the attributes kept raw but validated (codes 22 to 40).
fn validate_opaque(code: u8, v: &[u8]) -> Result<(), Kind> {
    match code {
        // RFC 6514 5: flags, tunnel type (0..=7 defined), MPLS label, tunnel identifier; an
        // ingress-replication identifier is an IPv4 or IPv6 address.
        code::PMSI_TUNNEL => {
            if v.len() < 5 {
                return Err(Kind::Length);
            }
            match v[1] {
                0..=5 | 7 => Ok(()),
                6 if matches!(v.len() - 5, 4 | 16) => Ok(()),
                6 => Err(Kind::Length),
                _ => Err(Kind::Value),
            }
        }
        // RFC 9012 2: tunnel TLVs with 2-octet type and length, each exactly filled.
        code::TUNNEL_ENCAPSULATION => tlvs_fit(v, 2).map(drop),
        // RFC 5701: a non-empty list of 20-octet communities.
        code::IPV6_EXTENDED_COMMUNITIES => {
            if v.is_empty() || v.len() % 20 != 0 {
                Err(Kind::Length)
            } else {
                Ok(())
            }
        }
        // RFC 7311 3: TLVs with 1-octet type and 2-octet length including the header; the
        // AIGP TLV (type 1) is 11 octets.
        code::AIGP => {
            if v.len() < 3 {
                return Err(Kind::Length);
            }
            let mut rest = v;
            while !rest.is_empty() {
                if rest.len() < 3 {
                    return Err(Kind::Overrun);
                }
                let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
                if rest[0] != 1 || len != 11 || rest.len() < len {
                    return Err(Kind::Value);
                }
                rest = &rest[len..];
            }
            Ok(())
        }
        // RFC 9552 5.3: TLVs with 2-octet type and length.
        code::BGP_LS => {
            if v.is_empty() {
                return Err(Kind::Length);
            }
            tlvs_fit(v, 2).map(drop)
        }
        // draft-ietf-idr-next-hop-capability: AFI, SAFI, then capability TLVs.
        code::NHC => {
            if v.len() < 3 {
                return Err(Kind::Length);
            }
            let afi = u16::from_be_bytes([v[0], v[1]]);
            if !matches!(afi, 1 | 2 | 25) {
                return Err(Kind::Value);
            }
            tlvs_fit(&v[3..], 2).map(drop)
        }
        // RFC 8669 3: TLVs with 1-octet type and 2-octet length; the label index TLV (type 1)
        // has 7 octets, the originator SRGB TLV (type 3) 2 plus a multiple of 6.
        code::PREFIX_SID => {
            let tlvs = tlvs_fit(v, 1)?;
            if tlvs.is_empty() {
                return Err(Kind::Length);
            }
            for (t, body) in tlvs {
                match t {
                    1 if body.len() != 7 => return Err(Kind::Length),
                    3 if body.len() < 2 || (body.len() - 2) % 6 != 0 => {
                        return Err(Kind::Length);
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl PathAttributes {
    /// Decodes a block of path attributes on its own, as MRT RIB entries hold them. Returns
    /// the attributes and the RFC 7606 errors found.
    pub fn decode_block(
        field: &Bytes,
        ctx: &Context,
    ) -> Result<(PathAttributes, Vec<AttributeError>), DecodeError> {
        let mut errors = Vec::new();
        let around = Surroundings {
            has_ipv4_nlri: false,
        };
        let mut attrs = PathAttributes::default();
        PathAttributes::decode_into(&mut attrs, field, 0..field.len(), ctx, &around, &mut errors)?;
        Ok((attrs, errors))
    }

    /// Encodes the attributes as a block on its own (the inverse of [`Self::decode_block`]).
    pub fn to_block(&self, ctx: &Context) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::with_capacity(self.wire_len(ctx));
        self.write_to(ctx, &mut out)?;
        Ok(out.freeze())
    }

    /// Decodes the path attributes field (`field` is that field of the received message).
    /// RFC 7606 outcomes are appended to `errors`; only session-reset errors are returned.
    ///
    /// Decodes into `attrs`, which must be empty: the set is large, and building it in place
    /// saves copying it out of a `Result`.
    pub(crate) fn decode_into(
        attrs: &mut PathAttributes,
        src: &Bytes,
        range: std::ops::Range<usize>,
        ctx: &Context,
        around: &Surroundings,
        errors: &mut Vec<AttributeError>,
    ) -> Result<(), DecodeError> {
        let base = range.start;
        let field: &[u8] = &src[range];
        // Ranges below are relative to the field; `abs` makes them ranges of `src`.
        let abs = |r: &std::ops::Range<usize>| base + r.start..base + r.end;
        let mut seen = [0u64; 4];
        let mut last_code = 0u8;
        let mut ascending = true;
        let mut pos = 0usize;
        let total = field.len();
        let note = |errors: &mut Vec<AttributeError>, code: u8, kind: Kind, action| {
            errors.push(AttributeError {
                code,
                name: name(code),
                kind,
                action,
            })
        };

        while pos < total {
            let rest = &field[pos..];
            // RFC 7606 4: too few octets for an attribute header, or an attribute overrunning
            // the field, is treat-as-withdraw; the Total Path Attribute Length still locates
            // the NLRI. An overrunning MP attribute would hide NLRI: session reset.
            let (flag_octet, code) = match rest {
                [f, c, ..] if rest.len() >= 3 => (*f, *c),
                _ => {
                    note(errors, 0, Kind::Overrun, ErrorAction::TreatAsWithdraw);
                    break;
                }
            };
            let ext = flag_octet & flags::EXTENDED_LENGTH != 0;
            let hdr = if ext { 4 } else { 3 };
            let len = match (ext, rest.len()) {
                (true, n) if n >= 4 => usize::from(u16::from_be_bytes([rest[2], rest[3]])),
                (false, _) => usize::from(rest[2]),
                _ => {
                    note(errors, code, Kind::Overrun, ErrorAction::TreatAsWithdraw);
                    break;
                }
            };
            if rest.len() < hdr + len {
                if matches!(code, code::MP_REACH_NLRI | code::MP_UNREACH_NLRI) {
                    return Err(DecodeError::MalformedAttributeList(
                        "MP attribute overruns the path attributes",
                    ));
                }
                note(errors, code, Kind::Overrun, ErrorAction::TreatAsWithdraw);
                break;
            }
            let value_range = pos + hdr..pos + hdr + len;
            let attr_range = pos..pos + hdr + len;
            pos += hdr + len;
            let v = &field[value_range.clone()];

            // RFC 7606 3(g): repeated MP attributes reset the session, any other repeat is
            // dropped after the first.
            let (word, bit) = (usize::from(code / 64), 1u64 << (code % 64));
            if seen[word] & bit != 0 {
                if matches!(code, code::MP_REACH_NLRI | code::MP_UNREACH_NLRI) {
                    return Err(DecodeError::MalformedAttributeList(
                        "MP_REACH_NLRI or MP_UNREACH_NLRI repeated",
                    ));
                }
                note(errors, code, Kind::Duplicate, ErrorAction::AttributeDiscard);
                continue;
            }
            seen[word] |= bit;
            ascending &= last_code <= code;
            last_code = code;

            let Some(class) = class_of(code) else {
                if flag_octet & flags::OPTIONAL == 0 {
                    return Err(DecodeError::UnrecognizedWellKnownAttribute {
                        code,
                        attribute: src.slice(abs(&attr_range)),
                    });
                }
                insert_sorted(
                    &mut attrs.other,
                    RawAttribute {
                        flags: flag_octet,
                        code,
                        value: src.slice(abs(&value_range)),
                    },
                );
                continue;
            };
            if !flags_fit(class, flag_octet) {
                if matches!(code, code::MP_REACH_NLRI | code::MP_UNREACH_NLRI) {
                    return Err(DecodeError::AttributeFlags {
                        code,
                        attribute: src.slice(abs(&attr_range)),
                    });
                }
                let action = match code {
                    code::AIGP | code::BGP_LS | code::NHC | code::PREFIX_SID => {
                        ErrorAction::AttributeDiscard
                    }
                    _ => ErrorAction::TreatAsWithdraw,
                };
                note(errors, code, Kind::Flags, action);
                continue;
            }
            attrs.wire_flags.note(code, flag_octet);

            let external = ctx.peer == PeerKind::External;
            let result: Result<(), Kind> = match code {
                code::ORIGIN => match v {
                    [o @ 0..=2] => {
                        attrs.origin = Some(match o {
                            0 => Origin::Igp,
                            1 => Origin::Egp,
                            _ => Origin::Incomplete,
                        });
                        Ok(())
                    }
                    [_] => Err(Kind::Value),
                    _ => Err(Kind::Length),
                },
                code::AS_PATH => {
                    AsPath::parse(src, abs(&value_range), ctx.four_octet_as).and_then(|p| {
                        if external && p.has_confed() {
                            Err(Kind::ConfedFromExternal)
                        } else {
                            attrs.as_path = Some(p);
                            Ok(())
                        }
                    })
                }
                code::NEXT_HOP => match ipv4_of(v) {
                    None => Err(Kind::Length),
                    Some(a) => {
                        attrs.next_hop = Some(a);
                        if around.has_ipv4_nlri && martian_next_hop(a) {
                            Err(Kind::NextHop)
                        } else {
                            Ok(())
                        }
                    }
                },
                code::MULTI_EXIT_DISC => u32_of(v).map(|m| attrs.med = Some(m)).ok_or(Kind::Length),
                // RFC 7606 7.5 (LOCAL_PREF) and RFC 4456 (reflection attributes): from an
                // external peer they are discarded whatever they hold.
                code::LOCAL_PREF | code::ORIGINATOR_ID | code::CLUSTER_LIST if external => {
                    note(
                        errors,
                        code,
                        Kind::ExternalPeer,
                        ErrorAction::AttributeDiscard,
                    );
                    Ok(())
                }
                code::LOCAL_PREF => u32_of(v)
                    .map(|m| attrs.local_pref = Some(m))
                    .ok_or(Kind::Length),
                code::ATOMIC_AGGREGATE if v.is_empty() => {
                    attrs.atomic_aggregate = true;
                    Ok(())
                }
                code::ATOMIC_AGGREGATE => Err(Kind::Length),
                code::AGGREGATOR => {
                    parse_aggregator(v, ctx.four_octet_as).map(|a| attrs.aggregator = Some(a))
                }
                code::AS4_AGGREGATOR => {
                    parse_aggregator(v, true).map(|a| attrs.as4_aggregator = Some(a))
                }
                code::COMMUNITIES => Communities::parse(src, abs(&value_range))
                    .map(|c| attrs.communities = Some(c))
                    .ok_or(Kind::Length),
                code::ORIGINATOR_ID => ipv4_of(v)
                    .map(|a| attrs.originator_id = Some(a))
                    .ok_or(Kind::Length),
                code::CLUSTER_LIST => ClusterList::parse(src, abs(&value_range))
                    .map(|c| attrs.cluster_list = Some(c))
                    .ok_or(Kind::Length),
                code::MP_REACH_NLRI => {
                    let m = MpReach::parse(src, abs(&value_range), ctx)
                        .map_err(|e| mp_error(e, code, src.slice(abs(&attr_range))))?;
                    attrs.mp_reach = Some(m);
                    Ok(())
                }
                code::MP_UNREACH_NLRI => {
                    let m = MpUnreach::parse(src, abs(&value_range), ctx)
                        .map_err(|e| mp_error(e, code, src.slice(abs(&attr_range))))?;
                    attrs.mp_unreach = Some(m);
                    Ok(())
                }
                code::EXTENDED_COMMUNITIES => ExtCommunities::parse(src, abs(&value_range))
                    .map(|c| attrs.ext_communities = Some(c))
                    .ok_or(Kind::Length),
                code::AS4_PATH => {
                    AsPath::parse(src, abs(&value_range), true).map(|p| attrs.as4_path = Some(p))
                }
                code::LARGE_COMMUNITY => LargeCommunities::parse(src, abs(&value_range))
                    .map(|c| attrs.large_communities = Some(c))
                    .ok_or(Kind::Length),
                code::OTC => match u32_of(v) {
                    None => Err(Kind::Length),
                    Some(0) => Err(Kind::ZeroAsn),
                    Some(asn) => {
                        attrs.otc = Some(asn);
                        Ok(())
                    }
                },
                _ => validate_opaque(code, v).map(|()| {
                    insert_sorted(
                        &mut attrs.other,
                        RawAttribute {
                            flags: flag_octet,
                            code,
                            value: src.slice(abs(&value_range)),
                        },
                    )
                }),
            };
            if let Err(kind) = result {
                note(errors, code, kind, action_for(code));
            }
        }

        if !ascending {
            attrs.wire_flags.order = Some(received_order(field).into());
        }

        // RFC 7606 3(d): missing well-known mandatory attributes, when there is something to
        // announce.
        if around.has_ipv4_nlri || attrs.mp_reach.is_some() {
            let mut missing = |code: u8, present: bool| {
                if !present && !errors.iter().any(|e| e.code == code) {
                    note(errors, code, Kind::Missing, ErrorAction::TreatAsWithdraw);
                }
            };
            missing(code::ORIGIN, attrs.origin.is_some());
            missing(code::AS_PATH, attrs.as_path.is_some());
            if around.has_ipv4_nlri {
                missing(code::NEXT_HOP, attrs.next_hop.is_some());
            }
        }
        Ok(())
    }

    /// Encoded size of the path attributes field.
    pub(crate) fn wire_len(&self, ctx: &Context) -> usize {
        let mut n = 0;
        self.for_each_attribute(ctx, |_, _, len, _| {
            n += if len > 255 { 4 } else { 3 } + len;
        });
        for raw in &self.other {
            n += if raw.value.len() > 255 || raw.flags & flags::EXTENDED_LENGTH != 0 {
                4
            } else {
                3
            } + raw.value.len();
        }
        // An extended-length bit kept from the wire on a short typed attribute adds one.
        self.for_each_attribute(ctx, |code, _, len, _| {
            if len <= 255 && self.wire_flags.ext_len(code) {
                n += 1;
            }
        });
        n
    }

    /// Writes the path attributes field: in type-code order, or in the order they were
    /// received when that was different.
    pub(crate) fn write_to(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        self.write_ascending(ctx, out)?;
        if let Some(order) = &self.wire_flags.order {
            reorder(&mut out[start..], order);
        }
        Ok(())
    }

    fn write_ascending(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let mut oi = 0;
        let mut failed = None;
        self.for_each_attribute(ctx, |code, class_flags, len, write| {
            while oi < self.other.len() && self.other[oi].code < code {
                if let Err(e) = write_raw(&self.other[oi], out) {
                    failed.get_or_insert(e);
                }
                oi += 1;
            }
            let mut f = class_flags;
            if self.wire_flags.partial(code) && class_flags & flags::OPTIONAL != 0 {
                f |= flags::PARTIAL;
            }
            if len > 255 || self.wire_flags.ext_len(code) {
                if len > usize::from(u16::MAX) {
                    failed.get_or_insert(EncodeError::FieldTooLong(name(code)));
                    return;
                }
                out.put_u8(f | flags::EXTENDED_LENGTH);
                out.put_u8(code);
                out.put_u16(len as u16);
            } else {
                out.put_u8(f);
                out.put_u8(code);
                out.put_u8(len as u8);
            }
            write(out);
        });
        for raw in &self.other[oi..] {
            if let Err(e) = write_raw(raw, out) {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Calls `f(code, flags, value_len, writer)` for every typed attribute present, in
    /// type-code order, with the AS4 attributes a two-octet peer needs (RFC 6793 4.2.2).
    fn for_each_attribute(
        &self,
        ctx: &Context,
        mut f: impl FnMut(u8, u8, usize, &dyn Fn(&mut BytesMut)),
    ) {
        use flags::{OPTIONAL as O, TRANSITIVE as T};
        let four = ctx.four_octet_as;
        if let Some(o) = self.origin {
            f(code::ORIGIN, T, 1, &|out| out.put_u8(o as u8));
        }
        if let Some(p) = &self.as_path {
            f(code::AS_PATH, T, p.wire_len(four), &|out| {
                p.write_to(four, out)
            });
        }
        if let Some(nh) = self.next_hop {
            f(code::NEXT_HOP, T, 4, &|out| {
                out.extend_from_slice(&nh.octets())
            });
        }
        if let Some(m) = self.med {
            f(code::MULTI_EXIT_DISC, O, 4, &|out| out.put_u32(m));
        }
        if let Some(lp) = self.local_pref {
            f(code::LOCAL_PREF, T, 4, &|out| out.put_u32(lp));
        }
        if self.atomic_aggregate {
            f(code::ATOMIC_AGGREGATE, T, 0, &|_| {});
        }
        if let Some(a) = self.aggregator {
            let len = if four { 8 } else { 6 };
            f(code::AGGREGATOR, O | T, len, &|out| {
                if four {
                    out.put_u32(a.asn);
                } else {
                    out.put_u16(u16::try_from(a.asn).unwrap_or(AS_TRANS));
                }
                out.extend_from_slice(&a.address.octets());
            });
        }
        if let Some(c) = &self.communities {
            f(code::COMMUNITIES, O | T, c.wire().len(), &|out| {
                out.extend_from_slice(c.wire())
            });
        }
        if let Some(id) = self.originator_id {
            f(code::ORIGINATOR_ID, O, 4, &|out| {
                out.extend_from_slice(&id.octets())
            });
        }
        if let Some(c) = &self.cluster_list {
            f(code::CLUSTER_LIST, O, c.wire().len(), &|out| {
                out.extend_from_slice(c.wire())
            });
        }
        if let Some(m) = &self.mp_reach {
            f(code::MP_REACH_NLRI, O, m.wire_len(ctx), &|out| {
                m.write_to(ctx, out)
            });
        }
        if let Some(m) = &self.mp_unreach {
            f(code::MP_UNREACH_NLRI, O, m.wire_len(ctx), &|out| {
                m.write_to(ctx, out)
            });
        }
        if let Some(c) = &self.ext_communities {
            f(code::EXTENDED_COMMUNITIES, O | T, c.wire().len(), &|out| {
                out.extend_from_slice(c.wire())
            });
        }
        // AS4_PATH: as held, or derived for a two-octet peer when the path needs it.
        let derived_as4 = (!four && self.as4_path.is_none())
            .then_some(self.as_path.as_ref())
            .flatten()
            .filter(|p| p.needs_four_octets())
            .map(|p| AsPath::from_segments(p.to_segments().iter().filter(|s| !s.kind.is_confed())));
        if let Some(p) = self.as4_path.as_ref().or(derived_as4.as_ref()) {
            f(code::AS4_PATH, O | T, p.wire_len(true), &|out| {
                p.write_to(true, out)
            });
        }
        let derived_as4_agg = (!four && self.as4_aggregator.is_none())
            .then_some(self.aggregator)
            .flatten()
            .filter(|a| a.asn > 0xffff);
        if let Some(a) = self.as4_aggregator.or(derived_as4_agg) {
            f(code::AS4_AGGREGATOR, O | T, 8, &|out| {
                out.put_u32(a.asn);
                out.extend_from_slice(&a.address.octets());
            });
        }
        if let Some(c) = &self.large_communities {
            f(code::LARGE_COMMUNITY, O | T, c.wire().len(), &|out| {
                out.extend_from_slice(c.wire())
            });
        }
        if let Some(asn) = self.otc {
            f(code::OTC, O | T, 4, &|out| out.put_u32(asn));
        }
    }

    /// Replaces AS_PATH and AGGREGATOR with what AS4_PATH and AS4_AGGREGATOR say, for
    /// attributes received from a two-octet peer (RFC 6793 4.2.3), and drops the AS4
    /// attributes.
    pub fn merge_as4(&mut self) {
        let as4_path = self.as4_path.take();
        let as4_agg = self.as4_aggregator.take();
        // An AGGREGATOR that is not AS_TRANS means the AS4 attributes are stale.
        if let Some(agg) = self.aggregator
            && agg.asn != u32::from(AS_TRANS)
        {
            return;
        }
        if let Some(a4) = as4_agg {
            self.aggregator = Some(a4);
        }
        if let (Some(p), Some(p4)) = (self.as_path.as_ref(), as4_path.as_ref()) {
            self.as_path = Some(AsPath::merge_as4(p, p4));
        }
    }
}

/// The type codes of a (decoded, so well-framed up to any overrun) attribute field, in order,
/// first occurrences only.
fn received_order(field: &[u8]) -> Vec<u8> {
    let mut order: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos + 3 <= field.len() {
        let code = field[pos + 1];
        let (hdr, len) = if field[pos] & flags::EXTENDED_LENGTH != 0 {
            let Some(l) = field.get(pos + 2..pos + 4) else {
                break;
            };
            (4, usize::from(u16::from_be_bytes([l[0], l[1]])))
        } else {
            (3, usize::from(field[pos + 2]))
        };
        if !order.contains(&code) {
            order.push(code);
        }
        pos += hdr + len;
    }
    order
}

/// Rearranges an encoded attribute field so that the codes listed in `order` come in that
/// order; attributes not listed keep their place after them.
fn reorder(field: &mut [u8], order: &[u8]) {
    let mut spans: Vec<(u8, std::ops::Range<usize>)> = Vec::new();
    let mut pos = 0;
    while pos + 3 <= field.len() {
        let ext = field[pos] & flags::EXTENDED_LENGTH != 0;
        let (hdr, len) = if ext {
            (
                4,
                usize::from(u16::from_be_bytes([field[pos + 2], field[pos + 3]])),
            )
        } else {
            (3, usize::from(field[pos + 2]))
        };
        spans.push((field[pos + 1], pos..pos + hdr + len));
        pos += hdr + len;
    }
    let rank = |code: u8| order.iter().position(|c| *c == code).unwrap_or(usize::MAX);
    spans.sort_by_key(|(code, _)| rank(*code));
    let copy = field.to_vec();
    let mut at = 0;
    for (_, r) in spans {
        let n = r.len();
        field[at..at + n].copy_from_slice(&copy[r]);
        at += n;
    }
}

fn insert_sorted(v: &mut Vec<RawAttribute>, a: RawAttribute) {
    let at = v.partition_point(|x| x.code <= a.code);
    v.insert(at, a);
}

fn write_raw(raw: &RawAttribute, out: &mut BytesMut) -> Result<(), EncodeError> {
    let len = raw.value.len();
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong("path attribute"));
    }
    if len > 255 || raw.flags & flags::EXTENDED_LENGTH != 0 {
        out.put_u8(raw.flags | flags::EXTENDED_LENGTH);
        out.put_u8(raw.code);
        out.put_u16(len as u16);
    } else {
        out.put_u8(raw.flags);
        out.put_u8(raw.code);
        out.put_u8(len as u8);
    }
    out.extend_from_slice(&raw.value);
    Ok(())
}

fn mp_error(e: MpError, code: u8, attribute: Bytes) -> DecodeError {
    match e {
        MpError::Malformed(why) => DecodeError::MalformedAttributeList(why),
        MpError::Nlri(reason) => DecodeError::OptionalAttribute {
            code,
            reason,
            attribute,
        },
    }
}
