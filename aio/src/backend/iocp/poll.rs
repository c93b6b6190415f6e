//! `Poll` on sockets, readiness from `WSAPoll`, and `ReadTty`, a console read that waits for
//! input the same way.
//!
//! Windows has no overlapped readiness wait for any handle (wine has no `AFD` polling either),
//! so the driver first asks `WSAPoll` without waiting, inline; if nothing the op asked for is
//! ready, a pool worker waits in `WSAPoll` slices of [`SLICE_MS`], checking the slot's stop flag
//! between them, which a cancel sets ([`Stop::Requested`](super::Stop::Requested): the op
//! then completes canceled within a slice). A waiting poll holds one of the pool's 2–4
//! workers, so several long polls delay the pool's other jobs.
//!
//! Supported: [`Events::IN`](crate::op::Events::IN) (readable, including a listener's pending
//! connection and end of stream) and [`Events::OUT`](crate::op::Events::OUT); `ERR` and `HUP`
//! are reported without asking. `PRI` fails `-EINVAL` (`WSAPoll` refuses it). Sockets, and
//! disk files (always ready, as `poll(2)` reports regular files); any other handle (pipes,
//! consoles) fails `WSAENOTSOCK`.

use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::Win32::Foundation::{HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::Storage::FileSystem::{FILE_TYPE_CHAR, FILE_TYPE_DISK, GetFileType};
use windows_sys::Win32::System::Threading::WaitForSingleObject;

use crate::raw::CURRENT_POS;
use crate::sys::{self, RawSource};

/// How long one `WSAPoll` of a waiting worker lasts before it checks its stop flag.
const SLICE_MS: i32 = 50;

/// The bits `WSAPoll` takes as requests.
const ASKABLE: u32 = (ws::POLLIN | ws::POLLOUT) as u32;

/// Checks the events `events` of `sock` without waiting: `Some(result)` if the op is done
/// (events observed, or an error), `None` if nothing is ready yet.
pub(super) fn now(sock: RawSource, events: u32) -> Option<i32> {
    if events & sys::POLLPRI != 0 {
        return Some(-sys::EINVAL);
    }
    // SAFETY: a query on a borrowed handle.
    if unsafe { GetFileType(sock as HANDLE) } == FILE_TYPE_DISK {
        // A regular file is always ready, as `poll(2)` reports it.
        return Some((events & ASKABLE) as i32);
    }
    ask(sock, events, 0)
}

/// Waits in `WSAPoll` slices until `sock` is ready or `stop` is set (`-ECANCELED`).
pub(super) fn wait(sock: RawSource, events: u32, stop: &AtomicBool) -> i32 {
    loop {
        if let Some(res) = ask(sock, events, SLICE_MS) {
            return res;
        }
        if stop.load(Ordering::Acquire) {
            return -sys::ECANCELED;
        }
    }
}

/// `ReadTty`, on a worker: `ReadFile` at the handle's position (a console handle is opened for
/// synchronous IO). On a console (`FILE_TYPE_CHAR`) it first waits for input in slices, the
/// handle being signaled while input is pending, checking `stop` between them; once input is
/// there the read cannot be stopped (in line input mode it waits for Enter).
///
/// # Safety
///
/// `buf` is valid for `len` bytes.
pub(super) unsafe fn read_tty(h: RawSource, buf: *mut u8, len: u32, stop: &AtomicBool) -> i32 {
    // SAFETY: a query on a borrowed handle.
    if unsafe { GetFileType(h as HANDLE) } == FILE_TYPE_CHAR {
        loop {
            // SAFETY: waits on a borrowed handle.
            match unsafe { WaitForSingleObject(h as HANDLE, SLICE_MS as u32) } {
                WAIT_OBJECT_0 => break,
                WAIT_TIMEOUT if stop.load(Ordering::Acquire) => return -sys::ECANCELED,
                WAIT_TIMEOUT => {}
                _ => return -super::last_error(),
            }
        }
    }
    // SAFETY: the buffer is valid (caller).
    unsafe { super::rw::sync_rw(h, buf, len, CURRENT_POS, false) }
}

/// One `WSAPoll` of up to `millis`.
fn ask(sock: RawSource, events: u32, millis: i32) -> Option<i32> {
    let mut fd = ws::WSAPOLLFD { fd: sock, events: (events & ASKABLE) as i16, revents: 0 };
    // SAFETY: one live `WSAPOLLFD`, written by the call before it returns.
    let r = unsafe { ws::WSAPoll(&mut fd, 1, millis) };
    if r < 0 {
        // SAFETY: plain call.
        return Some(-unsafe { ws::WSAGetLastError() });
    }
    let got = fd.revents as u16 as u32;
    if r > 0 && got & ws::POLLNVAL as u32 != 0 {
        return Some(-ws::WSAENOTSOCK);
    }
    let mut res = got & (events | sys::POLLERR | sys::POLLHUP);
    if res & sys::POLLIN != 0 {
        // Either half of `POLLIN` (normal or band data) is readable.
        res |= events & sys::POLLIN;
    }
    if r == 0 || res == 0 { None } else { Some(res as i32) }
}
