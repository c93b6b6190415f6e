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
//! * `submit(wait, sink)`: hands queued ops to the OS and reports every op that completed as
//!   `sink(id, res)` where `res >= 0` is the op's value and `res < 0` a negated OS error
//!   (`-ECANCELED` for canceled). With `wait`, it blocks until at least one op completed.
//!   Every queued op is reported exactly once; ops may also fill their [`OpState`].
//! * `cancel(live)`: asks the OS to cancel the given ops in flight (used by `Dynamic`'s drop,
//!   which then waits for them).
//!
//! Memory that a queued op points at (its buffers and its `OpState`) stays valid and unmoved
//! until the op is reported; that is the caller's side of the contract
//! ([`Dynamic`](crate::Dynamic) guarantees it).

use std::io;

use crate::id::Id;
use crate::raw::{Link, OpState, RawOp};

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

/// Which backend a [`Dynamic`](crate::Dynamic) runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// Linux io_uring.
    IoUring,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::IoUring => "io_uring",
        })
    }
}

/// The backend of one `Dynamic`, chosen at creation.
pub(crate) enum Backend {
    #[cfg(target_os = "linux")]
    Uring(uring::Uring),
}

impl Backend {
    pub(crate) fn new(capacity: u32) -> io::Result<Backend> {
        #[cfg(target_os = "linux")]
        {
            uring::Uring::new(capacity).map(Backend::Uring)
        }
    }

    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(_) => BackendKind::IoUring,
        }
    }

    pub(crate) fn queue(&mut self, batch: &[Queued]) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.queue(batch),
        }
    }

    pub(crate) fn submit(&mut self, wait: bool, sink: impl FnMut(Id, i32)) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.submit(wait, sink),
        }
    }

    /// Asks the OS to cancel every op in `live` (the `Dynamic`'s ops in flight).
    pub(crate) fn cancel(&mut self, live: &mut dyn Iterator<Item = Id>) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.cancel(live),
        }
    }

    /// A one-line description of the backend and the OS features it uses.
    pub(crate) fn describe(&self) -> String {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Uring(b) => b.describe(),
        }
    }
}
