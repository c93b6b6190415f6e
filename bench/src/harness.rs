//! Runs the suite: one fresh child process per measured run, interleaved, with its peak RSS.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read as _};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cli;
use crate::report::{self, CaseResult, Machine};
use crate::util;
use crate::workloads::{self, Case};

/// What one run of one implementation measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sample {
    /// The case's primary metric, in its unit.
    pub value: f64,
    /// Secondary figures (latency percentiles, …), by name.
    pub extra: BTreeMap<String, f64>,
    /// The run's peak RSS (its `VmHWM`), filled in by the harness.
    #[serde(default)]
    pub peak_rss_kib: u64,
}

impl Sample {
    pub fn new(value: f64) -> Sample {
        Sample { value, extra: BTreeMap::new(), peak_rss_kib: 0 }
    }

    pub fn with(mut self, name: &str, value: f64) -> Sample {
        self.extra.insert(name.to_owned(), value);
        self
    }
}

/// Every run of one implementation in one case.
#[derive(Debug, Default)]
pub struct Runs {
    pub samples: Vec<Sample>,
    /// Each run's peak RSS (`VmHWM`, reported by the child).
    pub rss_kib: Vec<u64>,
    /// Each run's `ru_maxrss` from `wait4` (includes the parent's RSS: see `util::vm_hwm_kib`).
    pub rusage_maxrss_kib: Vec<u64>,
    pub failure: Option<String>,
}

const RESULT_TAG: &str = "RESULT ";

/// The `--one <case> <impl>` child: runs once and prints its [`Sample`] as JSON.
pub fn child(case_id: &str, imp: &str, quick: bool) -> ExitCode {
    let Some(case) = workloads::cases(quick).into_iter().find(|c| c.id == case_id) else {
        eprintln!("unknown case {case_id:?}");
        return ExitCode::from(2);
    };
    if !case.impls.contains(&imp) {
        eprintln!("case {case_id} has no implementation {imp:?} (has: {})", case.impls.join(", "));
        return ExitCode::from(2);
    }
    // A hung run must not hang the suite.
    let limit = Duration::from_secs(if quick { 60 } else { 600 });
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("watchdog: run exceeded {limit:?}");
        std::process::exit(124);
    });
    util::raise_fd_limit();
    match workloads::run(&case, imp, quick) {
        Ok(mut sample) => {
            sample.peak_rss_kib = util::vm_hwm_kib(None).unwrap_or(0);
            println!("{RESULT_TAG}{}", serde_json::to_string(&sample).expect("serialize sample"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{case_id} {imp}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the selected workloads (only the implementations in `only`, if given) and writes the
/// report.
pub fn suite(selected: &[&str], only: Option<&[String]>, quick: bool) -> io::Result<()> {
    let reps = if quick { 3 } else { 5 };
    let out = util::report_dir();
    std::fs::create_dir_all(out.join("logs"))?;
    let machine = Machine::read(quick, reps);
    println!("{}", machine.header());
    let select = || -> Vec<Case> {
        let cases = workloads::cases(quick).into_iter().filter(|c| selected.contains(&c.workload)).collect();
        match only {
            Some(only) => cli::filter_impls(cases, only),
            None => cases,
        }
    };
    workloads::prepare(&select())?;
    // Again: what prepare did (built servers, installed tools) decides which implementations run.
    let cases = select();
    if cases.is_empty() {
        return Err(io::Error::other("no case of these workloads has any of these implementations"));
    }
    let started = std::time::Instant::now();
    let mut progress = Progress::new(cases.iter().map(|c| c.reps.unwrap_or(reps) * c.impls.len()).sum());
    let mut results = Vec::new();
    for case in &cases {
        eprintln!("\n{} — {} ({}, {})", case.id, case.title, case.metric, case.unit);
        let reps = case.reps.unwrap_or(reps);
        let mut runs: Vec<Runs> = case.impls.iter().map(|_| Runs::default()).collect();
        for rep in 0..reps {
            for (imp, run) in case.impls.iter().zip(&mut runs) {
                if run.failure.is_some() {
                    // A failed implementation's later repetitions are not run.
                    progress.skip();
                    continue;
                }
                match run_child(case, imp, quick, &out) {
                    Ok((sample, rusage_kib)) => {
                        let rss = sample.peak_rss_kib;
                        eprintln!(
                            "  rep {rep} {imp:>16}: {:>12.3} {} (peak rss {rss} KiB) {}",
                            sample.value,
                            case.unit,
                            progress.step()
                        );
                        run.samples.push(sample);
                        run.rss_kib.push(rss);
                        run.rusage_maxrss_kib.push(rusage_kib);
                    }
                    Err(e) => {
                        eprintln!("  rep {rep} {imp:>16}: FAILED: {e} {}", progress.step());
                        run.failure = Some(e);
                    }
                }
            }
        }
        let result = CaseResult::new(case, reps, runs);
        println!("\n{}", result.markdown());
        results.push(result);
        report::write(&out, &machine, &results)?;
    }
    println!("\nsuite took {:.1} s; report in {}", started.elapsed().as_secs_f64(), out.display());
    Ok(())
}

/// Runs done out of the planned total, and an estimate of the time left: the mean time per run
/// so far times the runs left (cases differ in length, so read it as a rough figure).
struct Progress {
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress { total, done: 0, started: Instant::now() }
    }

    /// One run finished: `[done/total, elapsed, ~left]`.
    fn step(&mut self) -> String {
        self.done += 1;
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = elapsed / self.done as f64 * (self.total - self.done) as f64;
        format!("[{}/{} runs, {} elapsed, ~{} left]", self.done, self.total, clock(elapsed), clock(left))
    }

    /// A planned run that will not happen.
    fn skip(&mut self) {
        self.total -= 1;
    }
}

/// `42s`, `3m05s`, `1h02m`.
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// One measured run in a fresh process: its sample and its `ru_maxrss` in KiB.
fn run_child(case: &Case, imp: &str, quick: bool, out: &std::path::Path) -> Result<(Sample, u64), String> {
    let log_path = out.join("logs").join(format!("{}-{imp}.log", case.id.replace('/', "_")));
    let log = File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--one", &case.id, imp]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    if quick {
        cmd.arg("--quick");
    }
    if workloads::is_posix_twin(imp) {
        cmd.env("CORIO_BACKEND", "posix");
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let mut stdout = String::new();
    let read = child.stdout.take().expect("piped stdout").read_to_string(&mut stdout);
    let (status, rss_kib) = util::wait4(child.id()).map_err(|e| format!("wait4: {e}"))?;
    read.map_err(|e| format!("reading the child's output: {e}"))?;
    let tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut lines = text.lines();
        if lines.by_ref().any(|l| l.contains("panicked at")) {
            return format!("panicked: {}", lines.next().unwrap_or_default());
        }
        let last: Vec<&str> = text.lines().rev().take(3).collect();
        last.into_iter().rev().collect::<Vec<_>>().join(" | ")
    };
    if libc::WIFSIGNALED(status) {
        return Err(format!("crashed: killed by signal {} ({})", libc::WTERMSIG(status), tail()));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("crashed: exit code {} ({})", libc::WEXITSTATUS(status), tail()));
    }
    let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT_TAG)).ok_or("no result printed")?;
    let sample = serde_json::from_str(line).map_err(|e| format!("bad result {line:?}: {e}"))?;
    Ok((sample, rss_kib))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_formats_seconds_minutes_and_hours() {
        assert_eq!(clock(0.4), "0s");
        assert_eq!(clock(59.0), "59s");
        assert_eq!(clock(185.0), "3m05s");
        assert_eq!(clock(3720.0), "1h02m");
    }

    #[test]
    fn progress_counts_runs_and_skipped_runs_leave_the_total() {
        let mut p = Progress::new(4);
        assert!(p.step().starts_with("[1/4 runs, "));
        p.skip();
        assert!(p.step().starts_with("[2/3 runs, "));
        let last = p.step();
        assert!(last.starts_with("[3/3 runs, ") && last.ends_with("~0s left]"), "{last}");
    }
}
