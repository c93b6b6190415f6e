//! Timers, child processes, event sources, the immediate API's errors and zero-length buffers.

// Not on WASI: wasm32-wasip1 has no child processes and pipes; tests/aio_wasi.rs covers aio there.
// Not on Windows: child processes (ChildExit), pipes and libc; not ported to the IOCP backend yet.
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::fs::File;
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{expect_errno, expect_kind, pipe, tcp_pair};
use corio_aio::op::{
    ChildExit, Close, Nop, Notify, OpExt, OpenAt, Read, ReadTty, Readv, Recv, Splice, Timeout, Wait, Write, Writev,
};
use corio_aio::{self as aio, EventSource, Mode, OpFailed};

#[test]
fn timeout_waits_at_least_its_duration() {
    for ms in [1, 20, 100] {
        let wanted = Duration::from_millis(ms);
        let start = Instant::now();
        aio::single(Timeout::new(wanted)).unwrap();
        let elapsed = start.elapsed();
        assert!(elapsed >= wanted, "{elapsed:?} < {wanted:?}");
    }
}

#[test]
fn timeouts_in_one_batch_run_concurrently() {
    let start = Instant::now();
    aio::multi([Timeout::new(Duration::from_millis(100)); 4]).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    // Unlinked, they do not add up (generous bound: 4 × 100 ms would be 400 ms).
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

fn spawn(script: &str) -> std::process::Child {
    Command::new("/bin/sh").args(["-c", script]).stdin(Stdio::null()).spawn().expect("spawn /bin/sh")
}

#[test]
#[allow(clippy::zombie_processes, reason = "the ChildExit op reaps the child")]
fn child_exit_code() {
    let child = spawn("exit 69");
    let status = aio::single(ChildExit::new(child.id())).unwrap();
    assert_eq!(status.code(), Some(69), "{status:?}");
    assert_eq!(status.signal(), None);
    // Reaped: waiting for it again finds no such child.
    expect_errno(aio::single(ChildExit::new(child.id())), libc::ECHILD);
}

#[test]
#[allow(clippy::zombie_processes, reason = "the ChildExit op reaps the child")]
fn child_killed_by_sigkill() {
    let mut child = spawn("exec sleep 30");
    let start = Instant::now();
    aio::scope(2, |ring| {
        ring.queue(ChildExit::new(child.id())).unwrap();
        // The wait is pending while the child lives.
        assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("the child still runs: {c:?}")).unwrap().completed, 0);
        child.kill().unwrap();
        let mut status = None;
        ring.complete_all(|c| status = Some(c.output::<ChildExit>().unwrap())).unwrap();
        let status = status.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        assert_eq!(status.code(), None);
        assert!(!status.success());
    })
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
}

#[test]
fn child_exit_of_a_non_child() {
    // pid 1 exists but is not our child.
    expect_errno(aio::single(ChildExit::new(1)), libc::ECHILD);
    expect_kind(aio::single(ChildExit::new(0)), ErrorKind::InvalidInput);
    expect_kind(aio::single(ChildExit::new(u32::MAX)), ErrorKind::InvalidInput);
}

#[test]
fn event_source_counts_units() {
    let source = EventSource::new().unwrap();
    assert!(!source.try_wait().unwrap());
    source.notify().unwrap();
    source.notify().unwrap();
    assert!(source.try_wait().unwrap());
    source.wait().unwrap();
    assert!(!source.try_wait().unwrap(), "each wait takes exactly one unit");

    // The ops: a Notify then a Wait on the same source.
    aio::multi((Notify::new(&source).soft(), Wait::new(&source))).unwrap();
    assert!(!source.try_wait().unwrap());
}

#[test]
fn event_source_notify_wait_close() {
    // Inventory §6.1 item 22: notify, wait (hard) → close, in one batch.
    let source = EventSource::new().unwrap();
    let other = EventSource::new().unwrap();
    let ((), (), ()) = aio::multi((Notify::new(&source), Wait::new(&source).hard(), Close::new(other))).unwrap();
    assert!(!source.try_wait().unwrap());
}

#[test]
fn event_source_notified_from_another_thread() {
    let source = EventSource::new().unwrap();
    aio::scope(4, |ring| {
        ring.queue(Wait::new(&source).user_data(7)).unwrap();
        assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("no unit yet: {c:?}")).unwrap().completed, 0);
        std::thread::scope(|s| {
            s.spawn(|| source.notify().unwrap());
        });
        let mut done = None;
        ring.complete_all(|c| done = Some((c.user_data, c.result.is_ok()))).unwrap();
        assert_eq!(done, Some((7, true)));
    })
    .unwrap();
    assert!(!source.try_wait().unwrap(), "the wait took the unit");

    // And a blocking `wait` on this thread, notified from another.
    std::thread::scope(|s| {
        s.spawn(|| source.notify().unwrap());
        source.wait().unwrap();
    });
}

#[test]
fn multi_error_names_the_failing_op() {
    let missing = std::env::temp_dir().join("corio-no-such-dir/missing");
    let err = aio::multi((Nop::new(), OpenAt::new(&missing), Nop::new())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let failed = err.get_ref().and_then(|e| e.downcast_ref::<OpFailed>()).expect("an OpFailed");
    assert_eq!((failed.index, failed.op), (1, "openat"));
    assert_eq!(failed.error.raw_os_error(), Some(libc::ENOENT));
    assert!(err.to_string().contains("op 1 (openat)"), "{err}");
    assert!(!aio::is_canceled(&err));

    // The first failure in batch order, and `is_canceled` looks through the wrapper.
    let (r, _w) = pipe();
    let mut buf = [0u8; 4];
    let err = aio::multi((
        Read::new(&r, &mut buf).soft(),
        aio::op::LinkTimeout::new(Duration::from_millis(20)).soft(),
        Nop::new(),
    ))
    .unwrap_err();
    let failed = err.get_ref().and_then(|e| e.downcast_ref::<OpFailed>()).expect("an OpFailed");
    assert_eq!((failed.index, failed.op), (0, "read"));
    assert!(aio::is_canceled(&err), "{err:?}");

    // `single` reports the op's own error, unwrapped.
    let err = aio::single(OpenAt::new(&missing)).unwrap_err();
    assert!(err.get_ref().is_none_or(|e| e.downcast_ref::<OpFailed>().is_none()), "{err:?}");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn complete_returns_every_result() {
    let (open, nop, timer) =
        aio::complete((OpenAt::new("/corio/missing"), Nop::new(), Timeout::new(Duration::from_millis(1)))).unwrap();
    expect_kind(open, ErrorKind::NotFound);
    nop.unwrap();
    timer.unwrap();
    let results = aio::complete(vec![Nop::new(); 3]).unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn zero_length_buffers_are_invalid_input() {
    let file = File::open("/dev/zero").unwrap();
    let (r, w) = pipe();
    let (client, _server) = tcp_pair();
    let mut empty = [0u8; 0];
    expect_kind(aio::single(Read::new(&file, &mut empty)), ErrorKind::InvalidInput);
    expect_kind(aio::single(Write::new(&w, &[])), ErrorKind::InvalidInput);
    expect_kind(aio::single(ReadTty::new(&file, &mut empty)), ErrorKind::InvalidInput);
    expect_kind(aio::single(Recv::new(&client, &mut empty)), ErrorKind::InvalidInput);
    expect_kind(aio::single(Splice::new(&r, &w, 0)), ErrorKind::InvalidInput);
    expect_kind(aio::single(Writev::new(&w, &[IoSlice::new(&[])])), ErrorKind::InvalidInput);
    let mut iov = [IoSliceMut::new(&mut empty)];
    expect_kind(aio::single(Readv::new(&file, &mut iov)), ErrorKind::InvalidInput);
    // The immediate API still works after refused batches.
    aio::single(Nop::new()).unwrap();
}

#[test]
fn arrays_and_vecs_report_the_failing_index() {
    let dir = common::TempDir::new("batch-index");
    let ok = dir.file("ok", b"");
    let missing = dir.join("missing");
    let paths = [&ok, &ok, &missing, &ok];
    let err = aio::multi(paths.map(OpenAt::new)).unwrap_err();
    let failed = err.get_ref().and_then(|e| e.downcast_ref::<OpFailed>()).expect("an OpFailed");
    assert_eq!((failed.index, failed.op, err.kind()), (2, "openat", ErrorKind::NotFound));
    let err = aio::multi(paths.iter().map(OpenAt::new).collect::<Vec<_>>()).unwrap_err();
    let failed = err.get_ref().and_then(|e| e.downcast_ref::<OpFailed>()).expect("an OpFailed");
    assert_eq!(failed.index, 2);

    let results = aio::complete(paths.map(OpenAt::new)).unwrap();
    let oks: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(oks, [true, true, false, true]);
    let files = aio::multi((0..3).map(|_| OpenAt::new(&ok)).collect::<Vec<_>>()).unwrap();
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|f| f.metadata().unwrap().is_file()));
}

#[test]
fn sixteen_ops_in_a_tuple() {
    let n = Nop::new;
    // Sixteen outputs, one per op.
    let ((), (), (), (), (), (), (), (), (), (), (), (), (), (), (), ()) = aio::multi((
        n().soft(),
        n().hard(),
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        Timeout::new(Duration::ZERO),
        n(),
    ))
    .unwrap();
}
