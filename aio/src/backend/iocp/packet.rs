//! Dequeued packets on the IOCP driver: each routed to the driver whose `Io` it names (this
//! one, a sibling on the thread's port, or another thread's port after a handle moved), its
//! status read back as the op's result (through Winsock for socket ops), and a multishot
//! accept started again after each connection.

use std::io;

use windows_sys::Win32::Foundation as f;
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::System::IO::{OVERLAPPED_ENTRY, PostQueuedCompletionStatus};

use super::{At, Io, Iocp, KEY_POOL, KEY_WAIT, Started, eof_is_zero, net, port};
use crate::backend::emu::MORE;
use crate::op::RawOp;
use crate::sys::{self, RawSource};

impl Iocp {
    /// The result of overlapped op `s` whose packet carried `status` and `bytes`.
    fn complete_io(&mut self, s: u32, status: i32, bytes: u32) -> i32 {
        let t = self.track[s as usize];
        let io = self.io(s);
        // An accept or connect reports through Winsock before its socket was marked.
        let socket_op = t.socket || t.op.facts().socket;
        let res = if status >= 0 {
            bytes.min(i32::MAX as u32) as i32
        } else if socket_op {
            // Winsock's own translation of the status (`WSAECONNREFUSED`, not the NT one).
            let (mut n, mut flags) = (0, 0);
            // SAFETY: the packet was dequeued: the `OVERLAPPED` is final and ours to read.
            let ok =
                unsafe { ws::WSAGetOverlappedResult(t.handle, &raw const (*io).overlapped, &mut n, 0, &mut flags) };
            // SAFETY: plain call.
            if ok != 0 { n as i32 } else { -unsafe { ws::WSAGetLastError() } }
        } else {
            // SAFETY: plain conversion.
            -(unsafe { f::RtlNtStatusToDosError(status) } as i32)
        };
        match t.op {
            // SAFETY: the packet was dequeued: the `Io` and the op's state are ours again.
            RawOp::Accept { fd, .. } | RawOp::AcceptMulti { fd, .. } => unsafe {
                net::accepted(&mut *io, t.state, fd, res)
            },
            RawOp::Connect { fd } if res >= 0 => net::connected(fd),
            RawOp::Read { .. } => eof_is_zero(res),
            _ => res,
        }
    }

    /// Handles a dequeued packet: ours completes its op; a sibling driver's goes to its inbox;
    /// one of another thread's port (a handle moved here, see `associate`) is posted there.
    pub(super) fn route(&mut self, e: OVERLAPPED_ENTRY, done: &mut Vec<(u32, i32)>) {
        let io = e.lpOverlapped.cast::<Io>();
        if !self.owns(e.lpOverlapped) {
            if !port::is_driver_io(e.lpOverlapped as usize) {
                // IO this crate did not start (synchronous IO of someone else on a handle
                // associated with the port): nothing waits for this packet here.
                log::warn!("corio-aio: ignoring a completion packet of IO corio did not start");
                return;
            }
            // SAFETY: the `OVERLAPPED` lies in a live driver's `Io` array (registry), and that
            // driver waits for this packet, so it lives on; an `Io`'s `port` and `inbox` never
            // change, and a sibling's inbox is only touched by this thread.
            unsafe {
                if (*io).port == self.port.handle() {
                    (*(*io).inbox).borrow_mut().push(e);
                } else if PostQueuedCompletionStatus(
                    (*io).port,
                    e.dwNumberOfBytesTransferred,
                    e.lpCompletionKey,
                    io.cast(),
                ) == 0
                {
                    log::error!("corio-aio: cannot forward a completion: {}", io::Error::last_os_error());
                }
            }
            return;
        }
        // SAFETY: checked above: the `OVERLAPPED` is one of our `Io`s.
        let s = unsafe { (*io).slot };
        let res = match e.lpCompletionKey {
            KEY_POOL => e.dwNumberOfBytesTransferred as i32,
            KEY_WAIT => self.finish_wait(s),
            _ => {
                // The status from the `OVERLAPPED` itself (the entry has a copy), which a
                // forwarded packet keeps.
                // SAFETY: the packet was dequeued: the `OVERLAPPED` is final.
                let status = unsafe { (*io).overlapped.Internal } as i32;
                self.complete_io(s, status, e.dwNumberOfBytesTransferred)
            }
        };
        if let RawOp::AcceptMulti { fd, .. } = self.track[s as usize].op
            && res >= 0
        {
            self.accept_again(s, fd, res, done);
            return;
        }
        let Some(res) = self.recv_provided_done(s, res, done) else { return };
        self.track[s as usize].at = At::Idle;
        done.push((s, res));
    }

    /// A multishot accept took a connection (`res`, its socket): reports it with more to come
    /// and starts the next `AcceptEx` in the same `Io` (its packet was dequeued). One whose
    /// cancel was requested (`At::Canceling`) then ends canceled, as on io_uring.
    fn accept_again(&mut self, s: u32, fd: RawSource, res: i32, done: &mut Vec<(u32, i32)>) {
        done.push((s | MORE, res));
        if self.track[s as usize].at == At::Canceling {
            self.track[s as usize].at = At::Idle;
            return done.push((s, -sys::ECANCELED));
        }
        // SAFETY: the packet was dequeued: the slot's `Io` is the op's again, and stays put
        // until the next packet.
        match unsafe { net::accept(&mut *self.io(s), fd) } {
            Started::Pending(at, handle) => {
                let t = &mut self.track[s as usize];
                t.at = at;
                t.handle = handle;
            }
            Started::Done(err) => {
                self.track[s as usize].at = At::Idle;
                done.push((s, err));
            }
        }
    }
}
