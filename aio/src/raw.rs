//! The backend-neutral form of an operation and of its completion.
//!
//! A typed op ([`crate::op`]) turns itself into a [`RawOp`] (plain `Copy` parts: fds, pointers
//! and lengths, flags) plus per-op [`OpState`] kept in the op's slot (timespecs, socket
//! addresses, message headers, paths, a child's siginfo). Backends only ever see these. The
//! backend reports a raw result code (`>= 0` a value, `< 0` a negated OS error) and may fill
//! the state; [`decode`] turns both into a [`Value`], which the typed op converts to its output.

use std::io;
#[cfg(not(target_os = "wasi"))]
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
#[cfg(not(windows))]
use std::os::fd::{FromRawFd, OwnedFd};
#[cfg(windows)]
use std::os::windows::io::{FromRawHandle, FromRawSocket, OwnedHandle, OwnedSocket};
#[cfg(not(target_os = "wasi"))]
use std::process::ExitStatus;

#[cfg(not(target_os = "wasi"))]
use socket2::{SockAddr, SockAddrStorage};

/// The raw source (descriptor, handle or socket) a `RawOp` acts on; see [`crate::sys`].
pub(crate) use crate::sys::RawSource as RawFd;
use crate::sys::{EALREADY, ECANCELED, ENOENT, IoVec, NativePath};

use crate::error::{self, Condition};
use crate::id::Id;
use crate::op::Events;

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

/// [`RawOp::RenameAt`] flag: fail if the new path exists. Backends translate it
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

/// An operation in backend-neutral form. Pointers are valid until the op completes (the
/// soundness contract of [`crate::Dynamic`]).
///
/// On WASI the socket and child-process variants are never built (the socket ops refuse to
/// queue there, the process op is not compiled) but stay, so that backends match on one shape
/// everywhere.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(target_os = "wasi", allow(dead_code))]
pub enum RawOp {
    Nop,
    Fsync {
        fd: RawFd,
        datasync: bool,
    },
    Poll {
        fd: RawFd,
        events: u32,
    },
    Read {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        offset: u64,
    },
    Write {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        offset: u64,
    },
    Readv {
        fd: RawFd,
        iov: *const IoVec,
        iovcnt: u32,
        offset: u64,
    },
    Writev {
        fd: RawFd,
        iov: *const IoVec,
        iovcnt: u32,
        offset: u64,
    },
    ReadTty {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
    },
    /// Peer address lands in [`OpState::Addr`].
    Accept {
        fd: RawFd,
        flags: i32,
    },
    /// Address in [`OpState::Addr`].
    Connect {
        fd: RawFd,
    },
    /// Address in [`OpState::Addr`].
    Bind {
        fd: RawFd,
    },
    Listen {
        fd: RawFd,
        backlog: i32,
    },
    Recv {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        flags: i32,
    },
    Send {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        flags: i32,
    },
    /// Header in [`OpState::Msg`].
    RecvMsg {
        fd: RawFd,
        flags: i32,
    },
    /// Header in [`OpState::Msg`].
    SendMsg {
        fd: RawFd,
        flags: i32,
    },
    Shutdown {
        fd: RawFd,
        how: i32,
    },
    /// Path in [`OpState::Path`].
    OpenAt {
        dir: RawFd,
        flags: i32,
        mode: u32,
    },
    Close {
        fd: RawFd,
    },
    /// Timespec in [`OpState::Timespec`].
    Timeout {
        nanos: u64,
    },
    /// Timespec in [`OpState::Timespec`].
    LinkTimeout {
        nanos: u64,
    },
    Cancel {
        target: Id,
    },
    /// Paths in [`OpState::Paths`].
    RenameAt {
        old_dir: RawFd,
        new_dir: RawFd,
        flags: u32,
    },
    /// Path in [`OpState::Path`].
    UnlinkAt {
        dir: RawFd,
        flags: i32,
    },
    /// Path in [`OpState::Path`].
    MkdirAt {
        dir: RawFd,
        mode: u32,
    },
    /// Target and link path in [`OpState::Paths`].
    SymlinkAt {
        dir: RawFd,
    },
    /// Exit information lands in [`OpState::Child`].
    ChildExit {
        pid: u32,
    },
    Socket {
        domain: i32,
        ty: i32,
        protocol: i32,
    },
    Splice {
        fd_in: RawFd,
        off_in: i64,
        fd_out: RawFd,
        off_out: i64,
        len: u32,
        flags: u32,
    },
    /// Adds one to an event source; the value written is in [`OpState::Counter`].
    Notify {
        fd: RawFd,
    },
    /// Takes one from an event source; the value read lands in [`OpState::Counter`].
    Wait {
        fd: RawFd,
    },
}

impl RawOp {
    /// A short name for logs and errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            RawOp::Nop => "nop",
            RawOp::Fsync { .. } => "fsync",
            RawOp::Poll { .. } => "poll",
            RawOp::Read { .. } => "read",
            RawOp::Write { .. } => "write",
            RawOp::Readv { .. } => "readv",
            RawOp::Writev { .. } => "writev",
            RawOp::ReadTty { .. } => "read_tty",
            RawOp::Accept { .. } => "accept",
            RawOp::Connect { .. } => "connect",
            RawOp::Bind { .. } => "bind",
            RawOp::Listen { .. } => "listen",
            RawOp::Recv { .. } => "recv",
            RawOp::Send { .. } => "send",
            RawOp::RecvMsg { .. } => "recvmsg",
            RawOp::SendMsg { .. } => "sendmsg",
            RawOp::Shutdown { .. } => "shutdown",
            RawOp::OpenAt { .. } => "openat",
            RawOp::Close { .. } => "close",
            RawOp::Timeout { .. } => "timeout",
            RawOp::LinkTimeout { .. } => "link_timeout",
            RawOp::Cancel { .. } => "cancel",
            RawOp::RenameAt { .. } => "renameat",
            RawOp::UnlinkAt { .. } => "unlinkat",
            RawOp::MkdirAt { .. } => "mkdirat",
            RawOp::SymlinkAt { .. } => "symlinkat",
            RawOp::ChildExit { .. } => "child_exit",
            RawOp::Socket { .. } => "socket",
            RawOp::Splice { .. } => "splice",
            RawOp::Notify { .. } => "notify",
            RawOp::Wait { .. } => "wait",
        }
    }
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

/// What a child-exit wait learns on Windows.
#[cfg(windows)]
pub struct ChildState {
    /// The process, opened when the op starts (closed when it completes).
    pub(crate) process: Option<OwnedHandle>,
    /// `GetExitCodeProcess`'s code once the process ended.
    pub(crate) code: u32,
}

/// Per-op state stored in the op's slot, at a stable address until the op completes.
#[derive(Default)]
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

/// Converts a raw completion of `op` into a [`Value`].
///
/// Never panics on an errno: anything the kernel reports becomes an `io::Error`. The common
/// cases (failures aside, ops whose value is a byte count or nothing) are decided inline; ops
/// that build a richer value from their state go through an out-of-line call.
#[inline(always)]
pub(crate) fn decode(op: &RawOp, res: i32, state: &mut OpState) -> io::Result<Value> {
    if res < 0 {
        return decode_error(op, res);
    }
    match op {
        RawOp::Read { .. }
        | RawOp::Write { .. }
        | RawOp::Readv { .. }
        | RawOp::Writev { .. }
        | RawOp::ReadTty { .. }
        | RawOp::Recv { .. }
        | RawOp::Send { .. }
        | RawOp::SendMsg { .. }
        | RawOp::Splice { .. } => Ok(Value::Len(res as usize)),
        RawOp::Accept { .. }
        | RawOp::OpenAt { .. }
        | RawOp::Socket { .. }
        | RawOp::Poll { .. }
        | RawOp::RecvMsg { .. }
        | RawOp::ChildExit { .. } => Ok(decode_rich(op, res, state)),
        _ => Ok(Value::Unit),
    }
}

/// The successful [`Value`] of an op that builds it from its result and state.
#[inline(never)]
fn decode_rich(op: &RawOp, res: i32, state: &mut OpState) -> Value {
    match op {
        RawOp::Accept { .. } | RawOp::OpenAt { .. } | RawOp::Socket { .. } => {
            // SAFETY: on success these ops return a new descriptor that nothing else owns.
            #[cfg(not(windows))]
            let fd = unsafe { OwnedFd::from_raw_fd(res as RawFd) };
            // SAFETY: on success these ops return a new socket (accept, socket) or file handle
            // (openat) that nothing else owns; the IOCP driver only reports handle values that
            // fit in a positive `i32` (see `backend/iocp`).
            #[cfg(windows)]
            let fd = unsafe {
                match op {
                    RawOp::OpenAt { .. } => {
                        Value::Handle(OwnedHandle::from_raw_handle(res as usize as std::os::windows::io::RawHandle))
                    }
                    _ => Value::Socket(OwnedSocket::from_raw_socket(res as u64)),
                }
            };
            match (op, state) {
                #[cfg(not(target_os = "wasi"))]
                (RawOp::Accept { .. }, OpState::Addr { addr, len }) => {
                    // SAFETY: the backend (kernel accept or its emulation) wrote `len` bytes of
                    // a socket address of the storage's family into `addr`.
                    let peer = unsafe { SockAddr::new(std::mem::replace(addr, SockAddrStorage::zeroed()), *len) };
                    #[cfg(windows)]
                    let Value::Socket(fd) = fd else { unreachable!("accept gives a socket") };
                    Value::Accepted(fd, Address::new(peer))
                }
                #[cfg(not(windows))]
                _ => Value::Fd(fd),
                #[cfg(windows)]
                _ => fd,
            }
        }
        RawOp::Poll { .. } => Value::Events(Events::from_bits(res as u32)),
        #[cfg(unix)]
        RawOp::RecvMsg { .. } => {
            let OpState::Msg(msg) = state else { unreachable!("recvmsg without its header") };
            let addr = if msg.hdr.msg_namelen > 0 {
                let storage = std::mem::replace(&mut msg.addr, SockAddrStorage::zeroed());
                // SAFETY: recvmsg wrote `msg_namelen` bytes of address into the storage.
                Some(Address::new(unsafe { SockAddr::new(storage, msg.hdr.msg_namelen) }))
            } else {
                None
            };
            Value::Message {
                len: res as usize,
                addr,
                flags: msg.hdr.msg_flags,
                // `msg_controllen` is `usize` on glibc and `u32` elsewhere.
                #[allow(clippy::unnecessary_cast)]
                control_len: msg.hdr.msg_controllen as usize,
            }
        }
        #[cfg(windows)]
        RawOp::RecvMsg { .. } => {
            let OpState::Msg(m) = state else { unreachable!("recvmsg without its message") };
            let addr = if m.msg.namelen > 0 {
                let storage = std::mem::replace(&mut m.addr, SockAddrStorage::zeroed());
                // SAFETY: WSARecvMsg wrote `namelen` bytes of address into the storage.
                Some(Address::new(unsafe { SockAddr::new(storage, m.msg.namelen as socket2::socklen_t) }))
            } else {
                None
            };
            Value::Message {
                len: res as usize,
                addr,
                flags: m.msg.dwFlags as i32,
                control_len: m.msg.Control.len as usize,
            }
        }
        #[cfg(not(target_os = "wasi"))]
        RawOp::ChildExit { .. } => {
            let OpState::Child(child) = state else { unreachable!("child_exit without state") };
            Value::Exit(crate::op::process::exit_status(child))
        }
        _ => unreachable!("decode_rich of {}", op.name()),
    }
}

#[cold]
fn decode_error(op: &RawOp, res: i32) -> io::Result<Value> {
    match op {
        // A link timeout that fires reports ETIME; one whose guarded op finished first is
        // disarmed (ECANCELED, or ENOENT/EALREADY on races) and is not a failure.
        RawOp::LinkTimeout { .. } => match -res {
            ECANCELED | ENOENT | EALREADY => Ok(Value::Unit),
            ETIME => Err(Condition::Expired.into()),
            e => Err(io::Error::from_raw_os_error(e)),
        },
        RawOp::Timeout { .. } if res == -ETIME => Ok(Value::Unit),
        _ => Err(error::check(res).expect_err("negative results are errors")),
    }
}
