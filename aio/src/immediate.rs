//! The immediate API: run a batch to completion and return its outputs.
//!
//! Each call blocks the thread until every op it queued has completed, so ops may borrow
//! anything (the call cannot return, nor unwind, while the OS uses their memory: if a panic
//! strikes in between, the `Dynamic` is dropped, and its drop cancels and waits).
//!
//! The calls reuse one `Dynamic` per thread instead of setting up a ring each time; a batch
//! larger than it gets a larger one, which is then kept.

use std::cell::Cell;
use std::io;

use crate::batch::Batch;
use crate::batch::sealed::BatchImpl;
use crate::dynamic::Dynamic;
use crate::op::{Entry, IntoEntry, Op};

const DEFAULT_CAPACITY: u32 = 64;

thread_local! {
    static CACHED: Cell<Option<Dynamic<'static>>> = const { Cell::new(None) };
}

fn run<B: BatchImpl>(batch: B) -> io::Result<B::Values> {
    let n = batch.len();
    let mut dynamic = match CACHED.take() {
        Some(d) if d.capacity() >= n => d,
        _ => Dynamic::new(u32::try_from(n).unwrap_or(u32::MAX).max(DEFAULT_CAPACITY).next_power_of_two())?,
    };
    // `run_values` does not return, nor unwind, before every op of the batch completed, so the
    // batch may borrow short-lived memory. The cached `Dynamic` runs nothing else.
    let values = dynamic.run_values(batch, &mut |c| log::warn!("unexpected completion {:?}", c.id))?;
    CACHED.set(Some(dynamic));
    Ok(values)
}

/// Runs one op to completion and returns its output.
///
/// ```
/// use corio_aio::op;
/// let file = tempfile_in_target()?;
/// assert_eq!(corio_aio::single(op::Write::new(&file, b"hello"))?, 5);
/// # fn tempfile_in_target() -> std::io::Result<std::fs::File> {
/// #     std::fs::File::create(std::env::temp_dir().join("corio-doc-single"))
/// # }
/// # std::io::Result::Ok(())
/// ```
pub fn single<E: IntoEntry>(op: E) -> io::Result<<E::Op as Op>::Output> {
    <Entry<E::Op> as BatchImpl>::outputs(&mut run(op.into_entry())?)
}

/// Runs a batch to completion and returns every output; fails if any op failed, with an
/// [`OpFailed`](crate::OpFailed) saying which op (the first one, in batch order).
///
/// ```
/// use corio_aio::op::{self, OpExt};
/// use std::time::Duration;
/// let ((), ()) = corio_aio::multi((op::Nop::new().soft(), op::Timeout::new(Duration::from_micros(10))))?;
/// # std::io::Result::Ok(())
/// ```
pub fn multi<B: Batch>(batch: B) -> io::Result<B::Outputs> {
    B::outputs(&mut run(batch)?)
}

/// Runs a batch to completion and returns each op's result; it fails only if the batch could
/// not run at all (invalid, or the OS refused it), never because an op failed.
///
/// ```
/// use corio_aio::op;
/// let (nop, open) = corio_aio::complete((op::Nop::new(), op::OpenAt::new("/no/such/file")))?;
/// assert!(nop.is_ok());
/// assert_eq!(open.unwrap_err().kind(), std::io::ErrorKind::NotFound);
/// # std::io::Result::Ok(())
/// ```
pub fn complete<B: Batch>(batch: B) -> io::Result<B::Results> {
    Ok(B::results(&mut run(batch)?))
}
