//! The posix backend: io_uring semantics ([`emu`](super::emu)) over a readiness loop.
//!
//! * Sockets, pipes, event sources, ttys and pidfds: the op is attempted without blocking
//!   first (`MSG_DONTWAIT`, `MSG_NOSIGNAL` on sends, `preadv2`/`pwritev2` with `RWF_NOWAIT`);
//!   if it would block, it waits for readiness (epoll through the `polling` crate, one
//!   registration per descriptor shared by every op waiting on it) and is attempted again.
//!   Such a waiting op can always be canceled.
//! * Connect is a non-blocking connect, then writability, then `SO_ERROR`. Accept waits for
//!   readability (by `poll`) before calling `accept4`, so a blocking listener does not block
//!   the loop (unless another thread takes the connection in between).
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
//!   holds, the ops' conditions do not: a poll for `POLLPRI` on a readable socket) is
//!   registered edge-triggered until its last waiter leaves, instead of one-shot: re-arming a
//!   one-shot registration on a descriptor that stays ready reports it again at once, and the
//!   loop would spin (`Posix::on_ready`). Not on WASI (its `poll` stand-in has no edge mode).
//! * Close first cancels the ops waiting for readiness on its descriptor (`-ECANCELED`), as
//!   the io_uring backend's hidden cancel does, then closes on the pool.
//! * Timers (timeouts and link timeouts) live in the engine; the poller's wait gets the time
//!   to the next deadline (`polling` uses a timerfd, so precision is sub-millisecond), minus a
//!   learned wake-up margin on machines (VMs) that wake late from long sleeps: the engine then
//!   waits the short rest again (`emu/timer.rs`, `WakeEarly`).
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
//! Nothing here allocates per op: the per-slot table, the descriptor table (a `HashMap`
//! with room for one entry per op), the event buffer and the pool's queues are sized at
//! creation.

mod blocking;
#[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "dragonfly"))]
mod child_kqueue;
mod ops;
#[cfg(not(target_os = "wasi"))]
mod pool;
#[cfg(target_os = "wasi")]
#[path = "pool_wasi.rs"]
mod pool;
#[cfg(not(target_os = "wasi"))]
mod sock;
#[cfg(target_os = "wasi")]
mod sys_wasi;
mod syscall;

use std::collections::HashMap;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

#[cfg(not(target_os = "wasi"))]
use polling::{Event, Events, Poller};
#[cfg(target_os = "wasi")]
use sys_wasi::{Event, Events, Poller};

use super::BackendKind;
use super::emu::{Driver, Engine, Stop};
use crate::op::RawOp;
use crate::raw::OpState;
use pool::{Job, Pool};
use syscall::{Attempt, Interest};

const NONE: u32 = u32::MAX;

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
    /// it reads, say), so that such pairs cost no epoll calls.
    Deferred,
}

#[derive(Clone, Copy)]
struct Slot {
    op: RawOp,
    state: *mut OpState,
    at: At,
    fd: RawFd,
    interest: Interest,
    /// The next op waiting on the same descriptor, or `NONE`.
    next: u32,
    progress: u32,
    /// When the op was started, in starts of this driver.
    started: u64,
}

/// The ops waiting on one descriptor, first to last, and how the descriptor is registered.
#[derive(Clone, Copy)]
struct Waiters {
    head: u32,
    tail: u32,
    /// Registered edge-triggered (persistent) rather than one-shot: after a wake in which no
    /// waiter made progress (see [`Posix::on_ready`]).
    edge: bool,
    /// The interest registered (in edge mode, re-registered only when it changes).
    armed: Interest,
}

/// The readiness driver.
pub(crate) struct Posix {
    poller: Arc<Poller>,
    events: Events,
    /// Scratch: the events of one wait as `(fd, readable, writable)`.
    ready: Vec<(RawFd, bool, bool)>,
    waits: HashMap<RawFd, Waiters>,
    slots: Box<[Slot]>,
    pool: Pool,
    /// Completions decided outside `poll` (ops canceled by a close), reported by the next one.
    pending: Vec<(u32, i32)>,
    /// Ops that would block, in start order, to attempt again before they wait.
    deferred: Vec<u32>,
    /// Whether the poller can register a descriptor edge-triggered (not on WASI's stand-in).
    edge_ok: bool,
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
    };
}

impl Posix {
    fn new(capacity: usize) -> io::Result<Posix> {
        let poller = Arc::new(Poller::new()?);
        let events = NonZeroUsize::new(capacity.clamp(1, 1024)).expect("clamped to at least 1");
        #[cfg(not(target_os = "wasi"))]
        let edge_ok = poller.supports_edge();
        #[cfg(target_os = "wasi")]
        let edge_ok = false;
        Ok(Posix {
            pool: Pool::new(Arc::clone(&poller), capacity),
            edge_ok,
            poller,
            events: Events::with_capacity(events),
            ready: Vec::with_capacity(events.get()),
            waits: HashMap::with_capacity(capacity),
            slots: vec![Slot::IDLE; capacity].into_boxed_slice(),
            pending: Vec::with_capacity(capacity),
            deferred: Vec::with_capacity(capacity),
            starts: 0,
            producer_started: 0,
        })
    }

    /// Routes the outcome of an attempt; `Some(res)` if the op completed.
    fn dispose(&mut self, s: u32, attempt: Attempt) -> Option<i32> {
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

    /// Makes op `s` wait for `interest` on `fd`.
    fn park(&mut self, s: u32, fd: RawFd, interest: Interest) -> io::Result<()> {
        let slot = &mut self.slots[s as usize];
        slot.at = At::Waiting;
        slot.fd = fd;
        slot.interest = interest;
        slot.next = NONE;
        if let Some(w) = self.waits.get_mut(&fd) {
            self.slots[w.tail as usize].next = s;
            w.tail = s;
            return self.rearm(fd, false);
        }
        let event = Event::new(fd as usize, interest.read, interest.write);
        // SAFETY: the registration is deleted before the descriptor can be closed by us (a
        // close op cancels its waiters first) and as soon as no op waits on it; an op borrows
        // its descriptor until it completes, so the caller cannot close it meanwhile.
        unsafe { self.poller.add(fd, event) }?;
        self.waits.insert(fd, Waiters { head: s, tail: s, edge: false, armed: interest });
        Ok(())
    }

    /// Registers `fd` for what its waiters want, or deregisters it if none is left.
    ///
    /// A one-shot registration is re-armed every time (it is disarmed once it reports). An
    /// edge-triggered one stays armed: it is modified only when the interest changes (or when
    /// `switch` turns a one-shot registration into one), because modifying a registration
    /// reports it at once if it is ready, edge-triggered or not: that is the spin it avoids.
    fn rearm(&mut self, fd: RawFd, switch: bool) -> io::Result<()> {
        // SAFETY: `fd` is registered, hence open (see `park`).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let Some(w) = self.waits.get_mut(&fd) else { return self.poller.delete(borrowed) };
        let mut want = Interest::default();
        let mut s = w.head;
        while s != NONE {
            let slot = &self.slots[s as usize];
            want.read |= slot.interest.read;
            want.write |= slot.interest.write;
            s = slot.next;
        }
        let event = Event::new(fd as usize, want.read, want.write);
        if !w.edge {
            w.armed = want;
            return self.poller.modify(borrowed, event);
        }
        if want == w.armed && !switch {
            return Ok(());
        }
        w.armed = want;
        #[cfg(not(target_os = "wasi"))]
        return self.poller.modify_with_mode(borrowed, event, polling::PollMode::Edge);
        // Never edge-triggered there (`edge_ok` is false).
        #[cfg(target_os = "wasi")]
        self.poller.modify(borrowed, event)
    }

    /// Takes op `s` off its descriptor's waiters.
    fn unpark(&mut self, s: u32) {
        let fd = self.slots[s as usize].fd;
        self.slots[s as usize].at = At::Idle;
        let Some(mut w) = self.waits.get(&fd).copied() else { return };
        let (mut prev, mut cur) = (NONE, w.head);
        while cur != NONE && cur != s {
            prev = cur;
            cur = self.slots[cur as usize].next;
        }
        if cur == NONE {
            return;
        }
        let next = self.slots[s as usize].next;
        if prev == NONE {
            w.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if w.tail == s {
            w.tail = prev;
        }
        if w.head == NONE {
            self.waits.remove(&fd);
        } else {
            self.waits.insert(fd, w);
        }
        if let Err(e) = self.rearm(fd, false) {
            log::warn!("corio-aio: cannot update the readiness registration of fd {fd}: {e}");
        }
    }

    /// Cancels every op waiting for readiness on `fd` (a close of `fd` is starting).
    fn cancel_fd(&mut self, fd: RawFd) {
        for &s in &self.deferred {
            let slot = &mut self.slots[s as usize];
            if slot.at == At::Deferred && slot.fd == fd {
                slot.at = At::Closing;
                self.pending.push((s, -libc::ECANCELED));
            }
        }
        let Some(w) = self.waits.remove(&fd) else { return };
        // SAFETY: `fd` is registered, hence still open: its close has not run yet.
        if let Err(e) = self.poller.delete(unsafe { BorrowedFd::borrow_raw(fd) }) {
            log::warn!("corio-aio: cannot deregister fd {fd}: {e}");
        }
        let mut s = w.head;
        while s != NONE {
            let slot = &mut self.slots[s as usize];
            slot.at = At::Closing;
            self.pending.push((s, -libc::ECANCELED));
            s = std::mem::replace(&mut slot.next, NONE);
        }
    }

    /// Attempts the ops deferred in this pass once more (if an op that can make them ready
    /// started after them: a write, a send, a notify, a close…), then parks those that still
    /// would block.
    fn flush_deferred(&mut self, done: &mut Vec<(u32, i32)>) {
        let mut deferred = std::mem::take(&mut self.deferred);
        for s in deferred.drain(..) {
            let slot = self.slots[s as usize];
            if slot.at != At::Deferred {
                continue;
            }
            let attempt = if slot.started >= self.producer_started {
                Attempt::Wait(slot.fd, slot.interest)
            } else {
                // SAFETY: the op is in flight, so its memory is valid, and only this driver
                // touches it while it is deferred.
                unsafe { ops::attempt(&slot.op, slot.state, &mut self.slots[s as usize].progress) }
            };
            if let Some(res) = self.dispose(s, attempt) {
                done.push((s, res));
            }
        }
        self.deferred = deferred;
    }

    /// `fd` is ready: attempts its waiters again.
    ///
    /// A wake in which no waiter makes progress (each would still block, for the same
    /// interest) is spurious: the readiness the registration asks for holds while the ops'
    /// calls would block (a poll for `POLLPRI` on a readable socket, say; epoll's read interest
    /// includes `EPOLLIN` and `EPOLLPRI`), and a one-shot registration re-armed for it would
    /// report again at once, for ever: a loop burning a core. The descriptor is then
    /// registered edge-triggered until its last waiter leaves, so that it reports new events
    /// only.
    fn on_ready(&mut self, fd: RawFd, readable: bool, writable: bool, done: &mut Vec<(u32, i32)>) {
        let Some(w) = self.waits.remove(&fd) else { return };
        let (mut head, mut tail) = (NONE, NONE);
        let mut progress = false;
        let mut s = w.head;
        while s != NONE {
            let slot = self.slots[s as usize];
            let next = slot.next;
            self.slots[s as usize].next = NONE;
            let attempt = if (readable && slot.interest.read) || (writable && slot.interest.write) {
                // SAFETY: the op is in flight, so its memory is valid, and only this driver
                // touches it while it waits for readiness.
                match unsafe { ops::attempt(&slot.op, slot.state, &mut self.slots[s as usize].progress) } {
                    // Ready, yet it would block: a receive on a socket shut down for reading
                    // ends as the blocking call does (see `ops::woken_in_vain`).
                    Attempt::Wait(wfd, interest) if wfd == fd => {
                        match ops::woken_in_vain(&slot.op, self.slots[s as usize].progress) {
                            Some(res) => Attempt::Done(res),
                            None => Attempt::Wait(wfd, interest),
                        }
                    }
                    other => other,
                }
            } else {
                Attempt::Wait(fd, slot.interest)
            };
            match attempt {
                Attempt::Wait(wfd, interest) if wfd == fd => {
                    progress |= interest != slot.interest;
                    self.slots[s as usize].interest = interest;
                    if tail == NONE {
                        head = s;
                    } else {
                        self.slots[tail as usize].next = s;
                    }
                    tail = s;
                }
                other => {
                    progress = true;
                    if let Some(res) = self.dispose(s, other) {
                        done.push((s, res));
                    }
                }
            }
            s = next;
        }
        let switch = !progress && !w.edge && self.edge_ok;
        if head != NONE {
            self.waits.insert(fd, Waiters { head, tail, edge: w.edge || switch, armed: w.armed });
        }
        if let Err(e) = self.rearm(fd, switch) {
            log::warn!("corio-aio: cannot update the readiness registration of fd {fd}: {e}");
        }
    }
}

impl Driver for Posix {
    const KIND: BackendKind = BackendKind::Posix;

    // WASI's `poll` waits in whole milliseconds (see `sys_wasi.rs`); epoll (through
    // `polling`'s timerfd) and kqueue wait exactly.
    #[cfg(target_os = "wasi")]
    const TIMEOUT_UNIT: Duration = Duration::from_millis(1);

    fn start(&mut self, s: u32, op: RawOp, state: *mut OpState) -> Option<i32> {
        self.starts += 1;
        if !op.facts().consumer {
            self.producer_started = self.starts;
        }
        self.slots[s as usize] = Slot {
            op,
            state,
            at: At::Idle,
            fd: -1,
            interest: Interest::default(),
            next: NONE,
            progress: 0,
            started: self.starts,
        };
        let attempt = if let RawOp::Close { fd } = op {
            self.cancel_fd(fd);
            Attempt::Pool
        } else {
            // SAFETY: the op was just started: its memory is valid and nothing else uses it.
            unsafe { ops::attempt(&op, state, &mut self.slots[s as usize].progress) }
        };
        if let Attempt::Wait(fd, interest) = attempt {
            let slot = &mut self.slots[s as usize];
            (slot.at, slot.fd, slot.interest) = (At::Deferred, fd, interest);
            self.deferred.push(s);
            return None;
        }
        self.dispose(s, attempt)
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
        if self.waits.is_empty() && !self.pool.busy() {
            // Nothing can become ready: skip the syscalls of a zero-time wait.
            match timeout {
                Some(Duration::ZERO) => return Ok(()),
                None => return Err(io::Error::other("posix backend: a blocking wait with nothing in flight")),
                Some(_) => {}
            }
        }
        self.events.clear();
        match self.poller.wait(&mut self.events, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.ready.clear();
        self.ready.extend(self.events.iter().map(|ev| (ev.key as RawFd, ev.readable, ev.writable)));
        for i in 0..self.ready.len() {
            let (fd, readable, writable) = self.ready[i];
            self.on_ready(fd, readable, writable, done);
        }
        self.pool.collect(done);
        for &(s, _) in done.iter() {
            self.slots[s as usize].at = At::Idle;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        #[cfg(target_os = "wasi")]
        return "posix (poll_oneoff readiness, no threads: blocking ops run inline)".to_string();
        #[cfg(not(target_os = "wasi"))]
        format!("posix (epoll readiness via polling, up to {} workers)", self.pool.max_threads())
    }

    fn grow(&mut self, capacity: usize) -> bool {
        if capacity > self.slots.len() {
            let mut slots = std::mem::take(&mut self.slots).into_vec();
            slots.resize(capacity, Slot::IDLE);
            self.slots = slots.into();
            self.waits.reserve(capacity.saturating_sub(self.waits.len()));
            self.pending.reserve(capacity.saturating_sub(self.pending.len()));
            self.deferred.reserve(capacity.saturating_sub(self.deferred.len()));
        }
        true
    }
}

#[cfg(test)]
#[cfg(not(target_os = "wasi"))] // Pipes: not on WASI.
mod tests {
    use std::os::fd::{AsRawFd, OwnedFd};

    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let (reader, writer) = std::io::pipe().unwrap();
        (reader.into(), writer.into())
    }

    fn poll(d: &mut Posix, timeout_ms: u64) -> Vec<(u32, i32)> {
        let mut done = Vec::with_capacity(8);
        d.poll(Some(Duration::from_millis(timeout_ms)), &mut done).unwrap();
        done
    }

    #[test]
    fn waiters_on_one_descriptor_share_a_registration_and_cancel_from_the_middle() {
        let (r, w) = pipe();
        let mut d = Posix::new(8).unwrap();
        let mut bufs = [[0u8; 1]; 3];
        let mut states = [OpState::Empty, OpState::Empty, OpState::Empty];
        for (s, (buf, state)) in bufs.iter_mut().zip(&mut states).enumerate() {
            let op = RawOp::Read { fd: r.as_raw_fd(), buf: buf.as_mut_ptr(), len: 1, offset: u64::MAX };
            assert_eq!(d.start(s as u32, op, state), None);
        }
        assert!(poll(&mut d, 0).is_empty());
        assert_eq!(d.waits.len(), 1, "one registration for the three reads");
        assert_eq!(d.cancel(1), Stop::Parked, "a parked op can be stopped");
        assert_eq!(d.cancel(1), Stop::Running, "and only once (the driver no longer holds it)");
        // SAFETY: writes two bytes from a live buffer.
        assert_eq!(unsafe { libc::write(w.as_raw_fd(), b"ab".as_ptr().cast(), 2) }, 2);
        let mut done = poll(&mut d, 1000);
        done.sort();
        assert_eq!(done, [(0, 1), (2, 1)]);
        assert_eq!((bufs[0][0], bufs[2][0]), (b'a', b'b'), "waiters are served in start order");
        assert!(d.waits.is_empty(), "the registration is gone with its last waiter");
    }

    #[test]
    fn a_would_block_op_is_attempted_again_at_the_end_of_its_pass() {
        let (r, w) = pipe();
        let mut d = Posix::new(4).unwrap();
        let mut buf = [0u8; 4];
        let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
        let read = RawOp::Read { fd: r.as_raw_fd(), buf: buf.as_mut_ptr(), len: 4, offset: u64::MAX };
        let write = RawOp::Write { fd: w.as_raw_fd(), buf: b"ping".as_ptr(), len: 4, offset: u64::MAX };
        assert_eq!(d.start(0, read, &mut s0), None);
        assert_eq!(d.start(1, write, &mut s1), Some(4));
        assert_eq!(poll(&mut d, 0), [(0, 4)]);
        assert!(d.waits.is_empty(), "never registered");
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn close_cancels_parked_and_deferred_ops_on_its_descriptor() {
        let (r, _w) = pipe();
        let fd = r.as_raw_fd();
        let mut d = Posix::new(4).unwrap();
        let mut buf = [0u8; 4];
        let mut states = [OpState::Empty, OpState::Empty, OpState::Empty];
        let [s0, s1, s2] = &mut states;
        let read = RawOp::Read { fd, buf: buf.as_mut_ptr(), len: 4, offset: u64::MAX };
        assert_eq!(d.start(0, read, s0), None);
        assert!(poll(&mut d, 0).is_empty(), "parked");
        let poll_op = RawOp::Poll { fd, events: libc::POLLIN as u32 };
        assert_eq!(d.start(1, poll_op, s1), None);
        // The close owns the descriptor from here on.
        let close = RawOp::Close { fd: std::os::fd::IntoRawFd::into_raw_fd(r) };
        assert_eq!(d.start(2, close, s2), None);
        let mut done = Vec::new();
        while done.len() < 3 {
            done.extend(poll(&mut d, 1000));
        }
        done.sort();
        assert_eq!(done, [(0, -libc::ECANCELED), (1, -libc::ECANCELED), (2, 0)]);
        assert!(d.waits.is_empty());
    }

    #[test]
    fn a_descriptor_woken_in_vain_turns_edge_triggered_and_reports_only_new_events() {
        // A poll for urgent data on a socket that only has an ordinary datagram: epoll's read
        // interest (EPOLLIN | EPOLLPRI) holds, the op's condition does not.
        let socket = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = socket.local_addr().unwrap();
        socket.send_to(b"x", addr).unwrap();
        let fd = socket.as_raw_fd();
        let mut d = Posix::new(4).unwrap();
        let mut state = OpState::Empty;
        assert_eq!(d.start(0, RawOp::Poll { fd, events: libc::POLLPRI as u32 }, &mut state), None);
        let mut reports = Vec::new();
        for _ in 0..5 {
            assert!(poll(&mut d, 0).is_empty(), "the poll must not complete");
            reports.push(d.events.iter().count());
        }
        // The one-shot registration reports, in vain; switching it to edge-triggered reports
        // once more (the modification finds it ready); then nothing, however often it waits.
        assert_eq!(reports, [1, 1, 0, 0, 0]);
        assert!(d.waits[&fd].edge);
        // A new datagram is a new event: reported once (still in vain for this op).
        socket.send_to(b"y", addr).unwrap();
        assert!(poll(&mut d, 1000).is_empty());
        assert_eq!(d.events.iter().count(), 1);
        assert!(poll(&mut d, 0).is_empty());
        assert_eq!(d.events.iter().count(), 0);
        assert_eq!(d.cancel(0), Stop::Parked);
        assert!(d.waits.is_empty(), "the registration goes with its last waiter");
    }

    #[test]
    fn an_op_canceled_by_a_close_and_then_stopped_is_reported_by_nobody_else() {
        let (r, _w) = pipe();
        let mut d = Posix::new(4).unwrap();
        let mut buf = [0u8; 4];
        let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
        let read = RawOp::Read { fd: r.as_raw_fd(), buf: buf.as_mut_ptr(), len: 4, offset: u64::MAX };
        assert_eq!(d.start(0, read, &mut s0), None);
        let close = RawOp::Close { fd: std::os::fd::IntoRawFd::into_raw_fd(r) };
        assert_eq!(d.start(1, close, &mut s1), None);
        assert_eq!(d.cancel(0), Stop::Parked, "stopped (by the close)");
        let mut done = Vec::new();
        while done.is_empty() {
            done.extend(poll(&mut d, 1000));
        }
        assert_eq!(done, [(1, 0)], "only the close reports");
    }
}
