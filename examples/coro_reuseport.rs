//! The scaling model: one `Scheduler` per thread, each thread with its own listener bound to
//! the same port with `SO_REUSEPORT`, so the kernel spreads connections over the threads.
//! Each thread serves a tiny echo; the main thread connects the clients, checks the echoes,
//! shuts every thread down and prints how many connections each served.
//!
//! Run with `cargo run --release --example coro_reuseport [threads] [clients]` (defaults: 2 threads,
//! 64 clients).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio::aio::net_types::{Domain, Protocol, Socket, Type};
use corio::aio::op::{self, OpExt};
use corio::coro::sync::Channel;
use corio::coro::{RunMode, Scheduler, io as cio};

/// No connection waits for data longer than this.
const IDLE: Duration = Duration::from_secs(2);

fn listener(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Echoes until the peer closes (or stays idle for `IDLE`).
fn echo(connection: Socket) -> io::Result<()> {
    let mut buf = [0u8; 256];
    loop {
        let (len, _) = cio::multi((op::Recv::new(&connection, &mut buf).soft(), op::LinkTimeout::new(IDLE)))?;
        if len == 0 {
            return Ok(());
        }
        cio::single(op::Send::new(&connection, &buf[..len]))?;
    }
}

/// One server thread: its own scheduler and listener; serves until `stop` says so; returns the
/// number of connections it accepted.
fn serve(addr: SocketAddr, ready: Arc<Channel<()>>, stop: Arc<Channel<()>>) -> io::Result<usize> {
    let scheduler = Scheduler::new()?;
    let socket = listener(addr)?;
    socket.listen(128)?;
    ready.send(())?;
    let acceptor = scheduler.spawn(move || {
        let mut served = 0;
        loop {
            match cio::single(op::Accept::new(&socket)) {
                Ok((connection, _)) => {
                    served += 1;
                    corio::coro::spawn(move || {
                        if let Err(e) = echo(connection) {
                            eprintln!("echo: {e}");
                        }
                    })
                    .detach();
                }
                Err(e) if corio::aio::is_canceled(&e) => return served,
                Err(e) => {
                    eprintln!("accept: {e}");
                    return served;
                }
            }
        }
    });
    // Waits (parked: the other tasks run) for the main thread's word, then stops accepting.
    // (A closed channel or an error stops the thread as well.)
    let stopper = scheduler.spawn(move || {
        let _ = stop.recv();
        acceptor.cancel_and_join()
    });
    scheduler.run(RunMode::Wait)?;
    Ok(stopper.join())
}

fn main() -> io::Result<()> {
    let started = Instant::now();
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let threads = args.next().unwrap_or(2).max(1);
    let clients = args.next().unwrap_or(64);

    // Holds the port (bound, not listening) until every server thread has bound it too.
    let placeholder = listener(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = placeholder.local_addr()?.as_socket().expect("an inet address");
    let ready = Arc::new(Channel::unbounded());
    let stops: Vec<_> = (0..threads).map(|_| Arc::new(Channel::bounded(1))).collect();
    let servers: Vec<_> = stops
        .iter()
        .map(|stop| {
            let (ready, stop) = (ready.clone(), stop.clone());
            std::thread::spawn(move || serve(addr, ready, stop))
        })
        .collect();
    for _ in 0..threads {
        ready.recv()?; // blocks: the main thread is not a task
    }
    drop(placeholder);

    for i in 0..clients {
        let mut stream = TcpStream::connect_timeout(&addr, IDLE)?;
        stream.set_read_timeout(Some(IDLE))?;
        stream.set_write_timeout(Some(IDLE))?;
        let message = format!("hello from client {i}");
        stream.write_all(message.as_bytes())?;
        let mut echoed = vec![0u8; message.len()];
        stream.read_exact(&mut echoed)?;
        assert_eq!(echoed, message.as_bytes(), "client {i} got its message back");
    }

    for stop in &stops {
        stop.send(())?;
    }
    let mut total = 0;
    for (i, server) in servers.into_iter().enumerate() {
        let served = server.join().expect("server thread")?;
        println!("thread {i} served {served} connections");
        total += served;
    }
    let elapsed = started.elapsed();
    println!("{clients} clients echoed by {threads} threads on port {} in {elapsed:.2?}", addr.port());
    assert_eq!(total, clients, "every connection was served once");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    Ok(())
}
