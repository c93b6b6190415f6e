//! The [`Waker`](std::task::Waker) of a [`block_on`](super::block_on) in a task: a
//! [`Signal`], shared (`Arc`) by every clone of the waker, `Send + Sync`.
//!
//! A wake on the task's own thread makes the task ready at once if it is parked in that
//! `block_on` (else it only sets `woken`, which `block_on` checks before parking). A wake on
//! another thread posts the signal to the scheduler's [`Mailbox`]: its `EventSource` is
//! notified, the reactor's `Wait` on it completes, and the scheduler wakes the task on its
//! own thread (`wake_here`). Every transition of `woken` from false to true does one of the
//! two, and `block_on` clears it only right before polling, so no wake-up is lost.
//!
//! The signal holds the task (`Rc<TaskCore>`, which is `!Send`) only while `block_on` runs,
//! and touches it only on the task's thread; `block_on` takes it out before returning or
//! unwinding. A signal left holding it (its `block_on` leaked with a forgotten scheduler) and
//! dropped on another thread leaks the `Rc` instead of dropping it there.

use std::cell::{Cell, UnsafeCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Wake;

use super::reactor::Mailbox;
use crate::task::TaskCore;

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// A number for the calling thread, unique for the process's lifetime (unlike addresses of
/// thread locals, which a new thread may reuse).
pub(crate) fn thread_token() -> u64 {
    THREAD.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// What only the owning thread touches.
struct Local {
    task: Option<Rc<TaskCore>>,
    /// Whether `block_on` is parked (so a wake-up should make the task ready).
    parked: bool,
}

/// A `block_on`'s wake-up state (see the module docs).
pub(crate) struct Signal {
    woken: AtomicBool,
    owner: u64,
    mailbox: Arc<Mailbox>,
    local: UnsafeCell<Local>,
}

// SAFETY: `local` (the only field that is not `Send + Sync`) is read and written only on the
// thread `owner` names (`local()` checks), except by `Drop`, which runs after every other
// access (it has the last reference) and leaks the `Rc` on any other thread.
unsafe impl Send for Signal {}
// SAFETY: as for `Send`: shared access from other threads touches only the atomics and the
// mailbox (which is `Sync`).
unsafe impl Sync for Signal {}

impl Signal {
    pub(crate) fn new(task: Rc<TaskCore>, mailbox: Arc<Mailbox>) -> Signal {
        Signal {
            woken: AtomicBool::new(false),
            owner: thread_token(),
            mailbox,
            local: UnsafeCell::new(Local { task: Some(task), parked: false }),
        }
    }

    /// The owner's part; `None` on any other thread.
    #[allow(clippy::mut_from_ref)]
    fn local(&self) -> Option<&mut Local> {
        if thread_token() != self.owner {
            return None;
        }
        // SAFETY: on the owner thread, and every caller (`wake_here`, `set_parked`, `release`)
        // uses the reference only within the call, calling no code that could reach this
        // signal again meanwhile (`Inner::wake` only queues the task).
        Some(unsafe { &mut *self.local.get() })
    }

    /// Clears `woken`, before a poll.
    pub(crate) fn clear(&self) {
        self.woken.store(false, Ordering::Release);
    }

    /// Whether a wake-up came since the last [`clear`](Signal::clear).
    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// Records whether `block_on` is parked (on the owner thread).
    pub(crate) fn set_parked(&self, parked: bool) {
        if let Some(local) = self.local() {
            local.parked = parked;
        }
    }

    /// Gives the task back (on the owner thread, when `block_on` ends).
    pub(crate) fn release(&self) {
        if let Some(local) = self.local() {
            local.parked = false;
            local.task = None;
        }
    }

    /// On the owner thread: makes the task ready if it is parked in its `block_on`.
    pub(crate) fn wake_here(&self) {
        let Some(local) = self.local() else { return };
        if !local.parked {
            return;
        }
        local.parked = false;
        if let Some(task) = &local.task
            && let Some(sched) = task.sched.upgrade()
        {
            sched.wake(task);
        }
    }
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        if thread_token() == self.owner {
            self.wake_here();
        } else {
            self.mailbox.post(self.clone());
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        let task = self.local.get_mut().task.take();
        if thread_token() != self.owner {
            std::mem::forget(task);
        }
    }
}
