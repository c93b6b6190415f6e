//! `tasks` tasks (default 10,000) that each run `rounds` nops (default 10) one at a time
//! through `coro::io::single`: every pass of the scheduler reaps a completion per task and
//! resumes every task, as a server with that many busy connections does. For counting what
//! routing a completion and resuming its task costs under callgrind (run it for two round
//! counts and divide the difference by `tasks` × the difference in rounds; add
//! `--cache-sim=yes` for the cache misses).
//!
//! Arguments: `uring` or `posix`, the number of tasks, the number of rounds.
use corio_aio::BackendKind;
use corio_aio::op::Nop;
use corio_coro::{Options, RunMode, Scheduler, io};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("posix") => BackendKind::Posix,
        _ => BackendKind::IoUring,
    };
    let tasks: usize = args.next().map(|s| s.parse().expect("a task count")).unwrap_or(10_000);
    let rounds: usize = args.next().map(|s| s.parse().expect("a round count")).unwrap_or(10);
    let scheduler = Scheduler::with_options(Options::new().io_queue_entries(32768).backend(kind))?;
    for _ in 0..tasks {
        scheduler
            .spawn(move || {
                for _ in 0..rounds {
                    io::single(Nop::new()).expect("nop");
                }
            })
            .detach();
    }
    scheduler.run(RunMode::Wait)
}
