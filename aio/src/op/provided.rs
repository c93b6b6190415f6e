//! Receives into provided buffers: [`RecvBuf`] (one receive) and [`RecvMulti`] (a receive
//! that goes on, one completion per arrival). Neither takes a buffer: each picks one from a
//! [`BufferGroup`] of its `Dynamic` (see
//! [`Dynamic::register_buffer_group`](crate::Dynamic::register_buffer_group)) when data
//! arrives, and hands it out as a [`ProvidedBuf`] that returns to the group when dropped. A
//! thousand idle connections then hold no buffer between them.
//!
//! If the group is empty the receive fails with `ENOBUFS` (a [`RecvBuf`] at once, a
//! [`RecvMulti`] at once or when data arrives, and it ends): drop some buffers and queue it
//! again. The end of the stream is a completion of 0
//! bytes (an empty `ProvidedBuf`), which ends a `RecvMulti`. A group of another `Dynamic` is
//! refused when queued (`InvalidInput`).
//!
//! A group may be incremental (a receive takes a piece of a buffer) or take bundles (a
//! completion holds several buffers): see [`BufferGroupOptions`](crate::BufferGroupOptions);
//! both receives run that way on such a group. `MSG_TRUNC` is refused (`InvalidInput`): the
//! count it reports can exceed the buffer; a datagram longer than the buffer arrives cut to it.
//!
//! Not on WASI (no sockets): `ErrorKind::Unsupported`.

use std::io;
use std::rc::Rc;

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use super::target::{AsTarget, Target, target};
use crate::dynamic::groups::Group;
use crate::raw::{OpState, Value};
use crate::{BufferGroup, ProvidedBuf};

/// Receives from a connected socket into a buffer the OS picks from `group` when data
/// arrives; returns it filled (empty: the peer shut down its side). See
/// [`Dynamic::register_buffer_group`](crate::Dynamic::register_buffer_group) for an example.
///
/// On io_uring it is `IORING_OP_RECV` with `IOSQE_BUFFER_SELECT`; the emulations take a free
/// buffer of the group when the socket is readable. `ENOBUFS` if the group is empty.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct RecvBuf<'a> {
    fd: Target<'a>,
    group: BufferGroup,
    flags: i32,
}

impl<'a> RecvBuf<'a> {
    /// Receives from `socket` into a buffer of `group`.
    pub fn new(socket: &'a impl AsTarget, group: &BufferGroup) -> Self {
        RecvBuf { fd: target(socket), group: group.clone(), flags: 0 }
    }
    /// Or-s in raw `MSG_*` flags.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

/// Receives from a connected socket for as long as it runs (a multishot receive): one
/// completion per arrival, each a [`ProvidedBuf`] of `group` with
/// [`Completion::more`](crate::Completion::more) set, until the op ends with a final
/// completion: an empty buffer at the end of the stream, `ENOBUFS` when the group ran dry
/// (drop buffers and queue it again), an error, or `Canceled` after a
/// [`Cancel`](super::Cancel). The kernel may also end it with a last buffer of data (when its
/// completion queue overflowed, say): queue it again if the stream goes on.
///
/// Like [`AcceptMulti`](super::AcceptMulti) it completes more than once, so it goes through
/// [`Dynamic::queue`](crate::Dynamic::queue) and [`complete`](crate::Dynamic::complete)
/// only; `run`, the immediate API, tagged queueing and linked chains refuse it.
///
/// io_uring runs the kernel's multishot receive (Linux 6.0), or single selecting receives
/// re-armed after each arrival on older kernels (`CORIO_URING_DISABLE=recv_multi` forces
/// that); posix receives until `EAGAIN` (or the group is empty) on each readiness; IOCP
/// waits with a zero-byte `WSARecv`, then receives what is waiting without waiting.
///
/// ```
/// # #[cfg(unix)] {
/// use corio_aio::{Mode, op::RecvMulti};
/// use std::io::Write;
/// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
/// let b: &'static _ = Box::leak(Box::new(b));
/// let mut ring = corio_aio::Dynamic::new(4)?;
/// let group = ring.register_buffer_group(4, 1024)?;
/// ring.queue(RecvMulti::new(b, &group))?;
/// a.write_all(b"hello")?;
/// drop(a); // end of stream: the receive ends
/// let mut got = Vec::new();
/// while ring.in_flight() > 0 {
///     ring.complete(Mode::Blocking, |c| {
///         let buf = c.output::<RecvMulti>().unwrap();
///         got.extend_from_slice(&buf); // `buf` goes back to the group when dropped
///     })?;
/// }
/// assert_eq!(got, b"hello");
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (Dynamic::queue)"]
pub struct RecvMulti<'a> {
    fd: Target<'a>,
    group: BufferGroup,
    flags: i32,
}

impl<'a> RecvMulti<'a> {
    /// Receives from `socket` into buffers of `group` until it ends.
    pub fn new(socket: &'a impl AsTarget, group: &BufferGroup) -> Self {
        RecvMulti { fd: target(socket), group: group.clone(), flags: 0 }
    }
    /// Or-s in raw `MSG_*` flags (not `MSG_WAITALL`, which io_uring refuses here).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

#[cfg(unix)]
const MSG_TRUNC: i32 = libc::MSG_TRUNC;
#[cfg(windows)]
const MSG_TRUNC: i32 = 0x100; // Winsock's

/// The group for the raw op, after the checks every selecting receive shares.
#[cfg_attr(target_os = "wasi", allow(unused_variables))]
fn prepare_group(group: &BufferGroup, flags: i32, state: &mut OpState) -> io::Result<*const Group> {
    if cfg!(target_os = "wasi") {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "sockets are not supported on wasm32-wasip1"));
    }
    // With `MSG_TRUNC` a datagram's receive reports its whole length, not what the buffer
    // took: more than the result's byte-count bits hold (`groups::encode`), and for a bundle
    // more than its buffers (whose count says which ones it filled, `groups/bundles.rs`).
    #[cfg(any(unix, windows))]
    if flags & MSG_TRUNC != 0 {
        return Err(crate::error::invalid_input("MSG_TRUNC on a receive into provided buffers"));
    }
    // The queuer checks that the group is this `Dynamic`'s (it knows which one it is). The
    // op holds its own handle, so the raw pointer stays valid while the state holds it.
    state.fill(OpState::Group(Rc::clone(&group.group)));
    Ok(Rc::as_ptr(&group.group))
}

impl Prepare for RecvBuf<'_> {
    const NAME: &'static str = Facts::RecvBuf.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let group = prepare_group(&self.group, self.flags, state)?;
        Ok(RawOp::RecvBuf { fd: self.fd.raw(), group, flags: self.flags })
    }
}

impl Prepare for RecvMulti<'_> {
    const NAME: &'static str = Facts::RecvMulti.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        if self.flags & crate::sys::MSG_WAITALL != 0 {
            return Err(crate::error::invalid_input("a multishot receive cannot wait for all"));
        }
        let group = prepare_group(&self.group, self.flags, state)?;
        Ok(RawOp::RecvMulti { fd: self.fd.raw(), group, flags: self.flags })
    }
}

/// Reads from a pipe, a character device, an eventfd or a socket for as long as it runs (a
/// multishot read, `IORING_OP_READ_MULTISHOT`): one completion per arrival, each a
/// [`ProvidedBuf`] of `group` with [`Completion::more`](crate::Completion::more) set, until
/// the op ends with a final completion: an empty buffer at the end of the file (the writer
/// closed), `ENOBUFS` when the group ran dry (drop buffers and queue it again), an error, or
/// `Canceled` after a [`Cancel`](super::Cancel). As [`RecvMulti`], the kernel may end it with a
/// last buffer of data.
///
/// Only for what can be polled: a regular file, a directory or a block device (always
/// "ready") fails it with `EBADFD`, as the kernel does (`EBADF` on systems without
/// `EBADFD`, `ERROR_INVALID_HANDLE` on Windows). It reads at the current position,
/// which such descriptors do not have.
///
/// It completes more than once, so it goes through [`Dynamic::queue`](crate::Dynamic::queue)
/// and [`complete`](crate::Dynamic::complete) only; `run`, the immediate API, tagged
/// queueing and linked chains refuse it.
///
/// io_uring runs the kernel's multishot read (Linux 6.7), or single reads selecting a buffer
/// of the group re-armed after each arrival on older kernels (`CORIO_URING_DISABLE=read_multi`
/// forces that; there an empty group ends it as soon as it re-arms, not only when data
/// arrives, and a [`Fixed`](super::Fixed) slot holding a regular file is read as such, to
/// its end, since the slot's file cannot be checked); posix reads until `EAGAIN` (or
/// the group is empty) on each readiness. IOCP (Windows) reads sockets and pipes (anonymous
/// or named, opened for synchronous or overlapped IO): a socket as a multishot receive, a
/// pipe by waiting for data (a zero-byte overlapped read; on a synchronous handle, as every
/// anonymous pipe is, a pool worker that looks at the pipe every few milliseconds, up to 50 ms
/// apart once it stayed empty), then reading what waits; there an empty group fails
/// `WSAENOBUFS`, and any other handle (a disk file, a console) `ERROR_INVALID_HANDLE`.
/// Not on WASI: `ErrorKind::Unsupported` when queued.
///
/// ```
/// # #[cfg(unix)] {
/// use corio_aio::{Mode, op::ReadMulti};
/// use std::io::Write;
/// let (reader, mut writer) = std::io::pipe()?;
/// let reader: &'static _ = Box::leak(Box::new(reader));
/// let mut ring = corio_aio::Dynamic::new(4)?;
/// let group = ring.register_buffer_group(4, 1024)?;
/// ring.queue(ReadMulti::new(reader, &group))?;
/// writer.write_all(b"hello")?;
/// drop(writer); // end of file: the read ends
/// let mut got = Vec::new();
/// while ring.in_flight() > 0 {
///     ring.complete(Mode::Blocking, |c| {
///         let buf = c.output::<ReadMulti>().unwrap();
///         got.extend_from_slice(&buf); // `buf` goes back to the group when dropped
///     })?;
/// }
/// assert_eq!(got, b"hello");
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (Dynamic::queue)"]
pub struct ReadMulti<'a> {
    fd: Target<'a>,
    group: BufferGroup,
}

impl<'a> ReadMulti<'a> {
    /// Reads from `fd` into buffers of `group` until it ends.
    pub fn new(fd: &'a impl AsTarget, group: &BufferGroup) -> Self {
        ReadMulti { fd: target(fd), group: group.clone() }
    }
}

impl Prepare for ReadMulti<'_> {
    const NAME: &'static str = Facts::ReadMulti.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        if cfg!(target_os = "wasi") {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "a multishot read is not supported on WASI"));
        }
        // As in `prepare_group`: the queuer checks the group's owner; the state keeps it alive.
        state.fill(OpState::Group(Rc::clone(&self.group.group)));
        Ok(RawOp::ReadMulti { fd: self.fd.raw(), group: Rc::as_ptr(&self.group.group) })
    }
}

macro_rules! provided_output {
    ($($ty:ident),*) => {$(
        impl super::Op for $ty<'_> {
            type Output = ProvidedBuf;
            fn output(value: Value) -> io::Result<ProvidedBuf> {
                match value {
                    Value::Provided(buf) => Ok(buf),
                    _ => Err(super::mismatch()),
                }
            }
        }
    )*};
}
provided_output!(RecvBuf, RecvMulti);
provided_output!(ReadMulti);

/// This family's rows of the op table (see `op/table.rs`). A result is a byte count and a
/// buffer id in one (`dynamic/groups.rs`, `encode`); the group stays alive in the op's
/// [`OpState::Group`], which `group` points at.
macro_rules! provided_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// A receive into a buffer of the group.
            RecvBuf { fd: crate::raw::RawFd, group: *const crate::dynamic::groups::Group, flags: i32 }
                = { name: "recv_buf", output: Output::Provided, consumer: true, socket: true, ..Facts::DEFAULT } fixed fd;
            /// Multishot: one report per arrival, each with its buffer.
            RecvMulti { fd: crate::raw::RawFd, group: *const crate::dynamic::groups::Group, flags: i32 }
                = { name: "recv_multi", output: Output::Provided, consumer: true, socket: true, multishot: true,
                    ..Facts::DEFAULT } fixed fd;
            /// Multishot read (a pipe, an eventfd, a socket…): as `RecvMulti`.
            ReadMulti { fd: crate::raw::RawFd, group: *const crate::dynamic::groups::Group }
                = { name: "read_multi", output: Output::Provided, consumer: true, multishot: true, ..Facts::DEFAULT }
                fixed fd;
        }
    };
}
pub(crate) use provided_ops;
