//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`].

use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use corio_aio::op::{Accept, Connect, Socket};
use socket2::{Domain, SockAddr, Type};

use super::{State, datagram_io, socket_common, socket_options, stream_io, timeout_options};

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
    inner: std::os::unix::net::UnixListener,
    state: Arc<State>,
}

impl UnixListener {
    /// Binds a listener to the filesystem path `path` (the std call: it never waits).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(UnixListener { inner: std::os::unix::net::UnixListener::bind(path)?, state: Arc::new(State::blocking()) })
    }

    /// Accepts a connection; inside a task the task parks until one arrives (one connection
    /// per call and scheduler pass, as [`TcpListener::accept`](super::TcpListener::accept)).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        if !self.state.coop() {
            let (s, addr) = self.inner.accept()?;
            return Ok((UnixStream::new(s), addr));
        }
        let (socket, _) = crate::io::single(Accept::new(&self.inner))?;
        let stream = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(socket));
        let addr = stream.peer_addr()?;
        Ok((UnixStream::new(stream), addr))
    }

    /// An endless iterator of [`accept`](UnixListener::accept)ed streams.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    socket_options!();
}

socket_common!(UnixListener, std::os::unix::net::UnixListener);

/// Iterator over [`UnixListener::accept`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix-domain stream, like [`std::os::unix::net::UnixStream`]: `Read` and `Write`
/// (also on `&UnixStream`), parking the task inside one.
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
    inner: std::os::unix::net::UnixStream,
    state: Arc<State>,
}

impl UnixStream {
    fn new(inner: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream { inner, state: Arc::new(State::blocking()) }
    }

    /// Connects to the socket at `path`; inside a task the task parks while connecting.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        if !crate::in_task() {
            return std::os::unix::net::UnixStream::connect(path).map(UnixStream::new);
        }
        let addr = SockAddr::unix(path)?;
        let socket = crate::io::single(Socket::new(Domain::UNIX, Type::STREAM))?;
        crate::io::single(Connect::new(&socket, addr))?;
        Ok(UnixStream::new(std::os::fd::OwnedFd::from(socket).into()))
    }

    /// An unnamed pair of connected streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::new(a), UnixStream::new(b)))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down the read half, the write half or both (never waits).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    socket_options!();
    timeout_options!();
}

socket_common!(UnixStream, std::os::unix::net::UnixStream);
stream_io!(UnixStream);

/// A Unix-domain datagram socket, like [`std::os::unix::net::UnixDatagram`].
#[derive(Debug)]
pub struct UnixDatagram {
    inner: std::os::unix::net::UnixDatagram,
    state: Arc<State>,
}

impl UnixDatagram {
    fn new(inner: std::os::unix::net::UnixDatagram) -> UnixDatagram {
        UnixDatagram { inner, state: Arc::new(State::blocking()) }
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
        self.inner.connect(path)
    }

    /// Sends one datagram to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        if !self.state.coop() {
            return self.inner.send_to(buf, path);
        }
        super::send_to(&self.inner, buf, SockAddr::unix(path)?, self.state.write_timeout())
    }

    /// Receives one datagram; returns its length and sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if !self.state.coop() {
            return self.inner.recv_from(buf);
        }
        let (n, addr) = super::recv_from(&self.inner, buf, 0, self.state.read_timeout())?;
        Ok((n, unix_addr(addr)?))
    }

    datagram_io!();

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down the read half, the write half or both (never waits).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    socket_options!();
    timeout_options!();
}

socket_common!(UnixDatagram, std::os::unix::net::UnixDatagram);
