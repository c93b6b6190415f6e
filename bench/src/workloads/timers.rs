//! timers: 100,000 concurrent timeouts of random 0–10 ms durations (the same durations for
//! every implementation). Reports the total time until the last one fired, and how late each
//! fired (p50/p99 of completion time − (start + duration), where `start` is taken before the
//! first timer is created).

use std::io;
use std::time::{Duration, Instant};

use corio_aio::op::{OpExt, Timeout};
use corio_aio::{Dynamic, Mode};

use super::{Case, rt};
use crate::harness::Sample;
use crate::util::{self, Rng};

const TIMERS: usize = 100_000;

pub fn cases(_quick: bool) -> Vec<Case> {
    vec![
        Case::new("timers", None, format!("{TIMERS} concurrent timeouts of 0–10 ms; p50/p99 = lateness"))
            .metric("total time", "ms", false)
            .impls(&["corio-aio", "corio-coro", "io-uring", "tokio", "compio", "monoio", "may"])
            .note(
                "corio-aio queues one unlinked Timeout op per timer, which its io_uring backend keeps in a \
                 user-space heap (kernel waits end at the earliest deadline); io-uring queues one kernel \
                 Timeout op per timer (one hrtimer each), as a reference. corio-coro: a task per timer, \
                 parked in `io::single(Timeout)` \
                 (100,000 tasks with 64 KiB stacks). The peers keep timers in their own timer wheel/heap.",
            )
            .note(format!(
                "may gives each coroutine stack its own memory mappings; vm.max_map_count here is {}.",
                std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default().trim()
            )),
    ]
}

fn durations() -> Vec<Duration> {
    let mut rng = Rng::new(7);
    (0..TIMERS).map(|_| Duration::from_micros(rng.below(10_001))).collect()
}

fn late(start: Instant, d: Duration) -> u64 {
    start.elapsed().saturating_sub(d).as_nanos() as u64
}

pub fn run(_case: &Case, imp: &str, _quick: bool) -> io::Result<Sample> {
    let durations = durations();
    let (elapsed, lateness) = match imp {
        "corio-aio" => corio(&durations)?,
        "corio-coro" => super::coro::timers(&durations, late)?,
        "io-uring" => raw(&durations)?,
        "tokio" => tokio(&durations)?,
        "compio" => compio(&durations)?,
        "monoio" => monoio(&durations)?,
        "may" => may(&durations)?,
        _ => return Err(super::unknown(imp)),
    };
    if lateness.len() != TIMERS {
        return Err(io::Error::other(format!("{} timers fired, {TIMERS} expected", lateness.len())));
    }
    let mut hist = util::histogram();
    for ns in lateness {
        util::record(&mut hist, Duration::from_nanos(ns));
    }
    Ok(Sample::new(elapsed.as_secs_f64() * 1e3)
        .with("p50_us", util::quantile_us(&hist, 0.5))
        .with("p99_us", util::quantile_us(&hist, 0.99)))
}

type Outcome = io::Result<(Duration, Vec<u64>)>;

fn corio(durations: &[Duration]) -> Outcome {
    let mut ring = Dynamic::new(TIMERS as u32)?;
    let mut lateness = Vec::with_capacity(TIMERS);
    let mut failed = None;
    let start = Instant::now();
    for (i, d) in durations.iter().enumerate() {
        ring.queue(Timeout::new(*d).user_data(i as u64))?;
    }
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| match c.result {
            Ok(_) => lateness.push(late(start, durations[c.user_data as usize])),
            Err(e) => failed = Some(e),
        })?;
        if let Some(e) = failed.take() {
            return Err(e);
        }
    }
    Ok((start.elapsed(), lateness))
}

/// The same on the `io-uring` crate directly, as a reference for corio's figure.
fn raw(durations: &[Duration]) -> Outcome {
    use io_uring::{opcode, types::Timespec};
    let specs: Vec<Timespec> =
        durations.iter().map(|d| Timespec::new().sec(d.as_secs()).nsec(d.subsec_nanos())).collect();
    let mut ring = io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(65536)
        .build(32768)?;
    let mut lateness = Vec::with_capacity(TIMERS);
    let start = Instant::now();
    for (i, spec) in specs.iter().enumerate() {
        let entry = opcode::Timeout::new(spec).build().user_data(i as u64);
        if ring.submission().is_full() {
            ring.submit()?;
        }
        // SAFETY: `specs` outlives the loop below, which reaps every timeout.
        unsafe { ring.submission().push(&entry).expect("sq space") };
    }
    while lateness.len() < TIMERS {
        ring.submit_and_wait(1)?;
        for cqe in ring.completion() {
            if cqe.result() != -libc::ETIME {
                return Err(io::Error::other(format!("timeout result {}", cqe.result())));
            }
            lateness.push(late(start, durations[cqe.user_data() as usize]));
        }
    }
    Ok((start.elapsed(), lateness))
}

fn tokio(durations: &[Duration]) -> Outcome {
    rt::tokio().block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = durations
            .iter()
            .map(|&d| {
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    late(start, d)
                })
            })
            .collect();
        let mut lateness = Vec::with_capacity(TIMERS);
        for t in tasks {
            lateness.push(t.await.map_err(io::Error::other)?);
        }
        Ok((start.elapsed(), lateness))
    })
}

fn compio(durations: &[Duration]) -> Outcome {
    rt::compio().block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = durations
            .iter()
            .map(|&d| {
                compio::runtime::spawn(async move {
                    compio::time::sleep(d).await;
                    late(start, d)
                })
            })
            .collect();
        let mut lateness = Vec::with_capacity(TIMERS);
        for t in tasks {
            lateness.push(t.await.map_err(|e| io::Error::other(format!("{e:?}")))?);
        }
        Ok((start.elapsed(), lateness))
    })
}

fn monoio(durations: &[Duration]) -> Outcome {
    rt::monoio(false, || async move {
        let start = Instant::now();
        let tasks: Vec<_> = durations
            .iter()
            .map(|&d| {
                monoio::spawn(async move {
                    monoio::time::sleep(d).await;
                    late(start, d)
                })
            })
            .collect();
        let mut lateness = Vec::with_capacity(TIMERS);
        for t in tasks {
            lateness.push(t.await);
        }
        Ok((start.elapsed(), lateness))
    })
}

fn may(durations: &[Duration]) -> Outcome {
    rt::may();
    let durations = durations.to_vec();
    let driver = may::go!(move || {
        let start = Instant::now();
        let tasks: Vec<_> = durations
            .iter()
            .map(|&d| {
                may::go!(move || {
                    may::coroutine::sleep(d);
                    late(start, d)
                })
            })
            .collect();
        let lateness: Vec<u64> = tasks.into_iter().map(|t| t.join().expect("may timer panicked")).collect();
        (start.elapsed(), lateness)
    });
    driver.join().map_err(|_| io::Error::other("may driver panicked"))
}
