//! Ops that touch no file: [`Nop`] and [`Cancel`].

use std::io;

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use crate::id::Id;
use crate::raw::OpState;

/// Does nothing and completes successfully: a way to wake a completion loop, or to measure the
/// overhead of a backend.
///
/// ```
/// corio_aio::single(corio_aio::op::Nop::new())?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Nop(());

impl Nop {
    /// A nop.
    pub fn new() -> Nop {
        Nop(())
    }
}

impl Prepare for Nop {
    const NAME: &'static str = Facts::Nop.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Ok(RawOp::Nop {})
    }
}

/// Cancels a previously queued op of the same [`Dynamic`](crate::Dynamic).
///
/// Succeeds if the target was canceled (the target then completes with a
/// [canceled](crate::is_canceled) error). Fails with `ErrorKind::NotFound` (raw `ENOENT`) if no
/// live op has this id (it finished already, or the id is stale), and with raw `EALREADY`
/// (the "in progress" case) if the target is running and cannot be stopped.
///
/// On Windows (IOCP) a cancel of IO in flight is a request to the OS (`CancelIoEx`): it
/// succeeds once the request is made, and the target reports what really happened, canceled
/// or, if it completed first, its result. Raw codes there are Win32 ones
/// (`ERROR_FILE_NOT_FOUND`, `WSAEALREADY`), with the same `ErrorKind`s.
///
/// On io_uring, an op that has not started yet because it waits behind a link is not found
/// either (`NotFound`): cancel the op it waits for instead (behind a soft link, that cancels
/// the rest of the chain too).
#[derive(Clone, Copy, Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Cancel {
    target: Id,
}

impl Cancel {
    /// Cancels the op with id `target`.
    pub fn new(target: Id) -> Cancel {
        Cancel { target }
    }
}

impl Prepare for Cancel {
    const NAME: &'static str = Facts::Cancel.name;
    #[inline]
    fn prepare(self, _: &mut OpState) -> io::Result<RawOp> {
        Ok(RawOp::Cancel { target: self.target })
    }
}

super::unit_output!(Nop, Cancel);

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! misc_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            Nop {} = { name: "nop", ..Facts::DEFAULT };
            Cancel { target: crate::id::Id } = { name: "cancel", ..Facts::DEFAULT };
        }
    };
}
pub(crate) use misc_ops;
