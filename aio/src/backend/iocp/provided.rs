//! Receives into provided buffers on IOCP ([`RawOp::RecvBuf`], [`RawOp::RecvMulti`], and
//! [`RawOp::ReadMulti`] of a socket: see [`read_multi`](super::read_multi)).
//!
//! A posted `WSARecv` owns its buffer until its packet, however long the peer stays silent.
//! Taking a buffer of the group when the receive starts would make every idle receive hold
//! one, and a multishot receive re-armed while the caller holds the others would fail
//! `WSAENOBUFS` before any data came (what the first version of this file did under wine). So
//! the driver waits first, with a zero-byte `WSARecv` (no buffer: it completes when data, the
//! end of the stream or an error is there, and consumes nothing), and only when that packet is
//! dequeued takes a buffer and receives into it with a plain `recv` that does not wait:
//!
//! * `ioctlsocket(FIONREAD)` counts the bytes waiting, and `recv` runs only for bytes known
//!   to be there, so it returns at once on a blocking socket too (the driver can neither make
//!   a caller's socket non-blocking nor ask whether it is). With none waiting, a `WSAPoll`
//!   without a timeout tells the end of the stream or an error (readable: `recv` returns at
//!   once, 0 or the error) from a wake-up whose data was gone (the zero-byte receive is posted
//!   again).
//! * A `RecvBuf` receives once. A `RecvMulti` receives while counted bytes are left and the
//!   group has buffers, each arrival a report with more to come, then posts its zero-byte
//!   receive again in the same `Io` (its packet was dequeued).
//! * An empty group: `WSAENOBUFS`, for a `RecvBuf` at once when it starts (as io_uring), for a
//!   `RecvMulti` when data arrives, which ends it (as posix). A buffer goes back to the group
//!   on an error, `WSAEWOULDBLOCK` or the end of the stream.
//! * Cancel: `CancelIoEx` of the zero-byte receive, the only IO in flight. Its packet ends the
//!   op canceled, also when data won the race (nothing was consumed: the data stays for the
//!   next receive). A multishot receive whose packet is already queued when canceled is ended
//!   by that packet too (`Iocp::cancel`), never re-armed.
//!
//! * A datagram socket: a zero-byte receive would take the first datagram and drop it (it does
//!   not fit: `WSAEMSGSIZE`), so there the wait peeks (`MSG_PEEK`, as libuv's zero-byte UDP
//!   reads do) and its `WSAEMSGSIZE` means "a datagram is waiting". `FIONREAD` counts every
//!   queued datagram's bytes, and each `recv` takes one datagram, so the count is asked again
//!   after each. A datagram longer than the buffer arrives cut to the buffer's length (the
//!   rest is dropped, as a `recv` on Linux does); an empty datagram is dropped (a 0-byte
//!   report would read as the end of the stream).
//!
//! Known deviation: another thread reading the same socket between the count and the `recv`
//! (concurrent reads of one stream, which interleave its bytes anyway) can make that `recv`
//! wait, on a blocking socket, for the next bytes, blocking the driver's thread meanwhile.

use windows_sys::Win32::Networking::WinSock as ws;

use super::{At, Iocp, Started, poll};
use crate::backend::emu::MORE;
use crate::dynamic::groups::{self, Group};
use crate::op::RawOp;
use crate::sys::{self, IoVec, RawSource};

impl Iocp {
    /// Starts op `s`, a receive from `fd` into a buffer of `group`: waits for data first.
    pub(super) fn recv_provided(&mut self, s: u32, fd: RawSource, group: *const Group, multi: bool) -> Started {
        // SAFETY: the op's state holds the group alive until its final report; only this
        // thread uses it.
        let group = unsafe { &*group };
        if !multi {
            // A single receive with an empty group fails at once, as on io_uring.
            if !group.has_room() {
                return Started::Done(-ws::WSAENOBUFS);
            }
        }
        let datagram = match socket_type(fd) {
            Ok(ty) => ty != ws::SOCK_STREAM,
            Err(e) => return Started::Done(-e),
        };
        // SAFETY: the slot's op is starting: no IO uses its `Io`.
        unsafe { (*self.io(s)).datagram = datagram };
        self.wait_for_data(s, fd)
    }

    /// Posts op `s`'s zero-byte `WSARecv` on `fd` (peeking on a datagram socket).
    fn wait_for_data(&mut self, s: u32, fd: RawSource) -> Started {
        let io = self.io(s);
        // SAFETY: the slot's op is starting, or its last packet was dequeued: no IO uses its
        // `Io`. The buffer has no length, so nothing is written; it points at real memory all
        // the same (the slot's accept addresses, unused by a receive, valid until the packet).
        let flags = unsafe {
            (*io).wsabuf = IoVec { len: 0, buf: (&raw mut (*io).addrs).cast() };
            if (*io).datagram { ws::MSG_PEEK } else { 0 }
        };
        // SAFETY: as above; the `WSABUF` stays put until the packet.
        let started = self.wsa(s, fd, unsafe { &raw const (*io).wsabuf }, 1, flags, true);
        if flags == ws::MSG_PEEK && matches!(started, Started::Done(e) if e == -ws::WSAEMSGSIZE) {
            // A datagram is waiting already. The peek "failed" at once, but its status is a
            // warning (`STATUS_BUFFER_OVERFLOW`): the IO completed, and its packet is queued
            // like a success's (seen under wine: ending the op here left a packet to come for
            // its slot). `recv_provided_done` takes it as a finished wait.
            return Started::Pending(At::Io, fd);
        }
        started
    }

    /// The zero-byte receive of op `s` came with `res`: the op's final result, or `None` if it
    /// goes on (a receive whose data was gone, or a multishot one that pushed its arrivals to
    /// `done` with more to come, waits again). Other ops' results pass through.
    pub(super) fn recv_provided_done(&mut self, s: u32, res: i32, done: &mut Vec<(u32, i32)>) -> Option<i32> {
        let t = self.track[s as usize];
        let (fd, group, flags) = match t.op {
            RawOp::RecvBuf { fd, group, flags } | RawOp::RecvMulti { fd, group, flags } => (fd, group, flags),
            // A multishot read of a socket is a multishot receive (`read_multi`).
            RawOp::ReadMulti { fd, group } if t.socket => (fd, group, 0),
            RawOp::ReadMulti { .. } => return self.pipe_read_done(s, res, done),
            _ => return Some(res),
        };
        // SAFETY: the op's packet was dequeued: no IO uses its `Io`.
        let datagram = unsafe { (*self.io(s)).datagram };
        if res < 0 && !(datagram && res == -ws::WSAEMSGSIZE) {
            return Some(res); // no buffer was taken
        }
        if t.at == At::Canceling {
            // Data won the race with the cancel, and nothing was consumed.
            return Some(-sys::ECANCELED);
        }
        let multi = !matches!(t.op, RawOp::RecvBuf { .. });
        // SAFETY: as in `recv_provided`.
        let group = unsafe { &*group };
        if let Some(res) = receive_waiting(s, fd, group, flags, multi, datagram, done) {
            return Some(res);
        }
        match self.wait_for_data(s, fd) {
            Started::Pending(at, handle) => {
                let t = &mut self.track[s as usize];
                t.at = at;
                t.handle = handle;
                None
            }
            Started::Done(err) => Some(err),
        }
    }
}

/// Receives what waits on `fd` into buffers of `group` without waiting (see the module docs):
/// `Some(res)` ends op `s` with `res`; `None`: nothing is left, wait again. A multishot
/// receive pushes each arrival to `done` with more to come; a single one ends with its first.
#[allow(clippy::too_many_arguments)] // the op's fields, spelled out
fn receive_waiting(
    s: u32,
    fd: RawSource,
    group: &Group,
    flags: i32,
    multi: bool,
    datagram: bool,
    done: &mut Vec<(u32, i32)>,
) -> Option<i32> {
    let mut waiting = match bytes_waiting(fd) {
        Ok(n) => n,
        Err(e) => return Some(-e),
    };
    if waiting == 0 {
        match poll::now(fd, sys::POLLIN) {
            None => return None, // the data is gone (someone else received it)
            Some(err) if err < 0 => return Some(err),
            Some(_) => {} // the end of the stream or an error: `recv` returns at once
        }
    }
    loop {
        let Some(room) = group.take_room() else { return Some(-ws::WSAENOBUFS) };
        // SAFETY: the room is out of the group (taken above): `len` bytes that nothing else
        // reads or writes until they are reported or the room is returned. Bytes are waiting
        // (or the socket is readable), so the call does not wait; `MSG_WAITALL` would make it.
        let mut n = unsafe { ws::recv(fd, room.ptr, room.len as i32, flags & !ws::MSG_WAITALL) };
        // SAFETY: plain call.
        let e = if n < 0 { unsafe { ws::WSAGetLastError() } } else { 0 };
        if datagram && e == ws::WSAEMSGSIZE {
            n = room.len as i32; // a datagram cut to the buffer, as on Linux
        }
        if datagram && n == 0 && e == 0 {
            // An empty datagram: nothing to hand out (a 0-byte report would read as the end
            // of the stream); dropped, and the room goes back.
            group.unused(room);
            match bytes_waiting(fd) {
                Ok(0) => return None,
                Ok(left) => waiting = left,
                Err(e) => return Some(-e),
            }
            continue;
        }
        if n > 0 {
            group.filled(&room, n as u32);
            let res = groups::encode(n as u32, Some(room.bid));
            if !multi {
                return Some(res);
            }
            done.push((s | MORE, res));
            waiting = if datagram {
                match bytes_waiting(fd) {
                    Ok(n) => n,
                    Err(e) => return Some(-e),
                }
            } else {
                waiting.saturating_sub(n as u32)
            };
            if waiting == 0 {
                return None;
            }
            continue;
        }
        group.unused(room);
        if n == 0 {
            return Some(0); // the end of the stream
        }
        return if e == ws::WSAEWOULDBLOCK { None } else { Some(-e) };
    }
}

/// The bytes waiting to be received on `sock` (`FIONREAD`), or the Winsock error.
fn bytes_waiting(sock: RawSource) -> Result<u32, i32> {
    let mut n = 0;
    // SAFETY: the call writes one `u32`, a live local.
    if unsafe { ws::ioctlsocket(sock, ws::FIONREAD, &mut n) } == 0 {
        Ok(n)
    } else {
        // SAFETY: plain call.
        Err(unsafe { ws::WSAGetLastError() })
    }
}

/// `SO_TYPE` of `sock` (`SOCK_STREAM`, `SOCK_DGRAM`, …), or the Winsock error.
pub(super) fn socket_type(sock: RawSource) -> Result<i32, i32> {
    let mut ty: i32 = 0;
    let mut len = size_of::<i32>() as i32;
    // SAFETY: the call writes at most `len` bytes into `ty`, a live local, and their count
    // into `len`.
    let r = unsafe { ws::getsockopt(sock, ws::SOL_SOCKET, ws::SO_TYPE, (&raw mut ty).cast(), &mut len) };
    // SAFETY: plain call.
    if r == 0 { Ok(ty) } else { Err(unsafe { ws::WSAGetLastError() }) }
}
