//! WASI (wasm32-wasip1): stand-ins for the few `socket2` types the socket ops name, which
//! `socket2` cannot provide there (it does not build for wasip1).
//!
//! WASI preview 1 cannot create, bind or connect sockets, so every socket op refuses to queue
//! there (`ErrorKind::Unsupported`, see [`crate::op::net`]), as std's own `std::net` does. These
//! types exist only so that the ops keep their names and signatures on every target; they
//! carry the values a program passes and nothing more. The constants are wasi-libc's.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// `MSG_*` and `SHUT_*` as wasi-libc defines them (its `__WASI_RIFLAGS_*` and
/// `__WASI_SDFLAGS_*`); libc has them only for wasip2. What `Recv` and `Shutdown` record.
pub(crate) const MSG_PEEK: i32 = 1;
pub(crate) const MSG_WAITALL: i32 = 2;
pub(crate) const SHUT_RD: i32 = 1;
pub(crate) const SHUT_WR: i32 = 2;
pub(crate) const SHUT_RDWR: i32 = SHUT_RD | SHUT_WR;

/// Declares a `socket2`-style newtype over the `i32` the C API takes, with its constants.
macro_rules! int_type {
    ($(#[$doc:meta])* $name:ident { $($(#[$cdoc:meta])* $konst:ident = $value:expr;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(i32);

        impl $name {
            $($(#[$cdoc])* pub const $konst: $name = $name($value);)*
        }

        impl From<i32> for $name {
            fn from(value: i32) -> $name {
                $name(value)
            }
        }

        impl From<$name> for i32 {
            fn from(value: $name) -> i32 {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match *self {
                    $($name::$konst => f.write_str(stringify!($konst)),)*
                    $name(other) => write!(f, "{}({other})", stringify!($name)),
                }
            }
        }
    };
}

int_type! {
    /// A socket's address family, as `socket2::Domain` elsewhere.
    Domain {
        /// `AF_INET`.
        IPV4 = 1;
        /// `AF_INET6`.
        IPV6 = 2;
        /// `AF_UNIX`.
        UNIX = 3;
    }
}

impl Domain {
    /// The family of `addr` (as `socket2::Domain::for_address`).
    pub fn for_address(addr: SocketAddr) -> Domain {
        if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 }
    }
}

int_type! {
    /// A socket's type, as `socket2::Type` elsewhere.
    Type {
        /// `SOCK_DGRAM`.
        DGRAM = 5;
        /// `SOCK_STREAM`.
        STREAM = 6;
    }
}

int_type! {
    /// A socket's protocol, as `socket2::Protocol` elsewhere.
    Protocol {
        /// `IPPROTO_TCP`.
        TCP = 6;
        /// `IPPROTO_UDP`.
        UDP = 17;
    }
}

/// A socket address, as `socket2::SockAddr` elsewhere: here only IPv4 and IPv6 addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SockAddr(SocketAddr);

impl SockAddr {
    /// The address as a `SocketAddr` (always `Some` here: there are no other families).
    pub fn as_socket(&self) -> Option<SocketAddr> {
        Some(self.0)
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(addr: SocketAddr) -> SockAddr {
        SockAddr(addr)
    }
}

impl From<SocketAddrV4> for SockAddr {
    fn from(addr: SocketAddrV4) -> SockAddr {
        SockAddr(addr.into())
    }
}

impl From<SocketAddrV6> for SockAddr {
    fn from(addr: SocketAddrV6) -> SockAddr {
        SockAddr(addr.into())
    }
}

/// A socket descriptor, as `socket2::Socket` elsewhere: the output of the `Socket` and
/// `Accept` ops, which never succeed here.
#[derive(Debug)]
pub struct Socket(OwnedFd);

impl From<OwnedFd> for Socket {
    fn from(fd: OwnedFd) -> Socket {
        Socket(fd)
    }
}

impl From<Socket> for OwnedFd {
    fn from(socket: Socket) -> OwnedFd {
        socket.0
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
