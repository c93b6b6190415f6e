//! Shared bench plumbing (used by the aio and coro benches): interleaved rounds, medians, and
//! the report line.

// Each bench uses a subset of these helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Repetitions of each implementation (interleaved A B C A B C …).
pub fn rounds() -> usize {
    std::env::var("CORIO_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(7)
}

/// Scales work counts down when `CORIO_BENCH_QUICK` is set (CI smoke runs).
pub fn scaled(n: u64) -> u64 {
    if std::env::var_os("CORIO_BENCH_QUICK").is_some() { (n / 50).max(1) } else { n }
}

/// Runs each named implementation `rounds()` times, interleaved, and returns per-implementation
/// durations.
pub fn interleave(impls: &mut [(&'static str, &mut dyn FnMut() -> Duration)]) -> Vec<(&'static str, Vec<Duration>)> {
    let mut out: Vec<(&'static str, Vec<Duration>)> = impls.iter().map(|(n, _)| (*n, Vec::new())).collect();
    for _ in 0..rounds() {
        for (i, (_, f)) in impls.iter_mut().enumerate() {
            out[i].1.push(f());
        }
    }
    out
}

/// Median, min and max of `samples` (sorted in place).
pub fn stats(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[0], samples[samples.len() - 1])
}

/// Times `f`.
pub fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Prints the machine header.
pub fn header(name: &str) {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("# {name}: kernel {}, {cpus} cpus, {} rounds interleaved, median [min..max]", kernel.trim(), rounds());
}

/// Prints one implementation's line: `per`-unit cost as median [min..max] in ns.
pub fn report(name: &str, samples: &mut [Duration], units: u64, per: &str) -> f64 {
    let (median, min, max) = stats(samples);
    let ns = |d: Duration| d.as_nanos() as f64 / units as f64;
    println!("{name:>28}: {:9.1} ns/{per} [{:.1}..{:.1}]", ns(median), ns(min), ns(max));
    ns(median)
}
