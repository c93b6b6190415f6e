//! File ops: fallocate, ftruncate, fadvise, madvise, linkat, getxattr/setxattr; on the
//! backend the suite runs on, and once more as an old kernel (io_uring without the opcodes of
//! 5.15–6.9, where the ring falls back to syscalls).

// Not on WASI: tests/aio_wasi.rs covers aio there (no xattrs, no madvise, errno values).
// Not on Windows: errno values and xattrs; tests/aio_windows.rs covers its file ops.
#![cfg(not(any(target_os = "wasi", windows)))]

mod common;

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;

use common::{TempDir, contents, expect_errno, expect_kind, is_io_uring};
use corio_aio::op::{Advice, Fadvise, Fallocate, Ftruncate, GetXattr, LinkAt, Madvise, OpExt, SetXattr, Write};
use corio_aio::{self as aio, Dynamic, is_canceled};

fn writable(path: &std::path::Path) -> File {
    OpenOptions::new().read(true).write(true).open(path).unwrap()
}

#[test]
fn fallocate_grows_and_keeps_size() {
    let dir = TempDir::new("fallocate");
    let file = writable(&dir.file("f", b"abc"));
    aio::single(Fallocate::new(&file, 0, 64 * 1024)).unwrap();
    let meta = file.metadata().unwrap();
    assert_eq!(meta.len(), 64 * 1024);
    assert!(meta.blocks() * 512 >= 64 * 1024, "space allocated: {} blocks", meta.blocks());
    assert_eq!(&contents(&dir.join("f"))[..4], b"abc\0", "the data stays, the rest reads as zeros");
    // Within the file: nothing changes in size.
    aio::single(Fallocate::new(&file, 10, 10)).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 64 * 1024);
    #[cfg(target_os = "linux")]
    {
        aio::single(Fallocate::new(&file, 64 * 1024, 64 * 1024).keep_size()).unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(meta.len(), 64 * 1024, "keep_size");
        assert!(meta.blocks() * 512 >= 128 * 1024, "keep_size allocates: {} blocks", meta.blocks());
        // Punch a hole: the bytes read as zeros.
        std::fs::write(dir.join("g"), [7u8; 8192]).unwrap();
        let g = writable(&dir.join("g"));
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        aio::single(Fallocate::new(&g, 0, 4096).mode(punch)).unwrap();
        let data = contents(&dir.join("g"));
        assert!(data[..4096].iter().all(|&b| b == 0) && data[4096..].iter().all(|&b| b == 7));
    }
}

#[test]
fn fallocate_failures() {
    let dir = TempDir::new("fallocate-err");
    let path = dir.file("f", b"");
    let read_only = File::open(&path).unwrap();
    expect_errno(aio::single(Fallocate::new(&read_only, 0, 4096)), libc::EBADF);
    let file = writable(&path);
    expect_kind(aio::single(Fallocate::new(&file, 0, 0)), ErrorKind::InvalidInput);
    expect_kind(aio::single(Fallocate::new(&file, u64::MAX, 2)), ErrorKind::InvalidInput);
    #[cfg(target_os = "linux")]
    expect_errno(aio::single(Fallocate::new(&file, 0, 4096).mode(libc::FALLOC_FL_PUNCH_HOLE)), libc::EOPNOTSUPP);
    // A pipe has no space to allocate.
    let (_r, w) = common::pipe();
    expect_errno(aio::single(Fallocate::new(&w, 0, 4096)), libc::ESPIPE);
    // As in the kernel (`io_uring/sync.c` never fails the link), the soft chain goes on.
    let (first, second) =
        aio::complete((Fallocate::new(&read_only, 0, 4096).soft(), Write::new(&file, b"after").offset(0))).unwrap();
    expect_errno(first, libc::EBADF);
    assert_eq!(second.unwrap(), 5);
}

#[test]
fn ftruncate_cuts_and_extends() {
    let dir = TempDir::new("ftruncate");
    let path = dir.file("f", b"0123456789");
    let file = writable(&path);
    aio::single(Ftruncate::new(&file, 4)).unwrap();
    assert_eq!(contents(&path), b"0123");
    aio::single(Ftruncate::new(&file, 6)).unwrap();
    assert_eq!(contents(&path), b"0123\0\0");
    // Linked: write, then cut what was written.
    aio::multi((Write::new(&file, b"abcdefgh").offset(0).soft(), Ftruncate::new(&file, 3))).unwrap();
    assert_eq!(contents(&path), b"abc");
}

#[test]
fn ftruncate_failures() {
    let dir = TempDir::new("ftruncate-err");
    let path = dir.file("f", b"0123");
    let read_only = File::open(&path).unwrap();
    expect_errno(aio::single(Ftruncate::new(&read_only, 1)), libc::EINVAL);
    let d = File::open(dir.path()).unwrap();
    expect_errno(aio::single(Ftruncate::new(&d, 0)), libc::EINVAL);
    let file = writable(&path);
    expect_kind(aio::single(Ftruncate::new(&file, u64::MAX)), ErrorKind::InvalidInput);
    assert_eq!(contents(&path), b"0123", "nothing changed");
    // `io_uring/truncate.c` does not fail the link: the chain goes on.
    let (first, second) = aio::complete((Ftruncate::new(&read_only, 1).soft(), Ftruncate::new(&file, 2))).unwrap();
    expect_errno(first, libc::EINVAL);
    second.unwrap();
    assert_eq!(contents(&path), b"01");
}

#[test]
fn fadvise_hints_and_failures() {
    let dir = TempDir::new("fadvise");
    let path = dir.file("f", &[1u8; 8192]);
    let file = File::open(&path).unwrap();
    for advice in [Advice::Normal, Advice::Sequential, Advice::Random, Advice::WillNeed, Advice::DontNeed] {
        aio::single(Fadvise::new(&file, 0, 0, advice)).unwrap();
    }
    aio::single(Fadvise::new(&file, 4096, 4096, Advice::WillNeed)).unwrap();
    // A pipe cannot be advised: ESPIPE, which (`io_uring/advise.c`: `req_set_fail`) fails the
    // soft link, unlike the other file ops here.
    let (r, _w) = common::pipe();
    expect_errno(aio::single(Fadvise::new(&r, 0, 0, Advice::Sequential)), libc::ESPIPE);
    let (first, second) =
        aio::complete((Fadvise::new(&r, 0, 0, Advice::Normal).soft(), Fadvise::new(&file, 0, 0, Advice::Normal)))
            .unwrap();
    expect_errno(first, libc::ESPIPE);
    assert!(is_canceled(&second.unwrap_err()));
}

/// A page-aligned region of whole pages inside `memory`.
fn pages(memory: &mut [u8], count: usize) -> &mut [u8] {
    // SAFETY: sysconf only reads a system value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let start = memory.as_ptr().align_offset(page);
    &mut memory[start..start + count * page]
}

#[test]
fn madvise_whole_pages() {
    let mut memory = vec![5u8; 1 << 20];
    let region = pages(&mut memory, 4);
    aio::single(Madvise::new(region, Advice::WillNeed)).unwrap();
    aio::single(Madvise::new(region, Advice::Sequential)).unwrap();
    assert!(region.iter().all(|&b| b == 5), "a hint changes no data");
    #[cfg(target_os = "linux")]
    {
        // Anonymous pages dropped: they read as zeros after (a large allocation is its own
        // private mapping).
        aio::single(Madvise::new(region, Advice::DontNeed)).unwrap();
        assert!(region.iter().all(|&b| b == 0), "MADV_DONTNEED discards private anonymous pages");
    }
}

#[test]
fn madvise_failures() {
    let mut memory = vec![0u8; 1 << 20];
    let region = pages(&mut memory, 2);
    // Not page-aligned, not whole pages, empty: refused before the kernel rounds anything.
    expect_kind(aio::single(Madvise::new(&mut region[1..], Advice::Normal)), ErrorKind::InvalidInput);
    let len = region.len();
    expect_kind(aio::single(Madvise::new(&mut region[..len - 1], Advice::Normal)), ErrorKind::InvalidInput);
    expect_kind(aio::single(Madvise::new(&mut [], Advice::Normal)), ErrorKind::InvalidInput);
}

#[test]
fn linkat_links_files() {
    let dir = TempDir::new("linkat");
    let old = dir.file("old", b"shared");
    aio::single(LinkAt::new(&old, &dir.join("new"))).unwrap();
    assert_eq!(contents(&dir.join("new")), b"shared");
    assert_eq!(std::fs::metadata(&old).unwrap().nlink(), 2);
    // Relative to directories.
    let d = File::open(dir.path()).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let sub = File::open(dir.join("sub")).unwrap();
    aio::single(LinkAt::new("old", "third").old_dir(&d).new_dir(&sub)).unwrap();
    assert_eq!(contents(&dir.join("sub/third")), b"shared");
    // A symbolic link is linked itself, or its target with `follow`.
    std::os::unix::fs::symlink("old", dir.join("sym")).unwrap();
    aio::single(LinkAt::new(&dir.join("sym"), &dir.join("sym2"))).unwrap();
    assert!(std::fs::symlink_metadata(dir.join("sym2")).unwrap().file_type().is_symlink());
    aio::single(LinkAt::new(&dir.join("sym"), &dir.join("fourth")).follow()).unwrap();
    assert!(std::fs::symlink_metadata(dir.join("fourth")).unwrap().is_file());
    assert_eq!(std::fs::metadata(&old).unwrap().nlink(), 4);
}

#[test]
fn linkat_failures() {
    let dir = TempDir::new("linkat-err");
    let old = dir.file("old", b"x");
    expect_kind(aio::single(LinkAt::new(&dir.join("missing"), &dir.join("new"))), ErrorKind::NotFound);
    expect_kind(aio::single(LinkAt::new(&old, &old)), ErrorKind::AlreadyExists);
    expect_kind(aio::single(LinkAt::new("bad\0", &dir.join("new"))), ErrorKind::InvalidInput);
    // Directories cannot be hard-linked.
    expect_errno(aio::single(LinkAt::new(dir.path(), &dir.join("dirlink"))), libc::EPERM);
    // `io_uring/fs.c` does not fail the link.
    let (first, second) = aio::complete((LinkAt::new(&old, &old).soft(), LinkAt::new(&old, &dir.join("new")))).unwrap();
    expect_kind(first, ErrorKind::AlreadyExists);
    second.unwrap();
    assert_eq!(contents(&dir.join("new")), b"x");
}

#[cfg(target_os = "linux")]
#[test]
fn xattrs_on_paths_and_files() {
    let dir = TempDir::new("xattr");
    let path = dir.file("f", b"");
    aio::single(SetXattr::new(&path, "user.color", b"blue")).unwrap();
    let mut value = [0u8; 16];
    let len = aio::single(GetXattr::new(&path, "user.color", &mut value)).unwrap();
    assert_eq!(&value[..len], b"blue");
    // An empty buffer asks for the length.
    assert_eq!(aio::single(GetXattr::new(&path, "user.color", &mut [])).unwrap(), 4);
    // On an open file, and through a symbolic link (followed).
    let file = File::open(&path).unwrap();
    aio::single(SetXattr::file(&file, "user.color", b"green").replace()).unwrap();
    std::os::unix::fs::symlink("f", dir.join("link")).unwrap();
    let len = aio::single(GetXattr::new(&dir.join("link"), "user.color", &mut value)).unwrap();
    assert_eq!(&value[..len], b"green");
    // Set then get in one chain.
    let mut read = [0u8; 8];
    let ((), n) = aio::multi((
        SetXattr::file(&file, "user.size", b"xl").create().soft(),
        GetXattr::file(&file, "user.size", &mut read),
    ))
    .unwrap();
    assert_eq!(&read[..n], b"xl");
}

#[cfg(target_os = "linux")]
#[test]
fn xattr_failures() {
    let dir = TempDir::new("xattr-err");
    let path = dir.file("f", b"");
    let mut value = [0u8; 2];
    expect_errno(aio::single(GetXattr::new(&path, "user.none", &mut value)), libc::ENODATA);
    expect_kind(aio::single(GetXattr::new(&dir.join("missing"), "user.a", &mut value)), ErrorKind::NotFound);
    expect_kind(aio::single(GetXattr::new(&path, "user.\0", &mut value)), ErrorKind::InvalidInput);
    aio::single(SetXattr::new(&path, "user.long", b"longer")).unwrap();
    expect_errno(aio::single(GetXattr::new(&path, "user.long", &mut value)), libc::ERANGE);
    expect_kind(aio::single(SetXattr::new(&path, "user.long", b"x").create()), ErrorKind::AlreadyExists);
    expect_errno(aio::single(SetXattr::new(&path, "user.new", b"x").replace()), libc::ENODATA);
    // No such namespace.
    expect_errno(aio::single(SetXattr::new(&path, "bogus.name", b"x")), libc::EOPNOTSUPP);
    // `io_uring/xattr.c` does not fail the link.
    let file = File::open(&path).unwrap();
    let (first, second) =
        aio::complete((GetXattr::file(&file, "user.none", &mut value).soft(), SetXattr::file(&file, "user.b", b"1")))
            .unwrap();
    expect_errno(first, libc::ENODATA);
    second.unwrap();
}

#[cfg(not(target_os = "linux"))]
#[test]
fn xattrs_are_linux_only() {
    let dir = TempDir::new("xattr-none");
    let path = dir.file("f", b"");
    expect_kind(aio::single(SetXattr::new(&path, "user.a", b"x")), ErrorKind::Unsupported);
    expect_kind(aio::single(GetXattr::new(&path, "user.a", &mut [])), ErrorKind::Unsupported);
}

const OLD_KERNEL_CHILD: &str = "CORIO_FILE_OPS_OLD_KERNEL";

/// Every test above again, on io_uring without `ftruncate` (6.9), `linkat` (5.15) and the
/// xattr opcodes (5.19): the ring runs them as syscalls.
#[test]
fn file_ops_on_an_old_kernel() {
    if std::env::var_os(OLD_KERNEL_CHILD).is_some() {
        let described = Dynamic::new(1).unwrap().describe();
        assert!(described.contains("fallbacks for linkat, ftruncate, xattr"), "{described}");
        return;
    }
    if !is_io_uring() {
        println!("not on io_uring here; the io_uring fallbacks do not apply");
        return;
    }
    common::rerun_with_uring_disabled("ftruncate,linkat,xattr", &[(OLD_KERNEL_CHILD, "1")], &[]);
}
