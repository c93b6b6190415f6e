//! Links: soft and hard chains, link timeouts (inventory §6.1 item 13 and §3.4), and batches
//! that must be refused as a whole.

// Not on WASI: wasm32-wasip1 has no pipes; tests/aio_wasi.rs covers aio there.
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{BadFd, expect_canceled, expect_errno, expect_expired, expect_kind};
use corio_aio::op::{Close, LinkTimeout, Nop, OpExt, OpenAt, Read, Timeout, Write};
use corio_aio::{self as aio, Dynamic, Mode};

const SHORT: Duration = Duration::from_millis(50);
const MEDIUM: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_millis(200);

#[test]
fn link_timeout_fires_before_the_op() {
    // (a) timeout LONG (soft) + link timeout MEDIUM: the timeout is canceled, the limit expired.
    let start = Instant::now();
    let (op, limit) = aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM))).unwrap();
    let (op, limit) = (op.unwrap_err(), limit.unwrap_err());
    assert_eq!(aio::condition(&op), Some(aio::Condition::Canceled), "{op:?}");
    assert_eq!(aio::condition(&limit), Some(aio::Condition::Expired), "{limit:?}");
    assert_eq!(limit.kind(), ErrorKind::TimedOut);
    assert!(aio::is_canceled(&op) && !aio::is_expired(&op));
    let elapsed = start.elapsed();
    assert!(elapsed >= MEDIUM, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn expired_soft_link_timeout_cancels_the_rest() {
    // (b) timeout LONG (soft) + link timeout MEDIUM (soft) + timeout MEDIUM: three errors.
    let (op, limit, next) =
        aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM).soft(), Timeout::new(MEDIUM))).unwrap();
    expect_canceled(op);
    expect_expired(limit);
    expect_canceled(next);
}

#[test]
fn op_finishing_first_disarms_the_link_timeout() {
    // (c) timeout MEDIUM (soft) + link timeout LONG: no error.
    let start = Instant::now();
    let (op, limit) = aio::complete((Timeout::new(MEDIUM).soft(), LinkTimeout::new(LONG))).unwrap();
    op.unwrap();
    limit.unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= MEDIUM, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "the disarmed limit is not waited for: {elapsed:?}");
}

#[test]
fn disarmed_soft_link_timeout_continues_the_chain() {
    // (d) timeout MEDIUM (soft) + link timeout LONG (soft) + timeout MEDIUM: no error, and the
    // last timeout starts only after the first finished.
    let start = Instant::now();
    let (op, limit, next) =
        aio::complete((Timeout::new(MEDIUM).soft(), LinkTimeout::new(LONG).soft(), Timeout::new(MEDIUM))).unwrap();
    op.unwrap();
    limit.unwrap();
    next.unwrap();
    assert!(start.elapsed() >= 2 * MEDIUM, "{:?}", start.elapsed());
}

#[test]
fn expired_hard_link_timeout_still_cancels_the_rest() {
    // (e) timeout LONG (soft) + link timeout MEDIUM (hard) + timeout MEDIUM: three errors; the
    // link timeout's own hard link does not protect what follows.
    let (op, limit, next) =
        aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM).hard(), Timeout::new(MEDIUM))).unwrap();
    expect_canceled(op);
    expect_expired(limit);
    expect_canceled(next);
}

#[test]
fn hard_linked_op_with_link_timeout_finishing_first() {
    // (f) timeout MEDIUM (hard) + link timeout LONG (soft) + timeout MEDIUM: no error.
    let (op, limit, next) =
        aio::complete((Timeout::new(MEDIUM).hard(), LinkTimeout::new(LONG).soft(), Timeout::new(MEDIUM))).unwrap();
    op.unwrap();
    limit.unwrap();
    next.unwrap();
}

#[test]
fn link_timeout_on_a_dynamic_counts_errors() {
    let mut ring = Dynamic::new(8).unwrap();
    ring.queue((Timeout::new(LONG).soft().user_data(1), LinkTimeout::new(SHORT).user_data(2))).unwrap();
    let mut seen = Vec::new();
    let mut errors = 0;
    while ring.in_flight() > 0 {
        errors += ring.complete(Mode::Blocking, |c| seen.push((c.user_data, c.result))).unwrap().errors;
    }
    assert_eq!(errors, 2);
    seen.sort_by_key(|s| s.0);
    let mut seen = seen.into_iter();
    expect_canceled(seen.next().unwrap().1);
    expect_expired(seen.next().unwrap().1);

    // A disarmed link timeout is not an error.
    ring.queue((Nop::new().soft(), LinkTimeout::new(LONG))).unwrap();
    assert_eq!(ring.complete_all(|c| assert!(c.result.is_ok(), "{c:?}")).unwrap(), 0);
}

#[test]
fn soft_chain_with_failing_head_cancels_followers() {
    let mut buf = [0u8; 4];
    let (head, a, b, free) =
        aio::complete((Read::new(&BadFd, &mut buf).soft(), Nop::new().soft(), Nop::new(), Nop::new())).unwrap();
    expect_errno(head, common::EBADF);
    expect_canceled(a);
    expect_canceled(b);
    free.unwrap();
}

#[test]
fn hard_chain_with_failing_head_runs_followers() {
    let mut buf = [0u8; 4];
    let (head, a, b) = aio::complete((
        Read::new(&BadFd, &mut buf).hard(),
        OpenAt::new("/corio/no/such/path").user_data(5).link(aio::Link::Hard),
        Nop::new(),
    ))
    .unwrap();
    expect_errno(head, common::EBADF);
    expect_kind(a, ErrorKind::NotFound);
    b.unwrap();
}

#[test]
fn soft_link_failing_before_its_link_timeout_cancels_the_rest() {
    // io_uring's behaviour, which the posix emulation follows too (unlike zig-aio's
    // uringlator, inventory §3.4, which continues the chain after the disarmed link timeout).
    let start = Instant::now();
    let (head, limit, next) = aio::complete((
        OpenAt::new("/corio/no/such/path").soft(),
        LinkTimeout::new(Duration::from_secs(5)).soft(),
        Nop::new(),
    ))
    .unwrap();
    expect_kind(head, ErrorKind::NotFound);
    // The limit did not fire: it was disarmed by its op's completion.
    limit.unwrap();
    expect_canceled(next);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

#[test]
fn multi_reports_the_first_failure_through_is_canceled() {
    let err = aio::multi((Timeout::new(Duration::from_secs(5)).soft(), LinkTimeout::new(SHORT))).unwrap_err();
    let failed = err.get_ref().and_then(|e| e.downcast_ref::<aio::OpFailed>()).expect("an OpFailed");
    assert_eq!((failed.index, failed.op), (0, "timeout"));
    assert!(aio::is_canceled(&err), "{err:?}");
    assert!(!aio::is_expired(&err), "{err:?}");
}

/// Each refused batch leaves the ring exactly as it was: one pending op.
#[test]
fn invalid_batches_are_refused_whole() {
    let mut ring = Dynamic::new(8).unwrap();
    let pending = ring.queue(Timeout::new(Duration::from_secs(5))).unwrap();
    assert_eq!(ring.in_flight(), 1);

    // The last op linked.
    let err = expect_kind(ring.queue((Nop::new(), Nop::new().soft())), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("last op"), "{err}");
    expect_kind(ring.queue(Nop::new().hard()), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 1);
    // A link timeout first, or after an unlinked op.
    let err = expect_kind(ring.queue((LinkTimeout::new(SHORT), Nop::new())), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("link timeout"), "{err}");
    expect_kind(ring.queue((Nop::new(), LinkTimeout::new(SHORT))), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 1);
    // A link timeout guarding a link timeout.
    let err = ring.queue((Nop::new().soft(), LinkTimeout::new(SHORT).soft(), LinkTimeout::new(SHORT))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(ring.in_flight(), 1);
    // A zero-length buffer in the middle of a batch.
    let empty: &'static mut [u8] = &mut [];
    let file = common::leak(std::fs::File::open("/dev/zero").unwrap());
    expect_kind(ring.queue((Nop::new().soft(), Read::new(file, empty), Nop::new())), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 1);
    // An empty batch.
    expect_kind(ring.queue(Vec::<Nop>::new()), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 1);

    // Nothing of the refused batches runs: only the pending timeout (canceled) completes.
    ring.queue(aio::op::Cancel::new(pending)).unwrap();
    let mut ops = Vec::new();
    ring.complete_all(|c| ops.push(c.op)).unwrap();
    ops.sort();
    assert_eq!(ops, ["cancel", "timeout"]);
}

/// An op of a refused batch never runs, even one prepared (and, on io_uring, already written
/// to the submission queue) before the op that makes the batch fail: later submissions must
/// not carry it.
#[test]
fn ops_before_the_failing_op_of_a_refused_batch_never_run() {
    let mut ring = Dynamic::new(8).unwrap();
    let (r, w) = common::pipe();
    let (r, w) = (common::leak(r), common::leak(w));
    let empty: &'static mut [u8] = &mut [];
    // Refused at its last op (linked), and at an op that cannot be prepared.
    expect_kind(ring.queue((Write::new(&*w, b"x"), Nop::new().soft())), ErrorKind::InvalidInput);
    expect_kind(ring.queue((Write::new(&*w, b"y"), Read::new(&*r, empty))), ErrorKind::InvalidInput);
    // Submit and complete something else; nothing was written: a read of the pipe finds
    // nothing before its link timeout.
    ring.queue([Nop::new(), Nop::new()]).unwrap();
    assert_eq!(ring.complete_all(|c| assert_eq!(c.op, "nop")).unwrap(), 0);
    let buf: &'static mut [u8] = Box::leak(Box::new([0u8; 4]));
    let (read, _) = aio::complete((Read::new(&*r, buf).soft(), LinkTimeout::new(SHORT))).unwrap();
    let err = read.expect_err("a refused batch's write ran");
    assert!(aio::is_canceled(&err), "{err}");
}

#[test]
fn batch_over_free_capacity_is_refused() {
    let mut ring = Dynamic::new(4).unwrap();
    let pending = ring.queue(Timeout::new(Duration::from_secs(5))).unwrap();
    let err = ring.queue([Nop::new(), Nop::new(), Nop::new(), Nop::new()]).unwrap_err();
    assert!(err.to_string().contains("capacity"), "{err}");
    assert_eq!(ring.in_flight(), 1, "nothing of the refused batch was queued");
    // Exactly the free capacity fits.
    ring.queue([Nop::new(), Nop::new(), Nop::new()]).unwrap();
    assert_eq!(ring.in_flight(), 4);
    expect_kind(ring.queue(Nop::new()).map(drop), ErrorKind::QuotaExceeded);
    let done = ring.complete(Mode::Blocking, |c| assert_eq!(c.op, "nop")).unwrap();
    assert!(done.completed >= 1 && done.errors == 0, "{done:?}");
    while ring.in_flight() > 1 {
        ring.complete(Mode::Blocking, |c| assert_eq!(c.op, "nop")).unwrap();
    }
    ring.queue(aio::op::Cancel::new(pending)).unwrap();
    assert_eq!(ring.complete_all(drop).unwrap(), 1, "the canceled timeout");
}

#[test]
fn refused_batch_still_closes_its_close_ops() {
    let mut ring = Dynamic::new(8).unwrap();
    let (r, w) = common::pipe();
    // The second op cannot be prepared (a NUL in its path): nothing is queued, but the Close
    // already took the write end and must not leak it.
    let err = ring.queue((Close::new(w), OpenAt::new("bad\0path"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0);
    assert!(common::hung_up(&r), "the Close's descriptor was leaked");

    // Same when the batch is refused for its shape (last op linked).
    let (r, w) = common::pipe();
    expect_kind(ring.queue((Nop::new(), Close::new(w).soft())), ErrorKind::InvalidInput);
    assert!(common::hung_up(&r), "the Close's descriptor was leaked");
    // Or for capacity.
    let (r, w) = common::pipe();
    let mut small = Dynamic::new(1).unwrap();
    expect_kind(small.queue((Close::new(w), Nop::new())), ErrorKind::QuotaExceeded);
    assert!(common::hung_up(&r), "the Close's descriptor was leaked");
}

#[test]
fn close_canceled_by_its_chain_still_closes() {
    let (r, w) = common::pipe();
    let mut buf = [0u8; 4];
    let (head, close) = aio::complete((Read::new(&BadFd, &mut buf).soft(), Close::new(w))).unwrap();
    expect_errno(head, common::EBADF);
    expect_canceled(close);
    assert!(common::hung_up(&r), "the canceled Close's descriptor was leaked");
}

#[test]
fn full_capacity_batch_of_closes_is_accepted() {
    // A close takes two submission entries on io_uring (a hidden cancel of the descriptor's
    // ops, then the close): a batch within the capacity must still fit.
    let mut ring = Dynamic::new(8).unwrap();
    let pipes: Vec<_> = (0..8).map(|_| common::pipe()).collect();
    let (readers, writers): (Vec<_>, Vec<_>) = pipes.into_iter().unzip();
    ring.queue(writers.into_iter().map(Close::new).collect::<Vec<_>>()).unwrap();
    assert_eq!(ring.complete_all(|c| assert_eq!(c.op, "close")).unwrap(), 0);
    assert!(readers.iter().all(common::hung_up));
    // The immediate API sizes its ring by the batch length: the same holds there.
    let writers: Vec<_> = (0..100).map(|_| Close::new(common::pipe().1)).collect();
    assert_eq!(aio::multi(writers).unwrap().len(), 100);
}

#[test]
fn closes_chain_like_any_op() {
    // On io_uring a close is two entries (a hidden cancel, then the close): links must still
    // go from the op before it to the op after it.
    let (r1, w1) = common::pipe();
    let (r2, w2) = common::pipe();
    let (nop, first, second, last) =
        aio::complete((Nop::new().soft(), Close::new(w1).soft(), Close::new(w2).hard(), Nop::new())).unwrap();
    nop.unwrap();
    first.unwrap();
    second.unwrap();
    last.unwrap();
    assert!(common::hung_up(&r1) && common::hung_up(&r2));
}
