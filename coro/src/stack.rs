//! Task stacks: `mmap`'d with a guard page below each (on Windows corosensei's
//! `VirtualAlloc`'d stacks, see [below](self#windows)), and pooled so that spawning reuses
//! them.
//!
//! On Unix stacks are carved out of *regions*: one anonymous read-write mapping holds many
//! stacks (a pool's first region `STACKS_PER_CHUNK` (64), each next one twice as many, up to
//! 1,024), each with a guard page at its low end. A task that overflows its stack faults on that
//! guard page instead of writing over the next stack, and the process aborts with a message
//! ([below](self#stack-overflow)). Only the pages a task touches cost memory; the rest is
//! address space.
//!
//! # What a spawn costs
//!
//! Taking a stack is a pop from a free list: no syscall. A region's guards are installed when it
//! is mapped, all of them in one `process_madvise(MADV_GUARD_INSTALL)` (Linux 6.13+; elsewhere
//! one syscall per stack when it is first handed out). A task touches its stack's top page when
//! it first runs: one page fault per stack that was never used or was given back to the OS,
//! none for a reused one. A parked task holds that page (more if it parked deeper), so a
//! parked task's memory is at least one page plus its record; see
//! [`Options`](crate::Options) for the rest.
//!
//! That first page fault is most of a fresh spawn's cost: the kernel allocates, zeroes and
//! maps a page (measured at 2.3 to 3 µs on a virtual machine, against about 1,600 instructions
//! of user-space work for the spawn and the task's run until it parks on a timer). Populating
//! many stacks' top pages in one `process_madvise(MADV_POPULATE_WRITE)` was measured there too:
//! no cheaper per page, since the cost is the page, not the fault; hence no pre-faulting, and
//! free stacks keep their pages while the scheduler is busy (below).
//!
//! # Guard pages and the mapping limit
//!
//! Linux caps a process at `vm.max_map_count` memory mappings (65,530 by default), and a
//! `PROT_NONE` guard page splits a mapping, so classic guarded stacks cost two mappings each
//! and stop near 32,000 live tasks. On Linux 6.13 and later the guards are installed with
//! `madvise(MADV_GUARD_INSTALL)` instead, which faults like `PROT_NONE` without splitting the
//! mapping: a region of up to 1,024 stacks is one mapping, and 100,000 tasks need about 100. On older
//! kernels (and where the advice is accepted without effect, as under qemu-user, which the
//! pool checks once per process) it falls back to `mprotect` guards, with the 32,000-task
//! limit; past it, spawning fails with an `OutOfMemory` error (see
//! [`Scheduler::try_spawn`](crate::Scheduler::try_spawn)) rather than crashing. Setting the
//! environment variable `CORIO_STACK_GUARD=mprotect` forces the fallback (to test it on a new
//! kernel). Unguarded stacks are deliberately not offered: corosensei's `Stack` contract
//! requires a guard page.
//!
//! A [`Scheduler`](crate::Scheduler) keeps one pool per stack size: the size of its
//! [`Options`](crate::Options), and each size asked for with
//! [`SpawnOptions::stack_size`](crate::SpawnOptions::stack_size).
//!
//! # Stack overflow
//!
//! A task that overflows its stack ends the process as a thread that overflows its own does
//! with std: a line on stderr, then `abort` (`SIGABRT`):
//!
//! ```text
//! corio: task 17 has overflowed its stack (64 KiB); aborting
//! ```
//!
//! The task is named by its key (its index in its scheduler's task table). On Unix a
//! process-wide `SIGSEGV`/`SIGBUS` handler, installed when the first stacks are mapped,
//! recognises a fault on the guard page of a corio stack (mappings of stacks are registered as
//! they are mapped and unmapped, not per spawn) and passes every other fault on to the handler
//! it replaced (std's, which reports a thread's own overflow, or the default). It runs on the
//! thread's alternate signal stack: std sets one up for the main thread and the threads it
//! spawns, and a thread that maps task stacks without one gets one. A program that installs
//! its own `SIGSEGV` handler later, without chaining to the previous one, loses the report
//! (the process still dies of the fault). On Windows the report is std's (see
//! [below](self#windows)).
//!
//! # Caller stacks
//!
//! A caller may also allocate a [`Stack`] itself and hand it to
//! [`SpawnOptions::stack`](crate::SpawnOptions::stack) **by value**: the scheduler owns it
//! from then on and unmaps it when the task has finished (it is not pooled). Borrowed stacks
//! (`&mut [u8]`, or a `&mut Stack`) are deliberately not accepted: a task's IO ops may point
//! into its stack, and a scheduler that is forgotten (`std::mem::forget`, which safe code may
//! do) leaks its tasks with their ops still in flight. With a borrowed stack the borrow would
//! end there, and the caller could free or reuse memory the kernel still writes to. An owned
//! stack is leaked along with the scheduler instead, which is safe.
//!
//! # Free stacks
//!
//! Freed stacks go back to the pool and are reused (the last returned first), pages and all: a
//! burst of finished tasks costs no syscall, and the spawns after it take no page faults. Beyond
//! [`max_pooled_stacks`](crate::Options) of them, free stacks give their pages back to the OS
//! only when the scheduler is idle: after a kernel wait of a millisecond or more, about 64
//! stacks per millisecond waited (at most 1,024 at a time), and 64 after a pass without a wait
//! that found nothing to do (a scheduler polled with `Mode::Nonblocking`), with
//! `MADV_DONTNEED` (one
//! `process_madvise` for them all on Linux 6.13+; guards stay). A busy scheduler thus holds at
//! most the memory of its most tasks at once. Regions are unmapped when the pool and every
//! stack carved from them are gone.
//!
//! # Windows
//!
//! Windows stacks must be known to the OS: the thread's TIB holds the current stack's bounds
//! and guaranteed bytes, a stack grows by committing pages as its `PAGE_GUARD` page is
//! touched, and the stack-overflow exception needs reserved pages to run on. Each task stack
//! there is corosensei's own `DefaultStack` (its own `VirtualAlloc` reservation: the usable
//! size, the thread's stack guarantee, two guard pages and a final hard guard page, committed
//! as it grows), and corosensei switches the TIB fields with the stack. A task that overflows
//! raises `EXCEPTION_STACK_OVERFLOW`: std's handler prints "thread '…' has overflowed its
//! stack" and the process dies with `STATUS_STACK_OVERFLOW` (`0xC00000FD`), as for a thread.
//! The pool keeps the same rules, with each stack its own reservation (`STACKS_PER_CHUNK`
//! does not exist there): a returned stack beyond `max_pooled_stacks` is released
//! (`VirtualFree`, which [`Stack`] also does when its task is done) instead of kept as
//! address space, and pooled stacks keep the pages they committed.

use std::io;

use corosensei::stack::MIN_STACK_SIZE;
#[cfg(test)]
use corosensei::stack::Stack as CoroStack;

#[cfg(unix)]
mod overflow;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix::page_size;
#[cfg(unix)]
pub(crate) use unix::{RELEASE_BATCH, StackPool, TaskStack};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows::page_size;
#[cfg(windows)]
pub(crate) use windows::{StackPool, TaskStack};

/// Free stacks given back to the OS per millisecond an idle scheduler waited (Windows releases
/// them when returned).
#[cfg(windows)]
pub(crate) const RELEASE_BATCH: usize = 64;

/// The default usable size of a task stack: 64 KiB of address space (plus the guard page).
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// How many free stacks keep their memory by default.
pub const DEFAULT_MAX_POOLED: usize = 1024;

/// Stacks in a pool's first mapping; each next mapping of the pool holds twice as many, up to
/// 1,024 (Unix; on Windows each stack is its own reservation).
#[cfg(unix)]
pub const STACKS_PER_CHUNK: usize = 64;

/// Stacks a pool allocates first: the stacks of its first region on Unix, one on Windows.
#[cfg(all(test, unix))]
const CARVED: usize = STACKS_PER_CHUNK;
#[cfg(all(test, windows))]
const CARVED: usize = 1;

/// Usable bytes of a stack asked for with `size`: at least corosensei's minimum, in pages.
fn usable_size(size: usize, page: usize) -> usize {
    size.max(MIN_STACK_SIZE).next_multiple_of(page)
}

/// The stacks of one scheduler: a pool per stack size, the default size's first.
pub(crate) struct StackPools {
    pools: Vec<StackPool>,
    max_pooled: usize,
}

impl StackPools {
    /// Pools whose default stacks have `size` usable bytes.
    pub(crate) fn new(size: usize, max_pooled: usize) -> StackPools {
        StackPools { pools: vec![StackPool::new(size, max_pooled)], max_pooled }
    }

    /// A pooled stack of the default size, or of at least `size` bytes.
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<TaskStack> {
        let Some(size) = size else { return self.pools[0].take() };
        let size = usable_size(size, self.pools[0].page);
        let pool = match self.pools.iter().position(|p| p.size == size) {
            Some(i) => &mut self.pools[i],
            None => {
                self.pools.push(StackPool::new(size, self.max_pooled));
                self.pools.last_mut().expect("just pushed")
            }
        };
        pool.take()
    }

    /// Returns a stack whose coroutine has finished (or was never started): a pooled one to
    /// its pool, a caller's [`Stack`] to the OS.
    pub(crate) fn give_back(&mut self, stack: TaskStack) {
        if stack.owned {
            return;
        }
        let size = stack.size();
        match self.pools.iter_mut().find(|p| p.size == size) {
            Some(pool) => pool.give_back(stack),
            None => debug_assert!(false, "a pooled stack of {size} bytes has no pool"),
        }
    }

    /// Gives the pages of up to `at_most` free stacks beyond the warm ones back to the OS
    /// (for an idle scheduler); returns how many (on Windows always 0: such stacks are
    /// released when returned).
    pub(crate) fn trim(&mut self, at_most: usize) -> usize {
        let mut left = at_most;
        for pool in &mut self.pools {
            left -= pool.trim(left);
        }
        at_most - left
    }

    /// Free stacks beyond the warm ones that still hold their pages.
    pub(crate) fn releasable(&self) -> usize {
        self.pools.iter().map(StackPool::releasable).sum()
    }
}

impl std::fmt::Debug for StackPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.pools).finish()
    }
}

/// A guarded task stack that the caller allocates and hands over, by value, to
/// [`SpawnOptions::stack`](crate::SpawnOptions::stack).
///
/// It is its own memory mapping (usable pages plus a guard page below them) and is unmapped
/// once its task has finished. See the [module docs](self#caller-stacks) for why borrowed
/// stacks are not accepted.
///
/// ```
/// use corio_coro::{Scheduler, SpawnOptions, stack::Stack};
///
/// let scheduler = Scheduler::new()?;
/// let stack = Stack::new(256 * 1024)?;
/// let task = scheduler.spawn_with(SpawnOptions::new().stack(stack), || {
///     let big = std::hint::black_box([7u8; 96 * 1024]); // too big for the default 64 KiB
///     big[1000]
/// });
/// assert_eq!(task.join(), 7);
/// # std::io::Result::Ok(())
/// ```
pub struct Stack(pub(crate) TaskStack);

impl Stack {
    /// Maps a stack with at least `size` usable bytes (rounded up to pages and to corosensei's
    /// minimum) and a guard page below them (on Windows: corosensei's `DefaultStack`).
    pub fn new(size: usize) -> io::Result<Stack> {
        TaskStack::new_owned(usable_size(size, page_size())).map(Stack)
    }

    /// Usable bytes (the guard page excluded).
    #[must_use]
    pub fn size(&self) -> usize {
        self.0.size()
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").field("size", &self.size()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_size_has_its_pool_and_owned_stacks_are_not_pooled() {
        let mut pools = StackPools::new(DEFAULT_STACK_SIZE, 4);
        let big = pools.take(Some(1 << 20)).unwrap();
        let (base, size) = (big.base(), big.size());
        assert_eq!(size, 1 << 20);
        pools.give_back(big);
        let again = pools.take(Some(1 << 20)).unwrap();
        assert_eq!(again.base(), base, "a freed stack of that size is reused");
        pools.give_back(again);
        let default = pools.take(None).unwrap();
        assert_eq!(default.size(), DEFAULT_STACK_SIZE);
        pools.give_back(default);
        assert_eq!(pools.pools.len(), 2);
        let owned = Stack::new(100_000).unwrap();
        assert_eq!(owned.size(), 100_000usize.next_multiple_of(page_size()));
        pools.give_back(owned.0);
        assert_eq!(pools.pools.iter().map(|p| p.pooled()).sum::<usize>(), 2 * CARVED);
    }

    #[test]
    fn stacks_are_reused() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE, 4);
        let a = pool.take().unwrap();
        let base = a.base();
        assert_eq!(pool.pooled(), CARVED - 1);
        pool.give_back(a);
        assert_eq!(pool.pooled(), CARVED);
        let b = pool.take().unwrap();
        assert_eq!(b.base(), base);
        assert!(b.base().get() - b.limit().get() > DEFAULT_STACK_SIZE);
        pool.give_back(b);
    }

    /// A burst of finished tasks keeps its stacks' pages (no syscall, and the next spawns
    /// reuse them); a scheduler that then waits idle gives those beyond the warm ones back.
    #[test]
    fn an_idle_scheduler_gives_free_stacks_back() {
        let s = crate::Scheduler::with_options(crate::Options::new().max_pooled_stacks(4)).unwrap();
        let burst = |n: usize| {
            let tasks: Vec<_> = (0..n).map(|_| s.spawn(|| crate::yield_now(1u8))).collect();
            tasks.iter().for_each(crate::Task::wakeup);
            tasks.into_iter().for_each(|t| t.join().unwrap());
        };
        burst(200);
        #[cfg(unix)]
        assert_eq!(s.inner.stacks.borrow().releasable(), 196, "all but the 4 warm ones keep their pages");
        burst(100);
        #[cfg(unix)]
        assert_eq!(s.inner.stacks.borrow().releasable(), 196, "the second burst reused them");
        // A join that waits 20 ms: the scheduler is idle.
        s.spawn(|| crate::sleep(std::time::Duration::from_millis(20))).join().unwrap();
        let left = s.inner.stacks.borrow().releasable();
        assert!(left <= 1, "{left} stacks beyond the warm ones still hold their pages (the sleeper's may)");
        // A scheduler polled without blocking: each pass with nothing to do gives back 64.
        burst(200);
        #[cfg(unix)]
        {
            let before = s.inner.stacks.borrow().releasable();
            assert!(before >= 195, "{before}");
            s.tick(corio_aio::Mode::Nonblocking).unwrap();
            assert_eq!(s.inner.stacks.borrow().releasable(), before - 64, "an idle pass gives back a batch");
        }
        for _ in 0..4 {
            s.tick(corio_aio::Mode::Nonblocking).unwrap();
        }
        assert_eq!(s.inner.stacks.borrow().releasable(), 0);
    }

    /// Recurses without bound.
    fn recurse(depth: u64) -> u64 {
        let frame = std::hint::black_box([depth; 64]);
        if std::hint::black_box(depth) == u64::MAX {
            return 0;
        }
        recurse(depth + 1) + frame[(depth % 64) as usize]
    }

    /// The child process of the overflow tests: what it does depends on
    /// `CORIO_STACK_OVERFLOW_CHILD`. `1`: a task recurses without bound on a default stack.
    /// `nested`: a task spawns a second one, on a caller's 256 KiB stack, which overflows.
    /// `thread`: after a task ran (the handler is installed), the thread itself overflows.
    /// `wild`: after a task ran, the thread writes to an unmapped address. `no-altstack`: a
    /// thread whose alternate signal stack was disabled runs the task of `1`.
    /// `mapping-limit`: takes stacks until the memory-mapping limit (and returns).
    #[test]
    fn overflow_child() {
        let Some(mode) = std::env::var_os("CORIO_STACK_OVERFLOW_CHILD") else { return };
        let scheduler = || crate::Scheduler::new().unwrap();
        match mode.to_str().unwrap() {
            "1" => {
                scheduler().spawn(|| recurse(0)).join();
            }
            "nested" => {
                scheduler()
                    .spawn(|| {
                        let stack = Stack::new(256 * 1024).unwrap();
                        crate::spawn_with(crate::SpawnOptions::new().stack(stack), || recurse(0)).join()
                    })
                    .join();
            }
            "named" => {
                let options = crate::SpawnOptions::new().name("deep-recursion");
                scheduler().spawn_with(options, || recurse(0)).join();
            }
            "thread" => {
                scheduler().spawn(|| ()).join();
                recurse(0);
            }
            #[cfg(unix)]
            "wild" => {
                scheduler().spawn(|| ()).join();
                // SAFETY: none: the write is meant to fault (page 0 is never mapped).
                unsafe { std::ptr::write_volatile(std::hint::black_box(16usize) as *mut u8, 1) };
            }
            #[cfg(unix)]
            "no-altstack" => {
                std::thread::spawn(move || {
                    let disable = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
                    // SAFETY: disables this thread's alternate signal stack, which nothing is
                    // running on; std's memory for it stays mapped until the thread exits.
                    assert_eq!(unsafe { libc::sigaltstack(&disable, std::ptr::null_mut()) }, 0);
                    scheduler().spawn(|| recurse(0)).join();
                })
                .join()
                .unwrap();
            }
            // A task on a stack of the third region (guarded with its region, not one by one).
            #[cfg(unix)]
            "region" => {
                let s = scheduler();
                let parked: Vec<_> = (0..STACKS_PER_CHUNK * 3 + 5).map(|_| s.spawn(|| crate::yield_now(1u8))).collect();
                s.spawn(|| recurse(0)).join();
                drop(parked);
            }
            // A task on the warm stack a finished task left (with its pages).
            #[cfg(unix)]
            "reused" => {
                let s = scheduler();
                s.spawn(|| std::hint::black_box([1u8; 8192])[100]).join();
                s.spawn(|| recurse(0)).join();
            }
            // A task on a stack whose pages were given back to the OS in a batch.
            #[cfg(unix)]
            "released" => {
                let options = crate::Options { max_pooled_stacks: 0, ..crate::Options::default() };
                let s = crate::Scheduler::with_options(options).unwrap();
                let tasks: Vec<_> = (0..STACKS_PER_CHUNK * 3).map(|_| s.spawn(|| crate::yield_now(1u8))).collect();
                tasks.iter().for_each(crate::Task::wakeup);
                tasks.into_iter().for_each(|t| t.join().unwrap());
                assert_eq!(s.inner.stacks.borrow_mut().trim(usize::MAX), STACKS_PER_CHUNK * 3);
                s.spawn(|| recurse(0)).join();
            }
            #[cfg(unix)]
            "mapping-limit" => {
                let mut pool = StackPool::new(DEFAULT_STACK_SIZE, 4);
                let mut stacks = Vec::new();
                let err = loop {
                    match pool.take() {
                        Ok(stack) => stacks.push(stack),
                        Err(e) => break e,
                    }
                };
                assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{err}");
                assert!(err.to_string().contains("vm.max_map_count"), "{err}");
                stacks.into_iter().for_each(|s| pool.give_back(s));
                return;
            }
            mode => panic!("unknown child mode {mode}"),
        }
        unreachable!("the child of mode {mode:?} did not die");
    }

    /// The child of the overflow tests, run through the test runner if any (an emulator such
    /// as qemu-user), in `mode` (see `overflow_child`) with these environment variables.
    fn overflow_child_output(mode: &str, envs: &[(&str, &str)]) -> std::process::Output {
        let exe = std::env::current_exe().unwrap();
        let runner = std::env::var("CORIO_TEST_RUNNER").unwrap_or_default();
        let mut words = runner.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = std::process::Command::new(program);
                c.args(words).arg(&exe);
                c
            }
            None => std::process::Command::new(&exe),
        };
        command
            .args(["--exact", "stack::tests::overflow_child", "--nocapture", "--test-threads=1"])
            .env("CORIO_STACK_OVERFLOW_CHILD", mode)
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs the child in `mode` and checks that it died of `signal` with `message` on stderr
    /// (or, for `None`, without corio's report); returns its stderr.
    #[cfg(unix)]
    fn child_dies(mode: &str, envs: &[(&str, &str)], signal: libc::c_int, message: Option<&str>) -> String {
        use std::os::unix::process::ExitStatusExt;
        let output = overflow_child_output(mode, envs);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.signal(), Some(signal), "child {mode} {envs:?} died of {:?}: {stderr}", output.status);
        match message {
            Some(message) => assert!(stderr.contains(message), "child {mode} {envs:?}: {stderr}"),
            None => assert!(!stderr.contains("corio:"), "child {mode} {envs:?}: {stderr}"),
        }
        stderr.into_owned()
    }

    /// A task that overflows its stack faults on the guard page (with either kind of guard),
    /// and the process aborts naming the task and its stack size.
    #[test]
    #[cfg(unix)]
    fn overflow_hits_the_guard_page() {
        for guard in ["madvise", "mprotect"] {
            let message = "corio: task 0 has overflowed its stack (64 KiB); aborting";
            child_dies("1", &[("CORIO_STACK_GUARD", guard)], libc::SIGABRT, Some(message));
        }
        let message = "corio: task 1 has overflowed its stack (256 KiB); aborting";
        child_dies("nested", &[], libc::SIGABRT, Some(message));
        let stderr = child_dies("named", &[], libc::SIGABRT, Some("corio: task 'deep-recursion' (id "));
        assert!(stderr.contains(") has overflowed its stack (64 KiB); aborting"), "{stderr}");
    }

    /// Stacks carved from later, larger regions, stacks reused warm and stacks given back to
    /// the OS and reused keep their guards, and the report names their task.
    #[test]
    #[cfg(unix)]
    fn overflow_is_reported_on_region_and_released_stacks() {
        for guard in ["madvise", "mprotect"] {
            let message =
                format!("corio: task {} has overflowed its stack (64 KiB); aborting", STACKS_PER_CHUNK * 3 + 5);
            child_dies("region", &[("CORIO_STACK_GUARD", guard)], libc::SIGABRT, Some(&message));
            // (The key is one the finished tasks freed.)
            let message = "has overflowed its stack (64 KiB); aborting";
            child_dies("released", &[("CORIO_STACK_GUARD", guard)], libc::SIGABRT, Some(message));
            child_dies("reused", &[("CORIO_STACK_GUARD", guard)], libc::SIGABRT, Some(message));
        }
    }

    /// With `mprotect` guards (two mappings per stack) the pool stops at the mapping limit with
    /// an `OutOfMemory` error that names it, whether the region's `mmap` or a guard's `mprotect`
    /// hit it. In a child process: the limit is the process's.
    #[test]
    #[cfg(unix)]
    fn the_mapping_limit_is_an_out_of_memory_error() {
        let output = overflow_child_output("mapping-limit", &[("CORIO_STACK_GUARD", "mprotect")]);
        assert!(output.status.success(), "{:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    }

    /// A thread without an alternate signal stack gets one when it maps task stacks: the
    /// handler cannot run on the stack that overflowed.
    #[test]
    #[cfg(unix)]
    fn overflow_is_reported_on_a_thread_without_an_alternate_stack() {
        let message = "corio: task 0 has overflowed its stack (64 KiB); aborting";
        child_dies("no-altstack", &[], libc::SIGABRT, Some(message));
    }

    /// Faults that are not on a task's guard page go to the handler corio's replaced: std's
    /// report of the thread's own overflow, and a plain segfault for a wild write.
    #[test]
    #[cfg(unix)]
    fn other_faults_reach_the_previous_handler() {
        let stderr = child_dies("thread", &[], libc::SIGABRT, None);
        assert!(stderr.contains("thread '") && stderr.contains("has overflowed its stack"), "{stderr}");
        child_dies("wild", &[], libc::SIGSEGV, None);
    }

    /// Windows reports the overflow of a task's stack as that of a thread's: std's handler
    /// names the thread, the process ends with `STATUS_STACK_OVERFLOW`.
    #[test]
    #[cfg(windows)]
    fn overflow_hits_the_guard_page() {
        const STATUS_STACK_OVERFLOW: u32 = 0xC000_00FD;
        let output = overflow_child_output("1", &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code().map(|c| c as u32),
            Some(STATUS_STACK_OVERFLOW),
            "the child died of a stack overflow, not {:?}: {stderr}",
            output.status
        );
        assert!(stderr.contains("has overflowed its stack"), "{stderr}");
    }
}
