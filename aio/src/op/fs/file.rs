//! Ops on open files: [`Close`].

use std::io;

use crate::op::RawOp;
use crate::op::sealed::Prepare;
use crate::op::table::Facts;
use crate::op::unit_output;
use crate::raw::OpState;
use crate::sys;

/// Closes a descriptor (a file, a directory, a socket, an [`EventSource`](crate::EventSource)),
/// taking ownership of it. Ops still pending on that descriptor in the same `Dynamic` are
/// canceled first (on io_uring a pending op holds its own reference to the file, so a plain
/// close would not stop it).
///
/// Which ops count as "on that descriptor" differs: io_uring cancels every op of the
/// `Dynamic` on the same open file, so closing a duplicate (`try_clone`, `dup(2)`) also
/// cancels the original's pending ops; posix cancels only the ops queued on that descriptor
/// number (on IOCP, closing a handle aborts the IO issued through that handle). Close a
/// duplicate with `drop` (a plain `close(2)`, which cancels nothing) where that matters, as
/// `corio_coro::net`'s types do when dropped.
///
/// The descriptor is gone once the op is queued, even if the close then reports an error
/// (as with `close(2)`). If the batch cannot be queued, the descriptor is closed on the spot.
#[derive(Debug)]
pub struct Close {
    fd: sys::Owned,
}

impl Close {
    /// Closes `fd` (on Windows anything that converts into an `OwnedSource`: a file, a
    /// socket, an event source).
    pub fn new(fd: impl Into<sys::Owned>) -> Self {
        Close { fd: fd.into() }
    }
}

impl Prepare for Close {
    const NAME: &'static str = Facts::Close.name;
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Ok(RawOp::Close { fd: sys::into_raw(self.fd) })
    }
}

unit_output!(Close);
