//! Ops on paths: [`OpenAt`], [`RenameAt`], [`UnlinkAt`], [`MkdirAt`], [`SymlinkAt`],
//! [`LinkAt`].

use std::fs::File;
use std::io;
use std::path::Path;

use super::{c_path, dir_fd};
use crate::error::invalid_input;
use crate::op::RawOp;
use crate::op::sealed::Prepare;
use crate::op::table::Facts;
use crate::op::unit_output;
use crate::raw::OpState;
use crate::sys::{self, AsSource, Borrowed, borrow};

/// Opens (and optionally creates) a file; returns it as a [`File`].
///
/// Defaults: read-only, no create, `O_CLOEXEC`, mode `0o666` (less the umask) for new files.
/// The builder mirrors [`std::fs::OpenOptions`].
///
/// ```
/// use corio_aio::op::OpenAt;
/// let path = std::env::temp_dir().join("corio-doc-openat");
/// let file = corio_aio::single(OpenAt::new(&path).write(true).create(true))?;
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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let flags = self.flags()?;
        let dir = dir_fd(self.dir)?;
        state.fill(OpState::Path(c_path(self.path)?));
        // Windows has no permission bits: its `mode` carries the custom `CreateFileW` flags.
        let mode = if cfg!(windows) { self.custom_flags as u32 } else { self.mode };
        Ok(RawOp::OpenAt { dir, flags, mode })
    }
}

impl crate::op::Op for OpenAt<'_> {
    type Output = File;
    fn output(value: crate::Value) -> io::Result<File> {
        match value {
            #[cfg(not(windows))]
            crate::Value::Fd(fd) => Ok(File::from(fd)),
            #[cfg(windows)]
            crate::Value::Handle(h) => Ok(File::from(h)),
            _ => Err(crate::op::mismatch()),
        }
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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Paths(c_path(self.old)?, c_path(self.new)?));
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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Path(c_path(self.path)?));
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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Path(c_path(self.path)?));
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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Paths(c_path(self.target)?, c_path(self.link)?));
        Ok(RawOp::SymlinkAt { dir: dir_fd(self.dir)? })
    }
}

/// Creates a hard link: a second name `new` for the file at `old` (`linkat(2)`). Fails with
/// `ErrorKind::AlreadyExists` if `new` exists. A symbolic link at `old` is linked itself,
/// unless [`follow`](LinkAt::follow) is set.
///
/// On io_uring before Linux 5.15 (no `IORING_OP_LINKAT`) the ring runs `linkat(2)` on its own
/// thread when the op starts. On Windows: `CreateHardLinkW`, which never follows a link
/// (`follow` fails to queue there with `ErrorKind::Unsupported`).
///
/// ```
/// use corio_aio::op::LinkAt;
/// let dir = std::env::temp_dir();
/// let (old, new) = (dir.join("corio-doc-linkat-a"), dir.join("corio-doc-linkat-b"));
/// # let _ = std::fs::remove_file(&new);
/// std::fs::write(&old, b"shared")?;
/// corio_aio::single(LinkAt::new(&old, &new))?;
/// assert_eq!(std::fs::read(&new)?, b"shared");
/// # std::fs::remove_file(&old)?;
/// # std::fs::remove_file(&new)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct LinkAt<'a> {
    old_dir: Option<Borrowed<'a>>,
    old: &'a Path,
    new_dir: Option<Borrowed<'a>>,
    new: &'a Path,
    follow: bool,
}

impl<'a> LinkAt<'a> {
    /// Links `new` to the file at `old`.
    pub fn new(old: &'a (impl AsRef<Path> + ?Sized), new: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        LinkAt { old_dir: None, old: old.as_ref(), new_dir: None, new: new.as_ref(), follow: false }
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
    /// Links the target of a symbolic link at `old` rather than the link (`AT_SYMLINK_FOLLOW`).
    pub fn follow(mut self) -> Self {
        self.follow = true;
        self
    }
}

impl Prepare for LinkAt<'_> {
    const NAME: &'static str = Facts::LinkAt.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        if self.follow && cfg!(windows) {
            return Err(super::unsupported("Windows hard links never follow a symbolic link"));
        }
        let (old_dir, new_dir) = (dir_fd(self.old_dir)?, dir_fd(self.new_dir)?);
        state.fill(OpState::Paths(c_path(self.old)?, c_path(self.new)?));
        let flags = if self.follow { sys::AT_SYMLINK_FOLLOW } else { 0 };
        Ok(RawOp::LinkAt { old_dir, new_dir, flags })
    }
}

unit_output!(RenameAt<'a>, UnlinkAt<'a>, MkdirAt<'a>, SymlinkAt<'a>, LinkAt<'a>);
