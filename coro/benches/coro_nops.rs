//! `coro_nops`: one task issuing batches of 32 nops through `coro::io::multi`, against the same
//! batches queued directly on a `corio_aio::Dynamic` (the `aio_nops` loop), on each backend,
//! interleaved in the same run. Also nops from 1000 tasks (one op per call), where one tick
//! submits every task's op at once.
//!
//! Run: `cargo bench -p corio-coro --bench coro_nops` (set `CORIO_BENCH_QUICK=1` for a smoke
//! run).

#[path = "../../aio/benches/util/mod.rs"]
mod util;

use std::time::Duration;

use corio_aio::op::Nop;
use corio_aio::{BackendKind, Dynamic, Mode};
use corio_coro::{Options, RunMode, Scheduler, io};

const BATCH: usize = 32;
const ENTRIES: u32 = 32768;

/// The `aio_nops` loop: queue 32 nops, reap 32 completions.
#[inline(never)]
fn aio(ring: &mut Dynamic<'static>, total: u64) -> Duration {
    util::time(|| {
        let mut done = 0u64;
        while done < total {
            ring.queue([Nop::new(); BATCH]).expect("queue");
            let mut got = 0;
            while got < BATCH {
                got += ring.complete(Mode::Blocking, |c| debug_assert!(c.result.is_ok())).expect("complete").completed;
            }
            done += BATCH as u64;
        }
    })
}

/// The same batches from one task.
#[inline(never)]
fn coro(scheduler: &Scheduler, total: u64) -> Duration {
    util::time(|| {
        scheduler
            .spawn(move || {
                let mut done = 0u64;
                while done < total {
                    io::multi([Nop::new(); BATCH]).expect("nops");
                    done += BATCH as u64;
                }
            })
            .join();
    })
}

/// One nop per call from each of 1000 tasks.
fn many_tasks(scheduler: &Scheduler, per_task: u64) -> Duration {
    util::time(|| {
        for _ in 0..1000 {
            scheduler
                .spawn(move || {
                    for _ in 0..per_task {
                        io::single(Nop::new()).expect("nop");
                    }
                })
                .detach();
        }
        scheduler.run(RunMode::Wait).expect("run");
    })
}

fn scheduler(backend: BackendKind) -> std::io::Result<Scheduler> {
    Scheduler::with_options(Options::new().io_queue_entries(ENTRIES).backend(backend))
}

fn main() -> std::io::Result<()> {
    util::header("coro_nops");
    let total = util::scaled(10_000_000);
    let mut uring_ring = Dynamic::with_backend(ENTRIES, BackendKind::IoUring)?;
    let mut posix_ring = Dynamic::with_backend(ENTRIES, BackendKind::Posix)?;
    let uring = scheduler(BackendKind::IoUring)?;
    let posix = scheduler(BackendKind::Posix)?;
    let mut results = util::interleave(&mut [
        ("aio Dynamic io_uring", &mut || aio(&mut uring_ring, total)),
        ("coro task io_uring", &mut || coro(&uring, total)),
        ("aio Dynamic posix", &mut || aio(&mut posix_ring, total)),
        ("coro task posix", &mut || coro(&posix, total)),
    ]);
    println!("batches of {BATCH} nops, {total} nops per round:");
    let ns: Vec<f64> = results.iter_mut().map(|(name, samples)| util::report(name, samples, total, "nop")).collect();
    println!("ratio coro / aio (throughput), io_uring: {:.2}x (target >= 0.90x)", ns[0] / ns[1]);
    println!("ratio coro / aio (throughput), posix:    {:.2}x (target >= 0.90x)", ns[2] / ns[3]);

    let per_task = util::scaled(200);
    let mut results = util::interleave(&mut [
        ("1000 tasks io_uring", &mut || many_tasks(&uring, per_task)),
        ("1000 tasks posix", &mut || many_tasks(&posix, per_task)),
    ]);
    println!("one nop per call from each of 1000 tasks, {per_task} calls each:");
    for (name, samples) in &mut results {
        util::report(name, samples, 1000 * per_task, "nop");
    }
    Ok(())
}
