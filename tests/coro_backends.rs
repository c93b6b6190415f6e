//! The scheduler on every aio backend: IO from many tasks, cancellation mid-IO, a TCP
//! exchange, and a cross-thread mutex; on the emulation backends also with precise timers
//! (`Options::timer_spin`), so that all of it runs through busy-polls before deadlines.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corio::aio::op::{Accept, Connect, Recv, Send, Socket, Timeout};
use corio::aio::{BackendKind, is_canceled};
use corio::coro::sync::{Mutex, ResetEvent};
use corio::coro::{Options, RunMode, Scheduler, io};
use socket2::{Domain, Type};

fn scheduler(backend: BackendKind, timer_spin: Duration) -> Scheduler {
    Scheduler::with_options(Options::new().backend(backend).timer_spin(timer_spin)).unwrap()
}

fn workload(backend: BackendKind) {
    workload_with(backend, Duration::ZERO);
}

fn workload_with(backend: BackendKind, timer_spin: Duration) {
    let scheduler = scheduler(backend, timer_spin);

    // Timers from many tasks.
    let done = Rc::new(Cell::new(0));
    for i in 0..200u64 {
        let done = done.clone();
        scheduler
            .spawn(move || {
                io::single(Timeout::new(Duration::from_micros(i * 10))).unwrap();
                done.set(done.get() + 1);
            })
            .detach();
    }
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(done.get(), 200);

    // Cancel mid-recv.
    let task = scheduler.spawn(|| {
        let (a, _b) = common::stream_pair();
        let mut buf = [0u8; 8];
        io::single(Recv::new(&a, &mut buf))
    });
    assert!(is_canceled(&task.cancel_and_join().unwrap_err()));

    // A TCP exchange between two tasks, on an ephemeral port.
    let port = Rc::new(Cell::new(0));
    let listening = Rc::new(ResetEvent::new());
    let (p, l) = (port.clone(), listening.clone());
    let server = scheduler.spawn(move || -> std::io::Result<Vec<u8>> {
        let listener = io::single(Socket::new(Domain::IPV4, Type::STREAM))?;
        listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        listener.listen(8)?;
        p.set(listener.local_addr()?.as_socket().unwrap().port());
        l.set();
        let (conn, _) = io::single(Accept::new(&listener))?;
        let mut buf = vec![0u8; 5];
        let n = io::single(Recv::new(&conn, &mut buf).wait_all())?;
        io::single(Send::new(&conn, b"pong"))?;
        buf.truncate(n);
        Ok(buf)
    });
    let client = scheduler.spawn(move || -> std::io::Result<Vec<u8>> {
        let socket = io::single(Socket::new(Domain::IPV4, Type::STREAM))?;
        listening.wait()?;
        io::single(Connect::new(&socket, SocketAddr::from(([127, 0, 0, 1], port.get()))))?;
        io::single(Send::new(&socket, b"ping!"))?;
        let mut buf = vec![0u8; 4];
        let n = io::single(Recv::new(&socket, &mut buf).wait_all())?;
        buf.truncate(n);
        Ok(buf)
    });
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(server.join().unwrap(), b"ping!");
    assert_eq!(client.join().unwrap(), b"pong");

    // A mutex contended by tasks of this scheduler and a plain thread.
    let mutex = Arc::new(Mutex::new(0u32).unwrap());
    let m = mutex.clone();
    let thread = std::thread::spawn(move || {
        for _ in 0..100 {
            *m.lock().unwrap() += 1;
        }
    });
    for _ in 0..4 {
        let m = mutex.clone();
        scheduler
            .spawn(move || {
                for _ in 0..25 {
                    let mut guard = m.lock().unwrap();
                    let v = *guard;
                    io::single(Timeout::new(Duration::from_micros(5))).unwrap();
                    *guard = v + 1;
                }
            })
            .detach();
    }
    scheduler.run(RunMode::Wait).unwrap();
    thread.join().unwrap();
    assert_eq!(*mutex.lock().unwrap(), 200);
}

#[test]
fn on_io_uring() {
    if let Err(e) = corio::aio::Dynamic::with_backend(2, BackendKind::IoUring) {
        eprintln!("skipped: io_uring is not available here ({e})");
        return;
    }
    workload(BackendKind::IoUring);
}

// Not on Windows: the posix backend is not built there (IOCP is its only backend).
#[test]
#[cfg(not(windows))]
fn on_posix() {
    workload(BackendKind::Posix);
}

#[test]
#[cfg(not(windows))]
fn on_posix_with_precise_timers() {
    workload_with(BackendKind::Posix, Duration::from_micros(200));
}

#[test]
#[cfg(windows)]
fn on_iocp() {
    workload(BackendKind::Iocp);
}

#[test]
#[cfg(windows)]
fn on_iocp_with_precise_timers() {
    workload_with(BackendKind::Iocp, Duration::from_millis(2));
}
