//! What [`TcpListener::incoming`](super::TcpListener::incoming) and
//! `UnixListener::incoming` share: accepting through one multishot accept
//! ([`AcceptMulti`]) instead of one accept op per connection.
//!
//! Inside a task, the first `next()` registers a slot with the scheduler
//! (`scheduler/multishot.rs`) and arms the op; the kernel then accepts every connection as it
//! arrives and the scheduler appends each to the slot's queue, also while the task is busy
//! elsewhere. `next()` takes the oldest queued connection, and parks only when none is
//! queued: one wake-up of the accepting task takes every connection that arrived meanwhile.
//! When the kernel ends the op (an error, which `next()` returns in order, or an overflow) the
//! next `next()` that finds the queue empty arms it again. Dropping the iterator cancels the op
//! and waits for its end, and closes the connections accepted and not taken.
//!
//! Outside a task, or on a non-blocking listener, `next()` is the plain `accept` (after the
//! connections still queued, with the multishot op stopped first so that it cannot take a
//! connection the plain accept waits for).

use std::io;

use corio_aio::Value;
use corio_aio::op::{AcceptMulti, Op};

use super::socket::{Socket, Source};
use crate::scheduler::multishot::Multi;
use crate::task;

/// The multishot state of one `Incoming` (none until its first `next()` in a task).
#[derive(Debug, Default)]
pub(super) struct Accepting {
    multi: Option<Multi>,
}

/// An accepted connection out of a multishot accept's result.
fn accepted(item: io::Result<Value>) -> io::Result<socket2::Socket> {
    item.and_then(<AcceptMulti<'static> as Op>::output)
}

impl Accepting {
    /// The next connection on `listener`: a queued one, else one accepted by the multishot
    /// op (inside a task), else `plain()` (outside a task, or non-blocking). `wrap` makes the
    /// caller's type of an accepted socket.
    pub(super) fn next<S: Source, T>(
        &mut self,
        listener: &Socket<S>,
        plain: impl FnOnce() -> io::Result<T>,
        wrap: impl FnOnce(socket2::Socket) -> T,
    ) -> io::Result<T> {
        if let Some(item) = self.multi.as_ref().and_then(Multi::pop) {
            return accepted(item).map(wrap);
        }
        let task = match task::current() {
            Some(task) if listener.coop() => task,
            _ => {
                if let Some(multi) = &self.multi {
                    multi.stop();
                    if let Some(item) = multi.pop() {
                        return accepted(item).map(wrap);
                    }
                }
                return plain();
            }
        };
        let sched = task.scheduler();
        if !self.multi.as_ref().is_some_and(|multi| multi.is_of(&sched)) {
            // A slot of another scheduler (the iterator moved between schedulers on this
            // thread) is dropped: stopped, or abandoned if it cannot be waited for.
            self.multi = Some(Multi::register(&sched));
        }
        let multi = self.multi.as_ref().expect("registered above");
        loop {
            if let Some(item) = multi.pop() {
                return accepted(item).map(wrap);
            }
            #[cfg(unix)]
            {
                let fd = multi.target(&task.scheduler(), std::os::fd::AsFd::as_fd(listener.as_std()))?;
                // SAFETY: the op names `listener`'s socket, which the iterator borrows for as
                // long as it holds `multi` (this `Accepting` lives in it), or the slot's
                // duplicate of it (kept by the slot until the op ended); dropping `multi`
                // stops the op.
                unsafe { multi.arm(&task, || AcceptMulti::new(&fd))? };
            }
            // SAFETY: the op names `listener`'s socket, which the iterator borrows for as long
            // as it holds `multi` (this `Accepting` lives in it); dropping `multi` stops the op.
            #[cfg(not(unix))]
            unsafe {
                multi.arm(&task, || AcceptMulti::new(listener.as_std()))?
            };
            multi.wait(&task)?;
        }
    }
}
