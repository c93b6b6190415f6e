//! [`AsyncStream`]: a [`net`](crate::net) stream driven by polls (the async IO traits behind
//! the `futures-io`, `tokio` and `hyper` features), on completion IO.
//!
//! # Design: the stream's own buffers, lent to the reactor
//!
//! A poll-based read cannot lend the caller's buffer to the kernel: the future that polls it
//! may be dropped (or leaked) while the op is in flight, and the kernel would then write into
//! freed memory. So each direction owns a buffer: a read receives into the read buffer and
//! later polls copy out of it; a write copies the caller's bytes into the write buffer, sends
//! from there, and reports them written at once (a flush waits until all are sent).
//!
//! While an op is in flight its buffer is *not* the stream's: it is moved into the
//! scheduler's reactor (`reactor.rs`) together with a reference to the socket (so its
//! descriptor stays open, and its number cannot be reused by another socket, until the op
//! completed), and comes back only with the completion. Dropping the stream (or the future
//! holding it) mid-op cancels the op and frees nothing the op uses: the reactor frees the
//! buffer after the completion, or after its scheduler's `Dynamic` drained every op. This is
//! why the soundness argument needs no lifetime on the future: nothing the kernel writes is
//! reachable from it.
//!
//! The read and the write side have one op each, so a read and a write of one stream, and
//! reads and writes of other streams, are in flight at once in one future (`select!`,
//! HTTP/2's connection task); the waker of each side's last pending poll is woken when its op
//! completes.
//!
//! Outside a task (no scheduler to drive ops) each poll is the blocking std call.

use std::any::Any;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::task::{Context, Poll};

use corio_aio::__private::RuntimeExt;
use corio_aio::op::{Recv, Send as SendOp};

use super::reactor::{self, OpCell, OpRef, current_scheduler};
use crate::net::TcpStream;
#[cfg(unix)]
use crate::net::UnixStream;

#[cfg(windows)]
use corio_aio::AsSource as Source;
/// What aio's ops take a descriptor from.
#[cfg(unix)]
use std::os::fd::AsFd as Source;

/// Bytes each direction buffers.
const BUFFER: usize = 16 * 1024;

mod sealed {
    pub trait Sealed {}
}

/// The streams an [`AsyncStream`] can drive: [`TcpStream`] and (on Unix) `UnixStream`.
pub trait StreamSocket: sealed::Sealed + Source + Send + Sync + 'static {
    #[doc(hidden)]
    fn shutdown_write(&self) -> io::Result<()>;
    #[doc(hidden)]
    fn blocking_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    #[doc(hidden)]
    fn blocking_write(&self, buf: &[u8]) -> io::Result<usize>;
}

macro_rules! stream_socket {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl StreamSocket for $ty {
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
stream_socket!(TcpStream);
#[cfg(unix)]
stream_socket!(UnixStream);

/// One direction: its buffer (when no op holds it) and its op in flight.
#[derive(Default)]
struct Side {
    cell: Arc<OpCell>,
    buf: Option<Vec<u8>>,
    op: Option<OpRef>,
    /// Read: unread bytes are `buf[start..end]`. Write: unsent bytes are `buf[start..end]`.
    start: usize,
    end: usize,
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

/// A [`TcpStream`] or (on Unix) `UnixStream` with the async IO traits (see the module docs for how
/// its buffers keep the kernel's writes sound when a future is dropped mid-op).
///
/// ```
/// # #[cfg(feature = "futures-io")] {
/// use corio_coro::net::{TcpListener, TcpStream};
/// use corio_coro::{Scheduler, future::{AsyncStream, block_on}};
/// use futures_io::{AsyncRead, AsyncWrite};
/// use std::pin::Pin;
///
/// let scheduler = Scheduler::new()?;
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let task = scheduler.spawn(move || -> std::io::Result<Vec<u8>> {
///     let client = AsyncStream::new(TcpStream::connect(addr)?);
///     let server = AsyncStream::new(listener.accept()?.0);
///     block_on(async {
///         let (mut client, mut server) = (client, server);
///         std::future::poll_fn(|cx| Pin::new(&mut client).poll_write(cx, b"ping")).await?;
///         let mut buf = [0u8; 4];
///         let n = std::future::poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf)).await?;
///         Ok(buf[..n].to_vec())
///     })?
/// });
/// assert_eq!(task.join()?, b"ping");
/// # }
/// # std::io::Result::Ok(())
/// ```
pub struct AsyncStream<S: StreamSocket> {
    socket: Arc<S>,
    read: Side,
    write: Side,
}

impl<S: StreamSocket> AsyncStream<S> {
    /// Wraps `stream`.
    pub fn new(stream: S) -> AsyncStream<S> {
        AsyncStream { socket: Arc::new(stream), read: Side::default(), write: Side::default() }
    }

    /// The stream, for the calls that never wait (addresses, options).
    pub fn get_ref(&self) -> &S {
        &self.socket
    }

    /// Reads into `buf`: what the read buffer holds, else receives into the read buffer
    /// first (pending until the receive completed). `Ok(0)` at end of stream (or for an
    /// empty `buf`). The async IO traits' reads are this.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_read_with(cx, &mut |data| {
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            n
        })
    }

    /// Writes what fits of `buf` into the write buffer and starts sending it; pending while
    /// the previous write is still being sent. Errors of a send show in the next write or
    /// flush.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_from(cx, &[buf])
    }

    /// [`poll_write`](AsyncStream::poll_write) of several buffers, gathered into one send.
    pub fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let slices: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.poll_write_from(cx, &slices)
    }

    /// Pending until every byte written has been sent.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_inner(cx)
    }

    /// Flushes, then shuts the write side down (`shutdown(Write)`).
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_shutdown_inner(cx)
    }

    fn keep(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(self.socket.clone())
    }

    /// Reads into `out` what the read buffer holds, receiving into it first if it is empty.
    pub(crate) fn poll_read_with(
        &mut self,
        cx: &Context<'_>,
        out: &mut dyn FnMut(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            let side = &mut self.read;
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
            let Some(sched) = current_scheduler() else {
                let mut buf = side.take_buf();
                let n = self.socket.blocking_read(&mut buf);
                side.buf = Some(buf);
                let n = n?;
                (side.start, side.end) = (0, n);
                if n == 0 {
                    return Poll::Ready(Ok(0));
                }
                continue;
            };
            side.cell.lock().waker = Some(cx.waker().clone());
            let buf = side.take_buf();
            let keep = self.keep();
            let socket: &S = &self.socket;
            let side = &mut self.read;
            // SAFETY: one op, with the tag given, pointing into `buf` and at the socket, which
            // `keep` holds: the reactor keeps both until its completion (`queue`'s contract,
            // which is also what `queue_tagged_unchecked` asks).
            let queued = unsafe {
                sched.reactor.queue(&sched, side.cell.clone(), Some(buf), keep, |io, tag, buf| {
                    io.queue_tagged_unchecked(Recv::new(&socket, buf), tag)
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

    /// Waits for the write op in flight; sends what is left of the buffer after a short send.
    /// Ready when nothing is in flight or unsent.
    fn poll_sent(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let side = &mut self.write;
            if side.op.is_some() {
                match side.reap(cx) {
                    Poll::Pending => return Poll::Pending,
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
            self.start_send(cx)?;
        }
    }

    /// Sends `buf[start..end]` (queued through the reactor, or the std call outside a task).
    fn start_send(&mut self, cx: &Context<'_>) -> io::Result<()> {
        let side = &mut self.write;
        let Some(sched) = current_scheduler() else {
            let buf = side.buf.as_ref().expect("unsent bytes are in the stream's buffer");
            let n = self.socket.blocking_write(&buf[side.start..side.end])?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            side.start += n;
            return Ok(());
        };
        side.cell.lock().waker = Some(cx.waker().clone());
        let buf = side.take_buf();
        let (start, end) = (side.start, side.end);
        let keep = self.keep();
        let socket: &S = &self.socket;
        let side = &mut self.write;
        // SAFETY: as for the read: one op, with the tag given, pointing into `buf` and at the
        // socket `keep` holds, both kept by the reactor until its completion.
        let queued = unsafe {
            sched.reactor.queue(&sched, side.cell.clone(), Some(buf), keep, |io, tag, buf| {
                io.queue_tagged_unchecked(SendOp::new(&socket, &buf[start..end]), tag)
            })
        };
        match queued {
            Ok(op) => side.op = Some(op),
            Err(e) => {
                // The buffer went with the op that was not queued; nothing was sent.
                side.buf = Some(vec![0; BUFFER]);
                (side.start, side.end) = (0, 0);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Copies what fits of `data` into the write buffer and starts sending it; the bytes
    /// count as written at once (a flush waits for them).
    pub(crate) fn poll_write_from(&mut self, cx: &Context<'_>, data: &[&[u8]]) -> Poll<io::Result<usize>> {
        let total: usize = data.iter().map(|d| d.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.write.op.is_some() || self.write.start < self.write.end {
            match self.poll_sent(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map_ok(|()| 0),
            }
        }
        let side = &mut self.write;
        let mut buf = side.take_buf();
        let mut n = 0;
        for d in data {
            let take = d.len().min(BUFFER - n);
            buf[n..n + take].copy_from_slice(&d[..take]);
            n += take;
            if n == BUFFER {
                break;
            }
        }
        side.buf = Some(buf);
        (side.start, side.end) = (0, n);
        match self.start_send(cx) {
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
    pub(crate) fn poll_flush_inner(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        self.poll_sent(cx)
    }

    /// Flushes, then shuts the write side down.
    pub(crate) fn poll_shutdown_inner(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_sent(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(self.socket.shutdown_write()),
            other => other,
        }
    }
}

impl<S: StreamSocket> Drop for AsyncStream<S> {
    fn drop(&mut self) {
        // The ops keep their buffers and the socket until they complete; cancel them so that
        // happens soon (a write's unsent bytes are dropped, as a closed socket's would be).
        for op in [self.read.op.take(), self.write.op.take()].into_iter().flatten() {
            reactor::cancel(op);
        }
    }
}

impl<S: StreamSocket + fmt::Debug> fmt::Debug for AsyncStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncStream")
            .field("socket", &self.socket)
            .field("reading", &self.read.op.is_some())
            .field("writing", &self.write.op.is_some())
            .finish()
    }
}
