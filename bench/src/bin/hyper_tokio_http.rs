//! hyper 1.x (HTTP/1.1 keep-alive) on tokio's multi-threaded runtime, answering every request
//! with the same body as the other `http` peers; the twin of `hyper_corio_http` (same service,
//! same hyper settings). Usage: `hyper_tokio_http [ADDR] [THREADS]`; prints
//! `hyper_tokio_http: serving on ADDR …` once bound.

// Only its `args` and body are used here (hyper parses and answers).
#[allow(dead_code)]
#[path = "../http_peer.rs"]
mod http_peer;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(http_peer::ROOT_BODY))))
}

fn main() -> std::io::Result<()> {
    let (addr, threads) = http_peer::args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("hyper_tokio_http: serving on {} with {threads} worker(s)", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}
