//! Who runs: [`current`] (the running task's id and name) and the note that names the task
//! in a panic's report.

use std::fmt;
use std::rc::Rc;
use std::sync::Once;

use crate::task::{self, TaskCore};

/// The running task, as [`current`] reports it.
#[derive(Clone)]
pub struct TaskInfo {
    core: Rc<TaskCore>,
}

impl TaskInfo {
    /// The task's id: unique among the tasks of the process (never reused).
    pub fn id(&self) -> u64 {
        self.core.id
    }

    /// The name given with [`SpawnOptions::name`](crate::SpawnOptions::name), if any.
    pub fn name(&self) -> Option<&str> {
        self.core.name.as_deref()
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo").field("id", &self.id()).field("name", &self.name()).finish()
    }
}

impl fmt::Display for TaskInfo {
    /// `task 'name' (id N)`, or `task N` for a task without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "task '{name}' (id {})", self.id()),
            None => write!(f, "task {}", self.id()),
        }
    }
}

/// The running task's id and name; `None` outside a task.
///
/// ```
/// use corio_coro::{Scheduler, SpawnOptions, current};
///
/// let scheduler = Scheduler::new()?;
/// let task = scheduler.spawn_with(SpawnOptions::new().name("worker"), || {
///     let me = current().unwrap();
///     (me.name().map(String::from), me.to_string())
/// });
/// let (name, shown) = task.join();
/// assert_eq!(name.as_deref(), Some("worker"));
/// assert!(shown.starts_with("task 'worker' (id "));
/// assert!(current().is_none());
/// # std::io::Result::Ok(())
/// ```
pub fn current() -> Option<TaskInfo> {
    task::current().map(|core| TaskInfo { core })
}

/// Chains a panic hook (once per process, when the first scheduler is made) that follows the
/// report of a panic inside a task with a line naming the task: `corio: the panic above is in
/// task 'name' (id N)`. A hook set later replaces it, as std's `set_hook` does.
pub(crate) fn install_panic_note() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            // A forced unwind of a torn-down task is not a panic of the user's.
            if let Some(me) = current().filter(|me| !me.core.unwinding.get()) {
                eprintln!("corio: the panic above is in {me}");
            }
        }));
    });
}
