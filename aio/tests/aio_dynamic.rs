//! `Dynamic`: backend selection, ids, user data, non-blocking completion, cancel, drop with
//! ops in flight, `scope` with borrowed buffers and `Completion::output`.

// Not on WASI: wasm32-wasip1 has no pipes; tests/aio_wasi.rs covers aio there.
#![cfg(not(target_os = "wasi"))]

mod common;

use std::collections::HashSet;
use std::fs::File;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{TempDir, expect_canceled, expect_kind};
use corio_aio::op::{Cancel, Fsync, Nop, OpExt, Poll, Read, Timeout, Write};
use corio_aio::{self as aio, Dynamic, Id, Mode};

#[test]
fn backend_is_the_selected_one() {
    let ring = Dynamic::new(4).unwrap();
    println!("backend: {}", ring.backend());
    assert!(format!("{ring:?}").contains("capacity: 4"), "{ring:?}");
    match std::env::var("CORIO_BACKEND") {
        Ok(name) => assert_eq!(ring.backend().to_string(), name, "CORIO_BACKEND is not honoured"),
        // `auto`: io_uring where it works (checked against a raw probe in aio_auto_fallback.rs).
        Err(_) => assert_eq!(ring.backend(), aio::default_backend()),
    }
}

#[test]
fn capacity_must_be_positive() {
    expect_kind(Dynamic::new(0), ErrorKind::InvalidInput);
    let ring = Dynamic::new(3).unwrap();
    assert_eq!((ring.capacity(), ring.in_flight()), (3, 0));
}

#[test]
fn ids_are_unique_and_match_completions() {
    // Inventory §6.1 item 1: three fsyncs of a new file in one batch.
    let dir = TempDir::new("ids");
    let file: &'static File = common::leak(File::create(dir.join("f")).unwrap());
    let mut ring = Dynamic::new(16).unwrap();
    let ids = ring.queue((Fsync::new(file), Fsync::new(file), Fsync::new(file).data_only())).unwrap();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3, "{ids:?}");
    assert_eq!(ring.in_flight(), 3);
    let mut seen = Vec::new();
    assert_eq!(ring.complete_all(|c| seen.push((c.id, c.op, c.result.is_ok()))).unwrap(), 0);
    seen.sort();
    let mut expected: Vec<_> = ids.iter().map(|&id| (id, "fsync", true)).collect();
    expected.sort();
    assert_eq!(seen, expected);

    // Ids survive a round trip through u64, and released slots get fresh generations.
    let again = ring.queue([Nop::new(), Nop::new(), Nop::new()]).unwrap();
    for id in again {
        assert_eq!(Id::from_u64(id.to_u64()), id);
        assert!(!ids.contains(&id), "a reused slot got a new generation: {id:?} in {ids:?}");
    }
    ring.complete_all(drop).unwrap();
}

#[test]
fn user_data_round_trips() {
    let mut ring = Dynamic::new(8).unwrap();
    let [nop, other, plain] =
        ring.queue((Nop::new().user_data(42), Nop::new().user_data(u64::MAX), Nop::new())).unwrap();
    let mut seen = Vec::new();
    let errors = ring
        .complete_all(|c| {
            assert_eq!(c.op, "nop");
            assert!(c.result.is_ok());
            seen.push((c.id, c.user_data));
        })
        .unwrap();
    assert_eq!(errors, 0);
    seen.sort();
    let mut expected = vec![(nop, 42), (other, u64::MAX), (plain, 0)];
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn complete_on_an_idle_or_pending_ring() {
    let mut ring = Dynamic::new(4).unwrap();
    // Nothing in flight: even a blocking complete returns at once.
    assert_eq!(ring.complete(Mode::Blocking, |_| unreachable!()).unwrap(), aio::Completed::default());
    let timer = ring.queue(Timeout::new(Duration::from_secs(5))).unwrap();
    let done = ring.complete(Mode::Nonblocking, |c| panic!("the timeout cannot be done: {c:?}")).unwrap();
    assert_eq!((done.completed, done.errors), (0, 0));
    assert_eq!(ring.in_flight(), 1);
    ring.queue(Cancel::new(timer)).unwrap();
    assert_eq!(ring.complete_all(drop).unwrap(), 1);
}

#[test]
fn cancel_pending_finished_and_stale_ids() {
    // Inventory §6.1 item 14.
    let start = Instant::now();
    let mut ring = Dynamic::new(16).unwrap();
    let timer = ring.queue(Timeout::new(Duration::from_secs(5)).user_data(1)).unwrap();
    assert_eq!(ring.complete(Mode::Nonblocking, |_| panic!("nothing is done yet")).unwrap().completed, 0);
    let cancel = ring.queue(Cancel::new(timer).user_data(2)).unwrap();
    let mut results = Vec::new();
    let errors = ring.complete_all(|c| results.push((c.user_data, c.id, c.result))).unwrap();
    assert_eq!(errors, 1, "only the canceled timeout failed");
    results.sort_by_key(|r| r.0);
    let mut results = results.into_iter();
    let (_, id, result) = results.next().unwrap();
    assert_eq!(id, timer);
    expect_canceled(result);
    let (_, id, result) = results.next().unwrap();
    assert_eq!(id, cancel);
    result.unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());

    // The timer's id is now stale: canceling it finds nothing.
    ring.queue(Cancel::new(timer)).unwrap();
    let mut result = None;
    assert_eq!(ring.complete_all(|c| result = Some(c.result)).unwrap(), 1);
    expect_kind(result.unwrap(), ErrorKind::NotFound);

    // Same for an op that already finished, and for an id that never existed.
    let nop = ring.queue(Nop::new()).unwrap();
    ring.complete_all(drop).unwrap();
    for target in [nop, Id::from_u64(0x0000_1234_0000_0007)] {
        ring.queue(Cancel::new(target)).unwrap();
        let mut result = None;
        ring.complete_all(|c| result = Some(c.result)).unwrap();
        let err = expect_kind(result.unwrap(), ErrorKind::NotFound);
        assert_eq!(err.raw_os_error(), Some(common::ENOENT), "{err:?}");
    }

    // A stale id does not reach the op now occupying its slot.
    let old = ring.queue(Nop::new()).unwrap();
    ring.complete_all(drop).unwrap();
    let new = ring.queue(Timeout::new(Duration::from_millis(100))).unwrap();
    assert_eq!(new.slot(), old.slot(), "the freed slot is reused first");
    ring.queue(Cancel::new(old)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.op, c.result))).unwrap();
    results.sort_by_key(|r| r.0);
    let [(op_a, cancel), (op_b, timer)] = <[_; 2]>::try_from(results).unwrap();
    assert_eq!((op_a, op_b), ("cancel", "timeout"));
    expect_kind(cancel, ErrorKind::NotFound);
    timer.unwrap();
}

#[test]
fn dropping_a_ring_cancels_and_waits_promptly() {
    // Submitted and pending.
    let mut ring = Dynamic::new(4).unwrap();
    ring.queue((Timeout::new(Duration::from_secs(5)), Timeout::new(Duration::from_secs(5)))).unwrap();
    assert_eq!(ring.complete(Mode::Nonblocking, drop).unwrap().completed, 0);
    let start = Instant::now();
    drop(ring);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());

    // Queued but never submitted.
    let mut ring = Dynamic::new(4).unwrap();
    ring.queue(Timeout::new(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    drop(ring);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

#[test]
fn scope_with_borrowed_buffers() {
    let dir = TempDir::new("scope");
    let a = File::open(dir.file("a", b"alpha")).unwrap();
    let b = File::open(dir.file("b", b"beta")).unwrap();
    let (mut buf_a, mut buf_b) = ([0u8; 16], [0u8; 16]);
    let lens = aio::scope(4, |ring| {
        let [ia, ib] = ring.queue((Read::new(&a, &mut buf_a), Read::new(&b, &mut buf_b))).unwrap();
        let mut lens = [0; 2];
        while ring.in_flight() > 0 {
            ring.complete(Mode::Blocking, |c| {
                assert!(c.id == ia || c.id == ib, "{c:?}");
                let index = usize::from(c.id == ib);
                lens[index] = c.output::<Read>().unwrap();
            })
            .unwrap();
        }
        lens
    })
    .unwrap();
    assert_eq!(lens, [5, 4]);
    assert_eq!((&buf_a[..5], &buf_b[..4]), (&b"alpha"[..], &b"beta"[..]));

    // Ops still in flight when the closure returns are canceled and waited for.
    let start = Instant::now();
    let (r, _w) = common::pipe();
    let mut never = [0u8; 4];
    aio::scope(4, |ring| {
        ring.queue((Read::new(&r, &mut never), Timeout::new(Duration::from_secs(5)))).unwrap();
        ring.complete(Mode::Nonblocking, drop).unwrap();
    })
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(never, [0; 4]);
}

#[test]
fn completion_output_is_typed() {
    let dir = TempDir::new("output");
    let path = dir.join("f");
    let file: &'static File = common::leak(File::create(&path).unwrap());
    let mut ring = Dynamic::new(4).unwrap();
    let [write, nop] = ring.queue((Write::new(file, b"typed").soft(), Nop::new())).unwrap();
    ring.complete_all(|c| {
        if c.id == write {
            assert_eq!(c.output::<Write>().unwrap(), 5);
        } else {
            assert_eq!(c.id, nop);
            // The wrong op type is reported, not a panic.
            expect_kind(c.output::<Poll>(), ErrorKind::InvalidData);
        }
    })
    .unwrap();
    assert_eq!(common::contents(&path), b"typed");

    // A failed op's output is its error.
    let mut buf = [0u8; 4];
    let file = File::create(dir.join("w")).unwrap();
    aio::scope(2, |ring| {
        ring.queue(Read::new(&file, &mut buf)).unwrap();
        ring.complete_all(|c| {
            assert_eq!(c.output::<Read>().unwrap_err().raw_os_error(), Some(common::EBADF_NOT_READABLE))
        })
    })
    .unwrap()
    .unwrap();
}

#[test]
fn dropping_a_ring_cancels_hard_linked_followers() {
    // The followers of a hard link start only once their predecessor ended (canceled, here),
    // after the drop's first cancels went out: they must be canceled too, not waited for.
    for submitted in [true, false] {
        let mut ring = Dynamic::new(8).unwrap();
        let five = Timeout::new(Duration::from_secs(5));
        ring.queue((five.hard(), five.hard(), Nop::new().hard(), five)).unwrap();
        if submitted {
            assert_eq!(ring.complete(Mode::Nonblocking, drop).unwrap().completed, 0);
        }
        let start = Instant::now();
        drop(ring);
        assert!(start.elapsed() < Duration::from_secs(2), "submitted {submitted}: {:?}", start.elapsed());
    }
}

#[test]
fn panicking_in_a_scope_cancels_and_waits_before_unwinding_further() {
    let (r, w) = common::pipe();
    let mut buf = [0u8; 8];
    let start = Instant::now();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        aio::scope(4, |ring| {
            ring.queue((Read::new(&r, &mut buf), Timeout::new(Duration::from_secs(5)))).unwrap();
            assert_eq!(ring.complete(Mode::Nonblocking, drop).unwrap().completed, 0);
            panic!("boom");
        })
    }));
    assert!(caught.is_err());
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    // The read was canceled, not left pending: data written now stays in the pipe.
    std::io::Write::write_all(&mut &w, b"late").unwrap();
    assert_eq!(buf, [0; 8]);
    let mut rest = [0u8; 8];
    assert_eq!(aio::single(Read::new(&r, &mut rest)).unwrap(), 4);
    assert_eq!(&rest[..4], b"late");
}

// Needs /proc/self/fd to reopen a pipe end (Linux).
#[cfg(target_os = "linux")]
#[test]
fn unconverted_completions_close_their_descriptors() {
    // Reopening a pipe's write end through /proc makes a second write end: the read end sees
    // a hang-up only once both are closed.
    for reap in [true, false] {
        let (r, w) = common::pipe();
        let path: &'static str = common::leak(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&w)));
        let mut ring = Dynamic::new(2).unwrap();
        ring.queue(aio::op::OpenAt::new(path).read(false).write(true)).unwrap();
        if reap {
            // The completion (a `Value::Fd`) is dropped without being converted.
            ring.complete_all(|c| assert!(c.result.is_ok(), "{c:?}")).unwrap();
        }
        // Otherwise the ring's drop submits, completes and drops it.
        drop(ring);
        drop(w);
        assert!(common::hung_up(&r), "reap {reap}: the opened descriptor leaked");
    }
}

#[test]
fn canceling_a_chain_head_cancels_its_soft_followers() {
    let mut ring = Dynamic::new(8).unwrap();
    let [head, follower] = ring.queue((Timeout::new(Duration::from_secs(5)).soft(), Nop::new())).unwrap();
    assert_eq!(ring.complete(Mode::Nonblocking, drop).unwrap().completed, 0);
    let cancel = ring.queue(Cancel::new(head)).unwrap();
    let start = Instant::now();
    let mut results = Vec::new();
    assert_eq!(ring.complete_all(|c| results.push((c.id, c.result))).unwrap(), 2);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    for (id, result) in results {
        if id == cancel {
            result.unwrap();
        } else {
            assert!(id == head || id == follower);
            expect_canceled(result);
        }
    }
}

/// `grow` raises the capacity (doubling) while ops are in flight: the ops queued before it
/// (a read parked on a pipe, a timer) complete normally, and ops queued in the new slots (a
/// parked read, timers, nops) work on every backend that can grow; IOCP refuses.
#[test]
fn growing_the_queue_keeps_ops_in_flight() {
    let ((r1, w1), (r2, w2)) = (common::pipe(), common::pipe());
    let (mut buf1, mut buf2) = ([0u8; 3], [0u8; 3]);
    let grew = aio::scope(2, |ring| {
        ring.queue((Read::new(&r1, &mut buf1).user_data(1), Timeout::new(Duration::from_millis(5)).user_data(2)))
            .unwrap();
        expect_kind(ring.queue(Nop::new()), ErrorKind::QuotaExceeded);
        if ring.backend() == aio::BackendKind::Iocp {
            expect_kind(ring.grow(3), ErrorKind::Unsupported);
            assert_eq!(ring.capacity(), 2, "a refused grow changes nothing");
            // Room again once the timer has fired; then the write ends the read.
            while ring.in_flight() == 2 {
                ring.complete(aio::Mode::Blocking, drop).unwrap();
            }
            ring.queue(Write::new(&w1, b"abc")).unwrap();
            ring.complete_all(drop).unwrap();
            return false;
        }
        ring.grow(1).unwrap();
        assert_eq!(ring.capacity(), 2, "never shrinks");
        ring.grow(3).unwrap();
        assert_eq!(ring.capacity(), 4);
        ring.grow(100).unwrap();
        assert_eq!(ring.capacity(), 128);
        expect_kind(ring.grow(usize::MAX), ErrorKind::InvalidInput);
        assert_eq!(ring.capacity(), 128, "a refused grow changes nothing");
        // Fill the new slots: timers, nops, and a read that parks (on posix: in the driver's
        // grown table) until the write below. In batches of 4: one batch must still fit the
        // io_uring ring, sized at creation (8 entries here).
        for i in 0..15 {
            let micros = |k: u64| Duration::from_micros(100 * (4 * i + k));
            ring.queue([0, 1, 2, 3].map(|k| Timeout::new(micros(k)).user_data(10))).unwrap();
            ring.queue([0; 4].map(|_| Nop::new().user_data(11))).unwrap();
        }
        ring.queue(Read::new(&r2, &mut buf2).user_data(3)).unwrap();
        assert_eq!(ring.in_flight(), 123);
        ring.queue((Write::new(&w2, b"xyz").user_data(4), Write::new(&w1, b"abc").user_data(4))).unwrap();
        let mut seen = [0usize; 12];
        let failed = ring
            .complete_all(|c| {
                assert!(c.result.is_ok(), "{c:?}");
                seen[c.user_data as usize] += 1;
            })
            .unwrap();
        assert_eq!(failed, 0);
        assert_eq!((seen[1], seen[2], seen[3], seen[4], seen[10], seen[11]), (1, 1, 1, 2, 60, 60));
        // The grown capacity is usable at once, again.
        for _ in 0..32 {
            ring.queue([Nop::new(); 4]).unwrap();
        }
        assert_eq!(ring.complete_all(drop).unwrap(), 0);
        true
    })
    .unwrap();
    assert_eq!(&buf1, b"abc");
    if grew {
        assert_eq!(&buf2, b"xyz");
    }
}

#[test]
fn ops_are_counted_by_kind_and_a_rolled_back_batch_is_not() {
    use corio_aio::__private::{RuntimeExt, op_kind_name};
    let counted = |ring: &Dynamic<'static>| {
        let queued = ring.queued_by_kind();
        (0..queued.len()).filter(|&k| queued[k] > 0).map(|k| (op_kind_name(k), queued[k])).collect::<Vec<_>>()
    };
    let mut ring = Dynamic::new(8).unwrap();
    assert_eq!(counted(&ring), []);
    ring.queue((Nop::new(), Timeout::new(Duration::ZERO))).unwrap();
    // Prepared, then refused whole (the last op is linked): nothing of it counts.
    expect_kind(ring.queue((Nop::new(), Nop::new().soft())), ErrorKind::InvalidInput);
    assert_eq!(counted(&ring), [("nop", 1), ("timeout", 1)]);
    ring.complete_all(drop).unwrap();
    assert_eq!(counted(&ring), [("nop", 1), ("timeout", 1)], "completions do not change it");
}
