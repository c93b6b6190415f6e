//! Unix stacks: regions of stacks in one anonymous mapping each (the first of a pool holds
//! [`STACKS_PER_CHUNK`] stacks, each next one twice as many, up to [`MAX_STACKS_PER_REGION`]),
//! each stack with a guard page below it (see the [parent module](super) for the guard kinds
//! and the limits).
//!
//! A spawn takes a stack from a free list without a syscall: a region's guards are installed
//! when it is mapped, all in one `process_madvise` call where the kernel takes
//! `MADV_GUARD_INSTALL` through it (Linux 6.13+), else one `madvise` per stack when it is first
//! by one). Returned stacks beyond the pool's warm ones keep their pages until the scheduler
//! is idle ([`StackPool::trim`]), so that a burst of finished tasks costs no syscall and the
//! next spawns reuse pages already faulted in; then they are given back to the OS in batches
//! of up to [`RELEASE_BATCH`]: neighbours merged into one range, all ranges in one
//! `process_madvise(MADV_DONTNEED)` (else one `madvise` per range).

use std::collections::VecDeque;
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

/// Stacks in the largest region a pool maps: regions double from [`STACKS_PER_CHUNK`] up to
/// this (1024 stacks of 64 KiB are 68 MiB of address space, and 1024 is the most `iovec`s one
/// `process_madvise` takes).
pub(super) const MAX_STACKS_PER_REGION: usize = 1024;

/// Returned stacks (beyond the warm ones) whose pages are given back to the OS together, at
/// most, by one [`StackPool::trim`].
pub(crate) const RELEASE_BATCH: usize = 64;

/// Flags of a region mapping.
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
struct Region {
    ptr: *mut libc::c_void,
    len: usize,
    registration: Option<Registration>,
}

impl Region {
    /// A region of the mapping `ptr`/`len`, holding stacks of `slot` bytes (a guard page of
    /// `page` bytes and the usable pages).
    fn new(ptr: *mut libc::c_void, len: usize, slot: usize, page: usize) -> Region {
        Region { ptr, len, registration: overflow::register(ptr as usize, len, slot, page) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // Unregistered first: the address range may be mapped again by anyone.
        drop(self.registration.take());
        // SAFETY: `ptr`/`len` is a mapping this region created; every stack carved from it
        // holds an `Rc` of the region, so none is in use any more.
        let ret = unsafe { libc::munmap(self.ptr, self.len) };
        debug_assert_eq!(ret, 0);
    }
}

/// A task stack: a slice of a region, with a guard page at its low end.
pub(crate) struct TaskStack {
    _region: Rc<Region>,
    /// Lowest address, the guard page included.
    limit: usize,
    /// Highest address (exclusive): where the stack starts.
    base: usize,
    page: usize,
    /// Whether the guard page is installed (at the latest when the stack is handed out).
    guarded: bool,
    /// A caller's [`Stack`](super::Stack): unmapped when its task is done, never pooled.
    pub(super) owned: bool,
}

// SAFETY: `base` and `limit` bound memory owned (through the `Rc<Region>`) by this value for
// its whole life, page-aligned (so aligned to `STACK_ALIGNMENT`); the lowest page is a guard
// page (`StackPool::take` and `Stack::new` install it, or check that it is installed, before
// handing the stack out, the only ways to get one), and at least `MIN_STACK_SIZE` bytes lie
// above it (`usable_size` rounds the size up).
unsafe impl CoroStack for TaskStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("a mapped address is not null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("a mapped address is not null")
    }
}

impl TaskStack {
    /// Usable bytes (the guard page excluded).
    pub(super) fn size(&self) -> usize {
        self.base - self.limit - self.page
    }
}

/// A pool of same-sized guarded stacks.
pub(crate) struct StackPool {
    pub(super) page: usize,
    /// Usable bytes per stack (page multiple).
    pub(super) size: usize,
    max_pooled: usize,
    /// Free stacks that may hold memory (at most `max_pooled`); the last returned is reused
    /// first, its pages likely still in the caches.
    warm: Vec<TaskStack>,
    /// Free stacks returned beyond `warm`, still holding their pages until [`trim`](Self::trim)
    /// gives them back (reused before that if asked for, the last returned first). There are
    /// never more of them than the most stacks outstanding at once, so the memory they hold
    /// never exceeds the pool's peak.
    releasing: VecDeque<TaskStack>,
    /// Free stacks that hold no memory: never used, or released; lowest address last.
    cold: Vec<TaskStack>,
    /// Stacks handed out and not yet returned.
    outstanding: usize,
    /// Stacks in the next region mapped.
    next_region: usize,
    /// Whether `MADV_GUARD_INSTALL` is unavailable (use `mprotect`).
    mprotect_guards: bool,
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPool")
            .field("size", &self.size)
            .field("pooled", &self.pooled())
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
            warm: Vec::new(),
            releasing: VecDeque::new(),
            cold: Vec::new(),
            outstanding: 0,
            next_region: STACKS_PER_CHUNK,
            mprotect_guards: mprotect_guards_forced(),
        }
    }

    /// A stack from the pool (one that may still hold memory first), or from a new region.
    #[inline]
    pub(crate) fn take(&mut self) -> io::Result<TaskStack> {
        let stack = match self.warm.pop().or_else(|| self.releasing.pop_back()) {
            Some(stack) => stack,
            None => self.take_cold()?,
        };
        self.outstanding += 1;
        Ok(stack)
    }

    /// A stack that holds no memory, from the free list or a new region; guarded.
    fn take_cold(&mut self) -> io::Result<TaskStack> {
        // Both mapping a region and an `mprotect` guard (which splits a mapping) fail with
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
        if self.cold.is_empty() {
            self.carve().map_err(|e| out_of_mappings(e, self.outstanding))?;
        }
        let mut stack = self.cold.pop().expect("carve added stacks");
        if !stack.guarded {
            // Installed lazily where they cannot be installed for a whole region at once.
            if let Err(e) = install_guard(stack.limit as *mut libc::c_void, self.page, &mut self.mprotect_guards) {
                self.cold.push(stack);
                return Err(out_of_mappings(e, self.outstanding));
            }
            stack.guarded = true;
        }
        Ok(stack)
    }

    /// Maps a new region and adds its stacks to the cold list, guarded if that can be done for
    /// all of them at once.
    #[cold]
    fn carve(&mut self) -> io::Result<()> {
        let count = self.next_region;
        let slot = self.size + self.page;
        let len = slot * count;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let ptr = unsafe { libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, MAP_FLAGS, -1, 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.next_region = (count * 2).min(MAX_STACKS_PER_REGION);
        let region = Rc::new(Region::new(ptr, len, slot, self.page));
        let first = self.cold.len();
        // Lowest address last: handed out first.
        self.cold.extend((0..count).rev().map(|i| {
            let limit = ptr as usize + i * slot;
            TaskStack {
                _region: region.clone(),
                limit,
                base: limit + slot,
                page: self.page,
                guarded: false,
                owned: false,
            }
        }));
        self.guard_region(first);
        Ok(())
    }

    /// Installs the guards of the cold stacks from `first` on (a new region's) in one
    /// `process_madvise` where the kernel allows it; stacks left unguarded are guarded one by
    /// one when handed out.
    #[cfg(target_os = "linux")]
    fn guard_region(&mut self, first: usize) {
        if self.mprotect_guards {
            return;
        }
        if MADVISE_GUARDS.load(Ordering::Relaxed) != GUARDS_WORK {
            // The first guard of the process is installed alone, and checked: an emulator may
            // accept the advice without doing anything.
            let Some(lowest) = self.cold.last_mut() else { return };
            if install_guard(lowest.limit as *mut libc::c_void, self.page, &mut self.mprotect_guards).is_err() {
                return;
            }
            lowest.guarded = true;
            if self.mprotect_guards {
                return;
            }
        }
        let stacks = &mut self.cold[first..];
        let pages: Vec<(usize, usize)> = stacks.iter().filter(|s| !s.guarded).map(|s| (s.limit, self.page)).collect();
        let guarded = advise_ranges(&pages, MADV_GUARD_INSTALL);
        // `process_madvise` advises its ranges in order: the first `guarded` pages are guards.
        for stack in stacks.iter_mut().filter(|s| !s.guarded).take(guarded) {
            stack.guarded = true;
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn guard_region(&mut self, _first: usize) {}

    /// Returns a pooled stack of this pool's size whose coroutine has finished (or was never
    /// started). No syscall: one beyond the warm ones keeps its pages until [`trim`](Self::trim).
    #[inline]
    pub(super) fn give_back(&mut self, stack: TaskStack) {
        debug_assert!(!stack.owned && stack.size() == self.size && stack.guarded);
        self.outstanding -= 1;
        if self.warm.len() < self.max_pooled {
            self.warm.push(stack);
        } else {
            self.releasing.push_back(stack);
        }
    }

    /// Gives the pages of up to `at_most` free stacks beyond the warm ones back to the OS (the
    /// earliest returned first: the latest are likelier to be reused soon); returns how many.
    pub(super) fn trim(&mut self, at_most: usize) -> usize {
        let n = at_most.min(self.releasing.len());
        if n > 0 {
            let batch: Vec<TaskStack> = self.releasing.drain(..n).collect();
            self.release(batch);
        }
        n
    }

    /// Free stacks beyond the warm ones that still hold their pages.
    pub(super) fn releasable(&self) -> usize {
        self.releasing.len()
    }

    /// Gives the usable pages of `batch` (free stacks) back to the OS (they read as zeros when
    /// touched again) and moves the stacks to the cold list. Neighbouring stacks are released
    /// by one `madvise` over the run, across the guard pages between them: guard regions
    /// survive `MADV_DONTNEED`, and an `mprotect` guard has no pages to drop.
    #[cold]
    fn release(&mut self, mut batch: Vec<TaskStack>) {
        batch.sort_unstable_by_key(|s| s.limit);
        let mut runs = Vec::new();
        let mut rest = &batch[..];
        while let Some(first) = rest.first() {
            let run = 1 + rest.windows(2).take_while(|w| w[0].base == w[1].limit).count();
            let start = first.limit + self.page;
            runs.push((start, rest[run - 1].base - start));
            rest = &rest[run..];
        }
        // One `process_madvise` for all the runs where the kernel takes `MADV_DONTNEED` through
        // it (6.13+), one `madvise` per run for the rest.
        #[cfg(target_os = "linux")]
        let done = advise_ranges(&runs, libc::MADV_DONTNEED);
        #[cfg(not(target_os = "linux"))]
        let done = 0;
        for &(start, len) in &runs[done..] {
            // SAFETY: the range covers the usable parts of free stacks, which no coroutine
            // runs on, and the guard pages between them (each stack's lower neighbour's base
            // is its limit); dropping the contents is what we want, and guards stay.
            unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        }
        // Highest address first into `cold`, so that the lowest is handed out first.
        self.cold.extend(batch.into_iter().rev());
    }

    /// Stacks currently free in the pool.
    pub(crate) fn pooled(&self) -> usize {
        self.warm.len() + self.releasing.len() + self.cold.len()
    }
}

/// Applies `advice` to each `(start, len)` range with one `process_madvise` per 1024 ranges;
/// returns how many ranges, from the first, got it (fewer if the kernel refuses: before 6.13
/// `process_madvise` takes only a few kinds of advice, and only for other processes).
#[cfg(target_os = "linux")]
fn advise_ranges(ranges: &[(usize, usize)], advice: libc::c_int) -> usize {
    // `PIDFD_SELF` (Linux 6.15+) names the calling thread without a descriptor; before it, a
    // pidfd of our own process is opened for the call (never kept: after a fork it would name
    // the parent).
    if ranges.is_empty() {
        return 0;
    }
    let self_works = PIDFD_SELF_WORKS.load(Ordering::Relaxed);
    if self_works != GUARDS_BROKEN {
        let done = advise_ranges_with(PIDFD_SELF, ranges, advice);
        if self_works == GUARDS_WORK || done > 0 {
            PIDFD_SELF_WORKS.store(GUARDS_WORK, Ordering::Relaxed);
            return done;
        }
        PIDFD_SELF_WORKS.store(GUARDS_BROKEN, Ordering::Relaxed);
    }
    // SAFETY: `pidfd_open` of our own process; the descriptor is closed below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    let Ok(pidfd) = libc::c_int::try_from(pidfd) else { return 0 };
    if pidfd < 0 {
        return 0;
    }
    let done = advise_ranges_with(pidfd, ranges, advice);
    // SAFETY: `pidfd` was opened above and is not used after this.
    unsafe { libc::close(pidfd) };
    done
}

/// `PIDFD_SELF_THREAD` (Linux 6.15+): the calling thread, for pidfd-taking syscalls.
#[cfg(target_os = "linux")]
const PIDFD_SELF: libc::c_int = -10000;

/// Whether `PIDFD_SELF` works in `process_madvise` here: not tried yet, yes, or no.
#[cfg(target_os = "linux")]
static PIDFD_SELF_WORKS: AtomicU8 = AtomicU8::new(GUARDS_UNKNOWN);

/// [`advise_ranges`] through `pidfd`.
#[cfg(target_os = "linux")]
fn advise_ranges_with(pidfd: libc::c_int, ranges: &[(usize, usize)], advice: libc::c_int) -> usize {
    let mut done = 0;
    for batch in ranges.chunks(MAX_STACKS_PER_REGION) {
        let iov: Vec<libc::iovec> = batch
            .iter()
            .map(|&(start, len)| libc::iovec { iov_base: start as *mut libc::c_void, iov_len: len })
            .collect();
        let total: usize = batch.iter().map(|r| r.1).sum();
        // SAFETY: each range lies in a mapping of ours that no coroutine uses (the caller's
        // contract); the iovecs are valid for the call.
        let ret = unsafe { libc::syscall(libc::SYS_process_madvise, pidfd, iov.as_ptr(), iov.len(), advice, 0) };
        if usize::try_from(ret).ok() != Some(total) {
            // Ranges are advised in order: count the whole ones (a partly advised one is
            // advised again by the caller's fallback, which is harmless for these advices).
            let mut bytes = usize::try_from(ret).unwrap_or(0);
            done += batch.iter().take_while(|r| bytes.checked_sub(r.1).map(|b| bytes = b).is_some()).count();
            break;
        }
        done += batch.len();
    }
    done
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
        let region = Rc::new(Region::new(ptr, len, len, page));
        install_guard(ptr, page, &mut mprotect_guards_forced())?;
        let limit = ptr as usize;
        Ok(TaskStack { _region: region, limit, base: limit + len, page, guarded: true, owned: true })
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

    /// Whether reading the page at `page` faults (a guard of either kind): the kernel fails a
    /// syscall that reads it with `EFAULT` instead of signalling.
    fn faults(page: usize) -> bool {
        // SAFETY: `access` only reads the path; a guard page makes it fail with EFAULT.
        let ret = unsafe { libc::access(page as *const libc::c_char, libc::F_OK) };
        ret != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
    }

    /// Stacks of later regions (guarded in one batch) have their guards, returned stacks are
    /// given back to the OS in batches, and a released stack keeps its guard and reads as
    /// zeros.
    #[test]
    fn region_stacks_are_guarded_and_released_in_batches() {
        for forced in [false, true] {
            let mut pool = StackPool::new(DEFAULT_STACK_SIZE, 0);
            pool.mprotect_guards |= forced;
            let count = STACKS_PER_CHUNK + 2 * STACKS_PER_CHUNK + 4 * STACKS_PER_CHUNK;
            let mut stacks = Vec::new();
            #[cfg_attr(not(target_os = "linux"), expect(unused_variables, reason = "guards are batched on Linux only"))]
            for i in 0..count {
                stacks.push(pool.take().unwrap());
                #[cfg(target_os = "linux")]
                if i == STACKS_PER_CHUNK && MADVISE_GUARDS.load(Ordering::Relaxed) == GUARDS_WORK && !forced {
                    // Where the kernel takes MADV_GUARD_INSTALL through process_madvise (6.13+).
                    assert!(pool.cold.iter().all(|s| s.guarded), "the second region is guarded in one go");
                }
            }
            assert_eq!(pool.pooled(), 0, "three regions, doubling");
            for stack in &stacks {
                assert!(faults(stack.limit), "the guard of a stack at {:#x} (mprotect {forced})", stack.limit);
                // SAFETY: the top byte of a stack no coroutine uses.
                unsafe { ((stack.base - 1) as *mut u8).write_volatile(7) };
            }
            stacks.into_iter().for_each(|s| pool.give_back(s));
            assert_eq!(pool.releasable(), count, "returned stacks keep their pages until trimmed");
            let kept = pool.releasing.back().unwrap();
            // SAFETY: as above.
            assert_eq!(unsafe { ((kept.base - 1) as *const u8).read_volatile() }, 7, "not released yet");
            assert_eq!(pool.trim(RELEASE_BATCH), RELEASE_BATCH, "a trim gives back as many as asked");
            assert_eq!(pool.trim(usize::MAX), count - RELEASE_BATCH);
            assert_eq!(pool.trim(usize::MAX), 0, "nothing left to give back");
            assert_eq!(pool.cold.len(), count);
            let again = pool.take().unwrap();
            assert!(faults(again.limit), "a released stack keeps its guard (mprotect {forced})");
            // SAFETY: as above.
            assert_eq!(unsafe { ((again.base - 1) as *const u8).read_volatile() }, 0, "released pages read as zeros");
            pool.give_back(again);
        }
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
