//! Operation ids: a slot index plus a generation, so a stale id never reaches a reused slot.

use std::fmt;

/// Identifies one queued operation of a [`Dynamic`](crate::Dynamic).
///
/// An id names a slot and the generation of that slot's current occupant. Once the operation
/// completes its slot is released and the generation advances, so the old id is *stale*: a
/// [`Cancel`](crate::op::Cancel) of it reports `NotFound` instead of touching whatever now
/// occupies the slot. Generations are 32 bits wide, so a stale id could only alias after four
/// billion reuses of one slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(u64);

impl Id {
    /// The value reserved for internal entries (never a real id).
    pub(crate) const HIDDEN: u64 = u64::MAX;

    pub(crate) fn new(slot: u32, generation: u32) -> Id {
        Id(((generation as u64) << 32) | slot as u64)
    }

    /// The slot index (below the `Dynamic`'s capacity).
    #[must_use]
    pub fn slot(self) -> u32 {
        self.0 as u32
    }

    /// The generation of the slot at the time the id was issued.
    #[must_use]
    pub fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The id as one integer, e.g. to store it in user data.
    #[must_use]
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`Id::to_u64`]. Any value is accepted: an id that never existed
    /// simply refers to nothing (a cancel of it reports `NotFound`).
    #[must_use]
    pub const fn from_u64(raw: u64) -> Id {
        Id(raw)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({}!{})", self.slot(), self.generation())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}", self.slot(), self.generation())
    }
}

/// A slot allocator with generations, whose capacity only grows ([`grow`](IdAllocator::grow)).
///
/// Allocation and release are O(1) through an intrusive free list; nothing allocates except
/// `grow`. Each slot's metadata is one 8-byte entry (generation + free-list link).
pub(crate) struct IdAllocator {
    slots: Vec<Meta>,
    head: u32,
    in_use: usize,
}

#[derive(Clone, Copy)]
struct Meta {
    generation: u32,
    /// The next free slot while free ([`END`] ends the list), or [`USED`].
    next: u32,
}

const END: u32 = u32::MAX;
const USED: u32 = u32::MAX - 1;

impl IdAllocator {
    pub(crate) fn new(capacity: u32) -> IdAllocator {
        assert!(capacity < USED, "capacity too large");
        let slots = (0..capacity).map(|i| Meta { generation: 0, next: if i + 1 < capacity { i + 1 } else { END } });
        IdAllocator { slots: slots.collect(), head: if capacity == 0 { END } else { 0 }, in_use: 0 }
    }

    /// Raises the capacity to `capacity` (no change if it is not larger); the new slots are
    /// handed out before the old free ones.
    pub(crate) fn grow(&mut self, capacity: u32) {
        assert!(capacity < USED, "capacity too large");
        let old = self.slots.len() as u32;
        if capacity <= old {
            return;
        }
        let head = self.head;
        self.slots
            .extend((old..capacity).map(|i| Meta { generation: 0, next: if i + 1 < capacity { i + 1 } else { head } }));
        self.head = old;
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    pub(crate) fn available(&self) -> usize {
        self.capacity() - self.in_use
    }

    /// Takes a free slot, or `None` when all are in use.
    #[inline]
    pub(crate) fn alloc(&mut self) -> Option<Id> {
        let slot = self.head;
        let meta = self.slots.get_mut(slot as usize)?;
        self.head = meta.next;
        meta.next = USED;
        self.in_use += 1;
        Some(Id::new(slot, meta.generation))
    }

    /// Whether `id` names a live slot of the current generation.
    #[inline]
    pub(crate) fn is_live(&self, id: Id) -> bool {
        self.slots.get(id.slot() as usize).is_some_and(|m| m.next == USED && m.generation == id.generation())
    }

    /// Releases `id` if it names a live slot of the current generation (as
    /// [`release`](IdAllocator::release)) and tells whether it did: one lookup for the
    /// completion path, which must ignore stale ids.
    #[inline]
    pub(crate) fn release_if_live(&mut self, id: Id) -> bool {
        let slot = id.slot();
        let Some(meta) = self.slots.get_mut(slot as usize) else { return false };
        if meta.next != USED || meta.generation != id.generation() {
            return false;
        }
        meta.generation = meta.generation.wrapping_add(1);
        meta.next = self.head;
        self.head = slot;
        self.in_use -= 1;
        true
    }

    /// The ids in use.
    pub(crate) fn live(&self) -> impl Iterator<Item = Id> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, m)| m.next == USED)
            .map(|(slot, m)| Id::new(slot as u32, m.generation))
    }

    /// Releases a live id; its generation advances so the id becomes stale.
    #[inline]
    pub(crate) fn release(&mut self, id: Id) {
        debug_assert!(self.is_live(id), "release of a dead id {id:?}");
        let meta = &mut self.slots[id.slot() as usize];
        meta.generation = meta.generation.wrapping_add(1);
        meta.next = self.head;
        self.head = id.slot();
        self.in_use -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_go_stale() {
        let mut ids = IdAllocator::new(2);
        let a = ids.alloc().unwrap();
        let b = ids.alloc().unwrap();
        assert_ne!(a, b);
        assert!(ids.alloc().is_none());
        ids.release(a);
        assert!(!ids.is_live(a));
        let c = ids.alloc().unwrap();
        assert_eq!(c.slot(), a.slot());
        assert_ne!(c, a);
        assert!(ids.is_live(c) && ids.is_live(b));
        assert!(!ids.release_if_live(a), "a stale id is not released");
        assert!(ids.release_if_live(c));
        assert!(!ids.is_live(c) && !ids.release_if_live(c));
        assert_eq!(Id::from_u64(c.to_u64()), c);
    }

    #[test]
    fn growing_adds_free_slots_and_keeps_live_ones() {
        let mut ids = IdAllocator::new(2);
        let (a, b) = (ids.alloc().unwrap(), ids.alloc().unwrap());
        ids.release(a);
        ids.grow(4);
        assert_eq!((ids.capacity(), ids.in_use(), ids.available()), (4, 1, 3));
        let fresh: Vec<Id> = (0..3).map(|_| ids.alloc().unwrap()).collect();
        assert_eq!(fresh.iter().map(|id| id.slot()).collect::<Vec<_>>(), [2, 3, a.slot()]);
        assert!(ids.alloc().is_none());
        assert!(ids.is_live(b) && !ids.is_live(a));
        ids.grow(3);
        assert_eq!(ids.capacity(), 4, "never shrinks");
    }
}
