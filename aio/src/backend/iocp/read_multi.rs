//! The multishot read on IOCP ([`RawOp::ReadMulti`]): what kind of handle it reads, and pipes.
//!
//! * A socket: a multishot receive without flags ([`provided`]: a zero-byte
//!   `WSARecv` waits, then receives that do not wait fill buffers of the group), as posix
//!   reads a socket like any descriptor.
//! * A pipe (anonymous, as `std::io::pipe` and `CreatePipe` make them, or named; opened for
//!   synchronous or for overlapped IO): a pool worker waits for data ([`wait`]: `PeekNamedPipe`
//!   in sleeps that grow from 1 to [`SLICE_MS`] ms, checking the slot's stop flag between
//!   them, as a waiting `Poll` does; an anonymous pipe has no overlapped wait at all), and
//!   reports "data is waiting" (1), the end of the pipe (0: every writer closed, nothing left)
//!   or an error. Its packet comes back to the driver's thread, which reads what the pipe
//!   holds into buffers of the group, each read asking at most for the bytes counted
//!   waiting, so it never waits: each arrival a report with more to come, until the pipe is
//!   empty (then the worker waits again), the group is empty (`WSAENOBUFS`, the op's end, as
//!   for a multishot receive; the data stays in the pipe) or the pipe ends (0).
//! * Anything else fails `EBADF` (`ERROR_INVALID_HANDLE`, the engine's `EBADF`) when it
//!   starts, as posix refuses an unpollable descriptor on systems without `EBADFD`: a disk
//!   file (always "ready", and an overlapped one has no position to read at), a console or a
//!   character device (whose reads cannot be bounded to what is waiting). A closed or invalid
//!   handle fails with the error the OS gives for it (`ERROR_INVALID_HANDLE`).
//!
//! # Buffers, cancel and drop
//!
//! No IO ever targets a buffer of the group while the op waits. On a pipe, the only IO into a
//! buffer is [`read_now`]: a `ReadFile` of bytes already counted in the pipe that is finished
//! (a synchronous handle's call returns with them; an overlapped handle's is waited for, with
//! an event of its own, before the function returns) before the driver does anything else, so
//! a buffer handed out or given back, or the group's memory, is never written afterwards. The
//! worker's wait only counts bytes (`PeekNamedPipe` copies nothing). A cancel removes a queued
//! wait from the pool, or sets the stop flag of a running one, which returns within a slice;
//! a wait that found data as the cancel came ends the op canceled too, with nothing read (the
//! driver checks the flag before reading; the data stays for the next read). On a socket the
//! receive's argument holds (see [`provided`]): the IO in flight is a
//! zero-byte receive, which has no buffer of the group. Dropping the `Dynamic` cancels and
//! waits for the op like any other, and the op's state keeps the group alive until its final
//! report.
//!
//! Known deviations: a pipe's data is seen up to [`SLICE_MS`] ms late after the pipe stayed
//! empty for a while, and a waiting read holds one of the pool's 2–4 workers (as a waiting
//! `Poll` does). Another thread reading the same pipe between the count and the read can make
//! the read wait for the next bytes, blocking the driver's thread meanwhile (as for a
//! multishot receive).

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

use super::{Iocp, Started, last_error, provided, rw};
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
            FILE_TYPE_PIPE => self.stoppable_job(s),
            FILE_TYPE_UNKNOWN if error != f::NO_ERROR as i32 => Started::Done(-error),
            _ => Started::Done(-sys::EBADF),
        }
    }

    /// The wait of op `s`, a multishot read of a pipe, came back with `res` (see [`wait`]):
    /// the op's final result, or `None` if it goes on (what was waiting was pushed to `done`
    /// with more to come, and the wait was queued again).
    pub(super) fn pipe_read_done(&mut self, s: u32, res: i32, done: &mut Vec<(u32, i32)>) -> Option<i32> {
        let RawOp::ReadMulti { fd, group } = self.track[s as usize].op else { return Some(res) };
        // SAFETY: the job's packet was dequeued; the flag is only used atomically.
        if unsafe { (*self.io(s)).stop.load(Ordering::Acquire) } {
            // Canceled: also when data won the race, which stays unread.
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
        match self.stoppable_job(s) {
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
    if synchronous {
        // SAFETY: the buffer is valid (caller); the call completes before returning on a
        // synchronous handle.
        return if unsafe { ReadFile(h as HANDLE, buf, len, &mut n, std::ptr::null_mut()) } != 0 {
            Ok(n)
        } else {
            Err(last_error())
        };
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
        let e = last_error();
        if e != f::ERROR_IO_PENDING as i32 {
            return Err(e); // failed at once: no IO in flight
        }
        // The bytes were counted in the pipe, so this is short unless someone else took them.
        // SAFETY: waits on the thread's event, a live handle, which the read signals when done.
        unsafe { WaitForSingleObject(event, INFINITE) };
    }
    // SAFETY: the read finished (returned at once, or its event was signaled): its result is
    // final, and reading it touches only `ov` and `n`.
    if unsafe { GetOverlappedResult(h as HANDLE, &ov, &mut n, 0) } != 0 { Ok(n) } else { Err(last_error()) }
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
    super::eof_is_zero(-e)
}
