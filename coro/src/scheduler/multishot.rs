//! Multishot ops owned by a handle rather than by a task's IO call: the accept behind
//! [`TcpListener::incoming`](crate::net::TcpListener::incoming) and the receive behind
//! [`TcpStream::buffered_reader`](crate::net::TcpStream::buffered_reader).
//!
//! # Why not a task's collector
//!
//! A task's IO call ([`crate::io`]) queues ops that complete once, into a `Collector` on the
//! task's stack, and returns only after every one of them completed. A multishot op completes
//! again and again, also while its task runs or is parked elsewhere, so its completions cannot
//! go to a stack. They go to a [`Queue`] instead, held by `Rc` both by the scheduler's table
//! ([`Multishot`], in `Inner` after the `Dynamic`) and by the handle ([`Multi`]) that a listener's
//! iterator or a stream's reader keeps: a completion always lands in memory the scheduler owns.
//!
//! # Routing
//!
//! The op's user data is [`TAG`] (the tag of task key `u32::MAX - 2`, which no task gets) with
//! the table slot in the low half; the router's no-task path hands such completions to
//! [`Multishot::deliver`] (one branch on the high half), which appends the result to the slot's
//! queue and wakes the task waiting on it, if any. A `Cancel` of ours has the low half
//! [`CANCEL`]; its result is dropped.
//!
//! # Lifetime of an op
//!
//! * Armed lazily, by the task that wants an item and finds the queue empty ([`Multi::arm`]):
//!   it queues the op if it is not in flight, which also re-arms it after the kernel ended it
//!   (a completion without `IORING_CQE_F_MORE`: an error, `ENOBUFS`, an overflow). Whether it
//!   ended is asked of the `Dynamic` (`is_in_flight` of its id): the router is told nothing
//!   about `more`, and needs not be.
//! * Stopped by [`Multi::stop`] (and the handle's drop): a `Cancel` by id, then the task parks
//!   (uncancelably) until the op's final completion, or outside a task the scheduler is ticked
//!   until then. So when the handle is gone no op of it is in flight: the descriptor it names may
//!   be closed, and nothing is accepted or received on it any more.
//! * Where waiting is impossible (a task unwinding, a task of another scheduler, a forgotten
//!   handle) the slot is marked abandoned: later completions are dropped as they arrive (accepted
//!   descriptors closed, buffers returned to their group) and the slot is freed once its op is no
//!   longer in flight (swept when a slot is next registered). Memory safety never depends on the
//!   wait: the op points at no memory but its group, which it holds itself.
//! * The descriptor an op names ([`Multi::target`]): io_uring's own multishot ops hold the file
//!   open, so an abandoned op goes on with the socket it was armed on even after the handle's
//!   owner closed its descriptor. The emulations (posix), and io_uring's stand-ins on kernels
//!   without those ops (re-armed after each arrival), act on a number, which a later socket
//!   may be given: there the op names a duplicate that the slot keeps until the
//!   op ended (one `dup` per handle, closed when its slot is freed), so an abandoned op never
//!   accepts or receives on another file. Where the duplicate cannot be made (`EMFILE`), a
//!   buffered reader makes plain receives until it can; an accepting iterator fails as the
//!   accept itself would.
//! * Items left in the queue when the handle drops are dropped with it: accepted connections
//!   are closed, provided buffers go back to the group.
//!
//! A task parked waiting for an item is parked as on a sync primitive (cancelable); its wake-up
//! comes from an IO completion though, so while any slot is live a blocking tick waits for one
//! completion at a time ([`Multishot::live`], used by `completions_needed`).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::{Rc, Weak};

use corio_aio::__private::RuntimeExt;
use corio_aio::op::{Cancel, IntoEntry, OpExt};
use corio_aio::{BufferGroup, Id, Mode, Value, canceled};

use super::Inner;
use crate::task::{self, Status, TaskCore};

/// The high half of every multishot op's user data: task key `u32::MAX - 2` plus one.
pub(crate) const TAG: u64 = ((u32::MAX - 1) as u64) << 32;
const _: () = assert!(TAG != crate::future::reactor::FUTURE_TAG);
/// The low half of a `Cancel` queued to stop a multishot op.
const CANCEL: u32 = u32::MAX;

/// What a handle and the scheduler share about one multishot op.
#[derive(Default)]
struct Queue {
    /// Results delivered and not yet taken, in arrival order.
    items: RefCell<VecDeque<io::Result<Value>>>,
    /// The task parked until the next delivery.
    waiter: RefCell<Option<Rc<TaskCore>>>,
    /// The op last queued for this slot (in flight or ended).
    op: Cell<Option<Id>>,
    /// The duplicate descriptor the slot's ops name on the emulations ([`Multi::target`]),
    /// closed with the queue, which the table keeps until the op ended.
    #[cfg(unix)]
    keep: OnceCell<std::os::fd::OwnedFd>,
    /// The handle is gone or stopping for good: deliveries are dropped.
    closing: Cell<bool>,
}

/// The scheduler's table of multishot slots (see the module docs).
pub(crate) struct Multishot {
    slots: RefCell<Vec<Option<Rc<Queue>>>>,
    free: RefCell<Vec<u32>>,
    /// Slots whose handle went away with their op still in flight.
    abandoned: RefCell<Vec<u32>>,
    live: Cell<usize>,
    /// The provided-buffer group of buffered readers, made on first use (`None` if the
    /// backend cannot make one), and the size asked for.
    group: OnceCell<Option<BufferGroup>>,
    group_shape: (u16, usize),
}

impl Multishot {
    /// An empty table; readers' buffer group will have `count` buffers of `size` bytes.
    pub(crate) fn new(count: u16, size: usize) -> Multishot {
        Multishot {
            slots: RefCell::default(),
            free: RefCell::default(),
            abandoned: RefCell::default(),
            live: Cell::new(0),
            group: OnceCell::new(),
            group_shape: (count, size),
        }
    }

    /// Whether any slot is live (then any completion may wake a task).
    #[inline]
    pub(crate) fn live(&self) -> bool {
        self.live.get() > 0
    }

    /// Takes a completion with [`TAG`]'s user data (the router's branch); `low` is the low
    /// half of its user data.
    pub(crate) fn deliver(&self, inner: &Inner, low: u32, result: io::Result<Value>) {
        if low == CANCEL {
            return;
        }
        let queue = self.slots.borrow().get(low as usize).cloned().flatten();
        let Some(queue) = queue else {
            log::warn!("ignoring a multishot completion for no slot ({low})");
            return;
        };
        if !queue.closing.get() {
            queue.items.borrow_mut().push_back(result);
        }
        // Else `result` is dropped here: a descriptor closed, a buffer given back.
        if let Some(task) = queue.waiter.borrow_mut().take() {
            inner.wake(&task);
        }
    }

    /// The readers' buffer group, made on first use; `None` if the backend cannot register
    /// one (io_uring before 5.19; IOCP, where receives fall back to owned buffers anyway).
    pub(crate) fn group(&self, inner: &Inner) -> Option<BufferGroup> {
        if cfg!(windows) {
            return None;
        }
        self.group
            .get_or_init(|| {
                let (count, size) = self.group_shape;
                let made = inner.io().and_then(|mut io| io.register_buffer_group(count, size));
                made.map_err(|e| {
                    log::warn!("corio: no provided buffers for buffered readers ({e}); reading into owned buffers")
                })
                .ok()
            })
            .clone()
    }

    /// Frees the abandoned slots whose op ended.
    fn sweep(&self, inner: &Inner) {
        let Ok(io) = inner.io() else { return };
        let mut abandoned = self.abandoned.borrow_mut();
        let mut slots = self.slots.borrow_mut();
        abandoned.retain(|&slot| {
            let ended = slots[slot as usize].as_ref().is_none_or(|q| q.op.get().is_none_or(|id| !io.is_in_flight(id)));
            if ended {
                slots[slot as usize] = None;
                self.free.borrow_mut().push(slot);
                self.live.set(self.live.get() - 1);
            }
            !ended
        });
    }
}

/// A handle's slot: its queue, and the scheduler it lives in.
pub(crate) struct Multi {
    sched: Weak<Inner>,
    slot: u32,
    queue: Rc<Queue>,
}

impl Multi {
    /// A new slot in `sched`'s table.
    pub(crate) fn register(sched: &Rc<Inner>) -> Multi {
        let table = &sched.multishot;
        if !table.abandoned.borrow().is_empty() {
            table.sweep(sched);
        }
        let queue = Rc::new(Queue::default());
        let mut slots = table.slots.borrow_mut();
        let slot = match table.free.borrow_mut().pop() {
            Some(slot) => {
                slots[slot as usize] = Some(queue.clone());
                slot
            }
            None => {
                slots.push(Some(queue.clone()));
                (slots.len() - 1) as u32
            }
        };
        table.live.set(table.live.get() + 1);
        Multi { sched: Rc::downgrade(sched), slot, queue }
    }

    /// Whether this slot is in `sched`.
    pub(crate) fn is_of(&self, sched: &Rc<Inner>) -> bool {
        std::ptr::eq(self.sched.as_ptr(), Rc::as_ptr(sched))
    }

    /// The oldest result delivered and not taken.
    pub(crate) fn pop(&self) -> Option<io::Result<Value>> {
        self.queue.items.borrow_mut().pop_front()
    }

    /// Whether this slot's op is in flight (then [`arm`](Multi::arm) has nothing to do: a
    /// reader checks first, to skip making the op's target and entry on every wait).
    pub(crate) fn in_flight(&self, sched: &Inner) -> bool {
        let Some(id) = self.queue.op.get() else { return false };
        sched.io().is_ok_and(|io| io.is_in_flight(id))
    }

    /// The descriptor this slot's op on `source` must name (see the module docs): `source`
    /// itself where the op holds its file (io_uring's own multishot ops), else a duplicate the
    /// slot keeps until the op ended (made once): the emulations, and io_uring's stand-ins on
    /// kernels before 6.0, which re-arm a single op by number after each arrival.
    #[cfg(unix)]
    pub(crate) fn target<'a>(
        &'a self,
        sched: &Inner,
        source: std::os::fd::BorrowedFd<'a>,
    ) -> io::Result<std::os::fd::BorrowedFd<'a>> {
        use std::os::fd::AsFd;
        if sched.io()?.multishot_holds_files() {
            return Ok(source);
        }
        if self.queue.keep.get().is_none() {
            let _ = self.queue.keep.set(source.try_clone_to_owned()?);
        }
        Ok(self.queue.keep.get().expect("set above").as_fd())
    }

    /// Queues the op `make` builds unless this slot's op is in flight (the running task
    /// `task` may park for room in the queue; fails Canceled if it is canceled meanwhile).
    ///
    /// # Safety
    ///
    /// What the op borrows (the socket it names) must outlive it: the caller keeps it borrowed
    /// as long as it holds this handle, whose drop stops the op (or, where it cannot wait, only
    /// a descriptor is at stake: the op names [`target`](Multi::target)'s, which io_uring
    /// keeps open itself and the slot keeps open on the emulations).
    pub(crate) unsafe fn arm<E: IntoEntry>(&self, task: &Rc<TaskCore>, make: impl FnOnce() -> E) -> io::Result<()> {
        let sched = task.scheduler();
        if self.in_flight(&sched) {
            return Ok(());
        }
        sched.reserve_capacity(task, 1, true)?;
        let entry = make().into_entry().user_data(TAG | u64::from(self.slot));
        // SAFETY: the caller's contract: the socket outlives the op. The op's other memory (a
        // buffer group) is held by its slot state.
        let id = unsafe { sched.io()?.queue_unchecked(entry)? };
        super::count_queued(&sched, 1);
        self.queue.op.set(Some(id));
        Ok(())
    }

    /// Parks the running task `task` until the next delivery to this slot; fails Canceled if
    /// the task is (or gets) canceled.
    pub(crate) fn wait(&self, task: &Rc<TaskCore>) -> io::Result<()> {
        if task.canceled.get() {
            return Err(canceled());
        }
        *self.queue.waiter.borrow_mut() = Some(task.clone());
        task.park(Status::Event);
        self.queue.waiter.borrow_mut().take();
        if task.canceled.get() { Err(canceled()) } else { Ok(()) }
    }

    /// Cancels this slot's op and waits for its end; results delivered meanwhile are kept.
    /// Returns `false` if it could not wait (see the module docs), the op still in flight.
    pub(crate) fn stop(&self) -> bool {
        let Some(sched) = self.sched.upgrade() else { return true }; // its Dynamic drained
        let Some(id) = self.queue.op.get() else { return true };
        if !self.in_flight(&sched) {
            return true;
        }
        let cancel = || Cancel::new(id).user_data(TAG | u64::from(CANCEL));
        let queued = match sched.io().map(|mut io| io.queue(cancel())) {
            Ok(Err(e)) if e.kind() == io::ErrorKind::QuotaExceeded && sched.grow_io(1) => {
                sched.io().and_then(|mut io| io.queue(cancel()))
            }
            Ok(queued) => queued,
            Err(_) => return true, // torn down: the Dynamic drained
        };
        if let Err(e) = queued {
            log::warn!("corio: cannot cancel a multishot op ({e}); it is left to end by itself");
            return false;
        }
        super::Counters::add(&sched.counters.cancels_queued, 1);
        while self.in_flight(&sched) {
            match task::current() {
                Some(task)
                    if Rc::ptr_eq(&task.scheduler(), &sched) && !task.unwinding.get() && !std::thread::panicking() =>
                {
                    *self.queue.waiter.borrow_mut() = Some(task.clone());
                    task.park(Status::IoCancel);
                    self.queue.waiter.borrow_mut().take();
                }
                Some(_) => return false,
                None => {
                    if sched.tick(Mode::Blocking).is_err() {
                        return !self.in_flight(&sched);
                    }
                }
            }
        }
        // The op's last report is the cancel's own doing, not the stream's: not an item.
        let mut items = self.queue.items.borrow_mut();
        if items.back().is_some_and(|item| item.as_ref().is_err_and(corio_aio::is_canceled)) {
            items.pop_back();
        }
        true
    }
}

impl Drop for Multi {
    fn drop(&mut self) {
        self.queue.closing.set(true);
        let ended = self.stop();
        self.queue.items.borrow_mut().clear();
        let Some(sched) = self.sched.upgrade() else { return };
        let table = &sched.multishot;
        if ended {
            table.slots.borrow_mut()[self.slot as usize] = None;
            table.free.borrow_mut().push(self.slot);
            table.live.set(table.live.get() - 1);
        } else {
            table.abandoned.borrow_mut().push(self.slot);
        }
    }
}

impl std::fmt::Debug for Multi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multi")
            .field("slot", &self.slot)
            .field("queued", &self.queue.items.borrow().len())
            .field("op", &self.queue.op.get())
            .finish()
    }
}
