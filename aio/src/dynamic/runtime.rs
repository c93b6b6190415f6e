//! Hooks for runtimes built on [`Dynamic`] (corio-coro's scheduler), exported as
//! [`crate::__private`]: not public API, not covered by semver.
//!
//! A runtime that multiplexes many callers over one `Dynamic` needs three things the plain API
//! does not give: queueing a batch with user data that says *which caller and which op of its
//! batch* each completion belongs to ([`RuntimeExt::queue_tagged_unchecked`]), finding a caller's
//! ops in flight to cancel them ([`RuntimeExt::in_flight_ops`]), and turning the completions of one
//! batch back into that batch's typed outputs ([`Collector`](super::Collector), in
//! `collector.rs`), as the immediate API does.

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use super::{Completed, Dynamic, RingTarget};
use crate::backend::Backend;
use crate::batch::Batch;
use crate::batch::sealed::{BatchImpl, Visit};
use crate::id::Id;
use crate::op::sealed::Prepare;
use crate::raw::{Link, Value};

/// A batch whose ops carry user data `tag + index`.
struct Tagged<B> {
    batch: B,
    tag: u64,
}

struct TagVisit<'a, V> {
    inner: &'a mut V,
    tag: u64,
    index: u64,
}

impl<V: Visit> Visit for TagVisit<'_, V> {
    #[inline(always)]
    fn op<P: Prepare>(&mut self, link: Link, _user_data: u64, op: P) -> io::Result<()> {
        let user_data = self.tag.wrapping_add(self.index);
        self.index += 1;
        self.inner.op(link, user_data, op)
    }
}

impl<B: BatchImpl> BatchImpl for Tagged<B> {
    type Ids = B::Ids;
    type Outputs = B::Outputs;
    type Results = B::Results;
    type Values = B::Values;
    fn len(&self) -> usize {
        self.batch.len()
    }
    fn visit<V: Visit>(self, v: &mut V) -> io::Result<()> {
        self.batch.visit(&mut TagVisit { inner: v, tag: self.tag, index: 0 })
    }
    fn ids(ids: &[Id]) -> Self::Ids {
        B::ids(ids)
    }
    fn values(len: usize) -> Self::Values {
        B::values(len)
    }
    fn init_values(values: &mut MaybeUninit<Self::Values>, len: usize) {
        B::init_values(values, len)
    }
    fn results(values: &mut Self::Values) -> Self::Results {
        B::results(values)
    }
    fn outputs(values: &mut Self::Values) -> io::Result<Self::Outputs> {
        B::outputs(values)
    }
    const SPENT_NEEDS_DROP: bool = B::SPENT_NEEDS_DROP;
}

/// How many kinds of op the op table has: the length of [`RuntimeExt::count_kinds`]'s counts.
pub const OP_KINDS: usize = crate::op::KINDS;

/// The op table's name of kind `index` (below [`OP_KINDS`], as [`RuntimeExt::count_kinds`]
/// counts them): `"read"`, `"timeout"`, …
///
/// # Panics
///
/// If `index >= OP_KINDS`.
#[must_use]
pub fn op_kind_name(index: usize) -> &'static str {
    crate::op::KIND_NAMES[index]
}

/// What an op in flight works on ([`RuntimeExt::op_target`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpTarget {
    /// The descriptor it names (a file descriptor; a handle or socket on Windows, as a
    /// number), if any; a slot of the registered file table if `fixed`.
    pub fd: Option<i64>,
    /// `fd` is a [`Fixed`](crate::op::Fixed) slot, not a descriptor.
    pub fixed: bool,
    /// A timeout's duration (from when it was queued), if the op is a timeout or link timeout.
    pub timeout: Option<Duration>,
}

/// The [`Dynamic`] methods a runtime needs besides the plain API (see the
/// module docs, `aio/src/dynamic/runtime.rs`). Reached through [`crate::__private`] only: not
/// public API.
pub trait RuntimeExt<'env> {
    /// Like [`queue`](Dynamic::queue), but the op at position `index` of the batch gets the
    /// user data `tag + index` (wrapping), replacing any user data of its own. A batch with a
    /// multishot op is refused (`InvalidInput`): a runtime records one completion per op.
    fn queue_tagged<B: Batch + 'env>(&mut self, batch: B, tag: u64) -> io::Result<B::Ids>;

    /// Like [`queue_unchecked`](Dynamic::queue_unchecked), but the op at position `index` of
    /// the batch gets the user data `tag + index` (wrapping), replacing any user data of its own.
    ///
    /// # Safety
    ///
    /// As for [`queue_unchecked`](Dynamic::queue_unchecked): everything the ops borrow must
    /// stay valid, and not be moved, until each op's completion has been reaped.
    unsafe fn queue_tagged_unchecked<B: Batch>(&mut self, batch: B, tag: u64) -> io::Result<B::Ids>;

    /// Like [`complete_at_least`](Dynamic::complete_at_least), but hands `on_complete` the
    /// parts of each completion (its id, user data and result) instead of a [`Completion`](super::Completion), and
    /// counts towards `n` every report, a multishot op's that say more follow included (each
    /// may wake a caller of the runtime). A
    /// runtime that routes every completion by its user data (to the task that queued the op)
    /// saves building a `Completion` and looking up the op's name per completion, and gets the
    /// result where it can record it in place.
    ///
    /// ```
    /// use corio_aio::__private::{Collector, RuntimeExt};
    /// use corio_aio::{Dynamic, op};
    /// let mut ring = Dynamic::new(4)?;
    /// let batch = [op::Nop::new(); 2];
    /// let mut collector = Collector::new(&batch);
    /// ring.queue_tagged(batch, 7 << 32)?;
    /// let sink = collector.sink();
    /// let done = ring.complete_at_least_parts(2, |_id, user_data, result| {
    ///     assert_eq!(user_data >> 32, 7);
    ///     // SAFETY: `collector` stays where it is and is not used until both are recorded.
    ///     unsafe { sink.record(user_data as u32 as usize, result) };
    /// })?;
    /// assert_eq!(done.completed, 2);
    /// let [(), ()] = collector.take_outputs()?;
    ///
    /// // A multishot accept's first report (more follow) is enough for `n = 1`.
    /// # #[cfg(not(target_os = "wasi"))] {
    /// let listener: &'static _ = Box::leak(Box::new(std::net::TcpListener::bind("127.0.0.1:0")?));
    /// let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let id = ring.queue(op::AcceptMulti::new(listener))?;
    /// let done = ring.complete_at_least_parts(1, |_, _, result| assert!(result.is_ok()))?;
    /// assert_eq!((done.completed, done.more), (0, 1));
    /// ring.queue(op::Cancel::new(id))?;
    /// ring.complete_all(drop)?;
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    fn complete_at_least_parts(
        &mut self,
        n: usize,
        on_complete: impl FnMut(Id, u64, io::Result<Value>),
    ) -> io::Result<Completed>;

    /// The ids of the ops of the batch queued last (in batch order), until the next batch is
    /// queued: a runtime that may cancel a caller's ops keeps these instead of scanning every
    /// op in flight ([`in_flight_ops`](RuntimeExt::in_flight_ops)) to find them.
    ///
    /// ```
    /// use corio_aio::__private::RuntimeExt;
    /// use corio_aio::{Dynamic, op};
    /// let mut ring = Dynamic::new(4)?;
    /// let ids = ring.queue([op::Nop::new(); 2])?;
    /// assert_eq!(ring.last_queued(), ids);
    /// assert!(ids.iter().all(|&id| ring.is_in_flight(id)));
    /// ring.complete_all(drop)?;
    /// assert!(!ring.is_in_flight(ids[0]));
    /// # std::io::Result::Ok(())
    /// ```
    fn last_queued(&self) -> &[Id];

    /// Whether the op `id` is in flight (queued and not yet reaped); `false` for an id whose
    /// completion was reaped, even if its slot is in use again.
    fn is_in_flight(&self, id: Id) -> bool;

    /// Like [`in_flight_ops`](RuntimeExt::in_flight_ops), with each op's name from the op table
    /// (`"recv"`, `"timeout"`, …): for diagnostics, such as a runtime listing what its tasks
    /// wait on.
    ///
    /// ```
    /// use corio_aio::__private::RuntimeExt;
    /// use corio_aio::{Dynamic, op};
    /// use std::time::Duration;
    /// let mut ring = Dynamic::new(4)?;
    /// ring.queue_tagged(op::Timeout::new(Duration::from_secs(60)), 5)?;
    /// let ops: Vec<_> = ring.in_flight_ops_named().map(|(_, user_data, name)| (user_data, name)).collect();
    /// assert_eq!(ops, [(5, "timeout")]);
    /// # std::io::Result::Ok(())
    /// ```
    fn in_flight_ops_named(&self) -> impl Iterator<Item = (Id, u64, &'static str)> + '_;

    /// The id and user data of every op in flight (queued and not yet reaped), in slot order.
    fn in_flight_ops(&self) -> impl Iterator<Item = (Id, u64)> + '_;

    /// The op table's name of the op `id` (`"recv"`, `"timeout"`, …) while it is in flight.
    ///
    /// ```
    /// use corio_aio::__private::RuntimeExt;
    /// use corio_aio::{Dynamic, op};
    /// let mut ring = Dynamic::new(4)?;
    /// let id = ring.queue(op::Nop::new())?;
    /// assert_eq!(ring.op_name(id), Some("nop"));
    /// ring.complete_all(drop)?;
    /// assert_eq!(ring.op_name(id), None);
    /// # std::io::Result::Ok(())
    /// ```
    fn op_name(&self, id: Id) -> Option<&'static str>;

    /// Adds one to `counts[k]` for each op of `ids` in flight, `k` being its kind's position
    /// in the op table ([`op_kind_name`] names it; `counts` has [`OP_KINDS`] entries): a cheap
    /// count by kind of the ops just queued.
    ///
    /// ```
    /// use corio_aio::__private::{OP_KINDS, RuntimeExt, op_kind_name};
    /// use corio_aio::{Dynamic, op};
    /// let mut ring = Dynamic::new(4)?;
    /// ring.queue([op::Nop::new(); 3])?;
    /// let mut counts = [0u64; OP_KINDS];
    /// ring.count_kinds(ring.last_queued(), &mut counts);
    /// let counted: Vec<_> = (0..OP_KINDS).filter(|&k| counts[k] > 0).map(|k| (op_kind_name(k), counts[k])).collect();
    /// assert_eq!(counted, [("nop", 3)]);
    /// # std::io::Result::Ok(())
    /// ```
    fn count_kinds(&self, ids: &[Id], counts: &mut [u64; OP_KINDS]);

    /// How many ops were queued so far, by kind (the op table's position: [`op_kind_name`]
    /// names it). A rolled-back batch's ops are not counted.
    ///
    /// ```
    /// use corio_aio::__private::{RuntimeExt, op_kind_name};
    /// use corio_aio::{Dynamic, op};
    /// let mut ring = Dynamic::new(4)?;
    /// ring.queue([op::Nop::new(); 3])?;
    /// let queued = ring.queued_by_kind();
    /// let counted: Vec<_> = (0..queued.len()).filter(|&k| queued[k] > 0).map(|k| (op_kind_name(k), queued[k])).collect();
    /// assert_eq!(counted, [("nop", 3)]);
    /// # std::io::Result::Ok(())
    /// ```
    fn queued_by_kind(&self) -> &[u64; OP_KINDS];

    /// What the op `id` works on while it is in flight (see [`OpTarget`]): for diagnostics,
    /// such as a runtime's dump of what its tasks wait on.
    ///
    /// ```
    /// use corio_aio::__private::RuntimeExt;
    /// use corio_aio::op;
    /// use std::time::Duration;
    /// # #[cfg(unix)] {
    /// use std::os::fd::AsRawFd;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let mut buf = [0u8; 8];
    /// corio_aio::scope(4, |ring| {
    ///     let id = ring.queue(op::Recv::new(&a, &mut buf))?;
    ///     let recv = ring.op_target(id).unwrap();
    ///     assert_eq!((recv.fd, recv.timeout), (Some(i64::from(a.as_raw_fd())), None));
    ///     let id = ring.queue(op::Timeout::new(Duration::from_secs(9)))?;
    ///     let timeout = ring.op_target(id).unwrap();
    ///     assert_eq!((timeout.fd, timeout.timeout), (None, Some(Duration::from_secs(9))));
    ///     std::io::Result::Ok(()) // the scope cancels both and waits for them
    /// })??;
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    fn op_target(&self, id: Id) -> Option<OpTarget>;

    /// A handle other threads' `Dynamic`s [send messages](RuntimeExt::send_message) to (see
    /// [`RingTarget`]); `None` unless this one runs on an io_uring with `MSG_RING` (5.18).
    ///
    /// ```
    /// use corio_aio::__private::RuntimeExt;
    /// use corio_aio::{Dynamic, op};
    /// use std::time::Duration;
    /// let mut ring = Dynamic::new(4)?;
    /// let Some(target) = ring.ring_target() else { return Ok(()) }; // no io_uring here
    /// std::thread::spawn(move || {
    ///     let mut sender = Dynamic::new(4)?;
    ///     sender.send_message(&target)?;
    ///     sender.complete(corio_aio::Mode::Nonblocking, drop) // submits it
    /// }).join().unwrap()?;
    /// // Something in flight, so the ring waits (and reaps): the message ends the wait early.
    /// ring.queue(op::Timeout::new(Duration::from_secs(60)))?;
    /// ring.complete_at_least_parts(1, |_, _, _| unreachable!())?;
    /// assert_eq!(ring.take_messages(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    fn ring_target(&self) -> Option<RingTarget>;

    /// Queues a message to `target` (another thread's ring), sent with this `Dynamic`'s next
    /// submission (at once if it has nothing in flight, since then no reaping call submits).
    /// `Unsupported` unless this `Dynamic` runs on an io_uring with `MSG_RING`.
    fn send_message(&mut self, target: &RingTarget) -> io::Result<()>;

    /// How many messages other rings sent this one since the last call.
    fn take_messages(&mut self) -> u32;

    /// Whether every multishot accept and receive holds its socket open itself for as long as
    /// it runs (io_uring's own multishot ops: the kernel holds the file). Otherwise (the
    /// emulations, and io_uring's stand-ins on kernels without them, which re-arm a single op
    /// by descriptor number after each arrival) an op abandoned while its socket's number is
    /// closed and given to another socket would go on with that one: a runtime that may abandon
    /// such an op names a duplicate descriptor it keeps until the op ended.
    ///
    /// ```
    /// use corio_aio::__private::RuntimeExt;
    /// let ring = corio_aio::Dynamic::new(4)?;
    /// if ring.backend() != corio_aio::BackendKind::IoUring {
    ///     assert!(!ring.multishot_holds_files());
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    fn multishot_holds_files(&self) -> bool;
}

impl<'env> RuntimeExt<'env> for Dynamic<'env> {
    #[inline]
    fn queue_tagged<B: Batch + 'env>(&mut self, batch: B, tag: u64) -> io::Result<B::Ids> {
        // SAFETY: `B: 'env`: the same argument as `queue`.
        unsafe { self.queue_tagged_unchecked(batch, tag) }
    }

    #[inline]
    unsafe fn queue_tagged_unchecked<B: Batch>(&mut self, batch: B, tag: u64) -> io::Result<B::Ids> {
        self.queue_batch(Tagged { batch, tag }, false, true)
    }

    #[inline]
    fn complete_at_least_parts(
        &mut self,
        n: usize,
        mut on_complete: impl FnMut(Id, u64, io::Result<Value>),
    ) -> io::Result<Completed> {
        self.reap_at_least(
            n,
            true,
            #[inline(always)]
            |slot, id, result, _more| on_complete(id, slot.user_data, result),
        )
    }

    fn last_queued(&self) -> &[Id] {
        &self.queued
    }

    fn is_in_flight(&self, id: Id) -> bool {
        self.ids.is_live(id)
    }

    fn in_flight_ops_named(&self) -> impl Iterator<Item = (Id, u64, &'static str)> + '_ {
        self.ids.live().map(|id| {
            // SAFETY: as in `in_flight_ops`: `user_data` and `op` are written only while the
            // op is queued (under `&mut self`), never by the OS.
            let (user_data, name) = unsafe {
                let slot = self.slots.get(id.slot() as usize).get();
                ((*slot).user_data, (*slot).op.name())
            };
            (id, user_data, name)
        })
    }

    fn op_name(&self, id: Id) -> Option<&'static str> {
        if !self.ids.is_live(id) {
            return None;
        }
        // SAFETY: as in `in_flight_ops_named`: `op` is written only while the op is queued
        // (under `&mut self`), never by the OS; `is_live` checked the index.
        Some(unsafe { (*self.slots.get(id.slot() as usize).get()).op.name() })
    }

    #[inline]
    fn count_kinds(&self, ids: &[Id], counts: &mut [u64; OP_KINDS]) {
        for &id in ids {
            if self.ids.is_live(id) {
                // SAFETY: as in `op_name`.
                let kind = unsafe { (*self.slots.get(id.slot() as usize).get()).op.index() };
                counts[kind] += 1;
            }
        }
    }

    fn queued_by_kind(&self) -> &[u64; OP_KINDS] {
        &self.kinds_queued
    }

    fn op_target(&self, id: Id) -> Option<OpTarget> {
        if !self.ids.is_live(id) {
            return None;
        }
        // SAFETY: as in `op_name`.
        let slot = unsafe { &*self.slots.get(id.slot() as usize).get() };
        let op = slot.op;
        #[allow(clippy::unnecessary_cast)] // i32 on Unix, usize on Windows
        let fd = op.fd().map(|fd| fd as i64);
        Some(OpTarget { fd, fixed: slot.fixed, timeout: op.timeout_nanos().map(Duration::from_nanos) })
    }

    fn ring_target(&self) -> Option<RingTarget> {
        self.backend.ring_target()
    }

    fn send_message(&mut self, target: &RingTarget) -> io::Result<()> {
        self.backend.send_message(target)?;
        if self.ids.in_use() == 0 {
            // Nothing in flight: no reaping call would submit it soon.
            self.backend.submit(0, |id, _, _| log::warn!("ignoring a completion for stale id {id:?}"))?;
        }
        Ok(())
    }

    fn take_messages(&mut self) -> u32 {
        self.backend.take_messages()
    }

    fn multishot_holds_files(&self) -> bool {
        self.backend.multishot_holds_files()
    }

    fn in_flight_ops(&self) -> impl Iterator<Item = (Id, u64)> + '_ {
        self.ids.live().map(|id| {
            // SAFETY: only the `user_data` field is read, through a raw pointer: the OS never
            // writes it (it writes `state` only), and no `&mut Slot` exists outside `&mut self`
            // methods, which cannot run while `&self` is borrowed here.
            let user_data = unsafe { (*self.slots.get(id.slot() as usize).get()).user_data };
            (id, user_data)
        })
    }
}
