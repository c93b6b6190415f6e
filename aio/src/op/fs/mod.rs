//! Filesystem ops: [`OpenAt`], [`Close`], [`RenameAt`], [`UnlinkAt`], [`MkdirAt`],
//! [`SymlinkAt`], [`LinkAt`], [`Statx`], [`Fallocate`], [`Ftruncate`], [`Fadvise`],
//! [`Madvise`], [`GetXattr`], [`SetXattr`].
//!
//! Where a platform lacks an op (or an option), queueing it fails with
//! `ErrorKind::Unsupported` before anything runs; each op's docs say where.
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

use std::io;
use std::path::Path;

use crate::error::invalid_input;
use crate::raw::RawFd;
use crate::sys::{self, Borrowed, NativePath, raw};

mod file;
mod path;
mod stat;
mod xattr;

pub use file::*;
pub use path::*;
// Read by the emulations of `fstatat` (not Linux, which takes `statx_at_flags`).
pub use stat::{FileStat, Statx};
#[cfg_attr(target_os = "linux", allow(unused_imports))]
pub(crate) use stat::{STAT_NOFOLLOW, STAT_SELF};
#[cfg(target_os = "linux")]
pub(crate) use stat::{STATX_MASK, statx_at_flags};
#[cfg(target_os = "linux")]
pub(crate) use xattr::xattr_syscall;
pub use xattr::{GetXattr, SetXattr};

/// `path` as a NUL-terminated string for the kernel; a NUL inside is `InvalidInput`.
pub(crate) fn c_path(path: &Path) -> io::Result<NativePath> {
    sys::native_path(path).ok_or_else(|| invalid_input("path contains a NUL byte"))
}

/// The directory a relative path is resolved against (on Windows, by path: see the module
/// docs).
pub(super) fn dir_fd(dir: Option<Borrowed<'_>>) -> io::Result<RawFd> {
    match dir {
        None => Ok(sys::AT_FDCWD),
        Some(d) if cfg!(windows) && raw(&d) == sys::AT_FDCWD => Err(invalid_input("a null directory handle")),
        Some(d) => Ok(raw(&d)),
    }
}

/// `ErrorKind::Unsupported`, for an op (or an option) this platform lacks: refused when queued.
#[cold]
pub(super) fn unsupported(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, what)
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
            /// Empties slot `slot` of the registered file table, closing its file.
            CloseFixed { slot: u32 } = { name: "close", ..Facts::DEFAULT };
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
            /// Old and new path in [`OpState::Paths`](crate::raw::OpState::Paths); `flags`:
            /// `AT_SYMLINK_FOLLOW` or 0. `io_uring/fs.c` completes it without failing the link.
            LinkAt { old_dir: crate::raw::RawFd, new_dir: crate::raw::RawFd, flags: i32 }
                = { name: "linkat", error_fails_link: false, ..Facts::DEFAULT };
            /// Attribute name in [`OpState::Path`](crate::raw::OpState::Path) for an open file
            /// `fd`; name and path in [`OpState::Paths`](crate::raw::OpState::Paths) for a path
            /// (`fd` is then `AT_FDCWD`). `io_uring/xattr.c` completes without failing the link.
            GetXattr { fd: crate::raw::RawFd, value: *mut u8, len: u32 }
                = { name: "getxattr", output: Output::Len, error_fails_link: false, ..Facts::DEFAULT };
            /// As `GetXattr`; `flags`: `XATTR_CREATE`, `XATTR_REPLACE` or 0.
            SetXattr { fd: crate::raw::RawFd, value: *const u8, len: u32, flags: i32 }
                = { name: "setxattr", error_fails_link: false, ..Facts::DEFAULT };
            /// Path in [`OpState::Path`](crate::raw::OpState::Path) (empty with `STAT_SELF`);
            /// the metadata lands in `*buf`.
            Statx { dir: crate::raw::RawFd, flags: i32, buf: *mut crate::op::FileStat }
                = { name: "statx", error_fails_link: false, ..Facts::DEFAULT };
            /// `mode` is Linux's `FALLOC_FL_*` (0 elsewhere). As in `io_uring/sync.c`, an
            /// error does not fail the link.
            Fallocate { fd: crate::raw::RawFd, offset: u64, len: u64, mode: i32 }
                = { name: "fallocate", error_fails_link: false, ..Facts::DEFAULT } fixed fd;
            /// `io_uring/truncate.c` completes without failing the link.
            Ftruncate { fd: crate::raw::RawFd, len: u64 }
                = { name: "ftruncate", error_fails_link: false, ..Facts::DEFAULT };
            /// `advice` is the platform's `POSIX_FADV_*`. `io_uring/advise.c` fails the link
            /// on an error (`req_set_fail`), unlike its neighbours.
            Fadvise { fd: crate::raw::RawFd, offset: u64, len: u32, advice: i32 }
                = { name: "fadvise", ..Facts::DEFAULT } fixed fd;
            /// `advice` is the platform's `MADV_*`; whole pages (`Madvise::prepare` checks).
            /// `io_uring/advise.c` completes it without failing the link.
            Madvise { addr: *mut u8, len: u32, advice: i32 }
                = { name: "madvise", error_fails_link: false, ..Facts::DEFAULT };
        }
    };
}
pub(crate) use fs_ops;
