//! How another thread wakes a scheduler: [`Doorbell::ring`], the one cross-thread wake-up
//! that the futures' waker and the runtime's mailbox (through that waker) go through.
//!
//! The receiving scheduler keeps a `Wait` on the doorbell's [`EventSource`] in flight (the
//! reactor's mailbox op). A ringing thread that is itself a task of a scheduler on io_uring
//! (and the receiver is on io_uring with `MSG_RING`) instead queues a message to the
//! receiver's ring (`RuntimeExt::send_message`): it goes out with the ringing scheduler's next
//! submission, no syscall of its own, and lands in the receiver's completion queue, which ends
//! its kernel wait like a completion; its reaping pass hands it to the reactor, which drains
//! the mailbox. Any other thread (plain ones, a scheduler on the emulations) notifies the
//! event source, a write to an eventfd or a pipe; so does a sender whose message the kernel
//! failed to post (`RingTarget::on_lost`).

use std::io;
use std::sync::{Arc, OnceLock};

use corio_aio::__private::{RingTarget, RuntimeExt};
use corio_aio::EventSource;

use crate::scheduler::{Counters, Inner};

/// A scheduler's doorbell (see the module docs).
pub(crate) struct Doorbell {
    source: Arc<EventSource>,
    /// The scheduler's ring, if it can receive messages.
    ring: OnceLock<RingTarget>,
}

impl Doorbell {
    /// The doorbell of the scheduler `inner` (on its thread).
    pub(crate) fn new(inner: &Inner) -> io::Result<Doorbell> {
        let source = Arc::new(EventSource::new()?);
        let ring = OnceLock::new();
        if let Some(target) = inner.io().ok().and_then(|io| io.ring_target()) {
            // A message to this ring that the kernel failed to post rings the event source
            // instead (the sender's thread calls this while it reaps).
            let fallback = Arc::downgrade(&source);
            target.on_lost(move || {
                if let Some(source) = fallback.upgrade()
                    && let Err(e) = source.notify()
                {
                    log::error!("corio: cannot wake a scheduler whose message was lost: {e}");
                }
            });
            let _ = ring.set(target);
        }
        Ok(Doorbell { source, ring })
    }

    pub(crate) fn source(&self) -> &EventSource {
        &self.source
    }

    /// Wakes the scheduler from any thread: a message from the calling task's own ring if it
    /// can, else a notification of the event source.
    pub(crate) fn ring(&self) {
        if let Some(target) = self.ring.get()
            && let Some(sender) = crate::future::reactor::current_scheduler()
            && send(&sender, target)
        {
            return;
        }
        if let Err(e) = self.source.notify() {
            log::error!("corio: cannot wake a scheduler from another thread: {e}");
        }
    }
}

/// Queues a message to `target` on `sender`'s ring; false if it cannot (not io_uring, its
/// queue borrowed or torn down).
fn send(sender: &Inner, target: &RingTarget) -> bool {
    let Ok(mut io) = sender.try_io() else { return false };
    let sent = io.send_message(target).is_ok();
    if sent {
        Counters::add(&sender.counters.msg_ring_sent, 1);
    }
    sent
}
