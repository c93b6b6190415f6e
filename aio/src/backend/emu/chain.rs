//! Chains and their timers: what follows when an op completes (its chain goes on, or a
//! soft link breaks and the rest ends canceled), link timeouts armed, fired and unlinked,
//! and cancel ops finding their target; the rules are the kernel's (see the module docs of
//! [`emu`](super)).

use std::time::{Duration, Instant};

use super::{Driver, Engine, NONE, Phase, Rec, Stop};
use crate::id::Id;
use crate::op::RawOp;
use crate::raw::{ETIME, Link};
use crate::sys;

impl<D: Driver> Engine<D> {
    /// The result of a cancel op targeting `target`.
    pub(super) fn cancel_target(&mut self, target: Id) -> i32 {
        let s = target.slot();
        let Some(rec) = self.recs.get(s as usize).copied() else { return -sys::ENOENT };
        if rec.id != target {
            return -sys::ENOENT;
        }
        match rec.phase {
            Phase::Timer if !is_link_timeout(&rec.op) => {
                self.timers.disarm(s);
                self.finish(s, -sys::ECANCELED);
                0
            }
            // Like the kernel's poll-armed requests, a parked op completes a little later (at
            // the end of the pass): until then another cancel finds it too.
            Phase::Driver => match self.driver.cancel(s) {
                Stop::Parked => {
                    self.recs[s as usize].phase = Phase::Canceling;
                    self.canceling.push(s);
                    0
                }
                Stop::Queued => {
                    self.finish(s, -sys::ECANCELED);
                    0
                }
                Stop::Running => -sys::EALREADY,
                // Found and asked to stop: the target's own completion says whether it was.
                Stop::Requested => 0,
            },
            Phase::Canceling => 0,
            _ => -sys::ENOENT,
        }
    }

    /// A timer expired.
    pub(super) fn fire(&mut self, t: u32) {
        let rec = self.recs[t as usize];
        if rec.phase != Phase::Timer {
            return;
        }
        // A repeating timer with expiries left reports this one with `more` and is armed
        // again an interval from now; the record's copy of the op counts down (0: forever).
        if let RawOp::TimeoutMulti { nanos, count } = rec.op
            && count != 1
        {
            self.recs[t as usize].op = RawOp::TimeoutMulti { nanos, count: count.saturating_sub(1) };
            self.timers.arm(t, deadline(nanos));
            self.done.push((rec.id, -ETIME, true));
            return;
        }
        if !is_link_timeout(&rec.op) {
            self.finish(t, -ETIME);
            return;
        }
        let guarded = rec.prev;
        self.unlink_timeout(t);
        let res = if guarded == NONE {
            -ETIME
        } else {
            match self.recs[guarded as usize].phase {
                Phase::Timer => {
                    self.timers.disarm(guarded);
                    self.finish(guarded, -sys::ECANCELED);
                    -ETIME
                }
                Phase::Driver => match self.driver.cancel(guarded) {
                    Stop::Parked | Stop::Queued => {
                        self.finish(guarded, -sys::ECANCELED);
                        -ETIME
                    }
                    // The guarded op reports itself (canceled, or done if it won the race);
                    // the chain goes on from its result then.
                    Stop::Requested => -ETIME,
                    Stop::Running => -sys::EALREADY,
                },
                _ => -ETIME,
            }
        };
        self.complete(t, res);
    }

    /// Takes link timeout `t` out of its chain: its guarded op links to what followed it.
    pub(super) fn unlink_timeout(&mut self, t: u32) {
        let Rec { prev, next, .. } = self.recs[t as usize];
        if prev != NONE {
            self.recs[prev as usize].next = next;
        }
        if next != NONE {
            self.recs[next as usize].prev = prev;
        }
        self.recs[t as usize].prev = NONE;
        self.recs[t as usize].next = NONE;
    }

    /// Records a completion to report, without touching the chain.
    pub(super) fn complete(&mut self, s: u32, res: i32) {
        let rec = &mut self.recs[s as usize];
        rec.phase = Phase::Done;
        self.done.push((rec.id, res, false));
    }

    /// Op `s` completed with `res`: report it and move its chain along.
    pub(super) fn finish(&mut self, s: u32, res: i32) {
        self.complete(s, res);
        let mut n = self.recs[s as usize].next;
        if n != NONE && is_link_timeout(&self.recs[n as usize].op) {
            // The guarded op finished first: the link timeout is disarmed and leaves the chain.
            self.timers.disarm(n);
            self.unlink_timeout(n);
            self.complete(n, -sys::ECANCELED);
            n = self.recs[s as usize].next;
        }
        if n == NONE {
            return;
        }
        let rec = &mut self.recs[s as usize];
        rec.next = NONE;
        let broken = rec.link == Link::Soft
            // SAFETY: the op just completed; its state and buffers are still valid (they are
            // released only after the completion is reported) and nothing else uses them now.
            && unsafe { failed(&rec.op, res) };
        self.recs[n as usize].prev = NONE;
        if broken {
            self.cancel_chain(n);
        } else {
            self.recs[n as usize].phase = Phase::Ready;
            self.ready.push(n);
        }
    }

    /// Ends `s` and every op after it in its chain `-ECANCELED`; none of them has started.
    pub(super) fn cancel_chain(&mut self, mut s: u32) {
        while s != NONE {
            let next = self.recs[s as usize].next;
            self.recs[s as usize].next = NONE;
            self.recs[s as usize].prev = NONE;
            self.complete(s, -sys::ECANCELED);
            s = next;
        }
    }
}

pub(super) fn is_link_timeout(op: &RawOp) -> bool {
    matches!(op, RawOp::LinkTimeout { .. })
}

pub(super) fn deadline(nanos: u64) -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_nanos(nanos))
        .or_else(|| now.checked_add(Duration::from_secs(1 << 32)))
        .unwrap_or(now)
}

/// Whether a completion with `res` breaks a soft link, as the kernel decides it: an error the
/// op table says fails the link, or a short transfer (below the op's `whole_len`).
///
/// # Safety
///
/// The op's iovec array (for vectored ops) must still be valid.
pub(super) unsafe fn failed(op: &RawOp, res: i32) -> bool {
    if res < 0 {
        let facts = op.facts();
        return facts.error_fails_link && -res != facts.success_errno;
    }
    // SAFETY: forwarded from the caller.
    unsafe { op.whole_len() }.is_some_and(|whole| (res as usize) < whole)
}
