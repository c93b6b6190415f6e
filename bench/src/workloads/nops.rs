//! nops: batches of 32 nops, corio's `Dynamic` (capacity 32768) against a raw `io-uring` loop
//! set up the same way (SINGLE_ISSUER|DEFER_TASKRUN).

use std::io;
use std::time::Instant;

use corio_aio::op::Nop;
use corio_aio::{BackendKind, Dynamic, Mode};

use super::Case;
use crate::harness::Sample;

const BATCH: usize = 32;
const ENTRIES: u32 = 32768;

pub fn cases(_quick: bool) -> Vec<Case> {
    vec![
        Case::new("nops", None, format!("batches of {BATCH} nops, ring of {ENTRIES}"))
            .metric("throughput", "Mnop/s", true)
            .impls(&["corio-aio", "io-uring"]),
    ]
}

pub fn run(_case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let total: u64 = if quick { 2_000_000 } else { 10_000_000 };
    let start;
    let mut done = 0u64;
    match imp {
        "corio-aio" => {
            let mut ring = Dynamic::new(ENTRIES)?;
            if ring.backend() != BackendKind::IoUring {
                return Err(io::Error::other(format!("corio runs on {} here, not io_uring", ring.describe())));
            }
            start = Instant::now();
            while done < total {
                ring.queue([Nop::new(); BATCH])?;
                let mut got = 0;
                while got < BATCH {
                    got += ring.complete(Mode::Blocking, |c| assert!(c.result.is_ok(), "nop failed"))?.completed;
                }
                done += BATCH as u64;
            }
        }
        "io-uring" => {
            let mut ring = io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
                .setup_single_issuer()
                .setup_defer_taskrun()
                .build(ENTRIES)?;
            let nop = io_uring::opcode::Nop::new().build();
            start = Instant::now();
            while done < total {
                {
                    let mut sq = ring.submission();
                    for _ in 0..BATCH {
                        // SAFETY: a nop references no memory.
                        unsafe { sq.push(&nop).expect("sq space") };
                    }
                }
                ring.submit_and_wait(BATCH)?;
                let mut got = 0;
                for cqe in ring.completion() {
                    assert!(cqe.result() >= 0, "nop failed");
                    got += 1;
                }
                assert_eq!(got, BATCH);
                done += BATCH as u64;
            }
        }
        _ => return Err(super::unknown(imp)),
    }
    Ok(Sample::new(done as f64 / start.elapsed().as_secs_f64() / 1e6))
}
