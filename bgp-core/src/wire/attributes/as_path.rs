//! AS_PATH and AS4_PATH (RFC 4271 4.3, RFC 5065, RFC 6793).
//!
//! An [`AsPath`] keeps its segments in four-octet wire form, validated once. Paths from
//! two-octet peers are widened when decoded and narrowed (with `AS_TRANS`) when encoded, so
//! the rest of the system sees one representation.

use std::fmt;

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::buf::WireBytes;

use crate::types::{AS_TRANS, Asn};
use crate::wire::error::AttributeErrorKind;

/// AS_PATH segment types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum SegmentType {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<SegmentType> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }

    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One owned segment, for building paths.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Segment {
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: SegmentType,
    pub asns: Vec<Asn>,
}

impl Segment {
    pub fn sequence(asns: impl Into<Vec<Asn>>) -> Segment {
        Segment {
            kind: SegmentType::Sequence,
            asns: asns.into(),
        }
    }

    pub fn set(asns: impl Into<Vec<Asn>>) -> Segment {
        Segment {
            kind: SegmentType::Set,
            asns: asns.into(),
        }
    }
}

/// A validated AS path in four-octet wire form.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    wire: WireBytes,
}

impl AsPath {
    /// The empty path (a route originated in our AS).
    pub fn empty() -> AsPath {
        AsPath::default()
    }

    /// Builds a path; segments longer than 255 ASNs are split, empty ones dropped.
    pub fn from_segments<'a>(segments: impl IntoIterator<Item = &'a Segment>) -> AsPath {
        let mut out = BytesMut::new();
        for seg in segments {
            for chunk in seg.asns.chunks(255) {
                out.put_u8(seg.kind as u8);
                out.put_u8(chunk.len() as u8);
                for asn in chunk {
                    out.put_u32(*asn);
                }
            }
        }
        AsPath {
            wire: WireBytes::from(out.freeze()),
        }
    }

    /// A path of one AS_SEQUENCE.
    pub fn from_sequence(asns: &[Asn]) -> AsPath {
        AsPath::from_segments(&[Segment::sequence(asns)])
    }

    /// Parses an AS_PATH value (`four_octet`: ASNs are four octets) with the RFC 7606 and
    /// RFC 7607 checks: known segment types, no empty segment, no overrun, no AS 0.
    pub(crate) fn parse(
        src: &Bytes,
        range: Range<usize>,
        four_octet: bool,
    ) -> Result<AsPath, AttributeErrorKind> {
        let value = &src[range.clone()];
        let asn_len = if four_octet { 4 } else { 2 };
        let mut rest = value;
        let mut widened = if four_octet {
            None
        } else {
            Some(BytesMut::with_capacity(value.len() * 2))
        };
        while !rest.is_empty() {
            if rest.len() < 2 {
                return Err(AttributeErrorKind::Overrun);
            }
            let kind = rest[0];
            let n = usize::from(rest[1]);
            if SegmentType::from_u8(kind).is_none() {
                return Err(AttributeErrorKind::Value);
            }
            if n == 0 {
                return Err(AttributeErrorKind::Length);
            }
            let body = rest
                .get(2..2 + n * asn_len)
                .ok_or(AttributeErrorKind::Overrun)?;
            if body
                .chunks_exact(asn_len)
                .any(|a| a.iter().all(|b| *b == 0))
            {
                return Err(AttributeErrorKind::ZeroAsn);
            }
            if let Some(w) = widened.as_mut() {
                w.put_u8(kind);
                w.put_u8(n as u8);
                for a in body.chunks_exact(2) {
                    w.put_u32(u32::from(u16::from_be_bytes([a[0], a[1]])));
                }
            }
            rest = &rest[2 + n * asn_len..];
        }
        Ok(AsPath {
            wire: match widened {
                Some(w) => WireBytes::from(w.freeze()),
                None => WireBytes::slice_of(src, range),
            },
        })
    }

    /// Encoded length of the value for a four-octet or two-octet peer.
    pub fn wire_len(&self, four_octet: bool) -> usize {
        if four_octet {
            self.wire.len()
        } else {
            let segs = self.segments().count();
            segs * 2 + (self.wire.len() - segs * 2) / 2
        }
    }

    /// Writes the value; for a two-octet peer, ASNs above 65535 become `AS_TRANS`.
    pub fn write_to(&self, four_octet: bool, out: &mut BytesMut) {
        if four_octet {
            out.extend_from_slice(&self.wire);
            return;
        }
        for seg in self.segments() {
            out.put_u8(seg.kind as u8);
            out.put_u8(seg.len() as u8);
            for asn in seg.asns() {
                out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
            }
        }
    }

    /// The value in four-octet form.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }

    pub fn segments(&self) -> SegmentIter<'_> {
        SegmentIter { rest: &self.wire }
    }

    /// Every ASN in path order, segment boundaries ignored.
    pub fn asns(&self) -> impl Iterator<Item = Asn> + '_ {
        self.segments().flat_map(|s| SegmentRef::asns(&s))
    }

    /// The path length for best-path selection (RFC 4271 9.1.2.2): an AS_SET counts as one,
    /// confederation segments do not count (RFC 5065 5.3).
    pub fn path_len(&self) -> usize {
        self.segments()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// The leftmost AS of the first AS_SEQUENCE: the neighbouring AS.
    pub fn first_asn(&self) -> Option<Asn> {
        self.segments()
            .find(|s| !s.kind.is_confed())
            .filter(|s| s.kind == SegmentType::Sequence)
            .and_then(|s| s.asns().next())
    }

    /// The rightmost AS of the last AS_SEQUENCE: the originating AS.
    pub fn origin_asn(&self) -> Option<Asn> {
        self.segments()
            .filter(|s| s.kind == SegmentType::Sequence)
            .last()
            .and_then(|s| s.asns().last())
    }

    /// How often `asn` appears (for loop detection with allowas-in).
    pub fn count(&self, asn: Asn) -> usize {
        self.asns().filter(|a| *a == asn).count()
    }

    pub fn has_confed(&self) -> bool {
        self.segments().any(|s| s.kind.is_confed())
    }

    /// Whether any ASN needs four octets.
    pub fn needs_four_octets(&self) -> bool {
        self.asns().any(|a| a > 0xffff)
    }

    /// A new path with `asn` prepended `times` times (RFC 4271 5.1.2).
    pub fn prepend(&self, asn: Asn, times: usize) -> AsPath {
        let mut segs: Vec<Segment> = self.to_segments();
        match segs.first_mut() {
            Some(first) if first.kind == SegmentType::Sequence => {
                let mut asns = vec![asn; times];
                asns.extend_from_slice(&first.asns);
                first.asns = asns;
            }
            _ => segs.insert(0, Segment::sequence(vec![asn; times])),
        }
        AsPath::from_segments(&segs)
    }

    pub fn to_segments(&self) -> Vec<Segment> {
        // Adjacent wire segments of one type (split at 255) are joined back.
        let mut out: Vec<Segment> = Vec::new();
        for s in self.segments() {
            match out.last_mut() {
                Some(last) if last.kind == s.kind && last.asns.len() % 255 == 0 => {
                    last.asns.extend(s.asns())
                }
                _ => out.push(Segment {
                    kind: s.kind,
                    asns: s.asns().collect(),
                }),
            }
        }
        out
    }

    /// Reconstructs the true path from AS_PATH and AS4_PATH as received from a two-octet
    /// peer (RFC 6793 4.2.3): when AS_PATH holds fewer ASes than AS4_PATH, AS4_PATH is
    /// ignored; otherwise the leading ASes of AS_PATH that AS4_PATH does not cover are kept
    /// and AS4_PATH appended.
    pub fn merge_as4(as_path: &AsPath, as4_path: &AsPath) -> AsPath {
        let n2 = as_path.path_len();
        let n4 = as4_path.path_len();
        if n2 < n4 {
            return as_path.clone();
        }
        let mut keep = n2 - n4;
        let mut segs = Vec::new();
        for s in as_path.segments() {
            match s.kind {
                SegmentType::Sequence if keep > 0 => {
                    let take = keep.min(s.len());
                    segs.push(Segment::sequence(s.asns().take(take).collect::<Vec<_>>()));
                    keep -= take;
                }
                SegmentType::Set if keep > 0 => {
                    segs.push(Segment::set(s.asns().collect::<Vec<_>>()));
                    keep -= 1;
                }
                k if k.is_confed() && keep > 0 => segs.push(Segment {
                    kind: k,
                    asns: s.asns().collect(),
                }),
                _ => {}
            }
            if keep == 0 {
                break;
            }
        }
        for s in as4_path.to_segments() {
            match segs.last_mut() {
                Some(last) if last.kind == SegmentType::Sequence && s.kind == last.kind => {
                    last.asns.extend(s.asns)
                }
                _ => segs.push(s),
            }
        }
        AsPath::from_segments(&segs)
    }
}

impl fmt::Debug for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsPath({self})")
    }
}

/// `64512 64513 {64514 64515} (65000)`: sets in braces, confed sequences in parentheses,
/// confed sets in square brackets.
impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in self.segments() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (open, close) = match s.kind {
                SegmentType::Sequence => ("", ""),
                SegmentType::Set => ("{", "}"),
                SegmentType::ConfedSequence => ("(", ")"),
                SegmentType::ConfedSet => ("[", "]"),
            };
            f.write_str(open)?;
            for (i, a) in s.asns().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// A borrowed segment of a validated path.
#[derive(Clone, Copy, Debug)]
pub struct SegmentRef<'a> {
    pub kind: SegmentType,
    body: &'a [u8],
}

impl<'a> SegmentRef<'a> {
    pub fn len(&self) -> usize {
        self.body.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    pub fn asns(&self) -> impl DoubleEndedIterator<Item = Asn> + use<'a> {
        self.body
            .chunks_exact(4)
            .map(|a| u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
    }
}

/// Iterator over the segments of a validated path.
#[derive(Clone, Debug)]
pub struct SegmentIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SegmentIter<'a> {
    type Item = SegmentRef<'a>;

    fn next(&mut self) -> Option<SegmentRef<'a>> {
        // The bytes were validated on construction; `get` keeps a corrupt value from
        // panicking all the same.
        let kind = SegmentType::from_u8(*self.rest.first()?)?;
        let n = usize::from(*self.rest.get(1)?);
        let body = self.rest.get(2..2 + 4 * n)?;
        self.rest = &self.rest[2 + 4 * n..];
        Some(SegmentRef { kind, body })
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for AsPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.to_segments())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_octet_widening_and_narrowing() {
        let v = Bytes::from_static(&[2, 3, 0xfd, 0xe8, 0x5b, 0xa0, 0x00, 0x01, 1, 1, 0, 7]);
        let p = AsPath::parse(&v, 0..v.len(), false).unwrap();
        assert_eq!(p.to_string(), "65000 23456 1 {7}");
        assert_eq!(p.path_len(), 4);
        let mut out = BytesMut::new();
        p.write_to(false, &mut out);
        assert_eq!(&out[..], &v[..]);
        assert_eq!(p.wire_len(false), v.len());
    }

    #[test]
    fn rfc6793_merge() {
        // AS_PATH from a two-octet speaker: 65001 AS_TRANS AS_TRANS 65002; AS4_PATH holds the
        // last three with their real numbers.
        let as2 = AsPath::from_sequence(&[65001, 23456, 23456, 65002]);
        let as4 = AsPath::from_sequence(&[4_200_000_001, 4_200_000_002, 65002]);
        let merged = AsPath::merge_as4(&as2, &as4);
        assert_eq!(
            merged.to_string(),
            "65001 4200000001 4200000002 65002",
            "leading AS kept, AS4_PATH appended"
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let short = AsPath::from_sequence(&[65001]);
        assert_eq!(AsPath::merge_as4(&short, &as4), short);
    }

    #[test]
    fn prepend_and_lengths() {
        let p = AsPath::from_segments(&[Segment::set(vec![1, 2]), Segment::sequence(vec![3])]);
        let q = p.prepend(65000, 2);
        assert_eq!(q.to_string(), "65000 65000 {1 2} 3");
        assert_eq!(q.path_len(), 4);
        assert_eq!(q.first_asn(), Some(65000));
        assert_eq!(q.origin_asn(), Some(3));
        assert_eq!(q.count(65000), 2);
    }

    #[test]
    fn long_segments_split_at_255() {
        let asns: Vec<u32> = (1..=600).collect();
        let p = AsPath::from_sequence(&asns);
        assert_eq!(p.segments().count(), 3);
        assert_eq!(p.path_len(), 600);
        assert_eq!(p.to_segments(), vec![Segment::sequence(asns)]);
    }

    #[test]
    fn rfc7606_checks() {
        let e =
            |b: &'static [u8]| AsPath::parse(&Bytes::from_static(b), 0..b.len(), true).unwrap_err();
        assert_eq!(e(&[0, 1, 0, 0, 0xfd, 0xe9]), AttributeErrorKind::Value);
        assert_eq!(e(&[2, 0]), AttributeErrorKind::Length);
        assert_eq!(e(&[2, 0xff, 0, 0, 0xfd, 0xe9]), AttributeErrorKind::Overrun);
        assert_eq!(e(&[2, 1, 0, 0, 0, 0]), AttributeErrorKind::ZeroAsn);
        assert_eq!(e(&[2]), AttributeErrorKind::Overrun);
    }
}
