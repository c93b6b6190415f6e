//! Scheduler and task behaviour: spawning, joining, nesting, yields, panics, many tasks.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

// aio's test helpers: one copy, shared with corio-aio's tests (see its header).
#[path = "../aio/tests/common/mod.rs"]
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::aio::op::{Nop, Timeout};
use corio::coro::{self, RunMode, Scheduler, YieldState, io};

#[test]
fn spawn_runs_until_the_first_park() {
    let scheduler = Scheduler::new().unwrap();
    let steps = Rc::new(Cell::new(0));
    let s = steps.clone();
    let task = scheduler.spawn(move || {
        s.set(1);
        io::single(Nop::new()).unwrap();
        s.set(2);
    });
    assert_eq!(steps.get(), 1, "the task ran until its first IO");
    assert!(!task.is_complete());
    task.join();
    assert_eq!(steps.get(), 2);
}

#[test]
fn join_returns_values() {
    let scheduler = Scheduler::new().unwrap();
    let a = scheduler.spawn(|| 1 + 1);
    assert!(a.is_complete());
    let b = scheduler.spawn(|| {
        io::single(Timeout::new(Duration::from_millis(2))).unwrap();
        String::from("later")
    });
    assert_eq!(b.join(), "later");
    assert_eq!(a.join(), 2);
    assert_eq!(scheduler.live_tasks(), 0);
}

#[test]
fn nested_spawns_and_joins_inside_tasks() {
    let scheduler = Scheduler::new().unwrap();
    let outer = scheduler.spawn(|| {
        let children: Vec<_> = (0..10u64)
            .map(|i| {
                coro::spawn(move || {
                    io::single(Timeout::new(Duration::from_millis(10 - i))).unwrap();
                    let grandchild = coro::spawn(move || i * 2);
                    grandchild.join() + 1
                })
            })
            .collect();
        children.into_iter().map(|c| c.join()).sum::<u64>()
    });
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(outer.join(), (0..10).map(|i| i * 2 + 1).sum());
}

#[test]
fn io_outside_a_task_is_the_immediate_api() {
    assert!(!coro::in_task());
    let ((), ()) = io::multi((Nop::new(), Timeout::new(Duration::from_micros(100)))).unwrap();
    let (a, b) = io::complete((Nop::new(), Nop::new())).unwrap();
    assert!(a.is_ok() && b.is_ok());
}

#[test]
fn one_submission_per_tick_serves_every_task() {
    let scheduler = Scheduler::new().unwrap();
    let done = Rc::new(Cell::new(0));
    for _ in 0..100 {
        let done = done.clone();
        scheduler
            .spawn(move || {
                for _ in 0..3 {
                    io::single(Nop::new()).unwrap();
                }
                done.set(done.get() + 1);
            })
            .detach();
    }
    let mut ticks = 0;
    while scheduler.tick(corio::aio::Mode::Blocking).unwrap() > 0 {
        ticks += 1;
    }
    assert_eq!(done.get(), 100);
    assert!(ticks <= 30, "nops of all tasks batched per tick, got {ticks} ticks");
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Waiting = 1,
    Again = 2,
}

impl YieldState for Phase {
    fn to_u8(self) -> u8 {
        self as u8
    }
    fn from_u8(value: u8) -> Phase {
        if value == 1 { Phase::Waiting } else { Phase::Again }
    }
}

#[test]
fn yield_and_wakeup_with_state() {
    let scheduler = Scheduler::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let task = scheduler.spawn(move || {
        l.borrow_mut().push("start");
        coro::yield_now(Phase::Waiting).unwrap();
        l.borrow_mut().push("woken");
        coro::yield_now(Phase::Again).unwrap();
        l.borrow_mut().push("end");
        7
    });
    assert_eq!(task.state::<Phase>(), Some(Phase::Waiting));
    assert!(!task.wakeup_if(Phase::Again), "state does not match");
    assert_eq!(*log.borrow(), ["start"]);
    assert!(task.wakeup_if(Phase::Waiting));
    assert_eq!(*log.borrow(), ["start", "woken"]);
    assert_eq!(task.state::<Phase>(), Some(Phase::Again));
    task.wakeup();
    assert!(task.is_complete());
    assert_eq!(task.state::<Phase>(), None);
    assert!(!task.wakeup_if(Phase::Again));
    assert_eq!(task.join(), 7);
}

#[test]
fn wakeup_of_a_task_not_parked_in_yield_now_panics() {
    let scheduler = Scheduler::new().unwrap();
    let in_io = scheduler.spawn(|| io::single(Timeout::new(Duration::from_millis(1))));
    let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| in_io.wakeup()));
    let payload = woken.expect_err("waking a task parked in IO panics");
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("not parked in yield_now") && message.contains("parked in IO"), "{message}");
    in_io.join().unwrap();
    let finished = scheduler.spawn(|| ());
    let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finished.wakeup()));
    assert!(woken.is_err(), "waking a finished task panics");
    assert!(!finished.wakeup_if(1u8), "wakeup_if never panics");
}

#[test]
fn a_panic_reaches_join_and_other_tasks_continue() {
    let scheduler = Scheduler::new().unwrap();
    let survivor = scheduler.spawn(|| {
        io::single(Timeout::new(Duration::from_millis(5))).unwrap();
        "still here"
    });
    let doomed = scheduler.spawn(|| {
        io::single(Nop::new()).unwrap();
        panic!("boom in a task");
    });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doomed.join()));
    let payload = caught.expect_err("join resumes the panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in a task"));
    assert_eq!(survivor.join(), "still here");
}

#[test]
fn run_wait_reports_a_deadlock() {
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(|| coro::yield_now(1u8));
    let err = scheduler.run(RunMode::Wait).unwrap_err();
    assert!(err.to_string().contains("deadlock"), "{err}");
    task.wakeup();
    task.join().unwrap();
}

/// The tests with tens of thousands of tasks run one at a time: under qemu-user each stack
/// costs two memory mappings (mprotect guards), and two such tests at once exceed
/// vm.max_map_count (65,530) even at 20,000 tasks each.
fn one_big_test_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static BIG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    BIG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sleepers(count: usize) {
    let _one = one_big_test_at_a_time();
    let scheduler = Scheduler::new().unwrap();
    let done = Rc::new(Cell::new(0usize));
    let start = Instant::now();
    for _ in 0..count {
        let done = done.clone();
        scheduler
            .spawn(move || {
                io::single(Timeout::new(Duration::from_millis(1))).unwrap();
                done.set(done.get() + 1);
            })
            .detach();
    }
    if corio::aio::default_backend() != corio::aio::BackendKind::Iocp {
        // Every task parked in its timer, the queue grown to hold them: each timer was queued,
        // and is in flight or, submitted while the spawns went on, already completed.
        let m = scheduler.metrics();
        assert_eq!((m.ops_queued, m.ops_completed + m.ops_in_flight), (count as u64, count as u64), "{m:#?}");
    }
    // Linux's count (there is no /proc on Windows).
    if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
        eprintln!("{count} tasks spawned: {} memory mappings", maps.lines().count());
    }
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(done.get(), count);
    eprintln!("{count} tasks sleeping 1 ms: {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
#[cfg_attr(
    windows,
    ignore = "under wine each VirtualAlloc'd stack costs the Linux process two memory mappings \
              (its reserved and guard pages, its committed top), so about 28,000 tasks reach \
              vm.max_map_count (65,530); Windows itself has no such limit"
)]
fn a_hundred_thousand_sleeping_tasks() {
    if std::env::var("CORIO_TEST_RUNNER").is_ok_and(|r| r.contains("qemu")) {
        eprintln!(
            "20,000 tasks instead of 100,000 under qemu-user: it accepts MADV_GUARD_INSTALL without \
             installing a guard, so task stacks get mprotect guards (two memory mappings each) and \
             100,000 would exceed vm.max_map_count (65,530)"
        );
        return sleepers(20_000);
    }
    sleepers(100_000);
}

/// Dropping a scheduler cancels every parked task: each canceled IO call cancels its own ops
/// (not a scan of all 100,000 in flight per task, which made this take hours).
#[test]
#[cfg_attr(windows, ignore = "as `a_hundred_thousand_sleeping_tasks` (vm.max_map_count under wine)")]
fn dropping_a_scheduler_cancels_a_hundred_thousand_parked_tasks() {
    let count = if std::env::var("CORIO_TEST_RUNNER").is_ok_and(|r| r.contains("qemu")) { 20_000 } else { 100_000 };
    let _one = one_big_test_at_a_time();
    let scheduler = Scheduler::new().unwrap();
    let tasks: Vec<_> =
        (0..count).map(|_| scheduler.spawn(|| io::single(Timeout::new(Duration::from_secs(3600))))).collect();
    assert_eq!(scheduler.live_tasks(), count);
    drop(scheduler);
    for task in tasks {
        assert!(corio::aio::is_canceled(&task.join().unwrap_err()));
    }
}

/// What wine allows of `a_hundred_thousand_sleeping_tasks` (see its reason for being ignored).
#[test]
#[cfg(windows)]
fn twenty_thousand_sleeping_tasks() {
    sleepers(20_000);
}

/// A queue created small grows to hold every parked task's op (past its size many times
/// over), and cancel still works; on IOCP, whose queue cannot grow, tasks wait for room
/// instead and a batch larger than the queue is refused.
#[test]
fn options_refuse_an_io_queue_below_two_entries() {
    use corio::coro::Options;
    for entries in [0, 1] {
        let err = Scheduler::with_options(Options::new().io_queue_entries(entries)).expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{entries} entries");
    }
    let scheduler = Scheduler::with_options(Options::new().io_queue_entries(2).stack_size(32 * 1024)).unwrap();
    assert_eq!(scheduler.spawn(|| 7).join(), 7);
}

#[test]
fn a_small_io_queue_grows_or_makes_tasks_wait_and_cancel_still_works() {
    use corio::coro::Options;
    let scheduler = Scheduler::with_options(Options::new().io_queue_entries(4)).unwrap();
    let grows = corio::aio::default_backend() != corio::aio::BackendKind::Iocp;
    let done = Rc::new(Cell::new(0));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let done = done.clone();
        tasks.push(scheduler.spawn(move || {
            // Where the queue grows, long enough that none expires while the 1,000 spawns run
            // (a spawn burst submits and reaps every 128 ops: 20 ms timers expired meanwhile on
            // a loaded CI machine); on IOCP short, as the tasks take turns 4 at a time.
            let r = io::single(Timeout::new(Duration::from_millis(if grows { 500 } else { 20 })));
            done.set(done.get() + 1);
            r
        }));
    }
    if grows {
        // Every task ran until it parked with its timer queued: none expired yet.
        let debug = format!("{scheduler:?}");
        assert!(debug.contains("in_flight: 1000"), "{debug}");
    }
    // Cancel some while they wait for their timer (or for room).
    let canceled: Vec<_> = tasks.drain(..25).collect();
    for t in &canceled {
        t.cancel();
    }
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(done.get(), 1000);
    for t in tasks {
        t.join().unwrap();
    }
    for t in canceled {
        let r = t.join();
        assert!(r.is_ok() || corio::aio::is_canceled(&r.unwrap_err()));
    }
    // Twice the initial queue (and as many as its io_uring ring has entries: a batch must fit the ring).
    let big = scheduler.spawn(|| io::multi([Nop::new(); 8]));
    if grows {
        big.join().unwrap();
    } else {
        // A batch larger than the queue is refused, not deadlocked.
        assert_eq!(big.join().unwrap_err().kind(), std::io::ErrorKind::QuotaExceeded);
    }
}

#[test]
fn dropping_a_scheduler_cancels_then_unwinds_parked_tasks() {
    use corio::coro::sync::{ResetEvent, Semaphore};
    struct Flag(Rc<Cell<usize>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let event = Rc::new(ResetEvent::new());
    let sem = Rc::new(Semaphore::new(0));
    let scheduler = Scheduler::new().unwrap();
    let (d, e) = (dropped.clone(), event.clone());
    let on_event = scheduler.spawn(move || {
        let _flag = Flag(d);
        e.wait()
    });
    let (d, s) = (dropped.clone(), sem.clone());
    let on_semaphore = scheduler.spawn(move || {
        let _flag = Flag(d);
        s.acquire()
    });
    // Shields itself from cancellation and parks for good.
    let d = dropped.clone();
    let shielded = scheduler.spawn(move || {
        let _flag = Flag(d);
        coro::set_cancelable(false).unwrap();
        let _ = coro::yield_now(1u8);
    });
    // Joins the shielded task (a join is not interrupted by cancellation).
    let d = dropped.clone();
    scheduler
        .spawn(move || {
            let _flag = Flag(d);
            shielded.join();
        })
        .detach();
    assert_eq!(scheduler.live_tasks(), 4);
    drop(scheduler);
    assert_eq!(dropped.get(), 4, "every task ended or was unwound");
    assert!(corio::aio::is_canceled(&on_event.join().unwrap_err()));
    assert!(corio::aio::is_canceled(&on_semaphore.join().unwrap_err()));
    event.set();
    sem.release();
}

#[test]
fn cancel_from_another_task_and_a_race_with_completion() {
    let scheduler = Scheduler::new().unwrap();
    let sleeper = scheduler.spawn(|| io::single(Timeout::new(Duration::from_secs(30))));
    let canceler = scheduler.spawn(move || {
        io::single(Nop::new()).unwrap();
        sleeper.cancel_and_join()
    });
    let start = Instant::now();
    assert!(corio::aio::is_canceled(&canceler.join().unwrap_err()));
    assert!(start.elapsed() < Duration::from_secs(20), "the 30 s timer was canceled");

    // A cancel that comes too late for the op (a nop completes as it is submitted, before
    // the cancel queued after it): the op's result stands, the next call fails.
    let task = scheduler.spawn(|| {
        let first = io::single(Nop::new());
        let second = io::single(Nop::new());
        (first.is_ok(), second.map_err(|e| corio::aio::is_canceled(&e)))
    });
    task.cancel();
    assert_eq!(task.join(), (true, Err(true)));
}

#[test]
fn a_forgotten_scheduler_leaks_its_parked_tasks_safely() {
    use corio::aio::op::Recv;
    use std::io::Write as _;
    let (a, mut b) = common::stream_pair();
    let scheduler = Scheduler::new().unwrap();
    scheduler
        .spawn(move || {
            let mut buf = [0u8; 64];
            io::single(Recv::new(&a, &mut buf))
        })
        .detach();
    scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    std::mem::forget(scheduler);
    // The kernel may now complete the recv into the leaked task stack: memory that is never
    // freed or reused, so nothing else is written.
    b.write_all(b"into a leaked stack").unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let other = Scheduler::new().unwrap();
    assert_eq!(other.spawn(|| 5).join(), 5);
}

/// The address of a local on the running task's stack.
fn stack_address() -> usize {
    let local = std::hint::black_box(0u8);
    &local as *const u8 as usize
}

#[test]
fn spawn_with_a_stack_size_reuses_pooled_stacks_of_that_size() {
    use corio::coro::SpawnOptions;
    let scheduler = Scheduler::new().unwrap();
    let big = || SpawnOptions::new().stack_size(1 << 20);
    // 256 KiB of locals: far more than the default 64 KiB stack holds.
    fn deep() -> (usize, u64) {
        let address = stack_address();
        let buf = std::hint::black_box([3u8; 256 * 1024]);
        (address, buf.iter().map(|&b| u64::from(b)).sum::<u64>())
    }
    let (address, sum) = scheduler.spawn_with(big(), deep).join();
    assert_eq!(sum, 3 * 256 * 1024);
    let (again, _) = scheduler.spawn_with(big(), deep).join();
    assert_eq!(again, address, "the freed 1 MiB stack is reused");
    // From inside a task, on the same scheduler and the same pool.
    let nested = scheduler.spawn(move || coro::spawn_with(big(), deep).join().0).join();
    assert_eq!(nested, address, "a task's spawn_with reuses the pool too");
    let default = scheduler.spawn(stack_address).join();
    assert!(default.abs_diff(address) > 64 * 1024, "default stacks come from another pool");
}

#[test]
fn spawn_with_an_owned_stack() {
    use corio::coro::SpawnOptions;
    use corio::coro::stack::Stack;
    let scheduler = Scheduler::new().unwrap();
    let stack = Stack::new(256 * 1024).unwrap();
    assert!(stack.size() >= 256 * 1024);
    let task = scheduler.spawn_with(SpawnOptions::new().stack(stack), || {
        let buf = std::hint::black_box([5u8; 96 * 1024]);
        coro::yield_now(1u8).unwrap();
        io::single(Nop::new()).unwrap();
        buf[12345]
    });
    assert_eq!(task.state::<u8>(), Some(1));
    task.wakeup();
    assert_eq!(task.join(), 5);
    // Canceled while parked, the task ends and its stack goes away with it.
    let task = scheduler.spawn_with(SpawnOptions::new().stack(Stack::new(0).unwrap()), || coro::yield_now(1u8));
    assert!(corio::aio::is_canceled(&task.cancel_and_join().unwrap_err()));
}
