//! aio on the IOCP backend, written for Windows (run under wine in CI: `cargo test -p corio-aio
//! --target x86_64-pc-windows-gnu --test aio_windows`, see `.ci/platforms`), with nothing
//! Unix-specific, so the same tests also run natively on the default backend here. The file
//! ops are in `aio_windows_files`.
//!
//! Every other op the IOCP driver implements, its success and a failure: sockets made by the
//! ops (socket, bind, listen), accept and connect over IPv4 and IPv6 (the peer address
//! checked), send, recv, readv/writev with several buffers, shutdown, close; a refused
//! connect, a pending recv bounded by a link timeout, canceled by id, and racing its cancel;
//! multishot accepts ended by a cancel; poll on sockets (ready at once, waiting, stopped by a
//! link timeout, a listener); event sources notified from another thread; timers; child
//! processes (Windows); and the op Windows lacks (splice).

// Not on WASI: wasm32-wasip1 has no sockets; tests/aio_wasi.rs covers aio there.
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown as How, SocketAddr};
use std::time::{Duration, Instant};

use corio_aio::op::{
    Accept, Bind, Cancel, Close, Connect, Events, LinkTimeout, Listen, Nop, Notify, OpExt, Poll, Readv, Recv, Send,
    Shutdown, Socket, Timeout, Wait, Writev,
};
use corio_aio::{self as aio, Dynamic, EventSource, Mode};
use socket2::{Domain, Type};

const SHORT: Duration = Duration::from_millis(50);

/// A listening TCP socket made by the ops on port 0 of `ip`, and its address.
fn listener(ip: IpAddr) -> std::io::Result<(socket2::Socket, SocketAddr)> {
    let domain = if ip.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let socket = aio::single(Socket::new(domain, Type::STREAM))?;
    aio::multi((Bind::new(&socket, SocketAddr::new(ip, 0)).soft(), Listen::new(&socket, 8)))?;
    let addr = socket.local_addr()?.as_socket().expect("an IP address");
    Ok((socket, addr))
}

/// A connected pair made by the ops: `(accepted, client)`; checks the accepted peer address.
fn tcp_pair(ip: IpAddr) -> (socket2::Socket, socket2::Socket) {
    let (listener, addr) = listener(ip).unwrap();
    let domain = if ip.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let client = aio::single(Socket::new(domain, Type::STREAM)).unwrap();
    let ((accepted, peer), ()) = aio::multi((Accept::new(&listener), Connect::new(&client, addr))).unwrap();
    let local = client.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(peer.as_socket(), Some(local), "accept reports the connecting socket's address");
    assert_eq!(client.peer_addr().unwrap().as_socket(), Some(addr), "connect leaves a connected socket");
    (accepted, client)
}

fn exchange(ip: IpAddr) {
    let (server, client) = tcp_pair(ip);
    let mut buf = [0u8; 16];
    let (sent, got) = aio::multi((Send::new(&client, b"hello").soft(), Recv::new(&server, &mut buf))).unwrap();
    assert_eq!((sent, got, &buf[..5]), (5, 5, &b"hello"[..]));

    // Every buffer of a vectored op is used.
    let (mut a, mut b) = ([0u8; 3], [0u8; 8]);
    let out = [IoSlice::new(b"abc"), IoSlice::new(b"defgh")];
    let mut into = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    let (sent, got) = aio::multi((Writev::new(&client, &out).soft(), Recv::new(&server, &mut buf))).unwrap();
    assert_eq!((sent, &buf[..got]), (8, &b"abcdefgh"[..]));
    let (sent, got) = aio::multi((Send::new(&server, b"ijklmnop").soft(), Readv::new(&client, &mut into))).unwrap();
    assert_eq!((sent, got), (8, 8));
    assert_eq!((&a, &b[..5]), (b"ijk", &b"lmnop"[..]));

    // Shutting down the write side ends the peer's stream; then close both with the ops.
    aio::single(Shutdown::new(&client, How::Write)).unwrap();
    assert_eq!(aio::single(Recv::new(&server, &mut buf)).unwrap(), 0);
    aio::multi((Close::new(client), Close::new(server))).unwrap();
}

#[test]
fn tcp_over_ipv4() {
    exchange(Ipv4Addr::LOCALHOST.into());
}

#[test]
fn tcp_over_ipv6() {
    if std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    exchange(Ipv6Addr::LOCALHOST.into());
}

#[test]
fn a_zero_copy_send_is_a_send_here() {
    // io_uring's SEND_ZC on Linux, a plain send on the other backends: the same result.
    let (server, client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
    let mut buf = [0u8; 9];
    let (sent, got) =
        aio::multi((corio_aio::op::SendZc::new(&client, b"zero-copy").soft(), Recv::new(&server, &mut buf))).unwrap();
    assert_eq!(sent, 9);
    assert!(got > 0 && b"zero-copy".starts_with(&buf[..got]), "{:?}", &buf[..got]);
    // And of a registered buffer, which comes back with the count.
    let (server, client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
    let mut ring = corio_aio::Dynamic::new(2).unwrap();
    ring.register_buffers(1, 64).unwrap();
    let mut fixed = ring.buffer().unwrap();
    fixed[..5].copy_from_slice(b"fixed");
    let (sent, fixed) = ring.run(corio_aio::op::SendZcFixed::new(&client, fixed, 5), drop).unwrap().unwrap();
    assert_eq!((sent, fixed.len()), (5, 64));
    let mut got = [0u8; 5];
    let mut server = &server;
    std::io::Read::read_exact(&mut server, &mut got).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&got, b"fixed");
}

#[test]
fn a_whole_send_linked_to_a_recv() {
    // More than the socket buffers hold: the send completes only once the peer read it all,
    // and the receive linked after it runs then.
    const LEN: usize = 4 << 20;
    let (server, client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let peer = std::thread::spawn(move || {
        let mut got = vec![0u8; LEN];
        let mut at = 0;
        while at < LEN {
            let n = aio::single(Recv::new(&server, &mut got[at..])).unwrap();
            assert!(n > 0, "the stream ended early");
            at += n;
        }
        aio::single(Send::new(&server, b"done")).unwrap();
        got
    });
    let mut buf = [0u8; 8];
    let (sent, got) = aio::multi((Send::new(&client, &data).wait_all().soft(), Recv::new(&client, &mut buf))).unwrap();
    assert_eq!(sent, LEN);
    assert!(got > 0 && b"done".starts_with(&buf[..got]), "{:?}", &buf[..got]);
    assert!(peer.join().unwrap() == expected);
}

#[test]
fn datagrams_with_sendmsg_and_recvmsg() {
    let a = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let b = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let to = b.local_addr().unwrap();
    let out = [IoSlice::new(b"dat"), IoSlice::new(b"agram")];
    let (mut x, mut y) = ([0u8; 4], [0u8; 8]);
    let mut into = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
    let (sent, got) =
        aio::multi((corio_aio::op::SendMsg::new(&a, &out).to(to).soft(), corio_aio::op::RecvMsg::new(&b, &mut into)))
            .unwrap();
    assert_eq!((sent, got.len), (8, 8));
    assert_eq!(got.addr.and_then(|a| a.as_socket()), Some(a.local_addr().unwrap()), "the sender's address");
    assert_eq!((&x, &y[..4]), (b"data", &b"gram"[..]));
    // A datagram larger than the buffers is truncated (and says so in its flags).
    let mut small = [0u8; 2];
    let mut into = [IoSliceMut::new(&mut small)];
    let (_, got) = aio::complete((
        corio_aio::op::SendMsg::new(&a, &out).to(to).soft(),
        corio_aio::op::RecvMsg::new(&b, &mut into),
    ))
    .unwrap();
    match got {
        Ok(got) => assert!(got.len == 2 && got.flags != 0, "{got:?}"),
        // Windows reports the truncation as WSAEMSGSIZE.
        Err(e) => assert_eq!(e.raw_os_error(), Some(10040), "{e:?}"),
    }
}

#[test]
fn socket_failures() {
    // Nothing listens on a port just released: the connect is refused.
    let (gone, addr) = listener(Ipv4Addr::LOCALHOST.into()).unwrap();
    drop(gone);
    let client = aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    let err = aio::single(Connect::new(&client, addr)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
    // Accepting on a socket that does not listen fails, as does receiving on an unconnected one.
    let idle = aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    aio::single(Bind::new(&idle, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))).unwrap();
    assert!(aio::single(Accept::new(&idle)).is_err());
    let mut buf = [0u8; 4];
    assert!(aio::single(Recv::new(&idle, &mut buf)).is_err());
    // Binding twice fails.
    let taken = idle.local_addr().unwrap().as_socket().unwrap();
    let other = aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    let err = aio::single(Bind::new(&other, taken)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
}

#[test]
fn link_timeout_bounds_a_pending_recv_and_the_socket_stays_usable() {
    let (server, client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
    let mut buf = [0u8; 8];
    let start = Instant::now();
    let (recv, limit) = aio::complete((Recv::new(&server, &mut buf).soft(), LinkTimeout::new(SHORT))).unwrap();
    assert!(aio::is_canceled(&recv.unwrap_err()));
    assert!(aio::is_expired(&limit.unwrap_err()));
    assert!(start.elapsed() >= SHORT);
    // A link timeout that does not fire is disarmed.
    let (sent, (got, ())) = (
        aio::single(Send::new(&client, b"ok")).unwrap(),
        aio::multi((Recv::new(&server, &mut buf).soft(), LinkTimeout::new(Duration::from_secs(5)))).unwrap(),
    );
    assert_eq!((sent, got, &buf[..2]), (2, 2, &b"ok"[..]));
}

#[test]
fn cancel_of_a_pending_recv_and_of_a_finished_one() {
    let (server, client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
    let mut buf = [0u8; 8];
    aio::scope(8, |ring| {
        let recv = ring.queue(Recv::new(&server, &mut buf).user_data(1)).unwrap();
        assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("nothing yet: {c:?}")).unwrap().completed, 0);
        ring.queue(Cancel::new(recv).user_data(2)).unwrap();
        let mut results = Vec::new();
        ring.complete_all(|c| results.push((c.user_data, c.result.map(drop)))).unwrap();
        results.sort_by_key(|r| r.0);
        assert!(results[0].1.as_ref().is_err_and(aio::is_canceled), "{results:?}");
        assert!(results[1].1.is_ok(), "{results:?}");
        // Canceling an op that completed finds nothing (a stale id).
        let err = ring.run(Cancel::new(recv), drop).unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    })
    .unwrap();
    // The socket still works after the canceled recv.
    let (_, got) = aio::multi((Send::new(&client, b"x").soft(), Recv::new(&server, &mut buf))).unwrap();
    assert_eq!(got, 1);
}

#[test]
fn a_cancel_racing_a_completion_reports_what_happened() {
    let (server, client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
    for _ in 0..20 {
        let mut buf = [0u8; 8];
        aio::single(Send::new(&client, b"data")).unwrap();
        let (recv, cancel) = aio::scope(4, |ring| {
            let id = ring.queue(Recv::new(&server, &mut buf).user_data(1)).unwrap();
            ring.queue(Cancel::new(id).user_data(2)).unwrap();
            let (mut recv, mut cancel) = (None, None);
            ring.complete_all(|c| match c.user_data {
                1 => recv = Some(c.result.map(|v| format!("{v:?}"))),
                _ => cancel = Some(c.result.map(drop)),
            })
            .unwrap();
            (recv.unwrap(), cancel.unwrap())
        })
        .unwrap();
        match recv {
            // The data was taken: the cancel cannot have stopped anything.
            Ok(_) => {
                assert!(cancel.is_err(), "recv done, cancel {cancel:?}");
                assert_eq!(&buf[..4], b"data");
            }
            // Canceled: the cancel found it, and the data is still there to read.
            Err(e) => {
                assert!(aio::is_canceled(&e), "{e:?}");
                assert!(cancel.is_ok(), "recv canceled, cancel {cancel:?}");
                assert_eq!(aio::single(Recv::new(&server, &mut buf)).unwrap(), 4);
            }
        }
    }
}

#[test]
fn poll_for_readiness() {
    let (server, client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
    assert!(aio::single(Poll::new(&server, Events::OUT)).unwrap().contains(Events::OUT));
    // Nothing to read: a link timeout stops the wait, and the socket stays usable.
    let (poll, limit) = aio::complete((Poll::new(&server, Events::IN).soft(), LinkTimeout::new(SHORT))).unwrap();
    assert!(poll.is_err_and(|e| aio::is_canceled(&e)));
    assert!(limit.is_err_and(|e| aio::is_expired(&e)));
    // A wait that data ends, from another thread.
    let thread = std::thread::spawn(move || {
        std::thread::sleep(SHORT);
        client.send(b"ping").unwrap();
        client
    });
    let got = aio::single(Poll::new(&server, Events::IN | Events::OUT)).unwrap();
    assert!(got.contains(Events::OUT), "{got:?}");
    let got = aio::single(Poll::new(&server, Events::IN)).unwrap();
    assert!(got.contains(Events::IN), "{got:?}");
    let client = thread.join().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(aio::single(Recv::new(&server, &mut buf)).unwrap(), 4);
    // End of stream reads as readable too.
    client.shutdown(How::Write).unwrap();
    assert!(aio::single(Poll::new(&server, Events::IN)).unwrap().intersects(Events::IN | Events::HUP));
    // A listener is readable when a connection waits.
    let (listener, addr) = listener(Ipv4Addr::LOCALHOST.into()).unwrap();
    let _peer = std::net::TcpStream::connect(addr).unwrap();
    assert!(aio::single(Poll::new(&listener, Events::IN)).unwrap().contains(Events::IN));
}

#[test]
fn event_sources_across_threads() {
    let source = std::sync::Arc::new(EventSource::new().unwrap());
    let notifier = std::sync::Arc::clone(&source);
    let start = Instant::now();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(SHORT);
        notifier.notify().unwrap();
    });
    aio::single(Wait::new(&source)).unwrap();
    assert!(start.elapsed() >= SHORT - Duration::from_millis(5));
    thread.join().unwrap();
    // Notify and wait as ops; a unit left over is taken by the blocking wait.
    aio::multi((Notify::new(&source), Notify::new(&source), Wait::new(&source))).unwrap();
    source.wait().unwrap();
    assert!(!source.try_wait().unwrap());
    // A canceled wait takes no unit.
    let (wait, cancel) = aio::scope(4, |ring| {
        let id = ring.queue(Wait::new(&source).user_data(1)).unwrap();
        assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("no unit yet: {c:?}")).unwrap().completed, 0);
        ring.queue(Cancel::new(id).user_data(2)).unwrap();
        let (mut wait, mut cancel) = (None, None);
        ring.complete_all(|c| match c.user_data {
            1 => wait = Some(c.result.map(drop)),
            _ => cancel = Some(c.result.map(drop)),
        })
        .unwrap();
        (wait.unwrap(), cancel.unwrap())
    })
    .unwrap();
    assert!(wait.is_err_and(|e| aio::is_canceled(&e)));
    assert!(cancel.is_ok());
    source.notify().unwrap();
    assert!(source.try_wait().unwrap(), "the canceled wait took no unit");
}

#[test]
fn timers_and_nops() {
    aio::single(Nop::new()).unwrap();
    let start = Instant::now();
    aio::single(Timeout::new(SHORT)).unwrap();
    assert!(start.elapsed() >= SHORT);
    let (slow, limit) = aio::complete((Timeout::new(Duration::from_secs(5)).soft(), LinkTimeout::new(SHORT))).unwrap();
    assert!(aio::is_canceled(&slow.unwrap_err()));
    assert!(aio::is_expired(&limit.unwrap_err()));
    let mut ring = Dynamic::new(4).unwrap();
    let timer = ring.queue(Timeout::new(Duration::from_secs(5)).user_data(1)).unwrap();
    ring.queue(Cancel::new(timer).user_data(2)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.user_data, c.result.map(drop)))).unwrap();
    results.sort_by_key(|r| r.0);
    assert!(results[0].1.as_ref().is_err_and(aio::is_canceled));
    assert!(results[1].1.is_ok());
}

#[cfg(windows)]
mod windows_only {
    use std::os::windows::io::BorrowedSocket;

    use super::*;
    use corio_aio::op::{ChildExit, Read, ReadTty, RecvMsg, Splice};

    /// A socket value no live socket has (handle values are small multiples of 4).
    fn bad_socket() -> BorrowedSocket<'static> {
        // SAFETY: never a valid socket; the ops must fail on it without touching anything.
        unsafe { BorrowedSocket::borrow_raw(0x7fff_fff0) }
    }

    #[test]
    fn ops_on_a_bad_handle_fail() {
        let mut buf = [0u8; 4];
        let bad = bad_socket();
        assert!(aio::single(Recv::new(&bad, &mut buf)).is_err());
        assert!(aio::single(Send::new(&bad, b"x")).is_err());
        assert!(aio::single(Read::new(&bad, &mut buf).offset(0)).is_err());
        assert!(aio::single(Accept::new(&bad)).is_err());
        assert!(aio::single(Listen::new(&bad, 1)).is_err());
        assert!(aio::single(Connect::new(&bad, SocketAddr::from((Ipv4Addr::LOCALHOST, 9)))).is_err());
        assert!(aio::single(Poll::new(&bad, Events::IN)).is_err());
        assert!(aio::single(ReadTty::new(&bad, &mut buf)).is_err());
        // `WSAPoll` has no urgent data event.
        let (server, _client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
        let err = aio::single(Poll::new(&server, Events::PRI)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    }

    #[test]
    fn child_exit_waits_for_a_process() {
        use std::process::{Command, Stdio};
        let mut child = Command::new("cmd").args(["/c", "exit 3"]).spawn().unwrap();
        assert_eq!(aio::single(ChildExit::new(child.id())).unwrap().code(), Some(3));
        // Nothing to reap on Windows: std still learns the status.
        assert_eq!(child.wait().unwrap().code(), Some(3));
        assert!(aio::single(ChildExit::new(0x7fff_fff0)).is_err(), "no such process");
        // A child that waits for its input: a link timeout cancels the wait, which then
        // completes once the child is killed.
        let mut child = Command::new("cmd").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let (wait, limit) = aio::complete((ChildExit::new(child.id()).soft(), LinkTimeout::new(SHORT))).unwrap();
        assert!(wait.is_err_and(|e| aio::is_canceled(&e)));
        assert!(limit.is_err_and(|e| aio::is_expired(&e)));
        child.kill().unwrap();
        assert!(aio::single(ChildExit::new(child.id())).unwrap().code().is_some());
        child.wait().unwrap();
    }

    #[test]
    fn ops_windows_lacks_fail() {
        let (server, _client) = tcp_pair(Ipv4Addr::LOCALHOST.into());
        let mut buf = [0u8; 4];
        let err = aio::single(Splice::new(&server, &server, 4)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
        let mut bufs = [IoSliceMut::new(&mut buf)];
        // WSARecvMsg is for datagram and raw sockets only.
        assert!(aio::single(RecvMsg::new(&server, &mut bufs)).is_err());
        assert_eq!(aio::default_backend(), aio::BackendKind::Iocp);
    }
}

/// A multishot accept takes every connection until canceled (IOCP: an `AcceptEx` started
/// again after each one), then ends canceled.
#[test]
fn multishot_accept_takes_connections_until_canceled() {
    let (listener, addr) = listener(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
    aio::scope(4, |ring| {
        let id = ring.queue(corio_aio::op::AcceptMulti::new(&listener)).unwrap();
        let mut clients = Vec::new();
        let mut accepted = Vec::new();
        for _ in 0..4 {
            clients.push(std::net::TcpStream::connect(addr).unwrap());
            let before = accepted.len();
            while accepted.len() == before {
                ring.complete(Mode::Blocking, |c| {
                    assert!(c.more, "ended early: {:?}", c.result);
                    accepted.push(c.output::<corio_aio::op::AcceptMulti>().unwrap());
                })
                .unwrap();
            }
        }
        assert_eq!(accepted.len(), 4);
        ring.queue(Cancel::new(id)).unwrap();
        let end = common::final_completion(ring, id).result;
        assert!(end.is_err_and(|e| aio::is_canceled(&e)));
    })
    .unwrap();
}

/// A cancel that finds the connection's packet already queued (`CancelIoEx` has nothing left
/// to stop) still ends the multishot accept: the connection it took is reported with more to
/// come, then it ends canceled, as on io_uring (it went on accepting before).
#[test]
fn a_cancel_racing_a_connection_still_ends_the_multishot_accept() {
    let (listener, addr) = listener(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
    aio::scope(4, |ring| {
        for _ in 0..20 {
            let id = ring.queue(corio_aio::op::AcceptMulti::new(&listener)).unwrap();
            ring.complete(Mode::Nonblocking, drop).unwrap();
            let _client = std::net::TcpStream::connect(addr).unwrap();
            ring.queue(Cancel::new(id)).unwrap();
            let end = common::final_completion(ring, id).result;
            assert!(end.is_err_and(|e| aio::is_canceled(&e)));
            assert_eq!(ring.in_flight(), 0);
        }
    })
    .unwrap();
}
