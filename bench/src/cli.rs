//! The command line: `--help`, `--list`, which workloads to run and which implementations.

use crate::workloads::{self, Case};

pub const HELP: &str = "\
corio-bench: corio against tokio, compio, monoio, may, std threads and raw io-uring.

usage: corio-bench [--quick] [--impl NAME,...] (all | WORKLOAD...)
       corio-bench [--quick] --list
       corio-bench [--quick] --one CASE IMPL     (one run, prints RESULT {json}; the suite uses it)

  all              every workload
  WORKLOAD         one or more of the workloads that --list shows
  --quick          smaller counts and 3 repetitions instead of 5
  --impl NAME,...  run only these implementations (comma-separated or repeated; names as in
                   --list). A case left with none is skipped; ratios need a corio and a peer.
  --list           the workloads, their cases and each case's implementations, then exit
  -h, --help       this text

Each measured run is a fresh child process; progress and the estimated time left go to
stderr. Results: target/bench-report/ (report.md, report.json, report.csv, one
<workload>.svg chart per workload, logs/).";

/// What the user asked for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Help,
    List { quick: bool },
    Suite { workloads: Vec<&'static str>, impls: Option<Vec<String>>, quick: bool },
}

/// Parses the user's arguments (not the internal `--one`, `--echo-server`, `--idle-server`
/// forms, which `main` matches first). An error says what was wrong.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut quick = false;
    let mut list = false;
    let mut impls: Option<Vec<String>> = None;
    let mut names = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--quick" => quick = true,
            "--list" => list = true,
            "--impl" => {
                let value = args.next().ok_or("--impl needs a list of implementations")?;
                add_impls(&mut impls, value)?;
            }
            a if a.starts_with("--impl=") => add_impls(&mut impls, &a["--impl=".len()..])?,
            a if a.starts_with('-') => return Err(format!("unknown option {a:?}")),
            name => names.push(name.to_owned()),
        }
    }
    if list {
        return Ok(Command::List { quick });
    }
    if names.is_empty() {
        return Err("no workload given (all, or names from --list)".to_owned());
    }
    let workloads = if names == ["all"] {
        workloads::WORKLOADS.to_vec()
    } else {
        let mut selected = Vec::new();
        for name in &names {
            let known = workloads::WORKLOADS.iter().find(|w| **w == name.as_str());
            selected.push(*known.ok_or_else(|| format!("unknown workload {name:?}"))?);
        }
        selected
    };
    if let Some(impls) = &impls {
        let known = implementations(&workloads::cases(quick));
        if let Some(bad) = impls.iter().find(|i| !known.contains(&i.as_str())) {
            return Err(format!("unknown implementation {bad:?} (known: {})", known.join(", ")));
        }
    }
    Ok(Command::Suite { workloads, impls, quick })
}

fn add_impls(impls: &mut Option<Vec<String>>, value: &str) -> Result<(), String> {
    let names: Vec<String> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if names.is_empty() {
        return Err("--impl needs at least one implementation".to_owned());
    }
    impls.get_or_insert_with(Vec::new).extend(names);
    Ok(())
}

/// Every implementation name the cases mention (run or absent), in order of first mention.
pub fn implementations(cases: &[Case]) -> Vec<&'static str> {
    let mut names = Vec::new();
    for case in cases {
        for name in case.impls.iter().copied().chain(case.absent.iter().map(|(n, _)| *n)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Keeps only the implementations in `only` (run or absent); drops cases left with none.
pub fn filter_impls(cases: Vec<Case>, only: &[String]) -> Vec<Case> {
    let wanted = |name: &str| only.iter().any(|o| o == name);
    cases
        .into_iter()
        .filter_map(|mut case| {
            case.impls.retain(|i| wanted(i));
            case.absent.retain(|(i, _)| wanted(i));
            (!case.impls.is_empty() || !case.absent.is_empty()).then_some(case)
        })
        .collect()
}

/// The `--list` text: each workload's cases with their implementations.
pub fn list(cases: &[Case]) -> String {
    let mut out = String::from("workloads, their cases and implementations (absent ones with why):\n");
    for workload in workloads::WORKLOADS {
        out += &format!("\n{workload}\n");
        for case in cases.iter().filter(|c| c.workload == *workload) {
            out += &format!("  {:<16} {}\n", case.id, case.impls.join(", "));
            for (name, why) in &case.absent {
                out += &format!("  {:<16}   absent: {name}: {why}\n", "");
            }
        }
    }
    out += &format!("\nimplementations: {}\n", implementations(cases).join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn workloads_options_and_implementation_filters_parse() {
        assert_eq!(parse(&args("--help")), Ok(Command::Help));
        assert_eq!(parse(&args("echo -h")), Ok(Command::Help));
        assert_eq!(parse(&args("--list --quick")), Ok(Command::List { quick: true }));
        assert_eq!(
            parse(&args("--quick echo timers --impl corio-coro,tokio --impl=may")),
            Ok(Command::Suite {
                workloads: vec!["echo", "timers"],
                impls: Some(vec!["corio-coro".into(), "tokio".into(), "may".into()]),
                quick: true
            })
        );
        assert_eq!(
            parse(&args("all")),
            Ok(Command::Suite { workloads: workloads::WORKLOADS.to_vec(), impls: None, quick: false })
        );
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        assert!(parse(&[]).unwrap_err().contains("no workload"));
        assert!(parse(&args("echoo")).unwrap_err().contains("unknown workload \"echoo\""));
        assert!(parse(&args("echo --fast")).unwrap_err().contains("unknown option"));
        assert!(parse(&args("echo --impl")).unwrap_err().contains("needs a list"));
        assert!(parse(&args("echo --impl ,")).unwrap_err().contains("at least one"));
        let err = parse(&args("echo --impl tokyo")).unwrap_err();
        assert!(err.contains("unknown implementation \"tokyo\"") && err.contains("tokio"), "{err}");
    }

    #[test]
    fn the_filter_keeps_only_the_named_implementations_and_drops_empty_cases() {
        let all = workloads::cases(true);
        let kept = filter_impls(all.clone(), &["io-uring".to_owned()]);
        assert!(!kept.is_empty());
        assert!(kept.iter().all(|c| c.impls.iter().chain(c.absent.iter().map(|(n, _)| n)).all(|i| *i == "io-uring")));
        // Every case that had io-uring (run or absent) is kept, no other.
        let had = all.iter().filter(|c| implementations(std::slice::from_ref(c)).contains(&"io-uring")).count();
        assert_eq!(kept.len(), had);
    }

    #[test]
    fn the_list_names_every_workload_and_implementation() {
        let cases = workloads::cases(true);
        let text = list(&cases);
        for w in workloads::WORKLOADS {
            assert!(text.contains(&format!("\n{w}\n")), "{w}");
        }
        for i in implementations(&cases) {
            assert!(text.contains(i), "{i}");
        }
    }
}
