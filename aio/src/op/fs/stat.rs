//! File metadata: [`Statx`] and the [`FileStat`] it fills.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{c_path, dir_fd};
use crate::op::RawOp;
use crate::op::sealed::Prepare;
use crate::op::table::Facts;
use crate::op::unit_output;
use crate::raw::OpState;
use crate::sys::{AsSource, Borrowed, borrow};

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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let dir = dir_fd(self.dir)?;
        state.fill(OpState::Path(c_path(self.path)?));
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
    #[must_use]
    pub fn len(&self) -> u64 {
        self.0.len
    }
    /// Whether it is a regular file.
    #[must_use]
    pub fn is_file(&self) -> bool {
        !self.is_dir() && !self.0.symlink
    }
    /// Whether it is a directory.
    #[must_use]
    pub fn is_dir(&self) -> bool {
        self.0.attributes & 0x10 != 0 && !self.0.symlink // FILE_ATTRIBUTE_DIRECTORY
    }
    /// Whether it is a symbolic link (only with [`Statx::no_follow`]).
    #[must_use]
    pub fn is_symlink(&self) -> bool {
        self.0.symlink
    }
    /// The last modification time.
    #[must_use]
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
