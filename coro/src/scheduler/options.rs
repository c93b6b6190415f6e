//! A [`Scheduler`](super::Scheduler)'s settings ([`Options`]) and how
//! [`run`](super::Scheduler::run) ends ([`RunMode`]).

use corio_aio::BackendKind;

use crate::stack::{DEFAULT_MAX_POOLED, DEFAULT_STACK_SIZE};

/// Settings of a [`Scheduler`](super::Scheduler).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Initial capacity of the scheduler's IO queue: ops in flight at once, over all tasks (at
    /// least 2; a sixteenth of it is kept for cancels). When it is full the queue doubles
    /// ([`Dynamic::grow`](corio_aio::Dynamic::grow)), so parked IO is limited by memory and
    /// the descriptor limit, not by this number; only on IOCP, whose queue cannot grow, do
    /// tasks wait for room instead. On io_uring it also sizes the ring (twice this, at most
    /// 32,768 entries), which one IO call's batch must fit.
    ///
    /// # Memory per parked task
    ///
    /// A task parked in an IO call holds the stack pages it touched (one 4 KiB page for a
    /// read or a timer parked near the top of its stack: see [`crate::stack`]), its record in
    /// the scheduler (about 200 bytes) and, per op in flight, a slot of the queue with the
    /// backend's tables (about 350 bytes on io_uring, 420 on posix; slots stay allocated once
    /// the queue has grown). A task parked in `yield_now` or on a sync primitive holds no slot.
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
