//! Counters per plugin.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (microseconds) of the buckets of guest CPU time per event; the last
/// bucket holds everything longer.
pub const EVENT_TIME_BOUNDS_US: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 100_000,
];

/// Events per bucket of [`EVENT_TIME_BOUNDS_US`] (not cumulative), the last one past them.
pub type EventTimes = [u64; EVENT_TIME_BOUNDS_US.len() + 1];

/// What happened to a plugin's events.
#[derive(Debug, Default)]
pub struct PluginStats {
    pub(crate) events: AtomicU64,
    pub(crate) traps: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) memory_cap: AtomicU64,
    pub(crate) route_errors: AtomicU64,
    pub(crate) instantiations: AtomicU64,
    pub(crate) instantiate_failures: AtomicU64,
    pub(crate) logs_dropped: AtomicU64,
    pub(crate) log_floods: AtomicU64,
    pub(crate) quarantines: AtomicU64,
    pub(crate) quarantine_refusals: AtomicU64,
    pub(crate) budget_exhaustions: AtomicU64,
    pub(crate) budget_refusals: AtomicU64,
    pub(crate) cpu_ns: AtomicU64,
    /// Events by guest CPU time ([`EVENT_TIME_BOUNDS_US`]).
    pub(crate) event_times: [AtomicU64; EVENT_TIME_BOUNDS_US.len() + 1],
}

/// A copy of [`PluginStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Events handed to the plugin.
    pub events: u64,
    /// Events that trapped (panics, unreachable, out-of-bounds ...), memory cap excluded.
    pub traps: u64,
    /// Events cut at the CPU deadline.
    pub timeouts: u64,
    /// Events that trapped after the memory cap refused to grow memory.
    pub memory_cap: u64,
    /// Routes that returned an error (unknown route, failed).
    pub route_errors: u64,
    /// Instances created.
    pub instantiations: u64,
    /// Instances that could not be created (including the instance limit).
    pub instantiate_failures: u64,
    /// Log lines dropped by the log-rate limit.
    pub logs_dropped: u64,
    /// Events cut for flooding the log.
    pub log_floods: u64,
    /// Times the tenant was quarantined after repeated failures.
    pub quarantines: u64,
    /// Events refused (given the fallback) in quarantine.
    pub quarantine_refusals: u64,
    /// Times the tenant spent its CPU budget.
    pub budget_exhaustions: u64,
    /// Events refused (given the fallback) over the CPU budget.
    pub budget_refusals: u64,
    /// Guest CPU time charged, nanoseconds.
    pub cpu_ns: u64,
    /// Instances alive now.
    pub live_instances: u64,
    /// Linear memory of the live instances, bytes.
    pub memory_bytes: u64,
    /// Events by guest CPU time: a histogram over [`EVENT_TIME_BOUNDS_US`].
    pub event_times: EventTimes,
}

impl PluginStats {
    /// Read every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            events: r(&self.events),
            traps: r(&self.traps),
            timeouts: r(&self.timeouts),
            memory_cap: r(&self.memory_cap),
            route_errors: r(&self.route_errors),
            instantiations: r(&self.instantiations),
            instantiate_failures: r(&self.instantiate_failures),
            logs_dropped: r(&self.logs_dropped),
            log_floods: r(&self.log_floods),
            quarantines: r(&self.quarantines),
            quarantine_refusals: r(&self.quarantine_refusals),
            budget_exhaustions: r(&self.budget_exhaustions),
            budget_refusals: r(&self.budget_refusals),
            cpu_ns: r(&self.cpu_ns),
            live_instances: 0,
            memory_bytes: 0,
            event_times: std::array::from_fn(|i| r(&self.event_times[i])),
        }
    }

    /// An event took `us` microseconds of guest CPU.
    pub(crate) fn observe_event(&self, us: u64) {
        let bucket = EVENT_TIME_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(EVENT_TIME_BOUNDS_US.len());
        Self::bump(&self.event_times[bucket]);
    }

    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}
