//! A TCP echo server on coro::net: one scheduler per core, each with its own listener on the
//! same port (`SO_REUSEPORT`), one task per connection, plain `Read`/`Write` code.
//!
//! - `cargo run --release --example echo_server` starts the server on a free port, runs 100
//!   client tasks against it (on one more scheduler), checks every echo, prints the result
//!   and exits.
//! - `cargo run --release --example echo_server -- --serve [ADDR]` serves on ADDR (default
//!   127.0.0.1:7878) until killed.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use corio::aio::net_types::{Domain, Protocol, Socket, Type};
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::{RunMode, Scheduler};

fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from(std::net::TcpListener::from(socket)))
}

/// Echoes until the peer closes, with ordinary blocking-style code.
fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn start(addr: SocketAddr) -> io::Result<SocketAddr> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let first = reuseport_listener(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(reuseport_listener(addr)?);
    }
    for listener in listeners {
        std::thread::spawn(move || {
            let scheduler = Scheduler::new().expect("scheduler");
            scheduler
                .spawn(move || {
                    for stream in listener.incoming() {
                        match stream {
                            Ok(s) => corio::coro::spawn(move || drop(echo(s))).detach(),
                            Err(e) => eprintln!("accept: {e}"),
                        }
                    }
                })
                .detach();
            scheduler.run(RunMode::Wait).expect("scheduler run");
        });
    }
    Ok(addr)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let addr = args.get(1).map_or("127.0.0.1:7878", String::as_str);
        let addr = addr.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
        let addr = start(addr)?;
        println!("echo_server: serving on {addr}");
        loop {
            std::thread::park();
        }
    }
    let addr = start("127.0.0.1:0".parse().unwrap())?;
    let started = Instant::now();
    let scheduler = Scheduler::new()?;
    let clients: Vec<_> = (0..100)
        .map(|i| {
            scheduler.spawn(move || -> io::Result<bool> {
                let mut stream = TcpStream::connect(addr)?;
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                for round in 0..10 {
                    let msg = format!("client {i} round {round}\n").repeat(i % 7 + 1);
                    stream.write_all(msg.as_bytes())?;
                    let mut back = vec![0u8; msg.len()];
                    stream.read_exact(&mut back)?;
                    if back != msg.as_bytes() {
                        return Ok(false);
                    }
                }
                Ok(true)
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for c in clients {
        match c.join() {
            Ok(true) => ok += 1,
            Ok(false) => failed += 1,
            Err(e) => {
                eprintln!("client: {e}");
                failed += 1;
            }
        }
    }
    println!("echo_server self-test: {ok} passed, {failed} failed ({:?}, 100 clients x 10 echoes)", started.elapsed());
    if failed == 0 { Ok(()) } else { std::process::exit(1) }
}
