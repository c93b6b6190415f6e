//! Bytes → batches of aio ops, run on a `Dynamic` on io_uring and on posix: both must give
//! the same result class per op (ok and its value / canceled / expired / errno), refuse the
//! same batches (and run nothing of a refused batch), and complete every accepted op once.
//!
//! A program is up to two rounds of units; each unit is one `queue` call (a batch of one to
//! three ops: batches are statically typed tuples, so the shapes are fixed and the op types in
//! them picked by the input), and a round submits all its units at once and completes them.
//! The second round runs on the same `Dynamic`, so its cancels can name stale ids.
//!
//! The op mix follows `aio/src/backend/difftest.rs`, whose rules keep the outcome independent
//! of timing: short timeouts (1–3 ms) are only guarded by long link timeouts (500 ms); ops
//! that never complete on their own (a 5 s timeout, a read or poll of a pipe nobody writes)
//! are either guarded by a 10 ms link timeout or canceled (by a cancel unit, and by one
//! cancel each queued at the end of the round); cancels are batches of their own, so they
//! run in the submission's first pass on both backends; each transfer (write → poll → read)
//! has a pipe of its own; no op goes to a worker thread (fsync, open, …), whose cancel races.
//! Timeouts report `ETIME` as success and link timeouts are only "expired" or "disarmed"
//! (the `Dynamic` decodes them so).

#![no_main]

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use arbitrary::Arbitrary;
use corio_aio::op::{Cancel, Events, LinkTimeout, Nop, OpExt, Poll, Read, Timeout, Write};
use corio_aio::{BackendKind, Dynamic, Id, Link, Value};
use libfuzzer_sys::fuzz_target;

/// Small, so that full queues (a refused batch) are reached.
const CAPACITY: u32 = 16;
const UNITS_PER_ROUND: usize = 12;
/// Pipes of their own for the transfers of a round.
const DATA_PIPES: usize = 4;
const PARK_PIPES: usize = 2;
const BUF: usize = 48;
/// Read buffers for a program (two rounds of at most `CAPACITY` reads).
const BUFS: usize = 2 * CAPACITY as usize;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Inner {
    Soft,
    Hard,
}

impl Inner {
    fn link(self) -> Link {
        match self {
            Inner::Soft => Link::Soft,
            Inner::Hard => Link::Hard,
        }
    }
}

/// An op that completes on its own, at once or within 3 ms.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Quick {
    Nop,
    /// A timeout of 1–3 ms.
    Timeout(u8),
    /// A read of a pipe's write end: `EBADF`.
    BadRead,
}

/// An op that never completes on its own within a round.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Endless {
    Timeout,
    Read(u8),
    Poll(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Target {
    /// An op queued earlier by this program (this round's or the previous round's: stale).
    Earlier(u8),
    /// Any id at all (usually nothing; maybe a live op's).
    Raw(u64),
    /// The value the backends reserve for their internal entries.
    Hidden,
}

/// One `queue` call.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Unit {
    /// One op, linked to nothing (unless `trailing`: then the batch is refused).
    Quick(Quick, bool),
    /// `a` linked to `b`.
    Pair(Quick, Inner, Quick),
    /// Write `len` bytes to a fresh pipe, then (poll for input, then) read `len + extra`.
    Transfer {
        len: u8,
        extra: u8,
        poll: bool,
        first: Inner,
        second: Inner,
    },
    /// A quick op guarded by a 500 ms link timeout (disarmed).
    Guarded(Quick, Inner),
    /// An endless op guarded by a 10 ms link timeout (expires).
    GuardedEndless(Endless, Inner),
    /// An endless op, canceled by the end of the round.
    Endless(Endless),
    Cancel(Target),
    /// Batches the `Dynamic` must refuse whole; each starts with a write to a pipe that must
    /// stay empty.
    Refused(Refusal),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Refusal {
    /// The last op is linked.
    TrailingLink(Inner),
    /// A link timeout after an unlinked op.
    UnguardedLinkTimeout,
    /// A link timeout first.
    LinkTimeoutFirst,
    /// A link timeout guarding a link timeout.
    LinkTimeoutTwice(Inner),
    /// More ops than the free capacity.
    OverCapacity(u8),
}

#[derive(Arbitrary, Debug)]
struct Program {
    first: Vec<Unit>,
    second: Vec<Unit>,
}

/// What one backend did: per unit, the batch refused (its error kind) or its ops' results.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Skipped,
    Refused(io::ErrorKind),
    Queued(Vec<String>),
}

fuzz_target!(|program: Program| {
    let Some(uring) = run(&program, BackendKind::IoUring) else { return };
    let posix = run(&program, BackendKind::Posix).expect("the posix backend");
    if uring != posix {
        let rows: Vec<String> = [&program.first, &program.second]
            .into_iter()
            .flatten()
            .zip(uring.iter().zip(&posix))
            .map(|(unit, (u, p))| {
                format!("{}{unit:?}\n    io_uring: {u:?}\n    posix:    {p:?}", if u == p { "  " } else { "≠ " })
            })
            .collect();
        panic!("posix differs from io_uring:\n{}", rows.join("\n"));
    }
});

struct Pipes {
    data: Vec<(OwnedFd, OwnedFd)>,
    park: Vec<(OwnedFd, OwnedFd)>,
    /// Written to only by refused batches: must stay empty.
    refused: (OwnedFd, OwnedFd),
}

fn pipes() -> Pipes {
    let pipe = || {
        let (r, w) = std::io::pipe().expect("a pipe");
        (OwnedFd::from(r), OwnedFd::from(w))
    };
    Pipes {
        data: (0..2 * DATA_PIPES).map(|_| pipe()).collect(),
        park: (0..PARK_PIPES).map(|_| pipe()).collect(),
        refused: pipe(),
    }
}

/// Runs `program` on `kind`; `None` if the backend is unavailable.
fn run(program: &Program, kind: BackendKind) -> Option<Vec<Outcome>> {
    let pipes = pipes();
    let mut bufs = vec![[0u8; BUF]; BUFS];
    let payload: Vec<u8> = (0..=255u8).collect();
    // (unit index, op index within it) → the buffer index of a read, to show its data.
    let mut reads: Vec<(usize, usize, usize)> = Vec::new();
    let mut outcomes = match Dynamic::with_backend(CAPACITY, kind) {
        Ok(ring) => {
            drop(ring);
            let mut free = bufs.iter_mut().enumerate();
            let result = corio_aio::scope_with(CAPACITY, kind, |ring: &mut Dynamic<'_>| {
                let mut state = State::default();
                let mut outcomes = Vec::new();
                for (round, units) in [&program.first, &program.second].into_iter().enumerate() {
                    let units = &units[..units.len().min(UNITS_PER_ROUND)];
                    let data = &pipes.data[round * DATA_PIPES..(round + 1) * DATA_PIPES];
                    let mut rig =
                        Rig { ring, pipes: &pipes, data, payload: &payload, free: &mut free, reads: &mut reads };
                    outcomes.extend(rig.round(units, &mut state, outcomes.len()));
                }
                outcomes
            });
            result.expect("a Dynamic")
        }
        Err(e) if kind == BackendKind::IoUring => {
            eprintln!("no io_uring ({e}): nothing to compare");
            return None;
        }
        Err(e) => panic!("no {kind} backend: {e}"),
    };
    // Nothing of a refused batch ran.
    let mut probe = [0u8; 1];
    // SAFETY: a nonblocking read into a local buffer.
    let n = unsafe {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&pipes.refused.0);
        libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        libc::read(fd, probe.as_mut_ptr().cast(), 1)
    };
    assert_eq!(n, -1, "{kind}: a refused batch wrote to its pipe");
    // What the reads read.
    for (unit, op, buf) in reads {
        if let Outcome::Queued(results) = &mut outcomes[unit]
            && let Some(len) = results[op].strip_prefix("len ").and_then(|n| n.parse::<usize>().ok())
        {
            results[op] += &format!(" {:?}", &bufs[buf][..len.min(BUF)]);
        }
    }
    Some(outcomes)
}

#[derive(Default)]
struct State {
    /// Every op queued so far (both rounds).
    ids: Vec<Id>,
}

struct Rig<'r, 'env, I> {
    ring: &'r mut Dynamic<'env>,
    pipes: &'env Pipes,
    data: &'env [(OwnedFd, OwnedFd)],
    payload: &'env [u8],
    free: &'r mut I,
    reads: &'r mut Vec<(usize, usize, usize)>,
}

fn short(ms: u8) -> Duration {
    Duration::from_millis(1 + u64::from(ms % 3))
}

/// Binds `$op` to the op `$q` describes, then evaluates `$body` (once per op type).
macro_rules! with_quick {
    ($rig:expr, $q:expr, |$op:ident| $body:expr) => {
        match $q {
            Quick::Nop => {
                let $op = Nop::new();
                $body
            }
            Quick::Timeout(ms) => {
                let $op = Timeout::new(short(ms));
                $body
            }
            Quick::BadRead => {
                let (_, buf) = $rig.free.next().expect("enough buffers");
                let $op = Read::new(&$rig.pipes.refused.1, buf);
                $body
            }
        }
    };
}

/// As `with_quick!`, for an endless op.
macro_rules! with_endless {
    ($rig:expr, $e:expr, $unit:expr, $index:expr, |$op:ident| $body:expr) => {
        match $e {
            Endless::Timeout => {
                let $op = Timeout::new(Duration::from_secs(5));
                $body
            }
            Endless::Read(p) => {
                let (b, buf) = $rig.free.next().expect("enough buffers");
                $rig.reads.push(($unit, $index, b));
                let $op = Read::new(&$rig.pipes.park[usize::from(p) % PARK_PIPES].0, buf);
                $body
            }
            Endless::Poll(p) => {
                let $op = Poll::new(&$rig.pipes.park[usize::from(p) % PARK_PIPES].0, Events::IN);
                $body
            }
        }
    };
}

impl<'env, I: Iterator<Item = (usize, &'env mut [u8; BUF])>> Rig<'_, 'env, I> {
    /// Queues `units` (unit `i` is unit `base + i` of the program), a cancel of each endless
    /// op, and completes them all.
    fn round(&mut self, units: &[Unit], state: &mut State, base: usize) -> Vec<Outcome> {
        // The ids of each unit's ops (`None`: refused or skipped).
        let mut queued: Vec<Option<Vec<Id>>> = Vec::new();
        let mut outcomes = Vec::new();
        let mut endless = Vec::new();
        let mut transfers = 0;
        for (i, unit) in units.iter().enumerate() {
            // Room is kept for a cancel of each endless op, and for this unit's own.
            let size = match unit {
                Unit::Quick(..) | Unit::Cancel(_) => 1,
                Unit::Endless(_) => 2,
                Unit::Transfer { poll: true, .. } => 3,
                Unit::Refused(_) => 0,
                _ => 2,
            };
            if self.ring.in_flight() + endless.len() + size > CAPACITY as usize
                || matches!(unit, Unit::Transfer { .. }) && transfers == DATA_PIPES
            {
                queued.push(None);
                outcomes.push(Outcome::Skipped);
                continue;
            }
            let in_flight = self.ring.in_flight();
            let (unit_index, tag) = (base + i, (base + i) as u64 * 4);
            let result = self.queue(*unit, unit_index, tag, &state.ids, &mut transfers);
            match result {
                Ok(ids) => {
                    assert!(!matches!(unit, Unit::Quick(_, true)), "{unit:?} (a trailing link) was queued");
                    assert_eq!(self.ring.in_flight(), in_flight + ids.len(), "{unit:?} queued partly");
                    if let Unit::Endless(_) = unit {
                        endless.push(ids[0]);
                    }
                    state.ids.extend(&ids);
                    outcomes.push(Outcome::Queued(vec![String::new(); ids.len()]));
                    queued.push(Some(ids));
                }
                Err(e) => {
                    assert_eq!(self.ring.in_flight(), in_flight, "{unit:?} refused but queued partly");
                    assert!(matches!(unit, Unit::Refused(_) | Unit::Quick(_, true)), "{unit:?} refused: {e}");
                    outcomes.push(Outcome::Refused(e.kind()));
                    queued.push(None);
                }
            }
        }
        // Every endless op is canceled by the end of the round.
        let mut cleanup = Vec::new();
        for &id in &endless {
            cleanup.push(self.ring.queue(Cancel::new(id).user_data(u64::MAX)).expect("room for the cancels"));
        }
        let mut seen = 0;
        let mut cancels = 0;
        self.ring
            .complete_all(|c| {
                if c.user_data == u64::MAX {
                    assert!(cleanup.contains(&c.id), "an unknown completion {c:?}");
                    cancels += 1;
                    return;
                }
                let (unit, op) = ((c.user_data / 4) as usize - base, (c.user_data % 4) as usize);
                assert_eq!(queued[unit].as_ref().map(|ids| ids[op]), Some(c.id), "{c:?} for a refused unit");
                let Outcome::Queued(results) = &mut outcomes[unit] else { unreachable!("queued") };
                assert!(results[op].is_empty(), "{c:?} completed twice");
                results[op] = class(&c.result, c.op);
                seen += 1;
            })
            .expect("complete");
        assert_eq!(self.ring.in_flight(), 0);
        assert_eq!(cancels, cleanup.len());
        assert_eq!(seen, queued.iter().flatten().map(Vec::len).sum::<usize>(), "ops missing");
        outcomes
    }

    /// Queues one unit; its op `k` gets user data `tag + k`.
    fn queue(
        &mut self,
        unit: Unit,
        unit_index: usize,
        tag: u64,
        earlier: &[Id],
        transfers: &mut usize,
    ) -> io::Result<Vec<Id>> {
        let ring = &mut *self.ring;
        let long = LinkTimeout::new(Duration::from_millis(500));
        let brief = LinkTimeout::new(Duration::from_millis(10));
        let refused = &self.pipes.refused.1;
        let payload = self.payload;
        Ok(match unit {
            Unit::Quick(q, trailing) => {
                let link = if trailing { Link::Soft } else { Link::Unlinked };
                with_quick!(self, q, |a| vec![ring.queue(a.user_data(tag).link(link))?])
            }
            Unit::Pair(a, link, b) => with_quick!(self, a, |a| with_quick!(self, b, |b| ring
                .queue((a.user_data(tag).link(link.link()), b.user_data(tag + 1)))?
                .to_vec())),
            Unit::Transfer { len, extra, poll, first, second } => {
                let (r, w) = &self.data[*transfers];
                *transfers += 1;
                let len = 1 + usize::from(len) % 32;
                let (b, buf) = self.free.next().expect("enough buffers");
                let buf = &mut buf[..(len + usize::from(extra) % 9).min(BUF)];
                let write = Write::new(w, &payload[len..2 * len]).user_data(tag).link(first.link());
                let read_index = if poll { 2 } else { 1 };
                self.reads.push((unit_index, read_index, b));
                let read = Read::new(r, buf).user_data(tag + read_index as u64);
                if poll {
                    let poll = Poll::new(r, Events::IN).user_data(tag + 1).link(second.link());
                    ring.queue((write, poll, read))?.to_vec()
                } else {
                    ring.queue((write, read))?.to_vec()
                }
            }
            Unit::Guarded(q, link) => {
                with_quick!(self, q, |a| ring
                    .queue((a.user_data(tag).link(link.link()), long.user_data(tag + 1)))?
                    .to_vec())
            }
            Unit::GuardedEndless(e, link) => with_endless!(self, e, unit_index, 0, |a| ring
                .queue((a.user_data(tag).link(link.link()), brief.user_data(tag + 1)))?
                .to_vec()),
            Unit::Endless(e) => with_endless!(self, e, unit_index, 0, |a| vec![ring.queue(a.user_data(tag))?]),
            Unit::Cancel(target) => {
                let id = match target {
                    Target::Earlier(i) if !earlier.is_empty() => earlier[usize::from(i) % earlier.len()],
                    Target::Earlier(_) => Id::from_u64(0),
                    Target::Raw(raw) => Id::from_u64(raw),
                    Target::Hidden => Id::from_u64(u64::MAX),
                };
                vec![ring.queue(Cancel::new(id).user_data(tag))?]
            }
            Unit::Refused(refusal) => {
                let write = Write::new(refused, b"refused").user_data(tag);
                let ids = match refusal {
                    Refusal::TrailingLink(link) => vec![ring.queue(write.link(link.link()))?],
                    Refusal::UnguardedLinkTimeout => ring.queue((write, brief))?.to_vec(),
                    Refusal::LinkTimeoutFirst => ring.queue((brief, write))?.to_vec(),
                    Refusal::LinkTimeoutTwice(link) => {
                        ring.queue((write.link(link.link()), brief.soft(), long))?.to_vec()
                    }
                    Refusal::OverCapacity(extra) => {
                        let n = ring.capacity() - ring.in_flight() + 1 + usize::from(extra % 4);
                        ring.queue((0..n).map(|_| Write::new(refused, b"refused")).collect::<Vec<_>>())?
                    }
                };
                panic!("a refused batch was queued: {refusal:?} → {ids:?}")
            }
        })
    }
}

/// An op's result, as compared: its value, or canceled / expired / its errno.
fn class(result: &io::Result<Value>, op: &str) -> String {
    match result {
        Ok(Value::Unit) => format!("{op} ok"),
        Ok(Value::Len(n)) => format!("len {n}"),
        Ok(Value::Events(e)) => format!("{op} events {:#x}", e.bits()),
        Ok(_) => format!("{op} other value"),
        Err(e) if corio_aio::is_canceled(e) => format!("{op} canceled"),
        Err(e) if corio_aio::is_expired(e) => format!("{op} expired"),
        Err(e) => format!("{op} errno {:?} {:?}", e.raw_os_error(), e.kind()),
    }
}
