//! Scoped tasks borrowing the caller's stack.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::cell::Cell;
use std::time::Duration;

use corio::aio::is_canceled;
use corio::aio::op::{Read, Recv, Timeout, Write};
use corio::coro::{self, Scheduler, io};

#[test]
fn scoped_tasks_borrow_locals() {
    let scheduler = Scheduler::new().unwrap();
    let (reader, writer) = common::pipe();
    let mut buf = [0u8; 5];
    let counter = Cell::new(0);
    let n = scheduler.scope(|s| {
        let read = s.spawn(|| {
            counter.set(counter.get() + 1);
            io::single(Read::new(&reader, &mut buf)).unwrap()
        });
        s.spawn(|| {
            io::single(Timeout::new(Duration::from_millis(2))).unwrap();
            counter.set(counter.get() + 1);
            io::single(Write::new(&writer, b"hello")).unwrap()
        });
        read.join()
    });
    assert_eq!(n, 5);
    assert_eq!(&buf, b"hello");
    assert_eq!(counter.get(), 2);
}

#[test]
fn a_panicking_scope_cancels_its_tasks_first() {
    let scheduler = Scheduler::new().unwrap();
    let (a, _b) = common::stream_pair();
    let mut buf = [0u8; 8];
    let outcome = Cell::new(None);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scheduler.scope(|s| {
            s.spawn(|| outcome.set(Some(is_canceled(&io::single(Recv::new(&a, &mut buf)).unwrap_err()))));
            panic!("scope body fails");
        })
    }));
    assert!(r.is_err());
    assert_eq!(outcome.get(), Some(true), "the recv ended canceled before scope returned");
}

#[test]
fn stuck_scoped_tasks_are_unwound_before_scope_returns() {
    struct Flag<'a>(&'a Cell<bool>);
    impl Drop for Flag<'_> {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let scheduler = Scheduler::new().unwrap();
    let dropped = Cell::new(false);
    scheduler.scope(|s| {
        s.spawn(|| {
            let _flag = Flag(&dropped);
            // Parks with nothing that will ever wake it.
            let _ = coro::yield_now(1u8);
        });
    });
    assert!(dropped.get(), "the task's stack was unwound");
    assert_eq!(scheduler.live_tasks(), 0);
}

#[test]
#[should_panic(expected = "a scoped task panicked")]
fn an_unjoined_scoped_panic_reaches_scope() {
    let scheduler = Scheduler::new().unwrap();
    scheduler.scope(|s| {
        s.spawn(|| panic!("inside"));
    });
}
