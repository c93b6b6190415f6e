//! The multishot read [`ReadMulti`]: one completion per arrival from a pipe (or a socket),
//! each a [`ProvidedBuf`] of a group, until the end of the file, an error, an empty group or
//! a cancel; on every backend (`CORIO_BACKEND=posix`), and on io_uring as a kernel before 6.7
//! (single selecting reads re-armed) in a child with `CORIO_URING_DISABLE=read_multi`.
//! Windows refuses it (no overlapped reads on anonymous pipes): one test checks the refusal.

#![cfg(not(target_os = "wasi"))]

mod common;

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io::{ErrorKind, Write};
    use std::time::Duration;

    use corio_aio::op::{Cancel, Fixed, Nop, OpExt, ReadMulti};
    use corio_aio::{BufferGroup, Dynamic, Id, Mode, ProvidedBuf, is_canceled};

    use super::common;

    const CHILD_ENV: &str = "CORIO_READ_MULTI_CHILD";

    /// A pipe: the writer, and the reader for a `Dynamic<'static>` (leaked).
    fn pipe() -> (File, &'static File) {
        let (reader, writer) = common::pipe();
        (writer, common::leak(reader))
    }

    fn group(ring: &mut Dynamic<'_>, count: u16, size: usize) -> BufferGroup {
        ring.register_buffer_group(count, size).unwrap()
    }

    /// Completes until the read delivered `want` bytes; keeps every buffer and checks that
    /// each completion says more will follow.
    fn arrivals(ring: &mut Dynamic<'_>, want: usize) -> Vec<ProvidedBuf> {
        let mut bufs = Vec::new();
        let mut got = 0;
        while got < want {
            ring.complete(Mode::Blocking, |c| {
                assert!(c.more, "the read ended early: {:?}", c.result);
                assert_eq!(c.op, "read_multi");
                let buf = c.output::<ReadMulti>().expect("data");
                assert!(!buf.is_empty(), "an empty arrival with more to come");
                got += buf.len();
                bufs.push(buf);
            })
            .unwrap();
        }
        bufs
    }

    fn bytes(bufs: &[ProvidedBuf]) -> Vec<u8> {
        bufs.iter().flat_map(|b| b.iter().copied()).collect()
    }

    /// Completes until op `id` ended: the bytes it delivered and its final result.
    fn all_of(ring: &mut Dynamic<'_>, id: Id) -> (Vec<u8>, std::io::Result<ProvidedBuf>) {
        let (mut data, mut last) = (Vec::new(), None);
        while last.is_none() {
            ring.complete(Mode::Blocking, |c| {
                assert_eq!(c.id, id);
                if c.more {
                    data.extend_from_slice(&c.output::<ReadMulti>().expect("data"));
                } else {
                    last = Some(c.output::<ReadMulti>());
                }
            })
            .unwrap();
        }
        (data, last.unwrap())
    }

    /// Runs `case` on another thread; fails if it does not finish within ten seconds (a read
    /// that waits for good fails its test instead of hanging the suite).
    fn within_limit(what: &str, case: impl FnOnce() + Send + 'static) {
        let (done, finished) = std::sync::mpsc::channel();
        let case = std::thread::spawn(move || {
            case();
            done.send(()).unwrap();
        });
        match finished.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => case.join().unwrap(),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(case.join().unwrap_err()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what}: hung"),
        }
    }

    #[test]
    fn writes_arrive_in_several_completions_and_the_end_of_file_ends_the_read() {
        within_limit("read until the end of file", || {
            let (mut w, r) = pipe();
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 4, 64);
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            let mut got = Vec::new();
            for part in [&b"first"[..], b"second", b"third"] {
                w.write_all(part).unwrap();
                got.extend(bytes(&arrivals(&mut ring, part.len())));
            }
            assert_eq!(got, b"firstsecondthird");
            drop(w);
            let (rest, end) = all_of(&mut ring, id);
            assert!(rest.is_empty());
            // (The kernel's takes no buffer for it; the stand-in's read may have taken one.)
            assert!(end.expect("the end of file is a success").is_empty());
            assert_eq!(ring.in_flight(), 0);
        });
    }

    #[test]
    fn a_write_larger_than_a_buffer_arrives_in_several_buffers_in_order() {
        within_limit("a large write", || {
            let (mut w, r) = pipe();
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
    }

    #[test]
    fn data_and_the_end_of_file_arriving_together_are_both_delivered() {
        within_limit("data then the end", || {
            let (mut w, r) = pipe();
            w.write_all(b"last words").unwrap();
            drop(w);
            let mut ring = Dynamic::new(4).unwrap();
            let g = group(&mut ring, 2, 64);
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            let (got, end) = all_of(&mut ring, id);
            assert_eq!(got, b"last words");
            assert!(end.unwrap().is_empty());
        });
    }

    #[test]
    fn a_cancel_ends_the_read() {
        within_limit("cancel", || {
            let (mut w, r) = pipe();
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
                let mut end = None;
                while ring.in_flight() > 0 {
                    ring.complete(Mode::Blocking, |c| {
                        if c.id == id && !c.more {
                            end = Some(c.result.map(drop));
                        }
                    })
                    .unwrap();
                }
                assert!(end.unwrap().is_err_and(|e| is_canceled(&e)), "round {round}");
            }
            // Every buffer is back: the group serves a new read in full.
            let id = ring.queue(ReadMulti::new(r, &g)).unwrap();
            w.write_all(b"after").unwrap();
            drop(w);
            let (got, end) = all_of(&mut ring, id);
            assert!(got.ends_with(b"after"), "{got:?}");
            assert!(end.unwrap().is_empty());
        });
    }

    #[test]
    fn an_empty_group_ends_the_read_with_enobufs_and_leaves_the_data_unread() {
        within_limit("empty group", || {
            let (mut w, r) = pipe();
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
            assert_eq!(bytes(&held), b"12345678");
            assert_eq!(end.unwrap().unwrap_err().raw_os_error(), Some(libc::ENOBUFS));
            drop(held);
            let mut rest = [0u8; 8];
            let n = ring.run(corio_aio::op::Read::new(r, &mut rest), drop).unwrap().unwrap();
            assert_eq!(&rest[..n], b"more");
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
        let file = common::leak(File::open(dir.file("f", b"file contents")).unwrap());
        let mut ring = Dynamic::new(4).unwrap();
        let g = group(&mut ring, 2, 8);
        let id = ring.queue(ReadMulti::new(file, &g)).unwrap();
        let (got, end) = all_of(&mut ring, id);
        assert!(got.is_empty(), "{got:?}");
        #[cfg(any(target_os = "linux", target_os = "android"))]
        const UNPOLLABLE: i32 = libc::EBADFD;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        const UNPOLLABLE: i32 = libc::EBADF;
        assert_eq!(end.unwrap_err().raw_os_error(), Some(UNPOLLABLE));
    }

    #[test]
    fn a_registered_slot_is_read_as_its_descriptor() {
        within_limit("fixed", || {
            let (reader, mut w) = common::pipe();
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
        within_limit("socket", || {
            let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
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
        let (_w, r) = pipe();
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
        if std::env::var_os(CHILD_ENV).is_some() || !common::is_io_uring() {
            return;
        }
        let stdout = common::rerun_with_uring_disabled(
            "read_multi",
            &[(CHILD_ENV, "1")],
            &["--skip", "the_re_armed_read", "--test-threads=1", "--nocapture"],
        );
        assert!(stdout.contains("stand-in: yes"), "the child did not use the stand-in:\n{stdout}");
    }

    #[test]
    fn describe_tells_whether_reads_are_re_armed() {
        let ring = Dynamic::new(1).unwrap();
        if std::env::var_os(CHILD_ENV).is_some() {
            println!("stand-in: {}", if ring.describe().contains("read_multi") { "yes" } else { "no" });
        }
    }
}

#[cfg(windows)]
#[test]
fn windows_refuses_the_multishot_read() {
    use corio_aio::Dynamic;
    use corio_aio::op::ReadMulti;
    let (_w, r) = common::pipe();
    let r = common::leak(r);
    let mut ring = Dynamic::new(4).unwrap();
    let g = ring.register_buffer_group(2, 8).unwrap();
    let err = ring.queue(ReadMulti::new(r, &g)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert_eq!(ring.in_flight(), 0);
}
