//! A whole send linked to a receive: aio's `Send::wait_all` (success, a broken connection, a
//! kernel that cannot promise it) and coro's `write_all_then_read` on it (one park for a reply
//! and the next request; short sends, timeouts, the fallbacks). Run on every backend (CI
//! repeats the suite with `CORIO_BACKEND=posix`), and on io_uring once more as a kernel
//! before 5.19 (`CORIO_URING_DISABLE=send_wait_all`).

// Not on WASI (no sockets, no coro); not on Windows (Unix socket pairs; the IOCP send is
// covered by aio/tests/aio_windows.rs).
#![cfg(not(any(target_os = "wasi", windows)))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::{expect_canceled, expect_kind};
use corio::aio::op::{Nop, OpExt, Recv, Send};
use corio::aio::{self, Dynamic, Mode};
use corio::coro::Scheduler;
use corio::coro::net::{TcpListener, TcpStream, UnixStream};

/// Whether this process plays a kernel without whole sends (set by the re-run below).
fn old_kernel() -> bool {
    common::is_io_uring() && std::env::var("CORIO_URING_DISABLE").is_ok_and(|v| v.contains("send_wait_all"))
}

/// More than a socket buffer holds, so the send has to wait for the reader part way.
const BIG: usize = 8 << 20;

#[test]
fn the_same_holds_on_a_kernel_without_whole_sends() {
    if std::env::var_os("CORIO_URING_DISABLE").is_some() || !common::is_io_uring() {
        return;
    }
    let stdout = common::rerun_with_uring_disabled("send_wait_all", &[], &["--test-threads=1"]);
    assert!(stdout.contains("test result: ok"), "the child tests did not run:\n{stdout}");
}

#[test]
fn wait_all_sends_everything_then_the_linked_recv_runs() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let data = common::pattern(BIG);
    let peer = thread::spawn(move || {
        let mut b = b;
        let mut got = vec![0u8; BIG];
        b.read_exact(&mut got).unwrap();
        b.write_all(b"thanks").unwrap();
        got
    });
    let mut answer = [0u8; 16];
    let (sent, received) = aio::complete((Send::new(&a, &data).wait_all().soft(), Recv::new(&a, &mut answer))).unwrap();
    if old_kernel() {
        // Refused without sending anything: the linked receive never ran.
        expect_kind(sent, ErrorKind::Unsupported);
        expect_canceled(received);
        drop(a);
        assert!(peer.join().is_err(), "the peer should have seen the stream end before any data");
        return;
    }
    assert_eq!(sent.unwrap(), BIG);
    assert_eq!(&answer[..received.unwrap()], b"thanks");
    assert!(peer.join().unwrap() == data);
}

#[test]
fn a_wait_all_send_cut_short_cancels_what_is_linked_after_it() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let data = common::pattern(BIG);
    // The peer reads a little, then closes: the rest cannot be sent.
    let peer = thread::spawn(move || {
        let mut b = b;
        let mut some = vec![0u8; 4096];
        b.read_exact(&mut some).unwrap();
        thread::sleep(Duration::from_millis(50));
    });
    let mut answer = [0u8; 16];
    let mut ring = Dynamic::new(4).unwrap();
    let (send, recv) = ring.run((Send::new(&a, &data).wait_all().soft(), Recv::new(&a, &mut answer)), |_| {}).unwrap();
    // (Refused on an old kernel: nothing was sent, and the peer's read ends with the stream.)
    drop(a);
    let _ = peer.join();
    match send {
        // A short count (what was sent before the peer went away) or the error itself.
        Ok(n) => assert!(n < BIG, "{n}"),
        Err(e) if old_kernel() => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e:?}"),
        Err(e) => assert!(matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{e:?}"),
    }
    // Either way the receive was canceled, not left waiting for an answer.
    expect_canceled(recv);
    assert_eq!(ring.complete(Mode::Nonblocking, |_| {}).unwrap().completed, 0);
}

#[test]
fn a_refused_batch_with_a_whole_send_leaves_nothing_behind() {
    // A later op of the batch fails to prepare after the send was; on a kernel that refuses
    // whole sends, nothing of the refusal may stay attached to the slots the batch held.
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut empty = [0u8; 0];
    // Two slots, so the ops after the refused batch reuse the ones it held.
    aio::scope(2, |ring| {
        let refused = ring.queue((Send::new(&a, b"x").wait_all().soft(), Recv::new(&a, &mut empty)));
        expect_kind(refused, ErrorKind::InvalidInput);
        for _ in 0..2 {
            let (first, second) = ring.run((Nop::new(), Nop::new()), |_| {}).unwrap();
            first.unwrap();
            second.unwrap();
        }
    })
    .unwrap();
}

/// A server task greeting with `first_reply`, then answering each request with `reply`, through
/// `write_all_then_read` until the client closes; returns the requests it got.
fn serve(stream: TcpStream, first_reply: &[u8], reply: &[u8]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut requests = Vec::new();
    let mut buf = [0u8; 64];
    let mut n = stream.write_all_then_read(first_reply, &mut buf)?;
    while n > 0 {
        requests.push(buf[..n].to_vec());
        n = stream.write_all_then_read(reply, &mut buf)?;
    }
    Ok(requests)
}

#[test]
fn tcp_request_reply_rounds_in_one_scheduler() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Client and server are tasks of one thread: a blocking call would deadlock.
    let server = scheduler.spawn(move || {
        let (stream, _) = listener.accept()?;
        serve(stream, b"hello", b"pong")
    });
    let client = scheduler.spawn(move || {
        let stream = TcpStream::connect(addr)?;
        let mut greeting = [0u8; 5];
        (&stream).read_exact(&mut greeting)?;
        let mut replies = Vec::new();
        let mut reply = [0u8; 4];
        for i in 0..20 {
            // The client uses it too: a request, then the reply.
            let n = stream.write_all_then_read(format!("ping{i:02}").as_bytes(), &mut reply)?;
            (&stream).read_exact(&mut reply[n..])?;
            replies.push(reply);
        }
        std::io::Result::Ok((greeting, replies))
    });
    let (greeting, replies) = client.join().unwrap();
    assert_eq!(&greeting, b"hello");
    assert!(replies.iter().all(|r| r == b"pong"));
    let requests = server.join().unwrap();
    assert_eq!(requests.len(), 20, "{requests:?}");
    assert_eq!(requests[19], b"ping19");
}

#[test]
fn a_reply_larger_than_the_socket_buffer_is_all_sent_before_the_read() {
    let (a, b) = UnixStream::pair().unwrap();
    let scheduler = Scheduler::new().unwrap();
    let data = common::pattern(BIG);
    let expected = data.clone();
    let server = scheduler.spawn(move || {
        let mut buf = [0u8; 16];
        let n = a.write_all_then_read(&data, &mut buf)?;
        std::io::Result::Ok(buf[..n].to_vec())
    });
    let client = scheduler.spawn(move || {
        let mut got = vec![0u8; BIG];
        (&b).read_exact(&mut got)?;
        (&b).write_all(b"done")?;
        std::io::Result::Ok(got)
    });
    assert!(client.join().unwrap() == expected);
    assert_eq!(server.join().unwrap(), b"done");
}

#[test]
fn a_broken_connection_fails_like_write_all_and_never_hangs() {
    let (a, b) = UnixStream::pair().unwrap();
    let scheduler = Scheduler::new().unwrap();
    let data = common::pattern(BIG);
    let server = scheduler.spawn(move || {
        let mut buf = [0u8; 16];
        a.write_all_then_read(&data, &mut buf)
    });
    let reader = scheduler.spawn(move || {
        let mut some = vec![0u8; 4096];
        (&b).read_exact(&mut some)?;
        drop(b);
        std::io::Result::Ok(())
    });
    reader.join().unwrap();
    let err = server.join().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{err:?}");
}

#[test]
fn the_read_timeout_bounds_the_read_after_the_send() {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let scheduler = Scheduler::new().unwrap();
    let server = scheduler.spawn(move || {
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let err = a.write_all_then_read(b"are you there?", &mut buf).unwrap_err();
        (a, err, start.elapsed())
    });
    let (a, err, waited) = server.join();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err:?}");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    assert!(waited >= Duration::from_millis(45), "{waited:?}");
    // The data went out, and nothing sent later is lost.
    let mut got = [0u8; 14];
    (&b).read_exact(&mut got).unwrap();
    assert_eq!(&got, b"are you there?");
    (&b).write_all(b"yes").unwrap();
    let t = scheduler.spawn(move || {
        let mut buf = [0u8; 3];
        (&a).read_exact(&mut buf).map(|()| buf)
    });
    assert_eq!(&t.join().unwrap(), b"yes");
}

#[test]
fn empty_buffers_write_timeouts_and_plain_threads_take_the_two_calls() {
    let (a, b) = UnixStream::pair().unwrap();
    let peer = thread::spawn(move || {
        let mut got = [0u8; 5];
        (&b).read_exact(&mut got).unwrap();
        (&b).write_all(b"std").unwrap();
        let mut more = [0u8; 4];
        (&b).read_exact(&mut more).unwrap();
        (&b).write_all(b"wt").unwrap();
        (got, more)
    });
    // Outside a task: std's calls, blocking this thread.
    let mut buf = [0u8; 8];
    let mut n = a.write_all_then_read(b"hello", &mut buf).unwrap();
    while n < 3 {
        n += (&a).read(&mut buf[n..]).unwrap();
    }
    assert_eq!(&buf[..3], b"std");
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(move || {
        // Nothing to send and nothing to read into: nothing happens.
        assert_eq!(a.write_all_then_read(b"", &mut []).unwrap(), 0);
        // Nothing to read into: only the write.
        assert_eq!(a.write_all_then_read(b"mo", &mut []).unwrap(), 0);
        // A write timeout: the two calls, each bounded as usual.
        a.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2];
        let n = a.write_all_then_read(b"re", &mut buf)?;
        std::io::Result::Ok(buf[..n].to_vec())
    });
    let got = task.join().unwrap();
    let (first, more) = peer.join().unwrap();
    assert_eq!(&first, b"hello");
    assert_eq!(&more, b"more");
    assert!(b"wt".starts_with(&got) && !got.is_empty(), "{got:?}");
}
