//! The echo workload on the async runtimes: tokio, compio and monoio, each on one thread.
//!
//! The server side accepts in a loop and spawns a task per connection that echoes until EOF;
//! the client side connects every client first, then starts the clock and spawns a task per
//! client.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::echo::{Outcome, SIZE, Side, announce, nanos};
use super::rt;
use crate::util::{check, fill};

pub fn tokio(side: &Side, c: usize, m: usize) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt::tokio().block_on(async {
        let addr = match side {
            Side::Clients(addr) => *addr,
            Side::Both | Side::Server => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                let accept = async move {
                    while let Ok((mut s, _)) = listener.accept().await {
                        s.set_nodelay(true).expect("nodelay");
                        tokio::spawn(async move {
                            let mut buf = [0u8; SIZE];
                            while s.read_exact(&mut buf).await.is_ok() {
                                s.write_all(&buf).await.expect("server write");
                            }
                        });
                    }
                };
                if let Side::Server = side {
                    announce(addr)?;
                    accept.await;
                    return Ok(Default::default());
                }
                tokio::spawn(accept);
                addr
            }
        };
        let mut clients = Vec::with_capacity(c);
        for _ in 0..c {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            clients.push(s);
        }
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(k, mut s)| {
                tokio::spawn(async move {
                    let (mut out, mut inb, mut lat) = ([0u8; SIZE], [0u8; SIZE], Vec::with_capacity(m));
                    for seq in 0..m {
                        fill(&mut out, k as u64, seq as u64);
                        let t = Instant::now();
                        s.write_all(&out).await?;
                        s.read_exact(&mut inb).await?;
                        lat.push(nanos(t));
                        check(&inb, k as u64, seq as u64);
                    }
                    io::Result::Ok(lat)
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(c);
        for t in tasks {
            latencies.push(t.await.map_err(io::Error::other)??);
        }
        Ok((start.elapsed(), latencies))
    })
}

pub fn compio(side: &Side, c: usize, m: usize) -> Outcome {
    use compio::BufResult;
    use compio::io::{AsyncReadExt, AsyncWriteExt};
    rt::compio().block_on(async {
        let addr = match side {
            Side::Clients(addr) => *addr,
            Side::Both | Side::Server => {
                let listener = compio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                let accept = async move {
                    while let Ok((mut s, _)) = listener.accept().await {
                        s.set_nodelay(true).expect("nodelay");
                        compio::runtime::spawn(async move {
                            let mut buf = [0u8; SIZE];
                            loop {
                                let BufResult(r, b) = s.read_exact(buf).await;
                                if r.is_err() {
                                    break;
                                }
                                let BufResult(r, b) = s.write_all(b).await;
                                r.expect("server write");
                                buf = b;
                            }
                        })
                        .detach();
                    }
                };
                if let Side::Server = side {
                    announce(addr)?;
                    accept.await;
                    return Ok(Default::default());
                }
                compio::runtime::spawn(accept).detach();
                addr
            }
        };
        let mut clients = Vec::with_capacity(c);
        for _ in 0..c {
            let s = compio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            clients.push(s);
        }
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(k, mut s)| {
                compio::runtime::spawn(async move {
                    let (mut out, mut inb, mut lat) = ([0u8; SIZE], [0u8; SIZE], Vec::with_capacity(m));
                    for seq in 0..m {
                        fill(&mut out, k as u64, seq as u64);
                        let t = Instant::now();
                        let BufResult(r, o) = s.write_all(out).await;
                        r?;
                        let BufResult(r, i) = s.read_exact(inb).await;
                        r?;
                        lat.push(nanos(t));
                        check(&i, k as u64, seq as u64);
                        (out, inb) = (o, i);
                    }
                    io::Result::Ok(lat)
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(c);
        for t in tasks {
            latencies.push(t.await.map_err(|e| io::Error::other(format!("{e:?}")))??);
        }
        Ok((start.elapsed(), latencies))
    })
}

pub fn monoio(side: &Side, c: usize, m: usize) -> Outcome {
    use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
    rt::monoio(false, || async move {
        let addr: SocketAddr = match side {
            Side::Clients(addr) => *addr,
            Side::Both | Side::Server => {
                let listener = monoio::net::TcpListener::bind("127.0.0.1:0")?;
                let addr = listener.local_addr()?;
                let accept = async move {
                    while let Ok((mut s, _)) = listener.accept().await {
                        s.set_nodelay(true).expect("nodelay");
                        monoio::spawn(async move {
                            let mut buf = Vec::with_capacity(SIZE);
                            loop {
                                buf.clear();
                                let (r, b) = s.read_exact(buf).await;
                                if r.is_err() {
                                    break;
                                }
                                let (r, b) = s.write_all(b).await;
                                r.expect("server write");
                                buf = b;
                            }
                        });
                    }
                };
                if let Side::Server = side {
                    announce(addr)?;
                    accept.await;
                    return Ok(Default::default());
                }
                monoio::spawn(accept);
                addr
            }
        };
        let mut clients = Vec::with_capacity(c);
        for _ in 0..c {
            let s = monoio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            clients.push(s);
        }
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(k, mut s)| {
                monoio::spawn(async move {
                    let (mut out, mut inb, mut lat) =
                        (vec![0u8; SIZE], Vec::with_capacity(SIZE), Vec::with_capacity(m));
                    for seq in 0..m {
                        fill(&mut out, k as u64, seq as u64);
                        let t = Instant::now();
                        let (r, o) = s.write_all(out).await;
                        r?;
                        inb.clear();
                        let (r, i) = s.read_exact(inb).await;
                        r?;
                        lat.push(nanos(t));
                        check(&i, k as u64, seq as u64);
                        (out, inb) = (o, i);
                    }
                    io::Result::Ok(lat)
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(c);
        for t in tasks {
            latencies.push(t.await?);
        }
        Ok((start.elapsed(), latencies))
    })
}
