//! The futures-io traits of coro::net's streams: poll-based reads and writes on completion IO,
//! what happens to ops whose future or stream is dropped, and mixing sync and async calls.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::future::{Future, poll_fn};
use std::io::{Read, Write};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use corio::coro::future::{block_on, sleep};
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::{RunMode, Scheduler};
use futures_io::{AsyncRead, AsyncWrite};

/// A connected pair: (client in a task's hands, the std server side for a plain thread).
fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (client, listener.accept().unwrap().0)
}

async fn read(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, buf)).await
}

async fn write_all(stream: &mut TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, data)).await?;
        data = &data[n..];
    }
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await
}

/// The number of ops in flight in `scheduler`'s IO queue (from its `Debug`).
fn in_flight(scheduler: &Scheduler) -> usize {
    let debug = format!("{scheduler:?}");
    let at = debug.find("in_flight: ").unwrap() + "in_flight: ".len();
    debug[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

fn drain(scheduler: &Scheduler) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(scheduler) > 0 && Instant::now() < deadline {
        scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    }
}

#[test]
fn echo_a_megabyte_through_the_buffers() {
    let scheduler = Scheduler::new().unwrap();
    let (client, mut server) = pair();
    let peer = std::thread::spawn(move || {
        let mut data = vec![0u8; 1 << 20];
        server.read_exact(&mut data).unwrap();
        server.write_all(&data).unwrap();
    });
    let task = scheduler.spawn(move || {
        let mut stream = client;
        block_on(async {
            let sent: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
            write_all(&mut stream, &sent).await?;
            let mut back = vec![0u8; sent.len()];
            let mut got = 0;
            while got < back.len() {
                let n = read(&mut stream, &mut back[got..]).await?;
                assert_ne!(n, 0, "early EOF");
                got += n;
            }
            assert!(back == sent);
            // EOF once the peer closed.
            read(&mut stream, &mut [0u8; 8]).await
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    peer.join().unwrap();
    assert_eq!(task.join().unwrap(), 0);
}

#[test]
fn two_reads_and_a_write_in_flight_in_one_future() {
    let scheduler = Scheduler::new().unwrap();
    let (a, mut peer_a) = pair();
    let (b, mut peer_b) = pair();
    let peer = std::thread::spawn(move || {
        // The answers come only after the write arrived: all three ops are in flight at once.
        let mut ping = [0u8; 4];
        peer_a.read_exact(&mut ping).unwrap();
        peer_b.write_all(b"from b").unwrap();
        peer_a.write_all(b"from a").unwrap();
    });
    let task = scheduler.spawn(move || {
        let (mut a, mut b) = (a, b);
        let mut a2 = a.try_clone().unwrap();
        block_on(async {
            let mut buf_a = [0u8; 6];
            let mut buf_b = [0u8; 6];
            let mut read_a = Box::pin(read(&mut a, &mut buf_a));
            let mut read_b = Box::pin(read(&mut b, &mut buf_b));
            let mut write = Box::pin(write_all(&mut a2, b"ping"));
            let (mut ra, mut rb, mut w) = (None, None, None);
            poll_fn(|cx| {
                if ra.is_none()
                    && let Poll::Ready(r) = read_a.as_mut().poll(cx)
                {
                    ra = Some(r.unwrap());
                }
                if rb.is_none()
                    && let Poll::Ready(r) = read_b.as_mut().poll(cx)
                {
                    rb = Some(r.unwrap());
                }
                if w.is_none()
                    && let Poll::Ready(r) = write.as_mut().poll(cx)
                {
                    r.unwrap();
                    w = Some(());
                }
                if ra.is_some() && rb.is_some() && w.is_some() { Poll::Ready(()) } else { Poll::Pending }
            })
            .await;
            drop((read_a, read_b, write));
            (ra.unwrap(), rb.unwrap(), buf_a, buf_b)
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    peer.join().unwrap();
    let (na, nb, buf_a, buf_b) = task.join();
    assert_eq!(&buf_a[..na], &b"from a"[..na]);
    assert_eq!(&buf_b[..nb], &b"from b"[..nb]);
}

#[test]
fn a_read_future_dropped_mid_op_loses_no_data() {
    let scheduler = Scheduler::new().unwrap();
    let (client, mut server) = pair();
    let task = scheduler.spawn(move || {
        let mut stream = client;
        block_on(async {
            // The read loses the race: its future is dropped with the receive in flight.
            let mut buf = [0u8; 16];
            let mut read_fut = pin!(read(&mut stream, &mut buf));
            let mut timer = pin!(sleep(Duration::from_millis(20)));
            let raced = poll_fn(|cx| match read_fut.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
            })
            .await;
            assert!(raced.is_none(), "nothing was sent yet");
        })
        .unwrap();
        // The receive still in flight takes the bytes sent now into the stream's buffer.
        server.write_all(b"late bytes").unwrap();
        block_on(async {
            let mut buf = [0u8; 16];
            let n = read(&mut stream, &mut buf).await.unwrap();
            buf[..n].to_vec()
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(task.join(), b"late bytes");
}

/// Run under ASan (`.ci/sanitizers`, on both backends): streams dropped with receives in
/// flight, then the peers write into them. Half are dropped in their task (their receives
/// are canceled), half after the task ended, outside any task (no cancel can be queued from
/// there: their receives complete with the peers' bytes). The receives write into buffers
/// the scheduler's reactor still owns; on the posix backend ASan's `recv` interceptor checks
/// that buffer, so one freed early is a heap-use-after-free report.
#[test]
fn streams_dropped_mid_read_leave_no_write_after_free() {
    let scheduler = Scheduler::new().unwrap();
    let mut peers = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (client, server) = pair();
        clients.push(client);
        peers.push(server);
    }
    let task = scheduler.spawn(move || {
        let mut kept = Vec::new();
        for (i, client) in clients.into_iter().enumerate() {
            let mut stream = client;
            block_on(async {
                let mut buf = vec![0u8; 4096];
                let mut read_fut = pin!(read(&mut stream, &mut buf));
                // One poll: the receive is queued into the stream's buffer.
                poll_fn(|cx| {
                    assert!(read_fut.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            })
            .unwrap();
            // The future (and `buf`) is gone; the receive is in flight.
            if i % 2 == 0 {
                drop(stream);
            } else {
                kept.push(stream);
            }
        }
        kept
    });
    scheduler.run(RunMode::Wait).unwrap();
    drop(task.join());
    for peer in &mut peers {
        let _ = peer.write_all(&[0xAB; 4096]);
    }
    drain(&scheduler);
    assert_eq!(in_flight(&scheduler), 0, "canceled or completed, every receive ended");
    // Memory the reactor held is freed with the scheduler, after its IO queue drained.
    drop(scheduler);
}

#[test]
fn server_side_accepts_and_echoes_in_tasks_with_a_listener() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut stream = conn;
        block_on(async {
            let mut buf = [0u8; 64];
            loop {
                let n = read(&mut stream, &mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                write_all(&mut stream, &buf[..n]).await.unwrap();
            }
            poll_fn(|cx| Pin::new(&mut stream).poll_close(cx)).await.unwrap();
        })
        .unwrap()
    });
    let client = scheduler.spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        block_on(async {
            let mut out = Vec::new();
            for word in [&b"one"[..], b"two", b"three"] {
                write_all(&mut stream, word).await.unwrap();
                let mut buf = [0u8; 8];
                let mut got = 0;
                while got < word.len() {
                    got += read(&mut stream, &mut buf[got..]).await.unwrap();
                }
                out.extend_from_slice(&buf[..got]);
            }
            out
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    server.join();
    assert_eq!(client.join(), b"onetwothree");
}

#[test]
fn a_failed_write_is_reported() {
    let scheduler = Scheduler::new().unwrap();
    let (client, server) = pair();
    drop(server);
    let task = scheduler.spawn(move || {
        let mut stream = client;
        block_on(async {
            // Writes into a closed connection fail (EPIPE or ECONNRESET) within a few rounds.
            for _ in 0..64 {
                if let Err(e) = write_all(&mut stream, &[1u8; 65536]).await {
                    return Some(e.kind());
                }
            }
            None
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    let kind = task.join().expect("writing to a closed peer fails");
    assert!(matches!(kind, std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset), "{kind:?}");
}

#[cfg(unix)]
#[test]
fn unix_streams_too_with_eof_after_shutdown() {
    use corio::coro::net::UnixStream;
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let task = scheduler.spawn(move || {
        let (mut a, mut b) = (a, b);
        block_on(async move {
            poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"over unix")).await.unwrap();
            poll_fn(|cx| Pin::new(&mut a).poll_close(cx)).await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4];
            loop {
                match poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            got
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(task.join(), b"over unix");
}

#[test]
fn outside_a_task_the_polls_are_the_blocking_std_calls() {
    let (client, mut server) = pair();
    let mut stream = client;
    block_on(async {
        write_all(&mut stream, b"plain thread").await.unwrap();
    })
    .unwrap();
    let mut got = [0u8; 12];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"plain thread");
    server.write_all(b"back").unwrap();
    let mut buf = [0u8; 4];
    let n = block_on(read(&mut stream, &mut buf)).unwrap().unwrap();
    assert_eq!(&buf[..n], &b"back"[..n]);
}

/// Mixing: a sync read of the stream returns first what an async read received ahead.
#[test]
fn a_sync_read_after_async_reads_returns_the_buffered_bytes_first() {
    let scheduler = Scheduler::new().unwrap();
    let (client, mut server) = pair();
    server.write_all(b"hello world").unwrap();
    let task = scheduler.spawn(move || {
        let mut stream = client;
        let mut buf = [0u8; 5];
        // The receive takes everything that arrived; the read returns 5 bytes of it.
        let n = block_on(read(&mut stream, &mut buf)).unwrap().unwrap();
        let mut rest = [0u8; 32];
        let m = stream.read(&mut rest).unwrap();
        server.write_all(b"!").unwrap();
        let k = stream.read(&mut rest[m..]).unwrap();
        (buf[..n].to_vec(), rest[..m + k].to_vec())
    });
    scheduler.run(RunMode::Wait).unwrap();
    let (first, rest) = task.join();
    assert_eq!([first, rest].concat(), b"hello world!");
}

/// A flush counts a whole send in flight as sent (no wait, no wake-up at its completion), and
/// the stream dropped right after still delivers every byte before the connection closes.
#[test]
fn bytes_flushed_then_dropped_all_arrive() {
    let scheduler = Scheduler::new().unwrap();
    let (client, mut server) = pair();
    let sent: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let expected = sent.clone();
    let peer = std::thread::spawn(move || {
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        got
    });
    let task = scheduler.spawn(move || {
        let mut stream = client;
        block_on(write_all(&mut stream, &sent)).unwrap().unwrap();
        drop(stream);
    });
    scheduler.run(RunMode::Wait).unwrap();
    task.join();
    drain(&scheduler);
    assert!(peer.join().unwrap() == expected);
}

/// The queued count of op kind `kind` in `scheduler`'s metrics.
fn queued(scheduler: &Scheduler, kind: &str) -> u64 {
    scheduler.metrics().by_kind.iter().find(|k| k.kind == kind).map_or(0, |k| k.queued)
}

/// The first async read arms the stream's multishot receive; the later ones take what it
/// received, queueing no op: no `recv` at all, one `recv_multi` (and one more after the end
/// of the stream, which the read after it re-arms).
#[test]
fn reads_take_what_one_multishot_receive_got() {
    let scheduler = Scheduler::new().unwrap();
    let (client, mut server) = pair();
    let peer = std::thread::spawn(move || {
        for i in 0..20u8 {
            server.write_all(&[i; 3]).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let task = scheduler.spawn(move || {
        let mut stream = client;
        block_on(async {
            let (mut got, mut reads) = (Vec::new(), 0);
            let mut buf = [0u8; 64];
            loop {
                let n = read(&mut stream, &mut buf).await.unwrap();
                reads += 1;
                if n == 0 {
                    break (got, reads);
                }
                got.extend_from_slice(&buf[..n]);
            }
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    peer.join().unwrap();
    let (got, reads) = task.join();
    assert_eq!(got, (0..20u8).flat_map(|i| [i; 3]).collect::<Vec<_>>());
    assert!(reads > 5, "the peer's pauses split the data over several reads ({reads})");
    assert_eq!(queued(&scheduler, "recv"), 0, "no read queued a receive of its own");
    let multi = queued(&scheduler, "recv_multi");
    assert!((1..=2).contains(&multi), "one multishot receive served the reads ({multi} queued)");
    drain(&scheduler); // the mailbox's `Wait` and its cancel
    assert_eq!(in_flight(&scheduler), 0, "it ended with the stream");
}

/// Streams whose data fills the scheduler's few provided buffers (2 of 64 bytes here) get it
/// all, in order: a receive that found no free buffer ends, and the read after it receives
/// into the stream's own buffer, then arms the multishot receive again.
#[test]
fn reads_go_on_when_the_provided_buffers_run_out() {
    let options = corio::coro::Options::new().recv_buffers(2, 64);
    let scheduler = Scheduler::with_options(options).unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let mut peers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (client, mut server) = pair();
        let data = data.clone();
        peers.push(std::thread::spawn(move || server.write_all(&data).unwrap()));
        readers.push(scheduler.spawn(move || {
            let mut stream = client;
            block_on(async {
                let mut got = Vec::new();
                let mut buf = [0u8; 100];
                loop {
                    match read(&mut stream, &mut buf).await.unwrap() {
                        0 => break got,
                        n => got.extend_from_slice(&buf[..n]),
                    }
                    // Let the other readers' receives take buffers meanwhile.
                    sleep(Duration::from_micros(50)).await;
                }
            })
            .unwrap()
        }));
    }
    scheduler.run(RunMode::Wait).unwrap();
    for peer in peers {
        peer.join().unwrap();
    }
    for reader in readers {
        assert!(reader.join() == data, "every byte, in order");
    }
    assert!(queued(&scheduler, "recv") > 0, "some reads found no free buffer and received alone");
    assert!(queued(&scheduler, "recv_multi") > 4, "and armed the multishot receive again after");
    drain(&scheduler);
    assert_eq!(in_flight(&scheduler), 0);
}

/// A stream's multishot receive runs on the scheduler of its first async read: polled on
/// another scheduler (or outside a task) while that one still runs, a read fails with a clear
/// error (the bytes the first one received cannot reach it); once the first scheduler is
/// gone, reads start afresh on the new one.
#[test]
fn a_stream_moves_to_another_scheduler_only_after_the_first_is_gone() {
    let first = Scheduler::new().unwrap();
    let (client, mut server) = pair();
    server.write_all(b"one").unwrap();
    let task = first.spawn(move || {
        let mut stream = client;
        let mut buf = [0u8; 3];
        let n = block_on(read(&mut stream, &mut buf)).unwrap().unwrap();
        (stream, buf[..n].to_vec())
    });
    first.run(RunMode::Wait).unwrap();
    let (stream, got) = task.join();
    assert_eq!(got, b"one");
    let second = Scheduler::new().unwrap();
    let task = second.spawn(move || {
        let mut stream = stream;
        let err = block_on(read(&mut stream, &mut [0u8; 8])).unwrap().unwrap_err();
        (stream, err)
    });
    second.run(RunMode::Wait).unwrap();
    let (stream, err) = task.join();
    assert_eq!(err.kind(), std::io::ErrorKind::Other);
    assert!(err.to_string().contains("which still runs"), "{err}");
    // Outside a task too (the read would block on the socket while the bytes go elsewhere).
    let mut stream = stream;
    let err = block_on(read(&mut stream, &mut [0u8; 8])).unwrap().unwrap_err();
    assert!(err.to_string().contains("which still runs"), "{err}");
    drop(first);
    server.write_all(b"two").unwrap();
    let task = second.spawn(move || {
        let mut stream = stream;
        let mut buf = [0u8; 8];
        let n = block_on(read(&mut stream, &mut buf)).unwrap().unwrap();
        buf[..n].to_vec()
    });
    second.run(RunMode::Wait).unwrap();
    assert_eq!(task.join(), b"two");
}

/// On the posix backend a write with nothing of its stream in flight is a nonblocking
/// `sendmsg` of the caller's bytes: small writes queue no send op, and arrive in order. On
/// io_uring (where the machine has it) each write is a send op. On both, writes into a socket
/// whose buffer is full go through send ops (the peer reads only after the writer queued a few
/// megabytes), and all their bytes arrive, in order, after the small ones.
#[cfg(target_os = "linux")]
#[test]
fn small_writes_on_posix_are_sent_at_once_and_a_full_socket_through_ops() {
    use corio::aio::BackendKind;
    for backend in [BackendKind::Posix, BackendKind::IoUring] {
        let Ok(scheduler) = Scheduler::with_options(corio::coro::Options::new().backend(backend)) else {
            assert_eq!(backend, BackendKind::IoUring, "posix is always there");
            continue;
        };
        let (client, mut server) = pair();
        // Small socket buffers (the kernel's autotuning could otherwise take megabytes
        // without blocking a nonblocking send), so the megabytes below fill them.
        socket2::SockRef::from(&client).set_send_buffer_size(64 * 1024).unwrap();
        socket2::SockRef::from(&server).set_recv_buffer_size(64 * 1024).unwrap();
        let big: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        let expected: Vec<u8> = (0..10u8).flat_map(|i| [i; 5]).chain(big.iter().copied()).collect();
        let small = scheduler.spawn(move || {
            let mut stream = client;
            block_on(async {
                for i in 0..10u8 {
                    write_all(&mut stream, &[i; 5]).await.unwrap();
                }
            })
            .unwrap();
            stream
        });
        scheduler.run(RunMode::Wait).unwrap();
        let mut stream = small.join();
        let small_sends = queued(&scheduler, "send");
        match backend {
            BackendKind::Posix => assert_eq!(small_sends, 0, "no small write queued a send op"),
            _ => assert_eq!(small_sends, 10, "each write is a send op"),
        }
        let peer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut got = vec![0u8; expected.len()];
            server.read_exact(&mut got).unwrap();
            got == expected
        });
        let task = scheduler.spawn(move || block_on(write_all(&mut stream, &big)).unwrap().unwrap());
        scheduler.run(RunMode::Wait).unwrap();
        task.join();
        drain(&scheduler); // whole sends left to finish (io_uring)
        assert!(peer.join().unwrap(), "{backend:?}: every byte arrives, in order");
        assert!(queued(&scheduler, "send") > small_sends, "{backend:?}: a full socket's writes are send ops");
    }
}

/// Streams dropped while the IO queue's reserve for cancels is spent (a queue of 16 keeps 1:
/// three streams dropped at once need three cancels) still stop their multishot receives:
/// the cancels that did not fit are queued after a later reaping pass, so the sockets close
/// and the peers, which send nothing more, see the end of the stream.
#[test]
fn streams_dropped_with_the_queue_full_still_close() {
    let scheduler = Scheduler::with_options(corio::coro::Options::new().io_queue_entries(16)).unwrap();
    let (mut clients, mut peers) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (client, mut server) = pair();
        server.write_all(b"x").unwrap();
        server.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        clients.push(client);
        peers.push(server);
    }
    let task = scheduler.spawn(move || {
        block_on(async {
            let mut streams = clients;
            for stream in &mut streams {
                // Arms the stream's multishot receive.
                assert_eq!(read(stream, &mut [0u8; 1]).await.unwrap(), 1);
            }
            // Timers fill the queue up to its reserve (the ones that find no room retry).
            let mut sleeps: Vec<_> = (0..32).map(|_| Box::pin(sleep(Duration::from_millis(200)))).collect();
            poll_fn(|cx| {
                for sleep in &mut sleeps {
                    let _ = sleep.as_mut().poll(cx);
                }
                Poll::Ready(())
            })
            .await;
            drop(streams);
        })
        .unwrap();
    });
    scheduler.run(RunMode::Wait).unwrap();
    task.join();
    // The timers end (their own cancels did not fit either); the passes meanwhile retry.
    let deadline = Instant::now() + Duration::from_secs(2);
    while in_flight(&scheduler) > 0 && Instant::now() < deadline {
        scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    for (i, mut peer) in peers.into_iter().enumerate() {
        let mut byte = [0u8; 1];
        let got = peer.read(&mut byte);
        assert!(matches!(got, Ok(0)), "peer {i}: the end of the stream, not {got:?}");
    }
    assert_eq!(in_flight(&scheduler), 0);
}

/// A sync read outside a task, after async reads armed the stream's multishot receive on a
/// scheduler that still runs, fails clearly (as an async read there does) instead of reading
/// the socket while the receive takes the bytes (they were lost: the read waited for bytes
/// that had gone to the receive). Once that scheduler is gone, sync reads read the socket.
#[test]
fn a_sync_read_outside_the_receives_scheduler_fails_clearly() {
    let scheduler = Scheduler::new().unwrap();
    let (client, mut server) = pair();
    server.write_all(b"x").unwrap();
    let task = scheduler.spawn(move || {
        let mut stream = client;
        block_on(async { assert_eq!(read(&mut stream, &mut [0u8; 1]).await.unwrap(), 1) }).unwrap();
        stream
    });
    scheduler.run(RunMode::Wait).unwrap();
    let mut stream = task.join();
    server.write_all(b"abc").unwrap();
    for _ in 0..20 {
        scheduler.tick(corio::aio::Mode::Nonblocking).unwrap(); // the receive takes "abc"
        std::thread::sleep(Duration::from_millis(1));
    }
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 8];
    let got = stream.read(&mut buf);
    assert_eq!(got.map_err(|e| e.kind()), Err(std::io::ErrorKind::Other), "not a wait for bytes gone elsewhere");
    drop(scheduler);
    server.write_all(b"def").unwrap();
    let n = stream.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"def", "the socket's next bytes");
}

/// A stream dropped outside a task (here on the scheduler's thread, after `run` returned; as
/// on another thread) while its multishot receive waits on a silent peer: the receive is
/// stopped after the scheduler's next reaping pass, so the socket closes and the peer sees
/// the end of the stream. It waited for a report the peer never sends, holding the socket
/// open, until the scheduler was dropped. Also a stream dropped on another thread.
#[test]
fn a_stream_dropped_outside_a_task_closes_after_the_next_pass() {
    let scheduler = Scheduler::new().unwrap();
    let (mut peers, mut streams) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let (client, mut server) = pair();
        server.write_all(b"x").unwrap();
        server.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let task = scheduler.spawn(move || {
            let mut stream = client;
            // Arms the stream's multishot receive, which then waits for more.
            block_on(async { assert_eq!(read(&mut stream, &mut [0u8; 1]).await.unwrap(), 1) }).unwrap();
            stream
        });
        scheduler.run(RunMode::Wait).unwrap();
        streams.push(task.join());
        peers.push(server);
    }
    drop(streams.pop()); // on this thread, outside a task
    let away = streams.pop().unwrap();
    std::thread::spawn(move || drop(away)).join().unwrap();
    // The scheduler goes on with other work: a task on a timer.
    scheduler.spawn(|| corio::coro::io::single(corio::aio::op::Timeout::new(Duration::from_millis(20)))).detach();
    scheduler.run(RunMode::Wait).unwrap();
    for (i, mut peer) in peers.into_iter().enumerate() {
        let got = peer.read(&mut [0u8; 1]);
        assert!(matches!(got, Ok(0)), "peer {i}: the end of the stream, not {got:?}");
    }
    assert_eq!(in_flight(&scheduler), 0, "both receives ended");
}
