//! The syscalls of the posix driver: a non-blocking attempt per op ([`attempt`]), run on the
//! loop thread; the blocking forms run on the worker pool are in `blocking.rs`.
//!
//! Every function here is `unsafe` for one reason: the op's pointers (buffers, iovecs, its
//! [`OpState`]) must be valid and not otherwise accessed for the duration of the call — the
//! backend contract guarantees it between an op's start and its completion report.

use std::io;
use std::os::fd::RawFd;
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[cfg(not(target_os = "wasi"))]
use super::sock;
use super::syscall::{Attempt, Interest, READ, WRITE, errno, ready, result};
use crate::op::RawOp;
use crate::raw::{CURRENT_POS, OpState};
use Attempt::{Done, Pool, Wait};

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
pub(super) unsafe fn rw(
    fd: RawFd,
    iov: *const libc::iovec,
    cnt: u32,
    offset: u64,
    write: bool,
    flags: i32,
) -> Result<i32, i32> {
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
pub(super) unsafe fn rw(
    fd: RawFd,
    iov: *const libc::iovec,
    cnt: u32,
    offset: u64,
    write: bool,
    flags: i32,
) -> Result<i32, i32> {
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

/// One `preadv2`/`pwritev2` with `flags` (Linux only, and only with flags: without, the
/// classic calls, which every kernel and emulator has), else `readv`/`preadv` and friends.
unsafe fn rw_once(fd: RawFd, iov: *const libc::iovec, cnt: i32, off: i64, write: bool, flags: i32) -> isize {
    #[cfg(target_os = "linux")]
    if flags != 0 {
        // SAFETY: forwarded from `rw`'s caller.
        return unsafe {
            if write { libc::pwritev2(fd, iov, cnt, off, flags) } else { libc::preadv2(fd, iov, cnt, off, flags) }
        };
    }
    let _ = flags;
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

/// Whether `preadv2`/`pwritev2` with `RWF_NOWAIT` work here (an empty pipe answers EAGAIN, then
/// takes a byte): not on kernels before 4.14 nor under qemu-user (which lacks `pwritev2`).
/// Probed once per process.
#[cfg(target_os = "linux")]
fn nowait_works() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return false;
        }
        // SAFETY: both descriptors are new and owned here (closed when dropped).
        let _owned = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut byte = 0u8;
        let iov = iovec((&raw mut byte).cast_const(), 1);
        // SAFETY: reads at most one byte into a live u8 from an empty pipe.
        let read = unsafe { libc::preadv2(fds[0], &iov, 1, -1, libc::RWF_NOWAIT) };
        let works = read < 0 && errno() == libc::EAGAIN;
        // SAFETY: writes one byte from a live u8 into an empty pipe.
        let works = works && unsafe { libc::pwritev2(fds[1], &iov, 1, -1, libc::RWF_NOWAIT) } == 1;
        if !works {
            log::info!("corio-aio: no RWF_NOWAIT here; posix reads and writes poll first");
        }
        works
    })
}

/// A read or write tried without blocking.
///
/// # Safety
///
/// As [`rw`].
#[cfg(target_os = "linux")]
unsafe fn rw_nowait(fd: RawFd, iov: *const libc::iovec, cnt: u32, offset: u64, write: bool) -> Attempt {
    if !nowait_works() {
        // SAFETY: forwarded from the caller.
        return unsafe { rw_poll_first(fd, iov, cnt, offset, write) };
    }
    // SAFETY: forwarded from the caller.
    match unsafe { rw(fd, iov, cnt, offset, write, libc::RWF_NOWAIT) } {
        Ok(n) => Done(n),
        // A regular file would block on storage, not on readiness: the driver finds out when
        // epoll refuses it (EPERM) and hands the op to a worker instead.
        Err(libc::EAGAIN) => Wait(fd, if write { WRITE } else { READ }),
        // No RWF_NOWAIT for this file (a tty, a character device).
        // SAFETY: forwarded from the caller.
        Err(libc::EOPNOTSUPP) => unsafe { rw_poll_first(fd, iov, cnt, offset, write) },
        Err(e) => Done(-e),
    }
}

/// A read or write tried without blocking (no `RWF_NOWAIT` off Linux).
///
/// # Safety
///
/// As [`rw`].
#[cfg(not(target_os = "linux"))]
unsafe fn rw_nowait(fd: RawFd, iov: *const libc::iovec, cnt: u32, offset: u64, write: bool) -> Attempt {
    // SAFETY: forwarded from the caller.
    unsafe { rw_poll_first(fd, iov, cnt, offset, write) }
}

/// A read or write without `RWF_NOWAIT`: files go to a worker; anything else is attempted once
/// poll says it is ready (so it stays cancelable while it waits).
///
/// # Safety
///
/// As [`rw`].
unsafe fn rw_poll_first(fd: RawFd, iov: *const libc::iovec, cnt: u32, offset: u64, write: bool) -> Attempt {
    let (interest, events) = if write { (WRITE, libc::POLLOUT) } else { (READ, libc::POLLIN) };
    if is_file(fd) {
        return Pool;
    }
    if !ready(fd, events) {
        // A descriptor open in the other direction never gets ready: fail as the call would.
        // SAFETY: plain fcntl on a descriptor number.
        let mode = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if mode < 0 {
            return Done(-errno());
        }
        let wrong = match mode & libc::O_ACCMODE {
            libc::O_RDONLY => write,
            libc::O_WRONLY => !write,
            _ => false,
        };
        return if wrong { Done(-libc::EBADF) } else { Wait(fd, interest) };
    }
    // SAFETY: forwarded from the caller.
    match unsafe { rw(fd, iov, cnt, offset, write, 0) } {
        Ok(n) => Done(n),
        Err(libc::EAGAIN) => Wait(fd, interest),
        Err(e) => Done(-e),
    }
}

pub(super) fn iovec(buf: *const u8, len: u32) -> libc::iovec {
    libc::iovec { iov_base: buf as *mut libc::c_void, iov_len: len as usize }
}

/// How a multishot op starts: waiting to be attempted (its results are reported by the
/// driver's poll, never by its start); `None` for other ops.
pub(super) fn multishot_start(op: &RawOp) -> Option<Attempt> {
    match *op {
        RawOp::AcceptMulti { fd, .. } | RawOp::RecvMulti { fd, .. } => Some(Wait(fd, READ)),
        // What cannot be polled is refused, as the kernel's multishot read does (`EBADFD`);
        // checked once, here.
        RawOp::ReadMulti { fd, .. } => Some(if is_file(fd) { Done(-UNPOLLABLE) } else { Wait(fd, READ) }),
        _ => None,
    }
}

/// The descriptor of multishot receive `op` if its result `res` (an arrival) filled less
/// than its room (its buffer, or what was left of it in an incremental group), right after
/// the arrival: the socket's queue was emptied, unless the read side closed (the driver
/// decides, see `registry.rs`). `None` for other ops and results.
///
/// # Safety
///
/// `op` is in flight (its group is alive).
pub(super) unsafe fn short_arrival(op: &RawOp, res: i32) -> Option<RawFd> {
    match *op {
        RawOp::RecvMulti { fd, group, flags } if flags & crate::sys::MSG_WAITALL == 0 && res > 0 => {
            let (len, bid) = crate::dynamic::groups::decode(res);
            // SAFETY: the caller's: the group is alive while its op is in flight.
            unsafe { (*group).arrival_was_short(bid?, len) }.then_some(fd)
        }
        _ => None,
    }
}

/// What a multishot read of something that cannot be polled (a regular file) fails with:
/// Linux's `EBADFD`, as io_uring; `EBADF` where the OS has no `EBADFD`.
#[cfg(any(target_os = "linux", target_os = "android"))]
const UNPOLLABLE: i32 = libc::EBADFD;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const UNPOLLABLE: i32 = libc::EBADF;

/// Reads one arrival of a multishot read into a buffer taken from `group` without blocking:
/// [`Attempt::More`] with the byte count and the buffer's id ([`groups::encode`]), which the
/// driver follows with another attempt until one would block. An empty group fails it with
/// `ENOBUFS` when data arrives, as a multishot receive; the end of the file (0 bytes), an
/// error or `EAGAIN` returns the buffer at once.
///
/// [`groups::encode`]: crate::dynamic::groups::encode
///
/// # Safety
///
/// `group` is alive (the op's state holds it) and used by this thread only.
unsafe fn read_multi(fd: RawFd, group: *const crate::dynamic::groups::Group) -> Attempt {
    // SAFETY: the caller's.
    let group = unsafe { &*group };
    let Some(room) = group.take_room() else {
        return if ready(fd, libc::POLLIN) { Done(-libc::ENOBUFS) } else { Wait(fd, READ) };
    };
    let iov = iovec(room.ptr, room.len);
    // SAFETY: the room is out of the group (taken above): `len` bytes that nothing else reads
    // or writes until they are reported or the room is returned.
    match unsafe { rw_nowait(fd, &iov, 1, CURRENT_POS, false) } {
        Done(n) if n > 0 => {
            group.filled(&room, n as u32);
            Attempt::More(crate::dynamic::groups::encode(n as u32, Some(room.bid)))
        }
        other => {
            group.unused(room);
            match other {
                // A file: refused when the op started (`multishot_start`), so not reached.
                Pool => Done(-UNPOLLABLE),
                other => other,
            }
        }
    }
}

/// Attempts `op` without blocking. `progress` is per-op scratch kept across attempts (0 at
/// the first attempt): bytes done by a `MSG_WAITALL` transfer, or 1 once a connect is in
/// progress.
///
/// # Safety
///
/// The op's pointers and `state` are valid and used by nothing else during the call.
#[inline]
pub(super) unsafe fn attempt(op: &RawOp, state: *mut OpState, progress: &mut u32) -> Attempt {
    // Plain sends and receives and multishot receives, most attempts by far, go straight to
    // their syscall: the dispatch over every op below spills registers for its largest arms
    // on each call.
    #[cfg(not(target_os = "wasi"))]
    match *op {
        RawOp::Recv { fd, buf, len, flags } => {
            // SAFETY: the buffer is valid for `len` bytes (caller).
            return unsafe { sock::transfer(fd, buf.cast_const(), len, flags, progress, false) };
        }
        // SAFETY: as above.
        RawOp::Send { fd, buf, len, flags } => return unsafe { sock::transfer(fd, buf, len, flags, progress, true) },
        // SAFETY: the op is in flight, so its group is alive (its state holds it).
        RawOp::RecvMulti { fd, group, flags } => return unsafe { sock::recv_provided(fd, group, flags, true) },
        _ => {}
    }
    // SAFETY: the caller's contract is this function's.
    unsafe { attempt_any(op, state, progress) }
}

/// [`attempt`] of any op (out of line).
///
/// # Safety
///
/// As [`attempt`].
#[inline(never)]
unsafe fn attempt_any(op: &RawOp, state: *mut OpState, progress: &mut u32) -> Attempt {
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
        // WASI preview 1 has no sockets: the socket ops refuse to queue there (`op::net`), so
        // none should get here; one that did fails as unsupported, without a syscall.
        #[cfg(target_os = "wasi")]
        _ if op.facts().socket => Done(-libc::ENOTSUP),
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: the socket ops' addresses, headers and buffers are valid (caller).
        RawOp::Accept { fd, flags } => unsafe { sock::accept(fd, flags, state, progress) },
        #[cfg(not(target_os = "wasi"))]
        RawOp::AcceptMulti { fd, flags } => sock::accept_multi(fd, flags, progress),
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: the op's state holds its group (caller), used by the driver's thread only.
        RawOp::RecvBuf { fd, group, flags } => unsafe { sock::recv_provided(fd, group, flags, false) },
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: as above.
        RawOp::RecvMulti { fd, group, flags } => unsafe { sock::recv_provided(fd, group, flags, true) },
        // SAFETY: as above.
        RawOp::ReadMulti { fd, group } => unsafe { read_multi(fd, group) },
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: as above.
        RawOp::Connect { fd } => unsafe { sock::connect(fd, state, progress) },
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: as above.
        RawOp::Recv { fd, buf, len, flags } => unsafe {
            sock::transfer(fd, buf.cast_const(), len, flags, progress, false)
        },
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: as above.
        RawOp::Send { fd, buf, len, flags } => unsafe { sock::transfer(fd, buf, len, flags, progress, true) },
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: as above.
        RawOp::RecvMsg { fd, flags } => unsafe { sock::message(fd, flags, state, false) },
        #[cfg(not(target_os = "wasi"))]
        // SAFETY: as above.
        RawOp::SendMsg { fd, flags } => unsafe { sock::message(fd, flags, state, true) },
        #[cfg(not(target_os = "wasi"))]
        RawOp::Shutdown { fd, how } => sock::shutdown(fd, how),
        #[cfg(target_os = "linux")]
        RawOp::ChildExit { pid } => child_exit(pid, state),
        #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "dragonfly"))]
        RawOp::ChildExit { pid } => super::child_kqueue::child_exit(pid, state),
        _ => Pool,
    }
}

/// What op `op`, woken by readiness for what it waits for but still blocked (`EAGAIN`),
/// completes with instead of waiting again (`None`: it waits). `progress` is its scratch (see
/// [`attempt`]). Called only then, so the normal path costs no syscall more.
///
/// A receive on a socket whose read side is shut down (`shutdown(SHUT_RD)` or `SHUT_RDWR` on
/// it, even one that failed with `ENOTCONN` on an unconnected UDP socket, which Linux applies
/// all the same): the socket polls readable (`EPOLLIN | EPOLLRDHUP`, and `EPOLLHUP` when both
/// ways are shut) for good, but a datagram socket's `recvmsg` with `MSG_DONTWAIT` says
/// `EAGAIN` while its queue is empty, where the blocking call returns 0 (the kernel's
/// datagram wait gives up without an error on `RCV_SHUTDOWN`). io_uring's receive retries
/// in a blocking worker and completes with 0, so this one does too (with the bytes a
/// `MSG_WAITALL` receive already has, if any). Stream sockets read 0 there on their own.
pub(super) fn woken_in_vain(op: &RawOp, progress: u32) -> Option<i32> {
    // No sockets on WASI.
    #[cfg(target_os = "wasi")]
    let _ = progress;
    match *op {
        #[cfg(not(target_os = "wasi"))]
        RawOp::Recv { fd, .. } | RawOp::RecvMsg { fd, .. } | RawOp::Read { fd, .. } | RawOp::Readv { fd, .. }
            if sock::read_shut_down(fd) =>
        {
            Some(progress.min(i32::MAX as u32) as i32)
        }
        _ => None,
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

#[cfg(test)]
#[cfg(target_os = "wasi")]
mod wasi_tests {
    use super::*;

    /// A raw socket op that reached the driver (the typed ops refuse to queue first) completes
    /// as unsupported, and touches nothing: its descriptor is not even open.
    #[test]
    fn raw_socket_ops_complete_unsupported() {
        let (buf, fd) = (std::ptr::null_mut(), 1234);
        let ops = [
            RawOp::Socket { domain: 1, ty: 6, protocol: 0 },
            RawOp::Accept { fd, flags: 0 },
            RawOp::Connect { fd },
            RawOp::Bind { fd },
            RawOp::Listen { fd, backlog: 1 },
            RawOp::Recv { fd, buf, len: 4, flags: 0 },
            RawOp::Send { fd, buf: buf.cast_const(), len: 4, flags: 0 },
            RawOp::RecvMsg { fd, flags: 0 },
            RawOp::SendMsg { fd, flags: 0 },
            RawOp::Shutdown { fd, how: 3 },
        ];
        for op in ops {
            let mut state = OpState::Empty;
            let mut progress = 0;
            // SAFETY: the op points at nothing the attempt may use (it uses nothing).
            let attempt = unsafe { attempt(&op, &mut state, &mut progress) };
            assert_eq!(attempt, Done(-libc::ENOTSUP), "{}", op.name());
            let err = crate::op::decode(&op, -libc::ENOTSUP, &mut state).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{}: {err:?}", op.name());
        }
    }
}
