//! spawn_many: 1,000,000 tasks (quick: 100,000) spawned one after the other, each parking on a
//! timer that expires at one deadline after the last spawn; then all are woken. Reports the
//! cost per spawn (from the first spawn until every task is parked on its timer), the
//! resident memory per parked task (VmRSS then, minus VmRSS before the first spawn, ÷ tasks),
//! and how long waking them all took (from the deadline until the last task finished).

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Case, rt};
use crate::harness::Sample;
use crate::util;

fn tasks(quick: bool) -> usize {
    if quick { 100_000 } else { 1_000_000 }
}

/// How long after the first spawn the timers expire: well after the last spawn (an
/// implementation whose spawns take longer fails the run rather than report a mix).
fn deadline(n: usize) -> Duration {
    Duration::from_micros(30 * n as u64).max(Duration::from_secs(3))
}

pub fn cases(quick: bool) -> Vec<Case> {
    let n = tasks(quick);
    vec![
        Case::new("spawn_many", None, format!("{n} tasks spawned, each parked on a timer, then all woken"))
            .metric("cost per spawn", "ns", false)
            .impls(&["corio-coro", "tokio", "may"])
            .note(format!(
                "Each task parks on a timer expiring {} ms after the first spawn; cost per spawn covers \
                 spawning every task and running it until it parks. rss_per_task_b = (VmRSS once all are \
                 parked − VmRSS before) ÷ tasks; wake_ms = from the deadline until the last task finished. \
                 corio-coro: `Scheduler::spawn` from outside the scheduler (each task runs until it parks \
                 in `io::single(Timeout)`, 64 KiB stacks); tokio: `tokio::spawn` of a future sleeping until \
                 the deadline, then yields until every task was polled once; may: `go!` of a coroutine \
                 sleeping until the deadline.",
                deadline(n).as_millis()
            ))
            .note(format!(
                "may gives each coroutine stack its own memory mappings; vm.max_map_count here is {}.",
                std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default().trim()
            )),
    ]
}

/// What one run measured: time from the first spawn until all are parked, VmRSS (KiB) before
/// and then, and the time from the deadline until the last task finished.
struct Measured {
    spawned: Duration,
    rss_before: u64,
    rss_parked: u64,
    wake: Duration,
}

pub fn run(_case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let n = tasks(quick);
    let m = match imp {
        "corio-coro" => coro(n)?,
        "tokio" => tokio(n)?,
        "may" => may(n)?,
        _ => return Err(super::unknown(imp)),
    };
    if m.spawned >= deadline(n) {
        return Err(io::Error::other(format!("spawning took {:?}, past the timers' deadline", m.spawned)));
    }
    Ok(Sample::new(m.spawned.as_nanos() as f64 / n as f64)
        .with("rss_per_task_b", m.rss_parked.saturating_sub(m.rss_before) as f64 * 1024.0 / n as f64)
        .with("wake_ms", m.wake.as_secs_f64() * 1e3))
}

fn rss() -> u64 {
    util::vm_rss_kib().unwrap_or(0)
}

fn coro(n: usize) -> io::Result<Measured> {
    use corio_aio::op::Timeout;
    use corio_coro::{RunMode, Scheduler};
    let scheduler = Scheduler::new()?;
    let rss_before = rss();
    let start = Instant::now();
    let at = start + deadline(n);
    let failed = Rc::new(Cell::new(0usize));
    for _ in 0..n {
        let failed = failed.clone();
        scheduler
            .spawn(move || {
                if corio_coro::io::single(Timeout::new(at.saturating_duration_since(Instant::now()))).is_err() {
                    failed.set(failed.get() + 1);
                }
            })
            .detach();
    }
    let spawned = start.elapsed();
    let rss_parked = rss();
    scheduler.run(RunMode::Wait)?;
    let wake = at.elapsed();
    if failed.get() > 0 {
        return Err(io::Error::other(format!("{} timers failed", failed.get())));
    }
    Ok(Measured { spawned, rss_before, rss_parked, wake })
}

fn tokio(n: usize) -> io::Result<Measured> {
    rt::tokio().block_on(async {
        let rss_before = rss();
        let start = Instant::now();
        let at = tokio::time::Instant::from_std(start + deadline(n));
        let polled = Rc::new(Cell::new(0usize));
        let local = tokio::task::LocalSet::new();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let polled = polled.clone();
                local.spawn_local(async move {
                    polled.set(polled.get() + 1);
                    tokio::time::sleep_until(at).await;
                })
            })
            .collect();
        local
            .run_until(async {
                while polled.get() < n {
                    tokio::task::yield_now().await;
                }
            })
            .await;
        let spawned = start.elapsed();
        let rss_parked = rss();
        local
            .run_until(async {
                for h in handles {
                    h.await.map_err(io::Error::other)?;
                }
                io::Result::Ok(())
            })
            .await?;
        Ok(Measured { spawned, rss_before, rss_parked, wake: at.into_std().elapsed() })
    })
}

fn may(n: usize) -> io::Result<Measured> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    rt::may();
    let driver = may::go!(move || {
        let rss_before = rss();
        let start = Instant::now();
        let at = start + deadline(n);
        let parked = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let parked = parked.clone();
                may::go!(move || {
                    parked.fetch_add(1, Ordering::Relaxed);
                    may::coroutine::sleep(at.saturating_duration_since(Instant::now()));
                })
            })
            .collect();
        while parked.load(Ordering::Relaxed) < n {
            may::coroutine::yield_now();
        }
        let spawned = start.elapsed();
        let rss_parked = rss();
        for h in handles {
            h.join().expect("may task panicked");
        }
        Measured { spawned, rss_before, rss_parked, wake: at.elapsed() }
    });
    driver.join().map_err(|_| io::Error::other("may driver panicked"))
}
