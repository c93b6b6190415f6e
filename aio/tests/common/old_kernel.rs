//! Playing an older kernel on io_uring: this test binary run again in a child process with
//! `CORIO_URING_DISABLE` (io_uring's probe is per process), and the parent's and child's
//! halves of the tests that do so.

use corio_aio::Dynamic;

use super::is_io_uring;

/// Runs this test binary again with `args` and `CORIO_URING_DISABLE=disable` (plus `env`):
/// io_uring's probe is per process, so playing an older kernel takes a new one. Fails the
/// calling test if the child fails or did not run every test its filter selects (counted
/// with `--list`, so adding a test never needs a count updated); returns the child's
/// standard output for further checks.
pub fn rerun_with_uring_disabled(disable: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let child = || {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command.env("CORIO_URING_DISABLE", disable).envs(env.iter().copied());
        command
    };
    let out = child().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The same filter, listed: `--list` takes the filter arguments but not the run options.
    let filter: Vec<&str> =
        args.iter().copied().filter(|a| *a != "--nocapture" && !a.starts_with("--test-threads")).collect();
    let listed = child().args(&filter).args(["--list", "--format", "terse"]).output().unwrap();
    let selected = String::from_utf8_lossy(&listed.stdout).lines().filter(|l| l.ends_with(": test")).count();
    let ran = stdout.lines().find_map(|l| l.strip_prefix("test result: ok. ")).and_then(|rest| {
        let count = |what: &str| {
            rest.split("; ").find_map(|part| part.strip_suffix(what)).and_then(|n| n.trim().parse::<usize>().ok())
        };
        Some((count(" passed")?, count(" ignored")?))
    });
    let Some((passed, ignored)) = ran else { panic!("no test summary in the child's output:\n{stdout}") };
    assert!(passed > 0, "the child ran no test:\n{stdout}");
    assert_eq!(passed + ignored, selected, "the child did not run every selected test:\n{stdout}");
    stdout
}

/// The parent's half of a test that re-runs its binary as an older kernel: on io_uring, and
/// unless this process is such a child already (`child_env` set), runs the binary again with
/// `CORIO_URING_DISABLE=disable` and `child_env=value` (see [`rerun_with_uring_disabled`])
/// and returns the child's standard output; elsewhere `None` (nothing to play).
pub fn rerun_as_old_kernel(child_env: &str, value: &str, disable: &str, args: &[&str]) -> Option<String> {
    if std::env::var_os(child_env).is_some() || !is_io_uring() {
        return None;
    }
    Some(rerun_with_uring_disabled(disable, &[(child_env, value)], args))
}

/// Re-runs this binary (but `this_test`) as a kernel without `opcode`'s multishot form, where
/// the backend re-arms single-shot ops instead, and checks that the child used that stand-in
/// (each child prints it from [`report_stand_in`], which its suite calls in a test).
pub fn rerun_with_stand_in(child_env: &str, opcode: &str, this_test: &str) {
    let args = ["--skip", this_test, "--test-threads=1", "--nocapture"];
    if let Some(stdout) = rerun_as_old_kernel(child_env, "1", opcode, &args) {
        assert!(stdout.contains("stand-in: yes"), "the child did not use the stand-in:\n{stdout}");
    }
}

/// In a child of [`rerun_with_stand_in`] (`child_env` set), prints whether the backend says it
/// re-arms `opcode`.
pub fn report_stand_in(child_env: &str, opcode: &str) {
    let ring = Dynamic::new(1).unwrap();
    if std::env::var_os(child_env).is_some() {
        println!("stand-in: {}", if ring.describe().contains(opcode) { "yes" } else { "no" });
    }
}
