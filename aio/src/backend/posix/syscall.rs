//! What every non-blocking attempt of the posix driver shares: its outcome ([`Attempt`]), the
//! readiness it waits for ([`Interest`]) and the syscall result helpers. Below `ops.rs`,
//! `sock.rs` and `child_kqueue.rs`, which all use it.

#[cfg(not(target_os = "linux"))]
use std::io;
use std::os::fd::RawFd;

/// What to wait for before attempting an op again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Interest {
    pub(super) read: bool,
    pub(super) write: bool,
}

pub(super) const READ: Interest = Interest { read: true, write: false };
pub(super) const WRITE: Interest = Interest { read: false, write: true };

/// The outcome of a non-blocking attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Attempt {
    /// The op completed with this result.
    Done(i32),
    /// A multishot op produced this result and goes on: the driver reports it (with
    /// [`MORE`](crate::backend::emu::MORE)) and attempts the op again.
    #[cfg_attr(target_os = "wasi", allow(dead_code))] // no sockets, no multishot accept there
    More(i32),
    /// The op would block: attempt again once `fd` is ready for `Interest`.
    Wait(RawFd, Interest),
    /// The op has no readiness to wait for: run its blocking form (`blocking.rs`) on a worker.
    Pool,
}

/// The calling thread's `errno`. On Linux it is read in place: building an `io::Error` for it
/// (and dropping it) costs a few dozen instructions per failed attempt, and every receive
/// that waits has one (`EAGAIN`).
pub(super) fn errno() -> i32 {
    #[cfg(target_os = "linux")]
    // SAFETY: `__errno_location` returns a valid pointer to this thread's `errno`.
    return unsafe { *libc::__errno_location() };
    #[cfg(not(target_os = "linux"))]
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// `recv(2)` as the plain syscall on Linux: the C library's `recv` is a cancellation point,
/// whose wrapper (turning asynchronous cancellation on and off around the call) costs more
/// than the rest of the attempt; corio never cancels threads. Elsewhere, `recv`.
///
/// # Safety
///
/// As `recv(2)`: `buf` is valid for writes of `len` bytes.
#[cfg(not(target_os = "wasi"))]
pub(super) unsafe fn recv(fd: RawFd, buf: *mut u8, len: usize, flags: i32) -> isize {
    #[cfg(target_os = "linux")]
    // SAFETY: recvfrom with no address is recv; the buffer is the caller's.
    return unsafe {
        libc::syscall(libc::SYS_recvfrom, fd, buf, len, flags, std::ptr::null_mut::<u8>(), std::ptr::null_mut::<u8>())
    } as isize;
    #[cfg(not(target_os = "linux"))]
    // SAFETY: the buffer is the caller's.
    unsafe {
        libc::recv(fd, buf.cast(), len, flags)
    }
}

/// `send(2)` as the plain syscall on Linux (see [`recv`]).
///
/// # Safety
///
/// As `send(2)`: `buf` is valid for reads of `len` bytes.
#[cfg(not(target_os = "wasi"))]
pub(super) unsafe fn send(fd: RawFd, buf: *const u8, len: usize, flags: i32) -> isize {
    #[cfg(target_os = "linux")]
    // SAFETY: sendto with no address is send; the buffer is the caller's.
    return unsafe { libc::syscall(libc::SYS_sendto, fd, buf, len, flags, std::ptr::null::<u8>(), 0 as libc::socklen_t) }
        as isize;
    #[cfg(not(target_os = "linux"))]
    // SAFETY: the buffer is the caller's.
    unsafe {
        libc::send(fd, buf.cast(), len, flags)
    }
}

/// A syscall's `isize` result as an op result (`-errno` on failure).
pub(super) fn result(r: isize) -> i32 {
    if r < 0 { -errno() } else { r.min(i32::MAX as isize) as i32 }
}

/// Whether `fd` is ready for `events` right now (or in an error state the op will report).
pub(super) fn ready(fd: RawFd, events: libc::c_short) -> bool {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: polls one live `pollfd` without waiting.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}
