//! The async side of [`TcpStream`](crate::net::TcpStream) and (on Unix) `UnixStream`: the
//! state behind their async IO traits (`futures-io`, `tokio` and `hyper` features, in
//! `traits.rs`), on completion IO. Each stream holds an [`AsyncIo`], empty (one pointer) until
//! its first poll.
//!
//! # Design: buffers the stream does not own while the kernel uses them
//!
//! A poll-based read cannot lend the caller's buffer to the kernel: the future that polls it
//! may be dropped (or leaked) while the op is in flight, and the kernel would then write into
//! freed memory. So the kernel only ever writes into memory the scheduler owns:
//!
//! * **Reads** go through one multishot receive per stream into the scheduler's provided
//!   buffers (the group buffered readers use; `reactor/received.rs`), armed by the first
//!   read: each arrival lands in a buffer of the group and waits in the reactor's table entry
//!   until a read copies it out. A read that finds data takes it with no op; one that finds
//!   none registers its waker. Where there is no group (IOCP, io_uring before 5.19), and for
//!   one read after the group ran out of free buffers (`ENOBUFS`), a read receives instead into
//!   the stream's read buffer, lent to the reactor for that op as a write's buffer is.
//! * **Writes** copy the caller's bytes into a write buffer, send from there, and report them
//!   written at once (a flush waits until all are sent). While the op is in flight its buffer
//!   is *not* the stream's: it is moved into the scheduler's reactor (`reactor.rs`) and comes
//!   back only with the completion. A whole send (`Send::wait_all`) leaves its buffer to the
//!   reactor, for the next write of any stream: a few buffers, warm in the cache, serve all
//!   streams. On the posix backend a write with nothing of its stream in flight first tries
//!   a nonblocking `sendmsg` of the caller's slices itself (the engine's first attempt would be
//!   that same call), so a reply that fits the socket's buffer costs no op and no copy. Not on
//!   io_uring: there the call saves the op's bookkeeping (about 1,100 user-space instructions
//!   per hyper request) but costs a syscall per write, and the server's CPU time per request
//!   came out higher in paired runs (see `Reactor::sends_at_once`).
//!
//! Every op names a duplicate of the stream's descriptor, made at the first op and shared by
//! `Arc` between the stream's state and the ops' table entries: dropping the stream (or
//! converting it into a raw descriptor) mid-op closes the stream's descriptor, but the op's
//! stays open, so its number cannot be reused by another socket until the op ended. Dropping
//! the stream (or the future holding it) mid-op cancels the op and frees nothing the op uses:
//! the reactor frees the buffer and the duplicate after the op's end, or after its
//! scheduler's `Dynamic` drained every op. This is why the soundness argument needs no
//! lifetime on the future: nothing the kernel writes is reachable from it.
//!
//! The read and the write side are separate, so a read and a write of one stream, and reads
//! and writes of other streams, are in flight at once in one future (`select!`, HTTP/2's
//! connection task); the waker of each side's last pending poll is woken when its op reports.
//!
//! A stream's multishot receive runs on the scheduler of its first async read. Polled on
//! another scheduler (or outside a task) while that one still runs, a read fails (`Other`):
//! the bytes received there cannot reach it. Once that scheduler is gone, reads arm a new
//! receive where they run (outside a task: read the socket).
//!
//! Outside a task (no scheduler to drive ops) each poll is the blocking std call.

// Without any of the traits' features only the sync reads' `take_buffered` is used.
#![cfg_attr(not(any(feature = "futures-io", feature = "tokio", feature = "hyper")), allow(dead_code))]

use std::any::Any;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::task::{Context, Poll};

use corio_aio::__private::RuntimeExt;
use corio_aio::op::{IntoEntry, Recv, RecvMulti, Send as SendOp};

use super::reactor::{self, OpCell, OpRef, Take, current_scheduler};
use crate::scheduler::Inner;

#[cfg(windows)]
use corio_aio::AsSource as Source;
/// What aio's ops take a descriptor from.
#[cfg(unix)]
use std::os::fd::AsFd as Source;

/// Bytes each direction buffers.
const BUFFER: usize = 16 * 1024;

thread_local! {
    /// Set once a whole send (`Send::wait_all`) was refused on this thread (io_uring before
    /// 5.19): writes then wait for their sends in `poll_flush`.
    static NO_WHOLE_SENDS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The std streams an [`AsyncIo`] drives: `std::net::TcpStream` and (on Unix)
/// `std::os::unix::net::UnixStream`.
pub(crate) trait StdStream: Source + Send + Sync + Sized + 'static {
    fn duplicate(&self) -> io::Result<Self>;
    fn shutdown_write(&self) -> io::Result<()>;
    fn blocking_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn blocking_write(&self, buf: &[u8]) -> io::Result<usize>;
}

macro_rules! std_stream {
    ($($ty:ty),*) => {$(
        impl StdStream for $ty {
            fn duplicate(&self) -> io::Result<Self> {
                self.try_clone()
            }
            fn shutdown_write(&self) -> io::Result<()> {
                self.shutdown(Shutdown::Write)
            }
            fn blocking_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                let mut this = self;
                this.read(buf)
            }
            fn blocking_write(&self, buf: &[u8]) -> io::Result<usize> {
                let mut this = self;
                this.write(buf)
            }
        }
    )*};
}
std_stream!(std::net::TcpStream);
#[cfg(unix)]
std_stream!(std::os::unix::net::UnixStream);

/// One direction: its buffer (when no op holds it) and its op in flight.
#[derive(Default)]
struct Side {
    cell: Arc<OpCell>,
    buf: Option<Vec<u8>>,
    op: Option<OpRef>,
    /// Write: the op in flight is a whole send (`Send::wait_all`): it completes only when
    /// every byte is sent (or on an error), so nobody needs to wait for it.
    whole: bool,
    /// Read: unread bytes are `buf[start..end]`. Write: unsent bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Read: the multishot receive, once armed (see the module docs).
    multi: Option<OpRef>,
}

impl Side {
    /// Takes the op's result and buffer back if it completed; otherwise registers the waker.
    fn reap(&mut self, cx: &Context<'_>) -> Poll<io::Result<usize>> {
        let mut state = self.cell.lock();
        match state.result.take() {
            Some(result) => {
                self.buf = state.buf.take();
                self.op = None;
                Poll::Ready(result)
            }
            None => {
                match &state.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => state.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    fn take_buf(&mut self) -> Vec<u8> {
        self.buf.take().unwrap_or_else(|| vec![0; BUFFER])
    }
}

/// The state of a stream's async reads and writes (see the module docs).
struct State<S> {
    /// The duplicate of the stream's descriptor that ops name (made by the first op).
    dup: Option<Arc<S>>,
    read: Side,
    write: Side,
}

/// A stream's async side: nothing until its first poll, then its [`State`] (boxed, so a
/// stream that is never polled stays small).
pub(crate) struct AsyncIo<S> {
    state: Option<Box<State<S>>>,
}

impl<S> Default for AsyncIo<S> {
    fn default() -> AsyncIo<S> {
        AsyncIo { state: None }
    }
}

impl<S: StdStream> AsyncIo<S> {
    #[inline]
    fn state(&mut self) -> &mut State<S> {
        self.state.get_or_insert_with(Self::new_state)
    }

    #[cold]
    fn new_state() -> Box<State<S>> {
        Box::new(State { dup: None, read: Side::default(), write: Side::default() })
    }

    /// Copies into `buf` what async reads received and nobody read yet (`None` if nothing):
    /// a sync read of the stream returns these bytes first. Fails, as an async read there
    /// does, where the stream's multishot receive cannot be stopped (outside a task of the
    /// scheduler of its first async read, while that one runs): the bytes it received cannot
    /// reach this read, and a read of the socket would race it for the next ones.
    pub(crate) fn take_buffered(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Some(state) = self.state.as_mut() else { return Ok(None) };
        let side = &mut state.read;
        if let Some(op) = side.multi {
            side.stop_multi(op)?;
        }
        if side.start == side.end || buf.is_empty() {
            return Ok(None);
        }
        let data = side.buf.as_ref().expect("buffered bytes are in the stream's buffer");
        let n = (side.end - side.start).min(buf.len());
        buf[..n].copy_from_slice(&data[side.start..side.start + n]);
        side.start += n;
        Ok(Some(n))
    }

    /// Reads into `out` what the read buffer holds, receiving into it first if it is empty.
    /// `out` takes what it can and says how much it took. Ready(0) at end of stream.
    pub(crate) fn poll_read_with(
        &mut self,
        socket: &S,
        cx: &Context<'_>,
        out: &mut dyn FnMut(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        let state = self.state();
        loop {
            let side = &mut state.read;
            if side.start < side.end {
                let buf = side.buf.as_ref().expect("buffered bytes are in the stream's buffer");
                let n = out(&buf[side.start..side.end]);
                side.start += n;
                return Poll::Ready(Ok(n));
            }
            if side.op.is_some() {
                match side.reap(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
                    Poll::Ready(Ok(n)) => {
                        (side.start, side.end) = (0, n);
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                }
            }
            let sched = current_scheduler();
            if let Some(sched) = &sched
                && !cfg!(windows)
            {
                if let Some(op) = side.multi {
                    match sched.reactor.take_received(op, cx, out) {
                        Take::Ready(read) => return Poll::Ready(read),
                        Take::Pending => return Poll::Pending,
                        Take::Ended => {
                            side.multi = None;
                            continue; // arm a new one
                        }
                        Take::NoBuffers => side.multi = None,
                        // Its scheduler is gone (with everything it had received): start afresh.
                        Take::Foreign if side.cell.lock().received_gone => {
                            side.multi = None;
                            continue;
                        }
                        Take::Foreign => return Poll::Ready(Err(foreign())),
                    }
                    // After `NoBuffers` this read receives into the stream's own buffer; the
                    // next one arms a new multishot receive.
                } else if let Some(group) = sched.multishot.group(sched) {
                    let dup = dup(&mut state.dup, socket)?;
                    let side = &mut state.read;
                    {
                        let mut cell = side.cell.lock();
                        cell.waker = Some(cx.waker().clone());
                        cell.received_gone = false;
                    }
                    let keep: Arc<dyn Any + Send + Sync> = dup.clone();
                    let fd: &S = &dup;
                    // SAFETY: one op, with the tag given, pointing at the duplicate `keep`
                    // holds (which the reactor keeps until the op ended) and into buffers of
                    // `group`, which the op holds itself.
                    let queued = unsafe {
                        sched.reactor.queue(sched, side.cell.clone(), None, Some(keep), false, |io, tag, _| {
                            io.queue_unchecked(RecvMulti::new(&fd, &group).into_entry().user_data(tag))
                        })
                    };
                    match queued {
                        Ok(op) => {
                            sched.reactor.mark_received(op);
                            side.multi = Some(op);
                        }
                        Err(e) if e.kind() == io::ErrorKind::QuotaExceeded => cx.waker().wake_by_ref(),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                    return Poll::Pending;
                }
            }
            let side = &mut state.read;
            let Some(sched) = sched else {
                if side.multi.is_some() {
                    if !side.cell.lock().received_gone {
                        return Poll::Ready(Err(foreign()));
                    }
                    side.multi = None;
                }
                let mut buf = side.take_buf();
                let n = socket.blocking_read(&mut buf);
                side.buf = Some(buf);
                let n = n?;
                (side.start, side.end) = (0, n);
                if n == 0 {
                    return Poll::Ready(Ok(0));
                }
                continue;
            };
            let dup = dup(&mut state.dup, socket)?;
            let side = &mut state.read;
            side.cell.lock().waker = Some(cx.waker().clone());
            let buf = side.take_buf();
            let keep: Arc<dyn Any + Send + Sync> = dup.clone();
            let fd: &S = &dup;
            // SAFETY: one op, with the tag given, pointing into `buf` and at the duplicate
            // `keep` holds: the reactor keeps both until its completion (`queue`'s contract,
            // which is also what `queue_tagged_unchecked` asks).
            let queued = unsafe {
                sched.reactor.queue(&sched, side.cell.clone(), Some(buf), Some(keep), false, |io, tag, buf| {
                    io.queue_tagged_unchecked(Recv::new(&fd, buf), tag)
                })
            };
            match queued {
                Ok(op) => side.op = Some(op),
                Err(e) if e.kind() == io::ErrorKind::QuotaExceeded => cx.waker().wake_by_ref(),
                Err(e) => return Poll::Ready(Err(e)),
            }
            return Poll::Pending;
        }
    }

    /// Waits for the write op in flight (a whole send too: `net::WriteBehind`'s flush waits
    /// for it); sends what is left of the buffer after a short send. Ready when nothing is in
    /// flight or unsent.
    pub(crate) fn poll_sent(&mut self, socket: &S, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let state = self.state();
        loop {
            let side = &mut state.write;
            if side.op.is_some() {
                match side.reap(cx) {
                    Poll::Pending => return Poll::Pending,
                    // A kernel that cannot send whole (io_uring before 5.19) refused it, sending
                    // nothing: send in parts from now on.
                    Poll::Ready(Err(e)) if side.whole && e.kind() == io::ErrorKind::Unsupported => {
                        NO_WHOLE_SENDS.set(true);
                    }
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => side.start += n,
                    Poll::Ready(Err(e)) => {
                        side.start = side.end;
                        return Poll::Ready(Err(e));
                    }
                }
            }
            if side.start == side.end {
                (side.start, side.end) = (0, 0);
                return Poll::Ready(Ok(()));
            }
            state.start_send(socket, current_scheduler().as_deref(), cx)?;
        }
    }

    /// Makes the duplicate descriptor the ops name now, if there is a scheduler to queue them
    /// on, so that running out of descriptors shows before any byte was taken
    /// (`net::WriteBehind` then writes as the stream's own calls do).
    pub(crate) fn prepare_ops(&mut self, socket: &S) -> io::Result<()> {
        if current_scheduler().is_some() {
            dup(&mut self.state().dup, socket)?;
        }
        Ok(())
    }

    /// Copies what fits of `data` into the write buffer and starts sending it; the bytes
    /// count as written at once (a flush waits for them). `data` is `&[&[u8]]` or the
    /// `IoSlice`s of a vectored write (no gathering allocation).
    pub(crate) fn poll_write_from<B: std::ops::Deref<Target = [u8]>>(
        &mut self,
        socket: &S,
        cx: &Context<'_>,
        data: &[B],
    ) -> Poll<io::Result<usize>> {
        let total: usize = data.iter().map(|d| d.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let state = self.state();
        if state.write.op.is_some() || state.write.start < state.write.end {
            match self.poll_sent(socket, cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map_ok(|()| 0),
            }
        }
        let sched = current_scheduler();
        // Nothing of the stream's in flight or unsent now (`poll_sent` was ready).
        #[cfg(target_os = "linux")]
        if let Some(sched) = &sched
            && sched.reactor.sends_at_once(sched)
            && let Some(sent) = send_now(socket, data)
        {
            return Poll::Ready(sent);
        }
        let state = self.state();
        let side = &mut state.write;
        // The stream's last buffer, or one a whole send left to the reactor (see `reactor.rs`),
        // or a new one: filled by copying, never zeroed first.
        let mut buf = side.buf.take().or_else(|| sched.as_ref()?.reactor.spare_buffer()).unwrap_or_default();
        buf.clear();
        buf.reserve(BUFFER);
        for d in data {
            let take = d.len().min(BUFFER - buf.len());
            buf.extend_from_slice(&d[..take]);
            if buf.len() == BUFFER {
                break;
            }
        }
        let n = buf.len();
        side.buf = Some(buf);
        (side.start, side.end) = (0, n);
        match state.start_send(socket, sched.as_deref(), cx) {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::QuotaExceeded => {
                // Not queued and nothing copied counts: try again soon.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Waits until every byte written has been sent.
    /// A whole send in flight counts as flushed (its bytes are the kernel's to send: it ends
    /// only when all are sent, and runs to its end even if the stream is dropped); its error,
    /// if any, shows in the next write, flush or shutdown.
    pub(crate) fn poll_flush(&mut self, socket: &S, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let side = &mut self.state().write;
        if side.op.is_none() && side.start == side.end {
            return Poll::Ready(Ok(())); // nothing in flight or unsent (a write sent at once)
        }
        if side.op.is_some() && side.whole && side.cell.lock().result.is_none() {
            return Poll::Ready(Ok(()));
        }
        self.poll_sent(socket, cx)
    }

    /// Flushes, then shuts the write side down.
    pub(crate) fn poll_shutdown(&mut self, socket: &S, cx: &Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_sent(socket, cx) {
            Poll::Ready(Ok(())) => Poll::Ready(socket.shutdown_write()),
            other => other,
        }
    }
}

/// Sends at once, without waiting; for a write with nothing of its stream in flight or unsent
/// (else the bytes could overtake earlier ones), on the posix backend, where the engine's own
/// first attempt would be the same call, made later, after the op's bookkeeping and a copy
/// (see [`Reactor::sends_at_once`](super::Reactor::sends_at_once)). `None` if it must go
/// through an op (the socket's buffer is full).
#[cfg(target_os = "linux")]
fn send_now<S: StdStream, B: std::ops::Deref<Target = [u8]>>(socket: &S, data: &[B]) -> Option<io::Result<usize>> {
    use std::os::fd::AsRawFd;
    // The first slices (a vectored write of hyper's has two or three).
    let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; 8];
    let mut count = 0;
    for d in data.iter().filter(|d| !d.is_empty()).take(iov.len()) {
        iov[count] = libc::iovec { iov_base: d.as_ptr() as *mut libc::c_void, iov_len: d.len() };
        count += 1;
    }
    // SAFETY: an all-zero `msghdr` is valid (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = count as _;
    // SAFETY: `msg` points at `count` iovecs of `data`'s slices, which are borrowed for
    // the call and only read (sendmsg does not write through `iov_base`); the descriptor
    // is the stream's own, open for the call.
    let sent = unsafe { libc::sendmsg(socket.as_fd().as_raw_fd(), &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if sent >= 0 {
        return Some(Ok(sent as usize));
    }
    match io::Error::last_os_error() {
        e if e.kind() == io::ErrorKind::WouldBlock => None,
        e if e.kind() == io::ErrorKind::Interrupted => None,
        e => Some(Err(e)),
    }
}

/// A read where the stream's multishot receive cannot reach: on another scheduler, or
/// outside a task, while the scheduler of its first async read still runs.
fn foreign() -> io::Error {
    io::Error::other("the stream's async reads receive on the scheduler of its first one, which still runs")
}

/// The duplicate descriptor ops name, made on first use.
fn dup<S: StdStream>(slot: &mut Option<Arc<S>>, socket: &S) -> io::Result<Arc<S>> {
    if let Some(dup) = slot {
        return Ok(dup.clone());
    }
    let dup = Arc::new(socket.duplicate()?);
    *slot = Some(dup.clone());
    Ok(dup)
}

impl<S: StdStream> State<S> {
    /// Sends `buf[start..end]` (queued through the reactor of `sched`, the running task's
    /// scheduler, or the std call outside a task).
    fn start_send(&mut self, socket: &S, sched: Option<&Inner>, cx: &Context<'_>) -> io::Result<()> {
        let Some(sched) = sched else {
            let side = &mut self.write;
            let buf = side.buf.as_ref().expect("unsent bytes are in the stream's buffer");
            let n = socket.blocking_write(&buf[side.start..side.end])?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            side.start += n;
            return Ok(());
        };
        let keep: Arc<dyn Any + Send + Sync> = dup(&mut self.dup, socket)?;
        let fd: &S = self.dup.as_deref().expect("made by `dup`");
        let side = &mut self.write;
        let whole = !NO_WHOLE_SENDS.get();
        // A whole send wakes nobody when it completes (a flush does not wait for it; a poll
        // that does registers its waker then): a request's reply costs no second wake-up.
        side.cell.lock().waker = if whole { None } else { Some(cx.waker().clone()) };
        let buf = side.buf.take().expect("unsent bytes are in the stream's buffer");
        let (start, end) = (side.start, side.end);
        // SAFETY: as for the read: one op, with the tag given, pointing into `buf` and at the
        // duplicate `keep` holds (`fd` is the same `Arc`'s), both kept by the reactor until its
        // completion.
        let queued = unsafe {
            sched.reactor.queue(sched, side.cell.clone(), Some(buf), Some(keep), whole, |io, tag, buf| {
                let send = SendOp::new(&fd, &buf[start..end]);
                io.queue_tagged_unchecked(if whole { send.wait_all() } else { send }, tag)
            })
        };
        match queued {
            Ok(op) => (side.op, side.whole) = (Some(op), whole),
            Err(e) => {
                // The buffer went with the op that was not queued; nothing was sent.
                (side.start, side.end) = (0, 0);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Side {
    /// Stops the multishot receive `op` (for a sync read), moving what it received into the
    /// read buffer; its unread bytes are not lost. Only a task of its scheduler can wait for
    /// the receive's end: elsewhere, while that scheduler runs, it fails (`foreign`) and the
    /// receive goes on (it took bytes this read would miss; a later async read gets them).
    fn stop_multi(&mut self, op: OpRef) -> io::Result<()> {
        // Its scheduler is gone, with everything it had received: nothing is left to stop.
        if !self.cell.lock().received_gone {
            let Some(sched) = current_scheduler().filter(|sched| sched.reactor.owns(op)) else {
                return Err(foreign());
            };
            let mut got = Vec::new();
            let waited =
                super::block_on(std::future::poll_fn(|cx| sched.reactor.poll_stop_received(&sched, op, cx, &mut got)));
            if let Err(e) = waited {
                // Canceled while waiting: the receive is left to stop at its next report.
                self.cell.lock().dropped = true;
                self.multi = None;
                return Err(e);
            }
            // The multishot receive is armed only while the read buffer is empty.
            if !got.is_empty() {
                (self.start, self.end) = (0, got.len());
                let mut buf = got;
                buf.resize(buf.len().max(BUFFER), 0);
                self.buf = Some(buf);
            }
        }
        self.multi = None;
        Ok(())
    }
}

impl<S> Drop for AsyncIo<S> {
    fn drop(&mut self) {
        // The ops keep their buffers and the duplicate until they complete; cancel them so
        // that happens soon (a write's unsent bytes are dropped, as a closed socket's would be).
        // A whole send is left to finish: a flush counted its bytes as sent.
        if let Some(state) = &mut self.state {
            if let Some(op) = state.read.multi.take() {
                // Stopped after a later pass of its scheduler if it cannot be reached here.
                state.read.cell.lock().dropped = true;
                reactor::cancel_received(op);
            }
            let write = state.write.op.take().filter(|_| !state.write.whole);
            for op in [state.read.op.take(), write].into_iter().flatten() {
                reactor::cancel(op);
            }
        }
    }
}

impl<S> fmt::Debug for AsyncIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            None => f.write_str("AsyncIo(unused)"),
            Some(state) => f
                .debug_struct("AsyncIo")
                .field("buffered", &(state.read.end - state.read.start))
                .field("reading", &state.read.op.is_some())
                .field("writing", &state.write.op.is_some())
                .finish(),
        }
    }
}
