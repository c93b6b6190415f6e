//! http: HTTP/1.1 keep-alive `GET /` served by corio's `examples/http_server.rs` (on its
//! `Runtime`, and `--by-hand` without it) and by the same
//! minimal server on tokio, on may and as a hand-written io_uring loop with no runtime (the
//! `tokio_http`, `may_http` and `uring_http` binaries of this crate, `src/http_peer.rs`: same
//! parser, same response), each on 2 threads, loaded by `wrk -t2`. The io_uring loop is the
//! baseline: what an io_uring server reaches here with nothing between it and the ring.
//! `hyper-corio` and `hyper-tokio` are hyper 1.x's HTTP/1.1 server with the same service (`/` →
//! the same body) on corio (`coro::future::block_on` over a `TcpStream`, which implements
//! hyper's IO traits, a scheduler per thread) and on tokio (`hyper_corio_http`,
//! `hyper_tokio_http`): the cost of running async code on corio against its home runtime.
//!
//! The `http/pin-c100` and `http/pin-c1000` cases pin the server to core 1 with one thread and
//! `wrk -t1` to core 0 (with both sharing two cores, wrk saturates first and every server reads
//! the same): their figure is the server's CPU time per request, the cost that decides how
//! many requests a core serves. They add the fastest io_uring designs as baselines: monoio (the
//! fastest io_uring runtime peer) and `uring_ms_http`, a raw loop with multishot accept into
//! fixed files, multishot receives into a provided-buffer ring and the registered ring fd.
//!
//! Each run starts a fresh server process (stdout tells its address: it binds port 0), checks
//! one answer, then either runs `wrk --latency` against it (`http/c100`, `http/c1000`) or holds
//! 10,000 idle keep-alive connections open, each served one request first, and reads the
//! server's `VmRSS` (`http/idle`). The servers are built once by [`prepare`] (corio's example in
//! the root workspace, the peers in this one; `cargo build --release`), which also finds `wrk`
//! or installs it with `apt-get`.

use std::collections::BTreeMap;
use std::io::{self, BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::Case;
use crate::harness::Sample;
use crate::util;

/// `corio-coro` is `http_server` on its `Runtime`; `corio-coro-byhand` the same binary and
/// handler with a scheduler per thread wired by hand (`--by-hand`), the baseline the runtime
/// is held to (CPU per request within 3 %).
const IMPLS: &[&str] = &[
    "corio-coro",
    "corio-coro-byhand",
    "io-uring",
    "io-uring-multishot",
    "tokio",
    "monoio",
    "may",
    "hyper-corio",
    "hyper-tokio",
];
/// Scheduler / worker threads of every server.
const THREADS: usize = 2;
/// wrk's threads.
const WRK_THREADS: usize = 2;
const IDLE: usize = 10_000;
/// Passes the built servers from [`prepare`] to the runs: JSON of `{impl: Ok(path) | Err(why)}`.
const SERVERS_ENV: &str = "CORIO_BENCH_HTTP_SERVERS";
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
/// The body every server answers `/` with.
const BODY: &[u8] = b"Hello, World!";

const CONNECTIONS: &[usize] = &[100, 1000];
/// The cores of the pinned cases: the server's and wrk's.
const SERVER_CORE: usize = 1;
const WRK_CORE: usize = 0;

/// wrk's duration per run, in seconds.
fn duration_s(quick: bool) -> u64 {
    if quick { 3 } else { 10 }
}

/// Repetitions of every http case. A 10 s wrk run averages itself, but whole runs of the same
/// binary swing by ±10 % on a shared 2-core VM (more than the differences measured), so five
/// interleaved repetitions, for medians and paired ratios that one slow run cannot move.
fn reps(quick: bool) -> usize {
    if quick { 1 } else { 5 }
}

pub fn cases(quick: bool) -> Vec<Case> {
    let d = duration_s(quick);
    let wrk_missing = wrk().is_none().then(|| format!("not run: {WRK_HELP}"));
    let built = built_servers();
    let mut all: Vec<Case> = CONNECTIONS
        .iter()
        .map(|&c| {
            let case = Case::new(
                "http",
                Some(&format!("c{c}")),
                format!("wrk -t{WRK_THREADS} -c{c} -d{d}s, keep-alive GET /, server on {THREADS} threads"),
            )
            .metric("throughput", "k req/s", true)
            .note(format!(
                "A fresh server process per run; `wrk -t{WRK_THREADS} -c{c} -d{d}s --latency` on the same machine \
                 (wrk and the server share the cores). p50/p99 are wrk's latency distribution; errors = wrk's \
                 socket errors (connect, read, write, timeout) + non-2xx answers; server_cpu_us = the server's CPU \
                 time (user + system, all threads) during the run per request served; server_rss_mib = the \
                 server's peak RSS (VmHWM) after the run. The peak RSS column is the measuring process's (it only runs wrk).",
            ));
            with_impls(case, quick, wrk_missing.as_deref(), built.as_ref())
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let too_few_cores = (cores < 2).then(|| format!("not run: needs 2 cores, {cores} available"));
    for &c in CONNECTIONS {
        let case = Case::new(
            "http",
            Some(&format!("pin-c{c}")),
            format!("wrk -t1 -c{c} -d{d}s on core {WRK_CORE}, server on 1 thread pinned to core {SERVER_CORE}"),
        )
        .metric("server CPU per request", "µs", false)
        .note(format!(
            "The server pinned to core {SERVER_CORE} with one thread, `wrk -t1 -c{c} -d{d}s --latency` pinned to \
             core {WRK_CORE} (sched_setaffinity before exec). The figure is the server's CPU time (user + system) \
             during the run per request served: lower is better, and it does not depend on which side saturates. \
             k_req_s, p50/p99 and errors are wrk's."
        ));
        all.push(with_impls(case, quick, wrk_missing.as_deref().or(too_few_cores.as_deref()), built.as_ref()));
    }
    let idle = Case::new(
        "http",
        Some("idle"),
        format!("{IDLE} idle keep-alive connections, each served one GET / first, server on {THREADS} threads"),
    )
    .metric("server RSS", "MiB", false)
    .note(format!(
        "The server's VmRSS once {IDLE} connections are open and idle (each answered one request, then left \
         open; 1 s after the last). rss_before_mib: its VmRSS after one request on one connection, before \
         the others; per_conn_kib = (VmRSS − rss_before) ÷ {IDLE}; server_hwm_mib: its VmHWM; setup_s: \
         time to open the connections and get the answers. corio's server would close connections idle for \
         60 s (its idle timeout); the measurement ends well before."
    ));
    // The client ends are in the measuring process, the server ends in the server's.
    let fds_missing =
        (util::fd_limit() < (IDLE + 256) as u64).then(|| format!("not run: RLIMIT_NOFILE below {}", IDLE + 256));
    all.push(with_impls(idle, quick, fds_missing.as_deref(), built.as_ref()));
    all
}

/// Sets the case's implementations (with corio's posix twin), or lists them as not run.
fn with_impls(mut case: Case, quick: bool, missing: Option<&str>, built: Option<&Servers>) -> Case {
    case.reps = Some(reps(quick));
    if let Some(why) = missing {
        for imp in IMPLS {
            case = case.absent(imp, why);
        }
        return case;
    }
    let runnable: Vec<&'static str> = IMPLS.iter().copied().filter(|imp| server_of(built, imp).is_ok()).collect();
    case = case.impls(&runnable);
    for imp in IMPLS {
        if let Err(why) = server_of(built, imp) {
            case = case.absent(imp, &format!("did not build: {why}"));
        }
    }
    case
}

/// Each implementation's server binary, or why it did not build.
type Servers = BTreeMap<String, Result<PathBuf, String>>;

/// The servers [`prepare`] built (passed down in [`SERVERS_ENV`]), if it ran.
fn built_servers() -> Option<Servers> {
    serde_json::from_str(&std::env::var(SERVERS_ENV).ok()?).ok()
}

fn server_of(built: Option<&Servers>, imp: &str) -> Result<PathBuf, String> {
    match built.map(|b| b.get(imp)) {
        // Not prepared (a `--one` run of its own): the run builds it.
        None => Ok(PathBuf::new()),
        Some(None) => Err("not built".into()),
        Some(Some(r)) => r.clone(),
    }
}

/// Builds the servers and makes sure wrk is there; the runs (child processes) inherit the
/// servers' paths through [`SERVERS_ENV`].
pub fn prepare() -> io::Result<()> {
    if let Err(why) = ensure_wrk() {
        eprintln!("http: {why}");
    }
    let servers = build();
    let json = serde_json::to_string(&servers).map_err(io::Error::other)?;
    // SAFETY: called from the suite's main thread before it starts any other thread or child
    // (nothing reads the environment concurrently).
    unsafe { std::env::set_var(SERVERS_ENV, json) };
    Ok(())
}

/// `cargo build --release` of corio's example and of the peer binaries.
fn build() -> Servers {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corio = cargo_build(&bench.join("../Cargo.toml"), &["--example", "http_server"]);
    let peers = cargo_build(
        &bench.join("Cargo.toml"),
        &[
            "--bin",
            "tokio_http",
            "--bin",
            "may_http",
            "--bin",
            "uring_http",
            "--bin",
            "uring_ms_http",
            "--bin",
            "monoio_http",
            "--bin",
            "hyper_corio_http",
            "--bin",
            "hyper_tokio_http",
        ],
    );
    let pick = |built: &Result<BTreeMap<String, PathBuf>, String>, name: &str| match built {
        Ok(bins) => bins.get(name).cloned().ok_or_else(|| format!("cargo built no {name}")),
        Err(e) => Err(e.clone()),
    };
    [
        ("corio-coro", pick(&corio, "http_server")),
        ("corio-coro-byhand", pick(&corio, "http_server")),
        ("io-uring", pick(&peers, "uring_http")),
        ("io-uring-multishot", pick(&peers, "uring_ms_http")),
        ("tokio", pick(&peers, "tokio_http")),
        ("monoio", pick(&peers, "monoio_http")),
        ("may", pick(&peers, "may_http")),
        ("hyper-corio", pick(&peers, "hyper_corio_http")),
        ("hyper-tokio", pick(&peers, "hyper_tokio_http")),
    ]
    .into_iter()
    .map(|(imp, r)| (imp.to_owned(), r))
    .collect()
}

/// Builds with cargo (the one running us, if any) and returns the executables by target name,
/// from cargo's JSON messages (so wherever `CARGO_TARGET_DIR` points).
fn cargo_build(manifest: &Path, what: &[&str]) -> Result<BTreeMap<String, PathBuf>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("http: cargo build --release --manifest-path {} {}", manifest.display(), what.join(" "));
    let out = Command::new(cargo)
        .args(["build", "--release", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(manifest)
        .args(what)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build {} failed ({})", what.join(" "), out.status));
    }
    let mut bins = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str()) {
            bins.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    Ok(bins)
}

const WRK_HELP: &str = "wrk not found, and `apt-get install -y wrk` did not install it: install wrk \
                        (the Debian/Ubuntu package `wrk`) or put it on PATH";

/// wrk on PATH.
fn wrk() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("wrk")).find(|p| p.is_file())
}

/// Finds wrk or installs it with apt-get (after an `apt-get update` if the first try fails).
fn ensure_wrk() -> Result<PathBuf, String> {
    if let Some(wrk) = wrk() {
        return Ok(wrk);
    }
    eprintln!("http: wrk not found; trying `apt-get install -y wrk`");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !apt(&["install", "-y", "wrk"]) && apt(&["update"]) {
        apt(&["install", "-y", "wrk"]);
    }
    wrk().ok_or_else(|| WRK_HELP.to_owned())
}

/// Runs the process on `core` only (from exec on, so its threads inherit it).
fn pinned(cmd: &mut Command, core: usize) -> &mut Command {
    // SAFETY: the closure runs between fork and exec and only calls sched_setaffinity on a
    // stack-local set, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Ties a spawned process to this one: it gets SIGKILL if this process dies (the harness's
/// watchdog or a crash must not leave a server or wrk running).
fn tied(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec and only calls prctl, which is
    // async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Kept open so that the server never writes into a closed pipe.
    _stdout: io::BufReader<ChildStdout>,
}

impl Server {
    fn start(imp: &str, threads: usize, core: Option<usize>) -> io::Result<Server> {
        let built = match built_servers() {
            Some(servers) => servers,
            None => build(),
        };
        let bin = server_of(Some(&built), imp).map_err(io::Error::other)?;
        let mut cmd = Command::new(&bin);
        match imp {
            "corio-coro" => cmd.args(["--serve", "127.0.0.1:0", "--threads", &threads.to_string()]),
            "corio-coro-byhand" => cmd.args(["--serve", "127.0.0.1:0", "--threads", &threads.to_string(), "--by-hand"]),
            "io-uring" | "io-uring-multishot" | "tokio" | "monoio" | "may" | "hyper-corio" | "hyper-tokio" => {
                cmd.args(["127.0.0.1:0", &threads.to_string()])
            }
            _ => return Err(super::unknown(imp)),
        };
        if let Some(core) = core {
            pinned(&mut cmd, core);
        }
        let mut child = tied(&mut cmd).stdin(Stdio::null()).stdout(Stdio::piped()).spawn()?;
        let mut stdout = io::BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        // "<name>: serving on [http://]ADDR with …"
        let addr = line
            .split_once("serving on ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|a| a.trim_start_matches("http://").parse().ok());
        // Made before the address is checked, so that a failure kills the process (on drop).
        let mut server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), _stdout: stdout };
        server.addr = addr.ok_or_else(|| io::Error::other(format!("{} said {line:?}", bin.display())))?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CPU time the server has used so far (user + system, all threads), in seconds.
    fn cpu_s(&self) -> io::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // After "pid (comm) ", whose comm may hold spaces: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        let ticks = |field: usize| fields.get(field - 3).and_then(|v| v.parse::<u64>().ok());
        let (Some(user), Some(system)) = (ticks(14), ticks(15)) else {
            return Err(io::Error::other(format!("unexpected /proc/{}/stat: {stat:?}", self.pid())));
        };
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Ok((user + system) as f64 / hz.max(1) as f64)
    }

    fn status_kib(&self, field: &str) -> io::Result<u64> {
        util::status_kib(Some(self.pid()), field).ok_or_else(|| io::Error::other(format!("no {field} for the server")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `GET /` on `s` and checks the answer: a 200 whose body is [`BODY`].
fn get(s: &mut TcpStream) -> io::Result<()> {
    s.write_all(REQUEST)?;
    let mut got = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !got.ends_with(BODY) {
        let n = s.read(&mut chunk)?;
        if n == 0 || got.len() > 4096 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    if got.starts_with(b"HTTP/1.1 200 OK\r\n") && got.ends_with(BODY) {
        Ok(())
    } else {
        Err(io::Error::other(format!("unexpected answer to GET /: {:?}", String::from_utf8_lossy(&got))))
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

pub fn run(case: &Case, imp: &str, quick: bool) -> io::Result<Sample> {
    let variant = case.variant();
    let pin = variant.starts_with("pin-");
    let server = if pin { Server::start(imp, 1, Some(SERVER_CORE))? } else { Server::start(imp, THREADS, None)? };
    get(&mut connect(server.addr)?)?;
    match variant {
        "idle" => idle(&server),
        v => {
            let c = v.trim_start_matches("pin-").trim_start_matches('c').parse().map_err(io::Error::other)?;
            let sample = load(&server, c, duration_s(quick), pin.then_some(WRK_CORE))?;
            if !pin {
                return Ok(sample);
            }
            // The pinned cases' figure is the server's CPU per request; throughput goes along.
            let mut sample = sample;
            let k_req_s = sample.value;
            sample.value = sample.extra.remove("server_cpu_us").unwrap_or(f64::NAN);
            Ok(sample.with("k_req_s", k_req_s))
        }
    }
}

fn load(server: &Server, c: usize, secs: u64, core: Option<usize>) -> io::Result<Sample> {
    let wrk = wrk().ok_or_else(|| io::Error::other(WRK_HELP))?;
    let cpu_before = server.cpu_s()?;
    let mut cmd = Command::new(wrk);
    let threads = match core {
        Some(core) => {
            pinned(&mut cmd, core);
            1
        }
        None => WRK_THREADS,
    };
    let out = tied(cmd.args([
        &format!("-t{threads}"),
        &format!("-c{c}"),
        &format!("-d{secs}s"),
        "--latency",
        &format!("http://{}/", server.addr),
    ]))
    .stdin(Stdio::null())
    .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // wrk's output goes to the run's log, for reading the full distribution.
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(io::Error::other(format!("wrk failed ({})", out.status)));
    }
    let server_cpu = server.cpu_s()? - cpu_before;
    let r = parse_wrk(&text).ok_or_else(|| io::Error::other("could not read wrk's output"))?;
    let hwm = server.status_kib("VmHWM:")?;
    Ok(Sample::new(r.requests_per_s / 1e3)
        .with("p50_us", r.p50_us)
        .with("p99_us", r.p99_us)
        .with("errors", r.errors)
        .with("server_cpu_us", server_cpu * 1e6 / r.requests.max(1.0))
        .with("server_rss_mib", hwm as f64 / 1024.0))
}

fn idle(server: &Server) -> io::Result<Sample> {
    // Let the answered warm-up connection go before the baseline.
    std::thread::sleep(Duration::from_millis(200));
    let before = server.status_kib("VmRSS:")?;
    let start = Instant::now();
    let mut conns = Vec::with_capacity(IDLE);
    for k in 0..IDLE {
        let mut s = connect(server.addr).map_err(|e| io::Error::other(format!("connection {k}: {e}")))?;
        get(&mut s).map_err(|e| io::Error::other(format!("connection {k}: {e}")))?;
        conns.push(s);
    }
    let setup = start.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let (rss, hwm) = (server.status_kib("VmRSS:")?, server.status_kib("VmHWM:")?);
    Ok(Sample::new(rss as f64 / 1024.0)
        .with("rss_before_mib", before as f64 / 1024.0)
        .with("per_conn_kib", rss.saturating_sub(before) as f64 / IDLE as f64)
        .with("server_hwm_mib", hwm as f64 / 1024.0)
        .with("setup_s", setup.as_secs_f64()))
}

/// What one wrk run reports.
#[derive(Debug, PartialEq)]
struct WrkResult {
    requests_per_s: f64,
    /// Requests completed in the whole run.
    requests: f64,
    p50_us: f64,
    p99_us: f64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers.
    errors: f64,
}

/// Reads `Requests/sec:`, the `--latency` distribution and the error lines of wrk's output.
fn parse_wrk(text: &str) -> Option<WrkResult> {
    let mut r =
        WrkResult { requests_per_s: f64::NAN, requests: f64::NAN, p50_us: f64::NAN, p99_us: f64::NAN, errors: 0.0 };
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        match first {
            "Requests/sec:" => r.requests_per_s = words.next()?.parse().ok()?,
            "50%" => r.p50_us = wrk_time_us(words.next()?)?,
            "99%" => r.p99_us = wrk_time_us(words.next()?)?,
            // "Socket errors: connect 0, read 0, write 0, timeout 0"
            "Socket" => {
                let counts = line.split_once(':')?.1.split(',');
                for kv in counts {
                    r.errors += kv.split_whitespace().nth(1)?.parse::<f64>().ok()?;
                }
            }
            // "Non-2xx or 3xx responses: 12"
            "Non-2xx" => r.errors += line.rsplit(' ').next()?.parse::<f64>().ok()?,
            // (last: it consumes a word) "284854 requests in 3.00s, 34.77MB read"
            count if words.next() == Some("requests") => r.requests = count.parse().ok()?,
            _ => {}
        }
    }
    [r.requests_per_s, r.requests, r.p50_us, r.p99_us].iter().all(|v| v.is_finite()).then_some(r)
}

/// A wrk duration (`512.00us`, `1.23ms`, `2.00s`, `1.50m`) in microseconds.
fn wrk_time_us(s: &str) -> Option<f64> {
    let split = s.find(|ch: char| ch.is_ascii_alphabetic())?;
    let (value, unit) = s.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(value.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 3s test @ http://127.0.0.1:40001/
  2 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.51ms    3.02ms  48.10ms   80.01%
    Req/Sec    47.73k     3.41k   53.58k    71.67%
  Latency Distribution
     50%  812.00us
     75%   11.26ms
     90%   13.59ms
     99%    1.02s
  284854 requests in 3.00s, 34.77MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 3
Requests/sec:  94876.49
Transfer/sec:     11.58MB
";

    #[test]
    fn wrk_output_is_read() {
        let r = parse_wrk(OUTPUT).expect("parsed");
        assert_eq!(
            r,
            WrkResult { requests_per_s: 94876.49, requests: 284854.0, p50_us: 812.0, p99_us: 1.02e6, errors: 10.0 }
        );
    }

    #[test]
    fn wrk_output_without_errors_or_latency() {
        let clean: String =
            OUTPUT.lines().filter(|l| !l.contains("errors") && !l.contains("Non-2xx")).collect::<Vec<_>>().join("\n");
        assert_eq!(parse_wrk(&clean).map(|r| r.errors), Some(0.0));
        assert!(parse_wrk("Requests/sec: 1000").is_none(), "no --latency distribution");
        let no_count: String = OUTPUT.lines().filter(|l| !l.contains("requests in")).collect::<Vec<_>>().join("\n");
        assert!(parse_wrk(&no_count).is_none(), "no request count");
    }

    #[test]
    fn wrk_times_in_microseconds() {
        assert_eq!(wrk_time_us("512.00us"), Some(512.0));
        assert_eq!(wrk_time_us("1.50ms"), Some(1500.0));
        assert_eq!(wrk_time_us("2.00s"), Some(2e6));
        assert_eq!(wrk_time_us("1.00m"), Some(60e6));
        assert_eq!(wrk_time_us("7"), None);
    }
}
