//! Buffers the kernel treats specially: reads and writes of registered buffers
//! ([`ReadFixed`], [`WriteFixed`]), the zero-copy sends ([`SendZc`], [`SendMsgZc`]) and the
//! zero-copy send of a registered buffer ([`SendZcFixed`]).
//!
//! Each takes a [`FixedBuf`] (from [`Dynamic::buffer`](crate::Dynamic::buffer), after
//! [`Dynamic::register_buffers`](crate::Dynamic::register_buffers)) by value and hands it back
//! with the byte count, so nothing can touch the buffer while the op runs. On io_uring they
//! are `IORING_OP_READ_FIXED`/`WRITE_FIXED`, which skip mapping the user pages on every
//! transfer; the other backends read and write the same memory plainly. If the op fails, the
//! buffer returns to its `Dynamic`'s free list.

use std::io;

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use super::target::{AsTarget, Target, target};
use crate::FixedBuf;
use crate::error::invalid_input;
use crate::raw::{CURRENT_POS, OpState, Value};

/// Reads into a registered buffer (its first [`len`](ReadFixed::len) bytes, by default all
/// of it) at the current position or at [`offset`](ReadFixed::offset); returns the number
/// of bytes read (0 at end of file) and the buffer. See
/// [`Dynamic::register_buffers`](crate::Dynamic::register_buffers) for an example.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct ReadFixed<'a> {
    fd: Target<'a>,
    buf: FixedBuf,
    len: usize,
    offset: u64,
}

impl<'a> ReadFixed<'a> {
    /// Reads from `fd` into `buf`.
    pub fn new(fd: &'a impl AsTarget, buf: FixedBuf) -> Self {
        let len = buf.len();
        ReadFixed { fd: target(fd), buf, len, offset: CURRENT_POS }
    }
    /// Reads at byte `offset` and leaves the file position alone.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
    /// Reads at most `len` bytes (at most the buffer's size).
    pub fn len(mut self, len: usize) -> Self {
        self.len = len;
        self
    }
}

impl Prepare for ReadFixed<'_> {
    const NAME: &'static str = Facts::ReadFixed.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let len = checked_len(self.len, &self.buf)?;
        let (buf, index) = (self.buf.as_mut_ptr(), self.buf.index());
        state.fill(OpState::Buf(Some(self.buf)));
        Ok(RawOp::ReadFixed { fd: self.fd.raw(), buf, len, offset: self.offset, index })
    }
}

/// Writes the first `len` bytes of a registered buffer at the current position or at
/// [`offset`](WriteFixed::offset); returns the number of bytes written and the buffer.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct WriteFixed<'a> {
    fd: Target<'a>,
    buf: FixedBuf,
    len: usize,
    offset: u64,
}

impl<'a> WriteFixed<'a> {
    /// Writes `buf[..len]` to `fd`.
    pub fn new(fd: &'a impl AsTarget, buf: FixedBuf, len: usize) -> Self {
        WriteFixed { fd: target(fd), buf, len, offset: CURRENT_POS }
    }
    /// Writes at byte `offset` and leaves the file position alone.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
}

impl Prepare for WriteFixed<'_> {
    const NAME: &'static str = Facts::WriteFixed.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let len = checked_len(self.len, &self.buf)?;
        let (buf, index) = (self.buf.as_mut_ptr(), self.buf.index());
        state.fill(OpState::Buf(Some(self.buf)));
        Ok(RawOp::WriteFixed { fd: self.fd.raw(), buf, len, offset: self.offset, index })
    }
}

/// `len` as the op's length: not zero, not past the buffer.
#[inline]
fn checked_len(len: usize, buf: &FixedBuf) -> io::Result<u32> {
    if len == 0 || len > buf.len() {
        return Err(invalid_input("a fixed-buffer transfer of 0 bytes or past the buffer"));
    }
    // Registered buffers are under 4 GiB (`Dynamic::register_buffers` checks).
    Ok(len as u32)
}

/// Sends on a connected socket without copying the data into the kernel
/// (`IORING_OP_SEND_ZC`, Linux 6.0): the network stack reads `buf` in place. Returns the
/// number of bytes sent.
///
/// The kernel holds the buffer after the send is done, until the data left the machine; it
/// then posts a notification. The op completes only after that notification (its one
/// completion carries the byte count), so the buffer stays borrowed exactly as long as the
/// kernel may read it: there is no way to reuse it early. Worth it for large sends; for small
/// ones the notification costs more than the copy saves.
///
/// Elsewhere it is a plain send: on io_uring before 6.0 (`IORING_OP_SEND`), on the posix and
/// IOCP backends `send(2)`/`WSASend`. Not on WASI (no sockets): `ErrorKind::Unsupported`.
///
/// ```no_run
/// use corio_aio::op::SendZc;
/// let socket = std::net::TcpStream::connect("127.0.0.1:8080")?;
/// let data = vec![7u8; 1 << 20];
/// let sent = corio_aio::single(SendZc::new(&socket, &data))?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct SendZc<'a> {
    fd: Target<'a>,
    buf: &'a [u8],
    flags: i32,
}

impl<'a> SendZc<'a> {
    /// Sends `buf` on `socket`.
    pub fn new(socket: &'a impl AsTarget, buf: &'a [u8]) -> Self {
        SendZc { fd: target(socket), buf, flags: crate::raw::MSG_NOSIGNAL }
    }
    /// Or-s in raw `MSG_*` flags (`MSG_WAITALL`: fewer bytes sent is a short transfer, which
    /// fails a soft link).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

impl Prepare for SendZc<'_> {
    const NAME: &'static str = Facts::SendZc.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        if cfg!(target_os = "wasi") {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "sockets are not supported on wasm32-wasip1"));
        }
        let len = u32::try_from(self.buf.len()).map_err(|_| invalid_input("a send of 4 GiB or more"))?;
        Ok(RawOp::SendZc { fd: self.fd.raw(), buf: self.buf.as_ptr(), len, flags: self.flags })
    }
}

impl super::Op for SendZc<'_> {
    type Output = usize;
    fn output(value: Value) -> io::Result<usize> {
        match value {
            Value::Len(n) => Ok(n),
            _ => Err(super::mismatch()),
        }
    }
}

/// A [`SendZc`] of a registered buffer (`IORING_OP_SEND_ZC` with `IORING_RECVSEND_FIXED_BUF`):
/// the kernel neither copies the data nor maps and pins its pages for each send, as the
/// buffer's pages were pinned once at registration. Sends the buffer's first `len` bytes;
/// returns the number of bytes sent and the buffer, after the kernel's notification (like
/// [`SendZc`]; until then the op holds the buffer, so nothing can write into it while the
/// network stack may still read it).
///
/// Elsewhere it is a plain send of the same bytes: a `SendZc` of them on io_uring if the
/// buffer belongs to another `Dynamic`'s table, a `Send` before Linux 6.0 and on the posix and
/// IOCP backends. Not on WASI (no sockets): `ErrorKind::Unsupported`.
///
/// ```no_run
/// use corio_aio::{Dynamic, op};
/// let socket = std::net::TcpStream::connect("127.0.0.1:8080")?;
/// let mut ring = Dynamic::new(4)?;
/// ring.register_buffers(2, 64 * 1024)?;
/// let mut buf = ring.buffer().expect("a free registered buffer");
/// buf[..5].copy_from_slice(b"hello");
/// let (sent, buf) = ring.run(op::SendZcFixed::new(&socket, buf, 5), |_| {})??;
/// assert_eq!(sent, 5);
/// drop(buf); // back to the ring's free list
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct SendZcFixed<'a> {
    fd: Target<'a>,
    buf: FixedBuf,
    len: usize,
    flags: i32,
}

impl<'a> SendZcFixed<'a> {
    /// Sends the first `len` bytes of `buf` on `socket` (`len` from 1 to the buffer's length).
    pub fn new(socket: &'a impl AsTarget, buf: FixedBuf, len: usize) -> Self {
        SendZcFixed { fd: target(socket), buf, len, flags: crate::raw::MSG_NOSIGNAL }
    }
    /// Or-s in raw `MSG_*` flags (`MSG_WAITALL`: fewer bytes sent is a short transfer, which
    /// fails a soft link).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

impl Prepare for SendZcFixed<'_> {
    const NAME: &'static str = Facts::SendZcFixed.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        if cfg!(target_os = "wasi") {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "sockets are not supported on wasm32-wasip1"));
        }
        let len = checked_len(self.len, &self.buf)?;
        let (buf, index) = (self.buf.as_mut_ptr().cast_const(), self.buf.index());
        state.fill(OpState::Buf(Some(self.buf)));
        Ok(RawOp::SendZcFixed { fd: self.fd.raw(), buf, len, flags: self.flags, index })
    }
}

/// A [`SendMsg`](super::SendMsg) without copying the data into the kernel
/// (`IORING_OP_SENDMSG_ZC`, Linux 6.1); like [`SendZc`], it completes once, after the
/// kernel's notification, so the buffers (and control data) stay borrowed while the kernel
/// may read them. Elsewhere (io_uring before 6.1, the posix and IOCP backends) it is a plain
/// `SendMsg`.
///
/// ```no_run
/// use corio_aio::op::SendMsgZc;
/// use std::io::IoSlice;
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let parts = [IoSlice::new(b"hello "), IoSlice::new(b"world")];
/// let to: std::net::SocketAddr = "127.0.0.1:9999".parse().unwrap();
/// corio_aio::single(SendMsgZc::new(&socket, &parts).to(to))?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct SendMsgZc<'a>(super::SendMsg<'a>);

impl<'a> SendMsgZc<'a> {
    /// Sends `bufs` on `socket`.
    pub fn new(socket: &'a impl AsTarget, bufs: &'a [std::io::IoSlice<'a>]) -> Self {
        SendMsgZc(super::SendMsg::new(socket, bufs))
    }
    /// Sends to `addr` (for unconnected sockets).
    pub fn to(self, addr: impl Into<crate::net_types::SockAddr>) -> Self {
        SendMsgZc(self.0.to(addr))
    }
    /// Sends ancillary data.
    pub fn control(self, control: &'a [u8]) -> Self {
        SendMsgZc(self.0.control(control))
    }
    /// Or-s in raw `MSG_*` flags.
    pub fn flags(self, flags: i32) -> Self {
        SendMsgZc(self.0.flags(flags))
    }
}

impl Prepare for SendMsgZc<'_> {
    const NAME: &'static str = Facts::SendMsgZc.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.0.fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        match self.0.prepare(state)? {
            RawOp::SendMsg { fd, flags } => Ok(RawOp::SendMsgZc { fd, flags }),
            _ => unreachable!("SendMsg prepares a sendmsg"),
        }
    }
}

impl super::Op for SendMsgZc<'_> {
    type Output = usize;
    fn output(value: Value) -> io::Result<usize> {
        <SendZc<'_> as super::Op>::output(value)
    }
}

macro_rules! buf_output {
    ($($ty:ident),*) => {$(
        impl super::Op for $ty<'_> {
            type Output = (usize, FixedBuf);
            fn output(value: Value) -> io::Result<(usize, FixedBuf)> {
                match value {
                    Value::Buf { len, buf } => Ok((len, buf)),
                    _ => Err(super::mismatch()),
                }
            }
        }
    )*};
}
buf_output!(ReadFixed, WriteFixed, SendZcFixed);

/// This family's rows of the op table (see `op/table.rs`). The emulating backends run them
/// as `Read`/`Write` (`RawOp::unregistered`).
macro_rules! buf_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// Buffer `index` of the registered table, held in
            /// [`OpState::Buf`](crate::raw::OpState::Buf).
            ReadFixed { fd: crate::raw::RawFd, buf: *mut u8, len: u32, offset: u64, index: u16 }
                = { name: "read_fixed", output: Output::LenBuf, consumer: true, file_io: true, ..Facts::DEFAULT }
                whole { Some(len as usize) } fixed fd;
            /// As `ReadFixed`.
            WriteFixed { fd: crate::raw::RawFd, buf: *mut u8, len: u32, offset: u64, index: u16 }
                = { name: "write_fixed", output: Output::LenBuf, file_io: true, ..Facts::DEFAULT }
                whole { Some(len as usize) } fixed fd;
            /// As `Send`; io_uring reports it after its notification (`Post::ZeroCopy`).
            SendZc { fd: crate::raw::RawFd, buf: *const u8, len: u32, flags: i32 }
                = { name: "send_zc", output: Output::Len, socket: true, ..Facts::DEFAULT }
                whole { (flags & crate::sys::MSG_WAITALL != 0).then_some(len as usize) } fixed fd;
            /// As `SendZc`, from buffer `index` of the registered table, held in
            /// [`OpState::Buf`](crate::raw::OpState::Buf).
            SendZcFixed { fd: crate::raw::RawFd, buf: *const u8, len: u32, flags: i32, index: u16 }
                = { name: "send_zc_fixed", output: Output::LenBuf, socket: true, ..Facts::DEFAULT }
                whole { (flags & crate::sys::MSG_WAITALL != 0).then_some(len as usize) } fixed fd;
            /// Header in [`OpState::Msg`](crate::raw::OpState::Msg); as `SendZc` on io_uring.
            SendMsgZc { fd: crate::raw::RawFd, flags: i32 }
                = { name: "sendmsg_zc", output: Output::Len, socket: true, ..Facts::DEFAULT } fixed fd;
        }
    };
}
pub(crate) use buf_ops;

impl RawOp {
    /// The plain form of a registered-buffer op (`ReadFixed` as `Read`, `WriteFixed` as
    /// `Write`) and of a zero-copy send (`Send`, `SendMsg`), for the backends that emulate io_uring:
    /// they read and write the same memory, and a send's notification follows at once.
    #[inline]
    pub(crate) fn unregistered(self) -> RawOp {
        match self {
            RawOp::ReadFixed { fd, buf, len, offset, .. } => RawOp::Read { fd, buf, len, offset },
            RawOp::WriteFixed { fd, buf, len, offset, .. } => RawOp::Write { fd, buf: buf.cast_const(), len, offset },
            RawOp::SendZc { fd, buf, len, flags } | RawOp::SendZcFixed { fd, buf, len, flags, .. } => {
                RawOp::Send { fd, buf, len, flags }
            }
            RawOp::SendMsgZc { fd, flags } => RawOp::SendMsg { fd, flags },
            op => op,
        }
    }
}
