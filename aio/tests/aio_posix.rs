//! The posix backend, forced per `Dynamic` (so plain `cargo test` covers it next to io_uring):
//! backend selection, chains and the link-timeout cases (checked on both backends when
//! io_uring is available), cancel, timers, sockets, event sources, child exit, and a
//! 50,000-timeout stress. The general op suite runs on posix with `CORIO_BACKEND=posix`; the
//! differential test (random batches on both backends) is a unit test of the crate.

// Not on WASI: wasm32-wasip1 has no child processes, Unix sockets and pipes; tests/aio_wasi.rs covers aio there.
// Not on Windows: the posix backend, which does not exist on Windows.
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::BadFd;
use corio_aio::op::{
    Accept, Cancel, ChildExit, Connect, LinkTimeout, Nop, Notify, OpExt, Read, Recv, RecvMsg, Send, Timeout, Wait,
};
use corio_aio::{self as aio, BackendKind, Dynamic, EventSource, Mode, Value};
use socket2::{Domain, Socket, Type};

/// The backends to compare: posix, and io_uring where the kernel offers it.
fn kinds() -> Vec<BackendKind> {
    let mut kinds = vec![BackendKind::Posix];
    if Dynamic::with_backend(1, BackendKind::IoUring).is_ok() {
        kinds.push(BackendKind::IoUring);
    }
    kinds
}

/// A short description of a result: `ok`, `canceled`, `expired` or `errno N`.
fn class(r: &io::Result<Value>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) if aio::is_canceled(e) => "canceled".into(),
        Err(e) if aio::is_expired(e) => "expired".into(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

/// Completes everything; results in user-data order (user data = index in the batch).
fn results(ring: &mut Dynamic<'_>, n: usize) -> Vec<String> {
    let mut out = vec![String::new(); n];
    ring.complete_all(|c| out[c.user_data as usize] = class(&c.result)).unwrap();
    out
}

#[test]
fn selection() {
    let ring = Dynamic::with_backend(4, BackendKind::Posix).unwrap();
    assert_eq!(ring.backend(), BackendKind::Posix);
    assert!(ring.describe().starts_with("posix"), "{}", ring.describe());
    aio::scope_with(4, BackendKind::Posix, |ring| assert_eq!(ring.backend(), BackendKind::Posix)).unwrap();
    // Without CORIO_BACKEND, the default stays io_uring where it works.
    match std::env::var("CORIO_BACKEND") {
        Ok(name) => assert_eq!(aio::default_backend().to_string(), name),
        Err(_) if kinds().contains(&BackendKind::IoUring) => assert_eq!(aio::default_backend(), BackendKind::IoUring),
        Err(_) => assert_eq!(aio::default_backend(), BackendKind::Posix),
    }
    assert_eq!(Dynamic::new(1).unwrap().backend(), aio::default_backend());
}

#[test]
fn chains() {
    for kind in kinds() {
        let mut ring = Dynamic::with_backend(16, kind).unwrap();
        let buf = common::leak([0u8; 4]);
        ring.queue((
            Read::new(&BadFd, buf).soft().user_data(0),
            Nop::new().hard().user_data(1),
            Nop::new().user_data(2),
        ))
        .unwrap();
        assert_eq!(results(&mut ring, 3), ["errno 9", "canceled", "canceled"], "{kind}");
        let buf = common::leak([0u8; 4]);
        ring.queue((
            Read::new(&BadFd, buf).hard().user_data(0),
            Nop::new().soft().user_data(1),
            Nop::new().user_data(2),
        ))
        .unwrap();
        assert_eq!(results(&mut ring, 3), ["errno 9", "ok", "ok"], "{kind}");
    }
}

const FIRES: Duration = Duration::from_millis(20);
const SLOW: Duration = Duration::from_secs(3);
const QUICK: Duration = Duration::from_millis(5);

#[test]
fn link_timeout_cases() {
    type Case = (&'static str, fn(&mut Dynamic<'static>), &'static [&'static str]);
    let cases: [Case; 8] = [
        (
            "A(soft)+LT, LT fires",
            |r| {
                r.queue((Timeout::new(SLOW).soft().user_data(0), LinkTimeout::new(FIRES).user_data(1))).unwrap();
            },
            &["canceled", "expired"],
        ),
        (
            "A(soft)+LT, A first",
            |r| {
                r.queue((Timeout::new(QUICK).soft().user_data(0), LinkTimeout::new(SLOW).user_data(1))).unwrap();
            },
            &["ok", "ok"],
        ),
        (
            "A(soft)+LT(soft)+B, LT fires",
            |r| {
                let b = Nop::new().user_data(2);
                r.queue((Timeout::new(SLOW).soft().user_data(0), LinkTimeout::new(FIRES).soft().user_data(1), b))
                    .unwrap();
            },
            &["canceled", "expired", "canceled"],
        ),
        (
            "A(soft)+LT(hard)+B, LT fires",
            |r| {
                let b = Nop::new().user_data(2);
                r.queue((Timeout::new(SLOW).soft().user_data(0), LinkTimeout::new(FIRES).hard().user_data(1), b))
                    .unwrap();
            },
            &["canceled", "expired", "canceled"],
        ),
        (
            "A(soft)+LT(soft)+B, A first",
            |r| {
                let b = Nop::new().user_data(2);
                r.queue((Timeout::new(QUICK).soft().user_data(0), LinkTimeout::new(SLOW).soft().user_data(1), b))
                    .unwrap();
            },
            &["ok", "ok", "ok"],
        ),
        (
            "A(hard)+LT+B, A first",
            |r| {
                let b = Nop::new().user_data(2);
                r.queue((Timeout::new(QUICK).hard().user_data(0), LinkTimeout::new(SLOW).soft().user_data(1), b))
                    .unwrap();
            },
            &["ok", "ok", "ok"],
        ),
        (
            "A(soft) fails on its own before LT(soft)+B",
            |r| {
                let a = Read::new(&BadFd, common::leak([0u8; 4])).soft().user_data(0);
                r.queue((a, LinkTimeout::new(SLOW).soft().user_data(1), Nop::new().user_data(2))).unwrap();
            },
            &["errno 9", "ok", "canceled"],
        ),
        (
            // The kernel's rule: the canceled op's own (hard) link lets the chain go on.
            "A(hard)+LT(soft)+B, LT fires",
            |r| {
                let b = Nop::new().user_data(2);
                r.queue((Timeout::new(SLOW).hard().user_data(0), LinkTimeout::new(FIRES).soft().user_data(1), b))
                    .unwrap();
            },
            &["canceled", "expired", "ok"],
        ),
    ];
    for kind in kinds() {
        let mut ring = Dynamic::with_backend(8, kind).unwrap();
        for (name, queue, expected) in &cases {
            let start = Instant::now();
            queue(&mut ring);
            assert_eq!(results(&mut ring, expected.len()), *expected, "{kind}: {name}");
            assert!(start.elapsed() < SLOW, "{kind}: {name} waited for the slow op: {:?}", start.elapsed());
        }
    }
}

#[test]
fn cancel_reports_canceled_and_not_found() {
    for kind in kinds() {
        let mut ring = Dynamic::with_backend(8, kind).unwrap();
        // A running timer: canceled.
        let timer = ring.queue(Timeout::new(SLOW).user_data(0)).unwrap();
        ring.complete(Mode::Nonblocking, |_| panic!("nothing completes yet")).unwrap();
        ring.queue(Cancel::new(timer).user_data(1)).unwrap();
        assert_eq!(results(&mut ring, 2), ["canceled", "ok"], "{kind}");
        // The same id again: stale.
        ring.queue(Cancel::new(timer).user_data(0)).unwrap();
        assert_eq!(results(&mut ring, 1), ["errno 2"], "{kind}");
        // A timer that fired but was not reaped yet is finished: not found.
        // (On a slow machine, e.g. under qemu, the timer may already fire in the first call.)
        let mut out = vec![String::new(); 2];
        let timer = ring.queue(Timeout::new(Duration::from_millis(1)).user_data(0)).unwrap();
        ring.complete(Mode::Nonblocking, |c| out[c.user_data as usize] = class(&c.result)).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        ring.queue(Cancel::new(timer).user_data(1)).unwrap();
        ring.complete_all(|c| out[c.user_data as usize] = class(&c.result)).unwrap();
        assert_eq!(out, ["ok", "errno 2"], "{kind}");
        // An id that never existed.
        ring.queue(Cancel::new(aio::Id::from_u64(u64::MAX - 1)).user_data(0)).unwrap();
        assert_eq!(results(&mut ring, 1), ["errno 2"], "{kind}");
    }
}

#[test]
fn timers_complete_once_each() {
    let mut ring = Dynamic::with_backend(512, BackendKind::Posix).unwrap();
    let timers: Vec<_> = (0..500u64).map(|i| Timeout::new(Duration::from_micros(i * 37 % 5000)).user_data(i)).collect();
    let start = Instant::now();
    ring.queue(timers).unwrap();
    let mut seen = vec![0u32; 500];
    let errors = ring.complete_all(|c| seen[c.user_data as usize] += 1).unwrap();
    assert_eq!(errors, 0);
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    assert!(start.elapsed() >= Duration::from_micros(499 * 37 % 5000));
}

#[test]
fn many_timeouts_in_waves() {
    const WAVE: u64 = 10_000;
    let mut ring = Dynamic::with_backend(WAVE as u32, BackendKind::Posix).unwrap();
    let mut seen = vec![0u8; 5 * WAVE as usize];
    for wave in 0..5 {
        let timers: Vec<_> = (wave * WAVE..(wave + 1) * WAVE)
            .map(|i| Timeout::new(Duration::from_micros(i % 2000)).user_data(i))
            .collect();
        ring.queue(timers).unwrap();
        let errors = ring.complete_all(|c| seen[c.user_data as usize] += 1).unwrap();
        assert_eq!(errors, 0);
    }
    assert!(seen.iter().all(|&n| n == 1), "a timeout completed other than once");
}

#[test]
fn tcp_ping_pong() {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    listener.listen(8).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    aio::scope_with(8, BackendKind::Posix, |ring| {
        let [accept, _] = ring.queue((Accept::new(&listener), Connect::new(&client, addr.clone()))).unwrap();
        let mut server = None;
        ring.complete_all(|c| {
            if c.id == accept {
                server = Some(c.output::<Accept>().unwrap().0);
            } else {
                c.result.unwrap();
            }
        })
        .unwrap();
        let server = server.unwrap();
        let (mut ping, mut pong) = ([0u8; 4], [0u8; 4]);
        aio::scope_with(8, BackendKind::Posix, |ring| {
            // The receives are queued first and wait for data.
            ring.queue((
                Recv::new(&server, &mut ping).user_data(0),
                Recv::new(&client, &mut pong).user_data(1),
                Send::new(&client, b"ping").soft().user_data(2),
                Send::new(&server, b"pong").user_data(3),
            ))
            .unwrap();
            assert_eq!(results(ring, 4), ["ok"; 4]);
        })
        .unwrap();
        assert_eq!((&ping, &pong), (b"ping", b"pong"));
        // A transfer larger than the socket buffers: MSG_WAITALL gathers it all.
        let data: Vec<u8> = (0..4 << 20).map(|i| i as u8).collect();
        let mut got = vec![0u8; data.len()];
        let mut n = 0;
        std::thread::scope(|s| {
            s.spawn(|| {
                use std::io::Write;
                let mut stream = std::net::TcpStream::from(client.try_clone().unwrap());
                stream.write_all(&data).unwrap();
            });
            n = aio::scope_with(2, BackendKind::Posix, |ring| aio_recv_all(ring, &server, &mut got)).unwrap();
        });
        assert_eq!(n, data.len());
        assert!(got == data);
    })
    .unwrap();
}

fn aio_recv_all<'a>(ring: &mut Dynamic<'a>, socket: &'a Socket, buf: &'a mut [u8]) -> usize {
    ring.queue(Recv::new(socket, buf).wait_all()).unwrap();
    let mut n = 0;
    ring.complete_all(|c| n = c.output::<Recv>().unwrap()).unwrap();
    n
}

#[test]
fn udp_send_and_recvmsg() {
    let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 16];
    let mut bufs = [io::IoSliceMut::new(&mut buf)];
    let out = aio::scope_with(4, BackendKind::Posix, |ring| {
        let [recv, _] = ring.queue((RecvMsg::new(&a, &mut bufs), Send::new(&b, b"datagram"))).unwrap();
        let mut out = None;
        ring.complete_all(|c| {
            if c.id == recv {
                out = Some(c.output::<RecvMsg>().unwrap());
            } else {
                assert_eq!(c.output::<Send>().unwrap(), 8);
            }
        })
        .unwrap();
        out.unwrap()
    })
    .unwrap();
    assert_eq!(out.len, 8);
    assert_eq!(out.addr.and_then(|a| a.as_socket()), Some(b.local_addr().unwrap()));
    assert_eq!(&buf[..8], b"datagram");
}

#[test]
fn event_source_wait_and_notify() {
    let source = EventSource::new().unwrap();
    std::thread::scope(|s| {
        aio::scope_with(4, BackendKind::Posix, |ring| {
            ring.queue(Wait::new(&source).user_data(0)).unwrap();
            ring.complete(Mode::Nonblocking, |_| panic!("no unit yet")).unwrap();
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                source.notify().unwrap();
            });
            assert_eq!(results(ring, 1), ["ok"]);
            ring.queue((Notify::new(&source).soft().user_data(0), Wait::new(&source).user_data(1))).unwrap();
            assert_eq!(results(ring, 2), ["ok", "ok"]);
        })
        .unwrap();
    });
    assert!(!source.try_wait().unwrap());
}

#[test]
// The op reaps the children (a `wait` afterwards would fail with ECHILD).
#[allow(clippy::zombie_processes)]
fn child_exit_code_and_signal() {
    let mut ring = Dynamic::with_backend(4, BackendKind::Posix).unwrap();
    let child = std::process::Command::new("sh").args(["-c", "exit 69"]).spawn().unwrap();
    ring.queue(ChildExit::new(child.id())).unwrap();
    let mut status = None;
    ring.complete_all(|c| status = Some(c.output::<ChildExit>().unwrap())).unwrap();
    assert_eq!(status.unwrap().code(), Some(69));

    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    ring.queue(ChildExit::new(child.id())).unwrap();
    ring.complete(Mode::Nonblocking, |_| panic!("the child is alive")).unwrap();
    child.kill().unwrap();
    ring.complete_all(|c| status = Some(c.output::<ChildExit>().unwrap())).unwrap();
    assert_eq!(status.unwrap().signal(), Some(9));
}

#[test]
fn drop_with_pending_ops_is_prompt() {
    let (reader, _writer) = common::pipe();
    let source = common::leak(EventSource::new().unwrap());
    let reader = common::leak(reader);
    let start = Instant::now();
    {
        let mut ring = Dynamic::with_backend(16, BackendKind::Posix).unwrap();
        ring.queue((Read::new(reader, common::leak([0u8; 8])), Wait::new(source), Timeout::new(SLOW))).unwrap();
        ring.complete(Mode::Nonblocking, |_| panic!("nothing is ready")).unwrap();
        // Jobs for the worker pool, some queued, some running, when the ring drops.
        let file = common::leak(std::fs::File::create(std::env::temp_dir().join("corio-posix-drop")).unwrap());
        ring.queue((0..8).map(|_| corio_aio::op::Fsync::new(&*file)).collect::<Vec<_>>()).unwrap();
    }
    assert!(start.elapsed() < SLOW, "{:?}", start.elapsed());
}

// Automatic selection under a seccomp filter that denies io_uring: tests/aio_auto_fallback.rs.

/// Which failures break a soft link: the kernel's handlers for mkdirat, unlinkat, renameat,
/// symlinkat, fsync and shutdown never mark the request failed, so a soft chain goes on after
/// their errors; every other failure cancels the rest. Posix follows io_uring.
#[test]
fn failing_ops_break_soft_links_as_on_io_uring() {
    use corio_aio::op::{Accept, Fsync, Listen, MkdirAt, OpenAt, RenameAt, Shutdown, SymlinkAt, UnlinkAt};
    let expected = [
        ("mkdirat", "errno 17", "ok"),
        ("unlinkat", "errno 2", "ok"),
        ("renameat", "errno 2", "ok"),
        ("symlinkat", "errno 17", "ok"),
        ("fsync", "errno 22", "ok"),
        ("shutdown", "errno 107", "ok"),
        ("openat", "errno 2", "canceled"),
        ("listen", "errno 95", "canceled"),
        ("accept", "errno 95", "canceled"),
        ("connect", "errno 111", "canceled"),
        ("child_exit", "errno 10", "canceled"),
        ("write", "errno 9", "canceled"),
    ];
    for kind in kinds() {
        let (reader, _writer) = common::pipe();
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let tcp = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let (_holder, refusing) = common::refusing_addr();
        let got: Vec<(&str, String, String)> = aio::scope_with(4, kind, |ring| {
            let mut got = Vec::new();
            let mut run = |ring: &mut Dynamic<'_>, name| {
                let r = results(ring, 2);
                got.push((name, r[0].clone(), r[1].clone()));
            };
            let next = || Nop::new().user_data(1);
            ring.queue((MkdirAt::new("/").soft().user_data(0), next())).unwrap();
            run(ring, "mkdirat");
            ring.queue((UnlinkAt::new("/corio/missing").soft().user_data(0), next())).unwrap();
            run(ring, "unlinkat");
            ring.queue((RenameAt::new("/corio/missing", "/corio/x").soft().user_data(0), next())).unwrap();
            run(ring, "renameat");
            ring.queue((SymlinkAt::new("x", "/").soft().user_data(0), next())).unwrap();
            run(ring, "symlinkat");
            ring.queue((Fsync::new(&reader).soft().user_data(0), next())).unwrap();
            run(ring, "fsync");
            ring.queue((Shutdown::new(&tcp, std::net::Shutdown::Both).soft().user_data(0), next())).unwrap();
            run(ring, "shutdown");
            ring.queue((OpenAt::new("/corio/missing").soft().user_data(0), next())).unwrap();
            run(ring, "openat");
            ring.queue((Listen::new(&udp, 1).soft().user_data(0), next())).unwrap();
            run(ring, "listen");
            ring.queue((Accept::new(&udp).soft().user_data(0), next())).unwrap();
            run(ring, "accept");
            ring.queue((Connect::new(&tcp, refusing).soft().user_data(0), next())).unwrap();
            run(ring, "connect");
            ring.queue((ChildExit::new(1).soft().user_data(0), next())).unwrap();
            run(ring, "child_exit");
            ring.queue((corio_aio::op::Write::new(&reader, b"x").soft().user_data(0), next())).unwrap();
            run(ring, "write");
            got
        })
        .unwrap();
        let got: Vec<(&str, &str, &str)> = got.iter().map(|(n, a, b)| (*n, a.as_str(), b.as_str())).collect();
        assert_eq!(got, expected, "{kind}");
    }
}

/// A short read or splice (fewer bytes than asked) breaks a soft link, on io_uring and posix.
#[test]
fn short_transfers_break_soft_links() {
    use corio_aio::op::Splice;
    use std::io::Write as _;
    for kind in kinds() {
        let dir = common::TempDir::new("short");
        let file = std::fs::File::open(dir.file("abc", b"abc")).unwrap();
        let out = std::fs::File::create(dir.join("out")).unwrap();
        let (reader, mut writer) = common::pipe();
        writer.write_all(b"xy").unwrap();
        let mut buf = [0u8; 10];
        aio::scope_with(4, kind, |ring| {
            ring.queue((Read::new(&file, &mut buf).soft().user_data(0), Nop::new().user_data(1))).unwrap();
            assert_eq!(results(ring, 2), ["ok", "canceled"], "{kind}: short read");
            ring.queue((Splice::new(&reader, &out, 8).soft().user_data(0), Nop::new().user_data(1))).unwrap();
            assert_eq!(results(ring, 2), ["ok", "canceled"], "{kind}: short splice");
        })
        .unwrap();
    }
}

/// Up to 1500 receives parked on as many sockets at once (more than one wait returns), woken
/// by one batch of sends.
#[test]
fn many_parked_receives() {
    // SAFETY: `rlimit` is plain old data; getrlimit fills it.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit writes into a live struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    let n = (limit.rlim_cur.saturating_sub(256) / 2).clamp(50, 1500) as usize;
    let pairs: Vec<_> = (0..n).map(|_| std::os::unix::net::UnixStream::pair().unwrap()).collect();
    let mut bufs = vec![[0u8; 8]; n];
    aio::scope_with(2 * n as u32, BackendKind::Posix, |ring| {
        let recvs: Vec<_> = pairs
            .iter()
            .zip(bufs.iter_mut())
            .enumerate()
            .map(|(i, ((a, _), buf))| Recv::new(a, buf).user_data(i as u64))
            .collect();
        ring.queue(recvs).unwrap();
        ring.complete(Mode::Nonblocking, |_| panic!("nothing to receive yet")).unwrap();
        let sends: Vec<_> = pairs.iter().map(|(_, b)| Send::new(b, b"datagram").user_data(u64::MAX)).collect();
        ring.queue(sends).unwrap();
        let mut received = 0;
        ring.complete_all(|c| {
            if c.user_data != u64::MAX {
                assert_eq!(c.output::<Recv>().unwrap(), 8);
                received += 1;
            }
        })
        .unwrap();
        assert_eq!(received, n);
    })
    .unwrap();
    assert!(bufs.iter().all(|b| b == b"datagram"));
}
