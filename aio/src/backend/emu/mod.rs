//! An OS-independent engine with io_uring's semantics, over a small [`Driver`].
//!
//! The engine owns everything that is not an OS call: chains (soft and hard links), link
//! timeouts, timeouts, cancel by id, nops, and completion bookkeeping. A driver only starts
//! "real" ops, tries to stop them, and waits for OS events; the posix readiness loop is one
//! driver, a Windows IOCP one can be another.
//!
//! # Semantics (those of the Linux kernel, not of zig-aio's "uringlator")
//!
//! * Unlinked ops start in queue order, at the next `submit`.
//! * An op linked to the next one starts that one when it completes. If it *failed* and its
//!   link is soft, the whole rest of the chain ends `-ECANCELED` without starting, whatever
//!   the links further down (`io_fail_links`). An op fails when its result is negative, or is
//!   short for a read, a write or a splice (and a `MSG_WAITALL` receive or send); but, as in
//!   the kernel, a timeout reporting `-ETIME` does not fail (`IORING_TIMEOUT_ETIME_SUCCESS`,
//!   as the io_uring backend asks), and neither do mkdirat, unlinkat, renameat, symlinkat,
//!   fsync and shutdown whatever they report (their handlers never mark the request failed).
//! * A link timeout is armed when the op it guards starts (if that op completes on the spot,
//!   the link timeout reports `-ECANCELED` unarmed). Either way it leaves the chain then: the
//!   guarded op's own result and link decide what follows the link timeout. So
//!   * the guarded op finishes first: the link timeout reports `-ECANCELED` (decoded as `Ok`);
//!     a soft-linked guarded op that failed on its own cancels everything after the link
//!     timeout;
//!   * the link timeout fires: the guarded op is canceled (`-ECANCELED`, so the rest of a
//!     soft chain is canceled) and the link timeout reports `-ETIME`; if the driver cannot
//!     stop the guarded op, the link timeout reports `-EALREADY` and the op completes on
//!     its own. A driver whose stop is only a request to the OS (IOCP) makes the link
//!     timeout report `-ETIME` and the guarded op report what the OS says later.
//! * A cancel finds only ops that have started and not completed: a timeout or a driver op
//!   that can still be stopped ends `-ECANCELED` and the cancel reports 0; a running op that
//!   cannot be stopped makes it report `-EALREADY`. A stopped timeout or queued worker job
//!   completes at once, a stopped op that waited for readiness at the end of the pass (the
//!   kernel completes canceled poll-armed requests from task work), so a second cancel in the
//!   same pass finds the latter again (0) but not the former (`-ENOENT`); anything else (a stale or finished id, an
//!   op not started yet, a link timeout) `-ENOENT`. A timer that fired but whose completion is
//!   not reaped yet is finished, so canceling it reports `-ENOENT`.
//!
//! * A multishot op (`AcceptMulti`) is started once; the driver reports each of its results
//!   with [`MORE`] and keeps it (re-armed on readiness), until a final report ends it; a
//!   cancel stops it like any driver op. It is never linked.
//!
//! Every array is sized at creation from the capacity; queueing, starting and completing an
//! op allocate nothing.

mod chain;
mod driver;
pub(crate) mod files;
pub(crate) mod timer;

use std::io;
use std::time::{Duration, Instant};

use super::{Backend, BackendKind, Queued};
use crate::id::Id;
use crate::op::RawOp;
use crate::raw::{Link, OpState};
use crate::sys;
use chain::{deadline, is_link_timeout};
use files::uses_files;
use timer::{Timers, WakeEarly};

pub(crate) use driver::{Driver, MORE, Stop};

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not queued.
    Free,
    /// Waiting for its chain predecessor.
    Waiting,
    /// In the start queue.
    Ready,
    /// Handed to the driver.
    Driver,
    /// A timer is armed (a timeout, or a link timeout guarding its predecessor).
    Timer,
    /// Stopped by a cancel op; completes `-ECANCELED` at the end of the current pass.
    Canceling,
    /// Completed; its completion is waiting to be reported.
    Done,
}

#[derive(Clone, Copy)]
struct Rec {
    id: Id,
    op: RawOp,
    state: *mut OpState,
    link: Link,
    /// The op uses the registered file table (a slot target, a direct op, `CloseFixed`):
    /// `files.rs` prepares it and installs what it opened.
    files: bool,
    /// Its target is a slot (`Queued::fixed`).
    fixed: bool,
    /// The next op of the chain, or `NONE`.
    next: u32,
    /// The previous op of the chain, or `NONE` (for a link timeout: the op it guards).
    prev: u32,
    phase: Phase,
}

impl Rec {
    /// The record of a free slot.
    const FREE: Rec = Rec {
        id: Id::from_u64(Id::HIDDEN),
        op: RawOp::Nop {},
        state: std::ptr::null_mut(),
        link: Link::Unlinked,
        files: false,
        fixed: false,
        next: NONE,
        prev: NONE,
        phase: Phase::Free,
    };
}

/// The io_uring-semantics engine over a driver `D`.
pub(crate) struct Engine<D> {
    recs: Box<[Rec]>,
    /// Ops to start, in queue order (`progress` starts them all, then clears it: a plain
    /// vector is a cheaper queue than a ring here).
    ready: Vec<u32>,
    /// Completions to report, in completion order, and whether more of the op follow; those
    /// before `done_head` are reported (`flush` clears it once all are: a report that panics
    /// leaves the rest for the next one).
    done: Vec<(Id, i32, bool)>,
    done_head: usize,
    timers: Timers,
    wake: WakeEarly,
    /// Scratch for the driver's completions.
    incoming: Vec<(u32, i32)>,
    /// Driver ops stopped by cancel ops, completed at the end of the pass.
    canceling: Vec<u32>,
    driver: D,
    /// The registered file table (`files.rs`), once created.
    files: Option<files::Files>,
    /// Multishot direct ops ended by the table (a failed install) that the driver still
    /// runs: the error their final report carries (`files.rs`).
    ended_by_files: Vec<(u32, i32)>,
}

impl<D: Driver> Engine<D> {
    pub(crate) fn new(capacity: u32, driver: D) -> Engine<D> {
        assert!(capacity < MORE, "capacity too large");
        let n = capacity as usize;
        Engine {
            recs: vec![Rec::FREE; n].into_boxed_slice(),
            ready: Vec::with_capacity(n),
            done: Vec::with_capacity(n),
            done_head: 0,
            timers: Timers::new(n),
            wake: WakeEarly::new(D::TIMEOUT_UNIT),
            incoming: Vec::with_capacity(n),
            canceling: Vec::with_capacity(n),
            driver,
            files: None,
            ended_by_files: Vec::new(),
        }
    }

    /// Starts what is ready, waits (with `wait`) for at least one completion, and reports
    /// every completion to `sink`. Not generic over the sink (unlike the trait's `submit`):
    /// one copy of the engine's loop serves every caller.
    fn submit_dyn(&mut self, wait: bool, sink: &mut dyn FnMut(Id, i32, bool)) -> io::Result<()> {
        let mut reported = 0;
        loop {
            self.progress();
            reported += self.flush(sink);
            let block = wait && reported == 0 && self.ready.is_empty();
            if !block {
                self.driver.poll(Some(Duration::ZERO), &mut self.incoming)?;
            } else {
                // The clock is read only with a timer armed: a wait for IO alone needs none.
                let timed = self.timers.next().map(|at| {
                    let started = Instant::now();
                    (started, self.wake.timeout(started, at))
                });
                self.driver.poll(timed.map(|(_, asked)| asked), &mut self.incoming)?;
                match timed {
                    Some((started, asked)) if !asked.is_zero() && self.incoming.is_empty() => {
                        self.wake.observe(started, asked, Instant::now());
                    }
                    // A zero wait with a timer armed is a busy-poll in the spin window (or a
                    // deadline that just passed): the loop polls again until the timer fires
                    // or anything completes, and returns then, as a wait would.
                    Some(_) if self.incoming.is_empty() => std::hint::spin_loop(),
                    _ => {}
                }
            }
            let mut incoming = std::mem::take(&mut self.incoming);
            for (s, res) in incoming.drain(..) {
                if s & MORE != 0 {
                    self.report_more(s & !MORE, res);
                } else if self.recs[s as usize].phase == Phase::Driver {
                    let res = self.driver_result(s, res);
                    self.finish(s, res);
                }
            }
            self.incoming = incoming;
            self.progress();
            reported += self.flush(sink);
            if !wait || reported > 0 {
                return Ok(());
            }
        }
    }

    /// Fires expired timers and starts ready ops until neither has anything left; ops stopped
    /// by cancel ops complete once nothing is left to start.
    fn progress(&mut self) {
        // Timers that expired before this pass fire first (a cancel in the pass then finds
        // them finished); timers expiring during the pass fire only once nothing is left to
        // start or to complete, so the pass's own outcome does not depend on its duration.
        self.fire_expired();
        loop {
            if !self.ready.is_empty() {
                // `start` may append (a chain's next op): it is started in this loop too.
                let mut i = 0;
                while let Some(&s) = self.ready.get(i) {
                    i += 1;
                    if self.recs[s as usize].phase == Phase::Ready {
                        self.start(s);
                    }
                }
                self.ready.clear();
            } else if !self.canceling.is_empty() {
                let mut canceling = std::mem::take(&mut self.canceling);
                for s in canceling.drain(..) {
                    if self.recs[s as usize].phase == Phase::Canceling {
                        self.finish(s, -sys::ECANCELED);
                    }
                }
                self.canceling = canceling;
            } else if !self.fire_expired() {
                return;
            }
        }
    }

    /// Fires the timers that expired; whether there was any. Reads the clock only while a
    /// timer is armed: a pass without timers costs no clock read.
    #[inline]
    fn fire_expired(&mut self) -> bool {
        self.timers.next().is_some() && self.fire_expired_armed()
    }

    /// [`fire_expired`](Engine::fire_expired) with a timer armed (out of line: a pass
    /// without timers costs one comparison).
    #[inline(never)]
    fn fire_expired_armed(&mut self) -> bool {
        let now = Instant::now();
        let mut fired = false;
        while let Some(t) = self.timers.pop_expired(now) {
            self.fire(t);
            fired = true;
        }
        fired
    }

    fn flush(&mut self, sink: &mut dyn FnMut(Id, i32, bool)) -> usize {
        let mut n = 0;
        while let Some(&(id, res, more)) = self.done.get(self.done_head) {
            self.done_head += 1;
            let rec = &mut self.recs[id.slot() as usize];
            if rec.id == id && rec.phase == Phase::Done {
                rec.phase = Phase::Free;
            }
            n += 1;
            sink(id, res, more);
        }
        self.done.clear();
        self.done_head = 0;
        n
    }

    /// A result of multishot op `s` that stays started. Drivers report such results only
    /// from `poll`, which the engine reads before it starts anything (a cancel among them), so
    /// the op is still the driver's; a report for anything else would be a driver bug.
    fn report_more(&mut self, s: u32, res: i32) {
        let rec = &self.recs[s as usize];
        if rec.phase == Phase::Driver && rec.op.facts().multishot {
            let id = rec.id;
            let res = self.driver_result(s, res);
            if res < 0 {
                // The table refused what it opened: the op ends, as in the kernel.
                return self.end_by_files(s, res);
            }
            self.done.push((id, res, true));
        } else if rec.phase == Phase::Done && rec.files {
            // A result that came in the same poll as the one that ended the op.
            self.drop_late_result(s, res);
        } else {
            debug_assert!(false, "a driver reported more of slot {s}, not a started multishot op");
            log::error!("corio-aio: dropping a report of more for slot {s}, not a started multishot op");
        }
    }

    fn start(&mut self, s: u32) {
        // Not a copy of the whole record: a driver op reads four fields of it.
        let rec = &self.recs[s as usize];
        let (op, state, files, fixed) = (rec.op, rec.state, rec.files, rec.fixed);
        match op {
            RawOp::Nop {} => self.finish(s, 0),
            RawOp::Timeout { nanos } | RawOp::TimeoutMulti { nanos, .. } => {
                self.recs[s as usize].phase = Phase::Timer;
                self.timers.arm(s, deadline(nanos));
            }
            // A link timeout starts with the op it guards, never on its own; one that does
            // (after another link timeout) has nothing to guard.
            RawOp::LinkTimeout { .. } => self.finish(s, -sys::EINVAL),
            RawOp::Cancel { target } => {
                let res = self.cancel_target(target);
                self.finish(s, res);
            }
            op => {
                self.recs[s as usize].phase = Phase::Driver;
                let op = if files { self.files_start(op, fixed) } else { Ok(op) };
                match op {
                    Ok(op) => {
                        if let Some(res) = self.driver.start(s, op, state) {
                            let res = self.driver_result(s, res);
                            self.finish(s, res);
                        }
                    }
                    Err(res) => self.finish(s, res),
                }
            }
        }
        // Arm the link timeout guarding this op if the op is still running (if it completed
        // on the spot, `finish` already reported the link timeout canceled).
        let n = self.recs[s as usize].next;
        if n != NONE
            && let RawOp::LinkTimeout { nanos } = self.recs[n as usize].op
            && matches!(self.recs[s as usize].phase, Phase::Driver | Phase::Timer)
        {
            self.recs[n as usize].phase = Phase::Timer;
            self.timers.arm(n, deadline(nanos));
        }
    }
}

// SAFETY: an op is reported finally once: when it completes (`finish`/`complete` move it to
// `Done`, `flush` reports and frees it), and a slot is reused only after that report. Reports
// with `more` come only for a multishot op still started (`report_more`), which is never
// linked (the queuer refuses it) and ends like any driver op when canceled. The engine
// hands an op's memory to the driver only between `start` and the driver's report (or a
// cancel the driver confirmed, `Stop::Parked`/`Queued`); links, link timeouts and cancels
// follow io_uring's rules (module docs). `queue` checks the whole batch before taking any op.
unsafe impl<D: Driver> Backend for Engine<D> {
    fn kind(&self) -> BackendKind {
        D::KIND
    }

    fn describe(&self) -> String {
        self.driver.describe()
    }

    /// Takes a batch; never fails (the caller checked the capacity and the links).
    unsafe fn queue(&mut self, batch: &[Queued]) -> io::Result<()> {
        if let Some(q) = batch.iter().find(|q| q.id.slot() as usize >= self.recs.len()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("id {:?} beyond capacity", q.id)));
        }
        // The op before, if it links to this one.
        let mut linked_from = NONE;
        for q in batch {
            let s = q.id.slot();
            let (prev, phase) = if linked_from == NONE {
                self.ready.push(s);
                (NONE, Phase::Ready)
            } else {
                self.recs[linked_from as usize].next = s;
                (linked_from, Phase::Waiting)
            };
            // Written field by field: building a whole `Rec` first made the compiler copy it.
            let rec = &mut self.recs[s as usize];
            rec.id = q.id;
            rec.op = q.op.unregistered();
            rec.state = q.state;
            rec.link = q.link;
            rec.files = q.fixed || uses_files(&q.op);
            rec.fixed = q.fixed;
            rec.next = NONE;
            rec.prev = prev;
            rec.phase = phase;
            linked_from = if q.link == Link::Unlinked { NONE } else { s };
        }
        Ok(())
    }

    fn submit(&mut self, min: usize, mut sink: impl FnMut(Id, i32, bool)) -> io::Result<()> {
        self.submit_dyn(min > 0, &mut sink)
    }

    /// Cancels every op in `live` (the drop path): unstarted ops and timers end at once,
    /// driver ops are stopped when the driver can.
    fn cancel(&mut self, live: &mut dyn Iterator<Item = Id>) -> io::Result<()> {
        for id in live {
            let s = id.slot();
            let Some(rec) = self.recs.get(s as usize).copied() else { continue };
            if rec.id != id {
                continue;
            }
            match rec.phase {
                Phase::Ready | Phase::Waiting => {
                    if rec.prev != NONE {
                        self.recs[rec.prev as usize].next = NONE;
                    }
                    self.cancel_chain(s);
                }
                Phase::Timer if is_link_timeout(&rec.op) => {
                    self.timers.disarm(s);
                    self.unlink_timeout(s);
                    self.complete(s, -sys::ECANCELED);
                }
                Phase::Timer => {
                    self.timers.disarm(s);
                    self.finish(s, -sys::ECANCELED);
                }
                Phase::Driver => {
                    if matches!(self.driver.cancel(s), Stop::Parked | Stop::Queued) {
                        self.finish(s, -sys::ECANCELED);
                    }
                }
                Phase::Canceling | Phase::Done | Phase::Free => {}
            }
        }
        Ok(())
    }

    /// Busy-polls (instead of waiting) for up to `spin` before a timer's deadline; zero: off.
    /// See `Dynamic::set_timer_spin`.
    fn set_timer_spin(&mut self, spin: Duration) {
        self.wake.set_spin(spin);
    }

    fn register_files(&mut self, capacity: u32) -> io::Result<()> {
        self.create_files(capacity)
    }

    fn install_file(&mut self, slot: u32, file: sys::Owned) -> io::Result<()> {
        self.install(slot, file)
    }

    fn grow(&mut self, capacity: usize) -> bool {
        if capacity <= self.recs.len() {
            return true;
        }
        if !self.driver.grow(capacity) {
            return false;
        }
        let mut recs = std::mem::take(&mut self.recs).into_vec();
        recs.resize(capacity, Rec::FREE);
        self.recs = recs.into();
        self.timers.grow(capacity);
        self.ready.reserve(capacity.saturating_sub(self.ready.len()));
        self.done.reserve(capacity.saturating_sub(self.done.len()));
        self.incoming.reserve(capacity.saturating_sub(self.incoming.len()));
        self.canceling.reserve(capacity.saturating_sub(self.canceling.len()));
        true
    }
}

#[cfg(test)]
mod tests;
