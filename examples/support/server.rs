//! Starting the example HTTP server (`examples/support/http.rs` serves each connection): a
//! [`Runtime`] serving on every thread ([`start`]: one `SO_REUSEPORT` listener, its accepting
//! tasks and a [`Reaper`](crate::http::Reaper) per thread), or the same wired by hand
//! ([`start_by_hand`]: a scheduler per thread, as before the runtime existed; kept as the
//! baseline the bench's `http` workload compares the runtime with). Shared by
//! `examples/http_server.rs` and `tests/http_bad_clients.rs`, which include this file next to
//! `http.rs` (as module `http`).

// Each includer uses a different subset.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use corio::aio::op;
use corio::coro::net::TcpListener;
use corio::coro::runtime::{Runtime, stop_on_shutdown};
use corio::coro::{Options, RunMode, Scheduler};

use crate::http;

/// The smallest IO queue made (the scheduler's default).
pub const MIN_IO_QUEUE_ENTRIES: u32 = 4096;

/// The largest IO queue made: 65,536 entries hold about 61,400 connections, and cost about
/// 32 MiB of ring and slot table (some 0.5 KiB an entry).
pub const MAX_IO_QUEUE_ENTRIES: u32 = 1 << 16;

/// The IO queue entries of each of `threads` schedulers in a process that may have `fd_limit`
/// descriptors open. Every connection keeps one op in flight (its read while idle, else its
/// read or write). The queue grows when full (on io_uring and posix), but sizing it up front
/// spares the growth steps, and on IOCP, whose queue cannot grow, it bounds the connections a
/// scheduler holds: beyond it, its accepting tasks wait for room and new clients wait in the
/// listen backlog. A sixteenth of
/// the queue is kept for cancels, and the accepting tasks and the reaper have an op each.
/// The open-file limit bounds the process's connections anyway, so each queue is sized for
/// its share of that limit, plus a quarter because `SO_REUSEPORT` spreads connections
/// unevenly: a fixed 8,192 entries capped two schedulers at about 15,360 connections when the
/// limit allowed more (and wasted memory when it allowed far fewer).
pub fn io_queue_entries(fd_limit: u64, threads: usize) -> u32 {
    let share = fd_limit.div_ceil(threads.max(1) as u64);
    let wanted = share.saturating_add(share / 4).saturating_add(ACCEPTORS as u64 + 1);
    // Room for the cancels' sixteenth on top: entries - entries / 16 >= wanted.
    let entries = wanted.saturating_mul(16).div_ceil(15);
    entries.clamp(u64::from(MIN_IO_QUEUE_ENTRIES), u64::from(MAX_IO_QUEUE_ENTRIES)) as u32
}

/// The process's open-file limit (its soft `RLIMIT_NOFILE`; `u64::MAX` if unlimited).
fn fd_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes into `limit`, which lives across the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024; // the usual soft limit (getrlimit does not fail with valid arguments)
    }
    // `rlim_t` is u64 on Linux and macOS, i64 on FreeBSD (where infinity is i64::MAX).
    #[allow(clippy::useless_conversion, reason = "rlim_t is i64 on FreeBSD")]
    let current = u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX);
    if limit.rlim_cur == libc::RLIM_INFINITY { u64::MAX } else { current }
}

/// Tasks accepting on each scheduler's listener: the runtime's number (one: `incoming` takes
/// every queued connection per wake-up), used by the hand-wired start too.
pub const ACCEPTORS: usize = corio::coro::runtime::ACCEPTORS;

/// Starts a runtime of `threads` threads serving on `addr`; returns it and the bound address.
/// Each thread has its own reaper (a task stopped as soon as shutdown begins) and an IO queue
/// sized by [`io_queue_entries`].
pub fn start(addr: SocketAddr, threads: usize, config: http::Config) -> io::Result<(Runtime, SocketAddr)> {
    let options = Options::new().io_queue_entries(io_queue_entries(fd_limit(), threads));
    let runtime = Runtime::builder().threads(threads).scheduler_options(options).build()?;
    let config = Arc::new(config);
    let addr = runtime.serve_with(addr, move || {
        let reaper = Rc::new(http::Reaper::new(&config));
        let sweeper = reaper.clone();
        let options = corio::coro::SpawnOptions::new().name("http-reaper");
        if let Err(task) = stop_on_shutdown(corio::coro::spawn_with(options, move || sweeper.run())) {
            task.detach();
        }
        let config = config.clone();
        move |stream| {
            let conn = reaper.register(stream);
            let _ = reaper.serve(&conn, &config);
        }
    })?;
    Ok((runtime, addr))
}

/// Starts `threads` schedulers serving on `addr` without a [`Runtime`] (the hand-wired
/// baseline); returns the bound address. The threads run until the process ends.
pub fn start_by_hand(addr: SocketAddr, threads: usize, config: http::Config) -> io::Result<SocketAddr> {
    let first = TcpListener::bind_reuseport(addr)?;
    let addr = first.local_addr()?;
    let config = Arc::new(config);
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(TcpListener::bind_reuseport(addr)?);
    }
    for listener in listeners {
        let config = config.clone();
        std::thread::spawn(move || {
            let options = Options::new().io_queue_entries(io_queue_entries(fd_limit(), threads));
            let scheduler = Scheduler::with_options(options).expect("scheduler");
            let reaper = Rc::new(http::Reaper::new(&config));
            let r = reaper.clone();
            scheduler.spawn(move || r.run()).detach();
            let listener = Rc::new(listener);
            for _ in 0..ACCEPTORS {
                let (listener, reaper, config) = (listener.clone(), reaper.clone(), config.clone());
                scheduler.spawn(move || accept_loop(&listener, &reaper, &config)).detach();
            }
            scheduler.run(RunMode::Wait).expect("scheduler run");
        });
    }
    Ok(addr)
}

/// How long an accepting task pauses after a failed accept. Out of descriptors (`EMFILE`,
/// `ENFILE`) or memory, every accept fails at once while connections wait in the backlog:
/// without a pause the acceptors spin, and logged each failure (measured at a 256-descriptor
/// limit with 400 clients: 475,767 lines in 10 s at 27 % CPU). A tenth of a second delays the
/// waiting clients little once descriptors are free again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Whether accepts are failing: set by the first failure of a burst, cleared by the next
/// success, so that a burst is logged once, not once per attempt. Process-wide: every
/// acceptor of every scheduler meets the same descriptor limit.
static ACCEPT_FAILING: AtomicBool = AtomicBool::new(false);

/// Accepts connections forever (a multishot accept: `incoming`), serving each in a task of
/// its own.
fn accept_loop(listener: &TcpListener, reaper: &Rc<http::Reaper>, config: &Arc<http::Config>) {
    let mut incoming = listener.incoming();
    loop {
        match incoming.next().expect("incoming never ends") {
            Ok(stream) => {
                if ACCEPT_FAILING.swap(false, Ordering::Relaxed) {
                    eprintln!("accept: accepting again");
                }
                let conn = reaper.register(stream);
                let (config, reaper) = (config.clone(), reaper.clone());
                corio::coro::spawn(move || {
                    let _ = reaper.serve(&conn, &config);
                })
                .detach();
            }
            // Out of descriptors or similar: keep serving the others, try again in a while.
            Err(e) => {
                if !ACCEPT_FAILING.swap(true, Ordering::Relaxed) {
                    eprintln!("accept: {e}; retrying every {ACCEPT_PAUSE:?} (logged once until an accept succeeds)");
                }
                // A pause that fails (the task was canceled) ends the loop, which would spin.
                if corio::coro::io::single(op::Timeout::new(ACCEPT_PAUSE)).is_err() {
                    return;
                }
            }
        }
    }
}

/// Prints the library's warnings and errors (the runtime's accept failures) to stderr, as the
/// hand-wired accept loop does with its own; the examples have no logger crate.
pub fn log_warnings_to_stderr() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                eprintln!("{}", record.args());
            }
        }
        fn flush(&self) {}
    }
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}
