//! One runtime thread: its [`Scheduler`], the [`Mailbox`] other threads post to, and the
//! thread's record of the tasks the runtime may have to cancel.
//!
//! Other threads reach a scheduler only through its mailbox: a job (a boxed closure) is pushed
//! under a mutex and, if the inbox was empty, the *mailbox task* is woken: a task of the
//! scheduler parked in a [`block_on`](crate::future::block_on) until jobs come, whose waker
//! rings the scheduler's doorbell (`future/doorbell.rs`: a `MSG_RING` message from a task of
//! another ring on io_uring, else the event source that the reactor keeps a `Wait` on). The
//! mailbox task then runs every job (most spawn a task) and waits again.
//!
//! Shutdown closes the inbox (later posts are refused) with a deadline and notifies. The
//! mailbox task runs what was posted before, cancels the tasks registered to stop when
//! shutdown begins (accept loops: no new connections), and sleeps until the deadline, so the
//! thread's loop wakes by then at the latest. The loop ends as soon as the mailbox task is
//! the only one left, or at the deadline; then [`RunMode::Cancel`] cancels what is left and
//! waits until its IO drained, and dropping the scheduler tears down anything still parked.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Instant;

use corio_aio::Mode;
use corio_aio::op::Timeout;

use super::Shared;
use crate::scheduler::{self, Options, RunMode, Scheduler};
use crate::sync::waiters::lock;
use crate::task::TaskCore;

/// Work posted to a runtime thread; it runs inside the thread's mailbox task.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// What other threads see of one runtime thread.
pub(crate) struct Mailbox {
    /// The thread's index in the runtime.
    pub(crate) index: usize,
    inbox: Mutex<Inbox>,
    /// Tasks spawned through the runtime onto this thread and not ended (for least-loaded
    /// placement).
    load: AtomicUsize,
    /// Whether shutdown began (`Inbox::closing` is set): the thread's loop asks after every
    /// tick without taking the lock.
    closed: AtomicBool,
}

#[derive(Default)]
struct Inbox {
    jobs: Vec<Job>,
    /// Set when shutdown begins: the deadline for the thread's tasks.
    closing: Option<Instant>,
    /// The mailbox task's waker while it waits for jobs.
    waker: Option<Waker>,
}

impl Mailbox {
    pub(crate) fn new(index: usize) -> io::Result<Mailbox> {
        Ok(Mailbox { index, inbox: Mutex::default(), load: AtomicUsize::new(0), closed: AtomicBool::new(false) })
    }

    /// Posts `job` to the thread; hands it back if the thread is shutting down.
    pub(crate) fn post(&self, job: Job) -> Result<(), Job> {
        let mut inbox = lock(&self.inbox);
        if inbox.closing.is_some() {
            return Err(job);
        }
        inbox.jobs.push(job);
        // One wake-up per batch of jobs: the mailbox task takes the whole inbox per wake-up.
        let waker = inbox.waker.take();
        drop(inbox);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Begins the thread's shutdown with `deadline` (the earliest one wins).
    pub(crate) fn close(&self, deadline: Instant) {
        let mut inbox = lock(&self.inbox);
        inbox.closing = Some(inbox.closing.map_or(deadline, |d| d.min(deadline)));
        self.closed.store(true, Ordering::Release);
        let waker = inbox.waker.take();
        drop(inbox);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The shutdown deadline, once shutdown began and every job posted before it was taken.
    fn closing(&self) -> Option<Instant> {
        if !self.closed.load(Ordering::Acquire) {
            return None;
        }
        let inbox = lock(&self.inbox);
        inbox.closing.filter(|_| inbox.jobs.is_empty())
    }

    /// Drops the jobs never taken (their tasks' handles report them lost).
    fn discard_jobs(&self) {
        let jobs = std::mem::take(&mut lock(&self.inbox).jobs);
        drop(jobs);
    }

    pub(crate) fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    pub(crate) fn task_started(&self) {
        self.load.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn task_ended(&self) {
        self.load.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The runtime thread's own state, for code running on it.
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    /// Tasks spawned through the runtime, by id, while they run (for [`cancel_task`]).
    tasks: RefCell<HashMap<u64, Rc<TaskCore>>>,
    /// Tasks canceled when shutdown begins (accept loops).
    stop_on_shutdown: RefCell<Vec<Rc<TaskCore>>>,
}

thread_local! {
    static CONTEXT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
}

/// The runtime thread the caller runs on, if any.
pub(crate) fn context() -> Option<Rc<Context>> {
    CONTEXT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Records a task spawned through the runtime (unless it has already ended).
pub(crate) fn remember_task(id: u64, core: Rc<TaskCore>) {
    if core.is_complete() {
        return;
    }
    if let Some(cx) = context() {
        cx.tasks.borrow_mut().insert(id, core);
    }
}

/// Forgets a task spawned through the runtime (it is ending).
pub(crate) fn forget_task(id: u64) {
    if let Some(cx) = context() {
        cx.tasks.borrow_mut().remove(&id);
    }
}

/// Cancels the task `id` if it still runs on this thread.
pub(crate) fn cancel_task(id: u64) {
    let core = context().and_then(|cx| cx.tasks.borrow().get(&id).cloned());
    if let Some(core) = core {
        scheduler::cancel(&core);
    }
}

/// Registers `core` to be canceled when shutdown begins; false off a runtime thread.
pub(crate) fn stop_on_shutdown(core: Rc<TaskCore>) -> bool {
    match context() {
        Some(cx) => {
            cx.stop_on_shutdown.borrow_mut().retain(|t| !t.is_complete());
            cx.stop_on_shutdown.borrow_mut().push(core);
            true
        }
        None => false,
    }
}

/// How a runtime thread is set up.
pub(crate) struct Setup {
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) options: Options,
    /// The CPU to pin the thread to.
    pub(crate) cpu: Option<usize>,
}

/// The body of a runtime thread: reports through `started` whether its scheduler could be
/// made, then runs it until shutdown.
pub(crate) fn run(setup: Setup, started: std::sync::mpsc::Sender<io::Result<()>>) -> io::Result<()> {
    let Setup { mailbox, shared, options, cpu } = setup;
    let made = cpu.map_or(Ok(()), pin_to_cpu).and_then(|()| Scheduler::with_options(options));
    let scheduler = match made {
        Ok(scheduler) => scheduler,
        Err(e) => {
            let _ = started.send(Err(e));
            return Ok(());
        }
    };
    let index = mailbox.index;
    let cx = Rc::new(Context { shared, index, tasks: RefCell::default(), stop_on_shutdown: RefCell::default() });
    CONTEXT.with(|c| *c.borrow_mut() = Some(cx.clone()));
    let mb = mailbox.clone();
    let options = crate::SpawnOptions::new().name("corio-runtime-mailbox");
    let spawned = scheduler.try_spawn_with(options, move || mailbox_task(&mb));
    let result = match spawned {
        Ok(task) => {
            task.detach();
            let _ = started.send(Ok(()));
            drive(&scheduler, &mailbox)
        }
        Err(e) => {
            let _ = started.send(Err(e));
            Ok(())
        }
    };
    // Cancel what is left and wait until its IO drained; the drop tears down the rest.
    // Refuse further posts (the loop may have ended on an error, before any shutdown).
    mailbox.close(Instant::now());
    let finished = scheduler.run(RunMode::Cancel);
    mailbox.discard_jobs();
    cx.tasks.borrow_mut().clear();
    cx.stop_on_shutdown.borrow_mut().clear();
    drop(scheduler);
    CONTEXT.with(|c| c.borrow_mut().take());
    result.and(finished)
}

/// Ticks the scheduler until shutdown: until the mailbox task is the only task left, or the
/// deadline passed.
fn drive(scheduler: &Scheduler, mailbox: &Mailbox) -> io::Result<()> {
    loop {
        let live = scheduler.tick(Mode::Blocking)?;
        if let Some(deadline) = mailbox.closing()
            && (live <= 1 || Instant::now() >= deadline)
        {
            return Ok(());
        }
    }
}

/// The mailbox task: runs posted jobs until shutdown, then stops the registered tasks and
/// sleeps until the deadline.
fn mailbox_task(mailbox: &Mailbox) {
    // The task parks again right after each wake-up: the reactor keeps the doorbell's `Wait`
    // in flight meanwhile, until the task ends (however it ends: the scheduler's last tick
    // must not wait for it).
    struct Armed(Option<Rc<scheduler::Inner>>);
    impl Drop for Armed {
        fn drop(&mut self) {
            if let Some(sched) = &self.0 {
                sched.reactor.stay_armed(sched, false);
            }
        }
    }
    let armed = Armed(crate::future::reactor::current_scheduler());
    if let Some(sched) = &armed.0 {
        sched.reactor.stay_armed(sched, true);
    }
    let deadline = loop {
        let (jobs, closing) = {
            let mut inbox = lock(&mailbox.inbox);
            (std::mem::take(&mut inbox.jobs), inbox.closing)
        };
        for job in jobs {
            job();
        }
        if let Some(deadline) = closing {
            break deadline;
        }
        let waiting = crate::future::block_on(std::future::poll_fn(|cx| {
            let mut inbox = lock(&mailbox.inbox);
            if inbox.jobs.is_empty() && inbox.closing.is_none() {
                inbox.waker = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        if let Err(e) = waiting {
            // Canceled: the scheduler is being torn down.
            log::debug!("corio runtime: thread {} stops taking jobs: {e}", mailbox.index);
            return;
        }
    };
    let stopping = context().map(|cx| std::mem::take(&mut *cx.stop_on_shutdown.borrow_mut())).unwrap_or_default();
    for task in stopping {
        scheduler::cancel(&task);
    }
    let left = deadline.saturating_duration_since(Instant::now());
    // Only to wake the thread's loop at the deadline; canceled when the others end first.
    let _ = crate::io::single(Timeout::new(left));
}

/// Pins the calling thread to `cpu` (Linux).
#[cfg(target_os = "linux")]
fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes within it (`cpu` was taken
    // from the thread's allowed set, below CPU_SETSIZE); sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "pinning threads to cores is implemented on Linux only"))
}

/// The CPUs the calling thread may run on, in order (Linux).
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into `set`;
    // CPU_ISSET reads it for indices below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect())
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "pinning threads to cores is implemented on Linux only"))
}
