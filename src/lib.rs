//! corio: fast, portable, completion-based IO.
//!
//! * [`aio`]: describe IO operations, link them into chains, submit a batch and collect completions
//!   (io_uring on Linux).
//! * `coro`: stackful coroutine tasks over `aio` (not on WASI: corio-coro needs stack
//!   switching, which wasm32-wasip1 does not have).

// docs.rs builds with `--cfg docsrs` on nightly: items that exist only on some targets
// (Unix, Linux, Windows, not WASI) get a badge saying where they are available.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use corio_aio as aio;
#[cfg(not(target_os = "wasi"))]
pub use corio_coro as coro;

// The README's code blocks are doctests of this crate, so they keep compiling and running.
#[cfg(all(doctest, not(target_os = "wasi")))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
