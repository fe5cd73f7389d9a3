//! Kamailio's `pike`: flood detection per source address. Requests are counted in
//! sampling units (`sampling_time_unit`, 2 s); a source whose count in the current or the
//! last unit, or their mean, reaches `reqs_density_per_unit` (30) is blocked, and stays
//! blocked until a whole unit passes with fewer. A source not seen for `remove_latency`
//! (120 s) is forgotten.
//!
//! Kamailio counts in a tree of address prefixes and only marks a full address once its
//! prefixes are busy, so its real limit lies between one and three times the density
//! (eight for IPv6); this counts each source exactly, from its first request, a source
//! being what the guard counts failed authentications by (an IPv4 address, an IPv6 /64:
//! `auth::guard::source_key`).

use crate::auth::guard::source_key;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most addresses followed; past it new sources are let through uncounted until idle ones
/// are forgotten (a spoofed-source flood cannot grow the table without bound).
pub const MAX_SOURCES: usize = 200_000;

/// `[pike]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PikeSettings {
    /// `sampling_time_unit`.
    pub sampling: Duration,
    /// `reqs_density_per_unit`.
    pub density: u32,
    /// `remove_latency`.
    pub remove_latency: Duration,
}

impl Default for PikeSettings {
    fn default() -> Self {
        PikeSettings {
            sampling: Duration::from_secs(2),
            density: 30,
            remove_latency: Duration::from_secs(120),
        }
    }
}

/// How a source stands after one more request (`pike_check_req`'s 1, -2, -1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Under the limit.
    Allowed,
    /// Over it with this request: blocked now (logged).
    NewlyBlocked,
    /// Blocked already.
    Blocked,
}

#[derive(Debug)]
struct Source {
    /// The sampling unit `curr` counts.
    unit: u64,
    curr: u32,
    prev: u32,
    blocked: bool,
}

/// One view's table of sources.
#[derive(Debug)]
pub struct Pike {
    settings: PikeSettings,
    sources: Mutex<HashMap<IpNet, Source>>,
    epoch: Instant,
    /// The unit a full table was last swept in: at most one sweep a unit (each walks the
    /// whole table).
    swept: AtomicU64,
    /// Sources blocked so far (`pike:blocked_ips`).
    pub blocked_total: AtomicU64,
}

impl Default for Pike {
    fn default() -> Self {
        Pike::new(PikeSettings::default())
    }
}

impl Pike {
    /// An empty table.
    pub fn new(settings: PikeSettings) -> Pike {
        Pike {
            settings,
            sources: Mutex::default(),
            epoch: Instant::now(),
            swept: AtomicU64::new(u64::MAX),
            blocked_total: AtomicU64::new(0),
        }
    }

    /// An empty table with the same settings.
    pub fn fresh(&self) -> Pike {
        Pike::new(self.settings)
    }

    fn unit(&self, now: Instant) -> u64 {
        let ms = self.settings.sampling.as_millis().max(1) as u64;
        now.saturating_duration_since(self.epoch).as_millis() as u64 / ms
    }

    /// Count one request from `ip` at `now`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Standing {
        let ip = source_key(ip);
        let unit = self.unit(now);
        let max = self.settings.density;
        let mut sources = crate::lock(&self.sources);
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&ip) {
            if self.swept.swap(unit, Ordering::Relaxed) != unit {
                self.forget_idle(&mut sources, unit);
            }
            if sources.len() >= MAX_SOURCES {
                return Standing::Allowed;
            }
        }
        let s = sources.entry(ip).or_insert(Source {
            unit,
            curr: 0,
            prev: 0,
            blocked: false,
        });
        if s.unit < unit {
            // a new unit: the last one's count becomes `prev` (0 after a silent unit);
            // a block lifts when the unit just ended stayed under the limit
            s.prev = if s.unit + 1 == unit { s.curr } else { 0 };
            s.curr = 0;
            s.unit = unit;
            if s.blocked && s.prev < max {
                s.blocked = false;
            }
        }
        s.curr = s.curr.saturating_add(1);
        let hot = s.prev >= max || s.curr >= max || (s.prev + s.curr) / 2 >= max;
        match (s.blocked, hot) {
            (true, _) => Standing::Blocked,
            (false, true) => {
                s.blocked = true;
                self.blocked_total.fetch_add(1, Ordering::Relaxed);
                Standing::NewlyBlocked
            }
            (false, false) => Standing::Allowed,
        }
    }

    fn forget_idle(&self, sources: &mut HashMap<IpNet, Source>, unit: u64) {
        let units = (self.settings.remove_latency.as_millis()
            / self.settings.sampling.as_millis().max(1)) as u64;
        sources.retain(|_, s| s.unit + units.max(1) > unit);
    }

    /// Forget the sources idle for `remove_latency` (the router calls it now and then).
    pub fn purge(&self, now: Instant) {
        let unit = self.unit(now);
        self.forget_idle(&mut crate::lock(&self.sources), unit);
    }

    /// Sources followed now.
    pub fn len(&self) -> usize {
        crate::lock(&self.sources).len()
    }

    /// True when no source is followed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod route;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_blocked_within_a_unit_and_released_after_a_quiet_one() {
        let pike = Pike::new(PikeSettings {
            sampling: Duration::from_secs(2),
            density: 5,
            remove_latency: Duration::from_secs(10),
        });
        let t0 = pike.epoch;
        let flood: IpAddr = "192.0.2.1".parse().unwrap();
        let calm: IpAddr = "192.0.2.2".parse().unwrap();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for i in 0..4 {
            assert_eq!(pike.check(flood, at(i)), Standing::Allowed);
        }
        assert_eq!(pike.check(flood, at(10)), Standing::NewlyBlocked);
        assert_eq!(pike.check(flood, at(20)), Standing::Blocked);
        assert_eq!(
            pike.check(calm, at(30)),
            Standing::Allowed,
            "others are not"
        );
        // still flooding in the next unit: still blocked
        for i in 0..10 {
            assert_eq!(pike.check(flood, at(2100 + i)), Standing::Blocked);
        }
        // a quiet unit (4 s - 6 s: nothing), then it is let through again
        assert_eq!(pike.check(flood, at(6100)), Standing::Allowed);
        assert_eq!(pike.blocked_total.load(Ordering::Relaxed), 1);
        // forgotten once idle for remove_latency
        pike.purge(at(30_000));
        assert!(pike.is_empty());
    }

    #[test]
    fn the_mean_of_two_units_counts() {
        let pike = Pike::new(PikeSettings {
            sampling: Duration::from_secs(1),
            density: 10,
            remove_latency: Duration::from_secs(10),
        });
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let t0 = pike.epoch;
        for i in 0..9 {
            assert_eq!(
                pike.check(ip, t0 + Duration::from_millis(i)),
                Standing::Allowed
            );
        }
        // 9 then 9: under 10 in each, mean 9: allowed; the 10th in a unit blocks
        for i in 0..9 {
            assert_eq!(
                pike.check(ip, t0 + Duration::from_millis(1000 + i)),
                Standing::Allowed
            );
        }
        assert_eq!(
            pike.check(ip, t0 + Duration::from_millis(1500)),
            Standing::NewlyBlocked
        );
        // its /64 is one source, as the guard counts it
        let neighbour: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(
            pike.check(neighbour, t0 + Duration::from_millis(1501)),
            Standing::Blocked
        );
    }
}
