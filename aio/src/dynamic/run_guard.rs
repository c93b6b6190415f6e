//! [`RunGuard`]: keeps [`Dynamic::run`] from returning or unwinding while its ops are in
//! flight.

use super::{Dynamic, Mode, NO_RUN};
use crate::backend::Backend;
use crate::id::Id;

/// Keeps [`Dynamic::run`] from returning or unwinding while its ops are in flight.
pub(super) struct RunGuard<'a, 'env> {
    pub(super) dynamic: &'a mut Dynamic<'env>,
    /// Ops of the batch not completed yet.
    pub(super) remaining: usize,
}

impl Drop for RunGuard<'_, '_> {
    fn drop(&mut self) {
        let d = &mut *self.dynamic;
        while self.remaining > 0 {
            let live: Vec<Id> = d
                .ids
                .live()
                // SAFETY: reads `run_index`, which only the owning thread writes, outside any
                // other borrow of the slot.
                .filter(|id| unsafe { (*d.slots.get(id.slot() as usize).get()).run_index } != NO_RUN)
                .collect();
            let remaining = &mut self.remaining;
            let drained = d.backend.cancel(&mut live.into_iter()).and_then(|()| {
                d.reap(Mode::Blocking, |index, _| {
                    if index != NO_RUN {
                        *remaining -= 1;
                    }
                })
            });
            if let Err(e) = drained {
                // Returning would let the caller free memory the kernel may still write into.
                eprintln!("corio: cannot wait for in-flight IO ({e}); aborting to stay memory safe");
                std::process::abort();
            }
        }
    }
}
