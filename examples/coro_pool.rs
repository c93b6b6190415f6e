//! Blocking work on a `ThreadPool` while a task keeps the scheduler's thread responsive: four
//! jobs compute for about a second each on the pool, a progress task animates a spinner every
//! 80 ms with coro timeouts, then the results print.
//!
//! Run with `cargo run --release --example coro_pool`.

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio::aio::op;
use corio::coro::pool::ThreadPool;
use corio::coro::{RunMode, Scheduler, io as cio};

const JOBS: u64 = 4;
const WORK: Duration = Duration::from_secs(1);

/// Blocking work: walks Collatz sequences from `start` on for `WORK`; returns how many
/// numbers were checked and the longest sequence seen.
fn collatz_for_a_second(start: u64) -> (u64, u64, u64) {
    let deadline = Instant::now() + WORK;
    let (mut n, mut longest, mut longest_at) = (start, 0, start);
    while Instant::now() < deadline {
        for _ in 0..1000 {
            let (mut x, mut steps) = (n, 0u64);
            while x != 1 {
                x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
                steps += 1;
            }
            if steps > longest {
                (longest, longest_at) = (steps, n);
            }
            n += 1;
        }
    }
    (n - start, longest, longest_at)
}

fn main() -> io::Result<()> {
    let started = Instant::now();
    let pool = Arc::new(ThreadPool::new(JOBS as usize)?);
    let scheduler = Scheduler::new()?;
    let finished = Rc::new(Cell::new(0));

    let jobs: Vec<_> = (0..JOBS)
        .map(|i| {
            let (pool, finished) = (pool.clone(), finished.clone());
            scheduler.spawn(move || {
                let result = pool.yield_for_completion(move || collatz_for_a_second(1 + i * 1_000_000_000));
                finished.set(finished.get() + 1);
                result
            })
        })
        .collect();

    let spinner = scheduler.spawn({
        let finished = finished.clone();
        move || -> io::Result<u32> {
            let frames = ['|', '/', '-', '\\'];
            let mut drawn = 0;
            while finished.get() < JOBS {
                print!("\r{} computing… {}/{JOBS} jobs done", frames[drawn as usize % frames.len()], finished.get());
                io::stdout().flush()?;
                drawn += 1;
                cio::single(op::Timeout::new(Duration::from_millis(80)))?;
            }
            println!("\r✓ all {JOBS} jobs done                ");
            Ok(drawn)
        }
    });

    scheduler.run(RunMode::Wait)?;
    let drawn = spinner.join()?;
    for (i, job) in jobs.into_iter().enumerate() {
        let (checked, longest, at) = job.join()?;
        println!("job {i}: checked {checked} numbers; longest Collatz sequence {longest} steps (from {at})");
    }
    let elapsed = started.elapsed();
    println!("spinner drew {drawn} frames while the pool worked; total {elapsed:.2?}");
    assert!(drawn >= 5, "the spinner kept running during the blocking work");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    Ok(())
}
