//! The io_uring backend's syscall fallbacks for opcodes the kernel lacks: `socket`, `bind`,
//! `listen` (5.19), `linkat` (5.15), `ftruncate` (6.9) as direct syscalls, and `child_exit` through a pidfd.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::op::RawOp;
use crate::raw::OpState;

/// Runs an op with a fallback as a direct syscall; returns the op's raw result.
pub(super) fn run_syscall(op: &RawOp, state: &OpState) -> i32 {
    let r = match (*op, state) {
        // SAFETY: plain syscall; the new descriptor is owned by the op's result.
        (RawOp::Socket { domain, ty, protocol }, _) => unsafe { libc::socket(domain, ty, protocol) },
        // SAFETY: bind reads `len` bytes of a socket address from the op's state.
        (RawOp::Bind { fd }, OpState::Addr { addr, len }) => unsafe { libc::bind(fd, (&raw const *addr).cast(), *len) },
        // SAFETY: plain syscall on a descriptor number.
        (RawOp::Listen { fd, backlog }, _) => unsafe { libc::listen(fd, backlog) },
        // SAFETY: plain syscall on a descriptor number.
        (RawOp::Ftruncate { fd, len }, _) => unsafe { libc::ftruncate(fd, len as libc::off_t) },
        // SAFETY: two NUL-terminated paths from the op's state.
        (RawOp::LinkAt { old_dir, new_dir, flags }, OpState::Paths(old, new)) => unsafe {
            libc::linkat(old_dir, old.as_ptr(), new_dir, new.as_ptr(), flags)
        },
        (RawOp::GetXattr { .. } | RawOp::SetXattr { .. }, state) => {
            // SAFETY: the op's state is its own and its value buffer is valid until it
            // completes (the backend contract).
            return unsafe { crate::op::fs::xattr_syscall(op, state) };
        }
        _ => unreachable!("no syscall fallback for {}", op.name()),
    };
    syscall_result(r as isize)
}

fn syscall_result(r: isize) -> i32 {
    if r < 0 { -io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO) } else { r as i32 }
}

/// A pidfd for child `pid`, failing with `ECHILD` (as `waitid` would) if `pid` is not a
/// child of this process that is still to be reaped: a pidfd alone would also watch
/// unrelated processes.
pub(crate) fn watch_child(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: `siginfo_t` is plain old data; waitid writes it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: WNOWAIT leaves the child unreaped; this only checks that it is ours.
    let r = unsafe {
        libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    pidfd_open(pid).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => io::Error::from_raw_os_error(libc::ECHILD),
        _ => e,
    })
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reaps an exited child through its pidfd into the op's siginfo; returns the op's result.
pub(crate) fn reap_pidfd(state: &mut OpState) -> i32 {
    let OpState::Child(child) = state else { unreachable!() };
    let Some(pidfd) = &child.pidfd else { return -libc::EBADF };
    // SAFETY: waitid writes a siginfo into the op's state.
    let r = unsafe {
        libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut child.info, libc::WEXITED | libc::WNOHANG)
    };
    syscall_result(r as isize)
}
