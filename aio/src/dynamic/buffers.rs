//! Registered buffers: memory a `Dynamic` owns and registers with the kernel once
//! ([`Dynamic::register_buffers`]), handed out one buffer at a time as a [`FixedBuf`] and
//! used by [`ReadFixed`](crate::op::ReadFixed) and [`WriteFixed`](crate::op::WriteFixed),
//! which spare io_uring mapping the user pages of every transfer.
//!
//! Why it is sound:
//!
//! * The memory is one allocation, never moved, freed only when the `Dynamic` and every
//!   `FixedBuf` are gone (each holds an `Rc` of it). A leaked `Dynamic` leaks it; the ring is
//!   closed (which unregisters it) before the `Dynamic` drops its own reference, and by then
//!   no op is in flight.
//! * Each buffer belongs to one `FixedBuf` at a time (a free list hands out indices), so its
//!   `&mut [u8]` view is unique. An op takes the `FixedBuf` by value and keeps it in its slot
//!   state until it completes, so nothing can touch the buffer while the kernel may; the
//!   completion hands it back, or (if the op failed) it returns to the free list.
//! * A `FixedBuf` used on another `Dynamic` is valid memory all the same: io_uring then reads
//!   or writes it as a plain buffer (its registration is checked when the SQE is built).

use std::alloc::Layout;
use std::cell::RefCell;
use std::io;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::rc::Rc;

use super::Dynamic;
use crate::backend::Backend;
use crate::error::invalid_input;

/// The registered memory: `count` buffers of `size` bytes, page-aligned, zeroed at first.
pub(crate) struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
    size: usize,
    /// The indices not held by a `FixedBuf`.
    free: RefCell<Vec<u16>>,
}

impl Region {
    fn new(count: u16, size: usize) -> io::Result<Region> {
        let total = size.checked_mul(count as usize).filter(|&t| t > 0 && t <= isize::MAX as usize / 2);
        let total = total.ok_or_else(|| invalid_input("registered buffers need a size and count, within memory"))?;
        if u32::try_from(size).is_err() {
            return Err(invalid_input("a registered buffer of 4 GiB or more"));
        }
        let layout = Layout::from_size_align(total, 4096).map_err(|_| invalid_input("registered buffers too large"))?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(Region { ptr, layout, size, free: RefCell::new((0..count).rev().collect()) })
    }

    /// The first byte of buffer `index`.
    pub(crate) fn buffer_ptr(&self, index: u16) -> *mut u8 {
        // SAFETY: `index < count` for every index handed out, so the offset is inside the
        // allocation.
        unsafe { self.ptr.as_ptr().add(index as usize * self.size) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the last `Rc` is gone, so no buffer
        // is in use (no op holds one, no `FixedBuf` exists).
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// One registered buffer of a [`Dynamic`], owned: read and write it as a `[u8]` (its whole
/// size), move it into a [`ReadFixed`](crate::op::ReadFixed) or
/// [`WriteFixed`](crate::op::WriteFixed), and get it back from the op's output. Dropping it
/// returns it to its `Dynamic`'s free list.
pub struct FixedBuf {
    /// Released by `drop` itself (see there).
    region: ManuallyDrop<Rc<Region>>,
    index: u16,
}

impl FixedBuf {
    /// Its index in the registered table (`buf_index` of the SQE).
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Where the op reads or writes (the buffer's first byte), for the raw op.
    pub(crate) fn as_mut_ptr(&self) -> *mut u8 {
        self.region.buffer_ptr(self.index)
    }
}

impl std::ops::Deref for FixedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is inside the live allocation, `size` bytes long, initialized
        // (zeroed at first), and only this `FixedBuf` hands out views of it.
        unsafe { std::slice::from_raw_parts(self.as_mut_ptr(), self.region.size) }
    }
}

impl std::ops::DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes the view unique.
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), self.region.size) }
    }
}

impl Drop for FixedBuf {
    // Everything out of line, in this one call: the drop glue of what holds a `FixedBuf` (a
    // `Value`, so every `Completion`) stays small enough to be inlined where it is dropped,
    // per completion.
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: taken once, here; `self.region` is not used after.
        let region = unsafe { ManuallyDrop::take(&mut self.region) };
        region.free.borrow_mut().push(self.index);
    }
}

impl std::fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBuf").field("index", &self.index).field("len", &self.region.size).finish()
    }
}

impl Dynamic<'_> {
    /// Allocates `count` buffers of `size` bytes each, owned by this `Dynamic`, and registers
    /// them with the kernel (io_uring's `IORING_REGISTER_BUFFERS`; the other backends use
    /// them as plain memory). Take one with [`buffer`](Dynamic::buffer). Once per `Dynamic`:
    /// a second call fails with `ErrorKind::AlreadyExists`.
    ///
    /// The kernel pins registered memory: it counts against `RLIMIT_MEMLOCK` on kernels
    /// before 5.12, where a large registration may fail with `ENOMEM`.
    ///
    /// ```
    /// use corio_aio::op;
    /// let path = std::env::temp_dir().join("corio-doc-fixed-buffers");
    /// let file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
    /// let mut ring = corio_aio::Dynamic::new(4)?;
    /// ring.register_buffers(2, 4096)?;
    /// let mut buf = ring.buffer().expect("a free buffer");
    /// buf[..5].copy_from_slice(b"hello");
    /// let (written, buf) = ring.run(op::WriteFixed::new(&file, buf, 5).offset(0), |_| {})??;
    /// assert_eq!(written, 5);
    /// drop(buf); // back to the free list
    /// let buf = ring.buffer().expect("a free buffer");
    /// let (read, buf) = ring.run(op::ReadFixed::new(&file, buf).offset(0), |_| {})??;
    /// assert_eq!(&buf[..read], b"hello");
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn register_buffers(&mut self, count: u16, size: usize) -> io::Result<()> {
        if self.buffers.is_some() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "this Dynamic has registered buffers already"));
        }
        let region = Rc::new(Region::new(count, size)?);
        // The registration outlives nothing it points at: the `Dynamic` keeps the region
        // until its backend (the ring) is gone.
        self.backend.register_buffers(region.ptr.as_ptr(), size, count)?;
        self.buffers = Some(region);
        Ok(())
    }

    /// A free registered buffer, or `None` if every one is in use (or none were registered).
    pub fn buffer(&self) -> Option<FixedBuf> {
        let region = self.buffers.as_ref()?;
        let index = region.free.borrow_mut().pop()?;
        Some(FixedBuf { region: ManuallyDrop::new(Rc::clone(region)), index })
    }
}
