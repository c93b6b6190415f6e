//! Reads and writes on the IOCP driver: `WSARecv`/`WSASend` on sockets, overlapped
//! `ReadFile`/`WriteFile` on other handles, the pool for synchronous handles and for vectored
//! ops on non-sockets.

use windows_sys::Wdk::Storage::FileSystem::{
    FILE_MODE_INFORMATION, FILE_SYNCHRONOUS_IO_ALERT, FILE_SYNCHRONOUS_IO_NONALERT, FileModeInformation,
    NtQueryInformationFile,
};
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::Storage::FileSystem::{FILE_TYPE_DISK, GetFileType, ReadFile, WriteFile};
use windows_sys::Win32::System::IO::{IO_STATUS_BLOCK, OVERLAPPED};

use super::{Iocp, Started, eof_is_zero, last_error, overlapped_result};
use crate::raw::CURRENT_POS;
use crate::sys::{self, IoVec, RawSource};

impl Iocp {
    /// A read or write of one buffer: `WSARecv`/`WSASend` on a socket (wine does not resume
    /// reading a socket after a canceled `ReadFile`, and Winsock reports socket errors
    /// better), else `ReadFile`/`WriteFile`; on the pool for handles opened for synchronous IO.
    pub(super) fn read_write(
        &mut self,
        s: u32,
        h: RawSource,
        buf: *mut u8,
        len: u32,
        offset: u64,
        write: bool,
    ) -> Started {
        if is_synchronous(h) {
            return self.pool_job(s);
        }
        let io = self.io(s);
        // SAFETY: the slot's op is starting; no IO uses its `Io`.
        unsafe { (*io).wsabuf = IoVec { len, buf } };
        // SAFETY: as above; the pointer stays valid until the packet.
        match self.wsa(s, h, unsafe { &raw const (*io).wsabuf }, 1, 0, !write) {
            Started::Done(e) if not_a_socket(e, h) => self.file_rw(s, h, buf, len, offset, write),
            other => other,
        }
    }

    /// `ReadFile` or `WriteFile` of one buffer at `offset`.
    fn file_rw(&mut self, s: u32, h: RawSource, buf: *mut u8, len: u32, offset: u64, write: bool) -> Started {
        self.track[s as usize].socket = false;
        // SAFETY: a query on a borrowed handle.
        if offset == CURRENT_POS && unsafe { GetFileType(h as HANDLE) } == FILE_TYPE_DISK {
            // Overlapped files have no position to use and advance.
            return Started::Done(-sys::EINVAL);
        }
        if let Err(e) = self.associate(h) {
            return Started::Done(-e);
        }
        let ov = self.overlapped(s, if offset == CURRENT_POS { 0 } else { offset });
        // SAFETY: `buf` is valid for `len` bytes and the `OVERLAPPED` stays put until the
        // packet is dequeued (backend contract and the `Io` array, see the module docs).
        let ok = unsafe {
            if write {
                WriteFile(h as HANDLE, buf, len, std::ptr::null_mut(), ov)
            } else {
                ReadFile(h as HANDLE, buf, len, std::ptr::null_mut(), ov)
            }
        };
        overlapped_result(ok != 0, last_error(), h, !write)
    }

    /// A vectored op: one `WSARecv`/`WSASend` of every buffer on a socket; anything else
    /// (Winsock's `WSAENOTSOCK`, checked before any IO) goes to the pool, which reads or
    /// writes the buffers one after the other at the op's offset (see `pool::vectored`).
    pub(super) fn vectored(&mut self, s: u32, h: RawSource, bufs: *const IoVec, cnt: u32, recv: bool) -> Started {
        if is_synchronous(h) {
            return self.pool_job(s);
        }
        match self.wsa(s, h, bufs, cnt, 0, recv) {
            Started::Done(e) if not_a_socket(e, h) => self.pool_job(s),
            other => other,
        }
    }

    /// `WSARecv` or `WSASend` of `cnt` buffers.
    pub(super) fn wsa(
        &mut self,
        s: u32,
        sock: RawSource,
        bufs: *const IoVec,
        cnt: u32,
        flags: i32,
        recv: bool,
    ) -> Started {
        if let Err(e) = self.associate(sock) {
            return Started::Done(-e);
        }
        self.track[s as usize].socket = true;
        let ov = self.overlapped(s, 0);
        let io = self.io(s);
        // SAFETY: the buffers are valid until the op is reported (backend contract); the
        // flags and the `OVERLAPPED` live in the slot's `Io`, which stays put until the packet.
        let r = unsafe {
            (*io).flags = flags as u32;
            if recv {
                ws::WSARecv(sock, bufs, cnt, std::ptr::null_mut(), &raw mut (*io).flags, ov, None)
            } else {
                // An overlapped send completes once all of it was sent (or fails): what
                // `MSG_WAITALL` asks (`Send::wait_all`), which `WSASend` does not take. The
                // engine still counts a short result of such a send as a failure for links.
                let flags = flags & !ws::MSG_WAITALL;
                ws::WSASend(sock, bufs, cnt, std::ptr::null_mut(), flags as u32, ov, None)
            }
        };
        // SAFETY: plain call.
        overlapped_result(r == 0, unsafe { ws::WSAGetLastError() }, sock, false)
    }
}

/// Whether Winsock's call on `h` failed with `res` because `h` is not a socket, which it
/// checks before any IO: `WSAENOTSOCK`, or on wine `WSAEOPNOTSUPP` for a named pipe (the pipe
/// device refuses the socket request), told from a socket's own by asking for its type.
fn not_a_socket(res: i32, h: RawSource) -> bool {
    res == -ws::WSAENOTSOCK || (res == -ws::WSAEOPNOTSUPP && super::provided::socket_type(h).is_err())
}

/// A blocking `ReadFile`/`WriteFile` on a handle opened for synchronous IO: at `offset`
/// (through an `OVERLAPPED`, which such a handle honours synchronously) or at the file
/// position.
///
/// # Safety
///
/// `buf` is valid for `len` bytes.
pub(super) unsafe fn sync_rw(h: RawSource, buf: *mut u8, len: u32, offset: u64, write: bool) -> i32 {
    // SAFETY: all-zero is a valid `OVERLAPPED`.
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    ov.Anonymous.Anonymous.Offset = offset as u32;
    ov.Anonymous.Anonymous.OffsetHigh = (offset >> 32) as u32;
    let pov = if offset == CURRENT_POS { std::ptr::null_mut() } else { &raw mut ov };
    let mut n = 0;
    // SAFETY: the buffer is valid (caller); the `OVERLAPPED` is a live local, and the call
    // completes before returning on a synchronous handle.
    let ok = unsafe {
        if write { WriteFile(h as HANDLE, buf, len, &mut n, pov) } else { ReadFile(h as HANDLE, buf, len, &mut n, pov) }
    };
    if ok != 0 {
        n.min(i32::MAX as u32) as i32
    } else if write {
        -last_error()
    } else {
        eof_is_zero(-last_error())
    }
}

/// Whether `h` was opened for synchronous IO (`FILE_SYNCHRONOUS_IO_*` in its mode), so that
/// overlapped calls on it would block: such reads and writes go to the pool. Anything the
/// query fails on (not a file object) is taken as overlapped.
pub(super) fn is_synchronous(h: RawSource) -> bool {
    // SAFETY: all-zero is valid for both; the query writes into live locals of the given size.
    unsafe {
        let mut status: IO_STATUS_BLOCK = std::mem::zeroed();
        let mut info: FILE_MODE_INFORMATION = std::mem::zeroed();
        let r = NtQueryInformationFile(
            h as HANDLE,
            &mut status,
            (&raw mut info).cast(),
            size_of::<FILE_MODE_INFORMATION>() as u32,
            FileModeInformation,
        );
        r >= 0 && info.Mode & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT) != 0
    }
}
