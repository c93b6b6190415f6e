//! A TCP echo server on coro::net: a [`Runtime`] with a thread per core, each with its own
//! listener on the same port (`SO_REUSEPORT`, through [`Runtime::serve`]), one task per
//! connection, plain `Read`/`Write` code.
//!
//! - `cargo run --release --example echo_server` starts the server on a free port, runs 100
//!   client tasks against it (on one more scheduler), checks every echo, prints the result
//!   and exits.
//! - `cargo run --release --example echo_server -- --serve [ADDR]` serves on ADDR (default
//!   127.0.0.1:7878) until SIGINT or SIGTERM, then stops accepting, gives open connections
//!   5 s and exits. SIGUSR1 prints what every task waits on (`Runtime::dump`).

// What this example uses besides corio (.ci/examples-external builds it in a crate that has
// only these):
// example-dep: libc = "0.2.180"

#[path = "support/signals.rs"]
mod signals;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use corio::coro::Scheduler;
use corio::coro::net::TcpStream;
use corio::coro::runtime::Runtime;

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

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let addr = args.get(1).map_or("127.0.0.1:7878", String::as_str);
        let addr: std::net::SocketAddr =
            addr.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
        // Before any thread starts: they inherit the blocked signals.
        let signals = signals::Signals::block()?;
        let runtime = Runtime::new()?;
        let addr = runtime.serve(addr, |stream| drop(echo(stream)))?;
        println!("echo_server: serving on {addr}");
        // SIGUSR1: print what the runtime's tasks wait on.
        while signals.wait()? == signals::Signal::Dump {
            eprint!("{}", runtime.dump()?);
        }
        eprintln!("echo_server: stopping (open connections get 5 s)");
        return runtime.shutdown(Duration::from_secs(5));
    }
    let runtime = Runtime::new()?;
    let addr = runtime.serve("127.0.0.1:0", |stream| drop(echo(stream)))?;
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
    runtime.shutdown(Duration::from_secs(1))?;
    println!("echo_server self-test: {ok} passed, {failed} failed ({:?}, 100 clients x 10 echoes)", started.elapsed());
    if failed == 0 { Ok(()) } else { std::process::exit(1) }
}
