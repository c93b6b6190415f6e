//! Child exit on macOS and the BSDs: reap with `waitpid(WNOHANG)` if the child has exited,
//! else watch it with a kqueue holding an `EVFILT_PROC`/`NOTE_EXIT` event (the kqueue becomes
//! readable when the child exits), as a pidfd does on Linux. The kqueue lives in the op's state
//! and is closed when the op completes.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::syscall::{Attempt, READ, errno};
use crate::raw::OpState;

/// Attempts a child-exit op without blocking.
pub(super) fn child_exit(pid: u32, state: &mut OpState) -> Attempt {
    let OpState::Child(child) = state else { return Attempt::Done(-libc::EINVAL) };
    // Twice at most: a child that exits between the first reap attempt and the kqueue
    // registration makes the registration fail with ESRCH, and is then reaped.
    for _ in 0..2 {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a live int.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
        if r > 0 {
            child.wait_status = Some(status);
            return Attempt::Done(0);
        }
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                // ECHILD: not our child (or already reaped), as waitid reports it.
                e => return Attempt::Done(-e),
            }
        }
        if let Some(kq) = &child.pidfd {
            return Attempt::Wait(kq.as_raw_fd(), READ);
        }
        match watch(pid) {
            Ok(kq) => {
                let fd = kq.as_raw_fd();
                child.pidfd = Some(kq);
                return Attempt::Wait(fd, READ);
            }
            Err(libc::ESRCH) => continue,
            Err(e) => return Attempt::Done(-e),
        }
    }
    Attempt::Done(-libc::ECHILD)
}

/// A kqueue watching `pid` for its exit.
fn watch(pid: u32) -> Result<OwnedFd, i32> {
    // SAFETY: plain syscall; the result is checked.
    let kq = unsafe { libc::kqueue() };
    if kq < 0 {
        return Err(errno());
    }
    // SAFETY: `kqueue` returned a new descriptor that we own.
    let kq = unsafe { OwnedFd::from_raw_fd(kq) };
    // SAFETY: `kevent` is plain old data; all-zero is a valid value to fill in.
    let mut change: libc::kevent = unsafe { std::mem::zeroed() };
    change.ident = pid as _;
    change.filter = libc::EVFILT_PROC as _;
    change.flags = (libc::EV_ADD | libc::EV_ONESHOT) as _;
    change.fflags = libc::NOTE_EXIT as _;
    // SAFETY: registers one change read from a live struct; no events are returned.
    let r = unsafe {
        libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        libc::kevent(kq.as_raw_fd(), &change, 1, std::ptr::null_mut(), 0, std::ptr::null())
    };
    if r < 0 {
        return Err(errno());
    }
    Ok(kq)
}
