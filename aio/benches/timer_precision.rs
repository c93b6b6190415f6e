//! `timer_precision`: how late `Timeout` ops of 50 µs, 1 ms and 10 ms complete, on each
//! backend: median and p99 of (observed − requested), one timer in flight at a time.
//!
//! Run: `cargo bench -p corio-aio --bench timer_precision` (`CORIO_BENCH_QUICK=1`: fewer samples).

mod util;

use std::time::{Duration, Instant};

use corio_aio::op::Timeout;
use corio_aio::{BackendKind, Dynamic};

fn lateness(ring: &mut Dynamic<'static>, delay: Duration, samples: usize) -> Vec<Duration> {
    (0..samples)
        .map(|_| {
            let start = Instant::now();
            ring.run(Timeout::new(delay), |_| {}).expect("run").expect("timeout");
            start.elapsed().checked_sub(delay).expect("a timeout never fires early")
        })
        .collect()
}

fn main() -> std::io::Result<()> {
    util::header("timer_precision (lateness = observed - requested)");
    let mut uring = Dynamic::with_backend(8, BackendKind::IoUring)?;
    let mut posix = Dynamic::with_backend(8, BackendKind::Posix)?;
    for (delay, samples) in
        [(Duration::from_micros(50), 2000), (Duration::from_millis(1), 500), (Duration::from_millis(10), 100)]
    {
        let samples = util::scaled(samples as u64).max(20) as usize;
        // Interleave the backends in chunks so both see the same machine conditions.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..util::rounds() {
            a.extend(lateness(&mut uring, delay, samples / util::rounds()));
            b.extend(lateness(&mut posix, delay, samples / util::rounds()));
        }
        for (name, v) in [("io_uring", &mut a), ("posix", &mut b)] {
            v.sort();
            let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
            println!(
                "{delay:>8?} {name:>8}: lateness median {:>9?}  p99 {:>9?}  max {:>9?}  (n={})",
                p(0.5),
                p(0.99),
                v[v.len() - 1],
                v.len()
            );
        }
    }
    println!("target: p99 lateness < 100 µs on an idle machine");
    Ok(())
}
