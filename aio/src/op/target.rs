//! What an op acts on: a descriptor it borrows, or a slot of its `Dynamic`'s registered file
//! table ([`Fixed`], see [`Dynamic::register_files`](crate::Dynamic::register_files)).
//!
//! The ops that take a target borrow an `impl AsTarget`: `&file` (anything [`AsSource`], as
//! before) or `&Fixed(n)`, a slot. Which ops accept a slot is declared by their row of the op
//! table (`fixed fd`, see `op/table.rs`): a `Fixed` passed to any other op does not compile.
//! They are [`Read`](super::Read), [`Write`](super::Write), [`Readv`](super::Readv),
//! [`Writev`](super::Writev), [`ReadFixed`](super::ReadFixed),
//! [`WriteFixed`](super::WriteFixed), [`Poll`](super::Poll), [`Fsync`](super::Fsync),
//! [`Fallocate`](super::Fallocate), [`Fadvise`](super::Fadvise), [`Recv`](super::Recv),
//! [`Send`](super::Send), [`RecvMsg`](super::RecvMsg), [`SendMsg`](super::SendMsg),
//! [`SendZc`](super::SendZc), [`SendMsgZc`](super::SendMsgZc), [`RecvBuf`](super::RecvBuf),
//! [`RecvMulti`](super::RecvMulti), [`Accept`](super::Accept),
//! [`AcceptMulti`](super::AcceptMulti) (and their direct forms), [`Connect`](super::Connect)
//! and [`Shutdown`](super::Shutdown); [`Close::fixed`](super::Close::fixed) closes a slot.
//! Not the others: io_uring's `statx` refuses registered files, `splice` names two files (a
//! slot for each is not offered yet), and `bind`, `listen` and `ftruncate` fall back to a
//! syscall on older kernels, which cannot reach the table.

use crate::sys::{self, AsSource, Borrowed};

/// A slot of a [`Dynamic`](crate::Dynamic)'s registered file table: an index, not a
/// descriptor. Ops given one act on the file the slot holds when they start; a slot that is
/// empty then, beyond the table, or of a `Dynamic` without a table fails the op with `EBADF`,
/// as io_uring's `IOSQE_FIXED_FILE` does.
///
/// A slot belongs to the `Dynamic` whose table holds it: the same number on another
/// `Dynamic` names that one's slot.
///
/// ```
/// use corio_aio::op::{self, Fixed};
/// let (reader, writer) = std::io::pipe()?;
/// let mut ring = corio_aio::Dynamic::new(4)?;
/// ring.register_files(8)?;
/// ring.install_file(Fixed(3), writer)?; // the table owns the pipe's end now
/// assert_eq!(ring.run(op::Write::new(&Fixed(3), b"hi"), |_| {})??, 2);
/// let mut buf = [0u8; 2];
/// std::io::Read::read_exact(&mut &reader, &mut buf)?;
/// assert_eq!(&buf, b"hi");
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fixed(pub u32);

impl Fixed {
    /// The slot's index in the table.
    #[must_use]
    pub fn index(self) -> u32 {
        self.0
    }
}

/// A descriptor (anything [`AsSource`]) or a registered slot ([`Fixed`]): what the ops that
/// accept registered files borrow (`&file`, `&Fixed(3)`). Sealed.
pub trait AsTarget: sealed::IntoTarget {}

impl<T: AsSource + ?Sized> AsTarget for T {}
impl AsTarget for Fixed {}

pub(crate) mod sealed {
    use super::*;

    /// What an op keeps of its target. `pub` in a private module: nameable only here.
    #[derive(Clone, Copy, Debug)]
    pub enum Target<'a> {
        /// A borrowed descriptor.
        Source(Borrowed<'a>),
        /// A slot of the registered file table.
        Fixed(u32),
    }

    /// The conversion behind [`AsTarget`].
    pub trait IntoTarget {
        /// The op's target.
        fn target(&self) -> Target<'_>;
    }

    impl<T: AsSource + ?Sized> IntoTarget for T {
        #[inline(always)]
        fn target(&self) -> Target<'_> {
            Target::Source(sys::borrow(self))
        }
    }

    impl IntoTarget for Fixed {
        #[inline(always)]
        fn target(&self) -> Target<'_> {
            Target::Fixed(self.0)
        }
    }
}

pub(crate) use sealed::Target;

/// The target of `target`, for an op's constructor.
#[inline(always)]
pub(crate) fn target<T: AsTarget + ?Sized>(target: &T) -> Target<'_> {
    target.target()
}

impl Target<'_> {
    /// The raw op's descriptor field: the descriptor, or the slot's index (read as an index
    /// because the op is queued with its `fixed` flag, see [`Target::is_fixed`]).
    #[inline(always)]
    pub(crate) fn raw(&self) -> crate::raw::RawFd {
        match self {
            Target::Source(fd) => sys::raw(fd),
            // A table has at most `MAX_FILES` slots (checked by `register_files`); a larger
            // index still fits and is refused as out of range when the op starts.
            Target::Fixed(slot) => *slot as crate::raw::RawFd,
        }
    }

    /// Whether the target is a registered slot.
    #[inline(always)]
    pub(crate) fn is_fixed(&self) -> bool {
        matches!(self, Target::Fixed(_))
    }
}

/// The most slots a table may have (io_uring's limit, `IORING_MAX_FIXED_FILES`).
pub(crate) const MAX_FILES: u32 = 1 << 20;

/// Where an op that opens a file puts it in the table: a chosen slot, or any free one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dest {
    At(u32),
    Any,
}

/// The raw form of a [`Dest`]: the slot, or [`ANY_SLOT`].
pub(crate) const ANY_SLOT: u32 = u32::MAX;

impl Dest {
    pub(crate) fn raw(self) -> u32 {
        match self {
            Dest::At(slot) => slot,
            Dest::Any => ANY_SLOT,
        }
    }
}

impl From<Option<Fixed>> for Dest {
    fn from(slot: Option<Fixed>) -> Dest {
        slot.map_or(Dest::Any, |s| Dest::At(s.0))
    }
}
