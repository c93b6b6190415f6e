//! [`Collector`] and [`CollectorSink`]: a runtime's way to turn the completions of one batch
//! back into that batch's typed outputs, as the immediate API does (exported through
//! [`crate::__private`] with the other runtime hooks, `runtime.rs`).

use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;

use super::Completion;
use crate::batch::{Batch, Done};
use crate::raw::Value;

/// Collects the completions of one batch and converts them into the batch's typed outputs, as
/// [`multi`](crate::multi) and [`complete`](crate::complete) do.
///
/// ```
/// use corio_aio::__private::{Collector, RuntimeExt};
/// use corio_aio::{Dynamic, Mode, op::{self, OpExt}};
/// let mut ring = Dynamic::new(4)?;
/// let batch = (op::Nop::new().soft(), op::Nop::new());
/// let mut collector = Collector::new(&batch);
/// ring.queue_tagged(batch, 100)?;
/// ring.complete_all(|c| collector.set((c.user_data - 100) as usize, c))?;
/// let ((), ()) = collector.outputs()?;
/// # std::io::Result::Ok(())
/// ```
pub struct Collector<B: Batch> {
    /// Initialized by `new` (in place: they can be large) and from then on; dropped by
    /// `Drop`, except when the outputs were taken (which leaves every value `None`) and the
    /// values own no memory (see `BatchImpl::SPENT_NEEDS_DROP`).
    values: MaybeUninit<B::Values>,
    len: usize,
    /// Every value was taken out: nothing is left to drop.
    taken: bool,
}

impl<B: Batch> Collector<B> {
    /// An empty collector for `batch` (call before queueing it).
    #[inline]
    pub fn new(batch: &B) -> Collector<B> {
        // Not dropped until the values are made: `init_values` may panic (a `Vec` batch of
        // zero-sized ops too long for its values' allocation), and `Drop` would then drop
        // values never initialized.
        let mut collector =
            ManuallyDrop::new(Collector { values: MaybeUninit::uninit(), len: batch.len(), taken: false });
        B::init_values(&mut collector.values, batch.len());
        ManuallyDrop::into_inner(collector)
    }

    /// The values, initialized by `new`.
    #[inline(always)]
    fn values(&mut self) -> &mut B::Values {
        // SAFETY: `new` initialized the values, and only `Drop` drops them.
        unsafe { self.values.assume_init_mut() }
    }

    /// The number of ops in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch is empty (it never is: empty batches cannot be queued).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records the completion of the op at `index` in the batch.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    #[inline]
    pub fn set(&mut self, index: usize, completion: Completion) {
        record_into(&mut self.values().as_mut()[index], completion.result);
    }

    /// A type-erased handle through which completions can be recorded into this collector
    /// while it is not otherwise used: a runtime that parks callers of many batch types keeps
    /// one [`CollectorSink`] per parked caller instead of generic code per batch type.
    #[inline]
    pub fn sink(&mut self) -> CollectorSink {
        let values = self.values().as_mut();
        CollectorSink { values: NonNull::from(&mut *values).cast(), len: values.len() }
    }

    /// Whether an op whose completion was recorded ended [canceled](crate::is_canceled). A
    /// runtime that canceled a batch's ops learns from this whether the cancel took effect,
    /// without checking every completion as it records it.
    ///
    /// ```
    /// use corio_aio::__private::{Collector, RuntimeExt};
    /// use corio_aio::{Dynamic, op};
    /// let mut ring = Dynamic::new(4)?;
    /// let batch = [op::Nop::new(); 2];
    /// let mut collector = Collector::new(&batch);
    /// ring.queue_tagged(batch, 0)?;
    /// ring.complete_all(|c| collector.set(c.user_data as usize, c))?;
    /// assert!(!collector.any_canceled());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn any_canceled(&mut self) -> bool {
        let canceled = |done: &Option<Done>| matches!(done, Some(Done { result: Err(e) }) if crate::is_canceled(e));
        self.values().as_mut().iter().any(canceled)
    }

    /// Every output, or the first failure (as [`multi`](crate::multi) returns).
    ///
    /// # Panics
    ///
    /// If an op's completion was not recorded.
    #[inline]
    pub fn outputs(mut self) -> io::Result<B::Outputs> {
        self.take_outputs()
    }

    /// Each op's result (as [`complete`](crate::complete) returns).
    ///
    /// # Panics
    ///
    /// If an op's completion was not recorded.
    #[inline]
    pub fn results(mut self) -> B::Results {
        self.take_results()
    }

    /// Like [`outputs`](Collector::outputs), in place: a runtime that keeps the collector
    /// where the completions were delivered (on a task's stack) takes the outputs out without
    /// moving it. The collector is spent afterwards (taking again panics).
    ///
    /// # Panics
    ///
    /// If an op's completion was not recorded, or the outputs were already taken.
    #[inline]
    pub fn take_outputs(&mut self) -> io::Result<B::Outputs> {
        assert!(!self.taken, "the outputs of this Collector were already taken");
        let outputs = B::outputs(self.values());
        // On success every value was taken out; a failure may leave some to drop.
        self.taken = outputs.is_ok();
        outputs
    }

    /// Like [`results`](Collector::results), in place (see
    /// [`take_outputs`](Collector::take_outputs)).
    ///
    /// # Panics
    ///
    /// If an op's completion was not recorded, or the results were already taken.
    #[inline]
    pub fn take_results(&mut self) -> B::Results {
        assert!(!self.taken, "the results of this Collector were already taken");
        let results = B::results(self.values());
        self.taken = true;
        results
    }
}

/// Records completions into a [`Collector`] through a pointer that does not name the batch
/// type (see [`Collector::sink`]).
///
/// ```
/// use corio_aio::__private::{Collector, RuntimeExt};
/// use corio_aio::{Dynamic, op};
/// let mut ring = Dynamic::new(4)?;
/// let batch = [op::Nop::new(); 2];
/// let mut collector = Collector::new(&batch);
/// ring.queue_tagged(batch, 0)?;
/// let sink = collector.sink();
/// // SAFETY: `collector` stays where it is and is not used until every completion is recorded.
/// ring.complete_all(|c| unsafe { sink.set(c.user_data as usize, c) })?;
/// let [(), ()] = collector.take_outputs()?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CollectorSink {
    values: NonNull<Option<Done>>,
    len: usize,
}

impl CollectorSink {
    /// The number of ops in the batch: [`record`](CollectorSink::record) takes indices below
    /// it (a runtime routing completions checks an index against it rather than panic).
    ///
    /// ```
    /// use corio_aio::{__private::Collector, op};
    /// let batch = [op::Nop::new(); 3];
    /// let mut collector = Collector::new(&batch);
    /// assert_eq!(collector.sink().len(), 3);
    /// ```
    #[inline(always)]
    #[must_use]
    pub fn len(self) -> usize {
        self.len
    }

    /// Whether the batch is empty (it never is: empty batches cannot be queued).
    #[inline(always)]
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// Records the completion of the op at `index` in the batch, as [`Collector::set`] (but
    /// an index recorded twice leaks its earlier value, see [`record`](CollectorSink::record)).
    ///
    /// # Safety
    ///
    /// The collector this sink was made from must be alive and not moved, and must not be
    /// used otherwise (no reference to it may exist or have been made) since
    /// [`sink`](Collector::sink) made this sink.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    #[inline(always)]
    pub unsafe fn set(self, index: usize, completion: Completion) {
        // SAFETY: the caller's contract is this function's.
        unsafe { self.record(index, completion.result) };
    }

    /// [`set`](CollectorSink::set) from a completion's result (for a runtime that took its
    /// [`Completion`] apart to route it).
    ///
    /// Meant to record each op once: unlike [`Collector::set`], recording an index again
    /// leaks the value recorded before (it is not read, so as not to wait for the collector's
    /// memory to reach the cache).
    ///
    /// # Safety
    ///
    /// As for [`set`](CollectorSink::set).
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    #[inline(always)]
    pub unsafe fn record(self, index: usize, result: io::Result<Value>) {
        if index >= self.len {
            // Out of line: formatting the message inline spills registers on every record.
            out_of_range(index, self.len);
        }
        // SAFETY: `values` points to the collector's `len` values, alive and unmoved, and no
        // other reference to them exists (the caller's contract); `index` is in range, so the
        // write is in bounds and aligned. It does not read the old value: the collector lives on
        // a parked task's stack, likely out of the cache, and a store does not stall on the
        // miss the way a load does. An old value (an index recorded twice) is overwritten
        // without being dropped: leaked, never freed twice.
        unsafe { self.values.as_ptr().add(index).write(Some(Done { result })) };
    }
}

#[cold]
#[inline(never)]
fn out_of_range(index: usize, len: usize) -> ! {
    panic!("index {index} out of range for a batch of {len}");
}

#[inline(always)]
fn record_into(value: &mut Option<Done>, result: io::Result<Value>) {
    if value.is_some() {
        // Recorded twice: the earlier value is dropped out of the common path.
        drop_value(value);
    }
    // SAFETY: `value` is a valid, exclusive `Option<Done>` that is `None` here (checked, or just
    // reset), which owns nothing: overwriting it without its drop glue loses nothing, and
    // spares the call to that glue a plain assignment makes on every completion.
    unsafe { std::ptr::write(value, Some(Done { result })) };
}

#[cold]
#[inline(never)]
fn drop_value(value: &mut Option<Done>) {
    *value = None;
}

impl<B: Batch> Drop for Collector<B> {
    fn drop(&mut self) {
        // Spent values (all `None`) are dropped only if they own memory (a `Vec`'s buffer).
        if !self.taken || B::SPENT_NEEDS_DROP {
            // SAFETY: `new` initialized the values; they are dropped only here, once, and
            // nothing uses them afterwards.
            unsafe { self.values.assume_init_drop() }
        }
    }
}

impl<B: Batch> std::fmt::Debug for Collector<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("len", &self.len()).finish()
    }
}

// Only where a panic unwinds (WASI's panics abort).
#[cfg(all(test, panic = "unwind"))]
mod tests {
    use super::Collector;
    use crate::op::Nop;

    /// A batch too long for its values (`Vec` capacity overflow: only a batch of zero-sized
    /// ops can be that long) panics in `new`, which must not drop the values it never made.
    #[test]
    fn a_panic_while_making_the_values_drops_none() {
        let mut batch: Vec<Nop> = Vec::new();
        #[allow(clippy::uninit_vec)] // nothing to initialize in a zero-sized value
        // SAFETY: `Nop` is zero-sized (a `Vec` of it has room for `usize::MAX`), so every
        // element is initialized (it has no bytes).
        unsafe {
            batch.set_len(usize::MAX)
        };
        let made = std::panic::catch_unwind(|| Collector::new(&batch).len());
        assert!(made.is_err(), "the values cannot be allocated");
    }
}
