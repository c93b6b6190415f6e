//! aio on every target, written for WASI (wasm32-wasip1 under wasmtime: `cargo test --target
//! wasm32-wasip1 --test aio_wasi`, runner `.ci/wasmtime-run`): only what wasip1 offers, so no
//! pipes, sockets, processes or threads. Nop, timeouts, the six link-timeout cases, cancel,
//! the file ops in a scratch directory under `target/` (the runner preopens the package root
//! as `.`), poll, and event sources. The same tests run natively on the default backend, and
//! under wine on the IOCP backend (Windows).
//!
//! wasm32-wasip1 tests are panic=abort: the first failure ends the binary.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::aio::op::{
    Cancel, Close, Events, Fsync, LinkTimeout, MkdirAt, Nop, Notify, OpExt, OpenAt, Poll, Read, Readv, RenameAt,
    SymlinkAt, Timeout, UnlinkAt, Wait, Write, Writev,
};
use corio::aio::{self, Condition, Dynamic, EventSource, Mode};

const SHORT: Duration = Duration::from_millis(50);
const MEDIUM: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_millis(200);

fn expect_condition<T: std::fmt::Debug>(result: std::io::Result<T>, condition: Condition) {
    let err = result.expect_err("the op must fail");
    assert_eq!(aio::condition(&err), Some(condition), "{err:?}");
}

/// A fresh directory under `target/wasi-scratch` (relative: the package root is the current
/// directory, preopened under WASI), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = Path::new("target").join("wasi-scratch").join(format!("{name}-{nanos:x}-{n}"));
        std::fs::create_dir_all(&path).expect("create the scratch directory");
        Scratch(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_default_backend_is_posix_on_wasi() {
    let ring = Dynamic::new(4).unwrap();
    if cfg!(target_os = "wasi") {
        assert_eq!(ring.backend(), aio::BackendKind::Posix);
        assert!(ring.describe().contains("poll_oneoff"), "{}", ring.describe());
    }
}

#[test]
fn nops_complete() {
    aio::single(Nop::new()).unwrap();
    let (a, b, c) = aio::multi((Nop::new().soft(), Nop::new().hard(), Nop::new())).unwrap();
    assert_eq!((a, b, c), ((), (), ()));
}

#[test]
fn timeouts_wait_at_least_their_duration() {
    let start = Instant::now();
    aio::single(Timeout::new(SHORT)).unwrap();
    assert!(start.elapsed() >= SHORT, "{:?}", start.elapsed());
    // Two timers in one batch overlap.
    let start = Instant::now();
    aio::multi((Timeout::new(MEDIUM), Timeout::new(SHORT))).unwrap();
    assert!(start.elapsed() >= MEDIUM, "{:?}", start.elapsed());
}

#[test]
fn link_timeouts_in_the_six_cases() {
    // (a) timeout LONG (soft) + link timeout MEDIUM: the timeout is canceled, the limit expired.
    let start = Instant::now();
    let (op, limit) = aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM))).unwrap();
    expect_condition(op, Condition::Canceled);
    let limit = limit.unwrap_err();
    assert!(aio::is_expired(&limit) && limit.kind() == ErrorKind::TimedOut, "{limit:?}");
    assert!(start.elapsed() >= MEDIUM, "{:?}", start.elapsed());

    // (b) timeout LONG (soft) + link timeout MEDIUM (soft) + timeout MEDIUM: three errors.
    let (op, limit, next) =
        aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM).soft(), Timeout::new(MEDIUM))).unwrap();
    expect_condition(op, Condition::Canceled);
    expect_condition(limit, Condition::Expired);
    expect_condition(next, Condition::Canceled);

    // (c) timeout MEDIUM (soft) + link timeout LONG: no error.
    let start = Instant::now();
    let (op, limit) = aio::complete((Timeout::new(MEDIUM).soft(), LinkTimeout::new(LONG))).unwrap();
    op.unwrap();
    limit.unwrap();
    assert!(start.elapsed() >= MEDIUM, "{:?}", start.elapsed());

    // (d) timeout MEDIUM (soft) + link timeout LONG (soft) + timeout MEDIUM: no error, and the
    // last timeout starts after the first finished.
    let start = Instant::now();
    let (op, limit, next) =
        aio::complete((Timeout::new(MEDIUM).soft(), LinkTimeout::new(LONG).soft(), Timeout::new(MEDIUM))).unwrap();
    op.unwrap();
    limit.unwrap();
    next.unwrap();
    assert!(start.elapsed() >= 2 * MEDIUM, "{:?}", start.elapsed());

    // (e) timeout LONG (soft) + link timeout MEDIUM (hard) + timeout MEDIUM: three errors.
    let (op, limit, next) =
        aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM).hard(), Timeout::new(MEDIUM))).unwrap();
    expect_condition(op, Condition::Canceled);
    expect_condition(limit, Condition::Expired);
    expect_condition(next, Condition::Canceled);

    // (f) timeout MEDIUM (hard) + link timeout LONG (soft) + timeout MEDIUM: no error.
    let (op, limit, next) =
        aio::complete((Timeout::new(MEDIUM).hard(), LinkTimeout::new(LONG).soft(), Timeout::new(MEDIUM))).unwrap();
    op.unwrap();
    limit.unwrap();
    next.unwrap();
}

#[test]
fn cancel_finds_pending_ops_and_not_finished_ones() {
    let start = Instant::now();
    let mut ring = Dynamic::new(8).unwrap();
    let timer = ring.queue(Timeout::new(Duration::from_secs(5)).user_data(1)).unwrap();
    assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("nothing is done yet: {c:?}")).unwrap().completed, 0);
    ring.queue(Cancel::new(timer).user_data(2)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.user_data, c.result))).unwrap();
    results.sort_by_key(|r| r.0);
    let [(1, timer_result), (2, cancel_result)] = <[_; 2]>::try_from(results).unwrap() else { panic!() };
    expect_condition(timer_result, Condition::Canceled);
    cancel_result.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "the timer was not waited for");

    // The timer is gone: canceling it again finds nothing.
    ring.queue(Cancel::new(timer)).unwrap();
    let mut result = None;
    ring.complete_all(|c| result = Some(c.result)).unwrap();
    let err = result.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[test]
#[cfg_attr(
    windows,
    ignore = "the link's target `sub/moved` has a `/`, which Windows (wine) does not resolve in a symlink"
)]
fn file_ops_in_a_preopened_directory() {
    let dir = Scratch::new("files");
    let path = dir.join("data");
    let file = aio::single(OpenAt::new(&path).read(true).write(true).create_new(true)).unwrap();
    assert_eq!(aio::single(Write::new(&file, b"hello ").offset(0)).unwrap(), 6);
    let parts = [IoSlice::new(b"wasi "), IoSlice::new(b"world")];
    assert_eq!(aio::single(Writev::new(&file, &parts).offset(6)).unwrap(), 10);
    aio::single(Fsync::new(&file)).unwrap();
    aio::single(Fsync::new(&file).data_only()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"hello wasi world");

    let mut buf = [0u8; 5];
    assert_eq!(aio::single(Read::new(&file, &mut buf).offset(6)).unwrap(), 5);
    assert_eq!(&buf, b"wasi ");
    let (mut a, mut b) = ([0u8; 6], [0u8; 16]);
    let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    assert_eq!(aio::single(Readv::new(&file, &mut bufs).offset(0)).unwrap(), 16);
    assert_eq!((&a, &b[..10]), (b"hello ", &b"wasi world"[..]));
    aio::single(Close::new(file)).unwrap();

    // A soft chain: create a directory, move the file into it, link to it, remove both.
    let sub = dir.join("sub");
    let moved = dir.join("sub/moved");
    let link = dir.join("link");
    aio::multi((MkdirAt::new(&sub).soft(), RenameAt::new(&path, &moved).soft(), SymlinkAt::new("sub/moved", &link)))
        .unwrap();
    assert!(!path.exists());
    assert_eq!(std::fs::read(&link).unwrap(), b"hello wasi world", "the link resolves");
    // Without `.replace()`, a rename onto an existing path fails.
    std::fs::write(&path, b"x").unwrap();
    let err = aio::single(RenameAt::new(&path, &moved)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
    aio::single(RenameAt::new(&path, &moved).replace()).unwrap();
    assert_eq!(std::fs::read(&moved).unwrap(), b"x");
    aio::multi((UnlinkAt::new(&link).soft(), UnlinkAt::new(&moved).soft(), UnlinkAt::new(&sub).directory())).unwrap();
    assert!(!sub.exists() && std::fs::symlink_metadata(&link).is_err());

    // Errors come back as the OS's.
    let err = aio::single(OpenAt::new(&dir.join("missing"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    let err = aio::single(MkdirAt::new(&dir.0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
}

#[test]
fn poll_reports_a_regular_file_ready() {
    let dir = Scratch::new("poll");
    let file = aio::single(OpenAt::new(&dir.join("f")).write(true).read(true).create(true)).unwrap();
    let events = aio::single(Poll::new(&file, Events::IN | Events::OUT)).unwrap();
    assert!(events.contains(Events::IN) || events.contains(Events::OUT), "{events:?}");
}

#[test]
fn event_source_counts_units() {
    let source = EventSource::new().unwrap();
    assert!(!source.try_wait().unwrap(), "a new source has no unit");
    source.notify().unwrap();
    source.notify().unwrap();
    source.wait().unwrap();
    assert!(source.try_wait().unwrap());
    assert!(!source.try_wait().unwrap(), "both units were taken");
    // Units added after the source was drained (on WASI: the file was emptied) still count.
    source.notify().unwrap();
    assert!(source.try_wait().unwrap());
    if cfg!(target_os = "wasi") {
        let err = source.wait().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "no thread could ever add a unit: {err:?}");
    }
}

#[test]
fn event_source_ops_notify_and_wait() {
    // Leaked: a `Dynamic::new` ring takes `'static` borrows.
    let source: &'static EventSource = Box::leak(Box::new(EventSource::new().unwrap()));
    // A wait queued before its notify, in one batch.
    aio::multi((Wait::new(source), Notify::new(source))).unwrap();
    assert!(!source.try_wait().unwrap());

    // A wait parked across submissions, ended by a notify between them.
    let mut ring = Dynamic::new(4).unwrap();
    ring.queue(Wait::new(source).user_data(7)).unwrap();
    assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("no unit yet: {c:?}")).unwrap().completed, 0);
    source.notify().unwrap();
    let mut seen = None;
    ring.complete(Mode::Blocking, |c| seen = Some((c.user_data, c.result.map(drop)))).unwrap();
    let (user_data, result) = seen.expect("the wait completed");
    assert_eq!(user_data, 7);
    result.unwrap();

    // A wait that gets no unit: its link timeout ends it, and a cancel stops another.
    let (wait, limit) = aio::complete((Wait::new(source).soft(), LinkTimeout::new(SHORT))).unwrap();
    expect_condition(wait, Condition::Canceled);
    expect_condition(limit, Condition::Expired);
    let id = ring.queue(Wait::new(source)).unwrap();
    ring.queue(Cancel::new(id)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.op, c.result.map(drop)))).unwrap();
    results.sort_by_key(|r| r.0);
    let [(_, cancel), (_, wait)] = <[_; 2]>::try_from(results).unwrap();
    cancel.unwrap();
    expect_condition(wait, Condition::Canceled);
}
