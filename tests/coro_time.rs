//! `sleep`, `timeout` (deadlines through link timeouts on every kind of call) and `Interval`;
//! task names and ids (`current`, panic reports). On the default backend, and on posix with
//! `CORIO_BACKEND=posix`.

// Not on WASI: corio-coro needs stack switching, which wasm32-wasip1 does not have.
#![cfg(not(target_os = "wasi"))]

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use corio::aio::{is_canceled, is_expired};
use corio::coro::net::{TcpListener, TcpStream};
use corio::coro::sync::{Channel, Mutex};
use corio::coro::{Interval, Scheduler, SpawnOptions, current, sleep, timeout};

fn in_task<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    Scheduler::new().unwrap().spawn(f).join()
}

#[test]
fn sleep_waits_in_a_task_and_outside_one() {
    let slept = in_task(|| {
        let start = Instant::now();
        sleep(Duration::from_millis(20)).unwrap();
        start.elapsed()
    });
    assert!(slept >= Duration::from_millis(20));
    let start = Instant::now();
    sleep(Duration::from_millis(5)).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
fn a_canceled_sleep_fails_canceled() {
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn(|| sleep(Duration::from_secs(60)));
    let e = task.cancel_and_join().unwrap_err();
    assert!(is_canceled(&e));
}

#[test]
fn timeout_cuts_a_read_an_accept_a_lock_and_a_channel_wait() {
    in_task(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // accept
        let e = timeout(Duration::from_millis(10), || listener.accept()).unwrap_err();
        assert!(is_expired(&e) && e.kind() == io::ErrorKind::TimedOut, "{e:?}");
        // read: connected, nothing sent
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        let e = timeout(Duration::from_millis(10), || stream.read(&mut buf)).unwrap_err();
        assert!(is_expired(&e), "{e:?}");
        // a lock held elsewhere
        let lock = Mutex::new(()).unwrap();
        let _held = lock.lock().unwrap();
        let e = timeout(Duration::from_millis(10), || lock.lock().map(drop)).unwrap_err();
        assert!(is_expired(&e), "{e:?}");
        // a channel with nothing in it
        let channel: Channel<u8> = Channel::unbounded();
        let e = timeout(Duration::from_millis(10), || channel.recv()).unwrap_err();
        assert!(is_expired(&e), "{e:?}");
        // A call after the deadline fails at once; the deadline ends with the closure.
        let e = timeout(Duration::from_millis(5), || {
            std::thread::sleep(Duration::from_millis(10));
            sleep(Duration::from_secs(60))
        })
        .unwrap_err();
        assert!(is_expired(&e));
        sleep(Duration::from_millis(1)).unwrap();
    });
}

#[test]
fn calls_within_the_deadline_succeed_and_deadlines_nest() {
    in_task(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let echoed = timeout(Duration::from_secs(10), || {
            client.write_all(b"ping")?;
            let mut buf = [0u8; 4];
            server.read_exact(&mut buf)?;
            io::Result::Ok(buf)
        })
        .unwrap();
        assert_eq!(&echoed, b"ping");
        // An inner timeout never extends the outer one.
        let start = Instant::now();
        let e =
            timeout(Duration::from_millis(20), || timeout(Duration::from_secs(60), || sleep(Duration::from_secs(60))))
                .unwrap_err();
        assert!(is_expired(&e) && start.elapsed() < Duration::from_secs(30));
        // A shorter socket read timeout still applies (std's error for it, not expired).
        server.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let mut buf = [0u8; 4];
        let e = timeout(Duration::from_secs(60), || server.read(&mut buf)).unwrap_err();
        assert!(!is_expired(&e) && e.kind() == io::ErrorKind::WouldBlock, "{e:?}");
    });
}

#[test]
fn timeout_outside_a_task_bounds_the_thread_s_calls() {
    let e = timeout(Duration::from_millis(10), || sleep(Duration::from_secs(60))).unwrap_err();
    assert!(is_expired(&e));
    sleep(Duration::from_millis(1)).unwrap();
}

#[test]
fn interval_keeps_its_phase_and_rejects_zero() {
    assert_eq!(Interval::new(Duration::ZERO).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    in_task(|| {
        let period = Duration::from_millis(10);
        let start = Instant::now();
        let mut every = Interval::new(period).unwrap();
        every.tick().unwrap();
        assert!(start.elapsed() >= period);
        // Busy past three ticks: the next returns at once, then the phase holds.
        std::thread::sleep(period * 3 + period / 2);
        let late = Instant::now();
        every.tick().unwrap();
        assert!(late.elapsed() < period, "a late tick returns at once");
        every.tick().unwrap();
        let since = start.elapsed();
        assert!(since >= period * 5, "{since:?}");
    });
}

#[test]
fn current_reports_the_id_and_name() {
    assert!(current().is_none());
    let scheduler = Scheduler::new().unwrap();
    let named = scheduler.spawn_with(SpawnOptions::new().name("conn 7"), || {
        let me = current().unwrap();
        (me.id(), me.name().map(String::from), me.to_string())
    });
    let plain = scheduler.spawn(|| {
        let me = current().unwrap();
        (me.id(), me.name().map(String::from), me.to_string())
    });
    let (id1, name1, shown1) = named.join();
    let (id2, name2, shown2) = plain.join();
    assert_ne!(id1, id2);
    assert_eq!(name1.as_deref(), Some("conn 7"));
    assert_eq!(shown1, format!("task 'conn 7' (id {id1})"));
    assert_eq!((name2, shown2), (None, format!("task {id2}")));
    // Ids are unique across schedulers too.
    let other = Scheduler::new().unwrap().spawn(|| current().unwrap().id()).join();
    assert!(other != id1 && other != id2);
}

/// The child of `panic_report_names_the_task`: a named task panics.
#[test]
fn panicking_named_task_child() {
    if std::env::var_os("CORIO_PANIC_CHILD").is_none() {
        return;
    }
    let scheduler = Scheduler::new().unwrap();
    let task = scheduler.spawn_with(SpawnOptions::new().name("doomed"), || panic!("on purpose"));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.join()));
}

#[test]
fn panic_report_names_the_task() {
    // Through the test runner if there is one (qemu-user for other architectures).
    let runner = std::env::var("CORIO_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace().map(std::ffi::OsString::from).collect::<Vec<_>>();
    words.push(std::env::current_exe().unwrap().into());
    let output = std::process::Command::new(&words[0])
        .args(&words[1..])
        .args(["--exact", "panicking_named_task_child", "--nocapture", "--test-threads=1"])
        .env("CORIO_PANIC_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let at = stderr.find("on purpose").unwrap_or_else(|| panic!("no panic report: {stderr}"));
    let note = stderr[at..].find("corio: the panic above is in task 'doomed' (id ");
    assert!(note.is_some(), "{stderr}");
}
