//! Ancillary data for [`SendMsg`](super::SendMsg) and [`RecvMsg`](super::RecvMsg) (Linux):
//! UDP segmentation offload.
//!
//! With **GSO** one `sendmsg` carries many datagrams: the data is cut into segments of a
//! given size by the kernel (or the NIC), one UDP datagram each; pass a [`UdpSegment`] as the
//! message's control data. With **GRO** enabled on a receiving socket (`setsockopt(SOL_UDP,
//! UDP_GRO, 1)`), one `recvmsg` may return several datagrams of the same flow glued
//! together; [`udp_gro_segment`] reads from the received control data the size they were cut
//! at (the last may be shorter). Both are Linux 5.0+.
//!
//! ```
//! use corio_aio::op::{self, cmsg::UdpSegment};
//! use std::io::{IoSlice, IoSliceMut};
//! let (a, b) = (std::net::UdpSocket::bind("127.0.0.1:0")?, std::net::UdpSocket::bind("127.0.0.1:0")?);
//! let data = [7u8; 4 * 512];
//! let segment = UdpSegment::new(512);
//! let parts = [IoSlice::new(&data)];
//! let sent = corio_aio::single(op::SendMsg::new(&a, &parts).to(b.local_addr()?).control(segment.as_bytes()))?;
//! assert_eq!(sent, 2048);
//! let mut buf = [0u8; 2048];
//! assert_eq!(b.recv(&mut buf)?, 512, "four datagrams of 512 bytes arrive");
//! # std::io::Result::Ok(())
//! ```

/// A control message asking the kernel to cut a send into UDP datagrams of `size` bytes
/// (`UDP_SEGMENT`); pass [`as_bytes`](UdpSegment::as_bytes) to
/// [`SendMsg::control`](super::SendMsg::control).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(8))]
pub struct UdpSegment {
    bytes: [u8; 32],
}

impl UdpSegment {
    /// Datagrams of `size` bytes (the last may be shorter). At most 64 segments per send.
    pub fn new(size: u16) -> UdpSegment {
        let mut seg = UdpSegment { bytes: [0; 32] };
        // SAFETY: CMSG_LEN/CMSG_SPACE are arithmetic; a u16 payload's space (24 bytes on
        // 64-bit Linux, 16 on 32-bit) fits the 32-byte, 8-aligned buffer, where the header is
        // written at the start and the payload at CMSG_DATA.
        unsafe {
            let len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
            debug_assert!(libc::CMSG_SPACE(size_of::<u16>() as u32) as usize <= seg.bytes.len());
            let hdr = seg.bytes.as_mut_ptr().cast::<libc::cmsghdr>();
            (*hdr).cmsg_len = len as _;
            (*hdr).cmsg_level = libc::SOL_UDP;
            (*hdr).cmsg_type = libc::UDP_SEGMENT;
            libc::CMSG_DATA(hdr).cast::<u16>().write_unaligned(size);
        }
        seg
    }

    /// The control data, for [`SendMsg::control`](super::SendMsg::control).
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: arithmetic only.
        let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
        &self.bytes[..space]
    }
}

/// The segment size of a coalesced receive (`UDP_GRO`) from [`RecvMsg`](super::RecvMsg)'s
/// control data (`control[..control_len]`); `None` if the message holds one datagram.
pub fn udp_gro_segment(control: &[u8]) -> Option<u16> {
    let hdr_len = size_of::<libc::cmsghdr>();
    let mut at = 0;
    // Walks the messages by their lengths, aligned as CMSG_NXTHDR does, reading each header
    // unaligned (the caller's buffer need not be aligned).
    while at + hdr_len <= control.len() {
        // SAFETY: `hdr_len` bytes from `at` are in bounds (checked above); read unaligned.
        let hdr: libc::cmsghdr = unsafe { control.as_ptr().add(at).cast::<libc::cmsghdr>().read_unaligned() };
        #[allow(clippy::unnecessary_cast)] // `cmsg_len` is `u32` on musl, `usize` on glibc
        let len = hdr.cmsg_len as usize;
        if len < hdr_len || at + len > control.len() {
            return None;
        }
        // SAFETY: arithmetic only.
        let data_at = at + unsafe { libc::CMSG_LEN(0) } as usize;
        if hdr.cmsg_level == libc::SOL_UDP && hdr.cmsg_type == libc::UDP_GRO && data_at + 2 <= at + len {
            // The kernel reports the size as an int.
            let mut size = [0u8; 4];
            let n = (at + len - data_at).min(4);
            size[..n].copy_from_slice(&control[data_at..data_at + n]);
            return u16::try_from(i32::from_ne_bytes(size)).ok();
        }
        at += len.next_multiple_of(size_of::<usize>());
    }
    None
}
