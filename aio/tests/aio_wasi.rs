//! aio on every target, written for WASI (wasm32-wasip1 under wasmtime: `cargo test -p corio-aio
//! --target wasm32-wasip1 --test aio_wasi`, runner `.ci/wasmtime-run`): only what wasip1 offers, so no
//! pipes, sockets, processes or threads. Nop, timeouts, the six link-timeout cases, cancel,
//! the file ops in a scratch directory under `target/` (the runner preopens the package root
//! as `.`), poll, and event sources. The same tests run natively on the default backend, and
//! under wine on the IOCP backend (Windows). On WASI only: every socket op fails with
//! `Unsupported`.
//!
//! wasm32-wasip1 tests are panic=abort: the first failure ends the binary.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio_aio::op::{
    Advice, Cancel, Close, Events, Fadvise, Fallocate, FileStat, Fsync, Ftruncate, LinkAt, LinkTimeout, MkdirAt, Nop,
    Notify, OpExt, OpenAt, Poll, Read, Readv, RenameAt, Statx, SymlinkAt, Timeout, UnlinkAt, Wait, Write, Writev,
};
use corio_aio::{self as aio, Condition, Dynamic, EventSource, Mode};

const SHORT: Duration = Duration::from_millis(50);
const MEDIUM: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_millis(200);

fn expect_condition<T: std::fmt::Debug>(result: std::io::Result<T>, condition: Condition) {
    let err = result.expect_err("the op must fail");
    assert_eq!(aio::condition(&err), Some(condition), "{err:?}");
}

/// A fresh directory under `target/wasi-scratch` (relative: the package root, `aio/`, is the
/// current directory, preopened under WASI; `aio/target` is git-ignored), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = Path::new("target").join("wasi-scratch").join(format!("{name}-{nanos:x}-{n}"));
        std::fs::create_dir_all(&path).expect("create the scratch directory");
        Scratch(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_default_backend_is_posix_on_wasi() {
    let ring = Dynamic::new(4).unwrap();
    if cfg!(target_os = "wasi") {
        assert_eq!(ring.backend(), aio::BackendKind::Posix);
        assert!(ring.describe().contains("poll_oneoff"), "{}", ring.describe());
    }
}

#[test]
fn nops_complete() {
    aio::single(Nop::new()).unwrap();
    let (a, b, c) = aio::multi((Nop::new().soft(), Nop::new().hard(), Nop::new())).unwrap();
    assert_eq!((a, b, c), ((), (), ()));
}

#[test]
fn timeouts_wait_at_least_their_duration() {
    let start = Instant::now();
    aio::single(Timeout::new(SHORT)).unwrap();
    assert!(start.elapsed() >= SHORT, "{:?}", start.elapsed());
    // Two timers in one batch overlap.
    let start = Instant::now();
    aio::multi((Timeout::new(MEDIUM), Timeout::new(SHORT))).unwrap();
    assert!(start.elapsed() >= MEDIUM, "{:?}", start.elapsed());
}

#[test]
fn link_timeouts_in_the_six_cases() {
    // (a) timeout LONG (soft) + link timeout MEDIUM: the timeout is canceled, the limit expired.
    let start = Instant::now();
    let (op, limit) = aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM))).unwrap();
    expect_condition(op, Condition::Canceled);
    let limit = limit.unwrap_err();
    assert!(aio::is_expired(&limit) && limit.kind() == ErrorKind::TimedOut, "{limit:?}");
    assert!(start.elapsed() >= MEDIUM, "{:?}", start.elapsed());

    // (b) timeout LONG (soft) + link timeout MEDIUM (soft) + timeout MEDIUM: three errors.
    let (op, limit, next) =
        aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM).soft(), Timeout::new(MEDIUM))).unwrap();
    expect_condition(op, Condition::Canceled);
    expect_condition(limit, Condition::Expired);
    expect_condition(next, Condition::Canceled);

    // (c) timeout MEDIUM (soft) + link timeout LONG: no error.
    let start = Instant::now();
    let (op, limit) = aio::complete((Timeout::new(MEDIUM).soft(), LinkTimeout::new(LONG))).unwrap();
    op.unwrap();
    limit.unwrap();
    assert!(start.elapsed() >= MEDIUM, "{:?}", start.elapsed());

    // (d) timeout MEDIUM (soft) + link timeout LONG (soft) + timeout MEDIUM: no error, and the
    // last timeout starts after the first finished.
    let start = Instant::now();
    let (op, limit, next) =
        aio::complete((Timeout::new(MEDIUM).soft(), LinkTimeout::new(LONG).soft(), Timeout::new(MEDIUM))).unwrap();
    op.unwrap();
    limit.unwrap();
    next.unwrap();
    assert!(start.elapsed() >= 2 * MEDIUM, "{:?}", start.elapsed());

    // (e) timeout LONG (soft) + link timeout MEDIUM (hard) + timeout MEDIUM: three errors.
    let (op, limit, next) =
        aio::complete((Timeout::new(LONG).soft(), LinkTimeout::new(MEDIUM).hard(), Timeout::new(MEDIUM))).unwrap();
    expect_condition(op, Condition::Canceled);
    expect_condition(limit, Condition::Expired);
    expect_condition(next, Condition::Canceled);

    // (f) timeout MEDIUM (hard) + link timeout LONG (soft) + timeout MEDIUM: no error.
    let (op, limit, next) =
        aio::complete((Timeout::new(MEDIUM).hard(), LinkTimeout::new(LONG).soft(), Timeout::new(MEDIUM))).unwrap();
    op.unwrap();
    limit.unwrap();
    next.unwrap();
}

#[test]
fn cancel_finds_pending_ops_and_not_finished_ones() {
    let start = Instant::now();
    let mut ring = Dynamic::new(8).unwrap();
    let timer = ring.queue(Timeout::new(Duration::from_secs(5)).user_data(1)).unwrap();
    assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("nothing is done yet: {c:?}")).unwrap().completed, 0);
    ring.queue(Cancel::new(timer).user_data(2)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.user_data, c.result))).unwrap();
    results.sort_by_key(|r| r.0);
    let [(1, timer_result), (2, cancel_result)] = <[_; 2]>::try_from(results).unwrap() else { panic!() };
    expect_condition(timer_result, Condition::Canceled);
    cancel_result.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "the timer was not waited for");

    // The timer is gone: canceling it again finds nothing.
    ring.queue(Cancel::new(timer)).unwrap();
    let mut result = None;
    ring.complete_all(|c| result = Some(c.result)).unwrap();
    let err = result.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[test]
#[cfg_attr(
    windows,
    ignore = "the link's target `sub/moved` has a `/`, which Windows (wine) does not resolve in a symlink"
)]
fn file_ops_in_a_preopened_directory() {
    let dir = Scratch::new("files");
    let path = dir.join("data");
    let file = aio::single(OpenAt::new(&path).read(true).write(true).create_new(true)).unwrap();
    assert_eq!(aio::single(Write::new(&file, b"hello ").offset(0)).unwrap(), 6);
    let parts = [IoSlice::new(b"wasi "), IoSlice::new(b"world")];
    assert_eq!(aio::single(Writev::new(&file, &parts).offset(6)).unwrap(), 10);
    aio::single(Fsync::new(&file)).unwrap();
    aio::single(Fsync::new(&file).data_only()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"hello wasi world");

    let mut buf = [0u8; 5];
    assert_eq!(aio::single(Read::new(&file, &mut buf).offset(6)).unwrap(), 5);
    assert_eq!(&buf, b"wasi ");
    let (mut a, mut b) = ([0u8; 6], [0u8; 16]);
    let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    assert_eq!(aio::single(Readv::new(&file, &mut bufs).offset(0)).unwrap(), 16);
    assert_eq!((&a, &b[..10]), (b"hello ", &b"wasi world"[..]));
    let (mut by_path, mut by_file) = (FileStat::default(), FileStat::default());
    aio::multi((Statx::new(&path, &mut by_path), Statx::file(&file, &mut by_file))).unwrap();
    assert!(by_path.is_file() && by_path.len() == 16 && by_file.len() == 16, "{by_path:?} {by_file:?}");
    aio::single(Close::new(file)).unwrap();

    // A soft chain: create a directory, move the file into it, link to it, remove both.
    let sub = dir.join("sub");
    let moved = dir.join("sub/moved");
    let link = dir.join("link");
    aio::multi((MkdirAt::new(&sub).soft(), RenameAt::new(&path, &moved).soft(), SymlinkAt::new("sub/moved", &link)))
        .unwrap();
    assert!(!path.exists());
    assert_eq!(std::fs::read(&link).unwrap(), b"hello wasi world", "the link resolves");
    // Without `.replace()`, a rename onto an existing path fails.
    std::fs::write(&path, b"x").unwrap();
    let err = aio::single(RenameAt::new(&path, &moved)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
    aio::single(RenameAt::new(&path, &moved).replace()).unwrap();
    assert_eq!(std::fs::read(&moved).unwrap(), b"x");
    aio::multi((UnlinkAt::new(&link).soft(), UnlinkAt::new(&moved).soft(), UnlinkAt::new(&sub).directory())).unwrap();
    assert!(!sub.exists() && std::fs::symlink_metadata(&link).is_err());

    // Errors come back as the OS's.
    let err = aio::single(OpenAt::new(&dir.join("missing"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    let err = aio::single(MkdirAt::new(&dir.0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
    let err = aio::single(Statx::new(&dir.join("missing"), &mut FileStat::default())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[test]
fn registered_files_by_slot() {
    use corio_aio::op::Fixed;
    let dir = Scratch::new("fixed");
    let path = dir.join("data");
    let mut ring = Dynamic::new(4).unwrap();
    ring.register_files(2).unwrap();
    let open = OpenAt::new(&path).read(true).write(true).create_new(true).direct(None);
    let slot = ring.run(open, |_| {}).unwrap().unwrap();
    assert_eq!(ring.run(Write::new(&slot, b"slot").offset(0), |_| {}).unwrap().unwrap(), 4);
    ring.run(Fsync::new(&slot), |_| {}).unwrap().unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(ring.run(Read::new(&slot, &mut buf).offset(0), |_| {}).unwrap().unwrap(), 4);
    assert_eq!(&buf, b"slot");
    // A file handed to the table, by its slot; a closed slot fails cleanly.
    let other = if slot == Fixed(0) { Fixed(1) } else { Fixed(0) };
    ring.install_file(other, std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(ring.run(Read::new(&other, &mut buf).offset(0), |_| {}).unwrap().unwrap(), 4);
    ring.run(Close::fixed(slot), |_| {}).unwrap().unwrap();
    let err = ring.run(Read::new(&slot, &mut buf).offset(0), |_| {}).unwrap().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EBADF), "{err:?}");
    // A full table: any slot fails with ENFILE, what was opened is closed.
    ring.run(OpenAt::new(&path).direct(Some(slot)), |_| {}).unwrap().unwrap();
    let err = ring.run(OpenAt::new(&path).direct(None), |_| {}).unwrap().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(ENFILE), "{err:?}");
}

/// What an op on an empty slot and a direct open into a full table fail with: libc's values
/// (WASI's differ from Linux's); on Windows `ERROR_INVALID_HANDLE` and
/// `ERROR_TOO_MANY_OPEN_FILES`.
#[cfg(not(windows))]
const EBADF: i32 = libc::EBADF;
#[cfg(not(windows))]
const ENFILE: i32 = libc::ENFILE;
#[cfg(windows)]
const EBADF: i32 = 6;
#[cfg(windows)]
const ENFILE: i32 = 4;

#[test]
fn sizes_advice_and_hard_links() {
    let dir = Scratch::new("sizes");
    let path = dir.join("f");
    std::fs::write(&path, b"0123456789").unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    aio::single(Ftruncate::new(&file, 4)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"0123");
    // Windows has no advice call: refused when queued (aio_windows checks the same).
    let advised = aio::single(Fadvise::new(&file, 0, 0, Advice::Sequential));
    if cfg!(windows) {
        assert_eq!(advised.unwrap_err().kind(), ErrorKind::Unsupported);
    } else {
        advised.unwrap();
    }
    aio::single(LinkAt::new(&path, &dir.join("g"))).unwrap();
    assert_eq!(std::fs::read(dir.join("g")).unwrap(), b"0123");
    let err = aio::single(LinkAt::new(&path, &dir.join("g"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
    let read_only = std::fs::File::open(&path).unwrap();
    assert!(aio::single(Ftruncate::new(&read_only, 0)).is_err());
    // WASI preview 1 has `fd_allocate`, but libc does not expose it: refused when queued.
    let allocated = aio::single(Fallocate::new(&file, 0, 4096));
    if cfg!(target_os = "wasi") {
        assert_eq!(allocated.unwrap_err().kind(), ErrorKind::Unsupported);
    } else {
        allocated.unwrap();
        assert_eq!(file.metadata().unwrap().len(), 4096);
    }
}

#[test]
fn poll_reports_a_regular_file_ready() {
    let dir = Scratch::new("poll");
    let file = aio::single(OpenAt::new(&dir.join("f")).write(true).read(true).create(true)).unwrap();
    let events = aio::single(Poll::new(&file, Events::IN | Events::OUT)).unwrap();
    assert!(events.contains(Events::IN) || events.contains(Events::OUT), "{events:?}");
}

#[test]
fn event_source_counts_units() {
    let source = EventSource::new().unwrap();
    assert!(!source.try_wait().unwrap(), "a new source has no unit");
    source.notify().unwrap();
    source.notify().unwrap();
    source.wait().unwrap();
    assert!(source.try_wait().unwrap());
    assert!(!source.try_wait().unwrap(), "both units were taken");
    // Units added after the source was drained (on WASI: the file was emptied) still count.
    source.notify().unwrap();
    assert!(source.try_wait().unwrap());
    if cfg!(target_os = "wasi") {
        let err = source.wait().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "no thread could ever add a unit: {err:?}");
    }
}

#[test]
fn event_source_ops_notify_and_wait() {
    // Leaked: a `Dynamic::new` ring takes `'static` borrows.
    let source: &'static EventSource = Box::leak(Box::new(EventSource::new().unwrap()));
    // A wait queued before its notify, in one batch.
    aio::multi((Wait::new(source), Notify::new(source))).unwrap();
    assert!(!source.try_wait().unwrap());

    // A wait parked across submissions, ended by a notify between them.
    let mut ring = Dynamic::new(4).unwrap();
    ring.queue(Wait::new(source).user_data(7)).unwrap();
    assert_eq!(ring.complete(Mode::Nonblocking, |c| panic!("no unit yet: {c:?}")).unwrap().completed, 0);
    source.notify().unwrap();
    let mut seen = None;
    ring.complete(Mode::Blocking, |c| seen = Some((c.user_data, c.result.map(drop)))).unwrap();
    let (user_data, result) = seen.expect("the wait completed");
    assert_eq!(user_data, 7);
    result.unwrap();

    // A wait that gets no unit: its link timeout ends it, and a cancel stops another.
    let (wait, limit) = aio::complete((Wait::new(source).soft(), LinkTimeout::new(SHORT))).unwrap();
    expect_condition(wait, Condition::Canceled);
    expect_condition(limit, Condition::Expired);
    let id = ring.queue(Wait::new(source)).unwrap();
    ring.queue(Cancel::new(id)).unwrap();
    let mut results = Vec::new();
    ring.complete_all(|c| results.push((c.op, c.result.map(drop)))).unwrap();
    results.sort_by_key(|r| r.0);
    let [(_, cancel), (_, wait)] = <[_; 2]>::try_from(results).unwrap();
    cancel.unwrap();
    expect_condition(wait, Condition::Canceled);
}

/// WASI preview 1 cannot create or connect sockets: every socket op exists (same names and
/// constructors as elsewhere) and refuses to queue with `Unsupported`, never panics. Natively
/// these ops work and are tested in `aio_ops_net`.
#[cfg(target_os = "wasi")]
mod sockets {
    use std::fmt::Debug;
    use std::io::{ErrorKind, IoSlice, IoSliceMut};
    use std::net::{Ipv4Addr, Shutdown as How, SocketAddr};

    use corio_aio::net_types::{Domain, Protocol, SockAddr, Type};
    use corio_aio::op::{
        Accept, Bind, Connect, IntoEntry, Listen, Nop, OpExt, Recv, RecvMsg, Send, SendMsg, Shutdown, Socket,
    };
    use corio_aio::{self as aio, Dynamic};

    use super::Scratch;

    const ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

    fn expect_unsupported<T: Debug>(what: &str, result: std::io::Result<T>) {
        match result {
            Ok(value) => panic!("{what}: succeeded on wasip1 ({value:?})"),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::Unsupported, "{what}: {err:?}");
                assert!(err.to_string().contains("wasm32-wasip1"), "{what}: unclear message: {err}");
            }
        }
    }

    /// Queues `op` after a nop in one batch: the batch is refused whole (the nop never runs),
    /// and the ring still runs a nop afterwards.
    fn refused_in_a_batch<'env>(ring: &mut Dynamic<'env>, what: &str, op: impl IntoEntry + 'env) {
        expect_unsupported(what, ring.queue((Nop::new().user_data(1), op)));
        assert_eq!(ring.in_flight(), 0, "{what}: part of a refused batch stayed queued");
        ring.queue(Nop::new().user_data(2)).unwrap_or_else(|e| panic!("{what}: a nop after the refusal: {e:?}"));
        let mut seen = Vec::new();
        ring.complete_all(|c| seen.push((c.user_data, c.result.map(drop))))
            .unwrap_or_else(|e| panic!("{what}: completing the nop: {e:?}"));
        assert!(matches!(seen.as_slice(), [(2, Ok(()))]), "{what}: only the later nop completes: {seen:?}");
    }

    #[test]
    fn socket_ops_are_unsupported() {
        let dir = Scratch::new("sockets");
        // A file stands in for a socket: the ops must refuse before touching it.
        let file = std::fs::File::create(dir.join("not-a-socket")).unwrap();
        let mut buf = [0u8; 4];
        let mut a = [0u8; 4];
        let mut bufs = [IoSliceMut::new(&mut a)];
        let parts = [IoSlice::new(b"data")];
        let tcp = Socket::new(Domain::for_address(ADDR), Type::STREAM).protocol(Protocol::TCP);

        expect_unsupported("socket", aio::single(tcp));
        expect_unsupported("socket (udp, ipv6)", aio::single(Socket::new(Domain::IPV6, Type::DGRAM)));
        expect_unsupported("accept", aio::single(Accept::new(&file)));
        expect_unsupported("connect", aio::single(Connect::new(&file, ADDR)));
        expect_unsupported("bind", aio::single(Bind::new(&file, SockAddr::from(ADDR))));
        expect_unsupported("listen", aio::single(Listen::new(&file, 16)));
        expect_unsupported("recv", aio::single(Recv::new(&file, &mut buf).peek().wait_all()));
        expect_unsupported("recv (empty buffer)", aio::single(Recv::new(&file, &mut [])));
        expect_unsupported("send", aio::single(Send::new(&file, b"data")));
        expect_unsupported("send_zc", aio::single(corio_aio::op::SendZc::new(&file, b"data")));
        let mut ring = corio_aio::Dynamic::new(2).unwrap();
        ring.register_buffers(1, 64).unwrap();
        let fixed = corio_aio::op::SendZcFixed::new(&file, ring.buffer().unwrap(), 4);
        expect_unsupported("send_zc_fixed", ring.run(fixed, drop).and_then(|sent| sent));
        expect_unsupported("recvmsg", aio::single(RecvMsg::new(&file, &mut bufs)));
        expect_unsupported("sendmsg", aio::single(SendMsg::new(&file, &parts).to(ADDR)));
        expect_unsupported("shutdown", aio::single(Shutdown::new(&file, How::Both)));
        // A batch run through the immediate API is refused whole too.
        expect_unsupported("complete((nop, socket))", aio::complete((Nop::new(), tcp)));
        let (mut b, mut c) = ([0u8; 4], [0u8; 4]);
        let mut more_bufs = [IoSliceMut::new(&mut c)];
        std::io::Write::write_all(&mut &file, b"file").unwrap();
        assert_eq!(std::fs::read(dir.join("not-a-socket")).unwrap(), b"file", "the file is untouched");

        aio::scope(8, |ring| {
            refused_in_a_batch(ring, "socket", tcp.user_data(3));
            refused_in_a_batch(ring, "accept", Accept::new(&file));
            refused_in_a_batch(ring, "connect", Connect::new(&file, ADDR).soft());
            refused_in_a_batch(ring, "bind", Bind::new(&file, ADDR));
            refused_in_a_batch(ring, "listen", Listen::new(&file, 16).hard());
            refused_in_a_batch(ring, "recv", Recv::new(&file, &mut b));
            refused_in_a_batch(ring, "send", Send::new(&file, b"data").more());
            refused_in_a_batch(ring, "recvmsg", RecvMsg::new(&file, &mut more_bufs));
            refused_in_a_batch(ring, "sendmsg", SendMsg::new(&file, &parts));
            refused_in_a_batch(ring, "shutdown", Shutdown::new(&file, How::Write));
        })
        .unwrap();
    }
}
