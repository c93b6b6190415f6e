//! The IOCP backend (Windows): io_uring semantics ([`emu`](super::emu)) over an I/O
//! completion port.
//!
//! * Sockets and files opened for overlapped IO: the real overlapped call (`WSARecv` and
//!   `WSASend` for sockets, with every buffer of a vectored op, also for `Read` and `Write`;
//!   `ReadFile` and `WriteFile` for other handles; `AcceptEx`, `ConnectEx`), its handle
//!   associated with the thread's port ([`port`]) on first use; the op completes when its
//!   packet is dequeued ([`packet`]). Every call that succeeds or pends queues a packet
//!   (no `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`), so an op is always reported from the port.
//! * Event sources: `Notify` releases the semaphore inline; `Wait` registers a thread-pool wait
//!   on it whose callback posts the op's packet (the wait takes the unit when it fires; see
//!   [`event`]). `ChildExit` opens the process and waits for it the same way.
//! * Socket creation, bind, listen, shutdown and close: inline (they do not block).
//! * Everything without an overlapped form (opens, mkdirs, renames, unlinks, symlinks,
//!   fsyncs, reads and writes of handles opened for synchronous IO, e.g. by
//!   `std::fs::File::open`, and vectored reads and writes of anything but a socket, one
//!   buffer after the other): a small worker pool ([`pool`]) whose workers post their result
//!   as a packet.
//! * Timers, links, link timeouts and cancel by id are the engine's; the port's wait gets the
//!   time to the next deadline, rounded up to a millisecond.
//!
//! # Cancellation
//!
//! `CancelIoEx(handle, overlapped)` only *asks*: the op still completes through the port,
//! either aborted (`ERROR_OPERATION_ABORTED`, reported canceled) or done, if it won the race.
//! The driver answers [`Stop::Requested`], the engine reports the cancel op 0 and leaves the
//! op to its packet, so the op reports what really happened and its `OVERLAPPED` and buffers
//! stay in use until the packet is dequeued. `CancelIoEx` failing with `ERROR_NOT_FOUND`
//! means the op completed already (its packet is queued): [`Stop::Running`], `-EALREADY`;
//! but a multishot op would go on from that packet, which becomes its final report instead.
//!
//! # Memory
//!
//! Each op slot has an [`Io`] (the `OVERLAPPED` first, then what the calls write besides the
//! op's own buffers) in a boxed array allocated at creation: its address never changes, and a
//! slot's `Io` is reused only after its packet was dequeued (the engine reuses a slot only
//! after the op is reported, which this driver does only from the packet, or for a pool job
//! or an event wait that it removed before it ran).
//!
//! # Known gaps and deviations
//!
//! * A handle has one completion port at a time. The drivers of a thread share its port, so
//!   a handle moves freely between a thread's `Dynamic`s and its immediate API. Used from
//!   another thread, it is moved to that thread's port (`FileReplaceCompletionInformation`,
//!   Windows 8.1+); packets of IO still in flight from the first port then reach the second,
//!   which forwards them, but only when it next waits. Where the move fails (wine 8, Windows
//!   before 8.1) the second thread's ops complete on the first thread's port, forwarded only
//!   when that thread polls, and never once it has exited.
//! * Every op on a handle re-associates it (one failing `CreateIoCompletionPort`, plus the
//!   move attempt): two extra syscalls per op, until associations are tracked.
//! * Files opened for overlapped IO have no current position: reads and writes of disk files
//!   need an explicit offset (`-EINVAL` otherwise).
//! * Paths relative to a directory: the pool looks up the directory's path
//!   (`GetFinalPathNameByHandleW`) and joins the relative one; not race-free like `openat`.
//! * `Poll` on sockets: `WSAPoll`, without waiting inline, then on the pool in slices that
//!   a cancel stops ([`poll`]).
//! * `ReadMulti` of a synchronous pipe (every anonymous one): its data waited for on the
//!   pool, looked at every 1 to 50 ms ([`read_multi`]).
//! * `ReadTty`: `ReadFile` on the pool, after a console's input is waited for in slices a
//!   cancel stops ([`poll`]).
//! * `Ftruncate` and `Fallocate` (default mode: the file grown, never cut) set the end of
//!   file (`SetFileInformationByHandle`); `LinkAt` is `CreateHardLinkW`, on the pool.
//! * Not supported: `Splice` (Linux only; `ErrorKind::Unsupported` when queued), likewise
//!   `Fadvise`, `Madvise`, the xattr ops, `Fallocate` modes and `LinkAt::follow`, and
//!   `RecvMsg` on a stream socket (Windows has `WSARecvMsg` for datagram and raw sockets only;
//!   `WSAEOPNOTSUPP` when run).

mod event;
mod net;
mod packet;
mod poll;
mod pool;
mod port;
mod provided;
mod read_multi;
mod rw;

use std::cell::{RefCell, UnsafeCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use windows_sys::Wdk::Storage::FileSystem::{
    FILE_COMPLETION_INFORMATION, FileReplaceCompletionInformation, NtSetInformationFile,
};
use windows_sys::Win32::Foundation::{self as f, HANDLE};
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetQueuedCompletionStatusEx, IO_STATUS_BLOCK, OVERLAPPED, OVERLAPPED_ENTRY,
};
use windows_sys::Win32::System::Threading::INFINITE;

use super::BackendKind;
use super::emu::{Driver, Engine, Stop};
use crate::op::RawOp;
use crate::raw::OpState;
use crate::sys::{self, IoVec, RawSource};
use pool::{Job, Pool};
use port::{Inbox, ThreadPort};

/// The IOCP backend: the emulation engine over the completion-port driver.
pub(crate) type IocpBackend = Engine<Iocp>;

/// Creates an IOCP backend for `capacity` ops in flight.
pub(crate) fn new(capacity: u32) -> io::Result<IocpBackend> {
    Ok(Engine::new(capacity, Iocp::new(capacity as usize)?))
}

/// Completion keys: what a packet is.
const KEY_IO: usize = 1;
/// A worker's result, carried in the packet's byte count.
const KEY_POOL: usize = 2;
/// An event source wait that fired.
const KEY_WAIT: usize = 3;

/// Bytes `AcceptEx` needs per address: the largest address plus 16, as documented.
const ACCEPT_ADDR: usize = size_of::<ws::SOCKADDR_STORAGE>() + 16;

/// The OS-facing memory of one op slot. `repr(C)` with the `OVERLAPPED` first, so a packet's
/// `OVERLAPPED` pointer is the `Io`'s address.
#[repr(C)]
pub(super) struct Io {
    overlapped: OVERLAPPED,
    slot: u32,
    /// The port, for the event wait callback (which runs on a thread-pool thread) and for
    /// drivers of other threads that forward a packet.
    port: HANDLE,
    /// The owning driver's inbox, for its siblings on this thread's port.
    inbox: *const Inbox,
    /// `WSARecv`'s flags, in and out.
    flags: u32,
    /// The buffer of a `Recv` or `Send`; empty for the wait of a `RecvBuf` or `RecvMulti`.
    wsabuf: IoVec,
    /// The wait of a `RecvBuf` or `RecvMulti` is on a datagram socket (it peeks, see
    /// [`provided`]).
    datagram: bool,
    /// `AcceptEx`: the socket that becomes the connection, and the two addresses.
    accept: ws::SOCKET,
    addrs: [u8; 2 * ACCEPT_ADDR],
    /// The registered wait of an event source `Wait`, null when none.
    wait: HANDLE,
    /// Set by the wait callback before it posts: the wait took a unit.
    fired: AtomicBool,
    /// Set by a cancel of a `Poll` or `ReadTty` waiting on the pool: the worker stops (see
    /// [`poll`]).
    stop: AtomicBool,
}

/// Where the driver holds an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Not held (completed, or never started).
    Idle,
    /// Overlapped IO in flight on `handle`.
    Io,
    /// Overlapped IO in flight, `CancelIoEx` issued.
    Canceling,
    /// Handed to the worker pool.
    Pool,
    /// Handed to the worker pool as a job that checks its stop flag while it waits (poll, tty
    /// reads): a cancel of the running job sets the flag.
    StoppablePool,
    /// A registered wait on an event source.
    Wait,
}

#[derive(Clone, Copy)]
struct Track {
    at: At,
    op: RawOp,
    state: *mut OpState,
    handle: RawSource,
    /// Whether the IO in flight is a Winsock call (its errors are read back through Winsock).
    socket: bool,
}

/// The completion-port driver.
pub(crate) struct Iocp {
    /// Dropped first: joins the workers, which post to the port.
    pool: Pool,
    ios: Box<[UnsafeCell<Io>]>,
    track: Box<[Track]>,
    entries: Vec<OVERLAPPED_ENTRY>,
    /// Packets of this driver dequeued by a sibling (boxed: `Io`s point at it).
    inbox: Box<Inbox>,
    port: Rc<ThreadPort>,
}

/// What starting an op did.
enum Started {
    /// Completed at once with this result; no packet will come.
    Done(i32),
    /// Its packet will come.
    Pending(At, RawSource),
}

impl Iocp {
    fn new(capacity: usize) -> io::Result<Iocp> {
        let port = port::thread_port()?;
        let inbox = Box::new(RefCell::new(Vec::with_capacity(capacity)));
        let ios = (0..capacity)
            .map(|slot| {
                UnsafeCell::new(Io {
                    // SAFETY: all-zero is a valid `OVERLAPPED` and `SOCKADDR` bytes.
                    overlapped: unsafe { std::mem::zeroed() },
                    slot: slot as u32,
                    port: port.handle(),
                    inbox: &raw const *inbox,
                    flags: 0,
                    wsabuf: IoVec { len: 0, buf: std::ptr::null_mut() },
                    datagram: false,
                    accept: ws::INVALID_SOCKET,
                    addrs: [0; 2 * ACCEPT_ADDR],
                    wait: std::ptr::null_mut(),
                    fired: AtomicBool::new(false),
                    stop: AtomicBool::new(false),
                })
            })
            .collect();
        let idle = Track { at: At::Idle, op: RawOp::Nop {}, state: std::ptr::null_mut(), handle: 0, socket: false };
        let driver = Iocp {
            pool: Pool::new(port.handle() as usize, capacity),
            ios,
            track: vec![idle; capacity].into_boxed_slice(),
            // SAFETY: all-zero is a valid `OVERLAPPED_ENTRY`.
            entries: vec![unsafe { std::mem::zeroed() }; capacity.clamp(1, 256)],
            inbox,
            port,
        };
        port::register(driver.range());
        Ok(driver)
    }

    fn io(&self, s: u32) -> *mut Io {
        self.ios[s as usize].get()
    }

    /// Resets slot `s`'s `OVERLAPPED` to `offset` and returns it.
    fn overlapped(&self, s: u32, offset: u64) -> *mut OVERLAPPED {
        let io = self.io(s);
        // SAFETY: the slot's op is starting: no IO uses its `Io`, and we are its only user.
        unsafe {
            (*io).overlapped = std::mem::zeroed();
            (*io).overlapped.Anonymous.Anonymous.Offset = offset as u32;
            (*io).overlapped.Anonymous.Anonymous.OffsetHigh = (offset >> 32) as u32;
            &raw mut (*io).overlapped
        }
    }

    /// Associates `handle` with the port. A handle has one port at a time: one already
    /// associated (`CreateIoCompletionPort` fails with `ERROR_INVALID_PARAMETER`), with this
    /// port or another `Dynamic`'s, is moved to this one (`FileReplaceCompletionInformation`,
    /// Windows 8.1 and later), so that a socket can go from the immediate API to a `Dynamic`
    /// and back. Packets of IO the other port still had in flight on it come here then, and are
    /// forwarded (see `poll`).
    fn associate(&self, handle: RawSource) -> Result<(), i32> {
        // SAFETY: associates a handle the op borrows with our port; no memory is involved.
        let r = unsafe { CreateIoCompletionPort(handle as HANDLE, self.port.handle(), KEY_IO, 0) };
        if r.is_null() {
            let e = last_error();
            if e != f::ERROR_INVALID_PARAMETER as i32 {
                return Err(e);
            }
            let info = FILE_COMPLETION_INFORMATION { Port: self.port.handle(), Key: KEY_IO as *mut _ };
            // SAFETY: all-zero is a valid status block; the call reads `info` (a live local of
            // the given size) and writes the status block.
            let status = unsafe {
                let mut iosb: IO_STATUS_BLOCK = std::mem::zeroed();
                NtSetInformationFile(
                    handle as HANDLE,
                    &mut iosb,
                    (&raw const info).cast(),
                    size_of::<FILE_COMPLETION_INFORMATION>() as u32,
                    FileReplaceCompletionInformation,
                )
            };
            if status < 0 {
                log::debug!("corio-aio: cannot move a handle to this port (NTSTATUS {status:#x})");
            }
        }
        Ok(())
    }

    /// Whether `ov` is the `OVERLAPPED` of one of this driver's `Io`s.
    fn owns(&self, ov: *mut OVERLAPPED) -> bool {
        self.range().contains(&(ov as usize))
    }

    /// The addresses of this driver's `Io`s.
    fn range(&self) -> std::ops::Range<usize> {
        let base = self.ios.as_ptr() as usize;
        base..base + size_of_val(&*self.ios)
    }

    /// A pool job that waits in slices and checks the slot's stop flag (`Poll`, `ReadTty`).
    fn stoppable_job(&mut self, s: u32) -> Started {
        // SAFETY: the slot's op is starting; the flag is only used atomically.
        unsafe { (*self.io(s)).stop.store(false, Ordering::Relaxed) };
        self.submit_job(s);
        Started::Pending(At::StoppablePool, 0)
    }

    fn pool_job(&mut self, s: u32) -> Started {
        self.submit_job(s);
        Started::Pending(At::Pool, 0)
    }

    fn submit_job(&mut self, s: u32) {
        let t = self.track[s as usize];
        self.pool.submit(Job { slot: s, op: t.op, state: t.state, io: self.io(s) });
    }
}

fn last_error() -> i32 {
    // SAFETY: plain call.
    unsafe { f::GetLastError() as i32 }
}

/// Routes the outcome of an overlapped call: success or pending means a packet will come.
fn overlapped_result(ok: bool, err: i32, handle: RawSource, read: bool) -> Started {
    if ok || err == f::ERROR_IO_PENDING as i32 {
        Started::Pending(At::Io, handle)
    } else if read {
        Started::Done(eof_is_zero(-err))
    } else {
        Started::Done(-err)
    }
}

/// A read at end of file (or of a closed pipe's write end) reads 0 bytes, as on Unix.
fn eof_is_zero(res: i32) -> i32 {
    if res == -(f::ERROR_HANDLE_EOF as i32) || res == -(f::ERROR_BROKEN_PIPE as i32) { 0 } else { res }
}

impl Drop for Iocp {
    fn drop(&mut self) {
        port::unregister(self.range());
    }
}

impl Driver for Iocp {
    const KIND: BackendKind = BackendKind::Iocp;

    // `GetQueuedCompletionStatusEx` waits in whole milliseconds (`poll` rounds up).
    const TIMEOUT_UNIT: Duration = Duration::from_millis(1);

    fn start(&mut self, s: u32, op: RawOp, state: *mut OpState) -> Option<i32> {
        self.track[s as usize] = Track { at: At::Idle, op, state, handle: 0, socket: false };
        let started = match op {
            RawOp::Read { fd, buf, len, offset } => self.read_write(s, fd, buf, len, offset, false),
            RawOp::Write { fd, buf, len, offset } => self.read_write(s, fd, buf.cast_mut(), len, offset, true),
            RawOp::Readv { fd, iov, iovcnt, .. } => self.vectored(s, fd, iov, iovcnt, true),
            RawOp::Writev { fd, iov, iovcnt, .. } => self.vectored(s, fd, iov, iovcnt, false),
            RawOp::Recv { fd, buf, len, flags } => {
                let io = self.io(s);
                // SAFETY: the slot's op is starting; no IO uses its `Io`.
                unsafe { (*io).wsabuf = IoVec { len, buf } };
                // SAFETY: as above; the pointer stays valid until the packet.
                self.wsa(s, fd, unsafe { &raw const (*io).wsabuf }, 1, flags, true)
            }
            RawOp::RecvBuf { fd, group, .. } => self.recv_provided(s, fd, group, false),
            RawOp::RecvMulti { fd, group, .. } => self.recv_provided(s, fd, group, true),
            RawOp::ReadMulti { fd, group } => self.read_multi(s, fd, group),
            RawOp::Send { fd, buf, len, flags } => {
                let io = self.io(s);
                // SAFETY: the slot's op is starting; no IO uses its `Io`.
                unsafe { (*io).wsabuf = IoVec { len, buf: buf.cast_mut() } };
                // SAFETY: as above; the pointer stays valid until the packet.
                self.wsa(s, fd, unsafe { &raw const (*io).wsabuf }, 1, flags, false)
            }
            // A multishot accept starts as one `AcceptEx`; `route` starts the next one after
            // each connection.
            RawOp::Accept { fd, .. } | RawOp::AcceptMulti { fd, .. } => match self.associate(fd) {
                // SAFETY: the slot's `Io` and the op's state are the op's until its packet.
                Ok(()) => unsafe { net::accept(&mut *self.io(s), fd) },
                Err(e) => Started::Done(-e),
            },
            RawOp::Connect { fd } => match self.associate(fd) {
                // SAFETY: as for accept; the state holds the address.
                Ok(()) => unsafe { net::connect(self.overlapped(s, 0), fd, &*state) },
                Err(e) => Started::Done(-e),
            },
            RawOp::RecvMsg { fd, .. } | RawOp::SendMsg { fd, .. } => match self.associate(fd) {
                Ok(()) => {
                    self.track[s as usize].socket = true;
                    let ov = self.overlapped(s, 0);
                    // SAFETY: the message in the state (prepared by the op) points at the op's
                    // buffers and at the address beside it, all valid until the op is reported;
                    // the `OVERLAPPED` lives in the slot's `Io` until the packet.
                    unsafe { net::message(ov, fd, state, matches!(op, RawOp::RecvMsg { .. })) }
                }
                Err(e) => Started::Done(-e),
            },
            RawOp::Socket { domain, ty, protocol } => Started::Done(net::socket(domain, ty, protocol)),
            // SAFETY: the state holds the address (prepared by the op).
            RawOp::Bind { fd } => Started::Done(unsafe { net::bind(fd, &*state) }),
            RawOp::Listen { fd, backlog } => Started::Done(net::listen(fd, backlog)),
            RawOp::Shutdown { fd, how } => Started::Done(net::shutdown(fd, how)),
            RawOp::Close { fd } => {
                // SAFETY: the close op owns `fd`; closing it aborts the IO pending on it, which
                // still reports through the port.
                unsafe { sys::close_raw(fd) };
                Started::Done(0)
            }
            RawOp::Notify { fd } => {
                Started::Done(crate::op::event::sys::notify(fd).map_or_else(|e| -e.raw_os_error().unwrap_or(1), |()| 8))
            }
            RawOp::Wait { fd } => self.wait(s, fd),
            RawOp::Poll { fd, events } => match poll::now(fd, events) {
                Some(res) => Started::Done(res),
                None => self.stoppable_job(s),
            },
            RawOp::ReadTty { .. } => self.stoppable_job(s),
            RawOp::ChildExit { pid } => self.child_exit(s, pid, state),
            // Every other op has no overlapped form (the filesystem calls, fsync): a worker
            // runs it (`pool::perform`, which answers `-EOPNOTSUPP` for an op without a
            // Windows form). Nop, timers and cancels never get here: the engine runs them.
            _ => self.pool_job(s),
        };
        match started {
            Started::Done(res) => Some(res),
            Started::Pending(at, handle) => {
                let t = &mut self.track[s as usize];
                t.at = at;
                t.handle = handle;
                None
            }
        }
    }

    fn cancel(&mut self, s: u32) -> Stop {
        let t = self.track[s as usize];
        match t.at {
            At::Io => {
                let io = self.io(s);
                // SAFETY: asks the OS to stop the IO of this `OVERLAPPED` (still in flight).
                if unsafe { CancelIoEx(t.handle as HANDLE, &raw const (*io).overlapped) } != 0 {
                    self.track[s as usize].at = At::Canceling;
                    Stop::Requested
                } else if t.op.facts().multishot {
                    // `ERROR_NOT_FOUND`, its packet queued: a multishot op would go on from it,
                    // so that packet becomes its final report (`route`).
                    self.track[s as usize].at = At::Canceling;
                    Stop::Requested
                } else {
                    // `ERROR_NOT_FOUND`: it completed; its packet is queued.
                    Stop::Running
                }
            }
            At::Canceling => Stop::Requested,
            At::Pool | At::StoppablePool if self.pool.cancel(s) => {
                self.track[s as usize].at = At::Idle;
                Stop::Queued
            }
            At::StoppablePool => {
                // SAFETY: the `Io` outlives the job; the worker reads the flag atomically.
                unsafe { (*self.io(s)).stop.store(true, Ordering::Release) };
                Stop::Requested
            }
            At::Pool | At::Idle => Stop::Running,
            At::Wait => self.cancel_wait(s),
        }
    }

    fn poll(&mut self, timeout: Option<Duration>, done: &mut Vec<(u32, i32)>) -> io::Result<()> {
        // Packets a sibling driver dequeued for us first; then the port, without waiting if
        // there were some.
        let mut inbox = std::mem::take(&mut *self.inbox.borrow_mut());
        let had_mail = !inbox.is_empty();
        for e in inbox.drain(..) {
            self.route(e, done);
        }
        *self.inbox.borrow_mut() = inbox;
        let millis = match timeout {
            _ if had_mail => 0,
            None => INFINITE,
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(u128::from(INFINITE - 1)) as u32,
        };
        let mut n = 0;
        // SAFETY: the entry buffer is ours and `entries.len()` long.
        let ok = unsafe {
            GetQueuedCompletionStatusEx(
                self.port.handle(),
                self.entries.as_mut_ptr(),
                self.entries.len() as u32,
                &mut n,
                millis,
                0,
            )
        };
        if ok == 0 {
            let e = last_error();
            return if e == f::WAIT_TIMEOUT as i32 { Ok(()) } else { Err(io::Error::from_raw_os_error(e)) };
        }
        for i in 0..n as usize {
            let e = self.entries[i];
            self.route(e, done);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("iocp (I/O completion port, {} pool threads)", self.pool.max_threads())
    }

    /// Not supported: each slot's `Io` lives in one array whose address range identifies this
    /// driver's packets (`port::register`), fixed at creation.
    fn grow(&mut self, _capacity: usize) -> bool {
        false
    }
}
