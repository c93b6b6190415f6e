//! A [`Scheduler`](super::Scheduler)'s settings ([`Options`]) and how
//! [`run`](super::Scheduler::run) ends ([`RunMode`]).

use corio_aio::BackendKind;

use crate::stack::{DEFAULT_MAX_POOLED, DEFAULT_STACK_SIZE};

/// Settings of a [`Scheduler`](super::Scheduler): the defaults, changed by builder methods.
///
/// The fields are private so that a new setting is a new method, not a breaking change.
///
/// ```
/// use corio_coro::{Options, Scheduler};
/// use std::time::Duration;
///
/// let options = Options::new().io_queue_entries(256).stack_size(128 * 1024).timer_spin(Duration::from_micros(50));
/// let scheduler = Scheduler::with_options(options)?;
/// assert_eq!(scheduler.spawn(|| 6 * 7).join(), 42);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "options do nothing until passed to `Scheduler::with_options`"]
pub struct Options {
    pub(crate) io_queue_entries: u32,
    pub(crate) stack_size: usize,
    pub(crate) max_pooled_stacks: usize,
    pub(crate) backend: Option<BackendKind>,
    pub(crate) timer_spin: std::time::Duration,
    pub(crate) recv_buffers: u16,
    pub(crate) recv_buffer_size: usize,
}

impl Options {
    /// The defaults (as [`Default`]): 4096 IO queue entries, 64 KiB stacks, the default backend,
    /// no timer spin.
    pub fn new() -> Options {
        Options::default()
    }

    /// Initial capacity of the scheduler's IO queue: ops in flight at once, over all tasks (at
    /// least 2, else [`Scheduler::with_options`](super::Scheduler::with_options) fails with
    /// `InvalidInput`; a sixteenth of it is kept for cancels). Default 4096. When it is full
    /// the queue doubles ([`Dynamic::grow`](corio_aio::Dynamic::grow)), so parked IO is
    /// limited by memory and the descriptor limit, not by this number; only on IOCP, whose
    /// queue cannot grow, do tasks wait for room instead. On io_uring it also sizes the ring
    /// (twice this, at most 32,768 entries), which one IO call's batch must fit.
    ///
    /// # Memory per parked task
    ///
    /// A task parked in an IO call holds the stack pages it touched (one 4 KiB page for a
    /// read or a timer parked near the top of its stack: see [`crate::stack`]), its record in
    /// the scheduler (about 200 bytes) and, per op in flight, a slot of the queue with the
    /// backend's tables (about 350 bytes on io_uring, 420 on posix; slots stay allocated once
    /// the queue has grown). A task parked in `yield_now` or on a sync primitive holds no slot.
    pub fn io_queue_entries(mut self, entries: u32) -> Options {
        self.io_queue_entries = entries;
        self
    }

    /// Usable bytes of each task stack (rounded up to pages; a guard page is added), unless a
    /// spawn asks for another size ([`SpawnOptions`](crate::SpawnOptions)).
    pub fn stack_size(mut self, bytes: usize) -> Options {
        self.stack_size = bytes;
        self
    }

    /// How many free stacks keep their memory for reuse (default 1,024). More keep it too while
    /// the scheduler is busy, and give their pages back to the OS (staying mapped) when it is
    /// idle: see [`crate::stack`].
    pub fn max_pooled_stacks(mut self, stacks: usize) -> Options {
        self.max_pooled_stacks = stacks;
        self
    }

    /// The aio backend of the scheduler's IO queue. Without it the scheduler takes the default
    /// ([`corio_aio::default_backend`], which honours `CORIO_BACKEND`).
    pub fn backend(mut self, kind: BackendKind) -> Options {
        self.backend = Some(kind);
        self
    }

    /// Precise timers: how long the IO queue busy-polls before a timer's deadline instead of
    /// sleeping (zero, the default: never); CPU for precision, on the posix and IOCP backends
    /// and for io_uring's plain timeouts (the sleeps of tasks among them). See
    /// [`Dynamic::set_timer_spin`](corio_aio::Dynamic::set_timer_spin).
    pub fn timer_spin(mut self, spin: std::time::Duration) -> Options {
        self.timer_spin = spin;
        self
    }

    /// The provided buffers of buffered readers
    /// ([`TcpStream::buffered_reader`](crate::net::TcpStream::buffered_reader)) and of the
    /// streams' async reads (their multishot receives, see [`future`](crate::future)): one
    /// group per scheduler, shared by all its readers, of `count` buffers (1 to 16,383) of `size` bytes
    /// (1 to 64 KiB), made when the first reader first receives (1,024 of 4 KiB by default:
    /// 4 MiB). A buffer is held from the moment data lands in it until the reader consumed
    /// it; when every buffer is held, readers receive into their own buffer (one of `size`
    /// bytes each) until buffers return. Out-of-range values make the group fail, and readers
    /// then always use their own buffers (logged once).
    ///
    /// ```
    /// use corio_coro::{Options, Scheduler};
    /// let scheduler = Scheduler::with_options(Options::new().recv_buffers(64, 16 * 1024))?;
    /// # drop(scheduler);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn recv_buffers(mut self, count: u16, size: usize) -> Options {
        self.recv_buffers = count;
        self.recv_buffer_size = size;
        self
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            io_queue_entries: 4096,
            stack_size: DEFAULT_STACK_SIZE,
            max_pooled_stacks: DEFAULT_MAX_POOLED,
            backend: None,
            timer_spin: std::time::Duration::ZERO,
            recv_buffers: 1024,
            recv_buffer_size: 4096,
        }
    }
}

/// How [`Scheduler::run`](super::Scheduler::run) ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunMode {
    /// Run until every task has finished.
    Wait,
    /// Cancel every task, then run until they finished (tasks parked where cancellation
    /// cannot reach them, with nothing in flight to wake them, are left parked).
    Cancel,
}
