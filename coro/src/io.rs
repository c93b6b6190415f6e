//! IO from tasks: [`single`], [`multi`] and [`complete`], with the signatures of
//! [`corio_aio`]'s immediate API.
//!
//! Inside a task, a call queues its batch into the scheduler's IO queue and parks the task
//! until every op of the batch completed; the other tasks run meanwhile, and the ops of all
//! tasks queued in one tick reach the kernel in one submission. Outside a task, the calls are
//! [`corio_aio::single`], [`corio_aio::multi`] and [`corio_aio::complete`].
//!
//! # Cancellation
//!
//! A canceled task gets a [canceled](corio_aio::is_canceled) error from the call it is parked
//! in and from every later call. The parked call first queues a `Cancel` for each of its ops
//! still in flight and waits until every op (and every cancel) has completed, so buffers stay
//! valid as long as the kernel may use them. If none of the call's ops ended canceled (they
//! all completed before the cancel took effect), the call returns their results instead, and
//! only the next call fails: the completions are the truth, and data read, a descriptor
//! accepted or an event consumed is not thrown away.
//!
//! ```
//! use corio_aio::op;
//! use corio_coro::{Scheduler, io};
//!
//! let scheduler = Scheduler::new()?;
//! let task = scheduler.spawn(|| {
//!     let (reader, writer) = std::io::pipe()?;
//!     let mut buf = [0u8; 5];
//!     io::multi((op::Write::new(&writer, b"hello"), op::Read::new(&reader, &mut buf)))?;
//!     std::io::Result::Ok(buf)
//! });
//! assert_eq!(&task.join()?, b"hello");
//! // Outside a task, the same call blocks the thread.
//! io::single(corio_aio::op::Nop::new())?;
//! # std::io::Result::Ok(())
//! ```

use std::io;
use std::rc::Rc;

use corio_aio::__private::{Collector, RuntimeExt};
use corio_aio::op::{IntoEntry, Op};
use corio_aio::{Batch, Id, canceled};

use crate::scheduler::tag;
use crate::task::{self, Status, TaskCore};

/// Runs one op; returns its output (see [`corio_aio::single`]). Under a
/// [`timeout`](crate::time::timeout) the op is bounded by its deadline (see
/// [`crate::time`]).
pub fn single<E: IntoEntry>(op: E) -> io::Result<<E::Op as Op>::Output> {
    match task::current() {
        None => match crate::time::thread_deadline() {
            None => corio_aio::single(op),
            Some(deadline) => crate::time::bounded_by(op, deadline),
        },
        Some(task) => match task.deadline.get() {
            None => task_io(&task, op.into_entry(), true, Collector::take_outputs),
            Some(deadline) => crate::time::bounded_by(op, deadline),
        },
    }
}

/// Runs a batch; returns every output, or the first failure (see [`corio_aio::multi`]).
pub fn multi<B: Batch>(batch: B) -> io::Result<B::Outputs> {
    match task::current() {
        None => corio_aio::multi(batch),
        Some(task) => task_io(&task, batch, true, Collector::take_outputs),
    }
}

/// Runs a batch; returns each op's result (see [`corio_aio::complete`]). Fails only if the
/// batch could not run, or the task was canceled.
pub fn complete<B: Batch>(batch: B) -> io::Result<B::Results> {
    match task::current() {
        None => corio_aio::complete(batch),
        Some(task) => task_io(&task, batch, true, |c| Ok(c.take_results())),
    }
}

/// Like [`single`], but cancellation neither interrupts nor prevents it. Used where giving up
/// early is not an option (waiting for a thread pool job that already runs).
pub(crate) fn single_uncancelable<E: IntoEntry>(op: E) -> io::Result<<E::Op as Op>::Output> {
    match task::current() {
        None => corio_aio::single(op),
        Some(task) => task_io(&task, op.into_entry(), false, Collector::take_outputs),
    }
}

/// The most ops of an IO call whose ids the call keeps, to cancel them without a scan.
const KEPT_IDS: usize = 4;

/// Aborts the process if an IO call is left (by unwinding) while its ops are in flight.
struct InFlight<'a>(&'a TaskCore);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.pending.get() > 0 {
            eprintln!("corio: a task unwound with IO in flight; aborting to stay memory safe");
            std::process::abort();
        }
    }
}

/// Queues `batch` for the running task `task`, parks it until every op completed and
/// returns `finish` of the completions (in place: the collector is not moved). See the module
/// docs for cancellation.
#[inline]
fn task_io<B: Batch, R>(
    task: &Rc<TaskCore>,
    batch: B,
    cancelable: bool,
    finish: impl FnOnce(&mut Collector<B>) -> io::Result<R>,
) -> io::Result<R> {
    if cancelable && task.canceled.get() {
        return Err(canceled());
    }
    let sched = task.scheduler();
    let mut collector = Collector::new(&batch);
    let n = collector.len();
    // The ids of a small batch are kept for a cancel (a larger one's are found by a scan).
    let mut ids = [Id::from_u64(0); KEPT_IDS];
    let (kept, traced) = {
        let mut io = sched.io_with_room(task, n, cancelable)?;
        // SAFETY: the ops may borrow anything the caller could borrow: memory that outlives this
        // call. This call does not return before every op queued here (and every cancel of them)
        // has completed: the loop below waits for `pending` to reach 0 on every path. It cannot
        // unwind early either: a scheduler teardown force-unwinds a parked task only after its
        // `Dynamic` drained every op (and zeroed `pending`), and `InFlight` aborts on any other
        // unwind with ops pending. The task's stack, where `collector` lives, is not freed while
        // the task is parked here (see the scheduler's soundness notes).
        unsafe { io.queue_tagged_unchecked(batch, tag(task.key.get()))? };
        let queued = io.last_queued();
        // The call's kind (the op table's names) is read while the ids are known.
        #[cfg(feature = "tracing")]
        let traced = tracing_io::queued(&io, queued);
        #[cfg(not(feature = "tracing"))]
        let traced = ();
        let kept = ids.get_mut(..queued.len());
        (kept.map(|kept| kept.copy_from_slice(queued)).is_some(), traced)
    };
    #[cfg(not(feature = "tracing"))]
    let () = traced;
    crate::scheduler::count_queued(&sched, n);
    task.pending.set(n);
    let in_flight = InFlight(task);
    task.sink.set(Some(collector.sink()));
    let mut result = Ok(());
    while task.pending.get() > 0 {
        if cancelable && result.is_ok() && task.canceled.get() {
            result = Err(canceled());
            sched.cancel_ops(task, kept.then(|| &ids[..n]));
            continue;
        }
        task.park(if cancelable && result.is_ok() { Status::Io } else { Status::IoCancel });
    }
    task.sink.set(None);
    drop(in_flight);
    let out = if result.is_err() && !collector.any_canceled() {
        // The cancel came too late for every op: report what they did.
        finish(&mut collector)
    } else {
        result.and_then(|()| finish(&mut collector))
    };
    #[cfg(feature = "tracing")]
    tracing_io::completed(n, traced, out.as_ref().err());
    out
}

/// The `tracing` events of IO calls (with the `tracing` feature).
#[cfg(feature = "tracing")]
mod tracing_io {
    use std::io;
    use std::time::Instant;

    use corio_aio::__private::RuntimeExt;
    use corio_aio::{Dynamic, Id};

    /// The call's ops by the op table's names: `recv`, `send+recv`.
    fn kind(io: &Dynamic<'static>, ids: &[Id]) -> String {
        let mut out = String::new();
        for (i, &id) in ids.iter().enumerate() {
            if i > 0 {
                out.push('+');
            }
            out.push_str(io.op_name(id).unwrap_or("?"));
        }
        out
    }

    /// Emits `queued` for a call that queued `ids`; returns the call's kind and, if the
    /// `completed` event is on, when (for its latency). Nothing is built while the events
    /// are off.
    pub(super) fn queued(io: &Dynamic<'static>, ids: &[Id]) -> Option<(String, Instant)> {
        if !tracing::enabled!(target: "corio::io", tracing::Level::TRACE) {
            return None;
        }
        let kind = kind(io, ids);
        tracing::trace!(target: "corio::io", ops = ids.len(), kind = %kind, "queued");
        Some((kind, Instant::now()))
    }

    /// Emits `completed` with the call's outcome and latency.
    pub(super) fn completed(n: usize, queued: Option<(String, Instant)>, error: Option<&io::Error>) {
        let Some((kind, since)) = queued else { return };
        let latency_us = since.elapsed().as_micros() as u64;
        match error {
            None => tracing::trace!(target: "corio::io", ops = n, kind = %kind, latency_us, "completed"),
            Some(e) => {
                tracing::trace!(target: "corio::io", ops = n, kind = %kind, latency_us, error = %e, "completed")
            }
        }
    }
}
