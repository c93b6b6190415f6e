//! Futures in tasks (`coro::future`): block_on, its waker (same thread and other threads),
//! sleep and timeout on the scheduler's timers, tasks as futures, cancellation.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::cell::RefCell;
use std::future::{Future, poll_fn};

use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio::aio::is_canceled;
use corio::aio::op::Timeout;
use corio::coro::future::{block_on, sleep, timeout};
use corio::coro::{RunMode, Scheduler, io, spawn};
use std::io::ErrorKind;

/// The number of ops in flight in `scheduler`'s IO queue (from its `Debug`).
fn in_flight(scheduler: &Scheduler) -> usize {
    let debug = format!("{scheduler:?}");
    let at = debug.find("in_flight: ").expect("the scheduler's Debug shows in_flight") + "in_flight: ".len();
    debug[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[test]
fn sleep_parks_the_task_and_others_run() {
    let scheduler = Scheduler::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    let sleeper = scheduler.spawn(move || {
        let start = Instant::now();
        block_on(sleep(Duration::from_millis(30))).unwrap();
        o.borrow_mut().push("sleeper");
        start.elapsed()
    });
    let o = order.clone();
    scheduler
        .spawn(move || {
            io::single(Timeout::new(Duration::from_millis(1))).unwrap();
            o.borrow_mut().push("other");
        })
        .detach();
    scheduler.run(RunMode::Wait).unwrap();
    assert!(sleeper.join() >= Duration::from_millis(30));
    assert_eq!(*order.borrow(), ["other", "sleeper"]);
}

#[test]
fn timeout_gives_the_output_or_timed_out_and_cancels_the_loser() {
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(|| {
        block_on(async {
            let quick = timeout(Duration::from_secs(30), async { 5 }).await.unwrap();
            let slow = timeout(Duration::from_millis(2), sleep(Duration::from_secs(60))).await;
            let raced = timeout(Duration::from_secs(60), sleep(Duration::from_millis(2))).await;
            (quick, slow.map_err(|e| e.kind()), raced.is_ok())
        })
        .unwrap()
    });
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(task.join(), (5, Err(ErrorKind::TimedOut), true));
    // The 60-second timers were canceled when their futures were dropped: after a tick that
    // reaps the cancels, nothing is in flight.
    scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(&scheduler) > 0 && Instant::now() < deadline {
        scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    }
    assert_eq!(in_flight(&scheduler), 0);
}

/// A future that is ready once `flag` is set, storing its waker in `slot` until then.
fn flag_future(flag: Arc<AtomicBool>, slot: mpsc::Sender<Waker>) -> impl Future<Output = ()> {
    let mut sent = false;
    poll_fn(move |cx| {
        if flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !sent {
            slot.send(cx.waker().clone()).unwrap();
            sent = true;
        }
        Poll::Pending
    })
}

#[test]
fn a_wake_from_another_thread_resumes_the_task() {
    let scheduler = Scheduler::new().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Waker>();
    let f = flag.clone();
    let waiter = scheduler.spawn(move || block_on(flag_future(f, tx)));
    let waker_thread = std::thread::spawn(move || {
        let waker = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        flag.store(true, Ordering::Release);
        waker.wake();
    });
    // Nothing else runs: the scheduler blocks in the kernel until the other thread's wake.
    scheduler.run(RunMode::Wait).unwrap();
    waiter.join().unwrap();
    waker_thread.join().unwrap();
}

#[test]
fn many_wakes_from_many_threads_all_arrive() {
    let scheduler = Scheduler::new().unwrap();
    const THREADS: usize = 4;
    const WAKES: usize = 200;
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<Waker>();
    let c = count.clone();
    let waiter = scheduler.spawn(move || {
        let mut seen = 0;
        block_on(poll_fn(|cx| {
            let now = c.load(Ordering::Acquire);
            if now == THREADS * WAKES {
                return Poll::Ready(());
            }
            if now > seen || seen == 0 {
                seen = now.max(1);
                let _ = tx.send(cx.waker().clone());
            }
            Poll::Pending
        }))
    });
    let waker = rx.recv().unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (waker, count) = (waker.clone(), count.clone());
            std::thread::spawn(move || {
                for _ in 0..WAKES {
                    count.fetch_add(1, Ordering::AcqRel);
                    waker.wake_by_ref();
                }
            })
        })
        .collect();
    scheduler.run(RunMode::Wait).unwrap();
    waiter.join().unwrap();
    threads.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn a_self_waking_future_yields_to_other_tasks() {
    let scheduler = Scheduler::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for name in ["a", "b"] {
        let log = log.clone();
        scheduler
            .spawn(move || {
                let mut rounds = 0;
                block_on(poll_fn(|cx| {
                    log.borrow_mut().push(name);
                    rounds += 1;
                    if rounds == 3 {
                        return Poll::Ready(());
                    }
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }))
                .unwrap()
            })
            .detach();
    }
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(*log.borrow(), ["a", "b", "a", "b", "a", "b"]);
}

#[test]
fn a_task_is_a_future_of_its_value_and_its_panic() {
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(|| {
        let slow = spawn(|| {
            io::single(Timeout::new(Duration::from_millis(5))).unwrap();
            7
        });
        let quick = spawn(|| 3);
        block_on(async move { slow.await * 10 + quick.await }).unwrap()
    });
    assert_eq!(task.join(), 73);

    let task = scheduler.spawn(|| {
        let failing = spawn(|| -> u32 {
            io::single(Timeout::new(Duration::from_millis(1))).unwrap();
            panic!("child failed")
        });
        block_on(failing)
    });
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.join())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child failed"));
}

#[test]
fn cancel_drops_the_pending_future_and_fails_canceled() {
    struct Flag(Rc<RefCell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    let scheduler = Scheduler::new().unwrap();
    let dropped = Rc::new(RefCell::new(false));
    let d = dropped.clone();
    let task = scheduler.spawn(move || {
        let flag = Flag(d);
        block_on(async move {
            sleep(Duration::from_secs(60)).await;
            drop(flag);
        })
    });
    assert!(!*dropped.borrow());
    task.cancel();
    assert!(is_canceled(&task.join().unwrap_err()));
    assert!(*dropped.borrow());
    // The canceled sleep's timer goes too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(&scheduler) > 0 && Instant::now() < deadline {
        scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    }
    assert_eq!(in_flight(&scheduler), 0);
}

#[test]
fn outside_a_task_block_on_blocks_the_thread() {
    let start = Instant::now();
    block_on(sleep(Duration::from_millis(5))).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(5));
    assert_eq!(
        block_on(timeout(Duration::from_millis(1), sleep(Duration::from_secs(60)))).unwrap().unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    // A task awaited from outside: its scheduler runs, as join does.
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(|| {
        io::single(Timeout::new(Duration::from_millis(1))).unwrap();
        9
    });
    assert_eq!(block_on(task).unwrap(), 9);
}

#[test]
fn dropping_the_scheduler_with_a_parked_block_on_unwinds_it() {
    let scheduler = Scheduler::new().unwrap();
    let (tx, _rx) = mpsc::channel::<Waker>();
    let task = scheduler.spawn(move || block_on(flag_future(Arc::new(AtomicBool::new(false)), tx)));
    assert!(!task.is_complete());
    drop(scheduler);
    assert!(task.is_complete());
}

/// A future that is never ready and never wakes: the task parks forever, until canceled.
struct Never;
impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[test]
fn run_cancel_ends_a_task_parked_on_a_future_that_never_wakes() {
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(|| block_on(Never));
    scheduler.run(RunMode::Cancel).unwrap();
    assert!(is_canceled(&task.join().unwrap_err()));
}
