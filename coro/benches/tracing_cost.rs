//! `tracing_cost`: what the `tracing` feature costs per IO call, with the feature compiled in.
//! One task issues single nops (`io::single`: one "queued" and one "completed" event each), and
//! 1000 short tasks one nop each (a span per task as well), interleaved in the same run:
//!
//! - **no subscriber**: the feature is compiled in, nobody listens (each callsite's cached
//!   "disabled" check);
//! - **subscriber**: a subscriber that enables everything and visits every field of every event
//!   (the least a real one does), so events and spans are built and delivered.
//!
//! With the feature off nothing of it is compiled (`#[cfg(feature = "tracing")]`); compare
//! `cargo bench -p corio-coro --bench coro_nops` with and without `--features tracing` for
//! that (bench/README.md has a run).
//!
//! Run: `cargo bench -p corio-coro --features tracing --bench tracing_cost` (set
//! `CORIO_BENCH_QUICK=1` for a smoke run).

#[path = "../../aio/benches/util/mod.rs"]
mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use corio_aio::op::Nop;
use corio_coro::{RunMode, Scheduler, io};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Enables everything; visits each field of each event and span (and counts them, so that the
/// visits are not optimized away).
struct Visiting {
    next_span: AtomicU64,
    fields: AtomicU64,
}

struct CountFields(u64);

impl Visit for CountFields {
    fn record_debug(&mut self, _field: &Field, value: &dyn std::fmt::Debug) {
        std::hint::black_box(value);
        self.0 += 1;
    }
}

impl Subscriber for Visiting {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut count = CountFields(0);
        span.record(&mut count);
        self.fields.fetch_add(count.0, Ordering::Relaxed);
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut count = CountFields(0);
        values.record(&mut count);
        self.fields.fetch_add(count.0, Ordering::Relaxed);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut count = CountFields(0);
        event.record(&mut count);
        self.fields.fetch_add(count.0, Ordering::Relaxed);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// `calls` single nops from one task.
fn one_task(scheduler: &Scheduler, calls: u64) -> Duration {
    util::time(|| {
        scheduler
            .spawn(move || {
                for _ in 0..calls {
                    io::single(Nop::new()).expect("nop");
                }
            })
            .join();
    })
}

/// 1000 tasks of one nop each.
fn short_tasks(scheduler: &Scheduler, rounds: u64) -> Duration {
    util::time(|| {
        for _ in 0..rounds {
            for _ in 0..1000 {
                scheduler.spawn(|| io::single(Nop::new()).expect("nop")).detach();
            }
            scheduler.run(RunMode::Wait).expect("run");
        }
    })
}

fn main() -> std::io::Result<()> {
    util::header("tracing_cost");
    let calls = util::scaled(1_000_000);
    let rounds = util::scaled(200);
    let scheduler = Scheduler::new()?;
    let subscriber = std::sync::Arc::new(Visiting { next_span: AtomicU64::new(1), fields: AtomicU64::new(0) });
    let on = |f: &mut dyn FnMut() -> Duration| {
        let dispatch = tracing::Dispatch::from(subscriber.clone());
        tracing::dispatcher::with_default(&dispatch, f)
    };
    let mut results = util::interleave(&mut [
        ("single nops, no subscriber", &mut || one_task(&scheduler, calls)),
        ("single nops, subscriber", &mut || on(&mut || one_task(&scheduler, calls))),
        ("1000 tasks, no subscriber", &mut || short_tasks(&scheduler, rounds)),
        ("1000 tasks, subscriber", &mut || on(&mut || short_tasks(&scheduler, rounds))),
    ]);
    let per_call = [calls, calls, 1000 * rounds, 1000 * rounds];
    let ns: Vec<f64> = results
        .iter_mut()
        .zip(per_call)
        .map(|((name, samples), units)| util::report(name, samples, units, "call"))
        .collect();
    assert!(subscriber.fields.load(Ordering::Relaxed) > 0, "the subscriber saw the events");
    println!(
        "tracing on, per IO call: +{:.0} ns ({:.2}x the call without a subscriber); per task of one call: +{:.0} ns ({:.2}x)",
        ns[1] - ns[0],
        ns[1] / ns[0],
        ns[3] - ns[2],
        ns[3] / ns[2]
    );
    Ok(())
}
