//! Completing until an op ends: the loops the multishot tests share (an op's final
//! completion, the bytes a multishot read or receive delivered), and a time limit for a case
//! that could wait for good.

use std::io;
use std::time::Duration;

use corio_aio::op::Op;
use corio_aio::{Completion, Dynamic, Id, Mode, ProvidedBuf};

/// Completes until nothing is in flight; returns the final completion (the one without
/// `more`) of op `id`. Other ops' completions (a cancel's, say) are passed over.
pub fn final_completion(ring: &mut Dynamic<'_>, id: Id) -> Completion {
    let mut last = None;
    while ring.in_flight() > 0 {
        ring.complete(Mode::Blocking, |c| {
            if c.id == id && !c.more {
                last = Some(c);
            }
        })
        .unwrap();
    }
    last.expect("the op reported its end")
}

/// [`final_completion`]'s result as op `O`'s output.
pub fn final_result<O: Op>(ring: &mut Dynamic<'_>, id: Id) -> io::Result<O::Output> {
    final_completion(ring, id).output::<O>()
}

/// Completes until the multishot op `id` of type `O` (a read or receive into provided
/// buffers) ended: the bytes it delivered and its final result. Every completion must be
/// that op's.
pub fn all_of<O: Op<Output = ProvidedBuf>>(ring: &mut Dynamic<'_>, id: Id) -> (Vec<u8>, io::Result<ProvidedBuf>) {
    let (mut data, mut last) = (Vec::new(), None);
    while last.is_none() {
        ring.complete(Mode::Blocking, |c| {
            assert_eq!(c.id, id);
            if c.more {
                data.extend_from_slice(&c.output::<O>().expect("data"));
            } else {
                last = Some(c.output::<O>());
            }
        })
        .unwrap();
    }
    (data, last.unwrap())
}

/// Completes until a multishot op of type `O`, reported as `name`, delivered `want` bytes;
/// keeps every buffer (the caller drops them) and checks that each completion is a
/// non-empty one saying more will follow.
pub fn arrivals<O: Op<Output = ProvidedBuf>>(ring: &mut Dynamic<'_>, want: usize, name: &str) -> Vec<ProvidedBuf> {
    let mut bufs = Vec::new();
    let mut got = 0;
    while got < want {
        ring.complete(Mode::Blocking, |c| {
            assert!(c.more, "the {name} ended early: {:?}", c.result);
            assert_eq!(c.op, name);
            let buf = c.output::<O>().expect("data");
            assert!(!buf.is_empty(), "an empty arrival with more to come");
            got += buf.len();
            bufs.push(buf);
        })
        .unwrap();
    }
    bufs
}

/// The bytes of `bufs`, in order.
pub fn bytes(bufs: &[ProvidedBuf]) -> Vec<u8> {
    bufs.iter().flat_map(|b| b.iter().copied()).collect()
}

/// Runs `case` on another thread; fails if it does not finish within ten seconds (an op
/// that waits for good fails its test instead of hanging the suite).
pub fn within_limit(what: &str, case: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let case = std::thread::spawn(move || {
        case();
        done.send(()).unwrap();
    });
    match finished.recv_timeout(Duration::from_secs(10)) {
        Ok(()) => case.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(case.join().unwrap_err()),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what}: hung"),
    }
}
