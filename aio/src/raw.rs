//! The plain data of an operation and of its completion, below the ops themselves.
//!
//! A typed op ([`crate::op`]) turns itself into a `RawOp` (generated from the op table,
//! `op/table.rs`) plus per-op [`OpState`] kept in the op's slot (timespecs, socket addresses,
//! message headers, paths, a child's siginfo). Backends only ever see these. The backend
//! reports a raw result code (`>= 0` a value, `< 0` a negated OS error) and may fill the
//! state; `op::decode` turns both into a [`Value`], which the typed op converts to its
//! output. This module depends on nothing in `op` or `backend`.

#[cfg(not(target_os = "wasi"))]
use std::fmt;
#[cfg(not(target_os = "wasi"))]
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
#[cfg(not(windows))]
use std::os::fd::OwnedFd;
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
#[cfg(windows)]
use std::os::windows::io::{OwnedHandle, OwnedSocket};
#[cfg(not(target_os = "wasi"))]
use std::process::ExitStatus;

#[cfg(not(target_os = "wasi"))]
use socket2::{SockAddr, SockAddrStorage};

/// The raw source (descriptor, handle or socket) a `RawOp` acts on; see [`crate::sys`].
pub(crate) use crate::sys::RawSource as RawFd;
use crate::sys::{self, NativePath};

/// `offset` value meaning "the file's current position" (and advance it), as io_uring's `-1`.
pub(crate) const CURRENT_POS: u64 = u64::MAX;

/// `SOCK_CLOEXEC` for socket/accept flags where the OS takes it there; on Apple systems (which
/// have no `SOCK_CLOEXEC`) it is 0 and backends set `FD_CLOEXEC` on new sockets themselves.
#[cfg(not(any(target_vendor = "apple", windows)))]
pub(crate) const SOCK_CLOEXEC: i32 = libc::SOCK_CLOEXEC;
/// On Windows the IOCP driver creates sockets non-inheritable itself.
#[cfg(any(target_vendor = "apple", windows))]
pub(crate) const SOCK_CLOEXEC: i32 = 0;

/// `MSG_NOSIGNAL` where the OS has it; on Apple systems it is 0 and backends rely on
/// `SO_NOSIGPIPE` instead.
#[cfg(not(any(target_vendor = "apple", target_os = "wasi", windows)))]
pub(crate) const MSG_NOSIGNAL: i32 = libc::MSG_NOSIGNAL;
/// Windows and WASI have no `SIGPIPE` to suppress.
#[cfg(any(target_vendor = "apple", target_os = "wasi", windows))]
pub(crate) const MSG_NOSIGNAL: i32 = 0;

/// The result code of a timer that fired (`-ETIME`, as io_uring reports it).
pub(crate) use crate::sys::ETIME;

/// `RawOp::RenameAt` flag: fail if the new path exists. Backends translate it
/// (`RENAME_NOREPLACE` on Linux).
pub(crate) const RENAME_NOREPLACE: u32 = 1;

/// How an op is tied to the next op of its batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Link {
    /// Ends a chain: the next op starts independently.
    #[default]
    Unlinked,
    /// The next op starts only after this one completes; if this one fails, the rest of the
    /// chain ends [Canceled](crate::is_canceled).
    Soft,
    /// The next op starts only after this one completes, whatever its result.
    Hard,
}

/// A kernel timespec (`__kernel_timespec`): 64-bit seconds and nanoseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Timespec {
    pub(crate) sec: i64,
    pub(crate) nsec: i64,
}

impl Timespec {
    pub(crate) fn from_nanos(nanos: u64) -> Timespec {
        Timespec { sec: (nanos / 1_000_000_000) as i64, nsec: (nanos % 1_000_000_000) as i64 }
    }
}

/// A message header and the socket address it points at.
#[cfg(unix)]
pub struct MsgState {
    pub(crate) hdr: libc::msghdr,
    pub(crate) addr: SockAddrStorage,
}

// The OS structures have no `Debug` (libc's needs a feature): a state shows what it is only.
#[cfg(not(target_os = "wasi"))]
impl fmt::Debug for MsgState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgState").finish_non_exhaustive()
    }
}

/// A Winsock message and the socket address it points at.
#[cfg(windows)]
pub struct MsgState {
    pub(crate) msg: windows_sys::Win32::Networking::WinSock::WSAMSG,
    pub(crate) addr: SockAddrStorage,
}

/// What a child-exit wait learns.
#[cfg(unix)]
pub struct ChildState {
    /// Filled by `waitid`: how the child ended.
    pub(crate) info: libc::siginfo_t,
    /// Set instead of `info` by backends that reap with `waitpid`: the classic wait status.
    pub(crate) wait_status: Option<i32>,
    /// What readiness backends watch for the exit: a pidfd on Linux, a kqueue with an
    /// `EVFILT_PROC` event on macOS and the BSDs (closed when the op completes).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) pidfd: Option<OwnedFd>,
}

#[cfg(unix)]
impl fmt::Debug for ChildState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `siginfo_t` has no `Debug` without a libc feature.
        let ChildState { info: _, wait_status, pidfd } = self;
        f.debug_struct("ChildState").field("wait_status", wait_status).field("pidfd", pidfd).finish_non_exhaustive()
    }
}

/// What a child-exit wait learns on Windows.
#[cfg(windows)]
#[derive(Debug)]
pub struct ChildState {
    /// The process, opened when the op starts (closed when it completes).
    pub(crate) process: Option<OwnedHandle>,
    /// `GetExitCodeProcess`'s code once the process ended.
    pub(crate) code: u32,
}

/// Per-op state stored in the op's slot, at a stable address until the op completes.
#[derive(Debug, Default)]
pub enum OpState {
    #[default]
    Empty,
    Timespec(Timespec),
    #[cfg(not(target_os = "wasi"))]
    Addr {
        addr: SockAddrStorage,
        len: socket2::socklen_t,
    },
    #[cfg(not(target_os = "wasi"))]
    Msg(MsgState),
    Path(NativePath),
    Paths(NativePath, NativePath),
    #[cfg(not(target_os = "wasi"))]
    Child(ChildState),
    Counter(u64),
    /// A registered buffer that a `ReadFixed`/`WriteFixed` holds until it completes (`None`
    /// once its completion took it: taking the buffer alone spares moving the whole state).
    Buf(Option<crate::FixedBuf>),
    /// The provided-buffer group a selecting receive takes from (kept alive while it runs).
    Group(std::rc::Rc<crate::dynamic::groups::Group>),
}

impl OpState {
    /// Sets the state of a slot being queued, which is [`Empty`](OpState::Empty): a free slot's
    /// state always is (reaping, a failed `prepare` and a rolled-back batch reset it). The old
    /// state is forgotten rather than dropped, so queueing an op with state makes no call into
    /// the drop glue of every kind of state; were it ever not empty, it would leak, never be
    /// freed twice.
    #[inline(always)]
    pub(crate) fn fill(&mut self, state: OpState) {
        debug_assert!(matches!(self, OpState::Empty), "a free slot's state is empty");
        std::mem::forget(std::mem::replace(self, state));
    }

    /// Resets the state of a slot whose op completed to [`Empty`](OpState::Empty). Empty
    /// stays as it is, and a registered-buffer op's state, whose completion took the buffer,
    /// is overwritten without a call into the drop glue (it owns nothing); others drop.
    #[inline(always)]
    pub(crate) fn clear(&mut self) {
        if let OpState::Empty = self {
            return;
        }
        if let OpState::Buf(None) = self {
            std::mem::forget(std::mem::replace(self, OpState::Empty));
            return;
        }
        *self = OpState::Empty;
    }
}

/// The result of a completed operation, before its typed op converts it.
///
/// [`Dynamic::complete`](crate::Dynamic::complete) hands these out; convert one to an op's
/// typed output with [`Completion::output`](crate::Completion::output). Values own what they
/// carry: dropping a `Value::Fd` closes that descriptor.
#[derive(Debug)]
#[non_exhaustive]
pub enum Value {
    /// The op succeeded and has no output.
    Unit,
    /// A byte count (reads, writes, sends, receives, splices).
    Len(usize),
    /// The readiness events a poll observed.
    Events(Events),
    /// How a child process ended.
    #[cfg(not(target_os = "wasi"))]
    Exit(ExitStatus),
    /// A new descriptor (a socket or an opened file).
    #[cfg(not(windows))]
    Fd(OwnedFd),
    /// A new file handle (an opened file).
    #[cfg(windows)]
    Handle(OwnedHandle),
    /// A new socket.
    #[cfg(windows)]
    Socket(OwnedSocket),
    /// An accepted connection and its peer's address.
    #[cfg(not(target_os = "wasi"))]
    Accepted(crate::sys::OwnedSocket, Address),
    /// A received message.
    #[cfg(not(target_os = "wasi"))]
    Message {
        /// Bytes of data received.
        len: usize,
        /// The sender's address, if the socket reported one.
        addr: Option<Address>,
        /// `MSG_*` flags of the message.
        flags: i32,
        /// Bytes of ancillary data received.
        control_len: usize,
    },
    /// A byte count and the registered buffer the op read into or wrote from.
    Buf {
        /// Bytes transferred.
        len: usize,
        /// The buffer, handed back.
        buf: crate::FixedBuf,
    },
    /// A provided buffer a receive filled (empty at end of stream).
    Provided(crate::ProvidedBuf),
    /// The slot of the registered file table an op filled ([`direct`](crate::op::direct)).
    Fixed(crate::op::Fixed),
}

/// A socket address as a completion carries it: inline for IPv4 and IPv6, boxed for other
/// families (Unix sockets), so that [`Value`] stays small. Not compiled on wasm32-wasip1
/// (no sockets there).
#[derive(Debug)]
#[cfg(not(target_os = "wasi"))]
pub struct Address(AddressRepr);

#[derive(Debug)]
#[cfg(not(target_os = "wasi"))]
enum AddressRepr {
    V4(SocketAddrV4),
    V6(SocketAddrV6),
    Other(Box<SockAddr>),
}

#[cfg(not(target_os = "wasi"))]
impl Address {
    pub(crate) fn new(addr: SockAddr) -> Address {
        Address(match addr.as_socket() {
            Some(SocketAddr::V4(a)) => AddressRepr::V4(a),
            Some(SocketAddr::V6(a)) => AddressRepr::V6(a),
            None => AddressRepr::Other(Box::new(addr)),
        })
    }

    /// The address if it is an IPv4 or IPv6 one.
    #[must_use]
    pub fn as_socket(&self) -> Option<SocketAddr> {
        match &self.0 {
            AddressRepr::V4(a) => Some(SocketAddr::V4(*a)),
            AddressRepr::V6(a) => Some(SocketAddr::V6(*a)),
            AddressRepr::Other(a) => a.as_socket(),
        }
    }
}

#[cfg(not(target_os = "wasi"))]
impl From<Address> for SockAddr {
    fn from(addr: Address) -> SockAddr {
        match addr.0 {
            AddressRepr::V4(a) => a.into(),
            AddressRepr::V6(a) => a.into(),
            AddressRepr::Other(a) => *a,
        }
    }
}

/// Readiness events, as in `poll(2)`: what a [`Poll`](crate::op::Poll) waits for and observes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Events(u32);

impl Events {
    /// Readable (`POLLIN`).
    pub const IN: Events = Events(sys::POLLIN);
    /// Urgent data (`POLLPRI`). Not on WASI, whose `poll` has no such event.
    #[cfg(not(target_os = "wasi"))]
    pub const PRI: Events = Events(sys::POLLPRI);
    /// Writable (`POLLOUT`).
    pub const OUT: Events = Events(sys::POLLOUT);
    /// An error condition (`POLLERR`; always reported, never needs asking).
    pub const ERR: Events = Events(sys::POLLERR);
    /// Hang-up (`POLLHUP`; always reported).
    pub const HUP: Events = Events(sys::POLLHUP);

    /// No events.
    #[must_use]
    pub const fn empty() -> Events {
        Events(0)
    }
    /// From raw `POLL*` bits.
    #[must_use]
    pub const fn from_bits(bits: u32) -> Events {
        Events(bits)
    }
    /// The raw `POLL*` bits.
    #[must_use]
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// Whether every event of `other` is in `self`.
    #[must_use]
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether `self` and `other` share an event.
    #[must_use]
    pub const fn intersects(self, other: Events) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

/// The exit status a child-exit op learned: a classic wait status if the backend used
/// `waitpid`, else decoded from the `waitid` siginfo by `si_code`. On Windows: the exit code.
#[cfg(windows)]
pub(crate) fn exit_status(child: &ChildState) -> ExitStatus {
    std::os::windows::process::ExitStatusExt::from_raw(child.code)
}

/// The exit status a child-exit op learned: a classic wait status if the backend used
/// `waitpid`, else decoded from the `waitid` siginfo by `si_code`.
#[cfg(unix)]
pub(crate) fn exit_status(child: &ChildState) -> ExitStatus {
    if let Some(status) = child.wait_status {
        return ExitStatus::from_raw(status);
    }
    let info = &child.info;
    // SAFETY: for SIGCHLD-style siginfo filled by waitid, `si_status` is the initialised
    // member of the union.
    let status = unsafe { info.si_status() };
    let raw = match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        libc::CLD_STOPPED | libc::CLD_TRAPPED => ((status & 0xff) << 8) | 0x7f,
        libc::CLD_CONTINUED => 0xffff,
        _ => status,
    };
    ExitStatus::from_raw(raw)
}
