//! A minimal HTTP/1.1 keep-alive server on coro::net, shared by `examples/http_server.rs` and
//! the tests (`tests/http_server.rs` includes this file): request parsing and routing are
//! pure functions, so a property test can feed them anything.
//!
//! Rules: `GET`/`HEAD` only; `/` answers a fixed body; `/static/<path>` a file under the
//! configured root (no `..`, `.` or empty segments, no NUL, no symbolic link followed below
//! the root: see [`open_beneath`]); a malformed request gets 400 (a Content-Length that is
//! not 1*DIGIT, or repeated with different values, included; identical repeats are
//! accepted), any Transfer-Encoding 501, a head larger than `max_head` 431, a declared body
//! larger than `max_body` 413 (and the connection is closed after each of them). Timeouts, so that no client holds a connection for long without making progress:
//! a request (head and declared body) that does not arrive whole within `request_timeout` of
//! its first byte gets 408 and the connection is closed (read timeouts set to what is left of
//! it); answers not sent within `write_timeout` (a client that does not read them) close the
//! connection; so does `idle_timeout` between requests. The last two are socket timeouts for
//! [`serve_connection`], and deadlines a [`Reaper`] enforces for [`Reaper::serve`].

// Each includer uses a different subset.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use corio::coro::net::{TcpStream, WriteBehind};

/// The body served at `/`.
pub const ROOT_BODY: &[u8] = b"Hello, World!";

/// Answers are sent once they hold this many bytes, before the next request is answered.
const SEND_AT: usize = 64 * 1024;

/// Server settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory served under `/static/`; `None` serves no files.
    pub root: Option<PathBuf>,
    /// Largest request head (request line and headers), in bytes.
    pub max_head: usize,
    /// Largest request body accepted (it is read and discarded).
    pub max_body: u64,
    /// Time allowed between a request's first byte and its last: its head and its declared
    /// body (a total deadline, not a timeout per read: a request trickling in is cut off too).
    pub request_timeout: Duration,
    /// Time a keep-alive connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// Time allowed to send the answers to the requests received together (a total
    /// deadline): a client that does not read them is cut off.
    pub write_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            root: None,
            max_head: 8 * 1024,
            max_body: 1 << 20,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// The fixed body.
    Root,
    /// A file, relative to the root.
    File(PathBuf),
    /// Nothing here.
    NotFound,
}

/// One parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// Bytes of the head.
    pub head_len: usize,
    /// `HEAD` (no body in the answer).
    pub head_only: bool,
    /// What is asked for.
    pub target: Target,
    /// Whether the connection stays open afterwards.
    pub keep_alive: bool,
    /// Declared body length (to skip).
    pub body_len: u64,
}

/// The outcome of parsing the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The head is not complete yet.
    Partial,
    /// A complete head.
    Request(Request),
    /// A bad request: answer with this status and close.
    Reject(u16),
}

/// Parses the start of `buf` (never panics, whatever `buf` holds).
pub fn parse(buf: &[u8], config: &Config) -> Step {
    // Uninitialised: the array is not written before the parse (1 KiB of the task's stack
    // that is cold when many connections take turns), only the headers the request has.
    let mut headers = [MaybeUninit::<httparse::Header>::uninit(); 32];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= config.max_head => return Step::Reject(431),
        Ok(httparse::Status::Partial) => return Step::Partial,
        Err(httparse::Error::TooManyHeaders) => return Step::Reject(431),
        Err(_) => return Step::Reject(400),
    };
    if head_len > config.max_head {
        return Step::Reject(431);
    }
    let head_only = match req.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Step::Reject(405),
    };
    let http10 = req.version == Some(0);
    let mut keep_alive = !http10;
    let mut body_len: Option<u64> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // Request smuggling: a length another hop could read differently (a sign, a list,
            // hex) or two lengths that differ (one hop takes the first, another the last)
            // would let a body be read as a request. RFC 9112 §6.3: 400. Identical repeated
            // lengths are one length (the RFC allows accepting or refusing them).
            match content_length(h.value) {
                Some(n) if body_len.is_none_or(|b| b == n) => body_len = Some(n),
                _ => return Step::Reject(400),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // No transfer coding is implemented (not even chunked): RFC 9112 §6.1 asks for
            // 501, and the connection is closed, so a body is never guessed at.
            return Step::Reject(501);
        }
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > config.max_body {
        return Step::Reject(413);
    }
    let target = route(req.path.unwrap_or(""));
    Step::Request(Request { head_len, head_only, target, keep_alive, body_len })
}

/// A Content-Length value: 1*DIGIT (RFC 9112 §6.3) around optional whitespace, else `None`. A
/// number too large for `u64` saturates (it is refused as too large, 413, not as malformed).
fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// Maps a request path to a [`Target`] (never panics; never escapes the root).
pub fn route(path: &str) -> Target {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path == "/" {
        return Target::Root;
    }
    let Some(rest) = path.strip_prefix("/static/") else { return Target::NotFound };
    let mut file = PathBuf::new();
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains(['\0', '\\']) {
            return Target::NotFound;
        }
        file.push(segment);
    }
    if file.as_os_str().is_empty() { Target::NotFound } else { Target::File(file) }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        _ => "Error",
    }
}

/// Appends a response to `out`.
pub fn respond(out: &mut Vec<u8>, status: u16, body: &[u8], head_only: bool, keep_alive: bool) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nServer: corio\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        reason(status),
        body.len()
    );
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Answers one request into `out` (reads a file with coro::fs inside a task).
fn answer(req: &Request, config: &Config, out: &mut Vec<u8>) {
    match &req.target {
        Target::Root => respond(out, 200, ROOT_BODY, req.head_only, req.keep_alive),
        Target::File(rel) => match config.root.as_deref().map(|root| read_file(root, rel)) {
            Some(Ok(bytes)) => respond(out, 200, &bytes, req.head_only, req.keep_alive),
            _ => respond(out, 404, b"not found", req.head_only, req.keep_alive),
        },
        Target::NotFound => respond(out, 404, b"not found", req.head_only, req.keep_alive),
    }
}

/// Reads the regular file `rel` (a path of normal components, see [`route`]) under `root`.
fn read_file(root: &Path, rel: &Path) -> io::Result<Vec<u8>> {
    let mut file = open_beneath(root, rel)?;
    if !file.metadata()?.is_file() {
        return Err(ErrorKind::NotFound.into());
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens `rel` under `root` without following a symbolic link below the root, so a link in
/// the served tree cannot lead out of it (`root` itself is the operator's choice, opened as
/// given). One component at a time, each opened relative to the directory opened before it
/// with `O_NOFOLLOW` (a link fails with `ELOOP` or `ENOTDIR`): there is no window between a
/// check and the open for someone to swap a directory for a link, as there would be with
/// "canonicalise, check the prefix, open". `openat2(RESOLVE_BENEATH)` would also allow the
/// links that stay inside, with one call, but it is Linux 5.6+ only. The rule is thus simple:
/// no links below the root at all. The last component is opened `O_NONBLOCK`, so a FIFO
/// does not block the open (it is then refused as not a regular file).
#[cfg(unix)]
fn open_beneath(root: &Path, rel: &Path) -> io::Result<corio::coro::fs::File> {
    use corio::aio::op;
    use corio::coro::io::single;
    let mut dir = single(op::OpenAt::new(root).directory())?;
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        let std::path::Component::Normal(name) = component else { return Err(ErrorKind::NotFound.into()) };
        let open = op::OpenAt::new(name).dir(&dir);
        dir = if components.peek().is_some() {
            single(open.directory().custom_flags(libc::O_NOFOLLOW))?
        } else {
            single(open.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK))?
        };
    }
    Ok(corio::coro::fs::File::from(dir))
}

/// Elsewhere (Windows), the same rule checked component by component before opening: links
/// there take privileges to create, and this check leaves a window between it and the open.
#[cfg(not(unix))]
fn open_beneath(root: &Path, rel: &Path) -> io::Result<corio::coro::fs::File> {
    let mut path = root.to_path_buf();
    for component in rel.components() {
        path.push(component);
        if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            return Err(ErrorKind::NotFound.into());
        }
    }
    corio::coro::fs::File::open(path)
}

/// Serves one connection until the client closes it, a request is rejected, or a timeout
/// expires; the idle timeout between requests is a read timeout, the write timeout a socket
/// write timeout. Errors end the connection; nothing the client sends can panic this.
pub fn serve_connection(stream: TcpStream, config: &Config) -> io::Result<()> {
    serve(&stream, config, None)
}

/// A connection registered with a [`Reaper`], which closes it once idle too long, or once an
/// answer has taken too long to send.
#[derive(Debug)]
pub struct Conn {
    /// The connection.
    pub stream: TcpStream,
    /// The reaper's sweep at which it shuts the connection down; `u64::MAX`: never (while a
    /// request is being received: its reads have timeouts of their own).
    deadline: Cell<u64>,
}

/// Bounds the idle time and the write time of the connections of one scheduler: a task that
/// wakes every `tick` and shuts down the connections past their deadline (the pending read or
/// write then fails, and the connection's task ends). It spares every idle read and every
/// write a link timeout (a timer armed and disarmed per op); reads of a request that has
/// started arriving are still bounded by a read timeout (what is left of the request timeout).
#[derive(Debug)]
pub struct Reaper {
    /// Sweeps so far.
    epoch: Cell<u64>,
    /// Time between sweeps: a quarter of the shorter of the idle and write timeouts, at most a
    /// second, so a deadline is late by a quarter of its timeout at most.
    tick: Duration,
    /// Sweeps a connection may stay idle between requests.
    idle_ticks: u64,
    /// Sweeps a connection may take to send its answers.
    write_ticks: u64,
    conns: RefCell<Vec<Weak<Conn>>>,
}

impl Reaper {
    /// A reaper for `config`'s idle and write timeouts; run it with [`Reaper::run`].
    pub fn new(config: &Config) -> Reaper {
        let tick = (config.idle_timeout.min(config.write_timeout) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        // A deadline is armed partway between two sweeps: one sweep more gives the whole time.
        let ticks = |t: Duration| u64::try_from(t.as_nanos().div_ceil(tick.as_nanos())).unwrap_or(u64::MAX / 2) + 1;
        Reaper {
            epoch: Cell::new(0),
            tick,
            idle_ticks: ticks(config.idle_timeout),
            write_ticks: ticks(config.write_timeout),
            conns: RefCell::default(),
        }
    }

    /// Registers `stream`; serve it with [`Reaper::serve`].
    pub fn register(&self, stream: TcpStream) -> Rc<Conn> {
        let conn = Rc::new(Conn { stream, deadline: Cell::new(u64::MAX) });
        self.conns.borrow_mut().push(Rc::downgrade(&conn));
        conn
    }

    /// Serves a registered connection.
    pub fn serve(&self, conn: &Conn, config: &Config) -> io::Result<()> {
        serve(&conn.stream, config, Some(Watch { deadline: &conn.deadline, reaper: self }))
    }

    /// Runs forever (inside a task): every tick, shuts down the connections past their
    /// deadline.
    pub fn run(&self) -> io::Result<()> {
        loop {
            corio::coro::io::single(corio::aio::op::Timeout::new(self.tick))?;
            let epoch = self.epoch.get() + 1;
            self.epoch.set(epoch);
            self.conns.borrow_mut().retain(|weak| {
                let Some(conn) = weak.upgrade() else { return false };
                if conn.deadline.get() <= epoch {
                    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                }
                true
            });
        }
    }
}

/// A served connection's deadline with its reaper.
#[derive(Clone, Copy)]
struct Watch<'a> {
    deadline: &'a Cell<u64>,
    reaper: &'a Reaper,
}

impl Watch<'_> {
    /// Has the reaper shut the connection down after `ticks` more sweeps.
    fn arm(self, ticks: u64) {
        self.deadline.set(self.reaper.epoch.get().saturating_add(ticks));
    }

    fn disarm(self) {
        self.deadline.set(u64::MAX);
    }
}

fn serve(stream: &TcpStream, config: &Config, reaper: Option<Watch>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let idle_timeout = if reaper.is_some() { None } else { Some(config.idle_timeout) };
    let mut current_timeout = idle_timeout;
    stream.set_read_timeout(current_timeout)?;
    if reaper.is_none() {
        stream.set_write_timeout(Some(config.write_timeout))?;
    }
    // Requests arrive in buffers the kernel filled (a multishot receive: no op per read); the
    // reader falls back to plain reads while a read timeout is set (a request half in).
    // Requests are parsed where they arrived, in the reader's buffer, without a copy; only a
    // request that a buffer ends in the middle of is copied, into `held`, together with the
    // buffers that follow until it is complete (the reader's buffer goes back to the kernel).
    let mut reader = stream.buffered_reader();
    // Answers queued, not waited for (a reaper bounds them), where it pays under callgrind: on
    // posix (a reply is sent at once, no op, no second park: 13 % to 18 % fewer instructions a
    // request), not on io_uring (a queued send's bookkeeping costs 12 % to 13 % more).
    let behind = reaper.is_some() && corio::aio::default_backend() == corio::aio::BackendKind::Posix;
    let mut writer = behind.then(|| stream.write_behind());
    let mut held: Vec<u8> = Vec::new();
    let mut out = Vec::with_capacity(4096);
    // The request being received: when its first byte came (its head and its body must be in
    // within the request timeout of it), and once its head is parsed, the request and how
    // much of its body is still to come (read and discarded).
    let mut started: Option<Instant> = None;
    let mut request = Pending::default();
    loop {
        // Answer the complete requests received (pipelining), then send them together.
        let done = if held.is_empty() {
            let input = reader.buffer();
            let done = answer_requests(input, &mut request, config, &mut out);
            if done.partial {
                held.extend_from_slice(&input[done.used..]);
                reader.consume(input.len());
            } else {
                reader.consume(done.used);
            }
            done
        } else {
            let done = answer_requests(&held, &mut request, config, &mut out);
            held.drain(..done.used);
            done
        };
        if done.answered {
            started = None;
        }
        if !out.is_empty() {
            send(stream, writer.as_mut(), &out, config, reaper)?;
            out.clear();
        }
        if done.close {
            // The queued answers go out before the shutdown.
            let _ = sent(writer.as_mut(), reaper);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            return Ok(());
        }
        if done.more {
            continue;
        }
        // Bound the wait: idle between requests, or what is left of the request timeout
        // (while a head or a body is incomplete: a body that never comes, or trickles in,
        // must not hold the connection longer than a head could).
        let busy = request.head.is_some() || !held.is_empty();
        let wanted = if busy {
            let t = *started.get_or_insert_with(Instant::now);
            match config.request_timeout.checked_sub(t.elapsed()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return timeout_close(stream, writer.as_mut(), config, reaper),
            }
        } else {
            idle_timeout
        };
        if current_timeout != wanted {
            stream.set_read_timeout(wanted)?;
            current_timeout = wanted;
        }
        if let (false, Some(watch)) = (busy, reaper) {
            watch.arm(watch.reaper.idle_ticks);
        }
        let read = reader.fill_buf().map(<[u8]>::len);
        if let Some(watch) = reaper {
            watch.disarm();
        }
        match read {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock && busy => {
                return timeout_close(stream, writer.as_mut(), config, reaper);
            }
            Err(e) => return Err(e),
        }
        if !held.is_empty() {
            // The rest of the request begun in an earlier buffer.
            let chunk = reader.buffer();
            held.extend_from_slice(chunk);
            let n = chunk.len();
            reader.consume(n);
        }
    }
}

/// A request whose head is parsed and whose body is still arriving (read and discarded).
#[derive(Default)]
struct Pending {
    head: Option<Request>,
    body_left: u64,
}

/// What [`answer_requests`] did with its input.
#[derive(Default)]
struct Answered {
    /// Bytes of the input it is done with (requests answered, body bytes skipped).
    used: usize,
    /// At least one request was answered.
    answered: bool,
    /// The rest of the input is the start of a request (or nothing).
    partial: bool,
    /// The connection is to be closed once `out` is sent.
    close: bool,
    /// `out` is to be sent before the rest of the input is answered.
    more: bool,
}

/// Answers the complete requests at the start of `input` into `out`, skipping their bodies,
/// and stops at an incomplete one, a bad one, one that closes the connection, or once `out`
/// holds [`SEND_AT`] bytes.
fn answer_requests(input: &[u8], request: &mut Pending, config: &Config, out: &mut Vec<u8>) -> Answered {
    let mut done = Answered::default();
    loop {
        if let Some(req) = request.head.take() {
            let take = (input.len() - done.used).min(usize::try_from(request.body_left).unwrap_or(usize::MAX));
            done.used += take;
            request.body_left -= take as u64;
            if request.body_left > 0 {
                // The answers so far go out while the rest of the body is awaited.
                request.head = Some(req);
                return done;
            }
            answer(&req, config, out);
            done.answered = true;
            if !req.keep_alive {
                done.close = true;
                return done;
            }
            if out.len() >= SEND_AT {
                // The rest after these are sent: the answers to 4 KiB of pipelined
                // requests for a large file must not all be held at once.
                done.more = true;
                return done;
            }
        }
        match parse(&input[done.used..], config) {
            Step::Partial => {
                done.partial = true;
                return done;
            }
            Step::Reject(status) => {
                respond(out, status, reason(status).as_bytes(), false, false);
                done.close = true;
                return done;
            }
            Step::Request(req) => {
                done.used += req.head_len;
                request.body_left = req.body_len;
                request.head = Some(req);
            }
        }
    }
}

fn timeout_close(
    stream: &TcpStream,
    mut writer: Option<&mut WriteBehind>,
    config: &Config,
    reaper: Option<Watch>,
) -> io::Result<()> {
    let mut out = Vec::new();
    respond(&mut out, 408, b"request timeout", false, false);
    let _ = send(stream, writer.as_deref_mut(), &out, config, reaper).and_then(|()| sent(writer, reaper));
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// Sends `out` whole within the write timeout, else fails (and the connection is dropped): a
/// client that sends requests and never reads the answers must not hold its connection, its
/// task and its buffers forever.
/// With a `writer`, `out` is queued (its error comes from the next write or [`sent`]): the
/// reaper bounds the wait for the send before it; its next deadline fails a send in flight.
fn send(
    stream: &TcpStream,
    writer: Option<&mut WriteBehind>,
    out: &[u8],
    config: &Config,
    reaper: Option<Watch>,
) -> io::Result<()> {
    if let Some(watch) = reaper {
        // The reaper bounds the write (shutting the socket down fails the send).
        watch.arm(watch.reaper.write_ticks);
        let sent = match writer {
            Some(writer) => writer.write_all(out),
            None => (&*stream).write_all(out),
        };
        watch.disarm();
        return sent;
    }
    // Each write is bounded by the socket's write timeout, and their sum by the same: a
    // client reading a little before each timeout expires must not stretch it.
    let start = Instant::now();
    let mut rest = out;
    while !rest.is_empty() {
        match (&*stream).write(rest) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if !rest.is_empty() && start.elapsed() >= config.write_timeout {
            return Err(ErrorKind::TimedOut.into());
        }
    }
    Ok(())
}

/// Waits (within the write deadline) until the answers [`send`] queued are sent.
fn sent(writer: Option<&mut WriteBehind>, reaper: Option<Watch>) -> io::Result<()> {
    let (Some(writer), Some(watch)) = (writer, reaper) else { return Ok(()) };
    watch.arm(watch.reaper.write_ticks);
    let flushed = writer.flush();
    watch.disarm();
    flushed
}
