//! The posix driver's descriptor table: one [`Entry`] per descriptor it has waited on, holding
//! the registration with the poller, the readiness seen since the last attempt that would
//! block, and the ops waiting on it (a list threaded through the driver's slots).
//!
//! # Life cycle (edge-triggered pollers: epoll, kqueue)
//!
//! * The first op that would block on a descriptor adds it (`EPOLL_CTL_ADD`, edge-triggered,
//!   for what that op waits for), under a key holding the descriptor and a fresh generation.
//!   The registration then stays, across ops, while the descriptor waits and after: an op
//!   that waits for what is already registered costs no syscall. A wait for another direction
//!   modifies it once (`MOD`: the union while other ops wait, else just the new interest).
//! * Readiness: a report sets the entry's bits, an attempt that would block (or, on a stream
//!   socket, a short read or write) clears its direction. An op whose direction is registered
//!   and not ready skips its first attempt and waits at once (see [`readiness_target`]). A
//!   short read says the socket is drained only if no report said its read side closed
//!   (`EPOLLRDHUP`, kept in the entry): data and the peer's FIN that arrive together make one
//!   report, and no later edge would come for the end of stream left unread. Where reports
//!   do not say it (kqueue through `polling`), short reads say nothing.
//! * A descriptor closed through aio (`Close`) is deregistered and dropped before the close
//!   runs. One that aio's ops create (accept, socket, openat) drops a stale entry of that
//!   number. Entries without waiters are dropped (`DEL`) once idle for a sweep interval
//!   ([`IDLE_SWEEP`]), or all at once when the table reaches its bound (twice the op
//!   capacity; waiting entries never exceed the capacity), so the table never grows.
//! * Descriptors closed behind aio's back: the kernel drops the registration silently, and the
//!   number may come back as another file. While an op waits on a descriptor it borrows it, so
//!   the registration is sure ("verified") from its `ADD`/`MOD` until the last waiter leaves.
//!   An op that parks on an entry that was idle does not pay a syscall to check: the entry is
//!   listed, and every [`VERIFY_AFTER`] (no wait sleeps longer while the list is not empty)
//!   the entries whose ops have waited since before the previous rotation are re-armed
//!   (`MOD`; `ENOENT`: the number is another file now, which gets a new registration and
//!   generation; any other error: the waiters are attempted afresh). So a number reused
//!   behind aio's back costs at most two `VERIFY_AFTER` of latency, never a hang, busy or
//!   not, and ops that wait less than that (a busy connection) cost nothing. Reports whose
//!   key does not match the entry's (a registration left behind by a file still open
//!   elsewhere, e.g. after `dup2` over the number) are ignored; such a stale registration
//!   lives until its file closes.
//! * A `dup` is another number: its own entry and registration, both reported.
//!
//! # One-shot pollers (WASI's stand-in)
//!
//! The registration is re-armed for the waiters' union after every report and deleted when
//! the last waiter leaves; readiness is not tracked (every op attempts first).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::poller::{Poller, Ready};
use super::syscall::{Attempt, Interest, READ, WRITE};
use super::{At, NONE, Posix, ops};
use crate::op::RawOp;

/// The longest a wait sleeps while an op waits on an unverified registration (see the module
/// docs): the latency a descriptor number reused behind aio's back can cost.
pub(super) const VERIFY_AFTER: Duration = Duration::from_millis(1);

/// How long an entry without waiters keeps its registration (between one and two of these).
pub(super) const IDLE_SWEEP: Duration = Duration::from_secs(1);

/// One descriptor's registration, readiness and waiters.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    /// The first and last op waiting on it, or `NONE`.
    pub(super) head: u32,
    pub(super) tail: u32,
    /// The registration's key: generation << 32 | descriptor.
    pub(super) key: u64,
    /// What the registration asks for.
    pub(super) armed: Interest,
    /// Per armed direction: reported ready since the last attempt that would block.
    pub(super) ready: Interest,
    /// The registration is known to be the open file's (see the module docs).
    pub(super) verified: bool,
    /// In the driver's list of entries to verify.
    pub(super) listed: bool,
    /// A stream socket: a short transfer means its buffer was drained (or filled).
    pub(super) stream: bool,
    /// A report said the read side closed (or the descriptor failed): reads go on to the
    /// end of stream, short or not. Kept until the entry goes (no data follows a FIN).
    pub(super) read_closed: bool,
    /// The sweep epoch in which its last waiter left.
    pub(super) idle_epoch: u64,
    /// The verification rotation in which an op last parked on it unverified.
    pub(super) since: u64,
}

fn union(a: Interest, b: Interest) -> Interest {
    Interest { read: a.read || b.read, write: a.write || b.write }
}

fn covers(a: Interest, b: Interest) -> bool {
    (a.read || !b.read) && (a.write || !b.write)
}

fn fd_of(key: u64) -> RawFd {
    key as u32 as RawFd
}

/// Whether two keys are the same, as far as the poller keeps them (a `usize`).
fn same_key(a: u64, b: u64) -> bool {
    a as usize == b as usize
}

/// The descriptor and direction whose readiness decides whether `op`'s attempt can succeed,
/// for ops whose attempt is one non-blocking call (others always attempt first).
pub(super) fn readiness_target(op: &RawOp) -> Option<(RawFd, Interest)> {
    match *op {
        RawOp::Read { fd, .. }
        | RawOp::Readv { fd, .. }
        | RawOp::Recv { fd, .. }
        | RawOp::RecvMsg { fd, .. }
        | RawOp::Accept { fd, .. }
        | RawOp::Wait { fd } => Some((fd, READ)),
        RawOp::Write { fd, .. }
        | RawOp::Writev { fd, .. }
        | RawOp::Send { fd, .. }
        | RawOp::SendMsg { fd, .. }
        | RawOp::Notify { fd } => Some((fd, WRITE)),
        _ => None,
    }
}

/// Whether `op` moved fewer than the bytes it asked for (plain transfers only).
fn short(op: &RawOp, n: i32) -> bool {
    let len = match *op {
        RawOp::Read { len, .. } | RawOp::Write { len, .. } => len,
        RawOp::Recv { len, flags, .. } | RawOp::Send { len, flags, .. } if flags & crate::sys::MSG_WAITALL == 0 => len,
        _ => return false,
    };
    n > 0 && (n as u32) < len
}

/// Whether `fd` is a stream socket.
fn is_stream(fd: RawFd) -> bool {
    #[cfg(target_os = "wasi")]
    return {
        let _ = fd;
        false
    };
    #[cfg(not(target_os = "wasi"))]
    {
        let mut ty: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes an int into a live int of the given length.
        let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&raw mut ty).cast(), &mut len) };
        r == 0 && ty == libc::SOCK_STREAM
    }
}

impl Posix {
    fn new_key(&mut self, fd: RawFd) -> u64 {
        self.generation = (self.generation + 1) & 0x7fff_ffff;
        (u64::from(self.generation) << 32) | u64::from(fd as u32)
    }

    /// Whether an op on `fd` wanting `dir` would surely block (so it waits without trying).
    pub(super) fn known_blocked(&self, fd: RawFd, dir: Interest) -> bool {
        Poller::EDGE
            && self
                .fds
                .get(&fd)
                .is_some_and(|e| covers(e.armed, dir) && !(dir.read && e.ready.read) && !(dir.write && e.ready.write))
    }

    /// Whether a short read on `fd` means that nothing is left to read: a stream socket whose
    /// read side was not reported closed (see the module docs).
    pub(super) fn drained_by_short_read(&self, fd: RawFd) -> bool {
        Poller::READ_CLOSED_KNOWN && self.fds.get(&fd).is_some_and(|e| e.stream && !e.read_closed)
    }

    /// Op `s`, multishot, reported `res`: if that was a short arrival on a drained stream
    /// socket (see [`Posix::drained_by_short_read`]), the socket is no longer ready for
    /// reading and the op waits (`Some`), which saves the attempt that would block.
    pub(super) fn drained_after(&mut self, s: u32, res: i32) -> Option<Attempt> {
        let op = self.slots[s as usize].op;
        // SAFETY: the op is in flight, so its group is alive.
        let fd = unsafe { ops::short_arrival(&op, res) }?;
        if !self.drained_by_short_read(fd) {
            return None;
        }
        self.fds.get_mut(&fd).expect("present").ready.read = false;
        Some(Attempt::Wait(fd, READ))
    }

    /// Learns readiness from an attempt of `op`: one that would block, or a short transfer
    /// on a stream socket (a read only if its read side was not reported closed), says its
    /// descriptor is no longer ready in that direction.
    pub(super) fn note(&mut self, op: &RawOp, attempt: &Attempt) {
        // Decided before anything else: most attempts are whole transfers, which say nothing.
        let waited_on = match *attempt {
            Attempt::Wait(wfd, _) => Some(wfd),
            Attempt::Done(n) if short(op, n) => None,
            Attempt::Done(_) | Attempt::Pool | Attempt::More(_) => return,
        };
        let Some((fd, dir)) = readiness_target(op) else { return };
        let blocked = waited_on == Some(fd);
        if waited_on.is_some() && !blocked {
            return;
        }
        let Some(e) = self.fds.get_mut(&fd) else { return };
        if blocked || (e.stream && (dir.write || (Poller::READ_CLOSED_KNOWN && !e.read_closed))) {
            e.ready.read &= !dir.read;
            e.ready.write &= !dir.write;
        }
    }

    /// Appends op `s` to `fd`'s waiters.
    fn link(&mut self, s: u32, fd: RawFd) {
        let e = self.fds.get_mut(&fd).expect("linked to an entry");
        if e.head == NONE {
            e.head = s;
        } else {
            self.slots[e.tail as usize].next = s;
        }
        e.tail = s;
        self.waiting += 1;
    }

    /// Registers `fd` afresh for `interest` (a new entry, or replacing a stale one's
    /// registration but keeping its waiters).
    fn register(&mut self, fd: RawFd, interest: Interest) -> io::Result<()> {
        let key = self.new_key(fd);
        self.poller.add(fd, key, interest)?;
        let (head, tail) = self.fds.get(&fd).map_or((NONE, NONE), |e| (e.head, e.tail));
        let stream = Poller::EDGE && is_stream(fd);
        let e = Entry {
            head,
            tail,
            key,
            armed: interest,
            ready: Interest::default(),
            verified: true,
            listed: false,
            stream,
            read_closed: false,
            idle_epoch: self.epoch,
            since: self.rotation,
        };
        self.fds.insert(fd, e);
        Ok(())
    }

    /// Makes op `s` wait for `interest` on `fd`.
    pub(super) fn park(&mut self, s: u32, fd: RawFd, interest: Interest) -> io::Result<()> {
        let slot = &mut self.slots[s as usize];
        (slot.fd, slot.interest, slot.next) = (fd, interest, NONE);
        let Some(e) = self.fds.get(&fd).copied() else {
            if self.fds.len() >= self.bound {
                self.sweep(true);
            }
            self.register(fd, interest)?;
            self.slots[s as usize].at = At::Waiting;
            self.link(s, fd);
            return Ok(());
        };
        if !Poller::EDGE {
            self.slots[s as usize].at = At::Waiting;
            self.link(s, fd);
            return self.rearm_oneshot(fd);
        }
        let idle = e.head == NONE;
        let list = idle && !e.verified && !e.listed;
        // The list is sized for every entry; should it be full (numbers dropped and listed
        // again), the entry is verified now instead.
        let full = self.unverified.len() == self.unverified.capacity();
        if !covers(e.armed, interest) || (list && full) {
            let want = if idle { interest } else { union(e.armed, interest) };
            let res = match self.poller.modify(fd, e.key, want) {
                Ok(()) => {
                    let e = self.fds.get_mut(&fd).expect("present");
                    (e.armed, e.verified) = (want, true);
                    e.ready.read &= want.read;
                    e.ready.write &= want.write;
                    Ok(())
                }
                // Closed behind aio's back and the number reused: a new registration.
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => self.register(fd, want),
                Err(err) => Err(err),
            };
            if let Err(err) = res {
                if idle {
                    self.fds.remove(&fd);
                }
                return Err(err);
            }
        } else if idle && !e.verified {
            let rotation = self.rotation;
            let e = self.fds.get_mut(&fd).expect("present");
            e.since = rotation;
            if !e.listed {
                e.listed = true;
                self.unverified.push(fd);
            }
        }
        self.slots[s as usize].at = At::Waiting;
        self.link(s, fd);
        Ok(())
    }

    /// One-shot pollers: re-arms `fd` for its waiters' union, or deletes it when none is left.
    fn rearm_oneshot(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(e) = self.fds.get(&fd).copied() else { return Ok(()) };
        if e.head == NONE {
            self.fds.remove(&fd);
            return self.poller.delete(fd);
        }
        let mut want = Interest::default();
        let mut s = e.head;
        while s != NONE {
            want = union(want, self.slots[s as usize].interest);
            s = self.slots[s as usize].next;
        }
        self.poller.modify(fd, e.key, want)
    }

    /// `fd` lost its last waiter.
    fn went_idle(&mut self, fd: RawFd) {
        if !Poller::EDGE {
            if let Err(e) = self.rearm_oneshot(fd) {
                log::warn!("corio-aio: cannot deregister fd {fd}: {e}");
            }
            return;
        }
        if let Some(e) = self.fds.get_mut(&fd) {
            (e.verified, e.idle_epoch) = (false, self.epoch);
        }
    }

    /// Takes op `s` off its descriptor's waiters.
    pub(super) fn unpark(&mut self, s: u32) {
        let fd = self.slots[s as usize].fd;
        self.slots[s as usize].at = At::Idle;
        let Some(mut e) = self.fds.get(&fd).copied() else { return };
        let (mut prev, mut cur) = (NONE, e.head);
        while cur != NONE && cur != s {
            prev = cur;
            cur = self.slots[cur as usize].next;
        }
        if cur == NONE {
            return;
        }
        let next = std::mem::replace(&mut self.slots[s as usize].next, NONE);
        if prev == NONE {
            e.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if e.tail == s {
            e.tail = prev;
        }
        self.waiting -= 1;
        self.fds.insert(fd, e);
        if e.head == NONE {
            self.went_idle(fd);
        } else if !Poller::EDGE
            && let Err(err) = self.rearm_oneshot(fd)
        {
            log::warn!("corio-aio: cannot update the readiness registration of fd {fd}: {err}");
        }
    }

    /// Cancels every op waiting for readiness on `fd` and drops its entry (a close of `fd` is
    /// starting: the descriptor is still open, so its registration can be deleted).
    pub(super) fn cancel_fd(&mut self, fd: RawFd) {
        for &s in &self.deferred {
            let slot = &mut self.slots[s as usize];
            if slot.at == At::Deferred && slot.fd == fd {
                slot.at = At::Closing;
                self.pending.push((s, -libc::ECANCELED));
            }
        }
        let Some(e) = self.fds.remove(&fd) else { return };
        if let Err(err) = self.poller.delete(fd)
            && !matches!(err.raw_os_error(), Some(libc::ENOENT | libc::EBADF))
        {
            log::warn!("corio-aio: cannot deregister fd {fd}: {err}");
        }
        let mut s = e.head;
        while s != NONE {
            let slot = &mut self.slots[s as usize];
            slot.at = At::Closing;
            self.pending.push((s, -libc::ECANCELED));
            self.waiting -= 1;
            s = std::mem::replace(&mut slot.next, NONE);
        }
    }

    /// An op just created descriptor `fd`: an entry of that number (an idle one: ops borrow
    /// theirs) belongs to a file closed behind aio's back. Dropped without a syscall (its
    /// registration went with that file, or is left to a file still open elsewhere).
    pub(super) fn forget(&mut self, fd: RawFd) {
        if self.fds.get(&fd).is_some_and(|e| e.head == NONE) {
            self.fds.remove(&fd);
        }
    }

    /// A report from the poller: records the readiness and attempts the waiters it may let
    /// progress.
    pub(super) fn on_ready(&mut self, r: Ready, done: &mut Vec<(u32, i32)>) {
        let fd = fd_of(r.key);
        let Some(e) = self.fds.get_mut(&fd) else { return };
        if !same_key(e.key, r.key) {
            return;
        }
        e.ready.read |= r.read && e.armed.read;
        e.ready.write |= r.write && e.armed.write;
        e.read_closed |= r.read_closed;
        let head = std::mem::replace(&mut e.head, NONE);
        e.tail = NONE;
        if head == NONE {
            // Idle: the readiness is recorded for the next op.
            return;
        }
        let mut s = head;
        while s != NONE {
            // Not a copy of the whole slot: only what decides the attempt.
            let wanted = self.slots[s as usize].interest;
            let next = std::mem::replace(&mut self.slots[s as usize].next, NONE);
            self.waiting -= 1;
            let ready = if Poller::EDGE { self.fds[&fd].ready } else { Interest { read: r.read, write: r.write } };
            let attempt = if (ready.read && wanted.read) || (ready.write && wanted.write) {
                // The op is in flight (waiting for readiness): `attempt` may touch its memory.
                let attempt = self.attempt(s);
                let (attempt, _) = self.drain_more(s, attempt, done);
                match attempt {
                    // Ready, yet it would block: a receive on a socket shut down for reading
                    // ends as the blocking call does (see `ops::woken_in_vain`).
                    Attempt::Wait(wfd, interest) if wfd == fd => {
                        let slot = &self.slots[s as usize];
                        match ops::woken_in_vain(&slot.op, slot.progress) {
                            Some(res) => Attempt::Done(res),
                            None => Attempt::Wait(wfd, interest),
                        }
                    }
                    other => other,
                }
            } else {
                Attempt::Wait(fd, wanted)
            };
            match attempt {
                Attempt::Wait(wfd, interest)
                    if wfd == fd && (!Poller::EDGE || covers(self.fds[&fd].armed, interest)) =>
                {
                    self.slots[s as usize].interest = interest;
                    self.link(s, fd);
                }
                // Done, for the pool, or waiting for another descriptor or a direction not
                // registered (parked afresh).
                other => {
                    if let Some(res) = self.dispose(s, other) {
                        done.push((s, res));
                    }
                }
            }
            s = next;
        }
        if self.fds.get(&fd).is_some_and(|e| e.head == NONE) {
            self.went_idle(fd);
        } else if !Poller::EDGE
            && let Err(err) = self.rearm_oneshot(fd)
        {
            log::warn!("corio-aio: cannot update the readiness registration of fd {fd}: {err}");
        }
    }

    /// Re-arms the listed entries whose waiters have waited on an unverified registration
    /// since before rotation `due` (so for at least [`VERIFY_AFTER`]); drops from the list the
    /// entries verified or left without waiters meanwhile. A number now open as another file
    /// gets a new registration; on any other failure the waiters are attempted afresh.
    pub(super) fn verify_due(&mut self, due: u64, done: &mut Vec<(u32, i32)>) {
        let mut i = 0;
        while i < self.unverified.len() {
            let fd = self.unverified[i];
            let Some(e) = self.fds.get(&fd).copied().filter(|e| e.listed) else {
                // A stale item: the entry went, or came back and is not listed.
                self.unverified.swap_remove(i);
                continue;
            };
            if !e.verified && e.head != NONE && e.since >= due {
                i += 1;
                continue;
            }
            self.unverified.swap_remove(i);
            self.fds.get_mut(&fd).expect("present").listed = false;
            if !e.verified && e.head != NONE {
                self.verify(fd, e, done);
            }
        }
    }

    /// Re-arms entry `e` of `fd`, which has waiters (see [`Posix::verify_due`]).
    fn verify(&mut self, fd: RawFd, e: Entry, done: &mut Vec<(u32, i32)>) {
        let ok = match self.poller.modify(fd, e.key, e.armed) {
            Ok(()) => true,
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => self.register(fd, e.armed).is_ok(),
            Err(_) => false,
        };
        if ok {
            self.fds.get_mut(&fd).expect("present").verified = true;
            return;
        }
        // Not a pollable descriptor any more (closed, or another kind of file): the waiters
        // try again from scratch, which reports or re-parks (registers afresh) each.
        self.fds.remove(&fd);
        let mut s = e.head;
        while s != NONE {
            let next = std::mem::replace(&mut self.slots[s as usize].next, NONE);
            self.waiting -= 1;
            let attempt = self.attempt(s);
            if let Some(res) = self.dispose(s, attempt) {
                done.push((s, res));
            }
            s = next;
        }
    }

    /// Drops the entries without waiters (all of them, or those idle since before the last
    /// sweep) and their registrations.
    pub(super) fn sweep(&mut self, all: bool) {
        let (poller, epoch) = (&self.poller, self.epoch);
        self.fds.retain(|&fd, e| {
            let drop = e.head == NONE && (all || e.idle_epoch < epoch);
            if drop {
                // Fails harmlessly (ENOENT, EBADF) if the descriptor was closed meanwhile.
                let _ = poller.delete(fd);
            }
            !drop
        });
        self.epoch += 1;
    }
}
