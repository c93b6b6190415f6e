//! A blocking tick waits for as many completions as every task parked in IO still needs (one
//! kernel wait per ping-pong round trip on io_uring), and never longer than a task needs.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use corio::aio::op::{Nop, OpExt, Recv, Send, Timeout};
use corio::coro::{RunMode, Scheduler, io};

#[test]
fn ping_pong_between_two_tasks() {
    let scheduler = Scheduler::new().unwrap();
    let (client, server) = common::tcp_pair();
    const ROUNDS: usize = 200;
    let pinger = scheduler.spawn(move || {
        let mut buf = [0u8; 4];
        for _ in 0..ROUNDS {
            let (sent, got) = io::multi((Send::new(&client, b"ping").soft(), Recv::new(&client, &mut buf))).unwrap();
            assert_eq!((sent, got, &buf), (4, 4, b"pong"));
        }
    });
    let ponger = scheduler.spawn(move || {
        let mut buf = [0u8; 4];
        for _ in 0..ROUNDS {
            let (got, sent) = io::multi((Recv::new(&server, &mut buf).soft(), Send::new(&server, b"pong"))).unwrap();
            assert_eq!((got, sent, &buf), (4, 4, b"ping"));
        }
    });
    pinger.join();
    ponger.join();
}

#[test]
fn wakes_as_soon_as_one_task_can_run() {
    // One task waits for two quick ops, another for five slow timers: the tick must not wait
    // for more completions than the first task needs.
    let scheduler = Scheduler::new().unwrap();
    let slow = scheduler.spawn(|| {
        let t = || Timeout::new(Duration::from_secs(30));
        io::multi((t(), t(), t(), t(), t()))
    });
    let quick = scheduler.spawn(|| io::multi((Timeout::new(Duration::from_millis(10)), Nop::new())));
    let start = Instant::now();
    quick.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10), "waited for the slow task's timers");
    slow.cancel();
    assert!(corio::aio::is_canceled(&slow.join().unwrap_err()));
    scheduler.run(RunMode::Wait).unwrap();
}

#[test]
fn a_task_waiting_for_room_is_not_delayed() {
    // A queue of 16 ops (one kept for cancels). Every task in IO needs two or more
    // completions, but a third task waits for room, which the first completion makes.
    let options = corio::coro::Options::new().io_queue_entries(16);
    let scheduler = Scheduler::with_options(options).unwrap();
    let slow = || Timeout::new(Duration::from_secs(30));
    let a = scheduler.spawn(move || io::multi((Timeout::new(Duration::from_millis(5)), slow())));
    let b = scheduler.spawn(move || {
        io::multi([slow(), slow(), slow(), slow(), slow(), slow(), slow(), slow(), slow(), slow(), slow()])
    });
    let start = Instant::now();
    let c = scheduler.spawn(|| io::multi([Nop::new(), Nop::new(), Nop::new()]));
    c.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10), "a task waiting for room slept too long");
    a.cancel();
    b.cancel();
    assert!(a.join().is_err() && b.join().is_err());
}
