//! [`ThreadPool`]: run blocking functions on worker threads while the task waits without
//! blocking its scheduler.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use corio_aio::EventSource;
use corio_aio::op::Wait;

type Job = Box<dyn FnOnce() + Send>;

/// Tells a thread pool job that the task waiting for it was canceled.
#[derive(Clone, Debug, Default)]
pub struct CancellationToken(Arc<AtomicBool>);

impl CancellationToken {
    /// Whether the waiting task was canceled (the job may stop early; its value is still
    /// returned to the task).
    #[must_use]
    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A fixed set of worker threads for blocking work.
///
/// ```
/// use corio_coro::{Scheduler, pool::ThreadPool};
/// use std::sync::Arc;
///
/// let pool = Arc::new(ThreadPool::new(2)?);
/// let scheduler = Scheduler::new()?;
/// let p = pool.clone();
/// let task = scheduler.spawn(move || p.yield_for_completion(|| 6 * 7));
/// assert_eq!(task.join()?, 42);
/// # std::io::Result::Ok(())
/// ```
pub struct ThreadPool {
    sender: Option<mpsc::Sender<Job>>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl ThreadPool {
    /// A pool of `threads` workers (at least one).
    pub fn new(threads: usize) -> io::Result<ThreadPool> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..threads.max(1))
            .map(|i| {
                let receiver = receiver.clone();
                thread::Builder::new().name(format!("corio-pool-{i}")).spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(ThreadPool { sender: Some(sender), workers })
    }

    /// Runs `f` on a worker and waits for its result: inside a task the task parks (its
    /// scheduler runs other tasks); outside a task the thread blocks. A panic in `f` is
    /// resumed here.
    ///
    /// Once started, `f` always runs to completion and the task waits for it even if it is
    /// canceled meanwhile; a task canceled *before* the call gets a
    /// [canceled](corio_aio::is_canceled) error and `f` does not run. To let `f` stop early
    /// when the task is canceled, use
    /// [`yield_for_completion_with_token`](ThreadPool::yield_for_completion_with_token).
    pub fn yield_for_completion<F, R>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.yield_for_completion_with_token(move |_| f())
    }

    /// Like [`yield_for_completion`](ThreadPool::yield_for_completion), passing `f` a
    /// [`CancellationToken`] that is set when the waiting task is canceled; the task still
    /// waits for `f` to return, and gets its value.
    pub fn yield_for_completion_with_token<F, R>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce(&CancellationToken) -> R + Send + 'static,
        R: Send + 'static,
    {
        if crate::task::current().is_some_and(|me| me.canceled.get()) {
            return Err(corio_aio::canceled());
        }
        let source = Arc::new(EventSource::new()?);
        let slot = Arc::new(Mutex::new(None));
        let token = CancellationToken::default();
        let (s, out, t) = (source.clone(), slot.clone(), token.clone());
        let job: Job = Box::new(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| f(&t)));
            *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            if let Err(e) = s.notify() {
                log::error!("corio: thread pool cannot notify a waiter: {e}");
            }
        });
        self.sender
            .as_ref()
            .expect("the sender lives until drop")
            .send(job)
            .map_err(|_| io::Error::other("thread pool workers are gone"))?;
        let waited = match crate::io::single(Wait::new(&source)) {
            Err(e) if corio_aio::is_canceled(&e) => {
                token.0.store(true, Ordering::SeqCst);
                crate::io::single_uncancelable(Wait::new(&source))
            }
            waited => waited,
        };
        if waited.is_err() {
            // The scheduler cannot wait for us (it is shutting down): block instead.
            source.wait()?;
        }
        let result = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        match result.expect("the worker stored a result before notifying") {
            Ok(value) => Ok(value),
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool").field("threads", &self.workers.len()).finish()
    }
}
