//! [`Channel`]: a multi-producer, multi-consumer FIFO channel, bounded or unbounded, for tasks
//! on any thread and scheduler, and plain threads.

use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Mutex;

use super::waiters::{WaitQueue, lock};
use crate::task::check_canceled;

/// A first-in, first-out channel for tasks on any thread and scheduler, and plain threads:
/// every item sent is received exactly once, and items are received in the order they were
/// sent (the order of one sender's items holds for every receiver).
///
/// [`recv`](Channel::recv) waits while the channel is empty; [`send`](Channel::send) waits
/// while a [bounded](Channel::bounded) channel is full. Waiting parks the task (its scheduler
/// runs its other tasks) or blocks a plain thread; wake-ups cross threads through
/// [`EventSource`](corio_aio::EventSource)s, one per waiter, first come first served.
/// [`close`](Channel::close) lets receivers drain what is left, then fail.
///
/// In a canceled task, `send` and `recv` fail [canceled](corio_aio::is_canceled) at once, and a
/// task parked in them is resumed with that error (a `send` hands its item back in the
/// [`SendError`]); an item is never lost to a cancel.
///
/// # Descriptors
///
/// Each task or thread *waiting* holds one event descriptor (an `eventfd` on Linux) while it
/// waits; up to 64 per thread are kept for reuse. Thousands of tasks waiting at once need a
/// matching `RLIMIT_NOFILE`; a wait that cannot get a descriptor fails with the OS error
/// (`EMFILE`) instead of waiting. The same holds for [`Condvar`](super::Condvar).
///
/// ```
/// use std::sync::Arc;
/// use corio_coro::{Scheduler, RunMode, sync::Channel};
///
/// let channel = Arc::new(Channel::bounded(1));
/// let scheduler = Scheduler::new()?;
/// let tx = channel.clone();
/// let producer = scheduler.spawn(move || {
///     for i in 0..3 {
///         tx.send(i)?; // waits while the item before is not yet received
///     }
///     tx.close();
///     std::io::Result::Ok(())
/// });
/// let rx = channel.clone();
/// let consumer = scheduler.spawn(move || std::iter::from_fn(|| rx.recv().ok()).collect::<Vec<_>>());
/// scheduler.run(RunMode::Wait)?;
/// producer.join()?;
/// assert_eq!(consumer.join(), [0, 1, 2]);
/// # std::io::Result::Ok(())
/// ```
pub struct Channel<T> {
    state: Mutex<State<T>>,
    capacity: Option<usize>,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    receivers: WaitQueue,
    senders: WaitQueue,
}

/// The error of a failed [`Channel::send`] or [`Channel::try_send`]: why, and the item back.
///
/// The error's kind is `BrokenPipe` if the channel is closed, `WouldBlock` if `try_send`
/// found it full, or a [canceled](corio_aio::is_canceled) error.
pub struct SendError<T> {
    item: T,
    error: io::Error,
}

impl<T> SendError<T> {
    /// Why the item was not sent.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        self.item
    }

    /// The item and the error.
    pub fn into_parts(self) -> (T, io::Error) {
        (self.item, self.error)
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").field("error", &self.error).finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot send on the channel: {}", self.error)
    }
}

impl<T> Error for SendError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<SendError<T>> for io::Error {
    /// The error, dropping the item.
    fn from(e: SendError<T>) -> io::Error {
        e.error
    }
}

/// The error of a send or receive on a closed (and, for receives, drained) channel.
fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the channel is closed")
}

impl<T> Channel<T> {
    /// A channel holding at most `capacity` items; `send` waits while it is full.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    #[must_use]
    pub fn bounded(capacity: usize) -> Channel<T> {
        assert!(capacity > 0, "a bounded channel holds at least one item");
        Channel::with_capacity(Some(capacity))
    }

    /// A channel without a bound; `send` never waits.
    #[must_use]
    pub fn unbounded() -> Channel<T> {
        Channel::with_capacity(None)
    }

    fn with_capacity(capacity: Option<usize>) -> Channel<T> {
        let state = State {
            items: VecDeque::new(),
            closed: false,
            receivers: WaitQueue::default(),
            senders: WaitQueue::default(),
        };
        Channel { state: Mutex::new(state), capacity }
    }

    /// Appends `item`, waiting while a bounded channel is full (see the type docs for how it
    /// waits). Fails, handing the item back, if the channel is closed or the task canceled.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        if let Err(error) = check_canceled() {
            return Err(SendError { item, error });
        }
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return Err(SendError { item, error: closed() });
            }
            if self.capacity.is_none_or(|c| state.items.len() < c) {
                state.items.push_back(item);
                state.receivers.wake_one();
                return Ok(());
            }
            let ticket = match state.senders.register() {
                Ok(ticket) => ticket,
                Err(error) => return Err(SendError { item, error }),
            };
            drop(state);
            let (relocked, waited) = ticket.wait(&self.state, |s| &mut s.senders);
            state = relocked;
            if let Err(error) = waited {
                return Err(SendError { item, error });
            }
        }
    }

    /// Appends `item` if the channel has room; never waits. Fails with `WouldBlock` if it is
    /// full, `BrokenPipe` if it is closed.
    pub fn try_send(&self, item: T) -> Result<(), SendError<T>> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(SendError { item, error: closed() });
        }
        if self.capacity.is_some_and(|c| state.items.len() >= c) {
            return Err(SendError { item, error: io::ErrorKind::WouldBlock.into() });
        }
        state.items.push_back(item);
        state.receivers.wake_one();
        Ok(())
    }

    /// Takes the oldest item, waiting while the channel is empty (see the type docs for how it
    /// waits). Fails with `BrokenPipe` once the channel is closed and empty, or canceled.
    pub fn recv(&self) -> io::Result<T> {
        check_canceled()?;
        let mut state = lock(&self.state);
        loop {
            if let Some(item) = state.items.pop_front() {
                state.senders.wake_one();
                return Ok(item);
            }
            if state.closed {
                return Err(closed());
            }
            let ticket = state.receivers.register()?;
            drop(state);
            let (relocked, waited) = ticket.wait(&self.state, |s| &mut s.receivers);
            state = relocked;
            waited?;
        }
    }

    /// Takes the oldest item if there is one; never waits. `Ok(None)` if the channel is empty,
    /// `BrokenPipe` if it is also closed.
    pub fn try_recv(&self) -> io::Result<Option<T>> {
        let mut state = lock(&self.state);
        match state.items.pop_front() {
            Some(item) => {
                state.senders.wake_one();
                Ok(Some(item))
            }
            None if state.closed => Err(closed()),
            None => Ok(None),
        }
    }

    /// Closes the channel: sends fail from now on; receivers get the items left, then fail.
    /// Wakes every waiting sender and receiver.
    pub fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.receivers.wake_all();
        state.senders.wake_all();
    }

    /// Whether [`close`](Channel::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Items in the channel now.
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// Whether the channel holds no item now.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound of a bounded channel.
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Channel")
            .field("len", &state.items.len())
            .field("capacity", &self.capacity)
            .field("closed", &state.closed)
            .finish()
    }
}
