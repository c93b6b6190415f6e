//! corio: fast, portable, completion-based IO.
//!
//! * [`aio`]: describe IO operations, link them into chains, submit a batch and collect completions
//!   (io_uring on Linux).
//! * [`coro`]: stackful coroutine tasks over `aio`.

pub use corio_aio as aio;
pub use corio_coro as coro;
