//! What a tenant is charged with, across every version of its plugin: counters, live
//! instances against the instance limit, a log-rate budget, and the back-off that keeps a
//! failing plugin from being re-instantiated in a tight loop.

use crate::stats::PluginStats;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Consecutive failed events (trap, timeout, memory cap) before the tenant backs off.
pub const BACKOFF_AFTER_FAILURES: u32 = 3;
/// First back-off period; it doubles with every failure after it, up to [`BACKOFF_MAX`].
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// Longest back-off period.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);

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
    log: Mutex<LogBudget>,
    /// Nanoseconds after `epoch` before which the log budget is certainly empty: a flood
    /// is refused with one atomic load, without the lock.
    log_empty_until: AtomicU64,
    /// Failed events in a row (reset by one that completes).
    consecutive_failures: AtomicU32,
    /// Nanoseconds after `epoch` until which events are refused; 0 when not backing off.
    backoff_until: AtomicU64,
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
            log: Mutex::new(LogBudget {
                tokens: f64::from(limits.log_rate),
                refilled: Instant::now(),
                noticed: None,
            }),
            log_empty_until: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            backoff_until: AtomicU64::new(0),
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
        s
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

    /// True while the tenant is backing off after repeated failures: events are refused
    /// without running plugin code.
    pub(crate) fn backing_off(&self) -> bool {
        let until = self.backoff_until.load(Ordering::Relaxed);
        until != 0 && self.now_nanos() < until
    }

    /// Record how an event ended: `failed` for a trap, timeout or memory-cap hit.
    pub(crate) fn record(&self, failed: bool) {
        if !failed {
            // only write when there is something to reset: the usual event reads only
            if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
                self.consecutive_failures.store(0, Ordering::Relaxed);
                self.backoff_until.store(0, Ordering::Relaxed);
            }
            return;
        }
        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < BACKOFF_AFTER_FAILURES {
            return;
        }
        let doublings = (n - BACKOFF_AFTER_FAILURES).min(16);
        let period = BACKOFF_FIRST
            .saturating_mul(1 << doublings)
            .min(BACKOFF_MAX);
        self.backoff_until.store(
            self.now_nanos() + period.as_nanos() as u64,
            Ordering::Relaxed,
        );
        PluginStats::bump(&self.stats.backoffs);
        tracing::warn!(tenant = %self.name, failures = n, backoff_ms = period.as_millis() as u64, "plugin keeps failing: events get the fallback without running it for a while");
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
                log_rate: 0,
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
                max_instances: 0,
                log_rate: 10,
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
    fn backoff_after_repeated_failures_and_reset_by_success() {
        let a = TenantAccount::new("t", AccountLimits::default());
        a.record(true);
        a.record(true);
        assert!(!a.backing_off(), "two failures are tolerated");
        a.record(true);
        assert!(a.backing_off());
        assert_eq!(a.stats().backoffs, 1);
        std::thread::sleep(BACKOFF_FIRST + Duration::from_millis(20));
        assert!(!a.backing_off(), "the first period is over");
        a.record(true);
        assert!(a.backing_off(), "one more failure backs off again, longer");
        std::thread::sleep(BACKOFF_FIRST + Duration::from_millis(20));
        assert!(a.backing_off(), "the second period is twice as long");
        a.record(false);
        assert!(!a.backing_off(), "a success ends it");
        a.record(true);
        assert!(!a.backing_off());
    }
}
