//! Networking with the names and signatures of [`std::net`] and `std::os::unix::net`:
//! [`TcpListener`], [`TcpStream`], [`UdpSocket`], and on Unix `UnixListener`, `UnixStream`
//! and `UnixDatagram`.
//!
//! On Windows the types implement `AsSocket`, `AsRawSocket`, `IntoRawSocket`,
//! `FromRawSocket` and the `OwnedSocket` conversions (where Unix has the descriptor traits),
//! and `corio_aio::AsSource`, so they can be handed to aio's ops. Two differences there:
//! Windows cannot tell whether a socket is non-blocking, so a std socket converted with
//! `From` counts as blocking until `set_nonblocking` is called on the converted one; and an
//! expired read or write timeout fails as std's does on Windows (`TimedOut`,
//! `WSAETIMEDOUT`).
//!
//! Code written against [`std::io::Read`] and [`std::io::Write`] (parsers, TLS, serialisers,
//! protocol crates) runs inside a task unchanged and becomes cooperative: every call that
//! could block (connect, accept, read, write, send, receive, peek) is an op run through
//! [`crate::io`], so it parks the task and lets the others run. Calls that never wait (bind,
//! listen, socket options, addresses, shutdown, `try_clone`) are the std calls.
//!
//! **The rule: inside a task, each call yields; outside a task, each type behaves exactly like
//! its std counterpart** (the calls *are* the std calls). A stream that was put in
//! non-blocking mode ([`TcpStream::set_nonblocking`]) never parks: its calls are the std
//! ones everywhere and fail with `WouldBlock` when they would wait.
//!
//! Timeouts ([`TcpStream::set_read_timeout`], [`set_write_timeout`](TcpStream::set_write_timeout))
//! are set on the socket, as std does, and inside a task bound each op with a
//! [`LinkTimeout`]. An expired read or write fails with the error
//! std reports for it on Unix (`WouldBlock`, `EAGAIN`), and no byte is lost: if the op
//! completed anyway its result is returned. A canceled task's call fails
//! [canceled](corio_aio::is_canceled).
//!
//! ```
//! use corio_coro::{Scheduler, net::{TcpListener, TcpStream}};
//! use std::io::{Read, Write};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let scheduler = Scheduler::new()?;
//! let server = scheduler.spawn(move || {
//!     let (mut stream, _) = listener.accept()?;
//!     let mut buf = [0u8; 5];
//!     stream.read_exact(&mut buf)?;
//!     stream.write_all(&buf)?;
//!     std::io::Result::Ok(())
//! });
//! let client = scheduler.spawn(move || {
//!     let mut stream = TcpStream::connect(addr)?;
//!     stream.write_all(b"hello")?;
//!     let mut echo = String::new();
//!     stream.read_to_string(&mut echo)?;
//!     std::io::Result::Ok(echo)
//! });
//! server.join()?;
//! assert_eq!(client.join()?, "hello");
//! # std::io::Result::Ok(())
//! ```
//!
//! # Sharing a stream between tasks
//!
//! Like the std types, these are `Send + Sync` and `&TcpStream` (`&UnixStream`) implements
//! `Read` and `Write`, so tasks (of one scheduler or of several threads) may share a stream by
//! reference or through an `Arc`, or split it with `try_clone`. Each call is one op on the
//! socket; the kernel keeps the bytes of one call together but nothing orders two concurrent
//! calls. So: **at most one task reads and at most one task writes at a time**; one reader
//! task and one writer task working concurrently is the usual and supported split. Two tasks
//! reading (or writing) concurrently interleave unpredictably, exactly as two threads would.
//! A stream must outlive the ops that use it, which the borrow checker already enforces:
//! an op borrows the stream for the whole call.
//!
//! Name resolution (`ToSocketAddrs` on a host name) is the blocking std resolver; pass
//! socket addresses inside tasks to keep the thread free.
//!
//! # Beyond std
//!
//! [`TcpStream::write_all_then_read`] (and `UnixStream`'s) is `write_all` followed by `read`
//! with one park instead of two: the whole send is linked to the receive, so a server's reply
//! and its wait for the next request reach the kernel together. It saves the task switch and
//! the scheduler work of one op per exchange (about a quarter of the runtime's user-space
//! instructions per request in `examples/http_server.rs`'s loop, measured with callgrind);
//! on a 2-core VM where loopback TCP is most of the cost it did not change the `http`
//! benchmark's requests per second measurably, so the example keeps the two std calls.

use std::io::{self, IoSlice, IoSliceMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use corio_aio::op::{IntoEntry, LinkTimeout, Op, Readv, Recv, RecvMsg, Send, SendMsg, Writev};
use corio_aio::{is_canceled, is_expired};
use socket2::{SockAddr, SockRef};

mod tcp;
mod udp;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};

/// What aio's ops take (`AsFd` on Unix, `AsSource` on Windows) and what socket2 reads the
/// socket options of (`AsFd`, `AsSocket`).
#[cfg(unix)]
use std::os::fd::{AsFd as Source, AsFd as SockSource};
#[cfg(windows)]
use {corio_aio::AsSource as Source, std::os::windows::io::AsSocket as SockSource};

/// `MSG_PEEK` of the platform's socket API.
#[cfg(unix)]
const MSG_PEEK: i32 = libc::MSG_PEEK;
#[cfg(windows)]
const MSG_PEEK: i32 = windows_sys::Win32::Networking::WinSock::MSG_PEEK;

/// The timeouts and blocking mode of one socket, shared by its `try_clone`s (as the socket
/// options they mirror are).
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Read timeout in nanoseconds; 0 is none.
    read: AtomicU64,
    /// Write timeout in nanoseconds; 0 is none.
    write: AtomicU64,
    nonblocking: AtomicBool,
}

fn to_nanos(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1))
}

fn from_nanos(n: u64) -> Option<Duration> {
    (n != 0).then(|| Duration::from_nanos(n))
}

impl State {
    /// Reads the socket's current timeouts and blocking mode.
    pub(crate) fn of(fd: &impl SockSource) -> io::Result<State> {
        let sock = SockRef::from(fd);
        // Windows cannot report the blocking mode (`FIONBIO` only sets it): taken as blocking
        // there, as the module docs say.
        #[cfg(unix)]
        let nonblocking = sock.nonblocking()?;
        #[cfg(windows)]
        let nonblocking = false;
        Ok(State {
            read: AtomicU64::new(to_nanos(sock.read_timeout()?)),
            write: AtomicU64::new(to_nanos(sock.write_timeout()?)),
            nonblocking: AtomicBool::new(nonblocking),
        })
    }
    /// A new blocking socket's state, without asking the OS.
    pub(crate) fn blocking() -> State {
        State::default()
    }
    /// Whether a call should go through [`crate::io`] (inside a task, blocking mode).
    pub(crate) fn coop(&self) -> bool {
        crate::in_task() && !self.nonblocking.load(Relaxed)
    }
    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        from_nanos(self.read.load(Relaxed))
    }
    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        from_nanos(self.write.load(Relaxed))
    }
    pub(crate) fn set_read_timeout(&self, d: Option<Duration>) {
        self.read.store(to_nanos(d), Relaxed);
    }
    pub(crate) fn set_write_timeout(&self, d: Option<Duration>) {
        self.write.store(to_nanos(d), Relaxed);
    }
    pub(crate) fn set_nonblocking(&self, yes: bool) {
        self.nonblocking.store(yes, Relaxed);
    }
}

/// What std reports for a socket timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`): `EAGAIN` on Unix,
/// `WSAETIMEDOUT` on Windows.
fn timed_out() -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(libc::EAGAIN);
    #[cfg(windows)]
    return io::Error::from_raw_os_error(windows_sys::Win32::Networking::WinSock::WSAETIMEDOUT);
}

/// Runs `op` through [`crate::io`], canceled after `limit` if it has not completed; an expiry
/// fails with `expired()`.
pub(crate) fn bounded<E: IntoEntry>(
    op: E,
    limit: Option<Duration>,
    expired: fn() -> io::Error,
) -> io::Result<<E::Op as Op>::Output> {
    let Some(limit) = limit else { return crate::io::single(op) };
    let (result, timer) = crate::io::complete((op.into_entry().soft(), LinkTimeout::new(limit)))?;
    match result {
        Err(e) if is_canceled(&e) && timer.as_ref().is_err_and(is_expired) => Err(expired()),
        other => other,
    }
}

/// Receives into `buf` (in a task); 0 for an empty buffer, as std does.
pub(crate) fn recv(fd: &impl Source, buf: &mut [u8], flags: i32, limit: Option<Duration>) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    bounded(Recv::new(fd, buf).flags(flags), limit, timed_out)
}

/// Sends `buf` (in a task).
pub(crate) fn send(fd: &impl Source, buf: &[u8], limit: Option<Duration>) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    bounded(Send::new(fd, buf), limit, timed_out)
}

/// Sends all of `data`, then receives into `buf`, parking once for both (in a task, both
/// buffers non-empty, no write timeout): a send of the whole buffer soft-linked to the
/// receive, which `limit` bounds. A send that ends short (the connection broke meanwhile)
/// cancels the receive; the rest is then sent, and received, one op at a time, so the
/// outcome is `write_all` followed by `read`. A kernel that cannot promise whole sends
/// (io_uring before 5.19: `Unsupported`, nothing sent) gets the two calls.
pub(crate) fn send_then_recv(
    fd: &impl Source,
    data: &[u8],
    buf: &mut [u8],
    limit: Option<Duration>,
) -> io::Result<usize> {
    let send = Send::new(fd, data).wait_all().into_entry().soft();
    let (sent, received, expired) = match limit {
        None => {
            let (sent, received) = crate::io::complete((send, Recv::new(fd, buf)))?;
            (sent, received, false)
        }
        Some(limit) => {
            let chain = (send, Recv::new(fd, buf).into_entry().soft(), LinkTimeout::new(limit));
            let (sent, received, timer) = crate::io::complete(chain)?;
            (sent, received, timer.as_ref().is_err_and(is_expired))
        }
    };
    let sent = match sent {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            send_all(fd, data)?;
            return recv(fd, buf, 0, limit);
        }
        Err(e) => return Err(e),
    };
    if sent < data.len() {
        send_all(fd, &data[sent..])?;
        return match received {
            Err(e) if is_canceled(&e) => recv(fd, buf, 0, limit),
            other => other,
        };
    }
    match received {
        Err(e) if is_canceled(&e) && expired => Err(timed_out()),
        other => other,
    }
}

/// Sends all of `data` (in a task, no write timeout), as `write_all` does.
fn send_all(fd: &impl Source, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match send(fd, data, None) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads into several buffers (in a task).
pub(crate) fn readv(fd: &impl Source, bufs: &mut [IoSliceMut<'_>], limit: Option<Duration>) -> io::Result<usize> {
    if bufs.iter().all(|b| b.is_empty()) {
        return Ok(0);
    }
    // The op wants the slices and the array to share one lifetime; reborrow into a local array.
    let mut local: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    bounded(Readv::new(fd, &mut local), limit, timed_out)
}

/// Writes several buffers (in a task).
pub(crate) fn writev(fd: &impl Source, bufs: &[IoSlice<'_>], limit: Option<Duration>) -> io::Result<usize> {
    if bufs.iter().all(|b| b.is_empty()) {
        return Ok(0);
    }
    bounded(Writev::new(fd, bufs), limit, timed_out)
}

/// Receives one datagram and its sender's address (in a task).
pub(crate) fn recv_from(
    fd: &impl Source,
    buf: &mut [u8],
    flags: i32,
    limit: Option<Duration>,
) -> io::Result<(usize, Option<SockAddr>)> {
    let mut bufs = [IoSliceMut::new(buf)];
    let out = bounded(RecvMsg::new(fd, &mut bufs).flags(flags), limit, timed_out)?;
    Ok((out.len, out.addr))
}

/// Sends one datagram to `to` (in a task).
pub(crate) fn send_to(fd: &impl Source, buf: &[u8], to: SockAddr, limit: Option<Duration>) -> io::Result<usize> {
    let bufs = [IoSlice::new(buf)];
    bounded(SendMsg::new(fd, &bufs).to(to), limit, timed_out)
}

/// Sends one datagram on a connected socket (in a task); empty datagrams are allowed.
pub(crate) fn send_datagram(fd: &impl Source, buf: &[u8], limit: Option<Duration>) -> io::Result<usize> {
    let bufs = [IoSlice::new(buf)];
    bounded(SendMsg::new(fd, &bufs), limit, timed_out)
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")
}

/// The descriptor traits and std conversions every type of this module has (Unix; the
/// Windows socket traits are in `windows.rs`). The type has fields `inner` (the std type) and
/// `state` (`Arc<State>`).
#[cfg(unix)]
macro_rules! socket_common {
    ($ty:ident, $std:ty) => {
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.as_raw_fd()
            }
        }
        impl std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                self.inner.into_raw_fd()
            }
        }
        impl std::os::fd::FromRawFd for $ty {
            /// # Safety
            ///
            /// As for the std type: `fd` must be an open socket of the right kind that the
            /// caller owns.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> Self {
                // SAFETY: forwarded to the caller's promise (see above).
                <$ty>::from(unsafe { <$std>::from_raw_fd(fd) })
            }
        }
        impl From<std::os::fd::OwnedFd> for $ty {
            fn from(fd: std::os::fd::OwnedFd) -> Self {
                <$ty>::from(<$std>::from(fd))
            }
        }
        impl From<$ty> for std::os::fd::OwnedFd {
            fn from(s: $ty) -> Self {
                s.inner.into()
            }
        }
        $crate::net::std_conversions!($ty, $std);
    };
}

/// `From` between a type of this module and its std type, both ways.
macro_rules! std_conversions {
    ($ty:ident, $std:ty) => {
        impl From<$std> for $ty {
            /// Wraps a std socket, keeping its timeouts and blocking mode.
            fn from(inner: $std) -> Self {
                let state = $crate::net::State::of(&inner).unwrap_or_default();
                $ty { inner, state: std::sync::Arc::new(state) }
            }
        }
        impl From<$ty> for $std {
            fn from(s: $ty) -> Self {
                s.inner
            }
        }
    };
}

macro_rules! stream_io {
    ($ty:ident) => {
        impl $ty {
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
            pub fn write_all_then_read(&self, data: &[u8], buf: &mut [u8]) -> std::io::Result<usize> {
                use std::io::{Read, Write};
                if !self.state.coop() || data.is_empty() || buf.is_empty() || self.state.write_timeout().is_some() {
                    (&*self).write_all(data)?;
                    return (&*self).read(buf);
                }
                $crate::net::send_then_recv(&self.inner, data, buf, self.state.read_timeout())
            }
        }
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.state.coop() {
                    $crate::net::recv(&self.inner, buf, 0, self.state.read_timeout())
                } else {
                    (&self.inner).read(buf)
                }
            }
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                if self.state.coop() {
                    $crate::net::readv(&self.inner, bufs, self.state.read_timeout())
                } else {
                    (&self.inner).read_vectored(bufs)
                }
            }
        }
        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.state.coop() {
                    $crate::net::send(&self.inner, buf, self.state.write_timeout())
                } else {
                    (&self.inner).write(buf)
                }
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                if self.state.coop() {
                    $crate::net::writev(&self.inner, bufs, self.state.write_timeout())
                } else {
                    (&self.inner).write_vectored(bufs)
                }
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }
        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

/// Timeout accessors (streams and datagram sockets, not listeners, as in std).
macro_rules! timeout_options {
    () => {
        /// Sets the read timeout (`None`: wait forever). Zero is rejected with `InvalidInput`,
        /// as by std. Inside a task the timeout bounds each read with a link timeout; an
        /// expired read fails with `WouldBlock` (`EAGAIN`), as std's does.
        pub fn set_read_timeout(&self, dur: Option<std::time::Duration>) -> std::io::Result<()> {
            self.inner.set_read_timeout(dur)?;
            self.state.set_read_timeout(dur);
            Ok(())
        }
        /// Sets the write timeout (`None`: wait forever); see
        /// [`set_read_timeout`](Self::set_read_timeout).
        pub fn set_write_timeout(&self, dur: Option<std::time::Duration>) -> std::io::Result<()> {
            self.inner.set_write_timeout(dur)?;
            self.state.set_write_timeout(dur);
            Ok(())
        }
        /// The read timeout.
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.state.read_timeout())
        }
        /// The write timeout.
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.state.write_timeout())
        }
    };
}

/// `send` and `recv` on a connected datagram socket (UDP and Unix datagrams alike).
macro_rules! datagram_io {
    () => {
        /// Sends one datagram to the connected peer.
        pub fn send(&self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.state.coop() {
                return self.inner.send(buf);
            }
            super::send_datagram(&self.inner, buf, self.state.write_timeout())
        }

        /// Receives one datagram from the connected peer.
        pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            if !self.state.coop() {
                return self.inner.recv(buf);
            }
            Ok(super::recv_from(&self.inner, buf, 0, self.state.read_timeout())?.0)
        }
    };
}

/// `set_nonblocking`, `take_error` and `try_clone`, shared by every type.
macro_rules! socket_options {
    () => {
        /// Moves the socket into or out of non-blocking mode. A non-blocking socket never
        /// parks a task: its calls fail with `WouldBlock` instead of waiting.
        pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
            self.inner.set_nonblocking(nonblocking)?;
            self.state.set_nonblocking(nonblocking);
            Ok(())
        }
        /// Takes the pending socket error (`SO_ERROR`).
        pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
            self.inner.take_error()
        }
        /// A new handle to the same socket (a duplicated descriptor). The clones share the
        /// timeouts and blocking mode, as they share the socket.
        pub fn try_clone(&self) -> std::io::Result<Self> {
            Ok(Self { inner: self.inner.try_clone()?, state: self.state.clone() })
        }
    };
}

#[cfg(unix)]
pub(crate) use socket_common;
#[cfg(windows)]
pub(crate) use windows::socket_common;
pub(crate) use {datagram_io, socket_options, std_conversions, stream_io, timeout_options};
