//! Reaping: the backend's reports turned into completions of the `Dynamic`'s slots (ids
//! released, results decoded, states reset), the loop behind every completing call.

use std::io;

use super::{Completed, Completion, Dynamic, Mode, Slot, abandon};
use crate::backend::Backend;
use crate::id::Id;
use crate::op::table::Output;
use crate::raw::Value;

impl Dynamic<'_> {
    /// [`complete_at_least`](Dynamic::complete_at_least), handing `on_complete` each op's slot,
    /// id and result (no [`Completion`] is built: see `complete_at_least_parts`). With
    /// `count_more`, a multishot op's reports that say more follow count towards `n` too.
    #[inline]
    pub(super) fn reap_at_least(
        &mut self,
        n: usize,
        count_more: bool,
        mut on_complete: impl FnMut(&Slot, Id, io::Result<Value>, bool),
    ) -> io::Result<Completed> {
        let mut done = Completed::default();
        loop {
            let counted = if count_more { done.completed + done.more } else { done.completed };
            // Messages reaped earlier (by a call that does not end for them) and not yet taken
            // end this call without a wait.
            let want = if self.backend.has_messages() { 0 } else { n.saturating_sub(counted).min(self.in_flight()) };
            let more = self.reap_slots(
                want,
                #[inline(always)]
                |slot, id, result, more| on_complete(slot, id, result, more),
            )?;
            done.completed += more.completed;
            done.errors += more.errors;
            done.more += more.more;
            let counted = if count_more { done.completed + done.more } else { done.completed };
            // A message from another ring (`dynamic/messages.rs`) ends the wait too.
            if counted >= n || self.in_flight() == 0 || self.backend.has_messages() {
                return Ok(done);
            }
        }
    }

    /// [`complete`](Dynamic::complete), also telling each op's index in a running
    /// [`run`](Dynamic::run) batch ([`NO_RUN`](super::NO_RUN) if it is not part of one).
    pub(super) fn reap(&mut self, mode: Mode, on_complete: impl FnMut(u32, Completion)) -> io::Result<Completed> {
        self.reap_min(usize::from(mode == Mode::Blocking), on_complete)
    }

    /// Reaps completions; with `min > 0`, first waits until the backend has at least one (on
    /// io_uring: `min`, when the kernel can tell) completion to report.
    #[inline]
    pub(super) fn reap_min(
        &mut self,
        min: usize,
        mut on_complete: impl FnMut(u32, Completion),
    ) -> io::Result<Completed> {
        self.reap_slots(
            min,
            #[inline(always)]
            |slot, id, result, more| {
                let completion = Completion { id, user_data: slot.user_data, op: slot.op.name(), result, more };
                on_complete(slot.run_index, completion)
            },
        )
    }

    /// [`reap_min`](Dynamic::reap_min), handing `on_complete` each op's slot, id and result,
    /// and whether more completions of the op follow (a multishot op's).
    #[inline]
    fn reap_slots(
        &mut self,
        min: usize,
        mut on_complete: impl FnMut(&Slot, Id, io::Result<Value>, bool),
    ) -> io::Result<Completed> {
        let (mut errors, mut more_reports) = (0, 0);
        let in_use = self.ids.in_use();
        if in_use == 0 {
            return Ok(Completed::default());
        }
        let (ids, slots) = (&mut self.ids, &self.slots);
        // Inlined into each backend's reaping loop: a call per completion costs ~12 instructions.
        self.backend.submit(
            min,
            #[inline(always)]
            |id, res, more| {
                if more {
                    // A multishot op's result, not its last: the op keeps its slot.
                    if !ids.is_live(id) {
                        log::warn!("ignoring a completion for stale id {id:?}");
                        return;
                    }
                    // SAFETY: `is_live` checked the index against the allocator, as below. The
                    // OS writes nothing in a multishot op's slot (its state is empty, or a
                    // receive's buffer group, which only its `Rc` holds; each
                    // report carries its whole value), and the slot is only accessed through
                    // this one reference here.
                    let slot = unsafe { &mut *slots.get(id.slot() as usize).get() };
                    let result = crate::op::decode(&slot.op, res, &mut slot.state);
                    errors += usize::from(result.is_err());
                    more_reports += 1;
                    on_complete(slot, id, result, true);
                    return;
                }
                // Released before the slot is read: nothing can allocate it again before this
                // closure returns (queueing needs `&mut self`).
                if !ids.release_if_live(id) {
                    log::warn!("ignoring a completion for stale id {id:?}");
                    return;
                }
                // SAFETY: `release_if_live` checked the slot index against the allocator, whose
                // capacity is the length of `slots`, so the index is in bounds. The backend reported
                // this op complete, so the OS no longer touches its slot; the slot is only accessed
                // through this one reference here.
                let slot = unsafe { &mut *slots.get(id.slot() as usize).get() };
                if res == -crate::sys::ECANCELED {
                    // A close canceled before it ran (its chain failed) still owns the descriptor.
                    abandon(&slot.op);
                }
                // The common successes (nothing, a byte count) each on a path of its own, where
                // the completion is built in place and known not to be an error: the value is
                // neither copied nor read back (`decode` gives the same values).
                if res >= 0 {
                    match slot.op.output() {
                        Output::Unit => {
                            slot.state.clear();
                            return on_complete(slot, id, Ok(Value::Unit), false);
                        }
                        Output::Len => {
                            slot.state.clear();
                            return on_complete(slot, id, Ok(Value::Len(res as usize)), false);
                        }
                        _ => {}
                    }
                }
                let result = crate::op::decode(&slot.op, res, &mut slot.state);
                slot.state.clear();
                errors += usize::from(result.is_err());
                on_complete(slot, id, result, false);
            },
        )?;
        // Each final completion reported released its id, and nothing allocated one meanwhile
        // (queueing needs `&mut self`).
        Ok(Completed { completed: in_use - self.ids.in_use(), errors, more: more_reports })
    }
}
