//! Streaming a batch's SQEs straight into the submission queue while the ops are prepared,
//! published only when the whole batch was pushed ([`Stream::commit`]).

use std::mem::ManuallyDrop;

use io_uring::opcode;
use io_uring::squeue::{Flags, SubmissionQueue};
use io_uring::types::{self, CancelBuilder, Fd};

use super::{Prep, Queued};
use crate::id::Id;
use crate::op::RawOp;
use crate::raw::Link;

/// SQEs of one batch being pushed (see `Backend::stream` on `Uring`). The submission queue
/// publishes its tail to the kernel only when dropped (or synced), so pushed SQEs stay
/// invisible until [`commit`](Stream::commit); dropping the stream without it forgets the
/// queue handle, which leaves the tail where it was: the pushed SQEs are rolled back.
pub(crate) struct Stream<'a> {
    pub(super) sq: ManuallyDrop<SubmissionQueue<'a>>,
    pub(super) prep: &'a mut Prep,
    pub(super) unsubmitted: &'a mut usize,
    pub(super) pushed: usize,
    pub(super) after_link: bool,
    /// Whether heap timers wait for [`commit`](Stream::commit) to be queued.
    pub(super) defer: bool,
}

impl Stream<'_> {
    /// Pushes the SQEs of one op if that has no side effect beyond the submission queue (no
    /// syscall fallback), so that a rollback undoes it; returns whether it did.
    #[inline(always)]
    pub(crate) fn try_push(&mut self, q: &Queued) -> bool {
        if !self.prep.streamable(&q.op) {
            return false;
        }
        self.push(q);
        true
    }

    /// Pushes the SQEs of one op; space was checked when the stream started.
    #[inline(always)]
    pub(super) fn push(&mut self, q: &Queued) {
        // A timeout outside any chain needs no SQE: it goes to the heap.
        if let RawOp::Timeout { nanos } = q.op
            && q.link == Link::Unlinked
            && !self.after_link
            && self.prep.timers.enabled
        {
            self.prep.timers.queue(q.id, nanos, !self.defer);
            return;
        }
        if let RawOp::TimeoutMulti { nanos, count } = q.op
            && self.prep.timers.enabled
        {
            self.prep.timers.queue_repeating(q.id, nanos, count, !self.defer);
            return;
        }
        let link = match q.link {
            Link::Unlinked => Flags::empty(),
            Link::Soft => Flags::IO_LINK,
            Link::Hard => Flags::IO_HARDLINK,
        };
        let mut entry = self.prep.entry(q, self.after_link).user_data(q.id.to_u64()).flags(link);
        if q.fixed {
            // The op's descriptor field holds a slot of the registered file table.
            entry = entry.flags(Flags::FIXED_FILE);
        }
        self.after_link = q.link != Link::Unlinked;
        let cancel_on = match q.op {
            RawOp::Close { fd } => Some(CancelBuilder::fd(Fd(fd))),
            RawOp::CloseFixed { slot } => Some(CancelBuilder::fd(types::Fixed(slot))),
            _ => None,
        };
        if let Some(on) = cancel_on {
            let cancel = opcode::AsyncCancel2::new(on.all())
                .build()
                .user_data(Id::HIDDEN)
                .flags(Flags::IO_HARDLINK | Flags::SKIP_SUCCESS);
            // SAFETY: a cancel references no memory. Space was checked when the stream started.
            unsafe { self.sq.push(&cancel) }.expect("space was reserved");
            self.pushed += 1;
        }
        // SAFETY: the entry's pointers (buffers, slot state) stay valid until its CQE is reaped:
        // the caller's side of the backend contract, for a committed batch. An SQE of a batch
        // rolled back is never published, so the kernel never reads it (nor its pointers).
        // Space was checked when the stream started.
        unsafe { self.sq.push(&entry) }.expect("space was reserved");
        self.pushed += 1;
    }

    /// Makes the pushed SQEs part of the submission queue (submitted at the next enter).
    ///
    /// # Safety
    ///
    /// As [`Backend::queue`](crate::backend::Backend::queue), for every op pushed.
    #[inline]
    pub(crate) unsafe fn commit(mut self) {
        *self.unsubmitted += self.pushed;
        self.prep.timers.commit();
        // SAFETY: `sq` is taken once, here, and `self` (which has no `Drop`) is not used after.
        drop(unsafe { ManuallyDrop::take(&mut self.sq) });
    }
}
