//! The thread-per-core start shared by the peer servers that run one event loop per thread
//! (`uring_http`, `uring_ms_http`, `monoio_http`): a `SO_REUSEPORT` listener per thread, the
//! loop's state made on its own thread (a `SINGLE_ISSUER` ring belongs to the thread that
//! made it), and the "serving on" line printed once every thread is up. Included by each
//! binary with `#[path]`.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

/// A listener on `addr` that other threads can bind too (`SO_REUSEPORT`); with `nodelay`, the
/// connections it accepts inherit `TCP_NODELAY` (Linux copies it from the listener).
pub fn reuseport_listener(addr: SocketAddr, nodelay: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if nodelay {
        socket.set_tcp_nodelay(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Serves on `threads` threads: each makes its state with `setup` (its failure is reported
/// as `what: error` and ends the start), then runs `serve` with its own listener. Prints
/// `name: serving on ADDR with N thread(s)` once all are up (with port 0, the address the
/// first listener got, which the others share) and returns when they all have.
pub fn serve<S: 'static>(
    name: &str,
    addr: SocketAddr,
    threads: usize,
    nodelay: bool,
    what: &'static str,
    setup: fn() -> io::Result<S>,
    serve: fn(TcpListener, S) -> io::Result<()>,
) -> io::Result<()> {
    let first = reuseport_listener(addr, nodelay)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(reuseport_listener(addr, nodelay)?);
    }
    let (ready, up) = std::sync::mpsc::channel();
    let workers: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let ready = ready.clone();
            std::thread::spawn(move || match setup() {
                Ok(state) => {
                    let _ = ready.send(Ok(()));
                    serve(listener, state)
                }
                Err(e) => {
                    let _ = ready.send(Err(io::Error::new(e.kind(), format!("{what}: {e}"))));
                    Ok(())
                }
            })
        })
        .collect();
    for _ in 0..threads {
        up.recv().expect("every thread reports")?;
    }
    println!("{name}: serving on {addr} with {threads} thread(s)");
    for worker in workers {
        worker.join().expect("a server thread panicked")?;
    }
    Ok(())
}
