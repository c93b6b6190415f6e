//! `n` nops in batches of 32 through `coro::io::multi` from one task: the `coro_nops` task
//! loop without timing, for counting user-space instructions per op under callgrind (run it
//! for two counts and divide the difference, as for corio-aio's `callgrind_nops` example).
//!
//! Arguments: `uring` or `posix`, then the number of nops (default 100000).
use corio_aio::BackendKind;
use corio_aio::op::Nop;
use corio_coro::{Options, Scheduler, io};
fn main() {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("posix") => BackendKind::Posix,
        _ => BackendKind::IoUring,
    };
    let total: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(100_000);
    let s = Scheduler::with_options(Options::new().io_queue_entries(32768).backend(kind)).unwrap();
    s.spawn(move || {
        let mut done = 0u64;
        while done < total {
            io::multi([Nop::new(); 32]).expect("nops");
            done += 32;
        }
    })
    .join();
}
