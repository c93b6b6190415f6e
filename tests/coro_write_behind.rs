//! `WriteBehind` (`TcpStream::write_behind`, `UnixStream::write_behind`): writes that copy,
//! queue their send and return. Order across many queued writes, a write larger than one
//! buffer, a flush that waits, an error (a reset peer) reported by the next call, drops with
//! sends in flight (also of the whole scheduler: in CI's ASan list), and the fallback at the
//! descriptor limit. Run on every backend (CI repeats the suite with `CORIO_BACKEND=posix`),
//! and on io_uring once more as a kernel before 5.19 (`CORIO_URING_DISABLE=send_wait_all`:
//! sends that may end short, canceled on drop).

// Not on WASI (no coro); not on Windows (Unix socket pairs, and the descriptor limit).
#![cfg(not(any(target_os = "wasi", windows)))]

#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use corio::coro::net::{TcpListener, TcpStream, UnixStream};
use corio::coro::{RunMode, Scheduler};

/// Taken shared by every test, and alone by the one that exhausts the process's descriptors.
static DESCRIPTORS: RwLock<()> = RwLock::new(());

/// Whether this process plays a kernel without whole sends (set by the re-run below).
fn old_kernel() -> bool {
    common::is_io_uring() && std::env::var("CORIO_URING_DISABLE").is_ok_and(|v| v.contains("send_wait_all"))
}

/// A Unix stream pair whose first end has the smallest send buffer the kernel allows: a
/// 16 KiB send into it cannot complete until the other end reads.
fn tight_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    socket2::SockRef::from(&a).set_send_buffer_size(1).unwrap();
    (a, b)
}

#[test]
fn the_same_holds_on_a_kernel_without_whole_sends() {
    if std::env::var_os("CORIO_URING_DISABLE").is_some() || !common::is_io_uring() {
        return;
    }
    let stdout = common::rerun_with_uring_disabled("send_wait_all", &[], &[]);
    assert!(stdout.contains("test result: ok"), "the child tests did not run:\n{stdout}");
}

#[test]
fn many_queued_writes_arrive_in_order() {
    let _shared = DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner());
    const RECORDS: usize = 20_000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let mut got = Vec::new();
        std::net::TcpStream::connect(addr).unwrap().read_to_end(&mut got).unwrap();
        got
    });
    let scheduler = Scheduler::new().unwrap();
    let server = scheduler.spawn(move || {
        let (stream, _) = listener.accept()?;
        let mut writer = stream.write_behind();
        for i in 0..RECORDS {
            let record = format!("{i:08}\n");
            // Each returns once its bytes are copied (a record is far below one buffer).
            assert_eq!(writer.write(record.as_bytes())?, record.len());
        }
        writer.flush()?;
        std::io::Result::Ok(())
    });
    server.join().unwrap();
    let got = String::from_utf8(peer.join().unwrap()).unwrap();
    let records: Vec<&str> = got.lines().collect();
    assert_eq!(records.len(), RECORDS);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(*record, format!("{i:08}"), "record {i} out of order");
    }
}

/// A thread that runs `before`, then reads `b` (the peer end of a pair) to its end.
fn read_all_on_a_thread(b: UnixStream, before: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut b = std::os::unix::net::UnixStream::from(b);
        before();
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        got
    })
}

#[test]
fn a_write_larger_than_one_buffer_is_sent_whole() {
    let _shared = DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner());
    let data = common::pattern(1 << 20);
    let expected = data.clone();
    let (a, b) = UnixStream::pair().unwrap();
    let peer = read_all_on_a_thread(b, || {});
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(move || {
        let mut writer = a.write_behind();
        // One write takes what fits in a buffer, and says so.
        let first = writer.write(&data)?;
        assert!(first > 0 && first < data.len(), "{first}");
        writer.write_all(&data[first..])?;
        writer.write_all(b"")?;
        writer.flush()?;
        std::io::Result::Ok(())
    });
    task.join().unwrap();
    assert!(peer.join().unwrap() == expected, "the bytes differ");
}

#[test]
fn flush_waits_for_every_queued_send() {
    let _shared = DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner());
    let (a, b) = tight_pair();
    let data = common::pattern(16 * 1024);
    let expected = data.clone();
    let reading = Arc::new(AtomicBool::new(false));
    let (go, went) = std::sync::mpsc::channel::<()>();
    let peer_reading = reading.clone();
    let peer = read_all_on_a_thread(b, move || {
        went.recv().unwrap();
        // Late on purpose: a flush that did not wait would be back before this.
        std::thread::sleep(Duration::from_millis(200));
        peer_reading.store(true, Ordering::SeqCst);
    });
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(move || {
        let mut writer = a.write_behind();
        // Queued although the peer reads nothing yet (the socket holds only a part of it).
        writer.write_all(&data)?;
        go.send(()).unwrap();
        writer.flush()?;
        assert!(reading.load(Ordering::SeqCst), "the flush returned before the peer read the bytes");
        std::io::Result::Ok(())
    });
    task.join().unwrap();
    assert!(peer.join().unwrap() == expected, "the bytes differ");
}

/// A peer that resets the connection: the send queued after the reset fails, and the next
/// call (a write that waits for it, or a flush) reports it; the call after that starts afresh.
#[test]
fn a_reset_is_reported_by_the_next_write_or_flush() {
    let _shared = DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner());
    for report_by_flush in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let stream = std::net::TcpStream::connect(addr).unwrap();
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
        });
        let scheduler = Scheduler::new().unwrap();
        let server = scheduler.spawn(move || {
            let (stream, _) = listener.accept()?;
            // The reset arrived once a read fails.
            let mut byte = [0u8; 1];
            while (&stream).read(&mut byte).is_ok_and(|n| n > 0) {}
            let mut writer = stream.write_behind();
            let queued = writer.write(b"after the reset");
            let reported = match queued {
                // The posix backend tries the send at once, so the write itself may fail.
                Err(e) => {
                    assert!(!common::is_io_uring(), "io_uring queues the send: {e}");
                    e
                }
                Ok(n) => {
                    assert_eq!(n, 15);
                    let next = if report_by_flush { writer.flush() } else { writer.write(b"next").map(drop) };
                    next.expect_err("the failed send was not reported")
                }
            };
            assert!(matches!(reported.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{reported}");
            // Reported once; the failed bytes are gone.
            writer.flush()?;
            std::io::Result::Ok(())
        });
        peer.join().unwrap();
        server.join().unwrap();
    }
}

/// The writer and the stream dropped while a send waits for the peer: the send goes on (its
/// buffer and descriptor are the scheduler's), the peer gets every byte and then the end of
/// the stream, and nothing is left in flight. On a kernel without whole sends the send is
/// canceled instead: the peer gets a prefix.
#[test]
fn a_send_in_flight_outlives_the_dropped_stream() {
    let _shared = DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner());
    let (a, b) = tight_pair();
    let data = common::pattern(16 * 1024);
    let expected = data.clone();
    let dropped = Arc::new(AtomicBool::new(false));
    let scheduler = Scheduler::new().unwrap();
    let flag = dropped.clone();
    let writer_task = scheduler.spawn(move || {
        let mut writer = a.write_behind();
        writer.write_all(&data).unwrap();
        drop(writer);
        drop(a);
        flag.store(true, Ordering::SeqCst);
    });
    let peer = scheduler.spawn(move || {
        while !dropped.load(Ordering::SeqCst) {
            corio::coro::sleep(Duration::from_millis(1)).unwrap();
        }
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        got
    });
    writer_task.join();
    let got = peer.join();
    if old_kernel() {
        assert!(got.len() < expected.len() && expected.starts_with(&got), "{} bytes", got.len());
    } else {
        assert!(got == expected, "{} of {} bytes, or they differ", got.len(), expected.len());
    }
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(scheduler.metrics().ops_in_flight, 0, "an op is left in flight");
}

/// The scheduler dropped while a writer's send still waits for a peer that never reads: the
/// scheduler's IO drains the send before freeing its buffer (ASan checks this in CI).
#[test]
fn a_scheduler_dropped_with_a_send_in_flight() {
    let _shared = DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner());
    let (a, b) = tight_pair();
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(move || {
        let mut writer = a.write_behind();
        writer.write_all(&common::pattern(16 * 1024)).unwrap();
    });
    task.join();
    assert!(scheduler.metrics().ops_in_flight > 0, "the send should still wait for the peer");
    drop(scheduler);
    // The send is gone with the scheduler: the peer reads a prefix, then the end.
    let mut got = Vec::new();
    std::os::unix::net::UnixStream::from(b).read_to_end(&mut got).unwrap();
    assert!(got.len() < 16 * 1024 && common::pattern(16 * 1024).starts_with(&got), "{} bytes", got.len());
}

/// Out of descriptors (`EMFILE`), the sends' duplicate cannot be made: the writer writes as
/// the stream's own calls do instead of failing.
#[test]
fn at_the_descriptor_limit_writes_are_the_streams_own() {
    let _alone = DESCRIPTORS.write().unwrap_or_else(|e| e.into_inner());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let peer = listener.accept().unwrap().0;
    let scheduler = Scheduler::new().unwrap();
    let exhausted = common::ExhaustedDescriptors::new(&peer);
    let task = scheduler.spawn(move || {
        let mut writer = stream.write_behind();
        writer.write_all(b"hello ")?;
        writer.write_all(b"there")?;
        writer.flush()
    });
    let ran = scheduler.run(RunMode::Wait);
    drop(exhausted);
    ran.unwrap();
    task.join().unwrap();
    let mut got = [0u8; 11];
    (&peer).read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello there");
}
