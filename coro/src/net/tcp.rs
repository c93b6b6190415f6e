//! [`TcpListener`] and [`TcpStream`].

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use corio_aio::op::{Accept, Connect, Socket as NewSocket};
use socket2::{Domain, Protocol, Type};

#[cfg(windows)]
use corio_aio::{AsSource, BorrowedSource};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{
    AsRawSocket, AsSocket, BorrowedSocket, FromRawSocket, IntoRawSocket, OwnedSocket, RawSocket,
};

use super::buffered::RecvStream;
use super::incoming::Accepting;
use super::no_address;
use super::socket::{MSG_PEEK, Socket, bounded};
use crate::future::AsyncIo;

/// A TCP listener, like [`std::net::TcpListener`]; [`accept`](TcpListener::accept) parks
/// the task inside one.
///
/// ```
/// use corio_coro::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// assert!(listener.local_addr()?.port() != 0);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    inner: Socket<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr` (the std call: it never waits). For options such as
    /// `SO_REUSEPORT`, build the socket with `socket2` and convert the std listener.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Ok(TcpListener { inner: Socket::new(std::net::TcpListener::bind(addr)?) })
    }

    /// Binds a listener to `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`), so that several
    /// listeners, one per thread, can share the port and the kernel spreads new connections
    /// among them; the backlog is 4096 (capped by the system's `somaxconn`). Each address
    /// `addr` resolves to is tried in turn, as [`bind`](TcpListener::bind) does. Unix only
    /// (Windows has no `SO_REUSEPORT`: `Unsupported`).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use corio_coro::net::TcpListener;
    /// let first = TcpListener::bind_reuseport("127.0.0.1:0")?;
    /// let second = TcpListener::bind_reuseport(first.local_addr()?)?;
    /// assert_eq!(first.local_addr()?, second.local_addr()?);
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind_reuseport<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match reuseport_listener(addr) {
                Ok(listener) => return Ok(listener),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_address))
    }

    /// Accepts a connection; inside a task the task parks until one arrives.
    ///
    /// Inside a task each call takes one connection and the task resumes with it at the
    /// scheduler's next pass, after the tasks made ready meanwhile have run: on a busy
    /// scheduler one accepting task drains a burst of new connections at one per pass.
    /// [`incoming`](TcpListener::incoming) takes the whole burst per wake-up instead.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        if !self.inner.coop() {
            let (s, addr) = self.inner.as_std().accept()?;
            return Ok((TcpStream::new(s), addr));
        }
        let (socket, addr) = crate::io::single(Accept::new(self.inner.as_std()))?;
        let addr = addr.as_socket().ok_or_else(|| io::Error::other("accepted a non-IP address"))?;
        Ok((TcpStream::new(socket.into()), addr))
    }

    /// An endless iterator of accepted streams, driven inside a task by one multishot accept:
    /// the kernel accepts each connection as it arrives, also while the task is busy, and the
    /// scheduler queues it for the iterator, so `next()` returns a queued connection at once
    /// and parks only when none is queued (one wake-up takes every connection that arrived
    /// meanwhile). Accept errors come out in order; the accept is re-armed on the next call.
    /// Dropping the iterator cancels the accept, waits for its end and closes the connections
    /// accepted and not taken. Outside a task, or on a non-blocking listener, `next()` is
    /// [`accept`](TcpListener::accept). The iterator is not `Send` (its queue belongs to the
    /// thread's scheduler).
    ///
    /// ```
    /// use corio_coro::{Scheduler, net::TcpListener};
    /// use std::io::Read;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(addr)).collect::<Result<_, _>>()?;
    /// let scheduler = Scheduler::new()?;
    /// let server = scheduler.spawn(move || {
    ///     let streams: Vec<_> = listener.incoming().take(3).collect::<Result<_, _>>()?;
    ///     std::io::Result::Ok(streams.len())
    /// });
    /// assert_eq!(server.join()?, 3);
    /// # drop(clients);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self, accepting: Accepting::default() }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.as_std().set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.as_std().ttl()
    }

    /// Moves the socket into or out of non-blocking mode. A non-blocking socket never
    /// parks a task: its calls fail with `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking, std::net::TcpListener::set_nonblocking)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.as_std().take_error()
    }

    /// A new handle to the same socket (a duplicated descriptor). The clones share the
    /// timeouts and blocking mode, as they share the socket.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener { inner: self.inner.try_clone(std::net::TcpListener::try_clone)? })
    }
}

/// The connections of [`TcpListener::incoming`] (a multishot accept inside a task), as
/// [`std::net::Incoming`].
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    accepting: Accepting,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        let listener = self.listener;
        let plain = || listener.accept().map(|(s, _)| s);
        Some(self.accepting.next(&listener.inner, plain, |s| TcpStream::new(s.into())))
    }
}

impl From<std::net::TcpListener> for TcpListener {
    /// Wraps a std socket, keeping its timeouts and blocking mode.
    fn from(listener: std::net::TcpListener) -> TcpListener {
        TcpListener { inner: Socket::from_std(listener) }
    }
}

impl From<TcpListener> for std::net::TcpListener {
    fn from(listener: TcpListener) -> std::net::TcpListener {
        listener.inner.into_std()
    }
}

#[cfg(unix)]
impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_std().as_fd()
    }
}

#[cfg(unix)]
impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_std().as_raw_fd()
    }
}

#[cfg(unix)]
impl IntoRawFd for TcpListener {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_std().into_raw_fd()
    }
}

#[cfg(unix)]
impl FromRawFd for TcpListener {
    /// # Safety
    ///
    /// As for the std type: `fd` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpListener {
        // SAFETY: forwarded to the caller's promise (see above).
        TcpListener::from(unsafe { std::net::TcpListener::from_raw_fd(fd) })
    }
}

#[cfg(unix)]
impl From<OwnedFd> for TcpListener {
    fn from(fd: OwnedFd) -> TcpListener {
        TcpListener::from(std::net::TcpListener::from(fd))
    }
}

#[cfg(unix)]
impl From<TcpListener> for OwnedFd {
    fn from(listener: TcpListener) -> OwnedFd {
        listener.inner.into_std().into()
    }
}

#[cfg(windows)]
impl AsSocket for TcpListener {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.inner.as_std().as_socket()
    }
}

#[cfg(windows)]
impl AsRawSocket for TcpListener {
    fn as_raw_socket(&self) -> RawSocket {
        self.inner.as_std().as_raw_socket()
    }
}

#[cfg(windows)]
impl IntoRawSocket for TcpListener {
    fn into_raw_socket(self) -> RawSocket {
        self.inner.into_std().into_raw_socket()
    }
}

#[cfg(windows)]
impl FromRawSocket for TcpListener {
    /// # Safety
    ///
    /// As for the std type: `sock` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_socket(sock: RawSocket) -> TcpListener {
        // SAFETY: forwarded to the caller's promise (see above).
        TcpListener::from(unsafe { std::net::TcpListener::from_raw_socket(sock) })
    }
}

#[cfg(windows)]
impl From<OwnedSocket> for TcpListener {
    fn from(sock: OwnedSocket) -> TcpListener {
        TcpListener::from(std::net::TcpListener::from(sock))
    }
}

#[cfg(windows)]
impl From<TcpListener> for OwnedSocket {
    fn from(listener: TcpListener) -> OwnedSocket {
        listener.inner.into_std().into()
    }
}

#[cfg(windows)]
impl AsSource for TcpListener {
    fn as_source(&self) -> BorrowedSource<'_> {
        self.inner.as_std().as_source()
    }
}

/// A TCP connection, like [`std::net::TcpStream`]: `Read` and `Write` (also on
/// `&TcpStream`, and vectored), and inside a task each call parks the task. See the
/// [module docs](super) for timeouts and sharing a stream between tasks. With the
/// `futures-io`, `tokio` and `hyper` features it implements those crates' async IO traits
/// too (see [`future`](crate::future#streams)).
#[derive(Debug)]
pub struct TcpStream {
    pub(super) inner: Socket<std::net::TcpStream>,
    /// The async IO traits' buffers and ops (`coro::future`), empty until first polled.
    async_io: AsyncIo<std::net::TcpStream>,
}

impl TcpStream {
    fn new(stream: std::net::TcpStream) -> TcpStream {
        TcpStream { inner: Socket::new(stream), async_io: AsyncIo::default() }
    }

    /// Connects to `addr`, trying each resolved address in turn (as std does); inside a task
    /// the task parks while connecting.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        if !crate::in_task() {
            return std::net::TcpStream::connect(addr).map(TcpStream::new);
        }
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match connect_in_task(&addr, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_address))
    }

    /// Connects to `addr`, giving up after `timeout` with `ErrorKind::TimedOut` (a zero
    /// timeout is rejected, as by std).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if !crate::in_task() || timeout.is_zero() {
            return std::net::TcpStream::connect_timeout(addr, timeout).map(TcpStream::new);
        }
        connect_in_task(addr, Some(timeout))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().local_addr()
    }

    /// Shuts down the read half, the write half or both (never waits).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.as_std().shutdown(how)
    }

    /// A buffered reader of this stream whose buffers the kernel fills: a multishot receive
    /// into the scheduler's provided buffers, handed out by [`BufRead::fill_buf`](std::io::BufRead::fill_buf)
    /// without a copy and without an op per read (see [`RecvStream`] for end of stream, errors,
    /// running out of buffers, timeouts and drop). The stream stays writable meanwhile
    /// (`(&stream).write_all(…)`); read only through the reader while it exists.
    pub fn buffered_reader(&self) -> RecvStream<'_> {
        RecvStream::new(&self.inner)
    }

    /// Reads without removing the data from the queue (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.inner.coop() {
            return self.inner.as_std().peek(buf);
        }
        self.inner.recv(buf, MSG_PEEK)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.as_std().set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.as_std().nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.as_std().set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.as_std().ttl()
    }

    /// Moves the socket into or out of non-blocking mode. A non-blocking socket never
    /// parks a task: its calls fail with `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking, std::net::TcpStream::set_nonblocking)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.as_std().take_error()
    }

    /// A new handle to the same socket (a duplicated descriptor). The clones share the
    /// timeouts and blocking mode, as they share the socket.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream { inner: self.inner.try_clone(std::net::TcpStream::try_clone)?, async_io: AsyncIo::default() })
    }

    /// Sets the read timeout (`None`: wait forever). Zero is rejected with `InvalidInput`,
    /// as by std. Inside a task the timeout bounds each read with a link timeout; an
    /// expired read fails with `WouldBlock` (`EAGAIN`), as std's does.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur, std::net::TcpStream::set_read_timeout)
    }

    /// Sets the write timeout (`None`: wait forever); see
    /// [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur, std::net::TcpStream::set_write_timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.write_timeout()
    }

    /// Writes all of `data`, then reads into `buf`: `write_all(data)` followed by
    /// `read(buf)`, with the same results, but inside a task the two go to the kernel
    /// together (a send of the whole of `data`, linked to the receive) and the task
    /// parks once instead of twice. For a server, sending a reply and waiting for the
    /// next request on a connection costs one park; the other tasks' ops still travel
    /// in the same submission.
    ///
    /// A send that ends short (the connection broke meanwhile) cancels the receive: the
    /// rest is then written and the read done as the two calls would, so no reply is
    /// left half sent while waiting for an answer, and an error is the one `write_all`
    /// would return. The read timeout bounds the read from the moment the data was
    /// sent, as it bounds `read`. Outside a task, for a non-blocking stream, with an
    /// empty `data` or `buf`, or with a write timeout set (each op would need its own
    /// timer), this is exactly the two calls one after the other.
    ///
    /// ```
    /// use corio_coro::{Scheduler, net::TcpListener};
    /// use std::io::{Read, Write};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let client = std::thread::spawn(move || {
    ///     let mut client = std::net::TcpStream::connect(addr)?;
    ///     let mut reply = [0u8; 5];
    ///     client.read_exact(&mut reply)?;
    ///     client.write_all(b"ping")?;
    ///     client.read_exact(&mut reply[..4])?;
    ///     std::io::Result::Ok(reply)
    /// });
    /// let scheduler = Scheduler::new()?;
    /// let server = scheduler.spawn(move || {
    ///     let (stream, _) = listener.accept()?;
    ///     let mut request = [0u8; 4];
    ///     let mut n = stream.write_all_then_read(b"hello", &mut request)?;
    ///     let mut requests = Vec::new();
    ///     while n > 0 {
    ///         requests.push(String::from_utf8_lossy(&request[..n]).into_owned());
    ///         // Answer, then wait for the next request: one park.
    ///         n = stream.write_all_then_read(b"pong", &mut request)?;
    ///     }
    ///     std::io::Result::Ok(requests)
    /// });
    /// assert_eq!(server.join()?, ["ping"]);
    /// assert_eq!(&client.join().unwrap()?, b"pongo");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write_all_then_read(&self, data: &[u8], buf: &mut [u8]) -> io::Result<usize> {
        self.inner.write_all_then_read(data, buf)
    }
}

fn connect_in_task(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let socket = crate::io::single(NewSocket::new(Domain::for_address(*addr), Type::STREAM).protocol(Protocol::TCP))?;
    bounded(Connect::new(&socket, *addr), timeout, || io::Error::from(io::ErrorKind::TimedOut))?;
    Ok(TcpStream::new(socket.into()))
}

/// Returns first what async reads buffered (see `coro::future`'s docs on mixing).
impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(n) = self.async_io.take_buffered(buf)? {
            return Ok(n);
        }
        (&self.inner).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        if let Some(first) = bufs.iter_mut().find(|b| !b.is_empty())
            && let Some(n) = self.async_io.take_buffered(first)?
        {
            return Ok(n);
        }
        (&self.inner).read_vectored(bufs)
    }
}

impl TcpStream {
    /// The std socket and the async side, for the async IO traits (`coro::future`).
    #[cfg_attr(not(any(feature = "futures-io", feature = "tokio", feature = "hyper")), allow(dead_code))]
    pub(crate) fn async_parts(&mut self) -> (&std::net::TcpStream, &mut AsyncIo<std::net::TcpStream>) {
        (self.inner.as_std(), &mut self.async_io)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.inner).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.inner).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.inner).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.inner).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&self.inner).flush()
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.inner).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.inner).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&self.inner).flush()
    }
}

impl From<std::net::TcpStream> for TcpStream {
    /// Wraps a std socket, keeping its timeouts and blocking mode.
    fn from(stream: std::net::TcpStream) -> TcpStream {
        TcpStream { inner: Socket::from_std(stream), async_io: AsyncIo::default() }
    }
}

impl From<TcpStream> for std::net::TcpStream {
    fn from(stream: TcpStream) -> std::net::TcpStream {
        stream.inner.into_std()
    }
}

#[cfg(unix)]
impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_std().as_fd()
    }
}

#[cfg(unix)]
impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_std().as_raw_fd()
    }
}

#[cfg(unix)]
impl IntoRawFd for TcpStream {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_std().into_raw_fd()
    }
}

#[cfg(unix)]
impl FromRawFd for TcpStream {
    /// # Safety
    ///
    /// As for the std type: `fd` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpStream {
        // SAFETY: forwarded to the caller's promise (see above).
        TcpStream::from(unsafe { std::net::TcpStream::from_raw_fd(fd) })
    }
}

#[cfg(unix)]
impl From<OwnedFd> for TcpStream {
    fn from(fd: OwnedFd) -> TcpStream {
        TcpStream::from(std::net::TcpStream::from(fd))
    }
}

#[cfg(unix)]
impl From<TcpStream> for OwnedFd {
    fn from(stream: TcpStream) -> OwnedFd {
        stream.inner.into_std().into()
    }
}

#[cfg(windows)]
impl AsSocket for TcpStream {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.inner.as_std().as_socket()
    }
}

#[cfg(windows)]
impl AsRawSocket for TcpStream {
    fn as_raw_socket(&self) -> RawSocket {
        self.inner.as_std().as_raw_socket()
    }
}

#[cfg(windows)]
impl IntoRawSocket for TcpStream {
    fn into_raw_socket(self) -> RawSocket {
        self.inner.into_std().into_raw_socket()
    }
}

#[cfg(windows)]
impl FromRawSocket for TcpStream {
    /// # Safety
    ///
    /// As for the std type: `sock` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_socket(sock: RawSocket) -> TcpStream {
        // SAFETY: forwarded to the caller's promise (see above).
        TcpStream::from(unsafe { std::net::TcpStream::from_raw_socket(sock) })
    }
}

#[cfg(windows)]
impl From<OwnedSocket> for TcpStream {
    fn from(sock: OwnedSocket) -> TcpStream {
        TcpStream::from(std::net::TcpStream::from(sock))
    }
}

#[cfg(windows)]
impl From<TcpStream> for OwnedSocket {
    fn from(stream: TcpStream) -> OwnedSocket {
        stream.inner.into_std().into()
    }
}

#[cfg(windows)]
impl AsSource for TcpStream {
    fn as_source(&self) -> BorrowedSource<'_> {
        self.inner.as_std().as_source()
    }
}

/// A listener on `addr` with `SO_REUSEADDR` and `SO_REUSEPORT`.
#[cfg(unix)]
fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(TcpListener::from(std::net::TcpListener::from(socket)))
}

#[cfg(windows)]
fn reuseport_listener(_addr: SocketAddr) -> io::Result<TcpListener> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "SO_REUSEPORT does not exist on Windows"))
}
