//! Readiness on WASI (wasm32-wasip1): a stand-in for the `polling` crate's `Poller`, with the
//! subset of its API the driver uses, over `poll` (which wasi-libc implements with
//! `poll_oneoff`).
//!
//! * Registrations are one-shot, as `polling`'s: a descriptor reported ready is disarmed until
//!   it is [modified](Poller::modify) again (the driver re-arms or deletes it after every
//!   event).
//! * `poll_oneoff` may report fewer ready descriptors than are ready (wasmtime returns as soon
//!   as any subscription is ready), so nothing here assumes that one wait reports them all:
//!   those left out are reported by the next wait.
//! * Regular files are always ready for `poll_oneoff`. The only regular files the driver waits
//!   on are event sources (an unlinked file, see [`event`](crate::op::event)), so a regular
//!   file is reported readable only when it holds data past its position (size > offset), and
//!   writable always. Nothing else can add data to such a file while this (only) thread waits.
//! * The timeout is rounded up to whole milliseconds (`poll`'s unit), so timers never fire
//!   early.
//! * There is no `notify`: it would wake the loop for a worker, and WASI has no threads.

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Interest in (or readiness of) one descriptor, keyed by `key`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

impl Event {
    pub(crate) fn new(key: usize, readable: bool, writable: bool) -> Event {
        Event { key, readable, writable }
    }
}

/// The events of one wait.
pub(crate) struct Events {
    list: Vec<Event>,
}

impl Events {
    pub(crate) fn with_capacity(capacity: NonZeroUsize) -> Events {
        Events { list: Vec::with_capacity(capacity.get()) }
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.list.iter().copied()
    }
}

struct Registration {
    fd: RawFd,
    /// What to report (one-shot: cleared once reported).
    interest: Event,
    /// A regular file (see the module docs).
    file: bool,
}

#[derive(Default)]
struct State {
    regs: Vec<Registration>,
    /// Scratch for `poll`.
    pollfds: Vec<libc::pollfd>,
}

/// A readiness poller over `poll_oneoff`, for the one thread a WASI program has (behind a
/// mutex only so that it is `Sync`, as the driver's `Arc` wants).
pub(crate) struct Poller {
    state: Mutex<State>,
}

fn is_regular_file(fd: RawFd) -> bool {
    // SAFETY: `stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into a live `stat`.
    unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG }
}

/// Whether regular file `fd` has data past its current position.
fn file_has_data(fd: RawFd) -> bool {
    // SAFETY: as in `is_regular_file`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into a live `stat`; lseek by 0 from the current position only
    // reads the position.
    unsafe {
        if libc::fstat(fd, &mut st) != 0 {
            return true; // Let the op find out what is wrong.
        }
        let pos = libc::lseek(fd, 0, libc::SEEK_CUR);
        pos < 0 || st.st_size > pos
    }
}

/// `timeout` in whole milliseconds, rounded up; `-1` for none.
fn millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        Ok(Poller { state: Mutex::new(State::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `fd` for `interest`.
    ///
    /// # Safety
    ///
    /// `fd` stays open until it is [deleted](Poller::delete) (the `polling` contract; here a
    /// stale descriptor would only be polled, harmlessly, but the driver keeps it anyway).
    pub(crate) unsafe fn add(&self, fd: impl AsRawFd, interest: Event) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let mut state = self.lock();
        if state.regs.iter().any(|r| r.fd == fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let file = is_regular_file(fd);
        state.regs.push(Registration { fd, interest, file });
        Ok(())
    }

    /// Re-arms `fd` with `interest`.
    pub(crate) fn modify(&self, fd: BorrowedFd<'_>, interest: Event) -> io::Result<()> {
        let mut state = self.lock();
        let reg = state.regs.iter_mut().find(|r| r.fd == fd.as_raw_fd());
        let reg = reg.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        reg.interest = interest;
        Ok(())
    }

    /// Deregisters `fd`.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut state = self.lock();
        let i = state.regs.iter().position(|r| r.fd == fd.as_raw_fd());
        let i = i.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        state.regs.swap_remove(i);
        Ok(())
    }

    /// Waits until some registered descriptor is ready or `timeout` passes; `events` gets
    /// the ready ones (perhaps not all of them, see the module docs).
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        let mut state = self.lock();
        let State { regs, pollfds } = &mut *state;
        pollfds.clear();
        for reg in regs.iter_mut() {
            let (read, write) = (reg.interest.readable, reg.interest.writable);
            if !read && !write {
                continue;
            }
            if reg.file {
                let readable = read && file_has_data(reg.fd);
                if readable || write {
                    events.list.push(Event::new(reg.interest.key, readable, write));
                    reg.interest.readable = false;
                    reg.interest.writable = false;
                }
                continue;
            }
            let mut mask = 0;
            if read {
                mask |= libc::POLLIN;
            }
            if write {
                mask |= libc::POLLOUT;
            }
            pollfds.push(libc::pollfd { fd: reg.fd, events: mask, revents: 0 });
        }
        let timeout = if events.list.is_empty() { millis(timeout) } else { 0 };
        if pollfds.is_empty() && timeout < 0 {
            // Nothing registered can become ready, and no other thread exists to change that.
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "posix backend (WASI): a wait that nothing can end (no descriptor to poll, no timer)",
            ));
        }
        if pollfds.is_empty() && timeout == 0 {
            return Ok(events.list.len());
        }
        // SAFETY: `pollfds` holds `len` live `pollfd`s (or none, with a dangling but unused
        // pointer: wasi-libc then only sleeps for the timeout).
        let r = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as _, timeout) };
        if r < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted { Ok(events.list.len()) } else { Err(err) };
        }
        for p in pollfds.iter().filter(|p| p.revents != 0) {
            let Some(reg) = regs.iter_mut().find(|r| r.fd == p.fd) else { continue };
            // Errors and hang-ups wake whatever the waiters wanted: their attempt reports them.
            let failed = p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
            let readable = reg.interest.readable && (failed || p.revents & libc::POLLIN != 0);
            let writable = reg.interest.writable && (failed || p.revents & libc::POLLOUT != 0);
            if readable || writable {
                events.list.push(Event::new(reg.interest.key, readable, writable));
                reg.interest.readable = false;
                reg.interest.writable = false;
            }
        }
        Ok(events.list.len())
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn millis_rounds_up() {
        assert_eq!(millis(None), -1);
        assert_eq!(millis(Some(Duration::ZERO)), 0);
        assert_eq!(millis(Some(Duration::from_nanos(1))), 1);
        assert_eq!(millis(Some(Duration::from_micros(1500))), 2);
        assert_eq!(millis(Some(Duration::from_secs(u64::MAX))), libc::c_int::MAX);
    }

    /// stdout and stderr are both writable, but a wait may report only one of them: the
    /// other must come with a later wait (registrations are one-shot, so the first is not
    /// reported twice).
    #[test]
    fn every_ready_descriptor_is_reported_by_some_wait() {
        let poller = Poller::new().unwrap();
        let (out, err) = (std::io::stdout(), std::io::stderr());
        // SAFETY: stdout and stderr stay open for the whole test.
        unsafe {
            poller.add(out.as_raw_fd(), Event::new(1, false, true)).unwrap();
            poller.add(err.as_raw_fd(), Event::new(2, false, true)).unwrap();
        }
        let mut events = Events::with_capacity(NonZeroUsize::new(2).unwrap());
        let mut seen = Vec::new();
        for _ in 0..4 {
            events.clear();
            poller.wait(&mut events, Some(Duration::from_secs(1))).unwrap();
            seen.extend(events.iter().map(|e| (e.key, e.readable, e.writable)));
            if seen.len() >= 2 {
                break;
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, [(1, false, true), (2, false, true)], "each once");
        // Both are disarmed now: nothing is reported until they are modified.
        events.clear();
        assert_eq!(poller.wait(&mut events, Some(Duration::from_millis(1))).unwrap(), 0);
        poller.modify(err.as_fd(), Event::new(2, false, true)).unwrap();
        events.clear();
        poller.wait(&mut events, Some(Duration::from_secs(1))).unwrap();
        assert_eq!(events.iter().map(|e| e.key).collect::<Vec<_>>(), [2]);
        poller.delete(out.as_fd()).unwrap();
        assert!(poller.delete(out.as_fd()).is_err(), "already gone");
    }

    #[test]
    fn a_wait_with_nothing_to_end_it_fails_instead_of_hanging() {
        let poller = Poller::new().unwrap();
        let mut events = Events::with_capacity(NonZeroUsize::MIN);
        assert_eq!(poller.wait(&mut events, None).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert_eq!(poller.wait(&mut events, Some(Duration::from_millis(1))).unwrap(), 0);
    }
}
