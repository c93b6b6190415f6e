//! Filesystem ops: openat, close, renameat, unlinkat, mkdirat, symlinkat, statx.

// Not on WASI: wasm32-wasip1 has no pipes (the file ops themselves run under WASI in aio_wasi.rs); tests/aio_wasi.rs covers aio there.
// Not on Windows: errno values, permission modes and directory-relative paths; Windows lacks *at calls (tests/aio_windows.rs covers its file ops).
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;

use common::{TempDir, contents, expect_errno, expect_kind};
use corio_aio::op::{Close, FileStat, MkdirAt, OpExt, OpenAt, RenameAt, Statx, SymlinkAt, UnlinkAt, Write};
use corio_aio::{self as aio, EventSource};

#[test]
fn openat_missing_and_invalid() {
    let dir = TempDir::new("open-err");
    expect_kind(aio::single(OpenAt::new(&dir.join("missing"))), ErrorKind::NotFound);
    // A missing parent directory is NotFound too, even when creating.
    expect_kind(aio::single(OpenAt::new(&dir.join("no/such")).write(true).create(true)), ErrorKind::NotFound);
    let err = expect_kind(aio::single(OpenAt::new("bad\0path")), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NUL"), "{err}");
    expect_kind(aio::single(OpenAt::new(&dir.join("f")).read(false)), ErrorKind::InvalidInput);
    expect_kind(aio::single(OpenAt::new(&dir.join("f")).create(true)), ErrorKind::InvalidInput);
    assert!(!dir.join("f").exists(), "nothing was created by the rejected opens");
    // O_DIRECTORY on a file.
    let file = dir.file("file", b"");
    expect_errno(aio::single(OpenAt::new(&file).directory()), libc::ENOTDIR);
}

#[test]
fn openat_create_read_write() {
    let dir = TempDir::new("open");
    let path = dir.join("f");
    let file = aio::single(OpenAt::new(&path).write(true).create(true)).unwrap();
    assert!(file.metadata().unwrap().is_file());
    assert_eq!(aio::single(Write::new(&file, b"foobar")).unwrap(), 6);
    drop(file);
    // Default: read-only.
    let mut file = aio::single(OpenAt::new(&path)).unwrap();
    let mut s = String::new();
    file.read_to_string(&mut s).unwrap();
    assert_eq!(s, "foobar");
    expect_errno(aio::single(Write::new(&file, b"x")), libc::EBADF);
    // `create` on an existing file opens it without truncating.
    drop(aio::single(OpenAt::new(&path).write(true).create(true)).unwrap());
    assert_eq!(contents(&path), b"foobar");
}

#[test]
fn openat_truncate_append_create_new() {
    let dir = TempDir::new("open-flags");
    let path = dir.file("f", b"foo");
    let appender = aio::single(OpenAt::new(&path).append(true).read(false)).unwrap();
    assert_eq!(aio::single(Write::new(&appender, b"bar")).unwrap(), 3);
    assert_eq!(contents(&path), b"foobar");

    let truncated = aio::single(OpenAt::new(&path).write(true).truncate(true)).unwrap();
    assert_eq!(truncated.metadata().unwrap().len(), 0);
    assert_eq!(contents(&path), b"");

    expect_kind(aio::single(OpenAt::new(&path).write(true).create_new(true)), ErrorKind::AlreadyExists);
    let fresh = dir.join("fresh");
    let file = aio::single(OpenAt::new(&fresh).write(true).create_new(true).mode(0o600)).unwrap();
    let mode = file.metadata().unwrap().permissions().mode();
    // The umask can only clear bits: nothing beyond 0o600 may be set (the default would be 0o644).
    assert_eq!(mode & 0o777 & !0o600, 0, "mode {mode:o}");
    assert_eq!(mode & 0o200, 0o200, "owner can write: mode {mode:o}");
}

#[test]
fn openat_relative_to_a_directory() {
    let dir = TempDir::new("open-dir");
    dir.file("inner", b"inside");
    let d = aio::single(OpenAt::new(dir.path()).directory().read(false)).unwrap();
    assert!(d.metadata().unwrap().is_dir());
    let mut f = aio::single(OpenAt::new("inner").dir(&d)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "inside");
    expect_kind(aio::single(OpenAt::new("missing").dir(&d)), ErrorKind::NotFound);
}

#[test]
fn close_file_dir_socket_and_event_source() {
    let dir = TempDir::new("close");
    let file = File::create(dir.join("f")).unwrap();
    aio::single(Close::new(file)).unwrap();
    let d = aio::single(OpenAt::new(dir.path()).directory()).unwrap();
    aio::single(Close::new(d)).unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    aio::single(Close::new(socket)).unwrap();
    let (client, server) = common::tcp_pair();
    let (a, b) = aio::multi((Close::new(client), Close::new(server))).unwrap();
    assert_eq!((a, b), ((), ()));
    aio::single(Close::new(OwnedFd::from(EventSource::new().unwrap()))).unwrap();
}

#[test]
fn close_really_closes() {
    // Closing the only write end of a pipe makes the read end see end of file.
    let (r, w) = common::pipe();
    aio::single(Close::new(w)).unwrap();
    assert!(common::hung_up(&r), "the write end is still open");
}

#[test]
fn renameat() {
    let dir = TempDir::new("rename");
    let (old, new) = (dir.join("test"), dir.join("new_test"));
    expect_kind(aio::single(RenameAt::new(&old, &new)), ErrorKind::NotFound);
    std::fs::write(&old, b"first").unwrap();
    aio::single(RenameAt::new(&old, &new)).unwrap();
    assert_eq!(contents(&new), b"first");
    assert_eq!(std::fs::metadata(&old).unwrap_err().kind(), ErrorKind::NotFound);

    // Never replaces by default...
    std::fs::write(&old, b"second").unwrap();
    expect_kind(aio::single(RenameAt::new(&old, &new)), ErrorKind::AlreadyExists);
    assert_eq!((contents(&old), contents(&new)), (b"second".to_vec(), b"first".to_vec()));
    // ...unless asked to.
    aio::single(RenameAt::new(&old, &new).replace()).unwrap();
    assert_eq!(contents(&new), b"second");
    assert!(!old.exists());

    // Relative to directories.
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let d = File::open(dir.path()).unwrap();
    let s = File::open(&sub).unwrap();
    aio::single(RenameAt::new("new_test", "moved").old_dir(&d).new_dir(&s)).unwrap();
    assert_eq!(contents(&sub.join("moved")), b"second");
    expect_kind(aio::single(RenameAt::new("a\0b", "c")), ErrorKind::InvalidInput);
}

#[test]
fn unlinkat_files_and_directories() {
    let dir = TempDir::new("unlink");
    let file = dir.join("test");
    expect_kind(aio::single(UnlinkAt::new(&file)), ErrorKind::NotFound);
    std::fs::write(&file, b"x").unwrap();
    aio::single(UnlinkAt::new(&file)).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap_err().kind(), ErrorKind::NotFound);

    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    // A directory needs `.directory()`; a file must not have it.
    expect_errno(aio::single(UnlinkAt::new(&sub)), libc::EISDIR);
    std::fs::write(sub.join("inner"), b"x").unwrap();
    expect_kind(aio::single(UnlinkAt::new(&sub).directory()), ErrorKind::DirectoryNotEmpty);
    expect_errno(aio::single(UnlinkAt::new(&sub.join("inner")).directory()), libc::ENOTDIR);
    let s = File::open(&sub).unwrap();
    aio::single(UnlinkAt::new("inner").dir(&s)).unwrap();
    aio::single(UnlinkAt::new(&sub).directory()).unwrap();
    assert!(!sub.exists());
}

#[test]
fn mkdirat() {
    let dir = TempDir::new("mkdir");
    let path = dir.join("test");
    aio::single(MkdirAt::new(&path)).unwrap();
    assert!(std::fs::metadata(&path).unwrap().is_dir());
    expect_kind(aio::single(MkdirAt::new(&path)), ErrorKind::AlreadyExists);
    expect_kind(aio::single(MkdirAt::new(&dir.join("no/parent"))), ErrorKind::NotFound);

    let d = File::open(dir.path()).unwrap();
    aio::single(MkdirAt::new("private").dir(&d).mode(0o700)).unwrap();
    let mode = std::fs::metadata(dir.join("private")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    expect_kind(aio::single(MkdirAt::new("x\0y")), ErrorKind::InvalidInput);
}

#[test]
fn symlinkat() {
    let dir = TempDir::new("symlink");
    let link = dir.join("test");
    let target = dir.join("target");
    aio::single(SymlinkAt::new(&target, &link)).unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), target);
    // Dangling until the target exists.
    assert_eq!(std::fs::metadata(&link).unwrap_err().kind(), ErrorKind::NotFound);
    std::fs::write(&target, b"pointee").unwrap();
    assert_eq!(contents(&link), b"pointee");
    expect_kind(aio::single(SymlinkAt::new(&target, &link)), ErrorKind::AlreadyExists);

    let d = File::open(dir.path()).unwrap();
    aio::single(SymlinkAt::new("target", "relative").dir(&d)).unwrap();
    assert_eq!(contents(&dir.join("relative")), b"pointee");
    expect_kind(aio::single(SymlinkAt::new("t", "l\0")), ErrorKind::InvalidInput);
}

#[test]
fn statx_files_directories_and_links() {
    let dir = TempDir::new("statx");
    let path = dir.file("f", b"12345");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut stat = FileStat::default();
    aio::single(Statx::new(&path, &mut stat)).unwrap();
    let std_meta = std::fs::metadata(&path).unwrap();
    assert!(stat.is_file() && !stat.is_dir() && !stat.is_symlink(), "{stat:?}");
    assert_eq!((stat.len(), stat.mode() & 0o7777), (5, 0o640));
    assert_eq!(stat.modified(), std_meta.modified().unwrap());

    // Relative to a directory; the directory itself; an open file (fstat).
    let d = File::open(dir.path()).unwrap();
    let mut rel = FileStat::default();
    aio::single(Statx::new("f", &mut rel).dir(&d)).unwrap();
    assert_eq!((rel.len(), rel.mode()), (5, stat.mode()));
    let mut of_dir = FileStat::default();
    aio::single(Statx::file(&d, &mut of_dir)).unwrap();
    assert!(of_dir.is_dir() && !of_dir.is_file());
    let file = File::open(&path).unwrap();
    let mut of_file = FileStat::default();
    aio::single(Statx::file(&file, &mut of_file)).unwrap();
    assert_eq!(of_file.len(), 5);

    // A link is followed unless asked not to.
    std::os::unix::fs::symlink("f", dir.join("link")).unwrap();
    let (mut target, mut link) = (FileStat::default(), FileStat::default());
    aio::multi((Statx::new(&dir.join("link"), &mut target), Statx::new(&dir.join("link"), &mut link).no_follow()))
        .unwrap();
    assert!(target.is_file() && target.len() == 5);
    assert!(link.is_symlink() && link.len() == 1, "the link holds the 1-byte name: {link:?}");
}

#[test]
fn statx_failures() {
    let dir = TempDir::new("statx-err");
    let mut stat = FileStat::default();
    expect_kind(aio::single(Statx::new(&dir.join("missing"), &mut stat)), ErrorKind::NotFound);
    expect_kind(aio::single(Statx::new("bad\0path", &mut stat)), ErrorKind::InvalidInput);
    // A file is no directory to go through, nor to resolve against.
    let file = dir.file("f", b"");
    expect_errno(aio::single(Statx::new(&file.join("below"), &mut stat)), libc::ENOTDIR);
    let f = File::open(&file).unwrap();
    expect_errno(aio::single(Statx::new("x", &mut stat).dir(&f)), libc::ENOTDIR);
    // A dangling link: its target is missing, the link itself is there.
    std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
    expect_kind(aio::single(Statx::new(&dir.join("dangling"), &mut stat)), ErrorKind::NotFound);
    aio::single(Statx::new(&dir.join("dangling"), &mut stat).no_follow()).unwrap();
    assert!(stat.is_symlink());
    // As in the kernel (`io_uring/statx.c` never fails the link), a failing statx does not
    // break its soft link: the chain goes on.
    let (mut a, mut b) = (FileStat::default(), FileStat::default());
    let (first, second) =
        aio::complete((Statx::new(&dir.join("missing"), &mut a).soft(), Statx::new(&file, &mut b))).unwrap();
    assert_eq!(first.unwrap_err().kind(), ErrorKind::NotFound);
    second.unwrap();
    assert!(b.is_file());
}
