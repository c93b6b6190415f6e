//! `sync::Channel` and `sync::Condvar`: across tasks, schedulers, threads; back-pressure,
//! close, cancellation.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corio::aio::{Mode, is_canceled};
use corio::coro::sync::{Channel, Condvar, Mutex};
use corio::coro::{RunMode, Scheduler};

const THREADS: usize = 4;
const PRODUCERS: usize = 8;
const CONSUMERS: usize = 8;
const ITEMS: u32 = 400;

/// Every item once, and each producer's items in order for every receiver.
fn check(received: Vec<Vec<(usize, u32)>>) {
    let mut count = HashMap::new();
    for items in &received {
        let mut last: HashMap<usize, u32> = HashMap::new();
        for &(producer, seq) in items {
            if let Some(&before) = last.get(&producer) {
                assert!(seq > before, "producer {producer}: {seq} received after {before}");
            }
            last.insert(producer, seq);
            *count.entry((producer, seq)).or_insert(0) += 1;
        }
    }
    assert_eq!(count.len(), THREADS * PRODUCERS * ITEMS as usize, "every item arrived");
    assert!(count.values().all(|&n| n == 1), "no item arrived twice");
}

fn mpmc(channel: Channel<(usize, u32)>) {
    let channel = Arc::new(channel);
    let producing = Arc::new(AtomicUsize::new(THREADS * PRODUCERS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (channel, producing) = (channel.clone(), producing.clone());
            std::thread::spawn(move || {
                let scheduler = Scheduler::new().unwrap();
                for p in 0..PRODUCERS {
                    let (channel, producing) = (channel.clone(), producing.clone());
                    scheduler
                        .spawn(move || {
                            for seq in 0..ITEMS {
                                channel.send((t * PRODUCERS + p, seq)).unwrap();
                            }
                            if producing.fetch_sub(1, Ordering::SeqCst) == 1 {
                                channel.close();
                            }
                        })
                        .detach();
                }
                let consumers: Vec<_> = (0..CONSUMERS)
                    .map(|_| {
                        let channel = channel.clone();
                        scheduler.spawn(move || {
                            let mut got = Vec::new();
                            loop {
                                match channel.recv() {
                                    Ok(item) => got.push(item),
                                    Err(e) => {
                                        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
                                        return got;
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                scheduler.run(RunMode::Wait).unwrap();
                consumers.into_iter().map(|c| c.join()).collect::<Vec<_>>()
            })
        })
        .collect();
    // The main thread receives too, outside any task (blocking).
    let mut mine = Vec::new();
    while let Ok(item) = channel.recv() {
        mine.push(item);
    }
    let mut received: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    received.push(mine);
    check(received);
    assert!(channel.is_empty() && channel.is_closed());
}

#[test]
fn unbounded_mpmc_is_fifo_and_exactly_once_across_four_schedulers() {
    mpmc(Channel::unbounded());
}

#[test]
fn bounded_mpmc_is_fifo_and_exactly_once_across_four_schedulers() {
    mpmc(Channel::bounded(4));
}

#[test]
fn a_bounded_channel_of_one_applies_back_pressure() {
    let scheduler = Scheduler::new().unwrap();
    let channel = Rc::new(Channel::bounded(1));
    let sent = Rc::new(RefCell::new(Vec::new()));
    let (tx, log) = (channel.clone(), sent.clone());
    let producer = scheduler.spawn(move || {
        for i in 0..5u32 {
            tx.send(i).unwrap();
            log.borrow_mut().push(i);
        }
    });
    for i in 0..5u32 {
        // The producer is parked in `send(i + 1)` while `i` fills the channel.
        assert_eq!(channel.len(), 1);
        assert_eq!(*sent.borrow(), (0..=i).collect::<Vec<_>>());
        let full = channel.try_send(99).unwrap_err();
        assert_eq!(full.error().kind(), std::io::ErrorKind::WouldBlock);
        assert_eq!(full.into_inner(), 99);
        assert_eq!(channel.try_recv().unwrap(), Some(i));
        while sent.borrow().len() == i as usize + 1 && !producer.is_complete() {
            scheduler.tick(Mode::Blocking).unwrap();
        }
        if i == 4 {
            assert!(producer.is_complete());
        }
    }
    assert_eq!(channel.try_recv().unwrap(), None);
    producer.join();
}

#[test]
fn cancel_a_task_blocked_in_send_or_recv() {
    let scheduler = Scheduler::new().unwrap();
    let channel = Rc::new(Channel::bounded(1));
    channel.send(1u32).unwrap();
    let tx = channel.clone();
    let sender = scheduler.spawn(move || tx.send(2));
    assert!(!sender.is_complete());
    sender.cancel();
    let error = sender.join().unwrap_err();
    assert!(is_canceled(error.error()), "{error}");
    assert_eq!(error.into_inner(), 2, "the item comes back");
    assert_eq!(channel.try_recv().unwrap(), Some(1));

    let rx = channel.clone();
    let receiver = scheduler.spawn(move || rx.recv());
    assert!(!receiver.is_complete());
    receiver.cancel();
    assert!(is_canceled(&receiver.join().unwrap_err()));

    // The channel still works: a new receiver gets the next item.
    let rx = channel.clone();
    let receiver = scheduler.spawn(move || rx.recv());
    channel.send(3).unwrap();
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(receiver.join().unwrap(), 3);
}

#[test]
fn close_lets_receivers_drain_then_fail() {
    let scheduler = Scheduler::new().unwrap();
    let channel = Rc::new(Channel::<u32>::unbounded());
    let rx = channel.clone();
    let waiting = scheduler.spawn(move || rx.recv());
    channel.close();
    scheduler.run(RunMode::Wait).unwrap();
    assert_eq!(waiting.join().unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);

    let channel = Channel::unbounded();
    channel.send("a").unwrap();
    channel.send("b").unwrap();
    channel.close();
    assert_eq!(channel.send("c").unwrap_err().into_inner(), "c");
    assert_eq!(channel.recv().unwrap(), "a");
    assert_eq!(channel.try_recv().unwrap(), Some("b"));
    assert_eq!(channel.recv().unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    assert!(channel.try_recv().is_err());
}

#[test]
fn condvar_notify_one_wakes_one_and_notify_all_wakes_all() {
    let scheduler = Scheduler::new().unwrap();
    let state = Rc::new((Mutex::new(0u32).unwrap(), Condvar::new()));
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let state = state.clone();
            scheduler.spawn(move || {
                let (mutex, condvar) = &*state;
                let guard = condvar.wait(mutex.lock()?)?;
                std::io::Result::Ok(*guard)
            })
        })
        .collect();
    assert!(waiters.iter().all(|w| !w.is_complete()));
    let (mutex, condvar) = &*state;
    *mutex.lock().unwrap() = 1;
    condvar.notify_one();
    while !waiters.iter().any(|w| w.is_complete()) {
        scheduler.tick(Mode::Blocking).unwrap();
    }
    for _ in 0..3 {
        scheduler.tick(Mode::Nonblocking).unwrap();
    }
    assert_eq!(waiters.iter().filter(|w| w.is_complete()).count(), 1, "notify_one woke one waiter");
    assert!(waiters[0].is_complete(), "the longest waiting one");
    *mutex.lock().unwrap() = 2;
    condvar.notify_all();
    scheduler.run(RunMode::Wait).unwrap();
    let values: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(values, [1, 2, 2]);
}

#[test]
fn condvar_across_threads_and_cancel() {
    let state = Arc::new((Mutex::new(0u32).unwrap(), Condvar::new()));
    // A plain thread waits (blocking) for a value a task on another thread's scheduler sets.
    let s = state.clone();
    let blocked = std::thread::spawn(move || {
        let (mutex, condvar) = &*s;
        *condvar.wait_while(mutex.lock().unwrap(), |v| *v < 10).unwrap()
    });
    let s = state.clone();
    std::thread::spawn(move || {
        let scheduler = Scheduler::new().unwrap();
        let task = scheduler.spawn(move || {
            let (mutex, condvar) = &*s;
            for _ in 0..10 {
                *mutex.lock().unwrap() += 1;
                condvar.notify_all();
                corio::coro::io::single(corio::aio::op::Timeout::new(std::time::Duration::from_micros(200))).unwrap();
            }
        });
        task.join();
    })
    .join()
    .unwrap();
    assert_eq!(blocked.join().unwrap(), 10);

    // A canceled waiter fails with the mutex unlocked.
    let scheduler = Scheduler::new().unwrap();
    let s = state.clone();
    let waiter = scheduler.spawn(move || {
        let (mutex, condvar) = &*s;
        condvar.wait(mutex.lock()?).map(|_| ())
    });
    waiter.cancel();
    assert!(is_canceled(&waiter.join().unwrap_err()));
    assert!(state.0.try_lock().is_some(), "the mutex is unlocked");
}

/// The backends this machine can run (no io_uring under qemu-user, for one).
fn available_backends() -> Vec<corio::aio::BackendKind> {
    // Windows has one backend.
    if cfg!(windows) {
        return vec![corio::aio::BackendKind::Iocp];
    }
    let mut kinds = vec![corio::aio::BackendKind::Posix];
    match corio::aio::Dynamic::with_backend(2, corio::aio::BackendKind::IoUring) {
        Ok(_) => kinds.push(corio::aio::BackendKind::IoUring),
        Err(e) => println!("io_uring unavailable here ({e}); posix only"),
    }
    kinds
}

#[test]
fn a_receiver_canceled_after_its_wake_up_passes_it_on() {
    for backend in available_backends() {
        let options = corio::coro::Options::new().backend(backend);
        let scheduler = Scheduler::with_options(options).unwrap();
        let channel = Rc::new(Channel::<u32>::unbounded());
        let (rx_a, rx_b) = (channel.clone(), channel.clone());
        let a = scheduler.spawn(move || rx_a.recv());
        let b = scheduler.spawn(move || rx_b.recv());
        let ch = channel.clone();
        let guard = scheduler.spawn(move || {
            // Only if the item's wake-up was lost: end the receivers instead of hanging.
            let ten_seconds = corio::aio::op::Timeout::new(std::time::Duration::from_secs(10));
            if corio::coro::io::single(ten_seconds).is_ok() {
                ch.close();
            }
        });
        scheduler.tick(Mode::Nonblocking).unwrap(); // the receivers' waits reach the backend
        a.cancel(); // queues a cancel of `a`'s wait...
        channel.send(1).unwrap(); // ...and the item's wake-up goes to `a`, the first waiter
        while !a.is_complete() {
            scheduler.tick(Mode::Blocking).unwrap();
        }
        match a.join() {
            // The cancel came too late for `a`'s wait: it took the item.
            Ok(item) => {
                assert_eq!(item, 1);
                channel.send(2).unwrap();
                while !b.is_complete() {
                    scheduler.tick(Mode::Blocking).unwrap();
                }
                assert_eq!(b.join().unwrap(), 2);
            }
            // `a` was canceled: the wake-up went on to `b`, which took the item.
            Err(e) => {
                assert!(is_canceled(&e), "{e}");
                while !b.is_complete() {
                    scheduler.tick(Mode::Blocking).unwrap();
                }
                assert_eq!(b.join().unwrap(), 1, "the item reached the next receiver");
            }
        }
        guard.cancel();
        scheduler.run(RunMode::Wait).unwrap();
    }
}

#[test]
fn a_condvar_waiter_canceled_after_its_notification_passes_it_on() {
    for backend in available_backends() {
        let options = corio::coro::Options::new().backend(backend);
        let scheduler = Scheduler::with_options(options).unwrap();
        let state = Rc::new((Mutex::new(()).unwrap(), Condvar::new()));
        let waiter = |state: Rc<(Mutex<()>, Condvar)>| {
            move || {
                let (mutex, condvar) = &*state;
                condvar.wait(mutex.lock()?).map(drop)
            }
        };
        let a = scheduler.spawn(waiter(state.clone()));
        let b = scheduler.spawn(waiter(state.clone()));
        scheduler.tick(Mode::Nonblocking).unwrap(); // the waits reach the backend
        a.cancel(); // queues a cancel of `a`'s wait...
        state.1.notify_one(); // ...and the notification goes to `a`, the first waiter
        while !a.is_complete() || !b.is_complete() {
            scheduler.tick(Mode::Blocking).unwrap();
        }
        // Whether `a`'s wait ended canceled or took the notification first, `a` fails
        // canceled (a canceled task does not re-lock) and the notification reaches `b`.
        assert!(is_canceled(&a.join().unwrap_err()));
        b.join().unwrap();
        assert!(state.0.try_lock().is_some(), "nobody holds the mutex");
    }
}
