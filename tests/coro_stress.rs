//! A seeded random mix of task behaviours (IO, yields, joins, events, spawns) with cancels,
//! wake-ups and ticks from outside: the scheduler's bookkeeping must hold (no internal panic,
//! every task ends, nothing left in flight).

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::aio::Mode;
use corio::aio::op::{Nop, OpExt, Timeout};
use corio::coro::sync::ResetEvent;
use corio::coro::{self, Options, RunMode, Scheduler, Task, io};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn behaviour(seed: u64, event: Rc<ResetEvent>, depth: u32) -> u64 {
    let mut rng = Rng(seed | 1);
    let mut score = 0;
    for _ in 0..rng.below(6) + 1 {
        let r = match rng.below(7) {
            0 => io::single(Timeout::new(Duration::from_micros(rng.below(300)))).map(|_| 1),
            1 => io::multi((Nop::new().soft(), Nop::new(), Timeout::new(Duration::from_micros(50)))).map(|_| 2),
            2 => coro::yield_now(1u8).map(|_| 3),
            3 => event.wait().map(|_| 4),
            4 if depth < 3 => {
                let (e, s) = (event.clone(), rng.next());
                Ok(coro::spawn(move || behaviour(s, e, depth + 1)).join())
            }
            5 => {
                let (e, s) = (event.clone(), rng.next());
                coro::spawn(move || behaviour(s, e, depth + 1)).detach();
                Ok(5)
            }
            _ => io::complete([Nop::new(), Nop::new()]).map(|_| 6),
        };
        match r {
            Ok(v) => score += v,
            Err(e) if corio::aio::is_canceled(&e) => score += 100,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    score
}

#[test]
fn random_mix_with_cancels_and_wakeups() {
    for seed in 1..=seeds() {
        let scheduler = Scheduler::with_options(Options::new().io_queue_entries(16)).unwrap();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let event = Rc::new(ResetEvent::new());
        let mut tasks: Vec<Task<u64>> = (0..40)
            .map(|_| {
                let (e, s) = (event.clone(), rng.next());
                scheduler.spawn(move || behaviour(s, e, 0))
            })
            .collect();
        let finished = Rc::new(Cell::new(0));
        for round in 0..200 {
            match rng.below(5) {
                0 => {
                    let i = rng.below(tasks.len() as u64) as usize;
                    tasks[i].cancel();
                }
                1 => {
                    let i = rng.below(tasks.len() as u64) as usize;
                    if tasks[i].state::<u8>().is_some() {
                        tasks[i].wakeup();
                    }
                }
                2 if round > 100 => event.set(),
                _ => {}
            }
            scheduler.tick(Mode::Nonblocking).unwrap();
            let (done, pending): (Vec<_>, Vec<_>) = tasks.into_iter().partition(|t| t.is_complete());
            for t in done {
                t.join();
                finished.set(finished.get() + 1);
            }
            tasks = pending;
            if tasks.is_empty() {
                break;
            }
        }
        // Whatever is left: wake yielders, set the event, then cancel the rest.
        event.set();
        for t in &tasks {
            while t.state::<u8>().is_some() {
                t.wakeup();
            }
        }
        scheduler.run(RunMode::Cancel).unwrap();
        for t in tasks {
            if !t.is_complete() {
                while t.state::<u8>().is_some() {
                    t.wakeup();
                }
            }
        }
        scheduler.run(RunMode::Cancel).unwrap();
        drop(scheduler);
    }
}

/// Seeds to run: 200, or `CORIO_STRESS_SEEDS`.
fn seeds() -> u64 {
    std::env::var("CORIO_STRESS_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200)
}

/// Producers and consumers on a small bounded channel, randomly canceled, plus a plain thread
/// receiving: every item ends up received once, handed back to its sender, or left in the
/// channel — none lost, none duplicated.
#[test]
fn channel_items_survive_random_cancels() {
    use corio::coro::sync::Channel;
    use std::sync::Arc;
    for seed in 1..=seeds() / 4 {
        let scheduler = Scheduler::new().unwrap();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let channel = Arc::new(Channel::bounded(2));
        let rx = channel.clone();
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(item) = rx.recv() {
                got.push(item);
            }
            got
        });
        let mut tasks: Vec<Task<(Vec<u64>, Vec<u64>)>> = Vec::new();
        for p in 0..6u64 {
            let tx = channel.clone();
            tasks.push(scheduler.spawn(move || {
                let mut returned = Vec::new();
                for i in 0..20 {
                    if let Err(e) = tx.send(p * 1000 + i) {
                        returned.push(e.into_inner());
                    }
                }
                (Vec::new(), returned)
            }));
        }
        for _ in 0..4 {
            let rx = channel.clone();
            tasks.push(scheduler.spawn(move || (std::iter::from_fn(|| rx.recv().ok()).collect(), Vec::new())));
        }
        for _ in 0..100 {
            if rng.below(4) == 0 {
                tasks[rng.below(tasks.len() as u64) as usize].cancel();
            }
            // Never blocking: consumers may wait for items no producer will send.
            scheduler.tick(Mode::Nonblocking).unwrap();
            if tasks.iter().all(|t| t.is_complete()) {
                break;
            }
        }
        scheduler.run(RunMode::Cancel).unwrap();
        channel.close();
        let mut seen: Vec<u64> = thread.join().unwrap();
        for task in tasks {
            let (received, returned) = task.join();
            seen.extend(received);
            seen.extend(returned);
        }
        while let Ok(Some(item)) = channel.try_recv() {
            seen.push(item);
        }
        seen.sort_unstable();
        let all: Vec<u64> = (0..6).flat_map(|p| (0..20).map(move |i| p * 1000 + i)).collect();
        assert_eq!(seen, all, "seed {seed}: every item exactly once");
    }
}
