//! Readiness elsewhere than Linux, with the same interface as `epoll.rs`: the `polling` crate
//! (kqueue on macOS and the BSDs, edge-triggered there), or on WASI the `poll_oneoff` stand-in
//! (`sys_wasi.rs`, one-shot only). Keys are `usize` here: on 32-bit targets a key keeps only its
//! low half (the driver compares keys that way, see `registry.rs`).

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

#[cfg(not(target_os = "wasi"))]
use polling::{Event, Events as RawEvents, PollMode, Poller as RawPoller};

#[cfg(target_os = "wasi")]
use super::sys_wasi::{Event, Events as RawEvents, Poller as RawPoller};
use super::syscall::Interest;

/// One readiness report: the registration's key and what it says.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ready {
    pub(super) key: u64,
    pub(super) read: bool,
    pub(super) write: bool,
    /// Always set: `polling` does not say whether kqueue's read report carried `EV_EOF`, so
    /// the read side may be closed (see [`Poller::READ_CLOSED_KNOWN`]).
    pub(super) read_closed: bool,
}

/// The buffer one wait fills.
pub(super) struct Events {
    inner: RawEvents,
}

impl Events {
    pub(super) fn with_capacity(capacity: usize) -> Events {
        Events { inner: RawEvents::with_capacity(NonZeroUsize::new(capacity.max(1)).expect("at least 1")) }
    }

    pub(super) fn clear(&mut self) {
        self.inner.clear();
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.inner.iter().map(|ev| Ready {
            key: ev.key as u64,
            read: ev.readable,
            write: ev.writable,
            read_closed: true,
        })
    }

    #[cfg(all(test, not(target_os = "wasi")))] // the driver's tests need pipes
    pub(super) fn len(&self) -> usize {
        self.inner.iter().count()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.inner.iter().next().is_none()
    }
}

/// The platform's poller.
pub(super) struct Poller {
    inner: RawPoller,
}

fn event(key: u64, interest: Interest) -> Event {
    Event::new(key as usize, interest.read, interest.write)
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: the borrow lasts one registration call, which fails cleanly (EBADF) on a closed
    // descriptor; nothing keeps it.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Poller {
    /// Registrations are edge-triggered and stay armed (kqueue's `EV_CLEAR`); not on WASI,
    /// whose registrations are one-shot.
    #[cfg(not(target_os = "wasi"))]
    pub(super) const EDGE: bool = true;
    #[cfg(target_os = "wasi")]
    pub(super) const EDGE: bool = false;

    /// Reports do not say whether the read side closed (`polling` drops kqueue's `EV_EOF`):
    /// a short read on a stream socket may have left the end of stream unread, with no new
    /// report to come for it, so the driver reads on until a read would block.
    pub(super) const READ_CLOSED_KNOWN: bool = false;

    pub(super) fn new() -> io::Result<Poller> {
        let inner = RawPoller::new()?;
        #[cfg(not(target_os = "wasi"))]
        if !inner.supports_edge() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "posix backend: no edge-triggered readiness here"));
        }
        Ok(Poller { inner })
    }

    pub(super) fn add(&self, fd: RawFd, key: u64, interest: Interest) -> io::Result<()> {
        // SAFETY: `polling` asks that the descriptor be deleted before it is closed; kqueue and
        // WASI's stand-in drop (or merely poll) a closed descriptor's registration, and the
        // driver re-registers a descriptor it finds closed (see `registry.rs`).
        #[cfg(not(target_os = "wasi"))]
        return unsafe { self.inner.add_with_mode(fd, event(key, interest), PollMode::Edge) };
        // SAFETY: as above.
        #[cfg(target_os = "wasi")]
        unsafe {
            self.inner.add(fd, event(key, interest))
        }
    }

    pub(super) fn modify(&self, fd: RawFd, key: u64, interest: Interest) -> io::Result<()> {
        #[cfg(not(target_os = "wasi"))]
        return self.inner.modify_with_mode(borrow(fd), event(key, interest), PollMode::Edge);
        #[cfg(target_os = "wasi")]
        self.inner.modify(borrow(fd), event(key, interest))
    }

    pub(super) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.inner.delete(borrow(fd))
    }

    pub(super) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.inner.clear();
        match self.inner.wait(&mut events.inner, timeout) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[cfg(not(target_os = "wasi"))]
    pub(super) fn notify(&self) -> io::Result<()> {
        self.inner.notify()
    }
}
