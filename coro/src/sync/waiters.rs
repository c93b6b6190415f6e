//! Wait queues of the cross-thread primitives ([`Condvar`](super::Condvar),
//! [`Channel`](super::Channel)): first come, first served, and a wake-up reaches exactly the
//! waiter it is meant for.
//!
//! Each waiter waits on its own [`EventSource`] (taken from a per-thread pool, so waiting
//! creates no descriptor once the pool is warm) through [`crate::io`]: a task parks and its
//! scheduler runs other tasks, a plain thread blocks. A waker pops the first waiter and
//! notifies its source *while holding the primitive's lock*, so a waiter that re-takes the
//! lock knows whether it was woken: if its entry is gone, the unit is in its source. A waiter
//! whose wait failed (canceled) after it was woken drains that unit and passes the wake-up on
//! to the next waiter, so no wake-up is lost to a cancel; its source is clean again and goes
//! back to the pool.
//!
//! The price is one descriptor per waiter while it waits (see
//! [`Channel`'s docs](super::Channel#descriptors)); a per-thread mailbox, one descriptor per
//! waiting thread, would lift that and is not built yet.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use corio_aio::EventSource;
use corio_aio::op::Wait;

/// Free sources kept per thread.
const POOLED_SOURCES: usize = 64;

thread_local! {
    static SOURCES: RefCell<Vec<Arc<EventSource>>> = const { RefCell::new(Vec::new()) };
}

/// Locks `lock`; the state of these primitives stays consistent if a holder panicked (no user
/// code runs while it is held).
pub(crate) fn lock<S>(lock: &Mutex<S>) -> MutexGuard<'_, S> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The waiters of one condition, in arrival order.
#[derive(Default)]
pub(crate) struct WaitQueue {
    next_id: u64,
    list: VecDeque<(u64, Arc<EventSource>)>,
}

/// A registered waiter; [`Ticket::wait`] waits and leaves the queue.
pub(crate) struct Ticket {
    id: u64,
    source: Arc<EventSource>,
}

impl WaitQueue {
    /// Registers a waiter at the back. Call with the primitive's lock held, then release it
    /// and [`wait`](Ticket::wait).
    pub(crate) fn register(&mut self) -> io::Result<Ticket> {
        let pooled = SOURCES.try_with(|s| s.borrow_mut().pop()).ok().flatten();
        let source = match pooled {
            Some(source) => source,
            None => Arc::new(EventSource::new()?),
        };
        let id = self.next_id;
        self.next_id += 1;
        self.list.push_back((id, source.clone()));
        Ok(Ticket { id, source })
    }

    /// Wakes the longest waiting waiter; returns whether there was one.
    pub(crate) fn wake_one(&mut self) -> bool {
        let Some((_, source)) = self.list.pop_front() else { return false };
        if let Err(e) = source.notify() {
            log::error!("corio: cannot wake a waiter: {e}");
        }
        true
    }

    /// Wakes every waiter.
    pub(crate) fn wake_all(&mut self) {
        while self.wake_one() {}
    }

    /// Removes the waiter `id`; returns whether it was still queued (not woken).
    fn leave(&mut self, id: u64) -> bool {
        match self.list.iter().position(|&(i, _)| i == id) {
            Some(at) => {
                self.list.remove(at);
                true
            }
            None => false,
        }
    }
}

/// Leaves the queue if the wait unwinds (a scheduler teardown force-unwinding the task).
struct LeaveOnUnwind<'a, S> {
    lock: &'a Mutex<S>,
    queue: fn(&mut S) -> &mut WaitQueue,
    ticket: &'a Ticket,
}

impl<S> Drop for LeaveOnUnwind<'_, S> {
    fn drop(&mut self) {
        let mut state = lock(self.lock);
        let queue = (self.queue)(&mut state);
        if !queue.leave(self.ticket.id) {
            // Woken meanwhile: hand the wake-up on.
            let _ = self.ticket.source.try_wait();
            queue.wake_one();
        }
    }
}

impl Ticket {
    /// Waits until woken (parks the task, or blocks the thread outside a task), then re-takes
    /// `lock` and leaves the queue `queue` selects in the locked state. Call without holding
    /// `lock`. On an error (the task was canceled, or the wait could not be queued) a wake-up
    /// that reached this waiter anyway has been passed on to the next one.
    pub(crate) fn wait<S>(
        self,
        lock: &Mutex<S>,
        queue: fn(&mut S) -> &mut WaitQueue,
    ) -> (MutexGuard<'_, S>, io::Result<()>) {
        let guard = LeaveOnUnwind { lock, queue, ticket: &self };
        let waited = crate::io::single(Wait::new(&self.source));
        std::mem::forget(guard);
        let mut state = self::lock(lock);
        let queued = queue(&mut state).leave(self.id);
        if waited.is_err() && !queued {
            // Woken (the waker notified under the lock, so the unit is there) but the wait
            // ended first: drain the unit and pass the wake-up on.
            let _ = self.source.try_wait();
            queue(&mut state).wake_one();
        }
        // The source holds no unit now and nothing else refers to it: reuse it.
        let source = self.source;
        if Arc::strong_count(&source) == 1 {
            let _ = SOURCES.try_with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < POOLED_SOURCES {
                    s.push(source);
                }
            });
        }
        (state, waited)
    }
}
