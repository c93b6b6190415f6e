//! Small helpers shared by the workloads.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hdrhistogram::Histogram;

/// The repository's `target/` (or `$CORIO_BENCH_TARGET`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CORIO_BENCH_TARGET") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"),
    }
}

/// Where the report goes: `target/bench-report/`.
pub fn report_dir() -> PathBuf {
    target_dir().join("bench-report")
}

/// Raises the open-file limit to allow 10,000 connections (both ends) in one process.
pub fn raise_fd_limit() {
    let want = 65_536;
    let limit = libc::rlimit { rlim_cur: want, rlim_max: want };
    // SAFETY: `limit` is a valid rlimit; setrlimit only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        // Not privileged: take the hard limit instead.
        let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `cur` is valid for writes.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) } == 0 {
            cur.rlim_cur = cur.rlim_max;
            // SAFETY: `cur` is a valid rlimit; setrlimit only reads it.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &cur) };
        }
    }
}

/// Reaps child `pid`: its wait status and its own peak RSS in KiB.
pub fn wait4(pid: u32) -> io::Result<(i32, u64)> {
    let mut status = 0;
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is a child of ours that std has not reaped (its `Child` was never waited
    // on); `status` and `usage` are valid for writes. wait4 gives this child's own rusage,
    // where `getrusage(RUSAGE_CHILDREN)` would give the high-water mark over every child.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if reaped != pid as libc::pid_t {
        return Err(io::Error::last_os_error());
    }
    Ok((status, usage.ru_maxrss as u64))
}

/// Peak RSS in KiB of this process (`None`) or of process `pid`: `VmHWM` from
/// `/proc/<pid>/status`, the high-water mark of the address space since exec.
///
/// `ru_maxrss` of a child (`wait4`, `RUSAGE_CHILDREN`) is not used for the figures: Linux
/// carries the spawning parent's RSS over into the child's `ru_maxrss` at exec, so small
/// children all report at least the parent's size.
pub fn vm_hwm_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Current RSS in KiB of this process (`VmRSS`).
pub fn vm_rss_kib() -> Option<u64> {
    status_kib(None, "VmRSS:")
}

/// A `kB` field (`VmRSS:`, `VmHWM:`, …) of `/proc/self/status` or `/proc/<pid>/status`.
pub fn status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = pid.map_or("/proc/self/status".to_owned(), |p| format!("/proc/{p}/status"));
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// The open-file limit after [`raise_fd_limit`].
pub fn fd_limit() -> u64 {
    raise_fd_limit();
    let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `cur` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) } != 0 {
        return 1024;
    }
    cur.rlim_cur
}

/// A deterministic xorshift64* generator: every implementation sees the same sequence.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0), near enough.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A latency histogram in nanoseconds (1 ns .. 100 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

pub fn record(hist: &mut Histogram<u64>, d: Duration) {
    hist.saturating_record(d.as_nanos().clamp(1, u64::MAX as u128) as u64);
}

/// The `q` quantile of `hist`, in microseconds.
pub fn quantile_us(hist: &Histogram<u64>, q: f64) -> f64 {
    hist.value_at_quantile(q) as f64 / 1000.0
}

/// Fills `buf` with the bytes message `seq` of connection `conn` must carry.
pub fn fill(buf: &mut [u8], conn: u64, seq: u64) {
    let base = conn.wrapping_mul(31).wrapping_add(seq.wrapping_mul(7));
    for (i, b) in buf.iter_mut().enumerate() {
        *b = base.wrapping_add(i as u64) as u8;
    }
}

/// Checks that `buf` holds message `seq` of connection `conn`.
pub fn check(buf: &[u8], conn: u64, seq: u64) {
    let base = conn.wrapping_mul(31).wrapping_add(seq.wrapping_mul(7));
    let ok = buf.iter().enumerate().all(|(i, b)| *b == base.wrapping_add(i as u64) as u8);
    assert!(ok, "connection {conn}: message {seq} came back corrupted");
}

/// A future that yields to its executor exactly once (the same for every async runtime).
pub struct YieldOnce(bool);

pub fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time.
pub fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_798_761_599), "2026-12-31 23:59:59 UTC");
    }

    #[test]
    fn rng_is_deterministic_and_bounded() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..1000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
    }

    #[test]
    fn fill_then_check_round_trips() {
        let mut buf = [0u8; 512];
        fill(&mut buf, 7, 3);
        check(&buf, 7, 3);
    }

    #[test]
    #[should_panic(expected = "corrupted")]
    fn check_catches_a_wrong_message() {
        let mut buf = [0u8; 512];
        fill(&mut buf, 7, 3);
        check(&buf, 7, 4);
    }

    #[test]
    fn own_peak_rss_is_readable() {
        assert!(vm_hwm_kib(None).is_some_and(|kib| kib > 0));
    }
}
