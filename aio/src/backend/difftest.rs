//! Differential test: seeded random batches run on io_uring and on posix must give identical
//! raw results per op.
//!
//! Each round queues a batch A (nops, short timeouts, pipe write→(poll→)read transfers, reads
//! of a bad descriptor, "endless" ops (long timeouts, reads and polls of empty pipes, waits on
//! an empty eventfd, receives on idle sockets), ops without readiness (fsync, a failing open,
//! a failing mkdir, ftruncate, a failing fadvise and linkat; never cancel targets, as a worker may have taken them or not) guarded by short link timeouts, short ops guarded by long link timeouts,
//! endless ops left for B to cancel; units joined by random soft, hard or no
//! links), then a batch B of cancels (of A's ops, of stale ids, of ids that never existed)
//! closes of pipe read ends (which cancel what is parked on them) and sends to the sockets,
//! with random links, and
//! completes everything in one go. Both backends see both batches in
//! one submission, so the outcome is deterministic except for timing, which the durations
//! keep far apart (link timeouts of 10 ms only guard endless ops; 1–3 ms timeouts are only
//! guarded by 500 ms link timeouts).
//!
//! One ordering is timing-dependent in the kernel and left out: when an op completes during
//! the submission (say, a timeout that a cancel of B stops), io_uring starts its chain
//! successor from task work, after other completions of the same submission were flushed, so a
//! cancel that is itself a chain successor in B may or may not find that op started; the
//! engine starts successors strictly in completion order. So cancels of A's ops are generated
//! only at the head of a chain of B (they then run in the submission's first pass, before any
//! successor, on both backends).
//!
//! Results are compared raw, except that a link timeout's `-ECANCELED`/`-ENOENT`/`-EALREADY`
//! (all "disarmed", timing-dependent in the kernel) are one class, and a timeout's `-ETIME`
//! is 0. `CORIO_DIFF_SEED=<n>` replays a seed; the seed is printed on failure.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::{AnyBackend, Backend, BackendKind, Queued};
use crate::id::{Id, IdAllocator};
use crate::op::RawOp;
use crate::raw::{Link, OpState, Timespec};

const CAPACITY: u32 = 64;
/// Long timeouts never run out within a round (a link timeout or a cancel stops them first);
/// their length is only a margin against a heavily loaded machine delaying either backend.
const LONG_MS: u64 = 5_000;

#[derive(Clone, Copy, Debug)]
enum Target {
    A(usize),
    Stale,
    Bogus,
}

#[derive(Clone, Copy, Debug)]
enum Spec {
    Nop,
    ShortTimeout(u64),
    LongTimeout,
    LinkTimeout(u64),
    Write(usize, u32),
    Read(usize, u32),
    BadRead,
    Cancel(Target),
    /// Ops that wait for readiness (never satisfied): a read or a poll of an empty pipe, a
    /// wait on an eventfd without units.
    ParkRead(usize),
    ParkPoll(usize),
    ParkWait,
    /// A close of a pipe's read end (which cancels the ops parked on it).
    ClosePipe(usize),
    /// A poll for input on a pipe that has some (after a write of the same chain).
    PollReady(usize),
    /// A receive on a socket of a pair, parked until B sends on the other end.
    ParkRecv(usize),
    /// A send of `n` bytes to a socket pair's receiving end.
    SendSock(usize, u32),
    /// Ops without readiness (the posix pool, io_uring's io-wq): an fsync of a file, an open
    /// of a missing path, a mkdir of an existing one, a truncate of a file, an fadvise with a
    /// bad advice (which fails its link), a hard link of a missing path (which does not).
    Fsync,
    OpenMissing,
    MkdirExisting,
    Ftruncate,
    FadviseBad,
    LinkMissing,
    /// Ops on slots of the registered file table (`FILE_SLOT`: the file, `READ_SLOT` and
    /// `WRITE_SLOT`: a pipe of the round's own): an fsync, a write and a read of `n` bytes, a
    /// read of an empty slot (`EBADF`).
    FixedFsync,
    FixedWrite(u32),
    FixedRead(u32),
    BadFixedRead,
}

/// The registered file table of both rigs: the temporary file, then a pipe per round.
const FILE_SLOT: i32 = 0;
const READ_SLOT: i32 = 1;
const WRITE_SLOT: i32 = 2;
/// Never filled.
const EMPTY_SLOT: i32 = 3;

impl Spec {
    /// Ops whose cancel result is timing-dependent (a worker may have taken them).
    fn on_worker(&self) -> bool {
        matches!(
            self,
            Spec::Fsync
                | Spec::OpenMissing
                | Spec::MkdirExisting
                | Spec::Ftruncate
                | Spec::FadviseBad
                | Spec::LinkMissing
                | Spec::FixedFsync
        )
    }

    /// Ops whose target is a registered file slot.
    fn fixed(&self) -> bool {
        matches!(self, Spec::FixedFsync | Spec::FixedWrite(_) | Spec::FixedRead(_) | Spec::BadFixedRead)
    }

    /// Ops that never complete on their own (within a round).
    fn endless(&self) -> bool {
        matches!(self, Spec::LongTimeout | Spec::ParkRead(_) | Spec::ParkPoll(_) | Spec::ParkWait | Spec::ParkRecv(_))
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn link(&mut self) -> Link {
        match self.below(10) {
            0..=5 => Link::Unlinked,
            6 | 7 => Link::Soft,
            _ => Link::Hard,
        }
    }
    fn inner_link(&mut self) -> Link {
        if self.below(2) == 0 { Link::Soft } else { Link::Hard }
    }
}

/// Batch A: a list of units, each ending with a random link to the next.
fn gen_a(rng: &mut Rng) -> Vec<(Spec, Link)> {
    let mut ops: Vec<(Spec, Link)> = Vec::new();
    let mut pipes = 0;
    let mut fixed_pipe = false;
    let mut parked = 4;
    let mut sockets = 0;
    let mut endless = |rng: &mut Rng| match rng.below(5) {
        3 if sockets < 2 => {
            sockets += 1;
            Spec::ParkRecv(sockets - 1)
        }
        0 if parked < 8 => {
            parked += 1;
            Spec::ParkRead(parked - 1)
        }
        1 if parked < 8 => {
            parked += 1;
            Spec::ParkPoll(parked - 1)
        }
        2 => Spec::ParkWait,
        _ => Spec::LongTimeout,
    };
    let units = 1 + rng.below(8);
    for _ in 0..units {
        let chain_head = ops.last().is_none_or(|&(_, l)| l == Link::Unlinked);
        match rng.below(9) {
            8 => {
                let workers = [
                    Spec::Fsync,
                    Spec::OpenMissing,
                    Spec::MkdirExisting,
                    Spec::Ftruncate,
                    Spec::FadviseBad,
                    Spec::LinkMissing,
                    Spec::FixedFsync,
                ];
                let spec = workers[rng.below(workers.len() as u64) as usize];
                ops.push((spec, Link::Unlinked));
            }
            0 => ops.push((Spec::Nop, Link::Unlinked)),
            1 => ops.push((Spec::ShortTimeout(1 + rng.below(3)), Link::Unlinked)),
            2 => ops.push((if rng.below(2) == 0 { Spec::BadRead } else { Spec::BadFixedRead }, Link::Unlinked)),
            // The round's registered pipe, once: a write by slot, then a read by slot.
            3 if !fixed_pipe && rng.below(3) == 0 => {
                let n = 1 + rng.below(32) as u32;
                ops.push((Spec::FixedWrite(n), rng.inner_link()));
                let extra = if rng.below(3) == 0 { 1 + rng.below(8) as u32 } else { 0 };
                ops.push((Spec::FixedRead(n + extra), Link::Unlinked));
                fixed_pipe = true;
            }
            3 if pipes < 4 => {
                let n = 1 + rng.below(32) as u32;
                ops.push((Spec::Write(pipes, n), rng.inner_link()));
                if rng.below(3) == 0 {
                    ops.push((Spec::PollReady(pipes), rng.inner_link()));
                }
                // Sometimes a longer read: a short read fails a soft link, as in the kernel.
                let extra = if rng.below(3) == 0 { 1 + rng.below(8) as u32 } else { 0 };
                ops.push((Spec::Read(pipes, n + extra), Link::Unlinked));
                pipes += 1;
            }
            4 => {
                let spec = endless(rng);
                ops.push((spec, rng.inner_link()));
                ops.push((Spec::LinkTimeout(10), Link::Unlinked));
            }
            5 | 6 => {
                let guarded = match rng.below(3) {
                    0 => Spec::Nop,
                    1 => Spec::ShortTimeout(1 + rng.below(3)),
                    _ => Spec::BadRead,
                };
                ops.push((guarded, rng.inner_link()));
                ops.push((Spec::LinkTimeout(500), Link::Unlinked));
            }
            // A long timeout for B to cancel; only at the head of a chain, so that it has
            // started when B's cancel runs.
            _ if chain_head => {
                let spec = endless(rng);
                ops.push((spec, Link::Unlinked));
            }
            _ => ops.push((Spec::Nop, Link::Unlinked)),
        }
        let last = ops.len() - 1;
        ops[last].1 = rng.link();
    }
    let last = ops.len() - 1;
    ops[last].1 = Link::Unlinked;
    ops
}

/// Batch B: cancels of every free long timeout of A first, then random cancels and fillers.
fn gen_b(rng: &mut Rng, a: &[(Spec, Link)]) -> Vec<(Spec, Link)> {
    let mut ops = Vec::new();
    for (i, (spec, _)) in a.iter().enumerate() {
        let guarded = a.get(i + 1).is_some_and(|(s, _)| matches!(s, Spec::LinkTimeout(_)));
        if spec.endless() && !guarded {
            ops.push((Spec::Cancel(Target::A(i)), Link::Unlinked));
        }
    }
    let mut closed = [false; 8];
    for _ in 0..rng.below(5) {
        let spec = match rng.below(8) {
            0 => Spec::Cancel(Target::Stale),
            1 => Spec::Cancel(Target::Bogus),
            2 => Spec::Nop,
            3 => Spec::BadRead,
            4 => {
                let p = rng.below(8) as usize;
                if !closable(a, p) || std::mem::replace(&mut closed[p], true) { Spec::Nop } else { Spec::ClosePipe(p) }
            }
            5 => Spec::SendSock(rng.below(2) as usize, 1 + rng.below(16) as u32),
            _ => match rng.below(a.len() as u64) as usize {
                i if a[i].0.on_worker() => Spec::Cancel(Target::Stale),
                i => Spec::Cancel(Target::A(i)),
            },
        };
        if let (Spec::Cancel(Target::A(_)) | Spec::ClosePipe(_) | Spec::SendSock(..), Some(prev)) =
            (spec, ops.last_mut())
        {
            // Cancels of A's ops (and closes) start in the submission's first pass (see the
            // module docs).
            prev.1 = Link::Unlinked;
        }
        ops.push((spec, rng.link()));
    }
    if let Some(last) = ops.last_mut() {
        last.1 = Link::Unlinked;
    }
    // A link timeout must follow a linked op; B has none, so nothing to fix up.
    ops
}

/// Whether B may close pipe `p`: every op of A on it is a chain head, started in the first
/// pass. (A chain successor may start before or after the close: io_uring runs a close after
/// its hidden cancel, from task work, while posix starts successors in completion order.)
fn closable(a: &[(Spec, Link)], p: usize) -> bool {
    a.iter().enumerate().all(|(i, (spec, _))| {
        let uses =
            matches!(spec, Spec::Read(q, _) | Spec::Write(q, _) | Spec::ParkRead(q) | Spec::ParkPoll(q) | Spec::PollReady(q) if *q == p);
        !uses || i == 0 || a[i - 1].1 == Link::Unlinked
    })
}

struct Rig {
    backend: AnyBackend,
    ids: IdAllocator,
    states: Box<[OpState]>,
    bufs: Box<[[u8; 32]]>,
    stale: Id,
    eventfd: OwnedFd,
    file: std::fs::File,
}

impl Rig {
    fn new(kind: BackendKind) -> Option<Rig> {
        let backend = match AnyBackend::new(CAPACITY, Some(kind)) {
            Ok(b) => b,
            Err(e) => {
                println!("skipping the differential test: no {kind} backend ({e})");
                return None;
            }
        };
        let file =
            std::fs::File::create(std::env::temp_dir().join(format!("corio-difftest-{}-{kind}", std::process::id())))
                .expect("a temporary file");
        let mut backend = backend;
        backend.register_files(4).expect("a registered file table");
        backend.install_file(FILE_SLOT as u32, file.try_clone().expect("a dup").into()).expect("install the file");
        Some(Rig {
            backend,
            ids: IdAllocator::new(CAPACITY),
            states: (0..CAPACITY).map(|_| OpState::Empty).collect(),
            bufs: vec![[0u8; 32]; CAPACITY as usize].into_boxed_slice(),
            stale: Id::new(CAPACITY - 1, u32::MAX),
            // SAFETY: plain syscall; the new descriptor is checked and owned here.
            eventfd: unsafe {
                let fd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_SEMAPHORE);
                assert!(fd >= 0, "eventfd");
                OwnedFd::from_raw_fd(fd)
            },
            file,
        })
    }

    /// Builds the queued form of `specs`; `a_ids` resolves B's cancel targets.
    fn build(
        &mut self,
        specs: &[(Spec, Link)],
        pipes: &mut [(Option<OwnedFd>, OwnedFd)],
        socks: &[(OwnedFd, OwnedFd)],
        a_ids: &[Id],
    ) -> Vec<Queued> {
        let mut batch = Vec::new();
        for &(spec, link) in specs {
            let id = self.ids.alloc().expect("capacity");
            let slot = id.slot() as usize;
            let buf = self.bufs[slot].as_mut_ptr();
            let mut state = OpState::Empty;
            let op = match spec {
                Spec::Nop => RawOp::Nop {},
                Spec::ShortTimeout(ms) | Spec::LinkTimeout(ms) => {
                    let nanos = ms * 1_000_000;
                    state = OpState::Timespec(Timespec::from_nanos(nanos));
                    if let Spec::LinkTimeout(_) = spec {
                        RawOp::LinkTimeout { nanos }
                    } else {
                        RawOp::Timeout { nanos }
                    }
                }
                Spec::LongTimeout => {
                    let nanos = LONG_MS * 1_000_000;
                    state = OpState::Timespec(Timespec::from_nanos(nanos));
                    RawOp::Timeout { nanos }
                }
                Spec::Write(p, n) => RawOp::Write { fd: pipes[p].1.as_raw_fd(), buf, len: n, offset: u64::MAX },
                Spec::Read(p, n) => RawOp::Read { fd: read_end(pipes, p), buf, len: n, offset: u64::MAX },
                Spec::BadRead => RawOp::Read { fd: i32::MAX - 7, buf, len: 4, offset: u64::MAX },
                Spec::FixedFsync => RawOp::Fsync { fd: FILE_SLOT, datasync: false },
                Spec::FixedWrite(n) => RawOp::Write { fd: WRITE_SLOT, buf, len: n, offset: u64::MAX },
                Spec::FixedRead(n) => RawOp::Read { fd: READ_SLOT, buf, len: n, offset: u64::MAX },
                Spec::BadFixedRead => RawOp::Read { fd: EMPTY_SLOT, buf, len: 4, offset: u64::MAX },
                Spec::ParkRead(p) => RawOp::Read { fd: read_end(pipes, p), buf, len: 4, offset: u64::MAX },
                Spec::ParkPoll(p) => RawOp::Poll { fd: read_end(pipes, p), events: libc::POLLIN as u32 },
                // The op owns the descriptor from here on.
                Spec::ClosePipe(p) => RawOp::Close { fd: pipes[p].0.take().expect("closed once").into_raw_fd() },
                Spec::PollReady(p) => RawOp::Poll { fd: read_end(pipes, p), events: libc::POLLIN as u32 },
                Spec::ParkRecv(k) => RawOp::Recv { fd: socks[k].0.as_raw_fd(), buf, len: 32, flags: 0 },
                Spec::SendSock(k, n) => {
                    RawOp::Send { fd: socks[k].1.as_raw_fd(), buf, len: n, flags: libc::MSG_NOSIGNAL }
                }
                Spec::Fsync => RawOp::Fsync { fd: self.file.as_raw_fd(), datasync: false },
                Spec::OpenMissing => {
                    state = OpState::Path(c"/corio/no/such/path".into());
                    RawOp::OpenAt { dir: libc::AT_FDCWD, flags: libc::O_RDONLY | libc::O_CLOEXEC, mode: 0 }
                }
                Spec::MkdirExisting => {
                    state = OpState::Path(c"/".into());
                    RawOp::MkdirAt { dir: libc::AT_FDCWD, mode: 0o755 }
                }
                Spec::Ftruncate => RawOp::Ftruncate { fd: self.file.as_raw_fd(), len: 0 },
                Spec::FadviseBad => RawOp::Fadvise { fd: self.file.as_raw_fd(), offset: 0, len: 0, advice: 999 },
                Spec::LinkMissing => {
                    state = OpState::Paths(c"/corio/no/such/path".into(), c"/corio/no/link".into());
                    RawOp::LinkAt { old_dir: libc::AT_FDCWD, new_dir: libc::AT_FDCWD, flags: 0 }
                }
                Spec::ParkWait => {
                    state = OpState::Counter(0);
                    RawOp::Wait { fd: self.eventfd.as_raw_fd() }
                }
                Spec::Cancel(t) => RawOp::Cancel {
                    target: match t {
                        Target::A(i) => a_ids[i],
                        Target::Stale => self.stale,
                        Target::Bogus => Id::new(CAPACITY + 3, 0),
                    },
                },
            };
            self.states[slot] = state;
            batch.push(Queued { id, op, link, state: &raw mut self.states[slot], fixed: spec.fixed() });
        }
        batch
    }

    /// Runs one round; returns the normalized result per op (A's then B's).
    fn round(&mut self, a: &[(Spec, Link)], b: &[(Spec, Link)]) -> Vec<String> {
        let mut pipes: Vec<(Option<OwnedFd>, OwnedFd)> = (0..8).map(|_| pipe()).map(|(r, w)| (Some(r), w)).collect();
        let socks: Vec<(OwnedFd, OwnedFd)> = (0..2).map(|_| socket_pair()).collect();
        // The round's registered pipe replaces the last round's (whose files the table closes).
        let (r, w) = pipe();
        self.backend.install_file(READ_SLOT as u32, r).expect("install the read end");
        self.backend.install_file(WRITE_SLOT as u32, w).expect("install the write end");
        let qa = self.build(a, &mut pipes, &socks, &[]);
        let a_ids: Vec<Id> = qa.iter().map(|q| q.id).collect();
        let qb = self.build(b, &mut pipes, &socks, &a_ids);
        let all: Vec<(Id, RawOp)> = qa.iter().chain(&qb).map(|q| (q.id, q.op)).collect();
        // SAFETY: the ops point at this harness's buffers and states (`self.states`) and at
        // the pipes and sockets of this round, all of which outlive the loop below, which
        // runs until every op was reported.
        unsafe { self.backend.queue(&qa) }.expect("queue A");
        if !qb.is_empty() {
            // SAFETY: as above.
            unsafe { self.backend.queue(&qb) }.expect("queue B");
        }
        let mut results: Vec<Option<i32>> = vec![None; all.len()];
        let deadline = Instant::now() + Duration::from_secs(20);
        while results.iter().any(Option::is_none) {
            assert!(Instant::now() < deadline, "round stuck: {results:?}");
            let ids = &mut self.ids;
            self.backend
                .submit(1, |id, res, more| {
                    assert!(!more, "no multishot op here");
                    let i = all.iter().position(|(x, _)| *x == id).expect("a known id");
                    assert!(results[i].replace(res).is_none(), "op {i} reported twice");
                    ids.release(id);
                })
                .expect("submit");
        }
        self.stale = a_ids[0];
        for (res, (_, op)) in results.iter().zip(&all) {
            if let (Some(res), RawOp::Close { fd }) = (res, op)
                && *res == -libc::ECANCELED
            {
                // A close that never ran still owns its descriptor.
                // SAFETY: the descriptor was taken from its `OwnedFd` for the op, which never ran.
                drop(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
        results
            .iter()
            .zip(&all)
            .map(|(res, (_, op))| {
                let res = res.expect("every op reported");
                match op {
                    RawOp::LinkTimeout { .. } if res == -libc::ETIME => "expired".to_string(),
                    RawOp::LinkTimeout { .. } => "disarmed".to_string(),
                    RawOp::Timeout { .. } if res == -libc::ETIME => "0".to_string(),
                    _ => res.to_string(),
                }
            })
            .collect()
    }
}

fn read_end(pipes: &[(Option<OwnedFd>, OwnedFd)], p: usize) -> i32 {
    pipes[p].0.as_ref().expect("A's ops are built before B's closes").as_raw_fd()
}

fn socket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: socketpair writes two descriptors into the array.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0, "socketpair");
    // SAFETY: both descriptors are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

#[test]
fn posix_matches_io_uring_on_random_batches() {
    let seed = std::env::var("CORIO_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    let (Some(mut uring), Some(mut posix)) = (Rig::new(BackendKind::IoUring), Rig::new(BackendKind::Posix)) else {
        return;
    };
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..150 {
        let a = gen_a(&mut rng);
        let b = gen_b(&mut rng, &a);
        let expected = uring.round(&a, &b);
        let got = posix.round(&a, &b);
        if expected != got {
            let ops: Vec<String> = a.iter().chain(&b).map(|(s, l)| format!("{s:?}/{l:?}")).collect();
            panic!(
                "CORIO_DIFF_SEED={seed} round {round}: posix differs from io_uring\n ops:     {ops:?}\n \
                 io_uring: {expected:?}\n posix:    {got:?}"
            );
        }
        for ((spec, link), res) in a.iter().chain(&b).zip(&got) {
            let name = format!("{spec:?}");
            let name = name.split('(').next().unwrap_or_default();
            *seen.entry(format!("{name}/{link:?}={res}")).or_default() += 1;
        }
    }
    println!("differential test: seed {seed}, 150 rounds in {:?}; outcomes: {seen:?}", start.elapsed());
}
