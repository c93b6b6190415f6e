//! echo: C concurrent loopback connections, each doing M round trips of 512-byte messages;
//! throughput and round-trip latency percentiles.
//!
//! Client and server sides run in the same process on one thread (std: a thread per connection
//! and side), unless the process may not hold 2 × C descriptors: then the server side runs in a
//! helper process (`--echo-server`, same implementation). Connections are set up before the
//! clock starts. Every client fills message `seq` of connection `k` with a pattern of its own and
//! checks the echoed bytes; the clock stops when every client has received its last reply.
//! Latencies are kept per client and merged into one `hdrhistogram` afterwards.
//!
//! With `CORIO_ECHO_ROUNDS=1` a run also prints, to stderr, each round's latency quantiles (round
//! r = every client's message r), the first round's latency at ten clients spread over the
//! connection order, and how many of the samples at or above the p99 each round holds: whether
//! the tail is a start-up transient or the steady state's (corio-coro adds its scheduler's
//! [`Metrics`](corio_coro::Metrics)).

use std::io::{self, BufRead as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use corio_aio::op::{self as aio, OpExt};
use corio_aio::{Dynamic, Mode, Value};

use super::{Case, echo_async, rt};
use crate::harness::Sample;
use crate::util::{self, check, fill};

pub const SIZE: usize = 512;
/// Thread-per-connection runs only up to this many connections.
const MAX_THREADS: usize = 64;
const ASYNC_IMPLS: &[&str] = &["corio-aio", "corio-coro", "tokio", "compio", "monoio", "may"];

fn counts(quick: bool) -> &'static [usize] {
    if quick { &[1, 64, 1024] } else { &[1, 64, 1024, 10_000] }
}

/// Round trips per connection: about the same total for every C.
fn round_trips(c: usize, quick: bool) -> usize {
    let total = if quick { 20_000 } else { 200_000 };
    (total / c).max(10)
}

/// Where the server side runs for `c` connections: `Some(false)` in the same process,
/// `Some(true)` in a helper process, `None` nowhere (too few descriptors even for that).
fn split(c: usize) -> Option<bool> {
    let have = util::fd_limit();
    let need = |ends: usize| (ends * c) as u64 + 256;
    if need(2) <= have {
        Some(false)
    } else if need(1) <= have {
        Some(true)
    } else {
        None
    }
}

pub fn cases(quick: bool) -> Vec<Case> {
    counts(quick)
        .iter()
        .map(|&c| {
            let m = round_trips(c, quick);
            let mut case =
                Case::new("echo", Some(&format!("c{c}")), format!("{c} connections × {m} round trips of {SIZE} B"))
                    .metric("throughput", "k msg/s", true);
            match split(c) {
                None => {
                    let why = format!("not run: {c} connections need {} descriptors per side", c + 256);
                    for imp in ASYNC_IMPLS {
                        case = case.absent(imp, &why);
                    }
                }
                Some(true) => {
                    case = case.impls(ASYNC_IMPLS).note(format!(
                        "RLIMIT_NOFILE ({}) is too low for both ends in one process: the server side runs in a \
                         helper process (same implementation, one thread); helper_rss_mib is its peak RSS.",
                        util::fd_limit()
                    ));
                }
                Some(false) => {
                    case = case.impls(ASYNC_IMPLS).note(
                        "Clients and servers in one process on one thread (std-threads: a thread per connection \
                         and side); set-up not timed; latency = request write to end of reply read.",
                    );
                }
            }
            if c <= MAX_THREADS {
                case.impls.push("std-threads");
            } else {
                case = case.absent("std-threads", &format!("not run: thread per connection only up to {MAX_THREADS}"));
            }
            case
        })
        .collect()
}

/// Which side(s) of the echo one process runs.
pub enum Side {
    /// Clients and servers in this process.
    Both,
    /// Servers only (the helper process): listen, print `PORT <n>`, serve.
    Server,
    /// Clients only, of a helper process's server at this address.
    Clients(SocketAddr),
}

/// What each implementation returns: the time for all round trips, and each client's latencies
/// in nanoseconds (nothing for a server-only side).
pub type Outcome = io::Result<(Duration, Vec<Vec<u64>>)>;

fn run_side(imp: &str, side: &Side, c: usize, m: usize) -> Outcome {
    match imp {
        "corio-aio" => corio(side, c, m),
        "corio-coro" => super::coro::echo(side, c, m),
        "tokio" => echo_async::tokio(side, c, m),
        "compio" => echo_async::compio(side, c, m),
        "monoio" => echo_async::monoio(side, c, m),
        "may" => may(side, c, m),
        "std-threads" if matches!(side, Side::Both) => threads(c, m),
        _ => Err(super::unknown(imp)),
    }
}

pub fn run(case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let c: usize = case.variant().trim_start_matches('c').parse().map_err(io::Error::other)?;
    let m = round_trips(c, quick);
    let mut helper_rss = None;
    let (elapsed, latencies) = match split(c) {
        Some(false) => run_side(imp, &Side::Both, c, m)?,
        Some(true) => {
            let (mut helper, addr) = spawn_server(imp, c, m)?;
            let outcome = run_side(imp, &Side::Clients(addr), c, m);
            helper_rss = util::vm_hwm_kib(Some(helper.id()));
            let _ = helper.kill();
            util::wait4(helper.id())?;
            outcome?
        }
        None => return Err(io::Error::other("too few descriptors")),
    };
    if rounds_wanted() {
        print_rounds(&latencies, m);
    }
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
    let mut sample = Sample::new(n as f64 / elapsed.as_secs_f64() / 1e3)
        .with("p50_us", util::quantile_us(&hist, 0.5))
        .with("p99_us", util::quantile_us(&hist, 0.99));
    if let Some(kib) = helper_rss {
        sample = sample.with("helper_rss_mib", kib as f64 / 1024.0);
    }
    Ok(sample)
}

/// Whether `CORIO_ECHO_ROUNDS=1` asks for the per-round report (see the module docs).
pub(super) fn rounds_wanted() -> bool {
    std::env::var_os("CORIO_ECHO_ROUNDS").is_some_and(|v| v == "1")
}

/// The per-round report (see the module docs); `latencies[k][r]` is client k's round r, in ns.
fn print_rounds(latencies: &[Vec<u64>], m: usize) {
    let ms = |ns: u64| ns as f64 / 1e6;
    for r in 0..m {
        let mut round: Vec<u64> = latencies.iter().filter_map(|l| l.get(r).copied()).collect();
        round.sort_unstable();
        let Some(&max) = round.last() else { continue };
        let q = |f: f64| round[((round.len() - 1) as f64 * f) as usize];
        eprintln!("round {r}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", ms(q(0.5)), ms(q(0.99)), ms(max));
    }
    let step = latencies.len().div_ceil(10).max(1);
    let first: Vec<String> =
        latencies.iter().step_by(step).filter_map(|l| l.first()).map(|&ns| format!("{:.0}", ms(ns))).collect();
    eprintln!("round 0 of every {step}th client in connection order, ms: {}", first.join(" "));
    let mut all: Vec<u64> = latencies.iter().flatten().copied().collect();
    all.sort_unstable();
    let Some(&p99) = all.get(all.len().saturating_sub(1) * 99 / 100) else { return };
    let tail: Vec<usize> =
        (0..m).map(|r| latencies.iter().filter(|l| l.get(r).is_some_and(|&ns| ns >= p99)).count()).collect();
    eprintln!("p99 {:.1} ms; samples at or above it, by round: {tail:?}", ms(p99));
}

/// Starts `corio-bench --echo-server <imp> <c> <m>` and reads the port it listens on.
fn spawn_server(imp: &str, c: usize, m: usize) -> io::Result<(std::process::Child, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--echo-server", imp, &c.to_string(), &m.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse::<u16>().ok());
    match port {
        Some(port) => Ok((child, SocketAddr::from(([127, 0, 0, 1], port)))),
        None => {
            let _ = child.kill();
            let _ = util::wait4(child.id());
            Err(io::Error::other(format!("echo server helper said {line:?}")))
        }
    }
}

/// The `--echo-server <imp> <c> <m>` helper process: serves until killed (or, for corio, until
/// every connection has had its `m` round trips).
pub fn server_main(imp: &str, c: &str, m: &str) -> ExitCode {
    // SAFETY: plain prctl; the helper must not outlive the benchmark run that started it.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    util::raise_fd_limit();
    let (Ok(c), Ok(m)) = (c.parse(), m.parse()) else {
        eprintln!("--echo-server: bad counts");
        return ExitCode::from(2);
    };
    match run_side(imp, &Side::Server, c, m) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo server {imp}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Tells the parent where the server listens.
pub fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "PORT {}", addr.port())?;
    out.flush()
}

pub fn nanos(since: Instant) -> u64 {
    since.elapsed().as_nanos() as u64
}

fn nodelay(s: TcpStream) -> io::Result<TcpStream> {
    s.set_nodelay(true)?;
    Ok(s)
}

/// This process's client and server sockets for `side`; in `Both`, client `k` is connected to
/// server `k`.
pub(super) fn std_sockets(side: &Side, c: usize) -> io::Result<(Vec<TcpStream>, Vec<TcpStream>)> {
    match side {
        Side::Clients(addr) => {
            Ok(((0..c).map(|_| nodelay(TcpStream::connect(addr)?)).collect::<io::Result<_>>()?, vec![]))
        }
        Side::Server => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            announce(listener.local_addr()?)?;
            Ok((vec![], (0..c).map(|_| nodelay(listener.accept()?.0)).collect::<io::Result<_>>()?))
        }
        Side::Both => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let pairs = (0..c).map(|_| {
                let client = nodelay(TcpStream::connect(addr)?)?;
                Ok((client, nodelay(listener.accept()?.0)?))
            });
            pairs.collect::<io::Result<Vec<_>>>().map(|p| p.into_iter().unzip())
        }
    }
}

// user_data = connection * 4 + what.
const CLIENT_SEND: u64 = 0;
const CLIENT_RECV: u64 = 1;
const SERVER_RECV: u64 = 2;
const SERVER_SEND: u64 = 3;

/// One `Dynamic` drives a state machine per connection and side: the client side queues
/// `send → recv` (soft-linked) per round trip; the server side queues a recv, then a send of
/// the same buffer once the recv has completed.
///
/// With `CORIO_ECHO_FIXED=1` every socket moves into the ring's registered file table (client
/// `k` in slot `k`, server `k` in slot `clients + k`) and the ops name slots (io_uring:
/// `IOSQE_FIXED_FILE`, no descriptor lookup per op).
fn corio(side: &Side, c: usize, m: usize) -> Outcome {
    let (mut clients, mut servers) = std_sockets(side, c)?;
    let fixed = std::env::var_os("CORIO_ECHO_FIXED").is_some_and(|v| v == "1");
    let (n_clients, n_servers) = (clients.len(), servers.len());
    let slots: Vec<aio::Fixed> = (0..n_clients + n_servers).map(|i| aio::Fixed(i as u32)).collect();
    let (client_slots, server_slots) = slots.split_at(n_clients);
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
    let capacity = 2 * n_clients + n_servers;
    let mut ring = Dynamic::new(u32::try_from(capacity).map_err(io::Error::other)?)?;
    if fixed {
        ring.register_files(slots.len() as u32)?;
        for (&slot, socket) in slots.iter().zip(clients.drain(..).chain(servers.drain(..))) {
            ring.install_file(slot, socket)?;
        }
    }
    let mut latencies: Vec<Vec<u64>> = (0..n_clients).map(|_| Vec::with_capacity(m)).collect();
    let mut sent_at = vec![Instant::now(); n_clients];
    let mut served = vec![0usize; n_servers];
    let mut events: Vec<(u64, io::Result<Value>)> = Vec::with_capacity(capacity);

    let client_round = |ring: &mut Dynamic<'static>, k: usize, seq: usize| -> io::Result<()> {
        let out = buf(k, 0);
        fill(out, k as u64, seq as u64);
        let (send, recv) = (k as u64 * 4 + CLIENT_SEND, k as u64 * 4 + CLIENT_RECV);
        if fixed {
            let batch = (
                aio::Send::new(&client_slots[k], out).user_data(send).soft(),
                aio::Recv::new(&client_slots[k], buf(k, 1)).wait_all().user_data(recv),
            );
            // SAFETY: the buffers outlive the ring (see above) and are not touched until
            // these ops complete; the sockets are the ring's.
            return unsafe { ring.queue_unchecked(batch) }.map(drop);
        }
        let batch = (
            aio::Send::new(&clients[k], out).user_data(send).soft(),
            aio::Recv::new(&clients[k], buf(k, 1)).wait_all().user_data(recv),
        );
        // SAFETY: the socket and buffers outlive the ring (see above) and are not touched
        // until these ops complete.
        unsafe { ring.queue_unchecked(batch) }.map(drop)
    };
    let server_recv = |ring: &mut Dynamic<'static>, k: usize| -> io::Result<()> {
        let data = k as u64 * 4 + SERVER_RECV;
        if fixed {
            let op = aio::Recv::new(&server_slots[k], buf(k, 2)).wait_all().user_data(data);
            // SAFETY: as for `client_round`.
            return unsafe { ring.queue_unchecked(op) }.map(drop);
        }
        let op = aio::Recv::new(&servers[k], buf(k, 2)).wait_all().user_data(data);
        // SAFETY: as for `client_round`.
        unsafe { ring.queue_unchecked(op) }.map(drop)
    };

    let start = Instant::now();
    for k in 0..n_servers {
        server_recv(&mut ring, k)?;
    }
    for (k, at) in sent_at.iter_mut().enumerate() {
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
                    let data = k as u64 * 4 + SERVER_SEND;
                    if fixed {
                        let op = aio::Send::new(&server_slots[k], buf(k, 2)).user_data(data);
                        // SAFETY: as for `client_round`; the recv into this buffer has completed.
                        unsafe { ring.queue_unchecked(op) }?;
                    } else {
                        let op = aio::Send::new(&servers[k], buf(k, 2)).user_data(data);
                        // SAFETY: as for `client_round`; the recv into this buffer has completed.
                        unsafe { ring.queue_unchecked(op) }?;
                    }
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

pub(super) fn client_loop(k: usize, m: usize, s: &mut (impl io::Read + io::Write)) -> io::Result<Vec<u64>> {
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

pub(super) fn serve(mut s: impl io::Read + io::Write) {
    let mut buf = [0u8; SIZE];
    while s.read_exact(&mut buf).is_ok() {
        s.write_all(&buf).expect("server write");
    }
}

fn may(side: &Side, c: usize, m: usize) -> Outcome {
    rt::may();
    let addr = match side {
        Side::Clients(addr) => *addr,
        Side::Both | Side::Server => {
            let listener = may::net::TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let accept = move || {
                while let Ok((server, _)) = listener.accept() {
                    server.set_nodelay(true).expect("nodelay");
                    may::go!(move || serve(server));
                }
            };
            if let Side::Server = side {
                announce(addr)?;
                may::go!(accept).join().map_err(|_| io::Error::other("may accept loop panicked"))?;
                return Ok(Default::default());
            }
            may::go!(accept);
            addr
        }
    };
    let mut clients = Vec::with_capacity(c);
    for _ in 0..c {
        let client = may::net::TcpStream::connect(addr)?;
        client.set_nodelay(true)?;
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
    let (clients, servers) = std_sockets(&Side::Both, c)?;
    let pairs = clients.into_iter().zip(servers);
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
