//! The platform layer: the few types and constants in which descriptor-based systems (Unix,
//! WASI) and Windows differ, under one set of names, so that ops, `RawOp`, decoding and the
//! emulation engine are written once (in the manner of mio's `sys`).
//!
//! * `RawSource`: what a [`RawOp`](crate::op::RawOp) stores for the file or socket it acts on
//!   (`RawFd`; on Windows the value of a `HANDLE` or a `SOCKET`).
//! * `AsSource` / `Borrowed<'a>`: what op constructors accept and keep (`AsFd` and
//!   `BorrowedFd`, unchanged on Unix; on Windows the public `AsSource` over std's
//!   files and sockets, `socket2::Socket` and the handle and socket types of `std::os::windows`).
//! * `IoVec`: the element of a vectored op's buffer array (`iovec`; on Windows `WSABUF`, which
//!   `IoSlice` matches there as `iovec` here).
//! * The error codes the engine and `raw::decode` produce themselves (`ECANCELED`, `ETIME`,
//!   `ENOENT`, `EALREADY`, …): errno values, or on Windows Win32 codes chosen so that
//!   `io::Error::from_raw_os_error` gives a sensible kind.
//! * `NativePath`: how a path op keeps its path in the op's state (a C string; on Windows the
//!   path itself, which the worker hands to std).
//! * `wasi_net`: on WASI, stand-ins for the `socket2` types the socket ops name (socket2 does
//!   not build there; the ops refuse to queue).

#[cfg(not(windows))]
mod unix;
#[cfg(not(windows))]
pub(crate) use unix::*;

#[cfg(target_os = "wasi")]
pub(crate) mod wasi_net;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;
#[cfg(windows)]
pub use windows::{AsSource, BorrowedSource, OwnedSource};
