//! [`Queuer`]: queues the ops of one batch into a [`Dynamic`](super::Dynamic)'s slots and
//! streams them into the backend where it can.

use std::io;

use super::NO_RUN;
use super::slots::Slots;
use crate::backend::{Queued, Stream};
use crate::batch::sealed::Visit;
use crate::error::invalid_input;
use crate::id::{Id, IdAllocator};
use crate::op::RawOp;
use crate::op::sealed::Prepare;
use crate::raw::{Link, OpState};

/// Queues the ops of one batch (the [`Visit`] of `Dynamic::queue_batch`).
pub(super) struct Queuer<'a, 's> {
    pub(super) ids: &'a mut IdAllocator,
    pub(super) slots: &'a Slots,
    /// The ids of the ops streamed so far (while `stream` is `Some`).
    pub(super) queued: &'a mut Vec<Id>,
    /// Every op queued so far, once `stream` is `None` (each op is in one of the two).
    pub(super) scratch: &'a mut Vec<Queued>,
    /// The `Dynamic`'s count of ops queued by kind (a rolled-back batch's are taken back).
    pub(super) kinds_queued: &'a mut [u64; crate::op::KINDS],
    /// The number of ops queued so far.
    pub(super) index: usize,
    /// The batch streamed into the backend, until an op cannot be (then `scratch` goes to the
    /// backend's `queue` at the end).
    pub(super) stream: Option<Stream<'s>>,
    pub(super) run: bool,
    /// Every op must report once (`run`, tagged queueing): multishot ops are refused.
    pub(super) one_report: bool,
    /// The `Dynamic`'s serial: a provided-buffer group of another one is refused.
    pub(super) owner: u64,
    /// The link of the last op queued.
    pub(super) last_link: Link,
    /// Whether the last op queued is a link timeout.
    pub(super) last_is_link_timeout: bool,
}

impl Queuer<'_, '_> {
    /// Stops streaming: moves the ops streamed so far to `scratch`, rebuilt from their slots.
    #[cold]
    #[inline(never)]
    fn stop_streaming(&mut self) {
        self.stream = None; // Rolls back what was streamed; the backend's `queue` takes all.
        for id in self.queued.drain(..) {
            // SAFETY: the slot index came from the allocator (in bounds, see `op`); the slot
            // belongs to this batch, and no reference to it is live.
            let slot = unsafe { &mut *self.slots.get(id.slot() as usize).get() };
            self.scratch.push(Queued {
                id,
                op: slot.op,
                link: slot.link,
                state: &raw mut slot.state,
                fixed: slot.fixed,
            });
        }
    }
}

impl Queuer<'_, '_> {
    /// Whether a multishot op may be queued here, linked by `link`.
    #[cold]
    fn check_multishot(&self, link: Link) -> io::Result<()> {
        if self.one_report {
            return Err(invalid_input(
                "a multishot op completes more than once: queue it with Dynamic::queue, not run, \
                 the immediate API or tagged queueing",
            ));
        }
        if link != Link::Unlinked || self.last_link != Link::Unlinked {
            return Err(invalid_input("a multishot op cannot be part of a linked chain"));
        }
        Ok(())
    }
}

impl Visit for Queuer<'_, '_> {
    #[inline(always)]
    fn op<P: Prepare>(&mut self, link: Link, user_data: u64, op: P) -> io::Result<()> {
        let index = self.index;
        let id = self.ids.alloc().expect("capacity was checked");
        debug_assert!((id.slot() as usize) < self.slots.len());
        // SAFETY: the allocator hands out slot indices below its capacity, which is the length
        // of `slots` (both are made from the same capacity in `create`). The slot was free, so
        // neither the OS nor anyone else references it.
        let slot = unsafe { &mut *self.slots.get(id.slot() as usize).get() };
        let fixed = op.fixed();
        let op = match op.prepare(&mut slot.state) {
            // The name batches report in `OpFailed` is the one completions report: checked for
            // every op the (debug-built) test suite queues.
            Ok(op) => {
                debug_assert_eq!(P::NAME, op.name(), "Prepare::NAME of an op");
                op
            }
            Err(e) => {
                slot.state = OpState::Empty;
                self.ids.release(id);
                return Err(e);
            }
        };
        // The guarded op must be linked to this one, and not be a link timeout itself (the
        // kernel fails such a chain with EINVAL after canceling the guarded op).
        let is_link_timeout = matches!(op, RawOp::LinkTimeout { .. });
        if is_link_timeout && (self.last_link == Link::Unlinked || self.last_is_link_timeout) {
            slot.state = OpState::Empty;
            self.ids.release(id);
            return Err(invalid_input(
                "a link timeout must follow a soft- or hard-linked op that is not a link timeout",
            ));
        }
        // Only the ops that pick a provided buffer hold a group (their output says so: a
        // constant once `prepare` is inlined, so other ops skip reading the state back).
        if op.output() == crate::op::table::Output::Provided
            && let OpState::Group(group) = &slot.state
            && group.owner != self.owner
        {
            slot.state = OpState::Empty;
            self.ids.release(id);
            return Err(invalid_input("a buffer group of another Dynamic"));
        }
        if fixed && !op.facts().fixed {
            // Typed ops take a `Fixed` only where their row allows it: a bug if reached.
            slot.state = OpState::Empty;
            self.ids.release(id);
            return Err(invalid_input("this op cannot target a registered file slot"));
        }
        if op.facts().multishot
            && let Err(e) = self.check_multishot(link)
        {
            slot.state = OpState::Empty;
            self.ids.release(id);
            return Err(e);
        }
        // A constant index once `prepare` is inlined: one add per op.
        self.kinds_queued[op.index()] += 1;
        slot.op = op;
        slot.user_data = user_data;
        slot.run_index = if self.run { index as u32 } else { NO_RUN };
        slot.link = link;
        slot.fixed = fixed;
        self.last_link = link;
        self.last_is_link_timeout = is_link_timeout;
        let q = Queued { id, op, link, state: &raw mut slot.state, fixed };
        if let Some(stream) = &mut self.stream
            && !stream.try_push(&q)
        {
            self.stop_streaming();
        }
        if self.stream.is_some() {
            self.queued.push(id);
        } else {
            self.scratch.push(q);
        }
        self.index += 1;
        Ok(())
    }
}
