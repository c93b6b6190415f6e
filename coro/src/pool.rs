//! [`ThreadPool`]: run blocking functions on worker threads while the task waits without
//! blocking its scheduler.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use corio_aio::EventSource;
use corio_aio::op::Wait;

type Job = Box<dyn FnOnce() + Send>;

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
    /// canceled meanwhile (the wait is uncancelable); a task canceled *before* the call gets a
    /// [canceled](corio_aio::is_canceled) error and `f` does not run.
    pub fn yield_for_completion<F, R>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if crate::scheduler::current().is_some_and(|me| me.canceled.get()) {
            return Err(corio_aio::canceled());
        }
        let source = Arc::new(EventSource::new()?);
        let slot = Arc::new(Mutex::new(None));
        let (s, out) = (source.clone(), slot.clone());
        let job: Job = Box::new(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
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
        if crate::io::single_uncancelable(Wait::new(&source)).is_err() {
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
