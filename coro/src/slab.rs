//! The scheduler's task table: tasks indexed by a reusable key.

use std::rc::Rc;

use crate::task::TaskCore;

/// Tasks indexed by key.
#[derive(Default)]
pub(crate) struct Slab {
    entries: Vec<Option<Rc<TaskCore>>>,
    free: Vec<u32>,
    /// Live tasks.
    pub(crate) len: usize,
}

impl Slab {
    pub(crate) fn insert(&mut self, task: Rc<TaskCore>) -> u32 {
        self.len += 1;
        if let Some(key) = self.free.pop() {
            self.entries[key as usize] = Some(task);
            key
        } else {
            self.entries.push(Some(task));
            u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 tasks")
        }
    }

    pub(crate) fn remove(&mut self, key: u32) {
        if self.entries.get_mut(key as usize).and_then(Option::take).is_some() {
            self.len -= 1;
            self.free.push(key);
        }
    }

    pub(crate) fn get(&self, key: u32) -> Option<&Rc<TaskCore>> {
        self.entries.get(key as usize)?.as_ref()
    }

    /// The fewest ops that a task with IO in flight still waits for (`None` if no task has, or
    /// if there are too many tasks to look at on every tick).
    ///
    /// With no task ready, only completions make one ready again: a task parked in an IO call
    /// is woken when its last pending op completes, and every other park (join, channels,
    /// locks) is ended by a task that runs, or across threads by an IO completion. Fewer
    /// completions than this cannot finish any task's call, so a tick that waits for this
    /// many (one kernel wait on io_uring) wakes no later than one waiting for one at a time.
    /// Each `pending` counts that task's ops in flight, which all complete: the wait ends.
    pub(crate) fn fewest_pending(&self) -> Option<usize> {
        const MAX_SCAN: usize = 64;
        if self.entries.len() > MAX_SCAN {
            return None;
        }
        self.entries.iter().flatten().map(|task| task.pending.get()).filter(|&p| p > 0).min()
    }

    pub(crate) fn live(&self) -> Vec<Rc<TaskCore>> {
        self.entries.iter().flatten().cloned().collect()
    }
}
