//! The map from descriptor numbers to the registry's entries (`registry.rs`): a vector
//! indexed by the number for numbers below [`DIRECT`], a hash map for the few above.
//!
//! Descriptor numbers are small and dense (the kernel hands out the lowest free one), and
//! every op that waits looks its descriptor up several times (whether it is known blocked,
//! parking, the report, going idle): an index is a bounds check and a load where a hash map
//! lookup is a few dozen instructions. The vector grows by doubling to the highest number
//! seen (below [`DIRECT`]), so it allocates only when a number higher than any before shows up,
//! never per op; removals never shrink it. Its memory is that of one entry per number below
//! the highest seen: at most [`DIRECT`] entries (a few MiB), in a process that has that many
//! files open.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::fd::RawFd;

use super::registry::Entry;

/// Descriptor numbers below this are indexed directly; larger ones are hashed.
const DIRECT: usize = 1 << 16;

/// The entries of the descriptors the driver knows, by number.
pub(super) struct FdTable {
    /// `direct[fd]`: the entry of `fd`, for numbers below [`DIRECT`].
    direct: Vec<Option<Entry>>,
    /// The entries of numbers from [`DIRECT`] up.
    spill: HashMap<RawFd, Entry, BuildHasherDefault<FdHasher>>,
    /// Entries in `direct`.
    direct_len: usize,
}

impl FdTable {
    /// A table with room for numbers below `numbers` without growing.
    pub(super) fn with_capacity(numbers: usize) -> FdTable {
        FdTable { direct: vec![None; numbers.min(DIRECT)], spill: HashMap::default(), direct_len: 0 }
    }

    /// The index of `fd` in `direct`, if it is indexed directly.
    #[inline(always)]
    fn index(fd: RawFd) -> Option<usize> {
        usize::try_from(fd).ok().filter(|&i| i < DIRECT)
    }

    #[inline]
    pub(super) fn get(&self, fd: &RawFd) -> Option<&Entry> {
        match Self::index(*fd) {
            Some(i) => self.direct.get(i).and_then(Option::as_ref),
            None => self.spill.get(fd),
        }
    }

    #[inline]
    pub(super) fn get_mut(&mut self, fd: &RawFd) -> Option<&mut Entry> {
        match Self::index(*fd) {
            Some(i) => self.direct.get_mut(i).and_then(Option::as_mut),
            None => self.spill.get_mut(fd),
        }
    }

    /// Sets `fd`'s entry; returns the one it replaces.
    pub(super) fn insert(&mut self, fd: RawFd, entry: Entry) -> Option<Entry> {
        let Some(i) = Self::index(fd) else { return self.spill.insert(fd, entry) };
        if i >= self.direct.len() {
            // A number higher than any before: room up to the next power of two.
            self.direct.resize((i + 1).next_power_of_two().min(DIRECT), None);
        }
        let old = self.direct[i].replace(entry);
        self.direct_len += usize::from(old.is_none());
        old
    }

    pub(super) fn remove(&mut self, fd: &RawFd) -> Option<Entry> {
        match Self::index(*fd) {
            Some(i) => {
                let old = self.direct.get_mut(i).and_then(Option::take);
                self.direct_len -= usize::from(old.is_some());
                old
            }
            None => self.spill.remove(fd),
        }
    }

    /// The number of entries.
    pub(super) fn len(&self) -> usize {
        self.direct_len + self.spill.len()
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries fit without allocating, counting the numbers indexed directly (for
    /// tests: removals never make it change).
    #[cfg_attr(any(not(test), target_os = "wasi"), allow(dead_code))]
    pub(super) fn capacity(&self) -> usize {
        self.direct.len() + self.spill.capacity()
    }

    /// Makes room for `additional` more hashed entries (numbers indexed directly need none
    /// beyond the highest number seen).
    pub(super) fn reserve(&mut self, additional: usize) {
        self.spill.reserve(additional);
    }

    /// Keeps the entries for which `keep` says `true`.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&RawFd, &mut Entry) -> bool) {
        for (i, slot) in self.direct.iter_mut().enumerate() {
            if let Some(entry) = slot
                && !keep(&(i as RawFd), entry)
            {
                *slot = None;
                self.direct_len -= 1;
            }
        }
        self.spill.retain(|fd, entry| keep(fd, entry));
    }
}

impl std::ops::Index<&RawFd> for FdTable {
    type Output = Entry;

    /// `fd`'s entry.
    ///
    /// # Panics
    ///
    /// If there is none.
    fn index(&self, fd: &RawFd) -> &Entry {
        self.get(fd).expect("no entry for this descriptor")
    }
}

/// Fibonacci hashing of a descriptor number (SipHash would be most of a lookup's cost).
#[derive(Default)]
struct FdHasher(u64);

impl Hasher for FdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_i32(&mut self, n: i32) {
        self.0 = u64::from(n as u32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::posix::NONE;
    use crate::backend::posix::syscall::Interest;

    fn entry(key: u64) -> Entry {
        Entry {
            head: NONE,
            tail: NONE,
            key,
            armed: Interest::default(),
            ready: Interest::default(),
            verified: true,
            listed: false,
            stream: false,
            read_closed: false,
            idle_epoch: 0,
            since: 0,
        }
    }

    #[test]
    fn small_and_large_numbers_are_kept_apart_and_counted() {
        let mut t = FdTable::with_capacity(4);
        let big = DIRECT as RawFd + 5;
        for fd in [3, 100, big] {
            assert!(t.insert(fd, entry(fd as u64)).is_none());
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t[&100].key, 100, "grown to take 100");
        assert_eq!(t.get(&big).map(|e| e.key), Some(big as u64));
        assert!(t.get(&4).is_none() && t.get(&-1).is_none() && t.get(&(DIRECT as RawFd)).is_none());
        assert_eq!(t.insert(3, entry(33)).map(|e| e.key), Some(3), "replaced, not added");
        assert_eq!(t.len(), 3);
        t.retain(|&fd, _| fd != 100);
        assert_eq!((t.len(), t.get(&100).is_none()), (2, true));
        assert_eq!(t.remove(&big).map(|e| e.key), Some(big as u64));
        assert_eq!(t.remove(&3).map(|e| e.key), Some(33));
        assert!(t.remove(&3).is_none() && t.is_empty());
    }
}
