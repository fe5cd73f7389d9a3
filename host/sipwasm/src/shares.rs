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
//! The events of one stream connection (a *flow*) keep their order: one waits while an
//! earlier one of its flow is queued or running from the queue. Other events of a tenant
//! may pass each other (as they do on two UDP readers): one arriving once the tenant is
//! in good standing again runs at once, before older ones still queued.
//!
//! When an event of a tenant in good standing ends, the thread that ran it takes the
//! tenant's next waiting event itself (a hand-off): a good tenant past its share does not
//! wait behind the queue workers' events of others.

use sipwasm_runtime::{Refusal, Standing};
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
    flow: Option<u64>,
}

impl Slot {
    /// The tenant it belongs to.
    pub fn tenant(&self) -> usize {
        self.tenant
    }
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

/// A waiting event.
#[derive(Debug)]
struct Waiting<T> {
    arrival: u64,
    flow: Option<u64>,
    item: T,
}

/// How far into a tenant's queue a queue worker looks for an event whose flow is free.
const LOOK_AHEAD: usize = 64;

#[derive(Debug)]
struct Lane<T> {
    limits: ShareLimits,
    busy: usize,
    queue: VecDeque<Waiting<T>>,
    /// Flows with an event running.
    running: Vec<u64>,
    queued: u64,
    overflowed: u64,
}

impl<T> Lane<T> {
    /// True when an event of `flow` must wait for an earlier one.
    fn flow_busy(&self, flow: Option<u64>) -> bool {
        flow.is_some_and(|f| {
            self.running.contains(&f) || self.queue.iter().any(|w| w.flow == Some(f))
        })
    }

    /// The first waiting event no earlier event of its flow holds back.
    fn first_free(&self) -> Option<usize> {
        let mut held: Vec<u64> = Vec::new();
        for (i, w) in self.queue.iter().enumerate().take(LOOK_AHEAD) {
            match w.flow {
                None => return Some(i),
                Some(f) if !self.running.contains(&f) && !held.contains(&f) => return Some(i),
                Some(f) => held.push(f),
            }
        }
        None
    }

    fn take_slot(&mut self, tenant: usize, flow: Option<u64>) -> Slot {
        self.busy += 1;
        if let Some(f) = flow {
            self.running.push(f);
        }
        Slot { tenant, flow }
    }
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
                    running: Vec::new(),
                    queued: 0,
                    overflowed: 0,
                })
                .collect(),
            arrivals: 0,
            waiting: 0,
        }
    }

    /// An event of `tenant`, whose standing is `standing`, arrives on a thread that reads
    /// the network; `flow` is its stream connection.
    pub fn admit(
        &mut self,
        tenant: usize,
        standing: Standing,
        flow: Option<u64>,
        item: T,
    ) -> Admission<T> {
        let lane = &mut self.lanes[tenant];
        match standing {
            Standing::Refused(_) => return Admission::Refuse(item),
            Standing::Good if lane.busy < lane.limits.workers && !lane.flow_busy(flow) => {
                return Admission::Run(lane.take_slot(tenant, flow), item);
            }
            _ => {}
        }
        if lane.queue.len() >= lane.limits.queue {
            lane.overflowed += 1;
            return Admission::Overflow(item);
        }
        lane.queue.push_back(Waiting {
            arrival: self.arrivals,
            flow,
            item,
        });
        self.arrivals += 1;
        lane.queued += 1;
        self.waiting += 1;
        Admission::Queued
    }

    /// The event holding `slot` is done.
    pub fn release(&mut self, slot: Slot) {
        let lane = &mut self.lanes[slot.tenant];
        lane.busy = lane.busy.saturating_sub(1);
        if let Some(f) = slot.flow
            && let Some(i) = lane.running.iter().position(|r| *r == f)
        {
            lane.running.swap_remove(i);
        }
    }

    /// The event holding `slot` is done; when its tenant, whose standing is now
    /// `standing`, is in good standing and has an event waiting, that event and its slot,
    /// for the same thread to run.
    pub fn hand_off(&mut self, slot: Slot, standing: Standing) -> Option<(Slot, T)> {
        let tenant = slot.tenant;
        self.release(slot);
        if standing != Standing::Good {
            return None;
        }
        let lane = &mut self.lanes[tenant];
        if lane.busy >= lane.limits.workers {
            return None;
        }
        let i = lane.first_free()?;
        let w = lane.queue.remove(i).expect("found");
        self.waiting -= 1;
        let slot = self.lanes[tenant].take_slot(tenant, w.flow);
        Some((slot, w.item))
    }

    /// True when an event waits (it may not be runnable yet).
    pub fn has_waiting(&self) -> bool {
        self.waiting > 0
    }

    /// For a queue worker: the next queued event it may take, with the slot to release
    /// after it (or why its tenant refuses it: answer it without running the plugin).
    #[allow(clippy::type_complexity)]
    pub fn next(
        &mut self,
        standing: impl Fn(usize) -> Standing,
    ) -> Option<(Result<Slot, Refusal>, T)> {
        if self.waiting == 0 {
            return None;
        }
        // (class, arrival) of the best runnable event so far, its lane and place
        let mut best: Option<((u8, u64), usize, usize)> = None;
        for (tenant, lane) in self.lanes.iter().enumerate() {
            if lane.queue.is_empty() {
                continue;
            }
            let class = match standing(tenant) {
                Standing::Refused(why) => {
                    // answered at once, without a slot, in any order
                    let w = self.lanes[tenant].queue.pop_front().expect("not empty");
                    self.waiting -= 1;
                    return Some((Err(why), w.item));
                }
                _ if lane.busy >= lane.limits.workers => continue,
                // a tenant not known yet first: most are cheap, and a hostile one gets
                // one event before it is known
                Standing::Unproven => 0,
                Standing::Good | Standing::Heavy => 1,
                Standing::Failing => 2,
            };
            let Some(i) = lane.first_free() else {
                continue;
            };
            let key = (class, lane.queue[i].arrival);
            if best.is_none_or(|(k, _, _)| key < k) {
                best = Some((key, tenant, i));
            }
        }
        let (_, tenant, i) = best?;
        let lane = &mut self.lanes[tenant];
        let w = lane.queue.remove(i).expect("found");
        let slot = lane.take_slot(tenant, w.flow);
        self.waiting -= 1;
        Some((Ok(slot), w.item))
    }

    /// Take every queued event (shutting down).
    pub fn drain(&mut self) -> Vec<T> {
        self.waiting = 0;
        self.lanes
            .iter_mut()
            .flat_map(|l| l.queue.drain(..).map(|w| w.item))
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
        let (slot, _) = run(s.admit(0, GOOD, None, "a1"));
        assert_eq!(s.admit(0, GOOD, None, "a2"), Admission::Queued);
        assert_eq!(s.admit(0, GOOD, None, "a3"), Admission::Queued);
        assert_eq!(s.admit(0, GOOD, None, "a4"), Admission::Overflow("a4"));
        // the other tenant is not held up by it
        let (other, _) = run(s.admit(1, GOOD, None, "b1"));
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
        assert_eq!(s.admit(1, UNPROVEN, None, "b1"), Admission::Queued);
        assert_eq!(s.admit(1, FAILING, None, "b2"), Admission::Queued);
        // proven meanwhile: a new event runs on the reader, the queued ones follow
        let (slot, _) = run(s.admit(1, GOOD, None, "b3"));
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
        assert_eq!(s.admit(0, refused, None, "a1"), Admission::Refuse("a1"));
        let (slot, _) = run(s.admit(0, GOOD, None, "a2"));
        assert_eq!(s.admit(0, GOOD, None, "a3"), Admission::Queued);
        // quarantined while a3 waits: it comes out with no slot, though a2 still runs
        assert_eq!(s.next(|_| refused), Some((Err(Refusal::Quarantined), "a3")));
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
            assert_eq!(s.admit(t, standing(t), None, item), Admission::Queued);
        }
        let mut order = Vec::new();
        while let Some((slot, item)) = s.next(standing) {
            order.push(item);
            s.release(slot.unwrap());
        }
        assert_eq!(order, ["u0", "u1", "h0", "h1", "f0", "g0", "f1"]);
    }

    #[test]
    fn a_flow_keeps_its_order() {
        let mut s = shares(1, 2, 10);
        // flow 7's first event waits (tenant unproven); its second, the tenant now good,
        // waits behind it; flow 8 and a datagram pass
        assert_eq!(s.admit(0, UNPROVEN, Some(7), "7a"), Admission::Queued);
        assert_eq!(s.admit(0, GOOD, Some(7), "7b"), Admission::Queued);
        let (slot8, _) = run(s.admit(0, GOOD, Some(8), "8a"));
        s.release(slot8);
        // a queue worker takes 7a; 7b may not run beside it, though the share allows two
        let (slot7, item) = s.next(|_| GOOD).unwrap();
        assert_eq!(item, "7a");
        assert_eq!(s.next(|_| GOOD), None);
        assert_eq!(
            s.admit(0, GOOD, Some(7), "7c"),
            Admission::Queued,
            "behind 7b"
        );
        let (udp, _) = run(s.admit(0, GOOD, None, "udp"));
        s.release(udp);
        s.release(slot7.unwrap());
        assert_eq!(s.next(|_| GOOD).unwrap().1, "7b");
    }

    #[test]
    fn a_good_tenant_past_its_share_is_handed_its_next_event() {
        let mut s = shares(2, 1, 4);
        let (slot, _) = run(s.admit(0, GOOD, None, "a1"));
        assert_eq!(s.admit(0, GOOD, None, "a2"), Admission::Queued);
        assert_eq!(s.admit(1, FAILING, None, "b1"), Admission::Queued);
        // the thread that ran a1 runs a2, ahead of what the queue workers have
        let (slot, item) = s.hand_off(slot, GOOD).unwrap();
        assert_eq!(item, "a2");
        assert_eq!(s.hand_off(slot, GOOD), None, "nothing more of its own");
        // a tenant out of good standing is left to the queue workers
        let (slot, _) = run(s.admit(0, GOOD, None, "a3"));
        assert_eq!(s.admit(0, GOOD, None, "a4"), Admission::Queued);
        assert_eq!(s.hand_off(slot, Standing::Heavy), None);
        // (its turn by arrival among the queue workers' events)
        assert_eq!(s.next(|_| FAILING).unwrap().1, "b1");
        assert_eq!(s.next(|_| FAILING).unwrap().1, "a4");
    }
}
