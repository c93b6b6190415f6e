//! A [`Scheduler`](super::Scheduler)'s settings ([`Options`]) and how
//! [`run`](super::Scheduler::run) ends ([`RunMode`]).

use corio_aio::BackendKind;

use crate::stack::{DEFAULT_MAX_POOLED, DEFAULT_STACK_SIZE};

/// Settings of a [`Scheduler`](super::Scheduler).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Capacity of the scheduler's IO queue: the most ops in flight at once, over all tasks
    /// (at least 2). Tasks wait for room when it is full; a sixteenth is kept for cancels.
    pub io_queue_entries: u32,
    /// Usable bytes of each task stack (rounded up to pages; a guard page is added).
    pub stack_size: usize,
    /// How many free stacks keep their memory for reuse (more stay mapped, their pages given
    /// back to the OS).
    pub max_pooled_stacks: usize,
    /// The aio backend of the scheduler's IO queue; `None` picks the default
    /// ([`corio_aio::default_backend`], which honours `CORIO_BACKEND`).
    pub backend: Option<BackendKind>,
    /// Precise timers: how long the IO queue busy-polls before a timer's deadline instead of
    /// sleeping (zero, the default: never); CPU for precision, on the posix and IOCP backends
    /// and for io_uring's plain timeouts (the sleeps of tasks among them). See
    /// [`Dynamic::set_timer_spin`](corio_aio::Dynamic::set_timer_spin).
    pub timer_spin: std::time::Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            io_queue_entries: 4096,
            stack_size: DEFAULT_STACK_SIZE,
            max_pooled_stacks: DEFAULT_MAX_POOLED,
            backend: None,
            timer_spin: std::time::Duration::ZERO,
        }
    }
}

/// How [`Scheduler::run`](super::Scheduler::run) ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Run until every task has finished.
    Wait,
    /// Cancel every task, then run until they finished (tasks parked where cancellation
    /// cannot reach them, with nothing in flight to wake them, are left parked).
    Cancel,
}
