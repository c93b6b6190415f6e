//! A small fixed pool of worker threads (all started with the first job) for ops without readiness (file IO, opens, closes,
//! renames, sockets…): a pre-sized job queue under a mutex, a condvar, and a pre-sized
//! completion list; a worker wakes the loop with [`Poller::notify`] after each op.
//!
//! A worker touches an op's memory only between taking its job and posting its completion;
//! the backend contract keeps that memory valid until the completion is reported, which
//! happens after the post. A job still in the queue can be canceled (it never runs); a running
//! one cannot.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::poller::Poller;

use super::blocking::perform_blocking;
use crate::op::RawOp;
use crate::raw::OpState;

/// An op handed to the pool.
pub(super) struct Job {
    pub(super) slot: u32,
    pub(super) op: RawOp,
    pub(super) state: *mut OpState,
}

// SAFETY: a job's pointers reference op memory that the backend contract keeps valid and
// unused by the loop thread from the op's start until its completion is reported; the worker
// owning the job is the only one touching it meanwhile (handed over through the mutex).
unsafe impl Send for Job {}

struct Queue {
    jobs: VecDeque<Job>,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    /// Workers that have started running (their thread set up).
    started: Mutex<usize>,
    up: Condvar,
    done: Mutex<Vec<(u32, i32)>>,
    poller: Arc<Poller>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    max_threads: usize,
    /// Jobs submitted and not yet collected by [`Pool::collect`] or canceled.
    outstanding: usize,
    /// Whether every worker has started.
    all_up: bool,
}

impl Pool {
    pub(super) fn new(poller: Arc<Poller>, capacity: usize) -> Pool {
        let max_threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue { jobs: VecDeque::with_capacity(capacity), stop: false }),
                work: Condvar::new(),
                started: Mutex::new(0),
                up: Condvar::new(),
                done: Mutex::new(Vec::with_capacity(capacity)),
                poller,
            }),
            threads: Vec::with_capacity(max_threads),
            max_threads,
            outstanding: 0,
            all_up: false,
        }
    }

    pub(super) fn max_threads(&self) -> usize {
        self.max_threads
    }

    /// Whether some job has not been collected yet.
    pub(super) fn busy(&self) -> bool {
        self.outstanding > 0
    }

    /// Queues a job; `Some(res)` if no worker could be started and the job ran right here.
    pub(super) fn submit(&mut self, job: Job) -> Option<i32> {
        // The first job starts every worker, so that nothing allocates afterwards.
        while self.threads.len() < self.max_threads {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("corio-aio-posix".into())
                .stack_size(256 * 1024)
                .spawn(move || worker(&shared));
            match spawned {
                Ok(handle) => self.threads.push(handle),
                Err(e) if self.threads.is_empty() => {
                    log::warn!("corio-aio: cannot start a posix worker ({e}); running {} inline", job.op.name());
                    // SAFETY: the job's memory is valid until its completion is reported
                    // (backend contract), and it is not queued anywhere else.
                    return Some(unsafe { perform_blocking(&job.op, job.state) });
                }
                Err(e) => {
                    log::warn!("corio-aio: cannot start another posix worker: {e}");
                    self.max_threads = self.threads.len();
                }
            }
        }
        if !self.all_up {
            // Before the first job, wait for every worker to be up, so that no thread setup
            // (which allocates) happens later.
            let mut started = lock(&self.shared.started);
            while *started < self.threads.len() {
                started = self.shared.up.wait(started).unwrap_or_else(|e| e.into_inner());
            }
            self.all_up = true;
        }
        let mut queue = lock(&self.shared.queue);
        queue.jobs.push_back(job);
        self.outstanding += 1;
        drop(queue);
        self.shared.work.notify_one();
        None
    }

    /// Removes the job of `slot` if no worker has taken it yet.
    pub(super) fn cancel(&mut self, slot: u32) -> bool {
        let mut queue = lock(&self.shared.queue);
        let Some(i) = queue.jobs.iter().position(|j| j.slot == slot) else { return false };
        queue.jobs.remove(i);
        self.outstanding -= 1;
        true
    }

    /// Appends the completions posted by workers to `out`.
    #[inline]
    pub(super) fn collect(&mut self, out: &mut Vec<(u32, i32)>) {
        if self.outstanding != 0 {
            self.collect_posted(out);
        }
    }

    /// [`collect`](Pool::collect) with jobs outstanding: out of line, so that a poll with no
    /// job (the common case) costs one comparison.
    #[inline(never)]
    fn collect_posted(&mut self, out: &mut Vec<(u32, i32)>) {
        let mut done = lock(&self.shared.done);
        self.outstanding -= done.len();
        out.append(&mut done);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.shared.queue).stop = true;
        self.shared.work.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(shared: &Shared) {
    *lock(&shared.started) += 1;
    shared.up.notify_all();
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.stop {
                    return;
                }
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        // SAFETY: the job's memory stays valid until its completion is reported, which the
        // loop does only after collecting the post below; no one else touches it meanwhile.
        let res = unsafe { perform_blocking(&job.op, job.state) };
        lock(&shared.done).push((job.slot, res));
        if let Err(e) = shared.poller.notify() {
            log_notify_error(e);
        }
    }
}

fn log_notify_error(e: io::Error) {
    log::error!("corio-aio: a posix worker cannot wake its loop: {e}");
}
