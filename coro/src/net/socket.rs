//! [`Socket`]: what every type of this module is made of, a std socket and its [`State`], with
//! the logic the types share (the cooperative calls, timeouts, blocking mode, cloning). The
//! types' own methods and std trait impls delegate here in one line each, so the logic is
//! written once and every impl can still be found by searching for it in the type's file.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[cfg(windows)]
use corio_aio::op::Writev;
use corio_aio::op::{IntoEntry, LinkTimeout, Op, Readv, Recv, RecvMsg, Send, SendMsg};
use corio_aio::{is_canceled, is_expired};
use socket2::{SockAddr, SockRef};

#[cfg(windows)]
pub(super) use corio_aio::AsSource as Source;
/// What aio's ops take (`AsFd` on Unix, `AsSource` on Windows) and what socket2 reads the
/// socket options of (`AsFd`, `AsSocket`).
#[cfg(unix)]
pub(super) use std::os::fd::AsFd as Source;
#[cfg(unix)]
use std::os::fd::AsFd as SockSource;
#[cfg(windows)]
use std::os::windows::io::AsSocket as SockSource;

/// `MSG_PEEK` of the platform's socket API.
#[cfg(unix)]
pub(super) const MSG_PEEK: i32 = libc::MSG_PEEK;
#[cfg(windows)]
pub(super) const MSG_PEEK: i32 = windows_sys::Win32::Networking::WinSock::MSG_PEEK;

/// The timeouts and blocking mode of one socket, shared by its `try_clone`s (as the socket
/// options they mirror are).
#[derive(Debug, Default)]
struct State {
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
    fn of(fd: &impl SockSource) -> io::Result<State> {
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
    fn blocking() -> State {
        State::default()
    }
    /// Whether a call should go through [`crate::io`] (inside a task, blocking mode).
    fn coop(&self) -> bool {
        crate::in_task() && !self.nonblocking.load(Relaxed)
    }
    fn read_timeout(&self) -> Option<Duration> {
        from_nanos(self.read.load(Relaxed))
    }
    fn write_timeout(&self) -> Option<Duration> {
        from_nanos(self.write.load(Relaxed))
    }
    fn set_read_timeout(&self, d: Option<Duration>) {
        self.read.store(to_nanos(d), Relaxed);
    }
    fn set_write_timeout(&self, d: Option<Duration>) {
        self.write.store(to_nanos(d), Relaxed);
    }
    fn set_nonblocking(&self, yes: bool) {
        self.nonblocking.store(yes, Relaxed);
    }
}

/// A std call that sets a socket option: std's inherent `set_*` methods, which no trait
/// offers, passed in by the types (not a hot path, so a plain `fn` is enough).
type Setter<S, T> = fn(&S, T) -> io::Result<()>;

/// A std socket `S` and its [`State`]. The option setters take the std call that applies the
/// option and record only what it accepted, so std stays the judge of valid values.
#[derive(Debug)]
pub(crate) struct Socket<S> {
    std: S,
    state: Arc<State>,
}

impl<S> Socket<S> {
    /// A socket just created blocking (bound, accepted or connected by us): no need to ask
    /// the OS for its state.
    pub(crate) fn new(std: S) -> Socket<S> {
        Socket { std, state: Arc::new(State::blocking()) }
    }

    /// The std socket, for the calls that never wait.
    pub(crate) fn as_std(&self) -> &S {
        &self.std
    }

    /// The std socket, for the conversions out.
    pub(crate) fn into_std(self) -> S {
        self.std
    }

    /// Whether a call should go through [`crate::io`] (inside a task, blocking mode).
    pub(crate) fn coop(&self) -> bool {
        self.state.coop()
    }

    /// `set_nonblocking` with std's `set`, recorded if the OS took it.
    pub(crate) fn set_nonblocking(&self, yes: bool, set: Setter<S, bool>) -> io::Result<()> {
        set(&self.std, yes).map(|()| self.state.set_nonblocking(yes))
    }

    /// A new handle with std's `clone` (a duplicated descriptor), sharing the state as the
    /// clones share the socket.
    pub(crate) fn try_clone(&self, clone: impl FnOnce(&S) -> io::Result<S>) -> io::Result<Socket<S>> {
        Ok(Socket { std: clone(&self.std)?, state: self.state.clone() })
    }

    /// `set_read_timeout` with std's `set` (which rejects zero), recorded for the ops if the
    /// OS took it.
    pub(crate) fn set_read_timeout(&self, dur: Option<Duration>, set: Setter<S, Option<Duration>>) -> io::Result<()> {
        set(&self.std, dur).map(|()| self.state.set_read_timeout(dur))
    }

    /// `set_write_timeout` with std's `set`, recorded for the ops if the OS took it.
    pub(crate) fn set_write_timeout(&self, dur: Option<Duration>, set: Setter<S, Option<Duration>>) -> io::Result<()> {
        set(&self.std, dur).map(|()| self.state.set_write_timeout(dur))
    }

    /// The recorded read timeout (what the OS has, without a system call).
    pub(crate) fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.state.read_timeout())
    }

    /// The recorded write timeout.
    pub(crate) fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.state.write_timeout())
    }
}

impl<S: SockSource> Socket<S> {
    /// Wraps a std socket made elsewhere, keeping its timeouts and blocking mode (blocking and
    /// no timeouts if the OS cannot tell).
    pub(crate) fn from_std(std: S) -> Socket<S> {
        let state = State::of(&std).unwrap_or_default();
        Socket { std, state: Arc::new(state) }
    }
}

impl<S: Source> Socket<S> {
    /// Receives into `buf` with `flags` (e.g. [`MSG_PEEK`]), bounded by the read timeout
    /// (in a task).
    pub(crate) fn recv(&self, buf: &mut [u8], flags: i32) -> io::Result<usize> {
        recv(&self.std, buf, flags, self.state.read_timeout())
    }

    /// Receives one datagram and its sender's address (in a task).
    pub(crate) fn recv_from(&self, buf: &mut [u8], flags: i32) -> io::Result<(usize, Option<SockAddr>)> {
        let mut bufs = [IoSliceMut::new(buf)];
        let out = bounded(RecvMsg::new(&self.std, &mut bufs).flags(flags), self.state.read_timeout(), timed_out)?;
        Ok((out.len, out.addr))
    }

    /// Sends one datagram to `to` (in a task).
    pub(crate) fn send_to(&self, buf: &[u8], to: SockAddr) -> io::Result<usize> {
        let bufs = [IoSlice::new(buf)];
        bounded(SendMsg::new(&self.std, &bufs).to(to), self.state.write_timeout(), timed_out)
    }

    /// `send` on a connected datagram socket: std's `send` outside a task, else one op (an
    /// empty datagram is allowed, so no shortcut for an empty `buf`).
    pub(crate) fn send_datagram(
        &self,
        buf: &[u8],
        send: impl FnOnce(&S, &[u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if !self.coop() {
            return send(&self.std, buf);
        }
        let bufs = [IoSlice::new(buf)];
        bounded(SendMsg::new(&self.std, &bufs), self.state.write_timeout(), timed_out)
    }

    /// `recv` on a connected datagram socket: std's `recv` outside a task, else one op.
    pub(crate) fn recv_datagram(
        &self,
        buf: &mut [u8],
        recv: impl FnOnce(&S, &mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if !self.coop() {
            return recv(&self.std, buf);
        }
        Ok(self.recv_from(buf, 0)?.0)
    }
}

/// The stream calls: std's (through `&S`) outside a task or when non-blocking, else ops.
impl<S: Source> Socket<S>
where
    for<'a> &'a S: Read + Write,
{
    /// `write_all(data)` then `read(buf)`, parking once for both where it can; the public
    /// `write_all_then_read`s document it.
    pub(crate) fn write_all_then_read(&self, data: &[u8], buf: &mut [u8]) -> io::Result<usize> {
        let state = &self.state;
        // Under a `timeout`, one call at a time: `io::single` bounds each by the deadline.
        if !state.coop()
            || data.is_empty()
            || buf.is_empty()
            || state.write_timeout().is_some()
            || crate::time::deadline().is_some()
        {
            let mut this = self;
            this.write_all(data)?;
            return this.read(buf);
        }
        send_then_recv(&self.std, data, buf, state.read_timeout())
    }
}

impl<S: Source> Read for &Socket<S>
where
    for<'a> &'a S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.state.coop() { recv(&self.std, buf, 0, self.state.read_timeout()) } else { (&self.std).read(buf) }
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        if self.state.coop() {
            readv(&self.std, bufs, self.state.read_timeout())
        } else {
            (&self.std).read_vectored(bufs)
        }
    }
}

impl<S: Source> Write for &Socket<S>
where
    for<'a> &'a S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.state.coop() { send(&self.std, buf, self.state.write_timeout()) } else { (&self.std).write(buf) }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.state.coop() {
            writev(&self.std, bufs, self.state.write_timeout())
        } else {
            (&self.std).write_vectored(bufs)
        }
    }
    /// Nothing is buffered: every write is a send.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
pub(super) fn bounded<E: IntoEntry>(
    op: E,
    limit: Option<Duration>,
    expired: fn() -> io::Error,
) -> io::Result<<E::Op as Op>::Output> {
    let Some(limit) = limit else { return crate::io::single(op) };
    // A `timeout`'s deadline that comes first bounds the op instead (`io::single` applies it).
    if crate::time::deadline().is_some_and(|d| d.saturating_duration_since(std::time::Instant::now()) <= limit) {
        return crate::io::single(op);
    }
    let (result, timer) = crate::io::complete((op.into_entry().soft(), LinkTimeout::new(limit)))?;
    match result {
        Err(e) if is_canceled(&e) && timer.as_ref().is_err_and(is_expired) => Err(expired()),
        other => other,
    }
}

/// Receives into `buf` (in a task); 0 for an empty buffer, as std does.
fn recv(fd: &impl Source, buf: &mut [u8], flags: i32, limit: Option<Duration>) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    bounded(Recv::new(fd, buf).flags(flags), limit, timed_out)
}

/// Sends `buf` (in a task).
fn send(fd: &impl Source, buf: &[u8], limit: Option<Duration>) -> io::Result<usize> {
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
fn send_then_recv(fd: &impl Source, data: &[u8], buf: &mut [u8], limit: Option<Duration>) -> io::Result<usize> {
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
fn readv(fd: &impl Source, bufs: &mut [IoSliceMut<'_>], limit: Option<Duration>) -> io::Result<usize> {
    if bufs.iter().all(|b| b.is_empty()) {
        return Ok(0);
    }
    // The op wants the slices and the array to share one lifetime; reborrow into a local array.
    let mut local: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    bounded(Readv::new(fd, &mut local), limit, timed_out)
}

/// Writes several buffers (in a task).
fn writev(fd: &impl Source, bufs: &[IoSlice<'_>], limit: Option<Duration>) -> io::Result<usize> {
    if bufs.iter().all(|b| b.is_empty()) {
        return Ok(0);
    }
    // On Unix a `sendmsg`, whose `MSG_NOSIGNAL` makes a closed peer fail the write with
    // `EPIPE` instead of raising `SIGPIPE` (a `writev` op raises it), as `send` does.
    #[cfg(unix)]
    return bounded(SendMsg::new(fd, bufs), limit, timed_out);
    #[cfg(windows)]
    bounded(Writev::new(fd, bufs), limit, timed_out)
}
