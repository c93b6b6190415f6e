//! coro::net's multishot paths: `incoming()` on a multishot accept and `buffered_reader()` on
//! a multishot receive into provided buffers. Run on io_uring (the default) and with
//! `CORIO_BACKEND=posix`; on Windows the reader falls back to plain reads behind the same API.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::TcpStream as StdStream;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use corio::coro::net::{TcpListener, TcpStream};
#[cfg(unix)]
use corio::coro::net::{UnixListener, UnixStream};
use corio::coro::{Options, Scheduler, sleep};

/// The tests of this file one at a time: one counts the process's descriptors.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the reader's buffers come from the kernel (provided buffers) on this platform.
const PROVIDED: bool = cfg!(unix);

/// A connected pair of coro TCP streams over loopback.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let (a, b) = common::tcp_pair();
    (a.into(), b.into())
}

/// A recognisable byte pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn incoming_takes_every_connection_queued_before_the_first_next() {
    let _serial = serial();
    const CLIENTS: usize = 40;
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // All of them wait in the backlog before the iterator exists.
    let mut clients: Vec<StdStream> = (0..CLIENTS).map(|_| StdStream::connect(addr).unwrap()).collect();
    let server = scheduler.spawn(move || {
        let mut incoming = listener.incoming();
        let mut accepted = Vec::new();
        for i in 0..CLIENTS {
            let mut stream = incoming.next().unwrap()?;
            stream.write_all(&[i as u8])?;
            accepted.push(stream);
        }
        std::io::Result::Ok(accepted.len())
    });
    assert_eq!(server.join().unwrap(), CLIENTS);
    let mut seen: Vec<u8> = clients
        .iter_mut()
        .map(|c| {
            let mut b = [0u8];
            c.read_exact(&mut b).unwrap();
            b[0]
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..CLIENTS as u8).collect::<Vec<_>>());
}

#[test]
fn incoming_keeps_accepting_across_waits() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let mut served = 0;
        for stream in listener.incoming().take(3) {
            let stream = stream?;
            let mut reader = stream.buffered_reader();
            let mut line = String::new();
            reader.read_line(&mut line)?;
            (&stream).write_all(line.as_bytes())?;
            served += 1;
        }
        std::io::Result::Ok(served)
    });
    let client = scheduler.spawn(move || {
        for i in 0..3 {
            // One at a time: the accept waits (parked) between them.
            sleep(Duration::from_millis(5))?;
            let stream = TcpStream::connect(addr)?;
            (&stream).write_all(format!("client {i}\n").as_bytes())?;
            let mut echo = String::new();
            stream.buffered_reader().read_line(&mut echo)?;
            assert_eq!(echo, format!("client {i}\n"));
        }
        std::io::Result::Ok(())
    });
    client.join().unwrap();
    assert_eq!(server.join().unwrap(), 3);
}

/// Descriptors open in this process.
#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn dropping_incoming_closes_connections_accepted_and_not_taken() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    // Warm up what the scheduler opens lazily (the ring's pieces, eventfds, pools).
    scheduler.spawn(|| sleep(Duration::from_millis(1))).join().unwrap();
    #[cfg(target_os = "linux")]
    let before = open_fds();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut clients: Vec<StdStream> = (0..10).map(|_| StdStream::connect(addr).unwrap()).collect();
    let server = scheduler.spawn(move || {
        let mut incoming = listener.incoming();
        let first = incoming.next().unwrap()?;
        // Let the multishot accept take the other nine into the iterator's queue.
        sleep(Duration::from_millis(50))?;
        drop(first);
        drop(incoming);
        drop(listener);
        std::io::Result::Ok(())
    });
    server.join().unwrap();
    // Every accepted connection was closed: each client reads the end of the stream.
    for client in &mut clients {
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).unwrap(), 0);
    }
    #[cfg(target_os = "linux")]
    assert_eq!(open_fds(), before + clients.len(), "a descriptor leaked");
    // The listener is closed too: nothing accepts on the port any more.
    drop(clients);
    assert!(StdStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn incoming_reports_accept_errors() {
    let _serial = serial();
    // A socket that was bound but never listened: accept fails with EINVAL.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    let listener = TcpListener::from(std::net::TcpListener::from(socket));
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(move || {
        let mut incoming = listener.incoming();
        let first = incoming.next().unwrap().map(drop);
        // Re-armed on the next call, and failing again.
        let second = incoming.next().unwrap().map(drop);
        (first, second)
    });
    let (first, second) = task.join();
    common::expect_kind(first, ErrorKind::InvalidInput);
    common::expect_kind(second, ErrorKind::InvalidInput);
}

#[test]
fn a_canceled_task_leaves_incoming_and_the_reader_canceled() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let accepting = scheduler.spawn(move || listener.incoming().next().unwrap().map(drop));
    let (a, b) = tcp_pair();
    let reading = scheduler.spawn(move || {
        let mut reader = a.buffered_reader();
        reader.fill_buf().map(|b| b.len())
    });
    scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    accepting.cancel();
    reading.cancel();
    common::expect_canceled(accepting.join());
    common::expect_canceled(reading.join());
    drop(b);
}

#[cfg(unix)]
#[test]
fn unix_incoming_and_reader() {
    let _serial = serial();
    let dir = common::TempDir::new("coro-multishot-unix");
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path).unwrap();
    let scheduler = Scheduler::new().unwrap();
    let clients: Vec<_> = (0..5).map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap()).collect();
    for (i, mut c) in clients.iter().enumerate() {
        c.write_all(format!("unix {i}\n").as_bytes()).unwrap();
    }
    let server = scheduler.spawn(move || {
        let mut lines = Vec::new();
        for stream in listener.incoming().take(5) {
            let stream = stream?;
            let mut line = String::new();
            stream.buffered_reader().read_line(&mut line)?;
            lines.push(line);
        }
        std::io::Result::Ok(lines)
    });
    let mut lines = server.join().unwrap();
    lines.sort();
    assert_eq!(lines, (0..5).map(|i| format!("unix {i}\n")).collect::<Vec<_>>());
}

#[test]
fn reader_is_byte_exact_over_a_large_transfer() {
    let _serial = serial();
    const LEN: usize = 8 << 20;
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = tcp_pair();
    let writer = scheduler.spawn(move || {
        let data = pattern(LEN);
        (&b).write_all(&data)?;
        drop(b); // end of stream
        std::io::Result::Ok(())
    });
    let reader = scheduler.spawn(move || {
        let mut reader = a.buffered_reader();
        let mut got = Vec::with_capacity(LEN);
        let mut provided = false;
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len().min(3000); // consume in odd pieces
            got.extend_from_slice(&chunk[..n]);
            provided |= reader.is_provided();
            reader.consume(n);
        }
        // The end stays the end.
        assert!(reader.fill_buf()?.is_empty());
        assert_eq!(reader.read(&mut [0u8; 8])?, 0);
        std::io::Result::Ok((got, provided))
    });
    writer.join().unwrap();
    let (got, provided) = reader.join().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == pattern(LEN), "the data differs");
    assert_eq!(provided, PROVIDED, "provided buffers used");
}

#[test]
fn reader_dropped_mid_stream_leaves_the_stream_usable() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = tcp_pair();
    let server = scheduler.spawn(move || {
        let mut reader = a.buffered_reader();
        let mut first = [0u8; 5];
        reader.read_exact(&mut first)?;
        drop(reader);
        // Writing and then a plain read still work on the stream.
        (&a).write_all(b"after the reader")?;
        let mut byte = [0u8; 1];
        let n = (&a).read(&mut byte)?;
        drop(a); // closes
        std::io::Result::Ok((first, n, byte[0]))
    });
    let client = scheduler.spawn(move || {
        (&b).write_all(b"hello, more data the reader may have queued")?;
        let mut reply = [0u8; 16];
        (&b).read_exact(&mut reply)?;
        (&b).write_all(b"!")?;
        let mut rest = Vec::new();
        (&b).read_to_end(&mut rest)?;
        std::io::Result::Ok((reply, rest))
    });
    let (first, n, byte) = server.join().unwrap();
    assert_eq!(&first, b"hello");
    let (reply, rest) = client.join().unwrap();
    assert_eq!(&reply, b"after the reader");
    assert!(rest.is_empty());
    // The plain read got a byte: whatever the reader had not taken, or the "!".
    assert_eq!(n, 1, "{byte}");
}

#[test]
fn reader_sees_the_end_of_stream_after_the_data() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = tcp_pair();
    (&b).write_all(b"abc").unwrap();
    drop(b);
    let task = scheduler.spawn(move || {
        let mut reader = a.buffered_reader();
        let mut all = String::new();
        reader.read_to_string(&mut all)?;
        std::io::Result::Ok((all, reader.fill_buf()?.len()))
    });
    assert_eq!(task.join().unwrap(), ("abc".to_string(), 0));
}

#[test]
fn readers_make_progress_when_the_group_runs_dry() {
    let _serial = serial();
    const LEN: usize = 256 * 1024;
    // Two buffers of 64 bytes for all the readers of the scheduler.
    let scheduler = Scheduler::with_options(Options::new().recv_buffers(2, 64)).unwrap();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (a, b) = tcp_pair();
        scheduler.spawn(move || (&b).write_all(&pattern(LEN))).detach();
        readers.push(scheduler.spawn(move || {
            let mut reader = a.buffered_reader();
            let mut got = Vec::new();
            // Hold on to a chunk while the others receive, then read all.
            let first = reader.fill_buf()?.to_vec();
            sleep(Duration::from_millis(20))?;
            got.extend_from_slice(&first);
            let n = first.len();
            reader.consume(n);
            reader.read_to_end(&mut got)?;
            std::io::Result::Ok(got)
        }));
    }
    for reader in readers {
        let got = reader.join().unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == pattern(LEN), "the data differs");
    }
}

#[test]
fn reader_with_a_read_timeout_expires_and_then_reads() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = tcp_pair();
    let task = scheduler.spawn(move || {
        let mut reader = a.buffered_reader();
        // First the multishot receive, then a read timeout: plain bounded reads.
        (&b).write_all(b"x")?;
        let mut one = [0u8; 1];
        reader.read_exact(&mut one)?;
        a.set_read_timeout(Some(Duration::from_millis(30)))?;
        let expired = reader.fill_buf().map(|b| b.len());
        (&b).write_all(b"yz")?;
        let mut two = [0u8; 2];
        reader.read_exact(&mut two)?;
        // Without the timeout, back to the multishot receive.
        a.set_read_timeout(None)?;
        (&b).write_all(b"w")?;
        reader.read_exact(&mut one)?;
        std::io::Result::Ok((expired, two, one))
    });
    let (expired, two, one) = task.join().unwrap();
    let e = expired.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{e:?}");
    assert_eq!(&two, b"yz");
    assert_eq!(&one, b"w");
}

#[test]
fn reader_reports_a_reset_connection() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = tcp_pair();
    (&b).write_all(b"data").unwrap();
    let task = scheduler.spawn(move || {
        let mut reader = a.buffered_reader();
        let mut got = [0u8; 4];
        reader.read_exact(&mut got)?;
        // The peer resets: a zero linger makes its close send RST.
        socket2::SockRef::from(&b).set_linger(Some(Duration::ZERO))?;
        drop(b);
        let after = reader.fill_buf().map(|b| b.len());
        std::io::Result::Ok((got, after))
    });
    let (got, after) = task.join().unwrap();
    assert_eq!(&got, b"data");
    match after {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}"),
        Ok(n) => panic!("read {n} bytes after a reset"),
    }
}

#[test]
fn reader_outside_a_task_and_with_a_bad_group_reads_plainly() {
    let _serial = serial();
    let (a, b) = tcp_pair();
    (&b).write_all(b"outside").unwrap();
    drop(b);
    let mut reader = a.buffered_reader();
    let mut all = String::new();
    reader.read_to_string(&mut all).unwrap();
    assert_eq!(all, "outside");
    assert!(!reader.is_provided());
    drop(reader);
    // A group the backend refuses (0 buffers): readers use their own buffers.
    let scheduler = Scheduler::with_options(Options::new().recv_buffers(0, 4096)).unwrap();
    let (a, b) = tcp_pair();
    let task = scheduler.spawn(move || {
        (&b).write_all(b"own buffers")?;
        drop(b);
        let mut reader = a.buffered_reader();
        let mut all = String::new();
        reader.read_to_string(&mut all)?;
        std::io::Result::Ok(all)
    });
    assert_eq!(task.join().unwrap(), "own buffers");
}

#[cfg(unix)]
#[test]
fn unix_pair_reader_and_writer_tasks_share_a_stream() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let a = std::rc::Rc::new(a);
    let writer_side = a.clone();
    let echo = scheduler.spawn(move || {
        let mut reader = a.buffered_reader();
        let mut lines = 0;
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            (&*a).write_all(line.as_bytes())?;
            line.clear();
            lines += 1;
        }
        std::io::Result::Ok(lines)
    });
    let client = scheduler.spawn(move || {
        let mut reader = b.buffered_reader();
        for i in 0..100 {
            (&b).write_all(format!("line {i}\n").as_bytes())?;
            let mut line = String::new();
            reader.read_line(&mut line)?;
            assert_eq!(line, format!("line {i}\n"));
        }
        b.shutdown(std::net::Shutdown::Write)?;
        std::io::Result::Ok(())
    });
    client.join().unwrap();
    assert_eq!(echo.join().unwrap(), 100);
    drop(writer_side);
}

#[test]
fn incoming_moved_out_of_its_task_accepts_plainly_and_drops_outside_a_task() {
    let _serial = serial();
    let scheduler = Scheduler::new().unwrap();
    let listener: &'static TcpListener = Box::leak(Box::new(TcpListener::bind("127.0.0.1:0").unwrap()));
    let addr = listener.local_addr().unwrap();
    let first = StdStream::connect(addr).unwrap();
    let task = scheduler.spawn(move || {
        let mut incoming = listener.incoming();
        let stream = incoming.next().unwrap().map(drop);
        (incoming, stream)
    });
    let (mut incoming, stream) = task.join();
    stream.unwrap();
    // Outside a task: the multishot accept is stopped (the scheduler ticked until it ended),
    // then this is a plain accept.
    let second = StdStream::connect(addr).unwrap();
    let accepted = incoming.next().unwrap().unwrap();
    assert_eq!(accepted.peer_addr().unwrap(), second.local_addr().unwrap());
    drop(incoming);
    drop((first, second, scheduler));
}
