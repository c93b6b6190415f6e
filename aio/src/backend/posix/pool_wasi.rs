//! The worker pool on WASI: wasm32-wasip1 has no threads, so every job runs inline, on the
//! loop thread, when it is submitted (the op blocks the loop meanwhile). Nothing is ever
//! queued, so nothing can be canceled, and no completion is posted later.

use std::sync::Arc;

use super::blocking::perform_blocking;
use super::poller::Poller;

/// An op handed to the pool.
pub(super) struct Job {
    pub(super) slot: u32,
    pub(super) op: crate::op::RawOp,
    pub(super) state: *mut crate::raw::OpState,
}

/// The inline "pool".
pub(super) struct Pool;

impl Pool {
    pub(super) fn new(_poller: Arc<Poller>, _capacity: usize) -> Pool {
        Pool
    }

    /// Never: every job completed in [`Pool::submit`].
    pub(super) fn busy(&self) -> bool {
        false
    }

    /// Runs the job right here; always `Some(res)`.
    pub(super) fn submit(&mut self, job: Job) -> Option<i32> {
        let _ = job.slot;
        // SAFETY: the job's memory is valid until its completion is reported (backend
        // contract), which happens after this returns; nothing else touches it meanwhile.
        Some(unsafe { perform_blocking(&job.op, job.state) })
    }

    /// Nothing is ever queued.
    pub(super) fn cancel(&mut self, _slot: u32) -> bool {
        false
    }

    /// Nothing is ever posted.
    pub(super) fn collect(&mut self, _out: &mut Vec<(u32, i32)>) {}
}
