//! [`Dynamic`]: a long-lived queue of ops with a fixed capacity, and [`scope`].
//!
//! # Soundness
//!
//! The kernel (or a backend's worker thread) may read and write an op's memory from the moment
//! the op is queued until its completion is reaped. Rust must therefore never free or move that
//! memory earlier, whatever safe code does — including dropping the `Dynamic` or
//! `mem::forget`-ing it while ops are in flight. The argument:
//!
//! * Per-op state that the OS writes (addresses, message headers, timespecs, siginfo) lives in
//!   the `Dynamic`'s own slots, never moved or freed while an op is in flight: they are
//!   allocated in segments, and [`Dynamic::grow`] only adds segments (`dynamic/slots.rs`).
//!   Forgetting a `Dynamic` leaks them, which is safe.
//! * Caller memory (buffers, paths, descriptors) is borrowed by the ops for a lifetime that the
//!   `Dynamic` type carries: `Dynamic<'env>` accepts only ops that live at least `'env`.
//!   * [`Dynamic::new`] makes a `Dynamic<'static>`: ops must borrow nothing shorter than
//!     `'static` (leaked or static buffers), so no drop or forget can free their memory early.
//!   * [`scope`] makes a `Dynamic<'env>` for borrowed memory. The `Dynamic` is owned by
//!     `scope`'s own stack frame and the closure only sees `&mut Dynamic`, so it can be
//!     neither dropped nor forgotten early; `scope` does not return (nor unwind) before every
//!     op has completed. `'env` is a lifetime of the caller's, so memory borrowed for it
//!     outlives the whole `scope` call.
//!   * `Dynamic` is invariant in `'env`: a `Dynamic<'long>` can never be used as a
//!     `Dynamic<'short>` to smuggle in shorter-lived borrows.
//! * [`Dynamic::run`] takes ops borrowing anything that outlives the call, because it does
//!   not return before they completed; a guard on its stack frame cancels and waits for them
//!   if it must leave early (an OS error, or unwinding from a panicking callback).
//! * Dropping a `Dynamic` with ops in flight cancels them and waits for every completion. If
//!   the OS fails while waiting (it should not), the process aborts rather than free memory
//!   the kernel may still write.
//! * Completions are matched to slots by [`Id`] with a generation; a late or duplicate
//!   completion for a released slot is ignored.
//!
//! [`queue_unchecked`](Dynamic::queue_unchecked) is the `unsafe` escape hatch for callers that
//! uphold the rule by other means (the coroutine scheduler keeps a task's stack alive until its
//! ops complete).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::time::Duration;

use crate::backend::{AnyBackend, Backend, BackendKind, Queued};
use crate::batch::sealed::BatchImpl;
use crate::batch::{Batch, Done};
use crate::error::invalid_input;
use crate::id::{Id, IdAllocator};
use crate::op::RawOp;
use crate::raw::{Link, OpState};

/// One op's memory. Laid out so that what every op writes when queued and reads when reaped
/// (the op, its user data, its run index and link, and the state's tag) shares the slot's
/// first cache line: an op without state (a send, a receive) touches one line, not the four
/// the whole slot spans. With many ops in flight (a connection each) the slots outgrow the
/// caches, and each line an op touches is a miss.
#[repr(C, align(64))]
struct Slot {
    op: RawOp,
    user_data: u64,
    /// The op's index in the batch of a running [`Dynamic::run`], or [`NO_RUN`].
    run_index: u32,
    /// How the op is linked to the next one of its batch (read back if a batch stops
    /// streaming).
    link: Link,
    /// Its target is a registered file slot (`Queued::fixed`; read back likewise).
    fixed: bool,
    state: OpState,
}

const NO_RUN: u32 = u32::MAX;

/// A queue of IO ops with a capacity: queue batches, then collect completions.
///
/// The capacity is the number of ops that may be in flight at once; it is set at creation and
/// changes only if [`grow`](Dynamic::grow) raises it. Queueing and completing allocate nothing
/// (except ops with paths, which copy their path). A `Dynamic` belongs to the thread that created it (it is not `Send`).
///
/// ```
/// use corio_aio::{Dynamic, Mode, op::{self, OpExt}};
/// use std::time::Duration;
///
/// let mut ring = Dynamic::new(16)?;
/// let [nop, timer] = ring.queue((op::Nop::new().user_data(1), op::Timeout::new(Duration::from_millis(1)).user_data(2)))?;
/// let mut seen = Vec::new();
/// while ring.in_flight() > 0 {
///     ring.complete(Mode::Blocking, |c| seen.push((c.id, c.user_data, c.result.is_ok())))?;
/// }
/// seen.sort_by_key(|s| s.1);
/// assert_eq!(seen, [(nop, 1, true), (timer, 2, true)]);
/// # std::io::Result::Ok(())
/// ```
pub struct Dynamic<'env> {
    ids: IdAllocator,
    slots: Slots,
    backend: AnyBackend,
    /// The ids of the batch being queued: those streamed while it streams, then every op's.
    queued: Vec<Id>,
    /// The ops of the batch being queued, for the backend's `queue` (only filled when the
    /// batch is not streamed).
    scratch: Vec<Queued>,
    /// Ops queued so far, by kind (the op table's position): `RuntimeExt::queued_by_kind`.
    kinds_queued: [u64; crate::op::KINDS],
    /// See [`set_timer_spin`](Dynamic::set_timer_spin).
    timer_spin: Duration,
    /// Registered buffers (`dynamic/buffers.rs`); after `backend`, so that the ring is closed
    /// before this reference goes.
    buffers: Option<std::rc::Rc<buffers::Region>>,
    /// Provided-buffer groups (`dynamic/groups.rs`), by group id; after `backend`, as
    /// `buffers`.
    groups: Vec<std::rc::Rc<groups::Group>>,
    /// Unique per `Dynamic`: ops naming another one's group are refused.
    serial: u64,
    /// The size of the registered file table (`dynamic/files.rs`); 0 before there is one.
    file_slots: u32,
    _env: PhantomData<fn(&'env ()) -> &'env ()>,
    _not_send: PhantomData<*const ()>,
}

impl Dynamic<'static> {
    /// A `Dynamic` for ops that borrow nothing shorter than `'static`; see [`scope`] for
    /// borrowed buffers.
    pub fn new(capacity: u32) -> io::Result<Dynamic<'static>> {
        Dynamic::create(capacity, None)
    }

    /// Like [`Dynamic::new`], on the given backend instead of the
    /// [default](crate::default_backend) one (fails if that backend is unavailable).
    pub fn with_backend(capacity: u32, backend: BackendKind) -> io::Result<Dynamic<'static>> {
        Dynamic::create(capacity, Some(backend))
    }
}

/// Runs `f` with a [`Dynamic`] whose ops may borrow anything that outlives the call; returns
/// after every op queued in it has completed (ops still in flight when `f` returns are
/// canceled, and waited for).
///
/// ```
/// use corio_aio::{Mode, op};
/// let file = std::fs::File::open("/dev/zero")?;
/// let mut a = [1u8; 8];
/// let mut b = [1u8; 8];
/// corio_aio::scope(8, |ring| {
///     ring.queue((op::Read::new(&file, &mut a), op::Read::new(&file, &mut b)))?;
///     ring.complete_all(|_| {})
/// })??;
/// assert_eq!(a, b);
/// # std::io::Result::Ok(())
/// ```
pub fn scope<'env, R>(capacity: u32, f: impl FnOnce(&mut Dynamic<'env>) -> R) -> io::Result<R> {
    let mut dynamic = Dynamic::create(capacity, None)?;
    Ok(f(&mut dynamic))
    // `dynamic` drops here, or while unwinding: its drop cancels and drains.
}

/// Like [`scope`], on the given backend instead of the [default](crate::default_backend) one.
pub fn scope_with<'env, R>(
    capacity: u32,
    backend: BackendKind,
    f: impl FnOnce(&mut Dynamic<'env>) -> R,
) -> io::Result<R> {
    let mut dynamic = Dynamic::create(capacity, Some(backend))?;
    Ok(f(&mut dynamic))
    // As in `scope`: `dynamic` drops here, or while unwinding, and its drop drains.
}

impl<'env> Dynamic<'env> {
    fn create(capacity: u32, kind: Option<BackendKind>) -> io::Result<Dynamic<'env>> {
        if capacity == 0 {
            return Err(invalid_input("a Dynamic needs a capacity of at least 1"));
        }
        let backend = AnyBackend::new(capacity, kind)?;
        log::debug!("Dynamic({capacity}) on {}", backend.describe());
        let slots = Slots::new(capacity as usize);
        Ok(Dynamic {
            ids: IdAllocator::new(capacity),
            slots,
            backend,
            queued: Vec::with_capacity(capacity as usize),
            scratch: Vec::with_capacity(capacity as usize),
            kinds_queued: [0; crate::op::KINDS],
            timer_spin: Duration::ZERO,
            buffers: None,
            groups: Vec::new(),
            serial: groups::next_serial(),
            file_slots: 0,
            _env: PhantomData,
            _not_send: PhantomData,
        })
    }

    /// The most ops that may be in flight at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.ids.capacity()
    }

    /// Raises the capacity to at least `capacity` ops in flight (no change if it is that large
    /// already): for a runtime whose callers may park more ops than it was created for.
    ///
    /// The capacity doubles until it is large enough (it stays the creation capacity times a
    /// power of two) and never shrinks. Each doubling adds a block of slots: slots in use never
    /// move, so ops in flight are unaffected, and the memory of the new slots is allocated
    /// now. On io_uring the ring keeps the size it was created with (twice the creation
    /// capacity, at most 32,768 entries): more ops than that may be in flight (the kernel keeps
    /// completions that do not fit the ring), but one batch must still fit it.
    ///
    /// Fails, changing nothing, with [`Unsupported`](io::ErrorKind::Unsupported) on the IOCP
    /// backend (whose per-op memory is registered once, at creation), or with
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) past 2³² − 2 ops.
    ///
    /// ```
    /// use corio_aio::{Dynamic, op::Nop};
    /// let mut ring = Dynamic::new(2)?;
    /// ring.queue([Nop::new(); 2])?;
    /// # if ring.backend() != corio_aio::BackendKind::Iocp {
    /// ring.grow(5)?;
    /// assert_eq!(ring.capacity(), 8);
    /// ring.queue([Nop::new(); 6])?;
    /// assert_eq!(ring.complete_all(|_| {})?, 0);
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn grow(&mut self, capacity: usize) -> io::Result<()> {
        let mut len = self.slots.len();
        if capacity <= len {
            return Ok(());
        }
        while len < capacity {
            len = len.saturating_mul(2);
        }
        let len32 = u32::try_from(len).ok().filter(|&l| l < u32::MAX - 1);
        let Some(len32) = len32 else {
            return Err(invalid_input("a Dynamic holds fewer than 2^32 - 2 ops in flight"));
        };
        if !self.backend.grow(len) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the {:?} backend cannot grow its queue", self.backend.kind()),
            ));
        }
        while self.slots.len() < len {
            self.slots.grow();
        }
        self.ids.grow(len32);
        self.queued.reserve(len.saturating_sub(self.queued.len()));
        self.scratch.reserve(len.saturating_sub(self.scratch.len()));
        log::debug!("Dynamic grown to {len} ops");
        Ok(())
    }

    /// Ops queued and not yet reaped by [`complete`](Dynamic::complete).
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.ids.in_use()
    }

    /// Which backend this `Dynamic` runs on.
    #[must_use]
    pub fn backend(&self) -> BackendKind {
        self.backend.kind()
    }

    /// A one-line description of the backend and the OS features in use, e.g.
    /// `io_uring (SINGLE_ISSUER|DEFER_TASKRUN)`.
    #[must_use]
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Precise timers: the longest the event loop busy-polls before a timer's deadline instead
    /// of sleeping through it. Zero (the default) turns it off.
    ///
    /// A thread that sleeps until a deadline wakes when the OS gets round to it: on virtual
    /// machines often 100–200 µs late, now and then more. With a spin window, the waits end
    /// before the window starts and the rest is covered by non-blocking polls of the OS in a
    /// loop, so a timeout ([`Timeout`](crate::op::Timeout),
    /// [`LinkTimeout`](crate::op::LinkTimeout)) fires within a few microseconds of its
    /// deadline as long as the thread keeps its CPU. IO that becomes ready and cross-thread
    /// notifications are still completed during the loop, and a blocking
    /// [`complete`](Dynamic::complete) returns as soon as anything completes, as it would from
    /// a wait; a nonblocking one never spins, nor does a wait with no timer armed.
    ///
    /// The price is CPU: up to `spin` of one core busy per timer expiry (per distinct
    /// deadline), which also keeps that core from idling or from running another thread. A
    /// window of a few hundred microseconds covers a VM's usual late wake-ups; a longer one
    /// also covers rarer ones, at more CPU. Worth it for latency-sensitive timers (pacing,
    /// deadlines), not for timeouts that only guard against hangs.
    ///
    /// The emulation backends honour it for every timer: [`Posix`](BackendKind::Posix) and
    /// [`Iocp`](BackendKind::Iocp) (whose waits are in whole milliseconds, so a window under
    /// 1 ms helps little there). On [`IoUring`](BackendKind::IoUring) it applies to plain
    /// timeouts (those outside any chain, kept in a user-space heap); a timeout in a chain and
    /// a link timeout are kernel timeouts, which it does not reach.
    ///
    /// ```
    /// use corio_aio::{Dynamic, op};
    /// use std::time::{Duration, Instant};
    /// let mut ring = Dynamic::new(8)?;
    /// ring.set_timer_spin(Duration::from_micros(200));
    /// let start = Instant::now();
    /// ring.run(op::Timeout::new(Duration::from_millis(1)), |_| {})??;
    /// assert!(start.elapsed() >= Duration::from_millis(1));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_timer_spin(&mut self, spin: Duration) {
        self.timer_spin = spin;
        self.backend.set_timer_spin(spin);
    }

    /// The busy-poll window set with [`set_timer_spin`](Dynamic::set_timer_spin) (zero: off),
    /// whether or not the backend honours it.
    #[must_use]
    pub fn timer_spin(&self) -> Duration {
        self.timer_spin
    }

    /// Queues a batch (one op, a tuple, an array or a `Vec`) atomically: either every op is
    /// queued and their ids are returned, or none is and the error says why (capacity, a
    /// misplaced link, an invalid input). Nothing reaches the OS before
    /// [`complete`](Dynamic::complete).
    pub fn queue<B: Batch + 'env>(&mut self, batch: B) -> io::Result<B::Ids> {
        // SAFETY: `B: 'env`, so everything the ops borrow outlives `'env`, and the type's
        // invariants (see the module docs) keep `self` from being freed before its ops complete.
        unsafe { self.queue_unchecked(batch) }
    }

    /// Like [`queue`](Dynamic::queue), without requiring the ops' borrows to outlive `'env`.
    ///
    /// # Safety
    ///
    /// Everything the ops borrow must stay valid, and not be moved, until each op's completion
    /// has been reaped by [`complete`](Dynamic::complete) (or by dropping this `Dynamic`).
    pub unsafe fn queue_unchecked<B: Batch>(&mut self, batch: B) -> io::Result<B::Ids> {
        self.queue_batch(batch, false, false)
    }

    /// Queues a batch; with `run`, its ops are marked with their index for [`Dynamic::run`];
    /// with `one_report`, multishot ops are refused (the caller counts one completion per op).
    /// Callers guarantee that what the ops borrow stays valid until their completions are
    /// reaped (the `Dynamic`'s soundness argument, module docs).
    #[inline]
    fn queue_batch<B: BatchImpl>(&mut self, batch: B, run: bool, one_report: bool) -> io::Result<B::Ids> {
        let n = batch.len();
        if n == 0 {
            return Err(invalid_input("empty batch: no work to be done"));
        }
        if n > self.ids.available() {
            return Err(io::Error::new(
                io::ErrorKind::QuotaExceeded,
                format!(
                    "batch of {n} ops exceeds the free capacity of this Dynamic ({} of {})",
                    self.ids.available(),
                    self.capacity()
                ),
            ));
        }
        self.queued.clear();
        self.scratch.clear();
        // Where it can, the backend takes each op as soon as it is prepared (io_uring: straight
        // into the submission queue, published only if the whole batch is queued); only the
        // ids are recorded then.
        let stream = self.backend.stream(n)?;
        let mut queuer = Queuer {
            ids: &mut self.ids,
            slots: &self.slots,
            queued: &mut self.queued,
            scratch: &mut self.scratch,
            kinds_queued: &mut self.kinds_queued,
            index: 0,
            stream,
            run,
            one_report: one_report || run,
            owner: self.serial,
            last_link: Link::Unlinked,
            last_is_link_timeout: false,
        };
        let mut result = batch.visit(&mut queuer);
        let (stream, last_link) = (queuer.stream, queuer.last_link);
        if result.is_ok() && last_link != Link::Unlinked {
            result = Err(invalid_input("the last op of a batch must be unlinked"));
        }
        match stream {
            // SAFETY: what the ops borrow outlives their completions (the contract of
            // `queue_batch`'s callers: `queue`, `queue_unchecked`, `run`; see # Soundness);
            // their states live in `self.slots`, which stays put and untouched by us while
            // they are in flight; their ids come from `self.ids`, unique and within the
            // backend's capacity.
            Some(stream) if result.is_ok() => unsafe { stream.commit() },
            // A stream not committed is rolled back: nothing of this batch reached the backend.
            // SAFETY: as above.
            _ if result.is_ok() => result = unsafe { self.backend.queue(&self.scratch) },
            _ => {}
        }
        // Every op's id, in order: the streamed ones are in `queued`, all in `scratch` if
        // streaming stopped.
        if !self.scratch.is_empty() {
            self.queued.extend(self.scratch.iter().map(|q| q.id));
        }
        if let Err(e) = result {
            for &id in &self.queued {
                // SAFETY: the op never reached the backend (a stream not committed was rolled
                // back); nothing else references its slot, and the allocator handed out its
                // index, which is in bounds.
                let slot = unsafe { &mut *self.slots.get(id.slot() as usize).get() };
                self.kinds_queued[slot.op.index()] -= 1;
                abandon(&slot.op);
                slot.state = OpState::Empty;
                self.ids.release(id);
            }
            return Err(e);
        }
        Ok(B::ids(&self.queued))
    }

    /// Submits queued ops and reaps completions, calling `on_complete` for each.
    ///
    /// [`Mode::Blocking`] waits until at least one op completes, unless none is in flight.
    /// Returns how many completed and how many of those failed (a disarmed
    /// [`LinkTimeout`](crate::op::LinkTimeout) is not a failure).
    pub fn complete(&mut self, mode: Mode, mut on_complete: impl FnMut(Completion)) -> io::Result<Completed> {
        self.reap(
            mode,
            #[inline(always)]
            |_, c| on_complete(c),
        )
    }

    /// Like [`complete`](Dynamic::complete) with [`Mode::Blocking`], but waits until at least
    /// `n` ops completed (or every op in flight, if fewer than `n` are), calling `on_complete`
    /// for each. `n == 0` only collects what has already completed.
    ///
    /// On io_uring this is one `io_uring_enter` that waits for `n` completions (its
    /// `min_complete`) instead of one wait per completion: a caller that knows how many
    /// completions it needs before it can make progress (say both ends of a ping-pong) sleeps
    /// once. Completions of internal entries (the cancel queued before a
    /// [`Close`](crate::op::Close)) may end a kernel wait early; it then waits again, so the
    /// count holds on every backend.
    ///
    /// ```
    /// use corio_aio::{Dynamic, op};
    /// use std::time::Duration;
    /// let mut ring = Dynamic::new(8)?;
    /// ring.queue((op::Nop::new(), op::Timeout::new(Duration::from_millis(5)), op::Nop::new()))?;
    /// let done = ring.complete_at_least(3, |c| assert!(c.result.is_ok()))?;
    /// assert_eq!(done.completed, 3);
    /// assert_eq!(ring.in_flight(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn complete_at_least(&mut self, n: usize, mut on_complete: impl FnMut(Completion)) -> io::Result<Completed> {
        self.reap_at_least(
            n,
            false,
            #[inline(always)]
            |slot, id, result, more| {
                on_complete(Completion { id, user_data: slot.user_data, op: slot.op.name(), result, more })
            },
        )
    }

    /// Runs `batch` to completion and returns each op's result, as [`complete`](crate::complete)
    /// does; completions of other ops that arrive meanwhile go to `others`.
    ///
    /// Unlike [`queue`](Dynamic::queue), the ops may borrow anything that outlives this call
    /// (a buffer can be reused from one `run` to the next): `run` does not return, nor unwind,
    /// before every op of `batch` has completed. If it must give up early (an OS error, or a
    /// panic in `others`), it cancels the batch's remaining ops and waits for them; completions
    /// of other ops reaped while doing so are dropped.
    ///
    /// ```
    /// use corio_aio::{Dynamic, op};
    /// let file = std::fs::File::open("/dev/zero")?;
    /// let mut ring = Dynamic::new(8)?;
    /// let mut buf = [1u8; 64];
    /// for _ in 0..3 {
    ///     let n = ring.run(op::Read::new(&file, &mut buf), |_| {})??;
    ///     assert_eq!(n, 64);
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn run<B: Batch>(&mut self, batch: B, mut others: impl FnMut(Completion)) -> io::Result<B::Results> {
        Ok(B::results(&mut self.run_values(batch, &mut others)?))
    }

    /// [`run`](Dynamic::run), returning the raw per-op values (the immediate API's engine).
    pub(crate) fn run_values<B: BatchImpl>(
        &mut self,
        batch: B,
        others: &mut impl FnMut(Completion),
    ) -> io::Result<B::Values> {
        let mut values = B::values(batch.len());
        let n = batch.len();
        self.queue_batch(batch, true, true)?;
        let mut guard = RunGuard { dynamic: self, remaining: n };
        while guard.remaining > 0 {
            let (slots, remaining) = (values.as_mut(), &mut guard.remaining);
            // Every op of the batch reports once, so waiting for all of them at once is safe
            // (one kernel wait for a batch on io_uring; the others wait for one at a time).
            guard.dynamic.reap_min(*remaining, |index, c| {
                if index == NO_RUN {
                    others(c);
                } else {
                    slots[index as usize] = Some(Done { result: c.result });
                    *remaining -= 1;
                }
            })?;
        }
        Ok(values)
    }

    /// Completes until no op is in flight; returns the number of ops that failed.
    pub fn complete_all(&mut self, on_complete: impl FnMut(Completion)) -> io::Result<usize> {
        // One wait for everything in flight (on io_uring: one kernel wait, not one per CQE).
        Ok(self.complete_at_least(self.in_flight(), on_complete)?.errors)
    }

    /// Cancels every op in flight and waits for all of them.
    ///
    /// Cancels again after each completion: an op that had not started when the cancels went
    /// out (the follower of a hard link, started once its predecessor ended canceled) is not
    /// found by them, and would otherwise run to its end.
    fn drain(&mut self) -> io::Result<()> {
        while self.in_flight() > 0 {
            let (ids, backend) = (&self.ids, &mut self.backend);
            backend.cancel(&mut ids.live())?;
            self.complete(Mode::Blocking, drop)?;
        }
        Ok(())
    }
}

impl Drop for Dynamic<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.drain() {
            // Returning would free memory the kernel may still write into.
            eprintln!("corio: cannot wait for in-flight IO ({e}); aborting to stay memory safe");
            std::process::abort();
        }
    }
}

impl fmt::Debug for Dynamic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dynamic")
            .field("backend", &self.backend.describe())
            .field("capacity", &self.capacity())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Releases what a never-run op owns: a [`RawOp::Close`]'s descriptor.
fn abandon(op: &RawOp) {
    if let RawOp::Close { fd } = *op {
        // SAFETY: the close op owned `fd` (taken from an owned descriptor) and never ran.
        unsafe { crate::sys::close_raw(fd) };
    }
}

// The registered file table.
mod files;

// Registered buffers.
mod buffers;
pub use buffers::FixedBuf;

// Provided-buffer groups.
pub(crate) mod groups;
pub use groups::{BufferGroup, BufferGroupOptions, ProvidedBuf};

// What completing reports.
mod completion;
pub use completion::{Completed, Completion, Mode};

// Queueing one op of a batch; a child module for access to the slots.
mod queuer;
use queuer::Queuer;

// The slots, in segments that never move.
mod slots;
use slots::Slots;

// Hooks for runtimes (the coroutine scheduler); a child module for access to the slots.
mod runtime;
pub use runtime::{OP_KINDS, OpTarget, RuntimeExt, op_kind_name};

// Turning a batch's completions back into its typed outputs (for runtimes).
mod collector;
pub use collector::{Collector, CollectorSink};

// Messages between rings (a runtime's cross-thread doorbell).
pub(crate) mod messages;
pub use messages::RingTarget;

// Reaping the backend's reports into the slots' completions; a child module for access to
// the slots.
mod reap;

// The guard of `run`; a child module for access to the slots.
mod run_guard;
use run_guard::RunGuard;
