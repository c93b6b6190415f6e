//! Futures inside tasks: [`block_on`] polls a future on the current task, [`sleep`] and
//! [`timeout`] run on the scheduler's timers, and a [`Task`](crate::Task) is a future of its
//! result, so async code (hyper, tokio-util codecs, `futures` combinators) runs in tasks
//! beside blocking-style code.
//!
//! ```
//! use corio_coro::{Scheduler, future};
//! use std::time::Duration;
//!
//! let scheduler = Scheduler::new()?;
//! let task = scheduler.spawn(|| {
//!     future::block_on(async {
//!         future::sleep(Duration::from_millis(1)).await;
//!         let slow = future::sleep(Duration::from_secs(60));
//!         future::timeout(Duration::from_millis(1), slow).await.is_err()
//!     })
//! });
//! assert!(task.join()?);
//! # std::io::Result::Ok(())
//! ```
//!
//! # How a future waits
//!
//! [`block_on`] polls the future; when it is pending the task parks (the scheduler runs other
//! tasks) until the future's [`Waker`] is woken, then polls again. The waker is `Send + Sync`:
//! a wake-up on the task's thread makes the task ready directly; one from another thread goes
//! through the scheduler's event source (an `EventSource` a `Wait` op waits on while any
//! `block_on` is parked), so the scheduler wakes the task on its own thread. See `waker.rs`.
//!
//! Ops a future queues (a [`Sleep`]'s timer) outlive the poll that queued them: they report
//! to the scheduler's reactor, which owns everything they point at until their completion (see
//! `reactor.rs`); dropping the future cancels the op, and never frees memory the kernel uses.
//!
//! # Streams
//!
//! [`TcpStream`](crate::net::TcpStream) and (on Unix) `UnixStream` implement the async IO
//! traits themselves, one cargo feature each: `futures-io` (`futures_io::{AsyncRead,
//! AsyncWrite}`), `tokio` (`tokio::io::{AsyncRead, AsyncWrite}`) and `hyper`
//! (`hyper::rt::{Read, Write}`); `hyper` adds `Executor` (hyper's executor: each future a
//! task). A stream's async state is made at its first poll: reads are served by one multishot
//! receive into the scheduler's provided buffers (no op per read), writes copy into a buffer
//! lent to the scheduler per send, and the ops name a duplicate of the stream's descriptor;
//! why a future dropped mid-read is sound is argued in `stream.rs`.
//!
//! ```
//! # #[cfg(feature = "futures-io")] {
//! use corio_coro::net::{TcpListener, TcpStream};
//! use corio_coro::{Scheduler, future::block_on};
//! use futures_io::{AsyncRead, AsyncWrite};
//! use std::{future::poll_fn, pin::Pin};
//!
//! let scheduler = Scheduler::new()?;
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let task = scheduler.spawn(move || -> std::io::Result<Vec<u8>> {
//!     let mut client = TcpStream::connect(addr)?;
//!     let mut server = listener.accept()?.0;
//!     block_on(async {
//!         poll_fn(|cx| Pin::new(&mut client).poll_write(cx, b"ping")).await?;
//!         let mut buf = [0u8; 4];
//!         let n = poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf)).await?;
//!         Ok(buf[..n].to_vec())
//!     })?
//! });
//! assert_eq!(task.join()?, b"ping");
//! # }
//! # std::io::Result::Ok(())
//! ```
//!
//! **Mixing sync and async calls on one stream.** The async reads receive ahead: after the
//! first one, the stream's multishot receive takes whatever arrives. A sync read through
//! `&mut` (`Read for TcpStream`) stops that receive first (waiting for its end, in a task of
//! its scheduler), returns the bytes it had received, then reads the socket; the next async
//! read arms a new receive. Elsewhere (outside a task, or on another scheduler) while that
//! scheduler runs, such a read fails (`Other`), as an async read there does: the bytes the
//! receive took cannot reach it. A read through a shared reference (`Read for &TcpStream`, another
//! task's clone, a `buffered_reader`) does not stop it, and races it for the bytes: don't mix
//! those with async reads. The async writes report bytes written once copied: flush
//! (`poll_flush`) before a sync write, or the sync bytes may overtake them. The async traits
//! are for streams in blocking mode (the default); on a stream set non-blocking they may fail
//! with `WouldBlock`.
//!
//! # Limits
//!
//! - While a `block_on` is parked its scheduler keeps the mailbox's `Wait` in flight, so
//!   [`Scheduler::run`](crate::Scheduler::run) cannot tell a future that will never be woken
//!   from one another thread will wake: it waits (as an async runtime does) instead of
//!   reporting a deadlock. [`RunMode::Cancel`](crate::RunMode::Cancel) and dropping the
//!   scheduler still end such tasks.
//! - An op is canceled when its future or stream is dropped on its scheduler's thread inside
//!   a task; dropped anywhere else a stream's multishot receive is canceled after its
//!   scheduler's next reaping pass, and any other op runs until it completes (a read: until
//!   the peer sends or closes) or its scheduler is dropped, holding its buffer and the
//!   duplicate descriptor until then (so the connection stays open until then).
//!
//! Outside a task, [`block_on`] blocks the thread between polls (a waker that unparks it);
//! [`sleep`] there waits on a helper thread, and awaiting a [`Task`](crate::Task) runs its
//! scheduler as [`Task::join`](crate::Task::join) does.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use corio_aio::canceled;

use crate::task::{self, Status, TaskCore};

mod doorbell;
pub(crate) mod reactor;
mod stream;
mod time;
mod traits;
mod waker;

pub(crate) use reactor::Reactor;
pub(crate) use stream::{AsyncIo, StdStream};
pub use time::{Sleep, Timeout, sleep, sleep_until, timeout};
#[cfg(feature = "hyper")]
pub use traits::Executor;
use waker::Signal;

/// Runs `future` to completion on the current task and returns its output.
///
/// Inside a task, the task parks while the future is pending and the scheduler runs other
/// tasks; the future's waker (`Send + Sync`) makes it ready again, from any thread. Outside a
/// task, the thread blocks between polls.
///
/// Fails [canceled](corio_aio::is_canceled) if the task is (or gets) canceled while the
/// future is pending: the future is dropped then, which cancels its ops.
///
/// ```
/// use corio_coro::{Scheduler, future};
///
/// let scheduler = Scheduler::new()?;
/// let task = scheduler.spawn(|| future::block_on(async { 6 * 7 }));
/// assert_eq!(task.join()?, 42);
/// assert_eq!(future::block_on(async { 1 })?, 1);
/// # std::io::Result::Ok(())
/// ```
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    match task::current() {
        Some(me) => block_on_task(me, future),
        None => Ok(block_on_thread(future)),
    }
}

/// Gives the task back from the signal and leaves the parked count, also on unwinding.
struct Release<'a>(&'a Signal);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Decrements the reactor's parked count when the park ends (also by unwinding).
struct Parked<'a>(&'a crate::scheduler::Inner);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.reactor.unparked(self.0);
    }
}

fn block_on_task<F: Future>(me: std::rc::Rc<TaskCore>, future: F) -> io::Result<F::Output> {
    let sched = me.scheduler();
    let signal = Arc::new(Signal::new(me.clone(), sched.reactor.mailbox(&sched)?));
    let _release = Release(&signal);
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if me.canceled.get() && me.cancelable.get() {
            return Err(canceled());
        }
        signal.clear();
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        if signal.is_woken() {
            // Woken while polling: run again after the other ready tasks, as a yield.
            sched.wake_after_park(&me);
        } else {
            signal.set_parked(true);
        }
        sched.reactor.parking(&sched);
        let parked = Parked(&sched);
        me.park(Status::Event);
        drop(parked);
        signal.set_parked(false);
    }
}

/// Wakes a thread blocked in [`block_on`] outside a task.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on_thread<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Called by the scheduler when `task` finished: wakes a future awaiting it.
pub(crate) fn task_finished(sched: &crate::scheduler::Inner, task: &TaskCore) {
    sched.reactor.task_finished(task as *const TaskCore as usize);
}
