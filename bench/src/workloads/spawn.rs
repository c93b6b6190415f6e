//! spawn: tokio's spawn10 shape — spawn 10 tasks that each yield once (waking themselves),
//! then join the 10; repeated. Reports nanoseconds per task.
//!
//! The async runtimes all use the same [`yield_once`] future; may uses
//! its own `yield_now`, from inside a coroutine.

use std::io;
use std::time::{Duration, Instant};

use super::{Case, rt};
use crate::harness::Sample;
use crate::util::yield_once;

const TASKS: usize = 10;

fn rounds(quick: bool) -> usize {
    if quick { 20_000 } else { 100_000 }
}

pub fn cases(quick: bool) -> Vec<Case> {
    vec![
        Case::new("spawn", None, format!("{} × spawn {TASKS} tasks, each yields once, join", rounds(quick)))
            .metric("cost per task", "ns", false)
            .impls(&["corio-coro", "tokio", "may", "compio", "monoio"])
            .note(
                "corio-coro: the scheduler's thread spawns 10 tasks that park in `yield_now`, wakes each \
                 (`Task::wakeup` resumes it at once), joins each, as in `coro/benches/spawn.rs`. The async \
                 runtimes spawn from inside a task a future that yields once (wakes itself).",
            ),
    ]
}

pub fn run(_case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let n = rounds(quick);
    let elapsed = match imp {
        "corio-coro" => super::coro::spawn::<TASKS>(n)?,
        "tokio" => tokio(n)?,
        "may" => may(n)?,
        "compio" => compio(n)?,
        "monoio" => monoio(n),
        _ => return Err(super::unknown(imp)),
    };
    Ok(Sample::new(elapsed.as_nanos() as f64 / (n * TASKS) as f64))
}

fn tokio(n: usize) -> io::Result<Duration> {
    rt::tokio().block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let handles: [_; TASKS] = std::array::from_fn(|_| tokio::spawn(yield_once()));
            for h in handles {
                h.await.map_err(io::Error::other)?;
            }
        }
        Ok(start.elapsed())
    })
}

fn compio(n: usize) -> io::Result<Duration> {
    rt::compio().block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let handles: [_; TASKS] = std::array::from_fn(|_| compio::runtime::spawn(yield_once()));
            for h in handles {
                h.await.map_err(|e| io::Error::other(format!("{e:?}")))?;
            }
        }
        Ok(start.elapsed())
    })
}

fn monoio(n: usize) -> Duration {
    rt::monoio(false, || async move {
        let start = Instant::now();
        for _ in 0..n {
            let handles: [_; TASKS] = std::array::from_fn(|_| monoio::spawn(yield_once()));
            for h in handles {
                h.await;
            }
        }
        start.elapsed()
    })
}

fn may(n: usize) -> io::Result<Duration> {
    rt::may();
    let driver = may::go!(move || {
        let start = Instant::now();
        for _ in 0..n {
            let handles: [_; TASKS] = std::array::from_fn(|_| may::go!(may::coroutine::yield_now));
            for h in handles {
                h.join().expect("may task panicked");
            }
        }
        start.elapsed()
    });
    driver.join().map_err(|_| io::Error::other("may driver panicked"))
}
