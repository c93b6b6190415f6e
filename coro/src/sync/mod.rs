//! Synchronisation between tasks: [`ResetEvent`] and [`Semaphore`] (tasks of one thread), and
//! [`Mutex`] with its [`Condvar`], [`RwLock`] and the MPMC [`Channel`] (tasks of any scheduler
//! and plain threads).
//!
//! Waiting parks the task, letting the others run; a canceled task stops waiting with a
//! [canceled](corio_aio::is_canceled) error. [`ResetEvent`] and [`Semaphore`] are `!Send`
//! (share them between tasks with an `Rc`); [`Mutex`], [`Condvar`], [`RwLock`] and [`Channel`]
//! are `Sync` (share them with an `Arc`).
//!
//! ```
//! use std::rc::Rc;
//! use corio_coro::{Scheduler, RunMode, sync::ResetEvent};
//!
//! let scheduler = Scheduler::new()?;
//! let ready = Rc::new(ResetEvent::new());
//! let r = ready.clone();
//! let waiter = scheduler.spawn(move || r.wait());
//! assert!(!waiter.is_complete());
//! ready.set();
//! scheduler.run(RunMode::Wait)?;
//! waiter.join()?;
//! # std::io::Result::Ok(())
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::Rc;

use corio_aio::canceled;

use crate::task::{Status, TaskCore, check_canceled, current};

mod channel;
mod mutex;
mod rwlock;
pub(crate) mod waiters;

pub use channel::{Channel, SendError};
pub use mutex::{Condvar, Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Makes a parked waiter ready on its own scheduler.
fn wake(task: &Rc<TaskCore>) {
    if let Some(sched) = task.sched.upgrade() {
        sched.wake(task);
    }
}

/// Parks the current task in `waiters` until woken; then removes it from the list if it is
/// still there (woken by a cancel).
fn park_in(waiters: &RefCell<VecDeque<Rc<TaskCore>>>, me: &Rc<TaskCore>) {
    /// Leaves the list also when the park unwinds (a teardown).
    struct Leave<'a>(&'a RefCell<VecDeque<Rc<TaskCore>>>, &'a Rc<TaskCore>);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            if let Ok(mut waiters) = self.0.try_borrow_mut() {
                waiters.retain(|w| !Rc::ptr_eq(w, self.1));
            }
        }
    }
    waiters.borrow_mut().push_back(me.clone());
    let _leave = Leave(waiters, me);
    me.park(Status::Event);
}

/// A flag tasks can wait for: [`wait`](ResetEvent::wait) returns once it is [set](ResetEvent::set).
#[derive(Default)]
pub struct ResetEvent {
    is_set: Cell<bool>,
    waiters: RefCell<VecDeque<Rc<TaskCore>>>,
}

impl ResetEvent {
    /// An event that is not set.
    #[must_use]
    pub fn new() -> ResetEvent {
        ResetEvent::default()
    }

    /// Sets the event and makes every waiting task ready.
    pub fn set(&self) {
        self.is_set.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        waiters.iter().for_each(wake);
    }

    /// Clears the event.
    pub fn reset(&self) {
        self.is_set.set(false);
    }

    /// Whether the event is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.is_set.get()
    }

    /// Parks the current task until the event is set; fails canceled if the task is (or gets)
    /// canceled, even if the event is set.
    ///
    /// # Panics
    ///
    /// Outside a task, if the event is not set (nothing could set it while the thread waits).
    pub fn wait(&self) -> io::Result<()> {
        check_canceled()?;
        if self.is_set() {
            return Ok(());
        }
        let me = current().expect("ResetEvent::wait outside a task on an event that is not set");
        loop {
            if self.is_set() {
                return Ok(());
            }
            if me.canceled.get() {
                return Err(canceled());
            }
            park_in(&self.waiters, &me);
        }
    }
}

impl fmt::Debug for ResetEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetEvent").field("is_set", &self.is_set()).finish()
    }
}

/// A counting semaphore for the tasks of one thread.
pub struct Semaphore {
    permits: Cell<usize>,
    waiters: RefCell<VecDeque<Rc<TaskCore>>>,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    #[must_use]
    pub fn new(permits: usize) -> Semaphore {
        Semaphore { permits: Cell::new(permits), waiters: RefCell::default() }
    }

    /// Permits available now.
    #[must_use]
    pub fn available(&self) -> usize {
        self.permits.get()
    }

    /// Takes a permit if one is available.
    #[must_use = "a permit taken must be released"]
    pub fn try_acquire(&self) -> bool {
        let permits = self.permits.get();
        if permits == 0 {
            return false;
        }
        self.permits.set(permits - 1);
        true
    }

    /// Takes a permit, parking the current task (first come, first served) while there is
    /// none; fails canceled if the task is (or gets) canceled, even if a permit is free.
    ///
    /// # Panics
    ///
    /// Outside a task, if no permit is available.
    pub fn acquire(&self) -> io::Result<()> {
        check_canceled()?;
        if self.waiters.borrow().is_empty() && self.try_acquire() {
            return Ok(());
        }
        let me = current().expect("Semaphore::acquire outside a task with no permit available");
        loop {
            if me.canceled.get() {
                // Pass on a permit this task may have been woken for.
                if self.permits.get() > 0 {
                    self.wake_next();
                }
                return Err(canceled());
            }
            if self.try_acquire() {
                return Ok(());
            }
            park_in(&self.waiters, &me);
        }
    }

    /// Returns a permit, making the longest waiting task ready.
    pub fn release(&self) {
        self.permits.set(self.permits.get() + 1);
        self.wake_next();
    }

    fn wake_next(&self) {
        let next = self.waiters.borrow_mut().pop_front();
        if let Some(next) = next {
            wake(&next);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("permits", &self.permits.get()).finish()
    }
}
