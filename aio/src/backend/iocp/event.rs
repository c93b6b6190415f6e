//! Event source waits on the IOCP driver: a one-shot thread-pool wait on the source's
//! semaphore (`RegisterWaitForSingleObject`) whose callback posts the op's packet. A wait on
//! a semaphore takes a unit when it is satisfied, so the unit is taken exactly when the op
//! completes; a canceled wait that had not fired took none.

use std::io;
use std::sync::atomic::Ordering;

use windows_sys::Win32::Foundation::{self as f, HANDLE};
use windows_sys::Win32::System::IO::PostQueuedCompletionStatus;
use windows_sys::Win32::System::Threading::{
    INFINITE, RegisterWaitForSingleObject, UnregisterWaitEx, WT_EXECUTEONLYONCE,
};

use super::{At, Io, Iocp, KEY_WAIT, Started, last_error};
use crate::backend::emu::Stop;
use crate::sys::RawSource;

impl Iocp {
    /// Registers a wait on event source `sem` whose callback posts slot `s`'s packet.
    pub(super) fn wait(&mut self, s: u32, sem: RawSource) -> Started {
        let io = self.io(s);
        // SAFETY: the `Io` stays put until the packet is dequeued or the wait is unregistered
        // (blocking until its callback finished) by `cancel`; the callback only touches it
        // before it posts.
        let ok = unsafe {
            (*io).fired.store(false, Ordering::Relaxed);
            (*io).wait = std::ptr::null_mut();
            RegisterWaitForSingleObject(
                &raw mut (*io).wait,
                sem as HANDLE,
                Some(wait_fired),
                io.cast(),
                INFINITE,
                WT_EXECUTEONLYONCE,
            )
        };
        if ok == 0 {
            return Started::Done(-last_error());
        }
        Started::Pending(At::Wait, sem)
    }

    /// Stops the wait of slot `s`: gone if it had not fired, else its packet is queued.
    pub(super) fn cancel_wait(&mut self, s: u32) -> Stop {
        let io = self.io(s);
        // SAFETY: `INVALID_HANDLE_VALUE` makes the call wait for a running callback, so
        // afterwards nothing but this thread touches the `Io`.
        unsafe {
            UnregisterWaitEx((*io).wait, f::INVALID_HANDLE_VALUE);
            (*io).wait = std::ptr::null_mut();
        }
        // SAFETY: as above.
        if unsafe { (*io).fired.load(Ordering::Acquire) } {
            // The wait took a unit and posted: the op completes, as it really did.
            Stop::Running
        } else {
            self.track[s as usize].at = At::Idle;
            Stop::Queued
        }
    }

    /// The result of the wait of slot `s`, whose packet was dequeued (8: the unit taken, as
    /// an eventfd read reports it).
    pub(super) fn finish_wait(&mut self, s: u32) -> i32 {
        let io = self.io(s);
        // SAFETY: the wait fired (once only): free its registration without waiting (its
        // callback is past touching the `Io`).
        unsafe {
            if !(*io).wait.is_null() {
                UnregisterWaitEx((*io).wait, std::ptr::null_mut());
                (*io).wait = std::ptr::null_mut();
            }
        }
        8
    }
}

/// The callback of an event source wait: runs on a thread-pool thread once the semaphore
/// gave it a unit.
unsafe extern "system" fn wait_fired(context: *mut core::ffi::c_void, _timed_out: bool) {
    let io = context.cast::<Io>();
    // SAFETY: the `Io` outlives the registered wait (see `Iocp::wait`); the post hands the
    // `OVERLAPPED` pointer back to the loop, and this thread touches the `Io` no more.
    unsafe {
        (*io).fired.store(true, Ordering::Release);
        if PostQueuedCompletionStatus((*io).port, 8, KEY_WAIT, io.cast()) == 0 {
            log::error!("corio-aio: an event wait cannot post its completion: {}", io::Error::last_os_error());
        }
    }
}
