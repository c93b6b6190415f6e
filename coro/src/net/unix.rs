//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`].

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use corio_aio::op::{Accept, Connect, Socket as NewSocket};
use socket2::{Domain, SockAddr, Type};

use super::buffered::RecvStream;
use super::incoming::Accepting;
use super::socket::Socket;
use crate::future::AsyncIo;

/// Converts a kernel-filled Unix address into std's.
fn unix_addr(addr: Option<SockAddr>) -> io::Result<SocketAddr> {
    if let Some(path) = addr.as_ref().and_then(SockAddr::as_pathname) {
        return SocketAddr::from_pathname(path);
    }
    #[cfg(target_os = "linux")]
    if let Some(name) = addr.as_ref().and_then(SockAddr::as_abstract_namespace) {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name);
    }
    // An unnamed address: std builds those only from a socket, so ask an unbound one.
    std::os::unix::net::UnixDatagram::unbound()?.local_addr()
}

/// A Unix-domain stream listener, like [`std::os::unix::net::UnixListener`].
#[derive(Debug)]
pub struct UnixListener {
    inner: Socket<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds a listener to the filesystem path `path` (the std call: it never waits).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(UnixListener { inner: Socket::new(std::os::unix::net::UnixListener::bind(path)?) })
    }

    /// Accepts a connection; inside a task the task parks until one arrives (one connection
    /// per call and scheduler pass, as [`TcpListener::accept`](super::TcpListener::accept)).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        if !self.inner.coop() {
            let (s, addr) = self.inner.as_std().accept()?;
            return Ok((UnixStream::new(s), addr));
        }
        let (socket, _) = crate::io::single(Accept::new(self.inner.as_std()))?;
        let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(socket));
        let addr = stream.peer_addr()?;
        Ok((UnixStream::new(stream), addr))
    }

    /// An endless iterator of accepted streams, driven inside a task by one multishot accept
    /// (see [`TcpListener::incoming`](super::TcpListener::incoming)).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self, accepting: Accepting::default() }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().local_addr()
    }

    /// Moves the socket into or out of non-blocking mode. A non-blocking socket never
    /// parks a task: its calls fail with `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking, std::os::unix::net::UnixListener::set_nonblocking)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.as_std().take_error()
    }

    /// A new handle to the same socket (a duplicated descriptor). The clones share the
    /// timeouts and blocking mode, as they share the socket.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener { inner: self.inner.try_clone(std::os::unix::net::UnixListener::try_clone)? })
    }
}

/// The connections of [`UnixListener::incoming`] (a multishot accept inside a task).
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
    accepting: Accepting,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        let listener = self.listener;
        let plain = || listener.accept().map(|(s, _)| s);
        Some(self.accepting.next(&listener.inner, plain, |s| UnixStream::new(s.into())))
    }
}

impl From<std::os::unix::net::UnixListener> for UnixListener {
    /// Wraps a std socket, keeping its timeouts and blocking mode.
    fn from(listener: std::os::unix::net::UnixListener) -> UnixListener {
        UnixListener { inner: Socket::from_std(listener) }
    }
}

impl From<UnixListener> for std::os::unix::net::UnixListener {
    fn from(listener: UnixListener) -> std::os::unix::net::UnixListener {
        listener.inner.into_std()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_std().as_fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_std().as_raw_fd()
    }
}

impl IntoRawFd for UnixListener {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_std().into_raw_fd()
    }
}

impl FromRawFd for UnixListener {
    /// # Safety
    ///
    /// As for the std type: `fd` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_fd(fd: RawFd) -> UnixListener {
        // SAFETY: forwarded to the caller's promise (see above).
        UnixListener::from(unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) })
    }
}

impl From<OwnedFd> for UnixListener {
    fn from(fd: OwnedFd) -> UnixListener {
        UnixListener::from(std::os::unix::net::UnixListener::from(fd))
    }
}

impl From<UnixListener> for OwnedFd {
    fn from(listener: UnixListener) -> OwnedFd {
        listener.inner.into_std().into()
    }
}

/// A Unix-domain stream, like [`std::os::unix::net::UnixStream`]: `Read` and `Write`
/// (also on `&UnixStream`), parking the task inside one. With the `futures-io`, `tokio` and
/// `hyper` features it implements those crates' async IO traits too (see
/// [`future`](crate::future#streams)).
///
/// ```
/// use corio_coro::{Scheduler, net::UnixStream};
/// use std::io::{Read, Write};
/// let (mut a, mut b) = UnixStream::pair()?;
/// let scheduler = Scheduler::new()?;
/// let reader = scheduler.spawn(move || {
///     let mut s = String::new();
///     b.read_to_string(&mut s).map(|_| s)
/// });
/// a.write_all(b"hi")?;
/// drop(a);
/// assert_eq!(reader.join()?, "hi");
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct UnixStream {
    pub(super) inner: Socket<std::os::unix::net::UnixStream>,
    /// The async IO traits' buffers and ops (`coro::future`), empty until first polled.
    async_io: AsyncIo<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    fn new(inner: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream { inner: Socket::new(inner), async_io: AsyncIo::default() }
    }

    /// Connects to the socket at `path`; inside a task the task parks while connecting.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        if !crate::in_task() {
            return std::os::unix::net::UnixStream::connect(path).map(UnixStream::new);
        }
        let addr = SockAddr::unix(path)?;
        let socket = crate::io::single(NewSocket::new(Domain::UNIX, Type::STREAM))?;
        crate::io::single(Connect::new(&socket, addr))?;
        Ok(UnixStream::new(OwnedFd::from(socket).into()))
    }

    /// An unnamed pair of connected streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::new(a), UnixStream::new(b)))
    }

    /// A buffered reader of this stream whose buffers the kernel fills, as
    /// [`TcpStream::buffered_reader`](super::TcpStream::buffered_reader) (see [`RecvStream`]).
    pub fn buffered_reader(&self) -> RecvStream<'_> {
        RecvStream::new(&self.inner)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().peer_addr()
    }

    /// Shuts down the read half, the write half or both (never waits).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.as_std().shutdown(how)
    }

    /// Moves the socket into or out of non-blocking mode. A non-blocking socket never
    /// parks a task: its calls fail with `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking, std::os::unix::net::UnixStream::set_nonblocking)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.as_std().take_error()
    }

    /// A new handle to the same socket (a duplicated descriptor). The clones share the
    /// timeouts and blocking mode, as they share the socket.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: self.inner.try_clone(std::os::unix::net::UnixStream::try_clone)?,
            async_io: AsyncIo::default(),
        })
    }

    /// Sets the read timeout (`None`: wait forever). Zero is rejected with `InvalidInput`,
    /// as by std. Inside a task the timeout bounds each read with a link timeout; an
    /// expired read fails with `WouldBlock` (`EAGAIN`), as std's does.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur, std::os::unix::net::UnixStream::set_read_timeout)
    }

    /// Sets the write timeout (`None`: wait forever); see
    /// [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur, std::os::unix::net::UnixStream::set_write_timeout)
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
    /// use corio_coro::{Scheduler, net::UnixStream};
    /// use std::io::{Read, Write};
    ///
    /// let (server, mut client) = UnixStream::pair()?;
    /// let scheduler = Scheduler::new()?;
    /// let server = scheduler.spawn(move || {
    ///     let mut request = [0u8; 4];
    ///     // Greet, then wait for the request: one park.
    ///     let n = server.write_all_then_read(b"hello", &mut request)?;
    ///     std::io::Result::Ok(request[..n].to_vec())
    /// });
    /// let client = scheduler.spawn(move || {
    ///     let mut greeting = [0u8; 5];
    ///     client.read_exact(&mut greeting)?;
    ///     client.write_all(b"ping")?;
    ///     std::io::Result::Ok(greeting)
    /// });
    /// assert_eq!(server.join()?, b"ping");
    /// assert_eq!(&client.join()?, b"hello");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write_all_then_read(&self, data: &[u8], buf: &mut [u8]) -> io::Result<usize> {
        self.inner.write_all_then_read(data, buf)
    }
}

/// Returns first what async reads buffered (see `coro::future`'s docs on mixing).
impl Read for UnixStream {
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

impl UnixStream {
    /// The std socket and the async side, for the async IO traits (`coro::future`).
    #[cfg_attr(not(any(feature = "futures-io", feature = "tokio", feature = "hyper")), allow(dead_code))]
    pub(crate) fn async_parts(
        &mut self,
    ) -> (&std::os::unix::net::UnixStream, &mut AsyncIo<std::os::unix::net::UnixStream>) {
        (self.inner.as_std(), &mut self.async_io)
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.inner).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.inner).read_vectored(bufs)
    }
}

impl Write for UnixStream {
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

impl Write for &UnixStream {
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

impl From<std::os::unix::net::UnixStream> for UnixStream {
    /// Wraps a std socket, keeping its timeouts and blocking mode.
    fn from(stream: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream { inner: Socket::from_std(stream), async_io: AsyncIo::default() }
    }
}

impl From<UnixStream> for std::os::unix::net::UnixStream {
    fn from(stream: UnixStream) -> std::os::unix::net::UnixStream {
        stream.inner.into_std()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_std().as_fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_std().as_raw_fd()
    }
}

impl IntoRawFd for UnixStream {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_std().into_raw_fd()
    }
}

impl FromRawFd for UnixStream {
    /// # Safety
    ///
    /// As for the std type: `fd` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_fd(fd: RawFd) -> UnixStream {
        // SAFETY: forwarded to the caller's promise (see above).
        UnixStream::from(unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) })
    }
}

impl From<OwnedFd> for UnixStream {
    fn from(fd: OwnedFd) -> UnixStream {
        UnixStream::from(std::os::unix::net::UnixStream::from(fd))
    }
}

impl From<UnixStream> for OwnedFd {
    fn from(stream: UnixStream) -> OwnedFd {
        stream.inner.into_std().into()
    }
}

/// A Unix-domain datagram socket, like [`std::os::unix::net::UnixDatagram`].
#[derive(Debug)]
pub struct UnixDatagram {
    inner: Socket<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    fn new(inner: std::os::unix::net::UnixDatagram) -> UnixDatagram {
        UnixDatagram { inner: Socket::new(inner) }
    }

    /// Binds a socket to the filesystem path `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        std::os::unix::net::UnixDatagram::bind(path).map(UnixDatagram::new)
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        std::os::unix::net::UnixDatagram::unbound().map(UnixDatagram::new)
    }

    /// An unnamed pair of connected sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::new(a), UnixDatagram::new(b)))
    }

    /// Connects the socket to the one at `path` (never waits).
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.as_std().connect(path)
    }

    /// Sends one datagram to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        if !self.inner.coop() {
            return self.inner.as_std().send_to(buf, path);
        }
        self.inner.send_to(buf, SockAddr::unix(path)?)
    }

    /// Receives one datagram; returns its length and sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if !self.inner.coop() {
            return self.inner.as_std().recv_from(buf);
        }
        let (n, addr) = self.inner.recv_from(buf, 0)?;
        Ok((n, unix_addr(addr)?))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send_datagram(buf, std::os::unix::net::UnixDatagram::send)
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv_datagram(buf, std::os::unix::net::UnixDatagram::recv)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().peer_addr()
    }

    /// Shuts down the read half, the write half or both (never waits).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.as_std().shutdown(how)
    }

    /// Moves the socket into or out of non-blocking mode. A non-blocking socket never
    /// parks a task: its calls fail with `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking, std::os::unix::net::UnixDatagram::set_nonblocking)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.as_std().take_error()
    }

    /// A new handle to the same socket (a duplicated descriptor). The clones share the
    /// timeouts and blocking mode, as they share the socket.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { inner: self.inner.try_clone(std::os::unix::net::UnixDatagram::try_clone)? })
    }

    /// Sets the read timeout (`None`: wait forever). Zero is rejected with `InvalidInput`,
    /// as by std. Inside a task the timeout bounds each read with a link timeout; an
    /// expired read fails with `WouldBlock` (`EAGAIN`), as std's does.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur, std::os::unix::net::UnixDatagram::set_read_timeout)
    }

    /// Sets the write timeout (`None`: wait forever); see
    /// [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur, std::os::unix::net::UnixDatagram::set_write_timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.write_timeout()
    }
}

impl From<std::os::unix::net::UnixDatagram> for UnixDatagram {
    /// Wraps a std socket, keeping its timeouts and blocking mode.
    fn from(socket: std::os::unix::net::UnixDatagram) -> UnixDatagram {
        UnixDatagram { inner: Socket::from_std(socket) }
    }
}

impl From<UnixDatagram> for std::os::unix::net::UnixDatagram {
    fn from(socket: UnixDatagram) -> std::os::unix::net::UnixDatagram {
        socket.inner.into_std()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_std().as_fd()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_std().as_raw_fd()
    }
}

impl IntoRawFd for UnixDatagram {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_std().into_raw_fd()
    }
}

impl FromRawFd for UnixDatagram {
    /// # Safety
    ///
    /// As for the std type: `fd` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_fd(fd: RawFd) -> UnixDatagram {
        // SAFETY: forwarded to the caller's promise (see above).
        UnixDatagram::from(unsafe { std::os::unix::net::UnixDatagram::from_raw_fd(fd) })
    }
}

impl From<OwnedFd> for UnixDatagram {
    fn from(fd: OwnedFd) -> UnixDatagram {
        UnixDatagram::from(std::os::unix::net::UnixDatagram::from(fd))
    }
}

impl From<UnixDatagram> for OwnedFd {
    fn from(socket: UnixDatagram) -> OwnedFd {
        socket.inner.into_std().into()
    }
}
