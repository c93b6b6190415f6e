//! The minimal keep-alive server as a hand-written io_uring loop on the `io-uring` crate, with
//! no runtime at all: the `http` workload's baseline for what any io_uring runtime can reach on
//! this machine. Each thread has its own ring (`SINGLE_ISSUER|DEFER_TASKRUN` where the kernel
//! has them, as corio's) and its own `SO_REUSEPORT` listener. A connection has one op in flight
//! at a time, in the order the other servers follow: `RECV` a chunk, answer what is complete
//! (`src/http_peer.rs`), `SEND` the answers (continued after a short send), `RECV` again.
//! Usage: `uring_http [ADDR] [THREADS]`; prints `uring_http: serving on ADDR …` once bound.

#[path = "../http_peer.rs"]
mod http_peer;
#[path = "../per_thread.rs"]
mod per_thread;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd as _, FromRawFd as _};

use io_uring::{IoUring, opcode, squeue, types};

const ENTRIES: u32 = 4096;
const CHUNK: usize = 4096;
/// `user_data` of the listener's accept; connections use `slot << 2 | kind`.
const ACCEPT: u64 = u64::MAX;
const RECV: u64 = 1;
const SEND: u64 = 2;

/// One connection. Boxed and kept in its slot while its op is in flight, so the kernel's
/// pointers into `chunk` and `out` stay valid.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    chunk: Box<[u8]>,
    out: Vec<u8>,
    sent: usize,
    keep_alive: bool,
}

fn ring() -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder.setup_single_issuer().setup_defer_taskrun();
    builder.build(ENTRIES).or_else(|_| IoUring::new(ENTRIES))
}

/// Pushes `entry`, submitting first when the submission queue is full.
///
/// # Safety
/// The memory `entry` points to must stay valid until its completion is reaped.
unsafe fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    loop {
        // SAFETY: the caller keeps the entry's memory valid until completion.
        if unsafe { ring.submission().push(entry) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

fn recv(ring: &mut IoUring, slot: usize, conn: &mut Conn) -> io::Result<()> {
    let entry = opcode::Recv::new(types::Fd(conn.stream.as_raw_fd()), conn.chunk.as_mut_ptr(), CHUNK as u32)
        .build()
        .user_data((slot as u64) << 2 | RECV);
    // SAFETY: `chunk` is a boxed slice of the boxed connection, which stays in its slot (and the
    // slot is not reused) until this op completes: a connection has one op in flight at a time
    // and is dropped only when none is.
    unsafe { push(ring, &entry) }
}

fn send(ring: &mut IoUring, slot: usize, conn: &mut Conn) -> io::Result<()> {
    let rest = &conn.out[conn.sent..];
    let entry = opcode::Send::new(types::Fd(conn.stream.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data((slot as u64) << 2 | SEND);
    // SAFETY: as in `recv`; `out` is not touched until this op completes.
    unsafe { push(ring, &entry) }
}

fn serve(listener: TcpListener, mut ring: IoUring) -> io::Result<()> {
    let accept = opcode::Accept::new(types::Fd(listener.as_raw_fd()), std::ptr::null_mut(), std::ptr::null_mut())
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(ACCEPT);
    let mut conns: Vec<Option<Box<Conn>>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut done: Vec<(u64, i32)> = Vec::with_capacity(ENTRIES as usize);
    // SAFETY: accept without an address points to no memory of ours.
    unsafe { push(&mut ring, &accept)? };
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        done.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for (user_data, res) in done.drain(..) {
            if user_data == ACCEPT {
                if res >= 0 {
                    // SAFETY: a successful accept returns a new descriptor that nothing else owns.
                    let stream = unsafe { TcpStream::from_raw_fd(res) };
                    stream.set_nodelay(true)?;
                    let mut conn = Box::new(Conn {
                        stream,
                        buf: Vec::with_capacity(CHUNK),
                        chunk: vec![0; CHUNK].into_boxed_slice(),
                        out: Vec::with_capacity(CHUNK),
                        sent: 0,
                        keep_alive: true,
                    });
                    let slot = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    recv(&mut ring, slot, &mut conn)?;
                    conns[slot] = Some(conn);
                }
                // SAFETY: as above.
                unsafe { push(&mut ring, &accept)? };
                continue;
            }
            let slot = (user_data >> 2) as usize;
            let Some(conn) = conns[slot].as_mut() else { continue };
            let open = match user_data & 3 {
                RECV if res > 0 => {
                    conn.buf.extend_from_slice(&conn.chunk[..res as usize]);
                    conn.keep_alive = http_peer::handle(&mut conn.buf, &mut conn.out);
                    if !conn.out.is_empty() {
                        send(&mut ring, slot, conn)?;
                        true
                    } else if conn.keep_alive {
                        recv(&mut ring, slot, conn)?;
                        true
                    } else {
                        false
                    }
                }
                SEND if res > 0 => {
                    conn.sent += res as usize;
                    if conn.sent < conn.out.len() {
                        send(&mut ring, slot, conn)?;
                        true
                    } else {
                        conn.out.clear();
                        conn.sent = 0;
                        if conn.keep_alive {
                            recv(&mut ring, slot, conn)?;
                        }
                        conn.keep_alive
                    }
                }
                // End of stream or an error: no op of this connection is in flight any more.
                _ => false,
            };
            if !open {
                conns[slot] = None;
                free.push(slot);
            }
        }
    }
}

fn main() -> io::Result<()> {
    let (addr, threads) = http_peer::args();
    per_thread::serve("uring_http", addr, threads, false, "io_uring setup", ring, serve)
}
