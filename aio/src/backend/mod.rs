//! Backends: where raw ops meet the OS.
//!
//! [`Backend`] is the contract every backend keeps, and [`AnyBackend`] the one a `Dynamic`
//! holds (static dispatch over the backends this target has):
//!
//! | backend | type | where |
//! |---|---|---|
//! | io_uring (Linux) | `uring::Uring` | `uring.rs`; each op's SQE in `uring/prep.rs` |
//! | posix (Linux, macOS, BSDs, WASI) | `emu::Engine<posix::Posix>` | the engine (`emu/`) over a readiness driver (`posix/`) |
//! | IOCP (Windows) | `emu::Engine<iocp::Iocp>` | the engine (`emu/`) over a completion-port driver (`iocp/`) |
//!
//! The engine gives io_uring's semantics (links, link timeouts, cancel, timers, exactly-once
//! reports) to any [`emu::Driver`], which only starts, stops and polls single ops.
//! [`default_backend`] picks a backend for a process.

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use crate::id::Id;
use crate::op::RawOp;
use crate::raw::{Link, OpState};

#[cfg(all(test, target_os = "linux"))]
mod difftest;
pub(crate) mod emu;
#[cfg(windows)]
pub(crate) mod iocp;
#[cfg(not(windows))]
pub(crate) mod posix;
#[cfg(target_os = "linux")]
pub(crate) mod uring;

/// One op of a batch, as a backend receives it.
pub(crate) struct Queued {
    pub(crate) id: Id,
    pub(crate) op: RawOp,
    pub(crate) link: Link,
    /// The op's slot state; valid and unmoved until the op is reported.
    pub(crate) state: *mut OpState,
    /// The op's target (the field `RawOp::target_mut` names) is a slot of the registered
    /// file table, not a descriptor (only for ops whose `fixed` fact is set).
    pub(crate) fixed: bool,
}

/// A batch pushed into the backend while it is prepared, rolled back unless committed (only
/// io_uring streams; see `uring::Stream`).
#[cfg(target_os = "linux")]
pub(crate) use uring::Stream;

/// Never built off Linux (no io_uring).
#[cfg(not(target_os = "linux"))]
pub(crate) struct Stream<'a>(std::convert::Infallible, std::marker::PhantomData<&'a ()>);

#[cfg(not(target_os = "linux"))]
impl Stream<'_> {
    pub(crate) fn try_push(&mut self, _: &Queued) -> bool {
        match self.0 {}
    }

    /// # Safety
    ///
    /// As [`Backend::queue`], for every op pushed.
    pub(crate) unsafe fn commit(self) {
        match self.0 {}
    }
}

/// Which backend a [`Dynamic`](crate::Dynamic) runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// Linux io_uring.
    IoUring,
    /// io_uring semantics emulated over a readiness loop (epoll; kqueue off Linux; `poll_oneoff`
    /// on WASI) and a small worker pool (no pool on WASI: blocking ops run inline).
    Posix,
    /// io_uring semantics emulated over a Windows I/O completion port (overlapped IO) and a
    /// small worker pool. Windows only, and the only backend there.
    Iocp,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Posix => "posix",
            BackendKind::Iocp => "iocp",
        })
    }
}

/// The backend that [`Dynamic::new`](crate::Dynamic::new), [`scope`](crate::scope) and the
/// immediate API use: io_uring when the kernel offers it (the probe succeeds), otherwise
/// posix. The environment variable `CORIO_BACKEND` (`posix`, `io_uring` or `auto`) forces
/// the choice; it is read once per process, and the choice is logged once (`log::info!`).
#[must_use]
pub fn default_backend() -> BackendKind {
    default_choice().0
}

/// The default backend and whether the environment forced it.
fn default_choice() -> (BackendKind, bool) {
    static CHOICE: OnceLock<(BackendKind, bool)> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        let forced = match std::env::var("CORIO_BACKEND") {
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "posix" => Some(BackendKind::Posix),
                "io_uring" | "io-uring" | "uring" => Some(BackendKind::IoUring),
                "iocp" => Some(BackendKind::Iocp),
                "auto" | "" => None,
                other => {
                    log::warn!("corio-aio: ignoring CORIO_BACKEND={other:?} (expected posix, io_uring or auto)");
                    None
                }
            },
            Err(_) => None,
        };
        if let Some(kind) = forced {
            log::info!("corio-aio: using the {kind} backend (forced by CORIO_BACKEND)");
            return (kind, true);
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        let kind = {
            log::info!("corio-aio: using the posix backend");
            BackendKind::Posix
        };
        #[cfg(windows)]
        let kind = {
            log::info!("corio-aio: using the iocp backend");
            BackendKind::Iocp
        };
        #[cfg(target_os = "linux")]
        let kind = match uring::features() {
            Ok(f) => {
                log::info!("corio-aio: using the io_uring backend (setup {})", f.setup);
                BackendKind::IoUring
            }
            Err(e) => {
                log::info!("corio-aio: io_uring is unavailable ({e}); using the posix backend");
                BackendKind::Posix
            }
        };
        (kind, false)
    })
}

/// The backend contract, kept by every backend and relied on by [`Dynamic`](crate::Dynamic).
///
/// # Safety
///
/// An implementation promises, for every op it accepted (through [`queue`](Backend::queue)
/// or a committed [`Stream`]):
///
/// * it is reported by [`submit`](Backend::submit) until a **final report**, and never after
///   it: as `sink(id, res, more)` where `res >= 0` is a value and `res < 0` a negated OS
///   error (`-ECANCELED` for an op canceled, by a [`Cancel`](crate::op::Cancel) op, a broken
///   soft link or [`cancel`](Backend::cancel)), and `more` says that more reports of the op
///   follow (io_uring's `IORING_CQE_F_MORE`). Only a multishot op (its row's `multishot`
///   fact) may report with `more`; every other op is reported exactly once, finally. A
///   multishot op is never linked, and a cancel (by id, or [`cancel`](Backend::cancel)) makes
///   it end with a final report soon (`-ECANCELED`, or an error it met first);
/// * neither it nor the OS on its behalf touches what the op points at (buffers, iovecs, its
///   [`OpState`]) after its final report, and the backend writes the state only while the op
///   is in flight (a multishot op has no state the backend writes: each report carries all
///   it produced);
/// * links follow [`Link`]: an op behind a link starts only once its predecessor completed
///   (behind a soft link, only if that one succeeded; else it is reported canceled), and a
///   [`LinkTimeout`](crate::op::LinkTimeout) bounds the op before it;
/// * a batch is taken atomically: if `queue` (or the stream) fails, no op of the batch was
///   accepted and none will be reported or touched.
///
/// `Dynamic`'s soundness argument builds on these promises; see [`Dynamic`](crate::Dynamic).
pub(crate) unsafe trait Backend {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// A one-line description of the backend and the OS features it uses.
    fn describe(&self) -> String;

    /// Takes a batch of ops, all or none. Links between consecutive ops follow [`Link`]; the
    /// last op is unlinked (the caller checks). Nothing reaches the OS before
    /// [`submit`](Backend::submit), except ops a backend must run synchronously, once every
    /// check of the batch has passed.
    ///
    /// # Safety
    ///
    /// What each op points at (its buffers, iovecs, paths and `*q.state`) stays valid, unmoved
    /// and unused by the caller until `submit` reports that op; each `id` is unique among the
    /// ops in flight and within the capacity the backend was created with.
    unsafe fn queue(&mut self, batch: &[Queued]) -> io::Result<()>;

    /// Instead of [`queue`](Backend::queue), takes a batch of `n` ops one by one while they
    /// are prepared, if the backend can (only io_uring streams): nothing of it is visible to
    /// the OS until [`Stream::commit`], and a stream dropped without it rolls back what it
    /// took. `None`: use `queue`.
    fn stream(&mut self, n: usize) -> io::Result<Option<Stream<'_>>> {
        let _ = n;
        Ok(None)
    }

    /// Hands queued ops to the OS and reports every completion to `sink` (`more`: not the
    /// op's final one, see the contract above). With
    /// `min > 0` it waits until at least one op completed: io_uring waits in the kernel for
    /// `min` completions (hidden ones count there, so fewer may be reported), the engine for
    /// one. A panic in `sink` loses no completion: the ones not yet reported stay for the next
    /// call.
    fn submit(&mut self, min: usize, sink: impl FnMut(Id, i32, bool)) -> io::Result<()>;

    /// Asks the OS to cancel every op in `live` (the `Dynamic`'s ops in flight, on its drop
    /// path). The ops are still reported by later `submit` calls, canceled or with what
    /// happened first.
    fn cancel(&mut self, live: &mut dyn Iterator<Item = Id>) -> io::Result<()>;

    /// Busy-polls (instead of sleeping) for up to `spin` before a timer's deadline; zero: off
    /// (see `Dynamic::set_timer_spin`). On io_uring only plain timeouts (its heap timers) see
    /// it.
    fn set_timer_spin(&mut self, spin: Duration);

    /// Registers `count` buffers of `size` bytes from `base` for `ReadFixed`/`WriteFixed`
    /// (the emulations read and write them as plain memory: nothing to do). The caller keeps
    /// the memory valid until the backend is dropped.
    fn register_buffers(&mut self, base: *mut u8, size: usize, count: u16) -> io::Result<()> {
        let _ = (base, size, count);
        Ok(())
    }

    /// Creates the registered file table: `capacity` empty slots (io_uring's sparse
    /// `IORING_REGISTER_FILES2`; the emulations keep a table of descriptors). Once per
    /// backend; `capacity` is within `1..=MAX_FILES` (the caller checks).
    fn register_files(&mut self, capacity: u32) -> io::Result<()>;

    /// Puts `file` into slot `slot` of the registered file table, closing what the slot held;
    /// the table owns it from here on. Fails (closing `file`) with `ENXIO` without a table
    /// and `EINVAL` for a slot beyond it; then the table is unchanged.
    fn install_file(&mut self, slot: u32, file: crate::sys::Owned) -> io::Result<()>;

    /// Makes room for ops whose ids' slots are below `capacity` (more than the backend was
    /// created or last grown for), without moving anything an op in flight uses; `false` if
    /// this backend cannot grow (then nothing changed).
    fn grow(&mut self, capacity: usize) -> bool;

    /// A handle other rings send messages to (`dynamic/messages.rs`): io_uring with
    /// `MSG_RING` only.
    fn ring_target(&self) -> Option<crate::dynamic::RingTarget> {
        None
    }

    /// Queues a message to `target`, sent with the next submission: io_uring only.
    fn send_message(&mut self, target: &crate::dynamic::RingTarget) -> io::Result<()> {
        let _ = target;
        Err(io::Error::new(io::ErrorKind::Unsupported, "messages between rings are io_uring's"))
    }

    /// Messages reaped since the last call.
    fn take_messages(&mut self) -> u32 {
        0
    }

    /// Whether messages were reaped and not yet taken (a wait for completions ends early).
    #[inline]
    fn has_messages(&self) -> bool {
        false
    }

    /// Whether receives into a buffer ring may take bundles (`IORING_RECVSEND_BUNDLE`, io_uring
    /// only).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn has_bundles(&self) -> bool {
        false
    }

    /// Whether multishot accepts and receives hold their socket open themselves (io_uring's
    /// own, not its stand-ins: `RuntimeExt::multishot_holds_files`).
    fn multishot_holds_files(&self) -> bool {
        false
    }

    /// Registers the buffer ring at `ring` (`entries` of `io_uring_buf`, page-aligned) as
    /// provided-buffer group `bgid` (io_uring only: the emulations keep a group as a pool and
    /// are never asked). The caller keeps the memory valid until the backend is dropped.
    /// `incremental` asks for incremental consumption (`IOU_PBUF_RING_INC`); the answer says
    /// whether the ring has it.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn register_buffer_ring(&mut self, ring: *mut u8, entries: u16, bgid: u16, incremental: bool) -> io::Result<bool> {
        let _ = (ring, entries, bgid, incremental);
        Err(io::Error::new(io::ErrorKind::Unsupported, "buffer rings are io_uring's"))
    }
}

/// The backend of one `Dynamic`, chosen at creation: the [`Backend`] implementations this
/// target has, behind static dispatch.
pub(crate) enum AnyBackend {
    #[cfg(target_os = "linux")]
    Uring(uring::Uring),
    #[cfg(not(windows))]
    Posix(posix::PosixBackend),
    #[cfg(windows)]
    Iocp(iocp::IocpBackend),
}

/// Forwards a call to the backend inside an [`AnyBackend`].
macro_rules! each_backend {
    ($self:expr, $b:ident => $call:expr) => {
        match $self {
            #[cfg(target_os = "linux")]
            AnyBackend::Uring($b) => $call,
            #[cfg(not(windows))]
            AnyBackend::Posix($b) => $call,
            #[cfg(windows)]
            AnyBackend::Iocp($b) => $call,
        }
    };
}

impl AnyBackend {
    /// A backend of `kind`, or of the [default](default_backend) kind with `None`. An
    /// io_uring that cannot be set up falls back to posix unless `kind` (or `CORIO_BACKEND`)
    /// asked for io_uring.
    pub(crate) fn new(capacity: u32, kind: Option<BackendKind>) -> io::Result<AnyBackend> {
        let (chosen, forced) = match kind {
            Some(kind) => (kind, true),
            None => default_choice(),
        };
        match chosen {
            #[cfg(target_os = "linux")]
            BackendKind::IoUring => match uring::Uring::new(capacity) {
                Ok(b) => Ok(AnyBackend::Uring(b)),
                Err(e) if !forced => {
                    log::warn!("corio-aio: cannot set up an io_uring ({e}); using the posix backend");
                    posix::new(capacity).map(AnyBackend::Posix)
                }
                Err(e) => Err(e),
            },
            #[cfg(not(target_os = "linux"))]
            BackendKind::IoUring => {
                let _ = forced;
                Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring is Linux-only"))
            }
            #[cfg(not(windows))]
            BackendKind::Posix => posix::new(capacity).map(AnyBackend::Posix),
            #[cfg(windows)]
            BackendKind::Posix => {
                Err(io::Error::new(io::ErrorKind::Unsupported, "the posix backend is not for Windows"))
            }
            #[cfg(windows)]
            BackendKind::Iocp => iocp::new(capacity).map(AnyBackend::Iocp),
            #[cfg(not(windows))]
            BackendKind::Iocp => Err(io::Error::new(io::ErrorKind::Unsupported, "IOCP is Windows-only")),
        }
    }
}

// SAFETY: every call goes to one backend that keeps the contract itself.
unsafe impl Backend for AnyBackend {
    fn kind(&self) -> BackendKind {
        each_backend!(self, b => b.kind())
    }

    fn describe(&self) -> String {
        each_backend!(self, b => b.describe())
    }

    #[inline]
    unsafe fn queue(&mut self, batch: &[Queued]) -> io::Result<()> {
        // SAFETY: forwarded from the caller.
        each_backend!(self, b => unsafe { b.queue(batch) })
    }

    #[inline]
    fn stream(&mut self, n: usize) -> io::Result<Option<Stream<'_>>> {
        each_backend!(self, b => b.stream(n))
    }

    #[inline]
    fn submit(&mut self, min: usize, sink: impl FnMut(Id, i32, bool)) -> io::Result<()> {
        each_backend!(self, b => b.submit(min, sink))
    }

    fn cancel(&mut self, live: &mut dyn Iterator<Item = Id>) -> io::Result<()> {
        each_backend!(self, b => b.cancel(live))
    }

    fn set_timer_spin(&mut self, spin: Duration) {
        each_backend!(self, b => b.set_timer_spin(spin))
    }

    fn register_buffers(&mut self, base: *mut u8, size: usize, count: u16) -> io::Result<()> {
        each_backend!(self, b => b.register_buffers(base, size, count))
    }

    fn grow(&mut self, capacity: usize) -> bool {
        each_backend!(self, b => b.grow(capacity))
    }

    fn register_files(&mut self, capacity: u32) -> io::Result<()> {
        each_backend!(self, b => b.register_files(capacity))
    }

    fn install_file(&mut self, slot: u32, file: crate::sys::Owned) -> io::Result<()> {
        each_backend!(self, b => b.install_file(slot, file))
    }

    fn has_bundles(&self) -> bool {
        each_backend!(self, b => b.has_bundles())
    }

    fn multishot_holds_files(&self) -> bool {
        each_backend!(self, b => b.multishot_holds_files())
    }

    fn register_buffer_ring(&mut self, ring: *mut u8, entries: u16, bgid: u16, incremental: bool) -> io::Result<bool> {
        each_backend!(self, b => b.register_buffer_ring(ring, entries, bgid, incremental))
    }

    fn ring_target(&self) -> Option<crate::dynamic::RingTarget> {
        each_backend!(self, b => b.ring_target())
    }

    fn send_message(&mut self, target: &crate::dynamic::RingTarget) -> io::Result<()> {
        each_backend!(self, b => b.send_message(target))
    }

    fn take_messages(&mut self) -> u32 {
        each_backend!(self, b => b.take_messages())
    }

    #[inline]
    fn has_messages(&self) -> bool {
        each_backend!(self, b => b.has_messages())
    }
}
