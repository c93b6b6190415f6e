//! A panic in a completion callback leaves the `Dynamic` consistent: the remaining ops are
//! still reported later, and dropping it does not hang.

// Not on WASI: wasm32-wasip1 has no catching panics (wasm32-wasip1 tests are panic=abort); tests/aio_wasi.rs covers aio there.
#![cfg(not(target_os = "wasi"))]

use std::panic::{AssertUnwindSafe, catch_unwind};

use corio_aio::op::{Nop, OpExt};
use corio_aio::{Dynamic, Mode};

#[test]
fn panicking_callback_loses_no_completion() {
    let mut ring = Dynamic::new(16).unwrap();
    ring.queue((Nop::new().user_data(1), Nop::new().user_data(2), Nop::new().user_data(3))).unwrap();
    let first = catch_unwind(AssertUnwindSafe(|| {
        ring.complete(Mode::Blocking, |c| panic!("callback saw {}", c.user_data)).unwrap();
    }));
    assert!(first.is_err());
    assert_eq!(ring.in_flight(), 2, "only the op whose callback panicked is reaped");
    let mut seen = Vec::new();
    ring.complete_all(|c| seen.push(c.user_data)).unwrap();
    seen.sort();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|u| [1, 2, 3].contains(u)));
}

#[test]
fn run_reuses_buffers_and_hands_over_other_completions() {
    use corio_aio::op::{Read, Timeout};
    use std::time::Duration;
    let file = std::fs::File::open("/dev/zero").unwrap();
    let mut ring = Dynamic::new(8).unwrap();
    ring.queue(Timeout::new(Duration::from_millis(1)).user_data(7)).unwrap();
    let mut buf = [1u8; 32];
    let mut others = Vec::new();
    for _ in 0..3 {
        let n = ring.run(Read::new(&file, &mut buf), |c| others.push(c.user_data)).unwrap().unwrap();
        assert_eq!((n, buf), (32, [0; 32]));
        buf = [1; 32];
    }
    let (slow,) = ring.run((Timeout::new(Duration::from_millis(20)),), |c| others.push(c.user_data)).unwrap();
    slow.unwrap();
    assert_eq!(others, [7], "the other op's completion reached `others` exactly once");
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn run_unwinding_from_others_waits_for_its_batch() {
    use corio_aio::op::Timeout;
    use std::time::{Duration, Instant};
    let mut ring = Dynamic::new(8).unwrap();
    ring.queue(Nop::new().user_data(1)).unwrap();
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| {
        ring.run(Timeout::new(Duration::from_secs(5)), |_| panic!("others panics")).unwrap()
    }));
    assert!(result.is_err());
    // The guard canceled the 5 s timeout and waited for it before the unwind went on.
    assert_eq!(ring.in_flight(), 0);
    assert!(start.elapsed() < Duration::from_secs(4));
}
