//! ping_pong: one loopback TCP connection, 4-byte messages, strictly one round trip at a time.
//!
//! Message `i` is `i` as little-endian `u32`; the client checks every reply. The runtime peers
//! echo what they received. corio and raw io-uring submit one batch per round trip made of two
//! soft-linked chains, client `send → recv` and server `recv → send`; as the server's send is
//! queued before its recv completes, it sends the reply it expects (message `i`) from its own
//! buffer and checks afterwards that it received exactly that, so both ends verify every byte.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corio_aio::Dynamic;
use corio_aio::op::{self as aio, OpExt};

use super::{Case, rt};
use crate::harness::Sample;

pub fn cases(quick: bool) -> Vec<Case> {
    let n = round_trips(quick);
    vec![
        Case::new("ping_pong", None, format!("{n} round trips of 4 bytes on one loopback connection"))
            .metric("round trip", "µs", false)
            .impls(&[
                "corio-aio",
                "corio-coro",
                "corio-coro-net",
                "io-uring",
                "tokio",
                "compio",
                "monoio",
                "monoio-legacy",
                "may",
                "std-threads",
            ])
            .note(
                "corio-aio and io-uring: one submission per round trip holding two soft-linked chains, client \
                 send → recv and server recv → send; the server's send carries the reply it expects and the \
                 server checks afterwards that it received exactly that; each waits for all four completions \
                 at once (`complete_at_least(4)`, `submit_and_wait(4)`), and waits_per_rt counts those calls. \
                 The peers echo what they read.",
            )
            .note(
                "corio-coro: a client task and a server task on one scheduler, one `io::multi` per round trip \
                 each: client send → recv (soft link), server send of what it received → recv of the next \
                 message; both tasks' ops reach the kernel in one submission per tick. corio-coro-net: the \
                 same two tasks with `coro::net::TcpStream` write_all / read_exact.",
            )
            .note("Client and server on one thread (std-threads: one thread each); TCP_NODELAY on both ends.")
            .note(
                "syscalls_per_rt: syscalls per round trip, both ends, from a perf counter on the \
                 raw_syscalls:sys_enter tracepoint (needs root or perf_event_paranoid <= 1; left out \
                 otherwise); threads still running at the end of the run are not counted (may's workers).",
            ),
    ]
}

fn round_trips(quick: bool) -> u32 {
    if quick { 20_000 } else { 500_000 }
}

pub fn run(_case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let n = round_trips(quick);
    let mut waits = None;
    // Before anything starts a thread: the threads a run starts are counted too.
    let syscalls = super::syscalls::SyscallCounter::start();
    let elapsed = match imp {
        "corio-aio" => corio(n, waits.insert(0))?,
        "corio-coro" => {
            let (client, server) = std_pair()?;
            super::coro::ping_pong(n, client, server, check)?
        }
        "corio-coro-net" => {
            let (client, server) = std_pair()?;
            super::coro::ping_pong_net(n, client, server, check)?
        }
        "io-uring" => raw(n, waits.insert(0))?,
        "tokio" => tokio(n)?,
        "compio" => compio(n)?,
        "monoio" => monoio(n, false)?,
        "monoio-legacy" => monoio(n, true)?,
        "may" => may(n)?,
        "std-threads" => threads(n)?,
        _ => return Err(super::unknown(imp)),
    };
    let mut sample = Sample::new(elapsed.as_secs_f64() * 1e6 / f64::from(n));
    // Syscalls per round trip, both ends together (setup included, a few dozen in all).
    if let Some(count) = syscalls.and_then(|c| c.read()) {
        sample = sample.with("syscalls_per_rt", count as f64 / f64::from(n));
    }
    // How many times per round trip the loop asked the kernel for completions.
    Ok(match waits {
        Some(w) => sample.with("waits_per_rt", w as f64 / f64::from(n)),
        None => sample,
    })
}

fn msg(i: u32) -> [u8; 4] {
    i.to_le_bytes()
}

fn check(got: [u8; 4], i: u32) {
    assert_eq!(got, msg(i), "round trip {i}: wrong bytes");
}

/// A connected pair over loopback, with TCP_NODELAY on both ends.
fn std_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

fn corio(n: u32, waits: &mut u64) -> io::Result<Duration> {
    let (client, server) = std_pair()?;
    // Buffers before the ring: the ring drops (cancelling and waiting) before they do.
    let (mut server_in, mut server_out, mut client_out, mut client_in) = ([0u8; 4], [0u8; 4], [0u8; 4], [0u8; 4]);
    let mut ring = Dynamic::new(8)?;
    let start = Instant::now();
    for i in 0..n {
        server_out.copy_from_slice(&msg(i));
        client_out.copy_from_slice(&msg(i));
        let batch = (
            aio::Recv::new(&server, &mut server_in).wait_all().soft(),
            aio::Send::new(&server, &server_out),
            aio::Send::new(&client, &client_out).soft(),
            aio::Recv::new(&client, &mut client_in).wait_all(),
        );
        // SAFETY: the loop below reaps all four ops before any buffer is touched again, and
        // the buffers outlive the ring (declared before it), whose drop waits for its ops.
        unsafe { ring.queue_unchecked(batch)? };
        let mut failed = None;
        // Wait for all four at once, as the raw loop's submit_and_wait(4) does.
        *waits += 1;
        ring.complete_at_least(4, |c| match c.result {
            Ok(corio_aio::Value::Len(4)) => {}
            other => failed = Some(format!("{}: {other:?}", c.op)),
        })?;
        if let Some(f) = failed {
            return Err(io::Error::other(f));
        }
        check(server_in, i);
        check(client_in, i);
    }
    Ok(start.elapsed())
}

fn raw(n: u32, waits: &mut u64) -> io::Result<Duration> {
    use io_uring::{opcode, squeue::Flags, types::Fd};
    let (client, server) = std_pair()?;
    let (sfd, cfd) = (Fd(server.as_raw_fd()), Fd(client.as_raw_fd()));
    let (mut server_in, mut server_out, mut client_out, mut client_in) = ([0u8; 4], [0u8; 4], [0u8; 4], [0u8; 4]);
    let mut ring = io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(8)?;
    let start = Instant::now();
    for i in 0..n {
        server_out.copy_from_slice(&msg(i));
        client_out.copy_from_slice(&msg(i));
        let entries = [
            opcode::Recv::new(sfd, server_in.as_mut_ptr(), 4).flags(libc::MSG_WAITALL).build().flags(Flags::IO_LINK),
            opcode::Send::new(sfd, server_out.as_ptr(), 4).build(),
            opcode::Send::new(cfd, client_out.as_ptr(), 4).build().flags(Flags::IO_LINK),
            opcode::Recv::new(cfd, client_in.as_mut_ptr(), 4).flags(libc::MSG_WAITALL).build(),
        ];
        // SAFETY: the buffers and sockets outlive the ops: the loop below reaps all four
        // completions before the buffers are read or rewritten.
        unsafe { ring.submission().push_multiple(&entries).expect("sq space") };
        let mut got = 0;
        while got < 4 {
            *waits += 1;
            ring.submit_and_wait(4 - got)?;
            for cqe in ring.completion() {
                if cqe.result() != 4 {
                    return Err(io::Error::other(format!("round trip {i}: op result {}", cqe.result())));
                }
                got += 1;
            }
        }
        check(server_in, i);
        check(client_in, i);
    }
    Ok(start.elapsed())
}

fn tokio(n: u32) -> io::Result<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt::tokio().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await?;
            s.set_nodelay(true)?;
            let mut buf = [0u8; 4];
            for _ in 0..n {
                s.read_exact(&mut buf).await?;
                s.write_all(&buf).await?;
            }
            io::Result::Ok(())
        });
        let mut c = tokio::net::TcpStream::connect(addr).await?;
        c.set_nodelay(true)?;
        let start = Instant::now();
        let mut buf = [0u8; 4];
        for i in 0..n {
            c.write_all(&msg(i)).await?;
            c.read_exact(&mut buf).await?;
            check(buf, i);
        }
        let elapsed = start.elapsed();
        server.await.map_err(io::Error::other)??;
        Ok(elapsed)
    })
}

fn compio(n: u32) -> io::Result<Duration> {
    use compio::BufResult;
    use compio::io::{AsyncReadExt, AsyncWriteExt};
    rt::compio().block_on(async {
        let listener = compio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = compio::runtime::spawn(async move {
            let (mut s, _) = listener.accept().await?;
            s.set_nodelay(true)?;
            let mut buf = [0u8; 4];
            for _ in 0..n {
                let BufResult(r, b) = s.read_exact(buf).await;
                r?;
                let BufResult(r, b) = s.write_all(b).await;
                r?;
                buf = b;
            }
            io::Result::Ok(())
        });
        let mut c = compio::net::TcpStream::connect(addr).await?;
        c.set_nodelay(true)?;
        let start = Instant::now();
        let mut buf = [0u8; 4];
        for i in 0..n {
            let BufResult(r, _) = c.write_all(msg(i)).await;
            r?;
            let BufResult(r, b) = c.read_exact(buf).await;
            r?;
            check(b, i);
            buf = b;
        }
        let elapsed = start.elapsed();
        server.await.map_err(|e| io::Error::other(format!("{e:?}")))??;
        Ok(elapsed)
    })
}

fn monoio(n: u32, legacy: bool) -> io::Result<Duration> {
    use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
    rt::monoio(legacy, || async move {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0")?;
        let addr: SocketAddr = listener.local_addr()?;
        let server = monoio::spawn(async move {
            let (mut s, _) = listener.accept().await?;
            s.set_nodelay(true)?;
            let mut buf = Vec::with_capacity(4);
            for _ in 0..n {
                buf.clear();
                let (r, b) = s.read_exact(buf).await;
                r?;
                let (r, b) = s.write_all(b).await;
                r?;
                buf = b;
            }
            io::Result::Ok(())
        });
        let mut c = monoio::net::TcpStream::connect(addr).await?;
        c.set_nodelay(true)?;
        let start = Instant::now();
        let (mut buf, mut out) = (Vec::with_capacity(4), Vec::with_capacity(4));
        for i in 0..n {
            out.clear();
            out.extend_from_slice(&msg(i));
            let (r, o) = c.write_all(out).await;
            r?;
            out = o;
            buf.clear();
            let (r, b) = c.read_exact(buf).await;
            r?;
            check(b[..4].try_into().expect("4 bytes"), i);
            buf = b;
        }
        let elapsed = start.elapsed();
        server.await?;
        Ok(elapsed)
    })
}

fn may(n: u32) -> io::Result<Duration> {
    rt::may();
    let listener = may::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = may::go!(move || -> io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 4];
        for _ in 0..n {
            s.read_exact(&mut buf)?;
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let client = may::go!(move || -> io::Result<Duration> {
        let mut c = may::net::TcpStream::connect(addr)?;
        c.set_nodelay(true)?;
        let start = Instant::now();
        let mut buf = [0u8; 4];
        for i in 0..n {
            c.write_all(&msg(i))?;
            c.read_exact(&mut buf)?;
            check(buf, i);
        }
        Ok(start.elapsed())
    });
    let elapsed = client.join().map_err(|_| io::Error::other("may client panicked"))??;
    server.join().map_err(|_| io::Error::other("may server panicked"))??;
    Ok(elapsed)
}

fn threads(n: u32) -> io::Result<Duration> {
    let (mut client, mut server) = std_pair()?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 4];
        for _ in 0..n {
            server.read_exact(&mut buf)?;
            server.write_all(&buf)?;
        }
        Ok(())
    });
    let start = Instant::now();
    let mut buf = [0u8; 4];
    for i in 0..n {
        client.write_all(&msg(i))?;
        client.read_exact(&mut buf)?;
        check(buf, i);
    }
    let elapsed = start.elapsed();
    echo.join().map_err(|_| io::Error::other("echo thread panicked"))??;
    Ok(elapsed)
}
