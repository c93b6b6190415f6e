//! A task's plain writes on a stream (`Write for &TcpStream`/`&UnixStream`) keep what std
//! promises on every backend: the count sent, partial writes, timeouts, `EPIPE` without
//! `SIGPIPE` (also for vectored writes, which raised it), vectored writes, a canceled task's
//! write. CI repeats the suite with `CORIO_BACKEND=posix`.

// Not on WASI (no sockets, no coro); not on Windows (Unix socket pairs, signals).
#![cfg(not(any(target_os = "wasi", windows)))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::time::{Duration, Instant};

use corio::coro::Scheduler;
use corio::coro::net::{TcpListener, TcpStream, UnixStream};

#[test]
fn small_writes_complete_and_arrive_in_order() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let b = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    const ROUNDS: usize = 100;
    let writer = scheduler.spawn(move || {
        let mut sent = 0;
        for i in 0..ROUNDS {
            let msg = [i as u8; 10];
            sent += (&server).write(&msg).unwrap();
        }
        sent
    });
    let sent = writer.join();
    assert_eq!(sent, ROUNDS * 10);
    let mut got = vec![0u8; ROUNDS * 10];
    (&b).read_exact(&mut got).unwrap();
    let expected: Vec<u8> = (0..ROUNDS).flat_map(|i| [i as u8; 10]).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_partial_write_into_a_full_socket_then_the_rest_in_order() {
    let (a, b) = UnixStream::pair().unwrap();
    let scheduler = Scheduler::new().unwrap();
    const BIG: usize = 8 << 20;
    let data = common::pattern(BIG);
    let expected = data.clone();
    let writer = scheduler.spawn(move || {
        let first = (&a).write(&data).unwrap();
        assert!(first > 0 && first <= BIG);
        (&a).write_all(&data[first..]).unwrap();
        first
    });
    let reader = scheduler.spawn(move || {
        let mut got = vec![0u8; BIG];
        (&b).read_exact(&mut got).unwrap();
        got
    });
    writer.join();
    assert!(reader.join() == expected, "the bytes arrived out of order");
}

#[test]
fn the_write_timeout_bounds_a_write_into_a_full_socket() {
    let (a, _b) = UnixStream::pair().unwrap();
    let scheduler = Scheduler::new().unwrap();
    let t = scheduler.spawn(move || {
        a.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
        let chunk = vec![7u8; 65536];
        loop {
            let start = Instant::now();
            match (&a).write(&chunk) {
                Ok(n) => assert!(n > 0),
                Err(e) => return (e.kind(), start.elapsed()),
            }
        }
    });
    let (kind, waited) = t.join();
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert!(waited >= Duration::from_millis(40), "failed after {waited:?}, before the timeout");
}

#[test]
fn a_write_after_the_peer_closed_fails_with_epipe_and_no_sigpipe() {
    // SIGPIPE blocked on this thread (where the tasks run): one raised stays pending.
    // SAFETY: plain signal-mask calls on a local, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()), 0);
    }
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    let scheduler = Scheduler::new().unwrap();
    let t = scheduler.spawn(move || {
        let plain = (&a).write(b"late").unwrap_err();
        let vectored = (&a).write_vectored(&[IoSlice::new(b"la"), IoSlice::new(b"te")]).unwrap_err();
        (plain, vectored)
    });
    let (plain, vectored) = t.join();
    // SAFETY: as above, on local sets. Once unblocked, a pending SIGPIPE is discarded: the
    // Rust runtime ignores SIGPIPE (a blocked one is still kept pending on Linux).
    let pending = unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        assert_eq!(libc::sigpending(&mut pending), 0);
        let raised = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        raised
    };
    assert_eq!(plain.raw_os_error(), Some(libc::EPIPE), "{plain:?}");
    assert_eq!(vectored.raw_os_error(), Some(libc::EPIPE), "{vectored:?}");
    assert!(!pending, "a write raised SIGPIPE");
}

#[test]
fn vectored_writes_send_the_slices_in_order() {
    let (a, b) = UnixStream::pair().unwrap();
    let scheduler = Scheduler::new().unwrap();
    let n = scheduler
        .spawn(move || {
            let head = b"HTTP/1.1 200 OK\r\n";
            let body = b"hello";
            (&a).write_vectored(&[IoSlice::new(head), IoSlice::new(b""), IoSlice::new(body)]).unwrap()
        })
        .join();
    assert_eq!(n, 22);
    let mut got = [0u8; 22];
    (&b).read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 200 OK\r\nhello");
}

#[test]
fn tcp_write_vectored_with_more_slices_than_one_call_takes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let scheduler = Scheduler::new().unwrap();
    let pieces: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 3]).collect();
    let expected: Vec<u8> = pieces.concat();
    let t = scheduler.spawn(move || {
        let mut slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        let mut total = 0;
        while !rest.is_empty() {
            let n = (&server).write_vectored(rest).unwrap();
            assert!(n > 0);
            total += n;
            IoSlice::advance_slices(&mut rest, n);
        }
        total
    });
    assert_eq!(t.join(), 60);
    let mut got = vec![0u8; 60];
    (&client).read_exact(&mut got).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn a_canceled_task_s_write_fails_and_sends_nothing() {
    let (a, b) = UnixStream::pair().unwrap();
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(move || {
        // Canceled while parked here.
        let parked = corio::coro::io::single(corio::aio::op::Timeout::new(Duration::from_secs(10))).unwrap_err();
        let write = (&a).write(b"late").unwrap_err();
        (parked, write)
    });
    assert!(!task.is_complete());
    let (parked, write) = task.cancel_and_join();
    assert!(corio::aio::is_canceled(&parked), "{parked:?}");
    assert!(corio::aio::is_canceled(&write), "{write:?}");
    // The task dropped `a`: everything it sent is before the end of the stream.
    let mut got = Vec::new();
    (&b).read_to_end(&mut got).unwrap();
    assert!(got.is_empty(), "the canceled task's bytes were sent: {got:?}");
}
