//! [`Slots`]: a [`Dynamic`](super::Dynamic)'s per-op slots, in segments that never move.
//!
//! The first segment holds the capacity the `Dynamic` was created with; each one added by
//! [`Slots::grow`] holds as many slots as all before it, so a slot index is found with one
//! comparison (the first segment) or a division and a bit scan (the others). Growing only adds
//! a segment: a slot's address, which the OS may hold while its op is in flight, never changes.

use std::cell::UnsafeCell;

use super::{NO_RUN, Slot};
use crate::op::RawOp;
use crate::raw::{Link, OpState};

pub(super) struct Slots {
    /// Slots `0..first.len()`.
    first: Box<[UnsafeCell<Slot>]>,
    /// Segment `k` holds slots `first.len() << k` up to (not including) `first.len() << (k + 1)`.
    more: Vec<Box<[UnsafeCell<Slot>]>>,
}

fn segment(len: usize) -> Box<[UnsafeCell<Slot>]> {
    (0..len)
        .map(|_| {
            UnsafeCell::new(Slot {
                op: RawOp::Nop {},
                state: OpState::Empty,
                user_data: 0,
                run_index: NO_RUN,
                link: Link::Unlinked,
                fixed: false,
            })
        })
        .collect()
}

impl Slots {
    /// `len` slots (at least 1).
    pub(super) fn new(len: usize) -> Slots {
        debug_assert!(len > 0);
        Slots { first: segment(len), more: Vec::new() }
    }

    /// The number of slots.
    pub(super) fn len(&self) -> usize {
        self.first.len() << self.more.len()
    }

    /// Doubles the number of slots (by adding a segment as large as all the others); returns
    /// the new number.
    pub(super) fn grow(&mut self) -> usize {
        let len = self.len();
        self.more.push(segment(len));
        self.len()
    }

    /// Slot `index`, which must be below [`len`](Slots::len).
    #[inline(always)]
    pub(super) fn get(&self, index: usize) -> &UnsafeCell<Slot> {
        match self.first.get(index) {
            Some(slot) => slot,
            None => self.get_more(index),
        }
    }

    #[inline(never)]
    fn get_more(&self, index: usize) -> &UnsafeCell<Slot> {
        let base = self.first.len();
        // index ∈ [base << k, base << (k + 1)) for k = floor(log2(index / base)).
        let k = (index / base).ilog2() as usize;
        &self.more[k][index - (base << k)]
    }
}
