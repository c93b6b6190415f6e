//! Filesystem ops: [`OpenAt`], [`Close`], [`RenameAt`], [`UnlinkAt`], [`MkdirAt`],
//! [`SymlinkAt`], [`Statx`].
//!
//! Paths are relative to the current directory unless a directory is given with `.dir(&d)`
//! (any open directory, e.g. a `File` from [`OpenAt::directory`]). Each path op copies its
//! path into a NUL-terminated string when queued (one allocation per path); a path holding a
//! NUL byte is rejected with `ErrorKind::InvalidInput`.
//!
//! Windows has no `*at` calls: there the IOCP driver's worker pool looks up the path of the
//! `.dir(..)` handle (`GetFinalPathNameByHandleW`) and joins the relative path to it. Unlike
//! `openat` this is **not race-free**: a directory renamed, or replaced by another (e.g. a
//! link), between the lookup and the call redirects the op. There `mode` is ignored, and files
//! are opened for overlapped IO.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use super::unit_output;
use crate::error::invalid_input;
use crate::raw::{OpState, RawFd};
use crate::sys::{self, AsSource, Borrowed, NativePath, borrow, raw};

pub(crate) fn c_path(path: &Path) -> io::Result<NativePath> {
    sys::native_path(path).ok_or_else(|| invalid_input("path contains a NUL byte"))
}

/// The directory a relative path is resolved against (on Windows, by path: see the module
/// docs).
fn dir_fd(dir: Option<Borrowed<'_>>) -> io::Result<RawFd> {
    match dir {
        None => Ok(sys::AT_FDCWD),
        Some(d) if cfg!(windows) && raw(&d) == sys::AT_FDCWD => Err(invalid_input("a null directory handle")),
        Some(d) => Ok(raw(&d)),
    }
}

/// Opens (and optionally creates) a file; returns it as a [`File`].
///
/// Defaults: read-only, no create, `O_CLOEXEC`, mode `0o666` (less the umask) for new files.
/// The builder mirrors [`std::fs::OpenOptions`].
///
/// ```
/// use corio_aio::op;
/// let path = std::env::temp_dir().join("corio-doc-openat");
/// let file = corio_aio::single(op::OpenAt::new(&path).write(true).create(true))?;
/// assert!(file.metadata()?.is_file());
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct OpenAt<'a> {
    dir: Option<Borrowed<'a>>,
    path: &'a Path,
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    directory: bool,
    custom_flags: i32,
    mode: u32,
}

impl<'a> OpenAt<'a> {
    /// Opens `path` for reading.
    pub fn new(path: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        OpenAt {
            dir: None,
            path: path.as_ref(),
            read: true,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            directory: false,
            custom_flags: 0,
            mode: 0o666,
        }
    }
    /// Resolves a relative path against directory `dir` instead of the current directory.
    pub fn dir(mut self, dir: &'a impl AsSource) -> Self {
        self.dir = Some(borrow(dir));
        self
    }
    /// Opens for reading (default `true`).
    pub fn read(mut self, yes: bool) -> Self {
        self.read = yes;
        self
    }
    /// Opens for writing.
    pub fn write(mut self, yes: bool) -> Self {
        self.write = yes;
        self
    }
    /// Opens for appending (implies writing).
    pub fn append(mut self, yes: bool) -> Self {
        self.append = yes;
        self
    }
    /// Truncates the file to length 0 (needs writing).
    pub fn truncate(mut self, yes: bool) -> Self {
        self.truncate = yes;
        self
    }
    /// Creates the file if it does not exist (needs writing or appending).
    pub fn create(mut self, yes: bool) -> Self {
        self.create = yes;
        self
    }
    /// Creates the file, failing with `AlreadyExists` if it exists.
    pub fn create_new(mut self, yes: bool) -> Self {
        self.create_new = yes;
        self
    }
    /// Opens a directory (`O_DIRECTORY`), e.g. to use as `.dir(..)` of other ops.
    pub fn directory(mut self) -> Self {
        self.directory = true;
        self
    }
    /// The permission bits of a newly created file (default `0o666`, less the umask).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// Extra `O_*` flags or-ed in (e.g. `O_NOFOLLOW`, `O_DIRECT`); access mode bits are
    /// ignored. On Windows: `FILE_FLAG_*` and file attribute bits for `CreateFileW`, as
    /// std's `OpenOptionsExt::custom_flags` (files are opened `FILE_FLAG_OVERLAPPED` anyway).
    pub fn custom_flags(mut self, flags: i32) -> Self {
        self.custom_flags = if cfg!(windows) { flags } else { flags & !sys::O_ACCMODE };
        self
    }

    fn flags(&self) -> io::Result<i32> {
        let writes = self.write || self.append;
        let access = match (self.read, writes) {
            (true, false) => sys::O_RDONLY,
            (false, true) => sys::O_WRONLY,
            (true, true) => sys::O_RDWR,
            (false, false) if self.directory => sys::O_RDONLY,
            (false, false) => return Err(invalid_input("open needs read, write or append")),
        };
        if (self.truncate || self.create || self.create_new) && !writes {
            return Err(invalid_input("create and truncate need write or append"));
        }
        let mut flags = access | sys::O_CLOEXEC;
        if cfg!(not(windows)) {
            flags |= self.custom_flags;
        }
        if self.append {
            flags |= sys::O_APPEND;
        }
        if self.truncate {
            flags |= sys::O_TRUNC;
        }
        if self.create_new {
            flags |= sys::O_CREAT | sys::O_EXCL;
        } else if self.create {
            flags |= sys::O_CREAT;
        }
        if self.directory {
            flags |= sys::O_DIRECTORY;
        }
        Ok(flags)
    }
}

impl Prepare for OpenAt<'_> {
    const NAME: &'static str = Facts::OpenAt.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let flags = self.flags()?;
        let dir = dir_fd(self.dir)?;
        *state = OpState::Path(c_path(self.path)?);
        // Windows has no permission bits: its `mode` carries the custom `CreateFileW` flags.
        let mode = if cfg!(windows) { self.custom_flags as u32 } else { self.mode };
        Ok(RawOp::OpenAt { dir, flags, mode })
    }
}

impl super::Op for OpenAt<'_> {
    type Output = File;
    fn output(value: crate::Value) -> io::Result<File> {
        match value {
            #[cfg(not(windows))]
            crate::Value::Fd(fd) => Ok(File::from(fd)),
            #[cfg(windows)]
            crate::Value::Handle(h) => Ok(File::from(h)),
            _ => Err(super::mismatch()),
        }
    }
}

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
    fd: sys::Owned,
}

impl Close {
    /// Closes `fd` (on Windows anything that converts into an `OwnedSource`: a file, a
    /// socket, an event source).
    pub fn new(fd: impl Into<sys::Owned>) -> Self {
        Close { fd: fd.into() }
    }
}

impl Prepare for Close {
    const NAME: &'static str = Facts::Close.name;
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Ok(RawOp::Close { fd: sys::into_raw(self.fd) })
    }
}

/// Renames a file or directory. By default it never replaces: if the new path exists it fails
/// with `ErrorKind::AlreadyExists`; [`replace`](RenameAt::replace) allows replacing.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct RenameAt<'a> {
    old_dir: Option<Borrowed<'a>>,
    old: &'a Path,
    new_dir: Option<Borrowed<'a>>,
    new: &'a Path,
    replace: bool,
}

impl<'a> RenameAt<'a> {
    /// Renames `old` to `new`.
    pub fn new(old: &'a (impl AsRef<Path> + ?Sized), new: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        RenameAt { old_dir: None, old: old.as_ref(), new_dir: None, new: new.as_ref(), replace: false }
    }
    /// Resolves `old` against `dir`.
    pub fn old_dir(mut self, dir: &'a impl AsSource) -> Self {
        self.old_dir = Some(borrow(dir));
        self
    }
    /// Resolves `new` against `dir`.
    pub fn new_dir(mut self, dir: &'a impl AsSource) -> Self {
        self.new_dir = Some(borrow(dir));
        self
    }
    /// Replaces an existing `new` (like `rename(2)`).
    pub fn replace(mut self) -> Self {
        self.replace = true;
        self
    }
}

impl Prepare for RenameAt<'_> {
    const NAME: &'static str = Facts::RenameAt.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Paths(c_path(self.old)?, c_path(self.new)?);
        let flags = if self.replace { 0 } else { crate::raw::RENAME_NOREPLACE };
        Ok(RawOp::RenameAt { old_dir: dir_fd(self.old_dir)?, new_dir: dir_fd(self.new_dir)?, flags })
    }
}

/// Removes a file, or with [`directory`](UnlinkAt::directory) an empty directory.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct UnlinkAt<'a> {
    dir: Option<Borrowed<'a>>,
    path: &'a Path,
    remove_dir: bool,
}

impl<'a> UnlinkAt<'a> {
    /// Removes the file `path`.
    pub fn new(path: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        UnlinkAt { dir: None, path: path.as_ref(), remove_dir: false }
    }
    /// Resolves `path` against `dir`.
    pub fn dir(mut self, dir: &'a impl AsSource) -> Self {
        self.dir = Some(borrow(dir));
        self
    }
    /// Removes an empty directory instead of a file (`AT_REMOVEDIR`).
    pub fn directory(mut self) -> Self {
        self.remove_dir = true;
        self
    }
}

impl Prepare for UnlinkAt<'_> {
    const NAME: &'static str = Facts::UnlinkAt.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Path(c_path(self.path)?);
        let flags = if self.remove_dir { sys::AT_REMOVEDIR } else { 0 };
        Ok(RawOp::UnlinkAt { dir: dir_fd(self.dir)?, flags })
    }
}

/// Creates a directory (mode `0o777` less the umask by default).
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct MkdirAt<'a> {
    dir: Option<Borrowed<'a>>,
    path: &'a Path,
    mode: u32,
}

impl<'a> MkdirAt<'a> {
    /// Creates directory `path`.
    pub fn new(path: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        MkdirAt { dir: None, path: path.as_ref(), mode: 0o777 }
    }
    /// Resolves `path` against `dir`.
    pub fn dir(mut self, dir: &'a impl AsSource) -> Self {
        self.dir = Some(borrow(dir));
        self
    }
    /// Permission bits of the new directory.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
}

impl Prepare for MkdirAt<'_> {
    const NAME: &'static str = Facts::MkdirAt.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Path(c_path(self.path)?);
        Ok(RawOp::MkdirAt { dir: dir_fd(self.dir)?, mode: self.mode })
    }
}

/// Creates a symbolic link at `link` pointing to `target` (which need not exist).
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct SymlinkAt<'a> {
    target: &'a Path,
    dir: Option<Borrowed<'a>>,
    link: &'a Path,
}

impl<'a> SymlinkAt<'a> {
    /// Creates `link` → `target`.
    pub fn new(target: &'a (impl AsRef<Path> + ?Sized), link: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        SymlinkAt { target: target.as_ref(), dir: None, link: link.as_ref() }
    }
    /// Resolves `link` against `dir`.
    pub fn dir(mut self, dir: &'a impl AsSource) -> Self {
        self.dir = Some(borrow(dir));
        self
    }
}

impl Prepare for SymlinkAt<'_> {
    const NAME: &'static str = Facts::SymlinkAt.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Paths(c_path(self.target)?, c_path(self.link)?);
        Ok(RawOp::SymlinkAt { dir: dir_fd(self.dir)? })
    }
}

unit_output!(Close, RenameAt<'a>, UnlinkAt<'a>, MkdirAt<'a>, SymlinkAt<'a>);

/// Reads a file's metadata into a [`FileStat`]: `statx(2)` on Linux, `fstatat(2)` (or `fstat`)
/// on other Unix systems and WASI, `std::fs::metadata` on Windows. Follows a final symbolic
/// link unless [`no_follow`](Statx::no_follow) is set.
///
/// ```
/// use corio_aio::op;
/// let path = std::env::temp_dir().join("corio-doc-statx");
/// std::fs::write(&path, b"12345")?;
/// let mut stat = op::FileStat::default();
/// corio_aio::single(op::Statx::new(&path, &mut stat))?;
/// assert!(stat.is_file() && stat.len() == 5);
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Statx<'a> {
    dir: Option<Borrowed<'a>>,
    path: &'a Path,
    flags: i32,
    stat: &'a mut FileStat,
}

/// [`RawOp::Statx`] flag: do not follow a final symbolic link. Backends translate it.
pub(crate) const STAT_NOFOLLOW: i32 = 1;
/// [`RawOp::Statx`] flag: the op's directory is the file itself (the path is empty).
pub(crate) const STAT_SELF: i32 = 2;

/// What a Linux `statx` (io_uring's or the syscall) asks for: every basic field and the birth
/// time.
#[cfg(target_os = "linux")]
pub(crate) const STATX_MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

/// `statx`'s `AT_*` flags for a [`RawOp::Statx`]'s flags, as io_uring and the syscall take them.
#[cfg(target_os = "linux")]
pub(crate) fn statx_at_flags(flags: i32) -> i32 {
    let mut at = libc::AT_STATX_SYNC_AS_STAT;
    if flags & STAT_NOFOLLOW != 0 {
        at |= libc::AT_SYMLINK_NOFOLLOW;
    }
    if flags & STAT_SELF != 0 {
        at |= libc::AT_EMPTY_PATH;
    }
    at
}

impl<'a> Statx<'a> {
    /// Reads the metadata of `path` into `stat`.
    pub fn new(path: &'a (impl AsRef<Path> + ?Sized), stat: &'a mut FileStat) -> Self {
        Statx { dir: None, path: path.as_ref(), flags: 0, stat }
    }
    /// Reads the metadata of an open file or directory (as `fstat(2)`).
    pub fn file(file: &'a impl AsSource, stat: &'a mut FileStat) -> Self {
        Statx { dir: Some(borrow(file)), path: Path::new(""), flags: STAT_SELF, stat }
    }
    /// Resolves a relative path against `dir` (no effect after [`file`](Statx::file), which
    /// names the file itself).
    pub fn dir(mut self, dir: &'a impl AsSource) -> Self {
        if self.flags & STAT_SELF == 0 {
            self.dir = Some(borrow(dir));
        }
        self
    }
    /// Reports on a final symbolic link itself (as `lstat(2)`) instead of its target.
    pub fn no_follow(mut self) -> Self {
        self.flags |= STAT_NOFOLLOW;
        self
    }
}

impl Prepare for Statx<'_> {
    const NAME: &'static str = Facts::Statx.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let dir = dir_fd(self.dir)?;
        *state = OpState::Path(c_path(self.path)?);
        Ok(RawOp::Statx { dir, flags: self.flags, buf: std::ptr::from_mut(self.stat) })
    }
}

unit_output!(Statx<'a>);

#[cfg(target_os = "linux")]
type StatBuf = libc::statx;
#[cfg(all(not(target_os = "linux"), not(windows)))]
type StatBuf = libc::stat;

/// What Windows reports of a file (from `std::fs::Metadata`).
#[cfg(windows)]
#[derive(Clone, Copy, Default)]
struct StatBuf {
    len: u64,
    attributes: u32,
    /// Whether the file is a symbolic link (a reparse point of that kind).
    symlink: bool,
    /// 100 ns intervals since 1601 (`FILETIME`), 0 if unknown.
    times: [u64; 3],
}

/// File metadata, filled by a [`Statx`] op: `struct statx` on Linux, `struct stat` on other
/// Unix systems and WASI, the fields of `std::fs::Metadata` on Windows.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct FileStat(StatBuf);

impl Default for FileStat {
    fn default() -> Self {
        // SAFETY: the platform's stat structures are plain old data; all-zero is valid.
        FileStat(unsafe { std::mem::zeroed() })
    }
}

impl std::fmt::Debug for FileStat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStat").field("len", &self.len()).field("dir", &self.is_dir()).finish_non_exhaustive()
    }
}

#[cfg(not(windows))]
#[allow(clippy::len_without_is_empty)] // as `std::fs::Metadata::len`
#[allow(clippy::unnecessary_cast)] // `mode_t` is `u16` on macOS, `u32` elsewhere
impl FileStat {
    /// The file's type and permission bits (`st_mode`).
    #[must_use]
    pub fn mode(&self) -> u32 {
        #[cfg(target_os = "linux")]
        return u32::from(self.0.stx_mode);
        #[cfg(not(target_os = "linux"))]
        #[allow(clippy::unnecessary_cast)] // `mode_t` is `u16` on macOS
        return self.0.st_mode as u32;
    }
    /// The size in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        #[cfg(target_os = "linux")]
        return self.0.stx_size;
        #[cfg(not(target_os = "linux"))]
        return self.0.st_size as u64;
    }
    fn kind(&self) -> u32 {
        self.mode() & libc::S_IFMT as u32
    }
    /// Whether it is a regular file.
    #[must_use]
    pub fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG as u32
    }
    /// Whether it is a directory.
    #[must_use]
    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR as u32
    }
    /// Whether it is a symbolic link (only with [`Statx::no_follow`]).
    #[must_use]
    pub fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK as u32
    }
    /// The last modification time.
    #[must_use]
    pub fn modified(&self) -> SystemTime {
        #[cfg(target_os = "linux")]
        return unix_time(self.0.stx_mtime.tv_sec, self.0.stx_mtime.tv_nsec as i64);
        #[cfg(target_os = "wasi")]
        return unix_time(self.0.st_mtim.tv_sec, self.0.st_mtim.tv_nsec.into());
        #[cfg(not(any(target_os = "linux", target_os = "wasi")))]
        return unix_time(self.0.st_mtime as i64, self.0.st_mtime_nsec as i64);
    }
}

#[cfg(not(windows))]
fn unix_time(sec: i64, nsec: i64) -> SystemTime {
    let since = |s: i64| Duration::new(s.unsigned_abs(), 0);
    let t = if sec >= 0 { SystemTime::UNIX_EPOCH + since(sec) } else { SystemTime::UNIX_EPOCH - since(sec) };
    t + Duration::from_nanos(nsec.clamp(0, 999_999_999) as u64)
}

#[cfg(windows)]
#[allow(clippy::len_without_is_empty)] // as `std::fs::Metadata::len`
impl FileStat {
    /// The file's attributes (`FILE_ATTRIBUTE_*`).
    pub fn attributes(&self) -> u32 {
        self.0.attributes
    }
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.0.len
    }
    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        !self.is_dir() && !self.0.symlink
    }
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.0.attributes & 0x10 != 0 && !self.0.symlink // FILE_ATTRIBUTE_DIRECTORY
    }
    /// Whether it is a symbolic link (only with [`Statx::no_follow`]).
    pub fn is_symlink(&self) -> bool {
        self.0.symlink
    }
    /// The last modification time.
    pub fn modified(&self) -> SystemTime {
        // FILETIME counts 100 ns intervals from 1601-01-01, 11,644,473,600 s before 1970.
        let since_1601 = Duration::from_nanos(self.0.times[2].saturating_mul(100));
        SystemTime::UNIX_EPOCH - Duration::from_secs(11_644_473_600) + since_1601
    }

    /// What a Windows worker learned of a file (`Statx` on the IOCP backend).
    pub(crate) fn from_metadata(meta: &std::fs::Metadata) -> FileStat {
        use std::os::windows::fs::MetadataExt;
        FileStat(StatBuf {
            len: meta.file_size(),
            attributes: meta.file_attributes(),
            symlink: meta.file_type().is_symlink(),
            times: [meta.creation_time(), meta.last_access_time(), meta.last_write_time()],
        })
    }
}

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! fs_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// Path in [`OpState::Path`](crate::raw::OpState::Path).
            OpenAt { dir: crate::raw::RawFd, flags: i32, mode: u32 }
                = { name: "openat", output: Output::File, ..Facts::DEFAULT };
            /// Consumes `fd`: whoever drops a `Close` that never ran closes it
            /// (`dynamic::release_unstarted`).
            Close { fd: crate::raw::RawFd } = { name: "close", ..Facts::DEFAULT };
            /// Paths in [`OpState::Paths`](crate::raw::OpState::Paths).
            RenameAt { old_dir: crate::raw::RawFd, new_dir: crate::raw::RawFd, flags: u32 }
                = { name: "renameat", error_fails_link: false, ..Facts::DEFAULT };
            /// Path in [`OpState::Path`](crate::raw::OpState::Path).
            UnlinkAt { dir: crate::raw::RawFd, flags: i32 }
                = { name: "unlinkat", error_fails_link: false, ..Facts::DEFAULT };
            /// Path in [`OpState::Path`](crate::raw::OpState::Path).
            MkdirAt { dir: crate::raw::RawFd, mode: u32 }
                = { name: "mkdirat", error_fails_link: false, ..Facts::DEFAULT };
            /// Target and link path in [`OpState::Paths`](crate::raw::OpState::Paths).
            SymlinkAt { dir: crate::raw::RawFd }
                = { name: "symlinkat", error_fails_link: false, ..Facts::DEFAULT };
            /// Path in [`OpState::Path`](crate::raw::OpState::Path) (empty with `STAT_SELF`);
            /// the metadata lands in `*buf`.
            Statx { dir: crate::raw::RawFd, flags: i32, buf: *mut crate::op::fs::FileStat }
                = { name: "statx", error_fails_link: false, ..Facts::DEFAULT };
        }
    };
}
pub(crate) use fs_ops;
