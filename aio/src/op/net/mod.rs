//! Socket ops: [`Socket`], [`Accept`], [`AcceptMulti`], [`Connect`], [`Bind`], [`Listen`], [`Recv`], [`Send`],
//! [`RecvMsg`], [`SendMsg`], [`Shutdown`].
//!
//! Sockets are [`socket2::Socket`]s, which convert to and from `std::net::TcpStream`,
//! `TcpListener`, `UdpSocket` and the Unix socket types; any of those can be passed where an op
//! takes `&impl AsFd` (on Windows `&impl AsSource`). Addresses are anything convertible to [`SockAddr`] (a
//! `std::net::SocketAddr`, or `SockAddr::unix(path)`). [`crate::net_types`] names these types
//! (`socket2`'s) on every target.
//!
//! Every socket this module creates (by [`Socket`] or [`Accept`]) is close-on-exec. Sends never
//! raise `SIGPIPE` (`MSG_NOSIGNAL`): writing to a closed peer fails with `BrokenPipe`.
//!
//! # WASI
//!
//! WASI preview 1 cannot create, bind or connect sockets, so on wasm32-wasip1 every op of this
//! module refuses to queue with `ErrorKind::Unsupported`, before looking at its arguments,
//! as std's `std::net` does there: the batch holding it is refused whole, as for
//! [`Splice`](super::Splice) off Linux. The ops keep their names and signatures, over the small
//! stand-ins of [`crate::net_types`] (socket2 does not build there), so portable code compiles.

use std::io;

#[cfg(not(target_os = "wasi"))]
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Type};

#[cfg(target_os = "wasi")]
use crate::sys::wasi_net::{self as socket2, Domain, Protocol, SockAddr, Type};

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use super::target::{AsTarget, Target, target};
use super::{len_output, len32, mismatch, unit_output};
use crate::Value;
use crate::error::invalid_input;
use crate::raw::OpState;
use crate::sys::{self, AsSource, Borrowed, borrow, raw};

mod msg;
pub use msg::{RecvMsg, RecvMsgOutput, SendMsg};

/// Whether this target can run socket ops; every op here checks it first (`RecvMsg` and
/// `SendMsg` by their WASI `prepare`). Off WASI it is always `Ok` and compiles away.
#[inline(always)]
fn supported() -> io::Result<()> {
    if cfg!(target_os = "wasi") { Err(unsupported()) } else { Ok(()) }
}

#[cold]
fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "sockets are not supported on wasm32-wasip1 (WASI preview 1 cannot create or connect sockets)",
    )
}

/// The state of an op that hands `addr` to the OS: a copy of it.
#[cfg(not(target_os = "wasi"))]
fn addr_state(addr: &SockAddr) -> OpState {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `SockAddr` holds a `SockAddrStorage` and its `len` bytes are initialised; we copy
    // the whole storage, which is plain old data.
    unsafe { std::ptr::copy_nonoverlapping(addr.as_ptr(), &mut storage, 1) };
    OpState::Addr { addr: storage, len: addr.len() }
}

/// The state of an accept: room for the peer's address.
#[cfg(not(target_os = "wasi"))]
fn peer_state() -> OpState {
    OpState::Addr { addr: SockAddrStorage::zeroed(), len: size_of::<SockAddrStorage>() as socket2::socklen_t }
}

/// WASI: no socket op gets past [`supported`], so none keeps an address (and `OpState` has
/// no room for one there).
#[cfg(target_os = "wasi")]
fn addr_state(_: &SockAddr) -> OpState {
    OpState::Empty
}

#[cfg(target_os = "wasi")]
fn peer_state() -> OpState {
    OpState::Empty
}

/// Creates a socket; returns it as a [`socket2::Socket`].
///
/// ```
/// use corio_aio::net_types::{Domain, Type};
/// use corio_aio::op;
/// let socket = corio_aio::single(op::Socket::new(Domain::IPV4, Type::STREAM))?;
/// assert_eq!(socket.r#type()?, Type::STREAM);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Socket {
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
}

impl Socket {
    /// A socket of `domain` and `ty`, with the default protocol.
    pub fn new(domain: Domain, ty: Type) -> Socket {
        Socket { domain, ty, protocol: None }
    }
    /// Picks the protocol (e.g. `Protocol::TCP`).
    pub fn protocol(mut self, protocol: Protocol) -> Socket {
        self.protocol = Some(protocol);
        self
    }
}

impl Prepare for Socket {
    const NAME: &'static str = Facts::Socket.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        Ok(RawOp::Socket {
            domain: self.domain.into(),
            ty: i32::from(self.ty) | crate::raw::SOCK_CLOEXEC,
            protocol: self.protocol.map_or(0, i32::from),
        })
    }
}

impl super::Op for Socket {
    type Output = socket2::Socket;
    fn output(value: Value) -> io::Result<socket2::Socket> {
        match value {
            #[cfg(not(windows))]
            Value::Fd(fd) => Ok(socket2::Socket::from(fd)),
            #[cfg(windows)]
            Value::Socket(s) => Ok(socket2::Socket::from(s)),
            _ => Err(mismatch()),
        }
    }
}

/// Accepts a connection on a listening socket; returns the new socket and the peer's address.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Accept<'a> {
    fd: Target<'a>,
}

impl<'a> Accept<'a> {
    /// Accepts on `listener`.
    pub fn new(listener: &'a impl AsTarget) -> Self {
        Accept { fd: target(listener) }
    }
}

impl Prepare for Accept<'_> {
    const NAME: &'static str = Facts::Accept.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        state.fill(peer_state());
        Ok(RawOp::Accept { fd: self.fd.raw(), flags: crate::raw::SOCK_CLOEXEC })
    }
}

impl super::Op for Accept<'_> {
    type Output = (socket2::Socket, SockAddr);
    fn output(value: Value) -> io::Result<Self::Output> {
        match value {
            #[cfg(not(target_os = "wasi"))]
            Value::Accepted(fd, addr) => Ok((socket2::Socket::from(fd), addr.into())),
            _ => Err(mismatch()),
        }
    }
}

/// Accepts connections on a listening socket for as long as it runs (a multishot accept):
/// one completion per connection, each with [`Completion::more`](crate::Completion::more)
/// set, until the op ends (a final completion: an error, `Canceled` after a
/// [`Cancel`](super::Cancel), or the OS ending it), when it can be queued again. Returns the
/// new socket; ask it for the peer's address (`peer_addr`) if needed.
///
/// One op takes every queued connection per wake-up, instead of one op per connection. It
/// completes more than once, so it goes through [`Dynamic::queue`](crate::Dynamic::queue)
/// and [`complete`](crate::Dynamic::complete) only; [`run`](crate::Dynamic::run), the
/// immediate API and tagged queueing refuse it (`InvalidInput`), and so does a linked chain.
///
/// io_uring runs the kernel's multishot accept (Linux 5.19), or single accepts re-armed after
/// each connection on older kernels; posix accepts every pending connection on each
/// readiness; IOCP starts the next `AcceptEx` after each connection.
///
/// ```
/// # {
/// use corio_aio::{Mode, op::{AcceptMulti, Cancel}};
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let _clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(addr)).collect::<Result<_, _>>()?;
/// corio_aio::scope(4, |ring| {
///     let id = ring.queue(AcceptMulti::new(&listener))?;
///     let mut accepted = Vec::new();
///     while accepted.len() < 3 {
///         ring.complete(Mode::Blocking, |c| {
///             assert!(c.more);
///             accepted.push(c.output::<AcceptMulti>().unwrap());
///         })?;
///     }
///     ring.queue(Cancel::new(id))?;
///     ring.complete_all(|_| {})?; // the accept ends canceled
///     assert_eq!(ring.in_flight(), 0);
///     std::io::Result::Ok(())
/// })??;
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct AcceptMulti<'a> {
    fd: Target<'a>,
}

impl<'a> AcceptMulti<'a> {
    /// Accepts on `listener` until canceled.
    pub fn new(listener: &'a impl AsTarget) -> Self {
        AcceptMulti { fd: target(listener) }
    }
}

impl Prepare for AcceptMulti<'_> {
    const NAME: &'static str = Facts::AcceptMulti.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        Ok(RawOp::AcceptMulti { fd: self.fd.raw(), flags: crate::raw::SOCK_CLOEXEC })
    }
}

impl super::Op for AcceptMulti<'_> {
    type Output = socket2::Socket;
    fn output(value: Value) -> io::Result<socket2::Socket> {
        <Socket as super::Op>::output(value)
    }
}

/// Connects a socket to an address.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Connect<'a> {
    fd: Target<'a>,
    addr: SockAddr,
}

impl<'a> Connect<'a> {
    /// Connects `socket` to `addr`.
    pub fn new(socket: &'a impl AsTarget, addr: impl Into<SockAddr>) -> Self {
        Connect { fd: target(socket), addr: addr.into() }
    }
}

impl Prepare for Connect<'_> {
    const NAME: &'static str = Facts::Connect.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        state.fill(addr_state(&self.addr));
        Ok(RawOp::Connect { fd: self.fd.raw() })
    }
}

/// Binds a socket to a local address.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Bind<'a> {
    fd: Borrowed<'a>,
    addr: SockAddr,
}

impl<'a> Bind<'a> {
    /// Binds `socket` to `addr`.
    pub fn new(socket: &'a impl AsSource, addr: impl Into<SockAddr>) -> Self {
        Bind { fd: borrow(socket), addr: addr.into() }
    }
}

impl Prepare for Bind<'_> {
    const NAME: &'static str = Facts::Bind.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        state.fill(addr_state(&self.addr));
        Ok(RawOp::Bind { fd: raw(&self.fd) })
    }
}

/// Marks a bound socket as listening, with a queue of `backlog` pending connections.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Listen<'a> {
    fd: Borrowed<'a>,
    backlog: i32,
}

impl<'a> Listen<'a> {
    /// Listens on `socket`.
    pub fn new(socket: &'a impl AsSource, backlog: i32) -> Self {
        Listen { fd: borrow(socket), backlog }
    }
}

impl Prepare for Listen<'_> {
    const NAME: &'static str = Facts::Listen.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        Ok(RawOp::Listen { fd: raw(&self.fd), backlog: self.backlog })
    }
}

/// Receives from a connected socket; returns the number of bytes received (0: the peer shut
/// down its side). Zero-length buffers are rejected.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Recv<'a> {
    fd: Target<'a>,
    buf: &'a mut [u8],
    flags: i32,
}

impl<'a> Recv<'a> {
    /// Receives from `socket` into `buf`.
    pub fn new(socket: &'a impl AsTarget, buf: &'a mut [u8]) -> Self {
        Recv { fd: target(socket), buf, flags: 0 }
    }
    /// Looks at the data without removing it (`MSG_PEEK`).
    pub fn peek(mut self) -> Self {
        self.flags |= sys::MSG_PEEK;
        self
    }
    /// Waits until the whole buffer is filled (`MSG_WAITALL`; may still return less on a
    /// signal, an error or a shutdown).
    pub fn wait_all(mut self) -> Self {
        self.flags |= sys::MSG_WAITALL;
        self
    }
    /// Or-s in raw `MSG_*` flags.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

impl Prepare for Recv<'_> {
    const NAME: &'static str = Facts::Recv.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        if self.buf.is_empty() {
            return Err(invalid_input("zero-length buffer"));
        }
        let len = len32(self.buf.len())?;
        Ok(RawOp::Recv { fd: self.fd.raw(), buf: self.buf.as_mut_ptr(), len, flags: self.flags })
    }
}

/// Sends on a connected socket; returns the number of bytes sent (possibly fewer than asked,
/// unless [`wait_all`](Send::wait_all)).
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Send<'a> {
    fd: Target<'a>,
    buf: &'a [u8],
    flags: i32,
}

impl<'a> Send<'a> {
    /// Sends `buf` on `socket`.
    pub fn new(socket: &'a impl AsTarget, buf: &'a [u8]) -> Self {
        Send { fd: target(socket), buf, flags: crate::raw::MSG_NOSIGNAL }
    }
    /// Hints that more data follows (`MSG_MORE`; Linux only, ignored elsewhere).
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    pub fn more(mut self) -> Self {
        #[cfg(target_os = "linux")]
        {
            self.flags |= libc::MSG_MORE;
        }
        self
    }
    /// Sends the whole buffer before completing (`MSG_WAITALL`, which io_uring accepts on
    /// sends): a partial send is continued until everything is sent, so the op returns the
    /// buffer's length, or an error, or fewer bytes only if the connection broke meanwhile
    /// (shut down, reset). Such a short send counts as a failure for links: the rest of a
    /// soft-linked chain is canceled, so a chain "send a reply, then receive" never waits
    /// for an answer to a reply that was not all sent.
    ///
    /// Every backend does this for stream sockets: io_uring since Linux 5.19 (on older
    /// kernels, which would complete a partial send as a success, the op fails with
    /// `ErrorKind::Unsupported` instead of running), posix by repeating the non-blocking
    /// send, IOCP because an overlapped send completes only once all of it was sent.
    pub fn wait_all(mut self) -> Self {
        self.flags |= sys::MSG_WAITALL;
        self
    }
    /// Or-s in raw `MSG_*` flags.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags |= flags;
        self
    }
}

impl Prepare for Send<'_> {
    const NAME: &'static str = Facts::Send.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        let len = len32(self.buf.len())?;
        Ok(RawOp::Send { fd: self.fd.raw(), buf: self.buf.as_ptr(), len, flags: self.flags })
    }
}

/// Shuts down the read half, the write half or both of a connection.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Shutdown<'a> {
    fd: Target<'a>,
    how: std::net::Shutdown,
}

impl<'a> Shutdown<'a> {
    /// Shuts down `how` of `socket`.
    pub fn new(socket: &'a impl AsTarget, how: std::net::Shutdown) -> Self {
        Shutdown { fd: target(socket), how }
    }
}

impl Prepare for Shutdown<'_> {
    const NAME: &'static str = Facts::Shutdown.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.fd.is_fixed()
    }
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        supported()?;
        let how = match self.how {
            std::net::Shutdown::Read => sys::SHUT_RD,
            std::net::Shutdown::Write => sys::SHUT_WR,
            std::net::Shutdown::Both => sys::SHUT_RDWR,
        };
        Ok(RawOp::Shutdown { fd: self.fd.raw(), how })
    }
}

unit_output!(Connect<'a>, Bind<'a>, Listen<'a>, Shutdown<'a>);
len_output!(Recv<'a>, Send<'a>, SendMsg<'a>);

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! net_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            Socket { domain: i32, ty: i32, protocol: i32 }
                = { name: "socket", output: Output::Socket, socket: true, ..Facts::DEFAULT };
            /// Peer address lands in [`OpState::Addr`](crate::raw::OpState::Addr).
            Accept { fd: crate::raw::RawFd, flags: i32 }
                = { name: "accept", output: Output::Accepted, consumer: true, socket: true, ..Facts::DEFAULT } fixed fd;
            /// Multishot: one report per connection, no peer address (no state).
            AcceptMulti { fd: crate::raw::RawFd, flags: i32 }
                = { name: "accept_multi", output: Output::Socket, consumer: true, socket: true, multishot: true,
                    ..Facts::DEFAULT } fixed fd;
            /// Address in [`OpState::Addr`](crate::raw::OpState::Addr).
            Connect { fd: crate::raw::RawFd } = { name: "connect", socket: true, ..Facts::DEFAULT } fixed fd;
            /// Address in [`OpState::Addr`](crate::raw::OpState::Addr).
            Bind { fd: crate::raw::RawFd } = { name: "bind", socket: true, ..Facts::DEFAULT };
            Listen { fd: crate::raw::RawFd, backlog: i32 } = { name: "listen", socket: true, ..Facts::DEFAULT };
            /// With `MSG_WAITALL`, fewer bytes than asked is a short transfer.
            Recv { fd: crate::raw::RawFd, buf: *mut u8, len: u32, flags: i32 }
                = { name: "recv", output: Output::Len, consumer: true, socket: true, ..Facts::DEFAULT }
                whole { (flags & crate::sys::MSG_WAITALL != 0).then_some(len as usize) } fixed fd;
            /// With `MSG_WAITALL`, fewer bytes than asked is a short transfer.
            Send { fd: crate::raw::RawFd, buf: *const u8, len: u32, flags: i32 }
                = { name: "send", output: Output::Len, socket: true, ..Facts::DEFAULT }
                whole { (flags & crate::sys::MSG_WAITALL != 0).then_some(len as usize) } fixed fd;
            /// Header in [`OpState::Msg`](crate::raw::OpState::Msg).
            RecvMsg { fd: crate::raw::RawFd, flags: i32 }
                = { name: "recvmsg", output: Output::Message, consumer: true, socket: true, ..Facts::DEFAULT } fixed fd;
            /// Header in [`OpState::Msg`](crate::raw::OpState::Msg).
            SendMsg { fd: crate::raw::RawFd, flags: i32 }
                = { name: "sendmsg", output: Output::Len, socket: true, ..Facts::DEFAULT } fixed fd;
            Shutdown { fd: crate::raw::RawFd, how: i32 }
                = { name: "shutdown", error_fails_link: false, socket: true, ..Facts::DEFAULT } fixed fd;
        }
    };
}
pub(crate) use net_ops;
