//! The deadlines of live transactions: a hashed timing wheel (Varghese and Lauck), as
//! Kamailio's tm keeps its timers. At 1000 calls/s a proxy queues several thousand
//! deadlines a second and holds over ten thousand; a binary heap pays a logarithmic sift
//! through cold memory for each, a wheel slot is one push and one drain.
//!
//! Time is cut into granules from an origin. Slot `k % N` holds the deadlines in granule
//! `k`, which is drained once the granule has ended, so a deadline fires at most one
//! granule late (and never early). Deadlines beyond the ring's span wait in a small heap
//! and move into the ring as time reaches them. Pure: the caller brings `now`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Deadlines of items `T`, each fired once in [`TimerWheel::pop_due`].
#[derive(Debug)]
pub struct TimerWheel<T> {
    origin: Instant,
    granule: Duration,
    slots: Vec<Vec<(Instant, T)>>,
    /// First granule not drained yet.
    next: u64,
    /// Entries in `slots`.
    in_ring: usize,
    /// Deadlines at or past granule `next + slots.len()`.
    far: BinaryHeap<Reverse<(Instant, T)>>,
    /// Buffers of drained slots, handed to the next empty slot that gets a deadline. A
    /// drained buffer is warm in the cache and already sized; left in its slot it would be
    /// touched again only a whole turn of the ring later (41 s in the proxy), cold, and
    /// every slot would grow its own buffer (page faults through the first turn).
    spare: Vec<Vec<(Instant, T)>>,
}

/// Drained buffers kept for reuse at most; more are freed.
const SPARE_BUFFERS: usize = 16;

impl<T: Copy + Ord> TimerWheel<T> {
    /// A wheel of `slots` granules of `granule` each, starting at `origin`.
    pub fn new(origin: Instant, granule: Duration, slots: usize) -> Self {
        assert!(
            !granule.is_zero() && slots > 0,
            "a wheel needs time and room"
        );
        TimerWheel {
            origin,
            granule,
            slots: (0..slots).map(|_| Vec::new()).collect(),
            next: 0,
            in_ring: 0,
            far: BinaryHeap::new(),
            spare: Vec::new(),
        }
    }

    /// Number of queued deadlines.
    pub fn len(&self) -> usize {
        self.in_ring + self.far.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The granule whose end is the first at or after `at`.
    fn granule_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.origin);
        since.as_nanos().div_ceil(self.granule.as_nanos()) as u64
    }

    fn end_of(&self, granule: u64) -> Instant {
        let nanos = (self.granule.as_nanos() as u64).saturating_mul(granule);
        self.origin + Duration::from_nanos(nanos)
    }

    /// When a deadline `at` pushed now would be returned: the end of its granule.
    pub fn fires_at(&self, at: Instant) -> Instant {
        self.end_of(self.granule_of(at).max(self.next))
    }

    /// Queue `item` to fire at `at` (a past deadline fires at the next drain).
    pub fn push(&mut self, at: Instant, item: T) {
        let g = self.granule_of(at).max(self.next);
        if g >= self.next + self.slots.len() as u64 {
            self.far.push(Reverse((at, item)));
        } else {
            self.push_ring(g, at, item);
        }
    }

    fn push_ring(&mut self, granule: u64, at: Instant, item: T) {
        let n = self.slots.len() as u64;
        let slot = &mut self.slots[(granule % n) as usize];
        if slot.capacity() == 0
            && let Some(buffer) = self.spare.pop()
        {
            *slot = buffer;
        }
        slot.push((at, item));
        self.in_ring += 1;
    }

    /// When [`Self::pop_due`] next has something to return: the end of the first granule
    /// holding a deadline.
    pub fn next_due(&self) -> Option<Instant> {
        let n = self.slots.len() as u64;
        let ring = (self.in_ring > 0)
            .then(|| {
                (self.next..self.next + n)
                    .find(|g| !self.slots[(g % n) as usize].is_empty())
                    .map(|g| self.end_of(g))
            })
            .flatten();
        let far = self
            .far
            .peek()
            .map(|Reverse((at, _))| self.end_of(self.granule_of(*at)));
        match (ring, far) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Move every deadline of the granules that ended by `now` to `out`, in no
    /// particular order within a granule.
    pub fn pop_due(&mut self, now: Instant, out: &mut Vec<(Instant, T)>) {
        let n = self.slots.len() as u64;
        // the granules that ended by now: [next, last)
        let last = match now.checked_duration_since(self.origin) {
            Some(d) => (d.as_nanos() / self.granule.as_nanos()) as u64 + 1,
            None => return,
        };
        while self.next < last {
            if self.in_ring == 0 {
                // nothing in the ring: skip to the far heap's first granule (or to now)
                let far_first = self
                    .far
                    .peek()
                    .map_or(last, |Reverse((at, _))| self.granule_of(*at));
                self.next = self.next.max(far_first.min(last));
                self.refill();
                if self.in_ring == 0 {
                    break;
                }
                continue;
            }
            let slot = &mut self.slots[(self.next % n) as usize];
            self.in_ring -= slot.len();
            out.append(slot);
            if slot.capacity() > 0 && self.spare.len() < SPARE_BUFFERS {
                self.spare.push(std::mem::take(slot));
            }
            self.next += 1;
            self.refill();
        }
    }

    /// Bring the far deadlines that now fall within the ring's span into it.
    fn refill(&mut self) {
        let n = self.slots.len() as u64;
        while let Some(Reverse((at, _))) = self.far.peek() {
            let g = self.granule_of(*at).max(self.next);
            if g >= self.next + n {
                return;
            }
            let Some(Reverse((at, item))) = self.far.pop() else {
                return;
            };
            self.push_ring(g, at, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn drain(w: &mut TimerWheel<u32>, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        w.pop_due(now, &mut out);
        let mut ids: Vec<u32> = out.into_iter().map(|(_, id)| id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn fires_once_never_early_at_most_a_granule_late() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, 10 * MS, 8);
        w.push(t0 + 25 * MS, 1);
        w.push(t0 + 30 * MS, 2);
        w.push(t0 + 31 * MS, 3);
        assert_eq!(w.len(), 3);
        assert_eq!(w.fires_at(t0 + 31 * MS), t0 + 40 * MS);
        assert_eq!(w.next_due(), Some(t0 + 30 * MS));
        assert!(drain(&mut w, t0 + 24 * MS).is_empty());
        assert!(drain(&mut w, t0 + 29 * MS).is_empty(), "never early");
        assert_eq!(drain(&mut w, t0 + 30 * MS), vec![1, 2]);
        assert_eq!(w.next_due(), Some(t0 + 40 * MS));
        assert_eq!(drain(&mut w, t0 + 41 * MS), vec![3]);
        assert!(w.is_empty());
        assert_eq!(w.next_due(), None);
        assert!(drain(&mut w, t0 + 100 * MS).is_empty(), "fired once");
    }

    #[test]
    fn a_drained_slot_buffer_goes_to_the_next_slot_that_fills() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, 10 * MS, 8);
        for id in 0..40 {
            w.push(t0 + 15 * MS, id);
        }
        let buffer = w.slots[2].as_ptr();
        assert_eq!(drain(&mut w, t0 + 20 * MS).len(), 40);
        assert_eq!(
            w.slots[2].capacity(),
            0,
            "handed on, not kept for the next turn"
        );
        w.push(t0 + 55 * MS, 99);
        assert_eq!(w.slots[6].as_ptr(), buffer, "reused, warm and sized");
        assert!(w.slots[6].capacity() >= 40);
        assert_eq!(drain(&mut w, t0 + 60 * MS), vec![99]);
        assert!(w.is_empty());
    }

    #[test]
    fn a_past_deadline_fires_at_the_next_drain() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, 10 * MS, 8);
        assert!(drain(&mut w, t0 + 55 * MS).is_empty());
        w.push(t0 + 5 * MS, 7);
        w.push(t0, 8);
        assert_eq!(w.next_due(), Some(t0 + 60 * MS));
        assert_eq!(drain(&mut w, t0 + 60 * MS), vec![7, 8]);
    }

    #[test]
    fn deadlines_beyond_the_ring_wait_in_order_and_come_in_as_time_passes() {
        let t0 = Instant::now();
        // a ring of 4 granules of 10 ms: 40 ms ahead
        let mut w = TimerWheel::new(t0, 10 * MS, 4);
        w.push(t0 + 500 * MS, 3);
        w.push(t0 + 95 * MS, 2);
        w.push(t0 + 15 * MS, 1);
        assert_eq!(w.len(), 3);
        assert_eq!(w.next_due(), Some(t0 + 20 * MS));
        assert_eq!(drain(&mut w, t0 + 20 * MS), vec![1]);
        assert_eq!(w.next_due(), Some(t0 + 100 * MS));
        assert!(drain(&mut w, t0 + 99 * MS).is_empty());
        assert_eq!(drain(&mut w, t0 + 100 * MS), vec![2]);
        // a long idle stretch is skipped, not walked granule by granule
        assert_eq!(drain(&mut w, t0 + 10 * 1000 * MS), vec![3]);
        assert!(w.is_empty());
        // and the wheel keeps working after it
        w.push(t0 + 10_015 * MS, 4);
        assert_eq!(drain(&mut w, t0 + 10_020 * MS), vec![4]);
    }

    #[test]
    fn many_deadlines_come_out_each_in_its_granule() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, 10 * MS, 64);
        for i in 0..5000u32 {
            // spread over 2 s, pushed out of order
            let at = t0 + MS * ((i * 7919) % 2000);
            w.push(at, i);
        }
        let mut seen = 0;
        let mut now = t0;
        while !w.is_empty() {
            now += 10 * MS;
            let mut out = Vec::new();
            w.pop_due(now, &mut out);
            for (at, _) in &out {
                assert!(*at <= now, "early");
                assert!(now - *at < 10 * MS + MS, "late by more than a granule");
            }
            seen += out.len();
            assert!(now < t0 + 3000 * MS);
        }
        assert_eq!(seen, 5000);
    }
}
