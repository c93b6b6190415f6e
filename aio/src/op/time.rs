//! Timers on the monotonic clock: [`Timeout`] and [`LinkTimeout`].

use std::io;
use std::time::Duration;

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use crate::raw::{OpState, Timespec};

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Completes successfully once `duration` has passed on the monotonic clock; fails
/// [canceled](crate::is_canceled) if canceled first.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// corio_aio::single(corio_aio::op::Timeout::new(Duration::from_millis(5)))?;
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Timeout {
    nanos: u64,
}

impl Timeout {
    /// A timer of `duration` (nanosecond precision; durations beyond 584 years saturate).
    pub fn new(duration: Duration) -> Timeout {
        Timeout { nanos: nanos(duration) }
    }
}

impl Prepare for Timeout {
    const NAME: &'static str = Facts::Timeout.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Timespec(Timespec::from_nanos(self.nanos));
        Ok(RawOp::Timeout { nanos: self.nanos })
    }
}

/// Bounds the op linked before it: if that op has not finished when `duration` passes, it is
/// canceled and this op fails [expired](crate::is_expired).
///
/// It must directly follow a soft- or hard-linked op (other than a link timeout). It starts
/// when the guarded op starts.
/// When the guarded op finishes first, the timer is disarmed and this op succeeds. If it is
/// itself linked, the chain continues after it only if it did not fire (an expired link
/// timeout cancels the rest of its chain, whatever its own link).
///
/// ```
/// use std::time::Duration;
/// use corio_aio::op::{self, OpExt};
/// let (slow, limit) = corio_aio::complete((
///     op::Timeout::new(Duration::from_secs(5)).soft(),
///     op::LinkTimeout::new(Duration::from_millis(10)),
/// ))?;
/// assert!(corio_aio::is_canceled(&slow.unwrap_err()));
/// assert!(corio_aio::is_expired(&limit.unwrap_err()));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct LinkTimeout {
    nanos: u64,
}

impl LinkTimeout {
    /// A limit of `duration` on the previous op.
    pub fn new(duration: Duration) -> LinkTimeout {
        LinkTimeout { nanos: nanos(duration) }
    }
}

impl Prepare for LinkTimeout {
    const NAME: &'static str = Facts::LinkTimeout.name;
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        *state = OpState::Timespec(Timespec::from_nanos(self.nanos));
        Ok(RawOp::LinkTimeout { nanos: self.nanos })
    }
}

super::unit_output!(Timeout, LinkTimeout);

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! time_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// Timespec in [`OpState::Timespec`](crate::raw::OpState::Timespec).
            Timeout { nanos: u64 } = { name: "timeout", success_errno: crate::sys::ETIME, ..Facts::DEFAULT };
            /// Timespec in [`OpState::Timespec`](crate::raw::OpState::Timespec). Its results
            /// are decoded apart (`op/decode.rs`): a disarmed timer is a success.
            LinkTimeout { nanos: u64 } = { name: "link_timeout", ..Facts::DEFAULT };
        }
    };
}
pub(crate) use time_ops;
