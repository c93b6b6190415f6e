//! Windows stacks: corosensei's `DefaultStack` (see the [parent module](super#windows)), which
//! reserves the stack with `VirtualAlloc`, commits its top, sets up the `PAGE_GUARD` pages
//! and the stack guarantee, and whose TIB fields corosensei installs while a task runs on it.
//! Hand-rolling that would have to match what Windows expects of a thread's stack exactly.

use std::io;
use std::marker::PhantomData;
use std::rc::Rc;

use corosensei::stack::{DefaultStack, Stack as CoroStack, StackPointer, StackTebFields};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};

use super::usable_size;

pub(super) fn page_size() -> usize {
    // SAFETY: `GetSystemInfo` only fills the struct it is given, which all-zero bytes are a
    // valid value of.
    let info = unsafe {
        let mut info: SYSTEM_INFO = std::mem::zeroed();
        GetSystemInfo(&mut info);
        info
    };
    Some(info.dwPageSize as usize).filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// A task stack: a `DefaultStack` of at least `size` usable bytes.
pub(crate) struct TaskStack {
    stack: DefaultStack,
    /// Usable bytes asked for (a page multiple): the pool's key.
    size: usize,
    /// A caller's [`Stack`](super::Stack): released when its task is done, never pooled.
    pub(super) owned: bool,
    /// Not `Send`, as on Unix (where stacks share their region through an `Rc`): a stack stays
    /// with its scheduler's thread, whose stack guarantee it was sized for.
    _not_send: PhantomData<Rc<()>>,
}

// SAFETY: every method forwards to `DefaultStack`, whose implementation is corosensei's own
// (its guard pages, `MIN_STACK_SIZE` and TIB fields are what the trait asks for); this type
// only adds bookkeeping.
unsafe impl CoroStack for TaskStack {
    fn base(&self) -> StackPointer {
        self.stack.base()
    }

    fn limit(&self) -> StackPointer {
        self.stack.limit()
    }

    fn teb_fields(&self) -> StackTebFields {
        self.stack.teb_fields()
    }

    fn update_teb_fields(&mut self, stack_limit: usize, guaranteed_stack_bytes: usize) {
        self.stack.update_teb_fields(stack_limit, guaranteed_stack_bytes);
    }
}

impl TaskStack {
    fn new(size: usize, owned: bool) -> io::Result<TaskStack> {
        Ok(TaskStack { stack: DefaultStack::new(size)?, size, owned, _not_send: PhantomData })
    }

    /// A caller's stack ([`Stack::new`](super::Stack::new)) of `size` usable bytes (a page
    /// multiple, at least corosensei's minimum).
    pub(super) fn new_owned(size: usize) -> io::Result<TaskStack> {
        TaskStack::new(size, true)
    }

    /// Usable bytes (the guard pages and the stack guarantee excluded).
    pub(super) fn size(&self) -> usize {
        self.size
    }
}

/// A pool of same-sized stacks.
pub(crate) struct StackPool {
    pub(super) page: usize,
    /// Usable bytes per stack (page multiple).
    pub(super) size: usize,
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
    /// A pool of stacks with at least `size` usable bytes each (and corosensei's minimum).
    pub(crate) fn new(size: usize, max_pooled: usize) -> StackPool {
        let page = page_size();
        StackPool { page, size: usable_size(size, page), max_pooled, free: Vec::new(), outstanding: 0 }
    }

    /// A stack from the pool, or a new one.
    pub(crate) fn take(&mut self) -> io::Result<TaskStack> {
        let stack = match self.free.pop() {
            Some(stack) => stack,
            None => TaskStack::new(self.size, false)?,
        };
        self.outstanding += 1;
        Ok(stack)
    }

    /// Returns a pooled stack of this pool's size whose coroutine has finished (or was never
    /// started). Beyond `max_pooled` free stacks it is released: Windows has no way to drop a
    /// committed page's contents and keep the page's guard state as `MADV_DONTNEED` does.
    pub(super) fn give_back(&mut self, stack: TaskStack) {
        debug_assert!(!stack.owned && stack.size() == self.size);
        self.outstanding -= 1;
        if self.free.len() < self.max_pooled {
            self.free.push(stack);
        }
    }

    /// Nothing to give back: a returned stack beyond `max_pooled` was released at once.
    pub(super) fn trim(&mut self, _at_most: usize) -> usize {
        0
    }

    /// Free stacks that hold pages beyond the pooled ones: none (see [`trim`](Self::trim)).
    pub(super) fn releasable(&self) -> usize {
        0
    }

    /// Stacks currently free in the pool.
    #[cfg(test)]
    pub(crate) fn pooled(&self) -> usize {
        self.free.len()
    }
}
