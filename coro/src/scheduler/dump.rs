//! [`Scheduler::dump`](super::Scheduler::dump): what each live task waits on.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use corio_aio::__private::RuntimeExt;

use super::{CANCEL_INDEX, Inner};
use crate::task::Status;

impl Inner {
    /// The dump's text (see `Scheduler::dump`).
    pub(crate) fn dump(&self) -> String {
        let now = Instant::now();
        let mut out = format!("scheduler: {}\n", self.metrics());
        // The ops in flight by task key (the high half of their user data, minus one).
        let mut ops: Vec<(u32, Op)> = Vec::new();
        if let Some(io) = self.io.borrow().as_ref() {
            for (id, user_data, kind) in io.in_flight_ops_named() {
                let key = (user_data >> 32) as u32;
                if key > 0 && user_data as u32 != CANCEL_INDEX {
                    let target = io.op_target(id).unwrap_or_default();
                    ops.push((key - 1, Op { kind, fd: target.fd, fixed: target.fixed, timeout: target.timeout }));
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
            let mut mine: Vec<(Op, usize)> = Vec::new();
            for (_, op) in ops.iter().filter(|(k, _)| *k == key) {
                match mine.iter_mut().find(|(o, _)| o == op) {
                    Some((_, n)) => *n += 1,
                    None => mine.push((*op, 1)),
                }
            }
            for (i, (op, n)) in mine.iter().enumerate() {
                out.push_str(if i == 0 { " on " } else { ", " });
                op.describe(&mut out, task.parked_at.get(), now);
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

/// One op a task waits on, as the dump shows it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Op {
    /// The op table's name.
    kind: &'static str,
    fd: Option<i64>,
    /// `fd` is a registered file slot.
    fixed: bool,
    /// A timeout's duration: it is due that long after the task parked.
    timeout: Option<Duration>,
}

impl Op {
    /// `recv fd 7`, `recv slot 3` (a registered file), `timeout of 5.0s (due in 2.1s)`.
    fn describe(&self, out: &mut String, parked_at: Option<Instant>, now: Instant) {
        out.push_str(self.kind);
        if let Some(fd) = self.fd {
            let what = if self.fixed { "slot" } else { "fd" };
            write!(out, " {what} {fd}").expect("writing to a String");
        }
        if let Some(timeout) = self.timeout {
            write!(out, " of {timeout:.1?}").expect("writing to a String");
            if let Some(due) = parked_at.and_then(|at| at.checked_add(timeout)) {
                match due.checked_duration_since(now) {
                    Some(left) => write!(out, " (due in {left:.1?})"),
                    None => write!(out, " (due {:.1?} ago)", now - due),
                }
                .expect("writing to a String");
            }
        }
    }
}
