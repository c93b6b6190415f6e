//! Precise timers (`Dynamic::set_timer_spin`) on the posix backend (and io_uring's heap
//! timers): timeouts still never fire early, IO and cross-thread notifications that arrive
//! while the loop busy-polls before a deadline complete at once, and nonblocking completes
//! never spin. Speed is never asserted: how late timers fire is `timer_precision`'s business
//! (`cargo bench -p corio-aio --bench timer_precision`).

// Not on WASI (no threads or pipes) nor Windows (no posix backend; IOCP shares the engine,
// whose spin is unit-tested in `aio/src/backend/emu`).
#![cfg(not(any(target_os = "wasi", windows)))]

use std::io::Write as _;
use std::time::{Duration, Instant};

use corio_aio::op::{OpExt, Read, Timeout, Wait};
use corio_aio::{self as aio, BackendKind, Dynamic, EventSource, Mode};

fn posix(spin: Duration) -> Dynamic<'static> {
    let mut ring = Dynamic::with_backend(8, BackendKind::Posix).unwrap();
    assert_eq!(ring.timer_spin(), Duration::ZERO, "off by default");
    ring.set_timer_spin(spin);
    assert_eq!(ring.timer_spin(), spin);
    ring
}

#[test]
fn timeouts_never_fire_early() {
    // A window shorter than the timeout (sleep, then spin) and one longer (spin throughout).
    for spin in [Duration::from_micros(200), Duration::from_millis(5)] {
        let mut ring = posix(spin);
        for delay in [Duration::from_micros(50), Duration::from_millis(1)] {
            for _ in 0..20 {
                let start = Instant::now();
                ring.run(Timeout::new(delay), |_| {}).unwrap().unwrap();
                assert!(start.elapsed() >= delay, "{delay:?} timeout fired early with a {spin:?} spin");
            }
        }
        // Several timers in flight at once each fire, none early.
        let start = Instant::now();
        let delays = [3u64, 1, 2].map(Duration::from_millis);
        ring.queue(delays.map(|d| Timeout::new(d).user_data(d.as_millis() as u64))).unwrap();
        let mut fired = Vec::new();
        ring.complete_all(|c| {
            assert!(c.result.is_ok(), "{c:?}");
            assert!(start.elapsed() >= Duration::from_millis(c.user_data), "timer {} fired early", c.user_data);
            fired.push(c.user_data);
        })
        .unwrap();
        // Each fires, none early; their order is not checked: a timer's deadline counts from
        // its own start, and on a loaded machine (qemu in CI) the third may start more than
        // 1 ms after the first, so that 3 ms can end before 2 ms.
        fired.sort_unstable();
        assert_eq!(fired, [1, 2, 3]);
    }
}

#[test]
fn io_completes_during_the_spin() {
    // The whole 200 ms before the deadline is a busy-poll: the pipe read and the notification
    // must complete while it runs, not when the timer fires.
    let window = Duration::from_millis(200);
    let (reader, mut writer) = std::io::pipe().unwrap();
    let source = EventSource::new().unwrap();
    let mut buf = [0u8; 4];
    std::thread::scope(|s| {
        aio::scope_with(8, BackendKind::Posix, |ring| {
            ring.set_timer_spin(window);
            ring.queue((
                Timeout::new(window).user_data(0),
                Read::new(&reader, &mut buf).user_data(1),
                Wait::new(&source).user_data(2),
            ))
            .unwrap();
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(2));
                writer.write_all(b"spin").unwrap();
                std::thread::sleep(Duration::from_millis(2));
                source.notify().unwrap();
            });
            let mut order = Vec::new();
            while order.len() < 2 {
                ring.complete(Mode::Blocking, |c| {
                    assert!(c.result.is_ok(), "{c:?}");
                    order.push(c.user_data);
                })
                .unwrap();
            }
            // Both completed while the timer was still armed (and spinning).
            assert_eq!(order, [1, 2]);
            assert_eq!(ring.in_flight(), 1, "the timer is still in flight");
            // Leaving the scope cancels the timer: no need to spin out the rest of it.
        })
        .unwrap();
    });
    assert_eq!(&buf, b"spin");
}

#[test]
fn nonblocking_completes_never_spin() {
    // A nonblocking complete with the deadline inside the window returns at once, empty: had
    // it spun until the deadline, it would report the timer.
    let mut ring = posix(Duration::from_secs(10));
    ring.queue(Timeout::new(Duration::from_secs(1)).user_data(0)).unwrap();
    let done = ring.complete(Mode::Nonblocking, |c| panic!("nothing is due yet: {c:?}")).unwrap();
    assert_eq!(done.completed, 0);
    // Dropping the ring cancels the timer.
}

#[test]
fn io_uring_heap_timers_honour_the_spin_and_never_fire_early() {
    // Plain timeouts on io_uring live in a user-space heap, which the window reaches.
    let Ok(mut ring) = Dynamic::with_backend(8, BackendKind::IoUring) else { return };
    for spin in [Duration::ZERO, Duration::from_micros(200), Duration::from_millis(5)] {
        ring.set_timer_spin(spin);
        for delay in [Duration::ZERO, Duration::from_micros(50), Duration::from_millis(1)] {
            for _ in 0..10 {
                let start = Instant::now();
                ring.run(Timeout::new(delay), |_| {}).unwrap().unwrap();
                assert!(start.elapsed() >= delay, "{delay:?} timeout fired early with a {spin:?} spin");
            }
        }
        // A nonblocking complete inside the window returns at once, empty-handed.
        ring.queue(Timeout::new(Duration::from_millis(3))).unwrap();
        assert_eq!(ring.complete(Mode::Nonblocking, drop).unwrap().completed, 0);
        assert_eq!(ring.complete(Mode::Blocking, |c| assert!(c.result.is_ok())).unwrap().completed, 1);
    }
}
