//! The minimal keep-alive server on tokio's multi-threaded runtime, one task per connection.
//! Usage: `tokio_http [ADDR] [THREADS]`; prints `tokio_http: serving on ADDR …` once bound.

#[path = "../http_peer.rs"]
mod http_peer;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> std::io::Result<()> {
    let (addr, threads) = http_peer::args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("tokio_http: serving on {} with {threads} worker(s)", listener.local_addr()?);
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = vec![0u8; 4096];
                let mut out = Vec::with_capacity(4096);
                loop {
                    let n = match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let keep = http_peer::handle(&mut buf, &mut out);
                    if !out.is_empty() {
                        if stream.write_all(&out).await.is_err() {
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
    })
}
