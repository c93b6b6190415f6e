//! `backends`: the posix backend against io_uring on the same loops — batches of nops
//! (engine-only), a pipe ping-pong (a read parked on readiness, then the write that wakes it)
//! and zero-length timeouts (the timer queue).
//!
//! Run: `cargo bench -p corio-aio --bench backends` (set `CORIO_BENCH_QUICK=1` for a smoke run).

mod util;

// Measures the posix and io_uring backends, which exist only there.
#[cfg(unix)]
mod bench {
    use super::util;

    use std::os::fd::{FromRawFd, OwnedFd};
    use std::time::Duration;

    use corio_aio::op::{Nop, Read, Timeout, Write};
    use corio_aio::{BackendKind, Dynamic, Mode};

    const BATCH: usize = 32;

    fn nops(ring: &mut Dynamic<'static>, total: u64) -> Duration {
        util::time(|| {
            let mut done = 0;
            while done < total {
                ring.queue([Nop::new(); BATCH]).expect("queue");
                let mut got = 0;
                while got < BATCH {
                    got += ring.complete(Mode::Blocking, drop).expect("complete").completed;
                }
                done += BATCH as u64;
            }
        })
    }

    fn timeouts(ring: &mut Dynamic<'static>, total: u64) -> Duration {
        util::time(|| {
            let mut done = 0;
            while done < total {
                ring.queue([Timeout::new(Duration::ZERO); BATCH]).expect("queue");
                ring.complete_all(drop).expect("complete");
                done += BATCH as u64;
            }
        })
    }

    fn ping_pong(ring: &mut Dynamic<'static>, total: u64) -> Duration {
        let (reader, writer) = pipe();
        let mut buf = [0u8; 8];
        util::time(|| {
            for _ in 0..total {
                // SAFETY: `complete_all` reaps both ops before `buf`, `reader` and `writer` can
                // be touched again or dropped.
                unsafe { ring.queue_unchecked((Read::new(&reader, &mut buf), Write::new(&writer, b"ping"))) }
                    .expect("queue");
                ring.complete_all(drop).expect("complete");
            }
        })
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into the array (close-on-exec does not matter:
        // the benchmark starts no process; plain `pipe` so that macOS builds it too).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
        // SAFETY: both descriptors are new and owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    type Loop = fn(&mut Dynamic<'static>, u64) -> Duration;

    pub(crate) fn main() -> std::io::Result<()> {
        util::header("backends");
        let mut kinds = vec![BackendKind::Posix];
        if Dynamic::with_backend(1, BackendKind::IoUring).is_ok() {
            kinds.push(BackendKind::IoUring);
        }
        let loops: [(&str, Loop, u64, &str); 3] = [
            ("nops", nops, util::scaled(2_000_000), "Mops/s"),
            ("timeouts(0)", timeouts, util::scaled(500_000), "Mops/s"),
            ("pipe ping-pong", ping_pong, util::scaled(100_000), "Mround-trips/s"),
        ];
        for (name, run, total, unit) in loops {
            let mut rings: Vec<Dynamic<'static>> =
                kinds.iter().map(|&k| Dynamic::with_backend(1024, k)).collect::<Result<_, _>>()?;
            let (posix, uring) = rings.split_at_mut(1);
            let has_uring = !uring.is_empty();
            let mut on_posix = || run(&mut posix[0], total);
            let mut on_uring = || run(&mut uring[0], total);
            let mut refs: Vec<(&'static str, &mut dyn FnMut() -> Duration)> = vec![("posix", &mut on_posix)];
            if has_uring {
                refs.push(("io_uring", &mut on_uring));
            }
            for (label, samples) in &mut util::interleave(&mut refs) {
                let (median, min, max) = util::stats(samples);
                let rate = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
                println!("{name:>15} {label:>9}: {:7.3} {unit} [{:.3}..{:.3}]", rate(median), rate(max), rate(min));
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn main() -> std::io::Result<()> {
    bench::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("backends: nothing to measure here (the posix and io_uring backends only)");
}
