//! [`TcpListener`] and [`TcpStream`].

use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use corio_aio::op::{Accept, Connect, Recv, Socket};
use socket2::{Domain, Protocol, Type};

use super::{State, bounded, no_address, socket_common, socket_options, stream_io, timeout_options};

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
    inner: std::net::TcpListener,
    state: Arc<State>,
}

impl TcpListener {
    /// Binds a listener to `addr` (the std call: it never waits). For options such as
    /// `SO_REUSEPORT`, build the socket with `socket2` and convert the std listener.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Ok(TcpListener { inner: std::net::TcpListener::bind(addr)?, state: Arc::new(State::blocking()) })
    }

    /// Accepts a connection; inside a task the task parks until one arrives.
    ///
    /// Inside a task each call takes one connection and the task resumes with it at the
    /// scheduler's next pass, after the tasks made ready meanwhile have run: on a busy
    /// scheduler one accepting task drains a burst of new connections at one per pass. Several
    /// tasks accepting on the same listener (it is shared by reference, e.g. through an `Rc`)
    /// take several per pass; `examples/http_server.rs` runs eight.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        if !self.state.coop() {
            let (s, addr) = self.inner.accept()?;
            return Ok((TcpStream::new(s), addr));
        }
        let (socket, addr) = crate::io::single(Accept::new(&self.inner))?;
        let addr = addr.as_socket().ok_or_else(|| io::Error::other("accepted a non-IP address"))?;
        Ok((TcpStream::new(socket.into()), addr))
    }

    /// An endless iterator of [`accept`](TcpListener::accept)ed streams.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    socket_options!();
}

socket_common!(TcpListener, std::net::TcpListener);

/// Iterator over [`TcpListener::accept`], as [`std::net::Incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection, like [`std::net::TcpStream`]: `Read` and `Write` (also on
/// `&TcpStream`, and vectored), and inside a task each call parks the task. See the
/// [module docs](super) for timeouts and sharing a stream between tasks.
#[derive(Debug)]
pub struct TcpStream {
    inner: std::net::TcpStream,
    state: Arc<State>,
}

impl TcpStream {
    fn new(inner: std::net::TcpStream) -> TcpStream {
        TcpStream { inner, state: Arc::new(State::blocking()) }
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
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read half, the write half or both (never waits).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Reads without removing the data from the queue (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.state.coop() {
            return self.inner.peek(buf);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        bounded(Recv::new(&self.inner, buf).peek(), self.state.read_timeout(), super::timed_out)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    socket_options!();
    timeout_options!();
}

fn connect_in_task(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let socket = crate::io::single(Socket::new(Domain::for_address(*addr), Type::STREAM).protocol(Protocol::TCP))?;
    bounded(Connect::new(&socket, *addr), timeout, || io::Error::from(io::ErrorKind::TimedOut))?;
    Ok(TcpStream::new(socket.into()))
}

socket_common!(TcpStream, std::net::TcpStream);
stream_io!(TcpStream);
