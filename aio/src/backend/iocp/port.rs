//! One completion port per thread, shared by the thread's IOCP drivers.
//!
//! A handle can be associated with one port only (moving it needs
//! `FileReplaceCompletionInformation`, Windows 8.1 and later, which wine 8 lacks), and a
//! socket is commonly used by the immediate API and by a `Dynamic` of the same thread. So the
//! drivers of a thread share its port; a driver (`Dynamic`s are `!Send`, each stays on its
//! thread) that dequeues a packet of another one puts it in that one's inbox, which it reads
//! at its next poll. A thread only ever waits in one driver at a time, so nothing waits on a
//! packet sitting in an inbox.
//!
//! The port lives as long as its thread (not only while a driver holds it): handles stay
//! associated with it after the driver that used them is gone, and a port closed under them
//! would swallow the completions of the thread's next driver. A handle used by a thread that
//! has exited has lost its port; on Windows 8.1+ `Iocp::associate` moves it, on wine its ops
//! never complete (documented in the backend's known gaps).

use std::cell::RefCell;
use std::io;
use std::ops::Range;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::rc::Rc;
use std::sync::Mutex;

use windows_sys::Win32::Foundation::{self as f, HANDLE};
use windows_sys::Win32::System::IO::{CreateIoCompletionPort, OVERLAPPED_ENTRY};

/// Packets dequeued by a sibling driver, waiting for their owner's next poll.
pub(super) type Inbox = RefCell<Vec<OVERLAPPED_ENTRY>>;

pub(super) struct ThreadPort {
    port: OwnedHandle,
}

impl ThreadPort {
    pub(super) fn handle(&self) -> HANDLE {
        self.port.as_raw_handle()
    }
}

thread_local! {
    static PORT: RefCell<Option<Rc<ThreadPort>>> = const { RefCell::new(None) };
}

/// This thread's port, created with the thread's first driver (a driver created while the
/// thread's locals are being destroyed gets a port of its own).
pub(super) fn thread_port() -> io::Result<Rc<ThreadPort>> {
    PORT.try_with(|cell| {
        if let Some(port) = &*cell.borrow() {
            return Ok(Rc::clone(port));
        }
        let port = new_port()?;
        *cell.borrow_mut() = Some(Rc::clone(&port));
        Ok(port)
    })
    .unwrap_or_else(|_| new_port())
}

fn new_port() -> io::Result<Rc<ThreadPort>> {
    // SAFETY: creates a new port (no file handle, no existing port); one thread drains it.
    let h = unsafe { CreateIoCompletionPort(f::INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new handle that nothing else owns.
    Ok(Rc::new(ThreadPort { port: unsafe { OwnedHandle::from_raw_handle(h) } }))
}

/// The address ranges of every live driver's `Io` array, so that a packet whose `OVERLAPPED`
/// is not the dequeuing driver's is only forwarded if it is another driver's (a handle moved
/// between ports, see `Iocp::associate`), never dereferenced otherwise.
static DRIVERS: Mutex<Vec<Range<usize>>> = Mutex::new(Vec::new());

pub(super) fn register(range: Range<usize>) {
    DRIVERS.lock().unwrap_or_else(|e| e.into_inner()).push(range);
}

pub(super) fn unregister(range: Range<usize>) {
    DRIVERS.lock().unwrap_or_else(|e| e.into_inner()).retain(|r| *r != range);
}

/// Whether `addr` lies in a live driver's `Io` array.
pub(super) fn is_driver_io(addr: usize) -> bool {
    DRIVERS.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|r| r.contains(&addr))
}
