//! Waiting for a child process: [`ChildExit`].
//!
//! **Not compiled on wasm32-wasip1**: WASI preview 1 has no processes.

use std::io;
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::sealed::Prepare;
use crate::raw::{ChildState, OpState, RawOp};

/// Waits for the child process `pid` to exit and reaps it; returns its [`ExitStatus`].
///
/// `pid` must be a child of this process (e.g. [`std::process::Child::id`]); otherwise the op
/// fails with `ECHILD`. After this op reaped the child, `Child::wait` on it would fail: use
/// one or the other.
///
/// Unlike a decoding of the raw `waitid` status as a wait status, the exit code and the
/// terminating signal are told apart by `si_code`: `exit(69)` gives `code() == Some(69)`, a
/// `SIGKILL` gives `signal() == Some(9)` (through `ExitStatusExt`).
///
/// On Windows `pid` may be any process this one can open (`SYNCHRONIZE` and
/// `PROCESS_QUERY_LIMITED_INFORMATION`), there is nothing to reap, and the status is
/// `GetExitCodeProcess`'s code; an unknown `pid` fails with `ERROR_INVALID_PARAMETER`.
#[derive(Clone, Copy, Debug)]
pub struct ChildExit {
    pid: u32,
}

impl ChildExit {
    /// Waits for child `pid`.
    pub fn new(pid: u32) -> ChildExit {
        ChildExit { pid }
    }
}

impl Prepare for ChildExit {
    const NAME: &'static str = "child_exit";
    #[cfg(windows)]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Child(ChildState { process: None, code: 0 });
        Ok(RawOp::ChildExit { pid: self.pid })
    }
    #[cfg(unix)]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        if self.pid == 0 || self.pid > i32::MAX as u32 {
            return Err(crate::error::invalid_input("not a process id"));
        }
        *state = OpState::Child(ChildState {
            // SAFETY: `siginfo_t` is plain old data; all-zero is a valid value.
            info: unsafe { std::mem::zeroed() },
            wait_status: None,
            pidfd: None,
        });
        Ok(RawOp::ChildExit { pid: self.pid })
    }
}

impl super::Op for ChildExit {
    type Output = ExitStatus;
    fn output(value: crate::Value) -> io::Result<ExitStatus> {
        match value {
            crate::Value::Exit(status) => Ok(status),
            _ => Err(super::mismatch()),
        }
    }
}

/// The exit status a child-exit op learned: a classic wait status if the backend used
/// `waitpid`, else decoded from the `waitid` siginfo by `si_code`. On Windows: the exit code.
#[cfg(windows)]
pub(crate) fn exit_status(child: &ChildState) -> ExitStatus {
    std::os::windows::process::ExitStatusExt::from_raw(child.code)
}

/// The exit status a child-exit op learned: a classic wait status if the backend used
/// `waitpid`, else decoded from the `waitid` siginfo by `si_code`.
#[cfg(unix)]
pub(crate) fn exit_status(child: &ChildState) -> ExitStatus {
    if let Some(status) = child.wait_status {
        return ExitStatus::from_raw(status);
    }
    let info = &child.info;
    // SAFETY: for SIGCHLD-style siginfo filled by waitid, `si_status` is the initialised
    // member of the union.
    let status = unsafe { info.si_status() };
    let raw = match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        libc::CLD_STOPPED | libc::CLD_TRAPPED => ((status & 0xff) << 8) | 0x7f,
        libc::CLD_CONTINUED => 0xffff,
        _ => status,
    };
    ExitStatus::from_raw(raw)
}
