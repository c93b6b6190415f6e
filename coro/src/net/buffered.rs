//! [`RecvStream`]: a buffered reader of a stream socket whose buffers the kernel fills (a
//! multishot receive into the scheduler's provided buffers), made by
//! [`TcpStream::buffered_reader`](super::TcpStream::buffered_reader) and
//! `UnixStream::buffered_reader`. The behaviour is documented on the type.

use std::io::{self, BufRead, Read};
use std::rc::Rc;

use corio_aio::op::{Op, RecvMulti};
use corio_aio::{BufferGroup, ProvidedBuf, Value};

use super::socket::{Socket, Source};
use crate::scheduler::Inner;
use crate::scheduler::multishot::Multi;
use crate::task::{self, TaskCore};

/// The size of a reader's own buffer (std's `BufReader`'s).
const OWN_BUFFER: usize = 8 * 1024;

/// What a [`RecvStream`] asks of its stream (its `Socket`).
pub(super) trait Receive {
    /// Whether a read may use the multishot receive: inside a task, blocking, no read timeout.
    fn unbounded_coop(&self) -> bool;
    /// One plain read, as the stream's own `read` (bounded by its read timeout).
    fn read_plain(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// A multishot receive on the socket into `group`, naming `fd` where that is given (the
    /// slot's [`target`](Multi::target), Unix only).
    #[cfg(unix)]
    fn recv_multi<'s>(&self, fd: &'s std::os::fd::BorrowedFd<'s>, group: &BufferGroup) -> RecvMulti<'s>;
    #[cfg(not(unix))]
    fn recv_multi<'s>(&'s self, group: &BufferGroup) -> RecvMulti<'s>;
    /// The socket's descriptor.
    #[cfg(unix)]
    fn fd(&self) -> std::os::fd::BorrowedFd<'_>;
}

impl<S: Source> Receive for Socket<S>
where
    for<'a> &'a S: Read,
{
    fn unbounded_coop(&self) -> bool {
        self.coop() && self.read_timeout().is_ok_and(|t| t.is_none())
    }
    fn read_plain(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut this = self;
        this.read(buf)
    }
    #[cfg(unix)]
    fn recv_multi<'s>(&self, fd: &'s std::os::fd::BorrowedFd<'s>, group: &BufferGroup) -> RecvMulti<'s> {
        RecvMulti::new(fd, group)
    }
    #[cfg(not(unix))]
    fn recv_multi<'s>(&'s self, group: &BufferGroup) -> RecvMulti<'s> {
        RecvMulti::new(self.as_std(), group)
    }
    #[cfg(unix)]
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self.as_std())
    }
}

/// What `fill_buf` hands out.
enum Chunk {
    Empty,
    /// A buffer of the group and how much of it was consumed.
    Provided(ProvidedBuf, usize),
    /// The reader's own buffer: consumed up to the first, filled up to the second.
    Owned(usize, usize),
}

/// A buffered reader over a stream socket, fed by a multishot receive into the scheduler's
/// provided buffers: [`BufRead`] hands out the kernel-filled buffer without a copy. Made by
/// [`TcpStream::buffered_reader`](super::TcpStream::buffered_reader) (and `UnixStream`'s).
/// Not `Send`: its buffers belong to the scheduler of the thread.
///
/// # How it receives
///
/// Inside a task, on a blocking socket without a read timeout (and outside a
/// [`timeout`](crate::time::timeout)), the first read arms one [`RecvMulti`] on the socket. The
/// kernel picks a buffer of the scheduler's group ([`Options::recv_buffers`](crate::Options::recv_buffers),
/// registered when the first reader needs it) for each arrival, and the scheduler appends it to
/// the reader's queue (`scheduler/multishot.rs`), also while the task does something else.
/// [`fill_buf`](BufRead::fill_buf) hands out the oldest buffer's bytes in place: no copy,
/// and no op queued per read. A buffer goes back to the group when it has been consumed.
///
/// * **End of stream**: the receive ends with an empty buffer; from then on `fill_buf` returns
///   an empty slice (and `read` 0) without asking the kernel.
/// * **Errors** (a reset connection, say) end the receive and are returned in order, after the
///   data that came before them; the next read arms a new receive.
/// * **No free buffer** (`ENOBUFS`: the group is shared by every reader of the scheduler and
///   each holds what it has not consumed): the reader receives once into a buffer of its own
///   (allocated on first need, the group's buffer size) and arms the multishot receive again on
///   the next read, so a reader always makes progress.
/// * **A read timeout, a non-blocking socket, a call outside a task**: the multishot receive
///   is stopped (canceled, its end awaited; what it had received is read first) and each read
///   is then a plain receive into the reader's own buffer, bounded as the stream's own reads
///   are. A later read that allows it arms the multishot receive again.
/// * **Windows** (IOCP has no multishot receive yet), or a kernel without buffer rings (io_uring
///   before 5.19): always plain receives into the reader's own buffer, behind the same API.
///
/// # Writing while reading
///
/// The reader borrows the stream (`&TcpStream`), so the stream stays usable for everything
/// but reading: `(&stream).write_all(…)`, `shutdown`, options. Reading from the stream itself
/// while a reader exists races with the reader's receive (bytes go to one or the other), as two
/// concurrent readers do; don't.
///
/// # Drop
///
/// Dropping the reader cancels its receive and waits for its end, then returns the buffers it
/// held: afterwards nothing receives on the socket, and data the reader had received and not
/// consumed is gone (as with std's `BufReader`).
///
/// # Example
///
/// ```
/// use corio_coro::{Scheduler, net::{TcpListener, TcpStream}};
/// use std::io::{BufRead, Write};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let scheduler = Scheduler::new()?;
/// let server = scheduler.spawn(move || {
///     let (stream, _) = listener.accept()?;
///     let mut reader = stream.buffered_reader();
///     let mut line = String::new();
///     reader.read_line(&mut line)?;
///     (&stream).write_all(line.to_uppercase().as_bytes())?; // writes while the reader lives
///     std::io::Result::Ok(line)
/// });
/// let client = scheduler.spawn(move || {
///     let mut stream = TcpStream::connect(addr)?;
///     stream.write_all(b"hello\n")?;
///     let mut reply = String::new();
///     stream.buffered_reader().read_line(&mut reply)?;
///     std::io::Result::Ok(reply)
/// });
/// assert_eq!(server.join()?, "hello\n");
/// assert_eq!(client.join()?, "HELLO\n");
/// # std::io::Result::Ok(())
/// ```
pub struct RecvStream<'a> {
    source: &'a dyn Receive,
    chunk: Chunk,
    own: Vec<u8>,
    /// The multishot receive's slot, from the first read that used it.
    multi: Option<Multi>,
    /// The stream ended: reads return nothing.
    eof: bool,
}

impl<'a> RecvStream<'a> {
    pub(super) fn new(source: &'a dyn Receive) -> RecvStream<'a> {
        RecvStream { source, chunk: Chunk::Empty, own: Vec::new(), multi: None, eof: false }
    }

    /// The bytes received and not consumed, without receiving more.
    #[must_use]
    pub fn buffer(&self) -> &[u8] {
        match &self.chunk {
            Chunk::Empty => &[],
            Chunk::Provided(buf, pos) => &buf[*pos..],
            Chunk::Owned(pos, len) => &self.own[*pos..*len],
        }
    }

    /// Whether the chunk in hand is a buffer of the scheduler's group (the multishot path), not
    /// the reader's own: for tests and diagnostics.
    #[must_use]
    pub fn is_provided(&self) -> bool {
        matches!(self.chunk, Chunk::Provided(..))
    }

    /// The multishot path's requirements: the running task, its scheduler and the group, or
    /// `None` for plain receives.
    fn multishot(&self) -> Option<(Rc<TaskCore>, Rc<Inner>, BufferGroup)> {
        if cfg!(windows) || !self.source.unbounded_coop() || crate::time::deadline().is_some() {
            return None;
        }
        let task = task::current()?;
        let sched = task.scheduler();
        let group = sched.multishot.group(&sched)?;
        Some((task, sched, group))
    }

    /// Makes the next chunk current (none at the end of the stream).
    fn refill(&mut self) -> io::Result<()> {
        self.chunk = Chunk::Empty; // a provided buffer goes back to the group here
        if self.eof {
            return Ok(());
        }
        if let Some(item) = self.multi.as_ref().and_then(Multi::pop) {
            return self.take(item);
        }
        let Some((task, sched, group)) = self.multishot() else {
            // Plain receives must not race the multishot one: stop it, and take what it got.
            if let Some(multi) = &self.multi {
                if !multi.stop() {
                    self.multi = None; // abandoned (see scheduler/multishot.rs)
                }
                if let Some(item) = self.multi.as_ref().and_then(Multi::pop) {
                    return self.take(item);
                }
            }
            return self.read_own(OWN_BUFFER);
        };
        if !self.multi.as_ref().is_some_and(|multi| multi.is_of(&sched)) {
            self.multi = Some(Multi::register(&sched));
        }
        let item = {
            let multi = self.multi.as_ref().expect("registered above");
            loop {
                if let Some(item) = multi.pop() {
                    break item;
                }
                let source = self.source;
                // The op stays armed across arrivals: only the wait is left (the common case).
                #[cfg(unix)]
                if !multi.in_flight(&sched) {
                    // Out of descriptors for the duplicate (`EMFILE`): a plain receive needs
                    // none. No op was armed on this slot yet (the duplicate comes first), so
                    // none races it.
                    let Ok(fd) = multi.target(&sched, source.fd()) else {
                        return self.read_own(OWN_BUFFER);
                    };
                    // SAFETY: the op names the socket of `source`, which this reader borrows
                    // for as long as it holds `multi`, or the slot's duplicate of it (kept by
                    // the slot until the op ended); dropping `multi` stops the op.
                    unsafe { multi.arm(&task, || source.recv_multi(&fd, &group))? };
                }
                #[cfg(not(unix))]
                if !multi.in_flight(&sched) {
                    // SAFETY: the op names the socket of `source`, which this reader borrows
                    // for as long as it holds `multi`; dropping `multi` stops the op.
                    unsafe { multi.arm(&task, || source.recv_multi(&group))? };
                }
                multi.wait(&task)?;
            }
        };
        self.take(item)
    }

    /// Makes a delivered receive's result the current chunk.
    fn take(&mut self, item: io::Result<Value>) -> io::Result<()> {
        let buf = match item.and_then(<RecvMulti<'static> as Op>::output) {
            Ok(buf) => buf,
            // The receive ended for want of a buffer: this one goes into the reader's own.
            Err(e) if is_no_buffers(&e) => return self.read_own(OWN_BUFFER),
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            self.eof = true;
        } else {
            self.chunk = Chunk::Provided(buf, 0);
        }
        Ok(())
    }

    /// One plain receive into the reader's own buffer (of `size` bytes, made on first use).
    fn read_own(&mut self, size: usize) -> io::Result<()> {
        if self.own.is_empty() {
            self.own = vec![0; size.max(1)];
        }
        let n = self.source.read_plain(&mut self.own)?;
        if n == 0 {
            self.eof = true;
        } else {
            self.chunk = Chunk::Owned(0, n);
        }
        Ok(())
    }
}

/// The group had no free buffer for the receive (it ended).
fn is_no_buffers(e: &io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::ENOBUFS);
    #[cfg(windows)]
    return {
        let _ = e;
        false // no multishot receive there
    };
}

impl BufRead for RecvStream<'_> {
    /// The received bytes not consumed yet: the current buffer, else the next one received
    /// (inside a task the task parks until one arrives). Empty at the end of the stream.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buffer().is_empty() {
            self.refill()?;
        }
        Ok(self.buffer())
    }

    fn consume(&mut self, amt: usize) {
        match &mut self.chunk {
            Chunk::Empty => {}
            Chunk::Provided(buf, pos) => {
                *pos = (*pos + amt).min(buf.len());
                if *pos == buf.len() {
                    self.chunk = Chunk::Empty; // the buffer goes back to the group at once
                }
            }
            Chunk::Owned(pos, len) => *pos = (*pos + amt).min(*len),
        }
    }
}

impl Read for RecvStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let data = self.fill_buf()?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl std::fmt::Debug for RecvStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("buffered", &self.buffer().len())
            .field("provided", &self.is_provided())
            .field("multishot", &self.multi)
            .field("eof", &self.eof)
            .finish()
    }
}
