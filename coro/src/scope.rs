//! Scoped tasks: tasks that borrow from the caller's stack, in the style of
//! [`std::thread::scope`].
//!
//! # Soundness
//!
//! A scoped task's closure may borrow anything that outlives the scope (`'env`), so
//! [`Scheduler::scope`] must not return, nor unwind, while such a task can still run or has
//! IO in flight. It ticks the scheduler until every task spawned in the scope has finished.
//! If the closure panicked, it cancels the scope's tasks first. If no task can make progress
//! any more (nothing ready, no IO in flight anywhere), the scope's remaining tasks are parked
//! for good with no op in flight, so their stacks are unwound on the spot (running their
//! destructors) before `scope` returns. A tick failing (the OS refusing to wait) aborts the
//! process, as returning could free memory in use. The [`Scope`] is owned by `scope`'s frame
//! and only lent out, so it can be neither dropped nor forgotten early; task handles can be
//! forgotten, which changes nothing since the scope tracks its tasks itself.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use corio_aio::Mode;

use crate::scheduler::{self, Inner, Scheduler};
use crate::task::{TaskCore, current_ptr};

/// Spawns tasks that may borrow from the enclosing scope; see [`Scheduler::scope`].
pub struct Scope<'scope, 'env: 'scope> {
    sched: Rc<Inner>,
    tasks: RefCell<Vec<Rc<TaskCore>>>,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

/// A handle to a scoped task producing a `T`.
pub struct ScopedTask<'scope, T> {
    core: Rc<TaskCore>,
    slot: Rc<RefCell<Option<T>>>,
    _scope: PhantomData<&'scope ()>,
}

impl Scheduler {
    /// Runs `f` with a [`Scope`] whose tasks may borrow from the caller; returns once every
    /// task spawned in it has finished (see the [module docs](crate::scope)).
    ///
    /// A panic of `f` is resumed after the scope's tasks were canceled and finished; a panic
    /// of a scoped task that was not joined panics `scope` once all are finished.
    ///
    /// ```
    /// use corio_aio::op;
    /// use corio_coro::{Scheduler, io};
    ///
    /// let scheduler = Scheduler::new()?;
    /// let file = std::fs::File::open("/dev/zero")?;
    /// let mut bufs = [[1u8; 8], [1u8; 8]];
    /// scheduler.scope(|s| {
    ///     for buf in &mut bufs {
    ///         s.spawn(|| io::single(op::Read::new(&file, buf)));
    ///     }
    /// });
    /// assert_eq!(bufs, [[0u8; 8]; 2]);
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Panics
    ///
    /// If called from inside a task (before running `f`).
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        assert!(current_ptr().is_null(), "Scheduler::scope called from inside a task");
        let scope =
            Scope { sched: self.inner.clone(), tasks: RefCell::default(), _scope: PhantomData, _env: PhantomData };
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
        if result.is_err() {
            let tasks = scope.tasks.borrow().clone();
            tasks.iter().for_each(scheduler::cancel);
        }
        scope.finish_all();
        let task_panicked = scope.tasks.borrow().iter().any(|t| matches!(*t.outcome.borrow(), Some(Err(_))));
        match result {
            Err(payload) => panic::resume_unwind(payload),
            Ok(_) if task_panicked => panic!("a scoped task panicked"),
            Ok(value) => value,
        }
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a task that may borrow anything that outlives the scope; it runs at once,
    /// until it first parks.
    ///
    /// # Panics
    ///
    /// If no stack can be allocated.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedTask<'scope, T>
    where
        F: FnOnce() -> T + 'scope,
        T: 'scope,
    {
        let slot = Rc::new(RefCell::new(None));
        let out = slot.clone();
        let job: Box<dyn FnOnce() + 'scope> = Box::new(move || *out.borrow_mut() = Some(f()));
        // SAFETY: only the lifetime is changed. `Scheduler::scope` does not return or unwind
        // before this task finished or was unwound with no op in flight (module docs), and
        // `'scope` ends within that call, so nothing the job borrows is freed while it can run.
        let job: Box<dyn FnOnce() + 'static> =
            unsafe { std::mem::transmute::<Box<dyn FnOnce() + 'scope>, Box<dyn FnOnce() + 'static>>(job) };
        let core = self.sched.spawn(None, None, None, job).unwrap_or_else(|e| panic!("cannot spawn a task: {e}"));
        self.tasks.borrow_mut().push(core.clone());
        ScopedTask { core, slot, _scope: PhantomData }
    }

    /// Ticks until every task of the scope finished; unwinds those that never can. Never
    /// unwinds itself.
    fn finish_all(&self) {
        loop {
            if self.tasks.borrow().iter().all(|t| t.is_complete()) {
                return;
            }
            if let Err(e) = self.sched.tick(Mode::Blocking) {
                eprintln!("corio: scheduler failed with scoped tasks alive ({e}); aborting to stay memory safe");
                std::process::abort();
            }
            if self.sched.stuck() {
                let stuck: Vec<_> = self.tasks.borrow().iter().filter(|t| !t.is_complete()).cloned().collect();
                for task in stuck {
                    self.sched.force_unwind(&task);
                }
            }
        }
    }
}

impl<T> ScopedTask<'_, T> {
    /// Whether the task has finished.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.core.is_complete()
    }

    /// Requests cancellation (see [`Task::cancel`](crate::Task::cancel)).
    pub fn cancel(&self) {
        scheduler::cancel(&self.core);
    }

    /// Waits for the task and returns its value; resumes its panic here.
    pub fn join(self) -> T {
        scheduler::wait_for(&self.core);
        match self.core.take_outcome() {
            Ok(_) => self.slot.borrow_mut().take().expect("a finished scoped task stored its value"),
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("tasks", &self.tasks.borrow().len()).finish()
    }
}

impl<T> fmt::Debug for ScopedTask<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedTask").field("complete", &self.is_complete()).finish()
    }
}
