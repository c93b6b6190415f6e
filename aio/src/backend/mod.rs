//! Backends: where raw ops meet the OS.
//!
//! # The backend contract
//!
//! A backend is created with a capacity (the most ops in flight at once) and then:
//!
//! * `queue(batch)`: takes a batch of [`Queued`] ops **atomically**: it either accepts all of
//!   them or returns an error having accepted none. Links between consecutive ops of the batch
//!   follow [`Link`](crate::Link); the last op is always unlinked. Nothing reaches the OS yet
//!   (except ops a backend must run synchronously, after every check has passed).
//! * `stream(n)` (optional; io_uring only): instead of `queue`, takes a batch op by op while
//!   it is prepared, with the same atomicity: nothing of it is visible to the OS until
//!   `commit`, and dropping the stream rolls back what it took.
//! * `submit(wait, sink)`: hands queued ops to the OS and reports every op that completed as
//!   `sink(id, res)` where `res >= 0` is the op's value and `res < 0` a negated OS error
//!   (`-ECANCELED` for canceled). With `wait`, it blocks until at least one op completed.
//!   Every queued op is reported exactly once; ops may also fill their [`OpState`].
//! * `cancel(live)`: asks the OS to cancel the given ops in flight (used by `Dynamic`'s drop,
//!   which then waits for them).
//!
//! Two backends implement it: `uring` (Linux io_uring) and `posix` (the OS-independent
//! io_uring-semantics engine `emu` over a readiness driver). [`default_backend`] picks one.
//!
//! Memory that a queued op points at (its buffers and its `OpState`) stays valid and unmoved
//! until the op is reported; that is the caller's side of the contract
//! ([`Dynamic`](crate::Dynamic) guarantees it).

use std::io;
use std::sync::OnceLock;

use crate::id::Id;
use crate::raw::{Link, OpState, RawOp};

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

    pub(crate) fn commit(self) {
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

/// The backend of one `Dynamic`, chosen at creation.
pub(crate) enum Backend {
    #[cfg(target_os = "linux")]
    Uring(uring::Uring),
    #[cfg(not(windows))]
    Posix(posix::PosixBackend),
    #[cfg(windows)]
    Iocp(iocp::IocpBackend),
}

impl Backend {
    /// A backend of `kind`, or of the [default](default_backend) kind with `None`.
    pub(crate) fn new(capacity: u32, kind: Option<BackendKind>) -> io::Result<Backend> {
        let (chosen, forced) = match kind {
            Some(kind) => (kind, true),
            None => default_choice(),
        };
        match chosen {
            #[cfg(target_os = "linux")]
            BackendKind::IoUring => match uring::Uring::new(capacity) {
                Ok(b) => Ok(Backend::Uring(b)),
                Err(e) if !forced => {
                    log::warn!("corio-aio: cannot set up an io_uring ({e}); using the posix backend");
                    posix::new(capacity).map(Backend::Posix)
                }
                Err(e) => Err(e),
            },
            #[cfg(not(target_os = "linux"))]
            BackendKind::IoUring => {
                let _ = forced;
                Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring is Linux-only"))
            }
            #[cfg(not(windows))]
            BackendKind::Posix => posix::new(capacity).map(Backend::Posix),
            #[cfg(windows)]
            BackendKind::Posix => {
                Err(io::Error::new(io::ErrorKind::Unsupported, "the posix backend is not for Windows"))
            }
            #[cfg(windows)]
            BackendKind::Iocp => iocp::new(capacity).map(Backend::Iocp),
            #[cfg(not(windows))]
            BackendKind::Iocp => Err(io::Error::new(io::ErrorKind::Unsupported, "IOCP is Windows-only")),
        }
    }

    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(_) => BackendKind::IoUring,
            #[cfg(not(windows))]
            Backend::Posix(_) => BackendKind::Posix,
            #[cfg(windows)]
            Backend::Iocp(_) => BackendKind::Iocp,
        }
    }

    pub(crate) fn queue(&mut self, batch: &[Queued]) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.queue(batch),
            #[cfg(not(windows))]
            Backend::Posix(b) => b.queue(batch),
            #[cfg(windows)]
            Backend::Iocp(b) => b.queue(batch),
        }
    }

    /// Starts streaming a batch of `n` ops (see `Stream`), where the backend can.
    #[inline]
    pub(crate) fn stream(&mut self, n: usize) -> io::Result<Option<Stream<'_>>> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.stream(n),
            // The engine-based backends take whole batches.
            _ => {
                let _ = n;
                Ok(None)
            }
        }
    }

    /// `submit` of the backend contract; `min > 0` waits. io_uring waits for `min` CQEs in the
    /// kernel (hidden ones count there, so fewer may be reported); other backends for one.
    pub(crate) fn submit(&mut self, min: usize, mut sink: impl FnMut(Id, i32)) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.submit(min, sink),
            #[cfg(not(windows))]
            Backend::Posix(b) => b.submit(min > 0, &mut sink),
            #[cfg(windows)]
            Backend::Iocp(b) => b.submit(min > 0, &mut sink),
        }
    }

    /// Asks the OS to cancel every op in `live` (the `Dynamic`'s ops in flight).
    pub(crate) fn cancel(&mut self, live: &mut dyn Iterator<Item = Id>) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.cancel(live),
            #[cfg(not(windows))]
            Backend::Posix(b) => b.cancel_all(live),
            #[cfg(windows)]
            Backend::Iocp(b) => b.cancel_all(live),
        }
    }

    /// Sets how long the backend busy-polls before a timer's deadline (see
    /// `Dynamic::set_timer_spin`); on io_uring only plain timeouts (its heap timers) see it.
    pub(crate) fn set_timer_spin(&mut self, spin: std::time::Duration) {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.set_timer_spin(spin),
            #[cfg(not(windows))]
            Backend::Posix(b) => b.set_timer_spin(spin),
            #[cfg(windows)]
            Backend::Iocp(b) => b.set_timer_spin(spin),
        }
    }

    /// A one-line description of the backend and the OS features it uses.
    pub(crate) fn describe(&self) -> String {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.describe(),
            #[cfg(not(windows))]
            Backend::Posix(b) => emu::Driver::describe(b.driver()),
            #[cfg(windows)]
            Backend::Iocp(b) => emu::Driver::describe(b.driver()),
        }
    }
}
