//! UDP segmentation offload through `SendMsg`/`RecvMsg` control data (`op::cmsg`): one send of
//! 64 segments, received as 64 datagrams, or coalesced with GRO; on every backend (Linux).

#![cfg(target_os = "linux")]

mod common;

use std::io::{IoSlice, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use common::expect_errno;
use corio_aio::op::cmsg::{UdpSegment, udp_gro_segment};
use corio_aio::op::{RecvMsg, SendMsg};

const SEGMENT: usize = 512;
const SEGMENTS: usize = 64;

fn pair() -> (UdpSocket, UdpSocket) {
    let (a, b) = (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
    a.connect(b.local_addr().unwrap()).unwrap();
    b.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    (a, b)
}

/// 64 segments, each filled with its index.
fn payload() -> Vec<u8> {
    (0..SEGMENTS * SEGMENT).map(|i| (i / SEGMENT) as u8).collect()
}

fn send_segmented(a: &UdpSocket, data: &[u8]) -> usize {
    let segment = UdpSegment::new(SEGMENT as u16);
    corio_aio::single(SendMsg::new(a, &[IoSlice::new(data)]).control(segment.as_bytes())).unwrap()
}

#[test]
fn one_send_becomes_many_datagrams() {
    let (a, b) = pair();
    let data = payload();
    assert_eq!(send_segmented(&a, &data), data.len());
    let mut buf = [0u8; 2 * SEGMENT];
    for i in 0..SEGMENTS {
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(n, SEGMENT, "datagram {i}");
        assert!(buf[..n].iter().all(|&x| x == i as u8), "datagram {i} in order");
    }
}

#[test]
fn gro_coalesces_and_says_where_to_cut() {
    let (a, b) = pair();
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int from a live local.
    let r = unsafe {
        libc::setsockopt(
            b.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as u32,
        )
    };
    assert_eq!(r, 0, "UDP_GRO: {}", std::io::Error::last_os_error());
    let data = payload();
    assert_eq!(send_segmented(&a, &data), data.len());
    let mut got = Vec::new();
    let mut coalesced = 0;
    while got.len() < data.len() {
        let mut buf = vec![0u8; 65536];
        let mut control = [0u8; 64];
        let msg = {
            let mut bufs = [IoSliceMut::new(&mut buf)];
            corio_aio::single(RecvMsg::new(&b, &mut bufs).control(&mut control)).unwrap()
        };
        match udp_gro_segment(&control[..msg.control_len]) {
            Some(size) => {
                assert_eq!(size as usize, SEGMENT, "cut at the sender's segment size");
                coalesced += 1;
            }
            None => assert_eq!(msg.len, SEGMENT, "an uncoalesced datagram is one segment"),
        }
        got.extend_from_slice(&buf[..msg.len]);
    }
    assert!(got == data, "every segment, in order");
    // A GSO send on loopback reaches a GRO socket whole (`udp_rcv_segment` leaves it be).
    assert!(coalesced >= 1, "no coalesced receive for {SEGMENTS} segments");
}

#[test]
fn too_many_segments_fail() {
    let (a, _b) = pair();
    let data = payload();
    // More segments than one send may carry (`UDP_MAX_SEGMENTS`: 64, 128 since Linux 6.x).
    let segment = UdpSegment::new(8);
    expect_errno(corio_aio::single(SendMsg::new(&a, &[IoSlice::new(&data)]).control(segment.as_bytes())), libc::EINVAL);
    assert_eq!(udp_gro_segment(&[]), None);
    assert_eq!(udp_gro_segment(&[0u8; 7]), None);
}
