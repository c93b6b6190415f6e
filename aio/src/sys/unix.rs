//! Unix and WASI: descriptors. Every name resolves to exactly what the crate used before the
//! platform layer existed, so the io_uring and posix backends see no change.

use std::os::fd::AsRawFd;
pub(crate) use std::os::fd::{AsFd as AsSource, BorrowedFd as Borrowed, OwnedFd as Owned, RawFd as RawSource};

/// An owned socket (a new or accepted one).
#[cfg(not(target_os = "wasi"))]
pub(crate) type OwnedSocket = Owned;

#[cfg(target_os = "wasi")]
pub(crate) use super::wasi_net::{MSG_PEEK, MSG_WAITALL, SHUT_RD, SHUT_RDWR, SHUT_WR};
#[cfg(test)]
pub(crate) use libc::EBADF;
pub(crate) use libc::{EALREADY, ECANCELED, EINVAL, ENOENT};
#[cfg(not(target_os = "wasi"))]
pub(crate) use libc::{MSG_PEEK, MSG_WAITALL, SHUT_RD, SHUT_RDWR, SHUT_WR};

/// The result code of a timer that fired (`-ETIME`, as io_uring reports it); `ETIMEDOUT`
/// where the OS has no `ETIME` (BSDs, WASI).
#[cfg(not(any(target_os = "freebsd", target_os = "dragonfly", target_os = "openbsd", target_os = "wasi")))]
pub(crate) const ETIME: i32 = libc::ETIME;
#[cfg(any(target_os = "freebsd", target_os = "dragonfly", target_os = "openbsd", target_os = "wasi"))]
pub(crate) const ETIME: i32 = libc::ETIMEDOUT;

/// One buffer of a vectored op (`IoSlice` and `IoSliceMut` are ABI-compatible with it).
pub(crate) type IoVec = libc::iovec;

/// A path as a path op's state keeps it: NUL-terminated, for the `*at` syscalls.
pub(crate) type NativePath = std::ffi::CString;

pub(crate) fn borrow<T: AsSource + ?Sized>(source: &T) -> Borrowed<'_> {
    source.as_fd()
}

pub(crate) fn raw(source: &Borrowed<'_>) -> RawSource {
    source.as_raw_fd()
}

pub(crate) fn iov_len(iov: &IoVec) -> usize {
    iov.iov_len
}

/// Closes a descriptor that an op owned but never used.
///
/// # Safety
///
/// `fd` is open and owned by the caller, and is not used afterwards.
pub(crate) unsafe fn close_raw(fd: RawSource) {
    // SAFETY: as the caller guarantees.
    unsafe { libc::close(fd) };
}

pub(crate) fn into_raw(owned: Owned) -> RawSource {
    std::os::fd::IntoRawFd::into_raw_fd(owned)
}

/// `Poll` event bits.
pub(crate) const POLLIN: u32 = libc::POLLIN as u32;
#[cfg(not(target_os = "wasi"))]
pub(crate) const POLLPRI: u32 = libc::POLLPRI as u32;
pub(crate) const POLLOUT: u32 = libc::POLLOUT as u32;
pub(crate) const POLLERR: u32 = libc::POLLERR as u32;
pub(crate) const POLLHUP: u32 = libc::POLLHUP as u32;

/// Open flags and `*at` constants, as the syscalls take them.
pub(crate) use libc::{
    AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY,
    O_RDWR, O_TRUNC, O_WRONLY,
};

/// A path op's path, NUL-terminated.
pub(crate) fn native_path(path: &std::path::Path) -> Option<NativePath> {
    #[cfg(unix)]
    use std::os::unix::ffi::OsStrExt;
    #[cfg(target_os = "wasi")]
    use std::os::wasi::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).ok()
}
