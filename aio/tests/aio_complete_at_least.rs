//! `Dynamic::complete_at_least`: waits for a count of completions (one kernel wait on
//! io_uring), never for more ops than are in flight.

// Not on WASI: wasm32-wasip1 has no sockets or pipes; tests/aio_wasi.rs covers aio there.
#![cfg(not(target_os = "wasi"))]

mod common;

use std::time::{Duration, Instant};

use corio_aio::op::{Close, Nop, OpExt, Read, Recv, Send, Timeout, Write};
use corio_aio::{self as aio, Dynamic, Value};

#[test]
fn waits_for_every_op_of_a_ping_pong() {
    // Both ends of a round trip in one batch: the client sends and then (soft-linked) receives,
    // the server receives and then (soft-linked) answers. Four completions, one wait.
    let (client, server) = common::tcp_pair();
    let (mut from_server, mut from_client) = ([0u8; 4], [0u8; 4]);
    aio::scope(8, |ring| {
        ring.queue((
            Send::new(&client, b"ping").soft(),
            Recv::new(&client, &mut from_server),
            Recv::new(&server, &mut from_client).soft(),
            Send::new(&server, b"pong"),
        ))
        .unwrap();
        let mut seen = 0;
        let done = ring
            .complete_at_least(4, |c| {
                seen += 1;
                assert!(matches!(c.result, Ok(Value::Len(4))), "{c:?}");
            })
            .unwrap();
        assert_eq!((done.completed, done.errors, seen), (4, 0, 4));
        assert_eq!(ring.in_flight(), 0);
    })
    .unwrap();
    assert_eq!((&from_client, &from_server), (b"ping", b"pong"));
}

#[test]
fn waits_for_a_later_completion() {
    // The read completes only once the timer (which the write follows) has fired.
    let (reader, writer) = common::pipe();
    let mut buf = [0u8; 3];
    let start = Instant::now();
    aio::scope(8, |ring| {
        ring.queue(Read::new(&reader, &mut buf)).unwrap();
        ring.queue((Timeout::new(Duration::from_millis(20)).hard(), Write::new(&writer, b"abc"))).unwrap();
        let done = ring.complete_at_least(3, |c| assert!(c.result.is_ok(), "{c:?}")).unwrap();
        assert_eq!(done.completed, 3);
        assert_eq!(ring.in_flight(), 0);
    })
    .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(&buf, b"abc");
}

#[test]
fn never_waits_for_more_than_is_in_flight() {
    let mut ring = Dynamic::new(8).unwrap();
    assert_eq!(ring.complete_at_least(3, |_| unreachable!()).unwrap().completed, 0);
    ring.queue((Nop::new(), Nop::new())).unwrap();
    assert_eq!(ring.complete_at_least(100, drop).unwrap().completed, 2);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn zero_does_not_wait() {
    let mut ring = Dynamic::new(8).unwrap();
    ring.queue(Timeout::new(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    assert_eq!(ring.complete_at_least(0, |_| unreachable!()).unwrap().completed, 0);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(ring.in_flight(), 1);
    // Dropping the ring cancels the timer and waits for it.
}

#[test]
fn counts_only_reported_completions() {
    // A close carries an internal entry on io_uring (a cancel of the descriptor's ops), which
    // may end a kernel wait early: the count is still of reported completions.
    let (reader, writer) = common::pipe();
    let mut ring = Dynamic::new(8).unwrap();
    ring.queue((Close::new(reader), Close::new(writer))).unwrap();
    ring.queue(Timeout::new(Duration::from_millis(10))).unwrap();
    let mut errors = 0;
    let done = ring.complete_at_least(3, |c| errors += usize::from(c.result.is_err())).unwrap();
    assert_eq!((done.completed, done.errors, errors), (3, 0, 0));
    assert_eq!(ring.in_flight(), 0);
}
