//! The paths to one prefix, best first.

use thin_vec::ThinVec;

use super::{Attrs, PeerId, Reason};
use crate::types::PathId;

/// One path to a prefix (16 octets: the stale flag rides in the peer index's top bit).
#[derive(Clone, PartialEq, Eq)]
pub struct Path {
    pub(super) peer_flags: u32,
    pub(super) path_id: PathId,
    pub(super) attrs: Attrs,
}

const STALE: u32 = 1 << 31;

impl Path {
    pub(super) fn new(peer: PeerId, path_id: PathId, attrs: Attrs) -> Path {
        Path {
            peer_flags: peer & !STALE,
            path_id,
            attrs,
        }
    }

    /// Where the path came from ([`LOCAL`] for our own routes).
    pub fn peer(&self) -> PeerId {
        self.peer_flags & !STALE
    }

    /// The received ADD-PATH identifier (0 without ADD-PATH).
    pub fn path_id(&self) -> PathId {
        self.path_id
    }

    pub fn attrs(&self) -> &Attrs {
        &self.attrs
    }

    /// Kept from a peer that is restarting or refreshing; swept unless re-announced.
    pub fn stale(&self) -> bool {
        self.peer_flags & STALE != 0
    }

    pub(super) fn set_stale(&mut self, stale: bool) {
        if stale {
            self.peer_flags |= STALE;
        } else {
            self.peer_flags &= !STALE;
        }
    }
}

impl std::fmt::Debug for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Path")
            .field("peer", &self.peer())
            .field("path_id", &self.path_id)
            .field("stale", &self.stale())
            .field("attrs", &self.attrs)
            .finish()
    }
}

/// The paths to one prefix, in 16 octets: one inline (by far the most common case), or
/// none or several in a vector whose length and capacity live in its one allocation. With
/// it a [`Dest`] takes 24 octets (a small vector, one path inline, took 32 with the rest).
#[derive(Clone, Debug)]
pub(super) enum Paths {
    One(Path),
    /// No path (no allocation), or more than one.
    Several(ThinVec<Path>),
}

impl Default for Paths {
    fn default() -> Paths {
        Paths::Several(ThinVec::new())
    }
}

impl std::ops::Deref for Paths {
    type Target = [Path];

    fn deref(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Several(v) => v,
        }
    }
}

impl std::ops::DerefMut for Paths {
    fn deref_mut(&mut self) -> &mut [Path] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Several(v) => v,
        }
    }
}

impl Paths {
    pub(super) fn push(&mut self, p: Path) {
        *self = match std::mem::take(self) {
            Paths::Several(v) if v.is_empty() => Paths::One(p),
            Paths::One(first) => {
                let mut v = ThinVec::with_capacity(2);
                v.push(first);
                v.push(p);
                Paths::Several(v)
            }
            Paths::Several(mut v) => {
                v.push(p);
                Paths::Several(v)
            }
        };
    }

    /// Removes and returns the path at `i`; `None` when there is none.
    pub(super) fn remove(&mut self, i: usize) -> Option<Path> {
        if i >= self.len() {
            return None;
        }
        let (gone, rest) = match std::mem::take(self) {
            Paths::One(p) => (p, Paths::default()),
            Paths::Several(mut v) => {
                let p = v.remove(i);
                let rest = match v.len() {
                    1 => v.pop().map_or_else(Paths::default, Paths::One),
                    _ => Paths::Several(v),
                };
                (p, rest)
            }
        };
        *self = rest;
        Some(gone)
    }
}

/// All paths to one prefix; the best first, then the rest of the ECMP set.
#[derive(Clone, Debug, Default)]
pub struct Dest {
    pub(super) paths: Paths,
    /// How many leading paths form the ECMP set (0: no usable path).
    pub(super) multipath: u8,
    /// A path of the ECMP set was removed or replaced since the last decision.
    pub(super) touched: bool,
    pub(super) reason: Option<Reason>,
    /// When a path of the prefix last came, changed or went: the RIB's clock then (it
    /// fits in the entry's padding).
    pub(super) changed: u32,
}

impl Dest {
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    pub fn best(&self) -> Option<&Path> {
        (self.multipath > 0).then(|| &self.paths[0])
    }

    /// The ECMP set (best first).
    pub fn multipath(&self) -> &[Path] {
        &self.paths[..usize::from(self.multipath)]
    }

    /// Why the best path won.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// The RIB's clock ([`Rib::set_clock`](super::Rib::set_clock)) when a path of the
    /// prefix last came, changed or went.
    pub fn changed(&self) -> u32 {
        self.changed
    }

    pub(super) fn remove_at(&mut self, i: usize) -> Option<Path> {
        let p = self.paths.remove(i)?;
        if i < usize::from(self.multipath) {
            self.multipath -= 1;
            self.touched = true;
        }
        Some(p)
    }

    /// Removes the paths for which `f` holds, handing each to `gone`.
    pub(super) fn remove_if(
        &mut self,
        f: impl Fn(&Path) -> bool,
        mut gone: impl FnMut(Path),
    ) -> bool {
        let mut i = 0;
        let mut any = false;
        while i < self.paths.len() {
            if f(&self.paths[i])
                && let Some(p) = self.remove_at(i)
            {
                gone(p);
                any = true;
            } else {
                i += 1;
            }
        }
        any
    }
}
