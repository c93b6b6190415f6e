//! The io_uring backend, through the `io-uring` crate.
//!
//! One SQE per op, built in `prep.rs` (two for [`RawOp::Close`]: a hidden cancel of the descriptor's pending ops,
//! hard-linked to the close; none for a plain timeout). The SQE's `user_data` is the op's
//! [`Id`]; hidden SQEs use [`Id::HIDDEN`] and skip their CQE on success.
//!
//! A timeout outside any chain (unlinked, and not the follower of a link) is not a kernel op:
//! it lives in a user-space heap ([`timers`]), a blocking enter then carries a timeout
//! (`IORING_ENTER_EXT_ARG`) up to the earliest deadline, and each reaping pass first reports
//! the timers that expired. Cancels of those timers are done in user space too. Timeouts in a
//! chain and link timeouts stay kernel ops, so chains behave as the kernel makes them.
//!
//! The ring is set up with the cheapest flags the kernel accepts: `SINGLE_ISSUER |
//! DEFER_TASKRUN` (6.1), else `SINGLE_ISSUER | COOP_TASKRUN` (6.0), else `COOP_TASKRUN` (5.19),
//! else none. Completion processing always enters with `GETEVENTS`, which deferred task work
//! needs. `NODROP` is required: completions that overflow the CQ are kept by the kernel and
//! flushed by the next enter.
//!
//! Registered files (`Dynamic::register_files`): a sparse table (`IORING_REGISTER_FILES2`),
//! filled by `install_file` (`IORING_REGISTER_FILES_UPDATE2`; the kernel takes its own
//! reference and ours is closed) and by direct ops (`file_index`, without close-on-exec, which
//! the kernel refuses there); an op whose `Queued::fixed` is set carries `IOSQE_FIXED_FILE`
//! (re-armed stand-ins too), and a `CloseFixed` gets the hidden cancel of a close, on the
//! slot. The ring's close releases the table.
//!
//! The ring's own descriptor is registered (`IORING_REGISTER_RING_FDS`, 5.18) where the kernel
//! has it, and every enter names the ring by that index ([`ring_fd`]: the crate's `Submitter`
//! would lose it); the drop unregisters it before the ring closes. Completions are read from
//! the backend's own mapping of the CQ ring ([`cq`]), without the crate's per-CQE copy; a CQE
//! with no flags while no post-processing is pending goes straight to the sink.
//!
//! Ops the kernel lacks are probed once per process and still work: `socket`, `bind` and
//! `listen` run as a direct syscall when queued (their result is reported through a
//! placeholder SQE that keeps the chain semantics); `child_exit` without `WAITID` watches a
//! pidfd with `POLL_ADD` and reaps it with `waitid(P_PIDFD)`.

use std::io;
use std::mem::ManuallyDrop;
use std::time::Duration;

use io_uring::squeue::Entry;
use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{EnterFlags, IoUring, opcode};

use super::{Backend, BackendKind, Queued};
use crate::id::Id;
use crate::op::RawOp;
use crate::raw::Link;
use post::Post;
use setup::build;
pub(crate) use setup::{Features, features};
pub(crate) use stream::Stream;
use timers::HeapTimers;

mod cq;
mod fallback;
mod msg_ring;
mod multishot;
mod pbuf;
mod post;
mod prep;
mod ring_fd;
mod setup;
mod stream;
mod timers;

pub(crate) struct Uring {
    ring: IoUring,
    prep: Prep,
    /// SQEs pushed but not yet handed to the kernel.
    unsubmitted: usize,
    /// Messages from other rings (`msg_ring.rs`).
    messages: msg_ring::Messages,
    /// What enters name the ring by: its registered index if it has one.
    ring_fd: ring_fd::RingFd,
    /// The CQ ring, read without the crate's per-CQE copy (`cq.rs`).
    cq: cq::CqRing,
}

impl Drop for Uring {
    fn drop(&mut self) {
        // Before the ring's descriptor closes: a registration would keep the ring alive.
        self.ring_fd.unregister(&self.ring);
    }
}

/// What building SQEs needs besides the ring (kept apart so the submission queue can stay
/// borrowed while a batch is pushed).
struct Prep {
    features: &'static Features,
    /// Per slot, what to do on completion.
    post: Box<[Post]>,
    /// How many slots have a `Post` other than `None`.
    posts_pending: usize,
    /// Timeouts kept out of the kernel.
    timers: HeapTimers,
    /// How many `Post::CancelTimer` are pending: their CQEs make timers complete, which a
    /// kernel wait for more CQEs would not see.
    timer_posts: usize,
    /// The registered buffers, if any (`Dynamic::register_buffers`).
    fixed_bufs: Option<FixedBufs>,
    /// How many stand-in multishot ops are live (`Post::Again`, `multishot.rs`).
    stand_ins: usize,
    /// Stand-in accepts to arm again (pushed after the reaping pass that saw their success).
    rearms: Vec<(Id, Entry)>,
    /// Stand-in accepts canceled while a success was in flight: they end `-ECANCELED` after
    /// the reaping pass that reported that success.
    ended: Vec<Id>,
    /// Descriptors of direct ops to install into the table (`Post::Install`): op, descriptor,
    /// slot; reported once installed, after the reaping pass.
    installs: Vec<(Id, i32, u32)>,
}

/// Where the registered buffers are: `count` of `size` bytes from `base`.
#[derive(Clone, Copy)]
struct FixedBufs {
    base: usize,
    size: usize,
    count: u16,
}

impl FixedBufs {
    /// Whether `[buf, buf + len)` lies in registered buffer `index`, so that a fixed
    /// read or write of it is what the caller meant (else it goes as a plain one).
    fn holds(&self, index: u16, buf: *const u8, len: u32) -> bool {
        let start = self.base + index as usize * self.size;
        let at = buf as usize;
        index < self.count && at >= start && at + len as usize <= start + self.size
    }
}

impl Uring {
    pub(crate) fn new(capacity: u32) -> io::Result<Uring> {
        let features = features()?;
        // Room for a full batch of `capacity` ops even if each needs two SQEs (a close).
        let entries = capacity.saturating_mul(2).clamp(8, 32768).next_power_of_two();
        let (ring, _) = build(entries)?;
        let timers = HeapTimers::new(capacity as usize, features.heap_timers);
        let prep = Prep {
            features,
            post: vec![Post::None; capacity as usize].into(),
            posts_pending: 0,
            timers,
            timer_posts: 0,
            fixed_bufs: None,
            stand_ins: 0,
            rearms: Vec::new(),
            ended: Vec::new(),
            installs: Vec::new(),
        };
        let cq = cq::CqRing::map(&ring)?;
        let ring_fd = ring_fd::RingFd::register(&ring, !features.ring_fd);
        Ok(Uring { ring, prep, unsubmitted: 0, messages: msg_ring::Messages::default(), ring_fd, cq })
    }

    /// The SQEs `batch` takes, as [`Stream::push`] writes them: none for a timeout outside any
    /// chain (a heap timer), two for a close (its hidden cancel), one for any other op.
    fn sqes_for(&self, batch: &[Queued]) -> usize {
        let mut after_link = false;
        let mut sqes = 0;
        for q in batch {
            let heap_timer = matches!(q.op, RawOp::Timeout { .. })
                && q.link == Link::Unlinked
                && !after_link
                && self.prep.timers.enabled;
            // Never linked (a multishot op).
            let heap_timer = heap_timer || matches!(q.op, RawOp::TimeoutMulti { .. }) && self.prep.timers.enabled;
            sqes += match q.op {
                _ if heap_timer => 0,
                RawOp::Close { .. } | RawOp::CloseFixed { .. } => 2,
                _ => 1,
            };
            after_link = q.link != Link::Unlinked;
        }
        sqes
    }

    /// `defer`: commit heap timers only with the stream (it may be rolled back).
    fn start_stream(&mut self, defer: bool) -> Stream<'_> {
        // Timers of a stream rolled back were never armed.
        self.prep.timers.rollback();
        Stream {
            defer,
            sq: ManuallyDrop::new(self.ring.submission()),
            prep: &mut self.prep,
            unsubmitted: &mut self.unsubmitted,
            pushed: 0,
            after_link: false,
        }
    }

    fn push(&mut self, entry: Entry) {
        // SAFETY: the entry's pointers (buffers, slot state) stay valid until its CQE is reaped:
        // the caller's side of the backend contract. Callers check for space first.
        unsafe { self.ring.submission().push(&entry) }.expect("space was reserved");
        self.unsubmitted += 1;
    }

    /// Submits pending SQEs; with `min_complete > 0`, blocks until the CQ holds that many CQEs
    /// or `timeout` passed.
    fn enter(&mut self, min_complete: u32, timeout: Option<Duration>) -> io::Result<()> {
        let flags = EnterFlags::GETEVENTS.bits();
        loop {
            let to_submit = self.unsubmitted as u32;
            let r = match timeout {
                // SAFETY: a plain io_uring_enter on our ring; no extended argument is passed.
                None => unsafe { self.ring_fd.enter(to_submit, min_complete, flags, std::ptr::null(), 0) },
                Some(timeout) => {
                    let ts = Timespec::from(timeout);
                    let args = SubmitArgs::new().timespec(&ts);
                    let flags = flags | EnterFlags::EXT_ARG.bits();
                    let arg = (&raw const args).cast::<libc::c_void>();
                    // SAFETY: with EXT_ARG the argument is an `io_uring_getevents_arg` (which
                    // `SubmitArgs` wraps, `repr(transparent)`), pointing at `ts`; both outlive
                    // the call.
                    unsafe { self.ring_fd.enter(to_submit, min_complete, flags, arg, size_of::<SubmitArgs>()) }
                }
            };
            match r {
                Ok(n) => {
                    self.unsubmitted -= n.min(self.unsubmitted);
                    return Ok(());
                }
                // A timed wait is not restarted with its whole timeout: the caller recomputes
                // it from the deadline. (An interrupted or timed-out enter submitted nothing,
                // else it would report the count.)
                Err(e) if e.raw_os_error() == Some(libc::EINTR) && timeout.is_some() => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // The wait for a heap timer ran out: not an error.
                Err(e) if e.raw_os_error() == Some(libc::ETIME) && timeout.is_some() => return Ok(()),
                // Completions are waiting to be reaped (CQ overflow on old kernels, or no
                // memory for more in-flight requests): the caller reaps, then calls again.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn reap(&mut self, sink: &mut impl FnMut(Id, i32, bool)) -> usize {
        let mut n = self.prep.timers.reap(sink);
        // The iterator publishes the CQ head when dropped (after the loop, also while unwinding
        // from a panicking `sink`): CQEs not yet handed out stay queued for the next call.
        for (user_data, res, flags) in self.cq.reap() {
            if user_data as u32 >= msg_ring::FIRST_RESERVED_SLOT {
                if user_data != Id::HIDDEN {
                    n += self.messages.reserved_cqe(user_data, res);
                }
                continue;
            }
            let id = Id::from_u64(user_data);
            // The common case, kept small: a single-shot op with nothing to post-process.
            if flags == 0 && self.prep.posts_pending == 0 {
                n += 1;
                sink(id, res, false);
                continue;
            }
            if let Some((res, more)) = self.prep.finish_cqe(id, res, flags) {
                n += 1;
                sink(id, res, more);
            }
        }
        while let Some((id, fd, slot)) = self.prep.installs.pop() {
            n += 1;
            sink(id, self.install(fd, slot), false);
        }
        // Stand-in multishot accepts canceled while a success was in flight (`multishot.rs`).
        while let Some(id) = self.prep.ended.pop() {
            n += 1;
            sink(id, -libc::ECANCELED, false);
        }
        // Heap timers canceled by linked cancels that just completed.
        n + self.prep.timers.reap_canceled(sink)
    }

    /// Puts `fd`, just opened by a direct op's plain form, into `slot` of the table; the op's
    /// result (0, as the kernel's direct op into a chosen slot, or the error that closed it).
    #[cold]
    fn install(&mut self, fd: i32, slot: u32) -> i32 {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: a plain accept or open succeeded: `fd` is its new descriptor, which nothing
        // else owns (the op's result is decoded as a slot, not as a descriptor).
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        match self.install_file(slot, file) {
            Ok(()) => 0,
            Err(e) => -e.raw_os_error().unwrap_or(libc::EINVAL),
        }
    }

    /// Submits the pending SQEs so that `sqes` more fit; returns whether they do now. Out of
    /// line: queueing a batch inlines the common case, a queue with room.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, sqes: usize) -> io::Result<bool> {
        self.enter(0, None)?;
        Ok(self.ring.params().sq_entries() as usize - self.ring.submission().len() >= sqes)
    }

    /// Arms again the stand-in multishot accepts whose success was just reaped.
    fn rearm(&mut self) -> io::Result<()> {
        while !self.prep.rearms.is_empty() {
            if self.ring.submission().is_full() {
                self.enter(0, None)?;
            }
            let (id, entry) = self.prep.rearms.pop().expect("checked");
            // An accept points at no memory (no peer address is asked for).
            self.push(entry.user_data(id.to_u64()));
        }
        Ok(())
    }
}

// SAFETY: every accepted op gets one SQE whose `user_data` is its id (plus hidden SQEs whose
// CQEs are skipped), or a heap timer; each CQE or fired timer is reported once, and the
// kernel touches an op's memory only until its CQE is posted. A batch is checked for room
// before any SQE is pushed, and SQEs are published only by `commit` (see `Stream`).
unsafe impl Backend for Uring {
    fn kind(&self) -> BackendKind {
        BackendKind::IoUring
    }

    /// The setup flags in use and the ops that run through a fallback.
    fn describe(&self) -> String {
        let f = self.prep.features;
        let missing: Vec<&str> = [
            (opcode::Socket::CODE, "socket"),
            (opcode::Bind::CODE, "bind"),
            (opcode::Listen::CODE, "listen"),
            (opcode::WaitId::CODE, "waitid"),
            (opcode::LinkAt::CODE, "linkat"),
            (opcode::Ftruncate::CODE, "ftruncate"),
            (opcode::GetXattr::CODE, "xattr"),
            (opcode::ReadMulti::CODE, "read_multi"),
        ]
        .into_iter()
        .filter(|(code, _)| !f.supports(*code))
        .map(|(_, name)| name)
        .chain((!f.accept_multi).then_some("accept_multi"))
        .chain((!f.recv_multi).then_some("recv_multi"))
        .collect();
        let timers = if f.heap_timers { "" } else { "; kernel timeouts" };
        let ring_fd = if self.ring_fd.is_registered() { "; registered ring fd" } else { "" };
        if missing.is_empty() {
            format!("io_uring ({}{timers}{ring_fd})", f.setup)
        } else {
            format!("io_uring ({}; fallbacks for {}{timers}{ring_fd})", f.setup, missing.join(", "))
        }
    }

    unsafe fn queue(&mut self, batch: &[Queued]) -> io::Result<()> {
        let cap = self.ring.params().sq_entries() as usize;
        let free = cap - self.ring.submission().len();
        // Every op needs at most two SQEs: count exactly only when that bound does not fit (a
        // batch of heap timers may be larger than the ring).
        let need = if 2 * batch.len() <= free { batch.len() } else { self.sqes_for(batch) };
        if need > cap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("batch needs {need} submission entries; the ring has {cap}"),
            ));
        }
        if free < need {
            self.enter(0, None)?;
            if cap - self.ring.submission().len() < need {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "submission queue is full"));
            }
        }
        // Every check has passed: from here on nothing fails, so side effects are safe (heap
        // timers are committed at once, where a cancel later in the batch finds them).
        let mut stream = self.start_stream(false);
        for q in batch {
            stream.push(q);
        }
        // SAFETY: forwarded from the caller.
        unsafe { stream.commit() };
        Ok(())
    }

    /// Starts pushing a batch of `n` ops straight into the submission queue while they are
    /// prepared, if the queue surely has room for them (two SQEs per op; pending SQEs are
    /// submitted first if that makes room). `None`: use [`queue`](Backend::queue) instead.
    ///
    /// Nothing is visible to the kernel before [`Stream::commit`]; a stream dropped without it
    /// (an op of the batch failed, or a panic) rolls the whole batch back.
    #[inline]
    fn stream(&mut self, n: usize) -> io::Result<Option<Stream<'_>>> {
        let cap = self.ring.params().sq_entries() as usize;
        if 2 * n > cap || (cap - self.ring.submission().len() < 2 * n && !self.make_room(2 * n)?) {
            return Ok(None);
        }
        Ok(Some(self.start_stream(true)))
    }

    /// Submits and reaps; with `min > 0`, waits until the CQ holds `min` CQEs (clamped to its
    /// size, which it could not exceed) before reaping, or until a later enter has one.
    fn submit(&mut self, min: usize, mut sink: impl FnMut(Id, i32, bool)) -> io::Result<()> {
        let wait = min > 0;
        // Heap timers start with the SQEs submitted alongside, as kernel timeouts would.
        self.prep.timers.start();
        let cq = self.ring.completion();
        // The kernel waits until the CQ holds `min_complete` entries, counting those already
        // there: no wait is needed once enough are.
        let min = if cq.len() >= min { 0 } else { min.min(cq.capacity()) as u32 };
        drop(cq);
        self.wait(min)?;
        self.sent();
        let mut reaped = 0;
        loop {
            reaped += self.reap(&mut sink);
            if !self.prep.rearms.is_empty() {
                self.rearm()?;
            }
            // With NODROP, CQEs that did not fit are held by the kernel until an enter flushes
            // them; also submit whatever a full submission queue left behind.
            if self.ring.submission().cq_overflow() || self.unsubmitted > 0 {
                self.enter(0, None)?;
                continue;
            }
            // A wait that ended for a heap timer not quite due yet (or interrupted) reaped
            // nothing: wait again. (Counted over the passes: a pass that only submitted what
            // the one before left, re-armed accepts say, must not make a wait of a call that
            // already reported something.)
            if reaped > 0 || !wait {
                return Ok(());
            }
            self.wait(1)?;
        }
    }

    fn ring_target(&self) -> Option<crate::dynamic::RingTarget> {
        self.message_target()
    }

    fn send_message(&mut self, target: &crate::dynamic::RingTarget) -> io::Result<()> {
        self.queue_message(target)
    }

    fn take_messages(&mut self) -> u32 {
        self.messages_taken()
    }

    #[inline]
    fn has_messages(&self) -> bool {
        self.messages_waiting()
    }

    /// Cancels every op in `live`: heap timers here (they complete `-ECANCELED` at the next
    /// reaping pass), kernel ops through the kernel.
    fn cancel(&mut self, live: &mut dyn Iterator<Item = Id>) -> io::Result<()> {
        for id in live {
            if self.prep.timers.cancel_any(id) {
                continue;
            }
            self.prep.cancel_stand_in(id);
            if self.ring.submission().is_full() {
                self.enter(0, None)?;
            }
            let entry = opcode::AsyncCancel::new(id.to_u64()).build().user_data(Id::HIDDEN);
            self.push(entry);
        }
        self.enter(0, None)
    }

    fn set_timer_spin(&mut self, spin: Duration) {
        self.prep.timers.set_spin(spin);
    }

    fn register_buffers(&mut self, base: *mut u8, size: usize, count: u16) -> io::Result<()> {
        let iovecs: Vec<libc::iovec> = (0..count as usize)
            // SAFETY: `base` spans `count` buffers of `size` bytes (caller).
            .map(|i| libc::iovec { iov_base: unsafe { base.add(i * size) }.cast(), iov_len: size })
            .collect();
        // SAFETY: the caller keeps the memory valid until this backend (the ring, whose close
        // unregisters it) is dropped.
        unsafe { self.ring.submitter().register_buffers(&iovecs)? };
        self.prep.fixed_bufs = Some(FixedBufs { base: base as usize, size, count });
        Ok(())
    }

    fn register_files(&mut self, capacity: u32) -> io::Result<()> {
        self.ring.submitter().register_files_sparse(capacity)
    }

    fn install_file(&mut self, slot: u32, file: crate::sys::Owned) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // The kernel takes its own reference to the file; ours is closed when `file` drops.
        let n = self.ring.submitter().register_files_update(slot, &[file.as_raw_fd()])?;
        if n == 1 { Ok(()) } else { Err(io::Error::from_raw_os_error(libc::EINVAL)) }
    }

    /// The ring stays as it is (more ops than it has entries may be in flight: the SQ is
    /// submitted when full, and NODROP keeps overflowing CQEs); the per-slot tables grow.
    fn grow(&mut self, capacity: usize) -> bool {
        let mut post = std::mem::take(&mut self.prep.post).into_vec();
        post.resize(capacity.max(post.len()), Post::None);
        self.prep.post = post.into();
        self.prep.timers.grow(capacity);
        true
    }

    fn has_bundles(&self) -> bool {
        self.prep.features.bundles
    }

    fn multishot_holds_files(&self) -> bool {
        // The stand-ins re-arm by descriptor number (`multishot.rs`).
        self.prep.features.accept_multi && self.prep.features.recv_multi
    }

    fn register_buffer_ring(&mut self, ring: *mut u8, entries: u16, bgid: u16, incremental: bool) -> io::Result<bool> {
        // SAFETY: `ring` holds `entries` page-aligned entries, which the caller keeps valid
        // until this backend (the ring, whose close unregisters it) is dropped.
        unsafe { pbuf::register(&self.ring.submitter(), ring, entries, bgid, incremental) }
    }
}
