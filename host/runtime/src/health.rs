//! A tenant's standing: its CPU budget and its quarantine. Pure rules over a clock the
//! caller passes in, so they are tested with a fake one; [`crate::TenantAccount`] holds one
//! behind a lock and feeds it the real clock.
//!
//! - **CPU budget**: a token bucket of guest time (the plugin's code on the wall clock,
//!   host waits excluded, as for the deadline), refilled at `cpu_budget` per second and
//!   holding at most one second of it. Every call is charged; once the bucket is empty the
//!   tenant's events are refused until a tenth of it is back.
//! - **Quarantine**: failures (deadline kills, traps, memory-cap hits, log floods) are
//!   counted in a sliding window beside the events run. `quarantine_after` failures in the
//!   window, when they are at least half the events run in it, quarantine the tenant for a
//!   period that doubles each time it is quarantined again (up to `quarantine_max`). When
//!   the period ends the tenant serves again on probation: failing again (failures at
//!   least half of its events since) quarantines it again, for longer; a window on
//!   probation without that ends it and forgets the doublings. Half the events at least:
//!   a busy tenant whose plugin fails on a message an outsider can send must not be shut
//!   down by a few such messages among its real traffic.
//! - **Standing**: *refused* in quarantine or over budget; *failing* on probation or with
//!   failures at least half its events in the window; *unproven* until an event completes
//!   (after load or a lift); *heavy* when its events cost more than [`HEAVY_EVENT`] on
//!   average or at least 1 % of them took more than [`SLOW_EVENT`] in the window; *good*
//!   otherwise. Tenants
//!   out of good standing run only on the workers kept for them (see the router's worker
//!   shares).

use std::time::{Duration, Instant};

/// Mean guest CPU time per event above which a tenant is [`Standing::Heavy`]. A Rust
/// plugin's event costs 5 to 20 µs, a Python or JavaScript one 50 to 200 µs.
pub const HEAVY_EVENT: Duration = Duration::from_millis(1);

/// Events past this, when they are at least 1 % of a tenant's events in the window (and 3
/// or more), make it [`Standing::Heavy`] whatever its mean: a tenant cannot hide long
/// events among cheap ones. A share, not one event: time is measured on the wall clock,
/// and on a busy machine a cheap event descheduled for a few milliseconds looks long now
/// and then.
pub const SLOW_EVENT: Duration = Duration::from_millis(2);

/// Once over budget, a tenant serves again when this share of its budget is back: not on
/// the first nanosecond, which would let it in and out once per event.
const REFILL_BEFORE_SERVING: i64 = 10;

/// The rules of one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Guest CPU time a second; `None`: no budget.
    pub cpu_budget: Option<Duration>,
    /// Failures in the window that quarantine the tenant; 0: never quarantined.
    pub quarantine_after: u32,
    /// Length of the window failures are counted in.
    pub window: Duration,
    /// First quarantine period.
    pub quarantine_first: Duration,
    /// Longest quarantine period.
    pub quarantine_max: Duration,
}

/// No budget and no quarantine (a lone plugin: nobody to protect), the periods the
/// router's config defaults to.
impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            cpu_budget: None,
            quarantine_after: 0,
            window: Duration::from_secs(10),
            quarantine_first: Duration::from_secs(1),
            quarantine_max: Duration::from_secs(300),
        }
    }
}

/// Why an event was not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The tenant is quarantined.
    Quarantined,
    /// The tenant spent its CPU budget.
    OverBudget,
}

/// How the router may treat the tenant's next event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// In good standing: any worker its share allows.
    Good,
    /// No event completed yet (just loaded or swapped): only the workers kept for tenants
    /// out of good standing, ahead of failing ones.
    Unproven,
    /// Its events cost more than [`HEAVY_EVENT`] of CPU on average: as `Unproven`, so
    /// that no thread reading the network spends that long on one event.
    Heavy,
    /// Failed within the window, or on probation: only the workers kept for tenants out
    /// of good standing, after everyone else.
    Failing,
    /// Refused without running.
    Refused(Refusal),
}

/// A change of standing worth one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Quarantined for `period` after `failures` failures of `events` run in the window.
    Quarantined {
        /// Failures in the window.
        failures: u32,
        /// Events run in the window.
        events: u32,
        /// How long.
        period: Duration,
    },
    /// The quarantine period ended: serving again, on probation.
    Probation,
    /// A window without failure after probation: healthy again.
    Recovered,
    /// Quarantine or probation lifted by a new version.
    Lifted,
    /// The CPU budget is spent: events refused until it refills.
    OverBudget,
    /// The budget refilled: serving again.
    BudgetRefilled,
}

/// Quarantine state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quarantine {
    No,
    Until(Instant),
    /// Serving again since then, with what it did since.
    Probation(Instant, Counts),
}

/// What one half of the window saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    events: u32,
    failures: u32,
    /// Events over [`SLOW_EVENT`].
    slow: u32,
}

/// A tenant's standing.
#[derive(Debug)]
pub struct Health {
    policy: HealthPolicy,
    /// Guest nanoseconds left (negative: an event overdrew it).
    tokens: i64,
    refilled: Instant,
    /// Refill not yet whole nanoseconds (nanoseconds x budget nanoseconds per second).
    refill_rest: u128,
    over_budget: bool,
    /// A change not reported yet (two came at once).
    pending: Option<Change>,
    /// The window in two halves: the current one, started at `half_started`, and the one
    /// before it.
    half_started: Instant,
    current: Counts,
    previous: Counts,
    quarantine: Quarantine,
    /// Quarantines since the tenant was last healthy: the period doubles with each.
    doublings: u32,
    proven: bool,
    /// Mean guest nanoseconds per event, exponentially weighted (1/8 per event).
    mean_cost: u64,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Health {
    /// A tenant just loaded: unproven, budget full.
    pub fn new(policy: HealthPolicy, now: Instant) -> Self {
        Health {
            policy,
            tokens: policy.cpu_budget.map_or(0, nanos),
            refilled: now,
            refill_rest: 0,
            over_budget: false,
            pending: None,
            half_started: now,
            current: Counts::default(),
            previous: Counts::default(),
            quarantine: Quarantine::No,
            doublings: 0,
            proven: false,
            mean_cost: 0,
        }
    }

    /// The rules.
    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    fn half(&self) -> Duration {
        (self.policy.window / 2).max(Duration::from_millis(1))
    }

    /// Move the window and the bucket to `now`; end a quarantine or a probation that is
    /// over.
    fn advance(&mut self, now: Instant) -> Option<Change> {
        let half = self.half();
        let since = now.saturating_duration_since(self.half_started);
        if since >= half {
            self.previous = if since >= 2 * half {
                Counts::default()
            } else {
                self.current
            };
            self.current = Counts::default();
            // aligned to whole halves, so the window does not drift with the calls
            let halves = (since.as_nanos() / half.as_nanos()) as u32;
            self.half_started += half * halves;
        }
        if let Some(budget) = self.policy.cpu_budget {
            let elapsed = now.saturating_duration_since(self.refilled);
            self.refilled = now;
            let owed = elapsed.as_nanos() * budget.as_nanos() + self.refill_rest;
            self.refill_rest = owed % 1_000_000_000;
            let refill = i64::try_from(owed / 1_000_000_000).unwrap_or(i64::MAX);
            self.tokens = self.tokens.saturating_add(refill).min(nanos(budget));
        }
        let quarantine = match self.quarantine {
            Quarantine::Until(t) if now >= t => {
                self.quarantine = Quarantine::Probation(t, Counts::default());
                Some(Change::Probation)
            }
            // a failure on probation quarantines again: a whole window without one
            Quarantine::Probation(since, _) if now >= since + self.policy.window => {
                self.quarantine = Quarantine::No;
                self.doublings = 0;
                Some(Change::Recovered)
            }
            _ => None,
        };
        let budget = match self.policy.cpu_budget {
            Some(_) if !self.over_budget && self.tokens <= 0 => {
                self.over_budget = true;
                Some(Change::OverBudget)
            }
            Some(budget)
                if self.over_budget && self.tokens >= nanos(budget) / REFILL_BEFORE_SERVING =>
            {
                self.over_budget = false;
                Some(Change::BudgetRefilled)
            }
            _ => None,
        };
        // one change a call; a second one at the same moment waits for the next call
        let mut out = self.pending.take();
        for c in [quarantine, budget].into_iter().flatten() {
            if out.is_none() {
                out = Some(c);
            } else {
                self.pending = Some(c);
            }
        }
        out
    }

    /// True while the budget is spent: at zero, or, once spent, until a tenth of it is
    /// back (`over_budget`, kept by [`Self::advance`]).
    fn spent(&self) -> bool {
        self.policy.cpu_budget.is_some() && (self.tokens <= 0 || self.over_budget)
    }

    /// Failing: on probation, or failures in the window that are at least half its events
    /// (a tenant that fails now and then on what outsiders send stays in good standing).
    fn failing(&self) -> bool {
        matches!(self.quarantine, Quarantine::Probation(..))
            || (self.failures() > 0 && self.failures().saturating_mul(2) >= self.events())
    }

    fn heavy(&self) -> bool {
        let slow = self.previous.slow + self.current.slow;
        self.mean_cost > HEAVY_EVENT.as_nanos() as u64
            || (slow >= 3 && slow.saturating_mul(100) >= self.events())
    }

    fn failures(&self) -> u32 {
        self.previous.failures + self.current.failures
    }

    fn events(&self) -> u32 {
        self.previous.events + self.current.events
    }

    /// May an event run now? Changes of standing come back for the log.
    pub fn admit(&mut self, now: Instant) -> (Result<(), Refusal>, Option<Change>) {
        let change = self.advance(now);
        if matches!(self.quarantine, Quarantine::Until(_)) {
            return (Err(Refusal::Quarantined), change);
        }
        if self.spent() {
            return (Err(Refusal::OverBudget), change);
        }
        (Ok(()), change)
    }

    /// The tenant's standing now, for the scheduler (does not count as an event), and a
    /// change the time brought.
    pub fn standing(&mut self, now: Instant) -> (Standing, Option<Change>) {
        let change = self.advance(now);
        (self.current_standing(), change)
    }

    fn current_standing(&self) -> Standing {
        if matches!(self.quarantine, Quarantine::Until(_)) {
            return Standing::Refused(Refusal::Quarantined);
        }
        if self.spent() {
            return Standing::Refused(Refusal::OverBudget);
        }
        if self.failing() {
            return Standing::Failing;
        }
        if !self.proven {
            return Standing::Unproven;
        }
        if self.heavy() {
            return Standing::Heavy;
        }
        Standing::Good
    }

    /// An event ran for `cpu` of guest time; `failed` when it was cut or trapped.
    pub fn charge(&mut self, now: Instant, cpu: Duration, failed: bool) -> Option<Change> {
        let advanced = self.advance(now);
        if self.policy.cpu_budget.is_some() {
            self.tokens = self.tokens.saturating_sub(nanos(cpu));
        }
        self.current.events = self.current.events.saturating_add(1);
        if let Quarantine::Probation(_, since) = &mut self.quarantine {
            since.events = since.events.saturating_add(1);
        }
        let cost = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        self.mean_cost = self.mean_cost - self.mean_cost / 8 + cost / 8;
        if cpu > SLOW_EVENT {
            self.current.slow = self.current.slow.saturating_add(1);
        }
        if !failed {
            self.proven = true;
            return advanced;
        }
        self.current.failures = self.current.failures.saturating_add(1);
        let (failures, events) = (self.failures(), self.events());
        let quarantine = match &mut self.quarantine {
            // on probation, failing again: failures at least half of what it ran since
            Quarantine::Probation(_, since) => {
                since.failures += 1;
                since.failures.saturating_mul(2) >= since.events
            }
            // a failure of an event that started before the quarantine: already counted
            Quarantine::Until(_) => false,
            Quarantine::No => {
                self.policy.quarantine_after != 0
                    && failures >= self.policy.quarantine_after
                    && failures.saturating_mul(2) >= events
            }
        };
        if !quarantine {
            return advanced;
        }
        let period = self
            .policy
            .quarantine_first
            .saturating_mul(1u32 << self.doublings.min(20))
            .min(self.policy.quarantine_max);
        self.doublings = self.doublings.saturating_add(1);
        self.quarantine = Quarantine::Until(now + period);
        Some(Change::Quarantined {
            failures,
            events,
            period,
        })
    }

    /// A new version serves: whatever the old one did is forgotten.
    pub fn lift(&mut self, now: Instant) -> Option<Change> {
        let was = self.quarantine != Quarantine::No || self.failures() > 0;
        *self = Health {
            // the CPU spent stays spent: a swap is no way around the budget
            tokens: self.tokens,
            refilled: self.refilled,
            refill_rest: self.refill_rest,
            over_budget: self.over_budget,
            ..Health::new(self.policy, now)
        };
        was.then_some(Change::Lifted)
    }

    /// For `ctl`: "healthy", "unproven", "heavy", "failing", "quarantined", "probation",
    /// "over-budget"; the
    /// time left in quarantine; and a change the time brought.
    pub fn describe(&mut self, now: Instant) -> ((&'static str, Option<Duration>), Option<Change>) {
        let change = self.advance(now);
        (self.state(now), change)
    }

    fn state(&self, now: Instant) -> (&'static str, Option<Duration>) {
        match self.quarantine {
            Quarantine::Until(t) => ("quarantined", Some(t - now)),
            Quarantine::Probation(..) => ("probation", None),
            Quarantine::No if self.spent() => ("over-budget", None),
            Quarantine::No if self.failing() => ("failing", None),
            Quarantine::No if !self.proven => ("unproven", None),
            Quarantine::No if self.heavy() => ("heavy", None),
            Quarantine::No => ("healthy", None),
        }
    }

    /// Guest CPU time left in the budget (`None` without one).
    pub fn budget_left(&self) -> Option<Duration> {
        self.policy
            .cpu_budget
            .map(|_| Duration::from_nanos(self.tokens.max(0) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> HealthPolicy {
        HealthPolicy {
            cpu_budget: None,
            quarantine_after: 3,
            window: Duration::from_secs(10),
            quarantine_first: Duration::from_secs(1),
            quarantine_max: Duration::from_secs(8),
        }
    }

    #[test]
    fn a_new_tenant_is_unproven_until_an_event_completes() {
        let t0 = Instant::now();
        let mut h = Health::new(policy(), t0);
        assert_eq!(h.standing(t0).0, Standing::Unproven);
        assert_eq!(h.admit(t0).0, Ok(()));
        h.charge(t0, 50 * Duration::from_micros(1), false);
        assert_eq!(h.standing(t0).0, Standing::Good);
    }

    #[test]
    fn a_tenant_whose_events_cost_much_is_heavy_until_they_cost_little() {
        let t0 = Instant::now();
        let mut h = Health::new(policy(), t0);
        h.charge(t0, 100 * Duration::from_micros(1), false);
        assert_eq!(h.standing(t0).0, Standing::Good);
        h.charge(t0, 15 * MS, false);
        assert_eq!(
            h.standing(t0).0,
            Standing::Heavy,
            "one 15 ms event moves the mean"
        );
        // one long event among many cheap ones (a cheap one descheduled): forgotten
        for _ in 0..5 {
            h.charge(t0, 20 * Duration::from_micros(1), false);
        }
        assert_eq!(h.standing(t0).0, Standing::Good);
        // one in seven long: cheap events do not hide them, heavy until the window
        // forgets them (5 to 10 s)
        for i in 0..70 {
            let cost = if i % 7 == 0 {
                9 * MS
            } else {
                20 * Duration::from_micros(1)
            };
            h.charge(t0, cost, false);
        }
        let mut t = t0;
        while h.standing(t).0 == Standing::Heavy {
            h.charge(t, 20 * Duration::from_micros(1), false);
            t += 100 * MS;
        }
        assert!(t - t0 >= Duration::from_secs(5), "{:?}", t - t0);
        assert!(t - t0 <= Duration::from_secs(10), "{:?}", t - t0);
        assert_eq!(h.describe(t).0.0, "healthy");
        // no event past 2 ms, but 1.5 ms on average: heavy by its mean
        for _ in 0..20 {
            h.charge(t, 1500 * Duration::from_micros(1), false);
        }
        assert_eq!(h.standing(t).0, Standing::Heavy);
        assert_eq!(h.describe(t).0.0, "heavy");
    }

    #[test]
    fn a_small_budget_refills_at_its_rate_under_frequent_calls() {
        let t0 = Instant::now();
        // 1 ms a second, looked at every 700 ns: 0.7 ns per look, none of it lost
        let mut h = Health::new(
            HealthPolicy {
                cpu_budget: Some(MS),
                ..policy()
            },
            t0,
        );
        h.charge(t0, MS, false);
        let step = Duration::from_nanos(700);
        for i in 1..=500_000 {
            let _ = h.standing(t0 + i * step);
        }
        assert_eq!(h.budget_left(), Some(Duration::from_micros(350)));
    }

    #[test]
    fn the_budget_refuses_when_spent_and_refills() {
        let t0 = Instant::now();
        let mut h = Health::new(
            HealthPolicy {
                cpu_budget: Some(100 * MS),
                ..policy()
            },
            t0,
        );
        // 100 ms of budget: five events of 30 ms, the fourth overdraws it
        for i in 0..4 {
            assert_eq!(h.admit(t0).0, Ok(()), "event {i}");
            h.charge(t0, 30 * MS, false);
        }
        assert_eq!(
            h.admit(t0),
            (Err(Refusal::OverBudget), Some(Change::OverBudget))
        );
        assert_eq!(h.admit(t0), (Err(Refusal::OverBudget), None), "logged once");
        assert_eq!(h.standing(t0).0, Standing::Refused(Refusal::OverBudget));
        // 20 ms overdrawn: back above zero after 200 ms at 100 ms/s, serving again once
        // a tenth of the budget is back (300 ms)
        let t = t0 + 150 * MS;
        assert_eq!(h.admit(t).0, Err(Refusal::OverBudget));
        let t = t0 + 250 * MS;
        assert_eq!(h.admit(t).0, Err(Refusal::OverBudget));
        assert_eq!(h.standing(t).0, Standing::Refused(Refusal::OverBudget));
        let t = t0 + 300 * MS;
        assert_eq!(h.admit(t), (Ok(()), Some(Change::BudgetRefilled)));
        // a second without events refills it to one second's worth, no more
        let t = t + Duration::from_secs(5);
        let _ = h.admit(t);
        assert_eq!(h.budget_left(), Some(100 * MS));
    }

    #[test]
    fn repeated_failures_quarantine_with_doubling_periods() {
        let t0 = Instant::now();
        let mut h = Health::new(policy(), t0);
        assert_eq!(h.charge(t0, 20 * MS, true), None);
        assert_eq!(h.standing(t0).0, Standing::Failing);
        assert_eq!(h.charge(t0 + MS, 20 * MS, true), None);
        let third = h.charge(t0 + 2 * MS, 20 * MS, true);
        assert_eq!(
            third,
            Some(Change::Quarantined {
                failures: 3,
                events: 3,
                period: Duration::from_secs(1)
            })
        );
        let t = t0 + 500 * MS;
        assert_eq!(h.admit(t).0, Err(Refusal::Quarantined));
        assert_eq!(h.standing(t).0, Standing::Refused(Refusal::Quarantined));
        // the period ends: probation, and one failure quarantines again, twice as long
        let t = t0 + 1003 * MS;
        // whoever looks first sees the change, once
        assert_eq!(h.standing(t), (Standing::Failing, Some(Change::Probation)));
        assert_eq!(h.admit(t), (Ok(()), None));
        assert_eq!(h.standing(t).0, Standing::Failing);
        assert!(matches!(
            h.charge(t, 20 * MS, true),
            Some(Change::Quarantined { period, .. }) if period == Duration::from_secs(2)
        ));
        // 4 s, then the 8 s ceiling
        let mut t = t + Duration::from_secs(2);
        for expect in [4, 8, 8] {
            assert_eq!(h.admit(t).1, Some(Change::Probation));
            assert!(matches!(
                h.charge(t, 20 * MS, true),
                Some(Change::Quarantined { period, .. }) if period == Duration::from_secs(expect)
            ));
            t += Duration::from_secs(expect);
        }
    }

    #[test]
    fn on_probation_a_failure_among_good_events_is_tolerated() {
        let t0 = Instant::now();
        let mut h = Health::new(policy(), t0);
        for i in 0..3 {
            h.charge(t0 + i * MS, MS, true);
        }
        let t = t0 + Duration::from_secs(2);
        assert_eq!(h.admit(t).1, Some(Change::Probation));
        for _ in 0..10 {
            h.charge(t, MS, false);
        }
        assert_eq!(h.charge(t, MS, true), None, "1 failure in 11 events");
        assert_eq!(h.describe(t).0.0, "probation");
        // failing again as often as not: quarantined again, for twice as long
        let mut again = None;
        for _ in 0..20 {
            again = again.or(h.charge(t, MS, true));
        }
        assert!(matches!(
            again,
            Some(Change::Quarantined { period, .. }) if period == Duration::from_secs(2)
        ));
    }

    #[test]
    fn probation_ends_after_a_window_without_failure() {
        let t0 = Instant::now();
        let mut h = Health::new(policy(), t0);
        for i in 0..3 {
            h.charge(t0 + i * MS, MS, true);
        }
        let mut t = t0 + Duration::from_secs(1) + 10 * MS;
        assert_eq!(h.admit(t).1, Some(Change::Probation));
        // events keep succeeding: a whole window of them ends the probation
        let mut recovered = None;
        while t < t0 + Duration::from_secs(15) {
            let changes = [h.admit(t).1, h.charge(t, MS, false)];
            if changes.contains(&Some(Change::Recovered)) {
                recovered = Some(t);
                break;
            }
            t += 100 * MS;
        }
        let at = recovered.expect("recovered");
        assert!(at >= t0 + Duration::from_secs(11), "{:?}", at - t0);
        assert!(at <= t0 + Duration::from_millis(11_200), "{:?}", at - t0);
        assert_eq!(h.standing(at).0, Standing::Good);
        // the doublings are forgotten: the next quarantine (once the good events have left
        // the window) is the first period again
        let at = at + Duration::from_secs(20);
        for i in 0..3 {
            let c = h.charge(at + i * MS, MS, true);
            if i == 2 {
                assert!(matches!(
                    c,
                    Some(Change::Quarantined { period, .. }) if period == Duration::from_secs(1)
                ));
            }
        }
    }

    #[test]
    fn failures_among_many_good_events_do_not_quarantine() {
        let t0 = Instant::now();
        let mut h = Health::new(policy(), t0);
        // a busy tenant: 100 good events, then 10 failures an outsider provoked
        for i in 0..100 {
            h.charge(t0 + i * MS, MS, false);
        }
        for i in 0..10 {
            assert_eq!(h.charge(t0 + (100 + i) * MS, MS, true), None);
        }
        assert_eq!(h.admit(t0 + 200 * MS).0, Ok(()));
        assert_eq!(
            h.standing(t0 + 200 * MS).0,
            Standing::Good,
            "10 failures in 110 events: still in good standing"
        );
        // a failing majority does
        let mut quarantined = false;
        for i in 0..200 {
            quarantined |= h.charge(t0 + (300 + i) * MS, MS, true).is_some();
        }
        assert!(quarantined);
    }

    #[test]
    fn a_lift_forgets_failures_but_not_the_budget() {
        let t0 = Instant::now();
        let mut h = Health::new(
            HealthPolicy {
                cpu_budget: Some(10 * MS),
                ..policy()
            },
            t0,
        );
        for i in 0..3 {
            h.charge(t0 + i * MS, 5 * MS, true);
        }
        assert_eq!(h.admit(t0 + 3 * MS).0, Err(Refusal::Quarantined));
        assert_eq!(h.lift(t0 + 4 * MS), Some(Change::Lifted));
        assert_eq!(h.admit(t0 + 4 * MS).0, Err(Refusal::OverBudget));
        assert_eq!(h.describe(t0 + 4 * MS).0.0, "over-budget");
        assert_eq!(h.lift(t0 + 5 * MS), None, "nothing to lift");
        let later = t0 + Duration::from_secs(2);
        assert_eq!(h.admit(later).0, Ok(()));
        assert_eq!(h.standing(later).0, Standing::Unproven);
    }

    #[test]
    fn no_quarantine_when_disabled() {
        let t0 = Instant::now();
        let mut h = Health::new(
            HealthPolicy {
                quarantine_after: 0,
                ..policy()
            },
            t0,
        );
        for i in 0..100 {
            assert_eq!(h.charge(t0 + i * MS, MS, true), None);
        }
        assert_eq!(h.admit(t0 + 100 * MS).0, Ok(()));
    }
}
