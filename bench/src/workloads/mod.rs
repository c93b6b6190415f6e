//! The workloads. Each module gives its cases (a workload may have several, e.g. one per
//! connection count) and runs one implementation of one case once.

use std::io;

use crate::harness::Sample;

pub mod coro;
pub mod echo;
mod echo_async;
pub mod flow;
pub mod fs;
mod fs_fixed;
pub mod http;
pub mod idle;
pub mod nops;
pub mod ping_pong;
pub mod rt;
pub mod spawn;
pub mod spawn_many;
pub mod syscalls;
pub mod timers;

pub const WORKLOADS: &[&str] =
    &["nops", "ping_pong", "echo", "spawn", "spawn_many", "fs", "timers", "idle", "http", "flow"];

/// One measured situation, run on several implementations.
#[derive(Debug, Clone)]
pub struct Case {
    /// `workload` or `workload/variant`; what `--one` takes.
    pub id: String,
    pub workload: &'static str,
    pub title: String,
    pub metric: &'static str,
    pub unit: &'static str,
    pub higher_is_better: bool,
    /// The implementations run, corio's first.
    pub impls: Vec<&'static str>,
    /// Implementations listed in the report without figures, and why.
    pub absent: Vec<(&'static str, String)>,
    /// Method notes printed under the case's table.
    pub notes: Vec<String>,
    /// Repetitions of this case, if not the suite's (`http`: fewer, longer runs).
    pub reps: Option<usize>,
}

impl Case {
    pub fn new(workload: &'static str, variant: Option<&str>, title: String) -> Case {
        Case {
            id: variant.map_or(workload.to_owned(), |v| format!("{workload}/{v}")),
            workload,
            title,
            metric: "",
            unit: "",
            higher_is_better: true,
            impls: Vec::new(),
            absent: Vec::new(),
            notes: Vec::new(),
            reps: None,
        }
    }

    pub fn metric(mut self, metric: &'static str, unit: &'static str, higher_is_better: bool) -> Case {
        (self.metric, self.unit, self.higher_is_better) = (metric, unit, higher_is_better);
        self
    }

    /// Sets the implementations; each corio one is followed by its `-posix` twin (the same
    /// code on the posix backend: the harness runs it with `CORIO_BACKEND=posix`), except in
    /// `nops`, which compares io_uring with raw io_uring.
    pub fn impls(mut self, impls: &[&'static str]) -> Case {
        self.impls.clear();
        for &imp in impls {
            self.impls.push(imp);
            if self.workload != "nops"
                && let Some((_, twin)) = POSIX_TWINS.iter().find(|(base, _)| *base == imp)
            {
                self.impls.push(twin);
            }
        }
        self
    }

    pub fn absent(mut self, name: &'static str, why: &str) -> Case {
        self.absent.push((name, why.to_owned()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Case {
        self.notes.push(note.into());
        self
    }

    /// The variant part of the id (`c64` in `echo/c64`).
    pub fn variant(&self) -> &str {
        self.id.split_once('/').map_or("", |(_, v)| v)
    }
}

pub fn cases(quick: bool) -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(nops::cases(quick));
    all.extend(ping_pong::cases(quick));
    all.extend(echo::cases(quick));
    all.extend(spawn::cases(quick));
    all.extend(spawn_many::cases(quick));
    all.extend(fs::cases(quick));
    all.extend(timers::cases(quick));
    all.extend(idle::cases(quick));
    all.extend(http::cases(quick));
    all.extend(flow::cases(quick));
    all
}

/// One-time set-up before any run (the fs workload's data file, the http workload's servers
/// and wrk).
pub fn prepare(cases: &[Case]) -> io::Result<()> {
    if cases.iter().any(|c| c.workload == "fs") {
        fs::prepare()?;
    }
    if cases.iter().any(|c| c.workload == "http") {
        http::prepare()?;
    }
    Ok(())
}

/// corio implementations and their twins on the posix backend.
const POSIX_TWINS: &[(&str, &str)] =
    &[("corio-aio", "corio-aio-posix"), ("corio-coro", "corio-coro-posix"), ("corio-coro-net", "corio-coro-net-posix")];

/// Whether `imp` is a posix twin: the harness runs it with `CORIO_BACKEND=posix`.
pub fn is_posix_twin(imp: &str) -> bool {
    POSIX_TWINS.iter().any(|(_, twin)| *twin == imp)
}

pub fn run(case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let imp = match imp.strip_suffix("-posix") {
        Some(base) if is_posix_twin(imp) => {
            let backend = corio_aio::default_backend();
            if backend != corio_aio::BackendKind::Posix {
                return Err(io::Error::other(format!("{imp} must run on posix, not {backend}")));
            }
            base
        }
        _ => imp,
    };
    match case.workload {
        "nops" => nops::run(case, imp, quick),
        "ping_pong" => ping_pong::run(case, imp, quick),
        "echo" => echo::run(case, imp, quick),
        "spawn" => spawn::run(case, imp, quick),
        "spawn_many" => spawn_many::run(case, imp, quick),
        "fs" => fs::run(case, imp, quick),
        "timers" => timers::run(case, imp, quick),
        "idle" => idle::run(case, imp, quick),
        "http" => http::run(case, imp, quick),
        "flow" => flow::run(case, imp, quick),
        w => Err(io::Error::other(format!("unknown workload {w}"))),
    }
}

pub fn unknown(imp: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("no implementation {imp:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_unique_and_name_their_workload() {
        for quick in [true, false] {
            let all = cases(quick);
            let mut ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), all.len());
            for c in &all {
                assert!(WORKLOADS.contains(&c.workload), "{}", c.id);
                assert!(c.id.starts_with(c.workload));
                assert!(!c.impls.is_empty() || !c.absent.is_empty(), "{} lists no implementation", c.id);
            }
            for w in WORKLOADS {
                assert!(all.iter().any(|c| c.workload == *w), "{w} has no case");
            }
        }
    }

    #[test]
    fn unknown_implementations_are_refused() {
        let case = cases(true).into_iter().find(|c| c.id == "nops").expect("nops");
        assert!(run(&case, "no-such-runtime", true).is_err());
    }
}
