//! fs, registered: the 4 KiB random reads of [`super::fs`] with io_uring's two levers for file
//! reads, registered buffers (`IORING_OP_READ_FIXED`: no page mapping per read) and a
//! registered file (`IOSQE_FIXED_FILE`: no descriptor lookup and file reference per read).
//! corio-aio (`Dynamic::register_buffers`, `register_files`, `ReadFixed` on `Fixed(0)`)
//! against a raw `io-uring` loop that does the same: same ring flags, queue depth, file and
//! offsets, one buffer per slot of the queue.
//!
//! Both sides check every read in full: the sum of its 512 words must be that of the words at
//! its offset (each 8-byte word at offset `o` holds `o`), and the first word is poisoned before
//! each read is queued, so a read that did not happen (or landed elsewhere) fails the run.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corio_aio::op::{Fixed, OpExt, ReadFixed};
use corio_aio::{Dynamic, FixedBuf, Mode, Value};

use super::fs::Plan;

const SIZE: usize = 4096;
/// What the first word of a buffer holds while its read is in flight: no offset in the file.
const POISON: u64 = u64::MAX;
/// The registered file's slot.
const FILE: Fixed = Fixed(0);

/// The sum (wrapping) of the 8-byte words of `buf`.
fn checksum(buf: &[u8]) -> u64 {
    buf.chunks_exact(8).fold(0u64, |sum, w| sum.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes"))))
}

/// The checksum of a read of `SIZE` bytes at `offset`: the words `offset`, `offset + 8`, ….
fn expected(offset: u64) -> u64 {
    let words = (SIZE / 8) as u64;
    words.wrapping_mul(offset).wrapping_add(8 * words * (words - 1) / 2)
}

fn check(buf: &[u8], offset: u64) -> io::Result<()> {
    let got = checksum(&buf[..SIZE]);
    if got != expected(offset) {
        return Err(io::Error::other(format!("read at {offset}: checksum {got:#x}, expected {:#x}", expected(offset))));
    }
    Ok(())
}

fn poison(buf: &mut [u8]) {
    buf[..8].copy_from_slice(&POISON.to_le_bytes());
}

pub(super) fn corio(plan: &Plan) -> io::Result<Duration> {
    assert_eq!(plan.size, SIZE, "the registered case reads 4 KiB");
    let file = File::open(super::fs::path())?;
    let mut ring = Dynamic::new(64)?;
    ring.register_buffers(plan.qd as u16, SIZE)?;
    ring.register_files(1)?;
    ring.install_file(FILE, file)?;
    let mut pending = vec![0u64; plan.qd];
    let mut next = plan.offsets.iter().copied();
    let mut done: Vec<(usize, io::Result<Value>)> = Vec::with_capacity(plan.qd);
    let queue = |ring: &mut Dynamic<'static>, slot: usize, mut buf: FixedBuf, off: u64| -> io::Result<()> {
        poison(&mut buf);
        ring.queue(ReadFixed::new(&FILE, buf).offset(off).user_data(slot as u64))?;
        Ok(())
    };
    let start = Instant::now();
    for (slot, pending) in pending.iter_mut().enumerate() {
        if let Some(off) = next.next() {
            *pending = off;
            let buf = ring.buffer().expect("a buffer per slot");
            queue(&mut ring, slot, buf, off)?;
        }
    }
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| done.push((c.user_data as usize, c.result)))?;
        for (slot, result) in done.drain(..) {
            let buf = match result {
                Ok(Value::Buf { len: SIZE, buf }) => buf,
                other => return Err(io::Error::other(format!("read at {}: {other:?}", pending[slot]))),
            };
            check(&buf, pending[slot])?;
            if let Some(off) = next.next() {
                pending[slot] = off;
                queue(&mut ring, slot, buf, off)?;
            }
        }
    }
    Ok(start.elapsed())
}

/// Page-aligned memory for the raw loop's registered buffers.
struct Slab {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Slab {
    fn new(len: usize) -> Slab {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: `len` is not zero (a queue depth of at least 1).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Slab { ptr, layout }
    }

    /// Buffer `slot`, `SIZE` bytes.
    ///
    /// # Safety
    /// `slot` is in bounds, no read is in flight into it, and no other reference to it is live
    /// (which is why it may hand out `&mut` from `&self`).
    #[allow(clippy::mut_from_ref)]
    unsafe fn buf(&self, slot: usize) -> &mut [u8] {
        // SAFETY: in bounds (the caller's promise) of the live allocation, initialized; the
        // caller touches it only while no read is in flight into it.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(slot * SIZE), SIZE) }
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the ring (declared after the slab)
        // is gone, and with it its registration.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

pub(super) fn raw(plan: &Plan) -> io::Result<Duration> {
    use io_uring::{opcode, types};
    assert_eq!(plan.size, SIZE, "the registered case reads 4 KiB");
    let file = File::open(super::fs::path())?;
    // Declared before the ring, so it outlives the ring and its registration.
    let slab = Slab::new(plan.qd * SIZE);
    let mut ring = io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_clamp()
        .setup_cqsize(128)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(64)?;
    let iovecs: Vec<libc::iovec> = (0..plan.qd)
        // SAFETY: in bounds; no read is in flight yet.
        .map(|slot| libc::iovec { iov_base: unsafe { slab.buf(slot) }.as_mut_ptr().cast(), iov_len: SIZE })
        .collect();
    // SAFETY: the buffers outlive the ring (see above) and are touched only between reads.
    unsafe { ring.submitter().register_buffers(&iovecs)? };
    ring.submitter().register_files(&[file.as_raw_fd()])?;
    let read = |slot: usize, off: u64| {
        opcode::ReadFixed::new(types::Fixed(0), iovecs[slot].iov_base.cast(), SIZE as u32, slot as u16)
            .offset(off)
            .build()
            .user_data(slot as u64)
    };
    let mut pending = vec![0u64; plan.qd];
    let mut next = plan.offsets.iter().copied();
    let mut in_flight = 0;
    let mut done: Vec<(usize, i32)> = Vec::with_capacity(plan.qd);
    let start = Instant::now();
    for (slot, pending) in pending.iter_mut().enumerate() {
        if let Some(off) = next.next() {
            *pending = off;
            // SAFETY: in bounds; its read is not queued yet.
            poison(unsafe { slab.buf(slot) });
            // SAFETY: the file is registered and the buffer outlives the loop, which reaps
            // every read.
            unsafe { ring.submission().push(&read(slot, off)).expect("sq space") };
            in_flight += 1;
        }
    }
    while in_flight > 0 {
        ring.submit_and_wait(1)?;
        done.extend(ring.completion().map(|c| (c.user_data() as usize, c.result())));
        for (slot, res) in done.drain(..) {
            in_flight -= 1;
            if res != SIZE as i32 {
                return Err(io::Error::other(format!("read at {}: result {res}", pending[slot])));
            }
            // SAFETY: in bounds; its read completed.
            let buf = unsafe { slab.buf(slot) };
            check(buf, pending[slot])?;
            if let Some(off) = next.next() {
                pending[slot] = off;
                poison(buf);
                // SAFETY: as above; this slot's previous read has completed.
                unsafe { ring.submission().push(&read(slot, off)).expect("sq space") };
                in_flight += 1;
            }
        }
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_checksum_matches_the_file_layout() {
        let off = 4096 * 77;
        let buf: Vec<u8> = (0..SIZE as u64 / 8).flat_map(|i| (off + 8 * i).to_le_bytes()).collect();
        assert_eq!(checksum(&buf), expected(off));
        let mut poisoned = buf.clone();
        poison(&mut poisoned);
        assert_ne!(checksum(&poisoned), expected(off));
    }
}
