//! Plain timeouts of the io_uring backend, kept in a user-space heap instead of the kernel.
//!
//! A kernel `IORING_OP_TIMEOUT` per timeout is costly with many of them (each is a request
//! with its own hrtimer, armed and completed through the ring). A timeout that is not part of
//! a chain needs nothing from the kernel: it is armed in the emulation engine's indexed heap
//! ([`Timers`]), the ring's waits end by the earliest deadline (`IORING_ENTER_EXT_ARG` with a
//! timespec), and every reaping pass first completes the timers that expired, with the result
//! the kernel would report (`-ETIME`). Linked timeouts and link timeouts stay kernel ops, so
//! chains behave exactly as before. As a kernel timeout starts when its SQE is submitted, a
//! heap timer starts at the next `submit`, not when it is queued.
//!
//! A cancel of a heap timer is done here too: the timer completes `-ECANCELED` and the cancel
//! reports 0. A timer whose deadline passed is finished (as a fired kernel timeout is, even
//! before its CQE is reaped): a cancel does not find it.

use std::time::{Duration, Instant};

use crate::backend::emu::timer::Timers;
use crate::id::Id;
use crate::raw::ETIME;

pub(super) struct HeapTimers {
    /// Whether timeouts go to the heap at all: the waits need `IORING_FEAT_EXT_ARG` (5.11).
    pub(super) enabled: bool,
    timers: Timers,
    /// Per slot, the id of its armed timer (meaningful only while armed).
    ids: Box<[Id]>,
    /// Timers queued and not started yet (to start at the next `submit`): the first
    /// `committed` ones, then those of a stream not committed yet.
    unstarted: Vec<(Id, u64)>,
    committed: usize,
    /// Per slot, whether it is a committed unstarted timer (a cancel can still find it).
    queued: Box<[bool]>,
    /// Timers canceled, whose `-ECANCELED` the next reaping pass reports.
    canceled: Vec<Id>,
}

impl HeapTimers {
    pub(super) fn new(capacity: usize, enabled: bool) -> HeapTimers {
        // Without the heap, its per-slot arrays are never used.
        let capacity = if enabled { capacity } else { 0 };
        HeapTimers {
            enabled,
            timers: Timers::new(capacity),
            ids: vec![Id::from_u64(Id::HIDDEN); capacity].into(),
            unstarted: Vec::new(),
            committed: 0,
            queued: vec![false; capacity].into(),
            canceled: Vec::new(),
        }
    }

    /// Queues timer `id` of `nanos`; with `commit`, at once, else with the stream being
    /// pushed (see [`commit`](HeapTimers::commit)).
    pub(super) fn queue(&mut self, id: Id, nanos: u64, commit: bool) {
        self.ids[id.slot() as usize] = id;
        self.unstarted.push((id, nanos));
        if commit {
            self.commit();
        }
    }

    /// Makes the timers of the stream just committed findable by cancels.
    pub(super) fn commit(&mut self) {
        for &(id, _) in &self.unstarted[self.committed..] {
            self.queued[id.slot() as usize] = true;
        }
        self.committed = self.unstarted.len();
    }

    /// Forgets the timers of a stream that was rolled back (never committed).
    pub(super) fn rollback(&mut self) {
        self.unstarted.truncate(self.committed);
    }

    /// Starts the timers queued since the last `submit`: their durations count from now.
    pub(super) fn start(&mut self) {
        if self.unstarted.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut unstarted = std::mem::take(&mut self.unstarted);
        for (id, nanos) in unstarted.drain(..) {
            let slot = id.slot();
            // Not if a cancel ended it first.
            if std::mem::replace(&mut self.queued[slot as usize], false) {
                self.timers.arm(slot, deadline(now, nanos));
            }
        }
        self.unstarted = unstarted;
        self.committed = 0;
    }

    /// Whether no timer is queued nor armed: a cancel then cannot target one, so it can be
    /// streamed (it has no side effect here).
    pub(super) fn is_idle(&self) -> bool {
        self.timers.next().is_none() && self.unstarted.is_empty()
    }

    /// Whether `id` is a queued (committed, not started) timer.
    fn is_queued(&self, id: Id) -> bool {
        self.queued.get(id.slot() as usize) == Some(&true) && self.ids[id.slot() as usize] == id
    }

    /// Whether `id` is an armed timer.
    fn is_armed(&self, id: Id) -> bool {
        self.timers.is_armed(id.slot()) && self.ids[id.slot() as usize] == id
    }

    /// Whether `id` is a timer not finished: queued, or armed (expired or not).
    pub(super) fn is_live(&self, id: Id) -> bool {
        self.is_queued(id) || self.is_armed(id)
    }

    /// Cancels timer `target` for a cancel op if it is queued, or armed and not expired yet
    /// (an expired one is finished, as a fired kernel timeout is before its CQE is reaped);
    /// whether it did. The timer then completes `-ECANCELED` at the next reaping pass.
    pub(super) fn cancel(&mut self, target: Id) -> bool {
        if self.is_armed(target) && self.timers.deadline(target.slot()) <= Instant::now() {
            return false;
        }
        self.cancel_any(target)
    }

    /// Cancels timer `id` if it is queued or armed, expired or not (the drop path); whether
    /// it did.
    pub(super) fn cancel_any(&mut self, id: Id) -> bool {
        if self.is_queued(id) {
            self.queued[id.slot() as usize] = false;
        } else if self.is_armed(id) {
            self.timers.disarm(id.slot());
        } else {
            return false;
        }
        self.canceled.push(id);
        true
    }

    /// How long a wait for completions may last: `None` without timers, zero if a reaping
    /// pass has timers to report now.
    pub(super) fn wait_limit(&self) -> Option<Duration> {
        if !self.canceled.is_empty() {
            return Some(Duration::ZERO);
        }
        self.timers.next().map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Reports the canceled timers and those that expired; how many.
    pub(super) fn reap(&mut self, sink: &mut impl FnMut(Id, i32)) -> usize {
        let mut n = self.reap_canceled(sink);
        if self.timers.next().is_none() {
            return n;
        }
        let now = Instant::now();
        while let Some(slot) = self.timers.pop_expired(now) {
            n += 1;
            sink(self.ids[slot as usize], -ETIME);
        }
        n
    }

    /// Reports the canceled timers; how many.
    pub(super) fn reap_canceled(&mut self, sink: &mut impl FnMut(Id, i32)) -> usize {
        let mut n = 0;
        // One at a time, each taken out before `sink` sees it: if `sink` panics, the rest are
        // reported by a later pass, none twice.
        while let Some(id) = self.canceled.pop() {
            n += 1;
            sink(id, -libc::ECANCELED);
        }
        n
    }
}

/// `nanos` after `now`; far in the future if that overflows `Instant`.
fn deadline(now: Instant, nanos: u64) -> Instant {
    now.checked_add(Duration::from_nanos(nanos))
        .or_else(|| now.checked_add(Duration::from_secs(1 << 32)))
        .unwrap_or(now)
}
