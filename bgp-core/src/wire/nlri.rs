//! IP prefix NLRI (RFC 4271 4.3, RFC 4760 5, RFC 7911 3).
//!
//! A [`Prefixes`] value is a block of NLRI exactly as it travels: the wire bytes, validated
//! once when decoded, and expanded into [`NlriEntry`] values only when iterated. Validation is
//! the hot loop of UPDATE decoding, so it does no more than walk the length octets; keeping the
//! bytes means a reflector passes a block on by copying it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::types::{Afi, PathId};
use crate::wire::buf::WireBytes;

/// One NLRI: a prefix and, when ADD-PATH is in use, its path identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NlriEntry {
    pub path_id: Option<PathId>,
    pub prefix: IpNet,
}

impl NlriEntry {
    pub fn new(prefix: IpNet) -> NlriEntry {
        NlriEntry {
            path_id: None,
            prefix,
        }
    }

    pub fn with_path_id(prefix: IpNet, path_id: PathId) -> NlriEntry {
        NlriEntry {
            path_id: Some(path_id),
            prefix,
        }
    }
}

impl From<IpNet> for NlriEntry {
    fn from(prefix: IpNet) -> Self {
        NlriEntry::new(prefix)
    }
}

/// Why a block of NLRI could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NlriError {
    TruncatedPathId,
    PrefixTooLong,
    Overrun,
}

impl NlriError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NlriError::TruncatedPathId => "truncated path identifier",
            NlriError::PrefixTooLong => "prefix length exceeds the address length",
            NlriError::Overrun => "prefix overruns the field",
        }
    }
}

/// A validated block of IPv4 or IPv6 prefixes in wire form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Prefixes {
    afi: Afi,
    add_path: bool,
    count: u32,
    wire: WireBytes,
}

impl Prefixes {
    /// An empty block.
    pub fn empty(afi: Afi, add_path: bool) -> Prefixes {
        Prefixes {
            afi,
            add_path,
            count: 0,
            wire: WireBytes::new(),
        }
    }

    /// Validates `src[range]` as NLRI of `afi` (IPv4 or IPv6) and keeps it. `src` is the
    /// received message: a long block shares its buffer, a short one is copied.
    pub(crate) fn parse(
        afi: Afi,
        add_path: bool,
        src: &Bytes,
        range: Range<usize>,
    ) -> Result<Prefixes, NlriError> {
        let max_bits = if afi == Afi::IPV6 { 128 } else { 32 };
        let count = validate(&src[range.clone()], max_bits, add_path)?;
        Ok(Prefixes {
            afi,
            add_path,
            count,
            wire: WireBytes::slice_of(src, range),
        })
    }

    /// Encodes `entries` into a block. Entries of another address family are an error;
    /// host bits beyond the prefix length are cleared. A missing path identifier is sent as 0
    /// when `add_path` is set; a present one is dropped when it is not.
    pub fn from_entries<I>(afi: Afi, add_path: bool, entries: I) -> Result<Prefixes, WrongFamily>
    where
        I: IntoIterator,
        I::Item: Into<NlriEntry>,
    {
        let iter = entries.into_iter();
        let mut out = BytesMut::with_capacity(iter.size_hint().0 * if add_path { 9 } else { 5 });
        let mut count = 0u32;
        for e in iter {
            let e: NlriEntry = e.into();
            write_entry(&mut out, afi, add_path, &e)?;
            count += 1;
        }
        Ok(Prefixes {
            afi,
            add_path,
            count,
            wire: WireBytes::from(out.freeze()),
        })
    }

    pub fn afi(&self) -> Afi {
        self.afi
    }

    /// Whether the entries carry path identifiers.
    pub fn add_path(&self) -> bool {
        self.add_path
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded entries.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub fn iter(&self) -> PrefixIter<'_> {
        PrefixIter {
            afi: self.afi,
            add_path: self.add_path,
            rest: &self.wire,
        }
    }

    /// Writes the block for a peer that does (`add_path`) or does not use path identifiers.
    pub fn write_to(&self, add_path: bool, out: &mut BytesMut) {
        if add_path == self.add_path {
            out.extend_from_slice(&self.wire);
        } else {
            for e in self.iter() {
                // Same family by construction, so this cannot fail.
                let _ = write_entry(out, self.afi, add_path, &e);
            }
        }
    }

    /// Encoded size for a peer that does or does not use path identifiers.
    pub fn wire_len(&self, add_path: bool) -> usize {
        match (self.add_path, add_path) {
            (a, b) if a == b => self.wire.len(),
            (true, false) => self.wire.len() - 4 * self.len(),
            _ => self.wire.len() + 4 * self.len(),
        }
    }
}

impl<'a> IntoIterator for &'a Prefixes {
    type Item = NlriEntry;
    type IntoIter = PrefixIter<'a>;
    fn into_iter(self) -> PrefixIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Prefixes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A prefix of the wrong address family was given to [`Prefixes::from_entries`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("prefix {0} is not of the block's address family")]
pub struct WrongFamily(pub IpNet);

fn write_entry(
    out: &mut BytesMut,
    afi: Afi,
    add_path: bool,
    e: &NlriEntry,
) -> Result<(), WrongFamily> {
    if add_path {
        out.put_u32(e.path_id.unwrap_or(0));
    }
    match (afi, e.prefix) {
        (Afi::IPV4, IpNet::V4(p)) => {
            let len = p.prefix_len();
            out.put_u8(len);
            let nbytes = usize::from(len).div_ceil(8);
            out.extend_from_slice(&p.network().octets()[..nbytes]);
        }
        (Afi::IPV6, IpNet::V6(p)) => {
            let len = p.prefix_len();
            out.put_u8(len);
            let nbytes = usize::from(len).div_ceil(8);
            out.extend_from_slice(&p.network().octets()[..nbytes]);
        }
        (_, p) => return Err(WrongFamily(p)),
    }
    Ok(())
}

/// Walks a block of NLRI and counts its entries, checking every length against the bytes
/// left. This is the only pass over the bytes at decode time.
#[inline]
fn validate(mut b: &[u8], max_bits: u8, add_path: bool) -> Result<u32, NlriError> {
    let mut count = 0u32;
    if add_path {
        while !b.is_empty() {
            if b.len() < 5 {
                return Err(if b.len() < 4 {
                    NlriError::TruncatedPathId
                } else {
                    NlriError::Overrun
                });
            }
            b = step(&b[4..], max_bits)?;
            count += 1;
        }
    } else {
        while let Some(&bits) = b.first() {
            if bits > max_bits {
                return Err(NlriError::PrefixTooLong);
            }
            let next = 1 + usize::from(bits).div_ceil(8);
            b = b.get(next..).ok_or(NlriError::Overrun)?;
            count += 1;
        }
    }
    Ok(count)
}

#[inline(always)]
fn step(b: &[u8], max_bits: u8) -> Result<&[u8], NlriError> {
    let bits = b[0];
    if bits > max_bits {
        return Err(NlriError::PrefixTooLong);
    }
    b.get(1 + usize::from(bits).div_ceil(8)..)
        .ok_or(NlriError::Overrun)
}

/// Iterator over a validated block.
#[derive(Clone, Debug)]
pub struct PrefixIter<'a> {
    afi: Afi,
    add_path: bool,
    rest: &'a [u8],
}

impl Iterator for PrefixIter<'_> {
    type Item = NlriEntry;

    #[inline]
    fn next(&mut self) -> Option<NlriEntry> {
        // The block was validated, so every length fits; the code still checks bounds
        // (through `get` and slice patterns), it only avoids panicking paths and
        // variable-length copies.
        let mut b = self.rest;
        let path_id = if self.add_path {
            let [a0, a1, a2, a3, rest @ ..] = b else {
                return None;
            };
            b = rest;
            Some(u32::from_be_bytes([*a0, *a1, *a2, *a3]))
        } else {
            None
        };
        let (&bits, rest) = b.split_first()?;
        let nbytes = usize::from(bits).div_ceil(8);
        let prefix = if self.afi == Afi::IPV6 {
            let bits = bits.min(128);
            let v = match rest.first_chunk::<16>() {
                Some(o) => u128::from_be_bytes(*o),
                None => rest
                    .iter()
                    .take(nbytes)
                    .enumerate()
                    .fold(0u128, |v, (i, x)| v | (u128::from(*x) << (120 - 8 * i))),
            } & mask128(bits);
            IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(v), bits))
        } else {
            let bits = bits.min(32);
            // Load four octets when they are there (the next prefix's octets beyond the mask
            // are cleared), else assemble the last prefix octet by octet.
            let v = match rest {
                [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
                _ => rest
                    .iter()
                    .take(nbytes)
                    .enumerate()
                    .fold(0u32, |v, (i, x)| v | (u32::from(*x) << (24 - 8 * i))),
            } & mask32(bits);
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from(v), bits))
        };
        self.rest = rest.get(nbytes..)?;
        Some(NlriEntry { path_id, prefix })
    }
}

#[inline(always)]
fn mask32(bits: u8) -> u32 {
    (!0u64 << (32 - u32::from(bits))) as u32
}

#[inline(always)]
fn mask128(bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        !0u128 << (128 - u32::from(bits))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for NlriEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.path_id {
            None => s.collect_str(&self.prefix),
            Some(id) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("prefix", &self.prefix.to_string())?;
                m.serialize_entry("path_id", &id)?;
                m.end()
            }
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Prefixes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_block_decodes_and_masks_host_bits() {
        // 10.0.0.0/8, 192.168.1.0/24, 0.0.0.0/0, 172.16.0.1/32, and 10.255.0.0/9 written
        // with host bits set (10.255 in a /9 is 10.128.0.0/9).
        let wire = Bytes::from_static(&[8, 10, 24, 192, 168, 1, 0, 32, 172, 16, 0, 1, 9, 10, 255]);
        let p = Prefixes::parse(Afi::IPV4, false, &wire, 0..wire.len()).unwrap();
        let got: Vec<_> = p.iter().map(|e| e.prefix).collect();
        assert_eq!(
            got,
            vec![
                v4("10.0.0.0/8"),
                v4("192.168.1.0/24"),
                v4("0.0.0.0/0"),
                v4("172.16.0.1/32"),
                v4("10.128.0.0/9")
            ]
        );
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn errors_are_precise() {
        let e = |b: &'static [u8], ap| {
            Prefixes::parse(Afi::IPV4, ap, &Bytes::from_static(b), 0..b.len())
        };
        assert_eq!(
            e(&[33, 1, 2, 3, 4, 5], false),
            Err(NlriError::PrefixTooLong)
        );
        assert_eq!(e(&[24, 1, 2], false), Err(NlriError::Overrun));
        assert_eq!(e(&[0, 0, 1], true), Err(NlriError::TruncatedPathId));
        assert_eq!(e(&[0, 0, 0, 1], true), Err(NlriError::Overrun));
        assert_eq!(e(&[0, 0, 0, 1, 8], true), Err(NlriError::Overrun));
        let v6 = Prefixes::parse(Afi::IPV6, false, &Bytes::from_static(&[129]), 0..1);
        assert_eq!(v6, Err(NlriError::PrefixTooLong));
    }

    #[test]
    fn add_path_transcoding() {
        let entries = [
            NlriEntry::with_path_id(v4("10.1.0.0/16"), 7),
            NlriEntry::with_path_id(v4("10.2.0.0/16"), 9),
        ];
        let p = Prefixes::from_entries(Afi::IPV4, true, entries).unwrap();
        let mut plain = BytesMut::new();
        p.write_to(false, &mut plain);
        assert_eq!(&plain[..], &[16, 10, 1, 16, 10, 2]);
        assert_eq!(p.wire_len(false), 6);
        assert_eq!(p.wire_len(true), 14);
        let wire = Bytes::copy_from_slice(p.wire());
        let back = Prefixes::parse(Afi::IPV4, true, &wire, 0..wire.len()).unwrap();
        assert_eq!(back.iter().collect::<Vec<_>>(), entries.to_vec());
    }

    #[test]
    fn wrong_family_is_rejected() {
        let r = Prefixes::from_entries(Afi::IPV4, false, [v4("2001:db8::/32")]);
        assert!(r.is_err());
    }
}
