//! Automatic backend selection: where io_uring works, `auto` picks it; where it does not (a
//! seccomp filter denies its syscalls, as Docker's default profile, `kernel.io_uring_disabled`
//! or an old kernel would), `auto` falls back to posix and every kind of op still works.
//!
//! The filter cannot be removed once installed, so each case runs in a child process: this
//! test binary re-executed with `--exact` on [`denied_child`].

// Not on WASI: wasm32-wasip1 has no child processes and TCP sockets; tests/aio_wasi.rs covers aio there.
// Linux only: the io_uring/posix choice (seccomp, re-executing itself); elsewhere there is one
// backend (posix on the BSDs and macOS, iocp on Windows).
#![cfg(target_os = "linux")]

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use corio_aio::op::{
    Accept, ChildExit, Close, Connect, Events, Fsync, LinkTimeout, MkdirAt, Nop, Notify, OpExt, OpenAt, Poll, Read,
    Recv, RecvMsg, RenameAt, Send, SendMsg, Socket, SymlinkAt, Timeout, UnlinkAt, Wait, Write,
};
use corio_aio::{BackendKind, Dynamic, EventSource, default_backend, is_canceled, is_expired};
use socket2::{Domain, Type};

const CHILD_ENV: &str = "CORIO_DENY_IO_URING";

/// Whether a raw `io_uring_setup` works in this process.
fn io_uring_available() -> bool {
    // SAFETY: io_uring_params is plain old data; the kernel fills it.
    let mut params: [u8; 120] = [0; 120];
    // SAFETY: io_uring_setup(2) with a zeroed params struct; a returned fd is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 2, params.as_mut_ptr()) };
    if fd < 0 {
        return false;
    }
    // SAFETY: closes the fd io_uring_setup just returned.
    unsafe { libc::close(fd as i32) };
    true
}

#[test]
fn auto_picks_io_uring_where_it_works() {
    if std::env::var_os(CHILD_ENV).is_some() || std::env::var_os("CORIO_BACKEND").is_some() {
        return; // a forced backend is another test's business
    }
    let expected = if io_uring_available() { BackendKind::IoUring } else { BackendKind::Posix };
    assert_eq!(default_backend(), expected);
    assert_eq!(Dynamic::new(4).unwrap().backend(), expected);
}

#[test]
fn auto_falls_back_to_posix_when_io_uring_is_denied() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    if !io_uring_available() {
        // Already the case this test builds (e.g. under qemu-user, which has no io_uring):
        // the whole suite runs on the automatic fallback.
        println!("io_uring is unavailable in this process already; checking auto directly");
        if std::env::var_os("CORIO_BACKEND").is_none() {
            assert_eq!(default_backend(), BackendKind::Posix);
        }
        return;
    }
    for errno in ["EPERM", "ENOSYS"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "denied_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, errno)
            .env_remove("CORIO_BACKEND")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{errno}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "{errno}: the child test did not run:\n{stdout}");
        assert!(stdout.contains("ran on posix"), "{errno}: {stdout}");
    }
}

/// Makes io_uring_setup/enter/register fail with `errno` in this thread and the threads it
/// spawns later (seccomp, with no_new_privs so no privilege is needed).
fn deny_io_uring(errno: i32) {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        ins(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        ins(JEQ_K, 1, 0, ARCH),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        ins(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        ins(JEQ_K, 3, 0, libc::SYS_io_uring_setup as u32),
        ins(JEQ_K, 2, 0, libc::SYS_io_uring_enter as u32),
        ins(JEQ_K, 1, 0, libc::SYS_io_uring_register as u32),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | errno as u32),
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: prctl with valid arguments; `prog` and `filter` outlive the calls (the kernel
    // copies the program).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const _), 0);
    }
}

#[test]
// The children are reaped by `ChildExit` ops, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn denied_child() {
    let Ok(name) = std::env::var(CHILD_ENV) else { return };
    let errno = if name == "ENOSYS" { libc::ENOSYS } else { libc::EPERM };
    deny_io_uring(errno);
    assert!(!io_uring_available(), "the filter is in place");

    assert_eq!(default_backend(), BackendKind::Posix);
    let ring = Dynamic::new(8).unwrap();
    assert_eq!(ring.backend(), BackendKind::Posix);
    drop(ring);

    // Every family of op, through the immediate API on the automatically chosen backend.
    let dir = std::env::temp_dir().join(format!("corio-fallback-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    corio_aio::single(MkdirAt::new(&dir)).unwrap();
    let path = dir.join("f");
    let file = corio_aio::single(OpenAt::new(&path).write(true).create(true)).unwrap();
    let mut buf = [0u8; 5];
    let (written, (), read) = corio_aio::multi((
        Write::new(&file, b"hello").offset(0).soft(),
        Fsync::new(&file).soft(),
        Read::new(&file, &mut buf).offset(0),
    ))
    .unwrap();
    assert_eq!((written, read, &buf), (5, 5, b"hello"));
    let ready = corio_aio::single(Poll::new(&file, Events::OUT)).unwrap();
    assert!(ready.contains(Events::OUT));
    let (link, renamed) = (dir.join("link"), dir.join("g"));
    corio_aio::multi((
        SymlinkAt::new("f", &link).soft(),
        RenameAt::new(&path, &renamed).soft(),
        Close::new(file).soft(),
        UnlinkAt::new(&renamed).soft(),
        UnlinkAt::new(&link).soft(),
        UnlinkAt::new(&dir).directory(),
    ))
    .unwrap();

    let (slow, limit) =
        corio_aio::complete((Timeout::new(Duration::from_secs(5)).soft(), LinkTimeout::new(Duration::from_millis(5))))
            .unwrap();
    assert!(is_canceled(&slow.unwrap_err()) && is_expired(&limit.unwrap_err()));
    corio_aio::multi((Nop::new().soft(), Timeout::new(Duration::from_micros(100)))).unwrap();

    // TCP: socket, accept/connect, send/recv; UDP: sendmsg/recvmsg.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client = corio_aio::single(Socket::new(Domain::IPV4, Type::STREAM)).unwrap();
    let addr = listener.local_addr().unwrap();
    let ((server, _), ()) = corio_aio::multi((Accept::new(&listener), Connect::new(&client, addr))).unwrap();
    let mut got = [0u8; 4];
    let (sent, received) =
        corio_aio::multi((Send::new(&client, b"PING").soft(), Recv::new(&server, &mut got))).unwrap();
    assert_eq!((sent, received, &got), (4, 4, b"PING"));
    let a = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let b = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let to: SocketAddr = b.local_addr().unwrap();
    let mut dgram = [0u8; 8];
    let out = [IoSlice::new(b"PONG")];
    let mut into = [IoSliceMut::new(&mut dgram)];
    let (n, msg) = corio_aio::multi((SendMsg::new(&a, &out).to(to).soft(), RecvMsg::new(&b, &mut into))).unwrap();
    assert_eq!((n, msg.len), (4, 4));
    assert_eq!(msg.addr.unwrap().as_socket(), Some(a.local_addr().unwrap()));

    // Event sources and child processes.
    let source = EventSource::new().unwrap();
    corio_aio::multi((Notify::new(&source).soft(), Wait::new(&source))).unwrap();
    let child = Command::new("sh").args(["-c", "exit 69"]).spawn().unwrap();
    assert_eq!(corio_aio::single(ChildExit::new(child.id())).unwrap().code(), Some(69));
    let child = Command::new("sleep").arg("10").spawn().unwrap();
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    assert_eq!(corio_aio::single(ChildExit::new(child.id())).unwrap().signal(), Some(libc::SIGKILL));

    println!("ran on posix with io_uring denied ({name})");
}
