//! [`JoinHandle`]: the `Send` handle of a task spawned through a [`Runtime`](super::Runtime),
//! joinable from any thread or task.
//!
//! The task's [`Task`](crate::Task) handle is `!Send` (it shares the task's core with its
//! scheduler), so the runtime keeps that one on the task's thread and hands out this one: a
//! slot under a mutex, filled by the task when it ends, and a [`WaitQueue`] of joiners, which
//! park (in a task) or block (outside one) on an event source of their own until woken.

use std::fmt;
use std::io;
use std::panic;
use std::sync::{Arc, Mutex};

use super::worker::{self, Mailbox};
use crate::sync::waiters::{WaitQueue, lock};

/// What the task has produced so far.
enum Outcome<T> {
    /// Not finished.
    Pending,
    /// Returned (`Ok`) or panicked (`Err`, the panic's payload).
    Done(std::thread::Result<T>),
    /// Ended without a value: never started (the runtime was shutting down), or torn down
    /// with its scheduler.
    Lost(&'static str),
    /// Taken by a join.
    Taken,
}

struct Slot<T> {
    outcome: Outcome<T>,
    joiners: WaitQueue,
}

/// The state a [`JoinHandle`] and its task share.
pub(crate) struct JoinState<T> {
    slot: Mutex<Slot<T>>,
}

impl<T> JoinState<T> {
    pub(crate) fn new() -> Arc<JoinState<T>> {
        Arc::new(JoinState { slot: Mutex::new(Slot { outcome: Outcome::Pending, joiners: WaitQueue::default() }) })
    }

    /// Records the outcome (the first one wins) and wakes every joiner.
    fn finish(&self, outcome: Outcome<T>) {
        let mut slot = lock(&self.slot);
        if matches!(slot.outcome, Outcome::Pending) {
            slot.outcome = outcome;
        }
        slot.joiners.wake_all();
    }
}

/// Owned by the task (or by its spawn message until the task starts): [`complete`] records the
/// task's outcome; dropping it without (the message was never delivered, the task was torn
/// down) records that the value is lost. Either way the worker's load count goes down.
///
/// [`complete`]: Completer::complete
pub(crate) struct Completer<T> {
    state: Arc<JoinState<T>>,
    mailbox: Arc<Mailbox>,
}

impl<T> Completer<T> {
    pub(crate) fn new(state: Arc<JoinState<T>>, mailbox: Arc<Mailbox>) -> Completer<T> {
        mailbox.task_started();
        Completer { state, mailbox }
    }

    pub(crate) fn complete(self, outcome: std::thread::Result<T>) {
        self.state.finish(Outcome::Done(outcome));
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.state.finish(Outcome::Lost("the task was torn down before it finished"));
        self.mailbox.task_ended();
    }
}

/// A handle to a task spawned on a [`Runtime`](super::Runtime): `Send`, so any thread or task
/// can [`join`](JoinHandle::join) it or [`cancel`](JoinHandle::cancel) it. Dropping it
/// detaches the task.
///
/// ```
/// use corio_coro::runtime::Runtime;
///
/// let runtime = Runtime::builder().threads(2).build()?;
/// let handle = runtime.spawn(|| 6 * 7);
/// // Joined from another plain thread.
/// let value = std::thread::spawn(move || handle.join()).join().unwrap()?;
/// assert_eq!(value, 42);
/// # std::io::Result::Ok(())
/// ```
#[must_use = "dropping a JoinHandle detaches the task"]
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
    mailbox: Arc<Mailbox>,
    id: u64,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(state: Arc<JoinState<T>>, mailbox: Arc<Mailbox>, id: u64) -> JoinHandle<T> {
        JoinHandle { state, mailbox, id }
    }

    /// Waits for the task and returns its value; if it panicked, resumes the panic here. In a
    /// task this parks the task; outside one it blocks the thread.
    ///
    /// Fails if the task ended without a value (the runtime was shutting down before it
    /// started, or tore it down: see [`Runtime::shutdown`](super::Runtime::shutdown)), or if
    /// the joining task is canceled meanwhile ([canceled](corio_aio::is_canceled)) or its
    /// [`timeout`](crate::time::timeout) deadline passes ([expired](corio_aio::is_expired));
    /// the task runs on, its value then lost to the caller.
    pub fn join(self) -> io::Result<T> {
        let mut slot = lock(&self.state.slot);
        loop {
            match std::mem::replace(&mut slot.outcome, Outcome::Taken) {
                Outcome::Done(Ok(value)) => return Ok(value),
                Outcome::Done(Err(payload)) => {
                    drop(slot);
                    panic::resume_unwind(payload)
                }
                Outcome::Lost(why) => return Err(io::Error::other(why)),
                Outcome::Taken => unreachable!("a JoinHandle is joined once"),
                Outcome::Pending => slot.outcome = Outcome::Pending,
            }
            let ticket = slot.joiners.register()?;
            drop(slot);
            let (relocked, waited) = ticket.wait(&self.state.slot, |slot| &mut slot.joiners);
            slot = relocked;
            waited?;
        }
    }

    /// Whether the task has ended (returned, panicked or was torn down).
    pub fn is_finished(&self) -> bool {
        !matches!(lock(&self.state.slot).outcome, Outcome::Pending)
    }

    /// Requests cancellation of the task (see the [crate docs](crate#cancellation)), without
    /// waiting; the request travels to the task's thread. Returns `false` if it cannot be
    /// delivered any more (the task has ended, or its runtime is shutting down, which cancels
    /// every task at its deadline anyway).
    pub fn cancel(&self) -> bool {
        if self.is_finished() {
            return false;
        }
        let id = self.id;
        self.mailbox.post(Box::new(move || worker::cancel_task(id))).is_ok()
    }

    /// The index of the runtime thread the task runs on.
    pub fn thread_index(&self) -> usize {
        self.mailbox.index
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("thread", &self.mailbox.index)
            .field("finished", &self.is_finished())
            .finish()
    }
}
