//! Task stacks: `mmap`'d with a guard page below each, and pooled so that spawning reuses
//! them.
//!
//! Stacks are carved out of *chunks*: one anonymous read-write mapping holds
//! [`STACKS_PER_CHUNK`] stacks, each with a guard page at its low end. A task that overflows
//! its stack faults on that guard page (the process dies of `SIGSEGV`) instead of writing
//! over the next stack. Only the pages a task touches cost memory; the rest is address space.
//!
//! # Guard pages and the mapping limit
//!
//! Linux caps a process at `vm.max_map_count` memory mappings (65,530 by default), and a
//! `PROT_NONE` guard page splits a mapping, so classic guarded stacks cost two mappings each
//! and stop near 32,000 live tasks. On Linux 6.13 and later the guards are installed with
//! `madvise(MADV_GUARD_INSTALL)` instead, which faults like `PROT_NONE` without splitting the
//! mapping: a chunk of 64 stacks is one mapping, and 100,000 tasks need about 1,600. On older
//! kernels the pool falls back to `mprotect` guards, with the 32,000-task limit; past it,
//! spawning fails with an `OutOfMemory` error (see
//! [`Scheduler::try_spawn`](crate::Scheduler::try_spawn)) rather than crashing. Setting the
//! environment variable `CORIO_STACK_GUARD=mprotect` forces the fallback (to test it on a new
//! kernel). Unguarded
//! stacks are deliberately not offered: corosensei's `Stack` contract requires a guard page.
//!
//! Freed stacks go back to the pool; beyond [`max_pooled_stacks`](crate::Options) of them,
//! a returned stack's pages are given back to the OS (`MADV_DONTNEED`, which keeps the
//! guard). Chunks are unmapped when the pool and every stack carved from them are gone.

use std::io;
use std::ptr;
use std::rc::Rc;

use corosensei::stack::{MIN_STACK_SIZE, Stack, StackPointer};

/// The default usable size of a task stack: 64 KiB of address space (plus the guard page).
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// How many free stacks keep their memory by default.
pub const DEFAULT_MAX_POOLED: usize = 1024;

/// Stacks per mapping.
pub const STACKS_PER_CHUNK: usize = 64;

/// `madvise` advice installing lightweight guard regions (Linux 6.13+; not yet in `libc`).
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Flags of a chunk mapping.
#[cfg(target_os = "linux")]
const MAP_FLAGS: libc::c_int = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK;
#[cfg(not(target_os = "linux"))]
const MAP_FLAGS: libc::c_int = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;

fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// One mapping holding several stacks.
struct Chunk {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is a mapping this chunk created; every stack carved from it holds
        // an `Rc` of the chunk, so none is in use any more.
        let ret = unsafe { libc::munmap(self.ptr, self.len) };
        debug_assert_eq!(ret, 0);
    }
}

/// A task stack: a slice of a chunk, with a guard page at its low end.
pub(crate) struct TaskStack {
    _chunk: Rc<Chunk>,
    /// Lowest address, the guard page included.
    limit: usize,
    /// Highest address (exclusive): where the stack starts.
    base: usize,
    page: usize,
    /// Whether the guard page is installed (done when the stack is first handed out).
    guarded: bool,
}

// SAFETY: `base` and `limit` bound memory owned (through the `Rc<Chunk>`) by this value for
// its whole life, page-aligned (so aligned to `STACK_ALIGNMENT`); the lowest page is a guard
// page (`StackPool::take` installs it before handing the stack out, the only way to get one), and
// at least `MIN_STACK_SIZE` bytes lie above it (`StackPool::new` rounds the size up).
unsafe impl Stack for TaskStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("a mapped address is not null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("a mapped address is not null")
    }
}

impl TaskStack {
    /// Gives the usable pages back to the OS; they read as zeros when touched again. The
    /// guard stays (guard regions survive `MADV_DONTNEED`; `mprotect` guards are not touched).
    fn release_memory(&self) {
        let usable = self.limit + self.page;
        // SAFETY: the range is this stack's usable part, which no coroutine runs on (the
        // stack is in the free pool); dropping its contents is what we want.
        unsafe { libc::madvise(usable as *mut libc::c_void, self.base - usable, libc::MADV_DONTNEED) };
    }
}

/// A pool of same-sized guarded stacks.
pub(crate) struct StackPool {
    page: usize,
    /// Usable bytes per stack (page multiple).
    size: usize,
    max_pooled: usize,
    free: Vec<TaskStack>,
    /// Stacks handed out and not yet returned.
    outstanding: usize,
    /// Whether `MADV_GUARD_INSTALL` is unavailable (use `mprotect`).
    mprotect_guards: bool,
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPool")
            .field("size", &self.size)
            .field("pooled", &self.free.len())
            .field("outstanding", &self.outstanding)
            .field("guards", &if self.mprotect_guards { "mprotect" } else { "madvise" })
            .finish()
    }
}

impl StackPool {
    /// A pool of stacks with at least `size` usable bytes each (and corosensei's minimum).
    pub(crate) fn new(size: usize, max_pooled: usize) -> StackPool {
        let page = page_size();
        let size = size.max(MIN_STACK_SIZE).next_multiple_of(page);
        let mprotect_guards =
            !cfg!(target_os = "linux") || std::env::var_os("CORIO_STACK_GUARD").is_some_and(|v| v == "mprotect");
        StackPool { page, size, max_pooled, free: Vec::new(), outstanding: 0, mprotect_guards }
    }

    /// A stack from the pool, or from a new chunk.
    pub(crate) fn take(&mut self) -> io::Result<TaskStack> {
        if self.free.is_empty() {
            self.carve().map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOMEM) {
                    io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        format!(
                            "cannot map task stacks ({e}) with {} stacks in use (see vm.max_map_count)",
                            self.outstanding
                        ),
                    )
                } else {
                    e
                }
            })?;
        }
        let mut stack = self.free.pop().expect("carve added stacks");
        if !stack.guarded {
            // Installed lazily: a spawn costs one guard syscall, not a whole chunk's worth.
            if let Err(e) = self.install_guard(stack.limit as *mut libc::c_void) {
                self.free.push(stack);
                return Err(e);
            }
            stack.guarded = true;
        }
        self.outstanding += 1;
        Ok(stack)
    }

    /// Maps a new chunk and adds its (not yet guarded) stacks to the free list.
    fn carve(&mut self) -> io::Result<()> {
        let slot = self.size + self.page;
        let len = slot * STACKS_PER_CHUNK;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let ptr = unsafe { libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, MAP_FLAGS, -1, 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let chunk = Rc::new(Chunk { ptr, len });
        for i in (0..STACKS_PER_CHUNK).rev() {
            let limit = ptr as usize + i * slot;
            self.free.push(TaskStack {
                _chunk: chunk.clone(),
                limit,
                base: limit + slot,
                page: self.page,
                guarded: false,
            });
        }
        Ok(())
    }

    fn install_guard(&mut self, page: *mut libc::c_void) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if !self.mprotect_guards {
            // SAFETY: `page` is the first page of a free stack's slot, which no coroutine uses;
            // turning it into a guard region affects nothing else.
            if unsafe { libc::madvise(page, self.page, MADV_GUARD_INSTALL) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
            log::debug!("MADV_GUARD_INSTALL unsupported; task stack guards fall back to mprotect");
            self.mprotect_guards = true;
        }
        // SAFETY: `page` is the first page of a free stack's slot, which no coroutine uses;
        // making it inaccessible affects nothing else.
        if unsafe { libc::mprotect(page, self.page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Returns a stack whose coroutine has finished (or was never started).
    pub(crate) fn give_back(&mut self, stack: TaskStack) {
        self.outstanding -= 1;
        if self.free.len() >= self.max_pooled {
            stack.release_memory();
        }
        self.free.push(stack);
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

    #[test]
    fn stacks_are_reused() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE, 4);
        let a = pool.take().unwrap();
        let base = a.base();
        assert_eq!(pool.pooled(), STACKS_PER_CHUNK - 1);
        pool.give_back(a);
        assert_eq!(pool.pooled(), STACKS_PER_CHUNK);
        let b = pool.take().unwrap();
        assert_eq!(b.base(), base);
        assert!(b.base().get() - b.limit().get() > DEFAULT_STACK_SIZE);
        pool.give_back(b);
    }

    /// On Linux 6.13+ guards are `MADV_GUARD_INSTALL` regions: hundreds of stacks add only a
    /// few mappings.
    #[test]
    fn lightweight_guards_do_not_split_mappings() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < (6, 13) || std::env::var_os("CORIO_STACK_GUARD").is_some() {
            return;
        }
        let maps = || std::fs::read_to_string("/proc/self/maps").unwrap().lines().count();
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE, 4);
        let before = maps();
        let stacks: Vec<_> = (0..4 * STACKS_PER_CHUNK).map(|_| pool.take().unwrap()).collect();
        assert!(!pool.mprotect_guards);
        // Other test threads may map a little meanwhile; 256 mprotect guards would add 256+.
        assert!(maps() < before + 64, "{before} -> {} mappings", maps());
        stacks.into_iter().for_each(|s| pool.give_back(s));
    }

    /// The `mprotect` fallback puts a `PROT_NONE` mapping at each handed-out stack's limit.
    #[test]
    fn mprotect_guards_are_protected_pages() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE, 4);
        pool.mprotect_guards = true;
        let stack = pool.take().unwrap();
        let limit = stack.limit().get();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let guard = maps.lines().find(|line| {
            let start = line.split('-').next().unwrap();
            usize::from_str_radix(start, 16).unwrap() == limit
        });
        let guard = guard.expect("a mapping starts at the guard page");
        assert!(guard.split_whitespace().nth(1).unwrap().starts_with("---p"), "{guard}");
        pool.give_back(stack);
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
        for guard in ["madvise", "mprotect"] {
            // Under an emulator (qemu-user) the child must go through the same runner.
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
            let output = command
                .args(["--exact", "stack::tests::overflow_child", "--nocapture", "--test-threads=1"])
                .env("CORIO_STACK_OVERFLOW_CHILD", "1")
                .env("CORIO_STACK_GUARD", guard)
                .output()
                .unwrap();
            let signal = output.status.signal();
            assert!(
                signal == Some(libc::SIGSEGV) || signal == Some(libc::SIGBUS),
                "with {guard} guards the child died of a fault, not {:?}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
