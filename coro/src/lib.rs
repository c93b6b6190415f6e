//! Stackful coroutine tasks and a scheduler on top of [`corio_aio`].
//!
//! A [`Scheduler`] runs tasks — closures on their own guarded stacks ([`stack`]) — on one
//! thread. Tasks do IO with [`io::single`], [`io::multi`] and [`io::complete`], which look
//! blocking but park the task while its ops are in flight; all tasks' ops of one
//! [`tick`](Scheduler::tick) go to the kernel in one submission.
//!
//! ```
//! use corio_aio::op;
//! use corio_coro::{Scheduler, RunMode, io};
//! use std::time::Duration;
//!
//! let scheduler = Scheduler::new()?;
//! for i in 0..3u64 {
//!     scheduler.spawn(move || io::single(op::Timeout::new(Duration::from_millis(i)))).detach();
//! }
//! scheduler.run(RunMode::Wait)?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # Tasks
//!
//! [`Scheduler::spawn`] starts a task at once, until it first parks
//! ([`Scheduler::spawn_with`] chooses its stack: a pooled one of another size, or a caller's
//! own [`Stack`](stack::Stack)); the [`Task`] handle
//! [joins](Task::join) it (returning its value, or resuming its panic), [cancels](Task::cancel)
//! it, or [detaches](Task::detach) it. A panic in a task ends that task only. Inside a task,
//! [`spawn`](fn@spawn) spawns on the same scheduler, [`yield_now`] parks with a user state until
//! [`Task::wakeup`], and [`set_cancelable`] shields a critical section from cancellation.
//!
//! [`Scheduler::scope`] runs tasks that borrow from the caller's stack, as
//! [`std::thread::scope`] does for threads.
//!
//! [`sync`] has a [`ResetEvent`](sync::ResetEvent) and a [`Semaphore`](sync::Semaphore) for the
//! tasks of one thread, and a [`Mutex`](sync::Mutex) with its [`Condvar`](sync::Condvar), an
//! [`RwLock`](sync::RwLock) and an MPMC [`Channel`](sync::Channel) for
//! any thread; [`pool::ThreadPool`] runs blocking functions on worker threads while the task
//! waits.
//!
//! [`net`] and [`fs`] have std's socket and file types and functions under std's names: inside
//! a task each call that may wait parks the task, outside a task each is the std call, so
//! code written against [`std::io::Read`] and [`std::io::Write`] runs in tasks unchanged.
//!
//! [`future`] runs async code in tasks: [`future::block_on`] polls a future on the current
//! task, [`future::sleep`] and [`future::timeout`] use the scheduler's timers, a [`Task`] is a
//! future of its value, and the TCP and Unix streams of [`net`] implement the async IO traits
//! of `futures-io`, `tokio` and `hyper` (cargo features of the same names).
//!
//! # Runtime, time, names and diagnosis
//!
//! [`runtime::Runtime`] runs a scheduler per thread (tasks placed when spawned, never moved),
//! with `Send` join handles, [`Runtime::serve`](runtime::Runtime::serve) for TCP servers and a
//! graceful shutdown. [`sleep`], [`timeout`] (a deadline for every IO call of a closure) and
//! [`Interval`] are in [`time`]. [`SpawnOptions::name`] names a task; [`current`] tells the
//! running task's id and name, which panic and stack-overflow reports show.
//! [`Scheduler::metrics`] counts what a scheduler did (always on), [`Scheduler::dump`] lists
//! what every task waits on. With the `tracing` cargo feature, each task runs in a `task`
//! span (id, name), each IO call emits `queued` and `completed` events (target `corio::io`:
//! the batch's kind, error, latency) and each scheduler pass a `pass` event (target
//! `corio::scheduler`); without it nothing of that is compiled in.
//!
//! # Windows
//!
//! Tasks, [`io`], [`sync`], [`pool`], [`net`] (TCP and UDP) and `fs` work on Windows, on the
//! IOCP backend; task stacks are corosensei's Windows stacks ([`stack`](stack#windows)). See
//! `fs`'s docs for what differs there (opening is the std call even in a task).
//!
//! The scheduler's IO queue runs on the default aio backend (io_uring where it works, else
//! the posix emulation) or on the one [`Options::backend`] names.
//!
//! # Cancellation
//!
//! Cancel is a request: a task parked in IO has its ops canceled, waits until they all
//! completed, and sees a [canceled](corio_aio::is_canceled) error (unless every op completed
//! anyway: then it gets their results); every later IO call, and every wait on a sync
//! primitive, fails the same way. See [`io`] for the details.
//!
//! # Soundness
//!
//! Ops may borrow a task's stack; the scheduler never frees or unwinds a stack while its ops
//! are in flight. The argument is in the [`scheduler` module docs](scheduler).

// docs.rs builds with `--cfg docsrs` on nightly: items that exist only on some targets
// (Unix, Linux, Windows, not WASI) get a badge saying where they are available.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The only error on WASI: everything else is left out there.
#[cfg(target_os = "wasi")]
compile_error!("corio-coro needs stack switching, which wasm32-wasip1 does not have");

#[cfg(not(target_os = "wasi"))]
pub mod fs;
#[cfg(not(target_os = "wasi"))]
pub mod future;
#[cfg(not(target_os = "wasi"))]
mod handle;
#[cfg(not(target_os = "wasi"))]
mod identity;
#[cfg(not(target_os = "wasi"))]
pub mod io;
#[cfg(not(target_os = "wasi"))]
pub mod net;
#[cfg(not(target_os = "wasi"))]
pub mod pool;
#[cfg(not(target_os = "wasi"))]
pub mod runtime;
#[cfg(not(target_os = "wasi"))]
pub mod scheduler;
#[cfg(not(target_os = "wasi"))]
pub mod scope;
#[cfg(not(target_os = "wasi"))]
mod slab;
#[cfg(not(target_os = "wasi"))]
mod spawn;
#[cfg(not(target_os = "wasi"))]
pub mod stack;
#[cfg(not(target_os = "wasi"))]
pub mod sync;
#[cfg(not(target_os = "wasi"))]
mod task;
#[cfg(not(target_os = "wasi"))]
pub mod time;

#[cfg(not(target_os = "wasi"))]
pub use handle::Task;
#[cfg(not(target_os = "wasi"))]
pub use identity::{TaskInfo, current};
#[cfg(not(target_os = "wasi"))]
pub use scheduler::{KindMetrics, Metrics, Options, RunMode, Scheduler};
#[cfg(not(target_os = "wasi"))]
pub use scope::{Scope, ScopedTask};
#[cfg(not(target_os = "wasi"))]
pub use spawn::{SpawnOptions, spawn, spawn_with};
#[cfg(not(target_os = "wasi"))]
pub use task::{YieldState, in_task, set_cancelable, yield_now};
#[cfg(not(target_os = "wasi"))]
pub use time::{Interval, sleep, timeout};
