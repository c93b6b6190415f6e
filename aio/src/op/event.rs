//! Event sources: a counting semaphore that other threads (or ops) can signal, with the ops
//! [`Notify`] and [`Wait`].
//!
//! Every [`EventSource::notify`] (or [`Notify`] op) adds one unit; every [`EventSource::wait`]
//! (or [`Wait`] op) takes exactly one, waiting while there is none. `notify` may be called
//! from any thread. Close a source with [`Close`](super::Close) (it converts into an
//! `OwnedFd`) or by dropping it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::sealed::Prepare;
use super::unit_output;
use crate::raw::{OpState, RawOp};

/// A counting semaphore backed by the OS (an `eventfd` in semaphore mode on Linux).
///
/// ```
/// use corio_aio::{EventSource, op::{Notify, Wait}};
/// let source = EventSource::new()?;
/// source.notify()?;
/// corio_aio::multi((Notify::new(&source), Wait::new(&source)))?;
/// source.wait()?; // one unit is left: this returns at once
/// assert!(!source.try_wait()?);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct EventSource {
    fd: OwnedFd,
}

impl EventSource {
    /// A new source with no units.
    pub fn new() -> io::Result<EventSource> {
        // The descriptor is blocking on purpose: io_uring reads of a non-blocking eventfd
        // fail with EAGAIN instead of waiting. `try_wait` asks for a non-blocking read per call.
        // SAFETY: plain syscall; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_SEMAPHORE) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `eventfd` returned a new descriptor that we own.
        Ok(EventSource { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Adds one unit, waking one waiter. Callable from any thread.
    pub fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        loop {
            // SAFETY: writes 8 bytes from a live u64.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
            if n == 8 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Takes one unit, blocking the thread while there is none.
    pub fn wait(&self) -> io::Result<()> {
        self.read(0).map(|_| ())
    }

    /// Takes one unit if there is one; `Ok(false)` if there is none.
    pub fn try_wait(&self) -> io::Result<bool> {
        match self.read(libc::RWF_NOWAIT) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn read(&self, flags: i32) -> io::Result<()> {
        let mut value: u64 = 0;
        let iov = libc::iovec { iov_base: (&raw mut value).cast(), iov_len: 8 };
        loop {
            // SAFETY: reads at most 8 bytes into a live u64; offset -1 = current position.
            let n = unsafe { libc::preadv2(self.fd.as_raw_fd(), &iov, 1, -1, flags) };
            if n == 8 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl AsFd for EventSource {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for EventSource {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<EventSource> for OwnedFd {
    fn from(source: EventSource) -> OwnedFd {
        source.fd
    }
}

/// Adds one unit to an [`EventSource`].
#[derive(Debug)]
pub struct Notify<'a> {
    fd: BorrowedFd<'a>,
}

impl<'a> Notify<'a> {
    /// Notifies `source`.
    pub fn new(source: &'a EventSource) -> Self {
        Notify { fd: source.fd.as_fd() }
    }
}

impl Prepare for Notify<'_> {
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Counter(1);
        Ok(RawOp::Notify { fd: self.fd.as_raw_fd() })
    }
}

/// Takes one unit from an [`EventSource`], waiting while there is none.
#[derive(Debug)]
pub struct Wait<'a> {
    fd: BorrowedFd<'a>,
}

impl<'a> Wait<'a> {
    /// Waits on `source`.
    pub fn new(source: &'a EventSource) -> Self {
        Wait { fd: source.fd.as_fd() }
    }
}

impl Prepare for Wait<'_> {
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Counter(0);
        Ok(RawOp::Wait { fd: self.fd.as_raw_fd() })
    }
}

unit_output!(Notify<'a>, Wait<'a>);
