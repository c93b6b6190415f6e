//! Registered buffers: `Dynamic::register_buffers`, `FixedBuf`, `ReadFixed`, `WriteFixed`, on
//! the backend the suite runs on (io_uring's fixed opcodes; plain reads and writes elsewhere).

// Not on WASI: no pipes there (tests/aio_wasi.rs covers aio); not on Windows: errno values.
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};

use common::{TempDir, expect_errno, expect_kind};
use corio_aio::op::{OpExt, ReadFixed, WriteFixed};
use corio_aio::{Dynamic, FixedBuf};

/// Leaked, for a `Dynamic<'static>`'s ops.
fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Runs one op on `ring` and returns its output.
fn run<O: corio_aio::op::Op>(ring: &mut Dynamic<'_>, op: O) -> std::io::Result<O::Output> {
    ring.run(op, |_| {}).and_then(|r| r)
}

/// How many buffers `ring` can hand out right now (taken and given back).
fn free(ring: &Dynamic<'_>) -> usize {
    let taken: Vec<FixedBuf> = std::iter::from_fn(|| ring.buffer()).collect();
    taken.len()
}

#[test]
fn buffers_are_handed_out_once_each_and_come_back() {
    let mut ring = Dynamic::new(4).unwrap();
    assert!(ring.buffer().is_none(), "nothing registered yet");
    ring.register_buffers(3, 1024).unwrap();
    let mut a = ring.buffer().unwrap();
    let b = ring.buffer().unwrap();
    let c = ring.buffer().unwrap();
    assert!(ring.buffer().is_none(), "all three in use");
    let mut indices = [a.index(), b.index(), c.index()];
    indices.sort();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(a.len(), 1024);
    assert!(a.iter().all(|&x| x == 0), "zeroed at first");
    a[..3].copy_from_slice(b"abc");
    assert_eq!(&a[..3], b"abc");
    drop(b);
    assert_eq!(free(&ring), 1);
    drop((a, c));
    assert_eq!(free(&ring), 3);
}

#[test]
fn registering_fails_cleanly() {
    let mut ring = Dynamic::new(4).unwrap();
    expect_kind(ring.register_buffers(0, 4096), ErrorKind::InvalidInput);
    expect_kind(ring.register_buffers(4, 0), ErrorKind::InvalidInput);
    expect_kind(ring.register_buffers(2, usize::MAX / 2), ErrorKind::InvalidInput);
    assert!(ring.buffer().is_none(), "nothing registered by a failed call");
    ring.register_buffers(2, 4096).unwrap();
    expect_kind(ring.register_buffers(2, 4096), ErrorKind::AlreadyExists);
    assert_eq!(free(&ring), 2);
}

#[test]
fn write_then_read_a_file() {
    let dir = TempDir::new("fixed-file");
    let path = dir.join("f");
    let file = leak(OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap());
    let mut ring = Dynamic::new(4).unwrap();
    ring.register_buffers(2, 4096).unwrap();
    let mut out = ring.buffer().unwrap();
    out[..11].copy_from_slice(b"hello fixed");
    let (n, out) = run(&mut ring, WriteFixed::new(file, out, 11).offset(0)).unwrap();
    assert_eq!(n, 11);
    assert_eq!(std::fs::read(&path).unwrap(), b"hello fixed");
    // Linked: a write from one buffer, then a read into the other at an offset.
    let next = ring.buffer().unwrap();
    let (written, read) = ring
        .run((WriteFixed::new(file, out, 5).offset(11).soft(), ReadFixed::new(file, next).offset(6)), |_| {})
        .unwrap();
    let (written, (read, into)) = (written.unwrap(), read.unwrap());
    assert_eq!(written.0, 5);
    assert_eq!(&into[..read], b"fixedhello");
    // At most `len` bytes, at the file position.
    drop(written);
    let next = ring.buffer().unwrap();
    let (read, buf) = run(&mut ring, ReadFixed::new(file, next).len(4)).unwrap();
    assert_eq!(&buf[..read], b"hell");
    drop((into, buf));
    assert_eq!(free(&ring), 2);
}

#[test]
fn read_from_a_pipe_waits_for_data() {
    let (r, mut w) = common::pipe();
    let r = leak(r);
    let mut ring = Dynamic::new(4).unwrap();
    ring.register_buffers(1, 64).unwrap();
    let buf = ring.buffer().unwrap();
    let id = ring.queue(ReadFixed::new(r, buf)).unwrap();
    ring.complete(corio_aio::Mode::Nonblocking, |_| panic!("nothing to read yet")).unwrap();
    w.write_all(b"ping").unwrap();
    let mut got = None;
    while got.is_none() {
        ring.complete(corio_aio::Mode::Blocking, |c| {
            assert_eq!(c.id, id);
            got = Some(c.output::<ReadFixed>().unwrap());
        })
        .unwrap();
    }
    let (n, buf) = got.unwrap();
    assert_eq!(&buf[..n], b"ping");
}

#[test]
fn failures_return_the_buffer() {
    let dir = TempDir::new("fixed-err");
    let path = dir.file("f", b"data");
    let read_only = leak(File::open(&path).unwrap());
    let mut ring = Dynamic::new(4).unwrap();
    ring.register_buffers(2, 16).unwrap();
    // Refused when queued: nothing runs, the buffer is back at once.
    expect_kind(
        {
            let buf = ring.buffer().unwrap();
            run(&mut ring, WriteFixed::new(read_only, buf, 0))
        },
        ErrorKind::InvalidInput,
    );
    expect_kind(
        {
            let buf = ring.buffer().unwrap();
            run(&mut ring, WriteFixed::new(read_only, buf, 17))
        },
        ErrorKind::InvalidInput,
    );
    expect_kind(
        {
            let buf = ring.buffer().unwrap();
            run(&mut ring, ReadFixed::new(read_only, buf).len(17))
        },
        ErrorKind::InvalidInput,
    );
    assert_eq!(free(&ring), 2);
    // Failing in the OS.
    expect_errno(
        {
            let buf = ring.buffer().unwrap();
            run(&mut ring, WriteFixed::new(read_only, buf, 4))
        },
        libc::EBADF,
    );
    assert_eq!(free(&ring), 2);
    // A failure fails its soft link: the read after it is canceled, its buffer back too.
    let (one, two) = (ring.buffer().unwrap(), ring.buffer().unwrap());
    let (first, second) =
        ring.run((WriteFixed::new(read_only, one, 4).soft(), ReadFixed::new(read_only, two)), |_| {}).unwrap();
    expect_errno(first, libc::EBADF);
    assert!(corio_aio::is_canceled(&second.unwrap_err()));
    assert_eq!(free(&ring), 2);
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

#[test]
fn a_buffer_of_another_ring_or_an_outlived_ring_is_plain_memory() {
    let dir = TempDir::new("fixed-other");
    let path = dir.file("f", b"0123456789");
    let file = leak(File::open(&path).unwrap());
    let mut owner = Dynamic::new(2).unwrap();
    owner.register_buffers(1, 8).unwrap();
    let buf = owner.buffer().unwrap();
    // Another ring, with its own registered buffers, and the thread's cached one without.
    let mut other = Dynamic::new(2).unwrap();
    other.register_buffers(1, 8).unwrap();
    let (n, buf) = run(&mut other, ReadFixed::new(file, buf).offset(0)).unwrap();
    assert_eq!(&buf[..n], b"01234567");
    let (n, buf) = corio_aio::single(ReadFixed::new(file, buf).offset(2).len(3)).unwrap();
    assert_eq!(&buf[..n], b"234");
    // The buffer outlives its ring.
    drop(owner);
    let (n, buf) = run(&mut other, ReadFixed::new(file, buf).offset(8)).unwrap();
    assert_eq!(&buf[..n], b"89");
}
