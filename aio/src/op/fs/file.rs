//! Ops on open files: [`Close`], [`Fallocate`], [`Ftruncate`], [`Fadvise`], and on memory:
//! [`Madvise`].

use std::io;

use super::unsupported;
use crate::error::invalid_input;
use crate::op::RawOp;
use crate::op::sealed::Prepare;
use crate::op::table::Facts;
use crate::op::target::{AsTarget, Fixed, Target, target};
use crate::op::unit_output;
use crate::raw::OpState;
use crate::sys::{self, AsSource, Borrowed, borrow, raw};

/// Closes a descriptor (a file, a directory, a socket, an [`EventSource`](crate::EventSource)),
/// taking ownership of it. Ops still pending on that descriptor in the same `Dynamic` are
/// canceled first (on io_uring a pending op holds its own reference to the file, so a plain
/// close would not stop it).
///
/// Which ops count as "on that descriptor" differs: io_uring cancels every op of the
/// `Dynamic` on the same open file, so closing a duplicate (`try_clone`, `dup(2)`) also
/// cancels the original's pending ops; posix cancels only the ops queued on that descriptor
/// number (on IOCP, closing a handle aborts the IO issued through that handle). Close a
/// duplicate with `drop` (a plain `close(2)`, which cancels nothing) where that matters, as
/// `corio_coro::net`'s types do when dropped.
///
/// The descriptor is gone once the op is queued, even if the close then reports an error
/// (as with `close(2)`). If the batch cannot be queued, the descriptor is closed on the spot.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Close {
    fd: Closing,
}

/// What a [`Close`] closes.
#[derive(Debug)]
enum Closing {
    Owned(sys::Owned),
    Fixed(u32),
}

impl Close {
    /// Closes `fd` (on Windows anything that converts into an `OwnedSource`: a file, a
    /// socket, an event source).
    pub fn new(fd: impl Into<sys::Owned>) -> Self {
        Close { fd: Closing::Owned(fd.into()) }
    }

    /// Empties `slot` of the `Dynamic`'s registered file table, closing the table's file
    /// (io_uring's `IORING_OP_CLOSE` with a file index). Ops pending on the slot's file are
    /// canceled first, as for a descriptor (on io_uring those on the same slot). An empty
    /// slot fails with `EBADF`, one beyond the table with `EINVAL`, and without a table with
    /// `ENXIO`; later ops on the slot fail with `EBADF` until it is filled again.
    ///
    /// ```
    /// use corio_aio::op::{self, Fixed};
    /// let file = std::fs::File::open("/dev/zero")?;
    /// let mut ring = corio_aio::Dynamic::new(4)?;
    /// ring.register_files(4)?;
    /// let slot = Fixed(0);
    /// ring.install_file(slot, file)?;
    /// ring.run(op::Close::fixed(slot), |_| {})??;
    /// let mut buf = [0u8; 4];
    /// let err = ring.run(op::Read::new(&slot, &mut buf), |_| {})?.unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn fixed(slot: Fixed) -> Self {
        Close { fd: Closing::Fixed(slot.0) }
    }
}

impl Prepare for Close {
    const NAME: &'static str = Facts::Close.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Ok(match self.fd {
            Closing::Owned(fd) => RawOp::Close { fd: sys::into_raw(fd) },
            Closing::Fixed(slot) => RawOp::CloseFixed { slot },
        })
    }
}

/// Allocates disk space for a byte range of a file (`fallocate(2)`), so that later writes
/// there cannot fail for lack of space. By default the file grows to cover the range, as
/// `posix_fallocate(3)`; [`keep_size`](Fallocate::keep_size) and [`mode`](Fallocate::mode)
/// change that on Linux.
///
/// Elsewhere only the default mode exists: FreeBSD runs `posix_fallocate`, macOS
/// `fcntl(F_PREALLOCATE)` and then `ftruncate` to grow the file, Windows grows the file's end
/// (`SetFileInformationByHandle`). A mode off Linux, and any `Fallocate` on WASI, fails to
/// queue with `ErrorKind::Unsupported`.
///
/// ```
/// use corio_aio::op::Fallocate;
/// let path = std::env::temp_dir().join("corio-doc-fallocate");
/// let file = std::fs::File::create(&path)?;
/// corio_aio::single(Fallocate::new(&file, 0, 4096))?;
/// assert_eq!(file.metadata()?.len(), 4096);
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Fallocate<'a> {
    fd: Target<'a>,
    offset: u64,
    len: u64,
    mode: i32,
}

impl<'a> Fallocate<'a> {
    /// Allocates `len` bytes from `offset` in `file` (opened for writing).
    pub fn new(file: &'a impl AsTarget, offset: u64, len: u64) -> Self {
        Fallocate { fd: target(file), offset, len, mode: 0 }
    }
    /// Allocates without changing the file's size (`FALLOC_FL_KEEP_SIZE`; Linux only).
    pub fn keep_size(self) -> Self {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return self.mode(libc::FALLOC_FL_KEEP_SIZE);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        return self.mode(1);
    }
    /// Or-s raw `FALLOC_FL_*` flags into the mode (e.g. `FALLOC_FL_PUNCH_HOLE |
    /// FALLOC_FL_KEEP_SIZE`, `FALLOC_FL_ZERO_RANGE`; Linux only).
    pub fn mode(mut self, flags: i32) -> Self {
        self.mode |= flags;
        self
    }
}

impl Prepare for Fallocate<'_> {
    const NAME: &'static str = Facts::Fallocate.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        if cfg!(target_os = "wasi") || (self.mode != 0 && !cfg!(target_os = "linux")) {
            return Err(unsupported("fallocate modes are Linux-only, and WASI has no fallocate"));
        }
        if self.len == 0 || self.offset.checked_add(self.len).is_none_or(|end| end > i64::MAX as u64) {
            return Err(invalid_input("fallocate of an empty range or past the largest offset"));
        }
        Ok(RawOp::Fallocate { fd: self.fd.raw(), offset: self.offset, len: self.len, mode: self.mode })
    }
}

/// Sets a file's size (`ftruncate(2)`): cuts it, or extends it with zeros. The file must be
/// open for writing.
///
/// On io_uring before Linux 6.9 (no `IORING_OP_FTRUNCATE`) the ring runs `ftruncate(2)` on
/// its own thread when the op starts. On Windows: `SetFileInformationByHandle` (end of file).
///
/// ```
/// use corio_aio::op::Ftruncate;
/// let path = std::env::temp_dir().join("corio-doc-ftruncate");
/// std::fs::write(&path, b"12345")?;
/// let file = std::fs::OpenOptions::new().write(true).open(&path)?;
/// corio_aio::single(Ftruncate::new(&file, 2))?;
/// assert_eq!(std::fs::read(&path)?, b"12");
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Ftruncate<'a> {
    fd: Borrowed<'a>,
    len: u64,
}

impl<'a> Ftruncate<'a> {
    /// Sets the size of `file` to `len` bytes.
    pub fn new(file: &'a impl AsSource, len: u64) -> Self {
        Ftruncate { fd: borrow(file), len }
    }
}

impl Prepare for Ftruncate<'_> {
    const NAME: &'static str = Facts::Ftruncate.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        if self.len > i64::MAX as u64 {
            return Err(invalid_input("ftruncate past the largest offset"));
        }
        Ok(RawOp::Ftruncate { fd: raw(&self.fd), len: self.len })
    }
}

/// How a file or memory range will be accessed: the hint of [`Fadvise`] and [`Madvise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// No particular pattern (the default).
    Normal,
    /// Read from start to end: read ahead more.
    Sequential,
    /// Random access: do not read ahead.
    Random,
    /// Will be needed soon: start reading it in.
    WillNeed,
    /// Not needed soon: its cache may go. For [`Madvise`] on private anonymous memory
    /// (the heap) this **discards** the contents on Linux: the pages read as zeros after.
    DontNeed,
}

impl Advice {
    /// The `POSIX_FADV_*` value, where the platform has `posix_fadvise`.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "wasi"))]
    fn fadvise(self) -> i32 {
        match self {
            Advice::Normal => libc::POSIX_FADV_NORMAL,
            Advice::Sequential => libc::POSIX_FADV_SEQUENTIAL,
            Advice::Random => libc::POSIX_FADV_RANDOM,
            Advice::WillNeed => libc::POSIX_FADV_WILLNEED,
            Advice::DontNeed => libc::POSIX_FADV_DONTNEED,
        }
    }
    /// The `MADV_*` value, where the platform has `madvise`.
    #[cfg(all(unix, not(target_os = "wasi")))]
    fn madvise(self) -> i32 {
        match self {
            Advice::Normal => libc::MADV_NORMAL,
            Advice::Sequential => libc::MADV_SEQUENTIAL,
            Advice::Random => libc::MADV_RANDOM,
            Advice::WillNeed => libc::MADV_WILLNEED,
            Advice::DontNeed => libc::MADV_DONTNEED,
        }
    }
}

/// Tells the kernel how a byte range of a file will be read (`posix_fadvise(2)`), so that it
/// reads ahead, or drops cached pages, accordingly. A `len` of 0 means "to the end of the
/// file". The length is 32 bits wide, as io_uring's `IORING_OP_FADVISE` takes it.
///
/// Linux, FreeBSD and WASI; elsewhere (macOS, Windows) queueing it fails with
/// `ErrorKind::Unsupported`.
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use corio_aio::op;
/// let file = std::fs::File::open("/proc/self/exe")?;
/// corio_aio::single(op::Fadvise::new(&file, 0, 0, op::Advice::Sequential))?;
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "wasi")),
    allow(dead_code)
)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Fadvise<'a> {
    fd: Target<'a>,
    offset: u64,
    len: u32,
    advice: Advice,
}

impl<'a> Fadvise<'a> {
    /// Advises on `len` bytes (0: to the end) of `file` from `offset`.
    pub fn new(file: &'a impl AsTarget, offset: u64, len: u32, advice: Advice) -> Self {
        Fadvise { fd: target(file), offset, len, advice }
    }
}

impl Prepare for Fadvise<'_> {
    const NAME: &'static str = Facts::Fadvise.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "wasi"))]
        return Ok(RawOp::Fadvise {
            fd: self.fd.raw(),
            offset: self.offset,
            len: self.len,
            advice: self.advice.fadvise(),
        });
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "wasi")))]
        return Err(unsupported("posix_fadvise is not available on this platform"));
    }
}

/// Tells the kernel how a range of this process's memory will be used (`madvise(2)`).
///
/// The region is borrowed mutably because [`Advice::DontNeed`] may discard its contents. It
/// must start on a page boundary and span whole pages (the kernel rounds a length up to a
/// page, which would reach memory past the slice): otherwise queueing fails with
/// `ErrorKind::InvalidInput`. Its length is 32 bits wide, as io_uring's `IORING_OP_MADVISE`
/// takes it. Unix only: on Windows and WASI queueing it fails with `ErrorKind::Unsupported`.
///
/// ```
/// # #[cfg(unix)] {
/// use corio_aio::op;
/// let page = 1 << 16; // 64 KiB: a multiple of the page size on common systems
/// let mut memory = vec![0u8; page * 3];
/// // The page-aligned middle part of the vector.
/// let start = memory.as_ptr().align_offset(page);
/// let region = &mut memory[start..start + page];
/// corio_aio::single(op::Madvise::new(region, op::Advice::WillNeed))?;
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[cfg_attr(not(all(unix, not(target_os = "wasi"))), allow(dead_code))]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Madvise<'a> {
    region: &'a mut [u8],
    advice: Advice,
}

impl<'a> Madvise<'a> {
    /// Advises on the whole pages of `region`.
    pub fn new(region: &'a mut [u8], advice: Advice) -> Self {
        Madvise { region, advice }
    }
}

impl Prepare for Madvise<'_> {
    const NAME: &'static str = Facts::Madvise.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        #[cfg(all(unix, not(target_os = "wasi")))]
        {
            // SAFETY: sysconf only reads a system value.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
            let addr = self.region.as_mut_ptr();
            let len = u32::try_from(self.region.len()).map_err(|_| invalid_input("madvise of 4 GiB or more"))?;
            if self.region.is_empty()
                || !(addr as usize).is_multiple_of(page)
                || !self.region.len().is_multiple_of(page)
            {
                return Err(invalid_input("madvise needs a region of whole pages"));
            }
            Ok(RawOp::Madvise { addr, len, advice: self.advice.madvise() })
        }
        #[cfg(not(all(unix, not(target_os = "wasi"))))]
        return Err(unsupported("madvise is Unix-only"));
    }
}

unit_output!(Close, Fallocate<'a>, Ftruncate<'a>, Fadvise<'a>, Madvise<'a>);
