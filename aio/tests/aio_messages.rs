//! Messages between rings (`RuntimeExt::ring_target` / `send_message` / `take_messages`): a
//! runtime's cross-thread doorbell over io_uring's `MSG_RING`; refused on the emulations.

#![cfg(not(target_os = "wasi"))]

use std::time::{Duration, Instant};

use corio_aio::__private::RuntimeExt;
use corio_aio::op::Timeout;
use corio_aio::{BackendKind, Dynamic, Mode};

/// A `Dynamic` on io_uring, if this machine has one with `MSG_RING`.
fn uring_with_messages() -> Option<Dynamic<'static>> {
    let ring = Dynamic::with_backend(8, BackendKind::IoUring).ok()?;
    ring.ring_target().is_some().then_some(ring)
}

#[test]
fn a_message_ends_a_wait_and_is_counted_not_reported() {
    let Some(mut ring) = uring_with_messages() else { return };
    let target = ring.ring_target().unwrap();
    ring.queue(Timeout::new(Duration::from_secs(60))).unwrap();
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let mut sender = Dynamic::with_backend(4, BackendKind::IoUring).unwrap();
        // Something in flight: sent with the next submission, not at once.
        sender.queue(Timeout::new(Duration::from_secs(60))).unwrap();
        sender.send_message(&target).unwrap();
        sender.send_message(&target).unwrap();
        sender.complete(Mode::Nonblocking, drop).unwrap();
    });
    let mut reported = 0;
    let mut received = 0;
    while received < 2 {
        let done = ring.complete_at_least_parts(1, |_, _, _| reported += 1).unwrap();
        assert_eq!(done.completed, 0);
        received += ring.take_messages();
    }
    sender.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "the wait ended for the messages, not the timeout");
    assert_eq!((reported, received, ring.take_messages()), (0, 2, 0));
    assert_eq!(ring.in_flight(), 1, "the timeout is still in flight");
}

#[test]
fn a_message_to_a_dropped_ring_goes_nowhere() {
    let Some(ring) = uring_with_messages() else { return };
    let target = ring.ring_target().unwrap();
    drop(ring);
    let mut sender = Dynamic::with_backend(4, BackendKind::IoUring).unwrap();
    // Nothing in flight: sent at once; the kernel's failure (the ring is gone) is logged.
    sender.send_message(&target).unwrap();
    assert_eq!(sender.take_messages(), 0);
}

/// A failed send (here: the target is a pipe, not a ring) is not silent: the lost-message
/// handler of every target the sender has messaged runs, so a runtime can wake them another way.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_send_calls_the_lost_message_handlers() {
    use corio_aio::__private::RingTarget;
    use corio_aio::op::Nop;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some(mut receiver) = uring_with_messages() else { return };
    let (not_a_ring, _other_end) = std::io::pipe().unwrap();
    let bad = RingTarget::from_fd(not_a_ring.into());
    let good = receiver.ring_target().unwrap();
    let calls = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    for (i, target) in [&bad, &good].into_iter().enumerate() {
        let calls = calls.clone();
        assert!(target.on_lost(move || _ = calls[i].fetch_add(1, Ordering::Relaxed)));
    }
    assert!(!good.on_lost(|| ()), "one handler per target");
    let mut sender = Dynamic::with_backend(4, BackendKind::IoUring).unwrap();
    sender.send_message(&good).unwrap();
    sender.send_message(&bad).unwrap();
    sender.run(Nop::new(), drop).unwrap().unwrap(); // submits and reaps the failure
    let counts = || calls.iter().map(|c| c.load(Ordering::Relaxed)).collect::<Vec<_>>();
    assert_eq!(counts(), [1, 1], "both targets hear of the failure (it names none)");
    // The good one's message did arrive.
    receiver.queue(Timeout::new(Duration::from_secs(60))).unwrap();
    receiver.complete_at_least_parts(1, |_, _, _| unreachable!()).unwrap();
    assert_eq!(receiver.take_messages(), 1);
    // A target dropped since is forgotten, not called.
    drop(bad);
    sender.send_message(&RingTarget::from_fd(std::io::pipe().unwrap().0.into())).unwrap();
    sender.run(Nop::new(), drop).unwrap().unwrap();
    assert_eq!(counts(), [1, 2]);
}

#[test]
fn the_emulation_has_no_ring_to_post_to() {
    let Ok(mut posix) = Dynamic::with_backend(4, BackendKind::Posix) else { return };
    assert!(posix.ring_target().is_none());
    assert_eq!(posix.take_messages(), 0);
    let Some(ring) = uring_with_messages() else { return };
    let target = ring.ring_target().unwrap();
    let e = posix.send_message(&target).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
}

#[test]
fn the_default_backend_answers_consistently() {
    // Under CORIO_BACKEND=posix the default ring has no target; on io_uring it has one
    // exactly when the kernel has MSG_RING, and sending to itself works.
    let mut ring = Dynamic::new(4).unwrap();
    match ring.ring_target() {
        Some(target) => {
            assert_eq!(ring.backend(), BackendKind::IoUring);
            ring.send_message(&target).unwrap();
            ring.queue(Timeout::new(Duration::from_secs(60))).unwrap();
            ring.complete_at_least_parts(1, |_, _, _| panic!("only the message came")).unwrap();
            assert_eq!(ring.take_messages(), 1);
        }
        None => {
            if let Some(target) = uring_with_messages().and_then(|r| r.ring_target()) {
                assert_eq!(ring.send_message(&target).unwrap_err().kind(), std::io::ErrorKind::Unsupported);
            }
        }
    }
}
