//! `switch`: a task's `yield_now` + `Task::wakeup` round trip, against a bare corosensei
//! coroutine's suspend + resume round trip (the floor: what the scheduler adds on top of the
//! context switch), interleaved in the same run.
//!
//! Run: `cargo bench -p corio-coro --bench switch` (set `CORIO_BENCH_QUICK=1` for a smoke run).

#[path = "../../aio/benches/util/mod.rs"]
mod util;

use std::time::Duration;

use corio_coro::{Scheduler, yield_now};
use corosensei::{Coroutine, Yielder};

fn coro(scheduler: &Scheduler, n: u64) -> Duration {
    let task = scheduler.spawn(move || {
        for _ in 0..n {
            yield_now(1u8).expect("not canceled");
        }
    });
    let elapsed = util::time(|| {
        for _ in 0..n {
            task.wakeup();
        }
    });
    assert!(task.is_complete());
    task.join();
    elapsed
}

fn raw(n: u64) -> Duration {
    let mut coroutine = Coroutine::new(move |yielder: &Yielder<(), ()>, ()| {
        for _ in 0..n {
            yielder.suspend(());
        }
    });
    coroutine.resume(()); // to the first suspend, as `spawn` does
    let elapsed = util::time(|| {
        for _ in 0..n {
            coroutine.resume(());
        }
    });
    assert!(coroutine.done());
    elapsed
}

fn main() -> std::io::Result<()> {
    util::header("switch");
    let n = util::scaled(5_000_000);
    let scheduler = Scheduler::new()?;
    let mut results = util::interleave(&mut [
        ("corosensei resume/suspend", &mut || raw(n)),
        ("coro wakeup/yield_now", &mut || coro(&scheduler, n)),
    ]);
    println!("round trips, {n} per round:");
    let ns: Vec<f64> = results.iter_mut().map(|(name, samples)| util::report(name, samples, n, "round trip")).collect();
    println!("ratio coro / corosensei (time): {:.2}x", ns[1] / ns[0]);
    Ok(())
}
