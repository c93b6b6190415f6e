//! Synchronisation between tasks: [`ResetEvent`] and [`Semaphore`] (tasks of one thread), and
//! [`Mutex`], [`RwLock`] and the channel [`Queue`] (tasks of any scheduler and plain threads).
//!
//! Waiting parks the task, letting the others run; a canceled task stops waiting with a
//! [canceled](corio_aio::is_canceled) error. [`ResetEvent`] and [`Semaphore`] are `!Send`
//! (share them between tasks with an `Rc`); [`Mutex`], [`RwLock`] and [`Queue`] are `Sync`
//! (share them with an `Arc`).
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

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use corio_aio::op::Wait;
use corio_aio::{EventSource, canceled};

use crate::scheduler::current;
use crate::task::{Status, TaskCore, check_canceled};

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
    pub fn new(permits: usize) -> Semaphore {
        Semaphore { permits: Cell::new(permits), waiters: RefCell::default() }
    }

    /// Permits available now.
    pub fn available(&self) -> usize {
        self.permits.get()
    }

    /// Takes a permit if one is available.
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

/// A first-in, first-out queue for tasks on any thread and scheduler, and plain threads:
/// every item sent goes to exactly one receiver.
///
/// Receiving parks the task (or blocks a plain thread) while the queue is empty; an
/// [`EventSource`] counts the items, so a receiver waits through [`crate::io`].
pub struct Queue<T> {
    items: std::sync::Mutex<VecDeque<T>>,
    available: EventSource,
}

impl<T> Queue<T> {
    /// An empty queue (creates an OS event source).
    pub fn new() -> io::Result<Queue<T>> {
        Ok(Queue { items: std::sync::Mutex::default(), available: EventSource::new()? })
    }

    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        // A panic while the lock was held cannot leave the deque inconsistent.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an item and wakes one receiver.
    pub fn send(&self, item: T) -> io::Result<()> {
        self.items().push_back(item);
        self.available.notify()
    }

    /// Takes the oldest item, waiting while there is none: parks the task (fails canceled if
    /// it is canceled), or blocks the thread outside a task.
    pub fn recv(&self) -> io::Result<T> {
        crate::io::single(Wait::new(&self.available))?;
        Ok(self.items().pop_front().expect("one unit per queued item"))
    }

    /// Takes the oldest item if there is one.
    pub fn try_recv(&self) -> io::Result<Option<T>> {
        if !self.available.try_wait()? {
            return Ok(None);
        }
        Ok(Some(self.items().pop_front().expect("one unit per queued item")))
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.items().len()
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("len", &self.len()).finish()
    }
}

/// A reader-writer lock for tasks on any thread and scheduler, and plain threads: many
/// readers or one writer. Waiting works as for [`Mutex`] (an unlock wakes every waiter, which
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
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            // `then`, not `then_some`: a guard built eagerly would unlock when dropped.
            .then(|| RwLockWriteGuard { lock: self, _not_send: PhantomData })
    }

    /// Takes a shared lock, waiting while a writer holds it (see [`Mutex::lock`] for how it
    /// waits and for cancellation).
    pub fn read(&self) -> io::Result<RwLockReadGuard<'_, T>> {
        self.wait_for(Self::try_read)
    }

    /// Takes the exclusive lock, waiting while anyone holds it (see [`Mutex::lock`] for how it
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

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        if self.lock.state.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.lock.wake_all();
        }
    }
}

/// Exclusive access to an [`RwLock`]'s value; unlocks when dropped.
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

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.state.store(0, Ordering::SeqCst);
        self.lock.wake_all();
    }
}
