//! Sync primitives and the thread pool.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corio::aio::is_canceled;
use corio::aio::op::Timeout;
use corio::coro::pool::ThreadPool;
use corio::coro::sync::{Mutex, ResetEvent, Semaphore};
use corio::coro::{RunMode, Scheduler, io};

#[test]
fn reset_event_wakes_every_waiter_and_cancel_interrupts() {
    let scheduler = Scheduler::new().unwrap();
    let event = Rc::new(ResetEvent::new());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let e = event.clone();
            scheduler.spawn(move || e.wait())
        })
        .collect();
    let e = event.clone();
    let canceled = scheduler.spawn(move || e.wait());
    canceled.cancel();
    assert!(is_canceled(&canceled.join().unwrap_err()));
    let e = event.clone();
    scheduler
        .spawn(move || {
            io::single(Timeout::new(Duration::from_millis(2))).unwrap();
            e.set();
        })
        .detach();
    scheduler.run(RunMode::Wait).unwrap();
    for w in waiters {
        w.join().unwrap();
    }
    assert!(event.is_set());
    event.reset();
    assert!(!event.is_set());
}

#[test]
fn semaphore_bounds_concurrency() {
    let scheduler = Scheduler::new().unwrap();
    let sem = Rc::new(Semaphore::new(2));
    let active = Rc::new(RefCell::new((0, 0)));
    for _ in 0..8 {
        let (sem, active) = (sem.clone(), active.clone());
        scheduler
            .spawn(move || {
                sem.acquire().unwrap();
                {
                    let mut a = active.borrow_mut();
                    a.0 += 1;
                    a.1 = a.1.max(a.0);
                }
                io::single(Timeout::new(Duration::from_millis(1))).unwrap();
                active.borrow_mut().0 -= 1;
                sem.release();
            })
            .detach();
    }
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(*active.borrow(), (0, 2));
    assert_eq!(sem.available(), 2);
}

#[test]
fn mutex_across_tasks_and_threads() {
    let mutex = Arc::new(Mutex::new(0u64).unwrap());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let mutex = mutex.clone();
            std::thread::spawn(move || {
                let scheduler = Scheduler::new().unwrap();
                for _ in 0..4 {
                    let mutex = mutex.clone();
                    scheduler
                        .spawn(move || {
                            for _ in 0..50 {
                                let mut guard = mutex.lock().unwrap();
                                let v = *guard;
                                // Hold the lock across a park: others must wait.
                                io::single(Timeout::new(Duration::from_micros(10))).unwrap();
                                *guard = v + 1;
                            }
                        })
                        .detach();
                }
                scheduler.run(RunMode::Wait).unwrap();
            })
        })
        .collect();
    for _ in 0..100 {
        *mutex.lock().unwrap() += 1;
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*mutex.lock().unwrap(), 2 * 4 * 50 + 100);
}

#[test]
fn thread_pool_runs_blocking_work_while_tasks_continue() {
    let pool = Arc::new(ThreadPool::new(2).unwrap());
    let scheduler = Scheduler::new().unwrap();
    let p = pool.clone();
    // The blocking job waits until the test releases it (not for a time, which a slow machine
    // could outlast before the other task ran).
    let (release, released) = std::sync::mpsc::channel::<()>();
    let slow = scheduler.spawn(move || {
        p.yield_for_completion(move || {
            released.recv().unwrap();
            "released"
        })
    });
    let fast = scheduler.spawn(|| {
        io::single(Timeout::new(Duration::from_millis(1))).unwrap();
        "ticked"
    });
    assert_eq!(fast.join(), "ticked");
    assert!(!slow.is_complete(), "the blocking job does not block the scheduler");
    release.send(()).unwrap();
    assert_eq!(slow.join().unwrap(), "released");
    // Outside a task it blocks; panics come back.
    assert_eq!(pool.yield_for_completion(|| 5).unwrap(), 5);
    let p = pool.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        p.yield_for_completion(|| panic!("in the pool"))
    }));
    assert!(r.is_err());
}

#[test]
fn cancellation_never_leaves_a_critical_section_half_done() {
    let shared = Arc::new(Mutex::new((0u64, 0u64)).unwrap());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let scheduler = Scheduler::new().unwrap();
                for _ in 0..32 {
                    let shared = shared.clone();
                    scheduler
                        .spawn(move || {
                            // Loops until canceled: lock fails canceled once the task is.
                            while let Ok(mut guard) = shared.lock() {
                                guard.0 += 1000;
                                let stored = guard.1;
                                let _ = io::single(Timeout::new(Duration::from_millis(1)));
                                guard.1 = stored + 1000;
                            }
                        })
                        .detach();
                }
                let stop = scheduler.spawn(|| io::single(Timeout::new(Duration::from_millis(20))));
                while !stop.is_complete() {
                    scheduler.tick(corio::aio::Mode::Blocking).unwrap();
                }
                scheduler.run(RunMode::Cancel).unwrap();
                assert_eq!(scheduler.live_tasks(), 0);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (value, check) = *shared.lock().unwrap();
    assert!(value > 0);
    assert_eq!(value, check);
}

#[test]
fn a_canceled_task_sets_the_token_and_still_gets_the_jobs_value() {
    let pool = Arc::new(ThreadPool::new(1).unwrap());
    let scheduler = Scheduler::new().unwrap();
    let p = pool.clone();
    let task = scheduler.spawn(move || {
        p.yield_for_completion_with_token(|token| {
            while !token.is_canceled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            666
        })
    });
    scheduler.tick(corio::aio::Mode::Nonblocking).unwrap();
    assert!(!task.is_complete());
    assert_eq!(task.cancel_and_join().unwrap(), 666);
}

#[test]
fn rwlock_readers_share_and_writers_exclude_across_threads() {
    use corio::coro::sync::RwLock;
    let lock = Arc::new(RwLock::new((0u64, 0u64)).unwrap());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                let scheduler = Scheduler::new().unwrap();
                let mut tasks = Vec::new();
                for _ in 0..16 {
                    let lock = lock.clone();
                    tasks.push(scheduler.spawn(move || {
                        for _ in 0..10 {
                            let mut guard = lock.write().unwrap();
                            guard.0 += 1000;
                            io::single(Timeout::new(Duration::from_micros(50))).unwrap();
                            guard.1 += 1000;
                        }
                    }));
                }
                for _ in 0..4 {
                    let lock = lock.clone();
                    tasks.push(scheduler.spawn(move || {
                        for _ in 0..20 {
                            let guard = lock.read().unwrap();
                            assert_eq!(guard.0, guard.1, "a reader never sees a write half-done");
                            io::single(Timeout::new(Duration::from_micros(20))).unwrap();
                        }
                    }));
                }
                scheduler.run(RunMode::Wait).unwrap();
                // Joining resumes any assertion that failed inside a task.
                tasks.into_iter().for_each(|t| t.join());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let guard = lock.read().unwrap();
    assert_eq!(*guard, (2 * 16 * 10 * 1000, 2 * 16 * 10 * 1000));
    assert!(lock.try_write().is_none(), "a reader holds it");
    let second = lock.try_read().expect("readers share");
    drop((guard, second));
    assert!(lock.try_write().is_some());
}
