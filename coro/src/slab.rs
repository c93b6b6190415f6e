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

    pub(crate) fn live(&self) -> Vec<Rc<TaskCore>> {
        self.entries.iter().flatten().cloned().collect()
    }
}
