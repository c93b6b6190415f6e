//! `aio_nops`: throughput of batches of 32 nops through a `Dynamic` of 32768 entries on each
//! backend, against the same loop written directly on the `io-uring` crate (the ceiling on this
//! kernel).
//!
//! Run: `cargo bench -p corio-aio --bench aio_nops` (set `CORIO_BENCH_QUICK=1` for a smoke run).
//! That is the `bench` profile, fat LTO; the plain `release` profile (the target for the
//! io_uring ratio) is `CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
//! cargo bench -p corio-aio --bench aio_nops`.

mod util;

// Measures io_uring, which exists only there.
#[cfg(target_os = "linux")]
mod bench {
    use super::util;

    use std::time::Duration;

    use corio_aio::op::Nop;
    use corio_aio::{BackendKind, Dynamic, Mode};

    const BATCH: usize = 32;
    const ENTRIES: u32 = 32768;

    // Each loop is a symbol of its own for profilers (not inlined into `main`), so that one
    // run can count each alone: `valgrind --tool=callgrind --toggle-collect=aio_nops::bench::raw`
    // (or `corio_uring`, `corio_posix`). The per-nop path inside is unaffected.
    #[inline(never)]
    fn corio_uring(ring: &mut Dynamic<'static>, total: u64) -> Duration {
        assert_eq!(ring.backend(), BackendKind::IoUring);
        corio(ring, total)
    }

    #[inline(never)]
    fn corio_posix(ring: &mut Dynamic<'static>, total: u64) -> Duration {
        assert_eq!(ring.backend(), BackendKind::Posix);
        corio(ring, total)
    }

    #[inline(always)]
    fn corio(ring: &mut Dynamic<'static>, total: u64) -> Duration {
        util::time(|| {
            let mut done = 0u64;
            while done < total {
                ring.queue([Nop::new(); BATCH]).expect("queue");
                let mut got = 0;
                while got < BATCH {
                    got +=
                        ring.complete(Mode::Blocking, |c| debug_assert!(c.result.is_ok())).expect("complete").completed;
                }
                done += BATCH as u64;
            }
        })
    }

    #[inline(never)]
    fn raw(ring: &mut io_uring::IoUring, total: u64) -> Duration {
        let nop = io_uring::opcode::Nop::new().build();
        util::time(|| {
            let mut done = 0u64;
            while done < total {
                {
                    let mut sq = ring.submission();
                    for _ in 0..BATCH {
                        // SAFETY: a nop references no memory.
                        unsafe { sq.push(&nop).expect("sq space") };
                    }
                }
                ring.submit_and_wait(BATCH).expect("submit");
                let mut got = 0;
                for cqe in ring.completion() {
                    debug_assert!(cqe.result() >= 0);
                    got += 1;
                }
                assert_eq!(got, BATCH);
                done += BATCH as u64;
            }
        })
    }

    pub(crate) fn main() -> std::io::Result<()> {
        util::header("aio_nops");
        let total = util::scaled(10_000_000);
        let mut uring_ring = Dynamic::with_backend(ENTRIES, BackendKind::IoUring)?;
        let mut posix_ring = Dynamic::with_backend(ENTRIES, BackendKind::Posix)?;
        let mut raw_ring = io_uring::IoUring::builder().setup_single_issuer().setup_defer_taskrun().build(ENTRIES)?;
        let mut results = util::interleave(&mut [
            ("corio io_uring", &mut || corio_uring(&mut uring_ring, total)),
            ("corio posix", &mut || corio_posix(&mut posix_ring, total)),
            ("raw io-uring", &mut || raw(&mut raw_ring, total)),
        ]);
        let mut rates = Vec::new();
        for (name, samples) in &mut results {
            let (median, min, max) = util::stats(samples);
            let rate = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
            println!("{name:>16}: {:7.2} Mnops/s [{:.2}..{:.2}]", rate(median), rate(max), rate(min));
            rates.push(rate(median));
        }
        // Issue #15's target holds for the plain release profile too (`CARGO_PROFILE_BENCH_LTO=false
        // CARGO_PROFILE_BENCH_CODEGEN_UNITS=16`), not only with the bench profile's fat LTO.
        println!("ratio corio io_uring / raw io-uring: {:.2}x (target >= 0.95x)", rates[0] / rates[2]);
        println!("ratio corio posix / corio io_uring: {:.2}x (target >= 0.50x)", rates[1] / rates[0]);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("aio_nops: nothing to measure here (io_uring only)");
}
