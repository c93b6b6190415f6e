//! Messages between rings over `IORING_OP_MSG_RING` (see `dynamic/messages.rs` for what a
//! message is and who uses it).
//!
//! A message is a CQE the kernel posts into the target ring with user data [`MESSAGE`]; the
//! sender's SQE has user data [`SEND_FAILED`] and `CQE_SKIP_SUCCESS`, so only a failed send
//! reports on the sender's ring. Both user data have a slot number no op can have (slots stay
//! far below `u32::MAX - 2`, see `id.rs`), so `reap` tells them from op completions with the
//! same compare that skips hidden entries.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Weak};

use io_uring::opcode;
use io_uring::squeue::Flags;
use io_uring::types::Fd;

use super::Uring;
use crate::dynamic::RingTarget;
use crate::dynamic::messages::Target;
use crate::id::Id;

/// Low halves at and above this are no op's: hidden entries and messages.
pub(super) const FIRST_RESERVED_SLOT: u32 = u32::MAX - 2;
/// The user data of a message posted to this ring.
pub(super) const MESSAGE: u64 = (u32::MAX as u64) << 32 | (u32::MAX - 1) as u64;
/// The user data of a message send that failed (reported only then).
pub(super) const SEND_FAILED: u64 = (u32::MAX as u64) << 32 | (u32::MAX - 2) as u64;
const _: () = assert!(Id::HIDDEN as u32 >= FIRST_RESERVED_SLOT && MESSAGE as u32 >= FIRST_RESERVED_SLOT);

/// The ring's side of messages.
#[derive(Default)]
pub(super) struct Messages {
    /// Messages reaped and not yet taken.
    received: u32,
    /// Targets of sends not yet submitted: their descriptors stay open (so their numbers are
    /// not reused) until the kernel resolved them.
    unsubmitted: Vec<RingTarget>,
    /// Every target sent to that may still exist, once each: a failed send names none, so all
    /// of them hear of it (see `dynamic/messages.rs`). A runtime has one per thread.
    sent_to: Vec<Weak<Target>>,
}

impl Messages {
    /// A CQE with a reserved user data other than [`Id::HIDDEN`]'s: a message (counted; 1
    /// is returned, so a waiting reap reports it) or a failed send (logged; every target's
    /// lost-message handler runs).
    #[cold]
    #[inline(never)]
    pub(super) fn reserved_cqe(&mut self, user_data: u64, res: i32) -> usize {
        match user_data {
            MESSAGE => {
                self.received = self.received.saturating_add(1);
                1
            }
            SEND_FAILED => {
                log::warn!("corio-aio: a message to another ring failed: {}", io::Error::from_raw_os_error(-res));
                self.sent_to.retain(|target| target.upgrade().inspect(|target| target.lost()).is_some());
                0
            }
            _ => 0,
        }
    }

    /// Remembers `target` among those sent to (once; dropping the ones gone meanwhile).
    fn remember(&mut self, target: &RingTarget) {
        let weak = Arc::downgrade(&target.inner);
        if self.sent_to.last().is_some_and(|last| last.ptr_eq(&weak)) {
            return; // the common case: the same thread woken again
        }
        if self.sent_to.iter().any(|known| known.ptr_eq(&weak)) {
            return;
        }
        self.sent_to.retain(|known| known.strong_count() > 0);
        self.sent_to.push(weak);
    }
}

impl Uring {
    /// A handle other threads' rings post messages to; `None` if the kernel lacks
    /// `MSG_RING` (or `CORIO_URING_DISABLE` lists `msg_ring`).
    pub(super) fn message_target(&self) -> Option<RingTarget> {
        if !self.prep.features.supports(opcode::MsgRingData::CODE) {
            return None;
        }
        // SAFETY: the ring's descriptor is open while `self` lives, which outlasts this call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.ring.as_raw_fd()) };
        match fd.try_clone_to_owned() {
            Ok(fd) => Some(RingTarget::new(fd)),
            Err(e) => {
                log::warn!("corio-aio: cannot duplicate the ring's descriptor for messages: {e}");
                None
            }
        }
    }

    /// Queues a message to `target`, sent with the next submission.
    pub(super) fn queue_message(&mut self, target: &RingTarget) -> io::Result<()> {
        if !self.prep.features.supports(opcode::MsgRingData::CODE) {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "this kernel has no IORING_OP_MSG_RING"));
        }
        if self.ring.submission().is_full() {
            self.enter(0, None)?;
            if self.ring.submission().is_full() {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "submission queue is full"));
            }
        }
        let entry = opcode::MsgRingData::new(Fd(target.inner.fd.as_raw_fd()), 0, MESSAGE, None)
            .build()
            .user_data(SEND_FAILED)
            .flags(Flags::SKIP_SUCCESS);
        // The SQE points at no memory; the descriptor it names stays open until it was
        // submitted (`unsubmitted`, cleared by `sent`).
        self.push(entry);
        self.messages.unsubmitted.push(target.clone());
        self.messages.remember(target);
        Ok(())
    }

    /// After an enter: the targets of submitted sends may close.
    #[inline]
    pub(super) fn sent(&mut self) {
        if self.unsubmitted == 0 && !self.messages.unsubmitted.is_empty() {
            self.messages.unsubmitted.clear();
        }
    }

    /// Messages reaped since the last call.
    pub(super) fn messages_taken(&mut self) -> u32 {
        std::mem::take(&mut self.messages.received)
    }

    /// Whether messages were reaped and not yet taken.
    pub(super) fn messages_waiting(&self) -> bool {
        self.messages.received > 0
    }
}
