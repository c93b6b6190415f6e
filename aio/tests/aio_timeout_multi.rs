//! The repeating timer [`TimeoutMulti`]: `count` completions an interval apart, each but the
//! last with `more`, or until canceled; on every backend (`CORIO_BACKEND=posix`), and on
//! io_uring also as the kernel's multishot timeout (the heap off, in a child with
//! `CORIO_URING_DISABLE=timers`).

// Not on WASI (the shared helpers need sockets; `aio_wasi` is its suite).
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use corio_aio::op::{Cancel, Nop, OpExt, TimeoutMulti};
use corio_aio::{Dynamic, Id, Mode, is_canceled};

const CHILD_ENV: &str = "CORIO_TIMEOUT_MULTI_CHILD";
const INTERVAL: Duration = Duration::from_millis(5);

/// Completes until op `id` ended: when each completion came (after `start`), whether it said
/// more, and the final result.
fn ticks(ring: &mut Dynamic<'_>, id: Id, start: Instant) -> (Vec<(Duration, bool)>, std::io::Result<()>) {
    let (mut seen, mut last) = (Vec::new(), None);
    while last.is_none() {
        ring.complete(Mode::Blocking, |c| {
            assert_eq!(c.id, id);
            assert_eq!(c.op, "timeout_multi");
            seen.push((start.elapsed(), c.more));
            if !c.more {
                last = Some(c.output::<TimeoutMulti>());
            } else {
                c.output::<TimeoutMulti>().expect("an expiry is a success");
            }
        })
        .unwrap();
    }
    (seen, last.unwrap())
}

#[test]
fn it_completes_count_times_each_no_earlier_than_its_multiple_of_the_interval() {
    let mut ring = Dynamic::new(4).unwrap();
    let start = Instant::now();
    let id = ring.queue(TimeoutMulti::new(INTERVAL).count(4)).unwrap();
    let (seen, end) = ticks(&mut ring, id, start);
    end.expect("the last expiry is a success");
    assert_eq!(seen.len(), 4, "{seen:?}");
    for (k, &(at, more)) in seen.iter().enumerate() {
        assert_eq!(more, k < 3, "{seen:?}");
        assert!(at >= INTERVAL * (k as u32 + 1), "expiry {k} at {at:?}: earlier than asked");
    }
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_count_of_one_is_a_single_timeout() {
    let mut ring = Dynamic::new(4).unwrap();
    let id = ring.queue(TimeoutMulti::new(INTERVAL).count(1)).unwrap();
    let (seen, end) = ticks(&mut ring, id, Instant::now());
    end.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].1);
}

#[test]
fn without_a_count_it_goes_on_until_canceled() {
    let mut ring = Dynamic::new(4).unwrap();
    let start = Instant::now();
    let id = ring.queue(TimeoutMulti::new(INTERVAL)).unwrap();
    let mut expiries = 0;
    while expiries < 6 {
        ring.complete(Mode::Blocking, |c| {
            assert!(c.more, "ended early: {:?}", c.result);
            c.output::<TimeoutMulti>().unwrap();
            expiries += 1;
        })
        .unwrap();
    }
    assert!(start.elapsed() >= INTERVAL * 6);
    let cancel = ring.queue(Cancel::new(id)).unwrap();
    let (mut canceled, mut cancel_result) = (None, None);
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| {
            if c.id == cancel {
                cancel_result = Some(c.result.map(drop));
            } else if !c.more {
                canceled = Some(c.output::<TimeoutMulti>());
            }
        })
        .unwrap();
    }
    cancel_result.unwrap().expect("the cancel found the timer");
    assert!(canceled.unwrap().is_err_and(|e| is_canceled(&e)));
}

#[test]
fn a_cancel_right_after_an_expiry_still_finds_it() {
    // Not the kernel's multishot timeout (see `the_kernels_multishot_timeout_behaves_the_same`).
    let mut ring = Dynamic::new(4).unwrap();
    let id = ring.queue(TimeoutMulti::new(Duration::from_millis(1))).unwrap();
    // Let expiries pile up unreaped, then cancel: it must end canceled, not go on.
    std::thread::sleep(Duration::from_millis(5));
    ring.complete(Mode::Nonblocking, drop).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    ring.queue(Cancel::new(id)).unwrap();
    let end = common::final_completion(&mut ring, id).result;
    assert!(end.is_err_and(|e| is_canceled(&e)));
}

#[test]
fn a_zero_interval_is_refused_and_nothing_is_queued() {
    let mut ring = Dynamic::new(4).unwrap();
    let err = ring.queue(TimeoutMulti::new(Duration::ZERO).count(3)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn it_completes_more_than_once_so_run_and_chains_refuse_it() {
    let mut ring = Dynamic::new(4).unwrap();
    let err = ring.run(TimeoutMulti::new(INTERVAL).count(2), drop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = ring.queue((Nop::new().soft(), TimeoutMulti::new(INTERVAL))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = corio_aio::single(TimeoutMulti::new(INTERVAL).count(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn dropping_the_dynamic_ends_a_timer_without_a_count() {
    let mut ring = Dynamic::new(4).unwrap();
    ring.queue(TimeoutMulti::new(INTERVAL)).unwrap();
    ring.complete(Mode::Blocking, drop).unwrap();
    drop(ring); // cancels it and waits for its end: must not hang
}

#[test]
fn the_kernels_multishot_timeout_behaves_the_same() {
    common::rerun_as_old_kernel(
        CHILD_ENV,
        "1",
        "timers",
        // The kernel's cancel misses a timer whose expiry is being posted (documented on
        // `TimeoutMulti`): that case holds for the heap and the emulations only.
        &[
            "--skip",
            "the_kernels_multishot",
            "--skip",
            "a_cancel_right_after",
            "--skip",
            "a_kernel_without",
            "--test-threads=1",
            "--nocapture",
        ],
    );
}

/// A kernel without the heap nor multishot timeouts (one before 5.11; played here by the
/// child of `a_kernel_without_multishot_timeouts_refuses_it`): the op fails `EOPNOTSUPP` when it runs, once, and nothing is left in flight.
#[test]
fn without_the_heap_nor_the_kernels_multishot_timeout_it_is_refused() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("refused") {
        return;
    }
    let mut ring = Dynamic::new(4).unwrap();
    assert!(ring.describe().contains("kernel timeouts"), "{}", ring.describe());
    let id = ring.queue(TimeoutMulti::new(INTERVAL).count(2)).unwrap();
    let (seen, end) = ticks(&mut ring, id, Instant::now());
    assert_eq!(seen.len(), 1);
    #[cfg(unix)]
    assert_eq!(end.unwrap_err().raw_os_error(), Some(libc::EOPNOTSUPP));
    #[cfg(not(unix))]
    assert!(end.is_err());
    assert_eq!(ring.in_flight(), 0);
    println!("refusal checked");
}

#[test]
fn a_kernel_without_multishot_timeouts_refuses_it() {
    let args = ["without_the_heap_nor", "--nocapture"];
    if let Some(stdout) = common::rerun_as_old_kernel(CHILD_ENV, "refused", "timers,read_multi", &args) {
        assert!(stdout.contains("refusal checked"), "the child did not check:\n{stdout}");
    }
}
