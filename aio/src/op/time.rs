//! Timers on the monotonic clock: [`Timeout`], [`LinkTimeout`] and the repeating
//! [`TimeoutMulti`].

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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Timespec(Timespec::from_nanos(self.nanos)));
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
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        state.fill(OpState::Timespec(Timespec::from_nanos(self.nanos)));
        Ok(RawOp::LinkTimeout { nanos: self.nanos })
    }
}

super::unit_output!(Timeout, LinkTimeout);

/// A repeating timer (a multishot timeout, io_uring's `IORING_TIMEOUT_MULTISHOT`): completes
/// every `interval` on the monotonic clock, [`count`](TimeoutMulti::count) times (by default
/// until canceled), each completion but the last with
/// [`Completion::more`](crate::Completion::more) set; a [`Cancel`](super::Cancel) ends it
/// [canceled](crate::is_canceled). No completion comes earlier than its multiple of
/// `interval` after the op started; a late one is not made up for by the next.
///
/// It completes more than once, so it goes through [`Dynamic::queue`](crate::Dynamic::queue)
/// and [`complete`](crate::Dynamic::complete) only; `run`, the immediate API, tagged
/// queueing and linked chains refuse it. A zero interval is refused (`InvalidInput`).
///
/// On io_uring it lives in the backend's timer heap, as a plain [`Timeout`] (re-armed at
/// each expiry); without the heap (`CORIO_URING_DISABLE=timers`, kernels before 5.11) it is
/// the kernel's multishot timeout, and on kernels without one (before 6.4: detected by 6.7's
/// `READ_MULTISHOT`) it fails `EOPNOTSUPP`. The kernel's has one race: a cancel that lands
/// while an expiry is being posted (it has fired, its completion is not reaped yet) finds
/// nothing (`ENOENT`) and the timer goes on; cancel again after reaping. The heap and the
/// emulations re-arm it at the reaping pass, where a cancel always finds it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use corio_aio::{Mode, op::TimeoutMulti};
/// let mut ring = corio_aio::Dynamic::new(4)?;
/// let start = Instant::now();
/// ring.queue(TimeoutMulti::new(Duration::from_millis(2)).count(3))?;
/// let mut ticks = 0;
/// while ring.in_flight() > 0 {
///     ring.complete(Mode::Blocking, |c| {
///         c.output::<TimeoutMulti>().unwrap();
///         ticks += 1;
///     })?;
/// }
/// assert_eq!(ticks, 3);
/// assert!(start.elapsed() >= Duration::from_millis(6));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "an op does nothing until it is queued (Dynamic::queue)"]
pub struct TimeoutMulti {
    nanos: u64,
    count: u32,
}

impl TimeoutMulti {
    /// A timer completing every `interval`, until canceled.
    pub fn new(interval: Duration) -> TimeoutMulti {
        TimeoutMulti { nanos: nanos(interval), count: 0 }
    }
    /// Completes `count` times, then ends (0: until canceled, the default).
    pub fn count(mut self, count: u32) -> TimeoutMulti {
        self.count = count;
        self
    }
}

impl Prepare for TimeoutMulti {
    const NAME: &'static str = Facts::TimeoutMulti.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        if self.nanos == 0 {
            return Err(crate::error::invalid_input("a repeating timeout needs a non-zero interval"));
        }
        state.fill(OpState::Timespec(Timespec::from_nanos(self.nanos)));
        Ok(RawOp::TimeoutMulti { nanos: self.nanos, count: self.count })
    }
}

super::unit_output!(TimeoutMulti);

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! time_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// Timespec in [`OpState::Timespec`](crate::raw::OpState::Timespec).
            Timeout { nanos: u64 } = { name: "timeout", success_errno: crate::sys::ETIME, ..Facts::DEFAULT };
            /// Timespec in [`OpState::Timespec`](crate::raw::OpState::Timespec). Its results
            /// are decoded apart (`op/decode.rs`): a disarmed timer is a success.
            LinkTimeout { nanos: u64 } = { name: "link_timeout", ..Facts::DEFAULT };
            /// Timespec in [`OpState::Timespec`](crate::raw::OpState::Timespec); `count`
            /// completions (0: until canceled). The emulation engine counts down in its copy.
            TimeoutMulti { nanos: u64, count: u32 }
                = { name: "timeout_multi", success_errno: crate::sys::ETIME, multishot: true, ..Facts::DEFAULT };
        }
    };
}
pub(crate) use time_ops;
