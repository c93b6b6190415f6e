//! corio's `aio`: io_uring-style, completion-based batch IO.
//!
//! Describe IO operations as typed values ([`op`]), optionally link them into chains, submit
//! them as a batch and collect their completions.
//!
//! * The immediate API — [`single`], [`multi`], [`complete`] — runs a batch to completion and
//!   returns typed outputs.
//! * [`Dynamic`] keeps ops in flight across calls: [`queue`](Dynamic::queue) batches, then
//!   [`complete`](Dynamic::complete) them as they finish, with a callback per op. Borrowed
//!   buffers go through [`scope`].
//!
//! ```
//! use corio_aio::op::{self, OpExt};
//! let (reader, writer) = std::io::pipe()?;
//! let mut buf = [0u8; 5];
//! // Write then read, as one soft-linked chain in one submission.
//! let (written, read) = corio_aio::multi((op::Write::new(&writer, b"hello").soft(), op::Read::new(&reader, &mut buf)))?;
//! assert_eq!((written, read, &buf), (5, 5, b"hello"));
//! # std::io::Result::Ok(())
//! ```
//!
//! # Links
//!
//! An op linked [soft](op::OpExt::soft) starts the next op of its batch only once it has
//! succeeded; if it fails, the rest of the chain ends [canceled](is_canceled). A
//! [hard](op::OpExt::hard) link starts the next op whatever the result. A
//! [`LinkTimeout`](op::LinkTimeout) right after a linked op bounds it. Chains never span
//! batches: the last op of a batch must be unlinked.
//!
//! # Errors
//!
//! Every error is a [`std::io::Error`] with the OS's `ErrorKind` and raw error; canceled ops
//! and expired link timeouts are recognised with [`is_canceled`] and [`is_expired`].
//!
//! # Soundness
//!
//! No safe API lets the kernel touch memory that Rust has freed: see [`dynamic`'s
//! docs](Dynamic#soundness) for the argument.

// docs.rs builds with `--cfg docsrs` on nightly: items that exist only on some targets
// (Unix, Linux, Windows, not WASI) get a badge saying where they are available.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod batch;
mod dynamic;
mod error;
mod id;
mod immediate;
pub mod op;
mod raw;
mod sys;

pub use backend::{BackendKind, default_backend};
pub use batch::{Batch, OpFailed};
pub use dynamic::{
    BufferGroup, BufferGroupOptions, Completed, Completion, Dynamic, FixedBuf, Mode, ProvidedBuf, scope, scope_with,
};
pub use error::{Condition, canceled, condition, is_canceled, is_expired};
pub use id::Id;
pub use immediate::{complete, multi, single};
pub use op::EventSource;
#[cfg(not(target_os = "wasi"))]
pub use raw::Address;
pub use raw::{Link, Value};
#[cfg(windows)]
pub use sys::{AsSource, BorrowedSource, OwnedSource};

/// The types the socket ops ([`op::net`]) take and return, under one path on every target.
///
/// They are `socket2`'s, re-exported. On wasm32-wasip1, where socket2 does not build and WASI
/// preview 1 cannot create sockets, they are small stand-ins with the same names and the
/// constants and conversions the ops need (`Domain::IPV4`, `Type::STREAM`, `SockAddr` from
/// a `SocketAddr`, …); every socket op fails there with `ErrorKind::Unsupported`.
pub mod net_types {
    #[cfg(not(target_os = "wasi"))]
    pub use socket2::{Domain, Protocol, SockAddr, Socket, Type};

    #[cfg(target_os = "wasi")]
    pub use crate::sys::wasi_net::{Domain, Protocol, SockAddr, Socket, Type};
}

/// Hooks for corio-coro's scheduler (and other runtimes built on [`Dynamic`]): queueing with
/// tagged user data, routing completions by their parts, collecting a batch's outputs.
///
/// **Not public API**: hidden from the docs, not covered by semver, may change in any
/// release. The items are documented in the source (`aio/src/dynamic/runtime.rs`).
#[doc(hidden)]
pub mod __private {
    pub use crate::dynamic::{Collector, CollectorSink, OP_KINDS, OpTarget, RingTarget, RuntimeExt, op_kind_name};
}
