//! Provided buffers: a [`BufferGroup`] of a `Dynamic`, [`RecvBuf`] and the multishot
//! [`RecvMulti`] taking buffers from it, each handed out as a [`ProvidedBuf`] that returns to
//! the group on drop; on every backend (`CORIO_BACKEND=posix` for the pool), and on io_uring
//! as a kernel without multishot receive (single selecting receives re-armed) in a child with
//! `CORIO_URING_DISABLE=recv_multi`. Nothing Unix-specific: on Windows they run on IOCP (under
//! wine in CI).

// Not on WASI (no sockets).
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::{ErrorKind, Write};
use std::time::Duration;

use corio_aio::op::{Cancel, Nop, OpExt, RecvBuf, RecvMulti};
use corio_aio::{BufferGroup, Dynamic, Mode, ProvidedBuf, is_canceled};

const CHILD_ENV: &str = "CORIO_PROVIDED_CHILD";

#[cfg(unix)]
const ENOBUFS: i32 = libc::ENOBUFS;
#[cfg(windows)]
const ENOBUFS: i32 = 10055; // WSAENOBUFS
#[cfg(unix)]
const ENOTCONN: i32 = libc::ENOTCONN;
#[cfg(windows)]
const ENOTCONN: i32 = 10057; // WSAENOTCONN
#[cfg(unix)]
const ECONNRESET: i32 = libc::ECONNRESET;
#[cfg(windows)]
const ECONNRESET: i32 = 10054; // WSAECONNRESET

/// Completes until the multishot receive delivered `want` bytes (see [`common::arrivals`]).
fn receive(ring: &mut Dynamic<'_>, want: usize) -> Vec<ProvidedBuf> {
    common::arrivals::<RecvMulti>(ring, want, "recv_multi")
}

fn group(ring: &mut Dynamic<'_>, count: u16, size: usize) -> BufferGroup {
    let g = ring.register_buffer_group(count, size).unwrap();
    assert_eq!((g.count(), g.buffer_size()), (count, size));
    g
}

#[test]
fn a_receive_takes_a_buffer_of_the_group_and_gives_it_back_on_drop() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 2, 64);
    a.write_all(b"first").unwrap();
    let one = ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap();
    assert_eq!(&one[..], b"first");
    a.write_all(b"second").unwrap();
    let two = ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap();
    assert_eq!(&two[..], b"second");
    assert_ne!(one.buffer_id(), two.buffer_id());
    // Both buffers are out: data waiting finds the group empty.
    a.write_all(b"third").unwrap();
    let empty = ring.run(RecvBuf::new(b, &g), drop).unwrap();
    assert_eq!(empty.unwrap_err().raw_os_error(), Some(ENOBUFS));
    // One returned: the data (still queued) is received into it.
    let id = one.buffer_id();
    drop(one);
    let three = ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap();
    assert_eq!((&three[..], three.buffer_id()), (&b"third"[..], id));
    // More than a buffer holds: the rest waits for the next receive.
    drop((two, three));
    a.write_all(&[7u8; 100]).unwrap();
    let big = ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap();
    assert_eq!(&big[..], &[7u8; 64][..]);
    // End of stream: an empty buffer.
    drop(a);
    let rest = ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap();
    assert_eq!(rest.len(), 36);
    drop(rest);
    let eof = ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap();
    assert!(eof.is_empty());
}

#[test]
fn one_multishot_receive_takes_many_messages_until_the_end_of_stream() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 4, 16);
    let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
    let mut all = Vec::new();
    for round in 0..50u8 {
        let msg = [round; 10];
        a.write_all(&msg).unwrap();
        for buf in receive(&mut ring, 10) {
            all.extend_from_slice(&buf);
        } // each buffer back to the group: four are enough for fifty messages
    }
    assert_eq!(all, (0..50u8).flat_map(|r| [r; 10]).collect::<Vec<_>>());
    assert_eq!(ring.in_flight(), 1, "the op keeps its slot between completions");
    drop(a);
    let end = common::final_result::<RecvMulti>(&mut ring, id).unwrap();
    assert!(end.is_empty(), "the end of stream is a final completion of 0 bytes");
    assert_eq!(ring.in_flight(), 0);
}

/// Data and the end of stream arriving together (one readiness report on posix, where a
/// short arrival ends a round of receives unless the read side was reported closed): the
/// data, then the final 0-byte completion, whether they come while the receive waits or
/// before it is queued on a socket an earlier receive registered.
#[test]
fn data_and_the_end_of_stream_arriving_together_are_both_delivered() {
    common::within_limit("data and end while the receive waits", || {
        let (mut a, b) = common::leaked_stream_pair();
        let mut ring = Dynamic::new(4).unwrap();
        let g = group(&mut ring, 4, 64);
        let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
        ring.complete(Mode::Nonblocking, |c| panic!("nothing sent yet: {c:?}")).unwrap();
        a.write_all(b"one").unwrap();
        assert_eq!(common::bytes(&receive(&mut ring, 3)), b"one");
        a.write_all(b"two").unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let (data, end) = common::all_of::<RecvMulti>(&mut ring, id);
        assert_eq!((&data[..], end.map(|e| e.len()).ok()), (&b"two"[..], Some(0)), "data, then the end of stream");
    });
    common::within_limit("data and end before the receive is queued", || {
        let (mut a, b) = common::leaked_stream_pair();
        let mut ring = Dynamic::new(4).unwrap();
        let g = group(&mut ring, 4, 64);
        let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
        a.write_all(b"one").unwrap();
        assert_eq!(common::bytes(&receive(&mut ring, 3)), b"one");
        ring.queue(Cancel::new(id)).unwrap();
        assert!(common::final_result::<RecvMulti>(&mut ring, id).is_err_and(|e| is_canceled(&e)));
        a.write_all(b"two").unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
        let (data, end) = common::all_of::<RecvMulti>(&mut ring, id);
        assert_eq!((&data[..], end.map(|e| e.len()).ok()), (&b"two"[..], Some(0)), "data, then the end of stream");
    });
}

/// On a datagram socket a datagram shorter than the buffer says nothing about the queue: two
/// that arrive together are both delivered (posix reads on until a receive would block; IOCP's
/// wait peeks, as a zero-byte receive would drop the first datagram).
#[test]
fn datagrams_shorter_than_the_buffer_arriving_together_are_all_delivered() {
    common::within_limit("two datagrams at once", || {
        let socket = common::leak(std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap());
        let addr = socket.local_addr().unwrap();
        let sender = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let mut ring = Dynamic::new(4).unwrap();
        let g = group(&mut ring, 4, 64);
        let id = ring.queue(RecvMulti::new(&*socket, &g)).unwrap();
        ring.complete(Mode::Nonblocking, |c| panic!("nothing sent yet: {c:?}")).unwrap();
        sender.send_to(b"one", addr).unwrap();
        sender.send_to(b"two", addr).unwrap();
        let got = receive(&mut ring, 6);
        assert_eq!(got.iter().map(|b| &b[..]).collect::<Vec<_>>(), [&b"one"[..], &b"two"[..]]);
        ring.queue(Cancel::new(id)).unwrap();
        assert!(common::final_result::<RecvMulti>(&mut ring, id).is_err_and(|e| is_canceled(&e)));
    });
}

/// A datagram longer than a buffer arrives cut to the buffer (the rest is dropped, as a plain
/// `recv` does), and the datagrams after it arrive whole; a single `RecvBuf` takes one datagram.
#[test]
fn a_datagram_longer_than_a_buffer_is_cut_to_it_and_the_next_arrives_whole() {
    common::within_limit("a long datagram", || {
        let socket = common::leak(std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap());
        let addr = socket.local_addr().unwrap();
        let sender = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let mut ring = Dynamic::new(4).unwrap();
        let g = group(&mut ring, 4, 16);
        let long: Vec<u8> = (0..100u8).collect();
        sender.send_to(&long, addr).unwrap();
        sender.send_to(b"short", addr).unwrap();
        sender.send_to(b"third", addr).unwrap();
        let first = ring.run(RecvBuf::new(&*socket, &g), drop).unwrap().unwrap();
        assert_eq!(&first[..], &long[..16], "cut to the buffer");
        drop(first);
        let id = ring.queue(RecvMulti::new(&*socket, &g)).unwrap();
        let got = receive(&mut ring, 10);
        assert_eq!(got.iter().map(|b| &b[..]).collect::<Vec<_>>(), [&b"short"[..], &b"third"[..]]);
        ring.queue(Cancel::new(id)).unwrap();
        assert!(common::final_result::<RecvMulti>(&mut ring, id).is_err_and(|e| is_canceled(&e)));
    });
}

#[test]
fn a_write_larger_than_a_buffer_arrives_in_several_buffers_in_order() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 8, 16);
    let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
    for round in 0..20u8 {
        let data: Vec<u8> = (0..40u8).map(|i| round.wrapping_mul(40).wrapping_add(i)).collect();
        a.write_all(&data).unwrap();
        let bufs = receive(&mut ring, data.len());
        assert!(bufs.len() >= 3 && bufs.iter().all(|b| b.len() <= 16), "40 bytes in 16-byte buffers");
        assert_eq!(common::bytes(&bufs), data, "round {round}");
    } // the buffers back to the group each round
    ring.queue(Cancel::new(id)).unwrap();
    assert!(common::final_result::<RecvMulti>(&mut ring, id).is_err_and(|e| is_canceled(&e)));
}

#[test]
fn a_waiting_receive_holds_no_buffer() {
    let (mut a1, b1) = common::leaked_stream_pair();
    let (mut a2, b2) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 1, 16);
    // Both wait on quiet sockets: the one buffer stays free for the first that gets data.
    let multi = ring.queue(RecvMulti::new(b1, &g)).unwrap();
    let single = ring.queue(RecvBuf::new(b2, &g)).unwrap();
    ring.complete(Mode::Nonblocking, |c| panic!("nothing arrived yet: {:?}", c.result.map(drop))).unwrap();
    a2.write_all(b"two").unwrap();
    let mut two = None;
    while two.is_none() {
        ring.complete(Mode::Blocking, |c| {
            assert_eq!(c.id, single);
            two = Some(c.output::<RecvBuf>().unwrap());
        })
        .unwrap();
    }
    assert_eq!(&two.unwrap()[..], b"two"); // and back to the group
    a1.write_all(b"one").unwrap();
    assert_eq!(common::bytes(&receive(&mut ring, 3)), b"one");
    ring.queue(Cancel::new(multi)).unwrap();
    assert!(common::final_result::<RecvMulti>(&mut ring, multi).is_err_and(|e| is_canceled(&e)));
}

#[test]
fn a_reset_by_the_peer_ends_the_multishot_receive_with_its_error() {
    // TCP on every platform: a Unix socket pair has no reset.
    let (mut a, b) = common::tcp_pair();
    let b = common::leak(b);
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 4, 16);
    let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
    a.write_all(b"before").unwrap();
    assert_eq!(common::bytes(&receive(&mut ring, 6)), b"before");
    // An abortive close: the peer gets a reset.
    socket2::SockRef::from(&a).set_linger(Some(Duration::ZERO)).unwrap();
    drop(a);
    let end = common::final_result::<RecvMulti>(&mut ring, id);
    assert_eq!(end.unwrap_err().raw_os_error(), Some(ECONNRESET));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn an_empty_group_ends_the_multishot_receive_with_enobufs_and_it_can_be_queued_again() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 2, 8);
    let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
    a.write_all(b"12345678").unwrap();
    let mut held = receive(&mut ring, 8);
    a.write_all(b"abcdefgh").unwrap();
    held.extend(receive(&mut ring, 8));
    a.write_all(b"more").unwrap();
    let end = common::final_result::<RecvMulti>(&mut ring, id);
    assert_eq!(end.unwrap_err().raw_os_error(), Some(ENOBUFS));
    // Buffers back: queued again, it receives what waited.
    drop(held);
    let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
    let bufs = receive(&mut ring, 4);
    assert_eq!(common::bytes(&bufs), b"more");
    ring.queue(Cancel::new(id)).unwrap();
    assert!(common::final_result::<RecvMulti>(&mut ring, id).is_err_and(|e| is_canceled(&e)));
}

#[test]
fn a_cancel_ends_the_multishot_receive() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 4, 32);
    for _ in 0..10 {
        let id = ring.queue(RecvMulti::new(b, &g)).unwrap();
        ring.complete(Mode::Nonblocking, drop).unwrap();
        a.write_all(b"x").unwrap();
        ring.queue(Cancel::new(id)).unwrap();
        // The byte may be received before the cancel lands: either way the op ends canceled.
        let end = common::final_completion(&mut ring, id).result;
        assert!(end.is_err_and(|e| is_canceled(&e)));
        // A byte the canceled op left goes to the next round's receive.
    }
}

#[test]
fn a_group_of_another_dynamic_is_refused_whole() {
    let (_a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let mut other = Dynamic::new(4).unwrap();
    let foreign = group(&mut other, 2, 16);
    let kind = |r: std::io::Result<()>| r.unwrap_err().kind();
    assert_eq!(kind(ring.queue((Nop::new(), RecvBuf::new(b, &foreign))).map(drop)), ErrorKind::InvalidInput);
    assert_eq!(kind(ring.queue(RecvMulti::new(b, &foreign)).map(drop)), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0, "nothing of a refused batch stays queued");
    // Where each op must report once, a multishot receive is refused as AcceptMulti is.
    let own = group(&mut ring, 2, 16);
    assert_eq!(kind(ring.run(RecvMulti::new(b, &own), drop).map(drop)), ErrorKind::InvalidInput);
    assert_eq!(kind(ring.queue((RecvMulti::new(b, &own).soft(), Nop::new())).map(drop)), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_failed_receive_gives_its_buffer_back() {
    let unconnected = common::leak(socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap());
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(2).unwrap();
    let g = group(&mut ring, 1, 16);
    for _ in 0..3 {
        let e = ring.run(RecvBuf::new(unconnected, &g), drop).unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(ENOTCONN));
        let mut ends = Vec::new();
        ring.queue(RecvMulti::new(unconnected, &g)).unwrap();
        ring.complete_all(|c| ends.push((c.more, c.result.map(drop).map_err(|e| e.raw_os_error())))).unwrap();
        assert_eq!(ends, [(false, Err(Some(ENOTCONN)))]);
    }
    // The group's one buffer is still there.
    a.write_all(b"ok").unwrap();
    assert_eq!(&ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap()[..], b"ok");
}

#[test]
fn bad_group_sizes_are_refused() {
    let mut ring = Dynamic::new(1).unwrap();
    for (count, size) in [(0, 16), (4, 0), (4, (1 << 16) + 1), (16384, 16)] {
        let e = ring.register_buffer_group(count, size).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{count} × {size}");
    }
    assert!(ring.register_buffer_group(16383, 16).is_ok());
}

#[test]
fn dropping_a_dynamic_ends_its_receive_and_buffers_outlive_it() {
    let (mut a, b) = common::leaked_stream_pair();
    let kept = {
        let mut ring = Dynamic::new(2).unwrap();
        let g = group(&mut ring, 4, 16);
        ring.queue(RecvMulti::new(b, &g)).unwrap();
        a.write_all(b"kept").unwrap();
        receive(&mut ring, 4)
        // Dropped with the receive in flight: the drop cancels it and waits for its end.
    };
    assert_eq!(common::bytes(&kept), b"kept");
    drop(kept); // returned to the group of a gone Dynamic: harmless
    // The socket is free again: another Dynamic receives from it.
    a.write_all(b"again").unwrap();
    let mut ring = Dynamic::new(2).unwrap();
    let g = group(&mut ring, 1, 16);
    assert_eq!(&ring.run(RecvBuf::new(b, &g), drop).unwrap().unwrap()[..], b"again");
}

#[test]
fn the_re_armed_receive_of_old_kernels_behaves_the_same() {
    common::rerun_with_stand_in(CHILD_ENV, "recv_multi", "the_re_armed_receive");
}

#[test]
fn describe_tells_whether_receives_are_re_armed() {
    common::report_stand_in(CHILD_ENV, "recv_multi");
}
