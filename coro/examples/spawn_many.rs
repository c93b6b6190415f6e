//! Spawns `n` tasks that each park on a timer (all expiring together), then lets them all wake
//! and finish: the `spawn_many` bench case without its peers, for counting what a spawn costs
//! (run it under `strace -f -c`, `valgrind --tool=callgrind`, or read its own report of page
//! faults and resident memory).
//!
//! Arguments: the number of tasks (default 100000), then `uring` or `posix`.

// It reads the process's page faults and resident memory (getrusage, /proc): Unix only.
#[cfg(unix)]
mod unix {
    use std::time::{Duration, Instant};

    use corio_aio::BackendKind;
    use corio_aio::op::Timeout;
    use corio_coro::{Options, Scheduler, io};

    /// Minor page faults, the resident set (KiB) and the CPU time (user, system) of this process
    /// so far.
    fn usage() -> (i64, u64, Duration, Duration) {
        // SAFETY: `getrusage` writes into the zeroed struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let rss =
            status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        (usage.ru_minflt, rss.unwrap_or(0), time(usage.ru_utime), time(usage.ru_stime))
    }

    pub fn main() -> std::io::Result<()> {
        let mut args = std::env::args().skip(1);
        let n: usize = args.next().map(|s| s.parse().expect("a task count")).unwrap_or(100_000);
        let options = match args.next().as_deref() {
            Some("posix") => Options::new().backend(BackendKind::Posix),
            Some("uring") => Options::new().backend(BackendKind::IoUring),
            _ => Options::new(),
        };
        let scheduler = Scheduler::with_options(options)?;
        let (faults0, rss0, user0, sys0) = usage();
        let start = Instant::now();
        let wake_at = Duration::from_millis(200);
        for _ in 0..n {
            scheduler
                .spawn(move || {
                    let elapsed = start.elapsed();
                    io::single(Timeout::new(wake_at.saturating_sub(elapsed))).expect("timer");
                })
                .detach();
        }
        let spawned = start.elapsed();
        let (faults1, rss1, user1, sys1) = usage();
        scheduler.run(corio_coro::RunMode::Wait)?;
        let (faults2, rss2, user2, sys2) = usage();
        println!(
            "{n} tasks: spawned in {spawned:?} ({:.0} ns each; CPU user {:?} system {:?}); page faults {} per spawn, {} per wake; \
         RSS {rss0} -> {rss1} KiB parked ({:.0} bytes per task), {rss2} KiB after; waking CPU user {:?} \
         system {:?}",
            spawned.as_nanos() as f64 / n as f64,
            user1 - user0,
            sys1 - sys0,
            (faults1 - faults0) as f64 / n as f64,
            (faults2 - faults1) as f64 / n as f64,
            (rss1.saturating_sub(rss0)) as f64 * 1024.0 / n as f64,
            user2 - user1,
            sys2 - sys1,
        );
        Ok(())
    }
}

#[cfg(unix)]
fn main() -> std::io::Result<()> {
    unix::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("spawn_many counts page faults and resident memory through getrusage and /proc: Unix only");
}
