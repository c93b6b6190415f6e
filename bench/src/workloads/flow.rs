//! flow: a one-way UDP flow over loopback in zig-aio's shape. Each message is 64 segments of
//! 512 bytes sent with one `sendmsg` and `UDP_SEGMENT` (GSO: the kernel cuts it into 64
//! datagrams); the receiving socket has `UDP_GRO` on, so one `recvmsg` may take many
//! datagrams glued together (its control data says where to cut). 1M packets (datagrams) in
//! all; the metric is packets per second.
//!
//! Sender and receiver run on one thread in lockstep: a message is sent, then received
//! whole (as many receives as it takes), so the socket buffer never overflows and no datagram
//! is lost; the receiver checks every byte (each segment holds its index in the message).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corio_aio::Dynamic;
use corio_aio::op::cmsg::{UdpSegment, udp_gro_segment};
use corio_aio::op::{OpExt, RecvMsg, SendMsg};

use super::{Case, rt};
use crate::harness::Sample;

const SEGMENT: usize = 512;
const SEGMENTS: usize = 64;
const MESSAGE: usize = SEGMENT * SEGMENTS;

pub fn cases(quick: bool) -> Vec<Case> {
    let n = packets(quick);
    vec![
        Case::new("flow", None, format!("{n} UDP packets of {SEGMENT} bytes, {SEGMENTS} per GSO send, GRO receive"))
            .metric("throughput", "Mpkt/s", true)
            .impls(&["corio-aio", "io-uring", "tokio"])
            .note(
                "One loopback UDP flow on one thread, in lockstep: one sendmsg of 64 × 512 bytes with \
                 UDP_SEGMENT (GSO), then recvmsg (UDP_GRO on the receiver) until the message is in, every \
                 byte checked. corio-aio and io-uring: a SENDMSG linked to the first RECVMSG in one \
                 submission, further receives if GRO left some segments apart. tokio: the same syscalls \
                 through `UdpSocket::try_io` on readiness.",
            ),
    ]
}

fn packets(quick: bool) -> usize {
    if quick { 64 * 1024 } else { 1 << 20 }
}

pub fn run(_case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let messages = packets(quick) / SEGMENTS;
    let (elapsed, receives) = match imp {
        "corio-aio" => corio(messages)?,
        "io-uring" => raw(messages)?,
        "tokio" => tokio(messages)?,
        _ => return Err(super::unknown(imp)),
    };
    let packets = (messages * SEGMENTS) as f64;
    Ok(Sample::new(packets / elapsed.as_secs_f64() / 1e6)
        .with("receives_per_message", receives as f64 / messages as f64))
}

/// A connected pair; the receiver has `UDP_GRO` on and room for a few messages.
fn pair() -> io::Result<(UdpSocket, UdpSocket)> {
    let (tx, rx) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    tx.connect(rx.local_addr()?)?;
    rx.connect(tx.local_addr()?)?;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int from a live local.
    let r = unsafe {
        libc::setsockopt(
            rx.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as u32,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((tx, rx))
}

/// The message: segment `s` is filled with `s`.
fn message() -> Vec<u8> {
    (0..MESSAGE).map(|i| (i / SEGMENT) as u8).collect()
}

/// Checks a receive of `len` bytes landing at `at` of the message (whole segments, as GRO
/// glues them), with the segment size it reported.
fn check(data: &[u8], at: usize, gro: Option<u16>) -> io::Result<()> {
    let whole =
        data.len().is_multiple_of(SEGMENT) && at.is_multiple_of(SEGMENT) && gro.is_none_or(|g| g as usize == SEGMENT);
    let right = data.iter().enumerate().all(|(i, &b)| b == ((at + i) / SEGMENT) as u8);
    if whole && right && at + data.len() <= MESSAGE {
        Ok(())
    } else {
        Err(io::Error::other(format!("bad receive at {at}")))
    }
}

fn corio(messages: usize) -> io::Result<(Duration, usize)> {
    let (tx, rx) = pair()?;
    let data = message();
    let segment = UdpSegment::new(SEGMENT as u16);
    let (mut buf, mut control) = (vec![0u8; 65536], [0u8; 64]);
    let mut ring = Dynamic::new(4)?;
    let mut receives = 0;
    let start = Instant::now();
    for _ in 0..messages {
        let mut got = 0;
        let parts = [IoSlice::new(&data)];
        let mut into = [IoSliceMut::new(&mut buf)];
        let (sent, received) = ring.run(
            (
                SendMsg::new(&tx, &parts).control(segment.as_bytes()).soft(),
                RecvMsg::new(&rx, &mut into).control(&mut control),
            ),
            |_| {},
        )?;
        if sent? != MESSAGE {
            return Err(io::Error::other("short send"));
        }
        let mut received = received?;
        loop {
            receives += 1;
            check(&buf[..received.len], got, udp_gro_segment(&control[..received.control_len]))?;
            got += received.len;
            if got == MESSAGE {
                break;
            }
            let mut into = [IoSliceMut::new(&mut buf)];
            received = ring.run(RecvMsg::new(&rx, &mut into).control(&mut control), |_| {})??;
        }
    }
    Ok((start.elapsed(), receives))
}

fn raw(messages: usize) -> io::Result<(Duration, usize)> {
    use io_uring::{opcode, types::Fd};
    let (tx, rx) = pair()?;
    let data = message();
    let segment = UdpSegment::new(SEGMENT as u16);
    let (mut buf, mut control) = (vec![0u8; 65536], [0u8; 64]);
    let mut ring = io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(8)?;
    let mut send_iov = libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: MESSAGE };
    // SAFETY: plain old data; all-zero is an empty header.
    let mut send_hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    send_hdr.msg_iov = &raw mut send_iov;
    send_hdr.msg_iovlen = 1;
    send_hdr.msg_control = segment.as_bytes().as_ptr().cast_mut().cast();
    send_hdr.msg_controllen = segment.as_bytes().len();
    let mut recv_iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut recv_hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    recv_hdr.msg_iov = &raw mut recv_iov;
    recv_hdr.msg_iovlen = 1;
    let (txfd, rxfd) = (Fd(tx.as_raw_fd()), Fd(rx.as_raw_fd()));
    let mut receives = 0;
    let start = Instant::now();
    for _ in 0..messages {
        recv_hdr.msg_control = control.as_mut_ptr().cast();
        recv_hdr.msg_controllen = control.len();
        let entries = [
            opcode::SendMsg::new(txfd, &raw const send_hdr)
                .build()
                .user_data(1)
                .flags(io_uring::squeue::Flags::IO_LINK),
            opcode::RecvMsg::new(rxfd, &raw mut recv_hdr).build().user_data(2),
        ];
        // SAFETY: the headers, buffers and sockets outlive the ops: both are reaped below
        // before anything is touched again.
        unsafe { ring.submission().push_multiple(&entries).expect("sq space") };
        ring.submit_and_wait(2)?;
        let mut received = 0;
        for cqe in ring.completion() {
            match (cqe.user_data(), cqe.result()) {
                (1, r) if r as usize == MESSAGE => {}
                (2, r) if r > 0 => received = r as usize,
                (op, r) => return Err(io::Error::other(format!("op {op}: {r}"))),
            }
        }
        let mut got = 0;
        loop {
            receives += 1;
            let gro = udp_gro_segment(&control[..recv_hdr.msg_controllen]);
            check(&buf[..received], got, gro)?;
            got += received;
            if got == MESSAGE {
                break;
            }
            recv_hdr.msg_control = control.as_mut_ptr().cast();
            recv_hdr.msg_controllen = control.len();
            let entry = opcode::RecvMsg::new(rxfd, &raw mut recv_hdr).build().user_data(2);
            // SAFETY: as above.
            unsafe { ring.submission().push(&entry).expect("sq space") };
            ring.submit_and_wait(1)?;
            let cqe = ring.completion().next().expect("a completion");
            if cqe.result() <= 0 {
                return Err(io::Error::other(format!("recvmsg: {}", cqe.result())));
            }
            received = cqe.result() as usize;
        }
    }
    Ok((start.elapsed(), receives))
}

fn tokio(messages: usize) -> io::Result<(Duration, usize)> {
    use tokio::io::Interest;
    let (tx, rx) = pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    rt::tokio().block_on(async move {
        let (tx, rx) = (tokio::net::UdpSocket::from_std(tx)?, tokio::net::UdpSocket::from_std(rx)?);
        let data = message();
        let segment = UdpSegment::new(SEGMENT as u16);
        let (mut buf, mut control) = (vec![0u8; 65536], [0u8; 64]);
        let mut receives = 0;
        let start = Instant::now();
        for _ in 0..messages {
            let sent = tx
                .async_io(Interest::WRITABLE, || {
                    let mut iov = libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: MESSAGE };
                    // SAFETY: plain old data; all-zero is an empty header.
                    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                    hdr.msg_iov = &raw mut iov;
                    hdr.msg_iovlen = 1;
                    hdr.msg_control = segment.as_bytes().as_ptr().cast_mut().cast();
                    hdr.msg_controllen = segment.as_bytes().len();
                    // SAFETY: the header points at live locals for the call.
                    let r = unsafe { libc::sendmsg(tx.as_raw_fd(), &hdr, 0) };
                    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as usize) }
                })
                .await?;
            if sent != MESSAGE {
                return Err(io::Error::other("short send"));
            }
            let mut got = 0;
            while got < MESSAGE {
                let (len, control_len) = rx
                    .async_io(Interest::READABLE, || {
                        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
                        // SAFETY: as above.
                        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                        hdr.msg_iov = &raw mut iov;
                        hdr.msg_iovlen = 1;
                        hdr.msg_control = control.as_mut_ptr().cast();
                        hdr.msg_controllen = control.len();
                        // SAFETY: as above.
                        let r = unsafe { libc::recvmsg(rx.as_raw_fd(), &mut hdr, 0) };
                        if r < 0 { Err(io::Error::last_os_error()) } else { Ok((r as usize, hdr.msg_controllen)) }
                    })
                    .await?;
                receives += 1;
                check(&buf[..len], got, udp_gro_segment(&control[..control_len]))?;
                got += len;
            }
        }
        Ok((start.elapsed(), receives))
    })
}

#[cfg(test)]
mod tests {
    /// Every implementation moves a few messages, each checked byte for byte.
    #[test]
    fn every_implementation_delivers_the_flow() {
        for (name, run) in
            [("corio-aio", super::corio as fn(usize) -> _), ("io-uring", super::raw), ("tokio", super::tokio)]
        {
            let (_, receives) = run(8).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(receives >= 8, "{name}: at least one receive per message");
        }
    }
}
