//! Provided buffers: groups of equal buffers a `Dynamic` owns
//! ([`Dynamic::register_buffer_group`]), from which a receive picks one when data arrives
//! ([`RecvBuf`](crate::op::RecvBuf), [`RecvMulti`](crate::op::RecvMulti)) instead of the
//! caller lending one per op. Each completion hands out the filled buffer as a
//! [`ProvidedBuf`], which returns it to the group when dropped.
//!
//! On io_uring a group is a buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19): the kernel
//! picks a buffer at the head of the ring and names it in the CQE (`IORING_CQE_F_BUFFER`); a
//! dropped `ProvidedBuf` writes its buffer at the tail and publishes the tail with a release
//! store. On the emulations (posix, IOCP) a group is a free list the driver takes from when a
//! receive runs.
//!
//! Why it is sound:
//!
//! * The buffers and the ring are one [`Group`], allocated once and never moved, freed only
//!   when the `Dynamic` and every `ProvidedBuf` and in-flight op are gone (each holds an
//!   `Rc`). The `Dynamic` drops its references after its backend, so the ring (whose close
//!   unregisters the buffer ring) is closed first, and by then no op is in flight. A leaked
//!   `Dynamic` leaks its groups.
//! * The kernel (or a driver) writes only into a buffer that is in the ring (the free list):
//!   a buffer is there or held by one `ProvidedBuf`, never both, so a `ProvidedBuf`'s view is
//!   unique. (In an incremental group a buffer out of the ring may still be filled at its end
//!   while guards hold disjoint pieces of its start: `pieces.rs`.) The ring holds at most `count` entries, never more than its size.
//! * An op names its group through an `Rc` in its slot state; a group of another `Dynamic` is
//!   refused when queued (the kernel would pick from this ring's group of that id).
//! * A `ProvidedBuf` that outlives the `Dynamic` writes its entry into the ring memory it
//!   keeps alive: the kernel no longer reads it.
//!
//! A receive's result carries the buffer's id beside the byte count ([`encode`]), so the
//! backends report it as any result.
//!
//! A group may consume its buffers incrementally ([`BufferGroupOptions::incremental`]): a
//! buffer is then filled piecewise, each completion a piece of it; `pieces.rs` has the rules.

use std::alloc::Layout;
#[cfg(target_os = "linux")]
use std::cell::Cell;
use std::cell::RefCell;
use std::io;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Dynamic;
#[cfg(target_os = "linux")]
use crate::backend::Backend;
use crate::error::invalid_input;

mod bundles;
mod pieces;
pub use pieces::BufferGroupOptions;

/// Bits of a selecting receive's result that hold the byte count; the bits above hold the
/// buffer id plus one (zero: no buffer was taken, as at end of stream).
const LEN_BITS: u32 = 17;
/// The largest buffer of a group (the byte count must fit in [`LEN_BITS`]).
pub(crate) const MAX_SIZE: usize = 1 << 16;
/// The most buffers in a group (id plus one in the 14 bits left below the sign).
pub(crate) const MAX_COUNT: u16 = (1 << 14) - 1;

/// The result of a selecting receive: `len` bytes into buffer `bid` (if one was taken).
#[cfg_attr(target_os = "wasi", allow(dead_code))] // no sockets there
pub(crate) fn encode(len: u32, bid: Option<u16>) -> i32 {
    let tag = bid.map_or(0, |b| b as u32 + 1);
    debug_assert!(tag <= MAX_COUNT as u32);
    // A count above a buffer's size is never right (receives with `MSG_TRUNC` are refused),
    // but a kernel's count must never reach the id's bits: a wrong id would hand out a buffer
    // that is still the kernel's or another guard's.
    let len = len.min(MAX_SIZE as u32);
    ((tag << LEN_BITS) | len) as i32
}

/// The byte count and buffer id of a selecting receive's non-negative result.
pub(crate) fn decode(res: i32) -> (usize, Option<u16>) {
    let res = res as u32;
    let len = (res & ((1 << LEN_BITS) - 1)) as usize;
    let tag = res >> LEN_BITS;
    (len, tag.checked_sub(1).map(|b| b as u16))
}

/// Distinguishes `Dynamic`s, so that an op naming another one's group is refused.
static SERIAL: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_serial() -> u64 {
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// A group's buffers and how they return to it.
pub struct Group {
    /// The `Dynamic` it belongs to (`Dynamic::serial`).
    pub(crate) owner: u64,
    /// Its id in that `Dynamic` (the buffer group id of the kernel's SQEs).
    pub(crate) bgid: u16,
    buffers: NonNull<u8>,
    buffers_layout: Layout,
    size: u32,
    count: u16,
    /// Where a returned buffer goes.
    recycle: Recycle,
    /// For an incremental group: how far each buffer was handed out, and its guards.
    pieces: Option<pieces::Pieces>,
    /// For a group taking bundles: the buffers in ring order (`bundles.rs`).
    bundles: Option<bundles::Bundles>,
}

enum Recycle {
    /// The emulations: the ids of the buffers a receive may take.
    Pool(RefCell<Vec<u16>>),
    /// io_uring's buffer ring: `entries` (a power of two) of 16 bytes, page-aligned; `tail`
    /// is ours, published in the ring for the kernel.
    #[cfg(target_os = "linux")]
    Ring { ring: NonNull<io_uring::types::BufRingEntry>, layout: Layout, mask: u16, tail: Cell<u16> },
}

impl Group {
    fn new(owner: u64, bgid: u16, options: BufferGroupOptions) -> io::Result<Group> {
        let (count, size) = (options.count, options.size);
        if count == 0 || count > MAX_COUNT || size == 0 || size > MAX_SIZE {
            return Err(invalid_input("a buffer group needs 1 to 16383 buffers of 1 byte to 64 KiB"));
        }
        let total = size * count as usize;
        let buffers_layout =
            Layout::from_size_align(total, 4096).map_err(|_| invalid_input("buffer group too large"))?;
        // SAFETY: `buffers_layout` has a non-zero size.
        let buffers = NonNull::new(unsafe { std::alloc::alloc_zeroed(buffers_layout) })
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        let pieces = options.incremental.then(|| pieces::Pieces::new(count));
        let bundles = options.bundles.then(|| bundles::Bundles::new(count, count.next_power_of_two().into()));
        // A bundle group keeps its free buffers in ring order (in `bundles`), others in a stack.
        let free = RefCell::new(if options.bundles { Vec::new() } else { (0..count).rev().collect() });
        let recycle = Recycle::Pool(free);
        let group = Group { owner, bgid, buffers, buffers_layout, size: size as u32, count, recycle, pieces, bundles };
        if let Some(bundles) = &group.bundles {
            (0..count).for_each(|bid| bundles.pushed(bid));
        }
        Ok(group)
    }

    /// Turns this group's free list into a buffer ring holding every buffer; returns the
    /// ring's address and entry count, for the backend to register.
    #[cfg(target_os = "linux")]
    fn make_ring(&mut self) -> io::Result<(*mut u8, u16)> {
        use io_uring::types::BufRingEntry;
        let entries = self.count.next_power_of_two();
        // The kernel takes a ring at a page boundary: 4 KiB here, 16 or 64 KiB on some arm64
        // and ppc64 kernels.
        // SAFETY: `sysconf` has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(4096);
        let layout = Layout::from_size_align(entries as usize * size_of::<BufRingEntry>(), page)
            .map_err(|_| invalid_input("buffer ring too large"))?;
        // SAFETY: non-zero size.
        let ring = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>())
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        self.recycle = Recycle::Ring { ring, layout, mask: entries - 1, tail: Cell::new(0) };
        if self.bundles.is_some() {
            // Written into the ring from position 0 below.
            self.bundles = Some(bundles::Bundles::new(self.count, entries.into()));
        }
        for bid in 0..self.count {
            self.give_back(bid);
        }
        Ok((ring.as_ptr().cast(), entries))
    }

    /// The first byte of buffer `bid` and the buffer's size.
    pub(crate) fn buffer(&self, bid: u16) -> (*mut u8, u32) {
        debug_assert!(bid < self.count);
        // SAFETY: `bid < count`, so the offset is inside the allocation.
        (unsafe { self.buffers.as_ptr().add(bid as usize * self.size as usize) }, self.size)
    }

    /// Takes a free buffer for a receive the driver runs (emulations, through
    /// [`take_room`](Group::take_room)): its id, or `None` if the group is empty.
    #[cfg_attr(target_os = "wasi", allow(dead_code))] // no sockets there
    fn take(&self) -> Option<u16> {
        if let Some(bundles) = &self.bundles {
            return bundles.take();
        }
        match &self.recycle {
            Recycle::Pool(free) => free.borrow_mut().pop(),
            #[cfg(target_os = "linux")]
            Recycle::Ring { .. } => None,
        }
    }

    /// Returns buffer `bid` to the group: the free list, or the ring's tail.
    pub(crate) fn give_back(&self, bid: u16) {
        if let Some(bundles) = &self.bundles {
            bundles.pushed(bid); // the ring's order, or the emulations' FIFO
        }
        match &self.recycle {
            Recycle::Pool(_) if self.bundles.is_some() => {}
            Recycle::Pool(free) => free.borrow_mut().push(bid),
            #[cfg(target_os = "linux")]
            Recycle::Ring { ring, mask, tail, .. } => {
                let (addr, len) = self.buffer(bid);
                let t = tail.get();
                // SAFETY: the index is masked into the ring. The entry at the tail is not the
                // kernel's (it reads entries between head and tail only), and at most `count`
                // buffers are ever in the ring, which has room for them. Only the address,
                // length and id are written: entry 0's last field is the shared tail.
                unsafe {
                    let entry = &mut *ring.as_ptr().add((t & mask) as usize);
                    entry.set_addr(addr as u64);
                    entry.set_len(len);
                    entry.set_bid(bid);
                }
                let t = t.wrapping_add(1);
                tail.set(t);
                // SAFETY: `tail` points at the ring's shared tail, a `u16` aligned for atomic
                // access, which the kernel only reads; the release store publishes the entry
                // written above.
                unsafe {
                    let shared = io_uring::types::BufRingEntry::tail(ring.as_ptr()).cast_mut();
                    (*shared.cast::<std::sync::atomic::AtomicU16>()).store(t, Ordering::Release);
                }
            }
        }
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("owner", &self.owner).field("bgid", &self.bgid).finish_non_exhaustive()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the last `Rc` is gone, so no op or
        // `ProvidedBuf` uses a buffer, and the ring that read them is closed (module docs).
        unsafe { std::alloc::dealloc(self.buffers.as_ptr(), self.buffers_layout) };
        #[cfg(target_os = "linux")]
        if let Recycle::Ring { ring, layout, .. } = &self.recycle {
            // SAFETY: allocated in `make_ring` with this layout; unused, as above.
            unsafe { std::alloc::dealloc(ring.as_ptr().cast(), *layout) };
        }
    }
}

/// A group of provided buffers registered on a [`Dynamic`] (see
/// [`register_buffer_group`](Dynamic::register_buffer_group)): name it in a
/// [`RecvBuf`](crate::op::RecvBuf) or [`RecvMulti`](crate::op::RecvMulti) of the same
/// `Dynamic`. A cheap handle: clones name the same group.
#[derive(Clone)]
pub struct BufferGroup {
    pub(crate) group: Rc<Group>,
}

impl BufferGroup {
    /// The number of buffers in the group.
    #[must_use]
    pub fn count(&self) -> u16 {
        self.group.count
    }

    /// The size of each buffer, the most one receive returns.
    #[must_use]
    pub fn buffer_size(&self) -> usize {
        self.group.size as usize
    }

    /// Whether the group consumes its buffers incrementally: asked for
    /// ([`BufferGroupOptions::incremental`]) and granted (io_uring before Linux 6.12, or
    /// `CORIO_URING_DISABLE=pbuf_inc`, gives whole buffers).
    #[must_use]
    pub fn is_incremental(&self) -> bool {
        self.group.pieces.is_some()
    }

    /// Whether a receive of the group may fill several buffers at once: asked for
    /// ([`BufferGroupOptions::bundles`]) and granted (io_uring before Linux 6.10, or
    /// `CORIO_URING_DISABLE=bundle`, and IOCP take one buffer per completion).
    #[must_use]
    pub fn takes_bundles(&self) -> bool {
        self.group.bundles.is_some()
    }
}

impl std::fmt::Debug for BufferGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferGroup")
            .field("id", &self.group.bgid)
            .field("count", &self.group.count)
            .field("size", &self.group.size)
            .field("incremental", &self.group.pieces.is_some())
            .field("bundles", &self.group.bundles.is_some())
            .finish()
    }
}

/// A buffer of a [`BufferGroup`] that a receive filled: derefs to the bytes received (empty
/// at end of stream). Dropping it returns the buffer to its group, also after its `Dynamic`
/// is gone. Not `Send`: the group is recycled without locks.
///
/// In an incremental group ([`BufferGroupOptions::incremental`]) it holds a piece of a buffer
/// (exactly the bytes received, at [`offset`](ProvidedBuf::offset)); the buffer returns once
/// it is full and every piece is dropped. In a group taking bundles
/// ([`BufferGroupOptions::bundles`]) it may hold several buffers: read them with
/// [`chunks`](ProvidedBuf::chunks) (it derefs to the first one's bytes only, and
/// [`total_len`](ProvidedBuf::total_len) counts them all); all return when it drops.
pub struct ProvidedBuf {
    /// Released by `drop` itself (see there), as `rest`.
    group: ManuallyDrop<Rc<Group>>,
    /// `None` for a receive that took no buffer (end of stream).
    bid: Option<u16>,
    /// Where the bytes start in the buffer (0 but in an incremental group).
    offset: u32,
    len: usize,
    /// A bundle's further buffers and their byte counts (`bundles.rs`).
    rest: ManuallyDrop<Box<[bundles::Chunk]>>,
}

impl ProvidedBuf {
    /// The buffer a receive of `group` reported (`res` as [`encode`]d).
    pub(crate) fn from_result(group: &Rc<Group>, res: i32) -> ProvidedBuf {
        let (len, bid) = decode(res);
        let bid = bid.filter(|&b| b < group.count);
        let (bid, offset, len) = match (bid, &group.pieces) {
            (Some(bid), _) if group.bundles.is_some() => {
                let Some(((first, n), rest)) = group.hand_out_bundle(bid, len) else {
                    return ProvidedBuf::new(group, None, 0, 0, Box::default());
                };
                // No allocation for one buffer: an empty boxed slice owns none.
                let rest = rest.into_boxed_slice();
                return ProvidedBuf::new(group, Some(first), 0, n as usize, rest);
            }
            (Some(bid), Some(pieces)) => pieces.hand_out(bid, len, group.size),
            (Some(bid), None) => (Some(bid), 0, len.min(group.size as usize)),
            (None, _) => (None, 0, 0),
        };
        ProvidedBuf::new(group, bid, offset, len, Box::default())
    }

    fn new(group: &Rc<Group>, bid: Option<u16>, offset: u32, len: usize, rest: Box<[bundles::Chunk]>) -> ProvidedBuf {
        ProvidedBuf { group: ManuallyDrop::new(Rc::clone(group)), bid, offset, len, rest: ManuallyDrop::new(rest) }
    }

    /// The buffer's id in its group (`None` when the receive took none: end of stream). In an
    /// incremental group several `ProvidedBuf`s may name one buffer, each a piece of it.
    #[must_use]
    pub fn buffer_id(&self) -> Option<u16> {
        self.bid
    }

    /// Where these bytes start in their buffer: 0, but for the later pieces of a buffer of an
    /// incremental group ([`BufferGroupOptions::incremental`]).
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset as usize
    }

    /// The bytes received, buffer by buffer: one slice (the guard's bytes, as it derefs to;
    /// none at the end of the stream), or for a bundle ([`BufferGroupOptions::bundles`]) one
    /// per buffer it filled, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        std::iter::once(&self[..]).filter(|c| !c.is_empty()).chain(self.rest.iter().map(|&(bid, n)| {
            let (ptr, _) = self.group.buffer(bid);
            // SAFETY: as in `deref`: this guard holds the bundle's buffers, out of the ring,
            // and the receive wrote their first `n` bytes (`n <= size`, `bundles.rs`).
            unsafe { std::slice::from_raw_parts(ptr.cast_const(), n as usize) }
        }))
    }

    /// The number of bytes received: the guard's length, or a bundle's over all its
    /// [`chunks`](ProvidedBuf::chunks).
    #[must_use]
    pub fn total_len(&self) -> usize {
        self.len + self.rest.iter().map(|&(_, n)| n as usize).sum::<usize>()
    }

    /// The first byte of this guard's bytes.
    fn start(&self, bid: u16) -> *mut u8 {
        // SAFETY: `offset + len <= size` (`from_result`), so the pointer stays in the buffer.
        unsafe { self.group.buffer(bid).0.add(self.offset as usize) }
    }
}

impl std::ops::Deref for ProvidedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let Some(bid) = self.bid else { return &[] };
        // SAFETY: the bytes are inside the live group, out of the ring (this guard holds them:
        // the whole buffer, or in an incremental group a piece below what the kernel or driver
        // may still fill, see `pieces.rs`), and the receive wrote them.
        unsafe { std::slice::from_raw_parts(self.start(bid), self.len) }
    }
}

impl std::ops::DerefMut for ProvidedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let Some(bid) = self.bid else { return &mut [] };
        // SAFETY: as in `deref`; `&mut self` makes the view unique (pieces of one buffer are
        // disjoint).
        unsafe { std::slice::from_raw_parts_mut(self.start(bid), self.len) }
    }
}

impl Drop for ProvidedBuf {
    // Everything out of line, in this one call (as `FixedBuf`'s): the drop glue of a `Value`,
    // run for every `Completion`, stays small enough to be inlined.
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: taken once each, here; the fields are not used after.
        let (group, rest) = unsafe { (ManuallyDrop::take(&mut self.group), ManuallyDrop::take(&mut self.rest)) };
        if let Some(bid) = self.bid {
            match &group.pieces {
                Some(pieces) => {
                    if pieces.release(bid, group.size) {
                        group.give_back(bid);
                    }
                }
                None => group.give_back(bid),
            }
        }
        for &(bid, _) in rest.iter() {
            group.give_back(bid);
        }
    }
}

impl std::fmt::Debug for ProvidedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvidedBuf")
            .field("group", &self.group.bgid)
            .field("id", &self.bid)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("rest", &self.rest)
            .finish()
    }
}

impl Dynamic<'_> {
    /// Allocates a group of `count` buffers of `size` bytes each (up to 16383 buffers of up to
    /// 64 KiB), owned by this `Dynamic`, for receives that pick a buffer when data arrives
    /// ([`RecvBuf`](crate::op::RecvBuf), [`RecvMulti`](crate::op::RecvMulti)). On io_uring
    /// it is a buffer ring registered with the kernel (Linux 5.19; older kernels fail with
    /// the kernel's error); elsewhere a pool the backend takes from.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use corio_aio::op::RecvBuf;
    /// use std::io::Write;
    /// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let b: &'static _ = Box::leak(Box::new(b));
    /// let mut ring = corio_aio::Dynamic::new(4)?;
    /// let group = ring.register_buffer_group(8, 4096)?;
    /// a.write_all(b"hello")?;
    /// let buf = ring.run(RecvBuf::new(b, &group), |_| {})??;
    /// assert_eq!(&buf[..], b"hello");
    /// drop(buf); // back to the group
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn register_buffer_group(&mut self, count: u16, size: usize) -> io::Result<BufferGroup> {
        self.register_buffer_group_with(BufferGroupOptions::new(count, size))
    }

    /// [`register_buffer_group`](Dynamic::register_buffer_group) with options: see
    /// [`BufferGroupOptions`] (an incremental group, say).
    pub fn register_buffer_group_with(&mut self, options: BufferGroupOptions) -> io::Result<BufferGroup> {
        let bgid = u16::try_from(self.groups.len()).map_err(|_| invalid_input("too many buffer groups"))?;
        #[cfg_attr(not(any(target_os = "linux", windows)), allow(unused_mut))]
        let mut options = options;
        if options.bundles && options.incremental {
            return Err(invalid_input("a buffer group takes bundles or is incremental, not both"));
        }
        if options.bundles && options.count as usize * options.size > MAX_SIZE {
            return Err(invalid_input("a buffer group taking bundles holds at most 64 KiB"));
        }
        #[cfg(target_os = "linux")]
        if self.backend.kind() == crate::BackendKind::IoUring && !self.backend.has_bundles() {
            options.bundles = false; // a kernel before 6.10: one buffer per completion, same API
        }
        #[cfg(windows)]
        {
            options.bundles = false; // IOCP receives take one buffer per completion, same API
        }
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut group = Group::new(self.serial, bgid, options)?;
        #[cfg(target_os = "linux")]
        if self.backend.kind() == crate::BackendKind::IoUring {
            let (ring, entries) = group.make_ring()?;
            // The registration outlives nothing it points at: the `Dynamic` keeps the group
            // until its backend (the ring) is gone (module docs).
            let incremental = self.backend.register_buffer_ring(ring, entries, bgid, options.incremental)?;
            if !incremental {
                group.pieces = None; // a kernel before 6.12: whole buffers, same guarantees
            }
        }
        let group = Rc::new(group);
        self.groups.push(Rc::clone(&group));
        Ok(BufferGroup { group })
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_SIZE, decode, encode};

    #[test]
    fn a_count_never_reaches_the_buffer_id() {
        assert_eq!(decode(encode(100, Some(3))), (100, Some(3)));
        assert_eq!(decode(encode(0, None)), (0, None));
        // What a `MSG_TRUNC` receive of a long datagram would report: capped, the id intact.
        assert_eq!(decode(encode(200_000, Some(3))), (MAX_SIZE, Some(3)));
        assert_eq!(decode(encode(u32::MAX, Some(0))), (MAX_SIZE, Some(0)));
    }
}
