//! Tasks: the per-task state the scheduler keeps, the [`Task`] handle, and the calls a task
//! makes about itself ([`yield_now`], [`set_cancelable`]).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic;
use std::rc::{Rc, Weak};

use corio_aio::{CollectorSink, canceled};
use corosensei::{Coroutine, Yielder};

use crate::scheduler::{self, Inner};
use crate::stack::TaskStack;

/// The coroutine behind a task.
pub(crate) type Co = Coroutine<(), (), (), TaskStack>;

/// What a finished task produced: its value, or the payload of its panic.
pub(crate) type Outcome = Result<Box<dyn Any>, Box<dyn Any + Send>>;

/// Where a task is, as far as the scheduler is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Running (or on the chain of resumes that leads to the running task).
    Running,
    /// Parked until its IO completes; cancelable.
    Io,
    /// Parked until its canceled IO (and the cancel ops) complete; not cancelable.
    IoCancel,
    /// Parked until the scheduler's IO queue has room; cancelable.
    Capacity,
    /// Parked in [`yield_now`]; cancelable.
    Yielded,
    /// Parked on a sync primitive; cancelable.
    Event,
    /// Parked in [`Task::join`] of another task; not cancelable.
    Joining,
    /// Finished (or torn down).
    Complete,
}

impl Status {
    /// Where the task is, for panic messages.
    fn describe(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Io | Status::IoCancel => "parked in IO",
            Status::Capacity => "waiting for room in the IO queue",
            Status::Yielded => "parked in yield_now",
            Status::Event => "parked on a sync primitive",
            Status::Joining => "parked joining another task",
            Status::Complete => "finished",
        }
    }
}

/// The scheduler's record of one task. Shared (`Rc`) by the scheduler's task table (while the
/// task is alive) and by its [`Task`] handle.
pub(crate) struct TaskCore {
    /// Index in the scheduler's task table; valid until the task completes.
    pub(crate) key: Cell<u32>,
    pub(crate) sched: Weak<Inner>,
    /// The coroutine; taken out while it runs, `None` once it finished.
    pub(crate) coroutine: RefCell<Option<Co>>,
    /// The coroutine's yielder (on the task's own stack), set when the body starts.
    pub(crate) yielder: Cell<*const Yielder<(), ()>>,
    pub(crate) status: Cell<Status>,
    /// Counts parks, so that a stale wake-up (queued for an earlier park) is ignored.
    pub(crate) park_seq: Cell<u64>,
    pub(crate) canceled: Cell<bool>,
    pub(crate) cancelable: Cell<bool>,
    pub(crate) yield_state: Cell<u8>,
    /// Ops of the current IO call (and cancel ops) not yet completed.
    pub(crate) pending: Cell<usize>,
    /// Where a parked IO call's completions go: its `Collector` on the task's stack.
    pub(crate) sink: Cell<Option<CollectorSink>>,
    /// The task parked in `join` of this one.
    pub(crate) joiner: RefCell<Option<Rc<TaskCore>>>,
    pub(crate) detached: Cell<bool>,
    /// Set while the scheduler force-unwinds the task: its panic payload must propagate.
    pub(crate) unwinding: Cell<bool>,
    pub(crate) outcome: RefCell<Option<Outcome>>,
}

impl TaskCore {
    pub(crate) fn new(sched: Weak<Inner>) -> TaskCore {
        TaskCore {
            key: Cell::new(u32::MAX),
            sched,
            coroutine: RefCell::new(None),
            yielder: Cell::new(std::ptr::null()),
            status: Cell::new(Status::Running),
            park_seq: Cell::new(0),
            canceled: Cell::new(false),
            cancelable: Cell::new(true),
            yield_state: Cell::new(0),
            pending: Cell::new(0),
            sink: Cell::new(None),
            joiner: RefCell::new(None),
            detached: Cell::new(false),
            unwinding: Cell::new(false),
            outcome: RefCell::new(None),
        }
    }

    /// The scheduler; it outlives every running task (tasks only run inside its calls).
    pub(crate) fn scheduler(&self) -> Rc<Inner> {
        self.sched.upgrade().expect("a running task outlives its scheduler")
    }

    /// Suspends the running task (which must be `self`) in `status` until resumed.
    pub(crate) fn park(&self, status: Status) {
        debug_assert!(std::ptr::eq(scheduler::current_ptr(), self), "park of a task that is not running");
        self.status.set(status);
        self.park_seq.set(self.park_seq.get() + 1);
        let yielder = self.yielder.get();
        // SAFETY: `yielder` was set by the task's body from the `&Yielder` corosensei passed
        // it; it lives on the task's own stack, which is the stack we are running on, so it
        // is valid for the whole call.
        unsafe { (*yielder).suspend(()) };
        self.status.set(Status::Running);
    }

    /// Whether cancellation may interrupt the task where it is parked.
    fn interruptible(&self) -> bool {
        matches!(self.status.get(), Status::Io | Status::Capacity | Status::Yielded | Status::Event)
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.status.get() == Status::Complete
    }

    /// Requests cancellation; resumes the task at once if it is parked interruptibly.
    pub(crate) fn cancel(self: &Rc<Self>) {
        if self.is_complete() || !self.cancelable.get() || self.canceled.get() {
            return;
        }
        self.canceled.set(true);
        if self.interruptible() {
            scheduler::resume(self);
        }
    }

    /// Waits until the task completes: parks the current task, or ticks the scheduler.
    pub(crate) fn wait(self: &Rc<Self>) {
        if self.is_complete() {
            return;
        }
        match scheduler::current() {
            Some(me) => {
                assert!(!Rc::ptr_eq(&me, self), "a task cannot join itself");
                let previous = self.joiner.replace(Some(me.clone()));
                assert!(previous.is_none(), "a task can be joined by one task at a time");
                while !self.is_complete() {
                    me.park(Status::Joining);
                }
            }
            None => {
                let sched = self.sched.upgrade();
                while !self.is_complete() {
                    let Some(sched) = &sched else { break };
                    if let Err(e) = sched.tick(corio_aio::Mode::Blocking) {
                        panic!("scheduler failed while joining a task: {e}");
                    }
                    if !self.is_complete() && sched.stuck() {
                        panic!("deadlock: joined task can never complete (no IO in flight, nothing to wake it)");
                    }
                }
            }
        }
    }

    pub(crate) fn take_outcome(&self) -> Outcome {
        self.outcome.borrow_mut().take().unwrap_or_else(|| Err(Box::new("task torn down with its scheduler")))
    }
}

impl Drop for TaskCore {
    fn drop(&mut self) {
        // Only the scheduler unwinds suspended coroutines (`Inner::force_unwind`, after their IO
        // drained). A core dropped some other way (a scheduler teardown cut short by a panic)
        // leaks its suspended coroutine: corosensei's drop would unwind it here, outside that
        // control, while the kernel may still use its stack. Leaking is safe.
        if let Some(coroutine) = self.coroutine.get_mut().take() {
            std::mem::forget(coroutine);
        }
    }
}

/// A handle to a spawned task that produces a `T`.
///
/// Dropping the handle detaches the task (it keeps running; its result is dropped).
pub struct Task<T> {
    core: Option<Rc<TaskCore>>,
    _result: PhantomData<fn() -> T>,
}

impl<T: 'static> Task<T> {
    pub(crate) fn new(core: Rc<TaskCore>) -> Task<T> {
        Task { core: Some(core), _result: PhantomData }
    }

    /// The task's core, consuming the handle without detaching the task.
    pub(crate) fn into_core(mut self) -> Rc<TaskCore> {
        self.core.take().expect("a task handle holds its task until consumed")
    }

    fn core(&self) -> &Rc<TaskCore> {
        self.core.as_ref().expect("a task handle holds its task until consumed")
    }

    /// Whether the task has finished (returned or panicked).
    pub fn is_complete(&self) -> bool {
        self.core().is_complete()
    }

    /// Waits for the task and returns its value; if it panicked, resumes the panic here.
    ///
    /// From inside a task this parks the calling task until the target finishes; from outside
    /// it ticks the scheduler until then (panicking on a deadlock: the target is parked with
    /// nothing in flight that could wake it).
    pub fn join(mut self) -> T {
        let core = self.core.take().expect("a task handle holds its task until consumed");
        core.wait();
        match core.take_outcome() {
            Ok(value) => *value.downcast::<T>().expect("a task's value has the task's type"),
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// Requests cancellation (see [`crate`]'s docs on cancellation) without waiting.
    ///
    /// A task parked in IO, in [`yield_now`] or on a sync primitive is resumed at once and
    /// sees a [canceled](corio_aio::is_canceled) error there (IO first waits until its ops
    /// are canceled); every later IO call fails likewise. A task that made itself
    /// uncancelable ([`set_cancelable`]) ignores the request.
    pub fn cancel(&self) {
        self.core().cancel();
    }

    /// Cancels the task, then [`join`](Task::join)s it.
    pub fn cancel_and_join(self) -> T {
        self.cancel();
        self.join()
    }

    /// Lets the task run on without a handle; the scheduler drops its result when it ends.
    pub fn detach(self) {}

    /// The state the task passed to [`yield_now`], if it is parked there.
    pub fn state<S: YieldState>(&self) -> Option<S> {
        let core = self.core();
        (core.status.get() == Status::Yielded).then(|| S::from_u8(core.yield_state.get()))
    }

    /// Resumes the task, which must be parked in [`yield_now`]; it runs until it parks again
    /// (or finishes) before `wakeup` returns.
    ///
    /// Only a park the task's own code asked for can be ended this way: a task parked in IO,
    /// on a sync primitive or in a join is waiting for something that has not happened, and
    /// resuming it early would break that wait. Use [`state`](Task::state) to check first, or
    /// [`wakeup_if`](Task::wakeup_if), which never panics.
    ///
    /// # Panics
    ///
    /// If the task is not parked in [`yield_now`]: it is running, parked elsewhere (IO, a
    /// sync primitive, a join, waiting for IO queue room) or finished.
    pub fn wakeup(&self) {
        let core = self.core();
        let status = core.status.get();
        assert!(
            status == Status::Yielded,
            "Task::wakeup on a task that is not parked in yield_now (it is {}); \
             use Task::wakeup_if or check Task::state first",
            status.describe()
        );
        scheduler::resume(core);
    }

    /// Resumes the task if it is parked in [`yield_now`] with `state`; returns whether it was.
    /// The non-panicking, conditional form of [`wakeup`](Task::wakeup).
    pub fn wakeup_if<S: YieldState>(&self, state: S) -> bool {
        let core = self.core();
        if core.status.get() != Status::Yielded || core.yield_state.get() != state.to_u8() {
            return false;
        }
        scheduler::resume(core);
        true
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            core.detached.set(true);
            if core.is_complete() {
                // Drop the result here rather than keep it alive.
                drop(core.outcome.borrow_mut().take());
            }
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Task");
        if let Some(core) = &self.core {
            d.field("status", &core.status.get()).field("canceled", &core.canceled.get());
        }
        d.finish()
    }
}

/// A state a task reports while parked in [`yield_now`]: a small `Copy` value that converts
/// to and from a non-zero `u8` (0 is reserved for "not yielded").
///
/// ```
/// use corio_coro::YieldState;
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// enum Phase { Idle = 1, Busy = 2 }
/// impl YieldState for Phase {
///     fn to_u8(self) -> u8 { self as u8 }
///     fn from_u8(v: u8) -> Self { if v == 1 { Phase::Idle } else { Phase::Busy } }
/// }
/// ```
pub trait YieldState: Copy {
    /// The state as a non-zero byte.
    fn to_u8(self) -> u8;
    /// The state back from [`to_u8`](YieldState::to_u8)'s byte.
    fn from_u8(value: u8) -> Self;
}

impl YieldState for u8 {
    fn to_u8(self) -> u8 {
        self
    }
    fn from_u8(value: u8) -> u8 {
        value
    }
}

/// Parks the current task with `state` until [`Task::wakeup`] (or
/// [`wakeup_if`](Task::wakeup_if) with this state) resumes it.
///
/// Fails [canceled](corio_aio::is_canceled) if the task is or gets canceled.
///
/// # Panics
///
/// Outside a task, or if `state` converts to 0.
pub fn yield_now<S: YieldState>(state: S) -> io::Result<()> {
    let me = scheduler::current().expect("yield_now called outside a task");
    let value = state.to_u8();
    assert_ne!(value, 0, "yield state 0 is reserved");
    if me.canceled.get() {
        return Err(canceled());
    }
    me.yield_state.set(value);
    me.park(Status::Yielded);
    me.yield_state.set(0);
    if me.canceled.get() { Err(canceled()) } else { Ok(()) }
}

/// Makes the current task (un)cancelable. Fails [canceled](corio_aio::is_canceled), changing
/// nothing, if the task was canceled already.
///
/// # Panics
///
/// Outside a task.
pub fn set_cancelable(cancelable: bool) -> io::Result<()> {
    let me = scheduler::current().expect("set_cancelable called outside a task");
    if me.canceled.get() {
        return Err(canceled());
    }
    me.cancelable.set(cancelable);
    Ok(())
}

/// Fails [canceled](corio_aio::is_canceled) if the current code runs in a canceled task.
pub(crate) fn check_canceled() -> io::Result<()> {
    match scheduler::current() {
        Some(me) if me.canceled.get() => Err(canceled()),
        _ => Ok(()),
    }
}

/// Whether the current code runs inside a task.
pub fn in_task() -> bool {
    scheduler::current().is_some()
}
