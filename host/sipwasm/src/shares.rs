//! Worker shares: how many threads may run a tenant's events at once, and the queues its
//! events wait in. Pure bookkeeping (no threads, no clock), unit-tested here; the server
//! drives it (`server.rs`).
//!
//! The rules, when a config has several tenants (or a worker share):
//! - a tenant runs at most `share` events at once, on any thread; past it, its events
//!   wait in its own queue (bounded: a full queue refuses the event), so another tenant's
//!   events never wait behind them;
//! - the threads that read the network (UDP readers, TCP lanes) run only the events of
//!   tenants in good standing (see `sipwasm_runtime::health`); the events of a tenant that
//!   is unproven, heavy (more than a millisecond of CPU an event on average), failing or
//!   on probation wait for the *queue workers*, a pool of `workers - 1` threads: however
//!   many tenants misbehave, they hold only those, and the readers (and the datagrams a
//!   reader took in the same batch) are never held by them;
//! - queue workers take the oldest waiting event of a tenant not known yet (just loaded
//!   or swapped) first, then the oldest of a heavy one or one past its share, then the
//!   oldest of a failing one: a tenant proving itself is not kept behind the events of
//!   tenants already known to be slow or failing;
//! - a refused tenant (quarantined, over budget) gets its fallback at once, queued or not.
//!
//! A tenant's queued events run in arrival order; an event arriving once the tenant is in
//! good standing again may run on a reader before older ones still queued.

use sipwasm_runtime::Standing;
use std::collections::VecDeque;

/// A tenant's share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareLimits {
    /// Events running at once; `usize::MAX`: no limit.
    pub workers: usize,
    /// Events waiting; past it they are refused.
    pub queue: usize,
}

/// A running event's hold on its tenant's share; give it back with [`Shares::release`].
#[must_use = "a slot must be released"]
#[derive(Debug, PartialEq, Eq)]
pub struct Slot {
    tenant: usize,
}

/// What to do with an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<T> {
    /// Run it now, on this thread.
    Run(Slot, T),
    /// Refused by the tenant's standing: answer it without running the plugin.
    Refuse(T),
    /// Queued for a queue worker.
    Queued,
    /// The tenant's queue is full: refused.
    Overflow(T),
}

/// Counters of one tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneStats {
    /// Events running now.
    pub busy: usize,
    /// Events waiting now.
    pub waiting: usize,
    /// Events that waited, since start.
    pub queued: u64,
    /// Events refused because the queue was full.
    pub overflowed: u64,
}

#[derive(Debug)]
struct Lane<T> {
    limits: ShareLimits,
    busy: usize,
    /// Waiting events with their arrival number.
    queue: VecDeque<(u64, T)>,
    queued: u64,
    overflowed: u64,
}

/// Every tenant's share and queue.
#[derive(Debug)]
pub struct Shares<T> {
    lanes: Vec<Lane<T>>,
    /// Arrival number of the next queued event.
    arrivals: u64,
    waiting: usize,
}

impl<T> Shares<T> {
    /// One lane per tenant, in the tenants' order.
    pub fn new(limits: impl IntoIterator<Item = ShareLimits>) -> Self {
        Shares {
            lanes: limits
                .into_iter()
                .map(|limits| Lane {
                    limits,
                    busy: 0,
                    queue: VecDeque::new(),
                    queued: 0,
                    overflowed: 0,
                })
                .collect(),
            arrivals: 0,
            waiting: 0,
        }
    }

    /// An event of `tenant`, whose standing is `standing`, arrives on a thread that reads
    /// the network.
    pub fn admit(&mut self, tenant: usize, standing: Standing, item: T) -> Admission<T> {
        let lane = &mut self.lanes[tenant];
        match standing {
            Standing::Refused(_) => return Admission::Refuse(item),
            Standing::Good if lane.busy < lane.limits.workers => {
                lane.busy += 1;
                return Admission::Run(Slot { tenant }, item);
            }
            _ => {}
        }
        if lane.queue.len() >= lane.limits.queue {
            lane.overflowed += 1;
            return Admission::Overflow(item);
        }
        lane.queue.push_back((self.arrivals, item));
        self.arrivals += 1;
        lane.queued += 1;
        self.waiting += 1;
        Admission::Queued
    }

    /// The event holding `slot` is done.
    pub fn release(&mut self, slot: Slot) {
        let lane = &mut self.lanes[slot.tenant];
        lane.busy = lane.busy.saturating_sub(1);
    }

    /// True when an event waits (it may not be runnable yet).
    pub fn has_waiting(&self) -> bool {
        self.waiting > 0
    }

    /// For a queue worker: the next queued event it may take, with the slot to release
    /// after it (`None`: refused by its tenant's standing, answer it without running the
    /// plugin).
    pub fn next(&mut self, standing: impl Fn(usize) -> Standing) -> Option<(Option<Slot>, T)> {
        if self.waiting == 0 {
            return None;
        }
        // (class, arrival) of the best runnable head so far, and its lane
        let mut best: Option<((u8, u64), usize)> = None;
        for (tenant, lane) in self.lanes.iter().enumerate() {
            let Some((arrival, _)) = lane.queue.front() else {
                continue;
            };
            let class = match standing(tenant) {
                Standing::Refused(_) => {
                    // answered at once, without a slot
                    return self.pop(tenant).map(|item| (None, item));
                }
                _ if lane.busy >= lane.limits.workers => continue,
                // a tenant not known yet first: most are cheap, and a hostile one gets
                // one event before it is known
                Standing::Unproven => 0,
                Standing::Good | Standing::Heavy => 1,
                Standing::Failing => 2,
            };
            let key = (class, *arrival);
            if best.is_none_or(|(k, _)| key < k) {
                best = Some((key, tenant));
            }
        }
        let (_, tenant) = best?;
        self.lanes[tenant].busy += 1;
        self.pop(tenant).map(|item| (Some(Slot { tenant }), item))
    }

    fn pop(&mut self, tenant: usize) -> Option<T> {
        let (_, item) = self.lanes[tenant].queue.pop_front()?;
        self.waiting -= 1;
        Some(item)
    }

    /// Take every queued event (shutting down).
    pub fn drain(&mut self) -> Vec<T> {
        self.waiting = 0;
        self.lanes
            .iter_mut()
            .flat_map(|l| l.queue.drain(..).map(|(_, item)| item))
            .collect()
    }

    /// A tenant's counters.
    pub fn stats(&self, tenant: usize) -> LaneStats {
        let l = &self.lanes[tenant];
        LaneStats {
            busy: l.busy,
            waiting: l.queue.len(),
            queued: l.queued,
            overflowed: l.overflowed,
        }
    }

    /// A tenant's limits.
    pub fn limits(&self, tenant: usize) -> ShareLimits {
        self.lanes[tenant].limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwasm_runtime::Refusal;

    const GOOD: Standing = Standing::Good;
    const UNPROVEN: Standing = Standing::Unproven;
    const FAILING: Standing = Standing::Failing;

    fn shares(n: usize, workers: usize, queue: usize) -> Shares<&'static str> {
        Shares::new(vec![ShareLimits { workers, queue }; n])
    }

    fn run<T: std::fmt::Debug>(a: Admission<T>) -> (Slot, T) {
        match a {
            Admission::Run(s, t) => (s, t),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn a_tenant_past_its_share_waits_in_its_own_queue() {
        let mut s = shares(2, 1, 2);
        let (slot, _) = run(s.admit(0, GOOD, "a1"));
        assert_eq!(s.admit(0, GOOD, "a2"), Admission::Queued);
        assert_eq!(s.admit(0, GOOD, "a3"), Admission::Queued);
        assert_eq!(s.admit(0, GOOD, "a4"), Admission::Overflow("a4"));
        // the other tenant is not held up by it
        let (other, _) = run(s.admit(1, GOOD, "b1"));
        assert_eq!(
            s.stats(0),
            LaneStats {
                busy: 1,
                waiting: 2,
                queued: 2,
                overflowed: 1
            }
        );
        // nothing runs past the share; once a1 is done, a2 then a3, in order
        assert_eq!(s.next(|_| GOOD), None);
        s.release(slot);
        let (slot, item) = s.next(|_| GOOD).unwrap();
        assert_eq!(item, "a2");
        assert_eq!(s.next(|_| GOOD), None);
        s.release(slot.unwrap());
        let (slot, item) = s.next(|_| GOOD).unwrap();
        assert_eq!(item, "a3");
        s.release(slot.unwrap());
        s.release(other);
        assert!(!s.has_waiting());
        assert_eq!(s.stats(0).busy, 0);
    }

    #[test]
    fn readers_run_only_tenants_in_good_standing() {
        let mut s = shares(2, 1, 4);
        assert_eq!(s.admit(1, UNPROVEN, "b1"), Admission::Queued);
        assert_eq!(s.admit(1, FAILING, "b2"), Admission::Queued);
        // proven meanwhile: a new event runs on the reader, the queued ones follow
        let (slot, _) = run(s.admit(1, GOOD, "b3"));
        s.release(slot);
        let (slot, item) = s.next(|_| GOOD).unwrap();
        assert_eq!(item, "b1");
        s.release(slot.unwrap());
        assert_eq!(s.next(|_| GOOD).unwrap().1, "b2");
    }

    #[test]
    fn refused_tenants_are_answered_at_once_even_from_the_queue() {
        let mut s = shares(1, 1, 4);
        let refused = Standing::Refused(Refusal::Quarantined);
        assert_eq!(s.admit(0, refused, "a1"), Admission::Refuse("a1"));
        let (slot, _) = run(s.admit(0, GOOD, "a2"));
        assert_eq!(s.admit(0, GOOD, "a3"), Admission::Queued);
        // quarantined while a3 waits: it comes out with no slot, though a2 still runs
        assert_eq!(s.next(|_| refused), Some((None, "a3")));
        s.release(slot);
    }

    #[test]
    fn unknown_tenants_go_first_then_heavy_ones_then_failing_ones() {
        let mut s = shares(4, usize::MAX, 10);
        // tenants 0 and 2 failing, tenant 1 just loaded, tenant 3 heavy
        let standing = |t: usize| [FAILING, UNPROVEN, FAILING, Standing::Heavy][t];
        for (t, item) in [
            (0, "f0"),
            (3, "h0"),
            (2, "g0"),
            (1, "u0"),
            (0, "f1"),
            (3, "h1"),
            (1, "u1"),
        ] {
            assert_eq!(s.admit(t, standing(t), item), Admission::Queued);
        }
        let mut order = Vec::new();
        while let Some((slot, item)) = s.next(standing) {
            order.push(item);
            s.release(slot.unwrap());
        }
        assert_eq!(order, ["u0", "u1", "h0", "h1", "f0", "g0", "f1"]);
    }
}
