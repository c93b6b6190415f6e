//! Reporting a task's stack overflow (Unix): a process-wide `SIGSEGV`/`SIGBUS` handler that
//! recognises a fault on the guard page of a corio stack, writes which task overflowed and its
//! stack size to stderr, and aborts, as std does for a thread's stack.
//!
//! std's own handler only knows the thread's guard page: a fault on a task's guard page would
//! reach it as a plain segfault, and the process would die without a word.
//!
//! - **Registry.** Every mapping that holds stacks (a region of stacks, or a caller's
//!   [`Stack`](super::Stack)) is registered when it is mapped and unregistered before it is
//!   unmapped: its start, length and slot size (stacks are laid out as slots, each a guard page
//!   then the usable pages). The entries live in segments that are allocated on demand and
//!   never freed, so the handler reads them without locks or allocation; each entry is a
//!   seqlock, so the handler skips an entry another thread is rewriting instead of reading it
//!   torn. Writers (region map and unmap, never spawn or switch) take a mutex.
//! - **Handler.** Installed once, when the first mapping is registered, with `SA_ONSTACK |
//!   SA_SIGINFO`; it remembers the handler it replaced (std's, or the default) and passes every
//!   fault that is not on a registered guard page on to it.
//! - **Alternate stack.** The handler cannot run on the stack that overflowed. std gives the
//!   main thread and the threads it spawns an alternate signal stack (when its own handler is
//!   installed); a thread that maps stacks and has none gets one here, freed when the thread
//!   exits.
//!
//! # Async-signal safety
//!
//! The handler only loads atomics (the registry and the replaced handler), reads the running
//! task's core through the `CURRENT` thread-local (a `const`-initialised `Cell` without a
//! destructor, which this thread already wrote before running the task, so reading it needs no
//! lazy set-up), formats numbers into a buffer on its own stack, and calls `write(2)`,
//! `abort(3)` and `sigaction(2)`, which POSIX lists as async-signal-safe. It neither allocates
//! nor locks.

use std::cell::Cell;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
use std::sync::{Mutex, Once};

use crate::task;

/// Registry entries per segment.
const SEGMENT_LEN: usize = 1024;
/// Segments: room for 65,536 mappings, more than Linux's default `vm.max_map_count`.
const SEGMENTS: usize = 64;

/// One registered mapping. `seq` is odd while a writer changes the other fields.
struct Entry {
    seq: AtomicUsize,
    /// Start of the mapping; 0 for a free entry.
    start: AtomicUsize,
    len: AtomicUsize,
    /// Bytes per stack: the guard page and the usable pages.
    slot: AtomicUsize,
}

type Segment = [Entry; SEGMENT_LEN];

/// The registry: segments are allocated by writers (under [`WRITER`]) and never freed.
static SEGMENT_PTRS: [AtomicPtr<Segment>; SEGMENTS] = [const { AtomicPtr::new(ptr::null_mut()) }; SEGMENTS];
/// Entries ever used: the handler scans `0..USED`.
static USED: AtomicUsize = AtomicUsize::new(0);
/// The page size, for the guard page at the bottom of each slot.
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// Writers' state: the indices of freed entries.
static WRITER: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// The handlers replaced, for `SIGSEGV` and `SIGBUS`: `sa_sigaction` and `sa_flags`.
static PREVIOUS: [(AtomicUsize, AtomicUsize); 2] =
    [(AtomicUsize::new(0), AtomicUsize::new(0)), (AtomicUsize::new(0), AtomicUsize::new(0))];
const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

fn entry(index: usize) -> Option<&'static Entry> {
    let segment = SEGMENT_PTRS.get(index / SEGMENT_LEN)?.load(Ordering::Acquire);
    // SAFETY: a non-null segment pointer comes from `Box::into_raw` in `register` and is never
    // freed.
    (!segment.is_null()).then(|| unsafe { &(*segment)[index % SEGMENT_LEN] })
}

/// A registered mapping of stacks; unregistered when dropped (before the mapping goes).
pub(super) struct Registration(usize);

/// Registers the stacks of the mapping at `start`, `len` bytes of `slot`-byte stacks with a
/// guard page of `page` bytes at the bottom of each, and makes sure the handler is installed
/// and this thread has an alternate signal stack. `None` if the registry is full: an overflow
/// on these stacks then ends in a plain `SIGSEGV`.
pub(super) fn register(start: usize, len: usize, slot: usize, page: usize) -> Option<Registration> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        PAGE.store(page, Ordering::Relaxed);
        install_handler();
    });
    if let Err(e) = ensure_alt_stack() {
        log::warn!("no alternate signal stack for this thread ({e}): a task's stack overflow will not be reported");
    }
    let mut free = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    let index = match free.pop() {
        Some(index) => index,
        None => {
            let index = USED.load(Ordering::Relaxed);
            if index >= SEGMENTS * SEGMENT_LEN {
                static WARNED: Once = Once::new();
                WARNED.call_once(|| {
                    log::warn!(
                        "corio's stack registry is full: overflows of stacks mapped from now on are not reported"
                    )
                });
                return None;
            }
            let segment = &SEGMENT_PTRS[index / SEGMENT_LEN];
            if segment.load(Ordering::Relaxed).is_null() {
                let new: Box<Segment> = Box::new(std::array::from_fn(|_| Entry {
                    seq: AtomicUsize::new(0),
                    start: AtomicUsize::new(0),
                    len: AtomicUsize::new(0),
                    slot: AtomicUsize::new(0),
                }));
                segment.store(Box::into_raw(new), Ordering::Release);
            }
            USED.store(index + 1, Ordering::Release);
            index
        }
    };
    write(entry(index).expect("the segment was allocated"), start, len, slot);
    Some(Registration(index))
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut free = WRITER.lock().unwrap_or_else(|e| e.into_inner());
        write(entry(self.0).expect("a registered entry's segment exists"), 0, 0, 0);
        free.push(self.0);
    }
}

/// Rewrites `entry` (the caller holds [`WRITER`]): odd `seq` while the fields change.
fn write(entry: &Entry, start: usize, len: usize, slot: usize) {
    let seq = entry.seq.load(Ordering::Relaxed);
    entry.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
    fence(Ordering::Release);
    entry.start.store(start, Ordering::Relaxed);
    entry.len.store(len, Ordering::Relaxed);
    entry.slot.store(slot, Ordering::Relaxed);
    entry.seq.store(seq.wrapping_add(2), Ordering::Release);
}

/// If `addr` lies on the guard page of a registered stack: that stack's slot (its lowest
/// address, the guard page's, and its length, the guard page included). Lock-free and
/// allocation-free (called by the signal handler).
fn guard_hit(addr: usize) -> Option<(usize, usize)> {
    let page = PAGE.load(Ordering::Relaxed);
    for index in 0..USED.load(Ordering::Acquire) {
        let Some(entry) = entry(index) else { continue };
        let seq = entry.seq.load(Ordering::Acquire);
        if seq % 2 == 1 {
            continue;
        }
        let (start, len, slot) = (
            entry.start.load(Ordering::Relaxed),
            entry.len.load(Ordering::Relaxed),
            entry.slot.load(Ordering::Relaxed),
        );
        fence(Ordering::Acquire);
        if entry.seq.load(Ordering::Relaxed) != seq || start == 0 || slot <= page {
            continue;
        }
        let offset = addr.wrapping_sub(start);
        if offset < len && offset % slot < page {
            return Some((addr - offset % slot, slot));
        }
    }
    None
}

fn install_handler() {
    for (signal, previous) in SIGNALS.iter().zip(&PREVIOUS) {
        // SAFETY: all-zero bytes are a valid `sigaction` (no handler, empty mask, no flags).
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: querying the current action writes only `old`.
        if unsafe { libc::sigaction(*signal, ptr::null(), &mut old) } != 0 {
            continue;
        }
        // Recorded before ours is installed: the handler may run as soon as it is.
        previous.0.store(old.sa_sigaction, Ordering::Relaxed);
        previous.1.store(old.sa_flags as usize, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // SAFETY: as above.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handle_fault as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `handle_fault` is async-signal-safe (see the module docs) and has the
        // `SA_SIGINFO` signature; the mask is empty (zeroed), as `sigemptyset` would leave it.
        if unsafe { libc::sigaction(*signal, &action, ptr::null_mut()) } != 0 {
            log::warn!("cannot install the stack overflow handler: {}", io::Error::last_os_error());
        }
    }
}

/// The `SIGSEGV`/`SIGBUS` handler: reports and aborts on a task's guard page, else passes the
/// fault on to the handler it replaced.
extern "C" fn handle_fault(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler; `si_addr` is
    // the faulting address for SIGSEGV and SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some((low, slot)) = guard_hit(addr) {
        let page = PAGE.load(Ordering::Relaxed);
        report(running_task_in(low + page..low + slot), slot - page);
        // SAFETY: `abort` is async-signal-safe and has no preconditions.
        unsafe { libc::abort() };
    }
    let Some(previous) = SIGNALS.iter().position(|&s| s == signal).map(|i| &PREVIOUS[i]) else { return };
    let handler = previous.0.load(Ordering::Relaxed);
    let flags = previous.1.load(Ordering::Relaxed) as libc::c_int;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // The default action: restore it and return, so the faulting instruction runs again
        // and the fault kills the process (std's handler does the same).
        // SAFETY: all-zero bytes are a valid `sigaction`, and with `SIG_DFL` (0) the default.
        let action: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `sigaction` is async-signal-safe; it only changes this signal's action.
        unsafe { libc::sigaction(signal, &action, ptr::null_mut()) };
    } else if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: `handler` was installed with `SA_SIGINFO`, so it has this signature; it gets
        // the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(signal, info, context);
    } else {
        // SAFETY: `handler` was installed without `SA_SIGINFO`: a plain `sa_handler`.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(signal);
    }
}

/// The task running on this thread, if its stack is `stack` (the usable part): its key, and
/// its name and id if it has a name. The task's yielder lives at the top of its stack
/// (corosensei puts it there when the task starts), so no spawn has to record where the stack
/// is.
fn running_task_in(stack: std::ops::Range<usize>) -> Option<(u32, Option<(&'static str, u64)>)> {
    let core = task::current_ptr();
    if core.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT is the core of the task this thread runs (see `task::enter`),
    // alive for the whole resume the fault interrupted. Its cells are only written by this
    // thread, so the volatile reads see whole values.
    let (yielder, key) =
        unsafe { (ptr::read_volatile((*core).yielder.as_ptr()), ptr::read_volatile((*core).key.as_ptr())) };
    // SAFETY: as above; `name` and `id` are set when the core is made and never change, and
    // the process aborts before the borrow could outlive the core.
    let named = unsafe { (*core).name.as_deref().map(|name| (&*(name as *const str), (*core).id)) };
    stack.contains(&(yielder as usize)).then_some((key, named))
}

/// Writes `corio: task 17 has overflowed its stack (64 KiB); aborting` to stderr (for a named
/// task `corio: task 'name' (id 1099511627777) has …`, the name cut at 48 bytes).
fn report(task: Option<(u32, Option<(&str, u64)>)>, size: usize) {
    let mut message = Message { buf: [0; 160], len: 0 };
    match task {
        Some((_, Some((name, id)))) => {
            message.push(b"\ncorio: task '");
            message.push(&name.as_bytes()[..name.len().min(48)]);
            message.push(b"' (id ");
            message.push_number(id as usize);
            message.push(b")");
        }
        Some((key, None)) => {
            message.push(b"\ncorio: task ");
            message.push_number(key as usize);
        }
        None => message.push(b"\ncorio: a task"),
    }
    message.push(b" has overflowed its stack (");
    if size.is_multiple_of(1024) {
        message.push_number(size / 1024);
        message.push(b" KiB");
    } else {
        message.push_number(size);
        message.push(b" bytes");
    }
    message.push(b"); aborting\n");
    let mut rest = &message.buf[..message.len];
    while !rest.is_empty() {
        // SAFETY: `rest` is initialised memory of `message`; `write` is async-signal-safe.
        let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
}

/// A message built on the stack, without allocating.
struct Message {
    buf: [u8; 160],
    len: usize,
}

impl Message {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push_number(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

/// Usable bytes of an alternate signal stack installed here.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// An alternate signal stack this module installed on its thread: disabled and unmapped when
/// the thread exits.
struct AltStack {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.ptr.is_null() {
            return;
        }
        let disable = libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        // SAFETY: disabling this thread's alternate stack (ours) before unmapping it; the
        // mapping is ours and nothing else points into it.
        unsafe {
            libc::sigaltstack(&disable, ptr::null_mut());
            libc::munmap(self.ptr, self.len);
        }
    }
}

thread_local! {
    /// Whether this thread was checked for an alternate signal stack.
    static ALT_STACK_CHECKED: Cell<bool> = const { Cell::new(false) };
    /// The alternate signal stack installed on this thread, if it had none.
    static ALT_STACK: Cell<Option<AltStack>> = const { Cell::new(None) };
}

/// Gives this thread an alternate signal stack if it has none (once per thread).
fn ensure_alt_stack() -> io::Result<()> {
    if ALT_STACK_CHECKED.replace(true) {
        return Ok(());
    }
    // SAFETY: all-zero bytes are a valid `stack_t`.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: querying the alternate stack writes only `current`.
    if unsafe { libc::sigaltstack(ptr::null(), &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return Ok(());
    }
    let page = PAGE.load(Ordering::Relaxed);
    let len = ALT_STACK_SIZE + page;
    // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
    let ptr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let alt = AltStack { ptr, len };
    // SAFETY: the lowest page of our fresh mapping becomes a guard; nothing uses it yet.
    if unsafe { libc::mprotect(ptr, page, libc::PROT_NONE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `ptr + page .. ptr + len` is ours, mapped read-write, and stays mapped until the thread
    // exits (`AltStack`'s drop disables it first).
    let stack = libc::stack_t { ss_sp: ptr.wrapping_byte_add(page), ss_flags: 0, ss_size: ALT_STACK_SIZE };
    // SAFETY: `stack` describes memory reserved for it, as above.
    if unsafe { libc::sigaltstack(&stack, ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    ALT_STACK.set(Some(alt));
    Ok(())
}
