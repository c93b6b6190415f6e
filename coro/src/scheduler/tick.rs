//! One pass of the scheduler ([`Inner::tick`]): resume the ready tasks, submit what they
//! queued and reap completions (waiting for as many as some parked task needs), wake the
//! tasks whose IO finished and resume them; and the loop of passes ([`Inner::run`]).

use std::io;
use std::time::Instant;

use corio_aio::__private::RuntimeExt;
use corio_aio::{Completed, Mode};

use super::route::Router;
use super::{Counters, Inner, RunMode, SUBMIT_BATCH, resume};
use crate::task::{Status, current_ptr};

impl Inner {
    /// Resumes the tasks that were ready when the pass started, in the order they were woken.
    /// Whenever the tasks resumed so far have queued [`SUBMIT_BATCH`] ops, submits them (and
    /// reaps what has completed, waking its tasks behind the ones already ready) before
    /// resuming the next: the kernel, and a peer at the other end of a socket, start on them
    /// while the pass goes on, instead of waiting for the whole pass (10,000 ready tasks are
    /// tens of milliseconds of resumes).
    fn run_ready(&self) -> io::Result<()> {
        let n = self.ready.borrow().len();
        if n as u64 > self.counters.ready_high_water.get() {
            self.counters.ready_high_water.set(n as u64);
        }
        for _ in 0..n {
            let Some((task, seq)) = self.ready.borrow_mut().pop_front() else { break };
            let parked = !matches!(task.status.get(), Status::Running | Status::Complete);
            if parked && task.park_seq.get() == seq {
                resume(&task);
                if self.unsubmitted() >= SUBMIT_BATCH {
                    let (done, _) = self.reap(0)?;
                    self.wake_capacity_waiters(done.completed);
                }
            }
        }
        Ok(())
    }

    /// Ops queued (by tasks, futures and cancels) since the last reaping pass submitted.
    fn unsubmitted(&self) -> u64 {
        let queued = self.counters.ops_queued.get().wrapping_add(self.counters.cancels_queued.get());
        queued.wrapping_sub(self.submitted.get())
    }

    /// Submits what the tasks queued since the last time, when that is [`SUBMIT_BATCH`] ops or
    /// more, if called outside any task and outside a pass (a burst of spawns from the thread
    /// that owns the scheduler: each new task runs until it parks, queuing its first ops).
    /// A failure is left for the next tick to report.
    pub(crate) fn submit_if_due(&self) {
        if self.unsubmitted() >= SUBMIT_BATCH && !self.in_pass.get() && current_ptr().is_null() {
            self.in_pass.set(true);
            if let Ok((done, _)) = self.reap(0) {
                self.wake_capacity_waiters(done.completed);
            }
            self.in_pass.set(false);
        }
    }

    /// Submits what is queued and reaps, waiting (`needed > 0`) for that many completions;
    /// routes each to its task, hands messages and futures' completions to the reactor.
    /// Returns what was reaped and, if it could wait, when it started.
    fn reap(&self, needed: usize) -> io::Result<(Completed, Option<Instant>)> {
        let (mut io, tasks) = (self.io()?, self.tasks.borrow());
        let mut router = Router::new(self, &tasks);
        let waited_from = (needed > 0).then(Instant::now);
        self.submitted.set(self.counters.ops_queued.get().wrapping_add(self.counters.cancels_queued.get()));
        // Nonblocking: `needed` is 0, which only collects what has already completed.
        let done = io.complete_at_least_parts(
            needed,
            #[inline(always)]
            |id, user_data, result| router.deliver(id, user_data, result),
        )?;
        // Messages from other threads' rings (`future/doorbell.rs`): drain the mailbox.
        let messages = io.take_messages();
        drop((io, tasks));
        if messages > 0 {
            self.reactor.messages(self, messages);
        }
        self.reactor.after_reap(self);
        if let Some(now) = self.counters.reaped(done.completed, waited_from) {
            // The tasks resumed from here on park after the kernel wait.
            self.pass_start.set(Some(now));
        }
        Ok((done, waited_from))
    }

    /// Makes up to `budget` tasks waiting for room in the IO queue ready: each freed slot wakes
    /// one (stale entries, of tasks that stopped waiting, do not count).
    fn wake_capacity_waiters(&self, mut budget: usize) {
        while budget > 0 {
            let Some((task, seq)) = self.capacity_waiters.borrow_mut().pop_front() else { break };
            if task.park_seq.get() == seq && matches!(task.status.get(), Status::Capacity | Status::IoCancel) {
                self.ready.borrow_mut().push_back((task, seq));
                budget -= 1;
            }
        }
    }

    pub(crate) fn tick(&self, mode: Mode) -> io::Result<usize> {
        assert!(current_ptr().is_null(), "Scheduler::tick called from inside a task");
        Counters::add(&self.counters.ticks, 1);
        self.pass_start.set(Some(Instant::now()));
        let was_in_pass = self.in_pass.replace(true);
        let result = self.pass(mode);
        self.in_pass.set(was_in_pass);
        result?;
        Ok(self.tasks.borrow().len)
    }

    /// The body of [`tick`](Inner::tick).
    fn pass(&self, mode: Mode) -> io::Result<()> {
        self.run_ready()?;
        let mode = if self.ready.borrow().is_empty() { mode } else { Mode::Nonblocking };
        let needed = if mode == Mode::Blocking { self.completions_needed() } else { 0 };
        let (done, waited_from) = self.reap(needed)?;
        self.trim_stacks_if_idle(waited_from, done.completed == 0 && self.ready.borrow().is_empty());
        #[cfg(feature = "tracing")]
        tracing::trace!(
            target: "corio::scheduler",
            ready = self.ready.borrow().len(),
            completed = done.completed,
            errors = done.errors,
            live = self.tasks.borrow().len,
            "pass"
        );
        self.wake_capacity_waiters(done.completed.max(1));
        self.run_ready()
    }

    /// After a kernel wait that started at `waited_from`: if it lasted a millisecond or more
    /// (the scheduler is not busy), gives the pages of free stacks beyond the warm ones back to
    /// the OS, about 64 per millisecond waited (so about 5% of the idle time on a machine where
    /// dropping a page costs 0.7 µs), at most 1,024; after a pass without a wait that found
    /// nothing to do (`idle_pass`: a scheduler polled without blocking), 64. A busy scheduler
    /// keeps them for its next spawns, which then take no page faults; they never number more
    /// than its most tasks at once.
    fn trim_stacks_if_idle(&self, waited_from: Option<Instant>, idle_pass: bool) {
        const IDLE: std::time::Duration = std::time::Duration::from_millis(1);
        if self.stacks.borrow().releasable() == 0 {
            return;
        }
        let batches = match waited_from {
            Some(since) => {
                let waited = since.elapsed();
                if waited < IDLE {
                    return;
                }
                (waited.as_millis() as usize).min(16)
            }
            None if idle_pass => 1,
            None => return,
        };
        self.stacks.borrow_mut().trim(batches * crate::stack::RELEASE_BATCH);
    }

    /// How many completions a blocking tick may wait for without sleeping while a task could
    /// run: 1 if a task waits for room in the queue (any completion frees some), else the
    /// fewest ops a task parked in an IO call still waits for (see [`Slab::fewest_pending`](crate::slab::Slab::fewest_pending)).
    fn completions_needed(&self) -> usize {
        // No task and no multishot op left: nothing to wait for (a future's op still in
        // flight, of a stream dropped outside a task, wakes no one; waiting for it hung `run`).
        if self.tasks.borrow().len == 0 && !self.multishot.live() {
            return 0;
        }
        // Futures' and multishot ops count in no task's `pending`: any completion may be theirs.
        if !self.capacity_waiters.borrow().is_empty() || self.reactor.in_flight() || self.multishot.live() {
            return 1;
        }
        self.tasks.borrow().fewest_pending().unwrap_or(1)
    }

    /// Whether no task can make progress: tasks are alive, none is ready, no IO is in flight.
    pub(crate) fn stuck(&self) -> bool {
        self.tasks.borrow().len > 0
            && self.ready.borrow().is_empty()
            && self.io.borrow().as_ref().is_none_or(|io| io.in_flight() == 0)
    }

    pub(super) fn run(&self, mode: RunMode) -> io::Result<()> {
        if mode == RunMode::Cancel {
            self.canceling.set(true);
            self.cancel_all();
        }
        let result = loop {
            // With no task alive nothing is left to wait for: one pass that does not block
            // submits what is queued and ends the run. (A multishot op whose handle was
            // forgotten stays live in the table and may never complete: a blocking pass would
            // wait for it forever.)
            let wait = if self.tasks.borrow().len == 0 { Mode::Nonblocking } else { Mode::Blocking };
            match self.tick(wait) {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
            if mode == RunMode::Cancel {
                self.cancel_all();
            }
            if self.stuck() {
                break match mode {
                    RunMode::Cancel => Ok(()),
                    RunMode::Wait => Err(io::Error::other(format!(
                        "deadlock: {} tasks are parked with no IO in flight and nothing to wake them",
                        self.tasks.borrow().len
                    ))),
                };
            }
        };
        self.canceling.set(false);
        result
    }
}
