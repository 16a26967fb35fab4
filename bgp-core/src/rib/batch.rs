//! Encoded UPDATEs on their way out: the one form a flush of an update group takes from the
//! RIB to each peer's connection.
//!
//! A group's flush encodes its UPDATEs once, into one shared list. Each member is sent that
//! list as a [`Batch`]: the shared messages but those it must skip (they carry its own
//! routes, which are never sent back to it), then the few it alone gets (its own
//! difference). What a message carries (family, prefixes announced and withdrawn) travels
//! with it, so whoever sends it counts it without decoding.

use std::sync::Arc;

use bytes::Bytes;

use super::PeerId;
use crate::types::Family;

/// One encoded UPDATE and what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Bytes,
    /// The one family of the UPDATE's routes.
    pub family: Family,
    /// Prefixes announced and withdrawn by it.
    pub announced: u32,
    pub withdrawn: u32,
}

/// The UPDATEs one peer is sent from a flush, in order: `msgs[..shared]` but the indexes in
/// `skip`, then `msgs[i]` for each `i` in `extra`.
#[derive(Clone, Debug)]
pub struct Batch {
    msgs: Arc<[Encoded]>,
    shared: u32,
    /// Ascending, below `shared`.
    skip: Vec<u32>,
    /// Ascending, from `shared` on.
    extra: Vec<u32>,
}

/// How far into a [`Batch`] its recipient is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    next: u32,
    skip: usize,
    extra: usize,
    taken: usize,
}

impl Cursor {
    /// Messages taken so far.
    pub fn taken(&self) -> usize {
        self.taken
    }
}

impl Batch {
    /// Every message of `msgs`.
    pub fn all(msgs: Arc<[Encoded]>) -> Batch {
        Batch {
            shared: msgs.len() as u32,
            msgs,
            skip: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// `msgs[..shared]` but `skip`, then `extra` (both ascending and in range; indexes out
    /// of range are never yielded).
    pub fn new(msgs: Arc<[Encoded]>, shared: u32, skip: Vec<u32>, extra: Vec<u32>) -> Batch {
        let shared = shared.min(msgs.len() as u32);
        Batch {
            msgs,
            shared,
            skip,
            extra,
        }
    }

    /// Messages for the recipient.
    pub fn len(&self) -> usize {
        (self.shared as usize - self.skip.len()) + self.extra.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message at the cursor, moving it on.
    pub fn next(&self, c: &mut Cursor) -> Option<&Encoded> {
        while c.next < self.shared {
            let i = c.next;
            c.next += 1;
            if self.skip.get(c.skip) == Some(&i) {
                c.skip += 1;
                continue;
            }
            c.taken += 1;
            return self.msgs.get(i as usize);
        }
        let i = *self.extra.get(c.extra)?;
        c.extra += 1;
        c.taken += 1;
        self.msgs.get(i as usize)
    }

    /// The recipient's messages in order.
    pub fn iter(&self) -> impl Iterator<Item = &Encoded> {
        let mut c = Cursor::default();
        std::iter::from_fn(move || self.next(&mut c))
    }

    /// The messages of `a` then those of `b`, as one batch of their own.
    pub fn concat(a: &Batch, b: &Batch) -> Batch {
        Batch::all(a.iter().chain(b.iter()).cloned().collect())
    }

    /// The shared list this batch is a view of.
    pub fn shared_list(&self) -> &Arc<[Encoded]> {
        &self.msgs
    }
}

/// What one flush sends: each recipient with its batch.
#[derive(Clone, Debug, Default)]
pub struct Flush {
    batches: Vec<(PeerId, Batch)>,
}

impl Flush {
    pub(crate) fn push(&mut self, peer: PeerId, batch: Batch) {
        if !batch.is_empty() {
            self.batches.push((peer, batch));
        }
    }

    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// What `peer` receives, in order.
    pub fn to(&self, peer: PeerId) -> impl Iterator<Item = &Encoded> {
        self.batches
            .iter()
            .filter(move |(p, _)| *p == peer)
            .flat_map(|(_, b)| b.iter())
    }

    /// Every distinct message once (each shared list counted once, however many members
    /// it goes to).
    pub fn messages(&self) -> impl Iterator<Item = &Encoded> {
        let mut seen: Vec<*const Encoded> = Vec::new();
        self.batches
            .iter()
            .filter(move |(_, b)| {
                let ptr = b.msgs.as_ptr();
                if seen.contains(&ptr) {
                    false
                } else {
                    seen.push(ptr);
                    true
                }
            })
            .flat_map(|(_, b)| b.msgs.iter())
    }

    /// The recipients and their batches.
    pub fn into_batches(self) -> Vec<(PeerId, Batch)> {
        self.batches
    }

    pub fn extend(&mut self, other: Flush) {
        self.batches.extend(other.batches);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: u8) -> Arc<[Encoded]> {
        (0..n)
            .map(|i| Encoded {
                bytes: Bytes::from(vec![i]),
                family: Family::IPV4_UNICAST,
                announced: 1,
                withdrawn: 0,
            })
            .collect()
    }

    #[test]
    fn a_batch_gives_the_shared_messages_but_the_skipped_then_the_extra_ones() {
        let msgs = list(6);
        let got = |b: &Batch| b.iter().map(|m| m.bytes[0]).collect::<Vec<u8>>();
        let b = Batch::new(msgs.clone(), 4, vec![0, 2], vec![5]);
        assert_eq!(got(&b), [1, 3, 5]);
        assert_eq!(b.len(), 3);
        assert_eq!(got(&Batch::all(msgs.clone())), [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            got(&Batch::new(msgs.clone(), 0, vec![], vec![4, 5])),
            [4, 5]
        );
        let none = Batch::new(msgs.clone(), 1, vec![0], vec![]);
        assert_eq!((none.len(), got(&none)), (0, vec![]));
        // Taken in parts: the cursor carries on where it stopped.
        let mut c = Cursor::default();
        assert_eq!(b.next(&mut c).map(|m| m.bytes[0]), Some(1));
        assert_eq!(c.taken(), 1);
        let rest: Vec<u8> = std::iter::from_fn(|| b.next(&mut c).map(|m| m.bytes[0])).collect();
        assert_eq!(rest, [3, 5]);
        assert_eq!(c.taken(), b.len());
    }

    #[test]
    fn a_flush_lists_each_shared_message_once() {
        let msgs = list(3);
        let mut f = Flush::default();
        f.push(1, Batch::all(msgs.clone()));
        f.push(2, Batch::new(msgs.clone(), 3, vec![1], vec![]));
        f.push(3, Batch::new(msgs.clone(), 3, vec![0, 1, 2], vec![]));
        assert_eq!(f.into_batches().len(), 2, "an empty batch is not kept");
        let mut f = Flush::default();
        f.push(1, Batch::all(msgs.clone()));
        f.push(2, Batch::new(msgs, 3, vec![1], vec![]));
        assert_eq!(f.messages().count(), 3);
        assert_eq!(f.to(2).map(|m| m.bytes[0]).collect::<Vec<_>>(), [0, 2]);
    }
}
