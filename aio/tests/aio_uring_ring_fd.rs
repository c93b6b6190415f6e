//! The io_uring backend's registered ring descriptor (`IORING_REGISTER_RING_FDS`, Linux 5.18):
//! each ring registers its own where the kernel has it (its description says so), ops run
//! through it, a dropped ring releases its registration (a thread has 16), and with
//! `ring_fd` in `CORIO_URING_DISABLE` (an older kernel) the same ops run by descriptor. On the
//! other backends the tests check only that the ops run.

// Linux only: io_uring.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use corio_aio::op::{Nop, Read, Timeout, Write};
use corio_aio::{Dynamic, Mode};

const CHILD_ENV: &str = "CORIO_RING_FD_CHILD";

/// What a ring's description says of a registered ring descriptor.
const REGISTERED: &str = "registered ring fd";

/// Whether a new ring should have its descriptor registered: io_uring on 5.18 or later, not
/// playing an older kernel.
fn registration_expected() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    let disabled = std::env::var("CORIO_URING_DISABLE").is_ok_and(|v| v.split(',').any(|d| d == "ring_fd"));
    common::is_io_uring() && version >= (5, 18) && !disabled
}

fn is_registered(ring: &Dynamic) -> bool {
    ring.describe().contains(REGISTERED)
}

/// Nops, a blocking wait for them, and a wait for a timer (an enter with a timeout). `ring`
/// has room for 16 ops.
fn run_ops(ring: &mut Dynamic) {
    ring.queue([Nop::new(); 16]).unwrap();
    let mut got = 0;
    while got < 16 {
        got += ring.complete(Mode::Blocking, |c| assert!(c.result.is_ok(), "{c:?}")).unwrap().completed;
    }
    ring.queue(Timeout::new(Duration::from_millis(2))).unwrap();
    let done = ring.complete(Mode::Blocking, |c| assert!(c.result.is_ok(), "{c:?}")).unwrap();
    assert_eq!(done.completed, 1);
}

#[test]
fn the_ring_fd_is_registered_where_the_kernel_has_it() {
    let ring = Dynamic::new(8).unwrap();
    assert_eq!(is_registered(&ring), registration_expected(), "{}", ring.describe());
}

#[test]
fn ops_run_through_the_ring_fd() {
    let mut ring = Dynamic::new(64).unwrap();
    run_ops(&mut ring);
    // Reads and writes (and their errors), through the thread's cached ring.
    let (read_end, write_end) = common::pipe();
    assert_eq!(corio_aio::single(Write::new(&write_end, b"ring")).unwrap(), 4);
    let mut buf = [0u8; 8];
    assert_eq!(corio_aio::single(Read::new(&read_end, &mut buf)).unwrap(), 4);
    assert_eq!(&buf[..4], b"ring");
    common::expect_errno(corio_aio::single(Read::new(&common::BadFd, &mut buf)), common::EBADF);
}

/// A thread has 16 registration slots: rings made one after another keep getting one only if
/// each dropped ring gave its slot back. Past 16 live rings, the others run by descriptor.
#[test]
fn dropped_rings_release_their_registration() {
    for i in 0..40 {
        let mut ring = Dynamic::new(16).unwrap();
        assert_eq!(is_registered(&ring), registration_expected(), "ring {i}: {}", ring.describe());
        ring.queue(Nop::new()).unwrap();
        assert_eq!(ring.complete(Mode::Blocking, drop).unwrap().completed, 1);
    }
    let mut live: Vec<Dynamic> = (0..20).map(|_| Dynamic::new(16).unwrap()).collect();
    let registered = live.iter().filter(|r| is_registered(r)).count();
    if registration_expected() {
        assert!((1..=16).contains(&registered), "{registered} of 20 live rings registered");
    } else {
        assert_eq!(registered, 0);
    }
    for ring in &mut live {
        run_ops(ring);
    }
    drop(live);
    assert_eq!(is_registered(&Dynamic::new(16).unwrap()), registration_expected());
}

/// Every test above again, on io_uring as a kernel before 5.18: enters by descriptor.
#[test]
fn without_a_registered_ring_fd() {
    if std::env::var_os(CHILD_ENV).is_some() {
        assert!(!registration_expected());
        return;
    }
    if !common::is_io_uring() {
        println!("not on io_uring here; nothing to play");
        return;
    }
    common::rerun_with_uring_disabled("ring_fd", &[(CHILD_ENV, "1")], &[]);
}
