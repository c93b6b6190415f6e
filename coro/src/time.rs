//! Time in the blocking style: [`sleep`], [`timeout`] and [`Interval`]. In a task each parks
//! the task (a `Timeout` op in the scheduler's IO queue); outside a task each blocks the thread.
//!
//! # Deadlines
//!
//! [`timeout`] runs a closure under a deadline. Every IO call the closure makes through
//! [`io::single`](crate::io::single) — which is every [`net`](crate::net) call, every wait
//! on a [`sync`](crate::sync) primitive, every [`sleep`] — gets what is left of it as a
//! `LinkTimeout` soft-linked to its op (as a socket's read and write timeouts do; the
//! shorter of the two applies), and fails [expired](corio_aio::is_expired)
//! (`ErrorKind::TimedOut`) when it fires; a call after the deadline fails so at once. Batches
//! ([`io::multi`](crate::io::multi), [`io::complete`](crate::io::complete)) are not bounded:
//! link their ops to a `LinkTimeout` yourself. Deadlines nest: an inner `timeout` never
//! extends an outer one.

use std::cell::Cell;
use std::io;
use std::time::{Duration, Instant};

use corio_aio::op::{IntoEntry, LinkTimeout, Op, Timeout};
use corio_aio::{Condition, is_canceled, is_expired};

use crate::task;

thread_local! {
    /// The deadline of code outside any task on this thread.
    static THREAD_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline the calling code runs under, if any.
pub(crate) fn deadline() -> Option<Instant> {
    match task::current() {
        Some(me) => me.deadline.get(),
        None => thread_deadline(),
    }
}

/// The deadline of the calling thread's code outside tasks.
pub(crate) fn thread_deadline() -> Option<Instant> {
    THREAD_DEADLINE.with(Cell::get)
}

fn set_deadline(deadline: Option<Instant>) {
    match task::current() {
        Some(me) => me.deadline.set(deadline),
        None => THREAD_DEADLINE.with(|d| d.set(deadline)),
    }
}

/// The error of a call the deadline cut short.
fn expired() -> io::Error {
    Condition::Expired.into()
}

/// Runs `op` bounded by `deadline` (see the module docs): soft-linked to a `LinkTimeout` of
/// what is left, or failed at once if nothing is.
pub(crate) fn bounded_by<E: IntoEntry>(op: E, deadline: Instant) -> io::Result<<E::Op as Op>::Output> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(expired());
    }
    let (result, timer) = crate::io::complete((op.into_entry().soft(), LinkTimeout::new(left)))?;
    match result {
        Err(e) if is_canceled(&e) && timer.as_ref().is_err_and(is_expired) => Err(expired()),
        other => other,
    }
}

/// Sleeps for `duration`: parks the task (or blocks the thread outside one). Fails
/// [canceled](corio_aio::is_canceled) if the task is canceled meanwhile, and
/// [expired](corio_aio::is_expired) if a [`timeout`]'s deadline comes first.
///
/// ```
/// use corio_coro::{Scheduler, sleep};
/// use std::time::{Duration, Instant};
///
/// let scheduler = Scheduler::new()?;
/// let task = scheduler.spawn(|| {
///     let start = Instant::now();
///     sleep(Duration::from_millis(5))?;
///     std::io::Result::Ok(start.elapsed())
/// });
/// assert!(task.join()? >= Duration::from_millis(5));
/// # std::io::Result::Ok(())
/// ```
pub fn sleep(duration: Duration) -> io::Result<()> {
    crate::io::single(Timeout::new(duration))
}

/// Runs `f` with a deadline `duration` from now for its IO (see the
/// [module docs](self#deadlines)), and returns what `f` returns: a call cut short by the
/// deadline fails [expired](corio_aio::is_expired) (`ErrorKind::TimedOut`), and `f` decides
/// what that means. The previous deadline is restored when `f` returns or unwinds.
///
/// ```
/// use corio_coro::{Scheduler, sleep, timeout};
/// use std::time::Duration;
///
/// let scheduler = Scheduler::new()?;
/// let task = scheduler.spawn(|| timeout(Duration::from_millis(5), || sleep(Duration::from_secs(60))));
/// let e = task.join().unwrap_err();
/// assert!(corio_aio::is_expired(&e));
/// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
/// # std::io::Result::Ok(())
/// ```
pub fn timeout<R>(duration: Duration, f: impl FnOnce() -> R) -> R {
    /// Restores the previous deadline, also on unwind.
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_deadline(self.0);
        }
    }
    let previous = deadline();
    let mine = Instant::now().checked_add(duration);
    let effective = match (previous, mine) {
        (Some(p), Some(m)) => Some(p.min(m)),
        (p, m) => p.or(m),
    };
    let _restore = Restore(previous);
    set_deadline(effective);
    f()
}

/// Ticks at a fixed period: [`tick`](Interval::tick) sleeps until the next multiple of the
/// period after the start. A tick that comes late (the caller was busy past it) returns at
/// once, and the ticks it missed are skipped: the schedule keeps its phase instead of
/// firing a burst to catch up.
///
/// ```
/// use corio_coro::{Interval, Scheduler};
/// use std::time::{Duration, Instant};
///
/// let scheduler = Scheduler::new()?;
/// let task = scheduler.spawn(|| {
///     let start = Instant::now();
///     let mut every = Interval::new(Duration::from_millis(2))?;
///     for _ in 0..3 {
///         every.tick()?;
///     }
///     std::io::Result::Ok(start.elapsed())
/// });
/// assert!(task.join()? >= Duration::from_millis(6));
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
}

impl Interval {
    /// An interval whose first tick is one `period` from now. Fails `InvalidInput` for a zero
    /// period.
    pub fn new(period: Duration) -> io::Result<Interval> {
        if period.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "an Interval needs a period above zero"));
        }
        Ok(Interval { period, next: Instant::now() + period })
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Sleeps until the next tick (see the type's docs); fails as [`sleep`] does, leaving
    /// the schedule as it was.
    pub fn tick(&mut self) -> io::Result<()> {
        let now = Instant::now();
        if self.next > now {
            sleep(self.next - now)?;
        }
        // Skip the ticks already missed, keeping the phase.
        let now = Instant::now();
        if self.next <= now {
            let missed = (now - self.next).as_nanos() / self.period.as_nanos() + 1;
            let missed = u32::try_from(missed).unwrap_or(u32::MAX);
            self.next = self.next.checked_add(self.period * missed).unwrap_or(now + self.period);
        }
        Ok(())
    }
}
