//! macOS, FreeBSD, NetBSD, DragonFly: a kqueue; each unit is one pending `EVFILT_USER`
//! event, added with a fresh identifier and `EV_ONESHOT`, so every retrieval takes exactly one.
//! The kqueue is readable while an event is pending, which is what waiters watch.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The kqueue; waiters and notifiers use the same descriptor.
#[derive(Debug)]
pub(crate) struct Source {
    kq: OwnedFd,
}

impl Source {
    pub(crate) fn new() -> io::Result<Source> {
        // SAFETY: plain syscall; the result is checked.
        let kq = unsafe { libc::kqueue() };
        if kq < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `kqueue` returned a new descriptor that we own.
        let kq = unsafe { OwnedFd::from_raw_fd(kq) };
        // SAFETY: fcntl on a descriptor we own.
        if unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Source { kq })
    }

    pub(crate) fn wait_fd(&self) -> BorrowedFd<'_> {
        self.kq.as_fd()
    }

    pub(crate) fn notify_fd(&self) -> RawFd {
        self.kq.as_raw_fd()
    }

    pub(crate) fn notify_fd_borrowed(&self) -> BorrowedFd<'_> {
        self.kq.as_fd()
    }

    pub(crate) fn into_wait_fd(self) -> OwnedFd {
        self.kq
    }
}

/// `kevent` with a zero timeout, retried on EINTR.
fn kevent(kq: RawFd, change: Option<&libc::kevent>, out: Option<&mut libc::kevent>) -> io::Result<usize> {
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let (changes, nchanges) = change.map_or((std::ptr::null(), 0), |c| (c as *const libc::kevent, 1));
    let (events, nevents) = out.map_or((std::ptr::null_mut(), 0), |e| (e as *mut libc::kevent, 1));
    loop {
        // SAFETY: at most one change read from and one event written to live structs.
        let r = unsafe { libc::kevent(kq, changes, nchanges, events, nevents, &zero) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Adds one unit: a new, triggered, one-shot user event.
pub(crate) fn notify(kq: RawFd) -> io::Result<()> {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    // SAFETY: `kevent` is plain old data; all-zero is a valid value to fill in.
    let mut change: libc::kevent = unsafe { std::mem::zeroed() };
    change.ident = NEXT.fetch_add(1, Ordering::Relaxed) as _;
    change.filter = libc::EVFILT_USER as _;
    change.flags = (libc::EV_ADD | libc::EV_ONESHOT) as _;
    change.fflags = libc::NOTE_TRIGGER as _;
    kevent(kq, Some(&change), None).map(drop)
}

/// Takes one unit if one is pending: retrieving a one-shot event removes it.
pub(crate) fn try_take(kq: RawFd) -> io::Result<bool> {
    // SAFETY: `kevent` is plain old data; the kernel fills it.
    let mut event: libc::kevent = unsafe { std::mem::zeroed() };
    Ok(kevent(kq, None, Some(&mut event))? == 1)
}
