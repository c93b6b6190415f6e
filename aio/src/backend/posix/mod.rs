//! The posix backend: io_uring semantics ([`emu`](super::emu)) over a readiness loop.
//!
//! * Sockets, pipes, event sources, ttys and pidfds: the op is attempted without blocking
//!   first (`MSG_DONTWAIT`, `MSG_NOSIGNAL` on sends, `preadv2`/`pwritev2` with `RWF_NOWAIT`);
//!   if it would block, it waits for readiness and is attempted again. Such a waiting op can
//!   always be canceled. Readiness: epoll driven directly on Linux (`epoll.rs`), the `polling`
//!   crate (kqueue) on macOS and the BSDs, `poll_oneoff` on WASI (`poller_portable.rs`).
//! * A descriptor's registration is kept across ops, edge-triggered, in a bounded table with
//!   its readiness and its waiters (`registry.rs`, which has the life cycle: closes through
//!   aio, numbers closed and reused behind aio's back, dups, idle removal). An op whose
//!   direction was not reported ready since an attempt would block waits without attempting;
//!   a wait for what is registered costs no syscall. Typical cost of a receive that waits: the
//!   attempt that would block, a share of one `epoll_pwait2`, the receive. An op that would
//!   block is attempted again at the end of its pass if a producer started after it, and a
//!   lone one, in a pass that completed something, waits for the next pass's producers
//!   before it parks (`deferred.rs`): two tasks of one thread exchanging messages then need
//!   no poller call at all (6 syscalls per round trip, none of them `epoll_pwait2`).
//! * Connect is a non-blocking connect, then writability, then `SO_ERROR`. Accept waits for
//!   readability (by `poll`) before calling `accept4`, so a blocking listener does not block
//!   the loop (unless another thread takes the connection in between).
//! * Multishot accept waits for readability first (never attempted by its start), then on
//!   each readiness accepts until `EAGAIN`, one report per connection (`Posix::drain_more`),
//!   and waits again. A multishot receive likewise, except that on a stream socket a short
//!   arrival (fewer bytes than its buffer) ends the round unless the read side was reported
//!   closed (`EPOLLRDHUP`): then the round reads on to the end of stream (`registry.rs`).
//! * Child exit: a pidfd, readiness, then `waitid(P_PIDFD, WNOHANG)` into the op's siginfo.
//! * Everything without readiness (files that would block, opens, closes, fsyncs, renames,
//!   sockets, binds, listens, splices) runs on a small worker pool ([`pool`]); queued jobs can
//!   be canceled, running ones cannot (`-EALREADY`).
//! * A receive (`Recv`, `RecvMsg`, `Read`, `Readv`) that readiness woke but that would still
//!   block, on a socket whose read side is shut down (`POLLRDHUP`), completes with 0 (or the
//!   bytes a `MSG_WAITALL` receive has), as the blocking call and io_uring do: a datagram
//!   socket shut down with `SHUT_RD`/`SHUT_RDWR` polls readable for good while `MSG_DONTWAIT`
//!   receives say `EAGAIN` (`ops::woken_in_vain`).
//! * A descriptor whose wake let none of its waiters progress (the readiness epoll reports
//!   holds, the ops' conditions do not: a poll for `POLLPRI` on a readable socket) does not
//!   make the loop spin: registrations are edge-triggered, so it is reported again only on a
//!   new event. Not on WASI (its `poll` stand-in is one-shot, re-armed after each report).
//! * Close first cancels the ops waiting for readiness on its descriptor (`-ECANCELED`), as
//!   the io_uring backend's hidden cancel does, then closes on the pool.
//! * Timers (timeouts and link timeouts) live in the engine; the poller's wait gets the time
//!   to the next deadline (`epoll_pwait2`'s nanosecond timeout on Linux 5.11+, no timerfd;
//!   older kernels round up to a millisecond), minus a learned wake-up margin on machines
//!   (VMs) that wake late from long sleeps: the engine then waits the short rest again
//!   (`emu/timer.rs`, `WakeEarly`). While ops wait on registrations not verified since their
//!   descriptor was idle, waits end every millisecond (`registry::VERIFY_AFTER`) to re-arm
//!   those that have waited that long.
//! * Worker completions wake the loop through an eventfd (Linux), written once per wake-up
//!   and read only by the wait that reports it.
//!
//! # Known deviations from io_uring
//!
//! * Ops on the pool cannot be stopped once a worker runs them (`-EALREADY`), where io_uring
//!   can often interrupt an io-wq worker; a close cancels the ops parked on its descriptor but
//!   not pool jobs queued on it.
//! * A close runs on a worker (io_uring closes inline), and a chain successor unblocked during
//!   a submission starts in completion order (io_uring starts it from task work): whether an op
//!   queued in the same submission sees such an op started is timing-dependent on both.
//! * Accept on a blocking listener and reads on ttys are attempted after `poll` reports
//!   readiness: a competing reader can make that call block the loop. Connect sets
//!   `O_NONBLOCK` on the shared file description for the duration of the `connect` call.
//! * Descriptors the caller made `O_NONBLOCK` are waited on like any other; io_uring may
//!   report `-EAGAIN` for them, depending on the kernel.
//! * A descriptor number closed and reused behind aio's back (a socket dropped, another
//!   accepted with the same number outside aio) while the driver still holds its entry can
//!   delay an op on the new file by up to a millisecond, until the registration is verified.
//! * Elsewhere than Linux (it builds for macOS and FreeBSD, untested there): reads and
//!   writes are `poll` then the syscall, `child_exit` is a blocking `waitpid` on a
//!   worker (not cancelable), splice is `-EOPNOTSUPP`, rename-no-replace is a racy check on
//!   BSDs.
//!
//! # WASI (wasm32-wasip1)
//!
//! Readiness comes from `poll_oneoff` (through wasi-libc's `poll`, see `sys_wasi.rs`), which
//! may report one ready descriptor per wait; timers are the engine's, with the poll timeout
//! rounded up to a millisecond. There are no threads, so the pool runs each job inline when it
//! is submitted (`pool_wasi.rs`): a blocking file op blocks the loop, and pool jobs are never
//! cancelable (they complete before a cancel can see them). No sockets (a socket op that got
//! past its refusal in `op::net` completes with `-ENOTSUP`), no child processes.
//!
//! Nothing here allocates per op: the per-slot table, the event buffer and the pool's queues
//! are sized at creation; the descriptor table (`fd_table.rs`: indexed by descriptor number,
//! kept within two entries per op) grows only when a number higher than any before shows up.

mod blocking;
#[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "dragonfly"))]
mod child_kqueue;
mod deferred;
mod fd_table;
mod ops;
#[cfg(target_os = "linux")]
#[path = "epoll.rs"]
mod poller;
#[cfg(not(target_os = "linux"))]
#[path = "poller_portable.rs"]
mod poller;
#[cfg(not(target_os = "wasi"))]
mod pool;
#[cfg(target_os = "wasi")]
#[path = "pool_wasi.rs"]
mod pool;
mod registry;
#[cfg(not(target_os = "wasi"))]
mod sock;
#[cfg(target_os = "wasi")]
mod sys_wasi;
mod syscall;

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::BackendKind;
use super::emu::{Driver, Engine, MORE, Stop};
use crate::op::RawOp;
use crate::op::table::Output;
use crate::raw::OpState;
use fd_table::FdTable;
use poller::{Events, Poller};
use pool::{Job, Pool};
use registry::{IDLE_SWEEP, VERIFY_AFTER};
use syscall::{Attempt, Interest};

const NONE: u32 = u32::MAX;

/// Polls between two looks at the clock for the idle sweep.
const SWEEP_CHECK: u32 = 256;

/// Polls between two looks at the clock for verification rotations (besides quiet waits).
const ROTATION_CHECK: u32 = 16;

/// The posix backend: the emulation engine over the readiness driver.
pub(crate) type PosixBackend = Engine<Posix>;

/// Creates a posix backend for `capacity` ops in flight.
pub(crate) fn new(capacity: u32) -> io::Result<PosixBackend> {
    Ok(Engine::new(capacity, Posix::new(capacity as usize)?))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Not held by the driver (completed, or never started).
    Idle,
    /// Waiting for readiness on `fd`.
    Waiting,
    /// Handed to the worker pool.
    Pool,
    /// Canceled by a close of its descriptor; the completion waits in `pending`.
    Closing,
    /// Would block; attempted once more at the end of the pass before it waits for readiness
    /// if an op started after it in the same pass may have made it ready (a write to the pipe
    /// it reads, say), so that such pairs cost no poller calls; a lone one may wait for the
    /// next pass's producers first (`deferred.rs`).
    Deferred,
}

#[derive(Clone, Copy)]
struct Slot {
    op: RawOp,
    state: *mut OpState,
    at: At,
    /// What the op waits for: set when it defers or parks, meaningful only while it is
    /// `Deferred` or `Waiting` (stale otherwise).
    fd: RawFd,
    interest: Interest,
    /// The next op waiting on the same descriptor, or `NONE` (while `Waiting`).
    next: u32,
    progress: u32,
    /// When the op was started (or carried over, see [`Posix::flush_deferred`]), in starts of
    /// this driver.
    started: u64,
    /// Carried over to a later pass once already.
    carried: bool,
}

/// The readiness driver.
pub(crate) struct Posix {
    poller: Arc<Poller>,
    /// The reports of the last wait: taken out while `poll` hands them to the waiters (which
    /// borrow the driver), so they are read in place, never copied (`None` only then, or after
    /// a panic there: the next poll makes new ones).
    events: Option<Events>,
    /// The most reports one wait takes.
    events_capacity: usize,
    /// The descriptor table (`registry.rs`, `fd_table.rs`), with room for the numbers below
    /// `2 * bound` at creation; removals never make it reallocate.
    fds: FdTable,
    /// The most entries kept; reaching it drops the idle ones.
    bound: usize,
    /// Descriptors whose ops wait on a registration not verified since they parked.
    unverified: Vec<RawFd>,
    /// Ops waiting for readiness.
    waiting: usize,
    /// The last registration generation handed out.
    generation: u32,
    /// Idle sweeps so far.
    epoch: u64,
    /// Verification rotations so far, and when the next one is due.
    rotation: u64,
    next_rotation: Instant,
    /// Polls since the clock was last read for the idle sweep, and when the next one is due.
    polls: u32,
    next_sweep: Instant,
    slots: Box<[Slot]>,
    pool: Pool,
    /// Completions decided outside `poll` (ops canceled by a close), reported by the next one.
    pending: Vec<(u32, i32)>,
    /// Ops that would block, in start order, to attempt again before they wait.
    deferred: Vec<u32>,
    /// Ops started so far.
    starts: u64,
    /// The value of `starts` when an op that can make another one ready (anything but a
    /// read-like op) last started.
    producer_started: u64,
}

impl Slot {
    /// A slot with no op.
    const IDLE: Slot = Slot {
        op: RawOp::Nop {},
        state: std::ptr::null_mut(),
        at: At::Idle,
        fd: -1,
        interest: Interest { read: false, write: false },
        next: NONE,
        progress: 0,
        started: 0,
        carried: false,
    };
}

impl Posix {
    fn new(capacity: usize) -> io::Result<Posix> {
        let poller = Arc::new(Poller::new()?);
        let events = capacity.clamp(1, 1024);
        // Waiting entries never exceed the capacity (each has an op); as many idle ones again.
        let bound = 2 * capacity.max(32);
        Ok(Posix {
            pool: Pool::new(Arc::clone(&poller), capacity),
            poller,
            events: Some(Events::with_capacity(events)),
            events_capacity: events,
            fds: FdTable::with_capacity(2 * bound),
            bound,
            unverified: Vec::with_capacity(bound),
            waiting: 0,
            generation: 0,
            epoch: 0,
            rotation: 0,
            next_rotation: Instant::now(),
            polls: 0,
            next_sweep: Instant::now() + IDLE_SWEEP,
            slots: vec![Slot::IDLE; capacity].into_boxed_slice(),
            pending: Vec::with_capacity(capacity),
            deferred: Vec::with_capacity(capacity),
            starts: 0,
            producer_started: 0,
        })
    }

    /// Routes the outcome of an attempt; `Some(res)` if the op completed.
    #[inline]
    fn dispose(&mut self, s: u32, attempt: Attempt) -> Option<i32> {
        match attempt {
            Attempt::Done(res) => {
                self.slots[s as usize].at = At::Idle;
                Some(res)
            }
            other => self.dispose_pending(s, other),
        }
    }

    /// [`dispose`](Posix::dispose) of an op that did not complete: it parks or goes to the
    /// pool (out of line: the path of a completed attempt stays short).
    #[inline(never)]
    fn dispose_pending(&mut self, s: u32, attempt: Attempt) -> Option<i32> {
        match attempt {
            Attempt::Done(res) => {
                self.slots[s as usize].at = At::Idle;
                Some(res)
            }
            Attempt::Wait(fd, interest) => match self.park(s, fd, interest) {
                Ok(()) => None,
                // Not pollable (a regular file or a block device): a worker does the blocking
                // form of a read or write.
                Err(e) if e.raw_os_error() == Some(libc::EPERM) && self.slots[s as usize].op.facts().file_io => {
                    self.slots[s as usize].at = At::Idle;
                    self.dispose(s, Attempt::Pool)
                }
                Err(e) => {
                    self.slots[s as usize].at = At::Idle;
                    Some(-e.raw_os_error().unwrap_or(libc::EIO))
                }
            },
            Attempt::More(_) => unreachable!("multishot results are reported by `drain_more`"),
            Attempt::Pool => {
                let slot = &mut self.slots[s as usize];
                slot.at = At::Pool;
                let res = self.pool.submit(Job { slot: s, op: slot.op, state: slot.state });
                if res.is_some() {
                    self.slots[s as usize].at = At::Idle;
                }
                res
            }
        }
    }

    /// Attempts op `s` (in flight: its memory is valid and only this driver touches it) and
    /// learns readiness from the outcome.
    fn attempt(&mut self, s: u32) -> Attempt {
        let slot = &mut self.slots[s as usize];
        let op = slot.op;
        // SAFETY: the op is in flight, so its memory is valid, and only this driver touches
        // it between its start and its report.
        let attempt = unsafe { ops::attempt(&op, slot.state, &mut slot.progress) };
        self.note(&op, &attempt);
        attempt
    }

    /// Reports the results of multishot op `s` while it has some (`attempt` and the
    /// attempts after it), as more to come; returns the first other attempt (a wait, or the
    /// end of the op) and whether any result came.
    #[inline]
    fn drain_more(&mut self, s: u32, attempt: Attempt, done: &mut Vec<(u32, i32)>) -> (Attempt, bool) {
        match attempt {
            Attempt::More(_) => self.drain_more_results(s, attempt, done),
            other => (other, false),
        }
    }

    /// [`drain_more`](Posix::drain_more) for a multishot op that has a result: out of line,
    /// off the path of every other op.
    #[inline(never)]
    fn drain_more_results(&mut self, s: u32, mut attempt: Attempt, done: &mut Vec<(u32, i32)>) -> (Attempt, bool) {
        let mut produced = false;
        while let Attempt::More(res) = attempt {
            produced = true;
            done.push((s | MORE, res));
            attempt = match self.drained_after(s, res) {
                Some(wait) => wait,
                None => self.attempt(s),
            };
        }
        (attempt, produced)
    }

    /// Op `s` completed with `res`: a descriptor it created drops a stale entry of its number.
    fn completed(&mut self, s: u32, res: i32) {
        let slot = &mut self.slots[s as usize];
        slot.at = At::Idle;
        if res >= 0 && creates_fd(&slot.op) {
            self.forget(res);
        }
    }

    /// Waits up to `timeout` for reports into `events`. While ops wait on unverified
    /// registrations, a wait sleeps at most [`VERIFY_AFTER`] at a time, and every such quiet
    /// stretch (or every [`ROTATION_CHECK`] polls, in a loop that never sleeps long) looks at
    /// the clock for a verification rotation (`registry.rs`), so that a wait that ends on a
    /// report costs no clock read.
    fn wait(
        &mut self,
        events: &mut Events,
        mut timeout: Option<Duration>,
        done: &mut Vec<(u32, i32)>,
    ) -> io::Result<()> {
        loop {
            let listed = Poller::EDGE && !self.unverified.is_empty();
            if listed && self.polls.is_multiple_of(ROTATION_CHECK) {
                self.rotate(done);
            }
            if !done.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            let capped = listed && !self.unverified.is_empty() && timeout.is_none_or(|t| t > VERIFY_AFTER);
            events.clear();
            self.poller.wait(events, if capped { Some(VERIFY_AFTER) } else { timeout })?;
            if !capped || !events.is_empty() {
                return Ok(());
            }
            // A quiet stretch.
            self.rotate(done);
            if !done.is_empty() {
                return Ok(());
            }
            timeout = timeout.map(|t| t.saturating_sub(VERIFY_AFTER));
        }
    }

    /// Starts a verification rotation if one is due (see [`Posix::verify_due`]).
    fn rotate(&mut self, done: &mut Vec<(u32, i32)>) {
        let now = Instant::now();
        if now >= self.next_rotation {
            self.rotation += 1;
            self.next_rotation = now + VERIFY_AFTER;
            self.verify_due(self.rotation - 1, done);
        }
    }
}

impl Driver for Posix {
    const KIND: BackendKind = BackendKind::Posix;

    // WASI's `poll` waits in whole milliseconds (see `sys_wasi.rs`); epoll (`epoll_pwait2`)
    // and kqueue wait exactly.
    #[cfg(target_os = "wasi")]
    const TIMEOUT_UNIT: Duration = Duration::from_millis(1);

    fn start(&mut self, s: u32, op: RawOp, state: *mut OpState) -> Option<i32> {
        self.starts += 1;
        if !op.facts().consumer {
            self.producer_started = self.starts;
        }
        // Field by field, and only those every op uses: `fd`, `interest` and `next` are set
        // when the op defers or parks (read only while it is deferred or waiting).
        let slot = &mut self.slots[s as usize];
        slot.op = op;
        slot.state = state;
        slot.at = At::Idle;
        slot.progress = 0;
        slot.started = self.starts;
        slot.carried = false;
        let attempt = if let RawOp::Close { fd } = op {
            self.cancel_fd(fd);
            Attempt::Pool
        } else if let Some(wait) = ops::multishot_start(&op) {
            // Results of a multishot op are reported from `poll` only (see `Driver::poll`):
            // it waits to be attempted at the end of the pass, or on readiness.
            wait
        } else if let Some((fd, dir)) = registry::readiness_target(&op)
            && self.known_blocked(fd, dir)
        {
            // Not ready since an attempt would block: the attempt is skipped.
            Attempt::Wait(fd, dir)
        } else {
            self.attempt(s)
        };
        if let Attempt::Wait(fd, interest) = attempt {
            let slot = &mut self.slots[s as usize];
            (slot.at, slot.fd, slot.interest) = (At::Deferred, fd, interest);
            self.deferred.push(s);
            return None;
        }
        let res = self.dispose(s, attempt);
        if let Some(res) = res {
            self.completed(s, res);
        }
        res
    }

    fn cancel(&mut self, s: u32) -> Stop {
        match self.slots[s as usize].at {
            At::Waiting => {
                self.unpark(s);
                Stop::Parked
            }
            At::Pool => {
                if self.pool.cancel(s) {
                    self.slots[s as usize].at = At::Idle;
                    Stop::Queued
                } else {
                    Stop::Running
                }
            }
            At::Deferred => {
                self.slots[s as usize].at = At::Idle;
                if let Some(i) = self.deferred.iter().position(|&d| d == s) {
                    self.deferred.remove(i);
                }
                Stop::Parked
            }
            // Already stopped by a close: the engine completes it instead of the pending
            // report, which goes (it must not reach a later op of the same slot).
            At::Closing => {
                self.slots[s as usize].at = At::Idle;
                if let Some(i) = self.pending.iter().position(|&(p, _)| p == s) {
                    self.pending.remove(i);
                }
                Stop::Parked
            }
            At::Idle => Stop::Running,
        }
    }

    fn poll(&mut self, timeout: Option<Duration>, done: &mut Vec<(u32, i32)>) -> io::Result<()> {
        self.flush_deferred(done);
        done.append(&mut self.pending);
        self.pool.collect(done);
        let timeout = if done.is_empty() { timeout } else { Some(Duration::ZERO) };
        if self.waiting == 0 && !self.pool.busy() {
            // Nothing can become ready: skip the syscalls of a zero-time wait.
            match timeout {
                Some(Duration::ZERO) => return self.finish_poll(done),
                None => return Err(io::Error::other("posix backend: a blocking wait with nothing in flight")),
                Some(_) => {}
            }
        }
        self.polls += 1;
        if self.polls >= SWEEP_CHECK {
            self.polls = 0;
            let now = Instant::now();
            if now >= self.next_sweep {
                self.sweep(false);
                self.next_sweep = now + IDLE_SWEEP;
            }
        }
        let mut events = self.events.take().unwrap_or_else(|| Events::with_capacity(self.events_capacity));
        let waited = self.wait(&mut events, timeout, done);
        if waited.is_ok() {
            for r in events.iter() {
                self.on_ready(r, done);
            }
        }
        self.events = Some(events);
        waited?;
        self.pool.collect(done);
        self.finish_poll(done)
    }

    fn describe(&self) -> String {
        #[cfg(target_os = "wasi")]
        return "posix (poll_oneoff readiness, no threads: blocking ops run inline)".to_string();
        #[cfg(target_os = "linux")]
        return format!("posix (edge-triggered epoll readiness, up to {} workers)", self.pool.max_threads());
        #[cfg(not(any(target_os = "wasi", target_os = "linux")))]
        format!("posix (edge-triggered readiness via polling, up to {} workers)", self.pool.max_threads())
    }

    fn grow(&mut self, capacity: usize) -> bool {
        if capacity > self.slots.len() {
            let mut slots = std::mem::take(&mut self.slots).into_vec();
            slots.resize(capacity, Slot::IDLE);
            self.slots = slots.into();
            // The descriptor table's bound follows the capacity (see `new`).
            self.bound = 2 * capacity.max(32);
            self.fds.reserve((2 * self.bound).saturating_sub(self.fds.len()));
            self.unverified.reserve(self.bound.saturating_sub(self.unverified.len()));
            self.pending.reserve(capacity.saturating_sub(self.pending.len()));
            self.deferred.reserve(capacity.saturating_sub(self.deferred.len()));
        }
        true
    }

    /// A registered file slot is filled again: its old descriptor is closed next.
    fn closing(&mut self, fd: RawFd) {
        self.cancel_fd(fd);
    }
}

impl Posix {
    /// Marks the ops in `done` completed (see [`Posix::completed`]); a multishot op's result
    /// with more to come leaves the op where it is (a descriptor it made still drops a stale
    /// entry of its number).
    fn finish_poll(&mut self, done: &[(u32, i32)]) -> io::Result<()> {
        for &(s, res) in done {
            if s & MORE == 0 {
                self.completed(s, res);
            } else if res >= 0 && creates_fd(&self.slots[(s & !MORE) as usize].op) {
                self.forget(res);
            }
        }
        Ok(())
    }
}

/// Whether a result of `op` is a new descriptor.
fn creates_fd(op: &RawOp) -> bool {
    matches!(op.facts().output, Output::File | Output::Socket | Output::Accepted)
}

#[cfg(test)]
#[cfg(not(target_os = "wasi"))] // Pipes: not on WASI.
mod tests;
