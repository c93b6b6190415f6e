//! The blocking form of every op that goes to the worker pool ([`perform_blocking`]).

use std::os::fd::RawFd;

use super::ops::{iovec, rw};
use super::syscall::result;
use crate::op::RawOp;
use crate::raw::OpState;

/// Runs `op` to completion, blocking the calling (worker) thread.
///
/// # Safety
///
/// As [`attempt`](super::ops::attempt).
pub(super) unsafe fn perform_blocking(op: &RawOp, state: *mut OpState) -> i32 {
    // SAFETY: the caller guarantees exclusive access to the op's state.
    let state = unsafe { &mut *state };
    let rw_result = |r: Result<i32, i32>| r.unwrap_or_else(|e| -e);
    // SAFETY: the op's buffers, iovecs, paths and addresses are valid
    // (caller); the rest are plain syscalls on descriptor numbers.
    unsafe {
        match *op {
            RawOp::Read { fd, buf, len, offset } => rw_result(rw(fd, &iovec(buf, len), 1, offset, false, 0)),
            RawOp::Write { fd, buf, len, offset } => rw_result(rw(fd, &iovec(buf, len), 1, offset, true, 0)),
            RawOp::Readv { fd, iov, iovcnt, offset } => rw_result(rw(fd, iov, iovcnt, offset, false, 0)),
            RawOp::Writev { fd, iov, iovcnt, offset } => rw_result(rw(fd, iov, iovcnt, offset, true, 0)),
            RawOp::ReadTty { fd, buf, len } => result(libc::read(fd, buf.cast(), len as usize)),
            RawOp::Fsync { fd, datasync } => result(fsync(fd, datasync) as isize),
            RawOp::OpenAt { dir, flags, mode } => {
                let OpState::Path(path) = state else { return -libc::EINVAL };
                result(libc::openat(dir, path.as_ptr(), flags, mode) as isize)
            }
            RawOp::Close { fd } => result(libc::close(fd) as isize),
            RawOp::RenameAt { old_dir, new_dir, flags } => {
                let OpState::Paths(old, new) = state else { return -libc::EINVAL };
                rename(old_dir, old, new_dir, new, flags & crate::raw::RENAME_NOREPLACE != 0)
            }
            RawOp::UnlinkAt { dir, flags } => {
                let OpState::Path(path) = state else { return -libc::EINVAL };
                result(libc::unlinkat(dir, path.as_ptr(), flags) as isize)
            }
            RawOp::MkdirAt { dir, mode } => {
                let OpState::Path(path) = state else { return -libc::EINVAL };
                result(libc::mkdirat(dir, path.as_ptr(), mode as libc::mode_t) as isize)
            }
            RawOp::SymlinkAt { dir } => {
                let OpState::Paths(target, link) = state else { return -libc::EINVAL };
                result(libc::symlinkat(target.as_ptr(), dir, link.as_ptr()) as isize)
            }
            RawOp::LinkAt { old_dir, new_dir, flags } => {
                let OpState::Paths(old, new) = state else { return -libc::EINVAL };
                result(libc::linkat(old_dir, old.as_ptr(), new_dir, new.as_ptr(), flags) as isize)
            }
            #[cfg(target_os = "linux")]
            RawOp::GetXattr { .. } | RawOp::SetXattr { .. } => crate::op::fs::xattr_syscall(op, state),
            RawOp::Statx { dir, flags, buf } => {
                let OpState::Path(path) = state else { return -libc::EINVAL };
                result(stat(dir, path, flags, buf) as isize)
            }
            RawOp::Fallocate { fd, offset, len, mode } => fallocate(fd, offset, len, mode),
            RawOp::Ftruncate { fd, len } => result(libc::ftruncate(fd, len as libc::off_t) as isize),
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "wasi"))]
            RawOp::Fadvise { fd, offset, len, advice } => {
                // Returns the error number itself, not -1.
                -libc::posix_fadvise(fd, offset as libc::off_t, len as libc::off_t, advice)
            }
            #[cfg(not(target_os = "wasi"))]
            RawOp::Madvise { addr, len, advice } => result(libc::madvise(addr.cast(), len as usize, advice) as isize),
            #[cfg(not(target_os = "wasi"))]
            RawOp::Socket { domain, ty, protocol } => super::sock::socket(domain, ty, protocol),
            #[cfg(not(target_os = "wasi"))]
            RawOp::Bind { fd } => super::sock::bind(fd, state),
            #[cfg(not(target_os = "wasi"))]
            RawOp::Listen { fd, backlog } => super::sock::listen(fd, backlog),
            #[cfg(target_os = "linux")]
            RawOp::Splice { fd_in, mut off_in, fd_out, mut off_out, len, flags } => {
                let pin = if off_in < 0 { std::ptr::null_mut() } else { &raw mut off_in };
                let pout = if off_out < 0 { std::ptr::null_mut() } else { &raw mut off_out };
                result(libc::splice(fd_in, pin, fd_out, pout, len as usize, flags))
            }
            #[cfg(not(any(target_os = "linux", target_os = "wasi")))]
            RawOp::ChildExit { pid } => {
                let OpState::Child(child) = state else { return -libc::EINVAL };
                let mut status = 0;
                loop {
                    let r = libc::waitpid(pid as libc::pid_t, &mut status, 0);
                    if r >= 0 {
                        child.wait_status = Some(status);
                        return 0;
                    }
                    if super::syscall::errno() != libc::EINTR {
                        return -super::syscall::errno();
                    }
                }
            }
            _ => -libc::EOPNOTSUPP,
        }
    }
}

/// `fallocate(2)` on Linux; elsewhere its default mode (the typed op refuses others): space
/// for the range, the file grown to cover it. Returns the op's result.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(unused_variables))]
#[cfg_attr(target_os = "wasi", allow(unused_unsafe))]
fn fallocate(fd: RawFd, offset: u64, len: u64, mode: i32) -> i32 {
    let (start, len) = (offset as libc::off_t, len as libc::off_t);
    // SAFETY: plain syscalls on a descriptor number (and a local `fstore_t`/`stat`).
    unsafe {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return result(libc::fallocate(fd, mode, start, len) as isize);
        // Returns the error number itself, not -1.
        #[cfg(target_os = "freebsd")]
        return -libc::posix_fallocate(fd, start, len);
        // Space past the file's physical end, then the end moved over it (holes inside the
        // file stay holes: macOS has no call to fill them).
        #[cfg(target_vendor = "apple")]
        {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) < 0 {
                return -super::syscall::errno();
            }
            let end = start + len;
            if st.st_size >= end {
                return 0;
            }
            let mut store = libc::fstore_t {
                fst_flags: libc::F_ALLOCATEALL,
                fst_posmode: libc::F_PEOFPOSMODE,
                fst_offset: 0,
                fst_length: end - st.st_size,
                fst_bytesalloc: 0,
            };
            if libc::fcntl(fd, libc::F_PREALLOCATE, &mut store) < 0 {
                return -super::syscall::errno();
            }
            result(libc::ftruncate(fd, end) as isize)
        }
        // The typed op refuses to queue there.
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_vendor = "apple")))]
        -libc::EOPNOTSUPP
    }
}

fn fsync(fd: RawFd, datasync: bool) -> libc::c_int {
    // SAFETY: plain syscalls on a descriptor number.
    unsafe {
        #[cfg(not(target_vendor = "apple"))]
        if datasync {
            return libc::fdatasync(fd);
        }
        #[cfg(target_vendor = "apple")]
        let _ = datasync;
        libc::fsync(fd)
    }
}

/// `renameat`, failing with `EEXIST` if `noreplace` and the new path exists: atomically on
/// Linux (`renameat2`) and Apple systems (`renameatx_np`), by a racy check elsewhere. Returns
/// the op's result.
fn rename(old_dir: RawFd, old: &std::ffi::CStr, new_dir: RawFd, new: &std::ffi::CStr, noreplace: bool) -> i32 {
    // SAFETY: the paths are NUL-terminated strings that outlive the calls.
    let r = unsafe {
        #[cfg(target_os = "linux")]
        {
            let flags = if noreplace { libc::RENAME_NOREPLACE } else { 0 };
            libc::syscall(libc::SYS_renameat2, old_dir, old.as_ptr(), new_dir, new.as_ptr(), flags) as isize
        }
        #[cfg(target_vendor = "apple")]
        {
            let flags = if noreplace { libc::RENAME_EXCL } else { 0 };
            libc::renameatx_np(old_dir, old.as_ptr(), new_dir, new.as_ptr(), flags) as isize
        }
        #[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
        {
            let mut st: libc::stat = std::mem::zeroed();
            if noreplace && libc::fstatat(new_dir, new.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0 {
                return -libc::EEXIST;
            }
            libc::renameat(old_dir, old.as_ptr(), new_dir, new.as_ptr()) as isize
        }
    };
    result(r)
}

/// `statx(2)` into a `FileStat` (a transparent `struct statx` on Linux).
///
/// # Safety
///
/// `buf` is valid for writes.
#[cfg(target_os = "linux")]
unsafe fn stat(dir: RawFd, path: &std::ffi::CStr, flags: i32, buf: *mut crate::op::FileStat) -> i32 {
    let at = crate::op::fs::statx_at_flags(flags);
    // SAFETY: a NUL-terminated path and a buffer valid for a `struct statx` (caller).
    unsafe { libc::statx(dir, path.as_ptr(), at, crate::op::fs::STATX_MASK, buf.cast()) }
}

/// `fstatat(2)` (`fstat(2)` for the descriptor itself) into a `FileStat` (a transparent
/// `struct stat` here).
///
/// # Safety
///
/// `buf` is valid for writes.
#[cfg(not(target_os = "linux"))]
unsafe fn stat(dir: RawFd, path: &std::ffi::CStr, flags: i32, buf: *mut crate::op::FileStat) -> i32 {
    // SAFETY: a NUL-terminated path and a buffer valid for a `struct stat` (caller).
    unsafe {
        if flags & crate::op::fs::STAT_SELF != 0 {
            return libc::fstat(dir, buf.cast());
        }
        let at = if flags & crate::op::fs::STAT_NOFOLLOW != 0 { libc::AT_SYMLINK_NOFOLLOW } else { 0 };
        libc::fstatat(dir, path.as_ptr(), buf.cast(), at)
    }
}
