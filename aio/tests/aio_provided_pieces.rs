//! Incremental buffer groups ([`BufferGroupOptions::incremental`]): a receive takes a piece of
//! a buffer, each guard derefs to exactly its bytes, and a buffer returns to the group only
//! once it is full and every guard over a piece of it is dropped. Bundles
//! ([`BufferGroupOptions::bundles`]): a completion may hold several buffers, all returned when
//! its guard drops. On every backend (`CORIO_BACKEND=posix` for the pool that fills buffers
//! piecewise or several at once), and on io_uring as a kernel before 6.10 (one whole buffer
//! per completion, same guarantees) in a child with `CORIO_URING_DISABLE=pbuf_inc,bundle`,
//! and with the re-armed single receives of kernels before 6.0 (`recv_multi`) in another.

// Not on WASI (no sockets).
#![cfg(not(target_os = "wasi"))]

mod common;

use std::io::Write;

use corio_aio::op::{Cancel, RecvBuf, RecvMulti};
use corio_aio::{BufferGroup, BufferGroupOptions, Dynamic, Mode, ProvidedBuf, is_canceled};

const CHILD_ENV: &str = "CORIO_PIECES_CHILD";
const STAND_IN_ENV: &str = "CORIO_PIECES_STAND_IN_CHILD";

#[cfg(unix)]
const ENOBUFS: i32 = libc::ENOBUFS;
#[cfg(windows)]
const ENOBUFS: i32 = 10055; // WSAENOBUFS

/// Whether this is the old-kernel child on io_uring (no incremental groups, no bundles).
fn old_kernel() -> bool {
    std::env::var_os(CHILD_ENV).is_some() && common::is_io_uring()
}

/// An incremental group; incremental unless the kernel lacks it (the old-kernel child).
fn group(ring: &mut Dynamic<'_>, count: u16, size: usize) -> BufferGroup {
    let g = ring.register_buffer_group_with(BufferGroupOptions::new(count, size).incremental()).unwrap();
    assert_eq!((g.count(), g.buffer_size()), (count, size));
    assert_eq!((g.is_incremental(), g.takes_bundles()), (!old_kernel(), false), "{g:?}");
    g
}

/// A group taking bundles; unless the kernel lacks them (the old-kernel child).
fn bundle_group(ring: &mut Dynamic<'_>, count: u16, size: usize) -> BufferGroup {
    let g = ring.register_buffer_group_with(BufferGroupOptions::new(count, size).bundles()).unwrap();
    assert_eq!((g.is_incremental(), g.takes_bundles()), (false, !old_kernel() && !cfg!(windows)), "{g:?}");
    g
}

/// The byte at position `i` of the test stream: no short period, so a misplaced piece shows.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// One `RecvBuf`: the guard, or the error's errno.
fn recv(ring: &mut Dynamic<'_>, b: &common::StreamEnd, g: &BufferGroup) -> Result<ProvidedBuf, Option<i32>> {
    ring.run(RecvBuf::new(b, g), drop).unwrap().map_err(|e| e.raw_os_error())
}

#[test]
fn pieces_of_one_buffer_hold_exactly_what_each_receive_got() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 2, 64);
    a.write_all(b"hello").unwrap();
    let one = recv(&mut ring, b, &g).unwrap();
    a.write_all(b"world!").unwrap();
    let two = recv(&mut ring, b, &g).unwrap();
    let whole = !g.is_incremental();
    assert_eq!((&one[..], &two[..]), (&b"hello"[..], &b"world!"[..]));
    if g.is_incremental() {
        assert_eq!((two.buffer_id(), one.offset(), two.offset()), (one.buffer_id(), 0, 5));
    } else {
        assert_ne!(two.buffer_id(), one.buffer_id());
        assert_eq!(two.offset(), 0);
    }
    // A guard's bytes are its own: writing through one leaves the other as received.
    let mut one = one;
    one.copy_from_slice(b"HELLO");
    assert_eq!(&two[..], b"world!");
    // The end of the stream: an empty guard holding no buffer (a kernel before 6.12 takes a
    // buffer for it all the same, and gives it back at once).
    if whole {
        drop(one);
    }
    drop(a);
    let eof = recv(&mut ring, b, &g).unwrap();
    assert!(eof.is_empty());
    assert_eq!(eof.buffer_id(), None);
}

#[test]
fn a_buffer_returns_only_when_full_and_every_piece_is_dropped() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = group(&mut ring, 1, 16);
    a.write_all(b"12345678").unwrap();
    let first = recv(&mut ring, b, &g).unwrap();
    if !g.is_incremental() {
        // Whole buffers: the one buffer is out until its guard drops.
        a.write_all(b"abcdefgh").unwrap();
        assert_eq!(recv(&mut ring, b, &g).unwrap_err(), Some(ENOBUFS));
        drop(first);
        assert_eq!(&recv(&mut ring, b, &g).unwrap()[..], b"abcdefgh");
        return;
    }
    // Dropping a piece of a buffer that is not full keeps it where it is: filling goes on.
    drop(first);
    a.write_all(b"abcd").unwrap();
    let second = recv(&mut ring, b, &g).unwrap();
    assert_eq!((&second[..], second.offset()), (&b"abcd"[..], 8));
    // More than is left: the rest of the buffer, then the buffer is full and the kernel done.
    a.write_all(b"efghijkl").unwrap();
    let third = recv(&mut ring, b, &g).unwrap();
    assert_eq!((&third[..], third.offset()), (&b"efgh"[..], 12));
    // Full, and pieces held: nothing to receive into.
    assert_eq!(recv(&mut ring, b, &g).unwrap_err(), Some(ENOBUFS));
    drop(second);
    assert_eq!(recv(&mut ring, b, &g).unwrap_err(), Some(ENOBUFS), "a piece is still held");
    // The last piece dropped: the buffer is back, from its start.
    assert_eq!(&third[..], b"efgh", "untouched while held");
    drop(third);
    let again = recv(&mut ring, b, &g).unwrap();
    assert_eq!((&again[..], again.offset()), (&b"ijkl"[..], 0));
}

/// Writes `total` pattern bytes in writes of varying sizes (1 byte to ~9 KiB: pieces, whole
/// buffers and more) from a thread.
fn write_pattern(mut a: common::StreamEnd, total: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let data: Vec<u8> = (0..total).map(pattern).collect();
        let (mut at, mut step) = (0, 1);
        while at < total {
            let n = step.min(total - at);
            a.write_all(&data[at..at + n]).unwrap();
            at += n;
            step = step * 7 % 9001 + 1;
        }
    })
}

/// Receives `total` bytes with multishot receives of group `g`, holding the last `hold`
/// guards (so pieces of a buffer outlive later ones), queueing the receive again when it
/// ends (`ENOBUFS`: every buffer held, then all are dropped), and canceling it after every
/// `cancel_every` arrivals (0: never). Returns the bytes and the number of arrivals.
fn receive_all<'a>(
    ring: &mut Dynamic<'a>,
    b: &'a common::StreamEnd,
    g: &BufferGroup,
    total: usize,
    hold: usize,
    cancel_every: usize,
) -> (Vec<u8>, usize) {
    let mut got = Vec::with_capacity(total);
    let mut held = std::collections::VecDeque::new();
    let mut arrivals = 0;
    let mut id = ring.queue(RecvMulti::new(b, g)).unwrap();
    let mut canceled = false;
    while got.len() < total {
        let mut ended = false;
        ring.complete(Mode::Blocking, |c| {
            if c.id != id {
                return; // a cancel's own completion
            }
            ended |= !c.more;
            match c.output::<RecvMulti>() {
                Ok(buf) => {
                    // The end of the stream may come in the pass of the last bytes.
                    assert!(buf.total_len() > 0 || got.len() == total, "the end after {} of {total} bytes", got.len());
                    arrivals += 1;
                    let before = got.len();
                    buf.chunks().for_each(|c| got.extend_from_slice(c));
                    assert_eq!(got.len() - before, buf.total_len());
                    held.push_back(buf);
                    if held.len() > hold {
                        held.pop_front();
                    }
                }
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => held.clear(),
                Err(e) if is_canceled(&e) => assert!(canceled),
                Err(e) => panic!("{e}"),
            }
        })
        .unwrap();
        if ended {
            canceled = false;
            id = ring.queue(RecvMulti::new(b, g)).unwrap();
        } else if cancel_every > 0 && !canceled && arrivals % cancel_every == cancel_every - 1 {
            ring.queue(Cancel::new(id)).unwrap();
            canceled = true;
        }
    }
    ring.queue(Cancel::new(id)).unwrap();
    ring.complete_all(drop).unwrap();
    (got, arrivals)
}

fn assert_pattern(got: &[u8], total: usize) {
    assert_eq!(got.len(), total);
    let first_bad = got.iter().enumerate().position(|(i, &x)| x != pattern(i));
    assert_eq!(first_bad, None, "the stream was reassembled out of order");
}

#[test]
fn a_multishot_stream_reassembles_across_pieces_and_buffers() {
    const TOTAL: usize = 1 << 20;
    let (a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(64).unwrap();
    let g = group(&mut ring, 4, 4096);
    let writer = write_pattern(a, TOTAL);
    let (got, _) = receive_all(&mut ring, b, &g, TOTAL, 2, 0);
    writer.join().unwrap();
    assert_pattern(&got, TOTAL);
}

#[test]
fn canceling_mid_stream_loses_no_byte() {
    const TOTAL: usize = 256 << 10;
    let (a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(64).unwrap();
    let g = group(&mut ring, 4, 2048);
    let writer = write_pattern(a, TOTAL);
    let (got, _) = receive_all(&mut ring, b, &g, TOTAL, 3, 5);
    writer.join().unwrap();
    assert_pattern(&got, TOTAL);
}

#[test]
fn pieces_outlive_their_dynamic() {
    let (mut a, b) = common::leaked_stream_pair();
    let kept = {
        let mut ring = Dynamic::new(2).unwrap();
        let g = group(&mut ring, 3, 64);
        let mut kept = Vec::new();
        for word in [&b"one"[..], b"two", b"three"] {
            a.write_all(word).unwrap();
            kept.push(recv(&mut ring, b, &g).unwrap());
        }
        if g.is_incremental() {
            assert!(kept.iter().all(|k| k.buffer_id() == kept[0].buffer_id()), "{kept:?}");
        }
        // Dropped with a multishot receive in flight and its buffer partly filled.
        ring.queue(RecvMulti::new(b, &g)).unwrap();
        kept
    };
    assert_eq!(kept.iter().map(|k| &k[..]).collect::<Vec<_>>(), [&b"one"[..], b"two", b"three"]);
    drop(kept); // returned to the group of a gone Dynamic: harmless
    a.write_all(b"again").unwrap();
    let mut ring = Dynamic::new(2).unwrap();
    let g = group(&mut ring, 1, 16);
    assert_eq!(&recv(&mut ring, b, &g).unwrap()[..], b"again");
}

#[test]
fn an_old_kernel_takes_whole_buffers_with_the_same_guarantees() {
    common::rerun_as_old_kernel(
        CHILD_ENV,
        "1",
        "pbuf_inc,bundle",
        &["--skip", "an_old_kernel", "--skip", "the_re_armed", "--test-threads=1", "--nocapture"],
    );
}

#[test]
fn the_re_armed_receive_of_old_kernels_takes_pieces_and_bundles_too() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    common::rerun_as_old_kernel(
        STAND_IN_ENV,
        "1",
        "recv_multi",
        &["--skip", "an_old_kernel", "--skip", "the_re_armed", "--test-threads=1"],
    );
}

#[test]
fn a_bundle_holds_buffers_in_order_and_returns_them_all() {
    let (mut a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = bundle_group(&mut ring, 8, 1024);
    let data: Vec<u8> = (0..5000).map(pattern).collect();
    a.write_all(&data).unwrap();
    let mut got = Vec::new();
    let mut held = Vec::new();
    while got.len() < data.len() {
        let buf = recv(&mut ring, b, &g).unwrap();
        // Deref is the first buffer's bytes; `chunks` all of them.
        assert_eq!(buf.chunks().next().unwrap(), &buf[..]);
        assert!(buf.chunks().all(|c| c.len() <= 1024));
        assert_eq!(buf.chunks().map(<[u8]>::len).sum::<usize>(), buf.total_len());
        buf.chunks().for_each(|c| got.extend_from_slice(c));
        held.push(buf);
    }
    assert_eq!(got, data);
    // Five buffers are held (5000 bytes): three left, then the group is empty.
    let spans: usize = held.iter().map(|h| h.chunks().count()).sum();
    assert_eq!(spans, 5);
    println!("bundle chunks: {:?}", held.iter().map(|h| h.chunks().count()).collect::<Vec<_>>());
    if g.takes_bundles() {
        assert!(held.len() < 5, "no completion held several buffers");
    }
    a.write_all(&[1; 4000]).unwrap();
    let mut more = Vec::new();
    let err = loop {
        match recv(&mut ring, b, &g) {
            Ok(buf) => more.push(buf),
            Err(e) => break e,
        }
    };
    assert_eq!(err, Some(ENOBUFS));
    assert_eq!(more.iter().map(ProvidedBuf::total_len).sum::<usize>(), 3 * 1024);
    // Every buffer back: the rest arrives, and the held bytes stayed as received.
    assert_eq!(held.iter().flat_map(|h| h.chunks().flatten().copied()).collect::<Vec<u8>>(), data);
    drop((held, more));
    let mut rest = 0;
    while rest < 4000 - 3 * 1024 {
        let buf = recv(&mut ring, b, &g).unwrap();
        assert!(buf.chunks().all(|c| c.iter().all(|&x| x == 1)));
        rest += buf.total_len();
    }
    assert_eq!(rest, 4000 - 3 * 1024);
}

#[test]
fn a_multishot_stream_reassembles_across_bundles() {
    const TOTAL: usize = 1 << 20;
    let (a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(64).unwrap();
    let g = bundle_group(&mut ring, 16, 4096);
    let writer = write_pattern(a, TOTAL);
    let (got, arrivals) = receive_all(&mut ring, b, &g, TOTAL, 2, 0);
    writer.join().unwrap();
    assert_pattern(&got, TOTAL);
    if g.takes_bundles() {
        println!("bundles: {arrivals} completions for {TOTAL} bytes");
    }
}

#[test]
fn canceling_bundles_mid_stream_loses_no_byte() {
    const TOTAL: usize = 256 << 10;
    let (a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(4).unwrap();
    let g = bundle_group(&mut ring, 8, 2048);
    let writer = write_pattern(a, TOTAL);
    let (got, _) = receive_all(&mut ring, b, &g, TOTAL, 3, 5);
    writer.join().unwrap();
    assert_pattern(&got, TOTAL);
}

#[test]
fn bundles_outlive_their_dynamic() {
    let (mut a, b) = common::leaked_stream_pair();
    let kept = {
        let mut ring = Dynamic::new(2).unwrap();
        let g = bundle_group(&mut ring, 4, 1024);
        a.write_all(&[5; 3000]).unwrap();
        let mut kept = Vec::new();
        while kept.iter().map(ProvidedBuf::total_len).sum::<usize>() < 3000 {
            kept.push(recv(&mut ring, b, &g).unwrap());
        }
        ring.queue(RecvMulti::new(b, &g)).unwrap();
        kept
    };
    assert!(kept.iter().all(|k| k.chunks().all(|c| c.iter().all(|&x| x == 5))));
    drop(kept);
}

#[test]
fn bad_group_options_and_truncating_receives_are_refused() {
    let (_a, b) = common::leaked_stream_pair();
    let mut ring = Dynamic::new(2).unwrap();
    let both = BufferGroupOptions::new(4, 1024).incremental().bundles();
    assert_eq!(ring.register_buffer_group_with(both).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    let large = BufferGroupOptions::new(17, 4096).bundles();
    assert_eq!(ring.register_buffer_group_with(large).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    let g = bundle_group(&mut ring, 16, 4096);
    #[cfg(unix)]
    let trunc = libc::MSG_TRUNC;
    #[cfg(windows)]
    let trunc = 0x100;
    // `MSG_TRUNC` would report more than the buffers hold: refused on every group.
    let plain = ring.register_buffer_group(4, 1024).unwrap();
    for g in [&g, &plain] {
        let e = ring.queue(RecvMulti::new(b, g).flags(trunc)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let e = ring.queue(RecvBuf::new(b, g).flags(trunc)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(ring.in_flight(), 0);
    }
}
