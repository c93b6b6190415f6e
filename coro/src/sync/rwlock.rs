//! [`RwLock`]: many readers or one writer, for tasks on any thread and scheduler, and plain
//! threads.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use corio_aio::EventSource;
use corio_aio::op::Wait;

use crate::task::check_canceled;

/// A reader-writer lock for tasks on any thread and scheduler, and plain threads: many
/// readers or one writer. Waiting works as for [`Mutex`](super::Mutex) (an unlock wakes every waiter, which
/// retries); there is no preference between readers and writers.
pub struct RwLock<T: ?Sized> {
    /// `WRITER`, or the number of readers.
    state: AtomicUsize,
    waiters: AtomicUsize,
    source: EventSource,
    value: UnsafeCell<T>,
}

const WRITER: usize = usize::MAX;

// SAFETY: readers get shared access from any thread (hence `T: Sync`), a writer exclusive
// access (hence `T: Send`), arbitrated by `state` with acquire/release ordering: the
// requirements of `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value` (creates an OS event source).
    pub fn new(value: T) -> io::Result<RwLock<T>> {
        Ok(RwLock {
            state: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            source: EventSource::new()?,
            value: UnsafeCell::new(value),
        })
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a shared lock if no writer holds it.
    #[must_use = "if unused the RwLock unlocks at once"]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state >= WRITER - 1 {
                return None;
            }
            match self.state.compare_exchange_weak(state, state + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(RwLockReadGuard { lock: self, _not_send: PhantomData }),
                Err(now) => state = now,
            }
        }
    }

    /// Takes the exclusive lock if nobody holds it.
    #[must_use = "if unused the RwLock unlocks at once"]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            // `then`, not `then_some`: a guard built eagerly would unlock when dropped.
            .then(|| RwLockWriteGuard { lock: self, _not_send: PhantomData })
    }

    /// Takes a shared lock, waiting while a writer holds it (see [`Mutex::lock`](super::Mutex::lock) for how it
    /// waits and for cancellation).
    pub fn read(&self) -> io::Result<RwLockReadGuard<'_, T>> {
        self.wait_for(Self::try_read)
    }

    /// Takes the exclusive lock, waiting while anyone holds it (see [`Mutex::lock`](super::Mutex::lock) for how it
    /// waits and for cancellation).
    pub fn write(&self) -> io::Result<RwLockWriteGuard<'_, T>> {
        self.wait_for(Self::try_write)
    }

    fn wait_for<'a, G>(&'a self, try_take: impl Fn(&'a Self) -> Option<G>) -> io::Result<G> {
        check_canceled()?;
        loop {
            if let Some(guard) = try_take(self) {
                return Ok(guard);
            }
            // As in `Mutex::lock`: register, then try again, then wait.
            self.waiters.fetch_add(1, Ordering::SeqCst);
            if let Some(guard) = try_take(self) {
                self.waiters.fetch_sub(1, Ordering::SeqCst);
                return Ok(guard);
            }
            let waited = crate::io::single(Wait::new(&self.source));
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            waited?;
        }
    }

    /// Wakes every registered waiter (each retries; surplus units cause spurious retries).
    fn wake_all(&self) {
        for _ in 0..self.waiters.load(Ordering::SeqCst) {
            if let Err(e) = self.source.notify() {
                log::error!("corio: cannot wake an RwLock waiter: {e}");
                return;
            }
        }
    }

    /// The value, through exclusive access to the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").field("state", &self.state.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s value; unlocks when dropped.
#[must_use = "if unused the RwLock unlocks at once"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard exists only while `state` counts it as a reader, so no writer
        // (and no `&mut`) exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        if self.lock.state.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.lock.wake_all();
        }
    }
}

/// Exclusive access to an [`RwLock`]'s value; unlocks when dropped.
#[must_use = "if unused the RwLock unlocks at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard holds the lock exclusively (`state == WRITER`).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard holds the lock exclusively (`state == WRITER`).
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.state.store(0, Ordering::SeqCst);
        self.lock.wake_all();
    }
}
