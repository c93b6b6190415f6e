//! `corio-bench`: corio against tokio, compio, monoio, may, std threads and raw io-uring.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml -- all            # every workload
//! cargo run --release --manifest-path bench/Cargo.toml -- echo --quick   # one workload, short
//! cargo run --release --manifest-path bench/Cargo.toml -- http           # wrk against 3 HTTP servers
//! cargo run --release --manifest-path bench/Cargo.toml -- echo --impl corio-coro,tokio  # two implementations
//! cargo run --release --manifest-path bench/Cargo.toml -- --list         # workloads, cases, implementations
//! cargo run --release --manifest-path bench/Cargo.toml -- --help
//! ```
//!
//! Every measured run is a fresh child process (the binary re-executes itself with
//! `--one <case> <impl>`), so each figure comes with that run's own peak RSS (its `VmHWM`).
//! Implementations are interleaved (A B C A B C …). Results go to `target/bench-report/`.

mod cli;
mod harness;
mod report;
mod util;
mod workloads;

use std::process::ExitCode;

use cli::Command;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The internal forms: the harness's child runs and the helper servers.
    let quick = args.iter().any(|a| a == "--quick");
    let rest: Vec<&str> = args.iter().map(String::as_str).filter(|a| *a != "--quick").collect();
    match rest.as_slice() {
        ["--one", case, imp] => return harness::child(case, imp, quick),
        ["--echo-server", imp, c, m] => return workloads::echo::server_main(imp, c, m),
        ["--idle-server", imp, n] => return workloads::idle::server_main(imp, n),
        _ => {}
    }
    match cli::parse(&args) {
        Ok(Command::Help) => {
            println!("{}", cli::HELP);
            ExitCode::SUCCESS
        }
        Ok(Command::List { quick }) => {
            print!("{}", cli::list(&workloads::cases(quick)));
            ExitCode::SUCCESS
        }
        Ok(Command::Suite { workloads, impls, quick }) => match harness::suite(&workloads, impls.as_deref(), quick) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("corio-bench: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("corio-bench: {e}\n\n{}", cli::HELP);
            ExitCode::from(2)
        }
    }
}
