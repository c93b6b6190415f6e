//! `coro_tasks`: what the scheduler costs — spawning short tasks, a yield/wakeup round trip,
//! and nops done by many tasks (all of a tick's ops go in one submission).
//!
//! Run: `cargo bench -p corio-coro --bench coro_tasks` (set `CORIO_BENCH_QUICK=1` for a smoke
//! run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use corio_aio::op::Nop;
use corio_coro::{RunMode, Scheduler, io, yield_now};

fn scaled(n: u64) -> u64 {
    if std::env::var_os("CORIO_BENCH_QUICK").is_some() { (n / 50).max(1) } else { n }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(name: &str, per: &str, n: u64, mut f: impl FnMut() -> Duration) {
    let samples: Vec<Duration> = (0..7).map(|_| f()).collect();
    let median = median(samples);
    let each = median.as_nanos() as f64 / n as f64;
    println!("{name:<40} {each:>9.1} ns/{per}   ({n} in {median:?})");
}

fn main() {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("# coro_tasks: kernel {}, median of 7", kernel.trim());
    let scheduler = Scheduler::new().expect("scheduler");

    let n = scaled(200_000);
    measure("spawn + finish (pooled stacks)", "task", n, || {
        let start = Instant::now();
        for i in 0..n {
            black_box(scheduler.spawn(move || black_box(i)).join());
        }
        start.elapsed()
    });

    let n = scaled(1_000_000);
    measure("yield_now + wakeup round trip", "round", n, || {
        let task = scheduler.spawn(move || {
            for _ in 0..n {
                yield_now(1u8).expect("not canceled");
            }
        });
        let start = Instant::now();
        while !task.is_complete() {
            task.wakeup();
        }
        let elapsed = start.elapsed();
        task.join();
        elapsed
    });

    let (tasks, per_task) = (1000, scaled(200));
    measure("nops from 1000 tasks (one op per call)", "op", tasks * per_task, || {
        let start = Instant::now();
        for _ in 0..tasks {
            scheduler
                .spawn(move || {
                    for _ in 0..per_task {
                        io::single(Nop::new()).expect("nop");
                    }
                })
                .detach();
        }
        scheduler.run(RunMode::Wait).expect("run");
        start.elapsed()
    });
}
