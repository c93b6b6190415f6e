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
//! A [`Scheduler`](crate::Scheduler) keeps one pool per stack size: the size of its
//! [`Options`](crate::Options), and each size asked for with
//! [`SpawnOptions::stack_size`](crate::SpawnOptions::stack_size).
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
//! Freed stacks go back to the pool; beyond [`max_pooled_stacks`](crate::Options) of them,
//! a returned stack's pages are given back to the OS (`MADV_DONTNEED`, which keeps the
//! guard). Chunks are unmapped when the pool and every stack carved from them are gone.

use std::io;
use std::ptr;
use std::rc::Rc;

use corosensei::stack::{MIN_STACK_SIZE, Stack as CoroStack, StackPointer};

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
    /// A caller's [`Stack`]: unmapped when its task is done, never pooled.
    owned: bool,
}

// SAFETY: `base` and `limit` bound memory owned (through the `Rc<Chunk>`) by this value for
// its whole life, page-aligned (so aligned to `STACK_ALIGNMENT`); the lowest page is a guard
// page (`StackPool::take` and `Stack::new` install it before handing the stack out, the only
// ways to get one), and at least `MIN_STACK_SIZE` bytes lie above it (`usable_size` rounds the
// size up).
unsafe impl CoroStack for TaskStack {
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
    /// Usable bytes (the guard page excluded).
    fn size(&self) -> usize {
        self.base - self.limit - self.page
    }

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
        StackPool {
            page,
            size: usable_size(size, page),
            max_pooled,
            free: Vec::new(),
            outstanding: 0,
            mprotect_guards: mprotect_guards_forced(),
        }
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
            if let Err(e) = install_guard(stack.limit as *mut libc::c_void, self.page, &mut self.mprotect_guards) {
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
                owned: false,
            });
        }
        Ok(())
    }

    /// Returns a pooled stack of this pool's size whose coroutine has finished (or was never
    /// started).
    fn give_back(&mut self, stack: TaskStack) {
        debug_assert!(!stack.owned && stack.size() == self.size);
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

/// Usable bytes of a stack asked for with `size`: at least corosensei's minimum, in pages.
fn usable_size(size: usize, page: usize) -> usize {
    size.max(MIN_STACK_SIZE).next_multiple_of(page)
}

/// Whether guards must be `mprotect`ed: not Linux, or `CORIO_STACK_GUARD=mprotect`.
fn mprotect_guards_forced() -> bool {
    !cfg!(target_os = "linux") || std::env::var_os("CORIO_STACK_GUARD").is_some_and(|v| v == "mprotect")
}

/// Makes the page at `page` a guard: `MADV_GUARD_INSTALL` unless `*mprotect` (set here when
/// the kernel lacks it), else `mprotect(PROT_NONE)`. `page` must be the lowest page of a stack
/// slot that no coroutine uses.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn install_guard(page: *mut libc::c_void, page_size: usize, mprotect: &mut bool) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if !*mprotect {
        // SAFETY: `page` is the first page of a free stack's slot, which no coroutine uses;
        // turning it into a guard region affects nothing else.
        if unsafe { libc::madvise(page, page_size, MADV_GUARD_INSTALL) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
        log::debug!("MADV_GUARD_INSTALL unsupported; task stack guards fall back to mprotect");
        *mprotect = true;
    }
    // SAFETY: `page` is the first page of a free stack's slot, which no coroutine uses;
    // making it inaccessible affects nothing else.
    if unsafe { libc::mprotect(page, page_size, libc::PROT_NONE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
    /// minimum) and a guard page below them.
    pub fn new(size: usize) -> io::Result<Stack> {
        let page = page_size();
        let size = usable_size(size, page);
        let len = size + page;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let ptr = unsafe { libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, MAP_FLAGS, -1, 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let chunk = Rc::new(Chunk { ptr, len });
        install_guard(ptr, page, &mut mprotect_guards_forced())?;
        let limit = ptr as usize;
        Ok(Stack(TaskStack { _chunk: chunk, limit, base: limit + len, page, guarded: true, owned: true }))
    }

    /// Usable bytes (the guard page excluded).
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
        assert_eq!(pools.pools.iter().map(|p| p.pooled()).sum::<usize>(), 2 * STACKS_PER_CHUNK);
    }

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
