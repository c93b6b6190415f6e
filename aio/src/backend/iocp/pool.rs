//! The IOCP driver's worker pool, for ops with no overlapped form: opens, mkdirs, renames,
//! unlinks, symlinks, fsyncs, and reads and writes of handles opened for synchronous IO.
//!
//! Workers (2–4, started with the first job) take jobs from a pre-sized queue under a mutex
//! and post each result to the port as a packet (the result in the byte count, the slot's
//! `OVERLAPPED` as its tag), so the loop learns of it in its one wait. The posix backend's pool
//! (`posix/pool.rs`) is not shared: it keeps a result list and wakes an epoll loop, where here
//! the packet is both; the two share the shape (queue, cancel of queued jobs, join on drop).
//!
//! A worker touches an op's memory only between taking the job and posting; the backend
//! contract keeps it valid until the op is reported, which follows the packet. A queued job
//! can be canceled (it never runs); a running one cannot.

use std::collections::VecDeque;
use std::fs::File;
use std::fs::OpenOptions;
use std::io;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{FromRawHandle, IntoRawHandle};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use windows_sys::Win32::Foundation::{CloseHandle, ERROR_ARITHMETIC_OVERFLOW, ERROR_IO_PENDING, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_END_OF_FILE_INFO, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OVERLAPPED, FILE_NAME_NORMALIZED, FILE_TYPE_DISK,
    FileEndOfFileInfo, FlushFileBuffers, GetFileSizeEx, GetFileType, GetFinalPathNameByHandleW,
    MOVEFILE_REPLACE_EXISTING, MoveFileExW, ReadFile, SetFileInformationByHandle, WriteFile,
};
use windows_sys::Win32::System::IO::{GetOverlappedResult, OVERLAPPED, PostQueuedCompletionStatus};
use windows_sys::Win32::System::Threading::CreateEventW;

use super::rw::{is_synchronous, sync_rw};
use super::{Io, KEY_POOL, eof_is_zero, last_error};
use crate::op::RawOp;
use crate::raw::{CURRENT_POS, OpState, RENAME_NOREPLACE};
use crate::sys::{self, IoVec, RawSource};

/// An op handed to the pool.
pub(super) struct Job {
    pub(super) slot: u32,
    pub(super) op: RawOp,
    pub(super) state: *mut OpState,
    /// The slot's `Io`: its `OVERLAPPED` tags the result packet (the pool never writes it).
    pub(super) io: *mut Io,
}

// SAFETY: a job's pointers reference op memory that the backend contract keeps valid and
// unused by the loop thread from the op's start until its completion is reported; the worker
// owning the job is the only one touching it meanwhile (handed over through the mutex).
unsafe impl Send for Job {}

struct Queue {
    jobs: VecDeque<Job>,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    /// The port, as a value: it outlives the workers (the driver drops the pool first).
    port: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    max_threads: usize,
}

impl Pool {
    pub(super) fn new(port: usize, capacity: usize) -> Pool {
        let max_threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue { jobs: VecDeque::with_capacity(capacity), stop: false }),
                work: Condvar::new(),
                port,
            }),
            threads: Vec::with_capacity(max_threads),
            max_threads,
        }
    }

    pub(super) fn max_threads(&self) -> usize {
        self.max_threads
    }

    /// Queues a job; if no worker can be started, runs it here and posts its packet.
    pub(super) fn submit(&mut self, job: Job) {
        while self.threads.len() < self.max_threads {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("corio-aio-iocp".into())
                .stack_size(256 * 1024)
                .spawn(move || worker(&shared));
            match spawned {
                Ok(handle) => self.threads.push(handle),
                Err(e) if self.threads.is_empty() => {
                    log::warn!("corio-aio: cannot start an iocp worker ({e}); running {} inline", job.op.name());
                    run(self.shared.port, job);
                    return;
                }
                Err(e) => {
                    log::warn!("corio-aio: cannot start another iocp worker: {e}");
                    self.max_threads = self.threads.len();
                }
            }
        }
        lock(&self.shared.queue).jobs.push_back(job);
        self.shared.work.notify_one();
    }

    /// Removes the job of `slot` if no worker has taken it yet.
    pub(super) fn cancel(&mut self, slot: u32) -> bool {
        let mut queue = lock(&self.shared.queue);
        let Some(i) = queue.jobs.iter().position(|j| j.slot == slot) else { return false };
        queue.jobs.remove(i);
        true
    }
}

impl Drop for Pool {
    /// Stops the workers without joining them: a pool dropped in a thread-local destructor
    /// (the immediate API's `Dynamic`) runs under the loader lock on Windows, which an exiting
    /// worker needs too, so a join would deadlock. Nothing is lost: the `Dynamic` reaped every
    /// op before dropping its backend, so no worker holds a job, and an idle worker touches
    /// only the shared queue (kept alive by its `Arc`) before it exits.
    fn drop(&mut self) {
        lock(&self.shared.queue).stop = true;
        self.shared.work.notify_all();
        self.threads.clear();
    }
}

fn worker(shared: &Shared) {
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.stop {
                    return;
                }
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        run(shared.port, job);
    }
}

/// Runs a job and posts its result.
fn run(port: usize, job: Job) {
    // SAFETY: the job's memory stays valid until its completion is reported, which follows
    // the packet posted below; no one else touches it meanwhile, but for the slot's stop
    // flag, which both sides only use atomically.
    let res = unsafe {
        match job.op {
            RawOp::Poll { fd, events } => super::poll::wait(fd, events, &(*job.io).stop),
            RawOp::ReadTty { fd, buf, len } => super::poll::read_tty(fd, buf, len, &(*job.io).stop),
            RawOp::ReadMulti { fd, .. } => super::read_multi::wait(fd, &(*job.io).stop),
            _ => perform(&job.op, &mut *job.state),
        }
    };
    // SAFETY: the port outlives the pool; the `OVERLAPPED` pointer is only carried.
    if unsafe { PostQueuedCompletionStatus(port as HANDLE, res as u32, KEY_POOL, job.io.cast()) } == 0 {
        log::error!("corio-aio: an iocp worker cannot post a completion: {}", io::Error::last_os_error());
    }
}

fn io_result(r: io::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => -e.raw_os_error().unwrap_or(sys::EIO),
    }
}

fn win32_result(ok: bool) -> i32 {
    if ok { 0 } else { -last_error() }
}

/// Runs `op` to completion, blocking the calling (worker) thread.
///
/// # Safety
///
/// The op's buffers are valid and the op's memory is not otherwise in use.
unsafe fn perform(op: &RawOp, state: &mut OpState) -> i32 {
    match (*op, state) {
        (RawOp::OpenAt { dir, flags, mode }, OpState::Path(path)) => at(dir, path, |p| open(p, flags, mode)),
        (RawOp::MkdirAt { dir, .. }, OpState::Path(path)) => at(dir, path, |p| io_result(std::fs::create_dir(p))),
        (RawOp::UnlinkAt { dir, flags }, OpState::Path(path)) if flags & sys::AT_REMOVEDIR != 0 => {
            at(dir, path, |p| io_result(std::fs::remove_dir(p)))
        }
        (RawOp::UnlinkAt { dir, .. }, OpState::Path(path)) => at(dir, path, |p| io_result(std::fs::remove_file(p))),
        (RawOp::RenameAt { old_dir, new_dir, flags }, OpState::Paths(old, new)) => at(old_dir, old, |old| {
            at(new_dir, new, |new| {
                let replace = if flags & RENAME_NOREPLACE != 0 { 0 } else { MOVEFILE_REPLACE_EXISTING };
                let (old, new) = (wide(old), wide(new));
                // SAFETY: two NUL-terminated wide strings that outlive the call.
                win32_result(unsafe { MoveFileExW(old.as_ptr(), new.as_ptr(), replace) } != 0)
            })
        }),
        // The target is stored as given: a relative one is relative to the link's directory.
        (RawOp::SymlinkAt { dir }, OpState::Paths(target, link)) => {
            at(dir, link, |link| io_result(std::os::windows::fs::symlink_file(target, link)))
        }
        // `follow` is refused when queued: a hard link to a symbolic link links the link.
        (RawOp::LinkAt { old_dir, new_dir, .. }, OpState::Paths(old, new)) => {
            at(old_dir, old, |old| at(new_dir, new, |new| io_result(std::fs::hard_link(old, new))))
        }
        (RawOp::Statx { dir, flags, buf }, OpState::Path(path)) => {
            let fill = |meta: io::Result<std::fs::Metadata>| match meta {
                Ok(meta) => {
                    // SAFETY: the op's buffer is valid for writes (caller).
                    unsafe { buf.write(crate::op::FileStat::from_metadata(&meta)) };
                    0
                }
                Err(e) => -e.raw_os_error().unwrap_or(sys::EIO),
            };
            if flags & crate::op::fs::STAT_SELF != 0 {
                // SAFETY: `dir` is the op's borrowed, open handle; the `File` never closes it.
                let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_handle(dir as HANDLE) });
                fill(file.metadata())
            } else if flags & crate::op::fs::STAT_NOFOLLOW != 0 {
                at(dir, path, |p| fill(std::fs::symlink_metadata(p)))
            } else {
                at(dir, path, |p| fill(std::fs::metadata(p)))
            }
        }
        // Only the default mode gets here (the typed op refuses the others off Linux).
        (RawOp::Fallocate { fd, offset, len, .. }, _) => grow_to(fd as HANDLE, offset.saturating_add(len)),
        (RawOp::Ftruncate { fd, len }, _) => set_end(fd as HANDLE, len),
        // SAFETY: a plain call on a borrowed handle.
        (RawOp::Fsync { fd, .. }, _) => win32_result(unsafe { FlushFileBuffers(fd as HANDLE) } != 0),
        // SAFETY: the buffers are valid (caller).
        (RawOp::Read { fd, buf, len, offset }, _) => unsafe { sync_rw(fd, buf, len, offset, false) },
        // SAFETY: as above.
        (RawOp::Write { fd, buf, len, offset }, _) => unsafe { sync_rw(fd, buf.cast_mut(), len, offset, true) },
        // SAFETY: the op's buffers are valid (caller).
        (RawOp::Readv { fd, iov, iovcnt, offset }, _) => unsafe { vectored(fd, iov, iovcnt, offset, false) },
        // SAFETY: as above.
        (RawOp::Writev { fd, iov, iovcnt, offset }, _) => unsafe { vectored(fd, iov, iovcnt, offset, true) },
        // An op with no Windows form (the typed ops refuse most of them when queued).
        _ => -sys::EOPNOTSUPP,
    }
}

/// Moves the end of file `h` to `len` (`ftruncate`): cuts it or extends it with zeros.
fn set_end(h: HANDLE, len: u64) -> i32 {
    let info = FILE_END_OF_FILE_INFO { EndOfFile: len as i64 };
    let size = size_of::<FILE_END_OF_FILE_INFO>() as u32;
    // SAFETY: a plain call on a borrowed handle, reading a local structure of `size` bytes.
    win32_result(unsafe { SetFileInformationByHandle(h, FileEndOfFileInfo, (&raw const info).cast(), size) } != 0)
}

/// `Fallocate`'s default mode on Windows: the file grown to `end` if shorter (NTFS reserves
/// the clusters of a file's extent), never cut.
fn grow_to(h: HANDLE, end: u64) -> i32 {
    let mut size = 0i64;
    // SAFETY: a plain call on a borrowed handle, writing a local.
    if unsafe { GetFileSizeEx(h, &mut size) } == 0 {
        return -last_error();
    }
    if size as u64 >= end { 0 } else { set_end(h, end) }
}

/// Runs `f` on `path` resolved against the directory handle `dir` (`AT_FDCWD`: as given).
/// Windows has no `*at` calls: the directory's path is looked up and `path` joined to it (an
/// absolute `path` replaces it, as with `openat`). Not race-free as `openat` is: a directory
/// renamed or replaced between the lookup and the call redirects the op.
fn at(dir: RawSource, path: &Path, f: impl FnOnce(&Path) -> i32) -> i32 {
    if dir == sys::AT_FDCWD {
        return f(path);
    }
    match dir_path(dir) {
        Ok(base) => f(&base.join(path)),
        Err(e) => -e.raw_os_error().unwrap_or(sys::EIO),
    }
}

/// The path of the open file or directory `h` (`GetFinalPathNameByHandleW`), without the
/// `\\?\` prefix, so that joining a relative path with `/` or `..` in it works as elsewhere.
fn dir_path(h: RawSource) -> io::Result<PathBuf> {
    let mut buf = vec![0u16; 512];
    loop {
        // SAFETY: writes at most `buf.len()` wide characters into `buf`; a plain query on a
        // borrowed handle.
        let n =
            unsafe { GetFinalPathNameByHandleW(h as HANDLE, buf.as_mut_ptr(), buf.len() as u32, FILE_NAME_NORMALIZED) }
                as usize;
        if n == 0 {
            return Err(io::Error::last_os_error());
        }
        if n < buf.len() {
            buf.truncate(n);
            break;
        }
        // Too small: `n` is the size needed, with the NUL.
        buf.resize(n, 0);
    }
    let verbatim: Vec<u16> = r"\\?\".encode_utf16().collect();
    let unc: Vec<u16> = r"\\?\UNC\".encode_utf16().collect();
    let plain = if buf.starts_with(&unc) {
        // `\\?\UNC\server\share` is `\\server\share`.
        let mut p: Vec<u16> = r"\\".encode_utf16().collect();
        p.extend_from_slice(&buf[unc.len()..]);
        p
    } else if buf.starts_with(&verbatim) && buf.get(verbatim.len() + 1) == Some(&u16::from(b':')) {
        buf[verbatim.len()..].to_vec()
    } else {
        buf
    };
    Ok(PathBuf::from(std::ffi::OsString::from_wide(&plain)))
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(std::iter::once(0)).collect()
}

/// Opens `path` for overlapped IO with the crate's `O_*` bits (see `sys::windows`) and the
/// custom `CreateFileW` flags in `custom`.
fn open(path: &Path, flags: i32, custom: u32) -> i32 {
    let access = flags & sys::O_ACCMODE;
    let mut options = OpenOptions::new();
    options
        .read(access == sys::O_RDONLY || access == sys::O_RDWR)
        .write(access == sys::O_WRONLY || access == sys::O_RDWR)
        .append(flags & sys::O_APPEND != 0)
        .truncate(flags & sys::O_TRUNC != 0)
        .create(flags & sys::O_CREAT != 0)
        .create_new(flags & sys::O_CREAT != 0 && flags & sys::O_EXCL != 0);
    let mut custom = custom | FILE_FLAG_OVERLAPPED;
    if flags & sys::O_DIRECTORY != 0 {
        // Directories open only with backup semantics.
        custom |= FILE_FLAG_BACKUP_SEMANTICS;
    }
    options.custom_flags(custom);
    match options.open(path) {
        Ok(file) => {
            let h = file.into_raw_handle() as usize;
            i32::try_from(h).unwrap_or_else(|_| {
                // SAFETY: the handle is ours; it cannot be reported (see `net::fit`).
                unsafe { sys::close_raw(h) };
                -(ERROR_ARITHMETIC_OVERFLOW as i32)
            })
        }
        Err(e) => -e.raw_os_error().unwrap_or(sys::EIO),
    }
}

/// A vectored read or write of a file, pipe or other non-socket handle: the buffers one after
/// the other, each at the offset where the previous one ended (or at the file position),
/// stopping at the first short transfer as `preadv` does. An error after some bytes moved
/// reports those bytes. A handle opened for synchronous IO is read with `sync_rw`; an
/// overlapped one with `overlapped_rw`.
///
/// # Safety
///
/// `iov` points at `cnt` buffers, each valid for its length.
unsafe fn vectored(h: RawSource, iov: *const IoVec, cnt: u32, mut offset: u64, write: bool) -> i32 {
    if iov.is_null() || cnt == 0 {
        return -sys::EINVAL;
    }
    // SAFETY: `cnt` valid buffer descriptors (caller), which nothing else touches meanwhile.
    let bufs = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    let sync = is_synchronous(h);
    let mut total = 0i32;
    for b in bufs {
        // The result must fit an `i32`: stop before a buffer that could overflow it.
        let Some(len) = u32::try_from(i32::MAX - total).ok().map(|room| b.len.min(room)).filter(|&l| l > 0) else {
            break;
        };
        // SAFETY: the buffer is valid for its length, and `len` is at most that (caller).
        let r = unsafe {
            if sync { sync_rw(h, b.buf, len, offset, write) } else { overlapped_rw(h, b.buf, len, offset, write) }
        };
        if r < 0 {
            return if total > 0 { total } else { r };
        }
        total += r;
        if offset != CURRENT_POS {
            offset += r as u64;
        }
        if (r as u32) < b.len {
            break;
        }
    }
    total
}

/// A blocking `ReadFile`/`WriteFile` on a handle opened for overlapped IO, from a worker: at
/// `offset` (a disk file has no position to use: `-EINVAL` without one). The `OVERLAPPED`'s
/// event has its low bit set, so no packet reaches the completion port the handle may be
/// associated with; the worker waits for the event instead.
///
/// # Safety
///
/// `buf` is valid for `len` bytes.
unsafe fn overlapped_rw(h: RawSource, buf: *mut u8, len: u32, offset: u64, write: bool) -> i32 {
    // SAFETY: a query on a borrowed handle.
    if offset == CURRENT_POS && unsafe { GetFileType(h as HANDLE) } == FILE_TYPE_DISK {
        return -sys::EINVAL;
    }
    // SAFETY: creates a manual-reset event that we own and close below.
    let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
    if event.is_null() {
        return -last_error();
    }
    // SAFETY: all-zero is a valid `OVERLAPPED`.
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    let at = if offset == CURRENT_POS { 0 } else { offset };
    ov.Anonymous.Anonymous.Offset = at as u32;
    ov.Anonymous.Anonymous.OffsetHigh = (at >> 32) as u32;
    ov.hEvent = (event as usize | 1) as HANDLE;
    let mut n = 0;
    // SAFETY: the buffer is valid (caller); the `OVERLAPPED` and the event are live locals
    // until `GetOverlappedResult` (waiting) returned, i.e. until the IO is over, and the
    // tagged event keeps the IO from posting a packet that would refer to them later.
    let res = unsafe {
        let ok = if write {
            WriteFile(h as HANDLE, buf, len, std::ptr::null_mut(), &mut ov)
        } else {
            ReadFile(h as HANDLE, buf, len, std::ptr::null_mut(), &mut ov)
        };
        if ok == 0 && last_error() != ERROR_IO_PENDING as i32 {
            -last_error()
        } else if GetOverlappedResult(h as HANDLE, &ov, &mut n, 1) != 0 {
            n.min(i32::MAX as u32) as i32
        } else {
            -last_error()
        }
    };
    // SAFETY: our event, no longer used by any IO.
    unsafe { CloseHandle(event) };
    if write { res } else { eof_is_zero(res) }
}
