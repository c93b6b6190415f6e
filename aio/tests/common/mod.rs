//! Helpers shared by the aio integration tests.
//!
//! One copy for two crates: corio-aio's tests (`aio/tests/`) declare `mod common;`, and the
//! facade's tests in the root `tests/` (coro and aio together) include this file with
//! `#[path = "../aio/tests/common/mod.rs"] mod common;`. Every helper here is aio-level (it
//! names only std, libc, socket2 and `corio_aio`, which the facade depends on too), so it lives
//! with aio, where `cargo test -p corio-aio` builds it without the facade; the root tests need a
//! subset of it, and a second file, or one split by crate, would copy it or pull coro into aio.
//!
//! The suite runs on whichever backend a new `Dynamic` picks: plain `cargo test` uses io_uring,
//! `CORIO_BACKEND=posix cargo test` selects the posix backend (read when a `Dynamic` is
//! created). Tests assert backend-neutral behaviour; the few io_uring-only semantics are gated
//! with [`is_io_uring`].
//!
//! Besides this file's sources, error codes and assertions: `complete.rs`, the loops that
//! complete until an op ends (and a time limit for a case); `old_kernel.rs`, this binary run
//! again as an older kernel on io_uring.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]
//
// On Windows (IOCP backend, run under wine) a "pipe" is a connected TCP pair: anonymous pipes
// are synchronous handles there, whose reads would run on the worker pool and could not be
// canceled once running.

use std::fmt::Debug;
#[cfg(unix)]
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use corio_aio::{self as aio, BackendKind, Dynamic};

mod complete;
#[cfg(unix)]
mod descriptors;
mod old_kernel;

// Each test binary uses a different subset of these too.
#[allow(unused_imports)]
pub use complete::{all_of, arrivals, bytes, final_completion, final_result, within_limit};
#[cfg(unix)]
#[allow(unused_imports)]
pub use descriptors::ExhaustedDescriptors;
#[allow(unused_imports)]
pub use old_kernel::{report_stand_in, rerun_as_old_kernel, rerun_with_stand_in, rerun_with_uring_disabled};

/// A directory under `std::env::temp_dir()` with a unique name, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `corio-<test name>-<pid>-<counter>` in the system temp dir.
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("corio-{name}-{}-{n}", std::process::id()));
        // A stale directory from a crashed run with a reused pid: start clean.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to a new file `name` and returns its path.
    pub fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The backend a new `Dynamic` runs on (what the suite is testing).
pub fn backend() -> BackendKind {
    Dynamic::new(1).expect("create a Dynamic").backend()
}

/// CPU time (user + system) used so far by the calling thread (`getrusage(RUSAGE_THREAD)`):
/// what a loop running on this thread burns, unaffected by tests running on others. For
/// no-spin guards, against generous bounds; never to assert speed.
#[cfg(target_os = "linux")]
pub fn thread_cpu() -> std::time::Duration {
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into a live `rusage`.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
    let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Whether the selected backend is io_uring (for io_uring-only semantics).
pub fn is_io_uring() -> bool {
    backend() == BackendKind::IoUring
}

/// One end of a [`pipe`]: a file on Unix, a TCP stream on Windows.
#[cfg(unix)]
pub type PipeEnd = File;
#[cfg(windows)]
pub type PipeEnd = TcpStream;

/// `EBADF`: what an op on [`BadFd`] fails with (`ERROR_INVALID_HANDLE` on Windows, where the
/// IOCP backend reports it for handles it cannot associate).
#[cfg(unix)]
pub const EBADF: i32 = libc::EBADF;
#[cfg(windows)]
pub const EBADF: i32 = 6;

/// `ENOENT`: what a cancel that finds nothing fails with (`ERROR_FILE_NOT_FOUND`, the same
/// value, on Windows).
pub const ENOENT: i32 = 2;

/// What reading a file opened write-only fails with: `EBADF`, `ERROR_ACCESS_DENIED` on
/// Windows.
#[cfg(unix)]
pub const EBADF_NOT_READABLE: i32 = libc::EBADF;
#[cfg(windows)]
pub const EBADF_NOT_READABLE: i32 = 5;

/// Waits up to 5 s for the peer of a "pipe" read end to close (a read of 0 bytes); returns
/// whether it did.
#[cfg(windows)]
pub fn hung_up(read_end: &PipeEnd) -> bool {
    use std::io::Read;
    read_end.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut byte = [0u8; 1];
    matches!((&*read_end).read(&mut byte), Ok(0))
}

/// A "pipe" on Windows: a connected TCP pair (read end, write end).
#[cfg(windows)]
pub fn pipe() -> (PipeEnd, PipeEnd) {
    let (client, server) = tcp_pair();
    (server, client)
}

/// A pipe: (read end, write end), both close-on-exec.
#[cfg(unix)]
pub fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `pipe` writes two descriptors into the array; the result is checked.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(r, 0, "pipe: {}", io::Error::last_os_error());
    // SAFETY: `pipe` succeeded, so both descriptors are new and owned by nobody else.
    let ends = unsafe { (File::from(OwnedFd::from_raw_fd(fds[0])), File::from(OwnedFd::from_raw_fd(fds[1]))) };
    // Close-on-exec after the fact (macOS has no `pipe2`): tests that re-execute their
    // binary must not leak these into the child, and no other thread of a test forks
    // between the two calls.
    for fd in fds {
        // SAFETY: `fd` is one of the two descriptors owned by `ends`, alive here.
        let r = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        assert_eq!(r, 0, "fcntl(FD_CLOEXEC): {}", io::Error::last_os_error());
    }
    ends
}

/// A connected stream socket pair: Unix sockets, on Windows a TCP pair over loopback (Windows
/// has no `socketpair`).
#[cfg(unix)]
pub type StreamEnd = std::os::unix::net::UnixStream;
#[cfg(windows)]
pub type StreamEnd = TcpStream;

/// See [`StreamEnd`].
pub fn stream_pair() -> (StreamEnd, StreamEnd) {
    #[cfg(unix)]
    return std::os::unix::net::UnixStream::pair().expect("socketpair");
    #[cfg(windows)]
    return tcp_pair();
}

/// A [`stream_pair`]: the writer, and the reader for a `Dynamic<'static>` (leaked).
pub fn leaked_stream_pair() -> (StreamEnd, &'static StreamEnd) {
    let (a, b) = stream_pair();
    (a, leak(b))
}

/// A connected TCP pair over IPv4 loopback: (client, server side).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind listener");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// An address on IPv4 loopback where nothing listens: a bound, non-listening socket holds the
/// port (keep it alive) so no other test can take it; connecting there is refused.
pub fn refusing_addr() -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let holder = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    holder.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).expect("bind");
    let addr = holder.local_addr().unwrap().as_socket().unwrap();
    (holder, addr)
}

/// A descriptor number that is never open: far above the open-file limit (on Windows a
/// handle value no handle has: they are small multiples of 4).
pub struct BadFd;

#[cfg(windows)]
impl aio::AsSource for BadFd {
    fn as_source(&self) -> aio::BorrowedSource<'_> {
        // SAFETY: never a live socket or handle; the ops under test only hand the value to the
        // OS, which rejects it; nothing reads, writes or closes through it.
        unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(0x7fff_fff0) }.into()
    }
}

#[cfg(unix)]
impl AsFd for BadFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the number is not -1. No descriptor with it can be open (it is far above
        // RLIMIT_NOFILE and fs.nr_open), so nothing is aliased: the ops under test only hand
        // the number to the OS, which answers EBADF; nothing reads, writes or closes through it.
        unsafe { BorrowedFd::borrow_raw(i32::MAX - 7) }
    }
}

/// Leaks a value for ops queued on a `Dynamic<'static>`.
pub fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

/// Asserts `result` failed with `kind`, and returns the error.
#[track_caller]
pub fn expect_kind<T: Debug>(result: io::Result<T>, kind: io::ErrorKind) -> io::Error {
    match result {
        Ok(v) => panic!("expected an error of kind {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong error kind: {e:?}");
            e
        }
    }
}

/// Asserts `result` failed with raw OS error `errno`.
#[track_caller]
pub fn expect_errno<T: Debug>(result: io::Result<T>, errno: i32) {
    match result {
        Ok(v) => panic!("expected OS error {errno}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.raw_os_error(), Some(errno), "wrong error: {e:?}"),
    }
}

/// Asserts `result` failed canceled.
#[track_caller]
pub fn expect_canceled<T: Debug>(result: io::Result<T>) {
    match result {
        Ok(v) => panic!("expected canceled, got Ok({v:?})"),
        Err(e) => assert!(aio::is_canceled(&e), "expected canceled, got {e:?}"),
    }
}

/// Asserts `result` failed expired (a link timeout that fired).
#[track_caller]
pub fn expect_expired<T: Debug>(result: io::Result<T>) {
    match result {
        Ok(v) => panic!("expected expired, got Ok({v:?})"),
        Err(e) => assert!(aio::is_expired(&e), "expected expired, got {e:?}"),
    }
}

/// Reads a whole file with std (to check what ops wrote).
pub fn contents(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read back")
}

/// Waits up to 5 s for a hang-up on the read end of a pipe (every write end closed); returns
/// whether it came. Never blocks forever, so a descriptor left open fails a test instead of
/// hanging it.
#[cfg(unix)]
pub fn hung_up(read_end: &impl AsFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd { fd: read_end.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: polls one valid pollfd for at most 5 s.
        let r = unsafe { libc::poll(&mut pfd, 1, 5000) };
        if r >= 0 {
            return r == 1 && pfd.revents & libc::POLLHUP != 0;
        }
        assert_eq!(io::Error::last_os_error().kind(), io::ErrorKind::Interrupted, "poll failed");
    }
}

/// `len` bytes of a pattern that repeats only every 251 bytes (a prime): a byte out of place
/// or lost shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}
