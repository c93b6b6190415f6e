//! `Scheduler::metrics` against known workloads (the counts add up), `Scheduler::dump` (each
//! task's name, state, ops and deadline), and both over a `Runtime`. On the default backend,
//! and on posix with `CORIO_BACKEND=posix`.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::time::Duration;

use corio::coro::runtime::Runtime;
use corio::coro::sync::Channel;
use corio::coro::{Metrics, RunMode, Scheduler, SpawnOptions, sleep, timeout, yield_now};

/// Queued ops are completed or in flight, and every spawned task is finished or alive.
fn assert_adds_up(m: &Metrics) {
    assert_eq!(m.ops_queued + m.cancels_queued, m.ops_completed + m.ops_in_flight, "{m:#?}");
    assert_eq!(m.tasks_spawned, m.tasks_finished + m.tasks_live, "{m:#?}");
    assert_eq!(m.ops_in_flight, m.in_flight_by_kind.iter().map(|(_, n)| n).sum::<u64>(), "{m:#?}");
}

#[test]
fn metrics_count_a_known_workload() {
    let scheduler = Scheduler::new().unwrap();
    assert_eq!(scheduler.metrics(), Metrics::default());
    for _ in 0..10 {
        scheduler
            .spawn(|| {
                for _ in 0..3 {
                    sleep(Duration::from_millis(1)).unwrap();
                }
            })
            .detach();
    }
    let m = scheduler.metrics();
    assert_eq!((m.tasks_spawned, m.tasks_live, m.ops_queued, m.ops_in_flight), (10, 10, 10, 10));
    assert_eq!(m.in_flight_by_kind, vec![("timeout", 10)]);
    assert_adds_up(&m);
    scheduler.run(RunMode::Wait).unwrap();
    let m = scheduler.metrics();
    assert_eq!((m.tasks_spawned, m.tasks_finished, m.tasks_live), (10, 10, 0));
    assert_eq!((m.ops_queued, m.ops_completed, m.ops_in_flight, m.cancels_queued), (30, 30, 0, 0));
    // Each task parks in each sleep and is resumed from it, after its first start.
    assert_eq!((m.parks, m.resumes), (30, 40));
    assert!(m.reaps > 0 && m.reaps <= 30 && m.max_completions_per_reap >= 1, "{m:#?}");
    assert!(m.ticks >= m.reaps && m.ready_queue_high_water >= 1, "{m:#?}");
    assert!(m.kernel_wait > Duration::ZERO, "the sleeps waited in the kernel");
    assert!((m.completions_per_reap() - 30.0 / m.reaps as f64).abs() < 1e-9);
    assert_adds_up(&m);

    // A canceled sleep: its op, and the cancel the call queues for it.
    let before = scheduler.metrics();
    scheduler.spawn(|| sleep(Duration::from_secs(60))).cancel_and_join().unwrap_err();
    let m = scheduler.metrics();
    assert_eq!(m.ops_queued - before.ops_queued, 1);
    assert_eq!(m.cancels_queued - before.cancels_queued, 1);
    assert_eq!(m.ops_completed - before.ops_completed, 2);
    // Parked in the sleep, resumed by the cancel, parked until both completed, resumed.
    assert_eq!((m.parks - before.parks, m.resumes - before.resumes), (2, 3));
    assert_adds_up(&m);
    assert!(m.to_string().starts_with("tasks 0 live (11 spawned, 11 finished)"), "{m}");
}

#[test]
fn dump_names_each_task_its_state_ops_and_deadline() {
    let scheduler = Scheduler::new().unwrap();
    let channel: std::rc::Rc<Channel<u8>> = std::rc::Rc::new(Channel::unbounded());
    let c = channel.clone();
    let _sleeper = scheduler.spawn_with(SpawnOptions::new().name("sleeper"), || {
        timeout(Duration::from_secs(600), || sleep(Duration::from_secs(60)))
    });
    let _receiver = scheduler.spawn_with(SpawnOptions::new().name("receiver"), move || c.recv());
    let yielder = scheduler.spawn_with(SpawnOptions::new().name("yielder"), || yield_now(3u8));
    let _plain = scheduler.spawn(|| sleep(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(20));
    scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    let dump = scheduler.dump();
    let line = |name: &str| {
        dump.lines().find(|l| l.contains(&format!("task '{name}' (id "))).unwrap_or_else(|| panic!("{name}: {dump}"))
    };
    let sleeper = line("sleeper");
    assert!(sleeper.contains("parked in IO for ") && sleeper.contains(" on timeout of 60.0s (due in "), "{sleeper}");
    assert!(sleeper.contains("(deadline in "), "{sleeper}");
    let receiver = line("receiver");
    assert!(receiver.contains("parked in IO") && receiver.contains(" on wait"), "{receiver}");
    assert!(!receiver.contains("deadline"), "{receiver}");
    assert!(line("yielder").contains("parked in yield_now"), "{dump}");
    assert!(dump.lines().any(|l| l.starts_with("  task ") && !l.contains('\'') && l.contains("on timeout")), "{dump}");
    assert!(dump.starts_with("scheduler: tasks 4 live"), "{dump}");
    assert_eq!(dump.lines().count(), 5, "{dump}");
    yielder.cancel();
    // A task that ended leaves the dump.
    assert!(yielder.is_complete());
    assert!(!scheduler.dump().contains("task 'yielder'"));
}

#[test]
fn runtime_metrics_and_dump_cover_every_thread() {
    let runtime = Runtime::builder().threads(2).build().unwrap();
    let handles: Vec<_> = (0..20).map(|_| runtime.spawn(|| sleep(Duration::from_millis(1)))).collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let m = runtime.metrics().unwrap();
    // The 20 tasks and each thread's mailbox task.
    assert_eq!(m.tasks_spawned, 22, "{m:#?}");
    assert_eq!(m.tasks_finished, 20, "{m:#?}");
    assert_adds_up(&m);
    let per_thread: u64 = (0..2).map(|i| runtime.thread_metrics(i).unwrap().tasks_spawned).sum();
    assert_eq!(per_thread, 22);
    assert_eq!(runtime.thread_metrics(2).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);

    let _parked = runtime.spawn_on(1, || {
        let options = SpawnOptions::new().name("stuck client");
        corio::coro::spawn_with(options, || sleep(Duration::from_secs(60))).join()
    });
    std::thread::sleep(Duration::from_millis(20));
    let dump = runtime.dump().unwrap();
    assert!(dump.contains("thread 0: scheduler: ") && dump.contains("thread 1: scheduler: "), "{dump}");
    assert_eq!(dump.matches("task 'corio-runtime-mailbox'").count(), 2, "{dump}");
    let stuck = dump.lines().find(|l| l.contains("task 'stuck client'")).unwrap_or_else(|| panic!("{dump}"));
    assert!(stuck.contains("parked in IO for ") && stuck.contains("on timeout"), "{stuck}");
    assert!(dump.contains("parked joining another task"), "{dump}");
}

#[test]
fn metrics_by_kind_add_up_for_reads_timeouts_and_cancels() {
    use corio::aio::op::{Read, Timeout};
    use corio::coro::io as cio;
    let scheduler = Scheduler::new().unwrap();
    let (reads, timeouts, cancels) = (5u64, 3u64, 2u64);
    scheduler
        .spawn(move || {
            let zero = std::fs::File::open("/dev/zero").unwrap();
            let mut buf = [1u8; 16];
            for _ in 0..reads {
                assert_eq!(cio::single(Read::new(&zero, &mut buf)).unwrap(), 16);
            }
            for _ in 0..timeouts {
                cio::single(Timeout::new(Duration::from_millis(1))).unwrap();
            }
        })
        .detach();
    let sleepers: Vec<_> = (0..cancels).map(|_| scheduler.spawn(|| sleep(Duration::from_secs(60)))).collect();
    let m = scheduler.metrics();
    let kind = |m: &Metrics, k: &str| m.by_kind.iter().find(|x| x.kind == k).cloned().unwrap_or_default();
    // Spawned tasks run until they park: the reader in its first read, the sleepers' timeouts.
    assert_eq!((kind(&m, "read").in_flight, kind(&m, "read").completed), (1, 0), "{m:#?}");
    assert_eq!((kind(&m, "timeout").queued, kind(&m, "timeout").in_flight), (cancels, cancels), "{m:#?}");
    for s in &sleepers {
        s.cancel();
    }
    scheduler.run(RunMode::Wait).unwrap();
    for s in sleepers {
        assert!(corio::aio::is_canceled(&s.join().unwrap_err()));
    }
    let m = scheduler.metrics();
    let (read, timeout, cancel) = (kind(&m, "read"), kind(&m, "timeout"), kind(&m, "cancel"));
    assert_eq!((read.queued, read.completed, read.in_flight, read.canceled), (reads, reads, 0, 0), "{m:#?}");
    let t = timeouts + cancels;
    assert_eq!((timeout.queued, timeout.completed, timeout.in_flight, timeout.canceled), (t, t, 0, cancels), "{m:#?}");
    assert_eq!((cancel.queued, cancel.completed, cancel.canceled), (cancels, cancels, 0), "{m:#?}");
    assert_eq!(m.by_kind.len(), 3, "{m:#?}");
    // The kinds add up to the totals.
    assert_eq!(m.by_kind.iter().map(|k| k.queued).sum::<u64>(), m.ops_queued + m.cancels_queued, "{m:#?}");
    assert_eq!(m.by_kind.iter().map(|k| k.completed).sum::<u64>(), m.ops_completed, "{m:#?}");
    assert_eq!((m.ops_queued, m.cancels_queued, m.ops_in_flight), (reads + t, cancels, 0), "{m:#?}");
    assert_adds_up(&m);
    assert!(m.to_string().ends_with("; by kind read 5/0, timeout 5/0/2 canceled, cancel 2/0"), "{m}");
}

#[cfg(unix)]
#[test]
fn dump_shows_each_ops_descriptor_and_a_timeouts_due_time() {
    use corio::aio::op::{Recv, Timeout};
    use corio::coro::io as cio;
    use std::os::fd::AsRawFd;
    let scheduler = Scheduler::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let _reader = scheduler.spawn_with(SpawnOptions::new().name("reader"), move || {
        let mut buf = [0u8; 8];
        cio::single(Recv::new(&a, &mut buf))
    });
    let _timer = scheduler.spawn_with(SpawnOptions::new().name("timer"), || {
        cio::multi((Timeout::new(Duration::from_secs(90)), Timeout::new(Duration::from_secs(90))))
    });
    let dump = scheduler.dump();
    let line = |name: &str| {
        dump.lines().find(|l| l.contains(&format!("task '{name}' (id "))).unwrap_or_else(|| panic!("{name}: {dump}"))
    };
    assert!(line("reader").contains(&format!(" on recv fd {fd}")), "{dump}");
    let timer = line("timer");
    assert!(
        timer.contains(" on timeout of 90.0s (due in ") && !timer.contains(" ago") && timer.ends_with(" ×2"),
        "{timer}"
    );
    assert!(!timer.contains(" fd "), "{timer}");
}

#[test]
fn a_park_after_a_kernel_wait_is_dated_after_it() {
    let scheduler = Scheduler::new().unwrap();
    let _napper = scheduler.spawn_with(SpawnOptions::new().name("napper"), || {
        sleep(Duration::from_millis(300)).unwrap();
        sleep(Duration::from_secs(60))
    });
    // One pass: waits 300 ms in the kernel, then resumes the task into its long sleep.
    scheduler.tick(corio::aio::Mode::Blocking).unwrap();
    let dump = scheduler.dump();
    let napper = dump.lines().find(|l| l.contains("task 'napper'")).unwrap_or_else(|| panic!("{dump}"));
    let parked_for = napper.split("parked in IO for ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap();
    // Dated by the pass's start, it would show at least 300 ms.
    assert!(parse_duration(parked_for) < Duration::from_millis(250), "{napper}");
    assert!(napper.contains("on timeout of 60.0s (due in "), "{napper}");
}

/// Reads back a `{:.1?}` duration (`218.9µs`, `12.5ms`, `1.4s`).
fn parse_duration(text: &str) -> Duration {
    let at = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or_else(|| panic!("{text}"));
    let value: f64 = text[..at].parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    let scale = match &text[at..] {
        "ns" => 1e-9,
        "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        unit => panic!("{text}: unit {unit}"),
    };
    Duration::from_secs_f64(value * scale)
}
