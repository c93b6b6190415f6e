//! The message ops, [`RecvMsg`] and [`SendMsg`] (`recvmsg(2)`/`sendmsg(2)`: scattered and
//! gathered buffers, an address, ancillary data), and what a receive reports
//! ([`RecvMsgOutput`]).

use std::io::{self, IoSlice, IoSliceMut};

#[cfg(not(target_os = "wasi"))]
use socket2::{SockAddr, SockAddrStorage};

#[cfg(target_os = "wasi")]
use crate::sys::wasi_net::SockAddr;

use super::super::RawOp;
#[cfg(windows)]
use super::super::len32;
use super::super::mismatch;
use super::super::sealed::Prepare;
use super::super::table::Facts;
#[cfg(target_os = "wasi")]
use super::unsupported;
use crate::Value;
use crate::op::target::{AsTarget, Target, target};
#[cfg(not(target_os = "wasi"))]
use crate::raw::MsgState;
use crate::raw::OpState;

/// What [`RecvMsg`] received.
#[derive(Debug)]
#[non_exhaustive]
pub struct RecvMsgOutput {
    /// Bytes of data received.
    pub len: usize,
    /// The sender's address (for unconnected sockets).
    pub addr: Option<SockAddr>,
    /// `MSG_*` flags of the message (`MSG_TRUNC`, `MSG_CTRUNC`, …).
    pub flags: i32,
    /// Bytes of ancillary data written into the control buffer.
    pub control_len: usize,
}

/// Receives a message (`recvmsg(2)`): data into several buffers, the sender's address and
/// optional ancillary data.
///
/// On Windows it is `WSARecvMsg`, which works on datagram and raw sockets only (a stream
/// socket fails with `WSAEOPNOTSUPP`), and `flags` are `MSG_*` flags as Winsock has them.
#[derive(Debug)]
// On WASI the op is refused before its parts are read.
#[cfg_attr(target_os = "wasi", allow(dead_code))]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct RecvMsg<'a> {
    fd: Target<'a>,
    bufs: &'a mut [IoSliceMut<'a>],
    control: Option<&'a mut [u8]>,
    flags: i32,
}

impl<'a> RecvMsg<'a> {
    /// Receives on `socket` into `bufs`.
    pub fn new(socket: &'a impl AsTarget, bufs: &'a mut [IoSliceMut<'a>]) -> Self {
        RecvMsg { fd: target(socket), bufs, control: None, flags: 0 }
    }
    /// Receives ancillary data into `control`.
    pub fn control(mut self, control: &'a mut [u8]) -> Self {
        self.control = Some(control);
        self
    }
    /// Or-s in raw `MSG_*` flags.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

impl Prepare for RecvMsg<'_> {
    const NAME: &'static str = Facts::RecvMsg.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[cfg(windows)]
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        use windows_sys::Win32::Networking::WinSock::{WSABUF, WSAMSG};
        // SAFETY: `WSAMSG` is plain old data; all-zero is a valid empty message.
        let mut msg: WSAMSG = unsafe { std::mem::zeroed() };
        // `IoSliceMut` is ABI-compatible with `WSABUF` on Windows (documented by std).
        msg.lpBuffers = self.bufs.as_mut_ptr().cast();
        msg.dwBufferCount = len32(self.bufs.len())?;
        if let Some(control) = self.control {
            msg.Control = WSABUF { len: len32(control.len())?, buf: control.as_mut_ptr() };
        }
        msg.namelen = size_of::<SockAddrStorage>() as i32;
        msg.dwFlags = self.flags as u32;
        state.fill(OpState::Msg(MsgState { msg, addr: SockAddrStorage::zeroed() }));
        let OpState::Msg(m) = state else { unreachable!() };
        // The message points at the address storage beside it, in the op's slot, which stays
        // put until the op completes.
        m.msg.name = (&raw mut m.addr).cast();
        Ok(RawOp::RecvMsg { fd: self.fd.raw(), flags: self.flags })
    }
    #[cfg(unix)]
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        // SAFETY: `msghdr` is plain old data; all-zero is a valid empty header.
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = self.bufs.as_mut_ptr().cast();
        hdr.msg_iovlen = self.bufs.len() as _;
        if let Some(control) = self.control {
            hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_controllen = control.len() as _;
        }
        hdr.msg_namelen = size_of::<SockAddrStorage>() as _;
        state.fill(OpState::Msg(MsgState { hdr, addr: SockAddrStorage::zeroed() }));
        let OpState::Msg(msg) = state else { unreachable!() };
        // The header points at the address storage beside it, in the op's slot, which stays
        // put until the op completes.
        msg.hdr.msg_name = (&raw mut msg.addr).cast();
        Ok(RawOp::RecvMsg { fd: self.fd.raw(), flags: self.flags })
    }
    /// WASI has no `msghdr` to build (and no sockets).
    #[cfg(target_os = "wasi")]
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Err(unsupported())
    }
}

impl crate::op::Op for RecvMsg<'_> {
    type Output = RecvMsgOutput;
    fn output(value: Value) -> io::Result<RecvMsgOutput> {
        match value {
            #[cfg(not(target_os = "wasi"))]
            Value::Message { len, addr, flags, control_len } => {
                Ok(RecvMsgOutput { len, addr: addr.map(SockAddr::from), flags, control_len })
            }
            _ => Err(mismatch()),
        }
    }
}

/// Sends a message (`sendmsg(2)`): data from several buffers, optionally to an address and
/// with ancillary data; returns the bytes sent.
///
/// On Windows it is `WSASendMsg`.
#[derive(Debug)]
// On WASI the op is refused before its parts are read.
#[cfg_attr(target_os = "wasi", allow(dead_code))]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct SendMsg<'a> {
    fd: Target<'a>,
    bufs: &'a [IoSlice<'a>],
    to: Option<SockAddr>,
    control: Option<&'a [u8]>,
    flags: i32,
}

impl<'a> SendMsg<'a> {
    /// Sends `bufs` on `socket`.
    pub fn new(socket: &'a impl AsTarget, bufs: &'a [IoSlice<'a>]) -> Self {
        SendMsg { fd: target(socket), bufs, to: None, control: None, flags: crate::raw::MSG_NOSIGNAL }
    }
    /// Sends to `addr` (for unconnected sockets).
    pub fn to(mut self, addr: impl Into<SockAddr>) -> Self {
        self.to = Some(addr.into());
        self
    }
    /// Sends ancillary data.
    pub fn control(mut self, control: &'a [u8]) -> Self {
        self.control = Some(control);
        self
    }
    /// Or-s in raw `MSG_*` flags.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

impl Prepare for SendMsg<'_> {
    const NAME: &'static str = Facts::SendMsg.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[cfg(windows)]
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        use windows_sys::Win32::Networking::WinSock::{WSABUF, WSAMSG};
        // SAFETY: `WSAMSG` is plain old data; all-zero is a valid empty message.
        let mut msg: WSAMSG = unsafe { std::mem::zeroed() };
        // `IoSlice` is ABI-compatible with `WSABUF` on Windows; Winsock only reads through
        // these pointers for a send.
        msg.lpBuffers = self.bufs.as_ptr().cast_mut().cast();
        msg.dwBufferCount = len32(self.bufs.len())?;
        if let Some(control) = self.control {
            msg.Control = WSABUF { len: len32(control.len())?, buf: control.as_ptr().cast_mut() };
        }
        msg.dwFlags = self.flags as u32;
        let mut addr = SockAddrStorage::zeroed();
        if let Some(to) = &self.to {
            // SAFETY: copies the whole plain-old-data storage of `to`.
            unsafe { std::ptr::copy_nonoverlapping(to.as_ptr().cast::<SockAddrStorage>(), &mut addr, 1) };
            msg.namelen = to.len();
        }
        state.fill(OpState::Msg(MsgState { msg, addr }));
        let OpState::Msg(m) = state else { unreachable!() };
        if self.to.is_some() {
            // Points at the storage beside it, which stays put until the op completes.
            m.msg.name = (&raw mut m.addr).cast();
        }
        Ok(RawOp::SendMsg { fd: self.fd.raw(), flags: self.flags })
    }
    #[cfg(unix)]
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        // SAFETY: `msghdr` is plain old data; all-zero is a valid empty header.
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        // The kernel only reads through these pointers for a send.
        hdr.msg_iov = self.bufs.as_ptr().cast_mut().cast();
        hdr.msg_iovlen = self.bufs.len() as _;
        if let Some(control) = self.control {
            hdr.msg_control = control.as_ptr().cast_mut().cast();
            hdr.msg_controllen = control.len() as _;
        }
        let mut addr = SockAddrStorage::zeroed();
        if let Some(to) = &self.to {
            // SAFETY: copies the whole plain-old-data storage of `to`.
            unsafe { std::ptr::copy_nonoverlapping(to.as_ptr(), &mut addr, 1) };
            hdr.msg_namelen = to.len();
        }
        state.fill(OpState::Msg(MsgState { hdr, addr }));
        let OpState::Msg(msg) = state else { unreachable!() };
        if self.to.is_some() {
            // Points at the storage beside it, which stays put until the op completes.
            msg.hdr.msg_name = (&raw mut msg.addr).cast();
        }
        Ok(RawOp::SendMsg { fd: self.fd.raw(), flags: self.flags })
    }
    /// WASI has no `msghdr` to build (and no sockets).
    #[cfg(target_os = "wasi")]
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Err(unsupported())
    }
}
