//! The [`Scheduler`]: runs tasks on one thread and drives their IO through one [`Dynamic`].
//!
//! # How IO flows
//!
//! A task's IO call ([`crate::io`]) queues its batch into the scheduler's `Dynamic` with
//! user data `(task key + 1) << 32 | op index` and parks the task. The ops reach the kernel at
//! the [`tick`](Scheduler::tick)'s reaping pass, or earlier, in batches of `SUBMIT_BATCH`,
//! while a long pass (or a burst of spawns) is still resuming tasks (`tick.rs`). A completion
//! is routed by its user data to the parked call's `Collector` on the task's stack; when the
//! last op of the call completes, the task is made ready (behind the tasks already ready: the
//! ready queue is FIFO) and resumed in the same tick.
//!
//! # Soundness
//!
//! Ops queued by a task point into memory the task borrowed: its own stack (where its buffers
//! and the per-call `Collector` live) or anything else it could borrow. They are queued with
//! `queue_tagged_unchecked` (one of corio-aio's hooks for runtimes, `corio_aio::__private`), whose contract is that this memory stays valid and
//! unmoved until each op's completion is reaped. The argument:
//!
//! * An IO call does not return before every op it queued has completed: a cancel request
//!   only makes it queue `Cancel` ops and keep waiting (uncancelably) for *all* completions,
//!   and only then report Canceled. So the caller's borrows outlive the ops, exactly as with
//!   the blocking immediate API.
//! * The call cannot unwind early either: the only unwinding that reaches a parked task is a
//!   forced unwind (`Inner::force_unwind`), and it is only done to a task with no op in
//!   flight — at teardown after the `Dynamic` was dropped (its drop cancels and waits for
//!   every op), or by [`Scheduler::scope`] once no op is in flight anywhere. `force_unwind`
//!   aborts if the task still has ops pending, and so does a guard in the IO call if anything
//!   else unwinds through it with ops in flight. A task's core dropped in any other way leaks
//!   its suspended coroutine rather than let corosensei unwind it.
//! * A task's stack belongs to the scheduler — a pooled one, or a caller's
//!   [`Stack`](crate::stack::Stack), which is handed over by value (never borrowed: a borrow
//!   would end when a forgotten scheduler leaks the task, see [`crate::stack`]). It is
//!   returned to the pool (or, for a caller's stack, unmapped) only when the task
//!   has finished — and a finished task has no op in flight, by the first point — or after a
//!   forced unwind, by the second. Task keys are reused only after the task finished, so
//!   routing by key never reaches the wrong task.
//! * Dropping a `Scheduler` with live tasks cancels them and runs until no op is in flight
//!   (or drops the `Dynamic`, which drains), then force-unwinds what is left. Forgetting a
//!   `Scheduler` leaks its `Dynamic`, its tasks and their stacks: memory the kernel may still
//!   write is never freed, so that is safe.
//! * The scheduler is `!Send`, tasks run only on its thread, and corosensei's coroutines are
//!   `!Send`: a task never migrates between threads.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use corio_aio::__private::RuntimeExt;
use corio_aio::op::{Cancel, OpExt};
use corio_aio::{Dynamic, Id, Mode};
use corosensei::CoroutineResult;

use crate::slab::Slab;
use crate::stack::{StackPools, TaskStack};
use crate::task::{self, Co, Status, TaskCore, current_ptr};

/// The op index in user data that marks a `Cancel` op queued by a canceled IO call.
pub(crate) const CANCEL_INDEX: u32 = u32::MAX;

/// How many ops the tasks resumed in a row may queue before the scheduler submits them (see
/// `tick.rs`): few enough that the kernel starts on a long pass's IO early, enough that the
/// submission's syscall is a small part of the pass (a resume and its op cost about a
/// microsecond; an `io_uring_enter`, about as much).
pub(crate) const SUBMIT_BATCH: u64 = 128;

/// The user data tag of a task's ops: its key + 1 in the high half (0 is never a task).
pub(crate) fn tag(key: u32) -> u64 {
    (u64::from(key) + 1) << 32
}

// The scheduler's settings.
mod options;
pub use options::{Options, RunMode};

// Counting what the scheduler does.
mod metrics;
pub(crate) use metrics::Counters;
pub use metrics::{KindMetrics, Metrics};

// Listing what the tasks wait on.
mod dump;

// Delivering completions to tasks.
mod route;

// One pass: run ready tasks, submit, reap, wake; the loop of passes.
mod tick;

// Multishot ops owned by handles (listeners' iterators, buffered readers).
pub(crate) mod multishot;

/// The scheduler's state, shared with its tasks (which hold a `Weak`).
pub(crate) struct Inner {
    io: RefCell<Option<Dynamic<'static>>>,
    /// Capacity kept free for `Cancel` ops.
    pub(crate) reserve: usize,
    tasks: RefCell<Slab>,
    /// Tasks to resume, with the park they were woken from.
    ready: RefCell<VecDeque<(Rc<TaskCore>, u64)>>,
    /// Tasks waiting for room in the IO queue.
    capacity_waiters: RefCell<VecDeque<(Rc<TaskCore>, u64)>>,
    pub(crate) stacks: RefCell<StackPools>,
    /// New tasks start canceled (set by `run(Cancel)` and teardown).
    canceling: Cell<bool>,
    /// Ops of futures (`crate::future`), which outlive the poll that queued them. After `io`:
    /// fields drop in order, so the `Dynamic` has drained before their buffers are freed.
    pub(crate) reactor: crate::future::Reactor,
    /// Multishot ops and their queues (`multishot.rs`); after `io`, like the reactor.
    pub(crate) multishot: multishot::Multishot,
    /// The next task's id (the scheduler's number in the high 24 bits).
    next_id: Cell<u64>,
    pub(crate) counters: Counters,
    /// When the current (or last) pass started, or the scheduler was made: a task parking now
    /// parked about then (no clock is read per park; a task spawned between passes is dated
    /// to the last one).
    pass_start: Cell<Option<std::time::Instant>>,
    /// The count of ops queued (`counters.ops_queued + cancels_queued`) when a reaping pass
    /// last submitted: the difference is what waits for the next submission.
    submitted: Cell<u64>,
    /// A pass (or a submission outside one) is running: a spawn from code it calls (a
    /// detached task's outcome dropped, say) leaves its ops to it.
    in_pass: Cell<bool>,
}

/// Numbers schedulers, for task ids unique in the process.
static SCHEDULERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Inner {
    /// The IO queue; fails once the scheduler is being torn down.
    pub(crate) fn io(&self) -> io::Result<RefMut<'_, Dynamic<'static>>> {
        RefMut::filter_map(self.io.borrow_mut(), Option::as_mut)
            .map_err(|_| io::Error::other("the scheduler is shutting down"))
    }

    /// The IO queue, unless it is borrowed (the caller runs inside a reaping pass) or the
    /// scheduler is being torn down.
    pub(crate) fn try_io(&self) -> Result<RefMut<'_, Dynamic<'static>>, ()> {
        let io = self.io.try_borrow_mut().map_err(drop)?;
        RefMut::filter_map(io, Option::as_mut).map_err(drop)
    }

    /// Starts a task running `f` on `stack` (a caller's own), else on a pooled stack of
    /// `stack_size` (the scheduler's default if `None`), named `name`; it runs until it first
    /// parks. The [`Task`](crate::Task) handle is made by the caller (`spawn.rs`, `scope.rs`).
    pub(crate) fn spawn<F, T>(
        self: &Rc<Self>,
        stack: Option<TaskStack>,
        stack_size: Option<usize>,
        name: Option<Box<str>>,
        f: F,
    ) -> io::Result<Rc<TaskCore>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        if self.io.borrow().is_none() {
            return Err(io::Error::other("the scheduler is shutting down"));
        }
        let stack = match stack {
            Some(stack) => stack,
            None => self.stacks.borrow_mut().take(stack_size)?,
        };
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        Counters::add(&self.counters.tasks_spawned, 1);
        let core = Rc::new(TaskCore::new(Rc::downgrade(self), id, name));
        core.canceled.set(self.canceling.get());
        let coroutine = Co::with_stack(stack, move |yielder, ()| {
            // SAFETY: `resume` starts the coroutine inside `task::enter`, which made this task's
            // core (borrowed for the whole call) current.
            let me = unsafe { &*current_ptr() };
            me.yielder.set(yielder);
            let outcome = panic::catch_unwind(AssertUnwindSafe(f));
            // SAFETY: as above; CURRENT is this task again whenever its body runs.
            let me = unsafe { &*current_ptr() };
            match outcome {
                // A teardown's forced unwind must reach corosensei.
                Err(payload) if me.unwinding.get() => panic::resume_unwind(payload),
                outcome => *me.outcome.borrow_mut() = Some(outcome.map(|v| Box::new(v) as _)),
            }
        });
        core.key.set(self.tasks.borrow_mut().insert(core.clone()));
        *core.coroutine.borrow_mut() = Some(coroutine);
        core.status.set(Status::Yielded);
        resume(&core);
        self.submit_if_due();
        Ok(core)
    }

    /// Makes a parked task ready, to be resumed by the next tick's ready pass.
    pub(crate) fn wake(&self, task: &Rc<TaskCore>) {
        self.ready.borrow_mut().push_back((task.clone(), task.park_seq.get()));
    }

    /// Makes the running task `task` ready as soon as it parks next (a yield).
    pub(crate) fn wake_after_park(&self, task: &Rc<TaskCore>) {
        self.ready.borrow_mut().push_back((task.clone(), task.park_seq.get() + 1));
    }

    /// Makes room for `n` more ops (plus the reserve) by growing the IO queue; `false` if the
    /// backend cannot grow (IOCP).
    fn grow_io(&self, n: usize) -> bool {
        let Ok(mut io) = self.io() else { return false };
        let wanted = io.in_flight() + n + self.reserve;
        io.grow(wanted).is_ok()
    }

    /// The IO queue, with room for `n` ops (plus the reserve): [`reserve_capacity`] in one
    /// borrow of the queue when it already has the room (each IO call of a task, so the common
    /// case checks and queues under the same borrow instead of borrowing twice). The room stays
    /// as long as the borrow does: nothing else can queue meanwhile.
    ///
    /// [`reserve_capacity`]: Inner::reserve_capacity
    pub(crate) fn io_with_room(
        &self,
        task: &Rc<TaskCore>,
        n: usize,
        cancelable: bool,
    ) -> io::Result<RefMut<'_, Dynamic<'static>>> {
        {
            let io = self.io()?;
            if io.capacity() - io.in_flight() >= n + self.reserve {
                return Ok(io);
            }
        }
        self.reserve_capacity(task, n, cancelable)?;
        self.io()
    }

    /// Makes sure the IO queue has room for `n` ops (plus the reserve): grows it, or where it
    /// cannot grow, parks the running task `task` until there is room. With `cancelable`, fails
    /// Canceled if the task gets canceled meanwhile.
    pub(crate) fn reserve_capacity(&self, task: &Rc<TaskCore>, n: usize, cancelable: bool) -> io::Result<()> {
        loop {
            let (capacity, free) = {
                let io = self.io()?;
                (io.capacity(), io.capacity() - io.in_flight())
            };
            if free >= n + self.reserve {
                return Ok(());
            }
            if self.grow_io(n) {
                continue;
            }
            if n + self.reserve > capacity {
                return Err(io::Error::new(
                    io::ErrorKind::QuotaExceeded,
                    format!("batch of {n} ops exceeds the scheduler's IO capacity ({})", capacity - self.reserve),
                ));
            }
            self.capacity_waiters.borrow_mut().push_back((task.clone(), task.park_seq.get() + 1));
            task.park(if cancelable { Status::Capacity } else { Status::IoCancel });
            if cancelable && task.canceled.get() {
                return Err(corio_aio::canceled());
            }
        }
    }

    /// Queues a `Cancel` for each op of `task` still in flight (the running task, in an IO
    /// call whose ops are `ids`, or unknown if `None`: then every op in flight is looked at),
    /// counting them as pending; parks for room if the queue is full and cannot grow.
    pub(crate) fn cancel_ops(&self, task: &Rc<TaskCore>, ids: Option<&[Id]>) {
        let tag = tag(task.key.get());
        let mut targets: Vec<Id> = match (self.io(), ids) {
            // Only the call's own ops: at 100,000 tasks, scanning every op in flight for each
            // canceled task would make canceling them all quadratic.
            (Ok(io), Some(ids)) => ids.iter().copied().filter(|&id| io.is_in_flight(id)).collect(),
            (Ok(io), None) => io
                .in_flight_ops()
                .filter(|&(_, ud)| ud >> 32 == tag >> 32 && ud as u32 != CANCEL_INDEX)
                .map(|(id, _)| id)
                .collect(),
            (Err(_), _) => return,
        };
        while let Some(&id) = targets.last() {
            if task.pending.get() == 0 {
                return;
            }
            let queued = match self.io() {
                Ok(mut io) => {
                    let cancel = io.queue(Cancel::new(id).user_data(tag | u64::from(CANCEL_INDEX)));
                    if cancel.is_ok() {
                        self.counters.canceled_kind(&io, id);
                    }
                    cancel
                }
                Err(_) => return,
            };
            match queued {
                Ok(_) => {
                    Counters::add(&self.counters.cancels_queued, 1);
                    task.pending.set(task.pending.get() + 1);
                    targets.pop();
                }
                Err(e) if e.kind() == io::ErrorKind::QuotaExceeded && self.grow_io(1) => {}
                Err(e) if e.kind() == io::ErrorKind::QuotaExceeded => {
                    self.capacity_waiters.borrow_mut().push_back((task.clone(), task.park_seq.get() + 1));
                    task.park(Status::IoCancel);
                }
                Err(e) => {
                    // Returning would let the task free memory its ops still use.
                    eprintln!("corio: cannot cancel a task's IO ({e}); aborting to stay memory safe");
                    std::process::abort();
                }
            }
        }
    }

    /// Unwinds a parked task's stack (running the destructors on it) and retires the task, as
    /// finished without an outcome. Only for a task with no op in flight.
    pub(crate) fn force_unwind(&self, task: &Rc<TaskCore>) {
        if task.pending.get() > 0 {
            eprintln!("corio: cannot unwind a task with IO in flight; aborting to stay memory safe");
            std::process::abort();
        }
        task.canceled.set(true);
        task.unwinding.set(true);
        let coroutine = task.coroutine.borrow_mut().take();
        if let Some(mut coroutine) = coroutine {
            task.status.set(Status::Running);
            let unwound = task::enter(task, || coroutine.force_unwind());
            if unwound.is_err() {
                log::warn!("a task panicked while being unwound");
            }
            if coroutine.done() {
                self.stacks.borrow_mut().give_back(coroutine.into_stack());
            } else {
                // Cannot happen (corosensei unwinds until the coroutine ends); leaking is safe.
                std::mem::forget(coroutine);
            }
        }
        task.status.set(Status::Complete);
        crate::future::task_finished(self, task);
        Counters::add(&self.counters.tasks_finished, 1);
        self.tasks.borrow_mut().remove(task.key.get());
        if let Some(joiner) = task.joiner.borrow_mut().take() {
            self.wake(&joiner);
        }
    }

    fn cancel_all(&self) {
        let tasks = self.tasks.borrow().live();
        for task in tasks.iter().rev() {
            cancel(task);
        }
    }
}

/// Resumes a parked task until it parks again or finishes.
pub(crate) fn resume(task: &Rc<TaskCore>) {
    // Resumed in place: the coroutine stays in its cell, borrowed for the whole resume (a
    // nested resume of the same task fails the borrow, as it must). Nothing reached from
    // inside the task touches its own cell: `force_unwind` only runs on parked tasks, outside
    // any task.
    let mut cell = task.coroutine.borrow_mut();
    let coroutine = cell.as_mut().expect("resume of a running or finished task");
    task.status.set(Status::Running);
    #[cfg(feature = "tracing")]
    let entered = task.span.enter();
    // The body catches the task's panics; `enter` only catches a failure of our own code.
    let result = task::enter(task, || coroutine.resume(()));
    #[cfg(feature = "tracing")]
    drop(entered);
    if let Some(sched) = task.sched.upgrade() {
        Counters::add(&sched.counters.resumes, 1);
        if let Ok(CoroutineResult::Yield(())) = result {
            Counters::add(&sched.counters.parks, 1);
            task.parked_at.set(sched.pass_start.get());
        }
    }
    match result {
        Ok(CoroutineResult::Yield(())) => {}
        Ok(CoroutineResult::Return(())) => {
            let coroutine = cell.take().expect("the coroutine was in its cell");
            drop(cell);
            finish(task, coroutine);
        }
        Err(payload) => {
            let coroutine = cell.take().expect("the coroutine was in its cell");
            drop(cell);
            *task.outcome.borrow_mut() = Some(Err(payload));
            finish(task, coroutine);
        }
    }
}

/// Records a finished task: its stack goes back to the pool, its key is freed, its joiner is
/// woken.
fn finish(task: &Rc<TaskCore>, coroutine: Co) {
    task.status.set(Status::Complete);
    debug_assert_eq!(task.pending.get(), 0, "a finished task has no IO in flight");
    if let Some(sched) = task.sched.upgrade() {
        crate::future::task_finished(&sched, task);
        Counters::add(&sched.counters.tasks_finished, 1);
        if coroutine.done() {
            sched.stacks.borrow_mut().give_back(coroutine.into_stack());
        }
        sched.tasks.borrow_mut().remove(task.key.get());
        if let Some(joiner) = task.joiner.borrow_mut().take() {
            sched.wake(&joiner);
        }
    }
    if task.detached.get() {
        drop(task.outcome.borrow_mut().take());
    }
}

/// Counts `n` ops queued by a task's IO call.
#[inline]
pub(crate) fn count_queued(inner: &Inner, n: usize) {
    Counters::add(&inner.counters.ops_queued, n as u64);
}

/// Requests cancellation of `task`; resumes it at once if it is parked interruptibly.
pub(crate) fn cancel(task: &Rc<TaskCore>) {
    if task.is_complete() || !task.cancelable.get() || task.canceled.get() {
        return;
    }
    task.canceled.set(true);
    if task.interruptible() {
        resume(task);
    }
}

/// Waits until `task` completes: parks the current task, or outside a task ticks `task`'s
/// scheduler (panicking on a deadlock).
pub(crate) fn wait_for(task: &Rc<TaskCore>) {
    if task.is_complete() {
        return;
    }
    match task::current() {
        Some(me) => {
            assert!(!Rc::ptr_eq(&me, task), "a task cannot join itself");
            let previous = task.joiner.replace(Some(me.clone()));
            assert!(previous.is_none(), "a task can be joined by one task at a time");
            while !task.is_complete() {
                me.park(Status::Joining);
            }
        }
        None => {
            let sched = task.sched.upgrade();
            while !task.is_complete() {
                let Some(sched) = &sched else { break };
                if let Err(e) = sched.tick(Mode::Blocking) {
                    panic!("scheduler failed while joining a task: {e}");
                }
                if !task.is_complete() && sched.stuck() {
                    panic!("deadlock: joined task can never complete (no IO in flight, nothing to wake it)");
                }
            }
        }
    }
}

/// Runs stackful tasks on the current thread over one IO queue.
///
/// ```
/// use corio_coro::{Scheduler, io};
/// use corio_aio::op;
/// use std::time::Duration;
///
/// let scheduler = Scheduler::new()?;
/// let task = scheduler.spawn(|| {
///     io::single(op::Timeout::new(Duration::from_millis(1)))?;
///     std::io::Result::Ok(42)
/// });
/// assert_eq!(task.join()?, 42);
/// # std::io::Result::Ok(())
/// ```
///
/// # Drop
///
/// Dropping a scheduler cancels its live tasks and waits until none has IO in flight; tasks
/// still parked after that are force-unwound (their stacks' destructors run). A canceled task
/// that loops without ever parking (retrying calls that fail canceled at once) keeps the
/// thread, like any endless loop: the drop then never ends. See the
/// [module docs](self) for why this, and forgetting a scheduler, are memory safe.
pub struct Scheduler {
    pub(crate) inner: Rc<Inner>,
}

impl Scheduler {
    /// A scheduler with default [`Options`].
    pub fn new() -> io::Result<Scheduler> {
        Scheduler::with_options(Options::default())
    }

    /// A scheduler with `options`.
    pub fn with_options(options: Options) -> io::Result<Scheduler> {
        if options.io_queue_entries < 2 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a scheduler needs at least 2 IO queue entries"));
        }
        let mut io = match options.backend {
            Some(kind) => Dynamic::with_backend(options.io_queue_entries, kind)?,
            None => Dynamic::new(options.io_queue_entries)?,
        };
        io.set_timer_spin(options.timer_spin);
        let reserve = (io.capacity() / 16).max(1);
        crate::identity::install_panic_note();
        Ok(Scheduler {
            inner: Rc::new(Inner {
                io: RefCell::new(Some(io)),
                reserve,
                tasks: RefCell::default(),
                ready: RefCell::default(),
                capacity_waiters: RefCell::default(),
                stacks: RefCell::new(StackPools::new(options.stack_size, options.max_pooled_stacks)),
                canceling: Cell::new(false),
                reactor: crate::future::Reactor::new(),
                multishot: multishot::Multishot::new(options.recv_buffers, options.recv_buffer_size),
                counters: Counters::default(),
                // Tasks spawned before the first pass park about now.
                pass_start: Cell::new(Some(std::time::Instant::now())),
                submitted: Cell::new(0),
                in_pass: Cell::new(false),
                next_id: Cell::new(((SCHEDULERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1) << 40) + 1),
            }),
        })
    }

    /// Resumes ready tasks, submits queued IO, reaps completions (waiting with
    /// [`Mode::Blocking`] if any op is in flight and no task is ready, until at least one
    /// completion, or as many as every task parked in IO still needs before it can run) and
    /// resumes the tasks whose IO finished. Returns the number of live tasks.
    ///
    /// # Panics
    ///
    /// If called from inside a task.
    pub fn tick(&self, mode: Mode) -> io::Result<usize> {
        self.inner.tick(mode)
    }

    /// Ticks until every task finished ([`RunMode::Wait`]; fails on a deadlock), or cancels
    /// them all first ([`RunMode::Cancel`]).
    pub fn run(&self, mode: RunMode) -> io::Result<()> {
        self.inner.run(mode)
    }

    /// Tasks spawned and not finished.
    #[must_use]
    pub fn live_tasks(&self) -> usize {
        self.inner.tasks.borrow().len
    }

    /// A snapshot of the scheduler's counters (see [`Metrics`]).
    pub fn metrics(&self) -> Metrics {
        self.inner.metrics()
    }

    /// Lists each live task, a line each: its id and name, where it is parked and for about
    /// how long, the ops it has in flight (by the op table's name, with the descriptor each
    /// names, a timeout's duration and when it is due, and the number of each alike) and its
    /// [`timeout`](crate::time::timeout) deadline; the way to find a deadlock or a stuck
    /// client. A header line has the [`metrics`](Scheduler::metrics).
    ///
    /// ```text
    /// scheduler: tasks 2 live (2 spawned, 0 finished); ops 3 in flight (…)
    ///   task 'conn 10.0.0.7' (id 1099511627777): parked in IO for 12.5s on recv fd 9, link_timeout of 14.6s (due in 2.1s) (deadline in 2.1s)
    ///   task 1099511627778: parked on a sync primitive for 3.0s on wait fd 12
    /// ```
    ///
    /// ```
    /// use corio_coro::{Scheduler, SpawnOptions, sleep};
    /// use std::time::Duration;
    ///
    /// let scheduler = Scheduler::new()?;
    /// let _sleeper = scheduler.spawn_with(SpawnOptions::new().name("sleeper"), || sleep(Duration::from_secs(60)));
    /// let dump = scheduler.dump();
    /// assert!(dump.contains("task 'sleeper' (id "), "{dump}");
    /// assert!(dump.contains("parked in IO for "), "{dump}");
    /// assert!(dump.contains(" on timeout"), "{dump}");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn dump(&self) -> String {
        self.inner.dump()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let inner = &self.inner;
        if !current_ptr().is_null() {
            // Dropped by one of its own tasks (or a task of another scheduler): it cannot
            // tick from here. Leak it: its tasks' stacks stay mapped, which is safe.
            log::error!("a Scheduler dropped from inside a task is leaked");
            std::mem::forget(inner.clone());
            return;
        }
        if let Err(e) = inner.run(RunMode::Cancel) {
            log::warn!("scheduler teardown: {e}");
        }
        inner.canceling.set(true);
        // Dropping the Dynamic cancels every op still in flight and waits for all of them:
        // after this, no op points into any task's stack.
        drop(inner.io.borrow_mut().take());
        let tasks = inner.tasks.borrow().live();
        for task in tasks.iter().rev() {
            task.pending.set(0);
            task.sink.set(None);
            inner.force_unwind(task);
        }
        *inner.tasks.borrow_mut() = Slab::default();
        inner.ready.borrow_mut().clear();
        inner.capacity_waiters.borrow_mut().clear();
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("live_tasks", &self.live_tasks())
            .field("io", &self.inner.io.borrow())
            .field("stacks", &self.inner.stacks.borrow())
            .finish()
    }
}
