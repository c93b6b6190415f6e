//! The ring's own descriptor, registered (`IORING_REGISTER_RING_FDS`, Linux 5.18) so that every
//! `io_uring_enter` passes its index with `IORING_ENTER_REGISTERED_RING` and the kernel skips
//! the descriptor lookup (`fdget`/`fdput`) of each call.
//!
//! The io-uring crate (0.7) keeps the registered index in the `Submitter` that registered it,
//! and `IoUring::submitter()` makes a new one per call, so the index would be lost at once.
//! The backend therefore registers, enters and unregisters through its own syscalls here, and
//! uses the crate for everything else.
//!
//! A registration belongs to the thread that made it (the kernel keeps it in the task's
//! io_uring context, at most 16 per thread) and holds a reference to the ring. Both are fine
//! here: a `Dynamic` is not `Send`, so its backend is entered and dropped on the thread that
//! created it, and the drop unregisters before the ring's descriptor is closed, so the ring
//! (and its registered files and buffers) never outlives the backend. A kernel without it, a
//! thread whose slots are taken, or `ring_fd` in `CORIO_URING_DISABLE` leave the plain
//! descriptor in use, silently.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use io_uring::{EnterFlags, IoUring};

/// `IORING_REGISTER_RING_FDS` and `IORING_UNREGISTER_RING_FDS` (`io_uring.h`).
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;

/// `struct io_uring_rsrc_update` (`io_uring.h`): the argument of the two opcodes above.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// What `io_uring_enter` names the ring by: its registered index, or its descriptor.
pub(super) struct RingFd {
    /// The registered index, or the ring's descriptor.
    enter_fd: RawFd,
    /// `IORING_ENTER_REGISTERED_RING` when `enter_fd` is an index, else 0.
    flag: u32,
}

impl RingFd {
    /// Registers `ring`'s descriptor for the calling thread unless `disabled`; the plain
    /// descriptor if that is off or fails.
    pub(super) fn register(ring: &IoUring, disabled: bool) -> RingFd {
        let plain = RingFd { enter_fd: ring.as_raw_fd(), flag: 0 };
        if disabled {
            return plain;
        }
        // `offset: u32::MAX`: the kernel picks a free slot and writes its index back.
        let mut update = RsrcUpdate { offset: u32::MAX, resv: 0, data: ring.as_raw_fd() as u64 };
        // SAFETY: the register call reads one `io_uring_rsrc_update` from `update` and writes
        // its `offset`; `update` is live and writable for the call.
        let r = unsafe { register(ring.as_raw_fd(), REGISTER_RING_FDS, &mut update) };
        match r {
            Ok(1) if update.offset <= i32::MAX as u32 => {
                RingFd { enter_fd: update.offset as RawFd, flag: EnterFlags::REGISTERED_RING.bits() }
            }
            Ok(_) => plain,
            Err(e) => {
                log::debug!("io_uring: ring fd not registered ({e}); entering by descriptor");
                plain
            }
        }
    }

    /// Whether enters name the ring by its registered index.
    pub(super) fn is_registered(&self) -> bool {
        self.flag != 0
    }

    /// `io_uring_enter` on the ring; returns how many SQEs were submitted.
    ///
    /// # Safety
    ///
    /// `arg`/`arg_size` are what `flags` asks the kernel to read (null and 0 without
    /// `IORING_ENTER_EXT_ARG`), valid for the call; the caller is the thread that registered
    /// (the backend is not `Send`).
    #[inline]
    pub(super) unsafe fn enter(
        &self,
        to_submit: u32,
        min_complete: u32,
        flags: u32,
        arg: *const libc::c_void,
        arg_size: usize,
    ) -> io::Result<usize> {
        // SAFETY: io_uring_enter on our ring (by descriptor, or by the index this thread
        // registered); the kernel reads `arg` as the caller promised.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.enter_fd as libc::c_long,
                to_submit as libc::c_long,
                min_complete as libc::c_long,
                (flags | self.flag) as libc::c_long,
                arg as libc::c_long,
                arg_size as libc::c_long,
            )
        };
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as usize) }
    }

    /// Drops the registration (before the ring's descriptor closes), so that nothing but the
    /// descriptor keeps the ring alive.
    pub(super) fn unregister(&mut self, ring: &IoUring) {
        if !self.is_registered() {
            return;
        }
        let mut update = RsrcUpdate { offset: self.enter_fd as u32, resv: 0, data: 0 };
        // SAFETY: the unregister call reads one `io_uring_rsrc_update`, live for the call.
        if let Err(e) = unsafe { register(ring.as_raw_fd(), UNREGISTER_RING_FDS, &mut update) } {
            log::warn!("io_uring: unregistering the ring fd failed: {e}");
        }
        *self = RingFd { enter_fd: ring.as_raw_fd(), flag: 0 };
    }
}

/// `io_uring_register(fd, opcode, update, 1)`.
///
/// # Safety
///
/// `opcode` takes one `io_uring_rsrc_update` (it may write into it).
unsafe fn register(fd: RawFd, opcode: libc::c_uint, update: &mut RsrcUpdate) -> io::Result<libc::c_long> {
    // SAFETY: `update` is live and writable for the call (caller: the opcode reads one).
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd as libc::c_long,
            opcode as libc::c_long,
            update as *mut RsrcUpdate as libc::c_long,
            1 as libc::c_long,
        )
    };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}
