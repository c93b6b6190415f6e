//! [`UdpSocket`].

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

#[cfg(windows)]
use corio_aio::{AsSource, BorrowedSource};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{
    AsRawSocket, AsSocket, BorrowedSocket, FromRawSocket, IntoRawSocket, OwnedSocket, RawSocket,
};

use super::no_address;
use super::socket::{MSG_PEEK, Socket};

/// A UDP socket, like [`std::net::UdpSocket`]; sends and receives park the task inside one.
///
/// ```
/// use corio_coro::net::UdpSocket;
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// a.send_to(b"ping", b.local_addr()?)?;
/// let mut buf = [0u8; 8];
/// let (n, from) = b.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    inner: Socket<std::net::UdpSocket>,
}

fn ip_addr(addr: Option<socket2::SockAddr>) -> io::Result<SocketAddr> {
    addr.and_then(|a| a.as_socket()).ok_or_else(|| io::Error::other("datagram without an IP source address"))
}

impl UdpSocket {
    /// Binds a socket to `addr` (the std call: it never waits).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        Ok(UdpSocket { inner: Socket::new(std::net::UdpSocket::bind(addr)?) })
    }

    /// Receives one datagram; returns its length and sender. Bytes beyond `buf` are dropped.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if !self.inner.coop() {
            return self.inner.as_std().recv_from(buf);
        }
        let (n, addr) = self.inner.recv_from(buf, 0)?;
        Ok((n, ip_addr(addr)?))
    }

    /// Like [`recv_from`](UdpSocket::recv_from), leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if !self.inner.coop() {
            return self.inner.as_std().peek_from(buf);
        }
        let (n, addr) = self.inner.recv_from(buf, MSG_PEEK)?;
        Ok((n, ip_addr(addr)?))
    }

    /// Sends one datagram to the first address `addr` resolves to.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        if !self.inner.coop() {
            return self.inner.as_std().send_to(buf, addr);
        }
        let to = addr.to_socket_addrs()?.next().ok_or_else(no_address)?;
        self.inner.send_to(buf, to.into())
    }

    /// Connects the socket to `addr` (no packet is sent: it never waits).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.inner.as_std().connect(addr)
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send_datagram(buf, std::net::UdpSocket::send)
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv_datagram(buf, std::net::UdpSocket::recv)
    }

    /// Like [`recv`](UdpSocket::recv), leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.inner.coop() {
            return self.inner.as_std().peek(buf);
        }
        Ok(self.inner.recv_from(buf, MSG_PEEK)?.0)
    }

    /// The peer's address (after [`connect`](UdpSocket::connect)).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.as_std().local_addr()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.as_std().set_broadcast(broadcast)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.as_std().broadcast()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.as_std().set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.as_std().ttl()
    }

    /// Joins an IPv4 multicast group (`IP_ADD_MEMBERSHIP`).
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.as_std().join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group (`IPV6_ADD_MEMBERSHIP`).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.as_std().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.as_std().leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.as_std().leave_multicast_v6(multiaddr, interface)
    }

    /// Moves the socket into or out of non-blocking mode. A non-blocking socket never
    /// parks a task: its calls fail with `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking, std::net::UdpSocket::set_nonblocking)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.as_std().take_error()
    }

    /// A new handle to the same socket (a duplicated descriptor). The clones share the
    /// timeouts and blocking mode, as they share the socket.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket { inner: self.inner.try_clone(std::net::UdpSocket::try_clone)? })
    }

    /// Sets the read timeout (`None`: wait forever). Zero is rejected with `InvalidInput`,
    /// as by std. Inside a task the timeout bounds each read with a link timeout; an
    /// expired read fails with `WouldBlock` (`EAGAIN`), as std's does.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur, std::net::UdpSocket::set_read_timeout)
    }

    /// Sets the write timeout (`None`: wait forever); see
    /// [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur, std::net::UdpSocket::set_write_timeout)
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

impl From<std::net::UdpSocket> for UdpSocket {
    /// Wraps a std socket, keeping its timeouts and blocking mode.
    fn from(socket: std::net::UdpSocket) -> UdpSocket {
        UdpSocket { inner: Socket::from_std(socket) }
    }
}

impl From<UdpSocket> for std::net::UdpSocket {
    fn from(socket: UdpSocket) -> std::net::UdpSocket {
        socket.inner.into_std()
    }
}

#[cfg(unix)]
impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_std().as_fd()
    }
}

#[cfg(unix)]
impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_std().as_raw_fd()
    }
}

#[cfg(unix)]
impl IntoRawFd for UdpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_std().into_raw_fd()
    }
}

#[cfg(unix)]
impl FromRawFd for UdpSocket {
    /// # Safety
    ///
    /// As for the std type: `fd` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_fd(fd: RawFd) -> UdpSocket {
        // SAFETY: forwarded to the caller's promise (see above).
        UdpSocket::from(unsafe { std::net::UdpSocket::from_raw_fd(fd) })
    }
}

#[cfg(unix)]
impl From<OwnedFd> for UdpSocket {
    fn from(fd: OwnedFd) -> UdpSocket {
        UdpSocket::from(std::net::UdpSocket::from(fd))
    }
}

#[cfg(unix)]
impl From<UdpSocket> for OwnedFd {
    fn from(socket: UdpSocket) -> OwnedFd {
        socket.inner.into_std().into()
    }
}

#[cfg(windows)]
impl AsSocket for UdpSocket {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.inner.as_std().as_socket()
    }
}

#[cfg(windows)]
impl AsRawSocket for UdpSocket {
    fn as_raw_socket(&self) -> RawSocket {
        self.inner.as_std().as_raw_socket()
    }
}

#[cfg(windows)]
impl IntoRawSocket for UdpSocket {
    fn into_raw_socket(self) -> RawSocket {
        self.inner.into_std().into_raw_socket()
    }
}

#[cfg(windows)]
impl FromRawSocket for UdpSocket {
    /// # Safety
    ///
    /// As for the std type: `sock` must be an open socket of the right kind that the
    /// caller owns.
    unsafe fn from_raw_socket(sock: RawSocket) -> UdpSocket {
        // SAFETY: forwarded to the caller's promise (see above).
        UdpSocket::from(unsafe { std::net::UdpSocket::from_raw_socket(sock) })
    }
}

#[cfg(windows)]
impl From<OwnedSocket> for UdpSocket {
    fn from(sock: OwnedSocket) -> UdpSocket {
        UdpSocket::from(std::net::UdpSocket::from(sock))
    }
}

#[cfg(windows)]
impl From<UdpSocket> for OwnedSocket {
    fn from(socket: UdpSocket) -> OwnedSocket {
        socket.inner.into_std().into()
    }
}

#[cfg(windows)]
impl AsSource for UdpSocket {
    fn as_source(&self) -> BorrowedSource<'_> {
        self.inner.as_std().as_source()
    }
}
