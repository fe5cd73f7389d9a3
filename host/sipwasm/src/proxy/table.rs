//! Every live transaction: by server key and by id (index and a random label), the
//! suspended ones and the resumes waiting to run, the deadlines on a timer wheel, and the
//! graveyards where finished cells are freed. Generic over what a cell is and who owns
//! it, so it is tested without routers or plugins.

use crate::graveyard::Graveyard;
use sipwasm_tm::{CellId, ServerKey, TimerWheel};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long finished cells may wait for a worker that gets no events before the timer
/// thread drops them itself.
pub(super) const GRAVE_PATIENCE: Duration = Duration::from_secs(1);

/// A cell as the table hands it out.
pub type CellRef<V> = Arc<Mutex<V>>;

/// Where the cells a worker made are dropped: by that worker, after its next event
/// (see [`crate::graveyard`]).
pub type Grave<V> = Arc<Graveyard<CellRef<V>>>;

/// The cells of a [`TxTable`], by [`CellId::index`].
struct Slots<V, O> {
    entries: Vec<Option<Entry<V, O>>>,
    /// Indexes of `entries` that hold no cell.
    free: Vec<u32>,
}

enum Entry<V, O> {
    /// A live cell.
    Live(Slot<V, O>),
    /// An id `t_suspend` gave out for a transaction made when its route has returned.
    Reserved(Reservation<O>),
}

/// A transaction id given out before its cell exists.
struct Reservation<O> {
    label: u32,
    owner: Arc<O>,
    /// A `t_continue` that came before the cell was made: run once it is.
    resume: Option<String>,
}

/// Why `t_continue` refused an id.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ResumeRefused {
    /// No such transaction of this owner (another owner's is as good as none).
    NoTransaction,
    /// The transaction is not suspended (or already resumed).
    NotSuspended,
}

struct Slot<V, O> {
    label: u32,
    cell: CellRef<V>,
    /// Whose transaction it is (a tenant); kept outside the cell's lock, so that checking
    /// it never waits for (or deadlocks on) a route holding the cell.
    owner: Arc<O>,
    /// The graveyard of the worker that made it: the cell is dropped there when it ends.
    home: Option<Grave<V>>,
}

/// Counters of the transaction layer.
#[derive(Debug, Default)]
pub struct TmStats {
    /// Transactions created.
    pub created: AtomicU64,
    /// Transactions finished and removed.
    pub removed: AtomicU64,
    /// Request retransmissions absorbed.
    pub retransmissions_absorbed: AtomicU64,
    /// ACKs of non-2xx replies absorbed.
    pub acks_absorbed: AtomicU64,
    /// Branches sent.
    pub branches: AtomicU64,
    /// Failure routes run.
    pub failure_routes: AtomicU64,
    /// Transactions suspended (`t_suspend`).
    pub suspended: AtomicU64,
    /// Suspended transactions resumed (`t_continue`).
    pub resumed: AtomicU64,
    /// Replies forwarded without a transaction.
    pub stateless_replies: AtomicU64,
    /// NAT pings sent to registered contacts.
    pub nat_pings: AtomicU64,
    /// Finished transactions freed by the worker that made them (after its next event).
    pub freed_by_worker: AtomicU64,
    /// Finished transactions freed by the timer thread, their worker having had no event
    /// for [`GRAVE_PATIENCE`].
    pub freed_by_sweep: AtomicU64,
}

/// How late a transaction timer may fire: the timer wheel's granule, whose deadlines the
/// timer thread handles in one batch. Kamailio's timer ticks every 62.5 ms; 20 ms keeps
/// retransmissions (T1 = 500 ms) on time while the timer thread wakes at most 50 times a
/// second under load.
const TIMER_GRANULE: Duration = Duration::from_millis(20);

/// Granules in the wheel's ring (41 s ahead); later deadlines wait in its small heap.
const TIMER_SLOTS: usize = 2048;

/// The transaction deadlines and when the timer thread means to wake up.
pub(super) struct Timers {
    pub(super) wheel: TimerWheel<CellId>,
    /// Set while the timer thread waits: a deadline due before it wakes it up.
    pub(super) sleeping_until: Option<Instant>,
}

/// Every live transaction: cells of type `V` owned by an `O`.
pub struct TxTable<V, O> {
    by_key: Mutex<HashMap<ServerKey, CellId>>,
    /// The cells by index, and the free indexes, under one lock: `free` once had its own,
    /// taken inside the slots' lock by `remove` and around it by `insert`, and a worker
    /// and the timer thread deadlocked on the two under load.
    slots: Mutex<Slots<V, O>>,
    next_label: AtomicU32,
    /// Keys that turn `next_label` into a label nobody can guess from another
    /// transaction's branch (replies are matched by branch alone, from any source).
    label_keys: std::collections::hash_map::RandomState,
    pub(super) timers: Mutex<Timers>,
    pub(super) wake: Condvar,
    /// Transactions waiting for `t_continue`. Kept outside the cells: `t_continue` may be
    /// called from a route that holds a cell's lock (even the same cell's).
    suspended: Mutex<HashSet<CellId>>,
    /// Size of `suspended`, so that finishing a transaction takes no lock when nothing is
    /// suspended (the usual case).
    suspended_len: AtomicUsize,
    /// `t_continue`s accepted and not yet run.
    pub(super) resumes: Mutex<VecDeque<(CellId, String)>>,
    /// The graveyards of this router's workers, swept by the timer thread.
    pub(super) graveyards: Mutex<Vec<Grave<V>>>,
    /// Counters.
    pub stats: TmStats,
}

impl<V, O> Default for TxTable<V, O> {
    fn default() -> Self {
        TxTable {
            by_key: Mutex::new(HashMap::new()),
            slots: Mutex::new(Slots {
                entries: Vec::new(),
                free: Vec::new(),
            }),
            next_label: AtomicU32::new(1),
            label_keys: std::collections::hash_map::RandomState::new(),
            timers: Mutex::new(Timers {
                wheel: TimerWheel::new(Instant::now(), TIMER_GRANULE, TIMER_SLOTS),
                sleeping_until: None,
            }),
            wake: Condvar::new(),
            suspended: Mutex::new(HashSet::new()),
            suspended_len: AtomicUsize::new(0),
            resumes: Mutex::new(VecDeque::new()),
            graveyards: Mutex::new(Vec::new()),
            stats: TmStats::default(),
        }
    }
}

impl<V, O> TxTable<V, O> {
    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.by_key.lock().expect("not poisoned").len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live cells, at most `limit`, with their owners (`ctl tm.list`).
    pub fn live(&self, limit: usize) -> Vec<(CellId, Arc<O>, CellRef<V>)> {
        let slots = self.slots.lock().expect("not poisoned");
        slots
            .entries
            .iter()
            .enumerate()
            .filter_map(|(index, e)| match e {
                Some(Entry::Live(s)) => Some((
                    CellId {
                        index: index as u32,
                        label: s.label,
                    },
                    s.owner.clone(),
                    s.cell.clone(),
                )),
                _ => None,
            })
            .take(limit)
            .collect()
    }

    /// The cell `id`, while it lives.
    pub(super) fn get(&self, id: CellId) -> Option<CellRef<V>> {
        let slots = self.slots.lock().expect("not poisoned");
        match slots.entries.get(id.index as usize) {
            Some(Some(Entry::Live(s))) if s.label == id.label => Some(s.cell.clone()),
            _ => None,
        }
    }

    /// The cell `id` if it belongs to `owner`: a plugin never sees another tenant's
    /// transactions.
    pub(super) fn get_for(&self, id: CellId, owner: &O) -> Option<CellRef<V>> {
        let slots = self.slots.lock().expect("not poisoned");
        match slots.entries.get(id.index as usize) {
            Some(Some(Entry::Live(s)))
                if s.label == id.label && std::ptr::eq(Arc::as_ptr(&s.owner), owner) =>
            {
                Some(s.cell.clone())
            }
            _ => None,
        }
    }

    /// The cell of server transaction `key`.
    pub(super) fn find(&self, key: &ServerKey) -> Option<(CellId, CellRef<V>)> {
        let id = *self.by_key.lock().expect("not poisoned").get(key)?;
        self.get(id).map(|c| (id, c))
    }

    /// Insert a cell built by `make` for `key`, owned by `owner` and freed in `home` when
    /// it ends, unless one exists (then return it). True when it is new.
    pub(super) fn insert(
        &self,
        key: ServerKey,
        owner: &Arc<O>,
        home: Option<Grave<V>>,
        make: impl FnOnce(CellId) -> V,
    ) -> (CellId, CellRef<V>, bool) {
        let mut by_key = self.by_key.lock().expect("not poisoned");
        if let Some(id) = by_key.get(&key).copied()
            && let Some(c) = self.get(id)
        {
            return (id, c, false);
        }
        let id = self.new_id();
        let cell = Arc::new(Mutex::new(make(id)));
        self.slots.lock().expect("not poisoned").entries[id.index as usize] =
            Some(Entry::Live(Slot {
                label: id.label,
                cell: cell.clone(),
                owner: owner.clone(),
                home,
            }));
        by_key.insert(key, id);
        self.stats.created.fetch_add(1, Ordering::Relaxed);
        (id, cell, true)
    }

    /// A free index under a fresh label; its entry stays empty until the caller fills it.
    fn new_id(&self) -> CellId {
        let index = {
            let mut slots = self.slots.lock().expect("not poisoned");
            match slots.free.pop() {
                Some(i) => i,
                None => {
                    slots.entries.push(None);
                    (slots.entries.len() - 1) as u32
                }
            }
        };
        CellId {
            index,
            label: {
                use std::hash::BuildHasher as _;
                let n = self.next_label.fetch_add(1, Ordering::Relaxed);
                self.label_keys.hash_one(n) as u32
            },
        }
    }

    /// `t_suspend`: an id for the transaction `owner`'s route is suspending, made when
    /// the route has returned ([`Self::insert_reserved`]); suspended from now on, so
    /// `t_continue` accepts it even before the cell exists.
    pub(super) fn reserve(&self, owner: &Arc<O>) -> CellId {
        let id = self.new_id();
        self.slots.lock().expect("not poisoned").entries[id.index as usize] =
            Some(Entry::Reserved(Reservation {
                label: id.label,
                owner: owner.clone(),
                resume: None,
            }));
        self.suspend(id);
        id
    }

    /// Make the cell of reservation `id` for `key`; a `t_continue` that came meanwhile
    /// is queued now. `None` when the reservation is gone (released) or a cell of `key`
    /// exists (a retransmission routed meanwhile made it): the reservation is released.
    pub(super) fn insert_reserved(
        &self,
        id: CellId,
        key: ServerKey,
        home: Option<Grave<V>>,
        make: impl FnOnce(CellId) -> V,
    ) -> Option<CellRef<V>> {
        let mut by_key = self.by_key.lock().expect("not poisoned");
        if by_key
            .get(&key)
            .is_some_and(|found| self.get(*found).is_some())
        {
            drop(by_key);
            self.release(id);
            return None;
        }
        // made under the slots' lock, so that a t_continue finds the reservation or the
        // cell, never neither (the caller made the costly parts of the cell beforehand)
        let (cell, resume) = {
            let mut slots = self.slots.lock().expect("not poisoned");
            let entry = slots.entries.get_mut(id.index as usize)?;
            if !matches!(entry.as_ref(), Some(Entry::Reserved(r)) if r.label == id.label) {
                return None;
            }
            let Some(Entry::Reserved(reservation)) = entry.take() else {
                unreachable!("matched as reserved")
            };
            let cell = Arc::new(Mutex::new(make(id)));
            *entry = Some(Entry::Live(Slot {
                label: id.label,
                cell: cell.clone(),
                owner: reservation.owner,
                home,
            }));
            (cell, reservation.resume)
        };
        by_key.insert(key, id);
        drop(by_key);
        self.stats.created.fetch_add(1, Ordering::Relaxed);
        if let Some(route) = resume {
            self.resumes
                .lock()
                .expect("not poisoned")
                .push_back((id, route));
        }
        Some(cell)
    }

    /// Give reservation `id` up (its route failed): its id names nothing from now on.
    pub(super) fn release(&self, id: CellId) {
        let released = {
            let mut slots = self.slots.lock().expect("not poisoned");
            match slots.entries.get_mut(id.index as usize) {
                Some(entry) if matches!(entry.as_ref(), Some(Entry::Reserved(r)) if r.label == id.label) =>
                {
                    *entry = None;
                    slots.free.push(id.index);
                    true
                }
                _ => false,
            }
        };
        if released {
            self.unsuspend(id);
        }
    }

    /// `t_continue`: queue the resume of `owner`'s suspended transaction `id` in `route`
    /// (or keep it with the reservation until its cell is made). Once per suspension.
    pub(super) fn resume(&self, id: CellId, owner: &O, route: String) -> Result<(), ResumeRefused> {
        let mut slots = self.slots.lock().expect("not poisoned");
        let reservation = match slots.entries.get_mut(id.index as usize) {
            Some(Some(Entry::Live(s)))
                if s.label == id.label && std::ptr::eq(Arc::as_ptr(&s.owner), owner) =>
            {
                None
            }
            Some(Some(Entry::Reserved(r)))
                if r.label == id.label && std::ptr::eq(Arc::as_ptr(&r.owner), owner) =>
            {
                Some(r)
            }
            _ => return Err(ResumeRefused::NoTransaction),
        };
        if !self.unsuspend(id) {
            return Err(ResumeRefused::NotSuspended);
        }
        match reservation {
            Some(r) => r.resume = Some(route),
            None => {
                drop(slots);
                self.resumes
                    .lock()
                    .expect("not poisoned")
                    .push_back((id, route));
            }
        }
        Ok(())
    }

    /// Remove cell `id` of `key`; it is freed in its worker's graveyard.
    pub(super) fn remove(&self, id: CellId, key: &ServerKey) {
        self.unsuspend(id);
        {
            let mut by_key = self.by_key.lock().expect("not poisoned");
            if by_key.get(key) == Some(&id) {
                by_key.remove(key);
            }
        }
        let removed = {
            let mut slots = self.slots.lock().expect("not poisoned");
            match slots.entries.get_mut(id.index as usize) {
                Some(entry) if matches!(entry.as_ref(), Some(Entry::Live(s)) if s.label == id.label) =>
                {
                    let Some(Entry::Live(taken)) = entry.take() else {
                        unreachable!("matched as live")
                    };
                    slots.free.push(id.index);
                    Some(taken)
                }
                _ => None,
            }
        };
        let Some(slot) = removed else {
            return;
        };
        // buried after the table's locks are released; the cell is freed where the last
        // handle to it goes, normally in the graveyard's reap
        if let Some(home) = slot.home {
            home.bury(slot.cell, Instant::now);
        }
        self.stats.removed.fetch_add(1, Ordering::Relaxed);
    }

    /// Drop the cells that waited too long in the graveyard of a worker without events.
    pub(super) fn sweep_graveyards(&self, now: Instant) {
        // the registry's lock is only contended when a worker starts
        for g in self.graveyards.lock().expect("not poisoned").iter() {
            let n = g.reap_older_than(GRAVE_PATIENCE, now);
            self.stats
                .freed_by_sweep
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Mark `id` suspended (`t_suspend`).
    pub(super) fn suspend(&self, id: CellId) {
        let mut s = self.suspended.lock().expect("not poisoned");
        if s.insert(id) {
            self.suspended_len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Unmark `id`; true when it was suspended.
    pub(super) fn unsuspend(&self, id: CellId) -> bool {
        if self.suspended_len.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let mut s = self.suspended.lock().expect("not poisoned");
        let removed = s.remove(&id);
        if removed {
            self.suspended_len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Queue a deadline of `id`, waking the timer thread when it is sooner than it planned.
    pub(super) fn schedule(&self, id: CellId, at: Instant) {
        let mut timers = self.timers.lock().expect("not poisoned");
        let sooner = timers
            .sleeping_until
            .is_some_and(|wake| timers.wheel.fires_at(at) < wake);
        timers.wheel.push(at, id);
        if sooner {
            timers.sleeping_until = None;
            self.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwasm_proto::SipMessage;
    use sipwasm_tm::KeyFor;

    /// The server key of an OPTIONS with top Via branch `branch`.
    fn key(branch: &str) -> ServerKey {
        let text = format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{branch}\r\n\
From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        ServerKey::of(
            &SipMessage::parse(bytes::Bytes::from(text)).unwrap(),
            KeyFor::Own,
        )
    }

    type Table = TxTable<u32, &'static str>;

    #[test]
    fn a_cell_is_found_by_key_and_id_and_inserted_once() {
        let t = Table::default();
        let alice = Arc::new("alice");
        let (id, cell, new) = t.insert(key("1"), &alice, None, |_| 7);
        assert!(new && t.len() == 1);
        assert_eq!(*cell.lock().unwrap(), 7);
        // a retransmission finds the cell; `make` is not called again
        let (again, _, new) = t.insert(key("1"), &alice, None, |_| unreachable!());
        assert!(!new && again == id);
        assert_eq!(t.find(&key("1")).map(|(i, _)| i), Some(id));
        assert!(t.find(&key("2")).is_none());
        assert_eq!(*t.get(id).unwrap().lock().unwrap(), 7);
        assert_eq!(t.stats.created.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn another_owner_does_not_see_the_cell() {
        let t = Table::default();
        let (alice, mallory) = (Arc::new("alice"), Arc::new("alice"));
        let (id, _, _) = t.insert(key("1"), &alice, None, |_| 1);
        assert!(t.get_for(id, &alice).is_some());
        // the same name, another tenant: owners compare by identity
        assert!(t.get_for(id, &mallory).is_none());
    }

    #[test]
    fn a_removed_cell_s_id_stays_dead_when_its_slot_is_reused() {
        let t = Table::default();
        let owner = Arc::new("o");
        let home: Grave<u32> = Arc::default();
        let (old, _, _) = t.insert(key("1"), &owner, Some(home.clone()), |_| 1);
        t.remove(old, &key("1"));
        assert!(t.is_empty() && t.get(old).is_none() && t.find(&key("1")).is_none());
        // freed by the worker that made it, not before
        assert_eq!(home.reap(), 1);
        let (new, _, _) = t.insert(key("2"), &owner, None, |_| 2);
        assert_eq!(new.index, old.index, "the slot is reused");
        assert_ne!(new.label, old.label, "under another label");
        assert!(
            t.get(old).is_none(),
            "a late t_continue of the old id finds nothing"
        );
        // removing with a stale id or another key leaves the live cell alone
        t.remove(old, &key("2"));
        assert!(t.get(new).is_some() && t.len() == 1);
        assert_eq!(t.stats.removed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn labels_are_not_a_counter() {
        let t = Table::default();
        let owner = Arc::new("o");
        let labels: Vec<u32> = (0..4)
            .map(|n| t.insert(key(&n.to_string()), &owner, None, |_| n).0.label)
            .collect();
        assert!(
            labels.windows(2).all(|w| w[1] != w[0].wrapping_add(1)),
            "{labels:?}"
        );
    }

    #[test]
    fn suspended_cells_are_unsuspended_once() {
        let t = Table::default();
        let (id, _, _) = t.insert(key("1"), &Arc::new("o"), None, |_| 1);
        assert!(!t.unsuspend(id));
        t.suspend(id);
        t.suspend(id);
        assert!(t.unsuspend(id));
        assert!(!t.unsuspend(id), "a second t_continue finds it running");
        t.suspend(id);
        t.remove(id, &key("1"));
        assert!(!t.unsuspend(id), "removing a cell ends its suspension");
    }

    #[test]
    fn a_reserved_id_is_resumed_before_and_after_its_cell_is_made() {
        let t = Table::default();
        let (alice, mallory) = (Arc::new("alice"), Arc::new("mallory"));
        // resumed before the cell exists: the resume waits for it
        let early = t.reserve(&alice);
        assert!(t.get(early).is_none() && t.is_empty());
        assert_eq!(
            t.resume(early, &mallory, "r".into()),
            Err(ResumeRefused::NoTransaction)
        );
        assert_eq!(t.resume(early, &alice, "r".into()), Ok(()));
        assert_eq!(
            t.resume(early, &alice, "r".into()),
            Err(ResumeRefused::NotSuspended),
            "once per suspension"
        );
        assert!(t.resumes.lock().unwrap().is_empty());
        let cell = t
            .insert_reserved(early, key("1"), None, |id| id.index)
            .unwrap();
        assert_eq!(*cell.lock().unwrap(), early.index);
        assert_eq!(t.find(&key("1")).map(|(i, _)| i), Some(early));
        assert_eq!(
            t.resumes.lock().unwrap().pop_front(),
            Some((early, "r".to_string()))
        );
        // resumed after: queued at once
        let late = t.reserve(&alice);
        assert!(t.insert_reserved(late, key("2"), None, |_| 2).is_some());
        assert_eq!(t.resume(late, &alice, "s".into()), Ok(()));
        assert_eq!(t.resumes.lock().unwrap().len(), 1);
        assert_eq!(t.stats.created.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_released_or_raced_reservation_names_nothing() {
        let t = Table::default();
        let owner = Arc::new("o");
        let failed = t.reserve(&owner);
        t.release(failed);
        assert_eq!(
            t.resume(failed, &owner, "r".into()),
            Err(ResumeRefused::NoTransaction)
        );
        assert!(t.insert_reserved(failed, key("1"), None, |_| 1).is_none());
        // a retransmission routed meanwhile made the transaction: the id is given up
        let (made, _, _) = t.insert(key("1"), &owner, None, |_| 1);
        let raced = t.reserve(&owner);
        assert!(t.insert_reserved(raced, key("1"), None, |_| 2).is_none());
        assert!(t.get(raced).is_none() && !t.unsuspend(raced));
        assert_eq!(t.find(&key("1")).map(|(i, _)| i), Some(made));
        // the freed slots are reused under new labels
        let next = t.reserve(&owner);
        assert!(next != failed && next != raced);
    }

    #[test]
    fn a_sooner_deadline_wakes_the_timer_thread() {
        let t = Table::default();
        let (id, _, _) = t.insert(key("1"), &Arc::new("o"), None, |_| 1);
        let now = Instant::now();
        t.timers.lock().unwrap().sleeping_until = Some(now + Duration::from_secs(1));
        t.schedule(id, now + Duration::from_secs(5));
        assert!(
            t.timers.lock().unwrap().sleeping_until.is_some(),
            "later: let it sleep"
        );
        t.schedule(id, now + Duration::from_millis(100));
        assert!(
            t.timers.lock().unwrap().sleeping_until.is_none(),
            "sooner: woken"
        );
        let mut due = Vec::new();
        t.timers
            .lock()
            .unwrap()
            .wheel
            .pop_due(now + Duration::from_secs(6), &mut due);
        assert_eq!(due.len(), 2);
    }
}
