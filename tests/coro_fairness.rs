//! The scheduler's order and batching: woken tasks run in the order they were woken (a task
//! woken in one reaping pass runs before any task woken in a later one), a long pass submits
//! its tasks' ops as it goes (and so does a burst of spawns), and a task that always has work
//! starves neither IO nor timers. On the default backend, and on posix with
//! `CORIO_BACKEND=posix`.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corio::aio::Mode;
use corio::aio::op::Nop;
use corio::coro::sync::ResetEvent;
use corio::coro::{RunMode, Scheduler, future, io, sleep};

/// More tasks than the scheduler submits at once (128 ops), so that passes submit midway.
const TASKS: usize = 1_000;

#[test]
fn tasks_run_in_the_order_they_were_woken() {
    // Each task does ROUNDS ops, logging each round as it runs it. Every op of round r is
    // queued before any of round r + 1 (a task queues its next op only once it ran), so in
    // wake order no task runs round r + 1 while another has not run round r: the rounds in
    // the log never go down. A LIFO ready queue, or a woken task left behind tasks woken after
    // it, breaks this.
    const ROUNDS: usize = 5;
    let scheduler = Scheduler::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::with_capacity(TASKS * ROUNDS)));
    for k in 0..TASKS {
        let log = log.clone();
        scheduler
            .spawn(move || {
                for round in 0..ROUNDS {
                    io::single(Nop::new()).unwrap();
                    log.borrow_mut().push((round, k));
                }
            })
            .detach();
    }
    scheduler.run(RunMode::Wait).unwrap();
    let log = log.borrow();
    assert_eq!(log.len(), TASKS * ROUNDS);
    for (i, pair) in log.windows(2).enumerate() {
        assert!(
            pair[0].0 <= pair[1].0,
            "entry {i}: task {} ran round {} before task {} ran round {}",
            pair[0].1,
            pair[0].0,
            pair[1].1,
            pair[1].0
        );
    }
}

#[test]
fn a_burst_of_spawns_submits_as_it_goes() {
    // Each new task runs until it parks in its op. Before any tick, the spawns have submitted
    // most of those ops (and reaped the ones that completed), so the kernel works on them
    // while the burst goes on instead of after it.
    let scheduler = Scheduler::new().unwrap();
    let tasks: Vec<_> = (0..TASKS).map(|_| scheduler.spawn(|| io::single(Nop::new()))).collect();
    let m = scheduler.metrics();
    assert_eq!(m.ops_queued, TASKS as u64, "{m:#?}");
    assert!(m.reaps > 0 && m.ops_completed >= (TASKS / 2) as u64, "no submission during the spawns: {m:#?}");
    assert_eq!(m.ops_completed as usize + m.ops_in_flight as usize, TASKS, "{m:#?}");
    for task in tasks {
        task.join().unwrap();
    }
}

#[test]
fn a_long_pass_submits_as_it_goes() {
    // TASKS tasks are made ready together (an event they wait for is set); the pass that
    // resumes them submits their ops every 128 or so, reaping between, not once at its end.
    let scheduler = Scheduler::new().unwrap();
    let go = Rc::new(ResetEvent::new());
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let go = go.clone();
            scheduler.spawn(move || {
                go.wait().unwrap();
                io::single(Nop::new())
            })
        })
        .collect();
    go.set();
    assert_eq!(scheduler.metrics().ready_queue_depth, TASKS as u64);
    let before = scheduler.metrics().reaps;
    scheduler.tick(Mode::Nonblocking).unwrap();
    let m = scheduler.metrics();
    assert!(m.reaps - before >= 4, "one pass over {TASKS} ready tasks reaped {} times: {m:#?}", m.reaps - before);
    for task in tasks {
        task.join().unwrap();
    }
}

/// A future that is never ready until `stop` is set, and wakes itself at every poll: its
/// task is always ready to run.
struct Busy {
    stop: Rc<Cell<bool>>,
    polls: u64,
    started: Instant,
}

impl Future for Busy {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        self.polls += 1;
        if self.stop.get() {
            return Poll::Ready(self.polls);
        }
        assert!(self.started.elapsed() < Duration::from_secs(20), "the timer task starved");
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_task_that_always_has_work_starves_no_one() {
    let scheduler = Scheduler::new().unwrap();
    let stop = Rc::new(Cell::new(false));
    let spinner = {
        let stop = stop.clone();
        scheduler.spawn(move || future::block_on(Busy { stop, polls: 0, started: Instant::now() }))
    };
    // A task that always has IO work: an op that completes at once, again and again.
    let io_spinner = {
        let stop = stop.clone();
        scheduler.spawn(move || {
            let mut ops = 0u64;
            while !stop.get() {
                io::single(Nop::new()).unwrap();
                ops += 1;
            }
            ops
        })
    };
    let sleeper = scheduler.spawn(move || {
        sleep(Duration::from_millis(10)).unwrap();
        stop.set(true);
    });
    sleeper.join();
    assert!(spinner.join().unwrap() > 1);
    assert!(io_spinner.join() > 1);
}
