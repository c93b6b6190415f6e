//! The posix backend allocates nothing per op once warmed up: a counting global allocator
//! watches a steady loop of batches that take every path (engine-only ops, link timeouts,
//! cancels, ops completed on the spot, ops waiting for readiness, ops on the worker pool).

// Not on WASI: wasm32-wasip1 has no Unix sockets and pipes; tests/aio_wasi.rs covers aio there.
// Not on Windows: the posix backend, which does not exist on Windows.
#![cfg(not(any(target_os = "wasi", windows)))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use corio_aio::op::{Cancel, Fsync, LinkTimeout, Nop, Notify, OpExt, Read, Recv, Send, Timeout, Wait, Write};
use corio_aio::{BackendKind, Dynamic, EventSource, Id, Mode};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn no_allocation_per_op_after_warm_up() {
    let (reader, writer) = std::io::pipe().unwrap();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let source = EventSource::new().unwrap();
    let mut file =
        std::fs::File::create(std::env::temp_dir().join(format!("corio-alloc-{}", std::process::id()))).unwrap();
    file.write_all(b"x").unwrap();
    let mut ring = Dynamic::with_backend(32, BackendKind::Posix).unwrap();
    let run = |ring: &mut Dynamic<'static>| {
        let (mut pipe_buf, mut sock_buf) = ([0u8; 8], [0u8; 8]);
        // SAFETY: every op is completed by `complete_all` below, before the buffers and
        // descriptors they borrow go out of scope.
        unsafe {
            ring.queue_unchecked((
                Nop::new(),
                Timeout::new(Duration::ZERO),
                Write::new(&writer, b"12345678").soft(),
                Read::new(&reader, &mut pipe_buf),
                Timeout::new(Duration::from_micros(200)).soft(),
                LinkTimeout::new(Duration::from_secs(5)),
                Cancel::new(Id::from_u64(u64::MAX - 1)),
                Recv::new(&a, &mut sock_buf),
                Notify::new(&source),
                Wait::new(&source),
                Fsync::new(&file),
            ))
            .unwrap();
        }
        // The receive waits for readiness until this send.
        let mut errors = ring.complete(Mode::Nonblocking, |_| {}).unwrap().errors;
        // SAFETY: as above.
        unsafe { ring.queue_unchecked(Send::new(&b, b"abcdefgh")).unwrap() };
        errors += ring.complete_all(drop).unwrap();
        assert_eq!(errors, 1, "only the cancel of a bogus id fails");
        assert_eq!((&pipe_buf, &sock_buf), (b"12345678", b"abcdefgh"));
    };
    for _ in 0..20 {
        run(&mut ring);
    }
    // The pool's workers are spawned with its first job, but a loaded machine may start one
    // late; its start-up allocations (its name, thread locals) are not per op. Let them land.
    std::thread::sleep(Duration::from_millis(300));
    run(&mut ring);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..200 {
        run(&mut ring);
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "allocations in 200 warmed-up rounds");
}
