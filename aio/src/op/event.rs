//! Event sources: a counting semaphore that other threads (or ops) can signal, with the ops
//! [`Notify`] and [`Wait`].
//!
//! Every [`EventSource::notify`] (or [`Notify`] op) adds one unit; every [`EventSource::wait`]
//! (or [`Wait`] op) takes exactly one, waiting while there is none. `notify` may be called
//! from any thread. Close a source with [`Close`](super::Close) (it converts into an
//! `OwnedFd`) or by dropping it.
//!
//! # WASI
//!
//! wasm32-wasip1 has neither eventfds nor pipes, and no threads. There a source is a regular
//! file created in the current directory (which must be a preopened, writable directory, e.g.
//! `wasmtime run --dir=.`) and unlinked at once: [`notify`](EventSource::notify) appends one
//! byte, a wait reads one byte (none left: no unit), and the file is truncated whenever it has
//! been read to its end. A file rather than an in-process counter, so that a source still is a
//! descriptor ([`AsFd`], [`Wait`] and [`Notify`] ops, `poll`) as everywhere else. Since no
//! other thread can add a unit, [`EventSource::wait`] without a unit fails with
//! `ErrorKind::WouldBlock` instead of blocking forever; a [`Wait`] op still waits, for a
//! [`Notify`] op or a `notify` between submissions. A [`Poll`](super::Poll) of such a source
//! reports it readable even without a unit (WASI reports regular files always ready); the
//! posix backend's own wait looks at the file's size instead.

use std::io;
#[cfg(not(target_os = "wasi"))]
use std::os::fd::FromRawFd;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::sealed::Prepare;
use super::unit_output;
use crate::raw::{OpState, RawOp};

/// A counting semaphore backed by the OS: an `eventfd` in semaphore mode on Linux, a
/// non-blocking pipe (one byte per unit) elsewhere, an unlinked file on WASI (see the
/// [module docs](self#wasi)).
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
    /// The descriptor waiters watch (the eventfd, or the pipe's read end).
    fd: OwnedFd,
    /// The pipe's write end where there is no eventfd (on WASI: the file opened to append).
    #[cfg(not(target_os = "linux"))]
    write: OwnedFd,
}

impl EventSource {
    /// A new source with no units.
    pub fn new() -> io::Result<EventSource> {
        sys::new()
    }

    /// Adds one unit, waking one waiter. Callable from any thread.
    pub fn notify(&self) -> io::Result<()> {
        sys::notify(self.notify_fd())
    }

    /// Takes one unit, blocking the thread while there is none. On WASI (no threads, so
    /// nothing could add one) it fails with `ErrorKind::WouldBlock` when there is none.
    pub fn wait(&self) -> io::Result<()> {
        #[cfg(target_os = "wasi")]
        return match sys::try_take(self.fd.as_raw_fd())? {
            true => Ok(()),
            false => {
                Err(io::Error::new(io::ErrorKind::WouldBlock, "no unit, and no other thread that could add one (WASI)"))
            }
        };
        #[cfg(not(target_os = "wasi"))]
        loop {
            if sys::try_take(self.fd.as_raw_fd())? {
                return Ok(());
            }
            wait_readable(self.fd.as_raw_fd())?;
        }
    }

    /// Takes one unit if there is one; `Ok(false)` if there is none.
    pub fn try_wait(&self) -> io::Result<bool> {
        sys::try_take(self.fd.as_raw_fd())
    }

    /// The descriptor a [`Notify`] writes to.
    fn notify_fd(&self) -> RawFd {
        #[cfg(target_os = "linux")]
        return self.fd.as_raw_fd();
        #[cfg(not(target_os = "linux"))]
        return self.write.as_raw_fd();
    }
}

/// Blocks until `fd` is readable.
#[cfg(not(target_os = "wasi"))]
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

/// Non-blocking primitives on an event source's descriptors, for every backend: `notify`
/// on the descriptor a [`Notify`] op carries, `try_take` on the one a [`Wait`] op carries.
pub(crate) mod sys {
    use super::*;

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

    /// Whether this kernel reads an eventfd with `RWF_NOWAIT` (Linux 5.12 and later; not
    /// qemu-user). Probed once per process.
    #[cfg(target_os = "linux")]
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

    #[cfg(target_os = "linux")]
    pub(crate) fn new() -> io::Result<EventSource> {
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
        let source = EventSource { fd: unsafe { OwnedFd::from_raw_fd(fd) } };
        // SAFETY: fcntl on a descriptor we own.
        if !eventfd_nowait(fd) && unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(source)
    }

    #[cfg(target_os = "wasi")]
    pub(crate) fn new() -> io::Result<EventSource> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        loop {
            let name = format!(".corio-event-{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let write = match std::fs::OpenOptions::new().append(true).create_new(true).open(&name) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let read = std::fs::OpenOptions::new().read(true).write(true).open(&name);
            let removed = std::fs::remove_file(&name);
            let read = read?;
            removed?;
            return Ok(EventSource { fd: read.into(), write: write.into() });
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "wasi")))]
    pub(crate) fn new() -> io::Result<EventSource> {
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
        Ok(EventSource { fd: read, write })
    }

    /// Adds one unit through `fd` (the eventfd, or the pipe's write end).
    pub(crate) fn notify(fd: RawFd) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        let unit = 1u64.to_ne_bytes();
        #[cfg(not(target_os = "linux"))]
        let unit = [1u8];
        // SAFETY: writes `unit.len()` bytes from a live buffer.
        retry(|| unsafe { libc::write(fd, unit.as_ptr().cast(), unit.len()) }).map(drop)
    }

    /// Takes one unit through `fd` (the eventfd, or the pipe's read end) without blocking;
    /// `Ok(false)` if there is none.
    pub(crate) fn try_take(fd: RawFd) -> io::Result<bool> {
        #[cfg(target_os = "linux")]
        let r = {
            let mut value: u64 = 0;
            let iov = libc::iovec { iov_base: (&raw mut value).cast(), iov_len: 8 };
            // A blocking eventfd is read with RWF_NOWAIT; a non-blocking one (see `new`) plainly.
            let flags = if eventfd_nowait(fd) { libc::RWF_NOWAIT } else { 0 };
            // SAFETY: reads at most 8 bytes into a live u64; offset -1 = current position.
            retry(|| unsafe { libc::preadv2(fd, &iov, 1, -1, flags) as isize })
        };
        #[cfg(not(target_os = "linux"))]
        let r = {
            let mut byte = 0u8;
            // SAFETY: reads at most one byte into a live u8.
            retry(|| unsafe { libc::read(fd, (&raw mut byte).cast(), 1) })
        };
        match r {
            // End of the file: no unit (WASI).
            #[cfg(target_os = "wasi")]
            Ok(0) => Ok(false),
            #[cfg(target_os = "wasi")]
            Ok(_) => rewind_if_drained(fd).map(|()| true),
            #[cfg(not(target_os = "wasi"))]
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Empties a source's file once every unit in it was taken, so that it does not grow.
    /// Nothing can append meanwhile: the program has one thread.
    #[cfg(target_os = "wasi")]
    fn rewind_if_drained(fd: RawFd) -> io::Result<()> {
        // SAFETY: `stat` is plain old data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes into a live `stat`; lseek and ftruncate act on a descriptor
        // number the caller owns (the source's file, opened for reading and writing).
        unsafe {
            if libc::fstat(fd, &mut st) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::lseek(fd, 0, libc::SEEK_CUR) == st.st_size
                && (libc::ftruncate(fd, 0) < 0 || libc::lseek(fd, 0, libc::SEEK_SET) < 0)
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
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
    /// The descriptor waiters watch; elsewhere than Linux the pipe's write end is closed.
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
        // SAFETY: the descriptor belongs to `source`, which is borrowed for `'a`.
        Notify { fd: unsafe { BorrowedFd::borrow_raw(source.notify_fd()) } }
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
