//! [`SpawnOptions`]: spawning a task with a chosen stack size or a caller's own [`Stack`].

use std::fmt;
use std::io;

use crate::scheduler::{self, Scheduler};
use crate::stack::Stack;
use crate::task::Task;

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
pub struct SpawnOptions {
    pub(crate) stack_size: Option<usize>,
    pub(crate) stack: Option<Stack>,
}

impl SpawnOptions {
    /// The defaults: a pooled stack of the scheduler's [`Options::stack_size`](crate::Options).
    pub fn new() -> SpawnOptions {
        SpawnOptions::default()
    }

    /// A pooled stack with at least `bytes` usable bytes (rounded up to pages). The scheduler
    /// keeps a pool per size, so stacks of this size are reused by later spawns asking for it.
    pub fn stack_size(mut self, bytes: usize) -> SpawnOptions {
        self.stack_size = Some(bytes);
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
        f.debug_struct("SpawnOptions").field("stack_size", &self.stack_size).field("stack", &self.stack).finish()
    }
}

impl Scheduler {
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
        self.inner.spawn(options, f)
    }
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
    let me = scheduler::current().expect("corio_coro::spawn_with called outside a task");
    me.scheduler().spawn(options, f).unwrap_or_else(|e| panic!("cannot spawn a task: {e}"))
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
    let me = scheduler::current().expect("corio_coro::spawn called outside a task");
    me.scheduler().spawn(SpawnOptions::new(), f).unwrap_or_else(|e| panic!("cannot spawn a task: {e}"))
}
