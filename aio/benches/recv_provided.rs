//! `recv_provided`: 512-byte messages over a Unix socket pair, each written and then received
//! (one in flight): a plain `Recv` into the caller's buffer per message (`Dynamic::run`), a
//! `RecvBuf` from a provided-buffer group per message, and one multishot `RecvMulti` that
//! completes once per message; on io_uring and on posix. `RecvMulti` saves the submission of
//! an op per message; the group saves a buffer per idle connection. `RecvMulti incremental`
//! receives into an incremental group (`BufferGroupOptions::incremental`, io_uring on Linux
//! 6.12): eight messages share a 4 KiB buffer, which goes back to the ring once per eight
//! messages instead of once per message; the run prints the buffers taken per MiB received.
//!
//! Run: `cargo bench -p corio-aio --bench recv_provided` (set `CORIO_BENCH_QUICK=1` for a smoke
//! run).

mod util;

#[cfg(target_os = "linux")]
mod bench {
    use super::util;

    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use corio_aio::op::{Recv, RecvBuf, RecvMulti};
    use corio_aio::{BackendKind, BufferGroupOptions, Dynamic, Mode};

    const MSG: [u8; 512] = [7; 512];

    /// One connection on one backend, with a buffer of its own and a group of 16.
    struct Rig {
        ring: Dynamic<'static>,
        writer: UnixStream,
        reader: &'static UnixStream,
        group: corio_aio::BufferGroup,
        buf: Vec<u8>,
    }

    impl Rig {
        fn new(backend: BackendKind) -> std::io::Result<Rig> {
            Rig::with_group(backend, BufferGroupOptions::new(16, 4096))
        }

        fn with_group(backend: BackendKind, options: BufferGroupOptions) -> std::io::Result<Rig> {
            let (writer, reader) = UnixStream::pair()?;
            let mut ring = Dynamic::with_backend(8, backend)?;
            let group = ring.register_buffer_group_with(options)?;
            Ok(Rig { ring, writer, reader: Box::leak(Box::new(reader)), group, buf: vec![0; 4096] })
        }

        fn recv(&mut self, n: u64) -> Duration {
            util::time(|| {
                for _ in 0..n {
                    self.writer.write_all(&MSG).expect("write");
                    let got = self.ring.run(Recv::new(self.reader, &mut self.buf), |_| {}).expect("run");
                    assert_eq!(got.expect("recv"), 512);
                }
            })
        }

        fn recv_buf(&mut self, n: u64) -> Duration {
            util::time(|| {
                for _ in 0..n {
                    self.writer.write_all(&MSG).expect("write");
                    let got = self.ring.run(RecvBuf::new(self.reader, &self.group), |_| {}).expect("run");
                    assert_eq!(got.expect("recv").len(), 512);
                }
            })
        }

        /// Also counts the buffers taken (pieces at offset 0) into `taken`.
        fn recv_multi(&mut self, n: u64, taken: &mut u64) -> Duration {
            let id = self.ring.queue(RecvMulti::new(self.reader, &self.group)).expect("queue");
            let elapsed = util::time(|| {
                for _ in 0..n {
                    self.writer.write_all(&MSG).expect("write");
                    let mut got = 0;
                    while got == 0 {
                        self.ring
                            .complete(Mode::Blocking, |c| {
                                let buf = c.output::<RecvMulti>().expect("recv");
                                *taken += u64::from(buf.offset() == 0);
                                got += buf.len();
                            })
                            .expect("complete");
                    }
                    assert_eq!(got, 512);
                }
            });
            self.ring.queue(corio_aio::op::Cancel::new(id)).expect("cancel");
            self.ring.complete_all(|_| {}).expect("end");
            elapsed
        }
    }

    pub(crate) fn main() -> std::io::Result<()> {
        util::header("recv_provided (512 B messages over a Unix socket pair, one in flight)");
        let n = util::scaled(200_000);
        let (mut u1, mut u2, mut u3) =
            (Rig::new(BackendKind::IoUring)?, Rig::new(BackendKind::IoUring)?, Rig::new(BackendKind::IoUring)?);
        let (mut p1, mut p2, mut p3) =
            (Rig::new(BackendKind::Posix)?, Rig::new(BackendKind::Posix)?, Rig::new(BackendKind::Posix)?);
        let incremental = BufferGroupOptions::new(16, 4096).incremental();
        let mut u4 = Rig::with_group(BackendKind::IoUring, incremental)?;
        let mut p4 = Rig::with_group(BackendKind::Posix, incremental)?;
        // Buffers taken: whole and incremental groups, io_uring and posix.
        let mut taken = [0u64; 4];
        let [t_u3, t_u4, t_p3, t_p4] = &mut taken;
        let mut results = util::interleave(&mut [
            ("io_uring Recv", &mut || u1.recv(n)),
            ("io_uring RecvBuf", &mut || u2.recv_buf(n)),
            ("io_uring RecvMulti", &mut || u3.recv_multi(n, t_u3)),
            ("io_uring RecvMulti incremental", &mut || u4.recv_multi(n, t_u4)),
            ("posix Recv", &mut || p1.recv(n)),
            ("posix RecvBuf", &mut || p2.recv_buf(n)),
            ("posix RecvMulti", &mut || p3.recv_multi(n, t_p3)),
            ("posix RecvMulti incremental", &mut || p4.recv_multi(n, t_p4)),
        ]);
        let medians: Vec<f64> =
            results.iter_mut().map(|(name, samples)| util::report(name, samples, n, "message")).collect();
        // The baseline of each backend is its plain `Recv` into a buffer of the caller's.
        for (backend, at) in [("io_uring", 0), ("posix", 4)] {
            let base = medians[at];
            println!(
                "{backend}: time per message vs Recv: RecvBuf {:.2}x, RecvMulti {:.2}x, RecvMulti incremental {:.2}x",
                medians[at + 1] / base,
                medians[at + 2] / base,
                medians[at + 3] / base
            );
        }
        // Each case received the same bytes: buffers taken per MiB received.
        let mib = (512 * n) as f64 / f64::from(1 << 20);
        let per_mib = |t: u64| t as f64 / util::rounds() as f64 / mib;
        println!(
            "buffers taken per MiB: io_uring {:.0} whole, {:.0} incremental (incremental granted: {}); posix {:.0} whole, {:.0} incremental",
            per_mib(taken[0]),
            per_mib(taken[1]),
            u4.group.is_incremental(),
            per_mib(taken[2]),
            per_mib(taken[3]),
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
    eprintln!("recv_provided: nothing to measure here (io_uring only)");
}
