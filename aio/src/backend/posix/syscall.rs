//! What every non-blocking attempt of the posix driver shares: its outcome ([`Attempt`]), the
//! readiness it waits for ([`Interest`]) and the syscall result helpers. Below `ops.rs`,
//! `sock.rs` and `child_kqueue.rs`, which all use it.

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

pub(super) fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
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
