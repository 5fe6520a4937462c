//! The first poll of a bodiless request's handler, on the session thread
//! ([`Builder::inline_handlers`](crate::Builder::inline_handlers)).
//!
//! A handler that answers at once (most `GET`s of a well-behaved async
//! service) then costs no task and no hand-off between threads: its reply is
//! in the driver's command queue before the driver flushes. A handler that
//! is not done after one poll is spawned on the handlers' runtime as usual,
//! where it picks up its wakers on its first poll there.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Waker};

use tokio::runtime::Handle;

/// What one inline poll left to do.
pub(super) enum FirstPoll<F> {
    /// The handler finished (or panicked); its last command is queued.
    Done,
    /// Not finished: spawn it.
    Pending(Pin<Box<F>>),
}

/// Polls `task` once, inside the handlers' runtime, so that what it spawns
/// or times goes there, as if it had been spawned.
pub(super) fn poll_once<F: Future<Output = ()>>(runtime: &Handle, task: F) -> FirstPoll<F> {
    let mut slot = Some(Box::pin(task));
    let _inside = runtime.enter();
    let mut cx = Context::from_waker(Waker::noop());
    let ready = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let guard = DropOnUnwind(&mut slot);
        let task = guard.0.as_mut().expect("the task is polled once");
        task.as_mut().poll(&mut cx).is_ready()
    }));
    match (ready, slot) {
        (Ok(false), Some(task)) => FirstPoll::Pending(task),
        // A panic was printed by the hook, and the task, dropped while
        // unwinding, told the driver that its handler panicked (as a
        // spawned task's does when tokio catches it).
        _ => FirstPoll::Done,
    }
}

/// Drops the task while a panic unwinds, so that its responder sees it.
struct DropOnUnwind<'a, F>(&'a mut Option<Pin<Box<F>>>);

impl<F> Drop for DropOnUnwind<'_, F> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.take();
        }
    }
}
