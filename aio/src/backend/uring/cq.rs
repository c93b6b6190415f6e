//! Reading completions straight from the CQ ring.
//!
//! The io-uring crate's `CompletionQueue` hands out each CQE through `cqueue::Entry::clone`,
//! which is not inlined across crates without LTO: a call per completion in the hottest loop.
//! The backend maps the CQ ring a second time itself (`IORING_OFF_CQ_RING`: the kernel maps
//! the same pages) and reads the CQEs from there with the protocol the crate uses: the tail
//! loaded with `Acquire`, the entries up to it read, the head stored with `Release` once they
//! are consumed (also when unwinding from a panicking sink, as the crate's queue does on drop,
//! so CQEs not yet handed out stay queued). The crate's own queue (still used for its length)
//! reads the same head and tail, so the two views agree; they are never used at once.

use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use io_uring::IoUring;

/// `IORING_OFF_CQ_RING` (`io_uring.h`): the mmap offset of the CQ ring.
const OFF_CQ_RING: libc::off_t = 0x800_0000;

/// `struct io_sqring_offsets` and `struct io_cqring_offsets` (`io_uring.h`): ten 32-bit words
/// each, the last two a 64-bit `user_addr`.
#[repr(C)]
struct RingOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    /// `overflow` in the CQ's offsets, `flags` in the SQ's.
    _overflow: u32,
    /// `cqes` in the CQ's offsets, `dropped` in the SQ's.
    cqes: u32,
    _flags: u32,
    _resv1: u32,
    _user_addr: u64,
}

/// `struct io_uring_params` (`io_uring.h`), of which `io_uring::Parameters` is documented to be
/// a transparent wrapper.
#[repr(C)]
struct Params {
    _sq_entries: u32,
    cq_entries: u32,
    _flags: u32,
    _sq_thread_cpu: u32,
    _sq_thread_idle: u32,
    _features: u32,
    _wq_fd: u32,
    _resv: [u32; 3],
    _sq_off: RingOffsets,
    cq_off: RingOffsets,
}

/// `struct io_uring_cqe` without `CQE32` (the backend's rings use plain 16-byte CQEs).
#[repr(C)]
#[derive(Clone, Copy)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

/// The backend's own mapping of a ring's CQ ring.
pub(super) struct CqRing {
    map: NonNull<libc::c_void>,
    len: usize,
    head: *const AtomicU32,
    tail: *const AtomicU32,
    mask: u32,
    cqes: *const Cqe,
}

impl CqRing {
    /// Maps `ring`'s CQ ring (which must use 16-byte CQEs).
    pub(super) fn map(ring: &IoUring) -> io::Result<CqRing> {
        // SAFETY: `io_uring::Parameters` is documented as a transparent wrapper over
        // `io_uring_params`, which `Params` lays out as the kernel does.
        let params = unsafe { &*(ring.params() as *const io_uring::Parameters).cast::<Params>() };
        let off = &params.cq_off;
        let len = off.cqes as usize + params.cq_entries as usize * size_of::<Cqe>();
        // SAFETY: a new shared mapping of the ring's CQ pages; no existing memory is touched.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                ring.as_raw_fd(),
                OFF_CQ_RING,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(map).expect("mmap returned a mapping");
        let at = |offset: u32| map.as_ptr().cast::<u8>().wrapping_add(offset as usize);
        // SAFETY: the kernel's offsets lie inside the `len` bytes mapped; the mask is written
        // once at setup.
        let mask = unsafe { *at(off.ring_mask).cast::<u32>() };
        Ok(CqRing { map, len, head: at(off.head).cast(), tail: at(off.tail).cast(), mask, cqes: at(off.cqes).cast() })
    }

    /// The CQEs the kernel posted so far, as `(user_data, res, flags)`; the ones taken from the
    /// iterator are consumed when it drops.
    #[inline]
    pub(super) fn reap(&mut self) -> Reaping<'_> {
        // SAFETY: `head` and `tail` point into the live mapping. Only this thread (the ring's
        // owner) writes the head; the kernel writes the tail.
        let (head, tail) = unsafe { ((*self.head).load(Ordering::Relaxed), (*self.tail).load(Ordering::Acquire)) };
        Reaping { ring: self, head, tail }
    }
}

impl Drop for CqRing {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no `Reaping` borrows it any more.
        unsafe { libc::munmap(self.map.as_ptr(), self.len) };
    }
}

/// An iterator over posted CQEs (see [`CqRing::reap`]).
pub(super) struct Reaping<'a> {
    ring: &'a CqRing,
    head: u32,
    tail: u32,
}

impl Iterator for Reaping<'_> {
    type Item = (u64, i32, u32);

    #[inline(always)]
    fn next(&mut self) -> Option<(u64, i32, u32)> {
        if self.head == self.tail {
            return None;
        }
        let ring = self.ring;
        // SAFETY: entries from head up to the tail loaded with `Acquire` are written by the
        // kernel and not reused before the head moves past them; the index is masked into the
        // ring.
        let cqe = unsafe { *ring.cqes.add((self.head & ring.mask) as usize) };
        self.head = self.head.wrapping_add(1);
        Some((cqe.user_data, cqe.res, cqe.flags))
    }
}

impl Drop for Reaping<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `head` points into the live mapping; the entries before `self.head` were
        // read, so the kernel may reuse them.
        unsafe { (*self.ring.head).store(self.head, Ordering::Release) };
    }
}
