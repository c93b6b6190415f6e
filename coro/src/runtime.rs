//! A thread-per-core [`Runtime`]: one [`Scheduler`](crate::Scheduler) per thread, tasks
//! placed on a thread when spawned and never moved, spawning and joining from any thread.
//!
//! ```
//! use corio_coro::runtime::Runtime;
//! use std::time::Duration;
//!
//! let runtime = Runtime::builder().threads(2).build()?;
//! let handles: Vec<_> = (0..4u64).map(|i| runtime.spawn(move || i * 10)).collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 60);
//! assert_eq!(runtime.block_on(|| 1 + 1), 2);
//! runtime.shutdown(Duration::from_secs(1))?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # How it works
//!
//! Each thread runs its scheduler's ticks; other threads reach it through its mailbox (a job
//! queue and an [`EventSource`](corio_aio::EventSource) a task of the scheduler waits on, so a
//! post wakes the thread's kernel wait like any completion; see `runtime/worker.rs`).
//! [`Runtime::spawn`] puts a task on the thread with the fewest runtime-spawned tasks
//! (round-robin among equals), [`Runtime::spawn_on`] on a given one. The task's
//! [`JoinHandle`] is `Send`; inside the task, [`crate::spawn`](fn@crate::spawn) still spawns on the same
//! thread, and [`Handle::current`] reaches the runtime.
//!
//! [`Runtime::serve`] runs a TCP server: one `SO_REUSEPORT` listener per thread
//! ([`TcpListener::bind_reuseport`](crate::net::TcpListener::bind_reuseport)), accepting
//! tasks on each, a task per connection.
//!
//! # Shutdown
//!
//! [`Runtime::shutdown`] stops the accept loops at once (and every task registered with
//! [`stop_on_shutdown`]), refuses new spawns from other threads, lets the tasks run until the
//! grace period ends (a thread stops early once its tasks are done), then cancels what is
//! left (each canceled IO call first waits until its ops drained, see [`crate::io`]) and
//! joins the threads. Dropping a `Runtime` is a shutdown with no grace period.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::handle::Task;
use crate::scheduler::{Inner, Metrics, Options};
use crate::spawn::SpawnOptions;
use crate::task;

mod join;
mod serve;
mod worker;

pub use join::JoinHandle;
use join::{Completer, JoinState};
pub use serve::ACCEPTORS;
use worker::Mailbox;

/// The state every handle of a runtime shares.
pub(crate) struct Shared {
    workers: Vec<Arc<Mailbox>>,
    /// Where the next least-loaded search starts (round-robin among equally loaded threads).
    next: AtomicUsize,
    /// The next task id.
    next_id: AtomicU64,
}

impl Shared {
    /// The least-loaded thread, searching from a rotating start.
    fn pick(&self) -> usize {
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n).map(|k| (start + k) % n).min_by_key(|&i| self.workers[i].load()).unwrap_or(0)
    }
}

/// Settings of a [`Runtime`], builder style; [`Runtime::builder`] makes one.
///
/// ```
/// use corio_coro::runtime::Runtime;
///
/// let runtime = Runtime::builder().threads(2).stack_size(256 * 1024).build()?;
/// assert_eq!(runtime.threads(), 2);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Builder does nothing until build() is called"]
pub struct Builder {
    threads: Option<usize>,
    pin_to_cores: bool,
    options: Options,
    thread_name: String,
}

impl Builder {
    /// The number of threads (each with a scheduler); by default
    /// [`available_parallelism`](std::thread::available_parallelism). At least 1.
    pub fn threads(mut self, threads: usize) -> Builder {
        self.threads = Some(threads);
        self
    }

    /// Pins thread *i* to the *i*-th CPU the process may run on (wrapping around); Linux
    /// only (elsewhere [`build`](Builder::build) fails `Unsupported`). Off by default.
    pub fn pin_to_cores(mut self, pin: bool) -> Builder {
        self.pin_to_cores = pin;
        self
    }

    /// Usable bytes of each task stack (the schedulers' [`Options::stack_size`]).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.options.stack_size = bytes;
        self
    }

    /// Every scheduler's [`Options`] (IO queue size, backend, …); a
    /// [`stack_size`](Builder::stack_size) set before is replaced.
    pub fn scheduler_options(mut self, options: Options) -> Builder {
        self.options = options;
        self
    }

    /// The threads' names: `name-0`, `name-1`, … (default `corio-runtime`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Starts the threads and their schedulers. Fails (with every thread started so far
    /// stopped again) if a thread or a scheduler cannot be made, if `threads` is 0, or if
    /// pinning is asked for where it is not implemented.
    pub fn build(self) -> io::Result<Runtime> {
        let threads = match self.threads {
            Some(0) => return Err(io::Error::new(io::ErrorKind::InvalidInput, "a runtime needs at least one thread")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let cpus = if self.pin_to_cores { Some(worker::allowed_cpus()?) } else { None };
        let workers = (0..threads).map(|i| Mailbox::new(i).map(Arc::new)).collect::<io::Result<Vec<_>>>()?;
        let shared = Arc::new(Shared { workers, next: AtomicUsize::new(0), next_id: AtomicU64::new(1) });
        let mut runtime = Runtime { handle: Handle { shared: shared.clone() }, threads: Vec::with_capacity(threads) };
        for (i, mailbox) in shared.workers.iter().enumerate() {
            let setup = worker::Setup {
                mailbox: mailbox.clone(),
                shared: shared.clone(),
                options: self.options,
                cpu: cpus.as_ref().and_then(|cpus| (!cpus.is_empty()).then(|| cpus[i % cpus.len()])),
            };
            let (started, result) = std::sync::mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("{}-{i}", self.thread_name))
                .spawn(move || worker::run(setup, started))?;
            runtime.threads.push(thread);
            // The runtime's drop stops the threads started so far if this one failed.
            result.recv().map_err(|_| io::Error::other("a runtime thread ended while starting"))??;
        }
        Ok(runtime)
    }
}

/// A set of threads, each running a [`Scheduler`](crate::Scheduler); see the
/// [module docs](self).
pub struct Runtime {
    handle: Handle,
    threads: Vec<std::thread::JoinHandle<io::Result<()>>>,
}

impl Runtime {
    /// A builder with the defaults: a thread per available core, unpinned, default
    /// scheduler [`Options`].
    pub fn builder() -> Builder {
        Builder { threads: None, pin_to_cores: false, options: Options::default(), thread_name: "corio-runtime".into() }
    }

    /// A runtime with the defaults ([`Runtime::builder`]).
    pub fn new() -> io::Result<Runtime> {
        Runtime::builder().build()
    }

    /// A `Send` handle to spawn with, from any thread.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.handle.threads()
    }

    /// Spawns `f` on the least-loaded thread; see [`Handle::spawn`].
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(f)
    }

    /// Spawns `f` on thread `index`; see [`Handle::spawn_on`].
    pub fn spawn_on<F, T>(&self, index: usize, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_on(index, f)
    }

    /// Runs `f` as a task on one of the runtime's threads and blocks the caller (meant for
    /// `main`) until it returns its value; a panic in `f` is resumed here.
    ///
    /// # Panics
    ///
    /// If the task ends without a value (it was torn down), or if called from inside a task
    /// that gets canceled meanwhile.
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(f).join().unwrap_or_else(|e| panic!("Runtime::block_on: {e}"))
    }

    /// The threads' [`Metrics`], summed; see [`Handle::metrics`].
    pub fn metrics(&self) -> io::Result<Metrics> {
        self.handle.metrics()
    }

    /// Thread `index`'s [`Metrics`]; see [`Handle::thread_metrics`].
    pub fn thread_metrics(&self, index: usize) -> io::Result<Metrics> {
        self.handle.thread_metrics(index)
    }

    /// What every task waits on; see [`Handle::dump`].
    pub fn dump(&self) -> io::Result<String> {
        self.handle.dump()
    }

    /// Shuts the runtime down (see the [module docs](self#shutdown)): stops accepting, lets
    /// tasks finish for up to `grace`, cancels the rest, waits until their IO drained and
    /// joins the threads. Fails with the first error a thread's scheduler reported, and
    /// `Other` if called from one of the runtime's own threads (which cannot join itself:
    /// the shutdown then begins, but nothing is joined).
    pub fn shutdown(mut self, grace: Duration) -> io::Result<()> {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> io::Result<()> {
        let deadline = Instant::now() + grace;
        for mailbox in &self.handle.shared.workers {
            mailbox.close(deadline);
        }
        let threads = std::mem::take(&mut self.threads);
        if worker::context().is_some_and(|cx| Arc::ptr_eq(&cx.shared, &self.handle.shared)) {
            return Err(io::Error::other("a runtime cannot be shut down from one of its own threads"));
        }
        let mut result = Ok(());
        for thread in threads {
            let ended = thread.join().unwrap_or_else(|_| Err(io::Error::other("a runtime thread panicked")));
            if result.is_ok() {
                result = ended;
            }
        }
        result
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.threads.is_empty()
            && let Err(e) = self.stop(Duration::ZERO)
        {
            log::warn!("corio runtime: dropped: {e}");
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("threads", &self.threads()).finish_non_exhaustive()
    }
}

/// A `Send + Clone` handle to a [`Runtime`], for spawning from any thread or task.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// The runtime the caller runs on (in a task on one of its threads), if any.
    pub fn current() -> Option<Handle> {
        worker::context().map(|cx| Handle { shared: cx.shared.clone() })
    }

    /// The index of the runtime thread the caller runs on, if any.
    pub fn current_thread_index() -> Option<usize> {
        worker::context().map(|cx| cx.index)
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.shared.workers.len()
    }

    /// Spawns `f` on the thread with the fewest tasks spawned through the runtime and still
    /// running (the next in turn among equals). The task starts when that thread takes it
    /// from its mailbox; from a task on that same thread, at once.
    ///
    /// Once the runtime is shutting down, the handle's [`join`](JoinHandle::join) fails.
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let index = self.shared.pick();
        self.spawn_on(index, f)
    }

    /// Spawns `f` on thread `index` (as [`spawn`](Handle::spawn) does).
    ///
    /// # Panics
    ///
    /// If `index` is not below [`threads`](Handle::threads) (see
    /// [`try_spawn_on`](Handle::try_spawn_on)).
    pub fn spawn_on<F, T>(&self, index: usize, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_inner(index, f).unwrap_or_else(|(e, handle)| match handle {
            Some(handle) => handle,
            None => panic!("Handle::spawn_on: {e}"),
        })
    }

    /// Like [`spawn_on`](Handle::spawn_on), but fails `InvalidInput` for an index out of
    /// range and `Other` once the runtime is shutting down (nothing is spawned then).
    pub fn try_spawn_on<F, T>(&self, index: usize, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_inner(index, f).map_err(|(e, _)| e)
    }

    /// The threads' [`Metrics`], summed (see [`Metrics::merge`]); asks every thread in turn,
    /// so each figure is of a slightly different moment. Fails once shutdown began.
    pub fn metrics(&self) -> io::Result<Metrics> {
        let mut sum = Metrics::default();
        for index in 0..self.threads() {
            sum.merge(&self.query(index, Inner::metrics)?);
        }
        Ok(sum)
    }

    /// Thread `index`'s [`Metrics`]. Fails `InvalidInput` for an index out of range, and once
    /// shutdown began.
    pub fn thread_metrics(&self, index: usize) -> io::Result<Metrics> {
        self.query(index, Inner::metrics)
    }

    /// Every thread's [`Scheduler::dump`](crate::Scheduler::dump), each under a `thread N:`
    /// line: what every task waits on. Fails once shutdown began.
    pub fn dump(&self) -> io::Result<String> {
        let mut out = String::new();
        for index in 0..self.threads() {
            out.push_str(&format!("thread {index}: "));
            out.push_str(&self.query(index, Inner::dump)?);
        }
        Ok(out)
    }

    /// Runs `f` on thread `index`'s scheduler (in its mailbox task, not a task of its own, so
    /// that it counts no spawn) and returns the result.
    fn query<T: Send + 'static>(&self, index: usize, f: fn(&Inner) -> T) -> io::Result<T> {
        let Some(mailbox) = self.shared.workers.get(index) else {
            let e = format!("no runtime thread {index} (the runtime has {})", self.threads());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        };
        let state = JoinState::new();
        let completer = Completer::new(state.clone(), mailbox.clone());
        let handle = JoinHandle::new(state, mailbox.clone(), 0);
        let job = move || {
            let me = task::current().expect("runtime jobs run in a task");
            completer.complete(Ok(f(&me.scheduler())));
        };
        let here = worker::context().is_some_and(|cx| cx.index == index && Arc::ptr_eq(&cx.shared, &self.shared));
        if here && task::in_task() {
            job();
        } else if mailbox.post(Box::new(job)).is_err() {
            return Err(io::Error::other("the runtime is shutting down"));
        }
        handle.join()
    }

    /// Spawns, or fails with the reason and, if the runtime refused the task (shutting
    /// down), a handle that reports it lost.
    #[allow(clippy::type_complexity)]
    fn spawn_inner<F, T>(&self, index: usize, f: F) -> Result<JoinHandle<T>, (io::Error, Option<JoinHandle<T>>)>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let Some(mailbox) = self.shared.workers.get(index) else {
            let e = format!("no runtime thread {index} (the runtime has {})", self.threads());
            return Err((io::Error::new(io::ErrorKind::InvalidInput, e), None));
        };
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let state = JoinState::new();
        let completer = Completer::new(state.clone(), mailbox.clone());
        let handle = JoinHandle::new(state, mailbox.clone(), id);
        let here = worker::context().is_some_and(|cx| cx.index == index && Arc::ptr_eq(&cx.shared, &self.shared));
        if here && task::in_task() {
            start_task(id, completer, f);
            return Ok(handle);
        }
        match mailbox.post(Box::new(move || start_task(id, completer, f))) {
            Ok(()) => Ok(handle),
            // Dropping the job dropped its completer: the handle reports the task lost.
            Err(_job) => Err((io::Error::other("the runtime is shutting down"), Some(handle))),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("threads", &self.threads()).finish_non_exhaustive()
    }
}

/// Starts the task `id` running `f` on the current thread's scheduler (called in a task on a
/// runtime thread); its outcome goes to `completer`.
fn start_task<F, T>(id: u64, completer: Completer<T>, f: F)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let me = task::current().expect("runtime jobs run in a task");
    let body = move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(f));
        if let Err(payload) = outcome {
            // A teardown's forced unwind must go on (the completer's drop reports the loss).
            if task::current().is_some_and(|me| me.unwinding.get()) {
                panic::resume_unwind(payload);
            }
            worker::forget_task(id);
            completer.complete(Err(payload));
            return;
        }
        worker::forget_task(id);
        completer.complete(outcome);
    };
    match crate::spawn::start(&me.scheduler(), SpawnOptions::new(), body) {
        Ok(task) => worker::remember_task(id, task.into_core()),
        // The body (and its completer) was dropped: the handle reports the task lost.
        Err(e) => log::error!("corio runtime: cannot start a task: {e}"),
    }
}

/// Registers `task` (on a runtime thread) to be canceled as soon as the runtime's shutdown
/// begins, as [`Runtime::serve`]'s accept loops are: for tasks that would otherwise keep the
/// runtime busy for the whole grace period (accepting, periodic sweeps). Hands the task back
/// off a runtime thread.
pub fn stop_on_shutdown<T: 'static>(task: Task<T>) -> Result<(), Task<T>> {
    if worker::context().is_none() {
        return Err(task);
    }
    worker::stop_on_shutdown(task.into_core());
    Ok(())
}
