//! What the codec needs to know about a session to read or write its messages.

use crate::types::{Family, FamilySet};

/// Whether the peer is in our AS. Several RFC 7606 outcomes depend on it (LOCAL_PREF,
/// ORIGINATOR_ID and CLUSTER_LIST from an external peer are discarded, not validated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum PeerKind {
    #[default]
    Internal,
    External,
}

/// Negotiated codec settings of one direction of one session. Passed explicitly to every
/// encode and decode call; nothing in the codec keeps state between messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Context {
    /// Both sides announced the four-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR
    /// carry four-octet AS numbers.
    pub four_octet_as: bool,
    /// Families whose NLRI carry a path identifier (RFC 7911) in this direction.
    pub add_path: FamilySet,
    /// The RFC 8654 extended message capability was negotiated: messages up to 65535 octets.
    pub extended_message: bool,
    /// Whether the peer is internal or external.
    pub peer: PeerKind,
    /// Decoding TABLE_DUMP_V2 RIB entries (RFC 6396 section 4.3.4): MP_REACH_NLRI holds only
    /// the next-hop length and next hop.
    pub mrt_rib_entry: bool,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            four_octet_as: true,
            add_path: FamilySet::EMPTY,
            extended_message: false,
            peer: PeerKind::Internal,
            mrt_rib_entry: false,
        }
    }
}

impl Context {
    /// Largest message this context allows, header included.
    pub const fn max_message_len(&self) -> usize {
        if self.extended_message {
            super::MAX_EXTENDED_MESSAGE_LEN
        } else {
            super::MAX_MESSAGE_LEN
        }
    }

    /// Whether NLRI of `family` carry ADD-PATH path identifiers.
    pub fn add_path(&self, family: Family) -> bool {
        self.add_path.contains(family)
    }

    /// A context for a two-octet-AS peer.
    pub fn two_octet() -> Context {
        Context {
            four_octet_as: false,
            ..Context::default()
        }
    }
}
