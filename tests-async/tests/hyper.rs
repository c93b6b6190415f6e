//! hyper 1.x, unchanged, inside corio tasks: HTTP/1.1 and HTTP/2 (h2c) servers on
//! coro::net `TcpStream`s (hyper's IO traits, the `hyper` feature), hyper's clients talking to them from other tasks, h2's streams spawned as
//! tasks by `corio::coro::future::Executor`.

#![cfg(not(target_os = "wasi"))]

use std::convert::Infallible;

use bytes::Bytes;
use corio::coro::future::{Executor, block_on};
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::{RunMode, Scheduler, SpawnOptions, spawn_with};

/// Async code polls deep: its tasks get the stack hyper's executor gives its own.
fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> corio::coro::Task<T> {
    spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), f)
}
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};

/// Answers with the request's method, path and body length.
async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = format!("{} {} {}", parts.method, parts.uri.path(), body.len());
    Ok(Response::new(Full::new(Bytes::from(text))))
}

#[derive(Clone, Copy, PartialEq)]
enum Version {
    Http1,
    H2c,
}

/// Serves `connections` connections of `version` from `listener`, each in its own task.
fn serve(listener: TcpListener, connections: usize, version: Version) {
    for _ in 0..connections {
        let (conn, _) = listener.accept().unwrap();
        spawn(move || {
            let io = conn;
            block_on(async move {
                match version {
                    Version::Http1 => {
                        hyper::server::conn::http1::Builder::new().serve_connection(io, service_fn(echo)).await.unwrap()
                    }
                    Version::H2c => hyper::server::conn::http2::Builder::new(Executor)
                        .serve_connection(io, service_fn(echo))
                        .await
                        .unwrap(),
                }
            })
            .unwrap()
        })
        .detach();
    }
}

/// Sends `requests` requests on one connection of `version`; returns the bodies.
fn client(addr: std::net::SocketAddr, version: Version, requests: usize) -> Vec<String> {
    let io = TcpStream::connect(addr).unwrap();
    block_on(async move {
        let request = |i: usize| {
            Request::post(format!("http://localhost/item/{i}"))
                .header("host", "localhost")
                .body(Full::new(Bytes::from(vec![b'x'; i])))
                .unwrap()
        };
        let mut bodies = Vec::new();
        match version {
            Version::Http1 => {
                let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                let driver = spawn(move || block_on(conn).unwrap().unwrap());
                for i in 0..requests {
                    let response = sender.send_request(request(i)).await.unwrap();
                    assert!(response.status().is_success());
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    bodies.push(String::from_utf8(body.to_vec()).unwrap());
                }
                drop(sender);
                driver.await;
            }
            Version::H2c => {
                let (sender, conn) = hyper::client::conn::http2::handshake(Executor, io).await.unwrap();
                let driver = spawn(move || block_on(conn).unwrap().unwrap());
                // Concurrent streams on the one connection, each request its own task.
                let tasks: Vec<_> = (0..requests)
                    .map(|i| {
                        let mut sender = sender.clone();
                        let req = request(i);
                        spawn(move || {
                            block_on(async move {
                                let response = sender.send_request(req).await.unwrap();
                                let body = response.into_body().collect().await.unwrap().to_bytes();
                                String::from_utf8(body.to_vec()).unwrap()
                            })
                            .unwrap()
                        })
                    })
                    .collect();
                for task in tasks {
                    bodies.push(task.await);
                }
                drop(sender);
                driver.await;
            }
        }
        bodies
    })
    .unwrap()
}

fn run(version: Version) {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        scheduler.spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), move || serve(listener, 3, version));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            scheduler.spawn_with(SpawnOptions::new().stack_size(Executor::STACK_SIZE), move || client(addr, version, 5))
        })
        .collect();
    scheduler.run(RunMode::Wait).unwrap();
    server.join();
    for c in clients {
        let bodies = c.join();
        let expected: Vec<String> = (0..5).map(|i| format!("POST /item/{i} {i}")).collect();
        assert_eq!(bodies, expected);
    }
}

#[test]
fn http1_server_and_client_in_tasks() {
    run(Version::Http1);
}

#[test]
fn h2c_server_and_client_in_tasks() {
    run(Version::H2c);
}
