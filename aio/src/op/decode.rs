//! From a backend's result code to a [`Value`], by the op's [`Output`] in the op table.

use std::io;
#[cfg(not(windows))]
use std::os::fd::{FromRawFd, OwnedFd};
#[cfg(windows)]
use std::os::windows::io::{FromRawHandle, FromRawSocket, OwnedHandle, OwnedSocket};

#[cfg(not(target_os = "wasi"))]
use socket2::{SockAddr, SockAddrStorage};

use super::RawOp;
use super::table::Output;
use super::target::{ANY_SLOT, Fixed};
#[cfg(not(target_os = "wasi"))]
use crate::raw::Address;
#[cfg(not(windows))]
use crate::raw::RawFd;
use crate::raw::{Events, OpState, Value};
use crate::sys::{EALREADY, ECANCELED, ENOENT, ETIME};

use crate::error::{self, Condition};

/// Converts a raw completion of `op` into a [`Value`].
///
/// Never panics on an errno: anything the kernel reports becomes an `io::Error`. The common
/// cases (failures aside, ops whose value is a byte count, nothing, or a byte count and their
/// registered buffer) are decided inline; ops that build a richer value from their state go
/// through an out-of-line call.
#[inline(always)]
pub(crate) fn decode(op: &RawOp, res: i32, state: &mut OpState) -> io::Result<Value> {
    if res < 0 {
        return decode_error(op, res);
    }
    match op.output() {
        Output::Len => Ok(Value::Len(res as usize)),
        Output::Unit => Ok(Value::Unit),
        // Registered-buffer transfers, the other common case: the buffer handed back.
        Output::LenBuf => Ok(decode_buf(res, state)),
        output => Ok(decode_rich(output, op, res, state)),
    }
}

/// The value of a registered-buffer op: its byte count and its buffer, taken out of its state
/// (only the buffer is taken: `mem::take` of the whole state copied it all, a memcpy per read).
#[inline]
fn decode_buf(res: i32, state: &mut OpState) -> Value {
    match state {
        OpState::Buf(buf) => Value::Buf { len: res as usize, buf: buf.take().expect("a fixed-buffer op's buffer") },
        _ => unreachable!("a fixed-buffer op without its buffer"),
    }
}

/// The successful [`Value`] of an op that builds it from its result and state.
#[inline(never)]
fn decode_rich(output: Output, op: &RawOp, res: i32, state: &mut OpState) -> Value {
    #[cfg(target_os = "wasi")]
    let _ = &state;
    match output {
        Output::File => {
            // SAFETY: on success an opening op returns a new descriptor (a file handle on
            // Windows, where the IOCP driver only reports values that fit in a positive
            // `i32`, see `backend/iocp`) that nothing else owns.
            #[cfg(not(windows))]
            return Value::Fd(unsafe { OwnedFd::from_raw_fd(res as RawFd) });
            // SAFETY: as above.
            #[cfg(windows)]
            return Value::Handle(unsafe {
                OwnedHandle::from_raw_handle(res as usize as std::os::windows::io::RawHandle)
            });
        }
        Output::Socket => new_socket(res),
        Output::Provided => match state {
            OpState::Group(group) => Value::Provided(crate::ProvidedBuf::from_result(group, res)),
            _ => unreachable!("a selecting receive without its group"),
        },
        #[cfg(not(target_os = "wasi"))]
        Output::Accepted => {
            let OpState::Addr { addr, len } = state else { unreachable!("accept without its address") };
            // SAFETY: the backend (kernel accept or its emulation) wrote `len` bytes of a
            // socket address of the storage's family into `addr`.
            let peer = unsafe { SockAddr::new(std::mem::replace(addr, SockAddrStorage::zeroed()), *len) };
            #[cfg(windows)]
            let Value::Socket(socket) = new_socket(res) else { unreachable!("a socket") };
            #[cfg(not(windows))]
            let Value::Fd(socket) = new_socket(res) else { unreachable!("a socket") };
            Value::Accepted(socket, Address::new(peer))
        }
        Output::Events => Value::Events(Events::from_bits(res as u32)),
        #[cfg(unix)]
        Output::Message => {
            let OpState::Msg(msg) = state else { unreachable!("recvmsg without its header") };
            let addr = if msg.hdr.msg_namelen > 0 {
                let storage = std::mem::replace(&mut msg.addr, SockAddrStorage::zeroed());
                // SAFETY: recvmsg wrote `msg_namelen` bytes of address into the storage.
                Some(Address::new(unsafe { SockAddr::new(storage, msg.hdr.msg_namelen) }))
            } else {
                None
            };
            Value::Message {
                len: res as usize,
                addr,
                flags: msg.hdr.msg_flags,
                // `msg_controllen` is `usize` on glibc and `u32` elsewhere.
                #[allow(clippy::unnecessary_cast)]
                control_len: msg.hdr.msg_controllen as usize,
            }
        }
        #[cfg(windows)]
        Output::Message => {
            let OpState::Msg(m) = state else { unreachable!("recvmsg without its message") };
            let addr = if m.msg.namelen > 0 {
                let storage = std::mem::replace(&mut m.addr, SockAddrStorage::zeroed());
                // SAFETY: WSARecvMsg wrote `namelen` bytes of address into the storage.
                Some(Address::new(unsafe { SockAddr::new(storage, m.msg.namelen as socket2::socklen_t) }))
            } else {
                None
            };
            Value::Message {
                len: res as usize,
                addr,
                flags: m.msg.dwFlags as i32,
                control_len: m.msg.Control.len as usize,
            }
        }
        #[cfg(not(target_os = "wasi"))]
        Output::Exit => {
            let OpState::Child(child) = state else { unreachable!("child_exit without state") };
            Value::Exit(crate::raw::exit_status(child))
        }
        Output::Fixed => {
            let chosen = op.direct().map_or(ANY_SLOT, |(_, slot)| slot);
            // A chosen slot: io_uring reports 0, the emulations the slot; any slot: its index.
            Value::Fixed(Fixed(if chosen == ANY_SLOT { res as u32 } else { chosen }))
        }
        _ => unreachable!("decode_rich of {}", op.name()),
    }
}

/// A new socket that an op returned, owned from here on.
fn new_socket(res: i32) -> Value {
    // SAFETY: on success a socket-creating op (socket, accept) returns a new socket that
    // nothing else owns.
    #[cfg(not(windows))]
    return Value::Fd(unsafe { OwnedFd::from_raw_fd(res as RawFd) });
    // SAFETY: as above; the IOCP driver reports sockets as positive `i32`s.
    #[cfg(windows)]
    return Value::Socket(unsafe { OwnedSocket::from_raw_socket(res as u64) });
}

#[cold]
fn decode_error(op: &RawOp, res: i32) -> io::Result<Value> {
    if let RawOp::LinkTimeout { .. } = op {
        // A link timeout that fires reports ETIME; one whose guarded op finished first is
        // disarmed (ECANCELED, or ENOENT/EALREADY on races) and is not a failure.
        return match -res {
            ECANCELED | ENOENT | EALREADY => Ok(Value::Unit),
            ETIME => Err(Condition::Expired.into()),
            e => Err(io::Error::from_raw_os_error(e)),
        };
    }
    if -res == op.facts().success_errno {
        return Ok(Value::Unit);
    }
    Err(error::check(res).expect_err("negative results are errors"))
}
