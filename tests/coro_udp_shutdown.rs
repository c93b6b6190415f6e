//! A task in `coro::net::UdpSocket::recv` while the socket is shut down from another thread:
//! the receive returns `Ok(0)` (as a blocking `recv` does, and as on io_uring), and the
//! scheduler's thread idles while the task waits. Run on the default backend (CI repeats the
//! suite with `CORIO_BACKEND=posix`). The aio-level cases are in
//! `aio/tests/aio_net_shutdown.rs`.

// Linux only: the scheduler's CPU time is read with `getrusage(RUSAGE_THREAD)`, and the
// shutdown semantics are Linux's (an unconnected UDP socket is shut down even though
// `shutdown(2)` fails with `ENOTCONN`).
#![cfg(target_os = "linux")]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corio::coro::Scheduler;
use corio::coro::net::UdpSocket;

use common::thread_cpu;

#[test]
fn a_udp_recv_in_a_task_reads_0_bytes_once_another_thread_shuts_the_socket_down() {
    for connected in [false, true] {
        let scheduler = Scheduler::new().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        if connected {
            socket.connect(socket.local_addr().unwrap()).unwrap();
        }
        // A hang fails the test (with `WouldBlock`) instead of blocking the suite.
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let fd = socket.as_raw_fd();
        let task = scheduler.spawn(move || {
            // The task runs on the scheduler's thread: its CPU time is the loop's.
            let (cpu, start) = (thread_cpu(), Instant::now());
            let mut buf = [0u8; 16];
            let got = socket.recv(&mut buf).map_err(|e| e.to_string());
            (got, thread_cpu() - cpu, start.elapsed(), socket)
        });
        let shut = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            // SAFETY: a plain syscall; the socket stays open until the task returns it.
            // Unconnected, it fails with ENOTCONN but shuts the socket down all the same.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        });
        let (got, cpu, wall, socket) = task.join();
        shut.join().unwrap();
        assert_eq!(got, Ok(0), "connected: {connected}");
        // The task waited ~1 s: a loop spinning meanwhile burns most of it (about 60 % measured
        // before the fix); one that waits, next to nothing (the margin is for qemu-user, which
        // translates the code on its first run).
        assert!(cpu < wall / 4 + Duration::from_millis(100), "connected: {connected}: {cpu:?} of CPU in {wall:?}");
        drop(socket);
    }
}
