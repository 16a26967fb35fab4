//! Attributes that are lists of fixed-size items: COMMUNITIES (RFC 1997), EXTENDED
//! COMMUNITIES (RFC 4360), LARGE_COMMUNITY (RFC 8092) and CLUSTER_LIST (RFC 4456).
//!
//! Each keeps its validated wire bytes; items are decoded when iterated.

use std::fmt;
use std::net::Ipv4Addr;

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::buf::WireBytes;

/// A standard community (RFC 1997).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001);
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    pub const NOPEER: Community = Community(0xFFFF_FF04);

    pub const fn new(asn: u16, value: u16) -> Community {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// The name of a well-known community.
    pub fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            Community::GRACEFUL_SHUTDOWN => "graceful-shutdown",
            Community::ACCEPT_OWN => "accept-own",
            Community::LLGR_STALE => "llgr-stale",
            Community::NO_LLGR => "no-llgr",
            Community::BLACKHOLE => "blackhole",
            Community::NO_EXPORT => "no-export",
            Community::NO_ADVERTISE => "no-advertise",
            Community::NO_EXPORT_SUBCONFED => "no-export-subconfed",
            Community::NOPEER => "nopeer",
            _ => return None,
        })
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.well_known_name() {
            Some(n) => f.write_str(n),
            None => fmt::Display::fmt(self, f),
        }
    }
}

/// An extended community (RFC 4360): type, sub-type and six value octets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtCommunity(pub [u8; 8]);

impl ExtCommunity {
    /// A two-octet-AS route target (type 0x00, sub-type 0x02).
    pub fn route_target(asn: u16, value: u32) -> ExtCommunity {
        let mut b = [0u8; 8];
        b[1] = 0x02;
        b[2..4].copy_from_slice(&asn.to_be_bytes());
        b[4..].copy_from_slice(&value.to_be_bytes());
        ExtCommunity(b)
    }

    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    pub fn sub_type(&self) -> u8 {
        self.0[1]
    }

    /// Whether the community may cross an AS boundary (the I/A bit is clear).
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }
}

/// `rt:65000:1`-style text for the common kinds, hex otherwise.
impl fmt::Display for ExtCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let name = match b[1] {
            0x02 => "rt",
            0x03 => "soo",
            _ => "",
        };
        let two = u16::from_be_bytes([b[2], b[3]]);
        let four = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        match (b[0] & 0x3f, name) {
            (0x00, n) if !n.is_empty() => write!(f, "{n}:{two}:{four}"),
            (0x01, n) if !n.is_empty() => write!(
                f,
                "{n}:{}:{}",
                Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                u16::from_be_bytes([b[6], b[7]])
            ),
            (0x02, n) if !n.is_empty() => write!(
                f,
                "{n}:{}:{}",
                u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                u16::from_be_bytes([b[6], b[7]])
            ),
            _ => {
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for ExtCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A large community (RFC 8092): global administrator and two local data parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

/// Items of a fixed width that a list attribute holds.
pub trait ListItem: Copy {
    const WIDTH: usize;
    fn read(b: &[u8]) -> Self;
    fn write(&self, out: &mut BytesMut);
}

impl ListItem for Community {
    const WIDTH: usize = 4;
    fn read(b: &[u8]) -> Self {
        Community(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_u32(self.0);
    }
}

impl ListItem for ExtCommunity {
    const WIDTH: usize = 8;
    fn read(b: &[u8]) -> Self {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        ExtCommunity(a)
    }
    fn write(&self, out: &mut BytesMut) {
        out.extend_from_slice(&self.0);
    }
}

impl ListItem for LargeCommunity {
    const WIDTH: usize = 12;
    fn read(b: &[u8]) -> Self {
        let r = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        LargeCommunity {
            global: r(0),
            local1: r(4),
            local2: r(8),
        }
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_u32(self.global);
        out.put_u32(self.local1);
        out.put_u32(self.local2);
    }
}

impl ListItem for Ipv4Addr {
    const WIDTH: usize = 4;
    fn read(b: &[u8]) -> Self {
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    fn write(&self, out: &mut BytesMut) {
        out.extend_from_slice(&self.octets());
    }
}

/// A validated, non-empty list attribute in wire form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct List<T> {
    wire: WireBytes,
    _item: std::marker::PhantomData<T>,
}

/// COMMUNITIES.
pub type Communities = List<Community>;
/// EXTENDED COMMUNITIES.
pub type ExtCommunities = List<ExtCommunity>;
/// LARGE_COMMUNITY.
pub type LargeCommunities = List<LargeCommunity>;
/// CLUSTER_LIST: cluster IDs, most recent first.
pub type ClusterList = List<Ipv4Addr>;

impl<T: ListItem> List<T> {
    /// Takes a received value: it must be a non-empty multiple of the item width
    /// (RFC 7606 7.8, 7.10, 7.14; RFC 8092 6).
    pub(crate) fn parse(src: &Bytes, range: Range<usize>) -> Option<List<T>> {
        (!range.is_empty() && range.len() % T::WIDTH == 0).then(|| List {
            wire: WireBytes::slice_of(src, range),
            _item: std::marker::PhantomData,
        })
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + '_ {
        self.wire.chunks_exact(T::WIDTH).map(T::read)
    }

    pub fn len(&self) -> usize {
        self.wire.len() / T::WIDTH
    }

    /// Never true for a decoded list; a built list may be empty, and is then not sent.
    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }

    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub fn contains(&self, item: &T) -> bool
    where
        T: PartialEq,
    {
        self.iter().any(|x| x == *item)
    }

    /// A new list with `item` in front.
    pub fn prepend(&self, item: T) -> List<T> {
        std::iter::once(item).chain(self.iter()).collect()
    }
}

impl<T: ListItem> FromIterator<T> for List<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut out = BytesMut::new();
        for x in iter {
            x.write(&mut out);
        }
        List {
            wire: WireBytes::from(out.freeze()),
            _item: std::marker::PhantomData,
        }
    }
}

impl<T: ListItem + fmt::Debug> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "serde")]
impl<T: ListItem + fmt::Display> serde::Serialize for List<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for x in self.iter() {
            seq.serialize_element(&x.to_string())?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_validate_width_and_emptiness() {
        let parse = |b: &'static [u8]| Communities::parse(&Bytes::from_static(b), 0..b.len());
        assert!(parse(&[]).is_none());
        assert!(parse(&[1, 2, 3, 4, 5]).is_none());
        assert!(LargeCommunities::parse(&Bytes::from_static(&[0; 13]), 0..13).is_none());
        let c = parse(&[0xff, 0xff, 0xff, 0x01, 0, 1, 0, 2]).unwrap();
        let v: Vec<_> = c.iter().collect();
        assert_eq!(v, vec![Community::NO_EXPORT, Community::new(1, 2)]);
        assert_eq!(format!("{:?}", c), "[no-export, 1:2]");
    }

    #[test]
    fn ext_community_text() {
        assert_eq!(
            ExtCommunity::route_target(65000, 1).to_string(),
            "rt:65000:1"
        );
        let c = ClusterList::from_iter([Ipv4Addr::new(1, 1, 1, 1)]);
        let d = c.prepend(Ipv4Addr::new(2, 2, 2, 2));
        assert_eq!(
            d.iter().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::new(1, 1, 1, 1)]
        );
    }
}
