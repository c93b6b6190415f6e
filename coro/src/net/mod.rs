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
//! [`LinkTimeout`](corio_aio::op::LinkTimeout). An expired read or write fails with the error
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
//! [`TcpListener::incoming`] (and `UnixListener`'s) runs on one multishot accept: the kernel
//! accepts connections while the task is busy, and one wake-up takes all of them.
//! [`TcpStream::buffered_reader`] (and `UnixStream`'s) is a [`RecvStream`]: a `BufRead` whose
//! buffers the kernel fills (a multishot receive into the scheduler's provided buffers, no op
//! per read, no copy).
//! [`TcpStream::write_behind`] (and `UnixStream`'s) is a [`WriteBehind`]: a `Write` whose
//! writes copy the bytes, queue the send and return without parking; a failed send is reported
//! by the next write or flush, and a flush waits for every queued send. Measured in
//! `examples/http_server.rs` under callgrind, it saves instructions on the posix backend (a
//! reply that fits the socket buffer is sent at once) but not on io_uring, where the
//! bookkeeping of a queued send costs more than the park it saves; the example uses it on posix.
//!
//! [`TcpStream::write_all_then_read`] (and `UnixStream`'s) is `write_all` followed by `read`
//! with one park instead of two: the whole send is linked to the receive, so a server's reply
//! and its wait for the next request reach the kernel together. It saves the task switch and
//! the scheduler work of one op per exchange (about a quarter of the runtime's user-space
//! instructions per request in `examples/http_server.rs`'s loop, measured with callgrind);
//! on a 2-core VM where loopback TCP is most of the cost it did not change the `http`
//! benchmark's requests per second measurably, so the example keeps the two std calls.

use std::io;

mod buffered;
mod incoming;
mod socket;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;
mod write_behind;

pub use buffered::RecvStream;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
pub use write_behind::WriteBehind;

/// What std's `connect` and `send_to` report when an address resolves to nothing.
fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")
}
