//! The corio-coro implementations: stackful tasks on one [`Scheduler`], doing their IO with
//! `corio_coro::io` (ops queued by all tasks of one tick go to the kernel in one submission) or
//! with `corio_coro::net`'s std-shaped sockets.

use std::io::{self, Read as _};
use std::net::TcpStream as StdTcpStream;
use std::time::{Duration, Instant};

use corio_aio::op::{OpExt, Recv, Send, Timeout};
use corio_coro::net::TcpStream;
use corio_coro::{Options, RunMode, Scheduler, Task, yield_now};

use super::echo::{self, Outcome, Side};

/// A scheduler whose IO queue holds at least `in_flight` ops besides its cancel reserve.
fn scheduler(in_flight: usize) -> io::Result<Scheduler> {
    let entries = (in_flight + in_flight / 8 + 64).max(4096);
    Scheduler::with_options(Options::new().io_queue_entries(u32::try_from(entries).map_err(io::Error::other)?))
}

/// spawn10: from the scheduler's thread, spawn 10 tasks that each park in `yield_now`, wake
/// each, join each.
pub fn spawn<const TASKS: usize>(rounds: usize) -> io::Result<Duration> {
    let scheduler = Scheduler::new()?;
    let start = Instant::now();
    for _ in 0..rounds {
        let handles: [Task<io::Result<()>>; TASKS] = std::array::from_fn(|_| scheduler.spawn(|| yield_now(1u8)));
        for h in &handles {
            h.wakeup();
        }
        for h in handles {
            h.join()?;
        }
    }
    Ok(start.elapsed())
}

/// ping_pong with `corio_coro::io::multi`: the client task sends message `i` soft-linked to
/// the recv of its reply (one `multi` per round trip); the server task receives message 0,
/// then per round sends back what it received soft-linked to the recv of the next message.
pub fn ping_pong(n: u32, client: StdTcpStream, server: StdTcpStream, check: fn([u8; 4], u32)) -> io::Result<Duration> {
    let scheduler = scheduler(8)?;
    let server = scheduler.spawn(move || -> io::Result<()> {
        let (mut got, mut next) = ([0u8; 4], [0u8; 4]);
        len4(corio_coro::io::single(Recv::new(&server, &mut got).wait_all())?)?;
        for i in 0..n {
            check(got, i);
            if i + 1 == n {
                len4(corio_coro::io::single(Send::new(&server, &got))?)?;
            } else {
                let (sent, read) =
                    corio_coro::io::multi((Send::new(&server, &got).soft(), Recv::new(&server, &mut next).wait_all()))?;
                len4(sent)?;
                len4(read)?;
                got = next;
            }
        }
        Ok(())
    });
    let client = scheduler.spawn(move || -> io::Result<Duration> {
        let start = Instant::now();
        let mut reply = [0u8; 4];
        for i in 0..n {
            let out = i.to_le_bytes();
            let (sent, read) =
                corio_coro::io::multi((Send::new(&client, &out).soft(), Recv::new(&client, &mut reply).wait_all()))?;
            len4(sent)?;
            len4(read)?;
            check(reply, i);
        }
        Ok(start.elapsed())
    });
    let elapsed = client.join()?;
    server.join()?;
    Ok(elapsed)
}

fn len4(len: usize) -> io::Result<()> {
    if len == 4 { Ok(()) } else { Err(io::Error::other(format!("short transfer: {len} of 4 bytes"))) }
}

/// ping_pong with `corio_coro::net::TcpStream`'s `write_all` / `read_exact`, both tasks on one
/// scheduler.
pub fn ping_pong_net(
    n: u32,
    client: StdTcpStream,
    server: StdTcpStream,
    check: fn([u8; 4], u32),
) -> io::Result<Duration> {
    use std::io::Write as _;
    let scheduler = scheduler(8)?;
    let (mut client, mut server) = (TcpStream::from(client), TcpStream::from(server));
    let server = scheduler.spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 4];
        for _ in 0..n {
            server.read_exact(&mut buf)?;
            server.write_all(&buf)?;
        }
        Ok(())
    });
    let client = scheduler.spawn(move || -> io::Result<Duration> {
        let start = Instant::now();
        let mut buf = [0u8; 4];
        for i in 0..n {
            client.write_all(&i.to_le_bytes())?;
            client.read_exact(&mut buf)?;
            check(buf, i);
        }
        Ok(start.elapsed())
    });
    let elapsed = client.join()?;
    server.join()?;
    Ok(elapsed)
}

/// echo: a task per connection and side, each with `corio_coro::net::TcpStream` (`write_all`
/// then `read_exact` on the client side, `read_exact` then `write_all` on the server side).
pub fn echo(side: &Side, c: usize, m: usize) -> Outcome {
    let (clients, servers) = echo::std_sockets(side, c)?;
    let scheduler = scheduler(clients.len() + servers.len())?;
    for s in servers {
        let s = TcpStream::from(s);
        scheduler.spawn(move || echo::serve(s)).detach();
    }
    let start = Instant::now();
    let tasks: Vec<Task<io::Result<Vec<u64>>>> = clients
        .into_iter()
        .enumerate()
        .map(|(k, s)| {
            let mut s = TcpStream::from(s);
            scheduler.spawn(move || echo::client_loop(k, m, &mut s))
        })
        .collect();
    let mut latencies = Vec::with_capacity(c);
    for t in tasks {
        latencies.push(t.join()?);
    }
    let elapsed = start.elapsed();
    // The clients' sockets are closed: each server task reads EOF and ends.
    scheduler.run(RunMode::Wait)?;
    if echo::rounds_wanted() {
        eprintln!("{:?}", scheduler.metrics());
    }
    Ok((elapsed, latencies))
}

/// timers: a task per timer, each parked in `io::single(Timeout)`; returns each one's
/// lateness in ns.
pub fn timers(durations: &[Duration], late: fn(Instant, Duration) -> u64) -> io::Result<(Duration, Vec<u64>)> {
    let scheduler = scheduler(durations.len())?;
    let start = Instant::now();
    let tasks: Vec<Task<io::Result<u64>>> = durations
        .iter()
        .map(|&d| {
            scheduler.spawn(move || {
                corio_coro::io::single(Timeout::new(d))?;
                Ok(late(start, d))
            })
        })
        .collect();
    let mut lateness = Vec::with_capacity(durations.len());
    for t in tasks {
        lateness.push(t.join()?);
    }
    Ok((start.elapsed(), lateness))
}

/// The `--idle-server <n>` helper: accepts `n` connections, each handed to a task parked in a
/// 64-byte read; prints `PORT <p>`, then `READY <VmRSS KiB before accepting>` once all are
/// parked; then waits (until killed, or until every connection has closed).
pub fn idle_server(n: usize) -> io::Result<()> {
    let scheduler = scheduler(n)?;
    let listener = corio_coro::net::TcpListener::bind("127.0.0.1:0")?;
    echo::announce(listener.local_addr()?)?;
    let before = crate::util::vm_rss_kib().unwrap_or(0);
    let acceptor = scheduler.spawn(move || -> io::Result<()> {
        for _ in 0..n {
            let (s, _) = listener.accept()?;
            corio_coro::spawn(move || {
                let mut buf = [0u8; 64];
                let _ = (&s).read(&mut buf);
            })
            .detach();
        }
        Ok(())
    });
    acceptor.join()?;
    if scheduler.live_tasks() != n {
        return Err(io::Error::other(format!("{} tasks parked, {n} expected", scheduler.live_tasks())));
    }
    ready(before)?;
    scheduler.run(RunMode::Wait)
}

/// Tells the idle workload's parent that every connection is parked.
pub fn ready(rss_before_kib: u64) -> io::Result<()> {
    use std::io::Write as _;
    let mut out = io::stdout().lock();
    writeln!(out, "READY {rss_before_kib}")?;
    out.flush()
}
