//! What [`Dynamic::complete`](super::Dynamic::complete) reports: each [`Completion`], and
//! the [`Completed`] counts.

use std::io;

use crate::id::Id;
use crate::raw::Value;

/// Whether [`Dynamic::complete`](super::Dynamic::complete) waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Wait until at least one op completes (returns at once if none is in flight).
    Blocking,
    /// Only collect what has already completed.
    Nonblocking,
}

/// Counts returned by [`Dynamic::complete`](super::Dynamic::complete).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Completed {
    /// Ops that completed (their final completion: a multishot op counts once, when it ends).
    pub completed: usize,
    /// How many completions failed.
    pub errors: usize,
    /// Completions of multishot ops that said more would follow ([`Completion::more`]); not
    /// counted in `completed`.
    pub more: usize,
}

/// One completed op of a [`Dynamic`](super::Dynamic).
#[derive(Debug)]
#[non_exhaustive]
pub struct Completion {
    /// The op's id, as returned by [`Dynamic::queue`](super::Dynamic::queue).
    pub id: Id,
    /// The user data given with [`OpExt::user_data`](crate::op::OpExt::user_data) (0 if none).
    pub user_data: u64,
    /// The op's name (`"read"`, `"accept"`, …).
    pub op: &'static str,
    /// What the op produced.
    pub result: io::Result<Value>,
    /// More completions of this op will follow: the op (a multishot one, such as
    /// [`AcceptMulti`](crate::op::AcceptMulti)) is still in flight and keeps its id. False on
    /// an op's last completion, and always for single-shot ops. A multishot op ends when the
    /// OS says so (an error, a cancel, or the kernel's own reasons): queue it again to go on.
    pub more: bool,
}

impl Completion {
    /// The op's typed output, for an op of type `O`.
    ///
    /// ```
    /// use corio_aio::{Dynamic, Mode, op::{self, Op}};
    /// let mut ring = Dynamic::new(4)?;
    /// ring.queue(op::Nop::new())?;
    /// ring.complete(Mode::Blocking, |c| c.output::<op::Nop>().unwrap())?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn output<O: crate::op::Op>(self) -> io::Result<O::Output> {
        O::output(self.result?)
    }
}
