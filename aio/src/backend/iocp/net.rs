//! The socket calls of the IOCP driver: `AcceptEx` and `ConnectEx` (overlapped), and the
//! calls that never block (socket, bind, listen, shutdown), made inline.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::windows::io::IntoRawSocket;
use std::sync::OnceLock;

use socket2::{Domain, Protocol, SockAddr, Type};
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::{ACCEPT_ADDR, Io, Started, overlapped_result};
use crate::raw::OpState;
use crate::sys::RawSource;

fn wsa_error() -> i32 {
    // SAFETY: plain call.
    unsafe { ws::WSAGetLastError() }
}

/// `0` if a Winsock call returned 0, else the negated Winsock error.
fn wsa_result(r: i32) -> i32 {
    if r == 0 { 0 } else { -wsa_error() }
}

/// A new socket's value as an op result. Handle values are 32-bit (Windows keeps them so for
/// 32-bit interop) and positive; one that is not cannot be reported, so it is closed.
fn fit(sock: ws::SOCKET) -> i32 {
    match i32::try_from(sock) {
        Ok(v) => v,
        Err(_) => {
            // SAFETY: closes the socket we just created and still own.
            unsafe { ws::closesocket(sock) };
            -(windows_sys::Win32::Foundation::ERROR_ARITHMETIC_OVERFLOW as i32)
        }
    }
}

/// Creates a socket (overlapped, not inheritable: socket2's defaults on Windows).
pub(super) fn socket(domain: i32, ty: i32, protocol: i32) -> i32 {
    let protocol = (protocol != 0).then(|| Protocol::from(protocol));
    match socket2::Socket::new_raw(Domain::from(domain), Type::from(ty), protocol) {
        Ok(s) => fit(s.into_raw_socket() as ws::SOCKET),
        Err(e) => -e.raw_os_error().unwrap_or(crate::sys::EIO),
    }
}

/// The socket address in an op's state, as a pointer and a length.
fn addr_of(state: &OpState) -> Option<(*const ws::SOCKADDR, i32)> {
    match state {
        OpState::Addr { addr, len } => Some((std::ptr::from_ref(addr).cast(), *len)),
        _ => None,
    }
}

pub(super) fn bind(fd: RawSource, state: &OpState) -> i32 {
    let Some((addr, len)) = addr_of(state) else { return -crate::sys::EINVAL };
    // SAFETY: the address is valid for `len` bytes (it lives in the op's state).
    wsa_result(unsafe { ws::bind(fd, addr, len) })
}

pub(super) fn listen(fd: RawSource, backlog: i32) -> i32 {
    // SAFETY: plain call on a borrowed socket.
    wsa_result(unsafe { ws::listen(fd, backlog) })
}

pub(super) fn shutdown(fd: RawSource, how: i32) -> i32 {
    // SAFETY: plain call on a borrowed socket.
    wsa_result(unsafe { ws::shutdown(fd, how) })
}

/// Starts an `AcceptEx` on `listener` into a new socket of the listener's family.
pub(super) fn accept(io: &mut Io, listener: RawSource) -> Started {
    // Windows fails `AcceptEx` on a socket that does not listen at once (`WSAEINVAL`, as
    // `accept` on Unix), but wine leaves it pending: ask first, so both behave as Windows.
    let mut listening = 0i32;
    let mut optlen = size_of::<i32>() as i32;
    // SAFETY: the option value is a live `i32` of the given length.
    let r = unsafe {
        ws::getsockopt(listener, ws::SOL_SOCKET, ws::SO_ACCEPTCONN, (&raw mut listening).cast(), &mut optlen)
    };
    if r != 0 {
        return Started::Done(-wsa_error());
    }
    if listening == 0 {
        return Started::Done(-ws::WSAEINVAL);
    }
    // SAFETY: all-zero is a valid storage; getsockname writes at most `len` bytes into it.
    let mut local: ws::SOCKADDR_STORAGE = unsafe { std::mem::zeroed() };
    let mut len = size_of::<ws::SOCKADDR_STORAGE>() as i32;
    // SAFETY: as above.
    if unsafe { ws::getsockname(listener, (&raw mut local).cast(), &mut len) } != 0 {
        return Started::Done(-wsa_error());
    }
    let sock = match socket2::Socket::new(Domain::from(i32::from(local.ss_family)), Type::STREAM, None) {
        Ok(s) => s.into_raw_socket() as ws::SOCKET,
        Err(e) => return Started::Done(-e.raw_os_error().unwrap_or(crate::sys::EIO)),
    };
    io.accept = sock;
    // SAFETY: all-zero is a valid `OVERLAPPED`.
    io.overlapped = unsafe { std::mem::zeroed() };
    let mut bytes = 0;
    // SAFETY: the address buffer and the `OVERLAPPED` live in the slot's `Io`, which stays put
    // until the packet is dequeued; no data is received (length 0).
    let ok = unsafe {
        ws::AcceptEx(
            listener,
            sock,
            io.addrs.as_mut_ptr().cast(),
            0,
            ACCEPT_ADDR as u32,
            ACCEPT_ADDR as u32,
            &mut bytes,
            &mut io.overlapped,
        )
    };
    let started = overlapped_result(ok != 0, wsa_error(), listener, false);
    if let Started::Done(_) = started {
        // SAFETY: the socket is ours and no IO uses it.
        unsafe { ws::closesocket(sock) };
        io.accept = ws::INVALID_SOCKET;
    }
    started
}

/// Finishes an `AcceptEx` whose packet gave `res`: the new socket (its accept context set,
/// the peer's address in the op's state), or the error (the socket closed).
///
/// # Safety
///
/// The packet was dequeued; `state` is the op's state, unused by anything else.
pub(super) unsafe fn accepted(io: &mut Io, state: *mut OpState, listener: RawSource, res: i32) -> i32 {
    let sock = std::mem::replace(&mut io.accept, ws::INVALID_SOCKET);
    if res < 0 {
        // SAFETY: the socket is ours; the failed accept no longer uses it.
        unsafe { ws::closesocket(sock) };
        return res;
    }
    // SAFETY: the option value is the listener's `SOCKET`, as the option wants.
    let r = unsafe {
        ws::setsockopt(
            sock,
            ws::SOL_SOCKET,
            ws::SO_UPDATE_ACCEPT_CONTEXT,
            std::ptr::from_ref(&listener).cast(),
            size_of::<ws::SOCKET>() as i32,
        )
    };
    if r != 0 {
        let e = wsa_error();
        // SAFETY: the socket is ours.
        unsafe { ws::closesocket(sock) };
        return -e;
    }
    let (mut local, mut remote) = (std::ptr::null_mut(), std::ptr::null_mut());
    let (mut llen, mut rlen) = (0, 0);
    // SAFETY: `addrs` holds what `AcceptEx` wrote, with the lengths it was given; the output
    // pointers point into it.
    unsafe {
        ws::GetAcceptExSockaddrs(
            io.addrs.as_ptr().cast(),
            0,
            ACCEPT_ADDR as u32,
            ACCEPT_ADDR as u32,
            &mut local,
            &mut llen,
            &mut remote,
            &mut rlen,
        );
    }
    // SAFETY: the op's state is ours until it is reported (caller).
    if let OpState::Addr { addr, len } = unsafe { &mut *state } {
        let n = (rlen.max(0) as usize).min(size_of_val(addr));
        if !remote.is_null() {
            // SAFETY: copies `n` bytes of the peer's address into the storage, which has room.
            unsafe { std::ptr::copy_nonoverlapping(remote.cast::<u8>(), std::ptr::from_mut(addr).cast(), n) };
        }
        *len = n as socket2::socklen_t;
    }
    fit(sock)
}

type ConnectEx = unsafe extern "system" fn(
    ws::SOCKET,
    *const ws::SOCKADDR,
    i32,
    *const core::ffi::c_void,
    u32,
    *mut u32,
    *mut OVERLAPPED,
) -> windows_sys::core::BOOL;

/// A Winsock extension function (`ConnectEx`, `WSARecvMsg`), looked up once per process
/// through `WSAIoctl` and cached in `cell` as an address.
fn extension(sock: RawSource, guid: windows_sys::core::GUID, cell: &OnceLock<usize>) -> Result<usize, i32> {
    if let Some(&p) = cell.get() {
        return Ok(p);
    }
    let mut ptr = 0usize;
    let mut bytes = 0;
    // SAFETY: the in and out buffers are live locals of the sizes given.
    let r = unsafe {
        ws::WSAIoctl(
            sock,
            ws::SIO_GET_EXTENSION_FUNCTION_POINTER,
            std::ptr::from_ref(&guid).cast(),
            size_of_val(&guid) as u32,
            std::ptr::from_mut(&mut ptr).cast(),
            size_of::<usize>() as u32,
            &mut bytes,
            std::ptr::null_mut(),
            None,
        )
    };
    if r != 0 || ptr == 0 {
        return Err(-wsa_error());
    }
    Ok(*cell.get_or_init(|| ptr))
}

fn connect_ex(sock: RawSource) -> Result<ConnectEx, i32> {
    static PTR: OnceLock<usize> = OnceLock::new();
    let p = extension(sock, ws::WSAID_CONNECTEX, &PTR)?;
    // SAFETY: the address is `ConnectEx`'s, as `WSAIoctl` returned it for its GUID.
    Ok(unsafe { std::mem::transmute::<usize, ConnectEx>(p) })
}

type RecvMsgFn = unsafe extern "system" fn(
    ws::SOCKET,
    *mut ws::WSAMSG,
    *mut u32,
    *mut OVERLAPPED,
    ws::LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32;

/// Starts a `WSARecvMsg` (datagram and raw sockets only, as Windows has it) or a `WSASendMsg`
/// with the `WSAMSG` in the op's state.
///
/// # Safety
///
/// The state's message points at buffers, an address and a control buffer that stay valid,
/// with the state and `ov`, until the packet is dequeued.
pub(super) unsafe fn message(ov: *mut OVERLAPPED, sock: RawSource, state: *mut OpState, recv: bool) -> Started {
    // SAFETY: the op's state is the op's until it is reported (caller).
    let OpState::Msg(m) = (unsafe { &mut *state }) else { return Started::Done(-crate::sys::EINVAL) };
    let r = if recv {
        // Windows fails `WSARecvMsg` on a stream socket at once (`WSAEOPNOTSUPP`), wine leaves
        // it pending: ask first, so both behave as Windows.
        let mut ty = 0i32;
        let mut optlen = size_of::<i32>() as i32;
        // SAFETY: the option value is a live `i32` of the given length.
        let r = unsafe { ws::getsockopt(sock, ws::SOL_SOCKET, ws::SO_TYPE, (&raw mut ty).cast(), &mut optlen) };
        if r != 0 {
            return Started::Done(-wsa_error());
        }
        if ty == ws::SOCK_STREAM {
            return Started::Done(-ws::WSAEOPNOTSUPP);
        }
        static PTR: OnceLock<usize> = OnceLock::new();
        let f = match extension(sock, ws::WSAID_WSARECVMSG, &PTR) {
            // SAFETY: the address is `WSARecvMsg`'s, as `WSAIoctl` returned it for its GUID.
            Ok(p) => unsafe { std::mem::transmute::<usize, RecvMsgFn>(p) },
            Err(e) => return Started::Done(e),
        };
        // SAFETY: as the caller guarantees.
        unsafe { f(sock, &mut m.msg, std::ptr::null_mut(), ov, None) }
    } else {
        // SAFETY: as the caller guarantees.
        unsafe { ws::WSASendMsg(sock, &m.msg, m.msg.dwFlags, std::ptr::null_mut(), ov, None) }
    };
    overlapped_result(r == 0, wsa_error(), sock, false)
}

/// Starts a `ConnectEx` of `sock` to the address in `state`, binding `sock` to the wildcard
/// address of its family first (as `ConnectEx` requires; an already bound socket is kept).
pub(super) fn connect(ov: *mut OVERLAPPED, sock: RawSource, state: &OpState) -> Started {
    let Some((addr, len)) = addr_of(state) else { return Started::Done(-crate::sys::EINVAL) };
    // SAFETY: the state's storage starts with the family.
    let family = unsafe { (*addr).sa_family };
    let any: SockAddr = if family == ws::AF_INET6 {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into()
    } else {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into()
    };
    // SAFETY: binds to a live address of the given length.
    if unsafe { ws::bind(sock, any.as_ptr().cast(), any.len()) } != 0 && wsa_error() != ws::WSAEINVAL {
        return Started::Done(-wsa_error());
    }
    let connect = match connect_ex(sock) {
        Ok(f) => f,
        Err(e) => return Started::Done(e),
    };
    // SAFETY: the address lives in the op's state and the `OVERLAPPED` in the slot's `Io`,
    // both unmoved until the packet is dequeued; no data is sent.
    let ok = unsafe { connect(sock, addr, len, std::ptr::null(), 0, std::ptr::null_mut(), ov) };
    overlapped_result(ok != 0, wsa_error(), sock, false)
}

/// Finishes a successful `ConnectEx`: makes the socket behave as a connected one (so that
/// `getpeername`, `shutdown` and the like work).
pub(super) fn connected(sock: RawSource) -> i32 {
    // SAFETY: the option takes no value.
    wsa_result(unsafe { ws::setsockopt(sock, ws::SOL_SOCKET, ws::SO_UPDATE_CONNECT_CONTEXT, std::ptr::null(), 0) })
}
