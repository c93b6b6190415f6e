//! [`UdpSocket`].

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use super::{State, datagram_io, no_address, socket_common, socket_options, timeout_options};

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
    inner: std::net::UdpSocket,
    state: Arc<State>,
}

fn ip_addr(addr: Option<socket2::SockAddr>) -> io::Result<SocketAddr> {
    addr.and_then(|a| a.as_socket()).ok_or_else(|| io::Error::other("datagram without an IP source address"))
}

impl UdpSocket {
    /// Binds a socket to `addr` (the std call: it never waits).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        Ok(UdpSocket { inner: std::net::UdpSocket::bind(addr)?, state: Arc::new(State::blocking()) })
    }

    /// Receives one datagram; returns its length and sender. Bytes beyond `buf` are dropped.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if !self.state.coop() {
            return self.inner.recv_from(buf);
        }
        let (n, addr) = super::recv_from(&self.inner, buf, 0, self.state.read_timeout())?;
        Ok((n, ip_addr(addr)?))
    }

    /// Like [`recv_from`](UdpSocket::recv_from), leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if !self.state.coop() {
            return self.inner.peek_from(buf);
        }
        let (n, addr) = super::recv_from(&self.inner, buf, super::MSG_PEEK, self.state.read_timeout())?;
        Ok((n, ip_addr(addr)?))
    }

    /// Sends one datagram to the first address `addr` resolves to.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        if !self.state.coop() {
            return self.inner.send_to(buf, addr);
        }
        let to = addr.to_socket_addrs()?.next().ok_or_else(no_address)?;
        super::send_to(&self.inner, buf, to.into(), self.state.write_timeout())
    }

    /// Connects the socket to `addr` (no packet is sent: it never waits).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.inner.connect(addr)
    }

    datagram_io!();

    /// Like [`recv`](UdpSocket::recv), leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.state.coop() {
            return self.inner.peek(buf);
        }
        Ok(super::recv_from(&self.inner, buf, super::MSG_PEEK, self.state.read_timeout())?.0)
    }

    /// The peer's address (after [`connect`](UdpSocket::connect)).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.set_broadcast(broadcast)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.broadcast()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Joins an IPv4 multicast group (`IP_ADD_MEMBERSHIP`).
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group (`IPV6_ADD_MEMBERSHIP`).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.leave_multicast_v6(multiaddr, interface)
    }

    socket_options!();
    timeout_options!();
}

socket_common!(UdpSocket, std::net::UdpSocket);
