//! An HTTP/1.1 keep-alive server on coro::net: a [`Runtime`](corio::coro::runtime::Runtime)
//! with a thread per core, each with its own listener on the same port (`SO_REUSEPORT`), one
//! task per connection. It serves a fixed body at `/` and files under a directory at
//! `/static/…`; bad input is answered (400, 405, 408, 413, 431, 501) and the connection
//! closed. The rules (what is refused, the timeouts) are in `support/http.rs`, the start-up in
//! `support/server.rs`.
//!
//! - `cargo run --release --example http_server` starts the server on a free port, runs a
//!   self-test against it (keep-alive, a file, a 400, a slow client cut off by the request
//!   timeout, a 431, a 413, differing Content-Lengths, a body never sent, an idle connection
//!   closed), prints the result and exits (0 if every check passed).
//!   `tests/http_bad_clients.rs` has more bad clients.
//! - `cargo run --release --example http_server -- --serve [ADDR] [--root DIR] [--threads N]
//!   [--stats] [--by-hand]` serves on ADDR (default 127.0.0.1:8080) until SIGINT or SIGTERM,
//!   then stops accepting, gives open connections 5 s and exits. SIGUSR1 prints each runtime
//!   thread's counters and every task with what it waits on (`Runtime::dump`) to stderr;
//!   `--stats` prints the counters (`Runtime::metrics`) every second. `--by-hand` serves
//!   without the runtime (a scheduler per thread wired by hand, the baseline the bench
//!   compares the runtime with); it exits at once on SIGINT or SIGTERM.
//!
//! # How many connections
//!
//! Each connection keeps one IO op in flight (its read while idle), so a scheduler with an
//! IO queue of E entries holds about E − E/16 connections (a sixteenth is kept for cancels);
//! past that its accepting tasks wait for room, and new clients wait in the listen backlog
//! (4,096) or are refused. With a fixed 8,192 entries, two schedulers stalled at about 15,360
//! connections. The example therefore sizes each scheduler's queue from the open-file limit
//! (`getrlimit(RLIMIT_NOFILE)`), which bounds the connections anyway: its share of the limit
//! plus a quarter, between 4,096 and 65,536 entries (about 0.5 KiB each). So the cap is the
//! open-file limit, less a few descriptors (`ulimit -n` raises it), up to about 61,000
//! connections per scheduler. At the limit, accepting pauses (100 ms at a time, logged once)
//! until connections close.

// What this example uses besides corio (.ci/examples-external builds it in a crate that has
// only these):
// example-dep: httparse = "1"
// example-dep: libc = "0.2.180"
// example-dep: log = "0.4"

#[path = "support/client.rs"]
mod client;
#[path = "support/http.rs"]
mod http;
#[path = "support/server.rs"]
mod server;
#[path = "support/signals.rs"]
mod signals;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use client::{exchange, read_response, trickle};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads_default = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.first().map(String::as_str) != Some("--serve") {
        return self_test(threads_default);
    }
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut config = http::Config::default();
    let mut threads = threads_default;
    let mut by_hand = false;
    let mut stats = false;
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--root" => config.root = it.next().map(PathBuf::from),
            "--threads" => threads = it.next().and_then(|n| n.parse().ok()).unwrap_or(threads),
            "--by-hand" => by_hand = true,
            "--stats" => stats = true,
            a => addr = a.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{a}: {e}")))?,
        }
    }
    server::log_warnings_to_stderr();
    // Before any thread starts: they inherit the blocked signals.
    let signals = signals::Signals::block()?;
    if by_hand {
        let addr = server::start_by_hand(addr, threads, config)?;
        println!("http_server: serving on http://{addr} with {threads} scheduler(s), wired by hand");
        while signals.wait()? != signals::Signal::Stop {}
        return Ok(());
    }
    let (runtime, addr) = server::start(addr, threads, config)?;
    println!("http_server: serving on http://{addr} with {threads} scheduler(s)");
    if stats {
        // The runtime's counters every second, from a plain thread.
        let handle = runtime.handle().clone();
        std::thread::spawn(move || {
            while let Ok(metrics) = handle.metrics() {
                eprintln!("http_server: {metrics}");
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }
    while signals.wait()? == signals::Signal::Dump {
        // SIGUSR1: what every task waits on, and the counters.
        match runtime.dump() {
            Ok(dump) => eprint!("{dump}"),
            Err(e) => eprintln!("http_server: no dump: {e}"),
        }
    }
    eprintln!("http_server: stopping (open connections get 5 s)");
    runtime.shutdown(Duration::from_secs(5))?;
    eprintln!("http_server: stopped");
    Ok(())
}

fn self_test(threads: usize) -> io::Result<()> {
    let root = std::env::temp_dir().join(format!("corio-http-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    std::fs::write(root.join("hello.txt"), "file contents\n")?;
    let config = http::Config {
        root: Some(root.clone()),
        request_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(1),
        ..http::Config::default()
    };
    let (runtime, addr) = server::start("127.0.0.1:0".parse().unwrap(), threads, config)?;
    let mut failures = Vec::new();
    let mut passed = 0;
    let mut check = |name: &str, ok: bool, detail: String| {
        if ok {
            passed += 1;
            println!("  ok   {name}");
        } else {
            println!("  FAIL {name}: {detail}");
            failures.push(name.to_string());
        }
    };
    let t = Duration::from_secs(5);

    // Keep-alive: three requests on one connection.
    let mut s = StdStream::connect(addr)?;
    s.set_read_timeout(Some(t))?;
    let mut all_ok = true;
    let mut last = String::new();
    for _ in 0..3 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
        last = read_response(&mut s)?;
        all_ok &= last.starts_with("HTTP/1.1 200") && last.ends_with("Hello, World!");
    }
    check("keep-alive: 3 requests, one connection", all_ok, last);
    // Pipelined requests in one write.
    let r = exchange(addr, b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n", t)?;
    check("pipelined pair", r.matches("HTTP/1.1 200").count() == 2, r);
    let r = exchange(addr, b"GET /static/hello.txt HTTP/1.1\r\nConnection: close\r\n\r\n", t)?;
    check("file under the root", r.starts_with("HTTP/1.1 200") && r.ends_with("file contents\n"), r);
    let r = exchange(addr, b"GET /static/../../etc/passwd HTTP/1.1\r\nConnection: close\r\n\r\n", t)?;
    check("no escape from the root", r.starts_with("HTTP/1.1 404"), r);
    let r = exchange(addr, b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n", t)?;
    check("HEAD has no body", r.starts_with("HTTP/1.1 200") && r.ends_with("\r\n\r\n"), r);
    let r = exchange(addr, b"GET / HTTP/1.1\r\nHost x\x01\r\n\r\n", t)?;
    check("malformed request: 400 and close", r.starts_with("HTTP/1.1 400") && r.contains("Connection: close"), r);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(16 * 1024));
    let r = exchange(addr, huge.as_bytes(), t)?;
    check("oversized head: 431", r.starts_with("HTTP/1.1 431"), r);
    let r = exchange(addr, b"GET / HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n", t)?;
    check("oversized body: 413", r.starts_with("HTTP/1.1 413"), r);
    let r = exchange(addr, b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\nhello", t)?;
    check("two different Content-Lengths: 400", r.starts_with("HTTP/1.1 400"), r);
    let r = exchange(addr, b"GET / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", t)?;
    check("body never sent: 408 after the request timeout", r.starts_with("HTTP/1.1 408"), r);

    // A client sending a byte every 100 ms is cut off by the 300 ms request timeout.
    let start = Instant::now();
    let request = b"GET / HTTP/1.1\r\nHost: slowly-arriving-header\r\n\r\n";
    let (sent, r) = trickle(addr, request, Duration::from_millis(100))?;
    check(
        "slow client: 408 and cut off",
        r.starts_with("HTTP/1.1 408") && sent < request.len(),
        format!("after {sent} bytes, {:?}: {r:?}", start.elapsed()),
    );

    // An idle keep-alive connection is closed after the 1 s idle timeout (the reaper sweeps
    // every quarter of it, so within about 1.25 s).
    let mut idle = StdStream::connect(addr)?;
    idle.set_read_timeout(Some(Duration::from_secs(10)))?;
    idle.write_all(b"GET / HTTP/1.1\r\n\r\n")?;
    let first = read_response(&mut idle)?;
    let start = Instant::now();
    let mut rest = Vec::new();
    let closed = idle.read_to_end(&mut rest).is_ok();
    let waited = start.elapsed();
    check(
        "idle keep-alive connection closed",
        first.starts_with("HTTP/1.1 200") && closed && waited >= Duration::from_millis(900),
        format!("closed={closed} after {waited:?}"),
    );

    runtime.shutdown(Duration::from_secs(1))?;
    let _ = std::fs::remove_dir_all(&root);
    println!("http_server self-test: {passed} passed, {} failed", failures.len());
    if failures.is_empty() { Ok(()) } else { std::process::exit(1) }
}
