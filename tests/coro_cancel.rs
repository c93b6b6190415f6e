//! Cancellation: a task canceled mid-IO sees Canceled, every later call fails, and what it
//! owned is released. One test in this binary, so counting `/proc/self/fd` is not disturbed by
//! other tests running in parallel.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
// Not on Windows: it counts descriptors in /proc/self/fd and uses Unix socket pairs; a task
// canceled mid-recv is tested there by coro_backends, coro_net and coro_scope.
#![cfg(not(any(target_os = "wasi", windows)))]

use std::cell::Cell;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use corio::aio::is_canceled;
use corio::aio::op::{Recv, Timeout};
use corio::coro::{self, RunMode, Scheduler, io};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn cancel_mid_recv(scheduler: &Scheduler) {
    let before = open_fds();
    let later = Rc::new(Cell::new(None));
    let l = later.clone();
    let task = scheduler.spawn(move || {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 16];
        let err = io::single(Recv::new(&a, &mut buf)).unwrap_err();
        // Every later call fails too.
        l.set(Some(is_canceled(&io::single(Timeout::new(Duration::from_millis(1))).unwrap_err())));
        err
    });
    assert!(open_fds() >= before + 2, "the task holds a socket pair while parked in recv");
    assert!(!task.is_complete());
    let err = task.cancel_and_join();
    assert!(is_canceled(&err), "{err}");
    assert_eq!(later.get(), Some(true));
    assert_eq!(open_fds(), before, "the task's sockets were released");
}

fn cancel_before_and_uncancelable(scheduler: &Scheduler) {
    // A task that shields itself finishes its IO despite a cancel request.
    let shielded = scheduler.spawn(|| {
        coro::set_cancelable(false).unwrap();
        io::single(Timeout::new(Duration::from_millis(5)))
    });
    shielded.cancel();
    assert!(shielded.join().is_ok());

    // A task canceled while yielded sees Canceled from yield_now.
    let yielded = scheduler.spawn(|| coro::yield_now(3u8));
    yielded.cancel();
    assert!(yielded.is_complete());
    assert!(is_canceled(&yielded.join().unwrap_err()));
}

fn run_cancel_and_drop(scheduler: Scheduler) {
    let before = open_fds();
    for _ in 0..20 {
        scheduler
            .spawn(|| {
                let (a, _b) = UnixStream::pair().unwrap();
                let mut buf = [0u8; 16];
                io::single(Recv::new(&a, &mut buf))
            })
            .detach();
    }
    assert_eq!(scheduler.live_tasks(), 20);
    scheduler.run(RunMode::Cancel).unwrap();
    assert_eq!(scheduler.live_tasks(), 0);
    assert_eq!(open_fds(), before);

    drop(scheduler);

    // Dropping a scheduler with tasks parked in IO cancels and drains them.
    let before = open_fds();
    let scheduler = Scheduler::new().unwrap();
    for _ in 0..20 {
        scheduler
            .spawn(|| {
                let (a, _b) = UnixStream::pair().unwrap();
                let mut buf = [0u8; 16];
                let _ = io::single(Recv::new(&a, &mut buf));
                // Ignores the cancellation and parks again: torn down by force.
                let _ = coro::yield_now(1u8);
                let _ = coro::yield_now(1u8);
            })
            .detach();
    }
    drop(scheduler);
    assert_eq!(open_fds(), before);
}

#[test]
fn cancellation() {
    let scheduler = Scheduler::new().unwrap();
    cancel_mid_recv(&scheduler);
    cancel_before_and_uncancelable(&scheduler);
    run_cancel_and_drop(scheduler);
}
