//! Spawning: [`Scheduler::spawn`] and its variants, the free [`spawn`] and [`spawn_with`] for
//! code inside a task, and [`SpawnOptions`] (a chosen stack size or a caller's own [`Stack`]).
//! Above the scheduler, which starts the task, and the [`Task`] handle, which wraps it.

use std::fmt;
use std::io;
use std::rc::Rc;

use crate::handle::Task;
use crate::scheduler::{Inner, Scheduler};
use crate::stack::Stack;
use crate::task;

/// How to spawn a task, builder style; see [`Scheduler::spawn_with`].
///
/// ```
/// use corio_coro::{Scheduler, SpawnOptions};
///
/// let scheduler = Scheduler::new()?;
/// let deep = scheduler.spawn_with(SpawnOptions::new().stack_size(1 << 20), || {
///     std::hint::black_box([1u8; 256 * 1024]).iter().map(|&b| u64::from(b)).sum::<u64>()
/// });
/// assert_eq!(deep.join(), 256 * 1024);
/// # std::io::Result::Ok(())
/// ```
#[derive(Default)]
#[must_use = "options do nothing until passed to `spawn_with`"]
pub struct SpawnOptions {
    pub(crate) stack_size: Option<usize>,
    pub(crate) stack: Option<Stack>,
    pub(crate) name: Option<Box<str>>,
}

impl SpawnOptions {
    /// The defaults: a pooled stack of the scheduler's [`Options::stack_size`](crate::Options::stack_size).
    pub fn new() -> SpawnOptions {
        SpawnOptions::default()
    }

    /// A pooled stack with at least `bytes` usable bytes (rounded up to pages). The scheduler
    /// keeps a pool per size, so stacks of this size are reused by later spawns asking for it.
    pub fn stack_size(mut self, bytes: usize) -> SpawnOptions {
        self.stack_size = Some(bytes);
        self
    }

    /// Names the task: [`current`](crate::current) reports the name, and it appears in the
    /// report of a panic in the task and of its stack overflow, and in
    /// [`Scheduler::dump`].
    pub fn name(mut self, name: impl Into<String>) -> SpawnOptions {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Runs the task on `stack`, which the scheduler owns from now on and unmaps when the task
    /// has finished (it is not pooled). Overrides [`stack_size`](SpawnOptions::stack_size).
    /// Stacks are taken by value only: see [`crate::stack`] for why a borrowed stack would be
    /// unsound.
    pub fn stack(mut self, stack: Stack) -> SpawnOptions {
        self.stack = Some(stack);
        self
    }
}

impl fmt::Debug for SpawnOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnOptions")
            .field("stack_size", &self.stack_size)
            .field("stack", &self.stack)
            .field("name", &self.name)
            .finish()
    }
}

impl Scheduler {
    /// Spawns a task running `f`; it runs at once, until its first IO or park.
    ///
    /// # Panics
    ///
    /// If no stack can be allocated (see [`try_spawn`](Scheduler::try_spawn)).
    pub fn spawn<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.try_spawn(f).unwrap_or_else(|e| panic!("cannot spawn a task: {e}"))
    }

    /// Like [`spawn`](Scheduler::spawn), failing instead of panicking if no stack can be
    /// allocated (`ErrorKind::OutOfMemory` at the memory-mapping limit, see [`crate::stack`]).
    pub fn try_spawn<F, T>(&self, f: F) -> io::Result<Task<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        start(&self.inner, SpawnOptions::new(), f)
    }

    /// Spawns a task running `f` as [`spawn`](Scheduler::spawn) does, on the stack `options`
    /// chooses.
    ///
    /// # Panics
    ///
    /// If no stack can be allocated (see [`try_spawn_with`](Scheduler::try_spawn_with)).
    pub fn spawn_with<F, T>(&self, options: SpawnOptions, f: F) -> Task<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.try_spawn_with(options, f).unwrap_or_else(|e| panic!("cannot spawn a task: {e}"))
    }

    /// Like [`spawn_with`](Scheduler::spawn_with), failing instead of panicking if no stack
    /// can be allocated. A caller's [`Stack`] is dropped (unmapped) if the spawn fails.
    pub fn try_spawn_with<F, T>(&self, options: SpawnOptions, f: F) -> io::Result<Task<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        start(&self.inner, options, f)
    }
}

/// Starts a task running `f` on `sched`, on the stack `options` chooses, and hands out its
/// handle.
pub(crate) fn start<F, T>(sched: &Rc<Inner>, options: SpawnOptions, f: F) -> io::Result<Task<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let core = sched.spawn(options.stack.map(|stack| stack.0), options.stack_size, options.name, f)?;
    Ok(Task::new(core))
}

/// Spawns a task on the scheduler of the current task, on the stack `options` chooses (see
/// [`Scheduler::spawn_with`]).
///
/// # Panics
///
/// Outside a task, or if no stack can be allocated.
pub fn spawn_with<F, T>(options: SpawnOptions, f: F) -> Task<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let me = task::current().expect("corio_coro::spawn_with called outside a task");
    start(&me.scheduler(), options, f).unwrap_or_else(|e| panic!("cannot spawn a task: {e}"))
}

/// Spawns a task on the scheduler of the current task (see [`Scheduler::spawn`]).
///
/// # Panics
///
/// Outside a task, or if no stack can be allocated.
pub fn spawn<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let me = task::current().expect("corio_coro::spawn called outside a task");
    start(&me.scheduler(), SpawnOptions::new(), f).unwrap_or_else(|e| panic!("cannot spawn a task: {e}"))
}
