//! [`Task`]: the handle a spawn returns, to join, cancel, detach or wake up the task. It sits
//! above the scheduler, which it drives (a join from outside a task ticks it, a wakeup resumes
//! the task at once).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::scheduler;
use crate::task::{Status, TaskCore, YieldState};
// Named in the docs only.
#[cfg(doc)]
use crate::task::{set_cancelable, yield_now};

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

    /// Detaches the task as dropping the handle does, but keeps its core (to cancel it later).
    pub(crate) fn into_core(mut self) -> Rc<TaskCore> {
        let core = self.core.take().expect("a task handle holds its task until consumed");
        core.detached.set(true);
        if core.is_complete() {
            drop(core.outcome.borrow_mut().take());
        }
        core
    }

    fn core(&self) -> &Rc<TaskCore> {
        self.core.as_ref().expect("a task handle holds its task until consumed")
    }

    /// Whether the task has finished (returned or panicked).
    #[must_use]
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
        scheduler::wait_for(&core);
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
        scheduler::cancel(self.core());
    }

    /// Cancels the task, then [`join`](Task::join)s it.
    pub fn cancel_and_join(self) -> T {
        self.cancel();
        self.join()
    }

    /// Lets the task run on without a handle; the scheduler drops its result when it ends.
    pub fn detach(self) {}

    /// The state the task passed to [`yield_now`], if it is parked there.
    #[must_use]
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

/// A task is a future of its value: awaiting it (inside [`block_on`](crate::future::block_on))
/// parks the awaiting future until the task finished; a panic of the task resumes in the
/// poll, as in [`join`](Task::join). Polled outside a task, it joins (blocking the thread).
///
/// ```
/// use corio_coro::{Scheduler, future, spawn};
///
/// let scheduler = Scheduler::new()?;
/// let task = scheduler.spawn(|| {
///     let child = spawn(|| 20);
///     future::block_on(async move { child.await + 1 })
/// });
/// assert_eq!(task.join()?, 21);
/// # std::io::Result::Ok(())
/// ```
impl<T: 'static> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let core = self.core();
        if !core.is_complete() {
            if crate::in_task() {
                if let Some(sched) = core.sched.upgrade() {
                    sched.reactor.await_task(Rc::as_ptr(core) as usize, cx.waker());
                    return Poll::Pending;
                }
            } else {
                scheduler::wait_for(core);
            }
        }
        let core = self.core.take().expect("a task handle holds its task until consumed");
        match core.take_outcome() {
            Ok(value) => Poll::Ready(*value.downcast::<T>().expect("a task's value has the task's type")),
            Err(payload) => panic::resume_unwind(payload),
        }
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
