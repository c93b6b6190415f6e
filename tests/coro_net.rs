//! coro::net and coro::fs: std-shaped types that park a task inside one and are the std
//! calls outside. Every test that runs a client and a server as tasks of ONE scheduler on one
//! thread would deadlock if a call blocked the thread instead of parking the task.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::io::{Seek, SeekFrom};
use std::net::Shutdown;
#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
#[cfg(windows)]
use std::os::windows::fs::FileExt;
use std::time::{Duration, Instant};

use corio::coro::net::{TcpListener, TcpStream, UdpSocket};
#[cfg(unix)]
use corio::coro::net::{UnixDatagram, UnixListener, UnixStream};
use corio::coro::{Scheduler, fs, in_task};

use common::TempDir;

/// What std reports for an expired socket timeout: `WouldBlock` (`EAGAIN`) on Unix,
/// `TimedOut` (`WSAETIMEDOUT`) on Windows; coro's types report the same.
#[cfg(unix)]
const EXPIRED: (ErrorKind, i32) = (ErrorKind::WouldBlock, libc::EAGAIN);
#[cfg(windows)]
const EXPIRED: (ErrorKind, i32) = (ErrorKind::TimedOut, 10060);

/// A connected pair of coro streams: Unix sockets; TCP over loopback on Windows, which has
/// no Unix socket pairs.
#[cfg(unix)]
fn stream_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().unwrap()
}
#[cfg(windows)]
fn stream_pair() -> (TcpStream, TcpStream) {
    let (a, b) = common::tcp_pair();
    (a.into(), b.into())
}

#[test]
fn tcp_echo_many_clients_one_thread() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    const CLIENTS: usize = 20;
    let server = scheduler.spawn(move || {
        for _ in 0..CLIENTS {
            let (mut stream, peer) = listener.accept().unwrap();
            assert_eq!(peer, stream.peer_addr().unwrap());
            corio::coro::spawn(move || {
                let mut buf = [0u8; 64];
                loop {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    stream.write_all(&buf[..n]).unwrap();
                }
            })
            .detach();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            scheduler.spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                assert!(stream.nodelay().unwrap());
                let msg = format!("hello from client {i}");
                for _ in 0..3 {
                    stream.write_all(msg.as_bytes()).unwrap();
                    let mut back = vec![0u8; msg.len()];
                    stream.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg.as_bytes());
                }
                stream.shutdown(Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).unwrap();
                rest.len()
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join(), 0);
    }
    server.join();
}

#[test]
fn read_timeout_in_a_task_expires_like_std_and_loses_nothing() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::net::TcpStream::connect(addr).unwrap();
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(stream.read_timeout().unwrap(), Some(Duration::from_millis(50)));
    // The clone shares the socket's options, as std's does.
    assert_eq!(stream.try_clone().unwrap().read_timeout().unwrap(), Some(Duration::from_millis(50)));
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    // Another task keeps running while the reader waits.
    let ticker = scheduler.spawn(move || {
        for _ in 0..5 {
            corio::coro::io::single(corio::aio::op::Timeout::new(Duration::from_millis(2))).unwrap();
            t.set(t.get() + 1);
        }
    });
    let reader = scheduler.spawn(move || {
        let start = Instant::now();
        let mut buf = [0u8; 8];
        let err = (&stream).read(&mut buf).unwrap_err();
        let waited = start.elapsed();
        (stream, err, waited)
    });
    let (stream, err, waited) = reader.join();
    ticker.join();
    assert_eq!(err.kind(), EXPIRED.0, "{err:?}");
    assert_eq!(err.raw_os_error(), Some(EXPIRED.1));
    assert!(waited >= Duration::from_millis(45), "{waited:?}");
    assert_eq!(ticks.get(), 5);
    // Data sent after the timeout is still there.
    (&peer).write_all(b"late").unwrap();
    let t = scheduler.spawn(move || {
        let mut buf = [0u8; 4];
        (&stream).read_exact(&mut buf).map(|()| buf)
    });
    assert_eq!(&t.join().unwrap(), b"late");
}

#[test]
fn outside_a_task_the_calls_are_std() {
    assert!(!in_task());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let err = (&server).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), EXPIRED.0);
    client.write_all(b"abc").unwrap();
    let mut buf = [0u8; 3];
    (&server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abc");
    assert!(server.set_read_timeout(Some(Duration::ZERO)).is_err(), "zero is rejected, as by std");
    // Conversions both ways and through raw descriptors.
    let std_stream: std::net::TcpStream = server.into();
    let back = TcpStream::from(std_stream);
    assert_eq!(back.read_timeout().unwrap(), Some(Duration::from_millis(20)), "kept from the socket");
    raw_conversions(back);
}

/// Through raw descriptors and `OwnedFd`.
#[cfg(unix)]
fn raw_conversions(back: TcpStream) {
    let fd = back.into_raw_fd();
    // SAFETY: `fd` was just released by `into_raw_fd` and is owned by nobody else.
    let again = unsafe { TcpStream::from_raw_fd(fd) };
    assert_eq!(again.as_raw_fd(), fd);
    let owned = OwnedFd::from(again);
    drop(TcpStream::from(owned));
}

/// Through raw sockets and `OwnedSocket`.
#[cfg(windows)]
fn raw_conversions(back: TcpStream) {
    use std::os::windows::io::{AsRawSocket, FromRawSocket, IntoRawSocket, OwnedSocket};
    let sock = back.into_raw_socket();
    // SAFETY: `sock` was just released by `into_raw_socket` and is owned by nobody else.
    let again = unsafe { TcpStream::from_raw_socket(sock) };
    assert_eq!(again.as_raw_socket(), sock);
    let owned = OwnedSocket::from(again);
    drop(TcpStream::from(owned));
}

#[test]
fn nonblocking_streams_never_park() {
    let scheduler = Scheduler::new().unwrap();
    let (a, _b) = stream_pair();
    a.set_nonblocking(true).unwrap();
    let t = scheduler.spawn(move || (&a).read(&mut [0u8; 4]).unwrap_err().kind());
    assert_eq!(t.join(), ErrorKind::WouldBlock);
}

#[test]
fn canceled_reader_gets_a_canceled_error() {
    let scheduler = Scheduler::new().unwrap();
    let (a, _b) = stream_pair();
    let t = scheduler.spawn(move || (&a).read(&mut [0u8; 4]));
    assert!(!t.is_complete());
    let err = t.cancel_and_join().unwrap_err();
    assert!(corio::aio::is_canceled(&err), "{err:?}");
}

#[test]
fn connect_timeout_and_refused_in_a_task() {
    let scheduler = Scheduler::new().unwrap();
    let (_socket, refusing) = common::refusing_addr();
    let t = scheduler.spawn(move || TcpStream::connect(refusing).map(|_| ()).unwrap_err().kind());
    assert_eq!(t.join(), ErrorKind::ConnectionRefused);
    let t = scheduler.spawn(|| {
        let addr = "127.0.0.1:1".parse().unwrap();
        TcpStream::connect_timeout(&addr, Duration::ZERO).map(|_| ()).unwrap_err().kind()
    });
    assert_eq!(t.join(), ErrorKind::InvalidInput);
}

#[test]
fn vectored_io_and_write_timeout_on_streams() {
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = stream_pair();
    let t = scheduler.spawn(move || {
        let n = (&a).write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")]).unwrap();
        assert_eq!(n, 4);
        let (mut x, mut y) = ([0u8; 1], [0u8; 3]);
        let n = (&b).read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)]).unwrap();
        assert_eq!((n, &x, &y), (4, b"a", b"bcd"));
        // Nobody reads `b`: writes fill the buffer, then the write timeout expires.
        a.set_write_timeout(Some(Duration::from_millis(30))).unwrap();
        let chunk = vec![7u8; 65536];
        loop {
            match (&a).write(&chunk) {
                Ok(n) => assert!(n > 0),
                Err(e) => return e.kind(),
            }
        }
    });
    assert_eq!(t.join(), EXPIRED.0);
}

#[test]
fn udp_ping_pong_in_tasks() {
    let scheduler = Scheduler::new().unwrap();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let s = scheduler.spawn(move || {
        let mut buf = [0u8; 16];
        let (n, from) = server.peek_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        let (n, from2) = server.recv_from(&mut buf).unwrap();
        assert_eq!((n, from), (4, from2));
        server.send_to(b"pong", from).unwrap();
    });
    let c = scheduler.spawn(move || {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(addr).unwrap();
        client.send(b"ping").unwrap();
        let mut buf = [0u8; 16];
        let n = client.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    assert_eq!(c.join(), b"pong");
    s.join();
}

#[test]
#[cfg(unix)]
fn unix_listener_stream_and_datagram_in_tasks() {
    let dir = TempDir::new("coro-net-unix");
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path).unwrap();
    let scheduler = Scheduler::new().unwrap();
    let server = scheduler.spawn(move || {
        let (mut s, _addr) = listener.accept().unwrap();
        let mut line = String::new();
        s.read_to_string(&mut line).unwrap();
        line
    });
    let p = path.clone();
    let client = scheduler.spawn(move || {
        let mut s = UnixStream::connect(&p).unwrap();
        s.write_all(b"over unix").unwrap();
    });
    client.join();
    assert_eq!(server.join(), "over unix");

    let a_path = dir.join("a");
    let a = UnixDatagram::bind(&a_path).unwrap();
    let b = UnixDatagram::unbound().unwrap();
    let t = scheduler.spawn(move || {
        let mut buf = [0u8; 8];
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert!(from.is_unnamed());
        buf[..n].to_vec()
    });
    let t2 = scheduler.spawn(move || b.send_to(b"dgram", &a_path).unwrap());
    assert_eq!(t2.join(), 5);
    assert_eq!(t.join(), b"dgram");
}

#[test]
fn fs_in_a_task() {
    let dir = TempDir::new("coro-fs");
    let root = dir.path().to_path_buf();
    let scheduler = Scheduler::new().unwrap();
    let t = scheduler.spawn(move || -> std::io::Result<()> {
        fs::create_dir_all(root.join("x/y/z"))?;
        fs::create_dir_all(root.join("x/y/z"))?;
        fs::create_dir(root.join("d"))?;
        assert_eq!(fs::create_dir(root.join("d")).unwrap_err().kind(), ErrorKind::AlreadyExists);
        fs::write(root.join("x/y/z/f"), b"0123456789")?;
        assert_eq!(fs::read(root.join("x/y/z/f"))?, b"0123456789");
        let mut f = fs::OpenOptions::new().read(true).write(true).open(root.join("x/y/z/f"))?;
        f.seek(SeekFrom::Start(4))?;
        let mut buf = [0u8; 3];
        f.read_exact(&mut buf)?;
        assert_eq!(&buf, b"456");
        f.write_all(b"ab")?;
        // Windows' positional calls move the position (as std's do there): both at the end.
        #[cfg(unix)]
        let (write_at, read_at) = (FileExt::write_at, FileExt::read_at);
        #[cfg(windows)]
        let (write_at, read_at) = (FileExt::seek_write, FileExt::seek_read);
        write_at(&f, b"Z", 0)?;
        let mut one = [0u8; 1];
        read_at(&f, &mut one, 9)?;
        assert_eq!(&one, b"9");
        f.sync_all()?;
        f.sync_data()?;
        let (mut p, mut q) = ([0u8; 2], [0u8; 2]);
        f.seek(SeekFrom::Start(0))?;
        let n = f.read_vectored(&mut [IoSliceMut::new(&mut p), IoSliceMut::new(&mut q)])?;
        // Windows fills the first buffer only, as std's vectored file reads do there.
        if cfg!(windows) {
            assert_eq!((n, &p), (2, b"Z1"));
        } else {
            assert_eq!((n, &p, &q), (4, b"Z1", b"23"));
        }
        assert_eq!(fs::read_to_string(root.join("x/y/z/f"))?, "Z123456ab9");
        // Closed first: Windows deletes an open file only when its last handle closes (wine
        // then lets a second remove succeed).
        drop(f);
        fs::rename(root.join("x/y/z/f"), root.join("g"))?;
        // No symlink on Windows (std has none under that name there either).
        #[cfg(unix)]
        {
            fs::symlink("g", root.join("link"))?;
            assert_eq!(fs::read_to_string(root.join("link"))?, "Z123456ab9");
            assert_eq!(fs::metadata(root.join("link"))?.len(), 10);
            fs::remove_file(root.join("link"))?;
        }
        fs::remove_file(root.join("g"))?;
        assert_eq!(fs::remove_file(root.join("g")).unwrap_err().kind(), ErrorKind::NotFound);
        fs::remove_dir(root.join("d"))?;
        assert!(fs::File::create_new(root.join("x/new")).is_ok());
        assert_eq!(fs::File::create_new(root.join("x/new")).unwrap_err().kind(), ErrorKind::AlreadyExists);
        assert!(fs::OpenOptions::new().open(root.join("x/new")).is_err(), "no access mode");
        Ok(())
    });
    t.join().unwrap();
}

#[test]
fn fs_outside_a_task_is_std() {
    let dir = TempDir::new("coro-fs-std");
    let p = dir.join("f");
    fs::write(&p, "std").unwrap();
    let f = fs::File::open(&p).unwrap();
    let std_file: std::fs::File = f.into();
    let mut f = fs::File::from(std_file);
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "std");
}

#[test]
fn one_reader_task_and_one_writer_task_share_a_stream() {
    // The documented sharing rule: one task reads while another writes the same stream, by
    // reference (Arc) or through a try_clone.
    let scheduler = Scheduler::new().unwrap();
    let (a, b) = stream_pair();
    let a = std::sync::Arc::new(a);
    let b_writer = b.try_clone().unwrap();
    const N: usize = 200;
    let a_reader = a.clone();
    // a -> b and b -> a at the same time, each direction its own task.
    let w1 = scheduler.spawn(move || {
        for i in 0..N {
            (&*a).write_all(&(i as u32).to_le_bytes()).unwrap();
        }
    });
    let w2 = scheduler.spawn(move || {
        for i in 0..N {
            (&b_writer).write_all(&(i as u32 * 2).to_le_bytes()).unwrap();
        }
    });
    let r1 = scheduler.spawn(move || {
        let mut got = Vec::new();
        let mut word = [0u8; 4];
        for _ in 0..N {
            (&b).read_exact(&mut word).unwrap();
            got.push(u32::from_le_bytes(word));
        }
        got
    });
    let r2 = scheduler.spawn(move || {
        let mut got = Vec::new();
        let mut word = [0u8; 4];
        for _ in 0..N {
            (&*a_reader).read_exact(&mut word).unwrap();
            got.push(u32::from_le_bytes(word));
        }
        got
    });
    w1.join();
    w2.join();
    assert_eq!(r1.join(), (0..N as u32).collect::<Vec<_>>());
    assert_eq!(r2.join(), (0..N as u32).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn a_stream_moves_to_a_task_on_another_thread() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap(); // outside a task: std's blocking connect
    let server = std::thread::spawn(move || {
        let scheduler = Scheduler::new().unwrap();
        scheduler
            .spawn(move || {
                let mut s = listener.incoming().next().unwrap().unwrap();
                let mut buf = [0u8; 3];
                s.read_exact(&mut buf).unwrap();
                s.write_all(&buf).unwrap();
            })
            .join();
    });
    let scheduler = Scheduler::new().unwrap();
    let t = scheduler.spawn(move || {
        (&client).write_all(b"hey").unwrap();
        let mut buf = [0u8; 3];
        (&client).read_exact(&mut buf).unwrap();
        buf
    });
    assert_eq!(&t.join(), b"hey");
    server.join().unwrap();
}

#[test]
fn peek_leaves_the_bytes_and_timeouts_read_back() {
    let scheduler = Scheduler::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = scheduler.spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8];
        let n = s.peek(&mut buf).unwrap();
        let peeked = buf[..n].to_vec();
        let mut all = Vec::new();
        (&s).read_to_end(&mut all).unwrap();
        (peeked, all)
    });
    let client = scheduler.spawn(move || {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_secs(3)));
        assert_eq!(s.as_std_timeout(), Some(Duration::from_secs(3)));
        (&s).write_all(b"peekaboo").unwrap();
    });
    client.join();
    let (peeked, all) = server.join();
    assert!(!peeked.is_empty() && all.starts_with(&peeked), "{peeked:?} {all:?}");
    assert_eq!(all, b"peekaboo");
}

/// The timeout as the socket itself reports it (std's getter on the std type).
trait StdTimeout {
    fn as_std_timeout(&self) -> Option<Duration>;
}

impl StdTimeout for TcpStream {
    fn as_std_timeout(&self) -> Option<Duration> {
        let std_stream: std::net::TcpStream = self.try_clone().unwrap().into();
        std_stream.write_timeout().unwrap()
    }
}
