//! Timeouts in bulk, their cancels and the drop path: on io_uring, timeouts outside any chain
//! live in a user-space heap (not the kernel), so these pin down that the heap keeps the
//! kernel's behaviour: each completes once and never early, cancels find it until it fired,
//! a drop cancels it, and a linked timeout still takes part in its chain.

// Not on WASI: wasm32-wasip1 has no pipes; tests/aio_wasi.rs covers aio there.
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{expect_canceled, expect_kind};
use corio_aio::op::{Cancel, Nop, OpExt, OpenAt, Timeout};
use corio_aio::{Dynamic, Id, Link, Mode};

const LONG: Duration = Duration::from_secs(5);

#[test]
fn the_same_holds_with_kernel_timeouts() {
    // io_uring's kernel timeouts (used where the kernel lacks EXT_ARG) behave the same: this
    // binary again, with the heap off (the probe result is per process).
    if std::env::var_os("CORIO_URING_DISABLE").is_some() || !common::is_io_uring() {
        return;
    }
    let stdout = common::rerun_with_uring_disabled("timers", &[], &["--test-threads=1"]);
    assert!(stdout.contains("test result: ok"), "the child tests did not run:\n{stdout}");
}

#[test]
fn the_backend_says_where_timeouts_live() {
    let described = Dynamic::new(1).unwrap().describe();
    let kernel = std::env::var("CORIO_URING_DISABLE").is_ok_and(|v| v.contains("timers"));
    if common::is_io_uring() {
        assert_eq!(described.contains("kernel timeouts"), kernel, "{described}");
    }
}

/// A small deterministic generator (xorshift), for delays spread without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn many_unlinked_timeouts_complete_once_and_never_early() {
    const N: usize = 10_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let delays: Vec<Duration> = (0..N).map(|_| Duration::from_micros(rng.below(5_001))).collect();
    let mut ring = Dynamic::new(N as u32).unwrap();
    let start = Instant::now();
    // Most in one batch (streamed on io_uring), the rest one by one and in small batches.
    let bulk: Vec<_> = (0..N - 1_000).map(|i| Timeout::new(delays[i]).user_data(i as u64)).collect();
    ring.queue(bulk).unwrap();
    for i in (N - 1_000..N).step_by(2) {
        if i % 4 == 0 {
            ring.queue(Timeout::new(delays[i]).user_data(i as u64)).unwrap();
            ring.queue(Timeout::new(delays[i + 1]).user_data(i as u64 + 1)).unwrap();
        } else {
            ring.queue([
                Timeout::new(delays[i]).user_data(i as u64),
                Timeout::new(delays[i + 1]).user_data(i as u64 + 1),
            ])
            .unwrap();
        }
    }
    let mut seen = vec![false; N];
    let errors = ring
        .complete_all(|c| {
            let i = c.user_data as usize;
            let elapsed = start.elapsed();
            assert!(c.result.is_ok(), "timeout {i}: {:?}", c.result);
            assert!(!std::mem::replace(&mut seen[i], true), "timeout {i} completed twice");
            assert!(elapsed >= delays[i], "timeout {i} of {:?} completed early, at {elapsed:?}", delays[i]);
        })
        .unwrap();
    assert_eq!(errors, 0);
    assert!(seen.iter().all(|&s| s), "every timeout completed");
    assert_eq!(ring.in_flight(), 0);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
}

#[test]
fn a_batch_of_timeouts_may_be_larger_than_the_submission_queue() {
    // On io_uring a timeout outside any chain takes no submission entry (it lives in the heap),
    // so the ring's size (at most 32,768 entries) does not bound such a batch, as no queue
    // bounds it on posix. With kernel timeouts, or in a chain, each takes an entry, and a batch
    // that cannot fit is refused whole.
    const N: usize = 40_000;
    let mut ring = Dynamic::new(N as u32 + 1).unwrap();
    let kernel_timeouts = ring.describe().contains("kernel timeouts");
    match ring.queue(vec![Timeout::new(Duration::from_micros(200)); N]) {
        Ok(ids) => {
            assert!(!kernel_timeouts, "{} accepted {N} kernel timeouts at once", ring.describe());
            assert_eq!(ids.len(), N);
            let mut completed = 0;
            assert_eq!(ring.complete_all(|c| completed += usize::from(c.result.is_ok())).unwrap(), 0);
            assert_eq!(completed, N);
        }
        Err(e) => {
            assert!(kernel_timeouts, "{}: {e}", ring.describe());
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        }
    }
    assert_eq!(ring.in_flight(), 0);
    if common::is_io_uring() {
        // The same timeouts hard-linked into one chain are kernel ops: refused, nothing left.
        let chain: Vec<_> = (0..N)
            .map(|i| Timeout::new(Duration::ZERO).link(if i + 1 < N { Link::Hard } else { Link::Unlinked }))
            .collect();
        expect_kind(ring.queue(chain), ErrorKind::InvalidInput);
        assert_eq!(ring.in_flight(), 0);
    }
    // The ring still works.
    ring.queue(Timeout::new(Duration::ZERO)).unwrap();
    assert_eq!(ring.complete_all(drop).unwrap(), 0);
}

#[test]
fn waiting_on_a_timeout_does_not_return_before_it_fires() {
    let mut ring = Dynamic::new(4).unwrap();
    for wanted in [Duration::ZERO, Duration::from_micros(300), Duration::from_millis(20)] {
        let start = Instant::now();
        ring.queue(Timeout::new(wanted)).unwrap();
        // Each blocking complete reports the timeout: none returns empty-handed on a wake-up
        // for a deadline not reached yet.
        assert_eq!(ring.complete(Mode::Blocking, |c| assert!(c.result.is_ok(), "{c:?}")).unwrap().completed, 1);
        assert!(start.elapsed() >= wanted, "{:?} < {wanted:?}", start.elapsed());
    }
}

#[test]
fn a_canceled_timer_reports_canceled_and_its_cancel_succeeds() {
    let mut ring = Dynamic::new(8).unwrap();
    let start = Instant::now();
    let [keep, timer] = ring.queue([Timeout::new(Duration::from_millis(30)), Timeout::new(LONG)]).unwrap();
    let cancel = ring.queue(Cancel::new(timer)).unwrap();
    let mut results = Vec::new();
    assert_eq!(ring.complete_all(|c| results.push((c.id, c.result))).unwrap(), 1);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(results.len(), 3);
    for (id, result) in results {
        match id {
            id if id == timer => expect_canceled(result),
            id if id == cancel || id == keep => assert!(result.is_ok(), "{result:?}"),
            id => panic!("unknown id {id:?}"),
        }
    }
}

#[test]
fn a_cancel_after_a_link_cancels_a_timer_once_its_predecessor_is_done() {
    let mut ring = Dynamic::new(8).unwrap();
    let timer = ring.queue(Timeout::new(LONG)).unwrap();
    // A predecessor that fails (soft link): the cancel never runs, the timer stays armed.
    let [open, skipped] = ring.queue((OpenAt::new("/corio/missing").soft(), Cancel::new(timer))).unwrap();
    let mut results = Vec::new();
    ring.complete_at_least(2, |c| results.push((c.id, c.result))).unwrap();
    assert_eq!(results.len(), 2, "the timer is not done: {results:?}");
    for (id, result) in results {
        if id == skipped {
            expect_canceled(result);
        } else {
            assert_eq!(id, open);
            expect_kind(result, ErrorKind::NotFound);
        }
    }
    assert_eq!(ring.in_flight(), 1);
    // A predecessor that succeeds: the cancel finds the timer.
    let start = Instant::now();
    let [_, cancel] = ring.queue((Nop::new().soft(), Cancel::new(timer))).unwrap();
    let mut results = Vec::new();
    assert_eq!(ring.complete_all(|c| results.push((c.id, c.result))).unwrap(), 1);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    for (id, result) in results {
        if id == timer {
            expect_canceled(result);
        } else if id == cancel {
            result.unwrap();
        }
    }
}

#[test]
fn canceling_a_fired_timer_finds_nothing() {
    let mut ring = Dynamic::new(8).unwrap();
    // Fired but not yet reaped: already finished, as a kernel timeout is. (A timer starts when
    // submitted, so a cancel in the same submission would still find it.)
    // (On a slow machine, e.g. under qemu, the timer may already fire in the first call; the
    // cancel then meets a stale id, which is not found either.)
    let mut results = Vec::new();
    let timer = ring.queue(Timeout::new(Duration::from_millis(1))).unwrap();
    ring.complete(Mode::Nonblocking, |c| results.push((c.id, c.result))).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let cancel = ring.queue(Cancel::new(timer)).unwrap();
    assert_eq!(ring.complete_all(|c| results.push((c.id, c.result))).unwrap(), 1);
    assert_eq!(results.len(), 2);
    for (id, result) in results {
        if id == timer {
            result.unwrap();
        } else {
            assert_eq!(id, cancel);
            expect_kind(result, ErrorKind::NotFound);
        }
    }
    // Fired and reaped: a stale id.
    let timer = ring.queue(Timeout::new(Duration::from_millis(1))).unwrap();
    assert_eq!(ring.complete_all(drop).unwrap(), 0);
    ring.queue(Cancel::new(timer)).unwrap();
    let mut result = None;
    ring.complete_all(|c| result = Some(c.result)).unwrap();
    expect_kind(result.unwrap(), ErrorKind::NotFound);
    // An id that never existed, while timers are armed.
    ring.queue(Timeout::new(Duration::from_millis(10))).unwrap();
    ring.queue(Cancel::new(Id::from_u64(0x0000_1234_0000_0007))).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.op, c.result))).unwrap();
    results.sort_by_key(|r| r.0);
    let [(_, cancel), (_, timer)] = <[_; 2]>::try_from(results).unwrap();
    expect_kind(cancel, ErrorKind::NotFound);
    timer.unwrap();
}

#[test]
fn a_timer_starts_when_submitted_and_a_cancel_then_finds_it() {
    let mut ring = Dynamic::new(8).unwrap();
    let timer = ring.queue(Timeout::new(Duration::from_millis(1))).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let cancel = ring.queue(Cancel::new(timer)).unwrap();
    let mut results = Vec::new();
    assert_eq!(ring.complete_all(|c| results.push((c.id, c.result))).unwrap(), 1);
    for (id, result) in results {
        if id == timer {
            expect_canceled(result);
        } else {
            assert_eq!(id, cancel);
            assert!(result.is_ok(), "{result:?}");
        }
    }
}

#[test]
fn dropping_a_ring_with_many_armed_timers_is_prompt() {
    let mut ring = Dynamic::new(1_000).unwrap();
    ring.queue(vec![Timeout::new(LONG); 500]).unwrap();
    for _ in 0..500 {
        ring.queue(Timeout::new(LONG)).unwrap();
    }
    assert_eq!(ring.complete(Mode::Nonblocking, drop).unwrap().completed, 0);
    assert_eq!(ring.in_flight(), 1_000);
    let start = Instant::now();
    drop(ring);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

#[test]
fn linked_timeouts_keep_their_chain_order() {
    let mut ring = Dynamic::new(8).unwrap();
    let wanted = Duration::from_millis(30);
    let start = Instant::now();
    // A timeout soft-linked to a nop: the nop runs after it.
    let [timer, nop] = ring.queue((Timeout::new(wanted).soft(), Nop::new())).unwrap();
    // A timeout after a link starts when its predecessor is done.
    let [_, after] = ring.queue((Nop::new().hard(), Timeout::new(wanted))).unwrap();
    let mut order = Vec::new();
    ring.complete_all(|c| {
        c.result.unwrap();
        order.push((c.id, start.elapsed()));
    })
    .unwrap();
    let at = |id: Id| order.iter().position(|o| o.0 == id).unwrap();
    assert!(at(timer) < at(nop), "{order:?}");
    assert!(order[at(nop)].1 >= wanted, "{order:?}");
    assert!(order[at(after)].1 >= wanted, "{order:?}");
}
