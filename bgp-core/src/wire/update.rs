//! UPDATE (RFC 4271 4.3) with RFC 7606 error handling.

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::{Afi, Family};
use crate::wire::attributes::{MpNlri, MpUnreach, PathAttributes, Surroundings};
use crate::wire::context::Context;
use crate::wire::error::{AttributeError, DecodeError, EncodeError, ErrorAction};
use crate::wire::nlri::Prefixes;

/// An UPDATE message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Update {
    /// The IPv4 unicast Withdrawn Routes field.
    pub withdrawn: Prefixes,
    pub attributes: PathAttributes,
    /// The IPv4 unicast NLRI field.
    pub nlri: Prefixes,
    /// RFC 7606 errors found while decoding, with the action each calls for. Empty for a
    /// well-formed message.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub errors: Vec<AttributeError>,
}

impl Update {
    /// An UPDATE with the given IPv4 parts and no errors.
    pub fn new(withdrawn: Prefixes, attributes: PathAttributes, nlri: Prefixes) -> Update {
        Update {
            withdrawn,
            attributes,
            nlri,
            errors: Vec::new(),
        }
    }

    /// The End-of-RIB marker of `family` (RFC 4724 2).
    pub fn end_of_rib(family: Family) -> Update {
        let mut u = Update::new(
            Prefixes::empty(Afi::IPV4, false),
            PathAttributes::default(),
            Prefixes::empty(Afi::IPV4, false),
        );
        if family != Family::IPV4_UNICAST {
            u.attributes.mp_unreach = Some(MpUnreach::end_of_rib(family));
        }
        u
    }

    /// The family this message marks the End-of-RIB of, if it is such a marker: an empty
    /// UPDATE for IPv4 unicast, or one holding only an empty MP_UNREACH_NLRI.
    pub fn as_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || !self.errors.is_empty() {
            return None;
        }
        let a = &self.attributes;
        let only_unreach = PathAttributes {
            mp_unreach: a.mp_unreach.clone(),
            wire_flags: a.wire_flags.clone(),
            ..PathAttributes::default()
        };
        if *a != only_unreach {
            return None;
        }
        match &a.mp_unreach {
            None => Some(Family::IPV4_UNICAST),
            Some(u) if u.nlri.is_empty() => Some(u.family),
            Some(_) => None,
        }
    }

    /// The strongest RFC 7606 action the errors call for.
    pub fn error_action(&self) -> Option<ErrorAction> {
        self.errors.iter().map(|e| e.action).max()
    }

    /// Whether the announced routes must be handled as withdrawn (RFC 7606 2).
    pub fn is_treat_as_withdraw(&self) -> bool {
        self.error_action() == Some(ErrorAction::TreatAsWithdraw)
    }

    /// Decodes an UPDATE body (the message without its 19-octet header).
    pub fn decode(body: &Bytes, ctx: &Context) -> Result<Update, DecodeError> {
        let mut u = Update::empty();
        u.decode_into(body, 0, ctx)?;
        Ok(u)
    }

    pub(crate) fn empty() -> Update {
        Update::new(
            Prefixes::empty(Afi::IPV4, false),
            PathAttributes::default(),
            Prefixes::empty(Afi::IPV4, false),
        )
    }

    /// Decodes the UPDATE body that starts at `start` in `src` into `self`, which must be
    /// empty. The value is large; decoding in place saves moving it through `Result`s.
    pub(crate) fn decode_into(
        &mut self,
        src: &Bytes,
        start: usize,
        ctx: &Context,
    ) -> Result<(), DecodeError> {
        let b = &src[start..];
        let at = |r: std::ops::Range<usize>| start + r.start..start + r.end;
        // The header length check guarantees four octets.
        let wlen = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let attrs_start = 2 + wlen + 2;
        if attrs_start > b.len() {
            return Err(DecodeError::MalformedAttributeList(
                "withdrawn routes length exceeds the message",
            ));
        }
        let alen = usize::from(u16::from_be_bytes([b[2 + wlen], b[3 + wlen]]));
        let nlri_start = attrs_start + alen;
        if nlri_start > b.len() {
            return Err(DecodeError::MalformedAttributeList(
                "total path attribute length exceeds the message",
            ));
        }
        let v4_add_path = ctx.add_path(Family::IPV4_UNICAST);
        let withdrawn = Prefixes::parse(Afi::IPV4, v4_add_path, src, at(2..2 + wlen))
            .map_err(|e| DecodeError::InvalidNetworkField(e.as_str()))?;
        let nlri = Prefixes::parse(Afi::IPV4, v4_add_path, src, at(nlri_start..b.len()))
            .map_err(|e| DecodeError::InvalidNetworkField(e.as_str()))?;
        self.withdrawn = withdrawn;
        self.nlri = nlri;
        let around = Surroundings {
            has_ipv4_nlri: !self.nlri.is_empty(),
        };
        PathAttributes::decode_into(
            &mut self.attributes,
            src,
            at(attrs_start..nlri_start),
            ctx,
            &around,
            &mut self.errors,
        )
    }

    /// Encoded size of the body.
    pub fn body_len(&self, ctx: &Context) -> usize {
        let ap = ctx.add_path(Family::IPV4_UNICAST);
        4 + self.withdrawn.wire_len(ap) + self.attributes.wire_len(ctx) + self.nlri.wire_len(ap)
    }

    /// Writes the body.
    pub fn write_body(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let ap = ctx.add_path(Family::IPV4_UNICAST);
        let wlen = self.withdrawn.wire_len(ap);
        let wlen16 = u16::try_from(wlen).map_err(|_| EncodeError::FieldTooLong("withdrawn"))?;
        out.put_u16(wlen16);
        self.withdrawn.write_to(ap, out);
        let len_at = out.len();
        out.put_u16(0);
        self.attributes.write_to(ctx, out)?;
        let alen = out.len() - len_at - 2;
        let alen16 =
            u16::try_from(alen).map_err(|_| EncodeError::FieldTooLong("path attributes"))?;
        out[len_at..len_at + 2].copy_from_slice(&alen16.to_be_bytes());
        self.nlri.write_to(ap, out);
        Ok(())
    }

    /// Every announced block of IP prefixes with its family: the IPv4 NLRI field and
    /// MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = (Family, &Prefixes)> {
        let mp = self.attributes.mp_reach.as_ref();
        blocks(&self.nlri, mp.map(|m| (m.family, &m.nlri)))
    }

    /// Every withdrawn block of IP prefixes with its family: the Withdrawn Routes field and
    /// MP_UNREACH_NLRI.
    pub fn withdrawals(&self) -> impl Iterator<Item = (Family, &Prefixes)> {
        let mp = self.attributes.mp_unreach.as_ref();
        blocks(&self.withdrawn, mp.map(|m| (m.family, &m.nlri)))
    }
}

/// The non-empty IP prefix blocks among an IPv4 field and an MP attribute's NLRI.
fn blocks<'a>(
    v4: &'a Prefixes,
    mp: Option<(Family, &'a MpNlri)>,
) -> impl Iterator<Item = (Family, &'a Prefixes)> {
    let v4 = (!v4.is_empty()).then_some((Family::IPV4_UNICAST, v4));
    let mp = mp.and_then(|(family, nlri)| match nlri {
        MpNlri::Prefixes(p) if !p.is_empty() => Some((family, p)),
        _ => None,
    });
    v4.into_iter().chain(mp)
}
