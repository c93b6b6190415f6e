//! A syscall counter for the workloads: a perf counter on the `raw_syscalls:sys_enter`
//! tracepoint (a software event: no hardware counters needed), opened on the calling thread
//! and inherited by the threads it starts afterwards.
//!
//! It needs perf events and tracefs: root (or `perf_event_paranoid` ≤ 1 with tracefs
//! readable). Where it cannot open, [`SyscallCounter::start`] gives `None` and the figure is
//! left out. A thread's count joins the total when the thread exits: threads still running at
//! the read (a peer runtime's workers) are not in it. `strace -f -c` of the same run gives the
//! same totals with the breakdown by syscall.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_ATTR_SIZE_VER7`; the struct below is that long.
const ATTR_SIZE: u32 = 128;
/// `perf_event_attr.inherit` (bit 1 of the flags word).
const INHERIT: u64 = 1 << 1;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// The first 128 bytes of `struct perf_event_attr`, as the kernel lays them out.
#[repr(C)]
#[derive(Default)]
struct Attr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    rest: [u64; 10],
}

pub struct SyscallCounter {
    fd: OwnedFd,
}

impl SyscallCounter {
    /// Starts counting (this thread and the threads it starts from now on).
    pub fn start() -> Option<SyscallCounter> {
        let id = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
            .iter()
            .find_map(|root| fs::read_to_string(format!("{root}/events/raw_syscalls/sys_enter/id")).ok())?;
        let attr = Attr {
            kind: PERF_TYPE_TRACEPOINT,
            size: ATTR_SIZE,
            config: id.trim().parse().ok()?,
            flags: INHERIT,
            ..Attr::default()
        };
        // SAFETY: perf_event_open reads `size` bytes of a live attr; the result is checked.
        let fd =
            unsafe { libc::syscall(libc::SYS_perf_event_open, &attr as *const Attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new descriptor, ours alone.
        Some(SyscallCounter { fd: unsafe { OwnedFd::from_raw_fd(fd as i32) } })
    }

    /// The syscalls counted so far.
    pub fn read(&self) -> Option<u64> {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a live u64.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut count).cast(), 8) };
        (n == 8).then_some(count)
    }
}
