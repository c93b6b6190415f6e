//! The [`Reactor`]: the part of a scheduler that runs futures' ops. A future's op outlives
//! the `poll` that queued it, so its completion cannot go to a parked call's collector as a
//! task's does; it goes to an [`OpCell`] the future shares with the reactor's table, and the
//! cell's waker is woken after the reaping pass (`after_reap`), outside the scheduler's
//! borrows.
//!
//! # Ownership of the op's memory
//!
//! Everything a future's op points at is *moved into* the table entry when the op is queued
//! (its buffer, and a reference to the socket whose descriptor it names) and moved back into
//! the cell only when its completion has been reaped. Nothing else can reach the buffer in
//! between, so the future may be dropped, leaked or moved to another thread at any point: the
//! kernel writes only into memory the table owns. The table lives in the scheduler's `Inner`
//! after its `Dynamic`, which drains every op when dropped (a forgotten scheduler leaks both).
//!
//! User data: the high half is [`FUTURE_TAG`] (the tag of task key `u32::MAX - 1`, which no
//! task gets), the low half the table slot, or [`MAILBOX`] / [`CANCEL`].

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::mem;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use corio_aio::__private::RuntimeExt;
use corio_aio::op::{Cancel, OpExt, Wait};
use corio_aio::{Dynamic, Id, Value};

use super::doorbell::Doorbell;
use super::waker::Signal;
use crate::scheduler::{Counters, Inner};

mod received;
pub(crate) use received::Take;

/// The high half of every future op's user data.
pub(crate) const FUTURE_TAG: u64 = (u32::MAX as u64) << 32;
const _: () = assert!(FUTURE_TAG == (((u32::MAX - 1) as u64) + 1) << 32);
/// The low half of the mailbox's `Wait`.
const MAILBOX: u32 = u32::MAX - 1;
/// The low half of a `Cancel` the reactor queued (its result is dropped).
const CANCEL: u32 = u32::MAX;
/// The most send buffers a reactor keeps for reuse.
const SPARE_BUFFERS: usize = 64;

/// What a future and the reactor share about one op: its result, and the buffer it used, once
/// it completed; the waker to wake then.
#[derive(Default)]
pub(crate) struct OpCell {
    state: Mutex<CellState>,
}

#[derive(Default)]
pub(crate) struct CellState {
    /// The op's result (a byte count, 0 for ops without one), once it completed.
    pub(crate) result: Option<io::Result<usize>>,
    /// The buffer the op used, handed back with the result.
    pub(crate) buf: Option<Vec<u8>>,
    pub(crate) waker: Option<Waker>,
    /// The stream is gone: a multishot receive reporting to this cell is to be stopped at its
    /// next report (set by a stream dropped where it cannot reach its reactor; see
    /// `received.rs`).
    pub(crate) dropped: bool,
    /// The multishot receive reporting to this cell is gone (its entry freed, or its
    /// reactor dropped): a stream moved to another scheduler may arm a new one there.
    pub(crate) received_gone: bool,
}

/// Locks `mutex`; the reactor's state stays consistent if a holder panicked (no user code
/// runs while one is held).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OpCell {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, CellState> {
        lock(&self.state)
    }
}

/// A queued op, to cancel it: the reactor it went to and its slot there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpRef {
    reactor: u64,
    slot: u32,
    generation: u32,
}

/// One op in flight (or a multishot receive, also once it ended, until its reports are read).
struct Entry {
    id: Id,
    generation: u32,
    cell: Arc<OpCell>,
    buf: Option<Vec<u8>>,
    /// What else the op points at (the socket), kept alive until it completed.
    _keep: Option<Arc<dyn Any + Send + Sync>>,
    /// The buffer goes to the reactor's spares when the op succeeds (a whole send: nobody
    /// needs its bytes after that), not back to the cell.
    recycle: bool,
    /// A multishot receive's reports (`received.rs`); `None` for an op that completes once.
    received: Option<Box<received::Received>>,
}

/// Where other threads' wake-ups reach this scheduler: the signals they woke and a
/// [`Doorbell`], whose event source a `Wait` op of the reactor waits on while a `block_on` is
/// parked (and whose messages the scheduler hands to [`Reactor::messages`]).
pub(crate) struct Mailbox {
    doorbell: Doorbell,
    woken: Mutex<Vec<Arc<Signal>>>,
    notified: AtomicBool,
}

impl Mailbox {
    /// Called on another thread: queues `signal` and rings the doorbell (once until the
    /// scheduler drained the mailbox).
    pub(crate) fn post(&self, signal: Arc<Signal>) {
        lock(&self.woken).push(signal);
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        self.doorbell.ring();
    }
}

static NEXT_REACTOR: AtomicU64 = AtomicU64::new(1);

/// The futures' side of a scheduler (see the module docs).
pub(crate) struct Reactor {
    id: u64,
    entries: RefCell<Vec<Option<Entry>>>,
    generations: RefCell<Vec<u32>>,
    free: RefCell<Vec<u32>>,
    live: Cell<usize>,
    /// Wakers of ops completed in the current reaping pass, woken after it (and a spare).
    wakes: RefCell<Vec<Waker>>,
    spare: RefCell<Vec<Waker>>,
    mailbox: OnceCell<Arc<Mailbox>>,
    mailbox_armed: Cell<bool>,
    /// The mailbox's `Wait` while armed: canceled when no `block_on` is parked any more, so
    /// an idle scheduler has nothing of the reactor's in flight.
    mailbox_op: Cell<Option<Id>>,
    mailbox_fired: Cell<bool>,
    /// Whether the mailbox's `Wait` completed (else only messages came): its event source
    /// then holds a unit to take.
    mailbox_event: Cell<bool>,
    /// Keep the mailbox's `Wait` in flight while no `block_on` is parked too (a runtime
    /// thread, whose mailbox task parks again right after each wake-up).
    stay_armed: Cell<bool>,
    /// `block_on`s parked on this scheduler: the mailbox is armed while there are any.
    parked: Cell<usize>,
    /// Wakers of awaited tasks (`Task` as a future), by the task core's address.
    joins: RefCell<Vec<(usize, Waker)>>,
    /// Send buffers of whole sends that completed, for the next write of any stream (at
    /// most [`SPARE_BUFFERS`]): a few buffers, warm in the cache, instead of one per stream.
    spare_bufs: RefCell<Vec<Vec<u8>>>,
    /// Multishot receives that reported in the current reaping pass: `after_reap` asks
    /// whether each is still in flight (see `received.rs`).
    reported: RefCell<Vec<u32>>,
    /// [`received::DROPPED_AWAY`] when this reactor last looked for receives whose stream was
    /// dropped where it could not reach the reactor.
    dropped_seen: Cell<u64>,
    /// Whether streams' writes try a nonblocking send first (see [`Reactor::sends_at_once`]).
    #[cfg(target_os = "linux")]
    sends_at_once: OnceCell<bool>,
}

impl Reactor {
    pub(crate) fn new() -> Reactor {
        Reactor {
            id: NEXT_REACTOR.fetch_add(1, Ordering::Relaxed),
            entries: RefCell::default(),
            generations: RefCell::default(),
            free: RefCell::default(),
            live: Cell::new(0),
            wakes: RefCell::default(),
            spare: RefCell::default(),
            mailbox: OnceCell::new(),
            mailbox_armed: Cell::new(false),
            mailbox_op: Cell::new(None),
            mailbox_fired: Cell::new(false),
            mailbox_event: Cell::new(false),
            stay_armed: Cell::new(false),
            parked: Cell::new(0),
            joins: RefCell::default(),
            reported: RefCell::default(),
            dropped_seen: Cell::new(0),
            spare_bufs: RefCell::default(),
            #[cfg(target_os = "linux")]
            sends_at_once: OnceCell::new(),
        }
    }

    /// Whether a stream's write with nothing in flight tries a nonblocking `sendmsg` before
    /// queuing a send: on the posix backend, whose engine would make that same call as its
    /// first attempt. Not on io_uring: there it saves the op's bookkeeping (about 1,100
    /// user-space instructions per hyper request; the op's submission is shared by the pass)
    /// but the syscall per write cost more: the hyper server's CPU time per request at 1,000
    /// connections rose by about 8 % (user and system time both; paired runs, 2026-12-08).
    #[cfg(target_os = "linux")]
    pub(crate) fn sends_at_once(&self, inner: &Inner) -> bool {
        *self.sends_at_once.get_or_init(|| inner.io().is_ok_and(|io| io.backend() == corio_aio::BackendKind::Posix))
    }

    /// Whether any op of the reactor is in flight (then any completion may wake a future).
    #[inline]
    pub(crate) fn in_flight(&self) -> bool {
        self.live.get() > 0 || self.mailbox_armed.get()
    }

    /// Takes a completion whose user data is the reactor's; hands back any other.
    pub(crate) fn deliver(&self, user_data: u64, result: io::Result<Value>) -> Result<(), io::Result<Value>> {
        if user_data & !u64::from(u32::MAX) != FUTURE_TAG {
            return Err(result);
        }
        match user_data as u32 {
            CANCEL => {}
            MAILBOX => {
                self.mailbox_armed.set(false);
                self.mailbox_op.set(None);
                self.mailbox_fired.set(true);
                self.mailbox_event.set(true);
            }
            slot => {
                let mut entries = self.entries.borrow_mut();
                let Some(place) = entries.get_mut(slot as usize) else { return Err(result) };
                if let Some(entry) = place
                    && let Some(received) = &mut entry.received
                {
                    if let Some(waker) = received.report(&entry.cell, result) {
                        self.wakes.borrow_mut().push(waker);
                    }
                    self.reported.borrow_mut().push(slot);
                    return Ok(());
                }
                let Some(mut entry) = place.take() else { return Err(result) };
                drop(entries);
                self.free.borrow_mut().push(slot);
                self.live.set(self.live.get() - 1);
                let result = result.map(|value| if let Value::Len(n) = value { n } else { 0 });
                let mut buf = entry.buf.take();
                if entry.recycle && result.is_ok() {
                    let mut spares = self.spare_bufs.borrow_mut();
                    if spares.len() < SPARE_BUFFERS
                        && let Some(buf) = buf.take()
                    {
                        spares.push(buf);
                    }
                }
                let waker = {
                    let mut state = entry.cell.lock();
                    state.result = Some(result);
                    state.buf = buf;
                    state.waker.take()
                };
                if let Some(waker) = waker {
                    self.wakes.borrow_mut().push(waker);
                }
            }
        }
        Ok(())
    }

    /// After a reaping pass: wakes the wakers of the ops that completed in it, drains the
    /// mailbox if it fired (and re-arms it while a `block_on` is parked).
    #[inline]
    pub(crate) fn after_reap(&self, inner: &Inner) {
        if !self.reported.borrow().is_empty() {
            self.check_reported(inner);
        }
        if !self.wakes.borrow().is_empty() {
            self.wake_completed();
        }
        if self.mailbox_fired.get() {
            self.drain_mailbox(inner);
        }
        let dropped = received::DROPPED_AWAY.load(Ordering::Relaxed);
        if dropped != self.dropped_seen.get() {
            self.dropped_seen.set(dropped);
            self.stop_dropped_away(inner);
        }
    }

    #[cold]
    fn wake_completed(&self) {
        let mut wakes = mem::take(&mut *self.spare.borrow_mut());
        mem::swap(&mut wakes, &mut *self.wakes.borrow_mut());
        // Wakers are user code: none of the reactor's cells is borrowed while they run.
        for waker in wakes.drain(..) {
            waker.wake();
        }
        *self.spare.borrow_mut() = wakes;
    }

    /// `n` messages from other threads' rings came (see [`Doorbell`]): the mailbox is drained
    /// after this reaping pass, as when its `Wait` completes.
    #[cold]
    pub(crate) fn messages(&self, inner: &Inner, n: u32) {
        Counters::add(&inner.counters.wakes_by_msg_ring, u64::from(n));
        self.mailbox_fired.set(true);
    }

    /// Keeps the mailbox's `Wait` in flight even while no `block_on` is parked (`on`), or
    /// stops doing so (then it is disarmed if none is parked).
    pub(crate) fn stay_armed(&self, inner: &Inner, on: bool) {
        self.stay_armed.set(on);
        if !on && self.parked.get() == 0 {
            self.disarm(inner);
        }
    }

    #[cold]
    fn drain_mailbox(&self, inner: &Inner) {
        self.mailbox_fired.set(false);
        let Some(mailbox) = self.mailbox.get() else { return };
        mailbox.notified.store(false, Ordering::Release);
        if self.mailbox_event.replace(false) {
            Counters::add(&inner.counters.wakes_by_event, 1);
            let _ = mailbox.doorbell.source().try_wait();
        }
        let woken = mem::take(&mut *lock(&mailbox.woken));
        for signal in woken {
            signal.wake_here();
        }
        if self.parked.get() > 0 || self.stay_armed.get() {
            self.arm_mailbox(inner);
        }
    }

    /// The mailbox other threads' wake-ups go through (made on first use).
    pub(crate) fn mailbox(&self, inner: &Inner) -> io::Result<Arc<Mailbox>> {
        if let Some(mailbox) = self.mailbox.get() {
            return Ok(mailbox.clone());
        }
        let mailbox = Arc::new(Mailbox {
            doorbell: Doorbell::new(inner)?,
            woken: Mutex::default(),
            notified: AtomicBool::new(false),
        });
        Ok(self.mailbox.get_or_init(|| mailbox).clone())
    }

    fn arm_mailbox(&self, inner: &Inner) {
        if self.mailbox_armed.get() {
            return;
        }
        let Some(mailbox) = self.mailbox.get() else { return };
        let Ok(mut io) = inner.io() else { return };
        // SAFETY: the `Wait` points at the mailbox's source, which the reactor holds (in an
        // `Arc` it never gives up) and which lives in the scheduler's `Inner` after its
        // `Dynamic`: it is dropped only after the `Dynamic` drained every op.
        match unsafe {
            io.queue_tagged_unchecked(Wait::new(mailbox.doorbell.source()), FUTURE_TAG | u64::from(MAILBOX))
        } {
            Ok(id) => {
                Counters::add(&inner.counters.ops_queued, 1);
                self.mailbox_armed.set(true);
                self.mailbox_op.set(Some(id));
            }
            // Full: the next completion's `after_reap` cannot re-arm (not fired); a parked
            // `block_on` re-arms when it parks again. Remote wake-ups wait meanwhile.
            Err(e) => log::warn!("corio: cannot arm the futures' mailbox: {e}"),
        }
    }

    /// A `block_on` is about to park: other threads must be able to wake it.
    pub(crate) fn parking(&self, inner: &Inner) {
        self.parked.set(self.parked.get() + 1);
        self.arm_mailbox(inner);
    }

    /// A `block_on` stopped parking; the last one disarms the mailbox.
    pub(crate) fn unparked(&self, inner: &Inner) {
        self.parked.set(self.parked.get() - 1);
        if self.parked.get() > 0 || self.stay_armed.get() {
            return;
        }
        self.disarm(inner);
    }

    /// Cancels the mailbox's `Wait`, if it is in flight.
    fn disarm(&self, inner: &Inner) {
        let Some(id) = self.mailbox_op.take() else { return };
        let Ok(mut io) = inner.io() else { return };
        let queued = io.queue(Cancel::new(id).user_data(FUTURE_TAG | u64::from(CANCEL)));
        if queued.is_ok() {
            Counters::add(&inner.counters.cancels_queued, 1);
        }
        if let Err(e) = queued {
            // It stays armed: a later wake-up or the scheduler's teardown ends it.
            log::debug!("corio: cannot disarm the futures' mailbox: {e}");
        }
    }

    /// Queues one op with `cell` to report to: `submit` queues it into the `Dynamic` with the
    /// user data it is given, over `buf` (if any). Fails `QuotaExceeded` if the scheduler's IO
    /// queue has no room beyond its reserve.
    ///
    /// # Safety
    ///
    /// The op `submit` queues may point only into `buf`'s heap block, at memory `keep` holds
    /// (the socket whose descriptor it names), or into its own slot's state; it must queue
    /// exactly one op, with the user data given.
    pub(crate) unsafe fn queue(
        &self,
        inner: &Inner,
        cell: Arc<OpCell>,
        mut buf: Option<Vec<u8>>,
        keep: Option<Arc<dyn Any + Send + Sync>>,
        recycle: bool,
        submit: impl FnOnce(&mut Dynamic<'static>, u64, &mut [u8]) -> io::Result<Id>,
    ) -> io::Result<OpRef> {
        let mut io = inner.io()?;
        if io.capacity() - io.in_flight() <= inner.reserve {
            return Err(io::Error::new(io::ErrorKind::QuotaExceeded, "the scheduler's IO queue is full"));
        }
        let slot = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut entries = self.entries.borrow_mut();
            entries.push(None);
            self.generations.borrow_mut().push(0);
            u32::try_from(entries.len() - 1).expect("fewer than 2^32 - 2 future ops")
        });
        // The op points into `buf`'s heap block (and at what `keep` holds, by the caller's
        // promise). Both are moved into the table entry below, before anything else runs, and
        // leave it only when this op's completion is reaped (`deliver`), or when the reactor
        // is dropped, after its scheduler's `Dynamic` drained every op. Moving a `Vec` does
        // not move its heap block, and nothing reads or writes it while the entry holds it.
        let queued = submit(&mut io, FUTURE_TAG | u64::from(slot), buf.as_deref_mut().unwrap_or(&mut []));
        let id = match queued {
            Ok(id) => {
                Counters::add(&inner.counters.ops_queued, 1);
                id
            }
            Err(e) => {
                self.free.borrow_mut().push(slot);
                return Err(e);
            }
        };
        let generation = {
            let mut generations = self.generations.borrow_mut();
            generations[slot as usize] = generations[slot as usize].wrapping_add(1);
            generations[slot as usize]
        };
        self.entries.borrow_mut()[slot as usize] =
            Some(Entry { id, generation, cell, buf, _keep: keep, recycle, received: None });
        self.live.set(self.live.get() + 1);
        Ok(OpRef { reactor: self.id, slot, generation })
    }

    /// Cancels the op `op` if it is still in flight here (a request: its completion still
    /// comes, and the entry keeps its memory until then).
    pub(crate) fn cancel(&self, inner: &Inner, op: OpRef) {
        if op.reactor != self.id {
            return;
        }
        let (id, received) = match self.entries.borrow().get(op.slot as usize) {
            Some(Some(entry)) if entry.generation == op.generation => (entry.id, entry.received.is_some()),
            _ => return,
        };
        if received {
            return self.stop_received(inner, op.slot);
        }
        let Ok(mut io) = inner.io() else { return };
        let queued = io.queue(Cancel::new(id).user_data(FUTURE_TAG | u64::from(CANCEL)));
        if queued.is_ok() {
            Counters::add(&inner.counters.cancels_queued, 1);
        }
        if let Err(e) = queued {
            // The op runs to its end instead; its memory stays in the table until then.
            log::debug!("corio: cannot cancel a future's op: {e}");
        }
    }

    /// A send buffer a whole send left (empty, with its capacity), if any.
    pub(crate) fn spare_buffer(&self) -> Option<Vec<u8>> {
        self.spare_bufs.borrow_mut().pop()
    }

    /// Registers `waker` to be woken when the task at `core` finishes.
    pub(crate) fn await_task(&self, core: usize, waker: &Waker) {
        let mut joins = self.joins.borrow_mut();
        match joins.iter_mut().find(|(c, _)| *c == core) {
            Some((_, w)) => w.clone_from(waker),
            None => joins.push((core, waker.clone())),
        }
    }

    /// The task at `core` finished: wakes whoever awaits it.
    pub(crate) fn task_finished(&self, core: usize) {
        if self.joins.borrow().is_empty() {
            return;
        }
        let waker = {
            let mut joins = self.joins.borrow_mut();
            joins.iter().position(|(c, _)| *c == core).map(|at| joins.swap_remove(at).1)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Cancels `op` through the scheduler of the running task, if that is the one it was queued
/// on; otherwise leaves it to complete (its memory stays in its reactor's table until then).
pub(crate) fn cancel(op: OpRef) {
    if let Some(sched) = current_scheduler() {
        sched.reactor.cancel(&sched, op);
    }
}

/// Stops the multishot receive `op` of a dropped stream: at once in a task of its scheduler,
/// else (its `cell` marked `dropped` by the caller) after a later reaping pass of that
/// scheduler (see `received.rs`).
pub(crate) fn cancel_received(op: OpRef) {
    match current_scheduler() {
        Some(sched) if sched.reactor.owns(op) => sched.reactor.cancel(&sched, op),
        _ => {
            received::DROPPED_AWAY.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The running task's scheduler, if the caller runs in a task.
pub(crate) fn current_scheduler() -> Option<Rc<Inner>> {
    crate::task::current().and_then(|task| task.sched.upgrade())
}
