//! The multishot read [`ReadMulti`]: one completion per arrival from a pipe (or a socket),
//! each a [`ProvidedBuf`] of a group, until the end of the file, an error, an empty group or
//! a cancel; on every backend (`CORIO_BACKEND=posix`; IOCP on Windows, under wine in CI), and
//! on io_uring as a kernel before 6.7 (single selecting reads re-armed) in a child with
//! `CORIO_URING_DISABLE=read_multi`. The pipe tests run on every kind of pipe the platform
//! has ([`pipe_kinds`]): on Windows an anonymous pipe (synchronous IO) and a named pipe whose
//! read end is opened for overlapped IO.

#![cfg(not(target_os = "wasi"))]

mod common;

use std::fs::File;
use std::io::{ErrorKind, Write};

use corio_aio::op::{Cancel, Fixed, Nop, OpExt, ReadMulti};
use corio_aio::{BufferGroup, Dynamic, Id, Mode, ProvidedBuf, is_canceled};

const CHILD_ENV: &str = "CORIO_READ_MULTI_CHILD";

/// What a read with an empty group ends with: `ENOBUFS` (`WSAENOBUFS` on Windows).
#[cfg(unix)]
const ENOBUFS: i32 = libc::ENOBUFS;
#[cfg(windows)]
const ENOBUFS: i32 = 10055;

/// What a regular file is refused with: the kernel's `EBADFD`, `EBADF` where there is none
/// (`ERROR_INVALID_HANDLE` on Windows).
#[cfg(any(target_os = "linux", target_os = "android"))]
const UNPOLLABLE: i32 = libc::EBADFD;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
const UNPOLLABLE: i32 = libc::EBADF;
#[cfg(windows)]
const UNPOLLABLE: i32 = common::EBADF;

/// Makes a pipe: (writer, reader).
type MakePipe = fn() -> (File, File);

/// A pipe of `make`: the writer, and the reader for a `Dynamic<'static>` (leaked).
fn leaked(make: MakePipe) -> (File, &'static File) {
    let (writer, reader) = make();
    (writer, common::leak(reader))
}

/// Every kind of pipe the platform has, by name.
fn pipe_kinds() -> Vec<(&'static str, MakePipe)> {
    #[cfg(unix)]
    return vec![("pipe", || {
        let (reader, writer) = common::pipe();
        (writer, reader)
    })];
    #[cfg(windows)]
    return vec![
        ("anonymous pipe", windows::anonymous_pipe),
        ("overlapped named pipe", || windows::named_pipe(false)),
        ("overlapped message-mode named pipe", || windows::named_pipe(true)),
    ];
}

/// Runs `case` on each kind of pipe, naming the kind in a failure.
fn each_pipe(case: impl Fn(MakePipe)) {
    for (kind, make) in pipe_kinds() {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(make))) {
            eprintln!("failed on a {kind}");
            std::panic::resume_unwind(panic);
        }
    }
}

#[cfg(windows)]
mod windows {
    use std::fs::File;
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::{FromRawHandle, OwnedHandle};

    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::Storage::FileSystem::{FILE_FLAG_OVERLAPPED, PIPE_ACCESS_INBOUND};
    use windows_sys::Win32::System::Pipes::{
        CreateNamedPipeW, PIPE_READMODE_MESSAGE, PIPE_TYPE_BYTE, PIPE_TYPE_MESSAGE, PIPE_WAIT,
    };

    /// `std::io::pipe`: `CreatePipe`'s anonymous pipe, both ends synchronous.
    pub fn anonymous_pipe() -> (File, File) {
        let (reader, writer) = std::io::pipe().expect("pipe");
        (File::from(OwnedHandle::from(writer)), File::from(OwnedHandle::from(reader)))
    }

    /// A named pipe whose read end (the server's) is opened for overlapped IO, the write end
    /// (a client's) for synchronous IO; in message mode, each write is a message, which reads
    /// shorter than it take in parts.
    pub fn named_pipe(messages: bool) -> (File, File) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name =
            format!(r"\\.\pipe\corio-read-multi-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let wide: Vec<u16> = std::ffi::OsStr::new(&name).encode_wide().chain([0]).collect();
        // SAFETY: a NUL-terminated name that outlives the call; default security.
        let server = unsafe {
            CreateNamedPipeW(
                wide.as_ptr(),
                PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED,
                if messages { PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE } else { PIPE_TYPE_BYTE } | PIPE_WAIT,
                1,
                4096,
                4096,
                0,
                std::ptr::null(),
            )
        };
        assert_ne!(server, INVALID_HANDLE_VALUE, "CreateNamedPipeW: {}", std::io::Error::last_os_error());
        // SAFETY: a new handle that nothing else owns.
        let reader = File::from(unsafe { OwnedHandle::from_raw_handle(server) });
        let writer = std::fs::OpenOptions::new().write(true).custom_flags(0).open(&name).expect("open the pipe");
        (writer, reader)
    }
}

fn group(ring: &mut Dynamic<'_>, count: u16, size: usize) -> BufferGroup {
    ring.register_buffer_group(count, size).unwrap()
}

/// Completes until the read delivered `want` bytes (see [`common::arrivals`]).
fn arrivals(ring: &mut Dynamic<'_>, want: usize) -> Vec<ProvidedBuf> {
    common::arrivals::<ReadMulti>(ring, want, "read_multi")
}

/// Completes until read `id` ended: the bytes it delivered and its final result.
fn all_of(ring: &mut Dynamic<'_>, id: Id) -> (Vec<u8>, std::io::Result<ProvidedBuf>) {
    common::all_of::<ReadMulti>(ring, id)
}

#[test]
fn writes_arrive_in_several_completions_and_the_end_of_file_ends_the_read() {
    common::within_limit("read until the end of file", || {
        each_pipe(|pipe| {
            let (mut w, r) = leaked(pipe);
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 4, 64);
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            let mut got = Vec::new();
            for part in [&b"first"[..], b"second", b"third"] {
                w.write_all(part).unwrap();
                got.extend(common::bytes(&arrivals(&mut ring, part.len())));
            }
            assert_eq!(got, b"firstsecondthird");
            drop(w);
            let (rest, end) = all_of(&mut ring, id);
            assert!(rest.is_empty());
            // (The kernel's takes no buffer for it; the stand-in's read may have taken one.)
            assert!(end.expect("the end of file is a success").is_empty());
            assert_eq!(ring.in_flight(), 0);
        });
    });
}

#[test]
fn a_write_larger_than_a_buffer_arrives_in_several_buffers_in_order() {
    common::within_limit("a large write", || {
        each_pipe(|pipe| {
            let (mut w, r) = leaked(pipe);
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 8, 16);
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            let data: Vec<u8> = (0..100u8).collect();
            w.write_all(&data).unwrap();
            drop(w);
            let (got, end) = all_of(&mut ring, id);
            assert_eq!(got, data);
            assert!(end.unwrap().is_empty());
        });
    });
}

#[test]
fn data_and_the_end_of_file_arriving_together_are_both_delivered() {
    common::within_limit("data then the end", || {
        each_pipe(|pipe| {
            let (mut w, r) = leaked(pipe);
            w.write_all(b"last words").unwrap();
            drop(w);
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 2, 64);
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            let (got, end) = all_of(&mut ring, id);
            assert_eq!(got, b"last words");
            assert!(end.unwrap().is_empty());
        });
    });
}

#[test]
fn a_cancel_ends_the_read() {
    common::within_limit("cancel", || {
        each_pipe(|pipe| {
            let (mut w, r) = leaked(pipe);
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 4, 32);
            for round in 0..5 {
                let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
                ring.complete(Mode::Nonblocking, drop).unwrap();
                if round % 2 == 1 {
                    w.write_all(b"x").unwrap();
                }
                ring.queue(Cancel::new(id)).unwrap();
                // The byte may be read before the cancel lands: either way the op ends canceled.
                let end = common::final_completion(&mut ring, id).result;
                assert!(end.is_err_and(|e| is_canceled(&e)), "round {round}");
            }
            // Every buffer is back: the group serves a new read in full.
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            w.write_all(b"after").unwrap();
            drop(w);
            let (got, end) = all_of(&mut ring, id);
            assert!(got.ends_with(b"after"), "{got:?}");
            assert!(end.unwrap().is_empty());
        });
    });
}

#[test]
fn an_empty_group_ends_the_read_with_enobufs_and_leaves_the_data_unread() {
    common::within_limit("empty group", || {
        each_pipe(|pipe| {
            let (mut w, r) = leaked(pipe);
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 1, 8);
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            w.write_all(b"12345678more").unwrap();
            // The buffers are held: the one buffer is out after the first arrival.
            let (mut held, mut end) = (Vec::new(), None);
            while end.is_none() {
                ring.complete(Mode::Blocking, |c| {
                    assert_eq!(c.id, id);
                    match c.more {
                        true => held.push(c.output::<ReadMulti>().expect("data")),
                        false => end = Some(c.output::<ReadMulti>()),
                    }
                })
                .unwrap();
            }
            assert_eq!(common::bytes(&held), b"12345678");
            assert_eq!(end.unwrap().unwrap_err().raw_os_error(), Some(ENOBUFS));
            drop(held);
            let mut rest = [0u8; 8];
            let n = ring.run(corio_aio::op::Read::new(r, &mut rest), drop).unwrap().unwrap();
            assert_eq!(&rest[..n], b"more");
        });
    });
}

/// Dropping the ring with the read in flight ends it: the drop does not hang, a buffer the
/// caller holds keeps its bytes, and nothing reads the pipe any more (a later read gets what
/// is written next, whole).
#[test]
fn dropping_the_ring_with_the_read_in_flight_ends_it() {
    common::within_limit("drop", || {
        each_pipe(|pipe| {
            let (mut w, r) = leaked(pipe);
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 2, 8);
            ring.queue(ReadMulti::new(r, &g)).unwrap();
            w.write_all(b"held").unwrap();
            let held = arrivals(&mut ring, 4);
            drop(ring);
            assert_eq!(common::bytes(&held), b"held");
            drop((held, g));
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 2, 8);
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            w.write_all(b"next").unwrap();
            drop(w);
            let (got, end) = all_of(&mut ring, id);
            assert_eq!(got, b"next");
            assert!(end.unwrap().is_empty());
        });
    });
}

#[test]
fn a_bad_descriptor_fails_the_read() {
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 2, 8);
    let id = ring.queue(ReadMulti::new(&common::BadFd, &g)).unwrap();
    let (got, end) = all_of(&mut ring, id);
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().raw_os_error(), Some(common::EBADF));
}

#[test]
fn a_regular_file_is_refused_with_ebadfd_as_the_kernel_does() {
    let dir = common::TempDir::new("read-multi");
    let path = dir.file("f", b"file contents");
    #[cfg_attr(not(windows), allow(unused_mut))] // one more file on Windows
    let mut files = vec![File::open(&path).unwrap()];
    // On Windows also a file opened for overlapped IO (std opens files for synchronous IO).
    #[cfg(windows)]
    files.push({
        use std::os::windows::fs::OpenOptionsExt;
        let overlapped = windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OVERLAPPED;
        std::fs::OpenOptions::new().read(true).custom_flags(overlapped).open(&path).unwrap()
    });
    for file in files {
        let file = common::leak(file);
        let mut ring = Dynamic::new(4).unwrap();
        let g = group(&mut ring, 2, 8);
        let id = ring.queue(ReadMulti::new(file, &g)).unwrap();
        let (got, end) = all_of(&mut ring, id);
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(end.unwrap_err().raw_os_error(), Some(UNPOLLABLE));
    }
}

#[test]
fn a_registered_slot_is_read_as_its_descriptor() {
    common::within_limit("fixed", || {
        let (mut w, reader) = pipe_kinds()[0].1();
        let mut ring = Dynamic::new(4).unwrap();
        ring.register_files(2).unwrap();
        ring.install_file(Fixed(1), reader).unwrap();
        let g = group(&mut ring, 2, 64);
        let id = ring.queue(ReadMulti::new(&Fixed(1), &g)).unwrap();
        w.write_all(b"through the table").unwrap();
        drop(w);
        let (got, end) = all_of(&mut ring, id);
        assert_eq!(got, b"through the table");
        assert!(end.unwrap().is_empty());
    });
}

#[test]
fn a_socket_is_read_as_well() {
    common::within_limit("socket", || {
        let (mut a, b) = common::stream_pair();
        let b = common::leak(b);
        let mut ring = Dynamic::new(4).unwrap();
        let g = group(&mut ring, 2, 64);
        let id = ring.queue(ReadMulti::new(b, &g)).unwrap();
        a.write_all(b"stream").unwrap();
        drop(a);
        let (got, end) = all_of(&mut ring, id);
        assert_eq!(got, b"stream");
        assert!(end.unwrap().is_empty());
    });
}

#[test]
fn it_completes_more_than_once_so_run_and_chains_refuse_it() {
    let (_w, r) = leaked(pipe_kinds()[0].1);
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 2, 8);
    let err = ring.run(ReadMulti::new(r, &g), drop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = ring.queue((Nop::new().soft(), ReadMulti::new(r, &g))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn the_re_armed_read_of_old_kernels_behaves_the_same() {
    common::rerun_with_stand_in(CHILD_ENV, "read_multi", "the_re_armed_read");
}

#[test]
fn describe_tells_whether_reads_are_re_armed() {
    common::report_stand_in(CHILD_ENV, "read_multi");
}
