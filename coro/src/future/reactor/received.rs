//! Multishot receives behind the streams' async reads (`stream.rs`): one `RecvMulti` per
//! stream into the scheduler's provided buffers (the group that buffered readers use), so a
//! read is served from what already arrived, without an op per read.
//!
//! # Ownership
//!
//! The kernel writes only into buffers of the group, which the op holds itself (and whose
//! memory lives until the scheduler's `Dynamic` drained every op). Each report (a
//! [`ProvidedBuf`], which is not `Send`) stays in the op's table entry, on the scheduler's
//! thread, until a read of the stream copies its bytes out; the entry also holds the duplicate
//! descriptor the op names until the op ended. Nothing the kernel touches is reachable from
//! the stream or a future, so dropping, leaking or moving either is sound, as for the ops
//! that complete once (see `reactor.rs`).
//!
//! # The end of the op
//!
//! The router is not told whether a report is the op's last, so after a reaping pass with
//! reports `after_reap` asks the `Dynamic` whether the op is still in flight
//! ([`Reactor::check_reported`]). An ended op's entry keeps its reports until the stream read
//! them; the stream's next read then frees the entry and arms a new receive (after an end of
//! stream, an error, or an `ENOBUFS`: the group had no free buffer, when that read receives
//! once into the stream's own buffer).
//!
//! # Stopping
//!
//! A stream dropped on its scheduler's thread stops the op ([`Reactor::stop_received`]: the
//! reports are dropped, their buffers go back to the group, a `Cancel` is queued (if the
//! queue's reserve is spent, after each reaping pass until it fits), and the entry is freed
//! once the op ended). A stream dropped anywhere else (outside a task, on another thread)
//! marks its cell `dropped` and counts itself in [`DROPPED_AWAY`]: after its next reaping pass
//! that sees the count change, each reactor stops its receives whose cell is marked
//! ([`Reactor::stop_dropped_away`]), and the op's next report is dropped meanwhile. Waiting for
//! that report instead held the socket open for as long as the peer was silent (and an entry
//! whose receive had ended, its buffers and descriptor, until the scheduler was dropped). A
//! sync read of the stream stops it too, keeping its bytes ([`Reactor::poll_stop_received`]).

use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll, Waker};

use corio_aio::__private::RuntimeExt;
use corio_aio::op::{Cancel, Op, OpExt, RecvMulti};
use corio_aio::{ProvidedBuf, Value};

use super::{CANCEL, FUTURE_TAG, OpCell, OpRef, Reactor};
use crate::scheduler::{Counters, Inner};
use std::sync::atomic::AtomicU64;

/// Streams whose receive was left running because they were dropped where its reactor could
/// not be reached (outside a task, on another thread): a count every reactor compares after
/// its reaping passes, one load per pass, to look for such receives only when it changed.
pub(crate) static DROPPED_AWAY: AtomicU64 = AtomicU64::new(0);

/// A multishot receive's state in its table entry.
#[derive(Default)]
pub(super) struct Received {
    /// Reports not read yet, in arrival order.
    items: VecDeque<io::Result<Value>>,
    /// The buffer being read and how much of it was read.
    front: Option<(ProvidedBuf, usize)>,
    /// The op ended: no report follows.
    ended: bool,
    /// The stream is gone or stopping the op: reports are dropped (`closing`), a `Cancel` was
    /// queued (`cancel_queued`).
    closing: bool,
    cancel_queued: bool,
}

impl Received {
    /// Takes a report; returns the waker to wake.
    pub(super) fn report(&mut self, cell: &OpCell, result: io::Result<Value>) -> Option<Waker> {
        let mut state = cell.lock();
        if state.dropped {
            self.closing = true;
        }
        if self.closing {
            return None; // dropped here: its buffer goes back to the group
        }
        self.items.push_back(result);
        state.waker.take()
    }
}

impl Drop for super::Entry {
    fn drop(&mut self) {
        if self.received.is_some() {
            self.cell.lock().received_gone = true;
        }
    }
}

/// What a read got from its stream's multishot receive.
pub(crate) enum Take {
    /// Bytes handed to the reader (0: end of stream), or the error the receive ended with.
    Ready(io::Result<usize>),
    /// Nothing arrived yet; the read's waker is registered.
    Pending,
    /// The receive ended and everything it got was read: its entry is freed, arm another.
    Ended,
    /// The receive ended for want of a free buffer (its entry is freed): receive once into
    /// the stream's own buffer, then arm another.
    NoBuffers,
    /// The receive runs on another scheduler (the stream's first async read was there); its
    /// cell tells whether it is gone (`received_gone`).
    Foreign,
}

/// The group had no free buffer for the receive.
fn is_no_buffers(e: &io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::ENOBUFS);
    #[cfg(not(unix))]
    return {
        let _ = e;
        false // no buffer groups there
    };
}

impl Reactor {
    /// Marks the op `op`, just queued by [`queue`](Reactor::queue) with a `RecvMulti`, as a
    /// multishot receive (before any completion can come: those come only in a reaping pass).
    pub(crate) fn mark_received(&self, op: OpRef) {
        if let Some(Some(entry)) = self.entries.borrow_mut().get_mut(op.slot as usize) {
            entry.received = Some(Box::default());
        }
    }

    /// Whether `op` is an op of this reactor (its scheduler's).
    pub(crate) fn owns(&self, op: OpRef) -> bool {
        op.reactor == self.id
    }

    /// Hands `out` the oldest bytes the receive `op` got; see [`Take`].
    pub(crate) fn take_received(&self, op: OpRef, cx: &Context<'_>, out: &mut dyn FnMut(&[u8]) -> usize) -> Take {
        if op.reactor != self.id {
            return Take::Foreign;
        }
        let mut entries = self.entries.borrow_mut();
        let Some(Some(entry)) = entries.get_mut(op.slot as usize) else { return Take::Ended };
        if entry.generation != op.generation {
            return Take::Ended;
        }
        let Some(received) = entry.received.as_mut() else { return Take::Ended };
        loop {
            if let Some((buf, pos)) = &mut received.front {
                // `out` only copies (the traits' closures): it cannot reach the reactor.
                let n = out(&buf[*pos..]);
                *pos += n;
                if *pos == buf.len() {
                    received.front = None; // the buffer goes back to the group
                }
                return Take::Ready(Ok(n));
            }
            match received.items.pop_front() {
                Some(Ok(value)) => match <RecvMulti<'static> as Op>::output(value) {
                    Ok(buf) if buf.is_empty() => return Take::Ready(Ok(0)),
                    Ok(buf) => received.front = Some((buf, 0)),
                    Err(e) => return Take::Ready(Err(e)),
                },
                Some(Err(e)) if is_no_buffers(&e) => {
                    if received.ended {
                        drop(entries);
                        self.free_received(op.slot);
                        return Take::NoBuffers;
                    }
                    // Not its last report (an emulation may go on): the next arrival comes.
                }
                Some(Err(e)) => return Take::Ready(Err(e)),
                None if received.ended => {
                    drop(entries);
                    self.free_received(op.slot);
                    return Take::Ended;
                }
                None => {
                    let mut state = entry.cell.lock();
                    match &state.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => state.waker = Some(cx.waker().clone()),
                    }
                    return Take::Pending;
                }
            }
        }
    }

    /// Frees the entry of an ended receive (its reports, if any, are dropped).
    fn free_received(&self, slot: u32) {
        let entry = self.entries.borrow_mut()[slot as usize].take();
        self.free.borrow_mut().push(slot);
        drop(entry);
    }

    /// After a reaping pass with reports: marks the receives that ended (they no longer count
    /// as live), frees those whose stream is gone, and cancels those whose stream was dropped
    /// where it could not reach the reactor.
    pub(super) fn check_reported(&self, inner: &Inner) {
        let mut reported = std::mem::take(&mut *self.reported.borrow_mut());
        let Ok(mut io) = inner.io() else { return };
        // Receives whose cancel found no room in the queue: asked about again after the next pass.
        let mut retry = Vec::new();
        for slot in reported.drain(..) {
            let mut entries = self.entries.borrow_mut();
            let Some(Some(entry)) = entries.get_mut(slot as usize) else { continue };
            let id = entry.id;
            let Some(received) = entry.received.as_mut() else { continue };
            if received.ended {
                continue; // listed twice
            }
            if !io.is_in_flight(id) {
                received.ended = true;
                self.live.set(self.live.get() - 1);
                if received.closing {
                    let entry = entries[slot as usize].take();
                    drop(entries);
                    self.free.borrow_mut().push(slot);
                    drop(entry);
                }
            } else if received.closing && !received.cancel_queued {
                received.cancel_queued = queue_cancel(inner, &mut io, id);
                if !received.cancel_queued {
                    retry.push(slot);
                }
            }
        }
        drop(io);
        // Keep the list's allocation (nothing was added meanwhile: this runs outside a pass).
        let mut list = self.reported.borrow_mut();
        if list.is_empty() {
            *list = reported;
        }
        list.append(&mut retry);
    }

    /// Stops the receive in `slot` for good: drops its reports, cancels it, frees its entry
    /// once it ended.
    pub(super) fn stop_received(&self, inner: &Inner, slot: u32) {
        let mut entries = self.entries.borrow_mut();
        let Some(Some(entry)) = entries.get_mut(slot as usize) else { return };
        let id = entry.id;
        let Some(received) = entry.received.as_mut() else { return };
        received.closing = true;
        received.items.clear();
        received.front = None;
        if received.ended {
            drop(entries);
            self.free_received(slot);
            return;
        }
        if !received.cancel_queued
            && let Ok(mut io) = inner.io()
        {
            received.cancel_queued = queue_cancel(inner, &mut io, id);
        }
        if !received.cancel_queued {
            // No room for the cancel (the queue's reserve is spent): tried again after the
            // next reaping pass. Waiting for a report instead could wait forever on a silent
            // peer, with the socket held open.
            self.reported.borrow_mut().push(slot);
        }
    }

    /// Stops every receive whose stream was dropped where this reactor could not be reached
    /// (its cell marked `dropped`; see [`DROPPED_AWAY`]).
    #[cold]
    pub(super) fn stop_dropped_away(&self, inner: &Inner) {
        let dropped: Vec<u32> = self
            .entries
            .borrow()
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| {
                let entry = entry.as_ref()?;
                let closing = entry.received.as_ref()?.closing;
                (!closing && entry.cell.lock().dropped).then_some(slot as u32)
            })
            .collect();
        for slot in dropped {
            self.stop_received(inner, slot);
        }
    }

    /// Stops the receive `op` keeping what it got: appends the bytes of its reports to `into`
    /// (errors are dropped: a sync read will meet them on the socket), cancels it, and is ready
    /// when it ended (its entry freed). For a sync read after async ones.
    pub(crate) fn poll_stop_received(
        &self,
        inner: &Inner,
        op: OpRef,
        cx: &Context<'_>,
        into: &mut Vec<u8>,
    ) -> Poll<()> {
        if op.reactor != self.id {
            return Poll::Ready(());
        }
        let mut entries = self.entries.borrow_mut();
        let Some(Some(entry)) = entries.get_mut(op.slot as usize) else { return Poll::Ready(()) };
        if entry.generation != op.generation {
            return Poll::Ready(());
        }
        let id = entry.id;
        let Some(received) = entry.received.as_mut() else { return Poll::Ready(()) };
        if let Some((buf, pos)) = received.front.take() {
            into.extend_from_slice(&buf[pos..]);
        }
        for item in received.items.drain(..) {
            if let Ok(buf) = item.and_then(<RecvMulti<'static> as Op>::output) {
                into.extend_from_slice(&buf);
            }
        }
        if received.ended {
            drop(entries);
            self.free_received(op.slot);
            return Poll::Ready(());
        }
        if !received.cancel_queued
            && let Ok(mut io) = inner.io()
        {
            received.cancel_queued = queue_cancel(inner, &mut io, id);
        }
        if !received.cancel_queued {
            self.reported.borrow_mut().push(op.slot); // tried again after the next pass
        }
        entry.cell.lock().waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Queues a `Cancel` of `id` (its result is dropped); whether it was queued.
fn queue_cancel(inner: &Inner, io: &mut corio_aio::Dynamic<'static>, id: corio_aio::Id) -> bool {
    match io.queue(Cancel::new(id).user_data(FUTURE_TAG | u64::from(CANCEL))) {
        Ok(_) => {
            Counters::add(&inner.counters.cancels_queued, 1);
            true
        }
        Err(e) => {
            // It runs on, its reports dropped; the caller lists it to try again after the
            // next reaping pass.
            log::debug!("corio: cannot cancel a stream's multishot receive: {e}");
            false
        }
    }
}
