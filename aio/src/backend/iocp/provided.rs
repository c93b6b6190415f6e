//! Receives into provided buffers on IOCP ([`RawOp::RecvBuf`], [`RawOp::RecvMulti`]): the
//! driver takes a free buffer of the op's group when it starts a `WSARecv` and keeps its id
//! in the slot's `Track` until the packet; the result carries the id beside the byte count
//! (`groups::encode`), and a failure or the end of the stream gives the buffer back. A
//! multishot receive starts the next `WSARecv` in the same `Io` after each arrival (like a
//! multishot accept); an empty group ends it with `WSAENOBUFS`.

use windows_sys::Win32::Networking::WinSock as ws;

use super::{At, Iocp, Started};
use crate::backend::emu::MORE;
use crate::dynamic::groups::{self, Group};
use crate::op::RawOp;
use crate::sys::{IoVec, RawSource};

impl Iocp {
    /// Starts a receive of op `s` into a buffer of `group`.
    pub(super) fn recv_provided(&mut self, s: u32, fd: RawSource, group: *const Group, flags: i32) -> Started {
        // SAFETY: the op's state holds the group alive until its final report; only this
        // thread uses it.
        let group = unsafe { &*group };
        let Some(bid) = group.take() else { return Started::Done(-ws::WSAENOBUFS) };
        let (buf, len) = group.buffer(bid);
        self.track[s as usize].bid = bid;
        let io = self.io(s);
        // SAFETY: the slot's op is starting (or its last packet was dequeued): no IO uses its
        // `Io`. Buffer `bid` is out of the group until it is reported or given back.
        unsafe { (*io).wsabuf = IoVec { len, buf } };
        // SAFETY: as above; the pointer stays valid until the packet.
        let started = self.wsa(s, fd, unsafe { &raw const (*io).wsabuf }, 1, flags, true);
        if let Started::Done(_) = started {
            group.give_back(bid);
        }
        started
    }

    /// The packet of a receive into a provided buffer came with `res`: the result to report
    /// (the buffer's id with a byte count; the buffer given back otherwise). A multishot one
    /// that received data and was not asked to stop is reported here with more to come and
    /// started again: then `None`.
    pub(super) fn recv_provided_done(&mut self, s: u32, res: i32, done: &mut Vec<(u32, i32)>) -> Option<i32> {
        let t = &self.track[s as usize];
        let (RawOp::RecvBuf { group: g, .. } | RawOp::RecvMulti { group: g, .. }) = t.op else { return Some(res) };
        // SAFETY: as in `recv_provided`.
        let group = unsafe { &*g };
        if res <= 0 {
            group.give_back(t.bid);
            return Some(res);
        }
        let res = groups::encode(res as u32, Some(t.bid));
        let RawOp::RecvMulti { fd, flags, .. } = t.op else { return Some(res) };
        if t.at != At::Io {
            return Some(res); // its stop was requested: this arrival is its final report
        }
        done.push((s | MORE, res));
        match self.recv_provided(s, fd, g, flags) {
            Started::Pending(at, handle) => {
                let t = &mut self.track[s as usize];
                t.at = at;
                t.handle = handle;
                None
            }
            Started::Done(err) => Some(err),
        }
    }
}
