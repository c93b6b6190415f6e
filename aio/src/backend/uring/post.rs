//! What happens when an op's CQE arrives: the [`Post`] work a slot may have pending (a result
//! to report instead, a deferred syscall, a pidfd to reap, a zero-copy notification to wait
//! for, a descriptor to install, a stand-in to re-arm), and the syscall fallbacks that set it
//! up when an op is prepared.

use io_uring::cqueue;
use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::Fd;

use super::fallback::{reap_pidfd, run_syscall};
use super::{Prep, Queued};
use crate::dynamic::groups;
use crate::id::Id;
use crate::op::RawOp;
use crate::raw::OpState;

/// `Prep::post_process`'s result for a CQE reported only once its descriptor is installed
/// (`Post::Install`): no result code is this negative.
const INSTALLING: i32 = i32::MIN;

/// Work to do when an op's CQE arrives.
#[derive(Clone, Copy)]
pub(super) enum Post {
    None,
    /// The op ran synchronously when queued; report this result instead of the placeholder's.
    Result(i32),
    /// The op's predecessor completed: run the op as a syscall now (unless it was canceled).
    Deferred(RawOp, *const OpState),
    /// A child-exit fallback: the pidfd became readable; reap the child into the state.
    ReapPidfd(*mut OpState),
    /// A cancel of a heap timer that waited for its chain predecessor: cancel the timer now
    /// (unless the cancel itself was canceled).
    CancelTimer(Id),
    /// An op this kernel cannot run as asked stood in for by a failing placeholder: report
    /// this error when the placeholder ran (it failed, so soft links behave as for a failure),
    /// or `-ECANCELED` if its chain canceled it first.
    Refused(i32),
    /// A zero-copy send: a first CQE with `F_MORE` carries its result, which is reported
    /// (as a `Result`) with the notification CQE that follows, once the kernel let go of
    /// the buffer.
    ZeroCopy,
    /// A direct op run as its plain form on a kernel without direct descriptors: its new
    /// descriptor goes into this slot of the table when its CQE is reaped (`Uring::install`).
    Install(u32),
    /// A multishot op (`op`: an accept or a receive) stood in for by single-shot ones
    /// (`multishot.rs`): re-arm it after each success, unless a cancel of it went out
    /// meanwhile.
    Again {
        id: Id,
        op: RawOp,
        canceled: bool,
        /// The op targets a registered file slot (`IOSQE_FIXED_FILE` on every re-arm).
        fixed: bool,
    },
}

impl Prep {
    /// Runs a syscall now and makes its op report `res` through a placeholder SQE that fails
    /// exactly when the syscall did (so soft links behave as if the kernel had run it).
    pub(super) fn run_now(&mut self, id: Id, res: i32) -> Entry {
        self.set_post(id, Post::Result(res));
        if res >= 0 { opcode::Nop::new().build() } else { opcode::Close::new(Fd(-1)).build() }
    }

    /// Runs an op the kernel lacks as a direct syscall: right away if it heads its chain (a
    /// placeholder SQE then fails exactly when the syscall did, so soft links behave as in
    /// the kernel); else once its predecessor completed, when a placeholder nop completes (a
    /// canceled chain then never runs it; but a failure can no longer cancel its own
    /// followers, which already started).
    pub(super) fn fallback(&mut self, q: &Queued, after_link: bool) -> Entry {
        if after_link {
            self.set_post(q.id, Post::Deferred(q.op, q.state));
            opcode::Nop::new().build()
        } else {
            // SAFETY: `q.state` is the op's slot state, valid while it is queued.
            let res = run_syscall(&q.op, unsafe { &*q.state });
            if res < 0 && !q.op.facts().error_fails_link {
                // The kernel's own opcode would not fail the link: nor does the placeholder.
                self.set_post(q.id, Post::Result(res));
                return opcode::Nop::new().build();
            }
            self.run_now(q.id, res)
        }
    }

    /// What to report for a CQE of `id` with flags or a post-processing pending: `(res, more)`,
    /// or `None` if it is reported later (a zero-copy send's first CQE, an installing op).
    #[inline(never)]
    pub(super) fn finish_cqe(&mut self, id: Id, mut res: i32, flags: u32) -> Option<(i32, bool)> {
        if cqueue::more(flags) && self.awaits_notification(id) {
            // The buffer is the kernel's until the notification: report then.
            let (res, _) = self.post_process(id, res, false);
            self.set_post(id, Post::Result(res));
            return None;
        }
        // A receive into a provided buffer: its id goes with the byte count.
        if let Some(bid) = cqueue::buffer_select(flags)
            && res >= 0
        {
            res = groups::encode(res as u32, Some(bid));
        }
        let (res, more) = self.post_process(id, res, cqueue::more(flags));
        // An installing op is reported once installed, after the reaping pass.
        (res != INSTALLING).then_some((res, more))
    }

    /// Whether `id` is a zero-copy send still waiting for its notification.
    #[inline]
    pub(super) fn awaits_notification(&self, id: Id) -> bool {
        self.posts_pending > 0 && matches!(self.post.get(id.slot() as usize), Some(Post::ZeroCopy))
    }

    pub(super) fn set_post(&mut self, id: Id, post: Post) {
        self.post[id.slot() as usize] = post;
        self.posts_pending += 1;
    }

    /// What to report for a CQE of `id`: `(res, more)`, after the op's post-processing.
    /// The check is inlined (the function itself was not: its prologue cost more than the
    /// check, per CQE); the work is out of line.
    #[inline(always)]
    pub(super) fn post_process(&mut self, id: Id, res: i32, more: bool) -> (i32, bool) {
        if self.posts_pending == 0 {
            return (res, more);
        }
        self.post_process_pending(id, res, more)
    }

    #[inline(never)]
    fn post_process_pending(&mut self, id: Id, mut res: i32, more: bool) -> (i32, bool) {
        let Some(post) = self.post.get_mut(id.slot() as usize) else { return (res, more) };
        let post = std::mem::replace(post, Post::None);
        if !matches!(post, Post::None) {
            self.posts_pending -= 1;
        }
        match post {
            Post::None => {}
            Post::Result(r) => res = r,
            Post::Deferred(op, state) => {
                if res >= 0 {
                    // SAFETY: the op is completing; its slot state is valid.
                    res = run_syscall(&op, unsafe { &*state });
                }
            }
            Post::ReapPidfd(state) => {
                if res >= 0 {
                    // SAFETY: the op is completing; its slot state is valid and the backend is
                    // the only one touching it until `sink` reports it.
                    res = reap_pidfd(unsafe { &mut *state });
                }
                // SAFETY: as above.
                if let OpState::Child(child) = unsafe { &mut *state } {
                    child.pidfd = None;
                }
            }
            Post::Refused(err) => {
                if res != -libc::ECANCELED {
                    res = err;
                }
            }
            Post::Install(slot) => {
                if res >= 0 {
                    self.installs.push((id, res, slot));
                    res = INSTALLING;
                }
            }
            // Its first CQE had no `F_MORE` (it failed, or was canceled): no notification
            // follows, the result is final.
            Post::ZeroCopy => {}
            Post::CancelTimer(target) => {
                self.timer_posts -= 1;
                if res >= 0 {
                    res = if self.timers.cancel(target) { 0 } else { -libc::ENOENT };
                }
            }
            Post::Again { id: _, op, canceled, fixed } => return self.again(id, res, op, canceled, fixed),
        }
        (res, more)
    }
}
