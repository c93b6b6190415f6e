//! The socket syscalls of the posix driver: non-blocking attempts of accept, connect, send
//! and receive (plain and `msg`) and shutdown, and the blocking socket, bind and listen that
//! a worker runs. Not compiled on WASI (wasm32-wasip1 has no sockets).
//!
//! The safety contract is that of [`ops`](super::ops): the op's pointers and state are valid
//! and used by nothing else during a call.

use std::os::fd::RawFd;

use super::syscall::{Attempt, READ, WRITE, errno, ready, recv, result};
use crate::dynamic::groups::{self, Group};
use crate::raw::{MSG_NOSIGNAL, OpState};
use Attempt::{Done, Wait};

/// Accepts a connection without blocking; the peer's address lands in the op's state.
///
/// # Safety
///
/// As [`attempt`](super::ops::attempt).
pub(super) unsafe fn accept(fd: RawFd, flags: i32, state: &mut OpState, progress: &mut u32) -> Attempt {
    let OpState::Addr { addr, len } = state else { return Done(-libc::EINVAL) };
    // The listener may be blocking: accept only once poll says a connection waits, or if the
    // socket does not listen at all (accept then fails at once, as io_uring's).
    if !ready(fd, libc::POLLIN) && (*progress == 1 || listening(fd)) {
        *progress = 1;
        return Wait(fd, READ);
    }
    *len = std::mem::size_of_val(addr) as libc::socklen_t;
    loop {
        // SAFETY: accept writes at most `*len` bytes of address into the state.
        let r = unsafe { accept4(fd, (&raw mut *addr).cast(), len, flags) };
        if r >= 0 {
            return Done(r);
        }
        match errno() {
            libc::EINTR => {}
            libc::EAGAIN => return Wait(fd, READ),
            e => return Done(-e),
        }
    }
}

/// Accepts one connection of a multishot accept without blocking: [`Attempt::More`] with
/// the new socket (the driver attempts again, until `EAGAIN`: every pending connection per
/// readiness), a wait, or the error that ends the op. The first attempt waits for readiness
/// (as [`accept`] on a blocking listener); a listener that does not listen fails at once.
pub(super) fn accept_multi(fd: RawFd, flags: i32, progress: &mut u32) -> Attempt {
    // `progress`: 0 before the first attempt, then 1 for a blocking listener (poll before
    // each accept, so that it never blocks the loop), 2 for a non-blocking one.
    if *progress == 0 {
        // SAFETY: plain fcntl on a descriptor number.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        *progress = if fl >= 0 && fl & libc::O_NONBLOCK != 0 { 2 } else { 1 };
        if *progress == 1 && !ready(fd, libc::POLLIN) && listening(fd) {
            return Wait(fd, READ);
        }
    } else if *progress == 1 && !ready(fd, libc::POLLIN) {
        return Wait(fd, READ);
    }
    loop {
        // SAFETY: no address is asked for.
        let r = unsafe { accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), flags) };
        if r >= 0 {
            return Attempt::More(r);
        }
        match errno() {
            libc::EINTR => {}
            libc::EAGAIN => return Wait(fd, READ),
            // The connection went before it was taken: wait for the next one.
            libc::ECONNABORTED => {}
            e => return Done(-e),
        }
    }
}

/// Connects without blocking to the address in the op's state (see [`connect_to`]).
///
/// # Safety
///
/// As [`attempt`](super::ops::attempt).
pub(super) unsafe fn connect(fd: RawFd, state: &mut OpState, progress: &mut u32) -> Attempt {
    let OpState::Addr { addr, len } = state else { return Done(-libc::EINVAL) };
    // SAFETY: the address is valid for `len` bytes.
    unsafe { connect_to(fd, (&raw const *addr).cast(), *len, progress) }
}

/// `recvmsg`/`sendmsg` of the header in the op's state, without blocking.
///
/// # Safety
///
/// As [`attempt`](super::ops::attempt).
pub(super) unsafe fn message(fd: RawFd, flags: i32, state: &mut OpState, send: bool) -> Attempt {
    let OpState::Msg(msg) = state else { return Done(-libc::EINVAL) };
    loop {
        // SAFETY: the header and what it points at are valid (caller).
        let r = unsafe {
            if send {
                libc::sendmsg(fd, &msg.hdr, flags | libc::MSG_DONTWAIT | MSG_NOSIGNAL)
            } else {
                libc::recvmsg(fd, &mut msg.hdr, flags | libc::MSG_DONTWAIT)
            }
        };
        if r >= 0 {
            return Done(result(r));
        }
        match errno() {
            libc::EINTR => {}
            libc::EAGAIN => return Wait(fd, if send { WRITE } else { READ }),
            e => return Done(-e),
        }
    }
}

/// `shutdown(2)`, which never blocks.
pub(super) fn shutdown(fd: RawFd, how: i32) -> Attempt {
    // SAFETY: plain syscall on a descriptor number.
    Done(result(unsafe { libc::shutdown(fd, how) } as isize))
}

/// Whether the read side of socket `fd` is shut down (by either end), so that a blocking
/// receive would return 0 once its queue is empty: Linux's `POLLRDHUP`.
///
/// Elsewhere always `false`: on macOS and the BSDs a receive on a socket that cannot receive
/// more (`SBS_CANTRCVMORE`, which kqueue reports as `EV_EOF`) returns 0 without blocking even
/// with `MSG_DONTWAIT`, so the attempt itself completes (expected from their `soreceive`;
/// untested there).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn read_shut_down(fd: RawFd) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLRDHUP, revents: 0 };
    // SAFETY: polls one live `pollfd` without waiting.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0 && p.revents & libc::POLLRDHUP != 0
}

/// See the Linux `read_shut_down`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn read_shut_down(_fd: RawFd) -> bool {
    false
}

/// `socket(2)`, run by a worker (no readiness to wait for).
pub(super) fn socket(domain: i32, ty: i32, protocol: i32) -> i32 {
    // SAFETY: a plain syscall.
    let fd = unsafe { libc::socket(domain, ty, protocol) };
    if fd >= 0 {
        new_socket(fd);
    }
    result(fd as isize)
}

/// `bind(2)` to the address in the op's state, run by a worker.
pub(super) fn bind(fd: RawFd, state: &OpState) -> i32 {
    let OpState::Addr { addr, len } = state else { return -libc::EINVAL };
    // SAFETY: the address is valid for `len` bytes (the op prepared it).
    result(unsafe { libc::bind(fd, (&raw const *addr).cast(), *len) } as isize)
}

/// `listen(2)`, run by a worker.
pub(super) fn listen(fd: RawFd, backlog: i32) -> i32 {
    // SAFETY: a plain syscall on a descriptor number.
    result(unsafe { libc::listen(fd, backlog) } as isize)
}

/// Whether `fd` is a listening socket (or its state cannot be told: then assume it is).
fn listening(fd: RawFd) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes an int into a live int.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, (&raw mut on).cast(), &mut len) };
    r < 0 && errno() != libc::ENOTSOCK || on != 0
}

/// A non-blocking connect, then waiting for writability and reading `SO_ERROR`.
///
/// # Safety
///
/// `addr` is valid for `len` bytes.
unsafe fn connect_to(fd: RawFd, addr: *const libc::sockaddr, len: libc::socklen_t, progress: &mut u32) -> Attempt {
    if *progress == 1 {
        if !ready(fd, libc::POLLOUT) {
            return Wait(fd, WRITE);
        }
        let mut err: libc::c_int = 0;
        let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes an int into a live int.
        let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, (&raw mut err).cast(), &mut l) };
        return Done(if r < 0 { -errno() } else { -err });
    }
    // SAFETY: plain fcntl calls on a descriptor number.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Done(-errno());
    }
    let toggle = flags & libc::O_NONBLOCK == 0;
    if toggle {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    }
    // SAFETY: the caller guarantees the address.
    let r = unsafe { libc::connect(fd, addr, len) };
    let e = if r < 0 { errno() } else { 0 };
    if toggle {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    }
    match e {
        0 => Done(0),
        libc::EINPROGRESS | libc::EINTR => {
            *progress = 1;
            Wait(fd, WRITE)
        }
        libc::EAGAIN => Wait(fd, WRITE),
        e => Done(-e),
    }
}

/// `recv`/`send` with `MSG_DONTWAIT` (and `MSG_NOSIGNAL` on sends). With `MSG_WAITALL` the
/// transfer goes on across attempts until complete (or end of stream, or an error).
///
/// # Safety
///
/// `buf` is valid for `len` bytes.
pub(super) unsafe fn transfer(
    fd: RawFd,
    buf: *const u8,
    len: u32,
    flags: i32,
    progress: &mut u32,
    send: bool,
) -> Attempt {
    let all = flags & libc::MSG_WAITALL != 0;
    let flags = (flags & !libc::MSG_WAITALL) | libc::MSG_DONTWAIT;
    loop {
        let done = *progress as usize;
        // SAFETY: the rest of the buffer is valid (caller).
        let r = unsafe {
            let rest = buf.add(done);
            if send {
                super::syscall::send(fd, rest, len as usize - done, flags | MSG_NOSIGNAL)
            } else {
                recv(fd, rest.cast_mut(), len as usize - done, flags)
            }
        };
        if r > 0 && all && done + (r as usize) < len as usize {
            *progress += r as u32;
            continue;
        }
        if r >= 0 {
            return Done((done + r as usize).min(i32::MAX as usize) as i32);
        }
        match errno() {
            libc::EINTR => {}
            libc::EAGAIN => return Wait(fd, if send { WRITE } else { READ }),
            _ if done > 0 => return Done(done as i32),
            e => return Done(-e),
        }
    }
}

/// Receives into a buffer taken from `group` without blocking (a [`RecvBuf`] or, with
/// `multi`, one arrival of a [`RecvMulti`]): the result carries the buffer's id
/// ([`groups::encode`]); in an incremental group the room is what is left of the buffer being
/// filled. An empty group fails a single receive with `ENOBUFS` at once, and a
/// multishot one when data arrives, as io_uring does; an error, `EAGAIN` or the end of the stream returns the
/// buffer at once. A multishot receive goes on ([`Attempt::More`]) after data, and ends at
/// the end of the stream or on an error.
///
/// [`RecvBuf`]: crate::op::RecvBuf
/// [`RecvMulti`]: crate::op::RecvMulti
///
/// # Safety
///
/// `group` is alive (the op's state holds it) and used by this thread only.
pub(super) unsafe fn recv_provided(fd: RawFd, group: *const Group, flags: i32, multi: bool) -> Attempt {
    // SAFETY: the caller's.
    let group = unsafe { &*group };
    if group.takes_bundles() {
        return recv_bundle(fd, group, flags, multi);
    }
    let Some(room) = group.take_room() else {
        // As io_uring: a single receive fails at once; a multishot one when data arrives.
        return if !multi || ready(fd, libc::POLLIN) { Done(-libc::ENOBUFS) } else { Wait(fd, READ) };
    };
    loop {
        // SAFETY: the room is out of the group (taken above): `len` bytes that nothing else
        // reads or writes until they are reported or the room is returned.
        let r = unsafe { recv(fd, room.ptr.cast(), room.len as usize, flags | libc::MSG_DONTWAIT) };
        if r > 0 {
            group.filled(&room, r as u32);
            let res = groups::encode(r as u32, Some(room.bid));
            return if multi { Attempt::More(res) } else { Done(res) };
        }
        let e = if r == 0 { 0 } else { errno() };
        if e == libc::EINTR {
            continue;
        }
        group.unused(room);
        return match e {
            0 => Done(0),
            libc::EAGAIN => Wait(fd, READ),
            e => Done(-e),
        };
    }
}

/// `accept4` where the OS has it; on Apple systems `accept`, then the new socket is made
/// close-on-exec and SIGPIPE-free (see [`new_socket`]).
///
/// # Safety
///
/// `addr` is valid for `*len` bytes.
#[cfg(not(target_vendor = "apple"))]
unsafe fn accept4(fd: RawFd, addr: *mut libc::sockaddr, len: *mut libc::socklen_t, flags: i32) -> RawFd {
    // SAFETY: forwarded from the caller.
    unsafe { libc::accept4(fd, addr, len, flags) }
}

/// See the other `accept4`.
///
/// # Safety
///
/// `addr` is valid for `*len` bytes.
#[cfg(target_vendor = "apple")]
unsafe fn accept4(fd: RawFd, addr: *mut libc::sockaddr, len: *mut libc::socklen_t, _flags: i32) -> RawFd {
    // SAFETY: forwarded from the caller.
    let r = unsafe { libc::accept(fd, addr, len) };
    if r >= 0 {
        new_socket(r);
    }
    r
}

/// Apple systems have neither `SOCK_CLOEXEC` nor `MSG_NOSIGNAL`: a new socket gets
/// `FD_CLOEXEC` and `SO_NOSIGPIPE`. Nothing to do elsewhere (the flags are passed).
/// The most buffers one receive of a bundle group fills here.
const MAX_BUNDLE: usize = 16;

/// [`recv_provided`] into a bundle group: up to [`MAX_BUNDLE`] free buffers, in ring order,
/// filled in order by one `recvmsg`; those left unfilled stay next in line.
fn recv_bundle(fd: RawFd, group: &Group, flags: i32, multi: bool) -> Attempt {
    let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_BUNDLE];
    let mut first = None;
    let mut taken = 0;
    while taken < MAX_BUNDLE {
        let Some(room) = group.take_room() else { break };
        first.get_or_insert(room.bid);
        iov[taken] = libc::iovec { iov_base: room.ptr.cast(), iov_len: room.len as usize };
        taken += 1;
    }
    let Some(first) = first else {
        // As io_uring: a single receive fails at once; a multishot one when data arrives.
        return if !multi || ready(fd, libc::POLLIN) { Done(-libc::ENOBUFS) } else { Wait(fd, READ) };
    };
    // SAFETY: zeroed is a valid `msghdr`; the fields set point at the live array above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = taken as _;
    loop {
        // SAFETY: the rooms are out of the group (taken above): whole buffers that nothing
        // else reads or writes until they are reported or returned.
        let r = unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_DONTWAIT) };
        if r > 0 {
            let size = iov[0].iov_len;
            let used = (r as usize).div_ceil(size).min(taken);
            group.untake((taken - used) as u32);
            let res = groups::encode(r as u32, Some(first));
            return if multi { Attempt::More(res) } else { Done(res) };
        }
        let e = if r == 0 { 0 } else { errno() };
        if e == libc::EINTR {
            continue;
        }
        group.untake(taken as u32);
        return match e {
            0 => Done(0),
            libc::EAGAIN => Wait(fd, READ),
            e => Done(-e),
        };
    }
}

fn new_socket(fd: RawFd) {
    #[cfg(target_vendor = "apple")]
    {
        let one: libc::c_int = 1;
        // SAFETY: fcntl and setsockopt on a descriptor we just created; setsockopt reads a
        // live int.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_NOSIGPIPE,
                (&raw const one).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_vendor = "apple"))]
    let _ = fd;
}
