//! Registering a group's buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19), incremental
//! where asked for and where the kernel has it (`IOU_PBUF_RING_INC`, 6.12). A kernel without
//! it refuses the flag (`EINVAL`): the ring is then registered plain, and the group takes
//! whole buffers (`dynamic/groups/pieces.rs`). `CORIO_URING_DISABLE=pbuf_inc` plays such a
//! kernel.

use std::io;

use io_uring::Submitter;

use super::setup;

/// `IOU_PBUF_RING_INC`: the kernel consumes a buffer piecewise, keeping it at the ring's head
/// until nothing is left of it.
const PBUF_RING_INC: u16 = 2;

/// Registers the buffer ring at `ring` as group `bgid`; whether it is incremental.
///
/// # Safety
///
/// `ring` holds `entries` page-aligned `io_uring_buf` entries, valid until the ring whose
/// `submitter` this is is closed (which unregisters it).
pub(super) unsafe fn register(
    submitter: &Submitter<'_>,
    ring: *mut u8,
    entries: u16,
    bgid: u16,
    incremental: bool,
) -> io::Result<bool> {
    if incremental && setup::features()?.pbuf_inc {
        // SAFETY: the caller's.
        match unsafe { submitter.register_buf_ring_with_flags(ring as u64, entries, bgid, PBUF_RING_INC) } {
            Ok(()) => return Ok(true),
            // Before 6.12: an unknown flag. Nothing was registered; plain it is.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                log::debug!("io_uring: no incremental buffer rings (kernel < 6.12); whole buffers");
            }
            Err(e) => return Err(e),
        }
    }
    // SAFETY: the caller's.
    unsafe { submitter.register_buf_ring_with_flags(ring as u64, entries, bgid, 0) }?;
    Ok(false)
}
