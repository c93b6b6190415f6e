//! Waiting for a child process: [`ChildExit`].
//!
//! **Not compiled on wasm32-wasip1**: WASI preview 1 has no processes. (There the module is
//! private and holds only the family's op table row, so that `RawOp` has one shape
//! everywhere.)

#[cfg(not(target_os = "wasi"))]
use {
    super::RawOp,
    super::sealed::Prepare,
    super::table::Facts,
    crate::raw::{ChildState, OpState},
    std::io,
    std::process::ExitStatus,
};

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
#[cfg(not(target_os = "wasi"))]
#[derive(Clone, Copy, Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct ChildExit {
    pid: u32,
}

#[cfg(not(target_os = "wasi"))]
impl ChildExit {
    /// Waits for child `pid`.
    pub fn new(pid: u32) -> ChildExit {
        ChildExit { pid }
    }
}

#[cfg(not(target_os = "wasi"))]
impl Prepare for ChildExit {
    const NAME: &'static str = Facts::ChildExit.name;
    #[cfg(windows)]
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Child(ChildState { process: None, code: 0 }));
        Ok(RawOp::ChildExit { pid: self.pid })
    }
    #[cfg(unix)]
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        if self.pid == 0 || self.pid > i32::MAX as u32 {
            return Err(crate::error::invalid_input("not a process id"));
        }
        state.fill(OpState::Child(ChildState {
            // SAFETY: `siginfo_t` is plain old data; all-zero is a valid value.
            info: unsafe { std::mem::zeroed() },
            wait_status: None,
            pidfd: None,
        }));
        Ok(RawOp::ChildExit { pid: self.pid })
    }
}

#[cfg(not(target_os = "wasi"))]
impl super::Op for ChildExit {
    type Output = ExitStatus;
    fn output(value: crate::Value) -> io::Result<ExitStatus> {
        match value {
            crate::Value::Exit(status) => Ok(status),
            _ => Err(super::mismatch()),
        }
    }
}

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! process_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// Exit information lands in [`OpState::Child`](crate::raw::OpState::Child).
            ChildExit { pid: u32 } = { name: "child_exit", output: Output::Exit, consumer: true, ..Facts::DEFAULT };
        }
    };
}
pub(crate) use process_ops;
