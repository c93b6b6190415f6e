//! `corio-bench`: corio against tokio, compio, monoio, may, std threads and raw io-uring.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml -- all            # every workload
//! cargo run --release --manifest-path bench/Cargo.toml -- echo --quick   # one workload, short
//! cargo run --release --manifest-path bench/Cargo.toml -- http           # wrk against 3 HTTP servers
//! ```
//!
//! Every measured run is a fresh child process (the binary re-executes itself with
//! `--one <case> <impl>`), so each figure comes with that run's own peak RSS (its `VmHWM`).
//! Implementations are interleaved (A B C A B C …). Results go to `target/bench-report/`.

mod harness;
mod report;
mod util;
mod workloads;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: corio-bench [--quick] (all | <workload>...)");
    eprintln!("       corio-bench [--quick] --one <case> <impl>   (one run, used by the harness)");
    eprintln!("workloads: {}", workloads::WORKLOADS.join(", "));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rest: Vec<&str> = args.iter().map(String::as_str).filter(|a| *a != "--quick").collect();
    match rest.as_slice() {
        ["--one", case, imp] => harness::child(case, imp, quick),
        ["--echo-server", imp, c, m] => workloads::echo::server_main(imp, c, m),
        ["--idle-server", imp, n] => workloads::idle::server_main(imp, n),
        [] => usage(),
        names => {
            let selected: Vec<&str> = if names == ["all"] { workloads::WORKLOADS.to_vec() } else { names.to_vec() };
            if let Some(bad) = selected.iter().find(|n| !workloads::WORKLOADS.contains(n)) {
                eprintln!("unknown workload {bad:?}");
                return usage();
            }
            match harness::suite(&selected, quick) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("corio-bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
