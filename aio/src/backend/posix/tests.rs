//! The posix driver's own tests, below the engine: waiters, deferred attempts, closes, and the
//! registration life cycle (`registry.rs`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::*;

fn pipe() -> (OwnedFd, OwnedFd) {
    let (reader, writer) = std::io::pipe().unwrap();
    (reader.into(), writer.into())
}

fn poll(d: &mut Posix, timeout_ms: u64) -> Vec<(u32, i32)> {
    let mut done = Vec::with_capacity(8);
    d.poll(Some(Duration::from_millis(timeout_ms)), &mut done).unwrap();
    done
}

#[test]
fn waiters_on_one_descriptor_share_a_registration_and_cancel_from_the_middle() {
    let (r, w) = pipe();
    let mut d = Posix::new(8).unwrap();
    let mut bufs = [[0u8; 1]; 3];
    let mut states = [OpState::Empty, OpState::Empty, OpState::Empty];
    for (s, (buf, state)) in bufs.iter_mut().zip(&mut states).enumerate() {
        let op = RawOp::Read { fd: r.as_raw_fd(), buf: buf.as_mut_ptr(), len: 1, offset: u64::MAX };
        assert_eq!(d.start(s as u32, op, state), None);
    }
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.fds.len(), 1, "one registration for the three reads");
    assert_eq!(d.cancel(1), Stop::Parked, "a parked op can be stopped");
    assert_eq!(d.cancel(1), Stop::Running, "and only once (the driver no longer holds it)");
    // SAFETY: writes two bytes from a live buffer.
    assert_eq!(unsafe { libc::write(w.as_raw_fd(), b"ab".as_ptr().cast(), 2) }, 2);
    let mut done = poll(&mut d, 1000);
    done.sort();
    assert_eq!(done, [(0, 1), (2, 1)]);
    assert_eq!((bufs[0][0], bufs[2][0]), (b'a', b'b'), "waiters are served in start order");
    let e = d.fds[&r.as_raw_fd()];
    assert_eq!((e.head, d.waiting), (NONE, 0), "no waiter left");
    assert!(e.armed.read, "the registration stays for the next op");
}

#[test]
fn a_would_block_op_is_attempted_again_at_the_end_of_its_pass() {
    let (r, w) = pipe();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
    let read = RawOp::Read { fd: r.as_raw_fd(), buf: buf.as_mut_ptr(), len: 4, offset: u64::MAX };
    let write = RawOp::Write { fd: w.as_raw_fd(), buf: b"ping".as_ptr(), len: 4, offset: u64::MAX };
    assert_eq!(d.start(0, read, &mut s0), None);
    assert_eq!(d.start(1, write, &mut s1), Some(4));
    assert_eq!(poll(&mut d, 0), [(0, 4)]);
    assert!(d.fds.is_empty(), "never registered");
    assert_eq!(&buf, b"ping");
}

#[test]
fn close_cancels_parked_and_deferred_ops_on_its_descriptor() {
    let (r, _w) = pipe();
    let fd = r.as_raw_fd();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let mut states = [OpState::Empty, OpState::Empty, OpState::Empty];
    let [s0, s1, s2] = &mut states;
    let read = RawOp::Read { fd, buf: buf.as_mut_ptr(), len: 4, offset: u64::MAX };
    assert_eq!(d.start(0, read, s0), None);
    assert!(poll(&mut d, 0).is_empty(), "parked");
    let poll_op = RawOp::Poll { fd, events: libc::POLLIN as u32 };
    assert_eq!(d.start(1, poll_op, s1), None);
    // The close owns the descriptor from here on.
    let close = RawOp::Close { fd: std::os::fd::IntoRawFd::into_raw_fd(r) };
    assert_eq!(d.start(2, close, s2), None);
    let mut done = Vec::new();
    while done.len() < 3 {
        done.extend(poll(&mut d, 1000));
    }
    done.sort();
    assert_eq!(done, [(0, -libc::ECANCELED), (1, -libc::ECANCELED), (2, 0)]);
    assert!(d.fds.is_empty(), "deregistered before the close");
    assert_eq!(d.waiting, 0);
}

#[test]
fn a_descriptor_woken_in_vain_reports_only_new_events() {
    // A poll for urgent data on a socket that only has an ordinary datagram: epoll's read
    // interest (EPOLLIN | EPOLLPRI) holds, the op's condition does not. Edge-triggered, the
    // registration reports once, then only new events: the loop never spins.
    let socket = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = socket.local_addr().unwrap();
    socket.send_to(b"x", addr).unwrap();
    let fd = socket.as_raw_fd();
    let mut d = Posix::new(4).unwrap();
    let mut state = OpState::Empty;
    assert_eq!(d.start(0, RawOp::Poll { fd, events: libc::POLLPRI as u32 }, &mut state), None);
    let mut reports = Vec::new();
    for _ in 0..5 {
        assert!(poll(&mut d, 0).is_empty(), "the poll must not complete");
        reports.push(d.events.as_ref().expect("home between polls").len());
    }
    assert_eq!(reports, [1, 0, 0, 0, 0]);
    // A new datagram is a new event: reported once (still in vain for this op).
    socket.send_to(b"y", addr).unwrap();
    assert!(poll(&mut d, 1000).is_empty());
    assert_eq!(d.events.as_ref().expect("home between polls").len(), 1);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.events.as_ref().expect("home between polls").len(), 0);
    assert_eq!(d.cancel(0), Stop::Parked);
    assert_eq!((d.fds[&fd].head, d.waiting), (NONE, 0), "idle, still registered");
}

#[test]
fn an_op_canceled_by_a_close_and_then_stopped_is_reported_by_nobody_else() {
    let (r, _w) = pipe();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
    let read = RawOp::Read { fd: r.as_raw_fd(), buf: buf.as_mut_ptr(), len: 4, offset: u64::MAX };
    assert_eq!(d.start(0, read, &mut s0), None);
    let close = RawOp::Close { fd: std::os::fd::IntoRawFd::into_raw_fd(r) };
    assert_eq!(d.start(1, close, &mut s1), None);
    assert_eq!(d.cancel(0), Stop::Parked, "stopped (by the close)");
    let mut done = Vec::new();
    while done.is_empty() {
        done.extend(poll(&mut d, 1000));
    }
    assert_eq!(done, [(1, 0)], "only the close reports");
}

/// A read of up to 4 bytes from `fd` into `buf`.
fn read(fd: RawFd, buf: &mut [u8; 4]) -> RawOp {
    RawOp::Read { fd, buf: buf.as_mut_ptr(), len: 4, offset: u64::MAX }
}

fn write_all(fd: RawFd, bytes: &[u8]) {
    // SAFETY: writes from a live buffer.
    assert_eq!(unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) }, bytes.len() as isize);
}

/// Polls until `n` completions came (a second at most).
fn poll_until(d: &mut Posix, n: usize) -> Vec<(u32, i32)> {
    let started = std::time::Instant::now();
    let mut done = Vec::new();
    while done.len() < n && started.elapsed() < Duration::from_secs(1) {
        done.extend(poll(d, 100));
    }
    done
}

#[test]
fn a_registration_outlives_its_ops_and_a_blocked_descriptor_is_not_attempted() {
    let (r, w) = pipe();
    let fd = r.as_raw_fd();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let mut state = OpState::Empty;
    assert!(!d.known_blocked(fd, syscall::READ), "unknown descriptors are attempted");
    assert_eq!(d.start(0, read(fd, &mut buf), &mut state), None);
    assert!(poll(&mut d, 0).is_empty());
    let key = d.fds[&fd].key;
    assert!(d.known_blocked(fd, syscall::READ), "it would block: the next read waits at once");
    write_all(w.as_raw_fd(), b"ab");
    assert_eq!(poll_until(&mut d, 1), [(0, 2)]);
    assert!(!d.known_blocked(fd, syscall::READ), "reported ready: attempted");
    // The next read would block: it parks on the same registration, without a new one.
    assert_eq!(d.start(1, read(fd, &mut buf), &mut state), None);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.fds[&fd].key, key, "the same registration");
    assert!(!d.fds[&fd].verified && d.unverified.contains(&fd), "parked on an idle entry: to verify");
    write_all(w.as_raw_fd(), b"cd");
    assert_eq!(poll_until(&mut d, 1), [(1, 2)]);
    assert_eq!(&buf[..2], b"cd");
}

#[test]
fn a_number_reused_behind_the_drivers_back_gets_a_new_registration_and_ignores_the_old_one() {
    let (r, w) = pipe();
    let fd = r.as_raw_fd();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let mut state = OpState::Empty;
    // Registered, not ready, idle.
    assert_eq!(d.start(0, read(fd, &mut buf), &mut state), None);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.cancel(0), Stop::Parked);
    let old_key = d.fds[&fd].key;
    // The number becomes a new pipe's read end; the old pipe's read side closes (and its
    // registration leaves the epoll set silently).
    let (r2, w2) = pipe();
    // SAFETY: replaces `fd` (owned by `r`) with a duplicate of `r2`: `r` now owns that.
    assert_eq!(unsafe { libc::dup2(r2.as_raw_fd(), fd) }, fd);
    assert!(d.known_blocked(fd, syscall::READ), "the driver cannot tell yet");
    let started = std::time::Instant::now();
    assert_eq!(d.start(1, read(fd, &mut buf), &mut state), None);
    write_all(w2.as_raw_fd(), b"new");
    assert_eq!(poll_until(&mut d, 1), [(1, 3)], "found once the registration is verified");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(&buf[..3], b"new");
    assert_ne!(d.fds[&fd].key, old_key, "a new registration, with a new generation");
    drop(w);
}

#[test]
fn a_stale_registration_of_a_file_still_open_reports_nothing_to_the_new_one() {
    let (r, w) = pipe();
    let fd = r.as_raw_fd();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let mut state = OpState::Empty;
    assert_eq!(d.start(0, read(fd, &mut buf), &mut state), None);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.cancel(0), Stop::Parked);
    // SAFETY: dup of a live descriptor, owned here: the old pipe stays open.
    let old = unsafe { OwnedFd::from_raw_fd(libc::dup(fd)) };
    let (r2, w2) = pipe();
    // SAFETY: replaces `fd` (owned by `r`) with a duplicate of `r2`.
    assert_eq!(unsafe { libc::dup2(r2.as_raw_fd(), fd) }, fd);
    assert_eq!(d.start(1, read(fd, &mut buf), &mut state), None);
    // The old pipe's registration (still in the epoll set, under the old key) reports; the
    // read of the new one must not complete from it.
    write_all(w.as_raw_fd(), b"old");
    assert!(poll(&mut d, 20).is_empty(), "nothing for the new pipe yet");
    write_all(w2.as_raw_fd(), b"new");
    assert_eq!(poll_until(&mut d, 1), [(1, 3)]);
    assert_eq!(&buf[..3], b"new");
    drop(old);
}

#[test]
fn a_dup_is_registered_on_its_own_and_both_numbers_report() {
    let (r, w) = pipe();
    // SAFETY: dup of a live descriptor, owned here.
    let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(r.as_raw_fd())) };
    let mut d = Posix::new(4).unwrap();
    let (mut b0, mut b1) = ([0u8; 4], [0u8; 4]);
    let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
    assert_eq!(d.start(0, read(r.as_raw_fd(), &mut b0), &mut s0), None);
    assert_eq!(d.start(1, read(dup.as_raw_fd(), &mut b1), &mut s1), None);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.fds.len(), 2);
    write_all(w.as_raw_fd(), b"x");
    let done = poll_until(&mut d, 1);
    assert_eq!(done.len(), 1, "one byte, one reader: {done:?}");
    write_all(w.as_raw_fd(), b"y");
    let mut all = done;
    all.extend(poll_until(&mut d, 1));
    all.sort();
    assert_eq!(all, [(0, 1), (1, 1)]);
}

#[test]
fn a_wait_for_another_direction_widens_the_registration_once() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    a.set_nonblocking(true).unwrap();
    // Fill a's send buffer so that a send would block.
    let chunk = [0u8; 4096];
    while std::io::Write::write(&mut &a, &chunk).is_ok() {}
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
    assert_eq!(d.start(0, RawOp::Recv { fd, buf: buf.as_mut_ptr(), len: 4, flags: 0 }, &mut s0), None);
    assert_eq!(d.start(1, RawOp::Send { fd, buf: chunk.as_ptr(), len: 4096, flags: 0 }, &mut s1), None);
    assert!(poll(&mut d, 0).is_empty());
    let e = d.fds[&fd];
    assert!(e.armed.read && e.armed.write && d.waiting == 2);
    assert!(d.fds[&fd].stream, "a stream socket");
    // Drain b: a becomes writable; the send completes, the receive still waits.
    let mut sink = vec![0u8; 1 << 20];
    b.set_nonblocking(true).unwrap();
    while std::io::Read::read(&mut &b, &mut sink).is_ok_and(|n| n > 0) {}
    assert_eq!(poll_until(&mut d, 1), [(1, 4096)]);
    std::io::Write::write_all(&mut &b, b"hi").unwrap();
    assert_eq!(poll_until(&mut d, 1), [(0, 2)]);
    assert!(d.known_blocked(fd, syscall::READ), "a short read on a stream socket drained it");
}

/// Data and FIN arriving together make one report (`EPOLLIN | EPOLLRDHUP`): the short read of
/// the data does not mark the socket drained, so the next receive is attempted at once and
/// reads the end of stream (it waited for a report that never came, until a verification
/// re-arm a millisecond or two later; forever for a multishot receive, never idle).
#[test]
fn a_short_read_after_the_read_side_closed_leaves_the_socket_ready() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 16];
    let mut state = OpState::Empty;
    let recv = |buf: &mut [u8; 16]| RawOp::Recv { fd, buf: buf.as_mut_ptr(), len: 16, flags: 0 };
    assert_eq!(d.start(0, recv(&mut buf), &mut state), None);
    assert!(poll(&mut d, 0).is_empty(), "registered, waiting");
    std::io::Write::write_all(&mut &b, b"one").unwrap();
    assert_eq!(poll_until(&mut d, 1), [(0, 3)]);
    assert!(d.known_blocked(fd, syscall::READ), "open: a short read drained it");
    std::io::Write::write_all(&mut &b, b"two").unwrap();
    b.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(d.start(0, recv(&mut buf), &mut state), None, "waits for the report");
    assert_eq!(poll_until(&mut d, 1), [(0, 3)]);
    assert!(d.fds[&fd].read_closed && !d.known_blocked(fd, syscall::READ), "the end of stream is left to read");
    assert_eq!(d.start(0, recv(&mut buf), &mut state), Some(0), "attempted at once: the end of stream");
}

#[test]
fn idle_entries_are_swept_and_the_table_stays_within_its_bound() {
    let mut d = Posix::new(4).unwrap();
    let pipes: Vec<_> = (0..d.bound + 8).map(|_| pipe()).collect();
    let mut buf = [0u8; 4];
    let mut state = OpState::Empty;
    for (r, _) in &pipes {
        assert_eq!(d.start(0, read(r.as_raw_fd(), &mut buf), &mut state), None);
        assert!(poll(&mut d, 0).is_empty());
        assert_eq!(d.cancel(0), Stop::Parked);
        assert!(d.fds.len() <= d.bound);
    }
    let capacity = d.fds.capacity();
    assert!(!d.fds.is_empty());
    d.sweep(false);
    assert!(!d.fds.is_empty(), "idle for less than a sweep interval: kept");
    d.sweep(false);
    assert!(d.fds.is_empty(), "idle since before the last sweep: dropped");
    assert_eq!(d.fds.capacity(), capacity, "never reallocated");
}

#[test]
fn a_close_through_aio_drops_the_entry_and_the_number_starts_afresh() {
    let (r, w) = pipe();
    let fd = r.as_raw_fd();
    let mut d = Posix::new(4).unwrap();
    let mut buf = [0u8; 4];
    let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
    assert_eq!(d.start(0, read(fd, &mut buf), &mut s0), None);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.cancel(0), Stop::Parked);
    let close = RawOp::Close { fd: std::os::fd::IntoRawFd::into_raw_fd(r) };
    assert_eq!(d.start(1, close, &mut s1), None);
    assert_eq!(poll_until(&mut d, 1), [(1, 0)]);
    assert!(d.fds.is_empty());
    drop(w);
}

#[test]
fn a_busy_loop_still_verifies_a_registration_left_by_a_reused_number() {
    let (r, _w) = pipe();
    let fd = r.as_raw_fd();
    let (busy_r, busy_w) = pipe();
    let mut d = Posix::new(4).unwrap();
    let (mut buf, mut busy_buf) = ([0u8; 4], [0u8; 4]);
    let (mut s0, mut s1) = (OpState::Empty, OpState::Empty);
    assert_eq!(d.start(0, read(fd, &mut buf), &mut s0), None);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!(d.cancel(0), Stop::Parked);
    let (r2, w2) = pipe();
    // SAFETY: replaces `fd` (owned by `r`) with a duplicate of `r2`: `r` now owns that.
    assert_eq!(unsafe { libc::dup2(r2.as_raw_fd(), fd) }, fd);
    write_all(w2.as_raw_fd(), b"new");
    assert_eq!(d.start(0, read(fd, &mut buf), &mut s0), None);
    // Another descriptor reports at every wait: no wait is ever quiet.
    let started = std::time::Instant::now();
    let mut busy = None;
    let mut got = None;
    while got.is_none() && started.elapsed() < Duration::from_secs(2) {
        if busy.is_none() {
            assert_eq!(d.start(1, read(busy_r.as_raw_fd(), &mut busy_buf), &mut s1), None);
            busy = Some(());
        }
        write_all(busy_w.as_raw_fd(), b"b");
        for (s, res) in poll(&mut d, 100) {
            match s {
                0 => got = Some(res),
                _ => busy = None,
            }
        }
    }
    assert_eq!(got, Some(3), "verified within a few milliseconds");
    assert!(started.elapsed() < Duration::from_millis(500));
}

/// Starts a read of `ra` that would block, then a read of `rb` and a write to `wb` (a
/// producer, started after both): the poll completes the read of `rb` and leaves the read of
/// `ra` alone in the deferred list.
fn lone_blocked_read_after_a_completion(d: &mut Posix, ra: RawFd, (rb, wb): (RawFd, RawFd), bufs: &mut [[u8; 4]; 2]) {
    let mut state = OpState::Empty;
    let [a, b] = bufs;
    assert_eq!(d.start(0, read(ra, a), &mut state), None);
    assert_eq!(d.start(1, read(rb, b), &mut state), None);
    assert_eq!(
        d.start(2, RawOp::Write { fd: wb, buf: b"ping".as_ptr(), len: 4, offset: u64::MAX }, &mut state),
        Some(4)
    );
    assert_eq!(poll(d, 0), [(1, 4)]);
}

#[test]
fn a_lone_op_that_would_block_is_carried_to_the_next_pass_without_a_registration() {
    let ((ra, wa), (rb, wb)) = (pipe(), pipe());
    let mut d = Posix::new(8).unwrap();
    let mut bufs = [[0u8; 4]; 2];
    lone_blocked_read_after_a_completion(&mut d, ra.as_raw_fd(), (rb.as_raw_fd(), wb.as_raw_fd()), &mut bufs);
    assert_eq!((d.slots[0].at, d.slots[0].carried, d.waiting), (At::Deferred, true, 0), "carried, not parked");
    assert!(d.fds.is_empty(), "nothing registered: that poll made no poller call");
    // The next pass: a producer makes it ready, and it is attempted after it.
    let mut state = OpState::Empty;
    let pong = RawOp::Write { fd: wa.as_raw_fd(), buf: b"pong".as_ptr(), len: 4, offset: u64::MAX };
    assert_eq!(d.start(3, pong, &mut state), Some(4));
    assert_eq!(poll(&mut d, 0), [(0, 4)]);
    assert_eq!(&bufs[0], b"pong");
    assert!(d.fds.is_empty(), "never registered");
}

#[test]
fn a_carried_op_parks_at_the_next_poll_when_no_producer_started_and_readiness_completes_it() {
    let ((ra, wa), (rb, wb)) = (pipe(), pipe());
    let mut d = Posix::new(8).unwrap();
    let mut bufs = [[0u8; 4]; 2];
    lone_blocked_read_after_a_completion(&mut d, ra.as_raw_fd(), (rb.as_raw_fd(), wb.as_raw_fd()), &mut bufs);
    assert!(poll(&mut d, 0).is_empty());
    assert_eq!((d.slots[0].at, d.waiting), (At::Waiting, 1), "carried once only: parked now");
    assert!(d.fds.get(&ra.as_raw_fd()).is_some(), "registered");
    write_all(wa.as_raw_fd(), b"late");
    assert_eq!(poll_until(&mut d, 1), [(0, 4)]);
    assert_eq!(&bufs[0], b"late");
}

#[test]
fn a_carried_op_can_be_canceled_or_closed_and_is_never_reported_after() {
    let ((ra, _wa), (rb, wb)) = (pipe(), pipe());
    let mut d = Posix::new(8).unwrap();
    let mut bufs = [[0u8; 4]; 2];
    lone_blocked_read_after_a_completion(&mut d, ra.as_raw_fd(), (rb.as_raw_fd(), wb.as_raw_fd()), &mut bufs);
    assert_eq!(d.cancel(0), Stop::Parked);
    assert_eq!(d.cancel(0), Stop::Running, "only once");
    assert!(poll(&mut d, 0).is_empty(), "a canceled op is not attempted or reported");
    assert!(d.deferred.is_empty() && d.fds.is_empty());
    // Again, ended by a close of its descriptor this time.
    let mut bufs = [[0u8; 4]; 2];
    lone_blocked_read_after_a_completion(&mut d, ra.as_raw_fd(), (rb.as_raw_fd(), wb.as_raw_fd()), &mut bufs);
    let mut state = OpState::Empty;
    let close = RawOp::Close { fd: std::os::fd::IntoRawFd::into_raw_fd(ra) };
    assert_eq!(d.start(3, close, &mut state), None);
    let mut done = poll_until(&mut d, 2);
    done.sort();
    assert_eq!(done, [(0, -libc::ECANCELED), (3, 0)]);
}

#[test]
fn ops_that_would_block_park_when_more_than_one_is_left() {
    let ((ra, _wa), (rb, wb), (rc, _wc)) = (pipe(), pipe(), pipe());
    let mut d = Posix::new(8).unwrap();
    let (mut a, mut b, mut c) = ([0u8; 4], [0u8; 4], [0u8; 4]);
    let mut state = OpState::Empty;
    assert_eq!(d.start(0, read(ra.as_raw_fd(), &mut a), &mut state), None);
    assert_eq!(d.start(1, read(rb.as_raw_fd(), &mut b), &mut state), None);
    assert_eq!(d.start(2, read(rc.as_raw_fd(), &mut c), &mut state), None);
    let ping = RawOp::Write { fd: wb.as_raw_fd(), buf: b"ping".as_ptr(), len: 4, offset: u64::MAX };
    assert_eq!(d.start(3, ping, &mut state), Some(4));
    assert_eq!(poll(&mut d, 0), [(1, 4)]);
    assert_eq!((d.slots[0].at, d.slots[2].at, d.waiting), (At::Waiting, At::Waiting, 2), "both parked");
    assert!(d.deferred.is_empty());
}
