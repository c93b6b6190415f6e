//! [`Scheduler::dump`](super::Scheduler::dump): what each live task waits on.

use std::fmt::Write as _;
use std::time::Instant;

use corio_aio::__private::RuntimeExt;

use super::{CANCEL_INDEX, Inner};
use crate::task::Status;

impl Inner {
    /// The dump's text (see `Scheduler::dump`).
    pub(crate) fn dump(&self) -> String {
        let now = Instant::now();
        let mut out = format!("scheduler: {}\n", self.metrics());
        // The ops in flight by task key (the high half of their user data, minus one).
        let mut ops: Vec<(u32, &'static str)> = Vec::new();
        if let Some(io) = self.io.borrow().as_ref() {
            for (_, user_data, kind) in io.in_flight_ops_named() {
                let key = (user_data >> 32) as u32;
                if key > 0 && user_data as u32 != CANCEL_INDEX {
                    ops.push((key - 1, kind));
                }
            }
        }
        for task in self.tasks.borrow().live() {
            match task.name.as_deref() {
                Some(name) => write!(out, "  task '{name}' (id {})", task.id),
                None => write!(out, "  task {}", task.id),
            }
            .expect("writing to a String");
            let status = task.status.get();
            out.push_str(": ");
            out.push_str(status.describe());
            if status != Status::Running
                && let Some(at) = task.parked_at.get()
            {
                write!(out, " for {:.1?}", now.saturating_duration_since(at)).expect("writing to a String");
            }
            let key = task.key.get();
            let mut mine: Vec<(&'static str, usize)> = Vec::new();
            for &(_, kind) in ops.iter().filter(|(k, _)| *k == key) {
                match mine.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, n)) => *n += 1,
                    None => mine.push((kind, 1)),
                }
            }
            for (i, (kind, n)) in mine.iter().enumerate() {
                out.push_str(if i == 0 { " on " } else { ", " });
                out.push_str(kind);
                if *n > 1 {
                    write!(out, " ×{n}").expect("writing to a String");
                }
            }
            if task.canceled.get() {
                out.push_str(" (canceled)");
            }
            if let Some(deadline) = task.deadline.get() {
                match deadline.checked_duration_since(now) {
                    Some(left) => write!(out, " (deadline in {left:.1?})"),
                    None => write!(out, " (deadline passed {:.1?} ago)", now - deadline),
                }
                .expect("writing to a String");
            }
            out.push('\n');
        }
        out
    }
}
