//! What a tenant is charged with, across every version of its plugin: counters, live
//! instances against the instance limit, a log-rate budget, and its standing (CPU budget
//! and quarantine, see [`crate::health`]).

use crate::health::{Change, Health, HealthPolicy, Refusal, Standing};
use crate::stats::PluginStats;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Log lines one event may have refused before the event is cut as a log flood: a
/// plugin that goes on logging far past its budget only burns CPU shared with others.
pub const MAX_DROPPED_PER_EVENT: u32 = 1000;

/// What to do with one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogGate {
    /// Write it.
    Write,
    /// Drop it (counted).
    Drop,
    /// Drop it and cut the event: it dropped more than [`MAX_DROPPED_PER_EVENT`].
    Flood,
}

/// Limits of a tenant, shared by every version of its plugin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// Most live instances at once (each worker thread keeps its own); 0: no limit.
    pub max_instances: usize,
    /// Log lines (xlog, log, stdout, stderr) per second, with a burst of the same size;
    /// 0: no limit.
    pub log_rate: u32,
    /// CPU budget and quarantine.
    pub health: HealthPolicy,
}

/// A token bucket refilled continuously.
#[derive(Debug)]
struct LogBudget {
    tokens: f64,
    refilled: Instant,
    /// When the last "dropping log lines" notice was written.
    noticed: Option<Instant>,
}

/// A tenant's account. Create one per tenant and hand it to every version's
/// [`crate::PluginSettings`].
#[derive(Debug)]
pub struct TenantAccount {
    name: Arc<str>,
    limits: AccountLimits,
    pub(crate) stats: PluginStats,
    live_instances: AtomicUsize,
    /// Linear memory of the live instances, bytes.
    memory_bytes: AtomicUsize,
    log: Mutex<LogBudget>,
    /// Nanoseconds after `epoch` before which the log budget is certainly empty: a flood
    /// is refused with one atomic load, without the lock.
    log_empty_until: AtomicU64,
    health: Mutex<Health>,
    epoch: Instant,
}

impl TenantAccount {
    /// A new account.
    pub fn new(name: impl Into<Arc<str>>, limits: AccountLimits) -> Arc<Self> {
        Arc::new(TenantAccount {
            name: name.into(),
            limits,
            stats: PluginStats::default(),
            live_instances: AtomicUsize::new(0),
            memory_bytes: AtomicUsize::new(0),
            log: Mutex::new(LogBudget {
                tokens: f64::from(limits.log_rate),
                refilled: Instant::now(),
                noticed: None,
            }),
            log_empty_until: AtomicU64::new(0),
            health: Mutex::new(Health::new(limits.health, Instant::now())),
            epoch: Instant::now(),
        })
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The limits.
    pub fn limits(&self) -> AccountLimits {
        self.limits
    }

    /// Counters.
    pub fn stats(&self) -> crate::StatsSnapshot {
        let mut s = self.stats.snapshot();
        s.live_instances = self.live_instances.load(Ordering::Relaxed) as u64;
        s.memory_bytes = self.memory_bytes.load(Ordering::Relaxed) as u64;
        s
    }

    /// An instance's linear memory grew by `bytes`.
    pub(crate) fn memory_taken(&self, bytes: usize) {
        self.memory_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// An instance holding `bytes` of linear memory was dropped.
    pub(crate) fn memory_released(&self, bytes: usize) {
        self.memory_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Reserve room for one more instance.
    pub(crate) fn take_instance(&self) -> Result<(), usize> {
        let n = self.live_instances.fetch_add(1, Ordering::Relaxed);
        if self.limits.max_instances != 0 && n >= self.limits.max_instances {
            self.live_instances.fetch_sub(1, Ordering::Relaxed);
            return Err(self.limits.max_instances);
        }
        Ok(())
    }

    /// An instance was dropped.
    pub(crate) fn release_instance(&self) {
        self.live_instances.fetch_sub(1, Ordering::Relaxed);
    }

    /// May one more log line of the event whose refusals are counted in `event_drops`
    /// be written?
    pub(crate) fn log_gate(&self, event_drops: &AtomicU32) -> LogGate {
        if self.log_allowed() {
            return LogGate::Write;
        }
        if event_drops.fetch_add(1, Ordering::Relaxed) + 1 > MAX_DROPPED_PER_EVENT {
            return LogGate::Flood;
        }
        LogGate::Drop
    }

    /// May one more log line be written? Counts the refusals; writes one notice a second
    /// while lines are being dropped.
    pub(crate) fn log_allowed(&self) -> bool {
        let rate = self.limits.log_rate;
        if rate == 0 {
            return true;
        }
        if self.now_nanos() < self.log_empty_until.load(Ordering::Relaxed) {
            PluginStats::bump(&self.stats.logs_dropped);
            return false;
        }
        let mut b = self.log.lock().expect("not poisoned");
        let now = Instant::now();
        let rate = f64::from(rate);
        b.tokens = (b.tokens + now.duration_since(b.refilled).as_secs_f64() * rate).min(rate);
        b.refilled = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return true;
        }
        PluginStats::bump(&self.stats.logs_dropped);
        // the next token comes in (1 - tokens) / rate seconds
        let wait = Duration::from_secs_f64((1.0 - b.tokens) / rate);
        self.log_empty_until
            .store(self.now_nanos() + wait.as_nanos() as u64, Ordering::Relaxed);
        if b.noticed
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            b.noticed = Some(now);
            tracing::warn!(tenant = %self.name, rate = self.limits.log_rate, "log rate limit reached: dropping the plugin's log lines");
        }
        false
    }

    fn now_nanos(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() as u64).max(1)
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().expect("not poisoned")
    }

    /// May an event run now? A refusal is counted.
    pub(crate) fn admit(&self) -> Result<(), Refusal> {
        let (admitted, change) = self.health().admit(Instant::now());
        self.log_change(change);
        if let Err(why) = admitted {
            PluginStats::bump(match why {
                Refusal::Quarantined => &self.stats.quarantine_refusals,
                Refusal::OverBudget => &self.stats.budget_refusals,
            });
        }
        admitted
    }

    /// An event refused by the scheduler for `why`, without reaching the plugin: counted
    /// as [`Self::admit`] counts its refusals.
    pub fn refuse(&self, why: Refusal) {
        PluginStats::bump(&self.stats.events);
        PluginStats::bump(match why {
            Refusal::Quarantined => &self.stats.quarantine_refusals,
            Refusal::OverBudget => &self.stats.budget_refusals,
        });
    }

    /// The tenant's standing now (for scheduling its events).
    pub fn standing(&self) -> Standing {
        let (standing, change) = self.health().standing(Instant::now());
        self.log_change(change);
        standing
    }

    /// An event ran for `cpu` of guest time; `failed` for a trap, timeout, memory-cap hit
    /// or log flood.
    pub(crate) fn charge(&self, cpu: Duration, failed: bool) {
        self.stats
            .cpu_ns
            .fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
        self.stats.observe_event(cpu.as_micros() as u64);
        let change = self.health().charge(Instant::now(), cpu, failed);
        self.log_change(change);
    }

    /// A new version serves: its quarantine, probation and failures are forgotten.
    pub fn lift(&self) {
        let change = self.health().lift(Instant::now());
        self.log_change(change);
    }

    /// "healthy", "failing", "quarantined", "probation" or "over-budget", the time left
    /// in quarantine, and the CPU budget left.
    pub fn describe(&self) -> (&'static str, Option<Duration>, Option<Duration>) {
        let mut h = self.health();
        let ((state, left), change) = h.describe(Instant::now());
        let budget_left = h.budget_left();
        drop(h);
        self.log_change(change);
        (state, left, budget_left)
    }

    /// One log line per change of standing, never one per event.
    fn log_change(&self, change: Option<Change>) {
        let Some(change) = change else { return };
        let name = &self.name;
        match change {
            Change::Quarantined {
                failures,
                events,
                period,
            } => {
                PluginStats::bump(&self.stats.quarantines);
                tracing::warn!(tenant = %name, failures, events, quarantine_ms = period.as_millis() as u64,
                    "plugin quarantined after repeated failures: its events get the fallback without running it");
            }
            Change::Probation => {
                tracing::info!(tenant = %name, "quarantine over: the plugin serves again, on probation")
            }
            Change::Recovered => {
                tracing::info!(tenant = %name, "probation over: the plugin is healthy again")
            }
            Change::Lifted => {
                tracing::info!(tenant = %name, "new plugin version: quarantine and failures forgotten")
            }
            Change::OverBudget => {
                PluginStats::bump(&self.stats.budget_exhaustions);
                tracing::warn!(tenant = %name, cpu_ms_per_s = self.limits.health.cpu_budget.map_or(0, |b| b.as_millis() as u64),
                    "CPU budget spent: events get the fallback until it refills")
            }
            Change::BudgetRefilled => {
                tracing::info!(tenant = %name, "CPU budget refilled: the plugin serves again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_limit() {
        let a = TenantAccount::new(
            "t",
            AccountLimits {
                max_instances: 2,
                ..Default::default()
            },
        );
        assert!(a.take_instance().is_ok());
        assert!(a.take_instance().is_ok());
        assert_eq!(a.take_instance(), Err(2));
        a.release_instance();
        assert!(a.take_instance().is_ok());
        assert_eq!(a.stats().live_instances, 2);
    }

    #[test]
    fn log_budget_drops_and_counts() {
        let a = TenantAccount::new(
            "t",
            AccountLimits {
                log_rate: 10,
                ..Default::default()
            },
        );
        let allowed = (0..100).filter(|_| a.log_allowed()).count();
        assert!((10..=11).contains(&allowed), "{allowed}");
        assert_eq!(a.stats().logs_dropped, 100 - allowed as u64);
        std::thread::sleep(Duration::from_millis(250));
        let more = (0..100).filter(|_| a.log_allowed()).count();
        assert!((2..=4).contains(&more), "refilled at 10/s: {more}");
    }

    #[test]
    fn failures_quarantine_and_a_lift_ends_it() {
        let a = TenantAccount::new(
            "t",
            AccountLimits {
                health: HealthPolicy {
                    quarantine_after: 3,
                    ..HealthPolicy::default()
                },
                ..Default::default()
            },
        );
        for _ in 0..3 {
            assert!(a.admit().is_ok());
            a.charge(Duration::from_millis(1), true);
        }
        assert_eq!(a.admit(), Err(Refusal::Quarantined));
        assert_eq!(a.standing(), Standing::Refused(Refusal::Quarantined));
        let s = a.stats();
        assert_eq!(
            (s.quarantines, s.quarantine_refusals, s.cpu_ns),
            (1, 1, 3_000_000)
        );
        assert_eq!(a.describe().0, "quarantined");
        a.lift();
        assert!(a.admit().is_ok());
        assert_eq!(a.standing(), Standing::Unproven);
        a.charge(Duration::from_micros(10), false);
        assert_eq!(a.standing(), Standing::Good);
    }
}
