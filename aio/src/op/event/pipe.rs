//! Other systems: a non-blocking pipe; each unit is one byte in it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{retry, would_block};

/// The pipe: waiters watch the read end, notifiers write to the write end.
#[derive(Debug)]
pub(crate) struct Source {
    read: OwnedFd,
    write: OwnedFd,
}

impl Source {
    pub(crate) fn new() -> io::Result<Source> {
        let mut fds = [0; 2];
        // SAFETY: `pipe` writes two descriptors into the array.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `pipe` returned two new descriptors that we own.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            // SAFETY: fcntl on descriptors we own.
            let ok = unsafe {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) >= 0
                    && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) >= 0
            };
            if !ok {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Source { read, write })
    }

    pub(crate) fn wait_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    pub(crate) fn notify_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    pub(crate) fn notify_fd_borrowed(&self) -> BorrowedFd<'_> {
        self.write.as_fd()
    }

    pub(crate) fn into_wait_fd(self) -> OwnedFd {
        self.read
    }
}

/// Adds one unit through the pipe's write end `fd` (fails with `WouldBlock` once the pipe
/// holds as many units as its buffer has bytes).
pub(crate) fn notify(fd: RawFd) -> io::Result<()> {
    let unit = [1u8];
    // SAFETY: writes one byte from a live buffer.
    retry(|| unsafe { libc::write(fd, unit.as_ptr().cast(), 1) }).map(drop)
}

/// Takes one unit through the pipe's read end `fd` without blocking.
pub(crate) fn try_take(fd: RawFd) -> io::Result<bool> {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into a live u8.
    would_block(retry(|| unsafe { libc::read(fd, (&raw mut byte).cast(), 1) }))
}
