//! Reading, writing and waiting on descriptors: nop, fsync, poll, read, write, readv, writev,
//! read_tty, splice.

// Not on WASI: wasm32-wasip1 has no pipes; tests/aio_wasi.rs covers aio there.
// Not on Windows: pipes, poll, splice, ttys and errno values; not ported yet (tests/aio_windows.rs covers reads and writes).
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::fs::File;
use std::io::{ErrorKind, IoSlice, IoSliceMut, Write as _};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
#[cfg(target_os = "linux")]
use std::os::unix::fs::FileExt;

use common::{BadFd, TempDir, contents, expect_errno, expect_kind, pipe};
use corio_aio::op::{Close, Events, Fsync, Nop, OpExt, OpenAt, Poll, Read, ReadTty, Readv, Splice, Write, Writev};
use corio_aio::{self as aio, EventSource};

#[test]
fn nop_succeeds() {
    aio::single(Nop::new()).unwrap();
    let (a, b) = aio::multi((Nop::new().soft(), Nop::new())).unwrap();
    assert_eq!((a, b), ((), ()));
}

#[test]
fn fsync_file_and_errors() {
    let dir = TempDir::new("fsync");
    let file = aio::single(OpenAt::new(&dir.join("f")).write(true).create(true)).unwrap();
    assert_eq!(aio::single(Write::new(&file, b"data")).unwrap(), 4);
    aio::single(Fsync::new(&file)).unwrap();
    aio::single(Fsync::new(&file).data_only()).unwrap();
    expect_errno(aio::single(Fsync::new(&BadFd)), libc::EBADF);
    // fsync of a pipe is not supported by the OS.
    let (_r, w) = pipe();
    expect_errno(aio::single(Fsync::new(&w)), libc::EINVAL);
}

#[test]
fn poll_event_source_then_close() {
    // Inventory §6.1 item 4a: notify(soft) → poll IN(soft) → close (of a duplicate, since
    // the source stays borrowed by the other ops).
    let source = EventSource::new().unwrap();
    let fd = source.as_fd().try_clone_to_owned().unwrap();
    let ((), events, ()) =
        aio::multi((aio::op::Notify::new(&source).soft(), Poll::new(&source, Events::IN).soft(), Close::new(fd)))
            .unwrap();
    assert!(events.contains(Events::IN), "{events:?}");
    assert!(source.try_wait().unwrap(), "the notified unit is still there");
    assert!(!source.try_wait().unwrap());
}

#[test]
fn poll_regular_file_and_pipe() {
    let dir = TempDir::new("poll");
    let file = File::create(dir.join("f")).unwrap();
    let out = aio::single(Poll::new(&file, Events::OUT)).unwrap();
    assert!(out.contains(Events::OUT), "{out:?}");
    let both = aio::single(Poll::new(&file, Events::IN | Events::OUT)).unwrap();
    assert!(both.contains(Events::IN | Events::OUT), "{both:?}");

    // A pipe becomes readable once written to; the poll waits for that.
    let (r, mut w) = pipe();
    aio::scope(4, |ring| {
        ring.queue(Poll::new(&r, Events::IN)).unwrap();
        let nothing = ring.complete(aio::Mode::Nonblocking, |_| panic!("nothing was written yet")).unwrap();
        assert_eq!(nothing.completed, 0);
        w.write_all(b"x").unwrap();
        let mut seen = None;
        ring.complete_all(|c| seen = Some(c.output::<Poll>().unwrap())).unwrap();
        assert!(seen.unwrap().contains(Events::IN), "{seen:?}");
    })
    .unwrap();

    // Closing the write end reports a hang-up on the read end.
    drop(w);
    let hup = aio::single(Poll::new(&r, Events::IN)).unwrap();
    assert!(hup.contains(Events::HUP), "{hup:?}");
}

#[test]
fn poll_bad_fd_fails() {
    let err = aio::single(Poll::new(&BadFd, Events::IN)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err:?}");
}

#[test]
fn read_at_offset_and_current_position() {
    let dir = TempDir::new("read");
    let path = dir.file("f", b"foobar");
    let file = File::open(&path).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(aio::single(Read::new(&file, &mut buf).offset(0)).unwrap(), 6);
    assert_eq!(&buf[..6], b"foobar");
    let mut tail = [0u8; 16];
    assert_eq!(aio::single(Read::new(&file, &mut tail).offset(3)).unwrap(), 3);
    assert_eq!(&tail[..3], b"bar");

    // Positional reads leave the position at 0; current-position reads advance it.
    let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 3], [0u8; 3]);
    let (na, nb, nc) =
        aio::multi((Read::new(&file, &mut a).soft(), Read::new(&file, &mut b).soft(), Read::new(&file, &mut c)))
            .unwrap();
    assert_eq!((na, nb, nc), (3, 3, 0), "the third read hits end of file");
    assert_eq!((&a, &b), (b"foo", b"bar"));
}

#[test]
fn read_errors() {
    let dir = TempDir::new("read-err");
    let write_only = File::create(dir.join("w")).unwrap();
    let mut buf = [0u8; 4];
    let err = aio::single(Read::new(&write_only, &mut buf)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err:?}");
    expect_errno(aio::single(Read::new(&BadFd, &mut buf)), libc::EBADF);
    let mut empty = [0u8; 0];
    expect_kind(aio::single(Read::new(&write_only, &mut empty)), ErrorKind::InvalidInput);
}

#[test]
fn write_at_offset_and_current_position() {
    let dir = TempDir::new("write");
    let path = dir.join("f");
    let file = File::create(&path).unwrap();
    assert_eq!(aio::single(Write::new(&file, b"foobar").offset(0)).unwrap(), 6);
    assert_eq!(contents(&path), b"foobar");
    assert_eq!(aio::single(Write::new(&file, b"XY").offset(2)).unwrap(), 2);
    assert_eq!(contents(&path), b"foXYar");

    // Current-position writes start at 0 (positional writes did not move it) and advance.
    let (a, b) = aio::multi((Write::new(&file, b"ab").soft(), Write::new(&file, b"cd"))).unwrap();
    assert_eq!((a, b), (2, 2));
    assert_eq!(contents(&path), b"abcdar");
}

#[test]
fn write_errors() {
    let dir = TempDir::new("write-err");
    let path = dir.file("f", b"x");
    let read_only = File::open(&path).unwrap();
    let err = aio::single(Write::new(&read_only, b"nope")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err:?}");
    expect_errno(aio::single(Write::new(&BadFd, b"x")), libc::EBADF);
    expect_kind(aio::single(Write::new(&read_only, b"")), ErrorKind::InvalidInput);
    assert_eq!(contents(&path), b"x");
}

#[test]
fn writev_and_readv_use_every_buffer() {
    let dir = TempDir::new("vec");
    let path = dir.join("f");
    let file = File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
    let bufs = [IoSlice::new(b"foo"), IoSlice::new(b""), IoSlice::new(b"bar"), IoSlice::new(b"bazz")];
    assert_eq!(aio::single(Writev::new(&file, &bufs).offset(0)).unwrap(), 10);
    assert_eq!(contents(&path), b"foobarbazz");

    let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 3], [0u8; 8]);
    let mut iov = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b), IoSliceMut::new(&mut c)];
    assert_eq!(aio::single(Readv::new(&file, &mut iov).offset(0)).unwrap(), 10);
    assert_eq!((&a, &b, &c[..4]), (b"foo", b"bar", &b"bazz"[..]));

    // At the current position (0, as only positional ops ran): overwrite the start.
    let bufs = [IoSlice::new(b"12"), IoSlice::new(b"34")];
    assert_eq!(aio::single(Writev::new(&file, &bufs)).unwrap(), 4);
    let (mut a, mut b) = ([0u8; 2], [0u8; 2]);
    let mut iov = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    // The position is now 4: the next current-position readv continues from there.
    assert_eq!(aio::single(Readv::new(&file, &mut iov)).unwrap(), 4);
    assert_eq!((&a, &b), (b"ar", b"ba"));
    assert_eq!(contents(&path), b"1234arbazz");
}

#[test]
fn vectored_errors() {
    let dir = TempDir::new("vec-err");
    let path = dir.file("f", b"foobar");
    let read_only = File::open(&path).unwrap();
    let write_only = File::options().write(true).open(&path).unwrap();
    let bufs = [IoSlice::new(b"foo"), IoSlice::new(b"bar")];
    expect_errno(aio::single(Writev::new(&read_only, &bufs)), libc::EBADF);
    let mut a = [0u8; 3];
    let mut iov = [IoSliceMut::new(&mut a)];
    expect_errno(aio::single(Readv::new(&write_only, &mut iov)), libc::EBADF);

    // No bytes at all (no buffers, or only empty ones) is rejected before reaching the OS.
    let empty = [IoSlice::new(b""), IoSlice::new(b"")];
    expect_kind(aio::single(Writev::new(&write_only, &empty)), ErrorKind::InvalidInput);
    expect_kind(aio::single(Writev::new(&write_only, &[])), ErrorKind::InvalidInput);
    let mut none: [IoSliceMut<'_>; 0] = [];
    expect_kind(aio::single(Readv::new(&read_only, &mut none)), ErrorKind::InvalidInput);
    assert_eq!(contents(&path), b"foobar");
}

/// A pseudo-terminal: (master, slave).
fn open_pty() -> std::io::Result<(File, File)> {
    // SAFETY: plain calls on descriptors this function owns; every result is checked, and the
    // name returned by `ptsname` is copied before any other pty call could overwrite it.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if master < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let master = File::from(OwnedFd::from_raw_fd(master));
        use std::os::fd::AsRawFd;
        if libc::grantpt(master.as_raw_fd()) != 0 || libc::unlockpt(master.as_raw_fd()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let name = libc::ptsname(master.as_raw_fd());
        if name.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let name = std::ffi::CStr::from_ptr(name).to_owned();
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if slave < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((master, File::from(OwnedFd::from_raw_fd(slave))))
    }
}

#[test]
fn read_tty_reads_from_a_terminal() {
    let (master, mut slave) = match open_pty() {
        Ok(pty) => pty,
        Err(e) => {
            println!("skipped: no pseudo-terminal available ({e})");
            return;
        }
    };
    // What the slave side writes (no newline, so no output translation) arrives on the master.
    slave.write_all(b"hello").unwrap();
    let mut buf = [0u8; 32];
    let n = aio::single(ReadTty::new(&master, &mut buf)).unwrap();
    assert_eq!(&buf[..n], b"hello");

    let mut empty = [0u8; 0];
    expect_kind(aio::single(ReadTty::new(&master, &mut empty)), ErrorKind::InvalidInput);
    expect_errno(aio::single(ReadTty::new(&BadFd, &mut buf)), libc::EBADF);
}

// Splice is Linux's: elsewhere the posix backend reports EOPNOTSUPP (tested below).
#[cfg(not(target_os = "linux"))]
#[test]
fn splice_is_unsupported_off_linux() {
    let (r, _w) = pipe();
    let (_r2, w2) = pipe();
    expect_errno(aio::single(Splice::new(&r, &w2, 1)), libc::EOPNOTSUPP);
}

#[cfg(target_os = "linux")]
fn memfd(name: &std::ffi::CStr) -> File {
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: `memfd_create` returned a new descriptor owned by nobody else.
    File::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[test]
#[cfg(target_os = "linux")]
fn splice_pipe_to_memfd_and_file() {
    let out = memfd(c"out");
    let (r, mut w) = pipe();
    w.write_all(b"hello world").unwrap();
    assert_eq!(aio::single(Splice::new(&r, &out, 11)).unwrap(), 11);
    let mut back = [0u8; 11];
    out.read_exact_at(&mut back, 0).unwrap();
    assert_eq!(&back, b"hello world");

    // Into a regular file at an explicit offset.
    let dir = TempDir::new("splice");
    let path = dir.file("f", b"0123456789");
    let file = File::options().write(true).open(&path).unwrap();
    w.write_all(b"abc").unwrap();
    assert_eq!(aio::single(Splice::new(&r, &file, 3).offset_out(4)).unwrap(), 3);
    assert_eq!(contents(&path), b"0123abc789");
}

#[test]
#[cfg(target_os = "linux")]
fn splice_errors() {
    let dir = TempDir::new("splice-err");
    let a = File::open(dir.file("a", b"abc")).unwrap();
    let b = File::create(dir.join("b")).unwrap();
    // Neither side is a pipe.
    expect_errno(aio::single(Splice::new(&a, &b, 3)), libc::EINVAL);
    let (r, _w) = pipe();
    expect_kind(aio::single(Splice::new(&r, &b, 0)), ErrorKind::InvalidInput);
    expect_errno(aio::single(Splice::new(&BadFd, &b, 3)), libc::EBADF);
}
