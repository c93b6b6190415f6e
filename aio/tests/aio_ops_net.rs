//! Socket ops: socket, bind, listen, accept, connect, send, recv, sendmsg, recvmsg, shutdown;
//! TCP and UDP exchanges; closing a socket under a pending recv.

// Not on WASI: wasm32-wasip1 has no sockets and pipes; tests/aio_wasi.rs covers aio there.
// Not on Windows: Unix sockets, fcntl and recvmsg/sendmsg; not ported yet (tests/aio_windows.rs covers the IOCP socket ops).
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown as How, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use common::{BadFd, backend, expect_canceled, expect_errno, expect_kind, leak, tcp_pair};
use corio_aio::op::{
    Accept, Bind, Close, Connect, Listen, OpExt, Recv, RecvMsg, Send, SendMsg, Shutdown, Socket, Timeout,
};
use corio_aio::{self as aio, BackendKind, Dynamic, Mode};
use socket2::{Domain, Protocol, Type};

/// `MSG_CMSG_CLOEXEC` where the OS has it (macOS does not: received descriptors stay
/// inheritable there).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const CMSG_CLOEXEC: i32 = libc::MSG_CMSG_CLOEXEC;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const CMSG_CLOEXEC: i32 = 0;

fn is_cloexec(fd: &impl AsFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags of a valid descriptor.
    let flags = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0);
    flags & libc::FD_CLOEXEC != 0
}

/// A listening TCP socket made with the ops, bound to port 0 of `ip`.
fn listener(ip: impl Into<std::net::IpAddr>) -> std::io::Result<(socket2::Socket, SocketAddr)> {
    let ip = ip.into();
    let domain = if ip.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let socket = aio::single(Socket::new(domain, Type::STREAM).protocol(Protocol::TCP))?;
    aio::multi((Bind::new(&socket, SocketAddr::new(ip, 0)).soft(), Listen::new(&socket, 8)))?;
    let addr = socket.local_addr()?.as_socket().expect("an IP address");
    Ok((socket, addr))
}

#[test]
fn socket_creates_close_on_exec_sockets() {
    let tcp = aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    assert_eq!(tcp.r#type().unwrap(), Type::STREAM);
    assert!(is_cloexec(&tcp));
    let udp = aio::single(Socket::new(Domain::IPV6, Type::DGRAM).protocol(Protocol::UDP)).unwrap();
    assert_eq!(udp.r#type().unwrap(), Type::DGRAM);
    // socket2 reads SO_DOMAIN, which Linux has.
    #[cfg(target_os = "linux")]
    assert_eq!(udp.domain().unwrap(), Domain::IPV6);
    expect_errno(aio::single(Socket::new(Domain::from(4242), Type::STREAM)), libc::EAFNOSUPPORT);
}

#[test]
fn bind_listen_and_addr_in_use() {
    // Held to the end: it keeps `addr` in use.
    let (_first, addr) = listener(Ipv4Addr::LOCALHOST).unwrap();
    assert_ne!(addr.port(), 0);
    // socket2 reads SO_ACCEPTCONN, which it offers on Linux.
    #[cfg(target_os = "linux")]
    assert!(_first.is_listener().unwrap());
    let second = aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    expect_kind(aio::single(Bind::new(&second, addr)), ErrorKind::AddrInUse);
    // A datagram socket cannot listen.
    let udp = aio::single(Socket::new(Domain::IPV4, Type::DGRAM)).unwrap();
    expect_errno(aio::single(Listen::new(&udp, 1)), libc::EOPNOTSUPP);
    expect_errno(aio::single(Bind::new(&BadFd, addr)), libc::EBADF);
}

fn accept_and_connect(ip: impl Into<std::net::IpAddr>) {
    let ip = ip.into();
    let (listener, addr) = match listener(ip) {
        Ok(l) => l,
        Err(e) if ip.is_ipv6() => {
            println!("skipped: no IPv6 loopback ({e})");
            return;
        }
        Err(e) => panic!("listener: {e}"),
    };
    let domain = if ip.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let client = aio::single(Socket::new(domain, Type::STREAM)).unwrap();
    // Both in one batch, unlinked: the accept waits for the connect.
    let ((accepted, peer), ()) = aio::multi((Accept::new(&listener), Connect::new(&client, addr))).unwrap();
    let client_addr = client.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(peer.as_socket(), Some(client_addr));
    assert_eq!(peer.is_ipv6(), ip.is_ipv6());
    assert_eq!(accepted.peer_addr().unwrap().as_socket(), Some(client_addr));
    assert_eq!(client.peer_addr().unwrap().as_socket(), Some(addr));
    assert!(is_cloexec(&accepted));
}

#[test]
fn accept_ipv4() {
    accept_and_connect(Ipv4Addr::LOCALHOST);
}

#[test]
fn accept_ipv6() {
    accept_and_connect(Ipv6Addr::LOCALHOST);
}

#[test]
fn accept_errors() {
    // Bound but not listening.
    let (holder, _) = common::refusing_addr();
    expect_errno(aio::single(Accept::new(&holder)), libc::EINVAL);
    expect_errno(aio::single(Accept::new(&BadFd)), libc::EBADF);
}

#[test]
fn connect_refused() {
    let (_holder, addr) = common::refusing_addr();
    let client = aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    expect_kind(aio::single(Connect::new(&client, addr)), ErrorKind::ConnectionRefused);
}

#[test]
fn tcp_ping_pong() {
    // Inventory §6.1 item 20.
    let (listener, addr) = listener(Ipv4Addr::LOCALHOST).unwrap();
    let client = aio::single(Socket::new(Domain::IPV4, Type::STREAM).protocol(Protocol::TCP)).unwrap();
    let ((server, peer), ()) = aio::multi((Accept::new(&listener), Connect::new(&client, addr))).unwrap();
    assert_eq!(peer.as_socket().unwrap().ip(), Ipv4Addr::LOCALHOST);
    let (mut ping, mut pong) = ([0u8; 4], [0u8; 4]);
    let (sent_ping, got_ping, sent_pong, got_pong) = aio::multi((
        Send::new(&client, b"PING").soft(),
        Recv::new(&server, &mut ping).soft(),
        Send::new(&server, b"PONG").soft(),
        Recv::new(&client, &mut pong),
    ))
    .unwrap();
    assert_eq!((sent_ping, got_ping, sent_pong, got_pong), (4, 4, 4, 4));
    assert_eq!((&ping, &pong), (b"PING", b"PONG"));
    aio::single(Shutdown::new(&client, How::Both)).unwrap();
    let mut rest = [0u8; 4];
    assert_eq!(aio::single(Recv::new(&server, &mut rest)).unwrap(), 0, "end of stream after the shutdown");
    aio::multi((Close::new(client), Close::new(server))).unwrap();
}

#[test]
fn recv_peek_leaves_the_data() {
    let (client, server) = tcp_pair();
    let (mut peeked, mut read) = ([0u8; 8], [0u8; 8]);
    let (sent, n_peek, n_read) = aio::multi((
        Send::new(&client, b"hello").soft(),
        Recv::new(&server, &mut peeked).peek().soft(),
        Recv::new(&server, &mut read),
    ))
    .unwrap();
    assert_eq!((sent, n_peek, n_read), (5, 5, 5));
    assert_eq!((&peeked[..5], &read[..5]), (&b"hello"[..], &b"hello"[..]));

    // MSG_WAITALL gathers two sends into one receive.
    let mut all = [0u8; 6];
    let (_, _, n) = aio::multi((
        Send::new(&client, b"abc").soft(),
        Send::new(&client, b"def").hard(),
        Recv::new(&server, &mut all).wait_all(),
    ))
    .unwrap();
    assert_eq!((n, &all), (6, b"abcdef"));
}

#[test]
fn send_recv_errors() {
    let (client, server) = tcp_pair();
    let mut empty = [0u8; 0];
    expect_kind(aio::single(Recv::new(&server, &mut empty)), ErrorKind::InvalidInput);
    let mut buf = [0u8; 4];
    expect_errno(aio::single(Recv::new(&BadFd, &mut buf)), libc::EBADF);
    expect_errno(aio::single(Send::new(&BadFd, b"x")), libc::EBADF);
    // After shutting down its write half, a send fails with BrokenPipe (and no SIGPIPE).
    aio::single(Shutdown::new(&client, How::Write)).unwrap();
    expect_kind(aio::single(Send::new(&client, b"late")), ErrorKind::BrokenPipe);
    assert_eq!(aio::single(Recv::new(&server, &mut buf)).unwrap(), 0);
}

#[test]
fn shutdown_errors() {
    let unconnected = aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    expect_kind(aio::single(Shutdown::new(&unconnected, How::Both)), ErrorKind::NotConnected);
    expect_errno(aio::single(Shutdown::new(&BadFd, How::Read)), libc::EBADF);
}

fn udp_pair() -> (socket2::Socket, SocketAddr, socket2::Socket, SocketAddr) {
    let server = aio::single(Socket::new(Domain::IPV4, Type::DGRAM)).unwrap();
    let client = aio::single(Socket::new(Domain::IPV4, Type::DGRAM).protocol(Protocol::UDP)).unwrap();
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    aio::multi((Bind::new(&server, any), Bind::new(&client, any))).unwrap();
    let server_addr = server.local_addr().unwrap().as_socket().unwrap();
    let client_addr = client.local_addr().unwrap().as_socket().unwrap();
    (server, server_addr, client, client_addr)
}

#[test]
fn udp_ping_pong() {
    // Inventory §6.1 item 21.
    let (server, server_addr, client, client_addr) = udp_pair();
    let (mut ping, mut pong) = ([0u8; 4], [0u8; 4]);
    let ping_out = [IoSlice::new(b"PI"), IoSlice::new(b"NG")];
    let pong_out = [IoSlice::new(b"PONG")];
    let mut ping_in = [IoSliceMut::new(&mut ping)];
    let mut pong_in = [IoSliceMut::new(&mut pong)];
    let (sent_ping, got_ping, sent_pong, got_pong) = aio::multi((
        SendMsg::new(&server, &ping_out).to(client_addr).soft(),
        RecvMsg::new(&client, &mut ping_in).soft(),
        SendMsg::new(&client, &pong_out).to(server_addr).soft(),
        RecvMsg::new(&server, &mut pong_in),
    ))
    .unwrap();
    assert_eq!((sent_ping, got_ping.len, sent_pong, got_pong.len), (4, 4, 4, 4));
    assert_eq!(got_ping.addr.and_then(|a| a.as_socket()), Some(server_addr));
    assert_eq!(got_pong.addr.and_then(|a| a.as_socket()), Some(client_addr));
    assert_eq!((got_ping.flags & libc::MSG_TRUNC, got_ping.control_len), (0, 0));
    assert_eq!((&ping, &pong), (b"PING", b"PONG"));
}

#[test]
fn recvmsg_flags_are_honoured() {
    let (server, server_addr, client, client_addr) = udp_pair();
    let out = [IoSlice::new(b"datagram")];
    let (mut peeked, mut small) = ([0u8; 16], [0u8; 4]);
    let mut peek_in = [IoSliceMut::new(&mut peeked)];
    let mut small_in = [IoSliceMut::new(&mut small)];
    let (sent, peek, trunc) = aio::multi((
        SendMsg::new(&client, &out).to(server_addr).soft(),
        RecvMsg::new(&server, &mut peek_in).flags(libc::MSG_PEEK).soft(),
        RecvMsg::new(&server, &mut small_in),
    ))
    .unwrap();
    assert_eq!((sent, peek.len, &peeked[..8]), (8, 8, &b"datagram"[..]));
    assert_eq!(peek.addr.and_then(|a| a.as_socket()), Some(client_addr));
    // The peeked datagram was still there, and did not fit the small buffer: truncated.
    assert_eq!((trunc.len, &small), (4, b"data"));
    assert_ne!(trunc.flags & libc::MSG_TRUNC, 0, "flags {:#x}", trunc.flags);

    // Sending to nowhere on an unconnected socket: destination required.
    expect_errno(aio::single(SendMsg::new(&client, &out)), libc::EDESTADDRREQ);
    let mut buf = [0u8; 4];
    let mut iov = [IoSliceMut::new(&mut buf)];
    expect_errno(aio::single(RecvMsg::new(&BadFd, &mut iov)), libc::EBADF);
}

#[test]
fn closing_a_socket_cancels_its_pending_recv() {
    let (client, server) = tcp_pair();
    let mut ring = Dynamic::new(8).unwrap();
    // Ops of a `Dynamic<'static>` borrow 'static memory: leak the socket and the buffer.
    let server: &'static TcpStream = Box::leak(Box::new(server));
    let buf: &'static mut [u8] = Box::leak(vec![0u8; 16].into_boxed_slice());
    let recv = ring.queue(Recv::new(server, buf)).unwrap();
    // Submit it; nothing can arrive (the peer sends nothing and stays open).
    assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("unexpected {c:?}")).unwrap().completed, 0);

    // SAFETY: the test deliberately makes a second owner of the leaked server socket's
    // descriptor, so that `Close` can take it while the recv is pending. The leaked `TcpStream`
    // is never dropped (nor used again), so the descriptor is closed exactly once, by the op.
    let owned = unsafe { OwnedFd::from_raw_fd(server.as_raw_fd()) };
    let close = ring.queue(Close::new(owned)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.id, c.op, c.result))).unwrap();
    assert_eq!(results.len(), 2);
    for (id, op, result) in results {
        if id == recv {
            assert_eq!(op, "recv");
            expect_canceled(result);
        } else {
            assert_eq!((id, op), (close, "close"));
            result.unwrap();
        }
    }
    drop(client);
}

#[test]
fn pending_recv_with_a_link_timeout_is_canceled() {
    let (client, server) = tcp_pair();
    let mut buf = [0u8; 8];
    let start = std::time::Instant::now();
    let (recv, limit) = aio::complete((
        Recv::new(&server, &mut buf).soft(),
        aio::op::LinkTimeout::new(std::time::Duration::from_millis(50)),
    ))
    .unwrap();
    expect_canceled(recv);
    common::expect_expired(limit);
    assert!(start.elapsed() >= std::time::Duration::from_millis(50));
    // The connection is still usable afterwards; a zero timeout completes at once.
    let ((), sent, got) = aio::multi((
        Timeout::new(std::time::Duration::ZERO).soft(),
        Send::new(&client, b"ok").soft(),
        Recv::new(&server, &mut buf),
    ))
    .unwrap();
    assert_eq!((sent, got, &buf[..2]), (2, 2, &b"ok"[..]));
}

/// A control-message buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; 64]);

#[test]
fn sendmsg_recvmsg_pass_a_descriptor() {
    use std::os::unix::net::UnixDatagram;
    let (a, b) = UnixDatagram::pair().unwrap();
    let (pipe_r, pipe_w) = common::pipe();
    let space = {
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations.
        unsafe { (libc::CMSG_SPACE(4) as usize, libc::CMSG_LEN(4) as usize) }
    };
    let mut out = Control([0; 64]);
    // SAFETY: `out` is aligned for `cmsghdr` and larger than CMSG_SPACE(4); a zeroed msghdr
    // that points at it is what CMSG_FIRSTHDR reads to find the first header.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_control = out.0.as_mut_ptr().cast();
        hdr.msg_controllen = space.0 as _;
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = space.1 as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), pipe_w.as_raw_fd());
    }
    let data = [IoSlice::new(b"fd")];
    let mut got = [0u8; 2];
    let mut iov = [IoSliceMut::new(&mut got)];
    let mut input = Control([0; 64]);
    let (sent, received) = aio::multi((
        SendMsg::new(&a, &data).control(&out.0[..space.0]).soft(),
        RecvMsg::new(&b, &mut iov).control(&mut input.0).flags(CMSG_CLOEXEC),
    ))
    .unwrap();
    assert_eq!((sent, received.len, &got), (2, 2, b"fd"));
    assert_eq!(received.control_len, space.0);
    assert_eq!(received.flags & libc::MSG_CTRUNC, 0);
    // SAFETY: the kernel wrote one SCM_RIGHTS header with one descriptor into `input`, aligned
    // for `cmsghdr`; the descriptor is new and owned by nobody else.
    let passed = unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_control = input.0.as_mut_ptr().cast();
        hdr.msg_controllen = received.control_len as _;
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        assert!(!cmsg.is_null());
        assert_eq!(((*cmsg).cmsg_level, (*cmsg).cmsg_type), (libc::SOL_SOCKET, libc::SCM_RIGHTS));
        std::fs::File::from(OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>())))
    };
    assert_ne!(passed.as_raw_fd(), pipe_w.as_raw_fd());
    if CMSG_CLOEXEC != 0 {
        assert!(is_cloexec(&passed), "MSG_CMSG_CLOEXEC was honoured");
    }
    // The passed descriptor is the pipe's write end.
    assert_eq!(aio::single(aio::op::Write::new(&passed, b"via")).unwrap(), 3);
    let mut buf = [0u8; 3];
    assert_eq!(aio::single(aio::op::Read::new(&pipe_r, &mut buf)).unwrap(), 3);
    assert_eq!(&buf, b"via");
}

/// Closing a duplicate of a socket with ops pending on the original: the backends differ, as
/// `Close`'s docs say. io_uring's hidden cancel matches the open file, which the duplicate
/// shares, so the original's receive ends canceled; posix cancels the ops of that descriptor
/// number only, so the receive stays pending and gets the next datagram.
#[test]
fn closing_a_duplicate_and_the_original_s_pending_receive() {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = socket.local_addr().unwrap();
    let socket: &'static std::net::UdpSocket = leak(socket);
    let buf: &'static mut [u8] = leak([0u8; 16]);
    let mut ring = Dynamic::new(8).unwrap();
    let recv = ring.queue(Recv::new(socket, buf)).unwrap();
    let close = ring.queue(Close::new(OwnedFd::from(socket.try_clone().unwrap()))).unwrap();
    let mut results = std::collections::HashMap::new();
    while !results.contains_key(&close) {
        ring.complete(Mode::Blocking, |c| {
            results.insert(c.id, c.result.map(|v| format!("{v:?}")));
        })
        .unwrap();
    }
    results.remove(&close).unwrap().unwrap();
    match backend() {
        BackendKind::IoUring => {
            while !results.contains_key(&recv) {
                ring.complete(Mode::Blocking, |c| {
                    results.insert(c.id, c.result.map(|v| format!("{v:?}")));
                })
                .unwrap();
            }
            expect_canceled(results.remove(&recv).unwrap());
        }
        _ => {
            assert!(!results.contains_key(&recv), "the original's receive is still pending");
            std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().send_to(b"still here", addr).unwrap();
            while !results.contains_key(&recv) {
                ring.complete(Mode::Blocking, |c| {
                    results.insert(c.id, c.result.map(|v| format!("{v:?}")));
                })
                .unwrap();
            }
            assert_eq!(results.remove(&recv).unwrap().unwrap(), "Len(10)");
        }
    }
}
