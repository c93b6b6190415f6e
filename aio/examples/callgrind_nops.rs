//! `n` nops in batches of 32 through a `Dynamic` on one backend: the `aio_nops` loop without
//! timing, for counting user-space instructions per op under callgrind. Run it for two counts
//! and divide the difference by the difference of the counts (setup cancels out):
//!
//! ```text
//! cargo build --release -p corio-aio --example callgrind_nops
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/callgrind_nops uring 32000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/callgrind_nops uring 64000
//! ```
//!
//! Arguments: `uring` or `posix`, then the number of nops (default 100000).
use corio_aio::op::Nop;
use corio_aio::{BackendKind, Dynamic, Mode};
fn main() {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("posix") => BackendKind::Posix,
        _ => BackendKind::IoUring,
    };
    let total: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(100_000);
    let mut ring = Dynamic::with_backend(32768, kind).unwrap();
    let mut done = 0u64;
    while done < total {
        ring.queue([Nop::new(); 32]).expect("queue");
        let mut got = 0;
        while got < 32 {
            got += ring.complete(Mode::Blocking, |c| debug_assert!(c.result.is_ok())).expect("complete").completed;
        }
        done += 32;
    }
}
