//! One completion port per thread, shared by the thread's IOCP drivers.
//!
//! A handle can be associated with one port only (moving it needs
//! `FileReplaceCompletionInformation`, Windows 8.1 and later, which wine 8 lacks), and a
//! socket is commonly used by the immediate API and by a `Dynamic` of the same thread. So the
//! drivers of a thread share its port; a driver (`Dynamic`s are `!Send`, each stays on its
//! thread) that dequeues a packet of another one puts it in that one's inbox, which it reads
//! at its next poll. A thread only ever waits in one driver at a time, so nothing waits on a
//! packet sitting in an inbox.

use std::cell::RefCell;
use std::io;
use std::ops::Range;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::rc::{Rc, Weak};
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
    static PORT: RefCell<Weak<ThreadPort>> = const { RefCell::new(Weak::new()) };
}

/// This thread's port, created when no driver of the thread holds it.
pub(super) fn thread_port() -> io::Result<Rc<ThreadPort>> {
    PORT.with(|cell| {
        if let Some(port) = cell.borrow().upgrade() {
            return Ok(port);
        }
        // SAFETY: creates a new port (no file handle, no existing port); one thread drains it.
        let h = unsafe { CreateIoCompletionPort(f::INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new handle that nothing else owns.
        let port = Rc::new(ThreadPort { port: unsafe { OwnedHandle::from_raw_handle(h) } });
        *cell.borrow_mut() = Rc::downgrade(&port);
        Ok(port)
    })
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
