//! echo: C concurrent loopback connections, each doing M round trips of 512-byte messages;
//! throughput and round-trip latency percentiles.
//!
//! Client and server run in the same process on one thread (std: a thread per connection and
//! side). Connections are set up before the clock starts. Every client fills message `seq` of
//! connection `k` with a pattern of its own and checks the echoed bytes; the clock stops when
//! every client has received its last reply. Latencies are kept per client and merged into one
//! `hdrhistogram` afterwards.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use corio_aio::op::{self as aio, OpExt};
use corio_aio::{Dynamic, Mode, Value};

use super::{Case, rt};
use crate::harness::Sample;
use crate::util::{self, check, fill};

const SIZE: usize = 512;
/// Thread-per-connection runs only up to this many connections.
const MAX_THREADS: usize = 64;

fn counts(quick: bool) -> &'static [usize] {
    if quick { &[1, 64, 1024] } else { &[1, 64, 1024, 10_000] }
}

/// Round trips per connection: about the same total for every C.
fn round_trips(c: usize, quick: bool) -> usize {
    let total = if quick { 20_000 } else { 200_000 };
    (total / c).max(10)
}

pub fn cases(quick: bool) -> Vec<Case> {
    counts(quick)
        .iter()
        .map(|&c| {
            let m = round_trips(c, quick);
            let mut case =
                Case::new("echo", Some(&format!("c{c}")), format!("{c} connections × {m} round trips of {SIZE} B"))
                    .metric("throughput", "k msg/s", true)
                    .note(
                        "Clients and servers in one process on one thread (std-threads: a thread per connection \
                         and side); set-up not timed; latency = request write to end of reply read.",
                    );
            let (need, have) = (2 * c as u64 + 256, util::fd_limit());
            if need > have {
                let why = format!(
                    "not run: {c} connections need {need} descriptors in one process; RLIMIT_NOFILE allows {have} here"
                );
                for imp in ["corio-aio", "tokio", "compio", "monoio", "may"] {
                    case = case.absent(imp, &why);
                }
            } else if c <= MAX_THREADS {
                case = case.impls(&["corio-aio", "tokio", "compio", "monoio", "may", "std-threads"]);
            } else {
                case = case.impls(&["corio-aio", "tokio", "compio", "monoio", "may"]);
            }
            if c > MAX_THREADS {
                case = case.absent("std-threads", &format!("not run: thread per connection only up to {MAX_THREADS}"));
            }
            case
        })
        .collect()
}

pub fn run(case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let c: usize = case.variant().trim_start_matches('c').parse().map_err(io::Error::other)?;
    let m = round_trips(c, quick);
    let (elapsed, latencies) = match imp {
        "corio-aio" => corio(c, m)?,
        "tokio" => tokio(c, m)?,
        "compio" => compio(c, m)?,
        "monoio" => monoio(c, m)?,
        "may" => may(c, m)?,
        "std-threads" => threads(c, m)?,
        _ => return Err(super::unknown(imp)),
    };
    let mut hist = util::histogram();
    let mut n = 0usize;
    for per_client in &latencies {
        for &ns in per_client {
            util::record(&mut hist, Duration::from_nanos(ns));
            n += 1;
        }
    }
    if n != c * m {
        return Err(io::Error::other(format!("{n} round trips recorded, {} expected", c * m)));
    }
    Ok(Sample::new(n as f64 / elapsed.as_secs_f64() / 1e3)
        .with("p50_us", util::quantile_us(&hist, 0.5))
        .with("p99_us", util::quantile_us(&hist, 0.99)))
}

/// What each implementation returns: the time for all round trips, and each client's latencies
/// in nanoseconds.
type Outcome = io::Result<(Duration, Vec<Vec<u64>>)>;

fn nanos(since: Instant) -> u64 {
    since.elapsed().as_nanos() as u64
}

/// `c` connected pairs (client, server) over loopback with TCP_NODELAY, connected one at a time.
fn std_pairs(c: usize) -> io::Result<Vec<(TcpStream, TcpStream)>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    (0..c)
        .map(|_| {
            let client = TcpStream::connect(addr)?;
            let (server, _) = listener.accept()?;
            client.set_nodelay(true)?;
            server.set_nodelay(true)?;
            Ok((client, server))
        })
        .collect()
}

// user_data = connection * 4 + what.
const CLIENT_SEND: u64 = 0;
const CLIENT_RECV: u64 = 1;
const SERVER_RECV: u64 = 2;
const SERVER_SEND: u64 = 3;

/// One `Dynamic` drives a state machine per connection: the client side queues
/// `send → recv` (soft-linked) per round trip; the server side queues a recv, then a send of
/// the same buffer once the recv has completed.
fn corio(c: usize, m: usize) -> Outcome {
    let pairs = std_pairs(c)?;
    // Three buffers per connection (client out, client in, server), declared before the ring
    // so that they outlive it: the ring's drop cancels and waits for its ops.
    let mut slab = vec![0u8; 3 * SIZE * c].into_boxed_slice();
    let base = slab.as_mut_ptr();
    let buf = |k: usize, which: usize| -> &'static mut [u8] {
        // SAFETY: in bounds of `slab`, which outlives the ring and is never touched through
        // `slab` itself. Each buffer is referenced either by one op in flight or by this
        // function's caller until the op is queued or after it completed, never both.
        unsafe { std::slice::from_raw_parts_mut(base.add((k * 3 + which) * SIZE), SIZE) }
    };
    let mut ring = Dynamic::new(u32::try_from(3 * c).map_err(io::Error::other)?)?;
    let mut latencies: Vec<Vec<u64>> = (0..c).map(|_| Vec::with_capacity(m)).collect();
    let mut sent_at = vec![Instant::now(); c];
    let mut served = vec![0usize; c];
    let mut events: Vec<(u64, io::Result<Value>)> = Vec::with_capacity(3 * c);

    let client_round = |ring: &mut Dynamic<'static>, k: usize, seq: usize| -> io::Result<()> {
        let (client, _) = &pairs[k];
        let out = buf(k, 0);
        fill(out, k as u64, seq as u64);
        let batch = (
            aio::Send::new(client, out).user_data(k as u64 * 4 + CLIENT_SEND).soft(),
            aio::Recv::new(client, buf(k, 1)).wait_all().user_data(k as u64 * 4 + CLIENT_RECV),
        );
        // SAFETY: the socket and buffers outlive the ring (see above) and are not touched
        // until these ops complete.
        unsafe { ring.queue_unchecked(batch) }.map(drop)
    };
    let server_recv = |ring: &mut Dynamic<'static>, k: usize| -> io::Result<()> {
        let op = aio::Recv::new(&pairs[k].1, buf(k, 2)).wait_all().user_data(k as u64 * 4 + SERVER_RECV);
        // SAFETY: as for `client_round`.
        unsafe { ring.queue_unchecked(op) }.map(drop)
    };

    let start = Instant::now();
    for (k, at) in sent_at.iter_mut().enumerate() {
        server_recv(&mut ring, k)?;
        *at = Instant::now();
        client_round(&mut ring, k, 0)?;
    }
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |done| events.push((done.user_data, done.result)))?;
        for (data, result) in events.drain(..) {
            let (k, what) = ((data / 4) as usize, data % 4);
            match result {
                Ok(Value::Len(SIZE)) => {}
                other => return Err(io::Error::other(format!("connection {k} op {what}: {other:?}"))),
            }
            match what {
                CLIENT_SEND => {}
                CLIENT_RECV => {
                    latencies[k].push(nanos(sent_at[k]));
                    let seq = latencies[k].len();
                    check(buf(k, 1), k as u64, seq as u64 - 1);
                    if seq < m {
                        sent_at[k] = Instant::now();
                        client_round(&mut ring, k, seq)?;
                    }
                }
                SERVER_RECV => {
                    let op = aio::Send::new(&pairs[k].1, buf(k, 2)).user_data(k as u64 * 4 + SERVER_SEND);
                    // SAFETY: as for `client_round`; the recv into this buffer has completed.
                    unsafe { ring.queue_unchecked(op) }?;
                }
                _ => {
                    served[k] += 1;
                    if served[k] < m {
                        server_recv(&mut ring, k)?;
                    }
                }
            }
        }
    }
    let elapsed = start.elapsed();
    drop(ring);
    drop(slab);
    Ok((elapsed, latencies))
}

fn tokio(c: usize, m: usize) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt::tokio().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                s.set_nodelay(true).expect("nodelay");
                tokio::spawn(async move {
                    let mut buf = [0u8; SIZE];
                    while s.read_exact(&mut buf).await.is_ok() {
                        s.write_all(&buf).await.expect("server write");
                    }
                });
            }
        });
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

fn compio(c: usize, m: usize) -> Outcome {
    use compio::BufResult;
    use compio::io::{AsyncReadExt, AsyncWriteExt};
    rt::compio().block_on(async {
        let listener = compio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        compio::runtime::spawn(async move {
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
        })
        .detach();
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

fn monoio(c: usize, m: usize) -> Outcome {
    use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
    rt::monoio(false, || async move {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0")?;
        let addr: SocketAddr = listener.local_addr()?;
        monoio::spawn(async move {
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
        });
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

fn client_loop(k: usize, m: usize, s: &mut (impl io::Read + io::Write)) -> io::Result<Vec<u64>> {
    let (mut out, mut inb, mut lat) = ([0u8; SIZE], [0u8; SIZE], Vec::with_capacity(m));
    for seq in 0..m {
        fill(&mut out, k as u64, seq as u64);
        let t = Instant::now();
        s.write_all(&out)?;
        s.read_exact(&mut inb)?;
        lat.push(nanos(t));
        check(&inb, k as u64, seq as u64);
    }
    Ok(lat)
}

fn serve(mut s: impl io::Read + io::Write) {
    let mut buf = [0u8; SIZE];
    while s.read_exact(&mut buf).is_ok() {
        s.write_all(&buf).expect("server write");
    }
}

fn may(c: usize, m: usize) -> Outcome {
    rt::may();
    let listener = may::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut clients = Vec::with_capacity(c);
    for _ in 0..c {
        let client = may::net::TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        may::go!(move || serve(server));
        clients.push(client);
    }
    let start = Instant::now();
    let tasks: Vec<_> =
        clients.into_iter().enumerate().map(|(k, mut s)| may::go!(move || client_loop(k, m, &mut s))).collect();
    let mut latencies = Vec::with_capacity(c);
    for t in tasks {
        latencies.push(t.join().map_err(|_| io::Error::other("may client panicked"))??);
    }
    Ok((start.elapsed(), latencies))
}

fn threads(c: usize, m: usize) -> Outcome {
    let pairs = std_pairs(c)?;
    let start = Instant::now();
    let tasks: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(k, (mut client, server))| {
            std::thread::spawn(move || serve(server));
            std::thread::spawn(move || client_loop(k, m, &mut client))
        })
        .collect();
    let mut latencies = Vec::with_capacity(c);
    for t in tasks {
        latencies.push(t.join().map_err(|_| io::Error::other("client thread panicked"))??);
    }
    Ok((start.elapsed(), latencies))
}
