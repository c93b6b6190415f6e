//! Engine tests over a scripted driver: every driver op stays pending until the test
//! completes it, so the orderings are exact.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::raw::ETIME;

#[derive(Default)]
struct Script {
    started: Vec<u32>,
    /// Completions the next poll reports.
    complete: Vec<(u32, i32)>,
    /// Whether driver ops can be stopped.
    stoppable: bool,
    /// Whether stopped ops were queued jobs rather than parked ones.
    queued: bool,
    /// Whether a stop is only a request (IOCP): the op reports itself later.
    requested: bool,
    /// The timeout of every poll.
    asked: Vec<Option<Duration>>,
}

struct Mock(Rc<RefCell<Script>>);

impl Driver for Mock {
    const KIND: BackendKind = BackendKind::Posix;

    fn start(&mut self, slot: u32, _op: RawOp, _state: *mut OpState) -> Option<i32> {
        self.0.borrow_mut().started.push(slot);
        None
    }
    fn cancel(&mut self, _slot: u32) -> Stop {
        if self.0.borrow().requested {
            return Stop::Requested;
        }
        match (self.0.borrow().stoppable, self.0.borrow().queued) {
            (false, _) => Stop::Running,
            (true, false) => Stop::Parked,
            (true, true) => Stop::Queued,
        }
    }
    fn poll(&mut self, timeout: Option<Duration>, done: &mut Vec<(u32, i32)>) -> io::Result<()> {
        let mut script = self.0.borrow_mut();
        script.asked.push(timeout);
        if script.complete.is_empty() {
            std::thread::sleep(timeout.unwrap_or(Duration::from_millis(1)).min(Duration::from_millis(50)));
        }
        done.append(&mut script.complete);
        Ok(())
    }
    fn describe(&self) -> String {
        "mock".into()
    }

    fn grow(&mut self, _capacity: usize) -> bool {
        true
    }
}

// A scripted driver op: the driver never looks at the descriptor.
const POLL: RawOp = RawOp::Poll { fd: 0, events: 0 };
const LT: RawOp = RawOp::LinkTimeout { nanos: 1_000_000 };
/// A link timeout that must not fire while a test runs (however slowly: Miri, a loaded CI).
const LT_LONG: RawOp = RawOp::LinkTimeout { nanos: 600_000_000_000 };

fn engine(stoppable: bool) -> (Engine<Mock>, Rc<RefCell<Script>>) {
    let script = Rc::new(RefCell::new(Script { stoppable, ..Script::default() }));
    (Engine::new(16, Mock(Rc::clone(&script))), script)
}

fn batch(ops: &[(RawOp, Link)]) -> Vec<Queued> {
    ops.iter()
        .enumerate()
        .map(|(i, &(op, link))| Queued {
            id: Id::new(i as u32, 7),
            op,
            link,
            state: std::ptr::null_mut(),
            fixed: false,
        })
        .collect()
}

/// Queues a batch on the engine.
fn queue(e: &mut Engine<Mock>, batch: &[Queued]) -> io::Result<()> {
    // SAFETY: the ops point at nothing (no buffers, null states), and the mock driver touches
    // no op memory.
    unsafe { e.queue(batch) }
}

/// Runs until `n` completions were reported; returns them by slot.
fn run(e: &mut Engine<Mock>, n: usize) -> Vec<Option<i32>> {
    let mut results = vec![None; 16];
    let mut seen = 0;
    while seen < n {
        e.submit(1, |id, res, _more| {
            assert!(results[id.slot() as usize].replace(res).is_none(), "{id:?} reported twice");
            seen += 1;
        })
        .unwrap();
    }
    results
}

#[test]
fn unlinked_ops_start_in_queue_order() {
    let (mut e, script) = engine(true);
    queue(&mut e, &batch(&[(POLL, Link::Unlinked), (POLL, Link::Unlinked), (POLL, Link::Unlinked)])).unwrap();
    e.submit(0, |_, _, _| panic!("nothing completed")).unwrap();
    assert_eq!(script.borrow().started, [0, 1, 2]);
}

#[test]
fn soft_failure_before_a_link_timeout_cancels_what_follows_it() {
    let (mut e, script) = engine(true);
    queue(&mut e, &batch(&[(POLL, Link::Soft), (LT_LONG, Link::Hard), (POLL, Link::Unlinked)])).unwrap();
    e.submit(0, |_, _, _| panic!("nothing completed")).unwrap();
    script.borrow_mut().complete.push((0, -sys::EBADF));
    let r = run(&mut e, 3);
    assert_eq!(&r[..3], [Some(-sys::EBADF), Some(-sys::ECANCELED), Some(-sys::ECANCELED)]);
    assert_eq!(script.borrow().started, [0]);
}

#[test]
fn hard_failure_before_a_link_timeout_lets_the_chain_go_on() {
    let (mut e, script) = engine(true);
    queue(&mut e, &batch(&[(POLL, Link::Hard), (LT_LONG, Link::Soft), (POLL, Link::Unlinked)])).unwrap();
    e.submit(0, |_, _, _| panic!("nothing completed")).unwrap();
    script.borrow_mut().complete.push((0, -sys::EBADF));
    let r = run(&mut e, 2);
    assert_eq!(&r[..2], [Some(-sys::EBADF), Some(-sys::ECANCELED)]);
    assert_eq!(script.borrow().started, [0, 2]);
    script.borrow_mut().complete.push((2, 1));
    assert_eq!(run(&mut e, 1)[2], Some(1));
}

#[test]
fn expired_link_timeout_on_an_unstoppable_op_reports_ealready() {
    let (mut e, script) = engine(false);
    queue(&mut e, &batch(&[(POLL, Link::Soft), (LT, Link::Soft), (POLL, Link::Unlinked)])).unwrap();
    let r = run(&mut e, 1);
    assert_eq!(r[1], Some(-sys::EALREADY));
    script.borrow_mut().complete.push((0, 1));
    run(&mut e, 0);
    e.submit(0, |id, res, _more| assert_eq!((id.slot(), res), (0, 1))).unwrap();
    assert_eq!(script.borrow().started, [0, 2]);
}

#[test]
fn cancel_finds_only_started_unfinished_ops() {
    let (mut e, script) = engine(true);
    let ops = [
        (POLL, Link::Soft),
        (POLL, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(1, 7) }, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(0, 7) }, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(0, 6) }, Link::Unlinked),
    ];
    queue(&mut e, &batch(&ops)).unwrap();
    let r = run(&mut e, 5);
    // Slot 1 waited for slot 0: not found; slot 0 was stopped, so slot 1 was canceled too.
    assert_eq!(r[..5], [Some(-sys::ECANCELED), Some(-sys::ECANCELED), Some(-sys::ENOENT), Some(0), Some(-sys::ENOENT)]);
    assert_eq!(script.borrow().started, [0]);
}

#[test]
fn a_cancel_never_finds_itself() {
    let (mut e, _) = engine(true);
    queue(&mut e, &batch(&[(RawOp::Cancel { target: Id::new(0, 7) }, Link::Unlinked)])).unwrap();
    assert_eq!(run(&mut e, 1)[0], Some(-sys::ENOENT));
}

#[test]
fn a_stopped_driver_op_is_found_again_in_its_pass_a_stopped_timer_is_not() {
    let (mut e, _) = engine(true);
    let timeout = RawOp::Timeout { nanos: 10_000_000_000 };
    let ops = [
        (POLL, Link::Unlinked),
        (timeout, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(0, 7) }, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(0, 7) }, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(1, 7) }, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(1, 7) }, Link::Unlinked),
    ];
    queue(&mut e, &batch(&ops)).unwrap();
    let r = run(&mut e, 6);
    let canceled = Some(-sys::ECANCELED);
    assert_eq!(r[..6], [canceled, canceled, Some(0), Some(0), Some(0), Some(-sys::ENOENT)]);
}

#[test]
fn a_stopped_queued_job_is_gone_at_once() {
    let (mut e, script) = engine(true);
    script.borrow_mut().queued = true;
    let ops = [
        (POLL, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(0, 7) }, Link::Unlinked),
        (RawOp::Cancel { target: Id::new(0, 7) }, Link::Unlinked),
    ];
    queue(&mut e, &batch(&ops)).unwrap();
    assert_eq!(run(&mut e, 3)[..3], [Some(-sys::ECANCELED), Some(0), Some(-sys::ENOENT)]);
}

#[test]
fn a_requested_stop_leaves_the_op_to_report_what_happened() {
    // A link timeout fires: -ETIME at once; the guarded op reports later, and its own
    // result decides the chain: canceled (the rest of the soft chain too) ...
    let (mut e, script) = engine(true);
    script.borrow_mut().requested = true;
    queue(&mut e, &batch(&[(POLL, Link::Soft), (LT, Link::Soft), (POLL, Link::Unlinked)])).unwrap();
    assert_eq!(run(&mut e, 1)[1], Some(-ETIME));
    script.borrow_mut().complete.push((0, -sys::ECANCELED));
    let r = run(&mut e, 2);
    assert_eq!((r[0], r[2]), (Some(-sys::ECANCELED), Some(-sys::ECANCELED)));
    assert_eq!(script.borrow().started, [0]);

    // ... or done, if it won the race: the chain goes on.
    let (mut e, script) = engine(true);
    script.borrow_mut().requested = true;
    queue(&mut e, &batch(&[(POLL, Link::Soft), (LT, Link::Soft), (POLL, Link::Unlinked)])).unwrap();
    assert_eq!(run(&mut e, 1)[1], Some(-ETIME));
    script.borrow_mut().complete.push((0, 5));
    assert_eq!(run(&mut e, 1)[0], Some(5));
    assert_eq!(script.borrow().started, [0, 2]);

    // A cancel op reports 0 (found, stop requested); the target reports later, once only.
    let (mut e, script) = engine(true);
    script.borrow_mut().requested = true;
    queue(&mut e, &batch(&[(POLL, Link::Unlinked)])).unwrap();
    run(&mut e, 0);
    queue(
        &mut e,
        &[Queued {
            id: Id::new(1, 7),
            op: RawOp::Cancel { target: Id::new(0, 7) },
            link: Link::Unlinked,
            state: std::ptr::null_mut(),
            fixed: false,
        }],
    )
    .unwrap();
    assert_eq!(run(&mut e, 1)[1], Some(0));
    script.borrow_mut().complete.push((0, -sys::ECANCELED));
    assert_eq!(run(&mut e, 1)[0], Some(-sys::ECANCELED));
}

const fn timeout(d: Duration) -> RawOp {
    RawOp::Timeout { nanos: d.as_nanos() as u64 }
}

#[test]
fn timer_spin_waits_until_the_window_then_polls() {
    let (mut e, script) = engine(true);
    let (delay, spin) = (Duration::from_millis(30), Duration::from_millis(10));
    e.set_timer_spin(spin);
    let t0 = Instant::now();
    queue(&mut e, &batch(&[(timeout(delay), Link::Unlinked)])).unwrap();
    assert_eq!(run(&mut e, 1)[0], Some(-ETIME));
    assert!(t0.elapsed() >= delay, "fired early");
    // No wait reaches into the window: the waits aim at its start, the rest is polled.
    let asked = std::mem::take(&mut script.borrow_mut().asked);
    assert!(asked.iter().all(|a| a.is_some_and(|a| a <= delay - spin)), "{asked:?}");
    assert!(asked[0].unwrap() > Duration::ZERO, "the first wait sleeps: {asked:?}");

    // A deadline within the window is polled for throughout.
    e.set_timer_spin(Duration::from_secs(1));
    let t0 = Instant::now();
    queue(&mut e, &batch(&[(timeout(Duration::from_millis(2)), Link::Unlinked)])).unwrap();
    assert_eq!(run(&mut e, 1)[0], Some(-ETIME));
    assert!(t0.elapsed() >= Duration::from_millis(2), "fired early");
    assert!(script.borrow().asked.iter().all(|&a| a == Some(Duration::ZERO)), "{:?}", script.borrow().asked);
}

#[test]
fn timer_spin_ends_when_anything_completes_and_never_runs_unasked() {
    let (mut e, script) = engine(true);
    e.set_timer_spin(Duration::from_secs(10));
    queue(&mut e, &batch(&[(timeout(Duration::from_secs(5)), Link::Unlinked), (POLL, Link::Unlinked)])).unwrap();
    // A nonblocking submit polls once and returns, the deadline in the window or not.
    e.submit(0, |_, _, _| panic!("nothing completed")).unwrap();
    assert_eq!(script.borrow().asked, [Some(Duration::ZERO)]);
    // A blocking one returns with the driver op's completion, long before the timer.
    script.borrow_mut().complete.push((1, 7));
    let mut seen = Vec::new();
    e.submit(1, |id, res, _more| seen.push((id.slot(), res))).unwrap();
    assert_eq!(seen, [(1, 7)]);
    // With no timer armed, a blocking wait does not spin: it waits without a limit.
    e.cancel(&mut [Id::new(0, 7)].into_iter()).unwrap();
    e.submit(0, |id, res, _more| assert_eq!((id.slot(), res), (0, -sys::ECANCELED))).unwrap();
    queue(&mut e, &batch(&[(POLL, Link::Unlinked)])).unwrap();
    script.borrow_mut().asked.clear();
    script.borrow_mut().complete.push((0, 1));
    e.submit(1, |id, res, _more| assert_eq!((id.slot(), res), (0, 1))).unwrap();
    assert_eq!(script.borrow().asked, [None]);
}

#[test]
fn a_multishot_op_reports_more_until_its_final_report_and_a_cancel_ends_it() {
    const ACCEPT_MULTI: RawOp = RawOp::AcceptMulti { fd: 0, flags: 0 };
    let (mut e, script) = engine(true);
    queue(&mut e, &batch(&[(ACCEPT_MULTI, Link::Unlinked)])).unwrap();
    e.submit(0, |_, _, _| panic!("nothing completed")).unwrap();
    script.borrow_mut().complete.extend([(MORE, 5), (MORE, 6)]);
    let mut seen = Vec::new();
    e.submit(1, |id, res, more| seen.push((id.slot(), res, more))).unwrap();
    assert_eq!(seen, [(0, 5, true), (0, 6, true)]);
    assert_eq!(script.borrow().started, [0], "started once, re-armed by the driver");
    // Still the driver's: a cancel op finds it, and it ends canceled.
    let cancel = Queued {
        id: Id::new(1, 7),
        op: RawOp::Cancel { target: Id::new(0, 7) },
        link: Link::Unlinked,
        state: std::ptr::null_mut(),
        fixed: false,
    };
    queue(&mut e, &[cancel]).unwrap();
    let r = run(&mut e, 2);
    assert_eq!(&r[..2], [Some(-sys::ECANCELED), Some(0)]);
}

/// A pipe whose write end the mock driver reports as an opened descriptor (the engine owns it
/// from then on): the read end sees the end of the stream once the engine closed it.
#[cfg(unix)]
fn opened() -> (std::io::PipeReader, i32) {
    let (r, w) = std::io::pipe().unwrap();
    (r, std::os::fd::IntoRawFd::into_raw_fd(w))
}

/// Whether the write end of `r`'s pipe was closed (a read of nothing, without waiting).
#[cfg(unix)]
fn closed(r: &std::io::PipeReader) -> bool {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd { fd: r.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: polls one valid pollfd without waiting.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 && pfd.revents & libc::POLLHUP != 0 }
}

#[cfg(unix)]
const ACCEPT_DIRECT: RawOp = RawOp::AcceptMultiDirect { fd: 0, flags: 0 };

#[test]
#[cfg(unix)]
fn a_full_table_ends_a_multishot_direct_op_and_closes_what_it_opened() {
    let (mut e, script) = engine(true);
    e.register_files(1).unwrap();
    queue(&mut e, &batch(&[(ACCEPT_DIRECT, Link::Unlinked)])).unwrap();
    let ((r1, w1), (r2, w2), (r3, w3)) = (opened(), opened(), opened());
    // Three in one poll: the first fills the table, the second ends the op (a parked op
    // stops at once), the third came with it and is closed too.
    script.borrow_mut().complete.extend([(MORE, w1), (MORE, w2), (MORE, w3)]);
    let mut seen = Vec::new();
    e.submit(1, |id, res, more| seen.push((id.slot(), res, more))).unwrap();
    assert_eq!(seen, [(0, 0, true), (0, -libc::ENFILE, false)]);
    assert!(!closed(&r1) && closed(&r2) && closed(&r3));
    drop(e);
    assert!(closed(&r1), "the table's file is closed with the engine");
}

#[test]
#[cfg(unix)]
fn a_full_table_ends_an_unstoppable_multishot_direct_op_with_its_error() {
    let (mut e, script) = engine(true);
    script.borrow_mut().requested = true; // IOCP: the op reports itself once stopped
    e.register_files(1).unwrap();
    queue(&mut e, &batch(&[(ACCEPT_DIRECT, Link::Unlinked)])).unwrap();
    let ((_r1, w1), (r2, w2)) = (opened(), opened());
    script.borrow_mut().complete.extend([(MORE, w1), (MORE, w2)]);
    let mut seen = Vec::new();
    e.submit(1, |id, res, more| seen.push((id.slot(), res, more))).unwrap();
    assert_eq!(seen, [(0, 0, true)]);
    assert!(closed(&r2));
    // The driver's final report (canceled) carries the table's error.
    script.borrow_mut().complete.push((0, -sys::ECANCELED));
    e.submit(1, |id, res, more| seen.push((id.slot(), res, more))).unwrap();
    assert_eq!(seen[1..], [(0, -libc::ENFILE, false)]);
}

#[test]
#[cfg(unix)]
fn a_slot_is_closed_by_the_engine_never_by_a_cancelable_driver_job() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut e, script) = engine(true);
    script.borrow_mut().queued = true; // every driver op is a queued job a cancel drops
    e.register_files(2).unwrap();
    let (r, w) = opened();
    // SAFETY: `w` is the pipe's write end, owned by nobody else.
    e.install_file(1, unsafe { OwnedFd::from_raw_fd(w) }).unwrap();
    queue(&mut e, &batch(&[(RawOp::CloseFixed { slot: 1 }, Link::Unlinked)])).unwrap();
    // Done when started: no driver job for a cancel to drop with the descriptor.
    let mut seen = Vec::new();
    e.submit(0, |id, res, _| seen.push((id.slot(), res))).unwrap();
    assert_eq!(seen, [(0, 0)]);
    assert!(script.borrow().started.is_empty(), "the driver never saw it");
    assert!(closed(&r));
    queue(&mut e, &batch(&[(RawOp::CloseFixed { slot: 1 }, Link::Unlinked)])).unwrap();
    assert_eq!(run(&mut e, 1)[0], Some(-libc::EBADF));
}
