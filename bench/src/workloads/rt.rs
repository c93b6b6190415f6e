//! Building each peer runtime the same way in every workload: one thread each.

use std::future::Future;

/// tokio's current-thread runtime with IO and timers.
pub fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// compio's runtime (io_uring driver).
pub fn compio() -> compio::runtime::Runtime {
    compio::runtime::Runtime::new().expect("compio runtime")
}

/// Runs `f` on monoio with its io_uring driver, or its legacy (epoll) driver.
pub fn monoio<F: Future>(legacy: bool, f: impl FnOnce() -> F) -> F::Output {
    if legacy {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("monoio legacy runtime")
            .block_on(f())
    } else {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(4096)
            .enable_timer()
            .build()
            .expect("monoio io_uring runtime")
            .block_on(f())
    }
}

/// may with one worker thread.
pub fn may() {
    may::config().set_workers(1);
}
