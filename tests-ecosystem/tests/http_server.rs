//! The example HTTP server's request handling (`examples/support/http.rs`): nothing a client
//! sends can panic it or escape the served directory. Bounded property runs, plus the same
//! inputs sent over a real socket to a server task.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

#[path = "../../examples/support/client.rs"]
mod client;
#[path = "../../examples/support/http.rs"]
mod http;

use std::io::{Read, Write};
use std::path::Component;

use corio::coro::Scheduler;
use corio::coro::net::{TcpListener, TcpStream};
use proptest::prelude::*;

use http::{Config, Step, Target};

fn config() -> Config {
    Config::default()
}

fn check_target(target: &Target) {
    if let Target::File(p) = target {
        assert!(p.components().all(|c| matches!(c, Component::Normal(_))), "escapes the root: {p:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_request_path_parses_without_panic(path in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(&path);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        match http::parse(&req, &config()) {
            Step::Request(r) => check_target(&r.target),
            Step::Reject(status) => prop_assert!([400, 431].contains(&status), "{}", status),
            Step::Partial => prop_assert!(false, "a complete head parsed as partial"),
        }
    }

    #[test]
    fn any_route_stays_under_the_root(path in "[/a-z.%\\\\\\x00]{0,40}") {
        check_target(&http::route(&path));
    }

    #[test]
    fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        if let Step::Request(r) = http::parse(&bytes, &config()) {
            check_target(&r.target);
            prop_assert!(r.head_len <= bytes.len());
        }
    }
}

#[test]
fn routes() {
    assert_eq!(http::route("/"), Target::Root);
    assert_eq!(http::route("/?q=1"), Target::Root);
    assert_eq!(http::route("/static/a/b.txt"), Target::File("a/b.txt".into()));
    for bad in ["/static/", "/static/../x", "/static/a//b", "/static/./a", "/other", "", "/static/a\\..\\b"] {
        assert_eq!(http::route(bad), Target::NotFound, "{bad}");
    }
}

#[test]
fn statuses_for_bad_requests() {
    let c = config();
    assert_eq!(http::parse(b"GET / HTTP/1.1\r\nHost x\r\n\r\n", &c), Step::Reject(400));
    assert_eq!(http::parse(b"POST / HTTP/1.1\r\n\r\n", &c), Step::Reject(405));
    assert_eq!(http::parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &c), Step::Reject(400));
    for smuggled in ["+26", "-0", "26, 26", "0x1a", "2 6", ""] {
        let head = format!("GET / HTTP/1.1\r\nContent-Length: {smuggled}\r\n\r\n");
        assert_eq!(http::parse(head.as_bytes(), &c), Step::Reject(400), "{smuggled:?}");
    }
    let two = b"GET / HTTP/1.1\r\nContent-Length: 26\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(http::parse(two, &c), Step::Reject(400));
    let same = b"GET / HTTP/1.1\r\nContent-Length: 26\r\nContent-Length: 26\r\n\r\n";
    assert!(matches!(http::parse(same, &c), Step::Request(r) if r.body_len == 26));
    let huge = b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    assert_eq!(http::parse(huge, &c), Step::Reject(413));
    assert_eq!(http::parse(b"GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", &c), Step::Reject(413));
    assert_eq!(http::parse(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &c), Step::Reject(501));
    assert_eq!(http::parse(b"GET / HTTP/1.1\r\nHost: x\r\n", &c), Step::Partial);
    let big = vec![b'a'; c.max_head];
    assert_eq!(http::parse(&[b"GET /".as_slice(), &big].concat(), &c), Step::Reject(431));
    let many: String = (0..40).map(|i| format!("H{i}: v\r\n")).collect();
    assert_eq!(http::parse(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes(), &c), Step::Reject(431));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes over a real connection: the server task answers or closes, never
    /// panics (a panic would surface when the server task is joined).
    #[test]
    fn server_task_survives_arbitrary_input(bytes in proptest::collection::vec(any::<u8>(), 1..1500)) {
        let scheduler = Scheduler::new().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = scheduler.spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let config = Config { request_timeout: std::time::Duration::from_millis(100), ..Config::default() };
            let _ = http::serve_connection(stream, &config);
        });
        let client = scheduler.spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(&bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            answer
        });
        let answer = client.join();
        server.join();
        prop_assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 "));
    }
}

/// A body larger than what arrived with the head is read and discarded as it comes (skipped
/// in the buffers it arrives in), and the next request on the connection is answered.
#[test]
fn a_body_arriving_after_its_head_is_skipped() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        http::serve_connection(stream, &config())
    });
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // 10,000 bytes of body in pieces, more than one read buffer (4 KiB) of them.
        s.write_all(b"GET / HTTP/1.1\r\nContent-Length: 10000\r\n\r\n").unwrap();
        for _ in 0..10 {
            std::thread::sleep(std::time::Duration::from_millis(2));
            s.write_all(&[b'x'; 1000]).unwrap();
        }
        s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    });
    // Joining the task runs the scheduler (the client is a thread of its own).
    server.join().unwrap();
    let answer = client.join().unwrap();
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(answer.ends_with("Hello, World!"), "{answer}");
}

/// A client that pipelines requests and never reads the answers is cut off by the write
/// timeout (a socket timeout here, where no reaper watches): the server's task ends with an
/// error and the client sees the connection closed.
#[test]
fn a_client_that_never_reads_is_cut_off() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The scheduler runs on a thread of its own, so a server that never gives up fails the
    // test (the client's patience runs out) instead of hanging it.
    let server = std::thread::spawn(move || {
        let scheduler = Scheduler::new().unwrap();
        let listener = TcpListener::from(listener);
        let task = scheduler.spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let config = Config { write_timeout: std::time::Duration::from_millis(300), ..config() };
            http::serve_connection(stream, &config)
        });
        task.join()
    });
    let closed = client::pipeline_without_reading(addr, std::time::Duration::from_secs(10)).unwrap();
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    assert!(matches!(closed.kind(), ConnectionReset | BrokenPipe | ConnectionAborted), "{closed}");
    assert!(server.join().unwrap().is_err(), "the server's write did not time out");
}

/// The peak resident memory of this process (`VmHWM`), in bytes.
#[cfg(target_os = "linux")]
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap();
    line.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

/// Pipelined requests are answered a few at a time: answers are sent once they reach about
/// 64 KiB, not after every request in the read buffer (4 KiB of requests for a 1 MiB file
/// held 128 MiB of answers at once). Checked with this process's peak memory (Linux only).
#[cfg(target_os = "linux")]
#[test]
fn pipelined_answers_do_not_pile_up() {
    let dir = std::env::temp_dir().join(format!("corio-http-pile-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.bin"), vec![b'x'; 1 << 20]).unwrap();
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let root = dir.clone();
    let server = scheduler.spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        http::serve_connection(stream, &Config { root: Some(root), ..config() })
    });
    let before = peak_memory();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut requests = b"GET /static/big.bin HTTP/1.1\r\n\r\n".repeat(127);
        requests.extend_from_slice(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        s.write_all(&requests).unwrap();
        let (mut buf, mut total) = (vec![0u8; 1 << 16], 0);
        loop {
            match s.read(&mut buf).unwrap() {
                0 => break total,
                n => total += n,
            }
        }
    });
    server.join().unwrap();
    let received = client.join().unwrap();
    let grown = peak_memory().saturating_sub(before);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(received > 127 << 20, "{received} bytes received");
    assert!(grown < 32 << 20, "the peak memory grew by {} MiB", grown >> 20);
}
