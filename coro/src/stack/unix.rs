//! Unix stacks: chunks of [`STACKS_PER_CHUNK`] stacks in one anonymous mapping, each with a
//! guard page below it (see the [parent module](super) for the guard kinds and the limits).

use std::io;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};

use corosensei::stack::{Stack as CoroStack, StackPointer};

use super::overflow::{self, Registration};
use super::{STACKS_PER_CHUNK, usable_size};

/// `madvise` advice installing lightweight guard regions (Linux 6.13+; not yet in `libc`).
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Flags of a chunk mapping.
#[cfg(target_os = "linux")]
const MAP_FLAGS: libc::c_int = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK;
#[cfg(not(target_os = "linux"))]
const MAP_FLAGS: libc::c_int = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;

pub(super) fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// One mapping holding several stacks, registered for [overflow reports](overflow).
struct Chunk {
    ptr: *mut libc::c_void,
    len: usize,
    registration: Option<Registration>,
}

impl Chunk {
    /// A chunk of the mapping `ptr`/`len`, holding stacks of `slot` bytes (a guard page of
    /// `page` bytes and the usable pages).
    fn new(ptr: *mut libc::c_void, len: usize, slot: usize, page: usize) -> Chunk {
        Chunk { ptr, len, registration: overflow::register(ptr as usize, len, slot, page) }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // Unregistered first: the address range may be mapped again by anyone.
        drop(self.registration.take());
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
    /// A caller's [`Stack`](super::Stack): unmapped when its task is done, never pooled.
    pub(super) owned: bool,
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
    pub(super) fn size(&self) -> usize {
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
    pub(super) page: usize,
    /// Usable bytes per stack (page multiple).
    pub(super) size: usize,
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
        // Both mapping a chunk and an `mprotect` guard (which splits a mapping) fail with
        // ENOMEM at the mapping limit.
        let out_of_mappings = |e: io::Error, outstanding: usize| {
            if e.raw_os_error() == Some(libc::ENOMEM) {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("cannot map task stacks ({e}) with {outstanding} stacks in use (see vm.max_map_count)"),
                )
            } else {
                e
            }
        };
        if self.free.is_empty() {
            self.carve().map_err(|e| out_of_mappings(e, self.outstanding))?;
        }
        let mut stack = self.free.pop().expect("carve added stacks");
        if !stack.guarded {
            // Installed lazily: a spawn costs one guard syscall, not a whole chunk's worth.
            if let Err(e) = install_guard(stack.limit as *mut libc::c_void, self.page, &mut self.mprotect_guards) {
                self.free.push(stack);
                return Err(out_of_mappings(e, self.outstanding));
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
        let chunk = Rc::new(Chunk::new(ptr, len, slot, self.page));
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
    pub(super) fn give_back(&mut self, stack: TaskStack) {
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

/// Whether guards must be `mprotect`ed: not Linux, `CORIO_STACK_GUARD=mprotect`, or
/// `MADV_GUARD_INSTALL` was found not to work in this process.
fn mprotect_guards_forced() -> bool {
    !cfg!(target_os = "linux")
        || std::env::var_os("CORIO_STACK_GUARD").is_some_and(|v| v == "mprotect")
        || MADVISE_GUARDS.load(Ordering::Relaxed) == GUARDS_BROKEN
}

/// What this process found out about `MADV_GUARD_INSTALL`: not tried yet, it works, or it is
/// unsupported or a no-op.
static MADVISE_GUARDS: AtomicU8 = AtomicU8::new(GUARDS_UNKNOWN);
const GUARDS_UNKNOWN: u8 = 0;
#[cfg(target_os = "linux")]
const GUARDS_WORK: u8 = 1;
const GUARDS_BROKEN: u8 = 2;

/// Whether the guard region just installed at `page` is real (checked once per process). An
/// emulator may accept the advice without doing anything: qemu-user (7.2 at least) returns
/// success for every `madvise` advice it does not know, and the stack would have no guard.
/// The kernel fails a syscall that reads a guard region with `EFAULT`; a path argument there
/// is the cheapest such read (without a guard it is an empty path: `ENOENT`).
#[cfg(target_os = "linux")]
fn guard_region_works(page: *mut libc::c_void) -> bool {
    match MADVISE_GUARDS.load(Ordering::Relaxed) {
        GUARDS_WORK => return true,
        GUARDS_BROKEN => return false,
        _ => {}
    }
    // SAFETY: `access` only reads the path; a fault on the guard page makes it fail with
    // EFAULT rather than signal, and without a guard the page is zeroed memory of ours.
    let ret = unsafe { libc::access(page.cast(), libc::F_OK) };
    let works = ret != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT);
    MADVISE_GUARDS.store(if works { GUARDS_WORK } else { GUARDS_BROKEN }, Ordering::Relaxed);
    works
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
            if guard_region_works(page) {
                return Ok(());
            }
            log::debug!("MADV_GUARD_INSTALL installs no guard (an emulator?); task stack guards fall back to mprotect");
        } else {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
            log::debug!("MADV_GUARD_INSTALL unsupported; task stack guards fall back to mprotect");
            MADVISE_GUARDS.store(GUARDS_BROKEN, Ordering::Relaxed);
        }
        *mprotect = true;
    }
    // SAFETY: `page` is the first page of a free stack's slot, which no coroutine uses;
    // making it inaccessible affects nothing else.
    if unsafe { libc::mprotect(page, page_size, libc::PROT_NONE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl TaskStack {
    /// A caller's stack ([`Stack::new`](super::Stack::new)): its own mapping of `size` usable
    /// bytes (a page multiple, at least corosensei's minimum) and a guard page below them.
    pub(super) fn new_owned(size: usize) -> io::Result<TaskStack> {
        let page = page_size();
        let len = size + page;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let ptr = unsafe { libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, MAP_FLAGS, -1, 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let chunk = Rc::new(Chunk::new(ptr, len, len, page));
        install_guard(ptr, page, &mut mprotect_guards_forced())?;
        let limit = ptr as usize;
        Ok(TaskStack { _chunk: chunk, limit, base: limit + len, page, guarded: true, owned: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::DEFAULT_STACK_SIZE;

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
        if std::env::var("CORIO_TEST_RUNNER").is_ok_and(|r| r.contains("qemu")) {
            // qemu-user accepts MADV_GUARD_INSTALL without installing anything (the pool then
            // finds out and uses mprotect guards): the host kernel's version says nothing here.
            eprintln!("skipped under qemu-user: it does not implement MADV_GUARD_INSTALL");
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
}
