//! What a scheduler counts ([`Metrics`]): plain `Cell` increments on its paths, always on, and
//! a snapshot on request.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::{Duration, Instant};

use corio_aio::__private::{OP_KINDS, RuntimeExt, op_kind_name};
use corio_aio::{Dynamic, Id};

use super::Inner;

/// The running counts (in [`Inner`]); [`Inner::metrics`] takes a snapshot.
pub(crate) struct Counters {
    pub(crate) tasks_spawned: Cell<u64>,
    pub(crate) tasks_finished: Cell<u64>,
    pub(crate) ops_queued: Cell<u64>,
    pub(crate) cancels_queued: Cell<u64>,
    pub(crate) ops_completed: Cell<u64>,
    pub(crate) resumes: Cell<u64>,
    pub(crate) parks: Cell<u64>,
    pub(crate) ticks: Cell<u64>,
    pub(crate) reaps: Cell<u64>,
    pub(crate) max_per_reap: Cell<u64>,
    pub(crate) ready_high_water: Cell<u64>,
    pub(crate) kernel_wait_ns: Cell<u64>,
    pub(crate) wakes_by_msg_ring: Cell<u64>,
    pub(crate) wakes_by_event: Cell<u64>,
    pub(crate) msg_ring_sent: Cell<u64>,
    /// Ops a cancel was queued for, by kind (the op table's position; the `Dynamic` counts
    /// the ops queued).
    pub(crate) canceled_by_kind: RefCell<[u64; OP_KINDS]>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            tasks_spawned: Cell::default(),
            tasks_finished: Cell::default(),
            ops_queued: Cell::default(),
            cancels_queued: Cell::default(),
            ops_completed: Cell::default(),
            resumes: Cell::default(),
            parks: Cell::default(),
            ticks: Cell::default(),
            reaps: Cell::default(),
            max_per_reap: Cell::default(),
            ready_high_water: Cell::default(),
            kernel_wait_ns: Cell::default(),
            wakes_by_msg_ring: Cell::default(),
            wakes_by_event: Cell::default(),
            msg_ring_sent: Cell::default(),
            canceled_by_kind: RefCell::new([0; OP_KINDS]),
        }
    }
}

impl Counters {
    pub(crate) fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get().wrapping_add(n));
    }

    /// Counts the op `id` of `io` by kind as one a cancel was queued for.
    pub(crate) fn canceled_kind(&self, io: &Dynamic<'static>, id: Id) {
        io.count_kinds(&[id], &mut self.canceled_by_kind.borrow_mut());
    }

    /// Records one reaping pass that delivered `completed` completions after `since` (the
    /// time it was entered, if it could wait in the kernel); returns the time it ended then.
    pub(crate) fn reaped(&self, completed: usize, since: Option<Instant>) -> Option<Instant> {
        let now = since.map(|since| {
            let now = Instant::now();
            Counters::add(&self.kernel_wait_ns, now.saturating_duration_since(since).as_nanos() as u64);
            now
        });
        if completed > 0 {
            let completed = completed as u64;
            Counters::add(&self.reaps, 1);
            Counters::add(&self.ops_completed, completed);
            if completed > self.max_per_reap.get() {
                self.max_per_reap.set(completed);
            }
        }
        now
    }
}

/// A snapshot of a scheduler's counters ([`Scheduler::metrics`](super::Scheduler::metrics),
/// summed over threads by [`Runtime::metrics`](crate::runtime::Runtime::metrics)). Counts
/// run from the scheduler's creation; the gauges (`tasks_live`, `ops_in_flight`,
/// `ready_queue_depth`, `in_flight_by_kind`) are the state at the snapshot.
///
/// Every op the scheduler's tasks queue is counted once in `ops_queued` (or in
/// `cancels_queued`, for the cancels of a canceled IO call), and once in `ops_completed`
/// when reaped, so `ops_queued + cancels_queued == ops_completed + ops_in_flight`.
///
/// ```
/// use corio_coro::{Scheduler, sleep};
/// use std::time::Duration;
///
/// let scheduler = Scheduler::new()?;
/// scheduler.spawn(|| sleep(Duration::from_millis(1))).join()?;
/// let m = scheduler.metrics();
/// assert_eq!((m.tasks_spawned, m.tasks_finished, m.ops_queued, m.ops_completed), (1, 1, 1, 1));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Tasks that ended (returned, panicked, or were torn down).
    pub tasks_finished: u64,
    /// Tasks alive now.
    pub tasks_live: u64,
    /// Ops queued by the tasks' IO calls and by futures (the reactor's, its mailbox's `Wait`
    /// included).
    pub ops_queued: u64,
    /// `Cancel` ops queued for canceled IO calls and futures.
    pub cancels_queued: u64,
    /// Completions reaped (of both kinds above).
    pub ops_completed: u64,
    /// Ops in flight now.
    pub ops_in_flight: u64,
    /// Ops in flight now by kind (the op table's name, e.g. `"recv"`), most first.
    pub in_flight_by_kind: Vec<(&'static str, u64)>,
    /// Times a task was resumed (its first start included).
    pub resumes: u64,
    /// Times a task parked (in IO, a sync primitive, a join, `yield_now`, or waiting for
    /// room in the IO queue).
    pub parks: u64,
    /// Scheduler passes ([`tick`](super::Scheduler::tick)s).
    pub ticks: u64,
    /// Reaping passes that delivered at least one completion.
    pub reaps: u64,
    /// The most completions one reaping pass delivered.
    pub max_completions_per_reap: u64,
    /// Tasks ready to run now.
    pub ready_queue_depth: u64,
    /// The most tasks ever ready at the start of a pass.
    pub ready_queue_high_water: u64,
    /// Time spent in reaping passes that could wait in the kernel (blocking ticks): the
    /// kernel wait, plus routing what it returned.
    pub kernel_wait: Duration,
    /// Wake-ups from other threads that came as `IORING_OP_MSG_RING` messages from their rings
    /// (tasks of runtime threads on io_uring; see [`Runtime`](crate::runtime::Runtime)).
    pub wakes_by_msg_ring: u64,
    /// Wake-ups from other threads that came through the scheduler's event source (an eventfd
    /// or pipe: from plain threads, or without `MSG_RING`).
    pub wakes_by_event: u64,
    /// `MSG_RING` messages this scheduler's tasks sent to other threads' schedulers.
    pub msg_ring_sent: u64,
    /// Per kind of op (the op table's name, e.g. `"read"`; `"cancel"` for the cancels above),
    /// most queued first: queued, completed, in flight and canceled. For each kind
    /// `queued == completed + in_flight`.
    pub by_kind: Vec<KindMetrics>,
}

/// One kind of op's counts in [`Metrics::by_kind`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindMetrics {
    /// The op table's name (`"recv"`, `"timeout"`, …).
    pub kind: &'static str,
    /// Ops of this kind queued.
    pub queued: u64,
    /// Ops of this kind completed (queued and no longer in flight).
    pub completed: u64,
    /// Ops of this kind in flight now.
    pub in_flight: u64,
    /// Cancels queued for ops of this kind by canceled IO calls.
    pub canceled: u64,
}

impl Metrics {
    /// Completions per reaping pass, on average.
    pub fn completions_per_reap(&self) -> f64 {
        if self.reaps == 0 { 0.0 } else { self.ops_completed as f64 / self.reaps as f64 }
    }

    /// Adds `other` (another thread's) to `self`: counts and gauges add, maxima take the
    /// larger.
    pub fn merge(&mut self, other: &Metrics) {
        self.tasks_spawned += other.tasks_spawned;
        self.tasks_finished += other.tasks_finished;
        self.tasks_live += other.tasks_live;
        self.ops_queued += other.ops_queued;
        self.cancels_queued += other.cancels_queued;
        self.ops_completed += other.ops_completed;
        self.ops_in_flight += other.ops_in_flight;
        for &(kind, n) in &other.in_flight_by_kind {
            match self.in_flight_by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, count)) => *count += n,
                None => self.in_flight_by_kind.push((kind, n)),
            }
        }
        self.in_flight_by_kind.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        self.resumes += other.resumes;
        self.parks += other.parks;
        self.ticks += other.ticks;
        self.reaps += other.reaps;
        self.max_completions_per_reap = self.max_completions_per_reap.max(other.max_completions_per_reap);
        self.ready_queue_depth += other.ready_queue_depth;
        self.ready_queue_high_water = self.ready_queue_high_water.max(other.ready_queue_high_water);
        self.kernel_wait += other.kernel_wait;
        self.wakes_by_msg_ring += other.wakes_by_msg_ring;
        self.wakes_by_event += other.wakes_by_event;
        self.msg_ring_sent += other.msg_ring_sent;
        for k in &other.by_kind {
            match self.by_kind.iter_mut().find(|m| m.kind == k.kind) {
                Some(m) => {
                    m.queued += k.queued;
                    m.completed += k.completed;
                    m.in_flight += k.in_flight;
                    m.canceled += k.canceled;
                }
                None => self.by_kind.push(k.clone()),
            }
        }
        self.by_kind.sort_by(|a, b| b.queued.cmp(&a.queued).then(a.kind.cmp(b.kind)));
    }
}

impl fmt::Display for Metrics {
    /// One line: `tasks 3 live (10 spawned, 7 finished), ops 2 in flight (…), …; by kind recv
    /// 120/4, …` (per kind: queued/in flight, and the cancels if any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tasks {} live ({} spawned, {} finished); ops {} in flight ({} queued, {} cancels, {} completed); \
             {} resumes, {} ticks, {} reaps ({:.1} completions each, max {}); ready {} (high {}); kernel wait {:?}; \
             remote wakes {} by msg_ring, {} by event",
            self.tasks_live,
            self.tasks_spawned,
            self.tasks_finished,
            self.ops_in_flight,
            self.ops_queued,
            self.cancels_queued,
            self.ops_completed,
            self.resumes,
            self.ticks,
            self.reaps,
            self.completions_per_reap(),
            self.max_completions_per_reap,
            self.ready_queue_depth,
            self.ready_queue_high_water,
            self.kernel_wait,
            self.wakes_by_msg_ring,
            self.wakes_by_event,
        )?;
        // Per kind: queued, in flight, and cancels if any (`recv 120/4`, `timeout 9/2/1 canceled`).
        for (i, k) in self.by_kind.iter().enumerate() {
            f.write_str(if i == 0 { "; by kind " } else { ", " })?;
            write!(f, "{} {}/{}", k.kind, k.queued, k.in_flight)?;
            if k.canceled > 0 {
                write!(f, "/{} canceled", k.canceled)?;
            }
        }
        Ok(())
    }
}

impl Inner {
    /// A snapshot of the counters.
    pub(crate) fn metrics(&self) -> Metrics {
        let c = &self.counters;
        let mut by_kind: Vec<(&'static str, u64)> = Vec::new();
        let mut in_flight = 0;
        if let Some(io) = self.io.borrow().as_ref() {
            for (_, _, kind) in io.in_flight_ops_named() {
                in_flight += 1;
                match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, n)) => *n += 1,
                    None => by_kind.push((kind, 1)),
                }
            }
        }
        by_kind.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let queued = self.io.borrow().as_ref().map_or([0; OP_KINDS], |io| *io.queued_by_kind());
        let canceled = c.canceled_by_kind.borrow();
        let mut kinds: Vec<KindMetrics> = (0..OP_KINDS)
            .filter(|&k| queued[k] > 0)
            .map(|k| {
                let kind = op_kind_name(k);
                let in_flight = by_kind.iter().find(|(name, _)| *name == kind).map_or(0, |&(_, n)| n);
                KindMetrics {
                    kind,
                    queued: queued[k],
                    completed: queued[k] - in_flight.min(queued[k]),
                    in_flight,
                    canceled: canceled[k],
                }
            })
            .collect();
        kinds.sort_by(|a, b| b.queued.cmp(&a.queued).then(a.kind.cmp(b.kind)));
        Metrics {
            tasks_spawned: c.tasks_spawned.get(),
            tasks_finished: c.tasks_finished.get(),
            tasks_live: self.tasks.borrow().len as u64,
            ops_queued: c.ops_queued.get(),
            cancels_queued: c.cancels_queued.get(),
            ops_completed: c.ops_completed.get(),
            ops_in_flight: in_flight,
            in_flight_by_kind: by_kind,
            resumes: c.resumes.get(),
            parks: c.parks.get(),
            ticks: c.ticks.get(),
            reaps: c.reaps.get(),
            max_completions_per_reap: c.max_per_reap.get(),
            ready_queue_depth: self.ready.borrow().len() as u64,
            ready_queue_high_water: c.ready_high_water.get(),
            kernel_wait: Duration::from_nanos(c.kernel_wait_ns.get()),
            wakes_by_msg_ring: c.wakes_by_msg_ring.get(),
            wakes_by_event: c.wakes_by_event.get(),
            msg_ring_sent: c.msg_ring_sent.get(),
            by_kind: kinds,
        }
    }
}
