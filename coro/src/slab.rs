//! The scheduler's task table: tasks indexed by a reusable key, each beside the little that
//! routing a completion to it needs ([`Route`]).
//!
//! The reap loop (`scheduler/route.rs`) reads and writes only these dense entries: it counts
//! a completion, records it through the sink and wakes the task by key, without touching the
//! task's own record ([`TaskCore`], an allocation of its own), which the ready pass reads
//! when it resumes the task.

use std::cell::Cell;
use std::rc::Rc;

use corio_aio::__private::CollectorSink;

use crate::task::TaskCore;

/// What routing a task's completions needs: written by the task's IO call (`crate::io`) when
/// it parks, read and counted down by the reap loop.
#[derive(Default)]
pub(crate) struct Route {
    /// Ops of the task's current IO call (and cancel ops) not yet completed.
    pub(crate) pending: Cell<u32>,
    /// Where a parked IO call's completions go: its `Collector` on the task's stack.
    pub(crate) sink: Cell<Option<CollectorSink>>,
    /// The park that the last of them wakes (the task's `park_seq` in its IO call's park); on
    /// a free key, the last park of the key's previous task.
    pub(crate) seq: Cell<u64>,
}

/// One key: its task (none while the key is free) and the task's [`Route`] (40 bytes).
struct Entry {
    task: Option<Rc<TaskCore>>,
    route: Route,
}

/// Tasks indexed by key.
#[derive(Default)]
pub(crate) struct Slab {
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Live tasks.
    pub(crate) len: usize,
}

impl Slab {
    /// Adds `task` (with nothing pending); returns its key.
    ///
    /// A key's park sequence never goes back: a task that takes a freed key continues the
    /// `park_seq` of the key's previous task, so a wake-up queued for that task (by key, see
    /// `Wake::Key` in the scheduler) can never match a park of this one.
    pub(crate) fn insert(&mut self, task: Rc<TaskCore>) -> u32 {
        self.len += 1;
        if let Some(key) = self.free.pop() {
            let entry = &mut self.entries[key as usize];
            let last = entry.route.seq.get();
            task.park_seq.set(last);
            entry.task = Some(task);
            entry.route = Route { seq: Cell::new(last), ..Route::default() };
            key
        } else {
            self.entries.push(Entry { task: Some(task), route: Route::default() });
            u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 tasks")
        }
    }

    pub(crate) fn remove(&mut self, key: u32) {
        if let Some(entry) = self.entries.get_mut(key as usize)
            && let Some(task) = entry.task.take()
        {
            entry.route = Route { seq: Cell::new(task.park_seq.get()), ..Route::default() };
            self.len -= 1;
            self.free.push(key);
        }
    }

    /// The live task of `key` and its route.
    #[inline(always)]
    pub(crate) fn get(&self, key: u32) -> Option<(&Rc<TaskCore>, &Route)> {
        let entry = self.entries.get(key as usize)?;
        Some((entry.task.as_ref()?, &entry.route))
    }

    /// The route of the live task of `key` (a task's key is valid until it finished; a free
    /// key's route is never read by the reap loop).
    ///
    /// # Panics
    ///
    /// If no task ever had that key.
    #[inline]
    pub(crate) fn route(&self, key: u32) -> &Route {
        &self.entries[key as usize].route
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
        let pending = self.entries.iter().filter(|e| e.task.is_some()).map(|e| e.route.pending.get());
        pending.filter(|&p| p > 0).min().map(|p| p as usize)
    }

    pub(crate) fn live(&self) -> Vec<Rc<TaskCore>> {
        self.entries.iter().filter_map(|e| e.task.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key freed and taken again starts with nothing pending and no sink, whatever the
    /// previous task left (a torn-down task may leave both), and continues the previous task's
    /// park sequence.
    #[test]
    fn a_reused_key_starts_with_an_empty_route_and_a_later_park_sequence() {
        let task = || Rc::new(TaskCore::new(std::rc::Weak::new(), 1, None));
        let mut slab = Slab::default();
        let first = task();
        let key = slab.insert(first.clone());
        assert_eq!(first.park_seq.get(), 0, "a new key starts at 0");
        slab.route(key).pending.set(3);
        first.park_seq.set(7);
        slab.remove(key);
        assert!(slab.get(key).is_none(), "a free key has no task");
        assert_eq!(slab.len, 0);
        let second = task();
        assert_eq!(slab.insert(second.clone()), key, "the freed key is reused");
        assert_eq!(
            second.park_seq.get(),
            7,
            "a wake-up for park 7 or earlier of the first task matches no park of this one"
        );
        assert_eq!(slab.route(key).pending.get(), 0);
        assert!(slab.route(key).sink.get().is_none());
        assert_eq!(slab.fewest_pending(), None, "nothing pending");
        slab.route(key).pending.set(2);
        assert_eq!(slab.fewest_pending(), Some(2));
    }
}
