//! [`Sleep`] and [`Timeout`]: futures on the scheduler's timers (an aio `Timeout` op queued
//! through the reactor when first polled in a task; canceled when the future is dropped).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corio_aio::__private::RuntimeExt;
use corio_aio::op;

use super::reactor::{self, OpCell, OpRef, current_scheduler};

/// A future that completes at a deadline; made by [`sleep`] or [`sleep_until`].
///
/// Inside a task its timer is an op of the task's scheduler, queued when first polled;
/// outside a task a helper thread sleeps until the deadline.
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    cell: Arc<OpCell>,
    /// The timer in flight, if any.
    timer: Option<Timer>,
}

enum Timer {
    Op(OpRef),
    Thread,
}

/// Sleeps for `duration`.
///
/// ```
/// use corio_coro::future::{block_on, sleep};
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// block_on(sleep(Duration::from_millis(2)))?;
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// # std::io::Result::Ok(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Sleeps until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, cell: Arc::default(), timer: None }
}

impl Sleep {
    /// When the sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (a timer in flight is canceled; a new one starts at the next poll).
    pub fn reset(&mut self, deadline: Instant) {
        self.stop();
        self.deadline = deadline;
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    fn stop(&mut self) {
        if let Some(Timer::Op(op)) = self.timer.take() {
            reactor::cancel(op);
        }
        // A fresh cell: a late completion of the old timer must not count for the new one.
        self.cell = Arc::default();
    }

    fn start(&mut self, remaining: Duration) -> io::Result<Timer> {
        match current_scheduler() {
            Some(sched) => {
                // SAFETY: a `Timeout` points only into its slot's state.
                let op = unsafe {
                    sched.reactor.queue(&sched, self.cell.clone(), None, None, false, |io, tag, _| {
                        io.queue_tagged(op::Timeout::new(remaining), tag)
                    })?
                };
                Ok(Timer::Op(op))
            }
            None => {
                let (cell, deadline) = (self.cell.clone(), self.deadline);
                std::thread::Builder::new().name("corio-sleep".into()).spawn(move || {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    let waker = {
                        let mut state = cell.lock();
                        state.result = Some(Ok(0));
                        state.waker.take()
                    };
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                })?;
                Ok(Timer::Thread)
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        if now >= self.deadline {
            self.timer = None;
            return Poll::Ready(());
        }
        if self.timer.is_some() {
            let mut state = self.cell.lock();
            match state.result.take() {
                // Fired (or failed): the deadline check above decides; a timer that ended
                // early (canceled by a teardown) is started again below.
                Some(_) => {}
                None => {
                    state.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
            drop(state);
            self.timer = None;
        }
        self.cell.lock().waker = Some(cx.waker().clone());
        let remaining = self.deadline - now;
        match self.start(remaining) {
            Ok(timer) => self.timer = Some(timer),
            // No room in the IO queue (or no thread): try again soon.
            Err(_) => cx.waker().wake_by_ref(),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(Timer::Op(op)) = self.timer.take() {
            reactor::cancel(op);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}

/// Runs `future` for at most `duration`: its output, or a `TimedOut` error (the future is
/// dropped then, which cancels its ops).
///
/// ```
/// use corio_coro::future::{block_on, sleep, timeout};
/// use std::time::Duration;
///
/// let quick = block_on(timeout(Duration::from_secs(5), async { 7 }))?;
/// assert_eq!(quick?, 7);
/// let slow = block_on(timeout(Duration::from_millis(1), sleep(Duration::from_secs(60))))?;
/// assert_eq!(slow.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// # std::io::Result::Ok(())
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout { future, sleep: sleep(duration) }
}

/// The future [`timeout`] returns.
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = io::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<F::Output>> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self` (no method
        // takes it, `Timeout` has no `Drop` and is `Unpin` only if `F` is); `sleep` is `Unpin`
        // and is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above, `future` stays where it is for as long as `self` does.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "future timed out"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("deadline", &self.sleep.deadline).finish()
    }
}
