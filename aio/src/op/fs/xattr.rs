//! Extended attributes (Linux only): [`GetXattr`], [`SetXattr`].
//!
//! A name carries its namespace (`user.`, `trusted.`, `security.`, `system.`). Off Linux the
//! ops fail to queue with `ErrorKind::Unsupported`. On io_uring before Linux 5.19 (no
//! `IORING_OP_*XATTR`) the ring runs the syscalls on its own thread when the op starts.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use super::c_path;
use crate::op::RawOp;
use crate::op::sealed::Prepare;
use crate::op::table::Facts;
use crate::op::{len_output, unit_output};
use crate::raw::{OpState, RawFd};
use crate::sys::{self, AsSource, Borrowed, borrow, raw};

/// The file an xattr op names: a path (followed if a symbolic link) or an open file.
#[derive(Debug)]
enum Target<'a> {
    Path(&'a Path),
    File(Borrowed<'a>),
}

/// Fills the op's state (the name, then the path if any) and returns its descriptor
/// (`AT_FDCWD` for a path).
fn target(target: Target<'_>, name: &OsStr, state: &mut OpState) -> io::Result<RawFd> {
    if cfg!(not(target_os = "linux")) {
        return Err(super::unsupported("extended attributes are Linux-only here"));
    }
    let name = c_path(Path::new(name))?;
    match target {
        Target::Path(path) => {
            state.fill(OpState::Paths(name, c_path(path)?));
            Ok(sys::AT_FDCWD)
        }
        Target::File(fd) => {
            state.fill(OpState::Path(name));
            Ok(raw(&fd))
        }
    }
}

/// Reads the value of extended attribute `name` into a buffer; returns its length. With an
/// empty buffer it returns the value's length only; with a buffer too small it fails with
/// `ERANGE`. A missing attribute fails with `ENODATA`.
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use corio_aio::op;
/// let path = std::env::temp_dir().join("corio-doc-getxattr");
/// std::fs::write(&path, b"")?;
/// // Not every file system has user attributes (tmpfs before 6.6 does not).
/// if corio_aio::single(op::SetXattr::new(&path, "user.color", b"blue")).is_ok() {
///     let mut value = [0u8; 16];
///     let len = corio_aio::single(op::GetXattr::new(&path, "user.color", &mut value))?;
///     assert_eq!(&value[..len], b"blue");
/// }
/// # std::fs::remove_file(&path)?;
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct GetXattr<'a> {
    target: Target<'a>,
    name: &'a OsStr,
    value: &'a mut [u8],
}

impl<'a> GetXattr<'a> {
    /// Reads attribute `name` of the file at `path` (a symbolic link is followed).
    pub fn new(
        path: &'a (impl AsRef<Path> + ?Sized),
        name: &'a (impl AsRef<OsStr> + ?Sized),
        value: &'a mut [u8],
    ) -> Self {
        GetXattr { target: Target::Path(path.as_ref()), name: name.as_ref(), value }
    }
    /// Reads attribute `name` of an open file.
    pub fn file(file: &'a impl AsSource, name: &'a (impl AsRef<OsStr> + ?Sized), value: &'a mut [u8]) -> Self {
        GetXattr { target: Target::File(borrow(file)), name: name.as_ref(), value }
    }
}

impl Prepare for GetXattr<'_> {
    const NAME: &'static str = Facts::GetXattr.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let fd = target(self.target, self.name, state)?;
        let len = self.value.len().min(u32::MAX as usize) as u32;
        Ok(RawOp::GetXattr { fd, value: self.value.as_mut_ptr(), len })
    }
}

/// Sets extended attribute `name` of a file to a value, creating or replacing it (see
/// [`create`](SetXattr::create) and [`replace`](SetXattr::replace)).
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use corio_aio::op::SetXattr;
/// let path = std::env::temp_dir().join("corio-doc-setxattr");
/// let file = std::fs::File::create(&path)?;
/// // Not every file system has user attributes (tmpfs before 6.6 does not).
/// let _ = corio_aio::single(SetXattr::file(&file, "user.origin", b"corio"));
/// # std::fs::remove_file(&path)?;
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct SetXattr<'a> {
    target: Target<'a>,
    name: &'a OsStr,
    value: &'a [u8],
    flags: i32,
}

impl<'a> SetXattr<'a> {
    /// Sets attribute `name` of the file at `path` (a symbolic link is followed).
    pub fn new(path: &'a (impl AsRef<Path> + ?Sized), name: &'a (impl AsRef<OsStr> + ?Sized), value: &'a [u8]) -> Self {
        SetXattr { target: Target::Path(path.as_ref()), name: name.as_ref(), value, flags: 0 }
    }
    /// Sets attribute `name` of an open file.
    pub fn file(file: &'a impl AsSource, name: &'a (impl AsRef<OsStr> + ?Sized), value: &'a [u8]) -> Self {
        SetXattr { target: Target::File(borrow(file)), name: name.as_ref(), value, flags: 0 }
    }
    /// Fails with `ErrorKind::AlreadyExists` if the attribute exists (`XATTR_CREATE`).
    pub fn create(mut self) -> Self {
        self.flags = XATTR_CREATE;
        self
    }
    /// Fails with `ENODATA` if the attribute does not exist (`XATTR_REPLACE`).
    pub fn replace(mut self) -> Self {
        self.flags = XATTR_REPLACE;
        self
    }
}

/// `<sys/xattr.h>`'s flags (the same on every Linux architecture).
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

impl Prepare for SetXattr<'_> {
    const NAME: &'static str = Facts::SetXattr.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let fd = target(self.target, self.name, state)?;
        let len = u32::try_from(self.value.len())
            .map_err(|_| crate::error::invalid_input("an extended attribute value of 4 GiB or more"))?;
        Ok(RawOp::SetXattr { fd, value: self.value.as_ptr(), len, flags: self.flags })
    }
}

len_output!(GetXattr<'a>);
unit_output!(SetXattr<'a>);

/// Runs a [`RawOp::GetXattr`] or [`RawOp::SetXattr`] as its syscall (`fgetxattr` on an open
/// file, `getxattr` on a path, and so on); returns the op's result (a negative errno on
/// failure). The one translation, for the io_uring fallback and the posix worker.
///
/// # Safety
///
/// `state` is the op's (as its `prepare` filled it), and its value buffer is valid.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn xattr_syscall(op: &RawOp, state: &OpState) -> i32 {
    // SAFETY: NUL-terminated name and path from the op's state; the value buffer is valid for
    // `len` bytes (caller).
    let r = unsafe {
        match (*op, state) {
            (RawOp::GetXattr { fd, value, len }, OpState::Path(name)) => {
                libc::fgetxattr(fd, name.as_ptr(), value.cast(), len as usize)
            }
            (RawOp::GetXattr { value, len, .. }, OpState::Paths(name, path)) => {
                libc::getxattr(path.as_ptr(), name.as_ptr(), value.cast(), len as usize)
            }
            (RawOp::SetXattr { fd, value, len, flags }, OpState::Path(name)) => {
                libc::fsetxattr(fd, name.as_ptr(), value.cast(), len as usize, flags) as isize
            }
            (RawOp::SetXattr { value, len, flags, .. }, OpState::Paths(name, path)) => {
                libc::setxattr(path.as_ptr(), name.as_ptr(), value.cast(), len as usize, flags) as isize
            }
            _ => return -libc::EINVAL,
        }
    };
    if r < 0 {
        -io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
    } else {
        r.min(i32::MAX as isize) as i32
    }
}
