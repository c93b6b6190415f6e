//! hyper 1.x on corio: HTTP/1.1 and h2c (HTTP/2 without TLS, prior knowledge) on one port,
//! one scheduler per core (each with its own `SO_REUSEPORT` listener), one task per
//! connection, each h2 stream a task of its own (`corio::coro::future::Executor`).
//!
//! - `cargo run --release -p corio-tests-async --example hyper_server` serves on a free port,
//!   sends HTTP/1.1 and h2c requests to it with hyper's clients, prints the result and exits
//!   (0 if every answer was right).
//! - `… --example hyper_server -- --serve [ADDR] [--threads N]` serves on ADDR (default
//!   127.0.0.1:8080) until killed.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use corio::coro::future::{AsyncStream, Executor, block_on};
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::{RunMode, Scheduler, SpawnOptions, spawn_with};

/// Async code polls deep: its tasks get the stack hyper's executor gives its own.
fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> corio::coro::Task<T> {
    spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), f)
}
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
    let io = AsyncStream::new(conn);
    let served = block_on(async move {
        if h2 {
            hyper::server::conn::http2::Builder::new(Executor).serve_connection(io, service_fn(hello)).await
        } else {
            hyper::server::conn::http1::Builder::new().serve_connection(io, service_fn(hello)).await
        }
    });
    if let Ok(Err(e)) = served {
        eprintln!("hyper_server: connection: {e}");
    }
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Starts `threads` schedulers serving `addr`; returns the address bound.
fn start(addr: SocketAddr, threads: usize) -> io::Result<SocketAddr> {
    let first = reuseport_listener(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(reuseport_listener(addr)?);
    }
    for listener in listeners {
        std::thread::spawn(move || {
            let scheduler = Scheduler::new().expect("scheduler");
            let listener = TcpListener::from(listener);
            scheduler.spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), move || {
                for conn in listener.incoming() {
                    match conn {
                        Ok(conn) => spawn(move || serve(conn)).detach(),
                        Err(e) => eprintln!("hyper_server: accept: {e}"),
                    }
                }
            });
            scheduler.run(RunMode::Wait).expect("scheduler run");
        });
    }
    Ok(addr)
}

/// Sends `n` GETs over one connection (h2c or HTTP/1.1); returns the bodies.
fn get(addr: SocketAddr, h2: bool, n: usize) -> io::Result<Vec<String>> {
    let io = AsyncStream::new(TcpStream::connect(addr)?);
    let request = || Request::get("http://localhost/").header("host", "localhost").body(Full::new(Bytes::new()));
    block_on(async move {
        let mut bodies = Vec::new();
        let fail = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
        if h2 {
            let (mut sender, conn) = hyper::client::conn::http2::handshake(Executor, io).await.map_err(|e| fail(&e))?;
            spawn(move || block_on(conn)).detach();
            for _ in 0..n {
                let response = sender.send_request(request().map_err(|e| fail(&e))?).await.map_err(|e| fail(&e))?;
                bodies.push(response.into_body().collect().await.map_err(|e| fail(&e))?.to_bytes());
            }
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| fail(&e))?;
            spawn(move || block_on(conn)).detach();
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.first().map(String::as_str) == Some("--serve") {
        let mut addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut threads = cores;
        let mut it = args.iter().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--threads" => threads = it.next().and_then(|n| n.parse().ok()).unwrap_or(threads),
                a => addr = a.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{a}: {e}")))?,
            }
        }
        let addr = start(addr, threads)?;
        println!("hyper_server: serving HTTP/1.1 and h2c on http://{addr} with {threads} scheduler(s)");
        loop {
            std::thread::park();
        }
    }
    // Self-test: hyper's clients, in tasks of a scheduler of their own.
    let addr = start("127.0.0.1:0".parse().unwrap(), cores)?;
    let scheduler = Scheduler::new()?;
    let h1 = scheduler.spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), move || get(addr, false, 3));
    let h2 = scheduler.spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), move || get(addr, true, 3));
    scheduler.run(RunMode::Wait)?;
    let mut failed = 0;
    for (name, bodies) in [("HTTP/1.1", h1.join()), ("h2c", h2.join())] {
        match bodies {
            Ok(b) if b.iter().all(|b| b == "Hello, World!") && b.len() == 3 => println!("  ok   {name}: 3 requests"),
            other => {
                failed += 1;
                println!("  FAIL {name}: {other:?}");
            }
        }
    }
    println!("hyper_server self-test: {} passed, {failed} failed", 2 - failed);
    if failed == 0 { Ok(()) } else { std::process::exit(1) }
}
