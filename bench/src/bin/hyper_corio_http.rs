//! hyper 1.x (HTTP/1.1 keep-alive) on corio: one scheduler per thread, each with its own
//! `SO_REUSEPORT` listener, one task per connection running hyper's connection future with
//! `corio::coro::future::block_on` over the `TcpStream` itself (its hyper IO traits). The twin
//! of `hyper_tokio_http` (same service, same hyper settings). Usage: `hyper_corio_http [ADDR] [THREADS]`; prints
//! `hyper_corio_http: serving on ADDR …` once bound.

// Only its `args` and body are used here (hyper parses and answers).
#[allow(dead_code)]
#[path = "../http_peer.rs"]
mod http_peer;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use corio_coro::future::block_on;
use corio_coro::net::TcpListener;
use corio_coro::{RunMode, Scheduler, spawn};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(http_peer::ROOT_BODY))))
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

fn main() -> std::io::Result<()> {
    let (addr, threads) = http_peer::args();
    let first = reuseport_listener(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(reuseport_listener(addr)?);
    }
    println!("hyper_corio_http: serving on {addr} with {threads} scheduler(s)");
    let handles: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            std::thread::spawn(move || {
                let scheduler = Scheduler::new().expect("scheduler");
                let listener = TcpListener::from(listener);
                scheduler.spawn(move || {
                    for conn in listener.incoming().flatten() {
                        let _ = conn.set_nodelay(true);
                        spawn(move || {
                            let _ = block_on(
                                hyper::server::conn::http1::Builder::new().serve_connection(conn, service_fn(hello)),
                            );
                        })
                        .detach();
                    }
                });
                scheduler.run(RunMode::Wait).expect("scheduler run");
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
