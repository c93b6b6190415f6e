//! Receives pending across a `shutdown(2)` of their own socket, and receives parked on a
//! socket whose readiness fires while the call would block: on every backend of the machine
//! they end as io_uring ends them (a receive after `shutdown(SHUT_RD)` reads 0 bytes, as a
//! blocking `recv` does), and a waiting op never makes its loop spin.
//!
//! Each op carries a link timeout, so a receive that never completes fails its test instead of
//! hanging the suite; the CPU the loop's thread burns while it waits is measured with
//! `getrusage(RUSAGE_THREAD)` (the loop runs on the test's thread; other tests run on others),
//! against a generous bound. Speed is never asserted.

// Linux only: io_uring, and the epoll readiness these tests are about (kqueue systems, where
// the posix backend also builds, end a receive after a shutdown on their own: see
// `backend/posix/mod.rs`).
#![cfg(target_os = "linux")]

mod common;

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, Shutdown as How, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::thread_cpu;
use corio_aio::op::{Events, LinkTimeout, OpExt, Poll, Read, Recv, RecvMsg};
use corio_aio::{self as aio, BackendKind};

/// How long a receive may take to see a shutdown before its test fails (it should take
/// microseconds; the margin is for a slow, shared CI machine).
const LIMIT: Duration = Duration::from_secs(10);

/// How long the no-spin guards keep an op waiting.
const WAIT: Duration = Duration::from_secs(1);

/// The backends this machine has.
fn backends() -> Vec<BackendKind> {
    [BackendKind::IoUring, BackendKind::Posix]
        .into_iter()
        .filter(|&kind| aio::Dynamic::with_backend(1, kind).is_ok())
        .collect()
}

/// `shutdown(2)` of `fd` for `how`. On an unconnected UDP socket Linux fails it (`ENOTCONN`)
/// but shuts the socket down all the same, so the result is not checked.
fn shutdown(fd: i32, how: How) {
    let how = match how {
        How::Read => libc::SHUT_RD,
        How::Write => libc::SHUT_WR,
        How::Both => libc::SHUT_RDWR,
    };
    // SAFETY: a plain syscall on a descriptor the caller keeps open.
    unsafe { libc::shutdown(fd, how) };
}

/// Which receive to run.
#[derive(Clone, Copy, Debug)]
enum Kind {
    RecvMsg,
    Recv,
    Read,
}

/// Runs a `kind` receive on `socket` on `backend` (linked to a [`LIMIT`] timeout), after
/// running `meanwhile` on another thread; returns the receive's result (bytes read) and the
/// CPU the loop's thread used while it waited.
fn receive(
    backend: BackendKind,
    kind: Kind,
    socket: &impl AsRawFd,
    meanwhile: impl FnOnce() + Send,
) -> (io::Result<usize>, Duration, Duration) {
    let fd = socket.as_raw_fd();
    // SAFETY: the test keeps `socket` open until this function returns.
    let source = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let mut buf = [0u8; 16];
    std::thread::scope(|s| {
        aio::scope_with(4, backend, |ring| {
            let (cpu, start) = (thread_cpu(), Instant::now());
            s.spawn(meanwhile);
            let limit = LinkTimeout::new(LIMIT);
            let result = match kind {
                Kind::RecvMsg => {
                    let mut iov = [IoSliceMut::new(&mut buf)];
                    let (got, _) = ring.run((RecvMsg::new(&source, &mut iov).soft(), limit), drop).unwrap();
                    got.map(|m| m.len)
                }
                Kind::Recv => ring.run((Recv::new(&source, &mut buf).soft(), limit), drop).unwrap().0,
                Kind::Read => ring.run((Read::new(&source, &mut buf).soft(), limit), drop).unwrap().0,
            };
            (result, thread_cpu() - cpu, start.elapsed())
        })
        .unwrap()
    })
}

fn udp_socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap()
}

/// Receives pending on a UDP socket when another thread shuts it down (for reading, or both
/// ways) complete with 0 bytes, as on io_uring (whose receive ends up in a blocking
/// `recvmsg`, which returns 0 once the read side is shut down), connected or not.
#[test]
fn udp_receives_pending_across_a_shutdown_read_0_bytes() {
    for backend in backends() {
        for kind in [Kind::RecvMsg, Kind::Recv, Kind::Read] {
            for how in [How::Both, How::Read] {
                for connected in [false, true] {
                    let socket = udp_socket();
                    if connected {
                        socket.connect(socket.local_addr().unwrap()).unwrap();
                    }
                    let fd = socket.as_raw_fd();
                    let (got, cpu, wall) = receive(backend, kind, &socket, || {
                        // Long enough for the receive to be waiting, usually; either way it
                        // must end with 0 bytes.
                        std::thread::sleep(Duration::from_millis(50));
                        shutdown(fd, how);
                    });
                    let case = format!("{backend}: {kind:?} across shutdown({how:?}), connected: {connected}");
                    assert_eq!(got.map_err(|e| e.to_string()), Ok(0), "{case}");
                    assert!(
                        cpu < wall / 2 + Duration::from_millis(500),
                        "{case}: the loop spun ({cpu:?} of CPU in {wall:?})"
                    );
                }
            }
        }
    }
}

/// The same with the shutdown before the receive starts; datagrams queued before it are
/// still delivered first (the kernel keeps them): only an empty queue reads as 0 bytes.
#[test]
fn udp_receives_after_a_shutdown_read_queued_datagrams_then_0_bytes() {
    for backend in backends() {
        for kind in [Kind::RecvMsg, Kind::Recv, Kind::Read] {
            for (how, queued) in [(How::Both, false), (How::Read, false), (How::Read, true)] {
                let socket = udp_socket();
                if queued {
                    socket.send_to(b"late", socket.local_addr().unwrap()).unwrap();
                }
                shutdown(socket.as_raw_fd(), how);
                let case = format!("{backend}: {kind:?} after shutdown({how:?}), a datagram queued: {queued}");
                if queued {
                    let (got, _, _) = receive(backend, kind, &socket, || {});
                    assert_eq!(got.map_err(|e| e.to_string()), Ok(4), "{case}");
                }
                let (got, _, _) = receive(backend, kind, &socket, || {});
                assert_eq!(got.map_err(|e| e.to_string()), Ok(0), "{case}");
            }
        }
    }
}

/// A receive pending on a TCP stream when another thread shuts down our own side: 0 bytes
/// (the end of the stream), as on io_uring.
#[test]
fn tcp_receives_pending_across_a_shutdown_of_our_side_read_0_bytes() {
    for backend in backends() {
        for kind in [Kind::RecvMsg, Kind::Recv, Kind::Read] {
            for how in [How::Both, How::Read] {
                let (client, server) = common::tcp_pair();
                let (got, cpu, wall) = receive(backend, kind, &server, || {
                    std::thread::sleep(Duration::from_millis(50));
                    server.shutdown(how).unwrap();
                });
                let case = format!("{backend}: TCP {kind:?} across shutdown({how:?})");
                assert_eq!(got.map_err(|e| e.to_string()), Ok(0), "{case}");
                assert!(
                    cpu < wall / 2 + Duration::from_millis(500),
                    "{case}: the loop spun ({cpu:?} of CPU in {wall:?})"
                );
                drop(client);
            }
        }
    }
}

/// Runs `op` (linked to a [`WAIT`] timeout, which must expire: the op never becomes ready) on
/// `backend` and asserts that the loop's thread used far less CPU than the wait took.
fn assert_waits_without_spinning(
    backend: BackendKind,
    what: &str,
    op: impl FnOnce(&mut aio::Dynamic<'_>) -> io::Result<()>,
) {
    aio::scope_with(4, backend, |ring| {
        let (cpu, start) = (thread_cpu(), Instant::now());
        let result = op(ring);
        let (cpu, wall) = (thread_cpu() - cpu, start.elapsed());
        assert!(aio::is_canceled(&result.unwrap_err()), "{backend}: {what} completed");
        assert!(wall >= WAIT, "{backend}: {what}: the timeout fired early");
        // Waiting costs next to nothing; a loop that spins burns most of the wall time.
        assert!(cpu < wall / 4, "{backend}: {what}: the loop spun ({cpu:?} of CPU in {wall:?})");
    })
    .unwrap();
}

/// A peer's urgent (out-of-band) byte makes a TCP socket poll `POLLPRI` until it is read
/// with `MSG_OOB`, while a plain `recv` has nothing to read (`EAGAIN`); the posix driver's
/// read interest includes `EPOLLPRI`. A receive waiting there must wait quietly, as on
/// io_uring (which does not wake receives on `EPOLLPRI`). (On the kernel this was written on,
/// epoll did not report the socket, and the posix loop did not spin even before the
/// edge-triggered fallback: a guard, not a reproduction.)
#[test]
fn a_receive_waits_without_spinning_while_only_urgent_data_is_pending() {
    for backend in backends() {
        let (client, server) = common::tcp_pair();
        // SAFETY: sends one byte from a live buffer.
        let sent = unsafe { libc::send(client.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(sent, 1);
        wait_until_urgent(&server);
        let mut buf = [0u8; 16];
        assert_waits_without_spinning(backend, "Recv with only urgent data", |ring| {
            ring.run((Recv::new(&server, &mut buf).soft(), LinkTimeout::new(WAIT)), drop).unwrap().0.map(drop)
        });
        drop(client);
    }
}

/// Waits (up to [`LIMIT`]) until `socket` reports urgent data.
fn wait_until_urgent(socket: &TcpStream) {
    let mut p = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLPRI, revents: 0 };
    // SAFETY: polls one live `pollfd`.
    let r = unsafe { libc::poll(&mut p, 1, LIMIT.as_millis() as i32) };
    assert_eq!(r, 1, "the urgent byte never arrived");
}

/// A poll for urgent data on a socket that has ordinary data (readable, not `POLLPRI`) waits
/// quietly: the readiness the driver registers for it fires, the op's condition does not hold.
#[test]
fn a_poll_for_urgent_data_waits_without_spinning_on_a_readable_socket() {
    for backend in backends() {
        let socket = udp_socket();
        let addr: SocketAddr = socket.local_addr().unwrap();
        socket.send_to(b"ordinary", addr).unwrap();
        assert_waits_without_spinning(backend, "Poll(PRI) on a readable socket", |ring| {
            ring.run((Poll::new(&socket, Events::PRI).soft(), LinkTimeout::new(WAIT)), drop).unwrap().0.map(drop)
        });
    }
}

/// Once a descriptor has woken its waiters in vain (here a poll for urgent data on a socket
/// with an ordinary datagram queued), the ops that wait on it later still see new readiness:
/// a receive parked next to that poll gets the datagram another thread sends it.
#[test]
fn a_receive_parked_beside_a_vainly_woken_poll_still_gets_new_data() {
    for backend in backends() {
        let socket = udp_socket();
        let addr = socket.local_addr().unwrap();
        socket.send_to(b"first", addr).unwrap();
        let (mut first, mut second) = ([0u8; 16], [0u8; 16]);
        aio::scope_with(8, backend, |ring| {
            let poll = ring.queue(Poll::new(&socket, Events::PRI)).unwrap();
            // Let it be woken (in vain: the socket is readable, not urgent) a few times.
            for _ in 0..3 {
                ring.complete(aio::Mode::Nonblocking, |c| panic!("{backend}: {c:?}")).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            let got = ring.run(Recv::new(&socket, &mut first), drop).unwrap().unwrap();
            assert_eq!(&first[..got], b"first", "{backend}");
            std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(50));
                    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().send_to(b"second", addr).unwrap();
                });
                let (got, _) =
                    ring.run((Recv::new(&socket, &mut second).soft(), LinkTimeout::new(LIMIT)), drop).unwrap();
                assert_eq!(got.map_err(|e| e.to_string()), Ok(6), "{backend}: the new datagram was not seen");
            });
            assert_eq!(ring.in_flight(), 1, "{backend}: the poll still waits");
            let _ = poll;
        })
        .unwrap();
        assert_eq!(&second[..6], b"second");
    }
}
