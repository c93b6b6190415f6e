//! Windows: handles and sockets behind one raw value.
//!
//! A `RawOp` stores the numeric value of a `HANDLE` or a `SOCKET` (`usize`, which holds
//! either); op constructors accept anything that is [`AsSource`], and [`Close`] takes an
//! [`OwnedSource`]. The error codes the engine produces itself are Win32 codes:
//!
//! | engine's name | Win32 code | `io::ErrorKind` |
//! |---|---|---|
//! | `ECANCELED` | `ERROR_OPERATION_ABORTED` (995): what Windows reports for IO stopped by `CancelIoEx` | never seen: decoded as [canceled](crate::is_canceled) |
//! | `ETIME` | `ERROR_TIMEOUT` (1460) | `TimedOut` |
//! | `ENOENT` | `ERROR_FILE_NOT_FOUND` (2), as Unix reuses `ENOENT` (`ERROR_NOT_FOUND`, 1168, would be `Uncategorized`) | `NotFound`, as [`Cancel`](crate::op::Cancel) documents |
//! | `EALREADY` | `WSAEALREADY` (10037) | `Uncategorized`, as `EALREADY` on Unix |
//! | `EINVAL` | `ERROR_INVALID_PARAMETER` (87) | `InvalidInput` |
//! | `EBADF` | `ERROR_INVALID_HANDLE` (6) | as std decides |
//! | `EOPNOTSUPP` | `ERROR_CALL_NOT_IMPLEMENTED` (120) (`ERROR_NOT_SUPPORTED`, 50, would be `Uncategorized`) | `Unsupported` |
//!
//! [`Close`]: crate::op::Close

use std::fs::File;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::windows::io::{
    AsRawHandle, AsRawSocket, BorrowedHandle, BorrowedSocket, IntoRawHandle, IntoRawSocket, OwnedHandle,
};

pub(crate) use std::os::windows::io::OwnedSocket;
use windows_sys::Win32::Foundation as f;
use windows_sys::Win32::Networking::WinSock as ws;

/// The value of a `HANDLE` or a `SOCKET`, as a `RawOp` stores it.
pub(crate) type RawSource = usize;

pub(crate) const ECANCELED: i32 = f::ERROR_OPERATION_ABORTED as i32;
pub(crate) const ETIME: i32 = f::ERROR_TIMEOUT as i32;
pub(crate) const ENOENT: i32 = f::ERROR_FILE_NOT_FOUND as i32;
pub(crate) const EALREADY: i32 = ws::WSAEALREADY;
pub(crate) const EINVAL: i32 = f::ERROR_INVALID_PARAMETER as i32;
pub(crate) const EBADF: i32 = f::ERROR_INVALID_HANDLE as i32;
pub(crate) const EIO: i32 = f::ERROR_GEN_FAILURE as i32;
pub(crate) const EOPNOTSUPP: i32 = f::ERROR_CALL_NOT_IMPLEMENTED as i32;
pub(crate) const MSG_PEEK: i32 = ws::MSG_PEEK;
pub(crate) const MSG_WAITALL: i32 = ws::MSG_WAITALL;
pub(crate) const SHUT_RD: i32 = ws::SD_RECEIVE;
pub(crate) const SHUT_WR: i32 = ws::SD_SEND;
pub(crate) const SHUT_RDWR: i32 = ws::SD_BOTH;

/// One buffer of a vectored op: `WSABUF`, which std's `IoSlice` and `IoSliceMut` match on
/// Windows (documented by std).
pub(crate) type IoVec = ws::WSABUF;

/// A path as a path op's state keeps it; the worker hands it to std, which converts it.
pub(crate) type NativePath = std::path::PathBuf;

/// A file or socket borrowed for `'a`: what ops keep of the source they act on.
#[derive(Clone, Copy, Debug)]
pub struct BorrowedSource<'a> {
    raw: RawSource,
    _borrow: PhantomData<&'a ()>,
}

impl<'a> From<BorrowedHandle<'a>> for BorrowedSource<'a> {
    fn from(h: BorrowedHandle<'a>) -> Self {
        BorrowedSource { raw: h.as_raw_handle() as RawSource, _borrow: PhantomData }
    }
}

impl<'a> From<BorrowedSocket<'a>> for BorrowedSource<'a> {
    fn from(s: BorrowedSocket<'a>) -> Self {
        BorrowedSource { raw: s.as_raw_socket() as RawSource, _borrow: PhantomData }
    }
}

pub(crate) type Borrowed<'a> = BorrowedSource<'a>;

/// What an op can act on: a file or a socket. Implemented for std's `File`, `TcpStream`,
/// `TcpListener`, `UdpSocket`, for `socket2::Socket`, for `OwnedHandle`, `BorrowedHandle`,
/// `OwnedSocket`, `BorrowedSocket` and for [`EventSource`](crate::EventSource). (On Unix, ops
/// take `AsFd` instead.)
pub trait AsSource {
    /// Borrows the source.
    fn as_source(&self) -> BorrowedSource<'_>;
}

impl<T: AsSource + ?Sized> AsSource for &T {
    fn as_source(&self) -> BorrowedSource<'_> {
        (**self).as_source()
    }
}

macro_rules! as_source {
    (handle: $($ty:ty),*; socket: $($sty:ty),*) => {
        $(impl AsSource for $ty {
            fn as_source(&self) -> BorrowedSource<'_> {
                std::os::windows::io::AsHandle::as_handle(self).into()
            }
        })*
        $(impl AsSource for $sty {
            fn as_source(&self) -> BorrowedSource<'_> {
                std::os::windows::io::AsSocket::as_socket(self).into()
            }
        })*
    };
}

as_source!(handle: File, OwnedHandle, BorrowedHandle<'_>;
           socket: TcpStream, TcpListener, UdpSocket, socket2::Socket, OwnedSocket, BorrowedSocket<'_>);

/// An owned file or socket: what [`Close`](crate::op::Close) takes. Dropping it closes it.
#[derive(Debug)]
pub struct OwnedSource {
    raw: RawSource,
}

impl OwnedSource {
    /// Its raw value, still owned.
    pub(crate) fn raw(&self) -> RawSource {
        self.raw
    }

    /// Takes ownership of `raw`.
    ///
    /// # Safety
    ///
    /// `raw` is an open handle or socket that nothing else owns.
    pub(crate) unsafe fn from_raw(raw: RawSource) -> OwnedSource {
        OwnedSource { raw }
    }
}

impl Drop for OwnedSource {
    fn drop(&mut self) {
        // SAFETY: we own the source and nothing uses it after this.
        unsafe { close_raw(self.raw) };
    }
}

impl From<OwnedHandle> for OwnedSource {
    fn from(h: OwnedHandle) -> Self {
        OwnedSource { raw: h.into_raw_handle() as RawSource }
    }
}

impl From<OwnedSocket> for OwnedSource {
    fn from(s: OwnedSocket) -> Self {
        OwnedSource { raw: s.into_raw_socket() as RawSource }
    }
}

macro_rules! owned_source {
    (handle: $($ty:ty),*; socket: $($sty:ty),*) => {
        $(impl From<$ty> for OwnedSource {
            fn from(x: $ty) -> Self {
                OwnedSource::from(OwnedHandle::from(x))
            }
        })*
        $(impl From<$sty> for OwnedSource {
            fn from(x: $sty) -> Self {
                OwnedSource::from(OwnedSocket::from(x))
            }
        })*
    };
}

owned_source!(handle: File; socket: TcpStream, TcpListener, UdpSocket, socket2::Socket);

pub(crate) type Owned = OwnedSource;

pub(crate) fn borrow<T: AsSource + ?Sized>(source: &T) -> Borrowed<'_> {
    source.as_source()
}

pub(crate) fn raw(source: &Borrowed<'_>) -> RawSource {
    source.raw
}

pub(crate) fn into_raw(owned: Owned) -> RawSource {
    ManuallyDrop::new(owned).raw
}

pub(crate) fn iov_len(iov: &IoVec) -> usize {
    iov.len as usize
}

/// Closes a socket or a handle that an op owned but never used: `closesocket` first (which
/// refuses anything but a socket, with `WSAENOTSOCK`), then `CloseHandle`.
///
/// # Safety
///
/// `raw` is open and owned by the caller, and is not used afterwards.
pub(crate) unsafe fn close_raw(raw: RawSource) {
    // SAFETY: as the caller guarantees; `closesocket` fails without effect on a non-socket.
    unsafe {
        if ws::closesocket(raw) != 0 {
            f::CloseHandle(raw as f::HANDLE);
        }
    }
}

/// `Poll` event bits: WSAPoll's.
pub(crate) const POLLIN: u32 = ws::POLLIN as u32;
pub(crate) const POLLPRI: u32 = ws::POLLPRI as u32;
pub(crate) const POLLOUT: u32 = ws::POLLOUT as u32;
pub(crate) const POLLERR: u32 = ws::POLLERR as u32;
pub(crate) const POLLHUP: u32 = ws::POLLHUP as u32;

/// Open flags of `RawOp::OpenAt` on Windows: the crate's own bits (the IOCP driver turns them
/// into `CreateFileW` arguments through std's `OpenOptions`). `OpenAt`'s custom flags
/// (`FILE_FLAG_*` and attribute bits) travel in the op's `mode` field instead.
pub(crate) const O_RDONLY: i32 = 0;
pub(crate) const O_WRONLY: i32 = 1;
pub(crate) const O_RDWR: i32 = 2;
pub(crate) const O_ACCMODE: i32 = 3;
pub(crate) const O_APPEND: i32 = 1 << 3;
pub(crate) const O_CREAT: i32 = 1 << 4;
pub(crate) const O_TRUNC: i32 = 1 << 5;
pub(crate) const O_EXCL: i32 = 1 << 6;
pub(crate) const O_DIRECTORY: i32 = 1 << 7;
/// Handles are opened non-inheritable anyway.
pub(crate) const O_CLOEXEC: i32 = 0;
/// `UnlinkAt` of a directory.
pub(crate) const AT_REMOVEDIR: i32 = 1 << 9;
/// `LinkAt::follow` (refused when queued: Windows hard links never follow).
pub(crate) const AT_SYMLINK_FOLLOW: i32 = 1 << 10;
/// "No directory": paths are resolved by the OS as usual (Windows has no `*at` calls).
pub(crate) const AT_FDCWD: RawSource = 0;

/// A path op's path; `None` if it holds a NUL, which no Windows path can.
pub(crate) fn native_path(path: &std::path::Path) -> Option<NativePath> {
    use std::os::windows::ffi::OsStrExt;
    (!path.as_os_str().encode_wide().any(|c| c == 0)).then(|| path.to_path_buf())
}
