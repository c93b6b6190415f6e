//! The io_uring mapping of every op: the SQE each `RawOp` becomes ([`Prep::entry`]), and
//! whether building it can be rolled back ([`Prep::streamable`]).
//!
//! Adding an op: its arm here (see ARCHITECTURE.md, "Adding an op").

use std::os::fd::AsRawFd;

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::{self, DestinationSlot, Fd, FsyncFlags, TimeoutFlags, Timespec};

use super::fallback::watch_child;
use super::multishot::recv_selecting;
use super::{Post, Prep};
use crate::backend::Queued;
use crate::op::RawOp;
use crate::raw::OpState;

impl Prep {
    // Inlined: where the op is known (a batch of one op type), only its arm remains.
    #[inline(always)]
    pub(super) fn entry(&mut self, q: &Queued, after_link: bool) -> Entry {
        // SAFETY: `q.state` points at the op's slot state, valid and not otherwise borrowed
        // while the backend queues it.
        let state = unsafe { &mut *q.state };
        match q.op {
            RawOp::Nop {} => opcode::Nop::new().build(),
            RawOp::Fsync { fd, datasync } => {
                let flags = if datasync { FsyncFlags::DATASYNC } else { FsyncFlags::empty() };
                opcode::Fsync::new(Fd(fd)).flags(flags).build()
            }
            RawOp::Poll { fd, events } => opcode::PollAdd::new(Fd(fd), events).build(),
            RawOp::Read { fd, buf, len, offset } => opcode::Read::new(Fd(fd), buf, len).offset(offset).build(),
            RawOp::Write { fd, buf, len, offset } => opcode::Write::new(Fd(fd), buf, len).offset(offset).build(),
            // Built as plain reads and writes if the buffer is not this ring's registered one
            // (a `FixedBuf` of another `Dynamic`).
            RawOp::ReadFixed { fd, buf, len, offset, index } => match self.fixed_bufs {
                Some(bufs) if bufs.holds(index, buf, len) => {
                    opcode::ReadFixed::new(Fd(fd), buf, len, index).offset(offset).build()
                }
                _ => opcode::Read::new(Fd(fd), buf, len).offset(offset).build(),
            },
            RawOp::WriteFixed { fd, buf, len, offset, index } => match self.fixed_bufs {
                Some(bufs) if bufs.holds(index, buf, len) => {
                    opcode::WriteFixed::new(Fd(fd), buf, len, index).offset(offset).build()
                }
                _ => opcode::Write::new(Fd(fd), buf, len).offset(offset).build(),
            },
            RawOp::Readv { fd, iov, iovcnt, offset } => opcode::Readv::new(Fd(fd), iov, iovcnt).offset(offset).build(),
            RawOp::Writev { fd, iov, iovcnt, offset } => {
                opcode::Writev::new(Fd(fd), iov, iovcnt).offset(offset).build()
            }
            RawOp::ReadTty { fd, buf, len } => opcode::Read::new(Fd(fd), buf, len).offset(u64::MAX).build(),
            RawOp::Accept { fd, flags } => {
                let OpState::Addr { addr, len } = state else { unreachable!() };
                opcode::Accept::new(Fd(fd), (&raw mut *addr).cast(), len).flags(flags).build()
            }
            RawOp::AcceptMultiDirect { .. } if !self.features.direct_alloc => self.refuse(q.id, -libc::EOPNOTSUPP),
            RawOp::AcceptMulti { .. } | RawOp::AcceptMultiDirect { .. } => self.accept_multi(q.id, q.op, q.fixed),
            RawOp::AcceptDirect { slot, .. } | RawOp::OpenAtDirect { slot, .. } if !self.direct_in_kernel(slot) => {
                self.direct_by_hand(q, slot)
            }
            RawOp::SocketDirect { slot, .. }
                if !self.direct_in_kernel(slot) || !self.features.supports(opcode::Socket::CODE) =>
            {
                self.direct_by_hand(q, slot)
            }
            RawOp::AcceptDirect { fd, flags, slot } => {
                let OpState::Addr { addr, len } = state else { unreachable!() };
                // A direct descriptor is no descriptor: the kernel refuses close-on-exec.
                opcode::Accept::new(Fd(fd), (&raw mut *addr).cast(), len)
                    .flags(flags & !libc::SOCK_CLOEXEC)
                    .file_index(Some(dest(slot)))
                    .build()
            }
            RawOp::OpenAtDirect { dir, flags, mode, slot } => {
                let OpState::Path(path) = state else { unreachable!() };
                opcode::OpenAt::new(Fd(dir), path.as_ptr())
                    .flags(flags & !libc::O_CLOEXEC)
                    .mode(mode)
                    .file_index(Some(dest(slot)))
                    .build()
            }
            RawOp::SocketDirect { domain, ty, protocol, slot } => {
                opcode::Socket::new(domain, ty & !libc::SOCK_CLOEXEC, protocol).file_index(Some(dest(slot))).build()
            }
            RawOp::CloseFixed { slot } => opcode::Close::new(types::Fixed(slot)).build(),
            RawOp::Connect { fd } => {
                let OpState::Addr { addr, len } = state else { unreachable!() };
                opcode::Connect::new(Fd(fd), (&raw const *addr).cast(), *len).build()
            }
            RawOp::Bind { fd } => {
                let OpState::Addr { addr, len } = state else { unreachable!() };
                if self.features.supports(opcode::Bind::CODE) {
                    opcode::Bind::new(Fd(fd), (&raw const *addr).cast(), *len).build()
                } else {
                    self.fallback(q, after_link)
                }
            }
            RawOp::Listen { fd, backlog } => {
                if self.features.supports(opcode::Listen::CODE) {
                    opcode::Listen::new(Fd(fd), backlog).build()
                } else {
                    self.fallback(q, after_link)
                }
            }
            RawOp::Recv { fd, buf, len, flags } => opcode::Recv::new(Fd(fd), buf, len).flags(flags).build(),
            RawOp::RecvBuf { fd, group, flags } => recv_selecting(fd, group, flags),
            RawOp::RecvMulti { .. } => self.recv_multi(q.id, q.op, q.fixed),
            RawOp::ReadMulti { .. } => self.read_multi(q.id, q.op, q.fixed),
            RawOp::Send { flags, .. } if flags & libc::MSG_WAITALL != 0 && !self.features.send_wait_all => {
                // Before 5.19 the kernel would complete a partial send as a success (and go on
                // with the chain): refuse what `Send::wait_all` promises.
                self.set_post(q.id, Post::Refused(-libc::EOPNOTSUPP));
                opcode::Close::new(Fd(-1)).build()
            }
            RawOp::Send { fd, buf, len, flags } => opcode::Send::new(Fd(fd), buf, len).flags(flags).build(),
            RawOp::SendZc { fd, buf, len, flags } => {
                if self.features.supports(opcode::SendZc::CODE) {
                    self.set_post(q.id, Post::ZeroCopy);
                    opcode::SendZc::new(Fd(fd), buf, len).flags(flags).build()
                } else {
                    opcode::Send::new(Fd(fd), buf, len).flags(flags).build()
                }
            }
            // Built without the registered index if the buffer is not this ring's registered
            // one (a `FixedBuf` of another `Dynamic`), as a plain send before 6.0.
            RawOp::SendZcFixed { fd, buf, len, flags, index } => {
                if self.features.supports(opcode::SendZc::CODE) {
                    self.set_post(q.id, Post::ZeroCopy);
                    let registered = self.fixed_bufs.is_some_and(|bufs| bufs.holds(index, buf.cast_mut(), len));
                    opcode::SendZc::new(Fd(fd), buf, len).buf_index(registered.then_some(index)).flags(flags).build()
                } else {
                    opcode::Send::new(Fd(fd), buf, len).flags(flags).build()
                }
            }
            RawOp::SendMsgZc { fd, flags } => {
                let OpState::Msg(msg) = state else { unreachable!() };
                if self.features.supports(opcode::SendMsgZc::CODE) {
                    self.set_post(q.id, Post::ZeroCopy);
                    opcode::SendMsgZc::new(Fd(fd), &raw const msg.hdr).flags(flags as u32).build()
                } else {
                    opcode::SendMsg::new(Fd(fd), &raw const msg.hdr).flags(flags as u32).build()
                }
            }
            RawOp::RecvMsg { fd, flags } => {
                let OpState::Msg(msg) = state else { unreachable!() };
                opcode::RecvMsg::new(Fd(fd), &raw mut msg.hdr).flags(flags as u32).build()
            }
            RawOp::SendMsg { fd, flags } => {
                let OpState::Msg(msg) = state else { unreachable!() };
                opcode::SendMsg::new(Fd(fd), &raw const msg.hdr).flags(flags as u32).build()
            }
            RawOp::Shutdown { fd, how } => opcode::Shutdown::new(Fd(fd), how).build(),
            RawOp::OpenAt { dir, flags, mode } => {
                let OpState::Path(path) = state else { unreachable!() };
                opcode::OpenAt::new(Fd(dir), path.as_ptr()).flags(flags).mode(mode).build()
            }
            RawOp::Close { fd } => opcode::Close::new(Fd(fd)).build(),
            RawOp::Timeout { .. } => {
                let OpState::Timespec(ts) = state else { unreachable!() };
                opcode::Timeout::new(timespec(ts)).flags(TimeoutFlags::ETIME_SUCCESS).build()
            }
            RawOp::LinkTimeout { .. } => {
                let OpState::Timespec(ts) = state else { unreachable!() };
                opcode::LinkTimeout::new(timespec(ts)).build()
            }
            // Here only without the heap (`push` puts it there otherwise): the kernel's
            // multishot timeout (6.4; 6.7's opcode tells), else refused.
            RawOp::TimeoutMulti { count, .. } => {
                let OpState::Timespec(ts) = state else { unreachable!() };
                if self.features.supports(opcode::ReadMulti::CODE) {
                    opcode::Timeout::new(timespec(ts)).count(count).flags(TimeoutFlags::MULTISHOT).build()
                } else {
                    self.set_post(q.id, Post::Refused(-libc::EOPNOTSUPP));
                    opcode::Close::new(Fd(-1)).build()
                }
            }
            RawOp::Cancel { target } => {
                self.cancel_stand_in(target);
                self.cancel(q.id, target, after_link)
            }
            RawOp::RenameAt { old_dir, new_dir, flags } => {
                let OpState::Paths(old, new) = state else { unreachable!() };
                let flags = if flags & crate::raw::RENAME_NOREPLACE != 0 { libc::RENAME_NOREPLACE } else { 0 };
                opcode::RenameAt::new(Fd(old_dir), old.as_ptr(), Fd(new_dir), new.as_ptr()).flags(flags).build()
            }
            RawOp::UnlinkAt { dir, flags } => {
                let OpState::Path(path) = state else { unreachable!() };
                opcode::UnlinkAt::new(Fd(dir), path.as_ptr()).flags(flags).build()
            }
            RawOp::MkdirAt { dir, mode } => {
                let OpState::Path(path) = state else { unreachable!() };
                opcode::MkDirAt::new(Fd(dir), path.as_ptr()).mode(mode).build()
            }
            RawOp::SymlinkAt { dir } => {
                let OpState::Paths(target, link) = state else { unreachable!() };
                opcode::SymlinkAt::new(Fd(dir), target.as_ptr(), link.as_ptr()).build()
            }
            RawOp::LinkAt { old_dir, new_dir, flags } => {
                if self.features.supports(opcode::LinkAt::CODE) {
                    let OpState::Paths(old, new) = state else { unreachable!() };
                    opcode::LinkAt::new(Fd(old_dir), old.as_ptr(), Fd(new_dir), new.as_ptr()).flags(flags).build()
                } else {
                    self.fallback(q, after_link)
                }
            }
            // The four xattr opcodes came together (5.19): one probe (`GetXattr`) answers for all.
            RawOp::GetXattr { .. } | RawOp::SetXattr { .. } if !self.features.supports(opcode::GetXattr::CODE) => {
                self.fallback(q, after_link)
            }
            RawOp::GetXattr { fd, value, len } => match state {
                OpState::Path(name) => opcode::FGetXattr::new(Fd(fd), name.as_ptr(), value.cast(), len).build(),
                OpState::Paths(name, path) => {
                    opcode::GetXattr::new(name.as_ptr(), value.cast(), path.as_ptr(), len).build()
                }
                _ => unreachable!(),
            },
            RawOp::SetXattr { fd, value, len, flags } => match state {
                OpState::Path(name) => {
                    opcode::FSetXattr::new(Fd(fd), name.as_ptr(), value.cast(), len).flags(flags).build()
                }
                OpState::Paths(name, path) => {
                    opcode::SetXattr::new(name.as_ptr(), value.cast(), path.as_ptr(), len).flags(flags).build()
                }
                _ => unreachable!(),
            },
            RawOp::Statx { dir, flags, buf } => {
                let OpState::Path(path) = state else { unreachable!() };
                // `FileStat` is a transparent `struct statx` on Linux.
                opcode::Statx::new(Fd(dir), path.as_ptr(), buf.cast())
                    .flags(crate::op::fs::statx_at_flags(flags))
                    .mask(crate::op::fs::STATX_MASK)
                    .build()
            }
            RawOp::Fallocate { fd, offset, len, mode } => {
                opcode::Fallocate::new(Fd(fd), len).offset(offset).mode(mode).build()
            }
            RawOp::Ftruncate { fd, len } => {
                if self.features.supports(opcode::Ftruncate::CODE) {
                    opcode::Ftruncate::new(Fd(fd), len).build()
                } else {
                    self.fallback(q, after_link)
                }
            }
            RawOp::Fadvise { fd, offset, len, advice } => {
                opcode::Fadvise::new(Fd(fd), len as libc::off_t, advice).offset(offset).build()
            }
            RawOp::Madvise { addr, len, advice } => {
                opcode::Madvise::new(addr.cast_const().cast(), len as libc::off_t, advice).build()
            }
            RawOp::ChildExit { pid } => {
                let OpState::Child(child) = state else { unreachable!() };
                if self.features.supports(opcode::WaitId::CODE) {
                    opcode::WaitId::new(libc::P_PID, pid as libc::id_t, libc::WEXITED)
                        .infop(&raw const child.info)
                        .build()
                } else {
                    match watch_child(pid) {
                        Ok(pidfd) => {
                            let fd = pidfd.as_raw_fd();
                            child.pidfd = Some(pidfd);
                            self.set_post(q.id, Post::ReapPidfd(q.state));
                            opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32).build()
                        }
                        Err(e) => self.run_now(q.id, -e.raw_os_error().unwrap_or(libc::EIO)),
                    }
                }
            }
            RawOp::Socket { domain, ty, protocol } => {
                if self.features.supports(opcode::Socket::CODE) {
                    opcode::Socket::new(domain, ty, protocol).build()
                } else {
                    self.fallback(q, after_link)
                }
            }
            RawOp::Splice { fd_in, off_in, fd_out, off_out, len, flags } => {
                opcode::Splice::new(Fd(fd_in), off_in, Fd(fd_out), off_out, len).flags(flags).build()
            }
            RawOp::Notify { fd } => {
                let OpState::Counter(value) = state else { unreachable!() };
                opcode::Write::new(Fd(fd), (&raw const *value).cast(), 8).offset(u64::MAX).build()
            }
            RawOp::Wait { fd } => {
                let OpState::Counter(value) = state else { unreachable!() };
                opcode::Read::new(Fd(fd), (&raw mut *value).cast(), 8).offset(u64::MAX).build()
            }
        }
    }

    /// Whether building `op`'s SQE has no side effect (no syscall fallback, no post-processing
    /// set up, no heap timer canceled), so that it can be rolled back by not publishing it.
    #[inline(always)]
    pub(super) fn streamable(&self, op: &RawOp) -> bool {
        let code = match op {
            // A cancel also marks a stand-in multishot accept (`multishot.rs`).
            RawOp::Cancel { .. } => return self.timers.is_idle() && self.stand_ins == 0,
            RawOp::AcceptMulti { .. } => return self.features.accept_multi,
            RawOp::AcceptMultiDirect { .. } => return self.features.accept_multi && self.features.direct_alloc,
            // Installed or refused through a post where the kernel cannot (see `entry`).
            RawOp::AcceptDirect { slot, .. } | RawOp::OpenAtDirect { slot, .. } => return self.direct_in_kernel(*slot),
            RawOp::SocketDirect { slot, .. } => {
                return self.features.supports(opcode::Socket::CODE) && self.direct_in_kernel(*slot);
            }
            RawOp::RecvMulti { .. } => return self.features.recv_multi,
            // The stand-in sets a post (`multishot.rs`).
            RawOp::ReadMulti { .. } => opcode::ReadMulti::CODE,
            // In the heap as a plain timeout, or refused through a post (see `entry`).
            RawOp::TimeoutMulti { .. } => {
                return self.timers.enabled || self.features.supports(opcode::ReadMulti::CODE);
            }
            RawOp::Bind { .. } => opcode::Bind::CODE,
            RawOp::Listen { .. } => opcode::Listen::CODE,
            RawOp::Socket { .. } => opcode::Socket::CODE,
            RawOp::ChildExit { .. } => opcode::WaitId::CODE,
            RawOp::Ftruncate { .. } => opcode::Ftruncate::CODE,
            RawOp::LinkAt { .. } => opcode::LinkAt::CODE,
            // Sets a post (`Post::ZeroCopy`), which a rolled-back stream would leave behind.
            RawOp::SendZc { .. } | RawOp::SendZcFixed { .. } => return !self.features.supports(opcode::SendZc::CODE),
            RawOp::SendMsgZc { .. } => return !self.features.supports(opcode::SendMsgZc::CODE),
            RawOp::GetXattr { .. } | RawOp::SetXattr { .. } => opcode::GetXattr::CODE,
            // Refused through a post (see `entry`), which a rolled-back stream would leave on
            // the slot: such a send goes through `queue`, past every check.
            RawOp::Send { flags, .. } if flags & libc::MSG_WAITALL != 0 => return self.features.send_wait_all,
            _ => return true,
        };
        self.features.supports(code)
    }
}

impl Prep {
    /// Whether the kernel opens straight into `slot` (a chosen one, or any).
    #[inline]
    fn direct_in_kernel(&self, slot: u32) -> bool {
        if slot == crate::op::target::ANY_SLOT { self.features.direct_alloc } else { self.features.direct }
    }

    /// A direct op on a kernel without direct descriptors (5.15) or without picking a free
    /// slot (5.19): its plain form, whose descriptor is installed into the chosen slot when
    /// reaped (`Post::Install`); refused (`EOPNOTSUPP`) for any slot, and a socket without
    /// the `SOCKET` opcode (its fallback syscall cannot reach the table).
    #[cold]
    fn direct_by_hand(&mut self, q: &Queued, slot: u32) -> Entry {
        let plain = q.op.direct().map(|(plain, _)| plain).expect("a direct op");
        let by_syscall = matches!(plain, RawOp::Socket { .. }) && !self.features.supports(opcode::Socket::CODE);
        if slot == crate::op::target::ANY_SLOT || by_syscall {
            return self.refuse(q.id, -libc::EOPNOTSUPP);
        }
        self.set_post(q.id, Post::Install(slot));
        // SAFETY: `q.state` points at the op's slot state (as in `entry`).
        let state = unsafe { &mut *q.state };
        match plain {
            RawOp::Accept { fd, flags } => {
                let OpState::Addr { addr, len } = state else { unreachable!() };
                opcode::Accept::new(Fd(fd), (&raw mut *addr).cast(), len).flags(flags).build()
            }
            RawOp::OpenAt { dir, flags, mode } => {
                let OpState::Path(path) = state else { unreachable!() };
                opcode::OpenAt::new(Fd(dir), path.as_ptr()).flags(flags).mode(mode).build()
            }
            RawOp::Socket { domain, ty, protocol } => opcode::Socket::new(domain, ty, protocol).build(),
            _ => unreachable!("no direct form of {}", plain.name()),
        }
    }

    /// Refuses an op the kernel cannot run as asked: a placeholder that fails, reported as
    /// `err` (`Post::Refused`).
    fn refuse(&mut self, id: crate::id::Id, err: i32) -> Entry {
        self.set_post(id, Post::Refused(err));
        opcode::Close::new(Fd(-1)).build()
    }
}

/// A direct op's slot as the kernel takes it (`ANY_SLOT`: `IORING_FILE_INDEX_ALLOC`).
fn dest(slot: u32) -> DestinationSlot {
    if slot == crate::op::target::ANY_SLOT {
        DestinationSlot::auto_target()
    } else {
        // Below `MAX_FILES`: checked when the op was prepared.
        DestinationSlot::try_from_slot_target(slot).expect("a slot below MAX_FILES")
    }
}

fn timespec(ts: &crate::raw::Timespec) -> *const Timespec {
    // `Timespec` is a transparent wrapper of `__kernel_timespec`, which has the layout of ours
    // (two `i64`s, repr(C)).
    (ts as *const crate::raw::Timespec).cast()
}
