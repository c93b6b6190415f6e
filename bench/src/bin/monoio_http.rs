//! The minimal keep-alive server on monoio (io_uring driver), the fastest io_uring peer: a
//! runtime per thread, each with its own `SO_REUSEPORT` listener, one task per connection,
//! owned buffers (monoio's rent API). Same parser and answer as the other peers
//! (`src/http_peer.rs`). Usage: `monoio_http [ADDR] [THREADS]`; prints
//! `monoio_http: serving on ADDR …` once every thread is up.

#[path = "../http_peer.rs"]
mod http_peer;
#[path = "../per_thread.rs"]
mod per_thread;

use std::io;
use std::net::TcpListener;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

async fn serve_async(listener: TcpListener) -> io::Result<()> {
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

type Runtime = monoio::Runtime<monoio::IoUringDriver>;

fn runtime() -> io::Result<Runtime> {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().with_entries(4096).build()
}

fn serve(listener: TcpListener, mut rt: Runtime) -> io::Result<()> {
    rt.block_on(serve_async(listener))
}

fn main() -> io::Result<()> {
    let (addr, threads) = http_peer::args();
    per_thread::serve("monoio_http", addr, threads, false, "monoio runtime", runtime, serve)
}
