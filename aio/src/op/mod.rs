//! The operations: one typed value per IO request.
//!
//! Each op is a small struct whose required inputs go to `new` and whose optional inputs are
//! builder methods; its result type is [`Op::Output`]. Ops borrow what they need (buffers,
//! descriptors, paths) for their lifetime parameter, and take ownership of what they consume
//! ([`Close`] takes an `OwnedFd`; on Windows an `OwnedSource`).
//!
//! Link an op to the next one of its batch with [`OpExt::soft`] or [`OpExt::hard`], and attach
//! user data with [`OpExt::user_data`].
//!
//! | family | what |
//! |---|---|
//! | [`misc`] | no file: [`Nop`], [`Cancel`] |
//! | [`time`] | the monotonic clock: [`Timeout`], [`LinkTimeout`] |
//! | [`rw`] | reading, writing and waiting on descriptors ([`Read`], [`Write`], [`Poll`], …) |
//! | [`buf`] | reading and writing registered buffers: [`ReadFixed`], [`WriteFixed`] |
//! | [`fs`] | paths and files ([`OpenAt`], [`Close`], [`RenameAt`], [`Ftruncate`], [`GetXattr`], …) |
//! | [`net`] | sockets ([`Socket`], [`Accept`], [`Connect`], [`Recv`], [`Send`], …) |
//! | [`process`] | child processes: [`ChildExit`] |
//! | [`event`] | [`Notify`], [`Wait`] on an [`EventSource`] |
//! | [`direct`] | opening into the registered file table: [`AcceptDirect`], [`OpenAtDirect`], … |
//!
//! Most ops that act on a descriptor also take a slot of the `Dynamic`'s registered file
//! table ([`Fixed`], see [`target`] and [`Dynamic::register_files`](crate::Dynamic::register_files)).
//!
//! Every op of every family is re-exported here; each family's docs list its ops.
//!
//! # Naming
//!
//! Ops are named after the io_uring opcodes and syscalls they stand for (`Read`, `Write`,
//! `Send`, `Poll`, `Socket`, …), so some share a name with std items (the `Read`/`Write`
//! traits, the `Send` marker): import the module and write `op::Read`, as every example here
//! does. Only traits (`OpExt`) need importing by name.
//!
//! ```
//! use corio_aio::op::{self, OpExt};
//! use std::io::{Read, Write}; // no clash with op::Read, op::Write
//! let (mut reader, mut writer) = std::io::pipe()?;
//! writer.write_all(b"std ")?;
//! corio_aio::multi((op::Write::new(&writer, b"and ").soft(), op::Write::new(&writer, b"aio")))?;
//! let mut buf = [0u8; 11];
//! reader.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"std and aio");
//! # std::io::Result::Ok(())
//! ```
//!
//! # WASI
//!
//! On `wasm32-wasip1`, WASI preview 1 cannot create sockets or processes: the [`net`] ops
//! exist but refuse to queue (`ErrorKind::Unsupported`, the batch refused whole, see
//! [`net`](net#wasi)), and the [`process`] family is **not compiled**. Everything else works
//! there on the posix backend, with paths inside the directories the runtime preopened (e.g.
//! `wasmtime run --dir=.`), and an [`EventSource`] backed by an unlinked file (see [`event`]).

//!
//! # Windows
//!
//! Ops take `impl AsSource` (files, sockets, event sources) where Unix takes `impl AsFd`. On
//! the IOCP backend every op runs but [`Splice`] (Linux only: queueing it fails with
//! `ErrorKind::Unsupported`), [`Fadvise`], [`Madvise`], the xattr ops and `Fallocate`'s modes
//! (refused likewise), and `RecvMsg` works on datagram sockets only (`WSARecvMsg`).
//! See [`rw`] for offsets, vectored ops, [`ReadTty`] and [`Poll`] (sockets and disk files,
//! `IN` and `OUT`) there, and [`fs`] for paths relative to a directory (resolved through the
//! directory's path: not race-free like `openat`).

// The docs link the process family, which WASI users do not have (there the module is private
// and holds only its op table row): the links are right wherever the family exists, and
// WASI's docs say it is missing.
#![cfg_attr(target_os = "wasi", allow(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links))]

use std::io;

use crate::raw::{Link, OpState, Value};

pub mod buf;
#[cfg(target_os = "linux")]
pub mod cmsg;
mod decode;
pub mod direct;
pub mod event;
pub mod fs;
pub mod misc;
pub mod net;
#[cfg(not(target_os = "wasi"))]
pub mod process;
pub mod provided;
// Not compiled for users on WASI (no processes), but its op table row is: see `process`.
#[cfg(target_os = "wasi")]
mod process;
pub mod rw;
pub(crate) mod table;
pub mod target;
pub mod time;

pub(crate) use decode::decode;
pub(crate) use raw_op::{KIND_NAMES, KINDS, RawOp};

/// `RawOp`, generated from the families' rows of the op table (`table.rs`). The rows pass
/// from family to family (each `<family>_ops!` appends its own) and end in
/// `define_raw_ops!`. A private module, so that `RawOp` is not public API.
///
/// Module order: the families use `super::RawOp` to build their raw forms and this module
/// uses their row macros; that is the one two-way edge in `op/`, between a parent and its
/// children, and it carries only the table.
mod raw_op {
    use super::table::{Facts, Output, define_raw_ops};
    use super::{buf::buf_ops, direct::direct_ops, event::event_ops, fs::fs_ops, misc::misc_ops, net::net_ops};
    use super::{process::process_ops, provided::provided_ops, rw::rw_ops, time::time_ops};

    misc_ops! { [time_ops, rw_ops, buf_ops, fs_ops, net_ops, provided_ops, process_ops, event_ops, direct_ops, define_raw_ops] }
}

// Each family's public items, so that a new op needs no line here.
pub use buf::*;
pub use direct::*;
pub use event::*;
pub use fs::*;
pub use misc::*;
pub use net::*;
#[cfg(not(target_os = "wasi"))]
pub use process::*;
pub use provided::*;
pub use rw::*;
pub use target::{AsTarget, Fixed};
pub use time::*;

pub(crate) mod sealed {
    use super::*;

    /// The crate-private half of [`Op`]: how an op becomes a [`RawOp`] and how its
    /// [`Value`] becomes its output.
    pub trait Prepare {
        /// The op's name (`"read"`, `"accept"`, …), as [`OpFailed`](crate::OpFailed) and
        /// [`Completion::op`](crate::Completion::op) report it.
        const NAME: &'static str;

        /// Fills the op's slot state and returns its raw form. Failing here (a path with an
        /// interior NUL, a buffer over 4 GiB) leaves nothing queued.
        ///
        /// Every impl is `#[inline]`: queueing is generic over the op, and once `prepare` is
        /// inlined its `RawOp` variant is known there, so the backend's matches on it (the
        /// op table's facts, io_uring's SQE) fold away in the caller's crate.
        fn prepare(self, state: &mut OpState) -> io::Result<RawOp>;

        /// Whether the op's target is a slot of the registered file table ([`Fixed`]): its
        /// raw op's `fixed` field then holds the slot's index. Asked before `prepare`.
        ///
        /// [`Fixed`]: super::Fixed
        #[inline(always)]
        fn fixed(&self) -> bool {
            false
        }
    }
}

/// An IO operation.
///
/// Implemented by every type in this module; it cannot be implemented outside this crate.
pub trait Op: sealed::Prepare {
    /// What the operation produces when it succeeds.
    type Output;

    /// Converts a completed op's [`Value`] into this op's output. Fails with
    /// `ErrorKind::InvalidData` if the value came from another kind of op.
    fn output(value: Value) -> io::Result<Self::Output>;
}

/// An op plus how it links to the next op and the user data its completion carries.
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
pub struct Entry<O> {
    pub(crate) op: O,
    pub(crate) link: Link,
    pub(crate) user_data: u64,
}

/// Builder methods available on every op: linking and user data.
pub trait OpExt: Op + Sized {
    /// The next op of the batch starts only if this one succeeds; if this one fails, the rest
    /// of the chain ends canceled.
    fn soft(self) -> Entry<Self> {
        Entry { op: self, link: Link::Soft, user_data: 0 }
    }
    /// The next op of the batch starts after this one completes, whatever its result.
    fn hard(self) -> Entry<Self> {
        Entry { op: self, link: Link::Hard, user_data: 0 }
    }
    /// Links with an explicit [`Link`].
    fn link(self, link: Link) -> Entry<Self> {
        Entry { op: self, link, user_data: 0 }
    }
    /// Attaches user data, handed back with the op's [`Completion`](crate::Completion).
    fn user_data(self, user_data: u64) -> Entry<Self> {
        Entry { op: self, link: Link::Unlinked, user_data }
    }
}

impl<O: Op> OpExt for O {}

impl<O: Op> Entry<O> {
    /// Sets the link of this entry.
    pub fn link(mut self, link: Link) -> Self {
        self.link = link;
        self
    }
    /// Soft-links this entry (see [`OpExt::soft`]).
    pub fn soft(self) -> Self {
        self.link(Link::Soft)
    }
    /// Hard-links this entry (see [`OpExt::hard`]).
    pub fn hard(self) -> Self {
        self.link(Link::Hard)
    }
    /// Sets the user data of this entry.
    pub fn user_data(mut self, user_data: u64) -> Self {
        self.user_data = user_data;
        self
    }
}

/// Anything that can be one element of a batch: an op, or an [`Entry`] wrapping one.
pub trait IntoEntry {
    /// The op inside.
    type Op: Op;
    /// Wraps into an entry.
    fn into_entry(self) -> Entry<Self::Op>;
}

impl<O: Op> IntoEntry for O {
    type Op = O;
    fn into_entry(self) -> Entry<O> {
        Entry { op: self, link: Link::Unlinked, user_data: 0 }
    }
}

impl<O: Op> IntoEntry for Entry<O> {
    type Op = O;
    fn into_entry(self) -> Entry<O> {
        self
    }
}

pub(crate) fn mismatch() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "completion value is not of this op type")
}

/// Converts a buffer length to the 32 bits the kernel interfaces take.
pub(crate) fn len32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| crate::error::invalid_input("buffer longer than 4 GiB"))
}

/// Implements [`Op`] for an op whose output is `()`.
macro_rules! unit_output {
    ($($ty:ident $(<$lt:lifetime>)?),* $(,)?) => {$(
        impl $(<$lt>)? $crate::op::Op for $ty $(<$lt>)? {
            type Output = ();
            #[inline]
            fn output(value: $crate::Value) -> std::io::Result<()> {
                match value {
                    $crate::Value::Unit => Ok(()),
                    _ => Err($crate::op::mismatch()),
                }
            }
        }
    )*};
}

/// Implements [`Op`] for an op whose output is a byte count.
macro_rules! len_output {
    ($($ty:ident $(<$lt:lifetime>)?),* $(,)?) => {$(
        impl $(<$lt>)? $crate::op::Op for $ty $(<$lt>)? {
            type Output = usize;
            #[inline]
            fn output(value: $crate::Value) -> std::io::Result<usize> {
                match value {
                    $crate::Value::Len(n) => Ok(n),
                    _ => Err($crate::op::mismatch()),
                }
            }
        }
    )*};
}

pub(crate) use {len_output, unit_output};
