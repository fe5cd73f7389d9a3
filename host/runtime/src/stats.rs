//! Counters per plugin.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Instances that could not be created.
    pub instantiate_failures: u64,
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
        }
    }

    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}
