//! Tasks: the per-task state the scheduler keeps ([`TaskCore`]), which task runs on this
//! thread ([`current`], set only by [`enter`]), parking, and the calls a task makes about
//! itself ([`yield_now`], [`set_cancelable`]).
//!
//! This is the bottom of the task machinery: `scheduler.rs` resumes, wakes and cancels tasks
//! through it, and `handle.rs` ([`Task`](crate::Task)) and `spawn.rs` sit on top of both.
//! Nothing here calls into the scheduler.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::rc::{Rc, Weak};

use corio_aio::__private::CollectorSink;
use corio_aio::canceled;
use corosensei::{Coroutine, Yielder};

// The one edge back up, and only for a type: each task points to its scheduler
// (`TaskCore::sched`) as the scheduler's table points to its tasks. Nothing in this module
// calls the scheduler; the modules above follow the pointer (IO, wake-ups, joins). Cutting the
// edge would take a `dyn` pointer, an indirection on every IO call, or a type parameter on
// `TaskCore` that every module naming it would have to carry, for no change in what runs.
use crate::scheduler::Inner;
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
    /// Parked in [`Task::join`](crate::Task::join) of another task; not cancelable.
    Joining,
    /// Finished (or torn down).
    Complete,
}

impl Status {
    /// Where the task is, for panic messages.
    pub(crate) fn describe(self) -> &'static str {
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

thread_local! {
    /// The task running on this thread, if any: set by [`enter`] for the duration of a resume.
    static CURRENT: Cell<*const TaskCore> = const { Cell::new(ptr::null()) };
}

/// The running task's core, or null outside a task; for callers that only test or borrow it
/// while the task runs.
pub(crate) fn current_ptr() -> *const TaskCore {
    CURRENT.get()
}

/// The running task, if the caller runs inside one.
pub(crate) fn current() -> Option<Rc<TaskCore>> {
    let ptr = CURRENT.get();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: only `enter` sets CURRENT, to `Rc::as_ptr` of the `Rc<TaskCore>` it borrows for
    // the whole time CURRENT holds it (it restores the previous value before returning), so
    // the pointee is a live `Rc` allocation; taking a new strong reference to it is what
    // `Rc::clone` would do.
    unsafe {
        Rc::increment_strong_count(ptr);
        Some(Rc::from_raw(ptr))
    }
}

/// Runs `f` (a resume or unwind of `task`'s coroutine) with `task` as the current task, then
/// makes the previous one (an outer task that resumed this one, or none) current again. A
/// panic out of `f` is caught and returned, so CURRENT is restored on every path.
#[inline]
pub(crate) fn enter<R>(task: &Rc<TaskCore>, f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let previous = CURRENT.replace(Rc::as_ptr(task));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CURRENT.set(previous);
    result
}

/// The scheduler's record of one task. Shared (`Rc`) by the scheduler's task table (while the
/// task is alive) and by its [`Task`](crate::Task) handle.
///
/// Laid out in order (`repr(C)`), what every IO call, completion and resume touches first,
/// next to the `Rc`'s counts, so that with 100,000 tasks (whose records fall out of the
/// caches between two passes) the reap loop and a resume load few cache lines of it.
#[repr(C)]
pub(crate) struct TaskCore {
    pub(crate) status: Cell<Status>,
    pub(crate) canceled: Cell<bool>,
    pub(crate) cancelable: Cell<bool>,
    pub(crate) yield_state: Cell<u8>,
    /// Index in the scheduler's task table; valid until the task completes.
    pub(crate) key: Cell<u32>,
    /// Counts parks, so that a stale wake-up (queued for an earlier park) is ignored.
    pub(crate) park_seq: Cell<u64>,
    /// Ops of the current IO call (and cancel ops) not yet completed.
    pub(crate) pending: Cell<usize>,
    /// Where a parked IO call's completions go: its `Collector` on the task's stack.
    pub(crate) sink: Cell<Option<CollectorSink>>,
    /// The coroutine's yielder (on the task's own stack), set when the body starts.
    pub(crate) yielder: Cell<*const Yielder<(), ()>>,
    pub(crate) sched: Weak<Inner>,
    /// The deadline of the innermost [`timeout`](crate::time::timeout) the task runs in.
    pub(crate) deadline: Cell<Option<std::time::Instant>>,
    /// About when the task last parked: the start of the scheduler pass it parked in (for
    /// `Scheduler::dump`).
    pub(crate) parked_at: Cell<Option<std::time::Instant>>,
    /// The coroutine; taken out while it runs, `None` once it finished.
    pub(crate) coroutine: RefCell<Option<Co>>,
    /// The task's id: unique in the process (the scheduler's number in the high bits).
    pub(crate) id: u64,
    /// The name given at spawn ([`SpawnOptions::name`](crate::SpawnOptions::name)); never
    /// changed, so the stack-overflow handler may read it.
    pub(crate) name: Option<Box<str>>,
    /// The task's span (`task`, with its id and name), entered while it runs.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
    /// The task parked in `join` of this one.
    pub(crate) joiner: RefCell<Option<Rc<TaskCore>>>,
    pub(crate) outcome: RefCell<Option<Outcome>>,
    pub(crate) detached: Cell<bool>,
    /// Set while the scheduler force-unwinds the task: its panic payload must propagate.
    pub(crate) unwinding: Cell<bool>,
}

impl TaskCore {
    pub(crate) fn new(sched: Weak<Inner>, id: u64, name: Option<Box<str>>) -> TaskCore {
        #[cfg(feature = "tracing")]
        let span = tracing::info_span!(target: "corio::task", "task", id, name = name.as_deref());
        TaskCore {
            #[cfg(feature = "tracing")]
            span,
            key: Cell::new(u32::MAX),
            id,
            name,
            deadline: Cell::new(None),
            parked_at: Cell::new(None),
            sched,
            coroutine: RefCell::new(None),
            yielder: Cell::new(ptr::null()),
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
        debug_assert!(ptr::eq(current_ptr(), self), "park of a task that is not running");
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
    pub(crate) fn interruptible(&self) -> bool {
        matches!(self.status.get(), Status::Io | Status::Capacity | Status::Yielded | Status::Event)
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.status.get() == Status::Complete
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

/// Parks the current task with `state` until [`Task::wakeup`](crate::Task::wakeup) (or
/// [`wakeup_if`](crate::Task::wakeup_if) with this state) resumes it.
///
/// Fails [canceled](corio_aio::is_canceled) if the task is or gets canceled.
///
/// # Panics
///
/// Outside a task, or if `state` converts to 0.
pub fn yield_now<S: YieldState>(state: S) -> io::Result<()> {
    let me = current().expect("yield_now called outside a task");
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
    let me = current().expect("set_cancelable called outside a task");
    if me.canceled.get() {
        return Err(canceled());
    }
    me.cancelable.set(cancelable);
    Ok(())
}

/// Fails [canceled](corio_aio::is_canceled) if the current code runs in a canceled task.
pub(crate) fn check_canceled() -> io::Result<()> {
    match current() {
        Some(me) if me.canceled.get() => Err(canceled()),
        _ => Ok(()),
    }
}

/// Whether the current code runs inside a task.
#[must_use]
pub fn in_task() -> bool {
    // Every socket and file call asks: a null check, without taking a reference.
    !CURRENT.get().is_null()
}
