//! The zero-copy sends (`SendZc`, `SendMsgZc`): one completion, after the kernel's notification, with the
//! byte count; failures; and once more as a kernel without `IORING_OP_SEND_ZC` (a plain send).

// Not on WASI: no sockets there (tests/aio_wasi.rs checks they are refused); not on Windows:
// errno values (tests/aio_windows.rs covers sends there).
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::io::Read as _;
use std::net::{Shutdown, UdpSocket};

use common::{expect_errno, is_io_uring, tcp_pair};
use corio_aio::op::{OpExt, Recv, SendMsgZc, SendZc};
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

const OLD_KERNEL_CHILD: &str = "CORIO_SEND_ZC_OLD_KERNEL";

/// Every test above again on io_uring without `IORING_OP_SEND_ZC` (before 6.0): plain sends.
#[test]
fn send_zc_on_an_old_kernel() {
    if std::env::var_os(OLD_KERNEL_CHILD).is_some() || !is_io_uring() {
        return;
    }
    let stdout = common::rerun_with_uring_disabled("send_zc,sendmsg_zc", &[(OLD_KERNEL_CHILD, "1")], &[]);
    assert!(stdout.contains("test result: ok"), "the child tests did not run:\n{stdout}");
}
