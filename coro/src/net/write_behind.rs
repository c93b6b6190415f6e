//! [`WriteBehind`]: a writer of a stream socket whose writes copy the bytes, queue their send
//! and return without waiting for it, made by [`TcpStream::write_behind`] and
//! `UnixStream::write_behind`. The behaviour is documented on the type.
//!
//! It is a thin sync driver of the machinery the async IO traits use (`future/stream.rs`'s
//! `AsyncIo`, the write side only): its own write buffer, sends queued through the
//! scheduler's reactor, which owns the buffer and a duplicate of the descriptor while a send
//! is in flight. A write that finds nothing to wait for returns at its first poll (a no-op
//! waker, no `block_on`); one that must wait for the previous send parks the task.

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::ops::Deref;
use std::task::{Context, Poll, Waker};

use super::TcpStream;
#[cfg(unix)]
use super::UnixStream;
use super::socket::Socket;
use crate::future::AsyncIo;

/// A writer of a [`TcpStream`] (or a `UnixStream`) whose writes do not wait for their send:
/// [`write`](Write::write) copies the bytes (up to 16 KiB a call) into a buffer that the
/// writer's machinery owns, queues the send, and returns. Made by [`TcpStream::write_behind`].
///
/// A server that answers a request and then waits for the next one parks once per request
/// (for the receive) instead of twice: the send's completion is collected by the scheduler,
/// not by the task.
///
/// # Order, waiting and errors
///
/// * **Order**: the sends of one writer go out in the order written, one at a time: a write
///   made while the previous send is still in flight waits for it (parks the task) first.
///   Two writers of one stream, or a writer and the stream's own writes, are not ordered with
///   each other: write through one, and flush it before writing another way.
/// * **Deferred errors**: a write returns `Ok` once its bytes are queued, so a send that fails
///   later (the peer reset the connection, the stream was shut down) reports its error from the
///   *next* call on the writer: the next [`write`](Write::write) or [`flush`](Write::flush).
///   The bytes of the failed send are gone; the call after the one that reported the error
///   starts afresh.
/// * **[`flush`](Write::flush)** waits until every queued send has completed, and returns the
///   error of any that failed: `Ok` from a flush means every byte written was handed to the
///   kernel (as a plain `write_all` means). Flush before [`shutdown`](TcpStream::shutdown)
///   (a send still queued would fail behind it), and where a write's failure matters.
/// * **Timeouts**: the stream's write timeout does not bound queued sends or the waits for
///   them. To bound them, shut the stream down from another task (the pending send, and then
///   the next call, fail).
///
/// # Drop
///
/// Dropping the writer (or the stream) does not wait: a send in flight goes on (its buffer and
/// a duplicate of the descriptor belong to the scheduler until it completes, so nothing it
/// uses is freed under the kernel), and its error, if any, is lost. On io_uring before Linux
/// 5.19, where a send may end short and its rest is sent by the next call, a send in flight is
/// canceled instead. Flush first to know that everything went out.
///
/// # Where writes queue
///
/// Inside a task on a blocking stream. Outside a task, on a non-blocking stream, and once the
/// process is out of descriptors for the sends' duplicate (`EMFILE`), each write is the
/// stream's own (`(&stream).write`, bounded by its write timeout), after the sends already
/// queued. Reading from the stream meanwhile is fine (the writer only borrows it), as is the
/// stream's own `write` once the writer is flushed.
///
/// # Example
///
/// ```
/// use corio_coro::{Scheduler, net::{TcpListener, TcpStream}};
/// use std::io::{Read, Write};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let scheduler = Scheduler::new()?;
/// let server = scheduler.spawn(move || {
///     let (stream, _) = listener.accept()?;
///     let mut writer = stream.write_behind();
///     for i in 0..3 {
///         // Returns once the bytes are copied and the send is queued.
///         writeln!(writer, "line {i}")?;
///     }
///     writer.flush()?; // waits for every send, and reports a failed one
///
///     // The peer resets the connection: the send queued after that fails, and its error
///     // comes from the next call (here the flush; on some backends the write itself).
///     let mut byte = [0u8; 1];
///     assert!((&stream).read(&mut byte).is_err()); // the reset arrived
///     let late = writer.write_all(b"too late").and_then(|()| writer.flush());
///     assert!(late.is_err());
///     std::io::Result::Ok(())
/// });
/// let client = scheduler.spawn(move || {
///     let mut stream = TcpStream::connect(addr)?;
///     let mut text = [0u8; 21];
///     stream.read_exact(&mut text)?;
///     assert_eq!(&text, b"line 0\nline 1\nline 2\n");
///     // Close with a reset (SO_LINGER 0) rather than a FIN.
///     socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO))?;
///     std::io::Result::Ok(())
/// });
/// client.join()?;
/// server.join()?;
/// # std::io::Result::Ok(())
/// ```
pub struct WriteBehind<'a> {
    kind: Kind<'a>,
}

/// The writer of each stream type (`AsyncIo` is generic over the std stream).
enum Kind<'a> {
    Tcp(Writer<'a, std::net::TcpStream>),
    #[cfg(unix)]
    Unix(Writer<'a, std::os::unix::net::UnixStream>),
}

/// How a writer's writes go: undecided until the first write inside a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Undecided,
    /// Through the reactor: copied, queued, not waited for.
    Queued,
    /// Out of descriptors for the duplicate the sends name: the stream's own writes.
    Plain,
}

struct Writer<'a, S> {
    socket: &'a Socket<S>,
    io: AsyncIo<S>,
    mode: Mode,
    /// A send may be queued or in flight (cleared by a flush that found all sent).
    pending: bool,
}

impl<'a, S: crate::future::StdStream> Writer<'a, S>
where
    for<'b> &'b S: Write,
{
    fn new(socket: &'a Socket<S>) -> Writer<'a, S> {
        Writer { socket, io: AsyncIo::default(), mode: Mode::Undecided, pending: false }
    }

    /// Polls `poll` once with a no-op waker (the common case: ready at once, no waker
    /// needed), else runs it to completion, parking the task (`block_on`).
    fn drive<T>(
        &mut self,
        mut poll: impl FnMut(&mut AsyncIo<S>, &S, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> io::Result<T> {
        let socket = self.socket.as_std();
        let io = &mut self.io;
        if let Poll::Ready(result) = poll(io, socket, &mut Context::from_waker(Waker::noop())) {
            return result;
        }
        crate::future::block_on(std::future::poll_fn(|cx| poll(io, socket, cx)))?
    }

    /// Whether this write is to be queued; decides the mode at the first write in a task.
    fn queues(&mut self) -> io::Result<bool> {
        if !self.socket.coop() {
            return Ok(false);
        }
        if self.mode == Mode::Undecided {
            self.mode = match self.io.prepare_ops(self.socket.as_std()) {
                Ok(()) => Mode::Queued,
                Err(e) if out_of_descriptors(&e) => Mode::Plain,
                Err(e) => return Err(e),
            };
        }
        Ok(self.mode == Mode::Queued)
    }

    fn write_from<B: Deref<Target = [u8]>>(&mut self, data: &[B]) -> io::Result<usize> {
        if self.queues()? {
            let written = self.drive(|io, socket, cx| io.poll_write_from(socket, cx, data));
            self.pending = true;
            return written;
        }
        // The queued sends go first.
        self.flush()?;
        let mut socket = self.socket;
        match data.iter().find(|d| !d.is_empty()) {
            Some(first) => socket.write(first),
            None => Ok(0),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending {
            return Ok(());
        }
        let flushed = self.drive(|io, socket, cx| io.poll_sent(socket, cx));
        if flushed.is_ok() {
            self.pending = false;
        }
        flushed
    }
}

/// `EMFILE` or `ENFILE`.
fn out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    return matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
    #[cfg(windows)]
    return e.raw_os_error() == Some(windows_sys::Win32::Networking::WinSock::WSAEMFILE);
}

/// Runs `$body` with `$w` bound to the writer of whichever stream type.
macro_rules! each {
    ($self:expr, $w:ident => $body:expr) => {
        match &mut $self.kind {
            Kind::Tcp($w) => $body,
            #[cfg(unix)]
            Kind::Unix($w) => $body,
        }
    };
}

/// Copies and queues; see the [type docs](WriteBehind) for when errors show.
impl Write for WriteBehind<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        each!(self, w => w.write_from(&[buf]))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        each!(self, w => w.write_from(bufs))
    }
    /// Waits until every queued send has completed; returns the error of one that failed.
    fn flush(&mut self) -> io::Result<()> {
        each!(self, w => w.flush())
    }
}

impl fmt::Debug for WriteBehind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mode, pending, io): (_, _, &dyn fmt::Debug) = match &self.kind {
            Kind::Tcp(w) => (w.mode, w.pending, &w.io),
            #[cfg(unix)]
            Kind::Unix(w) => (w.mode, w.pending, &w.io),
        };
        f.debug_struct("WriteBehind").field("mode", &mode).field("pending", &pending).field("io", io).finish()
    }
}

impl TcpStream {
    /// A writer whose writes copy the bytes, queue the send and return without waiting for
    /// it; a failed send reports its error from the writer's next write or flush, and
    /// [`flush`](Write::flush) waits for every queued send (see [`WriteBehind`]). The
    /// stream's own `Write` stays as it is: each call waits for its send.
    pub fn write_behind(&self) -> WriteBehind<'_> {
        WriteBehind { kind: Kind::Tcp(Writer::<std::net::TcpStream>::new(&self.inner)) }
    }
}

#[cfg(unix)]
impl UnixStream {
    /// A writer whose writes copy the bytes, queue the send and return without waiting for
    /// it, as [`TcpStream::write_behind`]'s (see [`WriteBehind`]).
    pub fn write_behind(&self) -> WriteBehind<'_> {
        WriteBehind { kind: Kind::Unix(Writer::<std::os::unix::net::UnixStream>::new(&self.inner)) }
    }
}
