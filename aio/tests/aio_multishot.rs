//! Multishot ops: [`AcceptMulti`] completes once per connection until it ends (an error, a
//! cancel), on every backend; where each op must report once (`run`, the immediate API,
//! tagged queueing, chains) it is refused. The io_uring stand-in for kernels before 5.19
//! (single accepts re-armed) runs the same tests in a child with
//! `CORIO_URING_DISABLE=accept_multi`.

// Not on WASI (no sockets) nor Windows (io_uring and posix specifics; IOCP: aio_windows.rs).
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use corio_aio::__private::{Collector, RuntimeExt};
use corio_aio::op::{AcceptMulti, Cancel, Nop, OpExt};
use corio_aio::{Completion, Dynamic, Mode, is_canceled};

const CHILD_ENV: &str = "CORIO_MULTISHOT_CHILD";

/// A listener for a `Dynamic<'static>` (leaked: the ops borrow it for `'static`).
fn listener() -> &'static TcpListener {
    common::leak(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
}

/// Completes until `n` connections were accepted by the multishot accept `id`; every one of
/// those completions says more will follow.
fn accept_n(ring: &mut Dynamic<'_>, n: usize) -> Vec<socket2::Socket> {
    let mut accepted = Vec::new();
    while accepted.len() < n {
        ring.complete(Mode::Blocking, |c: Completion| {
            assert!(c.more, "the accept ended early: {:?}", c.result);
            assert_eq!(c.op, "accept_multi");
            accepted.push(c.output::<AcceptMulti>().expect("a connection"));
        })
        .unwrap();
    }
    accepted
}

/// Cancels `id` and completes until it ended; returns its final result (no `more`).
fn cancel_and_end(ring: &mut Dynamic<'_>, id: corio_aio::Id) -> std::io::Result<corio_aio::Value> {
    ring.queue(Cancel::new(id).user_data(1)).unwrap();
    common::final_completion(ring, id).result
}

#[test]
fn one_accept_takes_many_connections_until_canceled() {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    // Ten connections wait before the op starts, ten more arrive while it runs.
    let mut clients: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut ring = Dynamic::new(4).unwrap();
    let id = ring.queue(AcceptMulti::new(listener)).unwrap();
    let mut accepted = accept_n(&mut ring, 10);
    clients.extend((0..10).map(|_| TcpStream::connect(addr).unwrap()));
    accepted.extend(accept_n(&mut ring, 10));
    assert_eq!(ring.in_flight(), 1, "the op keeps its slot between completions");
    // Each accepted socket is a distinct, working connection.
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(&[i as u8]).unwrap();
    }
    let mut seen: Vec<u8> = accepted
        .iter()
        .map(|s| {
            let mut b = [0u8; 1];
            let mut stream = TcpStream::from(s.try_clone().unwrap());
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream.read_exact(&mut b).unwrap();
            b[0]
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (0..20).collect::<Vec<u8>>());
    let end = cancel_and_end(&mut ring, id);
    assert!(end.as_ref().is_err_and(is_canceled), "canceled: {end:?}");
    assert_eq!(ring.in_flight(), 0);
    // The listener works on: a new multishot accept takes the next connection.
    let _late = TcpStream::connect(addr).unwrap();
    let again = ring.queue(AcceptMulti::new(listener)).unwrap();
    assert_eq!(accept_n(&mut ring, 1).len(), 1);
    assert!(cancel_and_end(&mut ring, again).is_err_and(|e| is_canceled(&e)));
}

#[test]
fn a_non_blocking_listener_is_drained_the_same() {
    let listener = listener();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut ring = Dynamic::new(2).unwrap();
    let id = ring.queue(AcceptMulti::new(listener)).unwrap();
    for round in 0..3 {
        let _clients: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
        assert_eq!(accept_n(&mut ring, 5).len(), 5, "round {round}");
    }
    assert!(cancel_and_end(&mut ring, id).is_err_and(|e| is_canceled(&e)));
}

#[test]
fn other_ops_complete_beside_a_multishot_accept() {
    let listener = listener();
    let mut ring = Dynamic::new(4).unwrap();
    let id = ring.queue(AcceptMulti::new(listener)).unwrap();
    let nop = ring.queue(Nop::new()).unwrap();
    let mut seen = Vec::new();
    while !seen.contains(&nop) {
        ring.complete(Mode::Blocking, |c| seen.push(c.id)).unwrap();
    }
    assert_eq!(seen, [nop], "no connection, no accept completion");
    let done = ring.complete(Mode::Nonblocking, |_| {}).unwrap();
    assert_eq!((done.completed, done.more), (0, 0));
    assert!(cancel_and_end(&mut ring, id).is_err_and(|e| is_canceled(&e)));
}

#[test]
fn completed_counts_a_multishot_op_once_when_it_ends() {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let _clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut ring = Dynamic::new(4).unwrap();
    let id = ring.queue(AcceptMulti::new(listener)).unwrap();
    let (mut completed, mut more) = (0, 0);
    while more < 3 {
        let done = ring.complete(Mode::Blocking, drop).unwrap();
        completed += done.completed;
        more += done.more;
    }
    assert_eq!((completed, more), (0, 3));
    ring.queue(Cancel::new(id)).unwrap();
    let done = ring.complete_all(drop).unwrap();
    assert_eq!(done, 1, "the accept's end is its one failure");
}

#[test]
fn a_socket_that_does_not_listen_ends_the_accept_at_once() {
    let socket = common::leak(socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap());
    let mut ring = Dynamic::new(2).unwrap();
    ring.queue(AcceptMulti::new(socket)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.more, c.result.map_err(|e| e.raw_os_error())))).unwrap();
    assert_eq!(results.len(), 1);
    assert!(!results[0].0, "the only completion is the last");
    assert_eq!(results[0].1.as_ref().unwrap_err(), &Some(libc::EINVAL));
}

#[test]
fn where_ops_must_report_once_a_multishot_op_is_refused_whole() {
    let listener = listener();
    let mut ring = Dynamic::new(4).unwrap();
    let kind = |r: std::io::Result<()>| r.unwrap_err().kind();
    assert_eq!(kind(ring.run(AcceptMulti::new(listener), drop).map(drop)), ErrorKind::InvalidInput);
    assert_eq!(kind(corio_aio::single(AcceptMulti::new(listener)).map(drop)), ErrorKind::InvalidInput);
    let batch = (Nop::new(), AcceptMulti::new(listener));
    let _collector = Collector::new(&batch);
    assert_eq!(kind(ring.queue_tagged(batch, 0).map(drop)), ErrorKind::InvalidInput);
    // In a chain, linked or behind a link.
    assert_eq!(kind(ring.queue((AcceptMulti::new(listener).soft(), Nop::new())).map(drop)), ErrorKind::InvalidInput);
    assert_eq!(kind(ring.queue((Nop::new().hard(), AcceptMulti::new(listener))).map(drop)), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0, "nothing of a refused batch stays queued");
    // Unlinked beside other ops it is fine.
    let [a, b] = ring.queue([AcceptMulti::new(listener), AcceptMulti::new(listener)]).unwrap();
    assert_eq!(ring.in_flight(), 2);
    ring.queue((Cancel::new(a), Cancel::new(b))).unwrap();
    let mut ends = Vec::new();
    ring.complete_all(|c| {
        if c.op == "accept_multi" {
            ends.push(c.result.is_err_and(|e| is_canceled(&e)));
        }
    })
    .unwrap();
    assert_eq!(ends, [true, true]);
}

#[test]
fn dropping_a_dynamic_ends_its_multishot_accept() {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    {
        let mut ring = Dynamic::new(2).unwrap();
        ring.queue(AcceptMulti::new(listener)).unwrap();
        let _c = TcpStream::connect(addr).unwrap();
        accept_n(&mut ring, 1);
        // Dropped with the accept in flight: the drop cancels it and waits for its end.
    }
    // Inside a scope, with connections arriving meanwhile.
    let _clients: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    corio_aio::scope(2, |ring| {
        ring.queue(AcceptMulti::new(listener)).unwrap();
        ring.complete(Mode::Blocking, drop).unwrap();
    })
    .unwrap();
    // The listener is free again: a plain accept works.
    let _c = TcpStream::connect(addr).unwrap();
    listener.set_nonblocking(false).unwrap();
    corio_aio::single(corio_aio::op::Accept::new(listener)).unwrap();
}

#[test]
fn a_cancel_racing_a_connection_still_ends_the_accept() {
    // Whether the connection is taken before the cancel lands or not, the op ends canceled
    // and nothing stays in flight.
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut ring = Dynamic::new(4).unwrap();
    for _ in 0..20 {
        let id = ring.queue(AcceptMulti::new(listener)).unwrap();
        ring.complete(Mode::Nonblocking, drop).unwrap();
        let _c = TcpStream::connect(addr).unwrap();
        let end = cancel_and_end(&mut ring, id);
        assert!(end.as_ref().is_err_and(is_canceled), "{end:?}");
        assert_eq!(ring.in_flight(), 0);
    }
}

#[test]
fn the_re_armed_accept_of_old_kernels_behaves_the_same() {
    common::rerun_with_stand_in(CHILD_ENV, "accept_multi", "the_re_armed_accept");
}

#[test]
fn describe_tells_whether_accepts_are_re_armed() {
    common::report_stand_in(CHILD_ENV, "accept_multi");
}
