//! The minimal keep-alive server as a hand-written io_uring loop that uses every lever the
//! fastest io_uring servers use: a multishot accept that installs each connection straight into
//! the ring's fixed-file table (`IORING_FILE_INDEX_ALLOC`), one multishot receive per connection
//! into a provided-buffer ring (`IORING_REGISTER_PBUF_RING`), sends and closes on the fixed
//! slot, and the registered ring fd. No runtime: the `http` workload's ceiling for what an
//! io_uring server reaches here (`uring_http` is the one-op-per-request loop).
//!
//! A connection's receive stays armed for its whole life; each completion names the buffer the
//! kernel filled, whose bytes are parsed (`src/http_peer.rs`) and which goes straight back to
//! the ring. One send per connection is in flight at a time; requests that arrive meanwhile
//! wait in the connection's buffer. A connection that must close is shut down, which ends its
//! receive; the slot is closed and freed once nothing of it is in flight.
//! Usage: `uring_ms_http [ADDR] [THREADS]`; prints `uring_ms_http: serving on ADDR …` once up.

#[path = "../http_peer.rs"]
mod http_peer;
#[path = "../per_thread.rs"]
mod per_thread;

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

const ENTRIES: u32 = 4096;
/// Fixed-file slots per ring (capped by `RLIMIT_NOFILE`).
const MAX_FILES: u32 = 65_536;
/// Provided buffers: count (a power of two) and size.
const BUFS: u16 = 2048;
const BUF_SIZE: usize = 4096;
const GROUP: u16 = 0;
/// `user_data` of the listener's multishot accept; connections use `slot << 2 | kind`.
const ACCEPT: u64 = u64::MAX;
const RECV: u64 = 0;
const SEND: u64 = 1;
const SHUTDOWN: u64 = 2;
const CLOSE: u64 = 3;

/// The provided-buffer ring: the ring of `io_uring_buf` entries the kernel reads (page-aligned,
/// mapped here) and the buffers they point at. Lives as long as the ring (`serve` never returns
/// while the ring is up: the process exits), so the kernel never writes freed memory.
struct BufRing {
    entries: *mut types::BufRingEntry,
    bufs: Box<[u8]>,
    tail: u16,
}

impl BufRing {
    fn new(ring: &IoUring) -> io::Result<BufRing> {
        let bytes = usize::from(BUFS) * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: an anonymous private mapping; no existing memory is touched.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut br =
            BufRing { entries: map.cast(), bufs: vec![0; usize::from(BUFS) * BUF_SIZE].into_boxed_slice(), tail: 0 };
        // SAFETY: the mapping holds BUFS entries and is never unmapped (see the type's docs).
        unsafe { ring.submitter().register_buf_ring_with_flags(map as u64, BUFS, GROUP, 0)? };
        for bid in 0..BUFS {
            br.give(bid);
        }
        br.publish();
        Ok(br)
    }

    /// Puts buffer `bid` at the ring's tail (seen by the kernel at the next [`publish`]).
    fn give(&mut self, bid: u16) {
        let index = usize::from(self.tail & (BUFS - 1));
        // SAFETY: `index` < BUFS, the mapping's entry count; the kernel only reads entries
        // between its head and the published tail, and this one is past the published tail.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(self.bufs[usize::from(bid) * BUF_SIZE..].as_ptr() as u64);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's `resv`, a u16 the kernel reads with
        // acquire ordering; aligned, inside the mapping.
        let tail = unsafe { &*(types::BufRingEntry::tail(self.entries).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }

    fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        &self.bufs[usize::from(bid) * BUF_SIZE..][..len]
    }
}

#[derive(Default)]
struct Conn {
    buf: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    sending: bool,
    receiving: bool,
    closing: bool,
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

fn user_data(slot: u32, kind: u64) -> u64 {
    u64::from(slot) << 2 | kind
}

fn recv(ring: &mut IoUring, slot: u32) -> io::Result<()> {
    let entry = opcode::RecvMulti::new(types::Fixed(slot), GROUP).build().user_data(user_data(slot, RECV));
    // SAFETY: the receive writes only into provided buffers, which live as long as the ring.
    unsafe { push(ring, &entry) }
}

fn send(ring: &mut IoUring, slot: u32, conn: &mut Conn) -> io::Result<()> {
    let rest = &conn.out[conn.sent..];
    let entry = opcode::Send::new(types::Fixed(slot), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(slot, SEND));
    conn.sending = true;
    // SAFETY: `out` is not touched while `sending`, and the connection is freed only when
    // neither its send nor its receive is in flight.
    unsafe { push(ring, &entry) }
}

/// Ends the connection: a shutdown ends its receive; the slot is closed once nothing is left.
fn finish(ring: &mut IoUring, slot: u32, conns: &mut [Option<Conn>]) -> io::Result<()> {
    let conn = conns[slot as usize].as_mut().expect("live connection");
    if !conn.closing {
        conn.closing = true;
        if conn.receiving {
            let entry =
                opcode::Shutdown::new(types::Fixed(slot), libc::SHUT_RDWR).build().user_data(user_data(slot, SHUTDOWN));
            // SAFETY: a shutdown points to no memory.
            unsafe { push(ring, &entry)? };
        }
    }
    if !conn.receiving && !conn.sending {
        conns[slot as usize] = None;
        let entry = opcode::Close::new(types::Fixed(slot)).build().user_data(user_data(slot, CLOSE));
        // SAFETY: a close points to no memory.
        unsafe { push(ring, &entry)? };
    }
    Ok(())
}

/// Answers what is complete in the connection's buffer and sends it, or ends the connection.
fn answer(ring: &mut IoUring, slot: u32, conns: &mut [Option<Conn>]) -> io::Result<()> {
    let conn = conns[slot as usize].as_mut().expect("live connection");
    let keep_alive = http_peer::handle(&mut conn.buf, &mut conn.out);
    if !conn.out.is_empty() {
        send(ring, slot, conn)?;
    }
    if !keep_alive {
        conn.buf.clear();
        finish(ring, slot, conns)?;
    }
    Ok(())
}

fn serve(listener: TcpListener, mut ring: IoUring) -> io::Result<()> {
    let mut buffers = BufRing::new(&ring)?;
    let accept =
        opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd())).allocate_file_index(true).build().user_data(ACCEPT);
    // SAFETY: accept without an address points to no memory of ours.
    unsafe { push(&mut ring, &accept)? };
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut done: Vec<(u64, i32, u32)> = Vec::with_capacity(ENTRIES as usize);
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        done.extend(ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
        let mut gave = false;
        for (user_data, res, flags) in done.drain(..) {
            if user_data == ACCEPT {
                if res == -libc::EINVAL || res == -libc::EBADF {
                    return Err(io::Error::from_raw_os_error(-res));
                }
                if res >= 0 {
                    let slot = res as u32;
                    if conns.len() <= slot as usize {
                        conns.resize_with(slot as usize + 1, || None);
                    }
                    conns[slot as usize] = Some(Conn { receiving: true, ..Conn::default() });
                    recv(&mut ring, slot)?;
                }
                if !cqueue::more(flags) {
                    // SAFETY: as above.
                    unsafe { push(&mut ring, &accept)? };
                }
                continue;
            }
            let slot = (user_data >> 2) as u32;
            match user_data & 3 {
                RECV => {
                    if let Some(bid) = cqueue::buffer_select(flags) {
                        let conn = conns[slot as usize].as_mut().expect("a receiving connection");
                        if res > 0 && !conn.closing {
                            conn.buf.extend_from_slice(buffers.buffer(bid, res as usize));
                        }
                        buffers.give(bid);
                        gave = true;
                    }
                    let conn = conns[slot as usize].as_mut().expect("a receiving connection");
                    let more = cqueue::more(flags);
                    if !more {
                        conn.receiving = false;
                    }
                    if res > 0 && !conn.closing {
                        if !more {
                            // The kernel ended the receive (out of buffers, say): arm it again,
                            // before answering (which may end the connection).
                            conn.receiving = true;
                            recv(&mut ring, slot)?;
                        }
                        if !conn.sending {
                            answer(&mut ring, slot, &mut conns)?;
                        }
                    } else if res == -libc::ENOBUFS && !conn.closing {
                        conn.receiving = true;
                        recv(&mut ring, slot)?;
                    } else if !more {
                        // End of stream, an error, or the shutdown: nothing more to read.
                        finish(&mut ring, slot, &mut conns)?;
                    }
                }
                SEND => {
                    let conn = conns[slot as usize].as_mut().expect("a sending connection");
                    conn.sending = false;
                    if res > 0 {
                        conn.sent += res as usize;
                        if conn.sent < conn.out.len() {
                            send(&mut ring, slot, conn)?;
                            continue;
                        }
                        conn.out.clear();
                        conn.sent = 0;
                        if conn.closing {
                            finish(&mut ring, slot, &mut conns)?;
                        } else if !conn.buf.is_empty() {
                            answer(&mut ring, slot, &mut conns)?;
                        }
                    } else {
                        finish(&mut ring, slot, &mut conns)?;
                    }
                }
                // A shutdown's or close's completion: nothing to do (the receive's end frees).
                _ => {}
            }
        }
        if gave {
            buffers.publish();
        }
    }
}

fn ring() -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder.setup_single_issuer().setup_defer_taskrun();
    let ring = builder.build(ENTRIES)?;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    ring.submitter().register_files_sparse(MAX_FILES.min(limit.rlim_cur as u32))?;
    ring.submitter().register_ring_fd()?;
    Ok(ring)
}

fn main() -> io::Result<()> {
    let (addr, threads) = http_peer::args();
    // Accepted connections inherit TCP_NODELAY from the listener.
    per_thread::serve("uring_ms_http", addr, threads, true, "io_uring setup", ring, serve)
}
