//! idle: the memory of 10,000 idle connections. A helper process (`--idle-server <impl> <n>`)
//! accepts `n` loopback connections and parks one task per connection in a read; this process
//! connects the clients, waits until the helper says every task is parked, and reports the
//! helper's peak RSS (its `VmHWM`), then kills it. Nothing is ever sent.

use std::io::{self, BufRead as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode, Stdio};

use super::{Case, echo, rt};
use crate::harness::Sample;
use crate::util;

const CONNECTIONS: usize = 10_000;

pub fn cases(_quick: bool) -> Vec<Case> {
    let case = Case::new("idle", None, format!("{CONNECTIONS} accepted connections, a task each parked in a read"))
        .metric("server peak RSS", "MiB", false);
    let case = if util::fd_limit() < (CONNECTIONS + 256) as u64 {
        case.absent("corio-coro", &format!("not run: RLIMIT_NOFILE below {}", CONNECTIONS + 256))
    } else {
        case.impls(&["corio-coro", "tokio"])
    };
    vec![case.note(
        "The server side runs in a helper process of its own (one thread); the figure is that process's \
         peak RSS (VmHWM) once every connection is accepted and its task parked (corio-coro: a 64 KiB-stack \
         task in `Read::read` of a 64-byte stack buffer; tokio: a spawned task in `read` of the same). \
         per_conn_kib = (peak RSS − RSS before the first accept) ÷ connections. The peak RSS column is \
         the measuring (client) process's.",
    )]
}

pub fn run(_case: &Case, imp: &str, _quick: bool) -> io::Result<Sample> {
    let n = CONNECTIONS;
    let mut helper = Command::new(std::env::current_exe()?)
        .args(["--idle-server", imp, &n.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = helper.id();
    let outcome = (|| {
        let mut lines = io::BufReader::new(helper.stdout.take().expect("piped")).lines();
        let mut line = || lines.next().unwrap_or_else(|| Err(io::Error::other("the idle server ended early")));
        let first = line()?;
        let port = first.strip_prefix("PORT ").and_then(|p| p.parse::<u16>().ok());
        let addr = SocketAddr::from(([127, 0, 0, 1], port.ok_or_else(|| io::Error::other(first.clone()))?));
        let clients = (0..n).map(|_| TcpStream::connect(addr)).collect::<io::Result<Vec<_>>>()?;
        let ready = line()?;
        let before: u64 =
            ready.strip_prefix("READY ").and_then(|b| b.parse().ok()).ok_or_else(|| io::Error::other(ready.clone()))?;
        let hwm = util::vm_hwm_kib(Some(pid)).ok_or_else(|| io::Error::other("no VmHWM for the idle server"))?;
        drop(clients);
        Ok(Sample::new(hwm as f64 / 1024.0).with("per_conn_kib", hwm.saturating_sub(before) as f64 / n as f64))
    })();
    let _ = helper.kill();
    util::wait4(pid)?;
    outcome
}

/// The `--idle-server <impl> <n>` helper process.
pub fn server_main(imp: &str, n: &str) -> ExitCode {
    // SAFETY: plain prctl; the helper must not outlive the benchmark run that started it.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    util::raise_fd_limit();
    let Ok(n) = n.parse() else {
        eprintln!("--idle-server: bad count");
        return ExitCode::from(2);
    };
    let outcome = match imp {
        "corio-coro" => super::coro::idle_server(n),
        "tokio" => tokio(n),
        _ => Err(super::unknown(imp)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idle server {imp}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tokio(n: usize) -> io::Result<()> {
    use tokio::io::AsyncReadExt;
    rt::tokio().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        echo::announce(listener.local_addr()?)?;
        let before = util::vm_rss_kib().unwrap_or(0);
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let (mut s, _) = listener.accept().await?;
            tasks.push(tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf).await;
            }));
        }
        // Let every task reach its read.
        tokio::task::yield_now().await;
        super::coro::ready(before)?;
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    })
}
