//! Event sources: a counting semaphore that other threads (or ops) can signal, with the ops
//! [`Notify`] and [`Wait`].
//!
//! Every [`EventSource::notify`] (or [`Notify`] op) adds one unit; every [`EventSource::wait`]
//! (or [`Wait`] op) takes exactly one, waiting while there is none. `notify` may be called
//! from any thread. Close a source with [`Close`](super::Close) (it converts into an
//! `OwnedFd`) or by dropping it.
//!
//! Per OS (one module each, the same small interface): an `eventfd` in semaphore mode on
//! Linux; a kqueue with one `EVFILT_USER` event per unit on macOS,
//! FreeBSD, NetBSD and DragonFly; an unlinked file on WASI (see [below](self#wasi)); a
//! non-blocking pipe (one byte per unit) elsewhere.
//!
//! # WASI
//!
//! wasm32-wasip1 has neither eventfds nor pipes, and no threads. There a source is a regular
//! file created in the current directory (which must be a preopened, writable directory, e.g.
//! `wasmtime run --dir=.`) and unlinked at once: [`notify`](EventSource::notify) appends one
//! byte, a wait reads one byte (none left: no unit), and the file is truncated whenever it has
//! been read to its end. A file rather than an in-process counter, so that a source still is a
//! descriptor (`AsFd`, [`Wait`] and [`Notify`] ops, `poll`) as everywhere else. Since no
//! other thread can add a unit, [`EventSource::wait`] without a unit fails with
//! `ErrorKind::WouldBlock` instead of blocking forever; a [`Wait`] op still waits, for a
//! [`Notify`] op or a `notify` between submissions. A [`Poll`](super::Poll) of such a source
//! reports it readable even without a unit (WASI reports regular files always ready); the
//! posix backend's own wait looks at the file's size instead.

use std::io;
#[cfg(not(windows))]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use super::unit_output;
use crate::raw::{OpState, RawFd};
use crate::sys::{Borrowed, raw};

#[cfg(target_os = "linux")]
#[path = "event/eventfd.rs"]
pub(crate) mod sys;
#[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "dragonfly"))]
#[path = "event/kqueue.rs"]
pub(crate) mod sys;
#[cfg(target_os = "wasi")]
#[path = "event/wasi.rs"]
pub(crate) mod sys;
#[cfg(windows)]
#[path = "event/semaphore.rs"]
pub(crate) mod sys;
#[cfg(not(any(
    target_os = "linux",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    target_os = "wasi",
    windows
)))]
#[path = "event/pipe.rs"]
pub(crate) mod sys;

/// A counting semaphore backed by the OS: an `eventfd` in semaphore mode on Linux, a kqueue
/// of `EVFILT_USER` events on macOS and the BSDs that have them, an unlinked file on WASI (see
/// the [module docs](self#wasi)), a semaphore object on Windows, a non-blocking pipe elsewhere.
///
/// ```
/// use corio_aio::{EventSource, op};
/// let source = EventSource::new()?;
/// source.notify()?;
/// corio_aio::multi((op::Notify::new(&source), op::Wait::new(&source)))?;
/// source.wait()?; // one unit is left: this returns at once
/// assert!(!source.try_wait()?);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct EventSource {
    source: sys::Source,
}

impl EventSource {
    /// A new source with no units.
    pub fn new() -> io::Result<EventSource> {
        sys::Source::new().map(|source| EventSource { source })
    }

    /// Adds one unit, waking one waiter. Callable from any thread.
    pub fn notify(&self) -> io::Result<()> {
        sys::notify(self.source.notify_fd())
    }

    /// Takes one unit, blocking the thread while there is none. On WASI (no threads, so
    /// nothing could add one) it fails with `ErrorKind::WouldBlock` when there is none.
    pub fn wait(&self) -> io::Result<()> {
        #[cfg(target_os = "wasi")]
        return match self.try_wait()? {
            true => Ok(()),
            false => {
                Err(io::Error::new(io::ErrorKind::WouldBlock, "no unit, and no other thread that could add one (WASI)"))
            }
        };
        #[cfg(windows)]
        return sys::take(self.raw_wait());
        #[cfg(unix)]
        loop {
            if self.try_wait()? {
                return Ok(());
            }
            wait_readable(self.raw_wait())?;
        }
    }

    /// Takes one unit if there is one; `Ok(false)` if there is none.
    pub fn try_wait(&self) -> io::Result<bool> {
        sys::try_take(self.raw_wait())
    }

    fn raw_wait(&self) -> RawFd {
        raw(&self.source.wait_fd())
    }
}

/// Blocks until `fd` is readable.
#[cfg(unix)]
fn wait_readable(fd: RawFd) -> io::Result<()> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: polls one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, -1) };
    if r < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(not(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    windows
)))]
/// Retries a syscall on EINTR; returns its result or the OS error.
fn retry(mut f: impl FnMut() -> isize) -> io::Result<isize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(not(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    windows
)))]
/// `Ok(false)` for "would block", the error otherwise.
fn would_block(r: io::Result<isize>) -> io::Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(windows))]
impl AsFd for EventSource {
    /// The descriptor waiters watch (readable while a unit is available).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.wait_fd()
    }
}

#[cfg(not(windows))]
impl AsRawFd for EventSource {
    fn as_raw_fd(&self) -> RawFd {
        self.source.wait_fd().as_raw_fd()
    }
}

#[cfg(not(windows))]
impl From<EventSource> for OwnedFd {
    /// The descriptor waiters watch; a pipe's write end, where there is one, is closed.
    fn from(source: EventSource) -> OwnedFd {
        source.source.into_wait_fd()
    }
}

#[cfg(windows)]
impl crate::sys::AsSource for EventSource {
    /// The semaphore's handle.
    fn as_source(&self) -> Borrowed<'_> {
        self.source.wait_fd()
    }
}

#[cfg(windows)]
impl From<EventSource> for crate::sys::OwnedSource {
    /// The semaphore's handle.
    fn from(source: EventSource) -> crate::sys::OwnedSource {
        source.source.into_wait_fd()
    }
}

/// Adds one unit to an [`EventSource`].
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Notify<'a> {
    fd: Borrowed<'a>,
}

impl<'a> Notify<'a> {
    /// Notifies `source`.
    pub fn new(source: &'a EventSource) -> Self {
        Notify { fd: source.source.notify_fd_borrowed() }
    }
}

impl Prepare for Notify<'_> {
    const NAME: &'static str = Facts::Notify.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Counter(1));
        Ok(RawOp::Notify { fd: raw(&self.fd) })
    }
}

/// Takes one unit from an [`EventSource`], waiting while there is none.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Wait<'a> {
    fd: Borrowed<'a>,
}

impl<'a> Wait<'a> {
    /// Waits on `source`.
    pub fn new(source: &'a EventSource) -> Self {
        Wait { fd: source.source.wait_fd() }
    }
}

impl Prepare for Wait<'_> {
    const NAME: &'static str = Facts::Wait.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Counter(0));
        Ok(RawOp::Wait { fd: raw(&self.fd) })
    }
}

unit_output!(Notify<'a>, Wait<'a>);

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! event_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// Adds one to an event source; the value written is in
            /// [`OpState::Counter`](crate::raw::OpState::Counter). Moves 8 bytes, as an eventfd.
            Notify { fd: crate::raw::RawFd } = { name: "notify", ..Facts::DEFAULT } whole { Some(8) };
            /// Takes one from an event source; the value read lands in
            /// [`OpState::Counter`](crate::raw::OpState::Counter).
            Wait { fd: crate::raw::RawFd } = { name: "wait", consumer: true, ..Facts::DEFAULT } whole { Some(8) };
        }
    };
}
pub(crate) use event_ops;
