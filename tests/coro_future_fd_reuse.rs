//! A stream dropped mid-read and a new socket put at its descriptor's number: alone in its
//! test binary, because it reuses a descriptor number on purpose (`dup2`), which a test running
//! in parallel in the same process could have been given meanwhile.

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
