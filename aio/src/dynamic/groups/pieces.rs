//! Incremental consumption of a group's buffers ([`BufferGroupOptions::incremental`]): a
//! receive takes only what it needs of a buffer, the next one goes on where it stopped, so a
//! 64 KiB buffer may hold hundreds of small messages instead of one.
//!
//! On io_uring the group's ring is registered with `IOU_PBUF_RING_INC` (Linux 6.12): the
//! kernel keeps a buffer at the ring's head and advances the entry's address and length by
//! each receive, moving the head past it only once its length reaches zero. Each completion
//! names the same buffer id; the bytes are where the previous piece of that buffer ended.
//! The emulations do the same with the buffer they are filling ([`Group::take_room`]).
//!
//! Per buffer, user space counts the bytes handed out (`handed`: the next piece's offset)
//! and the live guards over its pieces (`guards`). A buffer returns to the ring (its tail, a
//! fresh entry of the whole buffer) when both hold:
//!
//! * the kernel is done with it: `handed == size`. The kernel advances a buffer by exactly
//!   each receive's byte count (never more: a datagram's excess is cut, and the guard's
//!   length is clamped to what is left, as the kernel clamps), and leaves its head only when
//!   nothing is left, so `handed == size` is exactly "the head moved past it". This needs no
//!   `IORING_CQE_F_BUF_MORE`, which the result encoding has no room for, and is also right for
//!   a 0-byte completion (end of stream) that names a buffer without consuming any of it;
//! * no guard over a piece of it is alive: `guards == 0`.
//!
//! Why the views are sound: the completions of a buffer's pieces are handed out in order, so
//! the guards' slices tile `[0, handed)`, disjoint from each other; every handed-out byte was
//! consumed by a receive before its completion was posted, so `handed` never passes the
//! kernel's own offset, and the kernel (or driver) writes only at or beyond it. The buffer
//! goes back to the ring only after the last guard is gone. A guard outliving its `Dynamic`
//! keeps the group alive (`Rc`), as any `ProvidedBuf`.
//!
//! The order is the one the completions are reaped in: right for one receive at a time on a
//! group (each op's completions are in order); ops sharing a group see pieces with the right
//! bytes only as far as the kernel posts their completions in the order it filled the buffer.

use std::cell::Cell;

use super::{Group, Recycle};

/// How to make a buffer group ([`Dynamic::register_buffer_group_with`]): `count` buffers of
/// `size` bytes (up to 16383 buffers of up to 64 KiB), and whether a receive may take only a
/// piece of a buffer.
///
/// ```
/// # #[cfg(unix)] {
/// use corio_aio::{BufferGroupOptions, op::RecvBuf};
/// use std::io::Write;
/// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
/// let b: &'static _ = Box::leak(Box::new(b));
/// let mut ring = corio_aio::Dynamic::new(4)?;
/// // One buffer of 4 KiB, consumed piecewise (where the kernel can: else whole).
/// let group = ring.register_buffer_group_with(BufferGroupOptions::new(1, 4096).incremental())?;
/// a.write_all(b"hello")?;
/// let first = ring.run(RecvBuf::new(b, &group), |_| {})??;
/// let first_id = first.buffer_id();
/// assert_eq!(&first[..], b"hello");
/// if !group.is_incremental() {
///     drop(first); // whole buffers: the only one must come back first
/// }
/// a.write_all(b"world")?;
/// let second = ring.run(RecvBuf::new(b, &group), |_| {})??;
/// assert_eq!(&second[..], b"world");
/// if group.is_incremental() {
///     // The same buffer went on after the first piece, which is still held.
///     assert_eq!((second.buffer_id(), second.offset()), (first_id, 5));
/// }
/// # }
/// # std::io::Result::Ok(())
/// ```
///
/// [`Dynamic::register_buffer_group_with`]: crate::Dynamic::register_buffer_group_with
#[derive(Debug, Clone, Copy)]
#[must_use = "options do nothing until passed to Dynamic::register_buffer_group_with"]
pub struct BufferGroupOptions {
    pub(super) count: u16,
    pub(super) size: usize,
    pub(super) incremental: bool,
    pub(super) bundles: bool,
}

impl BufferGroupOptions {
    /// `count` buffers of `size` bytes, each taken whole by a receive.
    pub fn new(count: u16, size: usize) -> Self {
        BufferGroupOptions { count, size, incremental: false, bundles: false }
    }

    /// Consumes buffers incrementally: a receive takes a piece of a buffer (as many bytes as
    /// arrived), the next one goes on after it, and the buffer returns to the group once it
    /// is full and every [`ProvidedBuf`](crate::ProvidedBuf) over a piece of it is dropped.
    /// Each guard derefs to exactly its bytes ([`offset`](crate::ProvidedBuf::offset) tells
    /// where they lie in the buffer).
    ///
    /// io_uring needs Linux 6.12 (`IOU_PBUF_RING_INC`); before (or with
    /// `CORIO_URING_DISABLE=pbuf_inc`) the group takes whole buffers, with the same guarantees
    /// for every guard ([`BufferGroup::is_incremental`](crate::BufferGroup::is_incremental)
    /// tells). The emulations (posix, IOCP) fill their buffers piecewise the same way.
    pub fn incremental(mut self) -> Self {
        self.incremental = true;
        self
    }

    /// Lets a receive fill several buffers and complete once for all of them (a bundle): the
    /// [`ProvidedBuf`](crate::ProvidedBuf) then holds them all, read with
    /// [`chunks`](crate::ProvidedBuf::chunks) (it derefs to the first buffer's bytes only;
    /// [`total_len`](crate::ProvidedBuf::total_len) counts all), and returns them all when
    /// dropped. Fewer completions when data arrives faster than it is taken.
    ///
    /// A completion's byte count goes beside a buffer id in one result, so such a group holds
    /// at most 64 KiB in all (`count × size`), and it cannot also be
    /// [`incremental`](BufferGroupOptions::incremental): `InvalidInput` at registration.
    /// io_uring needs Linux 6.10 (`IORING_RECVSEND_BUNDLE`); before (or with
    /// `CORIO_URING_DISABLE=bundle`) each completion takes one buffer, the same API
    /// ([`BufferGroup::takes_bundles`](crate::BufferGroup::takes_bundles) tells). posix fills
    /// up to 16 buffers with one `recvmsg`; IOCP takes one buffer per completion.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use corio_aio::{BufferGroupOptions, op::RecvBuf};
    /// use std::io::Write;
    /// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let b: &'static _ = Box::leak(Box::new(b));
    /// let mut ring = corio_aio::Dynamic::new(4)?;
    /// let group = ring.register_buffer_group_with(BufferGroupOptions::new(8, 1024).bundles())?;
    /// a.write_all(&[7; 3000])?;
    /// let mut got = 0;
    /// while got < 3000 {
    ///     let buf = ring.run(RecvBuf::new(b, &group), |_| {})??;
    ///     // Up to three buffers of 1 KiB in one completion.
    ///     assert_eq!(buf.chunks().map(<[u8]>::len).sum::<usize>(), buf.total_len());
    ///     got += buf.total_len();
    /// }
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bundles(mut self) -> Self {
        self.bundles = true;
        self
    }
}

/// The bookkeeping of an incremental group (see the module docs).
pub(super) struct Pieces {
    /// Per buffer: the bytes handed out to guards so far (the next piece's offset).
    handed: Box<[Cell<u32>]>,
    /// Per buffer: the guards alive over its pieces.
    guards: Box<[Cell<u32>]>,
    /// The emulations: the buffer their receives are filling and how far (its free room is
    /// what the kernel would still own); `None`: the next receive takes a free buffer.
    filling: Cell<Option<(u16, u32)>>,
}

impl Pieces {
    pub(super) fn new(count: u16) -> Pieces {
        Pieces {
            handed: (0..count).map(|_| Cell::new(0)).collect(),
            guards: (0..count).map(|_| Cell::new(0)).collect(),
            filling: Cell::new(None),
        }
    }

    /// A completion of `len` bytes into buffer `bid` (of `size` bytes): the guard's
    /// `(bid, offset, len)`. No bytes: no buffer (the kernel consumed none of it).
    pub(super) fn hand_out(&self, bid: u16, len: usize, size: u32) -> (Option<u16>, u32, usize) {
        let handed = &self.handed[bid as usize];
        let offset = handed.get();
        // Never past the buffer's end, as the kernel advances by at most what is left.
        let len = len.min((size - offset) as usize);
        if len == 0 {
            return (None, 0, 0);
        }
        handed.set(offset + len as u32);
        let guards = &self.guards[bid as usize];
        guards.set(guards.get() + 1);
        (Some(bid), offset, len)
    }

    /// A guard over a piece of `bid` dropped: whether the buffer goes back to the ring now
    /// (then it starts again from offset 0).
    pub(super) fn release(&self, bid: u16, size: u32) -> bool {
        let guards = &self.guards[bid as usize];
        guards.set(guards.get() - 1);
        let handed = &self.handed[bid as usize];
        if guards.get() == 0 && handed.get() == size {
            handed.set(0);
            return true;
        }
        false
    }
}

/// Where a receive of the emulations writes: `len` bytes at `ptr`, in buffer `bid`.
#[cfg_attr(target_os = "wasi", allow(dead_code))] // no sockets there
pub(crate) struct Room {
    pub(crate) bid: u16,
    pub(crate) ptr: *mut u8,
    pub(crate) len: u32,
}

#[cfg_attr(target_os = "wasi", allow(dead_code))] // no sockets there
impl Group {
    /// Room for a receive the driver runs (emulations): a whole free buffer, or in an
    /// incremental group what is left of the buffer being filled. `None` if the group is
    /// empty. Report what was received with [`filled`](Group::filled) or
    /// [`unused`](Group::unused).
    pub(crate) fn take_room(&self) -> Option<Room> {
        let (bid, at) = match &self.pieces {
            Some(pieces) => match pieces.filling.get() {
                Some(filling) => filling,
                None => {
                    let bid = self.take()?;
                    pieces.filling.set(Some((bid, 0)));
                    (bid, 0)
                }
            },
            None => (self.take()?, 0),
        };
        let (ptr, size) = self.buffer(bid);
        // SAFETY: `at < size` (a full buffer stops being filled), so it stays in the buffer.
        Some(Room { bid, ptr: unsafe { ptr.add(at as usize) }, len: size - at })
    }

    /// Whether a receive would find room: a free buffer, or one being filled.
    #[cfg_attr(not(windows), allow(dead_code))] // IOCP's check before its wait
    pub(crate) fn has_room(&self) -> bool {
        self.pieces.as_ref().is_some_and(|p| p.filling.get().is_some())
            || self.bundles.as_ref().is_some_and(|b| b.has_free())
            || matches!(&self.recycle, Recycle::Pool(free) if !free.borrow().is_empty())
    }

    /// `n` bytes (at least 1) were received into `room`; its result is [`encode`]d as
    /// `(n, room.bid)`. In an incremental group a full buffer stops being filled.
    ///
    /// [`encode`]: super::encode
    pub(crate) fn filled(&self, room: &Room, n: u32) {
        if let Some(pieces) = &self.pieces {
            let at = self.size - room.len + n.min(room.len);
            pieces.filling.set((at < self.size).then_some((room.bid, at)));
        }
    }

    /// Nothing was received into `room` (an error, `EAGAIN`, the end of the stream): a whole
    /// buffer goes back to the group; a piece stays where it was, as in the kernel.
    pub(crate) fn unused(&self, room: Room) {
        if let Some(bundles) = &self.bundles {
            bundles.untake(1); // still next in line (it was the last taken)
        } else if self.pieces.is_none() {
            self.give_back(room.bid);
        }
    }

    /// Whether receives of this group may fill several buffers (`bundles.rs`).
    #[cfg_attr(windows, allow(dead_code))] // io_uring's and posix's
    pub(crate) fn takes_bundles(&self) -> bool {
        self.bundles.is_some()
    }

    /// A bundle group (emulations): the last `n` rooms taken were not used, and stay next in
    /// line, in order.
    #[cfg_attr(windows, allow(dead_code))] // posix's
    pub(crate) fn untake(&self, n: u32) {
        if let Some(bundles) = &self.bundles {
            bundles.untake(n);
        }
    }

    /// Whether an arrival of `len` bytes into buffer `bid` filled less than the room it had
    /// (right after [`filled`](Group::filled)): the socket's queue was emptied.
    #[cfg_attr(windows, allow(dead_code))] // the posix driver's
    pub(crate) fn arrival_was_short(&self, bid: u16, len: usize) -> bool {
        match &self.pieces {
            Some(pieces) => pieces.filling.get().is_some_and(|(b, _)| b == bid),
            // A bundle's room was several buffers: not known here, so never short (one more
            // attempt, which finds nothing).
            None if self.bundles.is_some() => false,
            None => len < self.size as usize,
        }
    }
}
