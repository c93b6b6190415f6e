//! Readiness on Linux: epoll, driven directly.
//!
//! * Registrations are edge-triggered and persistent ([`Poller::EDGE`]): the driver keeps a
//!   descriptor registered across ops and tracks its readiness itself (`registry.rs`).
//! * A wait sleeps with its timeout in the call: `epoll_pwait2` (nanoseconds) where the kernel
//!   has it (5.11+), else `epoll_wait` with the timeout rounded up to a millisecond (probed
//!   once: `ENOSYS`, or `EPERM` from a seccomp filter, switches for good). No timerfd.
//! * Cross-thread wake-ups ([`Poller::notify`], from the worker pool) write to an eventfd
//!   registered edge-triggered; a flag makes repeated notifications before the loop wakes cost
//!   one write, and the loop reads the eventfd only in the wait that reports it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::syscall::{Interest, errno};

/// The key of the notification eventfd (no descriptor key has its high half all ones: see
/// `registry.rs`, which puts a 31-bit generation there).
const NOTIFY_KEY: u64 = u64::MAX;

/// One readiness report: the registration's key and what it says.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ready {
    pub(super) key: u64,
    pub(super) read: bool,
    pub(super) write: bool,
    /// The read side is closed (`EPOLLRDHUP`: the peer's FIN or our `SHUT_RD`), or the
    /// descriptor hung up or failed: a read will not block, even after a short one.
    pub(super) read_closed: bool,
}

/// The buffer one wait fills.
pub(super) struct Events {
    buf: Box<[libc::epoll_event]>,
    len: usize,
}

impl Events {
    pub(super) fn with_capacity(capacity: usize) -> Events {
        let empty = libc::epoll_event { events: 0, u64: 0 };
        Events { buf: vec![empty; capacity.max(1)].into_boxed_slice(), len: 0 }
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// The descriptors' reports of the last wait (the notification's are left out).
    pub(super) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.buf[..self.len].iter().filter(|ev| ev.u64 != NOTIFY_KEY).map(|ev| {
            let bits = ev.events as i32;
            let failed = bits & (libc::EPOLLERR | libc::EPOLLHUP) != 0;
            Ready {
                key: ev.u64,
                read_closed: failed || bits & libc::EPOLLRDHUP != 0,
                read: failed || bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) != 0,
                write: failed || bits & libc::EPOLLOUT != 0,
            }
        })
    }

    /// How many reports the last wait gave (the notification's included).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether the last wait gave no report at all (not even the notification's).
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// An epoll instance and its notification eventfd.
pub(super) struct Poller {
    epoll: OwnedFd,
    eventfd: OwnedFd,
    /// Set by [`notify`](Poller::notify) before it writes, cleared by the loop before it reads:
    /// while set, a wake-up is on its way and further notifications need no syscall.
    notified: AtomicBool,
    /// Whether `epoll_pwait2` works here (cleared the first time it does not).
    pwait2: AtomicBool,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

fn event_bits(interest: Interest) -> u32 {
    let mut bits = libc::EPOLLET;
    if interest.read {
        bits |= libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI;
    }
    if interest.write {
        bits |= libc::EPOLLOUT;
    }
    bits as u32
}

impl Poller {
    /// Registrations stay armed and report only changes (edge-triggered).
    pub(super) const EDGE: bool = true;

    /// Reports say when the read side closed ([`Ready::read_closed`], from `EPOLLRDHUP`), so
    /// a short read on a stream socket without it means the socket is drained.
    pub(super) const READ_CLOSED_KNOWN: bool = true;

    pub(super) fn new() -> io::Result<Poller> {
        // SAFETY: plain syscall; the result is checked.
        let epoll = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: a new descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: plain syscall; the result is checked.
        let eventfd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: as above.
        let eventfd = unsafe { OwnedFd::from_raw_fd(eventfd) };
        let poller = Poller { epoll, eventfd, notified: AtomicBool::new(false), pwait2: AtomicBool::new(true) };
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.eventfd.as_raw_fd(),
            NOTIFY_KEY,
            libc::EPOLLIN as u32 | libc::EPOLLET as u32,
        )?;
        Ok(poller)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, key: u64, events: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: key };
        // SAFETY: plain syscall on our epoll descriptor with a live event; a registration
        // holds no pointer (the key is plain data), so a descriptor closed while registered
        // only leaves the set.
        check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Registers `fd` for `interest`, reported with `key`. `EPERM`: `fd` does not support
    /// readiness (a regular file).
    pub(super) fn add(&self, fd: RawFd, key: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, key, event_bits(interest))
    }

    /// Changes `fd`'s registration (and reports it at the next wait if it is ready now).
    /// `ENOENT`: the file now open as `fd` is not registered (the one that was is closed).
    pub(super) fn modify(&self, fd: RawFd, key: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, key, event_bits(interest))
    }

    pub(super) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `timeout` (`None`: no limit) for reports into `events`. An interrupted
    /// wait returns with none.
    pub(super) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.len = 0;
        let max = events.buf.len().min(i32::MAX as usize) as libc::c_int;
        let buf = events.buf.as_mut_ptr();
        let mut n = -1;
        if self.pwait2.load(Ordering::Relaxed) {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: the buffer holds `max` events; the timespec (or null) outlives the call;
            // no signal mask (null, size 0).
            n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.epoll.as_raw_fd(),
                    buf,
                    max,
                    ts_ptr,
                    std::ptr::null::<u8>(),
                    0,
                )
            } as libc::c_int;
            if n < 0 && matches!(errno(), libc::ENOSYS | libc::EPERM) {
                log::info!("corio-aio: no epoll_pwait2 here; posix waits round timeouts up to a millisecond");
                self.pwait2.store(false, Ordering::Relaxed);
            }
        }
        if !self.pwait2.load(Ordering::Relaxed) {
            let ms = match timeout {
                None => -1,
                // Rounded up, in 64 bits (a u128 division costs a call per wait).
                Some(t) => t
                    .as_secs()
                    .saturating_mul(1000)
                    .saturating_add(u64::from(t.subsec_nanos().div_ceil(1_000_000)))
                    .min(i32::MAX as u64) as libc::c_int,
            };
            // The plain syscall, as for `epoll_pwait2` above: the C library's `epoll_wait` is a
            // cancellation point, whose wrapper costs more than the rest of the call here.
            // `epoll_pwait` with no signal mask is `epoll_wait`, on every architecture.
            // SAFETY: the buffer holds `max` events; no signal mask (null, size 0).
            n = unsafe {
                libc::syscall(libc::SYS_epoll_pwait, self.epoll.as_raw_fd(), buf, max, ms, std::ptr::null::<u8>(), 0)
            } as libc::c_int;
        }
        if n < 0 {
            return match errno() {
                libc::EINTR => Ok(()),
                e => Err(io::Error::from_raw_os_error(e)),
            };
        }
        events.len = n as usize;
        if events.buf[..events.len].iter().any(|ev| ev.u64 == NOTIFY_KEY) {
            // Drain first, then clear the flag: a notification between the two finds the flag
            // set and writes nothing, but its poster's work is visible to the caller, which
            // collects after this wait. The other order loses wake-ups for good: a notifier
            // that set the flag and wrote between the clear and the read would have its count
            // read away, leaving the flag set with nothing pending, so no later notification
            // would write (a loop asleep while workers' results wait).
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd (EAGAIN if a
            // racing notification's value was already taken: harmless).
            unsafe { libc::read(self.eventfd.as_raw_fd(), (&raw mut count).cast(), 8) };
            self.notified.store(false, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Wakes a wait in progress (or the next one) on another thread.
    pub(super) fn notify(&self) -> io::Result<()> {
        if self.notified.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        let r = unsafe { libc::write(self.eventfd.as_raw_fd(), (&raw const one).cast(), 8) };
        if r < 0 && errno() != libc::EAGAIN {
            self.notified.store(false, Ordering::SeqCst);
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_timed_wait_with_nothing_ready_sleeps_its_timeout_and_reports_nothing() {
        let poller = Poller::new().unwrap();
        let mut events = Events::with_capacity(4);
        let started = Instant::now();
        poller.wait(&mut events, Some(Duration::from_millis(5))).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(5));
        assert_eq!(events.len(), 0);
    }

    #[test]
    fn notifications_wake_the_wait_once_and_cost_one_write_until_then() {
        let poller = std::sync::Arc::new(Poller::new().unwrap());
        let mut events = Events::with_capacity(4);
        poller.notify().unwrap();
        poller.notify().unwrap();
        assert!(poller.notified.load(Ordering::SeqCst));
        poller.wait(&mut events, None).unwrap();
        assert_eq!(events.len(), 1, "one report for both notifications");
        assert_eq!(events.iter().count(), 0, "the notification is not a descriptor's report");
        assert!(!poller.notified.load(Ordering::SeqCst), "drained");
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.len(), 0, "nothing left");
        let other = std::sync::Arc::clone(&poller);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.notify().unwrap();
        });
        poller.wait(&mut events, None).unwrap();
        assert_eq!(events.len(), 1, "woken from another thread");
        t.join().unwrap();
    }

    /// Workers post and notify while the loop waits and drains: every post must be followed
    /// by a wake-up that sees it. (Clearing the flag before draining the eventfd lost a
    /// wake-up now and then: the loop slept for good with posts pending.)
    #[test]
    fn racing_notifications_never_leave_the_loop_asleep_with_work_posted() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicUsize;
        const THREADS: usize = 4;
        const POSTS: usize = 20_000;
        let poller = Arc::new(Poller::new().unwrap());
        let posted = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (poller, posted) = (Arc::clone(&poller), Arc::clone(&posted));
                std::thread::spawn(move || {
                    for _ in 0..POSTS {
                        posted.fetch_add(1, Ordering::SeqCst);
                        poller.notify().unwrap();
                    }
                })
            })
            .collect();
        let mut events = Events::with_capacity(4);
        let mut seen = 0;
        while seen < THREADS * POSTS {
            // What is posted before the wait is seen after it, or a wake-up is on its way.
            let before = posted.load(Ordering::SeqCst);
            if before == seen {
                poller.wait(&mut events, Some(Duration::from_secs(10))).unwrap();
                let now = posted.load(Ordering::SeqCst);
                assert!(!events.is_empty() || now == seen, "a wait slept 10 s with {} posts unseen", now - seen);
            }
            seen = posted.load(Ordering::SeqCst);
        }
        for w in workers {
            w.join().unwrap();
        }
    }

    #[test]
    fn the_millisecond_fallback_rounds_up_and_still_reports() {
        let poller = Poller::new().unwrap();
        poller.pwait2.store(false, Ordering::Relaxed);
        let mut events = Events::with_capacity(4);
        let started = Instant::now();
        poller.wait(&mut events, Some(Duration::from_micros(10))).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(1), "10 µs is rounded up to 1 ms");
        let (r, w) = std::io::pipe().unwrap();
        poller.add(r.as_raw_fd(), 7, super::super::syscall::READ).unwrap();
        drop(w);
        poller.wait(&mut events, None).unwrap();
        let got: Vec<_> = events.iter().map(|e| (e.key, e.read)).collect();
        assert_eq!(got, [(7, true)], "a hung-up pipe reads (EOF)");
    }
}
