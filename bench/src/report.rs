//! The report: JSON, CSV, a markdown table and one SVG chart per workload.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::harness::Runs;
use crate::util;
use crate::workloads::Case;

/// Where and when the figures were taken.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub date: String,
    pub mode: &'static str,
    pub repetitions: usize,
}

impl Machine {
    pub fn read(quick: bool, repetitions: usize) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim()))
            .unwrap_or("unknown")
            .to_owned();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Machine { cpu, cores, kernel, date: util::utc(now), mode: if quick { "quick" } else { "full" }, repetitions }
    }

    pub fn header(&self) -> String {
        format!(
            "# corio-bench ({} mode, {} repetitions, interleaved; median [min..max])\n\n\
             - machine: {}, {} cores\n- kernel: Linux {}\n- date: {}",
            self.mode, self.repetitions, self.cpu, self.cores, self.kernel, self.date
        )
    }
}

/// The figures of one implementation in one case.
#[derive(Debug, Serialize)]
pub struct ImplResult {
    pub name: String,
    /// `ok`, or why there is no figure (`crashed: …`, `did not build: …`, `not run: …`).
    pub status: String,
    pub samples: Vec<f64>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// corio's median ÷ this implementation's median, in the case's unit.
    pub corio_ratio: Option<f64>,
    /// The median over repetitions of corio's figure ÷ this implementation's in the same
    /// repetition: the runs of one repetition are adjacent in time, so drift in the machine's
    /// load hits both alike.
    pub paired_ratio: Option<f64>,
    /// Medians of the secondary figures.
    pub extra: BTreeMap<String, f64>,
    /// Each run's peak RSS (`VmHWM` of the child process).
    pub rss_kib: Vec<u64>,
    pub rss_kib_median: Option<u64>,
    /// Each run's `ru_maxrss` from `wait4`, which includes the parent's RSS (kept for reference).
    pub rusage_maxrss_kib: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub workload: String,
    pub title: String,
    pub metric: String,
    pub unit: String,
    pub higher_is_better: bool,
    pub repetitions: usize,
    pub impls: Vec<ImplResult>,
    /// The corio implementation whose median the ratios use (the case's best corio figure).
    pub ratio_base: Option<String>,
    pub notes: Vec<String>,
}

fn median_min_max(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
    (median, v[0], v[v.len() - 1])
}

impl CaseResult {
    pub fn new(case: &Case, repetitions: usize, runs: Vec<Runs>) -> CaseResult {
        let mut impls: Vec<ImplResult> = case
            .impls
            .iter()
            .zip(runs)
            .map(|(name, runs)| {
                let ok = !runs.samples.is_empty();
                let status = match (&runs.failure, ok) {
                    (Some(f), false) => f.clone(),
                    (Some(f), true) => format!("ok ({} runs; then {f})", runs.samples.len()),
                    (None, _) => "ok".to_owned(),
                };
                let values: Vec<f64> = runs.samples.iter().map(|s| s.value).collect();
                let stats = ok.then(|| median_min_max(&values));
                let mut extra = BTreeMap::new();
                if ok {
                    for key in runs.samples[0].extra.keys() {
                        let v: Vec<f64> = runs.samples.iter().filter_map(|s| s.extra.get(key).copied()).collect();
                        extra.insert(key.clone(), median_min_max(&v).0);
                    }
                }
                let rss_kib_median = (!runs.rss_kib.is_empty()).then(|| {
                    let mut r = runs.rss_kib.clone();
                    r.sort_unstable();
                    r[r.len() / 2]
                });
                ImplResult {
                    name: (*name).to_owned(),
                    status,
                    samples: values,
                    median: stats.map(|s| s.0),
                    min: stats.map(|s| s.1),
                    max: stats.map(|s| s.2),
                    corio_ratio: None,
                    paired_ratio: None,
                    extra,
                    rss_kib: runs.rss_kib,
                    rss_kib_median,
                    rusage_maxrss_kib: runs.rusage_maxrss_kib,
                }
            })
            .collect();
        for (name, reason) in &case.absent {
            impls.push(ImplResult {
                name: (*name).to_owned(),
                status: reason.clone(),
                samples: vec![],
                median: None,
                min: None,
                max: None,
                corio_ratio: None,
                paired_ratio: None,
                extra: BTreeMap::new(),
                rss_kib: vec![],
                rss_kib_median: None,
                rusage_maxrss_kib: vec![],
            });
        }
        // The ratio's corio figure: the best median among the corio implementations.
        let best = impls
            .iter()
            .filter(|i| i.name.starts_with("corio"))
            .filter_map(|i| i.median.map(|m| (i.name.clone(), m)))
            .reduce(|a, b| if (b.1 > a.1) == case.higher_is_better && b.1 != a.1 { b } else { a });
        let (ratio_base, corio) = best.map_or((None, None), |(n, m)| (Some(n), Some(m)));
        let base_samples =
            impls.iter().find(|i| Some(&i.name) == ratio_base.as_ref()).map(|i| i.samples.clone()).unwrap_or_default();
        for i in &mut impls {
            if let (Some(c), Some(m)) = (corio, i.median)
                && m != 0.0
            {
                i.corio_ratio = Some(c / m);
            }
            // A failed run ends an implementation's runs, so sample k is repetition k's.
            let paired: Vec<f64> =
                base_samples.iter().zip(&i.samples).filter(|(_, m)| **m != 0.0).map(|(c, m)| c / m).collect();
            i.paired_ratio = (!paired.is_empty()).then(|| median_min_max(&paired).0);
        }
        CaseResult {
            id: case.id.clone(),
            workload: case.workload.to_owned(),
            title: case.title.clone(),
            metric: case.metric.to_owned(),
            unit: case.unit.to_owned(),
            higher_is_better: case.higher_is_better,
            repetitions,
            impls,
            ratio_base,
            notes: case.notes.clone(),
        }
    }

    fn extra_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.impls.iter().flat_map(|i| i.extra.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// A markdown section: one row per implementation.
    pub fn markdown(&self) -> String {
        let better = if self.higher_is_better { "higher is better" } else { "lower is better" };
        let mut s = format!(
            "### {} — {}\n\n{} in {} ({better}), median of {} repetition(s); ratio = corio ÷ peer (of the \
             medians; paired: the median of the per-repetition ratios), corio = {} (the best corio \
             implementation of this case).\n\n",
            self.id,
            self.title,
            self.metric,
            self.unit,
            self.repetitions,
            self.ratio_base.as_deref().unwrap_or("none")
        );
        let keys = self.extra_keys();
        s += "| impl | median | min | max | corio ÷ impl | paired |";
        for k in &keys {
            let _ = write!(s, " {k} |");
        }
        s += " peak RSS (MiB) | status |\n|---|---:|---:|---:|---:|---:|";
        s += &"---:|".repeat(keys.len() + 1);
        s += "---|\n";
        for i in &self.impls {
            let f = |v: Option<f64>| v.map_or("—".to_owned(), fmt_num);
            let _ = write!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                i.name,
                f(i.median),
                f(i.min),
                f(i.max),
                i.corio_ratio.map_or("—".to_owned(), |r| format!("{r:.2}")),
                i.paired_ratio.map_or("—".to_owned(), |r| format!("{r:.2}"))
            );
            for k in &keys {
                let _ = write!(s, " {} |", f(i.extra.get(k).copied()));
            }
            let rss = i.rss_kib_median.map_or("—".to_owned(), |r| format!("{:.1}", r as f64 / 1024.0));
            let _ = writeln!(s, " {rss} | {} |", i.status.replace('|', "/"));
        }
        for note in &self.notes {
            let _ = write!(s, "\n- {note}");
        }
        if !self.notes.is_empty() {
            s += "\n";
        }
        s
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Writes `report.json`, `report.csv`, `report.md` and `<workload>.svg` into `dir`.
pub fn write(dir: &Path, machine: &Machine, results: &[CaseResult]) -> io::Result<()> {
    #[derive(Serialize)]
    struct Json<'a> {
        machine: &'a Machine,
        cases: &'a [CaseResult],
    }
    let json = serde_json::to_string_pretty(&Json { machine, cases: results }).map_err(io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;

    let mut csv = String::from(
        "case,impl,status,metric,unit,median,min,max,corio_ratio,p50_us,p99_us,rss_kib_median,paired_ratio\n",
    );
    for r in results {
        for i in &r.impls {
            let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
            let _ = writeln!(
                csv,
                "{},{},\"{}\",{},{},{},{},{},{},{},{},{},{}",
                r.id,
                i.name,
                i.status.replace('"', "'"),
                r.metric,
                r.unit,
                f(i.median),
                f(i.min),
                f(i.max),
                f(i.corio_ratio),
                f(i.extra.get("p50_us").copied()),
                f(i.extra.get("p99_us").copied()),
                i.rss_kib_median.map_or(String::new(), |r| r.to_string()),
                f(i.paired_ratio),
            );
        }
    }
    std::fs::write(dir.join("report.csv"), csv)?;

    let mut md =
        machine.header() + "\n\nEach run is a fresh process; peak RSS is that process's VmHWM (median over runs).\n\n";
    for r in results {
        md += &r.markdown();
        md += "\n";
    }
    std::fs::write(dir.join("report.md"), md)?;

    let mut workloads: Vec<&str> = results.iter().map(|r| r.workload.as_str()).collect();
    workloads.dedup();
    for w in workloads {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.workload == w).collect();
        std::fs::write(dir.join(format!("{w}.svg")), svg(w, machine, &cases))?;
    }
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A hand-drawn horizontal bar chart: one panel per case, a bar per implementation (median)
/// with a whisker from min to max; each panel has its own scale.
fn svg(workload: &str, machine: &Machine, cases: &[&CaseResult]) -> String {
    const W: f64 = 900.0;
    const LABEL: f64 = 170.0;
    const BAR: f64 = 18.0;
    const PLOT: f64 = W - LABEL - 150.0;
    let height: f64 = 50.0 + cases.iter().map(|c| 40.0 + c.impls.len() as f64 * (BAR + 6.0)).sum::<f64>();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{}</text>\n\
         <text x=\"10\" y=\"36\" fill=\"#555\">{} · Linux {} · {} · {} mode, median of {} [min..max]</text>\n",
        esc(workload),
        esc(&machine.cpu),
        esc(&machine.kernel),
        esc(&machine.date),
        machine.mode,
        machine.repetitions
    );
    let mut y = 50.0;
    for case in cases {
        let better = if case.higher_is_better { "higher is better" } else { "lower is better" };
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{}\" font-weight=\"bold\">{} — {} ({}, {better})</text>",
            y + 18.0,
            esc(&case.id),
            esc(&case.title),
            esc(&case.unit)
        );
        y += 28.0;
        let scale = case.impls.iter().filter_map(|i| i.max).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
        for i in &case.impls {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                LABEL - 6.0,
                y + 13.0,
                esc(&i.name)
            );
            match (i.median, i.min, i.max) {
                (Some(med), Some(lo), Some(hi)) => {
                    let colour = if i.name.starts_with("corio") { "#d9480f" } else { "#4c6ef5" };
                    let x = |v: f64| LABEL + v / scale * PLOT;
                    let _ = writeln!(
                        s,
                        "<rect x=\"{LABEL}\" y=\"{y}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"{colour}\"/>\n\
                         <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
                         <text x=\"{:.1}\" y=\"{}\">{}</text>",
                        x(med) - LABEL,
                        x(lo),
                        x(hi),
                        y + BAR / 2.0,
                        y + BAR / 2.0,
                        x(hi) + 6.0,
                        y + 13.0,
                        fmt_num(med)
                    );
                }
                _ => {
                    // Long reasons are cut to fit the chart; report.md has them whole.
                    let status: String = if i.status.chars().count() > 110 {
                        i.status.chars().take(109).chain(['…']).collect()
                    } else {
                        i.status.clone()
                    };
                    let _ = writeln!(s, "<text x=\"{LABEL}\" y=\"{}\" fill=\"#c00\">{}</text>", y + 13.0, esc(&status));
                }
            }
            y += BAR + 6.0;
        }
        y += 12.0;
    }
    s + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_min_max(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(median_min_max(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }

    #[test]
    fn ratio_is_corio_over_peer_and_failures_keep_their_reason() {
        let case = Case::new("w", None, "t".into()).metric("m", "u", true).impls(&["corio-aio", "peer", "broken"]);
        let ok = |v: f64| Runs {
            samples: vec![crate::harness::Sample::new(v)],
            rss_kib: vec![100],
            rusage_maxrss_kib: vec![200],
            failure: None,
        };
        let broken = Runs { failure: Some("crashed: boom".into()), ..Runs::default() };
        // Every corio implementation gets its posix twin.
        assert_eq!(case.impls, ["corio-aio", "corio-aio-posix", "peer", "broken"]);
        let result = CaseResult::new(&case, 1, vec![ok(10.0), ok(8.0), ok(5.0), broken]);
        assert_eq!(result.impls[2].corio_ratio, Some(2.0));
        assert_eq!(result.impls[3].status, "crashed: boom");
        assert_eq!(result.ratio_base.as_deref(), Some("corio-aio"));
        assert!(result.markdown().contains("| peer | 5.00 |"));
        assert!(svg("w", &Machine::read(true, 1), &[&result]).contains("crashed: boom"));
    }

    #[test]
    fn paired_ratio_is_the_median_of_per_repetition_ratios() {
        let case = Case::new("w", None, "t".into()).metric("m", "u", true);
        let case = Case { impls: vec!["corio-x", "peer"], ..case };
        let runs = |v: &[f64]| Runs {
            samples: v.iter().map(|&v| crate::harness::Sample::new(v)).collect(),
            ..Runs::default()
        };
        // Ratios per repetition 2.0, 0.5, 1.5 → paired 1.5; of the medians: 4 ÷ 2 → 2.0.
        let result = CaseResult::new(&case, 3, vec![runs(&[4.0, 1.0, 6.0]), runs(&[2.0, 2.0, 4.0])]);
        assert_eq!(result.impls[1].corio_ratio, Some(2.0));
        assert_eq!(result.impls[1].paired_ratio, Some(1.5));
        assert!(result.markdown().contains("| peer | 2.00 | 2.00 | 4.00 | 2.00 | 1.50 |"), "{}", result.markdown());
    }
}
