//! Multishot ops on io_uring: the kernel's multishot request where it has one, else a
//! stand-in that re-arms a single-shot request after each completion.
//!
//! Multishot accept came with Linux 5.19 (the release of `IORING_OP_SOCKET`, which the probe
//! uses to tell). Before, the kernel rejects the multishot flag, so [`RawOp::AcceptMulti`]
//! becomes a plain accept whose every success is reported with `more` and followed by the
//! next accept (same `user_data`), pushed by the next reaping pass ([`Prep::rearm`]): never a
//! silently single-shot op. A cancel that reaches the backend while an accept's success is in
//! flight (the kernel's cancel found nothing armed) is remembered: that success is reported
//! with `more`, then the op ends `-ECANCELED`, as the kernel's multishot request would.
//! `CORIO_URING_DISABLE=accept_multi` forces the stand-in, to test it on a newer kernel.

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::Fd;

use super::{Post, Prep};
use crate::id::Id;
use crate::raw::RawFd;

impl Prep {
    /// The SQE of a multishot accept on `fd` (see the module docs).
    pub(super) fn accept_multi(&mut self, id: Id, fd: RawFd, flags: i32) -> Entry {
        if self.features.accept_multi {
            return opcode::AcceptMulti::new(Fd(fd)).flags(flags).build();
        }
        self.set_post(id, Post::AcceptAgain { id, fd, flags, canceled: false });
        self.accepts_again += 1;
        single_accept(fd, flags)
    }

    /// A cancel of `target` is on its way to the kernel (a [`Cancel`](crate::op::Cancel) op
    /// or the drop path): a stand-in accept whose success is already in flight must not be
    /// re-armed.
    pub(super) fn cancel_accept_again(&mut self, target: Id) {
        if self.accepts_again == 0 {
            return;
        }
        if let Some(Post::AcceptAgain { id, canceled, .. }) = self.post.get_mut(target.slot() as usize)
            && *id == target
        {
            *canceled = true;
        }
    }

    /// The completion of a stand-in accept: `(res, more)` to report. A success re-arms it
    /// (pushed by the caller from `rearms`) unless it was canceled, which ends it after this
    /// report (`ended`); a failure ends it.
    pub(super) fn accept_again(&mut self, id: Id, res: i32, fd: RawFd, flags: i32, canceled: bool) -> (i32, bool) {
        if res < 0 {
            self.accepts_again -= 1;
            return (res, false);
        }
        if canceled {
            self.accepts_again -= 1;
            self.ended.push(id);
        } else {
            self.set_post(id, Post::AcceptAgain { id, fd, flags, canceled: false });
            self.rearms.push((id, single_accept(fd, flags)));
        }
        (res, true)
    }
}

/// A single-shot accept that does not ask for the peer's address (as the multishot one).
fn single_accept(fd: RawFd, flags: i32) -> Entry {
    opcode::Accept::new(Fd(fd), std::ptr::null_mut(), std::ptr::null_mut()).flags(flags).build()
}
