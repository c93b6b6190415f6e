//! fs: reads from a 256 MiB file: random 4 KiB reads with 1 and 32 in flight, and sequential
//! 1 MiB reads; and the random reads with registered buffers and a registered file, corio
//! against raw io-uring only (`rand4k-qd*-fixed`, in [`super::fs_fixed`]).
//!
//! The file is created once under `target/bench-data/` and is page-cached (buffered IO, no
//! O_DIRECT): this measures each runtime's read path, not the disk. Every 8-byte word at offset
//! `o` holds `o`, so each read checks the words it got. "In flight" means: `qd` reads queued at
//! once for corio and raw io-uring, `qd` tasks (tokio: each on `spawn_blocking`; compio,
//! monoio: native) or `qd` threads (std) each reading its share of the same offsets.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio_aio::op::{OpExt, Read};
use corio_aio::{Dynamic, Mode, Value};

use super::{Case, rt};
use crate::harness::Sample;
use crate::util::{self, Rng};

const FILE_SIZE: u64 = 256 << 20;
const IMPLS: &[&str] = &["corio-aio", "io-uring", "tokio", "compio", "monoio", "std"];

pub(super) fn path() -> PathBuf {
    util::target_dir().join("bench-data").join("fs-256m.bin")
}

/// Creates the data file unless it is already there.
pub fn prepare() -> io::Result<()> {
    let path = path();
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == FILE_SIZE) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("parent"))?;
    let tmp = path.with_extension("tmp");
    let mut file = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    for word in 0..FILE_SIZE / 8 {
        file.write_all(&(word * 8).to_le_bytes())?;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(tmp, path)
}

/// Checks the words of a read of `buf.len()` bytes at `offset` (one per 4 KiB, and the last).
fn verify(buf: &[u8], offset: u64) {
    let word = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
    for at in (0..buf.len()).step_by(4096).chain([buf.len() - 8]) {
        assert_eq!(word(at), offset + at as u64, "read at {offset}: wrong bytes at +{at}");
    }
}

pub(super) struct Plan {
    pub(super) size: usize,
    pub(super) qd: usize,
    pub(super) offsets: Vec<u64>,
}

/// How many reads a case makes, and how many are in flight.
fn shape(variant: &str, quick: bool) -> (usize, usize) {
    let variant = variant.strip_suffix("-fixed").unwrap_or(variant);
    match (variant, quick) {
        ("rand4k-qd1", true) => (20_000, 1),
        ("rand4k-qd1", false) => (100_000, 1),
        ("rand4k-qd32", true) => (50_000, 32),
        ("rand4k-qd32", false) => (300_000, 32),
        (_, true) => ((FILE_SIZE >> 20) as usize, 1),
        (_, false) => (4 * (FILE_SIZE >> 20) as usize, 1),
    }
}

fn plan(variant: &str, quick: bool) -> Plan {
    let (reads, qd) = shape(variant, quick);
    if variant == "seq1m" {
        let offsets = (0..reads as u64).map(|i| (i << 20) % FILE_SIZE).collect();
        return Plan { size: 1 << 20, qd, offsets };
    }
    let mut rng = Rng::new(42);
    let offsets = (0..reads).map(|_| rng.below(FILE_SIZE / 4096) * 4096).collect();
    Plan { size: 4096, qd, offsets }
}

pub fn cases(quick: bool) -> Vec<Case> {
    let mut cases: Vec<Case> = ["rand4k-qd1", "rand4k-qd32", "seq1m"]
        .into_iter()
        .map(|v| {
            let (reads, qd) = shape(v, quick);
            let title = if v == "seq1m" {
                format!("{reads} sequential 1 MiB reads of a page-cached 256 MiB file")
            } else {
                format!("{reads} random 4 KiB reads, {qd} in flight, page-cached 256 MiB file")
            };
            Case::new("fs", Some(v), title).metric("throughput", "MiB/s", true).impls(IMPLS).note(
                "Buffered reads of a page-cached file (no O_DIRECT). In flight: corio/io-uring queue that many \
                 reads; tokio runs that many tasks, each read on spawn_blocking; compio/monoio that many tasks; \
                 std that many threads.",
            )
        })
        .collect();
    cases.extend(["rand4k-qd1-fixed", "rand4k-qd32-fixed"].into_iter().map(|v| {
        let (reads, qd) = shape(v, quick);
        let title = format!("{reads} random 4 KiB reads, {qd} in flight, registered buffers and file");
        Case::new("fs", Some(v), title).metric("throughput", "MiB/s", true).impls(FIXED_IMPLS).note(
            "ReadFixed into registered buffers from a registered file (IOSQE_FIXED_FILE), the same ring flags, \
             queue depth and offsets on both sides; every read checked by a checksum of all its words.",
        )
    }));
    cases
}

/// The registered case compares corio with the raw loop using the same levers (the peers have
/// no registered buffers); corio's posix twin runs the same program on plain memory.
const FIXED_IMPLS: &[&str] = &["corio-aio", "io-uring"];

pub fn run(case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    prepare()?;
    let plan = plan(case.variant(), quick);
    let fixed = case.variant().ends_with("-fixed");
    let elapsed = match imp {
        "corio-aio" if fixed => super::fs_fixed::corio(&plan)?,
        "io-uring" if fixed => super::fs_fixed::raw(&plan)?,
        "corio-aio" => corio(&plan)?,
        "io-uring" => raw(&plan)?,
        "tokio" => tokio(&plan)?,
        "compio" => compio(&plan)?,
        "monoio" => monoio(&plan)?,
        "std" => threads(&plan)?,
        _ => return Err(super::unknown(imp)),
    };
    let bytes = (plan.offsets.len() * plan.size) as f64;
    Ok(Sample::new(bytes / elapsed.as_secs_f64() / (1 << 20) as f64))
}

/// Worker `j` of `qd` reads offsets `j`, `j + qd`, …
fn share(plan: &Plan, j: usize) -> Vec<u64> {
    plan.offsets.iter().skip(j).step_by(plan.qd).copied().collect()
}

fn corio(plan: &Plan) -> io::Result<Duration> {
    let file = File::open(path())?;
    // The buffers are declared before the ring, so they outlive it (its drop waits for ops).
    let mut slab = vec![0u8; plan.qd * plan.size].into_boxed_slice();
    let base = slab.as_mut_ptr();
    let buf = |slot: usize| -> &'static mut [u8] {
        // SAFETY: in bounds of `slab`, which outlives the ring and is not otherwise touched;
        // a slot's buffer is referenced by one op in flight, or by the caller after it completed.
        unsafe { std::slice::from_raw_parts_mut(base.add(slot * plan.size), plan.size) }
    };
    let mut ring = Dynamic::new(64)?;
    let mut pending = vec![0u64; plan.qd];
    let mut next = plan.offsets.iter().copied();
    let mut events = Vec::with_capacity(plan.qd);
    let start = Instant::now();
    for (slot, pending) in pending.iter_mut().enumerate() {
        if let Some(off) = next.next() {
            *pending = off;
            // SAFETY: `file` and the buffer outlive the op (see above).
            unsafe { ring.queue_unchecked(Read::new(&file, buf(slot)).offset(off).user_data(slot as u64)) }?;
        }
    }
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| events.push((c.user_data as usize, c.result)))?;
        for (slot, result) in events.drain(..) {
            match result {
                Ok(Value::Len(n)) if n == plan.size => verify(buf(slot), pending[slot]),
                other => return Err(io::Error::other(format!("read at {}: {other:?}", pending[slot]))),
            }
            if let Some(off) = next.next() {
                pending[slot] = off;
                // SAFETY: as above; this slot's previous read has completed.
                unsafe { ring.queue_unchecked(Read::new(&file, buf(slot)).offset(off).user_data(slot as u64)) }?;
            }
        }
    }
    let elapsed = start.elapsed();
    drop(ring);
    drop(slab);
    Ok(elapsed)
}

fn raw(plan: &Plan) -> io::Result<Duration> {
    use io_uring::{opcode, types::Fd};
    let file = File::open(path())?;
    let fd = Fd(file.as_raw_fd());
    let mut bufs: Vec<Vec<u8>> = (0..plan.qd).map(|_| vec![0u8; plan.size]).collect();
    let mut ring = io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(64)?;
    let mut pending = vec![0u64; plan.qd];
    let mut next = plan.offsets.iter().copied();
    let (mut in_flight, len) = (0, plan.size as u32);
    let start = Instant::now();
    for (slot, buf) in bufs.iter_mut().enumerate() {
        if let Some(off) = next.next() {
            pending[slot] = off;
            let read = opcode::Read::new(fd, buf.as_mut_ptr(), len).offset(off).build().user_data(slot as u64);
            // SAFETY: `file` and `bufs` outlive the loop, which reaps every read.
            unsafe { ring.submission().push(&read).expect("sq space") };
            in_flight += 1;
        }
    }
    while in_flight > 0 {
        ring.submit_and_wait(1)?;
        let done: Vec<(usize, i32)> = ring.completion().map(|c| (c.user_data() as usize, c.result())).collect();
        for (slot, res) in done {
            in_flight -= 1;
            if res != len as i32 {
                return Err(io::Error::other(format!("read at {}: result {res}", pending[slot])));
            }
            verify(&bufs[slot], pending[slot]);
            if let Some(off) = next.next() {
                pending[slot] = off;
                let read =
                    opcode::Read::new(fd, bufs[slot].as_mut_ptr(), len).offset(off).build().user_data(slot as u64);
                // SAFETY: as above; this slot's previous read has completed.
                unsafe { ring.submission().push(&read).expect("sq space") };
                in_flight += 1;
            }
        }
    }
    Ok(start.elapsed())
}

fn tokio(plan: &Plan) -> io::Result<Duration> {
    rt::tokio().block_on(async {
        let file = Arc::new(File::open(path())?);
        let start = Instant::now();
        let workers: Vec<_> = (0..plan.qd)
            .map(|j| {
                let (offsets, file, size) = (share(plan, j), file.clone(), plan.size);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; size];
                    for off in offsets {
                        let file = file.clone();
                        buf = tokio::task::spawn_blocking(move || {
                            file.read_exact_at(&mut buf, off)?;
                            verify(&buf, off);
                            io::Result::Ok(buf)
                        })
                        .await
                        .map_err(io::Error::other)??;
                    }
                    io::Result::Ok(())
                })
            })
            .collect();
        for w in workers {
            w.await.map_err(io::Error::other)??;
        }
        Ok(start.elapsed())
    })
}

fn compio(plan: &Plan) -> io::Result<Duration> {
    use compio::BufResult;
    use compio::io::AsyncReadAtExt;
    rt::compio().block_on(async {
        let file = Rc::new(compio::fs::File::open(path()).await?);
        let start = Instant::now();
        let workers: Vec<_> = (0..plan.qd)
            .map(|j| {
                let (offsets, file, size) = (share(plan, j), file.clone(), plan.size);
                compio::runtime::spawn(async move {
                    let mut buf = vec![0u8; size];
                    for off in offsets {
                        buf.clear();
                        let BufResult(r, b) = file.read_exact_at(buf, off).await;
                        r?;
                        verify(&b, off);
                        buf = b;
                    }
                    io::Result::Ok(())
                })
            })
            .collect();
        for w in workers {
            w.await.map_err(|e| io::Error::other(format!("{e:?}")))??;
        }
        Ok(start.elapsed())
    })
}

fn monoio(plan: &Plan) -> io::Result<Duration> {
    rt::monoio(false, || async move {
        let file = Rc::new(monoio::fs::File::open(path()).await?);
        let start = Instant::now();
        let workers: Vec<_> = (0..plan.qd)
            .map(|j| {
                let (offsets, file, size) = (share(plan, j), file.clone(), plan.size);
                monoio::spawn(async move {
                    let mut buf = Vec::with_capacity(size);
                    for off in offsets {
                        buf.clear();
                        let (r, b) = file.read_exact_at(buf, off).await;
                        r?;
                        verify(&b, off);
                        buf = b;
                    }
                    io::Result::Ok(())
                })
            })
            .collect();
        for w in workers {
            w.await?;
        }
        Ok(start.elapsed())
    })
}

fn threads(plan: &Plan) -> io::Result<Duration> {
    let file = Arc::new(File::open(path())?);
    let read_share = |file: &File, offsets: Vec<u64>, size: usize| -> io::Result<()> {
        let mut buf = vec![0u8; size];
        for off in offsets {
            file.read_exact_at(&mut buf, off)?;
            verify(&buf, off);
        }
        Ok(())
    };
    let start = Instant::now();
    if plan.qd == 1 {
        read_share(&file, share(plan, 0), plan.size)?;
    } else {
        let workers: Vec<_> = (0..plan.qd)
            .map(|j| {
                let (offsets, file, size) = (share(plan, j), file.clone(), plan.size);
                std::thread::spawn(move || read_share(&file, offsets, size))
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| io::Error::other("reader thread panicked"))??;
        }
    }
    Ok(start.elapsed())
}
