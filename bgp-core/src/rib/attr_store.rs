//! Interned attribute sets: identical sets are stored once and shared by every path that
//! carries them; a set is freed when its last path goes.

use std::sync::Arc;

use foldhash::HashSet;

use crate::wire::PathAttributes;

/// A shared, interned attribute set.
pub type Attrs = Arc<PathAttributes>;

/// The set of interned attribute sets.
#[derive(Debug, Default)]
pub struct AttrStore {
    sets: HashSet<Attrs>,
    /// Releases since the last sweep.
    released: usize,
}

impl AttrStore {
    /// The shared copy of `attrs`.
    pub fn intern(&mut self, attrs: PathAttributes) -> Attrs {
        if let Some(a) = self.sets.get(&attrs) {
            return a.clone();
        }
        let a = Arc::new(attrs);
        self.sets.insert(a.clone());
        a
    }

    /// The shared copy of an already shared set (no copy when it is interned).
    pub fn intern_arc(&mut self, attrs: &Attrs) -> Attrs {
        if let Some(a) = self.sets.get(&**attrs) {
            return a.clone();
        }
        self.sets.insert(attrs.clone());
        attrs.clone()
    }

    /// Called when a holder of `attrs` lets it go.
    pub fn release(&mut self, attrs: Attrs) {
        drop(attrs);
        self.released += 1;
    }

    /// Whether enough sets were released since the last sweep to make one worth it
    /// (amortized O(1) per release).
    pub fn sweep_due(&self) -> bool {
        self.released > self.sets.len().max(1024)
    }

    /// Frees every set only the store holds.
    pub fn sweep(&mut self) {
        self.sets.retain(|a| Arc::strong_count(a) > 1);
        self.released = 0;
    }

    /// Interned sets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}
