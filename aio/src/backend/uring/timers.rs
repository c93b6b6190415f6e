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
//! A repeating timer ([`TimeoutMulti`](crate::op::TimeoutMulti)) lives here as well: each
//! expiry is reported with `more` and re-arms it an interval later (from the pass that saw
//! it expire), until its count is done; a cancel finds it until then.
//!
//! A cancel of a heap timer is done here too: the timer completes `-ECANCELED` and the cancel
//! reports 0. A timer whose deadline passed is finished (as a fired kernel timeout is, even
//! before its CQE is reaped): a cancel does not find it.

use std::io;
use std::time::{Duration, Instant};

use io_uring::opcode;
use io_uring::squeue::Entry;

use super::{Post, Prep, Uring};
use crate::backend::emu::timer::Timers;
use crate::id::Id;
use crate::raw::ETIME;

impl Uring {
    /// Submits pending SQEs and waits until the CQ holds `min_complete` CQEs, but not past
    /// the earliest heap timer (nor at all if a reaping pass has timers to report now).
    pub(super) fn wait(&mut self, mut min_complete: u32) -> io::Result<()> {
        if self.prep.timer_posts > 0 {
            // A CQE may cancel a heap timer: reap it before waiting for more.
            min_complete = min_complete.min(1);
        }
        match self.prep.timers.wait_limit() {
            _ if min_complete == 0 => self.enter(0, None),
            None => self.enter(min_complete, None),
            Some(limit) if limit.is_zero() => self.enter(0, None),
            Some(limit) => self.enter(min_complete, Some(limit)),
        }
    }
}

impl Prep {
    /// The SQE of cancel op `id` of `target`. A heap timer is canceled here when the cancel
    /// heads its chain (a nop then reports the cancel's success), else once the nop standing
    /// for the cancel completes (a failed predecessor then cancels it, as in the kernel; but
    /// the cancel's own `-ENOENT` can no longer fail its followers). Anything else, a timer
    /// that expired included, is the kernel's to find (or not: `-ENOENT`).
    pub(super) fn cancel(&mut self, id: Id, target: Id, after_link: bool) -> Entry {
        if after_link && self.timers.is_live(target) {
            self.set_post(id, Post::CancelTimer(target));
            self.timer_posts += 1;
            opcode::Nop::new().build()
        } else if !after_link && self.timers.cancel(target) {
            opcode::Nop::new().build()
        } else {
            opcode::AsyncCancel::new(target.to_u64()).build()
        }
    }
}

pub(super) struct HeapTimers {
    /// Whether timeouts go to the heap at all (`Features::heap_timers`).
    pub(super) enabled: bool,
    timers: Timers,
    /// Per slot, the id of its timer (meaningful only while it is queued or armed).
    ids: Box<[Id]>,
    /// Timers queued and not started yet (to start at the next `submit`): the first
    /// `committed` ones, then those of a stream not committed yet.
    unstarted: Vec<(Id, u64)>,
    committed: usize,
    /// Per slot, whether it is a committed unstarted timer (a cancel can still find it).
    queued: Box<[bool]>,
    /// Per slot, a repeating timer's interval and the expiries left (0: until canceled);
    /// `(0, _)` for a plain timer.
    repeat: Box<[(u64, u32)]>,
    /// Timers canceled, whose `-ECANCELED` the next reaping pass reports.
    canceled: Vec<Id>,
    /// The final stretch before a deadline that is busy-polled (`Dynamic::set_timer_spin`);
    /// zero: waits run to the deadline.
    spin: Duration,
}

impl HeapTimers {
    pub(super) fn new(capacity: usize, enabled: bool) -> HeapTimers {
        // Without the heap, its per-slot arrays are never used.
        let capacity = if enabled { capacity } else { 0 };
        HeapTimers {
            enabled,
            timers: Timers::new(capacity),
            ids: vec![Id::from_u64(Id::HIDDEN); capacity].into(),
            // Sized once (a slot is in each at most once between two passes, short of stale
            // entries of slots canceled and reused before a submit): no allocation per op.
            unstarted: Vec::with_capacity(capacity),
            committed: 0,
            queued: vec![false; capacity].into(),
            repeat: vec![(0, 0); capacity].into(),
            canceled: Vec::with_capacity(capacity),
            spin: Duration::ZERO,
        }
    }

    /// Makes room for timers of slots below `capacity` (see `Backend::grow`).
    pub(super) fn grow(&mut self, capacity: usize) {
        if !self.enabled || capacity <= self.ids.len() {
            return;
        }
        self.timers.grow(capacity);
        let mut ids = std::mem::take(&mut self.ids).into_vec();
        ids.resize(capacity, Id::from_u64(Id::HIDDEN));
        self.ids = ids.into();
        let mut queued = std::mem::take(&mut self.queued).into_vec();
        queued.resize(capacity, false);
        self.queued = queued.into();
        let mut repeat = std::mem::take(&mut self.repeat).into_vec();
        repeat.resize(capacity, (0, 0));
        self.repeat = repeat.into();
        self.unstarted.reserve(capacity.saturating_sub(self.unstarted.len()));
        self.canceled.reserve(capacity.saturating_sub(self.canceled.len()));
    }

    /// Sets the busy-poll window (zero: off).
    pub(super) fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// Queues timer `id` of `nanos`; with `commit`, at once, else with the stream being
    /// pushed (see [`commit`](HeapTimers::commit)).
    pub(super) fn queue(&mut self, id: Id, nanos: u64, commit: bool) {
        self.repeat[id.slot() as usize] = (0, 0);
        self.ids[id.slot() as usize] = id;
        self.unstarted.push((id, nanos));
        if commit {
            self.commit();
        }
    }

    /// Queues repeating timer `id`: every `nanos`, `count` times (0: until canceled); as
    /// [`queue`](HeapTimers::queue) otherwise.
    pub(super) fn queue_repeating(&mut self, id: Id, nanos: u64, count: u32, commit: bool) {
        self.ids[id.slot() as usize] = id;
        self.repeat[id.slot() as usize] = (nanos, count);
        self.unstarted.push((id, nanos));
        if commit {
            self.commit();
        }
    }

    /// Makes the timers of the stream just committed findable by cancels.
    #[inline]
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
    /// Inlined: a submit without timers costs one comparison, not a call.
    #[inline]
    pub(super) fn start(&mut self) {
        if !self.unstarted.is_empty() {
            self.start_queued();
        }
    }

    #[inline(never)]
    fn start_queued(&mut self) {
        let now = Instant::now();
        let mut unstarted = std::mem::take(&mut self.unstarted);
        for (id, nanos) in unstarted.drain(..) {
            let slot = id.slot();
            // Not if a cancel ended it first (nor a stale entry of a slot since reused).
            if self.ids[slot as usize] == id && std::mem::replace(&mut self.queued[slot as usize], false) {
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
        // A repeating timer goes on after an expiry: a cancel still finds it.
        let repeating = self.repeat.get(target.slot() as usize).is_some_and(|&(nanos, _)| nanos != 0);
        if !repeating && self.is_armed(target) && self.timers.deadline(target.slot()) <= Instant::now() {
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
    /// pass has timers to report now or the earliest deadline is within the spin window (the
    /// caller then polls without waiting until the timer fires or anything completes).
    pub(super) fn wait_limit(&self) -> Option<Duration> {
        if !self.canceled.is_empty() {
            return Some(Duration::ZERO);
        }
        let left = self.timers.next()?.saturating_duration_since(Instant::now());
        Some(left.saturating_sub(self.spin))
    }

    /// Reports the canceled timers and those that expired; how many. Inlined: a pass without
    /// timers costs two comparisons, not a call.
    #[inline]
    pub(super) fn reap(&mut self, sink: &mut impl FnMut(Id, i32, bool)) -> usize {
        if self.canceled.is_empty() && self.timers.next().is_none() {
            return 0;
        }
        self.reap_due(sink)
    }

    #[inline(never)]
    fn reap_due(&mut self, sink: &mut impl FnMut(Id, i32, bool)) -> usize {
        let mut n = self.reap_canceled(sink);
        if self.timers.next().is_none() {
            return n;
        }
        let now = Instant::now();
        while let Some(slot) = self.timers.pop_expired(now) {
            n += 1;
            let more = self.rearm(slot, now);
            sink(self.ids[slot as usize], -ETIME, more);
        }
        n
    }

    /// After an expiry of the timer of `slot`: arms it again if it repeats and has expiries
    /// left (its deadline then is after `now`, so the reaping loop does not see it again);
    /// whether it did.
    fn rearm(&mut self, slot: u32, now: Instant) -> bool {
        let (nanos, left) = self.repeat[slot as usize];
        if nanos == 0 || left == 1 {
            self.repeat[slot as usize] = (0, 0);
            return false;
        }
        self.repeat[slot as usize].1 = left.saturating_sub(1);
        self.timers.arm(slot, deadline(now, nanos));
        true
    }

    /// Reports the canceled timers; how many.
    #[inline]
    pub(super) fn reap_canceled(&mut self, sink: &mut impl FnMut(Id, i32, bool)) -> usize {
        if self.canceled.is_empty() {
            return 0;
        }
        self.report_canceled(sink)
    }

    #[inline(never)]
    fn report_canceled(&mut self, sink: &mut impl FnMut(Id, i32, bool)) -> usize {
        let mut n = 0;
        // One at a time, each taken out before `sink` sees it: if `sink` panics, the rest are
        // reported by a later pass, none twice.
        while let Some(id) = self.canceled.pop() {
            n += 1;
            sink(id, -libc::ECANCELED, false);
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
