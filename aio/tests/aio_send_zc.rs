//! The zero-copy sends (`SendZc`, `SendMsgZc`, `SendZcFixed` of a registered buffer): one
//! completion, after the kernel's notification, with the byte count; failures; and once more as
//! a kernel without `IORING_OP_SEND_ZC` (a plain send).

// Not on WASI: no sockets there (tests/aio_wasi.rs checks they are refused); not on Windows:
// errno values (tests/aio_windows.rs covers sends there).
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::io::Read as _;
use std::net::{Shutdown, UdpSocket};

use common::{expect_errno, tcp_pair};
use corio_aio::op::{OpExt, Recv, SendMsgZc, SendZc, SendZcFixed};
use corio_aio::{Dynamic, Mode, is_canceled};

#[test]
fn a_large_send_completes_once_with_its_count() {
    let (client, mut server) = tcp_pair();
    let data: &'static [u8] = Box::leak((0..4 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into_boxed_slice());
    let client: &'static _ = Box::leak(Box::new(client));
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        got
    });
    let mut ring = Dynamic::new(4).unwrap();
    let mut sent = 0;
    let mut completions = 0;
    while sent < data.len() {
        let id = ring.queue(SendZc::new(client, &data[sent..]).user_data(7)).unwrap();
        let mut done = false;
        while !done {
            ring.complete(Mode::Blocking, |c| {
                assert_eq!((c.id, c.user_data), (id, 7));
                completions += 1;
                sent += c.output::<SendZc>().unwrap();
                done = true;
            })
            .unwrap();
        }
        assert_eq!(ring.in_flight(), 0, "one completion per send, the notification's");
    }
    assert!(completions >= 1);
    client.shutdown(Shutdown::Write).unwrap();
    assert!(reader.join().unwrap() == data, "every byte arrived in order");
}

#[test]
fn linked_sends_and_a_datagram() {
    let (client, server) = tcp_pair();
    let mut buf = [0u8; 10];
    // A whole send linked to a receive of it.
    let (sent, received) =
        corio_aio::multi((SendZc::new(&client, b"zero-copy!").soft(), Recv::new(&server, &mut buf).wait_all()))
            .unwrap();
    assert_eq!((sent, received, &buf), (10, 10, b"zero-copy!"));
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    assert_eq!(corio_aio::single(SendZc::new(&a, b"datagram")).unwrap(), 8);
    let mut got = [0u8; 16];
    assert_eq!(b.recv(&mut got).unwrap(), 8);
    assert_eq!(&got[..8], b"datagram");
}

#[test]
fn failures() {
    // Not connected.
    let lone = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let err = corio_aio::single(SendZc::new(&lone, b"x")).unwrap_err();
    assert!(matches!(err.raw_os_error(), Some(libc::ENOTCONN | libc::EPIPE)), "{err:?}");
    // The peer is gone: EPIPE, without a SIGPIPE (MSG_NOSIGNAL).
    let (client, server) = tcp_pair();
    drop(server);
    let mut failed = None;
    for _ in 0..100 {
        match corio_aio::single(SendZc::new(&client, &[1u8; 65536])) {
            Ok(_) => continue,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let err = failed.expect("a send to a closed peer fails");
    assert!(matches!(err.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)), "{err:?}");
    // A failure fails its soft link, as a send's does.
    let (first, second) = corio_aio::complete((SendZc::new(&lone, b"x").soft(), SendZc::new(&lone, b"y"))).unwrap();
    assert!(first.is_err());
    assert!(is_canceled(&second.unwrap_err()));
    // Not a socket.
    let file = std::fs::File::open("/dev/null").unwrap();
    expect_errno(corio_aio::single(SendZc::new(&file, b"x")), libc::ENOTSOCK);
}

#[test]
fn messages_to_an_address_and_on_a_stream() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let parts = [std::io::IoSlice::new(b"zero "), std::io::IoSlice::new(b"copy")];
    let sent = corio_aio::single(SendMsgZc::new(&a, &parts).to(b.local_addr().unwrap())).unwrap();
    assert_eq!(sent, 9);
    let mut got = [0u8; 16];
    let (n, from) = b.recv_from(&mut got).unwrap();
    assert_eq!((&got[..n], from), (&b"zero copy"[..], a.local_addr().unwrap()));
    // On a stream, linked to a receive.
    let (client, server) = tcp_pair();
    let mut buf = [0u8; 9];
    let (sent, received) =
        corio_aio::multi((SendMsgZc::new(&client, &parts).soft(), Recv::new(&server, &mut buf).wait_all())).unwrap();
    assert_eq!((sent, received, &buf), (9, 9, b"zero copy"));
    // Failures: no address on an unconnected socket; not a socket.
    let err = corio_aio::single(SendMsgZc::new(&a, &parts)).unwrap_err();
    assert!(matches!(err.raw_os_error(), Some(libc::EDESTADDRREQ | libc::ENOTCONN)), "{err:?}");
    let file = std::fs::File::open("/dev/null").unwrap();
    expect_errno(corio_aio::single(SendMsgZc::new(&file, &parts)), libc::ENOTSOCK);
}

/// A registered buffer sent in place, many times over (each send's buffer comes back with
/// its count); the second of two buffers, so a wrong index would send the wrong bytes (or
/// fail: the kernel checks the range against the index); and a buffer of another `Dynamic`
/// (sent without the index).
#[test]
fn registered_buffers_are_sent_in_place_and_come_back() {
    const SIZE: usize = 256 * 1024;
    let (client, mut server) = tcp_pair();
    let client: &'static _ = Box::leak(Box::new(client));
    let rounds = 24;
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        got
    });
    let mut ring = Dynamic::new(4).unwrap();
    ring.register_buffers(2, SIZE).unwrap();
    let mut other = Dynamic::new(2).unwrap();
    other.register_buffers(1, SIZE).unwrap();
    let (first, mut second) = (ring.buffer().unwrap(), ring.buffer().unwrap());
    drop(first); // the free list holds it; `second` is index 1 (or 0: either way not the only one)
    let mut expected = Vec::new();
    for round in 0..rounds {
        let mut buf = if round % 3 == 2 { other.buffer().unwrap() } else { second };
        let pattern: Vec<u8> = (0..SIZE).map(|i| (i as u32).wrapping_mul(31).wrapping_add(round) as u8).collect();
        buf.copy_from_slice(&pattern);
        let len = SIZE - round as usize * 1000;
        let (sent, back) =
            ring.run(SendZcFixed::new(client, buf, len).flags(libc::MSG_WAITALL), drop).unwrap().unwrap();
        assert_eq!(sent, len, "round {round}: a whole send");
        expected.extend_from_slice(&pattern[..len]);
        second = if round % 3 == 2 {
            drop(back); // back to `other`
            ring.buffer().unwrap()
        } else {
            back
        };
    }
    client.shutdown(Shutdown::Write).unwrap();
    assert!(reader.join().unwrap() == expected, "every byte arrived, in order");
    drop(second);
    assert!(ring.buffer().is_some() && other.buffer().is_some(), "every buffer went back");
}

#[test]
fn sends_of_registered_buffers_that_fail_give_the_buffer_back() {
    let mut ring = Dynamic::new(4).unwrap();
    ring.register_buffers(1, 4096).unwrap();
    let (client, server) = tcp_pair();
    // Bad lengths: refused before anything is queued; the buffer is free again at once.
    for len in [0, 4097] {
        let err = ring.run(SendZcFixed::new(&client, ring.buffer().unwrap(), len), drop).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{len}: {err}");
        assert!(ring.buffer().is_some(), "{len}: the buffer is free again");
    }
    assert_eq!(ring.in_flight(), 0);
    // Not connected: the kernel's error, and the buffer back.
    let lone = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let err = ring.run(SendZcFixed::new(&lone, ring.buffer().unwrap(), 1), drop).unwrap().unwrap_err();
    assert!(matches!(err.raw_os_error(), Some(libc::ENOTCONN | libc::EPIPE)), "{err:?}");
    assert!(ring.buffer().is_some(), "the failed send's buffer is free again");
    // Not a socket.
    let file = std::fs::File::open("/dev/null").unwrap();
    expect_errno(ring.run(SendZcFixed::new(&file, ring.buffer().unwrap(), 1), drop).unwrap(), libc::ENOTSOCK);
    assert!(ring.buffer().is_some());
    drop(server);
}

const OLD_KERNEL_CHILD: &str = "CORIO_SEND_ZC_OLD_KERNEL";

/// Every test above again on io_uring without `IORING_OP_SEND_ZC` (before 6.0): plain sends.
#[test]
fn send_zc_on_an_old_kernel() {
    if let Some(stdout) = common::rerun_as_old_kernel(OLD_KERNEL_CHILD, "1", "send_zc,sendmsg_zc", &[]) {
        assert!(stdout.contains("test result: ok"), "the child tests did not run:\n{stdout}");
    }
}
