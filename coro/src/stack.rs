//! Task stacks: `mmap`'d with a guard page, and pooled so that spawning reuses them.
//!
//! Every stack is a [`corosensei::stack::DefaultStack`]: an anonymous mapping whose lowest page
//! is `PROT_NONE`, so a task that overflows its stack faults on the guard page (the process
//! dies of `SIGSEGV`) instead of writing over other memory. Only the pages a task touches cost
//! memory; the rest is address space.
//!
//! # Limits
//!
//! A guarded stack costs two kernel memory mappings (the guard splits the mapping), and Linux
//! caps a process at `vm.max_map_count` mappings (65,530 by default). So about 32,000 tasks can
//! be alive at once on a default system. Past that, spawning fails with an `OutOfMemory` error
//! (see [`Scheduler::try_spawn`](crate::Scheduler::try_spawn)) rather than crashing. Raising
//! `vm.max_map_count` raises the limit. Unguarded stacks are deliberately not offered:
//! corosensei's `Stack` contract requires a guard page for memory safety.
//!
//! Freed stacks go back to the pool (up to a bound) and are handed to the next spawn; a
//! reused stack keeps the pages its previous task touched.

use std::io;

use corosensei::stack::DefaultStack;

/// The default usable size of a task stack: 64 KiB of address space (plus the guard page).
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// How many free stacks a pool keeps by default.
pub const DEFAULT_MAX_POOLED: usize = 1024;

/// A stack of a task.
pub(crate) type TaskStack = DefaultStack;

/// A pool of same-sized guarded stacks.
pub(crate) struct StackPool {
    size: usize,
    max_pooled: usize,
    free: Vec<TaskStack>,
    /// Stacks handed out and not yet returned.
    outstanding: usize,
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPool")
            .field("size", &self.size)
            .field("pooled", &self.free.len())
            .field("outstanding", &self.outstanding)
            .finish()
    }
}

impl StackPool {
    /// A pool of stacks with `size` usable bytes each (at least corosensei's minimum).
    pub(crate) fn new(size: usize, max_pooled: usize) -> StackPool {
        StackPool { size: size.max(corosensei::stack::MIN_STACK_SIZE), max_pooled, free: Vec::new(), outstanding: 0 }
    }

    /// A stack from the pool, or a new one.
    pub(crate) fn take(&mut self) -> io::Result<TaskStack> {
        let stack = match self.free.pop() {
            Some(stack) => stack,
            None => DefaultStack::new(self.size).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOMEM) {
                    io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        format!(
                            "cannot map a task stack ({e}) with {} stacks in use: each guarded stack \
                             costs two memory mappings, see vm.max_map_count",
                            self.outstanding
                        ),
                    )
                } else {
                    e
                }
            })?,
        };
        self.outstanding += 1;
        Ok(stack)
    }

    /// Returns a stack whose coroutine has finished (or was never started).
    pub(crate) fn give_back(&mut self, stack: TaskStack) {
        self.outstanding -= 1;
        if self.free.len() < self.max_pooled {
            self.free.push(stack);
        }
    }

    /// Stacks currently free in the pool.
    #[cfg(test)]
    pub(crate) fn pooled(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corosensei::stack::Stack;

    #[test]
    fn stacks_are_reused() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE, 4);
        let a = pool.take().unwrap();
        let base = a.base();
        pool.give_back(a);
        assert_eq!(pool.pooled(), 1);
        let b = pool.take().unwrap();
        assert_eq!(b.base(), base);
        assert!(b.base().get() - b.limit().get() > DEFAULT_STACK_SIZE);
        pool.give_back(b);
    }

    /// Recurses without bound on a task stack (in the child process of `overflow_hits_the_guard_page`).
    #[test]
    fn overflow_child() {
        if std::env::var_os("CORIO_STACK_OVERFLOW_CHILD").is_none() {
            return;
        }
        fn recurse(depth: u64) -> u64 {
            let frame = std::hint::black_box([depth; 64]);
            if std::hint::black_box(depth) == u64::MAX {
                return 0;
            }
            recurse(depth + 1) + frame[(depth % 64) as usize]
        }
        let scheduler = crate::Scheduler::new().unwrap();
        scheduler.spawn(|| recurse(0)).join();
        unreachable!("an unbounded recursion returned");
    }

    #[test]
    fn overflow_hits_the_guard_page() {
        use std::os::unix::process::ExitStatusExt;
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "stack::tests::overflow_child", "--nocapture", "--test-threads=1"])
            .env("CORIO_STACK_OVERFLOW_CHILD", "1")
            .output()
            .unwrap();
        let signal = output.status.signal();
        assert!(
            signal == Some(libc::SIGSEGV) || signal == Some(libc::SIGBUS),
            "the child died of a fault, not {:?}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
