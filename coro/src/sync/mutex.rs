//! [`Mutex`] and [`Condvar`]: for tasks on any thread and scheduler, and plain threads.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use corio_aio::EventSource;
use corio_aio::op::Wait;

use super::waiters::{WaitQueue, lock};
use crate::task::check_canceled;

/// A mutual exclusion lock for tasks on any thread and scheduler, and plain threads.
///
/// A task waiting for the lock waits on an [`EventSource`] through [`crate::io`], so the
/// other tasks of its scheduler run meanwhile; a plain thread blocks.
pub struct Mutex<T: ?Sized> {
    locked: AtomicBool,
    waiters: AtomicUsize,
    source: EventSource,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one holder at a time (the `locked` flag,
// taken with acquire and released with release ordering), which may be on any thread: the
// requirements of `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value` (creates an OS event source).
    pub fn new(value: T) -> io::Result<Mutex<T>> {
        Ok(Mutex {
            locked: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            source: EventSource::new()?,
            value: UnsafeCell::new(value),
        })
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock if it is free.
    #[must_use = "if unused the Mutex unlocks at once"]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            // `then`, not `then_some`: a guard built eagerly would unlock when dropped.
            .then(|| MutexGuard { mutex: self, _not_send: PhantomData })
    }

    /// Takes the lock, waiting while another holder has it: parks the task, or blocks the
    /// thread outside a task. In a canceled task it fails canceled (even if the lock is free),
    /// so a canceled task cannot enter a new critical section.
    pub fn lock(&self) -> io::Result<MutexGuard<'_, T>> {
        check_canceled()?;
        loop {
            if let Some(guard) = self.try_lock() {
                return Ok(guard);
            }
            // Register before the second try: an unlock after it sees the waiter and notifies;
            // an unlock before it makes the second try succeed.
            self.waiters.fetch_add(1, Ordering::SeqCst);
            if let Some(guard) = self.try_lock() {
                self.waiters.fetch_sub(1, Ordering::SeqCst);
                return Ok(guard);
            }
            let waited = crate::io::single(Wait::new(&self.source));
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            waited?;
        }
    }

    /// The value, through exclusive access to the mutex.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn unlock(&self) {
        self.locked.store(false, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0
            && let Err(e) = self.source.notify()
        {
            log::error!("corio: cannot wake a Mutex waiter: {e}");
        }
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("locked", &self.locked.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// Access to a [`Mutex`]'s value; unlocks when dropped.
#[must_use = "if unused the Mutex unlocks at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the value exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so no other reference to the value exists.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A condition variable for a [`Mutex`]: tasks (of any thread and scheduler) and plain threads
/// wait for a condition on the mutex's value; another holder changes it and notifies.
///
/// Waiters are woken first come, first served, each by its own
/// [`EventSource`] (see [`Channel`](super::Channel) for how a task
/// parks and a thread blocks). As with [`std::sync::Condvar`], check the condition in a loop
/// ([`wait_while`](Condvar::wait_while) does): a wake-up a canceled waiter passed on may reach
/// a waiter whose condition does not hold.
///
/// # Cancellation
///
/// A canceled task's [`wait`](Condvar::wait) fails [canceled](corio_aio::is_canceled) **with
/// the mutex unlocked** (the guard was consumed and is not given back): a canceled task
/// enters no new critical section, as with [`Mutex::lock`]. A notification that reached it is
/// passed on to the next waiter.
///
/// ```
/// use std::sync::Arc;
/// use corio_coro::{Scheduler, RunMode, sync::{Condvar, Mutex}};
///
/// let pair = Arc::new((Mutex::new(false)?, Condvar::new()));
/// let scheduler = Scheduler::new()?;
/// let p = pair.clone();
/// let waiter = scheduler.spawn(move || {
///     let (ready, condvar) = &*p;
///     let guard = condvar.wait_while(ready.lock()?, |ready| !*ready)?;
///     std::io::Result::Ok(*guard)
/// });
/// let (ready, condvar) = &*pair;
/// *ready.lock()? = true;
/// condvar.notify_one();
/// scheduler.run(RunMode::Wait)?;
/// assert!(waiter.join()?);
/// # std::io::Result::Ok(())
/// ```
#[derive(Default)]
pub struct Condvar {
    waiters: std::sync::Mutex<WaitQueue>,
}

impl Condvar {
    /// A condition variable with no waiter.
    #[must_use]
    pub fn new() -> Condvar {
        Condvar::default()
    }

    /// Unlocks `guard`'s mutex and waits until notified, then locks it again and returns the
    /// new guard. The waiter is registered before the mutex is unlocked, so a notification
    /// sent by the next holder is not missed.
    ///
    /// Fails, with the mutex **unlocked**, if the task is (or gets) canceled, or if the wait
    /// cannot be queued (see [Cancellation](Condvar#cancellation)).
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> io::Result<MutexGuard<'a, T>> {
        check_canceled()?;
        let mutex = guard.mutex;
        let ticket = lock(&self.waiters).register()?;
        drop(guard);
        let (waiters, waited) = ticket.wait(&self.waiters, |q| q);
        drop(waiters);
        waited?;
        mutex.lock().inspect_err(|_| {
            // Canceled after the notification reached us: pass it on.
            self.notify_one();
        })
    }

    /// Waits (as [`wait`](Condvar::wait) does) while `condition` holds for the value.
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> io::Result<MutexGuard<'a, T>> {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Wakes the longest waiting waiter, if any.
    pub fn notify_one(&self) {
        lock(&self.waiters).wake_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        lock(&self.waiters).wake_all();
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
