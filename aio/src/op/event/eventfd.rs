//! Linux: an `eventfd` in semaphore mode (each read takes one unit).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{retry, would_block};

/// The eventfd; waiters and notifiers use the same descriptor.
#[derive(Debug)]
pub(crate) struct Source {
    fd: OwnedFd,
}

/// Whether this kernel reads an eventfd with `RWF_NOWAIT` (Linux 5.12 and later; not
/// qemu-user). Probed once per process.
fn eventfd_nowait(fd: RawFd) -> bool {
    static NOWAIT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NOWAIT.get_or_init(|| {
        let mut value: u64 = 0;
        let iov = libc::iovec { iov_base: (&raw mut value).cast(), iov_len: 8 };
        // SAFETY: reads at most 8 bytes into a live u64 from a new, empty eventfd.
        let r = unsafe { libc::preadv2(fd, &iov, 1, -1, libc::RWF_NOWAIT) };
        let supported = r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN);
        if !supported {
            log::info!("corio-aio: eventfd reads ignore RWF_NOWAIT here; event sources are non-blocking");
        }
        supported
    })
}

impl Source {
    pub(crate) fn new() -> io::Result<Source> {
        // The descriptor is blocking where the kernel allows: io_uring reads of a non-blocking
        // eventfd fail with EAGAIN instead of waiting, and `try_take` asks for a non-blocking
        // read per call (`RWF_NOWAIT`). Where `RWF_NOWAIT` does not work on an eventfd (old
        // kernels, qemu-user), the descriptor is made non-blocking instead, so `try_take`
        // never blocks; io_uring's `Wait` on such a kernel then fails with EAGAIN when no
        // unit is available (use the posix backend there).
        // SAFETY: plain syscall; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_SEMAPHORE) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `eventfd` returned a new descriptor that we own.
        let source = Source { fd: unsafe { OwnedFd::from_raw_fd(fd) } };
        // SAFETY: fcntl on a descriptor we own.
        if !eventfd_nowait(fd) && unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(source)
    }

    pub(crate) fn wait_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn notify_fd(&self) -> RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.fd)
    }

    pub(crate) fn notify_fd_borrowed(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn into_wait_fd(self) -> OwnedFd {
        self.fd
    }
}

/// Adds one unit through the eventfd `fd`.
pub(crate) fn notify(fd: RawFd) -> io::Result<()> {
    let unit = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer.
    retry(|| unsafe { libc::write(fd, unit.as_ptr().cast(), unit.len()) }).map(drop)
}

/// Takes one unit through the eventfd `fd` without blocking; `Ok(false)` if there is none.
pub(crate) fn try_take(fd: RawFd) -> io::Result<bool> {
    let mut value: u64 = 0;
    let iov = libc::iovec { iov_base: (&raw mut value).cast(), iov_len: 8 };
    // A blocking eventfd is read with RWF_NOWAIT; a non-blocking one (see `new`) plainly.
    let flags = if eventfd_nowait(fd) { libc::RWF_NOWAIT } else { 0 };
    // SAFETY: reads at most 8 bytes into a live u64; offset -1 = current position.
    would_block(retry(|| unsafe { libc::preadv2(fd, &iov, 1, -1, flags) as isize }))
}
