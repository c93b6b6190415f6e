//! The syscalls of the posix driver: a non-blocking attempt per op ([`attempt`]), run on the
//! loop thread, and a blocking form ([`perform_blocking`]) run on the worker pool.
//!
//! Every function here is `unsafe` for one reason: the op's pointers (buffers, iovecs, its
//! [`OpState`]) must be valid and not otherwise accessed for the duration of the call — the
//! backend contract guarantees it between an op's start and its completion report.

use std::io;
use std::os::fd::RawFd;
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::raw::{CURRENT_POS, OpState, RawOp};

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
    /// The op would block: attempt again once `fd` is ready for `Interest`.
    Wait(RawFd, Interest),
    /// The op has no readiness to wait for: run [`perform_blocking`] on a worker.
    Pool,
}

use Attempt::{Done, Pool, Wait};

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

/// Whether `fd` is a file that readiness does not apply to (regular, block device, directory).
fn is_file(fd: RawFd) -> bool {
    // SAFETY: `stat` is plain old data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into a live `stat`.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return false;
    }
    matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR)
}

fn offset_arg(offset: u64) -> i64 {
    if offset == CURRENT_POS { -1 } else { offset as i64 }
}

/// `preadv2`/`pwritev2` with `flags` (Linux; elsewhere `preadv`/`readv` and friends, without
/// flags); an offset on an unseekable file is ignored, as io_uring does.
///
/// # Safety
///
/// `iov` points at `cnt` valid iovecs whose buffers are valid for the transfer.
#[cfg(not(target_os = "wasi"))]
unsafe fn rw(fd: RawFd, iov: *const libc::iovec, cnt: u32, offset: u64, write: bool, flags: i32) -> Result<i32, i32> {
    // SAFETY: forwarded from the caller.
    unsafe { rw_call(fd, iov, cnt, offset, write, flags) }
}

/// As the other `rw`. wasmtime transfers only the first buffer of a vector per call, so a
/// vectored transfer on a regular file goes one buffer per call here, until one comes short
/// (as io_uring, a file transfer is complete unless it meets the end of the file).
///
/// # Safety
///
/// As the other `rw`.
#[cfg(target_os = "wasi")]
unsafe fn rw(fd: RawFd, iov: *const libc::iovec, cnt: u32, offset: u64, write: bool, flags: i32) -> Result<i32, i32> {
    if cnt <= 1 || !is_file(fd) {
        // SAFETY: forwarded from the caller.
        return unsafe { rw_call(fd, iov, cnt, offset, write, flags) };
    }
    // SAFETY: the caller guarantees `cnt` valid iovecs.
    let iovs = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    let mut total = 0usize;
    for one in iovs {
        let off = if offset == CURRENT_POS { CURRENT_POS } else { offset + total as u64 };
        // SAFETY: one of the caller's iovecs.
        match unsafe { rw_call(fd, one, 1, off, write, flags) } {
            Ok(n) => {
                total += n as usize;
                if (n as usize) < one.iov_len {
                    break;
                }
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total.min(i32::MAX as usize) as i32)
}

/// One `rw` call, retried on `EINTR` (and without the offset on `ESPIPE`).
///
/// # Safety
///
/// As [`rw`].
unsafe fn rw_call(
    fd: RawFd,
    iov: *const libc::iovec,
    cnt: u32,
    offset: u64,
    write: bool,
    flags: i32,
) -> Result<i32, i32> {
    let mut off = offset_arg(offset);
    loop {
        // SAFETY: the caller guarantees the iovecs and their buffers.
        let r = unsafe { rw_once(fd, iov, cnt as i32, off, write, flags) };
        if r >= 0 {
            return Ok(r.min(i32::MAX as isize) as i32);
        }
        match errno() {
            libc::EINTR => {}
            libc::ESPIPE if off != -1 => off = -1,
            e => return Err(e),
        }
    }
}

#[cfg(target_os = "linux")]
unsafe fn rw_once(fd: RawFd, iov: *const libc::iovec, cnt: i32, off: i64, write: bool, flags: i32) -> isize {
    // SAFETY: forwarded from `rw`'s caller.
    unsafe { if write { libc::pwritev2(fd, iov, cnt, off, flags) } else { libc::preadv2(fd, iov, cnt, off, flags) } }
}

#[cfg(not(target_os = "linux"))]
unsafe fn rw_once(fd: RawFd, iov: *const libc::iovec, cnt: i32, off: i64, write: bool, _flags: i32) -> isize {
    // SAFETY: forwarded from `rw`'s caller.
    unsafe {
        match (write, off) {
            (false, -1) => libc::readv(fd, iov, cnt),
            (true, -1) => libc::writev(fd, iov, cnt),
            (false, off) => libc::preadv(fd, iov, cnt, off),
            (true, off) => libc::pwritev(fd, iov, cnt, off),
        }
    }
}

/// A read or write tried without blocking.
///
/// # Safety
///
/// As [`rw`].
#[cfg(target_os = "linux")]
unsafe fn rw_nowait(fd: RawFd, iov: *const libc::iovec, cnt: u32, offset: u64, write: bool) -> Attempt {
    let interest = if write { WRITE } else { READ };
    // SAFETY: forwarded from the caller.
    match unsafe { rw(fd, iov, cnt, offset, write, libc::RWF_NOWAIT) } {
        Ok(n) => Done(n),
        // A regular file would block on storage, not on readiness: the driver finds out when
        // epoll refuses it (EPERM) and hands the op to a worker instead.
        Err(libc::EAGAIN) => Wait(fd, interest),
        // No RWF_NOWAIT support (a tty, a character device): files go to a worker; anything
        // else is attempted once poll says it is ready, so it stays cancelable.
        Err(libc::EOPNOTSUPP) if is_file(fd) => Pool,
        Err(libc::EOPNOTSUPP) => {
            let events = if write { libc::POLLOUT } else { libc::POLLIN };
            if !ready(fd, events) {
                return Wait(fd, interest);
            }
            // SAFETY: forwarded from the caller.
            match unsafe { rw(fd, iov, cnt, offset, write, 0) } {
                Ok(n) => Done(n),
                Err(e) => Done(-e),
            }
        }
        Err(e) => Done(-e),
    }
}

/// A read or write tried without blocking, where there is no `RWF_NOWAIT`: files go to a
/// worker; anything else is attempted once poll says it is ready.
///
/// # Safety
///
/// As [`rw`].
#[cfg(not(target_os = "linux"))]
unsafe fn rw_nowait(fd: RawFd, iov: *const libc::iovec, cnt: u32, offset: u64, write: bool) -> Attempt {
    let (interest, events) = if write { (WRITE, libc::POLLOUT) } else { (READ, libc::POLLIN) };
    if is_file(fd) {
        return Pool;
    }
    if !ready(fd, events) {
        return Wait(fd, interest);
    }
    // SAFETY: forwarded from the caller.
    match unsafe { rw(fd, iov, cnt, offset, write, 0) } {
        Ok(n) => Done(n),
        Err(libc::EAGAIN) => Wait(fd, interest),
        Err(e) => Done(-e),
    }
}

fn iovec(buf: *const u8, len: u32) -> libc::iovec {
    libc::iovec { iov_base: buf as *mut libc::c_void, iov_len: len as usize }
}

/// Attempts `op` without blocking. `progress` is per-op scratch kept across attempts (0 at
/// the first attempt): bytes done by a `MSG_WAITALL` transfer, or 1 once a connect is in
/// progress.
///
/// # Safety
///
/// The op's pointers and `state` are valid and used by nothing else during the call.
pub(super) unsafe fn attempt(op: &RawOp, state: *mut OpState, progress: &mut u32) -> Attempt {
    // SAFETY: the caller guarantees exclusive access to the op's state.
    let state = unsafe { &mut *state };
    // Only socket and child-process ops use them, and WASI has neither.
    #[cfg(target_os = "wasi")]
    let _ = (&state, &progress);
    match *op {
        RawOp::Poll { fd, events } => poll_op(fd, events),
        RawOp::Read { fd, buf, len, offset } => {
            let iov = iovec(buf, len);
            // SAFETY: the buffer is valid for `len` bytes (caller).
            unsafe { rw_nowait(fd, &iov, 1, offset, false) }
        }
        RawOp::Write { fd, buf, len, offset } => {
            let iov = iovec(buf, len);
            // SAFETY: as above.
            unsafe { rw_nowait(fd, &iov, 1, offset, true) }
        }
        // SAFETY: the iovecs and their buffers are valid (caller).
        RawOp::Readv { fd, iov, iovcnt, offset } => unsafe { rw_nowait(fd, iov, iovcnt, offset, false) },
        // SAFETY: as above.
        RawOp::Writev { fd, iov, iovcnt, offset } => unsafe { rw_nowait(fd, iov, iovcnt, offset, true) },
        RawOp::ReadTty { fd, buf, len } => {
            if !ready(fd, libc::POLLIN) {
                return Wait(fd, READ);
            }
            // SAFETY: the buffer is valid for `len` bytes (caller).
            Done(result(unsafe { libc::read(fd, buf.cast(), len as usize) }))
        }
        // Reported as the 8 bytes an eventfd transfer moves, as io_uring does.
        RawOp::Notify { fd } => match crate::op::event::sys::notify(fd) {
            Ok(()) => Done(8),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Wait(fd, WRITE),
            Err(e) => Done(-e.raw_os_error().unwrap_or(libc::EIO)),
        },
        RawOp::Wait { fd } => match crate::op::event::sys::try_take(fd) {
            Ok(true) => Done(8),
            Ok(false) => Wait(fd, READ),
            Err(e) => Done(-e.raw_os_error().unwrap_or(libc::EIO)),
        },
        #[cfg(not(target_os = "wasi"))]
        RawOp::Accept { .. }
        | RawOp::Connect { .. }
        | RawOp::Recv { .. }
        | RawOp::Send { .. }
        | RawOp::RecvMsg { .. }
        | RawOp::SendMsg { .. }
        | RawOp::Shutdown { .. } => {
            // SAFETY: forwarded from the caller.
            unsafe { super::sock::attempt(op, state, progress) }
        }
        #[cfg(target_os = "linux")]
        RawOp::ChildExit { pid } => child_exit(pid, state),
        _ => Pool,
    }
}

fn poll_op(fd: RawFd, events: u32) -> Attempt {
    let mut p = libc::pollfd { fd, events: events as libc::c_short, revents: 0 };
    loop {
        // SAFETY: polls one live `pollfd` without waiting.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        if r >= 0 {
            break;
        }
        if errno() != libc::EINTR {
            return Done(-errno());
        }
    }
    if p.revents & libc::POLLNVAL != 0 {
        return Done(-libc::EBADF);
    }
    if p.revents != 0 {
        return Done(p.revents as u16 as i32);
    }
    let write = events & libc::POLLOUT as u32 != 0;
    let read = events & !(libc::POLLOUT as u32) != 0 || !write;
    Wait(fd, Interest { read, write })
}
/// Waits for a child through a pidfd: `waitid(P_PIDFD, WNOHANG)` into the op's siginfo.
#[cfg(target_os = "linux")]
fn child_exit(pid: u32, state: &mut OpState) -> Attempt {
    let OpState::Child(child) = state else { return Done(-libc::EINVAL) };
    let pidfd = match &child.pidfd {
        Some(fd) => fd.as_raw_fd(),
        None => {
            // SAFETY: plain syscall; the result is checked.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
            if fd < 0 {
                // Not a process at all: report what waitid on a non-child reports.
                return Done(match errno() {
                    libc::ESRCH => -libc::ECHILD,
                    e => -e,
                });
            }
            // SAFETY: pidfd_open returned a new descriptor that we own (the op's state
            // keeps it until the op is released).
            let owned = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
            let raw = owned.as_raw_fd();
            child.pidfd = Some(owned);
            raw
        }
    };
    loop {
        // SAFETY: `siginfo_t` is plain old data; all-zero is valid (si_pid 0 = not exited).
        child.info = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes a siginfo into the op's state.
        let r =
            unsafe { libc::waitid(libc::P_PIDFD, pidfd as libc::id_t, &mut child.info, libc::WEXITED | libc::WNOHANG) };
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                e => return Done(-e),
            }
        }
        // SAFETY: waitid filled a SIGCHLD siginfo (or left it zeroed).
        return if unsafe { child.info.si_pid() } != 0 { Done(0) } else { Wait(pidfd, READ) };
    }
}

/// Runs `op` to completion, blocking the calling (worker) thread.
///
/// # Safety
///
/// As [`attempt`].
pub(super) unsafe fn perform_blocking(op: &RawOp, state: *mut OpState) -> i32 {
    // SAFETY: the caller guarantees exclusive access to the op's state.
    let state = unsafe { &mut *state };
    let rw_result = |r: Result<i32, i32>| r.unwrap_or_else(|e| -e);
    // SAFETY: the op's buffers, iovecs, paths and addresses are valid
    // (caller); the rest are plain syscalls on descriptor numbers.
    unsafe {
        match *op {
            RawOp::Read { fd, buf, len, offset } => rw_result(rw(fd, &iovec(buf, len), 1, offset, false, 0)),
            RawOp::Write { fd, buf, len, offset } => rw_result(rw(fd, &iovec(buf, len), 1, offset, true, 0)),
            RawOp::Readv { fd, iov, iovcnt, offset } => rw_result(rw(fd, iov, iovcnt, offset, false, 0)),
            RawOp::Writev { fd, iov, iovcnt, offset } => rw_result(rw(fd, iov, iovcnt, offset, true, 0)),
            RawOp::ReadTty { fd, buf, len } => result(libc::read(fd, buf.cast(), len as usize)),
            RawOp::Fsync { fd, datasync } => result(fsync(fd, datasync) as isize),
            RawOp::OpenAt { dir, flags, mode } => {
                let OpState::Path(path) = state else { return -libc::EINVAL };
                result(libc::openat(dir, path.as_ptr(), flags, mode) as isize)
            }
            RawOp::Close { fd } => result(libc::close(fd) as isize),
            RawOp::RenameAt { old_dir, new_dir, flags } => {
                let OpState::Paths(old, new) = state else { return -libc::EINVAL };
                rename(old_dir, old, new_dir, new, flags & crate::raw::RENAME_NOREPLACE != 0)
            }
            RawOp::UnlinkAt { dir, flags } => {
                let OpState::Path(path) = state else { return -libc::EINVAL };
                result(libc::unlinkat(dir, path.as_ptr(), flags) as isize)
            }
            RawOp::MkdirAt { dir, mode } => {
                let OpState::Path(path) = state else { return -libc::EINVAL };
                result(libc::mkdirat(dir, path.as_ptr(), mode as libc::mode_t) as isize)
            }
            RawOp::SymlinkAt { dir } => {
                let OpState::Paths(target, link) = state else { return -libc::EINVAL };
                result(libc::symlinkat(target.as_ptr(), dir, link.as_ptr()) as isize)
            }
            #[cfg(not(target_os = "wasi"))]
            RawOp::Socket { .. } | RawOp::Bind { .. } | RawOp::Listen { .. } => {
                super::sock::perform_blocking(op, state).expect("a socket op without readiness")
            }
            #[cfg(target_os = "linux")]
            RawOp::Splice { fd_in, mut off_in, fd_out, mut off_out, len, flags } => {
                let pin = if off_in < 0 { std::ptr::null_mut() } else { &raw mut off_in };
                let pout = if off_out < 0 { std::ptr::null_mut() } else { &raw mut off_out };
                result(libc::splice(fd_in, pin, fd_out, pout, len as usize, flags))
            }
            #[cfg(not(any(target_os = "linux", target_os = "wasi")))]
            RawOp::ChildExit { pid } => {
                let OpState::Child(child) = state else { return -libc::EINVAL };
                let mut status = 0;
                loop {
                    let r = libc::waitpid(pid as libc::pid_t, &mut status, 0);
                    if r >= 0 {
                        child.wait_status = Some(status);
                        return 0;
                    }
                    if errno() != libc::EINTR {
                        return -errno();
                    }
                }
            }
            _ => -libc::EOPNOTSUPP,
        }
    }
}
fn fsync(fd: RawFd, datasync: bool) -> libc::c_int {
    // SAFETY: plain syscalls on a descriptor number.
    unsafe {
        #[cfg(not(target_vendor = "apple"))]
        if datasync {
            return libc::fdatasync(fd);
        }
        #[cfg(target_vendor = "apple")]
        let _ = datasync;
        libc::fsync(fd)
    }
}

/// `renameat`, failing with `EEXIST` if `noreplace` and the new path exists: atomically on
/// Linux (`renameat2`) and Apple systems (`renameatx_np`), by a racy check elsewhere. Returns
/// the op's result.
fn rename(old_dir: RawFd, old: &std::ffi::CStr, new_dir: RawFd, new: &std::ffi::CStr, noreplace: bool) -> i32 {
    // SAFETY: the paths are NUL-terminated strings that outlive the calls.
    let r = unsafe {
        #[cfg(target_os = "linux")]
        {
            let flags = if noreplace { libc::RENAME_NOREPLACE } else { 0 };
            libc::syscall(libc::SYS_renameat2, old_dir, old.as_ptr(), new_dir, new.as_ptr(), flags) as isize
        }
        #[cfg(target_vendor = "apple")]
        {
            let flags = if noreplace { libc::RENAME_EXCL } else { 0 };
            libc::renameatx_np(old_dir, old.as_ptr(), new_dir, new.as_ptr(), flags) as isize
        }
        #[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
        {
            let mut st: libc::stat = std::mem::zeroed();
            if noreplace && libc::fstatat(new_dir, new.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0 {
                return -libc::EEXIST;
            }
            libc::renameat(old_dir, old.as_ptr(), new_dir, new.as_ptr()) as isize
        }
    };
    result(r)
}
