//! Files with the names and signatures of [`std::fs`]: [`File`], [`OpenOptions`], [`read`],
//! [`read_to_string`], [`write()`], [`create_dir`], [`create_dir_all`], [`remove_file`],
//! [`remove_dir`], [`rename`], `symlink` (Unix) and [`metadata`].
//!
//! Inside a task each call that touches the disk is an op run through [`crate::io`] (open,
//! read, write, fsync, mkdir, unlink, rename, symlink), so the task parks while the kernel
//! works and the other tasks run; outside a task every call is the std call. Calls without a
//! matching op ([`metadata`], [`File::set_len`], [`File::metadata`], seeking) are the std
//! calls everywhere; they do not wait for the disk in the common case (metadata is cached).
//!
//! [`File`] implements [`Read`], [`Write`] and [`Seek`] (also on `&File`, like std's), with
//! vectored IO, and `FileExt` for positional reads and writes.
//!
//! # Windows
//!
//! Opening is the std call there even inside a task: aio's `OpenAt` opens files for
//! overlapped IO, which have no file position and which std's calls on the same `File`
//! (outside tasks, seeking) cannot drive. On the synchronous handle std opens, aio runs
//! reads, writes and syncs on its worker pool at the file position, as std's calls do, and
//! the task parks meanwhile. As std's on Windows, vectored reads and writes use the first
//! non-empty buffer only (aio's `Readv`/`Writev` are for sockets there), `FileExt` is
//! `std::os::windows::fs::FileExt` (`seek_read`/`seek_write`, which move the position),
//! the descriptor traits are the handle traits (and aio's `AsSource`), and there is no
//! `symlink` and no `OpenOptionsExt`.
//!
//! ```
//! use corio_coro::{Scheduler, fs};
//! let dir = std::env::temp_dir().join(format!("corio-fs-doc-{}", std::process::id()));
//! let scheduler = Scheduler::new()?;
//! let d = dir.clone();
//! let task = scheduler.spawn(move || {
//!     fs::create_dir_all(d.join("a/b"))?;
//!     fs::write(d.join("a/b/f"), "hello")?;
//!     fs::read_to_string(d.join("a/b/f"))
//! });
//! assert_eq!(task.join()?, "hello");
//! std::fs::remove_dir_all(&dir)?;
//! # std::io::Result::Ok(())
//! ```

use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
#[cfg(unix)]
use std::os::unix::fs::{FileExt, OpenOptionsExt};
#[cfg(windows)]
use std::os::windows::fs::FileExt;
use std::path::Path;

use corio_aio::op::{Fsync, MkdirAt, RenameAt, UnlinkAt};
#[cfg(unix)]
use corio_aio::op::{OpenAt, SymlinkAt};

use crate::in_task;

/// An open file, like [`std::fs::File`]; inside a task its reads, writes and syncs park the
/// task.
#[derive(Debug)]
pub struct File {
    inner: std::fs::File,
}

impl File {
    /// Opens `path` read-only.
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens `path` write-only, creating it or truncating it.
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().write(true).create(true).truncate(true).open(path)
    }

    /// Creates `path` read-write; fails if it exists.
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).create_new(true).open(path)
    }

    /// A fresh [`OpenOptions`].
    #[must_use]
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Flushes data and metadata to the device (`fsync`).
    pub fn sync_all(&self) -> io::Result<()> {
        if in_task() { crate::io::single(Fsync::new(&self.inner)) } else { self.inner.sync_all() }
    }

    /// Flushes the data to the device (`fdatasync`).
    pub fn sync_data(&self) -> io::Result<()> {
        if in_task() { crate::io::single(Fsync::new(&self.inner).data_only()) } else { self.inner.sync_data() }
    }

    /// Truncates or extends the file (the std call).
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.inner.set_len(size)
    }

    /// The file's metadata (the std call).
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.inner.metadata()
    }

    /// A new handle to the same open file (shares the position).
    pub fn try_clone(&self) -> io::Result<File> {
        Ok(File { inner: self.inner.try_clone()? })
    }

    /// Changes the permissions (the std call).
    pub fn set_permissions(&self, perm: std::fs::Permissions) -> io::Result<()> {
        self.inner.set_permissions(perm)
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !in_task() || buf.is_empty() {
            return (&self.inner).read(buf);
        }
        crate::io::single(corio_aio::op::Read::new(&self.inner, buf))
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        if !in_task() || bufs.iter().all(|b| b.is_empty()) {
            return (&self.inner).read_vectored(bufs);
        }
        // Windows: aio's `Readv` is for sockets; the first non-empty buffer, as std does there.
        #[cfg(windows)]
        return self.read(bufs.iter_mut().find(|b| !b.is_empty()).expect("checked above"));
        #[cfg(unix)]
        {
            let mut local: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            crate::io::single(corio_aio::op::Readv::new(&self.inner, &mut local))
        }
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !in_task() || buf.is_empty() {
            return (&self.inner).write(buf);
        }
        crate::io::single(corio_aio::op::Write::new(&self.inner, buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !in_task() || bufs.iter().all(|b| b.is_empty()) {
            return (&self.inner).write_vectored(bufs);
        }
        // Windows: aio's `Writev` is for sockets; the first non-empty buffer, as std does there.
        #[cfg(windows)]
        return self.write(bufs.iter().find(|b| !b.is_empty()).expect("checked above"));
        #[cfg(unix)]
        crate::io::single(corio_aio::op::Writev::new(&self.inner, bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&self.inner).seek(pos)
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

#[cfg(unix)]
impl FileExt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if !in_task() || buf.is_empty() {
            return self.inner.read_at(buf, offset);
        }
        crate::io::single(corio_aio::op::Read::new(&self.inner, buf).offset(offset))
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if !in_task() || buf.is_empty() {
            return self.inner.write_at(buf, offset);
        }
        crate::io::single(corio_aio::op::Write::new(&self.inner, buf).offset(offset))
    }
}

/// As [`std::os::windows::fs::FileExt`]: positional reads and writes that move the file
/// position, as std's do on Windows.
#[cfg(windows)]
impl FileExt for File {
    fn seek_read(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if !in_task() || buf.is_empty() {
            return self.inner.seek_read(buf, offset);
        }
        crate::io::single(corio_aio::op::Read::new(&self.inner, buf).offset(offset))
    }
    fn seek_write(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if !in_task() || buf.is_empty() {
            return self.inner.seek_write(buf, offset);
        }
        crate::io::single(corio_aio::op::Write::new(&self.inner, buf).offset(offset))
    }
}

#[cfg(unix)]
mod fd {
    use super::*;

    impl AsFd for File {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.inner.as_fd()
        }
    }

    impl AsRawFd for File {
        fn as_raw_fd(&self) -> RawFd {
            self.inner.as_raw_fd()
        }
    }

    impl IntoRawFd for File {
        fn into_raw_fd(self) -> RawFd {
            self.inner.into_raw_fd()
        }
    }

    impl FromRawFd for File {
        /// # Safety
        ///
        /// As for [`std::fs::File::from_raw_fd`]: `fd` must be an open descriptor the caller owns.
        unsafe fn from_raw_fd(fd: RawFd) -> File {
            // SAFETY: forwarded to the caller's promise.
            File { inner: unsafe { std::fs::File::from_raw_fd(fd) } }
        }
    }

    impl From<OwnedFd> for File {
        fn from(fd: OwnedFd) -> File {
            File { inner: fd.into() }
        }
    }

    impl From<File> for OwnedFd {
        fn from(f: File) -> OwnedFd {
            f.inner.into()
        }
    }
}

#[cfg(windows)]
mod handle {
    use std::os::windows::io::RawHandle;
    use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, IntoRawHandle, OwnedHandle};

    use super::File;

    impl AsHandle for File {
        fn as_handle(&self) -> BorrowedHandle<'_> {
            self.inner.as_handle()
        }
    }

    impl AsRawHandle for File {
        fn as_raw_handle(&self) -> RawHandle {
            self.inner.as_raw_handle()
        }
    }

    impl IntoRawHandle for File {
        fn into_raw_handle(self) -> RawHandle {
            self.inner.into_raw_handle()
        }
    }

    impl FromRawHandle for File {
        /// # Safety
        ///
        /// As for [`std::fs::File::from_raw_handle`]: `handle` must be an open file handle
        /// the caller owns.
        unsafe fn from_raw_handle(handle: RawHandle) -> File {
            // SAFETY: forwarded to the caller's promise.
            File { inner: unsafe { std::fs::File::from_raw_handle(handle) } }
        }
    }

    impl From<OwnedHandle> for File {
        fn from(handle: OwnedHandle) -> File {
            File { inner: handle.into() }
        }
    }

    impl From<File> for OwnedHandle {
        fn from(f: File) -> OwnedHandle {
            f.inner.into()
        }
    }

    impl corio_aio::AsSource for File {
        fn as_source(&self) -> corio_aio::BorrowedSource<'_> {
            self.inner.as_source()
        }
    }
}

impl From<std::fs::File> for File {
    fn from(inner: std::fs::File) -> File {
        File { inner }
    }
}

impl From<File> for std::fs::File {
    fn from(f: File) -> std::fs::File {
        f.inner
    }
}

/// How to open a file, like [`std::fs::OpenOptions`] (with Unix's `OpenOptionsExt`'s `mode`
/// and `custom_flags`; not on Windows).
///
/// ```
/// use corio_coro::fs::OpenOptions;
/// let path = std::env::temp_dir().join(format!("corio-oo-doc-{}", std::process::id()));
/// let file = OpenOptions::new().write(true).create_new(true).open(&path)?;
/// assert!(file.metadata()?.is_file());
/// std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    #[cfg(unix)]
    mode: u32,
    #[cfg(unix)]
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off (mode `0o666`).
    #[must_use]
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            #[cfg(unix)]
            mode: 0o666,
            #[cfg(unix)]
            custom_flags: 0,
        }
    }
    /// Read access.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }
    /// Write access.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }
    /// Append mode (implies write access).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }
    /// Truncate to length 0 when opened.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }
    /// Create the file if missing.
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }
    /// Create the file; fail if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }
    /// Opens `path` with these options.
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        // On Windows also in a task: see the module docs.
        if !in_task() || cfg!(windows) {
            return self.std().open(path).map(File::from);
        }
        #[cfg(unix)]
        return self.open_in_task(path.as_ref());
        #[cfg(windows)]
        unreachable!("opened above");
    }

    /// `OpenAt` with these options.
    #[cfg(unix)]
    fn open_in_task(&self, path: &Path) -> io::Result<File> {
        // Validate exactly as std does (the op's own checks differ in wording only).
        if !self.read && !self.write && !self.append {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let op = OpenAt::new(path)
            .read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .create(self.create)
            .create_new(self.create_new)
            .mode(self.mode)
            .custom_flags(self.custom_flags);
        crate::io::single(op).map(File::from)
    }

    fn std(&self) -> std::fs::OpenOptions {
        let mut o = std::fs::OpenOptions::new();
        o.read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .create(self.create)
            .create_new(self.create_new);
        #[cfg(unix)]
        o.mode(self.mode).custom_flags(self.custom_flags);
        o
    }
}

#[cfg(unix)]
impl OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }
    fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }
}

/// Reads a whole file.
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut bytes = Vec::with_capacity(size);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads a whole UTF-8 file.
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let mut file = File::open(path)?;
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut s = String::with_capacity(size);
    file.read_to_string(&mut s)?;
    Ok(s)
}

/// Writes `contents` to `path`, creating or truncating it.
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    File::create(path)?.write_all(contents.as_ref())
}

/// Creates a directory (mode `0o777` less the umask).
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    if !in_task() {
        return std::fs::create_dir(path);
    }
    crate::io::single(MkdirAt::new(path.as_ref()).mode(0o777))
}

/// Creates a directory and every missing parent; succeeds if it already is a directory.
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    if !in_task() {
        return std::fs::create_dir_all(path);
    }
    let path = path.as_ref();
    if path == Path::new("") {
        return Ok(());
    }
    match create_dir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) if path.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    match path.parent() {
        Some(parent) => create_dir_all(parent)?,
        None => return Err(io::Error::other("failed to create whole tree")),
    }
    match create_dir(path) {
        Ok(()) => Ok(()),
        Err(_) if path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a file (or a symlink).
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    if !in_task() {
        return std::fs::remove_file(path);
    }
    crate::io::single(UnlinkAt::new(path.as_ref()))
}

/// Removes an empty directory.
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    if !in_task() {
        return std::fs::remove_dir(path);
    }
    crate::io::single(UnlinkAt::new(path.as_ref()).directory())
}

/// Renames `from` to `to`, replacing `to` if it exists (as `rename(2)`).
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    if !in_task() {
        return std::fs::rename(from, to);
    }
    crate::io::single(RenameAt::new(from.as_ref(), to.as_ref()).replace())
}

/// Creates a symbolic link `link` pointing at `original` (as
/// [`std::os::unix::fs::symlink`]). Unix only, as std's.
#[cfg(unix)]
pub fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    if !in_task() {
        return std::os::unix::fs::symlink(original, link);
    }
    crate::io::single(SymlinkAt::new(original.as_ref(), link.as_ref()))
}

/// A path's metadata, following symlinks (the std call everywhere: there is no stat op).
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<std::fs::Metadata> {
    std::fs::metadata(path)
}
