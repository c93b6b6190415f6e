//! Bundles ([`BufferGroupOptions::bundles`](super::BufferGroupOptions::bundles)): a receive
//! may fill several buffers of its group and complete once for all of them; the
//! [`ProvidedBuf`](super::ProvidedBuf) holds them all ([`chunks`](super::ProvidedBuf::chunks))
//! and returns them all when dropped.
//!
//! On io_uring every receive of the group carries `IORING_RECVSEND_BUNDLE` (Linux 6.10,
//! `IORING_FEAT_RECVSEND_BUNDLE`; without it, or with `CORIO_URING_DISABLE=bundle`, the group
//! takes one buffer per completion, same API). The kernel takes consecutive entries from the
//! ring's head; the completion names the first buffer and the byte count only. User space
//! knows the rest because it keeps, per ring position, the buffer it wrote there (`at`) and,
//! per buffer, the position it was last written at (`pos`, or [`OUT`] while a guard holds it).
//! The emulations keep their free buffers in the same order (a FIFO instead of a free list)
//! and fill several with one `recvmsg` (posix; IOCP takes one at a time).
//!
//! Why a guard's buffers are the kernel's consumed ones, whatever the completion order:
//! a completion's first buffer `b` is named by the kernel; the kernel consumed it from
//! position `pos[b]` and the buffers after it from the next positions. A buffer is handed out
//! at position `p` only if `at[p] == bid` and `pos[bid] == p`: it was last written at `p` and
//! not handed out since, so it is the entry the kernel consumed there (a later write into that
//! slot would have changed `at` or `pos`). A check that fails hands out what was checked and
//! leaks the rest (never given back: safe). The byte count bounds the walk, so it must not
//! exceed what the buffers hold: `MSG_TRUNC`, with which a datagram's receive reports its
//! whole length, is refused on such a group when queued. Each buffer's length is its entry's `len`, which
//! the kernel shortens when it cut the last buffer of a selection, so the bytes map to the
//! buffers exactly. The emulations also check that their driver took the buffer.
//!
//! A completion's byte count must fit the result encoding (17 bits beside the buffer id), so
//! a bundle group holds at most 64 KiB in all (`count × size`).

use std::cell::Cell;

use super::{Group, Recycle};

/// A buffer of a bundle and the bytes received into it.
pub(super) type Chunk = (u16, u32);

/// `pos` of a buffer out of the ring (held by a guard, or taken by a driver).
const OUT: u32 = u32::MAX;

/// The bookkeeping of a bundle group (see the module docs). Positions count writes into the
/// ring since the group was made (the kernel's `u16` head and tail are their low bits).
pub(super) struct Bundles {
    /// The buffer written at each position, by `position & mask`.
    at: Box<[Cell<u16>]>,
    mask: u32,
    /// Per buffer: the position it was last written at, or [`OUT`].
    pos: Box<[Cell<u32>]>,
    /// The next position to write at.
    tail: Cell<u32>,
    /// The emulations: the next position their driver takes a buffer from.
    taken: Cell<u32>,
}

impl Bundles {
    /// Bookkeeping for `count` buffers in a ring of `entries` (a power of two), all out.
    pub(super) fn new(count: u16, entries: u32) -> Bundles {
        Bundles {
            at: (0..entries).map(|_| Cell::new(0)).collect(),
            mask: entries - 1,
            pos: (0..count).map(|_| Cell::new(OUT)).collect(),
            tail: Cell::new(0),
            taken: Cell::new(0),
        }
    }

    /// Buffer `bid` is written at the tail: the ring's entry (io_uring), or the FIFO's.
    pub(super) fn pushed(&self, bid: u16) {
        let t = self.tail.get();
        self.at[(t & self.mask) as usize].set(bid);
        self.pos[bid as usize].set(t);
        self.tail.set(t.wrapping_add(1));
    }

    /// The emulations: the next free buffer in ring order, if any.
    #[cfg_attr(target_os = "wasi", allow(dead_code))] // no sockets there
    pub(super) fn take(&self) -> Option<u16> {
        let p = self.taken.get();
        if p == self.tail.get() {
            return None;
        }
        self.taken.set(p.wrapping_add(1));
        Some(self.at[(p & self.mask) as usize].get())
    }

    /// The emulations: the last `n` buffers taken were not used; they stay next in line.
    #[cfg_attr(target_os = "wasi", allow(dead_code))] // no sockets there
    pub(super) fn untake(&self, n: u32) {
        self.taken.set(self.taken.get().wrapping_sub(n));
    }

    /// The emulations: whether a buffer is free.
    #[cfg_attr(not(windows), allow(dead_code))] // IOCP's check before its wait
    pub(super) fn has_free(&self) -> bool {
        self.taken.get() != self.tail.get()
    }

    /// Whether buffer `bid` was last written at `p` and not handed out since; then it is out.
    /// On the emulations also whether their driver took it: a receive filled it.
    fn claim(&self, bid: u16, p: u32, emulated: bool) -> bool {
        let taken = !emulated || (self.taken.get().wrapping_sub(p) as i32) > 0;
        let ok = taken && self.at[(p & self.mask) as usize].get() == bid && self.pos[bid as usize].get() == p;
        if ok {
            self.pos[bid as usize].set(OUT);
        }
        ok
    }
}

impl Group {
    /// The length of the ring entry at position `p` (io_uring: the kernel shortens a cut
    /// buffer's), or a whole buffer (emulations, whose receives fill buffers in order).
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    fn entry_len(&self, p: u32) -> u32 {
        match &self.recycle {
            Recycle::Pool(_) => self.size,
            #[cfg(target_os = "linux")]
            Recycle::Ring { ring, mask, .. } => {
                // SAFETY: the index is masked into the ring; the kernel consumed this entry
                // before posting the completion being handed out, and writes it no more.
                let entry = unsafe { &*ring.as_ptr().add((p & u32::from(*mask)) as usize) };
                entry.len().min(self.size)
            }
        }
    }

    /// A completion of `len` bytes starting in buffer `first` of this bundle group: the
    /// buffers and their byte counts, in order (the first separately: most completions have
    /// one). Nothing handed out if `first` does not check out (module docs).
    pub(super) fn hand_out_bundle(&self, first: u16, len: usize) -> Option<(Chunk, Vec<Chunk>)> {
        let bundles = self.bundles.as_ref().expect("a bundle group");
        let emulated = matches!(self.recycle, Recycle::Pool(_));
        let start = bundles.pos[first as usize].get();
        if len == 0 || start == OUT || !bundles.claim(first, start, emulated) {
            if len > 0 {
                log::error!("buffer group {}: a completion names buffer {first}, not in the ring", self.bgid);
            }
            return None;
        }
        let mut left = len as u32;
        let head = (first, left.min(self.entry_len(start)));
        left -= head.1;
        let mut rest = Vec::new();
        let mut p = start;
        while left > 0 {
            p = p.wrapping_add(1);
            let bid = bundles.at[(p & bundles.mask) as usize].get();
            if !bundles.claim(bid, p, emulated) {
                log::error!("buffer group {}: a bundle's buffer at position {p} is not in the ring", self.bgid);
                break;
            }
            let n = left.min(self.entry_len(p));
            rest.push((bid, n));
            left -= n;
        }
        Some((head, rest))
    }
}
