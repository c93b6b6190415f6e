//! The multishot read on IOCP ([`RawOp::ReadMulti`]): what kinds of handle it reads, and how
//! it reads pipes.
//!
//! * A socket: a multishot receive without flags ([`provided`]: a zero-byte
//!   `WSARecv` waits, then receives that do not wait fill buffers of the group), as posix
//!   reads a socket like any descriptor.
//! * A pipe (anonymous, as `std::io::pipe` and `CreatePipe` make them, or named): first a
//!   wait for data that takes no buffer, then reads on the driver's thread of what the pipe
//!   holds into buffers of the group, each asking at most for the bytes `PeekNamedPipe`
//!   counts waiting, so that it never waits: each arrival a report with more to come, until
//!   the pipe is empty (then it waits again), the group is empty (`WSAENOBUFS`, the op's end,
//!   as for a multishot receive; the data stays in the pipe) or the pipe ends (0: every writer
//!   closed and nothing is left). The wait:
//!   * on a handle opened for overlapped IO, a zero-byte overlapped `ReadFile` (as libuv
//!     waits on pipes), which completes when data is there or the pipe ends and consumes
//!     nothing;
//!   * on one opened for synchronous IO (every anonymous pipe: they have no overlapped IO), a
//!     pool worker ([`wait`]) that asks `PeekNamedPipe` after sleeps growing from 1 to
//!     [`SLICE_MS`] ms, checking the slot's stop flag between them as a waiting `Poll` does,
//!     and reports "data is waiting" (1), the end of the pipe (0) or an error.
//!
//!   A named pipe read in message mode works too: its zero-byte read "fails"
//!   `ERROR_MORE_DATA` when a message waits (a warning: it completed and consumed nothing),
//!   and a message longer than a buffer arrives in several (a read of part of it fails
//!   `ERROR_MORE_DATA` with the bytes read; the rest is read next). A report never spans two
//!   messages.
//! * Anything else fails `EBADF` (`ERROR_INVALID_HANDLE`, the engine's `EBADF`) when it
//!   starts, as posix refuses an unpollable descriptor on systems without `EBADFD`: a disk
//!   file (always "ready", and an overlapped one has no position to read at), a console or a
//!   character device (whose reads cannot be bounded to what is waiting). A closed or invalid
//!   handle fails with the error the OS gives for it (`ERROR_INVALID_HANDLE`).
//!
//! # Buffers, cancel and drop
//!
//! No IO ever targets a buffer of the group while the op waits, nor after the driver moved
//! on. On a pipe, the only IO into a buffer is [`read_now`]: a `ReadFile` of bytes already
//! counted in the pipe, finished before the function returns (a synchronous handle's call
//! returns with them; an overlapped handle's, kept off the port by its event's low bit, is
//! waited for on that event), so a buffer handed out or given back, or the group's memory, is
//! never written afterwards. The waits hold no buffer: the zero-byte read writes nothing (its
//! pointer is the slot's own `Io`, which lives until its packet), and the worker only counts
//! bytes (`PeekNamedPipe` copies none). A cancel stops the wait: `CancelIoEx` of the
//! zero-byte read, whose packet then ends the op; a queued pool wait is removed, a running one
//! sees its stop flag within a slice. A wait that found data as the cancel came ends the op
//! canceled too, with nothing read (the driver checks before reading; the data stays for the
//! next read). On a socket the receive's argument holds (see [`provided`]): the IO in flight
//! is a zero-byte receive, which has no buffer of the group. Dropping the `Dynamic` cancels
//! and waits for the op like any other, and the op's state keeps the group alive until its
//! final report.
//!
//! Known deviations: on a synchronous pipe, data is seen up to [`SLICE_MS`] ms late after the
//! pipe stayed empty for a while, and a waiting read holds one of the pool's 2–4 workers (as
//! a waiting `Poll` does). Another thread reading the same pipe between the count and the
//! read can make the read wait for the next bytes, blocking the driver's thread meanwhile (as
//! for a multishot receive).

use std::cell::OnceCell;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use windows_sys::Win32::Foundation::{self as f, HANDLE};
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::Storage::FileSystem::{FILE_TYPE_PIPE, FILE_TYPE_UNKNOWN, GetFileType, ReadFile};
use windows_sys::Win32::System::IO::{GetOverlappedResult, OVERLAPPED};
use windows_sys::Win32::System::Pipes::PeekNamedPipe;
use windows_sys::Win32::System::Threading::{CreateEventW, INFINITE, WaitForSingleObject};

use super::{At, Iocp, Started, eof_is_zero, last_error, overlapped_result, provided, rw};
use crate::backend::emu::MORE;
use crate::dynamic::groups::{self, Group};
use crate::op::RawOp;
use crate::sys::{self, RawSource};

/// The longest sleep of a waiting worker between two looks at its pipe and stop flag.
const SLICE_MS: u64 = 50;

impl Iocp {
    /// Starts op `s`, a multishot read of `fd` into buffers of `group` (see the module docs).
    pub(super) fn read_multi(&mut self, s: u32, fd: RawSource, group: *const Group) -> Started {
        if provided::socket_type(fd).is_ok() {
            return self.recv_provided(s, fd, group, true);
        }
        // SAFETY: a query on a borrowed handle.
        let kind = unsafe { GetFileType(fd as HANDLE) };
        let error = last_error();
        match kind {
            FILE_TYPE_PIPE => self.wait_for_pipe(s, fd),
            FILE_TYPE_UNKNOWN if error != f::NO_ERROR as i32 => Started::Done(-error),
            _ => Started::Done(-sys::EBADF),
        }
    }

    /// Starts op `s`'s wait for data in pipe `fd`: a zero-byte overlapped `ReadFile` on a
    /// handle opened for overlapped IO, else a stoppable pool job ([`wait`]).
    fn wait_for_pipe(&mut self, s: u32, fd: RawSource) -> Started {
        if rw::is_synchronous(fd) {
            return self.stoppable_job(s);
        }
        if let Err(e) = self.associate(fd) {
            return Started::Done(-e);
        }
        let ov = self.overlapped(s, 0);
        let io = self.io(s);
        // SAFETY: the slot's op is starting, or its last packet was dequeued: no IO uses its
        // `Io`, whose `OVERLAPPED` stays put until the packet. The read has no length, so
        // nothing is written; its buffer points at real memory all the same (the slot's
        // accept addresses, unused by a read, valid until the packet).
        let ok = unsafe { ReadFile(fd as HANDLE, (&raw mut (*io).addrs).cast(), 0, std::ptr::null_mut(), ov) };
        let err = last_error();
        if ok == 0 && err == f::ERROR_MORE_DATA as i32 {
            // A message-mode pipe's message is waiting. The read "failed", but its status is a
            // warning (`STATUS_BUFFER_OVERFLOW`): it completed, consuming nothing, and its
            // packet is queued like a success's (as for the datagram peek in `provided`).
            return Started::Pending(At::Io, fd);
        }
        overlapped_result(ok != 0, err, fd, true)
    }

    /// The wait of op `s`, a multishot read of a pipe, came back with `res` (the zero-byte
    /// read's result, or [`wait`]'s): the op's final result, or `None` if it goes on (what was
    /// waiting was pushed to `done` with more to come, and the wait was started again).
    pub(super) fn pipe_read_done(&mut self, s: u32, res: i32, done: &mut Vec<(u32, i32)>) -> Option<i32> {
        let t = self.track[s as usize];
        let RawOp::ReadMulti { fd, group } = t.op else { return Some(res) };
        let (canceled, res) = match t.at {
            // The zero-byte read: done (`res` 0, or `ERROR_MORE_DATA` when a message-mode
            // pipe holds a message) when data came.
            At::Io | At::Canceling => {
                let waiting = res >= 0 || res == -(f::ERROR_MORE_DATA as i32);
                (t.at == At::Canceling, if waiting { 1 } else { eof_is_zero(res) })
            }
            // SAFETY: the job's packet was dequeued; the flag is only used atomically.
            _ => (unsafe { (*self.io(s)).stop.load(Ordering::Acquire) }, res),
        };
        if canceled {
            // Also when data won the race: nothing was read, and the data stays in the pipe.
            return Some(-sys::ECANCELED);
        }
        if res <= 0 {
            return Some(res); // the end of the pipe, or an error; no buffer was taken
        }
        // SAFETY: the op's state holds the group alive until its final report; only this
        // thread uses it.
        let group = unsafe { &*group };
        if let Some(res) = read_waiting(s, fd, group, done) {
            return Some(res);
        }
        match self.wait_for_pipe(s, fd) {
            Started::Pending(at, handle) => {
                let t = &mut self.track[s as usize];
                t.at = at;
                t.handle = handle;
                None
            }
            Started::Done(res) => Some(res),
        }
    }
}

/// Waits, on a worker, until pipe `h` holds data (1), ends (0: the write end closed and
/// nothing is left) or fails (the negated error), or until `stop` is set (`-ECANCELED`).
pub(super) fn wait(h: RawSource, stop: &AtomicBool) -> i32 {
    let mut sleep = 1;
    loop {
        match bytes_waiting(h) {
            Ok(0) => {}
            Ok(_) => return 1,
            Err(e) => return end_is_zero(e),
        }
        if stop.load(Ordering::Acquire) {
            return -sys::ECANCELED;
        }
        std::thread::sleep(Duration::from_millis(sleep));
        sleep = (sleep * 2).min(SLICE_MS);
    }
}

/// Reads what waits in pipe `fd` into buffers of `group` without waiting, pushing each
/// arrival of op `s` to `done` with more to come: `Some(res)` ends the op with `res`, `None`
/// when the pipe is empty (wait again).
fn read_waiting(s: u32, fd: RawSource, group: &Group, done: &mut Vec<(u32, i32)>) -> Option<i32> {
    let synchronous = rw::is_synchronous(fd);
    loop {
        let waiting = match bytes_waiting(fd) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => return Some(end_is_zero(e)),
        };
        let Some(room) = group.take_room() else { return Some(-ws::WSAENOBUFS) };
        // SAFETY: the room is out of the group (taken above): `len` bytes that nothing else
        // reads or writes until they are reported or the room is returned; the read asks for
        // no more than that, and no more than is waiting, so it does not wait.
        match unsafe { read_now(fd, room.ptr, room.len.min(waiting), synchronous) } {
            Ok(n) if n > 0 => {
                group.filled(&room, n);
                done.push((s | MORE, groups::encode(n, Some(room.bid))));
            }
            Ok(_) => {
                group.unused(room);
                return Some(0);
            }
            Err(e) => {
                group.unused(room);
                return Some(end_is_zero(e));
            }
        }
    }
}

/// `ReadFile` of `len` bytes of `h` into `buf`, finished when it returns: at once on a
/// synchronous handle; on an overlapped one through an `OVERLAPPED` of this frame whose event
/// has its low bit set (no completion packet), waited for if it pended.
///
/// # Safety
///
/// `buf` is valid for writes of `len` bytes.
unsafe fn read_now(h: RawSource, buf: *mut u8, len: u32, synchronous: bool) -> Result<u32, i32> {
    let mut n = 0;
    // A message-mode pipe's message longer than the read: its first `n` bytes were read, the
    // rest waits for the next read.
    let outcome = |ok: bool, n: u32| match ok {
        true => Ok(n),
        false => match last_error() {
            e if e == f::ERROR_MORE_DATA as i32 => Ok(n),
            e => Err(e),
        },
    };
    if synchronous {
        // SAFETY: the buffer is valid (caller); the call completes before returning on a
        // synchronous handle.
        let ok = unsafe { ReadFile(h as HANDLE, buf, len, &mut n, std::ptr::null_mut()) } != 0;
        return outcome(ok, n);
    }
    let event = read_event()?;
    // SAFETY: all-zero is a valid `OVERLAPPED` (offset 0: a pipe has none).
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    // The low bit keeps the read's completion off the port the handle may be associated with.
    ov.hEvent = (event as usize | 1) as HANDLE;
    // SAFETY: the buffer is valid (caller) and the `OVERLAPPED` lives in this frame, which
    // does not return before the read finished (waited for below if it pends).
    let ok = unsafe { ReadFile(h as HANDLE, buf, len, std::ptr::null_mut(), &mut ov) } != 0;
    if !ok {
        match last_error() {
            e if e == f::ERROR_IO_PENDING as i32 => {
                // The bytes were counted in the pipe, so this is short unless someone else
                // took them.
                // SAFETY: waits on the thread's event, a live handle, which the read signals
                // when done.
                unsafe { WaitForSingleObject(event, INFINITE) };
            }
            // Finished with part of a message (its status is a warning, read back below).
            e if e == f::ERROR_MORE_DATA as i32 => {}
            e => return Err(e), // failed at once: no IO in flight
        }
    }
    // SAFETY: the read finished (returned at once, or its event was signaled): its result is
    // final, and reading it touches only `ov` and `n`.
    let ok = unsafe { GetOverlappedResult(h as HANDLE, &ov, &mut n, 0) } != 0;
    outcome(ok, n)
}

/// This thread's event for [`read_now`] (manual reset: each `ReadFile` resets it as it
/// starts), created on first use.
fn read_event() -> Result<HANDLE, i32> {
    thread_local! {
        static EVENT: OnceCell<OwnedHandle> = const { OnceCell::new() };
    }
    EVENT.with(|cell| {
        if let Some(event) = cell.get() {
            return Ok(event.as_raw_handle());
        }
        // SAFETY: creates an unnamed event with default security; no memory is involved.
        let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        if event.is_null() {
            return Err(last_error());
        }
        // SAFETY: a new handle that nothing else owns.
        let event = cell.get_or_init(|| unsafe { OwnedHandle::from_raw_handle(event) });
        Ok(event.as_raw_handle())
    })
}

/// The bytes waiting in pipe `h` (`PeekNamedPipe`, which copies none), or the error.
fn bytes_waiting(h: RawSource) -> Result<u32, i32> {
    let mut n = 0;
    // SAFETY: the call writes one `u32`, a live local; no buffer is given.
    let ok = unsafe {
        PeekNamedPipe(h as HANDLE, std::ptr::null_mut(), 0, std::ptr::null_mut(), &mut n, std::ptr::null_mut())
    };
    if ok != 0 { Ok(n) } else { Err(last_error()) }
}

/// A pipe whose write end closed (`ERROR_BROKEN_PIPE`, once it is empty) reads 0 bytes, as on
/// Unix; other errors are negated.
fn end_is_zero(e: i32) -> i32 {
    eof_is_zero(-e)
}
