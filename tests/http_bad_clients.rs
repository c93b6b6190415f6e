//! Bad clients against the example HTTP server, started as the example starts it
//! (`examples/support/server.rs`, with short timeouts): each case checks the server's exact
//! answer, or that it closed the connection, and then that a well-behaved client is still
//! served. Timeouts here are generous multiples of the server's (the suite also runs on a slow
//! shared machine and under qemu); nothing asserts speed.

// Unix only: the server's listeners use SO_REUSEPORT, and the cases use symlinks, resource
// limits and /proc. (CI's Windows run lists its test files; this one is not among them.)
#![cfg(unix)]

#[path = "../examples/support/client.rs"]
mod client;
// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;
#[path = "../examples/support/http.rs"]
mod http;
#[path = "../examples/support/server.rs"]
mod server;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::TempDir;

/// How long a client waits for an answer: many times the server's timeouts below.
const PATIENCE: Duration = Duration::from_secs(10);

/// A running server (its scheduler thread lives until the test process ends) and its root.
struct Server {
    /// First: shut down before the directory it serves is removed.
    _runtime: corio::coro::runtime::Runtime,
    addr: SocketAddr,
    root: TempDir,
}

/// Starts a server on one scheduler with short timeouts, serving a temp dir holding
/// `hello.txt`.
fn server(name: &str) -> Server {
    let root = TempDir::new(name);
    root.file("hello.txt", b"file contents\n");
    let config = http::Config {
        root: Some(root.path().to_path_buf()),
        request_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_millis(500),
        ..http::Config::default()
    };
    let (runtime, addr) = server::start("127.0.0.1:0".parse().unwrap(), 1, config).expect("start the server");
    Server { addr, root, _runtime: runtime }
}

impl Server {
    /// Sends `request` on a new connection; what came back before the server closed it.
    fn ask(&self, request: &[u8]) -> String {
        client::exchange(self.addr, request, PATIENCE).expect("exchange")
    }

    /// A well-behaved client is answered.
    fn assert_serves(&self) {
        let r = self.ask(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("Hello, World!"), "{r:?}");
    }

    /// `GET path` answers the file holding `contents`.
    fn assert_file(&self, path: &str, contents: &str) {
        let r = self.ask(format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes());
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with(contents), "{path}: {r:?}");
    }

    /// `GET path` answers 404, with nothing from outside the root (`/etc/passwd`, the tests'
    /// secrets).
    fn assert_not_found(&self, path: &str) {
        let r = self.ask(format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes());
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{path}: {r:?}");
        assert!(!r.contains("secret") && !r.contains("root:"), "{path}: {r:?}");
    }

    /// `request` sent a byte every 100 ms is cut off with a 408 before it is all sent.
    fn assert_trickle_cut_off(&self, request: &[u8]) {
        let (sent, answer) = client::trickle(self.addr, request, Duration::from_millis(100)).unwrap();
        assert!(sent < request.len(), "the whole request was accepted");
        assert_answer_then_close(&answer, "408 Request Timeout");
    }

    /// A connection with a read timeout of [`PATIENCE`].
    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s
    }
}

/// The status line of an answer, and that the server closed the connection after it.
fn assert_answer_then_close(answer: &str, status: &str) {
    assert!(answer.starts_with(&format!("HTTP/1.1 {status}\r\n")), "wanted {status}: {answer:?}");
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer:?}");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "one answer, then closed: {answer:?}");
}

#[test]
fn slowloris_headers_get_408() {
    let server = server("slowloris");
    // The whole head would take about 6 s.
    server.assert_trickle_cut_off(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: trickling-in-a-byte-at-a-time\r\n\r\n");
    server.assert_serves();
}

/// Garbage, oversize heads, oversize or unsupported bodies: each answered with its status,
/// then the connection closed.
#[test]
fn bad_requests_are_refused_and_closed() {
    let server = server("refused");
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(16 * 1024));
    let many: String = (0..40).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    let cases: [(&[u8], &str); 7] = [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost x\x01\r\n\r\n", "400 Bad Request"),
        (big.as_bytes(), "431 Request Header Fields Too Large"),
        (many.as_bytes(), "431 Request Header Fields Too Large"),
        (b"GET / HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n", "413 Content Too Large"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "501 Not Implemented"),
        (b"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello", "501 Not Implemented"),
    ];
    for (request, status) in cases {
        assert_answer_then_close(&server.ask(request), status);
    }
    server.assert_serves();
}

/// The answers on a connection that the server closed after them, in order: `(status line,
/// body)` of each.
fn answers(mut s: TcpStream) -> Vec<(String, String)> {
    let all = client::read_until_closed(&mut s).expect("read the answers");
    all.split("HTTP/1.1 ")
        .skip(1)
        .map(|a| {
            let (head, body) = a.split_once("\r\n\r\n").unwrap_or((a, ""));
            (head.lines().next().unwrap_or("").to_string(), body.to_string())
        })
        .collect()
}

/// Requests are parsed where they were received, so those that arrive in pieces must be
/// joined: a stream of pipelined requests (one with a body) cut at every byte into two
/// sends, a head larger than one receive buffer (4 KiB), a body of many buffers. Each is
/// answered whole, in order, and `Connection: close` ends the connection after its answer.
#[test]
fn requests_split_across_receives_are_answered() {
    let server = server("split");
    let get: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let file: &[u8] = b"GET /static/hello.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    let close: &[u8] = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    let hello = ("200 OK".to_string(), "Hello, World!".to_string());
    let contents = ("200 OK".to_string(), "file contents\n".to_string());
    let stream = [get, file, get, close].concat();
    for cut in 1..stream.len() {
        let mut s = server.connect();
        s.set_nodelay(true).unwrap();
        s.write_all(&stream[..cut]).unwrap();
        // Long enough for the first part to be received on its own, mostly.
        std::thread::sleep(Duration::from_millis(5));
        s.write_all(&stream[cut..]).unwrap();
        let got = answers(s);
        assert_eq!(got, [hello.clone(), contents.clone(), hello.clone(), hello.clone()], "cut at {cut}");
    }

    // A head of 6 KiB (over one 4 KiB buffer, under the 8 KiB limit), then a body of 100 KB
    // followed by a request, all in one send.
    let big_head = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(6 * 1024));
    let big_body = format!("GET / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n{}", "c".repeat(100_000));
    let mut s = server.connect();
    s.write_all(&[big_head.as_bytes(), big_body.as_bytes(), get, close].concat()).unwrap();
    assert_eq!(answers(s), [hello.clone(), hello.clone(), hello.clone(), hello.clone()]);
    server.assert_serves();
}

/// Clients that reset their connection (`SO_LINGER` 0) mid-request and mid-answer.
#[test]
fn connection_resets() {
    let server = server("resets");
    let reset = |s: TcpStream| {
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
    };
    for _ in 0..20 {
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        reset(s);
        let mut s = server.connect();
        s.write_all(&b"GET / HTTP/1.1\r\n\r\n".repeat(200)).unwrap();
        reset(s);
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.1\r\nContent-Length: 100\r\n\r\nab").unwrap();
        reset(s);
    }
    server.assert_serves();
}

#[test]
fn path_traversal_gets_404() {
    let server = server("traversal");
    server.root.file("inner.txt", b"inner file\n");
    server.assert_file("/static/inner.txt", "inner file\n");
    for path in [
        "/static/../hello.txt",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/./hello.txt",
        "/static//etc/passwd",
        "/static/..\\..\\etc\\passwd",
        "/../etc/passwd",
        "/static/hello.txt/../hello.txt",
    ] {
        server.assert_not_found(path);
    }
    server.assert_serves();
}

/// Request smuggling: a Content-Length that is not 1*DIGIT, or two that differ, is refused
/// (RFC 9112 §6.3), whatever the body that follows.
#[test]
fn bad_content_length_gets_400() {
    let server = server("content-length");
    for headers in [
        "Content-Length: x",
        "Content-Length: -1",
        "Content-Length: 1 2",
        "Content-Length: +26",
        "Content-Length: 0x1a",
        "Content-Length: 26, 26",
        "Content-Length: 26\r\nContent-Length: 0",
        "Content-Length: 0\r\nContent-Length: 26",
    ] {
        let body = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let r = server.ask(format!("GET / HTTP/1.1\r\n{headers}\r\n\r\n{body}").as_bytes());
        assert_answer_then_close(&r, "400 Bad Request");
    }
    // Identical repeated values are one length (allowed by §6.3): the body is skipped and the
    // request after it answered.
    let r = server.ask(
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{r:?}");
    server.assert_serves();
}

/// A declared body that never comes, or trickles in, holds its connection no longer than the
/// request timeout (a deadline for head and body together, not per read): 408, then closed.
#[test]
fn missing_or_trickled_body_gets_408() {
    let server = server("body");
    let r = server.ask(b"GET / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    assert_answer_then_close(&r, "408 Request Timeout");
    let r = server.ask(b"GET / HTTP/1.1\r\nContent-Length: 1000\r\n\r\npart of it");
    assert_answer_then_close(&r, "408 Request Timeout");
    // The request before it is answered first.
    let r = server.ask(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r:?}");
    assert_answer_then_close(&r[r.find("Hello, World!").unwrap() + 13..], "408 Request Timeout");
    // Every read is quick, the whole body would take 100 s.
    server.assert_trickle_cut_off(
        &[b"GET / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n".as_slice(), &[b'x'; 1000]].concat(),
    );
    server.assert_serves();
}

/// A client that pipelines requests and never reads the answers: once the answers fill the
/// socket buffers the server's write cannot finish, and it gives up after its write timeout,
/// closing the connection (which the client sees as a reset or a broken pipe when it writes).
#[test]
fn never_read_answers_close_the_connection() {
    let server = server("never-read");
    let closed = client::pipeline_without_reading(server.addr, PATIENCE).unwrap();
    let kind = closed.kind();
    assert!(
        matches!(kind, std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
        "the connection ended with {closed}"
    );
    server.assert_serves();
}

/// Symbolic links below the root are not followed, whether they lead out of it (to a file, to
/// a directory, from a subdirectory) or not: all answer 404. Real files in subdirectories are
/// served, and a FIFO is not opened (which would block).
#[test]
fn symlinks_are_not_followed() {
    use std::os::unix::fs::symlink;
    let server = server("symlinks");
    let outside = TempDir::new("symlinks-outside");
    outside.file("secret.txt", b"secret outside the root\n");
    let root = &server.root;
    symlink(outside.join("secret.txt"), root.join("link")).unwrap();
    symlink(outside.path(), root.join("dir")).unwrap();
    symlink("/etc/passwd", root.join("passwd")).unwrap();
    symlink("hello.txt", root.join("inner-link")).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    root.file("sub/real.txt", b"real file\n");
    symlink(outside.join("secret.txt"), root.join("sub/link")).unwrap();
    symlink("../dir", root.join("sub/up")).unwrap();
    let fifo = std::ffi::CString::new(root.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo: {}", std::io::Error::last_os_error());

    server.assert_file("/static/sub/real.txt", "real file\n");
    for path in [
        "/static/link",
        "/static/dir/secret.txt",
        "/static/passwd",
        "/static/inner-link",
        "/static/sub/link",
        "/static/sub/up/secret.txt",
        "/static/fifo",
    ] {
        server.assert_not_found(path);
    }
    server.assert_serves();
}

/// Set in the environment of the child process of [`fd_limit_backs_off`].
const FD_LIMIT_CHILD: &str = "CORIO_HTTP_FD_LIMIT_CHILD";

/// The child's open-file limit: the server takes a few dozen connections, then has none left.
const FD_LIMIT: libc::rlim_t = 64;

/// The child of [`fd_limit_backs_off`] (a no-op in a normal run): a server with a low
/// open-file limit, running until its standard input closes.
#[test]
fn fd_limit_child() {
    if std::env::var_os(FD_LIMIT_CHILD).is_none() {
        return;
    }
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes the limit into `limit`, which lives across the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    limit.rlim_cur = FD_LIMIT;
    // SAFETY: `setrlimit` reads `limit`, which lives across the call; lowering the soft limit
    // below the hard one is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let (_runtime, addr) = server::start("127.0.0.1:0".parse().unwrap(), 1, http::Config::default()).unwrap();
    println!("listening on {addr}");
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

/// The user and system CPU time `pid` has used, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces, in parentheses): utime and
    // stime are the 12th and 13th of them, in clock ticks.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: `sysconf` has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// A child process, killed and reaped when dropped (if the test fails first).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// At the open-file limit (the server's accepts fail with `EMFILE`) the accepting tasks pause
/// instead of spinning, and say so once rather than once per attempt; once connections close,
/// new ones are served again. The server is a child process with a low limit (this test
/// binary again, running [`fd_limit_child`]).
#[test]
fn fd_limit_backs_off() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    // Through the test runner if there is one (qemu-user for other architectures).
    let runner = std::env::var("CORIO_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace().map(std::ffi::OsString::from).collect::<Vec<_>>();
    words.push(std::env::current_exe().unwrap().into());
    let mut child = Command::new(&words[0]);
    child.args(&words[1..]).args(["--exact", "fd_limit_child", "--nocapture", "--test-threads=1"]);
    child.env(FD_LIMIT_CHILD, "1").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Child(child.spawn().unwrap());
    let pid = child.0.id();
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    let addr: SocketAddr = loop {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "the child ended before listening");
        // After libtest's "test fd_limit_child ... " on the same line.
        if let Some((_, addr)) = line.trim().split_once("listening on ") {
            break addr.parse().unwrap();
        }
    };
    let stderr = child.0.stderr.take().unwrap();
    let log =
        std::thread::spawn(move || std::io::BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());

    // Twice as many connections as the child can have descriptors: the rest wait in the
    // listen backlog while the server's accepts fail.
    let clients: Vec<TcpStream> = (0..2 * FD_LIMIT).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let (cpu_before, start) = (cpu_time(pid), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let (cpu, wall) = (cpu_time(pid) - cpu_before, start.elapsed());
    // Spinning takes a whole core; pausing between attempts, next to nothing.
    assert!(cpu < wall / 4, "the server used {cpu:?} of CPU in {wall:?} at its descriptor limit");

    drop(clients);
    // Read by hand rather than with `client::exchange`, which reads a reset as an empty
    // answer: a failure says how the connection ended, with what the server logged.
    let started = std::time::Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let sent = std::io::Write::write_all(&mut stream, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let read = std::io::Read::read_to_end(&mut stream, &mut answer);
    let served = answer.starts_with(b"HTTP/1.1 200 OK\r\n");
    drop(child.0.stdin.take());
    let status = child.0.wait().unwrap();
    let log = log.join().unwrap();
    assert!(
        served,
        "not served once descriptors were free: sending {sent:?}, reading {read:?} after {:?}, \
         answer {:?}; the server logged {log:?}",
        started.elapsed(),
        String::from_utf8_lossy(&answer),
    );
    assert!(status.success(), "the server ended with {status}; it logged {log:?}");
    // One line when accepts start failing, one when they succeed again; perhaps another pair
    // while the backlog drains (accepts may outrun the closes of the connections they take).
    // Spinning logged thousands.
    assert!(log.len() <= 6, "{} lines logged, the first: {:?}", log.len(), &log[..log.len().min(5)]);
}

/// Each scheduler's IO queue holds its share of the connections the open-file limit allows
/// (one op in flight each, a sixteenth of the queue kept for cancels, room for the accepting
/// tasks and the reaper), up to the largest queue the example makes.
#[test]
fn io_queue_holds_what_the_fd_limit_allows() {
    for threads in [1, 2, 3, 8, 64] {
        for fd_limit in [64, 1024, 4096, 10_000, 20_000, 65_536, 1 << 20, u64::MAX] {
            let entries = u64::from(server::io_queue_entries(fd_limit, threads));
            assert!(entries >= 4096, "{fd_limit} descriptors, {threads} threads: {entries} entries");
            let held = entries - entries / 16 - server::ACCEPTORS as u64 - 1;
            let share = fd_limit.div_ceil(threads as u64);
            assert!(
                held >= share || entries == u64::from(server::MAX_IO_QUEUE_ENTRIES),
                "{fd_limit} descriptors, {threads} threads: {entries} entries hold {held} connections, not {share}"
            );
        }
    }
}
