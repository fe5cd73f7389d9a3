//! Values handed back to the thread that made them, to be dropped there.
//!
//! A transaction is made by a worker thread and, seconds later, ends on the timer thread.
//! Dropped there, every allocation of the cell (the request, its parsed index, the saved
//! route context, the branches ...) would be a cross-thread free: the allocator hands each
//! block back to the worker's heap through an atomic list, and the worker's next
//! allocations pull those lists, and the blocks' cache lines, back from the other core.
//! So the timer thread only *buries* a finished cell in the graveyard of the worker that
//! made it, and that worker drops it after its next event, into its own heap.
//!
//! A worker that gets no more events would keep its dead forever: whoever sweeps (the
//! timer thread) drops what waited longer than it should, where it is.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Values waiting to be dropped by the thread that owns this graveyard.
#[derive(Debug)]
pub struct Graveyard<T> {
    buried: Mutex<Buried<T>>,
    /// Set while something is buried: the owner's check after every event is one load.
    pending: AtomicBool,
}

#[derive(Debug)]
struct Buried<T> {
    items: Vec<T>,
    /// When the oldest of `items` was buried.
    since: Option<Instant>,
}

impl<T> Default for Graveyard<T> {
    fn default() -> Self {
        Graveyard {
            buried: Mutex::new(Buried {
                items: Vec::new(),
                since: None,
            }),
            pending: AtomicBool::new(false),
        }
    }
}

impl<T> Graveyard<T> {
    /// Leave `item` for the owner to drop. `now` is read only when the graveyard was empty.
    pub fn bury(&self, item: T, now: impl FnOnce() -> Instant) {
        let mut b = self.buried.lock().expect("not poisoned");
        if b.items.is_empty() {
            b.since = Some(now());
        }
        b.items.push(item);
        self.pending.store(true, Ordering::Release);
    }

    /// Drop everything buried, on the calling thread (the owner, after an event). Returns
    /// how many were dropped; costs one atomic load when there are none.
    pub fn reap(&self) -> usize {
        if !self.pending.load(Ordering::Acquire) {
            return 0;
        }
        let items = self.take();
        // dropped after the lock is released: burying never waits for the frees
        let n = items.len();
        drop(items);
        n
    }

    /// [`Self::reap`] on another thread than the owner, only when something has waited
    /// for longer than `age` (the owner has had no event since).
    pub fn reap_older_than(&self, age: Duration, now: Instant) -> usize {
        if !self.pending.load(Ordering::Acquire) {
            return 0;
        }
        let items = {
            let mut b = self.buried.lock().expect("not poisoned");
            if b.since
                .is_none_or(|since| now.saturating_duration_since(since) < age)
            {
                return 0;
            }
            self.pending.store(false, Ordering::Release);
            b.since = None;
            std::mem::take(&mut b.items)
        };
        let n = items.len();
        drop(items);
        n
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.buried.lock().expect("not poisoned").items.len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&self) -> Vec<T> {
        let mut b = self.buried.lock().expect("not poisoned");
        self.pending.store(false, Ordering::Release);
        b.since = None;
        std::mem::take(&mut b.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Counts its drops and the threads they happened on.
    struct Dropped(Arc<Mutex<Vec<std::thread::ThreadId>>>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(std::thread::current().id());
        }
    }

    #[test]
    fn what_another_thread_buries_is_dropped_by_the_owner() {
        let grave = Arc::new(Graveyard::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (g, l) = (grave.clone(), log.clone());
        std::thread::spawn(move || {
            for _ in 0..3 {
                g.bury(Dropped(l.clone()), Instant::now);
            }
        })
        .join()
        .unwrap();
        assert!(log.lock().unwrap().is_empty(), "burying drops nothing");
        assert_eq!(grave.len(), 3);
        assert_eq!(grave.reap(), 3);
        let me = std::thread::current().id();
        assert_eq!(*log.lock().unwrap(), vec![me; 3]);
        assert_eq!(grave.reap(), 0);
        assert!(grave.is_empty());
    }

    #[test]
    fn a_sweeper_drops_only_what_waited_too_long() {
        let grave = Graveyard::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let t0 = Instant::now();
        grave.bury(Dropped(log.clone()), || t0);
        // the age counts from the first burial since the last reap
        grave.bury(Dropped(log.clone()), || t0 + Duration::from_secs(5));
        let age = Duration::from_secs(1);
        assert_eq!(
            grave.reap_older_than(age, t0 + Duration::from_millis(999)),
            0
        );
        assert_eq!(grave.len(), 2);
        assert_eq!(grave.reap_older_than(age, t0 + age), 2);
        assert_eq!(log.lock().unwrap().len(), 2);
        // empty again: a new burial starts a new age
        grave.bury(Dropped(log.clone()), || t0 + Duration::from_secs(10));
        assert_eq!(grave.reap_older_than(age, t0 + Duration::from_secs(10)), 0);
        assert_eq!(grave.reap(), 1);
    }
}
