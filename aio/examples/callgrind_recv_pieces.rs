//! `n` messages of 512 bytes over a Unix socket pair into one multishot `RecvMulti`, with a
//! group of 16 buffers of 4 KiB taken whole, incrementally (`BufferGroupOptions::incremental`)
//! or in bundles (`BufferGroupOptions::bundles`), written `burst` at a time before they are
//! received: the `recv_provided` bench's loop without timing, for counting user-space
//! instructions per message under callgrind. Run it for two counts and divide the difference by the difference
//! of the counts (setup cancels out):
//!
//! ```text
//! cargo build --release -p corio-aio --example callgrind_recv_pieces
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/callgrind_recv_pieces posix incremental 20000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/callgrind_recv_pieces posix incremental 40000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/callgrind_recv_pieces uring bundles 40000 32
//! ```
//!
//! Arguments: `uring` or `posix`; `whole`, `incremental` or `bundles`; the number of messages
//! (default 100000); the burst (default 1; bundles gather a burst's bytes). It prints the
//! completions and the buffers taken per MiB received.

#[cfg(unix)]
fn main() {
    use corio_aio::op::{Cancel, RecvMulti};
    use corio_aio::{BackendKind, BufferGroupOptions, Dynamic, Mode};
    use std::io::Write;

    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("posix") => BackendKind::Posix,
        _ => BackendKind::IoUring,
    };
    let options = match args.next().as_deref() {
        Some("incremental") => BufferGroupOptions::new(16, 4096).incremental(),
        Some("bundles") => BufferGroupOptions::new(16, 4096).bundles(),
        _ => BufferGroupOptions::new(16, 4096),
    };
    let total: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(100_000);
    let burst: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(1);
    let (mut writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
    let reader: &'static _ = Box::leak(Box::new(reader));
    let mut ring = Dynamic::with_backend(8, kind).unwrap();
    let group = ring.register_buffer_group_with(options).unwrap();
    let id = ring.queue(RecvMulti::new(reader, &group)).unwrap();
    let (mut completions, mut taken) = (0u64, 0u64);
    for _ in 0..total.div_ceil(burst) {
        for _ in 0..burst {
            writer.write_all(&[7; 512]).unwrap();
        }
        let mut got = 0;
        while got < 512 * burst as usize {
            ring.complete(Mode::Blocking, |c| {
                let buf = c.output::<RecvMulti>().expect("recv");
                completions += 1;
                // Whole buffers and bundles start at 0; an incremental group's later pieces not.
                taken += if buf.offset() == 0 { buf.chunks().count() as u64 } else { 0 };
                got += buf.total_len();
            })
            .unwrap();
        }
    }
    ring.queue(Cancel::new(id)).unwrap();
    ring.complete_all(drop).unwrap();
    let mib = (512 * total.div_ceil(burst) * burst) as f64 / f64::from(1 << 20);
    eprintln!(
        "{kind:?}, incremental {}, bundles {}, burst {burst}: {:.0} completions and {:.0} buffers taken per MiB",
        group.is_incremental(),
        group.takes_bundles(),
        completions as f64 / mib,
        taken as f64 / mib
    );
}

#[cfg(not(unix))]
fn main() {
    eprintln!("callgrind_recv_pieces: Unix only");
}
