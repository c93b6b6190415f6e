//! Stackful coroutine tasks and a scheduler on top of [`corio_aio`].
//!
//! Work in progress: the scheduler lands with the coroutine milestone.
