//! `fs_read`: 4 KiB reads from `/dev/zero`, one op at a time: corio (`Dynamic::run`, the
//! engine of the immediate API) on io_uring and on posix, a raw `io-uring` loop, and blocking
//! `std` reads; then corio and the raw loop with the file registered (a fixed-file slot) and
//! a registered buffer (`ReadFixed`).
//!
//! Run: `cargo bench -p corio-aio --bench fs_read` (set `CORIO_BENCH_QUICK=1` for a smoke run).

mod util;

// Measures io_uring and /dev/zero, which exist only there.
#[cfg(target_os = "linux")]
mod bench {
    use super::util;

    use std::fs::File;
    use std::io::Read as _;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use corio_aio::op::{Fixed, Read, ReadFixed};
    use corio_aio::{BackendKind, Dynamic};

    pub(crate) fn main() -> std::io::Result<()> {
        util::header("fs_read (4 KiB from /dev/zero, one op in flight)");
        let n = util::scaled(400_000);
        let file = File::open("/dev/zero")?;
        let mut buf = vec![1u8; 4096];
        let mut posix_buf = vec![1u8; 4096];
        let mut uring = Dynamic::with_backend(64, BackendKind::IoUring)?;
        let mut posix = Dynamic::with_backend(64, BackendKind::Posix)?;
        let mut raw_ring = io_uring::IoUring::builder().setup_single_issuer().setup_defer_taskrun().build(64)?;
        let mut std_file = File::open("/dev/zero")?;
        let raw_buf = vec![1u8; 4096];
        let mut std_buf = vec![1u8; 4096];
        // Registered: the file in slot 0 of each ring's table, one registered buffer.
        let mut uring_fixed = Dynamic::with_backend(64, BackendKind::IoUring)?;
        uring_fixed.register_files(1)?;
        uring_fixed.install_file(Fixed(0), file.try_clone()?)?;
        uring_fixed.register_buffers(1, 4096)?;
        let mut fixed_buf = Some(uring_fixed.buffer().expect("a registered buffer"));
        let mut raw_fixed = io_uring::IoUring::builder().setup_single_issuer().setup_defer_taskrun().build(64)?;
        raw_fixed.submitter().register_files(&[file.as_raw_fd()])?;
        let raw_fixed_buf = vec![1u8; 4096];
        let iov = [libc::iovec { iov_base: raw_fixed_buf.as_ptr().cast_mut().cast(), iov_len: 4096 }];
        // SAFETY: `raw_fixed_buf` outlives the ring (declared before it, dropped after).
        unsafe { raw_fixed.submitter().register_buffers(&iov)? };

        let mut results = util::interleave(&mut [
            ("corio io_uring", &mut || {
                util::time(|| {
                    for _ in 0..n {
                        let read = uring.run(Read::new(&file, &mut buf), |_| {}).expect("run");
                        assert_eq!(read.expect("read"), 4096);
                    }
                })
            }),
            ("corio posix", &mut || {
                util::time(|| {
                    for _ in 0..n {
                        let read = posix.run(Read::new(&file, &mut posix_buf), |_| {}).expect("run");
                        assert_eq!(read.expect("read"), 4096);
                    }
                })
            }),
            ("raw io-uring", &mut || {
                let fd = io_uring::types::Fd(file.as_raw_fd());
                let entry = io_uring::opcode::Read::new(fd, raw_buf.as_ptr().cast_mut(), 4096).offset(u64::MAX).build();
                util::time(|| {
                    for _ in 0..n {
                        // SAFETY: `raw_buf` outlives the op, which completes before the next push.
                        unsafe { raw_ring.submission().push(&entry).expect("sq space") };
                        raw_ring.submit_and_wait(1).expect("submit");
                        let cqe: io_uring::cqueue::Entry = raw_ring.completion().next().expect("cqe");
                        assert_eq!(cqe.result(), 4096);
                    }
                })
            }),
            ("std read", &mut || {
                util::time(|| {
                    for _ in 0..n {
                        assert_eq!(std_file.read(&mut std_buf).expect("read"), 4096);
                    }
                })
            }),
            ("corio fixed", &mut || {
                util::time(|| {
                    for _ in 0..n {
                        let buf = fixed_buf.take().expect("the buffer");
                        let read = uring_fixed.run(ReadFixed::new(&Fixed(0), buf), |_| {}).expect("run");
                        let (len, buf) = read.expect("read");
                        assert_eq!(len, 4096);
                        fixed_buf = Some(buf);
                    }
                })
            }),
            ("raw fixed", &mut || {
                let target = io_uring::types::Fixed(0);
                let ptr = raw_fixed_buf.as_ptr().cast_mut();
                let entry = io_uring::opcode::ReadFixed::new(target, ptr, 4096, 0).offset(u64::MAX).build();
                util::time(|| {
                    for _ in 0..n {
                        // SAFETY: the registered buffer outlives the op, which completes before
                        // the next push.
                        unsafe { raw_fixed.submission().push(&entry).expect("sq space") };
                        raw_fixed.submit_and_wait(1).expect("submit");
                        let cqe: io_uring::cqueue::Entry = raw_fixed.completion().next().expect("cqe");
                        assert_eq!(cqe.result(), 4096);
                    }
                })
            }),
        ]);
        let mut per_op = Vec::new();
        for (name, samples) in &mut results {
            let (median, min, max) = util::stats(samples);
            let ns = |d: Duration| d.as_nanos() as f64 / n as f64;
            println!("{name:>14}: {:8.0} ns/read [{:.0}..{:.0}]", ns(median), ns(min), ns(max));
            per_op.push(ns(median));
        }
        println!(
            "ratio (speed) corio io_uring / raw io-uring: {:.2}x, corio posix / corio io_uring: {:.2}x, corio io_uring / std: {:.2}x",
            per_op[2] / per_op[0],
            per_op[0] / per_op[1],
            per_op[3] / per_op[0]
        );
        println!(
            "registered file and buffer: corio / raw io-uring: {:.2}x, corio registered / corio plain: {:.2}x",
            per_op[5] / per_op[4],
            per_op[0] / per_op[4]
        );
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("fs_read: nothing to measure here (io_uring and /dev/zero only)");
}
