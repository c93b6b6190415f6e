//! Windows: a semaphore object; a unit is one count of it.
//!
//! `notify` releases one count, a wait takes one (`WaitForSingleObject` on a semaphore
//! decrements it atomically when it is satisfied). The IOCP driver's `Wait` op registers a
//! thread-pool wait on the semaphore whose callback posts the op's completion to the port,
//! so a unit is taken exactly when the op completes.

use std::io;
use std::os::windows::io::{AsHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{CreateSemaphoreW, INFINITE, ReleaseSemaphore, WaitForSingleObject};

use crate::sys::{Borrowed, Owned, RawSource};

/// The semaphore: waiters and notifiers use the same handle.
#[derive(Debug)]
pub(crate) struct Source {
    sem: OwnedHandle,
}

impl Source {
    pub(crate) fn new() -> io::Result<Source> {
        // SAFETY: no security attributes, no name; the count starts at 0 and may reach
        // `i32::MAX` (beyond that `notify` fails with `ERROR_TOO_MANY_POSTS`).
        let h = unsafe { CreateSemaphoreW(std::ptr::null(), 0, i32::MAX, std::ptr::null()) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new handle that nothing else owns.
        Ok(Source { sem: unsafe { OwnedHandle::from_raw_handle(h) } })
    }

    pub(crate) fn wait_fd(&self) -> Borrowed<'_> {
        self.sem.as_handle().into()
    }

    pub(crate) fn notify_fd(&self) -> RawSource {
        crate::sys::raw(&self.wait_fd())
    }

    pub(crate) fn notify_fd_borrowed(&self) -> Borrowed<'_> {
        self.wait_fd()
    }

    pub(crate) fn into_wait_fd(self) -> Owned {
        self.sem.into()
    }
}

/// Adds one unit to the semaphore `raw`.
pub(crate) fn notify(raw: RawSource) -> io::Result<()> {
    // SAFETY: `raw` is a live semaphore handle (the caller borrows its source).
    if unsafe { ReleaseSemaphore(raw as HANDLE, 1, std::ptr::null_mut()) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes one unit without blocking.
pub(crate) fn try_take(raw: RawSource) -> io::Result<bool> {
    wait(raw, 0)
}

/// Takes one unit, blocking while there is none.
pub(crate) fn take(raw: RawSource) -> io::Result<()> {
    wait(raw, INFINITE).map(drop)
}

fn wait(raw: RawSource, millis: u32) -> io::Result<bool> {
    // SAFETY: `raw` is a live semaphore handle (the caller borrows its source).
    match unsafe { WaitForSingleObject(raw as HANDLE, millis) } {
        WAIT_OBJECT_0 => Ok(true),
        WAIT_TIMEOUT => Ok(false),
        _ => Err(io::Error::last_os_error()),
    }
}
