//! `spawn`: tokio's spawn10 shape — spawn 10 tasks that each yield once, wake them, join them —
//! in ns per task, against the same on bare corosensei coroutines with reused stacks (the
//! floor), interleaved in the same run. Then the resident memory of idle tasks: 100,000 tasks
//! parked in `yield_now` (VmRSS from `/proc/self/status` before and after).
//!
//! Run: `cargo bench -p corio-coro --bench spawn` (set `CORIO_BENCH_QUICK=1` for a smoke run).

#[path = "../../aio/benches/util/mod.rs"]
mod util;

use std::time::Duration;

use corio_coro::{Scheduler, Task, yield_now};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, Yielder};

const TASKS: usize = 10;

fn coro(scheduler: &Scheduler, rounds: u64) -> Duration {
    util::time(|| {
        for _ in 0..rounds {
            let tasks: [Task<()>; TASKS] = std::array::from_fn(|_| {
                scheduler.spawn(|| {
                    yield_now(1u8).expect("not canceled");
                })
            });
            for task in &tasks {
                task.wakeup();
            }
            for task in tasks {
                task.join();
            }
        }
    })
}

fn raw(stacks: &mut Vec<DefaultStack>, rounds: u64) -> Duration {
    util::time(|| {
        for _ in 0..rounds {
            let mut coroutines: Vec<_> = stacks
                .drain(..)
                .map(|stack| {
                    Coroutine::with_stack(stack, |yielder: &Yielder<(), ()>, ()| {
                        yielder.suspend(());
                    })
                })
                .collect();
            for c in &mut coroutines {
                c.resume(());
            }
            for c in &mut coroutines {
                c.resume(());
            }
            stacks.extend(coroutines.into_iter().map(Coroutine::into_stack));
        }
    })
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count()).unwrap_or(0)
}

fn idle_memory(n: usize) -> std::io::Result<()> {
    let scheduler = Scheduler::new()?;
    let (rss, maps) = (status_kib("VmRSS:"), mappings());
    let tasks: Vec<Task<()>> = (0..n)
        .map(|_| {
            scheduler.spawn(|| {
                yield_now(1u8).expect("not canceled");
            })
        })
        .collect();
    let (rss_after, maps_after) = (status_kib("VmRSS:"), mappings());
    let per_task = (rss_after.saturating_sub(rss)) as f64 * 1024.0 / n as f64;
    println!("idle tasks: {n} parked in yield_now: VmRSS {rss} -> {rss_after} KiB = {per_task:.0} bytes per task");
    println!("            memory mappings {maps} -> {maps_after}");
    for task in &tasks {
        task.wakeup();
    }
    tasks.into_iter().for_each(Task::join);
    Ok(())
}

fn main() -> std::io::Result<()> {
    util::header("spawn");
    // First, while the process is small.
    idle_memory(if std::env::var_os("CORIO_BENCH_QUICK").is_some() { 2_000 } else { 100_000 })?;
    let rounds = util::scaled(100_000);
    let scheduler = Scheduler::new()?;
    let mut stacks: Vec<DefaultStack> = (0..TASKS).map(|_| DefaultStack::new(64 * 1024)).collect::<Result<_, _>>()?;
    let mut results = util::interleave(&mut [
        ("corosensei, reused stacks", &mut || raw(&mut stacks, rounds)),
        ("coro spawn/wakeup/join", &mut || coro(&scheduler, rounds)),
    ]);
    println!("spawn10: spawn {TASKS} tasks that yield once, wake them, join them; {rounds} rounds:");
    let ns: Vec<f64> =
        results.iter_mut().map(|(name, samples)| util::report(name, samples, rounds * TASKS as u64, "task")).collect();
    println!("ratio coro / corosensei (time): {:.2}x", ns[1] / ns[0]);
    Ok(())
}
