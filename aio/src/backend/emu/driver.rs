//! The engine's side of its drivers: what a [`Driver`] does (start, stop and poll single ops)
//! and what its reports and stops mean ([`MORE`], [`Stop`]).

use std::io;
use std::time::Duration;

use crate::backend::BackendKind;
use crate::op::RawOp;
use crate::raw::OpState;

/// Or-ed into the slot of a driver's report (`Driver::poll`'s `done`) that is not the op's
/// last: a multishot op reports each result this way and stays started (the driver re-arms
/// it), until a report without the bit ends it. Slots are below the capacity, which is
/// smaller (checked by [`Engine::new`](super::Engine::new)).
pub(crate) const MORE: u32 = 1 << 31;

/// What a [`Driver`] does with the ops the engine does not handle itself (everything but
/// nop, timeout, link timeout and cancel).
pub(crate) trait Driver {
    /// Starts op `slot`. `Some(res)` if it completed at once; `None` if it will be reported
    /// by a later [`poll`](Driver::poll). `state` stays valid until the op is reported.
    fn start(&mut self, slot: u32, op: RawOp, state: *mut OpState) -> Option<i32>;
    /// Tries to stop a started, unreported op. Unless it answers [`Stop::Running`] or
    /// [`Stop::Requested`], the op will never run on or be reported by the driver: the engine
    /// completes it `-ECANCELED`.
    fn cancel(&mut self, slot: u32) -> Stop;
    /// Waits up to `timeout` (`None`: no limit) for OS events and appends the ops that
    /// completed to `done` as `(slot, res)`, or `(slot | MORE, res)` for a result of a
    /// multishot op that stays started (see [`MORE`]; only from `poll`, never from `start`, so
    /// that the engine sees every such report before any cancel of the op). Returns early
    /// when some op completed.
    fn poll(&mut self, timeout: Option<Duration>, done: &mut Vec<(u32, i32)>) -> io::Result<()>;
    /// The unit [`poll`](Driver::poll) rounds its timeout up to (zero: it waits exactly).
    const TIMEOUT_UNIT: Duration = Duration::ZERO;
    /// The backend an engine over this driver is.
    const KIND: BackendKind;
    /// A one-line description for logs.
    fn describe(&self) -> String;
    /// Makes room for slots below `capacity` (see `Backend::grow`); `false` if the driver
    /// cannot (nothing changed).
    fn grow(&mut self, capacity: usize) -> bool;
    /// `fd` is about to be closed by the engine (a registered file slot filled again): stop
    /// the ops waiting on it, as a `Close` of it would (they end canceled).
    fn closing(&mut self, fd: crate::raw::RawFd) {
        let _ = fd;
    }
}

/// What [`Driver::cancel`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The op was waiting for readiness (the kernel's poll-armed requests): it completes at
    /// the end of the pass, and a cancel before then finds it again.
    #[cfg_attr(windows, allow(dead_code))] // the IOCP driver parks nothing
    Parked,
    /// The op had not started running (the kernel's pending io-wq work): it is gone at once.
    Queued,
    /// The op is running and cannot be stopped; it will be reported.
    Running,
    /// The OS was asked to stop the op (IOCP's `CancelIoEx`, which cannot be undone) and will
    /// still report it, with what really happened: canceled, or done if the op won the race.
    /// The op's memory stays in use until then, so the engine leaves it to the driver.
    #[cfg_attr(not(windows), allow(dead_code))] // readiness drivers stop ops for sure
    Requested,
}
