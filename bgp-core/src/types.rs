//! Small protocol value types shared by every layer.

use std::fmt;
use std::net::Ipv4Addr;

/// An autonomous system number. Always held as four octets; two-octet peers are handled at
/// the codec boundary (RFC 6793).
pub type Asn = u32;

/// The two-octet placeholder for a four-octet AS number (RFC 6793 `AS_TRANS`).
pub const AS_TRANS: u16 = 23456;

/// A BGP identifier (router ID).
pub type RouterId = Ipv4Addr;

/// An ADD-PATH path identifier (RFC 7911).
pub type PathId = u32;

/// Address Family Identifier (IANA registry "Address Family Numbers").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Afi(pub u16);

impl Afi {
    pub const IPV4: Afi = Afi(1);
    pub const IPV6: Afi = Afi(2);
    pub const L2VPN: Afi = Afi(25);
    pub const BGP_LS: Afi = Afi(16388);

    /// Length in octets of a full address of this family, when it is an IP family.
    pub const fn addr_len(self) -> Option<usize> {
        match self.0 {
            1 => Some(4),
            2 => Some(16),
            _ => None,
        }
    }
}

impl fmt::Debug for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("ipv4"),
            2 => f.write_str("ipv6"),
            25 => f.write_str("l2vpn"),
            16388 => f.write_str("bgp-ls"),
            n => write!(f, "afi-{n}"),
        }
    }
}

/// Subsequent Address Family Identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Safi(pub u8);

impl Safi {
    pub const UNICAST: Safi = Safi(1);
    pub const MULTICAST: Safi = Safi(2);
    pub const MPLS_LABEL: Safi = Safi(4);
    pub const EVPN: Safi = Safi(70);
    pub const MPLS_VPN: Safi = Safi(128);
    pub const FLOWSPEC: Safi = Safi(133);
}

impl fmt::Debug for Safi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Safi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("unicast"),
            2 => f.write_str("multicast"),
            4 => f.write_str("labeled-unicast"),
            70 => f.write_str("evpn"),
            128 => f.write_str("mpls-vpn"),
            133 => f.write_str("flowspec"),
            n => write!(f, "safi-{n}"),
        }
    }
}

/// An address family: AFI and SAFI together.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    pub afi: Afi,
    pub safi: Safi,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    pub const IPV4_MULTICAST: Family = Family::new(Afi::IPV4, Safi::MULTICAST);
    pub const IPV6_MULTICAST: Family = Family::new(Afi::IPV6, Safi::MULTICAST);

    pub const fn new(afi: Afi, safi: Safi) -> Family {
        Family { afi, safi }
    }

    /// Whether NLRI of this family are plain IP prefixes (RFC 4271 / RFC 4760 encoding), the
    /// families whose routes this crate decodes into prefixes rather than keeping opaque.
    pub const fn has_ip_prefixes(self) -> bool {
        matches!(self.afi.0, 1 | 2) && matches!(self.safi.0, 1 | 2)
    }

    /// A small index for per-family bit sets; `None` for families without one.
    pub(crate) const fn bit(self) -> Option<u8> {
        match (self.afi.0, self.safi.0) {
            (1, 1) => Some(0),
            (2, 1) => Some(1),
            (1, 2) => Some(2),
            (2, 2) => Some(3),
            (1, 4) => Some(4),
            (2, 4) => Some(5),
            (1, 128) => Some(6),
            (2, 128) => Some(7),
            _ => None,
        }
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.afi, self.safi)
    }
}

/// A small set of address families (those with a [`Family::bit`]).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FamilySet(u8);

impl FamilySet {
    pub const EMPTY: FamilySet = FamilySet(0);

    pub fn contains(self, family: Family) -> bool {
        family.bit().is_some_and(|b| self.0 & (1 << b) != 0)
    }

    /// Adds `family`; returns false when the family cannot be held in a set.
    pub fn insert(&mut self, family: Family) -> bool {
        match family.bit() {
            Some(b) => {
                self.0 |= 1 << b;
                true
            }
            None => false,
        }
    }

    pub fn remove(&mut self, family: Family) {
        if let Some(b) = family.bit() {
            self.0 &= !(1 << b);
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The families in the set.
    pub fn iter_known(self) -> impl Iterator<Item = Family> {
        KNOWN.into_iter().filter(move |f| self.contains(*f))
    }
}

/// The families a [`FamilySet`] can hold, in bit order.
const KNOWN: [Family; 8] = [
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
    Family::IPV4_MULTICAST,
    Family::IPV6_MULTICAST,
    Family::new(Afi::IPV4, Safi::MPLS_LABEL),
    Family::new(Afi::IPV6, Safi::MPLS_LABEL),
    Family::new(Afi::IPV4, Safi::MPLS_VPN),
    Family::new(Afi::IPV6, Safi::MPLS_VPN),
];

impl fmt::Debug for FamilySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter_known()).finish()
    }
}

impl FromIterator<Family> for FamilySet {
    fn from_iter<I: IntoIterator<Item = Family>>(iter: I) -> Self {
        let mut set = FamilySet::EMPTY;
        for f in iter {
            set.insert(f);
        }
        set
    }
}

/// Families, AFIs and SAFIs serialize as their names ("ipv4 unicast").
#[cfg(feature = "serde")]
mod serde_impls {
    use super::{Afi, Family, Safi};

    macro_rules! as_display {
        ($($t:ty),*) => {$(
            impl serde::Serialize for $t {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_str(self)
                }
            }
        )*};
    }
    as_display!(Afi, Safi, Family);
}
