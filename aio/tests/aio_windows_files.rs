//! aio's file ops on the IOCP backend, written for Windows (run under wine in CI: `cargo test
//! -p corio-aio --target x86_64-pc-windows-gnu --test aio_windows_files`, see `.ci/platforms`),
//! with nothing Unix-specific, so the same tests also run natively on the default backend
//! here; `aio_windows` has the sockets, poll, events, timers and processes.
//!
//! Files opened by the ops (read and write at offsets, readv/writev, end of file, fsync,
//! rename without replacing, unlink, mkdir, paths relative to a directory, metadata,
//! truncate, fallocate, hard links) and by std (synchronous handles, through the worker pool;
//! readv/writev, read_tty); on Windows, that overlapped files need an offset.

// Not on WASI: `common` needs sockets; tests/aio_wasi.rs covers aio there.
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::{ErrorKind, IoSlice, IoSliceMut};

use corio_aio as aio;
use corio_aio::op::{
    Close, Fallocate, FileStat, Ftruncate, LinkAt, MkdirAt, OpExt, OpenAt, Read, ReadTty, Readv, RenameAt, Statx,
    UnlinkAt, Write, Writev,
};

#[test]
fn files_opened_by_the_ops() {
    let dir = common::TempDir::new("windows-files");
    let path = dir.join("a.txt");
    let file = aio::single(OpenAt::new(&path).write(true).create(true).truncate(true)).unwrap();
    let (a, b) =
        aio::multi((Write::new(&file, b"hello").offset(0).soft(), Write::new(&file, b"WORLD").offset(10))).unwrap();
    assert_eq!((a, b), (5, 5));
    aio::single(corio_aio::op::Fsync::new(&file)).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(aio::single(Read::new(&file, &mut buf).offset(11)).unwrap(), 4);
    assert_eq!(&buf, b"ORLD");
    assert_eq!(aio::single(Read::new(&file, &mut buf).offset(100)).unwrap(), 0, "end of file");
    let content = std::fs::read(&path).unwrap();
    assert_eq!((&content[..5], &content[10..]), (&b"hello"[..], &b"WORLD"[..]));
    // Vectored, at offsets: every buffer in order; a read stops at the end of the file.
    let wrote = aio::single(Writev::new(&file, &[IoSlice::new(b"ab"), IoSlice::new(b"cde")]).offset(20)).unwrap();
    assert_eq!(wrote, 5);
    let (mut x, mut y, mut z) = ([0u8; 3], [0u8; 3], [0u8; 3]);
    let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y), IoSliceMut::new(&mut z)];
    assert_eq!(aio::single(Readv::new(&file, &mut bufs).offset(19)).unwrap(), 6, "short at end of file");
    assert_eq!((&x, &y[..3]), (&[0, b'a', b'b'], &b"cde"[..]));
    let mut bufs = [IoSliceMut::new(&mut x)];
    assert_eq!(aio::single(Readv::new(&file, &mut bufs).offset(100)).unwrap(), 0, "end of file");
    aio::single(Close::new(file)).unwrap();
    // A vectored write to a file opened read-only fails.
    let file = aio::single(OpenAt::new(&path)).unwrap();
    assert!(aio::single(Writev::new(&file, &[IoSlice::new(b"x")]).offset(0)).is_err());
    aio::single(Close::new(file)).unwrap();

    // Missing files, renames that would replace, directories.
    let err = aio::single(OpenAt::new(&dir.join("missing"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    let other = dir.join("b.txt");
    std::fs::write(&other, b"b").unwrap();
    let err = aio::single(RenameAt::new(&path, &other)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
    aio::single(RenameAt::new(&path, &other).replace()).unwrap();
    assert_eq!(std::fs::read(&other).unwrap().len(), 25);
    let sub = dir.join("sub");
    aio::single(MkdirAt::new(&sub)).unwrap();
    assert!(aio::single(MkdirAt::new(&sub)).is_err_and(|e| e.kind() == ErrorKind::AlreadyExists));
    aio::multi((UnlinkAt::new(&sub).directory().soft(), UnlinkAt::new(&other))).unwrap();
    assert!(!sub.exists() && !other.exists());
    assert_eq!(aio::single(UnlinkAt::new(&other)).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn paths_relative_to_a_directory() {
    let scratch = common::TempDir::new("windows-dirs");
    let dir = aio::single(OpenAt::new(scratch.path()).directory()).unwrap();
    let file = aio::single(OpenAt::new("a.txt").dir(&dir).write(true).create(true)).unwrap();
    assert_eq!(aio::single(Write::new(&file, b"at").offset(0)).unwrap(), 2);
    aio::single(Close::new(file)).unwrap();
    assert_eq!(std::fs::read(scratch.join("a.txt")).unwrap(), b"at");
    aio::single(MkdirAt::new("sub").dir(&dir)).unwrap();
    let sub = aio::single(OpenAt::new("sub").dir(&dir).directory()).unwrap();
    // From one directory into another, with a `/` in a relative path, and back by name.
    aio::single(RenameAt::new("a.txt", "sub/b.txt").old_dir(&dir).new_dir(&dir)).unwrap();
    assert!(scratch.join("sub").join("b.txt").exists());
    aio::single(RenameAt::new("b.txt", "../c.txt").old_dir(&sub).new_dir(&sub)).unwrap();
    assert!(scratch.join("c.txt").exists());
    let err = aio::single(OpenAt::new("missing").dir(&dir)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    // A regular file is no directory to resolve against.
    let plain = aio::single(OpenAt::new("c.txt").dir(&dir)).unwrap();
    assert!(aio::single(OpenAt::new("x").dir(&plain)).is_err());
    drop(plain);
    aio::multi((
        UnlinkAt::new("c.txt").dir(&dir).soft(),
        Close::new(sub).soft(),
        UnlinkAt::new("sub").dir(&dir).directory(),
    ))
    .unwrap();
    assert!(!scratch.join("sub").exists() && !scratch.join("c.txt").exists());
    drop(dir);
}

#[test]
fn metadata_by_path_by_directory_and_of_an_open_file() {
    let scratch = common::TempDir::new("windows-statx");
    std::fs::write(scratch.join("f"), b"12345").unwrap();
    let mut stat = FileStat::default();
    aio::single(Statx::new(&scratch.join("f"), &mut stat)).unwrap();
    assert!(stat.is_file() && !stat.is_dir() && stat.len() == 5, "{stat:?}");
    assert_eq!(stat.modified(), std::fs::metadata(scratch.join("f")).unwrap().modified().unwrap());
    let dir = aio::single(OpenAt::new(scratch.path()).directory()).unwrap();
    let mut rel = FileStat::default();
    aio::single(Statx::new("f", &mut rel).dir(&dir)).unwrap();
    assert_eq!(rel.len(), 5);
    let mut of_dir = FileStat::default();
    aio::single(Statx::file(&dir, &mut of_dir)).unwrap();
    assert!(of_dir.is_dir() && !of_dir.is_file(), "{of_dir:?}");
    let err = aio::single(Statx::new("missing", &mut stat).dir(&dir)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[test]
fn truncate_allocate_and_hard_links() {
    let scratch = common::TempDir::new("windows-sizes");
    let path = scratch.join("f");
    std::fs::write(&path, b"0123456789").unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    aio::single(Ftruncate::new(&file, 4)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"0123");
    aio::single(Fallocate::new(&file, 0, 8192)).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 8192, "grown to cover the range");
    aio::single(Fallocate::new(&file, 0, 16)).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 8192, "never cut");
    // On a file opened by the ops too (for overlapped IO).
    let opened = aio::single(OpenAt::new(&path).write(true)).unwrap();
    aio::single(Ftruncate::new(&opened, 2)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"01");
    aio::single(LinkAt::new(&path, &scratch.join("g"))).unwrap();
    assert_eq!(std::fs::read(scratch.join("g")).unwrap(), b"01");
    let dir = aio::single(OpenAt::new(scratch.path()).directory()).unwrap();
    aio::single(LinkAt::new("f", "h").old_dir(&dir).new_dir(&dir)).unwrap();
    assert_eq!(std::fs::read(scratch.join("h")).unwrap(), b"01");
    let err = aio::single(LinkAt::new(&path, &scratch.join("g"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
    let err = aio::single(LinkAt::new(&scratch.join("missing"), &scratch.join("i"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    // A read-only handle cannot be resized.
    let read_only = std::fs::File::open(&path).unwrap();
    assert!(aio::single(Ftruncate::new(&read_only, 0)).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"01");
    #[cfg(windows)]
    {
        use corio_aio::op::{Advice, Fadvise, Madvise};
        let unsupported = |e: std::io::Error| assert_eq!(e.kind(), ErrorKind::Unsupported, "{e:?}");
        unsupported(aio::single(Fadvise::new(&file, 0, 0, Advice::Sequential)).unwrap_err());
        unsupported(aio::single(Madvise::new(&mut [0u8; 4096], Advice::WillNeed)).unwrap_err());
        unsupported(aio::single(Fallocate::new(&file, 0, 16).keep_size()).unwrap_err());
        unsupported(aio::single(LinkAt::new(&path, &scratch.join("j")).follow()).unwrap_err());
    }
}

#[test]
fn files_opened_by_std() {
    let dir = common::TempDir::new("windows-std");
    let path = dir.join("c.txt");
    std::fs::write(&path, b"0123456789").unwrap();
    // std opens files for synchronous IO: the IOCP driver runs these on its pool.
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let mut buf = [0u8; 3];
    assert_eq!(aio::single(Read::new(&file, &mut buf).offset(4)).unwrap(), 3);
    assert_eq!(&buf, b"456");
    assert_eq!(aio::single(Write::new(&file, b"xy").offset(8)).unwrap(), 2);
    // At the file position, which std and the op share. (On Windows a positional read or
    // write of a synchronous handle moves the position too, as `ReadFile` does: seek first.)
    std::io::Seek::seek(&mut &file, std::io::SeekFrom::Start(0)).unwrap();
    assert_eq!(aio::single(Read::new(&file, &mut buf)).unwrap(), 3);
    assert_eq!(&buf, b"012");
    // Vectored, through the pool too: at an offset, then short at the end of the file.
    assert_eq!(aio::single(Writev::new(&file, &[IoSlice::new(b"A"), IoSlice::new(b"BC")]).offset(1)).unwrap(), 3);
    let (mut x, mut y) = ([0u8; 4], [0u8; 8]);
    let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
    assert_eq!(aio::single(Readv::new(&file, &mut bufs).offset(0)).unwrap(), 10);
    assert_eq!((&x, &y[..6]), (b"0ABC", &b"4567xy"[..]));
    drop(file);
    assert_eq!(std::fs::read(&path).unwrap(), b"0ABC4567xy");
    let file = std::fs::File::open(&path).unwrap();
    assert!(aio::single(Writev::new(&file, &[IoSlice::new(b"x")]).offset(0)).is_err(), "opened read-only");
    // `ReadTty` of something that is no terminal is a read at the file position.
    let mut buf = [0u8; 4];
    assert_eq!(aio::single(ReadTty::new(&file, &mut buf)).unwrap(), 4);
    assert_eq!(&buf, b"0ABC");
}

#[cfg(windows)]
mod windows_only {
    use super::*;

    #[test]
    fn overlapped_files_need_an_offset() {
        let dir = common::TempDir::new("windows-offset");
        let file = aio::single(OpenAt::new(&dir.join("d")).write(true).create(true)).unwrap();
        let err = aio::single(Write::new(&file, b"x")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
        let err = aio::single(Writev::new(&file, &[IoSlice::new(b"x")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    }
}
