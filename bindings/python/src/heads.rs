//! Response heads the loop's tasks start in one pass of the loop, handed to
//! the session together.
//!
//! Each head handed over wakes the request's task on the session thread.
//! Handed over one by one, as each app answers, a parked session thread is
//! woken once per request: it sends that one response and parks again
//! before the next app is done. Held until the pass ends (the batch is
//! flushed by a callback the loop runs next), the heads of every request
//! the pass answered wake the session thread once, and leave in one write
//! to the router. A head waits at most for the rest of the pass it was
//! started in.

use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;

use crate::exchange::PendingHead;

/// `zroute._zroute.HeadBatch()`: one per loop. Calling it flushes it.
#[pyclass(frozen, module = "zroute._zroute")]
#[derive(Default)]
pub(crate) struct HeadBatch {
    pending: Mutex<Vec<PendingHead>>,
}

#[pymethods]
impl HeadBatch {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Hands every held head over. A stream reset meanwhile has already
    /// told its app; its head is dropped.
    fn __call__(&self) {
        let pending = std::mem::take(&mut *self.lock());
        for head in pending {
            let _ = head.send();
        }
    }
}

impl HeadBatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PendingHead>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `head`; true if the batch was empty, and so needs a flush
    /// scheduled.
    pub(crate) fn hold(&self, head: PendingHead) -> bool {
        let mut pending = self.lock();
        pending.push(head);
        pending.len() == 1
    }
}
