//! Which connections woke the socket, without scanning them all.
//!
//! Every connection (and listener) registers its own waker with tokio's
//! reactor. Waking it records the connection's slot in a shared list and
//! then wakes the task that owns the socket, so that task visits only the
//! connections that have something to do: the cost of a wakeup does not
//! grow with the number of peers (what `FuturesUnordered` does for futures).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Wake, Waker};

/// The slots woken since the owner last looked, and the owner's waker.
#[derive(Debug, Default)]
pub(crate) struct ReadySet {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    woken: Vec<usize>,
    owner: Option<Waker>,
}

impl ReadySet {
    /// Remembers the owning task's waker, to be woken with the next slot.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        let mut inner = self.lock();
        match &inner.owner {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.owner = Some(cx.waker().clone()),
        }
    }

    /// Moves the woken slots into `into`, oldest first.
    pub(crate) fn drain_into(&self, into: &mut Vec<usize>) {
        let mut inner = self.lock();
        into.append(&mut inner.woken);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing runs user code under the lock: a poisoned one is still sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The waker one connection registers with the reactor.
#[derive(Debug)]
pub(crate) struct SlotWaker {
    slot: usize,
    // Set while the slot is in the woken list, so a burst of wakes lists it once.
    listed: AtomicBool,
    set: Arc<ReadySet>,
}

impl SlotWaker {
    pub(crate) fn new(slot: usize, set: Arc<ReadySet>) -> Arc<Self> {
        Arc::new(Self {
            slot,
            listed: AtomicBool::new(false),
            set,
        })
    }

    /// Called by the owner as it visits the slot, before it polls the
    /// connection again: a wake from then on lists the slot again.
    pub(crate) fn visited(&self) {
        self.listed.store(false, Ordering::Release);
    }

    /// Lists the slot as if the reactor had woken it: work is known to be left.
    pub(crate) fn relist(self: &Arc<Self>) {
        self.wake_by_ref();
    }
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.listed.swap(true, Ordering::AcqRel) {
            return;
        }
        let owner = {
            let mut inner = self.set.lock();
            inner.woken.push(self.slot);
            inner.owner.take()
        };
        if let Some(owner) = owner {
            owner.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_wakes_lists_a_slot_once_until_it_is_visited() {
        let set = Arc::new(ReadySet::default());
        let a = Waker::from(SlotWaker::new(3, set.clone()));
        let b = SlotWaker::new(5, set.clone());
        a.wake_by_ref();
        a.wake_by_ref();
        Waker::from(b.clone()).wake();
        let mut woken = Vec::new();
        set.drain_into(&mut woken);
        assert_eq!(woken, [3, 5]);
        b.visited();
        b.relist();
        woken.clear();
        set.drain_into(&mut woken);
        assert_eq!(woken, [5]);
    }

    #[test]
    fn the_owner_is_woken_once_per_registration() {
        let set = Arc::new(ReadySet::default());
        let owner = Arc::new(Counter::default());
        let waker = Waker::from(owner.clone());
        set.register(&Context::from_waker(&waker));
        let slot = SlotWaker::new(0, set.clone());
        Waker::from(slot.clone()).wake();
        assert_eq!(owner.0.load(Ordering::SeqCst), 1);
        slot.visited();
        Waker::from(slot).wake();
        assert_eq!(
            owner.0.load(Ordering::SeqCst),
            1,
            "not registered again yet"
        );
    }

    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
