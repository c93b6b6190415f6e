//! `timer_precision`: how late `Timeout` ops of 50 µs, 1 ms and 10 ms complete, on each
//! backend: median and p99 of (observed − requested), one timer in flight at a time; and the
//! process CPU time each timer cost (where the OS tells it).
//!
//! Rows: `io_uring` (plain timeouts in the backend's user-space heap, kernel waits with a
//! timeout), `posix` (the emulation engine, default settings), and `io_uring+spin` and
//! `posix+spin`: the same with precise timers (`Dynamic::set_timer_spin`), which busy-poll the
//! last [`SPIN`] before each deadline instead of sleeping; their CPU column is the price.
//!
//! Run: `cargo bench -p corio-aio --bench timer_precision` (`CORIO_BENCH_QUICK=1`: fewer samples).

mod util;

use std::time::{Duration, Instant};

use corio_aio::op::Timeout;
use corio_aio::{BackendKind, Dynamic};

/// The `+spin` rows' busy-poll window.
const SPIN: Duration = Duration::from_micros(200);

/// CPU time used so far by this process (every thread, so the posix worker pool counts too).
#[cfg(unix)]
fn cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to write.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (r == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(unix))]
fn cpu_time() -> Option<Duration> {
    None
}

/// One row: a ring and what its timers measured.
struct Row {
    name: &'static str,
    ring: Dynamic<'static>,
    late: Vec<Duration>,
    /// Process CPU time and wall time spent in this row's timers.
    cpu: Option<Duration>,
    wall: Duration,
}

impl Row {
    fn new(name: &'static str, kind: BackendKind, spin: Duration) -> std::io::Result<Row> {
        let mut ring = Dynamic::with_backend(8, kind)?;
        ring.set_timer_spin(spin);
        Ok(Row { name, ring, late: Vec::new(), cpu: Some(Duration::ZERO), wall: Duration::ZERO })
    }

    /// Runs `samples` timers of `delay`, one at a time.
    fn measure(&mut self, delay: Duration, samples: usize) {
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        for _ in 0..samples {
            let start = Instant::now();
            self.ring.run(Timeout::new(delay), |_| {}).expect("run").expect("timeout");
            self.late.push(start.elapsed().checked_sub(delay).expect("a timeout never fires early"));
        }
        self.wall += wall0.elapsed();
        self.cpu = match (self.cpu, cpu0, cpu_time()) {
            (Some(sum), Some(a), Some(b)) => Some(sum + b.saturating_sub(a)),
            _ => None,
        };
    }

    /// Prints the row's line for `delay` and clears it for the next delay.
    fn report(&mut self, delay: Duration) {
        let v = &mut self.late;
        v.sort();
        let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
        let cpu = match self.cpu {
            Some(cpu) => format!(
                "cpu/timer {:>9?} ({:.0}% of wall)",
                cpu / v.len() as u32,
                100.0 * cpu.as_secs_f64() / self.wall.as_secs_f64()
            ),
            None => String::new(),
        };
        println!(
            "{delay:>8?} {:>10}: lateness median {:>9?}  p99 {:>9?}  max {:>9?}  {cpu}  (n={})",
            self.name,
            p(0.5),
            p(0.99),
            v[v.len() - 1],
            v.len()
        );
        v.clear();
        (self.cpu, self.wall) = (Some(Duration::ZERO), Duration::ZERO);
    }
}

fn main() -> std::io::Result<()> {
    util::header("timer_precision (lateness = observed - requested)");
    let mut rows = [
        Row::new("io_uring", BackendKind::IoUring, Duration::ZERO)?,
        Row::new("posix", BackendKind::Posix, Duration::ZERO)?,
        Row::new("io_uring+spin", BackendKind::IoUring, SPIN)?,
        Row::new("posix+spin", BackendKind::Posix, SPIN)?,
    ];
    println!("+spin rows busy-poll the last {SPIN:?} before each deadline (Dynamic::set_timer_spin)");
    for (delay, samples) in
        [(Duration::from_micros(50), 2000), (Duration::from_millis(1), 500), (Duration::from_millis(10), 100)]
    {
        let samples = util::scaled(samples as u64).max(20) as usize;
        // Interleave the rows in chunks so all see the same machine conditions.
        for _ in 0..util::rounds() {
            for row in &mut rows {
                row.measure(delay, samples / util::rounds());
            }
        }
        for row in &mut rows {
            row.report(delay);
        }
    }
    println!("target: p99 lateness < 100 µs on an idle machine");
    Ok(())
}
