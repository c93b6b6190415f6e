//! hyper 1.x on corio: HTTP/1.1 and h2c (HTTP/2 without TLS, prior knowledge) on one port, a
//! [`Runtime`] with a thread per core (each with its own `SO_REUSEPORT` listener), one task per
//! connection serving hyper's connection future over the `TcpStream` itself (it implements
//! hyper's IO traits), each h2 stream a task of its own (`corio::coro::future::Executor`).
//!
//! Needs the `example-hyper` feature (hyper, kept out of the other examples' build):
//!
//! - `cargo run --release --features example-hyper --example hyper_server` serves on a free
//!   port, sends HTTP/1.1 and h2c requests to it with hyper's clients, prints the result and
//!   exits (0 if every answer was right).
//! - `… --example hyper_server -- --serve [ADDR] [--threads N]` serves on ADDR (default
//!   127.0.0.1:8080) until killed.

// What this example uses besides corio (.ci/examples-external builds it in a crate that has
// only these, and corio with these features):
// example-dep: hyper = { version = "1", features = ["server", "client", "http1", "http2"] }
// example-dep: http-body-util = "0.1"
// example-dep: bytes = "1"
// example-feature: example-hyper

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use corio::coro::future::{Executor, block_on};
use corio::coro::net::TcpStream;
use corio::coro::runtime::Runtime;
use corio::coro::{SpawnOptions, spawn_with};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};

/// What an HTTP/2 connection without TLS starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

/// Serves one connection: h2c if it starts with the HTTP/2 preface, else HTTP/1.1.
fn serve(conn: TcpStream) {
    let mut head = [0u8; H2_PREFACE.len()];
    let mut seen = 0;
    // Peek until the preface is decided (a client sends at least that much at once in practice).
    while seen < head.len() {
        match conn.peek(&mut head) {
            Ok(0) | Err(_) => return,
            Ok(n) if head[..n] != H2_PREFACE[..n] => break,
            Ok(n) => seen = n,
        }
    }
    let h2 = seen == H2_PREFACE.len();
    let served = block_on(async move {
        if h2 {
            hyper::server::conn::http2::Builder::new(Executor).serve_connection(conn, service_fn(hello)).await
        } else {
            hyper::server::conn::http1::Builder::new().serve_connection(conn, service_fn(hello)).await
        }
    });
    if let Ok(Err(e)) = served {
        eprintln!("hyper_server: connection: {e}");
    }
}

/// Runs a client connection's future in a task of its own, on the stack hyper's tasks get.
fn drive<F: std::future::Future + 'static>(conn: F) -> corio::coro::Task<io::Result<F::Output>> {
    spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), move || block_on(conn))
}

/// Sends `n` GETs over one connection (h2c or HTTP/1.1); returns the bodies.
fn get(addr: SocketAddr, h2: bool, n: usize) -> io::Result<Vec<String>> {
    let io = TcpStream::connect(addr)?;
    let request = || Request::get("http://localhost/").header("host", "localhost").body(Full::new(Bytes::new()));
    block_on(async move {
        let mut bodies = Vec::new();
        let fail = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
        if h2 {
            let (mut sender, conn) = hyper::client::conn::http2::handshake(Executor, io).await.map_err(|e| fail(&e))?;
            drive(conn).detach();
            for _ in 0..n {
                let response = sender.send_request(request().map_err(|e| fail(&e))?).await.map_err(|e| fail(&e))?;
                bodies.push(response.into_body().collect().await.map_err(|e| fail(&e))?.to_bytes());
            }
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| fail(&e))?;
            drive(conn).detach();
            for _ in 0..n {
                let response = sender.send_request(request().map_err(|e| fail(&e))?).await.map_err(|e| fail(&e))?;
                bodies.push(response.into_body().collect().await.map_err(|e| fail(&e))?.to_bytes());
            }
        }
        Ok(bodies.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect())
    })?
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serve_only = args.first().map(String::as_str) == Some("--serve");
    let mut addr: SocketAddr = if serve_only { "127.0.0.1:8080" } else { "127.0.0.1:0" }.parse().unwrap();
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut it = args.iter().skip(usize::from(serve_only));
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--threads" => threads = it.next().and_then(|n| n.parse().ok()).unwrap_or(threads),
            a => addr = a.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{a}: {e}")))?,
        }
    }
    // Async code polls deep: every task gets the stack hyper's executor gives its own.
    let runtime = Runtime::builder().threads(threads).stack_size(Executor::STACK_SIZE).build()?;
    let addr = runtime.serve(addr, serve)?;
    if serve_only {
        println!("hyper_server: serving HTTP/1.1 and h2c on http://{addr} with {threads} thread(s)");
        loop {
            std::thread::park();
        }
    }
    // Self-test: hyper's clients, in a task of the same runtime.
    let results = runtime.block_on(move || [("HTTP/1.1", get(addr, false, 3)), ("h2c", get(addr, true, 3))]);
    let mut failed = 0;
    for (name, bodies) in results {
        match bodies {
            Ok(b) if b.iter().all(|b| b == "Hello, World!") && b.len() == 3 => println!("  ok   {name}: 3 requests"),
            other => {
                failed += 1;
                println!("  FAIL {name}: {other:?}");
            }
        }
    }
    println!("hyper_server self-test: {} passed, {failed} failed", 2 - failed);
    runtime.shutdown(std::time::Duration::from_secs(1))?;
    if failed == 0 { Ok(()) } else { std::process::exit(1) }
}
