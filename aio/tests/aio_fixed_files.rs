//! The registered file table (`Dynamic::register_files`): ops on `Fixed` slots, the direct
//! ops that open into a slot, `Close::fixed`, bad slots, a full table, and the table's files
//! closed when the `Dynamic` drops. Every test runs on the suite's backend (io_uring by
//! default, `CORIO_BACKEND=posix`); `an_old_kernel_behaves_the_same` re-runs them with
//! io_uring's multishot accept and socket opcode disabled.

// Not on WASI (no sockets) nor Windows (pipes and /proc; IOCP is type-checked).
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};

use corio_aio::net_types::{Domain, Type};
use corio_aio::op::{self, Fixed, OpExt};
use corio_aio::{Dynamic, Mode};

const CHILD_ENV: &str = "CORIO_FIXED_FILES_CHILD";

fn ring(slots: u32) -> Dynamic<'static> {
    let mut ring = Dynamic::new(8).unwrap();
    ring.register_files(slots).unwrap();
    ring
}

/// Runs one op to its end.
fn run<O: op::Op>(ring: &mut Dynamic<'_>, op: O) -> std::io::Result<O::Output> {
    ring.run(op, |_| {}).unwrap()
}

/// Whether this process plays a kernel without the `SOCKET` opcode.
fn socket_opcode_disabled() -> bool {
    common::is_io_uring() && std::env::var("CORIO_URING_DISABLE").is_ok_and(|v| v.contains("socket"))
}

/// Whether this process plays a kernel without direct descriptors (before 5.15).
fn direct_disabled() -> bool {
    common::is_io_uring() && std::env::var("CORIO_URING_DISABLE").is_ok_and(|v| v.contains("direct"))
}

#[test]
fn read_and_write_installed_files_by_slot() {
    let (r, w) = common::pipe();
    let mut ring = ring(4);
    ring.install_file(Fixed(0), r).unwrap();
    ring.install_file(Fixed(3), w).unwrap();
    // A linked chain on slots: write, then read what was written.
    let mut buf = [0u8; 5];
    let (wrote, read) =
        ring.run((op::Write::new(&Fixed(3), b"fixed").soft(), op::Read::new(&Fixed(0), &mut buf)), |_| {}).unwrap();
    assert_eq!((wrote.unwrap(), read.unwrap(), &buf), (5, 5, b"fixed"));
    // Vectored, and waiting: the read is queued before the data exists.
    let bufs = common::leak([
        IoSliceMut::new(common::leak([0u8; 2]).as_mut_slice()),
        IoSliceMut::new(common::leak([0u8; 3]).as_mut_slice()),
    ]);
    let bufs_at: *const [IoSliceMut<'static>; 2] = bufs;
    let id = ring.queue(op::Readv::new(&Fixed(0), bufs)).unwrap();
    ring.complete(Mode::Nonblocking, |_| {}).unwrap();
    let parts = [IoSlice::new(b"ab"), IoSlice::new(b"cde")];
    let mut got = None;
    let mut on_read = |c: corio_aio::Completion| {
        assert_eq!(c.id, id);
        got = Some(c.output::<op::Readv>().unwrap());
    };
    assert_eq!(ring.run(op::Writev::new(&Fixed(3), &parts), &mut on_read).unwrap().unwrap(), 5);
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, &mut on_read).unwrap();
    }
    assert_eq!(got, Some(5));
    // SAFETY: the read completed: nothing writes the leaked buffers any more.
    let bufs = unsafe { &*bufs_at };
    assert_eq!((&*bufs[0], &*bufs[1]), (&b"ab"[..], &b"cde"[..]));
    assert!(run(&mut ring, op::Poll::new(&Fixed(3), op::Events::OUT)).unwrap().contains(op::Events::OUT));
}

#[test]
fn files_opened_into_slots_read_write_and_sync() {
    let dir = common::TempDir::new("fixed-open");
    let path = dir.file("data", b"0123456789");
    let mut ring = ring(4);
    let chosen = run(&mut ring, op::OpenAt::new(&path).write(true).direct(Some(Fixed(2)))).unwrap();
    assert_eq!(chosen, Fixed(2));
    let any = run(&mut ring, op::OpenAt::new(&path).direct(None)).unwrap();
    assert_ne!(any, chosen);
    assert!(any.index() < 4);
    assert_eq!(run(&mut ring, op::Write::new(&chosen, b"ab").offset(3)).unwrap(), 2);
    run(&mut ring, op::Fsync::new(&chosen).data_only()).unwrap();
    let mut buf = [0u8; 10];
    assert_eq!(run(&mut ring, op::Read::new(&any, &mut buf).offset(0)).unwrap(), 10);
    assert_eq!(&buf, b"012ab56789");
    // Registered buffers on a registered file.
    ring.register_buffers(1, 4096).unwrap();
    let fixed_buf = ring.buffer().unwrap();
    let (n, fixed_buf) = run(&mut ring, op::ReadFixed::new(&any, fixed_buf).offset(2)).unwrap();
    assert_eq!(&fixed_buf[..n], b"2ab56789");
    let (n, _) = run(&mut ring, op::WriteFixed::new(&chosen, fixed_buf, 2).offset(0)).unwrap();
    assert_eq!(n, 2);
    assert_eq!(common::contents(&path), b"2a2ab56789");
    run(&mut ring, op::Fallocate::new(&chosen, 0, 4096)).unwrap();
    run(&mut ring, op::Fadvise::new(&chosen, 0, 0, op::Advice::Sequential)).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
    // A missing file: the op fails and fills no slot.
    common::expect_kind(run(&mut ring, op::OpenAt::new(&dir.join("missing")).direct(None)), ErrorKind::NotFound);
}

#[test]
fn sockets_by_slot_send_receive_and_shut_down() {
    let (client, server) = common::tcp_pair();
    let mut client = client;
    let mut ring = ring(2);
    ring.install_file(Fixed(1), server).unwrap();
    assert_eq!(run(&mut ring, op::Send::new(&Fixed(1), b"ping")).unwrap(), 4);
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).unwrap();
    client.write_all(b"pong").unwrap();
    assert_eq!(run(&mut ring, op::Recv::new(&Fixed(1), &mut buf).wait_all()).unwrap(), 4);
    assert_eq!(&buf, b"pong");
    // Messages, zero-copy sends and provided buffers on the slot.
    let parts = [IoSlice::new(b"msg")];
    assert_eq!(run(&mut ring, op::SendMsg::new(&Fixed(1), &parts)).unwrap(), 3);
    assert_eq!(run(&mut ring, op::SendZc::new(&Fixed(1), b"zc")).unwrap(), 2);
    let mut got = [0u8; 5];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"msgzc");
    client.write_all(b"rm").unwrap();
    let mut rbuf = [0u8; 2];
    let mut rbufs = [IoSliceMut::new(&mut rbuf)];
    assert_eq!(run(&mut ring, op::RecvMsg::new(&Fixed(1), &mut rbufs)).unwrap().len, 2);
    let group = ring.register_buffer_group(2, 64).unwrap();
    client.write_all(b"pb").unwrap();
    let provided = run(&mut ring, op::RecvBuf::new(&Fixed(1), &group)).unwrap();
    assert_eq!(&provided[..], b"pb");
    drop(provided);
    run(&mut ring, op::Shutdown::new(&Fixed(1), Shutdown::Write)).unwrap();
    assert_eq!(client.read(&mut buf).unwrap(), 0, "the slot's socket was shut down");
}

#[test]
fn a_multishot_receive_on_a_slot() {
    let (mut client, server) = common::tcp_pair();
    let mut ring = ring(1);
    ring.install_file(Fixed(0), server).unwrap();
    let group = ring.register_buffer_group(4, 64).unwrap();
    ring.queue(op::RecvMulti::new(&Fixed(0), &group)).unwrap();
    client.write_all(b"one").unwrap();
    drop(client);
    let mut got = Vec::new();
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| got.extend_from_slice(&c.output::<op::RecvMulti>().unwrap())).unwrap();
    }
    assert_eq!(got, b"one");
}

#[test]
fn accept_into_a_chosen_slot_and_into_any() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut ring = ring(4);
    let mut a = TcpStream::connect(addr).unwrap();
    assert_eq!(run(&mut ring, op::Accept::new(&listener).direct(Some(Fixed(3)))).unwrap(), Fixed(3));
    let mut b = TcpStream::connect(addr).unwrap();
    let any = run(&mut ring, op::Accept::new(&listener).direct(None)).unwrap();
    assert_ne!(any, Fixed(3));
    run(&mut ring, op::Send::new(&Fixed(3), b"a")).unwrap();
    run(&mut ring, op::Send::new(&any, b"b")).unwrap();
    let mut byte = [0u8; 1];
    a.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"a");
    b.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"b");
    // The listener itself in a slot: accept on the slot, once and multishot.
    ring.install_file(Fixed(0), listener.try_clone().unwrap()).unwrap();
    let _c = TcpStream::connect(addr).unwrap();
    let (socket, peer) = run(&mut ring, op::Accept::new(&Fixed(0))).unwrap();
    assert_eq!(socket.peer_addr().unwrap().as_socket(), peer.as_socket());
    let _d = TcpStream::connect(addr).unwrap();
    let multi = ring.queue(op::AcceptMulti::new(&Fixed(0))).unwrap();
    let mut accepted = None;
    while accepted.is_none() {
        ring.complete(Mode::Blocking, |c| accepted = Some(c.output::<op::AcceptMulti>().unwrap())).unwrap();
    }
    ring.queue(op::Cancel::new(multi)).unwrap();
    ring.complete_all(drop).unwrap();
    assert!(accepted.unwrap().peer_addr().is_ok());
}

#[test]
fn accept_multi_fills_free_slots_until_the_table_is_full() {
    let listener: &'static TcpListener = common::leak(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap());
    let addr = listener.local_addr().unwrap();
    let mut ring = ring(2);
    // More connections than slots, all waiting before the accept starts (posix accepts them
    // in one pass).
    let clients: Vec<_> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let id = ring.queue(op::AcceptMulti::new(listener).direct()).unwrap();
    let mut slots = Vec::new();
    let mut end = None;
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| {
            assert_eq!(c.id, id);
            if c.more {
                slots.push(c.output::<op::AcceptMultiDirect>().unwrap());
            } else {
                end = Some(c.output::<op::AcceptMultiDirect>());
            }
        })
        .unwrap();
    }
    slots.sort();
    assert_eq!(slots, [Fixed(0), Fixed(1)]);
    // The third connection found the table full: the op ended, and that connection was closed
    // (and a fourth accepted with it, on posix; on io_uring it still waits in the backlog).
    common::expect_errno(end.expect("a final completion"), libc::ENFILE);
    let closed = hangups(&clients);
    let n = closed.iter().filter(|&&c| c).count();
    assert!(n == 1 || n == 2, "the connections beyond the table are closed: {closed:?}");
    assert!(!closed[0] && !closed[1], "the first two stay in the table: {closed:?}");
}

/// Which of `streams` saw their peer close (nothing was sent to them), waiting up to 5 s for
/// the first.
fn hangups(streams: &[TcpStream]) -> Vec<bool> {
    use std::os::fd::AsRawFd;
    let mut pfds: Vec<_> =
        streams.iter().map(|s| libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: polls valid pollfds for at most 5 s.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 5000) };
    std::thread::sleep(std::time::Duration::from_millis(50)); // any others closing with it
    // SAFETY: as above, without waiting.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 0) };
    // Readable with nothing to read: the end of the stream (a peek does not block then).
    pfds.iter()
        .zip(streams)
        .map(|(p, s)| p.revents & libc::POLLIN != 0 && matches!(s.peek(&mut [0u8; 1]), Ok(0)))
        .collect()
}

/// Whether the peer of `s` closed (readable with nothing to read) within 5 s.
fn poll_hangup(s: &TcpStream) -> bool {
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    matches!(s.peek(&mut [0u8; 1]), Ok(0))
}

#[test]
fn a_full_table_refuses_direct_opens_and_closes_what_they_opened() {
    let listener: &'static TcpListener = common::leak(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap());
    let addr = listener.local_addr().unwrap();
    let mut ring = ring(1);
    let _first = TcpStream::connect(addr).unwrap();
    assert_eq!(run(&mut ring, op::Accept::new(&listener).direct(None)).unwrap(), Fixed(0));
    let second = TcpStream::connect(addr).unwrap();
    common::expect_errno(run(&mut ring, op::Accept::new(&listener).direct(None)), libc::ENFILE);
    assert!(poll_hangup(&second), "the accepted connection that found no slot is closed");
    // A chosen slot beyond the table: EINVAL; at 2^20 or more: refused when queued.
    let third = TcpStream::connect(addr).unwrap();
    common::expect_errno(run(&mut ring, op::Accept::new(&listener).direct(Some(Fixed(1)))), libc::EINVAL);
    assert!(poll_hangup(&third));
    let err = ring.queue(op::Accept::new(listener).direct(Some(Fixed(1 << 20)))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn close_empties_a_slot_and_later_ops_fail_cleanly() {
    let (r, w) = common::pipe();
    let mut ring = ring(2);
    ring.install_file(Fixed(0), w).unwrap();
    run(&mut ring, op::Close::fixed(Fixed(0))).unwrap();
    assert!(common::hung_up(&r), "the table's write end was closed");
    common::expect_errno(run(&mut ring, op::Write::new(&Fixed(0), b"x")), libc::EBADF);
    common::expect_errno(run(&mut ring, op::Close::fixed(Fixed(0))), libc::EBADF);
    common::expect_errno(run(&mut ring, op::Close::fixed(Fixed(2))), libc::EINVAL);
    // A close, then a read of the slot behind it in the same chain: EBADF, nothing else.
    let (r2, _w2) = common::pipe();
    ring.install_file(Fixed(1), r2).unwrap();
    let mut buf = [0u8; 1];
    let (closed, read) =
        ring.run((op::Close::fixed(Fixed(1)).hard(), op::Read::new(&Fixed(1), &mut buf)), |_| {}).unwrap();
    closed.unwrap();
    common::expect_errno(read, libc::EBADF);
}

#[test]
fn close_cancels_a_receive_parked_on_the_slot() {
    let (_client, server) = common::tcp_pair();
    let mut ring = ring(1);
    ring.install_file(Fixed(0), server).unwrap();
    let buf: &'static mut [u8] = common::leak([0u8; 4]);
    let recv = ring.queue(op::Recv::new(&Fixed(0), buf)).unwrap();
    ring.complete(Mode::Nonblocking, |_| {}).unwrap();
    let close = ring.queue(op::Close::fixed(Fixed(0))).unwrap();
    let (mut recv_result, mut close_result) = (None, None);
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| {
            if c.id == recv {
                recv_result = Some(c.result.map(drop));
            } else {
                assert_eq!(c.id, close);
                close_result = Some(c.result.map(drop));
            }
        })
        .unwrap();
    }
    common::expect_canceled(recv_result.expect("the receive completed"));
    close_result.expect("the close completed").unwrap();
}

/// A runtime's diagnostics tell a slot from a descriptor (a dump said "fd 0" for slot 0).
#[test]
fn an_op_on_a_slot_reports_its_target_as_a_slot() {
    use corio_aio::__private::RuntimeExt;
    let (_client, server) = common::tcp_pair();
    let server: &'static _ = common::leak(server); // a `Dynamic<'static>` borrows it
    #[cfg(unix)]
    let raw = std::os::fd::AsRawFd::as_raw_fd(server) as i64;
    #[cfg(windows)]
    let raw = std::os::windows::io::AsRawSocket::as_raw_socket(server) as i64;
    let mut ring = ring(4);
    let by_fd = ring.queue(op::Recv::new(server, common::leak([0u8; 4]))).unwrap();
    ring.install_file(Fixed(2), server.try_clone().unwrap()).unwrap();
    let by_slot = ring.queue(op::Recv::new(&Fixed(2), common::leak([0u8; 4]))).unwrap();
    let (fd, slot) = (ring.op_target(by_fd).unwrap(), ring.op_target(by_slot).unwrap());
    assert_eq!((fd.fd, fd.fixed), (Some(raw), false));
    assert_eq!((slot.fd, slot.fixed), (Some(2), true));
    for id in [by_fd, by_slot] {
        ring.queue(op::Cancel::new(id)).unwrap();
    }
    ring.complete_all(drop).unwrap();
}

#[test]
fn bad_slots_and_tables_are_refused_with_clear_errors() {
    let mut plain = Dynamic::new(4).unwrap();
    let mut buf = [0u8; 1];
    // A slot of a Dynamic without a table, or beyond its table, or empty: EBADF.
    common::expect_errno(run(&mut plain, op::Read::new(&Fixed(0), &mut buf)), libc::EBADF);
    common::expect_errno(run(&mut plain, op::Close::fixed(Fixed(0))), libc::ENXIO);
    let (_r, w) = common::pipe();
    common::expect_kind(plain.install_file(Fixed(0), w), ErrorKind::InvalidInput);
    common::expect_kind(plain.register_files(0), ErrorKind::InvalidInput);
    common::expect_kind(plain.register_files((1 << 20) + 1), ErrorKind::InvalidInput);
    assert_eq!(plain.file_slots(), 0);
    plain.register_files(2).unwrap();
    assert_eq!(plain.file_slots(), 2);
    common::expect_kind(plain.register_files(2), ErrorKind::AlreadyExists);
    common::expect_errno(run(&mut plain, op::Read::new(&Fixed(1), &mut buf)), libc::EBADF);
    common::expect_errno(run(&mut plain, op::Read::new(&Fixed(7), &mut buf)), libc::EBADF);
    let (_r, w) = common::pipe();
    common::expect_kind(plain.install_file(Fixed(2), w), ErrorKind::InvalidInput);
    // A direct op without a table: ENXIO for a chosen slot, ENFILE for any slot.
    let dir = common::TempDir::new("fixed-bad");
    let path = dir.file("f", b"x");
    let mut none = Dynamic::new(2).unwrap();
    common::expect_errno(run(&mut none, op::OpenAt::new(&path).direct(Some(Fixed(0)))), libc::ENXIO);
    common::expect_errno(run(&mut none, op::OpenAt::new(&path).direct(None)), libc::ENFILE);
}

#[test]
fn installing_into_a_full_slot_replaces_and_closes_its_file() {
    let (r1, w1) = common::pipe();
    let (r2, w2) = common::pipe();
    let mut ring = ring(1);
    ring.install_file(Fixed(0), w1).unwrap();
    ring.install_file(Fixed(0), w2).unwrap();
    assert!(common::hung_up(&r1), "the replaced file was closed");
    run(&mut ring, op::Write::new(&Fixed(0), b"2")).unwrap();
    let mut byte = [0u8; 1];
    (&r2).read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"2");
}

#[test]
fn sockets_made_into_slots_connect_by_slot() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut ring = ring(2);
    let made = run(&mut ring, op::Socket::new(Domain::IPV4, Type::STREAM).direct(Some(Fixed(1))));
    if socket_opcode_disabled() {
        common::expect_kind(made, ErrorKind::Unsupported);
        return;
    }
    assert_eq!(made.unwrap(), Fixed(1));
    run(&mut ring, op::Connect::new(&Fixed(1), addr)).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    run(&mut ring, op::Send::new(&Fixed(1), b"hi")).unwrap();
    let mut buf = [0u8; 2];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    assert_eq!(run(&mut ring, op::Socket::new(Domain::IPV4, Type::STREAM).direct(None)).unwrap(), Fixed(0));
}

#[test]
fn dropping_the_dynamic_closes_the_tables_files() {
    // A process of its own, so that no other test opens or closes descriptors meanwhile.
    if std::env::var_os(CHILD_ENV).is_none() {
        // Through the test runner if there is one (qemu-user for other architectures).
        let runner = std::env::var("CORIO_TEST_RUNNER").unwrap_or_default();
        let mut words = runner.split_whitespace().map(std::ffi::OsString::from).collect::<Vec<_>>();
        words.push(std::env::current_exe().unwrap().into());
        let out = std::process::Command::new(&words[0])
            .args(&words[1..])
            .args(["--exact", "dropping_the_dynamic_closes_the_tables_files", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "the child did not run:\n{stdout}");
        return;
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let (r, w) = common::pipe();
    let client = TcpStream::connect(addr).unwrap();
    let dir = common::TempDir::new("fixed-drop");
    let path = dir.file("f", b"x");
    let before = open_fds();
    {
        let mut ring = ring(8);
        ring.install_file(Fixed(0), w).unwrap();
        run(&mut ring, op::Accept::new(&listener).direct(None)).unwrap();
        run(&mut ring, op::OpenAt::new(&path).direct(Some(Fixed(5)))).unwrap();
        // An op still in flight on a slot when the Dynamic drops: canceled, then closed.
        let buf: &'static mut [u8] = common::leak([0u8; 1]);
        ring.queue(op::Read::new(&Fixed(1), buf)).unwrap();
        ring.complete(Mode::Nonblocking, |_| {}).unwrap();
    }
    assert!(common::hung_up(&r), "the pipe's write end in the table was closed");
    assert!(poll_hangup(&client), "the accepted connection in the table was closed");
    // The write end counted in `before` is gone; nothing else is left open.
    if let (Some(before), Some(after)) = (before, open_fds()) {
        assert_eq!(after, before - 1, "descriptors left open by the dropped Dynamic");
    }
}

/// How many descriptors this process has open (Linux's `/proc/self/fd`; `None` elsewhere).
fn open_fds() -> Option<usize> {
    if cfg!(target_os = "linux") { std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count()) } else { None }
}

#[test]
fn chosen_slots_work_on_every_kernel_and_any_slot_is_clear() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = common::TempDir::new("fixed-kernels");
    let path = dir.file("f", b"kernel");
    let mut ring = ring(4);
    // Chosen slots: the kernel's direct ops, or the plain ops installed by the backend.
    let mut client = TcpStream::connect(addr).unwrap();
    assert_eq!(run(&mut ring, op::Accept::new(&listener).direct(Some(Fixed(2)))).unwrap(), Fixed(2));
    run(&mut ring, op::Send::new(&Fixed(2), b"k")).unwrap();
    let mut byte = [0u8; 1];
    client.read_exact(&mut byte).unwrap();
    assert_eq!(run(&mut ring, op::OpenAt::new(&path).direct(Some(Fixed(1)))).unwrap(), Fixed(1));
    let mut buf = [0u8; 6];
    assert_eq!(run(&mut ring, op::Read::new(&Fixed(1), &mut buf).offset(0)).unwrap(), 6);
    assert_eq!(&buf, b"kernel");
    let third = TcpStream::connect(addr).unwrap();
    common::expect_errno(run(&mut ring, op::Accept::new(&listener).direct(Some(Fixed(9)))), libc::EINVAL);
    assert!(poll_hangup(&third), "what found no slot is closed");
    let socket = run(&mut ring, op::Socket::new(Domain::IPV4, Type::STREAM).direct(Some(Fixed(3))));
    if socket_opcode_disabled() {
        common::expect_kind(socket, ErrorKind::Unsupported);
    } else {
        assert_eq!(socket.unwrap(), Fixed(3));
    }
    // Any slot: only where the kernel picks slots (5.19) or on the emulations.
    let any = run(&mut ring, op::OpenAt::new(&path).direct(None));
    if direct_disabled() {
        common::expect_kind(any, ErrorKind::Unsupported);
        let multi = ring.queue(op::AcceptMulti::new(common::leak(listener.try_clone().unwrap())).direct()).unwrap();
        let mut end = None;
        while ring.in_flight() > 0 {
            ring.complete(Mode::Blocking, |c| end = Some((c.id, c.more, c.result.map(drop)))).unwrap();
        }
        let (id, more, result) = end.expect("the accept ended");
        assert_eq!((id, more), (multi, false));
        common::expect_kind(result, ErrorKind::Unsupported);
    } else {
        // A free one (which, is the backend's choice).
        let free: &[Fixed] = if socket_opcode_disabled() { &[Fixed(0), Fixed(3)] } else { &[Fixed(0)] };
        assert!(free.contains(&any.unwrap()));
    }
}

#[test]
fn a_kernel_without_direct_descriptors_installs_into_chosen_slots() {
    common::rerun_as_old_kernel(
        CHILD_ENV,
        "1",
        "direct",
        &["--exact", "chosen_slots_work_on_every_kernel_and_any_slot_is_clear", "--test-threads=1"],
    );
}

#[test]
fn an_old_kernel_behaves_the_same() {
    common::rerun_as_old_kernel(
        CHILD_ENV,
        "1",
        "accept_multi,socket",
        &[
            "--skip",
            "an_old_kernel",
            "--skip",
            "dropping_the_dynamic",
            "--skip",
            "a_kernel_without",
            "--test-threads=1",
        ],
    );
}
