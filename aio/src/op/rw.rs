//! Reading, writing and waiting on descriptors: [`Read`], [`Write`], [`Readv`], [`Writev`],
//! [`ReadTty`], [`Splice`], [`Poll`] and [`Fsync`].
//!
//! Offsets: by default reads and writes use (and advance) the file's current position, like
//! `read(2)`; `.offset(n)` makes them positional, like `pread(2)`. On a pipe or socket the
//! offset must be left at its default (or 0).
//!
//! Windows: files opened for overlapped IO (every file [`OpenAt`](super::OpenAt) opens there)
//! have no position, so reads and writes of them need `.offset(n)` (`InvalidInput` without);
//! on handles opened for synchronous IO (`std::fs::File::open`) a positional read or write
//! moves the position too, as `ReadFile` does. [`Readv`] and [`Writev`] are one
//! `WSARecv`/`WSASend` on a socket; on files, pipes and other handles they run on the IOCP
//! driver's worker pool, one `ReadFile`/`WriteFile` per buffer in order, each at the offset
//! where the previous one ended, stopping at the first short transfer as `preadv` does (a
//! running pool job cannot be canceled: a vectored read of a pipe with no writer waits).
//!
//! Zero-length buffers are rejected with `ErrorKind::InvalidInput` when the op is queued: a
//! read of nothing returns 0, which could not be told apart from end of file.

// `Poll`'s docs name `Events::PRI`, which WASI's poll lacks (documented there).
#![cfg_attr(target_os = "wasi", allow(rustdoc::broken_intra_doc_links))]

use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use super::target::{AsTarget, Target, target};
use super::{len_output, len32, unit_output};
use crate::error::invalid_input;
pub use crate::raw::Events;
use crate::raw::{CURRENT_POS, OpState};
use crate::sys::{self, AsSource, Borrowed, borrow, raw};

fn non_empty(len: usize) -> io::Result<u32> {
    if len == 0 {
        return Err(invalid_input("zero-length buffer"));
    }
    len32(len)
}

/// Reads into a buffer: `read(2)` at the current position, or `pread(2)` at
/// [`offset`](Read::offset). Returns the number of bytes read; 0 means end of file.
///
/// ```
/// use corio_aio::op;
/// let file = std::fs::File::open("/dev/zero")?;
/// let mut buf = [1u8; 16];
/// let n = corio_aio::single(op::Read::new(&file, &mut buf))?;
/// assert_eq!((n, buf), (16, [0; 16]));
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Read<'a> {
    fd: Target<'a>,
    buf: &'a mut [u8],
    offset: u64,
}

impl<'a> Read<'a> {
    /// Reads from `fd` into `buf`.
    pub fn new(fd: &'a impl AsTarget, buf: &'a mut [u8]) -> Self {
        Read { fd: target(fd), buf, offset: CURRENT_POS }
    }
    /// Reads at byte `offset` and leaves the file position alone.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
}

impl Prepare for Read<'_> {
    const NAME: &'static str = Facts::Read.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        let len = non_empty(self.buf.len())?;
        Ok(RawOp::Read { fd: self.fd.raw(), buf: self.buf.as_mut_ptr(), len, offset: self.offset })
    }
}

/// Writes a buffer: `write(2)` at the current position, or `pwrite(2)` at
/// [`offset`](Write::offset). Returns the number of bytes written (possibly fewer than asked).
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Write<'a> {
    fd: Target<'a>,
    buf: &'a [u8],
    offset: u64,
}

impl<'a> Write<'a> {
    /// Writes `buf` to `fd`.
    pub fn new(fd: &'a impl AsTarget, buf: &'a [u8]) -> Self {
        Write { fd: target(fd), buf, offset: CURRENT_POS }
    }
    /// Writes at byte `offset` and leaves the file position alone.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
}

impl Prepare for Write<'_> {
    const NAME: &'static str = Facts::Write.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        let len = non_empty(self.buf.len())?;
        Ok(RawOp::Write { fd: self.fd.raw(), buf: self.buf.as_ptr(), len, offset: self.offset })
    }
}

/// Reads into several buffers in order (`readv(2)`/`preadv(2)`); returns the total read.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Readv<'a> {
    fd: Target<'a>,
    bufs: &'a mut [IoSliceMut<'a>],
    offset: u64,
}

impl<'a> Readv<'a> {
    /// Reads from `fd` into `bufs`.
    pub fn new(fd: &'a impl AsTarget, bufs: &'a mut [IoSliceMut<'a>]) -> Self {
        Readv { fd: target(fd), bufs, offset: CURRENT_POS }
    }
    /// Reads at byte `offset` and leaves the file position alone.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
}

impl Prepare for Readv<'_> {
    const NAME: &'static str = Facts::Readv.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        non_empty(self.bufs.iter().map(|b| b.len()).sum())?;
        Ok(RawOp::Readv {
            fd: self.fd.raw(),
            // `IoSliceMut` is ABI-compatible with `iovec` on Unix and `WSABUF` on Windows
            // (documented by std).
            iov: self.bufs.as_ptr().cast(),
            iovcnt: len32(self.bufs.len())?,
            offset: self.offset,
        })
    }
}

/// Writes several buffers in order (`writev(2)`/`pwritev(2)`); returns the total written.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Writev<'a> {
    fd: Target<'a>,
    bufs: &'a [IoSlice<'a>],
    offset: u64,
}

impl<'a> Writev<'a> {
    /// Writes `bufs` to `fd`.
    pub fn new(fd: &'a impl AsTarget, bufs: &'a [IoSlice<'a>]) -> Self {
        Writev { fd: target(fd), bufs, offset: CURRENT_POS }
    }
    /// Writes at byte `offset` and leaves the file position alone.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
}

impl Prepare for Writev<'_> {
    const NAME: &'static str = Facts::Writev.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        non_empty(self.bufs.iter().map(|b| b.len()).sum())?;
        Ok(RawOp::Writev {
            fd: self.fd.raw(),
            // `IoSlice` is ABI-compatible with `iovec` on Unix and `WSABUF` on Windows
            // (documented by std).
            iov: self.bufs.as_ptr().cast(),
            iovcnt: len32(self.bufs.len())?,
            offset: self.offset,
        })
    }
}

/// Reads from a terminal (waits until input is available; raw bytes, no translation).
///
/// On Windows (IOCP): `ReadFile` on the driver's worker pool, at the handle's position, with
/// the console's current mode (line input and its processing unless the caller changed the
/// mode). On a console it first waits for input in 50 ms slices, so a cancel stops it until
/// input arrives; once input is pending the read runs to completion (in line input mode, until
/// Enter). Any other handle is simply read.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct ReadTty<'a> {
    fd: Borrowed<'a>,
    buf: &'a mut [u8],
}

impl<'a> ReadTty<'a> {
    /// Reads from the terminal `fd` into `buf`.
    pub fn new(fd: &'a impl AsSource, buf: &'a mut [u8]) -> Self {
        ReadTty { fd: borrow(fd), buf }
    }
}

impl Prepare for ReadTty<'_> {
    const NAME: &'static str = Facts::ReadTty.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        let len = non_empty(self.buf.len())?;
        Ok(RawOp::ReadTty { fd: raw(&self.fd), buf: self.buf.as_mut_ptr(), len })
    }
}

/// Moves up to `len` bytes between two descriptors without copying through user memory
/// (`splice(2)`); one of them must be a pipe. Returns the number of bytes moved.
///
/// Linux only: elsewhere queueing it fails with `ErrorKind::Unsupported`.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Splice<'a> {
    fd_in: Borrowed<'a>,
    off_in: i64,
    fd_out: Borrowed<'a>,
    off_out: i64,
    len: u32,
    flags: u32,
}

impl<'a> Splice<'a> {
    /// Splices `len` bytes from `fd_in` to `fd_out`, both at their current positions.
    pub fn new(fd_in: &'a impl AsSource, fd_out: &'a impl AsSource, len: u32) -> Self {
        Splice { fd_in: borrow(fd_in), off_in: -1, fd_out: borrow(fd_out), off_out: -1, len, flags: 0 }
    }
    /// Reads the input at `offset` (not allowed for a pipe).
    pub fn offset_in(mut self, offset: u64) -> Self {
        self.off_in = offset as i64;
        self
    }
    /// Writes the output at `offset` (not allowed for a pipe).
    pub fn offset_out(mut self, offset: u64) -> Self {
        self.off_out = offset as i64;
        self
    }
    /// Hints that more data will follow (`SPLICE_F_MORE`).
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    pub fn more(mut self) -> Self {
        #[cfg(target_os = "linux")]
        {
            self.flags |= libc::SPLICE_F_MORE;
        }
        self
    }
}

impl Prepare for Splice<'_> {
    const NAME: &'static str = Facts::Splice.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        if self.len == 0 {
            return Err(invalid_input("zero-length splice"));
        }
        if cfg!(not(target_os = "linux")) {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "splice is Linux-only"));
        }
        Ok(RawOp::Splice {
            fd_in: raw(&self.fd_in),
            off_in: self.off_in,
            fd_out: raw(&self.fd_out),
            off_out: self.off_out,
            len: self.len,
            flags: self.flags,
        })
    }
}

/// Waits until a descriptor is ready for the requested [`Events`]; returns the events that
/// were observed (which may include [`Events::ERR`] and [`Events::HUP`]).
///
/// On Windows (IOCP): sockets, through `WSAPoll` (first without waiting, then on the
/// driver's worker pool, in 50 ms slices so that a cancel stops it within one; a waiting poll
/// holds one of the pool's 2–4 workers), and disk files (always ready). [`Events::IN`]
/// (also a listener's waiting connection) and [`Events::OUT`] are supported, `ERR` and `HUP`
/// reported; [`Events::PRI`] fails with `InvalidInput`, other handles (pipes, consoles) with
/// an error (`WSAENOTSOCK`).
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Poll<'a> {
    fd: Target<'a>,
    events: Events,
}

impl<'a> Poll<'a> {
    /// Waits for `events` on `fd`.
    pub fn new(fd: &'a impl AsTarget, events: Events) -> Self {
        Poll { fd: target(fd), events }
    }
}

impl Prepare for Poll<'_> {
    const NAME: &'static str = Facts::Poll.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Ok(RawOp::Poll { fd: self.fd.raw(), events: self.events.bits() })
    }
}

impl super::Op for Poll<'_> {
    type Output = Events;
    fn output(value: crate::Value) -> io::Result<Events> {
        match value {
            crate::Value::Events(e) => Ok(e),
            _ => Err(super::mismatch()),
        }
    }
}

/// Flushes a file's data and metadata to its device (`fsync(2)`), or only its data with
/// [`data_only`](Fsync::data_only) (`fdatasync(2)`).
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Fsync<'a> {
    fd: Target<'a>,
    datasync: bool,
    _file: PhantomData<&'a ()>,
}

impl<'a> Fsync<'a> {
    /// Syncs `fd`.
    pub fn new(fd: &'a impl AsTarget) -> Self {
        Fsync { fd: target(fd), datasync: false, _file: PhantomData }
    }
    /// Syncs only what is needed to read the data back (`fdatasync`).
    pub fn data_only(mut self) -> Self {
        self.datasync = true;
        self
    }
}

impl Prepare for Fsync<'_> {
    const NAME: &'static str = Facts::Fsync.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Ok(RawOp::Fsync { fd: self.fd.raw(), datasync: self.datasync })
    }
}

len_output!(Read<'a>, Write<'a>, Readv<'a>, Writev<'a>, ReadTty<'a>, Splice<'a>);
unit_output!(Fsync<'a>);

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! rw_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            Fsync { fd: crate::raw::RawFd, datasync: bool }
                = { name: "fsync", error_fails_link: false, ..Facts::DEFAULT } fixed fd;
            Poll { fd: crate::raw::RawFd, events: u32 }
                = { name: "poll", output: Output::Events, consumer: true, ..Facts::DEFAULT } fixed fd;
            Read { fd: crate::raw::RawFd, buf: *mut u8, len: u32, offset: u64 }
                = { name: "read", output: Output::Len, consumer: true, file_io: true, ..Facts::DEFAULT }
                whole { Some(len as usize) } fixed fd;
            Write { fd: crate::raw::RawFd, buf: *const u8, len: u32, offset: u64 }
                = { name: "write", output: Output::Len, file_io: true, ..Facts::DEFAULT }
                whole { Some(len as usize) } fixed fd;
            Readv { fd: crate::raw::RawFd, iov: *const crate::sys::IoVec, iovcnt: u32, offset: u64 }
                = { name: "readv", output: Output::Len, consumer: true, file_io: true, ..Facts::DEFAULT }
                // SAFETY: `whole_len`'s caller guarantees the op's iovec array is valid.
                whole { unsafe { crate::op::rw::iov_total(iov, iovcnt) } } fixed fd;
            Writev { fd: crate::raw::RawFd, iov: *const crate::sys::IoVec, iovcnt: u32, offset: u64 }
                = { name: "writev", output: Output::Len, file_io: true, ..Facts::DEFAULT }
                // SAFETY: `whole_len`'s caller guarantees the op's iovec array is valid.
                whole { unsafe { crate::op::rw::iov_total(iov, iovcnt) } } fixed fd;
            ReadTty { fd: crate::raw::RawFd, buf: *mut u8, len: u32 }
                = { name: "read_tty", output: Output::Len, consumer: true, ..Facts::DEFAULT }
                whole { Some(len as usize) };
            Splice { fd_in: crate::raw::RawFd, off_in: i64, fd_out: crate::raw::RawFd, off_out: i64, len: u32, flags: u32 }
                = { name: "splice", output: Output::Len, ..Facts::DEFAULT }
                whole { Some(len as usize) };
        }
    };
}
pub(crate) use rw_ops;

/// The bytes a vectored op's buffers hold, its whole transfer (`None` without buffers).
///
/// # Safety
///
/// Unless null, `iov` points at `iovcnt` valid iovecs.
pub(crate) unsafe fn iov_total(iov: *const sys::IoVec, iovcnt: u32) -> Option<usize> {
    if iov.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees the iovec array.
    let iovs = unsafe { std::slice::from_raw_parts(iov, iovcnt as usize) };
    Some(iovs.iter().map(sys::iov_len).sum())
}
