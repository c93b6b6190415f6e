//! Messages between rings: a runtime's doorbell from one of its threads to another's
//! [`Dynamic`](super::Dynamic), without a syscall of its own where io_uring has
//! `IORING_OP_MSG_RING` (5.18).
//!
//! The receiving thread hands out a [`RingTarget`] ([`RuntimeExt::ring_target`]); a thread
//! whose own `Dynamic` runs on io_uring sends it a message with
//! [`RuntimeExt::send_message`], which goes to the kernel with that thread's next submission.
//! The kernel posts a CQE straight into the target's completion queue, with a user data no
//! op has (a reserved slot number): the target's reaping pass counts it instead of reporting it
//! as a completion, and a wait for completions ([`complete_at_least`](super::Dynamic::complete_at_least),
//! `complete_at_least_parts`) returns early for it. [`RuntimeExt::take_messages`] tells how
//! many arrived.
//!
//! This is not an op of the op table on purpose: it occupies no slot on either side (the
//! target has no op to complete; the sender's hidden SQE reports only a failure), so neither
//! side counts it as IO, and it cannot be batched, linked or canceled. A send fails when the
//! kernel had no memory for the CQE, or the target is not (or no longer) a usable ring: the
//! message is lost then. A failure names no target (all sends share one user data), so the
//! sender calls the [lost-message handler](RingTarget::on_lost) of every target it has sent
//! to and that still exists: a runtime wakes those threads another way (its event source),
//! and a spurious wake-up of the others costs one empty pass each. The emulations (posix, IOCP) have no ring to post to:
//! [`RuntimeExt::ring_target`] is `None` there and `send_message` fails `Unsupported`; a
//! runtime then notifies the target's [`EventSource`](crate::EventSource) instead, as it
//! does from a thread without a `Dynamic`.
//!
//! A message is only a doorbell: it carries no data, and messages may be merged by the
//! receiver (`take_messages` counts them). A `Dynamic` with nothing in flight does not reap,
//! so a message to it waits in its completion queue until it has an op in flight and reaps:
//! a runtime keeps an op in flight (its `EventSource`'s `Wait`) on every thread it posts to.
//!
//! [`RuntimeExt::ring_target`]: super::RuntimeExt::ring_target
//! [`RuntimeExt::send_message`]: super::RuntimeExt::send_message
//! [`RuntimeExt::take_messages`]: super::RuntimeExt::take_messages

use std::fmt;
use std::sync::{Arc, OnceLock};

/// Where [`RuntimeExt::send_message`](super::RuntimeExt::send_message) posts: another
/// thread's io_uring (a duplicate of its descriptor, so the number is never reused while
/// a handle exists; a message to a ring whose `Dynamic` was dropped goes nowhere).
/// `Send + Sync`; cloning is cheap.
#[derive(Clone)]
pub struct RingTarget {
    pub(crate) inner: Arc<Target>,
}

/// The ring's duplicated descriptor (never made off Linux) and what to do when a message to
/// it was lost.
pub(crate) struct Target {
    #[cfg(target_os = "linux")]
    pub(crate) fd: std::os::fd::OwnedFd,
    #[cfg(not(target_os = "linux"))]
    pub(crate) fd: std::convert::Infallible,
    on_lost: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Target {
    /// A message to this target may have been lost: its handler runs, if it has one.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only io_uring sends
    pub(crate) fn lost(&self) {
        if let Some(handler) = self.on_lost.get() {
            handler();
        }
    }
}

impl RingTarget {
    #[cfg(target_os = "linux")]
    pub(crate) fn new(fd: std::os::fd::OwnedFd) -> RingTarget {
        RingTarget { inner: Arc::new(Target { fd, on_lost: OnceLock::new() }) }
    }

    /// A target for messages to the io_uring whose descriptor `fd` is (a descriptor of
    /// anything else makes every send to it fail, which its [`on_lost`](Self::on_lost)
    /// handler then hears of).
    #[cfg(target_os = "linux")]
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> RingTarget {
        RingTarget::new(fd)
    }

    /// Sets what a sender calls when a message to this target may have been lost (see the
    /// module docs): it runs on the sender's thread, while it reaps, so it must be quick and
    /// must not use that thread's `Dynamic` (a runtime notifies the target's event source).
    /// Returns `false` (and drops `handler`) if a handler was set already.
    pub fn on_lost(&self, handler: impl Fn() + Send + Sync + 'static) -> bool {
        self.inner.on_lost.set(Box::new(handler)).is_ok()
    }
}

impl fmt::Debug for RingTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingTarget")
            .field("fd", &self.inner.fd)
            .field("on_lost", &self.inner.on_lost.get().is_some())
            .finish()
    }
}
