//! A stream dropped mid-read, or a buffered reader forgotten with its receive armed, and a new
//! socket put at the descriptor's number: alone in their test binary, because they reuse a
//! descriptor number on purpose (`dup2`), which a test running in parallel in the same process
//! could have been given meanwhile. On both backends (`CORIO_BACKEND=posix`: the emulation acts
//! on numbers, so there the multishot ops name duplicates). And a buffered reader at the
//! descriptor limit, where such a duplicate cannot be made: alone here too, as the process
//! runs out of descriptors for a while. On io_uring once more as a kernel before 6.0
//! (`CORIO_URING_DISABLE=recv_multi,accept_multi`), whose stand-ins re-arm by number too.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(all(unix, not(target_os = "wasi")))]

use std::future::poll_fn;
use std::io::{Read, Write};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use corio::coro::future::block_on;
use corio::coro::net::TcpStream;
use corio::coro::{RunMode, Scheduler};
use futures_io::AsyncRead;

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

/// Held by each test: they reuse descriptor numbers on purpose, or run the process out of
/// them, or open descriptors, so they must not run at once.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The same tests on io_uring playing a kernel without multishot accepts and receives, whose
/// stand-ins re-arm a single op by descriptor number after each arrival (a process of its
/// own: the probe is per process).
#[test]
fn the_same_holds_with_the_multishot_stand_ins() {
    // Held here too: the probe of the backend opens and closes descriptors (a ring, or an
    // epoll instance and an eventfd), which could take the number another test is reusing
    // (under qemu-user, an IO Safety abort once: the probe's descriptor was dup2'd over).
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if std::env::var_os("CORIO_URING_DISABLE").is_some() || !common::is_io_uring() {
        return;
    }
    common::rerun_with_uring_disabled("recv_multi,accept_multi", &[], &["--skip", "stand_ins"]);
}

fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (client, listener.accept().unwrap().0)
}

async fn read(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, buf)).await
}

/// The number of ops in flight in `scheduler`'s IO queue.
fn in_flight(scheduler: &Scheduler) -> u64 {
    scheduler.metrics().ops_in_flight
}

fn drain(scheduler: &Scheduler) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(scheduler) > 0 && Instant::now() < deadline {
        scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    }
}

/// The receive of a stream dropped mid-read (outside a task: not canceled) names a duplicate of
/// the stream's descriptor, not the closed one: a new socket put at the old number (`dup2`)
/// gets its own bytes.
#[test]
fn a_stream_dropped_mid_read_does_not_read_the_next_socket_at_its_number() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use std::os::fd::{AsRawFd, FromRawFd};
    let scheduler = Scheduler::new().unwrap();
    let (old, mut old_peer) = pair();
    let number = old.as_raw_fd();
    let task = scheduler.spawn(move || {
        let mut stream = old;
        block_on(async {
            let mut buf = [0u8; 16];
            let mut read_fut = pin!(read(&mut stream, &mut buf));
            poll_fn(|cx| {
                assert!(read_fut.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        })
        .unwrap();
        stream
    });
    scheduler.run(RunMode::Wait).unwrap();
    drop(task.join()); // outside a task: its receive stays in flight
    let (new, mut new_peer) = pair();
    // SAFETY: `number` was closed with the stream; dup2 makes it a new descriptor of `new`'s
    // socket, owned by the stream made from it.
    let reused = unsafe {
        assert_eq!(libc::dup2(new.as_raw_fd(), number), number);
        TcpStream::from_raw_fd(number)
    };
    drop(new);
    new_peer.write_all(b"mine").unwrap();
    let task = scheduler.spawn(move || {
        let mut stream = reused;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).map(|()| buf)
    });
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(&task.join().unwrap(), b"mine");
    // The old receive ends with its own peer's bytes.
    old_peer.write_all(b"old").unwrap();
    drain(&scheduler);
    assert_eq!(in_flight(&scheduler), 0);
}

/// A buffered reader forgotten with its multishot receive armed (the receive is abandoned, not
/// stopped) and its stream closed: a new socket put at the old number gets its own bytes, as
/// the receive names the slot's duplicate of the old socket on the emulations (io_uring holds
/// the old file itself).
#[test]
fn a_forgotten_buffered_reader_does_not_receive_for_the_next_socket_at_its_number() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use std::os::fd::{AsRawFd, FromRawFd};
    let scheduler = Scheduler::new().unwrap();
    let (old, mut old_peer) = pair();
    let number = old.as_raw_fd();
    old_peer.write_all(b"first").unwrap();
    let task = scheduler.spawn(move || {
        let mut reader = old.buffered_reader();
        let mut buf = [0u8; 5];
        reader.read_exact(&mut buf).unwrap(); // arms the multishot receive
        assert_eq!(&buf, b"first");
        std::mem::forget(reader); // its receive stays in flight, abandoned
        drop(old); // closes `number`
    });
    scheduler.run(RunMode::Wait).unwrap();
    task.join();
    let (new, mut new_peer) = pair();
    // The new socket at `number`: given it (the lowest free number), or put there.
    let reused = if new.as_raw_fd() == number {
        new
    } else {
        // SAFETY: `number` was closed with the stream; dup2 makes it a new descriptor of
        // `new`'s socket, owned by the stream made from it.
        let reused = unsafe {
            assert_eq!(libc::dup2(new.as_raw_fd(), number), number);
            TcpStream::from_raw_fd(number)
        };
        drop(new);
        reused
    };
    // The old socket's peer writes on: the abandoned receive takes these bytes from the old
    // socket, and must not go on at `number` after them (the stand-in of kernels before 6.0
    // re-arms a single receive after each arrival, which named the number: it took the new
    // socket's first bytes).
    // Then the new socket's first bytes come before its reader reads.
    for (peer, part) in [(&mut old_peer, &b"late"[..]), (&mut new_peer, b"mine")] {
        peer.write_all(part).unwrap();
        for _ in 0..20 {
            scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let task = scheduler.spawn(move || {
        let mut stream = reused;
        // Bounded: a receive that took the bytes leaves this read waiting (it hung before).
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while got.len() < 12 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    });
    for part in [&b" all"[..], b" six"] {
        new_peer.write_all(part).unwrap();
        for _ in 0..20 {
            scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // No task left, the forgotten receive still in flight: `run` returns (it waited for that
    // receive forever before).
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(task.join(), b"mine all six", "every byte of the new socket reached its reader");
}

/// Out of descriptors (`EMFILE`), a buffered reader still reads: on the emulations its
/// multishot receive needs a duplicate of the socket, which cannot be made then, and a plain
/// receive needs none (the reader failed with `EMFILE` before, and the example HTTP server
/// closed such connections unanswered). Alone in this binary: the process runs out of
/// descriptors for a while.
#[test]
fn a_buffered_reader_reads_at_the_descriptor_limit() {
    use std::io::BufRead;
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scheduler = Scheduler::new().unwrap();
    let (stream, mut peer) = pair();
    // Every descriptor number below a lowered soft limit taken: nothing can be opened or
    // duplicated until `exhausted` is dropped.
    let exhausted = common::ExhaustedDescriptors::new(&peer);
    // Spawned (and run up to its first receive) with no descriptor left.
    let task = scheduler.spawn(move || {
        let mut reader = stream.buffered_reader();
        let mut got = Vec::new();
        while got.len() < 10 {
            let chunk = reader.fill_buf().expect("a read at the descriptor limit");
            assert!(!chunk.is_empty(), "the peer closed early");
            got.extend_from_slice(chunk);
            let n = chunk.len();
            reader.consume(n);
        }
        got
    });
    peer.write_all(b"hello").unwrap();
    for _ in 0..20 {
        scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    peer.write_all(b" there").unwrap();
    let ticks = scheduler.run(RunMode::Wait);
    drop(exhausted);
    ticks.unwrap();
    assert_eq!(String::from_utf8(task.join()).unwrap(), "hello there");
}
