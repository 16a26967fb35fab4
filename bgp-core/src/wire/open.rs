//! OPEN (RFC 4271 4.2), capabilities (RFC 5492) and extended optional parameters (RFC 9072).

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::multi::many0;
use nom::number::complete::{be_u8, be_u16, be_u24, be_u32};

use crate::types::{AS_TRANS, Afi, Asn, Family, Safi};
use crate::wire::error::{DecodeError, EncodeError};

/// ADD-PATH send/receive mode for one family (RFC 7911 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum AddPathMode {
    Receive = 1,
    Send = 2,
    Both = 3,
}

impl AddPathMode {
    pub fn can_send(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
    pub fn can_receive(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }
}

/// Per-family graceful-restart state (RFC 4724 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// Forwarding state for the family was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// Per-family long-lived graceful-restart state (RFC 9494).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LlgrFamily {
    pub family: Family,
    pub forwarding_preserved: bool,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// A capability (RFC 5492 4). Capabilities we do not know are kept and shown, not refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Capability {
    /// Code 1 (RFC 4760).
    Multiprotocol(Family),
    /// Code 2 (RFC 2918).
    RouteRefresh,
    /// Code 5 (RFC 8950): NLRI family and the next-hop AFI allowed for it.
    ExtendedNextHop(Vec<(Family, Afi)>),
    /// Code 6 (RFC 8654).
    ExtendedMessage,
    /// Code 9 (RFC 9234).
    Role(u8),
    /// Code 64 (RFC 4724; the N bit from RFC 8538).
    GracefulRestart {
        restarting: bool,
        notification: bool,
        restart_time: u16,
        families: Vec<GracefulRestartFamily>,
    },
    /// Code 65 (RFC 6793).
    FourOctetAs(Asn),
    /// Code 69 (RFC 7911).
    AddPath(Vec<(Family, AddPathMode)>),
    /// Code 70 (RFC 7313).
    EnhancedRouteRefresh,
    /// Code 71 (RFC 9494).
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// Code 73 (draft-walton-bgp-hostname-capability).
    Fqdn { hostname: String, domain: String },
    /// Code 75 (draft-ietf-idr-software-version).
    SoftwareVersion(String),
    /// Code 128: the pre-standard route refresh code.
    RouteRefreshCisco,
    /// Any other capability, or a known one whose value is malformed (it is then ignored).
    Unknown {
        code: u8,
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::wire::hex"))]
        value: Bytes,
    },
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => 1,
            Capability::RouteRefresh => 2,
            Capability::ExtendedNextHop(_) => 5,
            Capability::ExtendedMessage => 6,
            Capability::Role(_) => 9,
            Capability::GracefulRestart { .. } => 64,
            Capability::FourOctetAs(_) => 65,
            Capability::AddPath(_) => 69,
            Capability::EnhancedRouteRefresh => 70,
            Capability::LongLivedGracefulRestart(_) => 71,
            Capability::Fqdn { .. } => 73,
            Capability::SoftwareVersion(_) => 75,
            Capability::RouteRefreshCisco => 128,
            Capability::Unknown { code, .. } => *code,
        }
    }

    fn parse(code: u8, v: &[u8]) -> Capability {
        Capability::parse_known(code, v).unwrap_or_else(|| Capability::Unknown {
            code,
            value: Bytes::copy_from_slice(v),
        })
    }

    /// The typed form, or `None` when the code is unknown or the value malformed.
    fn parse_known(code: u8, v: &[u8]) -> Option<Capability> {
        fn all<'a, O>(
            v: &'a [u8],
            mut p: impl Parser<&'a [u8], Output = O, Error = nom::error::Error<&'a [u8]>>,
        ) -> Option<O> {
            match p.parse(v) {
                Ok((&[], o)) => Some(o),
                _ => None,
            }
        }
        fn family(i: &[u8]) -> IResult<&[u8], Family> {
            (be_u16, be_u8)
                .map(|(a, s)| Family::new(Afi(a), Safi(s)))
                .parse(i)
        }
        fn short_string(i: &[u8]) -> IResult<&[u8], String> {
            let (i, len) = be_u8(i)?;
            let (i, s) = take(len)(i)?;
            match std::str::from_utf8(s) {
                Ok(s) => Ok((i, s.to_owned())),
                Err(_) => Err(nom::Err::Error(nom::error::Error::new(
                    i,
                    nom::error::ErrorKind::Verify,
                ))),
            }
        }
        Some(match code {
            1 => all(v, (be_u16, be_u8, be_u8))
                .map(|(a, _, s)| Capability::Multiprotocol(Family::new(Afi(a), Safi(s))))?,
            2 if v.is_empty() => Capability::RouteRefresh,
            5 => Capability::ExtendedNextHop(all(
                v,
                many0(
                    (be_u16, be_u16, be_u16)
                        .map(|(a, s, nh)| (Family::new(Afi(a), Safi(s as u8)), Afi(nh))),
                ),
            )?),
            6 if v.is_empty() => Capability::ExtendedMessage,
            9 => Capability::Role(all(v, be_u8)?),
            64 => {
                let (head, families) = all(
                    v,
                    (
                        be_u16,
                        many0((family, be_u8).map(|(family, f)| GracefulRestartFamily {
                            family,
                            forwarding_preserved: f & 0x80 != 0,
                        })),
                    ),
                )?;
                Capability::GracefulRestart {
                    restarting: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                }
            }
            65 => Capability::FourOctetAs(all(v, be_u32)?),
            69 => Capability::AddPath(all(
                v,
                many0((family, be_u8).map_opt(|(f, m)| {
                    let mode = match m {
                        1 => AddPathMode::Receive,
                        2 => AddPathMode::Send,
                        3 => AddPathMode::Both,
                        _ => return None,
                    };
                    Some((f, mode))
                })),
            )?),
            70 if v.is_empty() => Capability::EnhancedRouteRefresh,
            71 => Capability::LongLivedGracefulRestart(all(
                v,
                many0(
                    (family, be_u8, be_u24).map(|(family, f, stale_time)| LlgrFamily {
                        family,
                        forwarding_preserved: f & 0x80 != 0,
                        stale_time,
                    }),
                ),
            )?),
            73 => {
                let (hostname, domain) = all(v, (short_string, short_string))?;
                Capability::Fqdn { hostname, domain }
            }
            75 => Capability::SoftwareVersion(all(v, short_string)?),
            128 if v.is_empty() => Capability::RouteRefreshCisco,
            _ => return None,
        })
    }

    /// Writes code, length and value, as in a Capabilities optional parameter (and in the
    /// data of an Unsupported Capability NOTIFICATION, RFC 5492 5).
    pub fn write_tlv(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let at = out.len();
        out.put_u8(self.code());
        out.put_u8(0);
        self.write_value(out);
        let len = out.len() - at - 2;
        out[at + 1] = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong("capability"))?;
        Ok(())
    }

    fn write_value(&self, out: &mut BytesMut) {
        let fam = |out: &mut BytesMut, f: &Family| {
            out.put_u16(f.afi.0);
            out.put_u8(f.safi.0);
        };
        match self {
            Capability::Multiprotocol(f) => {
                out.put_u16(f.afi.0);
                out.put_u8(0);
                out.put_u8(f.safi.0);
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh
            | Capability::RouteRefreshCisco => {}
            Capability::ExtendedNextHop(v) => {
                for (f, nh) in v {
                    out.put_u16(f.afi.0);
                    out.put_u16(u16::from(f.safi.0));
                    out.put_u16(nh.0);
                }
            }
            Capability::Role(r) => out.put_u8(*r),
            Capability::GracefulRestart {
                restarting,
                notification,
                restart_time,
                families,
            } => {
                let mut head = restart_time & 0x0fff;
                if *restarting {
                    head |= 0x8000;
                }
                if *notification {
                    head |= 0x4000;
                }
                out.put_u16(head);
                for f in families {
                    fam(out, &f.family);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::AddPath(v) => {
                for (f, m) in v {
                    fam(out, f);
                    out.put_u8(*m as u8);
                }
            }
            Capability::LongLivedGracefulRestart(v) => {
                for f in v {
                    fam(out, &f.family);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                    let t = f.stale_time.min(0x00ff_ffff);
                    out.put_u8((t >> 16) as u8);
                    out.put_u16(t as u16);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for s in [hostname, domain] {
                    let b = truncate_str(s, 255);
                    out.put_u8(b.len() as u8);
                    out.extend_from_slice(b);
                }
            }
            Capability::SoftwareVersion(s) => {
                let b = truncate_str(s, 254);
                out.put_u8(b.len() as u8);
                out.extend_from_slice(b);
            }
            Capability::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }
}

/// The longest prefix of `s` of at most `max` octets that ends on a character boundary.
pub(crate) fn truncate_str(s: &str, max: usize) -> &[u8] {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

/// An OPEN message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Open {
    pub version: u8,
    /// The two-octet "My Autonomous System" field (`AS_TRANS` for four-octet ASNs).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    /// The capabilities, one list per Capabilities optional parameter, in wire order.
    pub parameters: Vec<Vec<Capability>>,
    /// The optional parameters use (or will use) the RFC 9072 extended encoding.
    pub extended_parameters: bool,
}

impl Open {
    /// An OPEN announcing `asn` (with the four-octet AS capability added when missing) and
    /// `capabilities` in one optional parameter.
    pub fn new(asn: Asn, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Open {
        let mut caps = capabilities;
        if !caps.iter().any(|c| matches!(c, Capability::FourOctetAs(_))) {
            caps.push(Capability::FourOctetAs(asn));
        }
        Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            parameters: vec![caps],
            extended_parameters: false,
        }
    }

    /// All capabilities, across parameters.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flatten()
    }

    /// The sender's AS: from the four-octet AS capability when present.
    pub fn asn(&self) -> Asn {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Decodes an OPEN body.
    pub fn decode(body: &[u8]) -> Result<Open, DecodeError> {
        let length = (body.len() + super::HEADER_LEN) as u16;
        let fixed: IResult<&[u8], _> = (be_u8, be_u16, be_u16, be_u32, be_u8).parse(body);
        let Ok((rest, (version, my_as, hold_time, id, opt_len))) = fixed else {
            return Err(DecodeError::BadMessageLength { length });
        };
        if version != 4 {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        if hold_time == 1 || hold_time == 2 {
            return Err(DecodeError::UnacceptableHoldTime(hold_time));
        }
        // RFC 9072 2: a non-extended length of 255 with a first type of 255 announces the
        // extended encoding.
        let extended = opt_len == 255 && rest.first() == Some(&255);
        let (params, wide) = if extended {
            let (p, len) = be_u16::<_, nom::error::Error<&[u8]>>(&rest[1..]).map_err(|_| {
                DecodeError::MalformedOptionalParameters("truncated extended length")
            })?;
            (p, usize::from(len))
        } else {
            (rest, usize::from(opt_len))
        };
        if params.len() != wide {
            return Err(DecodeError::MalformedOptionalParameters(
                "optional parameters length does not match the message",
            ));
        }
        let mut parameters = Vec::new();
        let mut p = params;
        while !p.is_empty() {
            let header: IResult<&[u8], (u8, u16)> = if extended {
                (be_u8, be_u16).parse(p)
            } else {
                (be_u8, be_u8.map(u16::from)).parse(p)
            };
            let Ok((after, (ptype, plen))) = header else {
                return Err(DecodeError::MalformedOptionalParameters(
                    "truncated parameter header",
                ));
            };
            let Some(value) = after.get(..usize::from(plen)) else {
                return Err(DecodeError::MalformedOptionalParameters(
                    "parameter overruns the optional parameters",
                ));
            };
            p = &after[usize::from(plen)..];
            if ptype != 2 {
                return Err(DecodeError::UnsupportedOptionalParameter(ptype));
            }
            parameters.push(parse_capabilities(value)?);
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            parameters,
            extended_parameters: extended,
        })
    }

    /// Writes the OPEN body.
    pub fn write_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.extend_from_slice(&self.bgp_id.octets());
        let mut params = BytesMut::new();
        let mut values = Vec::with_capacity(self.parameters.len());
        for caps in &self.parameters {
            let mut v = BytesMut::new();
            for c in caps {
                let at = v.len();
                v.put_u8(c.code());
                v.put_u8(0);
                c.write_value(&mut v);
                let clen = v.len() - at - 2;
                v[at + 1] =
                    u8::try_from(clen).map_err(|_| EncodeError::FieldTooLong("capability"))?;
            }
            values.push(v);
        }
        let extended = self.extended_parameters || values.iter().any(|v| v.len() > 255);
        for v in &values {
            params.put_u8(2);
            if extended {
                let len = u16::try_from(v.len())
                    .map_err(|_| EncodeError::FieldTooLong("optional parameter"))?;
                params.put_u16(len);
            } else {
                params.put_u8(v.len() as u8);
            }
            params.extend_from_slice(v);
        }
        if extended {
            out.put_u8(255);
            out.put_u8(255);
            let len = u16::try_from(params.len())
                .map_err(|_| EncodeError::FieldTooLong("optional parameters"))?;
            out.put_u16(len);
        } else {
            let len = u8::try_from(params.len())
                .map_err(|_| EncodeError::FieldTooLong("optional parameters"))?;
            out.put_u8(len);
        }
        out.extend_from_slice(&params);
        Ok(())
    }
}

fn parse_capabilities(mut v: &[u8]) -> Result<Vec<Capability>, DecodeError> {
    let mut caps = Vec::new();
    while !v.is_empty() {
        let (code, len) = match v {
            [c, l, ..] => (*c, usize::from(*l)),
            _ => {
                return Err(DecodeError::MalformedOptionalParameters(
                    "truncated capability header",
                ));
            }
        };
        let Some(value) = v.get(2..2 + len) else {
            return Err(DecodeError::MalformedOptionalParameters(
                "capability overruns its parameter",
            ));
        };
        caps.push(Capability::parse(code, value));
        v = &v[2 + len..];
    }
    Ok(caps)
}
