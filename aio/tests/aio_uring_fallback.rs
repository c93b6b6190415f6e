//! The io_uring backend's fallbacks for opcodes a kernel lacks (socket < 5.19, bind/listen <
//! 6.11, waitid < 6.5), exercised on a kernel that has them all by re-running this test binary
//! with `CORIO_URING_DISABLE` set (the probe result is per process).

// Linux only: io_uring.
#![cfg(target_os = "linux")]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use corio_aio::op::{Accept, Bind, ChildExit, Connect, Listen, Nop, OpExt, Socket};
use corio_aio::{Dynamic, is_canceled};
use socket2::{Domain, Type};

const CHILD_ENV: &str = "CORIO_FALLBACK_CHILD";

#[test]
fn fallbacks_run_when_opcodes_are_missing() {
    if Dynamic::new(2).unwrap().backend() != corio_aio::BackendKind::IoUring {
        println!("not on io_uring here; the io_uring fallbacks do not apply");
        return;
    }
    common::rerun_with_uring_disabled(
        "socket,bind,listen,waitid",
        &[(CHILD_ENV, "1")],
        &["--exact", "fallback_child", "--nocapture", "--test-threads=1"],
    );
}

#[test]
// The children are reaped by the `ChildExit` ops, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn fallback_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // only meaningful inside the re-executed child
    }
    let mut ring = Dynamic::new(8).unwrap();
    let described = ring.describe();
    if !described.starts_with("io_uring") {
        println!("not on io_uring ({described}); nothing to check");
        return;
    }
    assert!(described.contains("fallbacks for socket, bind, listen, waitid"), "{described}");

    // socket + bind + listen run as syscalls, with correct results and errors.
    let listener = corio_aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    let any: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();
    corio_aio::multi((Bind::new(&listener, any).soft(), Listen::new(&listener, 8))).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = corio_aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    let ((_, peer), ()) = corio_aio::multi((Accept::new(&listener), Connect::new(&client, addr.clone()))).unwrap();
    assert_eq!(peer.as_socket().unwrap(), client.local_addr().unwrap().as_socket().unwrap());

    // A failing fallback op fails its soft chain like the kernel op would.
    let taken = corio_aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    let (bind, listen) = corio_aio::complete((Bind::new(&taken, addr).soft(), Listen::new(&taken, 1))).unwrap();
    assert_eq!(bind.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    assert!(is_canceled(&listen.unwrap_err()));

    // A batch that stops streaming at its third op (socket runs as a syscall): the ops
    // streamed before it are queued again with the rest, and the ids come back in order.
    let socket = Socket::new(Domain::IPV4, Type::STREAM);
    let batch = (Nop::new().user_data(0), Nop::new().user_data(1), socket.user_data(2), Nop::new().user_data(3));
    let ids = ring.queue(batch).unwrap();
    let mut seen = Vec::new();
    ring.complete_all(|c| seen.push((c.id, c.user_data, c.result.is_ok()))).unwrap();
    seen.sort_by_key(|s| s.1);
    let expected: Vec<_> = ids.iter().enumerate().map(|(i, &id)| (id, i as u64, true)).collect();
    assert_eq!(seen, expected);

    // child_exit through pidfd + poll.
    let child = Command::new("sh").args(["-c", "exit 69"]).spawn().unwrap();
    let status = corio_aio::single(ChildExit::new(child.id())).unwrap();
    assert_eq!(status.code(), Some(69));
    let child = Command::new("sleep").arg("10").spawn().unwrap();
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let status = corio_aio::single(ChildExit::new(child.id())).unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // Not a child (pid 1), and a child already reaped: ECHILD at once, as waitid reports.
    let err = corio_aio::single(ChildExit::new(1)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
    let err = corio_aio::single(ChildExit::new(child.id())).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
}
