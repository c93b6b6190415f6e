//! Ops that put the file they open into the registered file table instead of returning a
//! descriptor (io_uring's direct descriptors): [`AcceptDirect`], [`AcceptMultiDirect`],
//! [`OpenAtDirect`], [`SocketDirect`]. Each is made from its plain op (`Accept::direct`, …)
//! and returns the [`Fixed`] slot it filled: the chosen one, or any free one (`None`).
//!
//! The slot must be below the table's size: a chosen slot beyond it fails the op with
//! `EINVAL` (`ENXIO` if the `Dynamic` has no table), a full table (or none) with `ENFILE`
//! when any slot was asked for; a chosen slot that holds a file is replaced (its file
//! closed), as io_uring does. The op's file is closed when it fails so. A slot of `MAX_FILES` (2^20) or more is refused when queued (`InvalidInput`).
//!
//! io_uring passes the slot to the kernel (`file_index`, `IORING_FILE_INDEX_ALLOC`); the
//! emulations run the plain op and install what it opened into the `Dynamic`'s table (see
//! `backend/emu/files.rs`); if that fails, the new descriptor is closed and the op fails.
//!
//! Older kernels: before Linux 5.15 (no direct descriptors) io_uring runs the plain op and
//! installs its descriptor into the chosen slot when it completes (a failed install then
//! fails the op, but no longer its soft link, which the kernel saw succeed); before 5.19 a
//! direct op into any free slot, an [`AcceptMultiDirect`], and a [`SocketDirect`] fail
//! with `EOPNOTSUPP` (`Unsupported`): only the kernel knows which slots are free, and no
//! syscall reaches its table.
//!
//! ```
//! # #[cfg(not(target_os = "wasi"))] {
//! use corio_aio::op::{self, Fixed};
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
//! let mut ring = corio_aio::Dynamic::new(4)?;
//! ring.register_files(16)?;
//! let slot = ring.run(op::Accept::new(&listener).direct(Some(Fixed(5))), |_| {})??;
//! assert_eq!(slot, Fixed(5));
//! ring.run(op::Send::new(&slot, b"hi"), |_| {})??;
//! let mut buf = [0u8; 2];
//! std::io::Read::read_exact(&mut client, &mut buf)?;
//! assert_eq!(&buf, b"hi");
//! # }
//! # std::io::Result::Ok(())
//! ```

use std::io;

use super::RawOp;
use super::sealed::Prepare;
use super::table::Facts;
use super::target::{Dest, Fixed, MAX_FILES};
use crate::Value;
use crate::error::invalid_input;
use crate::raw::OpState;

/// The raw slot of a direct op: a chosen slot below `MAX_FILES`, or `ANY_SLOT`.
fn dest(slot: Option<Fixed>) -> io::Result<u32> {
    match Dest::from(slot) {
        Dest::At(slot) if slot >= MAX_FILES => Err(invalid_input("a registered file slot of 2^20 or more")),
        dest => Ok(dest.raw()),
    }
}

macro_rules! direct_op {
    ($(#[$meta:meta])* $name:ident $(<$lt:lifetime>)? from $plain:ident) => {
        $(#[$meta])*
        #[derive(Debug)]
        #[must_use = "an op does nothing until it is queued (aio::single, Dynamic::queue, coro::io::single, …)"]
        pub struct $name $(<$lt>)? {
            op: super::$plain $(<$lt>)?,
            slot: Option<Fixed>,
        }

        impl $(<$lt>)? super::$plain $(<$lt>)? {
            #[doc = concat!("Puts the new file into slot `slot` of the `Dynamic`'s registered file table, or into any free slot with `None`, instead of returning it (see [`", stringify!($name), "`]).")]
            pub fn direct(self, slot: Option<Fixed>) -> $name $(<$lt>)? {
                $name { op: self, slot }
            }
        }

        impl $(<$lt>)? super::Op for $name $(<$lt>)? {
            type Output = Fixed;
            fn output(value: Value) -> io::Result<Fixed> {
                match value {
                    Value::Fixed(slot) => Ok(slot),
                    _ => Err(super::mismatch()),
                }
            }
        }
    };
}

direct_op! {
    /// An [`Accept`](super::Accept) whose connection goes into the registered file table;
    /// returns its slot (the peer's address is not returned).
    AcceptDirect<'a> from Accept
}
direct_op! {
    /// An [`OpenAt`](super::OpenAt) whose file goes into the registered file table; returns
    /// its slot.
    OpenAtDirect<'a> from OpenAt
}
direct_op! {
    /// A [`Socket`](super::Socket) that goes into the registered file table; returns its
    /// slot. On io_uring it needs the `SOCKET` opcode (Linux 5.19): without it the op fails
    /// with `EOPNOTSUPP` (`Unsupported`).
    SocketDirect from Socket
}

/// An [`AcceptMulti`](super::AcceptMulti) whose connections go into free slots of the
/// registered file table: one completion per connection, with its slot. A full table ends
/// the op (`ENFILE`).
#[derive(Debug)]
#[must_use = "an op does nothing until it is queued (Dynamic::queue)"]
pub struct AcceptMultiDirect<'a> {
    op: super::AcceptMulti<'a>,
}

impl<'a> super::AcceptMulti<'a> {
    /// Puts every connection into a free slot of the `Dynamic`'s registered file table
    /// instead of returning it (see [`AcceptMultiDirect`]).
    pub fn direct(self) -> AcceptMultiDirect<'a> {
        AcceptMultiDirect { op: self }
    }
}

impl super::Op for AcceptMultiDirect<'_> {
    type Output = Fixed;
    fn output(value: Value) -> io::Result<Fixed> {
        <AcceptDirect<'_> as super::Op>::output(value)
    }
}

impl Prepare for AcceptDirect<'_> {
    const NAME: &'static str = Facts::AcceptDirect.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.op.fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let slot = dest(self.slot)?;
        match self.op.prepare(state)? {
            RawOp::Accept { fd, flags } => Ok(RawOp::AcceptDirect { fd, flags, slot }),
            _ => unreachable!("Accept prepares an accept"),
        }
    }
}

impl Prepare for AcceptMultiDirect<'_> {
    const NAME: &'static str = Facts::AcceptMultiDirect.name;
    #[inline(always)]
    fn fixed(&self) -> bool {
        self.op.fixed()
    }
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        match self.op.prepare(state)? {
            RawOp::AcceptMulti { fd, flags } => Ok(RawOp::AcceptMultiDirect { fd, flags }),
            _ => unreachable!("AcceptMulti prepares an accept_multi"),
        }
    }
}

impl Prepare for OpenAtDirect<'_> {
    const NAME: &'static str = Facts::OpenAtDirect.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let slot = dest(self.slot)?;
        match self.op.prepare(state)? {
            RawOp::OpenAt { dir, flags, mode } => Ok(RawOp::OpenAtDirect { dir, flags, mode, slot }),
            _ => unreachable!("OpenAt prepares an openat"),
        }
    }
}

impl Prepare for SocketDirect {
    const NAME: &'static str = Facts::SocketDirect.name;
    #[inline]
    fn prepare(self, state: &mut OpState) -> io::Result<RawOp> {
        let slot = dest(self.slot)?;
        match self.op.prepare(state)? {
            RawOp::Socket { domain, ty, protocol } => Ok(RawOp::SocketDirect { domain, ty, protocol, slot }),
            _ => unreachable!("Socket prepares a socket"),
        }
    }
}

impl RawOp {
    /// For an op that fills a slot of the registered file table: its plain form (which
    /// returns a descriptor) and its slot (a chosen one, or `ANY_SLOT`), for the emulations.
    #[inline]
    pub(crate) fn direct(self) -> Option<(RawOp, u32)> {
        Some(match self {
            RawOp::AcceptDirect { fd, flags, slot } => (RawOp::Accept { fd, flags }, slot),
            RawOp::AcceptMultiDirect { fd, flags } => (RawOp::AcceptMulti { fd, flags }, super::target::ANY_SLOT),
            RawOp::OpenAtDirect { dir, flags, mode, slot } => (RawOp::OpenAt { dir, flags, mode }, slot),
            RawOp::SocketDirect { domain, ty, protocol, slot } => (RawOp::Socket { domain, ty, protocol }, slot),
            _ => return None,
        })
    }
}

/// This family's rows of the op table (see `op/table.rs`).
macro_rules! direct_ops {
    ([$next:ident $(, $rest:ident)*] $($rows:tt)*) => {
        $next! { [$($rest),*] $($rows)*
            /// As `Accept`, into slot `slot` (or any, `ANY_SLOT`); peer address in
            /// [`OpState::Addr`](crate::raw::OpState::Addr).
            AcceptDirect { fd: crate::raw::RawFd, flags: i32, slot: u32 }
                = { name: "accept_direct", output: Output::Fixed, consumer: true, socket: true, ..Facts::DEFAULT }
                fixed fd;
            /// As `AcceptMulti`, each connection into any free slot.
            AcceptMultiDirect { fd: crate::raw::RawFd, flags: i32 }
                = { name: "accept_multi_direct", output: Output::Fixed, consumer: true, socket: true,
                    multishot: true, ..Facts::DEFAULT }
                fixed fd;
            /// As `OpenAt`, into slot `slot` (or any, `ANY_SLOT`); path in
            /// [`OpState::Path`](crate::raw::OpState::Path).
            OpenAtDirect { dir: crate::raw::RawFd, flags: i32, mode: u32, slot: u32 }
                = { name: "openat_direct", output: Output::Fixed, ..Facts::DEFAULT };
            /// As `Socket`, into slot `slot` (or any, `ANY_SLOT`).
            SocketDirect { domain: i32, ty: i32, protocol: i32, slot: u32 }
                = { name: "socket_direct", output: Output::Fixed, socket: true, ..Facts::DEFAULT };
        }
    };
}
pub(crate) use direct_ops;
