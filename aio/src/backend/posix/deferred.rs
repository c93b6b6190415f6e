//! Ops that would block when they start: each waits in the driver's deferred list until the
//! end of its pass, when it is attempted again if an op that can make it ready (a producer:
//! anything but a read-like op) started after it, and parks for readiness otherwise; a lone
//! one may be carried over to the next pass instead (see [`Posix::flush_deferred`]).

use super::syscall::Attempt;
use super::{At, Posix};

impl Posix {
    /// Attempts the ops deferred in this pass once more (if an op that can make them ready
    /// started after them: a write, a send, a notify, a close…), then parks those that still
    /// would block.
    ///
    /// One op that still would block is carried over to the next pass instead of parking
    /// (once per op), when another op completed here (so the poll to come does not sleep and
    /// the engine's next pass follows at once) and nothing else waits for readiness or runs on
    /// the pool: that poll then costs no syscall at all, and the op is attempted again after
    /// the next pass's producers (a peer task's send) or parks then. Two tasks exchanging
    /// messages on one thread so need no poller call per round trip; with more ops waiting,
    /// the poller's call is made anyway and each carried op could only add a doomed attempt.
    pub(super) fn flush_deferred(&mut self, done: &mut Vec<(u32, i32)>) {
        if self.deferred.is_empty() {
            return;
        }
        let mut deferred = std::mem::take(&mut self.deferred);
        // Those that still would block (their wait in their slot) move to the front.
        let mut blocked = 0;
        for i in 0..deferred.len() {
            let s = deferred[i];
            let slot = &self.slots[s as usize];
            if slot.at != At::Deferred {
                continue;
            }
            let attempt = if slot.started >= self.producer_started {
                Attempt::Wait(slot.fd, slot.interest)
            } else {
                self.attempt(s)
            };
            match self.drain_more(s, attempt, done).0 {
                Attempt::Wait(fd, interest) => {
                    let slot = &mut self.slots[s as usize];
                    (slot.fd, slot.interest) = (fd, interest);
                    deferred[blocked] = s;
                    blocked += 1;
                }
                other => {
                    if let Some(res) = self.dispose(s, other) {
                        done.push((s, res));
                    }
                }
            }
        }
        deferred.truncate(blocked);
        if let [s] = deferred[..]
            && !done.is_empty()
            && self.waiting == 0
            && !self.pool.busy()
            && !self.slots[s as usize].carried
        {
            // Attempted again only if a producer starts after this point.
            let slot = &mut self.slots[s as usize];
            (slot.carried, slot.started) = (true, self.starts);
            self.deferred = deferred;
            return;
        }
        for s in deferred.drain(..) {
            let slot = &self.slots[s as usize];
            if let Some(res) = self.dispose(s, Attempt::Wait(slot.fd, slot.interest)) {
                done.push((s, res));
            }
        }
        self.deferred = deferred;
    }
}
