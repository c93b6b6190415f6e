//! The minimal keep-alive server on monoio (io_uring driver), the fastest io_uring peer: a
//! runtime per thread, each with its own `SO_REUSEPORT` listener, one task per connection,
//! owned buffers (monoio's rent API). Same parser and answer as the other peers
//! (`src/http_peer.rs`). Usage: `monoio_http [ADDR] [THREADS]`; prints
//! `monoio_http: serving on ADDR …` once every thread is up.

#[path = "../http_peer.rs"]
mod http_peer;

use std::io;
use std::net::{SocketAddr, TcpListener};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use socket2::{Domain, Socket, Type};

fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

async fn serve(listener: TcpListener) -> io::Result<()> {
    let listener = monoio::net::TcpListener::from_std(listener)?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        monoio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = vec![0u8; 4096];
            let mut out = Vec::with_capacity(4096);
            loop {
                let (res, c) = stream.read(chunk).await;
                chunk = c;
                let n = match res {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let keep = http_peer::handle(&mut buf, &mut out);
                if !out.is_empty() {
                    let (res, o) = stream.write_all(out).await;
                    out = o;
                    if res.is_err() {
                        return;
                    }
                    out.clear();
                }
                if !keep {
                    return;
                }
            }
        });
    }
}

fn main() -> io::Result<()> {
    let (addr, threads) = http_peer::args();
    let first = listener(addr)?;
    // With port 0, the others share the port the first one got.
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(listener(addr)?);
    }
    let (ready, up) = std::sync::mpsc::channel();
    let workers: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                let rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().with_entries(4096).build();
                match rt {
                    Ok(mut rt) => {
                        let _ = ready.send(Ok(()));
                        rt.block_on(serve(listener))
                    }
                    Err(e) => {
                        let _ = ready.send(Err(io::Error::new(e.kind(), format!("monoio runtime: {e}"))));
                        Ok(())
                    }
                }
            })
        })
        .collect();
    for _ in 0..threads {
        up.recv().expect("every thread reports")?;
    }
    println!("monoio_http: serving on {addr} with {threads} thread(s)");
    for worker in workers {
        worker.join().expect("a server thread panicked")?;
    }
    Ok(())
}
