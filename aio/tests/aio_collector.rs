//! `Collector`: outputs taken in place leave nothing behind — a spent collector frees what it
//! owns (a `Vec` batch's buffer) and drops nothing twice. A global allocator counts the bytes
//! held by this thread's allocations while a collector lives and dies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use corio_aio::__private::{Collector, RuntimeExt};
use corio_aio::op::Nop;
use corio_aio::{Batch, Dynamic};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    if COUNTING.with(Cell::get) {
        HELD.with(|held| held.set(held.get() + delta));
    }
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `batch` through a collector on `ring`, takes its outputs (or results) and drops the
/// collector; returns the bytes still held by allocations made meanwhile.
fn held_after<B: Batch + 'static>(ring: &mut Dynamic<'static>, batch: B, results: bool) -> isize {
    HELD.with(|held| held.set(0));
    COUNTING.with(|c| c.set(true));
    {
        let mut collector = Collector::new(&batch);
        ring.queue_tagged(batch, 0).unwrap();
        ring.complete_all(|c| collector.set(c.user_data as usize, c)).unwrap();
        if results {
            drop(collector.take_results());
        } else {
            drop(collector.take_outputs().unwrap());
        }
    }
    COUNTING.with(|c| c.set(false));
    HELD.with(Cell::get)
}

#[test]
fn spent_collectors_free_what_they_own() {
    let mut ring = Dynamic::new(64).unwrap();
    // Warm up (lazily allocated state of the ring or the backend).
    held_after(&mut ring, vec![Nop::new(); 8], false);
    assert_eq!(held_after(&mut ring, vec![Nop::new(); 8], false), 0, "a Vec batch's outputs");
    assert_eq!(held_after(&mut ring, vec![Nop::new(); 8], true), 0, "a Vec batch's results");
    assert_eq!(held_after(&mut ring, [Nop::new(); 8], false), 0, "an array batch");
    assert_eq!(held_after(&mut ring, (Nop::new(), Nop::new()), true), 0, "a tuple batch");
}
