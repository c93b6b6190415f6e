//! WASI (wasm32-wasip1): an unlinked regular file; each unit is one byte in it (see the
//! [module docs](super#wasi)).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::{retry, would_block};

/// The file, opened twice: waiters read through `read`, notifiers append through `append`.
#[derive(Debug)]
pub(crate) struct Source {
    read: OwnedFd,
    append: OwnedFd,
}

impl Source {
    pub(crate) fn new() -> io::Result<Source> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        loop {
            let name = format!(".corio-event-{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let append = match std::fs::OpenOptions::new().append(true).create_new(true).open(&name) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let read = std::fs::OpenOptions::new().read(true).write(true).open(&name);
            let removed = std::fs::remove_file(&name);
            let read = read?;
            removed?;
            return Ok(Source { read: read.into(), append: append.into() });
        }
    }

    pub(crate) fn wait_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    pub(crate) fn notify_fd(&self) -> RawFd {
        self.append.as_raw_fd()
    }

    pub(crate) fn notify_fd_borrowed(&self) -> BorrowedFd<'_> {
        self.append.as_fd()
    }

    pub(crate) fn into_wait_fd(self) -> OwnedFd {
        self.read
    }
}

/// Adds one unit: appends one byte through `fd` (the file opened to append).
pub(crate) fn notify(fd: RawFd) -> io::Result<()> {
    let unit = [1u8];
    // SAFETY: writes one byte from a live buffer.
    retry(|| unsafe { libc::write(fd, unit.as_ptr().cast(), 1) }).map(drop)
}

/// Takes one unit through `fd` (the file opened to read): reads one byte; at the end of the
/// file there is none.
pub(crate) fn try_take(fd: RawFd) -> io::Result<bool> {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into a live u8.
    match retry(|| unsafe { libc::read(fd, (&raw mut byte).cast(), 1) }) {
        Ok(0) => Ok(false),
        Ok(_) => rewind_if_drained(fd).map(|()| true),
        r => would_block(r),
    }
}

/// Empties a source's file once every unit in it was taken, so that it does not grow.
/// Nothing can append meanwhile: the program has one thread.
fn rewind_if_drained(fd: RawFd) -> io::Result<()> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into a live `stat`; lseek and ftruncate act on a descriptor
    // number the caller owns (the source's file, opened for reading and writing).
    unsafe {
        if libc::fstat(fd, &mut st) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::lseek(fd, 0, libc::SEEK_CUR) == st.st_size
            && (libc::ftruncate(fd, 0) < 0 || libc::lseek(fd, 0, libc::SEEK_SET) < 0)
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
