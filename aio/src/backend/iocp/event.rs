//! Event source and child process waits on the IOCP driver: a one-shot thread-pool wait
//! (`RegisterWaitForSingleObject`) on the source's semaphore or on the process whose callback
//! posts the op's packet. A wait on a semaphore takes a unit when it is satisfied, so the unit
//! is taken exactly when the op completes; a canceled wait that had not fired took none.

use std::io;
use std::os::windows::io::{FromRawHandle, OwnedHandle};
use std::sync::atomic::Ordering;

use windows_sys::Win32::Foundation::{self as f, HANDLE};
use windows_sys::Win32::System::IO::PostQueuedCompletionStatus;
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, INFINITE, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE,
    RegisterWaitForSingleObject, UnregisterWaitEx, WT_EXECUTEONLYONCE,
};

use super::{At, Io, Iocp, KEY_WAIT, Started, last_error};
use crate::backend::emu::Stop;
use crate::op::RawOp;
use crate::raw::OpState;
use crate::sys::{self, RawSource};

impl Iocp {
    /// Opens process `pid` into the op's state and waits for it to end.
    pub(super) fn child_exit(&mut self, s: u32, pid: u32, state: *mut OpState) -> Started {
        // SAFETY: opens a process by id; only the rights to wait and query it.
        let h = unsafe { OpenProcess(PROCESS_SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if h.is_null() {
            return Started::Done(-last_error());
        }
        // SAFETY: a new handle that nothing else owns.
        let process = unsafe { OwnedHandle::from_raw_handle(h) };
        // SAFETY: the op's state is the op's until it is reported, and no one else uses it.
        let OpState::Child(child) = (unsafe { &mut *state }) else { return Started::Done(-sys::EINVAL) };
        child.process = Some(process);
        self.wait(s, h as RawSource)
    }

    /// The process a child-exit op of slot `s` opened, taken out of its state.
    fn take_process(&mut self, s: u32) -> Option<OwnedHandle> {
        let t = self.track[s as usize];
        if !matches!(t.op, RawOp::ChildExit { .. }) {
            return None;
        }
        // SAFETY: the op is not in flight any more (its wait was unregistered or fired), so
        // its state is ours until it is reported.
        match unsafe { &mut *t.state } {
            OpState::Child(child) => child.process.take(),
            _ => None,
        }
    }

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
            drop(self.take_process(s));
            self.track[s as usize].at = At::Idle;
            Stop::Queued
        }
    }

    /// The result of the wait of slot `s`, whose packet was dequeued: for an event source 8
    /// (the unit taken, as an eventfd read reports it), for a process 0 with its exit code in
    /// the op's state.
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
        let Some(process) = self.take_process(s) else { return 8 };
        let mut code = 0;
        // SAFETY: queries a process handle we own into a live local.
        if unsafe { GetExitCodeProcess(std::os::windows::io::AsRawHandle::as_raw_handle(&process), &mut code) } == 0 {
            return -last_error();
        }
        // SAFETY: as in `take_process`.
        if let OpState::Child(child) = unsafe { &mut *self.track[s as usize].state } {
            child.code = code;
        }
        0
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
