//! A stream's send made at once, without an op: a nonblocking `sendmsg` of the caller's
//! slices, on the posix backend only (see [`Reactor::sends_at_once`](super::Reactor::sends_at_once)),
//! where the engine's own first attempt would be that same call, made later, after the op's
//! bookkeeping (and, for the async writes, a copy). Used by the async writes (`stream.rs`) and
//! the sync writes of a task (`net/socket.rs`); both fall back to their op when the socket's
//! buffer is full.
//!
//! Only where the platform has both `MSG_DONTWAIT` and `MSG_NOSIGNAL` (a broken pipe must
//! fail with `EPIPE`, not raise `SIGPIPE`): Linux, Android and the BSDs but not Apple's.

use std::io;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd};

/// Sends what fits of `data` at once if the running task's scheduler is on the posix backend;
/// `None` outside a task, on another backend, or if it must go through an op (the socket's
/// buffer is full), and for a canceled task or one past its `timeout`'s deadline (the op
/// path fails those calls as it did, without sending). For a task's sync write: it is not
/// ordered with sends of the stream's async side in flight (see `net`'s docs).
pub(crate) fn send_in_task<B: Deref<Target = [u8]>>(fd: &impl AsFd, data: &[B]) -> Option<io::Result<usize>> {
    let task = crate::task::current()?;
    if task.canceled.get() || task.deadline.get().is_some_and(|d| d <= std::time::Instant::now()) {
        return None;
    }
    let sched = task.sched.upgrade()?;
    if !sched.reactor.sends_at_once(&sched) {
        return None;
    }
    send_now(fd, data)
}

/// A nonblocking `sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL)` of `data`'s first non-empty slices
/// (up to 8: a vectored write of hyper's has two or three): `None` if it would block (or was
/// interrupted), else what std's `write` would return.
pub(crate) fn send_now<B: Deref<Target = [u8]>>(fd: &impl AsFd, data: &[B]) -> Option<io::Result<usize>> {
    let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; 8];
    let mut count = 0;
    for d in data.iter().filter(|d| !d.is_empty()).take(iov.len()) {
        iov[count] = libc::iovec { iov_base: d.as_ptr() as *mut libc::c_void, iov_len: d.len() };
        count += 1;
    }
    // SAFETY: an all-zero `msghdr` is valid (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = count as _;
    // SAFETY: `msg` points at `count` iovecs of `data`'s slices, which are borrowed for
    // the call and only read (sendmsg does not write through `iov_base`); the descriptor
    // is the caller's own, open for the call.
    let sent = unsafe { libc::sendmsg(fd.as_fd().as_raw_fd(), &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if sent >= 0 {
        return Some(Ok(sent as usize));
    }
    match io::Error::last_os_error() {
        e if e.kind() == io::ErrorKind::WouldBlock => None,
        e if e.kind() == io::ErrorKind::Interrupted => None,
        e => Some(Err(e)),
    }
}
