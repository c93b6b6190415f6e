//! Multishot ops on io_uring: the kernel's multishot request where it has one, else a
//! stand-in that re-arms a single-shot request after each completion.
//!
//! Multishot accept came with Linux 5.19 (the release of `IORING_OP_SOCKET`, which the probe
//! uses to tell), multishot receive with 6.0 (that of `IORING_OP_SEND_ZC`). Before, the
//! kernel rejects the multishot flag, so [`RawOp::AcceptMulti`] becomes a plain accept and
//! [`RawOp::RecvMulti`] a plain receive selecting a buffer of its group, whose every success
//! is reported with `more` and followed by the next single-shot op (same `user_data`), pushed
//! by the next reaping pass ([`Prep::again`]): never a silently single-shot op. A receive of 0
//! bytes (end of stream) or an error (`ENOBUFS` with the group empty) ends it, as the kernel's
//! multishot request would. A cancel that reaches the backend while a success is in flight
//! (the kernel's cancel found nothing armed) is remembered: that success is reported with
//! `more`, then the op ends `-ECANCELED`, as the kernel's multishot request would.
//! `CORIO_URING_DISABLE=accept_multi` (`recv_multi`) forces the stand-in, to test it on a
//! newer kernel.
//!
//! Multishot read came with 6.7 (`IORING_OP_READ_MULTISHOT`, probed itself): before, or with
//! `CORIO_URING_DISABLE=read_multi`, [`RawOp::ReadMulti`] is a plain read selecting a buffer
//! of its group, re-armed the same way; the kernel's refusal of what cannot be polled
//! (`EBADFD`) is kept by an `fstat` when the op is prepared (not for a registered slot). A
//! read has no `POLL_FIRST`: a re-armed read picks its buffer at once, so an empty group ends
//! it then (`ENOBUFS`), not when data arrives as the kernel's multishot read does.

use io_uring::opcode;
use io_uring::squeue::{Entry, Flags};
use io_uring::types::{DestinationSlot, Fd};

use super::{Post, Prep};
use crate::dynamic::groups::{self, Group};
use crate::id::Id;
use crate::op::RawOp;
use crate::raw::RawFd;

impl Prep {
    /// The SQE of a multishot accept (see the module docs).
    pub(super) fn accept_multi(&mut self, id: Id, op: RawOp, fixed: bool) -> Entry {
        let (fd, flags, direct) = match op {
            RawOp::AcceptMulti { fd, flags } => (fd, flags, false),
            // A direct descriptor is no descriptor: the kernel refuses close-on-exec.
            RawOp::AcceptMultiDirect { fd, flags } => (fd, flags & !libc::SOCK_CLOEXEC, true),
            _ => unreachable!("an accept_multi"),
        };
        if self.features.accept_multi {
            return opcode::AcceptMulti::new(Fd(fd)).flags(flags).allocate_file_index(direct).build();
        }
        self.stand_in(id, op, fixed)
    }

    /// The SQE of a multishot receive into a provided-buffer group (see the module docs).
    pub(super) fn recv_multi(&mut self, id: Id, op: RawOp, fixed: bool) -> Entry {
        let RawOp::RecvMulti { fd, group, flags } = op else { unreachable!("a recv_multi") };
        if self.features.recv_multi {
            // SAFETY: the op's state holds the group alive until its final completion.
            let (bgid, bundles) = unsafe { ((*group).bgid, (*group).takes_bundles()) };
            if bundles {
                return opcode::RecvMultiBundle::new(Fd(fd), bgid).flags(flags).build();
            }
            return opcode::RecvMulti::new(Fd(fd), bgid).flags(flags).build();
        }
        self.stand_in(id, op, fixed)
    }

    /// The SQE of a multishot read into a provided-buffer group (see the module docs).
    pub(super) fn read_multi(&mut self, id: Id, op: RawOp, fixed: bool) -> Entry {
        let RawOp::ReadMulti { fd, group } = op else { unreachable!("a read_multi") };
        if self.features.supports(opcode::ReadMulti::CODE) {
            // SAFETY: the op's state holds the group alive until its final completion.
            let bgid = unsafe { (*group).bgid };
            // Length 0: each buffer's size (6.7 refuses any other length).
            return opcode::ReadMulti::new(Fd(fd), 0, bgid).build();
        }
        // The kernel refuses what cannot be polled; single reads would read it through.
        // A slot's file cannot be checked from here (documented on `ReadMulti`).
        if !fixed && unpollable(fd) {
            self.set_post(id, Post::Refused(-libc::EBADFD));
            return opcode::Close::new(Fd(-1)).build();
        }
        self.stand_in(id, op, fixed)
    }

    fn stand_in(&mut self, id: Id, op: RawOp, fixed: bool) -> Entry {
        self.set_post(id, Post::Again { id, op, canceled: false, fixed });
        self.stand_ins += 1;
        single_shot(op, fixed)
    }

    /// A cancel of `target` is on its way to the kernel (a [`Cancel`](crate::op::Cancel) op
    /// or the drop path): a stand-in whose success is already in flight must not be re-armed.
    pub(super) fn cancel_stand_in(&mut self, target: Id) {
        if self.stand_ins == 0 {
            return;
        }
        if let Some(Post::Again { id, canceled, .. }) = self.post.get_mut(target.slot() as usize)
            && *id == target
        {
            *canceled = true;
        }
    }

    /// The completion of a stand-in: `(res, more)` to report. A success re-arms it (pushed
    /// by the caller from `rearms`) unless it was canceled, which ends it after this report
    /// (`ended`); a failure, or a receive's end of stream, ends it.
    pub(super) fn again(&mut self, id: Id, res: i32, op: RawOp, canceled: bool, fixed: bool) -> (i32, bool) {
        let goes_on = match op {
            RawOp::RecvMulti { .. } | RawOp::ReadMulti { .. } => res > 0 && groups::decode(res).0 > 0,
            _ => res >= 0,
        };
        if !goes_on {
            self.stand_ins -= 1;
            return (res, false);
        }
        if canceled {
            self.stand_ins -= 1;
            self.ended.push(id);
        } else {
            self.set_post(id, Post::Again { id, op, canceled: false, fixed });
            self.rearms.push((id, single_shot(op, fixed)));
        }
        (res, true)
    }
}

/// The single-shot op standing in for a multishot `op`: an accept that does not ask for the
/// peer's address (as the multishot one), or a receive selecting a buffer of its group.
fn single_shot(op: RawOp, fixed: bool) -> Entry {
    let entry = match op {
        RawOp::AcceptMulti { fd, flags } => {
            opcode::Accept::new(Fd(fd), std::ptr::null_mut(), std::ptr::null_mut()).flags(flags).build()
        }
        // Into any free slot of the registered file table, as the multishot one.
        RawOp::AcceptMultiDirect { fd, flags } => {
            opcode::Accept::new(Fd(fd), std::ptr::null_mut(), std::ptr::null_mut())
                .flags(flags & !libc::SOCK_CLOEXEC)
                .file_index(Some(DestinationSlot::auto_target()))
                .build()
        }
        // Poll first: the buffer is picked once data is there, so an empty group ends the
        // op when data arrives (as the kernel's multishot receive does once armed), not at
        // once on every re-arm.
        RawOp::RecvMulti { fd, group, flags } => recv_with(fd, group, flags, RECVSEND_POLL_FIRST),
        // At the current position (pipes and the like have none), as the kernel's.
        RawOp::ReadMulti { fd, group } => {
            // SAFETY: the op's state holds the group alive until its final completion.
            let (bgid, size) = unsafe { ((*group).bgid, (*group).buffer(0).1) };
            opcode::Read::new(Fd(fd), std::ptr::null_mut(), size)
                .offset(u64::MAX)
                .buf_group(bgid)
                .build()
                .flags(Flags::BUFFER_SELECT)
        }
        _ => unreachable!("{} has no stand-in", op.name()),
    };
    // A re-arm targets the same registered slot as the op it stands in for.
    if fixed { entry.flags(Flags::FIXED_FILE) } else { entry }
}

/// Whether `fd` is a regular file, a directory or a block device: what the kernel's
/// multishot read refuses (`EBADFD`) because it cannot be polled. An `fstat` that fails says
/// no: the read then fails as the kernel's would (`EBADF`).
fn unpollable(fd: RawFd) -> bool {
    // SAFETY: `stat` is plain old data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into a live `stat`.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return false;
    }
    matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR)
}

/// `IORING_RECVSEND_POLL_FIRST` (5.19, as buffer rings): wait for readiness before the first
/// attempt.
const RECVSEND_POLL_FIRST: u16 = 1;

/// `IORING_RECVSEND_BUNDLE` (6.10): a receive may fill several buffers of its group.
const RECVSEND_BUNDLE: u16 = 16;

/// A single receive on `fd` into a buffer the kernel picks from `group` (up to its size).
pub(super) fn recv_selecting(fd: RawFd, group: *const Group, flags: i32) -> Entry {
    recv_with(fd, group, flags, 0)
}

fn recv_with(fd: RawFd, group: *const Group, flags: i32, mut ioprio: u16) -> Entry {
    // SAFETY: the op's state holds the group alive until its final completion.
    let (bgid, mut size, bundles) = unsafe { ((*group).bgid, (*group).buffer(0).1, (*group).takes_bundles()) };
    if bundles {
        // As many buffers as the data fills (the whole group holds at most 64 KiB).
        ioprio |= RECVSEND_BUNDLE;
        size = 0;
    }
    opcode::Recv::new(Fd(fd), std::ptr::null_mut(), size)
        .buf_group(bgid)
        .flags(flags)
        .ioprio(ioprio)
        .build()
        .flags(Flags::BUFFER_SELECT)
}
