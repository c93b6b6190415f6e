//! The thread-per-core `Runtime`: cross-thread spawn and join, placement, cancel, serve and
//! shutdown (with tasks parked on every kind of wait). On the default backend, and on posix
//! with `CORIO_BACKEND=posix`.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::aio::is_canceled;
use corio::aio::op::Timeout;
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::runtime::{Handle, Runtime, stop_on_shutdown};
use corio::coro::sync::{Channel, Mutex};
use corio::coro::{Scheduler, io as cio};

fn runtime(threads: usize) -> Runtime {
    Runtime::builder().threads(threads).build().expect("runtime")
}

#[test]
fn spawn_and_join_from_16_threads() {
    let runtime = runtime(4);
    let handle = runtime.handle().clone();
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                let joins: Vec<_> = (0..50u64)
                    .map(|i| {
                        handle.spawn(move || {
                            cio::single(Timeout::new(Duration::from_micros(i % 5)))?;
                            io::Result::Ok((t * 1000 + i, Handle::current_thread_index().unwrap()))
                        })
                    })
                    .collect();
                joins.into_iter().map(|j| j.join().unwrap().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut per_thread = [0usize; 4];
    for t in threads {
        for (value, index) in t.join().unwrap() {
            seen.push(value);
            per_thread[index] += 1;
        }
    }
    seen.sort_unstable();
    let expected: Vec<u64> = (0..16u64).flat_map(|t| (0..50).map(move |i| t * 1000 + i)).collect();
    assert_eq!(seen, expected);
    // Least-loaded placement with round-robin among equals reaches every thread.
    assert!(per_thread.iter().all(|&n| n > 0), "tasks per thread: {per_thread:?}");
    // Plain threads have no ring: every wake-up came through the event source.
    let m = runtime.metrics().unwrap();
    assert_eq!((m.msg_ring_sent, m.wakes_by_msg_ring), (0, 0), "{m:?}");
    assert!(m.wakes_by_event > 0, "{m:?}");
    runtime.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn spawn_on_places_the_task_and_local_spawns_stay_there() {
    let runtime = runtime(3);
    for index in 0..3 {
        let (here, child) = runtime
            .spawn_on(index, || {
                let child = corio::coro::spawn(Handle::current_thread_index).join();
                (Handle::current_thread_index(), child)
            })
            .join()
            .unwrap();
        assert_eq!((here, child), (Some(index), Some(index)));
    }
    let e = runtime.handle().try_spawn_on(3, || ()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(panic::catch_unwind(AssertUnwindSafe(|| runtime.spawn_on(7, || ()))).is_err());
}

#[test]
fn a_task_joins_a_task_on_another_thread() {
    let runtime = runtime(2);
    let handle = runtime.handle().clone();
    let value = runtime
        .spawn_on(0, move || {
            let other = handle.spawn_on(1, || {
                cio::single(Timeout::new(Duration::from_millis(20))).unwrap();
                Handle::current_thread_index()
            });
            // Parks this task (thread 0 keeps running others) until thread 1's task ends.
            other.join().unwrap()
        })
        .join()
        .unwrap();
    assert_eq!(value, Some(1));
}

#[test]
fn block_on_returns_the_value_and_resumes_a_panic() {
    let runtime = runtime(2);
    assert_eq!(runtime.block_on(|| Handle::current().map(|h| h.threads())), Some(2));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(|| panic!("boom in a task"))));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in a task"));
    // The runtime still works after a task panicked.
    assert_eq!(runtime.block_on(|| 5), 5);
}

#[test]
fn cancel_through_the_join_handle() {
    let runtime = runtime(2);
    let task = runtime.spawn(|| cio::single(Timeout::new(Duration::from_secs(60))));
    std::thread::sleep(Duration::from_millis(20));
    assert!(task.cancel());
    let result = task.join().unwrap();
    assert!(result.is_err_and(|e| is_canceled(&e)));
    let done = runtime.spawn(|| 1);
    while !done.is_finished() {
        std::thread::yield_now();
    }
    assert!(!done.cancel(), "an ended task cannot be canceled");
    assert_eq!(done.join().unwrap(), 1);
}

#[test]
fn bad_builds_fail_clearly() {
    let e = Runtime::builder().threads(0).build().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let options = corio::coro::Options::new().io_queue_entries(1);
    let e = Runtime::builder().threads(2).scheduler_options(options).build().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn stop_on_shutdown_needs_a_runtime_thread() {
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(|| 3);
    let task = stop_on_shutdown(task).unwrap_err();
    assert_eq!(task.join(), 3);
}

#[test]
fn bind_reuseport_shares_a_port_and_rejects_bad_addresses() {
    let first = TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
    let addr = first.local_addr().unwrap();
    let second = TcpListener::bind_reuseport(addr).unwrap();
    assert_eq!(second.local_addr().unwrap(), addr);
    // A plain listener on that port is refused (it does not set SO_REUSEPORT).
    assert!(TcpListener::bind(addr).is_err());
    assert!(TcpListener::bind_reuseport("not an address").is_err());
    assert!(TcpListener::bind_reuseport("192.0.2.1:0").is_err(), "an address not on this host");
}

#[test]
fn serve_echoes_on_every_thread_and_shutdown_stops_accepting() {
    let runtime = runtime(2);
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let addr = runtime
        .serve("127.0.0.1:0", move |mut stream: TcpStream| {
            counter.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0u8; 64];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })
        .unwrap();
    for i in 0..20 {
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let msg = format!("hello {i}");
        client.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0; msg.len()];
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.as_bytes());
    }
    assert_eq!(served.load(Ordering::Relaxed), 20);
    // A connection left open is canceled at the deadline.
    let idle = std::net::TcpStream::connect(addr).unwrap();
    runtime.shutdown(Duration::from_millis(50)).unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err(), "the listeners are closed");
    drop(idle);
}

/// Parks a task on each kind of wait, shuts down with a short grace period, and checks that
/// every task ended canceled and that the shutdown returned.
#[test]
fn shutdown_cancels_tasks_parked_on_every_kind_of_wait() {
    let runtime = runtime(2);
    let listener = Arc::new(std::sync::Mutex::new(Some(std::net::TcpListener::bind("127.0.0.1:0").unwrap())));
    let addr = listener.lock().unwrap().as_ref().unwrap().local_addr().unwrap();
    let _client = std::net::TcpStream::connect(addr).unwrap();
    let lock = Arc::new(Mutex::new(()).unwrap());
    let channel: Arc<Channel<u8>> = Arc::new(Channel::unbounded());
    let started = Arc::new(AtomicUsize::new(0));

    let sleep = {
        let started = started.clone();
        runtime.spawn_on(0, move || {
            started.fetch_add(1, Ordering::SeqCst);
            cio::single(Timeout::new(Duration::from_secs(3600))).map(drop)
        })
    };
    let (accepted_tx, accepted_rx) = std::sync::mpsc::channel();
    let listener2 = listener.clone();
    let read = {
        let started = started.clone();
        runtime.spawn_on(1, move || {
            let listener = TcpListener::from(listener2.lock().unwrap().take().unwrap());
            let (mut stream, _) = listener.accept()?;
            accepted_tx.send(()).unwrap();
            started.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 8];
            stream.read(&mut buf).map(drop)
        })
    };
    accepted_rx.recv().unwrap();
    let accept = {
        let started = started.clone();
        runtime.spawn_on(0, move || {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            started.fetch_add(1, Ordering::SeqCst);
            listener.accept().map(drop)
        })
    };
    let holder = {
        let (lock, started) = (lock.clone(), started.clone());
        runtime.spawn_on(1, move || {
            let _guard = lock.lock()?;
            started.fetch_add(1, Ordering::SeqCst);
            cio::single(Timeout::new(Duration::from_secs(3600))).map(drop)
        })
    };
    while started.load(Ordering::SeqCst) < 4 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let waiter = {
        let (lock, started) = (lock.clone(), started.clone());
        runtime.spawn_on(0, move || {
            started.fetch_add(1, Ordering::SeqCst);
            lock.lock().map(drop)
        })
    };
    let receiver = {
        let (channel, started) = (channel.clone(), started.clone());
        runtime.spawn_on(1, move || {
            started.fetch_add(1, Ordering::SeqCst);
            channel.recv().map(drop)
        })
    };
    let quick = runtime.spawn(|| cio::single(Timeout::new(Duration::from_millis(1))).map(drop));
    while started.load(Ordering::SeqCst) < 6 {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));

    runtime.shutdown(Duration::from_millis(100)).unwrap();
    assert!(quick.join().unwrap().is_ok(), "a task that ends within the grace period ends normally");
    for (name, task) in
        [("sleep", sleep), ("read", read), ("accept", accept), ("holder", holder), ("channel", receiver)]
    {
        let result = task.join().unwrap();
        assert!(result.as_ref().is_err_and(is_canceled), "{name}: {result:?}");
    }
    // The waiter either got the lock when the holder was canceled, or was canceled itself.
    let waited = waiter.join().unwrap();
    assert!(waited.as_ref().is_ok() || waited.as_ref().is_err_and(is_canceled), "{waited:?}");
}

#[test]
fn shutdown_ends_early_when_the_tasks_are_done_and_refuses_later_spawns() {
    let runtime = runtime(2);
    let handle = runtime.handle().clone();
    let task = runtime.spawn(|| cio::single(Timeout::new(Duration::from_millis(10))).map(drop));
    let start = Instant::now();
    runtime.shutdown(Duration::from_secs(60)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(30), "shutdown waited for the whole grace period");
    assert!(task.join().unwrap().is_ok());
    let e = handle.try_spawn_on(0, || ()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Other);
    let lost = handle.spawn(|| ());
    assert!(lost.join().is_err(), "a task spawned after shutdown reports it never ran");
}

#[test]
fn shutdown_from_a_runtime_thread_is_refused() {
    let runtime = Arc::new(std::sync::Mutex::new(Some(runtime(1))));
    let inner = runtime.clone();
    let handle = runtime.lock().unwrap().as_ref().unwrap().handle().clone();
    let result = handle
        .spawn(move || {
            let rt = inner.lock().unwrap().take().unwrap();
            rt.shutdown(Duration::ZERO).map_err(|e| e.to_string())
        })
        .join();
    // The shutdown began (the task may have been torn down with its thread), but did not join.
    if let Ok(result) = result {
        assert!(result.unwrap_err().contains("own threads"));
    }
}

/// Whether this process's default backend can send `MSG_RING` messages.
fn msg_ring_available() -> bool {
    use corio::aio::__private::RuntimeExt;
    corio::aio::Dynamic::new(2).is_ok_and(|ring| ring.ring_target().is_some())
}

#[test]
fn cross_thread_spawns_from_runtime_tasks_ring_by_msg_ring_and_from_plain_threads_by_event() {
    let runtime = runtime(4);
    let handle = runtime.handle().clone();
    // From tasks on every thread to every other thread, each spawn joined there.
    let senders: Vec<_> = (0..4)
        .map(|from| {
            let handle = handle.clone();
            runtime.spawn_on(from, move || {
                let mut sum = 0;
                for i in 0..20u64 {
                    let to = (from + 1 + (i as usize % 3)) % 4;
                    let joined = handle.spawn_on(to, move || (i, Handle::current_thread_index())).join().unwrap();
                    assert_eq!(joined, (i, Some(to)));
                    sum += joined.0;
                }
                sum
            })
        })
        .collect();
    for sender in senders {
        assert_eq!(sender.join().unwrap(), (0..20).sum::<u64>());
    }
    let m = runtime.metrics().unwrap();
    if msg_ring_available() {
        // Spawns from tasks went by MSG_RING (one message per wake-up of the target's mailbox:
        // posts before it drained share one), and each message arrived; the test's own
        // spawn_on calls (plain main thread) by the event source.
        assert!(m.msg_ring_sent > 0, "{m:?}");
        assert_eq!(m.wakes_by_msg_ring, m.msg_ring_sent, "{m:?}");
    } else {
        assert_eq!((m.msg_ring_sent, m.wakes_by_msg_ring), (0, 0), "{m:?}");
        assert!(m.wakes_by_event > 0, "{m:?}");
    }
    // A plain thread has no ring: its spawns ring the event source.
    let before = runtime.metrics().unwrap();
    std::thread::spawn(move || handle.spawn_on(2, || ()).join().unwrap()).join().unwrap();
    let after = runtime.metrics().unwrap();
    assert_eq!(after.msg_ring_sent, before.msg_ring_sent);
    assert!(after.wakes_by_event > before.wakes_by_event, "{after:?}");
    runtime.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_future_woken_from_a_task_on_another_thread_resumes() {
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::AtomicBool;
    use std::task::{Poll, Waker};
    // A flag and the waker of whoever waits for it.
    #[derive(Default)]
    struct Flag {
        set: AtomicBool,
        waker: StdMutex<Option<Waker>>,
    }
    let runtime = runtime(2);
    let flag = Arc::new(Flag::default());
    let waiting = flag.clone();
    let waiter = runtime.spawn_on(0, move || {
        corio::coro::future::block_on(std::future::poll_fn(|cx| {
            *waiting.waker.lock().unwrap() = Some(cx.waker().clone());
            if waiting.set.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
        }))
    });
    let before = runtime.thread_metrics(0).unwrap();
    runtime
        .spawn_on(1, move || {
            // Wait until the waiter parked with its waker registered.
            while flag.waker.lock().unwrap().is_none() {
                cio::single(Timeout::new(Duration::from_millis(1))).unwrap();
            }
            flag.set.store(true, Ordering::Release);
            let waker = flag.waker.lock().unwrap().take().unwrap();
            waker.wake();
        })
        .join()
        .unwrap();
    waiter.join().unwrap().unwrap();
    let after = runtime.thread_metrics(0).unwrap();
    let by_ring = after.wakes_by_msg_ring - before.wakes_by_msg_ring;
    if msg_ring_available() {
        assert!(by_ring >= 1, "{after:?}");
    } else {
        assert_eq!(by_ring, 0, "{after:?}");
    }
    runtime.shutdown(Duration::from_secs(5)).unwrap();
}
