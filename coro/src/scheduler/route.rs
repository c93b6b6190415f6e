//! Routing completions to the tasks that queued their ops (see the scheduler's module docs).

use std::io;
use std::rc::Rc;

use corio_aio::__private::CollectorSink;
use corio_aio::{Id, Value};

use super::{CANCEL_INDEX, Inner};
use crate::slab::Slab;
use crate::task::TaskCore;

/// Delivers the completions of one reaping pass. Holds the task table borrowed (not cloned)
/// for the whole pass: nothing here touches it mutably (delivering runs no user code), and a
/// task is cloned only to be woken.
pub(super) struct Router<'a> {
    inner: &'a Inner,
    tasks: &'a Slab,
    /// The key half of the last user data routed, its task and that task's sink: a batch's
    /// completions mostly arrive together, and neither the table nor a task's sink changes
    /// during the pass (no task runs in it), so each of them after the first skips the
    /// lookups. Starts at 0, which is no task's (`tag` adds 1).
    key: u32,
    task: Option<&'a Rc<TaskCore>>,
    sink: Option<CollectorSink>,
}

impl<'a> Router<'a> {
    pub(super) fn new(inner: &'a Inner, tasks: &'a Slab) -> Router<'a> {
        Router { inner, tasks, key: 0, task: None, sink: None }
    }

    /// Routes a completion to its task: records the result into the task's parked call's
    /// `Collector`, and wakes the task when it was the call's last pending op.
    #[inline(always)]
    pub(super) fn deliver(&mut self, id: Id, user_data: u64, result: io::Result<Value>) {
        let key = (user_data >> 32) as u32;
        if key != self.key {
            self.key = key;
            self.task = key.checked_sub(1).and_then(|key| self.tasks.get(key));
            self.sink = self.task.and_then(|task| task.sink.get());
        }
        let Some(task) = self.task else {
            // A multishot op's report (`multishot.rs`): as common as a task's completion on a
            // server (each received request), so not on the cold path below.
            if user_data & !u64::from(u32::MAX) == super::multishot::TAG {
                return self.inner.multishot.deliver(self.inner, user_data as u32, result);
            }
            return self.no_task(id, user_data, result);
        };
        let index = user_data as u32 as usize;
        // Every path below consumes `result` itself (no drop flag to keep it alive on the
        // stack: that costs a copy of it per completion).
        match self.sink {
            // In range, so not `CANCEL_INDEX` either (a batch has fewer ops than that).
            Some(sink) if index < sink.len() => {
                // SAFETY: `sink` was set by the task's parked IO call from that call's
                // `Collector` on the task's stack; the call does not return while any of its ops
                // (this one) is pending, and does not use the collector (which does not move)
                // until its last completion, so the collector is alive and not otherwise used.
                unsafe { sink.record(index, result) };
            }
            sink => other(sink, index, result),
        }
        let pending = task.pending.get().saturating_sub(1);
        task.pending.set(pending);
        if pending == 0 {
            self.inner.wake(task);
        }
    }
}

impl Router<'_> {
    /// A completion for no task and no multishot op: a future's op (`crate::future`), or a
    /// stray.
    #[cold]
    #[inline(never)]
    fn no_task(&self, id: Id, user_data: u64, result: io::Result<Value>) {
        if let Err(result) = self.inner.reactor.deliver(user_data, result) {
            ignore_stray(id, user_data, result);
        }
    }
}

/// A completion that has no place in a collector: a cancel op's result (dropped), an op of a
/// call torn down (no collector any more: dropped), or an index out of the batch's range
/// (a bug: `record` panics).
#[cold]
#[inline(never)]
fn other(sink: Option<CollectorSink>, index: usize, result: io::Result<Value>) {
    match sink {
        // SAFETY: as in `deliver` (the call only panics here, on the index).
        Some(sink) if index != CANCEL_INDEX as usize => unsafe { sink.record(index, result) },
        _ => drop(result),
    }
}

#[cold]
#[inline(never)]
fn ignore_stray(id: Id, user_data: u64, result: io::Result<Value>) {
    log::warn!("ignoring a completion for no task: {id:?}, user data {user_data:#x}");
    drop(result);
}
