//! The minimal keep-alive server on may's stackful coroutines, one coroutine per connection.
//! Usage: `may_http [ADDR] [THREADS]`; prints `may_http: serving on ADDR …` once bound.

#[path = "../http_peer.rs"]
mod http_peer;

use std::io::{Read, Write};

fn main() -> std::io::Result<()> {
    let (addr, threads) = http_peer::args();
    may::config().set_workers(threads);
    let listener = may::net::TcpListener::bind(addr)?;
    println!("may_http: serving on {} with {threads} worker(s)", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        may::go!(move || {
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = vec![0u8; 4096];
            let mut out = Vec::with_capacity(4096);
            loop {
                let n = match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let keep = http_peer::handle(&mut buf, &mut out);
                if !out.is_empty() {
                    if stream.write_all(&out).is_err() {
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
    Ok(())
}
